//! `kind = "hpa"`: the HorizontalPodAutoscaler as a policy of the simulation.
//!
//! Every sync period the controller reads what the real one reads, through the simulated
//! pipeline: the Deployment's scale (spec and status replicas), the pods its selector lists
//! (phase, readiness and its transition time, start time, requests), and one observation per
//! metric of the spec, then runs [`HpaController::reconcile`] and applies the count.
//!
//! Where metrics come from (what a cluster's metrics-server and metrics adapter would serve):
//! - **Resource / ContainerResource** (`cpu`, `memory`): metrics-server's per-pod usage at
//!   `metrics.resource_resolution`, with its timestamp and window. The pod has one container,
//!   named after the service; a ContainerResource metric naming another container has no data.
//! - **Pods** (custom metrics API): per pod, the series of the service's pods. A metric named
//!   after a pod gauge (`http_requests_in_flight`, `pod_queue_length`,
//!   `container_memory_working_set_bytes`) is its last scraped value; a name `<x>_per_second`
//!   whose counter `<x>_total` exists is `rate(<x>_total[rate_window])` (prometheus-adapter's
//!   usual rule). Or any name mapped to a query in the policy's `adapter` table.
//! - **Object** (`describedObject` a Service or Deployment named after a service): the same
//!   names over that service's own series (`queue_length`, `ingress_requests_per_second`), or
//!   summed over its pods for pod metrics; or the `adapter` query.
//! - **External**: the `adapter` query named by the metric, or the same names as Object for the
//!   service named by the selector's `service` label (default: the scaled service); the HPA sums
//!   the series.
//!
//! Values become milli-units as `Quantity.MilliValue()` gives them (rounded up).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::calc::{ConditionStatus, ContainerRequests, PodInfo, PodMetric, PodMetrics, PodPhase, ReadyCondition};
use super::controller::{ControllerConfig, HpaController, MetricObservation, Outcome, ReconcileInput, Stage};
use super::spec::{HpaSpec, MetricSourceType, MetricSpec};
use crate::policy::api::PodPhase as ApiPhase;
use crate::engine::SimTime;
use crate::metrics::expr::Expr;
use crate::metrics::{Func, Metric, Query};
use crate::policy::{Decision, Observation, Policy, PolicyFactory, Target, Verdict};

/// Where one metric of the spec is read from.
#[derive(Debug, Clone)]
pub enum MetricSource {
    /// metrics-server: `cpu` or `memory` of each pod.
    Resource { memory: bool, container: Option<String> },
    /// Per-pod series of a service.
    PerPod(Query),
    /// An adapter query giving one series per pod (named by its `pod` label).
    PerPodQuery(Expr),
    /// The sum of a service's pod series (Object and External by name); the text names it in
    /// messages.
    ServiceSum(Query, String),
    /// One query, reduced to one value (Object) or kept as series (External).
    Query(Expr),
    /// A service's own series (Object and External by name).
    Service(Query),
    /// The metric cannot be served: every fetch fails with this message (as a missing metric
    /// fails in a real cluster).
    Missing(String),
}

/// A configured HPA for one service.
#[derive(Debug, Clone)]
pub struct HpaFactory {
    pub service: usize,
    pub spec: HpaSpec,
    pub config: ControllerConfig,
    /// One source per metric of the (defaulted) spec, in order.
    pub sources: Vec<MetricSource>,
    /// Scheduled `minReplicas` (a CronJob patching the HPA).
    pub schedule: Option<crate::policy::schedule::Schedule>,
    /// The HPA's name in exported files (the service's).
    pub service_name: String,
    /// The HPA object's `metadata.name`: the manifest's, else the service's.
    pub name: String,
}

