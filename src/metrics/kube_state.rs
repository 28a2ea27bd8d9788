//! kube-state-metrics: the series it derives from the Kubernetes API's objects (Deployments,
//! Pods, Nodes, HorizontalPodAutoscalers), scraped by Prometheus as one more target every
//! `scrape_interval`. Each scrape stores what KSM read of every object then; the series are
//! derived from those readings when a query (or the export) asks, with KSM's names, labels and
//! values (`docs/metrics/` of kubernetes/kube-state-metrics). A series missing from a scrape
//! (its object is gone) is stale from that scrape on, as Prometheus marks it.
//!
//! Recorded only when a query of the run reads a `kube_*` series, or the run's series are
//! exported.

use std::collections::{BTreeMap, VecDeque};

use super::eval::{Elem, Labels, RangeSeries, Selector};
use super::LOOKBACK_NS;
use crate::engine::time::{secs, SimTime};

/// The metric names this module gives.
pub const NAMES: [&str; 6] = [
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_available",
    "kube_pod_status_phase",
    "kube_pod_status_ready",
    "kube_node_status_condition",
    "kube_horizontalpodautoscaler_status_desired_replicas",
];

/// The job and instance labels of the kube-state-metrics target.
pub const JOB: &str = "kube-state-metrics";
pub const INSTANCE: &str = "kube-state-metrics:8080";

/// A pod's `status.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

/// What KSM reads of one object at a scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum State {
    /// `spec.replicas` and `status.availableReplicas`.
    Deployment { spec_replicas: u32, available: u32 },
    /// `status.phase` and the status of the `Ready` condition (`None`: the pod has no such
    /// condition yet, as an unscheduled pod).
    Pod { phase: Phase, ready: Option<bool> },
    /// The status of the node's `Ready` condition (the pressure conditions are `False`).
    Node { ready: bool },
    /// `status.desiredReplicas`.
    Hpa { desired: u32 },
}

/// The kinds of object, in the order their series are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Deployment,
    Hpa,
    Node,
    Pod,
}

impl State {
    fn kind(&self) -> Kind {
        match self {
            State::Deployment { .. } => Kind::Deployment,
            State::Pod { .. } => Kind::Pod,
            State::Node { .. } => Kind::Node,
            State::Hpa { .. } => Kind::Hpa,
        }
    }
}

/// One series an object of a kind has: its name, its labels beyond the object's, and its value
/// in a state (`None`: the series does not exist in that state).
struct Def {
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    value: fn(&State) -> Option<f64>,
}

fn one(b: bool) -> Option<f64> {
    Some(if b { 1.0 } else { 0.0 })
}

macro_rules! phase {
    ($p:ident, $s:literal) => {
        Def {
            name: "kube_pod_status_phase",
            labels: &[("phase", $s)],
            value: |s| match s {
                State::Pod { phase, .. } => one(*phase == Phase::$p),
                _ => None,
            },
        }
    };
}

const DEPLOYMENT: &[Def] = &[
    Def {
        name: "kube_deployment_spec_replicas",
        labels: &[],
        value: |s| match s {
            State::Deployment { spec_replicas, .. } => Some(f64::from(*spec_replicas)),
            _ => None,
        },
    },
    Def {
        name: "kube_deployment_status_replicas_available",
        labels: &[],
        value: |s| match s {
            State::Deployment { available, .. } => Some(f64::from(*available)),
            _ => None,
        },
    },
];

const POD: &[Def] = &[
    phase!(Pending, "Pending"),
    phase!(Running, "Running"),
    phase!(Succeeded, "Succeeded"),
    phase!(Failed, "Failed"),
    phase!(Unknown, "Unknown"),
    Def {
        name: "kube_pod_status_ready",
        labels: &[("condition", "true")],
        value: |s| match s {
            State::Pod { ready: Some(r), .. } => one(*r),
            _ => None,
        },
    },
    Def {
        name: "kube_pod_status_ready",
        labels: &[("condition", "false")],
        value: |s| match s {
            State::Pod { ready: Some(r), .. } => one(!*r),
            _ => None,
        },
    },
    Def {
        name: "kube_pod_status_ready",
        labels: &[("condition", "unknown")],
        value: |s| match s {
            State::Pod { ready: Some(_), .. } => Some(0.0),
            _ => None,
        },
    },
];

macro_rules! condition {
    ($c:literal, $st:literal, $f:expr) => {
        Def {
            name: "kube_node_status_condition",
            labels: &[("condition", $c), ("status", $st)],
            value: |s| match s {
                State::Node { ready } => Some($f(*ready)),
                _ => None,
            },
        }
    };
}

