//! autosim with a real Prometheus (see `prom_server`): `trace fetch` joins the slices of a
//! long range and its answer replays as a trace; its errors are clear; and an exported run,
//! backfilled and queried back, gives exactly the values of `timeseries.csv`. Without the
//! `prometheus` and `promtool` binaries these tests print that they skipped.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};

use crate::common;
use crate::prom_server::{self, PromServer};

const STEP: i64 = 15;
/// Points per series: three slices of at most 11,000.
const POINTS: i64 = 25_000;

fn value(series: i64, i: i64) -> f64 {
    10.0 + series as f64 + (i % 97) as f64 * 0.25
}

/// Two series of a gauge, `POINTS` samples each, `STEP` apart from `t0`.
fn two_series(t0: i64) -> String {
    let mut o = String::from("# TYPE demo_requests_rate gauge\n");
    for s in 0..2 {
        for i in 0..POINTS {
            let _ = writeln!(o, "demo_requests_rate{{job=\"api\",instance=\"i{s}\"}} {} {}", value(s, i), t0 + i * STEP);
        }
    }
    o.push_str("# EOF\n");
    o
}

#[test]
fn trace_fetch_joins_long_ranges_and_replays() {
    // Five days back, inside any retention, in the past as backfilling requires.
    let t0 = (prom_server::now_s() - 5 * 86_400) / 3600 * 3600;
    let Some(server) = PromServer::start("trace_fetch_joins_long_ranges_and_replays", &two_series(t0)) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let end = t0 + (POINTS - 1) * STEP;
    let (start_s, end_s) = (t0.to_string(), end.to_string());
    let fetch = |query: &str, out: &str| {
        common::autosim_in(
            tmp.path(),
            ["trace", "fetch", "--prometheus", server.url.as_str(), "--query", query, "--start", &start_s, "--end", &end_s, "--step", "15s", "--out", out],
        )
    };
    let (code, _, err) = fetch("sum(demo_requests_rate)", "sum.json");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 series, 25000 samples, in 3 queries"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(tmp.path().join("sum.json")).unwrap()).unwrap();
    let values = v["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len() as i64, POINTS);
    for (i, p) in values.iter().enumerate() {
        let i = i as i64;
        assert_eq!(p[0].as_f64().unwrap(), (t0 + i * STEP) as f64);
        assert_eq!(p[1].as_str().unwrap().parse::<f64>().unwrap(), value(0, i) + value(1, i), "at {i}");
    }
    // Both series, joined by their labels.
    let (code, _, err) = fetch("demo_requests_rate", "both.json");
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(tmp.path().join("both.json")).unwrap()).unwrap();
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    assert!(result.iter().all(|s| s["values"].as_array().unwrap().len() as i64 == POINTS));
    // A scenario's trace reads it as it is.
    let (code, out, err) = common::autosim_in(tmp.path(), ["trace", "inspect", "sum.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("prometheus"), "{out}");
    // Without --out, the JSON goes to stdout.
    let (code, out, err) = common::autosim_in(
        tmp.path(),
        ["trace", "fetch", "--prometheus", server.url.as_str(), "--query", "sum(demo_requests_rate)", "--start", &start_s, "--end", &(t0 + 60).to_string(), "--step", "15s"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("{\"status\":\"success\""), "{out}");

    // Clear errors, exit code 2.
    let (code, _, err) = fetch("sum(demo_requests_rate", "bad.json");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Prometheus refused the query (bad_data)") && err.contains("parse error"), "{err}");
    let (code, _, err) = fetch("no_such_metric", "empty.json");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("returned no series"), "{err}");
    assert!(!tmp.path().join("empty.json").exists() && !tmp.path().join("bad.json").exists());
    drop(server);
}

#[test]
fn trace_fetch_errors_without_a_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = common::autosim(["trace", "fetch", "--prometheus", &url, "--query", "up", "--start", "now-1h", "--step", "1m"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot reach Prometheus at"), "{err}");
    let (code, _, err) = common::autosim(["trace", "fetch", "--prometheus", "localhost:9090", "--query", "up", "--start", "now-1h", "--step", "1m"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected an http:// or https:// URL"), "{err}");
    let (code, _, err) = common::autosim(["trace", "fetch", "--prometheus", &url, "--query", "up", "--start", "yesterday", "--step", "1m"]);
    assert_eq!(code, 2);
    assert!(err.contains("--start \"yesterday\": expected `now`"), "{err}");
}

/// A one-request HTTP server that answers `body` and hands back the request's head.
fn one_shot(body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 65536];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        String::from_utf8_lossy(&got).into_owned()
    });
    (url, h)
}

#[test]
fn trace_fetch_sends_credentials_from_the_environment() {
    const ANSWER: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[60,"1"],[120,"2"]]}]}}"#;
    for (vars, expected) in [
        (vec![("AUTOSIM_PROMETHEUS_TOKEN", "s3cret")], "authorization: Bearer s3cret"),
        (vec![("AUTOSIM_PROMETHEUS_USER", "user"), ("AUTOSIM_PROMETHEUS_PASSWORD", "pass")], "authorization: Basic dXNlcjpwYXNz"),
    ] {
        let (url, server) = one_shot(ANSWER);
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_autosim"));
        cmd.args(["trace", "fetch", "--prometheus", &url, "--query", "up", "--start", "60", "--end", "120", "--step", "1m"]);
        cmd.env_remove("AUTOSIM_PROMETHEUS_TOKEN").env_remove("AUTOSIM_PROMETHEUS_USER").env_remove("AUTOSIM_PROMETHEUS_PASSWORD");
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(head.contains(&expected.to_ascii_lowercase()), "{head}");
        assert!(head.starts_with("post /api/v1/query_range"), "{head}");
        // The secret is never printed.
        assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cret"));
    }
}

