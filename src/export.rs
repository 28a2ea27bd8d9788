//! `autosim export openmetrics`: a run's timeseries as OpenMetrics text, which `promtool tsdb
//! create-blocks-from openmetrics` backfills into Prometheus, so that a simulated run can be
//! looked at in the user's own dashboards next to production, with the same queries.
//!
//! One gauge family per column of `timeseries.csv` (see docs/prometheus.md), labelled
//! `scenario`, `policy` and `service`; the cluster's nodes (and their cost rate, with one
//! priced node pool) once per policy, without `service`. Values are written exactly (Rust's
//! shortest round-trip form), so a query returns what `timeseries.csv` holds. Samples are at
//! `start + time_s`, the end of each step, in milliseconds.

use std::fmt::Write as _;

use crate::report::Row;

/// One policy's timeseries, as the export reads it.
pub struct PolicySeries<'a> {
    pub policy: &'a str,
    pub rows: &'a [Row],
}

/// A gauge family: name, help, and how a row gives its value.
struct Family {
    name: &'static str,
    help: &'static str,
    value: fn(&Row) -> f64,
    /// Extra label (`quantile`) and its value.
    extra: Option<(&'static str, &'static str)>,
}

const fn fam(name: &'static str, help: &'static str, value: fn(&Row) -> f64) -> Family {
    Family { name, help, value, extra: None }
}

/// The per-service families, in the order written.
fn service_families() -> Vec<Vec<Family>> {
    vec![
        vec![fam("autosim_load_requests_per_second", "Arrival rate over the step ending at the sample (timeseries.csv load_rps).", |r| r.load_rps)],
        vec![fam("autosim_completed_requests", "Requests completed in the step ending at the sample (completed).", |r| r.completed as f64)],
        vec![fam("autosim_rejected_requests", "Requests rejected (queue full, no pod) in the step (rejected).", |r| r.rejected as f64)],
        vec![fam("autosim_timed_out_requests", "Requests that timed out in the step (timed_out).", |r| r.timed_out as f64)],
        vec![fam("autosim_lost_requests", "Requests lost with their pod in the step (lost).", |r| r.lost as f64)],
        vec![fam("autosim_replicas_desired", "Replicas the policy asked for, at the sample (replicas_desired).", |r| f64::from(r.replicas_desired))],
        vec![fam("autosim_pods_pending", "Pods waiting for a node (pods_pending).", |r| f64::from(r.pods_pending))],
        vec![fam("autosim_pods_starting", "Pods scheduled and starting, not ready yet (pods_starting).", |r| f64::from(r.pods_starting))],
        vec![fam("autosim_pods_ready", "Ready pods (pods_ready).", |r| f64::from(r.pods_ready))],
        vec![fam("autosim_pods_terminating", "Pods draining after deletion (pods_terminating).", |r| f64::from(r.pods_terminating))],
        vec![fam("autosim_queue_length", "Requests waiting in queues, at the sample (queue_length).", |r| r.queue_length as f64)],
        vec![fam("autosim_in_flight_requests", "Requests being served, at the sample (in_flight).", |r| r.in_flight as f64)],
        vec![fam("autosim_cpu_utilization_ratio", "CPU used over CPU requested by the ready pods, over the step (cpu_utilization).", |r| r.cpu_utilization)],
        vec![fam("autosim_latency_mean_seconds", "Mean latency of the requests completed in the step (latency_mean_s).", |r| r.latency_mean_s)],
        vec![
            Family { extra: Some(("quantile", "0.5")), ..fam("autosim_latency_seconds", "Latency percentiles of the requests completed in the step (latency_p50_s, latency_p95_s, latency_p99_s).", |r| r.latency_p50_s) },
            Family { extra: Some(("quantile", "0.95")), ..fam("autosim_latency_seconds", "", |r| r.latency_p95_s) },
            Family { extra: Some(("quantile", "0.99")), ..fam("autosim_latency_seconds", "", |r| r.latency_p99_s) },
        ],
        vec![fam("autosim_demand_pods", "Ready pods the step's load needs at report.demand_utilization (demand_pods).", |r| f64::from(r.demand_pods))],
        vec![fam("autosim_supply_pods", "Time-average of the ready pods over the step (supply_pods).", |r| r.supply_pods)],
    ]
}

/// The whole cluster's families (the same in every service's rows: taken from the first
/// service's).
fn cluster_families() -> Vec<Family> {
    vec![
        fam("autosim_nodes_ready", "Ready nodes of the whole cluster (nodes_ready).", |r| f64::from(r.nodes_ready)),
        fam("autosim_nodes_provisioning", "Nodes being provisioned (nodes_provisioning).", |r| f64::from(r.nodes_provisioning)),
    ]
}

/// A label value, escaped as OpenMetrics wants.
fn label(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            _ => o.push(c),
        }
    }
    o
}

/// A sample value: exact (shortest round-trip), `NaN`, `+Inf`, `-Inf`.
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v:?}")
    }
}

