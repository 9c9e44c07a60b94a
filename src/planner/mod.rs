//! planner (see DESIGN.md).
