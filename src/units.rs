//! Durations and resource quantities as written in scenario files, in the conventions of
//! Kubernetes and k6: `"250ms"`, `"1h30m"`, `"500m"` CPU, `"512Mi"` memory.
//!
//! All parsing is exact (decimal arithmetic on integers, no floating point): `"0.1s"` is exactly
//! 100 000 000 ns and `"128974848000m"` is exactly 128 974 848 bytes.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

pub const NANOS_PER_SEC: u64 = 1_000_000_000;

const NANOS_PER_MIN: u64 = 60 * NANOS_PER_SEC;
const NANOS_PER_HOUR: u64 = 60 * NANOS_PER_MIN;
const NANOS_PER_DAY: u64 = 24 * NANOS_PER_HOUR;
const NANOS_PER_WEEK: u64 = 7 * NANOS_PER_DAY;

const DURATION_EXPECTED: &str =
    "expected a number with a unit (ns, us, ms, s, m, h, d, w), like \"250ms\" or \"1h30m\"";
const CPU_EXPECTED: &str =
    "expected a number of cores or millicores, like \"500m\", \"0.5\" or \"2\"";
const MEMORY_EXPECTED: &str = "expected a number of bytes with an optional suffix \
     (Ki, Mi, Gi, Ti, Pi, Ei or k, M, G, T, P, E), like \"512Mi\" or \"2Gi\"";

// ---------------------------------------------------------------------------------------------
// Exact decimal numbers
// ---------------------------------------------------------------------------------------------

/// Significant decimal digits kept; more are dropped (remembered in `sticky`). 10^20 times the
/// largest multiplier used (2^60 for `Ei`, 6.048e14 ns for `w`) still fits in a `u128`.
const MAX_DIGITS: u32 = 20;

/// A non-negative decimal `mant * 10^exp`, plus `sticky` when nonzero digits were dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Decimal {
    mant: u128,
    exp: i32,
    digits: u32,
    sticky: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Round {
    Nearest,
    Up,
}

impl Decimal {
    fn push_digit(&mut self, d: u8, fraction: bool) {
        if self.mant == 0 && d == 0 {
            if fraction {
                self.exp -= 1;
            }
            return;
        }
        if self.digits < MAX_DIGITS {
            self.mant = self.mant * 10 + u128::from(d);
            self.digits += 1;
            if fraction {
                self.exp -= 1;
            }
        } else {
            self.sticky |= d != 0;
            if !fraction {
                self.exp = self.exp.saturating_add(1);
            }
        }
    }

    /// Scan an unsigned decimal (`12`, `1.5`, `.5`, `5.`, and with `allow_exp` also `1e3`,
    /// `1.5E-2`) at the start of `s`. Returns the number and the bytes consumed.
    fn scan(s: &str, allow_exp: bool) -> Option<(Decimal, usize)> {
        let b = s.as_bytes();
        let mut i = 0;
        let mut dec = Decimal::default();
        let mut any = false;
        while i < b.len() && b[i].is_ascii_digit() {
            dec.push_digit(b[i] - b'0', false);
            any = true;
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                dec.push_digit(b[i] - b'0', true);
                any = true;
                i += 1;
            }
        }
        if !any {
            return None;
        }
        if allow_exp && i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            let mut neg = false;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                neg = b[j] == b'-';
                j += 1;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                let mut e: i64 = 0;
                while j < b.len() && b[j].is_ascii_digit() {
                    e = (e * 10 + i64::from(b[j] - b'0')).min(1_000_000);
                    j += 1;
                }
                let e = if neg { -e } else { e };
                dec.exp = (i64::from(dec.exp) + e).clamp(-2_000_000, 2_000_000) as i32;
                i = j;
            }
        }
        Some((dec, i))
    }

    fn is_zero(&self) -> bool {
        self.mant == 0
    }

    /// `self * mul * 10^pow10`, rounded to an integer; `None` if it does not fit in a `u64`.
    fn scale(&self, mul: u128, pow10: i32, round: Round) -> Option<u64> {
        if self.mant == 0 {
            return Some(0);
        }
        let e = self.exp.saturating_add(pow10);
        let num = self.mant.checked_mul(mul)?;
        let value = if e >= 0 {
            let p = pow10_u128(e as u32)?;
            let n = num.checked_mul(p)?;
            // Dropped digits only matter when rounding up, and then n >= 10^19 overflows anyway.
            if self.sticky && round == Round::Up {
                n.checked_add(1)?
            } else {
                n
            }
        } else {
            let k = e.unsigned_abs();
            match pow10_u128(k) {
                // num < 2^127 < 10^39 / 2: rounds to 0 (or up to 1).
                None => match round {
                    Round::Nearest => 0,
                    Round::Up => 1,
                },
                Some(den) => {
                    let q = num / den;
                    let r = num % den;
                    let up = match round {
                        Round::Nearest => r >= den - r,
                        Round::Up => r > 0 || self.sticky,
                    };
                    q + u128::from(up)
                }
            }
        };
        u64::try_from(value).ok()
    }
}

