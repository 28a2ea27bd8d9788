//! External programs a policy consults (an LLM behind a wrapper command), kept out of the pure
//! engine: the policy sees only the [`External`] trait. The edge (`run.rs`, `command.rs`)
//! starts the program, hands it in when the policy is built, records every exchange and writes
//! the recording at the end; a recording read when the scenario is loaded is replayed by
//! [`Replay`], which is pure. Given the replies, a run is deterministic, so a replayed run is
//! the recorded run, byte for byte.
//!
//! The recording (`record = "exchanges.json"`) is JSON:
//!
//! ```json
//! { "format": "autosim-exchanges/1", "command": ["my-llm-wrapper"],
//!   "services": { "api": [ { "request": { ... }, "reply": "{\"action\": ...}", "wall_ms": 812.4 },
//!                          { "request": { ... }, "error": "timed out after 30s", "timed_out": true } ] } }
//! ```
//!
//! `request` is the JSON document sent, `reply` the program's standard output as it was (it
//! may be malformed: the policy judges it), `error` why there was no reply. `wall_ms` is
//! information only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The format tag of recordings.
pub const FORMAT: &str = "autosim-exchanges/1";

/// Why an exchange gave no reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalFailure {
    pub message: String,
    /// The program did not answer within its timeout.
    pub timed_out: bool,
}

/// An outside party: one request (a JSON document) in, its reply text out.
pub trait External: Send {
    fn exchange(&mut self, request: &str) -> Result<String, ExternalFailure>;
}

/// The program a policy's scenario names, for the edge to start.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalSpec {
    /// Program and arguments; a relative program path with a `/` is relative to `dir`.
    pub command: Vec<String>,
    /// Wall-clock time allowed per exchange.
    pub timeout_ns: u64,
    /// The scenario's folder: the program's working directory.
    pub dir: PathBuf,
    /// Where to write the recording: inside `dir` (checked when the scenario is read, and
    /// again before writing).
    pub record: Option<PathBuf>,
    /// Variables of autosim's environment the program gets besides PATH, HOME and LANG
    /// (`env = [...]`): names only, their values are autosim's.
    pub env: Vec<String>,
    /// Where `command` is written in the scenario's text, for messages.
    pub span: std::ops::Range<usize>,
    /// The service this instance is for (the recording's key).
    pub service: String,
}

/// One exchange, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    pub request: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<f64>,
}

/// A recording: the exchanges of each service's instance, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    pub format: String,
    #[serde(default)]
    pub command: Vec<String>,
    pub services: BTreeMap<String, Vec<Exchange>>,
}

impl Recording {
    /// Parse a recording; errors give the line and column in it.
    pub fn parse(text: &str) -> Result<Recording, String> {
        let r: Recording = serde_json::from_str(text).map_err(|e| format!("line {}, column {}: {}", e.line(), e.column(), crate::quote::shorten(&e.to_string())))?;
        if r.format != FORMAT {
            return Err(format!("format {}: expected {FORMAT:?} (a file written by `record`)", crate::quote::cell(&r.format)));
        }
        for (svc, list) in &r.services {
            for (i, x) in list.iter().enumerate() {
                if x.reply.is_some() == x.error.is_some() {
                    return Err(format!("services.{}[{i}]: expected exactly one of `reply` and `error`", crate::quote::cut(svc)));
                }
            }
        }
        Ok(r)
    }
}

/// Serves a recorded service's exchanges in order. A request that differs from the recorded
/// one (the scenario or the seed changed) fails the exchange, as does running past the end.
#[derive(Debug, Clone)]
pub struct Replay {
    exchanges: std::sync::Arc<Vec<Exchange>>,
    next: usize,
    /// Requests that did not match the recording.
    pub mismatches: u64,
}

impl Replay {
    pub fn new(exchanges: std::sync::Arc<Vec<Exchange>>) -> Self {
        Self { exchanges, next: 0, mismatches: 0 }
    }
}

impl External for Replay {
    fn exchange(&mut self, request: &str) -> Result<String, ExternalFailure> {
        let i = self.next;
        self.next += 1;
        let Some(x) = self.exchanges.get(i) else {
            self.mismatches += 1;
            return Err(ExternalFailure { message: format!("replay: the recording ends after {} exchanges", self.exchanges.len()), timed_out: false });
        };
        let asked: serde_json::Value = serde_json::from_str(request).unwrap_or(serde_json::Value::Null);
        if asked != x.request {
            self.mismatches += 1;
            return Err(ExternalFailure { message: format!("replay: exchange {} was recorded for another snapshot", i + 1), timed_out: false });
        }
        match (&x.reply, &x.error) {
            (Some(r), _) => Ok(r.clone()),
            (None, e) => Err(ExternalFailure { message: e.clone().unwrap_or_default(), timed_out: x.timed_out }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_serves_in_order_and_checks_requests() {
        let x = |req: &str, reply: &str| Exchange {
            request: serde_json::from_str(req).unwrap(),
            reply: Some(reply.into()),
            error: None,
            timed_out: false,
            wall_ms: None,
        };
        let mut r = Replay::new(std::sync::Arc::new(vec![x(r#"{"a":1}"#, "one"), x(r#"{"a":2}"#, "two")]));
        assert_eq!(r.exchange(r#"{"a": 1}"#).unwrap(), "one");
        assert!(r.exchange(r#"{"a":3}"#).unwrap_err().message.contains("another snapshot"));
        assert!(r.exchange(r#"{"a":3}"#).unwrap_err().message.contains("ends after 2"));
        assert_eq!(r.mismatches, 2);
    }

    #[test]
    fn recordings_round_trip_and_are_checked() {
        let rec = Recording {
            format: FORMAT.into(),
            command: vec!["x".into()],
            services: [("api".to_string(), vec![Exchange { request: serde_json::json!({"t": 1.5}), reply: None, error: Some("boom".into()), timed_out: true, wall_ms: Some(3.0) }])]
                .into_iter()
                .collect(),
        };
        let text = serde_json::to_string_pretty(&rec).unwrap();
        assert_eq!(Recording::parse(&text).unwrap(), rec);
        assert!(Recording::parse("{\"format\": \"nope\", \"services\": {}}").unwrap_err().contains("expected \"autosim-exchanges/1\""));
        assert!(Recording::parse("{\n  \"format\": 3").unwrap_err().starts_with("line 2"));
    }
}
