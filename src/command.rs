//! The edge's side of [`crate::policy::external`]: running a policy's external program (one
//! process per exchange: the request on its standard input, the reply on its standard output,
//! within a wall-clock timeout) and recording the exchanges; whether a scenario's programs may
//! run at all ([`Commands`]), and the clean environment they run in.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::policy::external::{Exchange, External, ExternalFailure, ExternalSpec};
use crate::experiment::Experiment;
use crate::scenario::ConfigError;

/// The environment variable that allows a scenario's programs, as `--allow-commands` does
/// (for CI, where a workflow sets it on purpose): `1` or `true`.
pub const ALLOW_ENV: &str = "AUTOSIM_ALLOW_COMMANDS";

/// Whether the programs a scenario names may run. A scenario is data: it runs nothing unless
/// the person running autosim says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commands {
    Refuse,
    Allow,
}

impl Commands {
    /// Allowed by the flag, or by [`ALLOW_ENV`] set to `1` or `true`.
    pub fn from_flag_or_env(flag: bool) -> Commands {
        let env = std::env::var(ALLOW_ENV).is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true"));
        if flag || env {
            Commands::Allow
        } else {
            Commands::Refuse
        }
    }
}

/// The variables a program always gets (when autosim has them).
pub const BASE_ENV: &[&str] = &["PATH", "HOME", "LANG"];

/// The programs the policies `selected` (indices into `ex.policies`) would run: policy name
/// and spec, in order.
pub fn commands_of<'a>(ex: &'a Experiment, selected: &[usize]) -> Vec<(&'a str, &'a ExternalSpec)> {
    selected
        .iter()
        .flat_map(|&i| {
            let p = &ex.policies[i];
            p.pods.iter().chain(p.nodes.iter()).filter_map(move |f| f.external().map(|x| (p.name.as_str(), x)))
        })
        .collect()
}

/// The refusal of a scenario whose policies `selected` name programs, placed at the first
/// `command`; `None` when they name none or `commands` allows them.
pub fn refusal(ex: &Experiment, selected: &[usize], commands: Commands) -> Option<ConfigError> {
    if commands == Commands::Allow {
        return None;
    }
    let found = commands_of(ex, selected);
    let (policy, x) = found.first()?;
    let more = match found.len() - 1 {
        0 => String::new(),
        n => format!(" (and {n} more: `autosim validate` lists them)"),
    };
    Some(ConfigError::at(
        x.span.clone(),
        format!(
            "policy {policy:?} (service {:?}) would run the program {}{more}: a scenario runs programs only when you allow it. \
             If you trust this scenario, pass --allow-commands (or set {ALLOW_ENV}=1, in CI)",
            x.service,
            argv_text(&x.command)
        ),
    ))
}

/// A scenario's programs were not allowed (exit code 2, as bad input).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CommandsRefused(pub String);

/// The refusal without a place (for callers without the scenario's text).
pub fn check_allowed(ex: &Experiment, selected: &[usize], commands: Commands) -> Result<(), CommandsRefused> {
    match refusal(ex, selected, commands) {
        Some(e) => Err(CommandsRefused(e.message)),
        None => Ok(()),
    }
}

/// The engine for one run of policy `policy`, with its programs attached when the scenario
/// names some (and `commands` allows them: refused otherwise); no recording.
pub fn simulation<'a>(ex: &'a Experiment, policy: usize, seed: u64, commands: Commands) -> Result<crate::sim::Simulation<'a>, CommandsRefused> {
    check_allowed(ex, &[policy], commands)?;
    let externals: Vec<Option<Box<dyn External>>> = ex.policies[policy]
        .pods
        .iter()
        .map(|f| f.external().map(|x| Box::new(CommandExternal::new(x.clone())) as Box<dyn External>))
        .collect();
    Ok(crate::sim::Simulation::with_externals(&ex.scenario, &ex.policies[policy], seed, externals))
}

