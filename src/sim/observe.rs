//! The engine's outward side: scrapes into the metrics pipeline, policy calls and their
//! decisions, the timeseries, and the final report.

use std::collections::BTreeMap;

use super::{Ev, Simulation};
use crate::cluster::{NodeState, PodPhase};
use crate::engine::rng::fnv1a;
use crate::engine::time::secs;
use crate::engine::{SimTime, NEVER};
use crate::metrics::Sample;
use crate::policy::{Target, Verdict};

use super::api::SimApi;
use crate::report::elasticity;
use crate::report::{
    Cost, DecisionRow, Flaps, Latency, LatencyHist, Little, MetricSettings, QueueWait, Report, Requests, Row,
    ScaleCount, Scaling, ServiceCost, ServiceSummary, Sla, Summary,
};
use crate::scenario::MAX_REPLICAS;
use crate::service::ReqState;

impl Simulation<'_> {
    /// A target's phase within the scrape interval, from its name (whole milliseconds, as
    /// Prometheus timestamps are).
    pub(super) fn scrape_offset(&self, name: &str) -> u64 {
        let interval_ms = (self.sc.metrics.scrape_interval_ns / 1_000_000).max(1);
        (fnv1a(name) % interval_ms) * 1_000_000
    }

    pub(super) fn on_scrape(&mut self, pod: u32, gen: u32) {
        let p = self.world.pods.get(pod);
        if !p.alive || p.gen != gen {
            return;
        }
        let sample = self.pod_sample(pod);
        let target = p.target;
        match &self.world.hist {
            Some(h) => self.world.metrics.record_with_buckets(target, sample, h.cumulative(pod)),
            None => self.world.metrics.record(target, sample),
        }
        self.push_scrape(self.now + self.sc.metrics.scrape_interval_ns, pod, gen);
    }

    pub(super) fn on_service_scrape(&mut self, s: usize) {
        let rt = &self.world.services[s];
        let mut v = [0.0; crate::metrics::POD_METRICS];
        v[0] = rt.arrivals_total as f64;
        v[1] = rt.waiting.len() as f64;
        let target = rt.target;
        self.world.metrics.record(target, Sample { t: self.now, v });
        self.events.push(self.now + self.sc.metrics.scrape_interval_ns, Ev::ServiceScrape(s as u16));
    }

    /// metrics-server's round: cumulative CPU and working set of every running pod.
    pub(super) fn on_resource_scrape(&mut self) {
        let now = self.now;
        for id in 0..self.world.pods.items.len() as u32 {
            let p = self.world.pods.get(id);
            if !p.alive || p.node.is_none() {
                continue;
            }
            let gen = p.gen;
            let sample = self.pod_sample(id);
            self.world.metrics.record_resources(id, gen, now, sample.v[4], sample.v[7]);
        }
        self.world.metrics.prune(now);
        self.events.push(now + self.sc.metrics.resource_resolution_ns, Ev::ResourceScrape);
    }

    /// Call a policy, log and apply its decisions, and schedule its next call.
    pub(super) fn on_wake(&mut self, i: usize) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let next = {
            let obs = SimApi { now: self.now, world: &self.world, scenario: self.sc };
            self.instances[i].policy.wake(&obs, &mut buf)
        };
        let (kind, controller) = (self.instances[i].kind, self.instances[i].controller);
        for d in &buf {
            let target = match d.target {
                Target::Deployment(s) => self.sc.services[s].name.clone(),
                Target::Pool(p) => self.sc.cluster.pools[p].name.clone(),
                Target::Node(n) => {
                    let node = self.world.nodes.get(n);
                    format!("{}-{}", self.sc.cluster.pools[node.pool as usize].name, node.ordinal)
                }
            };
            self.rows.decision(DecisionRow {
                time_s: secs(self.now),
                controller,
                kind,
                target,
                from: d.from,
                to: d.to,
                verdict: d.verdict.as_str(),
                reason: d.reason.clone(),
            });
            if d.verdict != Verdict::Apply {
                continue;
            }
            match d.target {
                Target::Deployment(s) => {
                    let to = d.to.min(MAX_REPLICAS);
                    let from = self.world.services[s].spec_replicas;
                    self.world.services[s].spec_replicas = to;
                    self.world.services[s].acc.on_scale(from, to, self.now);
                    self.reconcile(s);
                }
                Target::Pool(p) => {
                    let before = self.pool_size(p);
                    self.resize_pool(p, d.to);
                    let after = self.pool_size(p);
                    self.pool_flaps[p].on_change(self.now, before, after);
                }
                Target::Node(n) => {
                    let p = self.world.nodes.get(n).pool as usize;
                    let before = self.pool_size(p);
                    self.remove_node(n);
                    let after = self.pool_size(p);
                    self.pool_flaps[p].on_change(self.now, before, after);
                }
            }
        }
        self.buf = buf;
        if next != NEVER && next <= self.end {
            self.events.push(next.max(self.now + 1), Ev::Wake(i as u16));
        }
    }

    /// A node group's size: its live nodes not being drained (provisioning ones count).
    fn pool_size(&self, pool: usize) -> u32 {
        self.world.nodes.items.iter().filter(|n| n.alive && n.pool as usize == pool && n.state != NodeState::Draining).count() as u32
    }

    pub(super) fn on_step(&mut self) {
        self.record_step();
        let next = self.now + self.sc.step_ns;
        if self.now < self.end {
            self.events.push_last(next.min(self.end), Ev::Step);
        }
    }

    /// One timeseries row per service for the step ending now.
    pub(super) fn record_step(&mut self) {
        let now = self.now;
        let step_start = self.last_row_s.unwrap_or(0.0);
        let step_s = secs(now) - step_start;
        let (mut nodes_ready, mut nodes_prov) = (0, 0);
        for n in self.world.nodes.items.iter().filter(|n| n.alive) {
            match n.state {
                NodeState::Ready | NodeState::Draining => nodes_ready += 1,
                NodeState::Provisioning => nodes_prov += 1,
            }
        }
        for s in 0..self.sc.services.len() {
            let (mut pending, mut starting, mut ready, mut terminating) = (0, 0, 0, 0);
            let (mut queued, mut in_flight) = (self.world.services[s].waiting.len() as u64, 0u64);
            let mut cpu_live = 0.0;
            for &id in &self.world.services[s].pods {
                let p = self.world.pods.get(id);
                match p.phase {
                    PodPhase::Pending => pending += 1,
                    PodPhase::Starting => starting += 1,
                    PodPhase::Ready => ready += 1,
                    PodPhase::Terminating => terminating += 1,
                }
                queued += p.queue.len() as u64;
                in_flight += p.busy() as u64;
                cpu_live += self.pod_cpu_seconds(id);
            }
            let svc = &self.sc.services[s];
            let rt = &mut self.world.services[s];
            let acc = &mut rt.acc;
            let cpu_total = acc.cpu_gone_s + cpu_live;
            let bound = acc.bound_pods.area_s(now);
            let requested = (bound - acc.step_bound_start_s) * svc.cpu_request_m as f64 / 1000.0;
            let cpu_utilization = if requested > 0.0 { (cpu_total - acc.step_cpu_start_s) / requested } else { 0.0 };
            acc.step_cpu_start_s = cpu_total;
            acc.step_bound_start_s = bound;
            let ready_area = acc.ready_pods.area_s(now);
            let supply_pods = if step_s > 0.0 { (ready_area - acc.step_ready_start_s) / step_s } else { f64::from(ready) };
            acc.step_ready_start_s = ready_area;
            let st = acc.close_step();
            let demand_pods = elasticity::demand_pods(
                st.work_ns as f64 / 1e9,
                step_s,
                svc.concurrency,
                self.sc.report.demand_utilization,
            );
            self.last_row_s = Some(secs(now));
            let [p50, p95, p99] = st.latency.quantiles_s([0.5, 0.95, 0.99]);
            self.rows.timeseries(Row {
                time_s: secs(now),
                service: svc.name.clone(),
                load_rps: if step_s > 0.0 { st.arrivals as f64 / step_s } else { 0.0 },
                completed: st.completed,
                rejected: st.rejected,
                timed_out: st.timed_out,
                lost: st.lost,
                replicas_desired: rt.spec_replicas,
                pods_pending: pending,
                pods_starting: starting,
                pods_ready: ready,
                pods_terminating: terminating,
                nodes_ready,
                nodes_provisioning: nodes_prov,
                queue_length: queued,
                in_flight,
                cpu_utilization,
                latency_mean_s: st.latency.mean_s(),
                latency_p50_s: p50,
                latency_p95_s: p95,
                latency_p99_s: p99,
                demand_pods,
                supply_pods,
            });
            self.world.services[s].acc.recycle_step(st);
        }
        // Rows of one step carry the same time; the next step starts from it.
        let _ = step_start;
    }
}

