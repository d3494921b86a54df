//! The kernel targets from the command line: without root they refuse to
//! run with exit 2 and say what is missing; interrupted with Ctrl-C, a
//! campaign leaves no mount, loop device or FUSE daemon behind. Needs
//! root (and /dev/fuse, loop devices, mkfs.ext4) for the second; skipped
//! with a message elsewhere.
//!
//! One test function: the leftover check must not race another test's
//! devices.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_brownout");

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn refuses_without_root() {
    // As root, drop to `nobody` for the run (setpriv, util-linux); as
    // anyone else, the run is already without root.
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd
        .args([
            "fuzz",
            "--target",
            "linux-ext4",
            "--time",
            "5",
            "--jobs",
            "1",
        ])
        .args(["--out", "/tmp"])
        .output();
    let out = match out {
        Ok(out) if out.status.code() != Some(126) && out.status.code() != Some(127) => out,
        other => {
            eprintln!("skipped: cannot run brownout as another user: {other:?}");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("Permission denied") {
        eprintln!("skipped: `nobody` cannot execute {BIN}");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("linux-ext4") && stderr.contains("needs root"),
        "stderr: {stderr}"
    );
}

fn ctrl_c_leaves_nothing_behind() {
    let why = brownout_linux::missing(brownout_linux::Kind::Ext4);
    if let Some(why) = why {
        eprintln!("skipped the Ctrl-C test: linux-ext4 {why}");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "fuzz",
            "--target",
            "linux-ext4",
            "--time",
            "120",
            "--jobs",
            "2",
        ])
        .arg("--out")
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Into the campaign: devices set up, states being checked.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !brownout_linux::session::leftovers(child.id()).is_empty(),
        "a running campaign has its devices"
    );
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the campaign did not stop after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.code().is_some(), "killed by a signal: {status:?}");
    assert_eq!(
        brownout_linux::session::leftovers(child.id()),
        Vec::<String>::new(),
        "left behind"
    );
}

#[test]
fn kernel_targets_refuse_without_root_and_clean_up_after_ctrl_c() {
    refuses_without_root();
    ctrl_c_leaves_nothing_behind();
}
