//! Elasticity and flapping figures that mean what they say (issue 16): independent of the
//! report's step, zero for a fixed replica count where the load does not move, node groups'
//! flapping counted, and `autosim compare` refusing runs computed under different settings.

use autosim::report::elasticity::reversals;
use autosim::report::Report;
use autosim::Experiment;

use super::common;

const S: u64 = 1_000_000_000;

fn shipped(name: &str) -> Experiment {
    autosim::load(&common::root().join("scenarios").join(name)).unwrap()
}

fn policy(sc: &Experiment, name: &str) -> usize {
    sc.policies.iter().position(|p| p.name == name).unwrap_or_else(|| panic!("no policy {name}"))
}

/// The run of `policy` with the report's step set to `step_ns`.
fn at_step(sc: &Experiment, policy: usize, step_ns: u64) -> Report {
    let mut sc = sc.clone();
    sc.scenario.step_ns = step_ns;
    common::run(&sc, policy)
}

fn same_figures(a: &Report, b: &Report, what: &str) {
    let (x, y) = (&a.summary, &b.summary);
    // The simulation is the same ...
    assert_eq!(x.requests.completed, y.requests.completed, "{what}");
    assert_eq!(x.latency_s.p99, y.latency_s.p99, "{what}");
    assert_eq!(x.cost.pod_seconds, y.cost.pod_seconds, "{what}");
    // ... and so are the elasticity, responsiveness and flapping figures, exactly.
    assert_eq!(x.elasticity, y.elasticity, "{what}");
    assert_eq!(x.responsiveness, y.responsiveness, "{what}");
    assert_eq!(a.response_events, b.response_events, "{what}");
    assert_eq!(x.scaling, y.scaling, "{what}");
    for (name, s) in &x.services {
        assert_eq!(s.elasticity, y.services[name].elasticity, "{what}: {name}");
        assert_eq!(s.scaling, y.services[name].scaling, "{what}: {name}");
    }
    assert_ne!(x.metric_settings.step_s, y.metric_settings.step_s, "{what}: the settings state the step");
}

#[test]
fn elasticity_and_flapping_do_not_depend_on_the_step() {
    // The HPA on the spike, shortened to 50 minutes, at steps of 100 ms, 15 s and 1 min.
    let mut sc = shipped("high-load-spike.toml");
    sc.scenario.duration_ns = 3000 * S;
    let i = policy(&sc, "hpa-cpu-60");
    let fine = at_step(&sc, i, S / 10);
    let mid = at_step(&sc, i, 15 * S);
    let coarse = at_step(&sc, i, 60 * S);
    let e = &mid.summary.elasticity;
    assert!(e.supply_adaptations > 0.0 && e.demand_changes > 0.0 && mid.summary.responsiveness.events >= 1, "{e:?}");
    same_figures(&fine, &mid, "100ms vs 15s");
    same_figures(&coarse, &mid, "1m vs 15s");
    // A sized-for-base fixed count is short during the spike, whatever the step.
    let j = policy(&sc, "sized-for-base");
    same_figures(&at_step(&sc, j, S / 10), &at_step(&sc, j, 60 * S), "sized-for-base");
}

#[test]
fn node_flapping_does_not_depend_on_the_step() {
    let sc = shipped("node-pool-spike.toml");
    let i = policy(&sc, "hpa-node-pool-fast");
    let a = at_step(&sc, i, S / 10);
    let b = at_step(&sc, i, 60 * S);
    assert!(a.summary.scaling.by_controller["nodes"].reversals > 0);
    same_figures(&a, &b, "node-pool-fast 100ms vs 1m");
}

/// A fixed replica count (6 pods of 4 slots) on `pattern`, judged after a one-minute
/// warm-up (the pods are ready by then).
fn fixed(pattern: &str) -> Experiment {
    common::scenario(&format!(
        r#"
name = "fixed"
duration = "10m"
warmup = "1m"
step = "15s"
report = {{ demand_utilization = 0.8 }}

[[cluster.node_pools]]
name = "pool"
cpu = "4"
memory = "16Gi"
nodes = 4

[[services]]
name = "api"
replicas = 6
concurrency = 4
service_time = {{ dist = "exponential", mean = "50ms" }}
resources = {{ cpu = "500m", memory = "128Mi" }}
workload.pattern = {pattern}

[[policies]]
name = "fixed"
pods = {{ kind = "static", replicas = 6 }}
"#
    ))
}

