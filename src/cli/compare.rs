//! `autosim compare`: runs made separately, read back from their folders, in one table, plots and report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use autosim::output;
use autosim::render::view::{Brief, DecisionRec, PolicyRun, RunView};
use autosim::report::{Row, Summary};

use super::BadInput;

pub(crate) fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let mut out = Vec::new();
    each_row(path, |row| out.push(row))?;
    Ok(out)
}

/// Each row of a CSV file, in order, as it is read (a bad row is the user's input: named with
/// its file and line).
fn each_row<T: serde::de::DeserializeOwned>(path: &Path, mut f: impl FnMut(T)) -> Result<()> {
    let mut r = csv::Reader::from_path(path).map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    for (i, row) in r.deserialize().enumerate() {
        f(row.map_err(|e| BadInput(format!("{}: line {}: {e}", path.display(), i + 2)))?);
    }
    Ok(())
}

/// What a reader of run folders needs of the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Every timeseries row and decision, held (the export writes them all).
    Whole,
    /// The first step and the notable decisions, the figures reading the rest again: memory
    /// that does not grow with the runs' length (the reports of `compare`).
    Bounded,
}

/// One policy's outputs, read back from its folder.
pub(crate) fn read_policy(dir: &Path, rows: Rows) -> Result<PolicyRun> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    let summary: Summary =
        serde_json::from_str(&text).map_err(|e| BadInput(format!("{}: not a summary.json of autosim: {e}", path.display())))?;
    let cdf_path = dir.join("latency_cdf.csv");
    let latency_cdf = if cdf_path.exists() {
        read_csv::<output::CdfRow>(&cdf_path)?.into_iter().map(|r| (r.latency_s, r.share)).collect()
    } else {
        Vec::new()
    };
    if rows == Rows::Whole {
        let timeseries: Vec<Row> = read_csv(&dir.join("timeseries.csv"))?;
        let decisions: Vec<DecisionRec> = read_csv(&dir.join("decisions.csv"))?;
        return Ok(PolicyRun { label: summary.policy.clone(), summary, timeseries, decisions, latency_cdf, decisions_total: None, shown_counts: None, again: None });
    }
    // Every row is checked here; the reports then hold the first step and the notable
    // decisions, and the figures read the rows again in passes.
    each_row(&dir.join("timeseries.csv"), |_: Row| {})?;
    each_row(&dir.join("decisions.csv"), |_: DecisionRec| {})?;
    let back = output::rows::read_back(dir)?;
    Ok(PolicyRun {
        label: summary.policy.clone(),
        summary,
        timeseries: back.timeseries,
        decisions: back.decisions,
        latency_cdf,
        decisions_total: Some(back.total),
        shown_counts: Some(back.counts),
        again: Some(std::sync::Arc::new(output::rows::Again { dir: dir.to_path_buf() })),
    })
}

