//! `autosim explain hpa`: one reconcile of an HPA on a snapshot of what the controller read,
//! told step by step ("why did my HPA scale to 7?").
//!
//! Nothing here decides anything: the spec and the snapshot become exactly the inputs of
//! [`HpaController::reconcile`] (the code the simulation runs), and the text and JSON are views of
//! the [`Explanation`] it returns, with the recorded recommendations and scale events it was
//! given. Every number printed is one the controller computed.
//!
//! The snapshot is a small TOML file (see `docs/scenario.md`, "autosim explain hpa"): the target's
//! replicas, the pods its selector lists (phase, readiness, age, requests, per-pod samples), the
//! Object and External metric values, the metrics whose fetch failed, and optionally the
//! controller's memory (recommendations, scale events) and flags. Times are ages: how long ago.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Value};
use toml::Spanned;

use super::behavior::{in_period, LimitReason, PolicyBound, ScaleEvent, ScaleLimit, TimestampedRecommendation, WindowEntry};
use super::calc::{
    Basis, ContainerRequests, CurrentValue, MissingAs, PodBasis, PodGroup, PodInfo, PodMetric, PodMetrics, PodPhase,
    PodStep, Proposal, ReadyCondition, ConditionStatus, RebalanceOutcome, ValueStep,
};
use super::controller::{
    Combined, ControllerConfig, Explanation, HpaController, MetricEvaluation, MetricObservation, Normalization, Outcome,
    ReconcileInput, Stage,
};
use super::policy::{hpas_in_manifest, ControllerFlags};
use super::spec::{
    CrossVersionObjectReference, HpaBehavior, HpaScalingPolicyType, HpaSpec, MetricSourceType, MetricSpec, MetricTarget,
    MetricTargetType, Quantity, ScalingPolicySelect,
};
use crate::engine::SimTime;
use crate::policy::manifest::Manifest;
use crate::scenario::{ConfigError, ScenarioError};
use crate::units::Duration;

const NS_PER_S: u64 = 1_000_000_000;

/// A mistake in the spec or the snapshot; the message names the file (and line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExplainError(pub String);

fn located(path: &Path, text: &str, e: ConfigError) -> ExplainError {
    ExplainError(ScenarioError::locate(path, text, e).to_string())
}

// ---------------------------------------------------------------------------------------------
// The spec: a Kubernetes manifest, or the TOML of a scenario's `[policies.pods]` table
// ---------------------------------------------------------------------------------------------

/// The HPA to explain.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// `metadata.name` (a TOML spec: the file's stem).
    pub name: String,
    /// `scaleTargetRef` (kind and name), when the spec names it.
    pub target: Option<CrossVersionObjectReference>,
    /// As written (the controller applies the API server's defaults).
    pub spec: HpaSpec,
    /// The TOML spec's `controller` flags.
    pub flags: Option<ControllerFlags>,
    /// Where it was read (`file` or `file:line`).
    pub source: String,
}

/// Read the HPA from `path`: a `.toml` file is a scenario's `[policies.pods]` table (`kind =
/// "hpa"` optional, `min_replicas`, `max_replicas`, `metrics`, `behavior`, `controller`, or
/// `manifest`); anything else is a Kubernetes YAML (or JSON) manifest. `select` picks one of
/// several HPAs by `scaleTargetRef.name` or `metadata.name`.
pub fn load_spec(path: &Path, select: Option<&str>) -> Result<LoadedSpec, ExplainError> {
    let text = read(path, "spec")?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) {
        spec_from_toml(path, &text, select)
    } else {
        spec_from_manifest(&Manifest::from_text(&path.display().to_string(), &text), select)
    }
}

fn read(path: &Path, what: &str) -> Result<String, ExplainError> {
    std::fs::read_to_string(path).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound { "no such file".to_string() } else { e.to_string() };
        ExplainError(format!("{}: cannot read the {what}: {why}", path.display()))
    })
}

/// Pick the HPA of a manifest and check its spec.
pub fn spec_from_manifest(m: &Manifest, select: Option<&str>) -> Result<LoadedSpec, ExplainError> {
    let all = hpas_in_manifest(m).map_err(ExplainError)?;
    let list = || {
        all.iter().map(|h| format!("{} (scales {}, at {})", h.name, h.target, h.place)).collect::<Vec<_>>().join(", ")
    };
    if all.is_empty() {
        return Err(ExplainError(format!("{}: no HorizontalPodAutoscaler in the file", m.path)));
    }
    let chosen = match select {
        None if all.len() == 1 => &all[0],
        None => {
            return Err(ExplainError(format!(
                "{} holds {} HorizontalPodAutoscalers: {}; choose one with --target NAME (its scaleTargetRef.name or \
                 metadata.name)",
                m.path,
                all.len(),
                list()
            )))
        }
        Some(n) => {
            let by_target: Vec<_> = all.iter().filter(|h| h.target == n).collect();
            match by_target.as_slice() {
                [one] => one,
                [first, second, ..] => {
                    return Err(ExplainError(format!(
                        "{}: two HorizontalPodAutoscalers scale {n:?} ({} at {}, {} at {}); choose one by its \
                         metadata.name",
                        m.path, first.name, first.place, second.name, second.place
                    )))
                }
                [] => match all.iter().find(|h| h.name == n) {
                    Some(h) => h,
                    None => {
                        return Err(ExplainError(format!(
                            "--target {n:?}: {} has no HorizontalPodAutoscaler that scales or is named {n:?} (it has: \
                             {})",
                            m.path,
                            list()
                        )))
                    }
                },
            }
        }
    };
    if let Err(errs) = chosen.spec.validate() {
        let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
        return Err(ExplainError(format!(
            "{}: HorizontalPodAutoscaler {:?}: invalid spec: {}",
            chosen.place,
            chosen.name,
            list.join("; ")
        )));
    }
    Ok(LoadedSpec {
        name: chosen.name.clone(),
        target: chosen.spec.scale_target_ref.clone(),
        spec: chosen.spec.clone(),
        flags: None,
        source: chosen.place.clone(),
    })
}

/// A scenario's `[policies.pods]` table of `kind = "hpa"`, as its own file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTomlSpec {
    #[serde(default)]
    kind: Option<Spanned<String>>,
    #[serde(default)]
    manifest: Option<Spanned<String>>,
    #[serde(default, alias = "scaleTargetRef")]
    scale_target_ref: Option<CrossVersionObjectReference>,
    #[serde(default, alias = "minReplicas")]
    min_replicas: Option<Spanned<i32>>,
    #[serde(default, alias = "maxReplicas")]
    max_replicas: Option<Spanned<i32>>,
    #[serde(default)]
    metrics: Option<Spanned<Vec<MetricSpec>>>,
    #[serde(default)]
    behavior: Option<Spanned<HpaBehavior>>,
    #[serde(default)]
    controller: Option<Spanned<ControllerFlags>>,
    /// Metric-name rules of a simulation; the snapshot gives the values, so they are not used.
    #[serde(default, rename = "adapter")]
    _adapter: Option<Spanned<toml::Value>>,
}

