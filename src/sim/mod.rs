//! The simulation: a scenario, one policy alternative and a seed in; a report out. Pure: no
//! files, clocks, threads or globals. The caller drives it (`run_until`) and may show progress
//! between calls.
//!
//! Event handlers live beside the state they change: `requests.rs` (arrivals, dispatch,
//! completions, timeouts), `lifecycle.rs` (pods, nodes, the ReplicaSet and the scheduler),
//! `observe.rs` (scrapes, policies, the timeseries).
//!
//! `api.rs` is the simulator's side of the policy API: the only place where policies meet the
//! engine's state. Above the policies and the report; nothing below may use it.

mod ahead;
mod api;
mod calls;
mod lifecycle;
mod demand;
mod kube_state;
mod load;
mod observe;
mod requests;

pub use ahead::{Chunk, Chunks, Drawer, Drawn, CHUNK};

use std::collections::VecDeque;
use std::sync::Arc;

use crate::cluster::{Node, Pod, Slab};
use crate::engine::rng::{self, Rng};
use crate::engine::time::secs;
use crate::engine::prefetch::prefetch;
use crate::engine::queue::{key_time, Key};
use crate::engine::{EventQueue, SimTime};
use crate::metrics::MetricsStore;
use crate::policy::{Policy, PolicySpec};
use crate::report::{Integral, KeepRows, Report, RowSink, ServiceAcc};
use crate::scenario::Scenario;
use crate::service::{ReqSlab, ServiceRt};

/// Requests in flight at once (the request slab's size, which never shrinks) from which the
/// engine reads each completion's pod and request one event ahead (`read_ahead`): with
/// thousands in flight, the pods and requests they touch outgrow the CPU's second-level cache.
const READ_AHEAD_REQUESTS: usize = 2048;

/// Generations of a pod slot, told apart by a completion's one byte (`Ev::Done`).
pub(crate) const DONE_GENERATIONS: u32 = 1 << u8::BITS;
const _: () = assert!(std::mem::size_of::<Ev>() == 12);

/// Engine events. Small and `Copy`: the hot ones (arrivals and completions) carry indices only.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ev {
    /// Request `req`'s work in `slot` of `pod` is done. It names the request as well as the
    /// slot, so that the request is read beside the pod rather than after it (two memory reads
    /// at once), and it stays 12 bytes, tag included, by carrying only the low byte of the
    /// pod's generation: pod slots are retired before that byte wraps (`pod_gone`). At 16
    /// bytes every event costs more: nine days of an HPA run took 3 % longer.
    Done { pod: u32, req: u32, slot: u16, gen: u8 },
    Deadline(u16),
    PodReady { pod: u32, gen: u32 },
    GraceEnd { pod: u32, gen: u32 },
    Scrape { pod: u32, gen: u32 },
    ServiceScrape(u16),
    ResourceScrape,
    Wake(u16),
    Step,
    Minute,
    Warmup,
    NodeReady { node: u32, gen: u32 },
    /// A provisioning attempt failed: the node never joins.
    NodeFailed { node: u32, gen: u32 },
    DrainEnd { node: u32, gen: u32 },
    /// A k6 VU executor's step (`idx` into its steps): its target VU count changes, or VUs
    /// are hard-stopped (their iterations interrupted).
    VuTarget { src: u32, idx: u32 },
    /// A k6 VU starts its next iteration.
    VuIter { src: u32, vu: u32 },
    /// A k6 arrival-rate VU is free again (after its think time).
    VuFree { src: u32 },
    /// Prometheus scrapes kube-state-metrics (only when the run records its series).
    KubeStateScrape,
    /// A k6 arrival-rate executor's graceful stop is over.
    RateStop { src: u32 },
}