#[test]
fn a_fixed_replica_count_is_neither_unstable_nor_jittery() {
    // Constant Poisson load, 100/s x 50 ms = 5 busy slots: ceil(5 / (4 x 0.8)) = 2 pods, all
    // the time (the realised arrivals vary; the intensity does not).
    let r = common::run(&fixed(r#"{ kind = "constant", rate = 100 }"#), 0);
    let e = &r.summary.elasticity;
    assert_eq!((e.instability, e.jitter_per_minute, e.supply_adaptations, e.demand_changes), (0.0, 0.0, 0.0, 0.0), "{e:?}");
    assert_eq!((e.over_timeshare, e.under_timeshare), (1.0, 0.0), "{e:?}");
    assert!((e.over_accuracy_pods - 4.0).abs() < 1e-12 && (e.over_accuracy - 2.0).abs() < 1e-12, "{e:?}");
    assert!((e.demand_pod_seconds - 2.0 * 540.0).abs() < 1e-9, "{e:?}");
    // The per-step demand column still flickers with the realised work; the metrics do not
    // read it.
    assert_eq!(r.summary.scaling.events, 0);

    // A step from 100/s to 400/s at 5 minutes: demand 2 -> ceil(20 / 3.2) = 7 pods. Supply
    // never moves: no instability, no adaptation; jitter is SPEC's (E_S - E_D) / T, the
    // demand's 5 pods of change over the 9 minutes judged (sluggishness, not flapping).
    let r = common::run(&fixed(r#"{ kind = "step", steps = [ { at = "0s", rate = 100 }, { at = "5m", rate = 400 } ] }"#), 0);
    let e = &r.summary.elasticity;
    assert_eq!((e.instability, e.supply_adaptations, e.demand_changes), (0.0, 0.0, 5.0), "{e:?}");
    assert!((e.jitter_per_minute + 5.0 / 9.0).abs() < 1e-12, "{e:?}");
    // Short by 1 pod of 7 for the last 5 minutes.
    assert!((e.under_timeshare - 5.0 / 9.0).abs() < 1e-12 && (e.under_accuracy - 5.0 / 9.0 / 7.0).abs() < 1e-12, "{e:?}");
    assert_eq!(r.summary.responsiveness.events, 1);
    assert!(!r.response_events[0].resolved && r.response_events[0].start_s == 300.0);
}

#[test]
fn node_pool_with_short_cooldowns_shows_its_node_reversals() {
    // The issue's case: the node-pool autoscaler on short cooldowns drains a worker and adds
    // one about once a minute. Hand count from decisions.csv: each applied node decision is a
    // change of its group's size (a pool target: from -> to; a node: one fewer).
    let sc = shipped("node-pool-spike.toml");
    let i = policy(&sc, "hpa-node-pool-fast");
    let r = common::run(&sc, i);
    let changes: Vec<(u64, u32, u32)> = r
        .decisions
        .iter()
        .filter(|d| d.verdict == "apply" && d.controller == "nodes" && d.from != d.to)
        .map(|d| {
            let t = (d.time_s * 1e9).round() as u64;
            if d.target == "k3s-worker" { (t, d.from, d.to) } else { (t, 2, 1) }
        })
        .collect();
    let (events, revs) = reversals(&changes, sc.scenario.report.reversal_window_ns);
    let s = &r.summary.scaling;
    let nodes = s.by_controller["nodes"];
    let pods = s.by_controller["pods"];
    assert_eq!((nodes.events, nodes.reversals), (events, revs), "{s:?}");
    assert!(nodes.reversals >= 5, "{s:?}");
    assert_eq!(s.by_pool["k3s-worker"], nodes);
    // The run's figures are the sum of its controllers'.
    assert_eq!((s.events, s.reversals), (pods.events + nodes.events, pods.reversals + nodes.reversals));
    assert_eq!(s.scale_ups + s.scale_downs, s.events);
    // The terminal table and the reports say so.
    let table = autosim::output::terminal_table(std::slice::from_ref(&r));
    assert!(table.contains(&format!(" {} ", s.reversals)), "{table}");
    let line = autosim::render::markdown::flapping_line(s);
    assert!(line.contains(&format!("node groups {} events, {} reversals", nodes.events, nodes.reversals)), "{line}");
}

#[test]
fn compare_refuses_runs_with_different_metric_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let file = common::root().join("scenarios/quickstart.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\nstep = "), "quickstart sets its step");
    let other: String = text
        .lines()
        .map(|l| if l.starts_with("step = ") { "step = \"1m\"".to_string() } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n");
    let other_file = tmp.path().join("quickstart-1m.toml");
    std::fs::write(&other_file, other).unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for (f, out) in [(&file, &a), (&other_file, &b)] {
        let (code, _, err) = common::autosim([
            "run".as_ref(),
            f.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "-q".as_ref(),
            "--no-plots".as_ref(),
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let cmp = tmp.path().join("cmp");
    let (code, _, err) =
        common::autosim(["compare".as_ref(), a.as_os_str(), b.as_os_str(), "--out".as_ref(), cmp.as_os_str(), "-q".as_ref(), "--no-plots".as_ref()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("different settings") && err.contains("step 60s"), "{err}");
    assert!(!cmp.join("comparison.csv").exists());
    // The same settings compare.
    let (code, _, err) =
        common::autosim(["compare".as_ref(), a.as_os_str(), a.as_os_str(), "--out".as_ref(), cmp.as_os_str(), "-q".as_ref(), "--no-plots".as_ref()]);
    assert_eq!(code, 0, "{err}");
    // latency_cdf.csv states its precision and ends at the run's largest latency.
    let pol = std::fs::read_dir(&a).unwrap().filter_map(|e| e.ok()).find(|e| e.path().join("summary.json").is_file()).unwrap().path();
    let cdf = std::fs::read_to_string(pol.join("latency_cdf.csv")).unwrap();
    assert!(cdf.starts_with("latency_s,share,relative_precision\n"), "{cdf:.80}");
    let last: Vec<f64> = cdf.lines().last().unwrap().split(',').map(|x| x.parse().unwrap()).collect();
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pol.join("summary.json")).unwrap()).unwrap();
    let max = summary["latency_s"]["max"].as_f64().unwrap();
    assert_eq!((last[0], last[1], last[2]), (max, 1.0, 0.001));
}
