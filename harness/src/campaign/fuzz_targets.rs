//! The bodies of the cargo-fuzz targets in `fuzz/`, as plain library
//! functions, so that `cargo test` on stable exercises them and the
//! `fuzz/` crate is only a `fuzz_target!` shell.
//!
//! - [`workload`]: bytes -> workload (the structure-aware generator) ->
//!   run and check every crash state; a finding panics with its report, so
//!   libFuzzer saves the input. The bug switches, barrier contract, crash
//!   mode and operation bound come from `BROWNOUT_BUGS`, `BROWNOUT_BARRIER`,
//!   `BROWNOUT_MODE` and `BROWNOUT_MAX_OPS` (see [`config_from_env`]).
//! - [`log_parse`]: the native and dm-log-writes parsers on arbitrary
//!   bytes; never panics.
//! - `mount_image` (in `crate::targets::embedded::fuzz`, since it
//!   is that engine's): the filesystem mounted on an arbitrary image of
//!   bounded size, with a small step budget; never panics, never hangs.

use crate::campaign::registry::run_workload;
use crate::finding::Finding;
use crate::run::check::OracleOptions;
use crate::run::execute::ExecOptions;
use crate::run::pipeline::RunError;
use crate::workload::bytes::decode;
use crate::workload::{Barrier, Bugs};
use crate::workload::{CrashMode, FuzzConfig, Workload};
use replay::Log;
use std::ffi::OsString;
use std::sync::OnceLock;

/// `BROWNOUT_MAX_OPS` when unset: the same bound as `brownout fuzz`.
pub const DEFAULT_MAX_OPS: usize = 24;
/// The environment variables the `workload` target reads.
pub const ENV_BUGS: &str = "BROWNOUT_BUGS";
pub const ENV_BARRIER: &str = "BROWNOUT_BARRIER";
pub const ENV_MODE: &str = "BROWNOUT_MODE";
pub const ENV_MAX_OPS: &str = "BROWNOUT_MAX_OPS";
pub const ENV_TARGET: &str = "BROWNOUT_TARGET";

/// A bad value in the target's environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

/// The target configuration from a variable lookup (`std::env::var_os`
/// for the real target; a map in tests). Unset or empty variables take
/// their defaults: no bugs, barrier `stable`, mode `prefix`, 24 operations.
///
/// - `BROWNOUT_BUGS`: comma- (or space-) separated bug switch names (see
///   `brownout bugs`), or `none`;
/// - `BROWNOUT_BARRIER`: `complete` or `stable`;
/// - `BROWNOUT_MODE`: `prefix`, `reorder` or `torn`;
/// - `BROWNOUT_MAX_OPS`: 1..=512.
pub fn config_from_lookup(
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<FuzzConfig, ConfigError> {
    let get = |var: &'static str| -> Result<Option<String>, ConfigError> {
        match lookup(var) {
            None => Ok(None),
            Some(v) => match v.into_string() {
                Ok(s) if s.trim().is_empty() => Ok(None),
                Ok(s) => Ok(Some(s.trim().to_string())),
                Err(v) => Err(ConfigError {
                    var,
                    value: v.to_string_lossy().into_owned(),
                    reason: "not valid UTF-8".into(),
                }),
            },
        }
    };
    let bad = |var, value: &str, reason: String| ConfigError {
        var,
        value: value.to_string(),
        reason,
    };
    let mut cfg = FuzzConfig {
        target: crate::workload::DEFAULT_TARGET.to_string(),
        bugs: Bugs::none(),
        barrier: Barrier::Stable,
        mode: CrashMode::Prefix,
        max_ops: DEFAULT_MAX_OPS,
    };
    if let Some(v) = get(ENV_TARGET)? {
        if crate::campaign::registry::lookup(&v).is_none() {
            let reason = format!(
                "unknown target (known: {})",
                crate::campaign::registry::names()
            );
            return Err(bad(ENV_TARGET, &v, reason));
        }
        cfg.target = v;
    }
    if let Some(v) = get(ENV_BUGS)? {
        cfg.bugs = parse_bugs(&cfg.target, &v).map_err(|reason| bad(ENV_BUGS, &v, reason))?;
    }
    if let Some(v) = get(ENV_BARRIER)? {
        cfg.barrier = v.parse().map_err(|_| {
            bad(
                ENV_BARRIER,
                &v,
                "unknown barrier contract (expected complete or stable)".into(),
            )
        })?;
    }
    if let Some(v) = get(ENV_MODE)? {
        cfg.mode = v.parse().map_err(|e: String| bad(ENV_MODE, &v, e))?;
    }
    if let Some(v) = get(ENV_MAX_OPS)? {
        cfg.max_ops = v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=crate::workload::MAX_OPS).contains(n))
            .ok_or_else(|| {
                bad(
                    ENV_MAX_OPS,
                    &v,
                    format!("expected a number in 1..={}", crate::workload::MAX_OPS),
                )
            })?;
    }
    Ok(cfg)
}

/// Parses a comma- or space-separated list of `target`'s bug switch
/// names (`none` stands for no switch).
pub fn parse_bugs(target: &str, list: &str) -> Result<Bugs, String> {
    let bugs: Bugs = list.parse()?;
    let t = crate::campaign::registry::lookup(target)
        .ok_or_else(|| format!("unknown target `{target}`"))?;
    bugs.validate(t.info())
        .map_err(|e| e.replace("unknown bug switch", "unknown bug"))?;
    Ok(bugs)
}

