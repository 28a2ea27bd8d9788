//! `kind = "cluster-autoscaler"`: the Kubernetes Cluster Autoscaler (kubernetes/autoscaler,
//! `cluster-autoscaler/`), as its FAQ and its `core`, `estimator` and `expander` packages
//! describe it. Every node pool is a node group (its `min` and `max`, its price).
//!
//! Every `scan_interval`, one `RunOnce`:
//! 1. **Failed scale-ups.** Provisioning failures reported for a group, and nodes still
//!    unregistered after `max_node_provision_time` (removed), put the group in backoff
//!    (`initial_node_group_backoff_duration`, doubling up to `max_node_group_backoff_duration`,
//!    forgotten after `node_group_backoff_reset_timeout`).
//! 2. **Scale-up.** Unschedulable pods (older than `new_pod_scale_up_delay`) that would fit on
//!    existing or upcoming (still provisioning) nodes are left to the scheduler. For the rest,
//!    each group not at its max and not backed off gets an expansion option from the binpacking
//!    estimator: pods in decreasing order of `cpu/allocatable + memory/allocatable` of the
//!    group's template node, first-fit onto new template nodes (the last one tried first). The
//!    expander (`random`, `most-pods`, `least-waste`, `price`) picks one; its node count is
//!    capped by the group's max and `max_nodes_total`.
//! 3. **Scale-down**, when no scale-up happened in the loop. A Ready node is unneeded when the
//!    larger of its CPU and memory requests over allocatable is below
//!    `scale_down_utilization_threshold` and every pod on it fits on the other nodes (simulated
//!    in order, each removed node's pods remembered on their new places, so that two nodes do
//!    not count on the same room). A node unneeded for `scale_down_unneeded_time` is deleted,
//!    unless the loop is within `scale_down_delay_after_add` of a scale-up or
//!    `scale_down_delay_after_delete` of a deletion, or its group is at its min: empty nodes up
//!    to `max_empty_bulk_delete` at once, else one non-empty node (drained) when no drain is
//!    running. Permanent nodes carry the `scale-down-disabled` annotation: never removed.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng as _;

use super::{BuildContext, Decision, NodeView, Observation, NodeContext, Policy, PolicyFactory, PoolView, Target, Verdict};
use crate::policy::api::{NodeState, PodPhase};
use crate::engine::rng::{self, Rng};
use crate::engine::SimTime;
use crate::scenario::params::Params;
use crate::scenario::ConfigError;
use crate::units::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expander {
    Random,
    MostPods,
    LeastWaste,
    Price,
}

