//! `autosim check` and `autosim baseline update`: a gate passes on its baseline, fails on a
//! worsened configuration, and refuses bad expectations with their place.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use crate::common::autosim;


fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A short scenario whose HPA is set by `{max}` (its ceiling) and `{target}`.
fn scenario(max: u32, target: u32, expect: &str) -> String {
    format!(
        r#"name = "gate"
duration = "4m"
seed = 5
step = "30s"

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
name = "hpa"
[policies.pods]
kind = "hpa"
min_replicas = 1
max_replicas = {max}
metrics = [ {{ type = "Resource", resource = {{ name = "cpu", target = {{ type = "Utilization", average_utilization = {target} }} }} }} ]
{expect}"#
    )
}

const EXPECT: &str = r#"
[[expect]]
policy = "hpa"
checks = ["sla.attainment >= 0.9", "requests.completed >= 1000", "latency_s.p99 <= baseline + 5%"]

[[expect]]
seeds = 3
checks = ["cost.dollars <= baseline * 1.05", "sla.attainment >= baseline - 0.01"]
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_passes_on_its_baseline_and_fails_when_worse() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "gate.toml", &scenario(8, 50, EXPECT));
    let (code, out, err) = autosim(&[os("baseline"), os("update"), file.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
    let baseline = dir.path().join("gate.baseline.json");
    let b: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert_eq!(b["policies"]["hpa"]["seeds"].as_array().unwrap().len(), 3);
    assert_eq!(b["policies"]["hpa"]["metrics"]["latency_s.p99"].as_array().unwrap().len(), 3);

    let junit = dir.path().join("junit.xml");
    let md = dir.path().join("summary.md");
    let (code, out, err) = autosim(&[os("check"), file.as_os_str(), os("--junit"), junit.as_os_str(), os("--markdown"), md.as_os_str()]);
    assert_eq!(code, 0, "the baseline's own configuration must pass:\n{out}{err}");
    assert!(out.contains("5 check(s): 5 passed, 0 failed"), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"5\"") && xml.contains("failures=\"0\""), "{xml}");
    assert!(std::fs::read_to_string(&md).unwrap().contains("5 check(s), passed"));

    // Worse: a ceiling of 2 replicas cannot follow the step.
    let worse = write(dir.path(), "worse.toml", &scenario(2, 50, EXPECT));
    let (code, out, err) = autosim(&[
        os("check"),
        worse.as_os_str(),
        os("--baseline"),
        baseline.as_os_str(),
        os("--junit"),
        junit.as_os_str(),
        os("--markdown"),
        md.as_os_str(),
    ]);
    assert_eq!(code, 1, "a worse configuration must fail:\n{out}{err}");
    assert!(out.contains("FAIL"), "{out}");
    assert!(out.contains("latency_s.p99 <= baseline + 5%"), "{out}");
    assert!(err.contains("check(s) failed"), "{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure"), "{xml}");
    assert!(std::fs::read_to_string(&md).unwrap().contains("❌"));
}

