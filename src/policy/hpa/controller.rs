//! One HPA as the controller keeps it (`reconcileAutoscaler`): the per-HPA memory
//! (recommendations, scale events) and a [`HpaController::reconcile`] that takes the target's
//! scale, its pods and one observation per metric, and returns the new replica count with an
//! [`Explanation`] of every step, in the order the controller takes them.

use std::fmt;

use super::behavior::{
    convert_desired_replicas_with_behavior_rate, convert_desired_replicas_with_rules, stabilize_recommendation_traced,
    stabilize_recommendation_with_behaviors_traced, store_scale_event, LimitReason, RateArgs, RateLimited,
    RulesLimited, ScaleEvent, ScalingRules, Stabilized, TimestampedRecommendation, WindowEntry,
};
use super::calc::{
    average_value_replicas, external_average_sum, external_value_sum, plain_metric_replicas,
    resource_utilization_replicas, value_replicas, Basis, CalcError, CurrentValue, MissingAs, PodBasis, PodGroup,
    PodInfo, PodMetrics, PodStep, Proposal, Readiness, RebalanceOutcome, Tolerances, ValueStep,
};
use super::spec::{HpaSpec, MetricSourceType, MetricSpec, MetricTarget, MetricTargetType};
use crate::engine::SimTime;

const NS_PER_S: u64 = 1_000_000_000;

