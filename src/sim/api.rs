//! The simulator's side of the policy API: [`crate::policy::ClusterApi`] answered from the
//! engine's state at one instant, with the engine's enums mapped onto the API's view types.
//! Policies see only what this returns.

use crate::cluster::{NodeState, PodPhase};
use crate::engine::SimTime;
use crate::metrics::expr::Expr;
use crate::metrics::{PodResources, Query, QueryResult};
use crate::policy::api::{self, ClusterApi, DeploymentView, NodeView, PodTemplateView, PodView, PoolView};
use crate::scenario::Scenario;

use super::World;

/// The world as a controller sees it at `now`. Built by the engine for each policy call.
pub(super) struct SimApi<'a> {
    pub(super) now: SimTime,
    pub(super) world: &'a World,
    pub(super) scenario: &'a Scenario,
}

fn pod_phase(p: PodPhase) -> api::PodPhase {
    match p {
        PodPhase::Pending => api::PodPhase::Pending,
        PodPhase::Starting => api::PodPhase::Starting,
        PodPhase::Ready => api::PodPhase::Ready,
        PodPhase::Terminating => api::PodPhase::Terminating,
    }
}

fn node_state(s: NodeState) -> api::NodeState {
    match s {
        NodeState::Provisioning => api::NodeState::Provisioning,
        NodeState::Ready => api::NodeState::Ready,
        NodeState::Draining => api::NodeState::Draining,
    }
}

impl ClusterApi for SimApi<'_> {
    fn now(&self) -> SimTime {
        self.now
    }

    fn deployments(&self) -> usize {
        self.scenario.services.len()
    }

    fn deployment(&self, service: usize) -> DeploymentView {
        let rt = &self.world.services[service];
        let mut status = 0;
        let mut ready = 0;
        for &p in &rt.pods {
            let pod = self.world.pods.get(p);
            if pod.phase != PodPhase::Terminating {
                status += 1;
            }
            if pod.phase == PodPhase::Ready {
                ready += 1;
            }
        }
        DeploymentView {
            name: self.scenario.services[service].name.clone(),
            spec_replicas: rt.spec_replicas,
            status_replicas: status,
            ready_replicas: ready,
        }
    }

    fn pod_template(&self, service: usize) -> PodTemplateView {
        let svc = &self.scenario.services[service];
        PodTemplateView {
            container: svc.name.clone(),
            cpu_request_m: svc.cpu_request_m,
            memory_request_bytes: svc.memory_request_bytes,
        }
    }

    fn pods(&self, service: usize) -> Vec<PodView> {
        self.world.services[service]
            .pods
            .iter()
            .map(|&id| {
                let p = self.world.pods.get(id);
                PodView {
                    id,
                    gen: p.gen,
                    name: self.world.pod_names[id as usize].clone(),
                    phase: pod_phase(p.phase),
                    ready: p.phase == PodPhase::Ready,
                    start_time: p.node.map(|_| p.bound_at),
                    ready_transition: p.ready_at.or(p.node.map(|_| p.bound_at)),
                    deleting: p.phase == PodPhase::Terminating,
                    node: p.node,
                    created: p.created_at,
                }
            })
            .collect()
    }

    fn pod_resources(&self, pod: &PodView) -> Option<PodResources> {
        self.world.metrics.pod_resources(pod.id, pod.gen, self.now)
    }

    fn promql(&self, e: &Expr) -> Result<QueryResult, String> {
        e.eval(&self.world.metrics, self.now)
    }

    fn query(&self, q: &Query) -> QueryResult {
        self.world.metrics.query(q, self.now)
    }

    fn unschedulable_pods(&self) -> u32 {
        self.world.pods.items.iter().filter(|p| p.alive && p.phase == PodPhase::Pending).count() as u32
    }

    fn nodes(&self) -> Vec<NodeView> {
        self.world
            .nodes
            .items
            .iter()
            .enumerate()
            .filter(|(_, n)| n.alive)
            .map(|(id, n)| NodeView {
                id: id as u32,
                name: format!("{}-{}", self.scenario.cluster.pools[n.pool as usize].name, n.ordinal),
                pool: n.pool as usize,
                state: node_state(n.state),
                permanent: n.permanent,
                requested_at: n.requested_at,
                ready_at: n.ready_at,
                cpu_requested_m: n.cpu_used_m,
                memory_requested_bytes: n.mem_used,
                pods: n.pods,
            })
            .collect()
    }

    fn pools(&self) -> Vec<PoolView> {
        self.scenario
            .cluster
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut v = PoolView {
                    name: p.name.clone(),
                    cpu_m: p.cpu_m,
                    memory_bytes: p.memory_bytes,
                    max_pods: p.max_pods,
                    price_per_hour: p.price_per_hour,
                    min: p.min,
                    max: p.max,
                    permanent: p.permanent,
                    ready: 0,
                    provisioning: 0,
                    draining: 0,
                    failed: self.world.provision_failures[i],
                };
                for n in self.world.nodes.items.iter().filter(|n| n.alive && n.pool as usize == i) {
                    match n.state {
                        NodeState::Ready => v.ready += 1,
                        NodeState::Provisioning => v.provisioning += 1,
                        NodeState::Draining => v.draining += 1,
                    }
                }
                v
            })
            .collect()
    }
}
