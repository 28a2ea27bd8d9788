//! Report figures: stacked timelines on a shared time axis, latency CDFs on a logarithmic
//! latency axis, latency percentile spectra (HdrHistogram's "number of nines" axis), a
//! cost-against-SLO scatter, and grids of horizontal bars. A line with more points than its
//! plot has pixel columns is drawn as its mean per column in a light min-max band, and a line
//! identical to an earlier one is drawn dashed over it and named "same as ..." in the legend. Drawn like
//! [`super::LineChart`]: in memory, with the embedded font, deterministic (same figure, same
//! bytes). Legends sit in a column of their own right of each plot, so they never cover data.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{band_color, coincident, dense, ensure_font, house_mesh, text_width, Dense, PlotError, Ticked, TimeAxis, ValueAxis, FAMILY};

const PANEL_TITLE: f64 = 19.0;
const LABEL: f64 = 15.0;
const DESC: f64 = 16.0;
const LEGEND: f64 = 15.0;
const LEGEND_ROW: i32 = 22;
const TITLE: f64 = 24.0;
const TITLE_H: u32 = 44;

pub type Rgb = (u8, u8, u8);

/// A named curve: (name, colour, points).
pub type Curve = (String, Rgb, Vec<(f64, f64)>);

/// A line of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Each value holds until the next point (counts of pods, per-step values).
    pub steps: bool,
    pub color: Rgb,
    pub dashed: bool,
}

impl Line {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>, color: Rgb) -> Line {
        Line { name: name.into(), points, steps: false, color, dashed: false }
    }
    pub fn steps(mut self) -> Line {
        self.steps = true;
        self
    }
    pub fn dashed(mut self) -> Line {
        self.dashed = true;
        self
    }
}

/// A mark on a timeline: a scale decision applied at `t` to `value` (up or down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marker {
    pub t: f64,
    pub value: f64,
    pub up: bool,
}

/// One panel of a timeline: lines over time, horizontal reference lines, markers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    pub title: String,
    pub y_desc: String,
    pub lines: Vec<Line>,
    /// (name, value, colour): drawn dashed across the panel, listed in the legend.
    pub hlines: Vec<(String, f64, Rgb)>,
    pub markers: Vec<Marker>,
    /// Height in pixels.
    pub height: u32,
    /// For lines too long to hold: what drawing them needs, gathered as their points streamed
    /// past (`None`: the lines hold every point, and the drawing works it out).
    pub digest: Option<Digest>,
}

/// What drawing a panel needs of lines too long to hold, gathered by a caller that streams
/// them ([`crate::render::charts`] reads a run's rows back in passes): the same the drawing
/// would work out from every point, so the figure is the same to the byte.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// The plot's width in pixel columns ([`timeline_px`]) the lines were summarized for.
    pub px: u32,
    /// The lowest and highest finite value of the lines and of every marker (`None`: none);
    /// `markers` may then be thinned already ([`thin_markers`]).
    pub range: Option<(f64, f64)>,
    /// Per line: the earlier line it coincides with ([`super::coincident`]).
    pub same: Vec<Option<usize>>,
    /// Per line: its pixel columns ([`super::dense`]) when it has more points than the plot
    /// has columns (its `points` are then left empty); `None` when it holds every point.
    pub dense: Vec<Option<Dense>>,
}

/// Panels stacked over one time axis (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub title: String,
    pub x_desc: String,
    pub start_s: f64,
    pub end_s: f64,
    pub panels: Vec<Panel>,
    pub width: u32,
}

impl Timeline {
    /// The time axis' range (a second from the start when the timeline has no length).
    pub fn x_range(&self) -> (f64, f64) {
        if self.end_s > self.start_s {
            (self.start_s, self.end_s)
        } else {
            (self.start_s, self.start_s + 1.0)
        }
    }
}

/// Cumulative distributions of latency, overlaid, on a logarithmic latency axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Cdf {
    pub title: String,
    /// (name, colour, (seconds, cumulative share) points in increasing order).
    pub curves: Vec<Curve>,
    /// Vertical reference lines: (name, seconds).
    pub vlines: Vec<(String, f64)>,
    pub width: u32,
    pub height: u32,
}

