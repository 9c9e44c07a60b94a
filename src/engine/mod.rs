//! The engine: schedules runs over their DAG, drives steps, records every transition.

pub mod backend;

pub use backend::{Backend, Command, RunDetail, StartRequest};
pub mod policy;
