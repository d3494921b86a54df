//! `brownout replay LOG`: enumerate and check the crash states of a block
//! log (native or Linux dm-log-writes), like xfstests' `replay-log --fsck`
//! but over every crash state the crash model allows, not only prefixes.
//!
//! Without `--check-cmd` the states are enumerated and deduplicated only
//! (useful with `--list`); with it, each distinct state is written as an
//! image file and the command decides (non-zero exit = finding).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result};
use replay::{CheckOptions, CrashState, EnumOptions, Format, Image, Log, Mode, StateId};

/// Log formats on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Native,
    DmLogWrites,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Native => Format::Native,
            FormatArg::DmLogWrites => Format::DmLogWrites,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The log file.
    pub log: PathBuf,
    /// Log format (default: detected from the magic number).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Crash states to explore: prefix, reorder or torn.
    #[arg(long, default_value = "prefix")]
    pub mode: Mode,
    /// Largest set of pending writes whose subsets are all explored.
    #[arg(long, default_value_t = 8, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=16))]
    pub max_volatile: usize,
    /// Random subsets per position beyond --max-volatile.
    #[arg(long, default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100_000))]
    pub samples: usize,
    /// Seed of the random subsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start right after the first mark with this label.
    #[arg(long)]
    pub start_mark: Option<String>,
    /// Stop right after the first mark with this label.
    #[arg(long)]
    pub end_mark: Option<String>,
    /// Enumerate at most N states.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Device size in bytes (dm-log-writes logs do not record it; default:
    /// the highest sector written, rounded up to 4 KiB).
    #[arg(long)]
    pub device_size: Option<u64>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1024))]
    pub jobs: usize,
    /// Print each distinct state (id, log position, blake3 of its image)
    /// without checking.
    #[arg(long, conflicts_with_all = ["state", "check_cmd", "keep_going"])]
    pub list: bool,
    /// Replay only this state (an id printed by --list or a report).
    #[arg(long)]
    pub state: Option<String>,
    /// Check command run through `sh -c` on each state's image: the path is
    /// in $BROWNOUT_IMAGE and replaces `{image}`; non-zero exit = finding.
    #[arg(long)]
    pub check_cmd: Option<String>,
    /// Report every failing state, not only the first.
    #[arg(long)]
    pub keep_going: bool,
    /// JSON output: one object per line for --list, one summary otherwise.
    #[arg(long)]
    pub json: bool,
}

impl ReplayArgs {
    fn enum_options(&self) -> EnumOptions {
        EnumOptions {
            mode: self.mode,
            max_volatile: self.max_volatile,
            samples: self.samples,
            seed: self.seed,
            start_mark: self.start_mark.clone(),
            end_mark: self.end_mark.clone(),
            limit: self.limit,
            // The check command sees only the image.
            distinct_images_only: true,
            tear_sectors: 1,
            max_subsets: None,
            max_tears: None,
        }
    }
}

