//! PromQL evaluation at one instant over the simulator's series, with Prometheus's semantics:
//! instant selectors look back 5 minutes and respect staleness, range selectors hold the
//! samples in `(t - range, t]`, aggregations group `by` / `without`, binary operators match
//! vectors one-to-one or many-to-one (`on`, `ignoring`, `group_left`, `group_right`), and the
//! functions are those of `promql/functions.go`. Queries are parsed by `promql-parser`;
//! [`check`] refuses at load what is not evaluated here, naming it.

use std::collections::HashMap;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{
    token, AggregateExpr, BinaryExpr, Call, Expr as Ast, LabelModifier, VectorMatchCardinality, VectorSelector,
};

use super::promql as f;
use crate::engine::time::{secs, SimTime};

/// A query refused at load ([`check`]) or failing at an instant ([`eval`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub kind: EvalErrorKind,
    message: String,
}

/// Why a query is not evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalErrorKind {
    /// Valid PromQL that the simulator does not evaluate (an operator, a function, a modifier).
    Unsupported,
    /// A query whose values do not fit: a range vector as a result, duplicate match groups.
    Invalid,
}

impl EvalError {
    fn unsupported(message: impl Into<String>) -> Self {
        EvalError { kind: EvalErrorKind::Unsupported, message: message.into() }
    }
    fn invalid(message: impl Into<String>) -> Self {
        EvalError { kind: EvalErrorKind::Invalid, message: message.into() }
    }
}

/// A series' labels, sorted by name, `__name__` included.
pub type Labels = Vec<(String, String)>;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Elem {
    pub labels: Labels,
    pub value: f64,
}

/// A series selected for a range, its samples in the range oldest first.
#[derive(Debug, Clone)]
pub struct RangeSeries {
    pub labels: Labels,
    /// `(seconds, value)`.
    pub points: Vec<(f64, f64)>,
}

/// What a query evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Vec<Elem>),
    String(String),
}

/// Where the series come from.
pub trait Source {
    /// The series matching `sel` with their value at `at` (the last sample in `(at - 5m, at]`,
    /// none when the series went stale).
    fn instant(&self, sel: &Selector, at: SimTime, out: &mut Vec<Elem>);
    /// The series matching `sel` with their samples in `(at - range, at]`.
    fn range(&self, sel: &Selector, at: SimTime, range_ns: u64, out: &mut Vec<RangeSeries>);
}

/// A vector selector: the metric name (when given by equality) and every label matcher.
#[derive(Debug)]
pub struct Selector<'a> {
    pub name: Option<&'a str>,
    pub matchers: &'a [Matcher],
}

impl Selector<'_> {
    /// Whether a label value (`""` when the label is absent) passes every matcher on `label`.
    pub fn admits(&self, label: &str, value: &str) -> bool {
        self.matchers.iter().filter(|m| m.name == label).all(|m| m.is_match(value))
    }

    /// Whether a series with `labels` is selected.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| {
            let v = labels.iter().find(|(k, _)| *k == m.name).map_or("", |(_, v)| v.as_str());
            m.is_match(v)
        })
    }
}

fn selector(vs: &VectorSelector) -> Selector<'_> {
    Selector { name: vs.name.as_deref(), matchers: &vs.matchers.matchers }
}

// -------------------------------------------------------------------------------------------
// Checking at load
// -------------------------------------------------------------------------------------------

const FUNCTIONS: &[&str] = &[
    "rate", "irate", "increase", "delta", "idelta", "deriv", "avg_over_time", "min_over_time", "max_over_time",
    "sum_over_time", "count_over_time", "last_over_time", "quantile_over_time", "stddev_over_time",
    "stdvar_over_time", "present_over_time", "changes", "resets", "histogram_quantile", "clamp", "clamp_min",
    "clamp_max", "abs", "ceil", "floor", "round", "sqrt", "exp", "ln", "log2", "log10", "sgn", "scalar", "vector",
    "absent", "absent_over_time", "time",
];
const AGGREGATIONS: &[&str] = &["sum", "avg", "min", "max", "count", "quantile", "topk", "bottomk", "stddev", "stdvar", "group"];

