//! Integration tests, in one binary (one link step): a module per topic.
mod cli;
mod common;
mod conservation;
mod determinism;
mod explain;
mod hpa_vectors;
mod lifecycle;
mod hpa;
mod load;
mod pipeline;
mod theory;
mod trace_cli;
