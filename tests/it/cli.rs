//! The `autosim` command as a user runs it: exit codes, the files a run writes, and the error
//! messages for bad scenario files (file:LINE:COL, what was expected, nothing written).
//!
//! Every run passes `--out <tempdir>` so nothing is ever written into the repository.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use super::common;
use crate::common::autosim;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------


/// Write `text` as `<dir>/<name>.toml` and return its path.
fn scenario_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("cannot write the test scenario");
    path
}

/// Write `text` to a fresh temp folder and run `autosim <cmd> FILE <rest...>` on it.
/// Returns the temp folder (keep it alive), the file, and (code, stdout, stderr).
fn with_scenario(
    text: &str,
    cmd: &str,
    rest: &[&OsStr],
) -> (tempfile::TempDir, PathBuf, (i32, String, String)) {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(dir.path(), "scenario", text);
    let mut args: Vec<&OsStr> = vec![OsStr::new(cmd), file.as_os_str()];
    args.extend_from_slice(rest);
    let result = autosim(args);
    (dir, file, result)
}

/// All files under `dir`, by path relative to `dir` (with `/` separators), with their bytes.
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Every entry (files and folders) under `dir` whose name starts with '.': leftover temp files.
fn dot_entries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name().to_string_lossy().starts_with('.') {
                found.push(entry.path());
            }
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    found
}

/// The immediate subfolders of `dir`, by name, sorted.
fn subdirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The keys of `summary.json` that other tools rely on.
const SUMMARY_CONTRACT: &[(&str, &[&str])] = &[
    (
        "requests",
        &[
            "arrived",
            "completed",
            "rejected",
            "timed_out",
            "in_flight_at_end",
        ],
    ),
    (
        "latency_s",
        &["mean", "p50", "p90", "p95", "p99", "p999", "max"],
    ),
    ("queue_wait_s", &["mean", "p99"]),
    ("sla", &["attainment", "violation_minutes"]),
    ("cost", &["pod_seconds", "node_seconds", "dollars"]),
    ("scaling", &["events", "reversals"]),
];

