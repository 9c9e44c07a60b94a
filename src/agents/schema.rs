//! A small JSON Schema validator for agent answers: `type`, `properties`, `required`, `enum`,
//! `const`, `items`, `minimum`/`maximum` (and the exclusive forms), `minLength`/`maxLength`,
//! `minItems`/`maxItems`, `additionalProperties`, `anyOf`/`oneOf`/`allOf`. Other keywords are
//! ignored, as JSON Schema requires of unknown ones.
//!
//! Messages name the place in JSONPath form and say what was expected, so they can be shown to
//! the operator and sent back to the model as they are: `$.risk must be one of low, medium, high`.

use serde_json::{Map, Value};

/// Checks that `schema` is something this validator can apply: an object (or `true`/`false`)
/// whose `type` names are JSON Schema types.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    fn walk(s: &Value, path: &str) -> Result<(), String> {
        let obj = match s {
            Value::Bool(_) => return Ok(()),
            Value::Object(o) => o,
            _ => return Err(format!("the schema at {path} must be an object")),
        };
        if let Some(t) = obj.get("type") {
            let names: Vec<&Value> = match t {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for n in names {
                match n.as_str() {
                    Some(
                        "null" | "boolean" | "object" | "array" | "number" | "integer" | "string",
                    ) => {}
                    _ => {
                        return Err(format!(
                            "the schema at {path} has type {n}; use null, boolean, object, array, \
                             number, integer or string"
                        ));
                    }
                }
            }
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                walk(v, &format!("{path}.properties.{k}"))?;
            }
        }
        if let Some(items) = obj.get("items") {
            walk(items, &format!("{path}.items"))?;
        }
        Ok(())
    }
    walk(schema, "$")
}

/// Every way `value` fails `schema` (object keys in sorted order); empty when it matches.
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, value, "$", &mut errors);
    errors
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn article(t: &str) -> String {
    match t {
        "null" => "null".to_string(),
        "integer" | "object" | "array" => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn child(path: &str, key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_string()))
    }
}

fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let s: &Map<String, Value> = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            errors.push(format!("{path} is not allowed here"));
            return;
        }
        Value::Object(o) => o,
        _ => return,
    };

    if let Some(t) = s.get("type") {
        let names: Vec<&str> = match t {
            Value::String(n) => vec![n.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !names.is_empty() && !names.iter().any(|n| has_type(value, n)) {
            let wanted: Vec<String> = names.iter().map(|n| article(n)).collect();
            errors.push(format!(
                "{path} must be {}, not {}",
                wanted.join(" or "),
                type_name(value)
            ));
            // Further keywords would only repeat the same mistake in other words.
            return;
        }
    }
    if let Some(allowed) = s.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(show).collect();
        errors.push(format!("{path} must be one of {}", list.join(", ")));
    }
    if let Some(c) = s.get("const")
        && c != value
    {
        errors.push(format!("{path} must be {}", show(c)));
    }

    if let Some(n) = value.as_f64() {
        let num = |k: &str| s.get(k).and_then(Value::as_f64);
        if let Some(min) = num("minimum")
            && n < min
        {
            errors.push(format!(
                "{path} must be at least {} (it is {})",
                fmt_num(min),
                fmt_num(n)
            ));
        }
        if let Some(max) = num("maximum")
            && n > max
        {
            errors.push(format!(
                "{path} must be at most {} (it is {})",
                fmt_num(max),
                fmt_num(n)
            ));
        }
        if let Some(min) = num("exclusiveMinimum")
            && n <= min
        {
            errors.push(format!(
                "{path} must be more than {} (it is {})",
                fmt_num(min),
                fmt_num(n)
            ));
        }
        if let Some(max) = num("exclusiveMaximum")
            && n >= max
        {
            errors.push(format!(
                "{path} must be less than {} (it is {})",
                fmt_num(max),
                fmt_num(n)
            ));
        }
    }

    if let Some(text) = value.as_str() {
        let len = text.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            errors.push(format!(
                "{path} must be at least {min} characters long (it has {len})"
            ));
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            errors.push(format!(
                "{path} must be at most {max} characters long (it has {len})"
            ));
        }
    }

    if let Some(items) = value.as_array() {
        let len = items.len() as u64;
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            errors.push(format!(
                "{path} must have at least {min} items (it has {len})"
            ));
        }
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
            && len > max
        {
            errors.push(format!(
                "{path} must have at most {max} items (it has {len})"
            ));
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item_schema, item, &format!("{path}[{i}]"), errors);
            }
        }
    }

    if let Some(obj) = value.as_object() {
        if let Some(required) = s.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(key) {
                    errors.push(format!("{path} is missing the required property `{key}`"));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (key, v) in obj {
            match props.and_then(|p| p.get(key)) {
                Some(prop_schema) => check(prop_schema, v, &child(path, key), errors),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!(
                        "{path} has the property `{key}`, which the schema does not allow"
                    )),
                    Some(extra @ Value::Object(_)) => check(extra, v, &child(path, key), errors),
                    _ => {}
                },
            }
        }
    }

    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(sub, value, path, errors);
        }
    }
    for (key, exactly_one) in [("anyOf", false), ("oneOf", true)] {
        if let Some(options) = s.get(key).and_then(Value::as_array) {
            let matching = options
                .iter()
                .filter(|o| validate_at(o, value, path).is_empty())
                .count();
            if matching == 0 {
                let first = options
                    .first()
                    .map(|o| validate_at(o, value, path).join("; "))
                    .unwrap_or_default();
                errors.push(format!(
                    "{path} matches none of the {} allowed shapes (first: {first})",
                    options.len()
                ));
            } else if exactly_one && matching > 1 {
                errors.push(format!(
                    "{path} matches {matching} shapes of a oneOf; exactly one must match"
                ));
            }
        }
    }
}

