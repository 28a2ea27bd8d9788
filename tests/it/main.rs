//! Integration tests, in one binary (one link step): a module per topic.
mod cli;
mod common;
mod conservation;
mod determinism;
mod lifecycle;
mod pipeline;
mod theory;