fn read_summary(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn check_summary_contract(summary: &Value, path: &Path) {
    for (section, keys) in SUMMARY_CONTRACT {
        let s = summary
            .get(section)
            .unwrap_or_else(|| panic!("{}: no `{section}`", path.display()));
        for key in *keys {
            let v = s
                .get(key)
                .unwrap_or_else(|| panic!("{}: no `{section}.{key}`", path.display()));
            assert!(
                v.is_number(),
                "{}: `{section}.{key}` is not a number: {v}",
                path.display()
            );
        }
    }
}

/// Check the reports a run wrote to `out` for `policies` (in scenario order).
fn check_reports(out: &Path, policies: &[String], what: &str) {
    for p in policies {
        let pdir = out.join(p);
        assert!(
            pdir.is_dir(),
            "{what}: no folder for policy {p:?} in {}",
            out.display()
        );
        let summary_path = pdir.join("summary.json");
        let summary = read_summary(&summary_path);
        check_summary_contract(&summary, &summary_path);
        assert_eq!(
            summary["policy"],
            Value::String(p.clone()),
            "{what}: summary.json of {p:?} names another policy"
        );
        for (file, header_start) in [
            ("timeseries.csv", "time_s,service,"),
            ("decisions.csv", "time_s,controller,"),
        ] {
            let text = std::fs::read_to_string(pdir.join(file))
                .unwrap_or_else(|e| panic!("{what}: {p}/{file}: {e}"));
            let header = text.lines().next().unwrap_or("");
            assert!(header.starts_with(header_start), "{what}: {p}/{file} header is {header:?}, expected it to start with {header_start:?}");
        }
    }
    let mut rdr = csv::Reader::from_path(out.join("comparison.csv"))
        .unwrap_or_else(|e| panic!("{what}: comparison.csv: {e}"));
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(
        headers.get(0),
        Some("policy"),
        "{what}: comparison.csv header {headers:?}"
    );
    let rows: Vec<String> = rdr
        .records()
        .map(|r| r.unwrap().get(0).unwrap().to_string())
        .collect();
    assert_eq!(
        &rows, policies,
        "{what}: comparison.csv should have one row per policy, in order"
    );
    let leftovers = dot_entries(out);
    assert!(
        leftovers.is_empty(),
        "{what}: temporary files left in the output folder: {leftovers:?}"
    );
}

/// A small valid scenario with two policies; runs in well under a second.
const TWO_POLICIES: &str = r#"
name = "cli-two"
duration = "10m"
seed = 7
step = "10s"

[[services]]
name = "api"
replicas = 2
concurrency = 4
queue_limit = 100
service_time = { dist = "lognormal", median = "40ms", p99 = "300ms" }
workload = { pattern = { kind = "constant", rate = 50 } }

[[policies]]
name = "two"
[policies.pods]
kind = "static"
replicas = 2

[[policies]]
name = "four"
[policies.pods]
kind = "static"
replicas = 4
"#;

fn two_policy_names() -> Vec<String> {
    vec!["two".to_string(), "four".to_string()]
}

// ---------------------------------------------------------------------------------------------
// 1. Every scenario shipped in scenarios/
// ---------------------------------------------------------------------------------------------

#[test]
fn every_shipped_scenario_validates_and_runs() {
    let dir = common::root().join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenarios in {}", dir.display());
    for file in &files {
        let what = file.display().to_string();
        let (code, stdout, stderr) = autosim([OsStr::new("validate"), file.as_os_str()]);
        assert_eq!(code, 0, "{what}: validate failed\n{stderr}");
        assert!(stdout.contains("ok"), "{what}: validate said {stdout:?}");

        let sc = autosim::load(file).unwrap_or_else(|e| panic!("{what}: {e}"));
        let policies: Vec<String> = sc.policies.iter().map(|p| p.name.clone()).collect();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let started = Instant::now();
        let (code, _stdout, stderr) = autosim([
            OsStr::new("run"),
            file.as_os_str(),
            OsStr::new("--quiet"),
            OsStr::new("--out"),
            out.as_os_str(),
        ]);
        let took = started.elapsed().as_secs_f64();
        assert_eq!(code, 0, "{what}: run failed\n{stderr}");
        if took > 20.0 {
            eprintln!("NOTE: {what} took {took:.1}s to run in this build");
        }
        check_reports(&out, &policies, &what);
        assert_eq!(
            subdirs(&out),
            {
                let mut p = policies.clone();
                p.sort();
                p
            },
            "{what}: unexpected folders in the output"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. --policy
// ---------------------------------------------------------------------------------------------

#[test]
fn policy_flag_runs_only_that_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (_d, _f, (code, stdout, stderr)) = with_scenario(
        TWO_POLICIES,
        "run",
        &[
            OsStr::new("--quiet"),
            OsStr::new("--policy"),
            OsStr::new("four"),
            OsStr::new("--out"),
            out.as_os_str(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.is_empty(),
        "--quiet should print nothing, printed {stdout:?}"
    );
    assert_eq!(subdirs(&out), vec!["four".to_string()]);
    check_reports(&out, &["four".to_string()], "--policy four");
}

#[test]
fn policy_flag_repeated_runs_those_policies() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (_d, _f, (code, _, stderr)) = with_scenario(
        TWO_POLICIES,
        "run",
        &[
            OsStr::new("--quiet"),
            OsStr::new("--policy"),
            OsStr::new("two"),
            OsStr::new("--policy"),
            OsStr::new("four"),
            OsStr::new("--out"),
            out.as_os_str(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    check_reports(&out, &two_policy_names(), "--policy two --policy four");
}

#[test]
fn unknown_policy_flag_exits_2_names_known_policies_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (_d, _f, (code, stdout, stderr)) = with_scenario(
        TWO_POLICIES,
        "run",
        &[
            OsStr::new("--quiet"),
            OsStr::new("--policy"),
            OsStr::new("nine"),
            OsStr::new("--out"),
            out.as_os_str(),
        ],
    );
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("\"nine\""),
        "should name the unknown policy: {stderr}"
    );
    assert!(
        stderr.contains("two") && stderr.contains("four"),
        "should list the known policies: {stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        !out.exists(),
        "an unknown --policy must write nothing, but {} exists",
        out.display()
    );
}

// ---------------------------------------------------------------------------------------------
// 3. --seed and determinism; 4. no temp files
// ---------------------------------------------------------------------------------------------

fn run_seed(file: &Path, out: &Path, seed: &str) {
    let (code, _, stderr) = autosim([
        OsStr::new("run"),
        file.as_os_str(),
        OsStr::new("--quiet"),
        OsStr::new("--seed"),
        OsStr::new(seed),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let leftovers = dot_entries(out);
    assert!(
        leftovers.is_empty(),
        "temporary files left in the output folder: {leftovers:?}"
    );
}

#[test]
fn seed_changes_results_and_same_seed_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let file = scenario_file(tmp.path(), "s", TWO_POLICIES);
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    run_seed(&file, &a, "11");
    run_seed(&file, &b, "11");
    run_seed(&file, &c, "12");

    let fa = files_under(&a);
    let fb = files_under(&b);
    assert!(
        fa.contains_key("comparison.csv") && fa.contains_key("two/summary.json"),
        "{:?}",
        fa.keys()
    );
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "same seed, different files"
    );
    for (name, bytes) in &fa {
        assert!(
            bytes == &fb[name],
            "same seed, but {name} differs between two runs"
        );
    }

    for p in two_policy_names() {
        let sa = read_summary(&a.join(&p).join("summary.json"));
        let sc = read_summary(&c.join(&p).join("summary.json"));
        assert_eq!(
            sa["seed"],
            Value::from(11u64),
            "summary.json should record the --seed"
        );
        assert_eq!(
            sc["seed"],
            Value::from(12u64),
            "summary.json should record the --seed"
        );
        let differs = sa["requests"]["arrived"] != sc["requests"]["arrived"]
            || sa["latency_s"] != sc["latency_s"];
        assert!(
            differs,
            "policy {p}: --seed 11 and --seed 12 gave the same arrivals and latencies"
        );
    }
}

#[test]
fn run_leaves_no_temp_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (_d, _f, (code, _, stderr)) = with_scenario(
        TWO_POLICIES,
        "run",
        &[OsStr::new("--quiet"), OsStr::new("--out"), out.as_os_str()],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(dot_entries(&out).is_empty(), "{:?}", dot_entries(&out));
    // A second run over the same folder replaces the files and still leaves nothing behind.
    let (_d, _f, (code, _, stderr)) = with_scenario(
        TWO_POLICIES,
        "run",
        &[OsStr::new("--quiet"), OsStr::new("--out"), out.as_os_str()],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(dot_entries(&out).is_empty(), "{:?}", dot_entries(&out));
    check_reports(&out, &two_policy_names(), "second run");
}

#[test]
fn run_without_quiet_prints_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (_d, _f, (code, stdout, stderr)) =
        with_scenario(TWO_POLICIES, "run", &[OsStr::new("--out"), out.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("policy"), "{stdout}");
    for p in two_policy_names() {
        assert!(
            stdout.lines().any(|l| l.starts_with(&p)),
            "table has no row for {p}: {stdout}"
        );
    }
    assert!(
        stdout.contains(&out.display().to_string()),
        "should say where the reports are: {stdout}"
    );
    check_reports(&out, &two_policy_names(), "run without --quiet");
}

// ---------------------------------------------------------------------------------------------
// 5. Bad input
// ---------------------------------------------------------------------------------------------

/// A bad scenario and what its error must say.
struct Bad<'a> {
    toml: &'a str,
    /// Where the error is: the `n`th (0-based) occurrence of this text starts on the expected line.
    at: Option<(&'a str, usize)>,
    /// Text the message must contain (what is wrong and what was expected).
    says: &'a [&'a str],
}

/// 1-based line and column (in characters) of the `nth` occurrence of `needle` in `text`.
fn place_of(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let mut from = 0;
    let mut offset = None;
    for _ in 0..=nth {
        let i = text[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("fixture has no occurrence {nth} of {needle:?}"));
        offset = Some(from + i);
        from += i + needle.len();
    }
    let offset = offset.unwrap();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

/// Common checks of an error's stderr for a bad scenario at `file`.
fn check_error_text(cmd: &str, file: &Path, bad: &Bad<'_>, code: i32, stderr: &str) {
    let shown = file.display().to_string();
    assert_eq!(
        code, 2,
        "`autosim {cmd}`: expected exit code 2, stderr:\n{stderr}"
    );
    assert!(
        stderr.starts_with("error: "),
        "`autosim {cmd}`: stderr should start with `error: `:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "`autosim {cmd}` panicked:\n{stderr}"
    );
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "`autosim {cmd}` mentions RUST_BACKTRACE:\n{stderr}"
    );
    assert!(
        stderr.contains(&shown),
        "`autosim {cmd}`: the message should name the file {shown}:\n{stderr}"
    );
    if let Some((needle, nth)) = bad.at {
        let (line, _col) = place_of(bad.toml, needle, nth);
        let prefix = format!("error: {shown}:");
        let rest = stderr.strip_prefix(&prefix).unwrap_or_else(|| {
            panic!("`autosim {cmd}`: expected `{prefix}LINE:COL: ...`, got:\n{stderr}")
        });
        let mut parts = rest.splitn(3, ':');
        let got_line: usize = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("`autosim {cmd}`: no line number:\n{stderr}"));
        let got_col: usize = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("`autosim {cmd}`: no column number:\n{stderr}"));
        assert_eq!(
            got_line, line,
            "`autosim {cmd}`: wrong line (expected the line of {needle:?}):\n{stderr}"
        );
        let line_text = bad.toml.lines().nth(line - 1).unwrap();
        assert!(
            got_col >= 1 && got_col <= line_text.chars().count() + 1,
            "`autosim {cmd}`: column {got_col} is outside line {line}:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("{line} | {line_text}")),
            "`autosim {cmd}`: the snippet should show line {line} {line_text:?}:\n{stderr}"
        );
    }
    for s in bad.says {
        assert!(
            stderr.contains(s),
            "`autosim {cmd}`: the message should say {s:?}:\n{stderr}"
        );
    }
}

/// `validate` and `run` on a bad scenario: exit 2, a located message, and no output folder.
fn check_bad(bad: Bad<'_>) {
    check_bad_with_files(bad, &[]);
}

/// [`check_bad`] with other files (name, content) beside the scenario, such as traces.
fn check_bad_with_files(bad: Bad<'_>, files: &[(&str, &str)]) {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(tmp.path().join(name), text).unwrap();
    }
    let file = scenario_file(tmp.path(), "bad", bad.toml);
    let (code, stdout, stderr) = autosim([OsStr::new("validate"), file.as_os_str()]);
    check_error_text("validate", &file, &bad, code, &stderr);
    assert!(
        !stdout.contains("ok"),
        "validate of a bad file said ok: {stdout}"
    );

    let out = tmp.path().join("out");
    let (code, _, stderr) = autosim([
        OsStr::new("run"),
        file.as_os_str(),
        OsStr::new("--quiet"),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    check_error_text("run", &file, &bad, code, &stderr);
    assert!(
        !out.exists(),
        "a bad scenario must write nothing, but {} exists",
        out.display()
    );
}

/// A valid service table, appended to the bad scenarios that are not about the service.
const SERVICE: &str = r#"
[[services]]
name = "api"
replicas = 2
concurrency = 4
service_time = "10ms"
workload = { pattern = { kind = "constant", rate = 5 } }
"#;

fn with_service(head: &str, tail: &str) -> String {
    format!("{head}{SERVICE}{tail}")
}

const HEAD: &str = "name = \"bad\"\nduration = \"1m\"\nstep = \"10s\"\n";

#[test]
fn bad_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("does-not-exist.toml");
    let out = tmp.path().join("out");
    let bad = Bad {
        toml: "",
        at: None,
        says: &["cannot read"],
    };
    let (code, _, stderr) = autosim([OsStr::new("validate"), file.as_os_str()]);
    check_error_text("validate", &file, &bad, code, &stderr);
    let (code, _, stderr) = autosim([
        OsStr::new("run"),
        file.as_os_str(),
        OsStr::new("--quiet"),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    check_error_text("run", &file, &bad, code, &stderr);
    assert!(!out.exists());
}

#[test]
fn bad_not_toml() {
    check_bad(Bad {
        toml: "name = \"x\"\nthis is [not toml\n",
        at: Some(("this is", 0)),
        says: &["expected"],
    });
}

#[test]
fn bad_unknown_top_level_key() {
    let toml = with_service(&format!("{HEAD}colour = \"red\"\n"), "");
    check_bad(Bad {
        toml: &toml,
        at: Some(("colour", 0)),
        says: &["`colour`", "expected one of", "`duration`"],
    });
}

#[test]
fn bad_unknown_service_key() {
    let toml = format!(
        "{HEAD}{}",
        SERVICE.replace("replicas = 2\n", "replicas = 2\nreplica_count = 3\n")
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("replica_count", 0)),
        says: &["`replica_count`", "expected one of", "`replicas`"],
    });
}

#[test]
fn bad_duration_string() {
    let toml = with_service("name = \"bad\"\nduration = \"5q\"\n", "");
    check_bad(Bad {
        toml: &toml,
        at: Some(("\"5q\"", 0)),
        says: &["\"5q\"", "expected a number with a unit"],
    });
}

#[test]
fn bad_negative_cpu() {
    let toml = with_service(HEAD, "resources = { cpu = \"-1\", memory = \"256Mi\" }\n");
    check_bad(Bad {
        toml: &toml,
        at: Some(("\"-1\"", 0)),
        says: &["CPU", "\"-1\"", "negative"],
    });
}

#[test]
fn bad_memory_quantity() {
    let toml = with_service(HEAD, "resources = { cpu = \"500m\", memory = \"abc\" }\n");
    check_bad(Bad {
        toml: &toml,
        at: Some(("\"abc\"", 0)),
        says: &["memory", "\"abc\"", "expected", "Mi"],
    });
}

#[test]
fn bad_unknown_distribution() {
    let toml = format!(
        "{HEAD}{}",
        SERVICE.replace(
            "service_time = \"10ms\"",
            "service_time = { dist = \"weibull\", mean = \"1s\" }"
        )
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("service_time", 0)),
        says: &["\"weibull\"", "expected one of", "\"exponential\""],
    });
}

#[test]
fn bad_lognormal_p95_below_median() {
    let toml = format!(
        "{HEAD}{}",
        SERVICE.replace(
            "service_time = \"10ms\"",
            "service_time = { dist = \"lognormal\", median = \"40ms\", p95 = \"20ms\" }"
        )
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("service_time", 0)),
        says: &["p95", "greater than the median"],
    });
}

