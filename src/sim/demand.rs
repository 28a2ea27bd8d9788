//! A service's demand as a step function of time: the ready pods its offered load needs,
//! from the load's intensity, never from the report's step (issue 16; see
//! [`crate::report::elasticity`]).
//!
//! Open-loop sources give their rate: a pattern's rate per bin (`workload.resolution`), a
//! trace's rate per bin, a k6 arrival-rate executor's linear stages. Their offered work per
//! second is the rate times the service's mean service time. Closed-loop sources (k6's virtual
//! users, whose rate depends on the responses) and request logs give the work of the requests
//! that arrived in each [`DEMAND_WINDOW_NS`] window of the run, spread over the window. The sum
//! over sources, `x(t)`, is piecewise linear; demand is `ceil(x(t) / (concurrency x u))`,
//! whose changes (within a linear piece, where `x` crosses a multiple of a pod's capacity)
//! are computed exactly.

use crate::engine::rng;
use crate::report::elasticity::{demand_pods_of_rate, StepFn};
use crate::report::{DemandWindows, DEMAND_WINDOW_NS};
use crate::scenario::{Scenario, Service};
use crate::workload::k6::Executor;
use crate::workload::source::RateFn;
use crate::workload::trace::Trace;
use crate::workload::Source;

/// Offered work per second (slot-seconds per second), linear over `[t0, t1)` from `r0`
/// towards `r1`.
type Piece = (u64, u64, f64, f64);

/// Whether the source's demand is measured on its arrivals per window rather than taken
/// from its rate.
pub(super) fn windowed(svc: &Service, src: &Source) -> bool {
    if !svc.service_time.mean().is_finite() {
        return true;
    }
    match src {
        Source::Pattern { .. } => false,
        Source::Trace { trace, .. } => matches!(trace.as_ref(), Trace::Requests { .. }),
        Source::K6(k) => !matches!(k.exec, Executor::ArrivalRate { .. }),
    }
}

fn push(pieces: &mut Vec<Piece>, t0: u64, t1: u64, r0: f64, r1: f64) {
    if t1 <= t0 {
        return;
    }
    if let Some(last) = pieces.last_mut() {
        if last.1 == t0 && last.2 == last.3 && r0 == r1 && last.3 == r0 {
            last.1 = t1;
            return;
        }
    }
    pieces.push((t0, t1, r0, r1));
}

/// Pieces of a rate held constant over bins.
fn binned(rate: &RateFn, bin_ns: u64, mean_s: f64, end: u64) -> Vec<Piece> {
    let bin_ns = bin_ns.max(1);
    let mut out = Vec::new();
    let mut bin = 0u64;
    while bin * bin_ns < end && !rate.exhausted(bin) {
        let r = rate.rate(bin, bin_ns) * mean_s;
        push(&mut out, bin * bin_ns, ((bin + 1) * bin_ns).min(end), r, r);
        bin += 1;
    }
    out
}

/// The demand of service `s` over `[0, end)` of a run with `seed`; `windows` holds the work
/// of its windowed sources' arrivals.
pub(super) fn demand_fn(sc: &Scenario, seed: u64, s: usize, windows: &DemandWindows, end: u64) -> StepFn {
    let svc = &sc.services[s];
    let mean_s = svc.service_time.mean();
    let mut sources: Vec<Vec<Piece>> = Vec::new();
    for (j, src) in svc.workload.sources.iter().enumerate() {
        if windowed(svc, src) {
            continue;
        }
        let pieces = match src {
            Source::Pattern { spec, resolution_ns } => {
                let key = rng::fnv1a(&format!("load/{}/{j}", svc.name)) ^ seed;
                binned(&RateFn::Pattern { spec: spec.clone(), key }, *resolution_ns, mean_s, end)
            }
            Source::Trace { trace, looped } => match trace.as_ref() {
                Trace::Bins { bin_ns, rates, .. } => {
                    binned(&RateFn::Table { rates: rates.clone(), looped: *looped }, *bin_ns, mean_s, end)
                }
                Trace::Requests { .. } => continue,
            },
            Source::K6(k) => match &k.exec {
                Executor::ArrivalRate { stages, .. } => {
                    let mut out = Vec::new();
                    for (a, b, r0, r1) in stages.pieces() {
                        let (t0, t1) = (k.start_ns.saturating_add(a), k.start_ns.saturating_add(b));
                        if t0 >= end {
                            break;
                        }
                        let r_end = if t1 > end { r0 + (r1 - r0) * (end - t0) as f64 / (t1 - t0) as f64 } else { r1 };
                        push(&mut out, t0, t1.min(end), r0 * mean_s, r_end * mean_s);
                    }
                    out
                }
                _ => continue,
            },
        };
        sources.push(pieces);
    }
    let mut w = Vec::new();
    for &(idx, work_ns) in &windows.windows {
        let t0 = idx * DEMAND_WINDOW_NS;
        let t1 = (t0 + DEMAND_WINDOW_NS).min(end);
        if t1 > t0 {
            let r = work_ns as f64 / (t1 - t0) as f64;
            push(&mut w, t0, t1, r, r);
        }
    }
    sources.push(w);
    step_of(&sources, end, svc.concurrency, sc.report.demand_utilization)
}

