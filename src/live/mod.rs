//! Live mode (`autosim live`): replay a run's scale decisions on a real cluster (kind, or a
//! staging namespace), record what the cluster did, and calibrate the scenario from it.
//!
//! Everything here lives at the edge: the engine stays synchronous and pure; the cluster
//! commands run on a current-thread tokio runtime made by [`run`] for them alone.
//!
//! - [`plan`]: which calls a replay makes, and when (pure; `live plan`).
//! - [`guard`]: the guard rails and the preflight (context, namespace, labels, HPAs, caps).
//! - [`client`]: the Kubernetes client, its errors as the user should read them.
//! - [`timing`]: the replay clock, anchored to t0.
//! - [`journal`]: `journal.json`, and putting the replicas back (`live restore`).
//! - [`recorder`]: what the cluster did (`observed.csv`, `pods.csv`; `live record`).
//! - [`replay`]: the replay itself (`live replay`).
//! - [`calibrate`]: real against simulated, and a fitted startup (`live calibrate`).
//! - [`k6`]: a k6 script reproducing a service's load (`live k6`).

pub mod calibrate;
pub mod cli;
pub mod client;
pub mod guard;
pub mod journal;
pub mod k6;
pub mod plan;
pub mod recorder;
pub mod replay;
pub mod timing;

use std::fmt;
use std::process::ExitCode;

pub use cli::LiveCommand;

/// A failure with its exit code: 2 for a refused guard rail or bad input, 3 for a cluster that
/// cannot be reached or refuses us, 130 for an interrupted replay.
#[derive(Debug)]
pub struct LiveError {
    pub code: u8,
    pub message: String,
}

impl LiveError {
    /// Bad input or a refused guard rail: exit 2.
    pub fn refused(message: impl Into<String>) -> Self {
        LiveError { code: 2, message: message.into() }
    }
    /// The cluster: unreachable, forbidden, or missing what we need: exit 3.
    pub fn cluster(message: impl Into<String>) -> Self {
        LiveError { code: 3, message: message.into() }
    }
    /// Ctrl-C or SIGTERM: exit 130.
    pub fn interrupted(message: impl Into<String>) -> Self {
        LiveError { code: 130, message: message.into() }
    }
}

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LiveError {}

/// Run a live command; prints its error and gives the exit code.
pub fn run(cmd: LiveCommand) -> ExitCode {
    match cli::dispatch(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = match e.downcast_ref::<LiveError>() {
                Some(l) => l.code,
                None if e.downcast_ref::<crate::scenario::ScenarioError>().is_some() => 2,
                None => 1,
            };
            eprintln!("error: {e:#}");
            ExitCode::from(code)
        }
    }
}

/// A current-thread runtime for one live command.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}