#[test]
fn bad_concurrency_zero() {
    let toml = format!(
        "{HEAD}{}",
        SERVICE.replace("concurrency = 4", "concurrency = 0")
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("concurrency", 0)),
        says: &["`concurrency`", "between 1 and"],
    });
}

/// A slot's index is 16 bits in the engine: more slots than that are refused, not truncated.
#[test]
fn bad_concurrency_above_16_bits() {
    let toml = format!(
        "{HEAD}{}",
        SERVICE.replace("concurrency = 4", "concurrency = 65537")
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("concurrency", 0)),
        says: &["`concurrency`", "between 1 and 65536"],
    });
}

#[test]
fn bad_replicas_absurd() {
    let toml = format!(
        "{HEAD}{}",
        SERVICE.replace("replicas = 2", "replicas = 10000000")
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("10000000", 0)),
        says: &["`replicas`", "10000000", "100000"],
    });
}

#[test]
fn bad_queue_limit_absurd() {
    let toml = with_service(HEAD, "queue_limit = 100000000000\n");
    check_bad(Bad {
        toml: &toml,
        at: Some(("100000000000", 0)),
        says: &["`queue_limit`", "100000000000", "10000000"],
    });
}

#[test]
fn bad_node_pool_min_above_max() {
    let toml = with_service(
        &format!("{HEAD}\n[cluster]\n[[cluster.node_pools]]\nname = \"pool\"\ncpu = \"2\"\nmemory = \"8Gi\"\nmin = 5\nmax = 2\n"),
        "",
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("min = 5", 0)),
        says: &["node pool \"pool\"", "`min` (5)", "`max` (2)"],
    });
}

