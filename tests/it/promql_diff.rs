//! autosim's PromQL against a real Prometheus: a run's raw series are exported as OpenMetrics,
//! backfilled into Prometheus (`promtool`), and a corpus of queries (the issue's table, KEDA's and
//! prometheus-adapter's documented examples, the seeds' queries, latency histograms,
//! kube-state-metrics' series, and one of each operator and function) is evaluated by both at
//! the same instants. Values agree to float rounding; empty results agree too. Skips (saying
//! so) without `prometheus` and `promtool`.
//!
//! The cluster is two nodes too small for what KEDA asks at the peak, so some pods stay
//! unschedulable (`Pending`) for a while.
//!
//! Two differences between Prometheus 2.42 (Debian's) and the 3.x autosim models are kept out
//! of the comparison rather than papered over: 3.x made ranges and the lookback left-open, so
//! instants at which a sample sits exactly on a range's start are not compared; and backfilled
//! data has no staleness markers, so instants within 5 minutes after a pod went away (where
//! autosim, as a live Prometheus, no longer returns its last value) are not compared either.

use std::collections::{BTreeMap, BTreeSet};

use autosim::metrics::eval::{self, Value};
use autosim::metrics::expr::Expr;
use autosim::Simulation;

use crate::common::scenario;
use crate::prom_server::{Answer, PromServer};

const EPOCH: u64 = 1_700_000_000;

const SCENARIO: &str = r#"
name = "promql-diff"
duration = "30m"
seed = 7
[metrics]
scrape_interval = "15s"
pipeline_delay = "0s"

[[cluster.node_pools]]
name = "pool"
cpu = "1500m"
memory = "4Gi"
nodes = 2

[[services]]
name = "api"
kind = "http"
replicas = 2
concurrency = 4
queue_limit = 32
service_time = { dist = "lognormal", median = "40ms", p99 = "300ms" }
cpu_per_request = "20ms"
resources = { cpu = "500m", memory = "256Mi" }
startup = { dist = "lognormal", median = "20s", p95 = "40s" }
workload = { pattern = { kind = "step", steps = [ { at = "0s", rate = 40 }, { at = "8m", rate = 160 }, { at = "20m", rate = 30 } ] } }

[[services]]
name = "worker"
kind = "queue"
replicas = 2
concurrency = 2
service_time = { dist = "exponential", mean = "500ms" }
resources = { cpu = "250m", memory = "128Mi" }
workload = { pattern = { kind = "constant", rate = 6 } }

[[policies]]
name = "keda"
[policies.pods]
kind = "keda"
polling_interval = 15
cooldown_period = 120
min_replica_count = 1
max_replica_count = 12
triggers = [ { type = "prometheus", metadata = { query = "sum(rate(http_requests_total{deployment=\"api\"}[2m]))", threshold = "25" } } ]
"#;

