//! JSON Schema (draft 2020-12) for agent answers, through the `jsonschema` crate: every keyword,
//! `$ref` within the schema, `pattern`, and `format` checked (not only annotated). References to
//! other documents are not fetched (the crate is built without its file and HTTP resolvers), so
//! such a schema is refused before any call is made.
//!
//! Messages name the place in JSONPath form and say what is wrong, so they can be shown to the
//! operator and sent back to the model as they are: `$.risk: "severe" is not one of ...`.

use serde_json::Value;

fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| {
            let at = json_path(&e.instance_path().to_string());
            format!("the schema at {at} is not valid JSON Schema (draft 2020-12): {e}")
        })
}

/// Checks that `schema` is a usable draft 2020-12 schema (it is itself checked against the
/// meta-schema, and every `$ref` must resolve).
pub fn check_schema(schema: &Value) -> Result<(), String> {
    compile(schema).map(|_| ())
}

/// Every way `value` fails `schema`, in the order the schema finds them; empty when it matches.
/// An unusable schema is one error (see [`check_schema`]).
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let validator = match compile(schema) {
        Ok(v) => v,
        Err(e) => return vec![e],
    };
    validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", json_path(&e.instance_path().to_string())))
        .collect()
}

/// A JSON Pointer (`/findings/0/a b`) as a JSONPath (`$.findings[0]["a b"]`), which reads
/// better in a message.
fn json_path(pointer: &str) -> String {
    let mut out = String::from("$");
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        let plain = seg
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else if plain {
            out.push('.');
            out.push_str(&seg);
        } else {
            out.push_str(&format!("[{}]", Value::String(seg)));
        }
    }
    out
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
                "findings": {"type": "array", "items": {"$ref": "#/$defs/finding"}}
            },
            "$defs": {
                "finding": {"type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "pattern": "^[a-z/]+\\.rs$"}}}
            }
        })
    }

    #[test]
    fn a_matching_answer_has_no_errors() {
        let v =
            json!({"risk": "low", "score": 3, "summary": "fine", "findings": [{"file": "a.rs"}]});
        assert_eq!(validate(&review_schema(), &v), Vec::<String>::new());
    }

    #[test]
    fn each_keyword_reports_its_place_and_expectation() {
        let v = json!({"risk": "severe", "score": 11, "summary": "no", "findings": [{"line": 3}, 7], "extra": 1});
        let errors = validate(&review_schema(), &v);
        let has = |start: &str, text: &str| {
            errors
                .iter()
                .any(|e| e.starts_with(start) && e.contains(text))
        };
        assert!(has("$: ", "extra"), "{errors:#?}");
        assert!(
            has("$.findings[0]: ", "\"file\" is a required property"),
            "{errors:#?}"
        );
        assert!(
            has("$.findings[1]: ", "is not of type \"object\""),
            "{errors:#?}"
        );
        assert!(has("$.risk: ", "\"severe\""), "{errors:#?}");
        assert!(has("$.score: ", "maximum of 10"), "{errors:#?}");
        assert!(has("$.summary: ", "shorter than 3"), "{errors:#?}");
        assert_eq!(errors.len(), 6, "{errors:#?}");
    }

    #[test]
    fn pattern_ref_and_format_are_enforced() {
        // The hand-written subset this replaced let all three through.
        let bad_file = json!({"risk": "low", "findings": [{"file": "A.txt"}]});
        let errors = validate(&review_schema(), &bad_file);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("$.findings[0].file: "), "{errors:#?}");
        assert!(errors[0].contains("does not match"), "{errors:#?}");
        let s = json!({"type": "object", "properties": {"at": {"type": "string", "format": "date-time"},
            "mail": {"type": "string", "format": "email"}}});
        assert!(validate(&s, &json!({"at": "2026-11-30T10:00:00Z", "mail": "a@b.c"})).is_empty());
        let errors = validate(&s, &json!({"at": "yesterday", "mail": "nobody"}));
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors.iter().any(|e| e.contains("date-time")),
            "{errors:#?}"
        );
    }

    #[test]
    fn odd_keys_are_quoted_in_the_path() {
        let s = json!({"type": "object", "additionalProperties": {"type": "number"}});
        let errors = validate(&s, &json!({"a b": "x"}));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("$[\"a b\"]: "), "{errors:#?}");
    }

    #[test]
    fn unusable_schemas_are_refused() {
        assert!(check_schema(&review_schema()).is_ok());
        let e = check_schema(&json!({"properties": {"a": {"type": "text"}}})).unwrap_err();
        assert!(e.contains("not valid JSON Schema"), "{e}");
        assert!(check_schema(&json!("object")).is_err());
        let e = check_schema(&json!({"$ref": "#/$defs/missing"})).unwrap_err();
        assert!(e.contains("missing"), "{e}");
        assert!(check_schema(&json!({"$ref": "https://example.com/s.json"})).is_err());
    }
}
