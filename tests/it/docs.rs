//! The documentation's examples, so the docs cannot drift: every fenced TOML block of README.md
//! and docs/*.md is parsed by the scenario parser (whole, or spliced where it belongs in a
//! minimal scenario: top level, a service, a policy, a policy's pods), and every command
//! example is run with the binary (outputs sent to a temporary folder). Blocks that cannot run
//! here are listed with the reason, and printed as skipped.

use std::path::Path;

use crate::common::{autosim_in, root, skip};

/// The fenced blocks of a Markdown file: (line of the fence, info string, text).
fn fences(file: &str) -> Vec<(usize, String, String)> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let mut out = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(info) = line.strip_prefix("```") {
            match open.take() {
                Some(b) => out.push(b),
                None => open = Some((i + 1, info.trim().to_string(), String::new())),
            }
        } else if let Some((_, _, body)) = open.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    assert!(open.is_none(), "{file}: an unclosed fence");
    out
}

const DOCS: &[&str] = &["README.md", "docs/scenario.md", "docs/sweeps-and-gates.md"];

const TOP: &str = "name = \"doc\"\nduration = \"10m\"\n";
const SERVICE: &str = "[[services]]\nname = \"api\"\nreplicas = 2\nservice_time = \"20ms\"\n";
const LOAD: &str = "workload.pattern = { kind = \"constant\", rate = 10 }\n";
// The other services and the policy name the examples refer to.
const OTHERS: &str = "[[services]]\nname = \"worker\"\nreplicas = 1\nservice_time = \"20ms\"\nworkload.pattern = { kind = \"constant\", rate = 1 }\n\
[[services]]\nname = \"checkout\"\nreplicas = 1\nservice_time = \"20ms\"\nworkload.pattern = { kind = \"constant\", rate = 1 }\n\
[[services]]\nname = \"jobs\"\nkind = \"queue\"\nreplicas = 1\nservice_time = \"20ms\"\nworkload.pattern = { kind = \"constant\", rate = 1 }\n";
const POLICY: &str = "[[policies]]\nname = \"hpa-manifest\"\npods = { kind = \"static\", replicas = 2 }\n";
const POLICY_HEAD: &str = "[[policies]]\nname = \"hpa-manifest\"\n";
const HPA_PODS: &str = "[policies.pods]\nkind = \"hpa\"\nmax_replicas = 5\n";

/// TOML blocks that are not scenario text, and why.
fn toml_skip(file: &str, body: &str) -> Option<&'static str> {
    if body.starts_with("base = ") {
        return Some("a sweep file: parsed by docs_sweep_file_example_loads");
    }
    if file == "docs/scenario.md" && body.contains("# the target's spec.replicas") {
        return Some("an `autosim explain hpa` snapshot: docs/examples/checkout-snapshot.toml is the whole file, run by the README's explain example");
    }
    None
}

/// Where a fragment may go, in order: alone, at the top, in a service, as policies, in a
/// policy, in a policy's pods.
fn contexts(f: &str) -> Vec<String> {
    vec![
        f.to_string(),
        format!("{TOP}{f}\n{POLICY}"),
        format!("{TOP}{f}\n{SERVICE}{LOAD}{OTHERS}{POLICY}"),
        format!("{TOP}{SERVICE}{f}\n{OTHERS}{POLICY}"),
        format!("{TOP}{SERVICE}{LOAD}{OTHERS}{f}"),
        format!("{TOP}{SERVICE}{LOAD}{OTHERS}{POLICY}{f}"),
        format!("{TOP}{SERVICE}{LOAD}{OTHERS}{POLICY_HEAD}{f}"),
        format!("{TOP}{SERVICE}{LOAD}{OTHERS}{POLICY_HEAD}{HPA_PODS}{f}"),
        // With one service, as examples that name none assume.
        format!("{TOP}{SERVICE}{LOAD}{POLICY_HEAD}{HPA_PODS}{f}"),
        format!("{TOP}{SERVICE}{LOAD}{POLICY_HEAD}{f}"),
        format!("{TOP}[[services]]{}{POLICY_HEAD}{f}", OTHERS.split("[[services]]").nth(1).unwrap()),
        format!("{TOP}[[services]]{}{POLICY_HEAD}{f}", OTHERS.split("[[services]]").nth(3).unwrap()),
    ]
}

/// The alternatives a block shows: the parts between `# or` lines; the block itself; or, when
/// every line sets the same key (a list of alternative settings), each line on its own.
fn alternatives(body: &str) -> Vec<String> {
    if body.lines().any(|l| l.trim() == "# or") {
        let mut parts = vec![String::new()];
        for l in body.lines() {
            if l.trim() == "# or" {
                parts.push(String::new());
            } else {
                let last = parts.last_mut().unwrap();
                last.push_str(l);
                last.push('\n');
            }
        }
        return parts.iter().flat_map(|p| alternatives(p)).collect();
    }
    let lines: Vec<&str> = body.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).collect();
    let key = |l: &str| l.split('=').next().unwrap_or("").trim().to_string();
    if lines.len() > 1 && !lines[0].starts_with('[') && lines.iter().all(|l| key(l) == key(lines[0])) {
        lines.iter().map(|l| format!("{l}\n")).collect()
    } else {
        vec![body.to_string()]
    }
}

