//! `baton schema`: the JSON Schema of a workflow file, for editors (`# yaml-language-server:
//! $schema=...`) and CI linters.
//!
//! It is written from the reader's own tables rather than derived from the typed model: the
//! model (`spec::types`) is what a file *means* after conversion (kinds as an enum, aliases
//! resolved), not how it is written, so a derive would describe the wrong shape. The reader
//! names its keys in one place — [`crate::spec::KIND_KEYS`] and its key lists — and the tests
//! check this schema against them (every top-level key the reader knows is here), against
//! every example workflow and against the docs' examples. Step bodies are checked loosely
//! (kind-specific keys and AutomatosX spellings are left to `baton validate`, which says
//! file:line:col); the workflow's top level and `notify:` are checked strictly.

use serde_json::{Value, json};

use crate::spec::KIND_KEYS;

/// Where the schema says it lives (its `$id`).
pub const SCHEMA_ID: &str = "https://baton.invalid/schema/workflow.json";

/// `baton schema`: prints it.
pub fn run() -> anyhow::Result<i32> {
    outln!("{}", schema_text()?);
    Ok(0)
}

/// The schema as pretty JSON text.
pub fn schema_text() -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&workflow_schema())?)
}

/// The top-level keys a workflow may have, each with its aliases, as the reader takes them.
pub const TOP_LEVEL: [(&str, &[&str]); 21] = [
    ("name", &[]),
    ("description", &[]),
    ("version", &[]),
    ("params", &["parameters"]),
    ("env", &[]),
    ("secrets", &[]),
    ("env_file", &["envFile"]),
    ("defaults", &[]),
    ("concurrency", &["maxConcurrency", "max_concurrency"]),
    ("agents", &[]),
    ("steps", &[]),
    ("on_success", &["onSuccess"]),
    ("on_failure", &["onFailure"]),
    ("on_exit", &["onExit"]),
    ("notify", &[]),
    ("schedule", &[]),
    ("mcp_servers", &["mcpServers"]),
    ("memory", &[]),
    ("hosts", &[]),
    ("outputs", &[]),
    ("$schema", &[]),
];

/// The JSON Schema (draft 2020-12) of a workflow file.
pub fn workflow_schema() -> Value {
    let mut props = serde_json::Map::new();
    for (key, aliases) in TOP_LEVEL {
        let schema = top_level(key);
        for alias in aliases {
            props.insert((*alias).to_string(), schema.clone());
        }
        props.insert(key.to_string(), schema);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "baton workflow",
        "description": "A baton workflow: steps (shell, http, agent, approval, transform, sleep, \
                        workflow) with their dependencies. Reference: docs/workflow-language.md",
        "type": "object",
        "required": ["steps"],
        "additionalProperties": false,
        "properties": props,
        "$defs": {
            "step": step(),
            "steps": { "type": "array", "items": { "$ref": "#/$defs/step" } },
            "duration": duration(),
            "notify_target": notify_target(),
            "notify_events": {
                "anyOf": [
                    { "$ref": "#/$defs/notify_event" },
                    { "type": "array", "items": { "$ref": "#/$defs/notify_event" } },
                ],
            },
            "notify_event": { "enum": ["run_finished", "run_failed", "gate_waiting"] },
        },
    })
}

fn top_level(key: &str) -> Value {
    match key {
        "name" | "description" | "version" => json!({ "type": ["string", "number"] }),
        "params" => json!({
            "type": "object",
            "description": "Declared parameters: a default value, or { default, enum, required, description }",
        }),
        "env" => {
            json!({ "type": "object", "additionalProperties": { "type": ["string", "number", "boolean"] } })
        }
        "secrets" => json!({
            "type": "array",
            "items": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" },
            "description": "Environment variables whose values are secrets",
        }),
        "env_file" => json!({ "type": "string", "description": "A dotenv file of secrets" }),
        "defaults" => json!({ "type": "object" }),
        "concurrency" => json!({ "type": "integer", "minimum": 1 }),
        "agents" => json!({ "type": "object" }),
        "steps" => json!({ "$ref": "#/$defs/steps", "minItems": 1 }),
        "on_success" | "on_exit" => json!({
            "$ref": "#/$defs/steps",
            "description": "Handler steps, run after the other steps (docs: Handlers)",
        }),
        "on_failure" => json!({
            "description": "Handler steps, run after the other steps when the run failed, or \
                            { repair: true, steps: [...] } to have a model propose a fix of the \
                            failed step for a person to apply (docs: Handlers)",
            "anyOf": [
                { "$ref": "#/$defs/steps" },
                {
                    "type": "object",
                    "properties": {
                        "repair": { "type": "boolean" },
                        "steps": { "$ref": "#/$defs/steps" }
                    },
                    "additionalProperties": false
                }
            ]
        }),
        "notify" => json!({ "type": "array", "items": { "$ref": "#/$defs/notify_target" } }),
        "schedule" => json!({
            "description": "When `baton serve` starts the workflow: a cron expression, a list of \
                            them, or { cron, timezone, catchup, overlap }",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } },
                {
                    "type": "object",
                    "required": ["cron"],
                    "properties": {
                        "cron": { "type": ["string", "array"], "items": { "type": "string" } },
                        "timezone": { "type": "string" },
                        "catchup": { "enum": ["none", "latest", "all"] },
                        "overlap": { "enum": ["skip", "queue", "allow"] },
                    },
                },
            ],
        }),
        "mcp_servers" => json!({
            "type": "object",
            "description": "MCP servers by name: { command, args, env } (stdio) or { url, \
                            headers, headers_env, bearer_token_env } (streamable HTTP); their \
                            tools are SERVER.TOOL in an agent step's `tools:`",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "command": { "type": "string" },
                    "args": { "type": "array", "items": { "type": "string" } },
                    "env": { "type": "object" },
                    "url": { "type": "string" },
                    "headers": { "type": "object" },
                    "headers_env": { "type": "object" },
                    "bearer_token_env": { "type": "string" },
                },
            },
        }),
        "hosts" => json!({
            "type": "object",
            "description": "Hosts `run` steps name with `on:`: { address, port, user, \
                            identity_file, jump, known_hosts, env, workdir }",
            "additionalProperties": { "type": "object" },
        }),
        "outputs" => json!({
            "type": "object",
            "description": "What a run yields, by name: templates over its steps' results; a \
                            parent's `workflow:` step sees them as its output",
            "additionalProperties": { "type": "string" },
        }),
        _ => json!({ "type": "string" }),
    }
}

