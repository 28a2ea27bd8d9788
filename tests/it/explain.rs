//! `autosim explain hpa`: upstream's cases told back through the snapshot format give upstream's
//! answers, the text names the steps (pods set aside and why, stabilization, limits), the
//! shipped example answers "why 7", and bad input is reported with file:line:col and exit 2.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use autosim::policy::hpa::controller::ControllerConfig;
use autosim::policy::hpa::explain::{explain_files, render_json, render_text, Report};

use super::common;
use crate::common::autosim;


fn vectors() -> Vec<Value> {
    let path = common::root().join("tests/data/hpa-vectors.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Write the files and explain them with upstream's test-harness settings (scale-up limit factor
/// 8; the CPU periods come from the snapshot's `[controller]`).
fn explain_texts(dir: &Path, manifest: &str, snapshot: &str) -> Result<Report, String> {
    let spec = dir.join("hpa.yaml");
    let snap = dir.join("snapshot.toml");
    std::fs::write(&spec, manifest).unwrap();
    std::fs::write(&snap, snapshot).unwrap();
    explain_files(&spec, &snap, None, &ControllerConfig::upstream_test_harness()).map_err(|e| e.0)
}

/// A manifest (as JSON, which is YAML) around an `autoscaling/v2` spec.
fn manifest(spec: Value) -> String {
    let doc = json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": "test-hpa" },
        "spec": spec,
    });
    serde_json::to_string_pretty(&doc).unwrap()
}

fn rules_json(v: &Value) -> Value {
    let mut r = json!({});
    if let Some(s) = v["select_policy"].as_str() {
        r["selectPolicy"] = json!(s);
    }
    if let Some(w) = v["stabilization_window_s"].as_i64() {
        r["stabilizationWindowSeconds"] = json!(w);
    }
    if let Some(list) = v["policies"].as_array() {
        r["policies"] = Value::Array(
            list.iter()
                .map(|p| json!({ "type": p["type"], "value": p["value"], "periodSeconds": p["period_s"] }))
                .collect(),
        );
    }
    r
}

/// The `[controller]` of upstream's replica-calculator and controller tests.
const HARNESS_FLAGS: &str = "[controller]\ncpu_initialization_period = \"2m\"\ninitial_readiness_delay = \"10s\"\n";

// ---------------------------------------------------------------------------------------------
// Upstream's controller cases: the final count
// ---------------------------------------------------------------------------------------------