#[test]
fn every_toml_example_in_the_docs_parses() {
    // Files the examples name are relative to a scenario in scenarios/ ("../traces/...").
    let base = root().join("scenarios");
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in DOCS {
        for (line, info, body) in fences(file) {
            if info != "toml" {
                continue;
            }
            if let Some(why) = toml_skip(file, &body) {
                skip(&format!("docs {file}:{line}"), why);
                continue;
            }
            for alt in alternatives(&body) {
                let errors: Vec<String> = contexts(&alt)
                    .iter()
                    .map(|text| match autosim::parse(text, &base) {
                        Ok(_) => String::new(),
                        Err(e) => autosim::scenario::ScenarioError::locate(Path::new("doc.toml"), text, e).to_string(),
                    })
                    .collect();
                if !errors.iter().any(|e| e.is_empty()) {
                    failures.push(format!("{file}:{line}: the example parses in no context:\n{alt}\n{}", errors.join("\n")));
                }
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked >= 20, "{checked}");
}

#[test]
fn docs_sweep_file_example_loads() {
    let blocks: Vec<String> = fences("docs/sweeps-and-gates.md").into_iter().filter(|(_, i, b)| i == "toml" && b.starts_with("base = ")).map(|b| b.2).collect();
    assert!(!blocks.is_empty());
    for body in blocks {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(root().join("scenarios/normal-load.toml"), dir.path().join("normal-load.toml")).unwrap();
        std::fs::create_dir(dir.path().join("sweeps")).unwrap();
        let file = dir.path().join("sweeps/example.toml");
        std::fs::write(&file, &body).unwrap();
        autosim::sweep::Sweep::load(&file).unwrap_or_else(|e| panic!("the sweep example does not load: {e}\n{body}"));
    }
}

/// Command examples that cannot run here, and why.
fn command_skip(cmd: &str) -> Option<&'static str> {
    if cmd == "cargo test" {
        return Some("it is this test suite");
    }
    if cmd.contains("gate.toml") {
        return Some("`gate.toml` stands for the reader's own gate scenario; hpa-gate.toml runs through `autosim check` in the gate tests");
    }
    if cmd.starts_with("autosim sweep scenarios/sweeps/") {
        return Some("the whole shipped sweep takes minutes; sweep::shipped_sweep_files_run runs it on a 20-minute base");
    }
    if cmd.starts_with("sed -i") || cmd.starts_with("git checkout") {
        return Some("a step of README's gate flow: gate::the_hpa_gate_fails_a_worse_target_on_pod_time makes the same edit and sees the gate fail");
    }
    if ["replay", "record", "restore", "calibrate"].iter().any(|v| cmd.starts_with(&format!("autosim live {v}"))) {
        return Some("needs a cluster, or a replay's output: tests/it/live.rs runs it against the fake API server");
    }
    if cmd.contains("kubectl") || cmd.contains("prometheus") || cmd.contains("promtool") {
        return Some("needs a cluster or Prometheus");
    }
    None
}

#[test]
fn every_command_example_in_the_docs_runs() {
    let out = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for file in DOCS {
        let blocks = fences(file);
        for (k, (line, info, body)) in blocks.iter().enumerate() {
            if info != "sh" {
                continue;
            }
            for cmd in body.lines().map(|l| l.split(" #").next().unwrap().trim()).filter(|l| !l.is_empty()) {
                if let Some(why) = command_skip(cmd) {
                    skip(&format!("docs {file}:{line} `{cmd}`"), why);
                    continue;
                }
                let words: Vec<String> = split_words(cmd);
                let args: Vec<String> = match words.iter().position(|w| w == "--") {
                    Some(i) if words[0] == "cargo" => words[i + 1..].to_vec(),
                    _ => {
                        assert_eq!(words[0], "autosim", "{file}:{line}: {cmd}");
                        words[1..].to_vec()
                    }
                };
                let mut args = args;
                // Outputs go to the temporary folder.
                let dest = out.path().join(format!("{ran}"));
                let dest = match (args[0].as_str(), args.get(1).map(String::as_str)) {
                    ("run", _) => {
                        args.push("--no-plots".into());
                        Some(dest)
                    }
                    ("trace", Some("plot")) => Some(dest.with_extension("png")),
                    _ => None,
                };
                // The example's own `--out` (a folder of the source tree) is pointed there too.
                if let Some(dest) = dest {
                    match args.iter().position(|a| a == "--out") {
                        Some(i) => args[i + 1] = dest.display().to_string(),
                        None => args.extend(["--out".into(), dest.display().to_string()]),
                    }
                }
                let (code, stdout, stderr) = autosim_in(&root(), &args);
                assert_eq!(code, 0, "{file}:{line}: `{cmd}` failed:\n{stdout}\n{stderr}");
                // An output block right after the command's block: each of its lines (but "...")
                // is in what the command printed.
                if let Some((_, next_info, shown)) = blocks.get(k + 1) {
                    if next_info.is_empty() && body.lines().count() == 1 {
                        for l in shown.lines().filter(|l| l.trim() != "..." && !l.trim().is_empty()) {
                            assert!(stdout.contains(l), "{file}:{line}: `{cmd}` no longer prints {l:?}:\n{stdout}");
                        }
                    }
                }
                ran += 1;
            }
        }
    }
    assert!(ran >= 4, "{ran}");
}

/// Split a shell command into words: spaces, and double quotes around words with spaces.
fn split_words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in cmd.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
