//! The HPA to explain: a Kubernetes manifest, or the TOML of a scenario's `[policies.pods]` table.

use super::*;

/// The HPA to explain.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// `metadata.name` (a TOML spec: the file's stem).
    pub name: String,
    /// `scaleTargetRef` (kind and name), when the spec names it.
    pub target: Option<CrossVersionObjectReference>,
    /// As written (the controller applies the API server's defaults).
    pub spec: HpaSpec,
    /// The TOML spec's `controller` flags.
    pub flags: Option<ControllerFlags>,
    /// Where it was read (`file` or `file:line`).
    pub source: String,
}

/// Read the HPA from `path`: a `.toml` file is a scenario's `[policies.pods]` table (`kind =
/// "hpa"` optional, `min_replicas`, `max_replicas`, `metrics`, `behavior`, `controller`, or
/// `manifest`); anything else is a Kubernetes YAML (or JSON) manifest. `select` picks one of
/// several HPAs by `scaleTargetRef.name` or `metadata.name`.
pub fn load_spec(path: &Path, select: Option<&str>) -> Result<LoadedSpec, ExplainError> {
    let text = read(path, "spec")?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) {
        spec_from_toml(path, &text, select)
    } else {
        spec_from_manifest(&Manifest::from_text(&path.display().to_string(), &text), select)
    }
}

pub(super) fn read(path: &Path, what: &str) -> Result<String, ExplainError> {
    std::fs::read_to_string(path).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::NotFound { "no such file".to_string() } else { e.to_string() };
        ExplainError(format!("{}: cannot read the {what}: {why}", path.display()))
    })
}

/// Pick the HPA of a manifest and check its spec.
pub fn spec_from_manifest(m: &Manifest, select: Option<&str>) -> Result<LoadedSpec, ExplainError> {
    let all = hpas_in_manifest(m).map_err(ExplainError)?;
    let list = || {
        all.iter().map(|h| format!("{} (scales {}, at {})", h.name, h.target, h.place)).collect::<Vec<_>>().join(", ")
    };
    if all.is_empty() {
        return Err(ExplainError(format!("{}: no HorizontalPodAutoscaler in the file", m.path)));
    }
    let chosen = match select {
        None if all.len() == 1 => &all[0],
        None => {
            return Err(ExplainError(format!(
                "{} holds {} HorizontalPodAutoscalers: {}; choose one with --target NAME (its scaleTargetRef.name or \
                 metadata.name)",
                m.path,
                all.len(),
                list()
            )))
        }
        Some(n) => {
            let by_target: Vec<_> = all.iter().filter(|h| h.target == n).collect();
            match by_target.as_slice() {
                [one] => one,
                [first, second, ..] => {
                    return Err(ExplainError(format!(
                        "{}: two HorizontalPodAutoscalers scale {n:?} ({} at {}, {} at {}); choose one by its \
                         metadata.name",
                        m.path, first.name, first.place, second.name, second.place
                    )))
                }
                [] => match all.iter().find(|h| h.name == n) {
                    Some(h) => h,
                    None => {
                        return Err(ExplainError(format!(
                            "--target {n:?}: {} has no HorizontalPodAutoscaler that scales or is named {n:?} (it has: \
                             {})",
                            m.path,
                            list()
                        )))
                    }
                },
            }
        }
    };
    if let Err(errs) = chosen.spec.validate() {
        let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
        return Err(ExplainError(format!(
            "{}: HorizontalPodAutoscaler {:?}: invalid spec: {}",
            chosen.place,
            chosen.name,
            list.join("; ")
        )));
    }
    Ok(LoadedSpec {
        name: chosen.name.clone(),
        target: chosen.spec.scale_target_ref.clone(),
        spec: chosen.spec.clone(),
        flags: None,
        source: chosen.place.clone(),
    })
}

