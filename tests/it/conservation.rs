//! Conservation on every run: arrived = completed + rejected + timed out + lost + in flight at
//! the end, under random scenarios that exercise every path a request can take (queues full,
//! client timeouts, pods killed at the end of their grace, nodes drained, pods pending).

use std::sync::Arc;

use autosim::engine::SimTime;
use autosim::policy::{Decision, Observation, Policy, PolicyFactory, Target, Verdict};
use proptest::prelude::*;

use crate::common::{assert_conserved, run, scenario};

/// A test policy that sets the replicas of a service from a fixed cycle, one step per period.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub service: usize,
    pub period: SimTime,
    pub replicas: Vec<u32>,
    pub i: usize,
}

impl PolicyFactory for Cycle {
    fn kind(&self) -> &'static str {
        "cycle"
    }
    fn build(&self) -> Box<dyn Policy> {
        Box::new(self.clone())
    }
}

impl Policy for Cycle {
    fn first_wake(&self) -> SimTime {
        self.period
    }
    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        let to = self.replicas[self.i % self.replicas.len()];
        self.i += 1;
        let from = obs.deployment(self.service).spec_replicas;
        out.push(Decision {
            target: Target::Deployment(self.service),
            from,
            to,
            verdict: Verdict::Apply,
            reason: "cycle".into(),
        });
        obs.now() + self.period
    }
}

/// A test node policy that resizes pool 0 from a fixed cycle.
#[derive(Debug, Clone)]
pub struct NodeCycle {
    pub period: SimTime,
    pub nodes: Vec<u32>,
    pub i: usize,
}

impl PolicyFactory for NodeCycle {
    fn kind(&self) -> &'static str {
        "node-cycle"
    }
    fn build(&self) -> Box<dyn Policy> {
        Box::new(self.clone())
    }
}

impl Policy for NodeCycle {
    fn first_wake(&self) -> SimTime {
        self.period
    }
    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        let to = self.nodes[self.i % self.nodes.len()];
        self.i += 1;
        let pool = &obs.pools()[0];
        out.push(Decision {
            target: Target::Pool(0),
            from: pool.ready + pool.provisioning,
            to,
            verdict: Verdict::Apply,
            reason: "node cycle".into(),
        });
        obs.now() + self.period
    }
}

#[derive(Debug, Clone)]
struct Case {
    kind: &'static str,
    rate: f64,
    replicas: u32,
    concurrency: u32,
    queue_limit: u32,
    timeout_ms: Option<u32>,
    grace_ms: u32,
    service_ms: u32,
    startup_s: u32,
    cycle: Vec<u32>,
    nodes: Vec<u32>,
    cycle_s: u32,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec![
            "kind = \"queue\"",
            "balancer = \"round-robin\"",
            "balancer = \"random\"",
            "balancer = \"least-request\"",
            "balancer = \"round-robin\"\nno_ready_pods = \"reject\"",
        ]),
        1.0..60.0f64,
        0u32..4,
        1u32..4,
        0u32..8,
        prop::option::of(100u32..3000),
        0u32..3000,
        20u32..800,
        0u32..15,
        prop::collection::vec(0u32..7, 1..5),
        prop::collection::vec(1u32..4, 1..4),
        5u32..60,
    )
        .prop_map(
            |(kind, rate, replicas, concurrency, queue_limit, timeout_ms, grace_ms, service_ms, startup_s, cycle, nodes, cycle_s)| Case {
                kind,
                rate,
                replicas,
                concurrency,
                queue_limit,
                timeout_ms,
                grace_ms,
                service_ms,
                startup_s,
                cycle,
                nodes,
                cycle_s,
            },
        )
}

