//! Forecasters for the predictive scaler: from a metric sampled at a fixed interval (what the
//! scaler itself read through the lagged pipeline, never ground truth), the value `ahead`
//! later. Pure and streaming: each keeps only the history it needs (at most two seasons).
//!
//! - **Seasonal naive** (what seed 004's scaler does: "reuse past data"): the value one season
//!   before the target time. Before a full season has been seen: the last value.
//! - **Holt-Winters**, additive trend and season: level, trend and one seasonal term per step
//!   of the season, smoothed by `alpha`, `beta`, `gamma`; initialised from the first season
//!   (level = its mean, trend = 0, season = its deviations). Before that: the last value.
//! - **Linear trend**: the least-squares line through the samples of the last `window`,
//!   extended to the target time (never below 0).
//!
//! Accuracy is tracked by [`Accuracy`]: every forecast is compared with the value later
//! observed for its target time (MAPE over non-zero actuals, and the mean signed error, bias).

use std::collections::VecDeque;

/// Which forecaster, with its settings. Times are in samples of the scaler's interval.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    SeasonalNaive { season: usize },
    HoltWinters { season: usize, alpha: f64, beta: f64, gamma: f64 },
    LinearTrend { window: usize },
}

/// A forecaster fed one sample per interval.
#[derive(Debug, Clone)]
pub struct Forecaster {
    method: Method,
    history: VecDeque<f64>,
    /// Samples seen.
    n: u64,
    hw: Option<HwState>,
}

#[derive(Debug, Clone)]
struct HwState {
    level: f64,
    trend: f64,
    season: Vec<f64>,
}

impl Forecaster {
    pub fn new(method: Method) -> Self {
        Self { method, history: VecDeque::new(), n: 0, hw: None }
    }

    fn keep(&self) -> usize {
        match self.method {
            Method::SeasonalNaive { season } => season.max(1),
            Method::HoltWinters { season, .. } => season.max(1),
            Method::LinearTrend { window } => window.max(2),
        }
    }

    /// Feed the next sample.
    pub fn observe(&mut self, x: f64) {
        let x = if x.is_finite() { x } else { self.history.back().copied().unwrap_or(0.0) };
        if let Method::HoltWinters { season, alpha, beta, gamma } = self.method {
            let m = season.max(1);
            match &mut self.hw {
                Some(s) => {
                    let i = (self.n as usize) % m;
                    let prev_level = s.level;
                    s.level = alpha * (x - s.season[i]) + (1.0 - alpha) * (s.level + s.trend);
                    s.trend = beta * (s.level - prev_level) + (1.0 - beta) * s.trend;
                    s.season[i] = gamma * (x - s.level) + (1.0 - gamma) * s.season[i];
                }
                None => {
                    if self.history.len() + 1 == m {
                        // The first full season: initialise from it.
                        let mut first: Vec<f64> = self.history.iter().copied().collect();
                        first.push(x);
                        let level = first.iter().sum::<f64>() / m as f64;
                        let season = first.iter().map(|v| v - level).collect();
                        self.hw = Some(HwState { level, trend: 0.0, season });
                    }
                }
            }
        }
        self.history.push_back(x);
        while self.history.len() > self.keep() {
            self.history.pop_front();
        }
        self.n += 1;
    }

    /// The forecast `h` samples after the last one (h >= 1); `None` before any sample.
    pub fn forecast(&self, h: usize) -> Option<f64> {
        let last = *self.history.back()?;
        let h = h.max(1);
        let v = match self.method {
            Method::SeasonalNaive { season } => {
                let m = season.max(1);
                if self.history.len() < m {
                    last
                } else {
                    // The sample one season before the target: index (len - m) + (h - 1) mod m.
                    self.history[(self.history.len() - m) + (h - 1) % m]
                }
            }
            Method::HoltWinters { season, .. } => match &self.hw {
                Some(s) => {
                    let m = season.max(1);
                    // The season index of the target sample: n - 1 + h.
                    let i = ((self.n - 1) as usize + h) % m;
                    s.level + h as f64 * s.trend + s.season[i]
                }
                None => last,
            },
            Method::LinearTrend { .. } => {
                let n = self.history.len();
                if n < 2 {
                    last
                } else {
                    let nf = n as f64;
                    let mx = (nf - 1.0) / 2.0;
                    let my = self.history.iter().sum::<f64>() / nf;
                    let (mut sxy, mut sxx) = (0.0, 0.0);
                    for (i, y) in self.history.iter().enumerate() {
                        let dx = i as f64 - mx;
                        sxy += dx * (y - my);
                        sxx += dx * dx;
                    }
                    let slope = sxy / sxx;
                    my + slope * ((nf - 1.0 + h as f64) - mx)
                }
            }
        };
        Some(v.max(0.0))
    }
}