const NODE: &[Def] = &[
    condition!("Ready", "true", |r: bool| if r { 1.0 } else { 0.0 }),
    condition!("Ready", "false", |r: bool| if r { 0.0 } else { 1.0 }),
    condition!("Ready", "unknown", |_: bool| 0.0),
    condition!("MemoryPressure", "true", |_: bool| 0.0),
    condition!("MemoryPressure", "false", |_: bool| 1.0),
    condition!("MemoryPressure", "unknown", |_: bool| 0.0),
    condition!("DiskPressure", "true", |_: bool| 0.0),
    condition!("DiskPressure", "false", |_: bool| 1.0),
    condition!("DiskPressure", "unknown", |_: bool| 0.0),
    condition!("PIDPressure", "true", |_: bool| 0.0),
    condition!("PIDPressure", "false", |_: bool| 1.0),
    condition!("PIDPressure", "unknown", |_: bool| 0.0),
];

const HPA: &[Def] = &[Def {
    name: "kube_horizontalpodautoscaler_status_desired_replicas",
    labels: &[],
    value: |s| match s {
        State::Hpa { desired } => Some(f64::from(*desired)),
        _ => None,
    },
}];

fn defs(kind: Kind) -> &'static [Def] {
    match kind {
        Kind::Deployment => DEPLOYMENT,
        Kind::Pod => POD,
        Kind::Node => NODE,
        Kind::Hpa => HPA,
    }
}

/// One object's readings.
#[derive(Debug, Clone)]
struct Object {
    kind: Kind,
    name: String,
    /// The readings of the scrapes that saw it, oldest first.
    samples: VecDeque<(SimTime, State)>,
}

/// Every reading kept, pruned to what queries can still reach.
#[derive(Debug, Clone, Default)]
pub struct KubeState {
    /// By kind and a key unique among the run's objects of that kind.
    objects: BTreeMap<(Kind, u64), Object>,
    /// The scrapes' times, oldest first.
    scrapes: VecDeque<SimTime>,
}

/// A UUID-shaped `uid` for a pod, fixed by its name (names are unique within a run).
pub fn uid(name: &str) -> String {
    let h = crate::engine::rng::fnv1a(name);
    let g = crate::engine::rng::fnv1a(&format!("{name}/uid"));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        0x8000 | ((g >> 48) & 0x3fff),
        g & 0xffff_ffff_ffff
    )
}

impl KubeState {
    /// A scrape at `t` begins; [`KubeState::put`] each object it reads.
    pub fn begin_scrape(&mut self, t: SimTime) {
        self.scrapes.push_back(t);
    }

    /// The scrape at `t` read `state` of the object `key` (unique among its kind's objects in
    /// the run); `name` gives its name the first time it is seen.
    pub fn put(&mut self, key: u64, name: impl FnOnce() -> String, t: SimTime, state: State) {
        let kind = state.kind();
        let obj = self.objects.entry((kind, key)).or_insert_with(|| Object { kind, name: name(), samples: VecDeque::new() });
        obj.samples.push_back((t, state));
    }

    /// Forget readings older than `retention` before `now`, and objects with none left.
    pub fn prune(&mut self, now: SimTime, retention: u64) {
        let keep = |t: SimTime| t + retention >= now;
        while self.scrapes.front().is_some_and(|&t| !keep(t)) {
            self.scrapes.pop_front();
        }
        self.objects.retain(|_, o| {
            while o.samples.front().is_some_and(|s| !keep(s.0)) {
                o.samples.pop_front();
            }
            !o.samples.is_empty()
        });
    }

    /// When objects' series went stale: the first scrape after an object's last reading.
    pub fn ends(&self) -> Vec<SimTime> {
        self.objects
            .values()
            .filter_map(|o| {
                let last = o.samples.back()?.0;
                let i = self.scrapes.partition_point(|&t| t <= last);
                self.scrapes.get(i).copied()
            })
            .collect()
    }

