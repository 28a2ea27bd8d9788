//! Reports: metric definitions on hand-computed runs, figures from every shipped scenario (on
//! shortened runs), the HTML's self-containment, determinism of the report files, and
//! `autosim compare`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use autosim::output;
use autosim::plot::figure;
use autosim::report::elasticity::reversals;
use autosim::render::view::RunView;
use autosim::render::{charts, html};

use super::common;
use crate::common::autosim;

/// 100 requests a second at exact 10 ms spacing (k6's constant-arrival-rate), each holding one
/// slot for exactly 45 ms: 4.5 busy slots. At `demand_utilization` 0.6 of one-slot pods the
/// load needs ceil(4.5 / 0.6) = 8 ready pods, in every step.
fn exact(replicas: u32) -> String {
    format!(
        r#"
name = "exact"
duration = "10m"
step = "10s"
report = {{ demand_utilization = 0.6, reversal_window = "2m" }}

[[cluster.node_pools]]
name = "pool"
cpu = "4"
memory = "16Gi"
price_per_hour = 0.5
nodes = 2

[[services]]
name = "api"
replicas = {replicas}
concurrency = 1
service_time = {{ dist = "constant", value = "45ms" }}
resources = {{ cpu = "500m", memory = "128Mi" }}
workload.k6 = {{ executor = "constant-arrival-rate", rate = 100, time_unit = "1s", duration = "10m", pre_allocated_vus = 50, max_vus = 50 }}

[[policies]]
name = "fixed"
pods = {{ kind = "static", replicas = {replicas} }}
"#
    )
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-12)
}

#[test]
fn known_replica_timeline_gives_known_cost_and_elasticity() {
    // 6 pods against a demand of 8: short by 2/8 all the time.
    let r = common::run(&common::scenario(&exact(6)), 0);
    let s = &r.summary;
    assert!(r.timeseries.iter().all(|row| row.demand_pods == 8), "{:?}", r.timeseries.iter().map(|x| x.demand_pods).collect::<Vec<_>>());
    assert!(r.timeseries.iter().all(|row| (row.supply_pods - 6.0).abs() < 1e-9));
    let e = &s.elasticity;
    assert!(close(e.under_accuracy, 0.25, 1e-12), "{e:?}");
    assert_eq!((e.under_timeshare, e.over_accuracy, e.over_timeshare, e.instability, e.jitter_per_minute), (1.0, 0.0, 0.0, 0.0, 0.0));
    assert!(close(e.demand_pod_seconds, 8.0 * 600.0, 1e-12) && close(e.supply_pod_seconds, 6.0 * 600.0, 1e-12), "{e:?}");
    // Static from the start: short from the start, but no load increase.
    assert_eq!(s.responsiveness.events, 0);

    // Cost: 6 pods x 600 s; 2 nodes x 600 s at $0.5/h; 4 cores a node.
    let c = &s.cost;
    assert!(close(c.pod_seconds, 3600.0, 1e-12), "{c:?}");
    assert!(close(c.cpu_core_seconds_requested, 1800.0, 1e-12));
    assert!(close(c.node_seconds, 1200.0, 1e-12));
    assert!(close(c.dollars, 1200.0 / 3600.0 * 0.5, 1e-12));
    assert!(close(c.dollars_by_pool["pool"], c.dollars, 1e-12));
    assert!(close(c.cpu_core_seconds_allocatable, 4800.0, 1e-12));
    let per_core_second = 0.5 / 3600.0 / 4.0;
    assert!(close(c.unrequested_capacity_dollars, (4800.0 - 1800.0) * per_core_second, 1e-9), "{c:?}");
    // CPU used: 60,000 requests x 45 ms (CPU equals service time), less the part of those in flight.
    assert!(close(c.cpu_core_seconds_used, 2700.0, 1e-3), "{c:?}");
    assert!(close(c.idle_capacity_dollars, (4800.0 - c.cpu_core_seconds_used) * per_core_second, 1e-9));
    assert!(close(c.dollars_per_million_requests.unwrap(), c.dollars / s.requests.completed as f64 * 1e6, 1e-12));
    assert_eq!(s.requests.arrived, 60_000);
    assert_eq!((s.scaling.events, s.scaling.reversals, s.scaling.events_per_hour, s.scaling.reversal_window_s), (0, 0, 0.0, 120.0));
    assert_eq!(s.latency_s.precision, 0.001);
    assert_eq!(s.sla.error_budget_burn, Some(0.0));

    // 10 pods: 2/8 too many.
    let r = common::run(&common::scenario(&exact(10)), 0);
    let e = &r.summary.elasticity;
    assert!(close(e.over_accuracy, 0.25, 1e-12) && e.over_timeshare == 1.0 && e.under_accuracy == 0.0, "{e:?}");
    assert!(close(r.summary.cost.pod_seconds, 6000.0, 1e-12));
}

