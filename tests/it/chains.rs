//! Services that call services: a two-tier open network against the product-form (Jackson)
//! result, end-to-end latency on sync calls as the sum of the tiers, failures carried to the
//! caller, conservation across tiers, and calls that leave every other draw alone.
//!
//! As in `theory.rs`, each check runs independent replications (fixed seeds) and allows four
//! standard errors of their mean, estimated from the replications themselves.

use autosim::theory::mmc_mean_response;

use crate::common::{assert_conserved, run_seed, scenario};

fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

fn check(label: &str, xs: &[f64], theory: f64, max_rel_se: f64) {
    let (m, se) = mean_se(xs);
    eprintln!("{label}: simulated {m:.5} +- {se:.5} (se), theory {theory:.5}");
    assert!(se / theory < max_rel_se, "{label}: standard error {se} too large for a meaningful test");
    assert!((m - theory).abs() < 4.0 * se, "{label}: simulated {m} vs theory {theory}, more than 4 standard errors ({se})");
}

/// Per replication: the front's and the worker's mean latency, the front's mean end-to-end
/// latency and the worker's arrival rate.
struct Tiers {
    front: Vec<f64>,
    worker: Vec<f64>,
    e2e: Vec<f64>,
    worker_rate: Vec<f64>,
}

fn replicate(toml: &str, n: u64) -> Tiers {
    let ex = scenario(toml);
    let mut out = Tiers { front: Vec::new(), worker: Vec::new(), e2e: Vec::new(), worker_rate: Vec::new() };
    for seed in 1..=n {
        let r = run_seed(&ex, 0, 2000 + seed);
        assert_conserved(&r);
        assert_eq!(r.summary.requests.rejected + r.summary.requests.timed_out + r.summary.requests.lost, 0);
        let front = &r.summary.services["front"];
        let worker = &r.summary.services["worker"];
        let e2e = front.end_to_end.expect("the front has calls: its summary has end_to_end");
        assert_eq!(e2e.failed, 0);
        assert!(e2e.completed > 0);
        assert!(worker.end_to_end.is_none(), "the worker makes no calls");
        out.front.push(front.latency_s.mean);
        out.worker.push(worker.latency_s.mean);
        out.e2e.push(e2e.latency_s.mean);
        out.worker_rate.push(worker.little.arrival_rate_per_s);
    }
    out
}

#[test]
fn enqueue_network_matches_jackson() {
    // Front: M/M/4 (2 workers x 2 slots on one queue), 30/s, mean 100 ms: rho 0.75. Half of its
    // requests enqueue a job on the worker tier as they leave (Burke: a Poisson stream of
    // 15/s), which also has 5/s of its own: M/M/3 at 20/s, mean 100 ms, rho 0.67.
    let toml = r#"
name = "jackson-enqueue"
duration = "2000s"
warmup = "200s"
step = "1m"
[[services]]
name = "front"
kind = "queue"
replicas = 2
concurrency = 2
queue_limit = 10000000
service_time = { dist = "exponential", mean = "100ms" }
calls = [ { service = "worker", mode = "enqueue", probability = 0.5 } ]
workload = { pattern = { kind = "constant", rate = 30 } }
[[services]]
name = "worker"
kind = "queue"
replicas = 3
concurrency = 1
queue_limit = 10000000
service_time = { dist = "exponential", mean = "100ms" }
workload = { pattern = { kind = "constant", rate = 5 } }
"#;
    let r = replicate(toml, 12);
    let (w_front, w_worker) = (mmc_mean_response(4, 30.0, 10.0), mmc_mean_response(3, 20.0, 10.0));
    check("front M/M/4 response", &r.front, w_front, 0.01);
    check("worker M/M/3 response", &r.worker, w_worker, 0.02);
    check("worker arrival rate", &r.worker_rate, 20.0, 0.01);
    // A request that enqueued a job ends when the job does: W_front + p x W_worker.
    check("front end-to-end", &r.e2e, w_front + 0.5 * w_worker, 0.02);
}

