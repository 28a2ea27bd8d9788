//! Determinism: the same scenario and seed give byte-identical reports, whatever the number of
//! threads; every policy alternative sees the same arrivals and the same per-request work.

use std::collections::BTreeMap;
use std::path::Path;

use autosim::output::write_reports;
use autosim::run::run_policies;

use crate::common::{root, scenario};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn reports_with_threads(sc: &autosim::Experiment, threads: usize) -> BTreeMap<String, Vec<u8>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let all: Vec<usize> = (0..sc.policies.len()).collect();
    let reports = pool.install(|| run_policies(sc, &all, sc.scenario.seed, autosim::command::Commands::Refuse, &|_| {}).unwrap());
    let dir = tempfile::tempdir().unwrap();
    write_reports(dir.path(), &reports).unwrap();
    files(dir.path())
}

#[test]
fn reports_are_byte_identical_across_runs_and_thread_counts() {
    let sc = autosim::load(&root().join("scenarios/quickstart.toml")).unwrap();
    let one = reports_with_threads(&sc, 1);
    let again = reports_with_threads(&sc, 1);
    assert!(one.len() >= 3);
    assert_eq!(one, again, "two runs differ");
    assert_eq!(sc.policies.len(), 2);
    // Two threads: the two runs draw their arrivals once between them (`run::tape`); three:
    // each run's arrivals are drawn on a core of their own; one: in line.
    for threads in [2, 3] {
        let many = reports_with_threads(&sc, threads);
        for (name, bytes) in &one {
            assert!(many.get(name) == Some(bytes), "{name} differs between 1 and {threads} threads");
        }
    }
}

#[test]
fn every_policy_sees_the_same_arrivals_and_work() {
    // Two static alternatives with capacity to spare: nothing is rejected or queued, so each
    // request's latency is its own work, and equal work means equal latency histograms.
    let sc = scenario(
        r#"
name = "crn"
duration = "600s"
[[services]]
name = "svc"
replicas = 4
concurrency = 50
service_time = { dist = "lognormal", median = "50ms", p99 = "400ms" }
workload = { pattern = { kind = "constant", rate = 100 } }
[[policies]]
name = "four"
pods = { kind = "static", replicas = 4 }
[[policies]]
name = "eight"
pods = { kind = "static", replicas = 8 }
"#,
    );
    let a = crate::common::run(&sc, 0).summary;
    let b = crate::common::run(&sc, 1).summary;
    assert_eq!(a.requests.arrived, b.requests.arrived);
    assert_eq!(a.requests.completed, b.requests.completed);
    assert_eq!(a.latency_s.mean, b.latency_s.mean);
    assert_eq!(a.latency_s.p99, b.latency_s.p99);
    assert_eq!(a.latency_s.max, b.latency_s.max);
    // And a different seed gives different arrivals.
    let c = crate::common::run_seed(&sc, 0, 99).summary;
    assert_ne!(a.requests.arrived, c.requests.arrived);
}

/// Byte-identical on 1, 2 and 4 threads, every output file, for the shipped scenarios with the
/// stateful parts: an HPA and KEDA's scale-to-zero (with injected trigger failures and
/// `fallback`), the node-pool autoscaler beside an HPA, and an LLM loop replayed from its
/// recording. Run through `run_policies` in a rayon pool of each size, as `autosim run` does.
#[test]
fn stateful_shipped_scenarios_are_byte_identical_on_1_2_and_4_threads() {
    for name in ["keda-queue-worker", "node-pool-spike", "llm-replay"] {
        let sc = autosim::load(&root().join(format!("scenarios/{name}.toml"))).unwrap();
        let one = reports_with_threads(&sc, 1);
        assert!(one.keys().any(|k| k.ends_with("decisions.csv")) && one.len() >= 3 * sc.policies.len(), "{name}: {:?}", one.keys());
        for threads in [2, 4] {
            let many = reports_with_threads(&sc, threads);
            assert_eq!(one.keys().collect::<Vec<_>>(), many.keys().collect::<Vec<_>>(), "{name}: the files differ on {threads} threads");
            for (file, bytes) in &one {
                assert!(many[file] == *bytes, "{name}: {file} differs between 1 and {threads} threads");
            }
        }
    }
}

#[test]
fn arrivals_drawn_on_a_spare_core_change_nothing() {
    // One policy on two threads leaves a core idle, which draws the open-loop arrivals ahead
    // (a pattern, a count trace, a request log with its own work; one service with CPU per
    // request drawn from the work stream too), many chunks of them: the files are the same to
    // the byte as when everything is drawn in line, on one thread.
    let sc = scenario(
        r#"
name = "ahead"
duration = "1200s"
[[services]]
name = "api"
replicas = 4
concurrency = 8
timeout = "2s"
service_time = { dist = "exponential", mean = "40ms" }
cpu_per_request = { dist = "exponential", mean = "10ms" }
workload.pattern = { kind = "noise", sd = 0.3, interval = "1m", of = { kind = "constant", rate = 120 } }
[[services]]
name = "counts"
replicas = 2
concurrency = 4
service_time = "30ms"
workload.trace = { file = "traces/bursty-counts.txt", scale = 2.0, loop = true }
[[services]]
name = "log"
replicas = 2
concurrency = 8
service_time = "20ms"
workload.trace = { file = "traces/access-log.csv", format = "requests", time_format = "rfc3339", work = { column = "duration_ms", unit = "ms" }, loop = true }
[[policies]]
name = "hpa"
[policies.pods]
kind = "hpa"
min_replicas = 1
max_replicas = 12
metrics = [ { type = "Resource", resource = { name = "cpu", target = { type = "Utilization", average_utilization = 60 } } } ]
"#,
    );
    let here = reports_with_threads(&sc, 1);
    let elsewhere = reports_with_threads(&sc, 2);
    let summary: serde_json::Value = serde_json::from_slice(&here["hpa/summary.json"]).unwrap();
    let arrived = summary["requests"]["arrived"].as_u64().unwrap();
    assert!(arrived > 100_000, "enough arrivals for many chunks: {arrived}");
    assert_eq!(here.keys().collect::<Vec<_>>(), elsewhere.keys().collect::<Vec<_>>());
    for (name, bytes) in &here {
        assert!(elsewhere[name] == *bytes, "{name} differs when the arrivals are drawn on another thread");
    }
}
