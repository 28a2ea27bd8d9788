//! The replay plan: which scale calls a replay makes and when, from a run's `decisions.csv`.
//! Pure: no cluster, no clock (`autosim live plan` prints it; `live replay` follows it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::LiveError;

/// One row of a run's `decisions.csv`, as far as a replay needs it.
#[derive(Debug, Clone, Deserialize)]
struct Decision {
    time_s: f64,
    controller: String,
    target: String,
    from: u32,
    to: u32,
    verdict: String,
    #[serde(default)]
    reason: String,
}

/// One scale call of the plan (a row of `plan.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// 1, 2, ... in the order sent.
    pub index: usize,
    /// When the simulation made the decision, seconds from its start.
    pub time_s: f64,
    /// When the call is sent, seconds of wall-clock time after t0: `time_s / speed`.
    pub wall_offset_s: f64,
    pub service: String,
    pub deployment: String,
    pub from: u32,
    pub to: u32,
    pub reason: String,
}

/// Where a mapped service starts: the replicas the run started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub service: String,
    pub deployment: String,
    pub replicas: u32,
}

/// The replay of one policy of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub run: PathBuf,
    pub policy: String,
    pub speed: f64,
    pub start: Vec<Start>,
    pub calls: Vec<Call>,
    /// Applied node decisions, skipped (kind has no node groups).
    pub node_decisions_skipped: usize,
    /// Decisions held or blocked by the policy, not replayed.
    pub not_applied: usize,
}

/// Options of a plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub policy: String,
    /// `SVC=DEPLOY` pairs; a service not named maps to a Deployment of its own name.
    pub map: Vec<String>,
    pub speed: f64,
    pub max_replicas: u32,
}

/// Parse `--map SVC=DEPLOY` pairs.
pub fn parse_map(pairs: &[String]) -> Result<BTreeMap<String, String>, LiveError> {
    let mut map = BTreeMap::new();
    for p in pairs {
        let (svc, dep) = p
            .split_once('=')
            .filter(|(s, d)| !s.is_empty() && !d.is_empty())
            .ok_or_else(|| LiveError::refused(format!("--map {p:?}: expected SERVICE=DEPLOYMENT, like api=web")))?;
        if !is_dns_label(dep) {
            return Err(LiveError::refused(format!(
                "--map {p:?}: {dep:?} is not a Deployment name (lowercase letters, digits and '-', at most 63 characters)"
            )));
        }
        if map.insert(svc.to_string(), dep.to_string()).is_some() {
            return Err(LiveError::refused(format!("--map: the service {svc:?} is mapped twice")));
        }
    }
    Ok(map)
}

/// An RFC 1123 label, as Kubernetes requires of namespaces (and, here, of Deployment names).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The speed factor: a finite number above 0.
pub fn check_speed(speed: f64) -> Result<f64, LiveError> {
    if speed.is_finite() && speed > 0.0 {
        Ok(speed)
    } else {
        Err(LiveError::refused(format!("--speed {speed}: expected a number above 0 (4 replays four times as fast)")))
    }
}

