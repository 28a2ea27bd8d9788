//! Writing reports: the I/O edge. Every file is written to a temporary name beside its final
//! one and renamed into place, so a reader sees a whole file or none.
//!
//! Uses the report and its renderers; nothing of the engine may use it.

pub mod rows;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::render::view::{Brief, RunView};
use crate::render::format::fmt_secs;
use crate::render::{charts, html, markdown};
use crate::plot::PlotError;
use crate::report::{Report, ResponseEvent, Summary};

type Result<T, E = OutputError> = std::result::Result<T, E>;

/// What can go wrong writing a run's files; each message names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot create the folder {dir}")]
    CreateFolder { dir: PathBuf, #[source] err: std::io::Error },
    #[error("cannot create {path}")]
    Create { path: PathBuf, #[source] err: std::io::Error },
    #[error("cannot write {path}")]
    Write { path: PathBuf, #[source] err: std::io::Error },
    #[error("cannot move {path} into place")]
    Rename { path: PathBuf, #[source] err: std::io::Error },
    /// The CSV writer could not hand back its text.
    #[error("csv: {err}")]
    CsvFlush { err: std::io::Error },
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A figure (`name` with its extension) could not be drawn.
    #[error("drawing {figure}")]
    Draw { figure: String, #[source] err: PlotError },
    #[error("policy {policy:?}: will not write the export {name:?}: expected a plain file name in the policy's folder")]
    ExportName { policy: String, name: String },
    #[error(transparent)]
    FolderInUse(#[from] FolderInUse),
    #[error("cannot list the output folder {dir}")]
    ListFolder { dir: PathBuf, #[source] err: std::io::Error },
    #[error("cannot create the output folder {dir}")]
    CreateOutputFolder { dir: PathBuf, #[source] err: std::io::Error },
    #[error("the output folder {dir} does not take files: {err}")]
    TakesNoFiles { dir: PathBuf, err: std::io::Error },
    /// A streamed run's rows were committed before the run finished (a bug, not bad input).
    #[error("the run's rows were not finished")]
    RowsUnfinished,
    /// Writing a streamed run's rows failed part-way.
    #[error("cannot write {path}: {message}")]
    RowsWrite { path: PathBuf, message: String },
    #[error("cannot read {path}")]
    Read { path: PathBuf, #[source] err: csv::Error },
    /// The figures could not read the run's rows again.
    #[error("drawing the figures")]
    Figures(#[source] crate::render::view::AgainError),
    #[error("cannot remove the earlier run's {path}: {err}")]
    RemoveEarlier { path: PathBuf, err: std::io::Error },
}

impl OutputError {
    /// A mistake in what the user gave (exit code 2): an output folder in use.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, OutputError::FolderInUse(_))
    }
}

/// Write `bytes` to `path` whole or not at all.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Write to `path` whole or not at all what `fill` writes: to a temporary name beside it, then
/// renamed into place. If anything fails (the folder, the writer, the rename), the error is
/// returned, the temporary is removed and whatever was at `path` is left as it was. `fill` is the
/// seam the tests use to make a write fail part-way (a full disk).
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|err| OutputError::CreateFolder { dir: dir.to_path_buf(), err })?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        // A new file, never one already there (a link planted at the temporary name is
        // removed, not followed).
        let create = || fs::OpenOptions::new().write(true).create_new(true).open(&tmp);
        let mut f = match create() {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&tmp);
                create()
            }
            r => r,
        }
        .map_err(|err| OutputError::Create { path: tmp.clone(), err })?;
        fill(&mut f).map_err(|err| OutputError::Write { path: tmp.clone(), err })?;
        f.sync_all().ok();
        fs::rename(&tmp, path).map_err(|err| OutputError::Rename { path: path.to_path_buf(), err })?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// CSV text of rows with a header from their field names.
pub fn csv_bytes<T: Serialize>(rows: &[T], header_if_empty: &[&str]) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().has_headers(true).from_writer(Vec::new());
    if rows.is_empty() {
        w.write_record(header_if_empty)?;
    }
    for r in rows {
        w.serialize(r)?;
    }
    w.into_inner().map_err(|e| OutputError::CsvFlush { err: e.into_error() })
}

/// One line of `comparison.csv`: the headline numbers of one policy. The first columns are
/// those of earlier versions, in their order; new ones are appended.
#[derive(Debug, Clone, Serialize)]
pub struct ComparisonRow {
    pub policy: String,
    pub arrived: u64,
    pub completed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub lost: u64,
    pub dropped_iterations: u64,
    pub latency_mean_s: f64,
    pub latency_p50_s: f64,
    pub latency_p95_s: f64,
    pub latency_p99_s: f64,
    pub latency_p999_s: f64,
    pub sla_attainment: f64,
    pub availability: f64,
    pub violation_minutes: u64,
    pub pod_seconds: f64,
    pub node_seconds: f64,
    pub dollars: f64,
    pub scaling_events: u64,
    pub reversals: u64,
    pub latency_p90_s: f64,
    pub latency_max_s: f64,
    pub error_budget_burn: Option<f64>,
    pub cold_start_waits: u64,
    pub cpu_core_seconds_requested: f64,
    pub dollars_per_million_requests: Option<f64>,
    pub idle_capacity_dollars: f64,
    pub scale_ups: u64,
    pub scale_downs: u64,
    pub scaling_events_per_hour: f64,
    pub under_provisioning_accuracy: f64,
    pub over_provisioning_accuracy: f64,
    pub under_provisioning_timeshare: f64,
    pub over_provisioning_timeshare: f64,
    pub instability: f64,
    pub jitter_per_minute: f64,
    pub capacity_events: u64,
    pub time_to_capacity_p95_s: f64,
    pub time_to_capacity_max_s: f64,
}

impl ComparisonRow {
    pub fn of(r: &Report) -> Self {
        Self::of_summary(&r.summary)
    }

    pub fn of_summary(s: &Summary) -> Self {
        Self {
            policy: s.policy.clone(),
            arrived: s.requests.arrived,
            completed: s.requests.completed,
            rejected: s.requests.rejected,
            timed_out: s.requests.timed_out,
            lost: s.requests.lost,
            dropped_iterations: s.requests.dropped_iterations,
            latency_mean_s: s.latency_s.mean,
            latency_p50_s: s.latency_s.p50,
            latency_p95_s: s.latency_s.p95,
            latency_p99_s: s.latency_s.p99,
            latency_p999_s: s.latency_s.p999,
            sla_attainment: s.sla.attainment,
            availability: s.sla.availability,
            violation_minutes: s.sla.violation_minutes,
            pod_seconds: s.cost.pod_seconds,
            node_seconds: s.cost.node_seconds,
            dollars: s.cost.dollars,
            scaling_events: s.scaling.events,
            reversals: s.scaling.reversals,
            latency_p90_s: s.latency_s.p90,
            latency_max_s: s.latency_s.max,
            error_budget_burn: s.sla.error_budget_burn,
            cold_start_waits: s.requests.cold_start_waits,
            cpu_core_seconds_requested: s.cost.cpu_core_seconds_requested,
            dollars_per_million_requests: s.cost.dollars_per_million_requests,
            idle_capacity_dollars: s.cost.idle_capacity_dollars,
            scale_ups: s.scaling.scale_ups,
            scale_downs: s.scaling.scale_downs,
            scaling_events_per_hour: s.scaling.events_per_hour,
            under_provisioning_accuracy: s.elasticity.under_accuracy,
            over_provisioning_accuracy: s.elasticity.over_accuracy,
            under_provisioning_timeshare: s.elasticity.under_timeshare,
            over_provisioning_timeshare: s.elasticity.over_timeshare,
            instability: s.elasticity.instability,
            jitter_per_minute: s.elasticity.jitter_per_minute,
            capacity_events: s.responsiveness.events,
            time_to_capacity_p95_s: s.responsiveness.p95_s,
            time_to_capacity_max_s: s.responsiveness.max_s,
        }
    }
}

/// `latency_cdf.csv`: the HDR histogram of all completed requests as its CDF, one row per
/// recorded bucket: the share of requests at or below `latency_s`, the bucket's upper end
/// (the largest latency of the run for the last), exact to within `relative_precision` of it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CdfRow {
    pub latency_s: f64,
    pub share: f64,
    #[serde(default)]
    pub relative_precision: f64,
}

const TIMESERIES_HEADER: &[&str] = &["time_s", "service"];
const DECISIONS_HEADER: &[&str] = &["time_s", "controller", "kind", "target", "from", "to", "verdict", "reason"];

const RESPONSE_HEADER: &[&str] = &[
    "service", "start_s", "demand_before", "demand", "supply", "peak_demand", "time_to_capacity_s", "resolved",
];

fn cdf_rows(cdf: &[(f64, f64)]) -> Vec<CdfRow> {
    cdf.iter()
        .map(|&(latency_s, share)| CdfRow { latency_s, share, relative_precision: crate::report::LATENCY_PRECISION })
        .collect()
}

/// The response events of a run, as `responsiveness.csv` holds them (for tests and tools).
pub fn response_csv(events: &[ResponseEvent]) -> Result<Vec<u8>> {
    csv_bytes(events, RESPONSE_HEADER)
}

/// `run.json`: the scenario in brief, for the human reports and `autosim compare`.
pub fn write_brief(dir: &Path, brief: &Brief) -> Result<PathBuf> {
    let mut json = serde_json::to_vec_pretty(brief)?;
    json.push(b'\n');
    let path = dir.join("run.json");
    write_atomic(&path, &json)?;
    Ok(path)
}

/// `comparison.csv` of the summaries, in order.
pub fn write_comparison(dir: &Path, summaries: &[&Summary]) -> Result<PathBuf> {
    let rows: Vec<_> = summaries.iter().map(|s| ComparisonRow::of_summary(s)).collect();
    let path = dir.join("comparison.csv");
    write_atomic(&path, &csv_bytes(&rows, &["policy"])?)?;
    Ok(path)
}

/// The human reports: `report.md`, `report.html` and (unless `plots` is false) the figures as
/// PNG and SVG (`replicas`, `latency-cdf`, `cost-vs-slo`, `headline`, `<policy>/timeline`).
/// Figures are drawn in parallel; each is deterministic.
pub fn write_human(dir: &Path, view: &RunView, plots: bool) -> Result<Vec<PathBuf>> {
    use rayon::prelude::*;
    let figures = if plots { charts::all(view).map_err(OutputError::Figures)? } else { Vec::new() };
    let drawn: Vec<Result<(String, Vec<u8>, String)>> = figures
        .par_iter()
        .map(|(name, f)| {
            let png = crate::plot::figure::png(f).map_err(|err| OutputError::Draw { figure: format!("{name}.png"), err })?;
            let svg = crate::plot::figure::svg(f).map_err(|err| OutputError::Draw { figure: format!("{name}.svg"), err })?;
            Ok((name.clone(), png, svg))
        })
        .collect();
    let mut written = Vec::new();
    let mut svgs = Vec::new();
    for d in drawn {
        let (name, png, svg) = d?;
        for (ext, bytes) in [("png", png.as_slice()), ("svg", svg.as_bytes())] {
            let path = dir.join(format!("{name}.{ext}"));
            write_atomic(&path, bytes)?;
            written.push(path);
        }
        svgs.push((name, svg));
    }
    let names: Vec<String> = svgs.iter().map(|s| s.0.clone()).collect();
    let md = markdown::render(view, &names);
    let path = dir.join("report.md");
    write_atomic(&path, md.as_bytes())?;
    written.push(path);
    let page = html::render(view, &svgs);
    let path = dir.join("report.html");
    write_atomic(&path, page.as_bytes())?;
    written.push(path);
    Ok(written)
}

/// Write the reports of a run under `dir`: one folder per policy and `comparison.csv`.
/// Returns the files written.
pub fn write_reports(dir: &Path, reports: &[Report]) -> Result<Vec<PathBuf>> {
    write_reports_with(dir, reports, None)
}

/// As [`write_reports`], for runs whose timeseries and decisions were streamed to disk
/// (`streamed[i]` for `reports[i]`): their files are moved into place instead.
pub fn write_reports_streamed(dir: &Path, reports: &[Report], streamed: &mut [rows::Streamed]) -> Result<Vec<PathBuf>> {
    assert_eq!(streamed.len(), reports.len(), "one set of streamed rows per report");
    write_reports_with(dir, reports, Some(streamed))
}

fn write_reports_with(dir: &Path, reports: &[Report], mut streamed: Option<&mut [rows::Streamed]>) -> Result<Vec<PathBuf>> {
    // A policy's exports (CronJobs) are named after names in the scenario: they must be plain
    // files in the policy's folder, checked before anything is written.
    for r in reports {
        if let Some((name, _)) = r.files.iter().find(|(n, _)| !crate::confine::plain_file_name(n)) {
            return Err(OutputError::ExportName { policy: r.summary.policy.clone(), name: name.clone() });
        }
    }
    let mut written = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        let pdir = dir.join(&r.summary.policy);
        let mut json = serde_json::to_vec_pretty(&r.summary)?;
        json.push(b'\n');
        let path = pdir.join("summary.json");
        write_atomic(&path, &json)?;
        written.push(path);
        match streamed.as_deref_mut() {
            Some(s) => written.extend(s[i].commit(&pdir)?),
            None => {
                for (name, bytes) in [
                    ("timeseries.csv", csv_bytes(&r.timeseries, TIMESERIES_HEADER)?),
                    ("decisions.csv", csv_bytes(&r.decisions, DECISIONS_HEADER)?),
                ] {
                    let path = pdir.join(name);
                    write_atomic(&path, &bytes)?;
                    written.push(path);
                }
            }
        }
        for (name, bytes) in [
            ("latency_cdf.csv", csv_bytes(&cdf_rows(&r.latency_cdf), &["latency_s", "share", "relative_precision"])?),
            ("responsiveness.csv", csv_bytes(&r.response_events, RESPONSE_HEADER)?),
        ] {
            let path = pdir.join(name);
            write_atomic(&path, &bytes)?;
            written.push(path);
        }
        for (name, text) in &r.files {
            let path = pdir.join(name);
            write_atomic(&path, text.as_bytes())?;
            written.push(path);
        }
    }
    let summaries: Vec<&Summary> = reports.iter().map(|r| &r.summary).collect();
    written.push(write_comparison(dir, &summaries)?);
    Ok(written)
}

/// The short table printed at the end of a run.
pub fn terminal_table(reports: &[Report]) -> String {
    let summaries: Vec<&Summary> = reports.iter().map(|r| &r.summary).collect();
    summary_table(&summaries)
}

/// The short table of headline numbers, one line per policy; `*` marks the best value of a
/// column when the policies differ in it.
pub fn summary_table(summaries: &[&Summary]) -> String {
    let mut out = String::new();
    let w = summaries.iter().map(|s| s.policy.len()).max().unwrap_or(6).max(6);
    let best = |vals: Vec<f64>, lower: bool| -> Vec<bool> {
        let b = if lower { vals.iter().copied().fold(f64::INFINITY, f64::min) } else { vals.iter().copied().fold(f64::NEG_INFINITY, f64::max) };
        let differ = vals.iter().any(|v| (v - b).abs() > 1e-12);
        vals.iter().map(|v| vals.len() > 1 && differ && (v - b).abs() <= 1e-12).collect()
    };
    let mark = |m: bool| if m { "*" } else { " " };
    let p99 = best(summaries.iter().map(|s| s.latency_s.p99).collect(), true);
    let att = best(summaries.iter().map(|s| s.sla.attainment).collect(), false);
    let err = best(summaries.iter().map(|s| (s.requests.rejected + s.requests.timed_out + s.requests.lost) as f64).collect(), true);
    let pod = best(summaries.iter().map(|s| s.cost.pod_seconds).collect(), true);
    let usd = best(summaries.iter().map(|s| s.cost.dollars).collect(), true);
    let rev = best(summaries.iter().map(|s| s.scaling.reversals as f64).collect(), true);
    let under = best(summaries.iter().map(|s| s.elasticity.under_timeshare).collect(), true);
    out.push_str(&format!(
        "{:<w$}  {:>10}  {:>9}  {:>10}  {:>11}  {:>6}  {:>9}  {:>10}  {:>10}  {:>6}  {:>5}  {:>7}\n",
        "policy", "requests", "p50", "p99", "attainment", "SLO", "errors", "pod-hours", "dollars", "scale", "rev", "under"
    ));
    for (i, s) in summaries.iter().enumerate() {
        let errors = s.requests.rejected + s.requests.timed_out + s.requests.lost;
        out.push_str(&format!(
            "{:<w$}  {:>10}  {:>9}  {:>9}{}  {:>9.3}%{}  {:>6}  {:>8}{}  {:>9.2}{}  {:>9.2}{}  {:>6}  {:>4}{}  {:>5.1}%{}\n",
            s.policy,
            s.requests.arrived,
            fmt_secs(s.latency_s.p50),
            fmt_secs(s.latency_s.p99),
            mark(p99[i]),
            s.sla.attainment * 100.0,
            mark(att[i]),
            if crate::report::slo_verdict(s).is_ok() { "met" } else { "MISSED" },
            errors,
            mark(err[i]),
            s.cost.pod_seconds / 3600.0,
            mark(pod[i]),
            s.cost.dollars,
            mark(usd[i]),
            s.scaling.events,
            s.scaling.reversals,
            mark(rev[i]),
            s.elasticity.under_timeshare * 100.0,
            mark(under[i]),
        ));
    }
    if summaries.iter().any(|s| s.requests.dropped_iterations > 0) {
        let each: Vec<String> = summaries.iter().map(|s| format!("{} {}", s.policy, s.requests.dropped_iterations)).collect();
        out.push_str(&format!("k6 dropped iterations (no free VU; not in `requests`): {}\n", each.join(", ")));
    }
    if summaries.iter().any(|s| s.requests.interrupted_iterations.unwrap_or(0) > 0) {
        let each: Vec<String> =
            summaries.iter().map(|s| format!("{} {}", s.policy, s.requests.interrupted_iterations.unwrap_or(0))).collect();
        out.push_str(&format!("k6 interrupted iterations (graceful stop or ramp-down ran out): {}\n", each.join(", ")));
    }
    let labelled: Vec<(&str, &Summary)> = summaries.iter().map(|s| (s.policy.as_str(), *s)).collect();
    for line in crate::render::markdown::end_to_end_lines(&labelled) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("(* best of the column; SLO: met when every service's attainment reaches its percentile and its availability its target; scale, rev: scale events and reversals of Deployments and node groups; under: share of time with fewer ready pods than the load needs)\n");
    out
}

/// The output folder of `autosim run` holds something that is not an earlier run's outputs
/// (exit code 2: choose another `--out`, or pass `--force`).
#[derive(Debug)]
pub struct FolderInUse(pub String);

impl std::fmt::Display for FolderInUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for FolderInUse {}

/// A run's output folder, checked before the simulation: it exists (or was made) and takes
/// files, and what an earlier run left in it is known, to be replaced.
#[derive(Debug)]
pub struct RunFolder {
    pub dir: PathBuf,
    /// Whether this run made the folder (it is removed again if the run fails).
    pub created: bool,
    /// What an earlier run wrote there: removed before the new run's files are written.
    pub earlier: Vec<PathBuf>,
}

/// Whether `entry` (in a run folder) is something a run writes: a policy folder (it holds
/// `summary.json`), `run.json`, `comparison.csv`, the reports and the figures.
fn run_owned(entry: &Path) -> bool {
    if entry.is_dir() {
        return entry.join("summary.json").is_file();
    }
    let name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    matches!(name.as_str(), "run.json" | "comparison.csv" | "report.md" | "report.html")
        || (!name.starts_with('.') && (name.ends_with(".png") || name.ends_with(".svg")))
}

/// Check the output folder of a run before simulating: it must be empty, absent, or hold an
/// earlier run (a `run.json` and only what a run writes), unless `force`, which lets the run
/// write among other files (only the earlier run's outputs are replaced). The folder is made
/// if absent, and a file is written and removed to learn that it takes files.
pub fn prepare_run_folder(dir: &Path, force: bool) -> Result<RunFolder> {
    let mut earlier = Vec::new();
    let created = !dir.exists();
    if !created {
        if !dir.is_dir() {
            return Err(FolderInUse(format!("{}: not a folder: give --out a folder for the reports", dir.display())).into());
        }
        let mut others = Vec::new();
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(|err| OutputError::ListFolder { dir: dir.to_path_buf(), err })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if run_owned(&e) {
                earlier.push(e);
            } else {
                others.push(e.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            }
        }
        let a_run = dir.join("run.json").is_file();
        if !force && (!others.is_empty() || (!earlier.is_empty() && !a_run)) {
            let what = if others.is_empty() {
                format!("files that no autosim run wrote (no run.json beside {})", names(&earlier))
            } else {
                format!("other files than an autosim run's ({})", others.join(", "))
            };
            return Err(FolderInUse(format!(
                "{}: the output folder holds {what}: give --out an empty or new folder, or pass --force to write the run there anyway (an earlier run's outputs are replaced, other files are left alone)",
                dir.display()
            ))
            .into());
        }
        if !a_run {
            // Not a run of ours: nothing is removed (same-named files are overwritten).
            earlier.clear();
        }
    }
    fs::create_dir_all(dir).map_err(|err| OutputError::CreateOutputFolder { dir: dir.to_path_buf(), err })?;
    let probe = dir.join(format!(".autosim-write-test-{}", std::process::id()));
    let wrote = fs::write(&probe, b"");
    let _ = fs::remove_file(&probe);
    if let Err(e) = wrote {
        if created {
            let _ = fs::remove_dir(dir);
        }
        return Err(OutputError::TakesNoFiles { dir: dir.to_path_buf(), err: e });
    }
    Ok(RunFolder { dir: dir.to_path_buf(), created, earlier })
}

fn names(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).collect::<Vec<_>>().join(", ")
}

impl RunFolder {
    /// Remove what the earlier run wrote, before the new run's files go in.
    pub fn clear_earlier(&self) -> Result<()> {
        for p in &self.earlier {
            let r = if p.is_dir() { fs::remove_dir_all(p) } else { fs::remove_file(p) };
            match r {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(OutputError::RemoveEarlier { path: p.clone(), err: e }),
            }
        }
        Ok(())
    }

    /// The run failed before writing: take back the folder it made.
    pub fn abandon(&self) {
        if self.created {
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The folder's entries other than `keep`, to find a temporary left behind.
    fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !keep.contains(&n.as_str()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn success_replaces_the_file_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("summary.json");
        fs::write(&p, "old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(others(d.path(), &["summary.json"]), Vec::<String>::new());
    }

    /// A disk that fills part-way through the write: an error naming the file, the old file
    /// intact, no temporary left.
    #[test]
    fn a_failing_write_keeps_the_old_file_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("timeseries.csv");
        fs::write(&p, "the old report").unwrap();
        let err = write_atomic_with(&p, |w| {
            w.write_all(b"half of the new ")?;
            Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
        })
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("cannot write") && msg.contains("timeseries.csv"), "{msg}");
        assert_eq!(fs::read_to_string(&p).unwrap(), "the old report");
        assert_eq!(others(d.path(), &["timeseries.csv"]), Vec::<String>::new());
        // And when there was no old file, there is still none.
        let q = d.path().join("new.csv");
        assert!(write_atomic_with(&q, |_| Err(std::io::Error::from_raw_os_error(28))).is_err());
        assert!(!q.exists());
        assert_eq!(others(d.path(), &["timeseries.csv"]), Vec::<String>::new());
    }

    /// The destination is a folder (with something in it): the rename fails, the folder and
    /// its content are untouched, no temporary left.
    #[test]
    fn a_folder_in_the_way_is_an_error_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("report.md");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("inside"), "kept").unwrap();
        let err = write_atomic(&p, b"# report").unwrap_err();
        assert!(format!("{err:#}").contains("cannot move"), "{err:#}");
        assert!(p.is_dir());
        assert_eq!(fs::read_to_string(p.join("inside")).unwrap(), "kept");
        assert_eq!(others(d.path(), &["report.md"]), Vec::<String>::new());
    }

    /// The folder cannot be made (a file stands where it should be): an error, nothing written.
    #[test]
    fn a_file_in_place_of_the_folder_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("out"), "a file").unwrap();
        let err = write_atomic(&d.path().join("out").join("summary.json"), b"{}").unwrap_err();
        assert!(format!("{err:#}").contains("cannot create the folder"), "{err:#}");
        assert_eq!(fs::read_to_string(d.path().join("out")).unwrap(), "a file");
        assert_eq!(others(d.path(), &["out"]), Vec::<String>::new());
    }

    /// A read-only folder: the temporary cannot be created, the old file stays. Root ignores
    /// permission bits, so as root (as in CI) this test says it skipped; the failing writer
    /// above covers the same path (an error before the rename).
    #[test]
    fn a_read_only_folder_is_an_error_and_keeps_the_old_file() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("ro");
        fs::create_dir(&dir).unwrap();
        let p = dir.join("summary.json");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
        // Does the read-only bit bind us? (It does not for root.)
        let probe = dir.join(".probe");
        if fs::File::create(&probe).is_ok() {
            let _ = fs::remove_file(&probe);
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
            eprintln!("skipped: running as root, a read-only folder does not stop writes");
            return;
        }
        let r = write_atomic(&p, b"new");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = r.unwrap_err();
        assert!(format!("{err:#}").contains("cannot create"), "{err:#}");
        assert_eq!(fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(others(&dir, &["summary.json"]), Vec::<String>::new());
    }
}
