//! `autosim explain hpa`: one reconcile of an HPA on a metrics snapshot, step by step.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;

use autosim::policy::hpa::controller::ControllerConfig;
use autosim::policy::hpa::explain;
use autosim::scenario;

use super::BadInput;

#[derive(Subcommand)]
pub(crate) enum ExplainCommand {
    /// Why the HPA scales to N: one reconcile of an HPA on a metrics snapshot, step by step.
    Hpa {
        /// The HPA: a Kubernetes manifest (YAML, several documents allowed) or a TOML file of
        /// a scenario's `[policies.pods]` table.
        spec: PathBuf,
        /// What the controller read: replicas, pods, metric values, and optionally its past
        /// recommendations and scale events (TOML; see docs/scenario.md).
        snapshot: PathBuf,
        /// Which HPA of the manifest: its scaleTargetRef.name or metadata.name.
        #[arg(long, value_name = "NAME")]
        target: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn explain_hpa(spec: &Path, snapshot: &Path, target: Option<&str>, json: bool) -> Result<()> {
    let is_toml = spec.extension().is_some_and(|e| e == "toml");
    if is_toml && std::fs::read_to_string(spec).ok().and_then(|t| scenario::file_kind(&t)) == Some(scenario::FileKind::Scenario) {
        return Err(BadInput(format!(
            "{}: this is a whole scenario; `explain hpa` takes an HPA manifest (YAML) or a TOML file holding one policy's pods table (kind = \"hpa\", min_replicas, max_replicas, metrics, ...): copy the `[policies.pods]` table of the HPA you mean into a file of its own",
            spec.display()
        ))
        .into());
    }
    let report = explain::explain_files(spec, snapshot, target, &ControllerConfig::default())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&explain::render_json(&report))?);
    } else {
        print!("{}", explain::render_text(&report));
    }
    Ok(())
}