fn spec_from_toml(path: &Path, text: &str, select: Option<&str>) -> Result<LoadedSpec, ExplainError> {
    let raw: RawTomlSpec = toml::from_str(text).map_err(|e| located(path, text, ConfigError::from(e)))?;
    let RawTomlSpec { kind, manifest, scale_target_ref, min_replicas, max_replicas, metrics, behavior, controller, _adapter } =
        raw;
    let at = |span: Range<usize>, msg: String| located(path, text, ConfigError::at(span, msg));
    if let Some(k) = &kind {
        if k.get_ref() != "hpa" {
            return Err(at(k.span(), format!("`kind` = {:?}: `autosim explain hpa` explains `kind = \"hpa\"`", k.get_ref())));
        }
    }
    let flags = controller.map(Spanned::into_inner);
    let stem = path.file_stem().map_or_else(|| "hpa".to_string(), |s| s.to_string_lossy().into_owned());
    if let Some(file) = manifest {
        for (key, span) in [
            ("min_replicas", min_replicas.as_ref().map(Spanned::span)),
            ("max_replicas", max_replicas.as_ref().map(Spanned::span)),
            ("metrics", metrics.as_ref().map(Spanned::span)),
            ("behavior", behavior.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                return Err(at(span, format!("`{key}` comes from the manifest {:?}; set it there, or drop `manifest`", file.get_ref())));
            }
        }
        let base = path.parent().unwrap_or(Path::new(""));
        let m = Manifest::read(base, file.get_ref()).map_err(|e| at(file.span(), e))?;
        let mut s = spec_from_manifest(&m, select)?;
        s.flags = flags;
        return Ok(s);
    }
    let Some(max) = max_replicas else {
        return Err(at(0..0, "missing `max_replicas` (or `manifest = \"hpa.yaml\"`)".to_string()));
    };
    let spec = HpaSpec {
        scale_target_ref: scale_target_ref.clone(),
        min_replicas: min_replicas.as_ref().map(|m| *m.get_ref()),
        max_replicas: *max.get_ref(),
        metrics: metrics.as_ref().map(|m| m.get_ref().clone()).unwrap_or_default(),
        behavior: behavior.as_ref().map(|b| b.get_ref().clone()),
    };
    if let Err(errs) = spec.validate() {
        let first = &errs[0].path;
        let span = if first.starts_with("minReplicas") {
            min_replicas.as_ref().map(Spanned::span)
        } else if first.starts_with("maxReplicas") {
            Some(max.span())
        } else if first.starts_with("metrics") {
            metrics.as_ref().map(Spanned::span)
        } else {
            behavior.as_ref().map(Spanned::span)
        };
        let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
        return Err(at(span.unwrap_or(0..0), format!("invalid HPA spec: {}", list.join("; "))));
    }
    Ok(LoadedSpec { name: stem, target: scale_target_ref, spec, flags, source: path.display().to_string() })
}

