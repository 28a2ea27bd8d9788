//! Seed 003's schedule generator: hourly averages of a metric's history, peak hours (an hourly
//! average above 1.5 times the average), pre-scaling 30 minutes before each peak, separate
//! weekday and weekend schedules, exported as CronJobs.
//!
//! The seed's `ScheduleGenerator` is described, not shown, in the seed; autosim reads it so:
//! the average is the mean of the hourly averages (the hours with data); a peak hour is one whose
//! average is above `PEAK_FACTOR` times it; consecutive peak hours (across midnight too) form
//! one peak, which is pre-scaled to `max_replicas` `LEAD_MIN` minutes before its first hour and
//! scaled back to `min_replicas` when its last hour ends. A day type (weekday, weekend) with no
//! peak hour has no action (the minimum stays the policy's own).

use std::fmt::Write as _;

/// A peak hour's average is above this many times the average.
pub const PEAK_FACTOR: f64 = 1.5;
/// Pre-scaling this many minutes before a peak.
pub const LEAD_MIN: u32 = 30;

/// One scheduled change: at `minute` of the day, `replicas` at least.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub minute: u32,
    pub replicas: i32,
}

/// The schedule of one day type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DaySchedule {
    /// Mean per hour of the day (`None`: no sample in that hour).
    pub hourly: Vec<Option<f64>>,
    /// The mean of the hourly means.
    pub average: Option<f64>,
    pub peak_hours: Vec<usize>,
    /// Sorted by minute.
    pub actions: Vec<Action>,
}

/// Hourly means from per-hour sums and counts.
pub fn hourly_averages(sums: &[(f64, u64); 24]) -> Vec<Option<f64>> {
    sums.iter().map(|&(s, n)| (n > 0).then(|| s / n as f64)).collect()
}

/// The seed's generator on one day type's hourly averages.
pub fn day_schedule(hourly: Vec<Option<f64>>, min_replicas: i32, max_replicas: i32) -> DaySchedule {
    let seen: Vec<f64> = hourly.iter().flatten().copied().collect();
    if seen.is_empty() {
        return DaySchedule { hourly, ..Default::default() };
    }
    let average = seen.iter().sum::<f64>() / seen.len() as f64;
    let peak = |h: usize| hourly[h % 24].is_some_and(|v| v > PEAK_FACTOR * average);
    let peak_hours: Vec<usize> = (0..24).filter(|&h| peak(h)).collect();
    let mut actions = Vec::new();
    // Every hour cannot be above 1.5 times the mean, so each run of peak hours has a start.
    for &start in peak_hours.iter().filter(|&&h| !peak(h + 23)) {
        let mut end = start + 1;
        while peak(end) {
            end += 1;
        }
        actions.push(Action { minute: ((start as u32 * 60 + 1440 - LEAD_MIN) % 1440), replicas: max_replicas });
        actions.push(Action { minute: (end % 24) as u32 * 60, replicas: min_replicas });
    }
    actions.sort_by_key(|a| a.minute);
    DaySchedule { hourly, average: Some(average), peak_hours, actions }
}

/// The generated schedule: one for every day, or a weekday and a weekend one.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// `[weekday, weekend]`, or one schedule for every day.
    pub days: Vec<DaySchedule>,
}

impl Generated {
    /// The schedule for day `d` (0 = Monday).
    fn of(&self, d: usize) -> &DaySchedule {
        if self.days.len() == 2 && d >= 5 {
            &self.days[1]
        } else {
            &self.days[0]
        }
    }

    /// The scheduled minimum at day `d`, `minute` of the day: the last action at or before it,
    /// looking back up to a week (`None`: no action at all).
    pub fn min_at(&self, d: usize, minute: u32) -> Option<i32> {
        if let Some(a) = self.of(d).actions.iter().rev().find(|a| a.minute <= minute) {
            return Some(a.replicas);
        }
        (1..=7).find_map(|back| self.of((d + 7 - back) % 7).actions.last().map(|a| a.replicas))
    }

