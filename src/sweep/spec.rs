//! The sweep file: a base scenario, axes of values, seeds, and the question to answer.
//! Raw serde types first (unknown keys refused), then the validated [`Sweep`].

use std::ops::Range;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Deserialize;
use toml::Spanned;

use super::path::{self, Edited, Origin, Slot, TomlPath};
use crate::check::bound::Bound;
use crate::check::metric;
use crate::experiment::Experiment;
use crate::scenario::{self, ConfigError, ScenarioError};
use crate::units::{parse_duration, Duration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    base: Spanned<String>,
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    seeds: Option<Spanned<toml::Value>>,
    #[serde(default)]
    policies: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    metrics: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    confidence: Option<Spanned<f64>>,
    #[serde(default)]
    minimize: Option<Spanned<String>>,
    #[serde(default)]
    maximize: Option<Spanned<String>>,
    #[serde(default)]
    subject_to: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pareto: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    sampling: Option<Spanned<RawSampling>>,
    axis: Spanned<Vec<Spanned<RawAxis>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAxis {
    path: Spanned<String>,
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    values: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    #[serde(default)]
    range: Option<Spanned<RawRange>>,
    #[serde(default)]
    min: Option<Spanned<toml::Value>>,
    #[serde(default)]
    max: Option<Spanned<toml::Value>>,
    #[serde(default)]
    integer: Option<Spanned<bool>>,
    #[serde(default)]
    log: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    start: Spanned<toml::Value>,
    stop: Spanned<toml::Value>,
    step: Spanned<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSampling {
    method: Spanned<String>,
    points: Spanned<u32>,
    #[serde(default)]
    seed: Option<u64>,
}

/// Most points a sweep may have.
pub const MAX_POINTS: usize = 1_000_000;
/// Most seeds per point.
pub const MAX_SEEDS: usize = 10_000;

/// One value of an axis at a point.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisValue {
    /// As TOML text, spliced into the scenario.
    pub toml: String,
    /// As written to sweep.csv: the text of a string, the TOML of anything else.
    pub label: String,
    /// The number, for plots (a duration in seconds).
    pub num: Option<f64>,
    /// Its place on a grid axis (0 for a sampled one).
    pub index: usize,
}

/// A swept value.
#[derive(Debug, Clone)]
pub struct Axis {
    /// The column name in sweep.csv: `name`, or the path.
    pub name: String,
    pub path: TomlPath,
    /// Where the path is written in the sweep file.
    pub span: Range<usize>,
    /// Where its value goes in the base scenario's text.
    pub slot: Slot,
    /// The grid values; empty for a sampled axis.
    pub grid: Vec<AxisValue>,
    pub sampled: Option<Sampled>,
}

/// A sampled axis: values drawn in `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    pub min: f64,
    pub max: f64,
    pub integer: bool,
    pub log: bool,
    /// Values are durations, held in seconds.
    pub duration: bool,
}

/// A point of the sweep: one value per axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub id: usize,
    pub values: Vec<AxisValue>,
}

/// What to optimize.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub metric: String,
    pub maximize: bool,
}

/// A validated sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub file: PathBuf,
    pub source: String,
    pub name: String,
    pub base_file: PathBuf,
    pub base_source: String,
    pub base: Experiment,
    pub axes: Vec<Axis>,
    pub points: Vec<Point>,
    pub seeds: Vec<u64>,
    /// Policies run at each point: index in the base scenario and name.
    pub policies: Vec<(usize, String)>,
    /// The metric columns of sweep.csv.
    pub metrics: Vec<String>,
    pub confidence: f64,
    pub objective: Option<Objective>,
    pub subject_to: Vec<Bound>,
    /// Pareto objectives: metric and whether higher is better.
    pub pareto: Vec<(String, bool)>,
    /// Every metric named in the file and where, for checking them against a summary.
    pub metric_refs: Vec<(String, Range<usize>)>,
    pub sampling: Option<(String, usize, u64)>,
}

/// The metrics sweep.csv holds when the file names none.
pub const DEFAULT_METRICS: &[&str] = &[
    "sla.attainment",
    "sla.availability",
    "sla.violation_minutes",
    "latency_s.p50",
    "latency_s.p99",
    "cost.dollars",
    "cost.pod_seconds",
    "scaling.events",
    "scaling.reversals",
];