impl PolicyFactory for HpaFactory {
    fn kind(&self) -> &'static str {
        "hpa"
    }
    fn build(&self) -> Box<dyn Policy> {
        Box::new(ScheduledHpa {
            hpa: Hpa { f: Arc::new(self.clone()), ctrl: HpaController::new(&self.spec, self.config.clone()), desired: None },
            schedule: self.schedule.clone().map(crate::policy::schedule::ScheduleRt::new),
        })
    }
    fn queries(&self) -> Vec<&Expr> {
        let mut q: Vec<&Expr> = self
            .sources
            .iter()
            .filter_map(|s| match s {
                MetricSource::PerPodQuery(e) | MetricSource::Query(e) => Some(e),
                _ => None,
            })
            .collect();
        q.extend(self.schedule.as_ref().and_then(|s| s.learn.as_ref()).map(|l| &l.metric));
        q
    }
}

impl HpaFactory {
    /// The HPA alone (no schedule), for a policy that drives its bounds.
    pub(crate) fn build_hpa(&self) -> Hpa {
        Hpa { f: Arc::new(self.clone()), ctrl: HpaController::new(&self.spec, self.config.clone()), desired: None }
    }
}

/// The HPA policy's instance (also the HPA that `kind = "keda"` creates).
pub(crate) struct Hpa {
    pub(crate) f: Arc<HpaFactory>,
    pub(crate) ctrl: HpaController,
    /// `status.desiredReplicas`: the last reconcile's count (`None` before the first).
    pub(crate) desired: Option<u32>,
}

/// The metric-name rules of the adapter: a pod or service metric by name, or a rate of a
/// counter by its `_per_second` name.
pub fn query_for_name(name: &str, service: usize, rate_window_ns: u64) -> Option<Query> {
    if let Some(m) = Metric::from_name(name) {
        if !m.is_counter() {
            return Some(Query { metric: m, service, func: Func::Last });
        }
        return None;
    }
    let base = name.strip_suffix("_per_second")?;
    let m = Metric::from_name(&format!("{base}_total"))
        .or_else(|| Metric::from_name(base))
        .filter(|m| m.is_counter())?;
    Some(Query { metric: m, service, func: Func::Rate { window_ns: rate_window_ns } })
}

/// `Quantity.MilliValue()` of a float quantity: rounded up to the next milli-unit.
pub(crate) fn milli(v: f64) -> i64 {
    let m = (v * 1000.0).ceil();
    if m >= i64::MAX as f64 {
        i64::MAX
    } else if m <= i64::MIN as f64 {
        i64::MIN
    } else {
        m as i64
    }
}

impl Hpa {
    pub(crate) fn pods(&self, obs: &Observation<'_>) -> (Vec<PodInfo>, Vec<crate::policy::PodView>) {
        let svc = obs.pod_template(self.f.service);
        let views = obs.pods(self.f.service);
        let requests: BTreeMap<String, i64> = [
            ("cpu".to_string(), svc.cpu_request_m as i64),
            ("memory".to_string(), (svc.memory_request_bytes as i64).saturating_mul(1000)),
        ]
        .into_iter()
        .collect();
        // The template's one container, shared by every pod of the list.
        let containers: Arc<[ContainerRequests]> = Arc::new([ContainerRequests { name: svc.container, requests }]);
        let infos = views
            .iter()
            .map(|v| {
                let (phase, ready) = match v.phase {
                    ApiPhase::Pending => (PodPhase::Pending, None),
                    ApiPhase::Starting => (
                        PodPhase::Running,
                        Some(ReadyCondition {
                            status: ConditionStatus::False,
                            last_transition_time: v.ready_transition.unwrap_or(v.created),
                        }),
                    ),
                    ApiPhase::Ready | ApiPhase::Terminating => (
                        PodPhase::Running,
                        Some(ReadyCondition {
                            status: if v.ready { ConditionStatus::True } else { ConditionStatus::False },
                            last_transition_time: v.ready_transition.unwrap_or(v.created),
                        }),
                    ),
                };
                PodInfo {
                    name: Arc::clone(&v.name),
                    phase,
                    deleting: v.deleting,
                    start_time: v.start_time,
                    ready,
                    containers: Arc::clone(&containers),
                    pod_requests: None,
                }
            })
            .collect();
        (infos, views)
    }

