//! Integration tests, in one binary (one link step): a module per topic.
mod chains;
mod cli;
mod common;
mod conservation;
mod docs;
mod determinism;
mod elasticity;
mod explain;
#[cfg(feature = "live")]
mod fake_kube;
mod first_use;
mod gate;
mod hpa;
mod hpa_vectors;
mod keda;
mod layers;
mod lifecycle;
#[cfg(feature = "live")]
mod live;
mod llm;
mod load;
mod long_runs;
mod nodes;
mod optional_series;
mod pipeline;
mod promql_diff;
mod predictive;
mod prom_server;
mod prometheus;
mod progress;
mod reactive;
mod reports;
mod schedule;
mod security;
mod sweep;
mod theory;
mod trace_cli;
