//! KEDA as a policy: a ScaledObject idles at zero, activates on the first load (the requests
//! that meet no ready pod wait for one: cold starts), scales back to zero after the cooldown;
//! fallback replicas apply while the metric source fails (injected faults); a ScaledObject
//! manifest is the same as the TOML spec; bad configurations are refused with their place.

use autosim::report::{DecisionRow, Report};

use crate::common::{assert_conserved, run, scenario};
use crate::common::autosim;

/// An `http` API at `rate` req/s between `from` and `to` (k6-free step pattern), 50 ms of
/// work, 4 slots per pod, 10 s startup; replicas at the start `replicas`.
fn service(replicas: u32, steps: &str, duration: &str, policy: &str) -> String {
    format!(
        r#"
name = "keda"
duration = "{duration}"
step = "15s"
[metrics]
scrape_interval = "15s"
rate_window = "1m"
pipeline_delay = "0s"
resource_resolution = "15s"
[[services]]
name = "api"
replicas = {replicas}
concurrency = 4
timeout = "2m"
service_time = "50ms"
resources = {{ cpu = "500m", memory = "256Mi" }}
startup = "10s"
workload.pattern = {{ kind = "step", steps = [ {steps} ] }}
[[policies]]
name = "keda"
[policies.pods]
{policy}
"#
    )
}

const RPS_TRIGGER: &str = r#"triggers = [ { type = "prometheus", metadata = { serverAddress = "http://prometheus:9090", query = "sum(rate(ingress_requests_total{service=\"api\"}[1m]))", threshold = "5" } } ]"#;

fn keda(extra: &str) -> String {
    format!("kind = \"keda\"\n{RPS_TRIGGER}\n{extra}")
}

fn applied(r: &Report) -> Vec<(f64, u32, u32, String)> {
    r.decisions
        .iter()
        .filter(|d: &&DecisionRow| d.verdict == "apply")
        .map(|d| (d.time_s, d.from, d.to, d.reason.clone()))
        .collect()
}

#[test]
fn idles_at_zero_activates_on_load_and_returns_to_zero_after_the_cooldown() {
    let toml = service(
        0,
        "{ at = \"0s\", rate = 0 }, { at = \"10m\", rate = 20 }, { at = \"20m\", rate = 0 }",
        "40m",
        &keda("polling_interval = 30\ncooldown_period = 120\nmax_replica_count = 10"),
    );
    let r = run(&scenario(&toml), 0);
    assert_conserved(&r);
    let a = applied(&r);
    // Idle: nothing before the load.
    for row in r.timeseries.iter().filter(|row| row.time_s <= 600.0) {
        assert_eq!(row.replicas_desired, 0, "at {}", row.time_s);
    }
    // Activation: the first poll whose rate() sees the new load (two scrapes) scales 0 -> 1.
    let first = &a[0];
    assert_eq!((first.1, first.2), (0, 1), "{a:?}");
    assert!(first.0 > 600.0 && first.0 <= 600.0 + 2.0 * 15.0 + 30.0, "{a:?}");
    assert!(first.3.starts_with("keda: active: scale from zero to 1"), "{}", first.3);
    // The HPA KEDA created takes it from 1 to 20 / 5 = 4.
    let peak = r.timeseries.iter().filter(|row| row.time_s < 1200.0).map(|row| row.replicas_desired).max().unwrap();
    assert_eq!(peak, 4, "{a:?}");
    // Back to zero: strictly after lastActiveTime + cooldownPeriod, at the first poll after it.
    let zero = a.iter().find(|d| d.2 == 0).expect("a scale to zero");
    let last_active = r
        .decisions
        .iter()
        .filter(|d| d.reason.starts_with("keda: active") && d.time_s < zero.0)
        .map(|d| d.time_s)
        .fold(0.0, f64::max);
    assert!(last_active >= 1200.0, "active until the rate falls to 0: {last_active}");
    assert!(zero.0 > last_active + 120.0 && zero.0 <= last_active + 120.0 + 30.0, "zero at {}, last active {last_active}", zero.0);
    assert!(zero.3.contains("inactive past the cooldown"), "{}", zero.3);
    // Within the cooldown the poll says so.
    assert!(r.decisions.iter().any(|d| d.verdict == "blocked" && d.reason.contains("ScalerCooldown") && d.time_s > last_active));
    assert_eq!(r.timeseries.last().unwrap().replicas_desired, 0);
    assert_eq!(r.timeseries.last().unwrap().pods_ready, 0);
    // Cold starts: the requests of the first seconds waited at the front door for the first
    // pod (the poll's lag plus the 10 s startup) and were then served.
    let cold = &r.summary.services["api"].cold_start;
    assert!(cold.requests > 100, "{cold:?}");
    assert_eq!((cold.completed, cold.timed_out, cold.rejected), (cold.requests, 0, 0), "{cold:?}");
    let ready_at = first.0 + 10.0;
    assert!(cold.wait_max_s > 10.0 && cold.wait_max_s <= ready_at - 600.0 + 0.01, "{cold:?}");
    assert!(r.summary.policy_stats["pods.api.keda_activations"] == 1.0);
    assert!(r.summary.policy_stats["pods.api.keda_scale_to_zero"] == 1.0);
}

