//! `autosim live calibrate`: what the cluster did against what the simulation said, and the
//! scenario's `startup` fitted to the measured pods (a lognormal by maximum likelihood, or the
//! samples themselves), written back with only that key changed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::recorder::{Observed, PodRow};
use super::replay::{LiveSummary, Request};
use super::LiveError;
use crate::dist::{Dist, Z95};

/// The fewest samples a rewritten scenario is fitted from without `--force`.
pub const MIN_SAMPLES: usize = 20;
/// Kubernetes timestamps have whole seconds: a startup measured as 0 is taken as half of one.
const ZERO_STARTUP_S: f64 = 0.5;

#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    pub dir: PathBuf,
    pub scenario: Option<PathBuf>,
    pub service: Option<String>,
    pub write_scenario: Option<PathBuf>,
    pub fit: String,
    pub force: bool,
    pub out: Option<PathBuf>,
}

/// Five numbers of a sample.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Stats {
    pub n: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

pub fn stats(values: &[f64]) -> Stats {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        let x = p * (v.len() - 1) as f64;
        let i = x.floor() as usize;
        let j = (i + 1).min(v.len() - 1);
        Some(round3(v[i] + (v[j] - v[i]) * (x - i as f64)))
    };
    Stats {
        n: v.len(),
        p50: q(0.5),
        p95: q(0.95),
        p99: q(0.99),
        max: v.last().copied().map(round3),
        mean: (!v.is_empty()).then(|| round3(v.iter().sum::<f64>() / v.len() as f64)),
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A lognormal fitted by maximum likelihood: `mu` and `sigma` of the logs (sigma with 1/n).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct LognormalFit {
    pub mu: f64,
    pub sigma: f64,
    pub median_s: f64,
    pub p95_s: f64,
}

pub fn fit_lognormal(samples: &[f64]) -> Option<LognormalFit> {
    if samples.is_empty() {
        return None;
    }
    let logs: Vec<f64> = samples.iter().map(|&x| x.max(1e-9).ln()).collect();
    let n = logs.len() as f64;
    let mu = logs.iter().sum::<f64>() / n;
    let sigma = (logs.iter().map(|l| (l - mu).powi(2)).sum::<f64>() / n).sqrt();
    Some(LognormalFit { mu, sigma, median_s: mu.exp(), p95_s: (mu + Z95 * sigma).exp() })
}

/// The CDF of a distribution at `x`, by bisection on its quantile function (every [`Dist`]
/// has one).
pub fn cdf(d: &Dist, x: f64) -> f64 {
    if let Some(c) = d.is_constant() {
        return if x >= c { 1.0 } else { 0.0 };
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if d.quantile(mid) <= x {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The Kolmogorov-Smirnov distance between the samples' empirical CDF and `d`.
pub fn ks_distance(samples: &[f64], d: &Dist) -> f64 {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mut worst = 0.0f64;
    for (i, &x) in v.iter().enumerate() {
        let f = cdf(d, x);
        worst = worst.max((f - i as f64 / n).abs()).max(((i + 1) as f64 / n - f).abs());
    }
    worst
}

/// One scale-up of the replay, real against simulated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleUp {
    pub index: usize,
    pub deployment: String,
    pub from: u32,
    pub to: u32,
    pub sent_s: f64,
    /// Patch to the first new pod's creation (simulated as 0).
    pub controller_lag_s: Option<f64>,
    /// Median creation to scheduling of its pods (simulated as 0 without node pools).
    pub scheduling_delay_s: Option<f64>,
    /// Median scheduled to ready of its pods.
    pub startup_s: Option<f64>,
    /// Patch until the ready replicas reached the target (real seconds).
    pub to_target_s: Option<f64>,
    /// The same in the simulation (simulated seconds, from the decision).
    pub simulated_to_target_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleDown {
    pub index: usize,
    pub deployment: String,
    pub from: u32,
    pub to: u32,
    pub sent_s: f64,
    /// Patch to the first deletion mark.
    pub to_deletion_mark_s: Option<f64>,
    /// Patch until the last removed pod was gone.
    pub until_gone_s: Option<f64>,
}

/// Real ready replicas against simulated, over the replay (simulated time axis).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Gap {
    pub deployment: String,
    /// Integral of |real - simulated| ready replicas, pod-seconds of simulated time.
    pub abs_integral_pod_s: f64,
    pub max_abs: f64,
    /// Share of the time the two were equal.
    pub share_equal: f64,
    pub span_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartupFit {
    pub samples: usize,
    pub measured: Stats,
    pub lognormal: Option<LognormalFit>,
    /// The scenario's startup before, as written.
    pub scenario_startup: Option<String>,
    pub ks_scenario: Option<f64>,
    pub ks_fitted: Option<f64>,
    /// Measured as 0 (whole-second timestamps) and taken as 0.5 s for the fit.
    pub zero_samples: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    pub dir: PathBuf,
    pub service: Option<String>,
    pub deployments: Vec<String>,
    pub speed: f64,
    pub lateness: Stats,
    pub scale_ups: Vec<ScaleUp>,
    pub scale_downs: Vec<ScaleDown>,
    /// Delays the simulation treats as zero: patch to pod created, created to scheduled.
    pub controller_lag: Stats,
    pub scheduling_delay: Stats,
    pub startup: StartupFit,
    pub gaps: Vec<Gap>,
    pub written_scenario: Option<PathBuf>,
}

fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<Vec<T>>, LiveError> {
    if !path.is_file() {
        return Ok(None);
    }
    let mut r = csv::Reader::from_path(path).map_err(|e| LiveError::refused(format!("{}: cannot read: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, row) in r.deserialize().enumerate() {
        out.push(row.map_err(|e| LiveError::refused(format!("{}: line {}: {e}", path.display(), i + 2)))?);
    }
    Ok(Some(out))
}

fn median(v: &mut [f64]) -> Option<f64> {
    stats(v).p50
}

pub fn calibrate(opts: &CalibrateOptions) -> Result<(), LiveError> {
    let dir = &opts.dir;
    let fit_kind = opts.fit.as_str();
    if !matches!(fit_kind, "lognormal" | "empirical") {
        return Err(LiveError::refused(format!("--fit {fit_kind:?}: expected lognormal or empirical")));
    }
    let pods: Vec<PodRow> = read_csv(&dir.join("pods.csv"))?.ok_or_else(|| {
        LiveError::refused(format!("{}: no pods.csv: not the folder of a `live replay` or `live record`", dir.display()))
    })?;
    let summary: Option<LiveSummary> = std::fs::read_to_string(dir.join("live.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    let requests: Vec<Request> = read_csv(&dir.join("requests.csv"))?.unwrap_or_default();
    let observed: Vec<Observed> = read_csv(&dir.join("observed.csv"))?.unwrap_or_default();
    let speed = summary.as_ref().map_or(1.0, |s| s.speed);
    // Which Deployments are the service's.
    let deployments: Vec<String> = match (&summary, &opts.service) {
        (Some(s), Some(svc)) => {
            let d: Vec<String> = s.deployments.iter().filter(|d| &d.service == svc).map(|d| d.deployment.clone()).collect();
            if d.is_empty() {
                let known: Vec<&str> = s.deployments.iter().map(|d| d.service.as_str()).collect();
                return Err(LiveError::refused(format!(
                    "--service {svc:?}: the replay in {} did not replay it (it replayed: {})",
                    dir.display(),
                    known.join(", ")
                )));
            }
            d
        }
        (Some(s), None) => s.deployments.iter().map(|d| d.deployment.clone()).collect(),
        (None, _) => {
            let mut d: Vec<String> = pods.iter().map(|p| p.deployment.clone()).collect();
            d.sort();
            d.dedup();
            d
        }
    };
    let ours = |d: &str| deployments.iter().any(|x| x == d);
    // Pods that existed before the replay (or recording) began are not measured.
    let first = requests.iter().map(|r| r.sent_s).fold(0.0f64, f64::min) - 1.0;
    let measured: Vec<&PodRow> = pods.iter().filter(|p| ours(&p.deployment) && p.created_s.is_some_and(|c| c >= first)).collect();
    let mut zero = 0;
    let samples: Vec<f64> = measured
        .iter()
        .filter_map(|p| Some(p.ready_s? - p.scheduled_s?))
        .map(|s| {
            if s <= 0.0 {
                zero += 1;
                ZERO_STARTUP_S
            } else {
                s
            }
        })
        .collect();
    let lag: Vec<f64> = Vec::new();
    let sched: Vec<f64> = measured.iter().filter_map(|p| Some((p.scheduled_s? - p.created_s?).max(0.0))).collect();
    // The calls.
    let scale: Vec<&Request> = requests.iter().filter(|r| r.kind == "scale" && ours(&r.deployment)).collect();
    let lateness = stats(&scale.iter().filter_map(|r| r.lateness_s).collect::<Vec<_>>());
    let sim_rows = summary
        .as_ref()
        .map(|s| {
            let svc = s.deployments.iter().find(|d| ours(&d.deployment)).map(|d| d.service.clone()).unwrap_or_default();
            super::replay::simulated_ready(&s.run, &s.policy, &svc)
        })
        .unwrap_or_default();
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    let mut lags = lag;
    for (k, r) in scale.iter().enumerate() {
        if r.status != 200 {
            continue;
        }
        let next = scale[k + 1..].iter().find(|n| n.deployment == r.deployment).map_or(f64::INFINITY, |n| n.sent_s);
        let window: Vec<&&PodRow> = measured
            .iter()
            .filter(|p| p.deployment == r.deployment && p.created_s.is_some_and(|c| c >= r.sent_s - 1.0 && c < next))
            .collect();
        if r.to > r.from {
            let controller_lag = window.iter().filter_map(|p| p.created_s).fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.min(c)))).map(|c| round3((c - r.sent_s).max(0.0)));
            if let Some(l) = controller_lag {
                lags.push(l);
            }
            let mut sd: Vec<f64> = window.iter().filter_map(|p| Some((p.scheduled_s? - p.created_s?).max(0.0))).collect();
            let mut su: Vec<f64> = window.iter().filter_map(|p| Some((p.ready_s? - p.scheduled_s?).max(0.0))).collect();
            let to_target = observed
                .iter()
                .find(|o| o.deployment == r.deployment && o.time_s >= r.sent_s && o.ready_replicas >= r.to)
                .map(|o| round3(o.time_s - r.sent_s));
            let sim_t = r.scheduled_s.map(|s| s * speed);
            let simulated_to_target = sim_t.and_then(|t| sim_rows.iter().find(|(ts, v)| *ts >= t && *v >= r.to as f64).map(|(ts, _)| round3(ts - t)));
            ups.push(ScaleUp {
                index: r.index,
                deployment: r.deployment.clone(),
                from: r.from,
                to: r.to,
                sent_s: r.sent_s,
                controller_lag_s: controller_lag,
                scheduling_delay_s: median(&mut sd),
                startup_s: median(&mut su),
                to_target_s: to_target,
                simulated_to_target_s: simulated_to_target,
            });
        } else if r.to < r.from {
            let marked: Vec<&PodRow> = pods
                .iter()
                .filter(|p| p.deployment == r.deployment && p.deletion_s.is_some_and(|d| d >= r.sent_s - 1.0 && d < next))
                .collect();
            let mark = marked.iter().filter_map(|p| p.deletion_s).fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.min(c))));
            let gone = if marked.iter().all(|p| p.gone_s.is_some()) {
                marked.iter().filter_map(|p| p.gone_s).fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.max(c))))
            } else {
                None
            };
            downs.push(ScaleDown {
                index: r.index,
                deployment: r.deployment.clone(),
                from: r.from,
                to: r.to,
                sent_s: r.sent_s,
                to_deletion_mark_s: mark.map(|m| round3((m - r.sent_s).max(0.0))),
                until_gone_s: gone.map(|g| round3((g - r.sent_s).max(0.0))),
            });
        }
    }
    // Ready replicas, real against simulated.
    let mut gaps = Vec::new();
    if !sim_rows.is_empty() {
        for d in &deployments {
            let real: Vec<(f64, f64)> = observed.iter().filter(|o| &o.deployment == d).map(|o| (o.time_s * speed, o.ready_replicas as f64)).collect();
            if let Some(g) = gap(d, &real, &sim_rows) {
                gaps.push(g);
            }
        }
    }
    // The fit.
    let (scenario_startup, old) = match (&opts.scenario, &opts.service) {
        (Some(path), Some(svc)) => {
            let sc = crate::scenario::load(path)?;
            let s = sc.services.iter().find(|s| &s.name == svc).ok_or_else(|| {
                let names: Vec<&str> = sc.services.iter().map(|s| s.name.as_str()).collect();
                LiveError::refused(format!("{}: no service {svc:?} (it has: {})", path.display(), names.join(", ")))
            })?;
            (Some(s.startup.to_string()), Some(s.startup.clone()))
        }
        _ => (None, None),
    };
    let ln = fit_lognormal(&samples);
    let fitted = ln.and_then(|f| Dist::lognormal(f.mu, f.sigma).ok());
    let startup = StartupFit {
        samples: samples.len(),
        measured: stats(&samples),
        lognormal: ln,
        scenario_startup,
        ks_scenario: old.as_ref().filter(|_| !samples.is_empty()).map(|d| round3(ks_distance(&samples, d))),
        ks_fitted: fitted.as_ref().filter(|_| !samples.is_empty()).map(|d| round3(ks_distance(&samples, d))),
        zero_samples: zero,
    };
    let out_dir = opts.out.clone().unwrap_or_else(|| dir.clone());
    // The samples, one per line, for `dist = "empirical"`.
    let mut samples_csv = String::from("startup_s\n");
    for s in &samples {
        let _ = writeln!(samples_csv, "{s}");
    }
    crate::output::write_atomic(&out_dir.join("startup-samples.csv"), samples_csv.as_bytes())?;
    let mut written = None;
    if let (Some(out), Some(path), Some(svc)) = (&opts.write_scenario, &opts.scenario, &opts.service) {
        if samples.len() < MIN_SAMPLES && !opts.force {
            return Err(LiveError::refused(format!(
                "only {} startup sample(s) measured, fewer than {MIN_SAMPLES}: the fit would be noise; replay longer or pass --force",
                samples.len()
            )));
        }
        let Some(f) = ln else {
            return Err(LiveError::refused("no startup sample was measured (no pod went from scheduled to ready)"));
        };
        let text = std::fs::read_to_string(path).map_err(|e| LiveError::refused(format!("{}: cannot read: {e}", path.display())))?;
        let new_value = if fit_kind == "lognormal" {
            format!("{{ dist = \"lognormal\", median = \"{}\", p95 = \"{}\" }}", secs(f.median_s), secs(f.p95_s))
        } else {
            let stem = out.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
            let name = format!("{stem}.startup-samples.csv");
            let at = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(&name);
            crate::output::write_atomic(&at, samples_csv.as_bytes())?;
            format!("{{ dist = \"empirical\", file = \"{name}\" }}")
        };
        let rewritten = set_startup(&text, svc, &new_value).map_err(|e| LiveError::refused(format!("{}: {e}", path.display())))?;
        let base = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        crate::scenario::parse(&rewritten, base)
            .map_err(|e| LiveError::refused(format!("the rewritten scenario does not validate: {}", e.message)))?;
        crate::output::write_atomic(out, rewritten.as_bytes())?;
        written = Some(out.clone());
    }
    let cal = Calibration {
        dir: dir.clone(),
        service: opts.service.clone(),
        deployments,
        speed,
        lateness,
        scale_ups: ups,
        scale_downs: downs,
        controller_lag: stats(&lags),
        scheduling_delay: stats(&sched),
        startup,
        gaps,
        written_scenario: written,
    };
    let mut json = serde_json::to_vec_pretty(&cal).map_err(|e| LiveError::failed(&e))?;
    json.push(b'\n');
    crate::output::write_atomic(&out_dir.join("calibration.json"), &json)?;
    let md = render(&cal);
    crate::output::write_atomic(&out_dir.join("calibration.md"), md.as_bytes())?;
    print!("{md}");
    Ok(())
}

