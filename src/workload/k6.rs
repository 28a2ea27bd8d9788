//! k6 executors: load shaped the way k6 shapes it, parsed from TOML or from k6's own JSON, and
//! the exact schedule math behind them (iteration start times, VU counts over time).
//!
//! A scenario is written as an inline TOML table in snake_case:
//!
//! ```toml
//! load = { executor = "ramping-arrival-rate", start_rate = 10, time_unit = "1s",
//!          pre_allocated_vus = 50, max_vus = 500,
//!          stages = [ { duration = "10m", target = 200 }, { duration = "30m", target = 200 } ] }
//! ```
//!
//! or as the JSON `k6 inspect script.js` prints (camelCase: `startRate`, `timeUnit`,
//! `preAllocatedVUs`, ...), read with [`parse_options_json`], which also turns k6's shorthand
//! options (`vus` + `duration`, `stages`, `iterations`) into scenarios the way k6 does.
//! [`K6Spec::validate`] checks the options as k6 does and gives a [`K6Scenario`].
//!
//! Semantics follow k6's source (`lib/executor/*.go`, grafana/k6) and documentation
//! (grafana.com/docs/k6/latest/using-k6/scenarios/executors/); each item below says which.
//!
//! Durations: in TOML a bare number is seconds (as everywhere in autosim, see
//! [`crate::units`]); in JSON a bare number, or a string without a unit such as `"1500"`, is
//! **milliseconds**, as in k6 (`types.Duration.UnmarshalJSON` / `ParseExtendedDuration` in
//! `lib/types/types.go`). Strings with units (`"30s"`, `"1m30s"`, `"1d2h"`) mean the same in both.

use std::cmp::Ordering;
use std::fmt;
use std::path::Path;

use rand::Rng;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::dist::{Dist, DistSpec};
use crate::units::{parse_duration, Duration, NANOS_PER_SEC};

/// k6's `DefaultGracefulStopValue` (`lib/executor/base_config.go`).
const DEFAULT_GRACEFUL_STOP_NS: u64 = 30 * NANOS_PER_SEC;
/// The `gracefulRampDown` default of ramping-vus (`NewRampingVUsConfig`).
const DEFAULT_GRACEFUL_RAMP_DOWN_NS: u64 = 30 * NANOS_PER_SEC;
/// The `maxDuration` default of the iteration executors (`NewPerVUIterationsConfig`).
const DEFAULT_MAX_DURATION_NS: u64 = 600 * NANOS_PER_SEC;
/// k6's `minDuration` (`lib/executor/constant_vus.go`): the shortest `duration` of constant-vus
/// and constant-arrival-rate and the shortest `maxDuration`. Stages may be shorter, even 0.
const MIN_DURATION_NS: u64 = NANOS_PER_SEC;
/// k6's `maxConcurrentVUs` sanity limit on ramping-vus targets (`lib/executor/helpers.go`).
const MAX_CONCURRENT_VUS: u64 = 100_000_000;
/// The name k6 gives the scenario derived from shorthand options (`lib.DefaultScenarioName`).
pub const DEFAULT_SCENARIO_NAME: &str = "default";

const EXECUTORS: &str = "\"constant-arrival-rate\", \"ramping-arrival-rate\", \"constant-vus\", \
     \"ramping-vus\", \"per-vu-iterations\" or \"shared-iterations\"";

// =============================================================================================
// The validated scenario
// =============================================================================================

/// One k6 scenario, validated, with every default filled in. Times are nanoseconds.
///
/// Timeline (k6's `getDurationContexts`, `lib/executor/helpers.go`): the scenario starts at
/// `start_ns` from the beginning of the test. During its regular duration
/// ([`Executor::duration_ns`]) iterations start; none starts at or after its end. Iterations
/// still running then may finish during `graceful_stop_ns`; whatever still runs after that is
/// interrupted (k6 counts it as an interrupted iteration).
///
/// `think_time` is an autosim extension: the pause of a VU after each iteration, like a
/// `sleep()` at the end of k6's default function. The VU is busy during it, so for the
/// arrival-rate executors it counts against the VU pool (a long think time needs more VUs).
#[derive(Debug, Clone, PartialEq)]
pub struct K6Scenario {
    pub name: String,
    pub start_ns: u64,
    pub graceful_stop_ns: u64,
    pub think_time: Dist,
    pub exec: Executor,
}

impl K6Scenario {
    /// The regular duration, from the scenario's start: no iteration starts at or after it.
    pub fn duration_ns(&self) -> u64 {
        self.exec.duration_ns()
    }

    /// When the scenario is over for good, from the beginning of the test: `start_ns`, plus the
    /// regular duration, plus `graceful_stop_ns`. Iterations still running are interrupted then.
    pub fn end_ns(&self) -> u64 {
        self.start_ns.saturating_add(self.duration_ns()).saturating_add(self.graceful_stop_ns)
    }

    /// The most VUs the scenario can use at once.
    pub fn max_vus(&self) -> u32 {
        self.exec.max_vus()
    }

    /// When iterations still running are interrupted (k6's hard stops), from the scenario's
    /// start, with the VUs kept: those of this index and above stop. For every executor the
    /// last is the end of the graceful stop, keeping none; ramping-vus adds the ends of its
    /// ramp-downs' `gracefulRampDown` ([`VuStages::hard_stops`]).
    pub fn hard_stops(&self) -> Vec<(u64, u32)> {
        match &self.exec {
            Executor::Vus { vu_stages, graceful_ramp_down_ns } => vu_stages.hard_stops(*graceful_ramp_down_ns, self.graceful_stop_ns),
            e => vec![(e.duration_ns().saturating_add(self.graceful_stop_ns), 0)],
        }
    }
}

/// How a scenario drives iterations.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// `constant-arrival-rate` (one flat stage) and `ramping-arrival-rate`: an open model.
    /// Iterations start on the schedule of `stages` ([`RateStages::next_start`], or
    /// [`RateStages::next_start_poisson`] when `poisson`), each on a free VU. k6 starts with
    /// `pre_allocated_vus` VUs; when an iteration is due and no VU is free, the iteration is
    /// **dropped** (k6's `dropped_iterations` metric, it is never retried) and, if fewer than
    /// `max_vus` exist, k6 starts initializing one more VU in the background, at most one at a
    /// time (`RampingArrivalRate.Run`, `lib/executor/ramping_arrival_rate.go`).
    ArrivalRate { stages: RateStages, poisson: bool, pre_allocated_vus: u32, max_vus: u32 },
    /// `constant-vus` (one flat stage) and `ramping-vus`: a closed model. Each active VU loops
    /// iterations back to back (plus `think_time`). The target count changes at the instants of
    /// [`VuStages::changes`]; VUs are started in index order and stopped last-started first
    /// (`scheduledVUsHandlerStrategy`, `lib/executor/ramping_vus.go`). A VU stopped by a ramp
    /// down starts no new iteration; its current one may run for `graceful_ramp_down_ns` and is
    /// interrupted after that (and in any case at the scenario's graceful-stop deadline). If the
    /// target rises again while a stopped VU is still finishing, k6 reuses that VU.
    Vus { vu_stages: VuStages, graceful_ramp_down_ns: u64 },
    /// `per-vu-iterations` (`per_vu` = iterations of each VU) and `shared-iterations` (`shared`
    /// = iterations shared by all VUs, each VU taking the next one as soon as it is free). All
    /// `vus` start at once; none starts an iteration after `max_duration_ns` (the rest are
    /// counted as dropped), and iterations in progress get the graceful stop.
    Iterations { vus: u32, per_vu: Option<u64>, shared: Option<u64>, max_duration_ns: u64 },
}

impl Executor {
    /// The regular duration: the stages' total, or `max_duration` for the iteration executors.
    pub fn duration_ns(&self) -> u64 {
        match self {
            Executor::ArrivalRate { stages, .. } => stages.total_duration_ns(),
            Executor::Vus { vu_stages, .. } => vu_stages.total_duration_ns(),
            Executor::Iterations { max_duration_ns, .. } => *max_duration_ns,
        }
    }

    /// The most VUs the executor can use at once.
    pub fn max_vus(&self) -> u32 {
        match self {
            Executor::ArrivalRate { max_vus, .. } => *max_vus,
            Executor::Vus { vu_stages, .. } => vu_stages.max_vus(),
            Executor::Iterations { vus, .. } => *vus,
        }
    }
}

// =============================================================================================
// Exact 256-bit products for the schedule math
// =============================================================================================

/// An unsigned 256-bit number, only as wide as the exact area comparisons need.
/// Fields in this order so the derived `Ord` compares numerically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct U256 {
    hi: u128,
    lo: u128,
}

impl U256 {
    /// The full product of two `u128`.
    fn mul(a: u128, b: u128) -> U256 {
        const MASK: u128 = u64::MAX as u128;
        let (a1, a0) = (a >> 64, a & MASK);
        let (b1, b0) = (b >> 64, b & MASK);
        let p00 = a0 * b0;
        let p01 = a0 * b1;
        let p10 = a1 * b0;
        let p11 = a1 * b1;
        let (mid, mid_carry) = p01.overflowing_add(p10);
        let (lo, lo_carry) = p00.overflowing_add(mid << 64);
        let hi = p11 + (mid >> 64) + (u128::from(mid_carry) << 64) + u128::from(lo_carry);
        U256 { hi, lo }
    }

    /// The sum; callers keep it below 2^256.
    fn add(self, o: U256) -> U256 {
        let (lo, carry) = self.lo.overflowing_add(o.lo);
        U256 { hi: self.hi + o.hi + u128::from(carry), lo }
    }
}

// =============================================================================================
// RateStages: the arrival-rate schedule
// =============================================================================================

/// One linear piece of the rate, in iterations per time unit at its ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RateStage {
    start_ns: u64,
    dur_ns: u64,
    from: u64,
    to: u64,
    /// Scaled area (see [`RateStages`]) before the stage and within it.
    area_before: u128,
    area: u128,
}

impl RateStage {
    /// Compare the scaled area in the first `tau` ns of the stage with `local`, exactly.
    ///
    /// The area is `S(tau) = 2 R0 tau + (R1 - R0) tau^2 / D` (R per time unit, tau and D in ns),
    /// so this compares `2 R0 D tau + (R1 - R0) tau^2` with `D local`. With R0, R1 < 2^63,
    /// tau <= D < 2^64 and local < 2^128 every term is below 2^193.
    fn cmp_area(&self, tau: u64, local: u128) -> Ordering {
        let d = u128::from(self.dur_ns);
        let t = u128::from(tau);
        let lin = U256::mul(2 * u128::from(self.from) * d, t);
        let need = U256::mul(d, local);
        if self.to >= self.from {
            let quad = U256::mul(u128::from(self.to - self.from), t * t);
            lin.add(quad).cmp(&need)
        } else {
            let quad = U256::mul(u128::from(self.from - self.to), t * t);
            lin.cmp(&need.add(quad))
        }
    }

    /// The real `tau` at which the scaled area reaches `local`, in floating point.
    fn solve_f64(&self, local: f64) -> f64 {
        let d = self.dur_ns as f64;
        let b = 2.0 * self.from as f64;
        let c = (self.to as f64 - self.from as f64) / d;
        // c tau^2 + b tau = local, in the form that is stable for c of either sign.
        let disc = b * b + 4.0 * c * local;
        let den = b + disc.max(0.0).sqrt();
        if den > 0.0 {
            (2.0 * local / den).clamp(0.0, d)
        } else {
            d
        }
    }