#[test]
fn bad_expectations_exit_2_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    for (expect, place, words) in [
        ("\n[[expect]]\npolicy = \"nope\"\nchecks = [\"sla.attainment >= 0.9\"]\n", ":28:10:", "no policy \"nope\""),
        ("\n[[expect]]\nchecks = [\"sla.attainment >> 0.9\"]\n", ":28:11:", "not a number"),
        ("\n[[expect]]\nchecks = [\"sla.attainmnt >= 0.9\"]\n", ":28:11:", "no metric `sla.attainmnt`"),
        ("\n[[expect]]\nchecks = [\"x >= 1\"]\nbogus = 1\n", ":29:1:", "unknown key `bogus`"),
    ] {
        let file = write(dir.path(), "bad.toml", &scenario(8, 50, expect));
        let (code, out, err) = autosim(&[os("check"), file.as_os_str()]);
        assert_eq!(code, 2, "{expect}\n{out}{err}");
        assert!(err.contains(&format!("bad.toml{place}")), "{place} in:\n{err}");
        assert!(err.contains(words), "{words} in:\n{err}");
    }
    // A baseline bound without a baseline file.
    let file = write(dir.path(), "nobase.toml", &scenario(8, 50, EXPECT));
    let (code, _, err) = autosim(&[os("check"), file.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("baseline update"), "{err}");
    // No expectations at all.
    let file = write(dir.path(), "none.toml", &scenario(8, 50, ""));
    let (code, _, err) = autosim(&[os("check"), file.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    // Expectations from a file of their own.
    let ex = write(dir.path(), "expect.toml", "[[expect]]\nchecks = [\"sla.attainment >= 0.9\"]\n");
    let (code, out, err) = autosim(&[os("check"), file.as_os_str(), os("--expect"), ex.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
}

/// The shipped hpa-gate scenario and its manifest, copied into `dir` with `edit` applied to
/// the manifest and the scenario's expectations replaced by `expect` (when given) and its seed
/// by `seed`.
fn hpa_gate_in(dir: &Path, seed: u64, manifest_edit: (&str, &str), expect: Option<&str>) -> PathBuf {
    let root = crate::common::root().join("scenarios");
    let mut text = std::fs::read_to_string(root.join("hpa-gate.toml")).unwrap();
    text = text.replace("seed = 3\n", &format!("seed = {seed}\n"));
    if let Some(x) = expect {
        let at = text.find("\n[[expect]]").unwrap() + 1;
        text.truncate(at);
        text.push_str(x);
    }
    let manifest = std::fs::read_to_string(root.join("manifests/api-hpa.yaml")).unwrap();
    assert!(manifest.contains(manifest_edit.0));
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    std::fs::write(dir.join("manifests/api-hpa.yaml"), manifest.replace(manifest_edit.0, manifest_edit.1)).unwrap();
    write(dir, "hpa-gate.toml", &text)
}

const UNCHANGED: (&str, &str) = ("maxReplicas: 24", "maxReplicas: 24");

/// docs/sweeps-and-gates.md's gate by interval: an unchanged configuration passes against its
/// own fresh baseline whatever the seeds, and a real regression fails.
#[test]
fn an_interval_gate_passes_unchanged_code_across_seeds_and_fails_a_regression() {
    let expect = r#"
[[expect]]
seeds = 5
by = "interval"
checks = ["cost.pod_seconds <= baseline * 1.05", "sla.attainment >= baseline - 0.001"]
"#;
    for seed in [1, 7, 42] {
        let dir = tempfile::tempdir().unwrap();
        let file = hpa_gate_in(dir.path(), seed, UNCHANGED, Some(expect));
        let (code, out, err) = autosim(&[os("baseline"), os("update"), file.as_os_str()]);
        assert_eq!(code, 0, "{out}{err}");
        let (code, out, err) = autosim(&[os("check"), file.as_os_str()]);
        assert_eq!(code, 0, "seed {seed}: an unchanged configuration fails its own baseline:\n{out}{err}");
        assert!(out.contains("change 0 ±0 paired"), "{out}");
        if seed == 1 {
            // The regression: a ceiling of 6 replicas cannot follow the surge.
            let worse = tempfile::tempdir().unwrap();
            let wfile = hpa_gate_in(worse.path(), seed, ("maxReplicas: 24", "maxReplicas: 6"), Some(expect));
            let base = dir.path().join("hpa-gate.baseline.json");
            let (code, out, err) = autosim(&[os("check"), wfile.as_os_str(), os("--baseline"), base.as_os_str()]);
            assert_eq!(code, 1, "a regression passes:\n{out}{err}");
            assert!(out.lines().any(|l| l.contains("sla.attainment >= baseline - 0.001") && l.ends_with("FAIL")), "{out}");
        }
    }
}

/// hpa-gate gates the pods' time, which the HPA moves: a lower CPU target (more pods for the
/// same load) fails it.
#[test]
fn the_hpa_gate_fails_a_worse_target_on_pod_time() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = crate::common::root().join("scenarios/hpa-gate.baseline.json");
    let file = hpa_gate_in(dir.path(), 3, ("averageUtilization: 60", "averageUtilization: 30"), None);
    let (code, out, err) = autosim(&[os("check"), file.as_os_str(), os("--baseline"), shipped.as_os_str()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.lines().any(|l| l.contains("cost.pod_seconds <= baseline + 5%") && l.ends_with("FAIL")), "{out}");
}

/// The shipped baseline is what `autosim baseline update` writes today, and the shipped gate
/// passes on it from a fresh clone.
#[test]
fn the_shipped_hpa_gate_baseline_is_current() {
    let root = crate::common::root().join("scenarios");
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.json");
    let file = root.join("hpa-gate.toml");
    let (code, out, err) = autosim(&[os("baseline"), os("update"), file.as_os_str(), os("--out"), fresh.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
    let shipped = std::fs::read_to_string(root.join("hpa-gate.baseline.json")).expect("scenarios/hpa-gate.baseline.json is not shipped");
    assert!(
        std::fs::read_to_string(&fresh).unwrap() == shipped,
        "scenarios/hpa-gate.baseline.json is out of date: rewrite it with `autosim baseline update scenarios/hpa-gate.toml`"
    );
    let (code, out, err) = autosim(&[os("check"), file.as_os_str(), os("-q")]);
    assert_eq!(code, 0, "{out}{err}");
}

/// With `--expect FILE`, the hint to rebuild a baseline repeats `--expect FILE`.
#[test]
fn the_rebuild_hint_keeps_expect() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "gate.toml", &scenario(8, 50, ""));
    let few = write(dir.path(), "few.toml", "[[expect]]\nseeds = 1\nchecks = [\"latency_s.p99 <= baseline + 5%\"]\n");
    let many = write(dir.path(), "many.toml", "[[expect]]\nseeds = 2\nchecks = [\"latency_s.p99 <= baseline + 5%\"]\n");
    let (code, out, err) = autosim(&[os("baseline"), os("update"), file.as_os_str(), os("--expect"), few.as_os_str()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = autosim(&[os("check"), file.as_os_str(), os("--expect"), many.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    let want = format!("--expect {}", many.display());
    assert!(err.contains(&want), "the hint omits {want}: {err}");
}

/// Every shipped scenario says with `[[expect]]` tables what it is there to show, for each of
/// its policies, and `autosim check` passes every check. hpa-gate.toml, the CI gate example with
/// its baseline, is tested on its own.
#[test]
fn shipped_scenarios_meet_their_expectations() {
    let dir = crate::common::root().join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    files.sort();
    let mut checked = 0;
    for p in &files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name == "hpa-gate.toml" {
            continue;
        }
        let sc = autosim::load(p).unwrap_or_else(|e| panic!("{name}: {e}"));
        for pol in &sc.policies {
            let covered = sc.expectations.iter().any(|e| e.policies.is_empty() || e.policies.contains(&pol.name));
            assert!(covered, "{name}: no [[expect]] table holds policy {} to what the scenario shows", pol.name);
        }
        let (code, stdout, stderr) = crate::common::autosim([std::ffi::OsStr::new("check"), p.as_os_str()]);
        assert_eq!(code, 0, "{name}:\n{stdout}\n{stderr}");
        let last = stdout.lines().rev().find(|l| l.contains("check(s):")).unwrap_or_else(|| panic!("{name}: {stdout}"));
        let n: usize = last.split_whitespace().next().unwrap().parse().unwrap();
        // A check per bound and policy: the table printed every one of them, and all passed.
        let want: usize = sc
            .expectations
            .iter()
            .map(|e| e.bounds.len() * if e.policies.is_empty() { sc.policies.len() } else { e.policies.len() })
            .sum();
        assert_eq!(n, want, "{name}: {last}");
        assert!(last.contains(&format!("{n} passed, 0 failed")), "{name}: {last}");
        checked += 1;
    }
    assert_eq!(checked, files.len() - 1, "every scenario but hpa-gate.toml");
}
