//! Provider configuration: the `[[providers]]` entries of the config file, zero-config
//! discovery from the conventional environment variables, and the [`ApiKey`] newtype that
//! keeps key values out of every log line and Debug print.
//!
//! The configuration names the *variable* that holds a key, never the key itself, so a config
//! file can be shared and stored. Keys are read from an environment passed in as a function
//! (`&dyn Fn(&str) -> Option<String>`), so tests never touch the process environment.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Dur;

/// An environment to read variables from (the process environment in production, a map in
/// tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as an [`Env`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI Chat Completions, and every OpenAI-compatible server (vLLM, llama.cpp, LM Studio,
    /// OpenRouter) through `base_url`.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini generateContent.
    Gemini,
    /// Ollama `/api/chat`.
    Ollama,
}

impl ProviderKind {
    /// The lowercase name used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Ollama => "ollama",
        }
    }

    /// The official endpoint, used when `base_url` is not given.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Openai => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com",
            ProviderKind::Ollama => "http://127.0.0.1:11434",
        }
    }

    /// The model used when none is configured.
    pub fn default_model(self) -> &'static str {
        match self {
            ProviderKind::Openai => "gpt-4.1-mini",
            ProviderKind::Anthropic => "claude-sonnet-4-5",
            ProviderKind::Gemini => "gemini-2.5-flash",
            ProviderKind::Ollama => "llama3.2",
        }
    }

    /// The variable that conventionally holds the key for the official endpoint.
    pub fn default_key_env(self) -> Option<&'static str> {
        match self {
            ProviderKind::Openai => Some("OPENAI_API_KEY"),
            ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
            ProviderKind::Gemini => Some("GEMINI_API_KEY"),
            ProviderKind::Ollama => None,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One provider entry (`[[providers]]` in the config file).
///
/// Lower `priority` is tried first; entries with equal priority keep their file order.
/// A timeout of `0` switches that limit off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// A unique name (`openai`, `local-llama`, ...), used by `provider:` in workflows.
    pub name: String,
    /// The wire protocol.
    pub kind: ProviderKind,
    /// Endpoint base; defaults to the kind's official endpoint.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Model name; defaults to a current general-purpose model of the kind.
    #[serde(default)]
    pub model: Option<String>,
    /// The environment variable holding the API key. Defaults to the kind's conventional
    /// variable only when `base_url` is not set, so a key is never sent to a server it was not
    /// meant for.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Lower is tried first.
    #[serde(default = "default_priority")]
    pub priority: i32,
    /// Requests per minute allowed (client-side limit).
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Tokens per minute allowed (client-side limit; prompt estimate + output cap).
    #[serde(default)]
    pub tpm: Option<u32>,
    /// Limit on one whole request, streaming included (default 600s, as the official SDKs).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Limit on the wait for the response headers and first body bytes (default: none).
    #[serde(default)]
    pub first_byte_timeout: Option<Dur>,
    /// Limit on opening the connection (default 5s).
    #[serde(default)]
    pub connect_timeout: Option<Dur>,
    /// Retries on this provider before falling back to the next (default 2, i.e. 3 attempts).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Prices per model (USD per million tokens), e.g.
    /// `prices = { "my-model" = { input = 0.5, output = 1.5 } }`; they win over the built-in table.
    #[serde(default)]
    pub prices: indexmap::IndexMap<String, super::price::Price>,
}

fn default_priority() -> i32 {
    100
}

/// The SDKs' total request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// The SDKs' connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The SDKs' `DEFAULT_MAX_RETRIES`.
pub const DEFAULT_MAX_RETRIES: u32 = 2;

fn limit(value: Option<Dur>, default: Option<Duration>) -> Option<Duration> {
    match value {
        Some(d) if d.get().is_zero() => None,
        Some(d) => Some(d.get()),
        None => default,
    }
}

impl ProviderConfig {
    /// An entry with every optional field unset.
    pub fn new(name: impl Into<String>, kind: ProviderKind) -> Self {
        ProviderConfig {
            name: name.into(),
            kind,
            base_url: None,
            model: None,
            api_key_env: None,
            priority: default_priority(),
            rpm: None,
            tpm: None,
            timeout: None,
            first_byte_timeout: None,
            connect_timeout: None,
            max_retries: None,
            prices: indexmap::IndexMap::new(),
        }
    }