/// Latency against percentile, one curve per item, on HdrHistogram's logarithmic "number of
/// nines" axis from 0 to 99.999 %: the tail, where SLOs live, gets as much room as the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    pub title: String,
    /// (name, colour, (seconds, cumulative share) points of the latency CDF, increasing).
    pub curves: Vec<Curve>,
    /// SLOs: (name, latency in seconds, percentile such as 99.0): a horizontal line at the
    /// latency and a vertical one at the percentile.
    pub slos: Vec<(String, f64, f64)>,
    pub width: u32,
    pub height: u32,
}

/// The highest percentile a spectrum shows, as a number of nines (99.999 %).
pub const SPECTRUM_NINES: f64 = 5.0;

/// A percentile (0 to 100) as a number of nines: `-log10(1 - q)`, at most [`SPECTRUM_NINES`].
pub fn nines(percentile: f64) -> f64 {
    let rest = 1.0 - percentile / 100.0;
    if rest <= 10f64.powf(-SPECTRUM_NINES) {
        SPECTRUM_NINES
    } else {
        (-rest.log10()).max(0.0)
    }
}

/// One point per item: (name, colour, x, y).
#[derive(Debug, Clone, PartialEq)]
pub struct Scatter {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub points: Vec<(String, Rgb, f64, f64)>,
    /// The y axis' natural bounds (SLO attainment: at most 100 %).
    pub y_max: Option<f64>,
    pub width: u32,
    pub height: u32,
}

/// One metric of a bar grid: a horizontal bar per item.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    pub title: String,
    /// (value, its label).
    pub values: Vec<(f64, String)>,
    /// The value axis' natural upper bound (SLO attainment: 100 %).
    pub max: Option<f64>,
}

/// Small multiples of bars sharing their items (names and colours, top to bottom).
#[derive(Debug, Clone, PartialEq)]
pub struct BarGrid {
    pub title: String,
    pub items: Vec<(String, Rgb)>,
    pub metrics: Vec<Bars>,
    pub columns: usize,
    pub width: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    Timeline(Timeline),
    Cdf(Cdf),
    Spectrum(Spectrum),
    Scatter(Scatter),
    Bars(BarGrid),
}

impl Figure {
    pub fn size(&self) -> (u32, u32) {
        match self {
            Figure::Timeline(t) => (t.width, TITLE_H + t.panels.iter().map(|p| p.height).sum::<u32>()),
            Figure::Cdf(c) => (c.width, c.height),
            Figure::Spectrum(c) => (c.width, c.height),
            Figure::Scatter(s) => (s.width, s.height),
            Figure::Bars(b) => {
                let rows = b.metrics.len().div_ceil(b.columns.max(1)) as u32;
                let per = 60 + b.items.len() as u32 * 30;
                (b.width, TITLE_H + rows * per.max(140))
            }
        }
    }
}

fn checked(f: &Figure) -> Result<(u32, u32), PlotError> {
    let (w, h) = f.size();
    if !(300..=20_000).contains(&w) || !(150..=40_000).contains(&h) {
        return Err(PlotError::Draw(format!("a figure of {w}x{h} pixels: expected 300 to 20000 wide, 150 to 40000 high")));
    }
    Ok((w, h))
}

/// The figure as PNG bytes.
pub fn png(f: &Figure) -> Result<Vec<u8>, PlotError> {
    ensure_font()?;
    let (w, h) = checked(f)?;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, f, true)?;
    }
    super::encode_png(&rgb, w, h)
}

/// The figure as SVG text.
pub fn svg(f: &Figure) -> Result<String, PlotError> {
    ensure_font()?;
    let size = checked(f)?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root, f, false)?;
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, f: &Figure, by_segment: bool) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    match f {
        Figure::Timeline(t) => timeline(root, t, by_segment)?,
        Figure::Cdf(c) => cdf(root, c, by_segment)?,
        Figure::Spectrum(c) => spectrum(root, c, by_segment)?,
        Figure::Scatter(s) => scatter(root, s)?,
        Figure::Bars(b) => bars(root, b)?,
    }
    root.present()?;
    Ok(())
}

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn style(c: Rgb, width: u32) -> ShapeStyle {
    ShapeStyle { color: rgb(c).to_rgba(), filled: false, stroke_width: width }
}

const UP: Rgb = (0x2c, 0xa0, 0x2c);
const DOWN: Rgb = (0xd6, 0x27, 0x28);
const GREY: Rgb = (0x55, 0x55, 0x55);
const SLO: Rgb = (0x22, 0x22, 0x22);

fn title<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let w = area.dim_in_pixel().0 as i32;
    let style = TextStyle::from((FAMILY, TITLE).into_font()).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(text.to_string(), (w / 2, TITLE_H as i32 / 2), style))?;
    Ok(())
}