    /// `floor(x)`, where `x` is the exact real time (ns into the stage) at which the scaled area
    /// reaches `local`, for `0 < local <= self.area`. Exact: a floating-point guess, then a
    /// galloping search with the exact comparison (one or two comparisons in practice).
    fn solve_floor(&self, local: u128) -> u64 {
        let d = self.dur_ns;
        let reaches = |tau: u64| self.cmp_area(tau, local) != Ordering::Less;
        // The smallest integer tau that reaches `local` is ceil(x): search for it in [1, d].
        // Known: tau = 0 does not reach it (local > 0), tau = d does (local <= area).
        let guess = (self.solve_f64(local as f64).ceil() as u64).clamp(1, d);
        let (mut lo, mut hi);
        if reaches(guess) {
            hi = guess;
            lo = 0;
            let mut step = 1u64;
            loop {
                let x = hi.saturating_sub(step);
                if x == 0 {
                    break;
                }
                if reaches(x) {
                    hi = x;
                    step = step.saturating_mul(2);
                } else {
                    lo = x;
                    break;
                }
            }
        } else {
            lo = guess;
            let mut step = 1u64;
            loop {
                let x = lo.saturating_add(step).min(d);
                if reaches(x) {
                    hi = x;
                    break;
                }
                lo = x;
                step = step.saturating_mul(2);
            }
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if reaches(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        // x is in (hi - 1, hi]; it is hi itself only if the area at hi is exactly `local`.
        if self.cmp_area(hi, local) == Ordering::Equal {
            hi
        } else {
            hi - 1
        }
    }
}

/// The iteration rate of an arrival-rate executor: piecewise linear from the start rate through
/// the stages' targets, and the times iterations start on it.
///
/// Rates are whole numbers of iterations per `time_unit` (k6's `null.Int`); internally all
/// arithmetic is exact, in "scaled area" units of `1 / (2 time_unit_ns)` iteration-ns, in which
/// every stage's area `(R0 + R1) D` is an integer.
///
/// **Even spacing, as k6 does it.** The iteration with area index `n` starts at the time `x`
/// where the area under the rate curve since the scenario's start (the expected number of
/// iterations) reaches `n`, truncated to the nanosecond (k6 converts `x` with
/// `time.Duration(x)`); within a linear stage `x` solves a quadratic (k6's
/// `RampingArrivalRateConfig.cal`, `lib/executor/ramping_arrival_rate.go`, derivation in
/// k6 issue #1299). The first index differs between k6's two executors:
///
/// - `ramping-arrival-rate` counts from area 1 ("the algorithm works with area so we need to
///   start from 1 not 0"): at a flat 10/s the starts are 100ms, 200ms, ...
/// - `constant-arrival-rate` ticks at `i * timeUnit / rate` for i = 0, 1, ... (the
///   `notScaledTickerPeriod * gi` loop, `lib/executor/constant_arrival_rate.go`): 0, 100ms, ...
///   (k6 first truncates the period to whole ns and multiplies, so it drifts by up to i ns;
///   here the time is computed exactly from the area, with no drift.)
///
/// Both stop at the end of the stages: only starts strictly before
/// [`RateStages::total_duration_ns`] are yielded (one landing exactly on the end races with
/// the end of the regular duration in k6; it is left out here). Each start is computed from
/// its stage's start, so there is no accumulated error over millions of iterations, and the
/// cost is O(1) amortized per iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct RateStages {
    time_unit_ns: u64,
    start_rate: u64,
    stages: Vec<RateStage>,
    total_ns: u64,
    total_area: u128,
    first_at_zero: bool,
    // Cursor of `next_start`.
    next_index: u64,
    cursor: usize,
    // Cursor of `next_start_poisson`.
    poisson_area: f64,
    poisson_cursor: usize,
    poisson_last: u64,
    poisson_done: bool,
}

impl RateStages {
    /// `ramping-arrival-rate`: from `start_rate` through `stages` of `(duration_ns, target)`,
    /// rates in iterations per `time_unit_ns`; iterations at area 1, 2, ...
    pub fn ramping(start_rate: u64, time_unit_ns: u64, stages: &[(u64, u64)]) -> Result<Self, String> {
        Self::build(start_rate, time_unit_ns, stages, false)
    }

    /// `constant-arrival-rate`: `rate` iterations per `time_unit_ns` for `duration_ns`;
    /// iterations at area 0, 1, 2, ... (the first at the scenario's start).
    pub fn constant(rate: u64, time_unit_ns: u64, duration_ns: u64) -> Result<Self, String> {
        Self::build(rate, time_unit_ns, &[(duration_ns, rate)], true)
    }

    fn build(
        start_rate: u64,
        time_unit_ns: u64,
        stages: &[(u64, u64)],
        first_at_zero: bool,
    ) -> Result<Self, String> {
        if time_unit_ns == 0 {
            return Err("the time unit must be longer than 0".into());
        }
        let limit = i64::MAX as u64;
        if start_rate > limit || stages.iter().any(|&(_, r)| r > limit) {
            return Err(format!("rates above {limit} per time unit are not supported"));
        }
        let mut out = Vec::with_capacity(stages.len());
        let (mut t, mut area, mut from) = (0u64, 0u128, start_rate);
        for &(dur, to) in stages {
            let a = u128::from(from + to) * u128::from(dur);
            out.push(RateStage { start_ns: t, dur_ns: dur, from, to, area_before: area, area: a });
            t = t.checked_add(dur).ok_or("the stages are longer than about 584 years in total")?;
            area = area.checked_add(a).ok_or("the stages describe too many iterations")?;
            from = to;
        }
        Ok(RateStages {
            time_unit_ns,
            start_rate,
            stages: out,
            total_ns: t,
            total_area: area,
            first_at_zero,
            next_index: 0,
            cursor: 0,
            poisson_area: 0.0,
            poisson_cursor: 0,
            poisson_last: 0,
            poisson_done: false,
        })
    }

    /// The length of all stages: the executor's regular duration.
    pub fn total_duration_ns(&self) -> u64 {
        self.total_ns
    }

    /// The time unit the rates are given in.
    pub fn time_unit_ns(&self) -> u64 {
        self.time_unit_ns
    }

    /// The rate at the start, per time unit (k6's `startRate`).
    pub fn start_rate(&self) -> u64 {
        self.start_rate
    }

    /// The stages as written: `(duration_ns, target)`, targets per time unit.
    pub fn stages(&self) -> Vec<(u64, u64)> {
        self.stages.iter().map(|s| (s.dur_ns, s.to)).collect()
    }

    /// Whether the first iteration starts at the scenario's start (constant-arrival-rate) or
    /// when the area reaches 1 (ramping-arrival-rate).
    pub fn first_at_zero(&self) -> bool {
        self.first_at_zero
    }

    /// The highest rate anywhere, in iterations per second.
    pub fn peak_rate(&self) -> f64 {
        let peak = self.stages.iter().filter(|s| s.dur_ns > 0).map(|s| s.from.max(s.to)).max();
        self.per_second(peak.unwrap_or(0) as f64)
    }

    fn per_second(&self, per_unit: f64) -> f64 {
        per_unit * NANOS_PER_SEC as f64 / self.time_unit_ns as f64
    }

    /// The stage covering `t_ns < total`: the last one starting at or before it (never a
    /// zero-length one, since the stage after it starts at the same time).
    fn stage_at(&self, t_ns: u64) -> &RateStage {
        let i = self.stages.partition_point(|s| s.start_ns <= t_ns);
        &self.stages[i - 1]
    }

    /// The rate at `t_ns` after the scenario's start, in iterations per second: linear within
    /// each stage; 0 from the end of the stages on.
    pub fn rate_at(&self, t_ns: u64) -> f64 {
        if t_ns >= self.total_ns {
            return 0.0;
        }
        let s = self.stage_at(t_ns);
        let frac = (t_ns - s.start_ns) as f64 / s.dur_ns as f64;
        self.per_second(s.from as f64 + (s.to as f64 - s.from as f64) * frac)
    }

    /// The rate as linear pieces `(start_ns, end_ns, rate at start, rate towards the end)`,
    /// iterations per second, in time order (the stages of positive length).
    pub fn pieces(&self) -> Vec<(u64, u64, f64, f64)> {
        self.stages
            .iter()
            .filter(|s| s.dur_ns > 0)
            .map(|s| (s.start_ns, s.start_ns + s.dur_ns, self.per_second(s.from as f64), self.per_second(s.to as f64)))
            .collect()
    }

    /// The area under the rate over `[0, until_ns)`: the expected number of iterations.
    pub fn expected_iterations(&self, until_ns: u64) -> f64 {
        let scale = 2.0 * self.time_unit_ns as f64;
        if until_ns >= self.total_ns {
            return self.total_area as f64 / scale;
        }
        let s = self.stage_at(until_ns);
        let tau = (until_ns - s.start_ns) as f64;
        let d = s.dur_ns as f64;
        let local = 2.0 * s.from as f64 * tau + (s.to as f64 - s.from as f64) * tau * tau / d;
        (s.area_before as f64 + local) / scale
    }

    /// Start over: the next `next_start` / `next_start_poisson` is the first iteration again.
    pub fn reset(&mut self) {
        self.next_index = 0;
        self.cursor = 0;
        self.poisson_area = 0.0;
        self.poisson_cursor = 0;
        self.poisson_last = 0;
        self.poisson_done = false;
    }

    /// The start of the next iteration, evenly spaced as k6 does (see the type's docs), in ns
    /// from the scenario's start; `None` once the stages are over.
    pub fn next_start(&mut self) -> Option<u64> {
        let n = self.next_index.checked_add(u64::from(!self.first_at_zero))?;
        let need = (2 * u128::from(self.time_unit_ns)).checked_mul(u128::from(n))?;
        if need > self.total_area || (need == 0 && self.total_area == 0) {
            return None;
        }
        let t = if need == 0 {
            0
        } else {
            while self.stages[self.cursor].area_before + self.stages[self.cursor].area < need {
                self.cursor += 1;
            }
            let s = &self.stages[self.cursor];
            s.start_ns + s.solve_floor(need - s.area_before)
        };
        if t >= self.total_ns {
            return None;
        }
        self.next_index += 1;
        Some(t)
    }

    /// The start of the next iteration of a Poisson process with this rate (an autosim
    /// extension, `arrivals = "poisson"`), by time rescaling: the area advances by an Exp(1)
    /// draw per iteration and the time is where the area curve reaches it. Rounded to the
    /// nearest ns; never earlier than the previous start. `None` once the stages are over.
    pub fn next_start_poisson<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Option<u64> {
        if self.poisson_done {
            return None;
        }
        let e: f64 = rng.sample(rand_distr::Exp1);
        self.poisson_area += e;
        let need = self.poisson_area * 2.0 * self.time_unit_ns as f64;
        // (`need` is finite: a sum of Exp(1) draws.)
        if need >= self.total_area as f64 {
            self.poisson_done = true;
            return None;
        }
        let last = self.stages.len() - 1;
        while self.poisson_cursor < last && {
            let s = &self.stages[self.poisson_cursor];
            ((s.area_before + s.area) as f64) < need
        } {
            self.poisson_cursor += 1;
        }
        let s = &self.stages[self.poisson_cursor];
        if s.dur_ns == 0 || s.area == 0 {
            // Only reachable through rounding at the very end.
            self.poisson_done = true;
            return None;
        }
        let local = (need - s.area_before as f64).max(0.0);
        let tau = (s.solve_f64(local).round() as u64).min(s.dur_ns);
        let t = (s.start_ns + tau).max(self.poisson_last);
        if t >= self.total_ns {
            self.poisson_done = true;
            return None;
        }
        self.poisson_last = t;
        Some(t)
    }
}

/// The even starts, as an iterator ([`RateStages::next_start`]).
impl Iterator for RateStages {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        self.next_start()
    }
}

// =============================================================================================
// VuStages: the VU count of ramping-vus
// =============================================================================================

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VuStage {
    start_ns: u64,
    dur_ns: u64,
    from: u32,
    to: u32,
}

/// The target VU count of `ramping-vus` (and `constant-vus`) over time.
///
/// k6 interpolates linearly within each stage and changes the count by one VU at a time at the
/// instant the line crosses each integer, rounded up to the nanosecond
/// (`getRawExecutionSteps`, `lib/executor/ramping_vus.go`): ramping from `a` to `b > a` over
/// `D`, the count becomes `v` at `ceil(D (v - a) / (b - a))` into the stage; ramping down to
/// `b < a`, it becomes `v` at `ceil(D (a - v) / (a - b))` ("we don't want to stop VUs
/// immediately, we stop it on the next unscaled VU's time"). So going up the count is the
/// floor of the line, going down its ceiling: 0 -> 10 over 10s reaches 1 VU at 1s and 10 at
/// 10s; 10 -> 0 over 10s drops to 9 at 1s and to 0 at 10s. A zero-length stage jumps to its
/// target at once. At the end of the stages the count drops to 0 (k6's `zeroEnd` step): the
/// scenario's regular duration is over and the VUs still running get the graceful stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VuStages {
    start_vus: u32,
    stages: Vec<VuStage>,
    total_ns: u64,
}

impl VuStages {
    /// `ramping-vus`: from `start_vus` through `stages` of `(duration_ns, target)`.
    pub fn new(start_vus: u32, stages: &[(u64, u32)]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(stages.len());
        let (mut t, mut from) = (0u64, start_vus);
        for &(dur, to) in stages {
            out.push(VuStage { start_ns: t, dur_ns: dur, from, to });
            t = t.checked_add(dur).ok_or("the stages are longer than about 584 years in total")?;
            from = to;
        }
        Ok(VuStages { start_vus, stages: out, total_ns: t })
    }

    /// `constant-vus`: `vus` for `duration_ns`.
    pub fn constant(vus: u32, duration_ns: u64) -> Self {
        VuStages {
            start_vus: vus,
            stages: vec![VuStage { start_ns: 0, dur_ns: duration_ns, from: vus, to: vus }],
            total_ns: duration_ns,
        }
    }

