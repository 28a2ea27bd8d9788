//! What a policy sees: the Kubernetes API's view of the cluster and the metrics pipeline.

use crate::cluster::{NodeState, PodPhase};
use crate::engine::SimTime;
use crate::metrics::{PodResources, Query, QueryResult};
use crate::scenario::Scenario;
use crate::sim::World;

/// The world as a controller sees it at `now`. Built by the engine for each call.
pub struct Observation<'a> {
    pub(crate) now: SimTime,
    pub(crate) world: &'a World,
    pub(crate) scenario: &'a Scenario,
}

/// A Deployment's spec and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentView {
    pub name: String,
    /// `spec.replicas`: what was last asked for.
    pub spec_replicas: u32,
    /// `status.replicas`: pods that exist and are not terminating.
    pub status_replicas: u32,
    /// `status.readyReplicas`.
    pub ready_replicas: u32,
}

/// A pod as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodView {
    /// Engine id and generation: identify the pod in metrics results.
    pub id: u32,
    pub gen: u32,
    pub name: String,
    /// The engine's phase: `Pending` (unscheduled), `Starting` (Kubernetes: scheduled, not
    /// ready), `Ready`, `Terminating` (deletion timestamp set).
    pub phase: PodPhase,
    /// The Ready condition.
    pub ready: bool,
    /// `status.startTime`: when the kubelet started it (scheduled); `None` while unscheduled.
    pub start_time: Option<SimTime>,
    /// Last transition of the Ready condition (to True when ready; the start while not ready).
    pub ready_transition: Option<SimTime>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    pub node: Option<u32>,
    pub created: SimTime,
}

/// A node as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub id: u32,
    pub name: String,
    pub pool: usize,
    pub state: NodeState,
    pub permanent: bool,
    pub requested_at: SimTime,
    pub ready_at: Option<SimTime>,
    /// Sum of the requests of pods bound to it.
    pub cpu_requested_m: u64,
    pub memory_requested_bytes: u64,
    pub pods: u32,
}

/// A node pool's settings and its size.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolView {
    pub name: String,
    pub cpu_m: u64,
    pub memory_bytes: u64,
    pub price_per_hour: f64,
    pub min: u32,
    pub max: u32,
    pub permanent: u32,
    /// Nodes ready, provisioning and draining.
    pub ready: u32,
    pub provisioning: u32,
    pub draining: u32,
    /// Provisioning attempts that failed so far in the run (the node never joined), as a cloud
    /// provider's node group reports instance creation errors.
    pub failed: u32,
}

impl<'a> Observation<'a> {
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// The scenario: the specs a controller knows (pod requests, pool sizes), not the state.
    pub fn scenario(&self) -> &Scenario {
        self.scenario
    }

    pub fn deployment(&self, service: usize) -> DeploymentView {
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

    /// The service's pods (those the Deployment's selector lists), terminating ones included.
    pub fn pods(&self, service: usize) -> Vec<PodView> {
        let name = &self.scenario.services[service].name;
        self.world.services[service]
            .pods
            .iter()
            .map(|&id| {
                let p = self.world.pods.get(id);
                PodView {
                    id,
                    gen: p.gen,
                    name: format!("{name}-{}", p.ordinal),
                    phase: p.phase,
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

    /// What metrics-server reports for a pod (`None`: no metric yet, the pod is "missing").
    pub fn pod_resources(&self, pod: &PodView) -> Option<PodResources> {
        self.world.metrics.pod_resources(pod.id, pod.gen, self.now)
    }

    /// A PromQL query, as Prometheus answers it through the pipeline delay.
    pub fn promql(&self, e: &crate::metrics::expr::Expr) -> Result<QueryResult, String> {
        e.eval(&self.world.metrics, self.now)
    }

    /// A Prometheus query, as seen through the pipeline delay.
    pub fn query(&self, q: &Query) -> QueryResult {
        self.world.metrics.query(q, self.now)
    }

    /// Pods that no node has room for.
    pub fn unschedulable_pods(&self) -> u32 {
        self.world.pods.items.iter().filter(|p| p.alive && p.phase == PodPhase::Pending).count() as u32
    }

    pub fn nodes(&self) -> Vec<NodeView> {
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
                state: n.state,
                permanent: n.permanent,
                requested_at: n.requested_at,
                ready_at: n.ready_at,
                cpu_requested_m: n.cpu_used_m,
                memory_requested_bytes: n.mem_used,
                pods: n.pods,
            })
            .collect()
    }

    pub fn pools(&self) -> Vec<PoolView> {
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
