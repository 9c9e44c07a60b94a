//! `notify:`: where baton tells that a run finished or failed, or that a gate has waited too
//! long — a signed webhook, a Slack-compatible incoming webhook, or a command. The delivery is
//! `crate::notify`'s; this is the language.

use serde::{Deserialize, Serialize};

use super::duration::Dur;
use super::node::{Node, Value};
use super::reader::{Reader, Table};
use super::types::Pos;

/// One place to notify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyTarget {
    /// What to send to.
    pub kind: NotifyKind,
    /// Which events it is told about.
    pub events: Vec<NotifyEvent>,
    /// A gate waiting longer than this is told (with [`NotifyEvent::GateWaiting`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_waiting: Option<Dur>,
    /// Where it was written.
    #[serde(skip)]
    pub pos: Pos,
}

/// A URL given in the file, or the name of the owner's environment variable that holds it
/// (`$SLACK_URL`: such URLs are secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Url {
    /// As written.
    Literal(String),
    /// In this environment variable.
    Env(String),
}

/// Where a webhook's signing key is read from when a notification is sent (never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// A file's content (trailing newline dropped).
    File(String),
    /// An environment variable of the owner.
    Env(String),
}

/// The kinds of target, by the key that names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    /// `webhook: URL`: the event's JSON POSTed, signed when a secret is given.
    Webhook {
        /// Where to.
        url: Url,
        /// HMAC-SHA256 key of `X-Baton-Signature-256`.
        secret: Option<SecretSource>,
    },
    /// `slack: URL`: `{"text": ...}` POSTed.
    Slack {
        /// Where to.
        url: Url,
    },
    /// `command: CMD`: run with `sh -c`, the event's JSON on its standard input.
    Command {
        /// The command line.
        command: String,
    },
}

/// What a target is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// The run ended, however (succeeded, failed, cancelled).
    RunFinished,
    /// The run failed.
    RunFailed,
    /// A gate has waited longer than the target's `gate_waiting:`.
    GateWaiting,
}

impl NotifyEvent {
    const ALL: [(&'static str, NotifyEvent); 3] = [
        ("run_finished", NotifyEvent::RunFinished),
        ("run_failed", NotifyEvent::RunFailed),
        ("gate_waiting", NotifyEvent::GateWaiting),
    ];

    /// Its name in files and in the event's JSON.
    pub fn name(self) -> &'static str {
        match self {
            NotifyEvent::RunFinished => "run_finished",
            NotifyEvent::RunFailed => "run_failed",
            NotifyEvent::GateWaiting => "gate_waiting",
        }
    }
}

/// Converts `notify:` (a list of targets).
pub(super) fn convert_notify(r: &mut Reader<'_>, node: &Node) -> Vec<NotifyTarget> {
    let items = match &node.value {
        Value::Seq(items) => items,
        Value::Null => return Vec::new(),
        other => {
            r.error(
                node.pos,
                format!(
                    "`notify` must be a list of targets, not {}",
                    other.type_name()
                ),
                Some("write it like `notify: [{ slack: $SLACK_URL, on: [run_failed] }]`".into()),
            );
            return Vec::new();
        }
    };
    items.iter().filter_map(|n| convert_target(r, n)).collect()
}

