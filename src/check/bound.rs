//! Bounds on metrics, written as text: `sla.attainment >= 0.999`, `scaling.reversals <= 4`,
//! `cost.dollars < 12`, `sla.attainment >= 99.9%`, and against a baseline:
//! `latency_s.p99 <= baseline + 5%`, `cost.dollars <= baseline * 1.1`,
//! `sla.attainment >= baseline - 0.001`.

use std::fmt;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

impl Op {
    pub fn holds(self, x: f64, limit: f64) -> bool {
        match self {
            Op::Ge => x >= limit,
            Op::Gt => x > limit,
            Op::Le => x <= limit,
            Op::Lt => x < limit,
            Op::Eq => x == limit,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Eq => "==",
        }
    }

    /// Whether the bound is a floor (the value must stay above it).
    pub fn is_floor(self) -> bool {
        matches!(self, Op::Ge | Op::Gt)
    }
}

/// The right-hand side: a number, or the baseline's value moved by a margin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Value(f64),
    /// `baseline * factor + add`.
    Baseline { factor: f64, add: f64 },
}

impl Limit {
    /// The limit for a baseline value (ignored for a plain number).
    pub fn resolve(&self, baseline: f64) -> f64 {
        match *self {
            Limit::Value(v) => v,
            Limit::Baseline { factor, add } => baseline * factor + add,
        }
    }
}

/// `metric op limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub metric: String,
    pub op: Op,
    pub limit: Limit,
    /// As written (spaces normalized).
    pub text: String,
}

impl Bound {
    pub fn needs_baseline(&self) -> bool {
        matches!(self.limit, Limit::Baseline { .. })
    }

    /// Parse a bound; `allow_baseline` is false where no baseline exists (a sweep's
    /// `subject_to`).
    pub fn parse(text: &str, allow_baseline: bool) -> Result<Bound, String> {
        const FORMS: &str = "expected `METRIC OP NUMBER` like `sla.attainment >= 0.999` or `scaling.reversals <= 4`";
        let ops = [(">=", Op::Ge), ("<=", Op::Le), ("==", Op::Eq), (">", Op::Gt), ("<", Op::Lt)];
        let Some((at, len, op)) = ops
            .iter()
            .filter_map(|(s, op)| text.find(s).map(|i| (i, s.len(), *op)))
            .min_by_key(|(i, len, _)| (*i, usize::MAX - len))
        else {
            return Err(format!("{text:?}: no comparison (>=, <=, >, <, ==): {FORMS}"));
        };
        let metric = text[..at].trim();
        let rhs = text[at + len..].trim();
        if metric.is_empty() {
            return Err(format!("{text:?}: no metric before `{}`: {FORMS}", op.text()));
        }
        if !metric.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-')) || metric.starts_with('.') || metric.ends_with('.') {
            return Err(format!("{text:?}: `{metric}` is not a metric path: expected a dotted path into summary.json like `latency_s.p99`"));
        }
        if rhs.is_empty() {
            return Err(format!("{text:?}: nothing after `{}`: {FORMS}", op.text()));
        }
        let limit = if let Some(rest) = rhs.strip_prefix("baseline") {
            if !allow_baseline {
                return Err(format!("{text:?}: a bound against a baseline belongs in `autosim check` expectations; here give a number"));
            }
            let rest = rest.trim();
            let bad = || format!("{text:?}: expected `baseline`, `baseline + 5%`, `baseline - 0.01` or `baseline * 1.1` after `{}`", op.text());
            if rest.is_empty() {
                Limit::Baseline { factor: 1.0, add: 0.0 }
            } else {
                let (sign, num) = match rest.as_bytes()[0] {
                    b'+' => ('+', rest[1..].trim()),
                    b'-' => ('-', rest[1..].trim()),
                    b'*' => ('*', rest[1..].trim()),
                    _ => return Err(bad()),
                };
                let (value, percent) = number(num).ok_or_else(bad)?;
                match (sign, percent) {
                    ('*', true) => return Err(bad()),
                    ('*', false) => Limit::Baseline { factor: value, add: 0.0 },
                    ('+', true) => Limit::Baseline { factor: 1.0 + value, add: 0.0 },
                    ('-', true) => Limit::Baseline { factor: 1.0 - value, add: 0.0 },
                    ('+', false) => Limit::Baseline { factor: 1.0, add: value },
                    _ => Limit::Baseline { factor: 1.0, add: -value },
                }
            }
        } else {
            let (v, _) = number(rhs).ok_or_else(|| format!("{text:?}: `{rhs}` is not a number: {FORMS}"))?;
            Limit::Value(v)
        };
        let text = format!("{metric} {} {}", op.text(), rhs.split_whitespace().collect::<Vec<_>>().join(" "));
        Ok(Bound { metric: metric.to_string(), op, limit, text })
    }
}

/// A number, or a percentage (`5%` is 0.05); and whether it was a percentage.
fn number(s: &str) -> Option<(f64, bool)> {
    let (s, percent) = match s.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (s, false),
    };
    let _: f64 = s.parse().ok()?;
    // "99.9%" read as 99.9e-2: the nearest double to 0.999, which 99.9 / 100 is not.
    let v: f64 = if percent { format!("{s}e-2").parse().ok()? } else { s.parse().ok()? };
    v.is_finite().then_some((v, percent))
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms() {
        let b = Bound::parse("sla.attainment>=0.999", false).unwrap();
        assert_eq!((b.metric.as_str(), b.op, b.limit), ("sla.attainment", Op::Ge, Limit::Value(0.999)));
        assert_eq!(b.text, "sla.attainment >= 0.999");
        assert_eq!(Bound::parse("sla.attainment >= 99.9%", false).unwrap().limit, Limit::Value(0.999));
        let r = Bound::parse("latency_s.p99 <= baseline + 5%", true).unwrap();
        assert!((r.limit.resolve(2.0) - 2.1).abs() < 1e-12);
        assert_eq!(Bound::parse("cost.dollars <= baseline * 1.5", true).unwrap().limit.resolve(2.0), 3.0);
        assert_eq!(Bound::parse("x.y >= baseline - 0.5", true).unwrap().limit.resolve(2.0), 1.5);
        assert_eq!(Bound::parse("x < 3", false).unwrap().op, Op::Lt);
        for bad in ["sla.attainment 0.9", ">= 3", "x >= ", "x >= abc", "x >= baseline ^ 2", "a b >= 1"] {
            assert!(Bound::parse(bad, true).is_err(), "{bad}");
        }
        assert!(Bound::parse("x <= baseline", false).unwrap_err().contains("baseline"));
    }
}
