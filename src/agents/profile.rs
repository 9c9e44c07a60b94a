//! Agent profiles and the catalog that merges them: workflow-local `agents:` over user files
//! (`<config dir>/agents/*.toml|yaml|yml`) over the built-ins.
//!
//! A profile of a higher layer with the same name as a lower one overrides only the fields it
//! sets, so a user file `security.toml` holding just `model = "..."` keeps the built-in prompt.

use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;

use super::builtin::{BUILTINS, HOUSE_RULES};
use crate::spec::{AgentLimits, AgentProfileSpec, ToolUse};

/// Where a profile (or its last override) came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    /// Shipped with baton.
    Builtin,
    /// A user file.
    User(PathBuf),
    /// The workflow's `agents:`.
    Workflow,
}

impl fmt::Display for ProfileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileSource::Builtin => f.write_str("built-in"),
            ProfileSource::User(path) => write!(f, "{}", path.display()),
            ProfileSource::Workflow => f.write_str("workflow"),
        }
    }
}

/// A resolved agent profile.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentProfile {
    /// The name steps use (`agent: security`).
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// One line about what it is for.
    pub description: Option<String>,
    /// Where it came from.
    pub source: ProfileSource,
    /// The system prompt.
    pub system: String,
    /// Preferred provider.
    pub provider: Option<String>,
    /// Preferred model.
    pub model: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Output token cap.
    pub max_tokens: Option<u32>,
    /// What it is good at.
    pub capabilities: Vec<String>,
    /// Tools its steps may call unless a step lists its own.
    pub tools: Vec<ToolUse>,
    /// Tool-loop budgets its steps inherit (a step's own win).
    pub limits: AgentLimits,
    /// The profiles it may hand subtasks to (`delegate`).
    pub delegates_to: Vec<String>,
}

/// The system prompt of a profile defined without one.
const GENERIC_SYSTEM: &str = "You are a capable, careful assistant working as one step of an \
automated workflow. Do exactly the task given, using only the information provided; when \
something you need is missing, say what and state your assumption. Lead with the answer and keep \
it concise.";

impl AgentProfile {
    /// Everything about the profile, for `baton agents NAME`.
    pub fn describe(&self) -> String {
        let or_default = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
        let mut out = format!("{} — {}\n", self.name, self.display_name);
        if let Some(d) = &self.description {
            out.push_str(&format!("{d}\n"));
        }
        out.push_str(&format!("source:       {}\n", self.source));
        out.push_str(&format!(
            "provider:     {}\n",
            or_default(&self.provider, "(router priority)")
        ));
        out.push_str(&format!(
            "model:        {}\n",
            or_default(&self.model, "(the provider's)")
        ));
        out.push_str(&format!(
            "temperature:  {}\n",
            self.temperature
                .map_or("(the provider's default)".to_string(), |t| t.to_string())
        ));
        out.push_str(&format!("capabilities: {}\n", self.capabilities.join(", ")));
        if !self.tools.is_empty() {
            let tools: Vec<String> = self
                .tools
                .iter()
                .map(|t| match t.approve {
                    Some(false) => format!("{} (unattended)", t.name),
                    _ => t.name.clone(),
                })
                .collect();
            out.push_str(&format!("tools:        {}\n", tools.join(", ")));
        }
        if !self.delegates_to.is_empty() {
            out.push_str(&format!("delegates to: {}\n", self.delegates_to.join(", ")));
        }
        out.push('\n');
        out.push_str(&self.system);
        out.push('\n');
        out
    }

    fn builtin(b: &super::builtin::Builtin) -> Self {
        AgentProfile {
            name: b.name.to_string(),
            display_name: b.display.to_string(),
            description: Some(b.description.to_string()),
            source: ProfileSource::Builtin,
            system: format!("{}\n\n{HOUSE_RULES}", b.system),
            provider: None,
            model: None,
            temperature: Some(b.temperature),
            max_tokens: None,
            capabilities: b.capabilities.iter().map(|c| c.to_string()).collect(),
            tools: Vec::new(),
            limits: AgentLimits::default(),
            delegates_to: Vec::new(),
        }
    }