/// The plan of `policy` in the run folder `run`.
pub fn build(run: &Path, opts: &PlanOptions) -> Result<Plan, LiveError> {
    let speed = check_speed(opts.speed)?;
    let map = parse_map(&opts.map)?;
    let pdir = run.join(&opts.policy);
    let path = pdir.join("decisions.csv");
    if !path.is_file() {
        let known = policies_in(run);
        let hint = if known.is_empty() {
            format!("{} is not an `autosim run` output folder", run.display())
        } else {
            format!("the run has: {}", known.join(", "))
        };
        return Err(LiveError::refused(format!("{}: no such file: no policy {:?} in this run ({hint})", path.display(), opts.policy)));
    }
    let decisions = read_decisions(&path)?;
    let mut calls = Vec::new();
    let mut start: Vec<Start> = Vec::new();
    let (mut nodes, mut not_applied) = (0, 0);
    for d in &decisions {
        if d.verdict != "apply" {
            not_applied += 1;
            continue;
        }
        if d.controller != "pods" {
            nodes += 1;
            continue;
        }
        let deployment = map.get(&d.target).cloned().unwrap_or_else(|| d.target.clone());
        if !start.iter().any(|s| s.service == d.target) {
            start.push(Start { service: d.target.clone(), deployment: deployment.clone(), replicas: d.from });
        }
        calls.push(Call {
            index: calls.len() + 1,
            time_s: d.time_s,
            wall_offset_s: d.time_s / speed,
            service: d.target.clone(),
            deployment,
            from: d.from,
            to: d.to,
            reason: d.reason.clone(),
        });
    }
    for svc in map.keys() {
        if !start.iter().any(|s| &s.service == svc) {
            let known: Vec<&str> = start.iter().map(|s| s.service.as_str()).collect();
            return Err(LiveError::refused(format!(
                "--map {svc}=...: the policy {:?} made no applied pod decision for a service {svc:?} (it did for: {})",
                opts.policy,
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        }
    }
    // Two services onto one Deployment would make two writers.
    for (i, a) in start.iter().enumerate() {
        if let Some(b) = start[..i].iter().find(|b| b.deployment == a.deployment) {
            return Err(LiveError::refused(format!(
                "the services {:?} and {:?} both map to the Deployment {:?}; map each to its own",
                b.service, a.service, a.deployment
            )));
        }
        if !is_dns_label(&a.deployment) {
            return Err(LiveError::refused(format!(
                "the service {:?} maps to {:?}, which is not a Deployment name; give --map {}=DEPLOYMENT",
                a.service, a.deployment, a.service
            )));
        }
    }
    let plan = Plan {
        run: run.to_path_buf(),
        policy: opts.policy.clone(),
        speed,
        start,
        calls,
        node_decisions_skipped: nodes,
        not_applied,
    };
    check_cap(&plan, opts.max_replicas)?;
    Ok(plan)
}

/// Refuse a plan that goes above `max` replicas anywhere.
pub fn check_cap(plan: &Plan, max: u32) -> Result<(), LiveError> {
    let over_start = plan.start.iter().find(|s| s.replicas > max).map(|s| (0.0, s.deployment.as_str(), s.replicas));
    let over_call = plan.calls.iter().find(|c| c.to > max).map(|c| (c.time_s, c.deployment.as_str(), c.to));
    if let Some((t, dep, n)) = over_start.or(over_call) {
        let peak = plan.calls.iter().map(|c| c.to).chain(plan.start.iter().map(|s| s.replicas)).max().unwrap_or(0);
        return Err(LiveError::refused(format!(
            "the plan scales the Deployment {dep:?} to {n} replicas at {t}s of simulated time, above --max-replicas {max} \
             (its peak is {peak}); raise --max-replicas if the cluster can hold it"
        )));
    }
    Ok(())
}

fn read_decisions(path: &Path) -> Result<Vec<Decision>, LiveError> {
    let mut r = csv::Reader::from_path(path).map_err(|e| LiveError::refused(format!("{}: cannot read: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, row) in r.deserialize::<Decision>().enumerate() {
        let d = row.map_err(|e| LiveError::refused(format!("{}: line {}: {e}", path.display(), i + 2)))?;
        if !d.time_s.is_finite() || d.time_s < 0.0 {
            return Err(LiveError::refused(format!("{}: line {}: time_s must be a time >= 0, got {}", path.display(), i + 2, d.time_s)));
        }
        out.push(d);
    }
    if out.windows(2).any(|w| w[1].time_s < w[0].time_s) {
        return Err(LiveError::refused(format!("{}: the decisions are not in time order", path.display())));
    }
    Ok(out)
}

/// The policy folders of a run (those with a decisions.csv).
fn policies_in(run: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("decisions.csv").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `plan.csv`.
pub fn csv(plan: &Plan) -> Result<Vec<u8>, crate::output::OutputError> {
    crate::output::csv_bytes(
        &plan.calls,
        &["index", "time_s", "wall_offset_s", "service", "deployment", "from", "to", "reason"],
    )
}

/// The plan for a terminal.
pub fn text(plan: &Plan) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "replay of {:?} from {} at speed {}: {} scale call(s) over {}s of wall-clock time",
        plan.policy,
        plan.run.display(),
        plan.speed,
        plan.calls.len(),
        fmt_s(plan.calls.last().map_or(0.0, |c| c.wall_offset_s))
    );
    for st in &plan.start {
        let _ = writeln!(s, "  start: {} (service {}) at {} replicas, then t0 when all are ready", st.deployment, st.service, st.replicas);
    }
    let _ = writeln!(s, "  {:>4}  {:>10}  {:>10}  {:<20} {:>9}", "#", "sim time", "wall at", "deployment", "replicas");
    for c in &plan.calls {
        let _ = writeln!(
            s,
            "  {:>4}  {:>9}s  {:>9}s  {:<20} {:>4} -> {}",
            c.index,
            fmt_s(c.time_s),
            fmt_s(c.wall_offset_s),
            c.deployment,
            c.from,
            c.to
        );
    }
    if plan.node_decisions_skipped > 0 {
        let _ = writeln!(s, "  {} node decision(s) skipped (kind has no node groups)", plan.node_decisions_skipped);
    }
    s
}

fn fmt_s(v: f64) -> String {
    let t = format!("{v:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    t.to_string()
}
