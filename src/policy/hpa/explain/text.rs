//! The explanation in words, for a terminal.

use super::*;
use crate::policy::hpa::behavior::{RateLimited, RulesLimited, ScalingRules, Stabilized};
use crate::policy::hpa::controller::MetricsStage;

/// Milli-units as a quantity (`"250m"`, `"3"`).
pub(super) fn q(milli: i64) -> String {
    if milli % 1000 == 0 {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    }
}

pub(super) fn dur(ns: u64) -> String {
    Duration(ns).to_string()
}

pub(super) fn ago_text(now: SimTime, t: SimTime) -> String {
    if t >= now {
        "just now".to_string()
    } else {
        format!("{} ago", dur(now - t))
    }
}

pub(super) fn target_text(t: &Option<MetricTarget>) -> String {
    match t {
        None => "no target".to_string(),
        Some(t) => match t.r#type {
            MetricTargetType::Utilization => {
                t.average_utilization.map_or("no utilization".into(), |u| format!("{u}% of the pods' requests"))
            }
            MetricTargetType::AverageValue => t.average_value.map_or("no value".into(), |v| format!("{v} per pod (average)")),
            MetricTargetType::Value => t.value.map_or("no value".into(), |v| format!("{v} in total")),
        },
    }
}

pub(super) fn pod_line(name: &str, g: PodGroup) -> String {
    match g {
        PodGroup::Ready => format!("{name}: ready, its sample is used"),
        PodGroup::Unready(why) => format!("{name}: unready ({why}): its sample is set aside"),
        PodGroup::Missing => format!("{name}: no sample (missing)"),
        PodGroup::Ignored(why) => format!("{name}: ignored ({why})"),
    }
}

/// At most this many pods are listed one by one per group in the text.
pub(super) const PODS_SHOWN: usize = 8;

pub(super) fn write_pods(out: &mut String, b: &PodBasis) {
    let g = &b.groups;
    let _ = writeln!(
        out,
        "    pods: {} listed: {} ready, {} unready, {} missing a sample, {} ignored",
        g.pods.len(),
        g.ready_count,
        g.unready_count(),
        g.missing_count(),
        g.ignored_count()
    );
    // Ready pods are summarised; the others are the interesting ones.
    let mut by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, gr) in &g.pods {
        if *gr != PodGroup::Ready {
            by_group.entry(gr.as_str()).or_default().push(pod_line(name, *gr));
        }
    }
    for (_, lines) in by_group {
        for l in lines.iter().take(PODS_SHOWN) {
            let _ = writeln!(out, "      {l}");
        }
        if lines.len() > PODS_SHOWN {
            let _ = writeln!(out, "      ... and {} more like these", lines.len() - PODS_SHOWN);
        }
    }
    if b.unknown_pod_samples > 0 {
        let _ = writeln!(
            out,
            "      {} of pods the selector does not list (they still enter the averages, as upstream's do)",
            crate::units::count(b.unknown_pod_samples, "sample", "samples")
        );
    }
}

pub(super) fn tolerance_band(t: crate::policy::hpa::calc::Tolerances) -> String {
    format!("[{:.3}, {:.3}]", 1.0 - t.scale_down, 1.0 + t.scale_up)
}