#[test]
fn bad_node_pool_nodes_outside_min_max() {
    let toml = with_service(
        &format!("{HEAD}\n[cluster]\n[[cluster.node_pools]]\nname = \"pool\"\ncpu = \"2\"\nmemory = \"8Gi\"\nnodes = 9\nmin = 1\nmax = 3\n"),
        "",
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("nodes = 9", 0)),
        says: &["`nodes` (9)", "between `min` (1) and `max` (3)"],
    });
}

#[test]
fn bad_duplicate_service_names() {
    let toml = format!("{HEAD}{SERVICE}{SERVICE}");
    check_bad(Bad {
        toml: &toml,
        at: Some(("[[services]]", 1)),
        says: &["duplicate service name \"api\""],
    });
}

#[test]
fn bad_unknown_balancer() {
    let toml = format!(
        "{HEAD}{}",
        SERVICE.replace("replicas = 2\n", "replicas = 2\nbalancer = \"fastest\"\n")
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("\"fastest\"", 0)),
        says: &[
            "`fastest`",
            "expected one of",
            "`round-robin`",
            "`least-request`",
        ],
    });
}

#[test]
fn bad_workload_without_source() {
    let toml = format!(
        "{HEAD}{}",
        SERVICE.replace(
            "workload = { pattern = { kind = \"constant\", rate = 5 } }",
            "workload = {}"
        )
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("workload = {}", 0)),
        says: &["`workload` has no source", "expected `pattern"],
    });
}