impl Expander {
    fn name(self) -> &'static str {
        match self {
            Expander::Random => "random",
            Expander::MostPods => "most-pods",
            Expander::LeastWaste => "least-waste",
            Expander::Price => "price",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub scan_interval_ns: u64,
    pub expander: Expander,
    pub scale_down_enabled: bool,
    pub scale_down_utilization_threshold: f64,
    pub scale_down_unneeded_time_ns: u64,
    pub scale_down_delay_after_add_ns: u64,
    pub scale_down_delay_after_delete_ns: u64,
    pub max_empty_bulk_delete: u32,
    pub max_nodes_total: u32,
    pub max_nodes_per_scaleup: u32,
    pub max_node_provision_time_ns: u64,
    pub new_pod_scale_up_delay_ns: u64,
    pub initial_node_group_backoff_duration_ns: u64,
    pub max_node_group_backoff_duration_ns: u64,
    pub node_group_backoff_reset_timeout_ns: u64,
}

/// Reads the cluster-autoscaler's flags, in snake_case (see docs/scenario.md).
pub fn parse(p: &mut Params, ctx: &NodeContext<'_>) -> Result<Arc<dyn PolicyFactory>, ConfigError> {
    let what = p.what.clone();
    if ctx.scenario.cluster.implicit {
        return Err(ConfigError::at(p.span.clone(), format!("{what}: the scenario has no `[cluster]`: a node autoscaler needs node pools to scale")));
    }
    let duration = |p: &mut Params, key: &'static str, default: u64| -> Result<u64, ConfigError> {
        Ok(p.get::<Duration>(key)?.map_or(default, |d| d.0))
    };
    const S: u64 = 1_000_000_000;
    let scan_interval_ns = duration(p, "scan_interval", 10 * S)?;
    if scan_interval_ns < 1_000_000 {
        return Err(ConfigError::at(p.span_of("scan_interval"), format!("{what}: `scan_interval` must be at least 1ms")));
    }
    let expander = p.get_or("expander", Expander::Random)?;
    let scale_down_enabled = p.get_or("scale_down_enabled", true)?;
    let threshold: f64 = p.get_or("scale_down_utilization_threshold", 0.5)?;
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ConfigError::at(
            p.span_of("scale_down_utilization_threshold"),
            format!("{what}: `scale_down_utilization_threshold` = {threshold}: expected a fraction in [0, 1], like 0.5"),
        ));
    }
    let cfg = Config {
        scan_interval_ns,
        expander,
        scale_down_enabled,
        scale_down_utilization_threshold: threshold,
        scale_down_unneeded_time_ns: duration(p, "scale_down_unneeded_time", 600 * S)?,
        scale_down_delay_after_add_ns: duration(p, "scale_down_delay_after_add", 600 * S)?,
        scale_down_delay_after_delete_ns: duration(p, "scale_down_delay_after_delete", scan_interval_ns)?,
        max_empty_bulk_delete: p.get_or("max_empty_bulk_delete", 10)?,
        max_nodes_total: p.get_or("max_nodes_total", 0)?,
        max_nodes_per_scaleup: p.get_or("max_nodes_per_scaleup", 1000)?,
        max_node_provision_time_ns: duration(p, "max_node_provision_time", 900 * S)?,
        new_pod_scale_up_delay_ns: duration(p, "new_pod_scale_up_delay", 0)?,
        initial_node_group_backoff_duration_ns: duration(p, "initial_node_group_backoff_duration", 300 * S)?,
        max_node_group_backoff_duration_ns: duration(p, "max_node_group_backoff_duration", 1800 * S)?,
        node_group_backoff_reset_timeout_ns: duration(p, "node_group_backoff_reset_timeout", 3 * 3600 * S)?,
    };
    if cfg.max_empty_bulk_delete == 0 {
        return Err(ConfigError::at(p.span_of("max_empty_bulk_delete"), format!("{what}: `max_empty_bulk_delete` must be at least 1")));
    }
    if cfg.max_nodes_per_scaleup == 0 {
        return Err(ConfigError::at(p.span_of("max_nodes_per_scaleup"), format!("{what}: `max_nodes_per_scaleup` must be at least 1")));
    }
    Ok(Arc::new(cfg))
}

impl PolicyFactory for Config {
    fn kind(&self) -> &'static str {
        "cluster-autoscaler"
    }
    fn build(&self) -> Box<dyn Policy> {
        self.build_in(BuildContext { seed: 0, external: None })
    }
    /// The `random` expander and ties draw from a stream of the run's seed (`--seed` included).
    fn build_in(&self, ctx: BuildContext) -> Box<dyn Policy> {
        Box::new(ClusterAutoscaler {
            c: self.clone(),
            rng: rng::stream(ctx.seed, "cluster-autoscaler/expander"),
            last_scale_up: None,
            last_delete: None,
            unneeded_since: BTreeMap::new(),
            status: BTreeMap::new(),
            seen_failed: Vec::new(),
            backoff: Vec::new(),
            pending_note: String::new(),
            scale_ups: 0,
            nodes_added: 0,
            nodes_deleted: 0,
            failed_scale_ups: 0,
        })
    }
}

/// A node group's backoff after failed scale-ups.
#[derive(Debug, Clone, Default)]
struct Backoff {
    until: SimTime,
    duration: u64,
    last_failure: SimTime,
}

