//! Normalization of the metrics' proposal (`horizontal.go`): stabilization over the recent
//! recommendations, then the rate limits.
//!
//! Two paths, chosen by whether the spec has a `behavior`:
//! - **legacy** (`behavior` unset): [`stabilize_recommendation`] (the max over the downscale
//!   window, inclusive) then [`convert_desired_replicas_with_rules`] (scale-up limit
//!   `max(factor * current, 4)`, factor 2 in production);
//! - **behavior**: [`stabilize_recommendation_with_behaviors`] (min over the up window, max over the
//!   down window, both strict) then [`convert_desired_replicas_with_behavior_rate`] (the policies,
//!   counted from the scale events of each policy's period), with [`store_scale_event`] after a
//!   successful scale.
//!
//! Windows and periods are in seconds as in the spec; instants are [`SimTime`] nanoseconds.
//! Cut-offs are computed exactly (`now - window` may lie before the start of the run).

use std::fmt;

use super::spec::{
    generate_scale_down_rules, generate_scale_up_rules, HpaScalingPolicy, HpaScalingPolicyType, HpaScalingRules,
    ScalingPolicySelect,
};
use crate::engine::SimTime;

const NS_PER_S: i128 = 1_000_000_000;

fn span_s(seconds: i32) -> i128 {
    i128::from(seconds) * NS_PER_S
}

/// `ts.After(now - span)`.
fn after_cutoff(ts: SimTime, now: SimTime, span_ns: i128) -> bool {
    i128::from(ts) > i128::from(now) - span_ns
}

/// `ts.Before(now - span)`.
fn before_cutoff(ts: SimTime, now: SimTime, span_ns: i128) -> bool {
    i128::from(ts) < i128::from(now) - span_ns
}

/// `timestampedRecommendation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampedRecommendation {
    pub replicas: i32,
    pub timestamp: SimTime,
}

/// `timestampedScaleEvent`: the size of one scale (always positive) and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleEvent {
    pub replica_change: i32,
    pub timestamp: SimTime,
    /// Older than the direction's longest policy period at the last store: the slot may be reused.
    pub outdated: bool,
}

/// The `ScalingLimited` condition's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitReason {
    DesiredWithinRange,
    ScaleUpLimit,
    TooManyReplicas,
    ScaleDownLimit,
    TooFewReplicas,
}

impl LimitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::DesiredWithinRange => "DesiredWithinRange",
            LimitReason::ScaleUpLimit => "ScaleUpLimit",
            LimitReason::TooManyReplicas => "TooManyReplicas",
            LimitReason::ScaleDownLimit => "ScaleDownLimit",
            LimitReason::TooFewReplicas => "TooFewReplicas",
        }
    }

    /// The condition's message, as upstream writes it.
    pub fn message(self) -> &'static str {
        match self {
            LimitReason::DesiredWithinRange => "the desired count is within the acceptable range",
            LimitReason::ScaleUpLimit => "the desired replica count is increasing faster than the maximum scale rate",
            LimitReason::TooManyReplicas => "the desired replica count is more than the maximum replica count",
            LimitReason::ScaleDownLimit => "the desired replica count is decreasing faster than the maximum scale rate",
            LimitReason::TooFewReplicas => "the desired replica count is less than the minimum replica count",
        }
    }
}

impl fmt::Display for LimitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Legacy path
// ---------------------------------------------------------------------------------------------

/// One recorded recommendation as a stabilization saw it: whether each window covered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowEntry {
    pub recommendation: TimestampedRecommendation,
    /// Inside the scale-up window (behavior path only; always false on the legacy path).
    pub in_up_window: bool,
    /// Inside the downscale window (the legacy window, or the behavior path's scale-down one).
    pub in_down_window: bool,
}

/// `stabilizeRecommendation`: the max of `prenormalized` and every recommendation no older than
/// the window (`timestamp >= now - window`). Stores `{prenormalized, now}` over the last
/// recommendation older than the window, or appends it.
pub fn stabilize_recommendation(
    recommendations: &mut Vec<TimestampedRecommendation>,
    prenormalized: i32,
    now: SimTime,
    window_ns: u64,
) -> i32 {
    stabilize_recommendation_traced(recommendations, prenormalized, now, window_ns, None)
}

