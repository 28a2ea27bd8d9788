//! A loopback fake Kubernetes API server for the live-mode tests: plain HTTP on 127.0.0.1 on a
//! port of its own, with discovery and /version, Deployments (GET, and GET, merge-PATCH and
//! PUT of `scale`), pods (LIST by label selector), HPAs (LIST), and a fake kubelet that makes
//! pods scheduled and ready after scripted delays and removes deleted ones after another.
//! Knobs: latency, a status on the n-th call (of a method), another writer, and every request
//! recorded with its arrival time (Unix seconds, comparable with the replay's t0).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Unix seconds when its headers had arrived.
    pub at: f64,
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub content_type: Option<String>,
    pub body: String,
}

impl Recorded {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD")
    }
}

/// A status answered on the `nth` call (1-based) of `method` (any method when `None`).
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<&'static str>,
    pub nth: usize,
    pub status: u16,
}

#[derive(Debug, Clone)]
pub struct Knobs {
    /// Added before every answer.
    pub latency: Duration,
    pub faults: Vec<Fault>,
    /// After the k-th PATCH of a scale, another writer sets the Deployment to N replicas.
    pub other_writer: Option<(usize, u32)>,
    pub schedule_after: Duration,
    pub ready_after: Duration,
    pub gone_after: Duration,
    /// HPAs: (name, target Deployment).
    pub hpas: Vec<(String, String)>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            latency: Duration::ZERO,
            faults: Vec::new(),
            other_writer: None,
            schedule_after: Duration::from_millis(0),
            ready_after: Duration::from_millis(0),
            gone_after: Duration::from_millis(0),
            hpas: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct Pod {
    name: String,
    uid: String,
    created: f64,
    deleted: Option<f64>,
}

#[derive(Debug, Clone)]
struct Deploy {
    name: String,
    namespace: String,
    replicas: u32,
    labels: BTreeMap<String, String>,
    pods: Vec<Pod>,
    generation: i64,
}

struct State {
    knobs: Knobs,
    deployments: Vec<Deploy>,
    requests: Vec<Recorded>,
    patches: usize,
    pod_seq: usize,
}

/// The fake server; it runs until the test process ends.
#[derive(Clone)]
pub struct FakeKube {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// RFC 3339 with whole seconds, as Kubernetes writes timestamps.
pub fn rfc3339(unix_s: f64) -> String {
    let secs = unix_s.floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

impl FakeKube {
    pub fn start(knobs: Knobs) -> FakeKube {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State { knobs, deployments: Vec::new(), requests: Vec::new(), patches: 0, pod_seq: 0 }));
        let fake = FakeKube { port, state };
        let f = fake.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let f = f.clone();
                std::thread::spawn(move || f.serve(conn));
            }
        });
        fake
    }

    /// A Deployment `name` in `namespace` with pods labelled `app=name`, all ready now.
    pub fn add_deployment(&self, namespace: &str, name: &str, replicas: u32, labelled: bool) {
        let mut st = self.state.lock().unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("app".to_string(), name.to_string());
        if labelled {
            labels.insert("autosim.dev/replay".to_string(), "allowed".to_string());
        }
        let mut d = Deploy { name: name.into(), namespace: namespace.into(), replicas: 0, labels, pods: Vec::new(), generation: 1 };
        let t = now() - 3600.0;
        for _ in 0..replicas {
            st.pod_seq += 1;
            d.pods.push(Pod { name: format!("{name}-{:05}", st.pod_seq), uid: format!("uid-{}", st.pod_seq), created: t, deleted: None });
        }
        d.replicas = replicas;
        st.deployments.push(d);
    }

    pub fn replicas(&self, name: &str) -> u32 {
        self.state.lock().unwrap().deployments.iter().find(|d| d.name == name).map_or(0, |d| d.replicas)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn writes(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.is_write()).collect()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn serve(&self, conn: TcpStream) {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut conn = conn;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end().to_string();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split(' ');
            let method = parts.next().unwrap_or("").to_string();
            let target = parts.next().unwrap_or("").to_string();
            let mut headers = BTreeMap::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let at = now();
            let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0u8; len];
            if len > 0 && reader.read_exact(&mut body).is_err() {
                return;
            }
            let rec = Recorded {
                at,
                method: method.clone(),
                target: target.clone(),
                content_type: headers.get("content-type").cloned(),
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let (status, answer, latency) = self.handle(rec);
            std::thread::sleep(latency);
            let text = answer.to_string();
            let reason = match status {
                200 => "OK",
                403 => "Forbidden",
                404 => "Not Found",
                503 => "Service Unavailable",
                _ => "Status",
            };
            let resp = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            );
            if conn.write_all(resp.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn handle(&self, rec: Recorded) -> (u16, Value, Duration) {
        let mut st = self.state.lock().unwrap();
        st.requests.push(rec.clone());
        let latency = st.knobs.latency;
        let n_method = st.requests.iter().filter(|r| r.method == rec.method).count();
        let n_all = st.requests.len();
        let fault = st.knobs.faults.iter().find(|f| match f.method {
            Some(m) => m == rec.method && f.nth == n_method,
            None => f.nth == n_all,
        });
        if let Some(f) = fault {
            let reason = if f.status == 403 { "Forbidden" } else { "ServiceUnavailable" };
            let msg = if f.status == 403 {
                format!("{} is forbidden: User \"system:serviceaccount:autosim-live:autosim\" cannot {} this resource", rec.path(), rec.method.to_lowercase())
            } else {
                "the server is currently unable to handle the request".to_string()
            };
            return (f.status, status(f.status, reason, &msg), latency);
        }
        let t = now();
        let (code, v) = route(&mut st, &rec, t);
        (code, v, latency)
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

fn not_found(what: &str, name: &str) -> (u16, Value) {
    (404, status(404, "NotFound", &format!("{what} \"{name}\" not found")))
}

fn route(st: &mut State, rec: &Recorded, t: f64) -> (u16, Value) {
    let segs: Vec<&str> = rec.path().trim_matches('/').split('/').collect();
    let q = rec.query();
    let ra = st.knobs.ready_after.as_secs_f64();
    for d in st.deployments.iter_mut() {
        d.pods.retain(|p| p.deleted.is_none_or(|x| t < x + st.knobs.gone_after.as_secs_f64()));
    }
    match (rec.method.as_str(), segs.as_slice()) {
        ("GET", ["version"]) => (
            200,
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "gitCommit": "0", "gitTreeState": "clean",
                   "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"}),
        ),
        ("GET", ["api"]) => (200, json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
        ("GET", ["apis"]) => (
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}], "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}},
                {"name": "autoscaling", "versions": [{"groupVersion": "autoscaling/v2", "version": "v2"}, {"groupVersion": "autoscaling/v1", "version": "v1"}], "preferredVersion": {"groupVersion": "autoscaling/v2", "version": "v2"}}
            ]}),
        ),
        ("GET", ["api", "v1"]) => (200, resources("v1", &[("pods", "Pod", true)])),
        ("GET", ["apis", "apps", "v1"]) => (200, resources("apps/v1", &[("deployments", "Deployment", true), ("deployments/scale", "Scale", false)])),
        ("GET", ["apis", "autoscaling", v]) => (200, resources(&format!("autoscaling/{v}"), &[("horizontalpodautoscalers", "HorizontalPodAutoscaler", true)])),
        ("GET", ["apis", "apps", "v1", "namespaces", ns, "deployments"]) => {
            let items: Vec<Value> = st.deployments.iter_mut().filter(|d| d.namespace == *ns).map(|d| deployment_json(d, t, ra)).collect();
            (200, json!({"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {"resourceVersion": "1"}, "items": items}))
        }
        ("GET", ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => match find(st, ns, name) {
            Some(d) => (200, deployment_json(d, t, ra)),
            None => not_found("deployments.apps", name),
        },
        ("GET", ["apis", "apps", "v1", "namespaces", ns, "deployments", name, "scale"]) => match find(st, ns, name) {
            Some(d) => (200, scale_json(d, t, ra)),
            None => not_found("deployments.apps", name),
        },
        ("PATCH" | "PUT", ["apis", "apps", "v1", "namespaces", ns, "deployments", name, "scale"]) => {
            let body: Value = serde_json::from_str(&rec.body).unwrap_or(Value::Null);
            let Some(n) = body["spec"]["replicas"].as_u64() else {
                return (400, status(400, "BadRequest", "no spec.replicas"));
            };
            let dry = q.split('&').any(|kv| kv == "dryRun=All");
            st.patches += 1;
            let k = st.patches;
            let writer = st.knobs.other_writer;
            let mut seq = st.pod_seq;
            let Some(d) = find(st, ns, name) else { return not_found("deployments.apps", name) };
            let answer = if dry {
                let mut c = d.clone();
                c.replicas = n as u32;
                scale_json(&mut c, t, ra)
            } else {
                set_replicas(d, n as u32, t, &mut seq);
                if let Some((after, m)) = writer {
                    if after == k {
                        let ans = scale_json(d, t, ra);
                        set_replicas(d, m, t, &mut seq);
                        st.pod_seq = seq;
                        return (200, ans);
                    }
                }
                scale_json(d, t, ra)
            };
            st.pod_seq = seq;
            (200, answer)
        }
        ("GET", ["api", "v1", "namespaces", ns, "pods"]) => {
            let sel = q
                .split('&')
                .find_map(|kv| kv.strip_prefix("labelSelector="))
                .map(|s| s.replace("%3D", "=").replace("%2C", ",").replace("%2F", "/"))
                .unwrap_or_default();
            let (sched, ready, gone) = (st.knobs.schedule_after.as_secs_f64(), st.knobs.ready_after.as_secs_f64(), st.knobs.gone_after.as_secs_f64());
            let mut items = Vec::new();
            for d in st.deployments.iter_mut().filter(|d| d.namespace == *ns) {
                d.pods.retain(|p| p.deleted.is_none_or(|x| t < x + gone));
                let pod_labels = BTreeMap::from([("app".to_string(), d.name.clone())]);
                let matches = sel.split(',').filter(|s| !s.is_empty()).all(|kv| {
                    kv.split_once('=').is_some_and(|(k, v)| pod_labels.get(k).map(String::as_str) == Some(v))
                });
                if !matches {
                    continue;
                }
                for p in &d.pods {
                    items.push(pod_json(p, ns, &d.name, t, sched, ready));
                }
            }
            (200, json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}))
        }
        ("GET", ["apis", "autoscaling", v, "namespaces", ns, "horizontalpodautoscalers"]) => {
            let items: Vec<Value> = st
                .knobs
                .hpas
                .iter()
                .map(|(n, target)| {
                    json!({"apiVersion": format!("autoscaling/{v}"), "kind": "HorizontalPodAutoscaler",
                           "metadata": {"name": n, "namespace": ns},
                           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}, "maxReplicas": 10}})
                })
                .collect();
            (200, json!({"kind": "HorizontalPodAutoscalerList", "apiVersion": format!("autoscaling/{v}"), "metadata": {"resourceVersion": "1"}, "items": items}))
        }
        _ => (404, status(404, "NotFound", &format!("the fake has no {} {}", rec.method, rec.path()))),
    }
}