/// A command line as a scenario writes it: `["sh", "-c", "..."]`.
pub fn argv_text(argv: &[String]) -> String {
    format!("[{}]", argv.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", "))
}

/// Runs `spec.command` once per exchange, in a clean environment.
#[derive(Debug, Clone)]
pub struct CommandExternal {
    spec: ExternalSpec,
    /// The program's whole environment: [`BASE_ENV`] and the scenario's `env`, with autosim's
    /// values.
    env: Vec<(String, std::ffi::OsString)>,
}

impl CommandExternal {
    pub fn new(spec: ExternalSpec) -> Self {
        let env = BASE_ENV
            .iter()
            .map(|s| s.to_string())
            .chain(spec.env.iter().cloned())
            .filter_map(|k| std::env::var_os(&k).map(|v| (k, v)))
            .collect();
        Self { spec, env }
    }
}

/// The first line of a program's standard error, shortened, for messages.
fn first_line(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let line = s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if line.chars().count() > 200 {
        format!("{}...", line.chars().take(200).collect::<String>())
    } else {
        line.to_string()
    }
}

fn program(spec: &ExternalSpec) -> std::path::PathBuf {
    let p = Path::new(&spec.command[0]);
    if p.is_relative() && spec.command[0].contains('/') {
        spec.dir.join(p)
    } else {
        p.to_path_buf()
    }
}

impl External for CommandExternal {
    fn exchange(&mut self, request: &str) -> Result<String, ExternalFailure> {
        let fail = |message: String| ExternalFailure { message, timed_out: false };
        let prog = program(&self.spec);
        let mut cmd = Command::new(&prog);
        cmd.args(&self.spec.command[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.env_clear().envs(self.env.iter().map(|(k, v)| (k, v)));
        if !self.spec.dir.as_os_str().is_empty() {
            cmd.current_dir(&self.spec.dir);
        }
        let mut child = cmd.spawn().map_err(|e| fail(format!("cannot start {}: {e}", prog.display())))?;
        let (mut stdin, mut stdout, mut stderr) =
            (child.stdin.take().expect("piped"), child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
        let body = format!("{request}\n");
        // Writing and reading on threads of their own: a program that does not read its
        // input, or writes much, cannot block us past the timeout.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(body.as_bytes());
        });
        let out = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = stdout.read_to_end(&mut b);
            b
        });
        let err = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = stderr.read_to_end(&mut b);
            b
        });
        let deadline = Instant::now() + Duration::from_nanos(self.spec.timeout_ns);
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ExternalFailure {
                        message: format!("timed out after {}", crate::units::Duration(self.spec.timeout_ns)),
                        timed_out: true,
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(fail(format!("waiting for {}: {e}", prog.display()))),
            }
        };
        let _ = writer.join();
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if !status.success() {
            let why = first_line(&stderr);
            return Err(fail(format!("{} exited with {status}{}", prog.display(), if why.is_empty() { String::new() } else { format!(": {why}") })));
        }
        String::from_utf8(stdout).map_err(|_| fail("the reply is not UTF-8 text".into()))
    }
}

/// Wraps an external and keeps every exchange (with its wall-clock time), for the edge to
/// write at the end.
pub struct Recorder {
    pub inner: Box<dyn External>,
    pub log: Arc<Mutex<Vec<Exchange>>>,
}

impl External for Recorder {
    fn exchange(&mut self, request: &str) -> Result<String, ExternalFailure> {
        let t0 = Instant::now();
        let r = self.inner.exchange(request);
        let wall_ms = (t0.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let request = serde_json::from_str(request).unwrap_or_else(|_| serde_json::Value::String(request.to_string()));
        let x = match &r {
            Ok(reply) => Exchange { request, reply: Some(reply.clone()), error: None, timed_out: false, wall_ms: Some(wall_ms) },
            Err(f) => Exchange { request, reply: None, error: Some(f.message.clone()), timed_out: f.timed_out, wall_ms: Some(wall_ms) },
        };
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(x);
        r
    }
}