/// The default Pareto objectives: cost against SLO attainment and flapping.
pub const DEFAULT_PARETO: &[&str] = &["cost.dollars", "sla.attainment", "scaling.reversals"];

fn at(span: Range<usize>, m: impl Into<String>) -> ConfigError {
    ConfigError::at(span, m)
}

/// A number or a duration, for ranges and sample bounds: (value, is a duration (seconds)).
fn numeric(v: &Spanned<toml::Value>, what: &str) -> Result<(f64, bool, bool), ConfigError> {
    match v.get_ref() {
        toml::Value::Integer(i) => Ok((*i as f64, false, true)),
        toml::Value::Float(f) if f.is_finite() => Ok((*f, false, false)),
        toml::Value::String(s) => match parse_duration(s) {
            Ok(d) => Ok((d.nanos() as f64 / 1e9, true, false)),
            Err(e) => Err(at(v.span(), format!("`{what}`: {e}"))),
        },
        _ => Err(at(v.span(), format!("`{what}`: expected a number or a duration like \"30s\""))),
    }
}

fn value_of(v: &toml::Value, index: usize) -> AxisValue {
    let toml = path::render(v);
    let (label, num) = match v {
        toml::Value::String(s) => (s.clone(), parse_duration(s).ok().map(|d| d.nanos() as f64 / 1e9)),
        toml::Value::Integer(i) => (toml.clone(), Some(*i as f64)),
        toml::Value::Float(f) => (toml.clone(), Some(*f)),
        toml::Value::Boolean(b) => (toml.clone(), Some(if *b { 1.0 } else { 0.0 })),
        _ => (toml.clone(), None),
    };
    AxisValue { toml, label, num, index }
}

/// A duration value from seconds, rounded to the millisecond.
fn duration_value(s: f64, index: usize) -> AxisValue {
    let ns = ((s * 1e3).round().max(0.0) as u64) * 1_000_000;
    value_of(&toml::Value::String(Duration(ns).to_string()), index)
}

/// Decimal places of a number's shortest form.
fn decimals(x: f64) -> usize {
    let s = format!("{x}");
    s.find('.').map_or(0, |i| s.len() - i - 1)
}

fn range_values(r: &Spanned<RawRange>) -> Result<Vec<AxisValue>, ConfigError> {
    let RawRange { start, stop, step } = r.get_ref();
    let (a, da, ia) = numeric(start, "range.start")?;
    let (b, db, ib) = numeric(stop, "range.stop")?;
    let (s, ds, is) = numeric(step, "range.step")?;
    if da != db || da != ds {
        return Err(at(r.span(), "`range`: `start`, `stop` and `step` must all be numbers or all durations"));
    }
    if s <= 0.0 {
        return Err(at(step.span(), "`range.step` must be more than zero"));
    }
    if b < a {
        return Err(at(stop.span(), "`range.stop` is below `range.start`"));
    }
    let n = ((b - a) / s * (1.0 + 1e-12) + 1e-9).floor() as usize + 1;
    if n > MAX_POINTS {
        return Err(at(r.span(), format!("`range` has {n} values, more than a sweep holds ({MAX_POINTS})")));
    }
    let places = decimals(a).max(decimals(s));
    Ok((0..n)
        .map(|k| {
            let x = a + k as f64 * s;
            if da {
                duration_value(x, k)
            } else if ia && ib && is {
                value_of(&toml::Value::Integer(x.round() as i64), k)
            } else {
                let rounded: f64 = format!("{x:.places$}").parse().unwrap_or(x);
                value_of(&toml::Value::Float(rounded), k)
            }
        })
        .collect())
}

impl Sweep {
    /// Read and validate a sweep file (and its base scenario).
    pub fn load(file: &Path) -> Result<Sweep, ScenarioError> {
        let source = std::fs::read_to_string(file)
            .map_err(|e| ScenarioError::whole_file(file, format!("cannot read the sweep file: {e}")))?;
        Sweep::parse(file, source)
    }