#[test]
fn bad_unknown_pods_kind() {
    let toml = with_service(
        HEAD,
        "\n[[policies]]\nname = \"p1\"\n[policies.pods]\nkind = \"magic\"\n",
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("kind = \"magic\"", 0)),
        says: &["unknown kind \"magic\"", "expected one of \"static\""],
    });
}

#[test]
fn bad_override_for_missing_service() {
    let toml = with_service(HEAD, "\n[[policies]]\nname = \"p1\"\n[policies.pods]\nkind = \"static\"\nreplicas = 2\n[policies.pods.overrides.nope]\nreplicas = 3\n");
    check_bad(Bad {
        toml: &toml,
        at: Some(("[policies.pods.overrides.nope]", 0)),
        says: &["\"nope\"", "does not exist", "\"api\""],
    });
}

#[test]
fn bad_unknown_key_in_pods_policy() {
    let toml = with_service(HEAD, "\n[[policies]]\nname = \"p1\"\n[policies.pods]\nkind = \"static\"\nreplicas = 2\ncolour = \"red\"\n");
    check_bad(Bad {
        toml: &toml,
        at: Some(("colour", 0)),
        says: &["unknown key `colour`", "expected one of", "`replicas`"],
    });
}

#[test]
fn bad_rate_window_shorter_than_two_scrapes() {
    let toml = with_service(
        &format!("{HEAD}\n[metrics]\nscrape_interval = \"15s\"\nrate_window = \"20s\"\n"),
        "",
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("rate_window", 0)),
        says: &["`rate_window`", "at least twice `scrape_interval`"],
    });
}

