//! The replica calculator (`replica_calculator.go`, `metrics/utilization.go`): one metric in, one
//! replica proposal out, with the intermediate values the controller would log.
//!
//! Values are `i64` milli-units (`Quantity.MilliValue()`), ratios `f64`, and every operation is
//! done in the order Go does it: utilization is truncated to an integer percent before the
//! ratio is taken, averages are integer divisions, `ceil(ratio * pods)` is computed in `f64`.
//! Where Go converts an out-of-range float to `int32` (undefined there), the conversion
//! saturates here (`as i32`); upstream saturates explicitly in the paths where it matters.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use crate::engine::SimTime;

/// The usage-ratio band in which the controller does not act (`Tolerances`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    pub scale_down: f64,
    pub scale_up: f64,
}

impl Tolerances {
    pub const fn symmetric(t: f64) -> Tolerances {
        Tolerances { scale_down: t, scale_up: t }
    }

    /// `isWithin`: `1 - down <= ratio <= 1 + up`, both ends inclusive.
    pub fn is_within(self, usage_ratio: f64) -> bool {
        (1.0 - self.scale_down) <= usage_ratio && usage_ratio <= (1.0 + self.scale_up)
    }
}

/// The controller flag's default, 0.1 both ways.
impl Default for Tolerances {
    fn default() -> Tolerances {
        Tolerances::symmetric(0.1)
    }
}

// ---------------------------------------------------------------------------------------------
// Pods as the controller sees them
// ---------------------------------------------------------------------------------------------

/// `PodPhase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

/// `ConditionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// The pod's `Ready` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyCondition {
    pub status: ConditionStatus,
    pub last_transition_time: SimTime,
}

/// Resource requests in milli-units, by resource name (`cpu` in millicores, `memory` in
/// milli-bytes, as `Quantity.MilliValue()` gives them).
pub type ResourceList = BTreeMap<String, i64>;

/// One container's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRequests {
    pub name: String,
    pub requests: ResourceList,
}

/// A pod as listed by the target's selector: what `groupPods` and `calculateRequests` read.
/// The name and the containers are shared (`Arc`): the pods of one template share one list of
/// containers, and a pod's name keys its sample and its group without copying the text.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    pub name: Arc<str>,
    pub phase: PodPhase,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `status.startTime`.
    pub start_time: Option<SimTime>,
    /// The `Ready` condition, if the pod has one.
    pub ready: Option<ReadyCondition>,
    /// Regular containers and restartable init containers (sidecars), whose requests are summed.
    pub containers: Arc<[ContainerRequests]>,
    /// Pod-level requests (`spec.resources`, KEP-2837). When set they replace the containers' sum
    /// for metrics that do not name a container (upstream aggregates them with
    /// `resourcehelpers.PodRequests`; autosim takes the pod-level value of the resource).
    pub pod_requests: Option<ResourceList>,
}

impl PodInfo {
    /// A running pod that became ready at `ready_since` (and started then), with one container
    /// named `app` requesting `requests`.
    pub fn running(name: &str, ready_since: SimTime, requests: ResourceList) -> PodInfo {
        PodInfo {
            name: name.into(),
            phase: PodPhase::Running,
            deleting: false,
            start_time: Some(ready_since),
            ready: Some(ReadyCondition { status: ConditionStatus::True, last_transition_time: ready_since }),
            containers: Arc::new([ContainerRequests { name: "app".to_string(), requests }]),
            pod_requests: None,
        }
    }

    /// `podutil.IsPodReady`: the `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        matches!(self.ready, Some(ReadyCondition { status: ConditionStatus::True, .. }))
    }
}

/// One pod's sample (`PodMetric`): the value, when it was taken, and the window it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodMetric {
    pub value_milli: i64,
    pub timestamp: SimTime,
    pub window_ns: u64,
}

/// Samples by pod name (`PodMetricsInfo`). Samples for pods not in the pod list are allowed
/// (upstream calls them superfluous) and enter some averages, as upstream's do.
pub type PodMetrics = BTreeMap<Arc<str>, PodMetric>;

/// The clock and the two readiness settings `groupPods` uses for the `cpu` resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub now: SimTime,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 min).
    pub cpu_initialization_period_ns: u64,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub initial_readiness_delay_ns: u64,
}

// ---------------------------------------------------------------------------------------------
// groupPods
// ---------------------------------------------------------------------------------------------

/// Where `groupPods` puts a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodGroup {
    /// Its sample is used.
    Ready,
    /// Its sample is dropped; on a scale-up it counts as using nothing.
    Unready(UnreadyReason),
    /// It has no sample; filled in conservatively if that changes the decision's direction.
    Missing,
    /// Left out entirely.
    Ignored(IgnoredReason),
}

impl PodGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            PodGroup::Ready => "ready",
            PodGroup::Unready(_) => "unready",
            PodGroup::Missing => "missing",
            PodGroup::Ignored(_) => "ignored",
        }
    }
}

