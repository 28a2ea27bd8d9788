//! What a run produces: the streaming accumulators the engine feeds, and the report they
//! become. The shapes here are the output contract (`summary.json`, `timeseries.csv`,
//! `decisions.csv`), documented in `docs/scenario.md`. Rendering them for people (tables,
//! Markdown, HTML, figures) is `crate::render`'s; this module draws and writes nothing.

pub mod elasticity;
pub mod sink;
pub mod stats;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::time::secs;
use crate::engine::SimTime;
use crate::scenario::{ReportConfig, Slo};
pub use elasticity::{Elasticity, Flaps, ResponseEvent, Responsiveness, StepFn};
pub use stats::{BucketThreshold, Integral, LatencyHist};
pub use sink::{DropRows, KeepRows, RowSink};

/// Default window within which a change of scaling direction counts as a reversal
/// (`report.reversal_window`).
pub const REVERSAL_WINDOW_NS: u64 = 300_000_000_000;
const MINUTE_NS: u64 = 60_000_000_000;
/// The window over which the demand of closed-loop load (k6's virtual users) and of request
/// logs is measured: the work of the requests that arrived in each minute of the run, counted
/// from its start, spread over that minute.
pub const DEMAND_WINDOW_NS: u64 = MINUTE_NS;
/// The version of the elasticity and flapping definitions (`metric_settings.version`): 2 is
/// demand and supply as step functions with their own change points (issue 16).
pub const METRICS_VERSION: u32 = 2;

/// Per-service accumulators. Summary counters count requests that arrived at or after the
/// warm-up; the timeseries step and minute windows count events by when they happen.
#[derive(Debug, Clone)]
pub struct ServiceAcc {
    pub warmup_ns: u64,
    pub slo: Slo,
    /// Every arrival, warm-up included (what a progress bar counts).
    pub seen: u64,
    pub arrived: u64,
    pub completed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub lost: u64,
    /// Requests served after their client gave up (work wasted); already counted as timed out.
    pub wasted: u64,
    /// Completed within the SLO latency.
    pub good: u64,
    /// k6 arrival-rate iterations that found no free VU (k6's `dropped_iterations`), and
    /// iterations of the iteration executors left undone at `max_duration`. Never arrived.
    pub dropped_iterations: u64,
    /// Whether a k6 executor drives the service (its iterations are counted).
    pub k6: bool,
    /// k6 iterations that ran to their end (request and think time), and iterations cut off
    /// by a graceful stop or ramp-down (k6's "complete and interrupted iterations").
    pub iterations: u64,
    pub interrupted_iterations: u64,
    /// Latencies of the counted completions, up to the last closed step (the current step's
    /// join at its close: [`ServiceAcc::close_step`]).
    pub latency: LatencyHist,
    pub queue_wait: LatencyHist,
    /// Latencies of the current step's completions: counted ones, and ones that arrived before
    /// the warm-up. One histogram per completion feeds both the step's row and the summary.
    step_latency: LatencyHist,
    step_uncounted: LatencyHist,
    /// Requests in the system (waiting or executing, abandoned ones included).
    pub in_system: Integral,
    in_system_area_at_warmup: Option<f64>,
    /// Pods bound to a node (holding their requests).
    pub bound_pods: Integral,
    /// CPU seconds used by pods that are gone.
    pub cpu_gone_s: f64,
    pub step: StepAcc,
    minute: MinuteAcc,
    /// Latencies in histogram buckets at or below the SLO's.
    fast: BucketThreshold,
    pub violation_minutes: u64,
    /// Scale events and reversals of the Deployment's spec replicas.
    pub flaps: Flaps,
    /// Requests that arrived when no pod was ready and were held (or queued) for one.
    pub cold_start_waits: u64,
    /// Ready pods (in the balancer or pulling jobs).
    pub ready_pods: Integral,
    /// Ready pods as a step function (the elasticity metrics' supply).
    pub supply: StepFn,
    /// Work of the arrivals of closed-loop sources and request logs, per demand window.
    pub windowed: DemandWindows,
    pub step_ready_start_s: f64,
    /// Total CPU seconds and bound pod-seconds at the start of the current step.
    pub step_cpu_start_s: f64,
    pub step_bound_start_s: f64,
    /// Requests that arrived while no pod was ready.
    pub cold: ColdAcc,
}

