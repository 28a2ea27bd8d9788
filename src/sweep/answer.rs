//! What a sweep's rows answer: per point and policy, the mean and confidence interval of each
//! metric over the seeds (kept within the metric's natural bounds); the Pareto front, as a
//! table of its feasible points ranked by the primary objective and as plots of each pair of
//! objectives; the best point under the constraints; heatmaps with the infeasible cells
//! hatched; and the chosen point's scenario (and HPA manifest), named by its values.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};


use super::{Result, Row, Sweep, SweepError};
use crate::check::metric::fmt_number;
use crate::check::stats::Estimate;
use crate::output;
use crate::plot;
use crate::units::count;

/// One point and policy, over its seeds.
#[derive(Debug, Clone)]
pub struct PointStats {
    pub point: usize,
    pub policy: String,
    pub runs: usize,
    /// Runs that failed or whose point is invalid.
    pub failed: usize,
    /// The first failed run's error.
    pub error: Option<String>,
    /// Per metric (in the sweep's metric order), over the runs that succeeded.
    pub est: Vec<Estimate>,
    /// Every run succeeded and every `subject_to` bound holds on the means.
    pub feasible: bool,
    /// On the Pareto front (of the points whose runs all succeeded).
    pub pareto: bool,
}

/// The answers of a sweep.
#[derive(Debug, Clone)]
pub struct Answers {
    pub stats: Vec<PointStats>,
    /// Index into `stats` of the best point, when there is an objective and a feasible point.
    pub best: Option<usize>,
    /// Per metric, its natural bounds (see [`metric_bounds`]).
    pub bounds: Vec<plot::Bounds>,
}

/// Metric names (their last part) that may be negative by nature.
const SIGNED: &[&str] = &["jitter", "bias", "delta", "change", "diff", "slope", "trend", "skew"];
/// Metric names (their last part) that are shares, within [0, 1].
const SHARES: &[&str] = &["attainment", "availability", "timeshare", "instability"];

/// The natural bounds of a metric, from its name and the values it took: a share (SLO
/// attainment, availability, time shares) lies within [0, 1]; a metric not signed by nature
/// whose every value is at or above 0 (minutes, counts, costs, latencies) stays at or above 0.
/// A confidence interval of such a metric is clamped to them.
pub fn metric_bounds(metric: &str, values: &[f64]) -> plot::Bounds {
    let last = metric.rsplit('.').next().unwrap_or(metric).to_ascii_lowercase();
    let nonneg = values.iter().all(|v| v.is_nan() || *v >= 0.0);
    let share = SHARES.iter().any(|s| last.ends_with(s)) && values.iter().all(|v| v.is_nan() || (0.0..=1.0).contains(v));
    let signed = SIGNED.iter().any(|s| last.contains(s));
    plot::Bounds {
        lo: (nonneg && !signed).then_some(0.0),
        hi: share.then_some(1.0),
    }
}

/// The interval of an estimate within bounds.
fn clamped(e: &Estimate, b: plot::Bounds) -> (f64, f64) {
    let (mut lo, mut hi) = (e.low(), e.high());
    if let Some(b) = b.lo {
        lo = lo.max(b);
    }
    if let Some(b) = b.hi {
        hi = hi.min(b);
    }
    (lo, hi)
}


fn metric_index(sweep: &Sweep, m: &str) -> usize {
    sweep.metrics.iter().position(|x| x == m).expect("the metric columns hold every metric the answers use")
}