/// A legend column: (name, colour, kind) rows from the top. kind: 0 line, 1 dashed, 2 up
/// marker, 3 down marker, 4 dot, 5 band.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, top: i32, rows: &[(String, Rgb, u8)]) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let text = TextStyle::from((FAMILY, LEGEND).into_font()).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (name, c, kind)) in rows.iter().enumerate() {
        let y = top + i as i32 * LEGEND_ROW + LEGEND_ROW / 2;
        let x = 8;
        match kind {
            0 => area.draw(&PathElement::new(vec![(x, y), (x + 26, y)], style(*c, 3)))?,
            1 => {
                for k in 0..3 {
                    area.draw(&PathElement::new(vec![(x + k * 10, y), (x + k * 10 + 6, y)], style(*c, 3)))?;
                }
            }
            2 => area.draw(&TriangleMarker::new((x + 13, y), 6, rgb(*c).filled()))?,
            3 => area.draw(&Cross::new((x + 13, y), 5, style(*c, 2)))?,
            5 => area.draw(&Rectangle::new([(x, y - 7), (x + 26, y + 7)], band_color(*c).filled()))?,
            _ => area.draw(&Circle::new((x + 13, y), 6, rgb(*c).filled()))?,
        }
        area.draw(&Text::new(name.clone(), (x + 34, y), text.clone()))?;
    }
    Ok(())
}

fn legend_width(names: impl Iterator<Item = String>) -> u32 {
    names.map(|n| text_width(&n, LEGEND)).max().unwrap_or(0) + 56
}

/// The polylines of a line (finite runs, steps' corners added).
fn runs(l: &Line) -> Vec<Vec<(f64, f64)>> {
    super::polylines(&super::Series { name: String::new(), points: l.points.clone(), steps: l.steps })
}

fn draw_line<DB: DrawingBackend, X, Y>(
    cc: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    pts: Vec<(f64, f64)>,
    st: ShapeStyle,
    dashed: bool,
    by_segment: bool,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    if dashed {
        cc.draw_series(DashedLineSeries::new(pts, 8, 6, st))?;
    } else if by_segment {
        cc.draw_series(pts.windows(2).map(|w| PathElement::new(vec![w[0], w[1]], st)))?;
    } else {
        cc.draw_series(LineSeries::new(pts, st))?;
    }
    Ok(())
}

/// The shared layout of a timeline's panels: time range, value axes, label and legend widths.
struct Layout {
    x0: f64,
    x1: f64,
    axes: Vec<ValueAxis>,
    y_area: u32,
    leg_w: u32,
    time_axis: TimeAxis,
}

fn layout(t: &Timeline) -> Layout {
    let w = t.width;
    let (x0, x1) = t.x_range();
    // Shared layout: the widest y labels and legend of any panel.
    let axes: Vec<ValueAxis> = t.panels.iter().map(panel_axis).collect();
    let y_area = axes
        .iter()
        .flat_map(|a| a.ticks().into_iter().map(move |v| text_width(&a.label(v), LABEL)))
        .max()
        .unwrap_or(0)
        + DESC as u32
        + 26;
    let leg_w = legend_width(t.panels.iter().flat_map(legend_rows).map(|r| r.0).chain(["min to max per pixel".to_string()])).max(120);
    let plot_w = w.saturating_sub(y_area + leg_w + 30).max(100);
    let time_axis = TimeAxis::new(x0, x1, (plot_w / 90).max(2) as usize);
    Layout { x0, x1, axes, y_area, leg_w, time_axis }
}

/// A panel's chart, margins and label areas set (the caption is left to the caller).
fn panel_chart<'a, 'b, DB: DrawingBackend>(area: &'a DrawingArea<DB, Shift>, y_area: u32, last: bool) -> ChartBuilder<'a, 'b, DB> {
    let x_area = if last { (LABEL + DESC) as u32 + 26 } else { LABEL as u32 + 12 };
    let mut b = ChartBuilder::on(area);
    b.margin_top(4).margin_left(10).margin_right(16).margin_bottom(2).x_label_area_size(x_area).y_label_area_size(y_area);
    b
}

