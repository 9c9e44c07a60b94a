//! A strict reader of Prometheus' text exposition format (0.0.4): every line is a `# HELP`, a
//! `# TYPE` declared once and before its samples, or a sample of a declared family with
//! well-formed labels and a number; histograms have rising buckets ending in `+Inf` = `_count`.
//! Anything else is an error naming the line.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

fn value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t => t
            .parse()
            .ok()
            .filter(|_| !t.eq_ignore_ascii_case("inf") && !t.contains("inf")),
    }
}

fn labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or("a label without `=`")?;
        let name = &rest[..eq];
        if !is_name(name, false) {
            return Err(format!("bad label name `{name}`"));
        }
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err("a label value must be quoted".into());
        }
        let mut val = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('\\') => val.push('\\'),
                    Some('"') => val.push('"'),
                    Some('n') => val.push('\n'),
                    other => return Err(format!("bad escape `\\{other:?}`")),
                },
                '"' => {
                    end = Some(eq + 1 + i + 1);
                    break;
                }
                '\n' => return Err("a raw newline in a label value".into()),
                c => val.push(c),
            }
        }
        let end = end.ok_or("an unterminated label value")?;
        if out.insert(name.to_string(), val).is_some() {
            return Err(format!("label `{name}` twice"));
        }
        rest = &rest[end..];
        rest = match rest.strip_prefix(',') {
            Some(r) => r,
            None if rest.is_empty() => rest,
            None => return Err(format!("expected `,` before `{rest}`")),
        };
    }
    Ok(out)
}

/// The family a sample belongs to: its name, or a histogram's name before `_bucket`/`_sum`/`_count`.
fn family<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
    })
}

/// Parses a whole exposition.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    if !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    for (n, line) in text.lines().enumerate() {
        let at = |why: String| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(comment) = line.strip_prefix('#') {
            let parts: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
            match parts.as_slice() {
                ["TYPE", name, kind] => {
                    if !is_name(name, true) {
                        return Err(at("a bad metric name".into()));
                    }
                    if !matches!(
                        *kind,
                        "counter" | "gauge" | "histogram" | "summary" | "untyped"
                    ) {
                        return Err(at(format!("unknown type `{kind}`")));
                    }
                    if types.insert(name.to_string(), kind.to_string()).is_some() {
                        return Err(at("a second TYPE for one family".into()));
                    }
                }
                ["HELP", name, ..] if is_name(name, true) => {}
                ["HELP", ..] => return Err(at("a bad HELP line".into())),
                _ => {}
            }
            continue;
        }
        if line.trim().is_empty() {
            return Err(at("an empty line".into()));
        }
        let (head, tail) = match line.find('{') {
            Some(open) => {
                let close = line
                    .rfind('}')
                    .ok_or_else(|| at("an unclosed `{`".into()))?;
                (
                    (&line[..open], labels(&line[open + 1..close]).map_err(at)?),
                    &line[close + 1..],
                )
            }
            None => {
                let space = line
                    .find(' ')
                    .ok_or_else(|| at("a sample without a value".into()))?;
                ((&line[..space], BTreeMap::new()), &line[space..])
            }
        };
        let (name, labels) = head;
        if !is_name(name, true) {
            return Err(at("a bad metric name".into()));
        }
        if family(name, &types).is_none() {
            return Err(at(format!("`{name}` has no TYPE before it")));
        }
        let fields: Vec<&str> = tail.split_ascii_whitespace().collect();
        let ok_stamp = fields.get(1).is_none_or(|t| t.parse::<i64>().is_ok());
        let v = match fields.as_slice() {
            [v] | [v, _] if ok_stamp => {
                value(v).ok_or_else(|| at(format!("`{v}` is not a number")))?
            }
            _ => return Err(at("expected a value and at most a timestamp".into())),
        };
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value: v,
        });
    }
    check_histograms(&samples, &types)?;
    Ok(samples)
}

/// A histogram's labels other than `le`.
type Series = Vec<(String, String)>;

fn check_histograms(samples: &[Sample], types: &HashMap<String, String>) -> Result<(), String> {
    for (name, _) in types.iter().filter(|(_, k)| *k == "histogram") {
        let bucket = format!("{name}_bucket");
        let mut series: BTreeMap<Series, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == bucket) {
            let le = s.labels.get("le").ok_or(format!("{bucket} without `le`"))?;
            let le = value(le).ok_or(format!("{bucket}: `le` {le} is not a number"))?;
            let rest: Vec<(String, String)> = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            series.entry(rest).or_default().push((le, s.value));
        }
        for (rest, buckets) in series {
            if !buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
            {
                return Err(format!("{bucket} {rest:?}: buckets do not rise"));
            }
            let count = samples
                .iter()
                .find(|s| {
                    s.name == format!("{name}_count")
                        && s.labels
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect::<Vec<_>>()
                            == rest
                })
                .ok_or(format!("{name} {rest:?} has no _count"))?;
            match buckets.last() {
                Some((le, n)) if le.is_infinite() && *n == count.value => {}
                _ => return Err(format!("{bucket} {rest:?}: no +Inf bucket equal to _count")),
            }
        }
    }
    Ok(())
}

/// The value of the one sample named `name` with exactly `labels`.
pub fn get(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map(|s| s.value)
}
