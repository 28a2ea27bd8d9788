//! `[[expect]]` tables as written (serde types) and their validation into [`Expectation`]s,
//! against the names of the experiment's policies. Knows nothing of the scenario beyond those.

use serde::Deserialize;
use toml::Spanned;

use super::bound::Bound;
use super::{By, Expectation};
use crate::scenario::ConfigError;

/// Most seeds an expectation may ask for.
pub const MAX_EXPECT_SEEDS: u32 = 1000;

/// `[[expect]]`: bounds on a policy's results, for `autosim check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// A policy name or a list of them; omitted: every policy.
    #[serde(default)]
    pub policy: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub seeds: Option<Spanned<u32>>,
    #[serde(default)]
    pub by: Option<Spanned<By>>,
    #[serde(default)]
    pub confidence: Option<Spanned<f64>>,
    pub checks: Spanned<Vec<Spanned<String>>>,
}

/// A file of expectations only (`autosim check --expect FILE`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectFile {
    expect: Vec<Spanned<RawExpect>>,
}

/// Validate `[[expect]]` tables; `policies` are the names of the experiment's policies.
pub fn validate(list: Vec<Spanned<RawExpect>>, policies: &[&str]) -> Result<Vec<Expectation>, ConfigError> {
    let mut out = Vec::new();
    for e in list {
        let span = e.span();
        let RawExpect { policy, seeds, by, confidence, checks } = e.into_inner();
        let known = || policies.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ");
        let names = match &policy {
            None => Vec::new(),
            Some(v) => {
                let names: Vec<String> = match v.get_ref() {
                    toml::Value::String(s) => vec![s.clone()],
                    toml::Value::Array(a) if !a.is_empty() && a.iter().all(|x| x.is_str()) => {
                        a.iter().filter_map(|x| x.as_str().map(String::from)).collect()
                    }
                    _ => return Err(ConfigError::at(v.span(), "`expect.policy`: expected a policy name or a list of names")),
                };
                for n in &names {
                    if !policies.contains(&n.as_str()) {
                        return Err(ConfigError::at(v.span(), format!("`expect.policy`: no policy {n:?} in the scenario (it has: {})", known())));
                    }
                }
                names
            }
        };
        let seeds_v = seeds.as_ref().map_or(1, |s| *s.get_ref());
        if seeds_v == 0 || seeds_v > MAX_EXPECT_SEEDS {
            return Err(ConfigError::at(seeds.map_or(span.clone(), |s| s.span()), format!("`expect.seeds` must be between 1 and {MAX_EXPECT_SEEDS}")));
        }
        let confidence_v = confidence.as_ref().map_or(0.95, |c| *c.get_ref());
        if !(confidence_v > 0.0 && confidence_v < 1.0) {
            return Err(ConfigError::at(confidence.map_or(span.clone(), |c| c.span()), "`expect.confidence` must be between 0 and 1, like 0.95"));
        }
        if checks.get_ref().is_empty() {
            return Err(ConfigError::at(checks.span(), "`expect.checks` is empty: expected bounds like \"sla.attainment >= 0.999\""));
        }
        let mut bounds = Vec::new();
        for c in checks.into_inner() {
            let b = Bound::parse(c.get_ref(), true).map_err(|m| ConfigError::at(c.span(), format!("`expect.checks`: {m}")))?;
            bounds.push((b, c.span()));
        }
        out.push(Expectation { policies: names, seeds: seeds_v, by: by.map_or(By::Mean, |b| *b.get_ref()), confidence: confidence_v, bounds });
    }
    Ok(out)
}

/// Expectations from a file of `[[expect]]` tables, for an experiment with these policies.
pub fn parse_file(source: &str, policies: &[&str]) -> Result<Vec<Expectation>, ConfigError> {
    let raw: RawExpectFile = toml::from_str(source).map_err(ConfigError::from)?;
    validate(raw.expect, policies)
}