#[test]
fn sync_latency_is_the_sum_of_the_tiers() {
    // Front: room for every request (an M/M/infinity, 50 ms), then one sync call to the worker
    // (M/M/3 at 20/s, mean 100 ms), then 20 ms after it. The front's latency is its end-to-end
    // latency, the sum of its own work, the worker's response and its after-work.
    let toml = r#"
name = "jackson-sync"
duration = "2000s"
warmup = "200s"
step = "1m"
[[services]]
name = "front"
replicas = 1
concurrency = 1000
service_time = { dist = "exponential", mean = "50ms" }
service_time_after_calls = { dist = "exponential", mean = "20ms" }
calls = [ { service = "worker", mode = "sync" } ]
workload = { pattern = { kind = "constant", rate = 20 } }
[[services]]
name = "worker"
kind = "queue"
replicas = 3
concurrency = 1
queue_limit = 10000000
service_time = { dist = "exponential", mean = "100ms" }
"#;
    let r = replicate(toml, 12);
    let w_worker = mmc_mean_response(3, 20.0, 10.0);
    check("worker M/M/3 response", &r.worker, w_worker, 0.02);
    check("front end-to-end", &r.e2e, 0.05 + w_worker + 0.02, 0.02);
    check("front latency", &r.front, 0.05 + w_worker + 0.02, 0.02);
    // Tier by tier, replication by replication: the end-to-end mean is the front's own work
    // plus the worker's measured response (the same requests, so well within the noise).
    let sums: Vec<f64> = r.worker.iter().map(|w| 0.05 + w + 0.02).collect();
    let diffs: Vec<f64> = r.e2e.iter().zip(&sums).map(|(e, s)| e - s).collect();
    let (m, se) = mean_se(&diffs);
    eprintln!("end-to-end minus the sum of the tiers: {m:.5} +- {se:.5}");
    assert!(m.abs() < 4.0 * se.max(1e-4), "end-to-end {m} away from the sum of the tiers ({se})");
    for (e, f) in r.e2e.iter().zip(&r.front) {
        assert!((e - f).abs() < 1e-3 * f, "on sync calls the front's latency is its end-to-end latency: {e} vs {f}");
    }
}

/// A front making one call per request to a worker that rejects (a short queue), with
/// no load of its own.
fn rejecting(mode: &str) -> String {
    format!(
        r#"
name = "reject-{mode}"
duration = "10m"
step = "1m"
[[services]]
name = "front"
replicas = 2
concurrency = 50
queue_limit = 100000
service_time = "5ms"
calls = [ {{ service = "worker", mode = "{mode}", count = 1 }} ]
workload = {{ pattern = {{ kind = "constant", rate = 20 }} }}
[[services]]
name = "worker"
kind = "queue"
replicas = 1
concurrency = 2
queue_limit = 5
service_time = {{ dist = "exponential", mean = "150ms" }}
"#
    )
}

#[test]
fn a_rejected_call_fails_its_caller_and_requests_are_conserved_per_tier() {
    for mode in ["sync", "enqueue"] {
        let ex = scenario(&rejecting(mode));
        let r = run_seed(&ex, 0, 7);
        assert_conserved(&r);
        let (front, worker) = (&r.summary.services["front"].requests, &r.summary.services["worker"].requests);
        assert!(worker.rejected > 100, "{mode}: the worker rejects: {worker:?}");
        // Every rejection at the worker fails exactly one front request, and nothing else does.
        assert_eq!(front.rejected, worker.rejected, "{mode}: {front:?} {worker:?}");
        // Every front request that got past its own work made exactly one call.
        assert!(worker.arrived <= front.arrived && worker.arrived + 100 >= front.arrived, "{mode}: {front:?} {worker:?}");
        let e2e = r.summary.services["front"].end_to_end.unwrap();
        assert_eq!(e2e.failed, front.rejected, "{mode}: a failed call fails the tree");
        assert_eq!(e2e.completed + e2e.failed + e2e.in_flight_at_end, front.arrived, "{mode}: every tree is counted once");
    }
}

#[test]
fn calls_leave_the_other_draws_alone_and_repeat() {
    let base = rejecting("enqueue");
    let without = base.replace("calls = [ { service = \"worker\", mode = \"enqueue\", count = 1 } ]\n", "").replace(
        "service_time = { dist = \"exponential\", mean = \"150ms\" }\n",
        "service_time = { dist = \"exponential\", mean = \"150ms\" }\nworkload = { pattern = { kind = \"constant\", rate = 1 } }\n",
    );
    let a = run_seed(&scenario(&base), 0, 3);
    let b = run_seed(&scenario(&without), 0, 3);
    // The front's arrivals and its own work are the same with and without its calls.
    assert_eq!(a.summary.services["front"].requests.arrived, b.summary.services["front"].requests.arrived);
    assert!(b.summary.services["front"].end_to_end.is_none());
    // Same seed, same report.
    let again = run_seed(&scenario(&base), 0, 3);
    assert_eq!(serde_json::to_string(&a.summary).unwrap(), serde_json::to_string(&again.summary).unwrap());
}

