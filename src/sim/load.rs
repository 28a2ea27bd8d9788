//! Load sources in the engine: open-loop generators feed the arrival list; virtual users of
//! k6's closed-loop executors send a request, wait for its end, think, and send the next.

use super::{Ev, Simulation};
use crate::engine::rng::{self, Rng};
use crate::engine::SimTime;
use crate::service::NO_ORIGIN;
use crate::workload::k6::{Executor, RateStages};
use crate::workload::source::{Binned, RateFn, Replay};
use crate::workload::trace::{Trace, WithinBin};
use crate::workload::Source;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Vu {
    Idle,
    /// Waiting for its request's end.
    Busy,
    /// Thinking before its next iteration.
    Thinking,
}

pub(super) enum Load {
    Binned(Binned),
    Replay(Replay),
    /// k6 arrival-rate executors: iteration starts on a schedule, each needing a free VU.
    Rate { stages: RateStages, poisson: bool, start: SimTime, end: SimTime, max_vus: u32, busy: u32 },
    /// k6 VU executors: VUs looping over iterations.
    Vus { vus: Vec<Vu>, target: u32, end: SimTime, kind: VuKind },
}

pub(super) enum VuKind {
    /// constant-vus / ramping-vus: VU targets change at these instants.
    Stages { changes: Vec<(SimTime, u32)> },
    /// per-vu-iterations: each VU's count left.
    PerVu { left: Vec<u64> },
    /// shared-iterations: iterations left for all.
    Shared { left: u64 },
}

pub(super) struct SourceRt {
    pub service: usize,
    /// Arrival times (open loop).
    rng: Rng,
    /// Think times of its VUs: a stream apart, so that open-loop arrival times never depend
    /// on response times.
    think_rng: Rng,
    /// The work of its requests, drawn in the order they are sent: the n-th request of an
    /// open-loop source has the same work under every policy.
    pub work: Rng,
    think: Option<crate::dist::Dist>,
    /// When the source starts (a k6 scenario's `start_time`).
    start: SimTime,
    pub load: Load,
    /// Its demand is measured on its arrivals, per window (closed-loop load and request logs,
    /// or any load of a service whose mean service time is infinite); otherwise it is the
    /// source's rate (see [`super::demand`]).
    pub windowed: bool,
}

/// The shortest iteration of a VU (request round trip plus think time): a network round trip.
/// Keeps a VU whose requests fail at once from spinning without simulated time passing.
pub const MIN_ITERATION_NS: u64 = 1_000_000;