/// The width in pixel columns of a timeline's plots (every panel's is the same): what a
/// caller that streams the lines summarizes them for ([`Digest`]). It depends on the value
/// axes and the legends, so on every line's range and on which lines coincide.
pub fn timeline_px(t: &Timeline) -> Result<u32, PlotError> {
    // Text is measured with the embedded font.
    ensure_font()?;
    let l = layout(t);
    let mut sink = String::new();
    let root = SVGBackend::with_string(&mut sink, (t.width.max(1), 400)).into_drawing_area();
    let (plot_area, _) = root.split_horizontally(t.width.saturating_sub(l.leg_w));
    let cc = panel_chart(&plot_area, l.y_area, true).build_cartesian_2d(l.x0..l.x1, 0.0..1.0)?;
    Ok(cc.plotting_area().dim_in_pixel().0)
}

fn timeline<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &Timeline, by_segment: bool) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let (w, _) = root.dim_in_pixel();
    let (head, body) = root.split_vertically(TITLE_H);
    title(&head, &t.title)?;
    let Layout { x0, x1, axes, y_area, leg_w, time_axis } = layout(t);
    let mut rest = body;
    for (i, (p, axis)) in t.panels.iter().zip(&axes).enumerate() {
        let last = i + 1 == t.panels.len();
        let (area, below) = rest.split_vertically(p.height);
        rest = below;
        let (plot_area, leg_area) = area.split_horizontally(w.saturating_sub(leg_w));
        let mut cc = panel_chart(&plot_area, y_area, last)
            .caption(&p.title, (FAMILY, PANEL_TITLE))
            .build_cartesian_2d(Ticked::new(x0..x1, time_axis.ticks()), Ticked::new(axis.lo..axis.hi, axis.ticks()))?;
        let x_fmt = |v: &f64| time_axis.label(*v);
        let y_fmt = |v: &f64| axis.label(*v);
        let mut mesh = cc.configure_mesh();
        house_mesh(&mut mesh, LABEL, DESC).x_label_formatter(&x_fmt).y_label_formatter(&y_fmt).y_desc(p.y_desc.as_str());
        if last {
            mesh.x_desc(t.x_desc.as_str());
        }
        mesh.draw()?;
        for (name, v, c) in &p.hlines {
            let _ = name;
            draw_line(&mut cc, vec![(x0, *v), (x1, *v)], style(*c, 2), true, by_segment)?;
        }
        let px = cc.plotting_area().dim_in_pixel().0;
        let dense: Vec<Option<Dense>> = match &p.digest {
            Some(d) if d.px != px => {
                return Err(PlotError::Draw(format!("panel {:?}: its lines were summarized for {} pixel columns, the plot has {px}", p.title, d.px)));
            }
            Some(d) => d.dense.clone(),
            None => p.lines.iter().map(|l| dense(&l.points, l.steps, x0, x1, px)).collect(),
        };
        for (l, d) in p.lines.iter().zip(&dense) {
            for poly in d.iter().flat_map(Dense::bands) {
                cc.draw_series(std::iter::once(Polygon::new(poly, band_color(l.color).filled())))?;
            }
        }
        let same = same_lines(p);
        for ((l, d), same) in p.lines.iter().zip(&dense).zip(&same) {
            let lines = match d {
                Some(d) => d.mean_lines(),
                None => runs(l),
            };
            for run in lines {
                draw_line(&mut cc, run, style(l.color, 2), l.dashed || same.is_some(), by_segment)?;
            }
        }
        let marks = thin_markers(&p.markers, x0, x1, px);
        cc.draw_series(marks.iter().filter(|m| m.up).map(|m| TriangleMarker::new((m.t, m.value), 5, rgb(UP).filled())))?;
        cc.draw_series(marks.iter().filter(|m| !m.up).map(|m| Cross::new((m.t, m.value), 4, style(DOWN, 2))))?;
        let mut rows = legend_rows(p);
        if dense.iter().any(Option::is_some) {
            rows.push(("min to max per pixel".into(), GREY, 5));
        }
        legend(&leg_area, 34, &rows)?;
    }
    Ok(())
}

/// Pixels per marker slot: where decisions are denser, one mark of each kind per slot.
const MARKER_SLOT_PX: f64 = 8.0;

/// The markers worth drawing on `px` pixels: per slot of [`MARKER_SLOT_PX`], the scale-up to
/// the highest count and the scale-down to the lowest (a month of decisions would otherwise
/// be a solid row of marks). Thinning markers already thinned for the same `px` keeps them all,
/// in their order.
pub fn thin_markers(markers: &[Marker], x0: f64, x1: f64, px: u32) -> Vec<Marker> {
    if !Thinning::needed(markers.len(), x0, x1, px) {
        return markers.to_vec();
    }
    let mut thin = Thinning::new(x0, x1, px);
    for m in markers {
        thin.push(*m);
    }
    thin.finish()
}

