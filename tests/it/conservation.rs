//! Conservation on every run: arrived = completed + rejected + timed out + lost + in flight at
//! the end, under random scenarios that exercise every path a request can take (queues full,
//! client timeouts, pods killed at the end of their grace, nodes drained, pods pending): one
//! service under toy policies, and several services under every kind of load (patterns, count
//! traces, request logs with their own work, k6 executors with graceful stops and ramp-downs)
//! with the HPA, the node-pool autoscaler and failing node provisioning.

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
        check_attainment(&r);
    }
}

/// SLO attainment is `good / finished`, `good` the completions within the SLO latency (every
/// service here has the default SLO): at most the availability (`completed / finished`), a
/// whole number of requests, and bracketed by the latency CDF (the run's HDR histogram, whose
/// buckets are at most 0.1 % wide): at least the completions in buckets ending at or below the
/// SLO, at most those in buckets ending below it plus 0.2 %.
fn check_attainment(r: &autosim::report::Report) {
    let q = &r.summary.requests;
    let sla = &r.summary.sla;
    let finished = (q.completed + q.rejected + q.timed_out + q.lost) as f64;
    if finished == 0.0 {
        assert_eq!((sla.attainment, sla.availability), (1.0, 1.0));
        return;
    }
    let good = sla.attainment * finished;
    assert!((good - good.round()).abs() < 1e-6 * finished.max(1.0), "attainment {} of {finished}: not a count", sla.attainment);
    assert!(good.round() <= q.completed as f64, "{sla:?} {q:?}");
    assert!(sla.attainment <= sla.availability + 1e-12, "{sla:?}");
    let slo = r.summary.services.values().next().unwrap().slo.latency_s;
    assert!(r.summary.services.values().all(|s| s.slo.latency_s == slo));
    let share_to = |limit: f64| r.latency_cdf.iter().take_while(|p| p.0 <= limit).last().map_or(0.0, |p| p.1);
    let (lo, hi) = (share_to(slo * (1.0 - 1e-9)) * q.completed as f64, share_to(slo * 1.002) * q.completed as f64);
    assert!(good.round() >= lo.round() && good.round() <= hi.round(), "good {good} outside [{lo}, {hi}] by the CDF at the SLO {slo}");
}

/// A random service of the wide property test.
#[derive(Debug, Clone)]
struct Svc {
    kind: &'static str,
    replicas: u32,
    concurrency: u32,
    queue_limit: u32,
    timeout_ms: Option<u32>,
    grace_ms: u32,
    service_ms: u32,
    startup_s: u32,
    /// 0: a constant pattern, 1: a count trace, 2: a request log, 3 to 5: k6 executors.
    load: u8,
    rate: u32,
    vus: u32,
    /// k6: durations (s) of the executor's phases, its graceful stop and ramp-down, think (ms).
    phases: (u32, u32, u32),
    graceful: (u32, u32),
    think_ms: u32,
    /// The HPA, or the toy cycle of replicas.
    hpa: bool,
    cycle: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Wide {
    services: Vec<Svc>,
    provision_failure: f64,
    /// 0: a fixed pool, 1: the node cycle, 2: the node-pool autoscaler.
    nodes: u8,
    node_cycle: Vec<u32>,
    cycle_s: u32,
}

fn svc() -> impl Strategy<Value = Svc> {
    (
        (
            prop::sample::select(vec!["kind = \"queue\"", "balancer = \"round-robin\"", "balancer = \"least-request\"", "balancer = \"random\"\nno_ready_pods = \"reject\""]),
            0u32..3,
            1u32..4,
            0u32..8,
            prop::option::of(200u32..3000),
            0u32..2000,
            20u32..500,
            0u32..10,
        ),
        (0u8..6, 2u32..30, 1u32..12, (10u32..120, 10u32..120, 0u32..60), (0u32..8, 0u32..8), 0u32..1500, any::<bool>(), prop::collection::vec(0u32..5, 1..4)),
    )
        .prop_map(|((kind, replicas, concurrency, queue_limit, timeout_ms, grace_ms, service_ms, startup_s), (load, rate, vus, phases, graceful, think_ms, hpa, cycle))| Svc {
            kind,
            replicas,
            concurrency,
            queue_limit,
            timeout_ms,
            grace_ms,
            service_ms,
            startup_s,
            load,
            rate,
            vus,
            phases,
            graceful,
            think_ms,
            hpa,
            cycle,
        })
}

fn wide() -> impl Strategy<Value = Wide> {
    (prop::collection::vec(svc(), 1..4), prop::sample::select(vec![0.0, 0.3, 1.0]), 0u8..3, prop::collection::vec(1u32..5, 1..4), 5u32..40)
        .prop_map(|(services, provision_failure, nodes, node_cycle, cycle_s)| Wide { services, provision_failure, nodes, node_cycle, cycle_s })
}

impl Svc {
    /// The `[services.workload]` body.
    fn workload(&self) -> String {
        let (a, b, c) = self.phases;
        let (stop, ramp_down) = self.graceful;
        match self.load {
            0 => format!("pattern = {{ kind = \"constant\", rate = {} }}", self.rate),
            1 => format!("trace = {{ file = \"traces/bursty-counts.txt\", scale = {:.3}, loop = true }}", f64::from(self.rate) / 15.0),
            2 => "trace = { file = \"traces/access-log.csv\", format = \"requests\", time_format = \"rfc3339\", work = { column = \"duration_ms\", unit = \"ms\" }, loop = true }".to_string(),
            3 => format!(
                "k6 = {{ executor = \"constant-arrival-rate\", rate = {}, duration = \"{}s\", pre_allocated_vus = {}, graceful_stop = \"{stop}s\", think_time = \"{}ms\" }}",
                self.rate,
                a + b,
                self.vus,
                self.think_ms
            ),
            4 => format!(
                "k6 = {{ executor = \"ramping-vus\", start_vus = 0, stages = [ {{ duration = \"{a}s\", target = {} }}, {{ duration = \"{b}s\", target = {} }}, {{ duration = \"{c}s\", target = 0 }} ], graceful_ramp_down = \"{ramp_down}s\", graceful_stop = \"{stop}s\", think_time = \"{}ms\" }}",
                self.vus,
                self.vus / 2,
                self.think_ms
            ),
            _ => format!(
                "k6 = {{ executor = \"per-vu-iterations\", vus = {}, iterations = {}, max_duration = \"{}s\", graceful_stop = \"{stop}s\", think_time = \"{}ms\" }}",
                self.vus,
                self.rate * 4,
                a + 1,
                self.think_ms
            ),
        }
    }

