//! The kernel targets end to end: the corpus under `targets/linux/corpus/`
//! replays as it says on every filesystem this machine can run, and
//! nothing is left mounted or attached afterwards. Needs root, /dev/fuse,
//! loop devices and the mkfs tools; anywhere else each filesystem is
//! skipped with a message saying what is missing.
//!
//! One test function, whose cases run side by side: the leftover check at
//! the end must not race another test's devices.

use brownout::campaign::corpus::{check_case, list};
use brownout::engine::fs::FsEngine;
use brownout::model::fs::NEVER;
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::workload::{Op, Workload};
use brownout_linux::Kind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

fn register() {
    for t in brownout_linux::targets() {
        brownout::register(t);
    }
}

#[test]
fn corpus_replays_on_each_kernel_filesystem_and_leaves_nothing_behind() {
    register();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let cases = list(&dir).expect("corpus directory");
    let results = side_by_side(&cases);
    brownout_linux::release();
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in results {
        match case {
            Case::Skipped(why) => eprintln!("skipped {why}"),
            Case::Ran(f) => {
                ran += 1;
                failures.extend(f);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
    if ran > 0 {
        assert_eq!(
            brownout_linux::session::leftovers(std::process::id()),
            Vec::<String>::new(),
            "left behind"
        );
    }
}

/// Replays `cases` side by side, each on devices of its own (as `fuzz
/// --jobs` runs executions), one per core, the costliest first; results
/// in corpus order. The test lasts as long as its costliest case at
/// least, so that one must not start last: in corpus (alphabetical)
/// order, rayon's halving put the three XFS cases on one thread, and the
/// test took 88-110 s on two cores for 125 s of cases, of which the
/// costliest is 56 s.
fn side_by_side(cases: &[PathBuf]) -> Vec<Case> {
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&cases[i])));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Case>>> = Mutex::new((0..cases.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(cases.len()) {
            scope.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let case = replay_case(&cases[i]);
                    results.lock().unwrap()[i] = Some(case);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|c| c.expect("every case ran"))
        .collect()
}

/// A case's expected cost, for ordering only: XFS cases cost most (the
/// same 19 operations took 56 s on XFS, 10 s on ext4 and 3 s on btrfs,
/// most of it mounts and checks inside recoveries), and a case has more
/// crash states the more operations it has.
fn cost(path: &Path) -> (bool, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let xfs = text.lines().any(|l| l.trim() == "target: linux-xfs");
    let ops = Workload::parse(&text).map_or(0, |w| w.ops.len());
    (xfs, ops)
}

/// What one corpus case gave: skipped (why), or ran (its failures).
enum Case {
    Skipped(String),
    Ran(Vec<String>),
}

fn replay_case(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap();
    let w = Workload::parse(&text).unwrap_or_else(|e| panic!("{}:{e}", path.display()));
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.target_name() == w.header.target)
        .expect("a linux target");
    if let Some(why) = brownout_linux::missing(kind) {
        return Case::Skipped(format!("{}: {} {why}", path.display(), kind.target_name()));
    }
    // A case needing what this machine lacks (io_uring for `aio`).
    let engine = brownout_linux::adapter::Linux::new(kind);
    if let Err((_, e)) = w.validate_for(&engine.info()) {
        return Case::Skipped(format!("{}: {e}", path.display()));
    }
    let mut failures = Vec::new();
    if w.header.expect.is_some() {
        let v = check_case(&w, &ExecOptions::default(), &OracleOptions::default()).unwrap();
        // A kernel finding is held to the release it was found on: another
        // kernel may have fixed it, which is news, not a failure.
        let running = engine.info().version;
        match found_on(&text) {
            Some(release) if !v.ok && !running.starts_with(&release) => eprintln!(
                "{}: found on {release}, {running} here: {}",
                path.display(),
                v.detail
            ),
            _ if !v.ok => failures.push(format!("{}: {}", path.display(), v.detail)),
            _ => {}
        }
        return Case::Ran(failures);
    }
    // Every acknowledged O_DSYNC direct write (synchronous or through
    // io_uring) carries its acknowledgement into the model: the oracle
    // holds the kernel to it.
    let ex = brownout::run::execute::execute(&engine, &w, &ExecOptions::default());
    for (i, (op, t)) in w.ops.iter().zip(&ex.times).enumerate() {
        if let Op::DioWrite { dsync: true, .. } = op {
            if !t.ok || t.dio_ack == NEVER || t.dio_end == NEVER {
                failures.push(format!(
                    "{}: op #{i} `{}` has no acknowledgement: {t:?}",
                    path.display(),
                    op
                ));
            }
        }
    }
    // A clean case is not vacuous: it checks crash states, inside
    // recoveries too.
    let out =
        brownout::run_workload(&w, &ExecOptions::default(), &OracleOptions::default()).unwrap();
    if let Some(f) = out.finding {
        failures.push(format!("{}: {f:?}", path.display()));
    } else if out.states_checked < 20 || out.recovery_states == 0 {
        failures.push(format!(
            "{}: only {} crash states and {} inside recoveries",
            path.display(),
            out.states_checked,
            out.recovery_states
        ));
    }
    Case::Ran(failures)
}

/// The kernel release a reproducer of a kernel finding names in its
/// `# found on: Linux X` comment (`Linux X`), if any.
fn found_on(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("# found on: "))
        .map(|r| r.trim().to_string())
}