pub(super) fn write_metric(out: &mut String, i: usize, total: usize, e: &MetricEvaluation, r: &Report, t: crate::policy::hpa::calc::Tolerances) {
    let _ = writeln!(out, "  metric {}/{}: {}; target {}", i + 1, total, e.name, target_text(&e.target));
    let p = match &e.result {
        Err(err) => {
            let _ = writeln!(out, "    INVALID: {}: {}", err.reason, err.message);
            return;
        }
        Ok(p) => p,
    };
    if let Basis::Pods(b) = &p.basis {
        write_pods(out, b);
    }
    let ratio = p.usage_ratio;
    let band = tolerance_band(t);
    let inside = if t.is_within(ratio) { "inside" } else { "outside" };
    match (&p.current, &p.basis) {
        (CurrentValue::Utilization { percent, average_milli }, Basis::Pods(b)) => {
            let target = e.target.as_ref().and_then(|t| t.average_utilization).unwrap_or(0);
            let _ = writeln!(
                out,
                "    usage: {percent}% of the requests (truncated to a whole percent; {} per pod on average, over the samples of {} ready)",
                q(*average_milli),
                crate::units::count(b.groups.ready_count, "pod", "pods")
            );
            let _ = writeln!(out, "    usage ratio: {percent}% / {target}% = {ratio:.3}, {inside} the tolerance {band}");
        }
        (CurrentValue::AverageValue { milli }, Basis::Pods(_)) => {
            let target = e.target.as_ref().and_then(|t| t.average_value).map_or(0, Quantity::milli);
            let _ = writeln!(out, "    usage: {} per pod on average (integer division over the samples used)", q(*milli));
            let _ = writeln!(out, "    usage ratio: {} / {} = {ratio:.3}, {inside} the tolerance {band}", q(*milli), q(target));
        }
        (CurrentValue::AverageValue { milli }, Basis::AverageValue(b)) => {
            let _ = writeln!(
                out,
                "    value: {} in total ({} per pod over {})",
                q(b.usage_milli),
                q(*milli),
                crate::units::count(b.status_replicas as usize, "status replica", "status replicas")
            );
            let _ = writeln!(
                out,
                "    usage ratio: {} / ({} x {}) = {ratio:.3}, {inside} the tolerance {band}",
                q(b.usage_milli),
                q(b.target_milli),
                b.status_replicas
            );
        }
        (CurrentValue::Value { milli }, _) => {
            let target = e.target.as_ref().and_then(|t| t.value).map_or(0, Quantity::milli);
            let _ = writeln!(out, "    value: {}", q(*milli));
            let _ = writeln!(out, "    usage ratio: {} / {} = {ratio:.3}, {inside} the tolerance {band}", q(*milli), q(target));
        }
        _ => {
            let _ = writeln!(out, "    usage ratio {ratio:.3}, {inside} the tolerance {band}");
        }
    }
    let current = r.snapshot.spec_replicas;
    match &p.basis {
        Basis::Pods(b) => match &b.step {
            PodStep::Direct { within_tolerance: true } => {
                let _ = writeln!(out, "    within the tolerance: the metric proposes the current {current}");
            }
            PodStep::Direct { within_tolerance: false } => {
                let _ = writeln!(
                    out,
                    "    proposal: ceil({ratio:.3} x {}) = {}",
                    crate::units::count(b.groups.ready_count, "ready pod", "ready pods"),
                    p.replicas
                );
            }
            PodStep::Rebalanced(rb) => {
                let dir = if ratio > 1.0 { "up" } else if ratio < 1.0 { "down" } else { "neither way" };
                let mut assumed = Vec::new();
                let utilization = matches!(p.current, CurrentValue::Utilization { .. });
                match rb.missing_as {
                    MissingAs::NotFilled if b.groups.missing_count() > 0 => {
                        assumed.push("the ratio is exactly 1, so pods without a sample stay out".to_string())
                    }
                    MissingAs::NotFilled => {}
                    MissingAs::Zero => assumed.push(format!(
                        "pods without a sample count as using {} (they might be idle)",
                        if utilization { "0%" } else { "0" }
                    )),
                    MissingAs::PercentOfRequest(pc) => assumed.push(format!(
                        "pods without a sample count as using {pc}% of their request (the larger of 100% and the target: they might be busy)"
                    )),
                    MissingAs::Target(t) => assumed.push(format!(
                        "pods without a sample count as exactly the target, {} (they might be busy)",
                        q(t)
                    )),
                }
                if rb.unready_as_zero {
                    assumed.push(format!(
                        "unready pods count as using {} (they will take load once ready)",
                        if utilization { "0%" } else { "0" }
                    ));
                }
                let _ = writeln!(out, "    rebalancing, since the metric points {dir}: {}", assumed.join("; "));
                let _ = writeln!(
                    out,
                    "    new ratio over {}: {:.3}",
                    crate::units::count(rb.samples, "pod", "pods"),
                    rb.new_ratio
                );
                let line = match rb.outcome {
                    RebalanceOutcome::WithinTolerance => format!(
                        "the new ratio is inside the tolerance {band}: the metric proposes the current {current}"
                    ),
                    RebalanceOutcome::DirectionFlip => format!(
                        "the new ratio points the other way: the metric proposes the current {current}"
                    ),
                    RebalanceOutcome::WrongWay { computed } => format!(
                        "ceil({:.3} x {}) = {computed} would move against the ratio: the metric proposes the current {current}",
                        rb.new_ratio, rb.samples
                    ),
                    RebalanceOutcome::Scaled => format!("proposal: ceil({:.3} x {}) = {}", rb.new_ratio, rb.samples, p.replicas),
                };
                let _ = writeln!(out, "    {line}");
            }
        },
        Basis::Value(b) => {
            let line = match b.step {
                ValueStep::WithinTolerance => format!("within the tolerance: the metric proposes the current {current}"),
                ValueStep::Scaled { ready_pods } => format!(
                    "proposal: ceil({ratio:.3} x {}) = {} (ready: Running with Ready=True)",
                    crate::units::count(ready_pods as usize, "ready pod", "ready pods"),
                    p.replicas
                ),
                ValueStep::FromZero => format!("from zero replicas, no tolerance: ceil({ratio:.3}) = {}", p.replicas),
            };
            let _ = writeln!(out, "    {line}");
        }
        Basis::AverageValue(b) => {
            if b.within_tolerance {
                let _ = writeln!(out, "    within the tolerance: the metric proposes the status replicas, {}", p.replicas);
            } else {
                let _ = writeln!(out, "    proposal: ceil({} / {}) = {}", q(b.usage_milli), q(b.target_milli), p.replicas);
            }
        }
    }
}

