//! The snapshot: what the controller read (replicas, pods, metric values, failed fetches) and
//! its memory (recommendations, scale events), as a reconcile's inputs.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSnapshot {
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
pub(super) struct RawPod {
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
pub(super) struct RawContainer {
    name: String,
    #[serde(default)]
    requests: BTreeMap<String, Quantity>,
    #[serde(default)]
    usage: BTreeMap<String, Quantity>,
}

#[derive(Deserialize, Clone, Copy)]
pub(super) enum RawPhase {
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
pub(super) struct RawRecommendation {
    replicas: Spanned<i32>,
    age: Spanned<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
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

pub(super) fn names_of(spec: &HpaSpec, t: &[MetricSourceType]) -> Vec<String> {
    spec.metrics.iter().filter(|m| t.contains(&m.r#type)).map(snapshot_key).collect()
}

pub(super) fn one_of(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
    }
}

/// One pod as listed, before the samples are chosen per metric.
pub(super) struct SnapPod {
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

/// Where a snapshot is read: its file and text (for errors with line and column), "now", and
/// the sample window of pods that give none.
struct Reading<'a> {
    path: &'a Path,
    text: &'a str,
    now: SimTime,
    default_window: u64,
}

impl Reading<'_> {
    fn err(&self, span: Range<usize>, msg: String) -> ExplainError {
        located(self.path, self.text, ConfigError::at(span, msg))
    }

    /// The instant `d` ago.
    fn ago(&self, d: &Spanned<Duration>) -> SimTime {
        self.now - d.get_ref().0
    }
}

/// [`read_snapshot`] from text (`path` names it in errors).
pub fn parse_snapshot(path: &Path, text: &str, spec: &HpaSpec, config: &ControllerConfig) -> Result<Snapshot, ExplainError> {
    let raw: RawSnapshot = toml::from_str(text).map_err(|e| located(path, text, ConfigError::from(e)))?;
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
    let mut r = Reading { path, text, now: 0, default_window: sample_window.as_ref().map_or(15 * NS_PER_S, |w| w.get_ref().0) };

    let count = |v: &Spanned<i64>, key: &str| -> Result<i32, ExplainError> {
        i32::try_from(*v.get_ref())
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| r.err(v.span(), format!("`{key}` = {}: expected a replica count (0 or more)", v.get_ref())))
    };
    let spec_replicas = count(&replicas, "replicas")?;
    let status_replicas = status_replicas.as_ref().map_or(Ok(spec_replicas), |s| count(s, "status_replicas"))?;

    let mut config = config.clone();
    if let Some(c) = &controller {
        c.get_ref().apply(&mut config).map_err(|e| r.err(c.span(), e))?;
    }
    r.now = snapshot_now(&pods, recommendations.as_deref(), &scale_events, &config);

    let pods_names = names_of(spec, &[MetricSourceType::Pods]);
    let mut listed: Vec<SnapPod> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut pods_without_age = 0;
    for p in &pods {
        pods_without_age += snapshot_pod(&r, p, &pods_names, &mut seen, &mut listed)?;
    }
    let series = snapshot_values(&r, spec, &object, &external, &unavailable)?;
    let metrics = spec.metrics.iter().map(|m| observation(m, &listed, &object, &series, &unavailable)).collect();
    let (recommendations, scale_up_events, scale_down_events) = snapshot_history(&r, recommendations.as_deref(), &scale_events)?;
    Ok(Snapshot {
        now: r.now,
        spec_replicas,
        status_replicas,
        pods: listed.into_iter().map(|p| p.info).collect(),
        metrics,
        recommendations,
        scale_up_events,
        scale_down_events,
        flags: controller.map(Spanned::into_inner),
        pods_without_age,
    })
}

/// "Now" lies after every age in the file and after the CPU periods, so that a pod whose age
/// is not given started before anything the controller looks at.
fn snapshot_now(pods: &[Spanned<RawPod>], recommendations: Option<&[RawRecommendation]>, events: &[RawEvent], config: &ControllerConfig) -> SimTime {
    let mut longest = 0u64;
    let mut see = |d: Option<&Spanned<Duration>>| {
        if let Some(d) = d {
            longest = longest.max(d.get_ref().0);
        }
    };
    for p in pods {
        let p = p.get_ref();
        see(p.age.as_ref());
        see(p.ready_changed.as_ref());
        see(p.sample_age.as_ref());
    }
    for r in recommendations.into_iter().flatten() {
        see(Some(&r.age));
    }
    for e in events {
        see(Some(&e.age));
    }
    longest
        .saturating_add(config.cpu_initialization_period_ns)
        .saturating_add(config.initial_readiness_delay_ns)
        .saturating_add(86_400 * NS_PER_S)
}

/// The Ready condition a pod's `ready` gives (`None`: no condition).
fn ready_status(r: &Reading<'_>, p: &RawPod, phase: PodPhase) -> Result<Option<ConditionStatus>, ExplainError> {
    Ok(match &p.ready {
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
                return Err(r.err(v.span(), format!("`ready` = {other}: expected true, false, \"unknown\" or \"none\" (no Ready condition)")))
            }
        },
    })
}

