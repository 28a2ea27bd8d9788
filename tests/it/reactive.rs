//! Seed 000's reactive autoscaler as a policy: the situations of the seed's example log
//! (UPSCALE when the smoothed request rate reaches an upper bound, BLOCKED inside the cooldown
//! with the wait left, DOWNSCALE below a lower bound), the EMA as the seed computes it,
//! hysteresis against flapping, and bad configurations refused with their place.

use autosim::report::{DecisionRow, Report};

use crate::common::{assert_conserved, run, scenario};

/// One `http` service with plenty of capacity per pod (the request rate, not the pods, is
/// what matters here), scraped every 15 s without pipeline delay.
fn service(name: &str, replicas: u32, load: &str, policy: &str) -> String {
    format!(
        r#"
name = "reactive"
duration = "30m"
step = "30s"
[metrics]
scrape_interval = "15s"
rate_window = "1m"
pipeline_delay = "0s"
[[services]]
name = "{name}"
replicas = {replicas}
concurrency = 100
service_time = "10ms"
resources = {{ cpu = "500m", memory = "256Mi" }}
startup = "5s"
workload.pattern = {load}
[[policies]]
name = "reactive"
[policies.pods]
kind = "reactive"
{policy}
"#
    )
}

fn applied(r: &Report) -> Vec<&DecisionRow> {
    r.decisions.iter().filter(|d| d.verdict == "apply").collect()
}

/// The pipeline starts cold at t = 0: the first readings of a 1-minute `rate()` see less than a
/// minute of samples, which Prometheus extrapolates only so far (about half the rate at 30 s),
/// and the seed's EMA takes its first reading as it is. What follows the first two minutes.
fn applied_warm(r: &Report) -> Vec<&DecisionRow> {
    applied(r).into_iter().filter(|d| d.time_s > 120.0).collect()
}

/// The number after `key` in a reason (`RPS 65.3`, `raw 70.1`).
fn number_after(reason: &str, key: &str) -> f64 {
    let i = reason.find(key).unwrap_or_else(|| panic!("no {key:?} in {reason:?}")) + key.len();
    reason[i..].trim_start().split(|c: char| !(c.is_ascii_digit() || c == '.')).next().unwrap().parse().unwrap()
}

const TABLE: &str = r#"service_thresholds.frontend = { "1" = [30, 0], "2" = [60, 25], "3" = [120, 50], "4" = [inf, 100] }"#;

#[test]
fn the_seeds_log_situations_reproduce() {
    // 40 req/s, a jump to 150 at 5 min, down to 35 at 15 min. With alpha 0.7 the smoothed rate
    // crosses 2's upper bound (60) first: 2 -> 3; it crosses 3's (120) within the cooldown:
    // BLOCKED with the wait left; then 3 -> 4 once the cooldown is over. After the drop it falls
    // below 4's lower bound (100): DOWNSCALE, down to 2 (whose bounds hold 35).
    let load = r#"{ kind = "step", steps = [ { at = "0s", rate = 40 }, { at = "5m", rate = 150 }, { at = "15m", rate = 35 } ] }"#;
    let r = run(&scenario(&service("frontend", 2, load, TABLE)), 0);
    assert_conserved(&r);
    let a = applied_warm(&r);
    let steps: Vec<(u32, u32)> = a.iter().map(|d| (d.from, d.to)).collect();
    assert_eq!(&steps[..2], &[(2, 3), (3, 4)], "{steps:?}");
    assert!(a[0].reason.starts_with("UPSCALE: frontend 2→3 | Scale up: RPS ") && a[0].reason.contains(">= 60.0"), "{}", a[0].reason);
    assert!(number_after(&a[0].reason, "RPS") >= 60.0, "{}", a[0].reason);
    assert!(a[0].time_s > 300.0 && a[0].time_s <= 360.0, "{}", a[0].time_s);
    // The blocked attempt between the two scale-ups, with the seed's wait: int(cooldown - since).
    let blocked: Vec<&DecisionRow> = r.decisions.iter().filter(|d| d.verdict == "blocked").collect();
    let b = blocked.iter().find(|d| d.time_s > a[0].time_s && d.time_s < a[1].time_s).expect("a blocked scale-up");
    assert!(b.reason.starts_with("BLOCKED: frontend | Cooldown: wait "), "{}", b.reason);
    let wait = number_after(&b.reason, "wait");
    assert_eq!(wait, (60.0 - (b.time_s - a[0].time_s)).floor(), "{}", b.reason);
    assert_eq!((b.from, b.to), (3, 4));
    assert!(a[1].time_s - a[0].time_s >= 60.0, "the cooldown holds: {:?}", (a[0].time_s, a[1].time_s));
    // Every applied change keeps the cooldown.
    for w in a.windows(2) {
        assert!(w[1].time_s - w[0].time_s >= 60.0, "{:?}", (w[0].time_s, w[1].time_s));
    }
    // Down after the drop, below 4's lower bound.
    let down = a.iter().find(|d| d.reason.starts_with("DOWNSCALE: frontend 4→")).expect("a downscale from 4");
    assert!(down.reason.contains("< 100.0") && number_after(&down.reason, "RPS") < 100.0, "{}", down.reason);
    assert!(down.time_s > 900.0);
    assert_eq!(r.timeseries.last().unwrap().replicas_desired, 2);
    assert_eq!(a.last().unwrap().to, 2);
}

