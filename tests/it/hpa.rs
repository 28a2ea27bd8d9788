//! The HPA as a policy of the simulation: it reaches the replica counts upstream's algorithm
//! gives for loads whose metrics are known by hand, through the simulated pipeline; the TOML
//! spec and a Kubernetes manifest are the same HPA; bad configurations are refused with their
//! place.

use autosim::report::{DecisionRow, Report};

use crate::common::{assert_conserved, run, scenario};

/// One `http` service at exactly 100 req/s (k6's evenly spaced arrival rate, round-robin
/// balancing): constant 20 ms of work and of CPU per request, so 2 cores in all, split evenly;
/// 500m CPU requested per pod, 20 slots per pod (no queueing), 5 s startup. Every metric is
/// then known by hand.
fn service(replicas: u32, policy: &str) -> String {
    format!(
        r#"
name = "hpa"
duration = "20m"
step = "15s"
[metrics]
scrape_interval = "15s"
rate_window = "1m"
pipeline_delay = "0s"
resource_resolution = "15s"
[[services]]
name = "api"
replicas = {replicas}
concurrency = 20
queue_limit = 1000
service_time = "20ms"
cpu_per_request = "20ms"
resources = {{ cpu = "500m", memory = "256Mi" }}
startup = "5s"
workload.k6 = {{ executor = "constant-arrival-rate", rate = 100, duration = "20m", pre_allocated_vus = 100 }}
[[policies]]
name = "hpa"
[policies.pods]
kind = "hpa"
{policy}
"#
    )
}

fn applied(r: &Report) -> Vec<(f64, u32, u32)> {
    r.decisions.iter().filter(|d: &&DecisionRow| d.verdict == "apply").map(|d| (d.time_s, d.from, d.to)).collect()
}

fn final_replicas(r: &Report) -> u32 {
    r.timeseries.last().unwrap().replicas_desired
}

const CPU_50: &str = r#"min_replicas = 1
max_replicas = 20
metrics = [ { type = "Resource", resource = { name = "cpu", target = { type = "Utilization", average_utilization = 50 } } } ]"#;

#[test]
fn cpu_utilization_converges_through_the_legacy_scale_up_limit() {
    // 2 cores of use at a target of 50% of 500m: 8 pods. From 2 pods (200% each) the legacy
    // path may at most double (max(2 x 2, 4) = 4), then 4 -> 8 (100% each, ratio 2).
    let r = run(&scenario(&service(2, CPU_50)), 0);
    assert_conserved(&r);
    let steps: Vec<(u32, u32)> = applied(&r).iter().map(|a| (a.1, a.2)).collect();
    assert_eq!(steps, vec![(2, 4), (4, 8)], "{:?}", applied(&r));
    assert_eq!(final_replicas(&r), 8);
    // The first sync at 15 s sees the first metrics-server window.
    assert!(applied(&r)[0].0 <= 30.0, "{:?}", applied(&r));
    let reason = &r.decisions.iter().find(|d| d.verdict == "apply").unwrap().reason;
    assert!(reason.contains("200%/50% -> 8") && reason.contains("ScaleUpLimit 4"), "{reason}");
}

#[test]
fn downscale_waits_for_the_stabilization_window() {
    // From 16 pods (25% each) the proposal is 8 at once, but the legacy downscale
    // stabilization holds the max of the last 5 minutes, which includes the initial
    // recommendation of 16 made at the first sync.
    let r = run(&scenario(&service(16, CPU_50)), 0);
    let a = applied(&r);
    assert_eq!(a.iter().map(|a| a.2).collect::<Vec<_>>(), vec![8], "{a:?}");
    assert!(a[0].0 > 300.0 && a[0].0 <= 330.0, "{a:?}");
}

#[test]
fn behavior_policies_pace_the_scale_down() {
    // The same from 16 with behavior: no stabilization, at most 2 pods per 60 s.
    let policy = format!(
        "{CPU_50}\nbehavior = {{ scale_down = {{ stabilization_window_seconds = 0, policies = [ {{ type = \"Pods\", value = 2, period_seconds = 60 }} ] }} }}"
    );
    let r = run(&scenario(&service(16, &policy)), 0);
    let a = applied(&r);
    assert_eq!(a.iter().map(|a| a.2).collect::<Vec<_>>(), vec![14, 12, 10, 8], "{a:?}");
    for w in a.windows(2) {
        assert!(w[1].0 - w[0].0 >= 60.0, "{a:?}");
    }
}

