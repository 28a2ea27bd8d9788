//! Synthetic load shapes: a rate over time (requests per second), written inline:
//! `pattern = { kind = "diurnal", mean = 120, amplitude = 0.6, period = "1d" }`.
//! Arrivals are Poisson with that rate; the rate is held constant over `resolution` bins
//! (default 1 s, evaluated at each bin's middle), which is exact for the arrival generator.

use serde::Deserialize;

use crate::units::Duration;

/// A load shape as written in the scenario.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PatternSpec {
    /// `rate` requests per second throughout.
    Constant { rate: f64 },
    /// `rate` from each step's `at` until the next step (0 before the first).
    Step { steps: Vec<StepSpec> },
    /// `from` until `start`, then linearly to `to` over `duration`, then `to`.
    Ramp {
        from: f64,
        to: f64,
        #[serde(default)]
        start: Duration,
        duration: Duration,
    },
    /// A daily (or any `period`) cycle: `mean x (1 + amplitude x cos(2 pi (t - peak_at) / period))`,
    /// times `weekend` on the 6th and 7th period of each 7 (weekly cycle; default 1: none).
    Diurnal {
        mean: f64,
        amplitude: f64,
        #[serde(default = "one_day")]
        period: Duration,
        #[serde(default = "two_pm")]
        peak_at: Duration,
        #[serde(default = "one")]
        weekend: f64,
    },
    /// A spike or flash sale: `base`, rising linearly to `peak` over `rise` from `at`, held for
    /// `hold`, falling back over `fall`.
    Spike {
        base: f64,
        peak: f64,
        at: Duration,
        #[serde(default)]
        rise: Duration,
        hold: Duration,
        #[serde(default)]
        fall: Duration,
    },
    /// Another pattern times a random factor `1 + sd x N(0,1)` (at least 0), drawn anew every
    /// `interval`: bursty, unsteady load. The same factors under every policy.
    Noise {
        of: Box<PatternSpec>,
        sd: f64,
        #[serde(default = "one_minute")]
        interval: Duration,
    },
    /// The sum of several patterns.
    Sum { of: Vec<PatternSpec> },
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub at: Duration,
    pub rate: f64,
}

fn one_day() -> Duration {
    Duration(86_400_000_000_000)
}
fn two_pm() -> Duration {
    Duration(14 * 3_600_000_000_000)
}
fn one_minute() -> Duration {
    Duration(60_000_000_000)
}
fn one() -> f64 {
    1.0
}

fn rate_ok(r: f64, what: &str) -> Result<(), String> {
    if r.is_finite() && (0.0..=1e8).contains(&r) {
        Ok(())
    } else {
        Err(format!("{what} = {r}: expected a rate in requests per second, from 0 to 100000000"))
    }
}

impl PatternSpec {
    /// Check the values; `Err` says which and what was expected.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            PatternSpec::Constant { rate } => rate_ok(*rate, "constant `rate`"),
            PatternSpec::Step { steps } => {
                if steps.is_empty() {
                    return Err("step pattern: `steps` is empty; expected [ { at = \"0s\", rate = 10 }, ... ]".into());
                }
                for w in steps.windows(2) {
                    if w[1].at <= w[0].at {
                        return Err(format!("step pattern: steps must be in increasing `at` order ({} then {})", w[0].at, w[1].at));
                    }
                }
                steps.iter().try_for_each(|s| rate_ok(s.rate, "step `rate`"))
            }
            PatternSpec::Ramp { from, to, duration, .. } => {
                rate_ok(*from, "ramp `from`")?;
                rate_ok(*to, "ramp `to`")?;
                if duration.nanos() == 0 {
                    return Err("ramp pattern: `duration` must be longer than zero".into());
                }
                Ok(())
            }
            PatternSpec::Diurnal { mean, amplitude, period, weekend, .. } => {
                rate_ok(*mean, "diurnal `mean`")?;
                if !(0.0..=1.0).contains(amplitude) {
                    return Err(format!("diurnal `amplitude` = {amplitude}: expected a share from 0 to 1 (0.6: the rate swings 60% around the mean)"));
                }
                if period.nanos() == 0 {
                    return Err("diurnal `period` must be longer than zero".into());
                }
                if !(weekend.is_finite() && *weekend >= 0.0) {
                    return Err(format!("diurnal `weekend` = {weekend}: expected a factor of 0 or more (0.4: weekends at 40%)"));
                }
                Ok(())
            }
            PatternSpec::Spike { base, peak, .. } => {
                rate_ok(*base, "spike `base`")?;
                rate_ok(*peak, "spike `peak`")
            }
            PatternSpec::Noise { of, sd, interval } => {
                if !(sd.is_finite() && *sd >= 0.0) {
                    return Err(format!("noise `sd` = {sd}: expected a relative standard deviation of 0 or more (0.1: 10%)"));
                }
                if interval.nanos() == 0 {
                    return Err("noise `interval` must be longer than zero".into());
                }
                of.validate()
            }
            PatternSpec::Sum { of } => {
                if of.is_empty() {
                    return Err("sum pattern: `of` is empty; expected a list of patterns".into());
                }
                of.iter().try_for_each(PatternSpec::validate)
            }
        }
    }

    /// The rate at `t` seconds; `key` seeds the noise (a pure function of it and the time).
    pub fn rate_at(&self, t: f64, key: u64) -> f64 {
        match self {
            PatternSpec::Constant { rate } => *rate,
            PatternSpec::Step { steps } => {
                let mut r = 0.0;
                for s in steps {
                    if t >= s.at.as_secs_f64() {
                        r = s.rate;
                    }
                }
                r
            }
            PatternSpec::Ramp { from, to, start, duration } => {
                let x = ((t - start.as_secs_f64()) / duration.as_secs_f64()).clamp(0.0, 1.0);
                from + (to - from) * x
            }
            PatternSpec::Diurnal { mean, amplitude, period, peak_at, weekend } => {
                let p = period.as_secs_f64();
                let phase = (t - peak_at.as_secs_f64()) / p;
                let base = mean * (1.0 + amplitude * (std::f64::consts::TAU * phase).cos());
                let day = (t / p).floor() as i64;
                if day.rem_euclid(7) >= 5 {
                    base * weekend
                } else {
                    base
                }
            }
            PatternSpec::Spike { base, peak, at, rise, hold, fall } => {
                let (a, r, h, f) = (at.as_secs_f64(), rise.as_secs_f64(), hold.as_secs_f64(), fall.as_secs_f64());
                let x = if t < a {
                    0.0
                } else if t < a + r {
                    (t - a) / r
                } else if t < a + r + h {
                    1.0
                } else if t < a + r + h + f {
                    1.0 - (t - a - r - h) / f
                } else {
                    0.0
                };
                base + (peak - base) * x
            }
            PatternSpec::Noise { of, sd, interval } => {
                let i = (t / interval.as_secs_f64()).floor().max(0.0) as u64;
                let factor = (1.0 + sd * std_normal(key, i)).max(0.0);
                of.rate_at(t, key.rotate_left(7) ^ 0x5851_f42d_4c95_7f2d) * factor
            }
            PatternSpec::Sum { of } => {
                of.iter().enumerate().map(|(j, p)| p.rate_at(t, key.wrapping_add(j as u64 * 0x9e37_79b9))).sum()
            }
        }
    }

    /// The largest rate the pattern can take (for checks and plots), sampled over `span` seconds.
    pub fn peak_rate(&self, span: f64, key: u64) -> f64 {
        let n = 10_000usize;
        (0..=n).map(|i| self.rate_at(span * i as f64 / n as f64, key)).fold(0.0, f64::max)
    }
}