    /// Validate a sweep file's text (files it names are relative to `file`'s folder).
    pub fn parse(file: &Path, source: String) -> Result<Sweep, ScenarioError> {
        let locate = |e: ConfigError| ScenarioError::locate(file, &source, e);
        let raw: RawSweep = toml::from_str(&source).map_err(|e| match scenario::file_kind(&source) {
            Some(scenario::FileKind::Scenario) => ScenarioError::whole_file(
                file,
                format!(
                    "this is a scenario, not a sweep file: run it with `autosim run {}`; a sweep file names a scenario as `base = \"...\"` and adds `[[axis]]` tables (docs/sweeps-and-gates.md)",
                    file.display()
                ),
            ),
            _ => locate(ConfigError::from(e)),
        })?;
        let dir = scenario::base_dir(file);
        let RawSweep { base, name, seeds, policies, metrics, confidence, minimize, maximize, subject_to, pareto, sampling, axis } = raw;

        let base_file = dir.join(base.get_ref());
        let base_source = std::fs::read_to_string(&base_file).map_err(|e| {
            locate(at(base.span(), format!("`base`: cannot read the scenario {}: {e}", base_file.display())))
        })?;
        let base_sc = crate::experiment::load(&base_file).map_err(|mut e| {
            // A `base` that is not TOML at all may be any file: its line is not shown.
            if toml::from_str::<toml::Table>(&base_source).is_err() {
                e.snippet = None;
                e.message = crate::quote::shorten(&e.message);
            }
            e
        })?;

        let name = sweep_name(name.as_ref(), file).map_err(locate)?;
        let seeds = sweep_seeds(seeds.as_ref(), base_sc.scenario.seed).map_err(locate)?;
        let policies = sweep_policies(policies.as_ref(), &base_sc).map_err(locate)?;
        let confidence = match &confidence {
            None => 0.95,
            Some(c) if *c.get_ref() > 0.0 && *c.get_ref() < 1.0 => *c.get_ref(),
            Some(c) => return Err(locate(at(c.span(), "`confidence` must be between 0 and 1, like 0.95"))),
        };
        let Metrics { list: metric_list, objective, bounds, pareto: pareto_list, refs: metric_refs } =
            sweep_metrics(metrics.as_deref(), minimize.as_ref(), maximize.as_ref(), subject_to.as_deref(), pareto.as_ref()).map_err(locate)?;

        // Axes.
        if axis.get_ref().is_empty() {
            return Err(locate(at(axis.span(), "no axes: expected at least one [[axis]] with a `path` and `values`, a `range` or `min`/`max`")));
        }
        let mut axes: Vec<Axis> = Vec::new();
        for a in axis.get_ref() {
            let ax = sweep_axis(a, &axes, &metric_list, &base_source, &base_file).map_err(locate)?;
            axes.push(ax);
        }

        let sampling = sweep_sampling(sampling.as_ref(), axis.span(), axes.iter().any(|a| a.sampled.is_some())).map_err(locate)?;
        let points = sweep_points(&axes, sampling.as_ref(), axis.span()).map_err(locate)?;

        let sweep = Sweep {
            file: file.to_path_buf(),
            source: source.clone(),
            name,
            base_file,
            base_source,
            base: base_sc,
            axes,
            points,
            seeds,
            policies,
            metrics: metric_list,
            confidence,
            objective,
            subject_to: bounds,
            pareto: pareto_list,
            metric_refs,
            sampling,
        };
        // A path that adds a key the scenario does not know is a mistake in the sweep, not a
        // point that fails: try the first point.
        if let Err(PointError::Axis { axis, message }) = sweep.scenario(&sweep.points[0]) {
            if !sweep.axes[axis].slot.replaces {
                return Err(locate(at(sweep.axes[axis].span.clone(), format!("axis `{}`: {message}", sweep.axes[axis].path.text))));
            }
        }
        Ok(sweep)
    }

    /// The base scenario's text with the point's values.
    pub fn point_text(&self, p: &Point) -> Edited {
        let edits: Vec<(Range<usize>, String)> = self
            .axes
            .iter()
            .zip(&p.values)
            .map(|(a, v)| (a.slot.range.clone(), format!("{}{}{}", a.slot.prefix, v.toml, a.slot.suffix)))
            .collect();
        Edited::apply(&self.base_source, &edits)
    }

