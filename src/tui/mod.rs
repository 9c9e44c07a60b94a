//! tui (see DESIGN.md).
