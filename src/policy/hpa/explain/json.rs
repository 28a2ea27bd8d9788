//! The explanation as JSON, for tools.

use super::*;

pub(super) fn age_s(now: SimTime, t: SimTime) -> f64 {
    now.saturating_sub(t) as f64 / NS_PER_S as f64
}

pub(super) fn target_json(t: &Option<MetricTarget>) -> Value {
    match t {
        None => Value::Null,
        Some(t) => json!({
            "type": t.r#type.as_str(),
            "average_utilization": t.average_utilization,
            "average_value_milli": t.average_value.map(Quantity::milli),
            "value_milli": t.value.map(Quantity::milli),
        }),
    }
}

pub(super) fn proposal_json(p: &Proposal) -> Value {
    let current = match p.current {
        CurrentValue::Utilization { percent, average_milli } => {
            json!({ "utilization_percent": percent, "average_milli": average_milli })
        }
        CurrentValue::AverageValue { milli } => json!({ "average_value_milli": milli }),
        CurrentValue::Value { milli } => json!({ "value_milli": milli }),
    };
    let basis = match &p.basis {
        Basis::Pods(b) => {
            let pods: Vec<Value> = b
                .groups
                .pods
                .iter()
                .map(|(name, g)| {
                    let why = match g {
                        PodGroup::Unready(w) => Some(w.to_string()),
                        PodGroup::Ignored(w) => Some(w.to_string()),
                        _ => None,
                    };
                    json!({ "pod": &**name, "group": g.as_str(), "why": why })
                })
                .collect();
            let step = match &b.step {
                PodStep::Direct { within_tolerance } => json!({ "kind": "direct", "within_tolerance": within_tolerance }),
                PodStep::Rebalanced(rb) => {
                    let (missing_as, value) = match rb.missing_as {
                        MissingAs::NotFilled => ("not_filled", Value::Null),
                        MissingAs::Zero => ("zero", json!(0)),
                        MissingAs::PercentOfRequest(pc) => ("percent_of_request", json!(pc)),
                        MissingAs::Target(t) => ("target_milli", json!(t)),
                    };
                    let outcome = match rb.outcome {
                        RebalanceOutcome::WithinTolerance => json!({ "kind": "within_tolerance" }),
                        RebalanceOutcome::DirectionFlip => json!({ "kind": "direction_flip" }),
                        RebalanceOutcome::WrongWay { computed } => json!({ "kind": "wrong_way", "computed": computed }),
                        RebalanceOutcome::Scaled => json!({ "kind": "scaled" }),
                    };
                    json!({
                        "kind": "rebalanced",
                        "missing_as": missing_as,
                        "missing_value": value,
                        "unready_as_zero": rb.unready_as_zero,
                        "new_ratio": rb.new_ratio,
                        "samples": rb.samples,
                        "outcome": outcome,
                    })
                }
            };
            json!({
                "kind": "pods",
                "ready": b.groups.ready_count,
                "unready": b.groups.unready_count(),
                "missing": b.groups.missing_count(),
                "ignored": b.groups.ignored_count(),
                "unknown_pod_samples": b.unknown_pod_samples,
                "pods": pods,
                "step": step,
            })
        }
        Basis::Value(b) => {
            let step = match b.step {
                ValueStep::WithinTolerance => json!({ "kind": "within_tolerance" }),
                ValueStep::Scaled { ready_pods } => json!({ "kind": "scaled", "ready_pods": ready_pods }),
                ValueStep::FromZero => json!({ "kind": "from_zero" }),
            };
            json!({ "kind": "value", "step": step })
        }
        Basis::AverageValue(b) => json!({
            "kind": "average_value",
            "status_replicas": b.status_replicas,
            "usage_milli": b.usage_milli,
            "target_milli": b.target_milli,
            "within_tolerance": b.within_tolerance,
        }),
    };
    json!({ "replicas": p.replicas, "usage_ratio": p.usage_ratio, "current": current, "basis": basis })
}

pub(super) fn window_json(now: SimTime, w: &[WindowEntry]) -> Value {
    Value::Array(
        w.iter()
            .map(|w| {
                json!({
                    "replicas": w.recommendation.replicas,
                    "age_s": age_s(now, w.recommendation.timestamp),
                    "in_up_window": w.in_up_window,
                    "in_down_window": w.in_down_window,
                })
            })
            .collect(),
    )
}

pub(super) fn limit_json(l: &ScaleLimit) -> Value {
    json!({
        "select_policy": l.select_policy.as_str(),
        "limit": l.limit,
        "policies": l.policies.iter().map(|b| json!({
            "type": b.policy.r#type.as_str(),
            "value": b.policy.value,
            "period_seconds": b.policy.period_seconds,
            "added": b.added,
            "removed": b.deleted,
            "period_start": b.period_start,
            "bound": b.bound,
        })).collect::<Vec<_>>(),
    })
}

