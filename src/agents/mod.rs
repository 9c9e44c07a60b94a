//! Agent profiles: built-in roles, user files and workflow-local `agents:`, and
//! [`run_agent`], the call an `agent` step makes.

mod builtin;
pub mod call;
pub mod profile;
pub mod schema;

pub use call::{AgentError, AgentEvent, AgentRequest, AgentResult, parse_json_answer, run_agent};
pub use profile::{AgentCatalog, AgentProfile, ProfileSource};

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
