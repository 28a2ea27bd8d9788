//! `journal.json`: the replicas each Deployment had before a replay, written before the first
//! patch, and putting them back: at the end, on an error, on Ctrl-C or SIGTERM, or after a hard
//! kill with `autosim live restore DIR`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::client::Kube;
use super::LiveError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Saved {
    pub deployment: String,
    /// `spec.replicas` before the replay touched it.
    pub replicas: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub kubeconfig: PathBuf,
    pub context: String,
    pub server: String,
    pub namespace: String,
    /// Unix seconds when the journal was written (before the first patch).
    pub written_at_unix_s: f64,
    pub deployments: Vec<Saved>,
    /// Unix seconds of the last restore, if one was made.
    #[serde(default)]
    pub restored_at_unix_s: Option<f64>,
}

pub const FILE: &str = "journal.json";

pub fn now_unix_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl Journal {
    /// Write it whole to `dir/journal.json`.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, LiveError> {
        let path = dir.join(FILE);
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| LiveError::failed(&e))?;
        bytes.push(b'\n');
        crate::output::write_atomic(&path, &bytes)?;
        Ok(path)
    }

    pub fn read(dir: &Path) -> Result<Journal, LiveError> {
        let path = if dir.is_file() { dir.to_path_buf() } else { dir.join(FILE) };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| LiveError::refused(format!("{}: cannot read the journal: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| LiveError::refused(format!("{}: not an autosim journal: {e}", path.display())))
    }
}

/// One restore call, for `requests.csv`.
#[derive(Debug, Clone)]
pub struct Restored {
    pub deployment: String,
    pub replicas: u32,
    pub result: Result<(), String>,
}

/// Put every saved Deployment back to its replicas: one plain patch each (a retry once on a
/// transient failure). Returns what happened to each; never stops at the first failure.
pub async fn restore(kube: &Kube, journal: &Journal) -> Vec<Restored> {
    let mut out = Vec::new();
    for s in &journal.deployments {
        let mut r = kube.patch_scale(&s.deployment, s.replicas, false).await;
        if let Err(e) = &r {
            if super::client::is_retryable(e) {
                r = kube.patch_scale(&s.deployment, s.replicas, false).await;
            }
        }
        let result = r.map(|_| ()).map_err(|e| kube.explain(e, "patch", "deployments/scale", Some(&s.deployment)).message);
        out.push(Restored { deployment: s.deployment.clone(), replicas: s.replicas, result });
    }
    out
}
