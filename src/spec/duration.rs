//! Durations as workflow files write them: defined in [`crate::time`], named here too for the
//! spec's modules.

pub use crate::time::{Dur, DurationError, format_duration, format_elapsed_ms, parse_duration};