#[test]
fn bad_calls_exit_2_with_their_place() {
    let base = "name = \"x\"\nduration = \"1m\"\n[[services]]\nname = \"a\"\nservice_time = \"10ms\"\ncalls = [ { service = \"b\" } ]\nworkload.pattern = { kind = \"constant\", rate = 5 }\n[[services]]\nname = \"b\"\nservice_time = \"10ms\"\n";
    let dir = tempfile::tempdir().unwrap();
    for (edit, place, words) in [
        (("service = \"b\" }", "service = \"nope\" }"), ":6:23:", "no service named \"nope\""),
        (("name = \"b\"\n", "name = \"b\"\ncalls = [ { service = \"a\" } ]\n"), ":10:23:", "calls form a cycle (a -> b -> a)"),
        (("service = \"b\" }", "service = \"a\" }"), ":6:23:", "calls form a cycle (a -> a)"),
        (("service = \"b\" }", "service = \"b\", count = 2, probability = 0.5 }"), ":6:53:", "not both"),
        (("service = \"b\" }", "service = \"b\", count = 0 }"), ":6:36:", "expected 1 to 1000"),
        (("service = \"b\" }", "service = \"b\", mode = \"async\" }"), ":6:35:", "expected `enqueue` or `sync`"),
        (("calls = [ { service = \"b\" } ]\n", ""), ":7:1:", "service \"b\" has no `workload` and no service calls it"),
        (("calls = [ { service = \"b\" } ]\n", "service_time_after_calls = \"1ms\"\n"), ":6:28:", "without `calls`"),
    ] {
        let text = base.replacen(edit.0, edit.1, 1);
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, &text).unwrap();
        let (code, out, err) = crate::common::autosim([std::ffi::OsStr::new("validate"), file.as_os_str()]);
        assert_eq!(code, 2, "{text}\n{out}{err}");
        assert!(err.contains(place) && err.contains(words), "expected {place} and {words:?}:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// The entry service's end-to-end latency reaches the terminal table, report.md and
/// report.html, with the figures of summary.json; a scenario without calls prints none.
#[test]
fn end_to_end_latency_is_in_the_terminal_table_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let file = crate::common::root().join("scenarios/seed-001-load-100.toml");
    let (code, stdout, stderr) = crate::common::autosim([std::ffi::OsStr::new("run"), file.as_os_str(), std::ffi::OsStr::new("--out"), out.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("seed-hpas/summary.json")).unwrap()).unwrap();
    let e = &summary["services"]["fastapi"]["end_to_end"];
    let completed = e["completed"].as_u64().unwrap();
    assert!(completed > 0, "{e}");
    let want = "seed-hpas: end-to-end latency of fastapi (until every call is done): p50 ";
    let tail = format!("; {completed} completed, {} failed, {} in flight at the end", e["failed"], e["in_flight_at_end"]);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let html_tail = format!("{tail}</li>");
    for (text, tail) in [(&stdout, &tail), (&md, &tail), (&html, &html_tail)] {
        let line = text.lines().find(|l| l.contains(want)).unwrap_or_else(|| panic!("no end-to-end line in:\n{text}"));
        assert!(line.ends_with(tail.as_str()), "{line}");
    }
    let quick = crate::common::root().join("scenarios/quickstart.toml");
    let out2 = tmp.path().join("quick");
    let (code, stdout, _) = crate::common::autosim([std::ffi::OsStr::new("run"), quick.as_os_str(), std::ffi::OsStr::new("--out"), out2.as_os_str()]);
    assert_eq!(code, 0);
    for report in ["report.md", "report.html"] {
        assert!(!std::fs::read_to_string(out2.join(report)).unwrap().contains("end-to-end"), "{report}");
    }
    assert!(!stdout.contains("end-to-end"));
}