/// Compute the answers from the rows (in canonical order).
pub fn analyze(sweep: &Sweep, rows: &[Row]) -> Answers {
    let pol_pos = |n: &str| sweep.policies.iter().position(|(_, m)| m == n).unwrap_or(usize::MAX);
    let mut groups: std::collections::BTreeMap<(usize, usize), Vec<&Row>> = std::collections::BTreeMap::new();
    for r in rows {
        groups.entry((r.point, pol_pos(&r.policy))).or_default().push(r);
    }
    let mut stats: Vec<PointStats> = Vec::new();
    for ((p, _), group) in groups {
        let pol = group[0].policy.clone();
        let ok: Vec<&&Row> = group.iter().filter(|r| r.status(sweep) == "ok").collect();
        let failed = group.len() - ok.len();
        let error = group.iter().find(|r| r.status(sweep) != "ok").map(|r| r.error(sweep).to_string());
        let est = (0..sweep.metrics.len())
            .map(|k| {
                let v: Vec<f64> = ok.iter().filter_map(|r| r.metric(sweep, k)).collect();
                Estimate::of(&v, sweep.confidence)
            })
            .collect::<Vec<_>>();
        let feasible = failed == 0
            && !ok.is_empty()
            && sweep.subject_to.iter().all(|b| b.op.holds(est[metric_index(sweep, &b.metric)].mean, b.limit.resolve(f64::NAN)));
        stats.push(PointStats { point: p, policy: pol, runs: group.len(), failed, error, est, feasible, pareto: false });
    }

    // Pareto front over the complete points.
    let objs: Vec<(usize, bool)> = sweep.pareto.iter().map(|(m, hib)| (metric_index(sweep, m), *hib)).collect();
    let value = |s: &PointStats, (k, hib): (usize, bool)| if hib { -s.est[k].mean } else { s.est[k].mean };
    let complete: Vec<usize> = (0..stats.len()).filter(|&i| stats[i].failed == 0 && stats[i].runs > 0).collect();
    for &a in &complete {
        let dominated = complete.iter().any(|&b| {
            b != a
                && objs.iter().all(|&o| value(&stats[b], o) <= value(&stats[a], o))
                && objs.iter().any(|&o| value(&stats[b], o) < value(&stats[a], o))
        });
        stats[a].pareto = !dominated;
    }

    let best = sweep.objective.as_ref().and_then(|o| {
        let k = metric_index(sweep, &o.metric);
        let mut best: Option<usize> = None;
        for (i, s) in stats.iter().enumerate() {
            if !s.feasible || s.est[k].mean.is_nan() {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    let (x, y) = (s.est[k].mean, stats[b].est[k].mean);
                    if o.maximize { x > y } else { x < y }
                }
            };
            if better {
                best = Some(i);
            }
        }
        best
    });
    let bounds = (0..sweep.metrics.len())
        .map(|k| {
            let v: Vec<f64> = rows.iter().filter(|r| r.status(sweep) == "ok").filter_map(|r| r.metric(sweep, k)).collect();
            metric_bounds(&sweep.metrics[k], &v)
        })
        .collect();
    Answers { stats, best, bounds }
}

/// points.csv: one row per point and policy.
pub fn points_csv(sweep: &Sweep, a: &Answers) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let mut head: Vec<String> = vec!["point".into(), "policy".into()];
    head.extend(sweep.axes.iter().map(|x| x.name.clone()));
    head.extend(["runs", "failed"].map(String::from));
    for m in &sweep.metrics {
        head.extend([format!("{m}.mean"), format!("{m}.ci_low"), format!("{m}.ci_high")]);
    }
    head.extend(["feasible", "pareto", "best", "error"].map(String::from));
    let _ = w.write_record(&head);
    for (i, s) in a.stats.iter().enumerate() {
        let mut r: Vec<String> = vec![s.point.to_string(), s.policy.clone()];
        r.extend(sweep.points[s.point].values.iter().map(|v| v.label.clone()));
        r.extend([s.runs.to_string(), s.failed.to_string()]);
        for (e, b) in s.est.iter().zip(&a.bounds) {
            if e.n == 0 {
                r.extend([String::new(), String::new(), String::new()]);
            } else {
                let (lo, hi) = clamped(e, *b);
                r.extend([fmt_number(e.mean), fmt_number(lo), fmt_number(hi)]);
            }
        }
        r.extend([s.feasible.to_string(), s.pareto.to_string(), (a.best == Some(i)).to_string(), s.error.clone().unwrap_or_default()]);
        let _ = w.write_record(&r);
    }
    w.into_inner().unwrap_or_default()
}

