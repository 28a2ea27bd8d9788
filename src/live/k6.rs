//! `autosim live k6`: a k6 script whose `options.scenarios` reproduce a service's load from
//! the scenario. k6 tables pass through; patterns and traces become `ramping-arrival-rate`
//! stages holding each of the simulation's rate bins; `--speed` divides durations and keeps
//! rates. The options read back through [`crate::workload::k6::parse_options_json`].

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::LiveError;
use crate::scenario::Scenario;
use crate::workload::k6::{Executor, K6Scenario};
use crate::workload::trace::Trace;
use crate::workload::Source;

/// The most stages a pattern or trace becomes; finer bins are merged (averaged) above it.
pub const MAX_STAGES: usize = 2000;

/// A duration for k6: whole seconds, else milliseconds, else microseconds (rounded).
fn dur(ns: u64) -> String {
    if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{}us", (ns + 500) / 1_000)
    }
}

fn scaled(ns: u64, speed: f64) -> u64 {
    (ns as f64 / speed).round() as u64
}

/// A think time as JavaScript: a draw from 100 equally likely quantiles of the distribution
/// (the midpoints of 100 equal slices of probability); `None` when it is always 0.
fn think_js(k: &K6Scenario) -> Option<String> {
    if k.think_time.is_constant() == Some(0.0) {
        return None;
    }
    let q: Vec<String> = (0..100).map(|i| format!("{:.4}", k.think_time.quantile((i as f64 + 0.5) / 100.0))).collect();
    Some(format!("[{}]", q.join(", ")))
}

/// The name of the JavaScript function of a scenario with a think time.
fn exec_name(i: usize) -> String {
    format!("thinking{i}")
}

/// One k6 scenario of the scenario's own k6 table, as k6 options JSON.
fn k6_json(k: &K6Scenario, speed: f64) -> Value {
    let mut m = Map::new();
    match &k.exec {
        Executor::ArrivalRate { stages, pre_allocated_vus, max_vus, .. } => {
            if stages.first_at_zero() {
                m.insert("executor".into(), json!("constant-arrival-rate"));
                m.insert("rate".into(), json!(stages.start_rate()));
                m.insert("duration".into(), json!(dur(scaled(stages.total_duration_ns(), speed))));
            } else {
                m.insert("executor".into(), json!("ramping-arrival-rate"));
                m.insert("startRate".into(), json!(stages.start_rate()));
                let st: Vec<Value> = stages
                    .stages()
                    .iter()
                    .map(|&(d, t)| json!({ "duration": dur(scaled(d, speed)), "target": t }))
                    .collect();
                m.insert("stages".into(), Value::Array(st));
            }
            m.insert("timeUnit".into(), json!(dur(stages.time_unit_ns())));
            m.insert("preAllocatedVUs".into(), json!(pre_allocated_vus));
            m.insert("maxVUs".into(), json!(max_vus));
        }
        Executor::Vus { vu_stages, graceful_ramp_down_ns } => {
            m.insert("executor".into(), json!("ramping-vus"));
            m.insert("startVUs".into(), json!(vu_stages.start_vus()));
            let st: Vec<Value> = vu_stages
                .stages()
                .iter()
                .map(|&(d, t)| json!({ "duration": dur(scaled(d, speed)), "target": t }))
                .collect();
            m.insert("stages".into(), Value::Array(st));
            m.insert("gracefulRampDown".into(), json!(dur(scaled(*graceful_ramp_down_ns, speed))));
        }
        Executor::Iterations { vus, per_vu, shared, max_duration_ns } => {
            if let Some(n) = per_vu {
                m.insert("executor".into(), json!("per-vu-iterations"));
                m.insert("iterations".into(), json!(n));
            } else {
                m.insert("executor".into(), json!("shared-iterations"));
                m.insert("iterations".into(), json!(shared.unwrap_or(1)));
            }
            m.insert("vus".into(), json!(vus));
            m.insert("maxDuration".into(), json!(dur(scaled(*max_duration_ns, speed))));
        }
    }
    m.insert("startTime".into(), json!(dur(scaled(k.start_ns, speed))));
    m.insert("gracefulStop".into(), json!(dur(scaled(k.graceful_stop_ns, speed))));
    Value::Object(m)
}

/// A rate per bin as `ramping-arrival-rate` stages: each bin held (a zero-length stage jumps
/// to its rate, a stage of the bin's length keeps it), equal neighbours merged. Rates are per
/// minute (k6 wants whole numbers per time unit; per minute keeps a sixtieth of a request per
/// second). The most VUs: enough for the peak at `per_request_s` seconds each, twice over.
fn binned_json(rates: &[f64], bin_ns: u64, speed: f64, per_request_s: f64) -> Value {
    // Merge bins until there are at most MAX_STAGES of them.
    let factor = rates.len().div_ceil(MAX_STAGES / 2).max(1);
    let merged: Vec<f64> = rates.chunks(factor).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect();
    let bin = scaled(bin_ns * factor as u64, speed).max(1);
    let per_min = |r: f64| (r.max(0.0) * 60.0).round() as u64;
    let mut stages: Vec<(u64, u64)> = Vec::new();
    for &r in &merged {
        let t = per_min(r);
        match stages.last_mut() {
            Some(last) if last.1 == t => last.0 += bin,
            _ => {
                stages.push((0, t));
                stages.push((bin, t));
            }
        }
    }
    // The first jump is the start rate itself.
    let start = stages.first().map_or(0, |s| s.1);
    if !stages.is_empty() {
        stages.remove(0);
    }
    let peak = merged.iter().copied().fold(0.0, f64::max);
    let vus = ((peak * per_request_s * 2.0).ceil() as u64).max(10);
    let st: Vec<Value> = stages.iter().map(|&(d, t)| json!({ "duration": dur(d), "target": t })).collect();
    json!({
        "executor": "ramping-arrival-rate",
        "startRate": start,
        "timeUnit": "1m",
        "preAllocatedVUs": vus,
        "maxVUs": vus * 4,
        "stages": st,
    })
}

