//! The redb target's integration tests.
//! One binary (a single link; the files' tests run in parallel), a
//! module per file.

mod campaign;
mod corpus;
