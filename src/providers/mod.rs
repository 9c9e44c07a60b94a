//! providers (see DESIGN.md).
