//! Parameter sweeps: run a scenario over a grid (or samples) of values of any of its keys,
//! times some seeds, and answer which setting meets the objective at the lowest cost.
//!
//! This is an edge of the program (files, threads): each run is the pure engine, and a run's
//! row depends on nothing but its point, seed and policy, so the results do not depend on the
//! number of threads, on the order in which runs finish, on interruptions or on sharding.
//!
//! - `spec`: the sweep file and its points; `path`: scenario values by path, spliced into the
//!   scenario's text.
//! - Here: running the points (rayon), appending a row per run to `sweep.csv` as it finishes,
//!   resuming, shards and merging.
//! - `answer`: means and confidence intervals per point, the Pareto front, the best point under
//!   constraints, plots, and the chosen point's scenario (and HPA manifest).

pub mod answer;
pub mod path;
pub mod spec;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

pub use spec::{Axis, AxisValue, Point, Sweep};

use crate::check::metric;
use crate::command::{self, Commands};
use crate::output::{self, OutputError};
use crate::plot::PlotError;
use crate::scenario::{ConfigError, ScenarioError};
use crate::sim::Simulation;

type Result<T, E = SweepError> = std::result::Result<T, E>;

/// Why a sweep could not run, merge or write its answers; each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    BadResults(#[from] BadResults),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("cannot read {path}: {err}")]
    Read { path: PathBuf, err: std::io::Error },
    #[error("cannot repair {path}")]
    Repair { path: PathBuf, #[source] err: std::io::Error },
    #[error("cannot create the folder {dir}")]
    CreateFolder { dir: PathBuf, #[source] err: std::io::Error },
    #[error("cannot open {path}")]
    Open { path: PathBuf, #[source] err: std::io::Error },
    #[error("cannot write {path}")]
    Write { path: PathBuf, #[source] err: std::io::Error },
    /// A row could not be appended to sweep.csv as the runs finished.
    #[error("cannot write {path}: {err}")]
    Append { path: PathBuf, err: std::io::Error },
    /// One of the answer's files (`answer::write`).
    #[error("writing {path}")]
    WriteAnswer { path: PathBuf, #[source] err: OutputError },
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl SweepError {
    /// A mistake in what the user gave (exit code 2): results of another sweep, a bad scenario.
    pub fn is_bad_input(&self) -> bool {
        match self {
            SweepError::BadResults(_) | SweepError::Scenario(_) => true,
            SweepError::Output(e) => e.is_bad_input(),
            _ => false,
        }
    }
}

/// The file of results.
pub const CSV: &str = "sweep.csv";
/// What the folder holds: the sweep file, a fingerprint, the shard.
pub const MANIFEST: &str = "sweep.json";

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    /// `(index, count)`: run the points whose id is `index` modulo `count`.
    pub shard: Option<(usize, usize)>,
    /// Stop after this many points have been run (the rest is left for a later run).
    pub max_points: Option<usize>,
    /// Whether the programs the scenario's policies name may run.
    pub commands: Commands,
}

impl Default for Options {
    fn default() -> Self {
        Options { out: PathBuf::new(), shard: None, max_points: None, commands: Commands::Refuse }
    }
}

/// Told as the sweep runs.
pub enum Progress {
    /// `runs` runs to do in `points` points (`skipped` runs were already in sweep.csv).
    Start { runs: u64, points: u64, skipped: u64 },
    RunDone,
}

/// What a sweep run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Runs done now, and how many of them failed.
    pub ran: usize,
    pub failed: usize,
    /// Runs found in sweep.csv and kept.
    pub kept: usize,
    /// True when every run of the (shard's) points is in sweep.csv; it is then sorted.
    pub complete: bool,
    pub rows: Vec<Row>,
}

/// One row of sweep.csv: its key and its fields as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub point: usize,
    pub seed: u64,
    pub policy: String,
    pub fields: Vec<String>,
}

impl Row {
    pub fn status(&self, sweep: &Sweep) -> &str {
        &self.fields[3 + sweep.axes.len()]
    }

    /// The value of metric column `k`, when the run succeeded.
    pub fn metric(&self, sweep: &Sweep, k: usize) -> Option<f64> {
        self.fields.get(4 + sweep.axes.len() + k).and_then(|s| s.parse().ok())
    }

    pub fn error<'a>(&'a self, sweep: &Sweep) -> &'a str {
        &self.fields[4 + sweep.axes.len() + sweep.metrics.len()]
    }
}

