//! The replay clock. Every call is due at `t0 + offset`, computed from t0 and never from the
//! previous call, so API latency and a late call never push the later ones back.

use std::time::{Duration, Instant};

/// The replay's clock: t0 and the offsets from it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub t0: Instant,
}

impl Clock {
    pub fn start(t0: Instant) -> Self {
        Clock { t0 }
    }

    /// When a call with this wall offset (seconds after t0) is due.
    pub fn due(&self, offset_s: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(offset_s.max(0.0))
    }

    /// Seconds from t0 to `at` (negative before t0).
    pub fn secs(&self, at: Instant) -> f64 {
        if at >= self.t0 {
            (at - self.t0).as_secs_f64()
        } else {
            -(self.t0 - at).as_secs_f64()
        }
    }
}

/// The latest moment a retry of call `i` may still be sent: the next call's due time, or for
/// the last call `fallback` after its own.
pub fn retry_deadline(offsets: &[f64], i: usize, fallback_s: f64) -> f64 {
    offsets.get(i + 1).copied().unwrap_or(offsets[i] + fallback_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_are_anchored_to_t0() {
        let t0 = Instant::now();
        let c = Clock::start(t0);
        // 1000 calls 0.5 s apart: the last is due exactly 499.5 s after t0, whatever happened.
        let last = (0..1000).map(|i| c.due(i as f64 * 0.5)).last().unwrap();
        assert_eq!(last - t0, Duration::from_millis(499_500));
        assert_eq!(c.secs(t0 + Duration::from_millis(250)), 0.25);
    }

    #[test]
    fn a_retry_never_runs_past_the_next_call() {
        assert_eq!(retry_deadline(&[0.0, 0.5, 1.0], 0, 5.0), 0.5);
        assert_eq!(retry_deadline(&[0.0, 0.5, 1.0], 2, 5.0), 6.0);
    }
}
