//! The `brownout` binary on bad input (issue 6): every subcommand, with
//! missing files, unreadable paths, bad file contents, out-of-range numbers
//! and conflicting options, exits with status 2 and a message that names
//! the file (and the line or byte offset where there is one), never a
//! panic.

use crate::common;

#[path = "../../../harness/tests/bad_inputs/mod.rs"]
mod bad_inputs;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(name)
}

fn brownout<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    common::brownout_command()
        .args(args)
        .output()
        .expect("run brownout")
}

/// Runs `args`; asserts exit status 2, a one-line-or-more error on stderr
/// that contains every needle, and no panic.
fn fails<I, S>(args: I, needles: &[&str]) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().into()).collect();
    let out = brownout(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: status {:?}\nstdout: {}\nstderr: {stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    // An error, or (no subcommand at all) the usage.
    assert!(
        stderr.contains("error") || stderr.starts_with("Crash-consistency"),
        "{args:?}: no error message: {stderr}"
    );
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: `{n}` not in: {stderr}");
    }
    stderr
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn bad_workload_files() {
    let dir = tempfile::tempdir().unwrap();
    let cases = bad_inputs::bad_workloads();
    for (i, (text, line, needle)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.workload"));
        std::fs::write(&path, text).unwrap();
        let at = format!("{}:line {line}:", path.display());
        // `run` for every case; `show` and `minimize` read the same way.
        fails(["run", p(&path)], &[&at, needle]);
        if i % 10 == 0 {
            fails(["show", p(&path)], &[&at, needle]);
            fails(["minimize", p(&path)], &[&at, needle]);
        }
    }
    // Not UTF-8: the byte offset of the first bad byte.
    let mut n = cases.len();
    for (bytes, offset) in [
        (&b"\xff\xfe"[..], 0),
        (&b"files: 2\ncreate f0\n\xc3\x28\n"[..], 19),
        (&b"create f0 # caf\xe9\n"[..], 15),
    ] {
        let path = dir.path().join(format!("bin{n}.workload"));
        std::fs::write(&path, bytes).unwrap();
        fails(
            ["run", p(&path)],
            &[p(&path), "not UTF-8", &format!("offset {offset}")],
        );
        n += 1;
    }
    eprintln!("CLI bad workload files: {n} cases");
}

#[test]
fn every_subcommand_with_bad_paths_numbers_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("missing.workload");
    let not_a_dir_file = d.join("plain");
    std::fs::write(&not_a_dir_file, "x").unwrap();
    let under_file = not_a_dir_file.join("x.workload"); // ENOTDIR
    let empty_dir = d.join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    let clean = corpus("clean-every-op-prefix.workload");
    let buggy = corpus("bug-dsync-no-flush.workload");
    let log = d.join("ok.blog");
    let out = brownout(["show", p(&clean), "--log-out", p(&log)]);
    assert!(out.status.success());
    let dm = d.join("ok.dm");
    assert!(
        brownout(["convert", p(&log), p(&dm), "--to", "dm-log-writes"])
            .status
            .success()
    );
    let empty_file = d.join("empty.log");
    std::fs::write(&empty_file, b"").unwrap();
    let garbage = d.join("garbage.log");
    std::fs::write(&garbage, b"not a log at all, just text\n").unwrap();
    let truncated = d.join("truncated.blog");
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let corrupt = d.join("corrupt.blog");
    let mut b = bytes.clone();
    b[200] ^= 0xff;
    std::fs::write(&corrupt, &b).unwrap();
    let bad_corpus = d.join("badcorpus");
    std::fs::create_dir(&bad_corpus).unwrap();
    std::fs::write(bad_corpus.join("a.workload"), "files: 2\nwrite f7 0 1\n").unwrap();
    let out_file = d.join("out-is-a-file");
    std::fs::write(&out_file, "").unwrap();

    let mut counts: Vec<(&str, usize)> = Vec::new();
    let mut count = |name: &'static str, cases: &[(Vec<&str>, Vec<&str>)]| {
        for (args, needles) in cases {
            fails(args, needles);
        }
        counts.push((name, cases.len()));
    };
    let (m, u, e, c, b, g) = (
        p(&missing),
        p(&under_file),
        p(&empty_dir),
        p(&clean),
        p(&buggy),
        p(&garbage),
    );
    let (l, t, k, z, o) = (p(&log), p(&truncated), p(&corrupt), p(&empty_file), p(&dm));
    count(
        "fuzz",
        &[
            (vec!["fuzz", "--execs", "0"], vec!["--execs"]),
            (vec!["fuzz", "--time", "0"], vec!["--time"]),
            (vec!["fuzz", "--execs", "abc"], vec!["--execs"]),
            (
                vec!["fuzz", "--execs", "99999999999999999999999"],
                vec!["--execs"],
            ),
            (vec!["fuzz", "--execs", "-1"], vec!["-1"]),
            (vec!["fuzz", "--jobs", "0", "--execs", "1"], vec!["--jobs"]),
            (
                vec!["fuzz", "--jobs", "5000", "--execs", "1"],
                vec!["--jobs"],
            ),
            (vec!["fuzz", "--max-ops", "0"], vec!["--max-ops"]),
            (vec!["fuzz", "--max-ops", "513"], vec!["--max-ops"]),
            (
                vec!["fuzz", "--bug", "nosuch", "--execs", "1"],
                vec!["nosuch"],
            ),
            (vec!["fuzz", "--mode", "sideways"], vec!["--mode"]),
            (vec!["fuzz", "--barrier", "sometimes"], vec!["--barrier"]),
            (vec!["fuzz", "--max-volatile", "17"], vec!["--max-volatile"]),
            (vec!["fuzz", "--samples", "0"], vec!["--samples"]),
            (vec!["fuzz", "--step-budget", "0"], vec!["--step-budget"]),
            (vec!["fuzz", "--seed", "-3"], vec!["-3"]),
            (
                vec!["fuzz", "--execs", "1", "--out", p(&out_file)],
                vec![p(&out_file), "not a directory"],
            ),
            (
                vec![
                    "fuzz",
                    "--bug",
                    "dsync-no-flush",
                    "--execs",
                    "50",
                    "--out",
                    u,
                ],
                vec![u, "cannot write a reproducer", "Not a directory"],
            ),
            (vec!["fuzz", "--execs", "1", "--corpus", m], vec![m]),
            (
                vec!["fuzz", "--execs", "1", "--corpus", e],
                vec![e, "no *.workload"],
            ),
            (
                vec!["fuzz", "--execs", "1", "--corpus", p(&bad_corpus)],
                vec!["a.workload:line 2:", "past the file count"],
            ),
            (vec!["fuzz", "--frobnicate"], vec!["--frobnicate"]),
        ],
    );
    count(
        "run",
        &[
            (vec!["run"], vec!["FILES"]),
            (vec!["run", m], vec![m, "No such file"]),
            (vec!["run", u], vec![u, "Not a directory"]),
            (vec!["run", e], vec![e, "directory"]),
            (vec!["run", "/proc/self/mem"], vec!["/proc/self/mem"]),
            (vec!["run", g], vec![g, "line 1:"]),
            (vec!["run", c, m], vec![m]),
            (
                vec!["run", c, c, "--state", "p1"],
                vec!["--state", "one file"],
            ),
            (vec!["run", c, "--state", "zz"], vec![c, "bad state id"]),
            (vec!["run", c, "--state", "p99999999"], vec![c, "p99999999"]),
            (
                vec!["run", c, "--state", "r1.99999999999999999999999"],
                vec![c, "bad state id"],
            ),
            (vec!["run", c, "--save-image", m], vec!["--state"]),
            (
                vec!["run", b, "--state", "p15", "--save-image", u],
                vec![u, "Not a directory"],
            ),
            (vec!["run", c, "--jobs", "5000"], vec!["--jobs"]),
            (vec!["run", c, "--jobs", "-1"], vec!["-1"]),
            (
                vec!["run", c, "--max-volatile", "0"],
                vec!["--max-volatile"],
            ),
            (vec!["run", c, "--samples", "100001"], vec!["--samples"]),
            (vec!["run", c, "--step-budget", "0"], vec!["--step-budget"]),
        ],
    );
    count(
        "corpus",
        &[
            (vec!["corpus"], vec!["DIR"]),
            (vec!["corpus", m], vec![m, "No such file"]),
            (
                vec!["corpus", p(&not_a_dir_file)],
                vec![p(&not_a_dir_file), "Not a directory"],
            ),
            (vec!["corpus", e], vec![e, "no *.workload"]),
            (vec!["corpus", p(&bad_corpus)], vec!["a.workload:line 2:"]),
            (
                vec!["corpus", e, "--max-volatile", "99"],
                vec!["--max-volatile"],
            ),
        ],
    );
    let unwritable = d.join("no-such-dir").join("out.workload");
    count(
        "minimize",
        &[
            (vec!["minimize"], vec!["FILE"]),
            (vec!["minimize", m], vec![m]),
            (vec!["minimize", e], vec![e]),
            (vec!["minimize", c], vec![c, "no finding"]),
            (vec!["minimize", b, "--budget", "0"], vec!["--budget"]),
            (
                vec!["minimize", b, "--budget", "99999999999"],
                vec!["--budget"],
            ),
            (
                vec!["minimize", b, "--budget", "1", "-o", p(&unwritable)],
                vec![p(&unwritable)],
            ),
            (vec!["minimize", b, "--budget", "1", "-o", e], vec![e]),
        ],
    );
    count(
        "show",
        &[
            (vec!["show"], vec!["FILE"]),
            (vec!["show", m], vec![m]),
            (vec!["show", e], vec![e]),
            (vec!["show", c, "--log-out", e], vec![e]),
            (
                vec!["show", c, "--log-out", p(&unwritable)],
                vec![p(&unwritable)],
            ),
        ],
    );
    count(
        "replay",
        &[
            (vec!["replay"], vec!["LOG"]),
            (vec!["replay", m], vec![m, "No such file"]),
            (vec!["replay", u], vec![u]),
            (vec!["replay", e], vec![e, "is a directory"]),
            (vec!["replay", z], vec![z, "empty file"]),
            (vec!["replay", g], vec![g, "unknown log format"]),
            (vec!["replay", t], vec![t, "entry", "offset"]),
            (vec!["replay", k], vec![k, "offset"]),
            (
                vec!["replay", l, "--format", "dm-log-writes"],
                vec![l, "bad magic"],
            ),
            (
                vec!["replay", o, "--format", "native"],
                vec![o, "bad magic"],
            ),
            (
                vec!["replay", l, "--device-size", "0"],
                vec![l, "device size 0"],
            ),
            (
                vec!["replay", l, "--device-size", "1000"],
                vec![l, "device size 1000"],
            ),
            (
                vec!["replay", o, "--device-size", "512"],
                vec![o, "past the device end"],
            ),
            (vec!["replay", l, "--device-size", "-1"], vec!["-1"]),
            (vec!["replay", l, "--state", "q1"], vec!["bad state id"]),
            (vec!["replay", l, "--state", "p99999999"], vec!["p99999999"]),
            (vec!["replay", l, "--start-mark", "nosuch"], vec!["nosuch"]),
            (vec!["replay", l, "--mode", "sideways"], vec!["sideways"]),
            (vec!["replay", l, "--jobs", "5000"], vec!["--jobs"]),
            (
                vec!["replay", l, "--max-volatile", "17"],
                vec!["--max-volatile"],
            ),
            (vec!["replay", l, "--samples", "100001"], vec!["--samples"]),
            (
                vec!["replay", l, "--list", "--state", "p1"],
                vec!["--list", "--state"],
            ),
            (
                vec!["replay", l, "--list", "--check-cmd", "true"],
                vec!["--list", "--check-cmd"],
            ),
            (
                vec!["replay", l, "--list", "--keep-going"],
                vec!["--list", "--keep-going"],
            ),
        ],
    );
    let out = d.join("converted");
    count(
        "convert",
        &[
            (vec!["convert", l], vec!["OUTPUT"]),
            (vec!["convert", l, p(&out)], vec!["--to"]),
            (vec!["convert", l, p(&out), "--to", "ext4"], vec!["--to"]),
            (vec!["convert", m, p(&out), "--to", "native"], vec![m]),
            (
                vec!["convert", e, p(&out), "--to", "native"],
                vec![e, "is a directory"],
            ),
            (
                vec!["convert", z, p(&out), "--to", "native"],
                vec![z, "empty file"],
            ),
            (
                vec!["convert", t, p(&out), "--to", "dm-log-writes"],
                vec![t, "offset"],
            ),
            (
                vec!["convert", l, l, "--to", "native"],
                vec![l, "the output is the input"],
            ),
            (
                vec!["convert", l, p(&unwritable), "--to", "native"],
                vec![p(&unwritable)],
            ),
            (vec!["convert", l, e, "--to", "native"], vec![e]),
            (
                vec![
                    "convert",
                    o,
                    p(&out),
                    "--to",
                    "native",
                    "--device-size",
                    "3",
                ],
                vec!["device size 3"],
            ),
            (
                vec![
                    "convert",
                    l,
                    p(&out),
                    "--to",
                    "native",
                    "--format",
                    "dm-log-writes",
                ],
                vec![l, "bad magic"],
            ),
        ],
    );
    count(
        "bugs and top level",
        &[
            (vec!["bugs", "extra"], vec!["extra"]),
            (vec!["bugs", "--json"], vec!["--json"]),
            (vec![], vec!["Usage"]),
            (vec!["frobnicate"], vec!["frobnicate"]),
        ],
    );
    // The log used above is intact: those were input errors, not damage.
    assert_eq!(std::fs::read(&log).unwrap(), bytes);
    let total: usize = counts.iter().map(|c| c.1).sum();
    eprintln!("CLI bad arguments: {total} cases: {counts:?}");
}

