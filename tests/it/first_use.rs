//! What a newcomer meets first: reruns into an output folder, a sweep file given to `run` and a
//! scenario given to `sweep`.

use std::ffi::OsStr;
use std::path::Path;

use crate::common::{self, autosim};

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn run_gate(out: &Path, extra: &[&str]) -> (i32, String, String) {
    let file = common::root().join("scenarios").join("hpa-gate.toml");
    let mut args: Vec<&OsStr> = vec![os("run"), file.as_os_str(), os("--out"), out.as_os_str(), os("-q"), os("--no-plots")];
    args.extend(extra.iter().map(|s| os(s)));
    autosim(args)
}

#[test]
fn a_rerun_replaces_the_earlier_run_and_leaves_nothing_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (code, _, err) = run_gate(&out, &[]);
    assert_eq!(code, 0, "{err}");
    // An earlier run of another policy, with a figure.
    std::fs::create_dir(out.join("old-policy")).unwrap();
    std::fs::copy(out.join("hpa-manifest/summary.json"), out.join("old-policy/summary.json")).unwrap();
    std::fs::write(out.join("replicas.png"), b"old").unwrap();
    let (code, _, err) = run_gate(&out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.join("old-policy").exists(), "the earlier run's policy folder is left");
    assert!(!out.join("replicas.png").exists(), "the earlier run's figure is left");
    assert!(out.join("hpa-manifest/summary.json").is_file() && out.join("run.json").is_file());
}

#[test]
fn a_folder_holding_other_files_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    let (code, _, err) = run_gate(&out, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("notes.txt") && err.contains("--force"), "{err}");
    assert!(!out.join("run.json").exists(), "written although refused");
    let (code, _, err) = run_gate(&out, &["--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"mine");
    assert!(out.join("run.json").is_file());
}

#[test]
fn an_unwritable_output_folder_fails_before_simulating() {
    let tmp = tempfile::tempdir().unwrap();
    let file_in_the_way = tmp.path().join("a-file");
    std::fs::write(&file_in_the_way, b"x").unwrap();
    let (code, out, err) = run_gate(&file_in_the_way.join("out"), &[]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("output folder"), "{err}");
}

#[test]
fn sweep_files_and_scenarios_are_told_apart() {
    let sweep = common::root().join("scenarios/sweeps/hpa-target.toml");
    for cmd in ["validate", "run"] {
        let (code, _, err) = autosim([os(cmd), sweep.as_os_str()]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("this is a sweep file") && err.contains("autosim sweep"), "{cmd}: {err}");
        assert!(!err.contains("unknown"), "{err}");
    }
    let scenario = common::root().join("scenarios/quickstart.toml");
    let (code, _, err) = autosim([os("sweep"), scenario.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("this is a scenario, not a sweep file") && err.contains("autosim run"), "{err}");
}

/// The quickstart shows a difference: three replicas miss the SLO, five meet it, and the table
/// and the reports say so.
#[test]
fn the_quickstart_marks_who_met_the_slo() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let file = common::root().join("scenarios/quickstart.toml");
    let (code, stdout, err) = autosim([os("run"), file.as_os_str(), os("--out"), out.as_os_str(), os("--no-plots")]);
    assert_eq!(code, 0, "{err}");
    let line = |p: &str| stdout.lines().find(|l| l.starts_with(p)).unwrap_or_else(|| panic!("no {p} in {stdout}")).to_string();
    assert!(line("three-replicas").contains("MISSED"), "{stdout}");
    assert!(line("five-replicas").contains(" met "), "{stdout}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("- three-replicas: SLO missed (api: ") && md.contains("- five-replicas: SLO met"), "{md}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<li>three-replicas: SLO missed"), "html without the SLO verdicts");
}

/// `explain hpa` given a whole scenario says what it takes instead.
#[test]
fn explain_hpa_on_a_scenario_says_what_it_takes() {
    let file = common::root().join("scenarios/hpa-gate.toml");
    let snapshot = common::root().join("docs/examples/checkout-snapshot.toml");
    let (code, _, err) = autosim([os("explain"), os("hpa"), file.as_os_str(), snapshot.as_os_str()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("this is a whole scenario") && err.contains("[policies.pods]"), "{err}");
}
