//! Structure-aware fuzzing of a target (default: the embedded filesystem
//! core; BROWNOUT_TARGET picks another, the example targets included):
//! bytes -> workload -> every crash state checked. A finding panics with
//! its report. Configuration: BROWNOUT_TARGET, BROWNOUT_BUGS,
//! BROWNOUT_BARRIER, BROWNOUT_MODE, BROWNOUT_MAX_OPS (see fuzz/README.md).
//! Body: brownout::campaign::fuzz_targets.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Your own targets are registered the same way, before the first input.
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        brownout_examples::targets()
            .into_iter()
            .for_each(brownout::register)
    });
    brownout::campaign::fuzz_targets::workload(data)
});