/// [`stabilize_recommendation`], recording into `trace` each recommendation it looked at (before
/// the store) and whether the window covered it.
pub fn stabilize_recommendation_traced(
    recommendations: &mut Vec<TimestampedRecommendation>,
    prenormalized: i32,
    now: SimTime,
    window_ns: u64,
    mut trace: Option<&mut Vec<WindowEntry>>,
) -> i32 {
    let window = i128::from(window_ns);
    let mut max = prenormalized;
    let mut old = None;
    for (i, rec) in recommendations.iter().enumerate() {
        let outside = before_cutoff(rec.timestamp, now, window);
        if outside {
            old = Some(i);
        } else if rec.replicas > max {
            max = rec.replicas;
        }
        if let Some(t) = trace.as_deref_mut() {
            t.push(WindowEntry { recommendation: *rec, in_up_window: false, in_down_window: !outside });
        }
    }
    let new = TimestampedRecommendation { replicas: prenormalized, timestamp: now };
    match old {
        Some(i) => recommendations[i] = new,
        None => recommendations.push(new),
    }
    max
}

/// `calculateScaleUpLimit`: `int32(max(factor * current, minimum))`.
pub fn calculate_scale_up_limit(current: i32, factor: f64, minimum: f64) -> i32 {
    (factor * f64::from(current)).max(minimum) as i32
}

/// The result of [`convert_desired_replicas_with_rules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RulesLimited {
    pub replicas: i32,
    pub reason: LimitReason,
    /// `max(factor * current, minimum)`.
    pub scale_up_limit: i32,
}

/// `convertDesiredReplicasWithRules`: clamp to `[min, min(max, scale-up limit)]`. The reason
/// for the upper bound is `ScaleUpLimit` when the limit is below `max`, else `TooManyReplicas`.
pub fn convert_desired_replicas_with_rules(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    scale_up_limit_factor: f64,
    scale_up_limit_minimum: f64,
) -> RulesLimited {
    let scale_up_limit = calculate_scale_up_limit(current, scale_up_limit_factor, scale_up_limit_minimum);
    let (max_allowed, up_reason) = if max > scale_up_limit {
        (scale_up_limit, LimitReason::ScaleUpLimit)
    } else {
        (max, LimitReason::TooManyReplicas)
    };
    let (replicas, reason) = if desired < min {
        (min, LimitReason::TooFewReplicas)
    } else if desired > max_allowed {
        (max_allowed, up_reason)
    } else {
        (desired, LimitReason::DesiredWithinRange)
    };
    RulesLimited { replicas, reason, scale_up_limit }
}

// ---------------------------------------------------------------------------------------------
// Behavior path
// ---------------------------------------------------------------------------------------------

/// One direction's rules with every field resolved (the API defaults and the controller's
/// downscale window applied).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRules {
    pub stabilization_window_seconds: i32,
    pub select_policy: ScalingPolicySelect,
    pub policies: Vec<HpaScalingPolicy>,
}

impl ScalingRules {
    /// The scale-up rules the controller uses for `rules` (as written, or unset).
    pub fn resolve_up(rules: Option<&HpaScalingRules>) -> ScalingRules {
        ScalingRules::resolve(generate_scale_up_rules(rules), 0)
    }

    /// The scale-down rules the controller uses; an unset window is the controller's
    /// `--horizontal-pod-autoscaler-downscale-stabilization`, in seconds
    /// (`maybeInitScaleDownStabilizationWindow`).
    pub fn resolve_down(rules: Option<&HpaScalingRules>, downscale_stabilization_s: i32) -> ScalingRules {
        ScalingRules::resolve(generate_scale_down_rules(rules), downscale_stabilization_s)
    }

    fn resolve(r: HpaScalingRules, default_window_s: i32) -> ScalingRules {
        ScalingRules {
            stabilization_window_seconds: r.stabilization_window_seconds.unwrap_or(default_window_s),
            select_policy: r.select_policy.unwrap_or(ScalingPolicySelect::Max),
            policies: r.policies.unwrap_or_default(),
        }
    }
}

/// Which way the stabilization looked (the `AbleToScale` reason when it changed the proposal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StabilizationReason {
    /// The proposal was at or above the current count: the lowest recent recommendation applies.
    ScaleUpStabilized,
    /// The proposal was below: the highest recent recommendation applies.
    ScaleDownStabilized,
}

impl StabilizationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StabilizationReason::ScaleUpStabilized => "ScaleUpStabilized",
            StabilizationReason::ScaleDownStabilized => "ScaleDownStabilized",
        }
    }
}

