//! Elasticity, responsiveness and flapping: demand and supply of a service as step functions
//! (values with their exact change times), the SPEC Research Group's elasticity metrics over
//! them, and the one rule for scale events and reversals of every controller.
//!
//! Sources: Herbst et al., "Ready for Rain? A View from SPEC Research on the Future of Cloud
//! Metrics", SPEC-RG-2016-01 (2016), section 3 (elasticity); Herbst et al., "Quantifying Cloud
//! Performance and Dependability: Taxonomy, Metric Design, and Emerging Challenges", ACM
//! TOMPECS 3(4), 2018; and SPEC RG's implementation of them, BUNGEE
//! (github.com/NikolasHerbst/BUNGEE, `tools.descartes.bungee.metric`).
//!
//! - **demand** `d(t)`: the ready pods the offered load needs at the scenario's
//!   `report.demand_utilization` `u` of their slots, `ceil(x(t) / (concurrency x u))`, where
//!   `x(t)` is the offered work per second (slot-seconds per second): the load's intensity
//!   (requests per second of the pattern's bin, the trace's bin, the k6 arrival-rate stage)
//!   times the mean service time, or, for closed-loop load and request logs, the work of the
//!   requests that arrived in fixed windows ([`crate::report::DEMAND_WINDOW_NS`]). It depends
//!   on the scenario only, never on the report's step;
//! - **supply** `s(t)`: the service's ready pods, changing at the instants pods become ready
//!   or stop being ready.
//!
//! Every metric is computed over the intervals between the merged change points of the two,
//! from the end of the warm-up to the end of the run. Memory is in the number of change
//! points, never in the number of requests.

use serde::{Deserialize, Serialize};

/// A step function of time: `(t_ns, value from t_ns on)` in time order, no two values in a row
/// equal; 0 before the first point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepFn {
    pub points: Vec<(u64, f64)>,
}

impl StepFn {
    /// The function takes `v` from `t` on (`t` at or after the last change; a second value at
    /// the same instant replaces the first).
    pub fn set(&mut self, t: u64, v: f64) {
        if self.points.last().is_some_and(|p| p.0 == t) {
            self.points.pop();
        }
        if self.points.last().map_or(0.0, |p| p.1) != v {
            self.points.push((t, v));
        }
    }

    /// The value at `t`.
    pub fn at(&self, t: u64) -> f64 {
        let i = self.points.partition_point(|p| p.0 <= t);
        if i == 0 {
            0.0
        } else {
            self.points[i - 1].1
        }
    }

    /// The sum of the sizes of its changes in `(from, to)`, in its units.
    pub fn change_amount(&self, from: u64, to: u64) -> f64 {
        let mut prev = self.at(from);
        let mut sum = 0.0;
        for &(t, v) in self.points.iter().filter(|p| p.0 > from && p.0 < to) {
            let _ = t;
            sum += (v - prev).abs();
            prev = v;
        }
        sum
    }
}

/// Demand in pods for an offered work of `work_per_s` slot-seconds per second.
pub fn demand_pods_of_rate(work_per_s: f64, concurrency: u32, utilization: f64) -> u32 {
    if work_per_s <= 0.0 {
        return 0;
    }
    let need = work_per_s / (f64::from(concurrency.max(1)) * utilization);
    // A hair of float noise does not buy a pod.
    (need - 1e-9).ceil().max(0.0) as u32
}

/// Demand in pods for `work_s` slot-seconds of offered work over `dt_s` seconds (the
/// timeseries' `demand_pods` column, per step).
pub fn demand_pods(work_s: f64, dt_s: f64, concurrency: u32, utilization: f64) -> u32 {
    if dt_s <= 0.0 || work_s <= 0.0 {
        return 0;
    }
    demand_pods_of_rate(work_s / dt_s, concurrency, utilization)
}

/// The floor of demand in the relative accuracies, pods: SPEC RG's `max(d_t, epsilon)` with
/// epsilon = 1 (TOMPECS 2018, section on accuracy), so an interval with no demand counts its
/// supply in pods rather than dividing by zero.
pub const RELATIVE_EPSILON: f64 = 1.0;