/// sweep.csv's columns.
pub fn header(sweep: &Sweep) -> Vec<String> {
    let mut h: Vec<String> = vec!["point".into(), "seed".into(), "policy".into()];
    h.extend(sweep.axes.iter().map(|a| a.name.clone()));
    h.push("status".into());
    h.extend(sweep.metrics.iter().cloned());
    h.push("error".into());
    h
}

fn csv_line(fields: &[String]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(fields);
    w.into_inner().unwrap_or_default()
}

/// A fingerprint of the sweep file and its base scenario (FNV-1a, 64 bits).
pub fn fingerprint(sweep: &Sweep) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in sweep.source.bytes().chain([0u8]).chain(sweep.base_source.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The canonical order of rows: by point, then seed and policy in the sweep's order.
fn sort_rows(sweep: &Sweep, rows: &mut [Row]) {
    let seed_pos: BTreeMap<u64, usize> = sweep.seeds.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let pol_pos: BTreeMap<&str, usize> = sweep.policies.iter().enumerate().map(|(i, (_, n))| (n.as_str(), i)).collect();
    rows.sort_by_key(|r| (r.point, seed_pos.get(&r.seed).copied().unwrap_or(usize::MAX), pol_pos.get(r.policy.as_str()).copied().unwrap_or(usize::MAX)));
}

/// The whole of sweep.csv in canonical order.
pub fn csv_text(sweep: &Sweep, rows: &[Row]) -> Vec<u8> {
    let mut rows = rows.to_vec();
    sort_rows(sweep, &mut rows);
    let mut out = csv_line(&header(sweep));
    for r in &rows {
        out.extend(csv_line(&r.fields));
    }
    out
}

/// Read the rows of a sweep.csv made by this sweep. A last line without its line end (the
/// run was killed while writing it) is left out; with `repair`, it is also cut from the file.
pub fn read_rows(sweep: &Sweep, file: &Path, repair: bool) -> Result<Vec<Row>> {
    let mut bytes = match fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(SweepError::Read { path: file.to_path_buf(), err: e }),
    };
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        bytes.truncate(whole);
        if repair {
            let repair = |err| SweepError::Repair { path: file.to_path_buf(), err };
            let f = OpenOptions::new().write(true).open(file).map_err(repair)?;
            f.set_len(whole as u64).map_err(repair)?;
        }
    }
    if bytes.is_empty() {
        return Ok(vec![]);
    }
    let bad = |m: String| SweepError::BadResults(BadResults(format!("{}: {m}", file.display())));
    let mut rd = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes.as_slice());
    let head: Vec<String> = rd.headers().map_err(|e| bad(e.to_string()))?.iter().map(String::from).collect();
    if head != header(sweep) {
        return Err(bad(format!(
            "its columns ({}) are not this sweep's ({}): it was written by another sweep; give another --out or remove it",
            head.join(","),
            header(sweep).join(",")
        )));
    }
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| bad(format!("line {}: {e}", i + 2)))?;
        let fields: Vec<String> = rec.iter().map(String::from).collect();
        let line = i + 2;
        let point: usize = fields[0].parse().map_err(|_| bad(format!("line {line}: point {:?} is not a number", fields[0])))?;
        let seed: u64 = fields[1].parse().map_err(|_| bad(format!("line {line}: seed {:?} is not a number", fields[1])))?;
        let policy = fields[2].clone();
        let Some(p) = sweep.points.get(point) else {
            return Err(bad(format!("line {line}: point {point} is not in this sweep (it has {} points)", sweep.points.len())));
        };
        for (k, v) in p.values.iter().enumerate() {
            if fields[3 + k] != v.label {
                return Err(bad(format!(
                    "line {line}: point {point} has {} = {}, but this sweep's point {point} has {}: the sweep file changed; give another --out or remove the file",
                    sweep.axes[k].name, fields[3 + k], v.label
                )));
            }
        }
        if !sweep.seeds.contains(&seed) || !sweep.policies.iter().any(|(_, n)| *n == policy) {
            return Err(bad(format!("line {line}: seed {seed} / policy {policy:?} is not in this sweep: the sweep file changed")));
        }
        if seen.insert((point, seed, policy.clone())) {
            rows.push(Row { point, seed, policy, fields });
        }
    }
    Ok(rows)
}