#[test]
fn explain_gives_upstreams_answer_on_every_reconcile_case() {
    let cases: Vec<Value> = vectors().into_iter().filter(|c| c["kind"] == "controller.reconcile").collect();
    assert!(cases.len() >= 8, "the reconcile cases are in the file");
    let dir = tempfile::tempdir().unwrap();
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let i = &c["inputs"];
        let spec_replicas = i["spec_replicas"].as_i64().unwrap();
        let mut snap = format!("replicas = {spec_replicas}\n");
        if let Some(s) = i["status_replicas"].as_i64() {
            let _ = writeln!(snap, "status_replicas = {s}");
        }
        let _ = writeln!(snap, "sample_window = \"60s\"");
        match &i["recommendations"] {
            Value::Null => {}
            Value::Array(list) => {
                let items: Vec<String> = list
                    .iter()
                    .map(|r| format!("{{ replicas = {}, age = \"{}s\" }}", r["replicas"], r["age_s"]))
                    .collect();
                let _ = writeln!(snap, "recommendations = [{}]", items.join(", "));
            }
            other => panic!("{name}: recommendations {other}"),
        }
        let metric_list: Vec<&Value> = match (&i["metric"], &i["metrics"]) {
            (Value::Null, Value::Array(l)) => l.iter().collect(),
            (Value::String(_), _) => vec![],
            (m @ Value::Object(_), _) => vec![m],
            other => panic!("{name}: {other:?}"),
        };
        let mut metrics = Vec::new();
        let mut pods: Vec<(i64, Option<i64>, Option<i64>)> = Vec::new(); // request, cpu, qps
        let mut unavailable = String::new();
        for m in metric_list {
            match m["type"].as_str().unwrap() {
                "Resource cpu Utilization" => {
                    let usage = m["pod_usage_milli"].as_array().unwrap();
                    let req = m["pod_request_milli"].as_array().unwrap();
                    pods.resize(usage.len().max(pods.len()), (0, None, None));
                    for (k, (u, r)) in usage.iter().zip(req).enumerate() {
                        pods[k].0 = r.as_i64().unwrap();
                        pods[k].1 = u.as_i64();
                    }
                    metrics.push(json!({ "type": "Resource", "resource": { "name": "cpu",
                        "target": { "type": "Utilization", "averageUtilization": m["target_percent"] } } }));
                }
                "Pods qps AverageValue" => {
                    let values = m["pod_values_milli"].as_array().unwrap();
                    pods.resize(values.len().max(pods.len()), (0, None, None));
                    for (k, v) in values.iter().enumerate() {
                        pods[k].2 = v.as_i64();
                    }
                    metrics.push(json!({ "type": "Pods", "pods": { "metric": { "name": "qps" },
                        "target": { "type": "AverageValue", "averageValue": format!("{}m", m["target_milli"]) } } }));
                }
                t if t.starts_with("invalid") => {
                    metrics.push(json!({ "type": "External", "external": { "metric": { "name": "cheddar-cheese" },
                        "target": { "type": "AverageValue", "averageValue": "1" } } }));
                    unavailable = format!("[unavailable]\ncheddar-cheese = 'unknown metric source type {t}'\n");
                }
                other => panic!("{name}: metric type {other}"),
            }
        }
        for (k, (req, cpu, qps)) in pods.iter().enumerate() {
            let _ = writeln!(snap, "[[pods]]\nname = \"test-pod-{k}\"\nage = \"1h\"\nrequests = {{ cpu = \"{req}m\" }}");
            if let Some(u) = cpu {
                let _ = writeln!(snap, "usage = {{ cpu = \"{u}m\" }}");
            }
            if let Some(v) = qps {
                let _ = writeln!(snap, "metrics = {{ qps = \"{v}m\" }}");
            }
        }
        snap.push_str(&unavailable);
        snap.push_str(HARNESS_FLAGS);
        let mut spec = json!({
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "test" },
            "minReplicas": i["min_replicas"], "maxReplicas": i["max_replicas"], "metrics": metrics,
        });
        if let Value::Object(b) = &i["behavior"] {
            let mut behavior = json!({});
            for (key, camel) in [("scale_up", "scaleUp"), ("scale_down", "scaleDown")] {
                if let Some(v @ Value::Object(_)) = b.get(key) {
                    behavior[camel] = rules_json(v);
                }
            }
            spec["behavior"] = behavior;
        }
        let r = explain_texts(dir.path(), &manifest(spec), &snap).unwrap_or_else(|e| panic!("{name}: {e}\n{snap}"));
        let want = c["expected"]["replicas"].as_i64().unwrap();
        let text = render_text(&r);
        let json = render_json(&r);
        assert_eq!(i64::from(r.outcome.replicas), want, "{name}:\n{text}");
        assert_eq!(json["final_replicas"], want, "{name}");
        let result_line = if want == spec_replicas {
            format!("Result: keep {want} replicas")
        } else {
            format!("from {spec_replicas} to {want} replicas")
        };
        assert!(text.contains(&result_line), "{name}: {result_line:?} not in\n{text}");
        if json["stage"] == "metrics" {
            for step in ["Metrics", "All metrics", "Stabilization", "Limits"] {
                let combined_no_scale = json["combined"]["scale"] == false;
                if combined_no_scale && (step == "Stabilization" || step == "Limits") {
                    continue;
                }
                assert!(text.contains(step), "{name}: no {step:?} step in\n{text}");
            }
        }
        if !unavailable.is_empty() {
            assert!(text.contains("INVALID: FailedGetExternalMetric"), "{name}:\n{text}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Upstream's replica-calculator cases: each pod's group, the proposal, the words
// ---------------------------------------------------------------------------------------------

/// A pod of a calculator case in the snapshot's words, in the group the case gives it.
fn calc_pod(p: &Value, value_key: &str, metric: &str) -> String {
    let name = p["name"].as_str().unwrap();
    let why = p["why"].as_str().unwrap_or("");
    let mut s = format!("[[pods]]\nname = \"{name}\"\n");
    match p["group"].as_str().unwrap() {
        "ready" | "missing" => s.push_str("age = \"1h\"\n"),
        "unready" if why.contains("Pending") => s.push_str("phase = \"Pending\"\n"),
        // Hot CPU: just started and ready; its sample does not cover a window since then.
        "unready" if why.contains("Ready=True") => s.push_str("age = \"0s\"\nready = true\n"),
        // Started long ago, Ready=False since its start: it never became ready.
        "unready" => s.push_str("age = \"1h\"\nready = false\n"),
        "ignored" if why.contains("delet") => s.push_str("age = \"1h\"\ndeleting = true\n"),
        "ignored" => s.push_str("age = \"1h\"\nphase = \"Failed\"\n"),
        other => panic!("group {other}"),
    }
    if let Some(r) = p["request_milli"].as_i64() {
        let _ = writeln!(s, "requests = {{ cpu = \"{r}m\" }}");
    }
    if let Some(v) = p[value_key].as_i64() {
        let _ = writeln!(s, "{metric} = \"{v}m\" }}");
    }
    s
}

#[test]
fn explain_gives_upstreams_proposal_and_names_the_pods_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for c in vectors() {
        let kind = c["kind"].as_str().unwrap();
        let (value_key, usage, spec_metric) = match kind {
            "replica_calc.resource_utilization" => (
                "usage_milli",
                "usage = { cpu",
                json!({ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization",
                    "averageUtilization": c["inputs"]["target_average_utilization_percent"] } } }),
            ),
            "replica_calc.pods_average_value" => (
                "value_milli",
                "metrics = { qps",
                json!({ "type": "Pods", "pods": { "metric": { "name": "qps" }, "target": { "type": "AverageValue",
                    "averageValue": format!("{}m", c["inputs"]["target_average_value_milli"]) } } }),
            ),
            _ => continue,
        };
        let name = c["name"].as_str().unwrap();
        let i = &c["inputs"];
        // Samples of pods the selector does not list cannot be written in a snapshot.
        if i.get("metrics_for_unknown_pods").is_some() {
            continue;
        }
        let (up, down) = (i["tolerance"]["scale_up"].as_f64().unwrap(), i["tolerance"]["scale_down"].as_f64().unwrap());
        let current = i["current_replicas"].as_i64().unwrap();
        let mut snap = format!("replicas = {current}\nsample_window = \"60s\"\n");
        let mut spec = json!({ "minReplicas": 1, "maxReplicas": 1000, "metrics": [spec_metric] });
        if up == down {
            let _ = writeln!(snap, "{HARNESS_FLAGS}tolerance = {up}");
        } else {
            // Per-direction tolerances are the behavior's (HPAConfigurableTolerance).
            snap.push_str(HARNESS_FLAGS);
            spec["behavior"] = json!({ "scaleUp": { "tolerance": up.to_string() }, "scaleDown": { "tolerance": down.to_string() } });
        }
        let groups: Vec<&str> = i["pods"].as_array().unwrap().iter().map(|p| p["group"].as_str().unwrap()).collect();
        for p in i["pods"].as_array().unwrap() {
            snap.push_str(&calc_pod(p, value_key, usage));
        }
        let r = explain_texts(dir.path(), &manifest(spec), &snap).unwrap_or_else(|e| panic!("{name}: {e}\n{snap}"));
        let json = render_json(&r);
        let text = render_text(&r);
        let p = &json["metrics"][0]["proposal"];
        assert_eq!(p["replicas"], c["expected"]["replicas"], "{name}: proposal\n{text}");
        if let Some(u) = c["expected"].get("current_utilization_percent") {
            assert_eq!(&p["current"]["utilization_percent"], u, "{name}");
            assert_eq!(&p["current"]["average_milli"], &c["expected"]["raw_average_usage_milli_per_pod"], "{name}");
        }
        if let Some(v) = c["expected"].get("current_average_value_milli") {
            assert_eq!(&p["current"]["average_value_milli"], v, "{name}");
        }
        // Every pod is in the case's group, and the text says so.
        let json_groups: Vec<&str> =
            p["basis"]["pods"].as_array().unwrap().iter().map(|g| g["group"].as_str().unwrap()).collect();
        assert_eq!(json_groups, groups, "{name}");
        for (g, needle) in [("unready", ": unready ("), ("missing", ": no sample (missing)"), ("ignored", ": ignored (")] {
            assert_eq!(groups.contains(&g), text.contains(needle), "{name}: {needle:?}\n{text}");
        }
        if groups.contains(&"unready") && p["usage_ratio"].as_f64().unwrap() > 1.0 {
            assert!(text.contains("unready pods count as using 0%"), "{name}:\n{text}");
        }
        assert!(text.contains("Stabilization") && text.contains("Limits"), "{name}:\n{text}");
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} calculator cases checked");
}

