//! `kind = "keda"`: a KEDA ScaledObject as a policy of the simulation.
//!
//! Two loops run, as in a cluster with KEDA installed:
//! - **KEDA's polling loop**, every `pollingInterval` (first at time 0, as `startScaleLoop`
//!   checks at once): every trigger is queried through the pipeline, the object is active when
//!   any trigger's value is above its `activationThreshold`, and [`request_scale`] takes the
//!   0 <-> 1 (or idle) decision with `cooldownPeriod` and `initialCooldownPeriod` (the
//!   ScaledObject is created at time 0).
//! - **The HPA KEDA creates** ([`hpa_for_scaled_object`]), reconciled every `sync_period` by the
//!   same [`HpaController`](crate::policy::hpa::HpaController) as `kind = "hpa"`, which scales
//!   1..N. Its External metrics are served by KEDA's metrics adapter: each fetch queries the
//!   trigger live (the last polling value with `use_cached_metrics`) through
//!   [`get_metrics_with_fallback`], so once a trigger has failed more than
//!   `fallback.failureThreshold` times in a row the HPA gets `target x fallback.replicas`.
//!   Failures count on both paths (polling and adapter), against one health entry per trigger.
//!   cpu/memory triggers are Resource metrics read from metrics-server, as the HPA reads them.
//!
//! Triggers simulated: `prometheus` (`metadata.query` PromQL,
//! `threshold`, `activationThreshold`, `ignoreNullValues`), `redis` (a list: `listName` names a
//! `queue` service, whose queue length is the list's; `listLength`, default 5, and
//! `activationListLength`), `cpu` and `memory`. Metric failures can be injected (`faults`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::policy::hpa::policy::{milli, summary, Hpa, HpaFactory, MetricSource};
use crate::policy::hpa::spec::{HpaSpec, MetricSourceType, MetricTarget, MetricTargetType};
use crate::policy::hpa::{ControllerConfig, HpaController, MetricObservation, ReconcileInput};
use super::{
    activation_threshold, get_metrics_with_fallback, hpa_for_scaled_object, request_scale, ExecutorAction,
    FallbackResult, KedaAnnotations, MetricHealth, ScaleRequest, ScaledObjectSpec,
};
use super::forecast_scaler::Predictor;
use crate::policy::schedule::{Schedule, ScheduleRt};
use crate::engine::SimTime;
use crate::metrics::expr::Expr;
use crate::policy::{Decision, Observation, Policy, PolicyFactory, Target, Verdict};
use crate::scenario::params::Params;
use crate::scenario::ConfigError;

const NS_PER_S: u64 = 1_000_000_000;

/// Where a trigger's value comes from.
#[derive(Debug, Clone)]
pub enum TriggerSource {
    /// cpu / memory from metrics-server: average utilization (percent of requests) or average
    /// value over the pods that have a metric.
    Resource { memory: bool, utilization: bool },
    /// A query; an empty result is 0 when `ignore_null` (the prometheus scaler's default).
    Query { expr: Expr, ignore_null: bool },
    /// The predictive scaler's forecast (`kind = "predictive"`).
    Forecast(Arc<super::forecast_scaler::ForecastConfig>),
}

/// One trigger as simulated.
#[derive(Debug, Clone)]
pub struct TriggerCfg {
    pub kind: String,
    /// The HPA metric's name (`s0-prometheus`), or the resource name.
    pub metric_name: String,
    pub activation: f64,
    pub use_cached: bool,
    pub source: TriggerSource,
    /// The target of its HPA metric.
    pub target: MetricTarget,
}

/// An injected failure of trigger metrics: fetches of the trigger (all, when `trigger` is
/// `None`) between `from` and `to` fail with `probability`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub trigger: Option<usize>,
    pub from_ns: SimTime,
    pub to_ns: SimTime,
    pub probability: f64,
    pub message: String,
}

/// A configured ScaledObject for one service.
#[derive(Debug, Clone)]
pub struct KedaFactory {
    pub kind: &'static str,
    pub service: usize,
    pub name: String,
    pub so: ScaledObjectSpec,
    pub annotations: KedaAnnotations,
    pub hpa: HpaFactory,
    pub triggers: Vec<TriggerCfg>,
    /// Per metric of the HPA: the trigger it is served from (External metrics).
    pub hpa_trigger: Vec<Option<usize>>,
    pub faults: Vec<Fault>,
    pub schedule: Option<Schedule>,
}

