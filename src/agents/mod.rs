//! Agent profiles: built-in roles, user files and workflow-local `agents:`.

/// The names of the built-in agent profiles (the roles AutomatosX defines).
pub fn builtin_names() -> &'static [&'static str] {
    &[
        "backend",
        "frontend",
        "devops",
        "security",
        "quality",
        "performance",
        "testing",
        "architect",
        "api",
        "database",
        "data",
        "data-science",
        "mobile",
        "infrastructure",
        "standards",
        "product",
        "cto",
        "ceo",
        "writer",
        "researcher",
    ]
}