fn resources(gv: &str, list: &[(&str, &str, bool)]) -> Value {
    let rs: Vec<Value> = list
        .iter()
        .map(|(name, kind, main)| {
            let verbs = if *main { json!(["get", "list", "watch", "patch"]) } else { json!(["get", "patch", "update"]) };
            json!({"name": name, "singularName": if *main { name.trim_end_matches('s') } else { "" }, "namespaced": true, "kind": kind, "verbs": verbs})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": rs})
}

fn find<'a>(st: &'a mut State, ns: &str, name: &str) -> Option<&'a mut Deploy> {
    st.deployments.iter_mut().find(|d| d.namespace == ns && d.name == name)
}

/// Scale to n: new pods are created now; surplus pods (newest first) are marked deleted now.
fn set_replicas(d: &mut Deploy, n: u32, t: f64, seq: &mut usize) {
    let live: Vec<usize> = (0..d.pods.len()).filter(|&i| d.pods[i].deleted.is_none()).collect();
    if (live.len() as u32) < n {
        for _ in live.len() as u32..n {
            *seq += 1;
            d.pods.push(Pod { name: format!("{}-{:05}", d.name, *seq), uid: format!("uid-{}", *seq), created: t, deleted: None });
        }
    } else {
        for &i in live.iter().rev().take(live.len() - n as usize) {
            d.pods[i].deleted = Some(t);
        }
    }
    d.replicas = n;
    d.generation += 1;
}