/// Refuse what the evaluator does not do, naming it. `Ok` means [`eval`] can evaluate it.
pub fn check(e: &Ast) -> Result<(), EvalError> {
    match e {
        Ast::Aggregate(a) => {
            let op = a.op.to_string();
            if !AGGREGATIONS.contains(&op.as_str()) {
                return Err(EvalError::unsupported(format!("aggregation `{op}` is not supported; supported: {}", AGGREGATIONS.join(", "))));
            }
            if let Some(p) = &a.param {
                check(p)?;
            }
            check(&a.expr)
        }
        Ast::Unary(u) => check(&u.expr),
        Ast::Binary(b) => {
            if b.op.id() == token::T_ATAN2 {
                return Err(EvalError::unsupported("the operator `atan2` is not supported"));
            }
            if let Some(m) = &b.modifier {
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return Err(EvalError::unsupported("fill values in vector matching are not supported"));
                }
            }
            check(&b.lhs)?;
            check(&b.rhs)
        }
        Ast::Paren(p) => check(&p.expr),
        Ast::Subquery(_) => Err(EvalError::unsupported("subqueries (`expr[range:step]`) are not supported")),
        Ast::NumberLiteral(_) | Ast::StringLiteral(_) => Ok(()),
        Ast::VectorSelector(vs) => check_selector(vs),
        Ast::MatrixSelector(ms) => check_selector(&ms.vs),
        Ast::Call(c) => {
            if !FUNCTIONS.contains(&c.func.name) {
                return Err(EvalError::unsupported(format!("function `{}` is not supported; supported: {}", c.func.name, FUNCTIONS.join(", "))));
            }
            c.args.args.iter().try_for_each(|a| check(a))
        }
        Ast::Extension(_) => Err(EvalError::unsupported("extension expressions are not supported")),
    }
}

fn check_selector(vs: &VectorSelector) -> Result<(), EvalError> {
    if vs.offset.is_some() {
        return Err(EvalError::unsupported("the `offset` modifier is not supported"));
    }
    if vs.at.is_some() {
        return Err(EvalError::unsupported("the `@` modifier is not supported"));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(EvalError::unsupported("`or` inside a selector's braces is not supported"));
    }
    Ok(())
}

/// Every vector selector of a query, for checks against the series autosim exports.
pub fn selectors<'a>(e: &'a Ast, out: &mut Vec<&'a VectorSelector>) {
    match e {
        Ast::Aggregate(a) => {
            if let Some(p) = &a.param {
                selectors(p, out);
            }
            selectors(&a.expr, out)
        }
        Ast::Unary(u) => selectors(&u.expr, out),
        Ast::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out)
        }
        Ast::Paren(p) => selectors(&p.expr, out),
        Ast::Subquery(s) => selectors(&s.expr, out),
        Ast::VectorSelector(vs) => out.push(vs),
        Ast::MatrixSelector(ms) => out.push(&ms.vs),
        Ast::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
        _ => {}
    }
}

// -------------------------------------------------------------------------------------------
// Evaluation
// -------------------------------------------------------------------------------------------

/// Evaluate `e` at `at` over `src`.
pub fn eval(e: &Ast, src: &dyn Source, at: SimTime) -> Result<Value, EvalError> {
    Ev { src, at }.eval(e)
}

struct Ev<'a> {
    src: &'a dyn Source,
    at: SimTime,
}

fn drop_name(mut l: Labels) -> Labels {
    l.retain(|(k, _)| k != "__name__");
    l
}

fn get<'l>(l: &'l Labels, name: &str) -> Option<&'l str> {
    l.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn set(l: &mut Labels, name: &str, value: &str) {
    match l.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
        Ok(i) => l[i].1 = value.to_string(),
        Err(i) => l.insert(i, (name.to_string(), value.to_string())),
    }
}

fn del(l: &mut Labels, name: &str) {
    l.retain(|(k, _)| k != name);
}

/// The labels an aggregation groups by.
fn grouping(l: &Labels, m: &Option<LabelModifier>) -> Labels {
    match m {
        None => Vec::new(),
        Some(LabelModifier::Include(ls)) => l.iter().filter(|(k, _)| ls.labels.contains(k)).cloned().collect(),
        Some(LabelModifier::Exclude(ls)) => {
            l.iter().filter(|(k, _)| k != "__name__" && !ls.labels.contains(k)).cloned().collect()
        }
    }
}

