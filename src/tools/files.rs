//! `read_file`, `write_file` and `list_dir`: files inside the step's working directory only.
//!
//! A path is taken relative to the working directory; after symbolic links are resolved it
//! must still be inside it, so neither `../x` nor a link pointing out of the directory lets a
//! model read or write elsewhere. The resolved path is then opened without following a link
//! ([`crate::fsperm::open_nofollow`]), so a link swapped in after the check is refused too.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolFuture, ToolOutput, bound_head, string_arg};
use crate::fsperm::open_nofollow;

/// Entries listed at most by `list_dir`.
const MAX_ENTRIES: usize = 1000;

/// `path` (relative to `cwd`, or absolute) as a real path inside `cwd`, or why not. When
/// `may_be_new`, the file itself may be missing (its directory must exist and be inside).
pub fn confine(cwd: &Path, path: &str, may_be_new: bool) -> Result<PathBuf, String> {
    let root = cwd.canonicalize().map_err(|e| {
        format!(
            "the working directory {} cannot be used: {e}",
            cwd.display()
        )
    })?;
    let joined = root.join(path);
    let outside = || {
        format!(
            "`{path}` is outside the working directory {}; tools only reach files inside it",
            root.display()
        )
    };
    let real = match joined.canonicalize() {
        Ok(real) => real,
        Err(e) if may_be_new && e.kind() == std::io::ErrorKind::NotFound => {
            let name = match joined.components().next_back() {
                Some(Component::Normal(name)) => name.to_owned(),
                _ => return Err(outside()),
            };
            let parent = joined.parent().ok_or_else(outside)?;
            let parent = parent
                .canonicalize()
                .map_err(|e| format!("the directory of `{path}` cannot be used: {e}"))?;
            parent.join(name)
        }
        Err(e) => return Err(format!("`{path}`: {e}")),
    };
    if real.starts_with(&root) {
        Ok(real)
    } else {
        Err(outside())
    }
}

/// Reads a file.
pub struct ReadFile;

impl Tool for ReadFile {
    fn name(&self) -> &str {
        "read_file"
    }

    fn description(&self) -> &str {
        "Read a text file inside the working directory. Long files are cut; pass `offset` (a byte offset) to read further."
    }

    fn schema(&self) -> Value {
        json!({"type": "object", "properties": {
            "path": {"type": "string", "description": "Path relative to the working directory"},
            "offset": {"type": "integer", "minimum": 0, "description": "Byte offset to start at"}},
            "required": ["path"]})
    }

    fn risky(&self, _args: &Value) -> bool {
        false
    }

    fn call<'a>(&'a self, args: &'a Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let path = match string_arg(args, "path", "read_file") {
                Ok(p) => p,
                Err(e) => return e,
            };
            let offset = args.get("offset").and_then(Value::as_u64).unwrap_or(0);
            match read(&ctx.cwd, path, offset, ctx.limit) {
                Ok(text) => ToolOutput::ok(text),
                Err(e) => ToolOutput::error(e),
            }
        })
    }
}

