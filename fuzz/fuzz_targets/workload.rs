//! Structure-aware fuzzing of the filesystem core: bytes -> workload ->
//! every crash state checked. A finding panics with its report.
//! Configuration: BROWNOUT_BUGS, BROWNOUT_BARRIER, BROWNOUT_MODE,
//! BROWNOUT_MAX_OPS (see fuzz/README.md). Body: brownout::fuzz_targets.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| brownout::campaign::fuzz_targets::workload(data));
