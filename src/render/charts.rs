//! The report's figures, built from a [`RunView`]: one timeline per policy and service, and
//! the comparisons (replicas over the load, latency CDFs and percentile spectra, cost against
//! SLO attainment, headline bars). Every step of the timeseries is given to the figure, in
//! passes over the rows ([`super::passes`]); on a run with more steps than the plot has pixel
//! columns, the figure draws each column's mean in its min-max band (see
//! [`crate::plot::figure`]), so the daily shape and a short spike both stay visible.

use super::passes::{self, LineSpec, PanelSpec, Source, TimelineSpec};
use super::view::{AgainError, PolicyRun, RunView};
use crate::report::Row;
use crate::plot::figure::{BarGrid, Bars, Cdf, Figure, Line, Panel, Scatter, Spectrum, Timeline};
use crate::plot::{color, format_time};

const WIDTH: u32 = 1280;
const GREY: (u8, u8, u8) = (0x88, 0x88, 0x88);
const SLO_LINE: (u8, u8, u8) = (0x22, 0x22, 0x22);

fn peak(rows: &[&Row], f: impl Fn(&Row) -> f64) -> f64 {
    rows.iter().map(|r| f(r)).fold(f64::NEG_INFINITY, f64::max)
}

fn mean_rate(rows: &[&Row], start: f64, end: f64, f: impl Fn(&Row) -> f64) -> f64 {
    if end > start {
        rows.iter().map(|r| f(r)).sum::<f64>() / (end - start)
    } else {
        0.0
    }
}

/// Arrivals per second over the bucket, from each step's rate and length.
fn load(rows: &[&Row], start: f64, end: f64) -> f64 {
    if end <= start {
        return rows.first().map_or(0.0, |r| r.load_rps);
    }
    let mut t = start;
    let mut sum = 0.0;
    for r in rows {
        sum += r.load_rps * (r.time_s - t);
        t = r.time_s;
    }
    sum / (end - start)
}

fn time_desc(end_s: f64) -> String {
    format!("time since the start of the run (run length {})", format_time(end_s, 1.0))
}

fn slo_of(view: &RunView, p: &PolicyRun, service: &str) -> f64 {
    p.summary
        .services
        .get(service)
        .map(|s| s.slo.latency_s)
        .filter(|v| *v > 0.0)
        .or_else(|| view.brief.services.iter().find(|s| s.name == service).map(|s| s.slo_latency_s))
        .unwrap_or(0.0)
}

fn line<'a>(source: usize, line: Line, value: impl Fn(&[&Row], f64, f64) -> f64 + 'a) -> LineSpec<'a> {
    LineSpec { source, line, value: Box::new(value) }
}

