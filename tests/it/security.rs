//! A scenario is data: it runs no program unless the user allows it (`--allow-commands` or
//! AUTOSIM_ALLOW_COMMANDS=1), the programs it names get a clean environment, the files it makes
//! autosim write stay inside its folder, and errors about a file it names quote no more than
//! one short cell of that file.

use std::path::Path;
use std::process::Command;

/// A one-service scenario whose `llm-stub` policy has the extra keys `policy`.
fn scenario(policy: &str) -> String {
    format!(
        r#"name = "sec"
duration = "3m"
step = "30s"
[[services]]
name = "api"
replicas = 2
concurrency = 50
service_time = "20ms"
resources = {{ cpu = "500m", memory = "256Mi" }}
workload = {{ pattern = {{ kind = "constant", rate = 50 }} }}
[[policies]]
name = "pods"
[policies.pods]
kind = "llm-stub"
{policy}
"#
    )
}

/// Run the binary in `dir` with `args` and `env` (AUTOSIM_ALLOW_COMMANDS removed unless given).
fn autosim(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_autosim"));
    c.args(args).current_dir(dir).env_remove("AUTOSIM_ALLOW_COMMANDS").env_remove("RUST_BACKTRACE");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("cannot start autosim");
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn has_sh() -> bool {
    let ok = Command::new("sh").arg("-c").arg("true").status().is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIP: no sh");
    }
    ok
}

