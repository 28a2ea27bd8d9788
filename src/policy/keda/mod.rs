//! KEDA's ScaledObject, as kedacore/keda computes it: the ScaledObject spec, the HPA it creates
//! ([`hpa_for_scaled_object`]), the 0 <-> 1 (and idle) decisions of its polling loop
//! ([`request_scale`], `scale_executor`'s `RequestScale`) and the fallback metric it serves when
//! a scaler keeps failing ([`get_metrics_with_fallback`]).
//!
//! KEDA splits the work with the HPA: its polling loop (every `pollingInterval`, 30 s) asks each
//! trigger whether it is active and scales the target between zero (or `idleReplicaCount`) and
//! `max(minReplicaCount, 1)`; from there the HPA it created scales 1..N on External metrics,
//! which KEDA's metrics adapter serves when the HPA asks (every 15 s). The engine drives both
//! loops; everything here is pure.
//!
//! Triggers: a `cpu` or `memory` trigger becomes a Resource (or, with `containerName`,
//! ContainerResource) metric of the HPA, as KEDA's cpu/memory scaler makes it. Any other trigger
//! becomes an External metric named `s<index>-<name or type>`; its target is the trigger's
//! `metadata.threshold` (the key of KEDA's prometheus scaler; each built-in scaler has its own
//! key, autosim's simulated scalers use this one) and its activation threshold
//! `metadata.activationThreshold` (default 0).
//!
//! Not modelled: `scalingModifiers` (composite metrics: refused by [`hpa_for_scaled_object`]),
//! `restoreToOriginalReplicaCount` (accepted, it only matters when the ScaledObject is deleted),
//! the `paused` annotation without a count (the loop stops), and the fallback
//! `behavior: triggerScoped` of KEDA's newest releases.


pub mod forecast_scaler;
pub mod policy;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::policy::hpa::spec::{
    HpaBehavior, HpaScalingRules, HpaSpec, LabelSelector, MetricIdentifier, MetricSpec, MetricTarget, MetricTargetType,
    Quantity, ScalingPolicySelect,
};
use crate::engine::SimTime;

/// `pollingInterval` when unset (`withtriggers_types.go`).
pub const DEFAULT_POLLING_INTERVAL_S: i32 = 30;
/// `cooldownPeriod` when unset (`scale_executor.go`).
pub const DEFAULT_COOLDOWN_PERIOD_S: i32 = 300;
/// `initialCooldownPeriod` when unset.
pub const DEFAULT_INITIAL_COOLDOWN_PERIOD_S: i32 = 0;
/// The HPA's `maxReplicas` when `maxReplicaCount` is unset (`controllers/keda/hpa.go`).
pub const DEFAULT_HPA_MAX_REPLICAS: i32 = 100;
/// The HPA's `minReplicas` when `minReplicaCount` is unset or 0.
pub const DEFAULT_HPA_MIN_REPLICAS: i32 = 1;
/// The label KEDA puts on the selector of each External metric.
pub const SCALED_OBJECT_NAME_LABEL: &str = "scaledobject.keda.sh/name";

const NS_PER_S: i128 = 1_000_000_000;

/// `ScaledObjectSpec` (`apis/keda/v1alpha1`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaledObjectSpec {
    /// The workload (optional: autosim knows the target from context).
    #[serde(default, alias = "scaleTargetRef")]
    pub scale_target_ref: Option<ScaleTarget>,
    #[serde(default, alias = "pollingInterval")]
    pub polling_interval: Option<i32>,
    #[serde(default, alias = "initialCooldownPeriod")]
    pub initial_cooldown_period: Option<i32>,
    #[serde(default, alias = "cooldownPeriod")]
    pub cooldown_period: Option<i32>,
    #[serde(default, alias = "idleReplicaCount")]
    pub idle_replica_count: Option<i32>,
    #[serde(default, alias = "minReplicaCount")]
    pub min_replica_count: Option<i32>,
    #[serde(default, alias = "maxReplicaCount")]
    pub max_replica_count: Option<i32>,
    #[serde(default)]
    pub advanced: Option<AdvancedConfig>,
    pub triggers: Vec<ScaleTrigger>,
    #[serde(default)]
    pub fallback: Option<Fallback>,
}

/// `ScaleTarget`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleTarget {
    pub name: String,
    #[serde(default, alias = "apiVersion")]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default, alias = "envSourceContainerName")]
    pub env_source_container_name: Option<String>,
}

/// `AdvancedConfig`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvancedConfig {
    #[serde(default, alias = "horizontalPodAutoscalerConfig")]
    pub horizontal_pod_autoscaler_config: Option<HorizontalPodAutoscalerConfig>,
    #[serde(default, alias = "restoreToOriginalReplicaCount")]
    pub restore_to_original_replica_count: Option<bool>,
    #[serde(default, alias = "scalingModifiers")]
    pub scaling_modifiers: Option<ScalingModifiers>,
}

