//! The policy interface: one trait for every autoscaler.
//!
//! A policy instance is built for one target (a pod autoscaler for one service, or a node
//! autoscaler for the cluster) and called on its own schedule. At each call it gets an
//! [`Observation`] shaped like what the real controller sees (the Kubernetes API's view of
//! deployments, pods and nodes, and lagged metrics; never the engine's ground truth) and pushes
//! [`Decision`]s: every conclusion it reaches, applied or not, with its reason. Applied
//! decisions map one to one onto Kubernetes API calls (the scale subresource of a Deployment,
//! the size of a node group, the deletion of a node), which is what a live mode will issue.
//!
//! Adding a policy is adding one file here and one line in [`POD_POLICIES`] or [`NODE_POLICIES`].
//!
//! Policies see the world through [`api::ClusterApi`] only: nothing here may use `sim/`,
//! `cluster/`, `service/` or `report/` (tests/it/layers.rs holds it).

pub mod fixed;
pub mod forecast;
pub mod manifest;
pub mod hpa;
pub mod keda;
pub mod predictive;
pub mod schedule;
pub mod schedule_gen;
pub mod external;
pub mod llm;
pub mod node_pool;
pub mod cluster_autoscaler;
pub mod api;
pub mod reactive;
pub mod spec;

use std::fmt;
use std::sync::Arc;

pub use spec::PolicySpec;
pub use api::{ClusterApi, DeploymentView, NodeView, Observation, PodTemplateView, PodView, PoolView};

use crate::engine::SimTime;
use crate::scenario::params::Params;
use crate::scenario::{ConfigError, Scenario};

/// An autoscaler instance with its own state (recommendation history, cooldown timers, ...).
pub trait Policy: Send {
    /// When to be called first (simulated time).
    fn first_wake(&self) -> SimTime;

    /// Observe, decide and push decisions to `out`. Returns when to be called next
    /// ([`crate::engine::NEVER`] for never).
    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime;

    /// Figures about itself for the report at the end of the run (name, value), such as a
    /// forecaster's accuracy. None by default.
    fn report(&self) -> Vec<(String, f64)> {
        Vec::new()
    }

    /// Files for the policy's report folder at the end of the run (file name, contents), such
    /// as a schedule exported as CronJob YAML. None by default.
    fn files(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// For a HorizontalPodAutoscaler (or the one KEDA creates): the object's name and status,
    /// as kube-state-metrics reads them. None by default.
    fn hpa_status(&self) -> Option<HpaStatus> {
        None
    }
}

/// What a HorizontalPodAutoscaler object shows of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpaStatus {
    /// `metadata.name`.
    pub name: String,
    /// `status.desiredReplicas` (`None` before its first reconcile in the run).
    pub desired_replicas: Option<u32>,
}

/// Builds fresh policy instances: one per run, so that every run starts from the same state.
pub trait PolicyFactory: Send + Sync + fmt::Debug {
    /// The `kind` name, as in the scenario file.
    fn kind(&self) -> &'static str;
    fn build(&self) -> Box<dyn Policy>;
    /// For a pod autoscaler: the replicas its deployment has had all along, when the policy
    /// fixes them (the run starts warm with that many instead of the service's `replicas`).
    fn initial_replicas(&self) -> Option<u32> {
        None
    }
    /// Build for one run, with what the run hands in (its seed, an external program the edge
    /// attached). The default ignores it and calls [`PolicyFactory::build`].
    fn build_in(&self, ctx: BuildContext) -> Box<dyn Policy> {
        let _ = ctx;
        self.build()
    }
    /// The external program this policy consults, if the scenario names one: the edge
    /// (`run.rs`) starts it and hands it in through [`BuildContext::external`].
    fn external(&self) -> Option<&external::ExternalSpec> {
        None
    }
    /// The PromQL queries the policy evaluates, so that a run records the series they read
    /// (see [`crate::metrics::Optional`]). None by default.
    fn queries(&self) -> Vec<&crate::metrics::expr::Expr> {
        Vec::new()
    }
}

/// What a run hands a policy instance it builds.
pub struct BuildContext {
    /// The run's seed: a policy with random behaviour of its own derives its streams from it
    /// ([`crate::engine::rng::stream`]), so that runs stay deterministic.
    pub seed: u64,
    /// The external program attached by the edge, for a factory whose
    /// [`PolicyFactory::external`] names one (`None` in a pure run: the policy falls back).
    pub external: Option<Box<dyn external::External>>,
}

/// What a decision is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A service's Deployment: `from`/`to` are spec replicas.
    Deployment(usize),
    /// A node pool: `from`/`to` are node counts (removal takes the newest removable nodes).
    Pool(usize),
    /// One node, by engine id, to drain and remove; `from`/`to` are its pool's node counts
    /// before and after.
    Node(u32),
}

/// Whether a decision is acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Act: set the target to `to`.
    Apply,
    /// Nothing to do (the target is where the policy wants it).
    Hold,
    /// The policy wanted a change but a rule of its own held it back (cooldown, limits).
    Blocked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Apply => "apply",
            Verdict::Hold => "hold",
            Verdict::Blocked => "blocked",
        }
    }
}

/// One conclusion of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub target: Target,
    pub from: u32,
    pub to: u32,
    pub verdict: Verdict,
    /// Why, in the words the real controller would log.
    pub reason: String,
}

/// What a pod autoscaler's settings are read against.
#[derive(Debug, Clone)]
pub struct PodContext<'a> {
    /// The service (Deployment) it scales.
    pub service: usize,
    pub scenario: &'a Scenario,
    /// The scenario file's folder: files a policy names are relative to it.
    pub base_dir: &'a std::path::Path,
}

/// What a node autoscaler's settings are read against.
#[derive(Debug, Clone)]
pub struct NodeContext<'a> {
    pub scenario: &'a Scenario,
    /// The scenario file's folder: files a policy names are relative to it.
    pub base_dir: &'a std::path::Path,
}

/// Reads a pod autoscaler's settings.
pub type PodParseFn = fn(&mut Params, &PodContext<'_>) -> Result<Arc<dyn PolicyFactory>, ConfigError>;
/// Reads a node autoscaler's settings.
pub type NodeParseFn = fn(&mut Params, &NodeContext<'_>) -> Result<Arc<dyn PolicyFactory>, ConfigError>;

/// A kind of policy that may be named in a scenario, with its parser (`F`: [`PodParseFn`] or
/// [`NodeParseFn`]).
pub struct Kind<F: 'static> {
    pub name: &'static str,
    pub parse: F,
}

/// Pod autoscalers (`[policies.pods] kind = ...`).
pub const POD_POLICIES: &[Kind<PodParseFn>] = &[
    Kind { name: "static", parse: fixed::parse_pods },
    Kind { name: "hpa", parse: hpa::policy::parse },
    Kind { name: "keda", parse: keda::policy::parse },
    Kind { name: "predictive", parse: predictive::parse },
    Kind { name: "reactive", parse: reactive::parse },
    Kind { name: "llm-stub", parse: llm::parse },
];

/// Node autoscalers (`[policies.nodes] kind = ...`).
pub const NODE_POLICIES: &[Kind<NodeParseFn>] = &[
    Kind { name: "static", parse: fixed::parse_nodes },
    Kind { name: "node-pool", parse: node_pool::parse },
    Kind { name: "cluster-autoscaler", parse: cluster_autoscaler::parse },
];

pub fn find<C>(kinds: &'static [Kind<C>], name: &str) -> Option<&'static Kind<C>> {
    kinds.iter().find(|k| k.name == name)
}