/// Forecast accuracy, streaming: forecasts wait for the sample of their target time.
#[derive(Debug, Clone, Default)]
pub struct Accuracy {
    /// (target sample index, forecast).
    pending: VecDeque<(u64, f64)>,
    sum_ape: f64,
    n_ape: u64,
    sum_err: f64,
    n: u64,
}

impl Accuracy {
    /// A forecast made for sample index `target`.
    pub fn predicted(&mut self, target: u64, value: f64) {
        self.pending.push_back((target, value));
    }

    /// Sample `index` observed with `actual`: score the forecasts made for it.
    pub fn observed(&mut self, index: u64, actual: f64) {
        while let Some(&(t, f)) = self.pending.front() {
            if t > index {
                break;
            }
            self.pending.pop_front();
            if t < index {
                continue; // its sample was never seen
            }
            let e = f - actual;
            self.sum_err += e;
            self.n += 1;
            if actual.abs() > 1e-12 {
                self.sum_ape += (e / actual).abs();
                self.n_ape += 1;
            }
        }
    }

    /// Mean absolute percentage error (a fraction), over targets with a non-zero actual.
    pub fn mape(&self) -> Option<f64> {
        (self.n_ape > 0).then(|| self.sum_ape / self.n_ape as f64)
    }

    /// Mean signed error (forecast - actual): positive means over-forecasting.
    pub fn bias(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_err / self.n as f64)
    }

    pub fn scored(&self) -> u64 {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(i: usize) -> f64 {
        // A season of 12 samples: 100 +- 50.
        100.0 + 50.0 * (2.0 * std::f64::consts::PI * i as f64 / 12.0).sin()
    }

    #[test]
    fn seasonal_naive_repeats_the_last_season() {
        let mut f = Forecaster::new(Method::SeasonalNaive { season: 12 });
        assert_eq!(f.forecast(1), None);
        for i in 0..5 {
            f.observe(wave(i));
        }
        assert_eq!(f.forecast(3), Some(wave(4)), "before a season: the last value");
        for i in 5..30 {
            f.observe(wave(i));
        }
        for h in 1..=24 {
            assert!((f.forecast(h).unwrap() - wave(29 + h)).abs() < 1e-9, "h = {h}");
        }
    }

    #[test]
    fn holt_winters_learns_a_season_with_a_trend() {
        let mut f = Forecaster::new(Method::HoltWinters { season: 12, alpha: 0.3, beta: 0.1, gamma: 0.3 });
        let x = |i: usize| wave(i) + 0.5 * i as f64;
        for i in 0..240 {
            f.observe(x(i));
        }
        for h in [1, 3, 6, 12] {
            let e = (f.forecast(h).unwrap() - x(239 + h)).abs();
            assert!(e < 3.0, "h = {h}: error {e}");
        }
    }

    #[test]
    fn linear_trend_extends_a_line() {
        let mut f = Forecaster::new(Method::LinearTrend { window: 10 });
        for i in 0..20 {
            f.observe(10.0 + 2.0 * i as f64);
        }
        assert!((f.forecast(5).unwrap() - (10.0 + 2.0 * 24.0)).abs() < 1e-9);
        // Never below zero.
        let mut g = Forecaster::new(Method::LinearTrend { window: 5 });
        for i in 0..5 {
            g.observe(10.0 - 3.0 * i as f64);
        }
        assert_eq!(g.forecast(10), Some(0.0));
    }

    #[test]
    fn accuracy_scores_each_forecast_against_its_target() {
        let mut a = Accuracy::default();
        a.predicted(3, 110.0);
        a.predicted(4, 90.0);
        a.observed(2, 50.0);
        assert_eq!(a.scored(), 0);
        a.observed(3, 100.0);
        a.observed(4, 100.0);
        assert_eq!(a.scored(), 2);
        assert!((a.mape().unwrap() - 0.1).abs() < 1e-12);
        assert!(a.bias().unwrap().abs() < 1e-12);
    }
}
