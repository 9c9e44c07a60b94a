//! The durable store (sled): runs, steps, approvals, logs, outputs and the event log.

pub mod records;

pub use records::*;