    /// The point's scenario, validated; an error says where (in the base file, or in an
    /// axis' value).
    pub fn scenario(&self, p: &Point) -> Result<Experiment, PointError> {
        let edited = self.point_text(p);
        let dir = scenario::base_dir(&self.base_file);
        crate::experiment::parse(&edited.text, &dir).map_err(|e| {
            let origin = e.span.clone().map(|s| edited.origin(s));
            match origin {
                Some(Origin::Edit(i)) => PointError::Axis { axis: i, message: e.message },
                Some(Origin::Base(r)) => {
                    let located = ScenarioError::locate(&self.base_file, &self.base_source, ConfigError::at(r, e.message));
                    PointError::Base(located)
                }
                None => PointError::Base(ScenarioError::locate(&self.base_file, &self.base_source, e)),
            }
        })
    }

    /// A point's values for messages: `target=70, window=5m`.
    pub fn describe(&self, p: &Point) -> String {
        self.axes.iter().zip(&p.values).map(|(a, v)| format!("{}={}", a.name, v.label)).collect::<Vec<_>>().join(", ")
    }
}

/// Why a point's scenario is not valid.
#[derive(Debug, Clone)]
pub enum PointError {
    /// In the value of this axis.
    Axis { axis: usize, message: String },
    /// Elsewhere in the base scenario (placed in its file).
    Base(ScenarioError),
}

impl PointError {
    /// One line for sweep.csv.
    pub fn line(&self, sweep: &Sweep, p: &Point) -> String {
        match self {
            PointError::Axis { axis, message } => {
                let a = &sweep.axes[*axis];
                let (l, c, _) = scenario::error::line_col(&sweep.source, a.span.start);
                format!("{}:{l}:{c}: axis `{}` = {}: {message}", sweep.file.display(), a.name, p.values[*axis].toml)
            }
            PointError::Base(e) => match e.position {
                Some((l, c)) => format!("{}:{l}:{c}: {}", e.file.display(), e.message),
                None => format!("{}: {}", e.file.display(), e.message),
            },
        }
        .replace('\n', " ")
    }
}

fn overlaps(a: &Slot, b: &Slot) -> bool {
    let (x, y) = (&a.range, &b.range);
    (x.start < y.end && y.start < x.end) || (x.is_empty() && y.start < x.start && x.start < y.end) || (y.is_empty() && x.start < y.start && y.start < x.end)
}

/// The sweep's name: `name`, or the file's stem.
fn sweep_name(name: Option<&Spanned<String>>, file: &Path) -> Result<String, ConfigError> {
    Ok(match name {
        Some(n) => {
            let s = n.get_ref();
            if s.is_empty() || s.contains(['/', '\\']) || s.starts_with('.') {
                return Err(at(n.span(), "invalid sweep name: expected a name usable as a folder name"));
            }
            s.clone()
        }
        None => file.file_stem().map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned()),
    })
}

/// `seeds`: a count (the base's seed and the ones after it) or a list; the base's seed alone
/// by default.
fn sweep_seeds(seeds: Option<&Spanned<toml::Value>>, base_seed: u64) -> Result<Vec<u64>, ConfigError> {
    let Some(v) = seeds else { return Ok(vec![base_seed]) };
    match v.get_ref() {
        toml::Value::Integer(n) if *n >= 1 && (*n as usize) <= MAX_SEEDS => Ok((0..*n as u64).map(|k| base_seed.wrapping_add(k)).collect()),
        toml::Value::Array(list) if !list.is_empty() && list.len() <= MAX_SEEDS => {
            let mut out = Vec::new();
            for s in list {
                match s.as_integer() {
                    Some(i) if i >= 0 && !out.contains(&(i as u64)) => out.push(i as u64),
                    _ => return Err(at(v.span(), "`seeds`: expected distinct whole numbers (0 or more)")),
                }
            }
            Ok(out)
        }
        _ => Err(at(
            v.span(),
            format!("`seeds`: expected a count (1 to {MAX_SEEDS}: the scenario's seed and the ones after it) or a list of seeds"),
        )),
    }
}

/// `policies`: the base's policies to run (index, name); all of them by default.
fn sweep_policies(policies: Option<&Spanned<Vec<Spanned<String>>>>, base: &Experiment) -> Result<Vec<(usize, String)>, ConfigError> {
    let Some(list) = policies else {
        return Ok(base.policies.iter().enumerate().map(|(i, p)| (i, p.name.clone())).collect());
    };
    if list.get_ref().is_empty() {
        return Err(at(list.span(), "`policies` is empty: name at least one, or leave it out for all"));
    }
    let mut out: Vec<(usize, String)> = Vec::new();
    for p in list.get_ref() {
        let Some(i) = base.policy_index(p.get_ref()) else {
            return Err(at(p.span(), format!("the base scenario has no policy {:?} (it has: {})", p.get_ref(), base.policy_names().join(", "))));
        };
        if out.iter().any(|(j, _)| *j == i) {
            return Err(at(p.span(), format!("policy {:?} is named twice", p.get_ref())));
        }
        out.push((i, p.get_ref().clone()));
    }
    Ok(out)
}

