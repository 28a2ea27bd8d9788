//! `kind = "static"`: a fixed replica count (pods) or a fixed cluster (nodes). The baseline
//! every other policy is compared against.

use std::sync::Arc;

use super::{Decision, NodeContext, Observation, PodContext, Policy, PolicyFactory, Target, Verdict};
use crate::engine::{SimTime, NEVER};
use crate::scenario::params::Params;
use crate::scenario::ConfigError;

#[derive(Debug, Clone)]
struct StaticPods {
    service: usize,
    replicas: u32,
}

/// `replicas` (default: the service's `replicas`).
pub fn parse_pods(p: &mut Params, ctx: &PodContext<'_>) -> Result<Arc<dyn PolicyFactory>, ConfigError> {
    let service = ctx.service;
    let replicas = p.get_or("replicas", ctx.scenario.services[service].replicas)?;
    if replicas > crate::scenario::MAX_REPLICAS {
        return Err(ConfigError::at(
            p.span_of("replicas"),
            format!("{}: `replicas` = {replicas} is more than autosim simulates ({})", p.what, crate::scenario::MAX_REPLICAS),
        ));
    }
    Ok(Arc::new(StaticPods { service, replicas }))
}

impl PolicyFactory for StaticPods {
    fn kind(&self) -> &'static str {
        "static"
    }
    fn build(&self) -> Box<dyn Policy> {
        Box::new(self.clone())
    }
    fn initial_replicas(&self) -> Option<u32> {
        Some(self.replicas)
    }
}

impl Policy for StaticPods {
    fn first_wake(&self) -> SimTime {
        0
    }

    fn wake(&mut self, obs: &Observation<'_>, out: &mut Vec<Decision>) -> SimTime {
        let current = obs.deployment(self.service).spec_replicas;
        let apply = current != self.replicas;
        out.push(Decision {
            target: Target::Deployment(self.service),
            from: current,
            to: self.replicas,
            verdict: if apply { Verdict::Apply } else { Verdict::Hold },
            reason: format!("static: {} replicas", self.replicas),
        });
        NEVER
    }
}

#[derive(Debug, Clone)]
struct StaticNodes;

/// No settings: the node pools keep the nodes they start with.
pub fn parse_nodes(_p: &mut Params, _ctx: &NodeContext<'_>) -> Result<Arc<dyn PolicyFactory>, ConfigError> {
    Ok(Arc::new(StaticNodes))
}

impl PolicyFactory for StaticNodes {
    fn kind(&self) -> &'static str {
        "static"
    }
    fn build(&self) -> Box<dyn Policy> {
        Box::new(StaticNodes)
    }
}

impl Policy for StaticNodes {
    fn first_wake(&self) -> SimTime {
        NEVER
    }
    fn wake(&mut self, _obs: &Observation<'_>, _out: &mut Vec<Decision>) -> SimTime {
        NEVER
    }
}