/// The policies of a run folder (in `comparison.csv`'s order when there is one), or the one
/// policy of a policy folder; with the run's brief when it has `run.json`.
pub(crate) fn read_run(dir: &Path, rows: Rows) -> Result<(Vec<PolicyRun>, Option<Brief>)> {
    if !dir.is_dir() {
        return Err(BadInput(format!("{}: no such folder", dir.display())).into());
    }
    if dir.join("summary.json").is_file() {
        let brief = dir.parent().and_then(|p| read_brief(&p.join("run.json")));
        return Ok((vec![read_policy(dir, rows)?], brief));
    }
    let mut names: Vec<String> = Vec::new();
    let cmp = dir.join("comparison.csv");
    if cmp.is_file() {
        #[derive(serde::Deserialize)]
        struct P {
            policy: String,
        }
        names = read_csv::<P>(&cmp)?.into_iter().map(|p| p.policy).filter(|p| dir.join(p).join("summary.json").is_file()).collect();
    }
    if names.is_empty() {
        let mut found: Vec<String> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("summary.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        names = found;
    }
    if names.is_empty() {
        return Err(BadInput(format!("{}: no autosim run here (no summary.json in it or its folders)", dir.display())).into());
    }
    let runs = names.iter().map(|n| read_policy(&dir.join(n), rows)).collect::<Result<Vec<_>>>()?;
    Ok((runs, read_brief(&dir.join("run.json"))))
}

pub(crate) fn read_brief(path: &Path) -> Option<Brief> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

pub(crate) fn compare(dirs: &[PathBuf], out: Option<PathBuf>, allow_different_load: bool, plots: bool, quiet: bool) -> Result<()> {
    let mut policies: Vec<PolicyRun> = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let mut briefs: Vec<Brief> = Vec::new();
    for dir in dirs {
        let (runs, brief) = read_run(dir, Rows::Bounded)?;
        for r in runs {
            sources.push(dir.display().to_string());
            policies.push(r);
        }
        if let Some(b) = brief {
            briefs.push(b);
        }
    }
    // The same load, or a clear refusal.
    let first = policies[0].summary.clone();
    let first = &first;
    let differing: Vec<String> = policies
        .iter()
        .zip(&sources)
        .filter(|(p, _)| p.summary.load_fingerprint != first.load_fingerprint)
        .map(|(p, src)| {
            format!(
                "{} from {src} (scenario {:?}, seed {}, {}s, load {})",
                p.summary.policy, p.summary.scenario, p.summary.seed, p.summary.duration_s, p.summary.load_fingerprint
            )
        })
        .collect();
    if !differing.is_empty() && !allow_different_load {
        let msg = format!(
            "the runs differ in load: {} from {} (scenario {:?}, seed {}, {}s) has load {}, but {}; their numbers are not comparable. Pass --allow-different-load to compare them anyway",
            first.policy,
            sources[0],
            first.scenario,
            first.seed,
            first.duration_s,
            first.load_fingerprint,
            differing.join("; ")
        );
        return Err(BadInput(msg).into());
    }
    // Metrics computed under the same settings (step, reversal window, demand utilization,
    // definitions), or a clear refusal: elasticity and flapping figures are not comparable
    // across them. A different load can be allowed; different settings cannot.
    let settings = |s: &Summary| {
        let m = &s.metric_settings;
        format!(
            "metrics version {}, step {}s, reversal window {}s, demand utilization {}, demand window {}s",
            m.version, m.step_s, m.reversal_window_s, m.demand_utilization, m.demand_window_s
        )
    };
    let mismatched: Vec<String> = policies
        .iter()
        .zip(&sources)
        .filter(|(p, _)| p.summary.metric_settings != first.metric_settings)
        .map(|(p, src)| format!("{} from {src} ({})", p.summary.policy, settings(&p.summary)))
        .collect();
    if !mismatched.is_empty() {
        let msg = format!(
            "the runs' metrics were computed under different settings: {} from {} has {}, but {}; their elasticity and flapping figures are not comparable. Run them again with the same `step` and `[report]` settings (and the same autosim version)",
            first.policy,
            sources[0],
            settings(first),
            mismatched.join("; ")
        );
        return Err(BadInput(msg).into());
    }
    // Unique labels: a name seen twice gets its folder's name.
    let labels: Vec<String> = policies.iter().map(|p| p.label.clone()).collect();
    for (i, p) in policies.iter_mut().enumerate() {
        if labels.iter().filter(|l| **l == p.label).count() > 1 {
            let src = Path::new(&sources[i]);
            let tag = src.file_name().map_or_else(|| format!("{i}"), |n| n.to_string_lossy().into_owned());
            let tag = if tag == p.label { src.parent().and_then(|q| q.file_name()).map_or(format!("{i}"), |n| n.to_string_lossy().into_owned()) } else { tag };
            p.label = format!("{tag}-{}", p.label);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in policies.iter_mut().enumerate() {
        if !seen.insert(p.label.clone()) {
            p.label = format!("{}-{}", p.label, i + 1);
            seen.insert(p.label.clone());
        }
    }
    let mut brief = briefs.into_iter().next().unwrap_or_else(|| Brief::from_summary(first));
    brief.policies.clear();
    if !differing.is_empty() {
        brief.load_fingerprint = format!("{} (runs differ in load: compared with --allow-different-load)", first.load_fingerprint);
    }
    let view = RunView { brief, policies, sources };
    let dir = out.unwrap_or_else(|| PathBuf::from("reports").join("compare"));
    let summaries: Vec<Summary> = view
        .policies
        .iter()
        .map(|p| {
            let mut s = p.summary.clone();
            s.policy = p.label.clone();
            s
        })
        .collect();
    let refs: Vec<&Summary> = summaries.iter().collect();
    output::write_comparison(&dir, &refs).with_context(|| format!("writing the comparison to {}", dir.display()))?;
    output::write_human(&dir, &view, plots).with_context(|| format!("writing the comparison to {}", dir.display()))?;
    if !quiet {
        print!("{}", output::summary_table(&refs));
        let runs = if refs.len() == 1 { "policy run" } else { "policy runs" };
        println!("compared {} {runs}; report in {}", refs.len(), dir.join("report.html").display());
    }
    Ok(())
}