/// The SPEC RG elasticity metrics of one service's run. Accuracies and timeshares are shares
/// (SPEC's percentages / 100).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Elasticity {
    /// The slot utilization demand is counted at (`report.demand_utilization`).
    pub demand_utilization: f64,
    /// theta_U (relative under-provisioning accuracy): time-average of `(d - s)+ / max(d, 1)`.
    pub under_accuracy: f64,
    /// theta_O (relative over-provisioning accuracy): time-average of `(s - d)+ / max(d, 1)`.
    pub over_accuracy: f64,
    /// a_U (absolute under-provisioning accuracy, BUNGEE's `accuracy_U`): time-average of
    /// `(d - s)+`, pods.
    pub under_accuracy_pods: f64,
    /// a_O (absolute over-provisioning accuracy, BUNGEE's `accuracy_O`): time-average of
    /// `(s - d)+`, pods.
    pub over_accuracy_pods: f64,
    /// tau_U: share of time with supply below demand.
    pub under_timeshare: f64,
    /// tau_O: share of time with supply above demand.
    pub over_timeshare: f64,
    /// upsilon, as BUNGEE computes it: over the intervals between change points, the share of
    /// time (of `T (n-1)/n`, n the intervals plus one) whose next supply change points up
    /// more than the next demand change, `min(max(sgn ds - sgn dd, 0), 1)`.
    pub instability: f64,
    /// j: (supply adaptations - demand changes) per minute, both in pods (a change of 3 pods
    /// counts 3): negative, supply follows demand sluggishly; positive, it changes more often
    /// than demand (flapping).
    pub jitter_per_minute: f64,
    /// E_S and E_D of the jitter: the sums of the sizes of supply's and demand's changes, pods.
    pub supply_adaptations: f64,
    pub demand_changes: f64,
    /// Integral of demand and of supply over the time judged, pod-seconds.
    pub demand_pod_seconds: f64,
    pub supply_pod_seconds: f64,
}

/// Changes smaller than this (pods) are not changes.
const EPS: f64 = 1e-9;

fn sgn(x: f64) -> i32 {
    if x > EPS {
        1
    } else if x < -EPS {
        -1
    } else {
        0
    }
}

/// The intervals `[a, b)` between the merged change points of `d` and `s` within
/// `[from, to)`, with the values in effect.
fn intervals(d: &StepFn, s: &StepFn, from: u64, to: u64) -> Vec<(u64, u64, f64, f64)> {
    let mut times: Vec<u64> = d
        .points
        .iter()
        .chain(s.points.iter())
        .map(|p| p.0)
        .filter(|&t| t > from && t < to)
        .collect();
    times.push(from);
    times.sort_unstable();
    times.dedup();
    let mut out = Vec::with_capacity(times.len());
    for (i, &a) in times.iter().enumerate() {
        let b = times.get(i + 1).copied().unwrap_or(to);
        if b > a {
            out.push((a, b, d.at(a), s.at(a)));
        }
    }
    out
}

/// The metrics of demand `d` against supply `s` over `[from_ns, to_ns)`.
pub fn elasticity(d: &StepFn, s: &StepFn, from_ns: u64, to_ns: u64, demand_utilization: f64) -> Elasticity {
    let mut e = Elasticity { demand_utilization, ..Elasticity::default() };
    if to_ns <= from_ns {
        return e;
    }
    let total = (to_ns - from_ns) as f64 / 1e9;
    let iv = intervals(d, s, from_ns, to_ns);
    let (mut u_rel, mut o_rel, mut u_abs, mut o_abs, mut u_time, mut o_time) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &(a, b, dv, sv) in &iv {
        let dt = (b - a) as f64 / 1e9;
        let norm = dv.max(RELATIVE_EPSILON);
        let gap = dv - sv;
        if gap > EPS {
            u_rel += gap / norm * dt;
            u_abs += gap * dt;
            u_time += dt;
        } else if gap < -EPS {
            o_rel += -gap / norm * dt;
            o_abs += -gap * dt;
            o_time += dt;
        }
        e.demand_pod_seconds += dv * dt;
        e.supply_pod_seconds += sv * dt;
    }
    e.under_accuracy = u_rel / total;
    e.over_accuracy = o_rel / total;
    e.under_accuracy_pods = u_abs / total;
    e.over_accuracy_pods = o_abs / total;
    e.under_timeshare = u_time / total;
    e.over_timeshare = o_time / total;
    e.instability = instability(d, s, &iv, total);
    e.demand_changes = d.change_amount(from_ns, to_ns);
    e.supply_adaptations = s.change_amount(from_ns, to_ns);
    e.jitter_per_minute = (e.supply_adaptations - e.demand_changes) / (total / 60.0);
    e
}

