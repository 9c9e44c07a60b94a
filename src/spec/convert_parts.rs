//! The parts of a step that have a shape of their own: the `http`, `approval`, `transform` and
//! `workflow` kinds (each with its shorthand), `cache` and `rate_limit`.

use indexmap::IndexMap;

use super::duration::{Dur, parse_duration};
use super::node::{Node, Value};
use super::reader::{Reader, Table};
use super::types::{
    ApprovalInput, ApprovalSpec, CacheSpec, HttpBody, HttpSpec, OnTimeout, RateLimit, StepPos,
    SubWorkflowSpec, TransformSpec,
};

/// HTTP methods a step may use.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

pub(super) fn convert_http(r: &mut Reader<'_>, node: &Node, pos: &mut StepPos) -> Option<HttpSpec> {
    match &node.value {
        Value::Str(url) => Some(HttpSpec {
            method: "GET".into(),
            url: url.to_string(),
            headers: IndexMap::new(),
            body: None,
            expect: Vec::new(),
        }),
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let method = match t.get(r, "method", &[]) {
                Some(n) => {
                    let m = r
                        .string(n, "http.method", "method: POST")?
                        .to_ascii_uppercase();
                    if !METHODS.contains(&m.as_str()) {
                        r.error(
                            n.pos,
                            format!("`{m}` is not an HTTP method baton sends"),
                            Some(format!("use one of {}", METHODS.join(", "))),
                        );
                    }
                    m
                }
                None => "GET".to_string(),
            };
            let url = match t.get(r, "url", &[]) {
                Some(n) => {
                    pos.body = n.pos;
                    r.non_empty_string(n, "http.url", "url: https://example.com/health")
                }
                None => {
                    r.error(
                        node.pos,
                        "the `http` request has no `url`",
                        Some("add `url: https://...`".into()),
                    );
                    None
                }
            };
            let headers = match t.get(r, "headers", &[]) {
                Some(n) => {
                    let (h, places) =
                        r.string_map(n, "http.headers", "headers: { Accept: application/json }");
                    for (k, p) in places {
                        pos.fields.insert(format!("headers.{k}"), p);
                    }
                    h
                }
                None => IndexMap::new(),
            };
            let body = t.get(r, "body", &["json"]).and_then(|n| {
                pos.fields.insert("body".into(), n.pos);
                match &n.value {
                    Value::Null => None,
                    Value::Str(s) => Some(HttpBody::Text(s.to_string())),
                    other => Some(HttpBody::Json(other.to_json())),
                }
            });
            let expect = match t.get(r, "expect", &["status"]) {
                Some(n) => {
                    let items: Vec<&Node> = match &n.value {
                        Value::Seq(items) => items.iter().collect(),
                        _ => vec![n],
                    };
                    items
                        .into_iter()
                        .filter_map(|i| r.int(i, "http.expect", 100, 599))
                        .filter_map(|c| u16::try_from(c).ok())
                        .collect()
                }
                None => Vec::new(),
            };
            t.finish(r, "`http`");
            Some(HttpSpec {
                method,
                url: url?,
                headers,
                body,
                expect,
            })
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`http` must be a URL or a request mapping, not {}",
                    other.type_name()
                ),
                Some(
                    "write `http: https://example.com` or `http: { method: POST, url: ... }`"
                        .into(),
                ),
            );
            None
        }
    }
}

pub(super) fn convert_approval(
    r: &mut Reader<'_>,
    node: &Node,
    pos: &mut StepPos,
    label: &str,
) -> Option<ApprovalSpec> {
    let default_prompt = format!("Approve `{label}`?");
    match &node.value {
        Value::Str(prompt) => Some(ApprovalSpec {
            prompt: prompt.to_string(),
            inputs: IndexMap::new(),
            timeout: None,
            on_timeout: OnTimeout::Reject,
        }),
        Value::Null => Some(ApprovalSpec {
            prompt: default_prompt,
            inputs: IndexMap::new(),
            timeout: None,
            on_timeout: OnTimeout::Reject,
        }),
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let prompt = match t.get(r, "prompt", &["message"]) {
                Some(n) => {
                    pos.body = n.pos;
                    r.string(n, "approval.prompt", "prompt: Deploy?")
                }
                None => Some(default_prompt),
            };
            let mut inputs = IndexMap::new();
            if let Some(n) = t.get(r, "inputs", &[])
                && let Some(fields) =
                    r.map(n, "approval.inputs", "inputs: { reason: { default: ok } }")
            {
                for (k, v) in fields {
                    let what = format!("approval.inputs.{}", k.name);
                    let input = convert_input(r, v, &what);
                    if let Some(input) = input {
                        pos.fields.insert(format!("inputs.{}", k.name), v.pos);
                        inputs.insert(k.name.to_string(), input);
                    }
                }
            }
            let timeout = t
                .get(r, "timeout", &[])
                .and_then(|n| r.duration(n, "approval.timeout"));
            let on_timeout = match t.get(r, "on_timeout", &["onTimeout"]) {
                Some(n) => match r
                    .string(n, "approval.on_timeout", "on_timeout: reject")
                    .as_deref()
                {
                    Some("reject") => OnTimeout::Reject,
                    Some("approve") => OnTimeout::Approve,
                    Some(other) => {
                        r.error(
                            n.pos,
                            format!("`on_timeout` is `{other}`; it must be `reject` or `approve`"),
                            super::diag::did_you_mean(other, ["reject", "approve"]).or_else(|| {
                                Some("write `on_timeout: reject` or `on_timeout: approve`".into())
                            }),
                        );
                        OnTimeout::Reject
                    }
                    None => OnTimeout::Reject,
                },
                None => OnTimeout::Reject,
            };
            t.finish(r, "`approval`");
            Some(ApprovalSpec {
                prompt: prompt?,
                inputs,
                timeout,
                on_timeout,
            })
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`approval` must be a question or a mapping, not {}",
                    other.type_name()
                ),
                Some(
                    "write `approval: Deploy?` or `approval: { prompt: Deploy?, timeout: 1h }`"
                        .into(),
                ),
            );
            None
        }
    }
}