// ---------------------------------------------------------------------------------------------
// The snapshot
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshot {
    replicas: Spanned<i64>,
    #[serde(default)]
    status_replicas: Option<Spanned<i64>>,
    #[serde(default)]
    sample_window: Option<Spanned<Duration>>,
    #[serde(default)]
    controller: Option<Spanned<ControllerFlags>>,
    #[serde(default)]
    pods: Vec<Spanned<RawPod>>,
    #[serde(default)]
    object: BTreeMap<String, Spanned<Quantity>>,
    #[serde(default)]
    external: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    unavailable: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    recommendations: Option<Vec<RawRecommendation>>,
    #[serde(default)]
    scale_events: Vec<RawEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPod {
    name: Spanned<String>,
    #[serde(default)]
    count: Option<Spanned<u32>>,
    #[serde(default)]
    phase: Option<RawPhase>,
    #[serde(default)]
    ready: Option<Spanned<toml::Value>>,
    #[serde(default)]
    ready_changed: Option<Spanned<Duration>>,
    #[serde(default)]
    age: Option<Spanned<Duration>>,
    #[serde(default)]
    started: Option<bool>,
    #[serde(default)]
    deleting: bool,
    #[serde(default)]
    requests: Option<Spanned<BTreeMap<String, Quantity>>>,
    #[serde(default)]
    usage: Option<Spanned<BTreeMap<String, Quantity>>>,
    #[serde(default)]
    containers: Option<Vec<RawContainer>>,
    #[serde(default)]
    metrics: BTreeMap<String, Spanned<Quantity>>,
    #[serde(default)]
    sample_age: Option<Spanned<Duration>>,
    #[serde(default)]
    window: Option<Spanned<Duration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContainer {
    name: String,
    #[serde(default)]
    requests: BTreeMap<String, Quantity>,
    #[serde(default)]
    usage: BTreeMap<String, Quantity>,
}

#[derive(Deserialize, Clone, Copy)]
enum RawPhase {
    #[serde(alias = "pending")]
    Pending,
    #[serde(alias = "running")]
    Running,
    #[serde(alias = "succeeded")]
    Succeeded,
    #[serde(alias = "failed")]
    Failed,
    #[serde(alias = "unknown")]
    Unknown,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecommendation {
    replicas: Spanned<i32>,
    age: Spanned<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    change: Spanned<i32>,
    age: Spanned<Duration>,
}

/// What the controller read, as a reconcile's inputs, and the memory it had.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// "Now": every age of the file is counted back from it.
    pub now: SimTime,
    pub spec_replicas: i32,
    pub status_replicas: i32,
    pub pods: Vec<PodInfo>,
    /// One per metric of the defaulted spec.
    pub metrics: Vec<MetricObservation>,
    /// `None`: no history (the controller records the current size first).
    pub recommendations: Option<Vec<TimestampedRecommendation>>,
    pub scale_up_events: Vec<ScaleEvent>,
    pub scale_down_events: Vec<ScaleEvent>,
    pub flags: Option<ControllerFlags>,
    /// Pods whose age was not given (taken as started long ago).
    pub pods_without_age: usize,
}

/// The key a metric of the spec has in the snapshot: the resource name (`cpu`), `container/cpu`
/// for a ContainerResource metric, or the metric's name.
pub fn snapshot_key(m: &MetricSpec) -> String {
    match m.r#type {
        MetricSourceType::Resource => m.resource.as_ref().map_or(String::new(), |r| r.name.clone()),
        MetricSourceType::ContainerResource => {
            m.container_resource.as_ref().map_or(String::new(), |c| format!("{}/{}", c.container, c.name))
        }
        MetricSourceType::Pods => m.pods.as_ref().map_or(String::new(), |p| p.metric.name.clone()),
        MetricSourceType::Object => m.object.as_ref().map_or(String::new(), |o| o.metric.name.clone()),
        MetricSourceType::External => m.external.as_ref().map_or(String::new(), |x| x.metric.name.clone()),
    }
}

fn names_of(spec: &HpaSpec, t: &[MetricSourceType]) -> Vec<String> {
    spec.metrics.iter().filter(|m| t.contains(&m.r#type)).map(snapshot_key).collect()
}

fn one_of(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
    }
}

/// One pod as listed, before the samples are chosen per metric.
struct SnapPod {
    info: PodInfo,
    /// Usage by container (one container named `app` when the pod lists none).
    usage: Vec<(String, BTreeMap<String, i64>)>,
    metrics: BTreeMap<String, i64>,
    sample_at: SimTime,
    window_ns: u64,
}

/// Read a snapshot for `spec` (the spec with the API server's defaults: its metrics are the ones
/// evaluated). `config` is the controller's settings before the snapshot's own `controller` flags.
pub fn read_snapshot(path: &Path, spec: &HpaSpec, config: &ControllerConfig) -> Result<Snapshot, ExplainError> {
    let text = read(path, "snapshot")?;
    parse_snapshot(path, &text, spec, config)
}

/// [`read_snapshot`] from text (`path` names it in errors).
pub fn parse_snapshot(path: &Path, text: &str, spec: &HpaSpec, config: &ControllerConfig) -> Result<Snapshot, ExplainError> {
    let raw: RawSnapshot = toml::from_str(text).map_err(|e| located(path, text, ConfigError::from(e)))?;
    let err = |span: Range<usize>, msg: String| located(path, text, ConfigError::at(span, msg));
    let RawSnapshot {
        replicas,
        status_replicas,
        sample_window,
        controller,
        pods,
        object,
        external,
        unavailable,
        recommendations,
        scale_events,
    } = raw;

    let count = |v: &Spanned<i64>, key: &str| -> Result<i32, ExplainError> {
        i32::try_from(*v.get_ref())
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| err(v.span(), format!("`{key}` = {}: expected a replica count (0 or more)", v.get_ref())))
    };
    let spec_replicas = count(&replicas, "replicas")?;
    let status_replicas = status_replicas.as_ref().map_or(Ok(spec_replicas), |s| count(s, "status_replicas"))?;

    let mut config = config.clone();
    if let Some(c) = &controller {
        c.get_ref().apply(&mut config).map_err(|e| err(c.span(), e))?;
    }

    // "Now" lies after every age in the file and after the CPU periods, so that a pod whose age
    // is not given started before anything the controller looks at.
    let mut longest = 0u64;
    let mut see = |d: &Option<Spanned<Duration>>| {
        if let Some(d) = d {
            longest = longest.max(d.get_ref().0);
        }
    };
    for p in &pods {
        let p = p.get_ref();
        see(&p.age);
        see(&p.ready_changed);
        see(&p.sample_age);
    }
    for r in recommendations.iter().flatten() {
        see(&Some(r.age.clone()));
    }
    for e in &scale_events {
        see(&Some(e.age.clone()));
    }
    let now: SimTime = longest
        .saturating_add(config.cpu_initialization_period_ns)
        .saturating_add(config.initial_readiness_delay_ns)
        .saturating_add(86_400 * NS_PER_S);
    let ago = |d: &Spanned<Duration>| now - d.get_ref().0;
    let default_window = sample_window.as_ref().map_or(15 * NS_PER_S, |w| w.get_ref().0);

    // Names the metrics of the spec answer to.
    let pods_names = names_of(spec, &[MetricSourceType::Pods]);
    let object_names = names_of(spec, &[MetricSourceType::Object]);
    let external_names = names_of(spec, &[MetricSourceType::External]);
    let all_names: Vec<String> = spec.metrics.iter().map(snapshot_key).collect();

    let mut listed: Vec<SnapPod> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut pods_without_age = 0;
    for p in &pods {
        let span = p.span();
        let p = p.get_ref();
        for (k, v) in &p.metrics {
            if !pods_names.contains(k) {
                return Err(err(v.span(), format!("pod metric {k:?}: the HPA has no Pods metric of that name (its Pods metrics: {})", one_of(&pods_names))));
            }
        }
        let phase = match p.phase.unwrap_or(RawPhase::Running) {
            RawPhase::Pending => PodPhase::Pending,
            RawPhase::Running => PodPhase::Running,
            RawPhase::Succeeded => PodPhase::Succeeded,
            RawPhase::Failed => PodPhase::Failed,
            RawPhase::Unknown => PodPhase::Unknown,
        };
        let start_time = match (p.started, &p.age) {
            (Some(false), Some(a)) => {
                return Err(err(a.span(), "`age` with `started = false`: a pod that has not started has no age".into()))
            }
            (Some(false), None) => None,
            (_, Some(a)) => Some(ago(a)),
            (_, None) => {
                pods_without_age += p.count.as_ref().map_or(1, |c| *c.get_ref() as usize);
                Some(0)
            }
        };
        let status = match &p.ready {
            None if matches!(phase, PodPhase::Running | PodPhase::Unknown) => Some(ConditionStatus::True),
            None => None,
            Some(v) => match v.get_ref() {
                toml::Value::Boolean(true) => Some(ConditionStatus::True),
                toml::Value::Boolean(false) => Some(ConditionStatus::False),
                toml::Value::String(s) if s.eq_ignore_ascii_case("true") => Some(ConditionStatus::True),
                toml::Value::String(s) if s.eq_ignore_ascii_case("false") => Some(ConditionStatus::False),
                toml::Value::String(s) if s.eq_ignore_ascii_case("unknown") => Some(ConditionStatus::Unknown),
                toml::Value::String(s) if s.eq_ignore_ascii_case("none") => None,
                other => {
                    return Err(err(
                        v.span(),
                        format!("`ready` = {other}: expected true, false, \"unknown\" or \"none\" (no Ready condition)"),
                    ))
                }
            },
        };
        if let (None, Some(c)) = (status, &p.ready_changed) {
            return Err(err(c.span(), "`ready_changed` without a Ready condition (`ready = \"none\"`)".into()));
        }
        let ready = status.map(|status| ReadyCondition {
            status,
            last_transition_time: p.ready_changed.as_ref().map_or(start_time.unwrap_or(0), ago),
        });
        let milli = |m: &BTreeMap<String, Quantity>| -> BTreeMap<String, i64> {
            m.iter().map(|(k, q)| (k.clone(), q.milli())).collect()
        };
        let (containers, usage) = match &p.containers {
            Some(cs) => {
                for (key, s) in [("requests", p.requests.as_ref().map(Spanned::span)), ("usage", p.usage.as_ref().map(Spanned::span))] {
                    if let Some(s) = s {
                        return Err(err(s, format!("`{key}` of a pod that lists `containers`: give each container its `{key}`")));
                    }
                }
                if cs.is_empty() {
                    return Err(err(span, "`containers` is empty: a pod has at least one container".into()));
                }
                let requests =
                    cs.iter().map(|c| ContainerRequests { name: c.name.clone(), requests: milli(&c.requests) }).collect();
                (requests, cs.iter().map(|c| (c.name.clone(), milli(&c.usage))).collect())
            }
            None => {
                let r = p.requests.as_ref().map(|r| milli(r.get_ref())).unwrap_or_default();
                let u = p.usage.as_ref().map(|u| milli(u.get_ref())).unwrap_or_default();
                (vec![ContainerRequests { name: "app".into(), requests: r }], vec![("app".to_string(), u)])
            }
        };
        let n = p.count.as_ref().map_or(1, |c| *c.get_ref());
        if n == 0 {
            let s = p.count.as_ref().map_or(span.clone(), Spanned::span);
            return Err(err(s, "`count` = 0: expected 1 or more pods".into()));
        }
        for i in 1..=n {
            let base = p.name.get_ref();
            let name = if p.count.is_some() && n > 1 { format!("{base}-{i}") } else { base.clone() };
            if !seen.insert(name.clone()) {
                return Err(err(p.name.span(), format!("two pods named {name:?}")));
            }
            listed.push(SnapPod {
                info: PodInfo {
                    name,
                    phase,
                    deleting: p.deleting,
                    start_time,
                    ready,
                    containers: containers.clone(),
                    pod_requests: None,
                },
                usage: usage.clone(),
                metrics: p.metrics.iter().map(|(k, v)| (k.clone(), v.get_ref().milli())).collect(),
                sample_at: p.sample_age.as_ref().map_or(now, ago),
                window_ns: p.window.as_ref().map_or(default_window, |w| w.get_ref().0),
            });
        }
    }

    for (k, v) in &object {
        if !object_names.contains(k) {
            return Err(err(v.span(), format!("[object] {k:?}: the HPA has no Object metric of that name (its Object metrics: {})", one_of(&object_names))));
        }
    }
    let mut series: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (k, v) in &external {
        if !external_names.contains(k) {
            return Err(err(v.span(), format!("[external] {k:?}: the HPA has no External metric of that name (its External metrics: {})", one_of(&external_names))));
        }
        let quantity = |x: &toml::Value| {
            Quantity::deserialize(x.clone()).map(Quantity::milli).map_err(|e| {
                err(v.span(), format!("[external] {k:?}: {}", crate::scenario::error::plain_words(e.message().trim())))
            })
        };
        let values = match v.get_ref() {
            toml::Value::Array(items) => items.iter().map(quantity).collect::<Result<Vec<_>, _>>()?,
            one => vec![quantity(one)?],
        };
        series.insert(k.clone(), values);
    }
    for (k, v) in &unavailable {
        if !all_names.contains(k) {
            return Err(err(v.span(), format!("[unavailable] {k:?}: the HPA has no metric of that name (its metrics: {})", one_of(&all_names))));
        }
    }

    let mut metrics = Vec::new();
    for m in &spec.metrics {
        let key = snapshot_key(m);
        if let Some(msg) = unavailable.get(&key) {
            metrics.push(MetricObservation::Unavailable(msg.get_ref().clone()));
            continue;
        }
        let per_pod = |sample: &dyn Fn(&SnapPod) -> Option<i64>| -> PodMetrics {
            listed
                .iter()
                .filter_map(|p| {
                    sample(p).map(|v| {
                        (p.info.name.clone(), PodMetric { value_milli: v, timestamp: p.sample_at, window_ns: p.window_ns })
                    })
                })
                .collect()
        };
        // A metric the snapshot says nothing about is one whose fetch gave nothing: invalid for
        // this reconcile, as upstream treats it, with the hint in its message.
        let missing = |what: &str, hint: &str| {
            MetricObservation::Unavailable(format!(
                "the snapshot has no value for {key:?} ({what}): {hint}, or list it under [unavailable] with the error the fetch gave"
            ))
        };
        let obs = match m.r#type {
            MetricSourceType::Resource | MetricSourceType::ContainerResource => {
                let (resource, container) = match (&m.resource, &m.container_resource) {
                    (Some(r), _) => (r.name.clone(), None),
                    (None, Some(c)) => (c.name.clone(), Some(c.container.clone())),
                    _ => (String::new(), None),
                };
                let samples = per_pod(&|p| {
                    let used: Vec<i64> = p
                        .usage
                        .iter()
                        .filter(|(c, _)| container.as_ref().is_none_or(|want| want == c))
                        .filter_map(|(_, u)| u.get(&resource).copied())
                        .collect();
                    (!used.is_empty()).then(|| used.iter().fold(0i64, |a, v| a.wrapping_add(*v)))
                });
                if samples.is_empty() {
                    let hint = match &container {
                        Some(c) => format!("give the pods' container {c:?} a `usage = {{ {resource} = ... }}`"),
                        None => format!("give the pods a `usage = {{ {resource} = ... }}`"),
                    };
                    missing("no pod has a sample", &hint)
                } else {
                    MetricObservation::PerPod(samples)
                }
            }
            MetricSourceType::Pods => {
                let samples = per_pod(&|p| p.metrics.get(&key).copied());
                if samples.is_empty() {
                    missing("no pod has a sample", &format!("give the pods `metrics = {{ {key} = ... }}`"))
                } else {
                    MetricObservation::PerPod(samples)
                }
            }
            MetricSourceType::Object => match object.get(&key) {
                Some(q) => MetricObservation::Object(q.get_ref().milli()),
                None => missing("no [object] value", &format!("add `{key} = ...` under [object]")),
            },
            MetricSourceType::External => match series.get(&key) {
                Some(v) => MetricObservation::External(v.clone()),
                None => missing("no [external] value", &format!("add `{key} = ...` (or a list of series) under [external]")),
            },
        };
        metrics.push(obs);
    }

    let mut recs = None;
    if let Some(list) = &recommendations {
        let mut v = Vec::with_capacity(list.len());
        for r in list {
            if *r.replicas.get_ref() < 0 {
                return Err(err(r.replicas.span(), format!("`replicas` = {}: expected a replica count (0 or more)", r.replicas.get_ref())));
            }
            v.push(TimestampedRecommendation { replicas: *r.replicas.get_ref(), timestamp: ago(&r.age) });
        }
        recs = Some(v);
    }
    let recommendations = recs;
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for e in &scale_events {
        let c = *e.change.get_ref();
        let ev = |n: i32| ScaleEvent { replica_change: n, timestamp: ago(&e.age), outdated: false };
        match c {
            0 => return Err(err(e.change.span(), "`change` = 0: a scale event adds (+N) or removes (-N) replicas".into())),
            c if c > 0 => up.push(ev(c)),
            c => down.push(ev(c.saturating_neg())),
        }
    }
    Ok(Snapshot {
        now,
        spec_replicas,
        status_replicas,
        pods: listed.into_iter().map(|p| p.info).collect(),
        metrics,
        recommendations,
        scale_up_events: up,
        scale_down_events: down,
        flags: controller.map(Spanned::into_inner),
        pods_without_age,
    })
}

