//! The engine against queueing theory: M/M/c (Erlang C), M/M/1, Poisson splitting, and
//! Little's law. Each check runs independent replications (different seeds) and compares the
//! theoretical value with the mean of the replications, allowing four standard errors of that
//! mean (estimated from the replications themselves), so a failure is most likely a real bias,
//! not noise. With 12 replications the standardized error of the mean follows Student's t with
//! 11 degrees of freedom, so an unbiased engine still fails one check with probability
//! P(|t_11| > 4) = 0.21 % (two-sided; about 1 in 480), not the 6e-5 a normal tail would give.
//! The seeds are fixed, so a given build passes or fails every time: that probability is the
//! chance that a correct change of the engine's random draws trips a check. Each test also
//! checks that its standard error is small, so that a pass means something.

use autosim::theory::{mmc_mean_response, mmc_mean_wait};

use crate::common::{assert_conserved, run_seed, scenario};

/// Mean and standard error of the mean.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

fn queue_scenario(kind_extra: &str, pods: u32, concurrency: u32, rate: f64, mean_service: &str, duration: &str) -> String {
    format!(
        r#"
name = "theory"
duration = "{duration}"
warmup = "200s"
step = "1m"
[[services]]
name = "svc"
{kind_extra}
replicas = {pods}
concurrency = {concurrency}
queue_limit = 10000000
service_time = {{ dist = "exponential", mean = "{mean_service}" }}
workload = {{ pattern = {{ kind = "constant", rate = {rate} }} }}
"#
    )
}

struct Replications {
    wait: Vec<f64>,
    response: Vec<f64>,
}

fn replicate(toml: &str, n: u64) -> Replications {
    let sc = scenario(toml);
    let mut out = Replications { wait: Vec::new(), response: Vec::new() };
    for seed in 1..=n {
        let r = run_seed(&sc, 0, 1000 + seed);
        assert_conserved(&r);
        assert_eq!(r.summary.requests.rejected + r.summary.requests.timed_out + r.summary.requests.lost, 0);
        out.wait.push(r.summary.queue_wait_s.mean);
        out.response.push(r.summary.latency_s.mean);
    }
    out
}

fn check(label: &str, xs: &[f64], theory: f64, max_rel_se: f64) {
    let (m, se) = mean_se(xs);
    eprintln!("{label}: simulated {m:.5} +- {se:.5} (se), theory {theory:.5}");
    assert!(se / theory < max_rel_se, "{label}: standard error {se} too large for a meaningful test");
    assert!((m - theory).abs() < 4.0 * se, "{label}: simulated {m} vs theory {theory}, more than 4 standard errors ({se})");
}

#[test]
fn mmc_matches_erlang_c() {
    // c = 4 servers (2 workers x 2 slots) sharing one FIFO queue, a = 3 Erlangs, rho = 0.75.
    let toml = queue_scenario("kind = \"queue\"", 2, 2, 30.0, "100ms", "2000s");
    let r = replicate(&toml, 12);
    check("M/M/4 wait", &r.wait, mmc_mean_wait(4, 30.0, 10.0), 0.03);
    check("M/M/4 response", &r.response, mmc_mean_response(4, 30.0, 10.0), 0.01);
}

#[test]
fn mm1_matches_theory() {
    // One worker, one slot: rho = 0.7, Wq = rho / (mu - lambda) = 0.2333 s.
    let toml = queue_scenario("kind = \"queue\"", 1, 1, 7.0, "100ms", "4000s");
    let r = replicate(&toml, 12);
    check("M/M/1 wait", &r.wait, mmc_mean_wait(1, 7.0, 10.0), 0.04);
    check("M/M/1 response", &r.response, mmc_mean_response(1, 7.0, 10.0), 0.03);
}

#[test]
fn random_balancing_splits_into_independent_mm1_queues() {
    // An http service with a random balancer over 3 single-slot pods: Poisson splitting makes
    // each pod an M/M/1 queue at a third of the rate (rho = 0.6).
    let toml = queue_scenario("kind = \"http\"\nbalancer = \"random\"", 3, 1, 18.0, "100ms", "2000s");
    let r = replicate(&toml, 12);
    check("3 x M/M/1 wait", &r.wait, mmc_mean_wait(1, 6.0, 10.0), 0.04);
}

#[test]
fn little_law_holds_on_each_run() {
    // L = lambda W, measured on one run: the time-average number in the system against the
    // arrival rate times the mean time in the system. Exact up to the requests in flight at
    // the ends of the window, so the tolerance is tight.
    for toml in [
        queue_scenario("kind = \"queue\"", 2, 2, 30.0, "100ms", "2000s"),
        queue_scenario("kind = \"http\"\nbalancer = \"least-request\"", 4, 2, 60.0, "100ms", "2000s"),
    ] {
        let sc = scenario(&toml);
        let r = run_seed(&sc, 0, 7);
        let s = &r.summary.services["svc"];
        let l = s.little.in_system_mean;
        let lambda_w = s.little.arrival_rate_per_s * s.latency_s.mean;
        eprintln!("L = {l:.4}, lambda W = {lambda_w:.4}");
        assert!((l - lambda_w).abs() / l < 0.01, "Little's law: L = {l}, lambda W = {lambda_w}");
    }
}

#[test]
fn response_time_law_for_a_saturated_service() {
    // Offered load above capacity with a bounded queue: throughput is capped at c / E[S]
    // (the utilization law with U = 1), the rest rejected.
    let toml = r#"
name = "overload"
duration = "1000s"
warmup = "100s"
[[services]]
name = "svc"
kind = "queue"
replicas = 2
concurrency = 2
queue_limit = 20
service_time = { dist = "exponential", mean = "100ms" }
workload = { pattern = { kind = "constant", rate = 80 } }
"#;
    let sc = scenario(toml);
    let r = run_seed(&sc, 0, 3);
    assert_conserved(&r);
    let q = &r.summary.requests;
    let throughput = q.completed as f64 / 900.0;
    eprintln!("throughput {throughput:.2}/s, rejected {}", q.rejected);
    assert!((throughput - 40.0).abs() / 40.0 < 0.03, "throughput {throughput}, expected the 40/s capacity");
    assert!(q.rejected as f64 / q.arrived as f64 > 0.45);
}