/// [`thin_markers`] as the markers stream past, in memory bounded by the slots (for a caller
/// that counted them first: see [`Thinning::needed`]).
#[derive(Debug, Clone)]
pub struct Thinning {
    slots: f64,
    x0: f64,
    x1: f64,
    best: std::collections::BTreeMap<(i64, bool), Marker>,
}

impl Thinning {
    /// Whether `count` markers are too many to draw them all.
    pub fn needed(count: usize, x0: f64, x1: f64, px: u32) -> bool {
        let slots = (f64::from(px) / MARKER_SLOT_PX).max(1.0);
        (count as f64) > slots && x1 > x0
    }

    pub fn new(x0: f64, x1: f64, px: u32) -> Thinning {
        Thinning { slots: (f64::from(px) / MARKER_SLOT_PX).max(1.0), x0, x1, best: std::collections::BTreeMap::new() }
    }

    pub fn push(&mut self, m: Marker) {
        let slot = ((m.t - self.x0) / (self.x1 - self.x0) * self.slots).floor() as i64;
        let e = self.best.entry((slot, m.up)).or_insert(m);
        if (m.up && m.value > e.value) || (!m.up && m.value < e.value) {
            *e = m;
        }
    }

    pub fn finish(self) -> Vec<Marker> {
        self.best.into_values().collect()
    }
}

/// For each line, the earlier line of the panel it coincides with.
fn same_lines(p: &Panel) -> Vec<Option<usize>> {
    match &p.digest {
        Some(d) => d.same.clone(),
        None => coincident(&p.lines.iter().map(|l| (l.points.as_slice(), l.steps)).collect::<Vec<_>>()),
    }
}

fn legend_rows(p: &Panel) -> Vec<(String, Rgb, u8)> {
    let same = same_lines(p);
    let mut rows: Vec<(String, Rgb, u8)> = p
        .lines
        .iter()
        .zip(&same)
        .map(|(l, s)| match s {
            Some(j) => (format!("{} (same as {})", l.name, p.lines[*j].name), l.color, 1),
            None => (l.name.clone(), l.color, u8::from(l.dashed)),
        })
        .collect();
    rows.extend(p.hlines.iter().map(|(n, _, c)| (n.clone(), *c, 1)));
    if p.markers.iter().any(|m| m.up) {
        rows.push(("scaled up".into(), UP, 2));
    }
    if p.markers.iter().any(|m| !m.up) {
        rows.push(("scaled down".into(), DOWN, 3));
    }
    rows
}

fn panel_axis(p: &Panel) -> ValueAxis {
    let (mut lo, mut hi) = (0.0f64, f64::NEG_INFINITY);
    let hlines = p.hlines.iter().map(|h| h.1);
    let values: Box<dyn Iterator<Item = f64> + '_> = match &p.digest {
        Some(d) => Box::new(d.range.into_iter().flat_map(|(a, b)| [a, b]).chain(hlines)),
        None => Box::new(p.lines.iter().flat_map(|l| l.points.iter().map(|q| q.1)).chain(hlines).chain(p.markers.iter().map(|m| m.value))),
    };
    for v in values {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !hi.is_finite() || hi <= lo {
        hi = lo + 1.0;
    }
    ValueAxis::new(lo, hi, 5)
}

/// "850us", "42ms", "1.5s", "2m".
pub fn short_secs(s: f64) -> String {
    if s <= 0.0 {
        "0".into()
    } else if s < 1e-3 {
        format!("{}us", trim(s * 1e6))
    } else if s < 1.0 {
        format!("{}ms", trim(s * 1e3))
    } else if s < 120.0 {
        format!("{}s", trim(s))
    } else {
        format!("{}m", trim(s / 60.0))
    }
}