/// The state of the simulated world: what the engine changes, what observations read.
pub struct World {
    pub(crate) pods: Slab<Pod>,
    /// Each pod slot's name (`<service>-<ordinal>`), set when a pod is created there: what the
    /// policy API lists, made once per pod rather than at every listing.
    pub(crate) pod_names: Vec<Arc<str>>,
    pub(crate) nodes: Slab<Node>,
    pub(crate) services: Vec<ServiceRt>,
    pub(crate) pool_nodes: Vec<Integral>,
    /// Per pool: the CPU requests of the pods bound to its nodes (millicores), and the CPU
    /// seconds used by pods that were bound there and are gone (for idle-capacity cost).
    pub(crate) pool_requested_m: Vec<Integral>,
    pub(crate) pool_cpu_gone_s: Vec<f64>,
    pub(crate) next_node_ordinal: Vec<u64>,
    /// Per pool: provisioning attempts that failed so far.
    pub(crate) provision_failures: Vec<u32>,
    /// Pods waiting for a node, oldest first: (pod, gen). Entries of deleted pods are skipped.
    pub(crate) pending: VecDeque<(u32, u32)>,
    pub(crate) reqs: ReqSlab,
    pub(crate) metrics: MetricsStore,
    /// The application's latency histogram per pod slot, when the run records its buckets.
    pub(crate) hist: Option<crate::metrics::histogram::Histograms>,
}

struct Instance {
    policy: Box<dyn Policy>,
    kind: &'static str,
    controller: &'static str,
    /// The service a pod autoscaler is for (`None`: a node autoscaler).
    target: Option<usize>,
}

struct Streams {
    balancer: Vec<Rng>,
    startup: Vec<Rng>,
    provision: Vec<Rng>,
    /// Whether each provisioning attempt fails (drawn only for pools that may fail).
    provision_failure: Vec<Rng>,
}

/// One run of one policy alternative of a scenario.
pub struct Simulation<'s> {
    sc: &'s Scenario,
    /// The policy alternative's name, for the report.
    policy_name: String,
    seed: u64,
    now: SimTime,
    end: SimTime,
    events: EventQueue<Ev>,
    /// Each open-loop load source's next arrival, kept out of the queue (half the queue's work
    /// per request): its key orders it with the queued events exactly as if it were queued.
    arrivals: Vec<Key>,
    /// The source whose arrival comes first.
    next_arrival: usize,
    /// Pods' scrapes after their first, in key order (each is pushed one scrape interval on,
    /// after every other): a lane beside the queue, which keeps the queue as small as the
    /// events in flight (at 10,000 pods, 10,000 scrapes would more than double it). Keys come
    /// from the queue's sequence, so the order of events is exactly as if they were queued.
    scrapes: VecDeque<(Key, u32, u32)>,
    /// The key of the first scrape in the lane (`Key::MAX` when it is empty).
    scrape_front: Key,
    /// The load sources of every service, in service order.
    sources: Vec<load::SourceRt>,
    world: World,
    instances: Vec<Instance>,
    streams: Streams,
    /// Where the timeseries and decision rows go as they are produced.
    rows: Box<dyn RowSink>,
    /// The time of the last timeseries row, seconds (the start of the next step).
    last_row_s: Option<f64>,
    buf: Vec<crate::policy::Decision>,
    events_processed: u64,
    /// Scale events and reversals of each node group's size.
    pool_flaps: Vec<crate::report::Flaps>,
    /// Services that call services (inert without `calls`).
    chains: calls::Chains,
    /// Requests in flight (the slab's size) from which memory is fetched ahead
    /// (`READ_AHEAD_REQUESTS`; a test turns it off to show that it changes nothing).
    read_ahead_from: usize,
}

impl<'s> Simulation<'s> {
    /// Set up the run of the policy alternative `spec` on the scenario, with `seed`.
    pub fn new(sc: &'s Scenario, spec: &PolicySpec, seed: u64) -> Self {
        Self::with_externals(sc, spec, seed, Vec::new())
    }

