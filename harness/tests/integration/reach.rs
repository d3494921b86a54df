//! Reach (what the oracle sees beyond one read-only crash): a lost durable
//! create, and a recovery whose journal bookkeeping is wrong, which only a
//! continuation after the crash shows. Both are planted in test adapters
//! of the embedded core (`fut::MountOptions`), not catalogue variants; the
//! same campaigns without them find nothing.

use brownout::campaign::fuzz_loop::{fuzz, Counters, FuzzOptions, Summary};
use brownout::finding::Rule;
use brownout::targets::embedded::FsUnderTest;
use brownout::workload::{CrashMode, Workload};
use brownout::FsTarget;
use std::sync::atomic::AtomicBool;
use std::sync::Once;

const LOSES_CREATE: &str = "test-create-not-journaled";
const RESETS_HEAD: &str = "test-recovery-resets-journal-head";

fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let loses_create = FsUnderTest {
            name: LOSES_CREATE,
            create_not_journaled: true,
            ..FsUnderTest::default()
        };
        let resets_head = FsUnderTest {
            name: RESETS_HEAD,
            recovery_resets_journal_head: true,
            ..FsUnderTest::default()
        };
        for engine in [loses_create, resets_head] {
            brownout::register(Box::leak(Box::new(FsTarget::new(engine))));
        }
    });
}

fn campaign(target: &str, continue_states: usize, execs: u64) -> Summary {
    campaign_in(target, continue_states, execs, false)
}

/// A campaign in prefix mode, or with `mix` in the default mix (prefix
/// plus the sampled passes, as `brownout fuzz` without `--mode`).
fn campaign_in(target: &str, continue_states: usize, execs: u64, mix: bool) -> Summary {
    register();
    let mut opts = FuzzOptions::new(target);
    opts.config.mode = CrashMode::Prefix;
    opts.config.max_ops = 24;
    if !mix {
        opts.oracle.passes.clear();
    }
    opts.oracle.continue_states = continue_states;
    opts.seed = 0x16;
    opts.execs = Some(execs);
    let s = fuzz(&opts, &Counters::default(), &AtomicBool::new(false));
    assert!(s.error.is_none(), "{:?}", s.error);
    s
}