fn trim(v: f64) -> String {
    let t = format!("{v:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn cdf<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Cdf, by_segment: bool) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let (w, _) = root.dim_in_pixel();
    let (head, body) = root.split_vertically(TITLE_H);
    title(&head, &c.title)?;
    // Decades of latency around the data.
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in c.curves.iter().flat_map(|x| x.2.iter().map(|p| p.0)).chain(c.vlines.iter().map(|v| v.1)) {
        if v > 0.0 && v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() {
        (lo, hi) = (1e-3, 1.0);
    }
    let (d0, d1) = (lo.log10().floor(), hi.log10().ceil().max(lo.log10().floor() + 1.0));
    let mut ticks = Vec::new();
    let mut d = d0;
    while d <= d1 + 1e-9 {
        for m in [1.0f64, 2.0, 5.0] {
            let v = d + m.log10();
            if v <= d1 + 1e-9 && (m == 1.0 || d1 - d0 <= 3.0) {
                ticks.push(v);
            }
        }
        d += 1.0;
    }
    let same = same_curves(&c.curves);
    let rows: Vec<(String, Rgb, u8)> = curve_rows(&c.curves, &same).into_iter().chain(c.vlines.iter().map(|v| (v.0.clone(), GREY, 1u8))).collect();
    let leg_w = legend_width(rows.iter().map(|r| r.0.clone())).max(120);
    let (plot_area, leg_area) = body.split_horizontally(w.saturating_sub(leg_w));
    let y_ticks: Vec<f64> = (0..=10).map(|k| k as f64 * 10.0).collect();
    let mut cc = ChartBuilder::on(&plot_area)
        .margin(12)
        .x_label_area_size((LABEL + DESC) as u32 + 26)
        .y_label_area_size(text_width("100%", LABEL) + DESC as u32 + 26)
        .build_cartesian_2d(Ticked::new(d0..d1, ticks), Ticked::new(0.0..100.0, y_ticks))?;
    let x_fmt = |v: &f64| short_secs(10f64.powf(*v));
    let y_fmt = |v: &f64| format!("{v:.0}%");
    house_mesh(&mut cc.configure_mesh(), LABEL, DESC)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc("latency, arrival to response (logarithmic)")
        .y_desc("completed requests at or below")
        .draw()?;
    for (_, v) in &c.vlines {
        if *v > 0.0 {
            let x = v.log10();
            draw_line(&mut cc, vec![(x, 0.0), (x, 100.0)], style(GREY, 2), true, by_segment)?;
        }
    }
    for ((_, col, pts), same) in c.curves.iter().zip(&same) {
        // A step up at each bucket's value, starting from 0.
        let mut line = Vec::with_capacity(pts.len() * 2 + 1);
        let mut prev = 0.0;
        for &(x, y) in pts.iter().filter(|p| p.0 > 0.0) {
            let lx = x.log10();
            line.push((lx, prev));
            line.push((lx, y * 100.0));
            prev = y * 100.0;
        }
        if let Some(&(lx, _)) = line.last() {
            line.push((lx.max(d1), prev));
        }
        draw_line(&mut cc, line, style(*col, 2), same.is_some(), by_segment)?;
    }
    legend(&leg_area, 20, &rows)?;
    Ok(())
}

/// For each curve, the earlier curve it coincides with.
fn same_curves(curves: &[Curve]) -> Vec<Option<usize>> {
    coincident(&curves.iter().map(|c| (c.2.as_slice(), false)).collect::<Vec<_>>())
}

/// Legend rows of curves: dashed and "same as ..." for a curve identical to an earlier one.
fn curve_rows(curves: &[Curve], same: &[Option<usize>]) -> Vec<(String, Rgb, u8)> {
    curves
        .iter()
        .zip(same)
        .map(|(c, s)| match s {
            Some(j) => (format!("{} (same as {})", c.0, curves[*j].0), c.1, 1u8),
            None => (c.0.clone(), c.1, 0u8),
        })
        .collect()
}

/// A percentile axis label: "0%", "90%", "99.99%".
fn nines_label(x: f64) -> String {
    let q = (1.0 - 10f64.powf(-x)) * 100.0;
    let t = format!("{q:.5}");
    format!("{}%", t.trim_end_matches('0').trim_end_matches('.'))
}

/// A curve of latency against the number of nines: each histogram bucket's latency holds over
/// the percentiles it covers.
fn spectrum_line(cdf: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let top = 1.0 - 10f64.powf(-SPECTRUM_NINES);
    let mut line = Vec::with_capacity(cdf.len() * 2);
    let mut prev = 0.0f64;
    for &(v, share) in cdf {
        if !(v.is_finite() && share.is_finite()) || share <= prev {
            continue;
        }
        line.push((nines(prev * 100.0), v));
        line.push((nines(share.min(top) * 100.0), v));
        prev = share;
        if prev >= top {
            break;
        }
    }
    line
}

fn spectrum<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Spectrum, by_segment: bool) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let (w, _) = root.dim_in_pixel();
    let (head, body) = root.split_vertically(TITLE_H);
    title(&head, &c.title)?;
    let lines: Vec<Vec<(f64, f64)>> = c.curves.iter().map(|x| spectrum_line(&x.2)).collect();
    let hi = lines.iter().flatten().map(|p| p.1).chain(c.slos.iter().map(|s| s.1)).filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let ya = ValueAxis::new(0.0, if hi > 0.0 { hi } else { 1.0 }, 8).bounded(Some(0.0), None);
    let same = same_curves(&c.curves);
    let rows: Vec<(String, Rgb, u8)> = curve_rows(&c.curves, &same).into_iter().chain(c.slos.iter().map(|s| (s.0.clone(), SLO, 1u8))).collect();
    let leg_w = legend_width(rows.iter().map(|r| r.0.clone())).max(120);
    let (plot_area, leg_area) = body.split_horizontally(w.saturating_sub(leg_w));
    let x_ticks = vec![0.0, 2f64.log10(), 1.0, 2.0, 3.0, 4.0, 5.0];
    let y_fmt = |v: &f64| short_secs(*v);
    let y_area = ya.ticks().iter().map(|v| text_width(&short_secs(*v), LABEL)).max().unwrap_or(0) + DESC as u32 + 26;
    let mut cc = ChartBuilder::on(&plot_area)
        .margin(12)
        .margin_right(30)
        .x_label_area_size((LABEL + DESC) as u32 + 26)
        .y_label_area_size(y_area)
        .build_cartesian_2d(Ticked::new(0.0..SPECTRUM_NINES, x_ticks), Ticked::new(ya.lo..ya.hi, ya.ticks()))?;
    let x_fmt = |v: &f64| nines_label(*v);
    house_mesh(&mut cc.configure_mesh(), LABEL, DESC)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc("percentile (logarithmic in the number of nines)")
        .y_desc("latency, arrival to response")
        .draw()?;
    for (_, lat, pct) in &c.slos {
        if *lat > 0.0 {
            draw_line(&mut cc, vec![(0.0, *lat), (SPECTRUM_NINES, *lat)], style(SLO, 2), true, by_segment)?;
            let x = nines(*pct);
            draw_line(&mut cc, vec![(x, ya.lo), (x, ya.hi)], style(GREY, 1), true, by_segment)?;
        }
    }
    for ((line, (_, col, _)), same) in lines.into_iter().zip(&c.curves).zip(&same) {
        draw_line(&mut cc, line, style(*col, 2), same.is_some(), by_segment)?;
    }
    legend(&leg_area, 20, &rows)?;
    Ok(())
}

