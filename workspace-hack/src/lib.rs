//! Nothing to call: this package exists for its `Cargo.toml`, which gives
//! the harness's dependencies the features a whole-workspace build gives
//! them (see there).