fn convert_input(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<ApprovalInput> {
    match &node.value {
        Value::Map(fields) => {
            let mut t = Table::new(fields);
            let default = t
                .get(r, "default", &[])
                .and_then(|n| r.string(n, &format!("{what}.default"), "default: ok"));
            let description = t
                .get(r, "description", &[])
                .and_then(|n| r.string(n, &format!("{what}.description"), "description: Why"));
            let choices = t.get(r, "enum", &["choices"]).and_then(|n| {
                r.string_list(n, &format!("{what}.enum"), "enum: [a, b]")
                    .map(|v| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>())
            });
            if let (Some(d), Some(choices), Some(n)) = (&default, &choices, t.has("default"))
                && !d.contains("{{")
                && !choices.contains(d)
            {
                r.error(
                    n.pos,
                    format!("the default `{d}` of `{what}` is not one of its `enum` values"),
                    Some(format!("use one of: {}", choices.join(", "))),
                );
            }
            t.finish(r, format_args!("`{what}`"));
            Some(ApprovalInput {
                default,
                description,
                r#enum: choices,
            })
        }
        Value::Seq(_) => {
            r.error(
                node.pos,
                format!("`{what}` must be a default value or a mapping, not a list"),
                Some("write `name: { default: a, enum: [a, b] }`".into()),
            );
            None
        }
        Value::Null => Some(ApprovalInput::default()),
        _ => r.string(node, what, "reason: ok").map(|d| ApprovalInput {
            default: Some(d),
            ..ApprovalInput::default()
        }),
    }
}

pub(super) fn convert_transform(r: &mut Reader<'_>, node: &Node) -> Option<TransformSpec> {
    match &node.value {
        Value::Str(s) => Some(TransformSpec::Template(s.to_string())),
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let template = t.take(r, "template", &[]);
            let expr = t.take(r, "expr", &["expression"]);
            let value = t.take(r, "value", &[]);
            t.finish(r, "`transform`");
            let given: Vec<_> = [template, expr, value].into_iter().flatten().collect();
            match given.as_slice() {
                [] => {
                    r.error(
                        node.pos,
                        "`transform` has none of `template`, `expr` or `value`",
                        Some("write `transform: { expr: steps.a.output.items | length }`".into()),
                    );
                    None
                }
                [(k, n)] => match k.name {
                    "template" => r
                        .string(n, "transform.template", "template: \"{{ params.x }}\"")
                        .map(TransformSpec::Template),
                    "value" => Some(TransformSpec::Value(n.value.to_json())),
                    _ => r
                        .non_empty_string(n, "transform.expr", "expr: steps.a.output | length")
                        .map(TransformSpec::Expr),
                },
                [_, (k, _), ..] => {
                    r.error(
                        k.pos,
                        "`transform` takes one of `template`, `expr` or `value`, not several",
                        Some("keep one; split the rest into another transform step".into()),
                    );
                    None
                }
            }
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`transform` must be a template or a mapping, not {}",
                    other.type_name()
                ),
                Some("for a literal value write `transform: { value: ... }`".into()),
            );
            None
        }
    }
}

pub(super) fn convert_sub_workflow(
    r: &mut Reader<'_>,
    node: &Node,
    pos: &mut StepPos,
) -> Option<SubWorkflowSpec> {
    match &node.value {
        Value::Str(path) if !path.trim().is_empty() => Some(SubWorkflowSpec {
            path: path.to_string(),
            params: IndexMap::new(),
        }),
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let path = match t.get(r, "path", &["file", "uses"]) {
                Some(n) => {
                    pos.body = n.pos;
                    r.non_empty_string(n, "workflow.path", "path: ./build.yaml")
                }
                None => {
                    r.error(
                        node.pos,
                        "the `workflow` call has no `path`",
                        Some("add `path: ./other.yaml` (relative to this file)".into()),
                    );
                    None
                }
            };
            let mut params = IndexMap::new();
            if let Some(n) = t.get(r, "params", &["with"])
                && let Some(fields) = r.map(n, "workflow.params", "params: { env: prod }")
            {
                for (k, v) in fields {
                    pos.fields.insert(format!("params.{}", k.name), v.pos);
                    params.insert(k.name.to_string(), v.value.to_json());
                }
            }
            t.finish(r, "`workflow`");
            Some(SubWorkflowSpec {
                path: path?,
                params,
            })
        }
        other => {
            r.error(
                node.pos,
                format!("`workflow` must be a path or a mapping, not {}", other.type_name()),
                Some("write `workflow: ./build.yaml` or `workflow: { path: ./build.yaml, params: {...} }`".into()),
            );
            None
        }
    }
}