    pub(crate) fn observe(&self, obs: &Observation<'_>, views: &[crate::policy::PodView], i: usize) -> MetricObservation {
        let spec = &self.f.spec.metrics.get(i);
        let svc_name = &obs.pod_template(self.f.service).container;
        match &self.f.sources[i] {
            MetricSource::Resource { memory, container } => {
                if let Some(c) = container {
                    if c != svc_name {
                        return MetricObservation::Unavailable(format!(
                            "failed to get container metrics: container {c} not present in metrics for the pods (the pods of {svc_name} have one container, {svc_name})"
                        ));
                    }
                }
                let mut m = PodMetrics::new();
                for v in views {
                    if let Some(r) = obs.pod_resources(v) {
                        let value_milli = if *memory { milli(r.memory_bytes) } else { r.cpu_m.ceil() as i64 };
                        m.insert(Arc::clone(&v.name), PodMetric { value_milli, timestamp: r.timestamp, window_ns: r.window_ns });
                    }
                }
                if m.is_empty() {
                    return MetricObservation::Unavailable("unable to get metrics for resource: no metrics returned from resource metrics API".into());
                }
                MetricObservation::PerPod(m)
            }
            MetricSource::PerPod(q) => {
                let r = obs.query(q);
                let window = match q.func {
                    Func::Rate { window_ns } | Func::Increase { window_ns } | Func::AvgOverTime { window_ns } | Func::MaxOverTime { window_ns } => window_ns,
                    Func::Last => 0,
                };
                let mut m = PodMetrics::new();
                for s in &r.series {
                    m.insert(s.target.as_str().into(), PodMetric { value_milli: milli(s.value), timestamp: r.at, window_ns: window });
                }
                if m.is_empty() {
                    let name = spec.and_then(|s| s.pods.as_ref()).map_or(String::new(), |p| p.metric.name.clone());
                    return MetricObservation::Unavailable(format!("unable to fetch metrics from custom metrics API: no metrics returned for {name}"));
                }
                MetricObservation::PerPod(m)
            }
            MetricSource::Service(q) => {
                let r = obs.query(q);
                let object = spec.is_some_and(|s| s.r#type == MetricSourceType::Object);
                if r.series.is_empty() {
                    return MetricObservation::Unavailable("unable to get metric: no series returned".into());
                }
                if object {
                    MetricObservation::Object(milli(r.series.iter().map(|s| s.value).sum()))
                } else {
                    MetricObservation::External(r.series.iter().map(|s| milli(s.value)).collect())
                }
            }
            MetricSource::PerPodQuery(e) => {
                let r = match obs.promql(e) {
                    Ok(r) => r,
                    Err(m) => return MetricObservation::Unavailable(m),
                };
                let window = e.window_ns();
                let mut m = PodMetrics::new();
                for s in &r.series {
                    m.insert(s.target.as_str().into(), PodMetric { value_milli: milli(s.value), timestamp: r.at, window_ns: window });
                }
                if m.is_empty() {
                    let name = spec.and_then(|s| s.pods.as_ref()).map_or(String::new(), |p| p.metric.name.clone());
                    return MetricObservation::Unavailable(format!("unable to fetch metrics from custom metrics API: no metrics returned for {name}"));
                }
                MetricObservation::PerPod(m)
            }
            MetricSource::ServiceSum(q, text) => {
                let r = obs.query(q);
                let object = spec.is_some_and(|s| s.r#type == MetricSourceType::Object);
                match r.sum() {
                    Some(v) if object => MetricObservation::Object(milli(v)),
                    Some(v) => MetricObservation::External(vec![milli(v)]),
                    None => MetricObservation::Unavailable(format!("query {text:?} returned no data")),
                }
            }
            MetricSource::Query(e) => {
                let r = match obs.promql(e) {
                    Ok(r) => r,
                    Err(m) => return MetricObservation::Unavailable(m),
                };
                let object = spec.is_some_and(|s| s.r#type == MetricSourceType::Object);
                if object {
                    match e.reduce(&r) {
                        Ok(Some(v)) => MetricObservation::Object(milli(v)),
                        Ok(None) => MetricObservation::Unavailable(format!("query {:?} returned no data", e.text)),
                        Err(m) => MetricObservation::Unavailable(m),
                    }
                } else if e.agg.is_some() {
                    match e.reduce(&r) {
                        Ok(Some(v)) => MetricObservation::External(vec![milli(v)]),
                        Ok(None) => MetricObservation::Unavailable(format!("query {:?} returned no data", e.text)),
                        Err(m) => MetricObservation::Unavailable(m),
                    }
                } else {
                    let s: Vec<i64> = r.series.iter().map(|s| milli(s.value)).collect();
                    if s.is_empty() {
                        MetricObservation::Unavailable(format!("query {:?} returned no data", e.text))
                    } else {
                        MetricObservation::External(s)
                    }
                }
            }
            MetricSource::Missing(m) => MetricObservation::Unavailable(m.clone()),
        }
    }
}

/// An HPA, with the CronJobs of its schedule if it has one.
struct ScheduledHpa {
    hpa: Hpa,
    schedule: Option<crate::policy::schedule::ScheduleRt>,
}

impl Policy for ScheduledHpa {
    fn first_wake(&self) -> SimTime {
        self.hpa.first_wake()
    }

    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        if let Some(s) = &mut self.schedule {
            s.observe(obs);
            let min = s.min_at(obs.now()).or(self.hpa.f.spec.min_replicas).map(|m| m.min(self.hpa.f.spec.max_replicas));
            if min != self.hpa.ctrl.spec().min_replicas {
                let mut spec = self.hpa.ctrl.spec().clone();
                spec.min_replicas = min;
                self.hpa.ctrl.set_spec(&spec);
            }
        }
        self.hpa.wake(obs, out)
    }

    fn report(&self) -> Vec<(String, f64)> {
        self.hpa.report()
    }

    fn hpa_status(&self) -> Option<crate::policy::HpaStatus> {
        self.hpa.hpa_status()
    }

    fn files(&self) -> Vec<(String, String)> {
        let Some(s) = &self.schedule else { return Vec::new() };
        let name = &self.hpa.f.service_name;
        vec![(format!("cronjobs-{name}.yaml"), s.cronjobs("hpa", name, "minReplicas", self.hpa.f.spec.min_replicas.unwrap_or(1)))]
    }
}

impl Policy for Hpa {
    fn first_wake(&self) -> SimTime {
        self.f.config.sync_period_ns
    }

    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        let d = obs.deployment(self.f.service);
        let (pods, views) = self.pods(obs);
        let metrics: Vec<MetricObservation> = (0..self.f.sources.len()).map(|i| self.observe(obs, &views, i)).collect();
        let outcome = self.ctrl.reconcile(&ReconcileInput {
            now: obs.now(),
            spec_replicas: d.spec_replicas as i32,
            status_replicas: d.status_replicas as i32,
            pods: &pods,
            metrics: &metrics,
        });
        let to = outcome.replicas.max(0) as u32;
        self.desired = Some(to);
        out.push(Decision {
            target: Target::Deployment(self.f.service),
            from: d.spec_replicas,
            to,
            verdict: if to != d.spec_replicas { Verdict::Apply } else { Verdict::Hold },
            reason: summary(&outcome),
        });
        obs.now() + self.f.config.sync_period_ns
    }

    fn hpa_status(&self) -> Option<crate::policy::HpaStatus> {
        Some(crate::policy::HpaStatus { name: self.f.name.clone(), desired_replicas: self.desired })
    }
}

/// One line for the decision log: each metric's value against its target and proposal, the
/// combination, stabilization and limits (the full explanation is `autosim explain hpa`).
pub fn summary(o: &Outcome) -> String {
    use super::calc::CurrentValue;
    use super::controller::{Combined, Normalization};
    let e = &o.explanation;
    let mut parts: Vec<String> = Vec::new();
    match &e.stage {
        Stage::ScalingDisabled => parts.push("ScalingDisabled: scaling is disabled since the replica count of the target is zero".into()),
        Stage::AboveMax => parts.push(format!("TooManyReplicas: the current count is more than maxReplicas {}", e.max_replicas)),
        Stage::BelowMin => parts.push(format!("TooFewReplicas: the current count is less than minReplicas {}", e.min_replicas)),
        Stage::Metrics(m) => {
            for ev in &m.metrics {
                match &ev.result {
                    Ok(p) => {
                        let cur = match p.current {
                            CurrentValue::Utilization { percent, .. } => format!("{percent}%"),
                            CurrentValue::AverageValue { milli } => fmt_milli(milli),
                            CurrentValue::Value { milli } => fmt_milli(milli),
                        };
                        let tgt = ev.target.as_ref().map_or(String::new(), |t| {
                            if let Some(u) = t.average_utilization {
                                format!("{u}%")
                            } else if let Some(q) = &t.average_value {
                                fmt_milli(q.milli())
                            } else if let Some(q) = &t.value {
                                fmt_milli(q.milli())
                            } else {
                                String::new()
                            }
                        });
                        parts.push(format!("{} {cur}/{tgt} -> {}", ev.name, p.replicas));
                    }
                    Err(err) => parts.push(format!("{}: {}", ev.name, err.reason)),
                }
            }
            match &m.combined {
                Combined::NoScale { invalid, total, first_error, .. } => {
                    parts.push(format!("no scaling: {invalid} of {total} metrics invalid ({first_error})"))
                }
                Combined::Proposal { .. } => {}
            }
            if let Some(n) = &m.normalization {
                match n {
                    Normalization::Legacy { stabilized, limited, .. } => {
                        parts.push(format!("stabilized {stabilized}; {} {}", limited.reason.as_str(), limited.replicas))
                    }
                    Normalization::Behavior { stabilized, limited, .. } => parts.push(format!(
                        "stabilized {} ({}); {} {}",
                        stabilized.replicas,
                        stabilized.reason.as_str(),
                        limited.reason.as_str(),
                        limited.replicas
                    )),
                }
            }
        }
    }
    parts.join("; ")
}

fn fmt_milli(m: i64) -> String {
    if m % 1000 == 0 {
        format!("{}", m / 1000)
    } else {
        format!("{m}m")
    }
}

/// Where each metric of `spec` is read from, for an HPA of service `service`; `adapter` maps
/// metric names to queries. Errors name the metric (`metrics[i]`).
pub fn sources_for(
    spec: &HpaSpec,
    service: usize,
    services: &[String],
    rate_window_ns: u64,
    adapter: &BTreeMap<String, Expr>,
) -> Result<Vec<MetricSource>, String> {
    let mut out = Vec::new();
    for (i, m) in spec.metrics.iter().enumerate() {
        out.push(source_for(m, service, services, rate_window_ns, adapter).map_err(|e| format!("metrics[{i}]: {e}"))?);
    }
    Ok(out)
}

fn source_for(
    m: &MetricSpec,
    service: usize,
    services: &[String],
    rate_window_ns: u64,
    adapter: &BTreeMap<String, Expr>,
) -> Result<MetricSource, String> {
    let known = || {
        let mut names: Vec<String> = Metric::ALL
            .iter()
            .map(|m| if m.is_counter() { format!("{}_per_second", m.name().trim_end_matches("_total")) } else { m.name().to_string() })
            .collect();
        names.extend(adapter.keys().cloned());
        names.join(", ")
    };
    let service_named = |name: &str| -> Result<usize, String> {
        services.iter().position(|s| s == name).ok_or_else(|| format!("no service named {name:?}; the services are {}", services.join(", ")))
    };
    match m.r#type {
        MetricSourceType::Resource | MetricSourceType::ContainerResource => {
            let (name, container) = match (&m.resource, &m.container_resource) {
                (Some(r), _) => (r.name.as_str(), None),
                (None, Some(c)) => (c.name.as_str(), Some(c.container.clone())),
                _ => return Err("the metric's source is missing".into()),
            };
            match name {
                "cpu" => Ok(MetricSource::Resource { memory: false, container }),
                "memory" => Ok(MetricSource::Resource { memory: true, container }),
                other => Ok(MetricSource::Missing(format!("resource {other:?} is not served by metrics-server (cpu and memory are)"))),
            }
        }
        MetricSourceType::Pods => {
            let name = &m.pods.as_ref().ok_or("`pods` is missing")?.metric.name;
            if let Some(e) = adapter.get(name) {
                if e.agg.is_some() {
                    return Err(format!("the adapter query for {name:?} aggregates; a Pods metric needs one series per pod"));
                }
                return Ok(MetricSource::PerPodQuery(e.clone()));
            }
            match query_for_name(name, service, rate_window_ns) {
                Some(q) if q.metric.per_pod() => Ok(MetricSource::PerPod(q)),
                _ => Err(format!("no pod metric named {name:?}: the pods export {}; or map the name to a query in `adapter`", known())),
            }
        }
        MetricSourceType::Object => {
            let o = m.object.as_ref().ok_or("`object` is missing")?;
            let name = &o.metric.name;
            if let Some(e) = adapter.get(name) {
                return Ok(MetricSource::Query(e.clone()));
            }
            let s = service_named(&o.described_object.name)?;
            by_name(name, s, rate_window_ns).ok_or_else(|| format!("no metric named {name:?}: autosim serves {}; or map the name to a query in `adapter`", known()))
        }
        MetricSourceType::External => {
            let x = m.external.as_ref().ok_or("`external` is missing")?;
            let name = &x.metric.name;
            if let Some(e) = adapter.get(name) {
                return Ok(MetricSource::Query(e.clone()));
            }
            let s = match x.metric.selector.as_ref().and_then(|sel| sel.match_labels.get("service")) {
                Some(n) => service_named(n)?,
                None => service,
            };
            by_name(name, s, rate_window_ns).ok_or_else(|| format!("no metric named {name:?}: autosim serves {}; or map the name to a query in `adapter`", known()))
        }
    }
}