fn counts(d: &Deploy, t: f64, ready_after: f64) -> (u32, u32) {
    let live: Vec<&Pod> = d.pods.iter().filter(|p| p.deleted.is_none()).collect();
    let ready = live.iter().filter(|p| t >= p.created + ready_after).count() as u32;
    (live.len() as u32, ready)
}

fn deployment_json(d: &mut Deploy, t: f64, ra: f64) -> Value {
    let (total, ready) = counts(d, t, ra);
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": d.name, "namespace": d.namespace, "uid": format!("dep-{}", d.name), "generation": d.generation,
                     "labels": d.labels, "creationTimestamp": rfc3339(t - 7200.0), "resourceVersion": d.generation.to_string()},
        "spec": {"replicas": d.replicas, "selector": {"matchLabels": {"app": d.name}},
                 "template": {"metadata": {"labels": {"app": d.name}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
        "status": {"observedGeneration": d.generation, "replicas": total, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": total}
    })
}

fn scale_json(d: &mut Deploy, t: f64, ra: f64) -> Value {
    let (total, _) = counts(d, t, ra);
    json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": d.name, "namespace": d.namespace, "resourceVersion": d.generation.to_string()},
        "spec": {"replicas": d.replicas},
        "status": {"replicas": total, "selector": format!("app={}", d.name)}
    })
}


