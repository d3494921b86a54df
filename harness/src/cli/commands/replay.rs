//! `brownout replay LOG`: enumerate and check the crash states of a block
//! log (native or Linux dm-log-writes), like xfstests' `replay-log --fsck`
//! but over every crash state the crash model allows, not only prefixes.
//!
//! Without `--check-cmd` the states are enumerated and deduplicated only
//! (useful with `--list`); with it, each distinct state is written as an
//! image file and the command decides (non-zero exit = finding).
//!
//! A dm-log-writes log is read up to its superblock's entry count, as
//! `replay-log` does; well-formed entries after it (a log the kernel did
//! not close cleanly) are counted and named, and replayed with
//! `--include-trailing`. Its states also carry dm entry numbers: `dm:N`
//! is the state `replay-log --limit N` gives, accepted by `--state`.

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
    /// Replay only this state (an id printed by --list or a report; for a
    /// dm-log-writes log also `dm:N`, the state after its first N entries,
    /// as `replay-log --limit N`).
    #[arg(long)]
    pub state: Option<String>,
    /// dm-log-writes: replay the well-formed entries found after the
    /// superblock's entry count too (by default they are counted, not
    /// replayed).
    #[arg(long)]
    pub include_trailing: bool,
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
            tear_budget: None,
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

/// dm entries before each log position (a dm-log-writes log), for ids
/// a `replay-log --limit` user can follow.
type DmCounts = Option<Vec<u64>>;

fn state_json(dm: &DmCounts, state: &CrashState, hash: Option<blake3::Hash>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": state.id.to_string(),
        "position": state.position,
        "marks": state.marks,
        "persisted": state.persisted,
    });
    if let Some(n) = dm.as_ref().and_then(|d| d.get(state.position)) {
        v["dm_entries"] = (*n).into();
    }
    if let Some(h) = hash {
        v["blake3"] = serde_json::Value::String(h.to_hex().to_string());
    }
    v
}

/// `\tdm N` for a dm-log-writes log: the dm entries a state lies after.
fn dm_column(dm: &DmCounts, position: usize) -> String {
    dm.as_ref()
        .and_then(|d| d.get(position))
        .map_or(String::new(), |n| format!("\tdm:{n}"))
}

fn open(args: &ReplayArgs) -> Result<Log> {
    let log = replay::open_log_with(
        &args.log,
        args.format.map(Format::from),
        args.device_size,
        args.include_trailing,
    )
    .with_context(|| format!("reading log {}", args.log.display()))?;
    Ok(log)
}

/// What a dm-log-writes log held past its superblock's count, in words
/// (`None`: nothing).
fn trailing_note(log: &Log) -> Option<String> {
    let p = log.provenance();
    (p.dm_trailing_entries > 0).then(|| {
        format!(
            "the superblock declares {} entries; {} well-formed entries follow them ({})",
            p.dm_declared_entries,
            p.dm_trailing_entries,
            if p.dm_trailing_included {
                "replayed: --include-trailing"
            } else {
                "not replayed, as replay-log does; --include-trailing replays them"
            }
        )
    })
}

/// `--state`: a state id, or `dm:N` (the prefix state after the first N
/// dm entries: the latest state at or before that position, since a
/// position where nothing changed is no state of its own).
fn state_by_id(log: &Log, opts: &EnumOptions, text: &str) -> Result<CrashState> {
    let Some(n) = text.strip_prefix("dm:") else {
        let id: StateId = text.parse()?;
        return Ok(replay::find_state(log, opts, &id)?);
    };
    let n: u64 = n
        .parse()
        .with_context(|| format!("--state {text}: expected dm:N with N a number of entries"))?;
    let Some(end) = log.dm_entry_position(n) else {
        anyhow::bail!(
            "--state {text}: {}",
            if log.provenance().dm_order {
                "past the last entry of the log"
            } else {
                "dm:N names states of dm-log-writes logs only"
            }
        );
    };
    let mut opts = opts.clone();
    opts.mode = Mode::Prefix;
    for position in (0..=end).rev() {
        match replay::find_state(log, &opts, &StateId::Prefix { position }) {
            Ok(state) => return Ok(state),
            Err(replay::ReplayError::NoSuchState { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("--state {text}: no prefix state at or before log position {end}")
}

pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    let log = open(args)?;
    let opts = args.enum_options();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let trailing = trailing_note(&log);
    let dm = log.dm_entries_before();

    if let Some(text) = &args.state {
        if let Some(note) = &trailing {
            eprintln!("{}: {note}", args.log.display());
        }
        let mut opts = opts;
        if let Ok(id) = text.parse::<StateId>() {
            // The id names its mode family: `r` ids exist in reorder (and
            // torn) mode, `t` ids in torn mode; follow it unless --mode
            // already fits.
            opts.mode = match (id, opts.mode) {
                (StateId::Reorder { .. }, Mode::Prefix) => Mode::Reorder,
                (StateId::Torn { .. }, _) => Mode::Torn,
                (StateId::Prefix { .. }, _) => Mode::Prefix,
                (_, mode) => mode,
            };
        }
        let state = state_by_id(&log, &opts, text)?;
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
            let mut v = state_json(&dm, &state, Some(image.hash()));
            if let Some(Err(e)) = &verdict {
                v["error"] = serde_json::Value::String(e.clone());
            }
            v["finding"] = serde_json::Value::Bool(failed);
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "{}\tposition {}\tblake3 {}{}",
                state.id,
                state.position,
                image.hash(),
                dm_column(&dm, state.position)
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
        if let Some(note) = &trailing {
            eprintln!("{}: {note}", args.log.display());
        }
        let mut states = replay::DistinctStates::new(&log, &opts)?;
        for s in states.by_ref() {
            let hash = s.image.hash();
            if args.json {
                writeln!(out, "{}", state_json(&dm, &s.state, Some(hash)))?;
            } else {
                writeln!(
                    out,
                    "{}\t{}\t{}{}",
                    s.state.id,
                    s.state.position,
                    hash,
                    dm_column(&dm, s.state.position)
                )?;
            }
        }
        if !args.json {
            writeln!(
                out,
                "# {} states enumerated, distinct listed above",
                states.enumerated()
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
                let mut v = state_json(&dm, &f.state, None);
                v["error"] = serde_json::Value::String(f.error.clone());
                v
            })
            .collect();
        let v = serde_json::json!({
            "log": args.log.display().to_string(),
            "mode": args.mode.to_string(),
            "entries": log.len(),
            "dm_declared_entries": log.provenance().dm_order.then_some(log.provenance().dm_declared_entries),
            "dm_trailing_entries": log.provenance().dm_order.then_some(log.provenance().dm_trailing_entries),
            "dm_trailing_included": log.provenance().dm_trailing_included,
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
            "{}: {}, device {} bytes, mode {}: {} states, {} distinct{}",
            args.log.display(),
            match dm.as_ref().and_then(|d| d.last()) {
                // dm-log-writes counts entries its own way (a write and
                // its completion are one entry there).
                Some(n) => format!("{n} dm-log-writes entries ({} log entries)", log.len()),
                None => format!("{} entries", log.len()),
            },
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
        if let Some(note) = &trailing {
            writeln!(out, "{}: {note}", args.log.display())?;
        }
        for f in &report.failures {
            writeln!(
                out,
                "FINDING {} (position {}{}): {}",
                f.state.id,
                f.state.position,
                dm_column(&dm, f.state.position).replace('\t', ", "),
                f.error
            )?;
        }
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
