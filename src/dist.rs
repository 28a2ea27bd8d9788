//! Probability distributions written inline in scenario TOML:
//!
//! ```toml
//! service_time = { dist = "lognormal", median = "20ms", p95 = "45ms" }
//! startup      = { delay = "20s", jitter = "5s" }           # KWOK style: delay + uniform jitter
//! provision    = "90s"                                       # a constant
//! ```
//!
//! [`DistSpec`] is the distribution as written (deserialized with precise error messages);
//! [`DistSpec::resolve`] reads sample files and gives a [`Dist`], which samples fast.
//! All values are in seconds (durations are converted; bare numbers are taken as they are, so
//! the same tables also describe counts such as tokens or CPU-seconds).

use std::f64::consts::PI;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::Rng;
use rand_distr::{Exp1, StandardNormal};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::units::{parse_duration, Duration};

/// A distribution that cannot be made: a parameter out of range, a table that is not one of
/// the forms, or a samples file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DistError {
    pub kind: DistErrorKind,
    message: String,
}

/// What is wrong with a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistErrorKind {
    /// A parameter out of range (a negative mean, a shape of 0, min above max).
    Parameter,
    /// The written form: an unknown `dist`, a missing or unknown key, a value that is not a
    /// duration or a number.
    Spec,
    /// The samples file of an `empirical` distribution.
    Samples,
}

impl DistError {
    fn parameter(message: String) -> Self {
        DistError { kind: DistErrorKind::Parameter, message }
    }
    fn spec(message: String) -> Self {
        DistError { kind: DistErrorKind::Spec, message }
    }
    fn samples(message: String) -> Self {
        DistError { kind: DistErrorKind::Samples, message }
    }
}

/// Standard normal quantiles used to fit a lognormal to a median and a percentile.
pub const Z90: f64 = 1.2815515655446004;
pub const Z95: f64 = 1.6448536269514722;
pub const Z99: f64 = 2.3263478740408408;

/// Rejections of a negative normal sample before giving up and returning 0.
const NORMAL_MAX_TRIES: usize = 64;

const DIST_CHOICES: &str = "\"constant\", \"exponential\", \"lognormal\", \"normal\", \
     \"uniform\", \"gamma\", \"pareto\" or \"empirical\"";

// =============================================================================================
// Dist: a validated distribution
// =============================================================================================

/// A validated distribution over non-negative values in seconds.
///
/// Build one with the checked constructors ([`Dist::exponential`], ...) or from a [`DistSpec`];
/// the precomputed fields of `Gamma` and `Pareto` are not meant to be filled in by hand.
/// Degenerate parameters (zero spread) give `Constant`.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    Constant(f64),
    Exponential {
        mean: f64,
    },
    /// `exp(mu + sigma * Z)`: the median is `exp(mu)`.
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    /// Normal with parameters `mean` and `sd`, truncated at 0 (negative draws are redrawn).
    Normal {
        mean: f64,
        sd: f64,
    },
    Uniform {
        min: f64,
        max: f64,
    },
    /// Gamma with the given `shape` and `scale` (mean `shape * scale`). `d` and `c` are the
    /// Marsaglia-Tsang constants for `max(shape, shape + 1)`; `inv_shape` is `1 / shape`.
    Gamma {
        shape: f64,
        scale: f64,
        d: f64,
        c: f64,
        inv_shape: f64,
    },
    /// Pareto (type I): `min * U^(-1/shape)`; `inv_shape` is `1 / shape`.
    Pareto {
        min: f64,
        shape: f64,
        inv_shape: f64,
    },
    /// The piecewise-linear inverse CDF through the sorted samples.
    Empirical {
        sorted: Arc<[f64]>,
    },
}

fn check_value(what: &str, v: f64) -> Result<f64, DistError> {
    if v.is_nan() || v.is_infinite() {
        Err(DistError::parameter(format!("{what} must be a finite number, got {v}")))
    } else if v < 0.0 {
        Err(DistError::parameter(format!("{what} cannot be negative, got {v}")))
    } else {
        Ok(v + 0.0) // -0.0 becomes 0.0
    }
}

fn check_shape(what: &str, shape: f64) -> Result<f64, DistError> {
    if shape.is_finite() && shape > 0.0 {
        Ok(shape)
    } else {
        Err(DistError::parameter(format!("{what} shape must be a finite number greater than 0, got {shape}")))
    }
}

impl Dist {
    pub fn constant(value: f64) -> Result<Dist, DistError> {
        Ok(Dist::Constant(check_value("a constant", value)?))
    }

    pub fn exponential(mean: f64) -> Result<Dist, DistError> {
        let mean = check_value("the exponential mean", mean)?;
        Ok(if mean == 0.0 { Dist::Constant(0.0) } else { Dist::Exponential { mean } })
    }

    /// Lognormal with median `exp(mu)` and log-scale standard deviation `sigma`.
    pub fn lognormal(mu: f64, sigma: f64) -> Result<Dist, DistError> {
        if !mu.is_finite() {
            return Err(DistError::parameter(format!("the lognormal mu must be a finite number, got {mu}")));
        }
        let sigma = check_value("the lognormal sigma", sigma)?;
        Ok(if sigma == 0.0 { Dist::Constant(mu.exp()) } else { Dist::LogNormal { mu, sigma } })
    }

    /// Lognormal through a median and the value `q` of the quantile whose standard normal
    /// deviate is `z` (for example `Z95` for a p95): `sigma = ln(q / median) / z`.
    pub fn lognormal_from_quantile(median: f64, q: f64, z: f64) -> Result<Dist, DistError> {
        let median = check_value("the lognormal median", median)?;
        let q = check_value("the lognormal percentile", q)?;
        if median <= 0.0 {
            return Err(DistError::parameter(format!("the lognormal median must be greater than 0, got {median}")));
        }
        if q <= median || z.is_nan() || z <= 0.0 {
            return Err(DistError::parameter(format!(
                "the lognormal percentile ({q}) must be greater than the median ({median})"
            )));
        }
        Dist::lognormal(median.ln(), (q / median).ln() / z)
    }

    pub fn normal(mean: f64, sd: f64) -> Result<Dist, DistError> {
        let mean = check_value("the normal mean", mean)?;
        let sd = check_value("the normal sd", sd)?;
        Ok(if sd == 0.0 { Dist::Constant(mean) } else { Dist::Normal { mean, sd } })
    }

    pub fn uniform(min: f64, max: f64) -> Result<Dist, DistError> {
        let min = check_value("the uniform min", min)?;
        let max = check_value("the uniform max", max)?;
        if min > max {
            return Err(DistError::parameter(format!("the uniform min ({min}) must not be greater than max ({max})")));
        }
        Ok(if min == max { Dist::Constant(min) } else { Dist::Uniform { min, max } })
    }

    /// Gamma with the given mean and shape (scale `mean / shape`).
    pub fn gamma(mean: f64, shape: f64) -> Result<Dist, DistError> {
        let mean = check_value("the gamma mean", mean)?;
        let shape = check_shape("the gamma", shape)?;
        if mean == 0.0 {
            return Ok(Dist::Constant(0.0));
        }
        let scale = mean / shape;
        if !scale.is_finite() || !(1.0 / shape).is_finite() {
            return Err(DistError::parameter(format!("the gamma mean ({mean}) and shape ({shape}) are out of range")));
        }
        let boosted = if shape < 1.0 { shape + 1.0 } else { shape };
        let d = boosted - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        Ok(Dist::Gamma { shape, scale, d, c, inv_shape: 1.0 / shape })
    }

    /// Pareto (type I) with minimum `min` and tail index `shape` (mean is infinite if
    /// `shape <= 1`).
    pub fn pareto(min: f64, shape: f64) -> Result<Dist, DistError> {
        let min = check_value("the pareto min", min)?;
        let shape = check_shape("the pareto", shape)?;
        if !(1.0 / shape).is_finite() {
            return Err(DistError::parameter(format!("the pareto shape ({shape}) is too small")));
        }
        Ok(if min == 0.0 {
            Dist::Constant(0.0)
        } else {
            Dist::Pareto { min, shape, inv_shape: 1.0 / shape }
        })
    }