#[test]
fn the_ema_is_the_seeds() {
    // s = 0.7 x + 0.3 s, the first reading taken as it is; read back from the logged values.
    let load = r#"{ kind = "step", steps = [ { at = "0s", rate = 20 }, { at = "3m", rate = 45 } ] }"#;
    let r = run(&scenario(&service("frontend", 2, load, TABLE)), 0);
    let mut prev: Option<f64> = None;
    let mut checked = 0;
    for d in r.decisions.iter().filter(|d| d.reason.contains("(raw ")) {
        let (s, raw) = (number_after(&d.reason, "RPS"), number_after(&d.reason, "(raw"));
        let expect = match prev {
            None => raw,
            Some(p) => 0.7 * raw + 0.3 * p,
        };
        // Both are printed to 0.1.
        assert!((s - expect).abs() <= 0.1, "{}: {s} vs {expect}", d.reason);
        prev = Some(s);
        checked += 1;
    }
    assert!(checked > 30, "{checked}");
    // No data at t = 0 (no two samples yet): logged, nothing done.
    assert!(r.decisions[0].reason.starts_with("No RPS data for frontend"), "{}", r.decisions[0].reason);
}

#[test]
fn hysteresis_keeps_either_count_between_adjacent_bounds() {
    // 27.5 req/s (with 2% noise per minute) is inside 2's [8, 30) and 3's [25, 60) of the seed's
    // default table: at 2 replicas it stays at 2; brought to 3 by 45 req/s first, it stays at 3
    // when the rate falls back to 27.5. No cooldown: only the bounds hold the count.
    let steady = r#"{ kind = "noise", of = { kind = "constant", rate = 27.5 }, sd = 0.02 }"#;
    let r = run(&scenario(&service("api", 2, steady, "cooldown = \"0s\"")), 0);
    assert!(applied(&r).is_empty(), "{:?}", applied(&r).iter().map(|d| &d.reason).collect::<Vec<_>>());
    assert!(r.decisions.iter().filter(|d| d.reason.starts_with("NO_CHANGE: api @ 2 replicas")).count() > 50);
    let down = r#"{ kind = "noise", sd = 0.02, of = { kind = "step", steps = [ { at = "0s", rate = 45 }, { at = "5m", rate = 27.5 } ] } }"#;
    let r = run(&scenario(&service("api", 2, down, "cooldown = \"0s\"")), 0);
    let steps: Vec<(f64, u32, u32)> = applied(&r).iter().map(|d| (d.time_s, d.from, d.to)).collect();
    assert_eq!(steps.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(), vec![(2, 3)], "{steps:?}");
    assert!(steps[0].0 < 300.0);
    assert!(r.decisions.iter().filter(|d| d.time_s > 400.0 && d.reason.starts_with("NO_CHANGE: api @ 3 replicas")).count() > 40);
    // The same steady load on a table whose adjacent bounds meet (no overlap) flaps between 2 and 3.
    let flat = r#"rps_thresholds = { "1" = [10, 0], "2" = [27.5, 8], "3" = [60, 27.5], "4" = [100, 50], "5" = [inf, 90] }
cooldown = "0s"
ema_alpha = 1.0"#;
    let r = run(&scenario(&service("api", 2, steady, flat)), 0);
    let a = applied(&r);
    assert!(a.len() >= 4, "expected flapping without hysteresis: {} changes", a.len());
    assert!(a.iter().all(|d| (d.from, d.to) == (2, 3) || (d.from, d.to) == (3, 2)), "{:?}", a.iter().map(|d| (d.from, d.to)).collect::<Vec<_>>());
}

