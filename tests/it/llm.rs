//! Seed 003's AI scaling engine as `kind = "llm-stub"`: with no latency and no failures the
//! stand-in decides as its rules do; with failures the seed's fallback decides; the 2x cap and
//! the confidence gate hold; answers land `latency` later; an external `command` is asked
//! with a timeout; a recorded run replays byte for byte; bad configurations are refused with
//! their place.

use std::path::{Path, PathBuf};
use std::process::Command;

use autosim::policy::llm::{fallback_decision, stub_decision, Action, Snapshot};
use autosim::report::{DecisionRow, Report};

use crate::common::{assert_conserved, root, run, scenario};

/// One `http` service: `rate` req/s of constant 20 ms work and 20 ms CPU, 500m CPU requested
/// per pod (so 75 req/s is 1.5 cores: 100% of 3 pods), memory at 50% of its request, plenty
/// of slots (no errors, no queueing) unless `svc` says otherwise.
fn service(replicas: u32, rate: f64, svc: &str, policy: &str) -> String {
    format!(
        r#"
name = "llm"
duration = "10m"
step = "30s"
[metrics]
scrape_interval = "15s"
rate_window = "1m"
pipeline_delay = "0s"
[[services]]
name = "api"
replicas = {replicas}
concurrency = 50
service_time = "20ms"
cpu_per_request = "20ms"
memory_base = "128Mi"
resources = {{ cpu = "500m", memory = "256Mi" }}
startup = "5s"
{svc}
workload.k6 = {{ executor = "constant-arrival-rate", rate = {rate}, duration = "10m", pre_allocated_vus = 100 }}
[[policies]]
name = "llm"
[policies.pods]
kind = "llm-stub"
min_replicas = 1
{policy}
"#
    )
}

fn applied(r: &Report) -> Vec<(u32, u32)> {
    r.decisions.iter().filter(|d| d.verdict == "apply").map(|d| (d.from, d.to)).collect()
}

fn landed(r: &Report) -> Vec<&DecisionRow> {
    r.decisions.iter().filter(|d| !d.reason.starts_with("metrics unavailable")).collect()
}

fn snap(cpu: f64, n: u32) -> Snapshot {
    Snapshot {
        service: "api".into(),
        time_s: 60.0,
        cpu_utilization_percent: cpu,
        memory_utilization_percent: 50.0,
        request_rate_per_second: 75.0,
        response_time_ms: 20.0,
        error_rate_percent: 0.0,
        active_connections: 2,
        queue_depth: 0,
        current_pod_count: n,
        ready_pod_count: n,
        min_replicas: 1,
        max_replicas: 20,
        historical_metrics: Vec::new(),
    }
}

#[test]
fn with_no_latency_and_no_failures_the_stand_in_decides_as_its_rules() {
    // 100% CPU on 3 pods: the rules add half (rounded up): 5 pods, at 60% CPU: maintain.
    let r = run(&scenario(&service(3, 75.0, "", "")), 0);
    assert_conserved(&r);
    let rule = stub_decision(&snap(100.0, 3));
    assert_eq!((rule.action, rule.recommended_pod_count), (Action::ScaleUpHorizontal, Some(5)));
    assert_eq!(applied(&r), vec![(3, rule.recommended_pod_count.unwrap())]);
    let l = landed(&r);
    assert!(l.len() >= 9, "{}", l.len());
    assert!(l.iter().all(|d| d.reason.starts_with("model: ")), "{:?}", l.iter().map(|d| &d.reason).collect::<Vec<_>>());
    assert!(l[0].reason.starts_with("model: scale_up_horizontal 5 (confidence 0.80, urgency high): High utilization (CPU 10"), "{}", l[0].reason);
    assert_eq!(l[0].time_s, 60.0, "the first call with data, answered at once");
    let after = stub_decision(&snap(60.0, 5));
    assert_eq!(after.action, Action::Maintain);
    assert!(l[1..].iter().all(|d| d.reason.starts_with("model: maintain 5 (confidence 0.90, urgency normal)")), "{}", l[1].reason);
    // Decisions every control interval (60 s), from the first at t = 0 (no data yet).
    assert!(r.decisions[0].reason.starts_with("metrics unavailable (no CPU data yet)"), "{}", r.decisions[0].reason);
    assert!(r.decisions.windows(2).all(|w| w[1].time_s - w[0].time_s == 60.0));
    assert_eq!(r.summary.policy_stats["pods.api.llm_model_decisions"], l.len() as f64);
    assert_eq!(r.summary.policy_stats["pods.api.llm_fallback_decisions"], 0.0);
}

