//! The Kubernetes HorizontalPodAutoscaler (`autoscaling/v2`), as upstream's controller computes it.
//!
//! This is the algorithmic core only: plain data in, plain data out, no I/O, no clocks, no
//! globals. The engine supplies what the real controller would read (the target's scale, the pods
//! its selector lists, one metrics observation per metric of the spec) at each sync, every
//! [`ControllerConfig::sync_period_ns`], and applies the replica count that comes back.
//!
//! - [`spec`]: the spec types, field for field, with the API server's defaults and validation.
//! - [`calc`]: the replica calculator: pod grouping (ignored / unready / missing / ready), the
//!   Utilization, AverageValue and Value computations, the tolerance.
//! - [`behavior`]: the normalization: the legacy stabilization and scale-up limit, and the
//!   `behavior` path's windows, policies and scale events.
//! - [`controller`]: [`HpaController`], one HPA with its in-memory history, whose
//!   [`HpaController::reconcile`] takes the steps of `reconcileAutoscaler` in order and returns an
//!   [`Explanation`] of each.
//!
//! Sources: `pkg/controller/podautoscaler/{horizontal.go,replica_calculator.go}` and
//! `pkg/apis/autoscaling/v2/defaults.go` of kubernetes/kubernetes (recent master: per-direction
//! tolerances, missing pods at `max(100 %, target)` on a scale-down, Pending pods unready,
//! Succeeded pods ignored). The upstream test vectors in `tests/data/hpa-vectors.json` hold it to
//! upstream's expectations.
//!
//! Conventions and assumptions:
//! - Values are `i64` milli-units, ratios `f64`, computed in Go's order; replica counts are
//!   `i32` as upstream's. A float that does not fit an `i32` saturates (Go's conversion is
//!   undefined there); integer sums wrap as Go's do.
//! - Instants are [`crate::engine::SimTime`] nanoseconds; windows and periods keep the spec's
//!   seconds. "Older than" comparisons are exact, with upstream's strict or inclusive bound each.
//! - No `behavior` means the legacy path, not the default behavior (from 1 replica the legacy
//!   limit allows 4, the default behavior 5).
//! - The scale update is assumed to succeed. With `minReplicas: 0` (alpha gate `HPAScaleToZero`)
//!   and 0 replicas the metrics are computed, as released controllers do; the `ScaledToZero`
//!   condition that recent master adds around this is not modelled.

pub mod behavior;
pub mod calc;
pub mod controller;
pub mod explain;
pub mod policy;
pub mod spec;

pub use behavior::{LimitReason, ScaleEvent, ScalingRules, TimestampedRecommendation, WindowEntry};
pub use calc::{
    ConditionStatus, ContainerRequests, PodGroup, PodInfo, PodMetric, PodMetrics, PodPhase, Proposal, Readiness,
    ReadyCondition, ResourceList, Tolerances,
};
pub use controller::{
    Combined, ControllerConfig, Explanation, HpaController, MetricError, MetricEvaluation, MetricObservation,
    Normalization, Outcome, ReconcileInput, Stage,
};
pub use spec::{
    HpaBehavior, HpaScalingPolicy, HpaScalingPolicyType, HpaScalingRules, HpaSpec, MetricSourceType, MetricSpec,
    MetricTarget, MetricTargetType, Quantity, ScalingPolicySelect,
};