/// A timestamp in seconds, to the millisecond (Prometheus keeps milliseconds).
fn stamp(start_ms: i64, time_s: f64) -> String {
    let ms = start_ms + (time_s * 1000.0).round() as i64;
    let (s, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    format!("{s}.{frac:03}")
}

/// The services of rows, in order of first appearance.
fn services(rows: &[Row]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for r in rows {
        if !out.contains(&r.service.as_str()) {
            out.push(&r.service);
        }
    }
    out
}

/// The OpenMetrics text of a run: `scenario`'s policies, samples at `start_ms` (Unix
/// milliseconds) plus each row's time. `node_price_per_hour`: with one priced node pool, its
/// price, for `autosim_cost_dollars_per_hour` (ready nodes times the price).
pub fn openmetrics(scenario: &str, policies: &[PolicySeries<'_>], start_ms: i64, node_price_per_hour: Option<f64>) -> String {
    let mut o = String::new();
    let sc = label(scenario);
    for group in service_families() {
        let head = &group[0];
        let _ = writeln!(o, "# TYPE {} gauge\n# HELP {} {}", head.name, head.name, head.help);
        for p in policies {
            let pol = label(p.policy);
            for svc in services(p.rows) {
                let sv = label(svc);
                for f in &group {
                    let extra = f.extra.map_or(String::new(), |(k, v)| format!(",{k}=\"{v}\""));
                    for r in p.rows.iter().filter(|r| r.service == svc) {
                        let _ = writeln!(o, "{}{{scenario=\"{sc}\",policy=\"{pol}\",service=\"{sv}\"{extra}}} {} {}", f.name, value((f.value)(r)), stamp(start_ms, r.time_s));
                    }
                }
            }
        }
    }
    let mut cluster = cluster_families();
    if let Some(price) = node_price_per_hour {
        let _ = price;
        cluster.push(fam("autosim_cost_dollars_per_hour", "The cost rate of the ready nodes: nodes_ready times the node pool's price per hour.", |r| f64::from(r.nodes_ready)));
    }
    for f in &cluster {
        let _ = writeln!(o, "# TYPE {} gauge\n# HELP {} {}", f.name, f.name, f.help);
        let cost = f.name == "autosim_cost_dollars_per_hour";
        for p in policies {
            let pol = label(p.policy);
            let Some(first) = services(p.rows).first().map(|s| s.to_string()) else { continue };
            for r in p.rows.iter().filter(|r| r.service == first) {
                let v = if cost { (f.value)(r) * node_price_per_hour.unwrap_or(0.0) } else { (f.value)(r) };
                let _ = writeln!(o, "{}{{scenario=\"{sc}\",policy=\"{pol}\"}} {} {}", f.name, value(v), stamp(start_ms, r.time_s));
            }
        }
    }
    o.push_str("# EOF\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: f64, svc: &str, load: f64, ready: u32) -> Row {
        Row { time_s: t, service: svc.into(), load_rps: load, pods_ready: ready, nodes_ready: 2, latency_p99_s: 0.1 + t / 1000.0, ..Row::default() }
    }

    #[test]
    fn families_are_whole_labelled_and_exact() {
        let a = vec![row(15.0, "api", 10.5, 3), row(30.0, "api", 0.1 + 0.2, 4), row(15.0, "db", 1.0, 1), row(30.0, "db", 2.0, 1)];
        let b = vec![row(15.0, "api", 7.0, 2), row(30.0, "api", 8.0, 2)];
        let text = openmetrics("my \"sc\"", &[PolicySeries { policy: "hpa", rows: &a }, PolicySeries { policy: "static", rows: &b }], 1_700_000_000_000, Some(0.5));
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains("autosim_load_requests_per_second{scenario=\"my \\\"sc\\\"\",policy=\"hpa\",service=\"api\"} 0.30000000000000004 1700000030.000\n"), "{text}");
        assert!(text.contains("autosim_latency_seconds{scenario=\"my \\\"sc\\\"\",policy=\"static\",service=\"api\",quantile=\"0.99\"} 0.115 1700000015.000\n"));
        assert!(text.contains("autosim_cost_dollars_per_hour{scenario=\"my \\\"sc\\\"\",policy=\"hpa\"} 1.0 1700000015.000\n"));
        // Each family's lines are together (promtool requires it), each TYPE once.
        let names: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).map(|l| l.split('{').next().unwrap()).collect();
        let mut seen: Vec<&str> = Vec::new();
        for n in &names {
            if seen.last() != Some(n) {
                assert!(!seen.contains(n), "{n} is split");
                seen.push(n);
            }
        }
        assert_eq!(text.matches("# TYPE autosim_latency_seconds gauge").count(), 1);
        assert_eq!(names.iter().filter(|n| **n == "autosim_nodes_ready").count(), 4, "nodes once per policy");
        assert_eq!(stamp(-1500, 0.0), "-2.500");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(3.0), "3.0");
    }
}
