#!/bin/bash -eu
# Builds brownout's libFuzzer targets (fuzz/) for ClusterFuzzLite / OSS-Fuzz.
# The base-builder-rust image provides nightly Rust, cargo-fuzz and the
# sanitizer flags; $OUT receives one binary per target.
cd $SRC/brownout
cargo fuzz build -O
cp fuzz/target/x86_64-unknown-linux-gnu/release/{workload,log_parse,mount_image} $OUT/
