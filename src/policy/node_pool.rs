//! `kind = "node-pool"`: the k3s Docker node autoscaler of the seed document
//! `002_4b5c5f94a9d6c428` (worker nodes as containers, decisions from Prometheus metrics).
//!
//! Every `check_interval` one cycle, as the seed's `run_autoscaling_cycle`:
//! - **Metrics.** Pending pods, what the seed's `sum(kube_pod_status_phase{phase="Pending"})`
//!   counts: the unscheduled pods and the scheduled ones whose startup is not over (their
//!   containers are being pulled and created; the engine does not split `startup`, so a
//!   starting pod is Pending until it is ready, as kube-state-metrics reports it here,
//!   see `sim/kube_state.rs`); `pending_metric = "unschedulable"` counts the first only. The
//!   pool's Ready nodes; average node CPU and
//!   memory in percent. The seed's own definitions by default: CPU is the node's *usage*
//!   (node-exporter's `100 - irate(node_cpu_seconds_total{mode="idle"})`, averaged by
//!   instance), here the sum of metrics-server's readings of the node's pods over the node's
//!   CPU; memory is *requests* (kube-state-metrics' `sum(requests) / sum(allocatable)`).
//!   `cpu_metric` / `memory_metric` switch either to the other definition.
//! - **Decision.** Scale up (one node) when pending pods >= `pending_pods`, or when CPU and
//!   memory both reach their thresholds; not in `scale_up_cooldown`, not at `max_nodes`. Scale
//!   down (one node) when nothing is pending and CPU and memory are both under their scale-down
//!   thresholds; not in `scale_down_cooldown`, not at `min_nodes`. The node removed is the
//!   newest one that is not permanent (LIFO), drained first.
//! - **Atomic operations.** The seed's scale-up creates the worker, waits for it to register
//!   and be Ready, and only then sets its cooldown; a scale-down drains, removes, then sets its
//!   cooldown. The threshold cycle blocks meanwhile. Two of the seed's event handlers do not:
//!   `PendingPodsDetected` (pending pods >= `pending_pods` add a worker while another operation
//!   is in flight, outside the scale-up cooldown and with the workers still joining counted
//!   against `max_nodes`) and `MinimumNodeEnforcement` (fewer than `min_nodes` workers, joined
//!   or joining: one is added whatever the load and the cooldowns). A node whose provisioning
//!   fails never joins: the attempt is logged as a failed scale-up (rolled back) and the
//!   scale-up cooldown applies from then.
//! - **Defaults.** The seed's `min_nodes` 2 and `max_nodes` 6, kept within the pool's `min` and
//!   `max` (the provider's limits).

use std::sync::Arc;

use super::{Decision, Observation, NodeContext, Policy, PolicyFactory, Target, Verdict};
use crate::policy::api::{NodeState, PodPhase};
use crate::engine::SimTime;
use crate::scenario::params::Params;
use crate::scenario::ConfigError;
use crate::units::Duration;

/// What "pending pods" counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PendingBasis {
    /// `kube_pod_status_phase{phase="Pending"}`: unscheduled, and scheduled but not started.
    Phase,
    /// Only the pods no node has room for (`PodScheduled=False`).
    Unschedulable,
}

/// The seed's `min_nodes` and `max_nodes` defaults.
pub const SEED_MIN_NODES: u32 = 2;
pub const SEED_MAX_NODES: u32 = 6;

/// What "node CPU" or "node memory" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Measured use (node-exporter; here metrics-server's pod readings summed by node).
    Usage,
    /// Requests of the pods bound to the node over its allocatable.
    Requests,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub pool: usize,
    pub check_interval_ns: u64,
    pub pending_pods: u32,
    /// Percent.
    pub cpu_threshold: f64,
    pub memory_threshold: f64,
    pub cpu_scale_down: f64,
    pub memory_scale_down: f64,
    pub min_nodes: u32,
    pub max_nodes: u32,
    pub scale_up_cooldown_ns: u64,
    pub scale_down_cooldown_ns: u64,
    pub cpu_metric: Basis,
    pub memory_metric: Basis,
    pub pending_metric: PendingBasis,
    /// The seed's `PendingPodsDetected` handler acts while an operation is in flight.
    pub pending_fast_path: bool,
}

