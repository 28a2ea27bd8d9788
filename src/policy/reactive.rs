//! `kind = "reactive"`: seed 000's live reactive autoscaler, as its `reactive.py` runs.
//!
//! Every `control_interval` it reads the service's request rate from Prometheus
//! (`sum(rate(http_requests_total{service="<svc>"}[1m]))`, or the pods' average CPU in cores
//! with `metric = "cpu"`, or any `query`), smooths it with an exponential moving average
//! (`ema_alpha`: `s = alpha * x + (1 - alpha) * s`; the first reading, and any reading while
//! `s` is exactly 0, sets `s = x`), and looks up the table entry of the Deployment's current
//! spec replicas: `[upper, lower]`.
//!
//! - `s >= upper` (and below `max_replicas`): UPSCALE to the first count above the current one
//!   whose own upper bound is above `s` (or `max_replicas`).
//! - `s < lower` (and above `min_replicas`): DOWNSCALE to the first count below the current one
//!   whose own lower bound is at most `s` (or `min_replicas`).
//! - Otherwise NO_CHANGE. The bounds of adjacent counts overlap (hysteresis), so a rate between
//!   them keeps whichever count the service has.
//!
//! A change within `cooldown` of the last applied one (either direction) is BLOCKED, logged
//! with the wait left in whole seconds, as the seed logs it. Counts outside the table use the
//! nearest entry (the seed's `5+ pods` row).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Decision, Observation, PodContext, Policy, PolicyFactory, Target, Verdict};
use crate::engine::SimTime;
use crate::metrics::expr::Expr;
use crate::scenario::params::Params;
use crate::scenario::ConfigError;

/// The seed's `RPS_THRESHOLDS`.
pub const DEFAULT_RPS_THRESHOLDS: [(u32, f64, f64); 5] =
    [(1, 10.0, 0.0), (2, 30.0, 8.0), (3, 60.0, 25.0), (4, 100.0, 50.0), (5, f64::INFINITY, 90.0)];
/// The seed's `cpu_thresholds` (cores per pod: its comments call 0.1 "10% CPU").
pub const DEFAULT_CPU_THRESHOLDS: [(u32, f64, f64); 5] =
    [(1, 0.1, 0.0), (2, 0.3, 0.1), (3, 0.5, 0.3), (4, 0.7, 0.5), (5, 1.0, 0.7)];

/// What the scaler reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Rps,
    Cpu,
}

impl MetricKind {
    fn label(self) -> &'static str {
        match self {
            MetricKind::Rps => "RPS",
            MetricKind::Cpu => "CPU",
        }
    }
    fn fmt(self, v: f64) -> String {
        match self {
            MetricKind::Rps => format!("{v:.1}"),
            MetricKind::Cpu => format!("{v:.2}"),
        }
    }
}

/// The threshold table: `[upper, lower]` per replica count, contiguous keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// The smallest count in the table.
    first: u32,
    /// `(upper, lower)` for `first`, `first + 1`, ...
    bounds: Vec<(f64, f64)>,
}

impl Thresholds {
    pub fn from_entries(entries: &[(u32, f64, f64)]) -> Result<Thresholds, String> {
        let mut sorted: Vec<(u32, f64, f64)> = entries.to_vec();
        sorted.sort_by_key(|e| e.0);
        let Some(first) = sorted.first().map(|e| e.0) else {
            return Err("the table is empty: expected entries like \"1\" = [10, 0], \"2\" = [30, 8]".into());
        };
        for (i, &(n, up, low)) in sorted.iter().enumerate() {
            if n != first + i as u32 {
                return Err(format!("no entry for {} replicas: the counts must follow each other without gaps (from {first})", first + i as u32));
            }
            if up.is_nan() || low.is_nan() || low < 0.0 || low == f64::INFINITY {
                return Err(format!("\"{n}\" = [{up}, {low}]: expected [upper, lower] with 0 <= lower <= upper (upper may be inf)"));
            }
            if low > up {
                return Err(format!("\"{n}\" = [{up}, {low}]: the lower bound is above the upper one; expected [upper, lower]"));
            }
        }
        Ok(Thresholds { first, bounds: sorted.iter().map(|e| (e.1, e.2)).collect() })
    }

    /// `(upper, lower)` of `n` replicas; counts outside the table use the nearest entry.
    pub fn of(&self, n: u32) -> (f64, f64) {
        let i = (n.saturating_sub(self.first) as usize).min(self.bounds.len() - 1);
        self.bounds[i]
    }

