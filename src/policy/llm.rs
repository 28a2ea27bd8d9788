//! `kind = "llm-stub"`: seed 003's AI scaling engine, with its loop and guard rails, and a
//! deterministic stand-in for the model.
//!
//! Every `control_interval` (counted from when the previous answer landed: the seed's loop
//! sleeps after acting) the policy reads a metrics snapshot through the pipeline (the seed's
//! `ScalingMetrics`: CPU and memory utilization, request rate, response time, error rate,
//! active connections, queue depth, pod count), sends it as JSON to the model and reads back
//! the seed's decision (`action`, `recommended_pod_count`, `confidence`, `reasoning`,
//! `urgency`, ...). The answer lands `latency` later (a distribution); a malformed or failed
//! reply is replaced by the seed's rule-based fallback. Then the seed's guard rails: a change
//! is applied only at `confidence > min_confidence` (0.75; the seed's `if decision.confidence >
//! 0.75`, strict, so its own scale-down at 0.75 is held back; `confidence_gate = "inclusive"`
//! reads it as `>=`), a scale-up is capped at
//! `scale_up_cap` (2) times the current count, and the count is kept within `min_replicas` and
//! `max_replicas`. Every landing is one decision with its source, action, confidence, urgency
//! and reasoning.
//!
//! With `acts_on = "hpa"` (the seed's HPA Manager) the answer does not move the Deployment:
//! it moves the `minReplicas` / `maxReplicas` of an HPA (the seed's `HPAConfiguration`: CPU 70 %,
//! memory 80 %, or any HPA inline or by manifest under `hpa`), and the HPA, reconciling every
//! sync period, moves the pods. Both layers log their decisions (`llm -> hpa: ...`, `hpa: ...`).
//!
//! The model is the stand-in ([`stub_decision`]: the seed's rules, extended to the signals its
//! prompt asks the model to weigh), with knobs for its imperfections (`malformed_probability`,
//! `failure_probability`, `noise`), or an external program (`command`, attached by the edge,
//! see [`super::external`]), or a replayed recording (`replay`). The stand-in's draws come from
//! streams of its own (`llm/latency/<svc>`, `llm/reply/<svc>`, `llm/noise/<svc>`), one draw
//! of each per call, so every alternative with the same seed sees the same luck.

use std::path::Path;
use std::sync::Arc;

use rand::Rng as _;
use rand_distr::StandardNormal;
use serde::Serialize;

use super::external::{External, ExternalFailure, ExternalSpec, Recording, Replay};
use super::hpa::policy::{Hpa, HpaFactory};
use super::{BuildContext, Decision, Observation, PodContext, Policy, PolicyFactory, Target, Verdict};
use crate::dist::{Dist, DistSpec};
use crate::engine::rng::{self, Rng};
use crate::engine::SimTime;
use crate::metrics::{Func, Metric, Query};
use crate::scenario::params::Params;
use crate::scenario::ConfigError;

// ---------------------------------------------------------------------------------------------
// The snapshot and the decision, as the seed writes them
// ---------------------------------------------------------------------------------------------

/// `ScalingMetrics.to_dict()`, plus what a wrapper may want to know (the service, the
/// simulated time, ready pods, the bounds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub service: String,
    pub time_s: f64,
    pub cpu_utilization_percent: f64,
    pub memory_utilization_percent: f64,
    pub request_rate_per_second: f64,
    pub response_time_ms: f64,
    pub error_rate_percent: f64,
    pub active_connections: u64,
    pub queue_depth: u64,
    pub current_pod_count: u32,
    pub ready_pod_count: u32,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// The seed's `historical_metrics`: the snapshots of the earlier calls within `history`,
    /// oldest first (absent from the JSON when `history` is off).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub historical_metrics: Vec<HistoryPoint>,
}

/// One earlier snapshot, as the history in the prompt carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    pub time_s: f64,
    pub cpu_utilization_percent: f64,
    pub memory_utilization_percent: f64,
    pub request_rate_per_second: f64,
    pub response_time_ms: f64,
    pub error_rate_percent: f64,
    pub current_pod_count: u32,
}

impl HistoryPoint {
    fn of(m: &Snapshot) -> Self {
        HistoryPoint {
            time_s: m.time_s,
            cpu_utilization_percent: m.cpu_utilization_percent,
            memory_utilization_percent: m.memory_utilization_percent,
            request_rate_per_second: m.request_rate_per_second,
            response_time_ms: m.response_time_ms,
            error_rate_percent: m.error_rate_percent,
            current_pod_count: m.current_pod_count,
        }
    }
}

/// The trend the history shows, in words for the stand-in's reasoning (`None` without one).
fn trend(m: &Snapshot) -> Option<String> {
    let first = m.historical_metrics.first()?;
    let span_min = (m.time_s - first.time_s) / 60.0;
    let (a, b) = (first.request_rate_per_second, m.request_rate_per_second);
    if a <= 0.0 {
        return Some(format!("request rate {b:.1} req/s, from 0 over the last {span_min:.0} min"));
    }
    Some(format!("request rate {:+.0}% over the last {span_min:.0} min ({a:.1} -> {b:.1} req/s)", (b / a - 1.0) * 100.0))
}

/// The actions of the seed's prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Maintain,
    ScaleUpHorizontal,
    ScaleDownHorizontal,
    ScaleUpVertical,
    ScaleDownVertical,
}

impl Action {
    pub const ALL: [Action; 5] =
        [Action::Maintain, Action::ScaleUpHorizontal, Action::ScaleDownHorizontal, Action::ScaleUpVertical, Action::ScaleDownVertical];
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Maintain => "maintain",
            Action::ScaleUpHorizontal => "scale_up_horizontal",
            Action::ScaleDownHorizontal => "scale_down_horizontal",
            Action::ScaleUpVertical => "scale_up_vertical",
            Action::ScaleDownVertical => "scale_down_vertical",
        }
    }
}