#[test]
fn pods_and_external_metrics_from_the_pipeline() {
    // http_requests_per_second per pod (rate of http_requests_total over 1m), target 10 per pod:
    // 100 req/s -> 10 pods.
    let pods = r#"max_replicas = 30
metrics = [ { type = "Pods", pods = { metric = { name = "http_requests_per_second" }, target = { type = "AverageValue", average_value = "10" } } } ]"#;
    let r = run(&scenario(&service(4, pods)), 0);
    assert_eq!(final_replicas(&r), 10, "{:?}", applied(&r));
    // An External metric served by an adapter query, AverageValue 20 per pod: 100 / 20 = 5.
    let ext = r#"max_replicas = 30
adapter = { ingress_rps = "sum(rate(ingress_requests_total{service=\"api\"}[1m]))" }
metrics = [ { type = "External", external = { metric = { name = "ingress_rps" }, target = { type = "AverageValue", average_value = "20" } } } ]"#;
    let r = run(&scenario(&service(2, ext)), 0);
    assert_eq!(final_replicas(&r), 5, "{:?}", applied(&r));
}

#[test]
fn a_manifest_is_the_same_hpa_as_the_toml_spec() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hpa.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: api
  namespace: shop
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: api
  minReplicas: 1
  maxReplicas: 20
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 50
"#,
    )
    .unwrap();
    let from_toml = run(&scenario(&service(2, CPU_50)), 0);
    let sc = autosim::parse(&service(2, "manifest = \"hpa.yaml\""), dir.path()).unwrap();
    let from_yaml = run(&sc, 0);
    assert_eq!(serde_json::to_string(&from_toml.summary).unwrap(), serde_json::to_string(&from_yaml.summary).unwrap());
    assert_eq!(applied(&from_toml), applied(&from_yaml));
}

fn err(toml: &str, files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (n, t) in files {
        std::fs::write(dir.path().join(n), t).unwrap();
    }
    let e = autosim::parse(toml, dir.path()).unwrap_err();
    let text = toml.to_string();
    autosim::scenario::ScenarioError::locate(std::path::Path::new("s.toml"), &text, e).to_string()
}

#[test]
fn bad_hpa_configurations_are_refused_with_their_place() {
    let e = err(&service(2, "max_replicas = 5\nmetrics = [ { type = \"Pods\", pods = { metric = { name = \"rps\" }, target = { type = \"AverageValue\", average_value = \"10\" } } } ]"), &[]);
    assert!(e.contains("no pod metric named \"rps\"") && e.contains("http_requests_per_second"), "{e}");
    let e = err(&service(2, "min_replicas = 3"), &[]);
    assert!(e.contains("missing `max_replicas`"), "{e}");
    let e = err(&service(2, "max_replicas = 5\nmetrcs = []"), &[]);
    assert!(e.contains("unknown key `metrcs`"), "{e}");
    let e = err(&service(2, "manifest = \"h.yaml\""), &[("h.yaml", "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: x\nspec:\n  scaleTargetRef: {kind: Deployment, name: web}\n  maxReplicas: 3\n")]);
    assert!(e.contains("no HorizontalPodAutoscaler whose scaleTargetRef.name is \"api\""), "{e}");
    let e = err(&service(2, "manifest = \"h.yaml\""), &[("h.yaml", "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: x\nspec:\n  scaleTargetRef: {kind: Deployment, name: api}\n  maxReplicas: 3\n  minReplica: 1\n")]);
    assert!(e.contains("h.yaml:8:") && e.contains("minReplica"), "{e}");
    let e = err(&service(2, "max_replicas = 0"), &[]);
    assert!(e.contains("maxReplicas"), "{e}");
}

#[test]
fn step_up_reacts_within_sync_and_lag_and_step_down_waits_the_window() {
    // 50 req/s for 5 min, then 200 req/s for 10 min, then 50 again: with a 10 s pipeline delay
    // and 15 s sync, the first scale-up comes within one sync + the delay + one metrics-server
    // window of the step (the first sample that sees the new load); it is within the legacy
    // limit max(2 x current, 4); after the step down, no scale-down for the 5-minute window.
    let toml = service(4, CPU_50)
        .replace("pipeline_delay = \"0s\"", "pipeline_delay = \"10s\"")
        .replace(
            "workload.k6 = { executor = \"constant-arrival-rate\", rate = 100, duration = \"20m\", pre_allocated_vus = 100 }",
            "[services.workload.k6.load]\nexecutor = \"ramping-arrival-rate\"\nstart_rate = 50\npre_allocated_vus = 200\nstages = [ { duration = \"5m\", target = 50 }, { duration = \"0s\", target = 200 }, { duration = \"10m\", target = 200 }, { duration = \"0s\", target = 50 }, { duration = \"10m\", target = 50 } ]",
        )
        .replace("duration = \"20m\"", "duration = \"25m\"");
    let r = run(&scenario(&toml), 0);
    assert_conserved(&r);
    let a = applied(&r);
    eprintln!("applied: {a:?}");
    // Before the step: 50 req/s = 1 core = 2 pods at 50%; from 4 pods (25%) the downscale
    // waits for the stabilization window (5 min from the first sync): none before 300 s.
    let first_up = a.iter().find(|d| d.0 > 300.0 && d.2 > d.1).expect("a scale-up after the step");
    assert!(first_up.0 <= 300.0 + 15.0 + 10.0 + 15.0, "{a:?}");
    for d in a.iter().filter(|d| d.2 > d.1) {
        assert!(d.2 <= (2 * d.1).max(4), "beyond the legacy scale-up limit: {d:?}");
    }
    // At 200 req/s: 4 cores = 16 pods at 50%.
    let peak = a.iter().filter(|d| d.0 < 900.0).map(|d| d.2).max().unwrap();
    assert_eq!(peak, 16, "{a:?}");
    // After the step down at 900 s: held at 16 until the window has passed since the last
    // recommendation of 16 (at the latest 900 s + delay + one window), then down to 4.
    let after: Vec<_> = a.iter().filter(|d| d.0 > 900.0).collect();
    assert!(!after.is_empty(), "{a:?}");
    assert!(after[0].0 >= 900.0 + 300.0, "scaled down inside the stabilization window: {a:?}");
    assert_eq!(after.last().unwrap().2, 4, "{a:?}");
}