/// The k6 options (`{"scenarios": {...}}`) of a service's load, and the functions of scenarios
/// with a think time (`exec` names them; k6 sleeps after each request, as the simulation's VUs
/// think; think times are not divided by the speed, so the rate of each VU is kept).
pub fn options(sc: &Scenario, service: &str, speed: f64) -> Result<(Value, Vec<(String, String)>), LiveError> {
    let speed = super::plan::check_speed(speed)?;
    let Some(svc) = sc.services.iter().find(|s| s.name == service) else {
        let names: Vec<&str> = sc.services.iter().map(|s| s.name.as_str()).collect();
        return Err(LiveError::refused(format!("--service {service:?}: the scenario has no such service (it has: {})", names.join(", "))));
    };
    let per_request = svc.service_time.mean().max(0.001);
    let mut scenarios = Map::new();
    let mut funcs = Vec::new();
    for (j, src) in svc.workload.sources.iter().enumerate() {
        match src {
            Source::K6(k) => {
                let mut v = k6_json(k, speed);
                if let Some(table) = think_js(k) {
                    let name = exec_name(funcs.len());
                    v["exec"] = json!(name);
                    funcs.push((name, table));
                }
                scenarios.insert(k.name.clone(), v);
            }
            Source::Pattern { spec, resolution_ns } => {
                let key = crate::engine::rng::fnv1a(&format!("load/{}/{j}", svc.name)) ^ sc.seed;
                let n = sc.duration_ns.div_ceil(*resolution_ns.max(&1));
                let rates: Vec<f64> = (0..n)
                    .map(|b| spec.rate_at((b as f64 + 0.5) * *resolution_ns as f64 / 1e9, key).max(0.0))
                    .collect();
                scenarios.insert(format!("pattern-{j}"), binned_json(&rates, *resolution_ns, speed, per_request));
            }
            Source::Trace { trace, looped } => {
                let bin_ns = match trace.as_ref() {
                    Trace::Bins { bin_ns, .. } => *bin_ns,
                    Trace::Requests { .. } => 1_000_000_000,
                };
                let mut rates = trace.rate_series(bin_ns);
                let n = sc.duration_ns.div_ceil(bin_ns.max(1)) as usize;
                if *looped && !rates.is_empty() {
                    let base = rates.clone();
                    while rates.len() < n {
                        rates.extend_from_slice(&base);
                    }
                }
                rates.truncate(n);
                scenarios.insert(format!("trace-{j}"), binned_json(&rates, bin_ns, speed, per_request));
            }
        }
    }
    Ok((json!({ "scenarios": Value::Object(scenarios) }), funcs))
}

/// The script around the options.
pub fn script(options: &Value, funcs: &[(String, String)], scenario: &Path, service: &str, url: &str, speed: f64) -> String {
    let opts = serde_json::to_string_pretty(options).unwrap_or_default();
    let mut thinking = String::new();
    for (name, table) in funcs {
        thinking.push_str(&format!(
            "\n// Think time (seconds): one of 100 equally likely quantiles of the scenario's think_time.\n\
             const {name}Think = {table};\n\
             export function {name}() {{\n  http.get(url);\n  sleep({name}Think[Math.floor(Math.random() * {name}Think.length)]);\n}}\n"
        ));
    }
    let imports = if funcs.is_empty() { "" } else { "import { sleep } from 'k6';\n" };
    format!(
        "// k6 load for the service {service:?} of {}, written by `autosim live k6` (speed {speed}:\n\
         // durations divided by it, rates kept). Run: k6 run this.js, or in the cluster with\n\
         // deploy/kind/k6-job.yaml. TARGET_URL overrides the URL.\n\
         import http from 'k6/http';\n{imports}\n\
         export const options = {opts};\n\n\
         const url = __ENV.TARGET_URL || {};\n\n\
         export default function () {{\n  http.get(url);\n}}\n{thinking}",
        scenario.display(),
        serde_json::to_string(url).unwrap_or_default()
    )
}

/// The options object of a script written by [`script`] (for reading it back).
pub fn options_of_script(js: &str) -> Option<&str> {
    let start = js.find("export const options = ")? + "export const options = ".len();
    let end = js[start..].find("};\n")? + start + 1;
    Some(&js[start..end])
}

/// `autosim live k6`.
pub fn export(scenario: &Path, service: &str, url: &str, speed: f64, out: Option<PathBuf>) -> Result<(), LiveError> {
    let sc = crate::scenario::load(scenario)?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(LiveError::refused(format!("--url {url:?}: expected an http:// or https:// URL")));
    }
    let (opts, funcs) = options(&sc, service, speed)?;
    let js = script(&opts, &funcs, scenario, service, url, speed);
    let path = out.unwrap_or_else(|| {
        let stem = scenario.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from(format!("{stem}-{service}.k6.js"))
    });
    crate::output::write_atomic(&path, js.as_bytes())?;
    let n = opts["scenarios"].as_object().map_or(0, |m| m.len());
    println!("{}: {n} k6 scenario(s) for the service {service:?} at speed {speed}", path.display());
    Ok(())
}
