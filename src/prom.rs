//! `autosim trace fetch`: a range query against a Prometheus server, written as the
//! `/api/v1/query_range` JSON that a scenario's `trace = { file = ..., format = "prometheus" }`
//! reads as it is. This is the edge: it talks to the network (blocking, through `ureq`, TLS by
//! rustls) and is never called by the engine.
//!
//! Prometheus refuses a range query of more than 11,000 points per series, so a long range is
//! asked in slices of at most [`MAX_POINTS`] steps, and the slices' series are joined by their
//! labels. Credentials come from the environment: `AUTOSIM_PROMETHEUS_TOKEN` (a bearer token),
//! or `AUTOSIM_PROMETHEUS_USER` and `AUTOSIM_PROMETHEUS_PASSWORD` (basic auth).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

/// Most points per series in one query (Prometheus's own limit is 11,000).
pub const MAX_POINTS: i64 = 11_000;

/// How to authenticate.
#[derive(Clone, PartialEq)]
pub enum Auth {
    None,
    Bearer(String),
    Basic { user: String, password: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        match self {
            Auth::None => f.write_str("none"),
            Auth::Bearer(_) => f.write_str("bearer token"),
            Auth::Basic { user, .. } => write!(f, "basic auth as {user:?}"),
        }
    }
}

impl Auth {
    /// From the environment (see the module's documentation), through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Auth, String> {
        let token = var("AUTOSIM_PROMETHEUS_TOKEN").filter(|t| !t.is_empty());
        let user = var("AUTOSIM_PROMETHEUS_USER").filter(|t| !t.is_empty());
        let password = var("AUTOSIM_PROMETHEUS_PASSWORD");
        match (token, user) {
            (Some(_), Some(_)) => Err("both AUTOSIM_PROMETHEUS_TOKEN and AUTOSIM_PROMETHEUS_USER are set: use a bearer token or basic auth, not both".into()),
            (Some(t), None) => Ok(Auth::Bearer(t.trim().to_string())),
            (None, Some(user)) => Ok(Auth::Basic { user, password: password.unwrap_or_default() }),
            (None, None) => Ok(Auth::None),
        }
    }

    fn header(&self) -> Option<String> {
        match self {
            Auth::None => None,
            Auth::Bearer(t) => Some(format!("Bearer {t}")),
            Auth::Basic { user, password } => Some(format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))),
        }
    }
}

/// Standard base64 with padding (RFC 4648), for the basic auth header.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                o.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

/// A range query.
#[derive(Debug, Clone)]
pub struct RangeQuery {
    /// The server's base URL (`http://localhost:9090`, `https://host/prometheus`), or the
    /// full `.../api/v1/query_range` URL.
    pub url: String,
    pub query: String,
    /// Unix milliseconds.
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    pub auth: Auth,
    pub timeout: Duration,
}

/// A time as Prometheus takes it: `now`, `now-7d` (any duration), Unix seconds (`1700000000`,
/// `1700000000.5`) or RFC 3339 (`2024-05-01T00:00:00Z`). `now_ms` is the current time.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    let expected = "expected `now`, `now-<duration>` (like now-7d), Unix seconds or an RFC 3339 time (like 2024-05-01T00:00:00Z)";
    if t == "now" {
        return Ok(now_ms);
    }
    if let Some(rest) = t.strip_prefix("now-") {
        let d = crate::units::parse_duration(rest).map_err(|e| format!("{text:?}: {e}"))?;
        return Ok(now_ms - (d.0 / 1_000_000) as i64);
    }
    if let Ok(s) = t.parse::<f64>() {
        if s.is_finite() && s.abs() < 1e13 {
            return Ok((s * 1000.0).round() as i64);
        }
        return Err(format!("{text:?}: out of range: {expected}"));
    }
    let rfc = crate::workload::trace::TimeFormat::new("rfc3339").map_err(|e| e.to_string())?;
    match rfc.parse_ns(t) {
        Ok(ns) => Ok(ns.div_euclid(1_000_000)),
        Err(_) => Err(format!("{text:?}: {expected}")),
    }
}

/// The slices of `[start, end]` (milliseconds) to ask for: each at most [`MAX_POINTS`] steps,
/// the next starting one step after the last point of the previous.
pub fn slices(start_ms: i64, end_ms: i64, step_ms: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let step = step_ms.max(1);
    let mut s = start_ms;
    while s <= end_ms {
        let e = (s + (MAX_POINTS - 1) * step).min(end_ms);
        out.push((s, e));
        s += MAX_POINTS * step;
    }
    out
}

/// Milliseconds as the seconds Prometheus takes: `1700000000`, `1700000000.5`.
fn secs(ms: i64) -> String {
    let (s, f) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if f == 0 {
        s.to_string()
    } else {
        format!("{s}.{}", format!("{f:03}").trim_end_matches('0'))
    }
}