/// One policy's timeline for one service.
pub fn timeline(view: &RunView, p: &PolicyRun, service: &str) -> Result<Figure, AgainError> {
    // The axis goes on to the last row's time if later (`to_last_row`).
    let end = p.summary.duration_s;
    let util = view.brief.demand_utilization.max(p.summary.elasticity.demand_utilization);
    let pts = Vec::new;
    let mut panels = Vec::new();
    panels.push(PanelSpec {
        panel: Panel { title: "Load".into(), y_desc: "requests per second".into(), height: 200, ..Panel::default() },
        lines: vec![line(0, Line::new("arrivals", pts(), color(0)).steps(), load)],
        markers: None,
    });
    panels.push(PanelSpec {
        panel: Panel { title: "Pods".into(), y_desc: "pods".into(), height: 260, ..Panel::default() },
        lines: vec![
            line(0, Line::new(format!("needed at {:.0}% of slots", util * 100.0), pts(), GREY).steps().dashed(), |r, _, _| peak(r, |x| f64::from(x.demand_pods))),
            line(0, Line::new("desired", pts(), color(0)).steps(), |r, _, _| peak(r, |x| f64::from(x.replicas_desired))),
            line(0, Line::new("ready", pts(), color(4)).steps(), |r, _, _| peak(r, |x| f64::from(x.pods_ready))),
            line(0, Line::new("pending + starting", pts(), color(1)).steps(), |r, _, _| peak(r, |x| f64::from(x.pods_pending + x.pods_starting))),
        ],
        markers: Some(0),
    });
    if !view.brief.pools.is_empty() || any_row(p, service, |r| r.nodes_provisioning > 0)? {
        panels.push(PanelSpec {
            panel: Panel { title: "Nodes (whole cluster)".into(), y_desc: "nodes".into(), height: 180, ..Panel::default() },
            lines: vec![
                line(0, Line::new("ready", pts(), color(4)).steps(), |r, _, _| peak(r, |x| f64::from(x.nodes_ready))),
                line(0, Line::new("provisioning", pts(), color(1)).steps(), |r, _, _| peak(r, |x| f64::from(x.nodes_provisioning))),
            ],
            markers: None,
        });
    }
    let slo = slo_of(view, p, service);
    let pct = p.summary.services.get(service).map_or(99.0, |s| s.slo.percentile);
    // The SLO's own percentile (the timeseries holds p50, p95 and p99: another percentile is
    // drawn as the nearest of them at or above it, and named so), and the median for context.
    let (slo_name, slo_of_row): (String, fn(&Row) -> f64) = if pct <= 50.0 {
        ("p50".into(), |x| x.latency_p50_s)
    } else if pct <= 95.0 {
        (if pct == 95.0 { "p95".into() } else { format!("p95 (nearest to the SLO's p{pct})") }, |x| x.latency_p95_s)
    } else {
        (if pct == 99.0 { "p99".into() } else { format!("p99 (nearest to the SLO's p{pct})") }, |x| x.latency_p99_s)
    };
    let mut latency_lines = vec![line(0, Line::new(slo_name, pts(), color(2)).steps(), move |r, _, _| peak(r, slo_of_row))];
    if pct > 50.0 {
        latency_lines.push(line(0, Line::new("p50", pts(), color(0)).steps(), |r, _, _| peak(r, |x| x.latency_p50_s)));
    }
    panels.push(PanelSpec {
        panel: Panel {
            title: "Latency of the requests completed in each step".into(),
            y_desc: "seconds".into(),
            hlines: if slo > 0.0 { vec![(format!("SLO: p{pct} <= {}", crate::plot::figure::short_secs(slo)), slo, SLO_LINE)] } else { vec![] },
            height: 220,
            ..Panel::default()
        },
        lines: latency_lines,
        markers: None,
    });
    panels.push(PanelSpec {
        panel: Panel { title: "Failed requests".into(), y_desc: "per second".into(), height: 180, ..Panel::default() },
        lines: vec![
            line(0, Line::new("rejected", pts(), color(2)).steps(), |r, a, e| mean_rate(r, a, e, |x| x.rejected as f64)),
            line(0, Line::new("timed out", pts(), color(1)).steps(), |r, a, e| mean_rate(r, a, e, |x| x.timed_out as f64)),
            line(0, Line::new("lost", pts(), color(6)).steps(), |r, a, e| mean_rate(r, a, e, |x| x.lost as f64)),
        ],
        markers: None,
    });
    let services = view.services();
    let what = if services.len() > 1 { format!(" / {service}") } else { String::new() };
    passes::build(TimelineSpec {
        timeline: Timeline {
            title: format!("{}: policy {}{what}", view.brief.scenario, p.label),
            x_desc: String::new(),
            start_s: 0.0,
            end_s: end,
            panels: Vec::new(),
            width: WIDTH,
        },
        sources: vec![Source { run: p, service }],
        panels,
        to_last_row: true,
        x_desc: time_desc,
    })
}

