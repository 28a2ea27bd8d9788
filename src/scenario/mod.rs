//! Scenario files: parse (`raw`), validate into the model (`model`), and report mistakes with
//! their file, line and column (`error`).
//!
//! The world only: cluster, services, load, metrics pipeline and report settings. It may use
//! only `units`, `quote`, `engine`, `dist` and `workload`; the policy alternatives and
//! expectations of a file are read above it (`crate::experiment`).

mod calls;
pub mod error;
mod model;
pub mod params;
mod raw;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use toml::Spanned;

pub use error::{ConfigError, ScenarioError};
pub use model::*;
use raw::*;

use serde::Deserialize as _;

use crate::dist::{Dist, DistSpec};
use crate::workload::Workload;

/// Most replicas a deployment may have: beyond this a run would exhaust memory.
pub const MAX_REPLICAS: u32 = 100_000;
/// Most concurrency slots a pod may have: a slot's index is 16 bits in the engine's events.
pub const MAX_CONCURRENCY: u32 = 65_536;
/// Most requests a queue may hold.
pub const MAX_QUEUE: u64 = 10_000_000;
/// Most rows a timeseries may have (services x steps).
pub const MAX_ROWS: u64 = 20_000_000;
/// Most nodes in a pool.
pub const MAX_NODES: u32 = 100_000;
/// Longest run: ten years.
pub const MAX_DURATION_NS: u64 = 10 * 365 * 86_400 * 1_000_000_000;

/// Read and validate a scenario file: the world only (its policies and expectations are
/// the experiment's: `crate::experiment::load` reads the whole file).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let source = read(path)?;
    parse(&source, &base_dir(path)).map_err(|e| locate(path, &source, e))
}

/// A scenario file's text.
pub fn read(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|e| ScenarioError::whole_file(path, format!("cannot read the scenario: {e}")))
}

/// An error in the scenario file `path` (text `source`) with its line and column; a sweep
/// file given where a scenario belongs is told so.
pub fn locate(path: &Path, source: &str, e: ConfigError) -> ScenarioError {
    match file_kind(source) {
        Some(FileKind::Sweep) => ScenarioError::whole_file(
            path,
            format!(
                "this is a sweep file (it has `base` and `[[axis]]` tables), not a scenario: run it with `autosim sweep {}`; the scenario it sweeps is the one its `base` names",
                path.display()
            ),
        ),
        _ => ScenarioError::locate(path, source, e),
    }
}

/// What a TOML file of ours is, by its top-level keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Scenario,
    /// A sweep file: `base` and `axis`.
    Sweep,
}

/// Recognise a scenario (`services` or `cluster`, no `base`) or a sweep file (`base` with
/// `axis`); None when the text is not TOML or is neither.
pub fn file_kind(source: &str) -> Option<FileKind> {
    let table: toml::Table = toml::from_str(source).ok()?;
    let has = |k: &str| table.contains_key(k);
    if has("base") && (has("axis") || has("sampling")) {
        Some(FileKind::Sweep)
    } else if !has("base") && !has("axis") && (has("services") || has("cluster")) {
        Some(FileKind::Scenario)
    } else {
        None
    }
}

/// Parse and validate a scenario from its text; files it names are relative to `base_dir`.
pub fn parse(source: &str, base_dir: &Path) -> Result<Scenario, ConfigError> {
    let raw: RawScenario = toml::from_str(source).map_err(ConfigError::from)?;
    validate(raw, base_dir)
}

fn dns_label(name: &Spanned<String>, what: &str) -> Result<String, ConfigError> {
    let n = name.get_ref();
    let ok = !n.is_empty()
        && n.len() <= 63
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !n.starts_with('-')
        && !n.ends_with('-');
    if ok {
        Ok(n.clone())
    } else {
        Err(ConfigError::at(
            name.span(),
            format!(
                "invalid {what} name {n:?}: expected a Kubernetes name (1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit)"
            ),
        ))
    }
}

