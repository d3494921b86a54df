// Empty: it exists so that Cargo resolves the build dependencies in
// Cargo.toml, whose features are the point (see there).
fn main() {}