fn build(c: &Case) -> autosim::Experiment {
    let timeout = c.timeout_ms.map_or(String::new(), |t| format!("timeout = \"{t}ms\""));
    // Nodes of 1 CPU hold two pods of 500m: the cycle's replicas often do not fit.
    let toml = format!(
        r#"
name = "conservation"
duration = "300s"
step = "5s"
[cluster]
[[cluster.node_pools]]
name = "pool"
cpu = "1"
memory = "4Gi"
nodes = 2
min = 1
max = 4
permanent = 1
provision_time = {{ dist = "uniform", min = "5s", max = "20s" }}
drain_time = "2s"
[[services]]
name = "svc"
{kind}
replicas = {replicas}
concurrency = {concurrency}
queue_limit = {queue_limit}
{timeout}
shutdown_grace = "{grace}ms"
service_time = {{ dist = "lognormal", median = "{service}ms", p95 = "{p95}ms" }}
startup = "{startup}s"
resources = {{ cpu = "500m", memory = "256Mi" }}
workload = {{ pattern = {{ kind = "constant", rate = {rate} }} }}
"#,
        kind = c.kind,
        replicas = c.replicas.min(4),
        concurrency = c.concurrency,
        queue_limit = c.queue_limit,
        grace = c.grace_ms,
        service = c.service_ms,
        p95 = c.service_ms * 3,
        startup = c.startup_s,
        rate = c.rate,
    );
    let mut sc = scenario(&toml);
    let period = u64::from(c.cycle_s) * 1_000_000_000;
    sc.policies[0].pods[0] = Arc::new(Cycle { service: 0, period, replicas: c.cycle.clone(), i: 0 });
    sc.policies[0].nodes = Some(Arc::new(NodeCycle { period: period * 3 / 2, nodes: c.nodes.clone(), i: 0 }));
    sc
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_request_is_accounted_for(c in case()) {
        let sc = build(&c);
        let r = run(&sc, 0);
        assert_conserved(&r);
        // The timeseries is ordered in time, and its counts add up to the summary's.
        let mut last = 0.0;
        let (mut completed, mut rejected, mut timed_out, mut lost) = (0, 0, 0, 0);
        for row in &r.timeseries {
            prop_assert!(row.time_s > last);
            last = row.time_s;
            prop_assert!(row.pods_ready + row.pods_starting <= 2 * (row.nodes_ready), "{row:?}");
            completed += row.completed;
            rejected += row.rejected;
            timed_out += row.timed_out;
            lost += row.lost;
        }
        let q = &r.summary.requests;
        prop_assert_eq!(completed, q.completed);
        prop_assert_eq!(rejected, q.rejected);
        prop_assert_eq!(timed_out, q.timed_out);
        prop_assert_eq!(lost, q.lost);
        prop_assert!((last - 300.0).abs() < 1e-9);
        prop_assert!(r.summary.sla.attainment >= 0.0 && r.summary.sla.attainment <= 1.0);
    }
}

#[test]
fn a_scale_down_with_a_short_grace_loses_work_and_counts_it() {
    let c = Case {
        kind: "balancer = \"round-robin\"",
        rate: 40.0,
        replicas: 4,
        concurrency: 2,
        queue_limit: 50,
        timeout_ms: None,
        grace_ms: 0,
        service_ms: 400,
        startup_s: 0,
        cycle: vec![1, 4],
        nodes: vec![2],
        cycle_s: 20,
    };
    let r = run(&build(&c), 0);
    assert_conserved(&r);
    assert!(r.summary.requests.lost > 0, "{:?}", r.summary.requests);
}

#[test]
fn client_timeouts_waste_work_under_overload() {
    let c = Case {
        kind: "kind = \"queue\"",
        rate: 50.0,
        replicas: 1,
        concurrency: 1,
        queue_limit: 7,
        timeout_ms: Some(300),
        grace_ms: 1000,
        service_ms: 100,
        startup_s: 0,
        cycle: vec![1],
        nodes: vec![2],
        cycle_s: 30,
    };
    let r = run(&build(&c), 0);
    assert_conserved(&r);
    let q = &r.summary.requests;
    assert!(q.timed_out > 0 && q.wasted > 0 && q.rejected > 0, "{q:?}");
    assert!(q.wasted <= q.timed_out);
}
