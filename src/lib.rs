//! autosim: a request-level discrete-event simulator of Kubernetes autoscaling.
pub mod check;
pub mod cluster;
pub mod command;
pub mod confine;
pub mod dist;
pub mod engine;
pub mod experiment;
pub mod export;
pub mod metrics;
pub mod output;
pub mod plot;
pub mod policy;
pub mod prom;
pub mod quote;
pub mod render;
pub mod report;
pub mod run;
pub mod scenario;
pub mod service;
pub mod sim;
pub mod sweep;
pub mod theory;
pub mod units;

pub use experiment::{load, parse, Experiment};
pub use scenario::Scenario;
pub use sim::Simulation;
pub mod workload;
#[cfg(feature = "live")]
pub mod live;
