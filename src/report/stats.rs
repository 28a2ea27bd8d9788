//! Streaming statistics: memory independent of the number of requests.

use hdrhistogram::Histogram;

/// Latencies recorded in microseconds, 3 significant digits (0.1% relative precision), from
/// 1 µs to about 11.6 days; larger values are clamped to the top.
#[derive(Clone)]
pub struct LatencyHist {
    h: Histogram<u64>,
    sum_ns: u128,
    max_ns: u64,
}

const HIGHEST_US: u64 = 1_000_000_000_000;

impl std::fmt::Debug for LatencyHist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LatencyHist(n = {})", self.h.len())
    }
}

impl Default for LatencyHist {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHist {
    pub fn new() -> Self {
        let h = Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds");
        Self { h, sum_ns: 0, max_ns: 0 }
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        let us = (ns / 1000).clamp(1, HIGHEST_US);
        self.h.saturating_record(us);
        self.sum_ns += u128::from(ns);
        if ns > self.max_ns {
            self.max_ns = ns;
        }
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// Mean, exact (from a running sum), seconds.
    pub fn mean_s(&self) -> f64 {
        if self.h.is_empty() {
            0.0
        } else {
            self.sum_ns as f64 / self.h.len() as f64 / 1e9
        }
    }

    /// Quantile `q` in [0, 1], seconds; the histogram's value at that rank (within 0.1%).
    pub fn quantile_s(&self, q: f64) -> f64 {
        if self.h.is_empty() {
            return 0.0;
        }
        if q >= 1.0 {
            return self.max_s();
        }
        // The histogram reports the top of the bucket; never above the true maximum.
        (self.h.value_at_quantile(q) as f64 / 1e6).min(self.max_s())
    }

    /// The lowest value of the histogram bucket holding quantile `q`, seconds: the true
    /// quantile is at or above it.
    pub fn quantile_low_s(&self, q: f64) -> f64 {
        if self.h.is_empty() {
            return 0.0;
        }
        self.h.lowest_equivalent(self.h.value_at_quantile(q.min(1.0))) as f64 / 1e6
    }

    /// Maximum, exact, seconds.
    pub fn max_s(&self) -> f64 {
        self.max_ns as f64 / 1e9
    }

    /// Share of recorded values at or below `ns`.
    pub fn share_at_or_below(&self, ns: u64) -> f64 {
        if self.h.is_empty() {
            return 1.0;
        }
        let us = (ns / 1000).max(1);
        self.h.count_between(0, us) as f64 / self.h.len() as f64
    }

    /// Count of recorded values at or below `ns` (to the histogram's precision).
    pub fn count_at_or_below(&self, ns: u64) -> u64 {
        let us = (ns / 1000).max(1);
        self.h.count_between(0, us)
    }

    pub fn add(&mut self, other: &LatencyHist) {
        // Same bounds: cannot fail.
        let _ = self.h.add(&other.h);
        self.sum_ns += other.sum_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    pub fn reset(&mut self) {
        self.h.reset();
        self.sum_ns = 0;
        self.max_ns = 0;
    }

    /// The empirical CDF as (seconds, cumulative share) points, one per distinct recorded bucket.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let n = self.h.len() as f64;
        if n == 0.0 {
            return Vec::new();
        }
        let mut acc = 0u64;
        self.h
            .iter_recorded()
            .map(|v| {
                acc += v.count_since_last_iteration();
                (v.value_iterated_to() as f64 / 1e6, acc as f64 / n)
            })
            .collect()
    }
}

/// The time integral of a piecewise-constant count (pods running, requests in the system),
/// kept exactly in count-nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Integral {
    pub value: i64,
    last_t: u64,
    area: i128,
}

impl Integral {
    #[inline]
    pub fn add(&mut self, now: u64, delta: i64) {
        self.advance(now);
        self.value += delta;
    }

    #[inline]
    fn advance(&mut self, now: u64) {
        if now > self.last_t {
            self.area += i128::from(now - self.last_t) * i128::from(self.value);
            self.last_t = now;
        }
    }

    /// The area up to `now`, in count-seconds.
    pub fn area_s(&mut self, now: u64) -> f64 {
        self.advance(now);
        self.area as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_within_precision() {
        let mut h = LatencyHist::new();
        for i in 1..=1000u64 {
            h.record(i * 1_000_000); // 1..1000 ms
        }
        assert_eq!(h.count(), 1000);
        assert!((h.mean_s() - 0.5005).abs() < 1e-9);
        let p99 = h.quantile_s(0.99);
        assert!((p99 - 0.990).abs() / 0.990 < 0.001, "{p99}");
        assert_eq!(h.max_s(), 1.0);
        assert!((h.share_at_or_below(500_000_000) - 0.5).abs() < 0.002);
    }

    #[test]
    fn integral_of_steps() {
        let mut i = Integral::default();
        i.add(0, 2);
        i.add(1_000_000_000, 1);
        assert!((i.area_s(3_000_000_000) - 8.0).abs() < 1e-9);
    }
}