// ---------------------------------------------------------------------------------------------
// The reconcile
// ---------------------------------------------------------------------------------------------

/// One explained reconcile: its inputs and the controller's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    pub hpa: LoadedSpec,
    /// The spec with the API server's defaults, as the controller used it.
    pub spec: HpaSpec,
    pub config: ControllerConfig,
    pub snapshot: Snapshot,
    pub outcome: Outcome,
}

/// The controller settings for a spec and a snapshot: `base`, then the TOML spec's `controller`
/// flags, then the snapshot's.
pub fn config_for(hpa: &LoadedSpec, base: &ControllerConfig) -> Result<ControllerConfig, ExplainError> {
    let mut c = base.clone();
    if let Some(f) = &hpa.flags {
        f.apply(&mut c).map_err(|e| ExplainError(format!("{}: {e}", hpa.source)))?;
    }
    Ok(c)
}

/// Read both files and run one reconcile. `base` is the controller's settings before any flag of
/// the files (upstream's defaults for the command).
pub fn explain_files(
    spec_path: &Path,
    snapshot_path: &Path,
    select: Option<&str>,
    base: &ControllerConfig,
) -> Result<Report, ExplainError> {
    let hpa = load_spec(spec_path, select)?;
    let config = config_for(&hpa, base)?;
    let defaulted = hpa.spec.with_api_defaults();
    let snapshot = read_snapshot(snapshot_path, &defaulted, &config)?;
    Ok(explain(hpa, snapshot, config))
}

/// Run the controller once on the snapshot (`config` before the snapshot's own flags).
pub fn explain(hpa: LoadedSpec, snapshot: Snapshot, mut config: ControllerConfig) -> Report {
    if let Some(f) = &snapshot.flags {
        // Checked when the snapshot was read.
        let _ = f.apply(&mut config);
    }
    let mut ctrl = HpaController::new(&hpa.spec, config.clone()).with_history(
        snapshot.recommendations.clone(),
        snapshot.scale_up_events.clone(),
        snapshot.scale_down_events.clone(),
    );
    let outcome = ctrl.reconcile(&ReconcileInput {
        now: snapshot.now,
        spec_replicas: snapshot.spec_replicas,
        status_replicas: snapshot.status_replicas,
        pods: &snapshot.pods,
        metrics: &snapshot.metrics,
    });
    Report { spec: ctrl.spec().clone(), hpa, config, snapshot, outcome }
}

// ---------------------------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------------------------

/// Milli-units as a quantity (`"250m"`, `"3"`).
fn q(milli: i64) -> String {
    if milli % 1000 == 0 {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    }
}

fn dur(ns: u64) -> String {
    Duration(ns).to_string()
}

fn ago_text(now: SimTime, t: SimTime) -> String {
    if t >= now {
        "just now".to_string()
    } else {
        format!("{} ago", dur(now - t))
    }
}

fn target_text(t: &Option<MetricTarget>) -> String {
    match t {
        None => "no target".to_string(),
        Some(t) => match t.r#type {
            MetricTargetType::Utilization => {
                t.average_utilization.map_or("no utilization".into(), |u| format!("{u}% of the pods' requests"))
            }
            MetricTargetType::AverageValue => t.average_value.map_or("no value".into(), |v| format!("{v} per pod (average)")),
            MetricTargetType::Value => t.value.map_or("no value".into(), |v| format!("{v} in total")),
        },
    }
}

fn pod_line(name: &str, g: PodGroup) -> String {
    match g {
        PodGroup::Ready => format!("{name}: ready, its sample is used"),
        PodGroup::Unready(why) => format!("{name}: unready ({why}): its sample is set aside"),
        PodGroup::Missing => format!("{name}: no sample (missing)"),
        PodGroup::Ignored(why) => format!("{name}: ignored ({why})"),
    }
}

/// At most this many pods are listed one by one per group in the text.
const PODS_SHOWN: usize = 8;

