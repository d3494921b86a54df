//! The targets on the command line: `brownout targets`, `--target`, the
//! `target:` header, vocabularies checked line by line, the example
//! targets found and passed, `--tear` and `--recovery-crashes`.

use crate::common;

use std::path::Path;
use std::process::Output;

fn brownout(args: &[&str]) -> Output {
    common::brownout_command()
        .args(args)
        .output()
        .expect("run brownout")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn targets_lists_each_with_device_vocabulary_and_contract() {
    let out = brownout(&["targets", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = v.as_array().expect("an array of targets");
    let find = |name: &str| {
        all.iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed: {v}"))
    };
    for (name, device, vocabulary) in [
        ("fs-under-test", "disk", "fs"),
        ("example-inplace", "file", "kv"),
        ("example-wal", "file", "kv"),
    ] {
        let t = find(name);
        assert_eq!(t["device"], device, "{t}");
        assert_eq!(t["vocabulary"], vocabulary, "{t}");
        assert!(t["version"].is_string(), "{t}");
        assert!(t["contract"]["acknowledges"].is_string(), "{t}");
    }
    assert_eq!(find("fs-under-test")["bugs"].as_array().unwrap().len(), 15);
    let human = brownout(&["targets"]);
    assert!(text(&human.stdout).contains("example-wal"));
    let bugs = brownout(&["bugs", "--target", "example-wal"]);
    assert!(text(&bugs.stdout).contains("no bug switches"));
}

#[test]
fn workload_files_are_checked_against_their_target_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (body, needles) in [
        (
            "files: 1\ncreate f0\nput k0 4\n",
            vec![":line 3:", "has no operation `put`"],
        ),
        (
            "target: example-wal\nkeys: 2\nput k0 4\nwrite f0 0 10\n",
            vec![":line 4:", "has no operation `write`", "put, remove"],
        ),
        (
            "target: example-wal\nkeys: 2\nput k2 4\n",
            vec![":line 3:", "k2 is past the key count"],
        ),
        (
            "target: example-wal\nput k0 401\n",
            vec![":line 2:", "value length 401"],
        ),
        (
            "target: example-wal\nkeys: 0\n",
            vec![":line 2:", "key count 0"],
        ),
        (
            "target: nope\n",
            vec![":line 1:", "unknown target `nope`", "example-wal"],
        ),
        (
            "target: example-wal\nbugs: fsync-no-flush\nput k0 1\n",
            vec![":line 2:", "unknown bug switch `fsync-no-flush`"],
        ),
        (
            "target: example-wal\ncommit maybe\n",
            vec![":line 2:", "`durable` or `nondurable`"],
        ),
    ] {
        let path = write(d, "bad.workload", body);
        let out = brownout(&["run", &path]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{body}: {err}");
        for n in needles {
            assert!(err.contains(n), "{body}: `{n}` not in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    // `--target` moves a workload onto another target, checked the same way.
    let fs = write(d, "fs.workload", "files: 1\ncreate f0\nwrite f0 0 10\n");
    let out = brownout(&["run", &fs, "--target", "example-wal"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("has no operation `create`"));
    let out = brownout(&["fuzz", "--target", "nope", "--execs", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown target `nope`"));
    let out = brownout(&["fuzz", "--target", "example-wal", "--bug", "dsync-no-flush"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown bug switch"));
}

/// A transaction of two keys: the in-place store writes two slots, and a
/// crash between them leaves half of it; the WAL's one record cannot.
const TWO_KEY_COMMIT: &str = "keys: 2\nput k0 300\nput k1 300\ncommit durable\n";

#[test]
fn the_naive_example_is_caught_and_the_wal_example_passes() {
    let dir = tempfile::tempdir().unwrap();
    let inplace = write(
        dir.path(),
        "inplace.workload",
        &format!("target: example-inplace\n{TWO_KEY_COMMIT}"),
    );
    let out = brownout(&["run", &inplace]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("equals no committed state"), "{stdout}");
    assert!(stdout.contains("reproduce:  brownout run"), "{stdout}");
    for mode in ["prefix", "reorder", "torn"] {
        let body = format!("target: example-inplace\nmode: {mode}\n{TWO_KEY_COMMIT}");
        let w = write(dir.path(), "modes.workload", &body);
        let out = brownout(&["run", &w]);
        assert_eq!(out.status.code(), Some(1), "{mode}: {}", text(&out.stdout));
        let out = brownout(&[
            "run",
            &w,
            "--target",
            "example-wal",
            "--recovery-crashes",
            "1",
        ]);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", text(&out.stdout));
    }
    let out = brownout(&[
        "fuzz",
        "--target",
        "example-inplace",
        "--execs",
        "300",
        "--jobs",
        "1",
        "--seed",
        "1",
        "--json",
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!v["findings"].as_array().unwrap().is_empty(), "{v}");
    for mode in ["prefix", "reorder", "torn"] {
        let out = brownout(&[
            "fuzz",
            "--target",
            "example-wal",
            "--mode",
            mode,
            "--execs",
            "200",
            "--jobs",
            "1",
            "--seed",
            "1",
            "--json",
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", text(&out.stdout));
    }
}

#[test]
fn tear_granularity_is_a_multiple_of_the_sector() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(
        dir.path(),
        "w.workload",
        &format!("target: example-wal\nmode: torn\n{TWO_KEY_COMMIT}"),
    );
    let states = |tear: &str| -> u64 {
        let out = brownout(&["run", &w, "--tear", tear, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["states_enumerated"].as_u64().unwrap()
    };
    // Page-sized tears of page-sized writes: no tear inside a page.
    assert!(states("4096") < states("512"));
    for bad in ["0", "100", "513", "x"] {
        let out = brownout(&["run", &w, "--tear", bad]);
        assert_eq!(out.status.code(), Some(2), "--tear {bad}");
    }
}

/// `show --state OUTER+INNER` on a finding of crash and continue (redb's,
/// a kv target): the continuation's timeline, from the recovery of state
/// OUTER, its operations numbered as in the workload, then the finding
/// at that state, and the same as a picture with the crash point drawn.
#[test]
fn show_of_a_continuation_state_shows_that_continuation() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../targets/redb/corpus/rolled-back-commit-returns-after-torn-god-byte.workload");
    let file = file.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("cont.svg");
    let svg = svg.to_str().unwrap();
    let out = brownout(&["show", file, "--state", "p84+p16", "--svg", svg]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "== the continuation after crash state p84: its recovery, then operations #4 on"
    );
    // The recovery's writes come before the first operation it continued
    // with; the outer workload's first operations do not appear.
    let first_op = lines.iter().position(|l| l.starts_with("== op #")).unwrap();
    assert!(first_op > 1, "{stdout}");
    assert!(lines[1].starts_with("    0  "), "{stdout}");
    assert_eq!(lines[first_op], "== op #4: put k3 12");
    assert!(!stdout.contains("== op #0:"), "{stdout}");
    assert!(
        stdout.contains("state p84+p16 (after log entry 16)"),
        "{stdout}"
    );
    let picture = std::fs::read_to_string(svg).unwrap();
    assert!(picture.contains("crash: state p84+p16, after log entry 16"));
    assert!(picture.contains(">#4 put k3 12<"), "{picture}");
    // A state no continuation starts from is a clear error.
    let out = brownout(&["show", file, "--state", "p9999+p1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("p9999"), "{}", text(&out.stderr));
}