/// `HorizontalPodAutoscalerConfig`: the HPA's name and its `behavior`, copied as is.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HorizontalPodAutoscalerConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub behavior: Option<HpaBehavior>,
}

/// `ScalingModifiers` (accepted, not modelled).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingModifiers {
    #[serde(default)]
    pub formula: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default, alias = "activationTarget")]
    pub activation_target: Option<String>,
    #[serde(default, alias = "metricType")]
    pub metric_type: Option<MetricTargetType>,
}

/// `ScaleTriggers`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleTrigger {
    /// The scaler: `cpu`, `memory`, `prometheus`, `external`, ...
    pub r#type: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, alias = "useCachedMetrics")]
    pub use_cached_metrics: bool,
    /// String values, as in a manifest (numbers and booleans are accepted and kept as text).
    #[serde(default, deserialize_with = "string_map")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, alias = "authenticationRef")]
    pub authentication_ref: Option<AuthenticationRef>,
    /// The HPA target type of the trigger's metric (External metrics default to `AverageValue`).
    #[serde(default, alias = "metricType")]
    pub metric_type: Option<MetricTargetType>,
}

/// `AuthenticationRef` (carried, not used).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationRef {
    pub name: String,
    #[serde(default)]
    pub kind: Option<String>,
}

/// `Fallback`: what the metrics adapter serves once a trigger has failed more than
/// `failureThreshold` times in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    #[serde(alias = "failureThreshold")]
    pub failure_threshold: i32,
    pub replicas: i32,
    #[serde(default)]
    pub behavior: FallbackBehavior,
}

/// `fallback.behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum FallbackBehavior {
    /// `fallback.replicas`.
    #[default]
    #[serde(rename = "static")]
    Static,
    /// The target's current replicas.
    #[serde(rename = "currentReplicas", alias = "current_replicas")]
    CurrentReplicas,
    /// `max(current, fallback.replicas)`.
    #[serde(rename = "currentReplicasIfHigher", alias = "current_replicas_if_higher")]
    CurrentReplicasIfHigher,
    /// `min(current, fallback.replicas)`.
    #[serde(rename = "currentReplicasIfLower", alias = "current_replicas_if_lower")]
    CurrentReplicasIfLower,
}

/// The annotations that change KEDA's decisions (`autoscaling.keda.sh/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KedaAnnotations {
    /// `paused-replicas`: hold the target at this count.
    #[serde(default)]
    pub paused_replicas: Option<i32>,
    /// `paused-scale-in`: no scale to zero / idle; the HPA's scale-down is `Disabled`.
    #[serde(default)]
    pub paused_scale_in: bool,
    /// `paused-scale-out`: no scale from zero / idle; the HPA's scale-up is `Disabled`.
    #[serde(default)]
    pub paused_scale_out: bool,
    /// `force-activation`: treat the triggers as active.
    #[serde(default)]
    pub force_activation: bool,
}

fn string_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        F(f64),
        B(bool),
    }
    let raw = BTreeMap::<String, Scalar>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::S(s) => s,
                Scalar::I(i) => i.to_string(),
                Scalar::F(f) => f.to_string(),
                Scalar::B(b) => b.to_string(),
            };
            (k, v)
        })
        .collect())
}

/// A problem with a ScaledObject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KedaError {
    #[error("trigger {index} ({kind}): {message}")]
    Trigger { index: usize, kind: String, message: String },
    #[error("metricName {0} defined multiple times in the ScaledObject")]
    DuplicateMetricName(String),
    #[error("{0}")]
    Invalid(String),
    #[error("scalingModifiers are not modelled by autosim")]
    ScalingModifiersUnsupported,
}

impl ScaledObjectSpec {
    pub fn polling_interval_s(&self) -> i32 {
        self.polling_interval.unwrap_or(DEFAULT_POLLING_INTERVAL_S)
    }

    pub fn cooldown_period_s(&self) -> i32 {
        self.cooldown_period.unwrap_or(DEFAULT_COOLDOWN_PERIOD_S)
    }

    pub fn initial_cooldown_period_s(&self) -> i32 {
        self.initial_cooldown_period.unwrap_or(DEFAULT_INITIAL_COOLDOWN_PERIOD_S)
    }

    /// `minReplicaCount`, 0 when unset.
    pub fn min_replica_count(&self) -> i32 {
        self.min_replica_count.unwrap_or(0)
    }

    /// `getHPAMinReplicas`: `minReplicaCount` if positive, else 1.
    pub fn hpa_min_replicas(&self) -> i32 {
        self.min_replica_count.filter(|m| *m > 0).unwrap_or(DEFAULT_HPA_MIN_REPLICAS)
    }

