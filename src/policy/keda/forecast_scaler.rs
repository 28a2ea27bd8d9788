//! Seed 004's external scaler at run time: the forecast trigger of a ScaledObject. It samples
//! the load through the pipeline, feeds a forecaster and serves KEDA the forecast (or, with
//! `hybrid`, the current value when they disagree). `kind = "predictive"`
//! (`crate::policy::predictive`) builds ScaledObjects with it; `keda::policy` runs it.

use std::sync::Arc;

use crate::engine::SimTime;
use crate::metrics::expr::Expr;
use crate::policy::forecast::{Accuracy, Forecaster, Method};
use crate::policy::Observation;

/// The scaler's settings.
#[derive(Debug, Clone)]
pub struct ForecastConfig {
    pub metric: Expr,
    pub method: Method,
    pub interval_ns: u64,
    /// Samples ahead: `ceil((lead + pipeline_delay) / interval)`.
    pub horizon: usize,
    pub lead_ns: u64,
    /// The per-replica target (the trigger's threshold), for the hybrid's comparison.
    pub threshold: f64,
    /// Hybrid: serve the current value when the replica counts differ by more than this.
    pub hybrid_margin: Option<f64>,
}

/// The scaler's state during a run.
#[derive(Debug, Clone)]
pub struct Predictor {
    cfg: Arc<ForecastConfig>,
    fc: Forecaster,
    acc: Accuracy,
    n: u64,
    next: SimTime,
    last: f64,
    served: Option<f64>,
    samples: u64,
    overrides: u64,
}

impl Predictor {
    pub fn new(cfg: Arc<ForecastConfig>) -> Self {
        let fc = Forecaster::new(cfg.method.clone());
        Predictor { cfg, fc, acc: Accuracy::default(), n: 0, next: 0, last: 0.0, served: None, samples: 0, overrides: 0 }
    }

    pub fn next_sample(&self) -> SimTime {
        self.next
    }

    /// Read the metric and forecast.
    pub fn sample(&mut self, obs: &Observation<'_>) {
        let v = match obs.promql(&self.cfg.metric).and_then(|r| self.cfg.metric.reduce(&r)) {
            Ok(Some(v)) => v,
            Ok(None) => 0.0,
            Err(_) => self.last,
        };
        self.last = v;
        self.acc.observed(self.n, v);
        self.fc.observe(v);
        let h = self.cfg.horizon;
        let predicted = self.fc.forecast(h).unwrap_or(v);
        self.acc.predicted(self.n + h as u64, predicted);
        self.n += 1;
        self.samples += 1;
        let mut served = predicted;
        if let Some(m) = self.cfg.hybrid_margin {
            let t = self.cfg.threshold;
            let (r, p) = ((v / t).ceil(), (predicted / t).ceil());
            if (r - p).abs() > m {
                served = v;
                self.overrides += 1;
            }
        }
        self.served = Some(served);
        self.next = obs.now() + self.cfg.interval_ns;
    }

    /// What `GetMetrics` answers now.
    pub fn value(&self) -> Result<f64, String> {
        self.served.ok_or_else(|| "the predictive scaler has no sample yet".to_string())
    }

    pub fn report(&self) -> Vec<(String, f64)> {
        let mut v = Vec::new();
        if let Some(m) = self.acc.mape() {
            v.push(("forecast_mape".to_string(), m));
        }
        if let Some(b) = self.acc.bias() {
            v.push(("forecast_bias".to_string(), b));
        }
        v.push(("forecast_scored".to_string(), self.acc.scored() as f64));
        v.push(("forecast_lead_s".to_string(), self.cfg.lead_ns as f64 / 1e9));
        if self.cfg.hybrid_margin.is_some() {
            v.push(("hybrid_reactive_share".to_string(), if self.samples == 0 { 0.0 } else { self.overrides as f64 / self.samples as f64 }));
        }
        v
    }
}