fn resolve(spec: &Spanned<DistSpec>, base_dir: &Path) -> Result<Dist, ConfigError> {
    spec.get_ref().resolve(base_dir).map_err(|e| ConfigError::at(spec.span(), e.to_string()))
}

fn positive(v: &Spanned<crate::units::Duration>, what: &str) -> Result<u64, ConfigError> {
    let ns = v.get_ref().nanos();
    if ns == 0 {
        Err(ConfigError::at(v.span(), format!("`{what}` must be longer than zero")))
    } else {
        Ok(ns)
    }
}

/// A histogram's bucket bounds as a Prometheus client takes them: finite and increasing; a
/// last `+inf` is the implicit `+Inf` bucket and is dropped.
fn validate_buckets(b: Spanned<Vec<Spanned<f64>>>) -> Result<Vec<f64>, ConfigError> {
    let mut out: Vec<f64> = Vec::new();
    let n = b.get_ref().len();
    for (i, v) in b.into_inner().into_iter().enumerate() {
        let x = *v.get_ref();
        if x == f64::INFINITY && i + 1 == n {
            break;
        }
        if !x.is_finite() {
            return Err(ConfigError::at(v.span(), format!("`buckets`: {x} is not a finite bound, seconds (`+Inf` is implicit; it may only come last)")));
        }
        if let Some(&prev) = out.last() {
            if x <= prev {
                return Err(ConfigError::at(v.span(), format!("`buckets` must be in increasing order: {x} follows {prev}")));
            }
        }
        out.push(x);
    }
    Ok(out)
}

fn validate_report(raw: raw::RawReport) -> Result<ReportConfig, ConfigError> {
    let raw::RawReport { reversal_window, demand_utilization, price_per_pod_hour } = raw;
    let mut out = ReportConfig::default();
    if let Some(w) = &reversal_window {
        out.reversal_window_ns = w.get_ref().nanos();
    }
    if let Some(u) = demand_utilization {
        let v = *u.get_ref();
        if !(v > 0.0 && v <= 1.0) {
            return Err(ConfigError::at(u.span(), format!("`report.demand_utilization` is {v}: expected a share in (0, 1], such as 0.8")));
        }
        out.demand_utilization = v;
    }
    if let Some(p) = price_per_pod_hour {
        let v = *p.get_ref();
        if !(v.is_finite() && v >= 0.0) {
            return Err(ConfigError::at(p.span(), format!("`report.price_per_pod_hour` is {v}: expected a non-negative number of dollars, such as 0.05")));
        }
        out.price_per_pod_hour = v;
    }
    Ok(out)
}

