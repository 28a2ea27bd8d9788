//! Scheduled scaling (seeds 001 and 003): the autoscaler's minimum raised at given hours of the
//! day and days of the week, as a CronJob patching the HPA's `minReplicas` (or the
//! ScaledObject's `minReplicaCount`) does. The schedule is given, or learned from the observed
//! history: during the first part of the run (`learn.for`, wall-clock time of the load) the
//! policy records, per hour of the day (or of the week), the peak of a metric it reads through
//! the pipeline, and from then on holds `ceil(peak / per_replica)` replicas at least in that
//! hour. Either way the schedule is exported as Kubernetes CronJob YAML (`cronjobs.yaml` in the
//! policy's report folder). With `learn.method = "seed-003"` the learned schedule is seed 003's
//! generator's instead (`schedule_gen`): hourly averages, peak hours, pre-scaling.
//!
//! Simulated time 0 is `start` on the wall clock (default Monday 00:00 UTC); `speedup` maps
//! simulated time onto the wall clock for sped-up traces (a trace replayed with `speedup = 24`
//! goes through a day in one simulated hour).

use std::fmt::Write as _;

use crate::engine::SimTime;
use crate::metrics::expr::Expr;
use crate::policy::Observation;
use crate::scenario::params::Params;
use crate::scenario::ConfigError;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const HOUR_S: f64 = 3600.0;

/// The wall clock of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// Seconds from Monday 00:00 to simulated time 0.
    pub start_s: f64,
    /// Wall-clock seconds per simulated second.
    pub speedup: f64,
}

impl Clock {
    /// (day of week, 0 = Monday; hour of day) at simulated `now`.
    pub fn wall(&self, now: SimTime) -> (usize, usize) {
        let s = self.start_s + now as f64 / 1e9 * self.speedup;
        let h = (s / HOUR_S).floor() as u64;
        (((h / 24) % 7) as usize, (h % 24) as usize)
    }

    /// (day of week, 0 = Monday; minute of the day) at simulated `now`.
    pub fn wall_minute(&self, now: SimTime) -> (usize, u32) {
        let s = self.start_s + now as f64 / 1e9 * self.speedup;
        let m = (s / 60.0).floor() as u64;
        (((m / 1440) % 7) as usize, (m % 1440) as u32)
    }
}

/// One rule: on `days`, from `from_hour` to `to_hour` (exclusive), at least `min_replicas`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub days: [bool; 7],
    pub from_hour: usize,
    pub to_hour: usize,
    pub min_replicas: i32,
}

/// Learning a schedule from the observed history.
#[derive(Debug, Clone)]
pub struct Learn {
    pub metric: Expr,
    /// Wall-clock seconds of history to learn from.
    pub for_s: f64,
    pub method: Method,
}

/// How a schedule is learned.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// The peak per slot (`method = "peak"`, the default): `ceil(peak / per_replica)` from
    /// then on, per hour of the week (`by_weekday`) or of the day.
    Peak { per_replica: f64, by_weekday: bool },
    /// Seed 003's generator (`method = "seed-003"`).
    Seed003(Generator),
}

impl Learn {
    fn generator(&self) -> Option<&Generator> {
        match &self.method {
            Method::Seed003(g) => Some(g),
            Method::Peak { .. } => None,
        }
    }
}

/// Seed 003's generator's settings: the minimum in a peak and outside it, and whether weekdays
/// and weekends get schedules of their own.
#[derive(Debug, Clone, PartialEq)]
pub struct Generator {
    pub min_replicas: i32,
    pub max_replicas: i32,
    pub weekly: bool,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub clock: Clock,
    pub entries: Vec<Entry>,
    pub learn: Option<Learn>,
}

/// A schedule during a run.
#[derive(Debug, Clone)]
pub struct ScheduleRt {
    pub s: Schedule,
    /// Peak per slot while learning (168 slots: day x 24 + hour).
    peaks: Vec<Option<f64>>,
    learned: Option<Vec<Option<i32>>>,
    /// Seed 003's generator: sums and counts per hour, `[weekday, weekend]` (or one for all days).
    sums: [[(f64, u64); 24]; 2],
    generated: Option<super::schedule_gen::Generated>,
}