    /// The labels of series `def` of object `o`, sorted.
    fn labels(&self, o: &Object, def: &Def, namespace: &str) -> Labels {
        let mut l: Vec<(String, String)> = vec![
            ("__name__".into(), def.name.into()),
            ("instance".into(), INSTANCE.into()),
            ("job".into(), JOB.into()),
        ];
        let object_label = match o.kind {
            Kind::Deployment => "deployment",
            Kind::Pod => "pod",
            Kind::Node => "node",
            Kind::Hpa => "horizontalpodautoscaler",
        };
        l.push((object_label.into(), o.name.clone()));
        if o.kind != Kind::Node {
            l.push(("namespace".into(), namespace.into()));
        }
        if o.kind == Kind::Pod {
            l.push(("uid".into(), uid(&o.name)));
        }
        l.extend(def.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        l.sort();
        l
    }

    /// Every series `sel` selects, with its labels.
    fn selected<'a>(&'a self, sel: &'a Selector<'_>, namespace: &'a str) -> impl Iterator<Item = (&'a Object, &'static Def, Labels)> + 'a {
        self.objects.values().flat_map(move |o| {
            defs(o.kind).iter().filter_map(move |d| {
                if sel.name.is_some_and(|n| n != d.name) {
                    return None;
                }
                let labels = self.labels(o, d, namespace);
                sel.matches(&labels).then_some((o, d, labels))
            })
        })
    }

    /// The instant vector of `sel` at `at`: each series' value at the last scrape in the
    /// lookback, when that scrape saw its object (else the series is stale or never was).
    pub fn instant(&self, sel: &Selector<'_>, namespace: &str, at: SimTime, out: &mut Vec<Elem>) {
        let i = self.scrapes.partition_point(|&t| t <= at);
        let Some(last) = i.checked_sub(1).map(|i| self.scrapes[i]) else { return };
        if last + LOOKBACK_NS <= at {
            return;
        }
        for (o, d, labels) in self.selected(sel, namespace) {
            let j = o.samples.partition_point(|s| s.0 <= at);
            let Some(&(t, state)) = j.checked_sub(1).map(|j| &o.samples[j]) else { continue };
            if t != last {
                continue;
            }
            if let Some(value) = (d.value)(&state) {
                out.push(Elem { labels, value });
            }
        }
    }

    /// The samples of each series `sel` selects in `(at - range, at]`.
    pub fn range(&self, sel: &Selector<'_>, namespace: &str, at: SimTime, range_ns: u64, out: &mut Vec<RangeSeries>) {
        let start = at.saturating_sub(range_ns);
        for (o, d, labels) in self.selected(sel, namespace) {
            let points = o
                .samples
                .iter()
                .filter(|s| s.0 > start && s.0 <= at)
                .filter_map(|(t, state)| (d.value)(state).map(|v| (secs(*t), v)))
                .collect();
            out.push(RangeSeries { labels, points });
        }
    }

    /// Every sample of every series, as `(name, labels without __name__, [(time, value)])`.
    pub fn all_series(&self, namespace: &str) -> Vec<(&'static str, Labels, Vec<(SimTime, f64)>)> {
        let mut out = Vec::new();
        for o in self.objects.values() {
            for d in defs(o.kind) {
                let points: Vec<(SimTime, f64)> = o.samples.iter().filter_map(|(t, s)| (d.value)(s).map(|v| (*t, v))).collect();
                if points.is_empty() {
                    continue;
                }
                let mut labels = self.labels(o, d, namespace);
                labels.retain(|(k, _)| k != "__name__");
                out.push((d.name, labels, points));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::label::{MatchOp, Matcher};

    const S: u64 = 1_000_000_000;

    fn world() -> KubeState {
        let mut k = KubeState::default();
        // Scrapes at 10s, 25s, 40s. The pod is unscheduled, then starting, then ready; the
        // second pod is gone after the first scrape.
        let pod = |phase, ready| State::Pod { phase, ready };
        for (i, t) in [10 * S, 25 * S, 40 * S].into_iter().enumerate() {
            k.begin_scrape(t);
            k.put(0, || "api".into(), t, State::Deployment { spec_replicas: 2, available: i as u32 });
            let p = [pod(Phase::Pending, None), pod(Phase::Pending, Some(false)), pod(Phase::Running, Some(true))][i];
            k.put(1, || "api-1".into(), t, p);
            if i == 0 {
                k.put(2, || "api-0".into(), t, pod(Phase::Running, Some(true)));
            }
            k.put(0, || "pool-0".into(), t, State::Node { ready: true });
            k.put(0, || "keda-hpa-api".into(), t, State::Hpa { desired: 2 });
        }
        k
    }

    fn sel<'a>(name: &'a str, matchers: &'a [Matcher]) -> Selector<'a> {
        Selector { name: Some(name), matchers }
    }

    fn label<'l>(l: &'l Labels, k: &str) -> &'l str {
        l.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str())
    }

    #[test]
    fn pod_phase_is_one_for_the_phase_and_zero_for_the_others() {
        let k = world();
        let pending = [Matcher::new(MatchOp::Equal, "phase", "Pending")];
        let mut out = Vec::new();
        k.instant(&sel("kube_pod_status_phase", &pending), "default", 12 * S, &mut out);
        let v: Vec<(&str, f64)> = out.iter().map(|e| (label(&e.labels, "pod"), e.value)).collect();
        assert_eq!(v, vec![("api-1", 1.0), ("api-0", 0.0)]);
        // Each pod has all five phases, one of them 1.
        let mut out = Vec::new();
        k.instant(&sel("kube_pod_status_phase", &[]), "default", 41 * S, &mut out);
        assert_eq!(out.len(), 5, "the gone pod is stale: {out:?}");
        assert_eq!(out.iter().map(|e| e.value).sum::<f64>(), 1.0);
        let running = out.iter().find(|e| e.value == 1.0).unwrap();
        assert_eq!(label(&running.labels, "phase"), "Running");
        assert_eq!(label(&running.labels, "namespace"), "default");
        assert_eq!(label(&running.labels, "job"), JOB);
        assert_eq!(label(&running.labels, "uid"), uid("api-1"));
    }

    #[test]
    fn the_ready_condition_exists_once_the_pod_has_one() {
        let k = world();
        let mut out = Vec::new();
        k.instant(&sel("kube_pod_status_ready", &[Matcher::new(MatchOp::Equal, "pod", "api-1")]), "default", 12 * S, &mut out);
        assert!(out.is_empty(), "unscheduled: no Ready condition: {out:?}");
        out.clear();
        k.instant(&sel("kube_pod_status_ready", &[Matcher::new(MatchOp::Equal, "pod", "api-1")]), "default", 30 * S, &mut out);
        let v: Vec<(&str, f64)> = out.iter().map(|e| (label(&e.labels, "condition"), e.value)).collect();
        assert_eq!(v, vec![("true", 0.0), ("false", 1.0), ("unknown", 0.0)]);
        // Over a range, only the readings where the series existed.
        let mut r = Vec::new();
        k.range(&sel("kube_pod_status_ready", &[Matcher::new(MatchOp::Equal, "condition", "true")]), "default", 45 * S, 60 * S, &mut r);
        let api1 = r.iter().find(|s| label(&s.labels, "pod") == "api-1").unwrap();
        assert_eq!(api1.points, vec![(25.0, 0.0), (40.0, 1.0)]);
    }

    #[test]
    fn deployments_nodes_and_hpas_carry_ksm_labels() {
        let k = world();
        let mut out = Vec::new();
        k.instant(&sel("kube_deployment_status_replicas_available", &[]), "prod", 26 * S, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((label(&out[0].labels, "deployment"), label(&out[0].labels, "namespace"), out[0].value), ("api", "prod", 1.0));
        let mut out = Vec::new();
        let ready = [Matcher::new(MatchOp::Equal, "condition", "Ready")];
        k.instant(&sel("kube_node_status_condition", &ready), "prod", 26 * S, &mut out);
        let v: Vec<(&str, f64)> = out.iter().map(|e| (label(&e.labels, "status"), e.value)).collect();
        assert_eq!(v, vec![("true", 1.0), ("false", 0.0), ("unknown", 0.0)]);
        assert_eq!(label(&out[0].labels, "namespace"), "", "nodes have no namespace");
        let mut out = Vec::new();
        k.instant(&sel("kube_horizontalpodautoscaler_status_desired_replicas", &[]), "prod", 26 * S, &mut out);
        assert_eq!(label(&out[0].labels, "horizontalpodautoscaler"), "keda-hpa-api");
        // Nothing before the first scrape, nothing after the 5-minute lookback.
        let mut out = Vec::new();
        k.instant(&sel("kube_deployment_spec_replicas", &[]), "prod", 5 * S, &mut out);
        k.instant(&sel("kube_deployment_spec_replicas", &[]), "prod", 400 * S, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn gone_objects_end_at_the_next_scrape_and_are_pruned() {
        let mut k = world();
        assert_eq!(k.ends(), vec![25 * S]);
        k.prune(40 * S, 20 * S);
        assert_eq!(k.scrapes, VecDeque::from([25 * S, 40 * S]));
        assert!(!k.objects.contains_key(&(Kind::Pod, 2)), "api-0's readings are all older than the retention");
        assert_eq!(k.objects[&(Kind::Pod, 1)].samples.len(), 2);
    }

    #[test]
    fn uids_are_uuid_shaped_and_fixed_by_the_name() {
        let u = uid("api-1");
        assert_eq!(u, uid("api-1"));
        assert_ne!(u, uid("api-2"));
        let parts: Vec<usize> = u.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12], "{u}");
        assert_eq!(&u[14..15], "4", "{u}: version 4");
    }
}