/// A scenario's `[policies.pods]` table of `kind = "hpa"`, as its own file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTomlSpec {
    #[serde(default)]
    kind: Option<Spanned<String>>,
    #[serde(default)]
    manifest: Option<Spanned<String>>,
    #[serde(default, alias = "scaleTargetRef")]
    scale_target_ref: Option<CrossVersionObjectReference>,
    #[serde(default, alias = "minReplicas")]
    min_replicas: Option<Spanned<i32>>,
    #[serde(default, alias = "maxReplicas")]
    max_replicas: Option<Spanned<i32>>,
    #[serde(default)]
    metrics: Option<Spanned<Vec<MetricSpec>>>,
    #[serde(default)]
    behavior: Option<Spanned<HpaBehavior>>,
    #[serde(default)]
    controller: Option<Spanned<ControllerFlags>>,
    /// Metric-name rules of a simulation; the snapshot gives the values, so they are not used.
    #[serde(default, rename = "adapter")]
    _adapter: Option<Spanned<toml::Value>>,
}

pub(super) fn spec_from_toml(path: &Path, text: &str, select: Option<&str>) -> Result<LoadedSpec, ExplainError> {
    let raw: RawTomlSpec = toml::from_str(text).map_err(|e| located(path, text, ConfigError::from(e)))?;
    let RawTomlSpec { kind, manifest, scale_target_ref, min_replicas, max_replicas, metrics, behavior, controller, _adapter } =
        raw;
    let at = |span: Range<usize>, msg: String| located(path, text, ConfigError::at(span, msg));
    if let Some(k) = &kind {
        if k.get_ref() != "hpa" {
            return Err(at(k.span(), format!("`kind` = {:?}: `autosim explain hpa` explains `kind = \"hpa\"`", k.get_ref())));
        }
    }
    let flags = controller.map(Spanned::into_inner);
    let stem = path.file_stem().map_or_else(|| "hpa".to_string(), |s| s.to_string_lossy().into_owned());
    if let Some(file) = manifest {
        for (key, span) in [
            ("min_replicas", min_replicas.as_ref().map(Spanned::span)),
            ("max_replicas", max_replicas.as_ref().map(Spanned::span)),
            ("metrics", metrics.as_ref().map(Spanned::span)),
            ("behavior", behavior.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                return Err(at(span, format!("`{key}` comes from the manifest {:?}; set it there, or drop `manifest`", file.get_ref())));
            }
        }
        let base = path.parent().unwrap_or(Path::new(""));
        let m = Manifest::read(base, file.get_ref()).map_err(|e| at(file.span(), e.to_string()))?;
        let mut s = spec_from_manifest(&m, select)?;
        s.flags = flags;
        return Ok(s);
    }
    let Some(max) = max_replicas else {
        return Err(at(0..0, "missing `max_replicas` (or `manifest = \"hpa.yaml\"`)".to_string()));
    };
    let spec = HpaSpec {
        scale_target_ref: scale_target_ref.clone(),
        min_replicas: min_replicas.as_ref().map(|m| *m.get_ref()),
        max_replicas: *max.get_ref(),
        metrics: metrics.as_ref().map(|m| m.get_ref().clone()).unwrap_or_default(),
        behavior: behavior.as_ref().map(|b| b.get_ref().clone()),
    };
    if let Err(errs) = spec.validate() {
        let first = &errs[0].path;
        let span = if first.starts_with("minReplicas") {
            min_replicas.as_ref().map(Spanned::span)
        } else if first.starts_with("maxReplicas") {
            Some(max.span())
        } else if first.starts_with("metrics") {
            metrics.as_ref().map(Spanned::span)
        } else {
            behavior.as_ref().map(Spanned::span)
        };
        let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
        return Err(at(span.unwrap_or(0..0), format!("invalid HPA spec: {}", list.join("; "))));
    }
    Ok(LoadedSpec { name: stem, target: scale_target_ref, spec, flags, source: path.display().to_string() })
}