/// A duration in seconds as a scenario writes it, to the millisecond: "23.457s".
fn secs(v: f64) -> String {
    let t = format!("{:.3}", v.max(0.001));
    format!("{}s", t.trim_end_matches('0').trim_end_matches('.'))
}

/// The scenario text with only the `startup` of the service `svc` replaced by `value` (an
/// inline TOML value); everything else kept byte for byte.
pub fn set_startup(text: &str, svc: &str, value: &str) -> Result<String, String> {
    use toml_edit::{DocumentMut, Item, Value};
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("not TOML: {e}"))?;
    let mut new: Value = value.parse().map_err(|e| format!("internal: {e}"))?;
    let services = doc.get_mut("services").ok_or("no [[services]]")?;
    let name_of = |v: Option<&Item>| v.and_then(|i| i.as_str()).map(str::to_string);
    let mut done = false;
    if let Some(aot) = services.as_array_of_tables_mut() {
        for t in aot.iter_mut() {
            if name_of(t.get("name")).as_deref() == Some(svc) {
                if let Some(old) = t.get("startup").and_then(Item::as_value) {
                    *new.decor_mut() = old.decor().clone();
                } else {
                    new.decor_mut().set_prefix(" ");
                }
                match t.get_mut("startup") {
                    Some(item) if item.is_value() => *item = Item::Value(new.clone()),
                    _ => {
                        t.insert("startup", Item::Value(new.clone()));
                    }
                }
                done = true;
            }
        }
    } else if let Some(arr) = services.as_array_mut() {
        for v in arr.iter_mut() {
            if let Some(t) = v.as_inline_table_mut() {
                if t.get("name").and_then(|v| v.as_str()) == Some(svc) {
                    if let Some(old) = t.get("startup") {
                        *new.decor_mut() = old.decor().clone();
                    }
                    t.insert("startup", new.clone());
                    done = true;
                }
            }
        }
    }
    if !done {
        return Err(format!("no service {svc:?} whose `startup` could be written"));
    }
    Ok(doc.to_string())
}