/// The metrics a sweep records and answers with.
struct Metrics {
    /// The columns of sweep.csv: `metrics` (or the defaults) and every metric the answers need.
    list: Vec<String>,
    objective: Option<Objective>,
    bounds: Vec<Bound>,
    /// Each Pareto metric, and whether higher is better.
    pareto: Vec<(String, bool)>,
    /// Every metric named, with where (checked against a summary before the sweep runs).
    refs: Vec<(String, Range<usize>)>,
}

fn sweep_metrics(
    metrics: Option<&[Spanned<String>]>,
    minimize: Option<&Spanned<String>>,
    maximize: Option<&Spanned<String>>,
    subject_to: Option<&[Spanned<String>]>,
    pareto: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Result<Metrics, ConfigError> {
    let mut refs: Vec<(String, Range<usize>)> = Vec::new();
    let mut check_metric = |m: &Spanned<String>| -> Result<String, ConfigError> {
        let s = m.get_ref().trim();
        if s.is_empty() || !s.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(at(m.span(), format!("{s:?} is not a metric: expected a dotted path into summary.json like `cost.dollars`")));
        }
        refs.push((s.to_string(), m.span()));
        Ok(s.to_string())
    };
    let mut list: Vec<String> = Vec::new();
    match metrics {
        Some(given) => {
            for m in given {
                let s = check_metric(m)?;
                if !list.contains(&s) {
                    list.push(s);
                }
            }
        }
        None => list.extend(DEFAULT_METRICS.iter().map(|s| s.to_string())),
    }
    let objective = match (minimize, maximize) {
        (Some(_), Some(m)) => return Err(at(m.span(), "give `minimize` or `maximize`, not both")),
        (Some(m), None) => Some(Objective { metric: check_metric(m)?, maximize: false }),
        (None, Some(m)) => Some(Objective { metric: check_metric(m)?, maximize: true }),
        (None, None) => None,
    };
    let mut bounds = Vec::new();
    let mut bound_refs = Vec::new();
    for b in subject_to.into_iter().flatten() {
        let bound = Bound::parse(b.get_ref(), false).map_err(|e| at(b.span(), format!("`subject_to`: {e}")))?;
        bound_refs.push((bound.metric.clone(), b.span()));
        bounds.push(bound);
    }
    let pareto: Vec<(String, bool)> = match pareto {
        None => DEFAULT_PARETO.iter().map(|m| (m.to_string(), metric::higher_is_better(m))).collect(),
        Some(given) => {
            if given.get_ref().len() < 2 {
                return Err(at(given.span(), "`pareto`: name at least two metrics to trade off"));
            }
            let mut out = Vec::new();
            for m in given.get_ref() {
                let text = m.get_ref().trim();
                let (dir, name) = match text.split_once(char::is_whitespace) {
                    Some(("max", n)) => (Some(true), n.trim()),
                    Some(("min", n)) => (Some(false), n.trim()),
                    _ => (None, text),
                };
                let name = check_metric(&Spanned::new(m.span(), name.to_string()))?;
                let hib = dir.unwrap_or_else(|| metric::higher_is_better(&name));
                out.push((name, hib));
            }
            out
        }
    };
    refs.extend(bound_refs);
    // The columns hold every metric the answers need.
    let mut needed: Vec<String> = objective.iter().map(|o| o.metric.clone()).collect();
    needed.extend(bounds.iter().map(|b| b.metric.clone()));
    needed.extend(pareto.iter().map(|(m, _)| m.clone()));
    for m in needed {
        if !list.contains(&m) {
            list.push(m);
        }
    }
    Ok(Metrics { list, objective, bounds, pareto, refs })
}

