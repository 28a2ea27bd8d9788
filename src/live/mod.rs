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

impl LiveError {
    /// Anything else that failed (a file, the runtime): exit 1, with the error's causes in
    /// its message.
    pub fn failed(e: &dyn std::error::Error) -> Self {
        LiveError { code: 1, message: causes(e) }
    }
}

/// A reports file that could not be written: exit 1 (2 for an output folder in use).
impl From<crate::output::OutputError> for LiveError {
    fn from(e: crate::output::OutputError) -> Self {
        LiveError { code: if e.is_bad_input() { 2 } else { 1 }, message: causes(&e) }
    }
}

/// A scenario that does not load: bad input, exit 2.
impl From<crate::scenario::ScenarioError> for LiveError {
    fn from(e: crate::scenario::ScenarioError) -> Self {
        LiveError::refused(causes(&e))
    }
}

/// An error and its causes, joined by ": " (as `error: {e:#}` prints a chain).
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        text.push_str(": ");
        text.push_str(&c.to_string());
        next = c.source();
    }
    text
}

/// Run a live command; prints its error and gives the exit code.
pub fn run(cmd: LiveCommand) -> ExitCode {
    match cli::dispatch(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code)
        }
    }
}

/// A current-thread runtime for one live command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, LiveError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| LiveError::failed(&e))
}