/// Reads the seed's configuration keys (see docs/scenario.md).
pub fn parse(p: &mut Params, ctx: &NodeContext<'_>) -> Result<Arc<dyn PolicyFactory>, ConfigError> {
    let sc = ctx.scenario;
    let what = p.what.clone();
    let pool = match p.get::<String>("pool")? {
        Some(name) => sc.cluster.pools.iter().position(|q| q.name == name).ok_or_else(|| {
            let names: Vec<_> = sc.cluster.pools.iter().map(|q| format!("{:?}", q.name)).collect();
            ConfigError::at(p.span_of("pool"), format!("{what}: `pool` = {name:?} names no node pool; expected one of {}", names.join(", ")))
        })?,
        None if sc.cluster.pools.len() == 1 => 0,
        None => {
            return Err(ConfigError::at(p.span.clone(), format!("{what}: the cluster has several node pools: name the one to scale with `pool`")));
        }
    };
    if sc.cluster.implicit {
        return Err(ConfigError::at(p.span.clone(), format!("{what}: the scenario has no `[cluster]`: a node autoscaler needs node pools to scale")));
    }
    let duration = |p: &mut Params, key: &'static str, default: u64| -> Result<u64, ConfigError> {
        Ok(p.get::<Duration>(key)?.map_or(default, |d| d.0))
    };
    let check_interval_ns = duration(p, "check_interval", 5_000_000_000)?;
    if check_interval_ns < 1_000_000 {
        return Err(ConfigError::at(p.span_of("check_interval"), format!("{what}: `check_interval` must be at least 1ms")));
    }
    let pending_pods: u32 = p.get_or("pending_pods", 1)?;
    if pending_pods == 0 {
        return Err(ConfigError::at(p.span_of("pending_pods"), format!("{what}: `pending_pods` must be at least 1 (0 would scale up on every check)")));
    }
    let mut percent = |key: &'static str, default: f64| -> Result<f64, ConfigError> {
        let v: f64 = p.get_or(key, default)?;
        if !(0.0..=100.0).contains(&v) {
            return Err(ConfigError::at(p.span_of(key), format!("{what}: `{key}` = {v}: expected a percentage in [0, 100], like {default}")));
        }
        Ok(v)
    };
    let cpu_threshold = percent("cpu_threshold", 80.0)?;
    let memory_threshold = percent("memory_threshold", 80.0)?;
    let cpu_scale_down = percent("cpu_scale_down", 30.0)?;
    let memory_scale_down = percent("memory_scale_down", 30.0)?;
    for (down, up, dk, uk) in [
        (cpu_scale_down, cpu_threshold, "cpu_scale_down", "cpu_threshold"),
        (memory_scale_down, memory_threshold, "memory_scale_down", "memory_threshold"),
    ] {
        if down >= up {
            return Err(ConfigError::at(
                p.span_of(dk),
                format!("{what}: `{dk}` ({down}) must be below `{uk}` ({up}), or the pool would flap between scale-up and scale-down"),
            ));
        }
    }
    let pl = &sc.cluster.pools[pool];
    let min_nodes: u32 = p.get_or("min_nodes", SEED_MIN_NODES.clamp(pl.min, pl.max))?;
    let max_nodes: u32 = p.get_or("max_nodes", SEED_MAX_NODES.clamp(pl.min, pl.max))?;
    if max_nodes > pl.max {
        return Err(ConfigError::at(p.span_of("max_nodes"), format!("{what}: `max_nodes` ({max_nodes}) is above node pool {:?}'s `max` ({})", pl.name, pl.max)));
    }
    if min_nodes < pl.min {
        return Err(ConfigError::at(p.span_of("min_nodes"), format!("{what}: `min_nodes` ({min_nodes}) is below node pool {:?}'s `min` ({})", pl.name, pl.min)));
    }
    if min_nodes > max_nodes {
        return Err(ConfigError::at(p.span_of("min_nodes"), format!("{what}: `min_nodes` ({min_nodes}) is above `max_nodes` ({max_nodes})")));
    }
    let scale_up_cooldown_ns = duration(p, "scale_up_cooldown", 60_000_000_000)?;
    let scale_down_cooldown_ns = duration(p, "scale_down_cooldown", 120_000_000_000)?;
    let cpu_metric = p.get_or("cpu_metric", Basis::Usage)?;
    let memory_metric = p.get_or("memory_metric", Basis::Requests)?;
    let pending_metric = p.get_or("pending_metric", PendingBasis::Phase)?;
    let pending_fast_path = p.get_or("pending_fast_path", true)?;
    Ok(Arc::new(Config {
        pool,
        check_interval_ns,
        pending_pods,
        cpu_threshold,
        memory_threshold,
        cpu_scale_down,
        memory_scale_down,
        min_nodes,
        max_nodes,
        scale_up_cooldown_ns,
        scale_down_cooldown_ns,
        cpu_metric,
        memory_metric,
        pending_metric,
        pending_fast_path,
    }))
}