/// `ScalingDecision`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDecision {
    pub action: Action,
    pub recommended_pod_count: Option<u32>,
    pub recommended_memory_increase: Option<String>,
    pub recommended_cpu_increase: Option<String>,
    pub confidence: f64,
    pub reasoning: String,
    pub urgency: String,
}

impl ModelDecision {
    fn new(action: Action, pods: Option<u32>, confidence: f64, urgency: &str, reasoning: String) -> Self {
        ModelDecision {
            action,
            recommended_pod_count: pods,
            recommended_memory_increase: None,
            recommended_cpu_increase: None,
            confidence,
            reasoning,
            urgency: urgency.into(),
        }
    }

    /// The reply JSON, as the seed's prompt asks for it.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "action": self.action.as_str(),
            "recommended_pod_count": self.recommended_pod_count,
            "recommended_memory_increase": self.recommended_memory_increase,
            "recommended_cpu_increase": self.recommended_cpu_increase,
            "confidence": self.confidence,
            "reasoning": self.reasoning,
            "urgency": self.urgency,
            "estimated_cost_impact": serde_json::Value::Null,
        })
        .to_string()
    }
}

/// The seed's `_rule_based_decision`, exactly (its `int()` truncates: one pod never scales up).
pub fn fallback_decision(m: &Snapshot) -> ModelDecision {
    let n = m.current_pod_count;
    let (cpu, mem) = (m.cpu_utilization_percent, m.memory_utilization_percent);
    if cpu > 80.0 || mem > 85.0 {
        if mem > 90.0 {
            let mut d = ModelDecision::new(Action::ScaleUpVertical, None, 0.85, "high", "Memory utilization >90%, vertical scaling recommended".into());
            d.recommended_memory_increase = Some("50%".into());
            return d;
        }
        return ModelDecision::new(Action::ScaleUpHorizontal, Some((n as f64 * 1.5) as u32), 0.80, "high", "High CPU/memory utilization detected".into());
    }
    if cpu < 20.0 && mem < 30.0 && n > 2 {
        return ModelDecision::new(
            Action::ScaleDownHorizontal,
            Some(2.max((n as f64 * 0.7) as u32)),
            0.75,
            "low",
            "Low resource utilization, system over-provisioned".into(),
        );
    }
    ModelDecision::new(Action::Maintain, Some(n), 0.90, "normal", "All metrics within acceptable ranges".into())
}

/// The stand-in model: the seed's rules as a model that weighs its prompt's signals would
/// apply them, first match wins:
/// 1. error rate > 20%: scale up to 3x, confidence 0.95, critical (the seed's custom rule);
/// 2. memory > 90%: scale up vertically (+50% memory), 0.85, high;
/// 3. CPU > 80% or memory > 85%: scale up by half (rounded up, at least one pod), 0.80, high;
/// 4. a backlog (queue depth above 10 per pod, or response time above 1 s): scale up by half,
///    0.70, normal (a hunch: below the default confidence threshold);
/// 5. CPU < 20%, memory < 30% and more than 2 pods: scale down to 70% (at least 2), 0.75, low;
/// 6. otherwise maintain, 0.90, normal.
pub fn stub_decision(m: &Snapshot) -> ModelDecision {
    let n = m.current_pod_count;
    let (cpu, mem) = (m.cpu_utilization_percent, m.memory_utilization_percent);
    let up_half = (n + 1).max((n as f64 * 1.5).ceil() as u32);
    if m.error_rate_percent > 20.0 {
        return ModelDecision::new(
            Action::ScaleUpHorizontal,
            Some((n * 3).max(n + 1)),
            0.95,
            "critical",
            format!("Error rate {:.1}% > 20%: critical, tripling capacity ({n} -> {})", m.error_rate_percent, (n * 3).max(n + 1)),
        );
    }
    if mem > 90.0 {
        let mut d = ModelDecision::new(Action::ScaleUpVertical, None, 0.85, "high", format!("Memory utilization {mem:.1}% > 90%: vertical scaling recommended"));
        d.recommended_memory_increase = Some("50%".into());
        return d;
    }
    if cpu > 80.0 || mem > 85.0 {
        return ModelDecision::new(
            Action::ScaleUpHorizontal,
            Some(up_half),
            0.80,
            "high",
            format!("High utilization (CPU {cpu:.1}%, memory {mem:.1}%): adding half the capacity ({n} -> {up_half})"),
        );
    }
    if m.queue_depth as f64 > 10.0 * n.max(1) as f64 || m.response_time_ms > 1000.0 {
        return ModelDecision::new(
            Action::ScaleUpHorizontal,
            Some(up_half),
            0.70,
            "normal",
            format!("Backlog building (queue depth {}, response time {:.0} ms) at CPU {cpu:.1}%: more pods may help ({n} -> {up_half})", m.queue_depth, m.response_time_ms),
        );
    }
    if cpu < 20.0 && mem < 30.0 && n > 2 {
        let to = 2.max((n as f64 * 0.7) as u32);
        return ModelDecision::new(
            Action::ScaleDownHorizontal,
            Some(to),
            0.75,
            "low",
            format!("Low utilization (CPU {cpu:.1}%, memory {mem:.1}%): over-provisioned ({n} -> {to})"),
        );
    }
    ModelDecision::new(
        Action::Maintain,
        Some(n),
        0.90,
        "normal",
        format!("All metrics within acceptable ranges (CPU {cpu:.1}%, memory {mem:.1}%, {:.1} req/s)", m.request_rate_per_second),
    )
}