/// The gap between two step functions over their common span.
fn gap(deployment: &str, real: &[(f64, f64)], sim: &[(f64, f64)]) -> Option<Gap> {
    let (start, end) = (real.first()?.0.max(sim.first()?.0), real.last()?.0.min(sim.last()?.0));
    if end <= start {
        return None;
    }
    let at = |s: &[(f64, f64)], t: f64| s.iter().take_while(|p| p.0 <= t).last().map_or(s[0].1, |p| p.1);
    let mut ts: Vec<f64> = real.iter().chain(sim).map(|p| p.0).filter(|&t| t > start && t < end).collect();
    ts.push(start);
    ts.push(end);
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    let (mut integral, mut max, mut equal) = (0.0, 0.0f64, 0.0);
    for w in ts.windows(2) {
        let d = (at(real, w[0]) - at(sim, w[0])).abs();
        let dt = w[1] - w[0];
        integral += d * dt;
        max = max.max(d);
        if d == 0.0 {
            equal += dt;
        }
    }
    Some(Gap {
        deployment: deployment.to_string(),
        abs_integral_pod_s: round3(integral),
        max_abs: max,
        share_equal: round3(equal / (end - start)),
        span_s: round3(end - start),
    })
}

fn o(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v}"))
}

fn render(c: &Calibration) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# Calibration from {}\n", c.dir.display());
    let _ = writeln!(m, "Deployments: {}; replay speed {}.\n", c.deployments.join(", "), c.speed);
    let l = &c.lateness;
    let _ = writeln!(m, "Lateness of the calls (s): p50 {}, p99 {}, max {} ({} calls)\n", o(l.p50), o(l.p99), o(l.max), l.n);
    let s = &c.startup;
    let _ = writeln!(m, "## Startup (scheduled to ready)\n");
    let _ = writeln!(m, "- measured: {} samples, p50 {}s, p95 {}s, max {}s", s.samples, o(s.measured.p50), o(s.measured.p95), o(s.measured.max));
    if let Some(f) = &s.lognormal {
        let _ = writeln!(m, "- fitted lognormal (maximum likelihood): median {}, p95 {}", secs(f.median_s), secs(f.p95_s));
    }
    if let Some(old) = &s.scenario_startup {
        let _ = writeln!(m, "- the scenario's: {old}; Kolmogorov-Smirnov distance to the samples {} (fitted: {})", o(s.ks_scenario), o(s.ks_fitted));
    }
    if s.zero_samples > 0 {
        let _ = writeln!(m, "- {} measured as 0 (whole-second timestamps), taken as 0.5s", s.zero_samples);
    }
    if let Some(w) = &c.written_scenario {
        let _ = writeln!(m, "- written to {} (only `startup` changed)", w.display());
    }
    let _ = writeln!(m, "\n## Delays the simulation treats as zero\n");
    let _ = writeln!(m, "- patch to pod created (controller): p50 {}s, max {}s ({} scale-ups)", o(c.controller_lag.p50), o(c.controller_lag.max), c.controller_lag.n);
    let _ = writeln!(m, "- created to scheduled: p50 {}s, max {}s ({} pods)", o(c.scheduling_delay.p50), o(c.scheduling_delay.max), c.scheduling_delay.n);
    if !c.scale_ups.is_empty() {
        let _ = writeln!(m, "\n## Scale-ups\n\n| # | deployment | from | to | controller lag s | scheduling s | startup s | to target s | simulated to target s |\n|---|---|---|---|---|---|---|---|---|");
        for u in &c.scale_ups {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                u.index, u.deployment, u.from, u.to, o(u.controller_lag_s), o(u.scheduling_delay_s), o(u.startup_s), o(u.to_target_s), o(u.simulated_to_target_s)
            );
        }
    }
    if !c.scale_downs.is_empty() {
        let _ = writeln!(m, "\n## Scale-downs\n\n| # | deployment | from | to | to deletion mark s | until gone s |\n|---|---|---|---|---|---|");
        for d in &c.scale_downs {
            let _ = writeln!(m, "| {} | {} | {} | {} | {} | {} |", d.index, d.deployment, d.from, d.to, o(d.to_deletion_mark_s), o(d.until_gone_s));
        }
    }
    for g in &c.gaps {
        let _ = writeln!(
            m,
            "\nReady replicas of {}, real against simulated over {}s of simulated time: |difference| integral {} pod-s, max {}, equal {:.0}% of the time",
            g.deployment,
            g.span_s,
            g.abs_integral_pod_s,
            g.max_abs,
            g.share_equal * 100.0
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_of_a_perfect_grid_is_small() {
        let d = Dist::lognormal(3.0, 0.5).unwrap();
        let samples: Vec<f64> = (1..1000).map(|i| d.quantile(i as f64 / 1000.0)).collect();
        assert!(ks_distance(&samples, &d) < 0.002);
        let f = fit_lognormal(&samples).unwrap();
        assert!((f.mu - 3.0).abs() < 0.01 && (f.sigma - 0.5).abs() < 0.02, "{f:?}");
    }

    #[test]
    fn only_startup_changes() {
        let text = "# top\nname = \"x\"\n[[services]]\nname = \"a\"\nstartup = \"5s\" # keep me\nreplicas = 2\n[[services]]\nname = \"b\"\nstartup = \"7s\"\n";
        let out = set_startup(text, "b", "{ dist = \"lognormal\", median = \"2s\", p95 = \"4s\" }").unwrap();
        assert_eq!(out, text.replace("startup = \"7s\"", "startup = { dist = \"lognormal\", median = \"2s\", p95 = \"4s\" }"));
        let out = set_startup(text, "a", "\"1s\"").unwrap();
        assert_eq!(out, text.replace("startup = \"5s\" # keep me", "startup = \"1s\" # keep me"));
    }
}