fn pow10_u128(k: u32) -> Option<u128> {
    10u128.checked_pow(k)
}

/// Format a finite float exactly as its shortest round-trip decimal (never in exponent form).
fn float_text(x: f64) -> String {
    format!("{x}")
}

// ---------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------

/// A non-negative span of time in integer nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const MAX: Duration = Duration(u64::MAX);

    /// Whole seconds (saturating at `Duration::MAX`).
    pub const fn from_secs(s: u64) -> Duration {
        Duration(s.saturating_mul(NANOS_PER_SEC))
    }

    /// Whole milliseconds (saturating at `Duration::MAX`).
    pub const fn from_millis(ms: u64) -> Duration {
        Duration(ms.saturating_mul(1_000_000))
    }

    /// Seconds as a float, rounded to the nearest nanosecond. `None` if negative, NaN, infinite
    /// or too large for `u64` nanoseconds (about 584 years). `-0.0` is zero.
    pub fn from_secs_f64(s: f64) -> Option<Duration> {
        if s.is_nan() || s < 0.0 {
            return None;
        }
        let ns = (s * NANOS_PER_SEC as f64).round();
        // 2^64 is exactly representable; anything at or above it does not fit.
        if ns >= 18_446_744_073_709_551_616.0 {
            return None;
        }
        Some(Duration(ns as u64))
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    pub fn nanos(self) -> u64 {
        self.0
    }

    pub fn checked_add(self, other: Duration) -> Option<Duration> {
        self.0.checked_add(other.0).map(Duration)
    }

    pub fn saturating_add(self, other: Duration) -> Duration {
        Duration(self.0.saturating_add(other.0))
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        std::time::Duration::from_nanos(d.0)
    }
}

/// Writes `whole[.frac]unit` for `ns < 1s`, in the largest of ms, us, ns that is at least 1.
fn write_sub_second(out: &mut String, ns: u64) {
    use fmt::Write;
    let (div, width, unit) = if ns >= 1_000_000 {
        (1_000_000, 6, "ms")
    } else if ns >= 1_000 {
        (1_000, 3, "us")
    } else {
        (1, 0, "ns")
    };
    let _ = write!(out, "{}", ns / div);
    write_fraction(out, ns % div, width);
    out.push_str(unit);
}

/// Writes `.ddd` for a fraction of `width` digits, without trailing zeros; nothing if zero.
fn write_fraction(out: &mut String, frac: u64, width: usize) {
    use fmt::Write;
    if frac == 0 || width == 0 {
        return;
    }
    let s = format!("{frac:0width$}");
    let _ = write!(out, ".{}", s.trim_end_matches('0'));
}

fn format_duration(ns: u64) -> String {
    use fmt::Write;
    if ns == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ns < NANOS_PER_SEC {
        write_sub_second(&mut out, ns);
        return out;
    }
    let days = ns / NANOS_PER_DAY;
    let hours = ns % NANOS_PER_DAY / NANOS_PER_HOUR;
    let mins = ns % NANOS_PER_HOUR / NANOS_PER_MIN;
    let secs = ns % NANOS_PER_MIN / NANOS_PER_SEC;
    let frac = ns % NANOS_PER_SEC;
    for (v, unit) in [(days, "d"), (hours, "h"), (mins, "m")] {
        if v > 0 {
            let _ = write!(out, "{v}{unit}");
        }
    }
    if frac == 0 {
        if secs > 0 {
            let _ = write!(out, "{secs}s");
        }
    } else if secs == 0 {
        write_sub_second(&mut out, frac);
    } else {
        let _ = write!(out, "{secs}");
        write_fraction(&mut out, frac, 9);
        out.push('s');
    }
    out
}

/// Human form, in components without zero parts: `"250ms"`, `"30s"`, `"5m"`, `"1h30m"`,
/// `"1.5s"`, `"1d2h"`, `"0s"`. Parses back to the same value with [`parse_duration`].
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format_duration(self.0))
    }
}