fn convert_target(r: &mut Reader<'_>, node: &Node) -> Option<NotifyTarget> {
    let entries = r.map(node, "notify", "- webhook: https://example.com/hook")?;
    let mut t = Table::new(entries);
    let webhook = t.get(r, "webhook", &[]);
    let slack = t.get(r, "slack", &[]);
    let command = t.get(r, "command", &[]);
    let secret_file = t.get(r, "secret_file", &["secretFile"]);
    let secret_env = t.get(r, "secret_env", &["secretEnv"]);
    let on = t.get(r, "on", &["events"]);
    let gate_waiting = t
        .get(r, "gate_waiting", &["gateWaiting"])
        .and_then(|n| r.duration(n, "gate_waiting"));
    t.finish(r, "a `notify` target");
    let secret = match (secret_file, secret_env) {
        (Some(f), _) => r
            .non_empty_string(f, "secret_file", "secret_file: /etc/baton/hook.key")
            .map(SecretSource::File),
        (None, Some(e)) => env_name(r, e, "secret_env").map(SecretSource::Env),
        (None, None) => None,
    };
    let kind = match (webhook, slack, command) {
        (Some(w), None, None) => NotifyKind::Webhook {
            url: url(r, w, "webhook")?,
            secret,
        },
        (None, Some(s), None) => NotifyKind::Slack {
            url: url(r, s, "slack")?,
        },
        (None, None, Some(c)) => NotifyKind::Command {
            command: r.non_empty_string(c, "command", "command: logger -t baton")?,
        },
        _ => {
            r.error(
                node.pos,
                "a `notify` target needs exactly one of `webhook`, `slack` or `command`",
                Some("write one target per list item, e.g. `- slack: $SLACK_URL`".into()),
            );
            return None;
        }
    };
    if (secret_file.or(secret_env)).is_some() && !matches!(kind, NotifyKind::Webhook { .. }) {
        let at = secret_file.or(secret_env).map_or(node.pos, |n| n.pos);
        r.error(
            at,
            "only a `webhook` target is signed",
            Some("remove `secret_file`/`secret_env`, or make this a `webhook`".into()),
        );
    }
    let events = events(r, on, gate_waiting.is_some(), node.pos)?;
    Some(NotifyTarget {
        kind,
        events,
        gate_waiting,
        pos: node.pos,
    })
}

/// `on:` (default: `run_finished`, and `gate_waiting` when `gate_waiting:` is given).
fn events(
    r: &mut Reader<'_>,
    on: Option<&Node>,
    has_wait: bool,
    at: Pos,
) -> Option<Vec<NotifyEvent>> {
    let Some(on) = on else {
        let mut all = vec![NotifyEvent::RunFinished];
        all.extend(has_wait.then_some(NotifyEvent::GateWaiting));
        return Some(all);
    };
    let mut out = Vec::new();
    for (name, pos) in r.string_list(on, "on", "on: [run_failed, gate_waiting]")? {
        match NotifyEvent::ALL.iter().find(|(n, _)| *n == name) {
            Some((_, e)) if !out.contains(e) => out.push(*e),
            Some(_) => {}
            None => r.error(
                pos,
                format!("`{name}` is not a notification event"),
                Some("the events are run_finished, run_failed and gate_waiting".into()),
            ),
        }
    }
    if out.contains(&NotifyEvent::GateWaiting) && !has_wait {
        r.error(
            at,
            "this target is told about `gate_waiting` but does not say after how long",
            Some("add e.g. `gate_waiting: 1h`".into()),
        );
    }
    Some(out)
}

fn url(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<Url> {
    let example = format!("{what}: https://example.com/hook");
    let text = r.non_empty_string(node, what, &example)?;
    if let Some(name) = text.strip_prefix('$') {
        return env_name(r, node, what).map(|_| Url::Env(name.to_string()));
    }
    if !(text.starts_with("https://") || text.starts_with("http://")) {
        r.error(
            node.pos,
            format!("`{what}` must be an http(s) URL or `$NAME` of a variable holding one"),
            Some(format!("write it like `{example}`")),
        );
        return None;
    }
    Some(Url::Literal(text))
}

/// An environment variable name (a leading `$` allowed).
fn env_name(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<String> {
    let text = r.non_empty_string(node, what, &format!("{what}: HOOK_SECRET"))?;
    let name = text.strip_prefix('$').unwrap_or(&text);
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        r.error(
            node.pos,
            format!("`{what}` must name an environment variable, not `{text}`"),
            Some("name the variable that holds it, never the value itself".into()),
        );
        return None;
    }
    Some(name.to_string())
}
