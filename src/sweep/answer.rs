//! What a sweep's rows answer: per point and policy, the mean and confidence interval of each
//! metric over the seeds; the Pareto front; the best point under the constraints; plots; and
//! the chosen point's scenario (and HPA manifest), ready to use.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use super::{Row, Sweep};
use crate::check::metric::fmt_number;
use crate::check::stats::Estimate;
use crate::output;
use crate::plot;

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
    Answers { stats, best }
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
        for e in &s.est {
            if e.n == 0 {
                r.extend([String::new(), String::new(), String::new()]);
            } else {
                r.extend([fmt_number(e.mean), fmt_number(e.low()), fmt_number(e.high())]);
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

/// The chosen point's scenario, for a file in `out`: the base scenario's text with the point's
/// values, file names made relative to `out`.
pub fn point_scenario(sweep: &Sweep, point: usize, out: &Path, note: &str) -> String {
    let text = sweep.point_text(&sweep.points[point]).text;
    let base_dir = crate::scenario::base_dir(&sweep.base_file);
    let body = match text.parse::<toml_edit::DocumentMut>() {
        Ok(mut doc) => {
            rebase_files(doc.as_item_mut(), &base_dir, out);
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
    let docs: Vec<String> = sweep.base.services.iter().map(|s| super::yaml::hpa_manifest(pods, &s.name, note)).collect();
    Some(docs.join("---\n"))
}

/// A short text of the answers, for the terminal.
pub fn summary_text(sweep: &Sweep, a: &Answers) -> String {
    let mut out = String::new();
    let front: Vec<&PointStats> = a.stats.iter().filter(|s| s.pareto).collect();
    let failed = a.stats.iter().filter(|s| s.failed > 0).count();
    let _ = writeln!(
        out,
        "{} point(s) x {} polic(ies) x {} seed(s); {} on the Pareto front of {}{}",
        sweep.points.len(),
        sweep.policies.len(),
        sweep.seeds.len(),
        front.len(),
        sweep.pareto.iter().map(|(m, h)| format!("{} {m}", if *h { "max" } else { "min" })).collect::<Vec<_>>().join(", "),
        if failed > 0 { format!("; {failed} with failed runs (see points.csv)") } else { String::new() }
    );
    let line = |s: &PointStats| -> String {
        let vals = sweep.describe(&sweep.points[s.point]);
        let ms: Vec<String> = sweep
            .pareto
            .iter()
            .map(|(m, _)| {
                let e = s.est[metric_index(sweep, m)];
                if e.n > 1 {
                    format!("{m} {} ±{}", fmt_sig(e.mean), fmt_sig(e.half_width))
                } else {
                    format!("{m} {}", fmt_sig(e.mean))
                }
            })
            .collect();
        format!("point {} [{}] {}: {}", s.point, vals, s.policy, ms.join(", "))
    };
    for s in front.iter().take(12) {
        let _ = writeln!(out, "  {}", line(s));
    }
    if front.len() > 12 {
        let _ = writeln!(out, "  ... ({} more in points.csv)", front.len() - 12);
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
        output::write_atomic(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        written.push(p);
        Ok(())
    };
    put("points.csv", &points_csv(sweep, a))?;
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
            metrics.insert(m.clone(), serde_json::json!({ "mean": e.mean, "ci_low": e.low(), "ci_high": e.high(), "seeds": e.n }));
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
        put("best.toml", point_scenario(sweep, s.point, out, &note).as_bytes())?;
        if let Some(yaml) = point_hpa(sweep, s.point, &s.policy, &note) {
            put("best-hpa.yaml", yaml.as_bytes())?;
        }
    }
    for (name, bytes) in plots(sweep, a)? {
        put(&name, &bytes)?;
    }
    Ok(written)
}

/// The Pareto scatter and, for a grid of two axes, a heatmap per policy.
fn plots(sweep: &Sweep, a: &Answers) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    let (mx, hx) = &sweep.pareto[0];
    let (my, hy) = &sweep.pareto[1];
    let (kx, ky) = (metric_index(sweep, mx), metric_index(sweep, my));
    let pt = |s: &PointStats| (s.est[kx].mean, s.est[ky].mean);
    let ok: Vec<&PointStats> = a.stats.iter().filter(|s| s.failed == 0 && s.runs > 0).collect();
    let mut chart = plot::ScatterChart::new(
        format!("{}: {my} against {mx}", sweep.name),
        format!("{mx} (mean; {} better)", if *hx { "more" } else { "less" }),
        format!("{my} (mean; {} better)", if *hy { "more" } else { "less" }),
    );
    let others: Vec<(f64, f64)> = ok.iter().filter(|s| !s.pareto).map(|s| pt(s)).collect();
    chart.series.push(plot::ScatterSeries::dots("dominated", others, (0xba, 0xb0, 0xac)));
    let mut front: Vec<(f64, f64)> = ok.iter().filter(|s| s.pareto).map(|s| pt(s)).collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    chart.series.push(plot::ScatterSeries::dots("Pareto front", front, plot::color(0)).joined());
    if let Some(b) = a.best {
        chart.series.push(plot::ScatterSeries::dots("best under the constraints", vec![pt(&a.stats[b])], plot::color(2)).big());
    }
    files.push(("pareto.png".to_string(), plot::render_scatter_png(&chart)?));
    files.push(("pareto.svg".to_string(), plot::render_scatter_svg(&chart)?.into_bytes()));

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