const RUN: &str = r#"
name = "export-me"
duration = "40m"
seed = 5
step = "15s"

[[cluster.node_pools]]
name = "general"
cpu = "2"
memory = "8Gi"
price_per_hour = 0.1
nodes = 3

[[services]]
name = "api"
replicas = 2
concurrency = 4
queue_limit = 20
timeout = "2s"
service_time = { dist = "lognormal", median = "80ms", p99 = "600ms" }
cpu_per_request = "40ms"
resources = { cpu = "250m", memory = "128Mi" }
slo = { latency = "500ms", percentile = 99 }
workload.pattern = { kind = "spike", base = 40, peak = 160, at = "10m", rise = "2m", hold = "10m", fall = "5m" }

[[policies]]
name = "fixed"
pods = { kind = "static", replicas = 3 }

[[policies]]
name = "hpa"
[policies.pods]
kind = "hpa"
min_replicas = 2
max_replicas = 10
metrics = [ { type = "Resource", resource = { name = "cpu", target = { type = "Utilization", average_utilization = 50 } } } ]
"#;

/// (metric selector, timeseries.csv column) pairs the export writes per service.
const COLUMNS: &[(&str, &str)] = &[
    ("autosim_load_requests_per_second", "load_rps"),
    ("autosim_completed_requests", "completed"),
    ("autosim_rejected_requests", "rejected"),
    ("autosim_timed_out_requests", "timed_out"),
    ("autosim_replicas_desired", "replicas_desired"),
    ("autosim_pods_pending", "pods_pending"),
    ("autosim_pods_ready", "pods_ready"),
    ("autosim_queue_length", "queue_length"),
    ("autosim_in_flight_requests", "in_flight"),
    ("autosim_cpu_utilization_ratio", "cpu_utilization"),
    ("autosim_latency_mean_seconds", "latency_mean_s"),
    ("autosim_latency_seconds{quantile=\"0.5\"", "latency_p50_s"),
    ("autosim_latency_seconds{quantile=\"0.95\"", "latency_p95_s"),
    ("autosim_latency_seconds{quantile=\"0.99\"", "latency_p99_s"),
    ("autosim_demand_pods", "demand_pods"),
    ("autosim_supply_pods", "supply_pods"),
];

#[test]
fn an_exported_run_backfills_and_queries_back_exactly() {
    if prom_server::binaries("an_exported_run_backfills_and_queries_back_exactly").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("run.toml"), RUN).unwrap();
    let (code, _, err) = common::autosim_in(tmp.path(), ["run", "run.toml", "--out", "out", "--quiet", "--no-plots"]);
    assert_eq!(code, 0, "{err}");
    let t0 = (prom_server::now_s() - 86_400) / 3600 * 3600;
    let (code, _, err) = common::autosim_in(tmp.path(), ["export", "openmetrics", "out", "--out", "run.om.txt", "--start", &t0.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 policies of \"export-me\""), "{err}");
    let text = std::fs::read_to_string(tmp.path().join("run.om.txt")).unwrap();
    let Some(server) = PromServer::start("an_exported_run_backfills_and_queries_back_exactly", &text) else { return };
    let mut compared = 0;
    for policy in ["fixed", "hpa"] {
        let mut csv = csv::Reader::from_path(tmp.path().join("out").join(policy).join("timeseries.csv")).unwrap();
        let head = csv.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
        let col = |name: &str| head.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
        let times: Vec<f64> = rows.iter().map(|r| r[col("time_s")].parse().unwrap()).collect();
        let (first, last) = (times[0], *times.last().unwrap());
        let mut check = |selector: &str, column: &str| {
            let q = if selector.contains('{') {
                format!("{selector},policy=\"{policy}\"}}")
            } else {
                format!("{selector}{{policy=\"{policy}\"}}")
            };
            let got = server.series(&q, t0 as f64 + first, t0 as f64 + last, 15.0);
            assert_eq!(got.len(), 1, "{q}: {got:?}");
            let (labels, pts) = &got[0];
            assert_eq!(labels["scenario"], "export-me");
            assert_eq!(pts.len(), rows.len(), "{q}");
            for ((t, v), (row, time)) in pts.iter().zip(rows.iter().zip(&times)) {
                assert_eq!(*t, t0 as f64 + time, "{q}");
                let want: f64 = row[col(column)].parse().unwrap();
                assert!(*v == want || (v.is_nan() && want.is_nan()), "{q} at {time}: Prometheus {v}, timeseries.csv {want}");
            }
            compared += pts.len();
        };
        for (selector, column) in COLUMNS {
            check(selector, column);
        }
        check("autosim_nodes_ready", "nodes_ready");
    }
    assert!(compared > 2 * 17 * 150, "only {compared} values compared");
    // The cost rate of the single priced pool.
    let cost = server.series("autosim_cost_dollars_per_hour{policy=\"fixed\"}", t0 as f64 + 15.0, t0 as f64 + 60.0, 15.0);
    assert_eq!(cost[0].1[0].1, 0.1 * 3.0);
}
