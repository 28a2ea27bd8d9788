//! Metrics by name: a dotted path into a run's `summary.json` (`sla.attainment`, `cost.dollars`,
//! `latency_s.p99`, `services.api.scaling.reversals`, `policy_stats.pods.api.forecast_mape`).
//!
//! Paths are read from the summary's JSON, not from the Rust struct, so that every field the
//! report gains is a metric at once, with no code to change here.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::report::Summary;

/// The summary as JSON, as `summary.json` holds it.
pub fn summary_json(s: &Summary) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// The node at `path`. A key may itself hold dots (`policy_stats` keys do): at each level the
/// shortest key that matches a prefix of the rest of the path is tried first, then longer ones.
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(v);
    }
    let obj = v.as_object()?;
    let mut ends: Vec<usize> = path.match_indices('.').map(|(i, _)| i).collect();
    ends.push(path.len());
    for end in ends {
        if let Some(child) = obj.get(&path[..end]) {
            let rest = if end == path.len() { "" } else { &path[end + 1..] };
            if let Some(found) = lookup(child, rest) {
                return Some(found);
            }
        }
    }
    None
}

/// Why a metric could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricError {
    /// No such field; `near` lists the fields at the deepest level reached.
    Missing { path: String, near: Vec<String> },
    /// The field is not a number (a table, a text).
    NotNumber { path: String },
}

impl std::fmt::Display for MetricError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetricError::Missing { path, near } if near.is_empty() => write!(f, "no metric `{path}` in summary.json"),
            MetricError::Missing { path, near } => {
                write!(f, "no metric `{path}` in summary.json (there: {})", near.join(", "))
            }
            MetricError::NotNumber { path } => {
                write!(f, "`{path}` in summary.json is not a number: name one of its numeric fields")
            }
        }
    }
}

/// The number at `path`.
pub fn number(v: &Value, path: &str) -> Result<f64, MetricError> {
    match lookup(v, path) {
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::Bool(b)) => Ok(if *b { 1.0 } else { 0.0 }),
        Some(_) => Err(MetricError::NotNumber { path: path.to_string() }),
        None => Err(MetricError::Missing { path: path.to_string(), near: near(v, path) }),
    }
}

/// The keys at the deepest level of `path` that exists, with their full paths.
fn near(v: &Value, path: &str) -> Vec<String> {
    let mut node = v;
    let mut prefix = String::new();
    for part in path.split('.') {
        match node.as_object().and_then(|o| o.get(part)) {
            Some(child) if child.is_object() => {
                node = child;
                prefix.push_str(part);
                prefix.push('.');
            }
            _ => break,
        }
    }
    let Some(obj) = node.as_object() else { return vec![] };
    let mut keys: Vec<String> = obj.keys().map(|k| format!("{prefix}{k}")).collect();
    keys.truncate(20);
    keys
}

/// Every numeric leaf of the summary by its dotted path, in order.
pub fn flatten(v: &Value) -> BTreeMap<String, f64> {
    fn walk(v: &Value, prefix: &str, out: &mut BTreeMap<String, f64>) {
        match v {
            Value::Object(o) => {
                for (k, child) in o {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(child, &p, out);
                }
            }
            Value::Number(n) => {
                out.insert(prefix.to_string(), n.as_f64().unwrap_or(f64::NAN));
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(v, "", &mut out);
    out
}

/// Whether more of a metric is better, for Pareto fronts and messages: attainment,
/// availability and throughput-like counts of served requests; everything else (latency,
/// cost, errors, reversals) is better smaller.
pub fn higher_is_better(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    matches!(last, "attainment" | "availability" | "completed")
}

/// A number as it is written to CSV and tables: integers without a fraction, others in the
/// shortest form that reads back to the same value.
pub fn fmt_number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_dotted_keys() {
        let v: Value = serde_json::json!({
            "sla": { "attainment": 0.99 },
            "policy_stats": { "pods.api.forecast_mape": 0.1 },
            "services": { "api": { "cost": { "dollars": 2 } } },
        });
        assert_eq!(number(&v, "sla.attainment"), Ok(0.99));
        assert_eq!(number(&v, "policy_stats.pods.api.forecast_mape"), Ok(0.1));
        assert_eq!(number(&v, "services.api.cost.dollars"), Ok(2.0));
        assert!(matches!(number(&v, "sla"), Err(MetricError::NotNumber { .. })));
        match number(&v, "sla.attainmnt") {
            Err(MetricError::Missing { near, .. }) => assert_eq!(near, vec!["sla.attainment".to_string()]),
            other => panic!("{other:?}"),
        }
        let flat = flatten(&v);
        assert_eq!(flat.get("policy_stats.pods.api.forecast_mape"), Some(&0.1));
        assert_eq!(flat.len(), 3);
    }
}