pub(super) fn window_line(out: &mut String, now: SimTime, w: &WindowEntry, initial: bool, legacy: bool) {
    let r = w.recommendation;
    let mut where_ = Vec::new();
    if legacy {
        where_.push(if w.in_down_window { "inside the window" } else { "outside the window" });
    } else {
        if w.in_up_window {
            where_.push("inside the scale-up window");
        }
        if w.in_down_window {
            where_.push("inside the scale-down window");
        }
        if where_.is_empty() {
            where_.push("outside both windows");
        }
    }
    let note = if initial && r.timestamp == now {
        " (recorded now: the controller had no history for this HPA, so it records the current size first)"
    } else {
        ""
    };
    let _ = writeln!(out, "      {} recorded {}: {}{note}", r.replicas, ago_text(now, r.timestamp), where_.join(", "));
}

pub(super) fn policy_text(b: &PolicyBound) -> String {
    format!("{} {} per {}s", b.policy.r#type.as_str(), b.policy.value, b.policy.period_seconds)
}

pub(super) fn write_limit(out: &mut String, r: &Report, limit: &ScaleLimit, up: bool) {
    let now = r.snapshot.now;
    let current = r.snapshot.spec_replicas;
    let (events, other) = if up {
        (&r.snapshot.scale_up_events, &r.snapshot.scale_down_events)
    } else {
        (&r.snapshot.scale_down_events, &r.snapshot.scale_up_events)
    };
    if limit.select_policy == ScalingPolicySelect::Disabled {
        let _ = writeln!(out, "    selectPolicy Disabled: no scale {} at all; the limit is the current {current}", if up { "up" } else { "down" });
        return;
    }
    for b in &limit.policies {
        let p = b.policy.period_seconds;
        let counted = |list: &[ScaleEvent], sign: &str| -> Vec<String> {
            list.iter()
                .filter(|e| in_period(e, p, now))
                .map(|e| format!("{sign}{} {}", e.replica_change, ago_text(now, e.timestamp)))
                .collect()
        };
        let mut evs = counted(events, if up { "+" } else { "-" });
        evs.extend(counted(other, if up { "-" } else { "+" }));
        let events_text = if evs.is_empty() { "no scale events in it".to_string() } else { format!("events in it: {}", evs.join(", ")) };
        let _ = writeln!(
            out,
            "    {}: {}s ago the count was {current} - {} added + {} removed = {} ({events_text})",
            policy_text(b),
            p,
            b.added,
            b.deleted,
            b.period_start
        );
        let bound = match (b.policy.r#type, up) {
            (HpaScalingPolicyType::Pods, true) => format!("{} + {} = {}", b.period_start, b.policy.value, b.bound),
            (HpaScalingPolicyType::Pods, false) => format!("{} - {} = {}", b.period_start, b.policy.value, b.bound),
            (HpaScalingPolicyType::Percent, true) => {
                format!("ceil({} x (1 + {}%)) = {}", b.period_start, b.policy.value, b.bound)
            }
            (HpaScalingPolicyType::Percent, false) => {
                format!("truncate({} x (1 - {}%)) = {}", b.period_start, b.policy.value, b.bound)
            }
        };
        let _ = writeln!(out, "      allows {bound}");
    }
    let how = match (limit.select_policy, up) {
        (ScalingPolicySelect::Max, true) | (ScalingPolicySelect::Min, false) => "the largest",
        _ => "the smallest",
    };
    let _ = writeln!(
        out,
        "    selectPolicy {}: {how} bound, {}",
        limit.select_policy.as_str(),
        limit.limit
    );
}

pub(super) fn limit_phrase(reason: LimitReason, n: i32) -> String {
    match reason {
        LimitReason::DesiredWithinRange => format!("the limits allow {n}"),
        LimitReason::ScaleUpLimit => format!("the scale-up limit holds it to {n}"),
        LimitReason::TooManyReplicas => format!("maxReplicas caps it at {n}"),
        LimitReason::ScaleDownLimit => format!("the scale-down limit holds it at {n}"),
        LimitReason::TooFewReplicas => format!("minReplicas raises it to {n}"),
    }
}

pub(super) fn limit_words(reason: LimitReason) -> &'static str {
    match reason {
        LimitReason::DesiredWithinRange => "within the limits",
        LimitReason::ScaleUpLimit => "held back by the scale-up limit",
        LimitReason::TooManyReplicas => "capped at maxReplicas",
        LimitReason::ScaleDownLimit => "held back by the scale-down limit",
        LimitReason::TooFewReplicas => "raised to minReplicas",
    }
}