#[test]
fn with_failures_the_fallback_decides() {
    // The seed's fallback truncates: int(3 x 1.5) = 4 pods (75% CPU: maintain).
    let rule = fallback_decision(&snap(100.0, 3));
    assert_eq!(rule.recommended_pod_count, Some(4));
    for (knob, why) in [("failure_probability = 1.0", "fallback (model call failed: "), ("malformed_probability = 1.0", "fallback (malformed reply: not JSON")] {
        let r = run(&scenario(&service(3, 75.0, "", knob)), 0);
        assert_eq!(applied(&r), vec![(3, 4)], "{knob}");
        let l = landed(&r);
        assert!(l.iter().all(|d| d.reason.starts_with(why)), "{knob}: {}", l[0].reason);
        assert!(l[0].reason.contains("scale_up_horizontal 4 (confidence 0.80, urgency high): High CPU/memory utilization detected"), "{}", l[0].reason);
        let stats = &r.summary.policy_stats;
        assert_eq!(stats["pods.api.llm_fallback_decisions"], stats["pods.api.llm_calls"]);
    }
    // Half the calls fail: both sources appear, and the run is deterministic.
    let sc = scenario(&service(3, 75.0, "", "failure_probability = 0.5"));
    let (a, b) = (run(&sc, 0), run(&sc, 0));
    assert_eq!(serde_json::to_string(&a.decisions).unwrap(), serde_json::to_string(&b.decisions).unwrap());
    let l = landed(&a);
    assert!(l.iter().any(|d| d.reason.starts_with("model: ")) && l.iter().any(|d| d.reason.starts_with("fallback (")));
}

/// Overload: 1 slot and a queue of 1 per pod, 50 ms per request (20 per second per pod) at
/// 200 req/s: most requests are refused (503), so the error rate is far above 20%.
const OVERLOAD: &str = "concurrency = 1\nqueue_limit = 1\nservice_time = \"50ms\"";

fn overload(policy: &str) -> String {
    service(2, 200.0, "", policy).replace("concurrency = 50\nservice_time = \"20ms\"", OVERLOAD)
}