/// The signature vectors match on.
fn signature(l: &Labels, m: Option<&LabelModifier>) -> Labels {
    match m {
        Some(LabelModifier::Include(ls)) => l.iter().filter(|(k, _)| ls.labels.contains(k)).cloned().collect(),
        Some(LabelModifier::Exclude(ls)) => {
            l.iter().filter(|(k, _)| k != "__name__" && !ls.labels.contains(k)).cloned().collect()
        }
        None => l.iter().filter(|(k, _)| k != "__name__").cloned().collect(),
    }
}

impl Ev<'_> {
    fn eval(&self, e: &Ast) -> Result<Value, EvalError> {
        match e {
            Ast::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Ast::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Ast::Paren(p) => self.eval(&p.expr),
            Ast::Unary(u) => Ok(match self.eval(&u.expr)? {
                Value::Scalar(v) => Value::Scalar(-v),
                Value::Vector(v) => {
                    Value::Vector(v.into_iter().map(|e| Elem { labels: drop_name(e.labels), value: -e.value }).collect())
                }
                s => s,
            }),
            Ast::VectorSelector(vs) => {
                check_selector(vs)?;
                let mut out = Vec::new();
                self.src.instant(&selector(vs), self.at, &mut out);
                Ok(Value::Vector(out))
            }
            Ast::MatrixSelector(_) => Err(EvalError::invalid("a range vector cannot be the result of a query; apply a function such as rate(...)")),
            Ast::Subquery(_) => Err(EvalError::unsupported("subqueries are not supported")),
            Ast::Aggregate(a) => self.aggregate(a),
            Ast::Binary(b) => self.binary(b),
            Ast::Call(c) => self.call(c),
            Ast::Extension(_) => Err(EvalError::unsupported("extension expressions are not supported")),
        }
    }

    fn vector(&self, e: &Ast) -> Result<Vec<Elem>, EvalError> {
        match self.eval(e)? {
            Value::Vector(v) => Ok(v),
            _ => Err(EvalError::invalid(format!("expected an instant vector in {e}"))),
        }
    }

    fn scalar(&self, e: &Ast) -> Result<f64, EvalError> {
        match self.eval(e)? {
            Value::Scalar(v) => Ok(v),
            _ => Err(EvalError::invalid(format!("expected a scalar in {e}"))),
        }
    }

    fn aggregate(&self, a: &AggregateExpr) -> Result<Value, EvalError> {
        let op = a.op.to_string();
        let param = match &a.param {
            Some(p) if op != "count_values" => Some(self.scalar(p)?),
            _ => None,
        };
        let v = self.vector(&a.expr)?;
        // Groups in order of first appearance.
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut groups: Vec<(Labels, Vec<Elem>)> = Vec::new();
        for e in v {
            let key = grouping(&e.labels, &a.modifier);
            let i = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(e);
        }
        let mut out = Vec::new();
        for (labels, elems) in groups {
            let vals = || elems.iter().map(|e| e.value);
            let n = elems.len() as f64;
            let value = match op.as_str() {
                "sum" => vals().sum(),
                "avg" => vals().sum::<f64>() / n,
                "min" => vals().fold(f64::NAN, |m, x| if m > x || m.is_nan() { x } else { m }),
                "max" => vals().fold(f64::NAN, |m, x| if m < x || m.is_nan() { x } else { m }),
                "count" => n,
                "group" => 1.0,
                "stddev" | "stdvar" => {
                    let mean = vals().sum::<f64>() / n;
                    let var = vals().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                    if op == "stddev" {
                        var.sqrt()
                    } else {
                        var
                    }
                }
                "quantile" => f::quantile(param.unwrap_or(f64::NAN), vals().collect()),
                "topk" | "bottomk" => {
                    let k = param.unwrap_or(0.0);
                    if k < 1.0 {
                        continue;
                    }
                    let mut sorted = elems;
                    let top = op == "topk";
                    sorted.sort_by(|x, y| {
                        let o = x.value.partial_cmp(&y.value).unwrap_or_else(|| x.value.is_nan().cmp(&y.value.is_nan()).reverse());
                        if top {
                            o.reverse()
                        } else {
                            o
                        }
                    });
                    sorted.truncate(k as usize);
                    out.extend(sorted);
                    continue;
                }
                other => return Err(EvalError::unsupported(format!("aggregation `{other}` is not supported"))),
            };
            out.push(Elem { labels, value });
        }
        Ok(Value::Vector(out))
    }

    fn binary(&self, b: &BinaryExpr) -> Result<Value, EvalError> {
        let op = b.op.id();
        let bool_ = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let comparison = b.op.is_comparison_operator();
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => {
                let (v, keep) = binop(op, l, r)?;
                Ok(Value::Scalar(if comparison { if keep { 1.0 } else { 0.0 } } else { v }))
            }
            (Value::Vector(v), Value::Scalar(s)) => Ok(Value::Vector(vector_scalar(op, v, s, false, bool_, comparison)?)),
            (Value::Scalar(s), Value::Vector(v)) => Ok(Value::Vector(vector_scalar(op, v, s, true, bool_, comparison)?)),
            (Value::Vector(l), Value::Vector(r)) => {
                let m = b.modifier.as_ref();
                let matching = m.and_then(|m| m.matching.as_ref());
                let card = m.map_or(VectorMatchCardinality::OneToOne, |m| m.card.clone());
                if b.op.is_set_operator() {
                    return Ok(Value::Vector(set_op(op, l, r, matching)));
                }
                Ok(Value::Vector(vector_vector(op, l, r, matching, &card, bool_, comparison)?))
            }
            _ => Err(EvalError::invalid(format!("operator `{}` does not apply to strings", b.op))),
        }
    }

    fn range_arg(&self, c: &Call, i: usize) -> Result<(Vec<RangeSeries>, u64), EvalError> {
        match c.args.args.get(i).map(|a| a.as_ref()) {
            Some(Ast::MatrixSelector(ms)) => {
                check_selector(&ms.vs)?;
                let range_ns = ms.range.as_nanos() as u64;
                let mut out = Vec::new();
                self.src.range(&selector(&ms.vs), self.at, range_ns, &mut out);
                Ok((out, range_ns))
            }
            _ => Err(EvalError::invalid(format!("`{}` needs a range vector such as m[1m]", c.func.name))),
        }
    }

    fn call(&self, c: &Call) -> Result<Value, EvalError> {
        let name = c.func.name;
        let at_s = secs(self.at);
        let over = |g: &dyn Fn(&[(f64, f64)]) -> Option<f64>, keep_name: bool| -> Result<Value, EvalError> {
            let (series, _) = self.range_arg(c, 0)?;
            Ok(Value::Vector(
                series
                    .into_iter()
                    .filter_map(|s| {
                        let v = g(&s.points)?;
                        Some(Elem { labels: if keep_name { s.labels } else { drop_name(s.labels) }, value: v })
                    })
                    .collect(),
            ))
        };
        match name {
            "rate" | "increase" | "delta" => {
                let (series, w) = self.range_arg(c, 0)?;
                let (rs, re) = (self.at as f64 / 1e9 - w as f64 / 1e9, at_s);
                Ok(Value::Vector(
                    series
                        .into_iter()
                        .filter_map(|s| {
                            let v = match name {
                                "rate" => f::extrapolated_rate(&s.points, rs, re, true),
                                "increase" => f::extrapolated_rate(&s.points, rs, re, false),
                                _ => f::extrapolated_delta(&s.points, rs, re),
                            }?;
                            Some(Elem { labels: drop_name(s.labels), value: v })
                        })
                        .collect(),
                ))
            }
            "irate" => over(&|p| f::instant_value(p, true), false),
            "idelta" => over(&|p| f::instant_value(p, false), false),
            "deriv" => over(&f::deriv, false),
            "avg_over_time" => over(&f::avg_over_time, false),
            "max_over_time" => over(&f::max_over_time, false),
            "min_over_time" => over(&|p| p.iter().map(|p| p.1).reduce(|m, x| if m > x || m.is_nan() { x } else { m }), false),
            "sum_over_time" => over(&|p| (!p.is_empty()).then(|| p.iter().map(|p| p.1).sum()), false),
            "count_over_time" => over(&|p| (!p.is_empty()).then_some(p.len() as f64), false),
            "present_over_time" => over(&|p| (!p.is_empty()).then_some(1.0), false),
            "last_over_time" => over(&|p| p.last().map(|p| p.1), true),
            "stddev_over_time" => over(&|p| f::stdvar_over_time(p).map(f64::sqrt), false),
            "stdvar_over_time" => over(&f::stdvar_over_time, false),
            "changes" => over(&|p| (!p.is_empty()).then(|| p.windows(2).filter(|w| w[1].1 != w[0].1 && !(w[1].1.is_nan() && w[0].1.is_nan())).count() as f64), false),
            "resets" => over(&|p| (!p.is_empty()).then(|| p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64), false),
            "quantile_over_time" => {
                let q = self.scalar(&c.args.args[0])?;
                let (series, _) = self.range_arg(c, 1)?;
                Ok(Value::Vector(
                    series
                        .into_iter()
                        .filter(|s| !s.points.is_empty())
                        .map(|s| Elem { value: f::quantile(q, s.points.iter().map(|p| p.1).collect()), labels: drop_name(s.labels) })
                        .collect(),
                ))
            }
            "absent_over_time" => {
                let (series, _) = self.range_arg(c, 0)?;
                Ok(Value::Vector(if series.iter().any(|s| !s.points.is_empty()) { Vec::new() } else { vec![absent_labels(&c.args.args[0])] }))
            }
            "absent" => {
                let v = self.vector(&c.args.args[0])?;
                Ok(Value::Vector(if v.is_empty() { vec![absent_labels(&c.args.args[0])] } else { Vec::new() }))
            }
            "histogram_quantile" => {
                let q = self.scalar(&c.args.args[0])?;
                let v = self.vector(&c.args.args[1])?;
                let mut index: HashMap<Labels, usize> = HashMap::new();
                let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
                for e in v {
                    let Some(le) = get(&e.labels, "le").and_then(parse_le) else { continue };
                    let mut key = drop_name(e.labels);
                    del(&mut key, "le");
                    let i = *index.entry(key.clone()).or_insert_with(|| {
                        groups.push((key, Vec::new()));
                        groups.len() - 1
                    });
                    groups[i].1.push((le, e.value));
                }
                Ok(Value::Vector(
                    groups.into_iter().map(|(labels, b)| Elem { labels, value: f::bucket_quantile(q, b) }).collect(),
                ))
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let v = self.vector(&c.args.args[0])?;
                let (lo, hi) = match name {
                    "clamp" => (self.scalar(&c.args.args[1])?, self.scalar(&c.args.args[2])?),
                    "clamp_min" => (self.scalar(&c.args.args[1])?, f64::INFINITY),
                    _ => (f64::NEG_INFINITY, self.scalar(&c.args.args[1])?),
                };
                if name == "clamp" && lo > hi {
                    return Ok(Value::Vector(Vec::new()));
                }
                Ok(Value::Vector(
                    v.into_iter().map(|e| Elem { labels: drop_name(e.labels), value: e.value.max(lo).min(hi) }).collect(),
                ))
            }
            "round" => {
                let v = self.vector(&c.args.args[0])?;
                let to = match c.args.args.get(1) {
                    Some(a) => self.scalar(a)?,
                    None => 1.0,
                };
                let inv = 1.0 / to;
                Ok(Value::Vector(
                    v.into_iter()
                        .map(|e| Elem { labels: drop_name(e.labels), value: (e.value * inv + 0.5).floor() / inv })
                        .collect(),
                ))
            }
            "abs" | "ceil" | "floor" | "sqrt" | "exp" | "ln" | "log2" | "log10" | "sgn" => {
                let g: fn(f64) -> f64 = match name {
                    "abs" => f64::abs,
                    "ceil" => f64::ceil,
                    "floor" => f64::floor,
                    "sqrt" => f64::sqrt,
                    "exp" => f64::exp,
                    "ln" => f64::ln,
                    "log2" => f64::log2,
                    "log10" => f64::log10,
                    _ => |x: f64| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { x },
                };
                let v = self.vector(&c.args.args[0])?;
                Ok(Value::Vector(v.into_iter().map(|e| Elem { labels: drop_name(e.labels), value: g(e.value) }).collect()))
            }
            "scalar" => {
                let v = self.vector(&c.args.args[0])?;
                Ok(Value::Scalar(if v.len() == 1 { v[0].value } else { f64::NAN }))
            }
            "vector" => Ok(Value::Vector(vec![Elem { labels: Vec::new(), value: self.scalar(&c.args.args[0])? }])),
            "time" => Ok(Value::Scalar(at_s)),
            other => Err(EvalError::unsupported(format!("function `{other}` is not supported"))),
        }
    }
}

fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        _ => s.parse().ok(),
    }
}

/// `absent(...)`'s labels: the equality matchers of a lone selector.
fn absent_labels(arg: &Ast) -> Elem {
    let vs = match arg {
        Ast::VectorSelector(vs) => Some(vs),
        Ast::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    let mut labels = Labels::new();
    if let Some(vs) = vs {
        let mut seen: Vec<&str> = Vec::new();
        for m in &vs.matchers.matchers {
            if m.name == "__name__" {
                continue;
            }
            if matches!(m.op, MatchOp::Equal) && !seen.contains(&m.name.as_str()) {
                set(&mut labels, &m.name, &m.value);
                seen.push(&m.name);
            } else if seen.contains(&m.name.as_str()) && matches!(m.op, MatchOp::Equal) {
                // The same label twice with `=`: Prometheus drops it.
                del(&mut labels, &m.name);
            }
        }
    }
    Elem { labels, value: 1.0 }
}

/// `l op r`: the arithmetic value, or for comparisons `(l, kept)`.
fn binop(op: token::TokenId, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match op {
        token::T_ADD => (l + r, true),
        token::T_SUB => (l - r, true),
        token::T_MUL => (l * r, true),
        token::T_DIV => (l / r, true),
        token::T_MOD => (l % r, true),
        token::T_POW => (l.powf(r), true),
        token::T_EQLC => (l, l == r),
        token::T_NEQ => (l, l != r),
        token::T_GTR => (l, l > r),
        token::T_LSS => (l, l < r),
        token::T_GTE => (l, l >= r),
        token::T_LTE => (l, l <= r),
        _ => return Err(EvalError::unsupported(format!("operator `{}` is not supported", token::TokenType::new(op)))),
    })
}

