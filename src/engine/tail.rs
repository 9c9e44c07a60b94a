//! The live log file of a run: one JSON line per log line, then an end marker.
//!
//! Only the owner process can open the store (sled locks it), so `baton logs --follow` from
//! another terminal follows this append-only file instead.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::store::{LogLine, RunState};

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TailRecord {
    /// A log line.
    Line(LogLine),
    /// The run stopped (for now) in this state.
    End {
        /// Its state.
        state: RunState,
    },
}

/// Appends records; failures are logged, never fatal (the store has the lines anyway).
#[derive(Debug)]
pub struct TailFile {
    file: Option<Mutex<File>>,
}

impl TailFile {
    /// Opens (creating) the file for appending.
    pub fn open(path: &Path) -> TailFile {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = crate::fsperm::open_nofollow(OpenOptions::new().create(true).append(true), path);
        if let Err(e) = &file {
            tracing::warn!("cannot open {}: {e}", path.display());
        }
        TailFile {
            file: file.ok().map(Mutex::new),
        }
    }

    /// Appends one record as one `write` (so readers never see half a line).
    pub fn append(&self, record: &TailRecord) {
        let Some(file) = &self.file else { return };
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = f.write_all(&line);
    }
}
