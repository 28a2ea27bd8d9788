//! The edge's side of [`crate::policy::external`]: running a policy's external program (one
//! process per exchange: the request on its standard input, the reply on its standard output,
//! within a wall-clock timeout) and recording the exchanges.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::policy::external::{Exchange, External, ExternalFailure, ExternalSpec};

/// Runs `spec.command` once per exchange.
#[derive(Debug, Clone)]
pub struct CommandExternal {
    spec: ExternalSpec,
}

impl CommandExternal {
    pub fn new(spec: ExternalSpec) -> Self {
        Self { spec }
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