fn vector_scalar(op: token::TokenId, v: Vec<Elem>, s: f64, swap: bool, bool_: bool, comparison: bool) -> Result<Vec<Elem>, EvalError> {
    let mut out = Vec::with_capacity(v.len());
    for e in v {
        let (l, r) = if swap { (s, e.value) } else { (e.value, s) };
        let (mut value, keep) = binop(op, l, r)?;
        if comparison && swap {
            value = e.value;
        }
        if bool_ {
            out.push(Elem { labels: drop_name(e.labels), value: if keep { 1.0 } else { 0.0 } });
        } else if keep {
            out.push(Elem { labels: if comparison { e.labels } else { drop_name(e.labels) }, value });
        }
    }
    Ok(out)
}

fn set_op(op: token::TokenId, l: Vec<Elem>, r: Vec<Elem>, matching: Option<&LabelModifier>) -> Vec<Elem> {
    let rs: std::collections::HashSet<Labels> = r.iter().map(|e| signature(&e.labels, matching)).collect();
    match op {
        token::T_LAND => l.into_iter().filter(|e| rs.contains(&signature(&e.labels, matching))).collect(),
        token::T_LUNLESS => l.into_iter().filter(|e| !rs.contains(&signature(&e.labels, matching))).collect(),
        _ => {
            let ls: std::collections::HashSet<Labels> = l.iter().map(|e| signature(&e.labels, matching)).collect();
            let mut out = l;
            out.extend(r.into_iter().filter(|e| !ls.contains(&signature(&e.labels, matching))));
            out
        }
    }
}