/// The explanation as text, in the order the controller takes the steps.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let e: &Explanation = &r.outcome.explanation;
    write_header(&mut out, r);
    let mut steps = Steps(0);
    match &e.stage {
        Stage::ScalingDisabled => {
            steps.heading(&mut out, "Scaling disabled");
            let _ = writeln!(
                out,
                "  the target has 0 replicas and minReplicas is {}: autoscaling is off for it (ScalingDisabled); nothing is computed",
                e.min_replicas
            );
        }
        Stage::AboveMax => {
            steps.heading(&mut out, "Bounds");
            let _ = writeln!(out, "  {} replicas is above maxReplicas {}: set to {} without reading the metrics", e.spec_replicas, e.max_replicas, e.max_replicas);
        }
        Stage::BelowMin => {
            steps.heading(&mut out, "Bounds");
            let _ = writeln!(out, "  {} replicas is below minReplicas {}: set to {} without reading the metrics", e.spec_replicas, e.min_replicas, e.min_replicas);
        }
        Stage::Metrics(m) => {
            write_metrics_stage(&mut out, &mut steps, r, m);
            match &m.normalization {
                None => {}
                Some(Normalization::Legacy { prenormalized, window_ns, window, stabilized, limited }) => {
                    let _ = writeln!(out);
                    write_legacy(&mut out, &mut steps, r, *prenormalized, *window_ns, window, *stabilized, limited);
                }
                Some(Normalization::Behavior { prenormalized, up, down, window, stabilized, limited }) => {
                    let _ = writeln!(out);
                    write_behavior(&mut out, &mut steps, r, *prenormalized, (up, down), window, stabilized, limited);
                }
            }
        }
    }
    let _ = writeln!(out);
    let fin = e.final_replicas;
    if fin != e.spec_replicas {
        let _ = writeln!(
            out,
            "Result: scale {} from {} to {} replicas ({})",
            if fin > e.spec_replicas { "up" } else { "down" },
            e.spec_replicas,
            fin,
            e.rescale_reason.as_deref().unwrap_or("")
        );
    } else {
        let _ = writeln!(out, "Result: keep {fin} replicas");
    }
    let _ = writeln!(out, "  in short: {}", in_short(r));
    out
}

/// The numbered steps of the text.
struct Steps(usize);

impl Steps {
    fn heading(&mut self, out: &mut String, title: &str) {
        self.0 += 1;
        let _ = writeln!(out, "{}. {title}", self.0);
    }
}