fn validate_at(schema: &Value, value: &Value, path: &str) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, value, path, &mut errors);
    errors
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review_schema() -> Value {
        json!({
            "type": "object",
            "required": ["risk", "findings"],
            "additionalProperties": false,
            "properties": {
                "risk": {"enum": ["low", "medium", "high"]},
                "score": {"type": "integer", "minimum": 0, "maximum": 10},
                "summary": {"type": "string", "minLength": 3, "maxLength": 10},
                "findings": {"type": "array", "items": {"type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string"}}}}
            }
        })
    }

    #[test]
    fn a_matching_answer_has_no_errors() {
        let v =
            json!({"risk": "low", "score": 3, "summary": "fine", "findings": [{"file": "a.rs"}]});
        assert!(validate(&review_schema(), &v).is_empty());
    }

    #[test]
    fn each_keyword_reports_its_place_and_expectation() {
        let v = json!({"risk": "severe", "score": 11, "summary": "no", "findings": [{"line": 3}, 7], "extra": 1});
        assert_eq!(
            validate(&review_schema(), &v),
            vec![
                "$ has the property `extra`, which the schema does not allow",
                "$.findings[0] is missing the required property `file`",
                "$.findings[1] must be an object, not an integer",
                "$.risk must be one of low, medium, high",
                "$.score must be at most 10 (it is 11)",
                "$.summary must be at least 3 characters long (it has 2)",
            ]
        );
    }

    #[test]
    fn missing_required_properties_are_named() {
        assert_eq!(
            validate(&review_schema(), &json!({"risk": "low"})),
            vec!["$ is missing the required property `findings`"]
        );
    }

    #[test]
    fn integers_numbers_and_type_unions_are_told_apart() {
        assert!(validate(&json!({"type": "integer"}), &json!(3.0)).is_empty());
        assert_eq!(
            validate(&json!({"type": "integer"}), &json!(3.5)),
            vec!["$ must be an integer, not a number"]
        );
        assert!(validate(&json!({"type": ["string", "null"]}), &json!(null)).is_empty());
        assert_eq!(
            validate(&json!({"type": "number", "exclusiveMinimum": 0}), &json!(0)),
            vec!["$ must be more than 0 (it is 0)"]
        );
    }

    #[test]
    fn additional_properties_may_be_a_schema_and_odd_keys_are_quoted() {
        let s = json!({"type": "object", "additionalProperties": {"type": "number"}});
        assert_eq!(
            validate(&s, &json!({"a b": "x"})),
            vec!["$[\"a b\"] must be a number, not a string"]
        );
    }

    #[test]
    fn any_of_and_one_of_need_matching_branches() {
        let s = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
        assert!(validate(&s, &json!(1)).is_empty());
        assert_eq!(validate(&s, &json!(true)).len(), 1);
        let s = json!({"oneOf": [{"type": "number"}, {"type": "integer"}]});
        assert_eq!(validate(&s, &json!(1)).len(), 1);
    }

    #[test]
    fn schemas_with_unknown_type_names_are_refused() {
        assert!(check_schema(&review_schema()).is_ok());
        let e = check_schema(&json!({"properties": {"a": {"type": "text"}}})).unwrap_err();
        assert!(e.contains("$.properties.a"), "{e}");
        assert!(check_schema(&json!("object")).is_err());
    }
}