/// A metric by name over service `s`: its own series, or the sum of its pods' series.
fn by_name(name: &str, s: usize, rate_window_ns: u64) -> Option<MetricSource> {
    let q = query_for_name(name, s, rate_window_ns)?;
    if q.metric.per_pod() {
        let text = format!("sum({name} of service {s})");
        Some(MetricSource::ServiceSum(q, text))
    } else {
        Some(MetricSource::Service(q))
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration: the scenario's `[policies.pods]` table, or a manifest
// ---------------------------------------------------------------------------------------------

/// The kube-controller-manager flags of the HPA controller, settable per policy
/// (`controller = { sync_period = "15s", tolerance = 0.1, ... }`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerFlags {
    #[serde(default)]
    sync_period: Option<crate::units::Duration>,
    #[serde(default)]
    tolerance: Option<f64>,
    #[serde(default)]
    cpu_initialization_period: Option<crate::units::Duration>,
    #[serde(default)]
    initial_readiness_delay: Option<crate::units::Duration>,
    #[serde(default)]
    downscale_stabilization: Option<crate::units::Duration>,
    /// The `HPAConfigurableTolerance` feature gate (on by default since 1.35).
    #[serde(default)]
    configurable_tolerance: Option<bool>,
}

impl ControllerFlags {
    /// Lay the flags that are set over `c`; a value out of range is an error naming the key.
    pub fn apply(&self, c: &mut ControllerConfig) -> Result<(), String> {
        if let Some(d) = self.sync_period {
            if d.0 < 1_000_000 {
                return Err("`controller.sync_period` must be at least 1ms".into());
            }
            c.sync_period_ns = d.0;
        }
        if let Some(t) = self.tolerance {
            if !(t.is_finite() && (0.0..1.0).contains(&t)) {
                return Err(format!("`controller.tolerance` = {t}: expected a fraction in [0, 1), like 0.1"));
            }
            c.tolerance = t;
        }
        if let Some(d) = self.cpu_initialization_period {
            c.cpu_initialization_period_ns = d.0;
        }
        if let Some(d) = self.initial_readiness_delay {
            c.initial_readiness_delay_ns = d.0;
        }
        if let Some(d) = self.downscale_stabilization {
            c.downscale_stabilization_ns = d.0;
        }
        if let Some(b) = self.configurable_tolerance {
            c.configurable_tolerance = b;
        }
        Ok(())
    }
}

/// `autoscaling/v2` (and `v2beta2`, the same shape) HorizontalPodAutoscaler document.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HpaDocV2 {
    #[serde(rename = "apiVersion")]
    _api_version: String,
    #[serde(rename = "kind")]
    _kind: String,
    #[serde(rename = "metadata")]
    _metadata: crate::policy::manifest::Metadata,
    spec: HpaSpec,
    #[serde(default, rename = "status")]
    _status: Option<serde::de::IgnoredAny>,
}

