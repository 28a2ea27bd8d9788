//! Upstream's HPA and KEDA test cases (`tests/data/hpa-vectors.json`), run against autosim's
//! implementation. Every case is dispatched on its `kind`; every top-level input and every
//! expected field must be used, so nothing is checked silently by half. One test per kind, and
//! one that proves every case belongs to a kind that is run.
//!
//! Pods in the replica-calculator cases come pre-grouped (`ready`, `unready`, `missing`,
//! `ignored`). The harness builds each pod with a status that `group_pods` puts in that group
//! (and checks that it does), so the grouping is exercised, not bypassed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{Map, Value};

use autosim::engine::SimTime;
use autosim::policy::hpa::behavior::{
    calculate_scale_down_limit_with_behaviors, calculate_scale_up_limit_with_scaling_rules,
    convert_desired_replicas_with_behavior_rate, convert_desired_replicas_with_rules, replicas_change_per_period,
    stabilize_recommendation, stabilize_recommendation_with_behaviors, store_scale_event, RateArgs, ScaleEvent,
    ScalingRules, TimestampedRecommendation,
};
use autosim::policy::hpa::calc::{
    average_value_replicas, classify_pod, external_average_sum, external_value_sum, group_pods, plain_metric_replicas,
    resource_utilization_replicas, value_replicas, ConditionStatus, CurrentValue, PodInfo, PodMetric, PodMetrics,
    PodPhase, Readiness, ReadyCondition, Tolerances,
};
use autosim::policy::hpa::controller::{ControllerConfig, HpaController, MetricObservation, ReconcileInput};
use autosim::policy::hpa::spec::{
    HpaBehavior, HpaScalingPolicy, HpaScalingRules, HpaSpec, MetricSpec, MetricTarget, Quantity, ScalingPolicySelect,
};
use autosim::policy::keda::{
    get_metrics_with_fallback, request_scale, Fallback, FallbackBehavior, FallbackResult, KedaAnnotations,
    MetricHealth, ScaleRequest, ScaledObjectSpec,
};

const S: u64 = 1_000_000_000;
/// "Now" for every case: late enough that every age in the file is after the start of the run.
const NOW: SimTime = 10_000 * S;

/// The kinds the harness runs, and how. A kind not in this list fails `every_case_is_recognised`.
/// Runs one case of a kind.
type Runner = fn(&Case) -> Result<(), String>;

const KINDS: &[(&str, Runner)] = &[
    ("replica_calc.group_pods", group_pods_case),
    ("replica_calc.resource_utilization", resource_utilization_case),
    ("replica_calc.pods_average_value", pods_average_value_case),
    ("replica_calc.object_value", object_value_case),
    ("replica_calc.external_value", external_value_case),
    ("replica_calc.object_average_value", object_average_value_case),
    ("replica_calc.external_average_value", external_average_value_case),
    ("legacy.stabilize_recommendation", legacy_stabilize_case),
    ("legacy.convert_desired_replicas_with_rules", legacy_convert_case),
    ("behavior.stabilize_recommendation", behavior_stabilize_case),
    ("behavior.convert_desired_replicas_with_behavior_rate", behavior_rate_case),
    ("behavior.scale_up_limit", scale_up_limit_case),
    ("behavior.scale_down_limit", scale_down_limit_case),
    ("behavior.store_scale_event", store_scale_event_case),
    ("controller.reconcile", reconcile_case),
    ("keda.scale_executor", keda_scale_executor_case),
    ("keda.fallback", keda_fallback_case),
];

/// Cases deliberately not run, with the reason. Kept empty: every case in the file applies.
const SKIPPED: &[(&str, &str)] = &[];

/// Input keys that only describe a case (where a value came from) and feed nothing.
const DESCRIPTIVE_INPUTS: &[&str] = &["scale_up_events_generator", "scale_down_events_generator"];

fn all_cases() -> &'static [Value] {
    static CASES: OnceLock<Vec<Value>> = OnceLock::new();
    CASES.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hpa-vectors.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str::<Vec<Value>>(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    })
}