    /// The most VUs its k6 executor runs at once (`None`: not k6).
    fn max_vus(&self) -> Option<u64> {
        (self.load >= 3).then_some(u64::from(self.vus))
    }
}

fn build_wide(w: &Wide) -> autosim::Experiment {
    let mut toml = format!(
        r#"
name = "conservation-wide"
duration = "300s"
step = "5s"
[[cluster.node_pools]]
name = "pool"
cpu = "1"
memory = "8Gi"
nodes = 2
min = 1
max = 6
permanent = 1
provision_time = {{ dist = "uniform", min = "5s", max = "20s" }}
provision_failure = {}
drain_time = "2s"
"#,
        w.provision_failure
    );
    for (i, s) in w.services.iter().enumerate() {
        let timeout = s.timeout_ms.map_or(String::new(), |t| format!("timeout = \"{t}ms\"\n"));
        toml.push_str(&format!(
            r#"
[[services]]
name = "s{i}"
{kind}
replicas = {replicas}
concurrency = {concurrency}
queue_limit = {queue_limit}
{timeout}shutdown_grace = "{grace}ms"
service_time = {{ dist = "lognormal", median = "{service}ms", p95 = "{p95}ms" }}
startup = "{startup}s"
resources = {{ cpu = "500m", memory = "256Mi" }}
[services.workload]
{workload}
"#,
            kind = s.kind,
            replicas = s.replicas,
            concurrency = s.concurrency,
            queue_limit = s.queue_limit,
            grace = s.grace_ms,
            service = s.service_ms,
            p95 = s.service_ms * 3,
            startup = s.startup_s,
            workload = s.workload(),
        ));
    }
    toml.push_str(
        r#"
[[policies]]
name = "p"
[policies.pods]
kind = "hpa"
min_replicas = 1
max_replicas = 5
metrics = [ { type = "Resource", resource = { name = "cpu", target = { type = "Utilization", average_utilization = 60 } } } ]
"#,
    );
    if w.nodes == 2 {
        toml.push_str("[policies.nodes]\nkind = \"node-pool\"\nscale_up_cooldown = \"10s\"\nscale_down_cooldown = \"30s\"\n");
    }
    let mut sc = scenario(&toml);
    let period = u64::from(w.cycle_s) * 1_000_000_000;
    for (i, s) in w.services.iter().enumerate() {
        if !s.hpa {
            sc.policies[0].pods[i] = Arc::new(Cycle { service: i, period, replicas: s.cycle.clone(), i: 0 });
        }
    }
    if w.nodes == 1 {
        sc.policies[0].nodes = Some(Arc::new(NodeCycle { period: period * 3 / 2, nodes: w.node_cycle.clone(), i: 0 }));
    }
    sc
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Several services, every kind of load, the HPA beside toy cycles, node autoscaling with
    /// failing provisioning: every request of every service is accounted for, the timeseries
    /// adds up per service, pods never outgrow the ready nodes, and k6 iterations are
    /// conserved too (each sends one request: complete + interrupted + those still running at
    /// the end, at most one per VU, is the requests that arrived).
    #[test]
    fn every_request_of_every_service_is_accounted_for(w in wide()) {
        let sc = build_wide(&w);
        let r = run(&sc, 0);
        assert_conserved(&r);
        prop_assert_eq!(r.summary.services.len(), w.services.len());
        for (i, s) in w.services.iter().enumerate() {
            let name = format!("s{i}");
            let q = &r.summary.services[&name].requests;
            let rows: Vec<_> = r.timeseries.iter().filter(|row| row.service == name).collect();
            prop_assert!(rows.windows(2).all(|p| p[0].time_s < p[1].time_s));
            prop_assert!((rows.last().unwrap().time_s - 300.0).abs() < 1e-9);
            let sum = |f: fn(&autosim::report::Row) -> u64| rows.iter().map(|row| f(row)).sum::<u64>();
            prop_assert_eq!(sum(|row| row.completed), q.completed, "{}", name);
            prop_assert_eq!(sum(|row| row.rejected), q.rejected, "{}", name);
            prop_assert_eq!(sum(|row| row.timed_out), q.timed_out, "{}", name);
            prop_assert_eq!(sum(|row| row.lost), q.lost, "{}", name);
            match s.max_vus() {
                Some(vus) => {
                    let (done, cut) = (q.iterations.unwrap(), q.interrupted_iterations.unwrap());
                    prop_assert!(done + cut <= q.arrived && q.arrived <= done + cut + vus, "{}: {:?}", name, q);
                }
                None => prop_assert_eq!((q.iterations, q.interrupted_iterations), (None, None)),
            }
        }
        // Nodes of 1 CPU hold two pods of 500m, whatever service they belong to.
        let mut by_time = std::collections::BTreeMap::<u64, (u32, u32)>::new();
        for row in &r.timeseries {
            let e = by_time.entry((row.time_s * 1000.0).round() as u64).or_insert((0, row.nodes_ready));
            e.0 += row.pods_ready + row.pods_starting;
        }
        for (t, (pods, nodes)) in by_time {
            prop_assert!(pods <= 2 * nodes, "at {} ms: {} pods on {} nodes", t, pods, nodes);
        }
        if w.provision_failure == 1.0 {
            prop_assert!(r.timeseries.iter().all(|row| row.nodes_ready <= 2), "no node ever joins");
        }
        check_attainment(&r);
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

/// A large cluster (3,000 one-slot pods, thousands of requests in flight) whose policy kills a
/// third of its pods with no grace every second and brings them back half a second later: the
/// completions of killed pods are dropped, their requests counted lost, and every request
/// counted once.
#[test]
fn a_large_cluster_that_loses_a_third_of_its_pods_every_second_counts_every_request_once() {
    let toml = r#"
name = "large"
duration = "3s"
step = "1s"
[[services]]
name = "svc"
balancer = "random"
replicas = 3000
concurrency = 1
queue_limit = 50
shutdown_grace = "0s"
service_time = { dist = "exponential", mean = "20ms" }
startup = "0s"
resources = { cpu = "10m", memory = "16Mi" }
workload = { pattern = { kind = "constant", rate = 100000 } }
"#;
    let mut sc = scenario(toml);
    sc.policies[0].pods[0] = Arc::new(Cycle { service: 0, period: 500_000_000, replicas: vec![2000, 3000], i: 0 });
    let r = run(&sc, 0);
    assert_conserved(&r);
    let q = &r.summary.requests;
    assert!(q.arrived > 250_000 && q.lost > 0 && q.completed > 200_000, "{q:?}");
}

/// A completion carries only the low byte of its pod's generation: a pod killed while serving
/// leaves its completion pending, and its slot may serve hundreds of later pods before that
/// completion comes. One pod at a time, killed and replaced every 0.1 s with no grace, serving
/// requests of about a minute: each late completion must be dropped, never taken for the pod
/// then in the slot (which a slot reused past 256 generations would allow).
#[test]
fn late_completions_of_killed_pods_are_dropped_whatever_their_slot_served_since() {
    let toml = r#"
name = "churn"
duration = "300s"
step = "10s"
[[services]]
name = "svc"
balancer = "round-robin"
replicas = 1
concurrency = 1
queue_limit = 100
shutdown_grace = "0s"
service_time = { dist = "lognormal", median = "60s", p95 = "120s" }
startup = "0s"
resources = { cpu = "10m", memory = "16Mi" }
workload = { pattern = { kind = "constant", rate = 20 } }
"#;
    let mut sc = scenario(toml);
    sc.policies[0].pods[0] = Arc::new(Cycle { service: 0, period: 50_000_000, replicas: vec![0, 1], i: 0 });
    let r = run(&sc, 0);
    assert_conserved(&r);
    let q = &r.summary.requests;
    // About 3,000 pods came and went, each losing the request it served.
    assert!(q.lost > 2_000 && q.completed == 0, "{q:?}");
}