#[test]
fn fallback_replicas_apply_while_the_metric_source_fails() {
    let steady = "{ at = \"0s\", rate = 20 }";
    let fault = "faults = [ { from = \"10m\", to = \"20m\" } ]";
    let with_fallback = keda(&format!("min_replica_count = 1\nfallback = {{ failure_threshold = 3, replicas = 7 }}\n{fault}"));
    let r = run(&scenario(&service(4, steady, "35m", &with_fallback)), 0);
    assert_conserved(&r);
    let at = |r: &Report, t: f64| r.timeseries.iter().find(|row| row.time_s >= t).unwrap().replicas_desired;
    assert_eq!(at(&r, 590.0), 4, "20 / 5 before the fault");
    // Failures count on the polling loop (30 s) and the adapter (15 s): past 3 in a row the
    // adapter serves 5 x 7 and the HPA goes to 7 within a minute or so.
    assert_eq!(at(&r, 690.0), 7, "{:?}", applied(&r));
    assert_eq!(at(&r, 1190.0), 7);
    assert!(r.decisions.iter().any(|d| d.reason.contains("(keda fallback)")));
    // The fault spans 600 s: 600 / 30 = 20 polls and 600 / 15 = 40 HPA fetches fail, 60 errors.
    // Failures 1 to 3 (the poll and the fetch at 600 s, the fetch at 615 s) are at or below
    // failure_threshold; from the 4th on the value is the fallback's, and the HPA's fetches that
    // get it are counted: the 38 from 630 s to 1185 s.
    assert_eq!(r.summary.policy_stats["pods.api.keda_metric_errors"], 60.0);
    assert_eq!(r.summary.policy_stats["pods.api.keda_fallback_fetches"], 38.0);
    // After the fault, the real metric again; the legacy downscale stabilization (5 min) holds
    // 7 for a while, then back down: the last recommendation of 7 came from the last fallback
    // fetch, at 1185 s; it falls out of the window after 1185 + 300 s, at the sync of 1500 s.
    let a = applied(&r);
    let down = a.iter().find(|d| d.2 < d.1).expect("a scale-down after the fault");
    assert_eq!((down.0, down.1), (1500.0, 7), "{a:?}");
    // From 7 the HPA goes to ceil(rate / 5), the rate it measured at that sync (the reason
    // says the per-pod value: 7 pods times it): a Poisson rate a little above 20 gives 5, at or
    // below 20 gives 4. And there it stays: at 5 pods the ratio is outside the 10 % tolerance,
    // but ceil(rate / 5) is 5 again (at 4, inside it).
    let per_pod: f64 = down.3.split("s0-prometheus ").nth(1).and_then(|s| s.split("m/5").next()).and_then(|s| s.parse().ok()).expect("the metric in the reason");
    let rate = per_pod / 1000.0 * f64::from(down.1);
    assert!((rate - 20.0).abs() < 2.0, "{rate}");
    assert_eq!(down.2, (rate / 5.0).ceil() as u32, "{down:?}");
    assert_eq!(r.timeseries.last().unwrap().replicas_desired, down.2, "{a:?}");

    // Without a fallback the HPA's metric is invalid: no scaling, 4 all along; KEDA logs the
    // trigger error.
    let without = keda(&format!("min_replica_count = 1\n{fault}"));
    let r = run(&scenario(&service(4, steady, "35m", &without)), 0);
    assert!(r.timeseries.iter().all(|row| row.replicas_desired == 4), "{:?}", applied(&r));
    assert!(r.decisions.iter().any(|d| d.reason.contains("TriggerError") && d.reason.contains("injected failure")));

    // A fault with a probability fails some fetches only, the same ones on every run. Every
    // fetch leaves one decision row (a poll's, or the HPA's sync), a failed one naming the
    // injected failure: the errors counted are exactly those rows. The polls (every 30 s from
    // 0 to 600 s: 21) and the HPA's syncs (every 15 s from 15 s: 40) are 61 fetches, each
    // failing with probability 0.5 from a fixed hash of its time: the count is Binomial(61,
    // 1/2), 30.5 +- 3.9, and within 3 standard deviations.
    let flaky = keda("min_replica_count = 1\nfaults = [ { probability = 0.5 } ]");
    let r1 = run(&scenario(&service(4, steady, "10m", &flaky)), 0);
    let r2 = run(&scenario(&service(4, steady, "10m", &flaky)), 0);
    let e = r1.summary.policy_stats["pods.api.keda_metric_errors"];
    let fetches = r1.decisions.len() as f64;
    let failed = r1.decisions.iter().filter(|d| d.reason.contains("injected failure")).count() as f64;
    assert_eq!(r1.summary.policy_stats["pods.api.keda_polls"], 21.0);
    assert_eq!(fetches, 21.0 + 40.0, "one row per fetch");
    assert_eq!(e, failed, "every error is a failed fetch in the log");
    let (mean, sd) = (fetches / 2.0, (fetches / 4.0).sqrt());
    assert!((e - mean).abs() <= 3.0 * sd, "{e} errors of {fetches} fetches");
    assert!(r1.decisions.iter().any(|d| d.reason.starts_with("keda: trigger errors")) && r1.decisions.iter().any(|d| d.reason.contains("FailedGetExternalMetric")), "both the polls and the HPA's fetches fail");
    assert_eq!(e, r2.summary.policy_stats["pods.api.keda_metric_errors"]);
}

