//! Policy alternatives as a scenario file names them: `[[policies]]` tables as written, and
//! their validation into [`PolicySpec`]s through the registry of kinds in [`super`].

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::{Kind, NodeContext, PodContext, PolicyFactory, NODE_POLICIES, POD_POLICIES};
use crate::scenario::params::{ParamMap, Params};
use crate::scenario::{ConfigError, Scenario};

/// One alternative to compare: a pod autoscaler per service, and optionally a node autoscaler.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    pub name: String,
    pub description: Option<String>,
    /// One factory per service, in service order.
    pub pods: Vec<Arc<dyn PolicyFactory>>,
    pub nodes: Option<Arc<dyn PolicyFactory>>,
}

/// `[[policies]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub pods: Option<Spanned<ParamMap>>,
    #[serde(default)]
    pub nodes: Option<Spanned<ParamMap>>,
}

/// Validate the `policies` array of a scenario (`None`: the file has none, and the run has
/// one static alternative).
pub fn validate_all(policies: Option<Spanned<Vec<Spanned<RawPolicy>>>>, sc: &Scenario, base_dir: &Path) -> Result<Vec<PolicySpec>, ConfigError> {
    let policies = match policies {
        None => vec![],
        Some(p) => {
            if p.get_ref().is_empty() {
                return Err(ConfigError::at(p.span(), "`policies` is empty: expected at least one [[policies]] table, or none at all for a static run"));
            }
            p.into_inner()
        }
    };
    let mut specs = Vec::new();
    let mut policy_names = BTreeSet::new();
    for p in policies {
        let name_span = p.get_ref().name.span();
        let spec = validate(p.into_inner(), sc, base_dir)?;
        if !policy_names.insert(spec.name.clone()) {
            return Err(ConfigError::at(name_span, format!("duplicate policy name {:?}: policy names must be unique (each names a report folder)", spec.name)));
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        // No policies: one static alternative.
        let empty = ParamMap::default();
        let mut pods = Vec::new();
        for s in 0..sc.services.len() {
            let mut params = Params::new(&empty, None, 0..0, "static".into());
            let ctx = PodContext { service: s, scenario: sc, base_dir };
            pods.push((super::fixed::parse_pods)(&mut params, &ctx)?);
        }
        specs.push(PolicySpec { name: "static".into(), description: None, pods, nodes: None });
    }
    Ok(specs)
}

fn kind_of<F>(map: &Spanned<ParamMap>, kinds: &'static [Kind<F>], what: &str) -> Result<&'static Kind<F>, ConfigError> {
    let names: Vec<_> = kinds.iter().map(|k| format!("\"{}\"", k.name)).collect();
    let Some(k) = map.get_ref().fields.get("kind") else {
        return Err(ConfigError::at(map.span(), format!("{what}: missing `kind`, expected one of {}", names.join(", "))));
    };
    let Some(name) = k.get_ref().as_str() else {
        return Err(ConfigError::at(k.span(), format!("{what}: `kind` must be a string, one of {}", names.join(", "))));
    };
    super::find(kinds, name).ok_or_else(|| ConfigError::at(k.span(), format!("{what}: unknown kind {name:?}, expected one of {}", names.join(", "))))
}

fn validate(p: RawPolicy, sc: &Scenario, base_dir: &Path) -> Result<PolicySpec, ConfigError> {
    let RawPolicy { name, description, pods, nodes } = p;
    let pname = name.get_ref().clone();
    if pname.is_empty() || !pname.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') || pname.starts_with('.') {
        return Err(ConfigError::at(
            name.span(),
            format!("invalid policy name {pname:?}: expected letters, digits, '-', '_' or '.' (it names the policy's report folder)"),
        ));
    }
    let pods = match &pods {
        None => static_pods(sc, base_dir, &pname, name.span())?,
        Some(map) => pod_policies(map, sc, base_dir, &pname)?,
    };
    let nodes = match &nodes {
        None => None,
        Some(map) => Some(node_policy(map, sc, base_dir, &pname)?),
    };
    Ok(PolicySpec { name: pname, description, pods, nodes })
}

/// A policy that names no pod autoscaler keeps every service's replicas.
fn static_pods(sc: &Scenario, base_dir: &Path, pname: &str, span: Range<usize>) -> Result<Vec<Arc<dyn PolicyFactory>>, ConfigError> {
    let empty = ParamMap::default();
    (0..sc.services.len())
        .map(|s| {
            let mut params = Params::new(&empty, None, span.clone(), format!("policy {pname:?}"));
            super::fixed::parse_pods(&mut params, &PodContext { service: s, scenario: sc, base_dir })
        })
        .collect()
}

/// `[policies.pods]`: one factory per service, with its `overrides`.
fn pod_policies(map: &Spanned<ParamMap>, sc: &Scenario, base_dir: &Path, pname: &str) -> Result<Vec<Arc<dyn PolicyFactory>>, ConfigError> {
    let what = format!("policy {pname:?} pods");
    let kind = kind_of(map, POD_POLICIES, &what)?;
    for (svc, o) in &map.get_ref().overrides {
        if !sc.services.iter().any(|s| &s.name == svc) {
            let known: Vec<_> = sc.services.iter().map(|s| format!("{:?}", s.name)).collect();
            return Err(ConfigError::at(o.span(), format!("{what}: override for service {svc:?}, which does not exist (services: {})", known.join(", "))));
        }
        if o.get_ref().fields.contains_key("kind") {
            let k = &o.get_ref().fields["kind"];
            return Err(ConfigError::at(k.span(), format!("{what}: an override cannot change `kind`; overrides adjust the settings of kind {:?}", kind.name)));
        }
    }
    let mut out = Vec::with_capacity(sc.services.len());
    for (s, svc) in sc.services.iter().enumerate() {
        let overrides = map.get_ref().overrides.get(&svc.name).map(|o| o.get_ref());
        let label = format!("policy {pname:?} pods (kind = {:?}, service {:?})", kind.name, svc.name);
        let mut params = Params::new(map.get_ref(), overrides, map.span(), label);
        out.push((kind.parse)(&mut params, &PodContext { service: s, scenario: sc, base_dir })?);
        params.finish()?;
    }
    Ok(out)
}

/// `[policies.nodes]`: the node autoscaler.
fn node_policy(map: &Spanned<ParamMap>, sc: &Scenario, base_dir: &Path, pname: &str) -> Result<Arc<dyn PolicyFactory>, ConfigError> {
    let what = format!("policy {pname:?} nodes");
    let kind = kind_of(map, NODE_POLICIES, &what)?;
    if let Some((svc, o)) = map.get_ref().overrides.iter().next() {
        return Err(ConfigError::at(o.span(), format!("{what}: `overrides.{svc}`: a node autoscaler has no per-service overrides")));
    }
    let mut params = Params::new(map.get_ref(), None, map.span(), format!("{what} (kind = {:?})", kind.name));
    let f = (kind.parse)(&mut params, &NodeContext { scenario: sc, base_dir })?;
    params.finish()?;
    Ok(f)
}
