//! Scheduled scaling on top of the HPA or KEDA: the minimum is raised at the given hours (and
//! learned from the observed history), and the schedule is exported as CronJobs.

use crate::common::{run, scenario};

fn service(policy: &str) -> String {
    format!(
        r#"
name = "sched"
duration = "3h"
step = "1m"
[metrics]
scrape_interval = "15s"
[[services]]
name = "api"
replicas = 1
concurrency = 4
service_time = "50ms"
startup = "5s"
workload.pattern = {{ kind = "constant", rate = 2 }}
[[policies]]
name = "p"
[policies.pods]
{policy}
"#
    )
}

fn at(r: &autosim::report::Report, t: f64) -> u32 {
    r.timeseries.iter().find(|row| row.time_s >= t).unwrap().replicas_desired
}

#[test]
fn a_schedule_raises_the_hpa_minimum_at_the_given_hours() {
    let p = r#"kind = "hpa"
min_replicas = 1
max_replicas = 10
metrics = [ { type = "Pods", pods = { metric = { name = "http_requests_per_second" }, target = { type = "AverageValue", average_value = "1000" } } } ]
schedule = { start = "mon 00:00", entries = [ { days = "mon-fri", hours = "1-2", min_replicas = 5 } ] }"#;
    let r = run(&scenario(&service(p)), 0);
    assert_eq!(at(&r, 3540.0), 1);
    // From 01:00 the next sync finds minReplicas 5: TooFewReplicas.
    assert_eq!(at(&r, 3600.0 + 60.0), 5);
    assert_eq!(at(&r, 7140.0), 5);
    let up = r.decisions.iter().find(|d| d.verdict == "apply" && d.to == 5).unwrap();
    assert!(up.time_s >= 3600.0 && up.time_s <= 3615.0, "{up:?}");
    // At 02:00 the minimum is 1 again; the low load brings it down after the stabilization.
    assert_eq!(at(&r, 7200.0 + 400.0), 1);
    let (name, yaml) = &r.files[0];
    assert_eq!(name, "cronjobs-api.yaml");
    assert!(yaml.contains("schedule: \"0 1 * * 1,2,3,4,5\"") && yaml.contains("schedule: \"0 2 * * 1,2,3,4,5\""), "{yaml}");
    assert!(yaml.contains("\\\"minReplicas\\\":5") && yaml.contains("\\\"minReplicas\\\":1"), "{yaml}");

    // Not on a weekend.
    let r = run(&scenario(&service(&p.replace("mon 00:00", "sat 00:00"))), 0);
    assert!(r.timeseries.iter().all(|row| row.replicas_desired == 1));
}

#[test]
fn a_schedule_on_keda_raises_min_replica_count_from_zero() {
    let p = r#"kind = "keda"
triggers = [ { type = "prometheus", metadata = { query = "sum(rate(ingress_requests_total[1m]))", threshold = "100", activationThreshold = "50" } } ]
cooldown_period = 60
schedule = { entries = [ { hours = "1-2", min_replicas = 3 } ] }"#;
    let r = run(&scenario(&service(p)), 0);
    // Inactive (2 req/s < 50): at zero, except 3 during 01:00-02:00.
    assert_eq!(at(&r, 1800.0), 0);
    assert_eq!(at(&r, 3600.0 + 60.0), 3);
    assert_eq!(at(&r, 7140.0), 3);
    assert_eq!(at(&r, 7200.0 + 300.0), 0);
    assert!(r.decisions.iter().any(|d| d.reason.contains("below minReplicaCount: scale to 3")));
    assert!(r.files[0].1.contains("kubectl\", \"patch\", \"scaledobject\", \"api\""), "{}", r.files[0].1);
}

