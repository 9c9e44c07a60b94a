//! What travels on the control socket: lines of JSON, one request per [`RunReader`],
//! [`RunControl`] or [`Notebook`] method, each answered by one line, after a hello that names both sides'
//! protocol versions.
//!
//! A connection starts with the client's [`Hello`]; the owner answers with its own, or, when
//! the versions differ, with an error naming both and what to do, and hangs up. Then requests
//! follow one at a time on the same connection. [`Request::Subscribe`] and [`Request::Follow`] turn the connection
//! into a stream of Events ([`Streamed`]) until the client hangs up.
//!
//! [`RunReader`]: crate::engine::RunReader
//! [`RunControl`]: crate::engine::RunControl
//! [`Notebook`]: crate::engine::Notebook

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{Command, StartRequest};
use crate::spec::StepId;
use crate::store::{Event, RunId};

/// The version of this protocol. Version 1 had no hello: a connection carried one request;
/// version 2 had no [`Notebook`](crate::engine::Notebook) requests; version 3 streamed every
/// run's Events to every subscriber (no [`Request::Follow`], no run in
/// [`Request::Subscribe`]). Bump it whenever a
/// request is added or a request, an answer or the framing changes incompatibly, so both
/// sides say the versions instead of an owner not knowing a request.
pub const PROTOCOL_VERSION: u32 = 4;

/// The longest line a peer may send (a start request carries the workflow's source).
pub const MAX_LINE: u64 = 8 * 1024 * 1024;

/// What each side says first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol: u32,
    /// The sender's baton version (`CARGO_PKG_VERSION`), for messages.
    pub baton: String,
}

impl Hello {
    /// This baton's hello.
    pub fn ours() -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            baton: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// The first line of a connection, either way: `{"hello": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Greeting {
    /// The sender's versions.
    Hello(Hello),
}

/// What a client asks of the owner: one variant per method of `RunReader`, `RunControl` and
/// `Notebook`,
/// with the method's arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// `RunReader::runs`.
    Runs,
    /// `RunReader::resolve_run`.
    ResolveRun {
        /// An id or a unique prefix of one.
        run: String,
    },
    /// `RunReader::run`.
    Run {
        /// The run.
        run: RunId,
    },
    /// `RunReader::run_detail`.
    RunDetail {
        /// The run.
        run: RunId,
    },
    /// `RunReader::step_output`.
    StepOutput {
        /// The run.
        run: RunId,
        /// The step.
        step: StepId,
    },
    /// `RunReader::step_outputs`.
    StepOutputs {
        /// The run.
        run: RunId,
    },
    /// `RunReader::logs`.
    Logs {
        /// The run.
        run: RunId,
        /// Only this step's lines.
        step: Option<StepId>,
        /// Lines with a greater seq.
        after: u64,
        /// At most this many (the owner caps it at 10,000).
        limit: usize,
    },
    /// `RunReader::tail_logs`.
    TailLogs {
        /// The run.
        run: RunId,
        /// Only this step's lines.
        step: Option<StepId>,
        /// At most this many (the owner caps it at 10,000).
        limit: usize,
    },
    /// `RunReader::events`.
    Events {
        /// The run.
        run: RunId,
    },
    /// `RunControl::start`.
    Start {
        /// What to start.
        request: StartRequest,
    },
    /// `RunControl::send`.
    Send {
        /// The command.
        command: Command,
    },
    /// `Notebook::note_scopes`.
    NoteScopes,
    /// `Notebook::notes`.
    Notes {
        /// The scope.
        scope: String,
    },
    /// `Notebook::forget`.
    Forget {
        /// The scope.
        scope: String,
        /// Only this note.
        key: Option<String>,
    },
    /// `RunControl::subscribe` (and `subscribe_run`): every Event from now on (only `run`'s
    /// and its child runs', when given), a [`Streamed`] line each, until the client hangs
    /// up. The connection carries nothing else after it.
    Subscribe {
        /// Only this run's Events and its children's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run: Option<RunId>,
    },
    /// `RunControl::start_following`: starts the run, answers like [`Request::Start`] (the
    /// new run's id, or why not), and then, on success, streams the run's Events and its
    /// children's from its first, a [`Streamed`] line each (no `ready`: nothing came before),
    /// until the client hangs up. The connection carries nothing else after it.
    Follow {
        /// What to start.
        request: StartRequest,
    },
}