/// The result of [`stabilize_recommendation_with_behaviors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stabilized {
    pub replicas: i32,
    /// The min of the proposal and the recommendations inside the scale-up window.
    pub up_recommendation: i32,
    /// The max of the proposal and the recommendations inside the scale-down window.
    pub down_recommendation: i32,
    pub reason: StabilizationReason,
}

/// `stabilizeRecommendationWithBehaviors`: the current count brought up to the lowest
/// recommendation of the up window and down to the highest of the down window (recommendations
/// with `timestamp > now - window`, strictly). Stores the *unstabilized* `desired` over the last
/// recommendation older than both windows, or appends it.
pub fn stabilize_recommendation_with_behaviors(
    recommendations: &mut Vec<TimestampedRecommendation>,
    current: i32,
    desired: i32,
    up_window_s: i32,
    down_window_s: i32,
    now: SimTime,
) -> Stabilized {
    stabilize_recommendation_with_behaviors_traced(recommendations, current, desired, up_window_s, down_window_s, now, None)
}

/// [`stabilize_recommendation_with_behaviors`], recording into `trace` each recommendation it
/// looked at (before the store) and which windows covered it.
pub fn stabilize_recommendation_with_behaviors_traced(
    recommendations: &mut Vec<TimestampedRecommendation>,
    current: i32,
    desired: i32,
    up_window_s: i32,
    down_window_s: i32,
    now: SimTime,
    mut trace: Option<&mut Vec<WindowEntry>>,
) -> Stabilized {
    let (up_span, down_span) = (span_s(up_window_s), span_s(down_window_s));
    let mut up = desired;
    let mut down = desired;
    let mut old = None;
    for (i, rec) in recommendations.iter().enumerate() {
        let in_up = after_cutoff(rec.timestamp, now, up_span);
        let in_down = after_cutoff(rec.timestamp, now, down_span);
        if in_up {
            up = up.min(rec.replicas);
        }
        if in_down {
            down = down.max(rec.replicas);
        }
        if before_cutoff(rec.timestamp, now, up_span) && before_cutoff(rec.timestamp, now, down_span) {
            old = Some(i);
        }
        if let Some(t) = trace.as_deref_mut() {
            t.push(WindowEntry { recommendation: *rec, in_up_window: in_up, in_down_window: in_down });
        }
    }
    let mut replicas = current;
    if replicas < up {
        replicas = up;
    }
    if replicas > down {
        replicas = down;
    }
    let new = TimestampedRecommendation { replicas: desired, timestamp: now };
    match old {
        Some(i) => recommendations[i] = new,
        None => recommendations.push(new),
    }
    let reason = if desired >= current {
        StabilizationReason::ScaleUpStabilized
    } else {
        StabilizationReason::ScaleDownStabilized
    };
    Stabilized { replicas, up_recommendation: up, down_recommendation: down, reason }
}

/// `getReplicasChangePerPeriod`: the sum of the changes of events with
/// `timestamp > now - period` (an event exactly `period` old is out).
pub fn replicas_change_per_period(period_s: i32, events: &[ScaleEvent], now: SimTime) -> i32 {
    events.iter().filter(|e| in_period(e, period_s, now)).fold(0i32, |a, e| a.wrapping_add(e.replica_change))
}

/// Whether [`replicas_change_per_period`] counts `event` for a policy of `period_s` seconds.
pub fn in_period(event: &ScaleEvent, period_s: i32, now: SimTime) -> bool {
    after_cutoff(event.timestamp, now, span_s(period_s))
}

/// One policy's bound in a rate-limit calculation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyBound {
    pub policy: HpaScalingPolicy,
    /// `current - scaled up + scaled down` within the policy's period.
    pub period_start: i32,
    /// Replicas added by the scale-ups within the period.
    pub added: i32,
    /// Replicas removed by the scale-downs within the period.
    pub deleted: i32,
    /// The count this policy allows.
    pub bound: i32,
}

/// A direction's limit over all its policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleLimit {
    /// The selected bound (the current count when the direction is `Disabled`).
    pub limit: i32,
    pub select_policy: ScalingPolicySelect,
    pub policies: Vec<PolicyBound>,
}

/// (period start, added, deleted).
fn period_start(
    current: i32,
    policy: &HpaScalingPolicy,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    now: SimTime,
) -> (i32, i32, i32) {
    let added = replicas_change_per_period(policy.period_seconds, up, now);
    let deleted = replicas_change_per_period(policy.period_seconds, down, now);
    (current.saturating_sub(added).saturating_add(deleted), added, deleted)
}

