//! Simulated time: integer nanoseconds since the start of the run.

/// An instant of simulated time, in nanoseconds since the start of the run.
pub type SimTime = u64;

/// Never: a wake-up time that does not come.
pub const NEVER: SimTime = u64::MAX;

pub const NS_PER_S: u64 = 1_000_000_000;

/// Seconds (as `f64`) of an instant or a span in nanoseconds.
#[inline]
pub fn secs(ns: u64) -> f64 {
    ns as f64 / NS_PER_S as f64
}

/// Nanoseconds of a span in seconds, rounded; negative or NaN gives 0, too large saturates.
#[inline]
pub fn nanos(s: f64) -> u64 {
    // `as` saturates: negative and NaN give 0, too large gives u64::MAX.
    (s * NS_PER_S as f64 + 0.5) as u64
}