/// Every file under `dir` (none when it does not exist).
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(files(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// `tmp/s/` holds the scenario, `tmp/outside/` is where a hostile one would write.
struct Place {
    _tmp: tempfile::TempDir,
    s: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn place(policy: &str) -> Place {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path().join("s");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&s).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(s.join("s.toml"), scenario(policy)).unwrap();
    Place { _tmp: tmp, s, outside }
}

#[test]
fn the_issues_example_is_refused_without_permission_and_runs_with_it() {
    if !has_sh() {
        return;
    }
    let cmd = r#"command = ["sh", "-c", "echo pwned > ../outside/pwned.txt; echo '{}'"]"#;
    let p = place(&format!("{cmd}\nrecord = \"../outside/recording.json\""));
    // Without the flag: the record outside is refused first (it is read first), exit 2.
    let (code, _, err) = autosim(&p.s, &["run", "s.toml", "--out", "o", "--quiet"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("s.toml:16:10: ") && err.contains("leaves the scenario's folder"), "{err}");
    // The flag does not let a file out either.
    let (code, _, err) = autosim(&p.s, &["run", "s.toml", "--out", "o", "--quiet", "--allow-commands"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(files(&p.outside).is_empty() && !p.s.join("o").exists(), "{:?}", files(&p.outside));

    // With the recording inside: refused without permission, naming the policy, the command and the way to allow it.
    std::fs::write(p.s.join("s.toml"), scenario(&format!("{cmd}\nrecord = \"rec/recording.json\""))).unwrap();
    let (code, _, err) = autosim(&p.s, &["run", "s.toml", "--out", "o", "--quiet"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("error: s.toml:15:11: policy \"pods\" (service \"api\") would run the program [\"sh\", \"-c\", \"echo pwned"), "{err}");
    assert!(err.contains("--allow-commands") && err.contains("AUTOSIM_ALLOW_COMMANDS=1"), "{err}");
    assert!(files(&p.outside).is_empty() && files(&p.s).len() == 1, "nothing ran, nothing written: {:?}", files(&p.s));
    // AUTOSIM_ALLOW_COMMANDS=0 is not a permission.
    let (code, _, _) = autosim(&p.s, &["run", "s.toml", "--out", "o", "--quiet"], &[("AUTOSIM_ALLOW_COMMANDS", "0")]);
    assert_eq!(code, 2);
    // check, sweep and baseline update refuse it too.
    std::fs::write(p.s.join("s.toml"), scenario(&format!("{cmd}\n[[expect]]\nchecks = [\"sla.attainment >= 0\"]"))).unwrap();
    std::fs::write(p.s.join("sw.toml"), "base = \"s.toml\"\n[[axis]]\npath = \"policies[pods].pods.max_replicas\"\nvalues = [5, 6]\n").unwrap();
    for args in [&["check", "s.toml"][..], &["baseline", "update", "s.toml"], &["sweep", "sw.toml", "--out", "sweep", "-q"]] {
        let (code, _, err) = autosim(&p.s, args, &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("would run the program") && err.contains("--allow-commands"), "{args:?}: {err}");
    }
    assert!(files(&p.outside).is_empty(), "{:?}", files(&p.outside));

    // With the flag (or the variable) it runs, as asked.
    std::fs::write(p.s.join("s.toml"), scenario(&format!("{cmd}\nrecord = \"rec/recording.json\""))).unwrap();
    let (code, _, err) = autosim(&p.s, &["run", "s.toml", "--out", "o", "--quiet", "--allow-commands"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(p.outside.join("pwned.txt")).unwrap(), "pwned\n", "the allowed program ran");
    assert!(p.s.join("rec/recording.json").is_file() && p.s.join("o/pods/summary.json").is_file());
    std::fs::remove_file(p.outside.join("pwned.txt")).unwrap();
    let (code, _, err) = autosim(&p.s, &["run", "s.toml", "--out", "o2", "--quiet"], &[("AUTOSIM_ALLOW_COMMANDS", "1")]);
    assert_eq!(code, 0, "{err}");
    assert!(p.outside.join("pwned.txt").is_file());
    // The same results either way: the permission changes nothing else.
    assert_eq!(std::fs::read(p.s.join("o/pods/summary.json")).unwrap(), std::fs::read(p.s.join("o2/pods/summary.json")).unwrap());
    // Replaying the recording needs no permission.
    std::fs::write(p.s.join("r.toml"), scenario("replay = \"rec/recording.json\"")).unwrap();
    let (code, _, err) = autosim(&p.s, &["run", "r.toml", "--out", "o3", "--quiet"], &[]);
    assert_eq!(code, 0, "{err}");
    // `validate` says what would run.
    std::fs::write(p.s.join("s.toml"), scenario(&format!("{cmd}\nenv = [\"MY_KEY\"]\nrecord = \"rec/recording.json\""))).unwrap();
    let (code, out, err) = autosim(&p.s, &["validate", "s.toml"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("it runs programs (only with --allow-commands or AUTOSIM_ALLOW_COMMANDS=1)"), "{out}");
    assert!(out.contains("policy \"pods\" (service \"api\"): [\"sh\", \"-c\", \"echo pwned") && out.contains("PATH, HOME, LANG, MY_KEY"), "{out}");
    assert!(out.contains("writes its exchanges to rec/recording.json"), "{out}");
}

#[test]
fn a_program_sees_only_the_variables_it_is_allowed() {
    let has_env = Command::new("env").output().is_ok_and(|o| o.status.success());
    if !has_env {
        eprintln!("SKIP: no env program");
        return;
    }
    // `env` prints its environment: the reply (malformed, so the fallback decides) is recorded.
    let p = place("command = [\"env\"]\nenv = [\"ALLOWED_VAR\", \"UNSET_VAR\"]\nrecord = \"rec.json\"");
    let (code, _, err) = autosim(
        &p.s,
        &["run", "s.toml", "--out", "o", "--quiet", "--allow-commands"],
        &[("ALLOWED_VAR", "yes"), ("SECRET_TOKEN", "do-not-leak"), ("HOME", "/home/someone"), ("LANG", "C.UTF-8")],
    );
    assert_eq!(code, 0, "{err}");
    let rec = autosim::policy::external::Recording::parse(&std::fs::read_to_string(p.s.join("rec.json")).unwrap()).unwrap();
    let x = &rec.services["api"];
    assert!(!x.is_empty());
    let reply = x[0].reply.as_deref().unwrap();
    let mut names: Vec<&str> = reply.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    names.sort();
    assert_eq!(names, ["ALLOWED_VAR", "HOME", "LANG", "PATH"], "{reply}");
    assert!(reply.contains("ALLOWED_VAR=yes\n") && reply.contains("HOME=/home/someone\n") && !reply.contains("do-not-leak"), "{reply}");
    // Its working folder is the scenario's.
    let p = place("command = [\"sh\", \"-c\", \"pwd > where.txt; echo '{}'\"]");
    if !has_sh() {
        return;
    }
    let (code, _, err) = autosim(p.s.parent().unwrap(), &["run", "s/s.toml", "--out", "o", "--quiet", "--allow-commands"], &[]);
    assert_eq!(code, 0, "{err}");
    let at = std::fs::read_to_string(p.s.join("where.txt")).unwrap();
    assert_eq!(Path::new(at.trim()).canonicalize().unwrap(), p.s.canonicalize().unwrap());
}

#[test]
fn env_names_are_checked() {
    let p = place("command = [\"env\"]\nenv = [\"A=B\"]");
    let (code, _, err) = autosim(&p.s, &["validate", "s.toml"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("s.toml:16:7: ") && err.contains("\"A=B\" is not a variable name"), "{err}");
    let p = place("env = [\"A\"]");
    let (code, _, err) = autosim(&p.s, &["validate", "s.toml"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("s.toml:15:7: ") && err.contains("set `command`"), "{err}");
}

#[test]
fn every_escaping_record_path_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let abs = tmp.path().join("outside").join("abs.json");
    let mut cases = vec![
        (abs.display().to_string(), "is an absolute path"),
        ("../../x.json".to_string(), "leaves the scenario's folder"),
        ("a/../../x.json".to_string(), "leaves the scenario's folder"),
    ];
    if cfg!(unix) {
        cases.push(("link/x.json".to_string(), "goes through the symbolic link"));
        cases.push(("link/deeper/x.json".to_string(), "goes through the symbolic link"));
    }
    for (record, why) in cases {
        let p = place(&format!("command = [\"sh\", \"-c\", \"echo '{{}}'\"]\nrecord = {record:?}"));
        #[cfg(unix)]
        std::os::unix::fs::symlink(&p.outside, p.s.join("link")).unwrap();
        let (code, _, err) = autosim(&p.s, &["run", "s.toml", "--out", "o", "--quiet", "--allow-commands"], &[]);
        assert_eq!(code, 2, "{record}: {err}");
        assert!(err.starts_with("error: s.toml:16:10: ") && err.contains(why), "{record}: {err}");
        assert!(files(&p.outside).is_empty(), "{record}: {:?}", files(&p.outside));
        assert!(!p.s.join("o").exists(), "{record}: reports written");
        // validate refuses it too.
        let (code, _, _) = autosim(&p.s, &["validate", "s.toml"], &[]);
        assert_eq!(code, 2, "{record}");
    }
    assert!(!abs.exists());
}

#[test]
fn a_schedules_export_stays_in_the_policys_folder() {
    let p = place("");
    let text = scenario("").replace(
        "kind = \"llm-stub\"\n",
        "kind = \"keda\"\nname = \"../../../escaped\"\nmin_replica_count = 1\nmax_replica_count = 5\n\
         triggers = [ { type = \"cpu\", metric_type = \"Utilization\", metadata = { value = \"60\" } } ]\n\
         schedule = { start = \"mon 00:00\", entries = [ { days = \"mon-fri\", hours = \"9-11\", min_replicas = 3 } ] }\n",
    );
    std::fs::write(p.s.join("s.toml"), text).unwrap();
    let (code, _, err) = autosim(&p.s, &["run", "s.toml", "--out", "o", "--quiet"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("s.toml:13:1: ") && err.contains("\"../../../escaped\"") && err.contains("no '/'"), "{err}");
    assert!(files(p.s.parent().unwrap()).iter().all(|f| !f.contains("escaped")), "{:?}", files(p.s.parent().unwrap()));
}

/// A "secret" line of 90 characters.
const SECRET: &str = "SECRET-TOKEN-0123456789abcdefghijklmnopqrstuvwxyz-0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ-end";

#[test]
fn errors_about_a_file_quote_no_more_than_one_short_cell() {
    let p = place("");
    std::fs::write(p.outside.join("secret.txt"), format!("{SECRET}\n{SECRET} {SECRET}\n")).unwrap();
    std::fs::write(p.outside.join("secret.json"), format!("{{\"vus\": \"{SECRET}\"}}\n")).unwrap();
    std::fs::write(p.outside.join("secret.yaml"), format!("kind: {SECRET}\napiVersion: [{SECRET}]\n")).unwrap();
    let base = scenario("").split("[[policies]]").next().unwrap().to_string();
    let cases = [
        base.replace("workload = { pattern = { kind = \"constant\", rate = 50 } }", "workload.trace = { file = \"../outside/secret.txt\", format = \"series\" }"),
        base.replace("workload = { pattern = { kind = \"constant\", rate = 50 } }", "workload.trace = { file = \"../outside/secret.txt\", format = \"requests\" }"),
        base.replace("workload = { pattern = { kind = \"constant\", rate = 50 } }", "workload.trace = { file = \"../outside/secret.txt\", format = \"counts\" }"),
        base.replace("workload = { pattern = { kind = \"constant\", rate = 50 } }", "workload.trace = { file = \"../outside/secret.json\", format = \"prometheus\" }"),
        base.replace("workload = { pattern = { kind = \"constant\", rate = 50 } }", "workload.k6_options = \"../outside/secret.json\""),
        base.replace("service_time = \"20ms\"", "service_time = { dist = \"empirical\", file = \"../outside/secret.txt\" }"),
        format!("{base}[[policies]]\nname = \"h\"\npods = {{ kind = \"hpa\", manifest = \"../outside/secret.yaml\" }}\n"),
        format!("{base}[[policies]]\nname = \"h\"\npods = {{ kind = \"llm-stub\", replay = \"../outside/secret.json\" }}\n"),
    ];
    for (i, text) in cases.iter().enumerate() {
        std::fs::write(p.s.join("s.toml"), text).unwrap();
        let (code, _, err) = autosim(&p.s, &["validate", "s.toml"], &[]);
        assert_eq!(code, 2, "case {i}: {err}");
        // The longest run of the secret in the message: at most a cell's 37 characters.
        let longest = (0..SECRET.len()).filter_map(|a| (a..=SECRET.len()).rev().find(|&b| err.contains(&SECRET[a..b])).map(|b| b - a)).max().unwrap_or(0);
        assert!(longest <= 40, "case {i}: {longest} characters of the file quoted: {err}");
        assert!(err.matches("SECRET-TOKEN").count() <= 1, "case {i}: more than one cell quoted: {err}");
    }
}
