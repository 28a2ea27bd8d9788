//! The HorizontalPodAutoscaler spec (`autoscaling/v2`), field for field, with the API server's
//! defaults and the validation rules the algorithm relies on.
//!
//! Every struct accepts both the snake_case names of a TOML scenario (`max_replicas`,
//! `average_utilization`) and the camelCase names of a Kubernetes manifest (`maxReplicas`,
//! `averageUtilization`), and refuses unknown keys. Enum values are Kubernetes' (`Resource`,
//! `AverageValue`, `Percent`, `Max`), with lower-case / snake_case aliases (`resource`,
//! `average_value`, `percent`, `max`). Quantities are Kubernetes quantities (`"500m"`, `"2"`,
//! `"1.5k"`, `"512Mi"`) or plain numbers.
//!
//! Upstream names: [`HpaSpec`] is `HorizontalPodAutoscalerSpec`, [`HpaBehavior`] is
//! `HorizontalPodAutoscalerBehavior`, [`HpaScalingRules`] is `HPAScalingRules`, [`HpaScalingPolicy`]
//! is `HPAScalingPolicy`; the others keep their upstream names.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// `autoscaling/v2` `HorizontalPodAutoscalerSpec`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaSpec {
    /// The workload to scale. autosim knows its target from context, so this is optional (it is
    /// accepted so that a real manifest parses unchanged).
    #[serde(default, alias = "scaleTargetRef")]
    pub scale_target_ref: Option<CrossVersionObjectReference>,
    /// Lower bound; the API server defaults it to 1.
    #[serde(default, alias = "minReplicas")]
    pub min_replicas: Option<i32>,
    #[serde(alias = "maxReplicas")]
    pub max_replicas: i32,
    /// Empty means the API server's default: CPU at 80 % utilization.
    #[serde(default)]
    pub metrics: Vec<MetricSpec>,
    /// `None` selects the controller's legacy normalization, not "the default behavior".
    #[serde(default)]
    pub behavior: Option<HpaBehavior>,
}

/// `CrossVersionObjectReference`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossVersionObjectReference {
    pub kind: String,
    pub name: String,
    #[serde(default, alias = "apiVersion")]
    pub api_version: Option<String>,
}

/// `MetricSpec`: `type` names which one of the source fields is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    pub r#type: MetricSourceType,
    #[serde(default)]
    pub resource: Option<ResourceMetricSource>,
    #[serde(default, alias = "containerResource")]
    pub container_resource: Option<ContainerResourceMetricSource>,
    #[serde(default)]
    pub pods: Option<PodsMetricSource>,
    #[serde(default)]
    pub object: Option<ObjectMetricSource>,
    #[serde(default)]
    pub external: Option<ExternalMetricSource>,
}

/// `MetricSourceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum MetricSourceType {
    #[serde(alias = "resource")]
    Resource,
    #[serde(alias = "container_resource", alias = "containerResource")]
    ContainerResource,
    #[serde(alias = "pods")]
    Pods,
    #[serde(alias = "object")]
    Object,
    #[serde(alias = "external")]
    External,
}

impl MetricSourceType {
    /// The upstream spelling (also the order KEDA sorts its HPA metrics in).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricSourceType::Resource => "Resource",
            MetricSourceType::ContainerResource => "ContainerResource",
            MetricSourceType::Pods => "Pods",
            MetricSourceType::Object => "Object",
            MetricSourceType::External => "External",
        }
    }
}

/// `ResourceMetricSource`: a resource of the pods (`cpu`, `memory`), from metrics-server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceMetricSource {
    pub name: String,
    pub target: MetricTarget,
}

/// `ContainerResourceMetricSource`: a resource of one container of the pods.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerResourceMetricSource {
    pub name: String,
    pub container: String,
    pub target: MetricTarget,
}

/// `PodsMetricSource`: a per-pod custom metric, averaged over the pods.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodsMetricSource {
    pub metric: MetricIdentifier,
    pub target: MetricTarget,
}