impl ScheduleRt {
    pub fn new(s: Schedule) -> Self {
        ScheduleRt { s, peaks: vec![None; 168], learned: None, sums: [[(0.0, 0); 24]; 2], generated: None }
    }

    /// Whether the peaks are learned per hour of the week.
    fn by_weekday(&self) -> bool {
        self.s.learn.as_ref().is_some_and(|l| matches!(l.method, Method::Peak { by_weekday: true, .. }))
    }

    /// Whether seed 003's generator makes the schedule.
    fn generates(&self) -> bool {
        self.s.learn.as_ref().is_some_and(|l| l.generator().is_some())
    }

    fn slot(&self, day: usize, hour: usize) -> usize {
        if self.by_weekday() {
            day * 24 + hour
        } else {
            hour
        }
    }

    /// Read the metric while learning; close the learning once its period is over.
    pub fn observe(&mut self, obs: &Observation<'_>) {
        let Some(l) = &self.s.learn else { return };
        if self.learned.is_some() || self.generated.is_some() {
            return;
        }
        let now = obs.now();
        let wall_elapsed = now as f64 / 1e9 * self.s.clock.speedup;
        let per = match &l.method {
            Method::Peak { per_replica, .. } => *per_replica,
            Method::Seed003(g) => {
                use super::schedule_gen::{day_schedule, hourly_averages, Generated};
                if wall_elapsed >= l.for_s {
                    let kinds = if g.weekly { 2 } else { 1 };
                    let days = self.sums[..kinds].iter().map(|s| day_schedule(hourly_averages(s), g.min_replicas, g.max_replicas)).collect();
                    self.generated = Some(Generated { days });
                } else if let Ok(Some(v)) = obs.promql(&l.metric).and_then(|r| l.metric.reduce(&r)) {
                    let (d, h) = self.s.clock.wall(now);
                    let k = usize::from(g.weekly && d >= 5);
                    self.sums[k][h].0 += v;
                    self.sums[k][h].1 += 1;
                }
                return;
            }
        };
        if wall_elapsed >= l.for_s {
            self.learned = Some(self.peaks.iter().map(|p| p.map(|v| (v / per - 1e-9).ceil().max(0.0) as i32)).collect());
            return;
        }
        if let Ok(Some(v)) = obs.promql(&l.metric).and_then(|r| l.metric.reduce(&r)) {
            let (d, h) = self.s.clock.wall(now);
            let i = self.slot(d, h);
            let p = &mut self.peaks[i];
            *p = Some(p.map_or(v, |x: f64| x.max(v)));
        }
    }

    /// The scheduled minimum at `now` (`None`: the autoscaler's own minimum).
    pub fn min_at(&self, now: SimTime) -> Option<i32> {
        if self.generates() {
            let (d, m) = self.s.clock.wall_minute(now);
            return self.generated.as_ref().and_then(|g| g.min_at(d, m));
        }
        let (d, h) = self.s.clock.wall(now);
        if let Some(l) = &self.learned {
            return l[self.slot(d, h)];
        }
        self.s.entries.iter().rev().find(|e| e.days[d] && (e.from_hour..e.to_hour).contains(&h)).map(|e| e.min_replicas)
    }

    /// The schedule in force: the given entries, or the learned ones (one per slot).
    pub fn effective(&self) -> Vec<Entry> {
        match &self.learned {
            None => self.s.entries.clone(),
            Some(l) => {
                let by_weekday = self.by_weekday();
                let mut out = Vec::new();
                for (i, v) in l.iter().enumerate() {
                    let Some(v) = v else { continue };
                    let (days, hour) = if by_weekday {
                        let mut d = [false; 7];
                        d[i / 24] = true;
                        (d, i % 24)
                    } else if i < 24 {
                        ([true; 7], i)
                    } else {
                        continue;
                    };
                    out.push(Entry { days, from_hour: hour, to_hour: hour + 1, min_replicas: *v });
                }
                out
            }
        }
    }