impl std::str::FromStr for Duration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        parse_duration(s)
    }
}

/// What is wrong with a duration or quantity as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitProblem {
    /// Not a number with a known unit or suffix; for memory, the suffix that was probably meant.
    Invalid(Option<&'static str>),
    Negative,
    TooLarge,
}

/// Which kind of value failed to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitKind {
    Duration,
    Cpu,
    Memory,
}

/// A duration or a Kubernetes quantity that does not parse: the text as given (quoted when it
/// was a string) and the problem. Its message names the kind and says what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct UnitError {
    pub kind: UnitKind,
    pub given: String,
    pub problem: UnitProblem,
}

impl UnitError {
    fn new(kind: UnitKind, given: impl Into<String>, problem: UnitProblem) -> UnitError {
        UnitError { kind, given: given.into(), problem }
    }

    fn message(&self) -> String {
        let given = &self.given;
        match (self.kind, self.problem) {
            (UnitKind::Duration, UnitProblem::Invalid(_)) => {
                format!("invalid duration {given}: {DURATION_EXPECTED}")
            }
            (UnitKind::Duration, UnitProblem::Negative) => {
                format!("invalid duration {given}: durations cannot be negative")
            }
            (UnitKind::Duration, UnitProblem::TooLarge) => format!(
                "invalid duration {given}: too large (the maximum is {}, about 584 years)",
                Duration::MAX
            ),
            (UnitKind::Cpu, UnitProblem::Invalid(_)) => {
                format!("invalid CPU quantity {given}: {CPU_EXPECTED}")
            }
            (UnitKind::Cpu, UnitProblem::Negative) => {
                format!("invalid CPU quantity {given}: CPU cannot be negative")
            }
            (UnitKind::Cpu, UnitProblem::TooLarge) => {
                format!("invalid CPU quantity {given}: too large (the maximum is {}m)", u64::MAX)
            }
            (UnitKind::Memory, UnitProblem::Invalid(None)) => {
                format!("invalid memory quantity {given}: {MEMORY_EXPECTED}")
            }
            (UnitKind::Memory, UnitProblem::Invalid(Some(hint))) => {
                format!("invalid memory quantity {given}: {MEMORY_EXPECTED} (did you mean \"{hint}\"?)")
            }
            (UnitKind::Memory, UnitProblem::Negative) => {
                format!("invalid memory quantity {given}: memory cannot be negative")
            }
            (UnitKind::Memory, UnitProblem::TooLarge) => {
                format!("invalid memory quantity {given}: too large (the maximum is just under 16Ei)")
            }
        }
    }
}

/// Parsers that still report plain text take a unit error's message.
impl From<UnitError> for String {
    fn from(e: UnitError) -> String {
        e.to_string()
    }
}

fn duration_unit(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" => NANOS_PER_MIN,
        "h" => NANOS_PER_HOUR,
        "d" => NANOS_PER_DAY,
        "w" => NANOS_PER_WEEK,
        _ => return None,
    })
}

fn parse_duration_inner(s: &str) -> Result<Duration, UnitProblem> {
    let t = s.trim();
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() {
        return Err(UnitProblem::Invalid(None));
    }
    // A bare number means seconds.
    if let Some((dec, used)) = Decimal::scan(body, true) {
        if used == body.len() {
            if negative && !dec.is_zero() {
                return Err(UnitProblem::Negative);
            }
            return dec
                .scale(u128::from(NANOS_PER_SEC), 0, Round::Nearest)
                .map(Duration)
                .ok_or(UnitProblem::TooLarge);
        }
    }
    // One or more `<number><unit>` components: "1h30m", "2m30.5s".
    let mut rest = body;
    let mut total: u64 = 0;
    let mut all_zero = true;
    while !rest.is_empty() {
        let (dec, used) = Decimal::scan(rest, false).ok_or(UnitProblem::Invalid(None))?;
        rest = &rest[used..];
        let unit_len =
            rest.char_indices().find(|&(_, c)| !c.is_alphabetic()).map_or(rest.len(), |(i, _)| i);
        let unit = duration_unit(&rest[..unit_len]).ok_or(UnitProblem::Invalid(None))?;
        rest = &rest[unit_len..];
        all_zero &= dec.is_zero();
        let ns = dec.scale(u128::from(unit), 0, Round::Nearest).ok_or(UnitProblem::TooLarge)?;
        total = total.checked_add(ns).ok_or(UnitProblem::TooLarge)?;
    }
    if negative && !all_zero {
        return Err(UnitProblem::Negative);
    }
    Ok(Duration(total))
}