/// `ObjectMetricSource`: one value describing one Kubernetes object (an Ingress' request rate).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectMetricSource {
    #[serde(alias = "describedObject")]
    pub described_object: CrossVersionObjectReference,
    pub metric: MetricIdentifier,
    pub target: MetricTarget,
}

/// `ExternalMetricSource`: series from outside the cluster (a queue's length); the HPA sums them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalMetricSource {
    pub metric: MetricIdentifier,
    pub target: MetricTarget,
}

/// `MetricIdentifier`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricIdentifier {
    pub name: String,
    #[serde(default)]
    pub selector: Option<LabelSelector>,
}

/// `LabelSelector` (carried, not evaluated: autosim hands each metric its observation).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, alias = "matchLabels")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, alias = "matchExpressions")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// `LabelSelectorRequirement`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// `MetricTarget`. Which field the controller reads depends on the source (see
/// [`super::controller`]): upstream does not always look at `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTarget {
    pub r#type: MetricTargetType,
    #[serde(default)]
    pub value: Option<Quantity>,
    #[serde(default, alias = "averageValue")]
    pub average_value: Option<Quantity>,
    /// Percent of the pods' requests.
    #[serde(default, alias = "averageUtilization")]
    pub average_utilization: Option<i32>,
}

impl MetricTarget {
    pub fn utilization(percent: i32) -> MetricTarget {
        MetricTarget {
            r#type: MetricTargetType::Utilization,
            value: None,
            average_value: None,
            average_utilization: Some(percent),
        }
    }

    pub fn average_value(q: Quantity) -> MetricTarget {
        MetricTarget {
            r#type: MetricTargetType::AverageValue,
            value: None,
            average_value: Some(q),
            average_utilization: None,
        }
    }

    pub fn value(q: Quantity) -> MetricTarget {
        MetricTarget { r#type: MetricTargetType::Value, value: Some(q), average_value: None, average_utilization: None }
    }
}

/// `MetricTargetType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum MetricTargetType {
    #[serde(alias = "utilization")]
    Utilization,
    #[serde(alias = "value")]
    Value,
    #[serde(alias = "average_value", alias = "averageValue")]
    AverageValue,
}

impl MetricTargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricTargetType::Utilization => "Utilization",
            MetricTargetType::Value => "Value",
            MetricTargetType::AverageValue => "AverageValue",
        }
    }
}

/// `HorizontalPodAutoscalerBehavior`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaBehavior {
    #[serde(default, alias = "scaleUp")]
    pub scale_up: Option<HpaScalingRules>,
    #[serde(default, alias = "scaleDown")]
    pub scale_down: Option<HpaScalingRules>,
}

/// `HPAScalingRules`, as written: unset fields are filled by [`generate_scale_up_rules`] /
/// [`generate_scale_down_rules`] (the API server) and, for the scale-down window, by the
/// controller's `--horizontal-pod-autoscaler-downscale-stabilization`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaScalingRules {
    #[serde(default, alias = "stabilizationWindowSeconds")]
    pub stabilization_window_seconds: Option<i32>,
    #[serde(default, alias = "selectPolicy")]
    pub select_policy: Option<ScalingPolicySelect>,
    #[serde(default)]
    pub policies: Option<Vec<HpaScalingPolicy>>,
    /// Per-direction tolerance (feature gate `HPAConfigurableTolerance`, beta and on since 1.35).
    #[serde(default)]
    pub tolerance: Option<Quantity>,
}

/// `ScalingPolicySelect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum ScalingPolicySelect {
    #[serde(alias = "max")]
    Max,
    #[serde(alias = "min")]
    Min,
    #[serde(alias = "disabled")]
    Disabled,
}

impl ScalingPolicySelect {
    pub fn as_str(self) -> &'static str {
        match self {
            ScalingPolicySelect::Max => "Max",
            ScalingPolicySelect::Min => "Min",
            ScalingPolicySelect::Disabled => "Disabled",
        }
    }
}

/// `HPAScalingPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaScalingPolicy {
    pub r#type: HpaScalingPolicyType,
    pub value: i32,
    #[serde(alias = "periodSeconds")]
    pub period_seconds: i32,
}