fn write_pods(out: &mut String, b: &PodBasis) {
    let g = &b.groups;
    let _ = writeln!(
        out,
        "    pods: {} listed: {} ready, {} unready, {} missing a sample, {} ignored",
        g.pods.len(),
        g.ready_count,
        g.unready_count(),
        g.missing_count(),
        g.ignored_count()
    );
    // Ready pods are summarised; the others are the interesting ones.
    let mut by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, gr) in &g.pods {
        if *gr != PodGroup::Ready {
            by_group.entry(gr.as_str()).or_default().push(pod_line(name, *gr));
        }
    }
    for (_, lines) in by_group {
        for l in lines.iter().take(PODS_SHOWN) {
            let _ = writeln!(out, "      {l}");
        }
        if lines.len() > PODS_SHOWN {
            let _ = writeln!(out, "      ... and {} more like these", lines.len() - PODS_SHOWN);
        }
    }
    if b.unknown_pod_samples > 0 {
        let _ = writeln!(
            out,
            "      {} of pods the selector does not list (they still enter the averages, as upstream's do)",
            crate::units::count(b.unknown_pod_samples, "sample", "samples")
        );
    }
}

fn tolerance_band(t: super::calc::Tolerances) -> String {
    format!("[{:.3}, {:.3}]", 1.0 - t.scale_down, 1.0 + t.scale_up)
}

fn write_metric(out: &mut String, i: usize, total: usize, e: &MetricEvaluation, r: &Report, t: super::calc::Tolerances) {
    let _ = writeln!(out, "  metric {}/{}: {}; target {}", i + 1, total, e.name, target_text(&e.target));
    let p = match &e.result {
        Err(err) => {
            let _ = writeln!(out, "    INVALID: {}: {}", err.reason, err.message);
            return;
        }
        Ok(p) => p,
    };
    if let Basis::Pods(b) = &p.basis {
        write_pods(out, b);
    }
    let ratio = p.usage_ratio;
    let band = tolerance_band(t);
    let inside = if t.is_within(ratio) { "inside" } else { "outside" };
    match (&p.current, &p.basis) {
        (CurrentValue::Utilization { percent, average_milli }, Basis::Pods(b)) => {
            let target = e.target.as_ref().and_then(|t| t.average_utilization).unwrap_or(0);
            let _ = writeln!(
                out,
                "    usage: {percent}% of the requests (truncated to a whole percent; {} per pod on average, over the samples of {} ready)",
                q(*average_milli),
                crate::units::count(b.groups.ready_count, "pod", "pods")
            );
            let _ = writeln!(out, "    usage ratio: {percent}% / {target}% = {ratio:.3}, {inside} the tolerance {band}");
        }
        (CurrentValue::AverageValue { milli }, Basis::Pods(_)) => {
            let target = e.target.as_ref().and_then(|t| t.average_value).map_or(0, Quantity::milli);
            let _ = writeln!(out, "    usage: {} per pod on average (integer division over the samples used)", q(*milli));
            let _ = writeln!(out, "    usage ratio: {} / {} = {ratio:.3}, {inside} the tolerance {band}", q(*milli), q(target));
        }
        (CurrentValue::AverageValue { milli }, Basis::AverageValue(b)) => {
            let _ = writeln!(
                out,
                "    value: {} in total ({} per pod over {})",
                q(b.usage_milli),
                q(*milli),
                crate::units::count(b.status_replicas as usize, "status replica", "status replicas")
            );
            let _ = writeln!(
                out,
                "    usage ratio: {} / ({} x {}) = {ratio:.3}, {inside} the tolerance {band}",
                q(b.usage_milli),
                q(b.target_milli),
                b.status_replicas
            );
        }
        (CurrentValue::Value { milli }, _) => {
            let target = e.target.as_ref().and_then(|t| t.value).map_or(0, Quantity::milli);
            let _ = writeln!(out, "    value: {}", q(*milli));
            let _ = writeln!(out, "    usage ratio: {} / {} = {ratio:.3}, {inside} the tolerance {band}", q(*milli), q(target));
        }
        _ => {
            let _ = writeln!(out, "    usage ratio {ratio:.3}, {inside} the tolerance {band}");
        }
    }
    let current = r.snapshot.spec_replicas;
    match &p.basis {
        Basis::Pods(b) => match &b.step {
            PodStep::Direct { within_tolerance: true } => {
                let _ = writeln!(out, "    within the tolerance: the metric proposes the current {current}");
            }
            PodStep::Direct { within_tolerance: false } => {
                let _ = writeln!(
                    out,
                    "    proposal: ceil({ratio:.3} x {}) = {}",
                    crate::units::count(b.groups.ready_count, "ready pod", "ready pods"),
                    p.replicas
                );
            }
            PodStep::Rebalanced(rb) => {
                let dir = if ratio > 1.0 { "up" } else if ratio < 1.0 { "down" } else { "neither way" };
                let mut assumed = Vec::new();
                let utilization = matches!(p.current, CurrentValue::Utilization { .. });
                match rb.missing_as {
                    MissingAs::NotFilled if b.groups.missing_count() > 0 => {
                        assumed.push("the ratio is exactly 1, so pods without a sample stay out".to_string())
                    }
                    MissingAs::NotFilled => {}
                    MissingAs::Zero => assumed.push(format!(
                        "pods without a sample count as using {} (they might be idle)",
                        if utilization { "0%" } else { "0" }
                    )),
                    MissingAs::PercentOfRequest(pc) => assumed.push(format!(
                        "pods without a sample count as using {pc}% of their request (the larger of 100% and the target: they might be busy)"
                    )),
                    MissingAs::Target(t) => assumed.push(format!(
                        "pods without a sample count as exactly the target, {} (they might be busy)",
                        q(t)
                    )),
                }
                if rb.unready_as_zero {
                    assumed.push(format!(
                        "unready pods count as using {} (they will take load once ready)",
                        if utilization { "0%" } else { "0" }
                    ));
                }
                let _ = writeln!(out, "    rebalancing, since the metric points {dir}: {}", assumed.join("; "));
                let _ = writeln!(
                    out,
                    "    new ratio over {}: {:.3}",
                    crate::units::count(rb.samples, "pod", "pods"),
                    rb.new_ratio
                );
                let line = match rb.outcome {
                    RebalanceOutcome::WithinTolerance => format!(
                        "the new ratio is inside the tolerance {band}: the metric proposes the current {current}"
                    ),
                    RebalanceOutcome::DirectionFlip => format!(
                        "the new ratio points the other way: the metric proposes the current {current}"
                    ),
                    RebalanceOutcome::WrongWay { computed } => format!(
                        "ceil({:.3} x {}) = {computed} would move against the ratio: the metric proposes the current {current}",
                        rb.new_ratio, rb.samples
                    ),
                    RebalanceOutcome::Scaled => format!("proposal: ceil({:.3} x {}) = {}", rb.new_ratio, rb.samples, p.replicas),
                };
                let _ = writeln!(out, "    {line}");
            }
        },
        Basis::Value(b) => {
            let line = match b.step {
                ValueStep::WithinTolerance => format!("within the tolerance: the metric proposes the current {current}"),
                ValueStep::Scaled { ready_pods } => format!(
                    "proposal: ceil({ratio:.3} x {}) = {} (ready: Running with Ready=True)",
                    crate::units::count(ready_pods as usize, "ready pod", "ready pods"),
                    p.replicas
                ),
                ValueStep::FromZero => format!("from zero replicas, no tolerance: ceil({ratio:.3}) = {}", p.replicas),
            };
            let _ = writeln!(out, "    {line}");
        }
        Basis::AverageValue(b) => {
            if b.within_tolerance {
                let _ = writeln!(out, "    within the tolerance: the metric proposes the status replicas, {}", p.replicas);
            } else {
                let _ = writeln!(out, "    proposal: ceil({} / {}) = {}", q(b.usage_milli), q(b.target_milli), p.replicas);
            }
        }
    }
}