/// A temporary directory for image files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("brownout-replay-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)
            .with_context(|| format!("creating temporary directory {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Single-quotes `s` for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Writes the image of `state` to a file in `dir` and runs the check
/// command on it. `Err` carries the finding's description.
fn run_check_cmd(
    cmd: &str,
    dir: &Path,
    state: &CrashState,
    image: &Image,
) -> std::result::Result<(), String> {
    let path = dir.join(format!("{}.img", state.id));
    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    image
        .write_sparse(&file)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    drop(file);
    let path_str = path.to_string_lossy().into_owned();
    let output = Command::new("sh")
        .arg("-c")
        .arg(cmd.replace("{image}", &shell_quote(&path_str)))
        .env("BROWNOUT_IMAGE", &path)
        .stdin(Stdio::null())
        .output();
    let _ = std::fs::remove_file(&path);
    let output = output.map_err(|e| format!("running sh: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let tail: String = {
        let t = text.trim_end();
        let start = t.len().saturating_sub(2000);
        // Stay on a character boundary.
        let start = (start..=t.len())
            .find(|&i| t.is_char_boundary(i))
            .unwrap_or(t.len());
        t[start..].to_string()
    };
    Err(format!("check command failed ({}): {tail}", output.status))
}

fn state_json(state: &CrashState, hash: Option<blake3::Hash>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": state.id.to_string(),
        "position": state.position,
        "marks": state.marks,
        "persisted": state.persisted,
    });
    if let Some(h) = hash {
        v["blake3"] = serde_json::Value::String(h.to_hex().to_string());
    }
    v
}

fn open(args_log: &Path, format: Option<FormatArg>, device_size: Option<u64>) -> Result<Log> {
    replay::open_log(args_log, format.map(Format::from), device_size)
        .with_context(|| format!("reading log {}", args_log.display()))
}

pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    let log = open(&args.log, args.format, args.device_size)?;
    let opts = args.enum_options();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();

    if let Some(id) = &args.state {
        let id: StateId = id.parse()?;
        // The id names its mode family: `r` ids exist in reorder (and torn)
        // mode, `t` ids in torn mode; follow it unless --mode already fits.
        let mut opts = opts;
        opts.mode = match (id, opts.mode) {
            (StateId::Reorder { .. }, Mode::Prefix) => Mode::Reorder,
            (StateId::Torn { .. }, _) => Mode::Torn,
            (StateId::Prefix { .. }, _) => Mode::Prefix,
            (_, mode) => mode,
        };
        let state = replay::find_state(&log, &opts, &id)?;
        let image = replay::image_of(&log, &state)?;
        let verdict = match &args.check_cmd {
            Some(cmd) => {
                let dir = TempDir::new()?;
                Some(run_check_cmd(cmd, &dir.0, &state, &image))
            }
            None => None,
        };
        let failed = matches!(verdict, Some(Err(_)));
        if args.json {
            let mut v = state_json(&state, Some(image.hash()));
            if let Some(Err(e)) = &verdict {
                v["error"] = serde_json::Value::String(e.clone());
            }
            v["finding"] = serde_json::Value::Bool(failed);
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "{}\tposition {}\tblake3 {}",
                state.id,
                state.position,
                image.hash()
            )?;
            match &verdict {
                Some(Err(e)) => writeln!(out, "FINDING {}: {e}", state.id)?,
                Some(Ok(())) => writeln!(out, "ok")?,
                None => {}
            }
        }
        return Ok(if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }

    if args.list {
        let mut states = replay::DistinctStates::new(&log, &opts)?;
        for s in states.by_ref() {
            let hash = s.image.hash();
            if args.json {
                writeln!(out, "{}", state_json(&s.state, Some(hash)))?;
            } else {
                writeln!(out, "{}\t{}\t{}", s.state.id, s.state.position, hash)?;
            }
        }
        if !args.json {
            writeln!(
                out,
                "# {} states enumerated, distinct listed above",
                states.enumerated
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }

    let check_opts = CheckOptions {
        enumerate: opts,
        jobs: args.jobs,
        keep_going: args.keep_going,
    };
    let dir = match &args.check_cmd {
        Some(_) => Some(TempDir::new()?),
        None => None,
    };
    let report = replay::check(&log, &check_opts, |state, image| {
        match (&args.check_cmd, &dir) {
            (Some(cmd), Some(dir)) => run_check_cmd(cmd, &dir.0, state, image),
            _ => Ok(()),
        }
    })?;
    if args.json {
        let failures: Vec<serde_json::Value> = report
            .failures
            .iter()
            .map(|f| {
                let mut v = state_json(&f.state, None);
                v["error"] = serde_json::Value::String(f.error.clone());
                v
            })
            .collect();
        let v = serde_json::json!({
            "log": args.log.display().to_string(),
            "mode": args.mode.to_string(),
            "entries": log.len(),
            "device_bytes": log.device_bytes(),
            "states_enumerated": report.states_enumerated,
            "states_checked": report.states_checked,
            "checked_with": args.check_cmd,
            "findings": failures.len(),
            "failures": failures,
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "{}: {} entries, device {} bytes, mode {}: {} states, {} distinct{}",
            args.log.display(),
            log.len(),
            log.device_bytes(),
            args.mode,
            report.states_enumerated,
            report.states_checked,
            if args.check_cmd.is_some() {
                " checked"
            } else {
                " (no --check-cmd: enumerated only)"
            }
        )?;
        for f in &report.failures {
            writeln!(
                out,
                "FINDING {} (position {}): {}",
                f.state.id, f.state.position, f.error
            )?;
        }
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