/// The target configuration from the process environment.
pub fn config_from_env() -> Result<FuzzConfig, ConfigError> {
    config_from_lookup(|var| std::env::var_os(var))
}

/// The environment's configuration, parsed once. A bad value panics with
/// the reason: libFuzzer stops at once and prints it.
fn env_config() -> &'static FuzzConfig {
    static CONFIG: OnceLock<Result<FuzzConfig, ConfigError>> = OnceLock::new();
    match CONFIG.get_or_init(config_from_env) {
        Ok(cfg) => cfg,
        Err(e) => panic!("brownout fuzz target: bad environment variable {e}"),
    }
}

/// The execution options of the `workload` target: those of `brownout run`
/// with its default flags, so a finding reproduces there.
pub fn target_exec_options() -> ExecOptions {
    ExecOptions::default()
}

/// The oracle options of the `workload` target (one thread, as libFuzzer
/// expects; the defaults of `brownout run`).
pub fn target_oracle_options() -> OracleOptions {
    OracleOptions {
        jobs: 1,
        ..OracleOptions::default()
    }
}

/// What the `workload` target found for `data` under `cfg`: the workload
/// it ran and, if any, the finding. Never panics on the filesystem's
/// behalf; an error is the harness's own.
pub fn check_workload_input(
    data: &[u8],
    cfg: &FuzzConfig,
) -> Result<(Workload, Option<Finding>), RunError> {
    let w = decode_for(data, cfg);
    let outcome = run_workload(&w, &target_exec_options(), &target_oracle_options())?;
    Ok((w, outcome.finding))
}

/// The workload `data` decodes to for `cfg`'s target.
pub fn decode_for(data: &[u8], cfg: &FuzzConfig) -> Workload {
    let target = crate::campaign::registry::lookup(&cfg.target);
    decode(data, cfg, target.map(|t| t.info()))
}

/// The `workload` target under an explicit configuration: panics with the
/// finding's report (and the workload) when there is one.
pub fn workload_with(data: &[u8], cfg: &FuzzConfig) {
    match check_workload_input(data, cfg) {
        Ok((_, None)) => {}
        Ok((w, Some(finding))) => panic!(
            "brownout {finding}\nworkload (brownout import-crash ARTIFACT prints it; \
             brownout minimize shrinks it):\n{}",
            w.to_text()
        ),
        Err(e) => panic!(
            "brownout harness error: {e}\nworkload:\n{}",
            decode_for(data, cfg).to_text()
        ),
    }
}

/// The `workload` target: configuration from the `BROWNOUT_*` environment
/// variables.
pub fn workload(data: &[u8]) {
    workload_with(data, env_config());
}

// ---------------------------------------------------------------------------
// log_parse

/// The `log_parse` target. The first byte chooses how the rest is read:
/// bit 0 set recomputes the native format's checksums first (so the fuzzer
/// gets past them to the semantic checks); bit 1 set gives the dm-log-writes
/// parser a device size (bytes 1..9 of the rest as a little-endian u64,
/// bounded). Both parsers see every input. A log that parses is walked,
/// validated, and re-encoded in both formats; the native re-encoding must
/// parse again to the same entries. Never panics.
pub fn log_parse(data: &[u8]) {
    parse_log_input(data);
}

/// The body of [`log_parse`]; says which parsers accepted the input
/// (native, dm-log-writes), so tests can tell that inputs got deep.
pub fn parse_log_input(data: &[u8]) -> (bool, bool) {
    let Some((&sel, rest)) = data.split_first() else {
        return (false, false);
    };
    let mut native = rest.to_vec();
    if sel & 1 != 0 {
        fix_native_checksums(&mut native);
    }
    let native_ok = match Log::from_native_bytes(native) {
        Ok(log) => {
            exercise_log(&log);
            true
        }
        Err(_) => false,
    };
    let device_bytes = (sel & 2 != 0 && rest.len() >= 8).then(|| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&rest[..8]);
        // At most 1 GiB: the device is only a bound here, never allocated.
        u64::from_le_bytes(a) % (1 << 30)
    });
    let dm_ok = match Log::from_dm_log_writes_bytes(rest.to_vec(), device_bytes) {
        Ok(log) => {
            exercise_log(&log);
            true
        }
        Err(_) => false,
    };
    (native_ok, dm_ok)
}

fn exercise_log(log: &Log) {
    let n = log.entries().count();
    assert_eq!(n, log.len());
    let _ = log.marks().count();
    let _ = log.validate();
    let again = Log::from_native_bytes(log.to_native_bytes())
        .unwrap_or_else(|e| panic!("a parsed log's native encoding does not parse: {e}"));
    assert_eq!(again.len(), n, "native re-encoding changed the entry count");
    assert_eq!(again.device_bytes(), log.device_bytes());
    if let Ok(bytes) = log.to_dm_log_writes_bytes() {
        let _ = Log::from_dm_log_writes_bytes(bytes, Some(log.device_bytes()));
    }
}

/// Rewrites the checksums of a native log (see
/// [`replay::native::fix_checksums`]).
pub use replay::native::fix_checksums as fix_native_checksums;
