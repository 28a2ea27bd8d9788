//! CI gates: expectations on a scenario's results (absolute bounds, and bounds against a
//! baseline), checked on fresh runs, with a table, JUnit XML and a Markdown summary.
//!
//! - `metric`: metrics by dotted path into summary.json; `bound`: the bounds' text;
//!   `stats`: means and Student-t intervals over seeds.
//! - Expectations are written in the scenario (`[[expect]]`, see docs/scenario.md) or in a file
//!   of `[[expect]]` tables; `expect` validates them into [`Expectation`]s.
//!
//! Reads summaries (`crate::report`) and scenario spans; runs nothing itself (`cli/` runs the
//! seeds).

pub mod bound;
pub mod expect;
pub mod metric;
pub mod stats;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use bound::{Bound, Limit};
use stats::Estimate;

/// How a bound is judged over several seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum By {
    /// The mean must meet the bound.
    Mean,
    /// The whole confidence interval must meet it (a stricter gate).
    Interval,
}

/// One `[[expect]]` table, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The policies it applies to (names); every policy when the table names none.
    pub policies: Vec<String>,
    /// Seeds to run: the scenario's seed and the ones after it.
    pub seeds: u32,
    pub by: By,
    pub confidence: f64,
    /// Each bound and where its text is in the file.
    pub bounds: Vec<(Bound, Range<usize>)>,
}

/// The baseline file: per policy, each metric's values over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub autosim_baseline: u32,
    pub scenario: String,
    pub policies: BTreeMap<String, BaselinePolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselinePolicy {
    pub seeds: Vec<u64>,
    /// Every numeric field of summary.json by its dotted path, one value per seed.
    pub metrics: BTreeMap<String, Vec<f64>>,
}

/// The verdict of one bound for one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub policy: String,
    pub bound: String,
    pub value: Estimate,
    /// The limit the value was held to (for a baseline bound: the baseline's mean moved by
    /// the margin).
    pub limit: f64,
    pub baseline: Option<Estimate>,
    /// For a baseline bound judged by interval: the change from the baseline (value minus
    /// baseline) and its interval, which must lie within the margin.
    pub change: Option<Change>,
    pub by: By,
    pub pass: bool,
    pub confidence: f64,
}

/// The change of a metric from its baseline, with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub mean: f64,
    pub half_width: f64,
    /// Paired seed by seed (the runs and the baseline's share their seeds), or two samples
    /// (Welch).
    pub paired: bool,
}

impl Change {
    /// The change between two sets of runs: paired differences when `paired` (the same seeds,
    /// in order, so the common random numbers cancel), else Welch's two-sample interval.
    pub fn of(values: &[f64], baseline: &[f64], paired: bool, confidence: f64) -> Change {
        if paired && values.len() == baseline.len() {
            let d: Vec<f64> = values.iter().zip(baseline).map(|(x, b)| x - b).collect();
            let e = Estimate::of(&d, confidence);
            return Change { mean: e.mean, half_width: e.half_width, paired: true };
        }
        let (x, b) = (Estimate::of(values, confidence), Estimate::of(baseline, confidence));
        let vx = if x.n > 1 { x.sd * x.sd / x.n as f64 } else { 0.0 };
        let vb = if b.n > 1 { b.sd * b.sd / b.n as f64 } else { 0.0 };
        let mut half_width = 0.0;
        if vx + vb > 0.0 {
            // Welch-Satterthwaite degrees of freedom.
            let mut den = 0.0;
            if x.n > 1 {
                den += vx * vx / (x.n - 1) as f64;
            }
            if b.n > 1 {
                den += vb * vb / (b.n - 1) as f64;
            }
            let df = (vx + vb) * (vx + vb) / den;
            half_width = stats::t_quantile(1.0 - (1.0 - confidence) / 2.0, df) * (vx + vb).sqrt();
        }
        Change { mean: x.mean - b.mean, half_width, paired: false }
    }

    pub fn low(&self) -> f64 {
        self.mean - self.half_width
    }

    pub fn high(&self) -> f64 {
        self.mean + self.half_width
    }
}