    /// The distribution of observed samples (sorted here); at least one, all finite and >= 0.
    pub fn empirical(mut samples: Vec<f64>) -> Result<Dist, DistError> {
        if samples.is_empty() {
            return Err(DistError::parameter("an empirical distribution needs at least one sample".to_string()));
        }
        for (i, v) in samples.iter_mut().enumerate() {
            *v = check_value(&format!("sample {}", i + 1), *v)?;
        }
        samples.sort_by(f64::total_cmp);
        Ok(Dist::Empirical { sorted: samples.into() })
    }

    /// One draw, in seconds; always `>= 0` (`+inf` only when parameters are extreme).
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match *self {
            Dist::Constant(v) => v,
            Dist::Exponential { mean } => {
                let e: f64 = rng.sample(Exp1);
                mean * e
            }
            Dist::LogNormal { mu, sigma } => {
                let z: f64 = rng.sample(StandardNormal);
                (mu + sigma * z).exp()
            }
            Dist::Normal { mean, sd } => {
                for _ in 0..NORMAL_MAX_TRIES {
                    let z: f64 = rng.sample(StandardNormal);
                    let x = mean + sd * z;
                    if x >= 0.0 {
                        return x;
                    }
                }
                0.0
            }
            Dist::Uniform { min, max } => min + (max - min) * rng.gen::<f64>(),
            Dist::Gamma { shape, scale, d, c, inv_shape } => {
                let mut x = marsaglia_tsang(rng, d, c);
                if shape < 1.0 {
                    // Gamma(a) = Gamma(a + 1) * U^(1/a), with U^(1/a) = exp(-E / a).
                    let e: f64 = rng.sample(Exp1);
                    x *= (-e * inv_shape).exp();
                }
                x * scale
            }
            Dist::Pareto { min, inv_shape, .. } => {
                // U^(-1/a) = exp(E / a) with E = -ln U exponential.
                let e: f64 = rng.sample(Exp1);
                min * (e * inv_shape).exp()
            }
            Dist::Empirical { ref sorted } => {
                let n = sorted.len();
                if n <= 1 {
                    return sorted.first().copied().unwrap_or(0.0);
                }
                let x = rng.gen::<f64>() * (n - 1) as f64;
                let i = (x as usize).min(n - 2);
                let lo = sorted[i];
                lo + (sorted[i + 1] - lo) * (x - i as f64)
            }
        }
    }

    /// One draw in nanoseconds, rounded (saturating at `u64::MAX`).
    #[inline(always)]
    pub fn sample_ns<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let s = match *self {
            // The commonest service time, drawn in line (the same arithmetic as `sample`).
            Dist::Exponential { mean } => mean * <Exp1 as rand_distr::Distribution<f64>>::sample(&Exp1, rng),
            Dist::Constant(v) => v,
            _ => self.sample_out_of_line(rng),
        };
        round_ns(s * 1e9)
    }

    /// [`Dist::sample`] kept out of line, so that `sample_ns` stays small enough to inline.
    #[inline(never)]
    fn sample_out_of_line<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        self.sample(rng)
    }

    /// The analytic mean of what [`Dist::sample`] draws (for `Normal`, of the normal truncated at
    /// 0; for `Empirical`, of the interpolated distribution). `+inf` for a Pareto with
    /// `shape <= 1`.
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Constant(v) => v,
            Dist::Exponential { mean } => mean,
            Dist::LogNormal { mu, sigma } => (mu + 0.5 * sigma * sigma).exp(),
            Dist::Normal { mean, sd } => {
                if sd <= 0.0 {
                    return mean;
                }
                // E[X | X >= 0] = mean + sd * phi(a) / (1 - Phi(a)), a = -mean / sd.
                let upper = std_normal_cdf(mean / sd);
                if upper <= 0.0 {
                    return 0.0;
                }
                mean + sd * std_normal_pdf(mean / sd) / upper
            }
            Dist::Uniform { min, max } => 0.5 * (min + max),
            Dist::Gamma { shape, scale, .. } => shape * scale,
            Dist::Pareto { min, shape, .. } => {
                if shape > 1.0 {
                    shape * min / (shape - 1.0)
                } else {
                    f64::INFINITY
                }
            }
            Dist::Empirical { ref sorted } => match sorted.len() {
                0 => 0.0,
                1 => sorted[0],
                n => {
                    let inner: f64 = sorted[1..n - 1].iter().sum();
                    (0.5 * (sorted[0] + sorted[n - 1]) + inner) / (n - 1) as f64
                }
            },
        }
    }

    /// The `p`-quantile (inverse CDF) of what [`Dist::sample`] draws; `p` is clamped to
    /// `[0, 1]` (`quantile(1.0)` is `+inf` for unbounded distributions); NaN gives NaN.
    pub fn quantile(&self, p: f64) -> f64 {
        if p.is_nan() {
            return f64::NAN;
        }
        let p = p.clamp(0.0, 1.0);
        match *self {
            Dist::Constant(v) => v,
            Dist::Exponential { mean } => -mean * (-p).ln_1p(),
            Dist::LogNormal { mu, sigma } => {
                if p <= 0.0 {
                    0.0
                } else {
                    (mu + sigma * std_normal_quantile(p)).exp()
                }
            }
            Dist::Normal { mean, sd } => {
                if sd <= 0.0 {
                    return mean;
                }
                let below = std_normal_cdf(-mean / sd);
                let target = below + p * (1.0 - below);
                (mean + sd * std_normal_quantile(target)).max(0.0)
            }
            Dist::Uniform { min, max } => min + p * (max - min),
            Dist::Gamma { shape, scale, .. } => scale * gamma_quantile(shape, p),
            Dist::Pareto { min, inv_shape, .. } => min * (-(-p).ln_1p() * inv_shape).exp(),
            Dist::Empirical { ref sorted } => match sorted.len() {
                0 => 0.0,
                1 => sorted[0],
                n => {
                    let x = p * (n - 1) as f64;
                    let i = (x as usize).min(n - 2);
                    let lo = sorted[i];
                    lo + (sorted[i + 1] - lo) * (x - i as f64)
                }
            },
        }
    }

    /// `Some(value)` when every draw is the same value.
    #[allow(clippy::redundant_guards)]
    pub fn is_constant(&self) -> Option<f64> {
        match *self {
            Dist::Constant(v) => Some(v),
            Dist::Exponential { mean } if mean == 0.0 => Some(0.0),
            Dist::LogNormal { mu, sigma } if sigma == 0.0 => Some(mu.exp()),
            Dist::Normal { mean, sd } if sd == 0.0 => Some(mean),
            Dist::Uniform { min, max } if min == max => Some(min),
            Dist::Gamma { scale, .. } if scale == 0.0 => Some(0.0),
            Dist::Pareto { min, .. } if min == 0.0 => Some(0.0),
            Dist::Empirical { ref sorted } => match (sorted.first(), sorted.last()) {
                (Some(a), Some(b)) if a == b => Some(*a),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Marsaglia and Tsang (2000): a Gamma(d + 1/3) draw, for d = shape - 1/3 >= 2/3.
#[inline]
fn marsaglia_tsang<R: Rng + ?Sized>(rng: &mut R, d: f64, c: f64) -> f64 {
    // Acceptance is above 95% per try; the bound only guards against a broken generator.
    for _ in 0..1000 {
        let z: f64 = rng.sample(StandardNormal);
        let t = 1.0 + c * z;
        if t <= 0.0 {
            continue;
        }
        let v = t * t * t;
        let u: f64 = rng.gen();
        let z2 = z * z;
        if u < 1.0 - 0.0331 * z2 * z2 || u.ln() < 0.5 * z2 + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
    d
}

/// Shows values in seconds as durations: `lognormal(median=20s, p95=45s)`.
impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = secs_text;
        match *self {
            Dist::Constant(v) => write!(f, "{}", s(v)),
            Dist::Exponential { mean } => write!(f, "exponential(mean={})", s(mean)),
            Dist::LogNormal { mu, .. } => {
                write!(f, "lognormal(median={}, p95={})", s(mu.exp()), s(self.quantile(0.95)))
            }
            Dist::Normal { mean, sd } => write!(f, "normal(mean={}, sd={})", s(mean), s(sd)),
            Dist::Uniform { min, max } => write!(f, "uniform({}..{})", s(min), s(max)),
            Dist::Gamma { shape, scale, .. } => {
                write!(f, "gamma(mean={}, shape={shape})", s(shape * scale))
            }
            Dist::Pareto { min, shape, .. } => write!(f, "pareto(min={}, shape={shape})", s(min)),
            Dist::Empirical { ref sorted } => write!(
                f,
                "empirical({} samples, median={}, p95={})",
                sorted.len(),
                s(self.quantile(0.5)),
                s(self.quantile(0.95))
            ),
        }
    }
}

fn secs_text(v: f64) -> String {
    match Duration::from_secs_f64(v) {
        Some(d) => d.to_string(),
        None => format!("{v}s"),
    }
}

// =============================================================================================
// DistSpec: the distribution as written
// =============================================================================================

/// A distribution as written in the scenario file: a duration (a constant) or an inline table
/// such as `{ dist = "exponential", mean = "40ms" }`. Deserialized with errors that say what was
/// expected (returned through `serde::de::Error::custom`, so toml adds the line and column).
#[derive(Clone, Debug, PartialEq)]
pub struct DistSpec {
    kind: SpecKind,
}

#[derive(Clone, Debug, PartialEq)]
enum SpecKind {
    Ready(Dist),
    /// Samples in a file, relative to the scenario's directory.
    Empirical {
        file: PathBuf,
    },
}

impl DistSpec {
    /// The distribution, reading the samples file of an `empirical` distribution relative to
    /// `base_dir`. Errors name the file (and line).
    pub fn resolve(&self, base_dir: &Path) -> Result<Dist, DistError> {
        match &self.kind {
            SpecKind::Ready(d) => Ok(d.clone()),
            SpecKind::Empirical { file } => load_empirical(&base_dir.join(file)),
        }
    }

    /// A constant of `seconds` (NaN or negative values are taken as 0).
    pub fn constant(seconds: f64) -> DistSpec {
        let v = if seconds >= 0.0 { seconds + 0.0 } else { 0.0 };
        DistSpec { kind: SpecKind::Ready(Dist::Constant(v)) }
    }

    /// The samples file of an `empirical` distribution, as written.
    pub fn file(&self) -> Option<&Path> {
        match &self.kind {
            SpecKind::Empirical { file } => Some(file),
            SpecKind::Ready(_) => None,
        }
    }

    /// The distribution when it needs no file.
    pub fn dist(&self) -> Option<&Dist> {
        match &self.kind {
            SpecKind::Ready(d) => Some(d),
            SpecKind::Empirical { .. } => None,
        }
    }

    /// Parse the string form (a duration or a bare number of seconds) as a constant.
    pub fn parse_str(s: &str) -> Result<DistSpec, DistError> {
        parse_seconds(s).map(DistSpec::constant)
    }
}

impl From<Dist> for DistSpec {
    fn from(d: Dist) -> Self {
        DistSpec { kind: SpecKind::Ready(d) }
    }
}

impl fmt::Display for DistSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SpecKind::Ready(d) => d.fmt(f),
            SpecKind::Empirical { file } => write!(f, "empirical({})", file.display()),
        }
    }
}

