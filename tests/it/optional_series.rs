//! The series a run records only when a query reads them: the latency histogram's buckets and
//! kube-state-metrics'. They agree with the engine's own view (the Kubernetes API a policy
//! sees, the requests served), a policy can scale on them, and recording them changes nothing
//! else in a run.

use std::sync::{Arc, Mutex};

use autosim::engine::SimTime;
use autosim::metrics::eval::{self, Value};
use autosim::metrics::expr::Expr;
use autosim::metrics::Optional;
use autosim::policy::{Decision, Observation, Policy, PolicyFactory, Target, Verdict};
use autosim::Simulation;

use crate::common::{root, scenario};

const S: u64 = 1_000_000_000;

/// A one-number query's value at `at` (`None`: empty).
fn number(store: &autosim::metrics::MetricsStore, q: &str, services: &[String], at: SimTime) -> Option<f64> {
    let e = Expr::parse(q, services).unwrap_or_else(|err| panic!("{q}: {err}"));
    match eval::eval(e.ast(), store, at).unwrap_or_else(|err| panic!("{q}: {err}")) {
        Value::Scalar(v) => Some(v),
        Value::Vector(v) if v.is_empty() => None,
        Value::Vector(v) if v.len() == 1 => Some(v[0].value),
        other => panic!("{q}: several series: {other:?}"),
    }
}

/// What the probe compared at one kube-state-metrics scrape: (query, from KSM, from the API).
type Seen = Vec<(SimTime, &'static str, f64, f64)>;

/// A pod policy that looks right after each kube-state-metrics scrape and compares KSM's
/// series with the API view, and scales the Deployment up at 1 min and down at 7 min.
#[derive(Debug, Clone)]
struct Probe {
    queries: Vec<(&'static str, Expr)>,
    first: SimTime,
    seen: Arc<Mutex<Seen>>,
}

const PROBE_QUERIES: [&str; 7] = [
    r#"sum(kube_pod_status_phase{phase="Pending"})"#,
    r#"sum(kube_pod_status_phase{phase="Running"})"#,
    r#"sum(kube_pod_status_ready{condition="true"})"#,
    r#"count(kube_pod_status_ready)"#,
    r#"kube_deployment_spec_replicas{deployment="api"}"#,
    r#"kube_deployment_status_replicas_available{namespace="shop"}"#,
    r#"sum(kube_node_status_condition{condition="Ready",status="true"})"#,
];

impl PolicyFactory for Probe {
    fn kind(&self) -> &'static str {
        "probe"
    }
    fn build(&self) -> Box<dyn Policy> {
        Box::new(self.clone())
    }
    fn queries(&self) -> Vec<&Expr> {
        self.queries.iter().map(|(_, e)| e).collect()
    }
}

impl Policy for Probe {
    fn first_wake(&self) -> SimTime {
        self.first
    }
    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        use autosim::policy::api::PodPhase as P;
        let pods = obs.pods(0);
        let d = obs.deployment(0);
        let count = |f: &dyn Fn(&P) -> bool| pods.iter().filter(|p| f(&p.phase)).count() as f64;
        let api = [
            count(&|p| matches!(p, P::Pending | P::Starting)),
            count(&|p| matches!(p, P::Ready | P::Terminating)),
            count(&|p| *p == P::Ready),
            3.0 * count(&|p| *p != P::Pending),
            f64::from(d.spec_replicas),
            f64::from(d.ready_replicas),
            obs.nodes().iter().filter(|n| n.state != autosim::policy::api::NodeState::Provisioning).count() as f64,
        ];
        let mut seen = self.seen.lock().unwrap();
        for ((q, e), want) in self.queries.iter().zip(api) {
            let got = obs.promql(e).and_then(|r| e.reduce(&r)).unwrap_or_else(|err| panic!("{q}: {err}")).unwrap_or(0.0);
            seen.push((obs.now(), q, got, want));
        }
        let to = match obs.now() {
            t if t >= 420 * S => 1,
            t if t >= 60 * S => 6,
            _ => d.spec_replicas,
        };
        if to != d.spec_replicas {
            out.push(Decision { target: Target::Deployment(0), from: d.spec_replicas, to, verdict: Verdict::Apply, reason: "probe".into() });
        }
        obs.now() + 15 * S
    }
}

