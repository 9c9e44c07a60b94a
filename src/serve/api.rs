//! The HTTP API, version 1: start, list, read and cancel runs, decide gates, receive signed
//! webhooks, and `/metrics`. Every error is JSON `{"error": ..., "hint": ...}` with its status:
//! 400 bad input (naming the param), 401 no or a wrong token or signature (nothing is done),
//! 404 no such workflow, run, step or hook, 409 a step not waiting or a run already ended.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{ApiToken, signature_ok};
use super::hooks::Hooks;
use super::{Catalogue, StartError};
use crate::engine::{Command, Engine, RunReader};
use crate::identity::Operator;
use crate::providers::price::Price;
use crate::store::{RunId, StepStatus};

/// What the API serves from, shared by its listeners.
#[derive(Clone)]
pub struct Api {
    /// The engine of this owner.
    pub engine: Engine,
    /// The workflows it may start.
    pub catalogue: Catalogue,
    /// The token requests must carry (none: only on loopback or the private socket).
    pub token: Option<ApiToken>,
    /// Configured webhooks.
    pub hooks: Hooks,
    /// Configured LLM prices, for the cost metric.
    pub prices: Arc<IndexMap<String, Price>>,
    /// Whether this listener checks the token (the unix socket checks the peer's uid instead).
    pub check_token: bool,
}

/// An answer that went wrong.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: String,
    hint: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, hint: Option<&str>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            hint: hint.map(str::to_string),
        }
    }

    fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
            Some("see baton's log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error": self.error, "hint": self.hint})),
        )
            .into_response()
    }
}

type Answer = Result<Response, ApiError>;

/// The routes of version 1.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/v1/runs", post(create_run).get(list_runs))
        .route("/v1/runs/{id}", get(get_run))
        .route("/v1/runs/{id}/cancel", post(cancel_run))
        .route("/v1/runs/{id}/steps/{step}/{decision}", post(decide))
        .route("/v1/hooks/{name}", post(hook))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint",
                Some("see docs/serve.md: /v1/runs, /v1/runs/ID, /v1/hooks/NAME, /metrics"),
            )
        })
        .with_state(api)
}

/// A request whose bearer token checked out (or that needs none).
struct Authed;

impl FromRequestParts<Api> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Authed, ApiError> {
        match &api.token {
            Some(token) if api.check_token => {
                let given = parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes());
                if token.accepts(given) {
                    Ok(Authed)
                } else {
                    Err(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "missing or wrong API token",
                        Some(
                            "send `Authorization: Bearer TOKEN` with the token of BATON_API_TOKEN or [serve] token_file",
                        ),
                    ))
                }
            }
            _ => Ok(Authed),
        }
    }
}

/// Runs a synchronous engine call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

fn body_json<T: for<'de> Deserialize<'de>>(body: &Bytes, example: &str) -> Result<T, ApiError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not what this endpoint takes: {e}"),
            Some(example),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRun {
    workflow: String,
    #[serde(default)]
    params: IndexMap<String, Value>,
}

async fn create_run(State(api): State<Api>, _: Authed, body: Bytes) -> Answer {
    let new: NewRun = body_json(
        &body,
        r#"{"workflow": "release", "params": {"env": "prod"}}"#,
    )?;
    start(api, new.workflow, new.params).await
}

async fn start(api: Api, workflow: String, params: IndexMap<String, Value>) -> Answer {
    let Some(entry) = api.catalogue.find(&workflow) else {
        let known: Vec<String> = api
            .catalogue
            .entries()
            .into_iter()
            .filter(|e| e.error.is_none())
            .map(|e| e.name)
            .collect();
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no workflow named `{workflow}`"),
            Some(&format!("known workflows: {}", known.join(", "))),
        ));
    };
    let declared: Vec<String> = entry.params.keys().cloned().collect();
    let (engine, catalogue, name) = (
        api.engine.clone(),
        api.catalogue.clone(),
        entry.name.clone(),
    );
    match blocking(move || catalogue.start(&engine, &entry, params)).await? {
        Ok(id) => Ok((
            StatusCode::CREATED,
            axum::Json(json!({"id": id, "workflow": name})),
        )
            .into_response()),
        Err(StartError::Params(why)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            why,
            Some(&format!("workflow `{name}` takes: {}", declared.join(", "))),
        )),
        Err(StartError::Other(e)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{e:#}"),
            Some("`baton validate FILE` lists the problems"),
        )),
    }
}

