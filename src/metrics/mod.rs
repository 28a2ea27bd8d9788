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

pub mod eval;
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
    /// The node the pod runs on (empty for service targets).
    node: String,
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
    /// Service names, and whether each is a `queue` service (its queue shows as a Redis list).
    services: Vec<(String, bool)>,
    /// The namespace the series are labelled with.
    namespace: String,
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
            services: Vec::new(),
            namespace: "default".to_string(),
        }
    }

    /// Name the services (in order, with whether each is a `queue` service) and the namespace,
    /// for the series' labels.
    pub fn set_labels(&mut self, services: Vec<(String, bool)>, namespace: &str) {
        self.services = services;
        self.namespace = namespace.to_string();
    }

    /// Keep every sample for the whole run (for exporting the run's series).
    pub fn keep_everything(&mut self) {
        self.retention_ns = u64::MAX / 4;
    }

    /// When targets stopped being scraped (their series went stale).
    pub fn target_ends(&self) -> Vec<SimTime> {
        self.targets.iter().filter(|t| !t.name.is_empty()).filter_map(|t| t.ended_at).collect()
    }

    /// The node a pod target runs on, for its series' `node` label.
    pub fn set_target_node(&mut self, id: u32, node: String) {
        self.targets[id as usize].node = node;
    }

    /// The longest window a query may use.
    pub fn max_window_ns(&self) -> u64 {
        self.retention_ns
    }

    /// Register a scrape target; returns its id.
    pub fn add_target(&mut self, service: usize, pod: Option<u32>, name: String) -> u32 {
        let t = Target { service, pod, name, node: String::new(), samples: VecDeque::new(), ended_at: None };
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

/// The families of series a target exports, with the labels each exporter gives them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    /// The application's own metrics, scraped from the pod (Kubernetes pod discovery, with the
    /// pod's `app` label and its deployment relabelled onto the series).
    App,
    /// cAdvisor's, through the kubelet.
    Cadvisor,
    /// The service's own target (its ingress / queue exporter).
    Service,
    /// redis_exporter's `redis_key_size` of the queue's list.
    Redis,
    /// `up`, 1 at every scrape of the target.
    Up,
}

/// Series names beyond [`Metric::ALL`]: `up`, and the Redis exporter's list length.
pub const EXTRA_SERIES: [&str; 2] = ["up", "redis_key_size"];

/// Every metric name autosim's series have.
pub fn series_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Metric::ALL.iter().map(|m| m.name()).collect();
    v.extend(EXTRA_SERIES);
    v
}

