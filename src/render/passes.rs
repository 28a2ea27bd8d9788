//! Timelines built in passes over a run's rows, in memory bounded by the figure's pixels, not
//! by the run's length: a first pass gathers each line's range, which lines coincide and how
//! many points each has, which fixes the layout and so the plot's pixel columns; a second
//! pass, for lines with more points than columns, sums each column ([`crate::plot::DenseAcc`])
//! and thins the markers ([`Thinning`]). The figure is the one every point would give, to the
//! byte ([`Digest`]).

use std::borrow::Cow;

use super::view::{AgainError, DecisionRec, PolicyRun};
use crate::plot::figure::{timeline_px, Digest, Figure, Line, Marker, Panel, Thinning, Timeline};
use crate::plot::{DenseAcc, SameAcc};
use crate::report::Row;

/// A line's value over one step: (the step's rows, its start, its end), seconds.
pub type ValueFn<'a> = Box<dyn Fn(&[&Row], f64, f64) -> f64 + 'a>;

/// One line: drawn from the rows of `source`, one point per step at the step's start, and
/// one at the last step's end.
pub struct LineSpec<'a> {
    pub source: usize,
    pub line: Line,
    pub value: ValueFn<'a>,
}

/// One panel; its markers are the applied changes of pods of `markers`' source, if any.
pub struct PanelSpec<'a> {
    pub panel: Panel,
    pub lines: Vec<LineSpec<'a>>,
    pub markers: Option<usize>,
}

/// A policy's rows for one service.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub run: &'a PolicyRun,
    pub service: &'a str,
}

/// A timeline to build: `timeline` with its panels left out, and the panels' specs.
pub struct TimelineSpec<'a> {
    pub timeline: Timeline,
    pub sources: Vec<Source<'a>>,
    pub panels: Vec<PanelSpec<'a>>,
    /// The time axis goes on to the last row's time, if later than `timeline.end_s` (only
    /// with one source).
    pub to_last_row: bool,
    /// The time axis' description, from the timeline's end.
    pub x_desc: fn(f64) -> String,
}

type Rows<'a> = Box<dyn Iterator<Item = Result<Cow<'a, Row>, AgainError>> + 'a>;

fn rows<'a>(s: Source<'a>) -> Result<Rows<'a>, AgainError> {
    let service = s.service;
    Ok(match &s.run.again {
        Some(a) => Box::new(a.timeseries()?.filter(move |r| r.as_ref().map_or(true, |r| r.service == service)).map(|r| r.map(Cow::Owned))),
        None => Box::new(s.run.timeseries.iter().filter(move |r| r.service == service).map(|r| Ok(Cow::Borrowed(r)))),
    })
}

/// The applied changes of the source's pods, in file order.
fn markers<'a>(s: Source<'a>) -> Result<Box<dyn Iterator<Item = Result<Marker, AgainError>> + 'a>, AgainError> {
    let service = s.service;
    let marker = move |d: &DecisionRec| {
        (d.controller == "pods" && d.target == service && d.verdict == "apply" && d.from != d.to).then(|| Marker { t: d.time_s, value: f64::from(d.to), up: d.to > d.from })
    };
    Ok(match &s.run.again {
        Some(a) => Box::new(a.decisions()?.filter_map(move |d| d.map(|d| marker(&d)).transpose())),
        None => Box::new(s.run.decisions.iter().filter_map(move |d| marker(d).map(Ok))),
    })
}