    /// The base URL in effect, without a trailing slash.
    pub fn base_url(&self) -> String {
        let base = self
            .base_url
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(self.kind.default_base_url());
        base.trim().trim_end_matches('/').to_string()
    }

    /// The model in effect.
    pub fn model(&self) -> &str {
        self.model
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or(self.kind.default_model())
    }

    /// The variable holding the key, if this provider uses one.
    pub fn key_env(&self) -> Option<&str> {
        match (&self.api_key_env, &self.base_url) {
            (Some(var), _) if !var.trim().is_empty() => Some(var.trim()),
            (Some(_), _) => None,
            (None, None) => self.kind.default_key_env(),
            (None, Some(_)) => None,
        }
    }

    /// The whole-request limit in effect.
    pub fn timeout(&self) -> Option<Duration> {
        limit(self.timeout, Some(DEFAULT_TIMEOUT))
    }

    /// The first-byte limit in effect.
    pub fn first_byte_timeout(&self) -> Option<Duration> {
        limit(self.first_byte_timeout, None)
    }

    /// The connect limit in effect.
    pub fn connect_timeout(&self) -> Option<Duration> {
        limit(self.connect_timeout, Some(DEFAULT_CONNECT_TIMEOUT))
    }

    /// Retries in effect.
    pub fn max_retries(&self) -> u32 {
        self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES)
    }

    /// Reads this provider's key from `env`: `Ok(None)` when it uses none, an error naming the
    /// variable when it uses one that is not set.
    pub fn resolve_key(&self, env: Env<'_>) -> Result<Option<ApiKey>, String> {
        let Some(var) = self.key_env() else {
            return Ok(None);
        };
        match env(var) {
            Some(value) if !value.trim().is_empty() => Ok(Some(ApiKey::new(value.trim()))),
            _ => Err(format!(
                "provider `{}` needs an API key in ${var}, which is not set; export it, or set \
                 api_key_env in its [[providers]] entry",
                self.name
            )),
        }
    }

    /// Checks what deserialisation cannot: a usable name and base URL.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a [[providers]] entry has an empty name; give it one".to_string());
        }
        let base = self.base_url();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "provider `{}` has base_url `{base}`, which is not an http:// or https:// URL",
                self.name
            ));
        }
        Ok(())
    }
}

/// An API key. Debug and Display print `***`; read the value only with [`ApiKey::expose`]
/// at the moment a request header is built.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key value.
    pub fn new(value: impl Into<String>) -> Self {
        ApiKey(value.into())
    }

    /// The key value, for a request header and for redaction only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every occurrence of each secret in `text` (in any of its forms) by `***`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    crate::secrets::Redactor::new(secrets.iter().cloned())
        .redact(text)
        .into_owned()
}

