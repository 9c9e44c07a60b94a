//! The language reference a planning model reads, put together from the code so it cannot
//! drift: the JSON Schema `baton schema` prints (written from the reader's own key tables),
//! the step kinds and built-in tools as the spec names them, and sections of
//! `docs/workflow-language.md` (whose every example the test suite validates), compiled in.

use crate::spec::{BUILTIN_TOOLS, KIND_KEYS};

/// The language reference, compiled in.
const LANGUAGE_DOC: &str = include_str!("../../docs/workflow-language.md");

/// The sections of the language reference a planner needs, by heading.
pub const SECTIONS: [&str; 12] = [
    "## A whole file",
    "## Params",
    "## Steps",
    "### Common keys",
    "### `run`: a shell command",
    "### `http`: a request",
    "### `agent`: an LLM call",
    "### `approval`: a human gate",
    "### `transform`: compute a value",
    "## Outputs",
    "## Conditions (`when`)",
    "### The context",
];

/// The reference text: rules, the kinds and tools, the schema and the documentation sections.
pub fn language_reference() -> String {
    let schema = crate::cli::schema::workflow_schema();
    let schema = serde_json::to_string(&schema).unwrap_or_default();
    let mut out = String::new();
    out.push_str("# The baton workflow language\n\n");
    out.push_str(&format!(
        "Step kinds (exactly one per step): {}.\nBuilt-in agent tools: {}; an MCP server's \
         tools are named `SERVER.TOOL` and need the server under `mcp_servers:`.\n\n",
        KIND_KEYS.join(", "),
        BUILTIN_TOOLS.join(", ")
    ));
    out.push_str("## JSON Schema of a workflow file\n\n");
    out.push_str(&schema);
    out.push_str("\n\n");
    for heading in SECTIONS {
        if let Some(text) = section(LANGUAGE_DOC, heading) {
            out.push_str(text.trim_end());
            out.push_str("\n\n");
        }
    }
    out
}

/// The text under `heading` up to the next heading of the same or a higher level (a `##`
/// section ends at the next `##`; its `###` subsections are left to be named on their own).
pub fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut start = None;
    let mut offset = 0;
    let mut in_fence = false;
    for line in doc.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
        }
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        let is_heading = !in_fence && hashes > 0 && trimmed[hashes..].starts_with(' ');
        match start {
            None if is_heading && trimmed == heading => start = Some(offset),
            Some(s) if is_heading && (hashes <= level || level == 2) => {
                return Some(&doc[s..offset]);
            }
            _ => {}
        }
        offset += line.len();
    }
    start.map(|s| &doc[s..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_the_planner_reads_is_in_the_language_reference() {
        for heading in SECTIONS {
            let text = section(LANGUAGE_DOC, heading)
                .unwrap_or_else(|| panic!("docs/workflow-language.md has no `{heading}`"));
            assert!(text.lines().count() > 2, "{heading} is empty");
        }
    }

    #[test]
    fn the_reference_names_every_kind_and_tool_and_carries_the_schema() {
        let text = language_reference();
        for kind in KIND_KEYS.iter().chain(BUILTIN_TOOLS.iter()) {
            assert!(text.contains(kind), "{kind} missing");
        }
        assert!(text.contains(crate::cli::schema::SCHEMA_ID));
        assert!(text.contains("depends_on"));
    }

    #[test]
    fn a_section_stops_at_the_next_heading_of_its_level() {
        let doc = "# T\n## A\na\n### B\nb\n## C\nc\n";
        assert_eq!(section(doc, "## A"), Some("## A\na\n"));
        assert_eq!(section(doc, "### B"), Some("### B\nb\n"));
        assert_eq!(section(doc, "## C"), Some("## C\nc\n"));
        assert_eq!(section(doc, "## D"), None);
    }
}