fn pod_decisions(r: &Report, service: &str) -> Vec<(f64, u32, u32, String)> {
    r.decisions
        .iter()
        .filter(|d| d.controller == "pods" && d.target == service)
        .map(|d| (d.time_s, d.from, d.to, d.reason.clone()))
        .collect()
}

#[test]
fn controller_flags_set_the_sync_period_and_the_tolerance() {
    // Every decision of the HPA is one sync: at 30 s, 60 s, ... with `sync_period = "30s"`.
    let r = run(&scenario(&service(2, &format!("{CPU_50}\ncontroller = {{ sync_period = \"30s\" }}"))), 0);
    let d = pod_decisions(&r, "api");
    assert_eq!(d.len(), 40, "{d:?}");
    for (k, row) in d.iter().enumerate() {
        assert_eq!(row.0, 30.0 * (k + 1) as f64, "{d:?}");
    }
    assert_eq!(final_replicas(&r), 8);
    // 7 pods share 2 cores: 285.7m of 500m each, 57% (truncated) of a 50% target: ratio 1.14.
    // Outside the default tolerance 0.1 (-> ceil(1.14 x 7) = 8), inside 0.2 (held at 7).
    let r = run(&scenario(&service(7, CPU_50)), 0);
    assert_eq!(final_replicas(&r), 8, "{:?}", applied(&r));
    let r = run(&scenario(&service(7, &format!("{CPU_50}\ncontroller = {{ tolerance = 0.2 }}"))), 0);
    assert_eq!(final_replicas(&r), 7, "{:?}", applied(&r));
    assert!(applied(&r).is_empty(), "{:?}", applied(&r));
}

#[test]
fn container_resource_of_the_pods_container_is_the_resource_metric() {
    // The pods have one container, named after the service: a ContainerResource metric on it
    // decides exactly as the Resource metric does.
    let container = |c: &str| {
        format!(
            "min_replicas = 1\nmax_replicas = 20\nmetrics = [ {{ type = \"ContainerResource\", container_resource = {{ name = \"cpu\", container = \"{c}\", target = {{ type = \"Utilization\", average_utilization = 50 }} }} }} ]"
        )
    };
    let resource = run(&scenario(&service(2, CPU_50)), 0);
    let same = run(&scenario(&service(2, &container("api"))), 0);
    assert_eq!(applied(&resource), applied(&same));
    assert_eq!(final_replicas(&same), 8);
    // Another container has no metrics: the metric is invalid and the HPA holds.
    let other = run(&scenario(&service(2, &container("sidecar"))), 0);
    assert_eq!(final_replicas(&other), 2);
    let d = pod_decisions(&other, "api");
    assert!(d.iter().all(|row| row.3.contains("container sidecar not present")), "{:?}", d.first());
}

#[test]
fn one_manifest_with_several_hpas_serves_each_service_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let hpa = |name: &str, max: u32| {
        format!(
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {name}-hpa\nspec:\n  scaleTargetRef: {{ apiVersion: apps/v1, kind: Deployment, name: {name} }}\n  maxReplicas: {max}\n  metrics:\n  - type: Resource\n    resource: {{ name: cpu, target: {{ type: Utilization, averageUtilization: 50 }} }}\n"
        )
    };
    std::fs::write(dir.path().join("hpa.yaml"), format!("{}---\n{}", hpa("web", 3), hpa("api", 20))).unwrap();
    let one = service(2, "manifest = \"hpa.yaml\"");
    // A second service, the same as the first but named `web`.
    let start = one.find("[[services]]").unwrap();
    let end = one.find("[[policies]]").unwrap();
    let web = one[start..end].replace("name = \"api\"", "name = \"web\"");
    let two = format!("{}{web}{}", &one[..end], &one[end..]);
    let sc = autosim::parse(&two, dir.path()).unwrap();
    let r = run(&sc, 0);
    // Both see 2 cores of use at a 50% target of 500m: 8 pods; `web`'s HPA caps it at 3.
    let last = |s: &str| pod_decisions(&r, s).last().map(|d| d.2).unwrap();
    assert_eq!(last("api"), 8);
    assert_eq!(last("web"), 3);
    assert!(pod_decisions(&r, "web").iter().all(|d| d.2 <= 3));
}
