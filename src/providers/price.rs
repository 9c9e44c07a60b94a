//! What a call cost: prices per model from the configuration, else from a small dated table of
//! common models. A model with no known price has an unknown cost, never a zero one.

use serde::{Deserialize, Serialize};

use super::types::Usage;

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Per million prompt tokens.
    pub input: f64,
    /// Per million answer tokens.
    pub output: f64,
}

impl Price {
    /// The cost of `usage` in US dollars.
    pub fn cost(&self, usage: Usage) -> f64 {
        (usage.input_tokens as f64 * self.input + usage.output_tokens as f64 * self.output)
            / 1_000_000.0
    }
}

/// When the built-in prices were copied from the vendors' price pages.
pub const TABLE_DATE: &str = "2026-01";

/// List prices of common models (USD per million tokens, standard tier, as of [`TABLE_DATE`]).
/// A model name matches an entry when it starts with it (`gpt-4o-mini-2024-07-18`), the longest
/// entry winning.
const TABLE: [(&str, f64, f64); 12] = [
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1", 2.00, 8.00),
    ("o4-mini", 1.10, 4.40),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-haiku-4-5", 1.00, 5.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
    ("gemini-2.5-flash", 0.30, 2.50),
    ("gemini-2.5-pro", 1.25, 10.00),
];

/// The price of `model`: the configured one (exact name) first, then the built-in table.
pub fn price_of(model: &str, configured: &indexmap::IndexMap<String, Price>) -> Option<Price> {
    if let Some(p) = configured.get(model) {
        return Some(*p);
    }
    let model = model.strip_prefix("models/").unwrap_or(model);
    TABLE
        .iter()
        .filter(|(name, _, _)| model.starts_with(name))
        .max_by_key(|(name, _, _)| name.len())
        .map(|&(_, input, output)| Price { input, output })
}

/// A cost for people: `$0.0123`, or `unknown`.
pub fn show_cost(cost: Option<f64>) -> String {
    match cost {
        Some(c) => format!("${c:.4}"),
        None => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    #[test]
    fn configured_prices_win_the_longest_table_prefix_matches_and_unknown_stays_unknown() {
        let mut configured = IndexMap::new();
        configured.insert(
            "gpt-4o".to_string(),
            Price {
                input: 1.0,
                output: 1.0,
            },
        );
        assert_eq!(price_of("gpt-4o", &configured).unwrap().input, 1.0);
        let mini = price_of("gpt-4o-mini-2024-07-18", &IndexMap::new()).unwrap();
        assert_eq!(mini.input, 0.15);
        assert_eq!(price_of("llama3.2", &IndexMap::new()), None);
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 500_000,
        };
        assert!((mini.cost(usage) - 0.45).abs() < 1e-9);
        assert_eq!(show_cost(None), "unknown");
    }
}