    /// The schedule as CronJobs, one per action, on the days of its schedule.
    pub fn cronjobs(&self, kind: &str, name: &str, field: &str, base: i32) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# autosim: the scheduled minimum of {kind} {name} as CronJobs (UTC; the day and hour of simulated time 0 is the schedule's `start`),\n\
             # generated as seed 003's ScheduleGenerator does: hourly averages, peak hours above {PEAK_FACTOR} x the average,\n\
             # pre-scaling {LEAD_MIN} minutes before each peak. Until the first job runs the minimum is {base}.\n\
             # The jobs need a ServiceAccount allowed to patch {kind}."
        );
        let labels: &[(&str, &str, &str)] = if self.days.len() == 2 {
            &[("weekday", "1-5", "mon-fri"), ("weekend", "0,6", "sat,sun")]
        } else {
            &[("daily", "*", "*")]
        };
        for (s, &(label, dow, days)) in self.days.iter().zip(labels) {
            let avg = s.average.map_or("no data".to_string(), |a| format!("{a:.3}"));
            let peaks: Vec<String> = s.peak_hours.iter().map(|h| format!("{h:02}:00")).collect();
            let _ = writeln!(out, "# {label}: average {avg}; peak hours {}", if peaks.is_empty() { "none".to_string() } else { peaks.join(", ") });
            for a in &s.actions {
                let job = super::schedule::CronJob { kind, name, field, replicas: a.replicas, hour: a.minute / 60, minute: a.minute % 60 };
                job.write(&mut out, label, days, dow);
            }
        }
        if self.days.iter().all(|s| s.actions.is_empty()) {
            let _ = writeln!(out, "# No peak hour: no CronJob is needed.");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(v: f64) -> Vec<Option<f64>> {
        vec![Some(v); 24]
    }

    #[test]
    fn peaks_are_above_one_and_a_half_times_the_average() {
        // 22 hours at 10 and two at 40: average (220 + 80) / 24 = 12.5; 1.5 x 12.5 = 18.75.
        let mut h = flat(10.0);
        h[9] = Some(40.0);
        h[10] = Some(40.0);
        let s = day_schedule(h, 3, 10);
        assert_eq!(s.average, Some(12.5));
        assert_eq!(s.peak_hours, vec![9, 10]);
        // Pre-scaled at 08:30 to the maximum, back to the minimum at 11:00.
        assert_eq!(s.actions, vec![Action { minute: 8 * 60 + 30, replicas: 10 }, Action { minute: 11 * 60, replicas: 3 }]);
    }

    #[test]
    fn exactly_one_and_a_half_times_is_no_peak() {
        // 23 hours at 10 and one at x: x = 1.5 x (230 + x) / 24 => 24x = 345 + 1.5x => x = 15.333...
        // Just above that threshold is a peak; a flat day has none.
        let mut h = flat(10.0);
        h[20] = Some(16.0);
        assert_eq!(day_schedule(h.clone(), 2, 8).peak_hours, vec![20]);
        h[20] = Some(15.0);
        assert!(day_schedule(h, 2, 8).actions.is_empty());
        assert!(day_schedule(flat(5.0), 2, 8).actions.is_empty());
        assert_eq!(day_schedule(vec![None; 24], 2, 8).average, None);
    }

    #[test]
    fn a_peak_at_midnight_is_one_peak_and_hours_without_data_do_not_count() {
        // Hours 0 and 23 at 50, hours 1 to 11 at 10, the rest unseen: average
        // (100 + 110) / 13 = 16.15..., threshold 24.2: a peak from 23:00 to 01:00.
        let mut h = vec![None; 24];
        for x in h.iter_mut().take(12).skip(1) {
            *x = Some(10.0);
        }
        h[0] = Some(50.0);
        h[23] = Some(50.0);
        let s = day_schedule(h, 3, 10);
        assert_eq!(s.peak_hours, vec![0, 23]);
        assert_eq!(s.actions, vec![Action { minute: 60, replicas: 3 }, Action { minute: 22 * 60 + 30, replicas: 10 }]);
    }

    #[test]
    fn a_peak_at_the_first_hour_is_pre_scaled_the_day_before() {
        let mut h = flat(10.0);
        h[0] = Some(100.0);
        let s = day_schedule(h, 1, 4);
        assert_eq!(s.actions, vec![Action { minute: 60, replicas: 1 }, Action { minute: 23 * 60 + 30, replicas: 4 }]);
    }

    #[test]
    fn weekday_and_weekend_schedules_apply_on_their_days() {
        let mut wd = flat(10.0);
        wd[9] = Some(40.0);
        wd[10] = Some(40.0);
        let mut we = flat(10.0);
        we[20] = Some(40.0);
        let g = Generated { days: vec![day_schedule(wd, 3, 10), day_schedule(we, 2, 6)] };
        // Monday 08:29: the last action is Sunday's 21:00 (weekend minimum 2).
        assert_eq!(g.min_at(0, 8 * 60 + 29), Some(2));
        assert_eq!(g.min_at(0, 8 * 60 + 30), Some(10));
        assert_eq!(g.min_at(4, 11 * 60), Some(3));
        // Saturday 10:00: Friday's 11:00 still holds, until 19:30.
        assert_eq!(g.min_at(5, 10 * 60), Some(3));
        assert_eq!(g.min_at(5, 19 * 60 + 30), Some(6));
        assert_eq!(g.min_at(6, 21 * 60), Some(2));
        let y = g.cronjobs("hpa", "api", "minReplicas", 3);
        assert!(y.contains("schedule: \"30 8 * * 1-5\""), "{y}");
        assert!(y.contains("schedule: \"0 11 * * 1-5\""), "{y}");
        assert!(y.contains("schedule: \"30 19 * * 0,6\""), "{y}");
        assert!(y.contains("schedule: \"0 21 * * 0,6\""), "{y}");
        assert!(y.contains(r#""{\"spec\":{\"minReplicas\":10}}""#), "{y}");
        assert!(y.contains("# weekday: average 12.500; peak hours 09:00, 10:00"), "{y}");
        assert_eq!(y.matches("kind: CronJob").count(), 4);
        let none = Generated { days: vec![day_schedule(flat(1.0), 3, 10)] };
        assert_eq!(none.min_at(3, 0), None);
        assert!(none.cronjobs("hpa", "api", "minReplicas", 3).contains("No peak hour"));
    }

    #[test]
    fn hourly_averages_are_means_of_the_samples() {
        let mut sums = [(0.0, 0u64); 24];
        sums[3] = (30.0, 4);
        let h = hourly_averages(&sums);
        assert_eq!(h[3], Some(7.5));
        assert_eq!(h[4], None);
    }
}