/// Read a reply as the seed does (markdown fences stripped, missing fields defaulted), and
/// check it: a known action, a whole pod count, a confidence in [0, 1].
pub fn parse_reply(text: &str) -> Result<ModelDecision, String> {
    let mut t = text.trim();
    if t.starts_with("```") {
        t = t.split("```").nth(1).unwrap_or("");
        t = t.strip_prefix("json").unwrap_or(t).trim();
    }
    let v: serde_json::Value = serde_json::from_str(t).map_err(|e| format!("not JSON ({e})"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let action = match obj.get("action") {
        None | Some(serde_json::Value::Null) => Action::Maintain,
        Some(serde_json::Value::String(s)) => {
            *Action::ALL.iter().find(|a| a.as_str() == s).ok_or_else(|| format!("unknown action {s:?}"))?
        }
        Some(other) => return Err(format!("`action` is {other}, expected a string")),
    };
    let recommended_pod_count = match obj.get("recommended_pod_count") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if !(f >= 0.0 && f.fract() == 0.0 && f <= crate::scenario::MAX_REPLICAS as f64) {
                return Err(format!("`recommended_pod_count` is {n}, expected a whole number of pods"));
            }
            Some(f as u32)
        }
        Some(other) => return Err(format!("`recommended_pod_count` is {other}, expected a number")),
    };
    let confidence = match obj.get("confidence") {
        None | Some(serde_json::Value::Null) => 0.0,
        Some(serde_json::Value::Number(n)) => {
            let c = n.as_f64().unwrap_or(f64::NAN);
            if !(0.0..=1.0).contains(&c) {
                return Err(format!("`confidence` is {n}, expected 0.0 to 1.0"));
            }
            c
        }
        Some(other) => return Err(format!("`confidence` is {other}, expected a number")),
    };
    let text_of = |k: &str| match obj.get(k) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    Ok(ModelDecision {
        action,
        recommended_pod_count,
        recommended_memory_increase: text_of("recommended_memory_increase"),
        recommended_cpu_increase: text_of("recommended_cpu_increase"),
        confidence,
        reasoning: text_of("reasoning").unwrap_or_default(),
        urgency: text_of("urgency").unwrap_or_else(|| "normal".into()),
    })
}

// ---------------------------------------------------------------------------------------------
// The policy
// ---------------------------------------------------------------------------------------------

/// The stand-in's imperfections.
#[derive(Debug, Clone, PartialEq)]
pub struct StubKnobs {
    pub malformed_probability: f64,
    pub failure_probability: f64,
    /// Relative standard deviation of the error on a recommended scaling count.
    pub noise: f64,
}

#[derive(Debug, Clone)]
pub struct LlmFactory {
    pub service: usize,
    pub service_name: String,
    pub control_interval_ns: u64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub min_confidence: f64,
    /// `confidence >= min_confidence` passes too (else only `>`).
    pub inclusive_gate: bool,
    pub scale_up_cap: f64,
    pub latency: Dist,
    pub timeout_ns: u64,
    pub knobs: StubKnobs,
    pub external: Option<ExternalSpec>,
    /// This service's recorded exchanges, when replaying.
    pub replay: Option<Arc<Vec<super::external::Exchange>>>,
    pub cpu_request_cores: f64,
    pub memory_request_bytes: f64,
    pub rate_window_ns: u64,
    /// `acts_on = "hpa"`: the HPA whose bounds the model's answers move.
    pub hpa: Option<Arc<HpaFactory>>,
    /// How far back the history in the prompt goes (0: none).
    pub history_ns: u64,
}

impl PolicyFactory for LlmFactory {
    fn kind(&self) -> &'static str {
        "llm-stub"
    }
    fn build(&self) -> Box<dyn Policy> {
        self.build_in(BuildContext { seed: 0, external: None })
    }
    fn build_in(&self, ctx: BuildContext) -> Box<dyn Policy> {
        let model = match (ctx.external, &self.replay, &self.external) {
            (Some(e), _, _) => Model::External(e),
            (None, Some(r), _) => Model::Replay(Replay::new(r.clone())),
            (None, None, Some(_)) => Model::Detached,
            (None, None, None) => Model::Stub,
        };
        let s = &self.service_name;
        Box::new(LlmStub {
            f: Arc::new(self.clone()),
            model,
            latency_rng: rng::stream(ctx.seed, &format!("llm/latency/{s}")),
            reply_rng: rng::stream(ctx.seed, &format!("llm/reply/{s}")),
            noise_rng: rng::stream(ctx.seed, &format!("llm/noise/{s}")),
            pending: None,
            stats: Stats::default(),
            hpa: self.hpa.as_ref().map(|h| HpaLayer {
                next: h.config.sync_period_ns,
                base_max: h.spec.max_replicas,
                hpa: h.build_hpa(),
            }),
            llm_next: 0,
            history: std::collections::VecDeque::new(),
        })
    }
    fn queries(&self) -> Vec<&crate::metrics::expr::Expr> {
        self.hpa.as_ref().map_or_else(Vec::new, |h| h.queries())
    }
    fn external(&self) -> Option<&ExternalSpec> {
        self.external.as_ref()
    }
}

enum Model {
    Stub,
    External(Box<dyn External>),
    Replay(Replay),
    /// `command` is set but no program was attached (a run outside `autosim run`).
    Detached,
}

/// An answer on its way.
struct Pending {
    due: SimTime,
    asked_at: SimTime,
    decision: ModelDecision,
    /// `None`: the model's; `Some(why)`: the fallback's, and why.
    fallback: Option<String>,
}

#[derive(Debug, Default)]
struct Stats {
    calls: u64,
    model: u64,
    fallback: u64,
    malformed: u64,
    failed: u64,
    timed_out: u64,
    blocked: u64,
    capped: u64,
    latency_s: f64,
    /// `acts_on = "hpa"`: answers that changed the HPA's bounds.
    hpa_bound_changes: u64,
}

/// The HPA the answers act on, and when it reconciles next.
struct HpaLayer {
    hpa: Hpa,
    next: SimTime,
    /// The HPA's own `maxReplicas`, which an answer may raise but never lowers.
    base_max: i32,
}