/// Why a pod is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoredReason {
    /// `deletionTimestamp` is set.
    Deleting,
    /// Phase `Failed`.
    Failed,
    /// Phase `Succeeded` (`IsPodTerminal`; older releases counted such pods).
    Succeeded,
}

/// Why a pod is unready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnreadyReason {
    /// Phase `Pending` (older releases ignored such pods instead).
    Pending,
    /// `cpu` only: the pod has no `Ready` condition.
    NoReadyCondition,
    /// `cpu` only: the pod has no start time.
    NoStartTime,
    /// `cpu` only, inside the CPU initialization period: `Ready` is `False`.
    NotReadyInInitialization,
    /// `cpu` only, inside the CPU initialization period: the sample does not cover a full
    /// window since the pod became ready (its timestamp is before transition + window).
    NoFullWindowSinceReady,
    /// `cpu` only, after the CPU initialization period: `Ready` is `False` and its last
    /// transition came within the initial readiness delay of the start (never became ready).
    NeverBecameReady,
}

impl fmt::Display for UnreadyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnreadyReason::Pending => "pending",
            UnreadyReason::NoReadyCondition => "no Ready condition",
            UnreadyReason::NoStartTime => "no start time",
            UnreadyReason::NotReadyInInitialization => "not ready, within the CPU initialization period",
            UnreadyReason::NoFullWindowSinceReady => {
                "sample does not cover a full window since readiness, within the CPU initialization period"
            }
            UnreadyReason::NeverBecameReady => "not ready and never became ready",
        })
    }
}

impl fmt::Display for IgnoredReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IgnoredReason::Deleting => "being deleted",
            IgnoredReason::Failed => "failed",
            IgnoredReason::Succeeded => "succeeded",
        })
    }
}

/// `a + span > b`, in exact integer time (no overflow, no wrap).
fn plus_after(a: SimTime, span_ns: u64, b: SimTime) -> bool {
    u128::from(a) + u128::from(span_ns) > u128::from(b)
}

/// One pod's group, as `groupPods` decides it. `resource` is the resource name of a Resource or
/// ContainerResource metric, `""` for a Pods metric; only `"cpu"` applies the readiness rules.
pub fn classify_pod(pod: &PodInfo, sample: Option<&PodMetric>, resource: &str, r: &Readiness) -> PodGroup {
    if pod.deleting {
        return PodGroup::Ignored(IgnoredReason::Deleting);
    }
    match pod.phase {
        PodPhase::Failed => return PodGroup::Ignored(IgnoredReason::Failed),
        PodPhase::Succeeded => return PodGroup::Ignored(IgnoredReason::Succeeded),
        PodPhase::Pending => return PodGroup::Unready(UnreadyReason::Pending),
        PodPhase::Running | PodPhase::Unknown => {}
    }
    let Some(sample) = sample else { return PodGroup::Missing };
    if resource == "cpu" {
        let (Some(cond), Some(start)) = (pod.ready, pod.start_time) else {
            let why = if pod.ready.is_none() { UnreadyReason::NoReadyCondition } else { UnreadyReason::NoStartTime };
            return PodGroup::Unready(why);
        };
        if plus_after(start, r.cpu_initialization_period_ns, r.now) {
            if cond.status == ConditionStatus::False {
                return PodGroup::Unready(UnreadyReason::NotReadyInInitialization);
            }
            // metric.Timestamp.Before(condition.LastTransitionTime + metric.Window)
            if plus_after(cond.last_transition_time, sample.window_ns, sample.timestamp) {
                return PodGroup::Unready(UnreadyReason::NoFullWindowSinceReady);
            }
        } else if cond.status == ConditionStatus::False
            && plus_after(start, r.initial_readiness_delay_ns, cond.last_transition_time)
        {
            return PodGroup::Unready(UnreadyReason::NeverBecameReady);
        }
    }
    PodGroup::Ready
}

/// The pods by group, in the order they were listed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodGroups {
    pub pods: Vec<(Arc<str>, PodGroup)>,
    /// `readyPodCount`.
    pub ready_count: usize,
}

impl PodGroups {
    fn names(&self, f: impl Fn(PodGroup) -> bool) -> impl Iterator<Item = &str> {
        self.pods.iter().filter(move |(_, g)| f(*g)).map(|(n, _)| &**n)
    }
    pub fn unready(&self) -> impl Iterator<Item = &str> {
        self.names(|g| matches!(g, PodGroup::Unready(_)))
    }
    pub fn missing(&self) -> impl Iterator<Item = &str> {
        self.names(|g| g == PodGroup::Missing)
    }
    pub fn ignored(&self) -> impl Iterator<Item = &str> {
        self.names(|g| matches!(g, PodGroup::Ignored(_)))
    }
    pub fn count(&self, f: impl Fn(PodGroup) -> bool) -> usize {
        self.pods.iter().filter(|(_, g)| f(*g)).count()
    }
    pub fn unready_count(&self) -> usize {
        self.count(|g| matches!(g, PodGroup::Unready(_)))
    }
    pub fn missing_count(&self) -> usize {
        self.count(|g| g == PodGroup::Missing)
    }
    pub fn ignored_count(&self) -> usize {
        self.count(|g| matches!(g, PodGroup::Ignored(_)))
    }
}