/// Walks the sources in step, handing each line its next point (`None` once its source has
/// ended): the k-th point of every line at once, as [`SameAcc`] compares them.
fn walk<'a>(spec: &TimelineSpec<'a>, mut each: impl FnMut(&[Option<(f64, f64)>])) -> Result<(), AgainError> {
    let lines: Vec<&LineSpec> = spec.panels.iter().flat_map(|p| &p.lines).collect();
    let mut iters: Vec<Option<Rows<'a>>> = spec.sources.iter().map(|s| rows(*s).map(Some)).collect::<Result<_, _>>()?;
    // Per source: the current step's start, whether it has had a row; per line its last value.
    let mut start = vec![0.0f64; iters.len()];
    let mut any = vec![false; iters.len()];
    let mut last = vec![0.0f64; lines.len()];
    let mut pts: Vec<Option<(f64, f64)>> = vec![None; lines.len()];
    // Per source: this step's row, or `Err(true)` for its closing point, `Err(false)` when done.
    let mut step: Vec<Result<Cow<'a, Row>, bool>> = Vec::with_capacity(iters.len());
    loop {
        step.clear();
        for (s, it) in iters.iter_mut().enumerate() {
            let next = match it {
                Some(i) => i.next().transpose()?,
                None => None,
            };
            step.push(match next {
                Some(r) => Ok(r),
                None => {
                    let closing = it.is_some() && any[s];
                    *it = None;
                    Err(closing)
                }
            });
        }
        if step.iter().all(|s| matches!(s, Err(false))) {
            return Ok(());
        }
        for (k, l) in lines.iter().enumerate() {
            pts[k] = match &step[l.source] {
                Ok(row) => {
                    let v = (l.value)(&[row.as_ref()], start[l.source], row.time_s);
                    last[k] = v;
                    Some((start[l.source], v))
                }
                Err(true) => Some((start[l.source], last[k])),
                Err(false) => None,
            };
        }
        for (s, st) in step.iter().enumerate() {
            if let Ok(row) = st {
                start[s] = row.time_s;
                any[s] = true;
            }
        }
        each(&pts);
    }
}

/// A line's first pass: its finite range, how many points fall in the time range, and its
/// points while they are few enough to hold.
struct Gather {
    held: Option<Vec<(f64, f64)>>,
    /// Points in the time range, and points after it (in it if the axis goes on to the last row).
    inside: usize,
    after: usize,
    range: Option<(f64, f64)>,
}