/// `fallback.behavior` in a run: 20 req/s at 5 per pod holds 4 pods; the trigger fails from
/// 10 to 20 minutes. `currentReplicas` serves target x 4 (the HPA holds 4, though fallback
/// values were served); `currentReplicasIfLower` with 2 serves target x min(4, 2): the HPA goes
/// down to 2 (after the legacy 5-minute downscale stabilization, so by 16 minutes) and stays
/// there to the fault's end (min(2, 2)); with 7 it serves min(4, 7) = 4 and holds.
#[test]
fn fallback_behaviors_current_replicas_and_if_lower_in_a_run() {
    let steady = "{ at = \"0s\", rate = 20 }";
    let fault = "faults = [ { from = \"10m\", to = \"20m\" } ]";
    let with = |fallback: &str| {
        let r = run(&scenario(&service(4, steady, "25m", &keda(&format!("min_replica_count = 1\nfallback = {{ {fallback} }}\n{fault}")))), 0);
        assert_conserved(&r);
        // As in the test above, the HPA's fetches that get the fallback value are those from
        // the 4th failure (630 s) to the fault's end: 630, 645, ..., 1185 s, 38.
        assert_eq!(r.summary.policy_stats["pods.api.keda_fallback_fetches"], 38.0, "{fallback}");
        r
    };
    let desired = |r: &Report, t: f64| r.timeseries.iter().find(|row| row.time_s >= t).unwrap().replicas_desired;
    let r = with("failure_threshold = 3, replicas = 7, behavior = \"currentReplicas\"");
    for t in [590.0, 700.0, 900.0, 1180.0] {
        assert_eq!(desired(&r, t), 4, "currentReplicas holds 4 at {t}: {:?}", applied(&r));
    }
    let r = with("failure_threshold = 3, replicas = 2, behavior = \"currentReplicasIfLower\"");
    assert_eq!(desired(&r, 590.0), 4);
    let down = applied(&r).into_iter().find(|d| d.2 < d.1).expect("a scale-down to the fallback");
    assert_eq!((down.1, down.2), (4, 2), "{down:?}");
    // The last recommendation of 4 was made at 585 s, the last good fetch (the ones at 600 and
    // 615 s fail below the threshold and recommend nothing; from 630 s the fallback asks for 2).
    // The legacy 5-minute downscale window holds it until it falls out: the first sync after
    // 585 + 300 s, at 900 s.
    assert_eq!(down.0, 900.0, "{down:?}");
    assert_eq!(desired(&r, 1180.0), 2);
    let r = with("failure_threshold = 3, replicas = 7, behavior = \"currentReplicasIfLower\"");
    for t in [590.0, 700.0, 900.0, 1180.0] {
        assert_eq!(desired(&r, t), 4, "min(4, 7) holds 4 at {t}: {:?}", applied(&r));
    }
}