/// Providers found from the conventional variables, for when the config file has none:
/// `OPENAI_API_KEY`/`OPENAI_BASE_URL`, `ANTHROPIC_API_KEY`/`ANTHROPIC_AUTH_TOKEN`/
/// `ANTHROPIC_BASE_URL`, `GOOGLE_API_KEY` (wins) or `GEMINI_API_KEY` with
/// `GOOGLE_GEMINI_BASE_URL`, and `OLLAMA_HOST`. Tried in that order.
pub fn discover(env: Env<'_>) -> Vec<ProviderConfig> {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let mut found = Vec::new();

    let openai_base = set("OPENAI_BASE_URL");
    if set("OPENAI_API_KEY").is_some() || openai_base.is_some() {
        let mut p = ProviderConfig::new("openai", ProviderKind::Openai);
        p.base_url = openai_base;
        p.api_key_env = set("OPENAI_API_KEY").map(|_| "OPENAI_API_KEY".to_string());
        p.priority = 10;
        found.push(p);
    }

    let anthropic_var = if set("ANTHROPIC_API_KEY").is_some() {
        Some("ANTHROPIC_API_KEY")
    } else if set("ANTHROPIC_AUTH_TOKEN").is_some() {
        Some("ANTHROPIC_AUTH_TOKEN")
    } else {
        None
    };
    if let Some(var) = anthropic_var {
        let mut p = ProviderConfig::new("anthropic", ProviderKind::Anthropic);
        p.base_url = set("ANTHROPIC_BASE_URL");
        p.api_key_env = Some(var.to_string());
        p.priority = 20;
        found.push(p);
    }

    let gemini_var = if set("GOOGLE_API_KEY").is_some() {
        Some("GOOGLE_API_KEY")
    } else if set("GEMINI_API_KEY").is_some() {
        Some("GEMINI_API_KEY")
    } else {
        None
    };
    if let Some(var) = gemini_var {
        let mut p = ProviderConfig::new("gemini", ProviderKind::Gemini);
        p.base_url = set("GOOGLE_GEMINI_BASE_URL");
        p.api_key_env = Some(var.to_string());
        p.priority = 30;
        found.push(p);
    }

    if let Some(host) = set("OLLAMA_HOST") {
        let mut p = ProviderConfig::new("ollama", ProviderKind::Ollama);
        p.base_url = Some(ollama_base(&host));
        p.api_key_env = set("OLLAMA_API_KEY").map(|_| "OLLAMA_API_KEY".to_string());
        p.priority = 40;
        found.push(p);
    }
    found
}

/// `OLLAMA_HOST` is often written `0.0.0.0:11434` or `host` (the server's bind form); turn it
/// into a URL a client can call.
fn ollama_base(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    let (scheme, rest) = match host.split_once("://") {
        Some((s, r)) => (s.to_string(), r.to_string()),
        None => ("http".to_string(), host.to_string()),
    };
    let rest = rest.replacen("0.0.0.0", "127.0.0.1", 1);
    let has_port = rest
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if has_port || scheme == "https" {
        format!("{scheme}://{rest}")
    } else {
        format!("{scheme}://{rest}:11434")
    }
}

/// The providers in effect: the configured ones when there are any, else the discovered ones;
/// sorted by priority (stable, so file order breaks ties).
pub fn effective(configured: &[ProviderConfig], env: Env<'_>) -> Vec<ProviderConfig> {
    let mut list = if configured.is_empty() {
        discover(env)
    } else {
        configured.to_vec()
    };
    list.sort_by_key(|p| p.priority);
    list
}

/// The variables that conventionally hold provider keys ([`discover`] reads them).
pub const KEY_VARS: [&str; 6] = [
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "OLLAMA_API_KEY",
];