/// BUNGEE's instability (`Instability.java`): each interval is judged by the direction of the
/// next change of supply and of demand after it (none: no direction); it counts when supply's
/// direction is above demand's. The sum is divided by `T n / (n + 1)`, n the intervals (the
/// implementation's `T (counter - 1) / counter`).
fn instability(d: &StepFn, s: &StepFn, iv: &[(u64, u64, f64, f64)], total: f64) -> f64 {
    let Some(&(_, to, _, _)) = iv.last() else { return 0.0 };
    let next_after = |f: &StepFn, t: u64, now: f64| -> f64 {
        let i = f.points.partition_point(|p| p.0 <= t);
        match f.points.get(i) {
            Some(&(nt, v)) if nt < to => v,
            _ => now,
        }
    };
    let mut sum = 0.0;
    for &(a, b, dv, sv) in iv {
        let ds = sgn(next_after(s, a, sv) - sv);
        let dd = sgn(next_after(d, a, dv) - dv);
        sum += f64::from((ds - dd).clamp(0, 1)) * (b - a) as f64 / 1e9;
    }
    let n = iv.len() as f64;
    let t_minus_1 = total * n.max(1.0) / (n + 1.0);
    if t_minus_1 > 0.0 {
        sum / t_minus_1
    } else {
        0.0
    }
}

/// The mean of the services' metrics (each service counts once).
pub fn mean(all: &[Elasticity]) -> Elasticity {
    let Some(first) = all.first() else { return Elasticity::default() };
    let n = all.len() as f64;
    let avg = |f: fn(&Elasticity) -> f64| all.iter().map(f).sum::<f64>() / n;
    Elasticity {
        demand_utilization: first.demand_utilization,
        under_accuracy: avg(|e| e.under_accuracy),
        over_accuracy: avg(|e| e.over_accuracy),
        under_accuracy_pods: avg(|e| e.under_accuracy_pods),
        over_accuracy_pods: avg(|e| e.over_accuracy_pods),
        under_timeshare: avg(|e| e.under_timeshare),
        over_timeshare: avg(|e| e.over_timeshare),
        instability: avg(|e| e.instability),
        jitter_per_minute: avg(|e| e.jitter_per_minute),
        supply_adaptations: all.iter().map(|e| e.supply_adaptations).sum(),
        demand_changes: all.iter().map(|e| e.demand_changes).sum(),
        demand_pod_seconds: all.iter().map(|e| e.demand_pod_seconds).sum(),
        supply_pod_seconds: all.iter().map(|e| e.supply_pod_seconds).sum(),
    }
}

/// One load increase and how long the service took to have enough ready pods for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEvent {
    pub service: String,
    /// When demand rose above supply, seconds.
    pub start_s: f64,
    /// Demand before, and after it rose.
    pub demand_before: f64,
    pub demand: f64,
    /// Supply (ready pods) when it rose.
    pub supply: f64,
    /// Highest demand while supply was short.
    pub peak_demand: f64,
    /// From `start_s` to the first instant with supply at or above demand, seconds; to the
    /// end of the run when it never got there (`resolved` false).
    pub time_to_capacity_s: f64,
    pub resolved: bool,
}

/// Summary of the response events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Responsiveness {
    /// Load increases that found supply short (demand above supply).
    pub events: u64,
    /// Of those, the ones still short at the end of the run.
    pub unresolved: u64,
    /// Time to capacity of the resolved events, seconds (0 with none).
    pub mean_s: f64,
    pub p95_s: f64,
    pub max_s: f64,
}