fn window_line(out: &mut String, now: SimTime, w: &WindowEntry, initial: bool, legacy: bool) {
    let r = w.recommendation;
    let mut where_ = Vec::new();
    if legacy {
        where_.push(if w.in_down_window { "inside the window" } else { "outside the window" });
    } else {
        if w.in_up_window {
            where_.push("inside the scale-up window");
        }
        if w.in_down_window {
            where_.push("inside the scale-down window");
        }
        if where_.is_empty() {
            where_.push("outside both windows");
        }
    }
    let note = if initial && r.timestamp == now {
        " (recorded now: the controller had no history for this HPA, so it records the current size first)"
    } else {
        ""
    };
    let _ = writeln!(out, "      {} recorded {}: {}{note}", r.replicas, ago_text(now, r.timestamp), where_.join(", "));
}

fn policy_text(b: &PolicyBound) -> String {
    format!("{} {} per {}s", b.policy.r#type.as_str(), b.policy.value, b.policy.period_seconds)
}

fn write_limit(out: &mut String, r: &Report, limit: &ScaleLimit, up: bool) {
    let now = r.snapshot.now;
    let current = r.snapshot.spec_replicas;
    let (events, other) = if up {
        (&r.snapshot.scale_up_events, &r.snapshot.scale_down_events)
    } else {
        (&r.snapshot.scale_down_events, &r.snapshot.scale_up_events)
    };
    if limit.select_policy == ScalingPolicySelect::Disabled {
        let _ = writeln!(out, "    selectPolicy Disabled: no scale {} at all; the limit is the current {current}", if up { "up" } else { "down" });
        return;
    }
    for b in &limit.policies {
        let p = b.policy.period_seconds;
        let counted = |list: &[ScaleEvent], sign: &str| -> Vec<String> {
            list.iter()
                .filter(|e| in_period(e, p, now))
                .map(|e| format!("{sign}{} {}", e.replica_change, ago_text(now, e.timestamp)))
                .collect()
        };
        let mut evs = counted(events, if up { "+" } else { "-" });
        evs.extend(counted(other, if up { "-" } else { "+" }));
        let events_text = if evs.is_empty() { "no scale events in it".to_string() } else { format!("events in it: {}", evs.join(", ")) };
        let _ = writeln!(
            out,
            "    {}: {}s ago the count was {current} - {} added + {} removed = {} ({events_text})",
            policy_text(b),
            p,
            b.added,
            b.deleted,
            b.period_start
        );
        let bound = match (b.policy.r#type, up) {
            (HpaScalingPolicyType::Pods, true) => format!("{} + {} = {}", b.period_start, b.policy.value, b.bound),
            (HpaScalingPolicyType::Pods, false) => format!("{} - {} = {}", b.period_start, b.policy.value, b.bound),
            (HpaScalingPolicyType::Percent, true) => {
                format!("ceil({} x (1 + {}%)) = {}", b.period_start, b.policy.value, b.bound)
            }
            (HpaScalingPolicyType::Percent, false) => {
                format!("truncate({} x (1 - {}%)) = {}", b.period_start, b.policy.value, b.bound)
            }
        };
        let _ = writeln!(out, "      allows {bound}");
    }
    let how = match (limit.select_policy, up) {
        (ScalingPolicySelect::Max, true) | (ScalingPolicySelect::Min, false) => "the largest",
        _ => "the smallest",
    };
    let _ = writeln!(
        out,
        "    selectPolicy {}: {how} bound, {}",
        limit.select_policy.as_str(),
        limit.limit
    );
}

fn limit_phrase(reason: LimitReason, n: i32) -> String {
    match reason {
        LimitReason::DesiredWithinRange => format!("the limits allow {n}"),
        LimitReason::ScaleUpLimit => format!("the scale-up limit holds it to {n}"),
        LimitReason::TooManyReplicas => format!("maxReplicas caps it at {n}"),
        LimitReason::ScaleDownLimit => format!("the scale-down limit holds it at {n}"),
        LimitReason::TooFewReplicas => format!("minReplicas raises it to {n}"),
    }
}

fn limit_words(reason: LimitReason) -> &'static str {
    match reason {
        LimitReason::DesiredWithinRange => "within the limits",
        LimitReason::ScaleUpLimit => "held back by the scale-up limit",
        LimitReason::TooManyReplicas => "capped at maxReplicas",
        LimitReason::ScaleDownLimit => "held back by the scale-down limit",
        LimitReason::TooFewReplicas => "raised to minReplicas",
    }
}