/// A reader that goes away before the output is written (`brownout show
/// FILE | head -0`) ends the command quietly: no panic, no error.
#[test]
fn closed_stdout_is_not_a_panic() {
    let mut child = common::brownout_command()
        .arg("show")
        .arg(corpus("bug-convert-before-io.workload"))
        .arg("--all")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run brownout");
    drop(child.stdout.take()); // before the child has parsed its arguments
    let out = child.wait_with_output().expect("wait for brownout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.status.code().is_some_and(|c| c != 101),
        "{:?}",
        out.status
    );
}

/// A dm-log-writes log whose superblock count lags its entries (a device
/// not removed cleanly) replays up to the count, exit 0, and names how
/// many well-formed entries follow; `--include-trailing` replays them;
/// `--state dm:N` takes replay-log's entry numbers.
#[test]
fn dm_log_with_entries_past_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = d.join("ok.blog");
    let clean = corpus("clean-every-op-prefix.workload");
    assert!(brownout(["show", p(&clean), "--log-out", p(&log)])
        .status
        .success());
    let dm = d.join("ok.dm");
    assert!(
        brownout(["convert", p(&log), p(&dm), "--to", "dm-log-writes"])
            .status
            .success()
    );
    let mut bytes = std::fs::read(&dm).unwrap();
    let declared = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    assert!(declared > 3);
    bytes[16..24].copy_from_slice(&(declared - 3).to_le_bytes());
    let lagging = d.join("lagging.dm");
    std::fs::write(&lagging, &bytes).unwrap();

    let out = brownout(["replay", p(&lagging), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(v["dm_declared_entries"], declared - 3);
    assert_eq!(v["dm_trailing_entries"], 3);
    assert_eq!(v["dm_trailing_included"], false);
    let text = String::from_utf8(brownout(["replay", p(&lagging)]).stdout).unwrap();
    assert!(text.contains("3 well-formed entries follow"), "{text}");

    let all = brownout(["replay", p(&lagging), "--include-trailing", "--json"]);
    assert_eq!(all.status.code(), Some(0));
    let w: serde_json::Value =
        serde_json::from_str(String::from_utf8(all.stdout).unwrap().trim()).unwrap();
    let whole = brownout(["replay", p(&dm), "--json"]);
    let x: serde_json::Value =
        serde_json::from_str(String::from_utf8(whole.stdout).unwrap().trim()).unwrap();
    assert_eq!(w["entries"], x["entries"]);
    assert_eq!(w["states_checked"], x["states_checked"]);

    // dm:N is the state after the first N entries (replay-log --limit N).
    let out = brownout(["replay", p(&dm), "--state", "dm:1"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("\tdm:1"), "{text}");
    fails(
        ["replay", p(&dm), "--state", &format!("dm:{}", declared + 1)],
        &["past the last entry"],
    );
}

/// `bench --compare`: a baseline that is not a bench report is refused
/// before any fuzzing; a clean campaign slower than the baseline allows is
/// a regression (exit 1, listed in the JSON), one within it is not.
#[test]
fn bench_compare_flags_regressions() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"clean\": 3}").unwrap();
    fails(
        [
            OsStr::new("bench"),
            OsStr::new("--compare"),
            bad.as_os_str(),
        ],
        &["bad.json", "bench --json"],
    );
    let run = |execs_per_s: f64| {
        let baseline = dir.path().join("baseline.json");
        let report = serde_json::json!({
            "hunts": [],
            "clean": [{"mode": "prefix", "barrier": "stable", "execs_per_s": execs_per_s}],
        });
        std::fs::write(&baseline, report.to_string()).unwrap();
        let out = brownout([
            OsStr::new("bench"),
            OsStr::new("--target"),
            OsStr::new("example-wal"),
            OsStr::new("--no-hunts"),
            OsStr::new("--clean-time"),
            OsStr::new("1"),
            OsStr::new("--json"),
            OsStr::new("--compare"),
            baseline.as_os_str(),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
        (out.status.code(), v["regressions"].clone())
    };
    let (code, regressions) = run(1e12);
    assert_eq!(code, Some(1), "{regressions}");
    assert!(
        regressions[0].as_str().unwrap().starts_with("clean prefix"),
        "{regressions}"
    );
    let (code, regressions) = run(0.001);
    assert_eq!(code, Some(0), "{regressions}");
    assert_eq!(regressions, serde_json::json!([]));
}

/// `run --state ID --save-image PATH` writes that crash state's device
/// image, whole, and still reports the state's finding.
#[test]
fn save_image_writes_the_named_crash_state() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("p15.img");
    let buggy = corpus("bug-dsync-no-flush.workload");
    let out = brownout(["run", p(&buggy), "--state", "p15", "--save-image", p(&img)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("rule 3"));
    let image = std::fs::read(&img).unwrap();
    assert!(
        !image.is_empty() && image.len().is_multiple_of(512),
        "{}",
        image.len()
    );
    assert!(
        image.iter().any(|&b| b != 0),
        "a crash image holds the format"
    );
}