    fn fresh(name: &str, source: ProfileSource) -> Self {
        AgentProfile {
            name: name.to_string(),
            display_name: name.to_string(),
            description: None,
            source,
            system: GENERIC_SYSTEM.to_string(),
            provider: None,
            model: None,
            temperature: None,
            max_tokens: None,
            capabilities: Vec::new(),
            tools: Vec::new(),
            limits: AgentLimits::default(),
            delegates_to: Vec::new(),
        }
    }

    fn overlay(&mut self, o: &ProfileFile, source: ProfileSource) {
        self.source = source;
        if let Some(v) = o.display_name.clone().or_else(|| o.name.clone()) {
            self.display_name = v;
        }
        if let Some(v) = o.description.clone().or_else(|| o.role.clone()) {
            self.description = Some(v);
        }
        if let Some(v) = o.system.clone().filter(|s| !s.trim().is_empty()) {
            self.system = v;
        }
        if o.provider.is_some() {
            self.provider = o.provider.clone();
        }
        if o.model.is_some() {
            self.model = o.model.clone();
        }
        if o.temperature.is_some() {
            self.temperature = o.temperature;
        }
        if o.max_tokens.is_some() {
            self.max_tokens = o.max_tokens;
        }
        if !o.capabilities.is_empty() {
            self.capabilities = o.capabilities.clone();
        }
        if !o.tools.is_empty() {
            self.tools = o.tools.iter().map(ToolEntry::to_use).collect();
        }
        self.limits = AgentLimits::from(o.limits).or(self.limits);
        if !o.delegates_to.is_empty() {
            self.delegates_to = o.delegates_to.clone();
        }
    }
}

/// The fields a user profile file may set (AutomatosX spellings accepted).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ProfileFile {
    name: Option<String>,
    #[serde(alias = "displayName")]
    display_name: Option<String>,
    description: Option<String>,
    role: Option<String>,
    #[serde(alias = "system_prompt", alias = "systemPrompt")]
    system: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    temperature: Option<f64>,
    #[serde(alias = "maxTokens")]
    max_tokens: Option<u32>,
    #[serde(alias = "abilities")]
    capabilities: Vec<String>,
    tools: Vec<ToolEntry>,
    #[serde(alias = "delegatesTo")]
    delegates_to: Vec<String>,
    #[serde(flatten)]
    limits: LimitsFile,
}

/// A `tools:` entry in a profile file: a name or `{name, approve}`. Names are checked when a
/// step uses the profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ToolEntry {
    Name(String),
    Full { name: String, approve: Option<bool> },
}

impl ToolEntry {
    fn to_use(&self) -> ToolUse {
        match self {
            ToolEntry::Name(name) => ToolUse {
                name: name.clone(),
                approve: None,
            },
            ToolEntry::Full { name, approve } => ToolUse {
                name: name.clone(),
                approve: *approve,
            },
        }
    }
}

/// Budgets in a profile file.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
struct LimitsFile {
    #[serde(alias = "maxTurns")]
    max_turns: Option<u32>,
    #[serde(alias = "maxToolCalls")]
    max_tool_calls: Option<u32>,
    #[serde(alias = "maxTokensTotal")]
    max_tokens_total: Option<u64>,
    #[serde(alias = "maxToolOutput")]
    max_tool_output: Option<u32>,
}

impl From<LimitsFile> for AgentLimits {
    fn from(l: LimitsFile) -> Self {
        AgentLimits {
            max_turns: l.max_turns,
            max_tool_calls: l.max_tool_calls,
            max_tokens_total: l.max_tokens_total,
            max_tool_output: l.max_tool_output,
        }
    }
}

impl From<AgentLimits> for LimitsFile {
    fn from(l: AgentLimits) -> Self {
        LimitsFile {
            max_turns: l.max_turns,
            max_tool_calls: l.max_tool_calls,
            max_tokens_total: l.max_tokens_total,
            max_tool_output: l.max_tool_output,
        }
    }
}

impl From<&AgentProfileSpec> for ProfileFile {
    fn from(s: &AgentProfileSpec) -> Self {
        ProfileFile {
            display_name: s.name.clone(),
            system: s.system.clone(),
            provider: s.provider.clone(),
            model: s.model.clone(),
            temperature: s.temperature,
            capabilities: s.capabilities.clone(),
            tools: s
                .tools
                .iter()
                .map(|t| ToolEntry::Full {
                    name: t.name.clone(),
                    approve: t.approve,
                })
                .collect(),
            limits: s.limits.into(),
            delegates_to: s.delegates_to.clone(),
            ..ProfileFile::default()
        }
    }
}

