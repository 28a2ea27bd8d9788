//! An experiment: the world a scenario file describes ([`Scenario`]) with the policy
//! alternatives to compare on it ([`PolicySpec`]) and the expectations `autosim check` holds
//! them to. Assembled here, above `scenario/`, `policy/` and `check/`, none of which knows the
//! others' part of the file.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::check::expect::{self, RawExpect};
use crate::check::Expectation;
use crate::policy::spec::{self, RawPolicy};
use crate::policy::PolicySpec;
use crate::render::view::PolicyBrief;
use crate::scenario::{self, ConfigError, Scenario, ScenarioError};

/// A scenario and what to run and check on it.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub scenario: Scenario,
    /// The alternatives to compare, in file order (one static alternative when the file has
    /// no `[[policies]]`).
    pub policies: Vec<PolicySpec>,
    /// `[[expect]]` tables, for `autosim check`.
    pub expectations: Vec<Expectation>,
}

/// The experiment's part of a scenario file; the world's keys are `scenario`'s to check.
#[derive(Debug, Deserialize)]
struct RawExperiment {
    #[serde(default)]
    policies: Option<Spanned<Vec<Spanned<RawPolicy>>>>,
    #[serde(default)]
    expect: Option<Vec<Spanned<RawExpect>>>,
}

/// Read and validate a scenario file, its policies and expectations.
pub fn load(path: &Path) -> Result<Experiment, ScenarioError> {
    let source = scenario::read(path)?;
    parse(&source, &scenario::base_dir(path)).map_err(|e| scenario::locate(path, &source, e))
}

/// Parse and validate an experiment from a scenario's text; files it names are relative to
/// `base_dir`.
pub fn parse(source: &str, base_dir: &Path) -> Result<Experiment, ConfigError> {
    let scenario = scenario::parse(source, base_dir)?;
    let raw: RawExperiment = toml::from_str(source).map_err(ConfigError::from)?;
    let policies = spec::validate_all(raw.policies, &scenario, base_dir)?;
    let expectations = expect::validate(raw.expect.unwrap_or_default(), &names(&policies))?;
    Ok(Experiment { scenario, policies, expectations })
}

impl Experiment {
    /// The policies' names, in order.
    pub fn policy_names(&self) -> Vec<&str> {
        names(&self.policies)
    }

    /// The index of the policy named `name`.
    pub fn policy_index(&self, name: &str) -> Option<usize> {
        self.policies.iter().position(|p| p.name == name)
    }

    /// What the reports say of each policy: its name and the kinds of its autoscalers.
    pub fn policy_briefs(&self) -> Vec<PolicyBrief> {
        self.policies
            .iter()
            .map(|p| PolicyBrief {
                name: p.name.clone(),
                pods: {
                    let mut k: Vec<&str> = p.pods.iter().map(|f| f.kind()).collect();
                    k.dedup();
                    k.join(", ")
                },
                nodes: p.nodes.as_ref().map_or("none".into(), |f| f.kind().to_string()),
            })
            .collect()
    }

    /// Expectations from a file of `[[expect]]` tables (`autosim check --expect`), for this
    /// experiment's policies.
    pub fn parse_expectations(&self, source: &str) -> Result<Vec<Expectation>, ConfigError> {
        expect::parse_file(source, &self.policy_names())
    }
}

fn names(policies: &[PolicySpec]) -> Vec<&str> {
    policies.iter().map(|p| p.name.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Experiment {
        let src = format!("name = \"x\"\nduration = \"1m\"\n{body}");
        parse(&src, Path::new(".")).unwrap_or_else(|e| panic!("{e:?}\n{src}"))
    }

    const SVC: &str = "[[services]]\nname = \"api\"\nservice_time = \"10ms\"\n";

    #[test]
    fn implicit_and_dotted_tables_are_read_like_explicit_ones() {
        let a = ok(&format!("{SVC}[services.workload.pattern]\nkind = \"constant\"\nrate = 5\n"));
        assert_eq!(a.scenario.services[0].workload.mean_rate(), 5.0);
        let b = ok(&format!("{SVC}workload.pattern = {{ kind = \"constant\", rate = 5 }}\nslo.latency = \"250ms\"\nresources.cpu = \"1\"\n"));
        assert_eq!(b.scenario.services[0].slo.latency_ns, 250_000_000);
        assert_eq!(b.scenario.services[0].cpu_request_m, 1000);
        let c = ok(&format!(
            "[[cluster.node_pools]]\nname = \"p\"\ncpu = \"2\"\nmemory = \"4Gi\"\n{SVC}workload.pattern = {{ kind = \"constant\", rate = 5 }}\n[[policies]]\nname = \"p\"\npods.kind = \"static\"\npods.overrides.api.replicas = 3\n"
        ));
        assert_eq!(c.scenario.cluster.pools[0].cpu_m, 2000);
        assert_eq!(c.policies[0].pods[0].initial_replicas(), Some(3));
    }

    #[test]
    fn overrides_apply_to_their_service_only() {
        let s = ok(&format!(
            "{SVC}workload.pattern = {{ kind = \"constant\", rate = 5 }}\n[[services]]\nname = \"worker\"\nkind = \"queue\"\nservice_time = \"1s\"\nworkload.pattern = {{ kind = \"constant\", rate = 1 }}\n[[policies]]\nname = \"p\"\n[policies.pods]\nkind = \"static\"\nreplicas = 4\n[policies.pods.overrides.worker]\nreplicas = 2\n"
        ));
        assert_eq!(s.policies[0].pods[0].initial_replicas(), Some(4));
        assert_eq!(s.policies[0].pods[1].initial_replicas(), Some(2));
    }

    #[test]
    fn a_world_without_policies_runs_one_static_alternative() {
        let e = ok(&format!("{SVC}workload.pattern = {{ kind = \"constant\", rate = 5 }}\n"));
        assert_eq!(e.policy_names(), ["static"]);
        assert!(e.expectations.is_empty());
    }
}
