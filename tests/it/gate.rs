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

/// The shipped scenarios' `[[expect]]` tables (what each is there to show) hold: `autosim
/// check` passes every check. hpa-gate.toml, the CI gate example with its baseline, is tested
/// on its own.
#[test]
fn shipped_scenarios_meet_their_expectations() {
    let dir = crate::common::root().join("scenarios");
    let mut checked = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".toml") || name == "hpa-gate.toml" || !std::fs::read_to_string(&p).unwrap().contains("\n[[expect]]") {
            continue;
        }
        let (code, stdout, stderr) = crate::common::autosim([std::ffi::OsStr::new("check"), p.as_os_str()]);
        assert_eq!(code, 0, "{name}:\n{stdout}\n{stderr}");
        let last = stdout.lines().rev().find(|l| l.contains("check(s):")).unwrap_or_else(|| panic!("{name}: {stdout}"));
        let n: usize = last.split_whitespace().next().unwrap().parse().unwrap();
        assert!(n >= 2 && last.contains(&format!("{n} passed, 0 failed")), "{name}: {last}");
        checked.push(name);
    }
    checked.sort();
    assert!(checked.len() >= 2, "{checked:?}");
}