    /// The schedule as Kubernetes CronJobs: at each hour where the minimum changes, a job that
    /// patches it (`kind` is `hpa` or `scaledobject`, `field` the spec field). `base` is the
    /// minimum outside the schedule.
    pub fn cronjobs(&self, kind: &str, name: &str, field: &str, base: i32) -> String {
        if self.generates() {
            return match &self.generated {
                Some(g) => g.cronjobs(kind, name, field, base),
                None => format!("# autosim: seed 003's schedule for {kind} {name} was still learning when the run ended: no CronJob.\n"),
            };
        }
        let entries = self.effective();
        let at = |d: usize, h: usize| {
            entries.iter().rev().find(|e| e.days[d] && (e.from_hour..e.to_hour).contains(&h)).map_or(base, |e| e.min_replicas)
        };
        // (hour, value) -> days on which the minimum changes to value at that hour.
        let mut changes: std::collections::BTreeMap<(usize, i32), Vec<usize>> = Default::default();
        for d in 0..7 {
            for h in 0..24 {
                let (pd, ph) = if h == 0 { ((d + 6) % 7, 23) } else { (d, h - 1) };
                let v = at(d, h);
                if v != at(pd, ph) {
                    changes.entry((h, v)).or_default().push(d);
                }
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# autosim: the scheduled minimum of {kind} {name} as CronJobs (UTC; the day and hour of simulated time 0 is the schedule's `start`).\n\
             # Outside the schedule the minimum is {base}. The jobs need a ServiceAccount allowed to patch {kind}."
        );
        for ((h, v), days) in &changes {
            // Cron's day of week: 0 = Sunday.
            let dow: Vec<String> = days.iter().map(|d| ((d + 1) % 7).to_string()).collect();
            let day_names: Vec<&str> = days.iter().map(|&d| DAYS[d]).collect();
            let job = CronJob { kind, name, field, replicas: *v, hour: *h as u32, minute: 0 };
            job.write(&mut out, &dow.join(""), &day_names.join(","), &dow.join(","));
        }
        if changes.is_empty() {
            let _ = writeln!(out, "# The minimum never changes: no CronJob is needed.");
        }
        out
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    speedup: Option<f64>,
    #[serde(default)]
    entries: Vec<RawEntry>,
    #[serde(default)]
    learn: Option<RawLearn>,
}

/// A CronJob that patches `field` of `kind` `name` to `replicas` at `hour:minute` UTC: the
/// export of every schedule, entered or generated.
pub(super) struct CronJob<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub field: &'a str,
    pub replicas: i32,
    pub hour: u32,
    pub minute: u32,
}

impl CronJob<'_> {
    /// Write it as YAML, named with `suffix`, on the cron days of week `dow`, annotated with
    /// the days' names.
    pub fn write(&self, out: &mut String, suffix: &str, days: &str, dow: &str) {
        let CronJob { kind, name, field, replicas: v, hour: h, minute: m } = *self;
        let patch = format!("{{\"spec\":{{\"{field}\":{v}}}}}");
        let _ = write!(
            out,
            "---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}-min-{v}-at-{h:02}{m:02}-{suffix}\n  annotations:\n    autosim/days: \"{days}\"\nspec:\n  schedule: \"{m} {h} * * {dow}\"\n  timeZone: \"Etc/UTC\"\n  concurrencyPolicy: Forbid\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          serviceAccountName: autoscaling-scheduler\n          restartPolicy: OnFailure\n          containers:\n            - name: kubectl\n              image: bitnami/kubectl:1.31\n              command: [\"kubectl\", \"patch\", \"{kind}\", \"{name}\", \"--type\", \"merge\", \"-p\", {patch:?}]\n",
        );
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(default)]
    days: Option<String>,
    hours: String,
    min_replicas: i32,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLearn {
    metric: String,
    #[serde(default)]
    per_replica: Option<f64>,
    #[serde(rename = "for")]
    for_: crate::units::Duration,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    min_replicas: Option<i32>,
    #[serde(default)]
    max_replicas: Option<i32>,
}

fn parse_days(s: &str) -> Result<[bool; 7], String> {
    let mut d = [false; 7];
    let day = |x: &str| {
        let x = x.trim().to_ascii_lowercase();
        DAYS.iter().position(|n| x.starts_with(n)).ok_or_else(|| {
            format!("unknown day {x:?} in `days = {s:?}`: expected mon, tue, wed, thu, fri, sat, sun, a range (\"mon-fri\"), a list (\"sat,sun\") or \"*\"")
        })
    };
    if s.trim() == "*" {
        return Ok([true; 7]);
    }
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut i = a;
                loop {
                    d[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            None => d[day(part)?] = true,
        }
    }
    Ok(d)
}

fn parse_hours(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`hours = {s:?}`: expected an hour (\"9\") or a range of hours \"8-20\" (from 08:00 to 20:00), hours 0 to 24");
    let num = |x: &str| x.trim().trim_end_matches(":00").parse::<usize>().map_err(|_| bad());
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let a = num(s)?;
            (a, a + 1)
        }
    };
    if a >= b || b > 24 {
        return Err(bad());
    }
    Ok((a, b))
}