/// The HPA, the controller's flags and the target's size, before the steps.
fn write_header(out: &mut String, r: &Report) {
    let e = &r.outcome.explanation;
    let c = &r.config;
    let target = r.hpa.target.as_ref().map_or("its target".to_string(), |t| format!("{} {}", t.kind, t.name));
    let _ = writeln!(out, "HorizontalPodAutoscaler {} (scales {target}; from {})", r.hpa.name, r.hpa.source);
    let _ = writeln!(
        out,
        "  minReplicas {}, maxReplicas {}, {}",
        e.min_replicas,
        e.max_replicas,
        if e.legacy { "no behavior: the legacy normalization" } else { "with behavior" }
    );
    let _ = writeln!(
        out,
        "  controller: tolerance {}, cpu-initialization-period {}, initial-readiness-delay {}, downscale-stabilization {}{}",
        c.tolerance,
        dur(c.cpu_initialization_period_ns),
        dur(c.initial_readiness_delay_ns),
        dur(c.downscale_stabilization_ns),
        if c.configurable_tolerance { "" } else { ", HPAConfigurableTolerance off" }
    );
    let _ = writeln!(
        out,
        "  the target has {} replicas (spec), {} (status); its selector lists {}",
        e.spec_replicas,
        e.status_replicas,
        crate::units::count(r.snapshot.pods.len(), "pod", "pods")
    );
    if r.snapshot.pods_without_age > 0 {
        let _ = writeln!(
            out,
            "  ({} without an `age`: taken as started long ago, past the CPU initialization period)",
            crate::units::count(r.snapshot.pods_without_age, "pod", "pods")
        );
    }
    let _ = writeln!(out);
}

/// One proposal per metric, and the largest of them.
fn write_metrics_stage(out: &mut String, steps: &mut Steps, r: &Report, m: &MetricsStage) {
    let e = &r.outcome.explanation;
    steps.heading(out, "Metrics: one proposal per metric");
    let t = m.tolerances;
    let _ = writeln!(out, "  tolerance: a usage ratio within {} (down {}, up {}) keeps the current count", tolerance_band(t), t.scale_down, t.scale_up);
    for (i, ev) in m.metrics.iter().enumerate() {
        write_metric(out, i, m.metrics.len(), ev, r, t);
    }
    let _ = writeln!(out);
    steps.heading(out, "All metrics: the largest proposal");
    match &m.combined {
        Combined::Proposal { replicas, metric, invalid } => {
            let _ = writeln!(out, "  {replicas}, from {metric}");
            if *invalid > 0 {
                let _ = writeln!(
                    out,
                    "  {} invalid: the controller still acts, because {replicas} is not below the current {} (it never scales down while a metric is invalid)",
                    crate::units::count(*invalid, "metric is", "metrics are"),
                    e.spec_replicas
                );
            }
        }
        Combined::NoScale { invalid, total, max_valid, first_error } => {
            let why = match max_valid {
                Some(v) if *invalid < *total => format!(
                    "the largest valid proposal, {v}, is below the current {}, and the controller never scales down while a metric is invalid",
                    e.spec_replicas
                ),
                _ => "no metric gives a proposal".to_string(),
            };
            let _ = writeln!(out, "  {invalid} of {total} metrics invalid; {why}: no scaling (first error: {first_error})");
        }
    }
}

/// Without `behavior`: downscale stabilization, then the scale-up limit and the bounds.
#[allow(clippy::too_many_arguments)]
fn write_legacy(
    out: &mut String,
    steps: &mut Steps,
    r: &Report,
    prenormalized: i32,
    window_ns: u64,
    window: &[WindowEntry],
    stabilized: i32,
    limited: &RulesLimited,
) {
    let (e, c, now) = (&r.outcome.explanation, &r.config, r.snapshot.now);
    steps.heading(out, "Stabilization (legacy: downscale stabilization)");
    let _ = writeln!(
        out,
        "  the highest of the proposal {prenormalized} and the recommendations of the last {} (--horizontal-pod-autoscaler-downscale-stabilization):",
        dur(window_ns)
    );
    if window.is_empty() {
        let _ = writeln!(out, "      no recommendations recorded");
    }
    for w in window {
        window_line(out, now, w, e.initial_recommendation.is_some(), true);
    }
    let _ = writeln!(out, "  stabilized: {stabilized}");
    let _ = writeln!(out);
    steps.heading(out, "Limits (legacy: scale-up limit, min and max)");
    let _ = writeln!(out, "  scale-up limit: max({} x {}, {}) = {}", c.scale_up_limit_factor, e.spec_replicas, c.scale_up_limit_minimum, limited.scale_up_limit);
    let _ = writeln!(
        out,
        "  {stabilized} within [{}, min({}, {})]: {} ({}, {})",
        e.min_replicas,
        e.max_replicas,
        limited.scale_up_limit,
        limited.replicas,
        limit_words(limited.reason),
        limited.reason
    );
}