/// A standard normal value, a pure function of `(key, i)` (SplitMix64 then Box-Muller).
fn std_normal(key: u64, i: u64) -> f64 {
    let mut s = key ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut next = || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let (u1, u2) = (next().max(1e-300), next());
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PatternSpec {
        #[derive(Deserialize)]
        struct W {
            pattern: PatternSpec,
        }
        let w: W = toml::from_str(&format!("pattern = {s}")).unwrap();
        w.pattern.validate().unwrap();
        w.pattern
    }

    #[test]
    fn shapes() {
        assert_eq!(p("{ kind = \"constant\", rate = 5 }").rate_at(100.0, 0), 5.0);
        let step = p("{ kind = \"step\", steps = [ { at = \"0s\", rate = 10 }, { at = \"1m\", rate = 50 } ] }");
        assert_eq!((step.rate_at(59.0, 0), step.rate_at(60.0, 0)), (10.0, 50.0));
        let ramp = p("{ kind = \"ramp\", from = 10, to = 110, start = \"10s\", duration = \"100s\" }");
        assert_eq!((ramp.rate_at(0.0, 0), ramp.rate_at(60.0, 0), ramp.rate_at(500.0, 0)), (10.0, 60.0, 110.0));
        let d = p("{ kind = \"diurnal\", mean = 100, amplitude = 0.5, period = \"1d\", peak_at = \"12h\", weekend = 0.5 }");
        assert!((d.rate_at(43_200.0, 0) - 150.0).abs() < 1e-9);
        assert!((d.rate_at(0.0, 0) - 50.0).abs() < 1e-9);
        assert!((d.rate_at(5.0 * 86_400.0 + 43_200.0, 0) - 75.0).abs() < 1e-9, "saturday at half");
        let s = p("{ kind = \"spike\", base = 10, peak = 110, at = \"100s\", rise = \"10s\", hold = \"60s\", fall = \"20s\" }");
        assert_eq!((s.rate_at(99.0, 0), s.rate_at(105.0, 0), s.rate_at(150.0, 0), s.rate_at(180.0, 0), s.rate_at(200.0, 0)), (10.0, 60.0, 110.0, 60.0, 10.0));
        let sum = p("{ kind = \"sum\", of = [ { kind = \"constant\", rate = 5 }, { kind = \"constant\", rate = 7 } ] }");
        assert_eq!(sum.rate_at(1.0, 0), 12.0);
    }

    #[test]
    fn noise_is_deterministic_and_centred() {
        let n = p("{ kind = \"noise\", of = { kind = \"constant\", rate = 100 }, sd = 0.2, interval = \"1s\" }");
        assert_eq!(n.rate_at(3.5, 42), n.rate_at(3.9, 42));
        let mean: f64 = (0..20_000).map(|i| n.rate_at(i as f64, 42)).sum::<f64>() / 20_000.0;
        assert!((mean - 100.0).abs() < 0.6, "{mean}");
    }

    #[test]
    fn bad_values_are_refused() {
        #[derive(Deserialize, Debug)]
        struct W {
            #[allow(dead_code)]
            pattern: PatternSpec,
        }
        let bad = toml::from_str::<W>("pattern = { kind = \"wave\", rate = 1 }").unwrap_err();
        assert!(bad.to_string().contains("unknown variant"), "{bad}");
        let w: W = toml::from_str("pattern = { kind = \"diurnal\", mean = 10, amplitude = 2 }").unwrap();
        assert!(w.pattern.validate().unwrap_err().contains("amplitude"));
    }
}
