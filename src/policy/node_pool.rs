//! `kind = "node-pool"`: the k3s Docker node autoscaler of the seed document
//! `002_4b5c5f94a9d6c428` (worker nodes as containers, decisions from Prometheus metrics).
//!
//! Every `check_interval` one cycle, as the seed's `run_autoscaling_cycle`:
//! - **Metrics.** Pending pods (the API's unscheduled pods, the seed's
//!   `kube_pod_status_phase{phase="Pending"}`); the pool's Ready nodes; average node CPU and
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
//!   cooldown. The cycle blocks meanwhile: no decision is taken while an operation runs. A node
//!   whose provisioning fails never joins: the attempt is logged as a failed scale-up (rolled
//!   back) and the scale-up cooldown applies from then.

use std::sync::Arc;

use super::{Decision, Observation, NodeContext, Policy, PolicyFactory, Target, Verdict};
use crate::policy::api::{NodeState, PodPhase};
use crate::engine::SimTime;
use crate::scenario::params::Params;
use crate::scenario::ConfigError;
use crate::units::Duration;

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
    let min_nodes: u32 = p.get_or("min_nodes", pl.min)?;
    let max_nodes: u32 = p.get_or("max_nodes", pl.max)?;
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
    }))
}

impl PolicyFactory for Config {
    fn kind(&self) -> &'static str {
        "node-pool"
    }
    fn build(&self) -> Box<dyn Policy> {
        Box::new(NodePool { c: self.clone(), last_up: None, last_down: None, op: Op::Idle, ups: 0, downs: 0, failures: 0 })
    }
}

/// The operation the cycle is blocked on.
#[derive(Debug, Clone)]
enum Op {
    Idle,
    /// A node was requested; `failed_before` is the pool's failure count then.
    Adding { failed_before: u32, since: SimTime },
    /// A node is being drained and removed.
    Removing { node: u32, name: String },
}

struct NodePool {
    c: Config,
    last_up: Option<SimTime>,
    last_down: Option<SimTime>,
    op: Op,
    ups: u32,
    downs: u32,
    failures: u32,
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
        let pending = obs.unschedulable_pods();
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

    /// Whether an operation still runs; logs its end.
    fn busy(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> bool {
        let now = obs.now();
        match self.op.clone() {
            Op::Idle => false,
            Op::Adding { failed_before, since } => {
                let pool = &obs.pools()[self.c.pool];
                if pool.provisioning > 0 {
                    return true;
                }
                self.op = Op::Idle;
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
            Op::Removing { node, name } => {
                if obs.nodes().iter().any(|n| n.id == node && n.name == name) {
                    return true;
                }
                self.op = Op::Idle;
                self.last_down = Some(now);
                false
            }
        }
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
        if self.busy(obs, out) {
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
                let failed_before = obs.pools()[pool].failed;
                self.op = Op::Adding { failed_before, since: now };
                self.ups += 1;
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
        self.op = Op::Removing { node: v.id, name: v.name };
        self.downs += 1;
        next
    }

    fn report(&self) -> Vec<(String, f64)> {
        vec![
            ("scale_ups".into(), self.ups as f64),
            ("scale_downs".into(), self.downs as f64),
            ("provision_failures".into(), self.failures as f64),
        ]
    }
}