fn validate(raw: RawScenario, base_dir: &Path) -> Result<Scenario, ConfigError> {
    let RawScenario { name, description, duration, seed, step, warmup, cluster, metrics, services, policies: _, report, expect: _ } = raw;
    let report = validate_report(report.unwrap_or_default())?;
    let name_s = name.get_ref().clone();
    if name_s.is_empty() || name_s.contains(['/', '\\']) || name_s.starts_with('.') {
        return Err(ConfigError::at(name.span(), "invalid scenario name: expected a non-empty name usable as a folder name (no '/', '\\' or leading '.')"));
    }
    let duration_ns = positive(&duration, "duration")?;
    if duration_ns > MAX_DURATION_NS {
        return Err(ConfigError::at(duration.span(), "`duration` is longer than ten years: expected a shorter run"));
    }
    let step_ns = match &step {
        Some(s) => positive(s, "step")?,
        None => 10_000_000_000,
    };
    if step_ns < 1_000_000 {
        return Err(ConfigError::at(step.as_ref().map(|s| s.span()).unwrap_or(0..0), "`step` must be at least 1ms"));
    }
    let warmup_ns = warmup.as_ref().map_or(0, |w| w.get_ref().nanos());
    if warmup_ns >= duration_ns {
        return Err(ConfigError::at(
            warmup.as_ref().map(|w| w.span()).unwrap_or(0..0),
            "`warmup` must be shorter than `duration`",
        ));
    }

    // Cluster.
    let cluster = match cluster {
        None => Cluster {
            pools: vec![NodePool {
                name: "default".into(),
                instance: None,
                cpu_m: u64::MAX / 4,
                memory_bytes: u64::MAX / 4,
                max_pods: u32::MAX,
                price_per_hour: 0.0,
                nodes: 1,
                min: 1,
                max: 1,
                permanent: 1,
                provision_time: Dist::Constant(0.0),
                provision_failure: 0.0,
                drain_time_ns: 0,
            }],
            implicit: true,
        },
        Some(c) => {
            let span = c.span();
            let RawCluster { node_pools } = c.into_inner();
            if node_pools.get_ref().is_empty() {
                return Err(ConfigError::at(span, "`cluster.node_pools` is empty: expected at least one node pool"));
            }
            let mut pools = Vec::new();
            let mut names = BTreeSet::new();
            for p in node_pools.into_inner() {
                let pspan = p.span();
                let name_span = p.get_ref().name.span();
                let pool = validate_pool(p.into_inner(), pspan, base_dir)?;
                if !names.insert(pool.name.clone()) {
                    return Err(ConfigError::at(name_span, format!("duplicate node pool name {:?}: pool names must be unique", pool.name)));
                }
                pools.push(pool);
            }
            Cluster { pools, implicit: false }
        }
    };

    // Metrics pipeline.
    let metrics = {
        let RawMetrics { namespace, scrape_interval, rate_window, pipeline_delay, resource_resolution, buckets } = metrics.unwrap_or_default();
        let d = MetricsConfig::default();
        let m = MetricsConfig {
            namespace: namespace.unwrap_or(d.namespace.clone()),
            scrape_interval_ns: scrape_interval.as_ref().map_or(Ok(d.scrape_interval_ns), |v| positive(v, "scrape_interval"))?,
            rate_window_ns: rate_window.as_ref().map_or(Ok(d.rate_window_ns), |v| positive(v, "rate_window"))?,
            pipeline_delay_ns: pipeline_delay.as_ref().map_or(d.pipeline_delay_ns, |v| v.get_ref().nanos()),
            resource_resolution_ns: resource_resolution
                .as_ref()
                .map_or(Ok(d.resource_resolution_ns), |v| positive(v, "resource_resolution"))?,
            buckets: match buckets {
                Some(b) => validate_buckets(b)?,
                None => d.buckets.clone(),
            },
        };
        if m.scrape_interval_ns < 1_000_000 {
            return Err(ConfigError::at(scrape_interval.map(|s| s.span()).unwrap_or(0..0), "`scrape_interval` must be at least 1ms"));
        }
        if m.resource_resolution_ns < 1_000_000 {
            return Err(ConfigError::at(resource_resolution.map(|s| s.span()).unwrap_or(0..0), "`resource_resolution` must be at least 1ms"));
        }
        if m.rate_window_ns < 2 * m.scrape_interval_ns {
            let span = rate_window.as_ref().or(scrape_interval.as_ref()).map(|s| s.span()).unwrap_or(0..0);
            return Err(ConfigError::at(
                span,
                format!(
                    "`rate_window` ({}) must be at least twice `scrape_interval` ({}): a shorter range holds fewer than two samples and rate() has no value",
                    crate::units::Duration(m.rate_window_ns),
                    crate::units::Duration(m.scrape_interval_ns)
                ),
            ));
        }
        m
    };

    // Services.
    let services_span = services.span();
    if services.get_ref().is_empty() {
        return Err(ConfigError::at(services_span, "no services: expected at least one [[services]] table"));
    }
    let mut out_services = Vec::new();
    let mut names = BTreeSet::new();
    let mut raw_calls: calls::RawCalls = Vec::new();
    for s in services.into_inner() {
        let span = s.span();
        let mut raw_service = s.into_inner();
        if let (None, Some(after)) = (&raw_service.calls, &raw_service.service_time_after_calls) {
            return Err(ConfigError::at(after.span(), format!("service {:?}: `service_time_after_calls` without `calls`: expected a `calls` list, or the work in `service_time`", raw_service.name.get_ref())));
        }
        raw_calls.push((raw_service.calls.take(), span.clone()));
        let svc = validate_service(raw_service, span.clone(), base_dir)?;
        if !names.insert(svc.name.clone()) {
            return Err(ConfigError::at(span, format!("duplicate service name {:?}", svc.name)));
        }
        out_services.push(svc);
    }
    calls::resolve(&mut out_services, raw_calls)?;
    let rows = (duration_ns / step_ns + 1).saturating_mul(out_services.len() as u64);
    if rows > MAX_ROWS {
        return Err(ConfigError::at(
            step.map(|s| s.span()).unwrap_or(duration.span()),
            format!("`step` is too fine for `duration`: {rows} timeseries rows, expected at most {MAX_ROWS}; use a longer step"),
        ));
    }

    let scenario = Scenario {
        name: name_s,
        description,
        duration_ns,
        seed: seed.unwrap_or(1),
        step_ns,
        warmup_ns,
        cluster,
        metrics,
        services: out_services,
        report,
    };

    Ok(scenario)
}

