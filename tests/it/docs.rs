//! The documentation's examples, so the docs cannot drift: every fenced TOML block of README.md
//! and docs/*.md is parsed by the scenario parser (whole, or spliced where it belongs in a
//! minimal scenario: top level, a service, a policy, a policy's pods), every command example is
//! run with the binary (outputs sent to a temporary folder, and later commands pointed at them),
//! and every metric a PromQL example names is in the export it follows. Blocks that cannot run
//! here (a cluster, a Prometheus server, a program not installed) are listed with the reason,
//! and printed as skipped.

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

const DOCS: &[&str] = &["README.md", "docs/scenario.md", "docs/sweeps-and-gates.md", "docs/live.md", "docs/prometheus.md"];

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

/// A TOML block as it can be parsed here: a file it names that only a command against a
/// server would write is replaced by a shipped file of the same kind.
fn toml_fixup(body: &str) -> String {
    // docs/prometheus.md: the trace `autosim trace fetch` writes; traces/flash-sale.json is a
    // Prometheus query_range export too (relative to scenarios/, where examples are parsed).
    body.replace("\"traces/api-22d.json\"", "\"../traces/flash-sale.json\"")
}

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
            for alt in alternatives(&toml_fixup(&body)) {
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
    assert!(checked >= 21, "{checked}");
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
    if cmd.contains("cargo test") {
        return Some("an ignored test against a real kind cluster (docs/live.md); the live tests run against the fake API server");
    }
    if cmd.starts_with("kind ") {
        return Some("creates a kind cluster");
    }
    if cmd.starts_with("autosim run calibrated.toml") {
        return Some("calibrated.toml is written by `live calibrate` from a replay on a cluster; live::calibration_recovers_a_lognormal_and_rewrites_only_startup writes one and checks it validates");
    }
    if cmd.starts_with("promtool ") && which("promtool").is_none() {
        return Some("promtool is not installed (apt-get install prometheus)");
    }
    if cmd.starts_with("apt-get ") {
        return Some("installs a package");
    }
    if cmd.contains("--prometheus http") || cmd.starts_with("prometheus ") || cmd.starts_with("mkdir -p /tmp/prom") {
        return Some("needs a Prometheus server: prom_server's tests backfill, start one on a free port and fetch from it (when prometheus is installed)");
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
    if cmd.contains("kubectl") {
        return Some("needs a cluster (or edits the kubeconfig of one)");
    }
    None
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|f| f.is_file()))
}

/// The commands of a `sh` block: `\`-continued lines joined, comment lines and trailing
/// comments dropped.
fn commands(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in body.lines() {
        let line = line.trim();
        if line.starts_with('#') && cur.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                cur.push_str(part.trim_end());
                cur.push(' ');
            }
            None => {
                cur.push_str(line);
                let cmd = cur.split(" #").next().unwrap().trim().to_string();
                if !cmd.is_empty() {
                    out.push(cmd);
                }
                cur.clear();
            }
        }
    }
    out
}

#[test]
fn every_command_example_in_the_docs_runs() {
    let out = tempfile::tempdir().unwrap();
    let mut ran = 0;
    let mut promql = 0;
    for file in DOCS {
        let blocks = fences(file);
        // What the file's commands wrote, by the path they name: later commands read it there.
        let mut written: Vec<(String, String)> = Vec::new();
        for (k, (line, info, body)) in blocks.iter().enumerate() {
            if info == "promql" {
                // Every metric the queries name is in the export the page made above.
                let export = written.iter().find(|(from, _)| from.ends_with(".om.txt")).unwrap_or_else(|| panic!("{file}:{line}: no export ran before the queries"));
                let text = std::fs::read_to_string(&export.1).unwrap();
                for name in body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("autosim_")) {
                    assert!(text.contains(&format!("# TYPE {name} ")), "{file}:{line}: the export has no metric {name}");
                    promql += 1;
                }
                continue;
            }
            if info != "sh" {
                continue;
            }
            for cmd in commands(body) {
                let cmd = cmd.as_str();
                if let Some(why) = command_skip(cmd) {
                    skip(&format!("docs {file}:{line} `{cmd}`"), why);
                    continue;
                }
                let words: Vec<String> = split_words(cmd);
                let (program, args): (&str, Vec<String>) = match words.iter().position(|w| w == "--") {
                    Some(i) if words[0] == "cargo" => ("autosim", words[i + 1..].to_vec()),
                    _ => {
                        assert!(words[0] == "autosim" || words[0] == "promtool", "{file}:{line}: {cmd}");
                        (words[0].as_str(), words[1..].to_vec())
                    }
                };
                // Paths an earlier command wrote are read where it wrote them.
                let mut args: Vec<String> = args.into_iter().map(|a| written.iter().find(|(from, _)| *from == a).map_or(a, |(_, to)| to.clone())).collect();
                if program == "promtool" {
                    // `promtool tsdb create-blocks-from openmetrics FILE DATA-DIR`: blocks to a
                    // temporary folder instead of a server's.
                    let data = out.path().join(format!("{ran}-tsdb"));
                    *args.last_mut().unwrap() = data.display().to_string();
                    let o = std::process::Command::new(which("promtool").unwrap()).args(&args).current_dir(root()).output().unwrap();
                    assert!(o.status.success(), "{file}:{line}: `{cmd}` failed:\n{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
                    ran += 1;
                    continue;
                }
                // Outputs go to the temporary folder.
                let dest = out.path().join(format!("{ran}"));
                let dest = match (args[0].as_str(), args.get(1).map(String::as_str)) {
                    ("run", _) => {
                        args.push("--no-plots".into());
                        Some(dest)
                    }
                    ("trace", Some("plot")) => Some(dest.with_extension("png")),
                    ("export", _) => Some(dest.with_extension("om.txt")),
                    _ => None,
                };
                // The example's own `--out` (a folder of the source tree) is pointed there too.
                if let Some(dest) = dest {
                    let dest = dest.display().to_string();
                    match args.iter().position(|a| a == "--out") {
                        Some(i) => {
                            let from = words[words.iter().position(|w| w == "--out").unwrap() + 1].clone();
                            written.push((from, dest.clone()));
                            args[i + 1] = dest;
                        }
                        None => args.extend(["--out".into(), dest]),
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
    assert!(ran >= 8, "{ran}");
    assert!(promql >= 3, "{promql}");
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