/// Judge `values` (one per seed) against a bound. `paired`: the baseline's values come from
/// the same seeds, in order, as `values`.
///
/// By interval, a bound against the baseline holds the change from the baseline to the
/// margin: the whole interval of the change (paired seed by seed when the seeds are shared,
/// else Welch's) must stay within `limit - baseline mean`. An unchanged configuration then
/// passes whatever the seeds' spread, and a change whose effect may exceed the margin fails.
pub fn judge(b: &Bound, values: &[f64], baseline: Option<&[f64]>, paired: bool, by: By, confidence: f64, policy: &str) -> Outcome {
    let value = Estimate::of(values, confidence);
    let base = baseline.map(|v| Estimate::of(v, confidence));
    let limit = match b.limit {
        Limit::Value(v) => v,
        Limit::Baseline { .. } => b.limit.resolve(base.map_or(f64::NAN, |e| e.mean)),
    };
    if let (By::Interval, Limit::Baseline { .. }, Some(bv), Some(be)) = (by, b.limit, baseline, base) {
        let change = Change::of(values, bv, paired, confidence);
        let margin = limit - be.mean;
        let pass = match b.op {
            bound::Op::Eq => change.low() == margin && change.high() == margin,
            op if op.is_floor() => op.holds(change.low(), margin),
            op => op.holds(change.high(), margin),
        };
        return Outcome { policy: policy.to_string(), bound: b.text.clone(), value, limit, baseline: base, change: Some(change), by, pass, confidence };
    }
    let x = match by {
        By::Mean => value.mean,
        // The interval's end on the wrong side of the bound.
        By::Interval if b.op.is_floor() => value.low(),
        By::Interval => value.high(),
    };
    let pass = match (by, b.op) {
        (By::Interval, bound::Op::Eq) => value.low() == limit && value.high() == limit,
        _ => b.op.holds(x, limit),
    };
    Outcome { policy: policy.to_string(), bound: b.text.clone(), value, limit, baseline: base, change: None, by, pass, confidence }
}

