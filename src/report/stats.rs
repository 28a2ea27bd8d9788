//! Streaming statistics: memory independent of the number of requests.

/// Latencies recorded in microseconds, 3 significant digits (0.1% relative precision), from
/// 1 µs to about 11.6 days; larger values are clamped to the top.
///
/// The layout is HdrHistogram's for (lowest 1, highest 10^12, 3 significant figures), and every
/// query answers as `hdrhistogram::Histogram` does (the tests check it against that crate). It
/// is our own because recording is the engine's hottest statistic (several histograms per
/// request): here a record is an index computation and three adds, and the range of buckets
/// in use is tracked, so that reset, merge and quantiles touch only those buckets. The counts
/// are allocated at the first record: an empty histogram costs nothing.
#[derive(Clone)]
pub struct LatencyHist {
    /// Empty until the first record, then `LEN` counts.
    counts: Vec<u64>,
    total: u64,
    /// The lowest and highest bucket with a count (`lo > hi` when empty).
    lo: usize,
    hi: usize,
    sum_ns: u128,
    max_ns: u64,
}

const HIGHEST_US: u64 = 1_000_000_000_000;

/// log2 of half the sub-buckets per bucket: 2 x 10^3 values at unit resolution need 2^11
/// sub-buckets.
const SUB_HALF_MAGNITUDE: u32 = 10;
const SUB_HALF: usize = 1 << SUB_HALF_MAGNITUDE;
const SUB_MASK: u64 = (2 * SUB_HALF as u64) - 1;
/// 64 - unit magnitude (0) - sub-bucket count magnitude (11).
const LEADING_ZERO_BASE: u32 = 53;
/// Buckets to cover `HIGHEST_US`: 2^11 x 2^29 > 10^12.
const BUCKETS: usize = 30;
const LEN: usize = (BUCKETS + 1) * SUB_HALF;

#[inline(always)]
fn bucket_of(v: u64) -> u32 {
    LEADING_ZERO_BASE - (v | SUB_MASK).leading_zeros()
}

/// The counts index of a value (may be past the end for values above the top).
#[inline(always)]
fn index_of(v: u64) -> usize {
    let b = bucket_of(v);
    ((b as usize + 1) << SUB_HALF_MAGNITUDE) + (v >> b) as usize - SUB_HALF
}

/// The lowest value of a counts index.
fn value_of(i: usize) -> u64 {
    let b = (i >> SUB_HALF_MAGNITUDE) as i64 - 1;
    let sub = (i & (SUB_HALF - 1)) + SUB_HALF;
    if b < 0 {
        (sub - SUB_HALF) as u64
    } else {
        (sub as u64) << b
    }
}

fn lowest_equivalent(v: u64) -> u64 {
    let b = bucket_of(v);
    (v >> b) << b
}

fn highest_equivalent(v: u64) -> u64 {
    if v == u64::MAX {
        u64::MAX
    } else {
        lowest_equivalent(v).saturating_add(1 << bucket_of(v)) - 1
    }
}

impl std::fmt::Debug for LatencyHist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LatencyHist(n = {})", self.total)
    }
}

impl Default for LatencyHist {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHist {
    pub fn new() -> Self {
        Self { counts: Vec::new(), total: 0, lo: usize::MAX, hi: 0, sum_ns: 0, max_ns: 0 }
    }

