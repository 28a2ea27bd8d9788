//! Open-loop arrival generators: given their state and a random stream, the next arrival.
//! Pure and engine-independent, so each is tested against what it must produce.

use std::collections::VecDeque;
use std::sync::Arc;

use rand::Rng as _;
use rand_distr::{Distribution, Exp1};

use super::pattern::PatternSpec;
use super::trace::WithinBin;
use crate::engine::rng::Rng;
use crate::engine::SimTime;

/// A rate (requests per second) constant over bins.
#[derive(Debug, Clone)]
pub enum RateFn {
    /// A pattern evaluated at each bin's middle; `key` seeds its noise.
    Pattern { spec: PatternSpec, key: u64 },
    /// A table of rates per bin, from a trace; past its end it repeats (`looped`) or is 0.
    Table { rates: Arc<[f32]>, looped: bool },
}

impl RateFn {
    /// The rate of bin `bin` of `bin_ns`, requests per second.
    pub fn rate(&self, bin: u64, bin_ns: u64) -> f64 {
        match self {
            RateFn::Pattern { spec, key } => spec.rate_at((bin as f64 + 0.5) * bin_ns as f64 / 1e9, *key).max(0.0),
            RateFn::Table { rates, looped } => {
                let n = rates.len() as u64;
                if n == 0 {
                    0.0
                } else if bin < n {
                    f64::from(rates[bin as usize])
                } else if *looped {
                    f64::from(rates[(bin % n) as usize])
                } else {
                    0.0
                }
            }
        }
    }

    /// Whether the rate is zero from bin `bin` on for good (a table that ended).
    pub fn exhausted(&self, bin: u64) -> bool {
        matches!(self, RateFn::Table { rates, looped: false } if bin >= rates.len() as u64)
    }
}

/// Arrivals at a rate that is constant within bins: Poisson (exponential gaps; exact for a
/// piecewise-constant rate, since a gap that crosses a bin's end restarts, memoryless, at
/// the next bin's rate), or, for count traces, the bin's count placed uniformly at random or
/// evenly.
#[derive(Debug, Clone)]
pub struct Binned {
    pub rate: RateFn,
    pub bin_ns: u64,
    pub within: WithinBin,
    /// Offset of the first bin in simulated time.
    pub start: SimTime,
    bin: u64,
    t: SimTime,
    pending: VecDeque<SimTime>,
    scratch: Vec<SimTime>,
    /// Rounding error carried between bins (`Even` and `Uniform`).
    carry: f64,
    /// The rate of bin `rate_bin`, evaluated once per bin rather than once per arrival.
    rate_bin: u64,
    bin_rate: f64,
    /// The end of the current bin while arrivals are Poisson gaps at its known, positive rate
    /// (`bin_rate`), else 0: the one test of the common case.
    fast_end: SimTime,
}

impl Binned {
    pub fn new(rate: RateFn, bin_ns: u64, within: WithinBin, start: SimTime) -> Self {
        Self {
            rate,
            bin_ns: bin_ns.max(1),
            within,
            start,
            bin: 0,
            t: start,
            pending: VecDeque::new(),
            scratch: Vec::new(),
            carry: 0.0,
            rate_bin: u64::MAX,
            bin_rate: 0.0,
            fast_end: 0,
        }
    }

    /// The rate of the current bin.
    #[inline]
    fn current_rate(&mut self) -> f64 {
        if self.rate_bin != self.bin {
            self.bin_rate = self.rate.rate(self.bin, self.bin_ns);
            self.rate_bin = self.bin;
        }
        self.bin_rate
    }

    fn bin_end(&self) -> SimTime {
        self.start + (self.bin + 1) * self.bin_ns
    }

    /// The next arrival strictly before `end`, if any.
    #[inline]
    pub fn next(&mut self, rng: &mut Rng, end: SimTime) -> Option<SimTime> {
        // The common case in line: a Poisson gap within the current bin, whose rate is known.
        if self.t < self.fast_end && self.t < end {
            if let Some(next) = self.poisson_gap(self.bin_rate, rng, end) {
                return next;
            }
        }
        self.next_slow(rng, end)
    }