async fn list_runs(State(api): State<Api>, _: Authed) -> Answer {
    let runs = blocking(move || api.engine.runs())
        .await?
        .map_err(ApiError::internal)?;
    Ok(axum::Json(json!({"runs": runs})).into_response())
}

/// The run an id (or a unique prefix) names, or 404.
async fn resolve(api: &Api, id: String) -> Result<RunId, ApiError> {
    let engine = api.engine.clone();
    blocking(move || engine.resolve_run(&id))
        .await?
        .map_err(|e| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{e:#}"),
                Some("GET /v1/runs lists the runs"),
            )
        })
}

async fn get_run(State(api): State<Api>, _: Authed, Path(id): Path<String>) -> Answer {
    let id = resolve(&api, id).await?;
    let detail = blocking(move || api.engine.run_detail(&id))
        .await?
        .map_err(ApiError::internal)?;
    Ok(axum::Json(detail).into_response())
}

async fn cancel_run(State(api): State<Api>, _: Authed, Path(id): Path<String>) -> Answer {
    let id = resolve(&api, id).await?;
    let engine = api.engine.clone();
    let run = id.clone();
    blocking(move || {
        let state = RunReader::run(&engine, &run)?.state;
        if state.is_terminal() {
            return Ok(Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("run {run} has already ended ({state})"),
                None,
            )));
        }
        engine
            .send_as(Command::Cancel(run), &Operator::current())
            .map(Ok)
    })
    .await?
    .map_err(ApiError::internal)??;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({"id": id, "cancelling": true})),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Note {
    #[serde(default)]
    note: Option<String>,
}

async fn decide(
    State(api): State<Api>,
    _: Authed,
    Path((id, step, decision)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    let approved = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no such decision `{other}`"),
                Some("POST .../steps/STEP/approve or .../reject"),
            ));
        }
    };
    let note: Note = body_json(&body, r#"{"note": "looks good"}"#)?;
    let run = resolve(&api, id).await?;
    let name = api
        .token
        .as_ref()
        .map_or_else(|| "api".to_string(), |t| t.name.clone());
    let engine = api.engine.clone();
    let (r, s) = (run.clone(), step.clone());
    blocking(move || -> Result<(), ApiError> {
        let detail = engine.run_detail(&r).map_err(ApiError::internal)?;
        let Some(rec) = detail.steps.iter().find(|x| x.step.0 == s) else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("run {r} has no step `{s}`"),
                Some("GET /v1/runs/ID lists its steps"),
            ));
        };
        if rec.status != StepStatus::WaitingApproval {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "step `{s}` of run {r} is not waiting for approval (it is {})",
                    rec.status.as_str()
                ),
                None,
            ));
        }
        let who = Operator {
            uid: crate::identity::current_uid(),
            name,
        };
        let command = Command::Decide {
            run: r,
            step: rec.step.clone(),
            approved,
            via: None,
            comment: note.note,
            inputs: IndexMap::new(),
        };
        engine
            .send_as(command, &who)
            .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, format!("{e:#}"), None))
    })
    .await??;
    let verdict = if approved { "approved" } else { "rejected" };
    Ok(axum::Json(json!({"id": run, "step": step, "decision": verdict})).into_response())
}

async fn hook(
    State(api): State<Api>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let Some(hook) = api.hooks.get(&name).cloned() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no hook named `{name}`"),
            Some("configure it as [hooks.NAME] in config.toml"),
        ));
    };
    let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
    if !signature_ok(&hook.secret, &body, signature) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong signature",
            Some(
                "sign the body with HMAC-SHA256 and the hook's secret: `X-Hub-Signature-256: sha256=HEX`",
            ),
        ));
    }
    let payload: Value = body_json(&body, r#"{"ref": "main"}"#)?;
    let params = hook
        .params(&payload)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e, None))?;
    start(api, hook.workflow, params).await
}

async fn metrics(State(api): State<Api>, _: Authed) -> Answer {
    let prices = api.prices.clone();
    let text = blocking(move || super::metrics::collect(&api.engine, &prices))
        .await?
        .map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