    #[cold]
    #[inline(never)]
    fn allocate(&mut self) -> &mut [u64] {
        self.counts = vec![0; LEN];
        &mut self.counts
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        let us = (ns / 1000).clamp(1, HIGHEST_US);
        let i = index_of(us);
        // `i < LEN` (`us` is clamped): out of range only before the first record.
        match self.counts.get_mut(i) {
            Some(c) => *c += 1,
            None => self.allocate()[i] += 1,
        }
        self.total += 1;
        self.lo = self.lo.min(i);
        self.hi = self.hi.max(i);
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The buckets in use with their indices.
    fn used(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let range = if self.total == 0 {
            0..0
        } else {
            self.lo..self.hi + 1
        };
        range.clone().zip(self.counts[range].iter().copied())
    }

    /// HdrHistogram's `value_at_quantile`: the highest value of the bucket where the count
    /// reaches `ceil(q x n)` (at least 1); the lowest value of that bucket for `q == 0`.
    fn value_at_quantile(&self, q: f64) -> u64 {
        let q = q.min(1.0);
        let target = ((q * self.total as f64).ceil() as u64).max(1);
        let mut acc = 0u64;
        for (i, c) in self.used() {
            acc += c;
            if acc >= target {
                let v = value_of(i);
                return if q == 0.0 {
                    lowest_equivalent(v)
                } else {
                    highest_equivalent(v)
                };
            }
        }
        0
    }

    /// Recorded values at or below `us` (to the histogram's precision).
    fn count_to(&self, us: u64) -> u64 {
        let last = index_of(us).min(LEN - 1);
        self.used()
            .take_while(|&(i, _)| i <= last)
            .map(|(_, c)| c)
            .sum()
    }

    /// Mean, exact (from a running sum), seconds.
    pub fn mean_s(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum_ns as f64 / self.total as f64 / 1e9
        }
    }

    /// Quantile `q` in [0, 1], seconds; the histogram's value at that rank (within 0.1%).
    pub fn quantile_s(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        if q >= 1.0 {
            return self.max_s();
        }
        // The histogram reports the top of the bucket; never above the true maximum.
        (self.value_at_quantile(q) as f64 / 1e6).min(self.max_s())
    }

    /// `quantile_s` of each of `qs` (in (0, 1), ascending), in one walk of the buckets.
    pub fn quantiles_s<const N: usize>(&self, qs: [f64; N]) -> [f64; N] {
        debug_assert!(qs.windows(2).all(|w| w[0] <= w[1]) && qs.iter().all(|&q| q > 0.0 && q < 1.0));
        let mut out = [0.0; N];
        if self.total == 0 || N == 0 {
            return out;
        }
        // As in `value_at_quantile`: the first bucket where the count reaches each rank.
        let ranks = qs.map(|q| ((q * self.total as f64).ceil() as u64).max(1));
        let (mut k, mut acc) = (0, 0u64);
        for (j, &c) in self.counts[self.lo..=self.hi].iter().enumerate() {
            acc += c;
            if acc < ranks[k] {
                continue;
            }
            let top_s = (highest_equivalent(value_of(self.lo + j)) as f64 / 1e6).min(self.max_s());
            while k < N && acc >= ranks[k] {
                out[k] = top_s;
                k += 1;
            }
            if k == N {
                break;
            }
        }
        out
    }

    /// The lowest value of the histogram bucket holding quantile `q`, seconds: the true
    /// quantile is at or above it.
    pub fn quantile_low_s(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        lowest_equivalent(self.value_at_quantile(q.min(1.0))) as f64 / 1e6
    }

    /// Maximum, exact, seconds.
    pub fn max_s(&self) -> f64 {
        self.max_ns as f64 / 1e9
    }

    /// Share of recorded values at or below `ns`.
    pub fn share_at_or_below(&self, ns: u64) -> f64 {
        if self.total == 0 {
            return 1.0;
        }
        self.count_at_or_below(ns) as f64 / self.total as f64
    }

    /// Count of recorded values at or below `ns` (to the histogram's precision).
    pub fn count_at_or_below(&self, ns: u64) -> u64 {
        self.count_to((ns / 1000).max(1))
    }