fn parse_start(s: &str) -> Result<f64, String> {
    let bad = || format!("`start = {s:?}`: expected a day and a time, like \"mon 00:00\" or \"sat 13:30\"");
    let (d, t) = s.trim().split_once(' ').ok_or_else(bad)?;
    let d = DAYS.iter().position(|n| d.to_ascii_lowercase().starts_with(n)).ok_or_else(bad)?;
    let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(d as f64 * 86400.0 + f64::from(h) * 3600.0 + f64::from(m) * 60.0)
}

/// Read `schedule` from a policy table, if present.
pub fn parse(p: &mut Params, services: &[String]) -> Result<Option<Schedule>, ConfigError> {
    let Some(raw) = p.get::<RawSchedule>("schedule")? else { return Ok(None) };
    let at = p.span_of("schedule");
    let what = p.what.clone();
    let err = |m: String| ConfigError::at(at.clone(), format!("{what}: schedule: {m}"));
    let start_s = match &raw.start {
        Some(s) => parse_start(s).map_err(err)?,
        None => 0.0,
    };
    let speedup = raw.speedup.unwrap_or(1.0);
    if !(speedup.is_finite() && speedup > 0.0) {
        return Err(err(format!("`speedup = {speedup}`: expected a positive number")));
    }
    let mut entries = Vec::new();
    for e in &raw.entries {
        let days = parse_days(e.days.as_deref().unwrap_or("*")).map_err(err)?;
        let (from_hour, to_hour) = parse_hours(&e.hours).map_err(err)?;
        if e.min_replicas < 0 {
            return Err(err(format!("`min_replicas = {}`: must be 0 or more", e.min_replicas)));
        }
        entries.push(Entry { days, from_hour, to_hour, min_replicas: e.min_replicas });
    }
    let learn = match raw.learn {
        None => None,
        Some(l) => {
            if !entries.is_empty() {
                return Err(err("give `entries` or `learn`, not both".into()));
            }
            let metric = Expr::parse(&l.metric, services).map_err(|e| err(format!("learn.metric: {e}")))?;
            if l.for_.0 == 0 {
                return Err(err("learn.for must be more than 0".into()));
            }
            let for_s = l.for_.0 as f64 / 1e9;
            match l.method.as_deref() {
                None | Some("peak") => {
                    if l.min_replicas.is_some() || l.max_replicas.is_some() {
                        return Err(err("learn.min_replicas and learn.max_replicas go with `method = \"seed-003\"`".into()));
                    }
                    let Some(per_replica) = l.per_replica else {
                        return Err(err("learn: expected `per_replica` (the value one replica handles)".into()));
                    };
                    if !(per_replica.is_finite() && per_replica > 0.0) {
                        return Err(err(format!("learn.per_replica = {per_replica}: expected a positive number")));
                    }
                    let by_weekday = match l.by.as_deref() {
                        None | Some("hour") => false,
                        Some("weekday_hour") => true,
                        Some(o) => return Err(err(format!("learn.by = {o:?}: expected \"hour\" (of the day) or \"weekday_hour\" (of the week)"))),
                    };
                    Some(Learn { metric, for_s, method: Method::Peak { per_replica, by_weekday } })
                }
                Some("seed-003") => {
                    if l.per_replica.is_some() {
                        return Err(err("learn.per_replica goes with `method = \"peak\"`: seed 003's generator schedules `min_replicas` and `max_replicas`".into()));
                    }
                    let weekly = match l.by.as_deref() {
                        None | Some("weekday_weekend") => true,
                        Some("hour") => false,
                        Some(o) => return Err(err(format!("learn.by = {o:?}: with `method = \"seed-003\"` expected \"weekday_weekend\" (a weekday and a weekend schedule) or \"hour\" (one for every day)"))),
                    };
                    let (min_replicas, max_replicas) = (l.min_replicas.unwrap_or(3), l.max_replicas.unwrap_or(10));
                    if min_replicas < 0 || max_replicas < min_replicas {
                        return Err(err(format!("learn.min_replicas = {min_replicas}, max_replicas = {max_replicas}: expected 0 <= min_replicas <= max_replicas")));
                    }
                    Some(Learn { metric, for_s, method: Method::Seed003(Generator { min_replicas, max_replicas, weekly }) })
                }
                Some(o) => return Err(err(format!("learn.method = {o:?}: expected \"peak\" (the peak per slot, default) or \"seed-003\" (seed 003's generator)"))),
            }
        }
    };
    if entries.is_empty() && learn.is_none() {
        return Err(err("expected `entries = [ { days = \"mon-fri\", hours = \"8-20\", min_replicas = 5 } ]` or `learn = { metric = \"...\", per_replica = 20, for = \"1d\" }`".into()));
    }
    Ok(Some(Schedule { clock: Clock { start_s, speedup }, entries, learn }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_hours_and_the_clock() {
        assert_eq!(parse_days("mon-fri").unwrap(), [true, true, true, true, true, false, false]);
        assert_eq!(parse_days("sat,sun").unwrap(), [false, false, false, false, false, true, true]);
        assert_eq!(parse_days("fri-mon").unwrap(), [true, false, false, false, true, true, true]);
        assert!(parse_days("funday").is_err());
        assert_eq!(parse_hours("8-20").unwrap(), (8, 20));
        assert_eq!(parse_hours("23").unwrap(), (23, 24));
        assert!(parse_hours("20-8").is_err());
        assert_eq!(parse_start("tue 06:30").unwrap(), 86400.0 + 6.5 * 3600.0);
        let c = Clock { start_s: parse_start("sun 23:00").unwrap(), speedup: 1.0 };
        assert_eq!(c.wall(0), (6, 23));
        assert_eq!(c.wall(3600 * 1_000_000_000), (0, 0));
        let fast = Clock { start_s: 0.0, speedup: 24.0 };
        assert_eq!(fast.wall(1_800_000_000_000), (0, 12));
    }

    #[test]
    fn cronjobs_patch_at_each_change() {
        let s = Schedule {
            clock: Clock { start_s: 0.0, speedup: 1.0 },
            entries: vec![Entry { days: parse_days("mon-fri").unwrap(), from_hour: 8, to_hour: 20, min_replicas: 6 }],
            learn: None,
        };
        let rt = ScheduleRt::new(s);
        assert_eq!(rt.min_at(9 * 3600 * 1_000_000_000), Some(6));
        assert_eq!(rt.min_at(21 * 3600 * 1_000_000_000), None);
        let y = rt.cronjobs("hpa", "api", "minReplicas", 2);
        assert!(y.contains("schedule: \"0 8 * * 1,2,3,4,5\""), "{y}");
        assert!(y.contains("schedule: \"0 20 * * 1,2,3,4,5\""), "{y}");
        assert!(y.contains(r#""{\"spec\":{\"minReplicas\":6}}""#), "{y}");
        assert!(y.contains(r#""{\"spec\":{\"minReplicas\":2}}""#), "{y}");
        assert_eq!(y.matches("kind: CronJob").count(), 2);
    }
}