/// One `[[axis]]`, checked against the axes before it, the metric columns and the base
/// scenario's text.
fn sweep_axis(a: &Spanned<RawAxis>, axes: &[Axis], metric_list: &[String], base_source: &str, base_file: &Path) -> Result<Axis, ConfigError> {
    let RawAxis { path: apath, name, values, range, min, max, integer, log } = a.get_ref();
    let p = TomlPath::parse(apath.get_ref()).map_err(|e| at(apath.span(), e.to_string()))?;
    let slot = path::slot(base_source, &p).map_err(|e| at(apath.span(), format!("{e} (in {})", base_file.display())))?;
    let axis_name = name.as_ref().map_or_else(|| apath.get_ref().clone(), |n| n.get_ref().clone());
    if axis_name.is_empty() || axis_name.contains([',', '"', '\n']) {
        let sp = name.as_ref().map_or(apath.span(), |n| n.span());
        return Err(at(sp, "an axis name must be non-empty, without commas, quotes or line breaks"));
    }
    if axes.iter().any(|b| b.path == p) {
        return Err(at(apath.span(), format!("path `{}` is swept twice", p.text)));
    }
    if axes.iter().any(|b| b.name == axis_name) || ["point", "seed", "policy", "status", "error"].contains(&axis_name.as_str()) || metric_list.contains(&axis_name) {
        return Err(at(apath.span(), format!("axis name `{axis_name}` is taken: give the axis another `name`")));
    }
    if let Some(b) = axes.iter().find(|b| overlaps(&b.slot, &slot)) {
        return Err(at(apath.span(), format!("path `{}` lies inside the value of `{}`, which is swept too", p.text, b.path.text)));
    }
    let forms = [values.is_some(), range.is_some(), min.is_some() || max.is_some()].iter().filter(|x| **x).count();
    if forms != 1 {
        return Err(at(a.span(), "an axis takes exactly one of `values = [...]`, `range = { start, stop, step }` or `min` and `max` (sampled)"));
    }
    if (integer.is_some() || log.is_some()) && min.is_none() && max.is_none() {
        let sp = integer.as_ref().map(|s| s.span()).or(log.as_ref().map(|s| s.span())).unwrap_or(a.span());
        return Err(at(sp, "`integer` and `log` apply to a sampled axis (`min` and `max`)"));
    }
    let mut grid = Vec::new();
    let mut sampled = None;
    if let Some(v) = values {
        if v.get_ref().is_empty() {
            return Err(at(v.span(), "`values` is empty"));
        }
        for (k, x) in v.get_ref().iter().enumerate() {
            let av = value_of(x.get_ref(), k);
            if grid.iter().any(|g: &AxisValue| g.toml == av.toml) {
                return Err(at(x.span(), format!("value {} is listed twice", av.toml)));
            }
            grid.push(av);
        }
    } else if let Some(r) = range {
        grid = range_values(r)?;
    } else {
        let (Some(lo), Some(hi)) = (min, max) else {
            return Err(at(a.span(), "a sampled axis needs both `min` and `max`"));
        };
        let (l, dl, il) = numeric(lo, "min")?;
        let (h, dh, ih) = numeric(hi, "max")?;
        if dl != dh {
            return Err(at(hi.span(), "`min` and `max` must both be numbers or both durations"));
        }
        if h < l {
            return Err(at(hi.span(), "`max` is below `min`"));
        }
        let log_v = log.as_ref().is_some_and(|l| *l.get_ref());
        if log_v && l <= 0.0 {
            return Err(at(lo.span(), "`log = true` needs `min` above zero"));
        }
        let integer_v = integer.as_ref().map_or(il && ih && !dl, |i| *i.get_ref());
        sampled = Some(Sampled { min: l, max: h, integer: integer_v, log: log_v, duration: dl });
    }
    Ok(Axis { name: axis_name, path: p, span: apath.span(), slot, grid, sampled })
}

/// `[sampling]` (method, points, seed): required exactly when an axis is sampled.
fn sweep_sampling(sampling: Option<&Spanned<RawSampling>>, axis_span: Range<usize>, any_sampled: bool) -> Result<Option<(String, usize, u64)>, ConfigError> {
    match (sampling, any_sampled) {
        (None, true) => Err(at(axis_span, "an axis is sampled (`min`/`max`): add `[sampling]` with `method` (\"random\" or \"latin-hypercube\") and `points`")),
        (Some(s), false) => Err(at(s.span(), "`[sampling]` without a sampled axis: give an axis `min` and `max`")),
        (None, false) => Ok(None),
        (Some(s), true) => {
            let RawSampling { method, points, seed } = s.get_ref();
            if !["random", "latin-hypercube"].contains(&method.get_ref().as_str()) {
                return Err(at(method.span(), format!("unknown sampling method {:?}: expected \"random\" or \"latin-hypercube\"", method.get_ref())));
            }
            if *points.get_ref() == 0 {
                return Err(at(points.span(), "`sampling.points` must be at least 1"));
            }
            Ok(Some((method.get_ref().clone(), *points.get_ref() as usize, seed.unwrap_or(1))))
        }
    }
}