/// `calculateScaleUpLimitWithScalingRules`: per policy, `periodStart + value` (Pods) or
/// `ceil(periodStart * (1 + value/100))` (Percent); `Max` takes the largest, `Min` the
/// smallest, `Disabled` gives the current count.
pub fn calculate_scale_up_limit_with_scaling_rules(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &ScalingRules,
    now: SimTime,
) -> ScaleLimit {
    let select = rules.select_policy;
    if select == ScalingPolicySelect::Disabled {
        return ScaleLimit { limit: current, select_policy: select, policies: Vec::new() };
    }
    let mut limit = if select == ScalingPolicySelect::Min { i32::MAX } else { i32::MIN };
    let mut policies = Vec::with_capacity(rules.policies.len());
    for p in &rules.policies {
        let (start, added, deleted) = period_start(current, p, up_events, down_events, now);
        let bound = match p.r#type {
            HpaScalingPolicyType::Pods => start.saturating_add(p.value),
            // Rounded up, or a small percent of a small count would never add a pod.
            HpaScalingPolicyType::Percent => (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32,
        };
        limit = if select == ScalingPolicySelect::Min { limit.min(bound) } else { limit.max(bound) };
        policies.push(PolicyBound { policy: *p, period_start: start, added, deleted, bound });
    }
    ScaleLimit { limit, select_policy: select, policies }
}

/// `calculateScaleDownLimitWithBehaviors`: per policy, `periodStart - value` (Pods) or
/// `int32(periodStart * (1 - value/100))` (Percent, truncated); `Max` (the largest change) takes
/// the smallest bound, `Min` the largest, `Disabled` gives the current count.
pub fn calculate_scale_down_limit_with_behaviors(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &ScalingRules,
    now: SimTime,
) -> ScaleLimit {
    let select = rules.select_policy;
    if select == ScalingPolicySelect::Disabled {
        return ScaleLimit { limit: current, select_policy: select, policies: Vec::new() };
    }
    let mut limit = if select == ScalingPolicySelect::Min { i32::MIN } else { i32::MAX };
    let mut policies = Vec::with_capacity(rules.policies.len());
    for p in &rules.policies {
        let (start, added, deleted) = period_start(current, p, up_events, down_events, now);
        let bound = match p.r#type {
            HpaScalingPolicyType::Pods => start.saturating_sub(p.value),
            HpaScalingPolicyType::Percent => (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32,
        };
        limit = if select == ScalingPolicySelect::Min { limit.max(bound) } else { limit.min(bound) };
        policies.push(PolicyBound { policy: *p, period_start: start, added, deleted, bound });
    }
    ScaleLimit { limit, select_policy: select, policies }
}

/// The inputs of [`convert_desired_replicas_with_behavior_rate`] (`NormalizationArg` and the
/// controller's scale events).
#[derive(Debug, Clone, Copy)]
pub struct RateArgs<'a> {
    pub current: i32,
    /// The stabilized recommendation.
    pub desired: i32,
    pub min: i32,
    pub max: i32,
    pub scale_up: &'a ScalingRules,
    pub scale_down: &'a ScalingRules,
    pub up_events: &'a [ScaleEvent],
    pub down_events: &'a [ScaleEvent],
    pub now: SimTime,
}

/// The result of [`convert_desired_replicas_with_behavior_rate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    pub replicas: i32,
    pub reason: LimitReason,
    /// The direction's policy limit, when the count was to change.
    pub limit: Option<ScaleLimit>,
    /// The bound applied in that direction: `min(max, max(limit, current))` going up,
    /// `max(min, min(limit, current))` going down.
    pub allowed: Option<i32>,
}

