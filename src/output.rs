//! Writing reports: the I/O edge. Every file is written to a temporary name beside its final
//! one and renamed into place, so a reader sees a whole file or none.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::report::Report;

/// Write `bytes` to `path` whole or not at all.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create the folder {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all().ok();
        fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))?;
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
    w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))
}

/// One line of `comparison.csv`: the headline numbers of one policy.
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
}

impl ComparisonRow {
    pub fn of(r: &Report) -> Self {
        let s = &r.summary;
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
        }
    }
}

const TIMESERIES_HEADER: &[&str] = &["time_s", "service"];
const DECISIONS_HEADER: &[&str] = &["time_s", "controller", "kind", "target", "from", "to", "verdict", "reason"];

/// Write the reports of a run under `dir`: one folder per policy and `comparison.csv`.
/// Returns the files written.
pub fn write_reports(dir: &Path, reports: &[Report]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for r in reports {
        let pdir = dir.join(&r.summary.policy);
        let mut json = serde_json::to_vec_pretty(&r.summary)?;
        json.push(b'\n');
        for (name, bytes) in [
            ("summary.json", json),
            ("timeseries.csv", csv_bytes(&r.timeseries, TIMESERIES_HEADER)?),
            ("decisions.csv", csv_bytes(&r.decisions, DECISIONS_HEADER)?),
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
    let rows: Vec<_> = reports.iter().map(ComparisonRow::of).collect();
    let path = dir.join("comparison.csv");
    write_atomic(&path, &csv_bytes(&rows, &["policy"])?)?;
    written.push(path);
    Ok(written)
}

/// The short table printed at the end of a run.
pub fn terminal_table(reports: &[Report]) -> String {
    let mut out = String::new();
    let w = reports.iter().map(|r| r.summary.policy.len()).max().unwrap_or(6).max(6);
    out.push_str(&format!(
        "{:<w$}  {:>10}  {:>9}  {:>9}  {:>10}  {:>8}  {:>10}  {:>9}  {:>6}\n",
        "policy", "requests", "p50", "p99", "attainment", "errors", "pod-hours", "dollars", "scale"
    ));
    for r in reports {
        let s = &r.summary;
        let errors = s.requests.rejected + s.requests.timed_out + s.requests.lost;
        out.push_str(&format!(
            "{:<w$}  {:>10}  {:>9}  {:>9}  {:>9.3}%  {:>8}  {:>10.2}  {:>9.2}  {:>6}\n",
            s.policy,
            s.requests.arrived,
            fmt_secs(s.latency_s.p50),
            fmt_secs(s.latency_s.p99),
            s.sla.attainment * 100.0,
            errors,
            s.cost.pod_seconds / 3600.0,
            s.cost.dollars,
            s.scaling.events,
        ));
    }
    if reports.iter().any(|r| r.summary.requests.dropped_iterations > 0) {
        let each: Vec<String> =
            reports.iter().map(|r| format!("{} {}", r.summary.policy, r.summary.requests.dropped_iterations)).collect();
        out.push_str(&format!("k6 dropped iterations (no free VU; not in `requests`): {}\n", each.join(", ")));
    }
    out
}

/// A latency for people: "850us", "42.1ms", "1.25s".
pub fn fmt_secs(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.0}us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1}ms", s * 1e3)
    } else {
        format!("{s:.2}s")
    }
}
