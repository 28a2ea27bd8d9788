//! `kind = "predictive"`: seed 004's KEDA external scaler, which serves KEDA a forecast of the
//! load instead of its current value. It is a ScaledObject with one `external` trigger (the
//! scaler's `GetMetrics` answers the forecast, `IsActive` whether it or the current value is
//! above the activation threshold); KEDA's polling loop and the HPA KEDA creates do the rest, as
//! in `kind = "keda"`.
//!
//! The scaler samples `metric` (the load as the pipeline shows it: lagged, never ground truth)
//! every `interval`, feeds a [`Forecaster`], and forecasts `lead + pipeline_delay` ahead: the
//! sample it reads at `t` shows the load of `t - pipeline_delay`, and it wants the load at
//! `t + lead` (default `lead`: the service's p95 startup time, so that pods asked for now are
//! ready when the load arrives). With `hybrid` (seed 000), when the replicas the current value
//! asks for differ from those of the forecast by more than `margin`, the current value is served
//! (a spike the forecast did not see).
//!
//! Accuracy: every forecast is scored against the sample later read for its target time
//! (`forecast_mape`, `forecast_bias` in `policy_stats`).

use std::sync::Arc;

use super::forecast::Method;
use super::keda::{ScaleTrigger, ScaledObjectSpec};
use super::keda::forecast_scaler::ForecastConfig;
use super::keda::policy::{build_factory, inline_spec, parse_controller, parse_faults, TriggerSource};
use crate::metrics::expr::Expr;
use crate::policy::PolicyFactory;
use crate::scenario::params::Params;
use crate::scenario::ConfigError;




#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForecaster {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    season: Option<crate::units::Duration>,
    #[serde(default)]
    alpha: Option<f64>,
    #[serde(default)]
    beta: Option<f64>,
    #[serde(default)]
    gamma: Option<f64>,
    #[serde(default)]
    window: Option<crate::units::Duration>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHybrid {
    margin: f64,
}