#[test]
fn cold_start_waits_and_error_budget_burn() {
    // No pods at all: every request waits at the front door (500 of them, under queue_limit).
    let sc = common::scenario(
        r#"
name = "cold"
duration = "5s"
[[services]]
name = "api"
replicas = 0
service_time = { dist = "constant", value = "10ms" }
slo = { latency = "1s", availability = 0.99 }
workload.k6 = { executor = "constant-arrival-rate", rate = 100, time_unit = "1s", duration = "5s", pre_allocated_vus = 600, max_vus = 600 }
"#,
    );
    let s = common::run(&sc, 0).summary;
    assert_eq!(s.requests.arrived, 500);
    assert_eq!(s.requests.cold_start_waits, 500);
    assert_eq!(s.requests.in_flight_at_end, 500);
    // Nothing finished: no budget spent.
    assert_eq!(s.sla.error_budget_burn, Some(0.0));

    // Rejections: a queue of 10 with 1 slow pod. burn = errors / (finished x 1%).
    let sc = common::scenario(
        r#"
name = "burn"
duration = "1m"
[[services]]
name = "api"
replicas = 1
queue_limit = 10
service_time = { dist = "constant", value = "100ms" }
slo = { latency = "1s", availability = 0.99 }
workload.pattern = { kind = "constant", rate = 20 }
"#,
    );
    let s = common::run(&sc, 0).summary;
    let q = &s.requests;
    let errors = (q.rejected + q.timed_out + q.lost) as f64;
    assert!(errors > 0.0, "{q:?}");
    let finished = (q.completed + q.rejected + q.timed_out + q.lost) as f64;
    assert!(close(s.sla.error_budget_burn.unwrap(), errors / (finished * 0.01), 1e-9), "{:?}", s.sla);
    assert_eq!(s.requests.cold_start_waits, 0);
}

#[test]
fn reversals_and_scale_counts_match_the_decisions() {
    // The HPA on the spike scenario, shortened: the summary's counts are those of its applied
    // decisions, by the reversal rule.
    let mut sc = autosim::load(&common::root().join("scenarios/high-load-spike.toml")).unwrap();
    sc.scenario.duration_ns = 3_000_000_000_000; // 50 minutes
    let i = sc.policies.iter().position(|p| p.name == "hpa-cpu-60").expect("the scenario has hpa-cpu-60");
    let r = common::run(&sc, i);
    let changes: Vec<(u64, u32, u32)> = r
        .decisions
        .iter()
        .filter(|d| d.verdict == "apply" && d.controller == "pods")
        .map(|d| ((d.time_s * 1e9).round() as u64, d.from, d.to))
        .collect();
    let s = &r.summary.scaling;
    assert!(s.events > 2, "{s:?}");
    assert_eq!((s.events, s.reversals), reversals(&changes, sc.scenario.report.reversal_window_ns));
    assert_eq!(s.events, s.scale_ups + s.scale_downs);
    assert!(close(s.events_per_hour, s.events as f64 / (50.0 / 60.0), 1e-12));
    // The spike found too few pods, and the HPA caught up.
    let resp = &r.summary.responsiveness;
    assert!(resp.events >= 1 && resp.p95_s > 0.0, "{resp:?}");
    assert!(r.response_events.iter().all(|e| e.time_to_capacity_s > 0.0 && e.demand > e.supply));
}