// ---------------------------------------------------------------------------------------------
// Hand-made: the legacy window, the behavior's period, TOML = manifest
// ---------------------------------------------------------------------------------------------

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const LEGACY_TOML: &str = r#"
kind = "hpa"
min_replicas = 1
max_replicas = 10
metrics = [ { type = "Resource", resource = { name = "cpu", target = { type = "Utilization", average_utilization = 50 } } } ]
"#;

const LEGACY_YAML: &str = "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: { type: Utilization, averageUtilization: 50 }
";

#[test]
fn legacy_stabilization_lists_the_recommendations_inside_the_window() {
    let dir = tempfile::tempdir().unwrap();
    // Four pods at 20% of a 50% target: the metric wants ceil(0.4 x 4) = 2; the window holds 4.
    let snap = write(
        dir.path(),
        "snap.toml",
        r#"
replicas = 4
recommendations = [ { replicas = 4, age = "2m" }, { replicas = 9, age = "6m" } ]
[[pods]]
name = "web"
count = 4
age = "1h"
requests = { cpu = "1" }
usage = { cpu = "200m" }
"#,
    );
    let toml = write(dir.path(), "hpa.toml", LEGACY_TOML);
    let yaml = write(dir.path(), "hpa.yaml", LEGACY_YAML);
    let base = ControllerConfig::default();
    let a = explain_files(&toml, &snap, None, &base).unwrap();
    let b = explain_files(&yaml, &snap, None, &base).unwrap();
    let text = render_text(&a);
    assert_eq!(a.outcome.replicas, 4, "{text}");
    assert_eq!(b.outcome.replicas, 4);
    for needle in [
        "proposal: ceil(0.400 x 4 ready pods) = 2",
        "the highest of the proposal 2 and the recommendations of the last 5m",
        "4 recorded 2m ago: inside the window",
        "9 recorded 6m ago: outside the window",
        "stabilized: 4",
        "scale-up limit: max(2 x 4, 4) = 8",
        "Result: keep 4 replicas",
        "the downscale stabilization keeps 4",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    // The TOML form and the manifest are the same HPA: the same decision, step for step.
    let (mut ja, mut jb) = (render_json(&a), render_json(&b));
    ja["hpa"] = Value::Null;
    jb["hpa"] = Value::Null;
    assert_eq!(ja, jb);
    let rec = &render_json(&a)["stabilization"]["recommendations"];
    assert_eq!(rec[0]["in_down_window"], true);
    assert_eq!(rec[1]["in_down_window"], false);

    // Without a history the controller records the current size first: the same hold.
    let snap2 = write(
        dir.path(),
        "snap2.toml",
        "replicas = 4\n[[pods]]\nname = \"web\"\ncount = 4\nage = \"1h\"\nrequests = { cpu = \"1\" }\nusage = { cpu = \"200m\" }\n",
    );
    let c = explain_files(&toml, &snap2, None, &base).unwrap();
    let text = render_text(&c);
    assert_eq!(c.outcome.replicas, 4);
    assert!(text.contains("4 recorded just now: inside the window (recorded now: the controller had no history"), "{text}");
}

#[test]
fn behavior_limits_count_the_scale_events_of_each_period() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = write(
        dir.path(),
        "hpa.yaml",
        "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: web }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  maxReplicas: 50
  metrics:
  - type: External
    external:
      metric: { name: queue_depth }
      target: { type: AverageValue, averageValue: '10' }
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 0
      selectPolicy: Min
      policies:
      - { type: Pods, value: 2, periodSeconds: 60 }
      - { type: Percent, value: 50, periodSeconds: 120 }
",
    );
    // 10 replicas, a queue of 20 for 10 at 10 each: wants 2. Scaled down by 3 (90 s ago) and
    // up by 1 (30 s ago).
    let snap = write(
        dir.path(),
        "snap.toml",
        r#"
replicas = 10
scale_events = [ { change = -3, age = "90s" }, { change = 1, age = "30s" } ]
external = { queue_depth = ["12", "8"] }
"#,
    );
    let r = explain_files(&yaml, &snap, None, &ControllerConfig::default()).unwrap();
    let text = render_text(&r);
    // Pods 2/60s: 10 - 1 + 0 = 9 -> 7. Percent 50/120s: 10 - 1 + 3 = 12 -> 6. Min: the largest, 7.
    assert_eq!(r.outcome.replicas, 7, "{text}");
    for needle in [
        "value: 20 in total (2 per pod over 10 status replicas)",
        "proposal: ceil(20 / 10) = 2",
        "Pods 2 per 60s: 60s ago the count was 10 - 1 added + 0 removed = 9 (events in it: +1 30s ago)",
        "Percent 50 per 120s: 120s ago the count was 10 - 1 added + 3 removed = 12",
        "allows 9 - 2 = 7",
        "allows truncate(12 x (1 - 50%)) = 6",
        "selectPolicy Min: the largest bound, 7",
        "ScaleDownLimit",
        "Result: scale down from 10 to 7 replicas (All metrics below target)",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let j = render_json(&r);
    assert_eq!(j["limits"]["direction"], "down");
    assert_eq!(j["limits"]["policy_limit"]["policies"][1]["removed"], 3);
}

#[test]
fn a_metric_without_a_value_is_invalid_and_blocks_a_scale_down() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(
        dir.path(),
        "hpa.toml",
        r#"
max_replicas = 10
metrics = [
  { type = "Resource", resource = { name = "cpu", target = { type = "Utilization", average_utilization = 50 } } },
  { type = "Object", object = { described_object = { kind = "Service", name = "redis" }, metric = { name = "queue_length" }, target = { type = "Value", value = "100" } } },
]
"#,
    );
    let snap = write(
        dir.path(),
        "snap.toml",
        "replicas = 4\n[[pods]]\nname = \"web\"\ncount = 4\nrequests = { cpu = \"1\" }\nusage = { cpu = \"100m\" }\n",
    );
    let r = explain_files(&toml, &snap, None, &ControllerConfig::default()).unwrap();
    let text = render_text(&r);
    assert_eq!(r.outcome.replicas, 4, "{text}");
    assert!(text.contains("INVALID: FailedGetObjectMetric"), "{text}");
    assert!(text.contains("add `queue_length = ...` under [object]"), "{text}");
    assert!(text.contains("never scales down while a metric is invalid"), "{text}");
    assert!(text.contains("(4 pods without an `age`: taken as started long ago"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// The shipped example, through the command
// ---------------------------------------------------------------------------------------------

#[test]
fn shipped_example_explains_why_seven() {
    let root = common::root();
    let spec = root.join("docs/examples/hpa.yaml");
    let snap = root.join("docs/examples/checkout-snapshot.toml");
    let args = |json: bool| {
        let mut a: Vec<&OsStr> =
            vec![OsStr::new("explain"), OsStr::new("hpa"), spec.as_os_str(), snap.as_os_str(), OsStr::new("--target"), OsStr::new("checkout")];
        if json {
            a.push(OsStr::new("--json"));
        }
        a
    };
    let (code, text, stderr) = autosim(args(false));
    assert_eq!(code, 0, "{stderr}");
    for needle in [
        "checkout-new: unready (not ready, within the CPU initialization period)",
        "checkout-old: ignored (being deleted)",
        "checkout-new: no sample (missing)",
        "unready pods count as using 0%",
        "pods without a sample count as using 0",
        "8, from pods metric http_requests_per_second",
        "5 recorded 40s ago: inside the scale-down window",
        "Pods 3 per 60s: 60s ago the count was 5 - 1 added + 0 removed = 4 (events in it: +1 40s ago)",
        "selectPolicy Max: the largest bound, 7",
        "Result: scale up from 5 to 7 replicas",
        "the scale-up limit holds it to 7",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let (code, out, stderr) = autosim(args(true));
    assert_eq!(code, 0, "{stderr}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["final_replicas"], 7);
    assert_eq!(j["combined"]["replicas"], 8);
    assert_eq!(j["limits"]["reason"], "ScaleUpLimit");
    assert_eq!(j["metrics"][0]["proposal"]["replicas"], 6);
    // Without --target the two HPAs of the manifest are ambiguous.
    let (code, _, stderr) = autosim([OsStr::new("explain"), OsStr::new("hpa"), spec.as_os_str(), snap.as_os_str()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("holds 2 HorizontalPodAutoscalers: checkout (scales checkout"), "{stderr}");
    assert!(stderr.contains("--target"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Bad input: file:line:col, exit 2
// ---------------------------------------------------------------------------------------------

/// Run `explain hpa` on a spec and a snapshot written to a temp folder; (code, stdout, stderr).
fn explain_cli(spec_name: &str, spec: &str, snapshot: &str, extra: &[&str]) -> (i32, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = write(dir.path(), spec_name, spec);
    let n = write(dir.path(), "snap.toml", snapshot);
    let mut args: Vec<&OsStr> = vec![OsStr::new("explain"), OsStr::new("hpa"), s.as_os_str(), n.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    let (code, out, err) = autosim(args);
    (code, out, err, dir)
}

const GOOD_SNAP: &str = "replicas = 2\n[[pods]]\nname = \"web\"\ncount = 2\nrequests = { cpu = \"1\" }\nusage = { cpu = \"900m\" }\n";

fn assert_bad(code: i32, stderr: &str, place: &str, words: &[&str]) {
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(place), "{place:?} not in {stderr}");
    for w in words {
        assert!(stderr.contains(w), "{w:?} not in {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_snapshot_unknown_key_names_line_and_column() {
    let snap = "replicas = 2\n[[pods]]\nname = \"web\"\nreday = true\n";
    let (code, _, err, dir) = explain_cli("hpa.yaml", LEGACY_YAML, snap, &[]);
    assert_bad(code, &err, "snap.toml:4:1:", &["unknown key `reday`", "`ready`"]);
    drop(dir);
}

#[test]
fn bad_snapshot_values_name_line_and_column() {
    for (snap, place, words) in [
        ("replicas = \"two\"\n", "snap.toml:1:12:", vec!["replicas"]),
        ("replicas = -1\n", "snap.toml:1:12:", vec!["expected a replica count"]),
        ("replicas = 2\n[[pods]]\nname = \"a\"\nage = \"ten minutes\"\n", "snap.toml:4:7:", vec!["duration"]),
        ("replicas = 2\n[[pods]]\nname = \"a\"\nready = \"maybe\"\n", "snap.toml:4:9:", vec!["expected true, false"]),
        ("replicas = 2\n[[pods]]\nname = \"a\"\nmetrics = { qps = \"3\" }\n", "snap.toml:4:19:", vec!["no Pods metric", "qps"]),
        ("replicas = 2\n[[pods]]\nname = \"a\"\nusage = { cpu = \"-1\" }\n", "snap.toml:4:", vec!["quantity"]),
        ("replicas = 2\n[[pods]]\nname = \"a\"\n[[pods]]\nname = \"a\"\n", "snap.toml:5:8:", vec!["two pods named \"a\""]),
        ("replicas = 2\nscale_events = [ { change = 0, age = \"1m\" } ]\n", "snap.toml:2:29:", vec!["`change` = 0"]),
        ("replicas = 2\n[unavailable]\nmemory = \"boom\"\n", "snap.toml:3:10:", vec!["no metric of that name", "\"cpu\""]),
        ("replicas = 2\n[controller]\ntolerance = 3\n", "snap.toml:", vec!["`controller.tolerance` = 3"]),
    ] {
        let (code, _, err, dir) = explain_cli("hpa.yaml", LEGACY_YAML, snap, &[]);
        let words: Vec<&str> = words.to_vec();
        assert_bad(code, &err, place, &words);
        drop(dir);
    }
}

#[test]
fn bad_specs_name_their_place() {
    // YAML syntax: file:line:col.
    let broken = LEGACY_YAML.replace("  maxReplicas: 10\n", "  maxReplicas: [10\n");
    let (code, _, err, dir) = explain_cli("hpa.yaml", &broken, GOOD_SNAP, &[]);
    assert_bad(code, &err, "hpa.yaml:", &[]);
    assert!(err.lines().next().unwrap().split(':').nth(2).is_some_and(|l| l.trim().parse::<usize>().is_ok()), "{err}");
    drop(dir);
    // A misspelt manifest field.
    let typo = LEGACY_YAML.replace("minReplicas", "minReplica");
    let (code, _, err, dir) = explain_cli("hpa.yaml", &typo, GOOD_SNAP, &[]);
    assert_bad(code, &err, "hpa.yaml:7:3:", &["unknown field `minReplica`"]);
    drop(dir);
    // An invalid spec in TOML: the place of the offending key.
    let toml = LEGACY_TOML.replace("min_replicas = 1", "min_replicas = 20");
    let (code, _, err, dir) = explain_cli("hpa.toml", &toml, GOOD_SNAP, &[]);
    assert_bad(code, &err, "hpa.toml:4:", &["must be greater than or equal to minReplicas"]);
    drop(dir);
    // A TOML spec of another kind.
    let (code, _, err, dir) = explain_cli("hpa.toml", "kind = \"keda\"\nmax_replicas = 3\n", GOOD_SNAP, &[]);
    assert_bad(code, &err, "hpa.toml:1:8:", &["explains `kind = \"hpa\"`"]);
    drop(dir);
    // No HPA in the manifest, and an unknown --target.
    let (code, _, err, dir) = explain_cli("hpa.yaml", "apiVersion: v1\nkind: Service\nmetadata: { name: x }\n", GOOD_SNAP, &[]);
    assert_bad(code, &err, "hpa.yaml", &["no HorizontalPodAutoscaler"]);
    drop(dir);
    let (code, _, err, dir) = explain_cli("hpa.yaml", LEGACY_YAML, GOOD_SNAP, &["--target", "api"]);
    assert_bad(code, &err, "--target \"api\"", &["web (scales web"]);
    drop(dir);
}

#[test]
fn missing_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "hpa.yaml", LEGACY_YAML);
    let nope = dir.path().join("nope.toml");
    let (code, _, err) = autosim([OsStr::new("explain"), OsStr::new("hpa"), spec.as_os_str(), nope.as_os_str()]);
    assert_bad(code, &err, "nope.toml: cannot read the snapshot: no such file", &[]);
    let (code, _, err) = autosim([OsStr::new("explain"), OsStr::new("hpa"), nope.as_os_str(), spec.as_os_str()]);
    assert_bad(code, &err, "nope.toml: cannot read the spec: no such file", &[]);
    // A good pair runs.
    let snap = write(dir.path(), "snap.toml", GOOD_SNAP);
    let (code, out, err) = autosim([OsStr::new("explain"), OsStr::new("hpa"), spec.as_os_str(), snap.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    // 90% of 50%: ceil(1.8 x 2) = 4, within the legacy limit max(2 x 2, 4) = 4.
    assert!(out.contains("Result: scale up from 2 to 4 replicas"), "{out}");
}
