//! The command-line tools the kernel targets run (mkfs, fsck, losetup):
//! where they are, and running one with a deadline.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where `program` is: on `PATH`, or in the sbin directories a non-login
/// root shell may leave out.
pub fn path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/sbin".into(), "/usr/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// `args` followed by `device`.
pub fn args(args: &[&str], device: &Path) -> Vec<OsString> {
    args.iter()
        .map(OsString::from)
        .chain([device.as_os_str().to_owned()])
        .collect()
}

/// `losetup -a`: one line per loop device, naming its backing file
/// (empty if losetup is missing or fails).
pub fn loop_devices(deadline: Duration) -> String {
    run("losetup", &["-a".into()], deadline).unwrap_or_default()
}

/// Runs the tool `program` (found by [`path`]) with `args` and a
/// deadline: its standard output, or an error with its standard error and
/// output.
pub fn run(program: &str, args: &[OsString], deadline: Duration) -> Result<String, String> {
    let name = program;
    let mut child = Command::new(path(program).unwrap_or_else(|| program.into()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    // Drained while it runs, so that a long complaint cannot fill a pipe
    // and stall it.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    // A waiter thread owns the child; past the deadline it is killed by
    // its pid, and the wait returns.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (exited, status) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = exited.send(child.wait());
    });
    let status = match status.recv_timeout(deadline) {
        Ok(status) => Some(status.map_err(|e| format!("{name}: {e}"))?),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            None
        }
    };
    let _ = waiter.join();
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    match status {
        Some(s) if s.success() => Ok(out),
        Some(s) => Err(format!(
            "{name} failed ({s}): {}\n{}",
            err.trim(),
            out.trim()
        )),
        None => Err(format!("{name} did not finish in {} s", deadline.as_secs())),
    }
}
