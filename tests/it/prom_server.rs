//! A real Prometheus server for tests: its data backfilled from an OpenMetrics text with
//! `promtool tsdb create-blocks-from openmetrics`, started on a free loopback port, queried over
//! HTTP, stopped when dropped. Absent binaries (the Debian package `prometheus` ships both) make
//! [`PromServer::start`] return `None` after printing that the test skipped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One element of an instant query's answer: its labels (`__name__` included when kept) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// An instant query's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Scalar(f64),
    Vector(Vec<Sample>),
}

/// A running server; killed (and its folder removed) on drop.
pub struct PromServer {
    child: Child,
    pub url: String,
    pub dir: tempfile::TempDir,
}

/// The path of a program on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Both binaries, or `None` after printing that `test` skipped.
pub fn binaries(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (which("prometheus"), which("promtool")) {
        (Some(p), Some(t)) => Some((p, t)),
        _ => {
            crate::common::skip(test, "prometheus and promtool are not installed (apt-get install prometheus)");
            None
        }
    }
}

/// A free loopback port (bound, then released for the server).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The current Unix time in whole seconds.
pub fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

impl PromServer {
    /// Backfill `openmetrics` and start the server on it; `None` (printed) when the binaries
    /// are absent. Panics when they are present but fail: that is a failure of the test.
    pub fn start(test: &str, openmetrics: &str) -> Option<PromServer> {
        let (prometheus, promtool) = binaries(test)?;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let om = dir.path().join("backfill.om.txt");
        std::fs::write(&om, openmetrics).unwrap();
        let out = Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&om)
            .arg(&data)
            .output()
            .expect("cannot start promtool");
        assert!(
            out.status.success(),
            "promtool refused the OpenMetrics text: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
        let log_path = dir.path().join("prometheus.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Backfilled samples may be old: keep them.
            .arg("--storage.tsdb.retention.time=3650d")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start prometheus");
        let mut server = PromServer { child, url, dir };
        if let Err(e) = server.wait_ready(Duration::from_secs(60)) {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("prometheus did not become ready: {e}\n{log}");
        }
        Some(server)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("prometheus exited with {status}"));
            }
            if let Ok(r) = ureq::get(&format!("{}/-/ready", self.url)).timeout(Duration::from_secs(2)).call() {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            if t0.elapsed() > limit {
                return Err(format!("not ready after {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `/api/v1/query_range`'s answer (panics on an HTTP error).
    pub fn query_range(&self, query: &str, start_s: f64, end_s: f64, step_s: f64) -> Value {
        let r = ureq::post(&format!("{}/api/v1/query_range", self.url))
            .send_form(&[("query", query), ("start", &start_s.to_string()), ("end", &end_s.to_string()), ("step", &step_s.to_string())])
            .unwrap_or_else(|e| panic!("query_range {query}: {e}"));
        serde_json::from_str(&r.into_string().unwrap()).unwrap()
    }

    /// The (time, value) samples of each series of a range query, by its labels' JSON.
    pub fn series(&self, query: &str, start_s: f64, end_s: f64, step_s: f64) -> Vec<(Value, Vec<(f64, f64)>)> {
        let v = self.query_range(query, start_s, end_s, step_s);
        assert_eq!(v["status"], "success", "{v}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let pts = s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().parse::<f64>().unwrap()))
                    .collect();
                (s["metric"].clone(), pts)
            })
            .collect()
    }

    /// `/api/v1/query`'s answer at `time` (Unix seconds): a scalar, or a vector of samples with
    /// their labels sorted; an error names Prometheus's error type and message.
    pub fn query(&self, query: &str, time: f64) -> Result<Answer, String> {
        let body = match ureq::post(&format!("{}/api/v1/query", self.url)).send_form(&[("query", query), ("time", &format!("{time:.3}"))]) {
            Ok(r) => r.into_string().map_err(|e| e.to_string())?,
            Err(ureq::Error::Status(_, r)) => r.into_string().map_err(|e| e.to_string())?,
            Err(e) => return Err(e.to_string()),
        };
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        let value = |x: &Value| -> f64 {
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
                        let mut labels: Vec<(String, String)> =
                            e["metric"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect();
                        labels.sort();
                        Sample { labels, value: value(&e["value"]) }
                    })
                    .collect(),
            )),
            other => Err(format!("unexpected result type {other:?}")),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PromServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