#[test]
fn a_redis_list_trigger_scales_a_queue_worker_from_zero() {
    let toml = r#"
name = "worker"
duration = "30m"
step = "15s"
[metrics]
scrape_interval = "15s"
pipeline_delay = "5s"
[[services]]
name = "jobs"
kind = "queue"
replicas = 0
concurrency = 2
service_time = "2s"
startup = "20s"
workload.pattern = { kind = "step", steps = [ { at = "0s", rate = 0 }, { at = "5m", rate = 4 }, { at = "15m", rate = 0 } ] }
[[policies]]
name = "keda"
[policies.pods]
kind = "keda"
polling_interval = 15
cooldown_period = 60
max_replica_count = 20
triggers = [ { type = "redis", metadata = { address = "redis:6379", listName = "jobs", listLength = "4" } } ]
"#;
    let r = run(&scenario(toml), 0);
    assert_conserved(&r);
    let a = applied(&r);
    assert!(a[0].0 > 300.0 && a[0].0 <= 300.0 + 15.0 + 5.0 + 15.0 + 1.0 && a[0].2 == 1, "{a:?}");
    // 4 jobs/s of 2 s each: 8 busy slots = 4 workers at least.
    let peak = r.timeseries.iter().map(|row| row.replicas_desired).max().unwrap();
    assert!(peak >= 4, "{a:?}");
    assert_eq!(r.timeseries.last().unwrap().replicas_desired, 0, "{a:?}");
    let cold = &r.summary.services["jobs"].cold_start;
    assert!(cold.requests > 0 && cold.wait_max_s >= 20.0, "{cold:?}");
}

#[test]
fn a_scaledobject_manifest_is_the_same_as_the_toml_spec() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("so.yaml"),
        r#"apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: api
  namespace: shop
spec:
  scaleTargetRef:
    name: api
  pollingInterval: 30
  cooldownPeriod: 120
  maxReplicaCount: 10
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown:
          stabilizationWindowSeconds: 60
  triggers:
  - type: prometheus
    metadata:
      serverAddress: http://prometheus:9090
      query: sum(rate(ingress_requests_total{service="api"}[1m]))
      threshold: "5"
"#,
    )
    .unwrap();
    let steps = "{ at = \"0s\", rate = 0 }, { at = \"5m\", rate = 20 }, { at = \"12m\", rate = 0 }";
    let inline = keda("polling_interval = 30\ncooldown_period = 120\nmax_replica_count = 10\nadvanced = { horizontal_pod_autoscaler_config = { behavior = { scale_down = { stabilization_window_seconds = 60 } } } }");
    let from_toml = run(&scenario(&service(0, steps, "25m", &inline)), 0);
    let sc = autosim::parse(&service(0, steps, "25m", "kind = \"keda\"\nmanifest = \"so.yaml\""), dir.path()).unwrap();
    let from_yaml = run(&sc, 0);
    assert_eq!(serde_json::to_string(&from_toml.summary).unwrap(), serde_json::to_string(&from_yaml.summary).unwrap());
    assert_eq!(applied(&from_toml), applied(&from_yaml));
    assert!(applied(&from_toml).len() >= 3);
}

fn err(toml: &str, files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (n, t) in files {
        std::fs::write(dir.path().join(n), t).unwrap();
    }
    let e = autosim::parse(toml, dir.path()).unwrap_err();
    autosim::scenario::ScenarioError::locate(std::path::Path::new("s.toml"), toml, e).to_string()
}