/// A pod's containers with their requests, and its usage by container (one container named
/// `app` when the pod lists none).
type Containers = (Vec<ContainerRequests>, Vec<(String, BTreeMap<String, i64>)>);

fn pod_containers(r: &Reading<'_>, p: &RawPod, span: Range<usize>) -> Result<Containers, ExplainError> {
    let milli = |m: &BTreeMap<String, Quantity>| -> BTreeMap<String, i64> { m.iter().map(|(k, q)| (k.clone(), q.milli())).collect() };
    match &p.containers {
        Some(cs) => {
            for (key, s) in [("requests", p.requests.as_ref().map(Spanned::span)), ("usage", p.usage.as_ref().map(Spanned::span))] {
                if let Some(s) = s {
                    return Err(r.err(s, format!("`{key}` of a pod that lists `containers`: give each container its `{key}`")));
                }
            }
            if cs.is_empty() {
                return Err(r.err(span, "`containers` is empty: a pod has at least one container".into()));
            }
            let requests = cs.iter().map(|c| ContainerRequests { name: c.name.clone(), requests: milli(&c.requests) }).collect();
            Ok((requests, cs.iter().map(|c| (c.name.clone(), milli(&c.usage))).collect()))
        }
        None => {
            let req = p.requests.as_ref().map(|q| milli(q.get_ref())).unwrap_or_default();
            let used = p.usage.as_ref().map(|u| milli(u.get_ref())).unwrap_or_default();
            Ok((vec![ContainerRequests { name: "app".into(), requests: req }], vec![("app".to_string(), used)]))
        }
    }
}

/// One `[[pods]]` table (`count` pods alike) onto `listed`; returns how many pods it lists
/// without an age.
fn snapshot_pod(
    r: &Reading<'_>,
    p: &Spanned<RawPod>,
    pods_names: &[String],
    seen: &mut BTreeSet<String>,
    listed: &mut Vec<SnapPod>,
) -> Result<usize, ExplainError> {
    let span = p.span();
    let p = p.get_ref();
    for (k, v) in &p.metrics {
        if !pods_names.contains(k) {
            return Err(r.err(v.span(), format!("pod metric {k:?}: the HPA has no Pods metric of that name (its Pods metrics: {})", one_of(pods_names))));
        }
    }
    let phase = match p.phase.unwrap_or(RawPhase::Running) {
        RawPhase::Pending => PodPhase::Pending,
        RawPhase::Running => PodPhase::Running,
        RawPhase::Succeeded => PodPhase::Succeeded,
        RawPhase::Failed => PodPhase::Failed,
        RawPhase::Unknown => PodPhase::Unknown,
    };
    let mut without_age = 0;
    let start_time = match (p.started, &p.age) {
        (Some(false), Some(a)) => return Err(r.err(a.span(), "`age` with `started = false`: a pod that has not started has no age".into())),
        (Some(false), None) => None,
        (_, Some(a)) => Some(r.ago(a)),
        (_, None) => {
            without_age = p.count.as_ref().map_or(1, |c| *c.get_ref() as usize);
            Some(0)
        }
    };
    let status = ready_status(r, p, phase)?;
    if let (None, Some(c)) = (status, &p.ready_changed) {
        return Err(r.err(c.span(), "`ready_changed` without a Ready condition (`ready = \"none\"`)".into()));
    }
    let ready = status.map(|status| ReadyCondition {
        status,
        last_transition_time: p.ready_changed.as_ref().map_or(start_time.unwrap_or(0), |d| r.ago(d)),
    });
    let (containers, usage) = pod_containers(r, p, span.clone())?;
    let containers: std::sync::Arc<[ContainerRequests]> = containers.into();
    let n = p.count.as_ref().map_or(1, |c| *c.get_ref());
    if n == 0 {
        let s = p.count.as_ref().map_or(span, Spanned::span);
        return Err(r.err(s, "`count` = 0: expected 1 or more pods".into()));
    }
    for i in 1..=n {
        let base = p.name.get_ref();
        let name = if p.count.is_some() && n > 1 { format!("{base}-{i}") } else { base.clone() };
        if !seen.insert(name.clone()) {
            return Err(r.err(p.name.span(), format!("two pods named {name:?}")));
        }
        listed.push(SnapPod {
            info: PodInfo { name: name.into(), phase, deleting: p.deleting, start_time, ready, containers: containers.clone(), pod_requests: None },
            usage: usage.clone(),
            metrics: p.metrics.iter().map(|(k, v)| (k.clone(), v.get_ref().milli())).collect(),
            sample_at: p.sample_age.as_ref().map_or(r.now, |d| r.ago(d)),
            window_ns: p.window.as_ref().map_or(r.default_window, |w| w.get_ref().0),
        });
    }
    Ok(without_age)
}