/// The explanation for machines: every intermediate value, with ages in seconds.
pub fn render_json(r: &Report) -> Value {
    let e = &r.outcome.explanation;
    let now = r.snapshot.now;
    let c = &r.config;
    let mut root = json!({
        "hpa": {
            "name": r.hpa.name,
            "source": r.hpa.source,
            "target": r.hpa.target.as_ref().map(|t| json!({ "kind": t.kind, "name": t.name })),
            "min_replicas": e.min_replicas,
            "max_replicas": e.max_replicas,
            "behavior": !e.legacy,
        },
        "controller": {
            "tolerance": c.tolerance,
            "cpu_initialization_period_s": c.cpu_initialization_period_ns as f64 / NS_PER_S as f64,
            "initial_readiness_delay_s": c.initial_readiness_delay_ns as f64 / NS_PER_S as f64,
            "downscale_stabilization_s": c.downscale_stabilization_ns as f64 / NS_PER_S as f64,
            "configurable_tolerance": c.configurable_tolerance,
        },
        "spec_replicas": e.spec_replicas,
        "status_replicas": e.status_replicas,
        "pods_listed": r.snapshot.pods.len(),
        "initial_recommendation": e.initial_recommendation,
        "stage": match &e.stage {
            Stage::ScalingDisabled => "scaling_disabled",
            Stage::AboveMax => "above_max",
            Stage::BelowMin => "below_min",
            Stage::Metrics(_) => "metrics",
        },
        "final_replicas": e.final_replicas,
        "rescaled": r.outcome.rescaled,
        "reason": e.rescale_reason,
        "summary": in_short(r),
    });
    if let Stage::Metrics(m) = &e.stage {
        let metrics: Vec<Value> = m
            .metrics
            .iter()
            .zip(&r.spec.metrics)
            .map(|(ev, spec)| {
                let mut v = json!({
                    "name": ev.name,
                    "type": spec.r#type.as_str(),
                    "key": snapshot_key(spec),
                    "target": target_json(&ev.target),
                });
                match &ev.result {
                    Ok(p) => {
                        v["valid"] = json!(true);
                        v["proposal"] = proposal_json(p);
                    }
                    Err(err) => {
                        v["valid"] = json!(false);
                        v["error"] = json!({ "reason": err.reason, "message": err.message });
                    }
                }
                v
            })
            .collect();
        root["tolerance"] = json!({ "scale_down": m.tolerances.scale_down, "scale_up": m.tolerances.scale_up });
        root["metrics"] = Value::Array(metrics);
        root["combined"] = match &m.combined {
            Combined::Proposal { replicas, metric, invalid } => {
                json!({ "scale": true, "replicas": replicas, "metric": metric, "invalid": invalid })
            }
            Combined::NoScale { invalid, total, max_valid, first_error } => json!({
                "scale": false, "invalid": invalid, "total": total, "max_valid": max_valid, "first_error": first_error,
            }),
        };
        match &m.normalization {
            None => {}
            Some(Normalization::Legacy { prenormalized, window_ns, window, stabilized, limited }) => {
                root["stabilization"] = json!({
                    "path": "legacy",
                    "proposal": prenormalized,
                    "window_s": *window_ns as f64 / NS_PER_S as f64,
                    "recommendations": window_json(now, window),
                    "replicas": stabilized,
                });
                root["limits"] = json!({
                    "path": "legacy",
                    "scale_up_limit": limited.scale_up_limit,
                    "replicas": limited.replicas,
                    "reason": limited.reason.as_str(),
                });
            }
            Some(Normalization::Behavior { prenormalized, up, down, window, stabilized, limited }) => {
                root["stabilization"] = json!({
                    "path": "behavior",
                    "proposal": prenormalized,
                    "up_window_s": up.stabilization_window_seconds,
                    "down_window_s": down.stabilization_window_seconds,
                    "recommendations": window_json(now, window),
                    "up_recommendation": stabilized.up_recommendation,
                    "down_recommendation": stabilized.down_recommendation,
                    "replicas": stabilized.replicas,
                    "reason": stabilized.reason.as_str(),
                });
                let events = |l: &[ScaleEvent]| -> Vec<Value> {
                    l.iter().map(|e| json!({ "change": e.replica_change, "age_s": age_s(now, e.timestamp) })).collect()
                };
                root["limits"] = json!({
                    "path": "behavior",
                    "direction": match limited.limit { None => "none", Some(_) if stabilized.replicas > e.spec_replicas => "up", Some(_) => "down" },
                    "policy_limit": limited.limit.as_ref().map(limit_json),
                    "allowed": limited.allowed,
                    "replicas": limited.replicas,
                    "reason": limited.reason.as_str(),
                    "scale_up_events": events(&r.snapshot.scale_up_events),
                    "scale_down_events": events(&r.snapshot.scale_down_events),
                });
            }
        }
    }
    root
}