/// The explanation as text, in the order the controller takes the steps.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let e: &Explanation = &r.outcome.explanation;
    let c = &r.config;
    let now = r.snapshot.now;
    let target = r.hpa.target.as_ref().map_or("its target".to_string(), |t| format!("{} {}", t.kind, t.name));
    let _ = writeln!(out, "HorizontalPodAutoscaler {} (scales {target}; from {})", r.hpa.name, r.hpa.source);
    let _ = writeln!(
        out,
        "  minReplicas {}, maxReplicas {}, {}",
        e.min_replicas,
        e.max_replicas,
        if e.legacy { "no behavior: the legacy normalization" } else { "with behavior" }
    );
    let _ = writeln!(
        out,
        "  controller: tolerance {}, cpu-initialization-period {}, initial-readiness-delay {}, downscale-stabilization {}{}",
        c.tolerance,
        dur(c.cpu_initialization_period_ns),
        dur(c.initial_readiness_delay_ns),
        dur(c.downscale_stabilization_ns),
        if c.configurable_tolerance { "" } else { ", HPAConfigurableTolerance off" }
    );
    let _ = writeln!(
        out,
        "  the target has {} replicas (spec), {} (status); its selector lists {}",
        e.spec_replicas,
        e.status_replicas,
        crate::units::count(r.snapshot.pods.len(), "pod", "pods")
    );
    if r.snapshot.pods_without_age > 0 {
        let _ = writeln!(
            out,
            "  ({} without an `age`: taken as started long ago, past the CPU initialization period)",
            crate::units::count(r.snapshot.pods_without_age, "pod", "pods")
        );
    }
    let _ = writeln!(out);

    let mut step = 0;
    let mut heading = |out: &mut String, title: &str| {
        step += 1;
        let _ = writeln!(out, "{step}. {title}");
    };
    match &e.stage {
        Stage::ScalingDisabled => {
            heading(&mut out, "Scaling disabled");
            let _ = writeln!(
                out,
                "  the target has 0 replicas and minReplicas is {}: autoscaling is off for it (ScalingDisabled); nothing is computed",
                e.min_replicas
            );
        }
        Stage::AboveMax => {
            heading(&mut out, "Bounds");
            let _ = writeln!(out, "  {} replicas is above maxReplicas {}: set to {} without reading the metrics", e.spec_replicas, e.max_replicas, e.max_replicas);
        }
        Stage::BelowMin => {
            heading(&mut out, "Bounds");
            let _ = writeln!(out, "  {} replicas is below minReplicas {}: set to {} without reading the metrics", e.spec_replicas, e.min_replicas, e.min_replicas);
        }
        Stage::Metrics(m) => {
            heading(&mut out, "Metrics: one proposal per metric");
            let t = m.tolerances;
            let _ = writeln!(
                out,
                "  tolerance: a usage ratio within {} (down {}, up {}) keeps the current count",
                tolerance_band(t),
                t.scale_down,
                t.scale_up
            );
            for (i, ev) in m.metrics.iter().enumerate() {
                write_metric(&mut out, i, m.metrics.len(), ev, r, t);
            }
            let _ = writeln!(out);
            heading(&mut out, "All metrics: the largest proposal");
            match &m.combined {
                Combined::Proposal { replicas, metric, invalid } => {
                    let _ = writeln!(out, "  {replicas}, from {metric}");
                    if *invalid > 0 {
                        let _ = writeln!(
                            out,
                            "  {} invalid: the controller still acts, because {replicas} is not below the current {} (it never scales down while a metric is invalid)",
                            crate::units::count(*invalid, "metric is", "metrics are"),
                            e.spec_replicas
                        );
                    }
                }
                Combined::NoScale { invalid, total, max_valid, first_error } => {
                    let why = match max_valid {
                        Some(v) if *invalid < *total => format!(
                            "the largest valid proposal, {v}, is below the current {}, and the controller never scales down while a metric is invalid",
                            e.spec_replicas
                        ),
                        _ => "no metric gives a proposal".to_string(),
                    };
                    let _ = writeln!(out, "  {invalid} of {total} metrics invalid; {why}: no scaling (first error: {first_error})");
                }
            }
            if let Some(n) = &m.normalization {
                let _ = writeln!(out);
                match n {
                    Normalization::Legacy { prenormalized, window_ns, window, stabilized, limited } => {
                        heading(&mut out, "Stabilization (legacy: downscale stabilization)");
                        let _ = writeln!(
                            out,
                            "  the highest of the proposal {prenormalized} and the recommendations of the last {} (--horizontal-pod-autoscaler-downscale-stabilization):",
                            dur(*window_ns)
                        );
                        if window.is_empty() {
                            let _ = writeln!(out, "      no recommendations recorded");
                        }
                        for w in window {
                            window_line(&mut out, now, w, e.initial_recommendation.is_some(), true);
                        }
                        let _ = writeln!(out, "  stabilized: {stabilized}");
                        let _ = writeln!(out);
                        heading(&mut out, "Limits (legacy: scale-up limit, min and max)");
                        let _ = writeln!(
                            out,
                            "  scale-up limit: max({} x {}, {}) = {}",
                            c.scale_up_limit_factor,
                            e.spec_replicas,
                            c.scale_up_limit_minimum,
                            limited.scale_up_limit
                        );
                        let _ = writeln!(
                            out,
                            "  {stabilized} within [{}, min({}, {})]: {} ({}, {})",
                            e.min_replicas,
                            e.max_replicas,
                            limited.scale_up_limit,
                            limited.replicas,
                            limit_words(limited.reason),
                            limited.reason
                        );
                    }
                    Normalization::Behavior { prenormalized, up, down, window, stabilized, limited } => {
                        heading(&mut out, "Stabilization (behavior: stabilizationWindowSeconds)");
                        let _ = writeln!(
                            out,
                            "  scale-up window {}s, scale-down window {}s; recorded recommendations:",
                            up.stabilization_window_seconds, down.stabilization_window_seconds
                        );
                        if window.is_empty() {
                            let _ = writeln!(out, "      none");
                        }
                        for w in window {
                            window_line(&mut out, now, w, e.initial_recommendation.is_some(), false);
                        }
                        let _ = writeln!(
                            out,
                            "  lowest of the proposal {prenormalized} and the scale-up window: {}; highest of it and the scale-down window: {}",
                            stabilized.up_recommendation, stabilized.down_recommendation
                        );
                        let _ = writeln!(
                            out,
                            "  the current {} brought up to {} and down to {}: {}{}",
                            e.spec_replicas,
                            stabilized.up_recommendation,
                            stabilized.down_recommendation,
                            stabilized.replicas,
                            if stabilized.replicas != *prenormalized {
                                format!(" ({}: the proposal {prenormalized} is held back)", stabilized.reason.as_str())
                            } else {
                                String::new()
                            }
                        );
                        let _ = writeln!(out);
                        heading(&mut out, "Limits (behavior: scaling policies, min and max)");
                        match (&limited.limit, limited.allowed) {
                            (Some(limit), Some(allowed)) => {
                                let up_dir = stabilized.replicas > e.spec_replicas;
                                let _ = writeln!(
                                    out,
                                    "  scaling {} from {} to {}: the {} policies",
                                    if up_dir { "up" } else { "down" },
                                    e.spec_replicas,
                                    stabilized.replicas,
                                    if up_dir { "scaleUp" } else { "scaleDown" }
                                );
                                write_limit(&mut out, r, limit, up_dir);
                                let bound = if up_dir {
                                    format!("min(maxReplicas {}, max({}, current {}))", e.max_replicas, limit.limit, e.spec_replicas)
                                } else {
                                    format!("max(minReplicas {}, min({}, current {}))", e.min_replicas, limit.limit, e.spec_replicas)
                                };
                                let _ = writeln!(
                                    out,
                                    "  allowed: {bound} = {allowed}; {} -> {} ({}, {})",
                                    stabilized.replicas,
                                    limited.replicas,
                                    limit_words(limited.reason),
                                    limited.reason
                                );
                            }
                            _ => {
                                let _ = writeln!(out, "  no change from the current {}: no policy applies", e.spec_replicas);
                            }
                        }
                    }
                }
            }
        }
    }
    let _ = writeln!(out);
    let fin = e.final_replicas;
    if fin != e.spec_replicas {
        let _ = writeln!(
            out,
            "Result: scale {} from {} to {} replicas ({})",
            if fin > e.spec_replicas { "up" } else { "down" },
            e.spec_replicas,
            fin,
            e.rescale_reason.as_deref().unwrap_or("")
        );
    } else {
        let _ = writeln!(out, "Result: keep {fin} replicas");
    }
    let _ = writeln!(out, "  in short: {}", in_short(r));
    out
}