/// `autoscaling/v1`: CPU utilization only.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HpaDocV1 {
    #[serde(rename = "apiVersion")]
    _api_version: String,
    #[serde(rename = "kind")]
    _kind: String,
    #[serde(rename = "metadata")]
    _metadata: crate::policy::manifest::Metadata,
    spec: HpaSpecV1,
    #[serde(default, rename = "status")]
    _status: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HpaSpecV1 {
    scale_target_ref: super::spec::CrossVersionObjectReference,
    #[serde(default)]
    min_replicas: Option<i32>,
    max_replicas: i32,
    #[serde(default)]
    target_cpu_utilization_percentage: Option<i32>,
}

/// One HorizontalPodAutoscaler of a manifest file.
#[derive(Debug, Clone)]
pub struct ManifestHpa {
    /// `metadata.name`.
    pub name: String,
    /// `scaleTargetRef.name`: the workload it scales.
    pub target: String,
    pub spec: HpaSpec,
    /// Where the document starts (`file:line`).
    pub place: String,
}

/// The HorizontalPodAutoscalers of a manifest file, in order, with the workload each scales
/// (`scaleTargetRef.name`) and the place each is written.
pub fn hpas_in_manifest(m: &crate::policy::manifest::Manifest) -> Result<Vec<ManifestHpa>, String> {
    let mut out = Vec::new();
    for doc in m.documents()? {
        if doc.kind != "HorizontalPodAutoscaler" {
            continue;
        }
        let spec = match doc.api_version.as_str() {
            "autoscaling/v2" | "autoscaling/v2beta2" => m.parse::<HpaDocV2>(&doc)?.spec,
            "autoscaling/v1" => {
                let v1 = m.parse::<HpaDocV1>(&doc)?.spec;
                let target = super::spec::MetricTarget::utilization(v1.target_cpu_utilization_percentage.unwrap_or(80));
                HpaSpec {
                    scale_target_ref: Some(v1.scale_target_ref),
                    min_replicas: v1.min_replicas,
                    max_replicas: v1.max_replicas,
                    metrics: vec![MetricSpec::resource("cpu", target)],
                    behavior: None,
                }
            }
            other => {
                return Err(format!(
                    "{}: HorizontalPodAutoscaler {:?} has apiVersion {other:?}: expected autoscaling/v2 (or v2beta2, v1)",
                    m.place(&doc),
                    doc.name
                ))
            }
        };
        let target = spec.scale_target_ref.as_ref().map(|r| r.name.clone()).unwrap_or_default();
        out.push(ManifestHpa { name: doc.name.clone(), target, spec, place: m.place(&doc) });
    }
    Ok(out)
}