/// The corpus: each query as a user would write it.
const QUERIES: &[&str] = &[
    // The issue's table.
    r#"sum(rate(http_requests_total{deployment="api"}[2m]))"#,
    r#"sum(rate(http_requests_total{namespace="default"}[2m]))"#,
    r#"sum by (service) (rate(http_requests_total[2m]))"#,
    r#"sum(rate(http_requests_total[2m])) / count(up)"#,
    r#"sum(irate(http_requests_total[1m]))"#,
    // KEDA's prometheus scaler docs, and prometheus-adapter's walkthrough and config examples.
    r#"sum(rate(http_requests_total{deployment="api", namespace="default"}[2m]))"#,
    r#"sum(rate(http_requests_total{namespace="default",pod=~"api-.*"}[2m])) by (pod)"#,
    r#"sum(rate(http_requests_total[5m])) by (namespace, pod)"#,
    r#"sum(rate(container_cpu_usage_seconds_total{namespace="default",pod=~"api.*",container!="POD",container!=""}[1m])) by (pod)"#,
    r#"sum(container_memory_working_set_bytes{namespace="default",pod=~"api.*",container!=""}) by (pod)"#,
    r#"sum(rate(http_requests_total{job="api"}[1m])) by (namespace)"#,
    // The seeds' queries.
    r#"avg(rate(container_cpu_usage_seconds_total{pod=~'api.*'}[1m]))"#,
    r#"count(container_memory_working_set_bytes{pod=~"api.*"})"#,
    r#"rate(http_requests_total{service="api"}[5m])"#,
    r#"sum(rate(ingress_requests_total{service="api"}[1m]))"#,
    r#"max(queue_length{service="worker"})"#,
    // Selectors and matchers.
    r#"http_requests_total"#,
    r#"up"#,
    r#"http_requests_total{pod!~"api-.*"}"#,
    r#"up{job!="api"}"#,
    r#"redis_key_size{key="worker"}"#,
    // Range functions.
    r#"increase(http_requests_total[1m])"#,
    r#"delta(queue_length[2m])"#,
    r#"idelta(queue_length[1m])"#,
    r#"deriv(queue_length[2m])"#,
    r#"irate(http_requests_total[2m])"#,
    r#"max_over_time(queue_length[2m])"#,
    r#"min_over_time(http_requests_in_flight[1m])"#,
    r#"avg_over_time(http_requests_in_flight[1m])"#,
    r#"sum_over_time(queue_length[1m])"#,
    r#"count_over_time(up[2m])"#,
    r#"last_over_time(queue_length[1m])"#,
    r#"quantile_over_time(0.9, http_requests_in_flight[2m])"#,
    r#"stddev_over_time(queue_length[2m])"#,
    r#"changes(queue_length[5m])"#,
    r#"resets(http_requests_total[5m])"#,
    // Aggregations.
    r#"count(up) by (job)"#,
    r#"sum without (instance, pod, node) (rate(http_requests_total[1m]))"#,
    r#"quantile(0.9, rate(http_requests_total[1m]))"#,
    r#"topk(1, sum by (service) (rate(http_requests_total[1m])))"#,
    r#"bottomk(1, sum by (service) (rate(http_requests_total[1m])))"#,
    r#"stddev(rate(http_requests_total[1m]))"#,
    r#"avg(rate(http_requests_total[1m])) by (service)"#,
    r#"min(container_memory_working_set_bytes) by (service)"#,
    r#"max by (node) (container_memory_working_set_bytes)"#,
    r#"count(count by (node) (up))"#,
    r#"sum by (namespace) (container_memory_working_set_bytes)"#,
    // Binary operators and vector matching.
    r#"rate(http_request_duration_seconds_sum[2m]) / rate(http_request_duration_seconds_count[2m])"#,
    r#"sum(rate(http_request_duration_seconds_sum[2m])) / sum(rate(http_request_duration_seconds_count[2m]))"#,
    r#"rate(http_request_errors_total[1m]) / on(pod) rate(http_requests_total[1m])"#,
    r#"sum(rate(http_requests_total[1m])) by (service) / on(service) count(up) by (service)"#,
    r#"rate(http_requests_total[1m]) / on(service) group_left sum by (service) (rate(http_requests_total[1m]))"#,
    r#"sum by (service) (up) * on(service) group_right sum by (service, pod) (http_requests_in_flight)"#,
    r#"http_requests_in_flight > 2"#,
    r#"http_requests_in_flight > bool 2"#,
    r#"sum(up) == bool 4"#,
    r#"2 * sum(rate(http_requests_total[1m]))"#,
    r#"-sum(queue_length)"#,
    r#"up unless on(pod) http_requests_in_flight > 3"#,
    r#"up and on(pod) http_requests_in_flight > 1"#,
    r#"up{service="api"} or up{service="worker"}"#,
    r#"1 < bool count(up)"#,
    // Instant functions.
    r#"clamp_min(sum(queue_length), 5)"#,
    r#"clamp_max(sum(rate(http_requests_total[1m])), 50)"#,
    r#"abs(delta(queue_length[2m]))"#,
    r#"ceil(sum(rate(http_requests_total[1m])) / 20)"#,
    r#"floor(max(http_requests_in_flight) / 2)"#,
    r#"round(sum(rate(http_requests_total[1m])), 0.5)"#,
    r#"scalar(sum(up))"#,
    r#"vector(1)"#,
    r#"sum(up) * scalar(count(up{service="worker"}))"#,
    r#"absent(up{job="nope"})"#,
    r#"absent(up{job="api"})"#,
    // Latency histograms (the Prometheus client's default buckets).
    r#"histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[2m])) by (le))"#,
    r#"histogram_quantile(0.5, sum by (le, service) (rate(http_request_duration_seconds_bucket[1m])))"#,
    r#"histogram_quantile(0.99, rate(http_request_duration_seconds_bucket{deployment="api"}[2m]))"#,
    r#"histogram_quantile(0.9, sum by (le) (increase(http_request_duration_seconds_bucket{namespace="default"}[5m])))"#,
    r#"histogram_quantile(1, sum by (le) (rate(http_request_duration_seconds_bucket[2m])))"#,
    r#"sum(rate(http_request_duration_seconds_bucket{le="0.25"}[2m])) by (service) / sum(rate(http_request_duration_seconds_count[2m])) by (service)"#,
    r#"http_request_duration_seconds_bucket{le="1.0", service="api"}"#,
    r#"sum(http_request_duration_seconds_bucket{le="+Inf"}) - sum(http_request_duration_seconds_count)"#,
    r#"count by (le) (http_request_duration_seconds_bucket)"#,
    // kube-state-metrics.
    r#"sum(kube_pod_status_phase{phase="Pending"})"#,
    r#"sum by (phase) (kube_pod_status_phase)"#,
    r#"kube_pod_status_phase{phase="Running"} == 1"#,
    r#"count(kube_pod_status_ready{condition="false"} == 1)"#,
    r#"sum by (namespace) (kube_pod_status_ready{condition="true"})"#,
    r#"kube_pod_status_ready{condition="true"} and on(pod) kube_pod_status_phase{phase="Running"} == 1"#,
    r#"kube_deployment_spec_replicas{deployment="api"}"#,
    r#"kube_deployment_spec_replicas - kube_deployment_status_replicas_available"#,
    r#"kube_deployment_status_replicas_available / kube_deployment_spec_replicas"#,
    r#"changes(kube_deployment_spec_replicas[10m])"#,
    r#"sum(kube_node_status_condition{condition="Ready",status="true"})"#,
    r#"kube_node_status_condition{status="false"}"#,
    r#"kube_horizontalpodautoscaler_status_desired_replicas{horizontalpodautoscaler="keda-hpa-api"}"#,
    r#"max_over_time(kube_horizontalpodautoscaler_status_desired_replicas[5m])"#,
    r#"kube_horizontalpodautoscaler_status_desired_replicas - on(namespace) group_left sum by (namespace) (kube_deployment_spec_replicas)"#,
];

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-3)
}