/// A value in a distribution table, with its text as written for error messages.
#[derive(Clone, Debug)]
enum Scalar {
    Str(String),
    Num { value: f64, text: String },
}

impl Scalar {
    fn shown(&self) -> String {
        match self {
            Scalar::Str(s) => format!("{s:?}"),
            Scalar::Num { text, .. } => text.clone(),
        }
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration like \"30s\", a number, or a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Num { value: v as f64, text: v.to_string() })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Num { value: v as f64, text: v.to_string() })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Num { value: v, text: v.to_string() })
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct SpecVisitor;

impl<'de> Visitor<'de> for SpecVisitor {
    type Value = DistSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a duration like \"30s\", a number of seconds, or a distribution like \
             { dist = \"exponential\", mean = \"40ms\" }",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DistSpec, E> {
        parse_seconds(v).map(DistSpec::constant).map_err(|e| {
            E::custom(format!(
                "{e} (or write a distribution like {{ dist = \"exponential\", mean = \"40ms\" }})"
            ))
        })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DistSpec, E> {
        self.visit_f64(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DistSpec, E> {
        self.visit_f64(v as f64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DistSpec, E> {
        let value = Scalar::Num { value: v, text: v.to_string() };
        seconds_of(&value, "value", "a constant").map(DistSpec::constant).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DistSpec, A::Error> {
        let mut fields: Vec<(String, Scalar)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value: Scalar = map.next_value()?;
            fields.push((key, value));
        }
        spec_from_fields(&fields).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for DistSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SpecVisitor)
    }
}

/// The keys each distribution takes.
struct Form {
    name: &'static str,
    /// How the distribution is referred to in messages.
    what: &'static str,
    keys: &'static [&'static str],
    /// What the keys are, for messages.
    expects: &'static str,
    example: &'static str,
}

const LOGNORMAL_SPREAD: [&str; 4] = ["p90", "p95", "p99", "sigma"];

const FORMS: [Form; 9] = [
    Form {
        name: "constant",
        what: "a \"constant\" distribution",
        keys: &["value"],
        expects: "`value`",
        example: "{ dist = \"constant\", value = \"30s\" }",
    },
    Form {
        name: "exponential",
        what: "an \"exponential\" distribution",
        keys: &["mean"],
        expects: "`mean`",
        example: "{ dist = \"exponential\", mean = \"40ms\" }",
    },
    Form {
        name: "lognormal",
        what: "a \"lognormal\" distribution",
        keys: &["median", "p90", "p95", "p99", "sigma"],
        expects: "`median` and one of `p90`, `p95`, `p99` or `sigma`",
        example: "{ dist = \"lognormal\", median = \"20s\", p95 = \"45s\" }",
    },
    Form {
        name: "normal",
        what: "a \"normal\" distribution",
        keys: &["mean", "sd"],
        expects: "`mean` and `sd`",
        example: "{ dist = \"normal\", mean = \"90s\", sd = \"15s\" }",
    },
    Form {
        name: "uniform",
        what: "a \"uniform\" distribution",
        keys: &["min", "max"],
        expects: "`min` and `max`",
        example: "{ dist = \"uniform\", min = \"10s\", max = \"30s\" }",
    },
    Form {
        name: "gamma",
        what: "a \"gamma\" distribution",
        keys: &["mean", "shape"],
        expects: "`mean` and `shape`",
        example: "{ dist = \"gamma\", mean = \"1s\", shape = 2.0 }",
    },
    Form {
        name: "pareto",
        what: "a \"pareto\" distribution",
        keys: &["min", "shape"],
        expects: "`min` and `shape`",
        example: "{ dist = \"pareto\", min = \"10ms\", shape = 1.5 }",
    },
    Form {
        name: "empirical",
        what: "an \"empirical\" distribution",
        keys: &["file"],
        expects: "`file`",
        example: "{ dist = \"empirical\", file = \"startup-samples.csv\" }",
    },
    // No `dist` key: the KWOK convention, a delay plus a uniform jitter in [0, jitter).
    Form {
        name: "",
        what: "a { delay, jitter } distribution",
        keys: &["delay", "jitter"],
        expects: "`delay` and optionally `jitter`",
        example: "{ delay = \"20s\", jitter = \"5s\" }",
    },
];

/// Seconds from a duration-valued key: a duration string, or a bare number of seconds.
fn seconds_of(v: &Scalar, key: &str, what: &str) -> Result<f64, DistError> {
    match v {
        Scalar::Str(s) => parse_seconds(s).map_err(|e| DistError::spec(format!("invalid `{key}` in {what}: {e}"))),
        Scalar::Num { value, text } => {
            if value.is_nan() || value.is_infinite() {
                Err(DistError::spec(format!("invalid `{key}` in {what}: expected a duration like \"30s\" or a finite number of seconds, found {text}")))
            } else if *value < 0.0 {
                Err(DistError::spec(format!(
                    "invalid `{key}` in {what}: {text} is negative; values cannot be negative"
                )))
            } else {
                Ok(value + 0.0)
            }
        }
    }
}

/// A plain number (`shape`, `sigma`), written as a number or a numeric string.
fn number_of(v: &Scalar, key: &str, what: &str) -> Result<f64, DistError> {
    let x = match v {
        Scalar::Num { value, .. } => Some(*value),
        Scalar::Str(s) => s.trim().parse::<f64>().ok(),
    };
    match x {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(DistError::spec(format!(
            "invalid `{key}` in {what}: expected a finite number like 1.5, found {}",
            v.shown()
        ))),
    }
}

fn spec_from_fields(fields: &[(String, Scalar)]) -> Result<DistSpec, DistError> {
    let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let form = match get("dist") {
        Some(Scalar::Str(name)) => {
            match FORMS.iter().find(|f| !f.name.is_empty() && f.name == name) {
                Some(form) => form,
                None => {
                    return Err(DistError::spec(format!(
                        "unknown distribution {name:?}: expected one of {DIST_CHOICES} \
                     (or {{ delay, jitter }} without `dist` for a delay plus a uniform jitter)"
                    )))
                }
            }
        }
        Some(other) => {
            return Err(DistError::spec(format!(
                "`dist` must name a distribution, one of {DIST_CHOICES}, but {} was given",
                other.shown()
            )))
        }
        None if get("delay").is_some() || get("jitter").is_some() => &FORMS[FORMS.len() - 1],
        None => {
            return Err(DistError::spec(format!(
                "a distribution table needs `dist`, one of {DIST_CHOICES}, like \
                 {{ dist = \"exponential\", mean = \"40ms\" }} (or `delay` and `jitter` for a \
                 delay plus a uniform jitter, like {{ delay = \"20s\", jitter = \"5s\" }})"
            )))
        }
    };
    let what = form.what;
    for (key, _) in fields {
        if key != "dist" && !form.keys.contains(&key.as_str()) {
            let extra = if form.name.is_empty() {
                " (or add `dist = \"...\"` to choose another distribution)"
            } else {
                ""
            };
            return Err(DistError::spec(format!(
                "unknown key `{key}` in {what}: expected {}, like {}{extra}",
                form.expects, form.example
            )));
        }
    }
    let need = |key: &str| {
        get(key).ok_or_else(|| {
            DistError::spec(format!("{what} needs `{key}`: expected {}, like {}", form.expects, form.example))
        })
    };
    let secs = |key: &str| need(key).and_then(|v| seconds_of(v, key, what));
    let dist = match form.name {
        "constant" => Dist::constant(secs("value")?)?,
        "exponential" => Dist::exponential(secs("mean")?)?,
        "lognormal" => {
            let median_v = need("median")?;
            let median = seconds_of(median_v, "median", what)?;
            let given: Vec<(&str, &Scalar)> =
                LOGNORMAL_SPREAD.iter().filter_map(|&k| get(k).map(|v| (k, v))).collect();
            let (spread, spread_v) = match given.as_slice() {
                [one] => *one,
                [] => {
                    return Err(DistError::spec(format!(
                        "{what} needs one of `p90`, `p95`, `p99` or `sigma` besides `median`, \
                         like {}",
                        form.example
                    )))
                }
                [(a, _), rest @ ..] => {
                    let others: Vec<String> = rest.iter().map(|(k, _)| format!("`{k}`")).collect();
                    return Err(DistError::spec(format!(
                        "{what} takes exactly one of `p90`, `p95`, `p99` or `sigma`, but `{a}` \
                         and {} were both given",
                        others.join(" and ")
                    )));
                }
            };
            if median <= 0.0 {
                return Err(DistError::spec(format!(
                    "invalid `median` in {what}: the median must be greater than 0, found {}",
                    median_v.shown()
                )));
            }
            if spread == "sigma" {
                let sigma = number_of(spread_v, "sigma", what)?;
                if sigma < 0.0 {
                    return Err(DistError::spec(format!(
                        "invalid `sigma` in {what}: sigma cannot be negative, found {}",
                        spread_v.shown()
                    )));
                }
                Dist::lognormal(median.ln(), sigma)?
            } else {
                let q = seconds_of(spread_v, spread, what)?;
                if q <= median {
                    return Err(DistError::spec(format!(
                        "invalid `{spread}` in {what}: {spread} ({}) must be greater than the \
                         median ({})",
                        spread_v.shown(),
                        median_v.shown()
                    )));
                }
                let z = match spread {
                    "p90" => Z90,
                    "p95" => Z95,
                    _ => Z99,
                };
                Dist::lognormal(median.ln(), (q / median).ln() / z)?
            }
        }
        "normal" => Dist::normal(secs("mean")?, secs("sd")?)?,
        "uniform" => {
            let (min, max) = (secs("min")?, secs("max")?);
            if min > max {
                return Err(DistError::spec(format!(
                    "invalid `min` in {what}: `min` ({}) must not be greater than `max` ({})",
                    need("min")?.shown(),
                    need("max")?.shown()
                )));
            }
            Dist::uniform(min, max)?
        }
        "gamma" | "pareto" => {
            let scale_key = if form.name == "gamma" { "mean" } else { "min" };
            let scale = secs(scale_key)?;
            let shape_v = need("shape")?;
            let shape = number_of(shape_v, "shape", what)?;
            if shape <= 0.0 {
                return Err(DistError::spec(format!(
                    "invalid `shape` in {what}: the shape must be greater than 0, found {}",
                    shape_v.shown()
                )));
            }
            if form.name == "gamma" {
                Dist::gamma(scale, shape)?
            } else {
                Dist::pareto(scale, shape)?
            }
        }
        "empirical" => {
            return match need("file")? {
                Scalar::Str(file) if !file.trim().is_empty() => {
                    Ok(DistSpec { kind: SpecKind::Empirical { file: PathBuf::from(file) } })
                }
                other => Err(DistError::spec(format!(
                    "invalid `file` in {what}: expected the path of a file of samples, like \
                     \"startup-samples.csv\", found {}",
                    other.shown()
                ))),
            };
        }
        _ => {
            let delay = secs("delay")?;
            let jitter = match get("jitter") {
                Some(v) => seconds_of(v, "jitter", what)?,
                None => 0.0,
            };
            Dist::uniform(delay, delay + jitter)?
        }
    };
    Ok(DistSpec::from(dist))
}

/// A value in seconds: a bare number (`"30"`, `"0.25"`, `"1e3"`) as is, or a duration with a
/// unit (`"250ms"`, `"1h30m"`). Negative, NaN and infinite values are errors.
pub fn parse_seconds(s: &str) -> Result<f64, DistError> {
    let t = s.trim();
    if let Ok(x) = t.parse::<f64>() {
        if x.is_nan() || x.is_infinite() {
            return Err(DistError::spec(format!(
                "invalid value {s:?}: expected a duration like \"250ms\" or a finite number of \
                 seconds"
            )));
        }
        if x < 0.0 {
            return Err(DistError::spec(format!("invalid value {s:?}: values cannot be negative")));
        }
        return Ok(x + 0.0);
    }
    parse_duration(t).map(Duration::as_secs_f64).map_err(|e| DistError::spec(e.to_string()))
}

fn looks_numeric(field: &str) -> bool {
    let lower = field.to_ascii_lowercase();
    field.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'))
        || matches!(lower.as_str(), "nan" | "inf" | "infinity")
}

/// Samples from a file: one value per line, or a CSV whose first column holds the values; an
/// optional header line; blank lines and `#` comments are skipped.
fn load_empirical(path: &Path) -> Result<Dist, DistError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        DistError::samples(format!("cannot read the samples of an empirical distribution from {}: {e}", path.display()))
    })?;
    let mut samples = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        let line = if i == 0 { line.trim_start_matches('\u{feff}') } else { line };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let field = t.split(',').next().unwrap_or("").trim();
        let field =
            field.strip_prefix('"').and_then(|f| f.strip_suffix('"')).unwrap_or(field).trim();
        match parse_seconds(field) {
            Ok(v) => samples.push(v),
            Err(_) if samples.is_empty() && !header_seen && !looks_numeric(field) => {
                header_seen = true;
            }
            Err(e) => return Err(DistError::samples(format!("{}: line {}: {}", path.display(), i + 1, crate::quote::shorten(&e.to_string())))),
        }
    }
    if samples.is_empty() {
        return Err(DistError::samples(format!(
            "{}: no samples: expected one value per line (a duration like \"1.5s\" or a number \
             of seconds), or a CSV file whose first column holds them",
            path.display()
        )));
    }
    Dist::empirical(samples).map_err(|e| DistError::samples(format!("{}: {e}", path.display())))
}

// =============================================================================================
// Special functions
// =============================================================================================

/// The standard normal density.
pub fn std_normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

/// The standard normal CDF, to about 1e-15 (through `erfc(y) = Q(1/2, y^2)`).
pub fn std_normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let tail = 0.5 * gamma_q(0.5, 0.5 * x * x);
    if x < 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// The standard normal quantile (Wichura's AS 241, about 1e-16 relative).
#[allow(clippy::excessive_precision)]
pub fn std_normal_quantile(p: f64) -> f64 {
    const A: [f64; 8] = [
        3.3871328727963666080e0,
        1.3314166789178437745e+2,
        1.9715909503065514427e+3,
        1.3731693765509461125e+4,
        4.5921953931549871457e+4,
        6.7265770927008700853e+4,
        3.3430575583588128105e+4,
        2.5090809287301226727e+3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.2313330701600911252e+1,
        6.8718700749205790830e+2,
        5.3941960214247511077e+3,
        2.1213794301586595867e+4,
        3.9307895800092710610e+4,
        2.8729085735721942674e+4,
        5.2264952788528545610e+3,
    ];
    const C: [f64; 8] = [
        1.42343711074968357734e0,
        4.63033784615654529590e0,
        5.76949722146069140550e0,
        3.64784832476320460504e0,
        1.27045825245236838258e0,
        2.41780725177450611770e-1,
        2.27238449892691845833e-2,
        7.74545014278341407640e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.05319162663775882187e0,
        1.67638483018380384940e0,
        6.89767334985100004550e-1,
        1.48103976427480074590e-1,
        1.51986665636164571966e-2,
        5.47593808499534494600e-4,
        1.05075007164441684324e-9,
    ];
    const E: [f64; 8] = [
        6.65790464350110377720e0,
        5.46378491116411436990e0,
        1.78482653991729133580e0,
        2.96560571828504891230e-1,
        2.65321895265761230930e-2,
        1.24266094738807843860e-3,
        2.71155556874348757815e-5,
        2.01033439929228813265e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.99832206555887937690e-1,
        1.36929880922735805310e-1,
        1.48753612908506148525e-2,
        7.86869131145613259100e-4,
        1.84631831751005468180e-5,
        1.42151175831644588870e-7,
        2.04426310338993978564e-15,
    ];
    fn horner(c: &[f64; 8], x: f64) -> f64 {
        c.iter().rev().fold(0.0, |acc, &k| acc * x + k)
    }
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * horner(&A, r) / horner(&B, r);
    }
    let r = if q < 0.0 { p } else { 1.0 - p };
    let r = (-r.ln()).sqrt();
    let value = if r <= 5.0 {
        let r = r - 1.6;
        horner(&C, r) / horner(&D, r)
    } else {
        let r = r - 5.0;
        horner(&E, r) / horner(&F, r)
    };
    if q < 0.0 {
        -value
    } else {
        value
    }
}