#[test]
fn the_2x_cap_and_the_confidence_gate_hold() {
    // The stand-in wants 3x at an error rate above 20% (confidence 0.95): capped at 2x.
    let r = run(&scenario(&overload("")), 0);
    let a = applied(&r);
    assert_eq!(a[0], (2, 4), "{a:?}");
    assert!(a.iter().all(|&(from, to)| to <= 2 * from), "{a:?}");
    let first = r.decisions.iter().find(|d| d.verdict == "apply").unwrap();
    assert!(first.reason.starts_with("model: scale_up_horizontal 6 (confidence 0.95, urgency critical): Error rate"), "{}", first.reason);
    assert!(first.reason.ends_with("| capped at 2x current: 4"), "{}", first.reason);
    assert!(r.summary.policy_stats["pods.api.llm_capped_scale_ups"] >= 1.0);
    // A wider cap lets the 3x through.
    let r = run(&scenario(&overload("scale_up_cap = 3")), 0);
    assert_eq!(applied(&r)[0], (2, 6));
    // Above the threshold, nothing is applied: each wanted change is blocked, with its confidence.
    let r = run(&scenario(&overload("min_confidence = 0.96")), 0);
    assert!(applied(&r).is_empty());
    let blocked: Vec<&DecisionRow> = r.decisions.iter().filter(|d| d.verdict == "blocked").collect();
    assert!(blocked.len() >= 8, "{}", blocked.len());
    assert!(blocked.iter().all(|d| (d.from, d.to) == (2, 4) && d.reason.ends_with("| blocked: confidence 0.95 <= 0.96")), "{}", blocked[0].reason);
    // The default gate is the seed's strict `confidence > 0.75`: the fallback's scale-down
    // (0.75 exactly) is blocked; the inclusive reading applies it.
    let quiet = service(10, 10.0, "", "failure_probability = 1.0").replace("memory_base = \"128Mi\"", "memory_base = \"32Mi\"");
    let r = run(&scenario(&quiet), 0);
    assert!(applied(&r).is_empty(), "{:?}", applied(&r));
    assert!(r.decisions.iter().any(|d| d.verdict == "blocked" && d.reason.ends_with("| blocked: confidence 0.75 <= 0.75")));
    let r = run(&scenario(&quiet.replace("failure_probability = 1.0", "failure_probability = 1.0\nconfidence_gate = \"inclusive\"")), 0);
    assert_eq!(applied(&r)[0], (10, 7), "{:?}", applied(&r));
    // max_replicas bounds the count.
    let r = run(&scenario(&overload("max_replicas = 3")), 0);
    assert_eq!(applied(&r), vec![(2, 3)]);
}

#[test]
fn on_the_hpa_the_model_moves_the_bounds_and_the_hpa_moves_the_pods() {
    // 75 req/s of 20 ms CPU on 3 pods of 500m: 100 % CPU. With `acts_on = "hpa"` the model's
    // rows never scale the Deployment; only the HPA's own rows do.
    let r = run(&scenario(&service(3, 75.0, "", "acts_on = \"hpa\"")), 0);
    assert_conserved(&r);
    let llm: Vec<&DecisionRow> = r.decisions.iter().filter(|d| d.reason.starts_with("llm -> hpa: ")).collect();
    let hpa: Vec<&DecisionRow> = r.decisions.iter().filter(|d| d.reason.starts_with("hpa: ")).collect();
    assert!(!llm.is_empty() && !hpa.is_empty());
    assert!(llm.iter().all(|d| d.verdict != "apply" && d.from == d.to), "{llm:?}");
    let applied_rows: Vec<&DecisionRow> = r.decisions.iter().filter(|d| d.verdict == "apply").collect();
    assert!(!applied_rows.is_empty() && applied_rows.iter().all(|d| d.reason.starts_with("hpa: ")), "{applied_rows:?}");
    // (The HPA reaches 5 pods by CPU before the first answer, which then maintains: the
    // bounds moving is held by scenarios/llm-hpa.toml's [[expect]], run by the gate test.)
    assert!(r.summary.policy_stats.contains_key("pods.api.llm_hpa_bound_changes"));
    // `hpa` without `acts_on = "hpa"` is refused with its place.
    let e = err(&service(2, 10.0, "", "hpa = { max_replicas = 4 }"), &[]);
    assert!(e.starts_with("s.toml:25:7: ") && e.contains("set `acts_on = \"hpa\"` too"), "{e}");
    // A bad HPA inside is refused at the `hpa` table, in the HPA's words.
    let e = err(&service(2, 10.0, "", "acts_on = \"hpa\"\nhpa = { max_replicas = 0 }"), &[]);
    assert!(e.starts_with("s.toml:26:7: ") && e.contains("`hpa`"), "{e}");
    let e = err(&service(2, 10.0, "", "acts_on = \"pods\""), &[]);
    assert!(e.starts_with("s.toml:25:11: ") && e.contains("expected \"replicas\""), "{e}");
    let e = err(&service(2, 10.0, "", "confidence_gate = \"loose\""), &[]);
    assert!(e.starts_with("s.toml:25:19: ") && e.contains("\"inclusive\""), "{e}");
}