#[test]

fn bad_scrape_interval_too_long_for_default_rate_window() {
    let toml = with_service(
        &format!("{HEAD}\n[metrics]\nscrape_interval = \"1m\"\n"),
        "",
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("scrape_interval", 0)),
        says: &["`rate_window`", "`scrape_interval`"],
    });
}

#[test]
fn bad_warmup_not_shorter_than_duration() {
    let toml = with_service(&format!("{HEAD}warmup = \"1m\"\n"), "");
    check_bad(Bad {
        toml: &toml,
        at: Some(("warmup", 0)),
        says: &["`warmup` must be shorter than `duration`"],
    });
}

#[test]
fn bad_uppercase_service_name() {
    let toml = format!(
        "{HEAD}{}",
        SERVICE.replace("name = \"api\"", "name = \"API\"")
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("\"API\"", 0)),
        says: &["invalid service name \"API\"", "lowercase"],
    });
}

#[test]
fn bad_step_too_fine_for_duration() {
    // Ten years (the longest run allowed; "10y" is not a unit) in 1ms steps: 3e11 rows.
    let toml = with_service("name = \"bad\"\nduration = \"3650d\"\nstep = \"1ms\"\n", "");
    check_bad(Bad {
        toml: &toml,
        at: Some(("step", 0)),
        says: &["`step` is too fine", "expected at most"],
    });
}

