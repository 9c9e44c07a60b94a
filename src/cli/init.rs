//! `baton init [DIR]`: a commented starter — `config.toml`, `workflows/hello.yaml` and the
//! `workflow.schema.json` its modeline names — in a config directory (baton's own by
//! default). It never overwrites a file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

/// `baton init`.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Where to write (default: baton's config directory, `$BATON_CONFIG_DIR` or the
    /// platform's); use another with `BATON_CONFIG_DIR=DIR baton`.
    pub dir: Option<PathBuf>,
}

/// The starter workflow.
pub const STARTER_WORKFLOW: &str = include_str!("init/hello.yaml");
/// The starter config.
pub const STARTER_CONFIG: &str = include_str!("init/config.toml");

/// Writes the starter files; refuses (exit 1) when any of them exists.
pub fn init(args: InitArgs) -> anyhow::Result<i32> {
    let dir = match args.dir {
        Some(dir) => dir,
        None => crate::config::Paths::resolve(None)?.config,
    };
    let schema = super::schema::schema_text()?;
    let files = [
        (dir.join("config.toml"), STARTER_CONFIG),
        (dir.join("workflows").join("hello.yaml"), STARTER_WORKFLOW),
        (dir.join("workflow.schema.json"), schema.as_str()),
    ];
    let existing: Vec<String> = files
        .iter()
        .filter(|(p, _)| p.exists())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        errln!(
            "baton init: not overwriting {}; remove them or choose another directory \
             (`baton init DIR`)",
            existing.join(", ")
        );
        return Ok(1);
    }
    for (path, text) in &files {
        write_new(path, text)?;
        outln!("wrote {}", path.display());
    }
    let wf = files[1].0.display().to_string();
    outln!("next: `baton validate {wf}`, then `baton run {wf}`");
    if dir != crate::config::Paths::resolve(None)?.config {
        outln!(
            "baton reads this config with `BATON_CONFIG_DIR={}`",
            dir.display()
        );
    }
    Ok(0)
}

/// Creates `path` (and its directory); fails if it appeared meanwhile.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
