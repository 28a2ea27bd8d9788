//! Node autoscalers: the seed's node-pool autoscaler (pending pods wait for provisioned nodes,
//! permanent nodes survive, LIFO drains restart pods, cooldowns, failed provisioning rolled
//! back) and the Cluster Autoscaler (no scale-down of a node whose pods would not fit
//! elsewhere, binpacking and expanders across pools with prices).

use std::sync::Arc;

use autosim::report::{DecisionRow, Report, Row};

use crate::common::{assert_conserved, run, scenario};
use crate::conservation::Cycle;

const S: u64 = 1_000_000_000;

fn at(rows: &[Row], t: f64) -> &Row {
    rows.iter().find(|r| (r.time_s - t).abs() < 1e-9).unwrap_or_else(|| panic!("no row at {t}"))
}

fn node_rows(r: &Report) -> Vec<&DecisionRow> {
    r.decisions.iter().filter(|d| d.controller == "nodes").collect()
}

fn applied(r: &Report) -> Vec<&DecisionRow> {
    node_rows(r).into_iter().filter(|d| d.verdict == "apply").collect()
}

/// One pool of 1-CPU nodes (room for two 500m pods each) and one service.
fn pool_scenario(nodes: u32, permanent: u32, pool_extra: &str, rate: f64, nodes_policy: &str) -> String {
    format!(
        r#"
name = "nodes"
duration = "10m"
step = "5s"
[[cluster.node_pools]]
name = "workers"
cpu = "1"
memory = "4Gi"
nodes = {nodes}
min = 1
max = 4
permanent = {permanent}
price_per_hour = 0.36
provision_time = "60s"
drain_time = "30s"
{pool_extra}
[[services]]
name = "api"
replicas = 2
concurrency = 4
service_time = {{ dist = "exponential", mean = "50ms" }}
resources = {{ cpu = "500m", memory = "256Mi" }}
startup = "5s"
shutdown_grace = "5s"
workload = {{ pattern = {{ kind = "constant", rate = {rate} }} }}
[[policies]]
name = "p"
pods.kind = "static"
[policies.nodes]
{nodes_policy}
"#
    )
}

#[test]
fn node_pool_pods_wait_pending_until_a_provisioned_node_arrives() {
    // At 7 s the deployment goes to 4 pods: two fit on the one node, two stay Pending. The
    // check at 10 s adds a worker, ready 60 s later; the pods then start (5 s).
    let mut sc = scenario(&pool_scenario(1, 1, "", 4.0, "kind = \"node-pool\"\nscale_up_cooldown = \"0s\"\ncpu_scale_down = 5\npending_metric = \"unschedulable\"\npending_fast_path = false\nmin_nodes = 1"));
    sc.policies[0].pods[0] = Arc::new(Cycle { service: 0, period: 7 * S, replicas: vec![4; 200], i: 0 });
    let r = run(&sc, 0);
    assert_conserved(&r);
    let up = applied(&r);
    assert!(!up.is_empty());
    assert_eq!((up[0].time_s, up[0].from, up[0].to), (10.0, 1, 2), "{:?}", up[0]);
    assert!(up[0].reason.contains("2 pending pods"), "{}", up[0].reason);
    let waiting = at(&r.timeseries, 65.0);
    assert_eq!((waiting.pods_ready, waiting.pods_pending, waiting.nodes_provisioning, waiting.nodes_ready), (2, 2, 1, 1));
    let joined = at(&r.timeseries, 70.0);
    assert_eq!((joined.nodes_ready, joined.pods_pending, joined.pods_starting), (2, 0, 2), "{joined:?}");
    assert_eq!(at(&r.timeseries, 75.0).pods_ready, 4);
    // Then nothing more to do: no pending pods, CPU above the scale-down threshold.
    assert_eq!(up.len(), 1, "{up:?}");
}