/// The controller's settings (kube-controller-manager flags), with upstream's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    /// `--horizontal-pod-autoscaler-tolerance`, both directions (0.1).
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-sync-period` (15 s): how often each HPA is reconciled.
    pub sync_period_ns: u64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 min).
    pub cpu_initialization_period_ns: u64,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub initial_readiness_delay_ns: u64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (5 min): the legacy window, and the
    /// behavior path's default scale-down window.
    pub downscale_stabilization_ns: u64,
    /// `scaleUpLimitFactor` of the legacy path (2; upstream's tests set 8).
    pub scale_up_limit_factor: f64,
    /// `scaleUpLimitMinimum` of the legacy path (4).
    pub scale_up_limit_minimum: f64,
    /// Feature gate `HPAConfigurableTolerance` (beta, on by default since 1.35): whether
    /// `behavior.scaleUp/scaleDown.tolerance` override [`ControllerConfig::tolerance`].
    pub configurable_tolerance: bool,
}

impl Default for ControllerConfig {
    fn default() -> ControllerConfig {
        ControllerConfig {
            tolerance: 0.1,
            sync_period_ns: 15 * NS_PER_S,
            cpu_initialization_period_ns: 300 * NS_PER_S,
            initial_readiness_delay_ns: 30 * NS_PER_S,
            downscale_stabilization_ns: 300 * NS_PER_S,
            scale_up_limit_factor: 2.0,
            scale_up_limit_minimum: 4.0,
            configurable_tolerance: true,
        }
    }
}

impl ControllerConfig {
    /// The settings of upstream's controller tests (`horizontal_test.go`): scale-up limit factor
    /// 8, CPU initialization period 2 min, initial readiness delay 10 s.
    pub fn upstream_test_harness() -> ControllerConfig {
        ControllerConfig {
            scale_up_limit_factor: 8.0,
            cpu_initialization_period_ns: 120 * NS_PER_S,
            initial_readiness_delay_ns: 10 * NS_PER_S,
            ..ControllerConfig::default()
        }
    }
}

/// What the metrics pipeline returned for one metric of the spec.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricObservation {
    /// Per-pod samples: metrics-server for Resource and ContainerResource metrics (for the latter
    /// the named container's usage), the custom metrics API for Pods metrics.
    PerPod(PodMetrics),
    /// The value of an Object metric, in milli-units.
    Object(i64),
    /// The series of an External metric, in milli-units (the HPA sums them).
    External(Vec<i64>),
    /// The fetch failed, with the error the API returned.
    Unavailable(String),
}

/// What a reconcile reads.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileInput<'a> {
    pub now: SimTime,
    /// The target's `scale.spec.replicas`.
    pub spec_replicas: i32,
    /// The target's `scale.status.replicas`.
    pub status_replicas: i32,
    /// The pods the target's selector lists.
    pub pods: &'a [PodInfo],
    /// One observation per entry of the (defaulted) spec's `metrics`, in the same order.
    pub metrics: &'a [MetricObservation],
}

/// One HPA with the state the controller keeps for it in memory (lost on a controller restart).
#[derive(Debug, Clone)]
pub struct HpaController {
    spec: HpaSpec,
    config: ControllerConfig,
    /// `None` until the first reconcile (upstream's nil history).
    recommendations: Option<Vec<TimestampedRecommendation>>,
    scale_up_events: Vec<ScaleEvent>,
    scale_down_events: Vec<ScaleEvent>,
}

impl HpaController {
    /// An HPA with no history. The spec gets the API server's defaults.
    pub fn new(spec: &HpaSpec, config: ControllerConfig) -> HpaController {
        HpaController {
            spec: spec.with_api_defaults(),
            config,
            recommendations: None,
            scale_up_events: Vec::new(),
            scale_down_events: Vec::new(),
        }
    }

    /// An HPA with a given history (`None` recommendations: nil, so the first reconcile records
    /// the current size).
    pub fn with_history(
        mut self,
        recommendations: Option<Vec<TimestampedRecommendation>>,
        scale_up_events: Vec<ScaleEvent>,
        scale_down_events: Vec<ScaleEvent>,
    ) -> HpaController {
        self.recommendations = recommendations;
        self.scale_up_events = scale_up_events;
        self.scale_down_events = scale_down_events;
        self
    }

    /// The spec, with the API server's defaults.
    pub fn spec(&self) -> &HpaSpec {
        &self.spec
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// A changed spec (the memory is kept, as upstream keeps it across spec updates).
    pub fn set_spec(&mut self, spec: &HpaSpec) {
        self.spec = spec.with_api_defaults();
    }

    pub fn recommendations(&self) -> &[TimestampedRecommendation] {
        self.recommendations.as_deref().unwrap_or(&[])
    }

    pub fn scale_up_events(&self) -> &[ScaleEvent] {
        &self.scale_up_events
    }

    pub fn scale_down_events(&self) -> &[ScaleEvent] {
        &self.scale_down_events
    }

    /// `tolerancesForHpa`.
    pub fn tolerances(&self) -> Tolerances {
        let mut t = Tolerances::symmetric(self.config.tolerance);
        if let (Some(b), true) = (&self.spec.behavior, self.config.configurable_tolerance) {
            if let Some(q) = b.scale_down.as_ref().and_then(|r| r.tolerance) {
                t.scale_down = q.as_approximate_f64();
            }
            if let Some(q) = b.scale_up.as_ref().and_then(|r| r.tolerance) {
                t.scale_up = q.as_approximate_f64();
            }
        }
        t
    }

    /// The behavior path's rules, resolved (`None` on the legacy path).
    pub fn scaling_rules(&self) -> Option<(ScalingRules, ScalingRules)> {
        let b = self.spec.behavior.as_ref()?;
        let down_window_s = (self.config.downscale_stabilization_ns / NS_PER_S).min(i32::MAX as u64) as i32;
        Some((
            ScalingRules::resolve_up(b.scale_up.as_ref()),
            ScalingRules::resolve_down(b.scale_down.as_ref(), down_window_s),
        ))
    }

    /// One reconcile (`reconcileAutoscaler`), assuming the scale update succeeds.
    pub fn reconcile(&mut self, input: &ReconcileInput<'_>) -> Outcome {
        let now = input.now;
        let current = input.spec_replicas;
        let mut initial_recommendation = None;
        if self.recommendations.is_none() {
            self.recommendations = Some(vec![TimestampedRecommendation { replicas: current, timestamp: now }]);
            initial_recommendation = Some(current);
        }
        let min = self.spec.min_replicas.unwrap_or(1);
        let max = self.spec.max_replicas;

        let mut desired = 0;
        let mut rescale = true;
        let mut rescale_reason = None;
        let stage = if current == 0 && min != 0 {
            rescale = false;
            Stage::ScalingDisabled
        } else if current > max {
            rescale_reason = Some("Current number of replicas above Spec.MaxReplicas".to_string());
            desired = max;
            Stage::AboveMax
        } else if current < min {
            rescale_reason = Some("Current number of replicas below Spec.MinReplicas".to_string());
            desired = min;
            Stage::BelowMin
        } else {
            let tolerances = self.tolerances();
            let metrics = self.compute_metrics(input, tolerances);
            let combined = combine(&metrics, current);
            let mut normalization = None;
            match &combined {
                Combined::NoScale { .. } => rescale = false,
                Combined::Proposal { replicas, metric, .. } => {
                    let mut rescale_metric = "";
                    if *replicas > desired {
                        desired = *replicas;
                        rescale_metric = metric;
                    }
                    if desired > current {
                        rescale_reason = Some(format!("{rescale_metric} above target"));
                    }
                    if desired < current {
                        rescale_reason = Some("All metrics below target".to_string());
                    }
                    let n = self.normalize(current, desired, min, max, now);
                    desired = n.replicas();
                    normalization = Some(n);
                    rescale = desired != current;
                }
            }
            Stage::Metrics(Box::new(MetricsStage { tolerances, metrics, combined, normalization }))
        };

        let mut stored_event = None;
        let replicas = if rescale {
            if let Some((up, down)) = self.scaling_rules() {
                if desired > current {
                    store_scale_event(&mut self.scale_up_events, &up, desired.saturating_sub(current), now);
                } else {
                    store_scale_event(&mut self.scale_down_events, &down, current.saturating_sub(desired), now);
                }
                stored_event = Some(desired.saturating_sub(current));
            }
            desired
        } else {
            current
        };
        Outcome {
            replicas,
            rescaled: rescale,
            explanation: Explanation {
                now,
                spec_replicas: current,
                status_replicas: input.status_replicas,
                min_replicas: min,
                max_replicas: max,
                legacy: self.spec.behavior.is_none(),
                initial_recommendation,
                stage,
                rescale_reason,
                final_replicas: replicas,
                stored_event,
            },
        }
    }

    fn normalize(&mut self, current: i32, prenormalized: i32, min: i32, max: i32, now: SimTime) -> Normalization {
        let rules = self.scaling_rules();
        let recommendations = self.recommendations.get_or_insert_with(Vec::new);
        match rules {
            None => {
                let window_ns = self.config.downscale_stabilization_ns;
                let mut window = Vec::with_capacity(recommendations.len());
                let stabilized =
                    stabilize_recommendation_traced(recommendations, prenormalized, now, window_ns, Some(&mut window));
                let limited = convert_desired_replicas_with_rules(
                    current,
                    stabilized,
                    min,
                    max,
                    self.config.scale_up_limit_factor,
                    self.config.scale_up_limit_minimum,
                );
                Normalization::Legacy { prenormalized, window_ns, window, stabilized, limited }
            }
            Some((up, down)) => {
                let mut window = Vec::with_capacity(recommendations.len());
                let stabilized = stabilize_recommendation_with_behaviors_traced(
                    recommendations,
                    current,
                    prenormalized,
                    up.stabilization_window_seconds,
                    down.stabilization_window_seconds,
                    now,
                    Some(&mut window),
                );
                let limited = convert_desired_replicas_with_behavior_rate(&RateArgs {
                    current,
                    desired: stabilized.replicas,
                    min,
                    max,
                    scale_up: &up,
                    scale_down: &down,
                    up_events: &self.scale_up_events,
                    down_events: &self.scale_down_events,
                    now,
                });
                Normalization::Behavior { prenormalized, up, down, window, stabilized, limited }
            }
        }
    }

    fn compute_metrics(&self, input: &ReconcileInput<'_>, tolerances: Tolerances) -> Vec<MetricEvaluation> {
        let readiness = Readiness {
            now: input.now,
            cpu_initialization_period_ns: self.config.cpu_initialization_period_ns,
            initial_readiness_delay_ns: self.config.initial_readiness_delay_ns,
        };
        self.spec
            .metrics
            .iter()
            .enumerate()
            .map(|(i, spec)| evaluate_metric(spec, input.metrics.get(i), input, tolerances, &readiness))
            .collect()
    }
}

/// The result of one reconcile.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The target's spec replicas after the reconcile.
    pub replicas: i32,
    /// Whether the controller updated the scale.
    pub rescaled: bool,
    pub explanation: Explanation,
}

/// Every step of one reconcile, printable with `Display` as the controller took them.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub now: SimTime,
    pub spec_replicas: i32,
    pub status_replicas: i32,
    pub min_replicas: i32,
    pub max_replicas: i32,
    /// `behavior` is unset: the legacy normalization.
    pub legacy: bool,
    /// The recommendation history was empty and this size was recorded as of now.
    pub initial_recommendation: Option<i32>,
    pub stage: Stage,
    /// The event's reason when the scale changed (`SuccessfulRescale`).
    pub rescale_reason: Option<String>,
    pub final_replicas: i32,
    /// The scale event stored for the behavior path (signed change).
    pub stored_event: Option<i32>,
}

/// How far the reconcile went.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Spec replicas 0 and `minReplicas` not 0: autoscaling is disabled (`ScalingDisabled`).
    ScalingDisabled,
    /// Spec replicas above `maxReplicas`: set to the max, no metrics.
    AboveMax,
    /// Spec replicas below `minReplicas`: set to the min, no metrics.
    BelowMin,
    /// The metrics were computed.
    Metrics(Box<MetricsStage>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsStage {
    pub tolerances: Tolerances,
    pub metrics: Vec<MetricEvaluation>,
    pub combined: Combined,
    /// `None` when the metrics gave no usable proposal.
    pub normalization: Option<Normalization>,
}

/// One metric of the spec, evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricEvaluation {
    /// Upstream's name for the proposal (`cpu resource utilization (percentage of request)`).
    pub name: String,
    pub target: Option<MetricTarget>,
    pub result: Result<Proposal, MetricError>,
}

/// Why a metric is invalid: the `ScalingActive=False` condition it would set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricError {
    /// `FailedGetResourceMetric`, `FailedGetPodsMetric`, ...
    pub reason: &'static str,
    pub message: String,
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

/// `computeReplicasForMetrics`' result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Combined {
    /// The largest valid proposal (invalid metrics, if any, did not ask for a scale-down).
    Proposal { replicas: i32, metric: String, invalid: usize },
    /// All metrics invalid, or some invalid while the largest valid proposal is below the spec
    /// replicas: no scaling at all (upstream returns -1).
    NoScale { invalid: usize, total: usize, max_valid: Option<i32>, first_error: String },
}

/// Stabilization and rate limits. `window` is every recommendation recorded before this
/// reconcile (the initial one included), with the windows that covered it.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalization {
    Legacy {
        prenormalized: i32,
        window_ns: u64,
        window: Vec<WindowEntry>,
        stabilized: i32,
        limited: RulesLimited,
    },
    Behavior {
        prenormalized: i32,
        up: ScalingRules,
        down: ScalingRules,
        window: Vec<WindowEntry>,
        stabilized: Stabilized,
        limited: RateLimited,
    },
}

impl Normalization {
    pub fn replicas(&self) -> i32 {
        match self {
            Normalization::Legacy { limited, .. } => limited.replicas,
            Normalization::Behavior { limited, .. } => limited.replicas,
        }
    }

    /// The `ScalingLimited` reason.
    pub fn limit_reason(&self) -> LimitReason {
        match self {
            Normalization::Legacy { limited, .. } => limited.reason,
            Normalization::Behavior { limited, .. } => limited.reason,
        }
    }
}

/// `computeReplicasForMetrics`' combination: max of the valid proposals; -1 (no scale) when all
/// are invalid, or some are and the max is below the spec replicas.
fn combine(metrics: &[MetricEvaluation], spec_replicas: i32) -> Combined {
    let mut replicas = 0;
    let mut metric = String::new();
    let mut invalid = 0;
    let mut first_error = None;
    let mut max_valid = None;
    for m in metrics {
        match &m.result {
            Err(e) => {
                if invalid == 0 {
                    first_error = Some(e.to_string());
                }
                invalid += 1;
            }
            Ok(p) => {
                if replicas == 0 || p.replicas > replicas {
                    replicas = p.replicas;
                    metric.clone_from(&m.name);
                }
                max_valid = Some(replicas);
            }
        }
    }
    if invalid >= metrics.len() || (invalid > 0 && replicas < spec_replicas) {
        let first_error = first_error.unwrap_or_else(|| "the HPA has no metrics".to_string());
        return Combined::NoScale { invalid, total: metrics.len(), max_valid, first_error };
    }
    Combined::Proposal { replicas, metric, invalid }
}

fn err(reason: &'static str, message: impl Into<String>) -> MetricError {
    MetricError { reason, message: message.into() }
}

fn wrong_observation(reason: &'static str, expected: &str, got: Option<&MetricObservation>) -> MetricError {
    let got = match got {
        None => "none",
        Some(MetricObservation::PerPod(_)) => "per-pod samples",
        Some(MetricObservation::Object(_)) => "an object value",
        Some(MetricObservation::External(_)) => "external series",
        Some(MetricObservation::Unavailable(_)) => "an error",
    };
    err(reason, format!("autosim: this metric needs {expected}, the pipeline gave {got}"))
}

/// `computeReplicasForMetric` for one metric spec.
fn evaluate_metric(
    spec: &MetricSpec,
    obs: Option<&MetricObservation>,
    input: &ReconcileInput<'_>,
    tolerances: Tolerances,
    readiness: &Readiness,
) -> MetricEvaluation {
    let (spec_replicas, status_replicas) = (input.spec_replicas, input.status_replicas);
    let target = spec.target().cloned();
    let missing_source = |reason| MetricEvaluation {
        name: format!("{} metric", spec.r#type.as_str()),
        target: None,
        result: Err(err(reason, format!("invalid metric source: type {} without its source", spec.r#type.as_str()))),
    };
    match spec.r#type {
        MetricSourceType::Resource | MetricSourceType::ContainerResource => {
            let (resource, container, target, reason) = match spec.r#type {
                MetricSourceType::Resource => match &spec.resource {
                    Some(s) => (s.name.as_str(), None, &s.target, "FailedGetResourceMetric"),
                    None => return missing_source("FailedGetResourceMetric"),
                },
                _ => match &spec.container_resource {
                    Some(s) => {
                        (s.name.as_str(), Some(s.container.as_str()), &s.target, "FailedGetContainerResourceMetric")
                    }
                    None => return missing_source("FailedGetContainerResourceMetric"),
                },
            };
            let fetched = match obs {
                Some(MetricObservation::PerPod(m)) => Ok(m),
                Some(MetricObservation::Unavailable(e)) => {
                    Err(err(reason, format!("unable to get metrics for resource {resource}: {e}")))
                }
                other => Err(wrong_observation(reason, "per-pod samples", other)),
            };
            // computeStatusForResourceMetricGeneric: an averageValue wins, whatever the type.
            if let Some(avg) = target.average_value {
                let result = fetched.and_then(|m| {
                    plain_metric_replicas(spec_replicas, avg.milli(), resource, input.pods, m, tolerances, readiness)
                        .map_err(|e| calc_err(reason, &format!("failed to get {resource} usage"), e))
                });
                return MetricEvaluation { name: format!("{resource} resource"), target: Some(target.clone()), result };
            }
            let kind = if container.is_some() { "container resource" } else { "resource" };
            let name = format!("{resource} {kind} utilization (percentage of request)");
            let result = match target.average_utilization {
                None => Err(err(
                    reason,
                    "invalid resource metric source: neither an average utilization target nor an average value \
                     (usage) target was set",
                )),
                Some(u) => fetched.and_then(|m| {
                    resource_utilization_replicas(
                        spec_replicas,
                        u,
                        resource,
                        container,
                        input.pods,
                        m,
                        tolerances,
                        readiness,
                    )
                    .map_err(|e| calc_err(reason, &format!("failed to get {resource} utilization"), e))
                }),
            };
            MetricEvaluation { name, target: Some(target.clone()), result }
        }
        MetricSourceType::Pods => {
            let reason = "FailedGetPodsMetric";
            let Some(s) = &spec.pods else { return missing_source(reason) };
            let name = format!("pods metric {}", s.metric.name);
            let result = match (obs, s.target.average_value) {
                (_, None) => Err(err(reason, "invalid pods metric source: no average value target was set")),
                (Some(MetricObservation::PerPod(m)), Some(avg)) => {
                    plain_metric_replicas(spec_replicas, avg.milli(), "", input.pods, m, tolerances, readiness)
                        .map_err(|e| calc_err(reason, "failed to get pods metric value", e))
                }
                (Some(MetricObservation::Unavailable(e)), _) => {
                    Err(err(reason, format!("unable to get metric {}: {e}", s.metric.name)))
                }
                (other, _) => Err(wrong_observation(reason, "per-pod samples", other)),
            };
            MetricEvaluation { name, target, result }
        }
        MetricSourceType::Object => {
            let reason = "FailedGetObjectMetric";
            let Some(s) = &spec.object else { return missing_source(reason) };
            let usage = match obs {
                Some(MetricObservation::Object(v)) => Ok(*v),
                Some(MetricObservation::Unavailable(e)) => Err(err(
                    reason,
                    format!(
                        "unable to get metric {} on {} {}: {e}",
                        s.metric.name, s.described_object.kind, s.described_object.name
                    ),
                )),
                other => Err(wrong_observation(reason, "an object value", other)),
            };
            let t = &s.target;
            if let (MetricTargetType::Value, Some(v)) = (t.r#type, t.value) {
                let result = usage.and_then(|u| {
                    value_replicas(spec_replicas, u, v.milli(), input.pods, tolerances)
                        .map_err(|e| calc_err(reason, "failed to get object metric value", e))
                });
                let name = format!("{} metric {}", s.described_object.kind, s.metric.name);
                MetricEvaluation { name, target, result }
            } else if let (MetricTargetType::AverageValue, Some(v)) = (t.r#type, t.average_value) {
                let result = usage.map(|u| average_value_replicas(status_replicas, u, v.milli(), tolerances));
                // Upstream names this one "external metric" too.
                MetricEvaluation { name: format!("external metric {}", s.metric.name), target, result }
            } else {
                let e = err(
                    reason,
                    "invalid object metric source: neither a value target nor an average value target was set",
                );
                MetricEvaluation { name: format!("object metric {}", s.metric.name), target, result: Err(e) }
            }
        }
        MetricSourceType::External => {
            let reason = "FailedGetExternalMetric";
            let Some(s) = &spec.external else { return missing_source(reason) };
            let name = format!("external metric {}", s.metric.name);
            let series = match obs {
                Some(MetricObservation::External(v)) => Ok(v.as_slice()),
                Some(MetricObservation::Unavailable(e)) => {
                    Err(err(reason, format!("unable to get external metric {}: {e}", s.metric.name)))
                }
                other => Err(wrong_observation(reason, "external series", other)),
            };
            let t = &s.target;
            let result = if let Some(avg) = t.average_value {
                series
                    .map(|v| average_value_replicas(status_replicas, external_average_sum(v), avg.milli(), tolerances))
            } else if let Some(v) = t.value {
                series.and_then(|s| {
                    value_replicas(spec_replicas, external_value_sum(s), v.milli(), input.pods, tolerances)
                        .map_err(|e| calc_err(reason, "failed to get external metric value", e))
                })
            } else {
                Err(err(
                    reason,
                    "invalid external metric source: neither a value target nor an average value target was set",
                ))
            };
            MetricEvaluation { name, target, result }
        }
    }
}

fn calc_err(reason: &'static str, context: &str, e: CalcError) -> MetricError {
    err(reason, format!("{context}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------

/// Milli-units as a quantity (`"250m"`, `"3"`).
fn q(milli: i64) -> String {
    if milli % 1000 == 0 {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    }
}

fn secs(ns: u64) -> String {
    let s = ns as f64 / NS_PER_S as f64;
    if s.fract() == 0.0 {
        format!("{s:.0}s")
    } else {
        format!("{s:.3}s")
    }
}

fn names<'a>(it: impl Iterator<Item = (&'a str, Option<String>)>) -> String {
    const SHOWN: usize = 6;
    let all: Vec<String> = it
        .map(|(n, why)| match why {
            Some(w) => format!("{n}: {w}"),
            None => n.to_string(),
        })
        .collect();
    let mut s = all.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if all.len() > SHOWN {
        s.push_str(&format!(", and {} more", all.len() - SHOWN));
    }
    s
}

fn write_pods(f: &mut fmt::Formatter<'_>, b: &PodBasis) -> fmt::Result {
    let g = &b.groups;
    write!(f, "    pods: {} ready", g.ready_count)?;
    let group = |pick: fn(PodGroup) -> Option<Option<String>>| {
        names(g.pods.iter().filter_map(|(n, gr)| pick(*gr).map(|why| (&**n, why))))
    };
    if g.unready_count() > 0 {
        let list = group(|gr| match gr {
            PodGroup::Unready(w) => Some(Some(w.to_string())),
            _ => None,
        });
        write!(f, ", {} unready ({list})", g.unready_count())?;
    }
    if g.missing_count() > 0 {
        let list = group(|gr| (gr == PodGroup::Missing).then_some(None));
        write!(f, ", {} missing a sample ({list})", g.missing_count())?;
    }
    if g.ignored_count() > 0 {
        let list = group(|gr| match gr {
            PodGroup::Ignored(w) => Some(Some(w.to_string())),
            _ => None,
        });
        write!(f, ", {} ignored ({list})", g.ignored_count())?;
    }
    if b.unknown_pod_samples > 0 {
        write!(f, "; {} samples of pods not in the list", b.unknown_pod_samples)?;
    }
    writeln!(f)
}

fn write_target(t: &Option<MetricTarget>) -> String {
    match t {
        None => String::new(),
        Some(t) => match t.r#type {
            MetricTargetType::Utilization => {
                t.average_utilization.map(|u| format!("{u}% of request")).unwrap_or_default()
            }
            MetricTargetType::AverageValue => t.average_value.map(|v| format!("{v} per pod")).unwrap_or_default(),
            MetricTargetType::Value => t.value.map(|v| format!("{v} in total")).unwrap_or_default(),
        },
    }
}

fn write_proposal(f: &mut fmt::Formatter<'_>, p: &Proposal, target: &Option<MetricTarget>) -> fmt::Result {
    let r = p.usage_ratio;
    let target = write_target(target);
    match p.current {
        CurrentValue::Utilization { percent, average_milli } => writeln!(
            f,
            "    usage {percent}% of request (truncated; average {} per pod), target {target}: ratio {r:.3}",
            q(average_milli)
        )?,
        CurrentValue::AverageValue { milli } => match &p.basis {
            Basis::AverageValue(b) => writeln!(
                f,
                "    average {} over {} status replicas, target {target}: ratio {r:.3}",
                q(milli),
                b.status_replicas
            )?,
            _ => writeln!(f, "    average {} per pod (integer division), target {target}: ratio {r:.3}", q(milli))?,
        },
        CurrentValue::Value { milli } => writeln!(f, "    value {}, target {target}: ratio {r:.3}", q(milli))?,
    }
    match &p.basis {
        Basis::Pods(b) => match b.step {
            PodStep::Direct { within_tolerance: true } => writeln!(f, "    within tolerance: keep {}", p.replicas),
            PodStep::Direct { within_tolerance: false } => {
                writeln!(f, "    ceil({r:.3} x {} ready pods) = {}", b.groups.ready_count, p.replicas)
            }
            PodStep::Rebalanced(rb) => {
                let mut assumed = Vec::new();
                match rb.missing_as {
                    MissingAs::NotFilled => {}
                    MissingAs::Zero => assumed.push("missing pods at 0".to_string()),
                    MissingAs::PercentOfRequest(pc) => assumed.push(format!("missing pods at {pc}% of request")),
                    MissingAs::Target(t) => assumed.push(format!("missing pods at the target {}", q(t))),
                }
                if rb.unready_as_zero {
                    assumed.push("unready pods at 0 (scale-up)".to_string());
                }
                write!(
                    f,
                    "    re-balanced with {}: ratio {:.3} over {} samples: ",
                    assumed.join(", "),
                    rb.new_ratio,
                    rb.samples
                )?;
                match rb.outcome {
                    RebalanceOutcome::WithinTolerance => writeln!(f, "within tolerance, keep {}", p.replicas),
                    RebalanceOutcome::DirectionFlip => writeln!(f, "direction flips, keep {}", p.replicas),
                    RebalanceOutcome::WrongWay { computed } => {
                        writeln!(f, "ceil = {computed} would move against the ratio, keep {}", p.replicas)
                    }
                    RebalanceOutcome::Scaled => {
                        writeln!(f, "ceil({:.3} x {}) = {}", rb.new_ratio, rb.samples, p.replicas)
                    }
                }
            }
        },
        Basis::Value(b) => match b.step {
            ValueStep::WithinTolerance => writeln!(f, "    within tolerance: keep {}", p.replicas),
            ValueStep::Scaled { ready_pods } => {
                writeln!(f, "    ceil({r:.3} x {ready_pods} ready pods) = {}", p.replicas)
            }
            ValueStep::FromZero => writeln!(f, "    from zero replicas, no tolerance: ceil({r:.3}) = {}", p.replicas),
        },
        Basis::AverageValue(b) => {
            if b.within_tolerance {
                writeln!(f, "    within tolerance: keep the status replicas, {}", p.replicas)
            } else {
                writeln!(f, "    ceil({} / {}) = {}", q(b.usage_milli), q(b.target_milli), p.replicas)
            }
        }
    }
}

fn write_limit_policies(f: &mut fmt::Formatter<'_>, rl: &RateLimited) -> fmt::Result {
    let Some(l) = &rl.limit else { return Ok(()) };
    let parts: Vec<String> = l
        .policies
        .iter()
        .map(|b| {
            format!(
                "{} {}/{}s from {} -> {}",
                b.policy.r#type.as_str(),
                b.policy.value,
                b.policy.period_seconds,
                b.period_start,
                b.bound
            )
        })
        .collect();
    write!(f, "[{}] select {} -> {}", parts.join(", "), l.select_policy.as_str(), l.limit)
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "reconcile at {}: spec replicas {}, status replicas {}, min {}, max {}, {}",
            secs(self.now),
            self.spec_replicas,
            self.status_replicas,
            self.min_replicas,
            self.max_replicas,
            if self.legacy { "no behavior (legacy normalization)" } else { "with behavior" }
        )?;
        if let Some(r) = self.initial_recommendation {
            writeln!(f, "  no recommendation history: recorded {r} as of now")?;
        }
        match &self.stage {
            Stage::ScalingDisabled => {
                writeln!(f, "  spec replicas 0 and min not 0: scaling is disabled (ScalingDisabled)")?
            }
            Stage::AboveMax => {
                writeln!(f, "  spec replicas above maxReplicas: set to {}, metrics not read", self.max_replicas)?
            }
            Stage::BelowMin => {
                writeln!(f, "  spec replicas below minReplicas: set to {}, metrics not read", self.min_replicas)?
            }
            Stage::Metrics(m) => {
                let t = m.tolerances;
                writeln!(
                    f,
                    "  tolerance: ratio within [{:.3}, {:.3}] keeps the count",
                    1.0 - t.scale_down,
                    1.0 + t.scale_up
                )?;
                for (i, e) in m.metrics.iter().enumerate() {
                    writeln!(f, "  metric {}/{}: {}", i + 1, m.metrics.len(), e.name)?;
                    match &e.result {
                        Err(err) => writeln!(f, "    invalid: {err}")?,
                        Ok(p) => {
                            if let Basis::Pods(b) = &p.basis {
                                write_pods(f, b)?;
                            }
                            write_proposal(f, p, &e.target)?;
                        }
                    }
                }
                match &m.combined {
                    Combined::Proposal { replicas, metric, invalid } => {
                        write!(f, "  proposal: {replicas} (largest, from {metric})")?;
                        if *invalid > 0 {
                            write!(f, "; {invalid} invalid metrics do not block a proposal at or above spec")?;
                        }
                        writeln!(f)?;
                    }
                    Combined::NoScale { invalid, total, max_valid, first_error } => {
                        write!(f, "  {invalid} of {total} metrics invalid")?;
                        if let Some(v) = max_valid {
                            write!(
                                f,
                                " and the largest valid proposal {v} is below spec replicas {}",
                                self.spec_replicas
                            )?;
                        }
                        writeln!(f, ": no scaling (first error: {first_error})")?;
                    }
                }
                match &m.normalization {
                    None => {}
                    Some(Normalization::Legacy { prenormalized, window_ns, stabilized, limited, .. }) => {
                        writeln!(
                            f,
                            "  stabilization: max of {prenormalized} and the recommendations of the last {}: {stabilized}",
                            secs(*window_ns)
                        )?;
                        writeln!(
                            f,
                            "  limits: scale-up limit {}, min {}, max {}: {} ({})",
                            limited.scale_up_limit,
                            self.min_replicas,
                            self.max_replicas,
                            limited.replicas,
                            limited.reason
                        )?;
                    }
                    Some(Normalization::Behavior { prenormalized, up, down, stabilized, limited, .. }) => {
                        writeln!(
                            f,
                            "  stabilization: proposal {prenormalized}; lowest of the last {}s {}, highest of the last {}s \
                             {}: {} ({})",
                            up.stabilization_window_seconds,
                            stabilized.up_recommendation,
                            down.stabilization_window_seconds,
                            stabilized.down_recommendation,
                            stabilized.replicas,
                            if stabilized.replicas == *prenormalized { "ReadyForNewScale" } else { stabilized.reason.as_str() }
                        )?;
                        match (limited.limit.as_ref(), limited.allowed) {
                            (Some(_), Some(allowed)) => {
                                let dir = if stabilized.replicas > self.spec_replicas { "up" } else { "down" };
                                write!(f, "  rate limit (scale {dir}): ")?;
                                write_limit_policies(f, limited)?;
                                writeln!(f, "; allowed {allowed}: {} ({})", limited.replicas, limited.reason)?;
                            }
                            _ => writeln!(f, "  rate limit: no change requested ({})", limited.reason)?,
                        }
                    }
                }
            }
        }
        match (&self.rescale_reason, self.final_replicas != self.spec_replicas) {
            (Some(reason), true) => {
                writeln!(f, "  => scale {} -> {} ({reason})", self.spec_replicas, self.final_replicas)?
            }
            _ => writeln!(f, "  => keep {}", self.final_replicas)?,
        }
        if let Some(change) = self.stored_event {
            writeln!(f, "  scale event stored: {change:+}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::calc::{self, PodMetric};
    use super::super::spec::{HpaBehavior, HpaScalingPolicy, HpaScalingRules, Quantity};
    use super::*;

    const S: u64 = 1_000_000_000;

    fn pods(n: usize, at: SimTime) -> Vec<PodInfo> {
        (0..n).map(|i| PodInfo::running(&format!("p{i}"), at, [("cpu".to_string(), 1000)].into())).collect()
    }

    fn cpu(values: &[i64], now: SimTime) -> MetricObservation {
        MetricObservation::PerPod(
            values
                .iter()
                .enumerate()
                .map(|(i, &v)| (format!("p{i}").into(), PodMetric { value_milli: v, timestamp: now, window_ns: 60 * S }))
                .collect(),
        )
    }

    fn spec(behavior: Option<HpaBehavior>) -> HpaSpec {
        HpaSpec {
            scale_target_ref: None,
            min_replicas: Some(1),
            max_replicas: 20,
            metrics: vec![MetricSpec::resource("cpu", MetricTarget::utilization(50))],
            behavior,
        }
    }

    #[test]
    fn default_behavior_scale_down_is_stabilized_for_five_minutes() {
        let mut c = HpaController::new(&spec(Some(HpaBehavior::default())), ControllerConfig::default());
        let start = 1000 * S;
        let p = pods(4, 0);
        // Four pods at 20%: wants 2, but the first reconcile recorded 4 just now.
        for k in 0..=20u64 {
            let now = start + k * 15 * S;
            let out = c.reconcile(&ReconcileInput {
                now,
                spec_replicas: 4,
                status_replicas: 4,
                pods: &p,
                metrics: &[cpu(&[200, 200, 200, 200], now)],
            });
            // The initial 4 is exactly 300 s old at k = 20: strictly outside the window.
            let expected = if k < 20 { 4 } else { 2 };
            assert_eq!(out.replicas, expected, "at step {k}:\n{}", out.explanation);
        }
    }

    #[test]
    fn behavior_rate_counts_previous_scale_ups() {
        let up = HpaScalingRules { policies: Some(vec![HpaScalingPolicy::pods(2, 60)]), ..Default::default() };
        let mut c = HpaController::new(
            &spec(Some(HpaBehavior { scale_up: Some(up), scale_down: None })),
            ControllerConfig::default(),
        );
        let p = pods(8, 0);
        let mut replicas = 2;
        let mut seen = Vec::new();
        for k in 0..9u64 {
            let now = 1000 * S + k * 15 * S;
            let out = c.reconcile(&ReconcileInput {
                now,
                spec_replicas: replicas,
                status_replicas: replicas,
                pods: &p[..replicas as usize],
                metrics: &[cpu(&[1000; 8][..replicas as usize], now)],
            });
            replicas = out.replicas;
            seen.push(replicas);
        }
        // +2 in any 60 s: 2 -> 4 at t0, then held while the t0 event is strictly inside the last
        // 60 s; at t0 + 60 s it is out: 4 -> 6; at t0 + 120 s, 6 -> 8.
        assert_eq!(seen, [4, 4, 4, 4, 6, 6, 6, 6, 8]);
        // The t0 event was outdated (older than the longest period) when the third was stored.
        assert_eq!(c.scale_up_events().len(), 2);
        assert_eq!(c.scale_up_events()[0].timestamp, 1000 * S + 120 * S);
    }

    #[test]
    fn per_direction_tolerance_from_behavior() {
        let rules = |t: i64| HpaScalingRules { tolerance: Some(Quantity::from_milli(t)), ..Default::default() };
        let b = HpaBehavior { scale_up: Some(rules(200)), scale_down: Some(rules(10)) };
        let mut c = HpaController::new(&spec(Some(b)), ControllerConfig::default());
        assert_eq!(c.tolerances(), Tolerances { scale_down: 0.01, scale_up: 0.2 });
        let p = pods(2, 0);
        let now = 1000 * S;
        // 58% / 50% = 1.16: inside the 20% scale-up tolerance.
        let out = c.reconcile(&ReconcileInput {
            now,
            spec_replicas: 2,
            status_replicas: 2,
            pods: &p,
            metrics: &[cpu(&[580, 580], now)],
        });
        assert_eq!(out.replicas, 2);
        // With the gate off, the flag's 0.1 applies: ceil(1.16 * 2) = 3.
        let config = ControllerConfig { configurable_tolerance: false, ..ControllerConfig::default() };
        let mut c = HpaController::new(c.spec(), config);
        let out = c.reconcile(&ReconcileInput {
            now,
            spec_replicas: 2,
            status_replicas: 2,
            pods: &p,
            metrics: &[cpu(&[580, 580], now)],
        });
        assert_eq!(out.replicas, 3, "{}", out.explanation);
    }

    #[test]
    fn zero_replicas_and_bounds() {
        let mut c = HpaController::new(&spec(None), ControllerConfig::default());
        let out =
            c.reconcile(&ReconcileInput { now: 0, spec_replicas: 0, status_replicas: 0, pods: &[], metrics: &[] });
        assert_eq!((out.replicas, out.rescaled), (0, false));
        assert_eq!(out.explanation.stage, Stage::ScalingDisabled);
        // Initial recommendation recorded even so.
        assert_eq!(c.recommendations(), [TimestampedRecommendation { replicas: 0, timestamp: 0 }]);
        let out =
            c.reconcile(&ReconcileInput { now: S, spec_replicas: 30, status_replicas: 30, pods: &[], metrics: &[] });
        assert_eq!((out.replicas, &out.explanation.stage), (20, &Stage::AboveMax));
        let mut s = spec(None);
        s.min_replicas = Some(3);
        let mut c = HpaController::new(&s, ControllerConfig::default());
        let out =
            c.reconcile(&ReconcileInput { now: S, spec_replicas: 1, status_replicas: 1, pods: &[], metrics: &[] });
        assert_eq!((out.replicas, &out.explanation.stage), (3, &Stage::BelowMin));
        assert!(out
            .explanation
            .to_string()
            .contains("=> scale 1 -> 3 (Current number of replicas below Spec.MinReplicas)"));
    }

    proptest::proptest! {
        /// Over random loads, pod states and rules, a sequence of reconciles never panics and,
        /// starting within the bounds, always stays within them.
        #[test]
        fn replicas_stay_within_bounds(
            min in 1i32..5,
            extra in 0i32..20,
            target in 1i32..200,
            with_behavior in proptest::bool::ANY,
            up_pods in 1i32..10,
            down_percent in 1i32..100,
            window in 0i32..120,
            steps in proptest::collection::vec((0i64..5000, 0u8..4, 1u64..40), 1..40),
        ) {
            let max = min + extra;
            let behavior = with_behavior.then(|| HpaBehavior {
                scale_up: Some(HpaScalingRules { policies: Some(vec![HpaScalingPolicy::pods(up_pods, 30)]), ..Default::default() }),
                scale_down: Some(HpaScalingRules {
                    stabilization_window_seconds: Some(window),
                    policies: Some(vec![HpaScalingPolicy::percent(down_percent, 60)]),
                    ..Default::default()
                }),
            });
            let spec = HpaSpec {
                scale_target_ref: None,
                min_replicas: Some(min),
                max_replicas: max,
                metrics: vec![MetricSpec::resource("cpu", MetricTarget::utilization(target))],
                behavior,
            };
            let mut c = HpaController::new(&spec, ControllerConfig::default());
            let mut replicas = min;
            let mut now = 100 * S;
            for (usage, state, dt) in steps {
                now += dt * S;
                let mut p = pods(replicas as usize, now.saturating_sub(400 * S));
                let mut samples = PodMetrics::new();
                for (i, pod) in p.iter_mut().enumerate() {
                    match (state as usize + i) % 4 {
                        0 => pod.phase = calc::PodPhase::Pending,
                        1 => pod.start_time = Some(now),
                        _ => {}
                    }
                    if !(state as usize + i).is_multiple_of(3) {
                        samples.insert(pod.name.clone(), PodMetric { value_milli: usage, timestamp: now, window_ns: 60 * S });
                    }
                }
                let out = c.reconcile(&ReconcileInput {
                    now,
                    spec_replicas: replicas,
                    status_replicas: replicas,
                    pods: &p,
                    metrics: &[MetricObservation::PerPod(samples)],
                });
                proptest::prop_assert!(out.replicas >= min && out.replicas <= max, "{}", out.explanation);
                let _ = out.explanation.to_string();
                replicas = out.replicas;
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"))),
            ..proptest::test_runner::Config::default()
        })]
        /// With `behavior` (one scale-up policy of `up_pods` pods per 30 s, one scale-down policy
        /// of `down_percent` % per 60 s, a scale-down window of `window` s), every pod ready and
        /// measured, over random usage sequences:
        /// - direction: inside the tolerance (|ratio - 1| <= 0.1) the count holds; above it the
        ///   HPA never scales down; below it never up;
        /// - stabilization: a scale-down never goes below the largest recommendation made in the
        ///   window (upstream: those with a timestamp after now - window);
        /// - rate limits: a scale-up adds at most `up_pods` to the count 30 s ago, a scale-down
        ///   keeps at least (100 - `down_percent`) % of the count 60 s ago (the counts as the
        ///   scale events give them: events at or before the period's start are in the past),
        ///   truncated as upstream truncates it.
        #[test]
        fn direction_stabilization_and_rate_limits_hold(
            min in 1i32..4,
            extra in 1i32..30,
            target in 20i32..100,
            up_pods in 1i32..6,
            down_percent in 1i32..100,
            window in 0i32..300,
            steps in proptest::collection::vec((0i64..3000, 1u64..90), 1..50),
        ) {
            let max = min + extra;
            let spec = HpaSpec {
                scale_target_ref: None,
                min_replicas: Some(min),
                max_replicas: max,
                metrics: vec![MetricSpec::resource("cpu", MetricTarget::utilization(target))],
                behavior: Some(HpaBehavior {
                    scale_up: Some(HpaScalingRules { policies: Some(vec![HpaScalingPolicy::pods(up_pods, 30)]), ..Default::default() }),
                    scale_down: Some(HpaScalingRules {
                        stabilization_window_seconds: Some(window),
                        policies: Some(vec![HpaScalingPolicy::percent(down_percent, 60)]),
                        ..Default::default()
                    }),
                }),
            };
            let mut c = HpaController::new(&spec, ControllerConfig::default());
            let mut replicas = min;
            let mut now = 1000 * S;
            // (time, count after) of every change, from the start.
            let mut history: Vec<(SimTime, i32)> = vec![(0, min)];
            let count_at = |h: &[(SimTime, i32)], t: SimTime| h.iter().rev().find(|(at, _)| *at <= t).map_or(min, |&(_, n)| n);
            for (usage, dt) in steps {
                now += dt * S;
                // Every pod running for 10 minutes (past the CPU initialization period), ready,
                // using `usage` millicores of its 1000m request.
                let p = pods(replicas as usize, now - 600 * S);
                let samples: Vec<i64> = vec![usage; replicas as usize];
                let out = c.reconcile(&ReconcileInput { now, spec_replicas: replicas, status_replicas: replicas, pods: &p, metrics: &[cpu(&samples, now)] });
                let (old, new) = (replicas, out.replicas);
                // Utilization is usage / 10 % (a truncated integer, as upstream's).
                let ratio = (usage / 10) as f64 / target as f64;
                if (ratio - 1.0).abs() <= 0.1 {
                    proptest::prop_assert_eq!(new, old, "inside the tolerance: {}", out.explanation);
                } else if ratio > 1.0 {
                    proptest::prop_assert!(new >= old, "scaled down above target: {}", out.explanation);
                } else {
                    proptest::prop_assert!(new <= old, "scaled up below target: {}", out.explanation);
                }
                if new < old {
                    let cutoff = now.saturating_sub(window as u64 * S);
                    let held = c.recommendations().iter().filter(|r| r.timestamp > cutoff).map(|r| r.replicas).max().unwrap_or(new);
                    proptest::prop_assert!(new >= held.min(old), "below the window's max recommendation {held}: {}", out.explanation);
                    let start = count_at(&history, now.saturating_sub(60 * S));
                    // SPEC.md: a Percent scale-down policy allows int32(periodStart x (1 - p/100)),
                    // truncated (so 1 % of 2 already allows 1).
                    let floor = (f64::from(start) * (1.0 - f64::from(down_percent) / 100.0)) as i32;
                    proptest::prop_assert!(new >= floor, "removed more than {down_percent}% of {start} (down to {floor}): {}", out.explanation);
                }
                if new > old {
                    let start = count_at(&history, now.saturating_sub(30 * S));
                    proptest::prop_assert!(new <= start + up_pods, "added more than {up_pods} to {start}: {}", out.explanation);
                }
                proptest::prop_assert!(new >= min && new <= max);
                if new != old {
                    history.push((now, new));
                }
                replicas = new;
            }
        }
    }

    #[test]
    fn explanation_prints_every_step() {
        let mut c = HpaController::new(&spec(None), ControllerConfig::default());
        let mut p = pods(4, 0);
        p[3].deleting = true;
        let now = 1000 * S;
        let out = c.reconcile(&ReconcileInput {
            now,
            spec_replicas: 3,
            status_replicas: 4,
            pods: &p,
            metrics: &[cpu(&[900, 900, 900, 900], now)],
        });
        let text = out.explanation.to_string();
        for needle in [
            "reconcile at 1000s: spec replicas 3, status replicas 4, min 1, max 20, no behavior (legacy normalization)",
            "no recommendation history: recorded 3 as of now",
            "metric 1/1: cpu resource utilization (percentage of request)",
            "pods: 3 ready, 1 ignored (p3: being deleted)",
            "usage 90% of request (truncated; average 900m per pod), target 50% of request: ratio 1.800",
            "ceil(1.800 x 3 ready pods) = 6",
            "limits: scale-up limit 6, min 1, max 20: 6 (DesiredWithinRange)",
            "=> scale 3 -> 6 (cpu resource utilization (percentage of request) above target)",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }
}