fn shipped() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// A shipped scenario cut to 20 minutes of simulated time (the figures' shape does not depend
/// on the length: long runs are drawn in buckets).
fn short_view(file: &Path) -> RunView {
    let mut sc = autosim::load(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    sc.scenario.duration_ns = sc.scenario.duration_ns.min(1_200_000_000_000);
    if sc.scenario.warmup_ns >= sc.scenario.duration_ns {
        sc.scenario.warmup_ns = 0;
    }
    let all: Vec<usize> = (0..sc.policies.len()).collect();
    let reports = autosim::run::run_policies(&sc, &all, sc.scenario.seed, autosim::command::Commands::Refuse, &|_| {}).unwrap();
    RunView::of(&sc.scenario, sc.policy_briefs(), sc.scenario.seed, &reports)
}

/// Elements open and close in order (void elements and `/>` aside); the DOCTYPE and the XML
/// declaration are skipped.
fn assert_well_formed(text: &str, what: &str) {
    const VOID: &[&str] = &["meta", "br", "hr", "img", "link", "input"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').unwrap_or_else(|| panic!("{what}: unclosed tag"));
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        let self_closing = tag.ends_with('/');
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            let open = stack.pop().unwrap_or_else(|| panic!("{what}: </{name}> closes nothing"));
            assert_eq!(open, name, "{what}: <{open}> closed by </{name}>");
        } else {
            let name = tag.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("").to_string();
            assert!(!name.is_empty(), "{what}: empty tag");
            if !self_closing && !VOID.contains(&name.as_str()) {
                stack.push(name);
            }
        }
    }
    assert!(stack.is_empty(), "{what}: unclosed elements {stack:?}");
}

#[test]
fn figures_render_from_every_shipped_scenario() {
    for file in shipped() {
        let what = file.display().to_string();
        let view = short_view(&file);
        let figures = charts::all(&view).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(figures.len() >= 4 + view.policies.len(), "{what}");
        for (name, f) in &figures {
            let png = figure::png(f).unwrap_or_else(|e| panic!("{what}: {name}: {e}"));
            let decoder = png::Decoder::new(std::io::Cursor::new(&png));
            let reader = decoder.read_info().unwrap_or_else(|e| panic!("{what}: {name}.png does not decode: {e}"));
            assert_eq!((reader.info().width, reader.info().height), f.size(), "{what}: {name}");
            let svg = figure::svg(f).unwrap();
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{what}: {name}.svg");
            assert_well_formed(&svg, &format!("{what}: {name}.svg"));
        }
    }
}