/// Every profile in effect, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCatalog {
    profiles: IndexMap<String, AgentProfile>,
}

impl Default for AgentCatalog {
    fn default() -> Self {
        Self::builtin()
    }
}

impl AgentCatalog {
    /// The built-in profiles only.
    pub fn builtin() -> Self {
        AgentCatalog {
            profiles: BUILTINS
                .iter()
                .map(|b| (b.name.to_string(), AgentProfile::builtin(b)))
                .collect(),
        }
    }

    /// Built-ins plus the user files in `dir` (`*.toml`, `*.yaml`, `*.yml`; the file stem is
    /// the profile name). A missing directory is fine. Returns the catalog and one message per
    /// file that could not be used (naming the file and the position of the mistake); the
    /// other files are still loaded.
    pub fn load(user_dir: Option<&Path>) -> (Self, Vec<String>) {
        let mut catalog = Self::builtin();
        let problems = match user_dir {
            Some(dir) => catalog.add_user_dir(dir),
            None => Vec::new(),
        };
        (catalog, problems)
    }

    /// Adds the profile files of `dir` over the current profiles; see [`AgentCatalog::load`].
    pub fn add_user_dir(&mut self, dir: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return problems,
            Err(e) => {
                problems.push(format!(
                    "cannot list agent profiles in {}: {e}",
                    dir.display()
                ));
                return problems;
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "toml" | "yaml" | "yml") {
                continue;
            }
            let Some(name) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            match read_profile_file(&path, ext) {
                Ok(file) => self.apply(&name, &file, ProfileSource::User(path.clone())),
                Err(e) => problems.push(e),
            }
        }
        problems
    }

    /// This catalog with a workflow's `agents:` on top.
    pub fn with_workflow(&self, agents: &IndexMap<String, AgentProfileSpec>) -> Self {
        let mut out = self.clone();
        for (name, spec) in agents {
            out.apply(name, &ProfileFile::from(spec), ProfileSource::Workflow);
        }
        out
    }

    fn apply(&mut self, name: &str, file: &ProfileFile, source: ProfileSource) {
        let entry = self
            .profiles
            .entry(name.to_string())
            .or_insert_with(|| AgentProfile::fresh(name, source.clone()));
        entry.overlay(file, source);
    }

    /// The profile named `name`, or an error listing the names that exist.
    /// A profile of that very name wins over an AutomatosX alias (`architecture`).
    pub fn get(&self, name: &str) -> Result<&AgentProfile, String> {
        let found = self
            .profiles
            .get(name)
            .or_else(|| super::alias_of(name).and_then(|to| self.profiles.get(to)));
        found.ok_or_else(|| {
            let close: Vec<&str> = self
                .profiles
                .keys()
                .filter(|k| k.contains(name) || name.contains(k.as_str()))
                .map(String::as_str)
                .collect();
            let hint = if close.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", close.join(", "))
            };
            format!(
                "no agent profile named `{name}`{hint}; available: {}. Define it in the workflow's \
                 `agents:` or as a file in the config directory's agents/ folder",
                self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// Every profile, built-ins first in their fixed order, then the others as added.
    pub fn iter(&self) -> impl Iterator<Item = &AgentProfile> {
        self.profiles.values()
    }

    /// The `baton agents` table: name, source, capabilities.
    pub fn table(&self) -> String {
        let width = self
            .profiles
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(4)
            .max(4);
        let sources: Vec<String> = self.iter().map(|p| p.source.to_string()).collect();
        let swidth = sources.iter().map(String::len).max().unwrap_or(6).max(6);
        let mut out = format!("{:<width$}  {:<swidth$}  CAPABILITIES\n", "NAME", "SOURCE");
        for (p, source) in self.iter().zip(&sources) {
            let line = format!(
                "{:<width$}  {:<swidth$}  {}",
                p.name,
                source,
                p.capabilities.join(", ")
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn read_profile_file(path: &Path, ext: &str) -> Result<ProfileFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read agent profile {}: {e}", path.display()))?;
    let parsed = if ext == "toml" {
        toml::from_str::<ProfileFile>(&text).map_err(|e| e.to_string())
    } else {
        serde_saphyr::from_str::<ProfileFile>(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        format!(
            "agent profile {} is not valid: {}; fix the file or remove it",
            path.display(),
            e.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_holds_every_built_in_with_the_house_rules() {
        let c = AgentCatalog::builtin();
        assert_eq!(c.iter().count(), crate::agents::builtin_names().len());
        let s = c.get("security").unwrap();
        assert_eq!(s.source, ProfileSource::Builtin);
        assert!(s.system.contains("low, medium or high"));
        assert!(s.system.contains("automated workflow"));
    }

    #[test]
    fn user_files_override_fields_and_add_profiles_and_bad_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("security.toml"),
            "model = \"big\"\nprovider = \"anthropic\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("reviewer.yaml"),
            "displayName: Reviewer\nsystemPrompt: Review diffs.\nabilities: [review]\ntemperature: 0.1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sre.yaml"),
            "tools: [list_dir, {name: shell, approve: false}]\nmaxTurns: 4\nmax_tool_calls: 9\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("broken.toml"), "model = \n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let (c, problems) = AgentCatalog::load(Some(dir.path()));
        let s = c.get("security").unwrap();
        assert_eq!(s.model.as_deref(), Some("big"));
        assert!(
            s.system.contains("application security engineer"),
            "built-in prompt kept"
        );
        assert!(matches!(s.source, ProfileSource::User(_)));
        let r = c.get("reviewer").unwrap();
        assert_eq!(
            (r.display_name.as_str(), r.system.as_str()),
            ("Reviewer", "Review diffs.")
        );
        assert_eq!(r.capabilities, ["review"]);
        assert!(r.tools.is_empty());
        let sre = c.get("sre").unwrap();
        assert_eq!(
            sre.tools,
            [
                ToolUse {
                    name: "list_dir".into(),
                    approve: None
                },
                ToolUse {
                    name: "shell".into(),
                    approve: Some(false)
                }
            ]
        );
        assert_eq!(
            (sre.limits.max_turns, sre.limits.max_tool_calls),
            (Some(4), Some(9))
        );
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("broken.toml") && problems[0].contains("line 1"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn workflow_profiles_win_over_user_and_built_in_ones() {
        let mut agents = IndexMap::new();
        agents.insert(
            "security".to_string(),
            AgentProfileSpec {
                system: Some("Only say LGTM.".into()),
                ..AgentProfileSpec::default()
            },
        );
        agents.insert("helper".to_string(), AgentProfileSpec::default());
        let c = AgentCatalog::builtin().with_workflow(&agents);
        assert_eq!(c.get("security").unwrap().system, "Only say LGTM.");
        assert_eq!(c.get("security").unwrap().source, ProfileSource::Workflow);
        assert_eq!(c.get("helper").unwrap().system, GENERIC_SYSTEM);
    }

    #[test]
    fn automatosx_architecture_is_the_architect() {
        let c = AgentCatalog::builtin();
        assert_eq!(c.get("architecture").unwrap().name, "architect");
    }

    #[test]
    fn an_unknown_name_lists_what_exists_and_a_close_match() {
        let e = AgentCatalog::builtin().get("secur").unwrap_err();
        assert!(e.contains("did you mean security?"), "{e}");
        assert!(e.contains("backend, frontend"), "{e}");
    }

    #[test]
    fn the_table_lists_name_source_and_capabilities() {
        let t = AgentCatalog::builtin().table();
        assert!(t.starts_with("NAME"));
        assert!(t.lines().any(|l| l.starts_with("security")
            && l.contains("built-in")
            && l.contains("threat modeling")));
        assert_eq!(t.lines().count(), 21);
    }

    #[test]
    fn describe_shows_the_whole_prompt_and_preferences() {
        let c = AgentCatalog::builtin();
        let d = c.get("writer").unwrap().describe();
        assert!(d.starts_with("writer — Technical writer\n"));
        assert!(d.contains("source:       built-in"));
        assert!(d.contains("provider:     (router priority)"));
        assert!(d.ends_with(&format!("{}\n", c.get("writer").unwrap().system)));
    }
}