/// With `behavior`: the stabilization windows, then the scaling policies and the bounds.
#[allow(clippy::too_many_arguments)]
fn write_behavior(
    out: &mut String,
    steps: &mut Steps,
    r: &Report,
    prenormalized: i32,
    (up, down): (&ScalingRules, &ScalingRules),
    window: &[WindowEntry],
    stabilized: &Stabilized,
    limited: &RateLimited,
) {
    let (e, now) = (&r.outcome.explanation, r.snapshot.now);
    steps.heading(out, "Stabilization (behavior: stabilizationWindowSeconds)");
    let _ = writeln!(
        out,
        "  scale-up window {}s, scale-down window {}s; recorded recommendations:",
        up.stabilization_window_seconds, down.stabilization_window_seconds
    );
    if window.is_empty() {
        let _ = writeln!(out, "      none");
    }
    for w in window {
        window_line(out, now, w, e.initial_recommendation.is_some(), false);
    }
    let _ = writeln!(
        out,
        "  lowest of the proposal {prenormalized} and the scale-up window: {}; highest of it and the scale-down window: {}",
        stabilized.up_recommendation, stabilized.down_recommendation
    );
    let _ = writeln!(
        out,
        "  the current {} brought up to {} and down to {}: {}{}",
        e.spec_replicas,
        stabilized.up_recommendation,
        stabilized.down_recommendation,
        stabilized.replicas,
        if stabilized.replicas != prenormalized {
            format!(" ({}: the proposal {prenormalized} is held back)", stabilized.reason.as_str())
        } else {
            String::new()
        }
    );
    let _ = writeln!(out);
    steps.heading(out, "Limits (behavior: scaling policies, min and max)");
    match (&limited.limit, limited.allowed) {
        (Some(limit), Some(allowed)) => {
            let up_dir = stabilized.replicas > e.spec_replicas;
            let _ = writeln!(
                out,
                "  scaling {} from {} to {}: the {} policies",
                if up_dir { "up" } else { "down" },
                e.spec_replicas,
                stabilized.replicas,
                if up_dir { "scaleUp" } else { "scaleDown" }
            );
            write_limit(out, r, limit, up_dir);
            let bound = if up_dir {
                format!("min(maxReplicas {}, max({}, current {}))", e.max_replicas, limit.limit, e.spec_replicas)
            } else {
                format!("max(minReplicas {}, min({}, current {}))", e.min_replicas, limit.limit, e.spec_replicas)
            };
            let _ = writeln!(
                out,
                "  allowed: {bound} = {allowed}; {} -> {} ({}, {})",
                stabilized.replicas,
                limited.replicas,
                limit_words(limited.reason),
                limited.reason
            );
        }
        _ => {
            let _ = writeln!(out, "  no change from the current {}: no policy applies", e.spec_replicas);
        }
    }
}

/// One sentence: which step set the final count.
pub(super) fn in_short(r: &Report) -> String {
    let e = &r.outcome.explanation;
    let fin = e.final_replicas;
    match &e.stage {
        Stage::ScalingDisabled => format!("the target is at 0 replicas with minReplicas {}: autoscaling is disabled", e.min_replicas),
        Stage::AboveMax => format!("the target was above maxReplicas {}", e.max_replicas),
        Stage::BelowMin => format!("the target was below minReplicas {}", e.min_replicas),
        Stage::Metrics(m) => {
            let (proposal, metric) = match &m.combined {
                Combined::NoScale { .. } => return "a metric is invalid and the others do not ask for more: no change".into(),
                Combined::Proposal { replicas, metric, .. } => (*replicas, metric.clone()),
            };
            let mut s = format!("the metrics propose {proposal} (from {metric})");
            match &m.normalization {
                Some(Normalization::Legacy { stabilized, limited, .. }) => {
                    if *stabilized != proposal {
                        let _ = write!(s, ", the downscale stabilization keeps {stabilized}");
                    }
                    if limited.replicas != *stabilized {
                        let _ = write!(s, ", {}", limit_phrase(limited.reason, limited.replicas));
                    }
                }
                Some(Normalization::Behavior { stabilized, limited, .. }) => {
                    if stabilized.replicas != proposal {
                        let _ = write!(s, ", the stabilization window makes it {}", stabilized.replicas);
                    }
                    if limited.replicas != stabilized.replicas {
                        let _ = write!(s, ", {}", limit_phrase(limited.reason, limited.replicas));
                    }
                }
                None => {}
            }
            let _ = write!(s, "; the HPA sets {fin}");
            s
        }
    }
}