    pub fn add(&mut self, other: &LatencyHist) {
        if other.total > 0 {
            if self.counts.is_empty() {
                self.allocate();
            }
            // The buckets `other` uses, side by side (a loop the compiler vectorizes).
            let (lo, hi) = (other.lo, other.hi);
            for (a, b) in self.counts[lo..=hi].iter_mut().zip(&other.counts[lo..=hi]) {
                *a += b;
            }
            self.total += other.total;
            self.lo = self.lo.min(other.lo);
            self.hi = self.hi.max(other.hi);
        }
        self.sum_ns += other.sum_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    pub fn reset(&mut self) {
        if self.total > 0 {
            self.counts[self.lo..=self.hi].fill(0);
        }
        self.total = 0;
        self.lo = usize::MAX;
        self.hi = 0;
        self.sum_ns = 0;
        self.max_ns = 0;
    }

    /// The empirical CDF as (seconds, cumulative share) points, one per distinct recorded bucket
    /// (at the bucket's highest value).
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let n = self.total as f64;
        let mut acc = 0u64;
        self.used()
            .filter(|&(_, c)| c > 0)
            .map(|(i, c)| {
                acc += c;
                // A bucket's upper end, but never above the largest value recorded.
                let top_s = (highest_equivalent(value_of(i)) as f64 / 1e6).min(self.max_s());
                (top_s, acc as f64 / n)
            })
            .collect()
    }
}

/// The histogram's verdict on "is the `q` quantile above `limit_s`?" without a histogram: a
/// value is *admitted* when its bucket's lowest value is at or below the limit, and the
/// quantile's bucket lies wholly above the limit exactly when fewer values were admitted than
/// the quantile's rank. Equal to `h.quantile_low_s(q) > limit_s` of the same values (tested).
#[derive(Debug, Clone, Copy)]
pub struct BucketThreshold {
    /// The latencies admitted are those below this many nanoseconds: one compare per request.
    below_ns: u128,
}

impl BucketThreshold {
    pub fn new(limit_s: f64) -> Self {
        Self::admitting(Self::max_admitted_us(limit_s))
    }