impl Simulation<'_> {
    /// Build the run state of every service's sources.
    pub(super) fn build_sources(&mut self) {
        let end = self.end;
        for (s, svc) in self.sc.services.iter().enumerate() {
            for (j, src) in svc.workload.sources.iter().enumerate() {
                let name = format!("load/{}/{j}", svc.name);
                let rng = rng::stream(self.seed, &name);
                let think_rng = rng::stream(self.seed, &format!("think/{}/{j}", svc.name));
                let work = rng::stream(self.seed, &format!("work/{}/{j}", svc.name));
                let key = rng::fnv1a(&name) ^ self.seed;
                let start = match src {
                    Source::K6(k) => k.start_ns,
                    _ => 0,
                };
                let (load, think) = match src {
                    Source::Pattern { spec, resolution_ns } => (
                        Load::Binned(Binned::new(RateFn::Pattern { spec: spec.clone(), key }, *resolution_ns, WithinBin::Poisson, 0)),
                        None,
                    ),
                    Source::Trace { trace, looped } => match trace.as_ref() {
                        Trace::Bins { bin_ns, rates, arrivals, .. } => (
                            Load::Binned(Binned::new(RateFn::Table { rates: rates.clone(), looped: *looped }, *bin_ns, *arrivals, 0)),
                            None,
                        ),
                        Trace::Requests { times_ns, work_ns, span_ns } => {
                            (Load::Replay(Replay::new(times_ns.clone(), work_ns.clone(), *span_ns, *looped, 0)), None)
                        }
                    },
                    Source::K6(k) => {
                        let think = Some(k.think_time.clone());
                        match &k.exec {
                            Executor::ArrivalRate { stages, poisson, max_vus, .. } => (
                                Load::Rate {
                                    stages: stages.clone(),
                                    poisson: *poisson,
                                    start,
                                    end: start.saturating_add(stages.total_duration_ns()).min(end),
                                    max_vus: *max_vus,
                                    busy: 0,
                                },
                                think,
                            ),
                            Executor::Vus { vu_stages, .. } => {
                                let changes: Vec<_> =
                                    vu_stages.changes().into_iter().map(|(t, n)| (start.saturating_add(t), n)).collect();
                                let max = changes.iter().map(|c| c.1).max().unwrap_or(0);
                                (
                                    Load::Vus {
                                        vus: vec![Vu::Idle; max as usize],
                                        target: 0,
                                        end: start.saturating_add(vu_stages.total_duration_ns()).min(end),
                                        kind: VuKind::Stages { changes },
                                    },
                                    think,
                                )
                            }
                            Executor::Iterations { vus, per_vu, shared, max_duration_ns } => {
                                let kind = match (per_vu, shared) {
                                    (Some(n), _) => VuKind::PerVu { left: vec![*n; *vus as usize] },
                                    (None, Some(n)) => VuKind::Shared { left: *n },
                                    (None, None) => VuKind::Shared { left: 0 },
                                };
                                (
                                    Load::Vus {
                                        vus: vec![Vu::Idle; *vus as usize],
                                        target: *vus,
                                        end: start.saturating_add(*max_duration_ns).min(end),
                                        kind,
                                    },
                                    think,
                                )
                            }
                        }
                    }
                };
                let windowed = super::demand::windowed(svc, src);
                self.sources.push(SourceRt { service: s, rng, think_rng, work, think, start, load, windowed });
            }
        }
        self.arrivals = vec![crate::engine::queue::Key::MAX; self.sources.len()];
        self.pending_work = vec![None; self.sources.len()];
        for i in 0..self.sources.len() {
            match &self.sources[i].load {
                Load::Vus { kind: VuKind::Stages { changes }, .. } => {
                    if let Some(&(t, _)) = changes.first() {
                        if t <= self.end {
                            self.events.push(t, Ev::VuTarget { src: i as u32, idx: 0 });
                        }
                    }
                }
                Load::Vus { vus, .. } => {
                    let start = self.sources[i].start;
                    for vu in 0..vus.len() as u32 {
                        if start < self.end {
                            self.events.push(start, Ev::VuIter { src: i as u32, vu });
                        }
                    }
                }
                _ => self.advance_source(i),
            }
        }
    }

    /// Set the open-loop source's next arrival.
    pub(super) fn advance_source(&mut self, i: usize) {
        let end = self.end;
        let src = &mut self.sources[i];
        let next = match &mut src.load {
            Load::Binned(b) => b.next(&mut src.rng, end).map(|t| (t, None)),
            Load::Replay(r) => r.next(end),
            Load::Rate { stages, poisson, start, end: stop, .. } => {
                let off = if *poisson { stages.next_start_poisson(&mut src.rng) } else { stages.next_start() };
                off.map(|o| *start + o).filter(|&t| t < *stop).map(|t| (t, None))
            }
            Load::Vus { .. } => None,
        };
        self.pending_work[i] = next.and_then(|n| n.1);
        self.set_next_arrival(i, next.map(|n| n.0).filter(|&t| t < end));
    }

    /// An open-loop source's arrival is due.
    pub(super) fn on_source_arrival(&mut self, i: usize) {
        let work = self.pending_work[i];
        self.advance_source(i);
        let s = self.sources[i].service;
        if let Load::Rate { max_vus, busy, .. } = &mut self.sources[i].load {
            // k6 starts an iteration only on a free VU; without one it is dropped.
            if *busy >= *max_vus {
                self.world.services[s].acc.on_dropped_iterations(1, self.now);
                return;
            }
            *busy += 1;
            self.issue(i, work, i as u32, 0);
        } else {
            self.issue(i, work, NO_ORIGIN, 0);
        }
    }

    /// A ramping/constant-VUs target change.
    pub(super) fn on_vu_target(&mut self, i: usize, idx: usize) {
        let now = self.now;
        let Load::Vus { vus, target, kind: VuKind::Stages { changes }, end } = &mut self.sources[i].load else { return };
        let (_, n) = changes[idx];
        *target = n;
        let mut start = Vec::new();
        if now < *end {
            for (v, state) in vus.iter_mut().enumerate().take(n as usize) {
                if *state == Vu::Idle {
                    *state = Vu::Thinking;
                    start.push(v as u32);
                }
            }
        }
        let next = changes.get(idx + 1).map(|c| c.0);
        for v in start {
            self.events.push(now, Ev::VuIter { src: i as u32, vu: v });
        }
        if let Some(t) = next {
            if t <= self.end {
                self.events.push(t, Ev::VuTarget { src: i as u32, idx: (idx + 1) as u32 });
            }
        }
    }

    /// A VU starts an iteration, if it is still wanted and has one to do.
    pub(super) fn on_vu_iter(&mut self, i: usize, vu: u32) {
        let now = self.now;
        let Load::Vus { vus, target, end, kind } = &mut self.sources[i].load else { return };
        let v = vu as usize;
        let has_work = match kind {
            VuKind::Stages { .. } => true,
            VuKind::PerVu { left } => left[v] > 0,
            VuKind::Shared { left } => *left > 0,
        };
        if now >= *end || vu >= *target || !has_work {
            vus[v] = Vu::Idle;
            return;
        }
        match kind {
            VuKind::PerVu { left } => left[v] -= 1,
            VuKind::Shared { left } => *left -= 1,
            VuKind::Stages { .. } => {}
        }
        vus[v] = Vu::Busy;
        self.issue(i, None, i as u32, vu);
    }

    /// The client of a request from source `origin` (VU `vu`) that arrived at `arrival` is done
    /// with it: response, error, timeout or loss.
    #[inline(always)]
    pub(super) fn client_done(&mut self, origin: u32, vu: u32, arrival: SimTime) {
        // Open-loop sources wait for nobody: the common case stays in line.
        if origin != NO_ORIGIN {
            self.closed_loop_done(origin, vu, arrival);
        }
    }

    #[inline(never)]
    fn closed_loop_done(&mut self, origin: u32, vu: u32, arrival: SimTime) {
        let i = origin as usize;
        let now = self.now;
        let src = &mut self.sources[i];
        let think = src.think.as_ref().map_or(0, |d| d.sample_ns(&mut src.think_rng));
        match &mut src.load {
            Load::Rate { busy, .. } => {
                if think == 0 {
                    *busy -= 1;
                } else {
                    self.events.push(now + think, Ev::VuFree { src: origin });
                }
            }
            Load::Vus { vus, .. } => {
                vus[vu as usize] = Vu::Thinking;
                let next = (now + think).max(arrival + MIN_ITERATION_NS);
                self.events.push(next, Ev::VuIter { src: origin, vu });
            }
            _ => {}
        }
    }

    /// An arrival-rate VU finished thinking.
    pub(super) fn on_vu_free(&mut self, i: usize) {
        if let Load::Rate { busy, .. } = &mut self.sources[i].load {
            *busy -= 1;
        }
    }

    /// At the end of the run: iterations of the iteration executors never started are dropped
    /// (as k6 reports them when `max_duration` cuts a scenario short).
    pub(super) fn count_undone_iterations(&mut self) {
        let now = self.now;
        for src in &self.sources {
            let left = match &src.load {
                Load::Vus { kind: VuKind::PerVu { left }, .. } => left.iter().sum(),
                Load::Vus { kind: VuKind::Shared { left }, .. } => *left,
                _ => 0,
            };
            if left > 0 {
                self.world.services[src.service].acc.on_dropped_iterations(left, now);
            }
        }
    }
}
