//! What the cluster did: each Deployment's spec and ready replicas per poll (`observed.csv`)
//! and each pod's life from the API server's own timestamps (`pods.csv`). Read only. Also
//! `autosim live record`, which watches Deployments scaled by a real HPA or KEDA.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

use super::client::Kube;
use super::LiveError;
use crate::output::OutputError;

/// A row of `observed.csv`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Observed {
    /// Seconds after t0 (wall clock of this machine).
    pub time_s: f64,
    pub deployment: String,
    pub spec_replicas: u32,
    pub ready_replicas: u32,
    /// Pods matching the Deployment's selector, terminating ones included.
    pub pods: u32,
}

/// A row of `pods.csv`: seconds after t0 from the API server's timestamps (second
/// resolution: Kubernetes writes them so); `gone_s` is the first poll that no longer lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PodRow {
    pub deployment: String,
    pub pod: String,
    pub uid: String,
    pub created_s: Option<f64>,
    pub scheduled_s: Option<f64>,
    pub ready_s: Option<f64>,
    pub deletion_s: Option<f64>,
    pub gone_s: Option<f64>,
    /// The recording ended before the pod was ready (or, once marked for deletion, gone).
    pub censored: bool,
}

/// One Deployment being watched.
#[derive(Debug, Clone)]
pub struct Watched {
    pub deployment: String,
    pub selector: String,
}

/// The label selector of a Deployment (`matchLabels`, and `In` expressions as set-based).
pub fn selector_of(d: &Deployment) -> Option<String> {
    let sel = &d.spec.as_ref()?.selector;
    let mut parts: Vec<String> = sel.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in sel.match_expressions.iter().flatten() {
        let vals = e.values.clone().unwrap_or_default().join(",");
        match e.operator.as_str() {
            "In" => parts.push(format!("{} in ({vals})", e.key)),
            "NotIn" => parts.push(format!("{} notin ({vals})", e.key)),
            "Exists" => parts.push(e.key.clone()),
            "DoesNotExist" => parts.push(format!("!{}", e.key)),
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// The recording in progress.
#[derive(Debug)]
pub struct Recorder {
    /// Unix seconds at t0: API timestamps are turned into seconds after t0 with it.
    t0_unix_s: f64,
    t0: Instant,
    pub observed: Vec<Observed>,
    pods: BTreeMap<String, PodRow>,
    /// Polls that failed (recorded, not fatal).
    pub failed_polls: u32,
}

fn ts(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> f64 {
    t.0.as_millisecond() as f64 / 1000.0
}

impl Recorder {
    pub fn new(t0: Instant, t0_unix_s: f64) -> Self {
        Recorder { t0_unix_s, t0, observed: Vec::new(), pods: BTreeMap::new(), failed_polls: 0 }
    }

    fn rel(&self, unix_s: f64) -> f64 {
        round_ms(unix_s - self.t0_unix_s)
    }

    /// One poll of every watched Deployment and its pods.
    pub async fn poll(&mut self, kube: &Kube, watched: &[Watched]) -> Result<(), kube::Error> {
        for w in watched {
            let d = kube.get_deployment(&w.deployment).await?;
            let pods = kube.list_pods(&w.selector).await?;
            let now = round_ms(self.t0.elapsed().as_secs_f64());
            self.observed.push(Observed {
                time_s: now,
                deployment: w.deployment.clone(),
                spec_replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as u32,
                ready_replicas: d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0).max(0) as u32,
                pods: pods.len() as u32,
            });
            self.see_pods(&w.deployment, &pods, now);
        }
        Ok(())
    }

    fn see_pods(&mut self, deployment: &str, pods: &[Pod], now: f64) {
        let mut present = Vec::new();
        for p in pods {
            let uid = p.metadata.uid.clone().unwrap_or_else(|| p.metadata.name.clone().unwrap_or_default());
            present.push(uid.clone());
            let cond = |ty: &str| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|cs| cs.iter().find(|c| c.type_ == ty && c.status == "True"))
                    .and_then(|c| c.last_transition_time.as_ref())
                    .map(ts)
            };
            let created = p.metadata.creation_timestamp.as_ref().map(ts).map(|v| self.rel(v));
            let scheduled = cond("PodScheduled").map(|v| self.rel(v));
            let ready = cond("Ready").map(|v| self.rel(v));
            let deletion = p.metadata.deletion_timestamp.as_ref().map(ts).map(|v| self.rel(v));
            let row = self.pods.entry(uid.clone()).or_insert_with(|| PodRow {
                deployment: deployment.to_string(),
                pod: p.metadata.name.clone().unwrap_or_default(),
                uid,
                created_s: None,
                scheduled_s: None,
                ready_s: None,
                deletion_s: None,
                gone_s: None,
                censored: true,
            });
            row.created_s = row.created_s.or(created);
            row.scheduled_s = row.scheduled_s.or(scheduled);
            // The first time it was seen ready: a later flap does not move it.
            row.ready_s = row.ready_s.or(ready);
            row.deletion_s = row.deletion_s.or(deletion);
        }
        for row in self.pods.values_mut().filter(|r| r.deployment == deployment && r.gone_s.is_none()) {
            if !present.contains(&row.uid) {
                row.gone_s = Some(now);
            }
        }
    }

    /// The pods, with the censored flag set for the end of the recording.
    pub fn pod_rows(&self) -> Vec<PodRow> {
        let mut rows: Vec<PodRow> = self.pods.values().cloned().collect();
        for r in &mut rows {
            r.censored = if r.deletion_s.is_some() || r.gone_s.is_some() { r.gone_s.is_none() } else { r.ready_s.is_none() };
        }
        rows.sort_by(|a, b| {
            (a.deployment.as_str(), a.created_s.unwrap_or(f64::MAX))
                .partial_cmp(&(b.deployment.as_str(), b.created_s.unwrap_or(f64::MAX)))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.pod.cmp(&b.pod))
        });
        rows
    }

    pub fn observed_csv(&self) -> Result<Vec<u8>, OutputError> {
        crate::output::csv_bytes(&self.observed, &["time_s", "deployment", "spec_replicas", "ready_replicas", "pods"])
    }

    pub fn pods_csv(&self) -> Result<Vec<u8>, OutputError> {
        crate::output::csv_bytes(
            &self.pod_rows(),
            &["deployment", "pod", "uid", "created_s", "scheduled_s", "ready_s", "deletion_s", "gone_s", "censored"],
        )
    }
}