/// The key values to mask in captured output: every conventional key variable set in `env`
/// (used or not, config file or not: a step can print any of them) and the keys of these
/// providers.
pub fn secrets(providers: &[ProviderConfig], env: Env<'_>) -> Vec<String> {
    let mut out: Vec<String> = KEY_VARS
        .iter()
        .filter_map(|v| env(v))
        .filter(|v| !v.trim().is_empty())
        .collect();
    for p in providers {
        if let Ok(Some(key)) = p.resolve_key(env) {
            let value = key.expose().to_string();
            if !out.contains(&value) {
                out.push(value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn toml_entries_deserialise_with_defaults_and_durations() {
        #[derive(Deserialize)]
        struct File {
            providers: Vec<ProviderConfig>,
        }
        let file: File = toml::from_str(
            r#"
            [[providers]]
            name = "local"
            kind = "openai"
            base_url = "http://127.0.0.1:8080/v1/"
            model = "qwen"
            priority = 1
            rpm = 60
            timeout = "2m"
            first_byte_timeout = "0"

            [[providers]]
            name = "claude"
            kind = "anthropic"
            "#,
        )
        .unwrap();
        let local = &file.providers[0];
        assert_eq!(local.base_url(), "http://127.0.0.1:8080/v1");
        assert_eq!(local.timeout(), Some(Duration::from_secs(120)));
        assert_eq!(local.first_byte_timeout(), None);
        assert_eq!(
            local.key_env(),
            None,
            "a custom base URL gets no default key"
        );
        assert_eq!(local.rpm, Some(60));
        let claude = &file.providers[1];
        assert_eq!(claude.priority, 100);
        assert_eq!(claude.key_env(), Some("ANTHROPIC_API_KEY"));
        assert_eq!(claude.model(), "claude-sonnet-4-5");
        assert_eq!(claude.timeout(), Some(DEFAULT_TIMEOUT));
    }

    #[test]
    fn unknown_fields_and_kinds_are_rejected() {
        assert!(toml::from_str::<ProviderConfig>("name='a'\nkind='openai'\nkey='x'").is_err());
        assert!(toml::from_str::<ProviderConfig>("name='a'\nkind='cohere'").is_err());
    }

    #[test]
    fn discovery_finds_each_family_from_its_conventional_variables() {
        let env = env_of(&[
            ("OPENAI_API_KEY", "sk-o"),
            ("ANTHROPIC_API_KEY", "sk-a"),
            ("GEMINI_API_KEY", "g1"),
            ("GOOGLE_API_KEY", "g2"),
            ("OLLAMA_HOST", "0.0.0.0"),
        ]);
        let found = discover(&env);
        let names: Vec<&str> = found.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["openai", "anthropic", "gemini", "ollama"]);
        assert_eq!(
            found[2].key_env(),
            Some("GOOGLE_API_KEY"),
            "GOOGLE_API_KEY wins"
        );
        assert_eq!(found[3].base_url(), "http://127.0.0.1:11434");
        assert_eq!(found[3].key_env(), None);
    }

    #[test]
    fn an_openai_base_url_alone_discovers_a_keyless_compatible_server() {
        let env = env_of(&[("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")]);
        let found = discover(&env);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].base_url(), "http://127.0.0.1:8000/v1");
        assert_eq!(found[0].resolve_key(&env), Ok(None));
    }

    #[test]
    fn configured_providers_replace_discovery_and_sort_by_priority() {
        let env = env_of(&[("OPENAI_API_KEY", "sk-o")]);
        let mut a = ProviderConfig::new("a", ProviderKind::Ollama);
        a.priority = 5;
        let mut b = ProviderConfig::new("b", ProviderKind::Ollama);
        b.priority = 1;
        let list = effective(&[a, b], &env);
        let names: Vec<&str> = list.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(effective(&[], &env)[0].name, "openai");
    }

    #[test]
    fn a_missing_key_names_the_variable_and_not_a_value() {
        let p = ProviderConfig::new("openai", ProviderKind::Openai);
        let err = p.resolve_key(&env_of(&[])).unwrap_err();
        assert!(err.contains("$OPENAI_API_KEY"), "{err}");
    }

    #[test]
    fn keys_print_as_stars_and_are_listed_as_secrets() {
        let env = env_of(&[("OPENAI_API_KEY", "sk-very-secret-1")]);
        let p = ProviderConfig::new("openai", ProviderKind::Openai);
        let key = p.resolve_key(&env).unwrap().unwrap();
        assert_eq!(format!("{key:?} {key}"), "*** ***");
        assert_eq!(secrets(&[p], &env), vec!["sk-very-secret-1".to_string()]);
        // Every key variable counts, whether or not a configured provider uses it.
        let env = env_of(&[("GEMINI_API_KEY", "gm-key-1"), ("MY_KEY", "custom-1")]);
        let mut custom = ProviderConfig::new("mine", ProviderKind::Openai);
        custom.api_key_env = Some("MY_KEY".into());
        assert_eq!(secrets(&[custom], &env), ["gm-key-1", "custom-1"]);
        assert_eq!(
            redact("bad key sk-very-secret-1!", &["sk-very-secret-1".into()]),
            "bad key ***!"
        );
    }

    #[test]
    fn ollama_host_forms_become_urls() {
        assert_eq!(ollama_base("localhost"), "http://localhost:11434");
        assert_eq!(ollama_base("http://gpu:9999/"), "http://gpu:9999");
        assert_eq!(
            ollama_base("https://ollama.example.com"),
            "https://ollama.example.com"
        );
    }
}