/// Turn the finished run into its report.
// `s` indexes the scenario's services, their run state and the counts alike.
#[allow(clippy::needless_range_loop)]
pub(super) fn build_report(mut sim: Simulation<'_>) -> Report {
    let now = sim.end;
    let sc = sim.sc;
    let hours = secs(sc.duration_ns) / 3600.0;
    let in_flight = in_flight_at_end(&sim);
    let pool_cpu_live = pool_cpu_live(&sim);
    let mut t = Totals::default();
    let mut services = BTreeMap::new();
    for s in 0..sc.services.len() {
        let mut summary = service_summary(&mut sim, s, now, hours, in_flight[s], &mut t);
        summary.end_to_end = sim.end_to_end(s);
        services.insert(sc.services[s].name.clone(), summary);
    }
    pool_costs(&mut sim, &pool_cpu_live, now, &mut t.cost);
    t.cost.dollars_per_million_requests = (t.requests.completed > 0).then(|| t.cost.dollars / t.requests.completed as f64 * 1e6);
    let scaling = scaling(&sim, &t.pod_flaps, hours);
    let (policy_stats, files) = policy_outputs(&sim);
    let (timeseries, decisions) = std::mem::replace(&mut sim.rows, Box::new(crate::report::KeepRows::default())).into_kept();
    let summary = Summary {
        scenario: sc.name.clone(),
        policy: sim.policy_name.clone(),
        seed: sim.seed,
        duration_s: secs(sc.duration_ns),
        warmup_s: secs(sc.warmup_ns),
        load_fingerprint: crate::report::load_fingerprint(sc, sim.seed),
        requests: t.requests,
        latency_s: Latency::from_hist(&t.latency),
        queue_wait_s: QueueWait::from_hist(&t.wait),
        sla: Sla::from_counts(&t.requests, t.good, t.violation_minutes).with_burn(&t.requests, t.finished_budget),
        cost: t.cost,
        scaling,
        elasticity: elasticity::mean(&t.elasticities),
        responsiveness: elasticity::responsiveness(&t.response_events),
        metric_settings: MetricSettings {
            version: crate::report::METRICS_VERSION,
            step_s: secs(sc.step_ns),
            reversal_window_s: secs(sc.report.reversal_window_ns),
            demand_utilization: sc.report.demand_utilization,
            demand_window_s: secs(crate::report::DEMAND_WINDOW_NS),
        },
        services,
        policy_stats,
    };
    Report {
        summary,
        timeseries,
        decisions,
        latency_cdf: t.latency.cdf(),
        files,
        response_events: t.response_events,
    }
}