/// Work per demand window ([`DEMAND_WINDOW_NS`]), of the windows that had any: `(window
/// index, work ns)` in time order.
#[derive(Debug, Clone, Default)]
pub struct DemandWindows {
    pub windows: Vec<(u64, u128)>,
}

impl DemandWindows {
    #[inline]
    pub fn add(&mut self, window: u64, work_ns: u64) {
        match self.windows.last_mut() {
            Some(w) if w.0 == window => w.1 += u128::from(work_ns),
            _ => self.windows.push((window, u128::from(work_ns))),
        }
    }
}

/// Cold starts: requests that arrived while the service had no ready pod (scaled to zero, or
/// every pod still starting), counted by arrival at or after the warm-up.
#[derive(Debug, Clone, Default)]
pub struct ColdAcc {
    pub arrived: u64,
    pub completed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    /// Their wait from arrival to the start of service, of the completed ones.
    pub wait: LatencyHist,
}

impl ColdAcc {
    #[inline]
    pub fn on_arrival(&mut self, counted: bool) {
        if counted {
            self.arrived += 1;
        }
    }

    pub fn on_complete(&mut self, wait_ns: u64) {
        self.completed += 1;
        self.wait.record(wait_ns);
    }
}

/// `cold_start` in `summary.json`, per service.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ColdStart {
    /// Arrived while no pod of the service was ready.
    pub requests: u64,
    pub completed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    /// Wait of the completed ones, arrival to start of service (s).
    pub wait_mean_s: f64,
    pub wait_p99_s: f64,
    pub wait_max_s: f64,
}