struct LlmStub {
    f: Arc<LlmFactory>,
    model: Model,
    latency_rng: Rng,
    reply_rng: Rng,
    noise_rng: Rng,
    pending: Option<Pending>,
    stats: Stats,
    hpa: Option<HpaLayer>,
    /// When the model's loop is due next (with `acts_on = "hpa"`).
    llm_next: SimTime,
    /// The earlier snapshots within `history`.
    history: std::collections::VecDeque<HistoryPoint>,
}

fn sum(obs: &Observation<'_>, metric: Metric, service: usize, func: Func) -> Option<f64> {
    obs.query(&Query { metric, service, func }).sum()
}

fn avg(obs: &Observation<'_>, metric: Metric, service: usize, func: Func) -> Option<f64> {
    obs.query(&Query { metric, service, func }).avg()
}

impl LlmStub {
    /// The snapshot, or what is missing.
    fn snapshot(&self, obs: &Observation<'_>) -> Result<Snapshot, String> {
        let f = &self.f;
        let s = f.service;
        let rate = Func::Rate { window_ns: f.rate_window_ns };
        let d = obs.deployment(s);
        let cpu = avg(obs, Metric::ContainerCpuUsageSecondsTotal, s, rate).ok_or("no CPU data yet")?;
        let mem = avg(obs, Metric::ContainerMemoryWorkingSetBytes, s, Func::Last).ok_or("no memory data yet")?;
        let rps = sum(obs, Metric::HttpRequestsTotal, s, rate).ok_or("no request rate data yet")?;
        let errors = sum(obs, Metric::HttpRequestErrorsTotal, s, rate).unwrap_or(0.0);
        let served = sum(obs, Metric::HttpRequestDurationCount, s, rate).unwrap_or(0.0);
        let latency_sum = sum(obs, Metric::HttpRequestDurationSum, s, rate).unwrap_or(0.0);
        let in_flight = sum(obs, Metric::HttpRequestsInFlight, s, Func::Last).unwrap_or(0.0);
        let pod_queues = sum(obs, Metric::PodQueueLength, s, Func::Last).unwrap_or(0.0);
        let shared_queue = sum(obs, Metric::QueueLength, s, Func::Last).unwrap_or(0.0);
        Ok(Snapshot {
            service: f.service_name.clone(),
            time_s: crate::engine::time::secs(obs.now()),
            cpu_utilization_percent: cpu / f.cpu_request_cores * 100.0,
            memory_utilization_percent: mem / f.memory_request_bytes * 100.0,
            request_rate_per_second: rps,
            response_time_ms: if served > 0.0 { latency_sum / served * 1000.0 } else { 0.0 },
            error_rate_percent: if rps > 0.0 { errors / rps * 100.0 } else { 0.0 },
            active_connections: (in_flight + pod_queues).round().max(0.0) as u64,
            queue_depth: (pod_queues + shared_queue).round().max(0.0) as u64,
            current_pod_count: d.spec_replicas,
            ready_pod_count: d.ready_replicas,
            min_replicas: f.min_replicas,
            max_replicas: f.max_replicas,
            historical_metrics: self.history.iter().cloned().collect(),
        })
    }