/// Why a fetch failed; every case is the user's to fix (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Input(String),
    #[error("cannot reach Prometheus at {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("Prometheus at {url} answered HTTP {status}{detail}")]
    Http { url: String, status: u16, detail: String },
    #[error("Prometheus refused the query ({kind}): {message}")]
    Query { kind: String, message: String },
    #[error("the answer of {url} is not a Prometheus API response: {why}")]
    Answer { url: String, why: String },
    #[error("the query {query:?} returned no series from {start} to {end}: check the metric's name and labels, and that the range holds data")]
    Empty { query: String, start: String, end: String },
}

/// The endpoint URL of a base URL.
pub fn endpoint(url: &str) -> Result<String, FetchError> {
    let u = url.trim();
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(FetchError::Input(format!("--prometheus {u:?}: expected an http:// or https:// URL, like http://localhost:9090")));
    }
    let u = u.trim_end_matches('/');
    if u.ends_with("/api/v1/query_range") {
        Ok(u.to_string())
    } else {
        Ok(format!("{u}/api/v1/query_range"))
    }
}

/// The outcome of a fetch: the joined response, and what to tell the user.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub json: Value,
    pub series: usize,
    pub samples: usize,
    pub requests: usize,
    pub warnings: Vec<String>,
}

/// Run the query, slice by slice, and join the answers.
pub fn fetch(q: &RangeQuery) -> Result<Fetched, FetchError> {
    if q.step_ms <= 0 {
        return Err(FetchError::Input("--step: expected a positive duration, like 15s or 1m".into()));
    }
    if q.end_ms < q.start_ms {
        return Err(FetchError::Input(format!("--end {} is before --start {}", secs(q.end_ms), secs(q.start_ms))));
    }
    if q.query.trim().is_empty() {
        return Err(FetchError::Input("--query: expected a PromQL expression".into()));
    }
    let url = endpoint(&q.url)?;
    let agent = ureq::AgentBuilder::new().timeout(q.timeout).build();
    let parts = slices(q.start_ms, q.end_ms, q.step_ms);
    // Series by their labels, in order of first appearance.
    let mut order: Vec<String> = Vec::new();
    let mut series: BTreeMap<String, (Value, Vec<Value>)> = BTreeMap::new();
    let mut warnings = Vec::new();
    for &(s, e) in &parts {
        let mut req = agent.post(&url);
        if let Some(h) = q.auth.header() {
            req = req.set("Authorization", &h);
        }
        let form = [("query", q.query.as_str()), ("start", &secs(s)), ("end", &secs(e)), ("step", &secs(q.step_ms))];
        let body = match req.send_form(&form) {
            Ok(resp) => resp.into_string().map_err(|e| FetchError::Answer { url: url.clone(), why: e.to_string() })?,
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                // Prometheus explains a refused query in its JSON body.
                if let Some((kind, message)) = api_error(&text) {
                    return Err(FetchError::Query { kind, message });
                }
                let detail = match status {
                    401 | 403 => ": check AUTOSIM_PROMETHEUS_TOKEN, or AUTOSIM_PROMETHEUS_USER and AUTOSIM_PROMETHEUS_PASSWORD".to_string(),
                    404 => ": is this the server's base URL (the one its web UI is at)?".to_string(),
                    _ if !text.trim().is_empty() => format!(": {}", text.trim().chars().take(300).collect::<String>()),
                    _ => String::new(),
                };
                return Err(FetchError::Http { url, status, detail });
            }
            Err(ureq::Error::Transport(t)) => return Err(FetchError::Unreachable { url, why: t.to_string() }),
        };
        let v: Value = serde_json::from_str(&body).map_err(|e| FetchError::Answer { url: url.clone(), why: e.to_string() })?;
        if v.get("status").and_then(Value::as_str) != Some("success") {
            let (kind, message) = api_error(&body).unwrap_or_else(|| ("unknown".into(), body.chars().take(300).collect()));
            return Err(FetchError::Query { kind, message });
        }
        if let Some(w) = v.get("warnings").and_then(Value::as_array) {
            warnings.extend(w.iter().filter_map(Value::as_str).map(String::from));
        }
        let data = v.get("data").ok_or_else(|| FetchError::Answer { url: url.clone(), why: "no \"data\"".into() })?;
        match data.get("resultType").and_then(Value::as_str) {
            Some("matrix") => {}
            other => {
                return Err(FetchError::Answer { url: url.clone(), why: format!("resultType {other:?}, expected \"matrix\"") });
            }
        }
        for s in data.get("result").and_then(Value::as_array).into_iter().flatten() {
            let metric = s.get("metric").cloned().unwrap_or(Value::Object(Map::new()));
            let key = metric.to_string();
            let values = s.get("values").and_then(Value::as_array).cloned().unwrap_or_default();
            let entry = series.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                (metric, Vec::new())
            });
            for p in values {
                let t = p.get(0).and_then(Value::as_f64);
                let last = entry.1.last().and_then(|l| l.get(0)).and_then(Value::as_f64);
                if let (Some(t), Some(l)) = (t, last) {
                    if t <= l {
                        continue;
                    }
                }
                entry.1.push(p);
            }
        }
    }
    let samples = series.values().map(|s| s.1.len()).sum();
    if samples == 0 {
        return Err(FetchError::Empty { query: q.query.clone(), start: secs(q.start_ms), end: secs(q.end_ms) });
    }
    let result: Vec<Value> = order
        .iter()
        .filter_map(|k| series.remove(k))
        .filter(|(_, v)| !v.is_empty())
        .map(|(metric, values)| {
            let mut m = Map::new();
            m.insert("metric".into(), metric);
            m.insert("values".into(), Value::Array(values));
            Value::Object(m)
        })
        .collect();
    let n = result.len();
    let json = serde_json::json!({ "status": "success", "data": { "resultType": "matrix", "result": result } });
    Ok(Fetched { json, series: n, samples, requests: parts.len(), warnings })
}