    /// As [`Simulation::new`], with the external programs the edge attached to the pod
    /// autoscalers: `externals[s]` for service `s`'s (missing entries: none).
    pub fn with_externals(
        sc: &'s Scenario,
        spec: &PolicySpec,
        seed: u64,
        mut externals: Vec<Option<Box<dyn crate::policy::external::External>>>,
    ) -> Self {
        let mut metrics = MetricsStore::new(&sc.metrics);
        metrics.set_labels(
            sc.services.iter().map(|s| (s.name.clone(), s.kind == crate::scenario::ServiceKind::Queue)).collect(),
            &sc.metrics.namespace,
        );
        let services = sc
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let target = metrics.add_target(i, None, s.name.clone());
                let replicas = spec.pods.get(i).and_then(|f| f.initial_replicas()).unwrap_or(s.replicas);
                ServiceRt::new(replicas, target, ServiceAcc::new(sc.warmup_ns, s.slo, &sc.report))
            })
            .collect();
        let streams = Streams {
            balancer: sc.services.iter().map(|s| rng::stream(seed, &format!("balancer/{}", s.name))).collect(),
            startup: sc.services.iter().map(|s| rng::stream(seed, &format!("startup/{}", s.name))).collect(),
            provision: sc.cluster.pools.iter().map(|p| rng::stream(seed, &format!("provision/{}", p.name))).collect(),
            provision_failure: sc.cluster.pools.iter().map(|p| rng::stream(seed, &format!("provision-failure/{}", p.name))).collect(),
        };
        let mut instances: Vec<Instance> = spec
            .pods
            .iter()
            .enumerate()
            .map(|(s, f)| {
                let external = externals.get_mut(s).and_then(Option::take);
                let policy = f.build_in(crate::policy::BuildContext { seed, external });
                Instance { policy, kind: f.kind(), controller: "pods", target: Some(s) }
            })
            .collect();
        if let Some(f) = &spec.nodes {
            let policy = f.build_in(crate::policy::BuildContext { seed, external: None });
            instances.push(Instance { policy, kind: f.kind(), controller: "nodes", target: None });
        }
        let world = World {
            pods: Slab::default(),
            pod_names: Vec::new(),
            nodes: Slab::default(),
            services,
            pool_nodes: vec![Integral::default(); sc.cluster.pools.len()],
            pool_requested_m: vec![Integral::default(); sc.cluster.pools.len()],
            pool_cpu_gone_s: vec![0.0; sc.cluster.pools.len()],
            next_node_ordinal: vec![0; sc.cluster.pools.len()],
            provision_failures: vec![0; sc.cluster.pools.len()],
            pending: VecDeque::new(),
            reqs: ReqSlab::default(),
            metrics,
            hist: None,
        };
        let mut sim = Simulation {
            sc,
            policy_name: spec.name.clone(),
            seed,
            now: 0,
            end: sc.duration_ns,
            events: EventQueue::new(),
            arrivals: Vec::new(),
            next_arrival: 0,
            scrapes: VecDeque::new(),
            scrape_front: Key::MAX,
            sources: Vec::new(),
            world,
            instances,
            streams,
            rows: Box::new(KeepRows::default()),
            last_row_s: None,
            buf: Vec::new(),
            events_processed: 0,
            pool_flaps: vec![crate::report::Flaps::new(sc.report.reversal_window_ns); sc.cluster.pools.len()],
            chains: calls::Chains::new(sc, seed),
            read_ahead_from: READ_AHEAD_REQUESTS,
        };
        sim.boot();
        // The optional series the policies' queries read.
        let queries = spec.pods.iter().chain(spec.nodes.iter()).flat_map(|f| f.queries());
        sim.record_optional(crate::metrics::Optional::of(queries));
        sim
    }

    fn boot(&mut self) {
        // Nodes present at the start are ready at once.
        for (pool, p) in self.sc.cluster.pools.iter().enumerate() {
            for i in 0..p.nodes {
                let id = self.add_node(pool, i < p.permanent);
                self.node_ready(id);
            }
        }
        // The initial replicas are running and ready at time 0 (a warm start).
        for s in 0..self.sc.services.len() {
            for _ in 0..self.world.services[s].spec_replicas {
                let pod = self.create_pod(s);
                if self.schedule_pod(pod) {
                    self.pod_ready(pod);
                }
            }
        }
        self.build_sources();
        for s in 0..self.sc.services.len() {
            let offset = self.scrape_offset(&self.sc.services[s].name);
            self.events.push(offset, Ev::ServiceScrape(s as u16));
        }
        self.events.push(self.sc.metrics.resource_resolution_ns, Ev::ResourceScrape);
        for i in 0..self.instances.len() {
            let t = self.instances[i].policy.first_wake();
            if t <= self.end {
                self.events.push(t, Ev::Wake(i as u16));
            }
        }
        self.events.push_last(self.sc.step_ns.min(self.end), Ev::Step);
        self.events.push_last(60_000_000_000, Ev::Minute);
        if self.sc.warmup_ns > 0 {
            self.events.push(self.sc.warmup_ns, Ev::Warmup);
        }
    }

    /// Send the run's timeseries and decision rows to `sink` as they are produced, instead of
    /// keeping them for the report (whose `timeseries` and `decisions` are then what the sink
    /// keeps). Call it before running.
    pub fn stream_rows_to(&mut self, sink: Box<dyn RowSink>) {
        self.rows = sink;
    }

    /// Have the arrivals of the sources drawn ahead (patterns, traces, request logs) drawn,
    /// from their next chunk on, by what `spawn` makes of each source's [`Drawer`]: on a core
    /// the run leaves idle, say (the edge's choice: `run` does). The engine reads the drawer's
    /// own chunks in order, so the run's outputs do not change.
    pub fn draw_arrivals_with(&mut self, mut spawn: impl FnMut(Drawer) -> Box<dyn Chunks>) {
        for src in &mut self.sources {
            src.hand_over(&mut spawn);
        }
    }

    /// What Prometheus has scraped so far.
    pub fn metrics(&self) -> &crate::metrics::MetricsStore {
        &self.world.metrics
    }

    /// Keep every scraped sample for the whole run (to export the run's series).
    pub fn keep_all_series(&mut self) {
        self.world.metrics.keep_everything();
        self.record_optional(crate::metrics::Optional::ALL);
    }

    /// Simulated time reached so far, nanoseconds.
    pub fn now(&self) -> SimTime {
        self.now
    }

    pub fn end(&self) -> SimTime {
        self.end
    }

    /// Requests that have arrived so far, over every service (warm-up included).
    pub fn requests_arrived(&self) -> u64 {
        self.world.services.iter().map(|s| s.acc.seen).sum()
    }

    /// Events processed so far.
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    /// Process every event up to `until` (and not past the end of the run). Returns true when
    /// the run is complete.
    pub fn run_until(&mut self, until: SimTime) -> bool {
        let until = until.min(self.end);
        loop {
            let mut queued = self.events.peek_key();
            // A scrape from the lane comes first now and then (a branch taken rarely).
            if self.scrape_front < queued {
                queued = self.scrape_front;
            }
            let arrival = self.arrivals.get(self.next_arrival).copied().unwrap_or(Key::MAX);
            // One branch on which comes first (it is a coin toss per request, so the fewer
            // such branches, the fewer mispredictions).
            if arrival < queued {
                if key_time(arrival) > until {
                    break;
                }
                self.now = key_time(arrival);
                self.events_processed += 1;
                let i = self.next_arrival;
                self.on_source_arrival(i);
            } else {
                if queued == Key::MAX || key_time(queued) > until {
                    break;
                }
                self.now = key_time(queued);
                self.events_processed += 1;
                if queued == self.scrape_front {
                    self.next_scrape();
                    continue;
                }
                let (_, ev) = self.events.pop().expect("peeked");
                self.read_ahead();
                self.handle(ev);
            }
        }
        self.now = self.now.max(until);
        until >= self.end
    }

    /// Read what the next event will touch, so that the memory reads of a large cluster
    /// (its pods and requests far apart, more than the CPU's caches hold) run while this
    /// event is handled rather than one after another. Changes nothing but when the CPU
    /// fetches. A small run, all in cache, skips it: there it would only add work.
    #[inline(always)]
    fn read_ahead(&self) {
        if self.world.reqs.items.len() < self.read_ahead_from {
            return;
        }
        if let Some(Ev::Done { pod, req, .. }) = self.events.peek_event() {
            if let Some(p) = self.world.pods.items.get(pod as usize) {
                prefetch(p);
            }
            if let Some(r) = self.world.reqs.items.get(req as usize) {
                prefetch(r);
            }
        }
    }

    /// Set source `i`'s next arrival (`None`: no more).
    #[inline]
    pub(crate) fn set_next_arrival(&mut self, i: usize, at: Option<SimTime>) {
        self.arrivals[i] = match at {
            Some(t) => crate::engine::queue::key(t, self.events.take_seq()),
            None => Key::MAX,
        };
        if self.arrivals.len() > 1 {
            let mut best = 0;
            for (i, k) in self.arrivals.iter().enumerate() {
                if *k < self.arrivals[best] {
                    best = i;
                }
            }
            self.next_arrival = best;
        }
    }

    /// Queue pod `pod`'s next scrape at `time`, one scrape interval from now. It belongs at the
    /// lane's end: every scrape in the lane was pushed one (fixed) interval after a time no
    /// later than now, so none is due after `time`, and one due at `time` has an earlier
    /// sequence number.
    pub(crate) fn push_scrape(&mut self, time: SimTime, pod: u32, gen: u32) {
        let k = crate::engine::queue::key(time, self.events.take_seq());
        debug_assert!(self.scrapes.back().is_none_or(|&(last, ..)| last < k), "a scrape out of the lane's order");
        self.scrapes.push_back((k, pod, gen));
        self.scrape_front = self.scrapes.front().map_or(Key::MAX, |e| e.0);
    }

    /// The lane's first scrape is due.
    #[inline(never)]
    fn next_scrape(&mut self) {
        let (_, pod, gen) = self.scrapes.pop_front().expect("a scrape is due");
        self.scrape_front = self.scrapes.front().map_or(Key::MAX, |e| e.0);
        self.on_scrape(pod, gen);
    }

    /// Run to the end and produce the report.
    pub fn run(mut self) -> Report {
        self.run_until(self.end);
        self.finish()
    }

    #[inline]
    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Done { pod, gen, slot, req } => self.on_done(pod, gen, slot, req),
            Ev::Deadline(s) => self.on_deadline(s as usize),
            Ev::PodReady { pod, gen } => {
                if self.world.pods.get(pod).gen == gen && self.world.pods.get(pod).alive {
                    self.pod_ready(pod);
                }
            }
            Ev::GraceEnd { pod, gen } => self.on_grace_end(pod, gen),
            Ev::Scrape { pod, gen } => self.on_scrape(pod, gen),
            Ev::ServiceScrape(s) => self.on_service_scrape(s as usize),
            Ev::ResourceScrape => self.on_resource_scrape(),
            Ev::Wake(i) => self.on_wake(i as usize),
            Ev::Step => self.on_step(),
            Ev::Minute => {
                for s in &mut self.world.services {
                    s.acc.close_minute(self.now);
                }
                self.events.push_last(self.now + 60_000_000_000, Ev::Minute);
            }
            Ev::Warmup => {
                for s in &mut self.world.services {
                    s.acc.mark_warmup(self.now);
                }
            }
            Ev::NodeReady { node, gen } => {
                let n = self.world.nodes.get(node);
                if n.alive && n.gen == gen {
                    self.node_ready(node);
                }
            }
            Ev::NodeFailed { node, gen } => self.on_node_failed(node, gen),
            Ev::DrainEnd { node, gen } => self.on_drain_end(node, gen),
            Ev::VuTarget { src, idx } => self.on_vu_target(src as usize, idx as usize),
            Ev::VuIter { src, vu } => self.on_vu_iter(src as usize, vu),
            Ev::VuFree { src } => self.on_vu_free(src as usize),
            Ev::KubeStateScrape => self.on_kube_state_scrape(),
            Ev::RateStop { src } => self.on_rate_stop(src as usize),
        }
    }

    /// Close the run: count what is still in flight, and build the report.
    pub fn finish(mut self) -> Report {
        let now = self.end;
        self.now = now;
        self.count_undone_iterations();
        // The last partial step.
        if self.last_row_s.is_none_or(|t| t < secs(now)) && self.sc.step_ns > 0 {
            self.record_step();
        }
        crate::sim::observe::build_report(self)
    }
}
