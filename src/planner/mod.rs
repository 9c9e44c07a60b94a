//! The planner: a request in plain language becomes a workflow a person reads, edits and
//! approves before anything runs ([`plan`]), checked as `baton validate` checks a file
//! ([`Checker`]), with gates on every step that changes things ([`gates`]).

pub mod auto;
pub mod check;
pub mod context;
pub mod diff;
pub mod draft;
pub mod gates;
pub mod reference;
pub mod repair;
pub mod setup;
pub mod versions;

pub use check::{Checked, Checker};
pub use context::Catalogue;
pub use draft::{DEFAULT_ROUNDS, Draft, PlanRequest, check_plan, plan};
pub use setup::Planner;
