//! The workflow language: types, parsing (YAML/JSON with line:col errors), validation, the DAG,
//! templates and `when:` expressions.

mod convert;
mod convert_step;
pub mod diag;
pub mod duration;
pub mod node;
mod reader;
pub mod template;
pub mod types;

pub use diag::{Diagnostic, Diagnostics};
pub use duration::{Dur, DurationError, format_duration, parse_duration};
pub use types::*;