    /// The length of all stages: the executor's regular duration.
    pub fn total_duration_ns(&self) -> u64 {
        self.total_ns
    }

    /// The VU count at the start (k6's `startVUs`).
    pub fn start_vus(&self) -> u32 {
        self.start_vus
    }

    /// The stages as written: `(duration_ns, target)`.
    pub fn stages(&self) -> Vec<(u64, u32)> {
        self.stages.iter().map(|s| (s.dur_ns, s.to)).collect()
    }

    /// The most VUs at any time (k6's `getStagesUnscaledMaxTarget`).
    pub fn max_vus(&self) -> u32 {
        self.stages.iter().map(|s| s.to).fold(self.start_vus, u32::max)
    }

    fn stage_at(&self, t_ns: u64) -> &VuStage {
        let i = self.stages.partition_point(|s| s.start_ns <= t_ns);
        &self.stages[i - 1]
    }

    /// The target VU count at `t_ns` after the scenario's start (0 from the end of the stages
    /// on). Consistent with [`VuStages::changes`]: the value of the last change at or before it.
    pub fn vus_at(&self, t_ns: u64) -> u32 {
        if t_ns >= self.total_ns {
            return 0;
        }
        self.line_at(t_ns)
    }

    /// The count on the stages' line at `t_ns`, without the drop to 0 at their end: from the
    /// end on, the last stage's target.
    fn line_at(&self, t_ns: u64) -> u32 {
        if t_ns >= self.total_ns {
            return self.stages.last().map_or(self.start_vus, |s| s.to);
        }
        let s = self.stage_at(t_ns);
        let tau = u128::from(t_ns - s.start_ns);
        let d = u128::from(s.dur_ns);
        match s.to.cmp(&s.from) {
            Ordering::Equal => s.from,
            Ordering::Greater => s.from + (tau * u128::from(s.to - s.from) / d) as u32,
            Ordering::Less => s.from - (tau * u128::from(s.from - s.to) / d) as u32,
        }
    }

    /// The next instant after `p < total` at which the count may change: the next integer
    /// crossing within the current stage, or the stage's end.
    fn next_candidate(&self, p: u64) -> u64 {
        let s = self.stage_at(p);
        let end = s.start_ns + s.dur_ns;
        let d = u128::from(s.dur_ns);
        let tau = u128::from(p - s.start_ns);
        let c = match s.to.cmp(&s.from) {
            Ordering::Equal => return end,
            Ordering::Greater => {
                let diff = u128::from(s.to - s.from);
                let steps = tau * diff / d + 1; // VUs above `from` at the next change
                s.start_ns as u128 + (d * steps).div_ceil(diff)
            }
            Ordering::Less => {
                let diff = u128::from(s.from - s.to);
                let steps = tau * diff / d + 1;
                s.start_ns as u128 + (d * steps).div_ceil(diff)
            }
        };
        (c as u64).min(end)
    }

    /// The first instant after `t_ns` at which the target count changes, and the new count.
    pub fn next_change_after(&self, t_ns: u64) -> Option<(u64, u32)> {
        self.next_step_after(t_ns, true)
    }

    /// As [`VuStages::next_change_after`], on [`VuStages::vus_at`] (`zero_end`) or on the
    /// stages' line alone.
    fn next_step_after(&self, t_ns: u64, zero_end: bool) -> Option<(u64, u32)> {
        let at = |t: u64| if zero_end { self.vus_at(t) } else { self.line_at(t) };
        let current = at(t_ns);
        let mut p = t_ns;
        while p < self.total_ns {
            let c = self.next_candidate(p);
            let v = at(c);
            if v != current {
                return Some((c, v));
            }
            p = c;
        }
        None
    }

    /// Every instant the target VU count changes, in order, with the new count; the first entry
    /// is `(0, count at the start)`, and the last is the drop to 0 at the end of the stages
    /// unless the count already reached 0. Changes at the same instant (zero-length stages) are
    /// merged into the last of them. The engine starts VUs on a rise and stops the
    /// last-started ones on a fall (see [`Executor::Vus`]).
    pub fn changes(&self) -> Vec<(u64, u32)> {
        self.steps(true)
    }

    fn steps(&self, zero_end: bool) -> Vec<(u64, u32)> {
        let first = if zero_end { self.vus_at(0) } else { self.line_at(0) };
        let mut out = vec![(0, first)];
        let mut t = 0;
        while let Some((c, v)) = self.next_step_after(t, zero_end) {
            out.push((c, v));
            t = c;
        }
        out
    }

    /// When VUs still running are interrupted: k6's execution requirements of ramping-vus
    /// (`GetExecutionRequirements` and `reserveVUsForGracefulRampDowns`,
    /// `lib/executor/ramping_vus.go`), the planned VU count over time once each ramp-down has
    /// kept its VUs for `graceful_ramp_down_ns`. A VU stopped by a ramp-down starts no new
    /// iteration ([`VuStages::changes`]), and is hard-stopped, its iteration interrupted, when
    /// this count falls below its index: `graceful_ramp_down_ns` after the ramp-down, unless
    /// the target climbs back to the count it had within that time (then the VUs are reused).
    /// The last entry is `(stages' end + graceful_stop_ns, 0)`, when whatever still runs is
    /// interrupted; steps at or after it are dropped, so a graceful stop shorter than the
    /// ramp-down's cuts it short. Each entry is `(ns from the scenario's start, VUs)`; the
    /// first is `(0, start count)`. (Zero-length stages are merged as in
    /// [`VuStages::changes`]; k6 lists each of their steps.)
    pub fn graceful_steps(&self, graceful_ramp_down_ns: u64, graceful_stop_ns: u64) -> Vec<(u64, u32)> {
        let raw = self.steps(false);
        let end = self.total_ns.saturating_add(graceful_stop_ns);
        let mut steps = if graceful_ramp_down_ns > 0 { reserve_for_ramp_downs(&raw, graceful_ramp_down_ns, end) } else { raw };
        if steps.last().is_some_and(|s| s.1 != 0) {
            steps.push((end, 0));
        }
        steps
    }
}

/// k6's `reserveVUsForGracefulRampDowns`: along the raw steps, a fall in the count is held for
/// `grace_ns` (the VUs ramping down may finish their iterations), and skipped when the count
/// climbs back to where it was within that time. No step at or after `end_ns`.
fn reserve_for_ramp_downs(raw: &[(u64, u32)], grace_ns: u64, end_ns: u64) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    let mut last = 0u32;
    let mut last_down = 0usize;
    let mut i = 0;
    while i < raw.len() {
        let (t, v) = raw[i];
        if i == 0 || v > last {
            out.push((t, v));
            last = v;
            i += 1;
            continue;
        }
        if v == last {
            i += 1;
            continue;
        }
        // A fall: look ahead within the grace for a climb back to `last`. The look-ahead
        // starts at the furthest step of the current downward slope seen so far (steps on a
        // slope fall in the shadow of the ones before them).
        let timeout = t.saturating_add(grace_ns);
        let mut back_up = None;
        let mut was_down = true;
        for j in last_down.max(i + 1)..raw.len() {
            let (tj, vj) = raw[j];
            if tj > timeout {
                break;
            }
            if vj >= last {
                back_up = Some(j);
                break;
            }
            if was_down {
                if raw[j - 1].1 > vj {
                    last_down = j;
                } else {
                    was_down = false;
                }
            }
        }
        if let Some(j) = back_up {
            i = j;
            continue;
        }
        if timeout >= end_ns {
            break;
        }
        out.push((timeout, v));
        last = v;
        i += 1;
    }
    out
}

impl VuStages {
    /// The hard stops of [`VuStages::graceful_steps`]: each instant the planned count falls,
    /// with the VUs kept (VUs of this index and above are interrupted then).
    pub fn hard_stops(&self, graceful_ramp_down_ns: u64, graceful_stop_ns: u64) -> Vec<(u64, u32)> {
        let mut cur = 0;
        let mut out = Vec::new();
        for (t, v) in self.graceful_steps(graceful_ramp_down_ns, graceful_stop_ns) {
            if v < cur {
                out.push((t, v));
            }
            cur = v;
        }
        out
    }
}

// =============================================================================================
// Deserialization helpers
// =============================================================================================

/// A whole number as written (k6's `null.Int`): negative values are kept so that validation can
/// say what is wrong with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Count(i64);

/// The same for `rate`, `start_rate` and stage targets, whose messages suggest `time_unit`.
struct CountVisitor {
    rate: bool,
}

impl Visitor<'_> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
        Ok(Count(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
        i64::try_from(v).map(Count).map_err(|_| E::custom(format!("{v} is too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
        let hint = if self.rate {
            " (k6 rates are whole numbers of iterations per `time_unit`: for 0.5/s write \
             rate = 1 with time_unit = \"2s\")"
        } else {
            ""
        };
        Err(E::custom(format!("expected a whole number, got {v}{hint}")))
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor { rate: false })
    }
}

/// A rate or stage target: a [`Count`] whose errors explain fractional rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct RateCount(i64);

impl<'de> Deserialize<'de> for RateCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor { rate: true }).map(|c| RateCount(c.0))
    }
}

/// A duration in k6's JSON: a string with units, or a number (or unitless string) of
/// milliseconds (`types.Duration.UnmarshalJSON`, `lib/types/types.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct JsonDuration(Duration);

impl From<JsonDuration> for Duration {
    fn from(d: JsonDuration) -> Duration {
        d.0
    }
}

fn millis_text(text: &str) -> Result<Duration, String> {
    parse_duration(&format!("{text}ms")).map_err(String::from)
}

fn json_millis(x: f64) -> Result<Duration, String> {
    if !x.is_finite() {
        return Err(format!("invalid duration {x}"));
    }
    if x < 0.0 {
        return Err(format!("invalid duration {x}ms: durations cannot be negative"));
    }
    // Rust prints floats without an exponent and as the shortest decimal that round-trips,
    // so "0.1" stays exactly 100000 ns.
    millis_text(&format!("{x}"))
}

struct JsonDurationVisitor;

impl Visitor<'_> for JsonDurationVisitor {
    type Value = JsonDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration like \"30s\" or \"1m30s\", or a number of milliseconds")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonDuration, E> {
        let t = v.trim();
        // k6's ParseExtendedDuration: a unitless number is milliseconds.
        let r = match t.parse::<f64>() {
            Ok(x) => json_millis(x),
            Err(_) => parse_duration(t).map_err(String::from),
        };
        r.map(JsonDuration).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonDuration, E> {
        json_millis(v as f64).map(JsonDuration).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonDuration, E> {
        millis_text(&v.to_string()).map(JsonDuration).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonDuration, E> {
        json_millis(v).map(JsonDuration).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for JsonDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonDurationVisitor)
    }
}

/// How an arrival-rate executor spaces its iterations (autosim extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Arrivals {
    /// k6's own deterministic spacing.
    Even,
    /// A Poisson process with the same (time-varying) rate.
    Poisson,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "D: Deserialize<'de>"))]
struct RawStage<D> {
    #[serde(default)]
    duration: Option<D>,
    #[serde(default)]
    target: Option<RateCount>,
}

/// Every option of every executor, as written; `D` is the duration type (TOML or k6 JSON).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "D: Deserialize<'de>"))]
struct Raw<D> {
    #[serde(default)]
    executor: Option<String>,
    #[serde(default, alias = "startTime")]
    start_time: Option<D>,
    #[serde(default, alias = "gracefulStop")]
    graceful_stop: Option<D>,
    #[serde(default)]
    rate: Option<RateCount>,
    #[serde(default, alias = "startRate")]
    start_rate: Option<RateCount>,
    #[serde(default, alias = "timeUnit")]
    time_unit: Option<D>,
    #[serde(default)]
    duration: Option<D>,
    #[serde(default, alias = "preAllocatedVUs")]
    pre_allocated_vus: Option<Count>,
    #[serde(default, alias = "maxVUs")]
    max_vus: Option<Count>,
    #[serde(default)]
    vus: Option<Count>,
    #[serde(default, alias = "startVUs")]
    start_vus: Option<Count>,
    #[serde(default)]
    stages: Option<Vec<RawStage<D>>>,
    #[serde(default, alias = "gracefulRampDown")]
    graceful_ramp_down: Option<D>,
    #[serde(default)]
    iterations: Option<Count>,
    #[serde(default, alias = "maxDuration")]
    max_duration: Option<D>,
    #[serde(default, alias = "thinkTime")]
    think_time: Option<DistSpec>,
    #[serde(default)]
    arrivals: Option<Arrivals>,
    // k6 options without meaning in a simulation: accepted (k6 inspect prints them) and ignored.
    #[serde(default)]
    exec: Option<IgnoredAny>,
    #[serde(default)]
    env: Option<IgnoredAny>,
    #[serde(default)]
    tags: Option<IgnoredAny>,
    #[serde(default)]
    options: Option<IgnoredAny>,
}