/// The points: the grid (first axis slowest) times the samples.
fn sweep_points(axes: &[Axis], sampling: Option<&(String, usize, u64)>, axis_span: Range<usize>) -> Result<Vec<Point>, ConfigError> {
    let grid_axes: Vec<usize> = (0..axes.len()).filter(|&i| axes[i].sampled.is_none()).collect();
    let sampled_axes: Vec<usize> = (0..axes.len()).filter(|&i| axes[i].sampled.is_some()).collect();
    let mut n_grid: usize = 1;
    for &i in &grid_axes {
        n_grid = n_grid.saturating_mul(axes[i].grid.len());
    }
    let n_samples = sampling.map_or(1, |s| s.1);
    let total = n_grid.saturating_mul(n_samples);
    if total > MAX_POINTS {
        return Err(at(axis_span, format!("the sweep has {total} points, more than it may ({MAX_POINTS})")));
    }
    let samples = match sampling {
        Some((method, n, seed)) => draw_samples(axes, &sampled_axes, method, *n, *seed),
        None => vec![vec![]],
    };
    let mut points = Vec::with_capacity(total);
    for g in 0..n_grid {
        let mut rem = g;
        let mut chosen: Vec<Option<AxisValue>> = vec![None; axes.len()];
        for &i in grid_axes.iter().rev() {
            let len = axes[i].grid.len();
            chosen[i] = Some(axes[i].grid[rem % len].clone());
            rem /= len;
        }
        for sample in &samples {
            let mut values = chosen.clone();
            for (k, &i) in sampled_axes.iter().enumerate() {
                values[i] = Some(sample[k].clone());
            }
            let id = points.len();
            points.push(Point { id, values: values.into_iter().map(|v| v.expect("every axis has a value")).collect() });
        }
    }
    Ok(points)
}


/// Draw `n` samples of the sampled axes: independent uniform draws, or a Latin hypercube (each
/// axis' range cut in `n` equal strata, each stratum used once, strata paired at random).
fn draw_samples(axes: &[Axis], sampled: &[usize], method: &str, n: usize, seed: u64) -> Vec<Vec<AxisValue>> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let d = sampled.len();
    let mut u = vec![vec![0.0f64; d]; n];
    if method == "latin-hypercube" {
        for k in 0..d {
            let mut strata: Vec<usize> = (0..n).collect();
            // Fisher-Yates, with the portable generator.
            for i in (1..n).rev() {
                let j = rng.gen_range(0..=i);
                strata.swap(i, j);
            }
            for (row, s) in u.iter_mut().zip(&strata) {
                row[k] = (*s as f64 + rng.gen::<f64>()) / n as f64;
            }
        }
    } else {
        for row in u.iter_mut() {
            for x in row.iter_mut() {
                *x = rng.gen::<f64>();
            }
        }
    }
    u.iter()
        .map(|row| {
            sampled
                .iter()
                .zip(row)
                .map(|(&i, &x)| {
                    let s = axes[i].sampled.expect("sampled axis");
                    let v = if s.log { (s.min.ln() + x * (s.max.ln() - s.min.ln())).exp() } else { s.min + x * (s.max - s.min) };
                    if s.duration {
                        duration_value(v, 0)
                    } else if s.integer {
                        // Whole numbers in [min, max], each with an equal share of [0, 1).
                        let lo = s.min.ceil();
                        let hi = s.max.floor();
                        let k = if s.log { v.round() } else { (lo + (x * (hi - lo + 1.0)).floor()).min(hi) };
                        value_of(&toml::Value::Integer(k.clamp(lo, hi) as i64), 0)
                    } else {
                        let v: f64 = format!("{v:.6e}").parse().unwrap_or(v);
                        value_of(&toml::Value::Float(v), 0)
                    }
                })
                .collect()
        })
        .collect()
}
