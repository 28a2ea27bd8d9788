//! `autosim bench`: the engine alone on an M/M/c queue, timed on one thread.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use autosim::Simulation;

use super::BadInput;

pub(crate) fn bench(rate: f64, pods: u32, concurrency: u32, service_time: &str, duration: &str, balancer: Option<&str>) -> Result<()> {
    // The shared queue of an M/M/c service, or a queue per pod behind a balancer.
    let kind = match balancer {
        None => "kind = \"queue\"\nqueue_limit = 10000000".to_string(),
        Some(b) => format!("kind = \"http\"\nbalancer = {b:?}\nqueue_limit = 1000"),
    };
    let toml = format!(
        r#"
name = "bench"
duration = "{duration}"
step = "1m"
[[services]]
name = "mmc"
{kind}
replicas = {pods}
concurrency = {concurrency}
service_time = {{ dist = "exponential", mean = "{service_time}" }}
workload = {{ pattern = {{ kind = "constant", rate = {rate} }} }}
"#
    );
    let ex = autosim::parse(&toml, Path::new(".")).map_err(|e| BadInput(format!("bench settings: {}", e.message)))?;
    let t0 = Instant::now();
    let sc = &ex.scenario;
    let mut sim = Simulation::new(sc, &ex.policies[0], sc.seed);
    sim.run_until(sc.duration_ns);
    let events = sim.events_processed();
    let report = sim.finish();
    let wall = t0.elapsed().as_secs_f64();
    let n = report.summary.requests.arrived;
    println!("simulated {} requests ({} events) of {} in {:.3}s on one thread", n, events, duration, wall);
    println!("  {:.2} million simulated requests per second", n as f64 / wall / 1e6);
    println!("  {:.2} million events per second", events as f64 / wall / 1e6);
    if let Some(rss) = peak_rss_kib() {
        println!("  peak resident memory: {:.1} MiB", rss as f64 / 1024.0);
    }
    println!(
        "  mean latency {:.4}s, p99 {:.4}s, mean wait {:.5}s",
        report.summary.latency_s.mean, report.summary.latency_s.p99, report.summary.queue_wait_s.mean
    );
    Ok(())
}

/// Peak resident set size of this process, from /proc (Linux).
pub(crate) fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