const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, n = 9; about 1e-15 relative).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        return (PI / (PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + LANCZOS_G + 0.5;
    let mut a = LANCZOS[0];
    for (i, c) in LANCZOS.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized lower incomplete gamma function P(a, x).
fn gamma_p(a: f64, x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return 0.0;
    }
    if x < a + 1.0 {
        gamma_series(a, x)
    } else {
        1.0 - gamma_cont_frac(a, x)
    }
}

/// The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return 1.0;
    }
    if x < a + 1.0 {
        1.0 - gamma_series(a, x)
    } else {
        gamma_cont_frac(a, x)
    }
}

fn gamma_series(a: f64, x: f64) -> f64 {
    let mut ap = a;
    let mut del = 1.0 / a;
    let mut sum = del;
    for _ in 0..100_000 {
        ap += 1.0;
        del *= x / ap;
        sum += del;
        if del.abs() < sum.abs() * 1e-17 {
            break;
        }
    }
    (sum.ln() - x + a * x.ln() - ln_gamma(a)).exp()
}

fn gamma_cont_frac(a: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..100_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (h.ln() - x + a * x.ln() - ln_gamma(a)).exp()
}

/// The `p`-quantile of a Gamma(shape, 1): Newton's method on P(a, x) = p, kept inside a
/// bracket by bisection.
fn gamma_quantile(a: f64, p: f64) -> f64 {
    if p.is_nan() || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let lga = ln_gamma(a);
    // Wilson-Hilferty start, or the small-x expansion P(a, x) ~ x^a / Γ(a + 1).
    let z = std_normal_quantile(p);
    let t = 1.0 - 1.0 / (9.0 * a) + z / (3.0 * a.sqrt());
    let mut x = a * t * t * t;
    if !(x > 0.0 && x.is_finite()) || a < 1.0 {
        let small = ((p.ln() + lga + a.ln()) / a).exp();
        if small > 0.0 && small.is_finite() && (!(x > 0.0 && x.is_finite()) || small < x) {
            x = small;
        }
    }
    if !(x > 0.0 && x.is_finite()) {
        x = a.max(f64::MIN_POSITIVE);
    }
    let (mut lo, mut hi) = (0.0_f64, f64::INFINITY);
    for _ in 0..300 {
        let f = gamma_p(a, x) - p;
        if f == 0.0 {
            return x;
        }
        if f < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let pdf = ((a - 1.0) * x.ln() - x - lga).exp();
        let mut next = x - f / pdf;
        if !(next > lo && next < hi) {
            next = if hi.is_finite() { 0.5 * (lo + hi) } else { 2.0 * x };
        }
        if (next - x).abs() <= 1e-15 * x {
            return next;
        }
        x = next;
    }
    x
}