/// One case, with the keys of `inputs` and `expected` that were read.
struct Case<'a> {
    name: &'a str,
    inputs: &'a Map<String, Value>,
    expected: &'a Map<String, Value>,
    used_inputs: std::cell::RefCell<BTreeSet<String>>,
    used_expected: std::cell::RefCell<BTreeSet<String>>,
}

impl<'a> Case<'a> {
    fn new(v: &'a Value) -> Case<'a> {
        Case {
            name: v["name"].as_str().expect("name"),
            inputs: v["inputs"].as_object().expect("inputs"),
            expected: v["expected"].as_object().expect("expected"),
            used_inputs: Default::default(),
            used_expected: Default::default(),
        }
    }

    /// An input (`Null` when absent).
    fn input(&self, key: &str) -> &'a Value {
        self.used_inputs.borrow_mut().insert(key.to_string());
        self.inputs.get(key).unwrap_or(&Value::Null)
    }

    fn int(&self, key: &str) -> i64 {
        self.input(key).as_i64().unwrap_or_else(|| panic!("{}: input {key} is not an integer", self.name))
    }

    fn i32(&self, key: &str) -> i32 {
        i32::try_from(self.int(key)).expect("fits i32")
    }

    fn expected(&self, key: &str) -> Option<&'a Value> {
        self.used_expected.borrow_mut().insert(key.to_string());
        self.expected.get(key)
    }

    /// Compare one expected field (absent fields are not compared).
    fn check(&self, key: &str, actual: Value) -> Result<(), String> {
        match self.expected(key) {
            Some(want) if !same(want, &actual) => Err(format!("{key}: expected {want}, got {actual}")),
            _ => Ok(()),
        }
    }

    /// Every input and expected field was read.
    fn finish(&self) -> Result<(), String> {
        let used = self.used_inputs.borrow();
        let unused: Vec<&String> =
            self.inputs.keys().filter(|k| !used.contains(*k) && !DESCRIPTIVE_INPUTS.contains(&k.as_str())).collect();
        let used_e = self.used_expected.borrow();
        let unchecked: Vec<&String> = self.expected.keys().filter(|k| !used_e.contains(*k)).collect();
        if unused.is_empty() && unchecked.is_empty() {
            Ok(())
        } else {
            Err(format!("harness ignores inputs {unused:?} / expected fields {unchecked:?}"))
        }
    }
}

/// JSON equality with integers and floats compared as numbers.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn at_age(age_s: &Value) -> SimTime {
    let age = age_s.as_f64().expect("age in seconds");
    NOW - (age * S as f64).round() as u64
}

fn tolerances(c: &Case) -> Tolerances {
    let t = c.input("tolerance");
    Tolerances {
        scale_up: t["scale_up"].as_f64().expect("scale_up tolerance"),
        scale_down: t["scale_down"].as_f64().expect("scale_down tolerance"),
    }
}

/// The replica-calculator tests' settings: CPU initialization period 2 min, readiness delay 10 s.
fn harness_readiness() -> Readiness {
    Readiness { now: NOW, cpu_initialization_period_ns: 120 * S, initial_readiness_delay_ns: 10 * S }
}

fn run(v: &Value) -> Result<(), String> {
    let case = Case::new(v);
    let kind = v["kind"].as_str().expect("kind");
    let (_, f) = KINDS.iter().find(|(k, _)| *k == kind).ok_or_else(|| format!("unknown kind {kind}"))?;
    f(&case)?;
    case.finish()
}