/// Response events: each stretch of time with supply below demand that starts with a rise of
/// demand (a shortfall that starts with a drop of supply is no load increase and is not
/// counted here; it shows in `under_timeshare`). The event lasts until supply is at or above
/// demand again, at that instant.
pub fn response_events(service: &str, d: &StepFn, s: &StepFn, from_ns: u64, to_ns: u64) -> Vec<ResponseEvent> {
    let mut out: Vec<ResponseEvent> = Vec::new();
    let mut open: Option<ResponseEvent> = None;
    let mut prev_d: Option<f64> = None;
    for (a, _, dv, sv) in intervals(d, s, from_ns, to_ns) {
        let short = dv - sv > EPS;
        let before = prev_d.unwrap_or(dv);
        prev_d = Some(dv);
        if let Some(ev) = open.as_mut() {
            if short {
                ev.peak_demand = ev.peak_demand.max(dv);
                continue;
            }
            ev.time_to_capacity_s = a as f64 / 1e9 - ev.start_s;
            ev.resolved = true;
            out.push(open.take().expect("open"));
            continue;
        }
        if short && dv > before + EPS {
            open = Some(ResponseEvent {
                service: service.to_string(),
                start_s: a as f64 / 1e9,
                demand_before: before,
                demand: dv,
                supply: sv,
                peak_demand: dv,
                time_to_capacity_s: 0.0,
                resolved: false,
            });
        }
    }
    if let Some(mut ev) = open {
        ev.time_to_capacity_s = to_ns as f64 / 1e9 - ev.start_s;
        out.push(ev);
    }
    out
}