pub fn round_ms(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Options of `autosim live record`.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub namespace: String,
    pub deployments: Vec<String>,
    pub duration: Duration,
    pub poll: Duration,
    pub out: PathBuf,
}

/// `autosim live record`: poll until the duration is over or Ctrl-C, then write the files.
pub async fn record(kube: &Kube, opts: &RecordOptions) -> Result<(), LiveError> {
    let mut watched = Vec::new();
    for d in &opts.deployments {
        let dep = kube.get_deployment(d).await.map_err(|e| kube.explain(e, "get", "deployments", Some(d)))?;
        let selector = selector_of(&dep)
            .ok_or_else(|| LiveError::cluster(format!("the Deployment {d:?} has no label selector")))?;
        watched.push(Watched { deployment: d.clone(), selector });
    }
    let t0 = Instant::now();
    let mut rec = Recorder::new(t0, super::journal::now_unix_s());
    let end = t0 + opts.duration;
    let mut interrupted = false;
    let mut k = 0u32;
    loop {
        if let Err(e) = rec.poll(kube, &watched).await {
            rec.failed_polls += 1;
            eprintln!("warning: a poll failed: {}", super::client::chain(&e));
        }
        k += 1;
        let next = t0 + opts.poll * k;
        if next >= end {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = super::replay::stop_signal() => { interrupted = true; break; }
        }
    }
    write(&rec, &opts.out).map_err(|e| LiveError::refused(format!("writing to {}: {}", opts.out.display(), super::causes(&e))))?;
    println!(
        "recorded {} poll(s) of {} Deployment(s) over {:.0}s{}; files in {}",
        k,
        watched.len(),
        t0.elapsed().as_secs_f64(),
        if interrupted { " (stopped by a signal)" } else { "" },
        opts.out.display()
    );
    Ok(())
}

/// Write `observed.csv` and `pods.csv` under `dir`.
pub fn write(rec: &Recorder, dir: &Path) -> Result<(), OutputError> {
    crate::output::write_atomic(&dir.join("observed.csv"), &rec.observed_csv()?)?;
    crate::output::write_atomic(&dir.join("pods.csv"), &rec.pods_csv()?)?;
    Ok(())
}