#[test]
fn html_report_is_well_formed_and_self_contained() {
    let view = short_view(&common::root().join("scenarios/high-load-spike.toml"));
    let svgs: Vec<(String, String)> = charts::all(&view).unwrap().iter().map(|(n, f)| (n.clone(), figure::svg(f).unwrap())).collect();
    let page = html::render(&view, &svgs);
    assert_well_formed(&page, "report.html");
    assert!(page.starts_with("<!DOCTYPE html>"));
    for (name, _) in &svgs {
        assert!(page.contains(&format!("id=\"{}\"", name.replace('/', "-"))), "{name} missing");
    }
    // Nothing outside itself: no scripts, links, images, styles or fonts fetched; the only
    // URL is the SVG namespace, which names and fetches nothing.
    for bad in ["<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import"] {
        assert!(!page.contains(bad), "report.html contains {bad}");
    }
    let without_ns = page.replace("http://www.w3.org/2000/svg", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"), "report.html refers to the network");
    // The best value of a column is marked.
    assert!(page.contains("class=\"best\""));
}

#[test]
fn report_files_are_byte_identical_for_the_same_seed() {
    let file = common::root().join("scenarios/high-load-spike.toml");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for dir in [a.path(), b.path()] {
        let view = short_view(&file);
        output::write_human(dir, &view, true).unwrap();
    }
    let mut n = 0;
    for entry in walk(a.path()) {
        let rel = entry.strip_prefix(a.path()).unwrap();
        assert_eq!(std::fs::read(&entry).unwrap(), std::fs::read(b.path().join(rel)).unwrap(), "{} differs", rel.display());
        n += 1;
    }
    assert!(n >= 2 * (4 + 3) + 2, "only {n} files written");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}


const TWO: &str = r#"
name = "two"
duration = "5m"
[[services]]
name = "api"
replicas = 2
concurrency = 4
service_time = { dist = "exponential", mean = "50ms" }
workload.pattern = { kind = "constant", rate = 60 }
[[policies]]
name = "two"
pods = { kind = "static", replicas = 2 }
[[policies]]
name = "three"
pods = { kind = "static", replicas = 3 }
"#;

#[test]
fn compare_joins_separate_runs_and_refuses_different_load() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("two.toml");
    std::fs::write(&file, TWO).unwrap();
    let run = |policy: &str, out: &str, seed: &str, plots: bool| {
        let out = tmp.path().join(out);
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("run"),
            file.as_os_str(),
            OsStr::new("--quiet"),
            OsStr::new("--policy"),
            OsStr::new(policy),
            OsStr::new("--seed"),
            OsStr::new(seed),
            OsStr::new("--out"),
            out.as_os_str(),
        ];
        if !plots {
            args.push(OsStr::new("--no-plots"));
        }
        let (code, _, err) = autosim(&args);
        assert_eq!(code, 0, "{err}");
        out
    };
    let today = run("two", "today", "7", false);
    assert!(!today.join("replicas.png").exists() && today.join("report.html").is_file(), "--no-plots still writes the reports");
    let tomorrow = run("three", "tomorrow", "7", true);
    let other = run("three", "other-seed", "8", false);

    let out = tmp.path().join("cmp");
    let (code, stdout, err) = autosim(&[OsStr::new("compare"), today.as_os_str(), tomorrow.join("three").as_os_str(), OsStr::new("--out"), out.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("two") && stdout.contains("three"), "{stdout}");
    assert!(stdout.contains("compared 2 policy runs;"), "{stdout}");
    // One run: "1 policy run", in words that agree.
    let (code, stdout, err) = autosim(&[OsStr::new("compare"), today.as_os_str(), OsStr::new("--out"), tmp.path().join("cmp-one").as_os_str(), OsStr::new("--no-plots")]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("compared 1 policy run;"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    for f in ["report.md", "report.html", "replicas.svg", "latency-cdf.png", "latency-spectrum.svg", "cost-vs-slo.svg", "headline.png", "two/timeline.svg", "three/timeline.png"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }

    // A different seed is a different load: refused, exit 2, naming both runs.
    let out2 = tmp.path().join("cmp2");
    let (code, _, err) = autosim(&[OsStr::new("compare"), today.as_os_str(), other.as_os_str(), OsStr::new("--out"), out2.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("differ in load") && err.contains("--allow-different-load") && err.contains("seed 8"), "{err}");
    assert!(!out2.exists(), "a refused comparison writes nothing");
    let (code, _, err) =
        autosim(&[OsStr::new("compare"), today.as_os_str(), other.as_os_str(), OsStr::new("--allow-different-load"), OsStr::new("--no-plots"), OsStr::new("--out"), out2.as_os_str(), OsStr::new("--quiet")]);
    assert_eq!(code, 0, "{err}");
    // Not a run.
    let (code, _, err) = autosim(&[OsStr::new("compare"), tmp.path().join("nowhere").as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such folder"), "{err}");
}

/// Sweeps and gates drop a run's rows (`DropRows`) and read its summary: the summary must not
/// depend on the rows kept, or their numbers would differ from `autosim run`'s.
#[test]
fn summary_is_the_same_whatever_the_rows_sink() {
    for name in ["normal-load.toml", "weekend-low.toml", "seed-001-load-100.toml"] {
        let mut ex = autosim::load(&common::root().join("scenarios").join(name)).unwrap();
        ex.scenario.duration_ns = ex.scenario.duration_ns.min(1_800_000_000_000);
        for p in 0..ex.policies.len() {
            let kept = autosim::sim::Simulation::new(&ex.scenario, &ex.policies[p], 7).run();
            let mut sim = autosim::sim::Simulation::new(&ex.scenario, &ex.policies[p], 7);
            sim.stream_rows_to(Box::new(autosim::report::DropRows));
            let dropped = sim.run();
            assert!(!kept.timeseries.is_empty() && dropped.timeseries.is_empty() && dropped.decisions.is_empty(), "{name}");
            assert_eq!(serde_json::to_string(&kept.summary).unwrap(), serde_json::to_string(&dropped.summary).unwrap(), "{name}: policy {p}");
        }
    }
}