/// `groupPods`.
pub fn group_pods(pods: &[PodInfo], metrics: &PodMetrics, resource: &str, r: &Readiness) -> PodGroups {
    let mut g = PodGroups::default();
    for pod in pods {
        let group = classify_pod(pod, metrics.get(&pod.name), resource, r);
        if group == PodGroup::Ready {
            g.ready_count += 1;
        }
        g.pods.push((Arc::clone(&pod.name), group));
    }
    g
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// Why a metric gives no proposal. The messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalcError {
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoMetricsForTargetedPods,
    #[error("missing request for {resource} in container {container} of Pod {pod}")]
    MissingRequest { resource: String, container: String, pod: String },
    #[error("missing pod-level request for {resource} in Pod {pod}")]
    MissingPodLevelRequest { resource: String, pod: String },
    #[error("container {container} not found in Pod {pod}")]
    ContainerNotFound { container: String, pod: String },
    #[error("no metrics returned matched known pods")]
    NoMetricsMatchedKnownPods,
    #[error("unable to calculate ready pods: no pods returned by selector while calculating replica count")]
    NoPodsForReadyCount,
}

/// One metric's replica proposal, and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub replicas: i32,
    /// The first usage ratio (current / target).
    pub usage_ratio: f64,
    /// The current value as the HPA's status reports it.
    pub current: CurrentValue,
    pub basis: Basis,
}

/// The metric's current value (`MetricValueStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentValue {
    /// Percent of the requests (truncated), and the average usage per pod with a sample.
    Utilization { percent: i32, average_milli: i64 },
    /// Average per pod.
    AverageValue { milli: i64 },
    /// The total.
    Value { milli: i64 },
}

/// The path the calculation took.
#[derive(Debug, Clone, PartialEq)]
pub enum Basis {
    /// Resource, ContainerResource and Pods metrics: per-pod samples.
    Pods(PodBasis),
    /// Object and External metrics with a `Value` target.
    Value(ValueBasis),
    /// Object and External metrics with an `AverageValue` target.
    AverageValue(AverageValueBasis),
}

/// How per-pod samples were used.
#[derive(Debug, Clone, PartialEq)]
pub struct PodBasis {
    pub groups: PodGroups,
    /// Samples for pods that are not in the pod list.
    pub unknown_pod_samples: usize,
    pub step: PodStep,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PodStep {
    /// No missing pods and no unready pods on a scale-up: the raw ratio decides, against the
    /// tolerance, and the proposal is `ceil(ratio * ready pods)`.
    Direct { within_tolerance: bool },
    /// Missing or unready pods were filled in and the ratio recomputed.
    Rebalanced(Rebalance),
}

/// The second computation, with missing and unready pods filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rebalance {
    pub missing_as: MissingAs,
    /// Unready pods counted as using nothing (a scale-up with unready pods).
    pub unready_as_zero: bool,
    pub new_ratio: f64,
    /// Samples in the second computation (`len(metrics)`).
    pub samples: usize,
    pub outcome: RebalanceOutcome,
}

/// What missing pods were assumed to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingAs {
    /// No missing pods, or the first ratio was exactly 1 (Resource metrics leave them out then).
    NotFilled,
    /// Nothing (on a scale-up).
    Zero,
    /// On a scale-down, Utilization: this percent of their request, `max(100, target)`.
    PercentOfRequest(i64),
    /// On a scale-down, AverageValue: exactly the target, in milli-units.
    Target(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceOutcome {
    /// The new ratio is within the tolerance: keep the current count.
    WithinTolerance,
    /// The new ratio points the other way: keep the current count.
    DirectionFlip,
    /// `ceil(new ratio * samples)` would move against the ratio: keep the current count.
    WrongWay { computed: i32 },
    /// `ceil(new ratio * samples)`.
    Scaled,
}

/// How a Value target was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueBasis {
    /// Spec replicas.
    pub current_replicas: i32,
    pub step: ValueStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueStep {
    WithinTolerance,
    /// `ceil(ratio * ready pods)`, ready meaning Running with `Ready=True`.
    Scaled {
        ready_pods: i64,
    },
    /// From zero replicas: `ceil(ratio)`, with no tolerance.
    FromZero,
}

/// How an AverageValue target of an Object or External metric was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AverageValueBasis {
    /// Status replicas: the ratio is `usage / (target * status replicas)`.
    pub status_replicas: i32,
    /// The total usage and the per-pod target, in milli-units.
    pub usage_milli: i64,
    pub target_milli: i64,
    pub within_tolerance: bool,
}

// ---------------------------------------------------------------------------------------------
// The calculations
// ---------------------------------------------------------------------------------------------

/// `ceil(x)` to `int32`, saturating (Go: `int32(math.Ceil(x))`).
fn ceil_i32(x: f64) -> i32 {
    x.ceil() as i32
}