/// What the run's summary adds up over its services.
#[derive(Default)]
struct Totals {
    requests: Requests,
    latency: LatencyHist,
    wait: LatencyHist,
    good: u64,
    violation_minutes: u64,
    pod_flaps: Flaps,
    cost: Cost,
    /// The error budget of the requests that finished (served, refused, timed out or lost).
    finished_budget: f64,
    elasticities: Vec<crate::report::Elasticity>,
    response_events: Vec<crate::report::ResponseEvent>,
}

/// Per service: requests still in the system at the end whose clients are still waiting
/// (arrived after the warm-up).
fn in_flight_at_end(sim: &Simulation<'_>) -> Vec<u64> {
    let sc = sim.sc;
    (0..sc.services.len())
        .map(|s| {
            let pods = &sim.world.services[s].pods;
            let mut ids: Vec<u32> = sim.world.services[s].waiting.iter().copied().collect();
            for &p in pods {
                ids.extend(sim.world.pods.get(p).slots.reqs().iter().copied().filter(|&r| r != crate::cluster::FREE));
            }
            let queued = crate::cluster::all_queued(pods.iter().map(|&p| sim.world.pods.get(p).queue), &sim.world.reqs.links);
            ids.iter()
                .copied()
                .chain(queued)
                .filter(|&r| {
                    let r = sim.world.reqs.get(r);
                    r.state == ReqState::Active && r.arrival >= sc.warmup_ns
                })
                .count() as u64
        })
        .collect()
}