/// Parse a duration: `"250ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`, `"1w"`, `"1.5s"`, `"1h30m"`,
/// `"100us"`, `"100µs"`, `"10ns"`, `"0"`. A bare number (`"30"`, `"0.5"`, `"1e3"`) is seconds.
/// Exact to the nanosecond (finer digits are rounded to the nearest nanosecond).
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    parse_duration_inner(s).map_err(|e| UnitError::new(UnitKind::Duration, format!("{s:?}"), e))
}

/// A duration given as a bare number of seconds (a TOML float).
fn duration_from_f64(x: f64) -> Result<Duration, UnitError> {
    if x.is_nan() || x.is_infinite() {
        return Err(UnitError::new(UnitKind::Duration, x.to_string(), UnitProblem::Invalid(None)));
    }
    if x < 0.0 {
        return Err(UnitError::new(UnitKind::Duration, &float_text(x), UnitProblem::Negative));
    }
    parse_duration_inner(&float_text(x)).map_err(|e| UnitError::new(UnitKind::Duration, &float_text(x), e))
}

fn duration_from_i128(x: i128) -> Result<Duration, UnitError> {
    if x < 0 {
        return Err(UnitError::new(UnitKind::Duration, &x.to_string(), UnitProblem::Negative));
    }
    u64::try_from(x)
        .ok()
        .and_then(|s| s.checked_mul(NANOS_PER_SEC))
        .map(Duration)
        .ok_or_else(|| UnitError::new(UnitKind::Duration, &x.to_string(), UnitProblem::TooLarge))
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration like \"250ms\" or \"1h30m\", or a number of seconds")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        duration_from_i128(i128::from(v)).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        duration_from_i128(i128::from(v)).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        duration_from_f64(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes quantities
// ---------------------------------------------------------------------------------------------

/// Parse a Kubernetes quantity into `(number, binary multiplier, decimal exponent)`.
fn parse_quantity(s: &str) -> Result<(Decimal, u128, i32), UnitProblem> {
    let t = s.trim();
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (dec, used) = Decimal::scan(body, true).ok_or(UnitProblem::Invalid(None))?;
    let suffix = &body[used..];
    let (mul, pow10): (u128, i32) = match suffix {
        "" => (1, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        _ => return Err(UnitProblem::Invalid(suffix_hint(suffix))),
    };
    if negative && !dec.is_zero() {
        return Err(UnitProblem::Negative);
    }
    Ok((dec, mul, pow10))
}

/// For the common mistakes `"512MB"`, `"1gb"`, `"2GiB"`, `"1mi"`: the suffix that was meant.
fn suffix_hint(suffix: &str) -> Option<&'static str> {
    let lower = suffix.to_ascii_lowercase();
    let stem = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .or_else(|| lower.strip_suffix('i'))?;
    Some(match stem {
        "k" => "Ki",
        "m" => "Mi",
        "g" => "Gi",
        "t" => "Ti",
        "p" => "Pi",
        "e" => "Ei",
        _ => return None,
    })
}


/// CPU in millicores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millicores(pub u64);

impl Millicores {
    pub fn as_cores(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

/// `"500m"`, or whole cores as `"2"`.
impl fmt::Display for Millicores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 == 0 {
            f.pad(&(self.0 / 1000).to_string())
        } else {
            f.pad(&format!("{}m", self.0))
        }
    }
}


fn parse_cpu_inner(s: &str) -> Result<Millicores, UnitProblem> {
    let (dec, mul, pow10) = parse_quantity(s)?;
    dec.scale(mul, pow10 + 3, Round::Up).map(Millicores).ok_or(UnitProblem::TooLarge)
}

/// Parse a Kubernetes CPU quantity (`"500m"`, `"2"`, `"0.5"`, `"1e3"`, `"250000n"`) into
/// millicores. Fractions of a millicore round up, as Kubernetes does (`"0.0005"` is `1m`).
pub fn parse_cpu(s: &str) -> Result<Millicores, UnitError> {
    parse_cpu_inner(s).map_err(|e| UnitError::new(UnitKind::Cpu, format!("{s:?}"), e))
}

impl std::str::FromStr for Millicores {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        parse_cpu(s)
    }
}