#[test]
fn a_lost_durable_create_is_a_finding() {
    register();
    // By hand: create, fsync, and the file is gone after a crash.
    let text = format!("target: {LOSES_CREATE}\nfiles: 1\ncreate f0\nfsync f0\n");
    let w = Workload::parse(&text).unwrap();
    let out =
        brownout::campaign::registry::run_workload(&w, &Default::default(), &Default::default())
            .unwrap();
    let f = out.finding.expect("the lost create is found");
    assert_eq!(f.rule, Rule::AckedSize);
    assert!(f.message.contains("does not exist"), "{f}");
    assert_eq!(f.op, Some(1), "{f}");
    // The same workload on the correct core is clean.
    let clean = Workload::parse(&text.replace(LOSES_CREATE, "fs-under-test")).unwrap();
    let out = brownout::campaign::registry::run_workload(
        &clean,
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    assert!(out.finding.is_none());
    // And the fuzzer finds it on its own.
    let s = campaign(LOSES_CREATE, 0, 2_000);
    let case = s.found.first().expect("found by fuzzing");
    eprintln!("execution {}:\n{}", case.exec, case.finding);
    assert!(
        case.finding.message.contains("does not exist"),
        "{}",
        case.finding
    );
}

#[test]
fn a_recovery_that_forgets_its_journal_is_caught_by_continuing() {
    let without = campaign(RESETS_HEAD, 0, 1_500);
    assert!(without.found.is_empty(), "found without continuing");
    let with = campaign(RESETS_HEAD, 2, 1_500);
    let case = with.found.first().expect("found by crash and continue");
    eprintln!("execution {}:\n{}", case.exec, case.finding);
    let state = case.finding.state.clone().unwrap_or_default();
    assert!(state.contains('+'), "{}", case.finding);
    assert!(
        case.finding.message.contains("continuing"),
        "{}",
        case.finding
    );
    // `--state OUTER+INNER` replays exactly that state of that continuation.
    let oo = brownout::run::check::OracleOptions {
        only_state: Some(state.clone()),
        ..Default::default()
    };
    let again =
        brownout::campaign::registry::run_workload(&case.workload, &Default::default(), &oo)
            .unwrap();
    let f = again.finding.expect("the state replays");
    assert_eq!(
        (f.rule, f.state.as_deref()),
        (case.finding.rule, Some(&state[..]))
    );
    // The whole check of the saved workload finds it again too.
    let again = brownout::campaign::registry::run_workload(
        &case.workload,
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    assert!(again.finding.is_some());
    // `brownout show --state OUTER+INNER` shows that continuation: its
    // recovery, then the operations the crash cut off, numbered as in the
    // workload, and a log that holds the crash position.
    let target = brownout::campaign::registry::of(&case.workload).unwrap();
    let resumed = target
        .resume(&case.workload, &Default::default(), &oo)
        .unwrap()
        .expect("the continuation runs again");
    let from = format!("continuing from operation #{}", resumed.first_op);
    assert!(f.message.contains(&from), "{from}: {f}");
    assert_eq!(
        resumed.workload.ops[..resumed.workload.ops.len() - 1],
        case.workload.ops[resumed.first_op..]
    );
    assert!(f.position.is_some_and(|p| p <= resumed.exec.log.len()));
    let text = brownout::run::show::timeline(
        &resumed.workload,
        &resumed.exec,
        false,
        Some(resumed.first_op),
    );
    assert!(
        text.starts_with("    0  "),
        "the recovery comes first:\n{text}"
    );
    assert!(
        text.contains(&format!("== op #{}: ", resumed.first_op)),
        "{text}"
    );
    // The correct core, continued the same way, stays clean.
    let clean = campaign(brownout::workload::DEFAULT_TARGET, 2, 1_500);
    assert!(clean.found.is_empty(), "{}", clean.found[0].finding);
}

#[test]
fn a_continuation_found_in_the_default_mix_replays_from_its_file() {
    // The default mix picks continuations among its lost-cache states,
    // prefix mode among prefix states: the saved file says `mode: mix`,
    // and `brownout run FILE` (no sampled passes of its own) picks the
    // same state again.
    let s = campaign_in(RESETS_HEAD, 2, 1_500, true);
    let case = s.found.first().expect("found by crash and continue");
    assert!(case
        .finding
        .state
        .as_deref()
        .unwrap_or_default()
        .contains('+'));
    let text = case.workload.to_text();
    assert!(text.contains("\nmode: mix\n"), "{text}");
    let saved = Workload::parse(&text).unwrap();
    let again = brownout::campaign::registry::run_workload(
        &saved,
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let f = again.finding.expect("the saved file replays its finding");
    // The same state: the continuation started where the campaign's did.
    assert_eq!(
        (f.rule, &f.state),
        (case.finding.rule, &case.finding.state),
        "{f}"
    );
    // Minimised as a `--keep-going` campaign minimises its buckets (under
    // the campaign's sampled passes), the smaller file still replays.
    let campaign_oracle = brownout::run::check::OracleOptions {
        passes: brownout::run::check::DEFAULT_PASSES.to_vec(),
        continue_states: 2,
        ..Default::default()
    };
    let m = brownout::campaign::minimize::minimize_in_bucket(
        &saved,
        &Default::default(),
        &campaign_oracle,
        200,
    )
    .unwrap();
    let again = brownout::campaign::registry::run_workload(
        &Workload::parse(&m.workload.to_text()).unwrap(),
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let f = again
        .finding
        .expect("the minimised file replays its finding");
    assert_eq!(f.rule, case.finding.rule, "{f}");
}