#[test]
fn cpu_metric_reads_cores_per_pod() {
    // 80 req/s x 10 ms of CPU = 0.8 cores over 2 pods: 0.4 each, above 2's upper bound (0.3)
    // and below 3's (0.5): 2 -> 3.
    let load = r#"{ kind = "constant", rate = 80 }"#;
    let r = run(&scenario(&service("api", 2, load, "metric = \"cpu\"")), 0);
    let a = applied(&r);
    assert!(!a.is_empty());
    assert!(a[0].reason.starts_with("UPSCALE: api 2→3 | Scale up: CPU 0.") && a[0].reason.contains(">= 0.30"), "{}", a[0].reason);
    let cpu = number_after(&a[0].reason, "CPU");
    assert!((0.3..0.5).contains(&cpu), "{}", a[0].reason);
}

fn err(toml: &str) -> String {
    let e = autosim::parse(toml, std::path::Path::new(".")).unwrap_err();
    autosim::scenario::ScenarioError::locate(std::path::Path::new("s.toml"), toml, e).to_string()
}

#[test]
fn bad_reactive_configurations_are_refused_with_their_place() {
    let load = r#"{ kind = "constant", rate = 10 }"#;
    let e = err(&service("api", 2, load, r#"rps_thresholds = { "1" = [10, 0], "3" = [60, 25] }"#));
    assert!(e.starts_with("s.toml:21:18: ") && e.contains("no entry for 2 replicas"), "{e}");
    let e = err(&service("api", 2, load, r#"rps_thresholds = { "1" = [10, 20] }"#));
    assert!(e.contains("s.toml:21:") && e.contains("lower bound is above"), "{e}");
    let e = err(&service("api", 2, load, "ema_alpha = 1.5"));
    assert!(e.starts_with("s.toml:21:13: ") && e.contains("(0, 1]"), "{e}");
    let e = err(&service("api", 2, load, "metric = \"memory\""));
    assert!(e.contains("s.toml:21:10: ") && e.contains("\"rps\""), "{e}");
    let e = err(&service("api", 2, load, r#"cpu_thresholds = { "1" = [0.1, 0] }"#));
    assert!(e.contains("s.toml:21:") && e.contains("metric = \"cpu\""), "{e}");
    let e = err(&service("api", 2, load, r#"service_thresholds.web = { "1" = [10, 0] }"#));
    assert!(e.contains("\"web\" is not a service"), "{e}");
    let e = err(&service("api", 2, load, "max_replicas = 0"));
    assert!(e.contains("`max_replicas`"), "{e}");
    let e = err(&service("api", 2, load, "query = \"sum(rate(nope[1m]))\""));
    assert!(e.contains("s.toml:21:") && e.contains("`query`"), "{e}");
    let e = err(&service("api", 2, load, "cooldow = \"1m\""));
    assert!(e.contains("s.toml:21:1: ") && e.contains("unknown key `cooldow`") && e.contains("`cooldown`"), "{e}");
}
