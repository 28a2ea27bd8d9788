//! Elasticity and responsiveness from demand against supply, step by step: the SPEC Research
//! Group's metrics (Herbst et al., "Quantifying Cloud Performance and Dependability: Taxonomy,
//! Metric Design, and Emerging Challenges", ACM TOMPECS 2018; SPEC-RG-2016-01 "Ready for Rain?").
//!
//! A run is cut into the timeseries steps. For step `t` of length `dt`:
//! - **demand** `d_t`: the ready pods needed to serve the step's load at the scenario's
//!   `report.demand_utilization` `u` of their slots: `ceil(W_t / (dt x concurrency x u))`,
//!   where `W_t` is the work (slot-seconds: service time) of the requests that arrived in the
//!   step. It depends on the load only (for open-loop load, the same under every policy);
//! - **supply** `s_t`: the time-average of the service's ready pods over the step.
//!
//! These functions are pure, over per-step aggregates (memory in the number of steps, never
//! in the number of requests).

use serde::{Deserialize, Serialize};

/// One step of a service: its length, demand and supply (pods).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// End of the step, seconds.
    pub end_s: f64,
    pub dt_s: f64,
    pub demand: f64,
    pub supply: f64,
}

/// Demand in pods for `work_s` slot-seconds of offered work over `dt_s` seconds.
pub fn demand_pods(work_s: f64, dt_s: f64, concurrency: u32, utilization: f64) -> u32 {
    if dt_s <= 0.0 || work_s <= 0.0 {
        return 0;
    }
    let need = work_s / (dt_s * f64::from(concurrency.max(1)) * utilization);
    // A hair of float noise does not buy a pod.
    (need - 1e-9).ceil().max(0.0) as u32
}

/// The SPEC RG elasticity metrics of one service's run, as shares (SPEC's percentages / 100).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Elasticity {
    /// The slot utilization demand is counted at (`report.demand_utilization`).
    pub demand_utilization: f64,
    /// theta_U: time-average of missing supply relative to demand, `(d - s)+ / max(d, 1)`.
    pub under_accuracy: f64,
    /// theta_O: time-average of excess supply relative to demand, `(s - d)+ / max(d, 1)`.
    pub over_accuracy: f64,
    /// tau_U: share of time with supply below demand.
    pub under_timeshare: f64,
    /// tau_O: share of time with supply above demand.
    pub over_timeshare: f64,
    /// upsilon: share of time (from the second step on) in which supply and demand do not move
    /// in the same direction (one rises or falls while the other does not do the same).
    pub instability: f64,
    /// j: (supply adaptations - demand changes) per hour; negative: supply follows demand
    /// sluggishly, positive: it changes more often than demand (flapping).
    pub jitter_per_hour: f64,
    /// Integral of demand and of supply over the steps judged, pod-seconds.
    pub demand_pod_seconds: f64,
    pub supply_pod_seconds: f64,
}

/// Changes smaller than this (pods) are not changes (float noise of time averages).
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

/// The metrics of a run's steps (those after the warm-up, in time order).
pub fn elasticity(steps: &[Step], demand_utilization: f64) -> Elasticity {
    let mut e = Elasticity { demand_utilization, ..Elasticity::default() };
    let total: f64 = steps.iter().map(|s| s.dt_s).sum();
    if total <= 0.0 {
        return e;
    }
    let (mut u_acc, mut o_acc, mut u_time, mut o_time) = (0.0, 0.0, 0.0, 0.0);
    let (mut unstable, mut later) = (0.0, 0.0);
    let (mut supply_changes, mut demand_changes) = (0i64, 0i64);
    for (i, s) in steps.iter().enumerate() {
        let norm = s.demand.max(1.0);
        let gap = s.demand - s.supply;
        if gap > EPS {
            u_acc += gap / norm * s.dt_s;
            u_time += s.dt_s;
        } else if gap < -EPS {
            o_acc += -gap / norm * s.dt_s;
            o_time += s.dt_s;
        }
        e.demand_pod_seconds += s.demand * s.dt_s;
        e.supply_pod_seconds += s.supply * s.dt_s;
        if i > 0 {
            let prev = steps[i - 1];
            let (ds, dd) = (sgn(s.supply - prev.supply), sgn(s.demand - prev.demand));
            if (ds - dd).abs().min(1) == 1 {
                unstable += s.dt_s;
            }
            later += s.dt_s;
            supply_changes += i64::from(ds != 0);
            demand_changes += i64::from(dd != 0);
        }
    }
    e.under_accuracy = u_acc / total;
    e.over_accuracy = o_acc / total;
    e.under_timeshare = u_time / total;
    e.over_timeshare = o_time / total;
    e.instability = if later > 0.0 { unstable / later } else { 0.0 };
    e.jitter_per_hour = (supply_changes - demand_changes) as f64 / (total / 3600.0);
    e
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
        under_timeshare: avg(|e| e.under_timeshare),
        over_timeshare: avg(|e| e.over_timeshare),
        instability: avg(|e| e.instability),
        jitter_per_hour: avg(|e| e.jitter_per_hour),
        demand_pod_seconds: all.iter().map(|e| e.demand_pod_seconds).sum(),
        supply_pod_seconds: all.iter().map(|e| e.supply_pod_seconds).sum(),
    }
}