struct ClusterAutoscaler {
    c: Config,
    rng: Rng,
    last_scale_up: Option<SimTime>,
    last_delete: Option<SimTime>,
    /// Node name -> since when it is unneeded.
    unneeded_since: BTreeMap<String, SimTime>,
    /// Node name -> the last scale-down status logged for it (a row is written on change).
    status: BTreeMap<String, String>,
    seen_failed: Vec<u32>,
    backoff: Vec<Backoff>,
    /// The last note about pods no group can help (logged on change).
    pending_note: String,
    scale_ups: u32,
    nodes_added: u32,
    nodes_deleted: u32,
    failed_scale_ups: u32,
}

/// A pod's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Req {
    pub cpu_m: u64,
    pub mem: u64,
}

/// Room left on a node in a simulation.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub cpu_m: u64,
    pub mem: u64,
    pub pods: u32,
}

impl Room {
    pub fn fits(&self, r: Req) -> bool {
        r.cpu_m <= self.cpu_m && r.mem <= self.mem && self.pods >= 1
    }
    pub fn take(&mut self, r: Req) {
        self.cpu_m -= r.cpu_m;
        self.mem -= r.mem;
        self.pods -= 1;
    }
}

/// One expansion option: a group, how many new nodes, the pods they would hold.
#[derive(Debug, Clone)]
pub struct Option_ {
    pub pool: usize,
    pub nodes: u32,
    pub pods: Vec<Req>,
}

/// The binpacking estimator: how many template nodes of `pool` the pods need (at most
/// `limit`), and which pods they would hold. Pods that do not fit on an empty node are left out.
pub fn estimate(pool: &PoolView, max_pods: u32, pods: &[Req], limit: u32) -> Option_ {
    let score = |r: &Req| r.cpu_m as f64 / pool.cpu_m as f64 + r.mem as f64 / pool.memory_bytes as f64;
    let mut order: Vec<Req> = pods.to_vec();
    // Decreasing score; stable, so equal pods keep their (oldest first) order.
    order.sort_by(|a, b| score(b).total_cmp(&score(a)));
    let empty = Room { cpu_m: pool.cpu_m, mem: pool.memory_bytes, pods: max_pods };
    let mut nodes: Vec<Room> = Vec::new();
    let mut placed = Vec::new();
    for r in order {
        if !empty.fits(r) {
            continue;
        }
        if let Some(last) = nodes.last_mut().filter(|n| n.fits(r)) {
            last.take(r);
        } else if let Some(n) = nodes.iter_mut().find(|n| n.fits(r)) {
            n.take(r);
        } else if (nodes.len() as u32) < limit {
            let mut n = empty;
            n.take(r);
            nodes.push(n);
        } else {
            continue;
        }
        placed.push(r);
    }
    Option_ { pool: 0, nodes: nodes.len() as u32, pods: placed }
}

/// GCE's on-demand prices that the `price` expander's pricing model charges a pod's requests.
const CPU_PRICE_PER_HOUR: f64 = 0.033174;
const MEMORY_PRICE_PER_GB_HOUR: f64 = 0.004446;

fn pod_price(r: Req) -> f64 {
    r.cpu_m as f64 / 1000.0 * CPU_PRICE_PER_HOUR + r.mem as f64 / (1u64 << 30) as f64 * MEMORY_PRICE_PER_GB_HOUR
}

/// `SimplePreferredNodeProvider`: the preferred node's CPU doubles as the cluster triples.
fn preferred_cpu_m(cluster_nodes: usize) -> f64 {
    let cores = match cluster_nodes {
        0..=2 => 1,
        3..=6 => 2,
        7..=20 => 4,
        21..=60 => 8,
        61..=200 => 16,
        _ => 32,
    };
    cores as f64 * 1000.0
}