/// `calculateRequests`: each pod's request of `resource`, from the named container, from the
/// pod-level requests when set (and no container is named), or summed over its containers.
pub fn calculate_requests<'a>(
    pods: &'a [PodInfo],
    container: Option<&str>,
    resource: &str,
) -> Result<BTreeMap<&'a str, i64>, CalcError> {
    let mut requests = BTreeMap::new();
    for pod in pods {
        let pod_level = pod.pod_requests.as_ref().filter(|r| !r.is_empty() && container.is_none());
        let request = if let Some(pod_level) = pod_level {
            *pod_level.get(resource).ok_or_else(|| CalcError::MissingPodLevelRequest {
                resource: resource.to_string(),
                pod: pod.name.to_string(),
            })?
        } else {
            let mut sum = 0i64;
            let mut found = false;
            for c in pod.containers.iter() {
                if container.is_none_or(|name| name == c.name) {
                    let r = c.requests.get(resource).ok_or_else(|| CalcError::MissingRequest {
                        resource: resource.to_string(),
                        container: c.name.clone(),
                        pod: pod.name.to_string(),
                    })?;
                    sum = sum.wrapping_add(*r);
                }
                if container == Some(c.name.as_str()) {
                    found = true;
                    break;
                }
            }
            if let (Some(name), false) = (container, found) {
                return Err(CalcError::ContainerNotFound { container: name.to_string(), pod: pod.name.to_string() });
            }
            sum
        };
        requests.insert(&*pod.name, request);
    }
    Ok(requests)
}

/// `GetResourceUtilizationRatio`: (ratio, utilization percent, raw average), over the samples of
/// pods that have a request.
fn utilization_ratio(
    metrics: &BTreeMap<&str, i64>,
    requests: &BTreeMap<&str, i64>,
    target_utilization: i32,
) -> Result<(f64, i32, i64), CalcError> {
    let (mut metrics_total, mut requests_total, mut entries) = (0i64, 0i64, 0i64);
    for (name, value) in metrics {
        let Some(request) = requests.get(name) else { continue };
        metrics_total = metrics_total.wrapping_add(*value);
        requests_total = requests_total.wrapping_add(*request);
        entries += 1;
    }
    if requests_total == 0 {
        return Err(CalcError::NoMetricsMatchedKnownPods);
    }
    let utilization = metrics_total.wrapping_mul(100).wrapping_div(requests_total) as i32;
    let ratio = f64::from(utilization) / f64::from(target_utilization);
    Ok((ratio, utilization, metrics_total.wrapping_div(entries)))
}

/// `GetMetricUsageRatio`: (ratio, average), over all samples left.
fn usage_ratio(metrics: &BTreeMap<&str, i64>, target_milli: i64) -> (f64, i64) {
    let total = metrics.values().fold(0i64, |a, v| a.wrapping_add(*v));
    let usage = total.wrapping_div(metrics.len() as i64);
    (usage as f64 / target_milli as f64, usage)
}

/// The samples left after dropping ignored and unready pods (`removeMetricsForPods`).
fn usable_samples<'a>(metrics: &'a PodMetrics, groups: &PodGroups) -> BTreeMap<&'a str, i64> {
    let dropped: BTreeSet<&str> = groups
        .pods
        .iter()
        .filter(|(_, g)| matches!(g, PodGroup::Ignored(_) | PodGroup::Unready(_)))
        .map(|(n, _)| &**n)
        .collect();
    metrics.iter().filter(|&(n, _)| !dropped.contains(&**n)).map(|(n, m)| (&**n, m.value_milli)).collect()
}

fn unknown_samples(metrics: &PodMetrics, pods: &[PodInfo]) -> usize {
    let known: BTreeSet<&str> = pods.iter().map(|p| &*p.name).collect();
    metrics.keys().filter(|&n| !known.contains(&**n)).count()
}

/// The tail shared by both per-pod calculations: the tolerance and direction checks after the
/// re-balanced ratio is known.
fn rebalanced_outcome(
    current_replicas: i32,
    ratio: f64,
    new_ratio: f64,
    samples: usize,
    tolerances: Tolerances,
) -> (i32, RebalanceOutcome) {
    if tolerances.is_within(new_ratio) {
        return (current_replicas, RebalanceOutcome::WithinTolerance);
    }
    if (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
        return (current_replicas, RebalanceOutcome::DirectionFlip);
    }
    let computed = ceil_i32(new_ratio * samples as f64);
    if (new_ratio < 1.0 && computed > current_replicas) || (new_ratio > 1.0 && computed < current_replicas) {
        return (current_replicas, RebalanceOutcome::WrongWay { computed });
    }
    (computed, RebalanceOutcome::Scaled)
}

/// What differs between the two per-pod calculations (utilization of requests, and a plain
/// average value): how samples become a usage ratio, and what a missing pod counts as when the
/// ratio is below 1. Everything else, upstream's `GetResourceReplicas` and
/// `calcPlainMetricReplicas` do alike ([`per_pod_replicas`]).
trait PerPodTarget {
    /// (usage ratio, the current value as the HPA's status reports it).
    fn ratio(&self, samples: &BTreeMap<&str, i64>) -> Result<(f64, CurrentValue), CalcError>;
    /// The sample a missing pod gets when the ratio is below 1, and how the report says it.
    fn missing_below(&self, pod: &str) -> (i64, MissingAs);
}