#[test]
fn a_schedule_learned_from_the_first_day() {
    // A day in each simulated hour (speedup 24): the load peaks at 40 req/s in the wall hours
    // 12:00-14:00 (simulated 30:00-35:00 of each hour), 2 req/s otherwise.
    let mut steps = Vec::new();
    for h in 0..3 {
        steps.push(format!("{{ at = \"{}s\", rate = 2 }}", h * 3600));
        steps.push(format!("{{ at = \"{}s\", rate = 40 }}", h * 3600 + 1800));
        steps.push(format!("{{ at = \"{}s\", rate = 2 }}", h * 3600 + 2100));
    }
    let toml = service(
        r#"kind = "hpa"
min_replicas = 1
max_replicas = 10
metrics = [ { type = "Pods", pods = { metric = { name = "http_requests_per_second" }, target = { type = "AverageValue", average_value = "1000" } } } ]
schedule = { speedup = 24, learn = { metric = "sum(rate(ingress_requests_total[1m]))", per_replica = 15, for = "1d" } }"#,
    )
    .replace("workload.pattern = { kind = \"constant\", rate = 2 }", &format!("workload.pattern = {{ kind = \"step\", steps = [ {} ] }}", steps.join(", ")));
    let r = run(&scenario(&toml), 0);
    // The metric never asks for more than 1; the learned schedule holds 3 (40 / 15) in the
    // wall hours 12 and 13 of the following days, from 12:00 (simulated 1h30m) on.
    assert_eq!(at(&r, 1830.0), 1, "still learning on the first day");
    assert_eq!(at(&r, 3600.0 + 1800.0 + 60.0), 3);
    assert_eq!(at(&r, 2.0 * 3600.0 + 1800.0 + 60.0), 3);
    assert_eq!(at(&r, 3600.0 + 1200.0), 1);
    let yaml = &r.files[0].1;
    // The learned schedule as CronJobs: every day (cron's 1..6 for Monday to Saturday, 0 for
    // Sunday) the minimum goes to 3 at 12:00 and back to the HPA's 1 at 15:00, and nothing else.
    // Hour 14 learns 3 as well: at its start the metric's `rate(...[1m])` (a minute of
    // simulated time, 24 wall minutes at speedup 24) still spans the peak that ended at 14:00.
    let every_day = "1,2,3,4,5,6,0";
    let jobs: Vec<&str> = yaml.split("---\n").skip(1).collect();
    assert_eq!(jobs.len(), 2, "{yaml}");
    assert!(jobs[0].contains(&format!("schedule: \"0 12 * * {every_day}\"")) && jobs[0].contains(r#""{\"spec\":{\"minReplicas\":3}}""#), "{}", jobs[0]);
    assert!(jobs[1].contains(&format!("schedule: \"0 15 * * {every_day}\"")) && jobs[1].contains(r#""{\"spec\":{\"minReplicas\":1}}""#), "{}", jobs[1]);
    assert!(jobs[0].contains("autosim/days: \"mon,tue,wed,thu,fri,sat,sun\""), "{}", jobs[0]);
}

#[test]
fn bad_schedules_are_refused() {
    let bad = |s: &str| {
        let toml = service(&format!("kind = \"hpa\"\nmax_replicas = 5\nschedule = {s}"));
        let e = autosim::parse(&toml, std::path::Path::new(".")).unwrap_err();
        autosim::scenario::ScenarioError::locate(std::path::Path::new("s.toml"), &toml, e).to_string()
    };
    let e = bad("{ entries = [ { days = \"funday\", hours = \"1-2\", min_replicas = 3 } ] }");
    assert!(e.contains("s.toml:") && e.contains("unknown day \"funday\""), "{e}");
    let e = bad("{ entries = [ { hours = \"20-8\", min_replicas = 3 } ] }");
    assert!(e.contains("hours"), "{e}");
    let e = bad("{}");
    assert!(e.contains("expected `entries"), "{e}");
    let e = bad("{ entries = [ { hours = \"1\", min_replica = 3 } ] }");
    assert!(e.contains("min_replica"), "{e}");
}

/// Seed 003's generator (`learn.method = "seed-003"`), on a day whose only peak is 10:00 to
/// 12:00: 2 requests per second, 40 in the peak. The hourly averages are about 2, and about 37
/// and 40 in the peak hours (the rate's 30 s window lags the jump): the average is about 5, so
/// hours 10 and 11 are above 1.5 x the average and no other hour is. Pre-scaled from 09:30 to 6
/// replicas, back to 1 at 12:00, on weekdays; Monday (the first simulated day) teaches it.
#[test]
fn seed_003s_generator_pre_scales_half_an_hour_before_each_peak() {
    let p = r#"kind = "hpa"
min_replicas = 1
max_replicas = 10
metrics = [ { type = "Pods", pods = { metric = { name = "http_requests_per_second" }, target = { type = "AverageValue", average_value = "1000" } } } ]
schedule = { start = "mon 00:00", speedup = 6, learn = { metric = "sum(rate(ingress_requests_total[30s]))", for = "1d", method = "seed-003", min_replicas = 1, max_replicas = 6 } }"#;
    // A wall-clock hour is 10 simulated minutes: the peak is 100 to 120 minutes in.
    let sc = service(p)
        .replace("duration = \"3h\"", "duration = \"8h\"")
        .replace("{ kind = \"constant\", rate = 2 }", "{ kind = \"spike\", base = 2, peak = 40, at = \"100m\", rise = \"1s\", hold = \"20m\", fall = \"1s\" }");
    let r = run(&scenario(&sc), 0);
    // Monday: no schedule yet; the Tuesday has no peak of its own, only the scheduled minimum.
    let tue = 240.0 * 60.0;
    assert_eq!(at(&r, tue + 90.0 * 60.0), 1, "Tuesday 09:00");
    assert_eq!(at(&r, tue + 97.0 * 60.0), 6, "Tuesday 09:42");
    assert_eq!(at(&r, tue + 119.0 * 60.0), 6, "Tuesday 11:54");
    let (name, yaml) = &r.files[0];
    assert_eq!(name, "cronjobs-api.yaml");
    assert!(yaml.contains("# weekday: average") && yaml.contains("peak hours 10:00, 11:00\n"), "{yaml}");
    assert!(yaml.contains("# weekend: average no data; peak hours none"), "{yaml}");
    assert!(yaml.contains("schedule: \"30 9 * * 1-5\"") && yaml.contains("schedule: \"0 12 * * 1-5\""), "{yaml}");
    assert!(yaml.contains("\\\"minReplicas\\\":6") && yaml.contains("\\\"minReplicas\\\":1"), "{yaml}");
    assert_eq!(yaml.matches("kind: CronJob").count(), 2, "{yaml}");
}

#[test]
fn seed_003s_generator_is_checked_where_it_is_given() {
    for (learn, want) in [
        ("method = \"seed-003\", per_replica = 20", "per_replica goes with"),
        ("method = \"seed-003\", min_replicas = 5, max_replicas = 2", "min_replicas <= max_replicas"),
        ("method = \"seed-003\", by = \"weekday_hour\"", "weekday_weekend"),
        ("method = \"oracle\"", "learn.method"),
        ("min_replicas = 2, per_replica = 20", "max_replicas go with `method"),
    ] {
        let p = format!(
            "kind = \"hpa\"\nmin_replicas = 1\nmax_replicas = 10\nmetrics = [ {{ type = \"Pods\", pods = {{ metric = {{ name = \"http_requests_per_second\" }}, target = {{ type = \"AverageValue\", average_value = \"1000\" }} }} }} ]\nschedule = {{ learn = {{ metric = \"sum(rate(ingress_requests_total[30s]))\", for = \"1d\", {learn} }} }}"
        );
        let toml = service(&p);
        let e = autosim::parse(&toml, std::path::Path::new(".")).map(|_| ()).unwrap_err();
        let e = autosim::scenario::ScenarioError::locate(std::path::Path::new("s.toml"), &toml, e).to_string();
        assert!(e.contains(want), "{learn}: {e}");
    }
}
