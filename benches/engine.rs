//! Engine throughput: simulated requests per second on an M/M/c service (the issue's case:
//! 8,000 req/s into 100 pods x 10 slots), over one simulated minute per iteration. For the
//! full hour and the memory figure, run `autosim bench` (release build).

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use autosim::scenario;
use autosim::Simulation;

fn mmc(duration: &str, kind: &str) -> autosim::Scenario {
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
    scenario::parse(&toml, Path::new(".")).expect("bench scenario parses")
}

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    for (name, kind) in [("queue", "kind = \"queue\""), ("http-least-request", "balancer = \"least-request\"")] {
        let sc = mmc("60s", kind);
        // About 480,000 requests per iteration.
        g.throughput(Throughput::Elements(480_000));
        g.bench_function(format!("mmc-8000rps-100x10-1min/{name}"), |b| {
            b.iter(|| Simulation::new(&sc, 0, 1).run().summary.requests.arrived)
        });
    }
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