/// Whether any of the service's rows (held, or read again) has `f`.
fn any_row(p: &PolicyRun, service: &str, f: impl Fn(&Row) -> bool) -> Result<bool, AgainError> {
    let Some(again) = &p.again else {
        return Ok(p.timeseries.iter().any(|r| r.service == service && f(r)));
    };
    for r in again.timeseries()? {
        let r = r?;
        if r.service == service && f(&r) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Ready pods of every policy over the load, for one service.
pub fn replicas(view: &RunView, service: &str) -> Result<Figure, AgainError> {
    let end = view.policies.iter().map(|p| p.summary.duration_s).fold(0.0, f64::max);
    let mut load_lines = Vec::new();
    let mut pod_lines = Vec::new();
    for (i, p) in view.policies.iter().enumerate() {
        if i == 0 {
            load_lines.push(line(i, Line::new("arrivals", Vec::new(), GREY).steps(), load));
            pod_lines.push(line(
                i,
                Line::new(format!("needed at {:.0}% of slots", view.brief.demand_utilization.max(p.summary.elasticity.demand_utilization) * 100.0), Vec::new(), GREY)
                    .steps()
                    .dashed(),
                |r, _, _| peak(r, |x| f64::from(x.demand_pods)),
            ));
        }
        pod_lines.push(line(i, Line::new(p.label.clone(), Vec::new(), color(i)).steps(), |r, _, _| peak(r, |x| f64::from(x.pods_ready))));
    }
    let services = view.services();
    let what = if services.len() > 1 { format!(" ({service})") } else { String::new() };
    passes::build(TimelineSpec {
        timeline: Timeline {
            title: format!("{}: ready pods of each policy over the load{what}", view.brief.scenario),
            x_desc: String::new(),
            start_s: 0.0,
            end_s: end,
            panels: Vec::new(),
            width: WIDTH,
        },
        sources: view.policies.iter().map(|run| Source { run, service }).collect(),
        panels: vec![
            PanelSpec {
                panel: Panel { title: "Load (the same for every open-loop policy run)".into(), y_desc: "requests per second".into(), height: 220, ..Panel::default() },
                lines: load_lines,
                markers: None,
            },
            PanelSpec { panel: Panel { title: "Ready pods".into(), y_desc: "pods".into(), height: 340, ..Panel::default() }, lines: pod_lines, markers: None },
        ],
        to_last_row: false,
        x_desc: time_desc,
    })
}

/// Latency CDFs of all completed requests, per policy.
pub fn latency_cdf(view: &RunView) -> Figure {
    let mut slos: Vec<f64> = view.brief.services.iter().map(|s| s.slo_latency_s).filter(|v| *v > 0.0).collect();
    if slos.is_empty() {
        if let Some(p) = view.policies.first() {
            slos = p.summary.services.values().map(|s| s.slo.latency_s).filter(|v| *v > 0.0).collect();
        }
    }
    slos.sort_by(f64::total_cmp);
    slos.dedup();
    Figure::Cdf(Cdf {
        title: format!("{}: latency distribution of completed requests", view.brief.scenario),
        curves: view.policies.iter().enumerate().map(|(i, p)| (p.label.clone(), color(i), p.latency_cdf.clone())).collect(),
        vlines: slos.into_iter().map(|v| (format!("SLO latency {}", crate::plot::figure::short_secs(v)), v)).collect(),
        width: WIDTH,
        height: 560,
    })
}

/// Latency percentile spectra of all completed requests, per policy, with each SLO.
pub fn latency_spectrum(view: &RunView) -> Figure {
    let mut slos: Vec<(f64, f64)> = Vec::new();
    for p in &view.policies {
        for s in p.summary.services.values() {
            if s.slo.latency_s > 0.0 {
                slos.push((s.slo.latency_s, s.slo.percentile));
            }
        }
    }
    if slos.is_empty() {
        slos = view.brief.services.iter().filter(|s| s.slo_latency_s > 0.0).map(|s| (s.slo_latency_s, 99.0)).collect();
    }
    slos.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    slos.dedup();
    Figure::Spectrum(Spectrum {
        title: format!("{}: latency by percentile (the tail to 99.999%)", view.brief.scenario),
        curves: view.policies.iter().enumerate().map(|(i, p)| (p.label.clone(), color(i), p.latency_cdf.clone())).collect(),
        slos: slos.into_iter().map(|(v, pct)| (format!("SLO: p{pct} <= {}", crate::plot::figure::short_secs(v)), v, pct)).collect(),
        width: WIDTH,
        height: 560,
    })
}

/// Whether cost is shown in dollars: when the policies' dollars differ. With fixed node pools
/// every policy pays the same, and pod-hours (what the pods reserve) tell them apart instead.
fn priced(view: &RunView) -> bool {
    let d: Vec<f64> = view.policies.iter().map(|p| p.summary.cost.dollars).collect();
    let (lo, hi) = d.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    hi > 0.0 && (hi - lo > 1e-9 * hi || d.len() == 1)
}

/// Cost against SLO attainment, one point per policy.
pub fn cost_vs_slo(view: &RunView) -> Figure {
    let dollars = priced(view);
    Figure::Scatter(Scatter {
        title: format!("{}: cost against SLO attainment (better: up and left)", view.brief.scenario),
        x_desc: if dollars {
            "cost of the run, dollars (node-hours x price)".into()
        } else {
            "cost of the run, pod-hours (node dollars are the same for every policy, or zero)".into()
        },
        y_desc: "SLO attainment, % of requests".into(),
        y_max: Some(100.0),
        points: view
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let x = if dollars { p.summary.cost.dollars } else { p.summary.cost.pod_seconds / 3600.0 };
                (p.label.clone(), color(i), x, p.summary.sla.attainment * 100.0)
            })
            .collect(),
        width: WIDTH,
        height: 560,
    })
}

