//! `brownout convert IN OUT --to native|dm-log-writes`: converts block logs
//! between brownout's native format and Linux dm-log-writes (so kernel logs
//! can be replayed here and brownout's logs by xfstests' `replay-log`).
//! dm-log-writes -> dm-log-writes reproduces the input byte for byte.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use replay::Format;

use super::replay::FormatArg;

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// Input log.
    pub input: PathBuf,
    /// Output file.
    pub output: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    pub to: FormatArg,
    /// Input format (default: detected from the magic number).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Device size in bytes, recorded in native output (dm-log-writes input
    /// does not record it; default: the highest sector written, rounded up).
    #[arg(long)]
    pub device_size: Option<u64>,
}

pub fn run(args: &ConvertArgs) -> Result<ExitCode> {
    // Writing over the input would truncate the log while it is mapped.
    if let (Ok(a), Ok(b)) = (args.input.canonicalize(), args.output.canonicalize()) {
        if a == b {
            anyhow::bail!(
                "{}: the output is the input file; write to another file",
                args.output.display()
            );
        }
    }
    let log = replay::open_log(&args.input, args.format.map(Format::from), args.device_size)
        .with_context(|| format!("reading log {}", args.input.display()))?;
    match args.to {
        FormatArg::Native => log.save_native(&args.output),
        FormatArg::DmLogWrites => log.save_dm_log_writes(&args.output),
    }
    .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}