impl HpaScalingPolicy {
    pub fn pods(value: i32, period_seconds: i32) -> HpaScalingPolicy {
        HpaScalingPolicy { r#type: HpaScalingPolicyType::Pods, value, period_seconds }
    }
    pub fn percent(value: i32, period_seconds: i32) -> HpaScalingPolicy {
        HpaScalingPolicy { r#type: HpaScalingPolicyType::Percent, value, period_seconds }
    }
}

/// `HPAScalingPolicyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum HpaScalingPolicyType {
    #[serde(alias = "pods")]
    Pods,
    #[serde(alias = "percent")]
    Percent,
}

impl HpaScalingPolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            HpaScalingPolicyType::Pods => "Pods",
            HpaScalingPolicyType::Percent => "Percent",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Defaults (pkg/apis/autoscaling/v2/defaults.go)
// ---------------------------------------------------------------------------------------------

/// `autoscaling.DefaultCPUUtilization`: the metric of an HPA that names none.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;

/// The API server's `scaleUpRules`: no stabilization, the larger of +4 pods or +100 % per 15 s.
pub fn default_scale_up_rules() -> HpaScalingRules {
    HpaScalingRules {
        stabilization_window_seconds: Some(0),
        select_policy: Some(ScalingPolicySelect::Max),
        policies: Some(vec![HpaScalingPolicy::pods(4, 15), HpaScalingPolicy::percent(100, 15)]),
        tolerance: None,
    }
}

/// The API server's `scaleDownRules`: -100 % per 15 s. The window stays unset: the controller
/// fills it from its `--horizontal-pod-autoscaler-downscale-stabilization` flag.
pub fn default_scale_down_rules() -> HpaScalingRules {
    HpaScalingRules {
        stabilization_window_seconds: None,
        select_policy: Some(ScalingPolicySelect::Max),
        policies: Some(vec![HpaScalingPolicy::percent(100, 15)]),
        tolerance: None,
    }
}

/// `copyHPAScalingRules(from, defaults)`: set fields of `from` override the defaults.
fn copy_rules(from: Option<&HpaScalingRules>, mut to: HpaScalingRules) -> HpaScalingRules {
    let Some(from) = from else { return to };
    if from.select_policy.is_some() {
        to.select_policy = from.select_policy;
    }
    if from.stabilization_window_seconds.is_some() {
        to.stabilization_window_seconds = from.stabilization_window_seconds;
    }
    if from.policies.is_some() {
        to.policies.clone_from(&from.policies);
    }
    if from.tolerance.is_some() {
        to.tolerance = from.tolerance;
    }
    to
}

/// `GenerateHPAScaleUpRules`.
pub fn generate_scale_up_rules(rules: Option<&HpaScalingRules>) -> HpaScalingRules {
    copy_rules(rules, default_scale_up_rules())
}

/// `GenerateHPAScaleDownRules`.
pub fn generate_scale_down_rules(rules: Option<&HpaScalingRules>) -> HpaScalingRules {
    copy_rules(rules, default_scale_down_rules())
}

impl HpaSpec {
    /// The spec as the API server stores it (`SetDefaults_HorizontalPodAutoscaler`): `minReplicas`
    /// 1, CPU at 80 % when no metric is named, and, only when `behavior` is set, both directions'
    /// rules completed from the defaults. A `None` behavior stays `None` (the legacy path).
    pub fn with_api_defaults(&self) -> HpaSpec {
        let mut s = self.clone();
        if s.min_replicas.is_none() {
            s.min_replicas = Some(1);
        }
        if s.metrics.is_empty() {
            s.metrics = vec![MetricSpec::resource("cpu", MetricTarget::utilization(DEFAULT_CPU_UTILIZATION))];
        }
        if let Some(b) = &mut s.behavior {
            b.scale_up = Some(generate_scale_up_rules(b.scale_up.as_ref()));
            b.scale_down = Some(generate_scale_down_rules(b.scale_down.as_ref()));
        }
        s
    }