/// `(errorType, error)` of a Prometheus error response.
fn api_error(body: &str) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(body).ok()?;
    if v.get("status").and_then(Value::as_str) != Some("error") {
        return None;
    }
    let kind = v.get("errorType").and_then(Value::as_str).unwrap_or("error").to_string();
    let message = v.get("error").and_then(Value::as_str).unwrap_or("").to_string();
    Some((kind, message))
}

/// The joined response as the file's text: one series per line, like Prometheus writes it.
pub fn to_text(json: &Value) -> String {
    let result = json.pointer("/data/result").and_then(Value::as_array).cloned().unwrap_or_default();
    let lines: Vec<String> = result.iter().map(|s| s.to_string()).collect();
    format!("{{\"status\":\"success\",\"data\":{{\"resultType\":\"matrix\",\"result\":[\n{}\n]}}}}\n", lines.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_stay_under_the_limit_and_cover_the_range() {
        let step = 15_000;
        let (start, end) = (0, 30 * 86_400_000);
        let s = slices(start, end, step);
        assert_eq!(s.len(), (30u64 * 86_400 / 15 + 1).div_ceil(11_000) as usize);
        let mut expected = start;
        for &(a, b) in &s {
            assert_eq!(a, expected);
            assert!((b - a) / step < MAX_POINTS, "{a}..{b}");
            expected = a + MAX_POINTS * step;
        }
        assert_eq!(s.last().unwrap().1, end);
        assert_eq!(slices(0, 0, 1000), vec![(0, 0)]);
        assert_eq!(slices(0, 10_999_000, 1000), vec![(0, 10_999_000)]);
        assert_eq!(slices(0, 11_000_000, 1000).len(), 2);
    }

    #[test]
    fn times_and_auth() {
        assert_eq!(parse_time("now", 5_000), Ok(5_000));
        assert_eq!(parse_time("now-1h", 7_200_000), Ok(3_600_000));
        assert_eq!(parse_time("1700000000.5", 0), Ok(1_700_000_000_500));
        assert_eq!(parse_time("2024-05-01T00:00:00Z", 0), Ok(1_714_521_600_000));
        assert!(parse_time("yesterday", 0).unwrap_err().contains("expected `now`"));
        assert_eq!(secs(1_700_000_000_500), "1700000000.5");
        assert_eq!(secs(15_000), "15");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.to_string());
        assert_eq!(Auth::from_env(env(&[])), Ok(Auth::None));
        assert_eq!(Auth::from_env(env(&[("AUTOSIM_PROMETHEUS_TOKEN", "t\n")])), Ok(Auth::Bearer("t".into())));
        assert_eq!(Auth::from_env(env(&[("AUTOSIM_PROMETHEUS_USER", "u"), ("AUTOSIM_PROMETHEUS_PASSWORD", "p")])).unwrap().header().unwrap(), "Basic dTpw");
        assert!(Auth::from_env(env(&[("AUTOSIM_PROMETHEUS_USER", "u"), ("AUTOSIM_PROMETHEUS_TOKEN", "t")])).is_err());
        assert_eq!(format!("{:?}", Auth::Bearer("secret".into())), "bearer token");
        assert!(endpoint("localhost:9090").is_err());
        assert_eq!(endpoint("http://h:9090/").unwrap(), "http://h:9090/api/v1/query_range");
    }

    #[test]
    fn unreachable_is_clear() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let q = RangeQuery {
            url: format!("http://127.0.0.1:{port}"),
            query: "up".into(),
            start_ms: 0,
            end_ms: 60_000,
            step_ms: 15_000,
            auth: Auth::None,
            timeout: Duration::from_secs(5),
        };
        let e = fetch(&q).unwrap_err().to_string();
        assert!(e.starts_with(&format!("cannot reach Prometheus at http://127.0.0.1:{port}/api/v1/query_range")), "{e}");
    }
}
