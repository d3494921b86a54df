//! `brownout fuzz` as a process (issue 6): Ctrl-C stops it promptly with
//! its summary and every reproducer kept; two campaigns sharing `--out`
//! never overwrite each other's files.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn brownout() -> Command {
    common::brownout_command()
}

/// The `*.workload` files of `dir`, and whether any temporary file was
/// left behind.
fn reproducers(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut files = Vec::new();
    let mut other = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "workload") {
                files.push(p);
            } else {
                other.push(p);
            }
        }
    }
    files.sort();
    (files, other)
}

/// A reproducer's name ends in the first 12 hex digits of the blake3 of its
/// content, and it parses.
fn check_reproducer(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let hash = blake3::hash(text.as_bytes()).to_hex();
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.ends_with(&format!("-{}.workload", &hash[..12])),
        "{name}: content does not match its name"
    );
    brownout::workload::Workload::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn interrupt(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT {pid}");
}

#[test]
fn ctrl_c_stops_cleanly_with_summary_and_reproducers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // With a bug on and --keep-going, findings pile up while it runs.
    let child = brownout()
        .args([
            "fuzz",
            "--time",
            "30",
            "--jobs",
            "2",
            "--keep-going",
            "--json",
        ])
        .args(["--bug", "dsync-no-flush", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let start = Instant::now();
    interrupt(child.id());
    let output = child.wait_with_output().unwrap();
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Findings: exit 1, not killed by the signal.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["interrupted"], true);
    assert!(summary["elapsed_s"].as_f64().unwrap() < 20.0);
    assert!(summary["execs"].as_u64().unwrap() > 0);
    assert!(summary["max_log_bytes"].as_u64().unwrap() > 0);
    let findings = summary["findings"].as_array().unwrap();
    assert!(!findings.is_empty(), "{summary}");
    // Every reported finding's reproducer is on disk, whole.
    for f in findings {
        let path = PathBuf::from(f["reproducer"].as_str().unwrap());
        assert!(path.starts_with(&out));
        check_reproducer(&path);
    }
    let (files, other) = reproducers(&out);
    assert!(other.is_empty(), "left behind: {other:?}");
    assert!(files.len() <= findings.len() && !files.is_empty());
    files.iter().for_each(|p| check_reproducer(p));

    // A clean campaign interrupted: exit 0, the text summary says so.
    let child = brownout()
        .args(["fuzz", "--time", "30", "--jobs", "1", "--out"])
        .arg(dir.path().join("clean"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let start = Instant::now();
    interrupt(child.id());
    let output = child.wait_with_output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 finding(s) (interrupted)"), "{stdout}");
    assert!(stdout.contains("memory per execution"), "{stdout}");
    assert!(reproducers(&dir.path().join("clean")).0.is_empty());
}

#[test]
fn two_campaigns_sharing_out_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shared");
    // Same seed (the same reproducers, raced) and another seed (different
    // ones), all at once into one directory.
    let spawn = |seed: &str| {
        brownout()
            .args([
                "fuzz",
                "--execs",
                "60",
                "--jobs",
                "1",
                "--keep-going",
                "--json",
            ])
            .args(["--bug", "dsync-no-flush", "--seed", seed, "--out"])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [spawn("1"), spawn("1"), spawn("2")];
    let mut reported = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        let v: serde_json::Value =
            serde_json::from_str(String::from_utf8(output.stdout).unwrap().trim()).unwrap();
        let paths: Vec<PathBuf> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| PathBuf::from(f["reproducer"].as_str().unwrap()))
            .collect();
        assert!(!paths.is_empty());
        reported.push(paths);
    }
    // The two same-seed campaigns report the same files.
    assert_eq!(reported[0], reported[1]);
    let (files, other) = reproducers(&out);
    assert!(other.is_empty(), "temporary files left: {other:?}");
    // Every file is whole and named after its content: nothing was
    // overwritten by a different reproducer or left half-written.
    files.iter().for_each(|p| check_reproducer(p));
    let mut all: Vec<PathBuf> = reported.into_iter().flatten().collect();
    all.sort();
    all.dedup();
    assert_eq!(all, files);
}
