//! Load sources in the engine: open-loop generators feed the arrival list; virtual users of
//! k6's closed-loop executors send a request, wait for its end, think, and send the next.

use super::ahead::{Ahead, Drawer};
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
    /// Waiting for the end of its request, sent at this time.
    Busy(SimTime),
    /// Its `VuIter` is due at `at`: the end of its iteration's think time (`after`), or a
    /// first start. An event at another time is stale (the iteration it ended was interrupted).
    Next { at: SimTime, after: bool },
}

pub(super) enum Load {
    /// Patterns, traces and request logs: every arrival is sent, so they are drawn ahead.
    Ahead(Ahead),
    /// k6 arrival-rate executors: iteration starts on a schedule, each needing a free VU.
    /// `busy` VUs are in an iteration (its request or its think time); at `stop` (the end of
    /// the graceful stop) they are interrupted and the executor is `over`.
    Rate { stages: RateStages, poisson: bool, start: SimTime, end: SimTime, max_vus: u32, busy: u32, stop: SimTime, over: bool },
    /// k6 VU executors: VUs looping over iterations. `steps` are the target changes and hard
    /// stops, in time order (a change before a stop at the same instant, as k6 takes them).
    Vus { vus: Vec<Vu>, target: u32, end: SimTime, kind: VuKind, steps: Vec<(SimTime, VuStep)> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VuStep {
    /// The target VU count becomes this (ramping-vus' raw steps).
    Target(u32),
    /// VUs of this index and above are stopped; their iterations in progress are interrupted.
    HardStop(u32),
}

pub(super) enum VuKind {
    /// constant-vus / ramping-vus: VU targets change at its `steps`.
    Stages,
    /// per-vu-iterations: each VU's count left.
    PerVu { left: Vec<u64> },
    /// shared-iterations: iterations left for all.
    Shared { left: u64 },
}

pub(super) struct SourceRt {
    pub service: usize,
    /// Arrival times (open loop). A source drawn ahead draws from its drawer's copy of this
    /// stream and of `work`; its own stay unused.
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

impl SourceRt {
    /// See [`Simulation::draw_arrivals_with`].
    pub(super) fn hand_over(&mut self, spawn: &mut dyn FnMut(Drawer) -> Box<dyn super::ahead::Chunks>) {
        if let Load::Ahead(a) = &mut self.load {
            a.hand_over(spawn);
        }
    }
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
                        Load::Ahead(Ahead::new(Drawer::binned(
                            Binned::new(RateFn::Pattern { spec: spec.clone(), key }, *resolution_ns, WithinBin::Poisson, 0),
                            rng.clone(),
                            work.clone(),
                            svc,
                            end,
                        ))),
                        None,
                    ),
                    Source::Trace { trace, looped } => match trace.as_ref() {
                        Trace::Bins { bin_ns, rates, arrivals, .. } => (
                            Load::Ahead(Ahead::new(Drawer::binned(
                                Binned::new(RateFn::Table { rates: rates.clone(), looped: *looped }, *bin_ns, *arrivals, 0),
                                rng.clone(),
                                work.clone(),
                                svc,
                                end,
                            ))),
                            None,
                        ),
                        Trace::Requests { times_ns, work_ns, span_ns } => {
                            let r = Replay::new(times_ns.clone(), work_ns.clone(), *span_ns, *looped, 0);
                            (Load::Ahead(Ahead::new(Drawer::replay(r, rng.clone(), work.clone(), svc, end))), None)
                        }
                    },
                    Source::K6(k) => {
                        let think = Some(k.think_time.clone());
                        let at = |t: u64| start.saturating_add(t);
                        let stops: Vec<(SimTime, VuStep)> = k.hard_stops().into_iter().map(|(t, n)| (at(t), VuStep::HardStop(n))).collect();
                        match &k.exec {
                            Executor::ArrivalRate { stages, poisson, max_vus, .. } => (
                                Load::Rate {
                                    stages: stages.clone(),
                                    poisson: *poisson,
                                    start,
                                    end: at(stages.total_duration_ns()).min(end),
                                    max_vus: *max_vus,
                                    busy: 0,
                                    stop: stops.last().map_or(SimTime::MAX, |s| s.0),
                                    over: false,
                                },
                                think,
                            ),
                            Executor::Vus { vu_stages, .. } => {
                                let changes: Vec<_> = vu_stages.changes().into_iter().map(|(t, n)| (at(t), VuStep::Target(n))).collect();
                                let max = vu_stages.changes().iter().map(|c| c.1).max().unwrap_or(0);
                                (
                                    Load::Vus {
                                        vus: vec![Vu::Idle; max as usize],
                                        target: 0,
                                        end: at(vu_stages.total_duration_ns()).min(end),
                                        kind: VuKind::Stages,
                                        steps: merge_steps(changes, stops),
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
                                        vus: vec![Vu::Next { at: start, after: false }; *vus as usize],
                                        target: *vus,
                                        end: at(*max_duration_ns).min(end),
                                        kind,
                                        steps: stops,
                                    },
                                    think,
                                )
                            }
                        }
                    }
                };
                let windowed = super::demand::windowed(svc, src);
                if matches!(src, Source::K6(_)) {
                    self.world.services[s].acc.k6 = true;
                }
                self.sources.push(SourceRt { service: s, rng, think_rng, work, think, start, load, windowed });
            }
        }
        self.arrivals = vec![crate::engine::queue::Key::MAX; self.sources.len()];
        for i in 0..self.sources.len() {
            match &self.sources[i].load {
                Load::Vus { kind, vus, steps, .. } => {
                    if !matches!(kind, VuKind::Stages) {
                        let start = self.sources[i].start;
                        for vu in 0..vus.len() as u32 {
                            if start < self.end {
                                self.events.push(start, Ev::VuIter { src: i as u32, vu });
                            }
                        }
                    }
                    if let Some(&(t, _)) = steps.first() {
                        if t <= self.end {
                            self.events.push(t, Ev::VuTarget { src: i as u32, idx: 0 });
                        }
                    }
                }
                Load::Rate { stop, .. } => {
                    if *stop <= self.end {
                        self.events.push(*stop, Ev::RateStop { src: i as u32 });
                    }
                    self.advance_source(i);
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
            Load::Ahead(a) => {
                let next = a.peek();
                self.set_next_arrival(i, next);
                return;
            }
            Load::Rate { stages, poisson, start, end: stop, .. } => {
                let off = if *poisson { stages.next_start_poisson(&mut src.rng) } else { stages.next_start() };
                off.map(|o| *start + o).filter(|&t| t < *stop)
            }
            Load::Vus { .. } => None,
        };
        self.set_next_arrival(i, next.filter(|&t| t < end));
    }

    /// An open-loop source's arrival is due.
    #[inline]
    pub(super) fn on_source_arrival(&mut self, i: usize) {
        let src = &mut self.sources[i];
        if let Load::Ahead(a) = &mut src.load {
            let d = a.take();
            let (s, windowed) = (src.service, src.windowed);
            let next = a.peek();
            self.set_next_arrival(i, next);
            self.admit(s, d.work, d.cpu, NO_ORIGIN, 0, windowed);
            return;
        }
        self.arrival_drawn_now(i);
    }

    /// An arrival of a source whose arrivals are drawn one at a time (k6's arrival-rate
    /// executors: an iteration without a free VU is dropped, its request never drawn).
    #[inline(never)]
    fn arrival_drawn_now(&mut self, i: usize) {
        self.advance_source(i);
        let s = self.sources[i].service;
        if let Load::Rate { max_vus, busy, .. } = &mut self.sources[i].load {
            // k6 starts an iteration only on a free VU; without one it is dropped.
            if *busy >= *max_vus {
                self.world.services[s].acc.on_dropped_iterations(1, self.now);
                return;
            }
            *busy += 1;
            self.issue(i, i as u32, 0);
        }
    }

    /// A VU executor's step: a ramping/constant-VUs target change, or a hard stop.
    pub(super) fn on_vu_target(&mut self, i: usize, idx: usize) {
        let now = self.now;
        let s = self.sources[i].service;
        let Load::Vus { vus, target, end, steps, .. } = &mut self.sources[i].load else { return };
        let mut start = Vec::new();
        match steps[idx].1 {
            VuStep::Target(n) => {
                *target = n;
                if now < *end {
                    for (v, state) in vus.iter_mut().enumerate().take(n as usize) {
                        if *state == Vu::Idle {
                            *state = Vu::Next { at: now, after: false };
                            start.push(v as u32);
                        }
                    }
                }
            }
            VuStep::HardStop(keep) => {
                let mut interrupted = 0;
                for state in vus.iter_mut().skip(keep as usize) {
                    if matches!(state, Vu::Busy(_) | Vu::Next { after: true, .. }) {
                        interrupted += 1;
                    }
                    *state = Vu::Idle;
                }
                if interrupted > 0 {
                    self.world.services[s].acc.on_interrupted_iterations(interrupted, now);
                }
            }
        }
        let next = steps.get(idx + 1).map(|c| c.0);
        for v in start {
            self.events.push(now, Ev::VuIter { src: i as u32, vu: v });
        }
        if let Some(t) = next {
            if t <= self.end {
                self.events.push(t, Ev::VuTarget { src: i as u32, idx: (idx + 1) as u32 });
            }
        }
    }

    /// A VU's iteration ends (its think time is over) or it starts: the next iteration starts,
    /// if the VU is still wanted and has one to do.
    pub(super) fn on_vu_iter(&mut self, i: usize, vu: u32) {
        let now = self.now;
        let s = self.sources[i].service;
        let Load::Vus { vus, target, end, kind, .. } = &mut self.sources[i].load else { return };
        let v = vu as usize;
        let Vu::Next { at, after } = vus[v] else { return };
        if at != now {
            return;
        }
        if after {
            self.world.services[s].acc.on_iteration(now);
        }
        let has_work = match kind {
            VuKind::Stages => true,
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
            VuKind::Stages => {}
        }
        vus[v] = Vu::Busy(now);
        self.issue(i, i as u32, vu);
    }

    /// An arrival-rate executor's graceful stop is over: the iterations still running are
    /// interrupted.
    pub(super) fn on_rate_stop(&mut self, i: usize) {
        let now = self.now;
        let s = self.sources[i].service;
        if let Load::Rate { busy, over, .. } = &mut self.sources[i].load {
            let n = u64::from(*busy);
            *busy = 0;
            *over = true;
            if n > 0 {
                self.world.services[s].acc.on_interrupted_iterations(n, now);
            }
        }
    }

    /// The client of a request from source `origin` (VU `vu`) that arrived at `arrival` is done
    /// with it: response, error, timeout or loss.
    #[inline(always)]
    pub(super) fn client_done(&mut self, req: u32, origin: u32, vu: u32, arrival: SimTime) {
        if self.chains.on {
            self.chain_answered(req);
        }
        // Open-loop sources wait for nobody: the common case stays in line.
        if origin < super::calls::CALL_ORIGIN {
            self.closed_loop_done(origin, vu, arrival);
        }
    }

    #[inline(never)]
    fn closed_loop_done(&mut self, origin: u32, vu: u32, arrival: SimTime) {
        let i = origin as usize;
        let now = self.now;
        let src = &mut self.sources[i];
        // An interrupted iteration's request ends unseen: its VU no longer waits for it.
        let waiting = match &src.load {
            Load::Rate { over, .. } => !*over,
            Load::Vus { vus, .. } => vus[vu as usize] == Vu::Busy(arrival),
            _ => false,
        };
        if !waiting {
            return;
        }
        let think = src.think.as_ref().map_or(0, |d| d.sample_ns(&mut src.think_rng));
        match &mut src.load {
            Load::Rate { busy, .. } => {
                if think == 0 {
                    *busy -= 1;
                    self.world.services[src.service].acc.on_iteration(now);
                } else {
                    self.events.push(now + think, Ev::VuFree { src: origin });
                }
            }
            Load::Vus { vus, .. } => {
                let next = (now + think).max(arrival + MIN_ITERATION_NS);
                vus[vu as usize] = Vu::Next { at: next, after: true };
                self.events.push(next, Ev::VuIter { src: origin, vu });
            }
            _ => {}
        }
    }

    /// An arrival-rate VU finished thinking: its iteration is over.
    pub(super) fn on_vu_free(&mut self, i: usize) {
        let s = self.sources[i].service;
        if let Load::Rate { busy, over: false, .. } = &mut self.sources[i].load {
            *busy -= 1;
            self.world.services[s].acc.on_iteration(self.now);
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

/// The target changes and the hard stops of a VU executor in time order; at the same instant
/// the change comes first (k6's `iterateSteps` takes the raw step before the graceful one).
fn merge_steps(changes: Vec<(SimTime, VuStep)>, stops: Vec<(SimTime, VuStep)>) -> Vec<(SimTime, VuStep)> {
    let mut out = Vec::with_capacity(changes.len() + stops.len());
    let mut stops = stops.into_iter().peekable();
    for c in changes {
        while let Some(s) = stops.next_if(|s| s.0 < c.0) {
            out.push(s);
        }
        out.push(c);
    }
    out.extend(stops);
    out
}