/// The least-waste expander's score: idle CPU share plus idle memory share after scale-up.
pub fn waste(pool: &PoolView, o: &Option_) -> f64 {
    let cpu: u64 = o.pods.iter().map(|r| r.cpu_m).sum();
    let mem: u64 = o.pods.iter().map(|r| r.mem).sum();
    let avail_cpu = pool.cpu_m as f64 * o.nodes as f64;
    let avail_mem = pool.memory_bytes as f64 * o.nodes as f64;
    (avail_cpu - cpu as f64) / avail_cpu + (avail_mem - mem as f64) / avail_mem
}

/// The price expander's score (lower is better): how well the money is spent, times how far
/// the node is from the preferred size (suppressed as the node count grows).
pub fn price_score(pool: &PoolView, o: &Option_, cluster_nodes: usize) -> f64 {
    let stabilization = pod_price(Req { cpu_m: 500, mem: 500 << 20 });
    let nodes_price = pool.price_per_hour * o.nodes as f64;
    let pods_price: f64 = o.pods.iter().map(|&r| pod_price(r)).sum();
    let sub = (nodes_price + stabilization) / (pods_price + stabilization);
    let pref = preferred_cpu_m(cluster_nodes);
    let cpu = pool.cpu_m as f64;
    let unfitness = (pref / cpu).max(cpu / pref);
    let suppressed = (unfitness - 1.0) * (1.0 - ((o.nodes as f64 - 1.0) / 15.0).tanh()) + 1.0;
    suppressed * sub
}

impl ClusterAutoscaler {
    fn row(out: &mut Vec<Decision>, target: Target, from: u32, to: u32, verdict: Verdict, reason: String) {
        out.push(Decision { target, from, to, verdict, reason });
    }

    /// Pick among options as the configured expander does; ties (and `random`) are broken
    /// with the policy's own seeded stream, as upstream's final random choice.
    fn choose(&mut self, options: &[Option_], pools: &[PoolView], cluster_nodes: usize) -> (usize, String) {
        let scores: Vec<f64> = options
            .iter()
            .map(|o| match self.c.expander {
                Expander::Random => 0.0,
                Expander::MostPods => -(o.pods.len() as f64),
                Expander::LeastWaste => waste(&pools[o.pool], o),
                Expander::Price => price_score(&pools[o.pool], o, cluster_nodes),
            })
            .collect();
        let best = scores.iter().copied().fold(f64::INFINITY, f64::min);
        let tied: Vec<usize> = (0..options.len()).filter(|&i| scores[i] == best).collect();
        let pick = if tied.len() == 1 { tied[0] } else { tied[self.rng.gen_range(0..tied.len())] };
        let listing: Vec<String> = options
            .iter()
            .zip(&scores)
            .map(|(o, s)| {
                let score = match self.c.expander {
                    Expander::Random => String::new(),
                    Expander::MostPods => format!(", {} pods", o.pods.len()),
                    Expander::LeastWaste => format!(", waste {s:.3}"),
                    Expander::Price => format!(", price score {s:.3}"),
                };
                format!("{} +{}{score}", pools[o.pool].name, o.nodes)
            })
            .collect();
        (pick, listing.join("; "))
    }