impl<D: Into<Duration>> Raw<D> {
    fn into_durations(self) -> Raw<Duration> {
        let conv = |d: Option<D>| d.map(Into::into);
        Raw {
            executor: self.executor,
            start_time: conv(self.start_time),
            graceful_stop: conv(self.graceful_stop),
            rate: self.rate,
            start_rate: self.start_rate,
            time_unit: conv(self.time_unit),
            duration: conv(self.duration),
            pre_allocated_vus: self.pre_allocated_vus,
            max_vus: self.max_vus,
            vus: self.vus,
            start_vus: self.start_vus,
            stages: self.stages.map(|v| {
                v.into_iter()
                    .map(|s| RawStage { duration: s.duration.map(Into::into), target: s.target })
                    .collect()
            }),
            graceful_ramp_down: conv(self.graceful_ramp_down),
            iterations: self.iterations,
            max_duration: conv(self.max_duration),
            think_time: self.think_time,
            arrivals: self.arrivals,
            exec: self.exec,
            env: self.env,
            tags: self.tags,
            options: self.options,
        }
    }
}

// =============================================================================================
// K6Spec: one scenario as written
// =============================================================================================

/// One k6 scenario as written: an inline TOML table (snake_case keys; k6's camelCase names are
/// accepted too) or one entry of `scenarios` in k6's JSON ([`parse_options_json`]). Unknown
/// keys are errors; k6's `exec`, `env`, `tags` and `options` are accepted and ignored.
/// [`K6Spec::validate`] checks it against its executor and fills in k6's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct K6Spec {
    raw: Raw<Duration>,
}

/// The executors, with the options each takes besides the common ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ConstantArrivalRate,
    RampingArrivalRate,
    ConstantVus,
    RampingVus,
    PerVuIterations,
    SharedIterations,
}

const COMMON_KEYS: [&str; 3] = ["start_time", "graceful_stop", "think_time"];

impl Kind {
    fn from_name(s: &str) -> Option<Kind> {
        Some(match s {
            "constant-arrival-rate" => Kind::ConstantArrivalRate,
            "ramping-arrival-rate" => Kind::RampingArrivalRate,
            "constant-vus" => Kind::ConstantVus,
            "ramping-vus" => Kind::RampingVus,
            "per-vu-iterations" => Kind::PerVuIterations,
            "shared-iterations" => Kind::SharedIterations,
            _ => return None,
        })
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::ConstantArrivalRate => {
                &["rate", "time_unit", "duration", "pre_allocated_vus", "max_vus", "arrivals"]
            }
            Kind::RampingArrivalRate => {
                &["start_rate", "time_unit", "stages", "pre_allocated_vus", "max_vus", "arrivals"]
            }
            Kind::ConstantVus => &["vus", "duration"],
            Kind::RampingVus => &["start_vus", "stages", "graceful_ramp_down"],
            Kind::PerVuIterations | Kind::SharedIterations => {
                &["vus", "iterations", "max_duration"]
            }
        }
    }
}

/// k6's camelCase name of an option, when it differs.
fn camel(key: &str) -> Option<&'static str> {
    Some(match key {
        "start_time" => "startTime",
        "graceful_stop" => "gracefulStop",
        "start_rate" => "startRate",
        "time_unit" => "timeUnit",
        "pre_allocated_vus" => "preAllocatedVUs",
        "max_vus" => "maxVUs",
        "start_vus" => "startVUs",
        "graceful_ramp_down" => "gracefulRampDown",
        "max_duration" => "maxDuration",
        "think_time" => "thinkTime",
        _ => return None,
    })
}

/// `` `key` `` or `` `key` (`camelKey`) ``.
fn shown(key: &str) -> String {
    match camel(key) {
        Some(c) => format!("`{key}` (`{c}`)"),
        None => format!("`{key}`"),
    }
}

impl<D> Raw<D> {
    /// The options that are set (common and executor-specific), by snake_case name.
    fn present(&self) -> Vec<&'static str> {
        let flags = [
            ("start_time", self.start_time.is_some()),
            ("graceful_stop", self.graceful_stop.is_some()),
            ("rate", self.rate.is_some()),
            ("start_rate", self.start_rate.is_some()),
            ("time_unit", self.time_unit.is_some()),
            ("duration", self.duration.is_some()),
            ("pre_allocated_vus", self.pre_allocated_vus.is_some()),
            ("max_vus", self.max_vus.is_some()),
            ("vus", self.vus.is_some()),
            ("start_vus", self.start_vus.is_some()),
            ("stages", self.stages.is_some()),
            ("graceful_ramp_down", self.graceful_ramp_down.is_some()),
            ("iterations", self.iterations.is_some()),
            ("max_duration", self.max_duration.is_some()),
            ("think_time", self.think_time.is_some()),
            ("arrivals", self.arrivals.is_some()),
        ];
        flags.iter().filter(|(_, set)| *set).map(|(k, _)| *k).collect()
    }
}

/// A whole number option with a lower bound, as a `u32`.
fn vus_count(v: Option<Count>, key: &str, default: Option<i64>, min: i64) -> Result<u32, String> {
    let Some(n) = v.map(|c| c.0).or(default) else {
        return Err(format!("{} is required", shown(key)));
    };
    if n < min {
        return Err(if min == 0 {
            format!("{} ({n}) can't be negative", shown(key))
        } else {
            format!("{} ({n}) must be at least {min}", shown(key))
        });
    }
    u32::try_from(n).map_err(|_| format!("{} ({n}) is more than autosim simulates ({})", shown(key), u32::MAX))
}

fn rate_count(v: RateCount, what: &str) -> Result<u64, String> {
    u64::try_from(v.0).map_err(|_| format!("{what} ({}) can't be negative", v.0))
}


/// k6 options that k6 itself would reject, or that autosim cannot simulate: which scenario and
/// executor, when known, and what is wrong, in k6's words where it has them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum K6Error {
    /// The JSON does not parse (serde_json's message, with its line and column).
    #[error("invalid k6 options JSON: {0}")]
    Json(String),
    /// The options as a whole: no execution, or shorthands that conflict.
    #[error("k6 options: {0}")]
    Options(String),
    /// A scenario with no executor, or one autosim does not simulate.
    #[error("k6 scenario {scenario:?}: {message}")]
    Scenario { scenario: String, message: String },
    /// An option of a scenario's executor.
    #[error("k6 scenario {scenario:?} ({executor}): {message}")]
    Executor { scenario: String, executor: String, message: String },
}

impl K6Spec {
    /// The executor's name as written.
    pub fn executor(&self) -> Option<&str> {
        self.raw.executor.as_deref()
    }

    /// Check the options as k6 does (`Validate()` of each executor config in
    /// `lib/executor/*.go`), fill in k6's defaults and resolve `think_time` (an `empirical`
    /// distribution's file is read relative to `base_dir`). Errors name the scenario, the
    /// executor and the option.
    pub fn validate(&self, name: &str, base_dir: &Path) -> Result<K6Scenario, K6Error> {
        let r = &self.raw;
        let scenario_error = |message: String| K6Error::Scenario { scenario: name.to_string(), message };
        let Some(executor) = r.executor.as_deref() else {
            return Err(scenario_error(format!("missing `executor`, expected one of {EXECUTORS}")));
        };
        let Some(kind) = Kind::from_name(executor) else {
            let why = if executor == "externally-controlled" {
                "it is driven through k6's REST API while the test runs, which has no \
                 counterpart in a simulation; use ramping-vus with the same stages instead"
                    .to_string()
            } else {
                format!("expected one of {EXECUTORS}")
            };
            return Err(scenario_error(format!("unsupported executor {executor:?}: {why}")));
        };
        let err = |message: String| K6Error::Executor { scenario: name.to_string(), executor: executor.to_string(), message };
        for key in r.present() {
            if !COMMON_KEYS.contains(&key) && !kind.keys().contains(&key) {
                let takes: Vec<String> = kind.keys().iter().map(|k| shown(k)).collect();
                return Err(err(format!(
                    "{} is not an option of this executor; it takes {}, and the common {}",
                    shown(key),
                    takes.join(", "),
                    COMMON_KEYS.map(shown).join(", ")
                )));
            }
        }
        let start_ns = r.start_time.map_or(0, |d| d.0);
        let graceful_stop_ns = r.graceful_stop.map_or(DEFAULT_GRACEFUL_STOP_NS, |d| d.0);
        let think_time = match &r.think_time {
            Some(spec) => spec.resolve(base_dir).map_err(|e| err(format!("invalid `think_time`: {e}")))?,
            None => Dist::Constant(0.0),
        };
        let exec = self.executor_of(kind).map_err(err)?;
        Ok(K6Scenario { name: name.to_string(), start_ns, graceful_stop_ns, think_time, exec })
    }

    fn executor_of(&self, kind: Kind) -> Result<Executor, String> {
        let r = &self.raw;
        let min_duration = |d: Option<Duration>, key: &str, default: Option<u64>| {
            let Some(ns) = d.map(|d| d.0).or(default) else {
                return Err(format!("{} is required", shown(key)));
            };
            if ns < MIN_DURATION_NS {
                return Err(format!(
                    "{} must be at least 1s (as in k6), but is {}",
                    shown(key),
                    Duration(ns)
                ));
            }
            Ok(ns)
        };
        match kind {
            Kind::ConstantArrivalRate | Kind::RampingArrivalRate => {
                let time_unit_ns = r.time_unit.map_or(NANOS_PER_SEC, |d| d.0);
                if time_unit_ns == 0 {
                    return Err(format!("{} must be longer than 0", shown("time_unit")));
                }
                let stages = if kind == Kind::ConstantArrivalRate {
                    let Some(rate) = r.rate else {
                        return Err("`rate` is required (iterations per `time_unit`)".into());
                    };
                    if rate.0 <= 0 {
                        return Err(format!("`rate` ({}) must be more than 0", rate.0));
                    }
                    let duration_ns = min_duration(r.duration, "duration", None)?;
                    RateStages::constant(rate.0 as u64, time_unit_ns, duration_ns)?
                } else {
                    let start = rate_count(r.start_rate.unwrap_or_default(), &shown("start_rate"))?;
                    let stages = self.stages()?;
                    RateStages::ramping(start, time_unit_ns, &stages)?
                };
                let pre_allocated_vus = vus_count(r.pre_allocated_vus, "pre_allocated_vus", None, 0)?;
                let max_vus = vus_count(r.max_vus, "max_vus", Some(i64::from(pre_allocated_vus)), 0)?;
                if max_vus < pre_allocated_vus {
                    return Err(format!(
                        "{} ({max_vus}) can't be less than {} ({pre_allocated_vus})",
                        shown("max_vus"),
                        shown("pre_allocated_vus")
                    ));
                }
                if max_vus == 0 {
                    return Err(format!(
                        "no VUs to run iterations on: set {} (and {} for more on demand)",
                        shown("pre_allocated_vus"),
                        shown("max_vus")
                    ));
                }
                let poisson = r.arrivals == Some(Arrivals::Poisson);
                Ok(Executor::ArrivalRate { stages, poisson, pre_allocated_vus, max_vus })
            }
            Kind::ConstantVus => {
                let vus = vus_count(r.vus, "vus", Some(1), 1)?;
                let duration_ns = min_duration(r.duration, "duration", None)?;
                Ok(Executor::Vus {
                    vu_stages: VuStages::constant(vus, duration_ns),
                    graceful_ramp_down_ns: DEFAULT_GRACEFUL_RAMP_DOWN_NS,
                })
            }
            Kind::RampingVus => {
                let start = vus_count(r.start_vus, "start_vus", Some(1), 0)?;
                let stages = self.stages()?;
                let limit = |n: u64, what: String| {
                    if n > MAX_CONCURRENT_VUS {
                        Err(format!("{what} ({n}) exceeds k6's limit of {MAX_CONCURRENT_VUS} VUs"))
                    } else {
                        Ok(n as u32)
                    }
                };
                let start = limit(u64::from(start), shown("start_vus"))?;
                let mut vu_stages = Vec::with_capacity(stages.len());
                for (i, &(d, target)) in stages.iter().enumerate() {
                    vu_stages.push((d, limit(target, format!("the target of stage {}", i + 1))?));
                }
                if start == 0 && vu_stages.iter().all(|&(_, t)| t == 0) {
                    return Err(format!(
                        "either {} or one of the stages' targets must be more than 0",
                        shown("start_vus")
                    ));
                }
                let graceful_ramp_down_ns =
                    r.graceful_ramp_down.map_or(DEFAULT_GRACEFUL_RAMP_DOWN_NS, |d| d.0);
                Ok(Executor::Vus { vu_stages: VuStages::new(start, &vu_stages)?, graceful_ramp_down_ns })
            }
            Kind::PerVuIterations | Kind::SharedIterations => {
                let vus = vus_count(r.vus, "vus", Some(1), 1)?;
                let iterations = r.iterations.map_or(1, |c| c.0);
                let max_duration_ns =
                    min_duration(r.max_duration, "max_duration", Some(DEFAULT_MAX_DURATION_NS))?;
                if kind == Kind::PerVuIterations {
                    if iterations <= 0 {
                        return Err(format!("`iterations` ({iterations}) must be more than 0"));
                    }
                    Ok(Executor::Iterations {
                        vus,
                        per_vu: Some(iterations as u64),
                        shared: None,
                        max_duration_ns,
                    })
                } else {
                    if iterations < i64::from(vus) {
                        return Err(format!(
                            "`iterations` ({iterations}) can't be less than `vus` ({vus}): \
                             every VU runs at least one"
                        ));
                    }
                    Ok(Executor::Iterations {
                        vus,
                        per_vu: None,
                        shared: Some(iterations as u64),
                        max_duration_ns,
                    })
                }
            }
        }
    }