#[test]
fn the_history_reaches_the_prompt() {
    // With `history`, each call's snapshot carries the earlier ones (the seed's
    // `historical_metrics`) and the stand-in names the trend; without it, none.
    let r = run(&scenario(&service(3, 75.0, "", "history = \"5m\"")), 0);
    let l = landed(&r);
    assert!(!l[0].reason.contains("trend:"), "{}", l[0].reason);
    assert!(l[1..].iter().all(|d| d.reason.contains("; trend: request rate ")), "{}", l[1].reason);
    let r = run(&scenario(&service(3, 75.0, "", "")), 0);
    assert!(landed(&r).iter().all(|d| !d.reason.contains("trend:")));
}

#[test]
fn answers_land_after_the_inference_latency() {
    let r = run(&scenario(&service(3, 75.0, "", "latency = \"7s\"")), 0);
    let l = landed(&r);
    assert_eq!(l[0].time_s, 67.0);
    assert!(l[0].reason.contains("[asked at 60.0s, answered 7.000s later]"), "{}", l[0].reason);
    // The loop sleeps after acting: the next call is a control interval after the landing.
    assert_eq!(l[1].time_s, 67.0 + 67.0);
    assert_eq!(applied(&r), vec![(3, 5)]);
    assert_eq!(r.summary.policy_stats["pods.api.llm_mean_latency_s"], 7.0);
    // A distribution: every landing is later than its call by a draw.
    let r = run(&scenario(&service(3, 75.0, "", "latency = { dist = \"lognormal\", median = \"2s\", p95 = \"6s\" }")), 0);
    assert!(landed(&r).iter().all(|d| d.reason.contains("answered ")));
}

#[test]
fn noise_changes_the_counts_deterministically() {
    let sc = scenario(&overload("noise = 0.3\nscale_up_cap = 10\nmax_replicas = 100"));
    let (a, b) = (run(&sc, 0), run(&sc, 0));
    assert_eq!(serde_json::to_string(&a.decisions).unwrap(), serde_json::to_string(&b.decisions).unwrap());
    let clean = run(&scenario(&overload("scale_up_cap = 10\nmax_replicas = 100")), 0);
    assert_ne!(applied(&a), applied(&clean));
    // Noise misjudges the size, not the direction.
    assert!(applied(&a).iter().all(|&(from, to)| to > from), "{:?}", applied(&a));
}

// ---------------------------------------------------------------------------------------------
// An external program: `command`, `record`, `replay`
// ---------------------------------------------------------------------------------------------

fn python() -> bool {
    let ok = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        crate::common::skip("llm (external command)", "python3 is not available");
    }
    ok
}

fn wrapper() -> String {
    root().join("tests/data/llm-wrapper.py").display().to_string()
}

fn command_toml(args: &str, extra: &str) -> String {
    let cmd = format!("command = [\"python3\", {:?}{args}]\n{extra}", wrapper());
    service(2, 90.0, "", &cmd)
}