    fn failures(&mut self, obs: &Observation<'_>, pools: &[PoolView], nodes: &[NodeView], out: &mut Vec<Decision>) {
        let now = obs.now();
        if self.seen_failed.len() != pools.len() {
            self.seen_failed = pools.iter().map(|p| p.failed).collect();
            self.backoff = vec![Backoff::default(); pools.len()];
        }
        let mut failed_groups: Vec<(usize, String)> = Vec::new();
        for (i, p) in pools.iter().enumerate() {
            if p.failed > self.seen_failed[i] {
                failed_groups.push((i, format!("{} node(s) failed to provision", p.failed - self.seen_failed[i])));
                self.seen_failed[i] = p.failed;
            }
        }
        for n in nodes.iter().filter(|n| n.state == NodeState::Provisioning) {
            if now.saturating_sub(n.requested_at) >= self.c.max_node_provision_time_ns {
                let size = pools[n.pool].ready + pools[n.pool].provisioning;
                Self::row(
                    out,
                    Target::Node(n.id),
                    size,
                    size - 1,
                    Verdict::Apply,
                    format!("removing unregistered node {}: not registered within max_node_provision_time {}", n.name, Duration(self.c.max_node_provision_time_ns)),
                );
                failed_groups.push((n.pool, format!("node {} did not register in time", n.name)));
            }
        }
        for (i, why) in failed_groups {
            let b = &mut self.backoff[i];
            if b.duration == 0 || now.saturating_sub(b.last_failure) >= self.c.node_group_backoff_reset_timeout_ns {
                b.duration = self.c.initial_node_group_backoff_duration_ns;
            } else {
                b.duration = (b.duration * 2).min(self.c.max_node_group_backoff_duration_ns);
            }
            b.until = now + b.duration;
            b.last_failure = now;
            self.failed_scale_ups += 1;
            let size = pools[i].ready + pools[i].provisioning;
            Self::row(
                out,
                Target::Pool(i),
                size,
                size,
                Verdict::Hold,
                format!("failed scale-up of node group {}: {why}; backing off the group for {}", pools[i].name, Duration(b.duration)),
            );
        }
    }

    /// Scale-up; true when it scaled up.
    fn scale_up(&mut self, obs: &Observation<'_>, pools: &[PoolView], nodes: &[NodeView], out: &mut Vec<Decision>) -> bool {
        let now = obs.now();
        let mut pending: Vec<Req> = Vec::new();
        let mut services: Vec<usize> = Vec::new();
        for s in 0..obs.deployments() {
            let svc = obs.pod_template(s);
            for pod in obs.pods(s) {
                if pod.phase == PodPhase::Pending && now.saturating_sub(pod.created) >= self.c.new_pod_scale_up_delay_ns {
                    pending.push(Req { cpu_m: svc.cpu_request_m, mem: svc.memory_request_bytes });
                    services.push(s);
                }
            }
        }
        if pending.is_empty() {
            self.pending_note.clear();
            return false;
        }
        // Filter out pods that fit on existing nodes or on nodes still coming up.
        let mut rooms: Vec<Room> = nodes
            .iter()
            .filter(|n| n.state != NodeState::Draining)
            .map(|n| {
                let pool = &pools[n.pool];
                let (cpu, mem, pods) = if n.state == NodeState::Provisioning {
                    (0, 0, 0)
                } else {
                    (n.cpu_requested_m, n.memory_requested_bytes, n.pods)
                };
                Room { cpu_m: pool.cpu_m - cpu.min(pool.cpu_m), mem: pool.memory_bytes - mem.min(pool.memory_bytes), pods: pool.max_pods.saturating_sub(pods) }
            })
            .collect();
        let total_pending = pending.len();
        let mut keep = Vec::with_capacity(pending.len());
        for &r in &pending {
            match rooms.iter_mut().find(|room| room.fits(r)) {
                Some(room) => {
                    room.take(r);
                    keep.push(false);
                }
                None => keep.push(true),
            }
        }
        let first_service = (0..pending.len()).find(|&i| keep[i]).map(|i| services[i]);
        let mut k = keep.iter();
        pending.retain(|_| *k.next().expect("one flag per pod"));
        if pending.is_empty() {
            return false;
        }
        let cluster_size: u32 = pools.iter().map(|p| p.ready + p.provisioning + p.draining).sum();
        let mut options = Vec::new();
        let mut skipped = Vec::new();
        for (i, p) in pools.iter().enumerate() {
            let target = p.ready + p.provisioning;
            if target >= p.max {
                skipped.push(format!("{}: at max size {}", p.name, p.max));
                continue;
            }
            if self.backoff.get(i).is_some_and(|b| now < b.until) {
                skipped.push(format!("{}: backed off", p.name));
                continue;
            }
            let mut o = estimate(p, pools[i].max_pods, &pending, self.c.max_nodes_per_scaleup);
            o.pool = i;
            if o.nodes > 0 {
                options.push(o);
            } else {
                skipped.push(format!("{}: the pods do not fit on a new node", p.name));
            }
        }
        if self.c.max_nodes_total > 0 && cluster_size >= self.c.max_nodes_total {
            options.clear();
            skipped.push(format!("max_nodes_total {} reached", self.c.max_nodes_total));
        }
        if options.is_empty() {
            let note = format!("{} unschedulable pods, no node group can help ({})", pending.len(), skipped.join("; "));
            if note != self.pending_note {
                let size = cluster_size;
                let target = Target::Deployment(first_service.expect("pods left"));
                Self::row(out, target, size, size, Verdict::Blocked, format!("pods didn't trigger scale-up: {note}"));
                self.pending_note = note;
            }
            return false;
        }
        self.pending_note.clear();
        let (pick, listing) = self.choose(&options, pools, cluster_size as usize);
        let o = &options[pick];
        let p = &pools[o.pool];
        let target = p.ready + p.provisioning;
        let mut add = o.nodes.min(p.max - target);
        if self.c.max_nodes_total > 0 {
            add = add.min(self.c.max_nodes_total - cluster_size);
        }
        let capped = if add < o.nodes { format!(", capped from {}", o.nodes) } else { String::new() };
        Self::row(
            out,
            Target::Pool(o.pool),
            target,
            target + add,
            Verdict::Apply,
            format!(
                "scale-up: {} unschedulable pods ({} pending in all); expander {} chose {} +{add}{capped} for {} pods; options: {listing}",
                pending.len(),
                total_pending,
                self.c.expander.name(),
                p.name,
                o.pods.len()
            ),
        );
        self.last_scale_up = Some(now);
        self.scale_ups += 1;
        self.nodes_added += add;
        true
    }