fn scatter<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Scatter) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let (w, _) = root.dim_in_pixel();
    let (head, body) = root.split_vertically(TITLE_H);
    title(&head, &s.title)?;
    let rows: Vec<(String, Rgb, u8)> = s.points.iter().map(|p| (p.0.clone(), p.1, 4u8)).collect();
    let leg_w = legend_width(rows.iter().map(|r| r.0.clone())).max(120);
    let (plot_area, leg_area) = body.split_horizontally(w.saturating_sub(leg_w));
    let span = |f: fn(&(String, Rgb, f64, f64)) -> f64| {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in &s.points {
            let v = f(p);
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        let pad = ((hi - lo) * 0.15).max(hi.abs() * 0.02).max(1e-6);
        (lo - pad, hi + pad)
    };
    let (x_lo, x_hi) = span(|p| p.2);
    let (y_lo, y_hi) = span(|p| p.3);
    let xa = ValueAxis::new(x_lo.max(0.0), x_hi, 6);
    let ya = ValueAxis::new(y_lo, y_hi, 6).bounded(None, s.y_max);
    let y_area = ya.ticks().iter().map(|&v| text_width(&ya.label(v), LABEL)).max().unwrap_or(0) + DESC as u32 + 26;
    let mut cc = ChartBuilder::on(&plot_area)
        .margin(14)
        .x_label_area_size((LABEL + DESC) as u32 + 26)
        .y_label_area_size(y_area)
        .build_cartesian_2d(Ticked::new(xa.lo..xa.hi, xa.ticks()), Ticked::new(ya.lo..ya.hi, ya.ticks()))?;
    let x_fmt = |v: &f64| xa.label(*v);
    let y_fmt = |v: &f64| ya.label(*v);
    house_mesh(&mut cc.configure_mesh(), LABEL, DESC)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(s.x_desc.as_str())
        .y_desc(s.y_desc.as_str())
        .draw()?;
    for (i, (name, c, x, y)) in s.points.iter().enumerate() {
        cc.draw_series(std::iter::once(Circle::new((*x, *y), 7, rgb(*c).filled())))?;
        // Labels of points at (nearly) the same place are stacked, not drawn over each other.
        let near = s.points[..i]
            .iter()
            .filter(|q| (q.2 - x).abs() <= (xa.hi - xa.lo) * 0.05 && (q.3 - y).abs() <= (ya.hi - ya.lo) * 0.04)
            .count() as i32;
        let text = TextStyle::from((FAMILY, LABEL).into_font()).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Bottom));
        cc.draw_series(std::iter::once(
            EmptyElement::at((*x, *y)) + Text::new(name.clone(), (9, -6 - 18 * near), text),
        ))?;
    }
    legend(&leg_area, 20, &rows)?;
    Ok(())
}