#[test]
fn node_pool_cooldown_holds_between_scale_ups() {
    // 8 pods need 4 nodes; each scale-up waits for its node (60 s), then 90 s of cooldown.
    let mut sc = scenario(&pool_scenario(1, 1, "", 4.0, "kind = \"node-pool\"\nscale_up_cooldown = \"90s\"\ncpu_scale_down = 2\npending_metric = \"unschedulable\"\npending_fast_path = false\nmin_nodes = 1"));
    sc.policies[0].pods[0] = Arc::new(Cycle { service: 0, period: 7 * S, replicas: vec![8; 200], i: 0 });
    let r = run(&sc, 0);
    let ups: Vec<_> = applied(&r).into_iter().filter(|d| d.to > d.from).collect();
    assert_eq!(ups.len(), 3, "{ups:?}");
    // The first node joins at 70 s; its cooldown runs from the check that saw it (70 s).
    assert_eq!(ups[0].time_s, 10.0);
    assert!(ups[1].time_s >= 70.0 + 90.0, "{:?}", ups[1]);
    assert!(ups[2].time_s >= ups[1].time_s + 60.0 + 90.0, "{:?}", ups[2]);
    let blocked: Vec<_> = node_rows(&r).into_iter().filter(|d| d.verdict == "blocked").collect();
    assert!(blocked.iter().any(|d| d.time_s > 70.0 && d.time_s < ups[1].time_s && d.reason.contains("scale-up cooldown")), "{blocked:?}");
    // No decision while a scale-up is in progress (the seed's cycle blocks on it).
    assert!(node_rows(&r).iter().all(|d| !(d.time_s > 10.0 && d.time_s < 70.0)));
    assert_eq!(r.summary.policy_stats["nodes.cluster.scale_ups"], 3.0);
}

#[test]
fn node_pool_removes_newest_first_keeps_permanent_nodes_and_restarts_drained_pods() {
    // 3 nodes (the first permanent), 2 pods on workers-0 and workers-1, light load: the pool
    // shrinks newest first: workers-2 (empty), then workers-1 (drained: its pod starts again
    // on workers-0 and pays its startup), never workers-0.
    // (Counting starting pods as pending, the drained pod's restart would ask for a node
    // again: this test holds the drain itself, so it counts unscheduled pods only.)
    let policy = "kind = \"node-pool\"\nmin_nodes = 1\nscale_down_cooldown = \"60s\"\npending_metric = \"unschedulable\"";
    let sc = scenario(&pool_scenario(3, 1, "", 2.0, policy).replace("startup = \"5s\"", "startup = \"20s\""));
    let r = run(&sc, 0);
    assert_conserved(&r);
    let downs = applied(&r);
    let targets: Vec<&str> = downs.iter().map(|d| d.target.as_str()).collect();
    assert_eq!(targets, ["workers-2", "workers-1"], "{downs:?}");
    assert!(downs[1].time_s >= downs[0].time_s + 60.0, "scale-down cooldown");
    let end = at(&r.timeseries, 600.0);
    assert_eq!((end.nodes_ready, end.pods_ready), (1, 2), "{end:?}");
    // The drained pod's replacement started again.
    let after = downs[1].time_s;
    assert!(r.timeseries.iter().any(|row| row.time_s > after && row.time_s <= after + 15.0 && row.pods_starting == 1));
    // At the minimum the policy holds.
    assert!(node_rows(&r).iter().any(|d| d.verdict == "hold" && d.reason.contains("min nodes")));
}

#[test]
fn node_pool_provisioning_failure_is_logged_rolled_back_and_cooled_down() {
    let mut sc = scenario(&pool_scenario(1, 1, "provision_failure = 1.0", 4.0, "kind = \"node-pool\"\nscale_up_cooldown = \"30s\"\npending_metric = \"unschedulable\"\npending_fast_path = false\nmin_nodes = 1"));
    sc.policies[0].pods[0] = Arc::new(Cycle { service: 0, period: 7 * S, replicas: vec![4; 200], i: 0 });
    let r = run(&sc, 0);
    let failed: Vec<_> = node_rows(&r).into_iter().filter(|d| d.reason.starts_with("scale-up failed")).collect();
    // The policy checks every 5 s; the pods go to 4 at 7 s, two stay pending. Each attempt
    // fails when its node should have joined (60 s of provisioning) and restarts the 30 s
    // scale-up cooldown from the failure: attempts every 90 s, at 10 + 90k s (7 in the 10
    // minutes: 10 to 550 s), failures at 70 + 90k s (6: the last attempt's would come at 610 s,
    // after the run).
    let times = |v: &[&DecisionRow]| v.iter().map(|d| d.time_s).collect::<Vec<f64>>();
    assert_eq!(times(&failed), (0..6).map(|k| 70.0 + 90.0 * f64::from(k)).collect::<Vec<_>>());
    let ups: Vec<_> = applied(&r).into_iter().filter(|d| d.to > d.from).collect();
    assert_eq!(times(&ups), (0..7).map(|k| 10.0 + 90.0 * f64::from(k)).collect::<Vec<_>>());
    assert!(ups.iter().all(|d| (d.from, d.to) == (1, 2)));
    assert_eq!(r.summary.policy_stats["nodes.cluster.provision_failures"], 6.0);
    assert_eq!(r.summary.policy_stats["nodes.cluster.scale_ups"], 7.0);
    // The node never joined: the pods stay pending. Each node was billed while provisioning:
    // the permanent one 600 s, six failed ones 60 s each, the last one from 550 s to the end.
    assert!(r.timeseries.iter().all(|row| row.nodes_ready == 1 && row.pods_ready == 2));
    assert_eq!(r.summary.cost.node_seconds, 600.0 + 6.0 * 60.0 + 50.0);
}