fn num(x: f64) -> String {
    if !x.is_finite() {
        return metric::fmt_number(x);
    }
    if x == 0.0 || (x.abs() >= 1e-3 && x.abs() < 1e6 && x.fract() == 0.0) {
        return metric::fmt_number(x);
    }
    let mag = x.abs().log10().floor() as i32;
    let d = (5 - mag).clamp(0, 12) as usize;
    let s = format!("{x:.d$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl Outcome {
    pub fn value_text(&self) -> String {
        let v = if self.value.n > 1 {
            format!("{} ±{} (n={})", num(self.value.mean), num(self.value.half_width), self.value.n)
        } else {
            num(self.value.mean)
        };
        match &self.change {
            Some(c) => format!("{v}, change {}{} ±{}{}", if c.mean > 0.0 { "+" } else { "" }, num(c.mean), num(c.half_width), if c.paired { " paired" } else { "" }),
            None => v,
        }
    }

    pub fn limit_text(&self) -> String {
        match &self.baseline {
            Some(b) if b.n > 1 => format!("{} (baseline {} ±{})", num(self.limit), num(b.mean), num(b.half_width)),
            Some(b) => format!("{} (baseline {})", num(self.limit), num(b.mean)),
            None => num(self.limit),
        }
    }

    /// Why it failed, in words.
    pub fn why(&self) -> String {
        let what = match self.by {
            By::Mean if self.value.n > 1 => "the mean",
            By::Mean => "the value",
            By::Interval if self.change.is_some() => "the change from the baseline (its confidence interval)",
            By::Interval => "the confidence interval",
        };
        format!("{} {what} {} does not meet {} (limit {})", self.policy, self.value_text(), self.bound, self.limit_text())
    }
}

/// The pass / fail table for the terminal.
pub fn table(outcomes: &[Outcome]) -> String {
    let rows: Vec<[String; 5]> = outcomes
        .iter()
        .map(|o| [o.policy.clone(), o.bound.clone(), o.value_text(), o.limit_text(), if o.pass { "pass".into() } else { "FAIL".into() }])
        .collect();
    let head = ["policy", "check", "value", "limit", "result"];
    let mut w = head.map(|h| h.len());
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: [&str; 5], out: &mut String| {
        let _ = writeln!(out, "{:<a$}  {:<b$}  {:>c$}  {:>d$}  {}", cells[0], cells[1], cells[2], cells[3], cells[4], a = w[0], b = w[1], c = w[2], d = w[3]);
    };
    line(head, &mut out);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]], &mut out);
    }
    let failed = outcomes.iter().filter(|o| !o.pass).count();
    let _ = writeln!(out, "{} check(s): {} passed, {} failed", outcomes.len(), outcomes.len() - failed, failed);
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// JUnit XML: a test suite for the scenario, a test case per policy and bound.
pub fn junit(scenario: &str, outcomes: &[Outcome]) -> String {
    let failures = outcomes.iter().filter(|o| !o.pass).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"autosim check\" tests=\"{}\" failures=\"{failures}\">", outcomes.len());
    let _ = writeln!(out, "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">", xml(scenario), outcomes.len());
    for o in outcomes {
        let _ = write!(out, "    <testcase classname=\"{}.{}\" name=\"{}\"", xml(scenario), xml(&o.policy), xml(&o.bound));
        if o.pass {
            let _ = writeln!(out, ">\n      <system-out>{}: {} (limit {})</system-out>\n    </testcase>", xml(&o.bound), xml(&o.value_text()), xml(&o.limit_text()));
        } else {
            let _ = writeln!(out, ">\n      <failure message=\"{}\" type=\"bound\"/>\n    </testcase>", xml(&o.why()));
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// A Markdown summary for a pull-request comment.
pub fn markdown(scenario: &str, outcomes: &[Outcome]) -> String {
    let failed = outcomes.iter().filter(|o| !o.pass).count();
    let mut out = String::new();
    let verdict = if failed == 0 { "passed".to_string() } else { format!("**{failed} failed**") };
    let _ = writeln!(out, "### autosim check: `{scenario}`: {} check(s), {verdict}\n", outcomes.len());
    out.push_str("| | policy | check | value | limit |\n|---|---|---|---|---|\n");
    let cell = |s: &str| s.replace('|', "\\|");
    for o in outcomes {
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {} | {} |",
            if o.pass { "✅" } else { "❌" },
            cell(&o.policy),
            cell(&o.bound),
            cell(&o.value_text()),
            cell(&o.limit_text())
        );
    }
    if outcomes.iter().any(|o| o.value.n > 1) {
        let c = outcomes.iter().map(|o| o.confidence).next().unwrap_or(0.95);
        let _ = writeln!(out, "\n± is the half-width of the {}% Student-t confidence interval over seeds.", c * 100.0);
        if outcomes.iter().any(|o| o.change.is_some()) {
            let _ = writeln!(out, "A change is the value minus the baseline (paired: seed by seed); by interval, its whole interval must stay within the bound's margin.");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judging_by_mean_and_interval() {
        let b = Bound::parse("latency_s.p99 <= baseline + 10%", true).unwrap();
        let o = judge(&b, &[1.05, 1.06], Some(&[1.0, 1.0]), true, By::Mean, 0.95, "p");
        assert!(o.pass, "{o:?}");
        assert!((o.limit - 1.1).abs() < 1e-12);
        let strict = judge(&b, &[1.0, 1.19], Some(&[1.0, 1.0]), true, By::Interval, 0.95, "p");
        assert!(!strict.pass, "{strict:?}");
        let floor = Bound::parse("sla.attainment >= 0.99", false).unwrap();
        assert!(!judge(&floor, &[0.98], None, false, By::Mean, 0.95, "p").pass);
        let j = junit("s", &[o, strict]);
        assert!(j.contains("failures=\"1\"") && j.contains("<failure"), "{j}");
    }

    /// By interval against a baseline: noisy seeds of an unchanged configuration pass (the
    /// paired change is exactly 0), a consistent drop beyond the margin fails, and without
    /// shared seeds Welch's interval of the change decides.
    #[test]
    fn interval_against_a_baseline_judges_the_change() {
        let b = Bound::parse("sla.attainment >= baseline - 0.001", true).unwrap();
        let runs = [0.93, 0.89, 0.91, 0.92, 0.90];
        let same = judge(&b, &runs, Some(&runs), true, By::Interval, 0.95, "p");
        assert!(same.pass, "{same:?}");
        assert_eq!(same.change.unwrap().mean, 0.0);
        let worse: Vec<f64> = runs.iter().map(|x| x - 0.01).collect();
        let o = judge(&b, &worse, Some(&runs), true, By::Interval, 0.95, "p");
        assert!(!o.pass, "{o:?}");
        assert!(o.why().contains("change"), "{}", o.why());
        // Unpaired: the same spread, shifted by nothing, passes only if the margin covers the
        // interval of the difference of means; a margin of 0.05 does.
        let wide = Bound::parse("sla.attainment >= baseline - 0.05", true).unwrap();
        let other = [0.90, 0.92, 0.89, 0.93, 0.91];
        let c = Change::of(&other, &runs, false, 0.95);
        assert!(c.half_width > 0.0 && c.mean.abs() < 1e-12, "{c:?}");
        assert!(judge(&wide, &other, Some(&runs), false, By::Interval, 0.95, "p").pass);
        assert!(!judge(&b, &other, Some(&runs), false, By::Interval, 0.95, "p").pass);
        // A ceiling: `<= baseline + 5%` with a paired change of +1 % passes, +10 % fails.
        let ceil = Bound::parse("cost.pod_seconds <= baseline + 5%", true).unwrap();
        let base = [100.0, 110.0, 90.0];
        let up1: Vec<f64> = base.iter().map(|x| x * 1.01).collect();
        let up10: Vec<f64> = base.iter().map(|x| x * 1.10).collect();
        assert!(judge(&ceil, &up1, Some(&base), true, By::Interval, 0.95, "p").pass);
        assert!(!judge(&ceil, &up10, Some(&base), true, By::Interval, 0.95, "p").pass);
    }
}