    fn scale_down(&mut self, obs: &Observation<'_>, pools: &[PoolView], nodes: &[NodeView], out: &mut Vec<Decision>) {
        let now = obs.now();
        let c = self.c.clone();
        // The movable pods of each node (not terminating).
        let mut pods_on: BTreeMap<u32, Vec<Req>> = BTreeMap::new();
        for s in 0..obs.deployments() {
            let svc = obs.pod_template(s);
            for pod in obs.pods(s) {
                if let (Some(n), false) = (pod.node, pod.deleting) {
                    pods_on.entry(n).or_default().push(Req { cpu_m: svc.cpu_request_m, mem: svc.memory_request_bytes });
                }
            }
        }
        let ready: Vec<&NodeView> = nodes.iter().filter(|n| n.state == NodeState::Ready).collect();
        let mut rooms: Vec<Room> = ready
            .iter()
            .map(|n| {
                let pool = &pools[n.pool];
                Room {
                    cpu_m: pool.cpu_m.saturating_sub(n.cpu_requested_m),
                    mem: pool.memory_bytes.saturating_sub(n.memory_requested_bytes),
                    pods: pool.max_pods.saturating_sub(n.pods),
                }
            })
            .collect();
        let mut removed = vec![false; ready.len()];
        let mut unneeded: Vec<(usize, String)> = Vec::new();
        let mut statuses: BTreeMap<String, (u32, String)> = BTreeMap::new();
        for (i, n) in ready.iter().enumerate() {
            let pool = &pools[n.pool];
            let cpu_u = n.cpu_requested_m as f64 / pool.cpu_m as f64;
            let mem_u = n.memory_requested_bytes as f64 / pool.memory_bytes as f64;
            let util = cpu_u.max(mem_u);
            let u = format!("utilization {util:.3} (cpu {cpu_u:.3}, memory {mem_u:.3})");
            if util >= c.scale_down_utilization_threshold {
                continue;
            }
            // Simulate moving its pods to the other nodes, largest first.
            let mut moving = pods_on.get(&n.id).cloned().unwrap_or_default();
            moving.sort_by_key(|r| std::cmp::Reverse((r.cpu_m, r.mem)));
            let mut trial = rooms.clone();
            let mut ok = true;
            for &r in &moving {
                let dest = (0..ready.len()).find(|&j| j != i && !removed[j] && trial[j].fits(r));
                match dest {
                    Some(j) => trial[j].take(r),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                rooms = trial;
                removed[i] = true;
                unneeded.push((i, u));
            } else {
                statuses.insert(
                    n.name.clone(),
                    (n.id, format!("node {} is not unneeded: its utilization is below {} but its pods would not fit on other nodes", n.name, c.scale_down_utilization_threshold)),
                );
            }
        }
        // Unneeded timers: kept while a node stays unneeded, dropped when it stops.
        let names: Vec<String> = unneeded.iter().map(|&(i, _)| ready[i].name.clone()).collect();
        self.unneeded_since.retain(|k, _| names.contains(k));
        for name in &names {
            self.unneeded_since.entry(name.clone()).or_insert(now);
        }
        let cooldown = if self.last_scale_up.is_some_and(|t| now < t + c.scale_down_delay_after_add_ns) {
            Some("scale_down_delay_after_add")
        } else if self.last_delete.is_some_and(|t| now < t + c.scale_down_delay_after_delete_ns) {
            Some("scale_down_delay_after_delete")
        } else {
            None
        };
        let draining = nodes.iter().any(|n| n.state == NodeState::Draining);
        let mut size: Vec<u32> = pools.iter().map(|p| p.ready + p.provisioning).collect();
        let mut empty_deleted = 0u32;
        let mut deleted_non_empty = false;
        // Empty nodes first (in bulk), then one non-empty node.
        let mut order: Vec<&(usize, String)> = unneeded.iter().filter(|(i, _)| ready[*i].pods == 0).collect();
        order.extend(unneeded.iter().filter(|(i, _)| ready[*i].pods > 0));
        for (i, u) in order {
            let n = ready[*i];
            let since = self.unneeded_since[&n.name];
            let for_ = now - since;
            let p = &pools[n.pool];
            let status = if for_ < c.scale_down_unneeded_time_ns {
                format!(
                    "node {} is unneeded (utilization below {}, its pods fit elsewhere) since t = {}",
                    n.name,
                    c.scale_down_utilization_threshold,
                    Duration(since)
                )
            } else if n.permanent {
                format!("node {} is unneeded but has scale-down disabled (permanent)", n.name)
            } else if let Some(flag) = cooldown {
                format!("node {} is unneeded for at least scale_down_unneeded_time but scale-down is in cooldown ({flag})", n.name)
            } else if size[n.pool] <= p.min {
                format!("node {} is unneeded but node group {} is at its min size {}", n.name, p.name, p.min)
            } else {
                let empty = n.pods == 0;
                let allowed = if empty { empty_deleted < c.max_empty_bulk_delete && !deleted_non_empty } else { empty_deleted == 0 && !deleted_non_empty && !draining };
                if allowed && c.scale_down_enabled {
                    let from = size[n.pool];
                    Self::row(
                        out,
                        Target::Node(n.id),
                        from,
                        from - 1,
                        Verdict::Apply,
                        format!(
                            "scale-down: removing {} node {} (unneeded for {}, {u} below {}){}",
                            if empty { "empty" } else { "non-empty" },
                            n.name,
                            Duration(for_),
                            c.scale_down_utilization_threshold,
                            if empty { String::new() } else { format!("; draining its {} pods onto other nodes", n.pods) }
                        ),
                    );
                    size[n.pool] -= 1;
                    if empty {
                        empty_deleted += 1;
                    } else {
                        deleted_non_empty = true;
                    }
                    self.last_delete = Some(now);
                    self.nodes_deleted += 1;
                    self.unneeded_since.remove(&n.name);
                    self.status.remove(&n.name);
                    continue;
                }
                if !c.scale_down_enabled {
                    format!("node {} is unneeded but scale_down_enabled is false", n.name)
                } else {
                    format!("node {} is unneeded; waiting for the node deletion in progress", n.name)
                }
            };
            statuses.insert(n.name.clone(), (n.id, status));
        }
        // A row when a node's scale-down status changes.
        let alive: Vec<&String> = nodes.iter().map(|n| &n.name).collect();
        self.status.retain(|k, _| alive.contains(&k));
        for (name, (id, status)) in statuses {
            if self.status.get(&name) != Some(&status) {
                let n = nodes.iter().find(|n| n.id == id).expect("listed");
                let size = pools[n.pool].ready + pools[n.pool].provisioning;
                let verdict = if status.contains("cooldown") || status.contains("min size") { Verdict::Blocked } else { Verdict::Hold };
                Self::row(out, Target::Node(id), size, size, verdict, status.clone());
                self.status.insert(name, status);
            }
        }
    }
}

impl Policy for ClusterAutoscaler {
    fn first_wake(&self) -> SimTime {
        self.c.scan_interval_ns
    }

    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        let pools = obs.pools();
        let nodes = obs.nodes();
        self.failures(obs, &pools, &nodes, out);
        if !self.scale_up(obs, &pools, &nodes, out) {
            self.scale_down(obs, &pools, &nodes, out);
        }
        obs.now() + self.c.scan_interval_ns
    }

