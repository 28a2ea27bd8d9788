//! `report.md`: the scenario in brief, the comparison table with the best value of each column
//! marked, the plots, and each policy's notable decisions. Also the pieces `html.rs` shares:
//! the table and the notable decisions.

use std::fmt::Write as _;

use super::view::{DecisionRec, PolicyRun, RunView};
use super::format::fmt_secs;
use crate::plot::format_time;

/// Which way a column is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    Neither,
}

/// One column of the comparison: its header, the value of each policy (for ranking) and the
/// text shown.
pub struct Column {
    pub header: &'static str,
    pub better: Better,
    pub cells: Vec<(f64, String)>,
}

impl Column {
    /// Whether policy `i` has the best value (ties all best; none when all are equal).
    pub fn is_best(&self, i: usize) -> bool {
        let vals: Vec<f64> = self.cells.iter().map(|c| c.0).filter(|v| v.is_finite()).collect();
        if self.better == Better::Neither || vals.len() < 2 {
            return false;
        }
        let best = match self.better {
            Better::Lower => vals.iter().copied().fold(f64::INFINITY, f64::min),
            _ => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        };
        if vals.iter().all(|v| (v - best).abs() <= 1e-12 * best.abs().max(1.0)) {
            return false;
        }
        let v = self.cells[i].0;
        v.is_finite() && (v - best).abs() <= 1e-12 * best.abs().max(1.0)
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> (f64, String) {
    match v {
        Some(x) => (x, f(x)),
        None => (f64::NAN, "n/a".into()),
    }
}

/// The comparison table's columns.
pub fn columns(view: &RunView) -> Vec<Column> {
    let priced = view.policies.iter().any(|p| p.summary.cost.dollars > 0.0);
    let ps = &view.policies;
    let col = |header: &'static str, better: Better, f: &dyn Fn(&PolicyRun) -> (f64, String)| Column {
        header,
        better,
        cells: ps.iter().map(f).collect(),
    };
    let pct = |v: f64| format!("{:.3}%", v * 100.0);
    let mut c = vec![
        col("requests", Better::Neither, &|p| (p.summary.requests.arrived as f64, p.summary.requests.arrived.to_string())),
        col("p50", Better::Lower, &|p| (p.summary.latency_s.p50, fmt_secs(p.summary.latency_s.p50))),
        col("p99", Better::Lower, &|p| (p.summary.latency_s.p99, fmt_secs(p.summary.latency_s.p99))),
        col("p99.9", Better::Lower, &|p| (p.summary.latency_s.p999, fmt_secs(p.summary.latency_s.p999))),
        col("SLO attainment", Better::Higher, &|p| (p.summary.sla.attainment, pct(p.summary.sla.attainment))),
        col("availability", Better::Higher, &|p| (p.summary.sla.availability, pct(p.summary.sla.availability))),
        col("violation min", Better::Lower, &|p| (p.summary.sla.violation_minutes as f64, p.summary.sla.violation_minutes.to_string())),
        col("budget burn", Better::Lower, &|p| opt(p.summary.sla.error_budget_burn, |x| format!("{x:.2}"))),
        col("cold-start waits", Better::Lower, &|p| (p.summary.requests.cold_start_waits as f64, p.summary.requests.cold_start_waits.to_string())),
        col("pod-hours", Better::Lower, &|p| (p.summary.cost.pod_seconds / 3600.0, format!("{:.2}", p.summary.cost.pod_seconds / 3600.0))),
    ];
    if priced {
        c.push(col("dollars", Better::Lower, &|p| (p.summary.cost.dollars, format!("{:.2}", p.summary.cost.dollars))));
        c.push(col("$ per M req", Better::Lower, &|p| opt(p.summary.cost.dollars_per_million_requests, |x| format!("{x:.2}"))));
        c.push(col("idle $", Better::Lower, &|p| (p.summary.cost.idle_capacity_dollars, format!("{:.2}", p.summary.cost.idle_capacity_dollars))));
    }
    c.extend([
        col("scale events", Better::Lower, &|p| (p.summary.scaling.events as f64, p.summary.scaling.events.to_string())),
        col("reversals", Better::Lower, &|p| (p.summary.scaling.reversals as f64, p.summary.scaling.reversals.to_string())),
        col("under-prov. time", Better::Lower, &|p| (p.summary.elasticity.under_timeshare, format!("{:.1}%", p.summary.elasticity.under_timeshare * 100.0))),
        col("over-prov. accuracy", Better::Lower, &|p| (p.summary.elasticity.over_accuracy, format!("{:.1}%", p.summary.elasticity.over_accuracy * 100.0))),
        col("instability", Better::Lower, &|p| (p.summary.elasticity.instability, format!("{:.1}%", p.summary.elasticity.instability * 100.0))),
        col("p95 time to capacity", Better::Lower, &|p| {
            let r = p.summary.responsiveness;
            if r.events == 0 {
                (0.0, "no shortfall".into())
            } else {
                (r.p95_s, format!("{} ({} events)", format_time(r.p95_s, 1.0), r.events))
            }
        }),
    ]);
    c
}

/// The end-to-end latency of every service with calls (`services.<name>.end_to_end` of
/// summary.json), a line per policy and service: its own requests from arrival until every call
/// they made is done. None when no service makes calls.
pub fn end_to_end_lines(summaries: &[(&str, &crate::report::Summary)]) -> Vec<String> {
    let mut out = Vec::new();
    for (label, s) in summaries {
        for (name, svc) in &s.services {
            let Some(e) = &svc.end_to_end else { continue };
            out.push(format!(
                "{label}: end-to-end latency of {name} (until every call is done): p50 {}, p99 {}, p99.9 {}, max {}; {} completed, {} failed, {} in flight at the end",
                fmt_secs(e.latency_s.p50),
                fmt_secs(e.latency_s.p99),
                fmt_secs(e.latency_s.p999),
                fmt_secs(e.latency_s.max),
                e.completed,
                e.failed,
                e.in_flight_at_end
            ));
        }
    }
    out
}

/// The elasticity block in a sentence (report.md and report.html).
pub fn elasticity_line(e: &crate::report::Elasticity) -> String {
    format!(
        "elasticity (SPEC RG): under-provisioned {:.1}% of the time (accuracy {:.1}%, {:.2} pods), over-provisioned {:.1}% of the time (accuracy {:.1}%, {:.2} pods), instability {:.1}%, jitter {:+.3} per minute ({:.0} pods of supply changes against {:.0} of demand)",
        e.under_timeshare * 100.0,
        e.under_accuracy * 100.0,
        e.under_accuracy_pods,
        e.over_timeshare * 100.0,
        e.over_accuracy * 100.0,
        e.over_accuracy_pods,
        e.instability * 100.0,
        e.jitter_per_minute,
        e.supply_adaptations,
        e.demand_changes
    )
}

/// Scale events and reversals of every controller in a sentence: a policy that flaps its
/// nodes does not read 0 reversals.
pub fn flapping_line(sc: &crate::report::Scaling) -> String {
    let mut out = format!(
        "flapping: {} scale events, {} reversals (direction changed within {} of the previous change)",
        sc.events,
        sc.reversals,
        format_time(sc.reversal_window_s, 1.0)
    );
    if !sc.by_controller.is_empty() {
        let parts: Vec<String> = sc
            .by_controller
            .iter()
            .map(|(c, n)| {
                let what = if c == "nodes" { "node groups" } else { "Deployments" };
                format!("{what} {} events, {} reversals", n.events, n.reversals)
            })
            .collect();
        out.push_str(&format!(": {}", parts.join("; ")));
    }
    out
}

/// A policy's notable decisions, for people.
pub struct Notable {
    pub scale_ups: Vec<DecisionRec>,
    pub scale_downs: Vec<DecisionRec>,
    pub blocked: usize,
    pub blocked_first: Vec<DecisionRec>,
    pub fallbacks: usize,
    pub fallback_first: Vec<DecisionRec>,
    pub applied: usize,
    pub total: usize,
}

/// How many of each kind of notable decision the reports list: the largest scale-ups, the
/// largest scale-downs, the first blocked decisions, the first fallbacks.
pub const NOTABLE_UPS: usize = 5;
pub const NOTABLE_DOWNS: usize = 3;
pub const NOTABLE_BLOCKED: usize = 5;
pub const NOTABLE_FALLBACKS: usize = 3;

/// The largest applied scale-ups and -downs, the blocked decisions and those whose reason
/// speaks of a fallback (for policies that have one, such as an LLM's). The counts come from
/// [`PolicyRun::shown_counts`] when `decisions` is a selection.
pub fn notable(p: &PolicyRun) -> Notable {
    let applied: Vec<&DecisionRec> = p.decisions.iter().filter(|d| d.verdict == "apply" && d.from != d.to).collect();
    let mut ups: Vec<&DecisionRec> = applied.iter().copied().filter(|d| d.to > d.from).collect();
    ups.sort_by(|a, b| (b.to - b.from).cmp(&(a.to - a.from)).then(a.time_s.total_cmp(&b.time_s)));
    let mut downs: Vec<&DecisionRec> = applied.iter().copied().filter(|d| d.to < d.from).collect();
    downs.sort_by(|a, b| (b.from - b.to).cmp(&(a.from - a.to)).then(a.time_s.total_cmp(&b.time_s)));
    let blocked: Vec<&DecisionRec> = p.decisions.iter().filter(|d| d.verdict == "blocked").collect();
    let fallbacks: Vec<&DecisionRec> = p.decisions.iter().filter(|d| d.reason.to_lowercase().contains("fallback")).collect();
    Notable {
        scale_ups: ups.into_iter().take(NOTABLE_UPS).cloned().collect(),
        scale_downs: downs.into_iter().take(NOTABLE_DOWNS).cloned().collect(),
        blocked: p.shown_counts.map_or(blocked.len(), |c| c.blocked),
        blocked_first: blocked.into_iter().take(NOTABLE_BLOCKED).cloned().collect(),
        fallbacks: p.shown_counts.map_or(fallbacks.len(), |c| c.fallbacks),
        fallback_first: fallbacks.into_iter().take(NOTABLE_FALLBACKS).cloned().collect(),
        applied: p.shown_counts.map_or(applied.len(), |c| c.applied),
        total: p.decisions_made(),
    }
}

/// Up to `n` characters.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// What the reports say of one policy, for Markdown and HTML alike: lines, then titled lists
/// of its notable decisions (only the lists that have some).
pub struct PolicyNotes {
    pub lines: Vec<String>,
    pub lists: Vec<(&'static str, Vec<String>)>,
}

pub fn policy_notes(p: &PolicyRun) -> PolicyNotes {
    let s = &p.summary;
    let r = &s.responsiveness;
    let n = notable(p);
    let lines = vec![
        elasticity_line(&s.elasticity),
        flapping_line(&s.scaling),
        format!(
            "responsiveness: {} load increases found too few ready pods ({} never caught up); time to capacity mean {}, p95 {}, max {}",
            r.events,
            r.unresolved,
            format_time(r.mean_s, 1.0),
            format_time(r.p95_s, 1.0),
            format_time(r.max_s, 1.0)
        ),
        format!("decisions: {} in all, {} applied changes, {} blocked, {} fallbacks", n.total, n.applied, n.blocked, n.fallbacks),
    ];
    let lists = [
        ("largest scale-ups", &n.scale_ups),
        ("largest scale-downs", &n.scale_downs),
        ("blocked (first)", &n.blocked_first),
        ("fallbacks (first)", &n.fallback_first),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
    .map(|(title, list)| (title, list.iter().map(decision_line).collect()))
    .collect();
    PolicyNotes { lines, lists }
}

pub fn decision_line(d: &DecisionRec) -> String {
    format!("{} {} {} -> {}: {}", format_time(d.time_s, 1.0), d.target, d.from, d.to, clip(&d.reason, 200))
}

/// Brief lines about the run: (label, text).
pub fn brief_lines(view: &RunView) -> Vec<(String, String)> {
    let b = &view.brief;
    let mut out = vec![
        ("scenario".to_string(), b.scenario.clone()),
        (
            "simulated".into(),
            format!(
                "{} (warm-up {}), timeseries step {}, seed {}",
                format_time(b.duration_s, 1.0),
                format_time(b.warmup_s, 1.0),
                format_time(b.step_s, 0.001),
                b.seed
            ),
        ),
        ("load fingerprint".into(), b.load_fingerprint.clone()),
        ("demand".into(), format!("ready pods needed at {:.0}% of their slots", b.demand_utilization * 100.0)),
    ];
    if let Some(d) = &b.description {
        out.insert(1, ("description".into(), d.trim().to_string()));
    }
    for s in &b.services {
        let mut t = format!("SLO {}", s.slo);
        if !s.kind.is_empty() {
            t = format!("{} service, {} replicas at the start, {} slots a pod, CPU request {}; {t}; load: {}", s.kind, s.replicas, s.concurrency, s.cpu_request, s.load);
        }
        out.push((format!("service {}", s.name), t));
    }
    if b.pools.is_empty() {
        out.push(("cluster".into(), "implicit (unlimited, free)".into()));
    }
    for p in &b.pools {
        out.push((
            format!("pool {}", p.name),
            format!("{} nodes ({} to {}) of {} CPU, {:.1} GiB, ${}/hour", p.nodes, p.min, p.max, p.cpu, p.memory_gib, p.price_per_hour),
        ));
    }
    for p in &b.policies {
        out.push((format!("policy {}", p.name), format!("pods: {}; nodes: {}", p.pods, p.nodes)));
    }
    for (p, src) in view.policies.iter().zip(&view.sources) {
        out.push((format!("policy {}", p.label), format!("from {src}")));
    }
    out
}

/// The report in Markdown; images are linked by their paths relative to the report.
pub fn render(view: &RunView, figures: &[String]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}: autoscaling report\n", view.brief.scenario);
    let _ = writeln!(o, "## Scenario\n");
    for (k, v) in brief_lines(view) {
        let _ = writeln!(o, "- **{}**: {}", md_escape(&k), md_escape(&v));
    }
    let _ = writeln!(o, "\n## Comparison\n");
    let cols = columns(view);
    let _ = write!(o, "| policy |");
    for c in &cols {
        let _ = write!(o, " {} |", c.header);
    }
    let _ = write!(o, "\n|---|");
    for _ in &cols {
        let _ = write!(o, "---:|");
    }
    o.push('\n');
    for (i, p) in view.policies.iter().enumerate() {
        let _ = write!(o, "| {} |", md_escape(&p.label));
        for c in &cols {
            let text = md_escape(&c.cells[i].1);
            if c.is_best(i) {
                let _ = write!(o, " **{text}** |");
            } else {
                let _ = write!(o, " {text} |");
            }
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "\nThe best value of each column is in **bold**. Definitions: docs/scenario.md, Outputs. \
         Latency percentiles are exact to {:.1}%.\n",
        crate::report::LATENCY_PRECISION * 100.0
    );
    let labelled: Vec<(&str, &crate::report::Summary)> = view.policies.iter().map(|p| (p.label.as_str(), &p.summary)).collect();
    for line in crate::report::slo_lines(&labelled) {
        let _ = writeln!(o, "- {}", md_escape(&line));
    }
    for line in end_to_end_lines(&labelled) {
        let _ = writeln!(o, "- {}", md_escape(&line));
    }
    o.push('\n');
    if !figures.is_empty() {
        let _ = writeln!(o, "## Plots\n");
        for f in figures.iter().filter(|f| !f.contains('/')) {
            let _ = writeln!(o, "![{f}]({f}.png)\n");
        }
    }
    let _ = writeln!(o, "## Policies\n");
    for p in &view.policies {
        let _ = writeln!(o, "### {}\n", p.label);
        for f in figures.iter().filter(|f| f.starts_with(&format!("{}/", p.label))) {
            let _ = writeln!(o, "![{f}]({f}.png)\n");
        }
        let notes = policy_notes(p);
        for line in &notes.lines {
            let _ = writeln!(o, "- {}", md_escape(line));
        }
        for (title, list) in &notes.lists {
            let _ = writeln!(o, "- {title}:");
            for d in list {
                let _ = writeln!(o, "  - {}", md_escape(d));
            }
        }
        o.push('\n');
    }
    o
}