/// Utilization in percent of the pods' requests.
struct Utilization<'a> {
    requests: BTreeMap<&'a str, i64>,
    target: i32,
}

impl PerPodTarget for Utilization<'_> {
    fn ratio(&self, samples: &BTreeMap<&str, i64>) -> Result<(f64, CurrentValue), CalcError> {
        let (ratio, percent, average_milli) = utilization_ratio(samples, &self.requests, self.target)?;
        Ok((ratio, CurrentValue::Utilization { percent, average_milli }))
    }
    fn missing_below(&self, pod: &str) -> (i64, MissingAs) {
        let fallback = i64::from(self.target.max(100));
        (self.requests[pod].wrapping_mul(fallback) / 100, MissingAs::PercentOfRequest(fallback))
    }
}

/// A per-pod average value, in milli-units.
struct AverageValue(i64);

impl PerPodTarget for AverageValue {
    fn ratio(&self, samples: &BTreeMap<&str, i64>) -> Result<(f64, CurrentValue), CalcError> {
        let (ratio, milli) = usage_ratio(samples, self.0);
        Ok((ratio, CurrentValue::AverageValue { milli }))
    }
    fn missing_below(&self, _pod: &str) -> (i64, MissingAs) {
        (self.0, MissingAs::Target(self.0))
    }
}

/// `GetResourceReplicas`: a Resource (or, with `container`, ContainerResource) metric with a
/// `Utilization` target, in percent of the pods' requests. `current_replicas` is the spec's.
#[allow(clippy::too_many_arguments)]
pub fn resource_utilization_replicas(
    current_replicas: i32,
    target_utilization: i32,
    resource: &str,
    container: Option<&str>,
    pods: &[PodInfo],
    metrics: &PodMetrics,
    tolerances: Tolerances,
    readiness: &Readiness,
) -> Result<Proposal, CalcError> {
    let target = || Ok(Utilization { requests: calculate_requests(pods, container, resource)?, target: target_utilization });
    per_pod_replicas(current_replicas, resource, pods, metrics, tolerances, readiness, target)
}

/// `calcPlainMetricReplicas`: a per-pod `AverageValue` target, in milli-units. `resource` is the
/// resource's name for a Resource metric (`GetRawResourceReplicas`, where `"cpu"` brings the
/// readiness rules) and `""` for a Pods metric (`GetMetricReplicas`).
pub fn plain_metric_replicas(
    current_replicas: i32,
    target_milli: i64,
    resource: &str,
    pods: &[PodInfo],
    metrics: &PodMetrics,
    tolerances: Tolerances,
    readiness: &Readiness,
) -> Result<Proposal, CalcError> {
    per_pod_replicas(current_replicas, resource, pods, metrics, tolerances, readiness, || Ok(AverageValue(target_milli)))
}

/// The per-pod calculation: group the pods, drop ignored and unready ones, and either scale by
/// the ratio directly or re-balance with missing pods (and, on a scale-up, unready ones) filled
/// in. `target` is built once the samples are known to be there (upstream reads the requests
/// only then, so its errors come in that order).
fn per_pod_replicas<T: PerPodTarget>(
    current_replicas: i32,
    resource: &str,
    pods: &[PodInfo],
    metrics: &PodMetrics,
    tolerances: Tolerances,
    readiness: &Readiness,
    target: impl FnOnce() -> Result<T, CalcError>,
) -> Result<Proposal, CalcError> {
    if pods.is_empty() {
        return Err(CalcError::NoPods);
    }
    let groups = group_pods(pods, metrics, resource, readiness);
    let mut samples = usable_samples(metrics, &groups);
    if samples.is_empty() {
        return Err(CalcError::NoMetricsForTargetedPods);
    }
    let target = target()?;
    let (ratio, current) = target.ratio(&samples)?;
    let unknown_pod_samples = unknown_samples(metrics, pods);

    let scale_up_with_unready = groups.unready_count() > 0 && ratio > 1.0;
    if !scale_up_with_unready && groups.missing_count() == 0 {
        let within_tolerance = tolerances.is_within(ratio);
        let replicas = if within_tolerance { current_replicas } else { ceil_i32(ratio * groups.ready_count as f64) };
        let step = PodStep::Direct { within_tolerance };
        return Ok(Proposal {
            replicas,
            usage_ratio: ratio,
            current,
            basis: Basis::Pods(PodBasis { groups, unknown_pod_samples, step }),
        });
    }

    let mut missing_as = MissingAs::NotFilled;
    if groups.missing_count() > 0 {
        if ratio < 1.0 {
            for name in groups.missing() {
                let (value, how) = target.missing_below(name);
                samples.insert(name, value);
                missing_as = how;
            }
        } else if ratio > 1.0 {
            for name in groups.missing() {
                samples.insert(name, 0);
            }
            missing_as = MissingAs::Zero;
        }
    }
    if scale_up_with_unready {
        for name in groups.unready() {
            samples.insert(name, 0);
        }
    }
    let (new_ratio, _) = target.ratio(&samples)?;
    let (replicas, outcome) = rebalanced_outcome(current_replicas, ratio, new_ratio, samples.len(), tolerances);
    let step = PodStep::Rebalanced(Rebalance {
        missing_as,
        unready_as_zero: scale_up_with_unready,
        new_ratio,
        samples: samples.len(),
        outcome,
    });
    Ok(Proposal {
        replicas,
        usage_ratio: ratio,
        current,
        basis: Basis::Pods(PodBasis { groups, unknown_pod_samples, step }),
    })
}

