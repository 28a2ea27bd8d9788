//! The metrics pipeline every policy sees the cluster through. Policies never read the engine's
//! state; they read what Prometheus scraped and what metrics-server reports, late by the
//! pipeline delay.
//!
//! - **Prometheus**: every pod, once ready, is a scrape target with a phase offset inside the
//!   scrape interval (derived from its name, as Prometheus spreads targets by a hash). Each
//!   service also has one target (its ingress / queue exporter). Queries evaluate PromQL range
//!   functions over the stored samples; a dead pod's series keeps its samples, so a `rate()`
//!   still sees it until they leave the range, as in Prometheus.
//! - **metrics-server**: every `resource_resolution`, the cumulative CPU and the working set of
//!   every running pod; a pod's CPU usage is the rate between its last two points, reported with
//!   their timestamp and window (what the HPA's pod classification reads).
//! - **Delay**: a policy acting at `t` sees the pipeline as it was at `t - pipeline_delay`.

pub mod expr;
pub mod promql;

use std::collections::VecDeque;

use crate::engine::time::{secs, SimTime};

/// The metrics the engine exports, named as the exporters that usually provide them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Pod counter: responses sent, any status.
    HttpRequestsTotal,
    /// Pod counter: error responses (queue full).
    HttpRequestErrorsTotal,
    /// Pod counter: requests served.
    HttpRequestDurationCount,
    /// Pod counter: seconds spent serving, summed.
    HttpRequestDurationSum,
    /// Pod counter: CPU seconds used.
    ContainerCpuUsageSecondsTotal,
    /// Pod gauge: requests executing.
    HttpRequestsInFlight,
    /// Pod gauge: requests waiting in the pod.
    PodQueueLength,
    /// Pod gauge: memory working set, bytes.
    ContainerMemoryWorkingSetBytes,
    /// Service counter: requests that arrived at the service's front door.
    IngressRequestsTotal,
    /// Service gauge: requests waiting in the service's shared queue (kind `queue`), or held at
    /// the front door while no pod is ready (kind `http`).
    QueueLength,
}

pub const POD_METRICS: usize = 8;

impl Metric {
    pub const ALL: [Metric; 10] = [
        Metric::HttpRequestsTotal,
        Metric::HttpRequestErrorsTotal,
        Metric::HttpRequestDurationCount,
        Metric::HttpRequestDurationSum,
        Metric::ContainerCpuUsageSecondsTotal,
        Metric::HttpRequestsInFlight,
        Metric::PodQueueLength,
        Metric::ContainerMemoryWorkingSetBytes,
        Metric::IngressRequestsTotal,
        Metric::QueueLength,
    ];

    /// The Prometheus name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::HttpRequestsTotal => "http_requests_total",
            Metric::HttpRequestErrorsTotal => "http_request_errors_total",
            Metric::HttpRequestDurationCount => "http_request_duration_seconds_count",
            Metric::HttpRequestDurationSum => "http_request_duration_seconds_sum",
            Metric::ContainerCpuUsageSecondsTotal => "container_cpu_usage_seconds_total",
            Metric::HttpRequestsInFlight => "http_requests_in_flight",
            Metric::PodQueueLength => "pod_queue_length",
            Metric::ContainerMemoryWorkingSetBytes => "container_memory_working_set_bytes",
            Metric::IngressRequestsTotal => "ingress_requests_total",
            Metric::QueueLength => "queue_length",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn is_counter(self) -> bool {
        matches!(
            self,
            Metric::HttpRequestsTotal
                | Metric::HttpRequestErrorsTotal
                | Metric::HttpRequestDurationCount
                | Metric::HttpRequestDurationSum
                | Metric::ContainerCpuUsageSecondsTotal
                | Metric::IngressRequestsTotal
        )
    }

    /// True for metrics of pods, false for metrics of the service's own target.
    pub fn per_pod(self) -> bool {
        self.index_pod().is_some()
    }

    fn index_pod(self) -> Option<usize> {
        Some(match self {
            Metric::HttpRequestsTotal => 0,
            Metric::HttpRequestErrorsTotal => 1,
            Metric::HttpRequestDurationCount => 2,
            Metric::HttpRequestDurationSum => 3,
            Metric::ContainerCpuUsageSecondsTotal => 4,
            Metric::HttpRequestsInFlight => 5,
            Metric::PodQueueLength => 6,
            Metric::ContainerMemoryWorkingSetBytes => 7,
            _ => return None,
        })
    }

