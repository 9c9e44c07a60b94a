//! Webhooks: `[hooks.NAME]` maps `POST /v1/hooks/NAME` to a workflow and its params, each a
//! template over the request's JSON body (`ref = "{{ body.ref }}"`), once the body's
//! HMAC-SHA256 signature checks out with the hook's secret.

use indexmap::IndexMap;
use serde_json::Value;

use super::HookConfig;
use super::auth::read_secret;

/// A configured hook, its secret read.
#[derive(Clone)]
pub struct Hook {
    /// The workflow it starts.
    pub workflow: String,
    /// The HMAC secret.
    pub secret: Vec<u8>,
    /// Param templates.
    pub params: IndexMap<String, String>,
}

/// Every configured hook, by name.
#[derive(Clone, Default)]
pub struct Hooks(IndexMap<String, Hook>);

impl Hooks {
    /// Reads each hook's secret; a missing or readable-by-others secret file is an error
    /// naming the hook.
    pub fn load(config: &IndexMap<String, HookConfig>) -> anyhow::Result<Hooks> {
        let mut hooks = IndexMap::new();
        for (name, hook) in config {
            let secret = read_secret(
                &hook.secret_file,
                &format!("the secret_file of [hooks.{name}]"),
            )?;
            hooks.insert(
                name.clone(),
                Hook {
                    workflow: hook.workflow.clone(),
                    secret,
                    params: hook.params.clone(),
                },
            );
        }
        Ok(Hooks(hooks))
    }

    /// The hook named `name`.
    pub fn get(&self, name: &str) -> Option<&Hook> {
        self.0.get(name)
    }
}

impl Hook {
    /// The run's params: each template rendered over `body`; the error names the param.
    pub fn params(&self, body: &Value) -> Result<IndexMap<String, Value>, String> {
        let mut env = minijinja::Environment::new();
        env.set_fuel(Some(100_000));
        let ctx =
            minijinja::context! { body => minijinja::Value::from(minijinja::value::Serde(body)) };
        self.params
            .iter()
            .map(|(name, template)| {
                env.render_str(template, ctx.clone())
                    .map(|v| (name.clone(), Value::String(v)))
                    .map_err(|e| format!("param `{name}` of the hook: {e}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_templates_over_the_body() {
        let hook = Hook {
            workflow: "w".into(),
            secret: b"s".to_vec(),
            params: [("branch".to_string(), "{{ body.ref }}".to_string())]
                .into_iter()
                .collect(),
        };
        let params = hook.params(&serde_json::json!({"ref": "main"})).unwrap();
        assert_eq!(params["branch"], Value::String("main".into()));
        let bad = Hook {
            params: [("x".to_string(), "{{ body.".to_string())]
                .into_iter()
                .collect(),
            ..hook
        };
        assert!(
            bad.params(&serde_json::json!({}))
                .unwrap_err()
                .contains("param `x`")
        );
    }
}