/// `getReadyPodsCount`: pods that are Running with `Ready=True`.
pub fn ready_running_pods(pods: &[PodInfo]) -> i64 {
    pods.iter().filter(|p| p.phase == PodPhase::Running && p.is_ready()).count() as i64
}

/// `GetObjectMetricReplicas` / `GetExternalMetricReplicas` (`getUsageRatioReplicaCount`): a
/// `Value` target against the total `usage_milli`. `current_replicas` is the spec's; from zero
/// the proposal is `ceil(ratio)` with no tolerance and no pod count.
pub fn value_replicas(
    current_replicas: i32,
    usage_milli: i64,
    target_milli: i64,
    pods: &[PodInfo],
    tolerances: Tolerances,
) -> Result<Proposal, CalcError> {
    let ratio = usage_milli as f64 / target_milli as f64;
    let (replicas, step) = if current_replicas != 0 {
        if tolerances.is_within(ratio) {
            (current_replicas, ValueStep::WithinTolerance)
        } else {
            if pods.is_empty() {
                return Err(CalcError::NoPodsForReadyCount);
            }
            let ready_pods = ready_running_pods(pods);
            let f = ratio * ready_pods as f64;
            let replicas = if f > f64::from(i32::MAX) { i32::MAX } else { ceil_i32(f) };
            (replicas, ValueStep::Scaled { ready_pods })
        }
    } else {
        (ceil_i32(ratio), ValueStep::FromZero)
    };
    Ok(Proposal {
        replicas,
        usage_ratio: ratio,
        current: CurrentValue::Value { milli: usage_milli },
        basis: Basis::Value(ValueBasis { current_replicas, step }),
    })
}

/// `GetObjectPerPodMetricReplicas` / `GetExternalPerPodMetricReplicas`: an `AverageValue`
/// target against the total `usage_milli`, per **status** replica. Outside the tolerance the
/// proposal is `ceil(usage / target)`, saturating at `i32::MAX`; the reported average is
/// `ceil(usage / status replicas)` (0 with no replicas).
pub fn average_value_replicas(
    status_replicas: i32,
    usage_milli: i64,
    target_milli: i64,
    tolerances: Tolerances,
) -> Proposal {
    let ratio = usage_milli as f64 / (target_milli as f64 * f64::from(status_replicas));
    let within_tolerance = tolerances.is_within(ratio);
    let replicas = if within_tolerance {
        status_replicas
    } else {
        let r = (usage_milli as f64 / target_milli as f64).ceil();
        if r > f64::from(i32::MAX) {
            i32::MAX
        } else {
            r as i32
        }
    };
    Proposal {
        replicas,
        usage_ratio: ratio,
        current: CurrentValue::AverageValue { milli: per_pod_usage(usage_milli, status_replicas) },
        basis: Basis::AverageValue(AverageValueBasis { status_replicas, usage_milli, target_milli, within_tolerance }),
    }
}

/// `getPerPodUsage`.
fn per_pod_usage(usage: i64, status_replicas: i32) -> i64 {
    if usage as f64 >= i64::MAX as f64 {
        return i64::MAX;
    }
    if status_replicas == 0 {
        return 0;
    }
    (usage as f64 / f64::from(status_replicas)).ceil() as i64
}

/// The total of an External metric's series for a `Value` target: positive overflow caps at
/// `i64::MAX`.
pub fn external_value_sum(values: &[i64]) -> i64 {
    let mut usage = 0i64;
    for &v in values {
        if v > 0 && usage > i64::MAX - v {
            return i64::MAX;
        }
        usage = usage.wrapping_add(v);
    }
    usage
}