/// A results file that does not belong to the sweep: bad input (exit 2).
#[derive(Debug)]
pub struct BadResults(pub String);

impl std::fmt::Display for BadResults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadResults {}

/// Check that every metric the sweep names is in a summary: a short run of each policy.
pub fn probe_metrics(sweep: &Sweep) -> Result<(), ScenarioError> {
    let mut sc = sweep.base.scenario.clone();
    sc.duration_ns = sc.step_ns.min(sc.duration_ns).max(1);
    sc.warmup_ns = 0;
    for (i, _) in &sweep.policies {
        let report = Simulation::new(&sc, &sweep.base.policies[*i], sc.seed).run();
        let json = metric::summary_json(&report.summary);
        for (m, span) in &sweep.metric_refs {
            if let Err(e) = metric::number(&json, m) {
                return Err(ScenarioError::locate(&sweep.file, &sweep.source, ConfigError::at(span.clone(), e.to_string())));
            }
        }
    }
    Ok(())
}

fn write_manifest(sweep: &Sweep, out: &Path, shard: Option<(usize, usize)>) -> Result<()> {
    let abs = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let m = serde_json::json!({
        "sweep_file": abs(&sweep.file),
        "base_file": abs(&sweep.base_file),
        "fingerprint": fingerprint(sweep),
        "points": sweep.points.len(),
        "seeds": sweep.seeds,
        "policies": sweep.policies.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>(),
        "shard": shard.map(|(i, n)| format!("{i}/{n}")),
    });
    let mut text = serde_json::to_vec_pretty(&m)?;
    text.push(b'\n');
    Ok(output::write_atomic(&out.join(MANIFEST), &text)?)
}

/// The recorded manifest of a results folder, if any.
pub fn read_manifest(dir: &Path) -> Option<serde_json::Value> {
    let text = fs::read_to_string(dir.join(MANIFEST)).ok()?;
    serde_json::from_str(&text).ok()
}

/// One run's row.
fn run_row(sweep: &Sweep, sc: &crate::experiment::Experiment, point: &Point, seed: u64, policy: (usize, &str), commands: Commands) -> Row {
    let mut sim = match command::simulation(sc, policy.0, seed, commands) {
        Ok(sim) => sim,
        Err(refused) => return invalid_row(sweep, point, seed, policy.1, &refused.to_string()),
    };
    // A point is its summary: its rows are not kept (memory flat in the run's length).
    sim.stream_rows_to(Box::new(crate::report::DropRows));
    let mut fields = vec![point.id.to_string(), seed.to_string(), policy.1.to_string()];
    fields.extend(point.values.iter().map(|v| v.label.clone()));
    let json = metric::summary_json(&sim.run().summary);
    let mut metrics = Vec::with_capacity(sweep.metrics.len());
    let mut error = String::new();
    for m in &sweep.metrics {
        match metric::number(&json, m) {
            Ok(x) => metrics.push(metric::fmt_number(x)),
            Err(e) => {
                metrics.push(String::new());
                error = e.to_string();
            }
        }
    }
    let status = if error.is_empty() { "ok" } else { "failed" };
    fields.push(status.into());
    fields.extend(metrics);
    fields.push(error);
    Row { point: point.id, seed, policy: policy.1.to_string(), fields }
}

fn invalid_row(sweep: &Sweep, point: &Point, seed: u64, policy: &str, error: &str) -> Row {
    let mut fields = vec![point.id.to_string(), seed.to_string(), policy.to_string()];
    fields.extend(point.values.iter().map(|v| v.label.clone()));
    fields.push("invalid".into());
    fields.extend(std::iter::repeat_n(String::new(), sweep.metrics.len()));
    fields.push(error.to_string());
    Row { point: point.id, seed, policy: policy.to_string(), fields }
}