fn bars<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, b: &BarGrid) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let (head, body) = root.split_vertically(TITLE_H);
    title(&head, &b.title)?;
    let cols = b.columns.max(1);
    let rows = b.metrics.len().div_ceil(cols).max(1);
    let cells = body.split_evenly((rows, cols));
    let n = b.items.len().max(1);
    let name_w = b.items.iter().map(|i| text_width(&i.0, LABEL)).max().unwrap_or(0) + 16;
    for (m, cell) in b.metrics.iter().zip(cells.iter()) {
        let hi = m.values.iter().map(|v| v.0).filter(|v| v.is_finite()).fold(0.0f64, f64::max);
        let lo = m.values.iter().map(|v| v.0).filter(|v| v.is_finite()).fold(0.0f64, f64::min);
        let label_w = m.values.iter().map(|v| text_width(&v.1, LABEL)).max().unwrap_or(0) as f64;
        let plot_px = (cell.dim_in_pixel().0 as f64 - name_w as f64 - 30.0).max(50.0);
        // Room right of the longest bar for its label.
        let room = if hi > lo { (hi - lo) * (label_w + 12.0) / (plot_px - label_w - 12.0).max(20.0) } else { 1.0 };
        let xa = match m.max {
            // A bounded axis ends at its bound; labels that do not fit right of a bar go inside it.
            Some(max) => ValueAxis::new(lo, max.max(hi), 4).bounded(None, Some(max.max(hi))),
            None => ValueAxis::new(lo, hi + room, 4),
        };
        let ticks: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut cc = ChartBuilder::on(cell)
            .caption(&m.title, (FAMILY, PANEL_TITLE))
            .margin(10)
            .margin_right(18)
            .x_label_area_size(LABEL as u32 + 14)
            .y_label_area_size(name_w)
            .build_cartesian_2d(Ticked::new(xa.lo..xa.hi, xa.ticks()), Ticked::new(-0.6..(n as f64 - 0.4), ticks))?;
        let names: Vec<String> = b.items.iter().map(|i| i.0.clone()).collect();
        // Items top to bottom: item 0 at the top.
        let y_fmt = |v: &f64| {
            let i = (n as f64 - 1.0 - v).round();
            if i >= 0.0 { names.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
        };
        let x_fmt = |v: &f64| xa.label(*v);
        house_mesh(&mut cc.configure_mesh(), LABEL, DESC).x_label_formatter(&x_fmt).y_label_formatter(&y_fmt).disable_y_mesh().draw()?;
        for (i, ((v, label), (_, c))) in m.values.iter().zip(&b.items).enumerate() {
            let y = (n - 1 - i) as f64;
            let v = if v.is_finite() { *v } else { 0.0 };
            cc.draw_series(std::iter::once(Rectangle::new([(0.0, y - 0.32), (v, y + 0.32)], rgb(*c).filled())))?;
            let fits = m.max.is_none() || (xa.hi - v) * plot_px / (xa.hi - xa.lo).max(1e-12) >= label_w + 12.0;
            if fits {
                let text = TextStyle::from((FAMILY, LABEL).into_font()).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
                cc.draw_series(std::iter::once(EmptyElement::at((v.max(0.0), y)) + Text::new(label.clone(), (6, 0), text)))?;
            } else {
                let text = TextStyle::from((FAMILY, LABEL).into_font()).color(&WHITE).pos(Pos::new(HPos::Right, VPos::Center));
                cc.draw_series(std::iter::once(EmptyElement::at((v, y)) + Text::new(label.clone(), (-6, 0), text)))?;
            }
        }
    }
    Ok(())
}