/// `autosim run FILE --quiet --out OUT`, with `--allow-commands` when `allow`.
fn autosim_run(file: &Path, out: &Path, allow: bool) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_autosim"));
    c.arg("run").arg(file).arg("--quiet").arg("--out").arg(out).env_remove("AUTOSIM_ALLOW_COMMANDS");
    if allow {
        c.arg("--allow-commands");
    }
    let o = c.output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn a_command_is_asked_and_a_recorded_run_replays_byte_for_byte() {
    if !python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The wrapper fences its replies and garbles the ones at multiples of 300 s.
    let recorded = tmp.path().join("recorded.toml");
    std::fs::write(&recorded, command_toml(", \"--fence\", \"--garble\", \"300\"", "record = \"exchanges.json\"")).unwrap();
    let (code, stderr) = autosim_run(&recorded, &tmp.path().join("a"), true);
    assert_eq!(code, 0, "{stderr}");
    let sc = autosim::load(&recorded).unwrap();
    let text = std::fs::read_to_string(tmp.path().join("exchanges.json")).unwrap();
    let rec = autosim::policy::external::Recording::parse(&text).unwrap();
    assert_eq!(rec.services["api"].len(), 10, "calls at 60 s ... 600 s");
    let decisions = std::fs::read_to_string(tmp.path().join("a/llm/decisions.csv")).unwrap();
    // 90 req/s at 25 per pod: 4 pods, as the wrapper reasons.
    assert!(decisions.contains("apply,\"model: scale_up_horizontal 4 (confidence 0.90, urgency normal): 9"), "{decisions}");
    assert!(decisions.contains("fallback (malformed reply: not JSON"), "{decisions}");
    drop(sc);

    // The same scenario, replayed without the program.
    let replayed = tmp.path().join("replayed.toml");
    std::fs::write(&replayed, service(2, 90.0, "", "replay = \"exchanges.json\"")).unwrap();
    // A replay runs no program: it needs no permission.
    let (code, stderr) = autosim_run(&replayed, &tmp.path().join("b"), false);
    assert_eq!(code, 0, "{stderr}");
    let (fa, fb) = (files_under(&tmp.path().join("a")), files_under(&tmp.path().join("b")));
    assert_eq!(fa.len(), fb.len());
    assert!(fa.len() >= 4);
    for (a, b) in fa.iter().zip(&fb) {
        assert_eq!(a.strip_prefix(tmp.path().join("a")).unwrap(), b.strip_prefix(tmp.path().join("b")).unwrap());
        assert!(std::fs::read(a).unwrap() == std::fs::read(b).unwrap(), "{} differs from its replay", a.display());
    }
    // Replayed through the library too (pure: no program, no edge).
    let r = run(&autosim::load(&replayed).unwrap(), 0);
    assert!(!r.summary.policy_stats.contains_key("pods.api.llm_replay_mismatches"));
    // A replay of another load does not match the recording: the fallback decides, and says why.
    let other = tmp.path().join("other.toml");
    std::fs::write(&other, service(2, 140.0, "", "replay = \"exchanges.json\"")).unwrap();
    let r = run(&autosim::load(&other).unwrap(), 0);
    assert!(landed(&r).iter().all(|d| d.reason.starts_with("fallback (model call failed: replay: exchange ")), "{}", landed(&r)[0].reason);
    assert_eq!(r.summary.policy_stats["pods.api.llm_replay_mismatches"], 10.0);
}

#[test]
fn a_slow_or_failing_command_falls_back() {
    if !python() {
        return;
    }
    let short = |t: String| t.replace("duration = \"10m\"", "duration = \"3m\"");
    // Too slow: killed at the timeout; the fallback's answer lands the timeout later.
    let sc = scenario(&short(command_toml(", \"--sleep\", \"5\"", "timeout = \"300ms\"")));
    let r = autosim::run::run_policies(&sc, &[0], sc.scenario.seed, autosim::command::Commands::Allow, &|_| {}).unwrap().remove(0);
    let l = landed(&r);
    assert_eq!(l.len(), 2);
    assert!(l[0].reason.starts_with("fallback (model call failed: timed out after 300ms)"), "{}", l[0].reason);
    assert_eq!(l[0].time_s, 60.3);
    assert_eq!(r.summary.policy_stats["pods.api.llm_timed_out_calls"], 2.0);
    // Failing: its exit status and the first line of its standard error.
    let sc = scenario(&short(command_toml(", \"--fail\"", "")));
    let r = autosim::run::run_policies(&sc, &[0], sc.scenario.seed, autosim::command::Commands::Allow, &|_| {}).unwrap().remove(0);
    let l = landed(&r);
    assert!(l[0].reason.contains("exited with exit status: 3: wrapper: the model API is unavailable"), "{}", l[0].reason);
    // Without the edge (a pure run), no program is attached: the fallback decides.
    let r = run(&sc, 0);
    assert!(landed(&r)[0].reason.starts_with("fallback (model call failed: no program attached for `command`"), "{}", landed(&r)[0].reason);
}

