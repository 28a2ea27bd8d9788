//! The PromQL that policies write: a small, exact subset, enough for the queries autoscalers
//! are configured with (a KEDA `prometheus` trigger's `query`, an adapter rule):
//!
//! ```text
//! sum(rate(http_requests_total{service="api"}[1m]))
//! avg(container_cpu_usage_seconds_total{service="api"})
//! max(max_over_time(queue_length{service="worker"}[30s]))
//! queue_length{service="worker"}
//! ```
//!
//! Grammar: `[AGG "("] [FUNC "("] METRIC ["{" LABEL "=" STRING ("," ...)* "}"] ["[" DURATION "]"] [")"] [")"]`,
//! with AGG one of `sum avg min max count` and FUNC one of `rate increase avg_over_time
//! max_over_time` (which take a range `[d]`; a bare metric takes none). Labels: `service`
//! (which service's targets; may be left out when the scenario has one service) and `pod`
//! (one pod, `<service>-<ordinal>`). Metric names are those of [`Metric`]. Anything else is an
//! error that says what is supported.

use super::{Func, Metric, Query, QueryResult};
use crate::units::parse_duration;

/// An aggregation over the series of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

impl Agg {
    fn from_name(s: &str) -> Option<Agg> {
        Some(match s {
            "sum" => Agg::Sum,
            "avg" => Agg::Avg,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "count" => Agg::Count,
            _ => return None,
        })
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub query: Query,
    /// Only this pod's series (`pod="api-3"`).
    pub pod: Option<String>,
    pub agg: Option<Agg>,
    /// The text as written, for messages and decision logs.
    pub text: String,
}

impl Expr {
    /// Parse `text`; `services` are the scenario's service names, in order.
    pub fn parse(text: &str, services: &[String]) -> Result<Expr, String> {
        let mut p = Parser { s: text.as_bytes(), i: 0, text };
        let e = p.expr(services)?;
        p.ws();
        if p.i < p.s.len() {
            return Err(p.err("unexpected text after the query"));
        }
        Ok(e)
    }