#[test]
fn bad_duration_longer_than_ten_years() {
    let toml = with_service("name = \"bad\"\nduration = \"3651d\"\n", "");
    check_bad(Bad {
        toml: &toml,
        at: Some(("\"3651d\"", 0)),
        says: &["ten years"],
    });
}

#[test]
fn bad_missing_workload() {
    let toml = format!(
        "{HEAD}{}",
        SERVICE.replace(
            "workload = { pattern = { kind = \"constant\", rate = 5 } }\n",
            ""
        )
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("[[services]]", 0)),
        // A service with no load is an error unless another service calls it.
        says: &["has no `workload`", "calls it"],
    });
}

#[test]
fn bad_replicas_negative() {
    let toml = format!("{HEAD}{}", SERVICE.replace("replicas = 2", "replicas = -1"));
    check_bad(Bad {
        toml: &toml,
        at: Some(("-1", 0)),
        says: &["-1"],
    });
}

#[test]

fn bad_duplicate_policy_names() {
    let toml = with_service(
        HEAD,
        "\n[[policies]]\nname = \"p1\"\n\n[[policies]]\nname = \"p1\"\n",
    );
    check_bad(Bad {
        toml: &toml,
        at: Some(("name = \"p1\"", 1)),
        says: &["duplicate policy name \"p1\""],
    });
}

#[test]

fn bad_duplicate_node_pool_names() {
    let pool = "[[cluster.node_pools]]\nname = \"pool\"\ncpu = \"2\"\nmemory = \"8Gi\"\n";
    let toml = with_service(&format!("{HEAD}\n[cluster]\n{pool}{pool}"), "");
    check_bad(Bad {
        toml: &toml,
        at: Some(("name = \"pool\"", 1)),
        says: &["duplicate node pool name \"pool\""],
    });
}

