//! `autosim explain hpa`: one reconcile of an HPA on a snapshot of what the controller read,
//! told step by step ("why did my HPA scale to 7?").
//!
//! Nothing here decides anything: the spec and the snapshot become exactly the inputs of
//! [`HpaController::reconcile`] (the code the simulation runs), and the text and JSON are views of
//! the [`Explanation`] it returns, with the recorded recommendations and scale events it was
//! given. Every number printed is one the controller computed.
//!
//! The snapshot is a small TOML file (see `docs/scenario.md`, "autosim explain hpa"): the target's
//! replicas, the pods its selector lists (phase, readiness, age, requests, per-pod samples), the
//! Object and External metric values, the metrics whose fetch failed, and optionally the
//! controller's memory (recommendations, scale events) and flags. Times are ages: how long ago.

mod json;
mod snapshot;
mod spec;
mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;
use serde::Deserialize;
use serde_json::{json, Value};
use toml::Spanned;
use super::behavior::{in_period, LimitReason, PolicyBound, ScaleEvent, ScaleLimit, TimestampedRecommendation, WindowEntry};
use super::calc::{
    Basis, ContainerRequests, CurrentValue, MissingAs, PodBasis, PodGroup, PodInfo, PodMetric, PodMetrics, PodPhase,
    PodStep, Proposal, ReadyCondition, ConditionStatus, RebalanceOutcome, ValueStep,
};
use super::controller::{
    Combined, ControllerConfig, Explanation, HpaController, MetricEvaluation, MetricObservation, Normalization, Outcome,
    ReconcileInput, Stage,
};
use super::policy::{hpas_in_manifest, ControllerFlags};
use super::spec::{
    CrossVersionObjectReference, HpaBehavior, HpaScalingPolicyType, HpaSpec, MetricSourceType, MetricSpec, MetricTarget,
    MetricTargetType, Quantity, ScalingPolicySelect,
};
use crate::engine::SimTime;
use crate::policy::manifest::Manifest;
use crate::scenario::{ConfigError, ScenarioError};
use crate::units::Duration;

const NS_PER_S: u64 = 1_000_000_000;

/// A mistake in the spec or the snapshot; the message names the file (and line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExplainError(pub String);

fn located(path: &Path, text: &str, e: ConfigError) -> ExplainError {
    ExplainError(ScenarioError::locate(path, text, e).to_string())
}

pub use json::render_json;
pub use snapshot::{parse_snapshot, read_snapshot, snapshot_key, Snapshot};
pub use spec::{load_spec, spec_from_manifest, LoadedSpec};
pub use text::render_text;
use spec::*;
use text::*;

// ---------------------------------------------------------------------------------------------
// The reconcile
// ---------------------------------------------------------------------------------------------

/// One explained reconcile: its inputs and the controller's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    pub hpa: LoadedSpec,
    /// The spec with the API server's defaults, as the controller used it.
    pub spec: HpaSpec,
    pub config: ControllerConfig,
    pub snapshot: Snapshot,
    pub outcome: Outcome,
}

/// The controller settings for a spec and a snapshot: `base`, then the TOML spec's `controller`
/// flags, then the snapshot's.
pub fn config_for(hpa: &LoadedSpec, base: &ControllerConfig) -> Result<ControllerConfig, ExplainError> {
    let mut c = base.clone();
    if let Some(f) = &hpa.flags {
        f.apply(&mut c).map_err(|e| ExplainError(format!("{}: {e}", hpa.source)))?;
    }
    Ok(c)
}

/// Read both files and run one reconcile. `base` is the controller's settings before any flag of
/// the files (upstream's defaults for the command).
pub fn explain_files(
    spec_path: &Path,
    snapshot_path: &Path,
    select: Option<&str>,
    base: &ControllerConfig,
) -> Result<Report, ExplainError> {
    let hpa = load_spec(spec_path, select)?;
    let config = config_for(&hpa, base)?;
    let defaulted = hpa.spec.with_api_defaults();
    let snapshot = read_snapshot(snapshot_path, &defaulted, &config)?;
    Ok(explain(hpa, snapshot, config))
}

/// Run the controller once on the snapshot (`config` before the snapshot's own flags).
pub fn explain(hpa: LoadedSpec, snapshot: Snapshot, mut config: ControllerConfig) -> Report {
    if let Some(f) = &snapshot.flags {
        // Checked when the snapshot was read.
        let _ = f.apply(&mut config);
    }
    let mut ctrl = HpaController::new(&hpa.spec, config.clone()).with_history(
        snapshot.recommendations.clone(),
        snapshot.scale_up_events.clone(),
        snapshot.scale_down_events.clone(),
    );
    let outcome = ctrl.reconcile(&ReconcileInput {
        now: snapshot.now,
        spec_replicas: snapshot.spec_replicas,
        status_replicas: snapshot.status_replicas,
        pods: &snapshot.pods,
        metrics: &snapshot.metrics,
    });
    Report { spec: ctrl.spec().clone(), hpa, config, snapshot, outcome }
}