    fn index(self) -> usize {
        match self {
            Metric::IngressRequestsTotal => 0,
            Metric::QueueLength => 1,
            m => m.index_pod().unwrap_or(0),
        }
    }
}

/// A PromQL function applied to one metric's series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Func {
    /// `rate(m[w])`, per second.
    Rate { window_ns: u64 },
    /// `increase(m[w])`.
    Increase { window_ns: u64 },
    /// `avg_over_time(m[w])`.
    AvgOverTime { window_ns: u64 },
    /// `max_over_time(m[w])`.
    MaxOverTime { window_ns: u64 },
    /// The instant value (`m`), with Prometheus's 5-minute lookback and staleness.
    Last,
}

/// One query: a function of a metric of one service's targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Query {
    pub metric: Metric,
    pub service: usize,
    pub func: Func,
}

/// One series of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesValue {
    /// The pod (`<service>-<ordinal>`), or the service name for the service's own target.
    pub target: String,
    /// The pod's engine id, for matching with the cluster view (`None` for service targets).
    pub pod: Option<u32>,
    pub value: f64,
}

/// The result of a query: one value per series that has one (Prometheus drops the others).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    /// The instant the query was evaluated at (the policy's time less the pipeline delay).
    pub at: SimTime,
    pub series: Vec<SeriesValue>,
}

impl QueryResult {
    /// `sum(...)`; `None` when the result is empty (no series), as PromQL gives no value then.
    pub fn sum(&self) -> Option<f64> {
        if self.series.is_empty() {
            None
        } else {
            Some(self.series.iter().map(|s| s.value).sum())
        }
    }

    /// `avg(...)`.
    pub fn avg(&self) -> Option<f64> {
        self.sum().map(|s| s / self.series.len() as f64)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub t: SimTime,
    pub v: [f64; POD_METRICS],
}

#[derive(Debug, Clone)]
struct Target {
    service: usize,
    pod: Option<u32>,
    name: String,
    samples: VecDeque<Sample>,
    /// When the target went away: instant queries at or after this see no value.
    ended_at: Option<SimTime>,
}

/// A metrics-server reading of one pod.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodResources {
    /// CPU usage over the window, millicores.
    pub cpu_m: f64,
    pub memory_bytes: f64,
    /// End of the window the usage was measured over.
    pub timestamp: SimTime,
    pub window_ns: u64,
}

#[derive(Debug, Clone, Copy)]
struct ResourcePoint {
    t: SimTime,
    cpu_s: f64,
    memory: f64,
}

/// Everything scraped so far, pruned to what queries can still reach.
#[derive(Debug, Clone)]
pub struct MetricsStore {
    targets: Vec<Target>,
    free: Vec<u32>,
    /// Per pod slot: metrics-server points, newest last, and the pod generation they belong to.
    resources: Vec<(u32, VecDeque<ResourcePoint>)>,
    pub delay_ns: u64,
    /// How far back samples are kept.
    retention_ns: u64,
    resource_keep: usize,
}

/// Prometheus's lookback for instant vectors.
pub const LOOKBACK_NS: u64 = 300_000_000_000;

impl MetricsStore {
    pub fn new(cfg: &crate::scenario::MetricsConfig) -> Self {
        let longest_window = cfg.rate_window_ns.max(LOOKBACK_NS).max(600_000_000_000);
        let resource_keep = (cfg.pipeline_delay_ns / cfg.resource_resolution_ns.max(1)) as usize + 3;
        Self {
            targets: Vec::new(),
            free: Vec::new(),
            resources: Vec::new(),
            delay_ns: cfg.pipeline_delay_ns,
            retention_ns: longest_window + cfg.pipeline_delay_ns + 2 * cfg.scrape_interval_ns,
            resource_keep,
        }
    }

    /// The longest window a query may use.
    pub fn max_window_ns(&self) -> u64 {
        self.retention_ns
    }

    /// Register a scrape target; returns its id.
    pub fn add_target(&mut self, service: usize, pod: Option<u32>, name: String) -> u32 {
        let t = Target { service, pod, name, samples: VecDeque::new(), ended_at: None };
        if let Some(id) = self.free.pop() {
            self.targets[id as usize] = t;
            id
        } else {
            self.targets.push(t);
            (self.targets.len() - 1) as u32
        }
    }

