//! `replay`: the block-level world of brownout. Knows nothing of files or
//! operations: a log of writes, flushes and marks; the crash states it
//! allows; incremental images of them; and parallel checking.