/// `to` relative to the folder `from` (both made absolute), for file names in best.toml.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| std::env::current_dir().unwrap_or_default().join(p));
    let (from, to) = (abs(from), abs(to));
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return to;
    }
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// The keys whose values name files, relative to the scenario.
const FILE_KEYS: &[&str] = &["file", "manifest", "k6_options"];

fn rebase_files(item: &mut toml_edit::Item, from_dir: &Path, to_dir: &Path) {
    fn fix_value(v: &mut toml_edit::Value, key: Option<&str>, from_dir: &Path, to_dir: &Path) {
        match v {
            toml_edit::Value::String(s) if key.is_some_and(|k| FILE_KEYS.contains(&k)) => {
                let p = Path::new(s.value());
                if p.is_relative() {
                    let new = relative(to_dir, &from_dir.join(p)).to_string_lossy().replace('\\', "/");
                    let decor = s.decor().clone();
                    let mut f = toml_edit::Formatted::new(new);
                    *f.decor_mut() = decor;
                    *s = f;
                }
            }
            toml_edit::Value::InlineTable(t) => {
                for (k, v) in t.iter_mut() {
                    let k = k.get().to_string();
                    fix_value(v, Some(&k), from_dir, to_dir);
                }
            }
            toml_edit::Value::Array(a) => {
                for v in a.iter_mut() {
                    fix_value(v, None, from_dir, to_dir);
                }
            }
            _ => {}
        }
    }
    match item {
        toml_edit::Item::Table(t) => {
            for (k, v) in t.iter_mut() {
                let k = k.get().to_string();
                match v {
                    toml_edit::Item::Value(val) => fix_value(val, Some(&k), from_dir, to_dir),
                    other => rebase_files(other, from_dir, to_dir),
                }
            }
        }
        toml_edit::Item::ArrayOfTables(a) => {
            for t in a.iter_mut() {
                let mut it = toml_edit::Item::Table(std::mem::take(t));
                rebase_files(&mut it, from_dir, to_dir);
                if let toml_edit::Item::Table(back) = it {
                    *t = back;
                }
            }
        }
        toml_edit::Item::Value(v) => fix_value(v, None, from_dir, to_dir),
        toml_edit::Item::None => {}
    }
}

/// A policy name made of a point's values: `target-50.scale_down_window_s-300` (letters,
/// digits, '-', '_' and '.', as policy names take).
pub fn point_name(sweep: &Sweep, point: usize) -> String {
    let safe = |t: &str| -> String { t.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect() };
    sweep.axes.iter().zip(&sweep.points[point].values).map(|(a, v)| format!("{}-{}", safe(&a.name), safe(&v.label))).collect::<Vec<_>>().join(".")
}