/// `[policies.pods] kind = "hpa"`: the spec inline (`min_replicas`, `max_replicas`, `metrics`,
/// `behavior`, in snake_case or the manifest's camelCase) or `manifest = "hpa.yaml"`; plus
/// `controller` flags and `adapter` queries.
pub fn parse(
    p: &mut crate::scenario::params::Params,
    ctx: &crate::policy::PodContext<'_>,
) -> Result<Arc<dyn PolicyFactory>, crate::scenario::ConfigError> {
    Ok(Arc::new(parse_factory(p, ctx)?))
}

/// [`parse`], keeping the factory's type: for a policy that runs an HPA of its own (seed 003's
/// `llm-stub` with `acts_on = "hpa"`).
pub fn parse_factory(
    p: &mut crate::scenario::params::Params,
    ctx: &crate::policy::PodContext<'_>,
) -> Result<HpaFactory, crate::scenario::ConfigError> {
    use crate::scenario::ConfigError;
    let service = ctx.service;
    let sc = ctx.scenario;
    let svc_name = sc.services[service].name.clone();
    let what = p.what.clone();
    let manifest: Option<String> = p.get("manifest")?;
    let min_replicas: Option<i32> = p.get("min_replicas")?;
    let max_replicas: Option<i32> = p.get("max_replicas")?;
    let metrics: Option<Vec<MetricSpec>> = p.get("metrics")?;
    let behavior: Option<super::spec::HpaBehavior> = p.get("behavior")?;
    let (spec, hpa_name) = match &manifest {
        Some(file) => {
            for key in ["min_replicas", "max_replicas", "metrics", "behavior"] {
                if p.has(key) {
                    return Err(ConfigError::at(p.span_of(key), format!("{what}: `{key}` comes from the manifest {file:?}; set it there, or drop `manifest`")));
                }
            }
            let at = p.span_of("manifest");
            let m = crate::policy::manifest::Manifest::read(ctx.base_dir, file).map_err(|e| ConfigError::at(at.clone(), format!("{what}: {e}")))?;
            let all = hpas_in_manifest(&m).map_err(|e| ConfigError::at(at.clone(), format!("{what}: {e}")))?;
            let mut found = all.into_iter().filter(|h| h.target == svc_name);
            match (found.next(), found.next()) {
                (Some(h), None) => (h.spec, h.name),
                (Some(_), Some(ManifestHpa { place, .. })) => {
                    return Err(ConfigError::at(at, format!("{what}: {} holds two HorizontalPodAutoscalers for {svc_name:?} (the second at {place}); the controller would fight itself", m.path)))
                }
                (None, _) => {
                    return Err(ConfigError::at(at, format!("{what}: {} has no HorizontalPodAutoscaler whose scaleTargetRef.name is {svc_name:?}", m.path)))
                }
            }
        }
        None => {
            let Some(max) = max_replicas else {
                return Err(ConfigError::at(p.span.clone(), format!("{what}: missing `max_replicas` (or `manifest = \"hpa.yaml\"`)")));
            };
            (HpaSpec { scale_target_ref: None, min_replicas, max_replicas: max, metrics: metrics.unwrap_or_default(), behavior }, svc_name.clone())
        }
    };
    if let Err(errs) = spec.validate() {
        let list: Vec<String> = errs.iter().map(|e| format!("{}: {}", e.path, e.message)).collect();
        return Err(ConfigError::at(p.span.clone(), format!("{what}: invalid HPA spec: {}", list.join("; "))));
    }
    if spec.max_replicas as i64 > crate::scenario::MAX_REPLICAS as i64 {
        return Err(ConfigError::at(p.span_of("max_replicas"), format!("{what}: maxReplicas {} is more than autosim simulates ({})", spec.max_replicas, crate::scenario::MAX_REPLICAS)));
    }
    let mut config = ControllerConfig::default();
    if let Some(flags) = p.get::<ControllerFlags>("controller")? {
        flags.apply(&mut config).map_err(|e| ConfigError::at(p.span_of("controller"), format!("{what}: {e}")))?;
    }
    let services: Vec<String> = sc.services.iter().map(|s| s.name.clone()).collect();
    let mut adapter = BTreeMap::new();
    if let Some(map) = p.get::<BTreeMap<String, String>>("adapter")? {
        for (name, q) in map {
            let e = Expr::parse(&q, &services).map_err(|e| ConfigError::at(p.span_of("adapter"), format!("{what}: adapter {name:?}: {e}")))?;
            adapter.insert(name, e);
        }
    }
    let defaulted = spec.with_api_defaults();
    let sources = sources_for(&defaulted, service, &services, sc.metrics.rate_window_ns, &adapter).map_err(|e| {
        let at = if manifest.is_some() { p.span_of("manifest") } else { p.span_of("metrics") };
        ConfigError::at(at, format!("{what}: {e}"))
    })?;
    let schedule = crate::policy::schedule::parse(p, &services)?;
    Ok(HpaFactory { service, spec: defaulted, config, sources, schedule, service_name: svc_name, name: hpa_name })
}