impl PolicyFactory for KedaFactory {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn build(&self) -> Box<dyn Policy> {
        let f = Arc::new(self.clone());
        let hpa = Hpa { f: Arc::new(self.hpa.clone()), ctrl: HpaController::new(&self.hpa.spec, self.hpa.config.clone()), desired: None };
        let predictors = self
            .triggers
            .iter()
            .map(|t| match &t.source {
                TriggerSource::Forecast(c) => Some(Predictor::new(c.clone())),
                _ => None,
            })
            .collect();
        Box::new(Keda {
            hpa,
            next_poll: 0,
            next_sync: self.hpa.config.sync_period_ns,
            last_active: None,
            health: vec![MetricHealth::default(); self.triggers.len()],
            cache: vec![None; self.triggers.len()],
            predictors,
            schedule: self.schedule.clone().map(ScheduleRt::new),
            so: self.so.clone(),
            stats: Stats::default(),
            f,
        })
    }
    fn queries(&self) -> Vec<&Expr> {
        let mut q = self.hpa.queries();
        for t in &self.triggers {
            match &t.source {
                TriggerSource::Query { expr, .. } => q.push(expr),
                TriggerSource::Forecast(c) => q.push(&c.metric),
                TriggerSource::Resource { .. } => {}
            }
        }
        q.extend(self.schedule.as_ref().and_then(|s| s.learn.as_ref()).map(|l| &l.metric));
        q
    }
}

#[derive(Debug, Clone, Default)]
struct Stats {
    polls: u64,
    metric_errors: u64,
    fallback_fetches: u64,
    activations: u64,
    scale_to_zero: u64,
}

struct Keda {
    f: Arc<KedaFactory>,
    hpa: Hpa,
    next_poll: SimTime,
    next_sync: SimTime,
    /// `status.lastActiveTime`.
    last_active: Option<SimTime>,
    /// `status.health`, per trigger.
    health: Vec<MetricHealth>,
    /// The last polling-loop value of each trigger (`useCachedMetrics`).
    cache: Vec<Option<Result<f64, String>>>,
    predictors: Vec<Option<Predictor>>,
    schedule: Option<ScheduleRt>,
    /// The ScaledObject as it is now (a schedule patches `minReplicaCount`).
    so: ScaledObjectSpec,
    stats: Stats,
}