pub(super) fn convert_cache(
    r: &mut Reader<'_>,
    node: &Node,
    pos: &mut StepPos,
) -> Option<CacheSpec> {
    match &node.value {
        Value::Bool(true) => Some(CacheSpec {
            key: None,
            ttl: None,
        }),
        Value::Bool(false) | Value::Null => None,
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let key = t.get(r, "key", &[]).and_then(|n| {
                pos.fields.insert("cache.key".into(), n.pos);
                r.non_empty_string(n, "cache.key", "key: build-{{ params.rev }}")
            });
            let ttl = t
                .get(r, "ttl", &[])
                .and_then(|n| r.duration(n, "cache.ttl"));
            t.finish(r, "`cache`");
            Some(CacheSpec { key, ttl })
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`cache` must be true, false or a mapping, not {}",
                    other.type_name()
                ),
                Some("write `cache: true` or `cache: { key: ..., ttl: 1h }`".into()),
            );
            None
        }
    }
}

pub(super) fn convert_rate_limit(
    r: &mut Reader<'_>,
    node: &Node,
    pos: &mut StepPos,
) -> Option<RateLimit> {
    match &node.value {
        Value::Str(s) => match parse_rate(s) {
            Ok((max, per)) => Some(RateLimit {
                key: None,
                max,
                per,
            }),
            Err(why) => {
                r.error(
                    node.pos,
                    format!("`rate_limit` `{s}` is not a rate: {why}"),
                    Some("write it like `10/1m` (10 starts per minute) or `1/s`".into()),
                );
                None
            }
        },
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let key = t.get(r, "key", &[]).and_then(|n| {
                pos.fields.insert("rate_limit.key".into(), n.pos);
                r.non_empty_string(n, "rate_limit.key", "key: github-api")
            });
            let max = match t.get(r, "max", &["limit"]) {
                Some(n) => r.int(n, "rate_limit.max", 1, i64::from(u32::MAX)),
                None => {
                    r.error(
                        node.pos,
                        "`rate_limit` has no `max`",
                        Some("add `max: 10`".into()),
                    );
                    None
                }
            };
            let per = match t.get(r, "per", &["period"]) {
                Some(n) => r.duration(n, "rate_limit.per"),
                None => {
                    r.error(
                        node.pos,
                        "`rate_limit` has no `per`",
                        Some("add `per: 1m`".into()),
                    );
                    None
                }
            };
            t.finish(r, "`rate_limit`");
            if let Some(Dur(d)) = per
                && d.is_zero()
            {
                r.error(
                    node.pos,
                    "`rate_limit.per` must be longer than zero",
                    Some("write a period like `per: 1m`".into()),
                );
                return None;
            }
            Some(RateLimit {
                key,
                max: u32::try_from(max?).ok()?,
                per: per?,
            })
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`rate_limit` must be a rate like `10/1m` or a mapping, not {}",
                    other.type_name()
                ),
                Some(
                    "write `rate_limit: 10/1m` or `rate_limit: { key: api, max: 10, per: 1m }`"
                        .into(),
                ),
            );
            None
        }
    }
}

/// Reads `10/1m`, `5/30s`, `1/s` (a unit alone means one of it).
pub fn parse_rate(s: &str) -> Result<(u32, Dur), String> {
    let (max, per) = s
        .split_once('/')
        .ok_or_else(|| "there is no `/` between the count and the period".to_string())?;
    let max: u32 = max
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a whole number", max.trim()))?;
    if max == 0 {
        return Err("the count must be at least 1".into());
    }
    let per = per.trim();
    let per = if per.starts_with(|c: char| c.is_ascii_alphabetic()) {
        parse_duration(&format!("1{per}"))
    } else {
        parse_duration(per)
    }
    .map_err(|e| e.to_string())?;
    if per.is_zero() {
        return Err("the period must be longer than zero".into());
    }
    Ok((max, Dur(per)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_read_with_and_without_a_number_before_the_unit() {
        assert_eq!(parse_rate("10/1m"), Ok((10, Dur(Duration::from_secs(60)))));
        assert_eq!(parse_rate("1/s"), Ok((1, Dur(Duration::from_secs(1)))));
        assert!(parse_rate("10").is_err());
        assert!(parse_rate("0/1m").is_err());
        assert!(parse_rate("x/1m").is_err());
        assert!(parse_rate("5/0s").is_err());
    }
}