impl MetricsStore {
    /// The series of target `t`: `(name, value index, family)`; the index is ignored for `up`.
    fn series_of(&self, t: &Target) -> &'static [(&'static str, usize, Family)] {
        const POD: [(&str, usize, Family); 9] = [
            ("http_requests_total", 0, Family::App),
            ("http_request_errors_total", 1, Family::App),
            ("http_request_duration_seconds_count", 2, Family::App),
            ("http_request_duration_seconds_sum", 3, Family::App),
            ("container_cpu_usage_seconds_total", 4, Family::Cadvisor),
            ("http_requests_in_flight", 5, Family::App),
            ("pod_queue_length", 6, Family::App),
            ("container_memory_working_set_bytes", 7, Family::Cadvisor),
            ("up", 0, Family::Up),
        ];
        const SERVICE: [(&str, usize, Family); 3] =
            [("ingress_requests_total", 0, Family::Service), ("queue_length", 1, Family::Service), ("up", 0, Family::Up)];
        const QUEUE: [(&str, usize, Family); 4] = [
            ("ingress_requests_total", 0, Family::Service),
            ("queue_length", 1, Family::Service),
            ("up", 0, Family::Up),
            ("redis_key_size", 1, Family::Redis),
        ];
        if t.pod.is_some() {
            &POD
        } else if self.services.get(t.service).is_some_and(|s| s.1) {
            &QUEUE
        } else {
            &SERVICE
        }
    }

    /// The labels of series `name` of target `t`, sorted by name.
    fn labels_of(&self, t: &Target, name: &str, family: Family) -> eval::Labels {
        let service = self.services.get(t.service).map_or("", |s| s.0.as_str());
        let ns = self.namespace.as_str();
        let pod = t.pod.is_some();
        let mut l: Vec<(&str, String)> = vec![("__name__", name.to_string()), ("namespace", ns.to_string())];
        match (family, pod) {
            (Family::Cadvisor, _) => {
                l.extend([
                    ("container", service.to_string()),
                    ("instance", t.node.clone()),
                    ("job", "kubelet".to_string()),
                    ("metrics_path", "/metrics/cadvisor".to_string()),
                    ("node", t.node.clone()),
                    ("pod", t.name.clone()),
                    ("service", service.to_string()),
                ]);
            }
            (Family::Redis, _) => {
                l.extend([
                    ("db", "db0".to_string()),
                    ("instance", format!("{service}-redis:9121")),
                    ("job", "redis-exporter".to_string()),
                    ("key", service.to_string()),
                ]);
            }
            (_, true) => {
                l.extend([
                    ("app", service.to_string()),
                    ("container", service.to_string()),
                    ("deployment", service.to_string()),
                    ("instance", format!("{}:8080", t.name)),
                    ("job", service.to_string()),
                    ("node", t.node.clone()),
                    ("pod", t.name.clone()),
                    ("service", service.to_string()),
                ]);
            }
            (_, false) => {
                l.extend([
                    ("instance", format!("{service}:8080")),
                    ("job", service.to_string()),
                    ("service", service.to_string()),
                ]);
            }
        }
        let mut out: eval::Labels = l.into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v)).collect();
        out.sort();
        out
    }

    /// Every series target `t` has that `sel` selects, with its labels.
    fn selected<'a>(&'a self, t: &'a Target, sel: &eval::Selector) -> impl Iterator<Item = (eval::Labels, usize, Family)> + 'a {
        let want: Option<String> = sel.name.map(str::to_string);
        let matchers: Vec<promql_parser::label::Matcher> = sel.matchers.to_vec();
        self.series_of(t).iter().filter_map(move |&(name, idx, family)| {
            if want.as_deref().is_some_and(|w| w != name) {
                return None;
            }
            let labels = self.labels_of(t, name, family);
            let s = eval::Selector { name: None, matchers: &matchers };
            s.matches(&labels).then_some((labels, idx, family))
        })
    }

    /// Every sample of every series kept, as OpenMetrics text (`# EOF` at the end), for
    /// exporting a run's raw series (see [`MetricsStore::keep_everything`]). Timestamps are
    /// simulated seconds plus `epoch_s` (the run's start as a Unix time).
    pub fn openmetrics(&self, epoch_s: u64) -> String {
        use std::collections::BTreeMap;
        use std::fmt::Write;
        let mut families: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for t in self.targets.iter().filter(|t| !t.name.is_empty()) {
            for &(name, idx, family) in self.series_of(t) {
                let labels = self.labels_of(t, name, family);
                let inner: Vec<String> = labels
                    .iter()
                    .filter(|(k, _)| k != "__name__")
                    .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                    .collect();
                let out = families.entry(name).or_default();
                for s in &t.samples {
                    let v = if family == Family::Up { 1.0 } else { s.v[idx] };
                    let mut line = String::new();
                    let _ = write!(line, "{name}{{{}}} {} {}.{:03}", inner.join(","), fmt_float(v), epoch_s + s.t / 1_000_000_000, (s.t / 1_000_000) % 1000);
                    out.push(line);
                }
            }
        }
        let mut text = String::new();
        for (name, lines) in families {
            let counter = name.ends_with("_total") || name.ends_with("_count") || name.ends_with("_sum") || name.ends_with("_bucket");
            let _ = writeln!(text, "# TYPE {name} {}", if counter { "unknown" } else { "gauge" });
            for l in lines {
                text.push_str(&l);
                text.push('\n');
            }
        }
        text.push_str("# EOF\n");
        text
    }
}

fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v:?}")
    }
}

impl eval::Source for MetricsStore {
    fn instant(&self, sel: &eval::Selector, at: SimTime, out: &mut Vec<eval::Elem>) {
        for t in self.targets.iter().filter(|t| !t.name.is_empty()) {
            if t.ended_at.is_some_and(|e| e <= at) {
                continue;
            }
            let Some(s) = t.samples.iter().rev().find(|s| s.t <= at).filter(|s| s.t + LOOKBACK_NS > at) else { continue };
            for (labels, idx, family) in self.selected(t, sel) {
                out.push(eval::Elem { labels, value: if family == Family::Up { 1.0 } else { s.v[idx] } });
            }
        }
    }

    fn range(&self, sel: &eval::Selector, at: SimTime, range_ns: u64, out: &mut Vec<eval::RangeSeries>) {
        let start = at.saturating_sub(range_ns);
        for t in self.targets.iter().filter(|t| !t.name.is_empty()) {
            for (labels, idx, family) in self.selected(t, sel) {
                let points = t
                    .samples
                    .iter()
                    .filter(|s| s.t > start && s.t <= at)
                    .map(|s| (secs(s.t), if family == Family::Up { 1.0 } else { s.v[idx] }))
                    .collect();
                out.push(eval::RangeSeries { labels, points });
            }
        }
    }
}
