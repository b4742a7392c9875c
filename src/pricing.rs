//! What a reply cost: list prices of common OpenAI models per million tokens, overridable and
//! extendable by a TOML file (`OPSCHAT_PRICES`). The cost is worked out when the reply is
//! stored and kept with it, so a later price change does not rewrite the past. The offline
//! analyst and models nobody priced (a local Ollama or llama.cpp model) cost nothing.

use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::path::Path;

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    /// Prompt tokens the provider served from its cache; `input` when not given.
    #[serde(default)]
    pub cached_input: Option<f64>,
    pub output: f64,
}

/// OpenAI's list prices (USD per million tokens: input, cached input, output) when this table
/// was written; a price file corrects them without a release.
const BUILT_IN: &[(&str, f64, Option<f64>, f64)] = &[
    ("gpt-5", 1.25, Some(0.125), 10.00),
    ("gpt-5-mini", 0.25, Some(0.025), 2.00),
    ("gpt-5-nano", 0.05, Some(0.005), 0.40),
    ("gpt-4.1", 2.00, Some(0.50), 8.00),
    ("gpt-4.1-mini", 0.40, Some(0.10), 1.60),
    ("gpt-4.1-nano", 0.10, Some(0.025), 0.40),
    ("gpt-4o", 2.50, Some(1.25), 10.00),
    ("gpt-4o-mini", 0.15, Some(0.075), 0.60),
    ("o3", 2.00, Some(0.50), 8.00),
    ("o3-mini", 1.10, Some(0.55), 4.40),
    ("o4-mini", 1.10, Some(0.275), 4.40),
    ("gpt-4-turbo", 10.00, None, 30.00),
    ("gpt-4", 30.00, None, 60.00),
    ("gpt-3.5-turbo", 0.50, None, 1.50),
];

/// The price list in force.
#[derive(Debug, Clone)]
pub struct Prices {
    models: BTreeMap<String, Price>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    #[serde(default)]
    models: BTreeMap<String, Price>,
}

impl Default for Prices {
    fn default() -> Self {
        Self::built_in()
    }
}

impl Prices {
    /// The built-in list.
    pub fn built_in() -> Self {
        let models = BUILT_IN
            .iter()
            .map(|&(name, input, cached_input, output)| {
                (
                    name.to_string(),
                    Price {
                        input,
                        cached_input,
                        output,
                    },
                )
            })
            .collect();
        Self { models }
    }

    /// The built-in list with a price file's models on top (replacing or adding):
    ///
    /// ```toml
    /// [models."gpt-4o"]
    /// input = 2.50          # USD per million prompt tokens
    /// cached_input = 1.25   # optional
    /// output = 10.00
    /// ```
    pub fn with_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the price file {}", path.display()))?;
        Self::with_toml(&text).with_context(|| format!("the price file {}", path.display()))
    }

    /// The built-in list with the models of a price file's text on top.
    pub fn with_toml(text: &str) -> anyhow::Result<Self> {
        let file: PriceFile = toml::from_str(text)?;
        let mut prices = Self::built_in();
        for (name, price) in file.models {
            let name = name.trim().to_string();
            if name.is_empty() {
                bail!("a model has an empty name");
            }
            let all = [Some(price.input), price.cached_input, Some(price.output)];
            if all.into_iter().flatten().any(|p| !p.is_finite() || p < 0.0) {
                bail!("the prices of {name} must be zero or more");
            }
            prices.models.insert(name, price);
        }
        Ok(prices)
    }

    /// The price of a model: its own, or that of the longest listed name it is a dated or
    /// suffixed version of (`gpt-4o-2024-08-06` is priced as `gpt-4o`).
    pub fn price(&self, model: &str) -> Option<&Price> {
        if let Some(p) = self.models.get(model) {
            return Some(p);
        }
        self.models
            .iter()
            .filter(|(name, _)| {
                model
                    .strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, p)| p)
    }

    /// The cost in US dollars of one call; 0 for a model without a price.
    pub fn cost(&self, model: &str, prompt: i32, cached: i32, completion: i32) -> f64 {
        let Some(p) = self.price(model) else {
            return 0.0;
        };
        let cached = cached.clamp(0, prompt.max(0));
        let fresh = prompt.max(0) - cached;
        let dollars = f64::from(fresh) * p.input
            + f64::from(cached) * p.cached_input.unwrap_or(p.input)
            + f64::from(completion.max(0)) * p.output;
        dollars / 1_000_000.0
    }

    /// Every priced model, by name.
    pub fn list(&self) -> impl Iterator<Item = (&str, &Price)> {
        self.models.iter().map(|(n, p)| (n.as_str(), p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_versions_take_the_longest_listed_name() {
        let p = Prices::built_in();
        assert_eq!(p.price("gpt-4o-2024-08-06").unwrap().input, 2.50);
        assert_eq!(p.price("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
        assert_eq!(p.price("gpt-4.1-mini").unwrap().output, 1.60);
        assert!(p.price("gpt-4oops").is_none());
        assert!(p.price("opschat-local").is_none());
        assert!(p.price("llama3.1:8b").is_none());
    }

    #[test]
    fn cost_splits_cached_prompt_tokens() {
        let p = Prices::built_in();
        // 1,000 prompt tokens of which 400 cached, 500 completion tokens on gpt-4o:
        // 600 * 2.50 + 400 * 1.25 + 500 * 10.00 = 7,000 dollars per million.
        let c = p.cost("gpt-4o", 1000, 400, 500);
        assert!((c - 0.007).abs() < 1e-12, "{c}");
        // No cached price: cached tokens cost the input price.
        let c = p.cost("gpt-4-turbo", 1000, 400, 0);
        assert!((c - 0.01).abs() < 1e-12, "{c}");
        assert_eq!(p.cost("opschat-local", 1000, 0, 1000), 0.0);
    }

    #[test]
    fn a_price_file_replaces_and_adds() {
        let p = Prices::with_toml(
            "[models.\"gpt-4o\"]\ninput = 5.0\noutput = 15.0\n\
             [models.\"llama3.1:70b\"]\ninput = 0.1\ncached_input = 0.0\noutput = 0.2\n",
        )
        .unwrap();
        assert_eq!(p.price("gpt-4o").unwrap().input, 5.0);
        assert_eq!(p.price("gpt-4o").unwrap().cached_input, None);
        assert_eq!(p.price("llama3.1:70b").unwrap().output, 0.2);
        assert_eq!(p.price("gpt-4o-mini").unwrap().input, 0.15, "others stay");
        for bad in [
            "[models.\"x\"]\ninput = -1.0\noutput = 1.0\n",
            "[models.\"x\"]\ninput = 1.0\n",
            "[models.\"x\"]\ninput = 1.0\noutput = 1.0\nextra = 2\n",
            "models = 3",
            "[model.\"x\"]\ninput = 1.0\noutput = 1.0\n",
        ] {
            assert!(Prices::with_toml(bad).is_err(), "{bad}");
        }
    }
}
