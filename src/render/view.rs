//! What the human reports and plots are drawn from: a run's policies with their summaries,
//! timeseries, decisions and latency CDFs, and the scenario in brief. Built from the engine's
//! reports after `autosim run`, or read back from the files of separate runs by
//! `autosim compare`; either way the reports read only these outputs, never a policy's
//! internals, so they work for every policy.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::report::{DecisionRow, Report, Row, Summary};
use crate::engine::time::secs;
use crate::scenario::{Scenario, ServiceKind};
use crate::workload::Source;

/// A decision as read back from `decisions.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRec {
    pub time_s: f64,
    pub controller: String,
    pub kind: String,
    pub target: String,
    pub from: u32,
    pub to: u32,
    pub verdict: String,
    pub reason: String,
}

impl DecisionRec {
    /// Whether the reports show this decision (or count it among those they show): an applied
    /// change, a blocked decision, or one whose reason speaks of a fallback. The others (holds,
    /// no-op applies) are only counted.
    pub fn shown(&self) -> bool {
        (self.verdict == "apply" && self.from != self.to) || self.verdict == "blocked" || self.reason.to_lowercase().contains("fallback")
    }
}

impl From<&DecisionRow> for DecisionRec {
    fn from(d: &DecisionRow) -> Self {
        Self {
            time_s: d.time_s,
            controller: d.controller.to_string(),
            kind: d.kind.to_string(),
            target: d.target.clone(),
            from: d.from,
            to: d.to,
            verdict: d.verdict.to_string(),
            reason: d.reason.clone(),
        }
    }
}

/// One policy's run.
#[derive(Debug, Clone)]
pub struct PolicyRun {
    /// The name shown (the policy's name, or made unique by `compare`); also its folder.
    pub label: String,
    pub summary: Summary,
    pub timeseries: Vec<Row>,
    pub decisions: Vec<DecisionRec>,
    pub latency_cdf: Vec<(f64, f64)>,
    /// How many decisions the run made, when `decisions` holds only those the reports show
    /// (applied changes, blocked ones, fallbacks: see [`DecisionRec::shown`]); `None` when it
    /// holds them all.
    pub decisions_total: Option<usize>,
    /// How many applied changes, blocked decisions and fallbacks the run made, when
    /// `decisions` holds only a bounded selection of them (the notable ones the reports list,
    /// and the applied changes a timeline marks: see [`crate::output::rows::read_back`]);
    /// `None` when `decisions` holds them all.
    pub shown_counts: Option<ShownCounts>,
    /// Where the figures read the rows again, once per pass, when `timeseries` holds only the
    /// first step and `decisions` only a selection (a run streamed to its folder); `None`:
    /// they read `timeseries` and `decisions`, which hold every row.
    pub again: Option<Arc<dyn RowsAgain>>,
}

/// An error reading a run's rows again (the reader says which file and why).
pub type AgainError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A run's rows, read again from the start for each pass a figure makes over them (see
/// [`crate::render::passes`]): so long runs are drawn in memory bounded by the figure's pixels.
pub trait RowsAgain: std::fmt::Debug + Send + Sync {
    /// Every timeseries row, in file order.
    fn timeseries(&self) -> Result<Box<dyn Iterator<Item = Result<Row, AgainError>> + '_>, AgainError>;
    /// Every decision, in file order.
    fn decisions(&self) -> Result<Box<dyn Iterator<Item = Result<DecisionRec, AgainError>> + '_>, AgainError>;
}

/// How many of a run's decisions fall in each kind the reports count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShownCounts {
    /// Applied changes (`apply` with `from != to`).
    pub applied: usize,
    pub blocked: usize,
    /// Decisions whose reason speaks of a fallback.
    pub fallbacks: usize,
}

impl PolicyRun {
    pub fn of(r: &Report) -> Self {
        Self {
            label: r.summary.policy.clone(),
            summary: r.summary.clone(),
            timeseries: r.timeseries.clone(),
            decisions: r.decisions.iter().map(DecisionRec::from).collect(),
            latency_cdf: r.latency_cdf.clone(),
            decisions_total: None,
            shown_counts: None,
            again: None,
        }
    }

    /// How many decisions the run made.
    pub fn decisions_made(&self) -> usize {
        self.decisions_total.unwrap_or(self.decisions.len())
    }
}

