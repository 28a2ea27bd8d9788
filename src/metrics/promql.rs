//! PromQL's range functions over scraped samples, as Prometheus (v3) evaluates them: a range
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
}