    /// The stand-in's reply text to `m`: its decision with noise, or a malformed text, or a
    /// failure. `u` and `z` are this call's draws.
    fn stub_reply(&self, m: &Snapshot, u: f64, z: f64) -> Result<String, ExternalFailure> {
        let k = &self.f.knobs;
        let mut d = stub_decision(m);
        if let Some(t) = trend(m) {
            d.reasoning.push_str(&format!("; trend: {t}"));
        }
        if k.noise > 0.0 {
            if let Some(c) = d.recommended_pod_count {
                let noisy = (c as f64 * (1.0 + k.noise * z)).round().max(0.0) as u32;
                let n = m.current_pod_count;
                // A noisy model misjudges the size, not the direction.
                d.recommended_pod_count = Some(match d.action {
                    Action::ScaleUpHorizontal => noisy.max(n),
                    Action::ScaleDownHorizontal => noisy.min(n),
                    _ => c,
                });
            }
        }
        let text = d.to_json();
        if u < k.malformed_probability {
            // A reply cut short.
            let cut = text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i);
            return Ok(text[..cut].to_string());
        }
        if u < k.malformed_probability + k.failure_probability {
            return Err(ExternalFailure { message: "the model call failed (stand-in failure)".into(), timed_out: false });
        }
        Ok(text)
    }

    /// Ask the model about `m` at `now`: the answer (or the fallback) and when it lands.
    fn ask(&mut self, m: &Snapshot, now: SimTime) -> Pending {
        let f = Arc::clone(&self.f);
        // One draw of each stream per call, used or not.
        let latency = f.latency.sample_ns(&mut self.latency_rng);
        let u: f64 = self.reply_rng.gen();
        let z: f64 = self.noise_rng.sample(StandardNormal);
        self.stats.calls += 1;
        let request = serde_json::to_string(m).expect("a snapshot serializes");
        let reply = match &mut self.model {
            Model::Stub => self.stub_reply(m, u, z),
            Model::External(e) => e.exchange(&request),
            Model::Replay(r) => r.exchange(&request),
            Model::Detached => Err(ExternalFailure {
                message: "no program attached for `command` (run the scenario with `autosim run`)".into(),
                timed_out: false,
            }),
        };
        let mut due_in = latency;
        let (decision, fallback) = match reply {
            Ok(text) => match parse_reply(&text) {
                Ok(d) => {
                    self.stats.model += 1;
                    (d, None)
                }
                Err(e) => {
                    self.stats.malformed += 1;
                    self.stats.fallback += 1;
                    (fallback_decision(m), Some(format!("malformed reply: {e}")))
                }
            },
            Err(fail) => {
                self.stats.failed += 1;
                self.stats.fallback += 1;
                if fail.timed_out {
                    self.stats.timed_out += 1;
                    due_in = f.timeout_ns;
                }
                (fallback_decision(m), Some(format!("model call failed: {}", fail.message)))
            }
        };
        self.stats.latency_s += due_in as f64 / 1e9;
        Pending { due: now.saturating_add(due_in), asked_at: now, decision, fallback }
    }

    /// The guard rails and the decision row of an answer landing now.
    fn land(&mut self, p: Pending, obs: &Observation<'_>) -> Decision {
        let f = Arc::clone(&self.f);
        let current = obs.deployment(f.service).spec_replicas;
        let d = &p.decision;
        let source = match &p.fallback {
            None => "model".to_string(),
            Some(why) => format!("fallback ({why})"),
        };
        let count = d.recommended_pod_count.map_or(String::new(), |c| format!(" {c}"));
        let mut reason = format!("{source}: {}{count} (confidence {:.2}, urgency {}): {}", d.action.as_str(), d.confidence, d.urgency, d.reasoning);
        if p.due > p.asked_at {
            reason.push_str(&format!(" [asked at {:.1}s, answered {:.3}s later]", p.asked_at as f64 / 1e9, (p.due - p.asked_at) as f64 / 1e9));
        }
        let mut notes: Vec<String> = Vec::new();
        let wanted = match d.action {
            Action::ScaleUpHorizontal | Action::ScaleDownHorizontal => match d.recommended_pod_count {
                Some(c) => c,
                None => {
                    notes.push("no recommended_pod_count".into());
                    current
                }
            },
            Action::Maintain => current,
            Action::ScaleUpVertical | Action::ScaleDownVertical => {
                notes.push("not applied: autosim scales replicas, not pod resources".into());
                current
            }
        };
        let mut to = wanted;
        let cap = ((current as f64 * f.scale_up_cap).floor() as u32).max(1);
        if to > current && to > cap {
            to = cap;
            self.stats.capped += 1;
            notes.push(format!("capped at {}x current: {to}", f.scale_up_cap));
        }
        if to > f.max_replicas {
            to = f.max_replicas;
            notes.push(format!("capped at max_replicas {to}"));
        }
        if to < f.min_replicas {
            to = f.min_replicas;
            notes.push(format!("raised to min_replicas {to}"));
        }
        let in_bounds = (f.min_replicas..=f.max_replicas).contains(&current);
        if let Some(h) = &mut self.hpa {
            return Self::land_on_hpa(h, &f, &mut self.stats, d, to, current, in_bounds, reason, notes);
        }
        let verdict = if to == current {
            Verdict::Hold
        } else if !confident(d.confidence, f.min_confidence, f.inclusive_gate) && in_bounds {
            self.stats.blocked += 1;
            let op = if f.inclusive_gate { "<" } else { "<=" };
            notes.push(format!("blocked: confidence {:.2} {op} {:.2}", d.confidence, f.min_confidence));
            Verdict::Blocked
        } else {
            Verdict::Apply
        };
        for n in notes {
            reason.push_str(" | ");
            reason.push_str(&n);
        }
        Decision { target: Target::Deployment(f.service), from: current, to, verdict, reason }
    }
}

impl LlmStub {
    /// `acts_on = "hpa"`: an answer moves the HPA's bounds, `minReplicas` to the count it
    /// recommends (after the guard rails) and `maxReplicas` up to it if it is above; the
    /// decision row holds the Deployment (the HPA moves it) and says what changed.
    #[allow(clippy::too_many_arguments)]
    fn land_on_hpa(
        h: &mut HpaLayer,
        f: &LlmFactory,
        stats: &mut Stats,
        d: &ModelDecision,
        to: u32,
        current: u32,
        in_bounds: bool,
        mut reason: String,
        notes: Vec<String>,
    ) -> Decision {
        let spec = h.hpa.ctrl.spec().clone();
        let (old_min, old_max) = (spec.min_replicas.unwrap_or(1), spec.max_replicas);
        let horizontal = matches!(d.action, Action::ScaleUpHorizontal | Action::ScaleDownHorizontal) && d.recommended_pod_count.is_some();
        let (new_min, new_max) = if horizontal { ((to as i32).max(1), h.base_max.max(to as i32)) } else { (old_min, old_max) };
        let changes = (new_min, new_max) != (old_min, old_max);
        let mut notes = notes;
        let verdict = if !changes {
            Verdict::Hold
        } else if !confident(d.confidence, f.min_confidence, f.inclusive_gate) && in_bounds {
            stats.blocked += 1;
            let op = if f.inclusive_gate { "<" } else { "<=" };
            notes.push(format!("blocked: confidence {:.2} {op} {:.2}", d.confidence, f.min_confidence));
            Verdict::Blocked
        } else {
            let mut next = spec;
            next.min_replicas = Some(new_min);
            next.max_replicas = new_max;
            h.hpa.ctrl.set_spec(&next);
            stats.hpa_bound_changes += 1;
            notes.push(format!("hpa minReplicas {old_min} -> {new_min}, maxReplicas {old_max} -> {new_max}"));
            Verdict::Hold
        };
        for n in notes {
            reason.push_str(" | ");
            reason.push_str(&n);
        }
        Decision { target: Target::Deployment(f.service), from: current, to: current, verdict, reason: format!("llm -> hpa: {reason}") }
    }

    /// The model's loop: a landing, or a call.
    fn wake_llm(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        let now = obs.now();
        let interval = self.f.control_interval_ns;
        if let Some(p) = self.pending.take() {
            if p.due > now {
                self.pending = Some(p);
                return self.pending.as_ref().map_or(now + interval, |p| p.due);
            }
            out.push(self.land(p, obs));
            return now + interval;
        }
        let m = match self.snapshot(obs) {
            Ok(m) => m,
            Err(why) => {
                let current = obs.deployment(self.f.service).spec_replicas;
                out.push(Decision {
                    target: Target::Deployment(self.f.service),
                    from: current,
                    to: current,
                    verdict: Verdict::Hold,
                    reason: format!("metrics unavailable ({why}): no model call"),
                });
                return now + interval;
            }
        };
        if self.f.history_ns > 0 {
            self.history.push_back(HistoryPoint::of(&m));
            while self.history.front().is_some_and(|h| m.time_s - h.time_s > self.f.history_ns as f64 / 1e9) {
                self.history.pop_front();
            }
        }
        let p = self.ask(&m, now);
        if p.due <= now {
            out.push(self.land(p, obs));
            return now + interval;
        }
        let due = p.due;
        self.pending = Some(p);
        due
    }
}