    /// Evaluate a query result as PromQL would, to one number: `Ok(None)` when there is no
    /// series (an empty result; `count` of nothing is empty too in PromQL), an error when a
    /// query without aggregation returns several series (as KEDA's prometheus scaler refuses
    /// "multiple elements").
    pub fn reduce(&self, r: &QueryResult) -> Result<Option<f64>, String> {
        let v: Vec<f64> =
            r.series.iter().filter(|s| self.pod.as_ref().is_none_or(|p| *p == s.target)).map(|s| s.value).collect();
        if v.is_empty() {
            return Ok(None);
        }
        Ok(Some(match self.agg {
            None if v.len() > 1 => {
                return Err(format!("query {:?} returned {} series; wrap it in sum(...) or avg(...)", self.text, v.len()))
            }
            None | Some(Agg::Sum) => v.iter().sum(),
            Some(Agg::Avg) => v.iter().sum::<f64>() / v.len() as f64,
            Some(Agg::Min) => v.iter().copied().fold(f64::INFINITY, f64::min),
            Some(Agg::Max) => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Some(Agg::Count) => v.len() as f64,
        }))
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    text: &'a str,
}

const FUNCS: &str = "rate, increase, avg_over_time, max_over_time";
const AGGS: &str = "sum, avg, min, max, count";

impl<'a> Parser<'a> {
    fn err(&self, m: &str) -> String {
        format!("{m} at character {} of {:?} (supported: [sum|avg|min|max|count](FUNC(METRIC{{service=\"...\"}}[RANGE])) with FUNC one of {FUNCS}, or a bare metric)", self.i + 1, self.text)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_' || self.s[self.i] == b':') {
            self.i += 1;
        }
        let text = self.text;
        (self.i > start).then(|| &text[start..self.i])
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(&format!("expected `{}`", c as char)))
        }
    }

    fn expr(&mut self, services: &[String]) -> Result<Expr, String> {
        let save = self.i;
        let first = self.ident().ok_or_else(|| self.err("expected a metric, a function or an aggregation"))?.to_string();
        let mut agg = None;
        let mut name = first;
        if let Some(a) = Agg::from_name(&name) {
            if self.eat(b'(') {
                agg = Some(a);
                name = self.ident().ok_or_else(|| self.err("expected a metric or a function"))?.to_string();
            } else if self.peek_by() {
                return Err(self.err(&format!("`{name} by (...)` / `without` grouping is not supported: the result must be one number")));
            }
        }
        let mut func_name = None;
        if self.eat(b'(') {
            if !["rate", "increase", "avg_over_time", "max_over_time"].contains(&name.as_str()) {
                self.i = save;
                return Err(self.err(&format!("unsupported function `{name}`; supported: {FUNCS}; aggregations: {AGGS}")));
            }
            func_name = Some(name.clone());
            name = self.ident().ok_or_else(|| self.err("expected a metric"))?.to_string();
        }
        let metric = Metric::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            format!("unknown metric `{name}` in {:?}; autosim exports {}", self.text, known.join(", "))
        })?;
        let (service, pod) = self.labels(services)?;
        let range = if self.eat(b'[') {
            self.ws();
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != b']' {
                self.i += 1;
            }
            let d = parse_duration(self.text[start..self.i].trim()).map_err(|e| self.err(&format!("bad range: {e}")))?;
            self.expect(b']')?;
            if d.0 == 0 {
                return Err(self.err("the range must be more than zero"));
            }
            Some(d.0)
        } else {
            None
        };
        let func = match (func_name.as_deref(), range) {
            (None, None) => Func::Last,
            (None, Some(_)) => return Err(self.err("a range vector needs a function such as rate(...)")),
            (Some(f), Some(w)) => match f {
                "rate" => Func::Rate { window_ns: w },
                "increase" => Func::Increase { window_ns: w },
                "avg_over_time" => Func::AvgOverTime { window_ns: w },
                _ => Func::MaxOverTime { window_ns: w },
            },
            (Some(f), None) => return Err(self.err(&format!("`{f}(...)` needs a range, as in {f}({name}[1m])"))),
        };
        if matches!(func, Func::Rate { .. } | Func::Increase { .. }) && !metric.is_counter() {
            return Err(format!("{:?}: `{}` is a gauge; rate() and increase() apply to counters", self.text, metric.name()));
        }
        if func_name.is_some() {
            self.expect(b')')?;
        }
        if agg.is_some() {
            self.expect(b')')?;
        }
        Ok(Expr { query: Query { metric, service, func }, pod, agg, text: self.text.to_string() })
    }

    fn peek_by(&mut self) -> bool {
        let save = self.i;
        let r = matches!(self.ident(), Some("by") | Some("without"));
        self.i = save;
        r
    }

    fn labels(&mut self, services: &[String]) -> Result<(usize, Option<String>), String> {
        let (mut service, mut pod) = (None, None);
        if self.eat(b'{') {
            loop {
                if self.eat(b'}') {
                    break;
                }
                let label = self.ident().ok_or_else(|| self.err("expected a label name"))?.to_string();
                self.ws();
                if self.text[self.i..].starts_with("=~") || self.text[self.i..].starts_with("!=") {
                    return Err(self.err("only `=` label matchers are supported"));
                }
                self.expect(b'=')?;
                self.ws();
                let quote = *self.s.get(self.i).ok_or_else(|| self.err("expected a quoted value"))?;
                if quote != b'"' && quote != b'\'' {
                    return Err(self.err("expected a quoted value"));
                }
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != quote {
                    self.i += 1;
                }
                if self.i >= self.s.len() {
                    return Err(self.err("unterminated string"));
                }
                let value = self.text[start..self.i].to_string();
                self.i += 1;
                match label.as_str() {
                    "service" | "job" => {
                        let idx = services.iter().position(|s| *s == value).ok_or_else(|| {
                            format!("{:?}: no service named {value:?}; the services are {}", self.text, services.join(", "))
                        })?;
                        service = Some(idx);
                    }
                    "pod" => pod = Some(value),
                    other => {
                        return Err(self.err(&format!("unknown label `{other}`: the series have the labels `service` and `pod`")))
                    }
                }
                if !self.eat(b',') {
                    self.expect(b'}')?;
                    break;
                }
            }
        }
        let service = match service {
            Some(s) => s,
            None if services.len() == 1 => 0,
            None => return Err(format!("{:?}: say which service, as in {{service=\"{}\"}}", self.text, services[0])),
        };
        Ok((service, pod))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SeriesValue;

    fn svcs() -> Vec<String> {
        vec!["api".into(), "worker".into()]
    }

    #[test]
    fn parses_what_autoscalers_use() {
        let e = Expr::parse("sum(rate(http_requests_total{service=\"api\"}[1m]))", &svcs()).unwrap();
        assert_eq!(e.query, Query { metric: Metric::HttpRequestsTotal, service: 0, func: Func::Rate { window_ns: 60_000_000_000 } });
        assert_eq!(e.agg, Some(Agg::Sum));
        let e = Expr::parse(" queue_length{ service = 'worker' } ", &svcs()).unwrap();
        assert_eq!((e.query.metric, e.query.service, e.query.func, e.agg), (Metric::QueueLength, 1, Func::Last, None));
        let e = Expr::parse("max(max_over_time(pod_queue_length{service=\"api\",pod=\"api-3\"}[30s]))", &svcs()).unwrap();
        assert_eq!(e.pod.as_deref(), Some("api-3"));
        assert_eq!(e.query.func, Func::MaxOverTime { window_ns: 30_000_000_000 });
        // One service: the label may be left out.
        let e = Expr::parse("avg(http_requests_in_flight)", &["api".to_string()]).unwrap();
        assert_eq!(e.query.service, 0);
    }

    #[test]
    fn refuses_what_it_cannot_evaluate() {
        for (q, says) in [
            ("sum(rate(http_requests_total[1m]))", "say which service"),
            ("sum(rate(nope_total{service=\"api\"}[1m]))", "unknown metric"),
            ("rate(queue_length{service=\"api\"}[1m])", "is a gauge"),
            ("rate(http_requests_total{service=\"api\"})", "needs a range"),
            ("http_requests_total{service=\"api\"}[1m]", "needs a function"),
            ("sum by (pod) (http_requests_total{service=\"api\"})", "not supported"),
            ("histogram_quantile(0.9, x)", "unsupported function"),
            ("http_requests_total{service=~\"a.*\"}", "only `=`"),
            ("http_requests_total{service=\"db\"}", "no service named"),
            ("sum(http_requests_total{service=\"api\"}) + 1", "unexpected text"),
        ] {
            let e = Expr::parse(q, &svcs()).unwrap_err();
            assert!(e.contains(says), "{q}: {e}");
        }
    }

    #[test]
    fn reduces_like_promql() {
        let r = QueryResult {
            at: 0,
            series: vec![
                SeriesValue { target: "api-0".into(), pod: Some(0), value: 2.0 },
                SeriesValue { target: "api-1".into(), pod: Some(1), value: 6.0 },
            ],
        };
        let v = |q: &str| Expr::parse(q, &svcs()).unwrap().reduce(&r).unwrap();
        assert_eq!(v("sum(http_requests_in_flight{service=\"api\"})"), Some(8.0));
        assert_eq!(v("avg(http_requests_in_flight{service=\"api\"})"), Some(4.0));
        assert_eq!(v("min(http_requests_in_flight{service=\"api\"})"), Some(2.0));
        assert_eq!(v("max(http_requests_in_flight{service=\"api\"})"), Some(6.0));
        assert_eq!(v("count(http_requests_in_flight{service=\"api\"})"), Some(2.0));
        assert_eq!(v("http_requests_in_flight{service=\"api\",pod=\"api-1\"}"), Some(6.0));
        assert_eq!(Expr::parse("sum(queue_length{service=\"api\"})", &svcs()).unwrap().reduce(&QueryResult::default()), Ok(None));
        let e = Expr::parse("http_requests_in_flight{service=\"api\"}", &svcs()).unwrap().reduce(&r).unwrap_err();
        assert!(e.contains("2 series"), "{e}");
    }
}