fn err(toml: &str, files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (n, t) in files {
        std::fs::write(dir.path().join(n), t).unwrap();
    }
    let e = autosim::parse(toml, dir.path()).unwrap_err();
    autosim::scenario::ScenarioError::locate(Path::new("s.toml"), toml, e).to_string()
}

#[test]
fn bad_llm_configurations_are_refused_with_their_place() {
    // The policy's keys start on line 25.
    let e = err(&service(2, 10.0, "", "record = \"x.json\""), &[]);
    assert!(e.starts_with("s.toml:25:10: ") && e.contains("set `command` too"), "{e}");
    let e = err(&service(2, 10.0, "", "command = [\"x\"]\nreplay = \"r.json\""), &[]);
    assert!(e.starts_with("s.toml:26:") && e.contains("drop `command`"), "{e}");
    let e = err(&service(2, 10.0, "", "command = [\"x\"]\nnoise = 0.1"), &[]);
    assert!(e.starts_with("s.toml:26:9: ") && e.contains("stand-in model"), "{e}");
    let e = err(&service(2, 10.0, "", "command = []"), &[]);
    assert!(e.starts_with("s.toml:25:11: ") && e.contains("the program and its arguments"), "{e}");
    let e = err(&service(2, 10.0, "", "replay = \"missing.json\""), &[]);
    assert!(e.starts_with("s.toml:25:10: ") && e.contains("cannot read") && e.contains("missing.json"), "{e}");
    let e = err(&service(2, 10.0, "", "replay = \"r.json\""), &[("r.json", "{\n  \"format\": \"autosim-exchanges/1\",\n  \"services\": {\"api\": [ {\"request\": {}} ]}\n}")]);
    assert!(e.contains("r.json") && e.contains("exactly one of `reply` and `error`"), "{e}");
    let e = err(&service(2, 10.0, "", "replay = \"r.json\""), &[("r.json", "{\n  \"format\": \"autosim-exchanges/1\",\n  \"services\": {\"web\": []}\n}")]);
    assert!(e.contains("no exchanges for service \"api\""), "{e}");
    let e = err(&service(2, 10.0, "", "replay = \"r.json\""), &[("r.json", "{\n  \"format\": \"autosim-exchanges/1\",\n  \"services\": [\n")]);
    assert!(e.contains("r.json: line 3"), "{e}");
    let e = err(&service(2, 10.0, "", "min_confidence = 1.5"), &[]);
    assert!(e.starts_with("s.toml:25:18: ") && e.contains("0.0 to 1.0"), "{e}");
    let e = err(&service(2, 10.0, "", "failure_probability = 2"), &[]);
    assert!(e.starts_with("s.toml:25:23: ") && e.contains("probability"), "{e}");
    let e = err(&service(2, 10.0, "", "latency = { dist = \"lognormal\", median = \"1s\" }"), &[]);
    assert!(e.starts_with("s.toml:25:") && e.contains("latency"), "{e}");
    let e = err(&service(2, 10.0, "", "timeout = \"1s\""), &[]);
    assert!(e.starts_with("s.toml:25:11: ") && e.contains("set `command`"), "{e}");
    let e = err(&service(2, 10.0, "", "scale_up_cap = 0.5"), &[]);
    assert!(e.contains("s.toml:25:16: ") && e.contains("at least 1"), "{e}");
    let e = err(&service(2, 10.0, "", "confidence = 0.8"), &[]);
    assert!(e.starts_with("s.toml:25:1: ") && e.contains("unknown key `confidence`") && e.contains("`min_confidence`"), "{e}");
}
