//! The PromQL that policies write (a KEDA `prometheus` trigger's `query`, an adapter rule, a
//! reactive or predictive policy's metric), as users write it for a real Prometheus:
//!
//! ```text
//! sum(rate(http_requests_total{deployment="api"}[2m]))
//! histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[2m])) by (le))
//! sum by (service) (rate(http_requests_total[2m])) / count(up)
//! max(max_over_time(queue_length{service="worker"}[30s]))
//! ```
//!
//! Parsed by `promql-parser` and evaluated by [`super::eval`] over the simulator's series.
//! Refused at load: what the evaluator does not do (subqueries, `offset`, `@`, functions and
//! aggregations outside its list), metric names autosim has no series for, and `service` /
//! `deployment` matchers naming no service (a real Prometheus would return nothing; here that is
//! almost always a typo).

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr as Ast};

use super::eval::{self, Value};
use super::{MetricsStore, QueryResult, SeriesValue};
use crate::engine::time::SimTime;

/// The aggregation at the top of a query, when it gives one series (no `by` / `without`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    /// Any other aggregation (`quantile`, `topk`, ...).
    Other,
}

/// A parsed, checked query.
#[derive(Debug, Clone)]
pub struct Expr {
    ast: Ast,
    /// The aggregation at the top, when it reduces everything to one series.
    pub agg: Option<Agg>,
    /// The text as written, for messages and decision logs.
    pub text: String,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Expr {
    /// Parse and check `text`; `services` are the scenario's service names, in order.
    pub fn parse(text: &str, services: &[String]) -> Result<Expr, String> {
        let ast = parser::parse(text).map_err(|e| format!("{:?} is not valid PromQL: {}", text, e.trim()))?;
        eval::check(&ast).map_err(|e| format!("{text:?}: {e}"))?;
        let mut sels = Vec::new();
        eval::selectors(&ast, &mut sels);
        let known = super::series_names();
        for vs in sels {
            if let Some(name) = &vs.name {
                if !known.contains(&name.as_str()) {
                    return Err(format!("unknown metric `{name}` in {text:?}; autosim exports {}", known.join(", ")));
                }
            }
            for m in &vs.matchers.matchers {
                if matches!(m.op, MatchOp::Equal) && (m.name == "service" || m.name == "deployment") && !services.contains(&m.value) {
                    return Err(format!("{text:?}: no service named {:?}; the services are {}", m.value, services.join(", ")));
                }
            }
        }
        let agg = match strip(&ast) {
            Ast::Aggregate(a) if a.modifier.as_ref().is_none_or(|m| m.is_include() && m.labels().is_empty()) => {
                Some(match a.op.to_string().as_str() {
                    "sum" => Agg::Sum,
                    "avg" => Agg::Avg,
                    "min" => Agg::Min,
                    "max" => Agg::Max,
                    "count" => Agg::Count,
                    _ => Agg::Other,
                })
            }
            _ => None,
        };
        Ok(Expr { ast, agg, text: text.to_string() })
    }

    /// The longest range the query reads (`0` for instant selectors only).
    pub fn window_ns(&self) -> u64 {
        fn walk(e: &Ast) -> u64 {
            match e {
                Ast::MatrixSelector(m) => m.range.as_nanos() as u64,
                Ast::Aggregate(a) => walk(&a.expr).max(a.param.as_deref().map_or(0, walk)),
                Ast::Unary(u) => walk(&u.expr),
                Ast::Binary(b) => walk(&b.lhs).max(walk(&b.rhs)),
                Ast::Paren(p) => walk(&p.expr),
                Ast::Call(c) => c.args.args.iter().map(|a| walk(a)).max().unwrap_or(0),
                _ => 0,
            }
        }
        walk(&self.ast)
    }

    /// The parsed query.
    pub fn ast(&self) -> &Ast {
        &self.ast
    }

    /// Evaluate the query as Prometheus would at `now - delay`: its series, named by their `pod`
    /// label when they have one (a scalar result is one unnamed series).
    pub fn eval(&self, store: &MetricsStore, now: SimTime) -> Result<QueryResult, String> {
        let at = now.saturating_sub(store.delay_ns);
        let value = eval::eval(&self.ast, store, at).map_err(|e| format!("query {:?}: {e}", self.text))?;
        let series = match value {
            Value::Scalar(v) => vec![SeriesValue { target: String::new(), pod: None, value: v }],
            Value::Vector(v) => v
                .into_iter()
                .map(|e| SeriesValue {
                    target: e.labels.iter().find(|(k, _)| k == "pod").map_or_else(|| eval::fmt_labels(&e.labels), |(_, v)| v.clone()),
                    pod: None,
                    value: e.value,
                })
                .collect(),
            Value::String(_) => return Err(format!("query {:?} gives a string, not a number", self.text)),
        };
        Ok(QueryResult { at, series })
    }

    /// The query's result as one number: `Ok(None)` when there is no series (an empty result),
    /// an error when it returns several series (as KEDA's prometheus scaler refuses "multiple
    /// elements").
    pub fn reduce(&self, r: &QueryResult) -> Result<Option<f64>, String> {
        match r.series.len() {
            0 => Ok(None),
            1 => Ok(Some(r.series[0].value)),
            n => Err(format!("query {:?} returned {n} series; wrap it in sum(...) or avg(...)", self.text)),
        }
    }
}

fn strip(e: &Ast) -> &Ast {
    match e {
        Ast::Paren(p) => strip(&p.expr),
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svcs() -> Vec<String> {
        vec!["api".into(), "worker".into()]
    }

    #[test]
    fn parses_what_users_write() {
        for q in [
            "sum(rate(http_requests_total{deployment=\"api\"}[2m]))",
            "sum(rate(http_requests_total{namespace=\"default\"}[2m]))",
            "sum by (service) (rate(http_requests_total[2m]))",
            "sum(rate(http_requests_total[2m])) / count(up)",
            "sum(irate(http_requests_total[1m]))",
            "queue_length{ service = 'worker' }",
            "avg(http_requests_in_flight)",
            "sum(rate(http_requests_total{pod=~\"api-.*\", service!=\"worker\"}[1m])) > bool 3",
        ] {
            Expr::parse(q, &svcs()).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
        assert_eq!(Expr::parse("sum(rate(http_requests_total[1m]))", &svcs()).unwrap().agg, Some(Agg::Sum));
        assert_eq!(Expr::parse("sum by (pod) (rate(http_requests_total[1m]))", &svcs()).unwrap().agg, None);
        assert_eq!(Expr::parse("(max(queue_length))", &svcs()).unwrap().agg, Some(Agg::Max));
        assert_eq!(Expr::parse("rate(http_requests_total[90s])", &svcs()).unwrap().window_ns(), 90_000_000_000);
    }

    #[test]
    fn refuses_what_it_cannot_evaluate() {
        for (q, says) in [
            ("sum(rate(nope_total[1m]))", "unknown metric"),
            ("rate(http_requests_total[5m:30s])", "subqueries"),
            ("http_requests_total offset 5m", "offset"),
            ("label_replace(up, \"a\", \"b\", \"c\", \"d\")", "function `label_replace` is not supported"),
            ("count_values(\"v\", up)", "aggregation `count_values`"),
            ("http_requests_total{service=\"db\"}", "no service named"),
            ("sum(rate(http_requests_total[1m]) ", "not valid PromQL"),
        ] {
            let e = Expr::parse(q, &svcs()).unwrap_err();
            assert!(e.contains(says), "{q}: {e}");
        }
    }

    #[test]
    fn reduces_to_one_number_or_refuses_several() {
        let e = Expr::parse("up", &svcs()).unwrap();
        let one = |v| SeriesValue { target: "api-0".into(), pod: None, value: v };
        assert_eq!(e.reduce(&QueryResult { at: 0, series: vec![] }), Ok(None));
        assert_eq!(e.reduce(&QueryResult { at: 0, series: vec![one(2.0)] }), Ok(Some(2.0)));
        let err = e.reduce(&QueryResult { at: 0, series: vec![one(2.0), one(3.0)] }).unwrap_err();
        assert!(err.contains("2 series"), "{err}");
    }
}
