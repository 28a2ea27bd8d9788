//! Figures of long runs: a 30-day scenario (three policies, two of them identical) renders its
//! figures, PNG and SVG, byte-identical from run to run, with the dense lines drawn as mean
//! lines in min-max bands and the identical policies told apart.

use std::path::Path;

use crate::common;

/// 30 days at a low, daily and weekly varying rate (about 2 million requests per policy),
/// steps of a minute: 43,200 steps, far more than the figures' pixel columns.
const MONTH: &str = r#"
name = "month"
description = "30 days of a small API: daily peaks, quiet weekends"
duration = "30d"
seed = 11
step = "1m"

[[services]]
name = "api"
replicas = 1
concurrency = 2
queue_limit = 50
timeout = "10s"
service_time = { dist = "exponential", mean = "200ms" }
cpu_per_request = "300ms"
resources = { cpu = "500m" }
startup = { dist = "constant", value = "20s" }
slo = { latency = "1s", percentile = 95 }
workload.pattern = { kind = "noise", of = { kind = "diurnal", mean = 0.8, amplitude = 0.8, weekend = 0.3 }, sd = 0.2 }

[[policies]]
name = "one"
pods = { kind = "static", replicas = 1 }

[[policies]]
name = "one-again"
pods = { kind = "static", replicas = 1 }

[[policies]]
name = "hpa"
[policies.pods]
kind = "hpa"
min_replicas = 1
max_replicas = 4
metrics = [ { type = "Resource", resource = { name = "cpu", target = { type = "Utilization", average_utilization = 50 } } } ]
"#;

fn figures(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "png" || x == "svg") {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_30_day_run_renders_the_same_figures_every_time() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("month.toml"), MONTH).unwrap();
    let mut runs = Vec::new();
    for out in ["a", "b"] {
        let (code, _, err) = common::autosim_in(tmp.path(), ["run", "month.toml", "--out", out, "--quiet"]);
        assert_eq!(code, 0, "{err}");
        runs.push(figures(&tmp.path().join(out)));
    }
    let names: Vec<&str> = runs[0].iter().map(|f| f.0.as_str()).collect();
    for stem in ["replicas", "latency-cdf", "latency-spectrum", "cost-vs-slo", "headline", "one/timeline", "one-again/timeline", "hpa/timeline"] {
        for ext in ["png", "svg"] {
            assert!(names.contains(&format!("{stem}.{ext}").as_str()), "{stem}.{ext} missing: {names:?}");
        }
    }
    assert_eq!(runs[0].len(), runs[1].len());
    for ((na, a), (nb, b)) in runs[0].iter().zip(&runs[1]) {
        assert_eq!(na, nb);
        assert!(a == b, "{na} differs from run to run");
        if na.ends_with(".png") {
            let reader = png::Decoder::new(std::io::Cursor::new(a)).read_info().unwrap_or_else(|e| panic!("{na}: {e}"));
            assert!(reader.info().width >= 1000, "{na}");
        }
    }
    let svg = |name: &str| String::from_utf8(runs[0].iter().find(|f| f.0 == name).unwrap().1.clone()).unwrap();
    // 43,200 steps on about a thousand pixels: a band (a translucent polygon) and its legend.
    let timeline = svg("hpa/timeline.svg");
    assert!(timeline.contains("min to max per pixel"), "no band in the legend");
    assert!(timeline.contains("<polygon") && timeline.contains("opacity=\"0.22"), "no band drawn");
    // The SVG stays small: the steps are summarized per pixel, not drawn one by one.
    assert!(timeline.len() < 2_000_000, "timeline.svg is {} bytes", timeline.len());
    // The SLO is a p95: the timeline plots the p95 of each step, not the p99.
    assert!(timeline.contains("\np95\n") && !timeline.contains("p99 (peak)"), "the SLO's percentile is not drawn");
    // Two identical policies: the second is dashed and named as the same.
    let replicas = svg("replicas.svg");
    assert!(replicas.contains("one-again (same as one)"), "coincident policies not told apart");
    let spectrum = svg("latency-spectrum.svg");
    for label in ["99.999%", "99.9%", "SLO: p95 &lt;= 1s"] {
        assert!(spectrum.contains(label), "{label} missing from the spectrum");
    }
    // The report shows the spectrum beside the CDF.
    let md = std::fs::read_to_string(tmp.path().join("a/report.md")).unwrap();
    assert!(md.contains("latency-spectrum.png") && md.contains("latency-cdf.png"), "{md}");
    let html = std::fs::read_to_string(tmp.path().join("a/report.html")).unwrap();
    assert!(html.contains("id=\"latency-spectrum\""));
}