    /// The target stops being scraped (its pod is gone). Its samples stay for range queries.
    pub fn end_target(&mut self, id: u32, now: SimTime) {
        self.targets[id as usize].ended_at = Some(now);
    }

    pub fn record(&mut self, id: u32, sample: Sample) {
        let retention = self.retention_ns;
        let target = &mut self.targets[id as usize];
        while target.samples.front().is_some_and(|s| s.t + retention < sample.t) {
            target.samples.pop_front();
        }
        target.samples.push_back(sample);
    }

    /// Drop targets whose samples no query can reach any more.
    pub fn prune(&mut self, now: SimTime) {
        for (i, t) in self.targets.iter_mut().enumerate() {
            if let Some(end) = t.ended_at {
                if end + self.retention_ns < now && !t.name.is_empty() {
                    t.samples = VecDeque::new();
                    t.name = String::new();
                    self.free.push(i as u32);
                }
            }
        }
    }

    /// A metrics-server point for a pod slot (cumulative CPU seconds, working set bytes).
    pub fn record_resources(&mut self, pod: u32, gen: u32, t: SimTime, cpu_s: f64, memory: f64) {
        let i = pod as usize;
        if self.resources.len() <= i {
            self.resources.resize_with(i + 1, || (0, VecDeque::new()));
        }
        let slot = &mut self.resources[i];
        if slot.0 != gen {
            slot.0 = gen;
            slot.1.clear();
        }
        if slot.1.len() >= self.resource_keep {
            slot.1.pop_front();
        }
        slot.1.push_back(ResourcePoint { t, cpu_s, memory });
    }

    /// What metrics-server reports for a pod when read at `now` (through the delay).
    pub fn pod_resources(&self, pod: u32, gen: u32, now: SimTime) -> Option<PodResources> {
        let at = now.saturating_sub(self.delay_ns);
        let (g, points) = self.resources.get(pod as usize)?;
        if *g != gen {
            return None;
        }
        let last = points.iter().rposition(|p| p.t <= at)?;
        if last == 0 {
            return None;
        }
        let (a, b) = (points[last - 1], points[last]);
        let window = b.t - a.t;
        Some(PodResources {
            cpu_m: (b.cpu_s - a.cpu_s).max(0.0) / secs(window) * 1000.0,
            memory_bytes: b.memory,
            timestamp: b.t,
            window_ns: window,
        })
    }

    /// Evaluate a query as seen at `now` (that is, at `now - delay`).
    pub fn query(&self, q: &Query, now: SimTime) -> QueryResult {
        let at = now.saturating_sub(self.delay_ns);
        let mut out = QueryResult { at, series: Vec::new() };
        let idx = q.metric.index();
        let per_pod = q.metric.per_pod();
        let mut pts: Vec<(f64, f64)> = Vec::new();
        for t in &self.targets {
            if t.name.is_empty() || t.service != q.service || t.pod.is_some() != per_pod {
                continue;
            }
            let value = match q.func {
                Func::Last => {
                    if t.ended_at.is_some_and(|e| e <= at) {
                        None
                    } else {
                        t.samples
                            .iter()
                            .rev()
                            .find(|s| s.t <= at)
                            .filter(|s| s.t + LOOKBACK_NS > at)
                            .map(|s| s.v[idx])
                    }
                }
                Func::Rate { window_ns: w }
                | Func::Increase { window_ns: w }
                | Func::AvgOverTime { window_ns: w }
                | Func::MaxOverTime { window_ns: w } => {
                    let start = at.saturating_sub(w);
                    pts.clear();
                    pts.extend(
                        t.samples.iter().filter(|s| s.t > start && s.t <= at).map(|s| (secs(s.t), s.v[idx])),
                    );
                    let (rs, re) = (at as f64 / 1e9 - w as f64 / 1e9, secs(at));
                    match q.func {
                        Func::Rate { .. } => promql::extrapolated_rate(&pts, rs, re, true),
                        Func::Increase { .. } => promql::extrapolated_rate(&pts, rs, re, false),
                        Func::AvgOverTime { .. } => promql::avg_over_time(&pts),
                        _ => promql::max_over_time(&pts),
                    }
                }
            };
            if let Some(value) = value {
                out.series.push(SeriesValue { target: t.name.clone(), pod: t.pod, value });
            }
        }
        out
    }
}
