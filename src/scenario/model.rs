//! The validated scenario: what the engine runs. Built once from the raw file by `load`; every
//! value here has been checked, defaulted and converted to engine units (nanoseconds,
//! millicores, bytes).

use crate::dist::Dist;

/// The world a run simulates: the cluster, the services and their load, the metrics pipeline
/// and the report's settings. The policy alternatives and expectations an experiment runs on
/// it live above it (`crate::experiment`).
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// Simulated time, nanoseconds.
    pub duration_ns: u64,
    pub seed: u64,
    /// Resolution of the timeseries, nanoseconds.
    pub step_ns: u64,
    /// Requests that arrive before this instant are left out of the summary statistics.
    pub warmup_ns: u64,
    pub cluster: Cluster,
    pub metrics: MetricsConfig,
    pub services: Vec<Service>,
    pub report: ReportConfig,
}

/// `[report]`: settings of the outputs' metrics; they never change the simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportConfig {
    /// A change of scaling direction within this long of the previous change is a reversal.
    pub reversal_window_ns: u64,
    /// The slot utilization at which demand is counted: a service needs
    /// `ceil(offered work per second / (concurrency x demand_utilization))` ready pods.
    pub demand_utilization: f64,
    /// Dollars per pod-hour, counted when no node pool has a price (seed 003's $0.05).
    pub price_per_pod_hour: f64,
}

/// Seed 003's price of a pod-hour.
pub const SEED_PRICE_PER_POD_HOUR: f64 = 0.05;

impl Default for ReportConfig {
    fn default() -> Self {
        Self { reversal_window_ns: 300_000_000_000, demand_utilization: 0.8, price_per_pod_hour: SEED_PRICE_PER_POD_HOUR }
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub pools: Vec<NodePool>,
    /// True when the file has no `[cluster]`: one pool of nodes so large that no pod is ever
    /// short of room, at no cost.
    pub implicit: bool,
}

#[derive(Debug, Clone)]
pub struct NodePool {
    pub name: String,
    pub instance: Option<String>,
    /// Allocatable CPU per node, millicores.
    pub cpu_m: u64,
    /// Allocatable memory per node, bytes.
    pub memory_bytes: u64,
    pub max_pods: u32,
    pub price_per_hour: f64,
    /// Nodes at the start of the run (ready at time 0).
    pub nodes: u32,
    pub min: u32,
    pub max: u32,
    pub permanent: u32,
    /// Time from a node's request to its readiness, seconds.
    pub provision_time: Dist,
    /// Probability that a requested node never joins: the attempt fails at the end of its
    /// provisioning time and the node is gone.
    pub provision_failure: f64,
    /// How long a node removal waits for its evicted pods to leave before the node goes.
    pub drain_time_ns: u64,
}

/// The Prometheus client libraries' default buckets (`prometheus.DefBuckets` in client_golang,
/// `Histogram.DEFAULT_BUCKETS` in client_python), seconds: `[metrics] buckets` when the file
/// gives none.
pub const DEFAULT_BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// The namespace the series are labelled with.
    pub namespace: String,
    pub scrape_interval_ns: u64,
    pub rate_window_ns: u64,
    pub pipeline_delay_ns: u64,
    pub resource_resolution_ns: u64,
    /// The finite upper bounds of `http_request_duration_seconds`'s buckets, seconds,
    /// increasing (`+Inf` is implicit).
    pub buckets: Vec<f64>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            namespace: "default".to_string(),
            scrape_interval_ns: 15_000_000_000,
            rate_window_ns: 60_000_000_000,
            pipeline_delay_ns: 0,
            resource_resolution_ns: 15_000_000_000,
            buckets: DEFAULT_BUCKETS.to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balancer {
    RoundRobin,
    Random,
    /// Envoy's least-request: the less loaded of two pods chosen at random.
    LeastRequest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// Per-pod queues behind a load balancer.
    Http { balancer: Balancer, no_ready_pods: NoReadyPods },
    /// One shared FIFO queue pulled by every ready pod.
    Queue,
}

/// What an `http` service does with a request when no pod is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReadyPods {
    /// Hold it at the front door (as an activator or interceptor does) until a pod is ready.
    Wait,
    /// Refuse it at once (HTTP 503), as an ingress with no endpoints does.
    Reject,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub kind: ServiceKind,
    pub replicas: u32,
    pub concurrency: u32,
    /// Waiting room: per pod for `http`, for the whole service for `queue`.
    pub queue_limit: u64,
    pub timeout_ns: Option<u64>,
    /// Time one request holds a concurrency slot, seconds.
    pub service_time: Dist,
    /// CPU seconds one request costs; `None`: equal to its service time (one busy core).
    pub cpu_per_request: Option<Dist>,
    pub cpu_idle_m: u64,
    pub memory_base_bytes: u64,
    pub memory_per_request_bytes: u64,
    /// Pod requests, for scheduling and utilization.
    pub cpu_request_m: u64,
    pub memory_request_bytes: u64,
    /// Time from a pod's scheduling to its readiness, seconds.
    pub startup: Dist,
    pub shutdown_grace_ns: u64,
    pub slo: Slo,
    /// Its own load (no sources: it is only called by other services).
    pub workload: crate::workload::Workload,
    /// Calls each request makes once its `service_time` is done, in order.
    pub calls: Vec<Call>,
    /// Work after the calls, holding the slot (`None`: none).
    pub service_time_after_calls: Option<Dist>,
}

/// One call a request makes to another service (`calls`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Call {
    /// The callee: an index into `Scenario::services`.
    pub service: usize,
    pub mode: CallMode,
    pub times: CallTimes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    /// The caller goes on once the callee has accepted the job (Celery's `delay()`); it does
    /// not wait for the job to be done.
    Enqueue,
    /// The caller holds its slot until the callee answers.
    Sync,
}

/// How many calls of one `calls` entry a request makes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CallTimes {
    Count(u32),
    /// One call with this probability, else none.
    Probability(f64),
}

#[derive(Debug, Clone, Copy)]
pub struct Slo {
    pub latency_ns: u64,
    /// The percentile of latency the objective is about, e.g. 99.
    pub percentile: f64,
    /// Target share of requests served, e.g. 0.999.
    pub availability: f64,
}