/// Check the `[object]`, `[external]` and `[unavailable]` names against the spec's metrics;
/// returns the External series.
fn snapshot_values(
    r: &Reading<'_>,
    spec: &HpaSpec,
    object: &BTreeMap<String, Spanned<Quantity>>,
    external: &BTreeMap<String, Spanned<toml::Value>>,
    unavailable: &BTreeMap<String, Spanned<String>>,
) -> Result<BTreeMap<String, Vec<i64>>, ExplainError> {
    let object_names = names_of(spec, &[MetricSourceType::Object]);
    let external_names = names_of(spec, &[MetricSourceType::External]);
    let all_names: Vec<String> = spec.metrics.iter().map(snapshot_key).collect();
    for (k, v) in object {
        if !object_names.contains(k) {
            return Err(r.err(v.span(), format!("[object] {k:?}: the HPA has no Object metric of that name (its Object metrics: {})", one_of(&object_names))));
        }
    }
    let mut series: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (k, v) in external {
        if !external_names.contains(k) {
            return Err(r.err(v.span(), format!("[external] {k:?}: the HPA has no External metric of that name (its External metrics: {})", one_of(&external_names))));
        }
        let quantity = |x: &toml::Value| {
            Quantity::deserialize(x.clone())
                .map(Quantity::milli)
                .map_err(|e| r.err(v.span(), format!("[external] {k:?}: {}", crate::scenario::error::plain_words(e.message().trim()))))
        };
        let values = match v.get_ref() {
            toml::Value::Array(items) => items.iter().map(quantity).collect::<Result<Vec<_>, _>>()?,
            one => vec![quantity(one)?],
        };
        series.insert(k.clone(), values);
    }
    for (k, v) in unavailable {
        if !all_names.contains(k) {
            return Err(r.err(v.span(), format!("[unavailable] {k:?}: the HPA has no metric of that name (its metrics: {})", one_of(&all_names))));
        }
    }
    Ok(series)
}

/// What the controller's fetch of metric `m` gave.
fn observation(
    m: &MetricSpec,
    listed: &[SnapPod],
    object: &BTreeMap<String, Spanned<Quantity>>,
    series: &BTreeMap<String, Vec<i64>>,
    unavailable: &BTreeMap<String, Spanned<String>>,
) -> MetricObservation {
    let key = snapshot_key(m);
    if let Some(msg) = unavailable.get(&key) {
        return MetricObservation::Unavailable(msg.get_ref().clone());
    }
    let per_pod = |sample: &dyn Fn(&SnapPod) -> Option<i64>| -> PodMetrics {
        listed
            .iter()
            .filter_map(|p| sample(p).map(|v| (p.info.name.clone(), PodMetric { value_milli: v, timestamp: p.sample_at, window_ns: p.window_ns })))
            .collect()
    };
    // A metric the snapshot says nothing about is one whose fetch gave nothing: invalid for
    // this reconcile, as upstream treats it, with the hint in its message.
    let missing = |what: &str, hint: &str| {
        MetricObservation::Unavailable(format!(
            "the snapshot has no value for {key:?} ({what}): {hint}, or list it under [unavailable] with the error the fetch gave"
        ))
    };
    match m.r#type {
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
    }
}

/// The controller's memory: its recommendations (`None`: no history) and its scale-up and
/// scale-down events.
type History = (Option<Vec<TimestampedRecommendation>>, Vec<ScaleEvent>, Vec<ScaleEvent>);

fn snapshot_history(r: &Reading<'_>, recommendations: Option<&[RawRecommendation]>, scale_events: &[RawEvent]) -> Result<History, ExplainError> {
    let mut recs = None;
    if let Some(list) = recommendations {
        let mut v = Vec::with_capacity(list.len());
        for rec in list {
            if *rec.replicas.get_ref() < 0 {
                return Err(r.err(rec.replicas.span(), format!("`replicas` = {}: expected a replica count (0 or more)", rec.replicas.get_ref())));
            }
            v.push(TimestampedRecommendation { replicas: *rec.replicas.get_ref(), timestamp: r.ago(&rec.age) });
        }
        recs = Some(v);
    }
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for e in scale_events {
        let ev = |n: i32| ScaleEvent { replica_change: n, timestamp: r.ago(&e.age), outdated: false };
        match *e.change.get_ref() {
            0 => return Err(r.err(e.change.span(), "`change` = 0: a scale event adds (+N) or removes (-N) replicas".into())),
            c if c > 0 => up.push(ev(c)),
            c => down.push(ev(c.saturating_neg())),
        }
    }
    Ok((recs, up, down))
}
