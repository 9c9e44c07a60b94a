//! The workflow language: types, parsing (YAML/JSON with line:col errors), validation, the DAG,
//! templates and `when:` expressions.

pub mod duration;
pub mod types;

pub use duration::{Dur, DurationError, format_duration, parse_duration};
pub use types::*;