/// The scenario in brief (`run.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Brief {
    pub scenario: String,
    pub description: Option<String>,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub step_s: f64,
    pub seed: u64,
    pub load_fingerprint: String,
    pub demand_utilization: f64,
    pub services: Vec<ServiceBrief>,
    /// Explicit node pools (empty: the implicit, free cluster).
    pub pools: Vec<PoolBrief>,
    pub policies: Vec<PolicyBrief>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceBrief {
    pub name: String,
    pub kind: String,
    pub replicas: u32,
    pub concurrency: u32,
    pub cpu_request: String,
    pub slo: String,
    pub slo_latency_s: f64,
    pub load: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoolBrief {
    pub name: String,
    pub cpu: String,
    pub memory_gib: f64,
    pub price_per_hour: f64,
    pub nodes: u32,
    pub min: u32,
    pub max: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyBrief {
    pub name: String,
    pub pods: String,
    pub nodes: String,
}

/// The calls other services make to the service named `name`: "calls from fastapi (enqueue)".
fn calls_into<'a>(sc: &'a Scenario, name: &'a str) -> impl Iterator<Item = String> + 'a {
    sc.services.iter().flat_map(move |caller| {
        caller.calls.iter().filter(move |c| sc.services[c.service].name == name).map(move |c| {
            let mode = match c.mode {
                crate::scenario::CallMode::Enqueue => "enqueue",
                crate::scenario::CallMode::Sync => "sync",
            };
            format!("calls from {} ({mode})", caller.name)
        })
    })
}

fn source_text(s: &Source) -> String {
    match s {
        Source::Pattern { spec, .. } => {
            let d = format!("{spec:?}");
            let kind = d.split([' ', '{', '(']).next().unwrap_or("pattern").to_lowercase();
            format!("{kind} pattern")
        }
        Source::Trace { trace, looped } => {
            format!("trace, mean {:.1} req/s{}", trace.mean_rate(), if *looped { ", looped" } else { "" })
        }
        Source::K6(k) => format!("k6 scenario {:?}", k.name),
    }
}

impl Brief {
    /// The brief of a run of `sc` with `seed`, comparing `policies`.
    pub fn of(sc: &Scenario, policies: Vec<PolicyBrief>, seed: u64) -> Self {
        Brief {
            scenario: sc.name.clone(),
            description: sc.description.clone(),
            duration_s: secs(sc.duration_ns),
            warmup_s: secs(sc.warmup_ns),
            step_s: secs(sc.step_ns),
            seed,
            load_fingerprint: crate::report::load_fingerprint(sc, seed),
            demand_utilization: sc.report.demand_utilization,
            services: sc
                .services
                .iter()
                .map(|s| ServiceBrief {
                    name: s.name.clone(),
                    kind: match s.kind {
                        ServiceKind::Http { .. } => "http".into(),
                        ServiceKind::Queue => "queue".into(),
                    },
                    replicas: s.replicas,
                    concurrency: s.concurrency,
                    cpu_request: format!("{}m", s.cpu_request_m),
                    slo: format!(
                        "p{} <= {}, availability {}",
                        s.slo.percentile,
                        crate::units::Duration(s.slo.latency_ns),
                        s.slo.availability
                    ),
                    slo_latency_s: secs(s.slo.latency_ns),
                    load: s
                        .workload
                        .sources
                        .iter()
                        .map(source_text)
                        .chain(calls_into(sc, s.name.as_str()))
                        .collect::<Vec<_>>()
                        .join(" + "),
                })
                .collect(),
            pools: if sc.cluster.implicit {
                Vec::new()
            } else {
                sc.cluster
                    .pools
                    .iter()
                    .map(|p| PoolBrief {
                        name: p.name.clone(),
                        cpu: format!("{}m", p.cpu_m),
                        memory_gib: p.memory_bytes as f64 / 1024f64.powi(3),
                        price_per_hour: p.price_per_hour,
                        nodes: p.nodes,
                        min: p.min,
                        max: p.max,
                    })
                    .collect()
            },
            policies,
        }
    }

    /// What a summary alone tells (for `compare` of runs without `run.json`).
    pub fn from_summary(s: &Summary) -> Self {
        Brief {
            scenario: s.scenario.clone(),
            duration_s: s.duration_s,
            warmup_s: s.warmup_s,
            seed: s.seed,
            load_fingerprint: s.load_fingerprint.clone(),
            demand_utilization: s.elasticity.demand_utilization,
            services: s
                .services
                .iter()
                .map(|(name, v)| ServiceBrief {
                    name: name.clone(),
                    slo: format!("p{} <= {}s, availability {}", v.slo.percentile, v.slo.latency_s, v.slo.availability),
                    slo_latency_s: v.slo.latency_s,
                    ..ServiceBrief::default()
                })
                .collect(),
            ..Brief::default()
        }
    }
}

/// A run (or a comparison of runs) to report on.
#[derive(Debug, Clone)]
pub struct RunView {
    pub brief: Brief,
    pub policies: Vec<PolicyRun>,
    /// Set by `compare`: where each policy came from.
    pub sources: Vec<String>,
}

impl RunView {
    pub fn of(sc: &Scenario, policies: Vec<PolicyBrief>, seed: u64, reports: &[Report]) -> Self {
        RunView { brief: Brief::of(sc, policies, seed), policies: reports.iter().map(PolicyRun::of).collect(), sources: Vec::new() }
    }

    /// The service names, in the order of the first policy's timeseries.
    pub fn services(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(p) = self.policies.first() {
            for r in &p.timeseries {
                if out.contains(&r.service) {
                    break;
                }
                out.push(r.service.clone());
            }
            if out.is_empty() {
                out = p.summary.services.keys().cloned().collect();
            }
        }
        out
    }
}