#[test]
fn bad_keda_configurations_are_refused_with_their_place() {
    let s = |p: &str| service(0, "{ at = \"0s\", rate = 1 }", "5m", p);
    let e = err(&s("kind = \"keda\"\ntriggers = [ { type = \"kafka\", metadata = { threshold = \"5\" } } ]"), &[]);
    assert!(e.contains("s.toml:") && e.contains("\"kafka\" is not simulated"), "{e}");
    let e = err(&s("kind = \"keda\"\ntriggers = [ { type = \"prometheus\", metadata = { query = \"sum(rate(nope[1m]))\", threshold = \"5\" } } ]"), &[]);
    assert!(e.contains("metadata.query"), "{e}");
    let e = err(&s("kind = \"keda\"\ntriggers = [ { type = \"prometheus\", metadata = { query = \"sum(queue_length)\" } } ]"), &[]);
    assert!(e.contains("no threshold given"), "{e}");
    let e = err(&s("kind = \"keda\"\ntriggers = [ { type = \"cpu\", metric_type = \"Utilization\", metadata = { value = \"50\" } } ]"), &[]);
    assert!(e.contains("minReplicaCount 0"), "{e}");
    let e = err(&s(&keda("min_replica_count = 5\nmax_replica_count = 2")), &[]);
    assert!(e.contains("MinReplicaCount=5 must be less than MaxReplicaCount=2"), "{e}");
    let e = err(&s(&keda("polling_intervall = 30")), &[]);
    assert!(e.contains("unknown key `polling_intervall`"), "{e}");
    let e = err(&s(&keda("faults = [ { trigger = \"nope\" } ]")), &[]);
    assert!(e.contains("faults[0]") && e.contains("\"nope\""), "{e}");
    let e = err(&s(&keda("faults = [ { probability = 2 } ]")), &[]);
    assert!(e.contains("probability"), "{e}");
    let e = err(&s("kind = \"keda\"\nmanifest = \"so.yaml\""), &[("so.yaml", "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: x\nspec:\n  scaleTargetRef: {name: api}\n  pollingIntervall: 3\n  triggers: []\n")]);
    assert!(e.contains("so.yaml:7:") && e.contains("pollingIntervall"), "{e}");
    let e = err(&s("kind = \"keda\"\nmanifest = \"so.yaml\""), &[("so.yaml", "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: x\nspec:\n  scaleTargetRef: {name: web}\n  triggers: []\n")]);
    assert!(e.contains("no ScaledObject whose scaleTargetRef.name is \"api\""), "{e}");
}


#[test]
fn through_the_cli_a_bad_scaledobject_exits_2_and_a_schedule_writes_its_cronjobs() {
    use std::ffi::OsStr;
    let dir = tempfile::tempdir().unwrap();
    let bad = service(0, "{ at = \"0s\", rate = 1 }", "5m", &keda("cooldown_period = \"5m\""));
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, &bad).unwrap();
    let (code, _, stderr) = autosim(&[OsStr::new("validate"), file.as_os_str()]);
    assert_eq!(code, 2, "{stderr}");
    let line = bad.lines().position(|l| l.starts_with("cooldown_period")).unwrap() + 1;
    assert!(stderr.contains(&format!("bad.toml:{line}:")) && stderr.contains("cooldown_period"), "{stderr}");

    let good = service(0, "{ at = \"0s\", rate = 1 }", "5m", &keda("schedule = { entries = [ { days = \"mon-fri\", hours = \"8-18\", min_replicas = 2 } ] }"));
    let file = dir.path().join("good.toml");
    std::fs::write(&file, &good).unwrap();
    let out = dir.path().join("out");
    let (code, _, stderr) = autosim(&[OsStr::new("run"), file.as_os_str(), OsStr::new("--quiet"), OsStr::new("--out"), out.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    let yaml = std::fs::read_to_string(out.join("keda").join("cronjobs-api.yaml")).unwrap();
    assert!(yaml.contains("kind: CronJob") && yaml.contains("schedule: \"0 8 * * 1,2,3,4,5\""), "{yaml}");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("keda").join("summary.json")).unwrap()).unwrap();
    assert!(summary["services"]["api"]["cold_start"]["requests"].is_number(), "{summary}");
}