/// What the owner streams to a subscriber: `ready` first, once nothing more can be missed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Streamed {
    /// From here on every Event is delivered.
    Ready,
    /// Something happened.
    Event(Box<Event>),
    /// This many Events were missed (the subscriber was too slow).
    Lagged(u64),
}

/// The owner's answer to a request (and to a hello it refuses).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The method's result.
    Ok(Value),
    /// Why it failed, for people.
    Error(String),
}

/// What to do when two batons speak different protocols.
const MISMATCH_FIX: &str = "run one baton version for both: stop the owner (its active runs \
     are left interrupted; `baton resume RUN` continues them) and start it again with the baton \
     you are using, or use the owner's baton";

/// The owner's verdict on a connection's first line: `Ok` with the client's hello when it
/// speaks this protocol, else an error for people naming both versions and what to do.
pub fn check_greeting(line: &str, owner: &str) -> Result<Hello, String> {
    let ours = Hello::ours();
    match serde_json::from_str::<Greeting>(line) {
        Ok(Greeting::Hello(theirs)) if theirs.protocol == ours.protocol => Ok(theirs),
        Ok(Greeting::Hello(theirs)) => Err(format!(
            "{owner} (baton {}) speaks control protocol {}, your baton ({}) speaks protocol {}; \
             {MISMATCH_FIX}",
            ours.baton, ours.protocol, theirs.baton, theirs.protocol
        )),
        // Protocol 1 sent a request straight away.
        Err(_) if is_protocol_1_request(line) => Err(format!(
            "{owner} (baton {}) speaks control protocol {}, your baton speaks protocol 1 (an \
             older baton); {MISMATCH_FIX}",
            ours.baton, ours.protocol
        )),
        Err(e) => Err(format!(
            "not a request this baton understands: {e}; a client says hello first (control \
             protocol {})",
            ours.protocol
        )),
    }
}

fn is_protocol_1_request(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|v| v.get("op").is_some_and(Value::is_string))
}

/// The client's verdict on the owner's answer to its hello.
pub fn check_welcome(line: &str, owner: &str) -> anyhow::Result<Hello> {
    let ours = Hello::ours();
    if let Ok(Greeting::Hello(theirs)) = serde_json::from_str::<Greeting>(line) {
        if theirs.protocol == ours.protocol {
            return Ok(theirs);
        }
        anyhow::bail!(
            "{owner} (baton {}) speaks control protocol {}, this baton ({}) speaks protocol {}; \
             {MISMATCH_FIX}",
            theirs.baton,
            theirs.protocol,
            ours.baton,
            ours.protocol
        );
    }
    match serde_json::from_str::<Reply>(line) {
        // A versioned owner that refused says both versions itself.
        Ok(Reply::Error(why)) if why.contains("control protocol") => anyhow::bail!("{why}"),
        // Protocol 1 read the hello as a request it did not know.
        Ok(Reply::Error(_)) => anyhow::bail!(
            "{owner} speaks control protocol 1 (an older baton), this baton ({}) speaks \
             protocol {}; {MISMATCH_FIX}",
            ours.baton,
            ours.protocol
        ),
        _ => anyhow::bail!("{owner} answered its hello with something unreadable: {line:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_one_line_tagged_by_its_method() {
        let line = serde_json::to_string(&Request::RunDetail {
            run: RunId("r1".into()),
        })
        .unwrap();
        assert_eq!(line, r#"{"op":"run_detail","run":"r1"}"#);
    }

    #[test]
    fn an_owner_refuses_another_protocol_naming_both_versions() {
        let theirs = serde_json::to_string(&Greeting::Hello(Hello {
            protocol: 99,
            baton: "9.9.9".into(),
        }))
        .unwrap();
        let why = check_greeting(&theirs, "baton process 7").unwrap_err();
        assert!(
            why.contains("protocol 99") && why.contains("9.9.9"),
            "{why}"
        );
        assert!(
            why.contains(&format!("protocol {PROTOCOL_VERSION}")),
            "{why}"
        );
        let why = check_greeting(r#"{"op":"runs"}"#, "baton process 7").unwrap_err();
        assert!(why.contains("protocol 1"), "{why}");
        let ours = serde_json::to_string(&Greeting::Hello(Hello::ours())).unwrap();
        assert_eq!(check_greeting(&ours, "x").unwrap(), Hello::ours());
    }
}
