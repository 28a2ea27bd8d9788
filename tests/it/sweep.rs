//! `autosim sweep`: the best point against brute force, resuming, shards, failing points and
//! bad sweep files.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use autosim::Simulation;

fn autosim(args: &[&OsStr], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autosim"));
    cmd.args(args).env_remove("RUST_BACKTRACE").env_remove("JOB_COMPLETION_INDEX");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("cannot start the autosim binary");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A short scenario: 20 requests per second of 100 ms jobs with 50 ms of CPU each, one pod
/// slot per pod, an HPA on CPU; `{target}` and `{max}` are filled by brute force below.
fn base(target: &str, max: &str) -> String {
    format!(
        r#"name = "tiny"
duration = "4m"
seed = 11
step = "30s"

[metrics]
scrape_interval = "15s"
rate_window = "1m"

[[services]]
name = "api"
replicas = 2
concurrency = 2
queue_limit = 20
timeout = "3s"
service_time = {{ dist = "exponential", mean = "100ms" }}
cpu_per_request = "50ms"
resources = {{ cpu = "250m" }}
startup = "5s"
slo = {{ latency = "300ms", percentile = 99 }}
workload.pattern = {{ kind = "step", steps = [ {{ at = "0s", rate = 8 }}, {{ at = "1m", rate = 24 }} ] }}

[[policies]]
name = "fixed"
pods = {{ kind = "static", replicas = 3 }}

[[policies]]
name = "hpa"
[policies.pods]
kind = "hpa"
min_replicas = 1
max_replicas = {max}
metrics = [ {{ type = "Resource", resource = {{ name = "cpu", target = {{ type = "Utilization", average_utilization = {target} }} }} }} ]
"#
    )
}

const TARGETS: [i64; 3] = [40, 60, 85];
const MAXES: [i64; 2] = [3, 8];
const SEEDS: [u64; 2] = [11, 12];
const FLOOR: f64 = 0.942;

fn sweep_text(extra: &str) -> String {
    format!(
        r#"base = "base.toml"
policies = ["hpa"]
seeds = 2
minimize = "cost.pod_seconds"
subject_to = ["sla.attainment >= {FLOOR}"]
{extra}
[[axis]]
name = "target"
path = "policies[hpa].pods.metrics[0].resource.target.average_utilization"
values = [40, 60, 85]

[[axis]]
name = "max"
path = "policies[1].pods.max_replicas"
range = {{ start = 3, stop = 8, step = 5 }}
"#
    )
}

/// A folder with base.toml and sweep.toml.
fn setup(sweep: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.toml"), base("60", "5")).unwrap();
    let file = dir.path().join("sweep.toml");
    std::fs::write(&file, sweep).unwrap();
    (dir, file)
}

fn run_sweep(file: &Path, out: &Path, more: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut args: Vec<&OsStr> = vec![os("sweep"), file.as_os_str(), os("--out"), out.as_os_str(), os("--quiet")];
    args.extend(more.iter().map(|s| os(s)));
    let r = autosim(&args, env);
    assert_eq!(r.0, 0, "sweep {more:?} failed:\n{}\n{}", r.1, r.2);
    r
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn grid_sweep_finds_the_brute_force_best_point() {
    let (dir, file) = setup(&sweep_text(""));
    let out = dir.path().join("out");
    run_sweep(&file, &out, &[], &[]);

    // Brute force: every combination written out as its own scenario and run directly.
    let mut best: Option<(f64, i64, i64)> = None;
    let mut feasible = 0;
    for &t in &TARGETS {
        for &m in &MAXES {
            let sc = autosim::parse(&base(&t.to_string(), &m.to_string()), dir.path()).unwrap();
            let (mut cost, mut att) = (0.0, 0.0);
            for &s in &SEEDS {
                let r = Simulation::new(&sc.scenario, &sc.policies[1], s).run();
                cost += r.summary.cost.pod_seconds;
                att += r.summary.sla.attainment;
            }
            let (cost, att) = (cost / SEEDS.len() as f64, att / SEEDS.len() as f64);
            if att >= FLOOR {
                feasible += 1;
                if best.is_none_or(|(c, _, _)| cost < c) {
                    best = Some((cost, t, m));
                }
            }
        }
    }
    assert!(feasible > 0 && feasible < TARGETS.len() * MAXES.len(), "the constraint should cut some points: {feasible} feasible");
    let (cost, t, m) = best.unwrap();
    let chosen: serde_json::Value = serde_json::from_str(&read(&out.join("best.json"))).unwrap();
    assert_eq!(chosen["values"]["target"], t.to_string(), "{chosen}");
    assert_eq!(chosen["values"]["max"], m.to_string(), "{chosen}");
    assert!((chosen["metrics"]["cost.pod_seconds"]["mean"].as_f64().unwrap() - cost).abs() < 1e-9 * cost.max(1.0));

    // sweep.csv: one row per point and seed, in order.
    let csv = read(&out.join("sweep.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 6 * 2, "{csv}");
    assert!(lines[0].starts_with("point,seed,policy,target,max,status,"), "{}", lines[0]);
    assert!(lines[1].starts_with("0,11,hpa,40,3,ok,") && lines[2].starts_with("0,12,hpa,40,3,ok,"), "{csv}");
    assert!(lines[12].starts_with("5,12,hpa,85,8,ok,"), "{csv}");

    // The chosen scenario is ready to use: it validates and has the point's values.
    let best_toml = out.join("best.toml");
    let sc = autosim::load(&best_toml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.scenario.name, "tiny");
    let text = read(&best_toml);
    assert!(text.contains(&format!("max_replicas = {m}")) && text.contains(&format!("average_utilization = {t}")), "{text}");
    let yaml = read(&out.join("best-hpa.yaml"));
    assert!(yaml.contains(&format!("maxReplicas: {m}")) && yaml.contains(&format!("averageUtilization: {t}")), "{yaml}");
    for f in ["points.csv", "pareto.png", "pareto.svg", "heatmap-hpa.png", "heatmap-hpa.svg"] {
        assert!(out.join(f).is_file(), "no {f}");
    }
    // points.csv marks exactly one best row, and a Pareto front.
    let points = read(&out.join("points.csv"));
    let head: Vec<&str> = points.lines().next().unwrap().split(',').collect();
    let best_col = head.iter().position(|h| *h == "best").unwrap();
    let pareto_col = head.iter().position(|h| *h == "pareto").unwrap();
    let rows: Vec<Vec<&str>> = points.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.iter().filter(|r| r[best_col] == "true").count(), 1);
    assert!(rows.iter().any(|r| r[pareto_col] == "true"));

    // Intervals of non-negative metrics stop at 0, those of shares at 1.
    for (k, h) in head.iter().enumerate() {
        for r in &rows {
            if r[k].is_empty() {
                continue;
            }
            let v: f64 = r[k].parse().unwrap_or(0.0);
            if h.ends_with(".ci_low") && !h.contains("jitter") {
                assert!(v >= 0.0, "{h} = {v}");
            }
            if h.starts_with("sla.attainment.ci_high") {
                assert!(v <= 1.0, "{h} = {v}");
            }
        }
    }
    // best.toml names the chosen policy by its values, not by the base policy's.
    assert!(text.contains(&format!("name = \"target-{t}.max-{m}\"")), "{text}");
    assert!(text.contains(&format!("hpa at the best point of sweep sweep: target = {t}, max = {m}")), "{text}");
    assert_eq!(sc.policies[1].name, format!("target-{t}.max-{m}"));
    // Three objectives: a ranked table of the front's feasible points, and a plot per pair.
    let front = read(&out.join("front.md"));
    assert!(front.contains("Ranked by cost.pod_seconds (lowest first)"), "{front}");
    // The table shows the primary objective (not a Pareto metric here) and is ranked by it.
    let table: Vec<Vec<&str>> = front.lines().filter(|l| l.starts_with("| ")).map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect()).collect();
    assert_eq!(table[0][5], "cost.pod_seconds", "{front}");
    let costs: Vec<f64> = table[1..].iter().map(|r| r[5].split(' ').next().unwrap().parse().unwrap()).collect();
    assert!(!costs.is_empty() && costs.windows(2).all(|w| w[0] <= w[1]), "{front}");
    for f in ["pareto-scaling_reversals-vs-cost_dollars.svg", "pareto-scaling_reversals-vs-sla_attainment.svg"] {
        assert!(out.join(f).is_file(), "no {f}");
    }
    // The heatmap marks the cells that break the constraints.
    assert!(read(&out.join("heatmap-hpa.svg")).contains("grey hatched cells break the constraints"));
    // The terminal summary counts in words.
    let (code, stdout, err) = autosim(&[os("sweep"), file.as_os_str(), os("--out"), out.as_os_str()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("6 points x 1 policy x 2 seeds"), "{stdout}");
    assert!(!stdout.contains("polic(ies)") && stdout.contains("ranked by cost.pod_seconds"), "{stdout}");
}

#[test]
fn an_interrupted_sweep_resumes_to_the_same_file() {
    let (dir, file) = setup(&sweep_text(""));
    let whole = dir.path().join("whole");
    run_sweep(&file, &whole, &["--jobs", "1"], &[]);
    let expected = read(&whole.join("sweep.csv"));

    let part = dir.path().join("part");
    run_sweep(&file, &part, &["--max-points", "3", "--jobs", "2"], &[]);
    let partial = read(&part.join("sweep.csv"));
    assert_eq!(partial.lines().count(), 1 + 3 * 2, "{partial}");
    assert!(!part.join("best.json").exists(), "an unfinished sweep has no answers yet");
    // Killed while writing a row: the last line is cut short.
    let cut = partial.len() - 7;
    std::fs::write(part.join("sweep.csv"), &partial.as_bytes()[..cut]).unwrap();
    let (_, stdout, _) = autosim(
        &[os("sweep"), file.as_os_str(), os("--out"), part.as_os_str()],
        &[],
    );
    assert!(stdout.contains("kept from an earlier run"), "{stdout}");
    assert_eq!(read(&part.join("sweep.csv")), expected);
    assert_eq!(read(&part.join("points.csv")), read(&whole.join("points.csv")));
    // Run again: nothing to do, nothing changes.
    run_sweep(&file, &part, &[], &[]);
    assert_eq!(read(&part.join("sweep.csv")), expected);
}

#[test]
fn shards_merged_equal_the_whole_sweep() {
    let (dir, file) = setup(&sweep_text(""));
    let whole = dir.path().join("whole");
    run_sweep(&file, &whole, &[], &[]);
    let s0 = dir.path().join("s0");
    let s1 = dir.path().join("s1");
    let s2 = dir.path().join("s2");
    run_sweep(&file, &s0, &["--shard", "0/3"], &[]);
    // The index from a Kubernetes Indexed Job.
    run_sweep(&file, &s1, &["--shard", "3"], &[("JOB_COMPLETION_INDEX", "1")]);
    run_sweep(&file, &s2, &["--shard", "2/3"], &[]);
    assert_eq!(read(&s1.join("sweep.csv")).lines().count(), 1 + 2 * 2, "shard 1 of 3 holds points 1 and 4");
    let merged = dir.path().join("merged");
    let (code, _, err) = autosim(&[os("sweep"), os("merge"), s2.as_os_str(), s0.as_os_str(), s1.as_os_str(), os("--out"), merged.as_os_str(), os("-q")], &[]);
    assert_eq!(code, 0, "{err}");
    for f in ["sweep.csv", "points.csv", "best.json", "best.toml"] {
        assert_eq!(read(&merged.join(f)), read(&whole.join(f)), "{f}");
    }
    // A shard missing: the merge says so and fails.
    let (code, _, err) = autosim(&[os("sweep"), os("merge"), s0.as_os_str(), s1.as_os_str(), os("--out"), dir.path().join("m2").as_os_str()], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn a_failing_point_is_recorded_and_the_sweep_goes_on() {
    let text = r#"base = "base.toml"
policies = ["hpa"]
minimize = "cost.dollars"

[[axis]]
name = "min"
path = "policies[hpa].pods.min_replicas"
values = [1, 9]
"#;
    let (dir, file) = setup(text);
    let out = dir.path().join("out");
    run_sweep(&file, &out, &[], &[]);
    let csv = read(&out.join("sweep.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].contains(",ok,"), "{csv}");
    assert!(lines[2].contains(",invalid,"), "{csv}");
    // The error names the file and place the validation found it at, and what is wrong.
    assert!(lines[2].contains("base.toml:") && lines[2].contains("must be greater than or equal to minReplicas"), "{csv}");
    let chosen: serde_json::Value = serde_json::from_str(&read(&out.join("best.json"))).unwrap();
    assert_eq!(chosen["values"]["min"], "1");
}

#[test]
fn sampled_sweeps_are_reproducible() {
    let text = r#"base = "base.toml"
policies = ["hpa"]
[sampling]
method = "latin-hypercube"
points = 4
seed = 3
[[axis]]
path = "policies[hpa].pods.metrics[0].resource.target.average_utilization"
min = 30
max = 90
[[axis]]
path = "duration"
min = "2m"
max = "3m"
"#;
    let (dir, file) = setup(text);
    let sw = autosim::sweep::Sweep::load(&file).unwrap();
    assert_eq!(sw.points.len(), 4);
    // A Latin hypercube: one value in each quarter of each range.
    let mut quarters: Vec<usize> = sw.points.iter().map(|p| ((p.values[0].num.unwrap() - 30.0) / 15.0).floor().min(3.0) as usize).collect();
    quarters.sort();
    assert_eq!(quarters, vec![0, 1, 2, 3]);
    for p in &sw.points {
        let d = p.values[1].num.unwrap();
        assert!((120.0..=180.0).contains(&d), "{d}");
    }
    let again = autosim::sweep::Sweep::load(&file).unwrap();
    assert_eq!(sw.points, again.points);
    let out = dir.path().join("out");
    run_sweep(&file, &out, &[], &[]);
    assert_eq!(read(&out.join("sweep.csv")).lines().count(), 5);
}

/// Run `autosim sweep` on a bad sweep file: exit 2, the message names file:line:col.
fn bad(text: &str, line_col: &str, words: &str) {
    let (dir, file) = setup(text);
    let out = dir.path().join("out");
    let (code, stdout, stderr) = autosim(&[os("sweep"), file.as_os_str(), os("--out"), out.as_os_str()], &[]);
    assert_eq!(code, 2, "{text}\n{stdout}\n{stderr}");
    let want = format!("sweep.toml:{line_col}:");
    assert!(stderr.contains(&want), "expected {want} in:\n{stderr}");
    assert!(stderr.contains(words), "expected {words:?} in:\n{stderr}");
    assert!(!out.join("sweep.csv").exists());
}

#[test]
fn bad_sweep_files_name_the_place() {
    let axis = "[[axis]]\npath = \"policies[hpa].pods.max_replicas\"\nvalues = [3, 4]\n";
    bad(&format!("base = \"base.toml\"\nbogus = 1\n{axis}"), "2:1", "unknown key `bogus`");
    bad("base = \"base.toml\"\n[[axis]]\npath = \"policies[7].pods.max_replicas\"\nvalues = [3]\n", "3:8", "has 2 elements");
    bad("base = \"base.toml\"\n[[axis]]\npath = \"policies[hpa].pods.max_replicaz\"\nvalues = [3]\n", "3:8", "unknown key `max_replicaz`");
    bad(&format!("base = \"base.toml\"\nminimize = \"cost.dollarz\"\n{axis}"), "2:12", "no metric `cost.dollarz`");
    bad(&format!("base = \"base.toml\"\nsubject_to = [\"sla.attainment 0.9\"]\n{axis}"), "2:15", "no comparison");
    bad(&format!("base = \"base.toml\"\npolicies = [\"nope\"]\n{axis}"), "2:13", "no policy \"nope\"");
    bad("base = \"base.toml\"\n[[axis]]\npath = \"seed\"\nname = \"s\"\nrange = { start = 5, stop = 1, step = 1 }\n", "5:29", "below");
    bad("base = \"base.toml\"\n[[axis]]\npath = \"seed\"\nvalues = [1]\n", "3:8", "axis name `seed` is taken");
    // A key the scenario does not know, added by the axis: found when the first point is validated.
    bad("base = \"base.toml\"\n[[axis]]\npath = \"policies[hpa].pods.controller.tolerancee\"\nvalues = [0.1]\n", "3:8", "tolerancee");
    bad("base = \"missing.toml\"\n[[axis]]\npath = \"seed\"\nvalues = [1]\n", "1:8", "cannot read the scenario");
    bad("base = \"base.toml\"\n[[axis]]\npath = \"seed\"\nname = \"s\"\nmin = 1\nmax = 4\n", "2:1", "[sampling]");
}

#[test]
fn shipped_sweep_files_validate() {
    let dir = common_root().join("scenarios").join("sweeps");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let sw = autosim::sweep::Sweep::load(&p).unwrap_or_else(|e| panic!("{e}"));
            assert!(!sw.points.is_empty());
            // Every point's scenario is valid.
            for pt in &sw.points {
                sw.scenario(pt).unwrap_or_else(|e| panic!("{}: point {}: {}", p.display(), pt.id, e.line(&sw, pt)));
            }
            n += 1;
        }
    }
    assert!(n >= 2);
}

fn common_root() -> PathBuf {
    super::common::root()
}

/// The shipped sweep files run, every point and seed, on a base cut to 20 minutes (the sweep
/// files verbatim beside a copy of `normal-load.toml` whose only change is its duration): a row
/// per run in sweep.csv, a row per point in points.csv, and an answer (best.toml, a valid
/// scenario, and best-hpa.yaml).
#[test]
fn shipped_sweep_files_run() {
    let root = common_root().join("scenarios");
    let base = read(&root.join("normal-load.toml"));
    assert!(base.contains("duration = \"2h\""));
    for file in ["hpa-target.toml", "hpa-lhs.toml"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("normal-load.toml"), base.replacen("duration = \"2h\"", "duration = \"20m\"", 1)).unwrap();
        std::fs::create_dir(dir.path().join("sweeps")).unwrap();
        let path = dir.path().join("sweeps").join(file);
        std::fs::copy(root.join("sweeps").join(file), &path).unwrap();
        let sw = autosim::sweep::Sweep::load(&path).unwrap();
        let out = dir.path().join("out");
        run_sweep(&path, &out, &[], &[]);
        let runs = read(&out.join("sweep.csv"));
        assert_eq!(runs.lines().count(), 1 + sw.points.len() * sw.seeds.len() * sw.policies.len(), "{file}: a row per run");
        let points = read(&out.join("points.csv"));
        assert_eq!(points.lines().count(), 1 + sw.points.len() * sw.policies.len(), "{file}: a row per point: {points}");
        autosim::load(&out.join("best.toml")).unwrap_or_else(|e| panic!("{file}: best.toml: {e}"));
        assert!(read(&out.join("best-hpa.yaml")).contains("kind: HorizontalPodAutoscaler"), "{file}");
    }
}