    /// The highest microsecond value whose bucket's lowest value is at or below `limit_s`
    /// (0: none).
    fn max_admitted_us(limit_s: f64) -> u64 {
        let admitted = |us: u64| lowest_equivalent(us) as f64 / 1e6 <= limit_s;
        if !admitted(1) {
            return 0;
        }
        if admitted(HIGHEST_US) {
            return HIGHEST_US;
        }
        // Admission is monotone in the value: the last admitted one by bisection.
        let (mut lo, mut hi) = (1, HIGHEST_US);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if admitted(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Admitting values up to `max_us`: a latency's value is `(ns / 1000).clamp(1, HIGHEST_US)`,
    /// so none when `max_us` is 0, all when it is `HIGHEST_US`, else those below
    /// `(max_us + 1) x 1000` ns.
    fn admitting(max_us: u64) -> Self {
        let below_ns = match max_us {
            0 => 0,
            HIGHEST_US => u128::MAX,
            m => u128::from(m + 1) * 1000,
        };
        Self { below_ns }
    }

    /// Whether a latency of `ns` lands in a bucket at or below the limit.
    #[inline]
    pub fn admits(&self, ns: u64) -> bool {
        u128::from(ns) < self.below_ns
    }

    /// Whether, of `n > 0` values of which `admitted` were admitted, the `q` quantile's bucket
    /// lies wholly above the limit (the rank as in HdrHistogram's `value_at_quantile`).
    pub fn slow(n: u64, admitted: u64, q: f64) -> bool {
        let rank = ((q.min(1.0) * n as f64).ceil() as u64).max(1);
        admitted < rank
    }
}

/// The time integral of a piecewise-constant count (pods running, requests in the system),
/// kept exactly in count-nanoseconds. Each change of `delta` at time `t` adds `delta x (now - t)`
/// to the area up to any later `now`, so the area is `value x now + offset` with `offset` the sum
/// of `-delta x t`: a change costs one multiply-add, with no test of the time since the last.
#[derive(Debug, Clone, Copy, Default)]
pub struct Integral {
    pub value: i64,
    offset: i128,
    /// The time of the last change or reading: times must not go back (checked in debug builds).
    #[cfg(debug_assertions)]
    last_t: u64,
}

impl Integral {
    #[inline]
    pub fn add(&mut self, now: u64, delta: i64) {
        self.check_time(now);
        self.value += delta;
        // Simulated time stays below 2^63 ns (292 years): one signed 64 x 64 -> 128-bit multiply.
        self.offset -= i128::from(delta) * i128::from(now as i64);
    }

    /// The area up to `now`, in count-seconds.
    pub fn area_s(&mut self, now: u64) -> f64 {
        self.check_time(now);
        (i128::from(self.value) * i128::from(now as i64) + self.offset) as f64 / 1e9
    }

    #[inline(always)]
    fn check_time(&mut self, _now: u64) {
        #[cfg(debug_assertions)]
        {
            debug_assert!(_now >= self.last_t, "an integral read or changed at {_now} ns after {} ns", self.last_t);
            self.last_t = _now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `admits` is the bucket rule: a latency's value `(ns / 1000).clamp(1, HIGHEST_US)` at
    /// or below the highest value admitted (that value itself is held to the histogram by
    /// `threshold_decides_as_the_histogram_does`).
    #[test]
    fn threshold_admits_by_the_bucket_rule() {
        let limits = [0.0, 1e-7, 1e-6, 1.5e-6, 0.000999, 0.001, 0.0105, 0.25, 0.5, 1.0, 7.3, 1e5, 1e6, 1e7, f64::INFINITY];
        for limit_s in limits {
            let t = BucketThreshold::new(limit_s);
            let max_us = BucketThreshold::max_admitted_us(limit_s);
            let edge = (max_us + 1).saturating_mul(1000);
            let around = |x: u64| [x.saturating_sub(1001), x.saturating_sub(1), x, x + 1, x + 999];
            for ns in [0, 1, 999, 1000, 1001, u64::MAX, HIGHEST_US * 1000, HIGHEST_US * 1000 + 999].into_iter().chain(around(edge)) {
                assert_eq!(t.admits(ns), (ns / 1000).clamp(1, HIGHEST_US) <= max_us, "limit {limit_s}, {ns} ns");
            }
        }
    }

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

    /// A CDF's last point is the largest value recorded when its bucket reaches past it (here a
    /// value under the histogram's 1us unit): proptest found this case once.
    #[test]
    fn cdf_stops_at_the_largest_value() {
        let mut h = LatencyHist::new();
        h.record(500);
        assert_eq!(h.cdf(), vec![(500.0 / 1e9, 1.0)]);
        h.record(5_000_999);
        let top = h.cdf().last().copied().unwrap();
        assert_eq!(top, (5_000_999.0 / 1e9, 1.0));
    }

    /// Every query answers as hdrhistogram's does, on values from the unit range to past the
    /// top, recorded, merged and reset.
    #[test]
    fn answers_as_hdrhistogram_does() {
        use hdrhistogram::Histogram;
        use proptest::prelude::*;
        let values = prop::collection::vec(
            prop_oneof![
                0u64..5_000,
                0u64..5_000_000,
                0u64..50_000_000_000,
                any::<u64>()
            ],
            1..400,
        );
        let config = ProptestConfig {
            cases: 200,
            ..ProptestConfig::default()
        };
        proptest!(config, |(a in values.clone(), b in values, probe in any::<u64>(), q in 0.0f64..=1.0)| {
            let reference = |vs: &[u64]| {
                let mut h = Histogram::<u64>::new_with_bounds(1, HIGHEST_US, 3).unwrap();
                for &ns in vs {
                    h.saturating_record((ns / 1000).clamp(1, HIGHEST_US));
                }
                h
            };
            let ours = |vs: &[u64]| {
                let mut h = LatencyHist::new();
                for &ns in vs {
                    h.record(ns);
                }
                h
            };
            let mut want = reference(&a);
            want.add(reference(&b)).unwrap();
            let mut got = ours(&[1, 2, 3]);
            got.reset();
            got.add(&ours(&a));
            got.add(&ours(&b));
            prop_assert_eq!(got.count(), want.len());
            prop_assert_eq!(got.counts.len(), want.distinct_values());
            prop_assert_eq!(LatencyHist::new().value_at_quantile(q), 0);
            for q in [q, 0.0, 0.5, 0.99, 0.999, 1.0] {
                prop_assert_eq!(got.value_at_quantile(q), want.value_at_quantile(q), "q = {}", q);
            }
            // Several quantiles in one walk are the quantiles one by one (to the bit).
            let one_walk = got.quantiles_s([0.5, 0.95, 0.99]).map(f64::to_bits);
            prop_assert_eq!(one_walk, [0.5, 0.95, 0.99].map(|q| got.quantile_s(q).to_bits()));
            let (lo, hi) = (q.clamp(1e-9, 0.999_999), (q + 0.5).min(0.999_999));
            prop_assert_eq!(got.quantiles_s([lo, lo, hi]).map(f64::to_bits), [lo, lo, hi].map(|q| got.quantile_s(q).to_bits()));
            for ns in [probe, probe % 10_000_000, 0, 999, 1000, u64::MAX] {
                let us = (ns / 1000).max(1);
                prop_assert_eq!(got.count_at_or_below(ns), want.count_between(0, us));
                prop_assert_eq!(lowest_equivalent(us), want.lowest_equivalent(us));
                prop_assert_eq!(highest_equivalent(us), want.highest_equivalent(us));
            }
            // The CDF's points are the buckets' tops, never above the largest value recorded
            // (the last bucket's top may lie above it: values under 1us, or wider buckets).
            let exact_max = a.iter().chain(&b).copied().max().unwrap();
            let cdf: Vec<_> = want
                .iter_recorded()
                .map(|v| (v.value_iterated_to() as f64 / 1e6).min(exact_max as f64 / 1e9))
                .collect();
            prop_assert_eq!(got.cdf().into_iter().map(|p| p.0).collect::<Vec<_>>(), cdf);
            prop_assert_eq!(got.max_s(), exact_max as f64 / 1e9);
        });
    }

    /// The threshold's verdict is the histogram's, on limits at and around bucket edges.
    #[test]
    fn threshold_decides_as_the_histogram_does() {
        use proptest::prelude::*;
        let config = ProptestConfig { cases: 300, ..ProptestConfig::default() };
        let values = prop::collection::vec(prop_oneof![0u64..3_000_000, 0u64..3_000_000_000], 1..300);
        let limit = prop_oneof![0u64..3_000_000, 0u64..3_000_000_000, Just(0), Just(999), Just(1000), Just(2_048_000)];
        let pct = prop_oneof![Just(50.0), Just(95.0), Just(99.0), Just(99.9), Just(100.0), 0.0f64..100.0];
        proptest!(config, |(vs in values, limit_ns in limit, pct in pct)| {
            let mut h = LatencyHist::new();
            for &ns in &vs {
                h.record(ns);
            }
            for limit_ns in [limit_ns, limit_ns / 1000 * 1000, vs[0], vs[0] / 1000 * 1000] {
                let limit_s = limit_ns as f64 / 1e9;
                let t = BucketThreshold::new(limit_s);
                let admitted = vs.iter().filter(|&&ns| t.admits(ns)).count() as u64;
                let q = pct / 100.0;
                prop_assert_eq!(
                    BucketThreshold::slow(vs.len() as u64, admitted, q),
                    h.quantile_low_s(q) > limit_s,
                    "limit {} s, q {}", limit_s, q
                );
            }
        });
    }

    #[test]
    fn integral_of_steps() {
        let mut i = Integral::default();
        i.add(0, 2);
        i.add(1_000_000_000, 1);
        assert!((i.area_s(3_000_000_000) - 8.0).abs() < 1e-9);
    }

    /// The area is the sum of count x duration over the steps, exactly, read at any time.
    #[test]
    fn integral_is_exact_against_summed_steps() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
        let mut i = Integral::default();
        let (mut t, mut value, mut area) = (0u64, 0i64, 0i128);
        for _ in 0..10_000 {
            let bits = rng.gen_range(0..45);
            let next = t + rng.gen_range(0..1u64 << bits);
            area += i128::from(value) * i128::from(next - t);
            t = next;
            if rng.gen_bool(0.2) {
                assert_eq!(i.area_s(t).to_bits(), (area as f64 / 1e9).to_bits());
            } else {
                let delta = rng.gen_range(-3_000..3_000);
                i.add(t, delta);
                value += delta;
            }
        }
        assert_eq!(i.value, value);
    }
}
