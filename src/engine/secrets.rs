//! A run's secrets, read when its driver starts (at start, resume and retry; never stored): the
//! variables its workflow names under `secrets:`, from this process's environment, and the
//! values of its `env_file:`. A missing one stops the run from starting, with where it was named.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use indexmap::IndexMap;

use crate::spec::diag::{Diagnostic, Source};
use crate::spec::{Pos, Workflow};

/// Names and values; templates see them as `secrets.NAME`.
#[derive(Default, Clone)]
pub struct RunSecrets(pub IndexMap<String, String>);

impl std::fmt::Debug for RunSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl RunSecrets {
    /// Reads the workflow's secrets. `path` is the workflow file (an `env_file` is relative to
    /// its directory, else to `workdir`); `source` its text, for the error's caret.
    pub fn resolve(
        wf: &Workflow,
        path: Option<&str>,
        source: &str,
        workdir: Option<&str>,
        env: crate::providers::Env<'_>,
    ) -> anyhow::Result<RunSecrets> {
        let file = path.unwrap_or("<workflow>");
        let src = Source::new(file, source);
        let fail = |pos: Pos, message: String, hint: &str| {
            anyhow!("{}", Diagnostic::at(&src, pos, message).with_hint(hint))
        };
        let mut values = IndexMap::new();
        if let Some((name, pos)) = &wf.env_file {
            let base = path
                .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
                .or_else(|| workdir.map(PathBuf::from))
                .unwrap_or_default();
            let at = base.join(name);
            let vars = crate::secrets::env_file::load(&at).map_err(|e| {
                fail(
                    *pos,
                    format!("{e:#}"),
                    "fix the file, or remove `env_file:`",
                )
            })?;
            values.extend(vars);
        }
        for (name, pos) in &wf.secrets {
            if values.contains_key(name) {
                continue;
            }
            match env(name).filter(|v| !v.is_empty()) {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None => {
                    return Err(fail(
                        *pos,
                        format!("the secret `{name}` is not set in the environment"),
                        &format!(
                            "export {name}=… before starting baton (or the run), or put it in the \
                             workflow's `env_file:`"
                        ),
                    ));
                }
            }
        }
        Ok(RunSecrets(values))
    }
}