impl PolicyFactory for Config {
    fn kind(&self) -> &'static str {
        "node-pool"
    }
    fn build(&self) -> Box<dyn Policy> {
        Box::new(NodePool {
            c: self.clone(),
            last_up: None,
            last_down: None,
            adding: None,
            removing: None,
            ups: 0,
            downs: 0,
            failures: 0,
            fast_path_ups: 0,
            minimum_ups: 0,
        })
    }
}

/// Workers requested and not yet joined (or failed): the pool's failure count at the first
/// request, and when it was made.
#[derive(Debug, Clone, Copy)]
struct Adding {
    failed_before: u32,
    since: SimTime,
}

struct NodePool {
    c: Config,
    last_up: Option<SimTime>,
    last_down: Option<SimTime>,
    adding: Option<Adding>,
    /// The node being drained and removed (id, name).
    removing: Option<(u32, String)>,
    ups: u32,
    downs: u32,
    failures: u32,
    fast_path_ups: u32,
    minimum_ups: u32,
}

/// The cluster as the seed's metrics collection sees it.
struct Reading {
    nodes: u32,
    pending: u32,
    /// `None`: no node reports CPU usage yet.
    cpu: Option<f64>,
    memory: Option<f64>,
}

fn pct(x: f64) -> String {
    format!("{x:.1}%")
}

impl NodePool {
    fn read(&self, obs: &Observation<'_>) -> Reading {
        let pool = &obs.pools()[self.c.pool];
        let nodes: Vec<_> = obs.nodes().into_iter().filter(|n| n.pool == self.c.pool && n.state == NodeState::Ready).collect();
        let pending = self.pending(obs);
        if nodes.is_empty() {
            return Reading { nodes: 0, pending, cpu: Some(0.0), memory: Some(0.0) };
        }
        // Usage per node: metrics-server's readings of the pods bound there.
        let need_usage = self.c.cpu_metric == Basis::Usage || self.c.memory_metric == Basis::Usage;
        let mut cpu_use = vec![0.0; nodes.len()];
        let mut mem_use = vec![0.0; nodes.len()];
        let mut reported = false;
        if need_usage {
            for s in 0..obs.deployments() {
                for pod in obs.pods(s) {
                    let Some(at) = pod.node.and_then(|id| nodes.iter().position(|n| n.id == id)) else { continue };
                    if pod.phase == PodPhase::Pending {
                        continue;
                    }
                    if let Some(r) = obs.pod_resources(&pod) {
                        cpu_use[at] += r.cpu_m;
                        mem_use[at] += r.memory_bytes;
                        reported = true;
                    }
                }
            }
        }
        let n = nodes.len() as f64;
        let cpu = match self.c.cpu_metric {
            Basis::Usage => reported.then(|| cpu_use.iter().map(|u| 100.0 * u / pool.cpu_m as f64).sum::<f64>() / n),
            Basis::Requests => Some(nodes.iter().map(|x| 100.0 * x.cpu_requested_m as f64 / pool.cpu_m as f64).sum::<f64>() / n),
        };
        let memory = match self.c.memory_metric {
            Basis::Usage => reported.then(|| mem_use.iter().map(|u| 100.0 * u / pool.memory_bytes as f64).sum::<f64>() / n),
            Basis::Requests => {
                let requested: u64 = nodes.iter().map(|x| x.memory_requested_bytes).sum();
                Some(100.0 * requested as f64 / (pool.memory_bytes as f64 * n))
            }
        };
        Reading { nodes: nodes.len() as u32, pending, cpu, memory }
    }

