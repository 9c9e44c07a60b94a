//! agents (see DESIGN.md).