#[test]
fn node_pool_counts_starting_pods_as_pending_and_its_fast_path_does_not_wait() {
    // At 7 s the deployment goes to 8 pods: 2 fit on the one node, 6 stay Pending. The cycle
    // at 10 s adds a worker; while it joins (60 s), the seed's PendingPodsDetected handler adds
    // one per check (15 s, 20 s) until the workers ready and joining reach `max_nodes` (the
    // seed's 6, within the pool's `max` 4: 4).
    let mut sc = scenario(&pool_scenario(1, 1, "", 4.0, "kind = \"node-pool\"\nmin_nodes = 1\ncpu_scale_down = 2"));
    sc.policies[0].pods[0] = Arc::new(Cycle { service: 0, period: 7 * S, replicas: vec![8; 200], i: 0 });
    let r = run(&sc, 0);
    assert_conserved(&r);
    let ups: Vec<_> = applied(&r).into_iter().filter(|d| d.to > d.from).collect();
    let times: Vec<f64> = ups.iter().map(|d| d.time_s).collect();
    assert_eq!(times, [10.0, 15.0, 20.0], "{ups:?}");
    assert!(ups[1].reason.starts_with("scale_up (pending pods fast path): 6 pending pods >= 1"), "{}", ups[1].reason);
    assert_eq!(r.summary.policy_stats["nodes.cluster.fast_path_scale_ups"], 2.0);
    assert_eq!(at(&r.timeseries, 600.0).nodes_ready, 4);

    // Starting pods are Pending (kube_pod_status_phase): 2 pods go to 3 on a node with room
    // for 2 more; the new pod is scheduled at once but counts as pending while it starts (20 s).
    let sc2 = pool_scenario(2, 2, "", 4.0, "kind = \"node-pool\"\nmin_nodes = 1\ncpu_scale_down = 2").replace("startup = \"5s\"", "startup = \"20s\"");
    let mut phase = scenario(&sc2);
    phase.policies[0].pods[0] = Arc::new(Cycle { service: 0, period: 7 * S, replicas: vec![3; 200], i: 0 });
    let r = run(&phase, 0);
    let up = applied(&r);
    assert!(!up.is_empty() && up[0].time_s == 10.0 && up[0].reason.contains("1 pending pods"), "{up:?}");
    // Counting only the unschedulable pods, nothing is pending: no scale-up.
    let mut unsched = scenario(&sc2.replace("min_nodes = 1", "min_nodes = 1\npending_metric = \"unschedulable\""));
    unsched.policies[0].pods[0] = Arc::new(Cycle { service: 0, period: 7 * S, replicas: vec![3; 200], i: 0 });
    let r = run(&unsched, 0);
    assert!(applied(&r).iter().all(|d| d.to <= d.from), "{:?}", applied(&r));
}

#[test]
fn node_pool_enforces_the_seeds_minimum_whatever_the_load() {
    // One node, light load, the seed's default `min_nodes` (2): the first check adds a worker.
    let r = run(&scenario(&pool_scenario(1, 1, "", 1.0, "kind = \"node-pool\"")), 0);
    let up = applied(&r);
    assert_eq!((up[0].time_s, up[0].from, up[0].to), (5.0, 1, 2), "{up:?}");
    assert!(up[0].reason.starts_with("minimum_node_enforcement: 1 workers ready and 0 joining < min nodes (2)"), "{}", up[0].reason);
    assert_eq!(r.summary.policy_stats["nodes.cluster.minimum_node_scale_ups"], 1.0);
    // Never below 2 afterwards (light load: scale-down is wanted but held at the minimum).
    assert!(r.timeseries.iter().filter(|row| row.time_s >= 70.0).all(|row| row.nodes_ready == 2));
}