/// The total of an External metric's series for an `AverageValue` target: upstream adds and
/// takes any negative running total for an overflow (so a negative series also gives
/// `i64::MAX`).
pub fn external_average_sum(values: &[i64]) -> i64 {
    let mut usage = 0i64;
    for &v in values {
        usage = usage.wrapping_add(v);
        if usage < 0 {
            return i64::MAX;
        }
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const NOW: SimTime = 10_000 * S;

    fn readiness() -> Readiness {
        Readiness { now: NOW, cpu_initialization_period_ns: 300 * S, initial_readiness_delay_ns: 30 * S }
    }

    fn pod(name: &str, cpu: i64) -> PodInfo {
        PodInfo::running(name, NOW - 3600 * S, [("cpu".to_string(), cpu)].into())
    }

    fn samples(values: &[(&str, i64)]) -> PodMetrics {
        values
            .iter()
            .map(|&(n, v)| (n.into(), PodMetric { value_milli: v, timestamp: NOW, window_ns: 60 * S }))
            .collect()
    }

    #[test]
    fn tolerance_is_inclusive_at_both_ends() {
        let t = Tolerances { scale_down: 0.25, scale_up: 0.5 };
        assert!(t.is_within(0.75));
        assert!(t.is_within(1.5));
        assert!(!t.is_within(0.7499));
        assert!(!t.is_within(1.5001));
        // 1.1 is exactly the boundary in f64 arithmetic (1.0 + 0.1 == 1.1).
        assert!(Tolerances::default().is_within(1.1));
        assert!(Tolerances::default().is_within(0.9));
    }

    #[test]
    fn utilization_at_the_tolerance_boundary_keeps_the_count() {
        // 3 pods at 55% of request with a 50% target: ratio 1.1, inside (inclusive).
        let pods = [pod("a", 1000), pod("b", 1000), pod("c", 1000)];
        let m = samples(&[("a", 550), ("b", 550), ("c", 550)]);
        let p =
            resource_utilization_replicas(3, 50, "cpu", None, &pods, &m, Tolerances::default(), &readiness()).unwrap();
        assert_eq!((p.replicas, p.usage_ratio), (3, 1.1));
        // 56%: 1.12, outside: ceil(1.12 * 3) = 4.
        let m = samples(&[("a", 560), ("b", 560), ("c", 560)]);
        let p =
            resource_utilization_replicas(3, 50, "cpu", None, &pods, &m, Tolerances::default(), &readiness()).unwrap();
        assert_eq!(p.replicas, 4);
    }

    #[test]
    fn utilization_is_truncated_before_the_ratio() {
        // 599m of 1000m is 59.9%, truncated to 59%: 59/50 = 1.18 -> ceil(1.18 * 1) = 2.
        let pods = [pod("a", 1000)];
        let p = resource_utilization_replicas(
            1,
            50,
            "cpu",
            None,
            &pods,
            &samples(&[("a", 599)]),
            Tolerances::default(),
            &readiness(),
        )
        .unwrap();
        assert_eq!(p.current, CurrentValue::Utilization { percent: 59, average_milli: 599 });
        assert_eq!(p.replicas, 2);
    }

    #[test]
    fn missing_pods_on_scale_down_use_the_target_above_100_percent() {
        // Target 150%: a missing pod counts as 150% of its request on a scale-down.
        let pods = [pod("a", 1000), pod("b", 1000)];
        let m = samples(&[("a", 300)]);
        let p =
            resource_utilization_replicas(2, 150, "cpu", None, &pods, &m, Tolerances::default(), &readiness()).unwrap();
        let Basis::Pods(b) = &p.basis else { panic!() };
        let PodStep::Rebalanced(r) = b.step else { panic!() };
        assert_eq!(r.missing_as, MissingAs::PercentOfRequest(150));
        // (300 + 1500) / 2000 = 90% -> 0.6 -> ceil(0.6 * 2) = 2 = current: Scaled to the same.
        assert_eq!(r.new_ratio, 0.6);
        assert_eq!(p.replicas, 2);
    }

    #[test]
    fn readiness_rules_apply_to_cpu_only() {
        let r = readiness();
        let mut p = pod("a", 1000);
        p.start_time = Some(NOW - 10 * S);
        p.ready = Some(ReadyCondition { status: ConditionStatus::False, last_transition_time: NOW - 10 * S });
        let s = PodMetric { value_milli: 1, timestamp: NOW, window_ns: 60 * S };
        assert_eq!(classify_pod(&p, Some(&s), "cpu", &r), PodGroup::Unready(UnreadyReason::NotReadyInInitialization));
        assert_eq!(classify_pod(&p, Some(&s), "memory", &r), PodGroup::Ready);
        assert_eq!(classify_pod(&p, Some(&s), "", &r), PodGroup::Ready);
        // Missing comes before readiness.
        assert_eq!(classify_pod(&p, None, "cpu", &r), PodGroup::Missing);
        // Pending before missing, deletion before everything.
        p.phase = PodPhase::Pending;
        assert_eq!(classify_pod(&p, None, "", &r), PodGroup::Unready(UnreadyReason::Pending));
        p.deleting = true;
        assert_eq!(classify_pod(&p, None, "", &r), PodGroup::Ignored(IgnoredReason::Deleting));
    }

    #[test]
    fn cpu_initialization_period_boundaries() {
        let r = readiness();
        let mut p = pod("a", 1000);
        // Started exactly cpu-initialization-period ago: no longer "within" (start + period > now
        // is false), so a Ready=True pod with a fresh-transition sample counts.
        p.start_time = Some(NOW - 300 * S);
        p.ready = Some(ReadyCondition { status: ConditionStatus::True, last_transition_time: NOW - S });
        let s = PodMetric { value_milli: 1, timestamp: NOW, window_ns: 60 * S };
        assert_eq!(classify_pod(&p, Some(&s), "cpu", &r), PodGroup::Ready);
        // One nanosecond later it is within, and the sample does not cover a window since ready.
        p.start_time = Some(NOW - 300 * S + 1);
        assert_eq!(classify_pod(&p, Some(&s), "cpu", &r), PodGroup::Unready(UnreadyReason::NoFullWindowSinceReady));
        // A sample exactly one window after the transition counts.
        let s = PodMetric { value_milli: 1, timestamp: NOW - S + 60 * S, window_ns: 60 * S };
        assert_eq!(classify_pod(&p, Some(&s), "cpu", &r), PodGroup::Ready);
        // After the period, Ready=False counts unless it never became ready (transition within
        // the initial readiness delay of the start).
        p.start_time = Some(NOW - 600 * S);
        p.ready = Some(ReadyCondition { status: ConditionStatus::False, last_transition_time: NOW - 600 * S + 30 * S });
        assert_eq!(classify_pod(&p, Some(&s), "cpu", &r), PodGroup::Ready);
        p.ready = Some(ReadyCondition { status: ConditionStatus::False, last_transition_time: NOW - 600 * S + 29 * S });
        assert_eq!(classify_pod(&p, Some(&s), "cpu", &r), PodGroup::Unready(UnreadyReason::NeverBecameReady));
        // Unknown is neither True nor False.
        p.ready = Some(ReadyCondition { status: ConditionStatus::Unknown, last_transition_time: NOW - 600 * S });
        assert_eq!(classify_pod(&p, Some(&s), "cpu", &r), PodGroup::Ready);
    }

    #[test]
    fn container_requests() {
        let mut p = pod("a", 100);
        let side = ContainerRequests { name: "side".into(), requests: [("cpu".to_string(), 50)].into() };
        p.containers = [p.containers[0].clone(), side].into();
        let pods = [p];
        assert_eq!(calculate_requests(&pods, None, "cpu").unwrap()["a"], 150);
        assert_eq!(calculate_requests(&pods, Some("side"), "cpu").unwrap()["a"], 50);
        assert_eq!(
            calculate_requests(&pods, Some("nope"), "cpu"),
            Err(CalcError::ContainerNotFound { container: "nope".into(), pod: "a".into() })
        );
        assert!(matches!(calculate_requests(&pods, None, "memory"), Err(CalcError::MissingRequest { .. })));
        let mut pods = pods;
        pods[0].pod_requests = Some([("cpu".to_string(), 400)].into());
        assert_eq!(calculate_requests(&pods, None, "cpu").unwrap()["a"], 400);
        assert_eq!(calculate_requests(&pods, Some("side"), "cpu").unwrap()["a"], 50);
    }

    #[test]
    fn value_and_average_value_saturate() {
        let pods = [pod("a", 1)];
        let p = value_replicas(1, i64::MAX, 1, &pods, Tolerances::default()).unwrap();
        assert_eq!(p.replicas, i32::MAX);
        let p = average_value_replicas(1, i64::MAX, 1, Tolerances::default());
        assert_eq!(p.replicas, i32::MAX);
        assert_eq!(p.current, CurrentValue::AverageValue { milli: i64::MAX });
        assert_eq!(value_replicas(2, 10, 1, &[], Tolerances::default()), Err(CalcError::NoPodsForReadyCount));
        assert_eq!(external_value_sum(&[i64::MAX, 1]), i64::MAX);
        assert_eq!(external_value_sum(&[5, -2]), 3);
        assert_eq!(external_average_sum(&[5, -7]), i64::MAX);
    }

    #[test]
    fn errors() {
        let r = readiness();
        let t = Tolerances::default();
        assert_eq!(
            resource_utilization_replicas(1, 50, "cpu", None, &[], &samples(&[]), t, &r),
            Err(CalcError::NoPods)
        );
        let pods = [pod("a", 1000)];
        assert_eq!(
            plain_metric_replicas(1, 50, "", &pods, &samples(&[("zz", 1)]), t, &r).map(|p| p.replicas),
            // A sample of an unknown pod is still a sample; "a" is missing: ratio 0.02 < 1, the
            // missing pod is put at the target, (1 + 50) / 2 = 25 -> 0.5 -> ceil(0.5 * 2) = 1.
            Ok(1)
        );
        let mut down = pod("a", 1000);
        down.phase = PodPhase::Failed;
        assert_eq!(
            plain_metric_replicas(1, 50, "", &[down], &samples(&[("a", 1)]), t, &r),
            Err(CalcError::NoMetricsForTargetedPods)
        );
        let mut zero = pod("a", 0);
        Arc::make_mut(&mut zero.containers)[0].requests.insert("cpu".into(), 0);
        assert_eq!(
            resource_utilization_replicas(1, 50, "cpu", None, &[zero], &samples(&[("a", 1)]), t, &r),
            Err(CalcError::NoMetricsMatchedKnownPods)
        );
    }
}