impl ColdStart {
    pub fn of(c: &ColdAcc) -> Self {
        ColdStart {
            requests: c.arrived,
            completed: c.completed,
            rejected: c.rejected,
            timed_out: c.timed_out,
            wait_mean_s: c.wait.mean_s(),
            wait_p99_s: c.wait.quantile_s(0.99),
            wait_max_s: c.wait.max_s(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct StepAcc {
    pub arrivals: u64,
    pub completed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub lost: u64,
    /// Latencies of every completion in the step (filled by [`ServiceAcc::close_step`]).
    pub latency: LatencyHist,
    /// Work (service time, slot-nanoseconds) of the requests that arrived in the step.
    pub work_ns: u128,
}

/// One minute of the SLO: whether its percentile latency is above the target needs no
/// histogram, only the count of completions in buckets at or below the target's
/// ([`BucketThreshold`]); the answer is the histogram's, exactly.
#[derive(Debug, Clone, Default)]
struct MinuteAcc {
    completed: u64,
    fast: u64,
    bad: u64,
}

impl ServiceAcc {
    pub fn new(warmup_ns: u64, slo: Slo, cfg: &ReportConfig) -> Self {
        Self {
            warmup_ns,
            slo,
            seen: 0,
            arrived: 0,
            completed: 0,
            rejected: 0,
            timed_out: 0,
            lost: 0,
            wasted: 0,
            dropped_iterations: 0,
            k6: false,
            iterations: 0,
            interrupted_iterations: 0,
            good: 0,
            latency: LatencyHist::new(),
            queue_wait: LatencyHist::new(),
            step_latency: LatencyHist::new(),
            step_uncounted: LatencyHist::new(),
            fast: BucketThreshold::new(secs(slo.latency_ns)),
            in_system: Integral::default(),
            in_system_area_at_warmup: if warmup_ns == 0 { Some(0.0) } else { None },
            bound_pods: Integral::default(),
            cpu_gone_s: 0.0,
            step: StepAcc::default(),
            minute: MinuteAcc::default(),
            violation_minutes: 0,
            flaps: Flaps::new(cfg.reversal_window_ns),
            supply: StepFn::default(),
            windowed: DemandWindows::default(),
            cold_start_waits: 0,
            ready_pods: Integral::default(),
            step_ready_start_s: 0.0,
            step_cpu_start_s: 0.0,
            step_bound_start_s: 0.0,
            cold: ColdAcc::default(),
        }
    }

    #[inline]
    fn counted(&self, arrival: SimTime) -> bool {
        arrival >= self.warmup_ns
    }

    #[inline]
    pub fn on_arrival(&mut self, now: SimTime, work_ns: u64) {
        self.seen += 1;
        self.step.arrivals += 1;
        self.step.work_ns += u128::from(work_ns);
        if self.counted(now) {
            self.arrived += 1;
        }
        self.in_system.add(now, 1);
    }

    /// The request found no ready pod and waits for one (front-door hold or the shared queue).
    #[inline]
    pub fn on_cold_start_wait(&mut self, arrival: SimTime) {
        if self.counted(arrival) {
            self.cold_start_waits += 1;
        }
    }

    #[inline]
    pub fn on_dropped_iterations(&mut self, n: u64, now: SimTime) {
        if self.counted(now) {
            self.dropped_iterations += n;
        }
    }

    /// A k6 iteration ran to its end.
    pub fn on_iteration(&mut self, now: SimTime) {
        if self.counted(now) {
            self.iterations += 1;
        }
    }

    /// k6 iterations were interrupted (a hard stop).
    pub fn on_interrupted_iterations(&mut self, n: u64, now: SimTime) {
        if self.counted(now) {
            self.interrupted_iterations += n;
        }
    }

    #[inline]
    pub fn on_reject(&mut self, arrival: SimTime, now: SimTime) {
        self.step.rejected += 1;
        self.minute.bad += 1;
        if self.counted(arrival) {
            self.rejected += 1;
        }
        self.in_system.add(now, -1);
    }

    #[inline]
    pub fn on_complete(&mut self, arrival: SimTime, started: SimTime, now: SimTime) {
        let latency = now - arrival;
        self.step.completed += 1;
        self.minute.completed += 1;
        self.minute.fast += u64::from(self.fast.admits(latency));
        if self.counted(arrival) {
            self.completed += 1;
            self.step_latency.record(latency);
            self.queue_wait.record(started - arrival);
            if latency <= self.slo.latency_ns {
                self.good += 1;
            }
        } else {
            self.step_uncounted.record(latency);
        }
        self.in_system.add(now, -1);
    }

    /// Close the current step: the run's latencies gain its counted completions, and the
    /// step's figures are returned (its latencies are every completion in it); the next step
    /// starts empty, keeping the histograms' memory.
    pub fn close_step(&mut self) -> StepAcc {
        self.latency.add(&self.step_latency);
        if self.step_uncounted.count() > 0 {
            self.step_latency.add(&self.step_uncounted);
            self.step_uncounted.reset();
        }
        let mut step = std::mem::take(&mut self.step);
        std::mem::swap(&mut step.latency, &mut self.step_latency);
        step
    }

    /// Give back a closed step's latency histogram, emptied, for the next step.
    pub fn recycle_step(&mut self, mut step: StepAcc) {
        step.latency.reset();
        self.step_latency = step.latency;
    }

    /// A request served after its client gave up leaves the system.
    #[inline]
    pub fn on_wasted(&mut self, arrival: SimTime, now: SimTime) {
        if self.counted(arrival) {
            self.wasted += 1;
        }
        self.in_system.add(now, -1);
    }

    /// A request whose client had given up leaves without being served (refused by a full
    /// pod): already counted as timed out.
    #[inline]
    pub fn on_dropped(&mut self, now: SimTime) {
        self.in_system.add(now, -1);
    }

    /// The client gave up; the request may still be in the system.
    #[inline]
    pub fn on_timeout(&mut self, arrival: SimTime) {
        self.step.timed_out += 1;
        self.minute.bad += 1;
        if self.counted(arrival) {
            self.timed_out += 1;
        }
    }

    /// The request was killed with its pod. `abandoned`: its client had already given up.
    #[inline]
    pub fn on_lost(&mut self, arrival: SimTime, abandoned: bool, now: SimTime) {
        if !abandoned {
            self.step.lost += 1;
            self.minute.bad += 1;
            if self.counted(arrival) {
                self.lost += 1;
            }
        }
        self.in_system.add(now, -1);
    }

    pub fn mark_warmup(&mut self, now: SimTime) {
        if self.in_system_area_at_warmup.is_none() {
            self.in_system_area_at_warmup = Some(self.in_system.area_s(now));
        }
    }

    /// Close a minute window ending at `now`: count it as violated if its percentile latency is
    /// above the SLO or its errors above the budget.
    pub fn close_minute(&mut self, now: SimTime) {
        let start = now.saturating_sub(MINUTE_NS);
        let m = &mut self.minute;
        let total = m.completed + m.bad;
        if start >= self.warmup_ns && total > 0 {
            // Slow when the percentile's histogram bucket lies wholly above the target.
            let slow = m.completed > 0 && BucketThreshold::slow(m.completed, m.fast, self.slo.percentile / 100.0);
            let failing = m.bad as f64 / total as f64 > 1.0 - self.slo.availability;
            if slow || failing {
                self.violation_minutes += 1;
            }
        }
        *m = MinuteAcc::default();
    }

    /// A change of spec replicas.
    pub fn on_scale(&mut self, from: u32, to: u32, now: SimTime) {
        self.flaps.on_change(now, from, to);
    }

    /// A pod became ready (`delta` 1) or stopped being ready (-1).
    #[inline]
    pub fn on_ready_change(&mut self, now: SimTime, delta: i64) {
        self.ready_pods.add(now, delta);
        self.supply.set(now, self.ready_pods.value as f64);
    }

    /// A request of a closed-loop source or a request log arrived with `work_ns` of work.
    #[inline]
    pub fn on_windowed_arrival(&mut self, now: SimTime, work_ns: u64) {
        self.windowed.add(now / DEMAND_WINDOW_NS, work_ns);
    }

    /// Time-average number of requests in the system since the warm-up.
    pub fn mean_in_system(&mut self, now: SimTime) -> f64 {
        let area = self.in_system.area_s(now) - self.in_system_area_at_warmup.unwrap_or(0.0);
        let span = secs(now.saturating_sub(self.warmup_ns));
        if span > 0.0 {
            area / span
        } else {
            0.0
        }
    }
}

/// A fingerprint of what makes a scenario's load: the seed of the run, duration and warm-up, and each
/// service's name, work (service time, CPU per request) and workload (patterns, traces with
/// their data, k6 scenarios). 16 hex digits of FNV-1a over their debug form.
pub fn load_fingerprint(sc: &crate::scenario::Scenario, seed: u64) -> String {
    struct Fnv(u64);
    impl std::fmt::Write for Fnv {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for b in s.bytes() {
                self.0 ^= u64::from(b);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
            Ok(())
        }
    }
    use std::fmt::Write as _;
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    let _ = write!(h, "{seed}|{}|{}", sc.duration_ns, sc.warmup_ns);
    for s in &sc.services {
        let _ = write!(h, "|{}|{:?}|{:?}|{:?}", s.name, s.service_time, s.cpu_per_request, s.workload);
    }
    format!("{:016x}", h.0)
}

// ---------------------------------------------------------------------------------------------
// The report.

/// Everything one run of one policy produced.
#[derive(Debug, Clone)]
pub struct Report {
    pub summary: Summary,
    pub timeseries: Vec<Row>,
    pub decisions: Vec<DecisionRow>,
    /// Latency CDF of all completed requests: (seconds, share), for plots.
    pub latency_cdf: Vec<(f64, f64)>,
    /// Files the policies produced (name in the policy's folder, contents), in policy order.
    pub files: Vec<(String, String)>,
    /// Every load increase that found supply short, per service, in time order.
    pub response_events: Vec<ResponseEvent>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub scenario: String,
    pub policy: String,
    pub seed: u64,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// A fingerprint of the scenario's load (seed, duration, warm-up, each service's name,
    /// work and workload): runs with equal fingerprints saw the same open-loop arrivals.
    pub load_fingerprint: String,
    pub requests: Requests,
    pub latency_s: Latency,
    pub queue_wait_s: QueueWait,
    pub sla: Sla,
    pub cost: Cost,
    pub scaling: Scaling,
    /// Mean over services of their elasticity metrics.
    pub elasticity: Elasticity,
    /// Over the response events of every service.
    pub responsiveness: Responsiveness,
    /// What the metrics were computed under.
    pub metric_settings: MetricSettings,
    pub services: BTreeMap<String, ServiceSummary>,
    /// Figures the policies report about themselves (such as a forecaster's accuracy), by
    /// `<controller>.<target>.<name>`: `pods.api.forecast_mape`.
    pub policy_stats: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceSummary {
    pub slo: SloSummary,
    pub requests: Requests,
    pub latency_s: Latency,
    pub queue_wait_s: QueueWait,
    pub sla: Sla,
    pub cost: ServiceCost,
    pub scaling: Scaling,
    pub elasticity: Elasticity,
    pub responsiveness: Responsiveness,
    pub little: Little,
    pub cold_start: ColdStart,
    /// A service with `calls`: its requests from arrival until every call they made, and the
    /// calls those made, is done (enqueued jobs included). Absent for services without calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end: Option<EndToEnd>,
}

/// The end-to-end latency of a calling service's requests (its own load's, after warm-up):
/// from the request's arrival to the end of the last piece of work it caused.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EndToEnd {
    /// Requests whose every call completed.
    pub completed: u64,
    /// Requests of which some part failed (rejected, timed out or lost, at any service).
    pub failed: u64,
    /// Requests with some part still in flight at the end of the run.
    pub in_flight_at_end: u64,
    /// Over `completed`.
    pub latency_s: Latency,
}

/// The service's objective, as the scenario gives it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SloSummary {
    pub latency_s: f64,
    pub percentile: f64,
    pub availability: f64,
}

impl From<Slo> for SloSummary {
    fn from(s: Slo) -> Self {
        Self { latency_s: secs(s.latency_ns), percentile: s.percentile, availability: s.availability }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Requests {
    pub arrived: u64,
    pub completed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    /// Killed with their pod (shutdown grace ran out, or the node was removed).
    pub lost: u64,
    pub in_flight_at_end: u64,
    /// Served after their client gave up (counted in `timed_out` too).
    pub wasted: u64,
    /// Iterations a k6 executor could not start (not counted in `arrived`): an arrival-rate
    /// iteration that found all `max_vus` busy, or iterations left at `max_duration`.
    pub dropped_iterations: u64,
    /// Requests that arrived when no pod was ready and waited for one (held at the front door,
    /// or in the shared queue); a subset of `arrived`.
    pub cold_start_waits: u64,
    /// k6 iterations that ran to their end (a request and the think time after it; k6's
    /// `iterations`), when a k6 executor drives the load (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    /// k6 iterations interrupted: still running when their scenario's `graceful_stop` ran out,
    /// or their VU's `graceful_ramp_down` (k6's "interrupted iterations"). Their request is
    /// not waited for, but the service still serves it. Absent without k6 executors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted_iterations: Option<u64>,
}

/// Relative precision of the latency percentiles (HDR histograms, 3 significant digits).
pub const LATENCY_PRECISION: f64 = 0.001;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// Relative precision of the percentiles (`mean` and `max` are exact).
    pub precision: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueWait {
    pub mean: f64,
    pub p99: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Sla {
    /// Share of finished requests (completed, rejected, timed out, lost) that completed within
    /// the SLO latency.
    pub attainment: f64,
    /// Completed / finished.
    pub availability: f64,
    /// Minutes whose percentile latency exceeded the SLO or whose errors exceeded the budget.
    pub violation_minutes: u64,
    /// Errors (rejected + timed out + lost) / (finished x (1 - `slo.availability`)): 1 spends
    /// exactly the run's error budget. `null` when the budget is zero (availability 1).
    pub error_budget_burn: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Cost {
    pub pod_seconds: f64,
    pub cpu_core_seconds_requested: f64,
    /// CPU actually used, core-seconds.
    pub cpu_core_seconds_used: f64,
    pub node_seconds: f64,
    pub dollars: f64,
    pub node_seconds_by_pool: BTreeMap<String, f64>,
    pub dollars_by_pool: BTreeMap<String, f64>,
    /// `dollars` per million completed requests (`null` when none completed).
    pub dollars_per_million_requests: Option<f64>,
    /// Allocatable CPU of the nodes paid for, core-seconds.
    pub cpu_core_seconds_allocatable: f64,
    /// Dollars of node CPU paid for and not used by any pod: per pool,
    /// `(allocatable - used) core-seconds x price per core-second`.
    pub idle_capacity_dollars: f64,
    /// Dollars of node CPU paid for and not requested by any pod (room left by bin packing and
    /// spare nodes); at most `idle_capacity_dollars` unless pods use less than they request.
    pub unrequested_capacity_dollars: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceCost {
    pub pod_seconds: f64,
    pub cpu_core_seconds_requested: f64,
    /// CPU actually used, core-seconds.
    pub cpu_core_seconds_used: f64,
}

/// Scale events and reversals: of one Deployment (per service), or of every controller (the
/// run's `scaling`, with `by_controller` and `by_pool`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scaling {
    /// Changes of spec replicas (of a Deployment) or of size (of a node group).
    pub events: u64,
    pub scale_ups: u64,
    pub scale_downs: u64,
    /// Changes of direction within `reversal_window_s` of the previous change of the same
    /// target.
    pub reversals: u64,
    /// `events` per hour of the run.
    pub events_per_hour: f64,
    pub reversal_window_s: f64,
    /// The run's: `pods` (every Deployment) and `nodes` (every node group); the run's figures
    /// are their sums.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_controller: BTreeMap<String, ScaleCount>,
    /// The run's, per node group.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_pool: BTreeMap<String, ScaleCount>,
}

/// Scale events and reversals of a set of targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScaleCount {
    pub events: u64,
    pub scale_ups: u64,
    pub scale_downs: u64,
    pub reversals: u64,
    pub events_per_hour: f64,
}

impl ScaleCount {
    pub fn of(f: &Flaps, hours: f64) -> Self {
        Self {
            events: f.events,
            scale_ups: f.ups,
            scale_downs: f.downs,
            reversals: f.reversals,
            events_per_hour: if hours > 0.0 { f.events as f64 / hours } else { 0.0 },
        }
    }
}

/// The settings the run's metrics were computed under (none changes the simulation): runs
/// compared side by side must share them (`autosim compare` refuses otherwise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricSettings {
    /// [`METRICS_VERSION`]: the definitions of the elasticity and flapping figures.
    pub version: u32,
    /// The timeseries step, seconds (the timeseries, violation minutes are per minute).
    pub step_s: f64,
    pub reversal_window_s: f64,
    pub demand_utilization: f64,
    /// The window of closed-loop and request-log demand, seconds.
    pub demand_window_s: f64,
}

/// Little's law on the run: `in_system_mean` = `arrival_rate_per_s` x mean time in the system
/// (with nothing rejected or timed out, that time is `latency_s.mean`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Little {
    pub in_system_mean: f64,
    pub arrival_rate_per_s: f64,
}

impl Latency {
    pub fn from_hist(h: &LatencyHist) -> Self {
        Self {
            mean: h.mean_s(),
            p50: h.quantile_s(0.5),
            p90: h.quantile_s(0.9),
            p95: h.quantile_s(0.95),
            p99: h.quantile_s(0.99),
            p999: h.quantile_s(0.999),
            max: h.max_s(),
            precision: LATENCY_PRECISION,
        }
    }
}

impl QueueWait {
    pub fn from_hist(h: &LatencyHist) -> Self {
        Self { mean: h.mean_s(), p99: h.quantile_s(0.99) }
    }
}

impl Sla {
    pub fn from_counts(r: &Requests, good: u64, violation_minutes: u64) -> Self {
        let finished = r.completed + r.rejected + r.timed_out + r.lost;
        let (attainment, availability) = if finished == 0 {
            (1.0, 1.0)
        } else {
            (good as f64 / finished as f64, r.completed as f64 / finished as f64)
        };
        Self { attainment, availability, violation_minutes, error_budget_burn: None }
    }

    /// Errors over the budget `finished_budget` (the sum of finished x (1 - availability)).
    pub fn with_burn(mut self, r: &Requests, finished_budget: f64) -> Self {
        let errors = (r.rejected + r.timed_out + r.lost) as f64;
        self.error_budget_burn = if finished_budget > 0.0 {
            Some(errors / finished_budget)
        } else if errors == 0.0 {
            Some(0.0)
        } else {
            None
        };
        self
    }
}

/// One row of `timeseries.csv`: one service over one step. Counts are over the step ending at
/// `time_s`; pod counts, queue length and in-flight are at `time_s`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Row {
    pub time_s: f64,
    pub service: String,
    pub load_rps: f64,
    pub completed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub lost: u64,
    pub replicas_desired: u32,
    pub pods_pending: u32,
    pub pods_starting: u32,
    pub pods_ready: u32,
    pub pods_terminating: u32,
    pub nodes_ready: u32,
    pub nodes_provisioning: u32,
    pub queue_length: u64,
    pub in_flight: u64,
    pub cpu_utilization: f64,
    pub latency_mean_s: f64,
    pub latency_p50_s: f64,
    pub latency_p95_s: f64,
    pub latency_p99_s: f64,
    /// Ready pods needed for the step's load at `report.demand_utilization` (see
    /// [`elasticity`]).
    pub demand_pods: u32,
    /// Time-average of the ready pods over the step.
    pub supply_pods: f64,
}

/// One row of `decisions.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRow {
    pub time_s: f64,
    /// `pods` or `nodes`.
    pub controller: &'static str,
    pub kind: &'static str,
    /// The service, pool or node the decision is about.
    pub target: String,
    pub from: u32,
    pub to: u32,
    /// `apply`, `hold` or `blocked`.
    pub verdict: &'static str,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_events_and_reversals_within_the_configured_window() {
        let slo = Slo { latency_ns: 1_000_000_000, percentile: 99.0, availability: 0.999 };
        let cfg = ReportConfig { reversal_window_ns: 120_000_000_000, demand_utilization: 0.8, ..ReportConfig::default() };
        let mut acc = ServiceAcc::new(0, slo, &cfg);
        const M: u64 = 60_000_000_000;
        // up, down 1 min later (reversal), down, up 3 min later (outside 2 min), no-op.
        for (t, from, to) in [(0, 2, 5), (M, 5, 3), (2 * M, 3, 2), (5 * M, 2, 4), (6 * M, 4, 4)] {
            acc.on_scale(from, to, t);
        }
        let f = acc.flaps;
        assert_eq!((f.events, f.ups, f.downs, f.reversals), (4, 2, 2, 1));
    }
}

/// Whether a run met every service's SLO: the share of requests within the latency target at
/// least the percentile (`sla.attainment >= percentile / 100`) and the availability at least
/// its target. The reason in words when it did not.
pub fn slo_verdict(s: &Summary) -> Result<(), String> {
    let mut why = Vec::new();
    for (name, svc) in &s.services {
        let share = svc.slo.percentile / 100.0;
        if svc.sla.attainment < share {
            why.push(format!(
                "{name}: {:.2}% of requests within {}ms, the SLO asks {}%",
                svc.sla.attainment * 100.0,
                svc.slo.latency_s * 1000.0,
                svc.slo.percentile
            ));
        }
        if svc.sla.availability < svc.slo.availability {
            why.push(format!("{name}: availability {:.3}%, the SLO asks {}%", svc.sla.availability * 100.0, svc.slo.availability * 100.0));
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

/// One line per policy on whether it met its SLO, for the reports.
pub fn slo_lines(summaries: &[(&str, &Summary)]) -> Vec<String> {
    summaries
        .iter()
        .map(|(label, s)| match slo_verdict(s) {
            Ok(()) => format!("{label}: SLO met"),
            Err(why) => format!("{label}: SLO missed ({why})"),
        })
        .collect()
}