/// `[policies.pods] kind = "predictive"`.
pub fn parse(p: &mut Params, ctx: &crate::policy::PodContext<'_>) -> Result<Arc<dyn PolicyFactory>, ConfigError> {
    let service = ctx.service;
    let sc = ctx.scenario;
    let svc = &sc.services[service];
    let what = p.what.clone();
    if p.has("triggers") || p.has("manifest") {
        let key = if p.has("triggers") { "triggers" } else { "manifest" };
        return Err(ConfigError::at(p.span_of(key), format!("{what}: the predictive scaler is the ScaledObject's one trigger; set `metric` and `threshold` instead of `{key}`")));
    }
    let mut so: ScaledObjectSpec = inline_spec(p, false)?;
    let name = p.get::<String>("name")?.unwrap_or_else(|| svc.name.clone());
    let services: Vec<String> = sc.services.iter().map(|s| s.name.clone()).collect();
    let default_metric = format!(
        "sum(rate(ingress_requests_total{{service=\"{}\"}}[{}ms]))",
        svc.name,
        sc.metrics.rate_window_ns / 1_000_000
    );
    let metric_text = p.get::<String>("metric")?.unwrap_or(default_metric);
    let metric = Expr::parse(&metric_text, &services).map_err(|e| ConfigError::at(p.span_of("metric"), format!("{what}: `metric`: {e}")))?;
    let threshold: super::hpa::spec::Quantity = p.require("threshold")?;
    let activation: Option<super::hpa::spec::Quantity> = p.get("activation_threshold")?;
    let metric_type: Option<super::hpa::spec::MetricTargetType> = p.get("metric_type")?;
    let interval_ns = p.get::<crate::units::Duration>("interval")?.map_or(60 * 1_000_000_000, |d| d.0);
    if interval_ns < 1_000_000_000 {
        return Err(ConfigError::at(p.span_of("interval"), format!("{what}: `interval` must be at least 1s")));
    }
    let lead_ns = match p.get::<crate::units::Duration>("lead")? {
        Some(d) => d.0,
        None => (svc.startup.quantile(0.95).max(0.0) * 1e9).round() as u64,
    };
    let horizon = (((lead_ns + sc.metrics.pipeline_delay_ns) as f64 / interval_ns as f64).ceil() as usize).max(1);
    let raw = p.get::<RawForecaster>("forecaster")?.unwrap_or(RawForecaster { method: None, season: None, alpha: None, beta: None, gamma: None, window: None });
    let fat = p.span_of("forecaster");
    let ferr = |m: String| ConfigError::at(fat.clone(), format!("{what}: forecaster: {m}"));
    let season_samples = |d: Option<crate::units::Duration>| -> Result<usize, ConfigError> {
        let s = d.map_or(86_400 * 1_000_000_000, |d| d.0);
        if !s.is_multiple_of(interval_ns) || s / interval_ns < 2 {
            return Err(ferr(format!("`season` ({} s) must be a whole number of `interval`s ({} s), at least two", s as f64 / 1e9, interval_ns as f64 / 1e9)));
        }
        Ok((s / interval_ns) as usize)
    };
    let unit = |name: &str, v: Option<f64>, default: f64| -> Result<f64, ConfigError> {
        let v = v.unwrap_or(default);
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            return Err(ferr(format!("`{name} = {v}`: expected a smoothing factor in [0, 1]")));
        }
        Ok(v)
    };
    let method = match raw.method.as_deref().unwrap_or("seasonal_naive") {
        "seasonal_naive" => Method::SeasonalNaive { season: season_samples(raw.season)? },
        "holt_winters" => Method::HoltWinters {
            season: season_samples(raw.season)?,
            alpha: unit("alpha", raw.alpha, 0.5)?,
            beta: unit("beta", raw.beta, 0.05)?,
            gamma: unit("gamma", raw.gamma, 0.3)?,
        },
        "linear_trend" => {
            let w = raw.window.map_or(600 * 1_000_000_000, |d| d.0);
            let n = (w / interval_ns) as usize;
            if n < 2 {
                return Err(ferr("`window` must hold at least two `interval`s".into()));
            }
            Method::LinearTrend { window: n }
        }
        o => return Err(ferr(format!("method {o:?}: expected \"seasonal_naive\", \"holt_winters\" or \"linear_trend\""))),
    };
    let hybrid_margin = match p.get::<RawHybrid>("hybrid")? {
        None => None,
        Some(h) if h.margin.is_finite() && h.margin >= 0.0 => Some(h.margin),
        Some(h) => return Err(ConfigError::at(p.span_of("hybrid"), format!("{what}: hybrid.margin = {}: expected replicas, 0 or more", h.margin))),
    };
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("scalerAddress".to_string(), "autosim-predictive:6000".to_string());
    metadata.insert("threshold".to_string(), threshold.to_string());
    if let Some(a) = activation {
        metadata.insert("activationThreshold".to_string(), format!("{}", a.as_approximate_f64()));
    }
    so.triggers = vec![ScaleTrigger {
        r#type: "external".into(),
        name: Some("predictive".into()),
        use_cached_metrics: false,
        metadata,
        authentication_ref: None,
        metric_type,
    }];
    let cfg = ForecastConfig { metric, method, interval_ns, horizon, lead_ns, threshold: threshold.as_approximate_f64(), hybrid_margin };
    let config = parse_controller(p)?;
    let faults = parse_faults(p, &so)?;
    let schedule = super::schedule::parse(p, &services)?;
    let sources = vec![(TriggerSource::Forecast(Arc::new(cfg)), false)];
    let f = build_factory("predictive", service, name, so, Default::default(), sources, config, faults, schedule)
        .map_err(|e| ConfigError::at(p.span.clone(), format!("{what}: invalid ScaledObject: {e}")))?;
    Ok(Arc::new(f))
}
