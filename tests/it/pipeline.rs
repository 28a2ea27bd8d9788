//! The metrics pipeline as a policy sees it: Prometheus rates from scraped samples, the
//! pipeline delay, metrics-server's CPU readings, and series of pods that are gone.

use std::sync::{Arc, Mutex};

use autosim::engine::SimTime;
use autosim::metrics::{Func, Metric, Query};
use autosim::policy::{Decision, Observation, Policy, PolicyFactory};

use crate::common::{run, scenario};

const S: u64 = 1_000_000_000;

#[derive(Debug, Clone, Default)]
struct Seen {
    t: SimTime,
    at: SimTime,
    pod_rate_sum: Option<f64>,
    ingress_rate: Option<f64>,
    series: usize,
    instant_series: usize,
    cpu_m: Vec<f64>,
    pods: usize,
    missing: usize,
}

/// A policy that only looks: it records what it sees every 15 s.
#[derive(Debug, Clone)]
struct Probe {
    seen: Arc<Mutex<Vec<Seen>>>,
    scale_to: Option<(SimTime, u32)>,
}

impl PolicyFactory for Probe {
    fn kind(&self) -> &'static str {
        "probe"
    }
    fn build(&self) -> Box<dyn Policy> {
        Box::new(self.clone())
    }
}

impl Policy for Probe {
    fn first_wake(&self) -> SimTime {
        15 * S
    }
    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        let rate = |metric| Query { metric, service: 0, func: Func::Rate { window_ns: 60 * S } };
        let pods_q = obs.query(&rate(Metric::HttpRequestsTotal));
        let ingress = obs.query(&rate(Metric::IngressRequestsTotal));
        let instant = obs.query(&Query { metric: Metric::HttpRequestsTotal, service: 0, func: Func::Last });
        let pods = obs.pods(0);
        let cpu: Vec<f64> = pods.iter().filter_map(|p| obs.pod_resources(p)).map(|r| r.cpu_m).collect();
        self.seen.lock().unwrap().push(Seen {
            t: obs.now(),
            at: pods_q.at,
            pod_rate_sum: pods_q.sum(),
            ingress_rate: ingress.sum(),
            series: pods_q.series.len(),
            instant_series: instant.series.len(),
            missing: pods.len() - cpu.len(),
            cpu_m: cpu,
            pods: pods.len(),
        });
        if let Some((t, n)) = self.scale_to {
            if obs.now() >= t && obs.deployment(0).spec_replicas != n {
                out.push(Decision {
                    target: autosim::policy::Target::Deployment(0),
                    from: obs.deployment(0).spec_replicas,
                    to: n,
                    verdict: autosim::policy::Verdict::Apply,
                    reason: "probe".into(),
                });
            }
        }
        obs.now() + 15 * S
    }
}

fn probe_run(toml: &str, scale_to: Option<(SimTime, u32)>) -> Vec<Seen> {
    let mut sc = scenario(toml);
    let seen = Arc::new(Mutex::new(Vec::new()));
    sc.policies[0].pods[0] = Arc::new(Probe { seen: seen.clone(), scale_to });
    run(&sc, 0);
    let v = seen.lock().unwrap().clone();
    v
}

const STEADY: &str = r#"
name = "pipeline"
duration = "900s"
[metrics]
scrape_interval = "15s"
rate_window = "1m"
pipeline_delay = "10s"
resource_resolution = "15s"
[[services]]
name = "svc"
replicas = 4
concurrency = 10
service_time = { dist = "exponential", mean = "50ms" }
cpu_per_request = "20ms"
resources = { cpu = "500m" }
workload = { pattern = { kind = "constant", rate = 200 } }
"#;

