//! Reference models, one per vocabulary: from a workload and the log
//! positions of its acknowledgements, which states a crash may leave.

pub mod describe;
pub mod fs;
pub mod kv;