/// Per pool: the CPU seconds used by the pods still bound there at the end.
fn pool_cpu_live(sim: &Simulation<'_>) -> Vec<f64> {
    let mut live = vec![0.0; sim.sc.cluster.pools.len()];
    for s in 0..sim.sc.services.len() {
        for &p in &sim.world.services[s].pods {
            if let Some(n) = sim.world.pods.get(p).node {
                live[sim.world.nodes.get(n).pool as usize] += sim.pod_cpu_seconds(p);
            }
        }
    }
    live
}

/// Close service `s`'s accumulators and summarize it, adding it to the run's totals.
fn service_summary(sim: &mut Simulation<'_>, s: usize, now: SimTime, hours: f64, in_flight: u64, t: &mut Totals) -> ServiceSummary {
    let sc = sim.sc;
    let mut cpu_live = 0.0;
    for &p in &sim.world.services[s].pods {
        cpu_live += sim.pod_cpu_seconds(p);
    }
    let svc = &sc.services[s];
    let seed = sim.seed;
    let acc = &mut sim.world.services[s].acc;
    acc.close_minute(now.max(1));
    // Completions after the last step's close (none when the run ends on a step).
    let rest = acc.close_step();
    acc.recycle_step(rest);
    let r = Requests {
        arrived: acc.arrived,
        completed: acc.completed,
        rejected: acc.rejected,
        timed_out: acc.timed_out,
        lost: acc.lost,
        in_flight_at_end: in_flight,
        wasted: acc.wasted,
        dropped_iterations: acc.dropped_iterations,
        cold_start_waits: acc.cold_start_waits,
        iterations: acc.k6.then_some(acc.iterations),
        interrupted_iterations: acc.k6.then_some(acc.interrupted_iterations),
    };
    add_requests(&mut t.requests, &r);
    let finished = r.completed + r.rejected + r.timed_out + r.lost;
    let budget = finished as f64 * (1.0 - acc.slo.availability);
    t.finished_budget += budget;
    t.latency.add(&acc.latency);
    t.wait.add(&acc.queue_wait);
    t.good += acc.good;
    t.violation_minutes += acc.violation_minutes;
    let f = acc.flaps;
    t.pod_flaps.add(&f);
    let c = ScaleCount::of(&f, hours);
    let scaling = Scaling {
        events: c.events,
        scale_ups: c.scale_ups,
        scale_downs: c.scale_downs,
        reversals: c.reversals,
        events_per_hour: c.events_per_hour,
        reversal_window_s: secs(f.window_ns),
        ..Scaling::default()
    };
    // Demand against supply, as step functions, from the end of the warm-up on.
    let demand = super::demand::demand_fn(sc, seed, s, &acc.windowed, now);
    let el = elasticity::elasticity(&demand, &acc.supply, sc.warmup_ns, now, sc.report.demand_utilization);
    let events = elasticity::response_events(&svc.name, &demand, &acc.supply, sc.warmup_ns.min(now), now);
    let resp = elasticity::responsiveness(&events);
    t.elasticities.push(el);
    t.response_events.extend(events);
    let pod_seconds = acc.bound_pods.area_s(now);
    let span = secs(now.saturating_sub(sc.warmup_ns));
    let cost = ServiceCost {
        pod_seconds,
        cpu_core_seconds_requested: pod_seconds * svc.cpu_request_m as f64 / 1000.0,
        cpu_core_seconds_used: acc.cpu_gone_s + cpu_live,
    };
    t.cost.pod_seconds += cost.pod_seconds;
    t.cost.cpu_core_seconds_used += cost.cpu_core_seconds_used;
    t.cost.cpu_core_seconds_requested += cost.cpu_core_seconds_requested;
    ServiceSummary {
        slo: acc.slo.into(),
        requests: r,
        latency_s: Latency::from_hist(&acc.latency),
        queue_wait_s: QueueWait::from_hist(&acc.queue_wait),
        sla: Sla::from_counts(&r, acc.good, acc.violation_minutes).with_burn(&r, budget),
        cost,
        scaling,
        elasticity: el,
        responsiveness: resp,
        little: Little {
            in_system_mean: acc.mean_in_system(now),
            arrival_rate_per_s: if span > 0.0 { acc.arrived as f64 / span } else { 0.0 },
        },
        cold_start: crate::report::ColdStart::of(&acc.cold),
        end_to_end: None,
    }
}

