//! A real Prometheus for differential tests: backfilled from OpenMetrics text with `promtool
//! tsdb create-blocks-from openmetrics`, served on a free loopback port, queried through its
//! HTTP API, stopped (killed) when dropped, so also when a test panics.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One element of a query's answer: its labels (`__name__` included when kept) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A query's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Scalar(f64),
    Vector(Vec<Sample>),
}

pub struct PromServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// Whether `prometheus` and `promtool` are on the PATH.
pub fn available() -> bool {
    ["prometheus", "promtool"].iter().all(|b| Command::new(b).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

impl PromServer {
    /// Backfill a TSDB from `openmetrics` and serve it. Errors say which step failed.
    pub fn start(openmetrics: &str) -> Result<PromServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let input = dir.path().join("series.om");
        std::fs::write(&input, openmetrics).map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let out = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&data)
            .output()
            .map_err(|e| format!("promtool: {e}"))?;
        if !out.status.success() {
            return Err(format!("promtool failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 15s\n").map_err(|e| e.to_string())?;
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).map_err(|e| e.to_string())?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("prometheus: {e}"))?;
        let server = PromServer { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = server.get("/-/ready") {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("prometheus did not become ready: {}", server.log()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Result<(u16, String), String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
        let status = buf.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = buf.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
        Ok((status, body))
    }

    /// Evaluate `query` at `time` (Unix seconds) through `/api/v1/query`.
    pub fn query(&self, query: &str, time: f64) -> Result<Answer, String> {
        let path = format!("/api/v1/query?query={}&time={time:.3}", encode(query));
        let (_, body) = self.get(&path)?;
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        let value = |x: &serde_json::Value| -> f64 {
            match x[1].as_str().unwrap_or("NaN") {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                s => s.parse().unwrap_or(f64::NAN),
            }
        };
        let data = &v["data"];
        match data["resultType"].as_str() {
            Some("scalar") => Ok(Answer::Scalar(value(&data["result"]))),
            Some("vector") => Ok(Answer::Vector(
                data["result"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        let mut labels: Vec<(String, String)> = e["metric"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect();
                        labels.sort();
                        Sample { labels, value: value(&e["value"]) }
                    })
                    .collect(),
            )),
            other => Err(format!("unexpected result type {other:?}")),
        }
    }
}

impl Drop for PromServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