/// `convertDesiredReplicasWithBehaviorRate`: clamp a change to what the direction's policies and
/// the min/max allow. Only the direction of the change is limited.
pub fn convert_desired_replicas_with_behavior_rate(a: &RateArgs<'_>) -> RateLimited {
    if a.desired > a.current {
        let limit =
            calculate_scale_up_limit_with_scaling_rules(a.current, a.up_events, a.down_events, a.scale_up, a.now);
        // Until the events age out, never below the current count.
        let up = limit.limit.max(a.current);
        let (allowed, reason) =
            if a.max > up { (up, LimitReason::ScaleUpLimit) } else { (a.max, LimitReason::TooManyReplicas) };
        let (replicas, reason) =
            if a.desired > allowed { (allowed, reason) } else { (a.desired, LimitReason::DesiredWithinRange) };
        return RateLimited { replicas, reason, limit: Some(limit), allowed: Some(allowed) };
    }
    if a.desired < a.current {
        let limit =
            calculate_scale_down_limit_with_behaviors(a.current, a.up_events, a.down_events, a.scale_down, a.now);
        let down = limit.limit.min(a.current);
        let (allowed, reason) =
            if a.min < down { (down, LimitReason::ScaleDownLimit) } else { (a.min, LimitReason::TooFewReplicas) };
        let (replicas, reason) =
            if a.desired < allowed { (allowed, reason) } else { (a.desired, LimitReason::DesiredWithinRange) };
        return RateLimited { replicas, reason, limit: Some(limit), allowed: Some(allowed) };
    }
    RateLimited { replicas: a.desired, reason: LimitReason::DesiredWithinRange, limit: None, allowed: None }
}

/// `getLongestPolicyPeriod`.
pub fn longest_policy_period(rules: &ScalingRules) -> i32 {
    rules.policies.iter().map(|p| p.period_seconds).fold(0, i32::max)
}

/// `markScaleEventsOutdated`: flag events older than `now - longest period` (strictly).
pub fn mark_scale_events_outdated(events: &mut [ScaleEvent], longest_period_s: i32, now: SimTime) {
    let span = span_s(longest_period_s);
    for e in events.iter_mut() {
        if before_cutoff(e.timestamp, now, span) {
            e.outdated = true;
        }
    }
}

