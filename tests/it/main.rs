//! Integration tests, in one binary (one link step): a module per topic.
mod cli;
mod common;
mod conservation;
mod determinism;
mod explain;
#[cfg(feature = "live")]
mod fake_kube;
mod gate;
mod hpa;
mod hpa_vectors;
mod keda;
mod lifecycle;
#[cfg(feature = "live")]
mod live;
mod llm;
mod load;
mod nodes;
mod pipeline;
mod predictive;
mod reactive;
mod reports;
mod schedule;
mod sweep;
mod theory;
mod trace_cli;