    /// One exponential gap at rate `r` (> 0, the current bin's, whose end is `fast_end`) from
    /// the last arrival: `Some` of the answer when it falls within the current bin, else `None`,
    /// the clock moved to the next bin (where the gap restarts, memoryless).
    #[inline(always)]
    fn poisson_gap(&mut self, r: f64, rng: &mut Rng, end: SimTime) -> Option<Option<SimTime>> {
        let gap: f64 = Exp1.sample(rng);
        // Through i64: the conversion saturates at 2^63 - 1 ns (292 years), which the clock
        // cannot overflow, where `as u64` saturates at 2^64 - 1 and the sum wrapped, putting
        // the next arrival of a tiny rate (1e-12/s) before the last one. One instruction, too.
        let t = self.t + ((gap / r) * 1e9) as i64 as u64;
        if t < self.fast_end {
            self.t = t;
            return Some((t < end).then_some(t));
        }
        self.t = self.fast_end;
        self.bin += 1;
        self.fast_end = 0;
        None
    }

    /// [`Binned::next`] in general: a bin to enter, a rate to look up, a count to place.
    #[inline(never)]
    fn next_slow(&mut self, rng: &mut Rng, end: SimTime) -> Option<SimTime> {
        loop {
            if let Some(t) = self.pending.pop_front() {
                return (t < end).then_some(t);
            }
            if self.t >= end || self.rate.exhausted(self.bin) {
                return None;
            }
            let r = self.current_rate();
            match self.within {
                WithinBin::Poisson => {
                    if r > 0.0 {
                        self.fast_end = self.bin_end();
                        if let Some(next) = self.poisson_gap(r, rng, end) {
                            return next;
                        }
                    } else {
                        self.t = self.bin_end();
                        self.bin += 1;
                    }
                }
                WithinBin::Even | WithinBin::Uniform => {
                    // The bin's count, rounded, with the rounding error carried to the next
                    // bin (a scaled trace keeps its total to within one request); placed in
                    // the bin, then the next bin.
                    let bin_start = self.start + self.bin * self.bin_ns;
                    let exact = r * self.bin_ns as f64 / 1e9 + self.carry;
                    let n = exact.round().max(0.0);
                    self.carry = exact - n;
                    let n = n as u64;
                    if self.within == WithinBin::Even {
                        for k in 0..n {
                            self.pending.push_back(bin_start + ((2 * k + 1) * self.bin_ns) / (2 * n));
                        }
                    } else {
                        self.scratch.clear();
                        for _ in 0..n {
                            self.scratch.push(bin_start + rng.gen_range(0..self.bin_ns));
                        }
                        self.scratch.sort_unstable();
                        self.pending.extend(self.scratch.iter().copied());
                    }
                    self.bin += 1;
                    self.t = self.start + self.bin * self.bin_ns;
                }
            }
        }
    }
}

/// Replay of a request log: each logged request arrives at its own offset, with its own work
/// when the log has it; `looped` repeats the log after its span.
#[derive(Debug, Clone)]
pub struct Replay {
    pub times: Arc<[u64]>,
    pub work: Option<Arc<[u64]>>,
    pub span: u64,
    pub looped: bool,
    pub start: SimTime,
    i: usize,
    lap: u64,
}

impl Replay {
    pub fn new(times: Arc<[u64]>, work: Option<Arc<[u64]>>, span: u64, looped: bool, start: SimTime) -> Self {
        Self { times, work, span: span.max(1), looped, start, i: 0, lap: 0 }
    }

