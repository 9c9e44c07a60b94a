//! The secrets an HTTP MCP server is sent, read when it is reached from the environment
//! variables its entry names (`headers_env`, `bearer_token_env`), as providers' keys are:
//! never written in a file, never stored, and masked in whatever the server says back.

use crate::providers::Env;
use crate::secrets::Redactor;
use crate::spec::McpServerSpec;

/// A server's secret header values, resolved.
#[derive(Default)]
pub struct ServerSecrets {
    /// Header → value, from `headers_env`.
    pub headers: Vec<(String, String)>,
    /// The bearer token, from `bearer_token_env`.
    pub bearer: Option<String>,
}

impl std::fmt::Debug for ServerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(h, _)| h.as_str()).collect();
        f.debug_struct("ServerSecrets")
            .field("headers", &names)
            .field("bearer", &self.bearer.as_ref().map(|_| "***"))
            .finish()
    }
}

impl ServerSecrets {
    /// Reads server `name`'s secrets from `env`; a variable that is not set is an error naming
    /// it and what to do.
    pub fn resolve(
        name: &str,
        spec: &McpServerSpec,
        env: Env<'_>,
    ) -> Result<ServerSecrets, String> {
        let read = |var: &str, what: &str| {
            env(var).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                format!(
                    "the MCP server `{name}` needs ${var} ({what}), which is not set; export it \
                     before starting baton"
                )
            })
        };
        let mut out = ServerSecrets::default();
        for (header, var) in &spec.headers_env {
            let value = read(var, &format!("its `{header}` header"))?;
            out.headers.push((header.clone(), value.trim().to_string()));
        }
        if let Some(var) = &spec.bearer_token_env {
            out.bearer = Some(read(var, "its bearer token")?.trim().to_string());
        }
        Ok(out)
    }

    /// The values, for masking.
    pub fn values(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(_, v)| v.clone())
            .chain(self.bearer.clone())
            .collect()
    }

    /// Masks these values.
    pub fn redactor(&self) -> Redactor {
        Redactor::new(self.values())
    }
}

/// Every secret value the servers' entries name that is set in `env`, for the engine to mask
/// everywhere (a missing one is reported when its server is reached).
pub fn secret_values<'a>(
    servers: impl IntoIterator<Item = (&'a String, &'a McpServerSpec)>,
    env: Env<'_>,
) -> Vec<String> {
    servers
        .into_iter()
        .filter_map(|(name, spec)| ServerSecrets::resolve(name, spec, env).ok())
        .flat_map(|s| s.values())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_the_named_variables_and_a_missing_one_is_named() {
        let spec = McpServerSpec {
            url: Some("https://mcp.example.com/mcp".into()),
            headers_env: [("X-Api-Key".to_string(), "DOCS_KEY".to_string())].into(),
            bearer_token_env: Some("DOCS_TOKEN".into()),
            ..McpServerSpec::default()
        };
        let env = |v: &str| match v {
            "DOCS_KEY" => Some("key-123456".to_string()),
            "DOCS_TOKEN" => Some(" tok-abcdef ".to_string()),
            _ => None,
        };
        let s = ServerSecrets::resolve("docs", &spec, &env).unwrap();
        assert_eq!(s.bearer.as_deref(), Some("tok-abcdef"));
        assert_eq!(s.values(), ["key-123456", "tok-abcdef"]);
        assert!(!format!("{s:?}").contains("tok-abcdef"));
        assert_eq!(s.redactor().redact("echo key-123456"), "echo ***");
        let none = |_: &str| None;
        let e = ServerSecrets::resolve("docs", &spec, &none).unwrap_err();
        assert!(
            e.contains("needs $DOCS_KEY (its `X-Api-Key` header), which is not set"),
            "{e}"
        );
    }
}