/// One sentence: which step set the final count.
fn in_short(r: &Report) -> String {
    let e = &r.outcome.explanation;
    let fin = e.final_replicas;
    match &e.stage {
        Stage::ScalingDisabled => format!("the target is at 0 replicas with minReplicas {}: autoscaling is disabled", e.min_replicas),
        Stage::AboveMax => format!("the target was above maxReplicas {}", e.max_replicas),
        Stage::BelowMin => format!("the target was below minReplicas {}", e.min_replicas),
        Stage::Metrics(m) => {
            let (proposal, metric) = match &m.combined {
                Combined::NoScale { .. } => return "a metric is invalid and the others do not ask for more: no change".into(),
                Combined::Proposal { replicas, metric, .. } => (*replicas, metric.clone()),
            };
            let mut s = format!("the metrics propose {proposal} (from {metric})");
            match &m.normalization {
                Some(Normalization::Legacy { stabilized, limited, .. }) => {
                    if *stabilized != proposal {
                        let _ = write!(s, ", the downscale stabilization keeps {stabilized}");
                    }
                    if limited.replicas != *stabilized {
                        let _ = write!(s, ", {}", limit_phrase(limited.reason, limited.replicas));
                    }
                }
                Some(Normalization::Behavior { stabilized, limited, .. }) => {
                    if stabilized.replicas != proposal {
                        let _ = write!(s, ", the stabilization window makes it {}", stabilized.replicas);
                    }
                    if limited.replicas != stabilized.replicas {
                        let _ = write!(s, ", {}", limit_phrase(limited.reason, limited.replicas));
                    }
                }
                None => {}
            }
            let _ = write!(s, "; the HPA sets {fin}");
            s
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

fn age_s(now: SimTime, t: SimTime) -> f64 {
    now.saturating_sub(t) as f64 / NS_PER_S as f64
}

fn target_json(t: &Option<MetricTarget>) -> Value {
    match t {
        None => Value::Null,
        Some(t) => json!({
            "type": t.r#type.as_str(),
            "average_utilization": t.average_utilization,
            "average_value_milli": t.average_value.map(Quantity::milli),
            "value_milli": t.value.map(Quantity::milli),
        }),
    }
}

fn proposal_json(p: &Proposal) -> Value {
    let current = match p.current {
        CurrentValue::Utilization { percent, average_milli } => {
            json!({ "utilization_percent": percent, "average_milli": average_milli })
        }
        CurrentValue::AverageValue { milli } => json!({ "average_value_milli": milli }),
        CurrentValue::Value { milli } => json!({ "value_milli": milli }),
    };
    let basis = match &p.basis {
        Basis::Pods(b) => {
            let pods: Vec<Value> = b
                .groups
                .pods
                .iter()
                .map(|(name, g)| {
                    let why = match g {
                        PodGroup::Unready(w) => Some(w.to_string()),
                        PodGroup::Ignored(w) => Some(w.to_string()),
                        _ => None,
                    };
                    json!({ "pod": name, "group": g.as_str(), "why": why })
                })
                .collect();
            let step = match &b.step {
                PodStep::Direct { within_tolerance } => json!({ "kind": "direct", "within_tolerance": within_tolerance }),
                PodStep::Rebalanced(rb) => {
                    let (missing_as, value) = match rb.missing_as {
                        MissingAs::NotFilled => ("not_filled", Value::Null),
                        MissingAs::Zero => ("zero", json!(0)),
                        MissingAs::PercentOfRequest(pc) => ("percent_of_request", json!(pc)),
                        MissingAs::Target(t) => ("target_milli", json!(t)),
                    };
                    let outcome = match rb.outcome {
                        RebalanceOutcome::WithinTolerance => json!({ "kind": "within_tolerance" }),
                        RebalanceOutcome::DirectionFlip => json!({ "kind": "direction_flip" }),
                        RebalanceOutcome::WrongWay { computed } => json!({ "kind": "wrong_way", "computed": computed }),
                        RebalanceOutcome::Scaled => json!({ "kind": "scaled" }),
                    };
                    json!({
                        "kind": "rebalanced",
                        "missing_as": missing_as,
                        "missing_value": value,
                        "unready_as_zero": rb.unready_as_zero,
                        "new_ratio": rb.new_ratio,
                        "samples": rb.samples,
                        "outcome": outcome,
                    })
                }
            };
            json!({
                "kind": "pods",
                "ready": b.groups.ready_count,
                "unready": b.groups.unready_count(),
                "missing": b.groups.missing_count(),
                "ignored": b.groups.ignored_count(),
                "unknown_pod_samples": b.unknown_pod_samples,
                "pods": pods,
                "step": step,
            })
        }
        Basis::Value(b) => {
            let step = match b.step {
                ValueStep::WithinTolerance => json!({ "kind": "within_tolerance" }),
                ValueStep::Scaled { ready_pods } => json!({ "kind": "scaled", "ready_pods": ready_pods }),
                ValueStep::FromZero => json!({ "kind": "from_zero" }),
            };
            json!({ "kind": "value", "step": step })
        }
        Basis::AverageValue(b) => json!({
            "kind": "average_value",
            "status_replicas": b.status_replicas,
            "usage_milli": b.usage_milli,
            "target_milli": b.target_milli,
            "within_tolerance": b.within_tolerance,
        }),
    };
    json!({ "replicas": p.replicas, "usage_ratio": p.usage_ratio, "current": current, "basis": basis })
}

fn window_json(now: SimTime, w: &[WindowEntry]) -> Value {
    Value::Array(
        w.iter()
            .map(|w| {
                json!({
                    "replicas": w.recommendation.replicas,
                    "age_s": age_s(now, w.recommendation.timestamp),
                    "in_up_window": w.in_up_window,
                    "in_down_window": w.in_down_window,
                })
            })
            .collect(),
    )
}

fn limit_json(l: &ScaleLimit) -> Value {
    json!({
        "select_policy": l.select_policy.as_str(),
        "limit": l.limit,
        "policies": l.policies.iter().map(|b| json!({
            "type": b.policy.r#type.as_str(),
            "value": b.policy.value,
            "period_seconds": b.policy.period_seconds,
            "added": b.added,
            "removed": b.deleted,
            "period_start": b.period_start,
            "bound": b.bound,
        })).collect::<Vec<_>>(),
    })
}

/// The explanation for machines: every intermediate value, with ages in seconds.
pub fn render_json(r: &Report) -> Value {
    let e = &r.outcome.explanation;
    let now = r.snapshot.now;
    let c = &r.config;
    let mut root = json!({
        "hpa": {
            "name": r.hpa.name,
            "source": r.hpa.source,
            "target": r.hpa.target.as_ref().map(|t| json!({ "kind": t.kind, "name": t.name })),
            "min_replicas": e.min_replicas,
            "max_replicas": e.max_replicas,
            "behavior": !e.legacy,
        },
        "controller": {
            "tolerance": c.tolerance,
            "cpu_initialization_period_s": c.cpu_initialization_period_ns as f64 / NS_PER_S as f64,
            "initial_readiness_delay_s": c.initial_readiness_delay_ns as f64 / NS_PER_S as f64,
            "downscale_stabilization_s": c.downscale_stabilization_ns as f64 / NS_PER_S as f64,
            "configurable_tolerance": c.configurable_tolerance,
        },
        "spec_replicas": e.spec_replicas,
        "status_replicas": e.status_replicas,
        "pods_listed": r.snapshot.pods.len(),
        "initial_recommendation": e.initial_recommendation,
        "stage": match &e.stage {
            Stage::ScalingDisabled => "scaling_disabled",
            Stage::AboveMax => "above_max",
            Stage::BelowMin => "below_min",
            Stage::Metrics(_) => "metrics",
        },
        "final_replicas": e.final_replicas,
        "rescaled": r.outcome.rescaled,
        "reason": e.rescale_reason,
        "summary": in_short(r),
    });
    if let Stage::Metrics(m) = &e.stage {
        let metrics: Vec<Value> = m
            .metrics
            .iter()
            .zip(&r.spec.metrics)
            .map(|(ev, spec)| {
                let mut v = json!({
                    "name": ev.name,
                    "type": spec.r#type.as_str(),
                    "key": snapshot_key(spec),
                    "target": target_json(&ev.target),
                });
                match &ev.result {
                    Ok(p) => {
                        v["valid"] = json!(true);
                        v["proposal"] = proposal_json(p);
                    }
                    Err(err) => {
                        v["valid"] = json!(false);
                        v["error"] = json!({ "reason": err.reason, "message": err.message });
                    }
                }
                v
            })
            .collect();
        root["tolerance"] = json!({ "scale_down": m.tolerances.scale_down, "scale_up": m.tolerances.scale_up });
        root["metrics"] = Value::Array(metrics);
        root["combined"] = match &m.combined {
            Combined::Proposal { replicas, metric, invalid } => {
                json!({ "scale": true, "replicas": replicas, "metric": metric, "invalid": invalid })
            }
            Combined::NoScale { invalid, total, max_valid, first_error } => json!({
                "scale": false, "invalid": invalid, "total": total, "max_valid": max_valid, "first_error": first_error,
            }),
        };
        match &m.normalization {
            None => {}
            Some(Normalization::Legacy { prenormalized, window_ns, window, stabilized, limited }) => {
                root["stabilization"] = json!({
                    "path": "legacy",
                    "proposal": prenormalized,
                    "window_s": *window_ns as f64 / NS_PER_S as f64,
                    "recommendations": window_json(now, window),
                    "replicas": stabilized,
                });
                root["limits"] = json!({
                    "path": "legacy",
                    "scale_up_limit": limited.scale_up_limit,
                    "replicas": limited.replicas,
                    "reason": limited.reason.as_str(),
                });
            }
            Some(Normalization::Behavior { prenormalized, up, down, window, stabilized, limited }) => {
                root["stabilization"] = json!({
                    "path": "behavior",
                    "proposal": prenormalized,
                    "up_window_s": up.stabilization_window_seconds,
                    "down_window_s": down.stabilization_window_seconds,
                    "recommendations": window_json(now, window),
                    "up_recommendation": stabilized.up_recommendation,
                    "down_recommendation": stabilized.down_recommendation,
                    "replicas": stabilized.replicas,
                    "reason": stabilized.reason.as_str(),
                });
                let events = |l: &[ScaleEvent]| -> Vec<Value> {
                    l.iter().map(|e| json!({ "change": e.replica_change, "age_s": age_s(now, e.timestamp) })).collect()
                };
                root["limits"] = json!({
                    "path": "behavior",
                    "direction": match limited.limit { None => "none", Some(_) if stabilized.replicas > e.spec_replicas => "up", Some(_) => "down" },
                    "policy_limit": limited.limit.as_ref().map(limit_json),
                    "allowed": limited.allowed,
                    "replicas": limited.replicas,
                    "reason": limited.reason.as_str(),
                    "scale_up_events": events(&r.snapshot.scale_up_events),
                    "scale_down_events": events(&r.snapshot.scale_down_events),
                });
            }
        }
    }
    root
}
