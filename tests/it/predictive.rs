//! The predictive scaler (a KEDA external scaler serving a forecast): on a periodic load it has
//! capacity ready when each peak starts, where the HPA, reacting to the lagged metric, is late;
//! its forecast accuracy is reported.

use autosim::report::Report;

use crate::common::{assert_conserved, run, scenario};

const PERIOD_S: u64 = 1200;
const PEAK_OFFSET_S: u64 = 900;
const PERIODS: u64 = 9;

/// 10 req/s for 15 minutes, then 60 req/s for 5 minutes, every 20 minutes, for 3 hours. A pod
/// serves 20 req/s (2 slots, 100 ms); pods take 60 s to start.
fn periodic(policies: &str) -> String {
    let mut steps = Vec::new();
    for k in 0..PERIODS {
        steps.push(format!("{{ at = \"{}s\", rate = 10 }}", k * PERIOD_S));
        steps.push(format!("{{ at = \"{}s\", rate = 60 }}", k * PERIOD_S + PEAK_OFFSET_S));
    }
    format!(
        r#"
name = "periodic"
duration = "{}s"
step = "15s"
[metrics]
scrape_interval = "15s"
rate_window = "1m"
pipeline_delay = "10s"
[[services]]
name = "api"
replicas = 2
concurrency = 2
queue_limit = 100
timeout = "10s"
service_time = "100ms"
startup = "60s"
slo = {{ latency = "500ms", percentile = 99, availability = 0.999 }}
workload.pattern = {{ kind = "step", steps = [ {} ] }}
{policies}
"#,
        PERIODS * PERIOD_S,
        steps.join(", ")
    )
}

const HPA: &str = r#"
[[policies]]
name = "hpa"
[policies.pods]
kind = "hpa"
min_replicas = 1
max_replicas = 20
adapter = { ingress_rps = "sum(rate(ingress_requests_total{service=\"api\"}[1m]))" }
metrics = [ { type = "External", external = { metric = { name = "ingress_rps" }, target = { type = "AverageValue", average_value = "10" } } } ]
"#;

const PREDICTIVE: &str = r#"
[[policies]]
name = "predictive"
[policies.pods]
kind = "predictive"
min_replica_count = 1
max_replica_count = 20
threshold = "10"
lead = "2m"
interval = "30s"
forecaster = { method = "seasonal_naive", season = "20m" }
"#;

fn ready_at(r: &Report, t: f64) -> u32 {
    r.timeseries.iter().find(|row| row.time_s >= t).map_or(0, |row| row.pods_ready)
}

#[test]
fn predictive_has_capacity_at_each_peak_where_the_hpa_lags() {
    let sc = scenario(&periodic(&format!("{HPA}{PREDICTIVE}")));
    let hpa = run(&sc, 0);
    let pred = run(&sc, 1);
    assert_conserved(&pred);
    // 60 req/s needs 3 pods to keep up. From the second period on the forecast has seen one
    // season: the predictive scaler asked for pods a lead ahead of the peak.
    let mut hpa_late = 0;
    for k in 1..PERIODS {
        let start = (k * PERIOD_S + PEAK_OFFSET_S) as f64;
        let (h, p) = (ready_at(&hpa, start), ready_at(&pred, start));
        eprintln!("peak {k} at {start}s: ready hpa {h}, predictive {p}");
        assert!(p >= 3, "peak {k} at {start}: predictive has {p} ready");
        if h < 3 {
            hpa_late += 1;
        }
    }
    assert_eq!(hpa_late, PERIODS - 1, "the HPA reacts after the peak starts");
    let (sh, sp) = (&hpa.summary.sla, &pred.summary.sla);
    eprintln!("attainment hpa {} predictive {}", sh.attainment, sp.attainment);
    assert!(sp.attainment > sh.attainment, "{} vs {}", sp.attainment, sh.attainment);
    assert!(sp.violation_minutes < sh.violation_minutes);
    // Accuracy: the load repeats exactly, so once a season is seen the forecast is near the
    // rate later observed (the error is Poisson noise, and the first season's misses).
    let st = &pred.summary.policy_stats;
    let mape = st["pods.api.forecast_mape"];
    assert!(mape > 0.0 && mape < 0.35, "{mape}");
    assert!(st["pods.api.forecast_scored"] > 300.0);
    assert!(st.contains_key("pods.api.forecast_bias"));
    assert_eq!(st["pods.api.forecast_lead_s"], 120.0);
}

#[test]
fn the_other_forecasters_and_the_hybrid_run_and_report() {
    let pols = r#"
[[policies]]
name = "holt-winters"
[policies.pods]
kind = "predictive"
min_replica_count = 1
max_replica_count = 20
threshold = "10"
interval = "30s"
forecaster = { method = "holt_winters", season = "20m", alpha = 0.5, beta = 0.01, gamma = 0.5 }

[[policies]]
name = "trend-hybrid"
[policies.pods]
kind = "predictive"
min_replica_count = 1
max_replica_count = 20
threshold = "10"
interval = "30s"
forecaster = { method = "linear_trend", window = "5m" }
hybrid = { margin = 2 }
"#;
    let sc = scenario(&periodic(pols));
    let hw = run(&sc, 0);
    let st = &hw.summary.policy_stats;
    // Default lead: the p95 of the 60 s constant startup.
    assert_eq!(st["pods.api.forecast_lead_s"], 60.0);
    assert!(st["pods.api.forecast_mape"] < 0.5, "{st:?}");
    let tr = run(&sc, 1);
    let share = tr.summary.policy_stats["pods.api.hybrid_reactive_share"];
    // A line through the last 5 minutes misses each step: the reactive value takes over then.
    assert!(share > 0.0 && share < 0.5, "{share}");
    for r in [&hw, &tr] {
        assert!(r.timeseries.iter().any(|row| row.replicas_desired >= 6));
    }
}

#[test]
fn bad_predictive_configurations_are_refused() {
    let bad = |p: &str| {
        let toml = periodic(&format!("[[policies]]\nname = \"p\"\n[policies.pods]\nkind = \"predictive\"\n{p}"));
        let e = autosim::parse(&toml, std::path::Path::new(".")).unwrap_err();
        autosim::scenario::ScenarioError::locate(std::path::Path::new("s.toml"), &toml, e).to_string()
    };
    let e = bad("max_replica_count = 5");
    assert!(e.contains("missing `threshold`"), "{e}");
    let e = bad("threshold = \"10\"\nforecaster = { method = \"arima\" }");
    assert!(e.contains("s.toml:") && e.contains("\"arima\""), "{e}");
    let e = bad("threshold = \"10\"\ninterval = \"7m\"");
    assert!(e.contains("whole number of `interval`s"), "{e}");
    let e = bad("threshold = \"10\"\ntriggers = []");
    assert!(e.contains("set `metric` and `threshold`"), "{e}");
}
