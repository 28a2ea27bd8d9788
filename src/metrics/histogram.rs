//! The application's request-latency histogram as its Prometheus client library keeps it
//! (`http_request_duration_seconds`, a classic histogram): per pod, one counter per bucket,
//! exported as the cumulative `_bucket{le="..."}` series. Kept only when a query of the run
//! reads the bucket series (or the run's series are exported), so that a run that does not
//! pays nothing per request for it.

pub use crate::scenario::DEFAULT_BUCKETS;

/// The bucket counters of every pod slot.
#[derive(Debug, Clone)]
pub struct Histograms {
    /// Upper bounds of the finite buckets, seconds, increasing (`+Inf` is implicit).
    bounds: Box<[f64]>,
    /// Per pod slot, the observations of each finite bucket (not cumulative); observations
    /// above every bound are only in the pod's served count (the `+Inf` bucket).
    counts: Vec<u64>,
}

impl Histograms {
    pub fn new(bounds: &[f64]) -> Histograms {
        Histograms { bounds: bounds.into(), counts: Vec::new() }
    }

    /// The finite upper bounds, seconds.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// A pod slot starts a new pod: its counters are zero.
    pub fn reset(&mut self, pod: u32) {
        let n = self.bounds.len();
        let at = pod as usize * n;
        if self.counts.len() < at + n {
            self.counts.resize(at + n, 0);
        }
        self.counts[at..at + n].fill(0);
    }

    /// One request served by `pod` in `elapsed_ns`: into the first bucket whose bound is at
    /// least its seconds (`le` is inclusive, as `Histogram.Observe` counts), the value the
    /// pod's `_sum` adds. Cold and out of line: the request path is laid out for runs without
    /// buckets, which pay only the test for them.
    #[cold]
    #[inline(never)]
    pub fn observe(&mut self, pod: u32, elapsed_ns: u64) {
        let seconds = elapsed_ns as f64 / 1e9;
        let n = self.bounds.len();
        // The bounds below it, counted without branches (a few bounds: faster than a search).
        let i = self.bounds.iter().map(|&b| usize::from(b < seconds)).sum::<usize>();
        if i < n {
            let at = pod as usize * n + i;
            if let Some(c) = self.counts.get_mut(at) {
                *c += 1;
            } else {
                // A slot never reset (the buckets were switched on after the pod was made).
                self.counts.resize(pod as usize * n + n, 0);
                self.counts[at] += 1;
            }
        }
    }

    /// The cumulative count of each finite bucket of `pod`, as a scrape reads them.
    pub fn cumulative(&self, pod: u32) -> impl Iterator<Item = f64> + '_ {
        let n = self.bounds.len();
        let at = pod as usize * n;
        let slot = self.counts.get(at..at + n).unwrap_or(&[]);
        let mut acc = 0u64;
        (0..n).map(move |i| {
            acc += slot.get(i).copied().unwrap_or(0);
            acc as f64
        })
    }
}

/// An `le` label value as Prometheus 3 stores it (it normalizes `le` on ingestion, and client
/// libraries write it so in OpenMetrics): Go's shortest `%g` form (`strconv.FormatFloat(v, 'g', -1, 64)`) with `.0` added to integers,
/// `+Inf` for infinity (`1` -> `1.0`, `0.005` -> `0.005`, `1e-05`, `1e+06`).
pub fn le_label(v: f64) -> String {
    if v == f64::INFINITY {
        return "+Inf".into();
    }
    if v == f64::NEG_INFINITY {
        return "-Inf".into();
    }
    if v.is_nan() {
        return "NaN".into();
    }
    if v == 0.0 {
        return "0.0".into();
    }
    // Shortest round-trip digits and the decimal exponent, from Rust's `{:e}` (`1.5e-5`).
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e}'s exponent is an integer");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Go's %g with the shortest precision: exponent form when exp < -4 or exp >= 6.
    let s = if exp < -4 || exp >= 6 {
        let (first, rest) = digits.split_at(1);
        let m = if rest.is_empty() { first.to_string() } else { format!("{first}.{rest}") };
        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else if exp < 0 {
        format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            format!("{digits}{}", "0".repeat(int_len - digits.len()))
        } else {
            format!("{}.{}", &digits[..int_len], &digits[int_len..])
        }
    };
    if s.contains(['.', 'e']) {
        format!("{sign}{s}")
    } else {
        format!("{sign}{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_first_bucket_at_or_above_them() {
        let mut h = Histograms::new(&[0.1, 0.5, 1.0]);
        h.reset(2);
        for ns in [50_000_000, 100_000_000, 100_000_001, 500_000_000, 700_000_000, 3_000_000_000] {
            h.observe(2, ns);
        }
        // 0.05 and 0.1 (inclusive) in le=0.1; 0.100000001 and 0.5 in le=0.5; 0.7 in le=1; 3.0 only in +Inf.
        assert_eq!(h.cumulative(2).collect::<Vec<_>>(), vec![2.0, 4.0, 5.0]);
        // Another slot is untouched, and a reused slot starts from zero.
        assert_eq!(h.cumulative(0).collect::<Vec<_>>(), vec![0.0, 0.0, 0.0]);
        h.reset(2);
        assert_eq!(h.cumulative(2).collect::<Vec<_>>(), vec![0.0, 0.0, 0.0]);
        // A slot never reset (grown on its first observation) counts too.
        h.observe(7, 300_000_000);
        assert_eq!(h.cumulative(7).collect::<Vec<_>>(), vec![0.0, 1.0, 1.0]);
    }

    #[test]
    fn le_labels_are_written_as_prometheus_3_normalizes_them() {
        let got: Vec<String> = DEFAULT_BUCKETS.iter().map(|&b| le_label(b)).collect();
        assert_eq!(
            got,
            ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "5.0", "7.5", "10.0"]
        );
        for (v, s) in [
            (f64::INFINITY, "+Inf"),
            (0.0, "0.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000015, "1.5e-05"),
            (100000.0, "100000.0"),
            (1e21, "1e+21"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (123456.5, "123456.5"),
            (-2.0, "-2.0"),
        ] {
            assert_eq!(le_label(v), s, "{v}");
        }
    }
}