    /// The largest count in the table.
    pub fn last(&self) -> u32 {
        self.first + self.bounds.len() as u32 - 1
    }
}

/// The seed's `desired_replicas`: the count for smoothed value `s` from `current`, and the
/// seed's reason (`Scale up: RPS 65.3 >= 60.0`).
pub fn desired_replicas(t: &Thresholds, current: u32, s: f64, min: u32, max: u32, kind: MetricKind) -> (u32, String) {
    let (up, down) = t.of(current);
    let (label, sv) = (kind.label(), kind.fmt(s));
    if s >= up && current < max {
        for r in current + 1..=max {
            if s < t.of(r).0 {
                return (r, format!("Scale up: {label} {sv} >= {}", kind.fmt(up)));
            }
        }
        return (max, format!("Scale to max: {label} {sv}"));
    }
    if s < down && current > min {
        let mut r = current - 1;
        loop {
            if s >= t.of(r).1 || r <= min {
                return (r.max(min), format!("Scale down: {label} {sv} < {}", kind.fmt(down)));
            }
            r -= 1;
        }
    }
    (current, format!("Stable: {label} {sv} in range"))
}

#[derive(Debug, Clone)]
pub struct ReactiveFactory {
    pub service: usize,
    pub service_name: String,
    pub control_interval_ns: u64,
    pub cooldown_ns: u64,
    pub ema_alpha: f64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub metric: MetricKind,
    pub thresholds: Thresholds,
    pub query: Expr,
}

impl PolicyFactory for ReactiveFactory {
    fn kind(&self) -> &'static str {
        "reactive"
    }
    fn queries(&self) -> Vec<&Expr> {
        vec![&self.query]
    }
    fn build(&self) -> Box<dyn Policy> {
        Box::new(Reactive { f: Arc::new(self.clone()), smoothed: 0.0, last_scale: None })
    }
}

struct Reactive {
    f: Arc<ReactiveFactory>,
    /// `ServiceState.smoothed_rps`.
    smoothed: f64,
    /// `ServiceState.last_scale_time` (`None`: never, the seed's epoch 0).
    last_scale: Option<SimTime>,
}

