//! The scenario file as written: serde types that mirror the TOML, with unknown keys refused.
//! `model.rs` turns these into the validated scenario the engine runs.

use serde::Deserialize;
use toml::Spanned;

use crate::dist::DistSpec;
use crate::units::{Bytes, Duration, Millicores};
use crate::workload::pattern::PatternSpec;
use crate::workload::trace::TraceSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub duration: Spanned<Duration>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub step: Option<Spanned<Duration>>,
    #[serde(default)]
    pub warmup: Option<Spanned<Duration>>,
    #[serde(default)]
    pub cluster: Option<Spanned<RawCluster>>,
    #[serde(default)]
    pub metrics: Option<RawMetrics>,
    pub services: Spanned<Vec<Spanned<RawService>>>,
    /// Policy alternatives: the experiment's, read by `crate::experiment` (named here so that the
    /// world accepts the key and lists it among the known ones).
    #[serde(default)]
    #[allow(dead_code)]
    pub policies: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub report: Option<RawReport>,
    /// Expectations for `autosim check`: the experiment's, read by `crate::experiment`.
    #[serde(default)]
    #[allow(dead_code)]
    pub expect: Option<serde::de::IgnoredAny>,
}

/// `[report]`: how the outputs judge a run (not how it runs).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    #[serde(default)]
    pub reversal_window: Option<Spanned<Duration>>,
    #[serde(default)]
    pub demand_utilization: Option<Spanned<f64>>,
    #[serde(default)]
    pub price_per_pod_hour: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub node_pools: Spanned<Vec<Spanned<RawNodePool>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNodePool {
    pub name: Spanned<String>,
    #[serde(default)]
    pub instance: Option<String>,
    pub cpu: Spanned<Millicores>,
    pub memory: Spanned<Bytes>,
    #[serde(default)]
    pub max_pods: Option<Spanned<u32>>,
    #[serde(default)]
    pub price_per_hour: Option<Spanned<f64>>,
    #[serde(default)]
    pub nodes: Option<Spanned<u32>>,
    #[serde(default)]
    pub min: Option<Spanned<u32>>,
    #[serde(default)]
    pub max: Option<Spanned<u32>>,
    #[serde(default)]
    pub permanent: Option<Spanned<u32>>,
    #[serde(default)]
    pub provision_failure: Option<Spanned<f64>>,
    #[serde(default)]
    pub provision_time: Option<Spanned<DistSpec>>,
    #[serde(default)]
    pub drain_time: Option<Spanned<Duration>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// The Kubernetes namespace the series are labelled with (`default`).
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub scrape_interval: Option<Spanned<Duration>>,
    #[serde(default)]
    pub rate_window: Option<Spanned<Duration>>,
    #[serde(default)]
    pub pipeline_delay: Option<Spanned<Duration>>,
    #[serde(default)]
    pub resource_resolution: Option<Spanned<Duration>>,
    /// The upper bounds of `http_request_duration_seconds`'s buckets, seconds (a Prometheus
    /// client's `buckets`).
    #[serde(default)]
    pub buckets: Option<Spanned<Vec<Spanned<f64>>>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawServiceKind {
    Http,
    Queue,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawBalancer {
    RoundRobin,
    Random,
    LeastRequest,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawNoReadyPods {
    Wait,
    Reject,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: Spanned<String>,
    #[serde(default)]
    pub kind: Option<Spanned<RawServiceKind>>,
    #[serde(default)]
    pub balancer: Option<Spanned<RawBalancer>>,
    #[serde(default)]
    pub replicas: Option<Spanned<u32>>,
    #[serde(default)]
    pub concurrency: Option<Spanned<u32>>,
    #[serde(default)]
    pub queue_limit: Option<Spanned<u64>>,
    #[serde(default)]
    pub timeout: Option<Spanned<Duration>>,
    #[serde(default)]
    pub no_ready_pods: Option<Spanned<RawNoReadyPods>>,
    pub service_time: Spanned<DistSpec>,
    #[serde(default)]
    pub cpu_per_request: Option<Spanned<DistSpec>>,
    #[serde(default)]
    pub cpu_idle: Option<Spanned<Millicores>>,
    #[serde(default)]
    pub memory_base: Option<Spanned<Bytes>>,
    #[serde(default)]
    pub memory_per_request: Option<Spanned<Bytes>>,
    #[serde(default)]
    pub resources: Option<Spanned<RawResources>>,
    #[serde(default)]
    pub startup: Option<Spanned<DistSpec>>,
    #[serde(default)]
    pub shutdown_grace: Option<Spanned<Duration>>,
    #[serde(default)]
    pub slo: Option<Spanned<RawSlo>>,
    /// Required unless another service calls this one.
    #[serde(default)]
    pub workload: Option<Spanned<RawWorkload>>,
    /// Calls each request makes to other services, after its `service_time`.
    #[serde(default)]
    pub calls: Option<Spanned<Vec<Spanned<RawCall>>>>,
    /// Work after the calls, holding the slot (default none).
    #[serde(default)]
    pub service_time_after_calls: Option<Spanned<DistSpec>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawCallMode {
    Enqueue,
    Sync,
}

/// One entry of a service's `calls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    pub service: Spanned<String>,
    #[serde(default)]
    pub mode: Option<Spanned<RawCallMode>>,
    #[serde(default)]
    pub count: Option<Spanned<u32>>,
    #[serde(default)]
    pub probability: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    #[serde(default)]
    pub cpu: Option<Spanned<Millicores>>,
    #[serde(default)]
    pub memory: Option<Spanned<Bytes>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlo {
    #[serde(default)]
    pub latency: Option<Spanned<Duration>>,
    #[serde(default)]
    pub percentile: Option<Spanned<f64>>,
    #[serde(default)]
    pub availability: Option<Spanned<f64>>,
}

/// A service's load: one or more sources, all running at once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    #[serde(default)]
    pub pattern: Option<Spanned<PatternSpec>>,
    /// Bin over which a pattern's rate is held constant (default 1s).
    #[serde(default)]
    pub resolution: Option<Spanned<Duration>>,
    #[serde(default)]
    pub trace: Option<Spanned<TraceSpec>>,
    /// One k6 scenario (a table with `executor`) or several by name.
    #[serde(default)]
    pub k6: Option<Spanned<toml::Value>>,
    /// A k6 options object in JSON (what `k6 inspect script.js` prints), relative to the
    /// scenario file.
    #[serde(default)]
    pub k6_options: Option<Spanned<String>>,
}