#[test]
fn kube_state_series_show_the_api_as_policies_see_it() {
    // One node with room for three pods: scaling to 6 leaves pods unschedulable (Pending),
    // the others start (Pending too, for KSM), become ready (Running), then terminate.
    let mut sc = scenario(
        r#"
name = "ksm"
duration = "12m"
seed = 3
[metrics]
namespace = "shop"
[[cluster.node_pools]]
name = "pool"
cpu = "1500m"
memory = "4Gi"
nodes = 1
[[services]]
name = "api"
replicas = 2
concurrency = 4
service_time = { dist = "exponential", mean = "50ms" }
resources = { cpu = "500m", memory = "128Mi" }
startup = { dist = "lognormal", median = "20s", p95 = "40s" }
shutdown_grace = "20s"
workload = { pattern = { kind = "constant", rate = 30 } }
"#,
    );
    let services = vec!["api".to_string()];
    // Right after each scrape of kube-state-metrics (its phase in the interval comes from its
    // name, as every target's), so that KSM's reading and the API view are of the same moment.
    let phase = (autosim::engine::rng::fnv1a("kube-state-metrics") % 15_000) * 1_000_000;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let queries = PROBE_QUERIES.iter().map(|q| (*q, Expr::parse(q, &services).unwrap())).collect();
    sc.policies[0].pods[0] = Arc::new(Probe { queries, first: phase + 15 * S + 1, seen: seen.clone() });
    let sim = Simulation::new(&sc.scenario, &sc.policies[0], sc.scenario.seed);
    assert_eq!(sim.metrics().optional(), Optional { buckets: false, kube_state: true });
    sim.run();
    let seen = seen.lock().unwrap();
    assert!(seen.len() >= 40 * PROBE_QUERIES.len(), "{} comparisons", seen.len());
    let bad: Vec<_> = seen.iter().filter(|(_, _, got, want)| got != want).collect();
    assert!(bad.is_empty(), "kube-state-metrics disagrees with the API: {bad:?}");
    // The run went through what the queries distinguish: unschedulable and starting pods
    // (Pending), ready ones, and a scale-down.
    let max_of = |q: &str| seen.iter().filter(|s| s.1 == q).map(|s| s.3).fold(0.0, f64::max);
    assert!(max_of(PROBE_QUERIES[0]) >= 4.0, "{}", max_of(PROBE_QUERIES[0]));
    assert!(max_of(PROBE_QUERIES[2]) >= 3.0, "{}", max_of(PROBE_QUERIES[2]));
    assert_eq!(seen.last().map(|s| s.3), Some(1.0), "the run ends scaled down to one node");
}

#[test]
fn the_hpa_status_is_its_last_reconcile() {
    // An HPA from a manifest whose name is not the service's.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hpa.yaml"),
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web-hpa\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 1\n  maxReplicas: 10\n  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}\n",
    )
    .unwrap();
    let toml = r#"
name = "hpa-status"
duration = "20m"
seed = 11
[[services]]
name = "api"
replicas = 1
concurrency = 8
service_time = { dist = "exponential", mean = "40ms" }
cpu_per_request = "20ms"
resources = { cpu = "200m", memory = "128Mi" }
startup = { dist = "lognormal", median = "10s", p95 = "30s" }
workload = { pattern = { kind = "step", steps = [ { at = "0s", rate = 5 }, { at = "4m", rate = 40 }, { at = "12m", rate = 5 } ] } }
[[policies]]
name = "hpa"
pods = { kind = "hpa", manifest = "hpa.yaml" }
"#;
    let sc = autosim::parse(toml, dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let services = vec!["api".to_string()];
    let mut sim = Simulation::new(&sc.scenario, &sc.policies[0], sc.scenario.seed);
    assert_eq!(sim.metrics().optional(), Optional::default(), "no query reads optional series");
    sim.keep_all_series();
    assert_eq!(sim.metrics().optional(), Optional::ALL);
    let end = sim.end();
    sim.run_until(end);
    let store = sim.metrics().clone();
    let report = sim.finish();
    let syncs: Vec<(SimTime, u32, u32)> =
        report.decisions.iter().filter(|d| d.controller == "pods").map(|d| ((d.time_s * 1e9).round() as SimTime, d.from, d.to)).collect();
    assert!(syncs.len() >= 60, "{} reconciles", syncs.len());
    assert!(syncs.iter().any(|s| s.2 > 1), "the HPA scaled up");
    // Reconciles are one sync period (15 s) apart, as are kube-state-metrics' scrapes: just
    // before a reconcile, KSM shows the one before it (and the Deployment's count before the
    // first).
    let q = r#"kube_horizontalpodautoscaler_status_desired_replicas{horizontalpodautoscaler="web-hpa", namespace="default"}"#;
    for (i, &(t, from, _)) in syncs.iter().enumerate() {
        let want = if i == 0 { from } else { syncs[i - 1].2 };
        assert_eq!(number(&store, q, &services, t - 1), Some(f64::from(want)), "just before the reconcile at {}s", t as f64 / 1e9);
    }
}