/// Cluster Autoscaler scenarios.
fn ca_scenario(pools: &str, replicas: u32, cpu: &str, memory: &str, ca: &str) -> String {
    format!(
        r#"
name = "ca"
duration = "30m"
step = "10s"
{pools}
[[services]]
name = "api"
replicas = {replicas}
concurrency = 4
service_time = {{ dist = "exponential", mean = "20ms" }}
resources = {{ cpu = "{cpu}", memory = "{memory}" }}
workload = {{ pattern = {{ kind = "constant", rate = 2 }} }}
[[policies]]
name = "ca"
pods.kind = "static"
[policies.nodes]
kind = "cluster-autoscaler"
{ca}
"#
    )
}

const TWO_NODES: &str = r#"
[[cluster.node_pools]]
name = "a"
cpu = "1"
memory = "4Gi"
nodes = 2
min = 0
max = 3
"#;

#[test]
fn cluster_autoscaler_keeps_a_node_whose_pods_would_not_fit_elsewhere() {
    // 3 pods of 450m on two 1-CPU nodes: a-0 holds two (90%), a-1 one (45%, under 0.5), but
    // that pod does not fit in a-0's 100m left. a-1 is not unneeded: no scale-down.
    let flags = "scale_down_unneeded_time = \"1m\"\nscale_down_delay_after_add = \"0s\"";
    let r = run(&scenario(&ca_scenario(TWO_NODES, 3, "450m", "256Mi", flags)), 0);
    assert!(applied(&r).is_empty(), "{:?}", applied(&r));
    assert!(r.timeseries.iter().all(|row| row.nodes_ready == 2));
    let why: Vec<_> = node_rows(&r).into_iter().filter(|d| d.target == "a-1").collect();
    assert_eq!(why.len(), 1, "logged once, on change: {why:?}");
    assert!(why[0].reason.contains("would not fit"), "{}", why[0].reason);
    // Control: with two pods (one per node) each node's pod fits on the other, so one node is
    // removed after scale_down_unneeded_time, and only one.
    let r = run(&scenario(&ca_scenario(TWO_NODES, 2, "450m", "256Mi", flags)), 0);
    assert_conserved(&r);
    let downs = applied(&r);
    assert_eq!(downs.len(), 1, "{downs:?}");
    // Unneeded from the first scan (10 s), deleted 1 minute later.
    assert_eq!(downs[0].time_s, 70.0);
    assert!(downs[0].reason.contains("non-empty"));
    assert_eq!(at(&r.timeseries, 1800.0).nodes_ready, 1);
    assert_eq!(at(&r.timeseries, 1800.0).pods_ready, 2);
}

fn pools(second: &str) -> String {
    format!(
        r#"
[[cluster.node_pools]]
name = "base"
cpu = "1"
memory = "8Gi"
nodes = 1
permanent = 1
price_per_hour = 0.05
[[cluster.node_pools]]
name = "small"
cpu = "2"
memory = "8Gi"
nodes = 0
max = 10
price_per_hour = 0.10
provision_time = "30s"
{second}
"#
    )
}

fn first_scale_up(r: &Report) -> &DecisionRow {
    applied(r).into_iter().find(|d| d.to > d.from).expect("a scale-up")
}

