//! Mount (journal replay and validation) on an arbitrary image: no panic,
//! no hang. Body: harness::fuzz_targets::mount_image.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| harness::fuzz_targets::mount_image(data));