/// A deterministic draw in [0, 1) for a fault with a probability: the same fetch fails under
/// every run of the scenario.
fn unit_draw(now: SimTime, trigger: usize) -> f64 {
    let mut z = now ^ (trigger as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Keda {
    fn fetch(&mut self, i: usize, obs: &Observation<'_>) -> Result<f64, String> {
        let now = obs.now();
        for (k, fault) in self.f.faults.iter().enumerate() {
            if fault.trigger.is_none_or(|t| t == i)
                && (fault.from_ns..fault.to_ns).contains(&now)
                && (fault.probability >= 1.0 || unit_draw(now, i * 31 + k) < fault.probability)
            {
                self.stats.metric_errors += 1;
                return Err(fault.message.clone());
            }
        }
        let t = &self.f.triggers[i];
        let r = match &t.source {
            TriggerSource::Query { expr, ignore_null } => match obs.promql(expr).and_then(|r| expr.reduce(&r)) {
                Ok(Some(v)) => Ok(v),
                Ok(None) if *ignore_null => Ok(0.0),
                Ok(None) => Err(format!("prometheus metrics 'prometheus' target may be lost, the result is empty ({})", expr.text)),
                Err(e) => Err(e),
            },
            TriggerSource::Resource { memory, utilization } => {
                let svc = obs.pod_template(self.f.service);
                let (mut sum, mut n) = (0.0, 0u32);
                for v in obs.pods(self.f.service) {
                    if let Some(r) = obs.pod_resources(&v) {
                        sum += if *memory { r.memory_bytes } else { r.cpu_m / 1000.0 };
                        n += 1;
                    }
                }
                let avg = if n == 0 { 0.0 } else { sum / f64::from(n) };
                Ok(if *utilization {
                    let req = if *memory { svc.memory_request_bytes as f64 } else { svc.cpu_request_m as f64 / 1000.0 };
                    if req > 0.0 { 100.0 * avg / req } else { 0.0 }
                } else {
                    avg
                })
            }
            TriggerSource::Forecast(_) => match &self.predictors[i] {
                Some(p) => p.value(),
                None => Err("no forecaster".into()),
            },
        };
        if r.is_err() {
            self.stats.metric_errors += 1;
        }
        r
    }

    /// The fallback step of one fetch of trigger `i`'s metric, as `GetMetricsWithFallback`.
    fn with_fallback(&mut self, i: usize, r: Result<f64, String>, current: i32, ready: i32) -> FallbackResult {
        let target = self.f.triggers[i].target.clone();
        get_metrics_with_fallback(self.so.fallback.as_ref(), &mut self.health[i], r.map(|v| vec![milli(v)]), &target, current, ready)
    }

    fn poll(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> Option<u32> {
        let now = obs.now();
        self.stats.polls += 1;
        let d = obs.deployment(self.f.service);
        let (mut active, mut error) = (false, false);
        let mut parts = Vec::new();
        for i in 0..self.f.triggers.len() {
            let r = self.fetch(i, obs);
            let is_resource = matches!(self.f.triggers[i].source, TriggerSource::Resource { .. });
            if !is_resource {
                let _ = self.with_fallback(i, r.clone(), d.spec_replicas as i32, d.ready_replicas as i32);
            }
            let t = &self.f.triggers[i];
            match &r {
                Ok(v) => {
                    let a = *v > t.activation;
                    active |= a;
                    parts.push(format!("{} {} {} {}", t.metric_name, fmt_num(*v), if a { ">" } else { "<=" }, fmt_num(t.activation)));
                }
                Err(e) => {
                    error = true;
                    parts.push(format!("{} error: {e}", t.metric_name));
                }
            }
            self.cache[i] = Some(r);
        }
        if self.so.only_resource_triggers() {
            active = true;
        }
        let dec = request_scale(
            &self.so,
            &self.f.annotations,
            &ScaleRequest {
                now,
                current_replicas: d.spec_replicas as i32,
                is_active: active,
                is_error: error,
                last_active_time: self.last_active,
                creation_time: 0,
            },
        );
        self.last_active = dec.last_active_time;
        let (verdict, to, what) = match (dec.action, dec.set_replicas) {
            (_, Some(to)) => (Verdict::Apply, to.max(0) as u32, action_words(dec.action)),
            (ExecutorAction::CoolingDown { cooldown_end }, None) => {
                (Verdict::Blocked, 0, format!("ScalerCooldown: inactive, scale to zero after {}s", fmt_num(cooldown_end as f64 / 1e9)))
            }
            (ExecutorAction::ScaleInPaused | ExecutorAction::ScaleOutPaused, None) => (Verdict::Blocked, d.spec_replicas, action_words(dec.action)),
            (a, None) => (Verdict::Hold, d.spec_replicas, action_words(a)),
        };
        if verdict == Verdict::Apply {
            if d.spec_replicas == 0 && to > 0 {
                self.stats.activations += 1;
            }
            if to < d.spec_replicas && to == 0 {
                self.stats.scale_to_zero += 1;
            }
        }
        let reason = format!("keda: {what} ({})", parts.join("; "));
        out.push(Decision { target: Target::Deployment(self.f.service), from: d.spec_replicas, to, verdict, reason });
        (verdict == Verdict::Apply).then_some(to)
    }

    fn sync(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>, spec_override: Option<u32>) {
        let d = obs.deployment(self.f.service);
        let spec_replicas = spec_override.unwrap_or(d.spec_replicas);
        let (pods, views) = self.hpa.pods(obs);
        let mut metrics = Vec::with_capacity(self.f.hpa_trigger.len());
        let f = self.f.clone();
        for (m, t) in f.hpa_trigger.iter().enumerate() {
            let o = match *t {
                None => self.hpa.observe(obs, &views, m),
                Some(i) => {
                    let r = match (&self.cache[i], self.f.triggers[i].use_cached) {
                        (Some(c), true) => c.clone(),
                        _ => self.fetch(i, obs),
                    };
                    match self.with_fallback(i, r, spec_replicas as i32, d.ready_replicas as i32) {
                        FallbackResult::Metrics(v) => MetricObservation::External(v),
                        FallbackResult::Fallback { value_milli, .. } => {
                            self.stats.fallback_fetches += 1;
                            MetricObservation::External(vec![value_milli])
                        }
                        FallbackResult::Error(e) => MetricObservation::Unavailable(e),
                    }
                }
            };
            metrics.push(o);
        }
        let outcome = self.hpa.ctrl.reconcile(&ReconcileInput {
            now: obs.now(),
            spec_replicas: spec_replicas as i32,
            status_replicas: d.status_replicas as i32,
            pods: &pods,
            metrics: &metrics,
        });
        let to = outcome.replicas.max(0) as u32;
        self.hpa.desired = Some(to);
        let fallback = self.health.iter().any(|h| h.failing) && self.so.fallback.is_some();
        out.push(Decision {
            target: Target::Deployment(self.f.service),
            from: spec_replicas,
            to,
            verdict: if to != spec_replicas { Verdict::Apply } else { Verdict::Hold },
            reason: format!("hpa {}: {}{}", self.hpa_name(), summary(&outcome), if fallback { " (keda fallback)" } else { "" }),
        });
    }

    fn hpa_name(&self) -> String {
        self.so
            .advanced
            .as_ref()
            .and_then(|a| a.horizontal_pod_autoscaler_config.as_ref())
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| format!("keda-hpa-{}", self.f.name))
    }

    /// Patch `minReplicaCount` from the schedule (and the HPA's `minReplicas` with it).
    fn apply_schedule(&mut self, obs: &Observation<'_>) {
        let Some(s) = &mut self.schedule else { return };
        s.observe(obs);
        let min = s.min_at(obs.now()).or(self.f.so.min_replica_count);
        if min != self.so.min_replica_count {
            self.so.min_replica_count = min;
            let mut spec: HpaSpec = self.hpa.ctrl.spec().clone();
            spec.min_replicas = Some(self.so.hpa_min_replicas());
            if let Some(p) = self.f.annotations.paused_replicas {
                spec.min_replicas = Some(p.max(1));
            }
            let max = spec.max_replicas;
            spec.min_replicas = spec.min_replicas.map(|m| m.min(max));
            self.hpa.ctrl.set_spec(&spec);
        }
    }
}

fn fmt_num(v: f64) -> String {
    let r = (v * 1000.0).round() / 1000.0;
    format!("{r}")
}

fn action_words(a: ExecutorAction) -> String {
    match a {
        ExecutorAction::Paused { replicas } => format!("paused at {replicas} replicas"),
        ExecutorAction::ScaleFromZeroOrIdle { to } => format!("active: scale from zero to {to}"),
        ExecutorAction::ScaleOutPaused => "active, but scale-out is paused".into(),
        ExecutorAction::PartialTriggerError => "active with trigger errors (PartialTriggerError)".into(),
        ExecutorAction::Active => "active: the HPA scales".into(),
        ExecutorAction::FallbackPending => "trigger errors: the HPA applies the fallback".into(),
        ExecutorAction::TriggerError => "trigger errors, no fallback (TriggerError)".into(),
        ExecutorAction::ScaleToZeroOrIdle { to, idle } => {
            if idle {
                format!("inactive past the cooldown: scale to idleReplicaCount {to}")
            } else {
                format!("inactive past the cooldown: scale to {to}")
            }
        }
        ExecutorAction::CoolingDown { .. } => "ScalerCooldown".into(),
        ExecutorAction::ScaleInPaused => "inactive, but scale-in is paused".into(),
        ExecutorAction::RaiseToMin { to } => format!("inactive below minReplicaCount: scale to {to}"),
        ExecutorAction::NoChange => "inactive".into(),
    }
}

impl Policy for Keda {
    fn first_wake(&self) -> SimTime {
        let mut t = 0;
        for p in self.predictors.iter().flatten() {
            t = t.min(p.next_sample());
        }
        t
    }

    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        let now = obs.now();
        for p in self.predictors.iter_mut().flatten() {
            if p.next_sample() <= now {
                p.sample(obs);
            }
        }
        self.apply_schedule(obs);
        let mut applied = None;
        if self.next_poll <= now {
            applied = self.poll(obs, out);
            self.next_poll = now + (self.so.polling_interval_s().max(1) as u64) * NS_PER_S;
        }
        if self.next_sync <= now {
            self.sync(obs, out, applied);
            self.next_sync = now + self.f.hpa.config.sync_period_ns;
        }
        let mut next = self.next_poll.min(self.next_sync);
        for p in self.predictors.iter().flatten() {
            next = next.min(p.next_sample());
        }
        next
    }

    fn report(&self) -> Vec<(String, f64)> {
        let mut v = vec![
            ("keda_polls".to_string(), self.stats.polls as f64),
            ("keda_activations".to_string(), self.stats.activations as f64),
            ("keda_scale_to_zero".to_string(), self.stats.scale_to_zero as f64),
            ("keda_metric_errors".to_string(), self.stats.metric_errors as f64),
            ("keda_fallback_fetches".to_string(), self.stats.fallback_fetches as f64),
        ];
        for p in self.predictors.iter().flatten() {
            v.extend(p.report());
        }
        v
    }

    fn hpa_status(&self) -> Option<crate::policy::HpaStatus> {
        Some(crate::policy::HpaStatus { name: self.hpa_name(), desired_replicas: self.hpa.desired })
    }

    fn files(&self) -> Vec<(String, String)> {
        let Some(s) = &self.schedule else { return Vec::new() };
        let base = self.f.so.min_replica_count();
        vec![(format!("cronjobs-{}.yaml", self.f.name), s.cronjobs("scaledobject", &self.f.name, "minReplicaCount", base))]
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// A ScaledObject document of a manifest.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaledObjectDoc {
    #[serde(rename = "apiVersion")]
    _api_version: String,
    #[serde(rename = "kind")]
    _kind: String,
    metadata: crate::policy::manifest::Metadata,
    spec: ScaledObjectSpec,
    #[serde(default, rename = "status")]
    _status: Option<serde::de::IgnoredAny>,
}

/// KEDA's annotations, from a manifest's `metadata.annotations`.
fn annotations_of(a: &BTreeMap<String, String>) -> Result<KedaAnnotations, String> {
    let mut out = KedaAnnotations::default();
    let flag = |k: &str| -> Result<bool, String> {
        match a.get(k).map(|s| s.as_str()) {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(o) => Err(format!("annotation {k}: {o:?}: expected \"true\" or \"false\"")),
        }
    };
    out.paused_scale_in = flag("autoscaling.keda.sh/paused-scale-in")?;
    out.paused_scale_out = flag("autoscaling.keda.sh/paused-scale-out")?;
    out.force_activation = flag("autoscaling.keda.sh/force-activation")?;
    if let Some(v) = a.get("autoscaling.keda.sh/paused-replicas") {
        out.paused_replicas = Some(v.trim().parse().map_err(|_| format!("annotation autoscaling.keda.sh/paused-replicas: {v:?}: expected a replica count"))?);
    }
    if a.get("autoscaling.keda.sh/paused").is_some_and(|v| v == "true") {
        return Err("annotation autoscaling.keda.sh/paused without a replica count stops KEDA; autosim does not model it (use paused-replicas)".into());
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    /// A trigger's `name`, its type, or its index.
    #[serde(default)]
    trigger: Option<toml::Value>,
    #[serde(default)]
    from: Option<crate::units::Duration>,
    #[serde(default)]
    to: Option<crate::units::Duration>,
    #[serde(default)]
    probability: Option<f64>,
    #[serde(default)]
    error: Option<String>,
}

/// The ScaledObject keys of the policy table (snake_case, as the spec's fields).
const SO_KEYS: [&str; 9] = [
    "polling_interval",
    "cooldown_period",
    "initial_cooldown_period",
    "idle_replica_count",
    "min_replica_count",
    "max_replica_count",
    "advanced",
    "triggers",
    "fallback",
];

/// Read the ScaledObject keys from the table (each typed, so that errors keep their place).
pub(crate) fn inline_spec(p: &mut Params, triggers_required: bool) -> Result<ScaledObjectSpec, ConfigError> {
    let triggers = if triggers_required { p.require("triggers")? } else { p.get("triggers")?.unwrap_or_default() };
    Ok(ScaledObjectSpec {
        scale_target_ref: None,
        polling_interval: p.get("polling_interval")?,
        initial_cooldown_period: p.get("initial_cooldown_period")?,
        cooldown_period: p.get("cooldown_period")?,
        idle_replica_count: p.get("idle_replica_count")?,
        min_replica_count: p.get("min_replica_count")?,
        max_replica_count: p.get("max_replica_count")?,
        advanced: p.get("advanced")?,
        triggers,
        fallback: p.get("fallback")?,
    })
}

/// The simulated source of each trigger, and its metadata as KEDA's HPA builder reads it
/// (`threshold`, `activationThreshold`).
fn trigger_sources(
    so: &mut ScaledObjectSpec,
    service: usize,
    services: &[String],
    kinds: &[crate::scenario::ServiceKind],
) -> Result<Vec<(TriggerSource, bool)>, String> {
    let mut out = Vec::new();
    for (i, t) in so.triggers.iter_mut().enumerate() {
        let fail = |m: String| format!("triggers[{i}] ({}): {m}", t.r#type);
        let src = match t.r#type.as_str() {
            "cpu" | "memory" => {
                let utilization = !matches!(
                    (t.metadata.get("type").map(|s| s.as_str()), t.metric_type),
                    (Some("AverageValue"), _) | (None, Some(MetricTargetType::AverageValue))
                );
                TriggerSource::Resource { memory: t.r#type == "memory", utilization }
            }
            "prometheus" => {
                let q = t.metadata.get("query").ok_or_else(|| fail("no query given (metadata.query, PromQL)".into()))?;
                let expr = Expr::parse(q, services).map_err(|e| fail(format!("metadata.query: {e}")))?;
                let ignore_null = match t.metadata.get("ignoreNullValues").map(|s| s.as_str()) {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(o) => return Err(fail(format!("metadata.ignoreNullValues {o:?}: expected \"true\" or \"false\""))),
                };
                TriggerSource::Query { expr, ignore_null }
            }
            "redis" => {
                let list = t.metadata.get("listName").cloned().ok_or_else(|| fail("no listName given (the name of a `queue` service, whose queue is the list)".into()))?;
                let s = services.iter().position(|n| *n == list).ok_or_else(|| {
                    fail(format!("listName {list:?}: no service of that name; the services are {}", services.join(", ")))
                })?;
                if !matches!(kinds[s], crate::scenario::ServiceKind::Queue) {
                    return Err(fail(format!("listName {list:?}: the service is not of kind \"queue\"")));
                }
                let length = t.metadata.get("listLength").cloned().unwrap_or_else(|| "5".into());
                let activation = t.metadata.get("activationListLength").cloned().unwrap_or_else(|| "0".into());
                t.metadata.insert("threshold".into(), length);
                t.metadata.insert("activationThreshold".into(), activation);
                let expr = Expr::parse(&format!("queue_length{{service=\"{list}\"}}"), services).map_err(fail)?;
                TriggerSource::Query { expr, ignore_null: true }
            }
            other => {
                return Err(fail(format!(
                    "trigger type {other:?} is not simulated: use \"prometheus\" (metadata.query), \"redis\" (metadata.listName), \"cpu\" or \"memory\""
                )))
            }
        };
        let _ = service;
        out.push((src, t.use_cached_metrics));
    }
    Ok(out)
}

/// Build the factory from a validated spec and trigger sources.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_factory(
    kind: &'static str,
    service: usize,
    name: String,
    so: ScaledObjectSpec,
    annotations: KedaAnnotations,
    sources: Vec<(TriggerSource, bool)>,
    config: ControllerConfig,
    faults: Vec<Fault>,
    schedule: Option<Schedule>,
) -> Result<KedaFactory, String> {
    so.validate().map_err(|e| e.to_string())?;
    if schedule.is_some() && !crate::confine::plain_file_name(&format!("cronjobs-{name}.yaml")) {
        return Err(format!("name {name:?}: the schedule's CronJobs are written to cronjobs-<name>.yaml in the policy's folder, so the name must be a Kubernetes name (no '/')"));
    }
    if so.hpa_max_replicas() as i64 > crate::scenario::MAX_REPLICAS as i64 {
        return Err(format!("maxReplicaCount {} is more than autosim simulates ({})", so.hpa_max_replicas(), crate::scenario::MAX_REPLICAS));
    }
    let spec = hpa_for_scaled_object(&name, &so, &annotations).map_err(|e| e.to_string())?;
    spec.validate().map_err(|errs| {
        let list: Vec<String> = errs.iter().map(|e| format!("{}: {}", e.path, e.message)).collect();
        format!("the HPA KEDA would create is invalid: {}", list.join("; "))
    })?;
    let spec = spec.with_api_defaults();
    let mut triggers = Vec::new();
    for (i, (t, (source, use_cached))) in so.triggers.iter().zip(sources).enumerate() {
        let activation = activation_threshold(t).map_err(|e| format!("triggers[{i}] ({}): {e}", t.r#type))?;
        let ms = super::trigger_metric_spec(&name, i, t).map_err(|e| e.to_string())?;
        let metric_name = match &ms.external {
            Some(e) => e.metric.name.clone(),
            None => t.r#type.clone(),
        };
        let target = ms.target().cloned().ok_or("a trigger without a target")?;
        triggers.push(TriggerCfg { kind: t.r#type.clone(), metric_name, activation, use_cached, source, target });
    }
    let hpa_name = so
        .advanced
        .as_ref()
        .and_then(|a| a.horizontal_pod_autoscaler_config.as_ref())
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| format!("keda-hpa-{name}"));
    let mut hpa_trigger = Vec::new();
    let mut hpa_sources = Vec::new();
    for m in &spec.metrics {
        match m.r#type {
            MetricSourceType::External => {
                let n = &m.external.as_ref().ok_or("external metric without its source")?.metric.name;
                let i = triggers.iter().position(|t| &t.metric_name == n).ok_or("an External metric with no trigger")?;
                hpa_trigger.push(Some(i));
                hpa_sources.push(MetricSource::Missing("served by KEDA's metrics adapter".into()));
            }
            MetricSourceType::Resource | MetricSourceType::ContainerResource => {
                let (name, container) = match (&m.resource, &m.container_resource) {
                    (Some(r), _) => (r.name.clone(), None),
                    (None, Some(c)) => (c.name.clone(), Some(c.container.clone())),
                    _ => return Err("a resource metric without its source".into()),
                };
                hpa_trigger.push(None);
                hpa_sources.push(MetricSource::Resource { memory: name == "memory", container });
            }
            _ => return Err("KEDA creates External and Resource metrics only".into()),
        }
    }
    let hpa = HpaFactory { service, spec, config, sources: hpa_sources, schedule: None, service_name: name.clone(), name: hpa_name };
    Ok(KedaFactory { kind, service, name, so, annotations, hpa, triggers, hpa_trigger, faults, schedule })
}

/// `faults = [ { trigger = "name", from = "10m", to = "20m", probability = 1.0 } ]`.
pub(crate) fn parse_faults(p: &mut Params, so: &ScaledObjectSpec) -> Result<Vec<Fault>, ConfigError> {
    let Some(raw) = p.get::<Vec<RawFault>>("faults")? else { return Ok(Vec::new()) };
    let at = p.span_of("faults");
    let what = p.what.clone();
    let mut out = Vec::new();
    for (k, f) in raw.into_iter().enumerate() {
        let err = |m: String| ConfigError::at(at.clone(), format!("{what}: faults[{k}]: {m}"));
        let trigger = match &f.trigger {
            None => None,
            Some(toml::Value::Integer(i)) => {
                let i = usize::try_from(*i).ok().filter(|i| *i < so.triggers.len()).ok_or_else(|| err(format!("trigger {i}: the ScaledObject has {} trigger(s)", so.triggers.len())))?;
                Some(i)
            }
            Some(toml::Value::String(s)) => Some(
                so.triggers
                    .iter()
                    .position(|t| t.name.as_deref() == Some(s.as_str()))
                    .or_else(|| so.triggers.iter().position(|t| t.r#type == *s))
                    .ok_or_else(|| err(format!("trigger {s:?}: no trigger has that name or type")))?,
            ),
            Some(_) => return Err(err("`trigger`: expected a trigger's name or type, or its index".into())),
        };
        let from_ns = f.from.map_or(0, |d| d.0);
        let to_ns = f.to.map_or(SimTime::MAX, |d| d.0);
        if to_ns <= from_ns {
            return Err(err("`to` must be after `from`".into()));
        }
        let probability = f.probability.unwrap_or(1.0);
        if !(probability.is_finite() && probability > 0.0 && probability <= 1.0) {
            return Err(err(format!("`probability = {probability}`: expected a number in (0, 1]")));
        }
        let message = f.error.unwrap_or_else(|| "injected failure: the metric source is unreachable".into());
        out.push(Fault { trigger, from_ns, to_ns, probability, message });
    }
    Ok(out)
}

pub(crate) fn parse_controller(p: &mut Params) -> Result<ControllerConfig, ConfigError> {
    let mut config = ControllerConfig::default();
    if let Some(flags) = p.get::<crate::policy::hpa::policy::ControllerFlags>("controller")? {
        let what = p.what.clone();
        flags.apply(&mut config).map_err(|e| ConfigError::at(p.span_of("controller"), format!("{what}: {e}")))?;
    }
    Ok(config)
}

/// `[policies.pods] kind = "keda"`: the ScaledObject's spec inline (snake_case) or
/// `manifest = "scaledobject.yaml"`; plus `name`, `annotations`, `controller`, `faults` and
/// `schedule`.
pub fn parse(p: &mut Params, ctx: &crate::policy::PodContext<'_>) -> Result<Arc<dyn PolicyFactory>, ConfigError> {
    let service = ctx.service;
    let sc = ctx.scenario;
    let svc_name = sc.services[service].name.clone();
    let what = p.what.clone();
    let manifest: Option<String> = p.get("manifest")?;
    let (mut so, name, annotations) = match &manifest {
        Some(file) => {
            for key in SO_KEYS.iter().chain(["name", "annotations"].iter()) {
                if p.has(key) {
                    return Err(ConfigError::at(p.span_of(key), format!("{what}: `{key}` comes from the manifest {file:?}; set it there, or drop `manifest`")));
                }
            }
            let at = p.span_of("manifest");
            let m = crate::policy::manifest::Manifest::read(ctx.base_dir, file).map_err(|e| ConfigError::at(at.clone(), format!("{what}: {e}")))?;
            let mut found = Vec::new();
            for doc in m.documents().map_err(|e| ConfigError::at(at.clone(), format!("{what}: {e}")))? {
                if doc.kind != "ScaledObject" {
                    continue;
                }
                if !doc.api_version.starts_with("keda.sh/") {
                    return Err(ConfigError::at(at, format!("{what}: {}: ScaledObject {} has apiVersion {}: expected keda.sh/v1alpha1", m.place(&doc), crate::quote::cell(&doc.name), crate::quote::cell(&doc.api_version))));
                }
                let d: ScaledObjectDoc = m.parse(&doc).map_err(|e| ConfigError::at(at.clone(), format!("{what}: {e}")))?;
                if d.spec.scale_target_ref.as_ref().is_some_and(|r| r.name == svc_name) {
                    found.push((d, m.place(&doc)));
                }
            }
            if found.len() > 1 {
                return Err(ConfigError::at(at, format!("{what}: {} holds two ScaledObjects for {svc_name:?} (the second at {}); KEDA refuses a second ScaledObject for a workload", m.path, found[1].1)));
            }
            let Some((d, place)) = found.pop() else {
                return Err(ConfigError::at(at, format!("{what}: {} has no ScaledObject whose scaleTargetRef.name is {svc_name:?}", m.path)));
            };
            let ann = annotations_of(&d.metadata.annotations).map_err(|e| ConfigError::at(at.clone(), format!("{what}: {place}: {e}")))?;
            (d.spec, d.metadata.name, ann)
        }
        None => {
            let so = inline_spec(p, true)?;
            let name = p.get::<String>("name")?.unwrap_or_else(|| svc_name.clone());
            let ann = p.get::<KedaAnnotations>("annotations")?.unwrap_or_default();
            (so, name, ann)
        }
    };
    let config = parse_controller(p)?;
    let faults = parse_faults(p, &so)?;
    let services: Vec<String> = sc.services.iter().map(|s| s.name.clone()).collect();
    let schedule = crate::policy::schedule::parse(p, &services)?;
    let at = if manifest.is_some() { p.span_of("manifest") } else { p.span_of("triggers") };
    let kinds: Vec<crate::scenario::ServiceKind> = sc.services.iter().map(|s| s.kind).collect();
    let sources = trigger_sources(&mut so, service, &services, &kinds).map_err(|e| ConfigError::at(at.clone(), format!("{what}: {e}")))?;
    let f = build_factory("keda", service, name, so, annotations, sources, config, faults, schedule)
        .map_err(|e| ConfigError::at(if manifest.is_some() { p.span_of("manifest") } else { p.span.clone() }, format!("{what}: invalid ScaledObject: {e}")))?;
    Ok(Arc::new(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_draws_are_deterministic_and_spread() {
        // Pinned: the draws decide which polls an injected fault hits, so a change here moves
        // every report with `probability < 1`; it must be deliberate.
        let got: Vec<f64> = [(0, 0), (15_000_000_000, 0), (15_000_000_000, 1)].iter().map(|&(t, k)| unit_draw(t, k)).collect();
        assert_eq!(got, PINNED_DRAWS);
        assert_ne!(unit_draw(15_000_000_000, 0), unit_draw(15_000_000_000, 31), "triggers draw apart");
        let n = (0..10_000u64).filter(|i| unit_draw(i * 15_000_000_000, 0) < 0.3).count();
        assert!((2_700..3_300).contains(&n), "{n}");
    }

    const PINNED_DRAWS: [f64; 3] = [0.5079605879681605, 0.6108563276419137, 0.8435807236622012];

    #[test]
    fn annotations() {
        let mut a = BTreeMap::new();
        a.insert("autoscaling.keda.sh/paused-replicas".to_string(), "2".to_string());
        a.insert("autoscaling.keda.sh/paused-scale-in".to_string(), "true".to_string());
        let k = annotations_of(&a).unwrap();
        assert_eq!((k.paused_replicas, k.paused_scale_in), (Some(2), true));
        a.insert("autoscaling.keda.sh/force-activation".to_string(), "yes".to_string());
        assert!(annotations_of(&a).is_err());
    }
}
