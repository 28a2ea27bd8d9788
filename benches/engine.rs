//! Engine throughput: simulated requests per second on an M/M/c service (the issue's case:
//! 8,000 req/s into 100 pods x 10 slots), over one simulated minute per iteration. For the
//! full hour and the memory figure, run `autosim bench` (release build).

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use autosim::{Experiment, Simulation};

fn mmc(duration: &str, kind: &str) -> Experiment {
    let toml = format!(
        r#"
name = "bench"
duration = "{duration}"
step = "10s"
[[services]]
name = "mmc"
{kind}
replicas = 100
concurrency = 10
queue_limit = 100000
timeout = "30s"
service_time = {{ dist = "exponential", mean = "100ms" }}
workload = {{ pattern = {{ kind = "constant", rate = 8000 }} }}
"#
    );
    autosim::parse(&toml, Path::new(".")).expect("bench scenario parses")
}

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    for (name, kind) in [("queue", "kind = \"queue\""), ("http-least-request", "balancer = \"least-request\"")] {
        let sc = mmc("60s", kind);
        // About 480,000 requests per iteration.
        g.throughput(Throughput::Elements(480_000));
        g.bench_function(format!("mmc-8000rps-100x10-1min/{name}"), |b| {
            b.iter(|| Simulation::new(&sc.scenario, &sc.policies[0], 1).run().summary.requests.arrived)
        });
    }
    g.finish();
}

/// Replaying a long binned trace: 5 million one-second bins (58 days, like the NASA-HTTP
/// trace) of bursty counts, averaging 0.7 requests per second, with the rate table shared and
/// never copied per run. Measures the per-bin cost of the generator, which dominates when most
/// bins are empty or nearly so.
fn trace_replay(c: &mut Criterion) {
    use std::sync::Arc;

    use autosim::workload::trace::{Trace, WithinBin};
    use autosim::workload::Source;

    const BINS: usize = 5_000_000;
    // Two pods: the load is light (and each pod costs a scrape every 15 s).
    let toml = r#"
name = "trace-bench"
duration = "5000000s"
step = "1h"
[[services]]
name = "web"
replicas = 2
concurrency = 10
service_time = { dist = "exponential", mean = "100ms" }
workload = { pattern = { kind = "constant", rate = 0 } }
"#;
    let mut sc = autosim::parse(toml, Path::new(".")).expect("bench scenario parses");
    // A deterministic bursty pattern: mostly 0 and 1, sometimes up to 20.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let rates: Vec<f32> = (0..BINS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 100 {
                0..=58 => 0.0,
                59..=89 => 1.0,
                90..=98 => 3.0,
                _ => (x % 21) as f32,
            }
        })
        .collect();
    let trace = Arc::new(Trace::Bins { bin_ns: 1_000_000_000, rates: rates.into(), counts: true, arrivals: WithinBin::Poisson });
    sc.scenario.services[0].workload.sources = vec![Source::Trace { trace, looped: false }];
    let mut g = c.benchmark_group("trace");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BINS as u64));
    g.bench_function("replay-5M-bins", |b| b.iter(|| Simulation::new(&sc.scenario, &sc.policies[0], 1).run().summary.requests.arrived));
    g.finish();
}

criterion_group!(benches, engine, trace_replay);
criterion_main!(benches);
