//! `env_file:` — a dotenv file of secrets: `KEY=VALUE` lines, `export` allowed, `#` comments,
//! values bare, 'single-quoted' (as they are) or "double-quoted" (`\n`, `\"`, `\\` escapes).
//! A file that others than its owner may read is refused: its values are secrets.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use indexmap::IndexMap;

/// Reads the file, refusing it when its group or others have any access.
pub fn load(path: &Path) -> anyhow::Result<IndexMap<String, String>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read the env_file {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the env_file {} may be read by others (mode {mode:03o}); it holds secrets, so it \
             must be private to you: run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the env_file {}", path.display()))?;
    parse(&text).map_err(|(line, why)| anyhow::anyhow!("{}:{line}: {why}", path.display()))
}

/// The variables of a dotenv text, or the 1-based line of the first bad one and why.
pub fn parse(text: &str) -> Result<IndexMap<String, String>, (usize, String)> {
    let mut out = IndexMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((i + 1, "expected KEY=VALUE".into()));
        };
        let key = key.trim();
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err((i + 1, format!("`{key}` is not a variable name")));
        }
        out.insert(
            key.to_string(),
            value_of(value.trim()).map_err(|e| (i + 1, e))?,
        );
    }
    Ok(out)
}

fn value_of(v: &str) -> Result<String, String> {
    if let Some(rest) = v.strip_prefix('\'') {
        return match rest.find('\'') {
            Some(end) => Ok(rest[..end].to_string()),
            None => Err("the value's single quote is not closed".into()),
        };
    }
    if let Some(rest) = v.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Ok(out),
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => break,
                },
                c => out.push(c),
            }
        }
        return Err("the value's double quote is not closed".into());
    }
    // A bare value ends at a comment.
    let bare = match v.find(" #") {
        Some(i) => &v[..i],
        None => v,
    };
    Ok(bare.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines_quotes_and_comments() {
        let vars = parse(
            "# deploy\nexport A=plain value # note\nB='single # kept'\nC=\"dq \\\"x\\\"\\n\"\n\nD=\n",
        )
        .unwrap();
        assert_eq!(vars["A"], "plain value");
        assert_eq!(vars["B"], "single # kept");
        assert_eq!(vars["C"], "dq \"x\"\n");
        assert_eq!(vars["D"], "");
        assert_eq!(parse("oops\n").unwrap_err().0, 1);
        assert_eq!(parse("A=1\n1X=2").unwrap_err().0, 2);
        assert!(parse("A='open").is_err());
    }

    #[test]
    fn a_file_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "TOKEN=s3cret-value\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600") && err.contains("644"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load(&path).unwrap()["TOKEN"], "s3cret-value");
    }
}
