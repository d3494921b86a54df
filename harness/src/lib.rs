//! `harness`: brownout's workload model, deterministic executor, recording
//! device, oracle, fuzz loop and CLI support.