/// Headline numbers as bars.
pub fn headline(view: &RunView) -> Figure {
    let dollars = priced(view);
    let ps = &view.policies;
    let m = |title: &str, f: &dyn Fn(&PolicyRun) -> (f64, String)| Bars { title: title.into(), values: ps.iter().map(f).collect(), max: None };
    let metrics = vec![
        m("p99 latency", &|p| (p.summary.latency_s.p99, super::format::fmt_secs(p.summary.latency_s.p99))),
        Bars { max: Some(100.0), ..m("SLO attainment", &|p| (p.summary.sla.attainment * 100.0, format!("{:.3}%", p.summary.sla.attainment * 100.0))) },
        m("SLO violation minutes", &|p| (p.summary.sla.violation_minutes as f64, p.summary.sla.violation_minutes.to_string())),
        if dollars {
            m("cost, dollars", &|p| (p.summary.cost.dollars, format!("${:.2}", p.summary.cost.dollars)))
        } else {
            m("cost, pod-hours", &|p| (p.summary.cost.pod_seconds / 3600.0, format!("{:.1}", p.summary.cost.pod_seconds / 3600.0)))
        },
        m("scale events", &|p| (p.summary.scaling.events as f64, p.summary.scaling.events.to_string())),
        m("reversals", &|p| (p.summary.scaling.reversals as f64, p.summary.scaling.reversals.to_string())),
    ];
    Figure::Bars(BarGrid {
        title: format!("{}: headline numbers (lower is better but for attainment)", view.brief.scenario),
        items: ps.iter().enumerate().map(|(i, p)| (p.label.clone(), color(i))).collect(),
        metrics,
        columns: 3,
        width: WIDTH,
    })
}

/// Every figure of a report: (file stem, figure). Per-policy timelines are under the policy's
/// folder: `<policy>/timeline` (or `<policy>/timeline-<service>` with several services).
pub fn all(view: &RunView) -> Result<Vec<(String, Figure)>, AgainError> {
    let services = view.services();
    let suffix = |s: &str| if services.len() > 1 { format!("-{s}") } else { String::new() };
    let mut out = Vec::new();
    for s in &services {
        out.push((format!("replicas{}", suffix(s)), replicas(view, s)?));
    }
    out.push(("latency-cdf".into(), latency_cdf(view)));
    out.push(("latency-spectrum".into(), latency_spectrum(view)));
    out.push(("cost-vs-slo".into(), cost_vs_slo(view)));
    out.push(("headline".into(), headline(view)));
    for p in &view.policies {
        for s in &services {
            out.push((format!("{}/timeline{}", p.label, suffix(s)), timeline(view, p, s)?));
        }
    }
    Ok(out)
}