#[test]
fn latency_buckets_count_every_request_served() {
    // Every request takes exactly 80 ms (one slot each, never queued): all fall in le="0.1",
    // none in le="0.05". Buckets given in the scenario, +Inf written out.
    let sc = scenario(
        r#"
name = "buckets"
duration = "5m"
[metrics]
buckets = [0.05, 0.1, 0.25, 1, inf]
[[services]]
name = "api"
replicas = 2
concurrency = 64
service_time = { dist = "constant", value = "80ms" }
workload = { pattern = { kind = "constant", rate = 50 } }
"#,
    );
    assert_eq!(sc.scenario.metrics.buckets, vec![0.05, 0.1, 0.25, 1.0]);
    let services = vec!["api".to_string()];
    let mut sim = Simulation::new(&sc.scenario, &sc.policies[0], sc.scenario.seed);
    sim.keep_all_series();
    sim.run_until(sim.end());
    let store = sim.metrics();
    let at = sim.end();
    let q = |q: &str| number(store, q, &services, at);
    let count = q("sum(http_request_duration_seconds_count)").unwrap();
    assert!(count > 10_000.0, "{count}");
    assert_eq!(q(r#"sum(http_request_duration_seconds_bucket{le="0.05"})"#), Some(0.0));
    for le in ["0.1", "0.25", "1.0", "+Inf"] {
        assert_eq!(q(&format!("sum(http_request_duration_seconds_bucket{{le=\"{le}\"}})")), Some(count), "le={le}");
    }
    // One series per bound and +Inf on each pod, labelled as the application's series are.
    let e = Expr::parse("http_request_duration_seconds_bucket", &services).unwrap();
    let Value::Vector(v) = eval::eval(e.ast(), store, at).unwrap() else { panic!() };
    assert_eq!(v.len(), 2 * 5);
    for el in &v {
        let get = |k: &str| el.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        assert!(["0.05", "0.1", "0.25", "1.0", "+Inf"].contains(&get("le").as_str()), "{:?}", el.labels);
        assert_eq!((get("deployment"), get("namespace")), ("api".to_string(), "default".to_string()));
        assert!(get("pod").starts_with("api-"));
    }
    // histogram_quantile interpolates inside (0.05, 0.1]: the median is its middle.
    let median = q("histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))").unwrap();
    assert!((median - 0.075).abs() < 1e-9, "{median}");
    // And the export carries them.
    let om = store.openmetrics(1_700_000_000);
    assert!(om.contains("# TYPE http_request_duration_seconds_bucket unknown"));
    assert!(om.contains("le=\"+Inf\""), "no +Inf bucket");
    assert!(om.contains("# TYPE kube_pod_status_phase gauge"));
}

#[test]
fn bad_buckets_are_refused_with_their_place() {
    for (buckets, says, at) in [("[0.1, 0.05]", "increasing order", "0.05"), ("[0.1, nan]", "not a finite bound", "nan"), ("[inf, 1]", "not a finite bound", "inf")] {
        let toml = format!("name = \"b\"\nduration = \"1m\"\n[metrics]\nbuckets = {buckets}\n[[services]]\nname = \"api\"\nservice_time = \"10ms\"\nworkload = {{ pattern = {{ kind = \"constant\", rate = 1 }} }}\n");
        let err = autosim::parse(&toml, &root()).expect_err(buckets);
        assert!(err.message.contains(says), "{buckets}: {}", err.message);
        let span = err.span.clone().expect("the error has a place");
        assert_eq!(&toml[span], at, "{buckets}: the error points at the bad bound");
    }
}

#[test]
fn a_policy_scales_on_a_latency_quantile() {
    // KEDA's prometheus scaler on the p95 latency (latency-based scaling, as users write it).
    let sc = scenario(
        r#"
name = "latency-scaling"
duration = "20m"
seed = 4
[[services]]
name = "api"
replicas = 1
concurrency = 2
queue_limit = 200
service_time = { dist = "exponential", mean = "50ms" }
startup = { dist = "constant", value = "10s" }
workload = { pattern = { kind = "step", steps = [ { at = "0s", rate = 10 }, { at = "5m", rate = 60 } ] } }
[[policies]]
name = "keda-p95"
[policies.pods]
kind = "keda"
min_replica_count = 1
max_replica_count = 10
triggers = [ { type = "prometheus", metadata = { query = "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{deployment=\"api\"}[1m])) by (le))", threshold = "0.1" } } ]
"#,
    );
    let sim = Simulation::new(&sc.scenario, &sc.policies[0], sc.scenario.seed);
    assert_eq!(sim.metrics().optional(), Optional { buckets: true, kube_state: false }, "only what the query reads");
    let report = sim.run();
    let keda: Vec<_> = report.decisions.iter().filter(|d| d.reason.starts_with("keda:")).collect();
    assert!(!keda.is_empty());
    assert!(keda.iter().all(|d| !d.reason.contains("error")), "{:?}", keda.iter().find(|d| d.reason.contains("error")));
    assert!(report.decisions.iter().any(|d| d.verdict == "apply" && d.to > d.from), "the p95 above 100 ms scales the Deployment up");
}

#[test]
fn recording_the_optional_series_changes_nothing_else() {
    for file in ["scenarios/keda-prometheus.toml", "scenarios/cluster-autoscaler-two-pools.toml"] {
        let mut sc = autosim::load(&root().join(file)).unwrap();
        sc.scenario.duration_ns = sc.scenario.duration_ns.min(3600 * S);
        let plain = Simulation::new(&sc.scenario, &sc.policies[0], sc.scenario.seed);
        assert_eq!(plain.metrics().optional(), Optional::default(), "{file}: no query reads them");
        let plain = plain.run();
        let mut all = Simulation::new(&sc.scenario, &sc.policies[0], sc.scenario.seed);
        all.keep_all_series();
        let all = all.run();
        assert_eq!(format!("{plain:?}"), format!("{all:?}"), "{file}");
    }
}
