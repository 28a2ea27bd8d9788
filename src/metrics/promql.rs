//! PromQL's functions over scraped samples, as Prometheus (v3) evaluates them: a range
//! `[w]` evaluated at `t` holds the samples with timestamps in `(t - w, t]` (left-open), and
//! `rate`/`increase` extrapolate towards the range's ends (`extrapolatedRate` in
//! `promql/functions.go`).

/// `rate(x[range])` (`is_rate`) or `increase(x[range])` of a counter from its samples in the
/// range, oldest first, as `(seconds, value)`. `None` with fewer than two samples, as in
/// Prometheus, where the series drops out of the result.
pub fn extrapolated_rate(points: &[(f64, f64)], range_start: f64, range_end: f64, is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    // Counter resets: a drop means the counter restarted from zero; add what was lost.
    let mut result = last_v - first_v;
    let mut prev = first_v;
    for &(_, v) in &points[1..] {
        if v < prev {
            result += prev;
        }
        prev = v;
    }
    let mut duration_to_start = first_t - range_start;
    let duration_to_end = range_end - last_t;
    let sampled_interval = last_t - first_t;
    if sampled_interval <= 0.0 {
        return None;
    }
    let average_between = sampled_interval / (points.len() - 1) as f64;
    // Counters cannot be negative: do not extrapolate past the counter's zero point.
    if result > 0.0 && first_v >= 0.0 {
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold { duration_to_start } else { average_between / 2.0 };
    extrapolate_to += if duration_to_end < threshold { duration_to_end } else { average_between / 2.0 };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= range_end - range_start;
    }
    Some(result * factor)
}

/// `avg_over_time(x[range])`.
pub fn avg_over_time(points: &[(f64, f64)]) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    Some(points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64)
}

/// `max_over_time(x[range])`.
pub fn max_over_time(points: &[(f64, f64)]) -> Option<f64> {
    points.iter().map(|p| p.1).reduce(f64::max)
}

/// `delta(x[range])` of a gauge: the difference between the first and last samples,
/// extrapolated towards the range's ends as `rate` is, without counter resets or zero point.
pub fn extrapolated_delta(points: &[(f64, f64)], range_start: f64, range_end: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let result = last_v - first_v;
    let sampled_interval = last_t - first_t;
    if sampled_interval <= 0.0 {
        return None;
    }
    let average_between = sampled_interval / (points.len() - 1) as f64;
    let threshold = average_between * 1.1;
    let (to_start, to_end) = (first_t - range_start, range_end - last_t);
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if to_start < threshold { to_start } else { average_between / 2.0 };
    extrapolate_to += if to_end < threshold { to_end } else { average_between / 2.0 };
    Some(result * (extrapolate_to / sampled_interval))
}

/// `irate` (`is_rate`) or `idelta` from the last two samples of the range (`instantValue`).
pub fn instant_value(points: &[(f64, f64)], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (prev_t, prev_v) = points[points.len() - 2];
    let (last_t, last_v) = points[points.len() - 1];
    let result = if is_rate && last_v < prev_v { last_v } else { last_v - prev_v };
    let interval = last_t - prev_t;
    if interval == 0.0 {
        return None;
    }
    Some(if is_rate { result / interval } else { result })
}

fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() { c + ((sum - t) + inc) } else { c + ((inc - t) + sum) };
    (t, c)
}

/// `deriv(x[range])`: the slope of the least-squares line through the samples, per second
/// (`linearRegression`, with Kahan sums, times relative to the first sample).
pub fn deriv(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let t0 = points[0].0;
    let init_y = points[0].1;
    let const_y = points.iter().all(|p| p.1 == init_y);
    if const_y {
        return Some(if init_y.is_infinite() { f64::NAN } else { 0.0 });
    }
    let n = points.len() as f64;
    let (mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &(t, v) in points {
        let x = t - t0;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    Some(cov / var)
}

/// `stdvar_over_time(x[range])`, the population variance (Welford's method, as Prometheus).
pub fn stdvar_over_time(points: &[(f64, f64)]) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let (mut count, mut mean, mut aux) = (0.0, 0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        aux += delta * (v - mean);
    }
    Some(aux / count)
}

/// The `q`-quantile of values, interpolating between the closest ranks (`quantile` in
/// `promql/quantile.go`), for `quantile(...)` and `quantile_over_time(...)`.
pub fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()).reverse()));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// `histogram_quantile(q, ...)` of one histogram's buckets `(upper bound, cumulative count)`,
/// interpolating linearly inside the bucket the rank falls in (`bucketQuantile`).
pub fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce buckets with the same bound, then make the counts monotonic.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == b.0 => last.1 += b.1,
            _ => merged.push(b),
        }
    }
    ensure_monotonic(&mut merged);
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..merged.len() - 1].iter().position(|b| b.1 >= rank).unwrap_or(merged.len() - 1);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let bucket_end = merged[b].0;
    let mut count = merged[b].1;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// `ensureMonotonicAndIgnoreSmallDeltas` (Prometheus 3): a count below the one before it is
/// raised to it, and a count within a relative 1e-12 of the one before it (float noise, as
/// the separate `rate()`s of the buckets give) is made equal to it, whichever way it goes.
fn ensure_monotonic(buckets: &mut [(f64, f64)]) {
    const TOLERANCE: f64 = 1e-12;
    let Some(&(_, mut prev)) = buckets.first() else { return };
    for b in &mut buckets[1..] {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, TOLERANCE) || curr < prev {
            b.1 = prev;
            continue;
        }
        prev = curr;
    }
}