impl Policy for LlmStub {
    fn first_wake(&self) -> SimTime {
        0
    }

    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        if self.hpa.is_none() {
            return self.wake_llm(obs, out);
        }
        // The model first: bounds it moves now are the ones the HPA reconciles against.
        let now = obs.now();
        if now >= self.llm_next {
            self.llm_next = self.wake_llm(obs, out);
        }
        let Some(h) = self.hpa.as_mut() else { return self.llm_next };
        if now >= h.next {
            let at = out.len();
            h.next = h.hpa.wake(obs, out);
            for d in &mut out[at..] {
                d.reason.insert_str(0, "hpa: ");
            }
        }
        self.llm_next.min(h.next)
    }

    fn hpa_status(&self) -> Option<super::HpaStatus> {
        self.hpa.as_ref().and_then(|h| h.hpa.hpa_status())
    }

    fn report(&self) -> Vec<(String, f64)> {
        let s = &self.stats;
        let mut v = vec![
            ("llm_calls".to_string(), s.calls as f64),
            ("llm_model_decisions".to_string(), s.model as f64),
            ("llm_fallback_decisions".to_string(), s.fallback as f64),
            ("llm_malformed_replies".to_string(), s.malformed as f64),
            ("llm_failed_calls".to_string(), s.failed as f64),
            ("llm_timed_out_calls".to_string(), s.timed_out as f64),
            ("llm_blocked_low_confidence".to_string(), s.blocked as f64),
            ("llm_capped_scale_ups".to_string(), s.capped as f64),
            ("llm_mean_latency_s".to_string(), if s.calls > 0 { s.latency_s / s.calls as f64 } else { 0.0 }),
        ];
        if self.hpa.is_some() {
            v.push(("llm_hpa_bound_changes".to_string(), s.hpa_bound_changes as f64));
        }
        if let Model::Replay(r) = &self.model {
            if r.mismatches > 0 {
                v.push(("llm_replay_mismatches".to_string(), r.mismatches as f64));
            }
        }
        v
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// The seed's gate: `confidence > threshold` (strict), or `>=` when inclusive.
pub fn confident(confidence: f64, threshold: f64, inclusive: bool) -> bool {
    if inclusive {
        confidence >= threshold
    } else {
        confidence > threshold
    }
}

fn probability(p: &mut Params, key: &'static str) -> Result<f64, ConfigError> {
    let v: f64 = p.get_or(key, 0.0)?;
    if !(0.0..=1.0).contains(&v) {
        return Err(ConfigError::at(p.span_of(key), format!("{}: `{key}` = {v}: expected a probability from 0 to 1", p.what)));
    }
    Ok(v)
}

/// A name `env = [...]` may list: a portable shell variable name.
fn env_name(v: &str) -> bool {
    let mut b = v.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Read a recording for `replay`; errors name the file and the place in it.
fn read_recording(base_dir: &Path, file: &str) -> Result<Recording, String> {
    let path = base_dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Recording::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `[policies.pods] kind = "llm-stub"`: see the module documentation and docs/scenario.md.
pub fn parse(p: &mut Params, ctx: &PodContext<'_>) -> Result<Arc<dyn PolicyFactory>, ConfigError> {
    let service = ctx.service;
    let sc = ctx.scenario;
    let svc = &sc.services[service];
    let what = p.what.clone();
    let err = |p: &Params, key: &str, m: String| ConfigError::at(p.span_of(key), format!("{what}: `{key}`: {m}"));

    let control_interval_ns = p.get_or("control_interval", crate::units::Duration(60_000_000_000))?.nanos();
    if control_interval_ns < 1_000_000 {
        return Err(err(p, "control_interval", "must be at least 1ms".into()));
    }
    let min_replicas: u32 = p.get_or("min_replicas", 3)?;
    let max_replicas: u32 = p.get_or("max_replicas", 20)?;
    if max_replicas > crate::scenario::MAX_REPLICAS {
        return Err(err(p, "max_replicas", format!("{max_replicas} is more than autosim simulates ({})", crate::scenario::MAX_REPLICAS)));
    }
    if max_replicas < min_replicas.max(1) {
        return Err(err(p, "max_replicas", format!("{max_replicas} is below `min_replicas` ({min_replicas}) or 1")));
    }
    let min_confidence: f64 = p.get_or("min_confidence", 0.75)?;
    if !(0.0..=1.0).contains(&min_confidence) {
        return Err(err(p, "min_confidence", format!("{min_confidence}: expected 0.0 to 1.0")));
    }
    let inclusive_gate = match p.get::<String>("confidence_gate")?.as_deref() {
        None | Some("strict") => false,
        Some("inclusive") => true,
        Some(other) => {
            return Err(err(p, "confidence_gate", format!("{other:?}: expected \"strict\" (the seed's `confidence > 0.75`) or \"inclusive\" (`>=`)")));
        }
    };
    let scale_up_cap: f64 = p.get_or("scale_up_cap", 2.0)?;
    if !(scale_up_cap.is_finite() && scale_up_cap >= 1.0) {
        return Err(err(p, "scale_up_cap", format!("{scale_up_cap}: expected a factor of at least 1, like 2 (at most twice the current pods)")));
    }
    let latency = match p.get::<DistSpec>("latency")? {
        Some(d) => d.resolve(ctx.base_dir).map_err(|m| err(p, "latency", m.to_string()))?,
        None => Dist::Constant(0.0),
    };
    let timeout_ns = p.get_or("timeout", crate::units::Duration(30_000_000_000))?.nanos();
    if timeout_ns == 0 {
        return Err(err(p, "timeout", "must be longer than zero".into()));
    }
    let knobs = StubKnobs {
        malformed_probability: probability(p, "malformed_probability")?,
        failure_probability: probability(p, "failure_probability")?,
        noise: p.get_or("noise", 0.0)?,
    };
    if !(knobs.noise.is_finite() && knobs.noise >= 0.0) {
        return Err(err(p, "noise", format!("{}: expected a relative standard deviation >= 0, like 0.2", knobs.noise)));
    }
    if knobs.malformed_probability + knobs.failure_probability > 1.0 {
        return Err(err(p, "failure_probability", "`malformed_probability` + `failure_probability` is more than 1".into()));
    }
    let command: Option<Vec<String>> = p.get("command")?;
    let record: Option<String> = p.get("record")?;
    let replay: Option<String> = p.get("replay")?;
    let stub_keys = ["malformed_probability", "failure_probability", "noise"];
    if command.is_some() || replay.is_some() {
        let by = if command.is_some() { "command" } else { "replay" };
        for k in stub_keys {
            if p.has(k) {
                return Err(err(p, k, format!("this knob is the stand-in model's; with `{by}` the replies are the program's own")));
            }
        }
    }
    if !p.has("command") && !p.has("replay") && p.has("timeout") {
        return Err(err(p, "timeout", "applies to an external program: set `command` (or `replay`)".into()));
    }
    let env: Vec<String> = p.get("env")?.unwrap_or_default();
    if !p.has("command") && !p.has("replay") && p.has("env") {
        return Err(err(p, "env", "names variables for an external program: set `command` (or `replay`)".into()));
    }
    if let Some(bad) = env.iter().find(|v| !env_name(v)) {
        return Err(err(p, "env", format!("{bad:?} is not a variable name: expected names like \"OPENAI_API_KEY\" (letters, digits and '_', not starting with a digit); the values are autosim's own")));
    }
    let external = match command {
        Some(argv) => {
            if argv.is_empty() || argv[0].is_empty() {
                return Err(err(p, "command", "expected the program and its arguments, like [\"my-llm-wrapper\", \"--model\", \"x\"]".into()));
            }
            if replay.is_some() {
                return Err(err(p, "replay", "replays a recorded run without the program: drop `command` (or `replay`)".into()));
            }
            let record = match &record {
                Some(r) => Some(crate::confine::inside(ctx.base_dir, r, "the scenario's folder").map_err(|m| err(p, "record", m))?),
                None => None,
            };
            Some(ExternalSpec {
                command: argv,
                timeout_ns,
                dir: ctx.base_dir.to_path_buf(),
                record,
                env,
                span: p.span_of("command"),
                service: svc.name.clone(),
            })
        }
        None => {
            if record.is_some() {
                return Err(err(p, "record", "records the exchanges with an external program: set `command` too (the stand-in model is deterministic by itself)".into()));
            }
            None
        }
    };
    let replay = match &replay {
        Some(file) => {
            let rec = read_recording(ctx.base_dir, file).map_err(|m| err(p, "replay", m))?;
            let Some(list) = rec.services.get(&svc.name) else {
                let have: Vec<_> = rec.services.keys().map(|k| format!("{k:?}")).collect();
                return Err(err(p, "replay", format!("the recording has no exchanges for service {:?} (it has: {})", svc.name, have.join(", "))));
            };
            Some(Arc::new(list.clone()))
        }
        None => None,
    };
    if svc.memory_request_bytes == 0 {
        return Err(ConfigError::at(
            p.span.clone(),
            format!("{what}: service {:?} requests no memory: memory utilization is usage / request; set `resources.memory`", svc.name),
        ));
    }
    let history_ns = p.get_or("history", crate::units::Duration(0))?.nanos();
    let hpa = match p.get::<String>("acts_on")?.as_deref() {
        None | Some("replicas") => {
            if p.has("hpa") {
                return Err(err(p, "hpa", "is the HPA the answers act on: set `acts_on = \"hpa\"` too".into()));
            }
            None
        }
        Some("hpa") => Some(Arc::new(inner_hpa(p, ctx, min_replicas, max_replicas)?)),
        Some(other) => return Err(err(p, "acts_on", format!("{other:?}: expected \"replicas\" (the answer sets the Deployment's replicas) or \"hpa\" (it sets an HPA's minReplicas and maxReplicas)"))),
    };
    Ok(Arc::new(LlmFactory {
        service,
        service_name: svc.name.clone(),
        control_interval_ns,
        min_replicas,
        max_replicas,
        min_confidence,
        inclusive_gate,
        scale_up_cap,
        latency,
        timeout_ns,
        knobs,
        external,
        replay,
        cpu_request_cores: svc.cpu_request_m as f64 / 1000.0,
        memory_request_bytes: svc.memory_request_bytes as f64,
        rate_window_ns: sc.metrics.rate_window_ns,
        hpa,
        history_ns,
    }))
}

/// The seed's `HPAConfiguration` defaults: CPU at 70 % and memory at 80 % of requests.
const SEED_HPA_METRICS: &str = r#"[
  { type = "Resource", resource = { name = "cpu", target = { type = "Utilization", average_utilization = 70 } } },
  { type = "Resource", resource = { name = "memory", target = { type = "Utilization", average_utilization = 80 } } },
]"#;

/// The HPA of `acts_on = "hpa"`: the `hpa` table (an HPA's keys: `manifest`, or `metrics`,
/// `behavior`, `min_replicas`, `max_replicas`, `controller`, `adapter`), with the seed's
/// metrics and the policy's bounds for what it leaves out.
fn inner_hpa(p: &mut Params, ctx: &PodContext<'_>, min_replicas: u32, max_replicas: u32) -> Result<HpaFactory, ConfigError> {
    let what = p.what.clone();
    let at = p.span_of("hpa");
    let table = match p.get::<toml::Value>("hpa")? {
        None => toml::Table::new(),
        Some(toml::Value::Table(t)) => t,
        Some(other) => return Err(ConfigError::at(at, format!("{what}: `hpa`: expected a table of HPA settings, found {}", other.type_str()))),
    };
    if table.contains_key("schedule") {
        return Err(ConfigError::at(at, format!("{what}: `hpa.schedule`: the model moves this HPA's bounds; a schedule is not taken here")));
    }
    let mut map = crate::scenario::params::ParamMap::default();
    for (k, v) in table {
        map.key_spans.insert(k.clone(), at.clone());
        map.fields.insert(k, toml::Spanned::new(at.clone(), v));
    }
    if !map.fields.contains_key("manifest") {
        let mut put = |k: &str, v: toml::Value| {
            map.fields.entry(k.to_string()).or_insert_with(|| toml::Spanned::new(at.clone(), v));
        };
        put("min_replicas", toml::Value::Integer(min_replicas.into()));
        put("max_replicas", toml::Value::Integer(max_replicas.into()));
        let metrics: toml::Table = toml::from_str(&format!("m = {SEED_HPA_METRICS}")).expect("the seed's HPA metrics parse");
        put("metrics", metrics["m"].clone());
    }
    let mut sub = Params::new(&map, None, at, format!("{what}: `hpa`"));
    let f = super::hpa::policy::parse_factory(&mut sub, ctx)?;
    sub.finish()?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(cpu: f64, mem: f64, err: f64, n: u32) -> Snapshot {
        Snapshot {
            service: "api".into(),
            time_s: 0.0,
            cpu_utilization_percent: cpu,
            memory_utilization_percent: mem,
            request_rate_per_second: 100.0,
            response_time_ms: 50.0,
            error_rate_percent: err,
            active_connections: 0,
            queue_depth: 0,
            current_pod_count: n,
            ready_pod_count: n,
            min_replicas: 1,
            max_replicas: 20,
            historical_metrics: Vec::new(),
        }
    }

    #[test]
    fn the_seeds_fallback_on_its_own_examples() {
        // main()'s four situations.
        let spike = fallback_decision(&snap(88.0, 85.0, 11.2, 3));
        assert_eq!((spike.action, spike.recommended_pod_count, spike.confidence), (Action::ScaleUpHorizontal, Some(4), 0.80));
        let over = fallback_decision(&snap(12.0, 22.0, 0.1, 8));
        assert_eq!((over.action, over.recommended_pod_count, over.confidence), (Action::ScaleDownHorizontal, Some(5), 0.75));
        let mem = fallback_decision(&snap(54.0, 96.0, 16.5, 5));
        assert_eq!((mem.action, mem.recommended_pod_count), (Action::ScaleUpVertical, None));
        let normal = fallback_decision(&snap(45.0, 55.0, 0.5, 3));
        assert_eq!((normal.action, normal.recommended_pod_count, normal.confidence), (Action::Maintain, Some(3), 0.90));
        // int(1 * 1.5) = 1: the seed's fallback never scales one pod up.
        assert_eq!(fallback_decision(&snap(95.0, 10.0, 0.0, 1)).recommended_pod_count, Some(1));
    }

    #[test]
    fn the_seeds_gate_is_strict() {
        // The seed applies `if decision.confidence > 0.75`: its own over-provisioned example
        // (scale down at 0.75) is held back; the inclusive reading lets it through.
        let over = fallback_decision(&snap(12.0, 22.0, 0.1, 8));
        assert!(!confident(over.confidence, 0.75, false));
        assert!(confident(over.confidence, 0.75, true));
        let spike = fallback_decision(&snap(88.0, 85.0, 11.2, 3));
        assert!(confident(spike.confidence, 0.75, false));
    }

    #[test]
    fn the_stand_in_weighs_more_signals() {
        let d = stub_decision(&snap(88.0, 50.0, 25.0, 3));
        assert_eq!((d.action, d.recommended_pod_count, d.urgency.as_str()), (Action::ScaleUpHorizontal, Some(9), "critical"));
        assert_eq!(stub_decision(&snap(88.0, 50.0, 0.0, 3)).recommended_pod_count, Some(5));
        assert_eq!(stub_decision(&snap(95.0, 10.0, 0.0, 1)).recommended_pod_count, Some(2));
        let mut q = snap(50.0, 50.0, 0.0, 2);
        q.queue_depth = 30;
        let d = stub_decision(&q);
        assert_eq!((d.recommended_pod_count, d.confidence), (Some(3), 0.70));
    }

    #[test]
    fn replies_are_read_as_the_seed_reads_them() {
        let d = parse_reply("```json\n{\"action\": \"scale_up_horizontal\", \"recommended_pod_count\": 6, \"confidence\": 0.9}\n```").unwrap();
        assert_eq!((d.action, d.recommended_pod_count, d.urgency.as_str()), (Action::ScaleUpHorizontal, Some(6), "normal"));
        assert_eq!(parse_reply("{}").unwrap().action, Action::Maintain);
        assert!(parse_reply("{\"action\": \"panic\"}").unwrap_err().contains("unknown action"));
        assert!(parse_reply("{\"recommended_pod_count\": 2.5}").unwrap_err().contains("whole number"));
        assert!(parse_reply("{\"confidence\": 7}").unwrap_err().contains("0.0 to 1.0"));
        assert!(parse_reply("{\"action\": \"mai").unwrap_err().starts_with("not JSON"));
        let round = stub_decision(&snap(88.0, 50.0, 0.0, 3));
        assert_eq!(parse_reply(&round.to_json()).unwrap(), round);
    }
}