fn validate_pool(p: RawNodePool, span: std::ops::Range<usize>, base_dir: &Path) -> Result<NodePool, ConfigError> {
    let RawNodePool { name, instance, cpu, memory, max_pods, price_per_hour, nodes, min, max, permanent, provision_time, provision_failure, drain_time } = p;
    let pool_name = dns_label(&name, "node pool")?;
    let at = |s: std::ops::Range<usize>, m: String| ConfigError::at(s, format!("node pool {pool_name:?}: {m}"));
    if cpu.get_ref().0 == 0 {
        return Err(at(cpu.span(), "`cpu` must be more than zero".into()));
    }
    if memory.get_ref().0 == 0 {
        return Err(at(memory.span(), "`memory` must be more than zero".into()));
    }
    let price = price_per_hour.as_ref().map_or(0.0, |p| *p.get_ref());
    if !(price.is_finite() && price >= 0.0) {
        return Err(at(price_per_hour.map(|p| p.span()).unwrap_or(span), "`price_per_hour` must be a non-negative number of dollars".into()));
    }
    let n = nodes.as_ref().map_or(1, |v| *v.get_ref());
    let min_v = min.as_ref().map_or(0, |v| *v.get_ref());
    let max_v = max.as_ref().map_or(n.max(min_v), |v| *v.get_ref());
    let perm = permanent.as_ref().map_or(0, |v| *v.get_ref());
    let nodes_span = nodes.as_ref().map_or(span.clone(), |v| v.span());
    if max_v > MAX_NODES {
        return Err(at(max.map_or(span, |v| v.span()), format!("`max` = {max_v} is more than autosim simulates ({MAX_NODES})")));
    }
    if min_v > max_v {
        return Err(at(min.map_or(span, |v| v.span()), format!("`min` ({min_v}) is above `max` ({max_v})")));
    }
    if n < min_v || n > max_v {
        return Err(at(nodes_span, format!("`nodes` ({n}) must be between `min` ({min_v}) and `max` ({max_v})")));
    }
    if perm > n {
        return Err(at(permanent.map_or(span, |v| v.span()), format!("`permanent` ({perm}) is more than `nodes` ({n})")));
    }
    let failure = provision_failure.as_ref().map_or(0.0, |v| *v.get_ref());
    if !(0.0..=1.0).contains(&failure) {
        return Err(at(
            provision_failure.map_or(span, |v| v.span()),
            format!("`provision_failure` = {failure}: expected a probability in [0, 1], like 0.05"),
        ));
    }
    let max_pods_v = max_pods.as_ref().map_or(110, |v| *v.get_ref());
    if max_pods_v == 0 {
        return Err(at(max_pods.map_or(span, |v| v.span()), "`max_pods` must be at least 1".into()));
    }
    Ok(NodePool {
        name: pool_name,
        instance,
        cpu_m: cpu.get_ref().0,
        memory_bytes: memory.get_ref().0,
        max_pods: max_pods_v,
        price_per_hour: price,
        nodes: n,
        min: min_v,
        max: max_v,
        permanent: perm,
        provision_time: match &provision_time {
            Some(d) => resolve(d, base_dir)?,
            None => Dist::Constant(0.0),
        },
        provision_failure: failure,
        // The cluster-autoscaler's default `--max-graceful-termination-sec`: pods get their
        // own shutdown grace unless it is longer than this.
        drain_time_ns: drain_time.map_or(600_000_000_000, |d| d.get_ref().nanos()),
    })
}

