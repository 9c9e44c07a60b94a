//! baton: a terminal console and durable engine for workflows of shell commands, HTTP calls,
//! LLM agents and human approval gates. See `DESIGN.md` for the map of the parts.

pub mod agents;
pub mod background;
pub mod cli;
pub mod config;
pub mod control;
pub mod descriptors;
pub mod encoding;
pub mod engine;
pub mod fsperm;
pub mod identity;
pub mod ids;
pub mod mcp;
pub mod notify;
pub mod otel;
pub mod planner;
pub mod prefault;
pub mod process_group;
pub mod providers;
pub mod remote;
pub mod sanitize;
pub mod secrets;
pub mod serve;
pub mod spec;
pub mod steps;
pub mod store;
pub mod temporal;
pub mod time;
pub mod tools;
pub mod tui;