/// The p-quantile (0..1) of `v` by the nearest-rank method (0 for none).
pub fn nearest_rank(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = (q * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

pub fn responsiveness(events: &[ResponseEvent]) -> Responsiveness {
    let times: Vec<f64> = events.iter().filter(|e| e.resolved).map(|e| e.time_to_capacity_s).collect();
    Responsiveness {
        events: events.len() as u64,
        unresolved: events.iter().filter(|e| !e.resolved).count() as u64,
        mean_s: if times.is_empty() { 0.0 } else { times.iter().sum::<f64>() / times.len() as f64 },
        p95_s: nearest_rank(&times, 0.95),
        max_s: times.iter().copied().fold(0.0, f64::max),
    }
}

/// Scale events and reversals of one controller's target (a Deployment's spec replicas, a
/// node group's size): the one rule every report uses. A change to the same value is none; a
/// change whose direction differs from the previous change's, within `window_ns` of it, is a
/// reversal.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Flaps {
    pub events: u64,
    pub ups: u64,
    pub downs: u64,
    pub reversals: u64,
    pub window_ns: u64,
    last_direction: i8,
    last_change: u64,
}

impl Flaps {
    pub fn new(window_ns: u64) -> Self {
        Self { window_ns, ..Self::default() }
    }

    /// A change from `from` to `to` at `now` (in time order).
    pub fn on_change(&mut self, now: u64, from: u32, to: u32) {
        if from == to {
            return;
        }
        let dir: i8 = if to > from { 1 } else { -1 };
        if self.last_direction != 0 && dir != self.last_direction && now - self.last_change <= self.window_ns {
            self.reversals += 1;
        }
        self.events += 1;
        if dir > 0 {
            self.ups += 1;
        } else {
            self.downs += 1;
        }
        self.last_direction = dir;
        self.last_change = now;
    }

    /// The counts of `other` added (for totals; the last change is this one's).
    pub fn add(&mut self, other: &Flaps) {
        self.events += other.events;
        self.ups += other.ups;
        self.downs += other.downs;
        self.reversals += other.reversals;
    }
}

/// Scale events and reversals among changes `(time_ns, from, to)` by [`Flaps`]: (events,
/// reversals).
pub fn reversals(changes: &[(u64, u32, u32)], window_ns: u64) -> (u64, u64) {
    let mut f = Flaps::new(window_ns);
    for &(t, from, to) in changes {
        f.on_change(t, from, to);
    }
    (f.events, f.reversals)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 60_000_000_000;

    fn step_fn(points: &[(u64, f64)]) -> StepFn {
        let mut f = StepFn::default();
        for &(t, v) in points {
            f.set(t * M, v);
        }
        f
    }

    #[test]
    fn demand_is_the_ceiling_at_the_utilization() {
        // 150 req/s x 40 ms = 6 busy slots; 8 slots a pod at 0.75 -> 6 usable: 1 pod.
        assert_eq!(demand_pods(6.0 * 10.0, 10.0, 8, 0.75), 1);
        assert_eq!(demand_pods(6.0 * 10.0 + 1e-3, 10.0, 8, 0.75), 2);
        assert_eq!(demand_pods(0.0, 10.0, 8, 0.75), 0);
        assert_eq!(demand_pods(5.0, 0.0, 8, 0.75), 0);
        assert_eq!(demand_pods_of_rate(6.0, 8, 0.75), 1);
        assert_eq!(demand_pods_of_rate(6.01, 8, 0.75), 2);
    }

    #[test]
    fn step_functions_keep_changes_only() {
        let mut f = StepFn::default();
        f.set(0, 0.0);
        f.set(5, 2.0);
        f.set(5, 3.0); // same instant: replaces
        f.set(7, 3.0); // no change
        f.set(9, 1.0);
        f.set(9, 3.0); // back to the value before: no change at 9
        assert_eq!(f.points, vec![(5, 3.0)]);
        assert_eq!((f.at(4), f.at(5), f.at(100)), (0.0, 3.0, 3.0));
    }

    /// SPEC RG's formulas by hand on one demand/supply pair (ten minutes):
    ///   demand 2 on [0,2), 4 on [2,6), 2 on [6,10)
    ///   supply 2 on [0,3), 3 on [3,4), 5 on [4,8), 3 on [8,10)
    #[test]
    fn hand_computed_spec_rg_metrics() {
        let d = step_fn(&[(0, 2.0), (2, 4.0), (6, 2.0)]);
        let s = step_fn(&[(0, 2.0), (3, 3.0), (4, 5.0), (8, 3.0)]);
        let e = elasticity(&d, &s, 0, 10 * M, 0.8);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // Under: [2,3) 2 short of 4, [3,4) 1 short of 4.
        //   theta_U = (2/4 x 1 + 1/4 x 1) / 10 = 0.075; a_U = (2 + 1) / 10 = 0.3 pods; tau_U = 2/10.
        assert!(close(e.under_accuracy, 0.075), "{e:?}");
        assert!(close(e.under_accuracy_pods, 0.3), "{e:?}");
        assert!(close(e.under_timeshare, 0.2), "{e:?}");
        // Over: [4,6) 1 over 4, [6,8) 3 over 2, [8,10) 1 over 2.
        //   theta_O = (1/4 x 2 + 3/2 x 2 + 1/2 x 2) / 10 = 0.45; a_O = (2 + 6 + 2) / 10 = 1 pod.
        assert!(close(e.over_accuracy, 0.45), "{e:?}");
        assert!(close(e.over_accuracy_pods, 1.0), "{e:?}");
        assert!(close(e.over_timeshare, 0.6), "{e:?}");
        // Jitter: E_S = 1 + 2 + 2 = 5 pods, E_D = 2 + 2 = 4 pods: (5 - 4) / 10 min.
        assert_eq!((e.supply_adaptations, e.demand_changes), (5.0, 4.0));
        assert!(close(e.jitter_per_minute, 0.1), "{e:?}");
        // Instability (BUNGEE): next changes after each interval's start, supply vs demand:
        //   [0,2) up/up 0; [2,3) up/down 1; [3,4) up/down 1; [4,6) down/down 0;
        //   [6,8) down/none 0; [8,10) none/none 0 -> 2 min over T n/(n+1) = 10 x 6/7 min.
        assert!(close(e.instability, 2.0 / (10.0 * 6.0 / 7.0)), "{e:?}");
        assert!(close(e.demand_pod_seconds, (2.0 * 2.0 + 4.0 * 4.0 + 2.0 * 4.0) * 60.0));
        assert!(close(e.supply_pod_seconds, (2.0 * 3.0 + 3.0 + 5.0 * 4.0 + 3.0 * 2.0) * 60.0));
        // Judged from minute 5 on: demand 4 then 2, supply 5 then 3.
        let late = elasticity(&d, &s, 5 * M, 10 * M, 0.8);
        assert_eq!((late.demand_changes, late.supply_adaptations), (2.0, 2.0));
        assert!(close(late.over_timeshare, 1.0));
        // Perfect tracking: all zero.
        let e = elasticity(&d, &d, 0, 10 * M, 0.8);
        assert_eq!((e.under_accuracy, e.over_accuracy, e.instability, e.jitter_per_minute), (0.0, 0.0, 0.0, 0.0));
        // No demand: the relative accuracy counts supply over epsilon = 1 pod.
        let e = elasticity(&StepFn::default(), &step_fn(&[(0, 2.0)]), 0, 10 * M, 0.8);
        assert_eq!((e.over_accuracy, e.over_accuracy_pods), (2.0, 2.0));
        assert_eq!(elasticity(&d, &s, 10 * M, 10 * M, 0.8).under_accuracy, 0.0);
    }

    #[test]
    fn fixed_supply_is_neither_unstable_nor_jittery() {
        let fixed = step_fn(&[(0, 3.0)]);
        // Constant demand.
        let e = elasticity(&step_fn(&[(0, 2.0)]), &fixed, 0, 10 * M, 0.8);
        assert_eq!((e.instability, e.jitter_per_minute, e.supply_adaptations), (0.0, 0.0, 0.0));
        // A step up of demand: no supply adaptation; instability 0; jitter is SPEC's
        // (0 - E_D) / T, the sluggishness of never following.
        let e = elasticity(&step_fn(&[(0, 2.0), (4, 5.0)]), &fixed, 0, 10 * M, 0.8);
        assert_eq!((e.instability, e.supply_adaptations, e.demand_changes), (0.0, 0.0, 3.0));
        assert!((e.jitter_per_minute + 0.3).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_response_events() {
        // demand 2 4 4 4 6 6 3 3 5, supply 2 2 3 4 4 5 6 6 4 (a value a minute)
        // event 1: rise at 1 min, short until supply 4 >= 4 at 3 min: 120 s
        // event 2: rise at 4 min, short until supply 6 at 6 min: 120 s
        // event 3: rise at 8 min, short at the end (9 min): unresolved, 60 s.
        let d = [2.0, 4.0, 4.0, 4.0, 6.0, 6.0, 3.0, 3.0, 5.0];
        let s = [2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0, 6.0, 4.0];
        let f = |v: &[f64]| step_fn(&v.iter().enumerate().map(|(i, &x)| (i as u64, x)).collect::<Vec<_>>());
        let ev = response_events("api", &f(&d), &f(&s), 0, 9 * M);
        assert_eq!(ev.len(), 3, "{ev:?}");
        assert_eq!((ev[0].start_s, ev[0].time_to_capacity_s, ev[0].resolved), (60.0, 120.0, true));
        assert_eq!((ev[0].demand_before, ev[0].demand, ev[0].supply), (2.0, 4.0, 2.0));
        assert_eq!((ev[1].start_s, ev[1].time_to_capacity_s, ev[1].peak_demand), (240.0, 120.0, 6.0));
        assert_eq!((ev[2].start_s, ev[2].time_to_capacity_s, ev[2].resolved), (480.0, 60.0, false));
        let r = responsiveness(&ev);
        assert_eq!((r.events, r.unresolved, r.mean_s, r.p95_s, r.max_s), (3, 1, 120.0, 120.0, 120.0));
        // A shortfall from a drop of supply (demand flat) is not a load increase.
        let ev = response_events("api", &f(&[3.0, 3.0, 3.0]), &f(&[3.0, 2.0, 3.0]), 0, 3 * M);
        assert!(ev.is_empty());
    }

    #[test]
    fn hand_computed_reversals() {
        // up at 0, down at 4m (reversal), down at 6m, up at 12m (6 min after: not one), up at 13m,
        // down at 13m30s (reversal), a no-op at 14m.
        let ch = [(0, 2, 4), (4 * M, 4, 3), (6 * M, 3, 2), (12 * M, 2, 5), (13 * M, 5, 6), (13 * M + M / 2, 6, 4), (14 * M, 4, 4)];
        assert_eq!(reversals(&ch, 5 * M), (6, 2));
        assert_eq!(reversals(&ch, 6 * M), (6, 3));
        assert_eq!(reversals(&ch, 0), (6, 0));
    }

    #[test]
    fn nearest_rank_quantile() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.95), 19.0);
        assert_eq!(nearest_rank(&v, 1.0), 20.0);
        assert_eq!(nearest_rank(&[7.0], 0.95), 7.0);
        assert_eq!(nearest_rank(&[], 0.95), 0.0);
    }
}