/// `almost.Equal` of Prometheus's `util/almost`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn steady_counter_rate_is_exact() {
        // 10 per second, scraped every 15 s; range 1m at t = 60 holds samples at 15, 30, 45, 60.
        let pts: Vec<_> = [15.0, 30.0, 45.0, 60.0].iter().map(|&t| (t, 1000.0 + 10.0 * t)).collect();
        let r = extrapolated_rate(&pts, 0.0, 60.0, true).unwrap();
        // sampled 45 s, extrapolated by 15 s at the start (within 1.1 x 15): 450 * 60/45 / 60 = 10.
        assert!(close(r, 10.0), "{r}");
        let inc = extrapolated_rate(&pts, 0.0, 60.0, false).unwrap();
        assert!(close(inc, 600.0), "{inc}");
    }

    #[test]
    fn far_ends_extrapolate_by_half_an_interval() {
        // Two samples 15 s apart in the middle of a 5m range: extrapolate 7.5 s each side.
        let pts = [(100.0, 1000.0), (115.0, 1150.0)];
        let inc = extrapolated_rate(&pts, 0.0, 300.0, false).unwrap();
        assert!(close(inc, 150.0 * 30.0 / 15.0), "{inc}");
    }

    #[test]
    fn zero_point_limits_start_extrapolation() {
        // A new counter: 5 at t = 10, 20 at t = 25; range (0, 30]. The zero point is 5 s before
        // the first sample, closer than the range start (10 s), so only 5 s are added.
        let pts = [(10.0, 5.0), (25.0, 20.0)];
        let inc = extrapolated_rate(&pts, 0.0, 30.0, false).unwrap();
        assert!(close(inc, 15.0 * (15.0 + 5.0 + 5.0) / 15.0), "{inc}");
    }

    #[test]
    fn counter_reset_is_compensated() {
        let pts = [(0.0, 100.0), (15.0, 130.0), (30.0, 10.0), (45.0, 40.0)];
        let inc = extrapolated_rate(&pts, 0.0, 45.0, false).unwrap();
        // 30 + (130 -> 0 -> 10: 10) + 30 = 70 increase over the 45 s sampled, no extrapolation.
        assert!(close(inc, 70.0), "{inc}");
    }

    #[test]
    fn one_sample_is_no_result() {
        assert_eq!(extrapolated_rate(&[(1.0, 1.0)], 0.0, 60.0, true), None);
    }

    #[test]
    fn bucket_quantile_interpolates_as_prometheus() {
        let inf = f64::INFINITY;
        // 100 observations: 50 <= 0.1, 90 <= 0.5, all <= 1. Rank 95 is in (0.5, 1].
        let b = vec![(1.0, 100.0), (0.1, 50.0), (inf, 100.0), (0.5, 90.0)];
        assert!(close(bucket_quantile(0.95, b.clone()), 0.75));
        // Rank 25 is in the first bucket, which starts at 0.
        assert!(close(bucket_quantile(0.25, b.clone()), 0.05));
        // A rank above every finite bucket's count: the highest finite bound.
        assert_eq!(bucket_quantile(1.0, vec![(0.1, 5.0), (inf, 10.0)]), 0.1);
        // No +Inf bucket, no observations, or q outside [0, 1].
        assert!(bucket_quantile(0.5, vec![(0.1, 5.0), (1.0, 10.0)]).is_nan());
        assert!(bucket_quantile(0.5, vec![(0.1, 0.0), (inf, 0.0)]).is_nan());
        assert_eq!(bucket_quantile(-0.5, b.clone()), f64::NEG_INFINITY);
        assert_eq!(bucket_quantile(1.5, b), f64::INFINITY);
        // A count below the one before is raised to it; duplicated bounds are summed.
        let v = bucket_quantile(0.5, vec![(0.1, 60.0), (0.5, 40.0), (inf, 100.0)]);
        assert!(close(v, 0.1 * 50.0 / 60.0), "{v}");
        let v = bucket_quantile(0.5, vec![(0.1, 30.0), (0.1, 30.0), (inf, 100.0)]);
        assert!(close(v, 0.1 * 50.0 / 60.0), "{v}");
    }

    #[test]
    fn bucket_noise_below_the_tolerance_is_flattened() {
        // Every observation is in the first bucket, but the +Inf bucket's rate came out a
        // hair higher: Prometheus 3 treats them as equal, so q = 1 is still in the first bucket
        // rather than at the second's bound.
        let inf = f64::INFINITY;
        let n = 3.0;
        let noisy = n * (1.0 + 1e-15);
        let v = bucket_quantile(1.0, vec![(0.1, n), (0.5, n), (inf, noisy)]);
        assert!(close(v, 0.1), "{v}");
        let mut b = vec![(0.1, 1.0), (0.5, 1.0 + 1e-14), (1.0, 2.0)];
        ensure_monotonic(&mut b);
        assert_eq!(b, vec![(0.1, 1.0), (0.5, 1.0), (1.0, 2.0)]);
        assert!(almost_equal(0.0, 0.0, 1e-12) && !almost_equal(0.0, 1e-300, 1e-12) && almost_equal(1.0, 1.0 + 1e-13, 1e-12));
    }
}