#[test]
fn rates_through_the_pipeline_match_the_load() {
    let seen = probe_run(STEADY, None);
    let late: Vec<_> = seen.iter().filter(|s| s.t >= 120 * S).collect();
    assert!(late.len() > 40);
    for s in &late {
        assert_eq!(s.at, s.t - 10 * S, "the pipeline delay");
        assert_eq!(s.series, 4);
        // A 1-minute rate of a Poisson stream of 200/s: about 12,000 events, sd about 0.9%;
        // plus extrapolation error of at most a sample's worth: within 5%.
        let pods = s.pod_rate_sum.unwrap();
        let ingress = s.ingress_rate.unwrap();
        assert!((pods - 200.0).abs() < 10.0, "sum of pod rates {pods}");
        assert!((ingress - 200.0).abs() < 10.0, "ingress rate {ingress}");
    }
    let mean: f64 = late.iter().map(|s| s.pod_rate_sum.unwrap()).sum::<f64>() / late.len() as f64;
    assert!((mean - 200.0).abs() < 3.0, "mean of the rates {mean}");
}

#[test]
fn metrics_server_reports_cpu_per_pod() {
    // 50 req/s per pod x 20 ms of CPU = 1000 millicores.
    let seen = probe_run(STEADY, None);
    for s in seen.iter().filter(|s| s.t >= 120 * S) {
        assert_eq!(s.cpu_m.len(), 4);
        for &c in &s.cpu_m {
            assert!((c - 1000.0).abs() < 200.0, "cpu {c}m");
        }
    }
    let all: Vec<f64> = seen.iter().filter(|s| s.t >= 120 * S).flat_map(|s| s.cpu_m.clone()).collect();
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    assert!((mean - 1000.0).abs() < 25.0, "{mean}");
}

#[test]
fn new_pods_are_missing_until_metrics_server_has_two_readings() {
    // Scale 4 -> 6 at 300 s (instant startup): the new pods have no CPU reading at first.
    let seen = probe_run(STEADY, Some((300 * S, 6)));
    let first_after = seen.iter().find(|s| s.t > 300 * S).unwrap();
    assert_eq!(first_after.pods, 6);
    assert_eq!(first_after.missing, 2);
    let later = seen.iter().find(|s| s.t >= 360 * S).unwrap();
    assert_eq!(later.missing, 0);
}

#[test]
fn series_of_deleted_pods_stay_in_range_queries_until_they_age_out() {
    // Scale 4 -> 2 at 300 s. Prometheus keeps the deleted pods' samples: rate() over 1m still
    // sums 4 series for a while, the instant vector drops them at once.
    let seen = probe_run(STEADY, Some((300 * S, 2)));
    let just_after = seen.iter().find(|s| s.t == 330 * S).unwrap();
    assert_eq!(just_after.instant_series, 2);
    assert_eq!(just_after.series, 4, "dead pods' samples are still in the 1m range");
    let later = seen.iter().find(|s| s.t >= 420 * S).unwrap();
    assert_eq!(later.series, 2);
    assert!((later.pod_rate_sum.unwrap() - 200.0).abs() < 12.0);
}

/// Every pod is scraped once per scrape interval, at its own phase, from its first scrape to
/// the end of the run: the recurring scrapes (which wait in a lane beside the event queue)
/// are neither lost nor run out of turn, as each pod's exported samples show.
#[test]
fn every_pod_is_scraped_once_per_interval() {
    let ex = scenario(STEADY);
    let sc = &ex.scenario;
    let mut sim = autosim::sim::Simulation::new(sc, &ex.policies[0], 0);
    sim.keep_all_series();
    sim.run_until(600 * S);
    let om = sim.metrics().openmetrics(0);
    let mut by_pod: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for line in om.lines().filter(|l| l.starts_with("http_requests_total{")) {
        let pod = line.split("pod=\"").nth(1).and_then(|r| r.split('"').next()).expect("a pod label").to_string();
        let ts: f64 = line.rsplit(' ').next().unwrap().parse().expect("a timestamp");
        by_pod.entry(pod).or_default().push(ts);
    }
    assert_eq!(by_pod.len(), 4, "{:?}", by_pod.keys());
    for (pod, mut ts) in by_pod {
        ts.sort_by(f64::total_cmp);
        // 600 s of 15 s intervals: 40 scrapes, the first within the first interval.
        assert_eq!(ts.len(), 40, "{pod}: {ts:?}");
        assert!(ts[0] > 0.0 && ts[0] <= 15.0, "{pod}: first at {}", ts[0]);
        for w in ts.windows(2) {
            assert!((w[1] - w[0] - 15.0).abs() < 1e-6, "{pod}: {} then {}", w[0], w[1]);
        }
    }
}