fn add_requests(total: &mut Requests, r: &Requests) {
    total.arrived += r.arrived;
    total.completed += r.completed;
    total.rejected += r.rejected;
    total.timed_out += r.timed_out;
    total.lost += r.lost;
    total.in_flight_at_end += r.in_flight_at_end;
    total.wasted += r.wasted;
    total.dropped_iterations += r.dropped_iterations;
    total.cold_start_waits += r.cold_start_waits;
    // k6's iteration counts: only for services with k6 load (absent from the summary otherwise).
    let add = |a: Option<u64>, b: Option<u64>| if a.is_none() && b.is_none() { None } else { Some(a.unwrap_or(0) + b.unwrap_or(0)) };
    total.iterations = add(total.iterations, r.iterations);
    total.interrupted_iterations = add(total.interrupted_iterations, r.interrupted_iterations);
}

/// The node pools' share of the cost: node seconds, dollars, and the capacity paid for but
/// not used or not requested.
fn pool_costs(sim: &mut Simulation<'_>, pool_cpu_live: &[f64], now: SimTime, cost: &mut Cost) {
    // Without priced nodes, seed 003's count: pods by the hour.
    if sim.sc.cluster.implicit || sim.sc.cluster.pools.iter().all(|p| p.price_per_hour == 0.0) {
        cost.dollars += cost.pod_seconds / 3600.0 * sim.sc.report.price_per_pod_hour;
    }
    if sim.sc.cluster.implicit {
        return;
    }
    for (i, pool) in sim.sc.cluster.pools.iter().enumerate() {
        let node_seconds = sim.world.pool_nodes[i].area_s(now);
        cost.node_seconds += node_seconds;
        cost.dollars += node_seconds / 3600.0 * pool.price_per_hour;
        cost.node_seconds_by_pool.insert(pool.name.clone(), node_seconds);
        let dollars = node_seconds / 3600.0 * pool.price_per_hour;
        cost.dollars_by_pool.insert(pool.name.clone(), dollars);
        let cores = pool.cpu_m as f64 / 1000.0;
        let allocatable = node_seconds * cores;
        cost.cpu_core_seconds_allocatable += allocatable;
        let per_core_second = pool.price_per_hour / 3600.0 / cores;
        let used = sim.world.pool_cpu_gone_s[i] + pool_cpu_live[i];
        let requested = sim.world.pool_requested_m[i].area_s(now) / 1000.0;
        cost.idle_capacity_dollars += (allocatable - used).max(0.0) * per_core_second;
        cost.unrequested_capacity_dollars += (allocatable - requested).max(0.0) * per_core_second;
    }
}

/// Flapping of every controller: Deployments (`pods`) and node groups (`nodes`).
fn scaling(sim: &Simulation<'_>, pod_flaps: &Flaps, hours: f64) -> Scaling {
    let mut all_flaps = *pod_flaps;
    let mut by_controller = BTreeMap::new();
    let mut by_pool = BTreeMap::new();
    if sim.instances.iter().any(|i| i.controller == "pods") || pod_flaps.events > 0 {
        by_controller.insert("pods".to_string(), ScaleCount::of(pod_flaps, hours));
    }
    if sim.instances.iter().any(|i| i.controller == "nodes") {
        let mut node_flaps = Flaps::default();
        for (i, pool) in sim.sc.cluster.pools.iter().enumerate() {
            node_flaps.add(&sim.pool_flaps[i]);
            by_pool.insert(pool.name.clone(), ScaleCount::of(&sim.pool_flaps[i], hours));
        }
        all_flaps.add(&node_flaps);
        by_controller.insert("nodes".to_string(), ScaleCount::of(&node_flaps, hours));
    }
    let total = ScaleCount::of(&all_flaps, hours);
    Scaling {
        events: total.events,
        scale_ups: total.scale_ups,
        scale_downs: total.scale_downs,
        reversals: total.reversals,
        events_per_hour: total.events_per_hour,
        reversal_window_s: secs(sim.sc.report.reversal_window_ns),
        by_controller,
        by_pool,
    }
}

/// The policies' own figures (`policy_stats`) and files, by controller and target.
fn policy_outputs(sim: &Simulation<'_>) -> (BTreeMap<String, f64>, Vec<(String, String)>) {
    let mut stats = BTreeMap::new();
    let mut files = Vec::new();
    for inst in &sim.instances {
        let target = match inst.target {
            Some(s) => sim.sc.services[s].name.clone(),
            None => "cluster".to_string(),
        };
        for (name, v) in inst.policy.report() {
            stats.insert(format!("{}.{target}.{name}", inst.controller), v);
        }
        files.extend(inst.policy.files());
    }
    (stats, files)
}
