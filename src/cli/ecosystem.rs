//! The commands that connect autosim to the Prometheus ecosystem: `autosim trace fetch` (a
//! range query written as a trace) and `autosim export openmetrics` (a run's timeseries for
//! `promtool tsdb create-blocks-from openmetrics`). The clock and the network live here.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use autosim::export::{self, PolicySeries};
use autosim::output;
use autosim::prom::{self, Auth, RangeQuery};
use autosim::units::parse_duration;

use clap::Subcommand;

use super::BadInput;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `autosim trace fetch`.
pub fn trace_fetch(url: &str, query: &str, start: &str, end: &str, step: &str, out: Option<&Path>, timeout: &str) -> Result<()> {
    let now = now_ms();
    let bad = |flag: &str, e: &dyn std::fmt::Display| BadInput(format!("--{flag} {e}"));
    let start_ms = prom::parse_time(start, now).map_err(|e| bad("start", &e))?;
    let end_ms = prom::parse_time(end, now).map_err(|e| bad("end", &e))?;
    let step_ms = (parse_duration(step).map_err(|e| bad("step", &e))?.0 / 1_000_000) as i64;
    if step_ms <= 0 {
        return Err(BadInput(format!("--step {step:?}: expected a duration of at least 1ms, like 15s or 1m")).into());
    }
    let timeout = Duration::from_nanos(parse_duration(timeout).map_err(|e| bad("timeout", &e))?.0);
    let auth = Auth::from_env(|k| std::env::var(k).ok()).map_err(BadInput)?;
    let q = RangeQuery { url: url.to_string(), query: query.to_string(), start_ms, end_ms, step_ms, auth, timeout };
    let got = prom::fetch(&q).map_err(|e| BadInput(e.to_string()))?;
    for w in &got.warnings {
        eprintln!("warning: Prometheus: {w}");
    }
    let text = prom::to_text(&got.json);
    match out {
        Some(path) => {
            output::write_atomic(path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "{}: {} series, {} samples, in {} quer{} (at most {} points per series each)",
                path.display(),
                got.series,
                got.samples,
                got.requests,
                if got.requests == 1 { "y" } else { "ies" },
                prom::MAX_POINTS
            );
        }
        None => {
            std::io::stdout().write_all(text.as_bytes()).context("writing to the standard output")?;
        }
    }
    Ok(())
}

/// `autosim export openmetrics`.
pub fn export_openmetrics(run: &Path, out: Option<PathBuf>, start: Option<&str>) -> Result<()> {
    let (policies, brief) = super::compare::read_run(run, super::compare::Rows::Whole)?;
    if policies.is_empty() {
        return Err(BadInput(format!("{}: no policy folders (with summary.json) in it: expected the output folder of `autosim run`", run.display())).into());
    }
    let scenario = brief.as_ref().map(|b| b.scenario.clone()).filter(|s| !s.is_empty()).unwrap_or_else(|| policies[0].summary.scenario.clone());
    let duration_s = policies.iter().map(|p| p.summary.duration_s).fold(0.0, f64::max);
    let start_ms = match start {
        Some(t) => prom::parse_time(t, now_ms()).map_err(|e| BadInput(format!("--start {e}")))?,
        // The run ends within the last hour: inside Prometheus's retention, before now.
        None => {
            let end = now_ms().div_euclid(3_600_000) * 3_600_000;
            end - (duration_s * 1000.0).ceil() as i64
        }
    };
    let price = brief.as_ref().and_then(|b| match b.pools.as_slice() {
        [one] if one.price_per_hour > 0.0 => Some(one.price_per_hour),
        _ => None,
    });
    let series: Vec<PolicySeries<'_>> = policies.iter().map(|p| PolicySeries { policy: &p.label, rows: &p.timeseries }).collect();
    let text = export::openmetrics(&scenario, &series, start_ms, price);
    let rows: usize = policies.iter().map(|p| p.timeseries.len()).sum();
    match out {
        Some(path) => {
            output::write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "{}: {} polic{} of {scenario:?}, {rows} timeseries rows, from {} (Unix seconds {})",
                path.display(),
                policies.len(),
                if policies.len() == 1 { "y" } else { "ies" },
                rfc3339(start_ms),
                start_ms as f64 / 1000.0
            );
        }
        None => std::io::stdout().write_all(text.as_bytes()).context("writing to the standard output")?,
    }
    Ok(())
}

/// Unix milliseconds as an RFC 3339 UTC time (to the second).
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_of_known_times() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_714_521_600_000), "2024-05-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_825_600_000), "2000-02-29T12:00:00Z");
    }
}
#[derive(Subcommand)]
pub(crate) enum ExportCommand {
    /// A run's timeseries as OpenMetrics text, for `promtool tsdb create-blocks-from
    /// openmetrics` (see docs/prometheus.md).
    Openmetrics {
        /// The run's output folder (of `autosim run`), or one policy's folder.
        run: PathBuf,
        /// The file to write [default: the standard output].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// When the run starts: RFC 3339, Unix seconds, `now` or `now-<duration>` [default:
        /// so that it ends at the last full hour].
        #[arg(long, value_name = "TIME")]
        start: Option<String>,
    },
}