fn vector_vector(
    op: token::TokenId,
    l: Vec<Elem>,
    r: Vec<Elem>,
    matching: Option<&LabelModifier>,
    card: &VectorMatchCardinality,
    bool_: bool,
    comparison: bool,
) -> Result<Vec<Elem>, EvalError> {
    // group_right: swap the sides, and swap back in the arithmetic.
    let (many, one, swapped, include) = match card {
        VectorMatchCardinality::OneToMany(ls) => (r, l, true, Some(ls)),
        VectorMatchCardinality::ManyToOne(ls) => (l, r, false, Some(ls)),
        _ => (l, r, false, None),
    };
    let mut one_by_sig: HashMap<Labels, Elem> = HashMap::new();
    for e in one {
        let sig = signature(&e.labels, matching);
        if one_by_sig.contains_key(&sig) {
            let side = if swapped { "left" } else { "right" };
            return Err(EvalError::invalid(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
                fmt_labels(&sig)
            )));
        }
        one_by_sig.insert(sig, e);
    }
    let one_to_one = include.is_none();
    let mut seen: std::collections::HashSet<Labels> = std::collections::HashSet::new();
    let mut out = Vec::new();
    for e in many {
        let sig = signature(&e.labels, matching);
        let Some(o) = one_by_sig.get(&sig) else { continue };
        let (lv, rv) = if swapped { (o.value, e.value) } else { (e.value, o.value) };
        let (mut value, keep) = binop(op, lv, rv)?;
        if comparison && swapped {
            value = e.value;
        }
        let value = if bool_ {
            if keep {
                1.0
            } else {
                0.0
            }
        } else if !keep {
            continue;
        } else {
            value
        };
        // The result's labels (resultMetric in engine.go).
        let mut labels = e.labels;
        if !comparison || bool_ {
            labels = drop_name(labels);
        }
        if one_to_one {
            match matching {
                Some(LabelModifier::Include(ls)) => labels.retain(|(k, _)| ls.labels.contains(k)),
                Some(LabelModifier::Exclude(ls)) => labels.retain(|(k, _)| !ls.labels.contains(k)),
                None => {}
            }
        }
        if let Some(ls) = include {
            for name in &ls.labels {
                match get(&o.labels, name) {
                    Some(v) if !v.is_empty() => {
                        let v = v.to_string();
                        set(&mut labels, name, &v)
                    }
                    _ => del(&mut labels, name),
                }
            }
        }
        if !seen.insert(labels.clone()) {
            return Err(EvalError::invalid(format!(
                "multiple matches for labels {}: many-to-one matching must be explicit (group_left/group_right)",
                fmt_labels(&labels)
            )));
        }
        out.push(Elem { labels, value });
    }
    Ok(out)
}