fn widen(r: &mut Option<(f64, f64)>, v: f64) {
    if v.is_finite() {
        *r = Some(r.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    }
}

/// Build the timeline in two passes over its sources (one when every line is short).
pub fn build(spec: TimelineSpec<'_>) -> Result<Figure, AgainError> {
    assert!(!spec.to_last_row || spec.sources.len() == 1, "to_last_row takes one source");
    let (x0, x1) = spec.timeline.x_range();
    let mut last_t = f64::NEG_INFINITY;
    // More points than the figure is wide are more than its plot has columns.
    let cap = spec.timeline.width as usize;
    let n: Vec<usize> = spec.panels.iter().map(|p| p.lines.len()).collect();
    let mut gather: Vec<Gather> = spec.panels.iter().flat_map(|p| &p.lines).map(|_| Gather { held: Some(Vec::new()), inside: 0, after: 0, range: None }).collect();
    let mut same: Vec<SameAcc> = spec.panels.iter().map(|p| SameAcc::new(p.lines.iter().map(|l| l.line.steps).collect())).collect();
    walk(&spec, |pts| {
        let mut k = 0;
        for (p, &len) in n.iter().enumerate() {
            same[p].push(&pts[k..k + len]);
            k += len;
        }
        for (g, pt) in gather.iter_mut().zip(pts) {
            let Some(pt) = *pt else { continue };
            if pt.0 >= x0 && pt.0 <= x1 {
                g.inside += 1;
            } else if pt.0 > x1 {
                g.after += 1;
            }
            last_t = last_t.max(pt.0);
            widen(&mut g.range, pt.1);
            if let Some(h) = &mut g.held {
                h.push(pt);
                if h.len() > cap {
                    g.held = None;
                }
            }
        }
    })?;
    if spec.to_last_row && last_t > spec.timeline.end_s {
        // Every point is at or before the last row's time: those after the range are in it now.
        for g in &mut gather {
            g.inside += std::mem::take(&mut g.after);
        }
    }
    let mut t = spec.timeline.clone();
    if spec.to_last_row {
        t.end_s = t.end_s.max(last_t);
    }
    t.x_desc = (spec.x_desc)(t.end_s);
    let (x0, x1) = t.x_range();
    // The markers: their range, and themselves while few.
    let mut marks: Vec<(Option<(f64, f64)>, usize, Option<Vec<Marker>>)> = Vec::new();
    for p in &spec.panels {
        let (mut range, mut count, mut held) = (None, 0usize, Some(Vec::new()));
        if let Some(s) = p.markers {
            for m in markers(spec.sources[s])? {
                let m = m?;
                widen(&mut range, m.value);
                count += 1;
                if let Some(h) = &mut held {
                    h.push(m);
                    if h.len() > cap {
                        held = None;
                    }
                }
            }
        }
        marks.push((range, count, held));
    }
    // The layout, from the ranges and coincidences (and whether there are markers of each kind).
    let mut k = 0;
    for ((p, s), (mrange, _, mheld)) in spec.panels.iter().zip(&same).zip(&marks) {
        let lines = &gather[k..k + p.lines.len()];
        k += p.lines.len();
        let mut range = *mrange;
        for g in lines {
            if let Some((lo, hi)) = g.range {
                widen(&mut range, lo);
                widen(&mut range, hi);
            }
        }
        let mut panel = Panel { lines: p.lines.iter().map(|l| Line { points: Vec::new(), ..l.line.clone() }).collect(), ..p.panel.clone() };
        // For the layout, one marker of each kind stands for all (the legend lists the kinds).
        panel.markers = match (mheld, p.markers) {
            (Some(h), _) => h.clone(),
            (None, Some(s)) => first_of_each_kind(spec.sources[s])?,
            (None, None) => Vec::new(),
        };
        panel.digest = Some(Digest { px: 0, range, same: s.finish(), dense: vec![None; p.lines.len()] });
        t.panels.push(panel);
    }
    let px = timeline_px(&t)?;
    // The second pass: lines with more points than columns, in columns; lines not held.
    let dense_of = |g: &Gather| g.inside > px as usize;
    let mut acc: Vec<Option<DenseAcc>> = spec.panels.iter().flat_map(|p| &p.lines).map(|l| DenseAcc::new(l.line.steps, x0, x1, px)).collect();
    let mut again: Vec<Option<Vec<(f64, f64)>>> = gather.iter().map(|g| (g.held.is_none() && !dense_of(g)).then(Vec::new)).collect();
    let second = gather.iter().any(|g| g.held.is_none());
    if second {
        walk(&spec, |pts| {
            for (((pt, g), a), again) in pts.iter().zip(&gather).zip(&mut acc).zip(&mut again) {
                let Some(pt) = *pt else { continue };
                if let Some(v) = again {
                    v.push(pt);
                } else if let (Some(a), true, None) = (a.as_mut(), dense_of(g), &g.held) {
                    a.push(pt);
                }
            }
        })?;
    }
    let mut k = 0;
    for ((p, panel), (_, count, mheld)) in spec.panels.iter().zip(&mut t.panels).zip(marks) {
        let digest = panel.digest.as_mut().expect("set above");
        digest.px = px;
        for (i, line) in panel.lines.iter_mut().enumerate() {
            let g = &mut gather[k + i];
            let (a, again) = (acc[k + i].take(), again[k + i].take());
            let points = g.held.take().or(again).unwrap_or_default();
            if dense_of(g) {
                digest.dense[i] = match a {
                    Some(mut a) => {
                        for &pt in &points {
                            a.push(pt);
                        }
                        Some(a.finish())
                    }
                    None => None,
                };
                if digest.dense[i].is_none() {
                    line.points = points;
                }
            } else {
                line.points = points;
            }
        }
        k += p.lines.len();
        panel.markers = match (mheld, p.markers) {
            (Some(h), _) => h,
            (None, Some(s)) if Thinning::needed(count, x0, x1, px) => {
                let mut thin = Thinning::new(x0, x1, px);
                for m in markers(spec.sources[s])? {
                    thin.push(m?);
                }
                thin.finish()
            }
            // Too many to hold yet few enough to draw all: cannot be (the figure is wider
            // than its plot's marker slots); read them all the same.
            (None, Some(s)) => markers(spec.sources[s])?.collect::<Result<_, _>>()?,
            (None, None) => Vec::new(),
        };
    }
    Ok(Figure::Timeline(t))
}

/// The source's first scale-up and first scale-down.
fn first_of_each_kind(s: Source<'_>) -> Result<Vec<Marker>, AgainError> {
    let (mut up, mut down) = (None, None);
    for m in markers(s)? {
        let m = m?;
        let slot = if m.up { &mut up } else { &mut down };
        slot.get_or_insert(m);
        if up.is_some() && down.is_some() {
            break;
        }
    }
    Ok(up.into_iter().chain(down).collect())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::plot::figure::{png, svg, Line, Panel, Timeline};
    use crate::render::view::RowsAgain;

    /// Rows held in memory but handed out as if read again from files, counting the passes.
    #[derive(Debug)]
    struct Counted {
        rows: Vec<Row>,
        decisions: Vec<DecisionRec>,
        passes: Mutex<(usize, usize)>,
    }

    impl RowsAgain for Counted {
        fn timeseries(&self) -> Result<Box<dyn Iterator<Item = Result<Row, AgainError>> + '_>, AgainError> {
            self.passes.lock().unwrap().0 += 1;
            Ok(Box::new(self.rows.iter().cloned().map(Ok)))
        }
        fn decisions(&self) -> Result<Box<dyn Iterator<Item = Result<DecisionRec, AgainError>> + '_>, AgainError> {
            self.passes.lock().unwrap().1 += 1;
            Ok(Box::new(self.decisions.iter().cloned().map(Ok)))
        }
    }

    /// `n` steps of a minute over two services, and a decision every step (most of them
    /// applied changes of api's pods, up and down).
    fn run(n: usize) -> (PolicyRun, Arc<Counted>) {
        let mut rows = Vec::new();
        let mut decisions = Vec::new();
        for k in 1..=n {
            let t = k as f64 * 60.0;
            for service in ["api", "db"] {
                let wave = ((k as f64) / 37.0).sin();
                rows.push(Row {
                    time_s: t,
                    service: service.into(),
                    load_rps: 100.0 + 40.0 * wave + (k % 7) as f64,
                    pods_ready: 3 + (k % 11) as u32,
                    replicas_desired: 3 + (k % 11) as u32,
                    rejected: if k % 97 == 0 { 5 } else { 0 },
                    ..Row::default()
                });
            }
            let (from, to) = if k % 3 == 0 { (5, 5) } else if k % 2 == 0 { (4, 15 + (k % 5) as u32) } else { (9, 2 + (k % 3) as u32) };
            decisions.push(DecisionRec { time_s: t, controller: "pods".into(), kind: "hpa".into(), target: "api".into(), from, to, verdict: "apply".into(), reason: String::new() });
        }
        let mut summary = crate::report::Summary::default();
        summary.duration_s = n as f64 * 60.0;
        let p = PolicyRun {
            label: "p".into(),
            summary,
            timeseries: rows.clone(),
            decisions: decisions.clone(),
            latency_cdf: Vec::new(),
            decisions_total: None,
            shown_counts: None,
            again: None,
        };
        let counted = Arc::new(Counted { rows, decisions, passes: Mutex::new((0, 0)) });
        let again: Arc<dyn RowsAgain> = counted.clone();
        (PolicyRun { again: Some(again), ..p }, counted)
    }

    fn spec<'a>(p: &'a PolicyRun, calls: &'a Cell<usize>) -> TimelineSpec<'a> {
        let counted = move |r: &[&Row], _: f64, _: f64| {
            calls.set(calls.get() + 1);
            r[0].load_rps
        };
        TimelineSpec {
            timeline: Timeline { title: "t".into(), x_desc: String::new(), start_s: 0.0, end_s: p.summary.duration_s, panels: Vec::new(), width: 1280 },
            sources: vec![Source { run: p, service: "api" }],
            panels: vec![
                PanelSpec {
                    panel: Panel { title: "Load".into(), y_desc: "rps".into(), height: 200, ..Panel::default() },
                    lines: vec![LineSpec { source: 0, line: Line::new("load", Vec::new(), (1, 2, 3)).steps(), value: Box::new(counted) }],
                    markers: None,
                },
                PanelSpec {
                    panel: Panel { title: "Pods".into(), y_desc: "pods".into(), height: 260, hlines: vec![("cap".into(), 12.0, (0, 0, 0))], ..Panel::default() },
                    lines: vec![
                        LineSpec { source: 0, line: Line::new("desired", Vec::new(), (4, 5, 6)).steps(), value: Box::new(|r, _, _| f64::from(r[0].replicas_desired)) },
                        LineSpec { source: 0, line: Line::new("ready", Vec::new(), (7, 8, 9)).steps(), value: Box::new(|r, _, _| f64::from(r[0].pods_ready)) },
                        LineSpec { source: 0, line: Line::new("rejected", Vec::new(), (9, 9, 9)), value: Box::new(|r, a, e| r[0].rejected as f64 / (e - a)) },
                        LineSpec { source: 0, line: Line::new("lost", Vec::new(), (9, 9, 0)).steps(), value: Box::new(|r, _, _| r[0].lost as f64) },
                    ],
                    markers: Some(0),
                },
                // A panel without lines is drawn all the same.
                PanelSpec { panel: Panel { title: "Empty".into(), y_desc: "none".into(), height: 120, ..Panel::default() }, lines: Vec::new(), markers: None },
            ],
            to_last_row: true,
            x_desc: |end| format!("to {end}"),
        }
    }

    /// The same timeline with every point and marker held, drawn as before passes existed.
    fn held(p: &PolicyRun) -> Figure {
        let rows: Vec<&Row> = p.timeseries.iter().filter(|r| r.service == "api").collect();
        let series = |f: &dyn Fn(&Row, f64, f64) -> f64| {
            let mut pts = Vec::new();
            let mut start = 0.0;
            for r in &rows {
                pts.push((start, f(r, start, r.time_s)));
                start = r.time_s;
            }
            let last = pts.last().unwrap().1;
            pts.push((start, last));
            pts
        };
        let c = Cell::new(0);
        let s = spec(p, &c);
        let mut t = Timeline { x_desc: (s.x_desc)(p.summary.duration_s), ..s.timeline.clone() };
        for ps in &s.panels {
            let mut panel = ps.panel.clone();
            panel.lines = ps.lines.iter().map(|l| Line { points: series(&|r, a, e| (l.value)(&[r], a, e)), ..l.line.clone() }).collect();
            if ps.markers.is_some() {
                panel.markers = markers(s.sources[0]).unwrap().map(Result::unwrap).collect();
            }
            t.panels.push(panel);
        }
        Figure::Timeline(t)
    }

    #[test]
    fn streamed_timelines_draw_what_every_point_would() {
        // Short (every point held, one pass), longer than the plot is wide (columns, a
        // second pass), and long enough that the markers are thinned as they stream.
        for n in [50, 1000, 3000] {
            for again in [false, true] {
                let (mut p, counted) = run(n);
                if !again {
                    p.again = None;
                }
                let calls = Cell::new(0);
                let f = build(spec(&p, &calls)).unwrap();
                let passes = *counted.passes.lock().unwrap();
                let want = held(&p);
                assert_eq!(svg(&f).unwrap(), svg(&want).unwrap(), "{n} steps");
                assert_eq!(png(&f).unwrap(), png(&want).unwrap(), "{n} steps");
                let Figure::Timeline(t) = &f else { unreachable!() };
                let d = t.panels[1].digest.as_ref().unwrap();
                // "ready" is "desired" again; "lost" is all zero, no news.
                assert_eq!(d.same, [None, Some(0), None, None]);
                // Lines longer than the plot is wide are columns, not points.
                let long = n >= 1000;
                assert_eq!(t.panels[0].lines[0].points.is_empty(), long, "{n} steps");
                assert_eq!(d.dense[0].is_some(), long);
                // Too many markers to hold are thinned as they stream.
                if n == 3000 {
                    assert!(t.panels[1].markers.len() <= 2 * 1280 / 8, "{} markers", t.panels[1].markers.len());
                }
                // One pass over the rows; two when a line has more points than the figure
                // is wide (n steps give n + 1 points).
                assert_eq!(calls.get(), n * if n + 1 > 1280 { 2 } else { 1 }, "{n} steps");
                // Read again from the files: the rows once per pass; the decisions once, or,
                // when the markers are too many to hold (two in three steps are changes), also
                // for a marker of each kind for the layout and for the thinning.
                let markers = n - n / 3;
                let want = if again { (if n + 1 > 1280 { 2 } else { 1 }, if markers > 1280 { 3 } else { 1 }) } else { (0, 0) };
                assert_eq!(passes, want, "{n} steps");
            }
        }
    }
}
