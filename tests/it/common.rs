//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use autosim::report::Report;
use autosim::{Experiment, Simulation};

/// Parse a scenario with its policies from TOML text (files it names are relative to the
/// crate root).
pub fn scenario(toml: &str) -> Experiment {
    match autosim::parse(toml, Path::new(env!("CARGO_MANIFEST_DIR"))) {
        Ok(s) => s,
        Err(e) => panic!("test scenario does not parse: {e:?}"),
    }
}

/// Run policy alternative `policy` of a scenario with its own seed.
pub fn run(ex: &Experiment, policy: usize) -> Report {
    run_seed(ex, policy, ex.scenario.seed)
}

/// Run with another seed.
pub fn run_seed(ex: &Experiment, policy: usize, seed: u64) -> Report {
    Simulation::new(&ex.scenario, &ex.policies[policy], seed).run()
}

/// The crate's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the project (or the folder `AUTOSIM_SHARED` names), when present; tests
/// that need it skip otherwise, and say so with [`skip`].
pub fn shared() -> Option<PathBuf> {
    let p = std::env::var_os("AUTOSIM_SHARED").map(PathBuf::from).unwrap_or_else(|| root().join("..").join("shared"));
    p.is_dir().then_some(p)
}

/// Say on the terminal that a test skipped and why. Written to the process's standard error
/// directly, past the test harness's capture, so that a skip is seen and not taken for a pass.
pub fn skip(test: &str, why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Conservation: every request that arrived is accounted for exactly once.
pub fn assert_conserved(r: &Report) {
    for (name, s) in &r.summary.services {
        let q = &s.requests;
        assert_eq!(
            q.arrived,
            q.completed + q.rejected + q.timed_out + q.lost + q.in_flight_at_end,
            "conservation fails for service {name}: {q:?}"
        );
    }
    let q = &r.summary.requests;
    assert_eq!(q.arrived, q.completed + q.rejected + q.timed_out + q.lost + q.in_flight_at_end, "{q:?}");
}

/// Run the `autosim` binary with `args`; returns (exit code, stdout, stderr). A process killed
/// by a signal reports -1. Backtraces are off, as a user's shell has them.
pub fn autosim<I, S>(args: I) -> (i32, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    autosim_in(Path::new("."), args)
}

/// As [`autosim`], run in folder `dir`.
pub fn autosim_in<I, S>(dir: &Path, args: I) -> (i32, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autosim"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("cannot start the autosim binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