/// Run every case of `kind`; fail listing each failing case by name.
fn run_kind(kind: &str) {
    let cases: Vec<&Value> = all_cases().iter().filter(|c| c["kind"] == kind).collect();
    assert!(!cases.is_empty(), "no case of kind {kind}");
    let mut failures = Vec::new();
    let mut skipped = 0;
    for c in &cases {
        let name = c["name"].as_str().unwrap_or("?");
        if SKIPPED.iter().any(|(n, _)| *n == name) {
            skipped += 1;
            continue;
        }
        if let Err(e) = run(c) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{kind}: {} of {} cases fail:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
    eprintln!("{kind}: {} cases pass, {skipped} skipped", cases.len() - skipped);
}

#[test]
fn every_case_is_recognised() {
    let cases = all_cases();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for c in cases {
        let kind = c["kind"].as_str().expect("kind");
        assert!(KINDS.iter().any(|(k, _)| *k == kind), "case {} has unknown kind {kind}", c["name"]);
        assert_eq!(c["certainty"], "exact", "case {} is not exact", c["name"]);
        *per_kind.entry(kind).or_default() += 1;
    }
    // Every kind run has cases, and the cases add up to the file.
    for (k, _) in KINDS {
        assert!(per_kind.contains_key(k), "kind {k} has no cases");
    }
    assert_eq!(per_kind.values().sum::<usize>(), cases.len());
    let names: BTreeSet<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    for (n, _) in SKIPPED {
        assert!(names.contains(n), "skipped case {n} is not in the file");
    }
    assert_eq!(cases.len(), 84, "the vector file changed: review the harness");
}

macro_rules! kind_tests {
    ($($test:ident => $kind:literal,)*) => {
        $(#[test] fn $test() { run_kind($kind); })*
    };
}

kind_tests! {
    group_pods_vectors => "replica_calc.group_pods",
    resource_utilization_vectors => "replica_calc.resource_utilization",
    pods_average_value_vectors => "replica_calc.pods_average_value",
    object_value_vectors => "replica_calc.object_value",
    external_value_vectors => "replica_calc.external_value",
    object_average_value_vectors => "replica_calc.object_average_value",
    external_average_value_vectors => "replica_calc.external_average_value",
    legacy_stabilize_vectors => "legacy.stabilize_recommendation",
    legacy_convert_vectors => "legacy.convert_desired_replicas_with_rules",
    behavior_stabilize_vectors => "behavior.stabilize_recommendation",
    behavior_rate_vectors => "behavior.convert_desired_replicas_with_behavior_rate",
    scale_up_limit_vectors => "behavior.scale_up_limit",
    scale_down_limit_vectors => "behavior.scale_down_limit",
    store_scale_event_vectors => "behavior.store_scale_event",
    reconcile_vectors => "controller.reconcile",
    keda_scale_executor_vectors => "keda.scale_executor",
    keda_fallback_vectors => "keda.fallback",
}

// ---------------------------------------------------------------------------------------------
// Replica calculator
// ---------------------------------------------------------------------------------------------

fn group_pods_case(c: &Case) -> Result<(), String> {
    let resource = c.input("resource").as_str().expect("resource");
    let readiness = Readiness {
        now: NOW,
        cpu_initialization_period_ns: c.int("cpu_initialization_period_s") as u64 * S,
        initial_readiness_delay_ns: c.int("initial_readiness_delay_s") as u64 * S,
    };
    let p = c.input("pod");
    let phase = match p["phase"].as_str().expect("phase") {
        "Running" => PodPhase::Running,
        "Pending" => PodPhase::Pending,
        "Failed" => PodPhase::Failed,
        "Succeeded" => PodPhase::Succeeded,
        other => return Err(format!("unknown phase {other}")),
    };
    let start = (!p["start_age_s"].is_null()).then(|| at_age(&p["start_age_s"]));
    let ready = match &p["ready_condition"] {
        Value::Null => None,
        Value::Bool(b) => Some(ReadyCondition {
            status: if *b { ConditionStatus::True } else { ConditionStatus::False },
            last_transition_time: if p["ready_transition_age_s"].is_null() {
                start.unwrap_or(NOW)
            } else {
                at_age(&p["ready_transition_age_s"])
            },
        }),
        other => return Err(format!("ready_condition {other}")),
    };
    let pod = PodInfo {
        name: "p".into(),
        phase,
        deleting: p["deleting"].as_bool().expect("deleting"),
        start_time: start,
        ready,
        containers: Vec::new().into(),
        pod_requests: None,
    };
    let sample = p["metric_present"].as_bool().expect("metric_present").then(|| PodMetric {
        value_milli: 0,
        timestamp: if p["metric_age_s"].is_null() { NOW } else { at_age(&p["metric_age_s"]) },
        window_ns: p["metric_window_s"].as_u64().unwrap_or(60) * S,
    });
    let got = classify_pod(&pod, sample.as_ref(), resource, &readiness);
    c.check("group", Value::from(got.as_str()))
}

/// A pod that `group_pods` puts in `group` for the `cpu` resource (or, with `cpu` false, for a
/// Pods metric), with a sample when `sample` is set.
fn pod_in_group(name: &str, group: &str, why: &str, request: Option<i64>) -> Result<PodInfo, String> {
    let long_ago = NOW - 3600 * S;
    let requests = request.map(|r| BTreeMap::from([("cpu".to_string(), r)])).unwrap_or_default();
    let mut pod = PodInfo::running(name, long_ago, requests);
    match group {
        "ready" | "missing" => {}
        "unready" if why.contains("Pending") => pod.phase = PodPhase::Pending,
        "unready" if why.contains("Ready=True") => {
            // Hot CPU: just started and ready, the sample does not cover a window since then.
            pod.start_time = Some(NOW);
            pod.ready = Some(ReadyCondition { status: ConditionStatus::True, last_transition_time: NOW });
        }
        "unready" => {
            // Started long ago, Ready=False since its start: it never became ready.
            pod.ready = Some(ReadyCondition { status: ConditionStatus::False, last_transition_time: long_ago });
        }
        "ignored" if why.contains("delet") => pod.deleting = true,
        "ignored" => pod.phase = PodPhase::Failed,
        other => return Err(format!("unknown group {other}")),
    }
    Ok(pod)
}

fn sample(value: i64) -> PodMetric {
    PodMetric { value_milli: value, timestamp: NOW, window_ns: 60 * S }
}

/// Build pods and samples from a case's `pods`, and check that they group as the case says.
fn pods_and_samples(
    c: &Case,
    value_key: &str,
    with_requests: bool,
    resource: &str,
) -> Result<(Vec<PodInfo>, PodMetrics), String> {
    let mut pods = Vec::new();
    let mut metrics = PodMetrics::new();
    let mut groups = Vec::new();
    for p in c.input("pods").as_array().expect("pods") {
        let name = p["name"].as_str().expect("pod name");
        let group = p["group"].as_str().expect("group");
        let request = with_requests.then(|| p["request_milli"].as_i64().expect("request_milli"));
        pods.push(pod_in_group(name, group, p["why"].as_str().unwrap_or(""), request)?);
        if let Some(v) = p[value_key].as_i64() {
            metrics.insert(name.into(), sample(v));
        }
        groups.push((name.to_string(), group.to_string()));
    }
    for extra in c.input("metrics_for_unknown_pods").as_array().into_iter().flatten() {
        let v = extra[value_key].as_i64().expect("value of an unknown pod");
        metrics.insert(extra["name"].as_str().expect("name").into(), sample(v));
    }
    let got = group_pods(&pods, &metrics, resource, &harness_readiness());
    for ((name, want), (_, g)) in groups.iter().zip(&got.pods) {
        if g.as_str() != want {
            return Err(format!("harness built pod {name} as {} instead of {want}", g.as_str()));
        }
    }
    Ok((pods, metrics))
}

fn resource_utilization_case(c: &Case) -> Result<(), String> {
    let (pods, metrics) = pods_and_samples(c, "usage_milli", true, "cpu")?;
    let p = resource_utilization_replicas(
        c.i32("current_replicas"),
        c.i32("target_average_utilization_percent"),
        "cpu",
        None,
        &pods,
        &metrics,
        tolerances(c),
        &harness_readiness(),
    )
    .map_err(|e| e.to_string())?;
    let CurrentValue::Utilization { percent, average_milli } = p.current else { return Err("not utilization".into()) };
    c.check("replicas", p.replicas.into())?;
    c.check("current_utilization_percent", percent.into())?;
    c.check("raw_average_usage_milli_per_pod", average_milli.into())
}

fn pods_average_value_case(c: &Case) -> Result<(), String> {
    let (pods, metrics) = pods_and_samples(c, "value_milli", false, "")?;
    let p = plain_metric_replicas(
        c.i32("current_replicas"),
        c.int("target_average_value_milli"),
        "",
        &pods,
        &metrics,
        tolerances(c),
        &harness_readiness(),
    )
    .map_err(|e| e.to_string())?;
    let CurrentValue::AverageValue { milli } = p.current else { return Err("not an average".into()) };
    c.check("replicas", p.replicas.into())?;
    c.check("current_average_value_milli", milli.into())
}

fn ready_pods(n: i64) -> Vec<PodInfo> {
    (0..n).map(|i| PodInfo::running(&format!("p{i}"), NOW - 3600 * S, BTreeMap::new())).collect()
}

fn object_value_case(c: &Case) -> Result<(), String> {
    let pods = ready_pods(c.int("ready_running_pods"));
    let p = value_replicas(
        c.i32("current_replicas"),
        c.int("object_metric_value_milli"),
        c.int("target_value_milli"),
        &pods,
        tolerances(c),
    )
    .map_err(|e| e.to_string())?;
    c.check("replicas", p.replicas.into())
}

fn external_value_case(c: &Case) -> Result<(), String> {
    let pods = ready_pods(c.int("ready_running_pods"));
    let series: Vec<i64> = c
        .input("external_metric_values_milli")
        .as_array()
        .expect("series")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let p = value_replicas(
        c.i32("current_replicas"),
        external_value_sum(&series),
        c.int("target_value_milli"),
        &pods,
        tolerances(c),
    )
    .map_err(|e| e.to_string())?;
    c.check("replicas", p.replicas.into())
}

fn average_value_check(c: &Case, usage: i64) -> Result<(), String> {
    let p = average_value_replicas(c.i32("status_replicas"), usage, c.int("target_average_value_milli"), tolerances(c));
    let CurrentValue::AverageValue { milli } = p.current else { return Err("not an average".into()) };
    c.check("replicas", p.replicas.into())?;
    c.check("reported_average_value_milli", milli.into())
}

fn object_average_value_case(c: &Case) -> Result<(), String> {
    average_value_check(c, c.int("object_metric_value_milli"))
}

fn external_average_value_case(c: &Case) -> Result<(), String> {
    // The case gives the series' sum; summing one value is the identity.
    average_value_check(c, external_average_sum(&[c.int("external_metric_sum_milli")]))
}

// ---------------------------------------------------------------------------------------------
// Normalization
// ---------------------------------------------------------------------------------------------

fn recommendations(v: &Value) -> Vec<TimestampedRecommendation> {
    v.as_array()
        .expect("recommendations")
        .iter()
        .map(|r| TimestampedRecommendation {
            replicas: r["replicas"].as_i64().unwrap() as i32,
            timestamp: at_age(&r["age_s"]),
        })
        .collect()
}

fn events(v: &Value) -> Vec<ScaleEvent> {
    v.as_array()
        .expect("events")
        .iter()
        .map(|e| ScaleEvent {
            replica_change: e["replica_change"].as_i64().unwrap() as i32,
            timestamp: at_age(&e["age_s"]),
            outdated: false,
        })
        .collect()
}

/// A case's rules object (`select_policy`, `stabilization_window_s`, `policies`), resolved; an
/// unset window is the controller's default, 300 s (the functions that read it are given it).
fn rules(v: &Value) -> Result<ScalingRules, String> {
    let select = match v["select_policy"].as_str().unwrap_or("Max") {
        "Max" => ScalingPolicySelect::Max,
        "Min" => ScalingPolicySelect::Min,
        "Disabled" => ScalingPolicySelect::Disabled,
        other => return Err(format!("select policy {other}")),
    };
    let policies = v["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| {
            let (value, period) = (p["value"].as_i64().unwrap() as i32, p["period_s"].as_i64().unwrap() as i32);
            match p["type"].as_str().unwrap() {
                "Pods" => Ok(HpaScalingPolicy::pods(value, period)),
                "Percent" => Ok(HpaScalingPolicy::percent(value, period)),
                other => Err(format!("policy type {other}")),
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ScalingRules {
        stabilization_window_seconds: v["stabilization_window_s"].as_i64().map_or(300, |w| w as i32),
        select_policy: select,
        policies,
    })
}

/// The same rules as a spec would write them (for the controller).
fn spec_rules(v: &Value) -> Result<HpaScalingRules, String> {
    let r = rules(v)?;
    Ok(HpaScalingRules {
        stabilization_window_seconds: v["stabilization_window_s"].as_i64().map(|w| w as i32),
        select_policy: Some(r.select_policy),
        policies: Some(r.policies),
        tolerance: None,
    })
}

fn legacy_stabilize_case(c: &Case) -> Result<(), String> {
    let mut recs = recommendations(c.input("recommendations"));
    let window = c.int("downscale_stabilization_window_s") as u64 * S;
    let got = stabilize_recommendation(&mut recs, c.i32("prenormalized_desired_replicas"), NOW, window);
    c.check("replicas", got.into())?;
    c.check("recommendation_log_length_after", recs.len().into())?;
    if let Some(want) = c.expected("recommendations_after") {
        let want = recommendations(want);
        if want != recs {
            return Err(format!("recommendations after: expected {want:?}, got {recs:?}"));
        }
    }
    Ok(())
}

fn legacy_convert_case(c: &Case) -> Result<(), String> {
    let r = convert_desired_replicas_with_rules(
        c.i32("current_replicas"),
        c.i32("stabilized_desired_replicas"),
        c.i32("min_replicas"),
        c.i32("max_replicas"),
        c.input("scale_up_limit_factor").as_f64().expect("factor"),
        c.input("scale_up_limit_minimum").as_f64().expect("minimum"),
    );
    c.check("replicas", r.replicas.into())?;
    c.check("scaling_limited_reason", r.reason.as_str().into())
}

fn behavior_stabilize_case(c: &Case) -> Result<(), String> {
    let mut recs = recommendations(c.input("recommendations"));
    let s = stabilize_recommendation_with_behaviors(
        &mut recs,
        c.i32("current_replicas"),
        c.i32("prenormalized_desired_replicas"),
        c.i32("scale_up_stabilization_window_s"),
        c.i32("scale_down_stabilization_window_s"),
        NOW,
    );
    c.check("replicas", s.replicas.into())?;
    c.check("recommendation_values_after", recs.iter().map(|r| r.replicas).collect::<Vec<_>>().into())
}

fn behavior_rate_case(c: &Case) -> Result<(), String> {
    let (up, down) = (rules(c.input("scale_up"))?, rules(c.input("scale_down"))?);
    let (up_events, down_events) = (events(c.input("scale_up_events")), events(c.input("scale_down_events")));
    let r = convert_desired_replicas_with_behavior_rate(&RateArgs {
        current: c.i32("current_replicas"),
        desired: c.i32("stabilized_desired_replicas"),
        min: c.i32("min_replicas"),
        max: c.i32("max_replicas"),
        scale_up: &up,
        scale_down: &down,
        up_events: &up_events,
        down_events: &down_events,
        now: NOW,
    });
    c.check("replicas", r.replicas.into())?;
    c.check("scaling_limited_reason", r.reason.as_str().into())
}

fn scale_up_limit_case(c: &Case) -> Result<(), String> {
    let r = rules(c.input("rules"))?;
    let (up, down) = (events(c.input("scale_up_events")), events(c.input("scale_down_events")));
    let l = calculate_scale_up_limit_with_scaling_rules(c.i32("current_replicas"), &up, &down, &r, NOW);
    c.check("limit_replicas", l.limit.into())
}

fn scale_down_limit_case(c: &Case) -> Result<(), String> {
    let r = rules(c.input("rules"))?;
    let (up, down) = (events(c.input("scale_up_events")), events(c.input("scale_down_events")));
    let l = calculate_scale_down_limit_with_behaviors(c.i32("current_replicas"), &up, &down, &r, NOW);
    c.check("limit_replicas", l.limit.into())
}

fn store_scale_event_case(c: &Case) -> Result<(), String> {
    // Without a behavior the controller stores nothing (HpaController::reconcile checks that);
    // every case here has one.
    if c.input("behavior_set") != &Value::Bool(true) {
        return Err("only cases with a behavior are supported".into());
    }
    let r = rules(c.input("rules"))?;
    let period = c.i32("changes_counted_with_period_s");
    // Upstream applies the same data to the scale-up and the scale-down lists: do both.
    for _direction in ["up", "down"] {
        let mut list = events(c.input("previous_events"));
        c.check("replica_change_in_last_60s_before_store", replicas_change_per_period(period, &list, NOW).into())?;
        store_scale_event(&mut list, &r, c.i32("new_event_replica_change"), NOW);
        let got: Vec<Value> = list
            .iter()
            .map(|e| serde_json::json!({"replica_change": e.replica_change, "outdated": e.outdated}))
            .collect();
        c.check("events_after", got.into())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The controller
// ---------------------------------------------------------------------------------------------

fn reconcile_case(c: &Case) -> Result<(), String> {
    // horizontal_test.go's settings (its init() sets the scale-up limit factor to 8).
    let config = ControllerConfig::upstream_test_harness();
    let metric_list: Vec<&Value> = match (c.input("metric"), c.input("metrics")) {
        (Value::Null, Value::Array(list)) => list.iter().collect(),
        (Value::String(s), Value::Null) if s == "not evaluated" => vec![],
        (m @ Value::Object(_), Value::Null) => vec![m],
        other => return Err(format!("metric/metrics: {other:?}")),
    };
    let mut metrics = Vec::new();
    let mut observations = Vec::new();
    let mut pods: Vec<PodInfo> = Vec::new();
    let pods_of = |n: usize, requests: Option<&Vec<Value>>| -> Vec<PodInfo> {
        (0..n)
            .map(|i| {
                let r =
                    requests.map(|r| BTreeMap::from([("cpu".to_string(), r[i].as_i64().unwrap())])).unwrap_or_default();
                PodInfo::running(&format!("test-pod-{i}"), NOW - 3600 * S, r)
            })
            .collect()
    };
    let samples = |values: &Vec<Value>| -> PodMetrics {
        values.iter().enumerate().map(|(i, v)| (format!("test-pod-{i}").into(), sample(v.as_i64().unwrap()))).collect()
    };
    for m in metric_list {
        match m["type"].as_str().expect("metric type") {
            "Resource cpu Utilization" => {
                let usage = m["pod_usage_milli"].as_array().expect("usage");
                let requests = m["pod_request_milli"].as_array().expect("requests");
                pods = pods_of(usage.len(), Some(requests));
                let target = m["target_percent"].as_i64().unwrap() as i32;
                metrics.push(MetricSpec::resource("cpu", MetricTarget::utilization(target)));
                observations.push(MetricObservation::PerPod(samples(usage)));
            }
            "Pods qps AverageValue" => {
                let values = m["pod_values_milli"].as_array().expect("values");
                if pods.is_empty() {
                    pods = pods_of(values.len(), None);
                }
                let target = Quantity::from_milli(m["target_milli"].as_i64().unwrap());
                metrics.push(MetricSpec::pods("qps", MetricTarget::average_value(target)));
                observations.push(MetricObservation::PerPod(samples(values)));
            }
            t if t.starts_with("invalid") => {
                // Upstream's spec names an unknown source type, which the typed spec cannot hold;
                // a metric whose fetch fails takes the same path (an error: one invalid metric).
                metrics
                    .push(MetricSpec::external("cheddar-cheese", MetricTarget::average_value(Quantity::from_units(1))));
                observations.push(MetricObservation::Unavailable(format!("unknown metric source type {t:?}")));
            }
            other => return Err(format!("metric type {other}")),
        }
    }
    let behavior = match c.input("behavior") {
        Value::Null => None,
        Value::Object(b) => {
            let direction = |key: &str| match b.get(key) {
                None | Some(Value::String(_)) => Ok(None), // "API defaults"
                Some(v) => spec_rules(v).map(Some),
            };
            Some(HpaBehavior { scale_up: direction("scale_up")?, scale_down: direction("scale_down")? })
        }
        other => return Err(format!("behavior {other}")),
    };
    let spec = HpaSpec {
        scale_target_ref: None,
        min_replicas: Some(c.i32("min_replicas")),
        max_replicas: c.i32("max_replicas"),
        metrics,
        behavior,
    };
    spec.validate().map_err(|e| format!("{e:?}"))?;
    let history = match c.input("recommendations") {
        Value::Null => None,
        v => Some(recommendations(v)),
    };
    let mut hpa = HpaController::new(&spec, config).with_history(history, vec![], vec![]);
    let spec_replicas = c.i32("spec_replicas");
    let status = c.input("status_replicas").as_i64().map_or(spec_replicas, |s| s as i32);
    let out = hpa.reconcile(&ReconcileInput {
        now: NOW,
        spec_replicas,
        status_replicas: status,
        pods: &pods,
        metrics: &observations,
    });
    c.check("replicas", out.replicas.into()).map_err(|e| format!("{e}\n{}", out.explanation))
}

// ---------------------------------------------------------------------------------------------
// KEDA
// ---------------------------------------------------------------------------------------------

fn keda_scale_executor_case(c: &Case) -> Result<(), String> {
    let so = ScaledObjectSpec {
        scale_target_ref: None,
        polling_interval: None,
        initial_cooldown_period: None,
        cooldown_period: None,
        idle_replica_count: c.input("idle_replica_count").as_i64().map(|v| v as i32),
        min_replica_count: Some(c.i32("min_replica_count")),
        max_replica_count: None,
        advanced: None,
        triggers: vec![],
        fallback: None,
    };
    let last_active = match c.input("last_active_time") {
        Value::Null => None,
        other => return Err(format!("last_active_time {other}")),
    };
    // The ScaledObject was created at the start of the run, long before now.
    let d = request_scale(
        &so,
        &KedaAnnotations::default(),
        &ScaleRequest {
            now: NOW,
            current_replicas: c.i32("current_replicas"),
            is_active: c.input("is_active").as_bool().expect("is_active"),
            is_error: c.input("is_error").as_bool().expect("is_error"),
            last_active_time: last_active,
            creation_time: 0,
        },
    );
    c.check("replicas_set_by_keda", d.set_replicas.map_or(Value::Null, Value::from))?;
    c.check("active_condition", d.active.into())?;
    c.check("last_active_time_set", (d.last_active_time == Some(NOW)).into())
}

fn keda_fallback_case(c: &Case) -> Result<(), String> {
    let f = c.input("fallback");
    let behavior = match f["behavior"].as_str().unwrap_or("static") {
        "static" => FallbackBehavior::Static,
        "currentReplicas" => FallbackBehavior::CurrentReplicas,
        "currentReplicasIfHigher" => FallbackBehavior::CurrentReplicasIfHigher,
        "currentReplicasIfLower" => FallbackBehavior::CurrentReplicasIfLower,
        // Unset in upstream's test: Go's switch takes its default branch, the static value.
        s if s.starts_with("unset") => FallbackBehavior::Static,
        other => return Err(format!("fallback behavior {other}")),
    };
    let fallback = Fallback {
        failure_threshold: f["failureThreshold"].as_i64().expect("failureThreshold") as i32,
        replicas: f["replicas"].as_i64().expect("replicas") as i32,
        behavior,
    };
    let t = c.input("metric_target");
    let value = Quantity::from_units(t["value"].as_i64().expect("target value"));
    let target = match t["type"].as_str() {
        Some("AverageValue") => MetricTarget::average_value(value),
        Some("Value") => MetricTarget::value(value),
        other => return Err(format!("target type {other:?}")),
    };
    // Both upstream tests mock a failing scaler (the first states it as `scaler_error`).
    if !matches!(c.input("scaler_error"), Value::Null | Value::Bool(true)) {
        return Err("only failing scalers are covered".into());
    }
    let current = c.i32("current_replicas");
    let mut health = MetricHealth { number_of_failures: c.i32("number_of_failures_before"), failing: true };
    let got =
        get_metrics_with_fallback(Some(&fallback), &mut health, Err("scaler error".into()), &target, current, current);
    let FallbackResult::Fallback { value_milli, .. } = got else { return Err(format!("no fallback: {got:?}")) };
    c.check("returned_metric_value", (value_milli as f64 / 1000.0).into())?;
    c.check("number_of_failures_after", health.number_of_failures.into())?;
    // What the HPA makes of it (AverageValue, against the status replicas).
    let hpa = average_value_replicas(current, value_milli, value.milli(), Tolerances::default());
    c.check("implied_hpa_replicas", hpa.replicas.into())
}