fn validate_service(s: RawService, span: std::ops::Range<usize>, base_dir: &Path) -> Result<Service, ConfigError> {
    let RawService {
        name,
        kind,
        balancer,
        replicas,
        concurrency,
        queue_limit,
        timeout,
        no_ready_pods,
        service_time,
        cpu_per_request,
        cpu_idle,
        memory_base,
        memory_per_request,
        resources,
        startup,
        shutdown_grace,
        slo,
        workload,
        calls: _,
        service_time_after_calls,
    } = s;
    let svc_name = dns_label(&name, "service")?;
    let at = |s: std::ops::Range<usize>, m: String| ConfigError::at(s, format!("service {svc_name:?}: {m}"));
    let kind_v = kind.as_ref().map_or(RawServiceKind::Http, |k| *k.get_ref());
    let kind_out = match kind_v {
        RawServiceKind::Http => ServiceKind::Http {
            balancer: match balancer.as_ref().map(|b| *b.get_ref()) {
                None | Some(RawBalancer::RoundRobin) => Balancer::RoundRobin,
                Some(RawBalancer::Random) => Balancer::Random,
                Some(RawBalancer::LeastRequest) => Balancer::LeastRequest,
            },
            no_ready_pods: match no_ready_pods.as_ref().map(|b| *b.get_ref()) {
                None | Some(RawNoReadyPods::Wait) => NoReadyPods::Wait,
                Some(RawNoReadyPods::Reject) => NoReadyPods::Reject,
            },
        },
        RawServiceKind::Queue => {
            if let Some(b) = &balancer {
                return Err(at(b.span(), "`balancer` applies to kind = \"http\" only: workers of a queue pull their jobs".into()));
            }
            if let Some(b) = &no_ready_pods {
                return Err(at(b.span(), "`no_ready_pods` applies to kind = \"http\" only: a queue holds its jobs".into()));
            }
            ServiceKind::Queue
        }
    };
    let replicas_v = replicas.as_ref().map_or(1, |r| *r.get_ref());
    if replicas_v > MAX_REPLICAS {
        return Err(at(replicas.map_or(span.clone(), |r| r.span()), format!("`replicas` = {replicas_v} is more than autosim simulates ({MAX_REPLICAS})")));
    }
    let concurrency_v = concurrency.as_ref().map_or(1, |c| *c.get_ref());
    if concurrency_v == 0 || concurrency_v > MAX_CONCURRENCY {
        return Err(at(
            concurrency.map_or(span.clone(), |c| c.span()),
            format!("`concurrency` must be between 1 and {MAX_CONCURRENCY} (requests one pod serves at once)"),
        ));
    }
    let default_queue = if kind_v == RawServiceKind::Queue { 100_000 } else { 1_000 };
    let queue_limit_v = queue_limit.as_ref().map_or(default_queue, |q| *q.get_ref());
    if queue_limit_v > MAX_QUEUE {
        return Err(at(
            queue_limit.map_or(span.clone(), |q| q.span()),
            format!("`queue_limit` = {queue_limit_v} is more than autosim holds ({MAX_QUEUE}); a queue that long would exhaust memory"),
        ));
    }
    let timeout_ns = match &timeout {
        Some(t) => Some(positive(t, "timeout")?),
        None => None,
    };
    let (cpu_req, mem_req) = match &resources {
        Some(r) => {
            let r = r.get_ref();
            (r.cpu.as_ref().map_or(100, |c| c.get_ref().0), r.memory.as_ref().map_or(128 << 20, |m| m.get_ref().0))
        }
        None => (100, 128 << 20),
    };
    if cpu_req == 0 {
        let s = resources.as_ref().and_then(|r| r.get_ref().cpu.as_ref().map(|c| c.span())).unwrap_or(span.clone());
        return Err(at(s, "`resources.cpu` must be more than zero: CPU utilization is measured against it".into()));
    }
    let slo_v = match &slo {
        None => Slo { latency_ns: 1_000_000_000, percentile: 99.0, availability: 0.999 },
        Some(s) => {
            let sspan = s.span();
            let s = s.get_ref();
            let percentile = s.percentile.as_ref().map_or(99.0, |p| *p.get_ref());
            if !(percentile > 0.0 && percentile <= 100.0) {
                return Err(at(s.percentile.as_ref().map_or(sspan.clone(), |p| p.span()), "`slo.percentile` must be in (0, 100], like 99 or 99.9".into()));
            }
            let availability = s.availability.as_ref().map_or(0.999, |p| *p.get_ref());
            if !(0.0..=1.0).contains(&availability) {
                return Err(at(s.availability.as_ref().map_or(sspan.clone(), |p| p.span()), "`slo.availability` must be a share in [0, 1], like 0.999".into()));
            }
            let latency_ns = match &s.latency {
                Some(l) => positive(l, "slo.latency")?,
                None => 1_000_000_000,
            };
            Slo { latency_ns, percentile, availability }
        }
    };
    let workload_v = match workload {
        Some(w) => validate_workload(w, &svc_name, base_dir)?,
        None => Workload { sources: Vec::new() },
    };
    Ok(Service {
        name: svc_name,
        kind: kind_out,
        replicas: replicas_v,
        concurrency: concurrency_v,
        queue_limit: queue_limit_v,
        timeout_ns,
        service_time: resolve(&service_time, base_dir)?,
        cpu_per_request: cpu_per_request.as_ref().map(|d| resolve(d, base_dir)).transpose()?,
        cpu_idle_m: cpu_idle.map_or(0, |c| c.get_ref().0),
        memory_base_bytes: memory_base.map_or(0, |m| m.get_ref().0),
        memory_per_request_bytes: memory_per_request.map_or(0, |m| m.get_ref().0),
        cpu_request_m: cpu_req,
        memory_request_bytes: mem_req,
        startup: startup.as_ref().map(|d| resolve(d, base_dir)).transpose()?.unwrap_or(Dist::Constant(0.0)),
        shutdown_grace_ns: shutdown_grace.map_or(30_000_000_000, |g| g.get_ref().nanos()),
        slo: slo_v,
        workload: workload_v,
        calls: Vec::new(),
        service_time_after_calls: service_time_after_calls.as_ref().map(|d| resolve(d, base_dir)).transpose()?,
    })
}