fn read(cwd: &Path, path: &str, offset: u64, limit: usize) -> Result<String, String> {
    use std::io::Seek;
    let real = confine(cwd, path, false)?;
    let mut file = open_nofollow(OpenOptions::new().read(true), &real)
        .map_err(|e| format!("cannot open `{path}`: {e}"))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .map_err(|e| format!("cannot seek in `{path}`: {e}"))?;
    // One byte more than the limit says whether there is more.
    let mut bytes = Vec::new();
    (&mut file)
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{path}`: {e}"))?;
    let more = bytes.len() > limit;
    bytes.truncate(limit);
    let text = String::from_utf8_lossy(&bytes);
    if more {
        let next = offset + limit as u64;
        Ok(format!(
            "{text}\n[… the file goes on: call read_file again with offset {next}]"
        ))
    } else {
        Ok(text.into_owned())
    }
}

/// Writes (creates or replaces) a file.
pub struct WriteFile;

impl Tool for WriteFile {
    fn name(&self) -> &str {
        "write_file"
    }

    fn description(&self) -> &str {
        "Create or replace a text file inside the working directory with `content`."
    }

    fn schema(&self) -> Value {
        json!({"type": "object", "properties": {
            "path": {"type": "string", "description": "Path relative to the working directory"},
            "content": {"type": "string", "description": "The whole new content"}},
            "required": ["path", "content"]})
    }

    fn risky(&self, _args: &Value) -> bool {
        true
    }

    fn describe(&self, args: &Value) -> String {
        let path = args
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("(no path)");
        let content = args.get("content").and_then(Value::as_str).unwrap_or("");
        format!(
            "write_file: {path} ({} bytes)\n\n{}",
            content.len(),
            super::preview(content)
        )
    }

    fn call<'a>(&'a self, args: &'a Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let (path, content) = match (
                string_arg(args, "path", "write_file"),
                string_arg(args, "content", "write_file"),
            ) {
                (Ok(p), Ok(c)) => (p, c),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            let written = confine(&ctx.cwd, path, true).and_then(|real| {
                let mut file = open_nofollow(
                    OpenOptions::new().write(true).create(true).truncate(true),
                    &real,
                )
                .map_err(|e| format!("cannot open `{path}` for writing: {e}"))?;
                file.write_all(content.as_bytes())
                    .map_err(|e| format!("cannot write `{path}`: {e}"))
            });
            match written {
                Ok(()) => ToolOutput::ok(format!("wrote {} bytes to {path}", content.len())),
                Err(e) => ToolOutput::error(e),
            }
        })
    }
}

/// Lists a directory.
pub struct ListDir;

impl Tool for ListDir {
    fn name(&self) -> &str {
        "list_dir"
    }

    fn description(&self) -> &str {
        "List a directory inside the working directory: one entry a line, directories end with `/`, files show their size."
    }

    fn schema(&self) -> Value {
        json!({"type": "object", "properties": {
            "path": {"type": "string", "description": "Directory relative to the working directory (default `.`)"}}})
    }

    fn risky(&self, _args: &Value) -> bool {
        false
    }

    fn call<'a>(&'a self, args: &'a Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let path = args.get("path").and_then(Value::as_str).unwrap_or(".");
            match list(&ctx.cwd, path) {
                Ok(text) => ToolOutput::ok(bound_head(&text, ctx.limit)),
                Err(e) => ToolOutput::error(e),
            }
        })
    }
}

fn list(cwd: &Path, path: &str) -> Result<String, String> {
    let real = confine(cwd, path, false)?;
    let entries = std::fs::read_dir(&real).map_err(|e| format!("cannot list `{path}`: {e}"))?;
    let mut lines: Vec<String> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let name = crate::sanitize::escape(&name, false).into_owned();
        let line = match entry.metadata() {
            Ok(m) if m.is_dir() => format!("{name}/"),
            Ok(m) if m.file_type().is_symlink() => format!("{name}@"),
            Ok(m) => format!("{name}\t{} bytes", m.len()),
            Err(_) => name,
        };
        lines.push(line);
    }
    lines.sort();
    let total = lines.len();
    lines.truncate(MAX_ENTRIES);
    if total > MAX_ENTRIES {
        lines.push(format!("[… {} more entries]", total - MAX_ENTRIES));
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_working_directory_even_through_links() {
        let dir = std::env::temp_dir().join(format!("baton-confine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("out")).unwrap();
        std::os::unix::fs::symlink("sub/a.txt", dir.join("in")).unwrap();
        assert!(confine(&dir, "sub/a.txt", false).is_ok());
        assert!(confine(&dir, "in", false).is_ok());
        assert!(confine(&dir, "new.txt", true).is_ok());
        for bad in ["../x", "/etc/passwd", "out/passwd", "out/new"] {
            let e = confine(&dir, bad, true).unwrap_err();
            assert!(e.contains("outside the working directory"), "{bad}: {e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