type Result_ = BTreeMap<Vec<(String, String)>, f64>;

fn ours(v: Value) -> Result_ {
    match v {
        Value::Scalar(x) => [(vec![("<scalar>".to_string(), String::new())], x)].into(),
        Value::Vector(v) => v.into_iter().map(|e| (e.labels, e.value)).collect(),
        Value::String(_) => panic!("string result"),
    }
}

fn theirs(a: Answer) -> Result_ {
    match a {
        Answer::Scalar(x) => [(vec![("<scalar>".to_string(), String::new())], x)].into(),
        Answer::Vector(v) => v.into_iter().map(|s| (s.labels, s.value)).collect(),
    }
}

#[test]
fn promql_agrees_with_prometheus() {
    if crate::prom_server::binaries("promql_agrees_with_prometheus").is_none() {
        return;
    }
    assert!(QUERIES.len() >= 50, "{} queries", QUERIES.len());
    let sc = scenario(SCENARIO);
    let services: Vec<String> = sc.scenario.services.iter().map(|s| s.name.clone()).collect();
    let mut sim = Simulation::new(&sc.scenario, &sc.policies[0], sc.scenario.seed);
    sim.keep_all_series();
    let end = sim.end();
    sim.run_until(end);
    let store = sim.metrics();
    let text = store.openmetrics(EPOCH);
    // Sample instants (ms since the run's start), to keep range boundaries off samples.
    let stamps: BTreeSet<u64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|t| t.parse::<f64>().ok())
        .map(|t| ((t - EPOCH as f64) * 1000.0).round() as u64)
        .collect();
    assert!(stamps.len() > 100, "too few samples: {}", stamps.len());
    let ends = store.target_ends();
    let instants: Vec<u64> = (0..40u64)
        .map(|k| 150_000 + k * 41_333) // ms: 2m30s to ~29m, off the scrape grid
        .filter(|&t| [60_000u64, 120_000, 300_000].iter().all(|w| !stamps.contains(&t.saturating_sub(*w))))
        .filter(|&t| ends.iter().all(|&e| !(e / 1_000_000 <= t && t < e / 1_000_000 + 300_000)))
        .collect();
    assert!(instants.len() >= 10, "only {} comparable instants", instants.len());

    let prom = PromServer::start("promql_agrees_with_prometheus", &text).expect("the binaries were there a moment ago");
    let (mut compared, mut nonempty, mut failures) = (0, 0, Vec::new());
    for q in QUERIES {
        let e = Expr::parse(q, &services).unwrap_or_else(|err| panic!("autosim refuses {q}: {err}"));
        for &t in &instants {
            let a = ours(eval::eval(e.ast(), store, t * 1_000_000).unwrap_or_else(|err| panic!("{q} at {t} ms: {err}")));
            let b = theirs(prom.query(q, EPOCH as f64 + t as f64 / 1000.0).unwrap_or_else(|err| panic!("prometheus: {q}: {err}")));
            compared += 1;
            nonempty += usize::from(!b.is_empty());
            let agree = a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(*v, *w)));
            if !agree {
                failures.push(format!("{q} at {}s:\n  autosim    {a:?}\n  prometheus {b:?}", t as f64 / 1000.0));
            }
        }
    }
    eprintln!("promql: {} queries x {} instants = {compared} comparisons, {nonempty} non-empty", QUERIES.len(), instants.len());
    assert!(failures.is_empty(), "{} of {compared} disagree:\n{}", failures.len(), failures[..failures.len().min(8)].join("\n"));
    assert!(nonempty > compared / 2, "most answers should have series: {nonempty} of {compared}");
}