/// Most virtual users of one k6 scenario (each is simulated).
pub const MAX_VUS: u32 = 10_000_000;

fn validate_workload(workload: Spanned<RawWorkload>, svc: &str, base_dir: &Path) -> Result<Workload, ConfigError> {
    use crate::workload::{k6, Source};
    let at = |s: std::ops::Range<usize>, m: String| ConfigError::at(s, format!("service {svc:?}: {m}"));
    let wspan = workload.span();
    let RawWorkload { pattern, resolution, trace, k6: k6_table, k6_options } = workload.into_inner();
    let mut sources = Vec::new();
    if let Some(r) = &resolution {
        if pattern.is_none() {
            return Err(at(r.span(), "`workload.resolution` applies to a `pattern` only".into()));
        }
    }
    if let Some(p) = pattern {
        let resolution_ns = match &resolution {
            Some(r) => {
                let ns = r.get_ref().nanos();
                if ns < 1_000_000 {
                    return Err(at(r.span(), "`workload.resolution` must be at least 1ms".into()));
                }
                ns
            }
            None => 1_000_000_000,
        };
        p.get_ref().validate().map_err(|e| at(p.span(), format!("workload.pattern: {e}")))?;
        sources.push(Source::Pattern { spec: p.into_inner(), resolution_ns });
    }
    if let Some(t) = trace {
        let looped = t.get_ref().looped;
        let loaded = t.get_ref().load(base_dir).map_err(|e| at(t.span(), format!("workload.trace: {e}")))?;
        sources.push(Source::Trace { trace: std::sync::Arc::new(loaded), looped });
    }
    let mut named: Vec<(String, k6::K6Spec, std::ops::Range<usize>)> = Vec::new();
    if let Some(k) = k6_table {
        let span = k.span();
        let value = k.into_inner();
        let Some(table) = value.as_table() else {
            return Err(at(span, "workload.k6: expected a k6 scenario (a table with `executor`) or a table of scenarios by name".into()));
        };
        let de = |v: toml::Value, name: &str| -> Result<k6::K6Spec, ConfigError> {
            k6::K6Spec::deserialize(v).map_err(|e| at(span.clone(), format!("workload.k6 scenario {name:?}: {}", e.message())))
        };
        if table.contains_key("executor") {
            named.push((k6::DEFAULT_SCENARIO_NAME.to_string(), de(value.clone(), k6::DEFAULT_SCENARIO_NAME)?, span.clone()));
        } else {
            if table.is_empty() {
                return Err(at(span, "workload.k6 is empty: expected `executor = \"...\"` or scenarios by name".into()));
            }
            for (name, v) in table {
                if !v.is_table() {
                    return Err(at(span.clone(), format!("workload.k6.{name}: expected a k6 scenario (a table with `executor`)")));
                }
                named.push((name.clone(), de(v.clone(), name)?, span.clone()));
            }
        }
    }
    if let Some(f) = &k6_options {
        let path = base_dir.join(f.get_ref());
        let text = std::fs::read_to_string(&path)
            .map_err(|e| at(f.span(), format!("workload.k6_options: cannot read {}: {e}", path.display())))?;
        let list = k6::parse_options_json(&text).map_err(|e| at(f.span(), format!("{}: {}", path.display(), crate::quote::shorten(&e.to_string()))))?;
        for (name, spec) in list {
            if named.iter().any(|(n, _, _)| *n == name) {
                return Err(at(f.span(), format!("k6 scenario {name:?} is defined twice (in `k6` and in `k6_options`)")));
            }
            named.push((name, spec, f.span()));
        }
    }
    for (name, spec, span) in named {
        let sc = spec.validate(&name, base_dir).map_err(|e| at(span.clone(), e.to_string()))?;
        if sc.max_vus() > MAX_VUS {
            return Err(at(span, format!("k6 scenario {name:?} uses {} VUs; autosim simulates at most {MAX_VUS} per scenario", sc.max_vus())));
        }
        sources.push(Source::K6(sc));
    }
    if sources.is_empty() {
        return Err(at(
            wspan,
            "`workload` has no source: expected `pattern = { kind = \"constant\", rate = 10 }`, `trace = { file = \"...\" }`, `k6 = { executor = \"...\", ... }` or `k6_options = \"options.json\"`".into(),
        ));
    }
    Ok(Workload { sources })
}

/// The scenario's folder: base for the files it names.
pub fn base_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_leaves_policies_and_expectations_to_the_experiment() {
        // The world reads past them, whatever they hold; `crate::experiment` checks them.
        let src = "name = \"x\"\nduration = \"1m\"\n[[services]]\nname = \"api\"\nservice_time = \"10ms\"\nworkload.pattern = { kind = \"constant\", rate = 5 }\n[[policies]]\nname = \"p\"\npods.kind = \"no-such-kind\"\n[[expect]]\nchecks = []\n";
        let sc = parse(src, Path::new(".")).expect("the world is valid");
        assert_eq!(sc.services.len(), 1);
        let e = parse("name = \"x\"\nduration = \"1m\"\nservices = []\nnot_a_key = 1\n", Path::new(".")).unwrap_err();
        assert!(e.message.contains("`policies`") && e.message.contains("`expect`"), "{}", e.message);
    }
}