    fn report(&self) -> Vec<(String, f64)> {
        vec![
            ("scale_ups".into(), self.scale_ups as f64),
            ("nodes_added".into(), self.nodes_added as f64),
            ("nodes_deleted".into(), self.nodes_deleted as f64),
            ("failed_scale_ups".into(), self.failed_scale_ups as f64),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(name: &str, cpu_m: u64, gib: u64, price: f64) -> PoolView {
        PoolView {
            name: name.into(),
            cpu_m,
            memory_bytes: gib << 30,
            max_pods: 110,
            price_per_hour: price,
            min: 0,
            max: 10,
            permanent: 0,
            ready: 0,
            provisioning: 0,
            draining: 0,
            failed: 0,
        }
    }

    #[test]
    fn binpacking_counts_nodes_first_fit_decreasing() {
        // Five pods of 600m on 2-CPU nodes: three per node would be 1800m, so 2 nodes.
        let p = pool("a", 2000, 8, 0.1);
        let pods = vec![Req { cpu_m: 600, mem: 1 << 30 }; 5];
        let o = estimate(&p, 110, &pods, 1000);
        assert_eq!((o.nodes, o.pods.len()), (2, 5));
        // Limited to one node: three pods placed.
        let o = estimate(&p, 110, &pods, 1);
        assert_eq!((o.nodes, o.pods.len()), (1, 3));
        // Pods bigger than the template are left out.
        let o = estimate(&p, 110, &[Req { cpu_m: 3000, mem: 1 }], 1000);
        assert_eq!(o.nodes, 0);
        // Max pods per node counts.
        let o = estimate(&p, 2, &pods, 1000);
        assert_eq!(o.nodes, 3);
    }

    #[test]
    fn least_waste_and_price_scores() {
        let small = pool("small", 2000, 8, 0.1);
        let big = pool("big", 8000, 32, 0.4);
        let pods = vec![Req { cpu_m: 1000, mem: 1 << 30 }; 2];
        let mut a = estimate(&small, 110, &pods, 1000);
        a.pool = 0;
        let mut b = estimate(&big, 110, &pods, 1000);
        b.pool = 1;
        assert_eq!((a.nodes, b.nodes), (1, 1));
        // small: cpu 0 idle, memory 6/8 idle; big: cpu 6/8, memory 30/32.
        assert!((waste(&small, &a) - 0.75).abs() < 1e-12);
        assert!((waste(&big, &b) - (0.75 + 30.0 / 32.0)).abs() < 1e-12);
        assert!(price_score(&small, &a, 2) < price_score(&big, &b, 2));
    }
}
