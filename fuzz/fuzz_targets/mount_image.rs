//! Mount (journal replay and validation) on an arbitrary image: no panic,
//! no hang. Body: brownout::targets::embedded::fuzz::mount_image.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| brownout::targets::embedded::fuzz::mount_image(data));
