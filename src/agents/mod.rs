//! Agent profiles: built-in roles, user files and workflow-local `agents:`, and
//! [`run_agent`], the call an `agent` step makes.

pub mod act;
pub mod approve;
mod builtin;
pub mod call;
pub mod delegate;
pub mod host;
pub mod memory;
pub mod profile;
mod replay;
pub mod schema;
pub mod stream;
mod tool_call;

pub use act::{ActEvent, Kit, act};
pub use approve::{CallQuestion, Granted};
pub use call::{AgentError, AgentEvent, AgentRequest, AgentResult, parse_json_answer, run_agent};
pub use host::{ActHost, HostFuture};
pub use profile::{AgentCatalog, AgentProfile, ProfileSource};

/// The agent tools (`spec::AGENT_TOOLS`) with what each does, for listings.
pub const AGENT_TOOLS_ABOUT: [(&str, &str); 3] = [
    (
        delegate::NAME,
        "Hand a subtask to a profile listed in `delegates_to:` (its own tools, gates, budget)",
    ),
    (
        memory::REMEMBER,
        "Keep a note for later runs of the workflow (`baton memory` lists them)",
    ),
    (
        memory::RECALL,
        "Read the notes earlier runs kept with `remember`",
    ),
];

/// Other names AutomatosX gives a built-in profile, with the name they stand for.
pub const ALIASES: [(&str, &str); 1] = [("architecture", "architect")];

/// The built-in profile an AutomatosX alias stands for (`architecture` → `architect`).
pub fn alias_of(name: &str) -> Option<&'static str> {
    ALIASES.iter().find(|(a, _)| *a == name).map(|(_, to)| *to)
}

/// Every agent name a workflow may use without defining it: the built-in profiles, their
/// AutomatosX aliases, and `user`'s (profile files). The spec's check takes this list.
pub fn known_names(user: &[String]) -> Vec<String> {
    builtin_names()
        .iter()
        .copied()
        .chain(ALIASES.iter().map(|(alias, _)| *alias))
        .map(String::from)
        .chain(user.iter().cloned())
        .collect()
}

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