#[test]
fn cluster_autoscaler_binpacks_pending_pods_and_the_expander_picks_the_pool() {
    // 5 pods of 1 CPU: one fits on base, 4 are unschedulable. small (2 CPU) needs 2 nodes,
    // big (4 CPU / 32Gi) 1 node.
    let big = "[[cluster.node_pools]]\nname = \"big\"\ncpu = \"4\"\nmemory = \"32Gi\"\nnodes = 0\nmax = 10\nprice_per_hour = 0.30\nprovision_time = \"30s\"";
    // least-waste: small wastes cpu 0 + memory (16-4)/16 = 0.75; big cpu 0 + memory 28/32.
    let r = run(&scenario(&ca_scenario(&pools(big), 5, "1", "1Gi", "expander = \"least-waste\"")), 0);
    let up = first_scale_up(&r);
    assert_eq!((up.target.as_str(), up.from, up.to, up.time_s), ("small", 0, 2, 10.0), "{up:?}");
    assert!(up.reason.contains("4 unschedulable pods"), "{}", up.reason);
    // The pods wait for the nodes (provision 30 s) and are then all running.
    assert_eq!(at(&r.timeseries, 30.0).pods_pending, 4);
    assert_eq!(at(&r.timeseries, 40.0).pods_pending, 0);
    assert_eq!(r.summary.cost.node_seconds_by_pool["big"], 0.0);
    // Memory-heavy pods (1 CPU, 6Gi): small fits one per node (4 nodes, waste 0.5 + 0.25),
    // big four (one node: waste 0 + 0.25): least-waste picks big.
    let r = run(&scenario(&ca_scenario(&pools(big), 5, "1", "6Gi", "expander = \"least-waste\"")), 0);
    let up = first_scale_up(&r);
    assert_eq!((up.target.as_str(), up.to), ("big", 1), "{up:?}");
    // most-pods: both options hold all 4 pods (small 4 nodes, big 1): a tie, settled by the
    // seeded random choice.
    let sc = scenario(&ca_scenario(&pools(big), 5, "1", "6Gi", "expander = \"most-pods\""));
    let first = run(&sc, 0);
    let up = first_scale_up(&first);
    assert!(up.reason.contains("options: small +4, 4 pods; big +1, 4 pods"), "a tie: {}", up.reason);
    assert_eq!(seeded_choices(&sc, "most-pods", &["small", "big"]), ["small", "big"], "every seed's winner is its draw; seeds differ");
}

/// The pool the first tied choice of the `expander` stream picks among `tied` (in the order of
/// the node pools) for `seed`: the expander draws an index uniformly from its own stream.
fn drawn(seed: u64, tied: &[&str]) -> String {
    use rand::Rng as _;
    tied[autosim::engine::rng::stream(seed, "cluster-autoscaler/expander").gen_range(0..tied.len())].to_string()
}

/// Runs `sc` on seeds 1..=24 and checks that each seed's first scale-up goes where its draw
/// says and that the expander named in the reason is `expander`; returns the distinct winners
/// in the order of `tied`.
fn seeded_choices(sc: &autosim::Experiment, expander: &str, tied: &[&str]) -> Vec<String> {
    let mut won = std::collections::BTreeMap::<String, u32>::new();
    for seed in 1..=24 {
        let r = crate::common::run_seed(sc, 0, seed);
        let up = first_scale_up(&r);
        assert!(up.reason.contains(&format!("expander {expander} chose {}", up.target)), "{}", up.reason);
        assert_eq!(up.target, drawn(seed, tied), "seed {seed}: {}", up.reason);
        *won.entry(up.target.clone()).or_default() += 1;
    }
    // A fair choice between two: each wins 6 to 18 times in 24 (the binomial's 99.6 % range).
    if tied.len() == 2 {
        assert!(won.values().all(|&n| (6..=18).contains(&n)), "{won:?}");
    }
    tied.iter().filter(|t| won.contains_key(**t)).map(|t| t.to_string()).collect()
}

#[test]
fn cluster_autoscaler_random_expander_draws_among_the_pools_that_help() {
    // Three groups: small and big can hold the pending pods, tiny (500m) cannot hold a 1-CPU
    // pod: `random` draws between small and big only, as its seed's stream says.
    let big = "[[cluster.node_pools]]\nname = \"big\"\ncpu = \"4\"\nmemory = \"32Gi\"\nnodes = 0\nmax = 10\nprice_per_hour = 0.30\nprovision_time = \"30s\"";
    let tiny = "[[cluster.node_pools]]\nname = \"tiny\"\ncpu = \"500m\"\nmemory = \"32Gi\"\nnodes = 0\nmax = 10\nprice_per_hour = 0.01\nprovision_time = \"30s\"";
    let sc = scenario(&ca_scenario(&pools(&format!("{big}\n{tiny}")), 5, "1", "1Gi", "expander = \"random\""));
    let first = run(&sc, 0);
    let up = first_scale_up(&first);
    assert!(up.reason.contains("options: small +2; big +1"), "{}", up.reason);
    assert_eq!(seeded_choices(&sc, "random", &["small", "big"]), ["small", "big"]);
}