    /// The stages as `(duration_ns, target)`, checked as k6's `validateStages` does.
    fn stages(&self) -> Result<Vec<(u64, u64)>, String> {
        let stages = self.raw.stages.as_deref().unwrap_or_default();
        if stages.is_empty() {
            return Err("at least one stage has to be specified in `stages`".into());
        }
        let mut out = Vec::with_capacity(stages.len());
        for (i, s) in stages.iter().enumerate() {
            let n = i + 1;
            let d = s.duration.ok_or_else(|| format!("stage {n} doesn't have a `duration`"))?;
            let t = s.target.ok_or_else(|| format!("stage {n} doesn't have a `target`"))?;
            out.push((d.0, rate_count(t, &format!("the target of stage {n}"))?));
        }
        Ok(out)
    }
}

// =============================================================================================
// k6's JSON options
// =============================================================================================

/// The scenarios in the order written (names unique).
struct ScenarioList(Vec<(String, Raw<JsonDuration>)>);

impl<'de> Deserialize<'de> for ScenarioList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ScenarioList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of scenarios by name, like {\"load\": {\"executor\": ...}}")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScenarioList, A::Error> {
                let mut out: Vec<(String, Raw<JsonDuration>)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if out.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format!("duplicate scenario {name:?}")));
                    }
                    let spec = map.next_value()?;
                    out.push((name, spec));
                }
                Ok(ScenarioList(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The parts of k6's `lib.Options` that shape the load; every other option is ignored.
/// Read through [`OptionsObject`], which takes only a JSON object.
#[derive(Deserialize)]
struct OptionsJson {
    #[serde(default)]
    scenarios: Option<ScenarioList>,
    #[serde(default)]
    vus: Option<Count>,
    #[serde(default)]
    duration: Option<JsonDuration>,
    #[serde(default)]
    iterations: Option<Count>,
    #[serde(default)]
    stages: Option<Vec<RawStage<JsonDuration>>>,
    /// Present in `k6 inspect --execution-requirements` output, where k6 has already derived
    /// `scenarios` from any shorthand options.
    #[serde(default, rename = "totalDuration")]
    total_duration: Option<IgnoredAny>,
    #[serde(default, rename = "maxVUs")]
    max_vus: Option<IgnoredAny>,
    /// `{"options": {...}}`, as in `export const options = {...}`.
    #[serde(default)]
    options: Option<Box<OptionsObject>>,
}

/// [`OptionsJson`] from an object only (a derived struct would also take an array).
struct OptionsObject(OptionsJson);

impl<'de> Deserialize<'de> for OptionsObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptionsObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a k6 options object, like {\"scenarios\": {...}} or {\"vus\": 10, \"duration\": \"30s\"}",
                )
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OptionsObject, A::Error> {
                OptionsJson::deserialize(de::value::MapAccessDeserializer::new(map)).map(OptionsObject)
            }
        }
        d.deserialize_map(V)
    }
}

impl OptionsJson {
    fn has_execution(&self) -> bool {
        self.scenarios.is_some()
            || self.vus.is_some()
            || self.duration.is_some()
            || self.iterations.is_some()
            || self.stages.is_some()
    }
}

fn spec_of(raw: Raw<JsonDuration>) -> K6Spec {
    K6Spec { raw: raw.into_durations() }
}

/// k6's `DeriveScenariosFromShortcuts` (`lib/executor/execution_config_shortcuts.go`).
fn derive_scenarios(o: OptionsJson) -> Result<Vec<(String, K6Spec)>, String> {
    if !o.has_execution() {
        if let Some(inner) = o.options {
            return derive_scenarios(inner.0);
        }
        return Err("the k6 options set no execution: expected `scenarios`, or the shorthand \
                    `vus` with `duration`, `stages`, or `iterations` (k6 itself would run a \
                    single iteration on one VU)"
            .into());
    }
    let conflict = |a: &str, b: &str| {
        Err(format!(
            "using an execution configuration shortcut (`{a}`) and `{b}` simultaneously is not \
             allowed (as in k6)"
        ))
    };
    let from_inspect = o.total_duration.is_some() || o.max_vus.is_some();
    let stages_set = o.stages.as_ref().is_some_and(|s| !s.is_empty());
    let default = |raw: Raw<Duration>| Ok(vec![(DEFAULT_SCENARIO_NAME.to_string(), K6Spec { raw })]);
    let scenarios = match o.scenarios {
        Some(list) if from_inspect => return scenario_list(list),
        s => s,
    };
    if let Some(iterations) = o.iterations {
        if stages_set {
            return conflict("iterations", "stages");
        }
        if scenarios.is_some() {
            return conflict("iterations", "scenarios");
        }
        return default(Raw {
            executor: Some("shared-iterations".into()),
            vus: o.vus,
            iterations: Some(iterations),
            max_duration: o.duration.map(Into::into),
            ..Raw::default()
        });
    }
    if let Some(duration) = o.duration {
        if stages_set {
            return conflict("duration", "stages");
        }
        if scenarios.is_some() {
            return conflict("duration", "scenarios");
        }
        if duration.0 == Duration::ZERO {
            return Err("`duration` should be more than 0 (as in k6)".into());
        }
        return default(Raw {
            executor: Some("constant-vus".into()),
            vus: o.vus,
            duration: Some(duration.0),
            ..Raw::default()
        });
    }
    if stages_set {
        if scenarios.is_some() {
            return conflict("stages", "scenarios");
        }
        // k6 keeps only the stages with a duration and takes `vus` as the start.
        let stages = o.stages.unwrap_or_default();
        let stages = stages
            .into_iter()
            .filter(|s| s.duration.is_some())
            .map(|s| RawStage { duration: s.duration.map(Into::into), target: s.target })
            .collect();
        return default(Raw {
            executor: Some("ramping-vus".into()),
            start_vus: o.vus,
            stages: Some(stages),
            ..Raw::default()
        });
    }
    match scenarios {
        Some(list) => scenario_list(list),
        None => Err("`vus` alone sets no execution: add `duration`, `stages` or `iterations`, \
                     or write `scenarios` (k6 would ignore `vus` and run one iteration)"
            .into()),
    }
}

fn scenario_list(list: ScenarioList) -> Result<Vec<(String, K6Spec)>, String> {
    if list.0.is_empty() {
        return Err("`scenarios` is empty: the k6 options define no scenario".into());
    }
    Ok(list.0.into_iter().map(|(name, raw)| (name, spec_of(raw))).collect())
}

/// Read k6's options as JSON: the output of `k6 inspect script.js` (or of
/// `k6 inspect --execution-requirements`), the `options` object of a script, or such an object
/// wrapped as `{"options": {...}}`. Gives the scenarios in the order written, each to be checked
/// with [`K6Spec::validate`].
///
/// Like k6, the shorthand options become one scenario named `"default"`:
/// `iterations` (with `vus`, and `duration` as its `maxDuration`) a shared-iterations one,
/// `duration` (with `vus`) a constant-vus one, `stages` (with `vus` as `startVUs`) a
/// ramping-vus one; mixing them with each other or with `scenarios` is an error, except in
/// `--execution-requirements` output (recognized by `totalDuration` / `maxVUs`), where k6 has
/// already derived `scenarios` from them. Options unrelated to the load shape (thresholds, tags,
/// ...) are ignored; `null` means unset. Durations that are numbers, or strings without a unit,
/// are milliseconds, as in k6. Syntax and type errors give serde_json's line and column.
pub fn parse_options_json(text: &str) -> Result<Vec<(String, K6Spec)>, K6Error> {
    let opts: OptionsObject =
        serde_json::from_str(text).map_err(|e| K6Error::Json(crate::quote::shorten(&e.to_string())))?;
    derive_scenarios(opts.0).map_err(K6Error::Options)
}