/// A run to do: its seed and its policy (index in the base scenario, name).
type Run = (u64, (usize, String));

/// Run the sweep (or its shard) into `opts.out`, resuming from the rows already there.
pub fn run(sweep: &Sweep, opts: &Options, progress: &(dyn Fn(Progress) + Sync)) -> Result<Outcome> {
    let out = &opts.out;
    fs::create_dir_all(out).map_err(|err| SweepError::CreateFolder { dir: out.to_path_buf(), err })?;
    let csv_path = out.join(CSV);
    if let Some(m) = read_manifest(out) {
        let fp = m.get("fingerprint").and_then(|v| v.as_str()).unwrap_or("");
        if fp != fingerprint(sweep) && csv_path.exists() {
            return Err(BadResults(format!(
                "{} holds the results of another sweep (or of this sweep before its file or its base scenario changed): give another --out or remove the folder",
                out.display()
            ))
            .into());
        }
    }
    let existing = read_rows(sweep, &csv_path, true)?;
    probe_metrics(sweep)?;
    write_manifest(sweep, out, opts.shard)?;

    let have: BTreeSet<(usize, u64, String)> = existing.iter().map(|r| (r.point, r.seed, r.policy.clone())).collect();
    let in_shard = |id: usize| opts.shard.is_none_or(|(i, n)| id % n == i);
    let missing = |p: &Point| -> Vec<Run> {
        let mut v = Vec::new();
        for &s in &sweep.seeds {
            for pol in &sweep.policies {
                if !have.contains(&(p.id, s, pol.1.clone())) {
                    v.push((s, pol.clone()));
                }
            }
        }
        v
    };
    let mut todo: Vec<(&Point, Vec<Run>)> =
        sweep.points.iter().filter(|p| in_shard(p.id)).map(|p| (p, missing(p))).filter(|(_, m)| !m.is_empty()).collect();
    let all_todo = todo.len();
    if let Some(n) = opts.max_points {
        todo.truncate(n);
    }
    let runs: usize = todo.iter().map(|(_, m)| m.len()).sum();
    progress(Progress::Start { runs: runs as u64, points: todo.len() as u64, skipped: existing.len() as u64 });

    // Append, header first if the file is new.
    let fresh = fs::metadata(&csv_path).map(|m| m.len() == 0).unwrap_or(true);
    let mut file = OpenOptions::new().create(true).append(true).open(&csv_path).map_err(|err| SweepError::Open { path: csv_path.clone(), err })?;
    if fresh {
        file.write_all(&csv_line(&header(sweep))).map_err(|err| SweepError::Write { path: csv_path.clone(), err })?;
    }
    let sink = Mutex::new((file, Vec::<Row>::new(), None::<SweepError>));
    let emit = |row: Row| {
        let line = csv_line(&row.fields);
        let mut g = sink.lock().unwrap_or_else(|e| e.into_inner());
        if g.2.is_none() {
            if let Err(e) = g.0.write_all(&line).and_then(|_| g.0.flush()) {
                g.2 = Some(SweepError::Append { path: csv_path.clone(), err: e });
            }
        }
        g.1.push(row);
        drop(g);
        progress(Progress::RunDone);
    };

    todo.par_iter().for_each(|(point, runs)| {
        match sweep.scenario(point) {
            Err(e) => {
                let line = e.line(sweep, point);
                for (seed, (_, pol)) in runs {
                    emit(invalid_row(sweep, point, *seed, pol, &line));
                }
            }
            Ok(sc) => runs.par_iter().for_each(|(seed, (i, pol))| emit(run_row(sweep, &sc, point, *seed, (*i, pol), opts.commands))),
        }
    });

    let (file, new_rows, err) = sink.into_inner().unwrap_or_else(|e| e.into_inner());
    drop(file);
    if let Some(e) = err {
        return Err(e);
    }
    let failed = new_rows.iter().filter(|r| r.status(sweep) != "ok").count();
    let ran = new_rows.len();
    let kept = existing.len();
    let mut rows = existing;
    rows.extend(new_rows);
    let complete = todo.len() == all_todo;
    if complete {
        sort_rows(sweep, &mut rows);
        output::write_atomic(&csv_path, &csv_text(sweep, &rows))?;
    }
    Ok(Outcome { ran, failed, kept, complete, rows })
}

