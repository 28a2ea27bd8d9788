//! The policy's whole view of the world, in Kubernetes terms: what a controller reads from the
//! API server (the scale target's spec and status, the pods its selector lists, nodes and node
//! groups) and from the metrics pipeline (Prometheus and metrics-server). It owns the
//! [`ClusterApi`] trait and its view types; it may not name anything of `sim/` or `cluster/`.
//! The simulator implements the trait (`sim::api`); a live backend (the Kubernetes API plus
//! Prometheus) implements the same trait, so policy code runs unchanged on either.

use std::sync::Arc;

use crate::engine::SimTime;
use crate::metrics::expr::Expr;
use crate::metrics::{PodResources, Query, QueryResult};

/// What a policy may ask at one call. Object safe: policies take `&dyn ClusterApi`
/// (spelled [`Observation`]).
pub trait ClusterApi {
    /// The controller's clock.
    fn now(&self) -> SimTime;

    /// How many Deployments (scale targets) there are; they are addressed by index, in the
    /// scenario's service order.
    fn deployments(&self) -> usize;

    /// A Deployment's spec and status.
    fn deployment(&self, service: usize) -> DeploymentView;

    /// The Deployment's pod template: its container and the requests of each pod.
    fn pod_template(&self, service: usize) -> PodTemplateView;

    /// The pods the Deployment's selector lists, terminating ones included.
    fn pods(&self, service: usize) -> Vec<PodView>;

    /// What metrics-server reports for a pod (`None`: no metric yet, the pod is "missing").
    fn pod_resources(&self, pod: &PodView) -> Option<PodResources>;

    /// A PromQL query, as Prometheus answers it through the pipeline delay.
    fn promql(&self, e: &Expr) -> Result<QueryResult, String>;

    /// A structured Prometheus query, as seen through the pipeline delay.
    fn query(&self, q: &Query) -> QueryResult;

    /// Pods that no node has room for (`PodScheduled=False`).
    fn unschedulable_pods(&self) -> u32;

    /// The nodes the API lists.
    fn nodes(&self) -> Vec<NodeView>;

    /// The node groups (pools), their settings and sizes, in the scenario's pool order.
    fn pools(&self) -> Vec<PoolView>;
}

/// What a policy is handed at each call.
pub type Observation<'a> = dyn ClusterApi + 'a;

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

/// A Deployment's pod template (`spec.template.spec`): one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTemplateView {
    /// The container's name.
    pub container: String,
    /// `resources.requests.cpu`, millicores.
    pub cpu_request_m: u64,
    /// `resources.requests.memory`, bytes.
    pub memory_request_bytes: u64,
}

/// Where a pod is in its life, as a controller can tell from the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    /// Not bound to a node (`PodScheduled=False`: no node has room).
    Pending,
    /// Bound to a node, containers starting, not yet Ready (Kubernetes phase Running or
    /// Pending with `Ready=False`).
    Starting,
    /// Running with `Ready=True`.
    Ready,
    /// `metadata.deletionTimestamp` set: finishing in-flight work within its grace period.
    Terminating,
}

/// A pod as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodView {
    /// Identity within the backend (with `gen`): identifies the pod in metrics results.
    pub id: u32,
    pub gen: u32,
    /// `metadata.name`, shared: listing the pods copies no names.
    pub name: Arc<str>,
    pub phase: PodPhase,
    /// The Ready condition.
    pub ready: bool,
    /// `status.startTime`: when the kubelet started it (scheduled); `None` while unscheduled.
    pub start_time: Option<SimTime>,
    /// Last transition of the Ready condition (to True when ready; the start while not ready).
    pub ready_transition: Option<SimTime>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `spec.nodeName`, as the node's id.
    pub node: Option<u32>,
    /// `metadata.creationTimestamp`.
    pub created: SimTime,
}

/// A node's state, from its conditions and the node group's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Requested from the provider; not yet joined.
    Provisioning,
    Ready,
    /// Cordoned and being drained before removal.
    Draining,
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
    /// Allocatable CPU per node, millicores.
    pub cpu_m: u64,
    /// Allocatable memory per node, bytes.
    pub memory_bytes: u64,
    /// Allocatable pods per node.
    pub max_pods: u32,
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