/// One load increase and how long the service took to have enough ready pods for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEvent {
    pub service: String,
    /// Start of the step in which demand rose above supply, seconds.
    pub start_s: f64,
    /// Demand in the step before, and in the step it rose.
    pub demand_before: f64,
    pub demand: f64,
    /// Supply (mean ready pods) in the step it rose.
    pub supply: f64,
    /// Highest demand while supply was short.
    pub peak_demand: f64,
    /// From `start_s` to the end of the first step with supply at or above demand, seconds;
    /// to the end of the run when it never got there (`resolved` false).
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

/// Response events: each run of steps with supply below demand that starts with a rise of
/// demand (a shortfall that starts with a scale-down is no load increase and is not counted
/// here; it shows in `under_timeshare`). The event lasts until the end of the first step whose
/// supply is at or above its demand.
pub fn response_events(service: &str, steps: &[Step]) -> Vec<ResponseEvent> {
    let mut out: Vec<ResponseEvent> = Vec::new();
    let mut open: Option<ResponseEvent> = None;
    for (i, s) in steps.iter().enumerate() {
        let short = s.demand - s.supply > EPS;
        if let Some(ev) = open.as_mut() {
            if short {
                ev.peak_demand = ev.peak_demand.max(s.demand);
            } else {
                ev.time_to_capacity_s = s.end_s - ev.start_s;
                ev.resolved = true;
                out.push(open.take().expect("open"));
            }
            continue;
        }
        let before = if i > 0 { steps[i - 1].demand } else { s.demand };
        if short && s.demand > before + EPS {
            open = Some(ResponseEvent {
                service: service.to_string(),
                start_s: s.end_s - s.dt_s,
                demand_before: before,
                demand: s.demand,
                supply: s.supply,
                peak_demand: s.demand,
                time_to_capacity_s: 0.0,
                resolved: false,
            });
        }
    }
    if let (Some(mut ev), Some(last)) = (open, steps.last()) {
        ev.time_to_capacity_s = last.end_s - ev.start_s;
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

/// Reversals among scale events `(time_ns, from, to)`: changes of direction within `window_ns`
/// of the previous change. Returns (events, reversals); changes to the same value are none.
pub fn reversals(changes: &[(u64, u32, u32)], window_ns: u64) -> (u64, u64) {
    let (mut events, mut rev) = (0, 0);
    let mut last: Option<(i8, u64)> = None;
    for &(t, from, to) in changes {
        if from == to {
            continue;
        }
        let dir: i8 = if to > from { 1 } else { -1 };
        if let Some((d, lt)) = last {
            if d != dir && t - lt <= window_ns {
                rev += 1;
            }
        }
        events += 1;
        last = Some((dir, t));
    }
    (events, rev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(d: &[f64], s: &[f64]) -> Vec<Step> {
        d.iter()
            .zip(s)
            .enumerate()
            .map(|(i, (&demand, &supply))| Step { end_s: (i + 1) as f64 * 60.0, dt_s: 60.0, demand, supply })
            .collect()
    }

    #[test]
    fn demand_is_the_ceiling_at_the_utilization() {
        // 150 req/s x 40 ms = 6 busy slots; 8 slots a pod at 0.75 -> 6 usable: 1 pod.
        assert_eq!(demand_pods(6.0 * 10.0, 10.0, 8, 0.75), 1);
        assert_eq!(demand_pods(6.0 * 10.0 + 1e-3, 10.0, 8, 0.75), 2);
        assert_eq!(demand_pods(0.0, 10.0, 8, 0.75), 0);
        assert_eq!(demand_pods(5.0, 0.0, 8, 0.75), 0);
    }

    #[test]
    fn hand_computed_elasticity() {
        // Six one-minute steps.
        //   demand 2 2 4 4 4 2
        //   supply 2 2 2 4 6 5
        // under: step 3 (4-2)/4 = 0.5 -> theta_U = 0.5 / 6; tau_U = 1/6
        // over: step 5 (6-4)/4 = 0.5, step 6 (5-2)/2 = 1.5 -> theta_O = 2 / 6; tau_O = 2/6
        // directions (steps 2..6): d 0 + 0 0 -, s 0 0 + + - -> unequal at 3, 4, 5: 3/5
        // changes: supply 3, demand 2 -> jitter 1 per 6 minutes = 10 per hour.
        let st = steps(&[2.0, 2.0, 4.0, 4.0, 4.0, 2.0], &[2.0, 2.0, 2.0, 4.0, 6.0, 5.0]);
        let e = elasticity(&st, 0.8);
        assert!((e.under_accuracy - 0.5 / 6.0).abs() < 1e-12, "{e:?}");
        assert!((e.over_accuracy - 2.0 / 6.0).abs() < 1e-12, "{e:?}");
        assert!((e.under_timeshare - 1.0 / 6.0).abs() < 1e-12);
        assert!((e.over_timeshare - 2.0 / 6.0).abs() < 1e-12);
        assert!((e.instability - 3.0 / 5.0).abs() < 1e-12, "{e:?}");
        assert!((e.jitter_per_hour - 10.0).abs() < 1e-9, "{e:?}");
        assert_eq!(e.demand_pod_seconds, 18.0 * 60.0);
        assert_eq!(e.supply_pod_seconds, 21.0 * 60.0);
        // Perfect tracking: all zero.
        let e = elasticity(&steps(&[1.0, 3.0, 2.0], &[1.0, 3.0, 2.0]), 0.8);
        assert_eq!((e.under_accuracy, e.over_accuracy, e.instability, e.jitter_per_hour), (0.0, 0.0, 0.0, 0.0));
        // No load: demand normalised by 1 pod.
        let e = elasticity(&steps(&[0.0, 0.0], &[2.0, 2.0]), 0.8);
        assert_eq!(e.over_accuracy, 2.0);
        assert_eq!(elasticity(&[], 0.8).under_accuracy, 0.0);
    }

    #[test]
    fn hand_computed_response_events() {
        // demand 2 4 4 4 6 6 3 3 5, supply 2 2 3 4 4 5 6 6 4 (one-minute steps ending at 60, 120, ...)
        // event 1: rise at step 2 (starts at 60 s), short in 2, 3; step 4 has 4 >= 4 -> ends 240 s: 180 s
        // event 2: rise at step 5 (starts 240 s), short in 5, 6; step 7 ends 420 s: 180 s
        // event 3: rise at step 9 (starts 480 s), short at the end: unresolved, 60 s.
        let st = steps(&[2.0, 4.0, 4.0, 4.0, 6.0, 6.0, 3.0, 3.0, 5.0], &[2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0, 6.0, 4.0]);
        let ev = response_events("api", &st);
        assert_eq!(ev.len(), 3, "{ev:?}");
        assert_eq!((ev[0].start_s, ev[0].time_to_capacity_s, ev[0].resolved), (60.0, 180.0, true));
        assert_eq!((ev[0].demand_before, ev[0].demand, ev[0].supply), (2.0, 4.0, 2.0));
        assert_eq!((ev[1].start_s, ev[1].time_to_capacity_s, ev[1].peak_demand), (240.0, 180.0, 6.0));
        assert_eq!((ev[2].start_s, ev[2].time_to_capacity_s, ev[2].resolved), (480.0, 60.0, false));
        let r = responsiveness(&ev);
        assert_eq!((r.events, r.unresolved, r.mean_s, r.p95_s, r.max_s), (3, 1, 180.0, 180.0, 180.0));
        // A shortfall from a scale-down (demand flat) is not a load increase.
        assert!(response_events("api", &steps(&[3.0, 3.0, 3.0], &[3.0, 2.0, 3.0])).is_empty());
    }

    #[test]
    fn hand_computed_reversals() {
        const M: u64 = 60_000_000_000;
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