fn pod_json(p: &Pod, ns: &str, app: &str, t: f64, sched: f64, ready: f64) -> Value {
    let mut conds = Vec::new();
    let scheduled_at = p.created + sched;
    if t >= scheduled_at {
        conds.push(json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": rfc3339(scheduled_at)}));
    }
    let ready_at = p.created + ready;
    let is_ready = t >= ready_at && p.deleted.is_none();
    conds.push(json!({"type": "Ready", "status": if is_ready { "True" } else { "False" },
                      "lastTransitionTime": rfc3339(if is_ready { ready_at } else { p.created })}));
    let mut meta = json!({"name": p.name, "namespace": ns, "uid": p.uid, "labels": {"app": app}, "creationTimestamp": rfc3339(p.created)});
    if let Some(d) = p.deleted {
        meta["deletionTimestamp"] = json!(rfc3339(d));
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
           "spec": {"containers": [{"name": "web", "image": "nginx"}], "nodeName": if t >= scheduled_at { "kind-worker" } else { "" }},
           "status": {"phase": if t >= scheduled_at { "Running" } else { "Pending" }, "conditions": conds}})
}

/// A kubeconfig with one context `context` for `server`, written into `dir`.
pub fn kubeconfig(dir: &Path, context: &str, server: &str) -> PathBuf {
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: {context}\nclusters:\n- name: {context}\n  cluster:\n    server: {server}\n\
         contexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n    namespace: autosim-live\n\
         users:\n- name: {context}\n  user:\n    token: fake-token\n"
    );
    let path = dir.join(format!("kubeconfig-{context}"));
    std::fs::write(&path, text).unwrap();
    path
}