impl Policy for Reactive {
    fn first_wake(&self) -> SimTime {
        // The seed's loop runs its first iteration at start-up.
        0
    }

    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        let f = &self.f;
        let now = obs.now();
        let next = now + f.control_interval_ns;
        let current = obs.deployment(f.service).spec_replicas;
        let hold = |reason: String| Decision { target: Target::Deployment(f.service), from: current, to: current, verdict: Verdict::Hold, reason };
        let raw = match obs.promql(&f.query).and_then(|r| f.query.reduce(&r)) {
            Ok(Some(v)) if v.is_finite() => v,
            Ok(_) => {
                out.push(hold(format!("No {} data for {}", f.metric.label(), f.service_name)));
                return next;
            }
            Err(e) => {
                out.push(hold(format!("No {} data for {}: {e}", f.metric.label(), f.service_name)));
                return next;
            }
        };
        // update_smoothed_rps
        self.smoothed = if self.smoothed == 0.0 { raw } else { f.ema_alpha * raw + (1.0 - f.ema_alpha) * self.smoothed };
        let s = self.smoothed;
        let (desired, why) = desired_replicas(&f.thresholds, current, s, f.min_replicas, f.max_replicas, f.metric);
        let raw_note = format!(" (raw {})", f.metric.fmt(raw));
        if desired == current {
            out.push(hold(format!("NO_CHANGE: {} @ {current} replicas | {why}{raw_note}", f.service_name)));
            return next;
        }
        let action = if desired > current { "UPSCALE" } else { "DOWNSCALE" };
        if let Some(last) = self.last_scale {
            let since = now - last;
            if since < f.cooldown_ns {
                // int(COOLDOWN_PERIOD - time_since_last_scale)
                let wait = (f.cooldown_ns - since) / 1_000_000_000;
                out.push(Decision {
                    target: Target::Deployment(f.service),
                    from: current,
                    to: desired,
                    verdict: Verdict::Blocked,
                    reason: format!("BLOCKED: {} | Cooldown: wait {wait}s ({action} {current}→{desired} | {why}{raw_note})", f.service_name),
                });
                return next;
            }
        }
        self.last_scale = Some(now);
        out.push(Decision {
            target: Target::Deployment(f.service),
            from: current,
            to: desired,
            verdict: Verdict::Apply,
            reason: format!("{action}: {} {current}→{desired} | {why}{raw_note}", f.service_name),
        });
        next
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

fn table(v: BTreeMap<String, Vec<f64>>) -> Result<Thresholds, String> {
    let mut entries = Vec::new();
    for (k, b) in v {
        let n: u32 = k.trim().parse().map_err(|_| format!("key {k:?}: expected a replica count such as \"3\""))?;
        if n > crate::scenario::MAX_REPLICAS {
            return Err(format!("key \"{n}\" is more replicas than autosim simulates ({})", crate::scenario::MAX_REPLICAS));
        }
        if b.len() != 2 {
            return Err(format!("\"{n}\": expected two numbers [upper, lower], found {}", b.len()));
        }
        entries.push((n, b[0], b[1]));
    }
    Thresholds::from_entries(&entries)
}

/// `[policies.pods] kind = "reactive"`: `control_interval` (30s), `cooldown` (60s),
/// `ema_alpha` (0.7), `min_replicas` (1), `max_replicas` (10), `metric` (`"rps"` or
/// `"cpu"`), `rps_thresholds` / `cpu_thresholds` (the seed's tables), `service_thresholds`
/// (a table per service name), `query` (PromQL, `{service}` replaced by the service's name).
pub fn parse(p: &mut Params, ctx: &PodContext<'_>) -> Result<Arc<dyn PolicyFactory>, ConfigError> {
    let service = ctx.service;
    let sc = ctx.scenario;
    let name = sc.services[service].name.clone();
    let what = p.what.clone();
    let err = |p: &Params, key: &str, m: String| ConfigError::at(p.span_of(key), format!("{what}: `{key}`: {m}"));

    let control_interval_ns = p.get_or("control_interval", crate::units::Duration(30_000_000_000))?.nanos();
    if control_interval_ns < 1_000_000 {
        return Err(err(p, "control_interval", "must be at least 1ms".into()));
    }
    let cooldown_ns = p.get_or("cooldown", crate::units::Duration(60_000_000_000))?.nanos();
    let ema_alpha: f64 = p.get_or("ema_alpha", 0.7)?;
    if !(ema_alpha > 0.0 && ema_alpha <= 1.0) {
        return Err(err(p, "ema_alpha", format!("{ema_alpha}: expected a weight in (0, 1], like 0.7 (0.5 smooth, 0.9 responsive)")));
    }
    let min_replicas: u32 = p.get_or("min_replicas", 1)?;
    let max_replicas: u32 = p.get_or("max_replicas", 10)?;
    if max_replicas > crate::scenario::MAX_REPLICAS {
        return Err(err(p, "max_replicas", format!("{max_replicas} is more than autosim simulates ({})", crate::scenario::MAX_REPLICAS)));
    }
    if max_replicas < min_replicas.max(1) {
        return Err(err(p, "max_replicas", format!("{max_replicas} is below `min_replicas` ({min_replicas}) or 1")));
    }
    let metric = match p.get::<String>("metric")?.as_deref() {
        None | Some("rps") => MetricKind::Rps,
        Some("cpu") => MetricKind::Cpu,
        Some(other) => return Err(err(p, "metric", format!("{other:?}: expected \"rps\" (request rate) or \"cpu\" (cores per pod)"))),
    };
    let (own_key, other_key, default) = match metric {
        MetricKind::Rps => ("rps_thresholds", "cpu_thresholds", &DEFAULT_RPS_THRESHOLDS),
        MetricKind::Cpu => ("cpu_thresholds", "rps_thresholds", &DEFAULT_CPU_THRESHOLDS),
    };
    let mut thresholds = match p.get::<BTreeMap<String, Vec<f64>>>(own_key)? {
        Some(t) => table(t).map_err(|m| err(p, own_key, m))?,
        None => Thresholds::from_entries(default).expect("the seed's table is valid"),
    };
    if p.has(other_key) {
        let _ = p.get::<toml::Value>(other_key)?;
        return Err(err(p, other_key, format!("this table is for metric = {:?}; this policy reads {:?} (set `metric`, or use `{own_key}`)", if metric == MetricKind::Rps { "cpu" } else { "rps" }, if metric == MetricKind::Rps { "rps" } else { "cpu" })));
    }
    if let Some(per) = p.get::<BTreeMap<String, BTreeMap<String, Vec<f64>>>>("service_thresholds")? {
        for svc in per.keys() {
            if !sc.services.iter().any(|s| &s.name == svc) {
                let known: Vec<_> = sc.services.iter().map(|s| format!("{:?}", s.name)).collect();
                return Err(err(p, "service_thresholds", format!("{svc:?} is not a service (services: {})", known.join(", "))));
            }
        }
        if let Some(t) = per.get(&name) {
            thresholds = table(t.clone()).map_err(|m| err(p, "service_thresholds", format!("{name:?}: {m}")))?;
        }
    }
    let services: Vec<String> = sc.services.iter().map(|s| s.name.clone()).collect();
    let text = match p.get::<String>("query")? {
        Some(q) => q.replace("{service}", &name),
        None => match metric {
            MetricKind::Rps => format!("sum(rate(http_requests_total{{service=\"{name}\"}}[1m]))"),
            MetricKind::Cpu => format!("avg(rate(container_cpu_usage_seconds_total{{service=\"{name}\"}}[1m]))"),
        },
    };
    let query = Expr::parse(&text, &services).map_err(|m| err(p, "query", m))?;
    Ok(Arc::new(ReactiveFactory {
        service,
        service_name: name,
        control_interval_ns,
        cooldown_ns,
        ema_alpha,
        min_replicas,
        max_replicas,
        metric,
        thresholds,
        query,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_table() -> Thresholds {
        Thresholds::from_entries(&DEFAULT_RPS_THRESHOLDS).unwrap()
    }

    #[test]
    fn the_seeds_log_lines() {
        let t = seed_table();
        // Up to the first count whose own upper bound is above the value: 65.3 from 3 is 4.
        assert_eq!(desired_replicas(&t, 2, 35.0, 1, 10, MetricKind::Rps), (3, "Scale up: RPS 35.0 >= 30.0".into()));
        assert_eq!(desired_replicas(&t, 3, 65.3, 1, 10, MetricKind::Rps), (4, "Scale up: RPS 65.3 >= 60.0".into()));
        // Down to the first count whose own lower bound is at most the value: 45.2 from 4 or 5
        // is 3 (25 <= 45.2).
        assert_eq!(desired_replicas(&t, 4, 45.2, 1, 10, MetricKind::Rps), (3, "Scale down: RPS 45.2 < 50.0".into()));
        assert_eq!(desired_replicas(&t, 5, 45.2, 1, 10, MetricKind::Rps).0, 3);
        assert_eq!(desired_replicas(&t, 5, 80.0, 1, 10, MetricKind::Rps).0, 4);
    }

    #[test]
    fn hysteresis_and_limits() {
        let t = seed_table();
        // 28 RPS is inside both 2's [8, 30) and 3's [25, 60): each count stays.
        assert_eq!(desired_replicas(&t, 2, 28.0, 1, 10, MetricKind::Rps).0, 2);
        assert_eq!(desired_replicas(&t, 3, 28.0, 1, 10, MetricKind::Rps).0, 3);
        // The 5+ row: never above 5 by the table (inf), whatever max_replicas says.
        assert_eq!(desired_replicas(&t, 5, 1e9, 1, 10, MetricKind::Rps).0, 5);
        // max_replicas caps.
        assert_eq!(desired_replicas(&t, 1, 500.0, 1, 3, MetricKind::Rps), (3, "Scale to max: RPS 500.0".into()));
        // min_replicas floors.
        assert_eq!(desired_replicas(&t, 4, 0.0, 2, 10, MetricKind::Rps).0, 2);
        assert_eq!(desired_replicas(&t, 2, 0.0, 2, 10, MetricKind::Rps).0, 2);
        // Above the table: the last row's bounds.
        assert_eq!(desired_replicas(&t, 8, 95.0, 1, 10, MetricKind::Rps).0, 8);
        assert_eq!(desired_replicas(&t, 8, 10.0, 1, 10, MetricKind::Rps).0, 2);
    }

    #[test]
    fn tables_are_checked() {
        assert!(Thresholds::from_entries(&[(1, 10.0, 0.0), (3, 60.0, 25.0)]).unwrap_err().contains("no entry for 2"));
        assert!(Thresholds::from_entries(&[(1, 10.0, 20.0)]).unwrap_err().contains("lower bound is above"));
        assert!(Thresholds::from_entries(&[]).unwrap_err().contains("empty"));
    }
}