/// The chosen point's scenario, for a file in `out`: the base scenario's text with the point's
/// values, file names made relative to `out`, and `policy` renamed and described by the
/// point's values (its base name and description told of other values).
pub fn point_scenario(sweep: &Sweep, point: usize, policy: &str, out: &Path, note: &str) -> String {
    let text = sweep.point_text(&sweep.points[point]).text;
    let base_dir = crate::scenario::base_dir(&sweep.base_file);
    let body = match text.parse::<toml_edit::DocumentMut>() {
        Ok(mut doc) => {
            rebase_files(doc.as_item_mut(), &base_dir, out);
            if let Some(pols) = doc.get_mut("policies").and_then(|p| p.as_array_of_tables_mut()) {
                for t in pols.iter_mut() {
                    if t.get("name").and_then(|n| n.as_str()) == Some(policy) {
                        t["name"] = toml_edit::value(point_name(sweep, point));
                        t["description"] = toml_edit::value(format!(
                            "{policy} at the best point of sweep {}: {}",
                            sweep.name,
                            sweep.describe(&sweep.points[point]).replace('=', " = ")
                        ));
                    }
                }
            }
            // The base's `[[expect]]` tables that name the policy follow it to its new name
            // (a table naming a policy the scenario lacks would not validate).
            if let Some(ex) = doc.get_mut("expect").and_then(|e| e.as_array_of_tables_mut()) {
                let new = point_name(sweep, point);
                for t in ex.iter_mut() {
                    match t.get_mut("policy").and_then(|p| p.as_value_mut()) {
                        Some(toml_edit::Value::String(s)) if s.value() == policy => {
                            let d = s.decor().clone();
                            *s = toml_edit::Formatted::new(new.clone());
                            *s.decor_mut() = d;
                        }
                        Some(toml_edit::Value::Array(a)) => {
                            for v in a.iter_mut() {
                                if v.as_str() == Some(policy) {
                                    let d = v.decor().clone();
                                    *v = toml_edit::Value::from(new.as_str());
                                    *v.decor_mut() = d;
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            doc.to_string()
        }
        Err(_) => text,
    };
    format!("# {note}\n{body}")
}

/// The HPA manifest of `policy` at the point, when it is an HPA (one document per service).
pub fn point_hpa(sweep: &Sweep, point: usize, policy: &str, note: &str) -> Option<String> {
    let text = sweep.point_text(&sweep.points[point]).text;
    let doc: toml::Table = text.parse().ok()?;
    let pol = doc.get("policies")?.as_array()?.iter().find(|p| p.get("name").and_then(|n| n.as_str()) == Some(policy))?;
    let pods = pol.get("pods")?.as_table()?;
    if pods.get("kind").and_then(|k| k.as_str()) != Some("hpa") {
        return None;
    }
    if let Some(m) = pods.get("manifest").and_then(|m| m.as_str()) {
        let path = crate::scenario::base_dir(&sweep.base_file).join(m);
        return std::fs::read_to_string(path).ok().map(|t| format!("# {note} (the policy's own manifest, {m})\n{t}"));
    }
    let docs: Vec<String> = sweep.base.scenario.services.iter().map(|s| super::yaml::hpa_manifest(pods, &s.name, note)).collect();
    Some(docs.join("---\n"))
}

/// A short text of the answers, for the terminal.
pub fn summary_text(sweep: &Sweep, a: &Answers) -> String {
    let mut out = String::new();
    let front: Vec<&PointStats> = a.stats.iter().filter(|s| s.pareto).collect();
    let failed = a.stats.iter().filter(|s| s.failed > 0).count();
    let _ = writeln!(
        out,
        "{} x {} x {}; {} on the Pareto front of {}{}",
        count(sweep.points.len(), "point", "points"),
        count(sweep.policies.len(), "policy", "policies"),
        count(sweep.seeds.len(), "seed", "seeds"),
        front.len(),
        sweep.pareto.iter().map(|(m, h)| format!("{} {m}", if *h { "max" } else { "min" })).collect::<Vec<_>>().join(", "),
        if failed > 0 { format!("; {failed} with failed runs (see points.csv)") } else { String::new() }
    );
    let (primary, ranked) = ranked_front(sweep, a);
    let infeasible = front.len() - ranked.len();
    let _ = writeln!(
        out,
        "the front's {} ranked by {primary}{}:",
        count(ranked.len(), "feasible point", "feasible points"),
        if infeasible > 0 { format!(" ({infeasible} more break the constraints; see points.csv)") } else { String::new() }
    );
    let table = front_table(sweep, &ranked, &primary_metric(sweep));
    let widths: Vec<usize> = (0..table[0].len()).map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for (i, row) in table.iter().enumerate().take(13) {
        let cells: Vec<String> = row.iter().zip(&widths).enumerate().map(|(c, (t, w))| if c <= 1 { format!("{t:>w$}") } else { format!("{t:<w$}") }).collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
        if i == 0 {
            let _ = writeln!(out, "  {}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        }
    }
    if ranked.len() > 12 {
        let _ = writeln!(out, "  ... ({} more in front.md)", ranked.len() - 12);
    }
    if let Some(o) = &sweep.objective {
        let cons = if sweep.subject_to.is_empty() {
            String::new()
        } else {
            format!(" subject to {}", sweep.subject_to.iter().map(|b| b.text.clone()).collect::<Vec<_>>().join(", "))
        };
        match a.best {
            Some(b) => {
                let s = &a.stats[b];
                let e = s.est[metric_index(sweep, &o.metric)];
                let _ = writeln!(
                    out,
                    "best ({} {}{cons}): point {} [{}] {}: {} = {}{}",
                    if o.maximize { "maximize" } else { "minimize" },
                    o.metric,
                    s.point,
                    sweep.describe(&sweep.points[s.point]),
                    s.policy,
                    o.metric,
                    fmt_sig(e.mean),
                    if e.n > 1 { format!(" ±{} ({}% CI, {} seeds)", fmt_sig(e.half_width), sweep.confidence * 100.0, e.n) } else { String::new() }
                );
            }
            None => {
                let _ = writeln!(out, "no point meets{cons}: nothing to choose");
            }
        }
    }
    out
}

/// The primary objective (the one minimized or maximized, else the first of `pareto`) and the
/// feasible points of the Pareto front, best first by it (ties by point).
pub fn ranked_front<'a>(sweep: &Sweep, a: &'a Answers) -> (String, Vec<&'a PointStats>) {
    let (metric, maximize) = match &sweep.objective {
        Some(o) => (o.metric.clone(), o.maximize),
        None => (sweep.pareto[0].0.clone(), sweep.pareto[0].1),
    };
    let k = metric_index(sweep, &metric);
    let mut ranked: Vec<&PointStats> = a.stats.iter().filter(|s| s.pareto && s.feasible).collect();
    ranked.sort_by(|x, y| {
        let (u, v) = (x.est[k].mean, y.est[k].mean);
        let o = if maximize { v.total_cmp(&u) } else { u.total_cmp(&v) };
        o.then(x.point.cmp(&y.point)).then(x.policy.cmp(&y.policy))
    });
    (format!("{metric} ({})", if maximize { "highest first" } else { "lowest first" }), ranked)
}

/// The primary objective's metric (see [`ranked_front`]).
fn primary_metric(sweep: &Sweep) -> String {
    sweep.objective.as_ref().map_or_else(|| sweep.pareto[0].0.clone(), |o| o.metric.clone())
}

/// The ranked front as a table: a header row, then rank, point, policy, the point's values,
/// the primary objective when it is not a Pareto metric, and each Pareto metric (mean, ± the
/// interval's half width over several seeds).
fn front_table(sweep: &Sweep, ranked: &[&PointStats], primary: &str) -> Vec<Vec<String>> {
    let mut cols: Vec<(String, String)> = Vec::new();
    if !sweep.pareto.iter().any(|(m, _)| m == primary) {
        cols.push((primary.to_string(), primary.to_string()));
    }
    cols.extend(sweep.pareto.iter().map(|(m, h)| (m.clone(), format!("{m} ({})", if *h { "max" } else { "min" }))));
    let mut head: Vec<String> = vec!["rank".into(), "point".into(), "policy".into()];
    head.extend(sweep.axes.iter().map(|x| x.name.clone()));
    head.extend(cols.iter().map(|c| c.1.clone()));
    let mut rows = vec![head];
    for (i, s) in ranked.iter().enumerate() {
        let mut r: Vec<String> = vec![(i + 1).to_string(), s.point.to_string(), s.policy.clone()];
        r.extend(sweep.points[s.point].values.iter().map(|v| v.label.clone()));
        for (m, _) in &cols {
            let e = s.est[metric_index(sweep, m)];
            r.push(if e.n > 1 { format!("{} ±{}", fmt_sig(e.mean), fmt_sig(e.half_width)) } else { fmt_sig(e.mean) });
        }
        rows.push(r);
    }
    rows
}

/// front.md: the ranked front as a Markdown table.
fn front_md(sweep: &Sweep, a: &Answers) -> String {
    let (primary, ranked) = ranked_front(sweep, a);
    let mut o = String::new();
    let _ = writeln!(o, "# {}: the Pareto front's feasible points\n", sweep.name);
    let _ = writeln!(
        o,
        "Objectives: {}. Constraints: {}. Ranked by {primary}; means over the seeds, ± the half width of the {}% confidence interval.\n",
        sweep.pareto.iter().map(|(m, h)| format!("{} {m}", if *h { "max" } else { "min" })).collect::<Vec<_>>().join(", "),
        if sweep.subject_to.is_empty() { "none".to_string() } else { sweep.subject_to.iter().map(|b| b.text.clone()).collect::<Vec<_>>().join(", ") },
        sweep.confidence * 100.0
    );
    let table = front_table(sweep, &ranked, &primary_metric(sweep));
    for (i, row) in table.iter().enumerate() {
        let _ = writeln!(o, "| {} |", row.join(" | "));
        if i == 0 {
            let _ = writeln!(o, "|{}", "---|".repeat(row.len()));
        }
    }
    if ranked.is_empty() {
        let _ = writeln!(o, "\nNo point of the front meets the constraints.");
    }
    o
}

fn fmt_sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return fmt_number(x);
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (4 - mag).clamp(0, 12) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Write points.csv, best.json, best.toml (and best-hpa.yaml), and the plots into `out`.
/// Returns the files written.
pub fn write(sweep: &Sweep, a: &Answers, out: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<()> {
        let p = out.join(name);
        output::write_atomic(&p, bytes).map_err(|err| SweepError::WriteAnswer { path: p.clone(), err })?;
        written.push(p);
        Ok(())
    };
    put("points.csv", &points_csv(sweep, a))?;
    put("front.md", front_md(sweep, a).as_bytes())?;
    if let (Some(b), Some(o)) = (a.best, &sweep.objective) {
        let s = &a.stats[b];
        let note = format!(
            "autosim sweep {}: point {} ({}), policy {:?}: {} {} subject to [{}]",
            sweep.file.display(),
            s.point,
            sweep.describe(&sweep.points[s.point]),
            s.policy,
            if o.maximize { "maximize" } else { "minimize" },
            o.metric,
            sweep.subject_to.iter().map(|b| b.text.clone()).collect::<Vec<_>>().join(", ")
        );
        let mut metrics = serde_json::Map::new();
        for (k, m) in sweep.metrics.iter().enumerate() {
            let e = s.est[k];
            let (lo, hi) = clamped(&e, a.bounds[k]);
            metrics.insert(m.clone(), serde_json::json!({ "mean": e.mean, "ci_low": lo, "ci_high": hi, "seeds": e.n }));
        }
        let values: serde_json::Map<String, serde_json::Value> = sweep
            .axes
            .iter()
            .zip(&sweep.points[s.point].values)
            .map(|(ax, v)| (ax.name.clone(), serde_json::Value::String(v.label.clone())))
            .collect();
        let best = serde_json::json!({
            "point": s.point, "policy": s.policy, "values": values, "metrics": metrics,
            "objective": { "metric": o.metric, "maximize": o.maximize },
            "subject_to": sweep.subject_to.iter().map(|b| b.text.clone()).collect::<Vec<_>>(),
            "confidence": sweep.confidence,
        });
        let mut json = serde_json::to_vec_pretty(&best)?;
        json.push(b'\n');
        put("best.json", &json)?;
        put("best.toml", point_scenario(sweep, s.point, &s.policy, out, &note).as_bytes())?;
        if let Some(yaml) = point_hpa(sweep, s.point, &s.policy, &note) {
            put("best-hpa.yaml", yaml.as_bytes())?;
        }
    }
    for (name, bytes) in plots(sweep, a)? {
        put(&name, &bytes)?;
    }
    Ok(written)
}

/// The scatter of objectives `i` (x) and `j` (y) of the complete points: the front of these
/// two objectives joined, the points that break the constraints marked, the best ringed.
fn pair_chart(sweep: &Sweep, a: &Answers, i: usize, j: usize) -> plot::ScatterChart {
    let (mx, hx) = &sweep.pareto[i];
    let (my, hy) = &sweep.pareto[j];
    let (kx, ky) = (metric_index(sweep, mx), metric_index(sweep, my));
    let pt = |s: &PointStats| (s.est[kx].mean, s.est[ky].mean);
    let ok: Vec<&PointStats> = a.stats.iter().filter(|s| s.failed == 0 && s.runs > 0).collect();
    let val = |s: &PointStats, k: usize, hib: bool| if hib { -s.est[k].mean } else { s.est[k].mean };
    let on_front = |s: &PointStats| {
        let (sx, sy) = (val(s, kx, *hx), val(s, ky, *hy));
        !ok.iter().any(|o| {
            let (ox, oy) = (val(o, kx, *hx), val(o, ky, *hy));
            ox <= sx && oy <= sy && (ox < sx || oy < sy)
        })
    };
    let title = if sweep.pareto.len() > 2 {
        format!("{}: {my} against {mx} (the front of these two objectives)", sweep.name)
    } else {
        format!("{}: {my} against {mx}", sweep.name)
    };
    let mut chart = plot::ScatterChart::new(
        title,
        format!("{mx} (mean; {} better)", if *hx { "more" } else { "less" }),
        format!("{my} (mean; {} better)", if *hy { "more" } else { "less" }),
    );
    chart.x_bounds = a.bounds[kx];
    chart.y_bounds = a.bounds[ky];
    let others: Vec<(f64, f64)> = ok.iter().filter(|s| !on_front(s) && s.feasible).map(|s| pt(s)).collect();
    chart.series.push(plot::ScatterSeries::dots("dominated", others, (0xba, 0xb0, 0xac)));
    let mut front: Vec<(f64, f64)> = ok.iter().filter(|s| on_front(s)).map(|s| pt(s)).collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    chart.series.push(plot::ScatterSeries::dots("Pareto front", front, plot::color(0)).joined());
    if !sweep.subject_to.is_empty() {
        let bad: Vec<(f64, f64)> = ok.iter().filter(|s| !s.feasible).map(|s| pt(s)).collect();
        if !bad.is_empty() {
            chart.series.push(plot::ScatterSeries::dots("breaks the constraints", bad, (0xff, 0x9d, 0xa7)));
        }
    }
    if let Some(b) = a.best {
        chart.series.push(plot::ScatterSeries::dots("best under the constraints", vec![pt(&a.stats[b])], plot::color(2)).big());
    }
    chart
}

/// The Pareto scatters and, for a grid of two axes, a heatmap per policy.
fn plots(sweep: &Sweep, a: &Answers) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    let (mx, hx) = &sweep.pareto[0];
    // One plot per pair of objectives, each with its own two-objective front: pareto.png for
    // the first two, pareto-<y>-vs-<x>.png for the others.
    for i in 0..sweep.pareto.len() {
        for j in i + 1..sweep.pareto.len() {
            let chart = pair_chart(sweep, a, i, j);
            let stem = if (i, j) == (0, 1) {
                "pareto".to_string()
            } else {
                let safe = |t: &str| -> String { t.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect() };
                format!("pareto-{}-vs-{}", safe(&sweep.pareto[j].0), safe(&sweep.pareto[i].0))
            };
            files.push((format!("{stem}.png"), plot::render_scatter_png(&chart)?));
            files.push((format!("{stem}.svg"), plot::render_scatter_svg(&chart)?.into_bytes()));
        }
    }

    let grid: Vec<usize> = (0..sweep.axes.len()).filter(|&i| sweep.axes[i].sampled.is_none()).collect();
    if sweep.axes.len() == 2 && grid.len() == 2 {
        let (ax, ay) = (&sweep.axes[0], &sweep.axes[1]);
        let (metric, hib) = match &sweep.objective {
            Some(o) => (o.metric.clone(), o.maximize),
            None => (mx.clone(), *hx),
        };
        let k = metric_index(sweep, &metric);
        for (_, pol) in &sweep.policies {
            let mut cells = vec![vec![None; ax.grid.len()]; ay.grid.len()];
            let mut feasible = vec![vec![false; ax.grid.len()]; ay.grid.len()];
            let mut best_cell = None;
            for (i, s) in a.stats.iter().enumerate() {
                if &s.policy != pol {
                    continue;
                }
                let p = &sweep.points[s.point];
                let (x, y) = (p.values[0].index, p.values[1].index);
                if s.failed == 0 && s.runs > 0 {
                    cells[y][x] = Some(s.est[k].mean);
                }
                feasible[y][x] = s.feasible;
                if a.best == Some(i) {
                    best_cell = Some((x, y));
                }
            }
            let hm = plot::Heatmap {
                title: format!("{}: {metric} of {pol} (mean over {} seed(s))", sweep.name, sweep.seeds.len()),
                x_desc: ax.name.clone(),
                y_desc: ay.name.clone(),
                x_labels: ax.grid.iter().map(|v| v.label.clone()).collect(),
                y_labels: ay.grid.iter().map(|v| v.label.clone()).collect(),
                values: cells,
                highlight: feasible,
                constrained: !sweep.subject_to.is_empty(),
                higher_is_better: hib,
                marked: best_cell,
                note: if sweep.subject_to.is_empty() {
                    "the best cell is outlined".into()
                } else {
                    format!("cells meeting {} are outlined in black; the best is thick", sweep.subject_to.iter().map(|b| b.text.clone()).collect::<Vec<_>>().join(", "))
                },
                width: plot::DEFAULT_WIDTH,
                height: 700,
            };
            let safe: String = pol.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect();
            files.push((format!("heatmap-{safe}.png"), plot::render_heatmap_png(&hm)?));
            files.push((format!("heatmap-{safe}.svg"), plot::render_heatmap_svg(&hm)?.into_bytes()));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_bounds_by_name_and_values() {
        let b = metric_bounds("sla.violation_minutes", &[0.0, 3.0, 1.0]);
        assert_eq!((b.lo, b.hi), (Some(0.0), None));
        let b = metric_bounds("sla.attainment", &[0.99, 1.0]);
        assert_eq!((b.lo, b.hi), (Some(0.0), Some(1.0)));
        // Signed by nature, or seen negative: no lower bound.
        assert_eq!(metric_bounds("elasticity.jitter_per_hour", &[0.0, 2.0]).lo, None);
        assert_eq!(metric_bounds("policy_stats.pods.api.forecast_error", &[-1.0, 2.0]).lo, None);
        // An interval of 1 +/- 2 minutes becomes [0, 3].
        let e = Estimate { n: 3, mean: 1.0, sd: 1.0, half_width: 2.0 };
        assert_eq!(clamped(&e, metric_bounds("sla.violation_minutes", &[0.0, 1.0, 2.0])), (0.0, 3.0));
        let e = Estimate { n: 3, mean: 0.99, sd: 0.01, half_width: 0.02 };
        let (lo, hi) = clamped(&e, metric_bounds("sla.attainment", &[0.98, 0.99, 1.0]));
        assert!((lo - 0.97).abs() < 1e-12 && hi == 1.0);
        assert_eq!(count(1, "policy", "policies"), "1 policy");
        assert_eq!(count(3, "policy", "policies"), "3 policies");
    }
}
