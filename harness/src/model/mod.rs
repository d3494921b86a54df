//! Reference models, one per vocabulary and file model: from a workload
//! and the log positions of its acknowledgements, which states a crash
//! may leave.

pub mod describe;
pub mod files;
pub mod fs;
pub mod kv;
