//! Load: where requests come from. Synthetic patterns, replayed traces and k6-style executors.
//!
//! A service's workload is one or more sources. Open-loop sources (patterns, traces, k6's
//! arrival-rate executors) send requests on their own schedule; closed-loop k6 executors
//! (virtual users) send a request, wait for its end (response, error or timeout), think, and
//! send the next. Every source draws from its own random stream, so every policy sees the same
//! open-loop arrivals.

pub mod k6;
pub mod pattern;
pub mod source;
pub mod trace;

use std::sync::Arc;

/// A service's load: its sources, all running at once.
#[derive(Debug, Clone)]
pub struct Workload {
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone)]
pub enum Source {
    /// Poisson arrivals at a synthetic rate, held constant over `resolution_ns` bins.
    Pattern { spec: pattern::PatternSpec, resolution_ns: u64 },
    /// A replayed trace, shared by every run of the scenario.
    Trace { trace: Arc<trace::Trace>, looped: bool },
    /// A k6 scenario.
    K6(k6::K6Scenario),
}

impl Workload {
    /// Mean open-loop rate of a constant pattern (for tests and checks); `None` otherwise.
    pub fn mean_rate(&self) -> f64 {
        self.sources
            .iter()
            .map(|s| match s {
                Source::Pattern { spec: pattern::PatternSpec::Constant { rate }, .. } => *rate,
                _ => 0.0,
            })
            .sum()
    }
}
