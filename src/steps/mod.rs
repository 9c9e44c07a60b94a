//! steps (see DESIGN.md).