// =============================================================================================
// Tests
// =============================================================================================

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    const S: u64 = NANOS_PER_SEC;
    const MS: u64 = 1_000_000;

    #[derive(Deserialize)]
    struct W {
        s: K6Spec,
    }

    fn spec(toml_table: &str) -> Result<K6Spec, String> {
        toml::from_str::<W>(&format!("s = {toml_table}")).map(|w| w.s).map_err(|e| e.to_string())
    }

    fn scenario(toml_table: &str) -> Result<K6Scenario, String> {
        spec(toml_table)?.validate("load", Path::new(".")).map_err(|e| e.to_string())
    }

    fn ok(toml_table: &str) -> K6Scenario {
        scenario(toml_table).unwrap_or_else(|e| panic!("{toml_table}: {e}"))
    }

    fn err(toml_table: &str) -> String {
        match scenario(toml_table) {
            Ok(s) => panic!("{toml_table}: expected an error, got {s:?}"),
            Err(e) => e,
        }
    }

    fn json(text: &str) -> Vec<K6Scenario> {
        parse_options_json(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .into_iter()
            .map(|(n, s)| s.validate(&n, Path::new(".")).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn json_err(text: &str) -> String {
        match parse_options_json(text) {
            Ok(v) => {
                let errs: Vec<String> = v
                    .into_iter()
                    .filter_map(|(n, s)| s.validate(&n, Path::new(".")).err().map(|e| e.to_string()))
                    .collect();
                assert!(!errs.is_empty(), "{text}: expected an error");
                errs.join("\n")
            }
            Err(e) => e.to_string(),
        }
    }

    fn all_starts(mut r: RateStages) -> Vec<u64> {
        let mut v = Vec::new();
        while let Some(t) = r.next_start() {
            v.push(t);
        }
        v
    }

    // ---------------------------------------------------------------------------------------
    // Config
    // ---------------------------------------------------------------------------------------

    #[test]
    fn defaults_per_executor() {
        let s = ok("{ executor = \"constant-arrival-rate\", rate = 10, duration = \"1m\", pre_allocated_vus = 5 }");
        assert_eq!((s.name.as_str(), s.start_ns, s.graceful_stop_ns), ("load", 0, 30 * S));
        assert_eq!(s.think_time, Dist::Constant(0.0));
        let Executor::ArrivalRate { stages, poisson, pre_allocated_vus, max_vus } = &s.exec else { panic!() };
        assert_eq!((*poisson, *pre_allocated_vus, *max_vus), (false, 5, 5));
        assert_eq!((stages.time_unit_ns(), stages.total_duration_ns()), (S, 60 * S));
        assert!(stages.first_at_zero());
        assert_eq!(stages.rate_at(0), 10.0);
        assert_eq!((s.duration_ns(), s.end_ns(), s.max_vus()), (60 * S, 90 * S, 5));

        let s = ok("{ executor = \"ramping-arrival-rate\", pre_allocated_vus = 2, stages = [{ duration = \"10s\", target = 20 }] }");
        let Executor::ArrivalRate { stages, max_vus, .. } = &s.exec else { panic!() };
        assert_eq!(*max_vus, 2);
        assert!(!stages.first_at_zero());
        assert_eq!(stages.rate_at(0), 0.0, "start_rate defaults to 0");
        assert_eq!(stages.rate_at(5 * S), 10.0);

        let s = ok("{ executor = \"constant-vus\", duration = \"30s\" }");
        assert_eq!(
            s.exec,
            Executor::Vus { vu_stages: VuStages::constant(1, 30 * S), graceful_ramp_down_ns: 30 * S }
        );

        let s = ok("{ executor = \"ramping-vus\", stages = [{ duration = \"10s\", target = 5 }] }");
        let Executor::Vus { vu_stages, graceful_ramp_down_ns } = &s.exec else { panic!() };
        assert_eq!((vu_stages.start_vus(), *graceful_ramp_down_ns), (1, 30 * S));

        let s = ok("{ executor = \"per-vu-iterations\" }");
        assert_eq!(
            s.exec,
            Executor::Iterations { vus: 1, per_vu: Some(1), shared: None, max_duration_ns: 600 * S }
        );
        let s = ok("{ executor = \"shared-iterations\" }");
        assert_eq!(
            s.exec,
            Executor::Iterations { vus: 1, per_vu: None, shared: Some(1), max_duration_ns: 600 * S }
        );
        assert_eq!(s.end_ns(), 630 * S);
    }

    #[test]
    fn all_options_set() {
        let s = ok("{ executor = \"ramping-vus\", start_vus = 0, start_time = \"1m\", graceful_stop = \"5s\", \
                    graceful_ramp_down = 0, think_time = { dist = \"exponential\", mean = \"2s\" }, \
                    stages = [{ duration = \"10s\", target = 10 }, { duration = 10, target = 0 }] }");
        assert_eq!((s.start_ns, s.graceful_stop_ns), (60 * S, 5 * S));
        assert_eq!(s.think_time, Dist::exponential(2.0).unwrap());
        let Executor::Vus { vu_stages, graceful_ramp_down_ns } = &s.exec else { panic!() };
        assert_eq!((*graceful_ramp_down_ns, vu_stages.total_duration_ns(), vu_stages.max_vus()), (0, 20 * S, 10));
        assert_eq!(s.end_ns(), 85 * S);

        let s = ok("{ executor = \"constant-arrival-rate\", rate = 3, time_unit = \"1m\", duration = \"1h\", \
                    pre_allocated_vus = 1, max_vus = 9, arrivals = \"poisson\" }");
        let Executor::ArrivalRate { stages, poisson, max_vus, .. } = &s.exec else { panic!() };
        assert!(*poisson);
        assert_eq!(*max_vus, 9);
        assert!((stages.rate_at(0) - 0.05).abs() < 1e-15);
        assert!((stages.expected_iterations(u64::MAX) - 180.0).abs() < 1e-9);
        let s = ok("{ executor = \"per-vu-iterations\", vus = 4, iterations = 25, max_duration = \"1h\" }");
        assert_eq!(
            s.exec,
            Executor::Iterations { vus: 4, per_vu: Some(25), shared: None, max_duration_ns: 3600 * S }
        );
    }

    #[test]
    fn toml_and_json_forms_agree() {
        let toml_form = ok("{ executor = \"ramping-arrival-rate\", start_rate = 10, time_unit = \"1s\", \
            pre_allocated_vus = 50, max_vus = 500, start_time = \"30s\", graceful_stop = \"10s\", \
            stages = [ { duration = \"10m\", target = 200 }, { duration = \"30m\", target = 200 } ] }");
        let v = json(
            r#"{"scenarios": {"load": {"executor": "ramping-arrival-rate", "startRate": 10,
                "timeUnit": "1s", "preAllocatedVUs": 50, "maxVUs": 500, "startTime": "30s",
                "gracefulStop": "10s", "exec": "default", "env": {"A": "1"}, "tags": null,
                "stages": [{"duration": "10m", "target": 200}, {"duration": "30m", "target": 200}]}}}"#,
        );
        assert_eq!(v, vec![toml_form]);

        // camelCase in TOML and snake_case in JSON are accepted too.
        let a = ok("{ executor = \"ramping-vus\", startVUs = 0, gracefulRampDown = \"0s\", stages = [{ duration = \"20s\", target = 10 }] }");
        let b = json(r#"{"scenarios": {"load": {"executor": "ramping-vus", "start_vus": 0, "gracefulRampDown": "0s", "stages": [{"duration": "20s", "target": 10}]}}}"#);
        assert_eq!(b, vec![a]);

        let a = ok("{ executor = \"shared-iterations\", vus = 10, iterations = 200, max_duration = \"30s\" }");
        let b = json(r#"{"scenarios": {"load": {"executor": "shared-iterations", "vus": 10, "iterations": 200, "maxDuration": "30s"}}}"#);
        assert_eq!(b, vec![a]);
    }

    #[test]
    fn json_durations_are_milliseconds_when_bare() {
        let v = json(
            r#"{"scenarios": {"a": {"executor": "constant-vus", "duration": 90000, "gracefulStop": "1500", "startTime": 0.5},
                              "b": {"executor": "constant-vus", "duration": "1m30s", "gracefulStop": "1.5s", "startTime": "500us"},
                              "c": {"executor": "constant-vus", "duration": "1d", "gracefulStop": 1500.0}}}"#,
        );
        assert_eq!(v.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        for s in &v[..2] {
            assert_eq!((s.duration_ns(), s.graceful_stop_ns, s.start_ns), (90 * S, 1500 * MS, 500_000));
        }
        assert_eq!((v[2].duration_ns(), v[2].graceful_stop_ns), (86_400 * S, 1500 * MS));
        // In TOML a bare number is seconds, as everywhere in autosim.
        assert_eq!(ok("{ executor = \"constant-vus\", duration = 90 }").duration_ns(), 90 * S);
    }

    #[test]
    fn shorthand_json_forms() {
        let v = json(r#"{"vus": 10, "duration": "30s"}"#);
        let want = Executor::Vus { vu_stages: VuStages::constant(10, 30 * S), graceful_ramp_down_ns: 30 * S };
        assert_eq!((v.len(), v[0].name.as_str(), &v[0].exec), (1, "default", &want));

        let v = json(r#"{"stages": [{"duration": "10s", "target": 10}, {"duration": "10s", "target": 0}]}"#);
        let Executor::Vus { vu_stages, .. } = &v[0].exec else { panic!() };
        assert_eq!(vu_stages.start_vus(), 1, "k6 takes `vus` (default 1) as startVUs");
        assert_eq!(vu_stages.total_duration_ns(), 20 * S);
        let v = json(r#"{"vus": 3, "stages": [{"duration": "10s", "target": 10}, {"target": 99}]}"#);
        let Executor::Vus { vu_stages, .. } = &v[0].exec else { panic!() };
        assert_eq!((vu_stages.start_vus(), vu_stages.max_vus()), (3, 10), "stages without a duration are dropped");

        let v = json(r#"{"vus": 5, "iterations": 100}"#);
        assert_eq!(v[0].exec, Executor::Iterations { vus: 5, per_vu: None, shared: Some(100), max_duration_ns: 600 * S });
        let v = json(r#"{"vus": 5, "iterations": 100, "duration": "1m"}"#);
        assert_eq!(v[0].exec, Executor::Iterations { vus: 5, per_vu: None, shared: Some(100), max_duration_ns: 60 * S });
        let v = json(r#"{"iterations": 7}"#);
        assert_eq!(v[0].exec, Executor::Iterations { vus: 1, per_vu: None, shared: Some(7), max_duration_ns: 600 * S });

        // k6 inspect output: nulls are unset, unrelated options are ignored.
        let v = json(
            r#"{"paused": null, "vus": 10, "duration": "30s", "iterations": null, "stages": null,
                "scenarios": null, "thresholds": {"http_req_duration": ["p(95)<500"]},
                "summaryTrendStats": ["avg", "p(95)"], "tags": {"a": "b"}, "noSetup": null}"#,
        );
        assert_eq!(v[0].exec, want);
        // k6 inspect --execution-requirements: shorthand and derived scenarios side by side.
        let v = json(
            r#"{"vus": 10, "duration": "30s", "totalDuration": "1m0s", "maxVUs": 10,
                "scenarios": {"default": {"executor": "constant-vus", "startTime": null,
                "gracefulStop": "30s", "env": null, "exec": "default", "tags": null,
                "vus": 10, "duration": "30s"}}}"#,
        );
        assert_eq!((v.len(), &v[0].exec), (1, &want));
        // `{"options": {...}}`
        let v = json(r#"{"options": {"scenarios": {"x": {"executor": "constant-vus", "vus": 10, "duration": "30s"}}}}"#);
        assert_eq!((v[0].name.as_str(), &v[0].exec), ("x", &want));
    }

    #[test]
    fn shorthand_conflicts_and_empty() {
        let e = json_err(r#"{"iterations": 10, "stages": [{"duration": "1s", "target": 1}]}"#);
        assert!(e.contains("(`iterations`) and `stages`"), "{e}");
        let e = json_err(r#"{"duration": "10s", "scenarios": {"a": {"executor": "constant-vus", "duration": "10s"}}}"#);
        assert!(e.contains("(`duration`) and `scenarios` simultaneously is not allowed"), "{e}");
        let e = json_err(r#"{"stages": [{"duration": "1s", "target": 1}], "scenarios": {}}"#);
        assert!(e.contains("(`stages`) and `scenarios`"), "{e}");
        let e = json_err(r#"{"duration": "0s"}"#);
        assert!(e.contains("`duration` should be more than 0"), "{e}");
        let e = json_err(r#"{"thresholds": {}}"#);
        assert!(e.contains("set no execution"), "{e}");
        let e = json_err(r#"{"vus": 10}"#);
        assert!(e.contains("`vus` alone"), "{e}");
        let e = json_err(r#"{"scenarios": {}}"#);
        assert!(e.contains("`scenarios` is empty"), "{e}");
    }

    #[test]
    fn json_errors_have_positions() {
        let e = json_err("{\"scenarios\": {\n  \"a\": {\"executor\": \"constant-vus\",\n  \"duraton\": \"10s\"}}}");
        assert!(e.contains("unknown field `duraton`") && e.contains("line 3"), "{e}");
        let e = json_err("{\"scenarios\": {\"a\": {\"executor\": \"constant-vus\", \"duration\": \"10 parsecs\"}}}");
        assert!(e.contains("invalid duration \"10 parsecs\"") && e.contains("line 1 column"), "{e}");
        let e = json_err("{\"scenarios\": {\"a\": {\"executor\": \"constant-vus\", \"vus\": 2.5}}}");
        assert!(e.contains("expected a whole number, got 2.5") && e.contains("column"), "{e}");
        let e = json_err("{\"scenarios\": {\"a\": {}, \"a\": {}}}");
        assert!(e.contains("duplicate scenario \"a\""), "{e}");
        let e = json_err("[1, 2]");
        assert!(e.contains("expected a k6 options object"), "{e}");
        let e = json_err("{\"scenarios\": [1]}");
        assert!(e.contains("an object of scenarios by name"), "{e}");
        let e = json_err("{\"vus\": 10,");
        assert!(e.starts_with("invalid k6 options JSON") && e.contains("line 1"), "{e}");
        let e = json_err("{\"duration\": -5}");
        assert!(e.contains("cannot be negative"), "{e}");
        // Validation errors name the scenario.
        let e = json_err(r#"{"scenarios": {"spike": {"executor": "constant-arrival-rate", "rate": 0, "duration": "1m", "preAllocatedVUs": 1}}}"#);
        assert!(e.contains("k6 scenario \"spike\" (constant-arrival-rate): `rate` (0) must be more than 0"), "{e}");
        // The same errors, typed: which scenario and executor, and the part of the options.
        let (name, s) = parse_options_json(r#"{"scenarios": {"spike": {"executor": "constant-arrival-rate", "rate": 0, "duration": "1m", "preAllocatedVUs": 1}}}"#).unwrap().remove(0);
        let K6Error::Executor { scenario, executor, message } = s.validate(&name, Path::new(".")).unwrap_err() else { panic!("not an executor error") };
        assert_eq!((scenario.as_str(), executor.as_str(), message.as_str()), ("spike", "constant-arrival-rate", "`rate` (0) must be more than 0"));
        assert!(matches!(parse_options_json("{\"vus\": 10,"), Err(K6Error::Json(_))));
        assert!(matches!(parse_options_json("{}"), Err(K6Error::Options(_))));
    }

    #[test]
    fn errors_for_bad_options() {
        let cases: &[(&str, &str)] = &[
            ("{ rate = 1 }", "k6 scenario \"load\": missing `executor`, expected one of \"constant-arrival-rate\""),
            ("{ executor = \"constant-rps\" }", "unsupported executor \"constant-rps\": expected one of"),
            ("{ executor = \"externally-controlled\" }", "REST API"),
            ("{ executor = \"ramping-vus\", rate = 1, stages = [{ duration = 1, target = 1 }] }",
             "k6 scenario \"load\" (ramping-vus): `rate` is not an option of this executor; it takes `start_vus` (`startVUs`), `stages`, `graceful_ramp_down` (`gracefulRampDown`)"),
            ("{ executor = \"constant-vus\", duration = 10, arrivals = \"poisson\" }", "`arrivals` is not an option"),
            ("{ executor = \"constant-arrival-rate\", duration = \"1m\", pre_allocated_vus = 1 }", "`rate` is required"),
            ("{ executor = \"constant-arrival-rate\", rate = -1, duration = \"1m\", pre_allocated_vus = 1 }", "`rate` (-1) must be more than 0"),
            ("{ executor = \"constant-arrival-rate\", rate = 1, duration = \"1m\", pre_allocated_vus = 1, time_unit = 0 }", "`time_unit` (`timeUnit`) must be longer than 0"),
            ("{ executor = \"constant-arrival-rate\", rate = 1, pre_allocated_vus = 1 }", "`duration` is required"),
            ("{ executor = \"constant-arrival-rate\", rate = 1, duration = \"500ms\", pre_allocated_vus = 1 }", "`duration` must be at least 1s (as in k6), but is 500ms"),
            ("{ executor = \"constant-arrival-rate\", rate = 1, duration = \"1m\" }", "`pre_allocated_vus` (`preAllocatedVUs`) is required"),
            ("{ executor = \"constant-arrival-rate\", rate = 1, duration = \"1m\", pre_allocated_vus = 10, max_vus = 5 }",
             "`max_vus` (`maxVUs`) (5) can't be less than `pre_allocated_vus` (`preAllocatedVUs`) (10)"),
            ("{ executor = \"constant-arrival-rate\", rate = 1, duration = \"1m\", pre_allocated_vus = 0 }", "no VUs to run iterations on"),
            ("{ executor = \"constant-arrival-rate\", rate = 1, duration = \"1m\", pre_allocated_vus = -2 }", "(-2) can't be negative"),
            ("{ executor = \"constant-arrival-rate\", rate = 1, duration = \"1m\", pre_allocated_vus = 5000000000 }", "is more than autosim simulates"),
            ("{ executor = \"ramping-arrival-rate\", pre_allocated_vus = 1 }", "at least one stage has to be specified"),
            ("{ executor = \"ramping-arrival-rate\", pre_allocated_vus = 1, stages = [] }", "at least one stage has to be specified"),
            ("{ executor = \"ramping-arrival-rate\", pre_allocated_vus = 1, stages = [{ duration = 1 }] }", "stage 1 doesn't have a `target`"),
            ("{ executor = \"ramping-arrival-rate\", pre_allocated_vus = 1, stages = [{ target = 1 }, { duration = 1 }] }", "stage 1 doesn't have a `duration`"),
            ("{ executor = \"ramping-arrival-rate\", pre_allocated_vus = 1, stages = [{ duration = 1, target = -3 }] }", "the target of stage 1 (-3) can't be negative"),
            ("{ executor = \"ramping-arrival-rate\", pre_allocated_vus = 1, start_rate = -1, stages = [{ duration = 1, target = 3 }] }", "`start_rate` (`startRate`) (-1) can't be negative"),
            ("{ executor = \"constant-vus\", vus = 0, duration = 10 }", "`vus` (0) must be at least 1"),
            ("{ executor = \"ramping-vus\", start_vus = 0, stages = [{ duration = 1, target = 0 }] }", "either `start_vus` (`startVUs`) or one of the stages' targets must be more than 0"),
            ("{ executor = \"ramping-vus\", stages = [{ duration = 1, target = 100000001 }] }", "the target of stage 1 (100000001) exceeds k6's limit of 100000000 VUs"),
            ("{ executor = \"per-vu-iterations\", iterations = 0 }", "`iterations` (0) must be more than 0"),
            ("{ executor = \"per-vu-iterations\", max_duration = \"100ms\" }", "`max_duration` (`maxDuration`) must be at least 1s"),
            ("{ executor = \"shared-iterations\", vus = 10, iterations = 5 }", "`iterations` (5) can't be less than `vus` (10)"),
            ("{ executor = \"constant-vus\", duration = 10, think_time = { dist = \"empirical\", file = \"no-such-file.txt\" } }", "invalid `think_time`"),
        ];
        for (table, want) in cases {
            let e = err(table);
            assert!(e.contains(want), "{table}\n  got:  {e}\n  want: {want}");
        }
        // Deserialization errors (toml adds the position).
        let e = scenario("{ executor = \"constant-vus\", duraton = 10 }").unwrap_err();
        assert!(e.contains("unknown field `duraton`") && e.contains("line 1"), "{e}");
        let e = scenario("{ executor = \"constant-arrival-rate\", rate = 0.5 }").unwrap_err();
        assert!(e.contains("expected a whole number, got 0.5") && e.contains("time_unit = \"2s\""), "{e}");
        let e = scenario("{ executor = \"constant-vus\", vus = \"10\" }").unwrap_err();
        assert!(e.contains("expected a whole number"), "{e}");
        let e = scenario("{ executor = \"constant-vus\", duration = \"-5s\" }").unwrap_err();
        assert!(e.contains("cannot be negative"), "{e}");
        let e = scenario("{ executor = \"constant-arrival-rate\", arrivals = \"bursty\" }").unwrap_err();
        assert!(e.contains("unknown variant `bursty`, expected `even` or `poisson`"), "{e}");
        let e = scenario("{ executor = \"ramping-vus\", stages = [{ duration = 1, target = 1, ramp = \"linear\" }] }").unwrap_err();
        assert!(e.contains("unknown field `ramp`"), "{e}");
    }

    // ---------------------------------------------------------------------------------------
    // Schedule math
    // ---------------------------------------------------------------------------------------

    #[test]
    fn u256_products() {
        let m = u128::MAX;
        assert_eq!(U256::mul(m, m), U256 { hi: m - 1, lo: 1 });
        assert_eq!(U256::mul(1 << 64, 1 << 64), U256 { hi: 1, lo: 0 });
        assert_eq!(U256::mul(12345, 678), U256 { hi: 0, lo: 12345 * 678 });
        let a = U256 { hi: 0, lo: m };
        assert_eq!(a.add(U256 { hi: 0, lo: 1 }), U256 { hi: 1, lo: 0 });
        assert!(U256 { hi: 1, lo: 0 } > U256 { hi: 0, lo: m });
    }

    #[test]
    fn constant_arrival_rate_even_spacing() {
        let starts = all_starts(RateStages::constant(10, S, 60 * S).unwrap());
        assert_eq!(starts.len(), 600);
        for (k, &t) in starts.iter().enumerate() {
            assert_eq!(t, k as u64 * 100 * MS);
        }
        // 3/s: exact thirds, truncated, with no drift (k6 would drift by i ns here).
        let starts = all_starts(RateStages::constant(3, S, 3600 * S).unwrap());
        assert_eq!(starts.len(), 10_800);
        for (k, &t) in starts.iter().enumerate() {
            assert_eq!(t, (k as u64 * S) / 3);
        }
        // A time unit of one minute.
        let starts = all_starts(RateStages::constant(2, 60 * S, 10 * 60 * S).unwrap());
        assert_eq!(starts, (0..20).map(|k| k * 30 * S).collect::<Vec<_>>());
    }

    #[test]
    fn ramping_arrival_rate_counts_from_area_one() {
        // k6's cal(): "we need to start from 1 not 0" (lib/executor/ramping_arrival_rate.go).
        let r = RateStages::ramping(10, S, &[(60 * S, 10)]).unwrap();
        let starts = all_starts(r);
        assert_eq!(starts.len(), 599, "area 600; the 600th lands exactly on the end");
        for (k, &t) in starts.iter().enumerate() {
            assert_eq!(t, (k as u64 + 1) * 100 * MS);
        }
        // 0 -> 10/s over 10s: area t^2/2 (t in s), so iteration n starts at sqrt(2n) s.
        let starts = all_starts(RateStages::ramping(0, S, &[(10 * S, 10)]).unwrap());
        assert_eq!(starts.len(), 49);
        assert_eq!(starts[0], 1_414_213_562); // sqrt(2) s, truncated
        assert_eq!(starts[1], 2 * S);
        assert_eq!(starts[48], 9_899_494_936); // sqrt(98) s
        // k6's own example: 2/s for 5s, then up to 3/s over 5s; the 11th and 12th are after 5s.
        let starts = all_starts(RateStages::ramping(2, S, &[(5 * S, 2), (5 * S, 3)]).unwrap());
        assert_eq!(starts[..10], (1..=10).map(|n| n * 500 * MS).collect::<Vec<_>>()[..]);
        // Past 5s the area is 2t + 0.1t^2 (t in s); the 11th is where it is 1:
        // t = (sqrt(440) - 20) / 2 = 0.488088481... s.
        assert_eq!(starts[10], 5 * S + 488_088_481);
        assert_eq!(starts.len(), 22, "area 22.5");
    }

    /// `A(t_k) <= n_k < A(t_k + 1 ns)` for every start, exactly, and the count is the area
    /// (within 1) at every stage end.
    fn check_shape(start: u64, unit: u64, stages: &[(u64, u64)]) {
        for first_at_zero in [false, true] {
            let r = RateStages::build(start, unit, stages, first_at_zero).unwrap();
            let total = r.expected_iterations(u64::MAX);
            let mut probe = r.clone();
            let mut n = u64::from(!first_at_zero);
            let mut count = 0u64;
            let mut prev = 0;
            while let Some(t) = probe.next_start() {
                assert!(t >= prev && t < r.total_duration_ns());
                prev = t;
                let need = 2 * u128::from(unit) * u128::from(n);
                // The stage holding the crossing: area_before < need <= area_before + area.
                if need > 0 {
                    let s = r.stages.iter().find(|s| s.area_before < need && need <= s.area_before + s.area).unwrap();
                    let tau = t - s.start_ns;
                    assert_ne!(s.cmp_area(tau, need - s.area_before), Ordering::Greater, "{stages:?} n={n}");
                    if tau < s.dur_ns {
                        assert_eq!(s.cmp_area(tau + 1, need - s.area_before), Ordering::Greater, "{stages:?} n={n}");
                    }
                }
                n += 1;
                count += 1;
            }
            assert!((count as f64 - total).abs() <= 1.0, "{stages:?}: {count} starts, area {total}");
            // And within every prefix ending at a stage boundary.
            let mut end = 0;
            for &(d, _) in stages {
                end += d;
                let in_span = all_starts(r.clone()).iter().filter(|&&t| t < end).count() as f64;
                let area = r.expected_iterations(end);
                assert!((in_span - area).abs() <= 1.0, "{stages:?} until {end}: {in_span} vs {area}");
            }
        }
    }

    #[test]
    fn area_matches_iteration_count() {
        check_shape(0, S, &[(120 * S, 50)]); // ramp up
        check_shape(50, S, &[(300 * S, 50)]); // plateau
        check_shape(50, S, &[(60 * S, 0)]); // ramp down to 0
        check_shape(7, S, &[(10 * S, 30), (20 * S, 30), (15 * S, 0), (30 * S, 0), (0, 40), (10 * S, 5)]); // zero-rate stage, jump
        check_shape(13, 60 * S, &[(600 * S, 997), (333 * S, 1), (1, 1_000_000)]); // odd units, a 1 ns stage
        check_shape(1, 7 * MS, &[(3 * S, 2), (0, 0), (2 * S, 9)]);
        let r = RateStages::ramping(0, S, &[(10 * S, 0), (10 * S, 0)]).unwrap();
        assert_eq!(all_starts(r), Vec::<u64>::new());
        // A zero-rate stage in the middle: nothing starts in it (the 100th lands exactly on its
        // start, where the area reaches 100).
        let starts = all_starts(RateStages::ramping(10, S, &[(10 * S, 10), (0, 0), (10 * S, 0), (0, 10), (10 * S, 10)]).unwrap());
        assert_eq!(starts[99], 10 * S);
        assert!(starts.iter().all(|&t| t <= 10 * S || t >= 20 * S));
        assert_eq!(starts.len(), 199);
    }

    #[test]
    fn solve_floor_is_exact() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for _ in 0..20_000 {
            let d = match rng.gen_range(0..3) {
                0 => rng.gen_range(1..1000),
                1 => rng.gen_range(1..u64::from(u32::MAX)),
                _ => rng.gen_range(1..u64::MAX / 2),
            };
            let big = rng.gen_bool(0.3);
            let r = |rng: &mut Xoshiro256PlusPlus| if big { rng.gen_range(0..i64::MAX as u64) } else { rng.gen_range(0..1000) };
            let (from, to) = (r(&mut rng), r(&mut rng));
            let area = u128::from(from + to) * u128::from(d);
            if area == 0 {
                continue;
            }
            let s = RateStage { start_ns: 0, dur_ns: d, from, to, area_before: 0, area };
            let local = match rng.gen_range(0..3) {
                0 => 1,
                1 => area,
                _ => rng.gen_range(1..=area),
            };
            let tau = s.solve_floor(local);
            assert!(tau <= d);
            assert_ne!(s.cmp_area(tau, local), Ordering::Greater, "{s:?} {local}");
            if tau < d {
                assert_eq!(s.cmp_area(tau + 1, local), Ordering::Greater, "{s:?} {local}");
            }
        }
    }

    #[test]
    fn millions_of_iterations_stay_exact() {
        // 1000/s for an hour: 3.6 million starts, each exactly k ms.
        let mut r = RateStages::constant(1000, S, 3600 * S).unwrap();
        let mut k = 0u64;
        while let Some(t) = r.next_start() {
            assert_eq!(t, k * MS);
            k += 1;
        }
        assert_eq!(k, 3_600_000);
        // 0 -> 2000/s over 30 min: iteration n at sqrt(1.8 n) s; spot-check against a float
        // solution (exact to well under a microsecond at this size).
        let mut r = RateStages::ramping(0, S, &[(1800 * S, 2000)]).unwrap();
        let mut n = 0u64;
        while let Some(t) = r.next_start() {
            n += 1;
            if n % 99_991 == 0 {
                let want = (1.8 * n as f64).sqrt() * 1e9;
                assert!((t as f64 - want).abs() < 2.0, "n={n}: {t} vs {want}");
            }
        }
        assert_eq!(n, 1_799_999);
    }

    #[test]
    fn rate_and_area() {
        let r = RateStages::ramping(60, 60 * S, &[(60 * S, 120), (0, 0), (60 * S, 0)]).unwrap();
        assert_eq!(r.rate_at(0), 1.0);
        assert_eq!(r.rate_at(30 * S), 1.5);
        assert_eq!(r.rate_at(60 * S), 0.0, "the jump to 0 applies from its instant");
        assert_eq!(r.rate_at(120 * S), 0.0);
        assert_eq!(r.peak_rate(), 2.0);
        assert_eq!(r.expected_iterations(0), 0.0);
        assert!((r.expected_iterations(30 * S) - 37.5).abs() < 1e-12);
        assert!((r.expected_iterations(60 * S) - 90.0).abs() < 1e-12);
        assert_eq!(r.expected_iterations(u64::MAX), 90.0);
        let r = RateStages::ramping(0, S, &[(10 * S, 10), (10 * S, 0)]).unwrap();
        assert_eq!(r.rate_at(5 * S), 5.0);
        assert_eq!(r.rate_at(15 * S), 5.0);
        assert!((r.expected_iterations(15 * S) - 87.5).abs() < 1e-12);
    }

    #[test]
    fn reset_and_iterator() {
        let mut r = RateStages::ramping(5, S, &[(2 * S, 5)]).unwrap();
        let a: Vec<u64> = r.by_ref().collect();
        assert_eq!(a.len(), 9);
        assert_eq!(r.next_start(), None);
        r.reset();
        assert_eq!(r.next_start(), Some(200 * MS));
    }

    #[test]
    fn poisson_starts_average_to_the_area() {
        for (start, stages) in [
            (100, vec![(600 * S, 100)]),
            (0, vec![(300 * S, 200), (300 * S, 200), (0, 0), (60 * S, 0), (120 * S, 50)]),
        ] {
            let r = RateStages::ramping(start, S, &stages).unwrap();
            let area = r.expected_iterations(u64::MAX);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
            let runs = 20;
            let mut total = 0u64;
            let mut in_first_half = 0u64;
            for _ in 0..runs {
                let mut p = r.clone();
                let mut prev = 0;
                while let Some(t) = p.next_start_poisson(&mut rng) {
                    assert!(t >= prev && t < r.total_duration_ns());
                    prev = t;
                    total += 1;
                    in_first_half += u64::from(t < r.total_duration_ns() / 2);
                }
                assert_eq!(p.next_start_poisson(&mut rng), None);
            }
            let mean = total as f64 / runs as f64;
            let se = (area / runs as f64).sqrt();
            assert!((mean - area).abs() < 5.0 * se, "mean {mean} vs area {area}");
            let half = r.expected_iterations(r.total_duration_ns() / 2);
            let mean_half = in_first_half as f64 / runs as f64;
            assert!((mean_half - half).abs() < 5.0 * (half / runs as f64).sqrt(), "{mean_half} vs {half}");
        }
    }

    #[test]
    fn ramping_vus_steps_like_k6() {
        // k6's getRawExecutionSteps (lib/executor/ramping_vus.go): 0 -> 10 over 10s adds a VU
        // at 1s, 2s, ..., 10s; 10 -> 0 over 10s removes one at 11s, ..., 20s.
        let v = VuStages::new(0, &[(10 * S, 10), (10 * S, 0)]).unwrap();
        let mut want = vec![(0, 0)];
        want.extend((1..=10).map(|k| (k * S, k as u32)));
        want.extend((11..=20).map(|k| (k * S, 20 - k as u32)));
        assert_eq!(v.changes(), want);
        assert_eq!(v.vus_at(999_999_999), 0);
        assert_eq!(v.vus_at(S), 1);
        assert_eq!(v.vus_at(10 * S + 500 * MS), 10, "going down, the count is the line's ceiling");
        assert_eq!(v.vus_at(11 * S), 9);
        assert_eq!(v.vus_at(20 * S), 0);
        assert_eq!(v.max_vus(), 10);

        // constant-vus: on at 0, off at the end.
        assert_eq!(VuStages::constant(7, 30 * S).changes(), vec![(0, 7), (30 * S, 0)]);
        // Holding at the end: the drop to 0 at the end of the stages.
        let v = VuStages::new(2, &[(4 * S, 4), (10 * S, 4)]).unwrap();
        assert_eq!(v.changes(), vec![(0, 2), (2 * S, 3), (4 * S, 4), (14 * S, 0)]);
        // Uneven: 0 -> 3 over 10s: at ceil(10/3 s), ceil(20/3 s), 10s.
        let v = VuStages::new(0, &[(10 * S, 3)]).unwrap();
        assert_eq!(v.changes(), vec![(0, 0), (3_333_333_334, 1), (6_666_666_667, 2), (10 * S, 0)]);
        // Down 5 -> 2 over 3s: 4 at 1s, 3 at 2s, 2 at 3s (the end, so 0 there).
        let v = VuStages::new(5, &[(3 * S, 2)]).unwrap();
        assert_eq!(v.changes(), vec![(0, 5), (S, 4), (2 * S, 3), (3 * S, 0)]);
        // Zero-length stages jump at once; jumps at the same instant merge.
        let v = VuStages::new(1, &[(0, 10), (5 * S, 10), (0, 3), (0, 6), (5 * S, 6)]).unwrap();
        assert_eq!(v.changes(), vec![(0, 10), (5 * S, 6), (10 * S, 0)]);
        let v = VuStages::new(4, &[(2 * S, 4), (0, 9), (0, 4), (2 * S, 4)]).unwrap();
        assert_eq!(v.changes(), vec![(0, 4), (4 * S, 0)], "a bounce within one instant is no change");
        // More VUs than nanoseconds: several VUs per change.
        let v = VuStages::new(0, &[(4, 10)]).unwrap();
        assert_eq!(v.changes(), vec![(0, 0), (1, 2), (2, 5), (3, 7), (4, 0)]);
    }

    #[test]
    fn vus_at_agrees_with_changes() {
        let shapes: Vec<(u32, Vec<(u64, u32)>)> = vec![
            (0, vec![(10 * S, 10), (10 * S, 0)]),
            (3, vec![(7 * S, 17), (0, 2), (13 * S, 9), (5 * S, 9), (11 * S, 1)]),
            (100, vec![(1000, 0), (999, 50)]),
            (1, vec![(S, 1)]),
        ];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for (start, stages) in shapes {
            let v = VuStages::new(start, &stages).unwrap();
            let ch = v.changes();
            assert_eq!(ch[0].0, 0);
            assert!(ch.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 != w[1].1), "{ch:?}");
            let total = v.total_duration_ns();
            let value_at = |t: u64| ch.iter().take_while(|c| c.0 <= t).last().unwrap().1;
            for &(t, val) in &ch {
                assert_eq!(v.vus_at(t), val);
                if t > 0 {
                    assert_ne!(v.vus_at(t - 1), val);
                }
            }
            for _ in 0..2000 {
                let t = rng.gen_range(0..total + 10);
                assert_eq!(v.vus_at(t), value_at(t), "t={t}");
            }
        }
    }

    /// k6's own vectors (`TestRampingVUsConfigExecutionPlanExample`,
    /// `lib/executor/ramping_vus_test.go`): the raw steps and the execution requirements under
    /// several graceful stops and ramp-downs.
    #[test]
    fn graceful_steps_match_k6s_execution_plan_example() {
        let v = VuStages::new(4, &[(2 * S, 6), (5 * S, 1), (4 * S, 5), (4 * S, 1), (3 * S, 4), (2 * S, 4), (0, 1), (3 * S, 1)]).unwrap();
        let raw: Vec<(u64, u32)> = [(0, 4), (1, 5), (2, 6), (3, 5), (4, 4), (5, 3), (6, 2), (7, 1), (8, 2), (9, 3), (10, 4), (11, 5), (12, 4), (13, 3), (14, 2), (15, 1), (16, 2), (17, 3), (18, 4), (20, 1)]
            .iter()
            .map(|&(t, n)| (t * S, n))
            .collect();
        let mut with_end = raw.clone();
        with_end.push((23 * S, 0));
        assert_eq!(v.changes(), with_end);
        let secs = |steps: &[(u64, u32)]| -> Vec<(u64, u32)> { steps.iter().map(|&(t, n)| (t / S, n)).collect() };
        // Default gracefulStop and gracefulRampDown (30 s).
        assert_eq!(secs(&v.graceful_steps(30 * S, 30 * S)), [(0, 4), (1, 5), (2, 6), (33, 5), (42, 4), (50, 1), (53, 0)]);
        // A graceful stop longer than the ramp-down.
        assert_eq!(secs(&v.graceful_steps(30 * S, 80 * S)), [(0, 4), (1, 5), (2, 6), (33, 5), (42, 4), (50, 1), (103, 0)]);
        // Much shorter: it cuts the ramp-downs short.
        assert_eq!(secs(&v.graceful_steps(30 * S, 3 * S)), [(0, 4), (1, 5), (2, 6), (26, 0)]);
        assert_eq!(secs(&v.graceful_steps(30 * S, 0)), [(0, 4), (1, 5), (2, 6), (23, 0)]);
        // No graceful stop and no ramp-down: the raw steps with the drop at the end.
        assert_eq!(v.graceful_steps(0, 0), with_end);
        // The hard stops are the falls.
        assert_eq!(secs(&v.hard_stops(30 * S, 30 * S)), [(33, 5), (42, 4), (50, 1), (53, 0)]);
        assert_eq!(secs(&v.hard_stops(0, 0)), [(3, 5), (4, 4), (5, 3), (6, 2), (7, 1), (12, 4), (13, 3), (14, 2), (15, 1), (20, 1), (23, 0)]);
    }

    /// `TestRampingVUsHandleRemainingVUs` (k6): 0 -> 2 VUs over 10 ms, back to 0 over 40 ms,
    /// gracefulRampDown 30 ms, gracefulStop 50 ms. The second VU, stopped by the ramp-down at
    /// 30 ms, is interrupted at 60 ms; the first, stopped at 50 ms, at 80 ms.
    #[test]
    fn a_ramp_down_gives_each_vu_its_graceful_ramp_down() {
        let v = VuStages::new(0, &[(10 * MS, 2), (40 * MS, 0)]).unwrap();
        assert_eq!(v.changes(), [(0, 0), (5 * MS, 1), (10 * MS, 2), (30 * MS, 1), (50 * MS, 0)]);
        assert_eq!(v.hard_stops(30 * MS, 50 * MS), [(60 * MS, 1), (80 * MS, 0)]);
        // 3 VUs, down to 1 by 2 s, back to 3 by 4 s, held to 14 s. With 30 s of grace the
        // climb back reuses the VUs: no hard stop before the end. With 1.5 s the third VU
        // (stopped at 1 s) is interrupted at 2.5 s; the second, stopped at 2 s, is back at 3 s.
        let v = VuStages::new(3, &[(2 * S, 1), (2 * S, 3), (10 * S, 3)]).unwrap();
        assert_eq!(v.changes(), [(0, 3), (S, 2), (2 * S, 1), (3 * S, 2), (4 * S, 3), (14 * S, 0)]);
        assert_eq!(v.hard_stops(30 * S, 30 * S), [(44 * S, 0)]);
        assert_eq!(v.hard_stops(1500 * MS, 30 * S), [(2500 * MS, 2), (44 * S, 0)]);
    }
}
