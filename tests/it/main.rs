//! Integration tests, in one binary (one link step): a module per topic.
mod cli;
mod common;
mod conservation;
mod determinism;
mod explain;
mod hpa;
mod hpa_vectors;
mod keda;
mod lifecycle;
mod llm;
mod load;
mod pipeline;
mod predictive;
mod reactive;
mod schedule;
mod theory;
mod trace_cli;