#[test]
fn bad_not_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("binary.toml");
    std::fs::write(&file, b"name = \"\xff\xfe\"\n").unwrap();
    let out = tmp.path().join("out");
    let bad = Bad {
        toml: "",
        at: None,
        says: &["UTF-8"],
    };
    let (code, _, stderr) = autosim([
        OsStr::new("run"),
        file.as_os_str(),
        OsStr::new("--quiet"),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    check_error_text("run", &file, &bad, code, &stderr);
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------------------------
// 6. The command line itself
// ---------------------------------------------------------------------------------------------

#[test]
fn validate_good_file_says_ok() {
    let (_d, file, (code, stdout, stderr)) = with_scenario(TWO_POLICIES, "validate", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ok"), "{stdout}");
    assert!(
        stdout.contains(&file.display().to_string()),
        "should name the file: {stdout}"
    );
    assert!(
        stdout.contains("two") && stdout.contains("four"),
        "should list the policies: {stdout}"
    );
}

#[test]
fn help_exits_0() {
    let (code, stdout, stderr) = autosim(["--help"]);
    assert_eq!(code, 0, "{stderr}");
    for sub in ["run", "validate", "bench"] {
        assert!(stdout.contains(sub), "--help should list `{sub}`: {stdout}");
    }
    let (code, stdout, _) = autosim(["run", "--help"]);
    assert_eq!(code, 0);
    for flag in ["--out", "--seed", "--policy", "--quiet"] {
        assert!(
            stdout.contains(flag),
            "run --help should list {flag}: {stdout}"
        );
    }
}

#[test]
fn unknown_subcommand_exits_2() {
    let (code, _, stderr) = autosim(["frobnicate"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("frobnicate"), "{stderr}");
}

#[test]
fn bad_arguments_exit_2() {
    // No file.
    let (code, _, stderr) = autosim(["run"]);
    assert_eq!(code, 2, "{stderr}");
    // A seed that is not a number.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (_d, _f, (code, _, stderr)) = with_scenario(
        TWO_POLICIES,
        "run",
        &[
            OsStr::new("--quiet"),
            OsStr::new("--seed"),
            OsStr::new("abc"),
            OsStr::new("--out"),
            out.as_os_str(),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("abc"), "{stderr}");
    assert!(!out.exists(), "a bad --seed must write nothing");
}

/// The README's example scenario is a working scenario (the README stays true).
#[test]
fn readme_example_scenario_validates() {
    let readme = std::fs::read_to_string(crate::common::root().join("README.md")).unwrap();
    let start = readme.find("```toml\n").expect("the README has a TOML example") + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readme.toml");
    std::fs::write(&path, &readme[start..end]).unwrap();
    let sc = autosim::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sc.policies.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Load sources: traces, k6 and patterns
// ---------------------------------------------------------------------------------------------

fn with_workload(workload: &str) -> String {
    format!(
        "{HEAD}{}",
        SERVICE.replace("workload = { pattern = { kind = \"constant\", rate = 5 } }\n", workload)
    )
}

#[test]
fn bad_trace_row_names_the_trace_file_and_line() {
    let toml = with_workload("workload.trace = { file = \"t.csv\" }\n");
    check_bad_with_files(
        Bad { toml: &toml, at: Some(("workload.trace", 0)), says: &["t.csv:3:", "\"x\"", "not a number"] },
        &[("t.csv", "time,requests\n0,5\n60,x\n")],
    );
}

#[test]
fn bad_trace_missing_file() {
    let toml = with_workload("workload.trace = { file = \"nope.csv\" }\n");
    check_bad(Bad { toml: &toml, at: Some(("workload.trace", 0)), says: &["nope.csv", "not found"] });
}

#[test]
fn bad_trace_unknown_key() {
    let toml = with_workload("workload.trace = { file = \"t.csv\", bin_width = \"1m\" }\n");
    check_bad_with_files(
        Bad { toml: &toml, at: Some(("bin_width", 0)), says: &["`bin_width`", "expected one of", "`bin`"] },
        &[("t.csv", "time,requests\n0,5\n")],
    );
}

#[test]
fn bad_k6_missing_option() {
    let toml = with_workload("[services.workload.k6.load]\nexecutor = \"constant-arrival-rate\"\nrate = 10\n");
    check_bad(Bad { toml: &toml, at: Some(("[services.workload.k6.load]", 0)), says: &["\"load\"", "`duration` is required"] });
}

#[test]
fn bad_k6_unknown_executor() {
    let toml = with_workload("workload.k6 = { executor = \"externally-controlled\", duration = \"1m\" }\n");
    check_bad(Bad { toml: &toml, at: Some(("workload.k6", 0)), says: &["unsupported executor", "ramping-vus"] });
}

#[test]
fn bad_k6_options_json() {
    let toml = with_workload("workload.k6_options = \"k6.json\"\n");
    check_bad_with_files(
        Bad { toml: &toml, at: Some(("workload.k6_options", 0)), says: &["k6.json", "line 1"] },
        &[("k6.json", "{\"scenarios\": {\"a\": {\"executor\": \"constant-vus\", \"vus\": \"ten\"}}}")],
    );
}

#[test]
fn bad_pattern_value() {
    let toml = with_workload("workload.pattern = { kind = \"ramp\", from = 1, to = -3, duration = \"1m\" }\n");
    check_bad(Bad { toml: &toml, at: Some(("workload.pattern", 0)), says: &["ramp `to` = -3", "expected a rate"] });
}