/// `storeScaleEvent` for one direction: mark the outdated events against `rules`' longest
/// period, then put `{replica_change, now}` over the last outdated slot, or append it.
pub fn store_scale_event(events: &mut Vec<ScaleEvent>, rules: &ScalingRules, replica_change: i32, now: SimTime) {
    mark_scale_events_outdated(events, longest_policy_period(rules), now);
    let new = ScaleEvent { replica_change, timestamp: now, outdated: false };
    match events.iter().rposition(|e| e.outdated) {
        Some(i) => events[i] = new,
        None => events.push(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const NOW: SimTime = 10_000 * S;

    fn ev(change: i32, age_s: u64) -> ScaleEvent {
        ScaleEvent { replica_change: change, timestamp: NOW - age_s * S, outdated: false }
    }

    fn rules(select: ScalingPolicySelect, policies: &[HpaScalingPolicy]) -> ScalingRules {
        ScalingRules { stabilization_window_seconds: 0, select_policy: select, policies: policies.to_vec() }
    }

    #[test]
    fn legacy_and_default_behavior_differ_from_one_replica() {
        // Legacy: max(2 * 1, 4) = 4.
        let legacy = convert_desired_replicas_with_rules(1, 100, 1, 100, 2.0, 4.0);
        assert_eq!((legacy.replicas, legacy.reason), (4, LimitReason::ScaleUpLimit));
        // The API's default behavior: max(1 + 4, ceil(1 * 2)) = 5.
        let (up, down) = (ScalingRules::resolve_up(None), ScalingRules::resolve_down(None, 300));
        let r = convert_desired_replicas_with_behavior_rate(&RateArgs {
            current: 1,
            desired: 100,
            min: 1,
            max: 100,
            scale_up: &up,
            scale_down: &down,
            up_events: &[],
            down_events: &[],
            now: NOW,
        });
        assert_eq!((r.replicas, r.reason), (5, LimitReason::ScaleUpLimit));
        assert_eq!(down.stabilization_window_seconds, 300);
        assert_eq!(up.stabilization_window_seconds, 0);
    }

    #[test]
    fn legacy_limit_equal_to_max_is_too_many_replicas() {
        // max == scale-up limit: `max > limit` is false, so the reason is TooManyReplicas.
        let r = convert_desired_replicas_with_rules(2, 10, 1, 4, 2.0, 4.0);
        assert_eq!((r.replicas, r.reason), (4, LimitReason::TooManyReplicas));
    }

    #[test]
    fn event_exactly_period_old_is_not_counted() {
        let events = [ev(3, 60), ev(5, 59)];
        assert_eq!(replicas_change_per_period(60, &events, NOW), 5);
        assert_eq!(replicas_change_per_period(61, &events, NOW), 8);
        // An event at the same instant as now counts for any positive period.
        assert_eq!(replicas_change_per_period(1, &[ev(2, 0)], NOW), 2);
        // A zero period counts nothing (ts > now is false).
        assert_eq!(replicas_change_per_period(0, &[ev(2, 0)], NOW), 0);
    }

    #[test]
    fn legacy_window_is_inclusive_behavior_window_strict() {
        // A recommendation exactly `window` old counts for the legacy path ...
        let mut recs = vec![TimestampedRecommendation { replicas: 9, timestamp: NOW - 300 * S }];
        assert_eq!(stabilize_recommendation(&mut recs, 3, NOW, 300 * S), 9);
        assert_eq!(recs.len(), 2);
        // ... but not for the behavior path, and it is not "old" there either (kept, appended).
        let mut recs = vec![TimestampedRecommendation { replicas: 9, timestamp: NOW - 300 * S }];
        let s = stabilize_recommendation_with_behaviors(&mut recs, 10, 3, 0, 300, NOW);
        assert_eq!(s.replicas, 3);
        assert_eq!(recs.len(), 2);
    }

    #[test]
    fn behavior_storage_replaces_the_last_old_entry() {
        let mut recs = vec![
            TimestampedRecommendation { replicas: 7, timestamp: NOW - 900 * S },
            TimestampedRecommendation { replicas: 8, timestamp: NOW - 800 * S },
            TimestampedRecommendation { replicas: 6, timestamp: NOW - 10 * S },
        ];
        let s = stabilize_recommendation_with_behaviors(&mut recs, 6, 2, 60, 300, NOW);
        assert_eq!(s.replicas, 6);
        assert_eq!(s.reason, StabilizationReason::ScaleDownStabilized);
        assert_eq!(recs.iter().map(|r| r.replicas).collect::<Vec<_>>(), [7, 2, 6]);
    }

    #[test]
    fn disabled_and_min_select() {
        let up = rules(ScalingPolicySelect::Disabled, &[HpaScalingPolicy::pods(4, 15)]);
        assert_eq!(calculate_scale_up_limit_with_scaling_rules(3, &[], &[], &up, NOW).limit, 3);
        let down = rules(ScalingPolicySelect::Disabled, &[HpaScalingPolicy::pods(4, 15)]);
        let r = convert_desired_replicas_with_behavior_rate(&RateArgs {
            current: 3,
            desired: 1,
            min: 1,
            max: 10,
            scale_up: &up,
            scale_down: &down,
            up_events: &[],
            down_events: &[],
            now: NOW,
        });
        assert_eq!((r.replicas, r.reason), (3, LimitReason::ScaleDownLimit));
        // Percent down may go below zero before the clamp: int32(1 * (1 - 3)) = -2.
        let down = rules(ScalingPolicySelect::Max, &[HpaScalingPolicy::percent(300, 15)]);
        assert_eq!(calculate_scale_down_limit_with_behaviors(1, &[], &[], &down, NOW).limit, -2);
    }

    #[test]
    fn percent_rounds_up_on_scale_up_and_truncates_on_scale_down() {
        let r = rules(ScalingPolicySelect::Max, &[HpaScalingPolicy::percent(15, 60)]);
        // 10 * 1.15 = 11.5 -> 12; 10 * 0.85 = 8.5 -> 8.
        assert_eq!(calculate_scale_up_limit_with_scaling_rules(10, &[], &[], &r, NOW).limit, 12);
        assert_eq!(calculate_scale_down_limit_with_behaviors(10, &[], &[], &r, NOW).limit, 8);
        // Events inside the period move the start: 10 - 4 up + 2 down = 8 -> ceil(9.2) = 10.
        let limit = calculate_scale_up_limit_with_scaling_rules(10, &[ev(4, 30)], &[ev(2, 59)], &r, NOW);
        assert_eq!((limit.policies[0].period_start, limit.limit), (8, 10));
    }

    #[test]
    fn store_reuses_the_last_outdated_slot() {
        let r = rules(ScalingPolicySelect::Max, &[HpaScalingPolicy::pods(1, 30), HpaScalingPolicy::pods(1, 60)]);
        let mut events = vec![ev(1, 100), ev(2, 90), ev(3, 60), ev(4, 10)];
        store_scale_event(&mut events, &r, 9, NOW);
        // 100 s and 90 s are older than 60 s: outdated; 60 s is exactly the period: kept.
        let got: Vec<(i32, bool)> = events.iter().map(|e| (e.replica_change, e.outdated)).collect();
        assert_eq!(got, [(1, true), (9, false), (3, false), (4, false)]);
    }
}