/// `{a="x", b="y"}`.
pub fn fmt_labels(l: &Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Series as `(labels, [(seconds, value)])`, evaluated with Prometheus's selection rules.
    struct Fake(Vec<(Labels, Vec<(f64, f64)>)>);

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        let mut l: Labels = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        l.sort();
        l
    }

    impl Source for Fake {
        fn instant(&self, sel: &Selector, at: SimTime, out: &mut Vec<Elem>) {
            let t = secs(at);
            for (l, pts) in &self.0 {
                if sel.name.is_some_and(|n| Some(n) != get(l, "__name__")) || !sel.matches(l) {
                    continue;
                }
                if let Some(p) = pts.iter().rev().find(|p| p.0 <= t && p.0 > t - 300.0) {
                    out.push(Elem { labels: l.clone(), value: p.1 });
                }
            }
        }
        fn range(&self, sel: &Selector, at: SimTime, range_ns: u64, out: &mut Vec<RangeSeries>) {
            let (t, w) = (secs(at), secs(range_ns));
            for (l, pts) in &self.0 {
                if sel.name.is_some_and(|n| Some(n) != get(l, "__name__")) || !sel.matches(l) {
                    continue;
                }
                out.push(RangeSeries { labels: l.clone(), points: pts.iter().copied().filter(|p| p.0 > t - w && p.0 <= t).collect() });
            }
        }
    }

    fn world() -> Fake {
        let counter = |rate: f64| (1..=20).map(|i| (i as f64 * 15.0, rate * i as f64 * 15.0)).collect::<Vec<_>>();
        let gauge = |v: f64| (1..=20).map(|i| (i as f64 * 15.0, v)).collect::<Vec<_>>();
        let mut s = vec![
            (ls(&[("__name__", "http_requests_total"), ("pod", "api-0"), ("service", "api")]), counter(2.0)),
            (ls(&[("__name__", "http_requests_total"), ("pod", "api-1"), ("service", "api")]), counter(4.0)),
            (ls(&[("__name__", "http_requests_total"), ("pod", "w-0"), ("service", "worker")]), counter(1.0)),
            (ls(&[("__name__", "up"), ("pod", "api-0"), ("service", "api")]), gauge(1.0)),
            (ls(&[("__name__", "up"), ("pod", "api-1"), ("service", "api")]), gauge(1.0)),
            (ls(&[("__name__", "up"), ("pod", "w-0"), ("service", "worker")]), gauge(1.0)),
            (ls(&[("__name__", "replicas"), ("service", "api")]), gauge(2.0)),
            (ls(&[("__name__", "replicas"), ("service", "worker")]), gauge(1.0)),
        ];
        // A histogram: 100 per second observed, 50 under 0.1, 90 under 0.5, all under 1.
        for (le, per_s) in [("0.1", 50.0), ("0.5", 90.0), ("1", 100.0), ("+Inf", 100.0)] {
            s.push((ls(&[("__name__", "lat_bucket"), ("le", le), ("service", "api")]), counter(per_s)));
        }
        Fake(s)
    }

    fn run(q: &str) -> Result<Value, EvalError> {
        let ast = promql_parser::parser::parse(q).unwrap();
        check(&ast)?;
        eval(&ast, &world(), 300_000_000_000)
    }

    fn sorted(q: &str) -> Vec<(String, f64)> {
        let Value::Vector(v) = run(q).unwrap() else { panic!("{q}: not a vector") };
        let mut v: Vec<(String, f64)> = v.into_iter().map(|e| (fmt_labels(&e.labels), e.value)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn aggregates_group_by_and_without() {
        let v = sorted("sum by (service) (rate(http_requests_total[1m]))");
        assert_eq!(v.len(), 2);
        assert!(v[0].0 == "{service=\"api\"}" && close(v[0].1, 6.0), "{v:?}");
        assert!(close(v[1].1, 1.0), "{v:?}");
        let v = sorted("count without (pod) (up)");
        assert_eq!(v, vec![("{service=\"api\"}".into(), 2.0), ("{service=\"worker\"}".into(), 1.0)]);
        let v = sorted("topk(1, rate(http_requests_total[1m]))");
        assert!(v.len() == 1 && v[0].0.contains("api-1"), "{v:?}");
        let v = sorted("quantile(0.5, rate(http_requests_total[1m]))");
        assert!(close(v[0].1, 2.0), "{v:?}");
    }

    #[test]
    fn binary_operators_match_vectors() {
        let v = sorted("sum(rate(http_requests_total[1m])) / count(up)");
        assert!(v.len() == 1 && close(v[0].1, 7.0 / 3.0), "{v:?}");
        // Many-to-one: each pod's rate over its service's replica count.
        let v = sorted("rate(http_requests_total[1m]) / on (service) group_left replicas");
        assert_eq!(v.len(), 3);
        assert!(close(v[0].1, 1.0) && close(v[1].1, 2.0) && close(v[2].1, 1.0), "{v:?}");
        // Without group_left the many side is refused.
        assert!(run("rate(http_requests_total[1m]) / on (service) replicas").unwrap_err().to_string().contains("multiple matches"));
        let v = sorted("up{service=\"api\"} and on (pod) rate(http_requests_total[1m]) > 3");
        assert!(v.len() == 1 && v[0].0.contains("api-1"), "{v:?}");
        let v = sorted("sum(up) > bool 5");
        assert_eq!(v, vec![("{}".into(), 0.0)]);
    }

    #[test]
    fn functions_follow_prometheus() {
        let v = sorted("histogram_quantile(0.95, sum by (le) (rate(lat_bucket[1m])))");
        // rank 95 of 100 falls in (0.5, 1]: 0.5 + 0.5 * (95 - 90) / 10.
        assert!(v.len() == 1 && close(v[0].1, 0.75), "{v:?}");
        let v = sorted("irate(http_requests_total{pod=\"api-0\"}[1m])");
        assert!(close(v[0].1, 2.0), "{v:?}");
        let v = sorted("deriv(http_requests_total{pod=\"api-0\"}[2m])");
        assert!(close(v[0].1, 2.0), "{v:?}");
        let v = sorted("clamp_max(sum(rate(http_requests_total[1m])), 5)");
        assert!(close(v[0].1, 5.0), "{v:?}");
        assert_eq!(sorted("absent(nothing{service=\"x\"})"), vec![("{service=\"x\"}".into(), 1.0)]);
        assert!(sorted("absent(up)").is_empty());
        assert_eq!(run("scalar(sum(up)) * 2"), Ok(Value::Scalar(6.0)));
        assert_eq!(sorted("vector(1)"), vec![("{}".into(), 1.0)]);
    }
}