#[test]
fn cluster_autoscaler_price_expander_picks_the_cheaper_pool_of_the_same_shape() {
    let dear = "[[cluster.node_pools]]\nname = \"dear\"\ncpu = \"2\"\nmemory = \"8Gi\"\nnodes = 0\nmax = 10\nprice_per_hour = 0.25\nprovision_time = \"30s\"";
    let r = run(&scenario(&ca_scenario(&pools(dear), 5, "1", "1Gi", "expander = \"price\"")), 0);
    let up = first_scale_up(&r);
    assert_eq!((up.target.as_str(), up.to), ("small", 2), "{up:?}");
    assert!(up.reason.contains("price score"), "{}", up.reason);
}

#[test]
fn cluster_autoscaler_leaves_pods_that_fit_no_node_group_pending() {
    // A 3-CPU pod fits no template: no scale-up, logged once, the pod stays Pending.
    let r = run(&scenario(&ca_scenario(&pools(""), 2, "3", "1Gi", "")), 0);
    assert!(applied(&r).is_empty(), "{:?}", applied(&r));
    let rows: Vec<_> = node_rows(&r).into_iter().filter(|d| d.reason.starts_with("pods didn't trigger scale-up")).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].target, "api", "the pods' service");
    assert!(r.timeseries.iter().all(|row| row.pods_pending == 2));
}

#[test]
fn cluster_autoscaler_backs_off_a_group_whose_nodes_fail() {
    // A failing group: the scale-up's node never joins; the group is backed off for 5m,
    // so the next attempt comes no sooner.
    let failing = pools("").replace("provision_time = \"30s\"", "provision_time = \"30s\"\nprovision_failure = 1.0");
    let r = run(&scenario(&ca_scenario(&failing, 3, "1", "1Gi", "")), 0);
    let ups: Vec<_> = applied(&r).into_iter().filter(|d| d.to > d.from).collect();
    assert!(ups.len() >= 2, "{ups:?}");
    assert_eq!(ups[0].time_s, 10.0);
    // Failure seen at 40 s (scan after the node failed at 40 s): backoff 5 m.
    assert!(ups[1].time_s >= 40.0 + 300.0, "{:?}", ups[1]);
    assert!(node_rows(&r).iter().any(|d| d.reason.starts_with("failed scale-up of node group small")));
    assert!(r.summary.policy_stats["nodes.cluster.failed_scale_ups"] >= 1.0);
}

#[test]
fn bad_node_policy_settings_are_reported_with_their_place() {
    let cases = [
        ("kind = \"node-pool\"\ncpu_scale_down = 90", "`cpu_scale_down` (90) must be below `cpu_threshold` (80)"),
        ("kind = \"node-pool\"\nmax_nodes = 9", "`max_nodes` (9) is above node pool \"workers\"'s `max` (4)"),
        ("kind = \"node-pool\"\nmin_nodes = 0", "`min_nodes` (0) is below node pool \"workers\"'s `min` (1)"),
        ("kind = \"node-pool\"\ncheck_interval = \"0s\"", "`check_interval` must be at least 1ms"),
        ("kind = \"cluster-autoscaler\"\nexpander = \"cheapest\"", "`expander`"),
        ("kind = \"cluster-autoscaler\"\nscale_down_utilization_threshold = 50", "expected a fraction in [0, 1]"),
        ("kind = \"cluster-autoscaler\"\nscan-interval = \"10s\"", "unknown key `scan-interval`"),
    ];
    for (policy, expected) in cases {
        let text = pool_scenario(1, 1, "", 1.0, policy);
        let e = match autosim::parse(&text, std::path::Path::new(".")) {
            Ok(_) => panic!("{policy:?} was accepted"),
            Err(e) => e,
        };
        assert!(e.message.contains(expected), "{policy:?}: {}", e.message);
        let span = e.span.expect("a place in the file");
        let line = &text[span];
        assert!(policy.lines().any(|l| l.contains(line.trim_matches('"')) || line.contains(l)), "{policy:?} points at {line:?}");
    }
    let text = pool_scenario(1, 1, "provision_failure = 1.5", 1.0, "kind = \"static\"");
    let e = autosim::parse(&text, std::path::Path::new(".")).expect_err("rejected");
    assert!(e.message.contains("`provision_failure` = 1.5: expected a probability in [0, 1]"), "{}", e.message);
    assert_eq!(&text[e.span.expect("placed")], "1.5");
}