    /// `getHPAMaxReplicas`: `maxReplicaCount`, else 100.
    pub fn hpa_max_replicas(&self) -> i32 {
        self.max_replica_count.unwrap_or(DEFAULT_HPA_MAX_REPLICAS)
    }

    /// Every trigger is `cpu` or `memory`: the ScaledObject is always active.
    pub fn only_resource_triggers(&self) -> bool {
        !self.triggers.is_empty() && self.triggers.iter().all(|t| is_resource_trigger(&t.r#type))
    }

    /// The admission webhook's checks that the decisions rely on.
    pub fn validate(&self) -> Result<(), KedaError> {
        let (min, max) = (self.min_replica_count(), self.hpa_max_replicas());
        if min > max {
            return Err(KedaError::Invalid(format!("MinReplicaCount={min} must be less than MaxReplicaCount={max}")));
        }
        if let Some(idle) = self.idle_replica_count {
            if idle >= min {
                return Err(KedaError::Invalid(format!(
                    "IdleReplicaCount={idle} must be less than MinReplicaCount={min}"
                )));
            }
        }
        if self.triggers.is_empty() {
            return Err(KedaError::Invalid("no triggers defined in the ScaledObject".into()));
        }
        if self.only_resource_triggers() && min == 0 {
            return Err(KedaError::Invalid(
                "scaledobject with only cpu/memory triggers can't have minReplicaCount 0".into(),
            ));
        }
        if let Some(f) = self.fallback {
            if f.failure_threshold < 0 || f.replicas < 0 {
                return Err(KedaError::Invalid("fallback.failureThreshold and fallback.replicas must be >= 0".into()));
            }
        }
        Ok(())
    }
}

fn is_resource_trigger(kind: &str) -> bool {
    kind == "cpu" || kind == "memory"
}

// ---------------------------------------------------------------------------------------------
// The HPA KEDA creates
// ---------------------------------------------------------------------------------------------

/// The HPA metric of trigger `index` (`GetMetricSpecForScaling` of its scaler, with the
/// ScaledObject's selector label added to External metrics).
pub fn trigger_metric_spec(scaled_object: &str, index: usize, t: &ScaleTrigger) -> Result<MetricSpec, KedaError> {
    let fail = |message: String| KedaError::Trigger { index, kind: t.r#type.clone(), message };
    if is_resource_trigger(&t.r#type) {
        let metric_type = match (t.metadata.get("type"), t.metric_type) {
            (Some(_), Some(_)) => {
                return Err(fail("only one of trigger.metadata.type or trigger.metricType should be defined".into()))
            }
            (Some(s), None) => match s.as_str() {
                "Utilization" => MetricTargetType::Utilization,
                "AverageValue" => MetricTargetType::AverageValue,
                other => {
                    return Err(fail(format!(
                        "unknown metric type: {other}, allowed values are 'Utilization' or 'AverageValue'"
                    )))
                }
            },
            (None, Some(mt)) => mt,
            (None, None) => {
                return Err(fail("no type given in neither trigger.metadata.type or trigger.metricType".into()))
            }
        };
        let value = t.metadata.get("value").filter(|v| !v.is_empty()).ok_or_else(|| fail("no value given".into()))?;
        let target = match metric_type {
            MetricTargetType::Utilization => {
                let u: i32 = value.parse().map_err(|_| fail(format!("invalid utilization {value:?}")))?;
                MetricTarget::utilization(u)
            }
            MetricTargetType::AverageValue => MetricTarget::average_value(Quantity::parse(value).map_err(fail)?),
            MetricTargetType::Value => {
                return Err(fail(
                    "unknown metric type: Value, allowed values are 'Utilization' or 'AverageValue'".into(),
                ))
            }
        };
        return Ok(match t.metadata.get("containerName").filter(|c| !c.is_empty()) {
            Some(c) => MetricSpec::container_resource(&t.r#type, c, target),
            None => MetricSpec::resource(&t.r#type, target),
        });
    }
    let metric_type = t.metric_type.unwrap_or(MetricTargetType::AverageValue);
    let threshold = t.metadata.get("threshold").ok_or_else(|| fail("no threshold given".into()))?;
    let threshold = Quantity::parse(threshold).map_err(fail)?;
    let target = match metric_type {
        MetricTargetType::AverageValue => MetricTarget::average_value(threshold),
        MetricTargetType::Value => MetricTarget::value(threshold),
        MetricTargetType::Utilization => {
            return Err(fail(
                "'Utilization' metric type is unsupported for external metrics, allowed values are 'Value' or \
                 'AverageValue'"
                    .into(),
            ))
        }
    };
    let name = format!("s{index}-{}", t.name.as_deref().unwrap_or(&t.r#type));
    let mut spec = MetricSpec::external(&name, target);
    if let Some(e) = &mut spec.external {
        e.metric = MetricIdentifier {
            name,
            selector: Some(LabelSelector {
                match_labels: [(SCALED_OBJECT_NAME_LABEL.to_string(), scaled_object.to_string())].into(),
                match_expressions: Vec::new(),
            }),
        };
    }
    Ok(spec)
}

/// `newHPAForScaledObject`: the `autoscaling/v2` HPA KEDA creates for ScaledObject `name`.
/// `minReplicas` is `max(minReplicaCount, 1)` (a paused count pins min and max), the metrics are
/// the triggers' sorted by type, and `behavior` is `advanced.horizontalPodAutoscalerConfig`'s,
/// unset if absent (so the HPA takes the legacy path), with a direction `Disabled` when its
/// scaling is paused.
pub fn hpa_for_scaled_object(
    name: &str,
    so: &ScaledObjectSpec,
    annotations: &KedaAnnotations,
) -> Result<HpaSpec, KedaError> {
    if so.advanced.as_ref().is_some_and(|a| a.scaling_modifiers.is_some()) {
        return Err(KedaError::ScalingModifiersUnsupported);
    }
    let mut metrics = Vec::with_capacity(so.triggers.len());
    let mut external_names: Vec<String> = Vec::new();
    for (i, t) in so.triggers.iter().enumerate() {
        let spec = trigger_metric_spec(name, i, t)?;
        if let Some(e) = &spec.external {
            if external_names.contains(&e.metric.name) {
                return Err(KedaError::DuplicateMetricName(e.metric.name.clone()));
            }
            external_names.push(e.metric.name.clone());
        }
        metrics.push(spec);
    }
    // Upstream sorts by the type's name (sort.Slice, not stable; stable here).
    metrics.sort_by(|a, b| a.r#type.as_str().cmp(b.r#type.as_str()));

    let mut behavior =
        so.advanced.as_ref().and_then(|a| a.horizontal_pod_autoscaler_config.as_ref()).and_then(|c| c.behavior.clone());
    let disable = |rules: &mut Option<HpaScalingRules>| {
        rules.get_or_insert_with(HpaScalingRules::default).select_policy = Some(ScalingPolicySelect::Disabled);
    };
    if annotations.paused_scale_in {
        disable(&mut behavior.get_or_insert_with(HpaBehavior::default).scale_down);
    }
    if annotations.paused_scale_out {
        disable(&mut behavior.get_or_insert_with(HpaBehavior::default).scale_up);
    }

    let (mut min, mut max) = (so.hpa_min_replicas(), so.hpa_max_replicas());
    if let Some(paused) = annotations.paused_replicas {
        // The HPA's minReplicas can't be 0.
        let p = paused.max(1);
        (min, max) = (p, p);
    }
    Ok(HpaSpec { scale_target_ref: None, min_replicas: Some(min), max_replicas: max, metrics, behavior })
}

// ---------------------------------------------------------------------------------------------
// Activity
// ---------------------------------------------------------------------------------------------

/// A trigger's `activationThreshold` (`metadata.activationThreshold`, or `activationValue` for
/// cpu/memory), 0 when unset.
pub fn activation_threshold(t: &ScaleTrigger) -> Result<f64, String> {
    let key = if is_resource_trigger(&t.r#type) { "activationValue" } else { "activationThreshold" };
    match t.metadata.get(key) {
        None => Ok(0.0),
        Some(v) => v.trim().parse::<f64>().map_err(|_| format!("invalid {key} {v:?}")),
    }
}

/// A built-in scaler's activity: the value is strictly above the activation threshold.
pub fn trigger_is_active(value: f64, activation_threshold: f64) -> bool {
    value > activation_threshold
}

// ---------------------------------------------------------------------------------------------
// RequestScale
// ---------------------------------------------------------------------------------------------

/// What `RequestScale` reads besides the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleRequest {
    pub now: SimTime,
    /// The target's spec replicas.
    pub current_replicas: i32,
    /// Any trigger active (or only cpu/memory triggers).
    pub is_active: bool,
    /// Any trigger returned an error.
    pub is_error: bool,
    /// The ScaledObject's `status.lastActiveTime`.
    pub last_active_time: Option<SimTime>,
    /// The ScaledObject's creation time (for `initialCooldownPeriod`).
    pub creation_time: SimTime,
}

/// What `RequestScale` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorAction {
    /// `paused-replicas`: the target is held at this count; nothing else runs.
    Paused { replicas: i32 },
    /// Active from zero (or below min in idle mode): scaled to `max(minReplicaCount, 1)`.
    ScaleFromZeroOrIdle { to: i32 },
    /// Would scale from zero / idle, but scale-out is paused.
    ScaleOutPaused,
    /// Active with some trigger errors: Ready=Unknown (`PartialTriggerError`), nothing scaled.
    PartialTriggerError,
    /// Active and above zero: `lastActiveTime` = now, the HPA does the 1..N scaling.
    Active,
    /// Inactive with errors and a fallback: left to the HPA (fallback metric).
    FallbackPending,
    /// Inactive with errors and no fallback: Ready=False (`TriggerError`), nothing scaled.
    TriggerError,
    /// Inactive past the cooldown: scaled to `idleReplicaCount` (idle) or `minReplicaCount`.
    ScaleToZeroOrIdle { to: i32, idle: bool },
    /// Inactive within the cooldown (`ScalerCooldown`); scaling in is possible once `now` is
    /// strictly after `cooldown_end`.
    CoolingDown { cooldown_end: SimTime },
    /// Would scale to zero / idle, but scale-in is paused.
    ScaleInPaused,
    /// Inactive, no idle mode, below `minReplicaCount`: raised to it.
    RaiseToMin { to: i32 },
    /// Inactive, nothing to do.
    NoChange,
}

/// The decision of one `RequestScale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleDecision {
    pub action: ExecutorAction,
    /// The target's new spec replicas, when KEDA sets them.
    pub set_replicas: Option<i32>,
    /// `status.lastActiveTime` afterwards.
    pub last_active_time: Option<SimTime>,
    /// The `Active` condition afterwards (active or forced).
    pub active: bool,
}

fn plus_s(t: SimTime, s: i32) -> i128 {
    i128::from(t) + i128::from(s) * NS_PER_S
}

/// `RequestScale` (`scale_scaledobjects.go`), assuming the scale update succeeds.
pub fn request_scale(so: &ScaledObjectSpec, ann: &KedaAnnotations, r: &ScaleRequest) -> ScaleDecision {
    let current = r.current_replicas;
    let mut d = ScaleDecision {
        action: ExecutorAction::NoChange,
        set_replicas: None,
        last_active_time: r.last_active_time,
        active: r.is_active || ann.force_activation,
    };
    if let Some(p) = ann.paused_replicas {
        d.action = ExecutorAction::Paused { replicas: p };
        d.set_replicas = (p != current).then_some(p);
        return d;
    }
    let min = so.min_replica_count();
    if r.is_active || ann.force_activation {
        if (so.idle_replica_count.is_some() && current < min) || current == 0 {
            // scaleFromZeroOrIdle
            if ann.paused_scale_out {
                d.action = ExecutorAction::ScaleOutPaused;
            } else {
                let to = if min > 0 { min } else { 1 };
                d.action = ExecutorAction::ScaleFromZeroOrIdle { to };
                d.set_replicas = Some(to);
                d.last_active_time = Some(r.now);
            }
        } else if r.is_error {
            d.action = ExecutorAction::PartialTriggerError;
        } else {
            d.action = ExecutorAction::Active;
            d.last_active_time = Some(r.now);
        }
        return d;
    }
    if r.is_error && so.fallback.is_some_and(|f| f.replicas != 0) {
        d.action = ExecutorAction::FallbackPending;
    } else if r.is_error && so.fallback.is_none() {
        d.action = ExecutorAction::TriggerError;
    } else if so.idle_replica_count.is_some_and(|idle| current > idle) || (current > 0 && min == 0) {
        // scaleToZeroOrIdle
        if ann.paused_scale_in {
            d.action = ExecutorAction::ScaleInPaused;
            return d;
        }
        // lastActiveTime + cooldown < now, or, never active, creation + initial cooldown < now.
        let end = match r.last_active_time {
            Some(t) => plus_s(t, so.cooldown_period_s()),
            None => plus_s(r.creation_time, so.initial_cooldown_period_s()),
        };
        if end < i128::from(r.now) {
            let (idle, to) = match so.idle_replica_count {
                Some(i) => (true, i),
                None => (false, min),
            };
            d.action = ExecutorAction::ScaleToZeroOrIdle { to, idle };
            d.set_replicas = Some(to);
        } else {
            d.action = ExecutorAction::CoolingDown { cooldown_end: end.clamp(0, i128::from(u64::MAX)) as SimTime };
        }
    } else if current < min && so.idle_replica_count.is_none() {
        d.action = ExecutorAction::RaiseToMin { to: min };
        d.set_replicas = Some(min);
    }
    d
}

// ---------------------------------------------------------------------------------------------
// Fallback
// ---------------------------------------------------------------------------------------------

/// A metric's `status.health` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricHealth {
    pub number_of_failures: i32,
    /// `Failing` (else `Happy`).
    pub failing: bool,
}

/// What the metrics adapter serves for one metric fetch.
#[derive(Debug, Clone, PartialEq)]
pub enum FallbackResult {
    /// The scaler's values, unchanged.
    Metrics(Vec<i64>),
    /// The synthetic value, in milli-units: `target * replicas` (divided by the ready replicas for
    /// a `Value` target), so that the HPA computes about `replicas`.
    Fallback { value_milli: i64, replicas: f64 },
    /// The error goes to the HPA (the metric is invalid for it).
    Error(String),
}

/// `GetMetricsWithFallback` for one metric fetch. `health` is the stored entry (updated only
/// when the fallback is enabled and valid, as upstream only writes the status then);
/// `current_replicas` is the target's spec replicas and `ready_replicas` its
/// `status.readyReplicas` (used for `Value` targets).
pub fn get_metrics_with_fallback(
    fallback: Option<&Fallback>,
    health: &mut MetricHealth,
    fetched: Result<Vec<i64>, String>,
    target: &MetricTarget,
    current_replicas: i32,
    ready_replicas: i32,
) -> FallbackResult {
    let valid = fallback.filter(|f| f.failure_threshold >= 0 && f.replicas >= 0);
    let error = match fetched {
        Ok(values) => {
            if valid.is_some() {
                *health = MetricHealth { number_of_failures: 0, failing: false };
            }
            return FallbackResult::Metrics(values);
        }
        Err(e) => e,
    };
    let failures = health.number_of_failures.saturating_add(1);
    let Some(f) = valid else { return FallbackResult::Error(error) };
    *health = MetricHealth { number_of_failures: failures, failing: true };
    if failures <= f.failure_threshold {
        return FallbackResult::Error(error);
    }
    let mut replicas = match f.behavior {
        FallbackBehavior::Static => f64::from(f.replicas),
        FallbackBehavior::CurrentReplicas => f64::from(current_replicas),
        FallbackBehavior::CurrentReplicasIfHigher => f64::from(current_replicas.max(f.replicas)),
        FallbackBehavior::CurrentReplicasIfLower => f64::from(current_replicas.min(f.replicas)),
    };
    let normalisation = match target.r#type {
        MetricTargetType::AverageValue => target.average_value.map_or(0.0, |q| q.as_approximate_f64()),
        MetricTargetType::Value => {
            if ready_replicas <= 0 {
                return FallbackResult::Error("error performing fallback".to_string());
            }
            replicas /= f64::from(ready_replicas);
            target.value.map_or(0.0, |q| q.as_approximate_f64())
        }
        MetricTargetType::Utilization => 0.0,
    };
    FallbackResult::Fallback { value_milli: (normalisation * 1000.0 * replicas) as i64, replicas }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn so(json: &str) -> ScaledObjectSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn manifest_and_toml() {
        let s = so(r#"{
            "scaleTargetRef": {"name": "worker"},
            "minReplicaCount": 0, "maxReplicaCount": 20, "cooldownPeriod": 60,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}},
            "fallback": {"failureThreshold": 3, "replicas": 6, "behavior": "currentReplicasIfHigher"},
            "triggers": [{"type": "prometheus", "metadata": {"threshold": "50", "activationThreshold": "5"}}]
        }"#);
        assert_eq!(s.fallback.unwrap().behavior, FallbackBehavior::CurrentReplicasIfHigher);
        assert!(s.validate().is_ok());
        let t: ScaledObjectSpec = toml::from_str(
            r#"
            min_replica_count = 1
            idle_replica_count = 0
            [[triggers]]
            type = "queue"
            metric_type = "value"
            metadata = { threshold = 10 }
            "#,
        )
        .unwrap();
        assert_eq!(t.triggers[0].metadata["threshold"], "10");
        assert!(t.validate().is_ok());
        assert!(toml::from_str::<ScaledObjectSpec>("triggers = []\ncooldown = 3").is_err());
    }

    #[test]
    fn the_hpa_keda_creates() {
        let s = so(r#"{
            "triggers": [
                {"type": "prometheus", "name": "rps", "metadata": {"threshold": "100"}},
                {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}},
                {"type": "kafka", "metricType": "Value", "metadata": {"threshold": "2.5"}}
            ]
        }"#);
        let hpa = hpa_for_scaled_object("so", &s, &KedaAnnotations::default()).unwrap();
        assert_eq!((hpa.min_replicas, hpa.max_replicas, hpa.behavior.is_none()), (Some(1), 100, true));
        let names: Vec<String> = hpa
            .metrics
            .iter()
            .map(|m| match &m.external {
                Some(e) => format!("{}:{:?}", e.metric.name, e.target.r#type),
                None => {
                    format!("{}:{:?}", m.resource.as_ref().unwrap().name, m.resource.as_ref().unwrap().target.r#type)
                }
            })
            .collect();
        // Sorted by type: External before Resource, stable among Externals.
        assert_eq!(names, ["s0-rps:AverageValue", "s2-kafka:Value", "cpu:Utilization"]);
        let e = hpa.metrics[1].external.as_ref().unwrap();
        assert_eq!(e.target.value.unwrap().milli(), 2500);
        assert_eq!(e.metric.selector.as_ref().unwrap().match_labels[SCALED_OBJECT_NAME_LABEL], "so");

        let mut s = so(r#"{"minReplicaCount": 3, "triggers": [{"type": "x", "metadata": {"threshold": "1"}}]}"#);
        let ann = KedaAnnotations { paused_scale_in: true, ..Default::default() };
        let hpa = hpa_for_scaled_object("so", &s, &ann).unwrap();
        assert_eq!(hpa.min_replicas, Some(3));
        let b = hpa.behavior.unwrap();
        assert_eq!(b.scale_down.unwrap().select_policy, Some(ScalingPolicySelect::Disabled));
        assert_eq!(b.scale_up, None);
        let ann = KedaAnnotations { paused_replicas: Some(0), ..Default::default() };
        let hpa = hpa_for_scaled_object("so", &s, &ann).unwrap();
        assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(1), 1));

        s.triggers[0].metric_type = Some(MetricTargetType::Utilization);
        assert!(hpa_for_scaled_object("so", &s, &KedaAnnotations::default()).is_err());
        s.triggers = vec![s.triggers[0].clone(), s.triggers[0].clone()];
        s.triggers[0].metric_type = None;
        s.triggers[1].metric_type = None;
        s.triggers[0].name = Some("dup".into());
        s.triggers[1].name = Some("dup".into());
        // Names carry the index, so the same name twice is still two metrics.
        assert!(hpa_for_scaled_object("so", &s, &KedaAnnotations::default()).is_ok());
    }

    fn req(current: i32, active: bool, error: bool, last_active: Option<SimTime>, now: SimTime) -> ScaleRequest {
        ScaleRequest {
            now,
            current_replicas: current,
            is_active: active,
            is_error: error,
            last_active_time: last_active,
            creation_time: 0,
        }
    }

    #[test]
    fn cooldown_is_strict() {
        let s = so(r#"{"cooldownPeriod": 60, "triggers": [{"type": "x", "metadata": {"threshold": "1"}}]}"#);
        let a = KedaAnnotations::default();
        let at = |now| request_scale(&s, &a, &req(3, false, false, Some(100 * S), now));
        assert_eq!(at(160 * S).action, ExecutorAction::CoolingDown { cooldown_end: 160 * S });
        assert_eq!(at(160 * S + 1).action, ExecutorAction::ScaleToZeroOrIdle { to: 0, idle: false });
        assert_eq!(at(160 * S + 1).set_replicas, Some(0));
        // Never active: the initial cooldown (0) from creation, strictly.
        assert_eq!(
            request_scale(&s, &a, &req(3, false, false, None, 0)).action,
            ExecutorAction::CoolingDown { cooldown_end: 0 }
        );
        // Active above zero: lastActiveTime moves, the HPA scales.
        let d = request_scale(&s, &a, &req(3, true, false, Some(0), 500 * S));
        assert_eq!((d.action, d.last_active_time, d.set_replicas), (ExecutorAction::Active, Some(500 * S), None));
        // Errors.
        assert_eq!(request_scale(&s, &a, &req(3, true, true, None, S)).action, ExecutorAction::PartialTriggerError);
        assert_eq!(request_scale(&s, &a, &req(3, false, true, None, S)).action, ExecutorAction::TriggerError);
        let mut f = s.clone();
        f.fallback = Some(Fallback { failure_threshold: 3, replicas: 5, behavior: FallbackBehavior::Static });
        assert_eq!(request_scale(&f, &a, &req(3, false, true, None, S)).action, ExecutorAction::FallbackPending);
        // A fallback of 0 replicas does not hold the target: it goes to zero.
        f.fallback = Some(Fallback { failure_threshold: 3, replicas: 0, behavior: FallbackBehavior::Static });
        assert_eq!(
            request_scale(&f, &a, &req(3, false, true, None, S)).action,
            ExecutorAction::ScaleToZeroOrIdle { to: 0, idle: false }
        );
    }

    #[test]
    fn min_and_pauses() {
        let s = so(r#"{"minReplicaCount": 2, "triggers": [{"type": "x", "metadata": {"threshold": "1"}}]}"#);
        let a = KedaAnnotations::default();
        assert_eq!(request_scale(&s, &a, &req(1, false, false, None, S)).action, ExecutorAction::RaiseToMin { to: 2 });
        assert_eq!(request_scale(&s, &a, &req(2, false, false, None, S)).action, ExecutorAction::NoChange);
        assert_eq!(
            request_scale(&s, &a, &req(0, true, false, None, S)).action,
            ExecutorAction::ScaleFromZeroOrIdle { to: 2 }
        );
        let paused = KedaAnnotations { paused_scale_out: true, ..a };
        assert_eq!(request_scale(&s, &paused, &req(0, true, false, None, S)).set_replicas, None);
        let forced = KedaAnnotations { force_activation: true, ..a };
        let d = request_scale(&s, &forced, &req(0, false, false, None, S));
        assert_eq!((d.set_replicas, d.active), (Some(2), true));
        let held = KedaAnnotations { paused_replicas: Some(4), ..a };
        assert_eq!(request_scale(&s, &held, &req(1, true, false, None, S)).set_replicas, Some(4));
        assert_eq!(request_scale(&s, &held, &req(4, true, false, None, S)).set_replicas, None);
    }

    #[test]
    fn fallback_counts_failures() {
        let f = Fallback { failure_threshold: 2, replicas: 4, behavior: FallbackBehavior::Static };
        let target = MetricTarget::average_value(Quantity::from_milli(1500));
        let mut h = MetricHealth::default();
        let mut fetch = |r: Result<Vec<i64>, String>| get_metrics_with_fallback(Some(&f), &mut h, r, &target, 3, 3);
        assert_eq!(fetch(Err("down".into())), FallbackResult::Error("down".into()));
        assert_eq!(fetch(Err("down".into())), FallbackResult::Error("down".into()));
        assert_eq!(fetch(Err("down".into())), FallbackResult::Fallback { value_milli: 6000, replicas: 4.0 });
        assert_eq!(fetch(Ok(vec![7])), FallbackResult::Metrics(vec![7]));
        assert_eq!(h, MetricHealth::default());
        // Value target: divided by the ready replicas; none ready is an error.
        let value = MetricTarget::value(Quantity::from_units(10));
        let mut h = MetricHealth { number_of_failures: 5, failing: true };
        assert_eq!(
            get_metrics_with_fallback(Some(&f), &mut h, Err("x".into()), &value, 3, 2),
            FallbackResult::Fallback { value_milli: 20_000, replicas: 2.0 }
        );
        assert_eq!(
            get_metrics_with_fallback(Some(&f), &mut h, Err("x".into()), &value, 3, 0),
            FallbackResult::Error("error performing fallback".into())
        );
        // Without a fallback the error passes through and nothing is stored.
        let mut h = MetricHealth::default();
        assert_eq!(
            get_metrics_with_fallback(None, &mut h, Err("x".into()), &value, 3, 2),
            FallbackResult::Error("x".into())
        );
        assert_eq!(h, MetricHealth::default());
    }

    /// `fallback.behavior` (SPEC.md, KEDA's `GetMetricsWithFallback`): the replicas R the
    /// synthetic value stands for are `replicas` (static), the current count
    /// (`currentReplicas`), or the larger / smaller of the two (`currentReplicasIfHigher` /
    /// `currentReplicasIfLower`); the value is target x R.
    #[test]
    fn fallback_behaviors_choose_the_replicas() {
        let target = MetricTarget::average_value(Quantity::from_milli(1500));
        let fallback = |behavior, current| {
            let f = Fallback { failure_threshold: 0, replicas: 4, behavior };
            let mut h = MetricHealth::default();
            get_metrics_with_fallback(Some(&f), &mut h, Err("down".into()), &target, current, current)
        };
        let fb = |replicas: f64| FallbackResult::Fallback { value_milli: (1500.0 * replicas) as i64, replicas };
        for (current, stat, cur, higher, lower) in [(3, 4.0, 3.0, 4.0, 3.0), (6, 4.0, 6.0, 6.0, 4.0), (4, 4.0, 4.0, 4.0, 4.0)] {
            assert_eq!(fallback(FallbackBehavior::Static, current), fb(stat), "static, current {current}");
            assert_eq!(fallback(FallbackBehavior::CurrentReplicas, current), fb(cur), "currentReplicas, current {current}");
            assert_eq!(fallback(FallbackBehavior::CurrentReplicasIfHigher, current), fb(higher), "IfHigher, current {current}");
            assert_eq!(fallback(FallbackBehavior::CurrentReplicasIfLower, current), fb(lower), "IfLower, current {current}");
        }
    }

    #[test]
    fn activity() {
        let t: ScaleTrigger = serde_json::from_str(
            r#"{"type": "prometheus", "metadata": {"threshold": "1", "activationThreshold": "5"}}"#,
        )
        .unwrap();
        let a = activation_threshold(&t).unwrap();
        assert!(!trigger_is_active(5.0, a));
        assert!(trigger_is_active(5.5, a));
        let cpu: ScaleTrigger = serde_json::from_str(r#"{"type": "cpu", "metadata": {"value": "50"}}"#).unwrap();
        assert_eq!(activation_threshold(&cpu), Ok(0.0));
    }
}
