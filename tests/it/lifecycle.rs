//! Pods and nodes through their lives: pending for lack of room, startup, scale-down order,
//! provisioning, permanent nodes, drains that restart pods elsewhere, and the cost they add up to.

use std::sync::Arc;

use autosim::report::Row;

use crate::common::{assert_conserved, run, scenario};
use crate::conservation::{Cycle, NodeCycle};

const S: u64 = 1_000_000_000;

fn at(rows: &[Row], t: f64) -> &Row {
    rows.iter().find(|r| (r.time_s - t).abs() < 1e-9).unwrap_or_else(|| panic!("no row at {t}"))
}

fn base(replicas: u32, nodes: u32, extra_service: &str) -> String {
    format!(
        r#"
name = "lifecycle"
duration = "300s"
step = "5s"
[cluster]
[[cluster.node_pools]]
name = "pool"
cpu = "1"
memory = "4Gi"
price_per_hour = 0.36
nodes = {nodes}
min = 0
max = 4
permanent = 1
provision_time = "30s"
drain_time = "10s"
[[services]]
name = "svc"
replicas = {replicas}
concurrency = 4
service_time = {{ dist = "exponential", mean = "50ms" }}
resources = {{ cpu = "500m", memory = "256Mi" }}
workload = {{ pattern = {{ kind = "constant", rate = 20 }} }}
{extra_service}
"#
    )
}

#[test]
fn pods_that_do_not_fit_stay_pending_and_cost_nothing() {
    // One node of 1 CPU holds two pods of 500m; the third waits.
    let sc = scenario(&base(3, 1, ""));
    let r = run(&sc, 0);
    assert_conserved(&r);
    let row = at(&r.timeseries, 100.0);
    assert_eq!((row.pods_ready, row.pods_pending), (2, 1));
    assert!((r.summary.cost.pod_seconds - 600.0).abs() < 1e-6, "{}", r.summary.cost.pod_seconds);
    // One node for 300 s at $0.36/h.
    assert!((r.summary.cost.dollars - 0.03).abs() < 1e-9, "{}", r.summary.cost.dollars);
    assert!((r.summary.cost.node_seconds - 300.0).abs() < 1e-6);
}

#[test]
fn new_pods_become_ready_after_their_startup() {
    let mut sc = scenario(&base(1, 2, "startup = \"20s\""));
    sc.policies[0].pods[0] = Arc::new(Cycle { service: 0, period: 10 * S, replicas: vec![2, 2, 2, 2], i: 0 });
    let r = run(&sc, 0);
    let (a, b, c) = (at(&r.timeseries, 25.0), at(&r.timeseries, 30.0), at(&r.timeseries, 35.0));
    assert_eq!((a.replicas_desired, a.pods_ready, a.pods_starting), (2, 1, 1));
    assert_eq!((b.pods_ready, b.pods_starting), (2, 0), "ready at 10 s + 20 s");
    assert_eq!(c.pods_ready, 2);
}

#[test]
fn scale_down_deletes_starting_pods_before_ready_ones() {
    // 2 ready pods; at 10 s scale to 4 (slow startup), at 20 s back to 2: the two still
    // starting are deleted, not the ready ones, so no request is lost.
    let mut sc = scenario(&base(2, 3, "startup = \"60s\""));
    sc.policies[0].pods[0] = Arc::new(Cycle { service: 0, period: 10 * S, replicas: [vec![4], vec![2; 40]].concat(), i: 0 });
    let r = run(&sc, 0);
    assert_conserved(&r);
    let row = at(&r.timeseries, 25.0);
    assert_eq!((row.pods_ready, row.pods_starting, row.pods_terminating), (2, 0, 0));
    assert_eq!(r.summary.requests.lost, 0);
    assert_eq!(r.summary.scaling.events, 2);
    assert_eq!(r.summary.scaling.reversals, 1);
}

#[test]
fn pending_pods_wait_for_provisioned_nodes() {
    // 4 pods on 1 node (room for 2); at 10 s the pool grows to 2 nodes, which take 30 s.
    let mut sc = scenario(&base(4, 1, "startup = \"5s\""));
    sc.policies[0].nodes = Some(Arc::new(NodeCycle { period: 10 * S, nodes: vec![2; 40], i: 0 }));
    let r = run(&sc, 0);
    let before = at(&r.timeseries, 35.0);
    assert_eq!((before.pods_ready, before.pods_pending, before.nodes_provisioning), (2, 2, 1));
    let scheduled = at(&r.timeseries, 40.0);
    assert_eq!((scheduled.pods_starting, scheduled.nodes_ready), (2, 2));
    let ready = at(&r.timeseries, 45.0);
    assert_eq!(ready.pods_ready, 4);
}

#[test]
fn permanent_nodes_survive_and_drains_restart_pods_elsewhere() {
    // 2 nodes (1 permanent), 2 pods spread one per node. At 10 s the pool shrinks to 0: the
    // permanent node stays, the other is drained; its pod is replaced on the permanent node
    // and pays its startup again.
    let mut sc = scenario(&base(2, 2, "startup = \"20s\"\nshutdown_grace = \"5s\""));
    sc.policies[0].nodes = Some(Arc::new(NodeCycle { period: 10 * S, nodes: vec![0; 40], i: 0 }));
    let r = run(&sc, 0);
    assert_conserved(&r);
    let during = at(&r.timeseries, 15.0);
    assert_eq!((during.pods_ready, during.pods_starting), (1, 1), "{during:?}");
    let after = at(&r.timeseries, 35.0);
    assert_eq!((after.pods_ready, after.nodes_ready), (2, 1), "{after:?}");
    let end = at(&r.timeseries, 300.0);
    assert_eq!(end.nodes_ready, 1, "the permanent node stays");
    // Node-seconds: permanent 300 s + the drained node until its pod left (10 s + up to 5 s grace).
    let ns = r.summary.cost.node_seconds;
    assert!(ns > 310.0 - 1e-6 && ns <= 315.0 + 1e-6, "{ns}");
}