/// Join the results of shards (folders with a sweep.csv each) into `out`.
pub fn merge(sweep: &Sweep, dirs: &[PathBuf], out: &Path) -> Result<Outcome> {
    let fp = fingerprint(sweep);
    let mut rows: BTreeMap<(usize, u64, String), Row> = BTreeMap::new();
    for d in dirs {
        if let Some(m) = read_manifest(d) {
            if m.get("fingerprint").and_then(|v| v.as_str()) != Some(fp.as_str()) {
                return Err(BadResults(format!("{}: its results are of another sweep (or of an earlier version of this sweep file or its base)", d.display())).into());
            }
        }
        let file = d.join(CSV);
        if !file.exists() {
            return Err(BadResults(format!("{}: no {CSV} there", d.display())).into());
        }
        for r in read_rows(sweep, &file, false)? {
            let key = (r.point, r.seed, r.policy.clone());
            match rows.get(&key) {
                Some(prev) if prev.fields != r.fields => {
                    return Err(BadResults(format!(
                        "{}: the run of point {} seed {} policy {:?} differs from the one in another folder",
                        file.display(),
                        r.point,
                        r.seed,
                        r.policy
                    ))
                    .into())
                }
                Some(_) => {}
                None => {
                    rows.insert(key, r);
                }
            }
        }
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    sort_rows(sweep, &mut rows);
    fs::create_dir_all(out).map_err(|err| SweepError::CreateFolder { dir: out.to_path_buf(), err })?;
    write_manifest(sweep, out, None)?;
    output::write_atomic(&out.join(CSV), &csv_text(sweep, &rows))?;
    let expected = sweep.points.len() * sweep.seeds.len() * sweep.policies.len();
    let failed = rows.iter().filter(|r| r.status(sweep) != "ok").count();
    Ok(Outcome { ran: 0, failed, kept: rows.len(), complete: rows.len() == expected, rows })
}

/// Parse `--shard`: `I/N`, or `N` with the index from `JOB_COMPLETION_INDEX` (as a Kubernetes
/// Indexed Job sets it).
pub fn parse_shard(text: &str, job_index: Option<&str>) -> Result<(usize, usize), String> {
    let (i, n) = match text.split_once('/') {
        Some((i, n)) if !i.trim().is_empty() => (Some(i.trim()), n.trim()),
        Some((_, n)) => (None, n.trim()),
        None => (None, text.trim()),
    };
    let n: usize = n.parse().ok().filter(|&n| n >= 1).ok_or_else(|| format!("--shard {text}: expected I/N (like 0/4) or N with JOB_COMPLETION_INDEX set"))?;
    let i: usize = match (i, job_index) {
        (Some(i), _) => i.parse().map_err(|_| format!("--shard {text}: the index {i:?} is not a whole number"))?,
        (None, Some(j)) => j.trim().parse().map_err(|_| format!("--shard {text}: JOB_COMPLETION_INDEX={j:?} is not a whole number"))?,
        (None, None) => return Err(format!("--shard {text}: no index: give I/N, or set JOB_COMPLETION_INDEX (a Kubernetes Indexed Job does)")),
    };
    if i >= n {
        return Err(format!("--shard {text}: index {i} is not below the count {n} (indices are 0 to {})", n - 1));
    }
    Ok((i, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards() {
        assert_eq!(parse_shard("1/4", None), Ok((1, 4)));
        assert_eq!(parse_shard("4", Some("3")), Ok((3, 4)));
        assert_eq!(parse_shard("/4", Some("0")), Ok((0, 4)));
        assert_eq!(parse_shard("2/4", Some("3")), Ok((2, 4)));
        assert!(parse_shard("4", None).is_err());
        assert!(parse_shard("4/4", None).is_err());
        assert!(parse_shard("0/0", None).is_err());
        assert!(parse_shard("x/2", None).is_err());
    }
}
