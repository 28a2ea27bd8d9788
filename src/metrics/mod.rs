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
//! - **Optional series**: the latency histogram's buckets and kube-state-metrics' series cost
//!   per request or per object, so a run records them only when one of its queries reads them
//!   (or its series are exported): see [`Optional`].

pub mod eval;
pub mod expr;
pub mod histogram;
pub mod kube_state;
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
    /// With the buckets recorded, a pod target's cumulative bucket counts (finite bounds),
    /// one run of them per sample, in step with `samples`.
    buckets: VecDeque<f64>,
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
    /// The `le` labels of the histogram's finite buckets, when the buckets are recorded.
    bucket_les: Option<Vec<String>>,
    /// kube-state-metrics' readings, when they are recorded.
    kube: Option<kube_state::KubeState>,
}

/// The series families a run records only when a query reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Optional {
    /// `http_request_duration_seconds_bucket`.
    pub buckets: bool,
    /// kube-state-metrics' `kube_*` series.
    pub kube_state: bool,
}

/// The bucket series' name.
pub const BUCKET_SERIES: &str = "http_request_duration_seconds_bucket";

impl Optional {
    pub const ALL: Optional = Optional { buckets: true, kube_state: true };

    /// What `queries` read: a selector naming a series, or whose `__name__` matchers admit it
    /// (a selector without a name admits every series).
    pub fn of<'a>(queries: impl IntoIterator<Item = &'a expr::Expr>) -> Optional {
        let mut o = Optional::default();
        for q in queries {
            let mut sels = Vec::new();
            eval::selectors(q.ast(), &mut sels);
            for vs in sels {
                let admits = |name: &str| match &vs.name {
                    Some(n) => n == name,
                    None => vs.matchers.matchers.iter().filter(|m| m.name == "__name__").all(|m| m.is_match(name)),
                };
                o.buckets |= admits(BUCKET_SERIES);
                o.kube_state |= kube_state::NAMES.iter().any(|n| admits(n));
            }
        }
        o
    }

    /// Whether a selector may read a family that `self` does not record.
    fn misses(&self, sel: &eval::Selector) -> bool {
        let admits = |name: &str| sel.name.is_none_or(|n| n == name) && sel.admits("__name__", name);
        (!self.buckets && admits(BUCKET_SERIES)) || (!self.kube_state && kube_state::NAMES.iter().any(|n| admits(n)))
    }
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
            bucket_les: None,
            kube: None,
        }
    }

    /// Record the optional families `o` asks for from now on; `bounds` are the histogram's
    /// finite bucket bounds, seconds. Families already recorded stay as they are.
    pub fn enable(&mut self, o: Optional, bounds: &[f64]) {
        if o.buckets && self.bucket_les.is_none() {
            self.bucket_les = Some(bounds.iter().map(|&b| histogram::le_label(b)).collect());
        }
        if o.kube_state && self.kube.is_none() {
            self.kube = Some(kube_state::KubeState::default());
        }
    }

    /// The optional families recorded.
    pub fn optional(&self) -> Optional {
        Optional { buckets: self.bucket_les.is_some(), kube_state: self.kube.is_some() }
    }

    /// kube-state-metrics' readings, when recorded, for its scrape to fill.
    pub fn kube_state_mut(&mut self) -> Option<&mut kube_state::KubeState> {
        self.kube.as_mut()
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

    /// When targets stopped being scraped (their series went stale), and when
    /// kube-state-metrics' series of gone objects did.
    pub fn target_ends(&self) -> Vec<SimTime> {
        let mut ends: Vec<SimTime> = self.targets.iter().filter(|t| !t.name.is_empty()).filter_map(|t| t.ended_at).collect();
        if let Some(k) = &self.kube {
            ends.extend(k.ends());
        }
        ends
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
        let t = Target { service, pod, name, node: String::new(), samples: VecDeque::new(), buckets: VecDeque::new(), ended_at: None };
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
        let stride = self.bucket_les.as_ref().map_or(0, Vec::len);
        let target = &mut self.targets[id as usize];
        while target.samples.front().is_some_and(|s| s.t + retention < sample.t) {
            target.samples.pop_front();
            if target.buckets.len() >= stride {
                target.buckets.drain(..stride);
            }
        }
        target.samples.push_back(sample);
    }

    /// [`MetricsStore::record`] a pod's sample with its histogram's cumulative bucket counts
    /// (finite bounds, in order), when the buckets are recorded.
    pub fn record_with_buckets(&mut self, id: u32, sample: Sample, cumulative: impl Iterator<Item = f64>) {
        self.record(id, sample);
        if self.bucket_les.is_some() {
            self.targets[id as usize].buckets.extend(cumulative);
        }
    }

    /// Drop targets whose samples no query can reach any more.
    pub fn prune(&mut self, now: SimTime) {
        for (i, t) in self.targets.iter_mut().enumerate() {
            if let Some(end) = t.ended_at {
                if end + self.retention_ns < now && !t.name.is_empty() {
                    t.samples = VecDeque::new();
                    t.buckets = VecDeque::new();
                    t.name = String::new();
                    self.free.push(i as u32);
                }
            }
        }
        if let Some(k) = &mut self.kube {
            k.prune(now, self.retention_ns);
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

/// Every metric name autosim's series have (the optional ones included).
pub fn series_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Metric::ALL.iter().map(|m| m.name()).collect();
    v.extend(EXTRA_SERIES);
    v.push(BUCKET_SERIES);
    v.extend(kube_state::NAMES);
    v
}

/// Where a series' value comes from in a target's sample.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val {
    /// `Sample::v[i]`.
    Sample(usize),
    /// 1 (`up`).
    One,
    /// The cumulative count of finite bucket `k` (`Target::buckets`).
    Bucket(usize),
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

    /// Every series target `t` has: `(name, family, value)`. A pod's bucket series (one per
    /// finite bound, then `+Inf`, which is the `_count`) are there when they are recorded.
    fn all_of(&self, t: &Target) -> impl Iterator<Item = (&'static str, Family, Val, Option<&str>)> + '_ {
        let fixed = self.series_of(t).iter().map(|&(name, idx, family)| {
            (name, family, if family == Family::Up { Val::One } else { Val::Sample(idx) }, None)
        });
        let les = self.bucket_les.as_deref().filter(|_| t.pod.is_some()).unwrap_or(&[]);
        let finite = les.iter().enumerate().map(|(k, le)| (BUCKET_SERIES, Family::App, Val::Bucket(k), Some(le.as_str())));
        let inf = (t.pod.is_some() && self.bucket_les.is_some()).then_some((BUCKET_SERIES, Family::App, Val::Sample(2), Some("+Inf")));
        fixed.chain(finite).chain(inf)
    }

    /// Every series target `t` has that `sel` selects, with its labels.
    fn selected<'a>(&'a self, t: &'a Target, sel: &eval::Selector) -> impl Iterator<Item = (eval::Labels, Val)> + 'a {
        let want: Option<String> = sel.name.map(str::to_string);
        let matchers: Vec<promql_parser::label::Matcher> = sel.matchers.to_vec();
        // The bucket series differ only in `le`: their other labels are built once.
        let mut bucket_base: Option<eval::Labels> = None;
        self.all_of(t).filter_map(move |(name, family, val, le)| {
            if want.as_deref().is_some_and(|w| w != name) {
                return None;
            }
            let Some(le) = le else {
                let labels = self.labels_of(t, name, family);
                let s = eval::Selector { name: None, matchers: &matchers };
                return s.matches(&labels).then_some((labels, val));
            };
            let base = bucket_base.get_or_insert_with(|| self.labels_of(t, name, family));
            let get = |k: &str| if k == "le" { le } else { base.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str()) };
            if !matchers.iter().all(|m| m.is_match(get(&m.name))) {
                return None;
            }
            let mut labels = base.clone();
            let i = labels.partition_point(|(k, _)| k.as_str() < "le");
            labels.insert(i, ("le".to_string(), le.to_string()));
            Some((labels, val))
        })
    }

    /// The value of `val` in sample `i` of target `t`.
    fn value(&self, t: &Target, i: usize, val: Val) -> f64 {
        match val {
            Val::Sample(k) => t.samples[i].v[k],
            Val::One => 1.0,
            Val::Bucket(k) => {
                let stride = self.bucket_les.as_ref().map_or(0, Vec::len);
                t.buckets.get(i * stride + k).copied().unwrap_or(f64::NAN)
            }
        }
    }

    /// Every sample of every series kept, as OpenMetrics text (`# EOF` at the end), for
    /// exporting a run's raw series (see [`MetricsStore::keep_everything`]). Timestamps are
    /// simulated seconds plus `epoch_s` (the run's start as a Unix time). kube-state-metrics'
    /// series and the histogram's buckets are in it when the run recorded them.
    pub fn openmetrics(&self, epoch_s: u64) -> String {
        use std::collections::BTreeMap;
        use std::fmt::Write;
        let stamp = |t: SimTime| format!("{}.{:03}", epoch_s + t / 1_000_000_000, (t / 1_000_000) % 1000);
        let inner = |labels: &eval::Labels| -> String {
            let parts: Vec<String> = labels
                .iter()
                .filter(|(k, _)| k != "__name__")
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            parts.join(",")
        };
        let mut families: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for t in self.targets.iter().filter(|t| !t.name.is_empty()) {
            for (name, family, val, le) in self.all_of(t) {
                let mut labels = self.labels_of(t, name, family);
                if let Some(le) = le {
                    labels.push(("le".to_string(), le.to_string()));
                    labels.sort();
                }
                let inner = inner(&labels);
                let out = families.entry(name).or_default();
                for (i, s) in t.samples.iter().enumerate() {
                    out.push(format!("{name}{{{inner}}} {} {}", fmt_float(self.value(t, i, val)), stamp(s.t)));
                }
            }
        }
        if let Some(k) = &self.kube {
            for (name, labels, points) in k.all_series(&self.namespace) {
                let inner = inner(&labels);
                let out = families.entry(name).or_default();
                for (t, v) in points {
                    out.push(format!("{name}{{{inner}}} {} {}", fmt_float(v), stamp(t)));
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
        debug_assert!(!self.optional().misses(sel), "a query reads series the run does not record: {sel:?} (its policy's PolicyFactory::queries must list it)");
        for t in self.targets.iter().filter(|t| !t.name.is_empty()) {
            if t.ended_at.is_some_and(|e| e <= at) {
                continue;
            }
            let Some(i) = t.samples.iter().rposition(|s| s.t <= at).filter(|&i| t.samples[i].t + LOOKBACK_NS > at) else { continue };
            for (labels, val) in self.selected(t, sel) {
                out.push(eval::Elem { labels, value: self.value(t, i, val) });
            }
        }
        if let Some(k) = &self.kube {
            k.instant(sel, &self.namespace, at, out);
        }
    }

    fn range(&self, sel: &eval::Selector, at: SimTime, range_ns: u64, out: &mut Vec<eval::RangeSeries>) {
        debug_assert!(!self.optional().misses(sel), "a query reads series the run does not record: {sel:?} (its policy's PolicyFactory::queries must list it)");
        let start = at.saturating_sub(range_ns);
        for t in self.targets.iter().filter(|t| !t.name.is_empty()) {
            for (labels, val) in self.selected(t, sel) {
                let points = t
                    .samples
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.t > start && s.t <= at)
                    .map(|(i, s)| (secs(s.t), self.value(t, i, val)))
                    .collect();
                out.push(eval::RangeSeries { labels, points });
            }
        }
        if let Some(k) = &self.kube {
            k.range(sel, &self.namespace, at, range_ns, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queries(texts: &[&str]) -> Optional {
        let services = vec!["api".to_string()];
        let exprs: Vec<expr::Expr> = texts.iter().map(|t| expr::Expr::parse(t, &services).unwrap()).collect();
        Optional::of(exprs.iter())
    }

    #[test]
    fn only_queries_that_read_them_record_the_optional_series() {
        assert_eq!(queries(&["sum(rate(http_requests_total[2m]))", "rate(http_request_duration_seconds_count[1m])"]), Optional::default());
        assert_eq!(
            queries(&["histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[2m])) by (le))"]),
            Optional { buckets: true, kube_state: false }
        );
        assert_eq!(queries(&["sum(kube_pod_status_phase{phase=\"Pending\"})"]), Optional { buckets: false, kube_state: true });
        // By `__name__` matchers, or none at all (every series).
        assert_eq!(queries(&["count({__name__=~\"kube_.+\"})"]), Optional { buckets: false, kube_state: true });
        assert_eq!(queries(&["count({__name__=~\".*_bucket\"})"]), Optional { buckets: true, kube_state: false });
        assert_eq!(queries(&["count({job=\"api\"})"]), Optional::ALL);
    }

    fn store() -> MetricsStore {
        let cfg = crate::scenario::MetricsConfig::default();
        let mut m = MetricsStore::new(&cfg);
        m.set_labels(vec![("api".into(), false)], "default");
        m.enable(Optional { buckets: true, kube_state: false }, &[0.1, 1.0]);
        m
    }

    fn sample(t: SimTime, count: f64) -> Sample {
        let mut v = [0.0; POD_METRICS];
        v[2] = count;
        Sample { t, v }
    }

    #[test]
    fn bucket_series_follow_their_samples() {
        let mut m = store();
        let id = m.add_target(0, Some(0), "api-0".into());
        let s = 1_000_000_000;
        for k in 1..=4u64 {
            let n = 10.0 * k as f64;
            m.record_with_buckets(id, sample(k * 15 * s, n), [n / 2.0, n * 0.9].into_iter());
        }
        let sel = |name| eval::Selector { name: Some(name), matchers: &[] };
        let mut out = Vec::new();
        eval::Source::instant(&m, &sel(BUCKET_SERIES), 61 * s, &mut out);
        let got: Vec<(String, f64)> =
            out.iter().map(|e| (e.labels.iter().find(|(k, _)| k == "le").unwrap().1.clone(), e.value)).collect();
        assert_eq!(got, vec![("0.1".into(), 20.0), ("1.0".into(), 36.0), ("+Inf".into(), 40.0)]);
        let mut r = Vec::new();
        eval::Source::range(&m, &sel(BUCKET_SERIES), 61 * s, 31 * s, &mut r);
        assert_eq!(r[1].points, vec![(45.0, 27.0), (60.0, 36.0)]);
        // Samples leave the retention with their buckets.
        m.retention_ns = 20 * s;
        m.record_with_buckets(id, sample(75 * s, 50.0), [25.0, 45.0].into_iter());
        assert_eq!(m.targets[id as usize].samples.len(), 2);
        assert_eq!(m.targets[id as usize].buckets, VecDeque::from([20.0, 36.0, 25.0, 45.0]));
        let om = m.openmetrics(0);
        assert!(om.contains("http_request_duration_seconds_bucket{app=\"api\",container=\"api\",deployment=\"api\",instance=\"api-0:8080\",job=\"api\",le=\"1.0\",namespace=\"default\",pod=\"api-0\",service=\"api\"} 45.0 75.000"), "{om}");
    }

    #[test]
    fn without_buckets_a_pod_has_no_bucket_series() {
        let cfg = crate::scenario::MetricsConfig::default();
        let mut m = MetricsStore::new(&cfg);
        m.set_labels(vec![("api".into(), false)], "default");
        let id = m.add_target(0, Some(0), "api-0".into());
        m.record(id, sample(15_000_000_000, 3.0));
        assert!(!m.openmetrics(0).contains("_bucket"));
        assert_eq!(m.optional(), Optional::default());
    }
}