/// Demand of the summed pieces: `ceil(x / (concurrency x u))` with its exact change times.
fn step_of(sources: &[Vec<Piece>], end: u64, concurrency: u32, u: f64) -> StepFn {
    let mut times: Vec<u64> = vec![0, end];
    for p in sources.iter().flatten() {
        times.push(p.0.min(end));
        times.push(p.1.min(end));
    }
    times.sort_unstable();
    times.dedup();
    let mut cursor = vec![0usize; sources.len()];
    let mut out = StepFn::default();
    let pods = |x: f64| f64::from(demand_pods_of_rate(x, concurrency, u));
    let cap = f64::from(concurrency.max(1)) * u;
    for win in times.windows(2) {
        let (a, b) = (win[0], win[1]);
        let (mut xa, mut xb) = (0.0, 0.0);
        for (k, ps) in sources.iter().enumerate() {
            while cursor[k] < ps.len() && ps[cursor[k]].1 <= a {
                cursor[k] += 1;
            }
            if let Some(&(t0, t1, r0, r1)) = ps.get(cursor[k]) {
                if t0 <= a {
                    let at = |t: u64| r0 + (r1 - r0) * (t - t0) as f64 / (t1 - t0) as f64;
                    xa += at(a);
                    xb += at(b);
                }
            }
        }
        let (n0, n1) = (pods(xa), pods(xb));
        out.set(a, n0);
        if n0 == n1 || xa == xb {
            continue;
        }
        // Where x crosses (n + 1e-9) x cap, demand leaves n (up: for n+1; down: for n).
        let cross = |n: f64| -> u64 {
            let x = (n + 1e-9) * cap;
            let f = ((x - xa) / (xb - xa)).clamp(0.0, 1.0);
            a + (f * (b - a) as f64).ceil() as u64
        };
        if n1 > n0 {
            let mut n = n0;
            while n < n1 {
                let t = cross(n);
                if t > a && t < b {
                    out.set(t, n + 1.0);
                }
                n += 1.0;
            }
        } else {
            let mut n = n0 - 1.0;
            while n >= n1 {
                let t = cross(n);
                if t > a && t < b {
                    out.set(t, n);
                }
                n -= 1.0;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn constant_rates_sum_and_round_up() {
        // 10 req/s x 0.1 s = 1 slot-second per second, twice; 2 slots a pod at 0.5: 1 busy
        // slot per pod: 2 pods, then 3 from 10 s (a third source).
        let a = vec![(0, 20 * S, 1.0, 1.0)];
        let b = vec![(0, 20 * S, 1.0, 1.0)];
        let c = vec![(10 * S, 20 * S, 0.5, 0.5)];
        let d = step_of(&[a, b, c], 20 * S, 2, 0.5);
        assert_eq!(d.points, vec![(0, 2.0), (10 * S, 3.0)]);
    }

    #[test]
    fn a_linear_ramp_changes_where_it_crosses_a_pod() {
        // 0 -> 4 slot-seconds per second over 40 s, 1 slot per pod at 1.0: a pod more every
        // 10 s (just after each crossing), then one less every 10 s (at the crossing) going down.
        let ramp = vec![(0, 40 * S, 0.0, 4.0), (40 * S, 80 * S, 4.0, 0.0)];
        let d = step_of(&[ramp], 80 * S, 1, 1.0);
        let times: Vec<u64> = d.points.iter().map(|p| p.0.div_ceil(S)).collect();
        let vals: Vec<f64> = d.points.iter().map(|p| p.1).collect();
        assert_eq!(vals, vec![1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0, 0.0], "{:?}", d.points);
        assert_eq!(times, vec![1, 11, 21, 31, 50, 60, 70, 80], "{:?}", d.points);
    }
}