    /// The checks of the API server's validation that the algorithm relies on (bounds, one source
    /// per metric matching its `type`, a usable target, rules within their ranges). Every problem
    /// is reported, with its field path.
    pub fn validate(&self) -> Result<(), Vec<SpecError>> {
        let mut errs = Vec::new();
        let mut err = |path: String, message: &str| errs.push(SpecError { path, message: message.to_string() });
        if let Some(min) = self.min_replicas {
            // 0 is only valid with the alpha `HPAScaleToZero` gate; autosim lets it through.
            if min < 0 {
                err("minReplicas".into(), "must be greater than or equal to 0");
            }
            if min > self.max_replicas {
                err("maxReplicas".into(), "must be greater than or equal to minReplicas");
            }
        }
        if self.max_replicas < 1 {
            err("maxReplicas".into(), "must be greater than 0");
        }
        for (i, m) in self.metrics.iter().enumerate() {
            let p = format!("metrics[{i}]");
            let set = [
                (MetricSourceType::Resource, m.resource.is_some()),
                (MetricSourceType::ContainerResource, m.container_resource.is_some()),
                (MetricSourceType::Pods, m.pods.is_some()),
                (MetricSourceType::Object, m.object.is_some()),
                (MetricSourceType::External, m.external.is_some()),
            ];
            for (t, present) in set {
                if t == m.r#type && !present {
                    err(format!("{p}.{}", field_of(t)), "must be set for this metric type");
                } else if t != m.r#type && present {
                    err(format!("{p}.{}", field_of(t)), "must be unset for this metric type");
                }
            }
            let Some(target) = m.target() else { continue };
            let tp = format!("{p}.{}.target", field_of(m.r#type));
            let positive = |q: &Option<Quantity>| q.map(|q| q.milli() > 0);
            match target.r#type {
                MetricTargetType::Utilization => match target.average_utilization {
                    None => err(format!("{tp}.averageUtilization"), "must be set when the target type is Utilization"),
                    Some(u) if u <= 0 => err(format!("{tp}.averageUtilization"), "must be greater than 0"),
                    _ => {}
                },
                MetricTargetType::AverageValue => {
                    if positive(&target.average_value) != Some(true) {
                        err(
                            format!("{tp}.averageValue"),
                            "must be set and positive when the target type is AverageValue",
                        )
                    }
                }
                MetricTargetType::Value => {
                    if positive(&target.value) != Some(true) {
                        err(format!("{tp}.value"), "must be set and positive when the target type is Value")
                    }
                }
            }
            let allowed = match m.r#type {
                MetricSourceType::Resource | MetricSourceType::ContainerResource => {
                    target.r#type != MetricTargetType::Value
                }
                MetricSourceType::Pods => target.r#type == MetricTargetType::AverageValue,
                MetricSourceType::Object | MetricSourceType::External => target.r#type != MetricTargetType::Utilization,
            };
            if !allowed {
                err(format!("{tp}.type"), "is not allowed for this metric type");
            }
        }
        if let Some(b) = &self.behavior {
            for (name, rules) in [("scaleUp", &b.scale_up), ("scaleDown", &b.scale_down)] {
                let Some(r) = rules else { continue };
                let p = format!("behavior.{name}");
                if let Some(w) = r.stabilization_window_seconds {
                    if !(0..=MAX_STABILIZATION_WINDOW_SECONDS).contains(&w) {
                        err(format!("{p}.stabilizationWindowSeconds"), "must be between 0 and 3600");
                    }
                }
                if let Some(policies) = &r.policies {
                    if policies.is_empty() {
                        err(format!("{p}.policies"), "must specify at least one Policy");
                    }
                    for (j, pol) in policies.iter().enumerate() {
                        if pol.value <= 0 {
                            err(format!("{p}.policies[{j}].value"), "must be greater than zero");
                        }
                        if !(1..=MAX_PERIOD_SECONDS).contains(&pol.period_seconds) {
                            err(format!("{p}.policies[{j}].periodSeconds"), "must be between 1 and 1800");
                        }
                    }
                }
                if let Some(t) = r.tolerance {
                    if t.as_approximate_f64() < 0.0 {
                        err(format!("{p}.tolerance"), "must be greater than or equal to 0");
                    }
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// The largest `stabilizationWindowSeconds` the API accepts (one hour).
pub const MAX_STABILIZATION_WINDOW_SECONDS: i32 = 3600;
/// The largest policy `periodSeconds` the API accepts (30 minutes).
pub const MAX_PERIOD_SECONDS: i32 = 1800;

fn field_of(t: MetricSourceType) -> &'static str {
    match t {
        MetricSourceType::Resource => "resource",
        MetricSourceType::ContainerResource => "containerResource",
        MetricSourceType::Pods => "pods",
        MetricSourceType::Object => "object",
        MetricSourceType::External => "external",
    }
}

/// One problem found by [`HpaSpec::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.{path}: {message}")]
pub struct SpecError {
    /// The field, in the manifest's camelCase (`metrics[0].resource.target.averageUtilization`).
    pub path: String,
    pub message: String,
}

impl MetricSpec {
    pub fn resource(name: &str, target: MetricTarget) -> MetricSpec {
        MetricSpec {
            r#type: MetricSourceType::Resource,
            resource: Some(ResourceMetricSource { name: name.to_string(), target }),
            ..MetricSpec::empty(MetricSourceType::Resource)
        }
    }

    pub fn container_resource(name: &str, container: &str, target: MetricTarget) -> MetricSpec {
        MetricSpec {
            container_resource: Some(ContainerResourceMetricSource {
                name: name.to_string(),
                container: container.to_string(),
                target,
            }),
            ..MetricSpec::empty(MetricSourceType::ContainerResource)
        }
    }

    pub fn pods(metric: &str, target: MetricTarget) -> MetricSpec {
        MetricSpec {
            pods: Some(PodsMetricSource {
                metric: MetricIdentifier { name: metric.to_string(), selector: None },
                target,
            }),
            ..MetricSpec::empty(MetricSourceType::Pods)
        }
    }

    pub fn object(described: CrossVersionObjectReference, metric: &str, target: MetricTarget) -> MetricSpec {
        MetricSpec {
            object: Some(ObjectMetricSource {
                described_object: described,
                metric: MetricIdentifier { name: metric.to_string(), selector: None },
                target,
            }),
            ..MetricSpec::empty(MetricSourceType::Object)
        }
    }

    pub fn external(metric: &str, target: MetricTarget) -> MetricSpec {
        MetricSpec {
            external: Some(ExternalMetricSource {
                metric: MetricIdentifier { name: metric.to_string(), selector: None },
                target,
            }),
            ..MetricSpec::empty(MetricSourceType::External)
        }
    }

    fn empty(t: MetricSourceType) -> MetricSpec {
        MetricSpec { r#type: t, resource: None, container_resource: None, pods: None, object: None, external: None }
    }

    /// The target of the source that `type` names, if that source is set.
    pub fn target(&self) -> Option<&MetricTarget> {
        match self.r#type {
            MetricSourceType::Resource => self.resource.as_ref().map(|s| &s.target),
            MetricSourceType::ContainerResource => self.container_resource.as_ref().map(|s| &s.target),
            MetricSourceType::Pods => self.pods.as_ref().map(|s| &s.target),
            MetricSourceType::Object => self.object.as_ref().map(|s| &s.target),
            MetricSourceType::External => self.external.as_ref().map(|s| &s.target),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Quantities
// ---------------------------------------------------------------------------------------------

/// A Kubernetes `resource.Quantity`, kept as the controller reads it: [`Quantity::milli`] is
/// `MilliValue()` (fractions of a milli-unit round up) and [`Quantity::as_approximate_f64`] is
/// `AsApproximateFloat64()`. Negative quantities are refused (every quantity of an HPA or
/// ScaledObject spec must be positive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    milli: i64,
    approx: f64,
}

impl Quantity {
    /// `n` milli-units (`from_milli(500)` is `"500m"`).
    pub fn from_milli(n: i64) -> Quantity {
        Quantity { milli: n, approx: n as f64 / 1000.0 }
    }

    /// `n` whole units.
    pub fn from_units(n: i64) -> Quantity {
        Quantity { milli: n.saturating_mul(1000), approx: n as f64 }
    }

    /// `MilliValue()`.
    pub fn milli(self) -> i64 {
        self.milli
    }

    /// `AsApproximateFloat64()`.
    pub fn as_approximate_f64(self) -> f64 {
        self.approx
    }

    /// Parse `"500m"`, `"2"`, `"0.05"`, `"1.5k"`, `"512Mi"`, `"1e3"`.
    pub fn parse(s: &str) -> Result<Quantity, String> {
        let expected = || {
            format!(
                "invalid quantity {s:?}: expected a non-negative Kubernetes quantity, like \"500m\", \"2\", \"0.05\", \
                 \"1.5k\" or \"512Mi\""
            )
        };
        let milli = crate::units::parse_cpu(s).map_err(|_| expected())?;
        let milli = i64::try_from(milli.0).map_err(|_| format!("invalid quantity {s:?}: too large"))?;
        let t = s.trim().trim_start_matches('+');
        let (number, mult) =
            SUFFIXES.iter().find_map(|&(suffix, mult)| t.strip_suffix(suffix).map(|n| (n, mult))).unwrap_or((t, 1.0));
        let approx = number.parse::<f64>().map(|n| n * mult).unwrap_or(milli as f64 / 1000.0);
        Ok(Quantity { milli, approx })
    }
}

/// Quantity suffixes and their multipliers (two-letter binary suffixes first).
const SUFFIXES: &[(&str, f64)] = &[
    ("Ki", 1024.0),
    ("Mi", 1_048_576.0),
    ("Gi", 1_073_741_824.0),
    ("Ti", 1_099_511_627_776.0),
    ("Pi", 1_125_899_906_842_624.0),
    ("Ei", 1_152_921_504_606_846_976.0),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
];

/// Milli-units as a quantity: `"500m"`, or whole units as `"2"`.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.milli % 1000 == 0 {
            write!(f, "{}", self.milli / 1000)
        } else {
            write!(f, "{}m", self.milli)
        }
    }
}

struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes quantity like \"500m\" or \"2\", or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        Quantity::parse(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        if v < 0 {
            return Err(E::custom(format!("invalid quantity {v}: must not be negative")));
        }
        Ok(Quantity::from_units(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        i64::try_from(v).map(Quantity::from_units).map_err(|_| E::custom(format!("invalid quantity {v}: too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        if !v.is_finite() {
            return Err(E::custom(format!("invalid quantity {v}")));
        }
        Quantity::parse(&format!("{v}")).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(QuantityVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let q = Quantity::parse("500m").unwrap();
        assert_eq!((q.milli(), q.as_approximate_f64()), (500, 0.5));
        assert_eq!(Quantity::parse("2").unwrap().milli(), 2000);
        assert_eq!(Quantity::parse("1.5k").unwrap().milli(), 1_500_000);
        assert_eq!(Quantity::parse("1Ki").unwrap().milli(), 1_024_000);
        // MilliValue rounds up; the float keeps the fraction.
        let q = Quantity::parse("0.0001").unwrap();
        assert_eq!((q.milli(), q.as_approximate_f64()), (1, 0.0001));
        assert!(Quantity::parse("-1").is_err());
        assert!(Quantity::parse("1MB").is_err());
        assert_eq!(Quantity::from_milli(2500).to_string(), "2500m");
        assert_eq!(Quantity::from_units(3).to_string(), "3");
    }

    const YAML_LIKE: &str = r#"{
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2, "maxReplicas": 10,
        "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
            {"type": "External", "external": {"metric": {"name": "queue", "selector": {"matchLabels": {"q": "a"}}},
             "target": {"type": "AverageValue", "averageValue": "30"}}}
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60,
            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}], "selectPolicy": "Min", "tolerance": "50m"}}
    }"#;

    #[test]
    fn camel_case_manifest() {
        let s: HpaSpec = serde_json::from_str(YAML_LIKE).unwrap();
        assert_eq!(s.min_replicas, Some(2));
        assert_eq!(s.metrics[0].resource.as_ref().unwrap().target.average_utilization, Some(60));
        assert_eq!(s.metrics[1].external.as_ref().unwrap().target.average_value.unwrap().milli(), 30_000);
        let down = s.behavior.as_ref().unwrap().scale_down.as_ref().unwrap();
        assert_eq!(down.tolerance.unwrap().as_approximate_f64(), 0.05);
        assert_eq!(down.select_policy, Some(ScalingPolicySelect::Min));
        assert!(s.validate().is_ok());
    }

    #[test]
    fn snake_case_toml() {
        let s: HpaSpec = toml::from_str(
            r#"
            min_replicas = 1
            max_replicas = 5
            [[metrics]]
            type = "pods"
            pods = { metric = { name = "qps" }, target = { type = "average_value", average_value = "10" } }
            [behavior.scale_up]
            stabilization_window_seconds = 30
            select_policy = "max"
            policies = [{ type = "percent", value = 50, period_seconds = 15 }]
            tolerance = 0.02
            "#,
        )
        .unwrap();
        assert_eq!(s.metrics[0].r#type, MetricSourceType::Pods);
        let up = s.behavior.as_ref().unwrap().scale_up.as_ref().unwrap();
        assert_eq!(up.policies.as_ref().unwrap()[0], HpaScalingPolicy::percent(50, 15));
        assert_eq!(up.tolerance.unwrap().as_approximate_f64(), 0.02);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<HpaSpec>(r#"{"maxReplicas": 3, "maxReplica": 4}"#).is_err());
        assert!(toml::from_str::<HpaSpec>("max_replicas = 3\n[behavior]\nscale_upp = {}").is_err());
    }

    #[test]
    fn api_defaults() {
        let s =
            HpaSpec { scale_target_ref: None, min_replicas: None, max_replicas: 4, metrics: vec![], behavior: None }
                .with_api_defaults();
        assert_eq!(s.min_replicas, Some(1));
        assert_eq!(s.metrics, vec![MetricSpec::resource("cpu", MetricTarget::utilization(80))]);
        // No behavior stays no behavior: the legacy path.
        assert_eq!(s.behavior, None);

        let s = HpaSpec {
            behavior: Some(HpaBehavior {
                scale_up: Some(HpaScalingRules { stabilization_window_seconds: Some(60), ..Default::default() }),
                scale_down: None,
            }),
            ..s
        }
        .with_api_defaults();
        let b = s.behavior.unwrap();
        let up = b.scale_up.unwrap();
        assert_eq!(up.stabilization_window_seconds, Some(60));
        assert_eq!(up.policies, default_scale_up_rules().policies);
        assert_eq!(up.select_policy, Some(ScalingPolicySelect::Max));
        assert_eq!(b.scale_down.unwrap(), default_scale_down_rules());
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut s: HpaSpec = serde_json::from_str(YAML_LIKE).unwrap();
        s.min_replicas = Some(20);
        s.metrics[0].resource.as_mut().unwrap().target.average_utilization = None;
        s.metrics[1].pods = s.metrics[0].pods.clone().or(Some(PodsMetricSource {
            metric: MetricIdentifier { name: "x".into(), selector: None },
            target: MetricTarget::average_value(Quantity::from_units(1)),
        }));
        let b = s.behavior.as_mut().unwrap().scale_down.as_mut().unwrap();
        b.policies = Some(vec![HpaScalingPolicy::pods(0, 3601)]);
        let errs = s.validate().unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "maxReplicas",
                "metrics[0].resource.target.averageUtilization",
                "metrics[1].pods",
                "behavior.scaleDown.policies[0].value",
                "behavior.scaleDown.policies[0].periodSeconds"
            ]
        );
    }
}