fn step() -> Value {
    let kinds: Vec<Value> = KIND_KEYS
        .iter()
        .map(|k| json!({ "required": [k] }))
        .collect();
    json!({
        "type": "object",
        "description": "A step: an `id` and exactly one kind key (run, http, agent, approval, \
                        transform, sleep, workflow)",
        "allOf": [
            { "anyOf": [{ "required": ["id"] }, { "required": ["key"] }] },
            { "anyOf": kinds },
        ],
        "properties": {
            "id": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$" },
            "key": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$" },
            "name": { "type": "string" },
            "run": { "type": "string", "description": "A shell command (a template)" },
            "http": { "type": ["object", "string"] },
            "agent": { "type": "string" },
            "approval": { "type": ["object", "string"] },
            "transform": { "type": ["object", "string"] },
            "sleep": { "$ref": "#/$defs/duration" },
            "workflow": { "type": ["object", "string"] },
            "depends_on": { "type": ["array", "string"], "items": { "type": "string" } },
            "when": { "type": ["string", "boolean"] },
            "retry": { "type": ["integer", "object"] },
            "timeout": { "$ref": "#/$defs/duration" },
            "continue_on_error": { "type": "boolean" },
            "cache": { "type": ["boolean", "object"] },
            "lock": { "type": "string" },
            "rate_limit": { "type": ["string", "object"] },
            "env": { "type": "object" },
            "approve": {
                "type": ["boolean", "array"],
                "items": { "type": "string" },
                "description": "true: a gate before the step; on an agent step, false trusts \
                                its tools and a list names the tools whose calls ask",
            },
            "on": { "type": "string", "description": "The host a `run` step runs on (a template)" },
            "for_each": {
                "type": ["array", "string"],
                "description": "Run the step once per item: a list, or a template giving one",
            },
            "forEach": { "type": ["array", "string"] },
            "max_parallel": { "type": "integer", "minimum": 1 },
            "maxParallel": { "type": "integer", "minimum": 1 },
            "fail_fast": { "type": "boolean" },
            "failFast": { "type": "boolean" },
            "tools": { "type": "array" },
            "approvers": { "type": "array", "items": { "type": "string" } },
            "idempotent": { "type": "boolean" },
            "queue": { "type": "string", "description": "The Temporal task queue of the step's activity" },
            "outputs": { "type": "object", "additionalProperties": { "type": "string" } },
        },
    })
}

fn duration() -> Value {
    json!({
        "description": "A duration: `500ms`, `30s`, `5m`, `2h`, `1d`, combinations (`1m30s`), or 0",
        "anyOf": [
            { "type": "string", "pattern": "^\\s*([0-9.]+[a-z]+)+\\s*$" },
            { "const": "0" },
            { "const": 0 },
        ],
    })
}

fn notify_target() -> Value {
    let url = json!({ "type": "string", "pattern": "^(https?://|\\$[A-Za-z_][A-Za-z0-9_]*$)" });
    let env_name = json!({ "type": "string", "pattern": "^\\$?[A-Za-z_][A-Za-z0-9_]*$" });
    json!({
        "type": "object",
        "additionalProperties": false,
        "oneOf": [
            { "required": ["webhook"] },
            { "required": ["slack"] },
            { "required": ["command"] },
        ],
        "properties": {
            "webhook": url,
            "slack": url,
            "command": { "type": "string", "minLength": 1 },
            "secret_file": { "type": "string" },
            "secretFile": { "type": "string" },
            "secret_env": env_name,
            "secretEnv": env_name,
            "on": { "$ref": "#/$defs/notify_events" },
            "events": { "$ref": "#/$defs/notify_events" },
            "gate_waiting": { "$ref": "#/$defs/duration" },
            "gateWaiting": { "$ref": "#/$defs/duration" },
        },
    })
}
