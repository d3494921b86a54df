//! The cargo-fuzz target bodies (`brownout::campaign::fuzz_targets`) on stable:
//! thousands of seeded random inputs without a panic on the clean
//! filesystem; the CLI bridges between libFuzzer's bytes and the readable
//! corpus (`import-crash`, `export-seeds`); and `minimize` on every bug
//! reproducer of `corpus/`.
//!
//! No test sets environment variables (they are process-global): the
//! configuration is passed explicitly, and child processes get theirs.

use crate::common;

use brownout::campaign::fuzz_targets::{
    check_workload_input, config_from_lookup, fix_native_checksums, log_parse, parse_log_input,
    target_oracle_options, workload_with, DEFAULT_MAX_OPS,
};
use brownout::campaign::minimize::minimize;
use brownout::campaign::registry::execute_workload;
use brownout::campaign::registry::run_workload;
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::targets::embedded::fuzz::{base_image, image_of_input, mount_image, poke};
use brownout::workload::bytes::{decode, encode, encode_lossy, project};
use brownout::workload::{Barrier, Bugs};
use brownout::workload::{CrashMode, FuzzConfig, Workload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

fn corpus_files(prefix: &str) -> Vec<PathBuf> {
    brownout::campaign::corpus::list(&corpus_dir())
        .unwrap()
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect()
}

fn load(path: &Path) -> Workload {
    Workload::parse(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn config(bugs: Bugs, max_ops: usize) -> FuzzConfig {
    FuzzConfig {
        target: brownout::workload::DEFAULT_TARGET.to_string(),
        bugs,
        barrier: Barrier::Stable,
        mode: CrashMode::Prefix,
        max_ops,
    }
}

/// `brownout` with no `BROWNOUT_*` variable inherited.
fn brownout() -> Command {
    common::brownout_command()
}

fn random_input(rng: &mut ChaCha8Rng, max_len: usize) -> Vec<u8> {
    let len = rng.gen_range(0..=max_len);
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

fn clean_run(rng: &mut ChaCha8Rng, cfg: &FuzzConfig, inputs: usize, max_len: usize) -> usize {
    let mut ops = 0;
    for i in 0..inputs {
        let data = random_input(rng, max_len);
        let (w, finding) = check_workload_input(&data, cfg)
            .unwrap_or_else(|e| panic!("input {i}: harness error {e}"));
        if let Some(f) = finding {
            panic!(
                "{:?}/{:?} input {i}: finding on the clean filesystem:\n{f}\n{}",
                cfg.barrier,
                cfg.mode,
                w.to_text()
            );
        }
        ops += w.ops.len();
        // The panicking shell agrees.
        if i % 100 == 0 {
            workload_with(&data, cfg);
        }
    }
    ops
}

#[test]
fn workload_target_is_clean_on_random_inputs() {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(0xb0_0001);
    let mut ops = 0;
    // Prefix mode, both barrier contracts: the bulk.
    for barrier in [Barrier::Stable, Barrier::Complete] {
        let cfg = FuzzConfig {
            target: brownout::workload::DEFAULT_TARGET.to_string(),
            barrier,
            ..config(Bugs::none(), DEFAULT_MAX_OPS)
        };
        ops += clean_run(&mut rng, &cfg, 750, 256);
    }
    assert!(
        ops > 1500 * 4,
        "the inputs make real workloads ({ops} operations)"
    );
    let prefix = start.elapsed();
    // Reorder and torn enumerate many more crash states per workload:
    // fewer, shorter workloads.
    for mode in [CrashMode::Reorder, CrashMode::Torn] {
        let cfg = FuzzConfig {
            target: brownout::workload::DEFAULT_TARGET.to_string(),
            mode,
            max_ops: 8,
            ..config(Bugs::none(), DEFAULT_MAX_OPS)
        };
        ops += clean_run(&mut rng, &cfg, 100, 64);
    }
    eprintln!(
        "workload: 1700 inputs, {ops} operations in {:?} (prefix: {prefix:?})",
        start.elapsed()
    );
}

/// Real logs (native and dm-log-writes) from executing corpus workloads.
fn real_logs() -> Vec<Vec<u8>> {
    let mut logs = Vec::new();
    for path in corpus_files("") {
        let exec = execute_workload(&load(&path), &ExecOptions::default()).unwrap();
        logs.push(exec.log.to_native_bytes());
        if let Ok(dm) = exec.log.to_dm_log_writes_bytes() {
            logs.push(dm);
        }
    }
    logs
}

fn mutate(rng: &mut ChaCha8Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..rng.gen_range(1..6) {
        if v.is_empty() {
            break;
        }
        match rng.gen_range(0..4) {
            0 => {
                let at = rng.gen_range(0..v.len());
                v[at] ^= 1 << rng.gen_range(0..8);
            }
            1 => {
                let at = rng.gen_range(0..v.len());
                v[at] = rng.gen();
            }
            2 => {
                let n = rng.gen_range(0..=v.len());
                v.truncate(n);
            }
            _ => {
                // A little-endian field set to an extreme value.
                let at = rng.gen_range(0..v.len());
                let x: u64 = if rng.gen() {
                    u64::MAX
                } else {
                    rng.gen_range(0..1 << 20)
                };
                for (k, b) in x.to_le_bytes().iter().enumerate() {
                    if let Some(slot) = v.get_mut(at + k) {
                        *slot = *b;
                    }
                }
            }
        }
    }
    v
}

#[test]
fn log_parse_never_panics() {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(0xb0_0002);
    let logs = real_logs();
    // The unmutated logs parse (in every selector mode that keeps them).
    for log in &logs {
        for sel in 0..4u8 {
            let mut input = vec![sel];
            input.extend_from_slice(log);
            log_parse(&input);
        }
        if log.starts_with(b"BRNOUTLG") {
            let mut fixed = log.clone();
            fix_native_checksums(&mut fixed);
            assert!(
                fixed == *log,
                "fixing the checksums of a valid log changes nothing"
            );
        }
    }
    for _ in 0..1500 {
        let input = random_input(&mut rng, 512);
        log_parse(&input);
    }
    let (mut native, mut dm) = (0, 0);
    for _ in 0..3000 {
        let base = &logs[rng.gen_range(0..logs.len())];
        let mut input = vec![rng.gen::<u8>()];
        input.extend_from_slice(&mutate(&mut rng, base));
        let (n, d) = parse_log_input(&input);
        native += usize::from(n);
        dm += usize::from(d);
    }
    // Mutated logs get past the magic and checksums often enough to reach
    // the parsers' semantic checks and the re-encoding.
    assert!(
        native > 50 && dm > 50,
        "{native} native, {dm} dm-log-writes mutants parsed"
    );
    eprintln!(
        "log_parse: 4500 inputs in {:?} ({native} native, {dm} dm-log-writes mutants parsed)",
        start.elapsed()
    );
}

#[test]
fn mount_image_never_panics() {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(0xb0_0003);
    assert!(poke(base_image().to_vec()), "the base image mounts");
    // Raw images: random sizes and bytes.
    for _ in 0..300 {
        let mut input = vec![0u8];
        input.extend(random_input(&mut rng, 64 << 10));
        mount_image(&input);
    }
    // Raw images: the valid base with a few bytes changed.
    for _ in 0..300 {
        let mut input = vec![0u8];
        input.extend(mutate(&mut rng, base_image()));
        mount_image(&input);
    }
    // Patch mode: random patches, mostly in the metadata and journal.
    let mut mounted = 0;
    for _ in 0..2000 {
        let mut input = vec![1u8];
        for _ in 0..rng.gen_range(0..6) {
            let at: u32 = if rng.gen_ratio(3, 4) {
                rng.gen_range(0..40 * 4096)
            } else {
                rng.gen_range(0..1 << 24)
            };
            input.extend_from_slice(&at.to_le_bytes()[..3]);
            let n = rng.gen_range(0..16u8);
            input.push(n);
            for _ in 0..n {
                input.push(rng.gen());
            }
        }
        if poke(image_of_input(&input).unwrap()) {
            mounted += 1;
        }
    }
    assert!(mounted > 100, "only {mounted} patched images mounted");
    eprintln!(
        "mount_image: 2600 inputs in {:?} ({mounted} patched images mounted)",
        start.elapsed()
    );
}

#[test]
fn target_config_comes_from_the_environment_lookup() {
    let env = |pairs: &[(&str, &str)]| {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        config_from_lookup(move |k| map.get(k).cloned())
    };
    let cfg = env(&[]).unwrap();
    assert!(cfg.bugs.is_empty());
    assert_eq!(
        (cfg.barrier, cfg.mode, cfg.max_ops),
        (Barrier::Stable, CrashMode::Prefix, 24)
    );
    let cfg = env(&[
        ("BROWNOUT_BUGS", "dsync-no-flush, fsync-no-flush"),
        ("BROWNOUT_BARRIER", "complete"),
        ("BROWNOUT_MODE", "torn"),
        ("BROWNOUT_MAX_OPS", "40"),
    ])
    .unwrap();
    assert_eq!(cfg.bugs.to_string(), "dsync-no-flush,fsync-no-flush");
    assert_eq!(
        (cfg.barrier, cfg.mode, cfg.max_ops),
        (Barrier::Complete, CrashMode::Torn, 40)
    );
    for (var, value, needle) in [
        ("BROWNOUT_BUGS", "no-such-bug", "unknown bug `no-such-bug`"),
        ("BROWNOUT_BARRIER", "maybe", "expected complete or stable"),
        ("BROWNOUT_MODE", "sideways", "unknown crash mode"),
        ("BROWNOUT_MAX_OPS", "0", "1..=512"),
        ("BROWNOUT_MAX_OPS", "many", "1..=512"),
    ] {
        let e = env(&[(var, value)]).unwrap_err().to_string();
        assert!(e.starts_with(var) && e.contains(needle), "{e}");
    }
}

/// Bytes on which the `workload` target finds something under `cfg`: the
/// corpus reproducer's exact encoding.
fn crashing_input(bug: &str) -> (FuzzConfig, Vec<u8>) {
    let path = corpus_dir().join(format!("bug-{bug}.workload"));
    let w = load(&path);
    let cfg = FuzzConfig {
        target: brownout::workload::DEFAULT_TARGET.to_string(),
        bugs: w.header.bugs.clone(),
        barrier: w.header.barrier,
        mode: w.header.mode,
        max_ops: DEFAULT_MAX_OPS,
    };
    (
        cfg,
        encode(&w, DEFAULT_MAX_OPS).expect("an exactly encodable reproducer"),
    )
}

#[test]
fn import_crash_reproduces_the_targets_finding() {
    let dir = tempfile::tempdir().unwrap();
    for bug in [
        "dsync-no-flush",
        "dio-end-before-sync",
        "sync-dio-complete-under-ilock",
    ] {
        let (cfg, bytes) = crashing_input(bug);
        let (w, finding) = check_workload_input(&bytes, &cfg).unwrap();
        let finding = finding.unwrap_or_else(|| panic!("{bug}: the target finds nothing"));
        // The shell panics with the report.
        let panic = std::panic::catch_unwind(|| workload_with(&bytes, &cfg)).unwrap_err();
        let msg = panic.downcast_ref::<String>().unwrap();
        assert!(msg.contains(&finding.to_string()), "{msg}");

        let crash = dir.path().join(format!("crash-{bug}"));
        std::fs::write(&crash, &bytes).unwrap();
        let out = dir.path().join(format!("{bug}.workload"));
        let mut cmd = brownout();
        cmd.arg("import-crash").arg(&crash).arg("-o").arg(&out);
        cmd.args([
            "--barrier",
            &cfg.barrier.to_string(),
            "--mode",
            cfg.mode.name(),
        ]);
        // Bug switches once by flag, once by environment (child only).
        if bug == "dsync-no-flush" {
            cmd.env("BROWNOUT_BUGS", bug);
        } else {
            cmd.args(["--bug", bug]);
        }
        let st = cmd.output().unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let imported = load(&out);
        assert_eq!(imported.header.expect, Some(finding.rule));
        let mut plain = imported.clone();
        plain.header.expect = None;
        assert_eq!(
            plain, w,
            "{bug}: import-crash gives the workload the target ran"
        );
        // In process: the same finding, field for field.
        let again = run_workload(&imported, &ExecOptions::default(), &target_oracle_options())
            .unwrap()
            .finding
            .unwrap();
        assert_eq!(again, finding, "{bug}");
        // And with `brownout run`.
        let run = brownout().arg("run").arg(&out).output().unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert_eq!(run.status.code(), Some(1), "{stdout}");
        assert!(stdout.contains(&finding.message), "{stdout}");
        if let Some(state) = &finding.state {
            assert!(stdout.contains(state), "{stdout}");
        }
    }
}

/// Inputs `cargo +nightly fuzz run workload` found (BROWNOUT_BUGS set, the
/// other variables at their defaults), byte for byte. They pin the decoding:
/// if the generator changes on purpose, old artifacts decode differently;
/// replace these with new ones.
const SAVED_CRASHES: [(&str, &str); 2] = [
    ("dsync-no-flush", "0100155555000014010000000100"),
    (
        "truncate-no-dio-wait",
        "010015555505003000140101000200003e00000014010000020100140101000201003e000106000001010101",
    ),
];

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn import_crash_of_libfuzzer_artifacts_reproduces() {
    let dir = tempfile::tempdir().unwrap();
    for (bug, hex) in SAVED_CRASHES {
        let bytes = unhex(hex);
        let bugs = Bugs::one(bug);
        let cfg = config(bugs, DEFAULT_MAX_OPS);
        let (w, finding) = check_workload_input(&bytes, &cfg).unwrap();
        let finding = finding.unwrap_or_else(|| panic!("{bug}: no finding"));
        let crash = dir.path().join(format!("crash-{bug}"));
        std::fs::write(&crash, &bytes).unwrap();
        let out = dir.path().join(format!("{bug}.workload"));
        let st = brownout()
            .arg("import-crash")
            .arg(&crash)
            .arg("-o")
            .arg(&out)
            .env("BROWNOUT_BUGS", bug)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let imported = load(&out);
        let mut plain = imported.clone();
        plain.header.expect = None;
        assert_eq!(plain, w, "{bug}");
        let again = run_workload(&imported, &ExecOptions::default(), &target_oracle_options())
            .unwrap()
            .finding
            .unwrap();
        assert_eq!(again, finding, "{bug}");
        // Without the bug switch the same bytes are clean.
        let (_, clean) =
            check_workload_input(&bytes, &config(Bugs::none(), DEFAULT_MAX_OPS)).unwrap();
        assert!(clean.is_none(), "{bug}: finding without the switch");
        // Shrunk by `minimize`: shorter, same rule.
        let m = minimize(
            &imported,
            &ExecOptions::default(),
            &OracleOptions::default(),
            MIN_BUDGET,
        )
        .unwrap();
        assert_eq!(m.finding.rule, finding.rule, "{bug}");
        assert!(m.workload.ops.len() <= imported.ops.len(), "{bug}");
    }
}

#[test]
fn import_crash_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-crash");
    let out = brownout()
        .arg("import-crash")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-crash"));
    let some = dir.path().join("crash");
    std::fs::write(&some, [1, 2, 3]).unwrap();
    let out = brownout()
        .arg("import-crash")
        .arg(&some)
        .env("BROWNOUT_MODE", "sideways")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BROWNOUT_MODE"));
    // Empty input: a valid (empty) workload, no error.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, []).unwrap();
    let out = brownout().arg("import-crash").arg(&empty).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Workload::parse(&String::from_utf8(out.stdout).unwrap()).unwrap();
}

#[test]
fn export_seeds_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("workload");
    let st = brownout()
        .arg("export-seeds")
        .arg(&seeds)
        .arg("--corpus")
        .arg(corpus_dir())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut exact = 0;
    let files = corpus_files("");
    for path in &files {
        let w = load(path);
        let name = path.file_stem().unwrap();
        let bytes = std::fs::read(seeds.join(name)).unwrap();
        let cfg = FuzzConfig {
            target: brownout::workload::DEFAULT_TARGET.to_string(),
            bugs: w.header.bugs.clone(),
            barrier: w.header.barrier,
            mode: w.header.mode,
            max_ops: DEFAULT_MAX_OPS,
        };
        let back = decode(&bytes, &cfg, None);
        let p = project(&w, DEFAULT_MAX_OPS);
        assert_eq!(back, p.workload, "{}", path.display());
        assert_eq!(encode_lossy(&back, DEFAULT_MAX_OPS).0, bytes);
        if p.changes.is_empty() {
            exact += 1;
            let mut plain = w.clone();
            plain.header.expect = None;
            assert_eq!(back, plain, "{}", path.display());
        }
    }
    // Every bug reproducer but a few is a generator output.
    assert!(exact * 2 > files.len(), "{exact} of {} exact", files.len());
    // The exported reproducers still find their bug through the target.
    for path in corpus_files("bug-") {
        let w = load(path.as_path());
        let bytes = std::fs::read(seeds.join(path.file_stem().unwrap())).unwrap();
        if !project(&w, DEFAULT_MAX_OPS).changes.is_empty() {
            continue;
        }
        let cfg = FuzzConfig {
            target: brownout::workload::DEFAULT_TARGET.to_string(),
            bugs: w.header.bugs.clone(),
            barrier: w.header.barrier,
            mode: w.header.mode,
            max_ops: DEFAULT_MAX_OPS,
        };
        let (_, f) = check_workload_input(&bytes, &cfg).unwrap();
        assert_eq!(f.map(|f| f.rule), w.header.expect, "{}", path.display());
    }
    // --exact skips, and the other targets get seeds too.
    for (args, min) in [
        (&["--exact"][..], 1),
        (&["--target", "log-parse"][..], files.len()),
        (&["--target", "mount-image"][..], 2),
    ] {
        let out = dir.path().join(args.join("_"));
        let st = brownout()
            .arg("export-seeds")
            .arg(&out)
            .arg("--corpus")
            .arg(corpus_dir())
            .args(args)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        assert!(std::fs::read_dir(&out).unwrap().count() >= min, "{args:?}");
    }
    for file in std::fs::read_dir(dir.path().join("--target_log-parse")).unwrap() {
        log_parse(&std::fs::read(file.unwrap().path()).unwrap());
    }
}

/// Minimisation budget per reproducer: small, so the test stays quick.
const MIN_BUDGET: usize = 5000;

fn check_minimize(path: &Path, budget: usize) {
    let w = load(path);
    let rule = w.header.expect.expect("a reproducer names its rule");
    let m = minimize(
        &w,
        &ExecOptions::default(),
        &OracleOptions::default(),
        budget,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(m.finding.rule, rule, "{}", path.display());
    assert!(
        m.workload.ops.len() <= w.ops.len(),
        "{}: {} -> {} operations",
        path.display(),
        w.ops.len(),
        m.workload.ops.len()
    );
    // The result, as written, reproduces on its own.
    let again = run_workload(
        &m.workload,
        &ExecOptions::default(),
        &OracleOptions::default(),
    )
    .unwrap()
    .finding
    .unwrap();
    assert_eq!(again.rule, rule, "{}", path.display());
}

#[test]
fn minimize_keeps_every_corpus_reproducers_rule() {
    let start = Instant::now();
    let files = corpus_files("bug-");
    assert!(files.len() >= 10);
    for path in &files {
        let t = Instant::now();
        check_minimize(path, MIN_BUDGET);
        eprintln!("{}: {:?}", path.display(), t.elapsed());
    }
    eprintln!(
        "minimize: {} reproducers in {:?}",
        files.len(),
        start.elapsed()
    );
}

/// A corpus reproducer with unrelated operations appended (on a file of
/// their own) shrinks back to at most its corpus length.
#[test]
fn minimize_strips_noise_from_reproducers() {
    let start = Instant::now();
    for path in corpus_files("bug-") {
        let w = load(&path);
        let rule = w.header.expect.unwrap();
        let mut noisy = w.clone();
        let spare = noisy.header.files.min(brownout::workload::MAX_FILES - 1);
        noisy.header.files = spare + 1;
        noisy
            .ops
            .insert(0, brownout::workload::Op::Create { file: spare });
        for k in 0..6u64 {
            noisy.ops.push(brownout::workload::Op::Write {
                file: spare,
                offset: k * 4096,
                len: 100 + k,
                dsync: k % 2 == 0,
            });
        }
        noisy.ops.push(brownout::workload::Op::Syncfs);
        let found = run_workload(&noisy, &ExecOptions::default(), &OracleOptions::default())
            .unwrap()
            .finding;
        if found.as_ref().map(|f| f.rule) != Some(rule) {
            // The noise changed the outcome: not a fair test case.
            eprintln!("{}: noise changes the finding; skipped", path.display());
            continue;
        }
        let m = minimize(
            &noisy,
            &ExecOptions::default(),
            &OracleOptions::default(),
            MIN_BUDGET,
        )
        .unwrap();
        assert_eq!(m.finding.rule, rule, "{}", path.display());
        assert!(
            m.workload.ops.len() <= w.ops.len(),
            "{}: noisy {} -> {} operations, corpus {}",
            path.display(),
            noisy.ops.len(),
            m.workload.ops.len(),
            w.ops.len()
        );
    }
    eprintln!("minimize with noise: {:?}", start.elapsed());
}

#[test]
fn import_crash_flags_override_a_bad_environment() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::write(&input, b"abcdefgh").unwrap();
    let out = brownout()
        .env("BROWNOUT_MAX_OPS", "0")
        .arg("import-crash")
        .arg(&input)
        .args(["--max-ops", "5", "--no-run"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = brownout()
        .env("BROWNOUT_MAX_OPS", "0")
        .arg("import-crash")
        .arg(&input)
        .arg("--no-run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BROWNOUT_MAX_OPS"));
}