    /// The next arrival before `end` and its work, if the log has it.
    pub fn next(&mut self, end: SimTime) -> Option<(SimTime, Option<u64>)> {
        if self.i >= self.times.len() {
            if !self.looped || self.times.is_empty() {
                return None;
            }
            self.i = 0;
            self.lap += 1;
        }
        let t = self.start + self.lap * self.span + self.times[self.i];
        let work = self.work.as_ref().map(|w| w[self.i]);
        self.i += 1;
        (t < end).then_some((t, work))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    fn table(counts: &[f32], bin_s: u64, within: WithinBin) -> Binned {
        let rates: Vec<f32> = counts.iter().map(|c| c / bin_s as f32).collect();
        Binned::new(RateFn::Table { rates: rates.into(), looped: false }, bin_s * 1_000_000_000, within, 0)
    }

    fn per_bin(b: &mut Binned, bins: usize, bin_ns: u64) -> Vec<u64> {
        let mut rng = stream(1, "t");
        let mut out = vec![0; bins];
        while let Some(t) = b.next(&mut rng, u64::MAX) {
            out[(t / bin_ns) as usize] += 1;
        }
        out
    }

    #[test]
    fn even_and_uniform_replay_the_counts_exactly() {
        let counts = [3.0, 0.0, 7.0, 1.0, 12.0];
        for within in [WithinBin::Even, WithinBin::Uniform] {
            let mut b = table(&counts, 60, within);
            assert_eq!(per_bin(&mut b, 5, 60_000_000_000), vec![3, 0, 7, 1, 12], "{within:?}");
        }
        // Even spacing: 3 in a minute at 10 s, 30 s, 50 s.
        let mut b = table(&[3.0], 60, WithinBin::Even);
        let mut rng = stream(1, "t");
        let ts: Vec<_> = std::iter::from_fn(|| b.next(&mut rng, u64::MAX)).collect();
        assert_eq!(ts, vec![10_000_000_000, 30_000_000_000, 50_000_000_000]);
    }

    #[test]
    fn scaled_counts_keep_their_total() {
        // 1000 bins of 1 request scaled by 0.3: 300 requests in all, none lost to rounding.
        let counts = vec![0.3f32; 1000];
        for within in [WithinBin::Even, WithinBin::Uniform] {
            let mut b = table(&counts, 1, within);
            let got: u64 = per_bin(&mut b, 1000, 1_000_000_000).iter().sum();
            assert!((got as i64 - 300).abs() <= 1, "{within:?}: {got}");
        }
    }

    #[test]
    fn poisson_replay_matches_the_counts_in_distribution() {
        // 200 bins of 1 minute with 600 each: Poisson counts with mean 600 and variance 600.
        let counts = vec![600.0; 200];
        let mut b = table(&counts, 60, WithinBin::Poisson);
        let got = per_bin(&mut b, 200, 60_000_000_000);
        let mean = got.iter().sum::<u64>() as f64 / 200.0;
        let var = got.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / 199.0;
        // se of the mean: sqrt(600/200) = 1.7; of the variance: about 600 * sqrt(2/199) = 60.
        assert!((mean - 600.0).abs() < 7.0, "{mean}");
        assert!((var - 600.0).abs() < 240.0, "{var}");
    }

    /// A rate so small that a gap passes 2^64 ns gives no arrival, and time never goes back
    /// (a gap saturated at `u64::MAX` once wrapped the clock round).
    #[test]
    fn tiny_rates_send_nothing_and_never_go_back() {
        for rate in [1e-12, 1e-15, f64::MIN_POSITIVE] {
            let spec = PatternSpec::Constant { rate };
            let mut b = Binned::new(RateFn::Pattern { spec, key: 0 }, 1_000_000_000, WithinBin::Poisson, 0);
            let mut rng = stream(5, "tiny");
            let got: Vec<_> = std::iter::from_fn(|| b.next(&mut rng, 3_600_000_000_000)).collect();
            assert!(got.is_empty(), "{rate}: {} arrivals in an hour, from {:?}", got.len(), got.first());
        }
    }

    #[test]
    fn pattern_rate_is_followed() {
        let spec = PatternSpec::Step { steps: vec![
            super::super::pattern::StepSpec { at: crate::units::Duration(0), rate: 10.0 },
            super::super::pattern::StepSpec { at: crate::units::Duration(100_000_000_000), rate: 100.0 },
        ] };
        let mut b = Binned::new(RateFn::Pattern { spec, key: 0 }, 1_000_000_000, WithinBin::Poisson, 0);
        let mut rng = stream(3, "p");
        let (mut before, mut after) = (0, 0);
        while let Some(t) = b.next(&mut rng, 200_000_000_000) {
            if t < 100_000_000_000 { before += 1 } else { after += 1 }
        }
        assert!((before as f64 - 1000.0).abs() < 4.0 * 1000f64.sqrt(), "{before}");
        assert!((after as f64 - 10_000.0).abs() < 4.0 * 10_000f64.sqrt(), "{after}");
    }

    #[test]
    fn replay_loops() {
        let mut r = Replay::new(vec![0, 5, 9].into(), Some(vec![1, 2, 3].into()), 10, true, 100);
        let got: Vec<_> = std::iter::from_fn(|| r.next(125)).collect();
        assert_eq!(got, vec![(100, Some(1)), (105, Some(2)), (109, Some(3)), (110, Some(1)), (115, Some(2)), (119, Some(3)), (120, Some(1))]);
    }
}