impl Serialize for Millicores {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct CpuVisitor;

impl Visitor<'_> for CpuVisitor {
    type Value = Millicores;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a CPU quantity like \"500m\" or \"2\", or a number of cores")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Millicores, E> {
        parse_cpu(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Millicores, E> {
        if v < 0 {
            return Err(E::custom(UnitError::new(UnitKind::Cpu, &v.to_string(), UnitProblem::Negative)));
        }
        self.visit_u64(v as u64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Millicores, E> {
        v.checked_mul(1000)
            .map(Millicores)
            .ok_or_else(|| E::custom(UnitError::new(UnitKind::Cpu, &v.to_string(), UnitProblem::TooLarge)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Millicores, E> {
        if !v.is_finite() {
            return Err(E::custom(UnitError::new(UnitKind::Cpu, &v.to_string(), UnitProblem::Invalid(None))));
        }
        let text = float_text(v);
        parse_cpu_inner(&text).map_err(|e| E::custom(UnitError::new(UnitKind::Cpu, &text, e)))
    }
}

impl<'de> Deserialize<'de> for Millicores {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CpuVisitor)
    }
}

/// Memory in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes(pub u64);

impl Bytes {
    pub const fn kib(n: u64) -> Bytes {
        Bytes(n.saturating_mul(1 << 10))
    }

    pub const fn mib(n: u64) -> Bytes {
        Bytes(n.saturating_mul(1 << 20))
    }

    pub const fn gib(n: u64) -> Bytes {
        Bytes(n.saturating_mul(1 << 30))
    }

    pub fn as_mib_f64(self) -> f64 {
        self.0 as f64 / (1u64 << 20) as f64
    }
}

/// The largest exact binary suffix (`"512Mi"`, `"2Gi"`), or plain bytes (`"1000"`).
impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SUFFIXES: [(&str, u32); 6] =
            [("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)];
        if self.0 != 0 {
            for (suffix, shift) in SUFFIXES {
                if self.0.trailing_zeros() >= shift {
                    return f.pad(&format!("{}{suffix}", self.0 >> shift));
                }
            }
        }
        f.pad(&self.0.to_string())
    }
}


fn parse_memory_inner(s: &str) -> Result<Bytes, UnitProblem> {
    let (dec, mul, pow10) = parse_quantity(s)?;
    dec.scale(mul, pow10, Round::Up).map(Bytes).ok_or(UnitProblem::TooLarge)
}

/// Parse a Kubernetes memory quantity (`"128974848"`, `"129e6"`, `"129M"`, `"123Mi"`,
/// `"128974848000m"`) into bytes. Fractions of a byte round up, as Kubernetes does.
pub fn parse_memory(s: &str) -> Result<Bytes, UnitError> {
    parse_memory_inner(s).map_err(|e| UnitError::new(UnitKind::Memory, format!("{s:?}"), e))
}

impl std::str::FromStr for Bytes {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        parse_memory(s)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

struct MemoryVisitor;

impl Visitor<'_> for MemoryVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a memory quantity like \"512Mi\" or \"2Gi\", or a number of bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
        parse_memory(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bytes, E> {
        if v < 0 {
            return Err(E::custom(UnitError::new(UnitKind::Memory, &v.to_string(), UnitProblem::Negative)));
        }
        Ok(Bytes(v as u64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bytes, E> {
        Ok(Bytes(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bytes, E> {
        if !v.is_finite() {
            return Err(E::custom(UnitError::new(UnitKind::Memory, &v.to_string(), UnitProblem::Invalid(None))));
        }
        let text = float_text(v);
        parse_memory_inner(&text).map_err(|e| E::custom(UnitError::new(UnitKind::Memory, &text, e)))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MemoryVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> u64 {
        parse_duration(s).unwrap_or_else(|e| panic!("{e}")).0
    }

    const S: u64 = NANOS_PER_SEC;

    #[test]
    fn durations_parse() {
        assert_eq!(d("250ms"), 250_000_000);
        assert_eq!(d("30s"), 30 * S);
        assert_eq!(d("5m"), 300 * S);
        assert_eq!(d("2h"), 7200 * S);
        assert_eq!(d("1d"), 86_400 * S);
        assert_eq!(d("1w"), 7 * 86_400 * S);
        assert_eq!(d("1.5s"), 1_500_000_000);
        assert_eq!(d("1h30m"), 5400 * S);
        assert_eq!(d("2m30s"), 150 * S);
        assert_eq!(d("100us"), 100_000);
        assert_eq!(d("100µs"), 100_000);
        assert_eq!(d("100μs"), 100_000); // Greek mu
        assert_eq!(d("10ns"), 10);
        assert_eq!(d("0"), 0);
        assert_eq!(d("0s"), 0);
        assert_eq!(d("30"), 30 * S);
        assert_eq!(d("0.5"), S / 2);
        assert_eq!(d("0.1"), 100_000_000);
        assert_eq!(d(".5s"), S / 2);
        assert_eq!(d("5.s"), 5 * S);
        assert_eq!(d("1e3"), 1000 * S);
        assert_eq!(d("1.5e-3"), 1_500_000);
        assert_eq!(d(" 30s "), 30 * S);
        assert_eq!(d("+30s"), 30 * S);
        assert_eq!(d("1.0000000004s"), S); // rounds to the nearest nanosecond
        assert_eq!(d("1.0000000005s"), S + 1);
        assert_eq!(d("0.00000000000000000000000000000000000000000001s"), 0);
        assert_eq!(d("1h0m0s"), 3600 * S);
        assert_eq!(d("18446744073709551615ns"), u64::MAX);
        assert_eq!(d("18446744073.709551615"), u64::MAX);
        assert_eq!(d("-0"), 0);
    }

    #[test]
    fn duration_errors() {
        let e = parse_duration("5q").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid duration \"5q\": expected a number with a unit (ns, us, ms, s, m, h, d, w), \
             like \"250ms\" or \"1h30m\""
        );
        for bad in [
            "", " ", "s", "abc", "5 s", "1h 30m", "1.2.3s", "NaN", "nan", "inf", "1e3ms", "5S",
            "5sec", "1h30", "--5s", "0x10s", "1_000s",
        ] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid duration {bad:?}: expected")), "{bad}: {e}");
        }
        let e = parse_duration("-5s").unwrap_err().to_string();
        assert!(e.contains("\"-5s\"") && e.contains("cannot be negative"), "{e}");
        assert!(parse_duration("-1").unwrap_err().to_string().contains("negative"));
        let e = parse_duration("18446744073709551616ns").unwrap_err().to_string();
        assert!(e.contains("too large"), "{e}");
        assert!(parse_duration("1000000w").unwrap_err().to_string().contains("too large"));
        assert!(parse_duration("1e300").unwrap_err().to_string().contains("too large"));
        assert!(parse_duration("584y").is_err());
        let e = parse_duration("-5s").unwrap_err();
        assert_eq!((e.kind, e.problem, e.given.as_str()), (UnitKind::Duration, UnitProblem::Negative, "\"-5s\""));
    }

    #[test]
    fn duration_display() {
        let cases = [
            (0, "0s"),
            (250_000_000, "250ms"),
            (30 * S, "30s"),
            (300 * S, "5m"),
            (5400 * S, "1h30m"),
            (1_500_000_000, "1.5s"),
            (150 * S, "2m30s"),
            (100_000, "100us"),
            (1_500_000, "1.5ms"),
            (1_500, "1.5us"),
            (10, "10ns"),
            (86_400 * S, "1d"),
            (93_600 * S, "1d2h"),
            (3600 * S + 1_000_000, "1h1ms"),
            (61 * S + 250_000_000, "1m1.25s"),
            (S + 1, "1.000000001s"),
        ];
        for (ns, text) in cases {
            assert_eq!(Duration(ns).to_string(), text);
            assert_eq!(d(text), ns);
        }
        assert_eq!(format!("{:>6}", Duration(30 * S)), "   30s");
        assert_eq!(d(&Duration::MAX.to_string()), u64::MAX);
    }

    proptest! {
        #[test]
        fn duration_display_round_trips(ns in any::<u64>()) {
            prop_assert_eq!(parse_duration(&Duration(ns).to_string()), Ok(Duration(ns)));
        }

        #[test]
        fn duration_small_round_trips(ns in 0u64..10_000_000_000_000) {
            prop_assert_eq!(parse_duration(&Duration(ns).to_string()), Ok(Duration(ns)));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,24}") {
            let _ = parse_duration(&s);
            let _ = parse_cpu(&s);
            let _ = parse_memory(&s);
        }

        #[test]
        fn parsers_never_panic_numberish(s in "[-+0-9.eE]{0,30}[a-zA-Zµ]{0,3}") {
            let _ = parse_duration(&s);
            let _ = parse_cpu(&s);
            let _ = parse_memory(&s);
        }
    }

    #[test]
    fn from_secs_f64() {
        assert_eq!(Duration::from_secs_f64(1.5), Some(Duration(1_500_000_000)));
        assert_eq!(Duration::from_secs_f64(0.0), Some(Duration::ZERO));
        assert_eq!(Duration::from_secs_f64(-0.0), Some(Duration::ZERO));
        assert_eq!(Duration::from_secs_f64(-1e-12), None);
        assert_eq!(Duration::from_secs_f64(f64::NAN), None);
        assert_eq!(Duration::from_secs_f64(f64::INFINITY), None);
        assert_eq!(Duration::from_secs_f64(1e11), None);
        assert_eq!(Duration::from_secs_f64(1e9), Some(Duration(1_000_000_000 * S)));
        assert_eq!(Duration(2_500_000_000).as_secs_f64(), 2.5);
        assert_eq!(Duration(7).nanos(), 7);
    }

    #[test]
    fn cpu() {
        let c = |s: &str| parse_cpu(s).unwrap_or_else(|e| panic!("{e}")).0;
        assert_eq!(c("500m"), 500);
        assert_eq!(c("2"), 2000);
        assert_eq!(c("0.5"), 500);
        assert_eq!(c("1.5"), 1500);
        assert_eq!(c("100m"), 100);
        assert_eq!(c("0.1"), 100);
        assert_eq!(c("0.0005"), 1);
        assert_eq!(c("0.0001"), 1);
        assert_eq!(c("1.0001"), 1001);
        assert_eq!(c("0"), 0);
        assert_eq!(c("1e3"), 1_000_000);
        assert_eq!(c("1E3"), 1_000_000);
        assert_eq!(c("1e-3"), 1);
        assert_eq!(c("250000000n"), 250);
        assert_eq!(c("250001n"), 1);
        assert_eq!(c("1500u"), 2);
        assert_eq!(c("1k"), 1_000_000);
        assert_eq!(c(" 2 "), 2000);
        for bad in ["", "m", "abc", "1 m", "1x", "1mm", "1e", "0.5cores", "1.2.3"] {
            let e = parse_cpu(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid CPU quantity {bad:?}: expected")), "{e}");
        }
        assert!(parse_cpu("-1").unwrap_err().to_string().contains("cannot be negative"));
        assert!(parse_cpu("-500m").unwrap_err().to_string().contains("cannot be negative"));
        assert!(parse_cpu("1e30").unwrap_err().to_string().contains("too large"));
        assert_eq!(Millicores(500).to_string(), "500m");
        assert_eq!(Millicores(2000).to_string(), "2");
        assert_eq!(Millicores(1500).as_cores(), 1.5);
    }

    #[test]
    fn memory_kubernetes_docs_examples() {
        let m = |s: &str| parse_memory(s).unwrap_or_else(|e| panic!("{e}")).0;
        // "128974848, 129e6, 129M, 128974848000m, 123Mi" are all roughly the same value.
        assert_eq!(m("128974848"), 128_974_848);
        assert_eq!(m("129e6"), 129_000_000);
        assert_eq!(m("129M"), 129_000_000);
        assert_eq!(m("128974848000m"), 128_974_848);
        assert_eq!(m("123Mi"), 123 * 1024 * 1024);
        for s in ["128974848", "129e6", "129M", "128974848000m", "123Mi"] {
            let mib = m(s) as f64 / (1 << 20) as f64;
            assert!((122.9..=123.1).contains(&mib), "{s}: {mib} MiB");
        }
        assert_eq!(m("1000m"), 1);
        assert_eq!(m("1001m"), 2);
        assert_eq!(m("1m"), 1);
        assert_eq!(m("0"), 0);
        assert_eq!(m("1Ki"), 1024);
        assert_eq!(m("1.5Gi"), 1_610_612_736);
        assert_eq!(m("2Ti"), 2 << 40);
        assert_eq!(m("1Pi"), 1 << 50);
        assert_eq!(m("15Ei"), 15 << 60);
        assert_eq!(m("1k"), 1000);
        assert_eq!(m("1G"), 1_000_000_000);
        assert_eq!(m("1T"), 1_000_000_000_000);
        assert_eq!(m("1P"), 1_000_000_000_000_000);
        assert_eq!(m("1E"), 1_000_000_000_000_000_000);
        assert_eq!(m("18446744073709551615"), u64::MAX);
        assert_eq!(m("0.5"), 1);
        assert_eq!(m("1e-30"), 1);
    }

    #[test]
    fn memory_errors() {
        for bad in ["", "Mi", "abc", "1 Mi", "1K", "1Mib", "1e", "5x"] {
            let e = parse_memory(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid memory quantity {bad:?}: expected")), "{e}");
        }
        let e = parse_memory("512MB").unwrap_err();
        assert_eq!((e.kind, e.problem), (UnitKind::Memory, UnitProblem::Invalid(Some("Mi"))));
        let e = e.to_string();
        assert!(e.contains("did you mean \"Mi\"?"), "{e}");
        assert!(parse_memory("1gb").unwrap_err().to_string().contains("\"Gi\""));
        assert!(parse_memory("2GiB").unwrap_err().to_string().contains("\"Gi\""));
        assert!(parse_memory("-1Mi").unwrap_err().to_string().contains("cannot be negative"));
        assert!(parse_memory("16Ei").unwrap_err().to_string().contains("too large"));
        assert!(parse_memory("18446744073709551616").unwrap_err().to_string().contains("too large"));
        assert!(parse_memory("1e20").unwrap_err().to_string().contains("too large"));
        assert!(parse_memory("100000000000000000000000000000000000000000000000").is_err());
    }

    #[test]
    fn memory_display() {
        assert_eq!(Bytes(512 << 20).to_string(), "512Mi");
        assert_eq!(Bytes(3 << 29).to_string(), "1536Mi");
        assert_eq!(Bytes(1000).to_string(), "1000");
        assert_eq!(Bytes(0).to_string(), "0");
        for b in [0, 1, 1000, 1024, 1 << 40, u64::MAX, 15 << 60] {
            assert_eq!(parse_memory(&Bytes(b).to_string()), Ok(Bytes(b)));
        }
        assert_eq!(Bytes::mib(3), Bytes(3 << 20));
    }

    #[derive(Debug, Deserialize)]
    struct Doc {
        t: Duration,
        #[serde(default)]
        cpu: Option<Millicores>,
        #[serde(default)]
        mem: Option<Bytes>,
    }

    fn doc(s: &str) -> Result<Doc, toml::de::Error> {
        toml::from_str(s)
    }

    #[test]
    fn serde_accepts_strings_integers_and_floats() {
        let x = doc("t = \"1h30m\"\ncpu = \"500m\"\nmem = \"512Mi\"").unwrap();
        assert_eq!(x.t, Duration(5400 * S));
        assert_eq!(x.cpu, Some(Millicores(500)));
        assert_eq!(x.mem, Some(Bytes(512 << 20)));
        let x = doc("t = 30\ncpu = 2\nmem = 1024").unwrap();
        assert_eq!(x.t, Duration(30 * S));
        assert_eq!(x.cpu, Some(Millicores(2000)));
        assert_eq!(x.mem, Some(Bytes(1024)));
        let x = doc("t = 0.1\ncpu = 0.1\nmem = 1.5").unwrap();
        assert_eq!(x.t, Duration(100_000_000));
        assert_eq!(x.cpu, Some(Millicores(100)));
        assert_eq!(x.mem, Some(Bytes(2)));
        let x = doc("t = 0.3\ncpu = 0.3").unwrap();
        assert_eq!(x.t, Duration(300_000_000));
        assert_eq!(x.cpu, Some(Millicores(300)));
        let x = doc("t = 1e3").unwrap();
        assert_eq!(x.t, Duration(1000 * S));
    }

    #[test]
    fn serde_errors_carry_position() {
        let e = doc("\nt = \"5q\"").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("invalid duration \"5q\": expected a number with a unit"), "{text}");
        for (src, want) in [
            ("t = -5", "durations cannot be negative"),
            ("t = -0.5", "durations cannot be negative"),
            ("t = nan", "invalid duration NaN"),
            ("t = inf", "invalid duration inf"),
            ("t = 1e300", "too large"),
            ("t = true", "a duration like"),
            ("t = 1\ncpu = -1", "CPU cannot be negative"),
            ("t = 1\ncpu = \"1x\"", "invalid CPU quantity \"1x\""),
            ("t = 1\nmem = -1", "memory cannot be negative"),
            ("t = 1\nmem = \"1GB\"", "did you mean \"Gi\"?"),
        ] {
            let text = doc(src).unwrap_err().to_string();
            assert!(text.contains(want) && text.contains("line"), "{src}: {text}");
        }
    }

    #[test]
    fn serialize_duration_as_text() {
        #[derive(Serialize)]
        struct Out {
            t: Duration,
        }
        let s = toml::to_string(&Out { t: Duration(5400 * S) }).unwrap();
        assert_eq!(s.trim(), "t = \"1h30m\"");
    }
}

/// A count and its noun, in the singular for one: "1 policy", "3 policies".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
