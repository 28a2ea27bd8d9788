//! Pods and nodes through their lives: the ReplicaSet controller (create, pick victims), the
//! scheduler (bind pending pods), readiness, termination with grace, node provisioning and
//! draining.

use super::{Ev, Simulation, DONE_GENERATIONS};
use crate::cluster::{deletion_rank, Node, NodeState, Pod, PodPhase, Slots, FREE};
use crate::metrics::Sample;
use crate::scenario::ServiceKind;
use crate::service::ReqState;

impl Simulation<'_> {
    /// A new pod of service `s`, Pending.
    pub(super) fn create_pod(&mut self, s: usize) -> u32 {
        let svc = &self.sc.services[s];
        let now = self.now;
        let rt = &mut self.world.services[s];
        let ordinal = rt.next_ordinal;
        rt.next_ordinal += 1;
        let concurrency = svc.concurrency as usize;
        let pods = &mut self.world.pods;
        let id = if let Some(id) = pods.free.pop() {
            let p = &mut pods.items[id as usize];
            p.alive = true;
            p.service = s as u16;
            p.ordinal = ordinal;
            p.phase = PodPhase::Pending;
            p.node = None;
            p.created_at = now;
            p.bound_at = now;
            p.ready_at = None;
            p.deleted_at = None;
            p.slots.reset(concurrency);
            p.queue.clear();
            p.errors = 0;
            p.served = 0;
            p.duration_sum_s = 0.0;
            p.cpu_done_ns = 0.0;
            id
        } else {
            pods.items.push(Pod {
                gen: 0,
                alive: true,
                service: s as u16,
                ordinal,
                phase: PodPhase::Pending,
                node: None,
                created_at: now,
                bound_at: now,
                ready_at: None,
                deleted_at: None,
                ready_index: 0,
                target: 0,
                slots: Slots::new(concurrency),
                queue: Default::default(),
                errors: 0,
                served: 0,
                duration_sum_s: 0.0,
                cpu_done_ns: 0.0,
            });
            (pods.items.len() - 1) as u32
        };
        let name: std::sync::Arc<str> = format!("{}-{ordinal}", svc.name).into();
        match self.world.pod_names.get_mut(id as usize) {
            Some(slot) => *slot = name,
            None => self.world.pod_names.push(name),
        }
        self.world.services[s].pods.push(id);
        if let Some(h) = &mut self.world.hist {
            h.reset(id);
        }
        id
    }

    /// Try to bind a pending pod to a node: the kube-scheduler's filter (requests fit, pod
    /// count below the node's maximum, node ready and not cordoned) and its default
    /// `LeastAllocated` score (most free CPU and memory, as shares, after placing the pod);
    /// ties go to the oldest node. Returns true when bound.
    pub(super) fn schedule_pod(&mut self, pod: u32) -> bool {
        let s = self.world.pods.get(pod).service as usize;
        let svc = &self.sc.services[s];
        let (cpu, mem) = (svc.cpu_request_m, svc.memory_request_bytes);
        let mut best: Option<(f64, u32)> = None;
        for (id, n) in self.world.nodes.items.iter().enumerate() {
            if !n.alive || n.state != NodeState::Ready {
                continue;
            }
            let pool = &self.sc.cluster.pools[n.pool as usize];
            if n.cpu_used_m + cpu > pool.cpu_m || n.mem_used + mem > pool.memory_bytes || n.pods >= pool.max_pods {
                continue;
            }
            let free_cpu = (pool.cpu_m - n.cpu_used_m - cpu) as f64 / pool.cpu_m as f64;
            let free_mem = (pool.memory_bytes - n.mem_used - mem) as f64 / pool.memory_bytes.max(1) as f64;
            let score = (free_cpu + free_mem) / 2.0;
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, id as u32));
            }
        }
        let Some((_, node)) = best else {
            let gen = self.world.pods.get(pod).gen;
            self.world.pending.push_back((pod, gen));
            return false;
        };
        let now = self.now;
        let n = self.world.nodes.get_mut(node);
        self.world.pool_requested_m[n.pool as usize].add(now, cpu as i64);
        n.cpu_used_m += cpu;
        n.mem_used += mem;
        n.pods += 1;
        let p = self.world.pods.get_mut(pod);
        p.node = Some(node);
        p.phase = PodPhase::Starting;
        p.bound_at = now;
        self.world.services[s].acc.bound_pods.add(now, 1);
        true
    }

    /// Bind what can be bound among the pending pods, oldest first, and start them.
    pub(super) fn schedule_pending(&mut self) {
        let n = self.world.pending.len();
        for _ in 0..n {
            let Some((pod, gen)) = self.world.pending.pop_front() else { break };
            let p = self.world.pods.get(pod);
            if !p.alive || p.gen != gen || p.phase != PodPhase::Pending {
                continue;
            }
            if self.schedule_pod(pod) {
                self.begin_startup(pod);
            }
        }
    }

    /// A bound pod starts: it is ready after the service's startup time.
    pub(super) fn begin_startup(&mut self, pod: u32) {
        let s = self.world.pods.get(pod).service as usize;
        let delay = self.sc.services[s].startup.sample_ns(&mut self.streams.startup[s]);
        let gen = self.world.pods.get(pod).gen;
        self.events.push(self.now + delay, Ev::PodReady { pod, gen });
    }

    /// The pod passes its readiness probe: it joins the balancer, takes waiting work, and
    /// becomes a scrape target.
    pub(super) fn pod_ready(&mut self, pod: u32) {
        let now = self.now;
        let p = self.world.pods.get_mut(pod);
        if p.phase != PodPhase::Starting {
            return;
        }
        p.phase = PodPhase::Ready;
        p.ready_at = Some(now);
        let s = p.service as usize;
        let gen = p.gen;
        let rt = &mut self.world.services[s];
        p.ready_index = rt.ready.len();
        rt.ready.push(pod);
        rt.acc.on_ready_change(now, 1);
        let name = format!("{}-{}", self.sc.services[s].name, p.ordinal);
        let offset = self.scrape_offset(&name);
        let target = self.world.metrics.add_target(s, Some(pod), name);
        if let Some(n) = self.world.pods.get(pod).node {
            let node = self.world.nodes.get(n);
            let node_name = format!("{}-{}", self.sc.cluster.pools[node.pool as usize].name, node.ordinal);
            self.world.metrics.set_target_node(target, node_name);
        }
        self.world.pods.get_mut(pod).target = target;
        let interval = self.sc.metrics.scrape_interval_ns;
        // The first scrape at the pod's phase in the interval, after it is ready.
        let first = now - now % interval + offset;
        let first = if first <= now { first + interval } else { first };
        self.events.push(first, Ev::Scrape { pod, gen });
        match self.sc.services[s].kind {
            ServiceKind::Queue => {
                let free = self.world.pods.get(pod).slots.free();
                for _ in 0..free {
                    if let Some(req) = self.world.services[s].waiting.pop_front() {
                        self.start(pod, req);
                    } else {
                        self.world.services[s].idle.push_back((pod, gen));
                    }
                }
            }
            ServiceKind::Http { .. } => {
                // Requests held while no pod was ready go to this one now.
                while let Some(req) = self.world.services[s].waiting.pop_front() {
                    self.offer(s, pod, req);
                }
            }
        }
    }

    /// Delete a pod (scale-down victim or eviction). Pods not yet serving go at once; a ready
    /// pod leaves the balancer and finishes what it holds within its shutdown grace.
    pub(super) fn delete_pod(&mut self, pod: u32) {
        let now = self.now;
        let p = self.world.pods.get(pod);
        let s = p.service as usize;
        match p.phase {
            PodPhase::Pending | PodPhase::Starting => self.pod_gone(pod),
            PodPhase::Terminating => {}
            PodPhase::Ready => {
                self.leave_balancer(pod);
                let p = self.world.pods.get_mut(pod);
                p.phase = PodPhase::Terminating;
                p.deleted_at = Some(now);
                if p.in_pod() == 0 {
                    self.pod_gone(pod);
                } else {
                    let gen = p.gen;
                    let grace = self.sc.services[s].shutdown_grace_ns;
                    self.events.push(now + grace, Ev::GraceEnd { pod, gen });
                }
            }
        }
    }

    fn leave_balancer(&mut self, pod: u32) {
        let p = self.world.pods.get(pod);
        let (s, i) = (p.service as usize, p.ready_index);
        let now = self.now;
        let rt = &mut self.world.services[s];
        rt.ready.swap_remove(i);
        rt.acc.on_ready_change(now, -1);
        if let Some(&moved) = rt.ready.get(i) {
            self.world.pods.get_mut(moved).ready_index = i;
        }
    }

    /// The shutdown grace ran out: what the pod still holds is lost.
    pub(super) fn on_grace_end(&mut self, pod: u32, gen: u32) {
        let p = self.world.pods.get(pod);
        if !p.alive || p.gen != gen || p.phase != PodPhase::Terminating {
            return;
        }
        self.kill_requests(pod);
        self.pod_gone(pod);
    }

    fn kill_requests(&mut self, pod: u32) {
        let now = self.now;
        // Keep the CPU the killed requests already used.
        let used = self.pod_cpu_seconds(pod);
        let idle = self.idle_cpu_seconds(pod);
        let p = self.world.pods.get_mut(pod);
        p.cpu_done_ns = (used - idle) * 1e9;
        let s = p.service as usize;
        let mut held: Vec<u32> = p.slots.reqs().iter().copied().filter(|&r| r != FREE).collect();
        held.extend(p.queue.drain_all(&self.world.reqs.links));
        p.slots.clear_reqs();
        for req in held {
            let r = *self.world.reqs.get(req);
            self.world.services[s].acc.on_lost(r.arrival, r.state == ReqState::Abandoned, now);
            self.world.reqs.release(req);
            if r.state == ReqState::Active {
                self.client_done(req, r.origin, r.vu, r.arrival);
            }
        }
    }

    /// The pod is gone: its node's room is freed, its series ends, its slot is reused.
    pub(super) fn pod_gone(&mut self, pod: u32) {
        let now = self.now;
        if self.world.pods.get(pod).in_pod() > 0 {
            self.kill_requests(pod);
        }
        let cpu_total = self.pod_cpu_seconds(pod);
        let p = self.world.pods.get(pod);
        let s = p.service as usize;
        let (node, phase) = (p.node, p.phase);
        if phase == PodPhase::Ready {
            self.leave_balancer(pod);
        }
        if phase == PodPhase::Ready || phase == PodPhase::Terminating {
            let target = self.world.pods.get(pod).target;
            self.world.metrics.end_target(target, now);
        }
        let svc = &self.sc.services[s];
        let rt = &mut self.world.services[s];
        rt.acc.cpu_gone_s += cpu_total;
        if let Some(i) = rt.pods.iter().position(|&x| x == pod) {
            rt.pods.swap_remove(i);
        }
        if let Some(node) = node {
            rt.acc.bound_pods.add(now, -1);
            let n = self.world.nodes.get_mut(node);
            let pool = n.pool as usize;
            self.world.pool_requested_m[pool].add(now, -(svc.cpu_request_m as i64));
            self.world.pool_cpu_gone_s[pool] += cpu_total;
            n.cpu_used_m -= svc.cpu_request_m;
            n.mem_used -= svc.memory_request_bytes;
            n.pods -= 1;
        }
        let p = self.world.pods.get_mut(pod);
        p.alive = false;
        p.gen = p.gen.wrapping_add(1);
        p.node = None;
        // A completion carries only the low byte of its pod's generation (`Ev::Done`), so a
        // slot is retired once 256 pods have used it: a late completion can never be taken
        // for a later pod's. (One slot of 128 bytes per 256 pods created.)
        if p.gen % DONE_GENERATIONS != 0 {
            self.world.pods.free.push(pod);
        }
        if let Some(node) = node {
            let n = self.world.nodes.get(node);
            if n.state == NodeState::Draining && n.pods == 0 {
                self.node_gone(node);
            }
        }
        self.schedule_pending();
    }

    /// CPU seconds the pod has used up to now: finished requests, the elapsed share of those
    /// executing, and the idle baseline since it started.
    pub(super) fn pod_cpu_seconds(&self, pod: u32) -> f64 {
        let p = self.world.pods.get(pod);
        if p.node.is_none() {
            return 0.0;
        }
        let now = self.now;
        let mut ns = p.cpu_done_ns;
        for &req in p.slots.reqs() {
            if req != FREE {
                let r = self.world.reqs.get(req);
                if r.work_ns > 0 {
                    ns += r.cpu_ns as f64 * ((now - r.started) as f64 / r.work_ns as f64).min(1.0);
                }
            }
        }
        ns / 1e9 + self.idle_cpu_seconds(pod)
    }

    /// The idle baseline's CPU seconds since the pod started.
    fn idle_cpu_seconds(&self, pod: u32) -> f64 {
        let p = self.world.pods.get(pod);
        let idle_m = self.sc.services[p.service as usize].cpu_idle_m;
        idle_m as f64 / 1000.0 * (self.now - p.bound_at) as f64 / 1e9
    }

    /// Bring the number of the service's active pods to its spec, as the ReplicaSet does.
    pub(super) fn reconcile(&mut self, s: usize) {
        let now = self.now;
        let spec = self.world.services[s].spec_replicas as usize;
        let active: Vec<u32> = self.world.services[s]
            .pods
            .iter()
            .copied()
            .filter(|&p| self.world.pods.get(p).phase != PodPhase::Terminating)
            .collect();
        if active.len() < spec {
            for _ in active.len()..spec {
                let pod = self.create_pod(s);
                if self.schedule_pod(pod) {
                    self.begin_startup(pod);
                }
            }
        } else if active.len() > spec {
            let mut ranked: Vec<_> = active
                .iter()
                .map(|&id| {
                    let p = self.world.pods.get(id);
                    let colocated = p.node.map_or(0, |n| {
                        active.iter().filter(|&&o| self.world.pods.get(o).node == Some(n)).count() as u32
                    });
                    (deletion_rank(p, colocated, now), id)
                })
                .collect();
            ranked.sort();
            for &(_, id) in ranked.iter().take(active.len() - spec) {
                self.delete_pod(id);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Nodes.

    /// Request a node in `pool`; it joins when `node_ready` is called.
    pub(super) fn add_node(&mut self, pool: usize, permanent: bool) -> u32 {
        let now = self.now;
        let ordinal = self.world.next_node_ordinal[pool];
        self.world.next_node_ordinal[pool] += 1;
        let node = Node {
            gen: 0,
            alive: true,
            pool: pool as u16,
            ordinal,
            state: NodeState::Provisioning,
            permanent,
            requested_at: now,
            ready_at: None,
            cpu_used_m: 0,
            mem_used: 0,
            pods: 0,
        };
        let nodes = &mut self.world.nodes;
        let id = if let Some(id) = nodes.free.pop() {
            let gen = nodes.items[id as usize].gen;
            nodes.items[id as usize] = Node { gen, ..node };
            id
        } else {
            nodes.items.push(node);
            (nodes.items.len() - 1) as u32
        };
        self.world.pool_nodes[pool].add(now, 1);
        id
    }

    /// Provision a node: it is ready after the pool's provisioning time, or, with the pool's
    /// `provision_failure` probability, the attempt fails then and the node never joins.
    pub(super) fn provision_node(&mut self, pool: usize) {
        let id = self.add_node(pool, false);
        let p = &self.sc.cluster.pools[pool];
        let delay = p.provision_time.sample_ns(&mut self.streams.provision[pool]);
        // Drawn from a stream of its own, and only when the pool may fail, so that the
        // provisioning times are the same with or without failures.
        let fails = p.provision_failure > 0.0 && {
            use rand::Rng as _;
            self.streams.provision_failure[pool].gen::<f64>() < p.provision_failure
        };
        let gen = self.world.nodes.get(id).gen;
        let ev = if fails { Ev::NodeFailed { node: id, gen } } else { Ev::NodeReady { node: id, gen } };
        self.events.push(self.now + delay, ev);
    }

    /// A provisioning attempt failed: the node goes without ever joining (it was billed
    /// while it was provisioning), and the pool's failure count grows.
    pub(super) fn on_node_failed(&mut self, node: u32, gen: u32) {
        let n = self.world.nodes.get(node);
        if !n.alive || n.gen != gen || n.state != NodeState::Provisioning {
            return;
        }
        let pool = n.pool as usize;
        self.world.provision_failures[pool] += 1;
        self.node_gone(node);
    }

    pub(super) fn node_ready(&mut self, node: u32) {
        let n = self.world.nodes.get_mut(node);
        if n.state != NodeState::Provisioning {
            return;
        }
        n.state = NodeState::Ready;
        n.ready_at = Some(self.now);
        self.schedule_pending();
    }

    /// Cordon and drain a node, then remove it. Permanent nodes are never removed.
    pub(super) fn remove_node(&mut self, node: u32) -> bool {
        let n = self.world.nodes.get(node);
        if !n.alive || n.permanent || n.state == NodeState::Draining {
            return false;
        }
        if n.state == NodeState::Provisioning || n.pods == 0 {
            self.node_gone(node);
            return true;
        }
        let gen = n.gen;
        let pool = n.pool as usize;
        self.world.nodes.get_mut(node).state = NodeState::Draining;
        // Evict its pods; their ReplicaSets replace them elsewhere.
        let victims: Vec<u32> = self
            .world
            .pods
            .items
            .iter()
            .enumerate()
            .filter(|(_, p)| p.alive && p.node == Some(node) && p.phase != PodPhase::Terminating)
            .map(|(i, _)| i as u32)
            .collect();
        let mut services: Vec<usize> = Vec::new();
        for pod in victims {
            let s = self.world.pods.get(pod).service as usize;
            if !services.contains(&s) {
                services.push(s);
            }
            self.delete_pod(pod);
        }
        for s in services {
            self.reconcile(s);
        }
        if self.world.nodes.get(node).alive {
            let drain = self.sc.cluster.pools[pool].drain_time_ns;
            self.events.push(self.now + drain, Ev::DrainEnd { node, gen });
        }
        true
    }

    /// The drain time is over: pods still on the node are killed and the node goes.
    pub(super) fn on_drain_end(&mut self, node: u32, gen: u32) {
        let n = self.world.nodes.get(node);
        if !n.alive || n.gen != gen || n.state != NodeState::Draining {
            return;
        }
        let left: Vec<u32> = self
            .world
            .pods
            .items
            .iter()
            .enumerate()
            .filter(|(_, p)| p.alive && p.node == Some(node))
            .map(|(i, _)| i as u32)
            .collect();
        for pod in left {
            self.pod_gone(pod);
        }
        if self.world.nodes.get(node).alive {
            self.node_gone(node);
        }
    }

    fn node_gone(&mut self, node: u32) {
        let now = self.now;
        let n = self.world.nodes.get_mut(node);
        n.alive = false;
        n.gen = n.gen.wrapping_add(1);
        let pool = n.pool as usize;
        self.world.pool_nodes[pool].add(now, -1);
        self.world.nodes.free.push(node);
    }

    /// Scale a pool to `to` nodes: provision more, or remove the newest removable ones.
    pub(super) fn resize_pool(&mut self, pool: usize, to: u32) {
        // The node group's bounds, as a cloud provider enforces them.
        let p = &self.sc.cluster.pools[pool];
        let to = to.clamp(p.min.max(p.permanent), p.max);
        let mut live: Vec<(u64, u32)> = self
            .world
            .nodes
            .items
            .iter()
            .enumerate()
            .filter(|(_, n)| n.alive && n.pool as usize == pool && n.state != NodeState::Draining)
            .map(|(i, n)| (n.ordinal, i as u32))
            .collect();
        let current = live.len() as u32;
        if to > current {
            for _ in current..to {
                self.provision_node(pool);
            }
        } else {
            live.sort();
            let mut excess = current - to;
            for &(_, id) in live.iter().rev() {
                if excess == 0 {
                    break;
                }
                if self.remove_node(id) {
                    excess -= 1;
                }
            }
        }
    }

    /// A pod's metrics sample, as its exporter and cAdvisor would show it now.
    pub(super) fn pod_sample(&self, pod: u32) -> Sample {
        let p = self.world.pods.get(pod);
        let svc = &self.sc.services[p.service as usize];
        let memory = svc.memory_base_bytes as f64 + svc.memory_per_request_bytes as f64 * p.in_pod() as f64;
        Sample {
            t: self.now,
            v: [
                p.responses() as f64,
                p.errors as f64,
                p.served as f64,
                p.duration_sum_s,
                self.pod_cpu_seconds(pod),
                p.busy() as f64,
                p.queue.len() as f64,
                memory,
            ],
        }
    }

}
