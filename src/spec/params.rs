//! Resolving the params of one run: given values (from `-p key=value`, a form or a parent
//! workflow) checked against the declarations, defaults filled in.

use indexmap::IndexMap;
use serde_json::Value;

use super::diag::did_you_mean;
use super::types::{ParamSpec, Workflow};
use super::validate::json_text;

/// The values of every declared param for one run, in declaration order.
///
/// Defaults fill what is not given; a required param without a value, a value outside the
/// param's `enum` and a param that is not declared are errors. Text values (from `-p key=value`)
/// are read as a number or boolean when the param's default (or its enum) is one. A param with
/// neither a default nor `required` is `null` when not given. Every problem is reported, one per
/// line.
pub fn resolve_params(
    wf: &Workflow,
    given: &IndexMap<String, Value>,
) -> Result<IndexMap<String, Value>, String> {
    let mut problems = Vec::new();
    for name in given.keys() {
        if !wf.params.contains_key(name) {
            let hint = did_you_mean(name, wf.params.keys().map(String::as_str))
                .map(|h| format!("; {h}"))
                .unwrap_or_else(|| {
                    if wf.params.is_empty() {
                        format!("; workflow `{}` takes no params", wf.name)
                    } else {
                        let names: Vec<&str> = wf.params.keys().map(String::as_str).collect();
                        format!("; it takes: {}", names.join(", "))
                    }
                });
            problems.push(format!("unknown param `{name}`{hint}"));
        }
    }
    let mut out = IndexMap::with_capacity(wf.params.len());
    for (name, spec) in &wf.params {
        let value = match given.get(name) {
            Some(v) => match coerce(v, spec) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("param `{name}`: {e}"));
                    continue;
                }
            },
            None => match &spec.default {
                Some(d) => d.clone(),
                None if spec.required => {
                    let example = spec
                        .r#enum
                        .as_ref()
                        .and_then(|c| c.first())
                        .map(plain)
                        .unwrap_or_else(|| "VALUE".to_string());
                    problems.push(format!(
                        "param `{name}` is required; pass it with `-p {name}={example}`"
                    ));
                    continue;
                }
                None => Value::Null,
            },
        };
        if let Some(choices) = &spec.r#enum
            && !choices.contains(&value)
        {
            let shown: Vec<String> = choices.iter().map(json_text).collect();
            problems.push(format!(
                "param `{name}` is {}, which is not one of: {}",
                json_text(&value),
                shown.join(", ")
            ));
            continue;
        }
        out.insert(name.clone(), value);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("\n"))
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads a text value as the type the param expects (from its default, else its enum).
fn coerce(v: &Value, spec: &ParamSpec) -> Result<Value, String> {
    let Value::String(s) = v else {
        return Ok(v.clone());
    };
    let model = spec
        .default
        .as_ref()
        .or_else(|| spec.r#enum.as_ref().and_then(|c| c.first()));
    match model {
        Some(Value::Bool(_)) => match s.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            other => Err(format!("`{other}` is not true or false")),
        },
        Some(Value::Number(n)) => {
            let t = s.trim();
            if n.is_f64() {
                t.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| format!("`{t}` is not a number"))
            } else {
                t.parse::<i64>()
                    .map(Value::from)
                    .or_else(|_| {
                        t.parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map(Value::Number)
                            .ok_or(())
                    })
                    .map_err(|_| format!("`{t}` is not a number"))
            }
        }
        _ => Ok(v.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wf() -> Workflow {
        let mut w = crate::spec::dag::tests::wf(&[("a", &[])]);
        w.params.insert(
            "env".into(),
            ParamSpec {
                default: Some(json!("staging")),
                r#enum: Some(vec![json!("staging"), json!("prod")]),
                ..ParamSpec::default()
            },
        );
        w.params.insert(
            "replicas".into(),
            ParamSpec {
                default: Some(json!(2)),
                ..ParamSpec::default()
            },
        );
        w.params.insert(
            "dry_run".into(),
            ParamSpec {
                default: Some(json!(false)),
                ..ParamSpec::default()
            },
        );
        w.params.insert(
            "version".into(),
            ParamSpec {
                required: true,
                ..ParamSpec::default()
            },
        );
        w
    }

    fn given(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn defaults_fill_in_and_text_is_coerced_to_the_default_type() {
        let out = resolve_params(
            &wf(),
            &given(&[
                ("version", json!("1.2")),
                ("replicas", json!("5")),
                ("dry_run", json!("true")),
            ]),
        )
        .unwrap();
        assert_eq!(out["env"], json!("staging"));
        assert_eq!(out["replicas"], json!(5));
        assert_eq!(out["dry_run"], json!(true));
        assert_eq!(out["version"], json!("1.2"));
    }

    #[test]
    fn every_problem_is_reported() {
        let err = resolve_params(
            &wf(),
            &given(&[
                ("evn", json!("prod")),
                ("env", json!("dev")),
                ("replicas", json!("many")),
            ]),
        )
        .unwrap_err();
        assert!(
            err.contains("unknown param `evn`; did you mean `env`?"),
            "{err}"
        );
        assert!(
            err.contains("param `env` is `dev`, which is not one of: `staging`, `prod`"),
            "{err}"
        );
        assert!(err.contains("`many` is not a number"), "{err}");
        assert!(err.contains("param `version` is required"), "{err}");
    }
}
