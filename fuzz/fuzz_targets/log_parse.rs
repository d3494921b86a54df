//! The native and dm-log-writes log parsers on arbitrary bytes: no panic.
//! Body: brownout::campaign::fuzz_targets::log_parse.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| brownout::campaign::fuzz_targets::log_parse(data));
