//! `autosim run`'s progress bar: shown on a terminal (a pseudo-terminal made by `script`), with
//! the simulated time reached and the requests simulated per second; never on a pipe.

use std::process::Command;

use crate::common;

/// `script` (util-linux) runs a command under a pseudo-terminal; None when it is absent.
fn script() -> Option<&'static str> {
    let ok = Command::new("script").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    ok.then_some("script")
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn run_on_a_terminal_shows_the_progress_bar() {
    let Some(script) = script() else {
        eprintln!("skipped: `script` (util-linux) is not installed, so no pseudo-terminal");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let scenario = common::root().join("scenarios").join("quickstart.toml");
    let cmd = format!(
        "{} run {} --out {} --no-plots",
        quote(env!("CARGO_BIN_EXE_autosim")),
        quote(&scenario.to_string_lossy()),
        quote(&out.to_string_lossy())
    );
    // The bar shows at once (not after the usual moment) so that the test does not depend on
    // how fast this machine runs the scenario.
    let o = Command::new(script)
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("AUTOSIM_PROGRESS_AFTER", "0s")
        .env("TERM", "xterm")
        .env_remove("CI")
        .output()
        .expect("cannot start script");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "exit {:?}\n{text}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("simulating ["), "no progress bar on the terminal:\n{text}");
    assert!(text.contains(" of 1h simulated, "), "the bar does not say the simulated time reached:\n{text}");
    assert!(text.contains("requests/s"), "the bar does not say the requests simulated per second:\n{text}");
    assert!(text.contains("1h simulated in "), "no closing line:\n{text}");
    assert!(out.join("comparison.csv").is_file());
}

#[test]
fn run_on_a_pipe_prints_no_progress_bar() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let scenario = common::root().join("scenarios").join("hpa-gate.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_autosim"))
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("--no-plots")
        .env("AUTOSIM_PROGRESS_AFTER", "0s")
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("simulating"), "a progress bar on a pipe: {err}");
}

#[test]
fn a_bad_progress_delay_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = common::root().join("scenarios").join("hpa-gate.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_autosim"))
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .env("AUTOSIM_PROGRESS_AFTER", "soon")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("AUTOSIM_PROGRESS_AFTER"));
}