    /// The pods `kube_pod_status_phase{phase="Pending"}` counts (or the unschedulable ones).
    fn pending(&self, obs: &Observation<'_>) -> u32 {
        let unscheduled = obs.unschedulable_pods();
        if self.c.pending_metric == PendingBasis::Unschedulable {
            return unscheduled;
        }
        let starting: usize = (0..obs.deployments()).map(|s| obs.pods(s).iter().filter(|p| p.phase == PodPhase::Starting).count()).sum();
        unscheduled + starting as u32
    }

    /// Whether an operation still runs; logs the ends of those that finished.
    fn busy(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> bool {
        let adding = self.adding_done(obs, out);
        let removing = self.removing_done(obs);
        adding || removing
    }

    fn adding_done(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> bool {
        let now = obs.now();
        match self.adding {
            None => false,
            Some(Adding { failed_before, since }) => {
                let pool = &obs.pools()[self.c.pool];
                if pool.provisioning > 0 {
                    return true;
                }
                self.adding = None;
                self.last_up = Some(now);
                if pool.failed > failed_before {
                    self.failures += pool.failed - failed_before;
                    let ready = pool.ready;
                    out.push(Decision {
                        target: Target::Pool(self.c.pool),
                        from: ready + 1,
                        to: ready,
                        verdict: Verdict::Hold,
                        reason: format!(
                            "scale-up failed: the new worker never joined ({} after the request); rolled back; scale-up cooldown {} from now",
                            Duration(now - since),
                            Duration(self.c.scale_up_cooldown_ns)
                        ),
                    });
                }
                false
            }
        }
    }

    fn removing_done(&mut self, obs: &Observation<'_>) -> bool {
        let Some((node, name)) = &self.removing else { return false };
        if obs.nodes().iter().any(|n| n.id == *node && n.name == *name) {
            return true;
        }
        self.removing = None;
        self.last_down = Some(obs.now());
        false
    }

    /// Request one worker (the first of a batch in flight sets the failure baseline).
    fn add(&mut self, obs: &Observation<'_>) {
        if self.adding.is_none() {
            self.adding = Some(Adding { failed_before: obs.pools()[self.c.pool].failed, since: obs.now() });
        }
        self.ups += 1;
    }

    /// Add one worker now (a pool of `size` nodes, joining ones included), recorded as an
    /// applied decision with `reason`.
    fn add_worker_now(&mut self, obs: &Observation<'_>, size: u32, reason: String, out: &mut Vec<Decision>) {
        out.push(Decision { target: Target::Pool(self.c.pool), from: size, to: size + 1, verdict: Verdict::Apply, reason });
        self.add(obs);
    }

    /// The seed's event handlers, which run beside the blocked cycle: `MinimumNodeEnforcement`,
    /// then `PendingPodsDetected` while an operation is in flight. `true` when one acted.
    fn handlers(&mut self, obs: &Observation<'_>, busy: bool, out: &mut Vec<Decision>) -> bool {
        let c = &self.c;
        let pool = &obs.pools()[c.pool];
        let (ready, joining) = (pool.ready, pool.provisioning);
        let now = obs.now();
        // A pool's size counts the nodes joining: one more than those.
        if ready + joining < c.min_nodes {
            let reason = format!(
                "minimum_node_enforcement: {ready} workers ready and {joining} joining < min nodes ({}); adding a worker whatever the load",
                c.min_nodes
            );
            self.minimum_ups += 1;
            self.add_worker_now(obs, ready + joining, reason, out);
            return true;
        }
        if !busy || !c.pending_fast_path {
            return false;
        }
        let pending = self.pending(obs);
        if pending < c.pending_pods || ready + joining >= c.max_nodes || Self::cooldown_left(self.last_up, c.scale_up_cooldown_ns, now).is_some() {
            return false;
        }
        let reason = format!(
            "scale_up (pending pods fast path): {pending} pending pods >= {} while an operation is in flight ({ready} ready, {joining} joining); adding a worker",
            c.pending_pods
        );
        self.fast_path_ups += 1;
        self.add_worker_now(obs, ready + joining, reason, out);
        true
    }

    fn cooldown_left(last: Option<SimTime>, cooldown: u64, now: SimTime) -> Option<u64> {
        last.and_then(|t| (now < t + cooldown).then(|| t + cooldown - now))
    }
}

impl Policy for NodePool {
    fn first_wake(&self) -> SimTime {
        self.c.check_interval_ns
    }

    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        let now = obs.now();
        let next = now + self.c.check_interval_ns;
        let busy = self.busy(obs, out);
        if self.handlers(obs, busy, out) || busy {
            return next;
        }
        let c = &self.c;
        let m = self.read(obs);
        let state = format!(
            "{} nodes, {} pending, CPU {}, memory {}",
            m.nodes,
            m.pending,
            m.cpu.map_or("no data".into(), pct),
            m.memory.map_or("no data".into(), pct)
        );
        let pool = c.pool;
        let high = |v: Option<f64>, t: f64| v.is_some_and(|v| v >= t);
        let low = |v: Option<f64>, t: f64| v.is_some_and(|v| v < t);
        let up = if m.pending >= c.pending_pods {
            Some(format!("{} pending pods >= {}", m.pending, c.pending_pods))
        } else if high(m.cpu, c.cpu_threshold) && high(m.memory, c.memory_threshold) {
            Some(format!("CPU >= {} and memory >= {}", pct(c.cpu_threshold), pct(c.memory_threshold)))
        } else {
            None
        };
        let hold = |reason: String| Decision { target: Target::Pool(pool), from: m.nodes, to: m.nodes, verdict: Verdict::Hold, reason };
        let blocked = |to: u32, reason: String| Decision { target: Target::Pool(pool), from: m.nodes, to, verdict: Verdict::Blocked, reason };
        if let Some(why) = up {
            if let Some(left) = Self::cooldown_left(self.last_up, c.scale_up_cooldown_ns, now) {
                out.push(blocked(m.nodes + 1, format!("scale_up wanted ({why}; {state}) but in scale-up cooldown: {} left", Duration(left))));
            } else if m.nodes >= c.max_nodes {
                out.push(blocked(m.nodes + 1, format!("scale_up wanted ({why}; {state}) but at max nodes ({})", c.max_nodes)));
            } else {
                out.push(Decision {
                    target: Target::Pool(pool),
                    from: m.nodes,
                    to: m.nodes + 1,
                    verdict: Verdict::Apply,
                    reason: format!("scale_up: {why} ({state}); adding a worker"),
                });
                self.add(obs);
            }
            return next;
        }
        let down = m.pending == 0 && low(m.cpu, c.cpu_scale_down) && low(m.memory, c.memory_scale_down);
        if !down {
            out.push(hold(format!("no_action: cluster is at optimal state ({state})")));
            return next;
        }
        let why = format!("no pending pods, CPU < {} and memory < {} ({state})", pct(c.cpu_scale_down), pct(c.memory_scale_down));
        if let Some(left) = Self::cooldown_left(self.last_down, c.scale_down_cooldown_ns, now) {
            out.push(blocked(m.nodes.saturating_sub(1), format!("scale_down wanted ({why}) but in scale-down cooldown: {} left", Duration(left))));
            return next;
        }
        if m.nodes <= c.min_nodes {
            out.push(hold(format!("no_action: at min nodes ({}) ({state})", c.min_nodes)));
            return next;
        }
        // LIFO: the most recently launched worker that is not permanent.
        let victim = obs
            .nodes()
            .into_iter()
            .filter(|n| n.pool == pool && n.state == NodeState::Ready && !n.permanent)
            .max_by_key(|n| (n.requested_at, n.id));
        let Some(v) = victim else {
            out.push(hold(format!("no_action: every worker left is permanent ({state})")));
            return next;
        };
        out.push(Decision {
            target: Target::Node(v.id),
            from: m.nodes,
            to: m.nodes - 1,
            verdict: Verdict::Apply,
            reason: format!("scale_down: {why}; draining and removing {} (newest worker, LIFO)", v.name),
        });
        self.removing = Some((v.id, v.name));
        self.downs += 1;
        next
    }

    fn report(&self) -> Vec<(String, f64)> {
        vec![
            ("scale_ups".into(), self.ups as f64),
            ("scale_downs".into(), self.downs as f64),
            ("provision_failures".into(), self.failures as f64),
            ("fast_path_scale_ups".into(), self.fast_path_ups as f64),
            ("minimum_node_scale_ups".into(), self.minimum_ups as f64),
        ]
    }
}