/// `x.round() as u64` (half away from zero; negative and NaN to 0, saturating at `u64::MAX`)
/// without the libm call `f64::round` compiles to on baseline x86-64: the fraction left after
/// truncation is exact in floating point.
#[inline(always)]
pub(crate) fn round_ns(x: f64) -> u64 {
    if (0.0..TWO_52).contains(&x) {
        // Every draw of the request path: adding 2^52 rounds to the nearest integer (ties to
        // even) exactly, and a tie that went down is put up (half away from zero).
        let r = near_int(x);
        return r + u64::from(x - r as i64 as f64 == 0.5);
    }
    let t = x as u64;
    t.saturating_add(u64::from(x - t as f64 >= 0.5))
}

/// `x as f64` for a `u64`, through the signed conversion (one instruction) when it fits.
#[inline(always)]
pub(crate) fn u64_f64(x: u64) -> f64 {
    match i64::try_from(x) {
        Ok(i) => i as f64,
        Err(_) => x as f64,
    }
}

const TWO_52: f64 = 4_503_599_627_370_496.0;

/// The integer nearest `x` (ties to even), for `0 <= x < 2^52`: in `x + 2^52` the unit in the
/// last place is 1, so the addition rounds `x` to an integer, and the low bits hold it.
#[inline(always)]
fn near_int(x: f64) -> u64 {
    (x + TWO_52).to_bits() - TWO_52.to_bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    const N: usize = 200_000;

    fn rng() -> Xoshiro256PlusPlus {
        Xoshiro256PlusPlus::seed_from_u64(0x5eed_2024)
    }

    #[derive(Debug, Deserialize)]
    struct W {
        d: DistSpec,
    }

    fn spec(src: &str) -> Result<DistSpec, String> {
        toml::from_str::<W>(&format!("d = {src}")).map(|w| w.d).map_err(|e| e.to_string())
    }

    fn dist(src: &str) -> Dist {
        spec(src).unwrap_or_else(|e| panic!("{src}: {e}")).resolve(Path::new(".")).unwrap()
    }

    fn err(src: &str) -> String {
        match spec(src) {
            Ok(s) => panic!("{src}: expected an error, got {s:?}"),
            Err(e) => {
                assert!(e.contains("line 1"), "{src}: no position in {e}");
                e
            }
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn round_ns_is_round_as_u64() {
        use rand::Rng as _;
        let mut rng = crate::engine::rng::stream(3, "round");
        let edges = [
            0.0, -0.0, 0.5, 1.5, 2.5, 0.49999999999999994, 4503599627370495.5, 4503599627370497.0,
            9007199254740993.0, -0.4, -0.6, -7.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY,
            1.8446744073709552e19, 1.8e19, 1e30,
        ];
        let random = (0..100_000).map(|_| {
            let e: i32 = rng.gen_range(-3..20);
            rng.gen::<f64>() * 10f64.powi(e) + f64::from(rng.gen_range(0..3)) * 0.5
        });
        for x in edges.into_iter().chain(random) {
            assert_eq!(round_ns(x), x.round() as u64, "{x}");
        }
        // Around the fast path's edge, and ties on both sides of an even integer.
        for k in [0.0, 1.0, 2.0, 3.0, 1e9, 4503599627370494.0, 4503599627370495.0] {
            for x in [k, k + 0.5, k - 0.5, k + 0.25, k + 0.75, TWO_52 - 0.5, TWO_52, TWO_52 + 1.0] {
                assert_eq!(round_ns(x), x.round() as u64, "{x}");
            }
        }
        for x in [0, 1, (1 << 53) + 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert_eq!(u64_f64(x).to_bits(), (x as f64).to_bits(), "{x}");
        }
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(dist("\"30s\""), Dist::Constant(30.0));
        assert_eq!(dist("0.5"), Dist::Constant(0.5));
        assert_eq!(dist("3"), Dist::Constant(3.0));
        assert_eq!(dist("\"250\""), Dist::Constant(250.0));
        assert_eq!(dist("{ dist = \"constant\", value = \"30s\" }"), Dist::Constant(30.0));
        assert_eq!(dist("{ dist = \"constant\", value = 1500 }"), Dist::Constant(1500.0));
        assert_eq!(
            dist("{ dist = \"exponential\", mean = \"40ms\" }"),
            Dist::Exponential { mean: 0.04 }
        );
        match dist("{ dist = \"lognormal\", median = \"20s\", p95 = \"45s\" }") {
            Dist::LogNormal { mu, sigma } => {
                assert!(close(mu, 20f64.ln(), 1e-15));
                assert!(close(sigma, (45.0f64 / 20.0).ln() / Z95, 1e-15));
            }
            d => panic!("{d:?}"),
        }
        for (key, z) in [("p90", Z90), ("p99", Z99)] {
            match dist(&format!("{{ dist = \"lognormal\", median = \"1s\", {key} = \"3s\" }}")) {
                Dist::LogNormal { sigma, .. } => assert!(close(sigma, 3f64.ln() / z, 1e-15)),
                d => panic!("{d:?}"),
            }
        }
        assert_eq!(
            dist("{ dist = \"lognormal\", median = \"1s\", sigma = 0.5 }"),
            Dist::LogNormal { mu: 0.0, sigma: 0.5 }
        );
        assert_eq!(
            dist("{ dist = \"normal\", mean = \"90s\", sd = \"15s\" }"),
            Dist::Normal { mean: 90.0, sd: 15.0 }
        );
        assert_eq!(
            dist("{ dist = \"uniform\", min = \"10s\", max = \"30s\" }"),
            Dist::Uniform { min: 10.0, max: 30.0 }
        );
        assert_eq!(
            dist("{ delay = \"20s\", jitter = \"5s\" }"),
            Dist::Uniform { min: 20.0, max: 25.0 }
        );
        assert_eq!(dist("{ delay = \"20s\" }"), Dist::Constant(20.0));
        match dist("{ dist = \"gamma\", mean = \"1s\", shape = 2.0 }") {
            Dist::Gamma { shape, scale, .. } => assert_eq!((shape, scale), (2.0, 0.5)),
            d => panic!("{d:?}"),
        }
        match dist("{ dist = \"pareto\", min = \"10ms\", shape = 1.5 }") {
            Dist::Pareto { min, shape, .. } => assert_eq!((min, shape), (0.01, 1.5)),
            d => panic!("{d:?}"),
        }
        let s = spec("{ dist = \"empirical\", file = \"startup-samples.csv\" }").unwrap();
        assert_eq!(s.file(), Some(Path::new("startup-samples.csv")));
        // Degenerate spreads collapse to constants.
        assert_eq!(dist("{ dist = \"normal\", mean = \"1s\", sd = 0 }"), Dist::Constant(1.0));
        assert_eq!(dist("{ dist = \"uniform\", min = 2, max = 2 }"), Dist::Constant(2.0));
        assert_eq!(dist("{ delay = 2, jitter = 0 }"), Dist::Constant(2.0));
        // Table-header form works the same.
        let w: W = toml::from_str("[d]\ndist = \"exponential\"\nmean = 2\n").unwrap();
        assert_eq!(w.d.resolve(Path::new(".")).unwrap(), Dist::Exponential { mean: 2.0 });
        assert_eq!(DistSpec::constant(1.5).resolve(Path::new("/")).unwrap(), Dist::Constant(1.5));
        assert_eq!(DistSpec::constant(-1.0), DistSpec::constant(0.0));
        assert_eq!(DistSpec::constant(f64::NAN), DistSpec::constant(0.0));
    }

    #[test]
    fn spanned_inline_tables_work() {
        #[derive(Deserialize)]
        struct S {
            d: toml::Spanned<DistSpec>,
        }
        let src = "x = 1\nd = { dist = \"exponential\", mean = \"1s\" }\n";
        let s: S = toml::from_str(&src[6..]).unwrap();
        assert_eq!(s.d.get_ref().dist(), Some(&Dist::Exponential { mean: 1.0 }));
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct S2 {
            x: i32,
            d: toml::Spanned<DistSpec>,
        }
        let e = toml::from_str::<S2>("x = 1\nd = { dist = \"exponential\", mean = \"1q\" }\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(e.message().contains("invalid `mean` in an \"exponential\" distribution"), "{e}");
    }

    #[test]
    fn errors_say_what_was_expected() {
        let e = err("{ dist = \"normal\", mean = \"90s\", sdev = \"15s\" }");
        assert!(
            e.contains("unknown key `sdev` in a \"normal\" distribution: expected `mean` and `sd`"),
            "{e}"
        );
        let e = err("{ dist = \"normal\", mean = \"90s\" }");
        assert!(e.contains("a \"normal\" distribution needs `sd`"), "{e}");
        let e = err("{ dist = \"lognormal\", median = \"20s\", p95 = \"45s\", p99 = \"60s\" }");
        assert!(e.contains("exactly one of `p90`, `p95`, `p99` or `sigma`"), "{e}");
        assert!(e.contains("`p95` and `p99`"), "{e}");
        let e = err("{ dist = \"lognormal\", median = \"20s\" }");
        assert!(e.contains("needs one of `p90`, `p95`, `p99` or `sigma`"), "{e}");
        let e = err("{ dist = \"lognormal\", median = \"0s\", p95 = \"45s\" }");
        assert!(e.contains("median must be greater than 0"), "{e}");
        let e = err("{ dist = \"lognormal\", median = \"20s\", p95 = \"10s\" }");
        assert!(e.contains("p95 (\"10s\") must be greater than the median (\"20s\")"), "{e}");
        let e = err("{ dist = \"lognormal\", median = \"20s\", p95 = \"20s\" }");
        assert!(e.contains("must be greater than the median"), "{e}");
        let e = err("{ dist = \"lognormal\", median = \"20s\", sigma = -1 }");
        assert!(e.contains("sigma cannot be negative"), "{e}");
        let e = err("{ dist = \"normal\", mean = \"90s\", sd = \"-15s\" }");
        assert!(e.contains("invalid `sd`") && e.contains("cannot be negative"), "{e}");
        let e = err("{ dist = \"normal\", mean = \"90s\", sd = -15 }");
        assert!(e.contains("invalid `sd`") && e.contains("cannot be negative"), "{e}");
        let e = err("{ dist = \"uniform\", min = \"30s\", max = \"10s\" }");
        assert!(e.contains("`min` (\"30s\") must not be greater than `max` (\"10s\")"), "{e}");
        for d in ["gamma", "pareto"] {
            for shape in ["0", "-1.5", "nan"] {
                let key = if d == "gamma" { "mean" } else { "min" };
                let e = err(&format!("{{ dist = \"{d}\", {key} = \"1s\", shape = {shape} }}"));
                assert!(e.contains("invalid `shape`"), "{e}");
            }
        }
        let e = err("{ dist = \"weibull\", mean = \"1s\" }");
        assert!(e.contains("unknown distribution \"weibull\": expected one of \"constant\", \"exponential\", \"lognormal\", \"normal\", \"uniform\", \"gamma\", \"pareto\" or \"empirical\""), "{e}");
        let e = err("{ mean = \"1s\" }");
        assert!(e.contains("needs `dist`, one of \"constant\""), "{e}");
        let e = err("{ }");
        assert!(e.contains("needs `dist`"), "{e}");
        let e = err("{ dist = 3, mean = \"1s\" }");
        assert!(e.contains("`dist` must name a distribution"), "{e}");
        let e = err("{ delay = \"20s\", jitter = \"5s\", mean = \"1s\" }");
        assert!(e.contains("unknown key `mean` in a { delay, jitter } distribution"), "{e}");
        let e = err("{ jitter = \"5s\" }");
        assert!(e.contains("needs `delay`"), "{e}");
        let e = err("{ dist = \"exponential\", mean = true }");
        assert!(e.contains("invalid type: boolean"), "{e}");
        let e = err("{ dist = \"exponential\", mean = { x = 1 } }");
        assert!(e.contains("expected a duration like"), "{e}");
        let e = err("{ dist = \"exponential\", mean = \"5q\" }");
        assert!(e.contains("invalid `mean` in an \"exponential\" distribution: invalid duration \"5q\": expected a number with a unit"), "{e}");
        let e = err("{ dist = \"exponential\", mean = nan }");
        assert!(e.contains("invalid `mean`"), "{e}");
        let e = err("{ dist = \"empirical\", file = 3 }");
        assert!(e.contains("invalid `file`"), "{e}");
        let e = err("\"fast\"");
        assert!(e.contains("invalid duration \"fast\"") && e.contains("dist = "), "{e}");
        let e = err("-1");
        assert!(e.contains("cannot be negative"), "{e}");
        let e = err("[1, 2]");
        assert!(e.contains("expected a duration like"), "{e}");
    }

    #[test]
    fn error_position_is_the_inline_table() {
        let src = "a = 1\n\nd = { dist = \"normal\", mean = \"90s\" }\n";
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct W2 {
            a: i32,
            d: DistSpec,
        }
        let e = toml::from_str::<W2>(src).unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let span = e.span().unwrap();
        assert_eq!(&src[span], "{ dist = \"normal\", mean = \"90s\" }");
    }

    /// Sample mean within 5 standard errors (sd / sqrt(n)) of the analytic mean: with a fixed
    /// seed the test is deterministic, and 5 SE would fail by chance with probability < 1e-6.
    fn check_mean(d: &Dist, sd: Option<f64>) {
        let mut r = rng();
        let xs: Vec<f64> = (0..N).map(|_| d.sample(&mut r)).collect();
        assert!(xs.iter().all(|&x| x >= 0.0 && x.is_finite()), "{d:?}");
        let n = N as f64;
        let m = xs.iter().sum::<f64>() / n;
        let sd = sd.unwrap_or_else(|| {
            (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)).sqrt()
        });
        let se = sd / n.sqrt();
        let want = d.mean();
        assert!((m - want).abs() <= 5.0 * se, "{d:?}: sample mean {m}, analytic {want}, se {se}");
    }

    #[test]
    fn sample_means_match() {
        check_mean(&Dist::exponential(0.04).unwrap(), Some(0.04));
        let ln = dist("{ dist = \"lognormal\", median = \"20s\", p95 = \"45s\" }");
        let Dist::LogNormal { mu, sigma } = ln else { panic!() };
        let ln_sd = (((sigma * sigma).exp() - 1.0) * (2.0 * mu + sigma * sigma).exp()).sqrt();
        check_mean(&ln, Some(ln_sd));
        check_mean(&Dist::normal(90.0, 15.0).unwrap(), None);
        // Heavily truncated: the analytic mean is that of the normal truncated at 0.
        let tn = Dist::normal(1.0, 1.0).unwrap();
        assert!(close(tn.mean(), 1.0 + std_normal_pdf(1.0) / std_normal_cdf(1.0), 1e-14));
        assert!(close(tn.mean(), 1.287_599_970_939_178_3, 1e-12), "{}", tn.mean());
        check_mean(&tn, None);
        check_mean(&Dist::normal(0.0, 2.0).unwrap(), None);
        check_mean(&Dist::uniform(10.0, 30.0).unwrap(), Some(20.0 / 12f64.sqrt()));
        check_mean(&dist("{ delay = \"20s\", jitter = \"5s\" }"), Some(5.0 / 12f64.sqrt()));
        check_mean(&Dist::gamma(1.0, 2.0).unwrap(), Some(2f64.sqrt() * 0.5));
        check_mean(&Dist::gamma(3.0, 0.5).unwrap(), Some(0.5f64.sqrt() * 6.0));
        check_mean(&Dist::gamma(1.0, 50.0).unwrap(), Some(50f64.sqrt() / 50.0));
        // Pareto: finite variance needs shape > 2; var = min^2 a / ((a-1)^2 (a-2)).
        check_mean(&Dist::pareto(0.01, 3.0).unwrap(), Some((0.0001f64 * 3.0 / 4.0).sqrt()));
        let emp = Dist::empirical(vec![3.0, 1.0, 2.0, 10.0, 0.5]).unwrap();
        check_mean(&emp, None);
        check_mean(&Dist::constant(7.0).unwrap(), Some(0.0));
    }

    /// The fraction of draws at or below `quantile(p)` is p within 5 binomial standard errors.
    fn check_quantile(d: &Dist, p: f64) {
        let q = d.quantile(p);
        let mut r = rng();
        let below = (0..N).filter(|_| d.sample(&mut r) <= q).count() as f64 / N as f64;
        let se = (p * (1.0 - p) / N as f64).sqrt();
        assert!((below - p).abs() <= 5.0 * se, "{d:?} p{p}: q {q}, fraction below {below}");
    }

    #[test]
    fn quantiles_match_samples() {
        let ln = dist("{ dist = \"lognormal\", median = \"20s\", p95 = \"45s\" }");
        assert!(close(ln.quantile(0.95), 45.0, 1e-12), "{}", ln.quantile(0.95));
        assert!(close(ln.quantile(0.5), 20.0, 1e-12));
        check_quantile(&ln, 0.95);
        check_quantile(&ln, 0.5);
        // The empirical p95 of the draws is near 45s too (a quantile's SE is
        // sqrt(p(1-p)/n) / f(q); f(45s) = phi(z95) / (45 sigma)).
        let mut r = rng();
        let mut xs: Vec<f64> = (0..N).map(|_| ln.sample(&mut r)).collect();
        xs.sort_by(f64::total_cmp);
        let p95 = xs[(0.95 * N as f64) as usize];
        let Dist::LogNormal { sigma, .. } = ln else { panic!() };
        let density = std_normal_pdf(Z95) / (45.0 * sigma);
        let se = (0.95 * 0.05 / N as f64).sqrt() / density;
        assert!((p95 - 45.0).abs() <= 5.0 * se, "empirical p95 {p95}, se {se}");

        for d in [
            Dist::exponential(2.0).unwrap(),
            Dist::normal(90.0, 15.0).unwrap(),
            Dist::normal(1.0, 1.0).unwrap(),
            Dist::uniform(1.0, 3.0).unwrap(),
            Dist::gamma(1.0, 2.0).unwrap(),
            Dist::gamma(1.0, 0.3).unwrap(),
            Dist::gamma(10.0, 400.0).unwrap(),
            Dist::pareto(0.01, 1.5).unwrap(),
            Dist::empirical(vec![0.0, 1.0, 5.0]).unwrap(),
        ] {
            for p in [0.05, 0.5, 0.9, 0.99] {
                check_quantile(&d, p);
            }
            assert_eq!(d.quantile(0.0), d.quantile(-1.0));
            assert!(d.quantile(0.0) >= 0.0);
            assert!(d.quantile(f64::NAN).is_nan());
        }
        assert!(close(Dist::exponential(2.0).unwrap().quantile(0.5), 2.0 * 2f64.ln(), 1e-15));
        assert!(close(Dist::pareto(1.0, 2.0).unwrap().quantile(0.75), 2.0, 1e-15));
        assert_eq!(Dist::uniform(1.0, 3.0).unwrap().quantile(0.25), 1.5);
        assert_eq!(Dist::empirical(vec![0.0, 1.0, 5.0]).unwrap().quantile(0.75), 3.0);
        assert_eq!(Dist::exponential(1.0).unwrap().quantile(1.0), f64::INFINITY);
        // Gamma(1) is exponential; Gamma(2, 1) has median 1.6783469900166608.
        assert!(close(Dist::gamma(3.0, 1.0).unwrap().quantile(0.7), -3.0 * 0.3f64.ln(), 1e-12));
        assert!(close(gamma_quantile(2.0, 0.5), 1.678_346_990_016_660_3, 1e-12));
        // Normal(90, 15): truncation is negligible.
        assert!(close(Dist::normal(90.0, 15.0).unwrap().quantile(0.95), 90.0 + 15.0 * Z95, 1e-9));
        // Half-normal: quantile(p) = sd * z((1 + p) / 2).
        let hn = Dist::normal(0.0, 2.0).unwrap();
        assert!(close(hn.quantile(0.5), 2.0 * std_normal_quantile(0.75), 1e-12));
        assert!(close(hn.mean(), 2.0 * (2.0 / PI).sqrt(), 1e-14));
    }

    #[test]
    fn special_functions() {
        assert!(close(std_normal_quantile(0.95), Z95, 1e-15));
        assert!(close(std_normal_quantile(0.90), Z90, 1e-15));
        assert!(close(std_normal_quantile(0.99), Z99, 1e-15));
        assert!(close(std_normal_quantile(0.05), -Z95, 1e-15));
        assert!(close(std_normal_quantile(1e-10), -6.361_340_902_404_056, 1e-14));
        assert!(close(std_normal_quantile(1e-300), -37.047_096_270_212_93, 1e-3));
        assert_eq!(std_normal_quantile(0.5), 0.0);
        assert!(close(std_normal_cdf(1.96), 0.975_002_104_851_780_1, 1e-14));
        assert!(close(std_normal_cdf(-1.0), 0.158_655_253_931_457_05, 1e-13));
        assert!(close(std_normal_cdf(-8.0), 6.220_960_574_271_819e-16, 1e-12));
        assert_eq!(std_normal_cdf(0.0), 0.5);
        for p in [1e-12, 0.001, 0.02, 0.3, 0.5, 0.77, 0.975, 0.999_999] {
            assert!(close(std_normal_cdf(std_normal_quantile(p)), p, 1e-12), "{p}");
        }
        assert!(close(ln_gamma(0.5), PI.sqrt().ln(), 1e-14));
        assert!(close(ln_gamma(10.0), 362_880f64.ln(), 1e-14));
        assert!(close(ln_gamma(0.1), 2.252_712_651_734_206, 1e-13));
        assert!(close(ln_gamma(1000.0), 5_905.220_423_209_181, 1e-14));
        assert!(close(gamma_p(2.0, 1.0), 1.0 - 2.0 / 1f64.exp(), 1e-14));
        assert!(close(gamma_q(1.0, 30.0), (-30f64).exp(), 1e-12));
    }

    #[test]
    fn sample_ns_rounds_and_saturates() {
        let mut r = rng();
        assert_eq!(Dist::Constant(1.5e-9).sample_ns(&mut r), 2);
        assert_eq!(Dist::Constant(0.25).sample_ns(&mut r), 250_000_000);
        assert_eq!(Dist::Constant(1e30).sample_ns(&mut r), u64::MAX);
        assert_eq!(Dist::Constant(f64::INFINITY).sample_ns(&mut r), u64::MAX);
        let d = Dist::normal(0.0, 1e-9).unwrap();
        for _ in 0..1000 {
            let _ = d.sample_ns(&mut r);
        }
    }

    #[test]
    fn is_constant() {
        assert_eq!(Dist::Constant(3.0).is_constant(), Some(3.0));
        assert_eq!(Dist::empirical(vec![2.0, 2.0]).unwrap().is_constant(), Some(2.0));
        assert_eq!(Dist::exponential(1.0).unwrap().is_constant(), None);
        assert_eq!(Dist::exponential(0.0).unwrap().is_constant(), Some(0.0));
        assert_eq!(Dist::lognormal(0.0, 0.0).unwrap().is_constant(), Some(1.0));
    }

    #[test]
    fn empirical_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        let load = |name: &str| {
            let s = spec(&format!("{{ dist = \"empirical\", file = \"{name}\" }}")).unwrap();
            // Every error of a samples file is of that kind.
            s.resolve(dir.path()).map_err(|e| {
                assert_eq!(e.kind, DistErrorKind::Samples, "{e}");
                e.to_string()
            })
        };
        write("plain.txt", "1.5\n2s\n\n# a comment\n500ms\n0.5\n");
        let Dist::Empirical { sorted } = load("plain.txt").unwrap() else { panic!() };
        assert_eq!(&*sorted, &[0.5, 0.5, 1.5, 2.0]);
        write("with-header.csv", "\u{feff}startup_seconds,pod\n12.5,a\n\"10\",b\r\n11s,c\n");
        let Dist::Empirical { sorted } = load("with-header.csv").unwrap() else { panic!() };
        assert_eq!(&*sorted, &[10.0, 11.0, 12.5]);
        write("single.txt", "4\n");
        let d = load("single.txt").unwrap();
        assert_eq!(d.sample(&mut rng()), 4.0);
        assert_eq!(d.mean(), 4.0);

        write("negative.txt", "1\n2\n-3\n");
        let e = load("negative.txt").unwrap_err();
        assert!(e.contains("negative.txt: line 3") && e.contains("cannot be negative"), "{e}");
        write("nan.csv", "value\n1\nNaN\n");
        let e = load("nan.csv").unwrap_err();
        assert!(e.contains("nan.csv: line 3"), "{e}");
        write("nan-first.txt", "nan\n1\n");
        assert!(load("nan-first.txt").unwrap_err().contains("line 1"));
        write("bad.txt", "1\nfast\n");
        let e = load("bad.txt").unwrap_err();
        assert!(e.contains("bad.txt: line 2: invalid duration \"fast\""), "{e}");
        write("two-headers.txt", "a\nb\n1\n");
        assert!(load("two-headers.txt").unwrap_err().contains("line 2"));
        write("empty.txt", "value\n\n");
        let e = load("empty.txt").unwrap_err();
        assert!(e.contains("empty.txt: no samples"), "{e}");
        let e = load("missing.csv").unwrap_err();
        assert!(e.contains("missing.csv") && e.contains("cannot read"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_never_negative(
            kind in 0usize..8,
            a in proptest::num::f64::ANY,
            b in proptest::num::f64::ANY,
            seed in proptest::prelude::any::<u64>(),
            p in proptest::num::f64::ANY,
        ) {
            let d = match kind {
                0 => Dist::constant(a),
                1 => Dist::exponential(a),
                2 => Dist::lognormal(a, b),
                3 => Dist::normal(a, b),
                4 => Dist::uniform(a.min(b), a.max(b)),
                5 => Dist::gamma(a, b),
                6 => Dist::pareto(a, b),
                _ => Dist::empirical(vec![a, b]),
            };
            if let Ok(d) = d {
                let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
                for _ in 0..16 {
                    let x = d.sample(&mut r);
                    proptest::prop_assert!(x >= 0.0, "{:?} gave {}", d, x);
                    let _ = d.sample_ns(&mut r);
                }
                let _ = d.mean();
                let _ = d.quantile(p);
                let _ = d.to_string();
            }
        }

        #[test]
        fn spec_parsing_never_panics(s in "\\PC{0,40}") {
            let _ = toml::from_str::<W>(&format!("d = {s}"));
            let _ = spec_from_fields(&[("dist".into(), Scalar::Str(s.clone()))]);
        }
    }
}
