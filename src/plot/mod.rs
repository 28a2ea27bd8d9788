//! Plots: line charts of named series over simulated time, drawn in memory to PNG bytes
//! ([`render_png`]) or SVG text ([`render_svg`]), so that callers write them whole with
//! [`crate::output::write_atomic`].
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (`assets/fonts/`, under the Bitstream
//! Vera license), so no system font library is needed; it is registered with plotters as
//! `"sans-serif"` the first time a chart is drawn. An SVG names the family `sans-serif` and lets
//! the viewer pick the face; label areas are sized from DejaVu's metrics.
//!
//! Drawing is deterministic: the same chart gives byte-identical SVG (and PNG).
//!
//! Times are seconds (`f64`); the time axis ([`TimeAxis`]) puts its ticks on round durations
//! and labels them like `0`, `30m`, `1h`, `1d 6h`.

pub mod figure;

use std::sync::OnceLock;

mod charts;
pub use charts::{Bounds, render_heatmap_png, render_heatmap_svg, render_scatter_png, render_scatter_svg, Heatmap, ScatterChart, ScatterSeries};

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

/// DejaVu Sans 2.37 (see `assets/fonts/LICENSE-DejaVu.txt`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

// Font sizes as plotters takes them (about 1.2 times the em in pixels).
const TITLE_SIZE: f64 = 26.0;
/// The house style of every chart's mesh: tick labels and axis descriptions in our font at
/// these sizes, light grey major grid lines, no minor ones, dark grey axes.
fn house_mesh<'m, 'a, 'b, X, Y, DB>(mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>, label: f64, desc: f64) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>
where
    X: Ranged,
    Y: Ranged,
    DB: DrawingBackend,
{
    mesh.label_style((FAMILY, label))
        .axis_desc_style((FAMILY, desc))
        .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
        .light_line_style(TRANSPARENT)
        .axis_style(RGBColor(0x55, 0x55, 0x55))
}

const LABEL_SIZE: f64 = 16.0;
const DESC_SIZE: f64 = 17.0;
const LEGEND_SIZE: f64 = 16.0;
const LEGEND_ROW_PX: u32 = 26;
const LEGEND_LINE_PX: i32 = 28;

/// Default picture size, pixels.
pub const DEFAULT_WIDTH: u32 = 1200;
pub const DEFAULT_HEIGHT: u32 = 600;

/// Series colours, in order of use: Tableau 10, which tells ten lines apart on white (and
/// mostly for colour-blind readers too). Series beyond ten reuse them.
pub const PALETTE: [(u8, u8, u8); 10] = [
    (0x4e, 0x79, 0xa7), // blue
    (0xf2, 0x8e, 0x2b), // orange
    (0xe1, 0x57, 0x59), // red
    (0x76, 0xb7, 0xb2), // teal
    (0x59, 0xa1, 0x4f), // green
    (0xed, 0xc9, 0x48), // yellow
    (0xb0, 0x7a, 0xa1), // purple
    (0xff, 0x9d, 0xa7), // pink
    (0x9c, 0x75, 0x5f), // brown
    (0xba, 0xb0, 0xac), // grey
];

/// The colour of the `i`-th series (0-based).
pub fn color(i: usize) -> (u8, u8, u8) {
    PALETTE[i % PALETTE.len()]
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("the embedded font could not be loaded")]
    Font,
    #[error("drawing the plot: {0}")]
    Draw(String),
    #[error("encoding the PNG: {0}")]
    Png(String),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw(e.to_string())
    }
}

/// Registers the embedded font once per process, before any drawing.
fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    if *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok()) {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

// =============================================================================================
// The chart
// =============================================================================================

/// One named line: `(time in seconds, value)` points in increasing time. A point whose value
/// is not finite breaks the line there.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn as steps: each value holds from its time to the next point's time (the last
    /// point only ends the line). For per-bin values and piecewise-constant quantities such as
    /// replica counts.
    pub steps: bool,
}

impl Series {
    /// Straight lines between the points.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            steps: false,
        }
    }

    /// Steps (see [`Series::steps`]).
    pub fn steps(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            steps: true,
        }
    }
}

/// A line chart of series over time. The legend (below the plot) lists the series when there
/// are two or more. The value axis starts at 0 unless a value is negative.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    /// The time axis' description (its ticks carry the units), like `"time since the start"`.
    pub x_desc: String,
    /// The value axis' description, with units, like `"requests per second"`.
    pub y_desc: String,
    pub series: Vec<Series>,
    /// Pixels (SVG: user units).
    pub width: u32,
    pub height: u32,
}

impl LineChart {
    /// An empty chart of the default size.
    pub fn new(
        title: impl Into<String>,
        x_desc: impl Into<String>,
        y_desc: impl Into<String>,
    ) -> Self {
        LineChart {
            title: title.into(),
            x_desc: x_desc.into(),
            y_desc: y_desc.into(),
            series: Vec::new(),
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
        }
    }

    /// Adds a series (its colour is the next of [`PALETTE`]).
    pub fn with(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }
}

/// The chart as a PNG file's bytes.
pub fn render_png(chart: &LineChart) -> Result<Vec<u8>, PlotError> {
    ensure_font()?;
    let (w, h) = checked_size(chart)?;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, chart, true)?;
    }
    encode_png(&rgb, w, h)
}

/// RGB pixels as a PNG file's bytes.
fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, PlotError> {
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc
            .write_header()
            .map_err(|e| PlotError::Png(e.to_string()))?;
        writer
            .write_image_data(rgb)
            .map_err(|e| PlotError::Png(e.to_string()))?;
        writer.finish().map_err(|e| PlotError::Png(e.to_string()))?;
    }
    Ok(png_bytes)
}

/// The chart as SVG text.
pub fn render_svg(chart: &LineChart) -> Result<String, PlotError> {
    ensure_font()?;
    let size = checked_size(chart)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root, chart, false)?;
    }
    if !svg.ends_with('\n') {
        svg.push('\n');
    }
    Ok(svg)
}

fn checked_size(chart: &LineChart) -> Result<(u32, u32), PlotError> {
    checked_dims(chart.width, chart.height)
}

fn checked_dims(w: u32, h: u32) -> Result<(u32, u32), PlotError> {
    if !(200..=20_000).contains(&w) || !(150..=20_000).contains(&h) {
        return Err(PlotError::Draw(format!(
            "a chart of {w}x{h} pixels: expected 200 to 20000 wide and 150 to 20000 high"
        )));
    }
    Ok((w, h))
}

/// The width of `text` in pixels at `size`, by the embedded font's metrics.
fn text_width(text: &str, size: f64) -> u32 {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
        .box_size(text)
        .map(|(w, _)| w)
        .unwrap_or((text.chars().count() as f64 * size * 0.6) as u32)
}

fn rgb((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

/// The polylines of a series: runs of finite points, with the corners of steps added.
fn polylines(s: &Series) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for &(x, y) in &s.points {
        if !x.is_finite() || !y.is_finite() {
            // A step holds up to the next point's time, even when that point's value is missing.
            if let (true, true, Some(&(_, py))) = (s.steps, x.is_finite(), cur.last()) {
                cur.push((x, py));
            }
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if s.steps {
            if let Some(&(_, py)) = cur.last() {
                cur.push((x, py));
            }
        }
        cur.push((x, y));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A series' name in the legend, with "(same as ...)" when it coincides with an earlier one.
fn legend_name(chart: &LineChart, same: &[Option<usize>], i: usize) -> String {
    match same.get(i).copied().flatten() {
        Some(j) => format!("{} (same as {})", chart.series[i].name, chart.series[j].name),
        None => chart.series[i].name.clone(),
    }
}

/// Legend rows: for each row, the series indices and their x offsets, then the row's width.
fn legend_rows(chart: &LineChart, width: u32) -> Vec<(Vec<(usize, i32)>, i32)> {
    if chart.series.len() < 2 {
        return Vec::new();
    }
    let avail = width as i32 - 40;
    let mut rows: Vec<(Vec<(usize, i32)>, i32)> = Vec::new();
    let mut row: Vec<(usize, i32)> = Vec::new();
    let mut x = 0i32;
    let same = coincident(&chart.series.iter().map(|s| (s.points.as_slice(), s.steps)).collect::<Vec<_>>());
    for i in 0..chart.series.len() {
        let entry = LEGEND_LINE_PX + 6 + text_width(&legend_name(chart, &same, i), LEGEND_SIZE) as i32;
        if !row.is_empty() && x + entry > avail {
            rows.push((std::mem::take(&mut row), x - 24));
            x = 0;
        }
        row.push((i, x));
        x += entry + 24;
    }
    rows.push((row, x - 24));
    rows
}

/// Draws the chart. `by_segment`: draw each segment of a line on its own, for backends that
/// fill a wide polyline as one polygon (the bitmap's leaves holes where a dense line doubles
/// back on itself).
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &LineChart,
    by_segment: bool,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (w, h) = root.dim_in_pixel();

    // Data ranges.
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for s in &chart.series {
        for &(x, y) in &s.points {
            if x.is_finite() && y.is_finite() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let y_axis = ValueAxis::new(y0.min(0.0), y1.max(0.0), 8);

    // Layout: legend rows at the bottom; label areas sized to their widest label.
    let legend = legend_rows(chart, w);
    let legend_h = if legend.is_empty() {
        0
    } else {
        legend.len() as u32 * LEGEND_ROW_PX + 10
    };
    let (plot_area, legend_area) = root.split_vertically(h.saturating_sub(legend_h));
    let y_labels: Vec<String> = y_axis.ticks().iter().map(|&v| y_axis.label(v)).collect();
    let y_area = y_labels
        .iter()
        .map(|l| text_width(l, LABEL_SIZE))
        .max()
        .unwrap_or(0)
        + DESC_SIZE as u32
        + 26;
    let x_area = (LABEL_SIZE + DESC_SIZE) as u32 + 30;
    let left_margin = 12u32;
    let plot_w = w.saturating_sub(y_area + left_margin + 40).max(100);
    // Room for about 100 pixels per time label.
    let time_axis = TimeAxis::new(x0, x1, (plot_w / 100).max(2) as usize);
    let widest_x = time_axis
        .ticks()
        .iter()
        .map(|&t| text_width(&time_axis.label(t), LABEL_SIZE))
        .max();
    let right_margin = (widest_x.unwrap_or(0) / 2 + 10).max(24);

    let mut cc = ChartBuilder::on(&plot_area)
        .caption(&chart.title, (FAMILY, TITLE_SIZE))
        .margin_top(10)
        .margin_bottom(4)
        .margin_left(left_margin)
        .margin_right(right_margin)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(
            Ticked::new(x0..x1, time_axis.ticks()),
            Ticked::new(y_axis.lo..y_axis.hi, y_axis.ticks()),
        )?;
    let x_fmt = |t: &f64| time_axis.label(*t);
    let y_fmt = |v: &f64| y_axis.label(*v);
    // Series with more points than the plot has pixel columns are drawn as a mean line in a
    // min-max band; identical series are drawn dashed over the first and named in the legend.
    let px = cc.plotting_area().dim_in_pixel().0;
    let dense: Vec<Option<Dense>> = chart.series.iter().map(|s| self::dense(&s.points, s.steps, x0, x1, px)).collect();
    let same = coincident(&chart.series.iter().map(|s| (s.points.as_slice(), s.steps)).collect::<Vec<_>>());
    let x_desc = if dense.iter().any(Option::is_some) {
        format!("{} (line: mean per pixel column; band: its min to max)", chart.x_desc)
    } else {
        chart.x_desc.clone()
    };
    house_mesh(&mut cc.configure_mesh(), LABEL_SIZE, DESC_SIZE)
        .x_desc(x_desc.as_str())
        .y_desc(chart.y_desc.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .draw()?;

    for (i, d) in dense.iter().enumerate() {
        if let Some(d) = d {
            for poly in d.bands() {
                cc.draw_series(std::iter::once(Polygon::new(poly, band_color(color(i)).filled())))?;
            }
        }
    }
    for (i, s) in chart.series.iter().enumerate() {
        let style = ShapeStyle {
            color: rgb(color(i)).to_rgba(),
            filled: false,
            stroke_width: 2,
        };
        let lines = match &dense[i] {
            Some(d) => d.mean_lines(),
            None => polylines(s),
        };
        for line in lines {
            if same[i].is_some() {
                cc.draw_series(DashedLineSeries::new(line, 8, 8, style))?;
            } else if by_segment {
                cc.draw_series(
                    line.windows(2)
                        .map(|w| PathElement::new(vec![w[0], w[1]], style)),
                )?;
            } else {
                cc.draw_series(LineSeries::new(line, style))?;
            }
        }
    }

    // The legend, each row centred.
    let text = TextStyle::from((FAMILY, LEGEND_SIZE).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (r, (row, row_w)) in legend.iter().enumerate() {
        let left = (w as i32 - row_w) / 2;
        let y = 4 + r as i32 * LEGEND_ROW_PX as i32 + LEGEND_ROW_PX as i32 / 2;
        for &(i, dx) in row {
            let x = left + dx;
            let style = ShapeStyle {
                color: rgb(color(i)).to_rgba(),
                filled: false,
                stroke_width: 3,
            };
            if same[i].is_some() {
                for k in 0..3 {
                    legend_area.draw(&PathElement::new(vec![(x + k * 10, y), (x + k * 10 + 6, y)], style))?;
                }
            } else {
                legend_area.draw(&PathElement::new(
                    vec![(x, y), (x + LEGEND_LINE_PX, y)],
                    style,
                ))?;
            }
            legend_area.draw(&Text::new(
                legend_name(chart, &same, i),
                (x + LEGEND_LINE_PX + 6, y),
                text.clone(),
            ))?;
        }
    }
    root.present()?;
    Ok(())
}

// =============================================================================================
// Dense series: a band per pixel column
// =============================================================================================

/// One pixel column of a dense series: its x range, the lowest and highest value the series
/// takes in it, and its mean over the column (time-weighted: a step's value counts for as long
/// as it holds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelColumn {
    pub x0: f64,
    pub x1: f64,
    pub lo: f64,
    pub hi: f64,
    pub mean: f64,
}

/// A series drawn as Grafana and Prometheus draw long ranges: runs of pixel columns (a run ends
/// where the data has a gap), each column with its min-max range and mean.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub runs: Vec<Vec<PixelColumn>>,
}

impl Dense {
    /// The mean line's polylines: a point at each column's centre.
    pub fn mean_lines(&self) -> Vec<Vec<(f64, f64)>> {
        self.runs.iter().map(|r| r.iter().map(|c| ((c.x0 + c.x1) / 2.0, c.mean)).collect()).collect()
    }

    /// The min-max band's polygons: along the highs left to right, back along the lows.
    pub fn bands(&self) -> Vec<Vec<(f64, f64)>> {
        self.runs
            .iter()
            .map(|r| {
                let mut poly: Vec<(f64, f64)> = r.iter().flat_map(|c| [(c.x0, c.hi), (c.x1, c.hi)]).collect();
                poly.extend(r.iter().rev().flat_map(|c| [(c.x1, c.lo), (c.x0, c.lo)]));
                poly
            })
            .collect()
    }
}

/// `points` (in increasing x; steps hold each value up to the next point) summarized per pixel
/// column when more of them fall in `[x0, x1]` than there are `px` columns; `None` when they
/// are few enough to draw exactly. A point whose value is not finite is a gap up to the next.
pub fn dense(points: &[(f64, f64)], steps: bool, x0: f64, x1: f64, px: u32) -> Option<Dense> {
    let mut acc = DenseAcc::new(steps, x0, x1, px)?;
    if points.iter().filter(|p| acc.inside(**p)).count() <= px as usize {
        return None;
    }
    for &p in points {
        acc.push(p);
    }
    Some(acc.finish())
}

/// [`dense`] as the points stream past, in memory bounded by the pixel columns: for lines too
/// long to hold (a caller that streams must count the points [`DenseAcc::inside`] first, in a
/// pass of its own, to know whether the line is dense at all).
#[derive(Debug, Clone)]
pub struct DenseAcc {
    steps: bool,
    x0: f64,
    x1: f64,
    n: usize,
    w: f64,
    /// Per column: lo, hi, weighted sum, weight.
    acc: Vec<(f64, f64, f64, f64)>,
    prev: Option<(f64, f64)>,
}

impl DenseAcc {
    /// `None` when there is nothing to summarize into (no columns, or an empty x range).
    pub fn new(steps: bool, x0: f64, x1: f64, px: u32) -> Option<DenseAcc> {
        if px == 0 || x1 <= x0 {
            return None;
        }
        let n = px as usize;
        Some(DenseAcc { steps, x0, x1, n, w: (x1 - x0) / px as f64, acc: vec![(f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0); n], prev: None })
    }

    /// Whether the point falls in the x range (what [`dense`] counts against the columns).
    pub fn inside(&self, p: (f64, f64)) -> bool {
        p.0 >= self.x0 && p.0 <= self.x1
    }

    fn col_of(&self, x: f64) -> usize {
        (((x - self.x0) / self.w).floor().max(0.0) as usize).min(self.n - 1)
    }

    /// The next point of the line.
    pub fn push(&mut self, p: (f64, f64)) {
        if let Some(a) = self.prev.replace(p) {
            self.segment(a, p);
        }
    }

    fn segment(&mut self, (ta, va): (f64, f64), (tb, vb_raw): (f64, f64)) {
        let (x0, x1, w) = (self.x0, self.x1, self.w);
        if !(ta.is_finite() && tb.is_finite() && va.is_finite()) || tb < ta {
            return;
        }
        let vb = if self.steps { va } else { vb_raw };
        if !vb.is_finite() {
            return;
        }
        let (sa, sb) = (ta.max(x0), tb.min(x1));
        if sb < sa {
            return;
        }
        let at = |t: f64| if tb > ta { va + (vb - va) * (t - ta) / (tb - ta) } else { va };
        for c in self.col_of(sa)..=self.col_of(sb) {
            let (ca, cb) = (x0 + c as f64 * w, x0 + (c + 1) as f64 * w);
            let (pa, pb) = (sa.max(ca), sb.min(cb));
            if pb < pa || (pb == pa && sb > sa) {
                continue;
            }
            let (ya, yb) = (at(pa), at(pb));
            let a = &mut self.acc[c];
            a.0 = a.0.min(ya.min(yb));
            a.1 = a.1.max(ya.max(yb));
            a.2 += (ya + yb) / 2.0 * (pb - pa);
            a.3 += pb - pa;
        }
    }

    /// The columns' runs.
    pub fn finish(self) -> Dense {
        let (x0, w) = (self.x0, self.w);
        let mut runs = Vec::new();
        let mut cur: Vec<PixelColumn> = Vec::new();
        for (c, &(lo, hi, sum, wt)) in self.acc.iter().enumerate() {
            if lo.is_finite() {
                let mean = if wt > 0.0 { (sum / wt).clamp(lo, hi) } else { (lo + hi) / 2.0 };
                cur.push(PixelColumn { x0: x0 + c as f64 * w, x1: x0 + (c + 1) as f64 * w, lo, hi, mean });
            } else if !cur.is_empty() {
                runs.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            runs.push(cur);
        }
        Dense { runs }
    }
}

/// For each series, the first earlier one it coincides with (the same points), so that a
/// chart can show both: the later one is drawn dashed and named "same as ..." in the legend.
/// Series without a non-zero value are left alone (zero failures of every kind are no news).
pub fn coincident(series: &[(&[(f64, f64)], bool)]) -> Vec<Option<usize>> {
    let mut acc = SameAcc::new(series.iter().map(|s| s.1).collect());
    let longest = series.iter().map(|s| s.0.len()).max().unwrap_or(0);
    let mut pts = Vec::with_capacity(series.len());
    for k in 0..longest {
        pts.clear();
        pts.extend(series.iter().map(|s| s.0.get(k).copied()));
        acc.push(&pts);
    }
    acc.finish()
}

/// [`coincident`] as the series stream past together, point by point, in memory that does
/// not grow with their length.
#[derive(Debug, Clone)]
pub struct SameAcc {
    steps: Vec<bool>,
    /// `eq[j * n + i]`, i < j: series i and j have had the same points so far.
    eq: Vec<bool>,
    /// Whether the series has had a finite non-zero value.
    news: Vec<bool>,
}

impl SameAcc {
    /// For series drawn as steps or not (series only coincide with their own kind).
    pub fn new(steps: Vec<bool>) -> SameAcc {
        let n = steps.len();
        SameAcc { eq: vec![true; n * n], news: vec![false; n], steps }
    }

    /// The next point of every series, in order (`None` for a series that has ended).
    pub fn push(&mut self, pts: &[Option<(f64, f64)>]) {
        let n = self.steps.len();
        for (j, pj) in pts.iter().enumerate().take(n) {
            if let Some(p) = pj {
                if p.1 != 0.0 && p.1.is_finite() {
                    self.news[j] = true;
                }
            }
            for (i, pi) in pts.iter().enumerate().take(j) {
                let e = &mut self.eq[j * n + i];
                if *e {
                    *e = match (pi, pj) {
                        (Some(a), Some(b)) => a.0 == b.0 && (a.1 == b.1 || (a.1.is_nan() && b.1.is_nan())),
                        (None, None) => true,
                        _ => false,
                    };
                }
            }
        }
    }

    /// For each series, the first earlier one it coincided with all along.
    pub fn finish(&self) -> Vec<Option<usize>> {
        let n = self.steps.len();
        (0..n).map(|j| if self.news[j] { (0..j).find(|&i| self.steps[i] == self.steps[j] && self.eq[j * n + i]) } else { None }).collect()
    }
}

/// The band's colour: the series' own, light.
pub fn band_color(c: (u8, u8, u8)) -> RGBAColor {
    RGBAColor(c.0, c.1, c.2, 0.22)
}

// =============================================================================================
// Axes
// =============================================================================================

/// A linear `f64` coordinate with our own ticks (plotters' `WithKeyPoints` over `f64` has no
/// label formatting, so the mesh cannot be drawn with it).
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// Tick steps of a time axis, seconds, finest first; beyond the list, 1-2-5 multiples of 10
/// days.
const TIME_STEPS_S: [f64; 33] = [
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5, // sub-second
    1.0,
    2.0,
    5.0,
    10.0,
    15.0,
    30.0, // seconds
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0, // minutes
    3600.0,
    7200.0,
    10800.0,
    21600.0,
    43200.0, // hours
    86400.0,
    172_800.0,
    432_000.0,
    604_800.0,
    1_209_600.0,
    1_728_000.0,
    4_320_000.0, // days
];

/// A time axis over `[start_s, end_s]` seconds with ticks on round durations (1, 2, 5, 10,
/// 15, 30 s; 1, 2, 5, 10, 15, 30 min; 1, 2, 3, 6, 12 h; 1, 2, 5, 7, 14, 20, 50 days, ...).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeAxis {
    pub start_s: f64,
    pub end_s: f64,
    /// Seconds between ticks.
    pub step_s: f64,
}

impl TimeAxis {
    /// The axis with the finest round step that gives at most `max_ticks` ticks (at least 1).
    pub fn new(start_s: f64, end_s: f64, max_ticks: usize) -> TimeAxis {
        let (start_s, end_s) = if start_s.is_finite() && end_s.is_finite() && end_s > start_s {
            (start_s, end_s)
        } else {
            let s = if start_s.is_finite() { start_s } else { 0.0 };
            (s, s + 1.0)
        };
        let max_ticks = max_ticks.max(1) as f64;
        let span = end_s - start_s;
        // Ticks are at multiples of the step inside the range: at most floor(span/step) + 1.
        let fits = |step: f64| (span / step).floor() + 1.0 <= max_ticks;
        let mut step_s = TIME_STEPS_S.iter().copied().find(|&s| fits(s));
        if step_s.is_none() {
            let mut decade: f64 = 10.0 * 86400.0;
            'search: while decade.is_finite() {
                for m in [1.0, 2.0, 5.0] {
                    if fits(m * decade) {
                        step_s = Some(m * decade);
                        break 'search;
                    }
                }
                decade *= 10.0;
            }
        }
        TimeAxis {
            start_s,
            end_s,
            step_s: step_s.unwrap_or(span),
        }
    }

    /// The tick times: the multiples of the step in `[start_s, end_s]`.
    pub fn ticks(&self) -> Vec<f64> {
        let eps = self.step_s * 1e-9;
        let first = ((self.start_s - eps) / self.step_s).ceil() as i64;
        let last = ((self.end_s + eps) / self.step_s).floor() as i64;
        (first..=last).map(|k| k as f64 * self.step_s).collect()
    }

    /// The label of a tick at `t_s` (see [`format_time`]).
    pub fn label(&self, t_s: f64) -> String {
        format_time(t_s, self.step_s)
    }
}

/// A time for an axis, to the resolution of `step_s`: its non-zero parts in days, hours,
/// minutes and seconds, such as `"0"`, `"45s"`, `"30m"`, `"1h"`, `"1h 30m"`, `"1d 6h"`,
/// `"2m 0.5s"`.
pub fn format_time(t_s: f64, step_s: f64) -> String {
    if !t_s.is_finite() {
        return format!("{t_s}");
    }
    let decimals = if step_s < 1.0 { decimals_of(step_s) } else { 0 };
    let scale = 10u64.pow(decimals as u32);
    let units = (t_s.abs() * scale as f64).round() as u64;
    let (whole, frac) = (units / scale, units % scale);
    let (d, h, m, s) = (
        whole / 86_400,
        whole / 3600 % 24,
        whole / 60 % 60,
        whole % 60,
    );
    let mut parts = Vec::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m")] {
        if n > 0 {
            parts.push(format!("{n}{unit}"));
        }
    }
    if frac > 0 {
        let f = format!("{frac:0width$}", width = decimals);
        parts.push(format!("{s}.{}s", f.trim_end_matches('0')));
    } else if s > 0 {
        parts.push(format!("{s}s"));
    }
    if parts.is_empty() {
        return "0".to_string();
    }
    let text = parts.join(" ");
    if t_s < 0.0 {
        format!("-{text}")
    } else {
        text
    }
}

/// The decimals needed to write multiples of `step` (a 1-2-2.5-5 step), at most 9.
fn decimals_of(step: f64) -> usize {
    (0..9)
        .find(|&d| {
            let x = step * 10f64.powi(d as i32);
            (x - x.round()).abs() < 1e-6 * x.max(1.0)
        })
        .unwrap_or(9)
}

/// A value axis: `[lo, hi]` extended to round ticks (1, 2, 2.5, 5 x 10^k), with 3% headroom
/// above the data.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ValueAxis {
    lo: f64,
    hi: f64,
    step: f64,
}

impl ValueAxis {
    fn new(lo: f64, hi: f64, max_ticks: usize) -> ValueAxis {
        let (lo, hi) = if hi > lo {
            (lo, hi + (hi - lo) * 0.03)
        } else {
            (lo, lo + 1.0)
        };
        let raw = (hi - lo) / max_ticks.max(1) as f64;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|&s| s >= raw)
            .unwrap_or(10.0 * mag);
        ValueAxis {
            lo: (lo / step).floor() * step,
            hi: (hi / step).ceil() * step,
            step,
        }
    }

    fn ticks(&self) -> Vec<f64> {
        let eps = 1e-9;
        let first = (self.lo / self.step - eps).ceil() as i64;
        let last = (self.hi / self.step + eps).floor() as i64;
        (first..=last).map(|k| k as f64 * self.step).collect()
    }

    /// The axis kept inside natural bounds (SLO attainment is never above 100 %, a count never
    /// below 0): its ends clamped, its ticks those inside.
    fn bounded(mut self, lo: Option<f64>, hi: Option<f64>) -> ValueAxis {
        if let Some(b) = lo.filter(|b| b.is_finite() && *b < self.hi) {
            self.lo = self.lo.max(b);
        }
        if let Some(b) = hi.filter(|b| b.is_finite() && *b > self.lo) {
            self.hi = self.hi.min(b);
        }
        self
    }

    /// `"0"`, `"2.5"`, `"1200"`, `"150k"`, `"1.5M"`.
    fn label(&self, v: f64) -> String {
        let big = self.hi.abs().max(self.lo.abs());
        let (div, suffix) = if big >= 1e7 {
            (1e6, "M")
        } else if big >= 1e5 {
            (1e3, "k")
        } else {
            (1.0, "")
        };
        let step = self.step / div;
        let v = v / div;
        if v.abs() < step * 1e-6 {
            return "0".to_string();
        }
        let decimals = if step >= 1.0 { 0 } else { decimals_of(step) };
        format!("{v:.decimals$}{suffix}")
    }
}

/// A bin width for plotting `span_ns` of data in at most `max_points` points, given the data's
/// own bin `min_bin_ns` (1 for none). The round widths are 1 ms ... 500 ms, 1 s, 2 s, 5 s,
/// 10 s, 15 s, 30 s, 1 min ... 30 min, 1 h ... 12 h, and days. In order of preference:
/// - `min_bin_ns` itself, if it fits;
/// - the smallest round width that fits and is a multiple of `min_bin_ns` (whole data bins per
///   plot bin, so no beats), if it is at most twice the smallest multiple that fits;
/// - the smallest round width that fits, if that is at least 10 data bins (a data bin split
///   between two plot bins then hardly shows: after a `speedup` the data's bin is rarely round);
/// - the smallest multiple of `min_bin_ns` that fits.
pub fn plot_bin_ns(span_ns: u64, min_bin_ns: u64, max_points: usize) -> u64 {
    let min_bin = min_bin_ns.max(1);
    let max_points = (max_points.max(1)) as u64;
    if span_ns.div_ceil(min_bin) <= max_points {
        return min_bin;
    }
    let smallest = min_bin.saturating_mul(span_ns.div_ceil(min_bin).div_ceil(max_points));
    let round: Vec<u64> = TIME_STEPS_S
        .iter()
        .map(|&s| (s * 1e9).round() as u64)
        .chain(
            // 1-2-5 multiples of 10 days, up to about 140 years.
            [1u64, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
                .iter()
                .map(|m| m * 10 * 86_400 * 1_000_000_000),
        )
        .collect();
    let fits = |b: u64| span_ns.div_ceil(b) <= max_points;
    if let Some(&b) = round
        .iter()
        .find(|&&b| b % min_bin == 0 && fits(b) && b / 2 <= smallest)
    {
        return b;
    }
    if smallest / min_bin >= 10 {
        if let Some(&b) = round.iter().find(|&&b| b >= smallest && fits(b)) {
            return b;
        }
    }
    smallest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_labels() {
        assert_eq!(format_time(0.0, 1800.0), "0");
        assert_eq!(format_time(1800.0, 1800.0), "30m");
        assert_eq!(format_time(3600.0, 1800.0), "1h");
        assert_eq!(format_time(5400.0, 1800.0), "1h 30m");
        assert_eq!(format_time(108_000.0, 21_600.0), "1d 6h");
        assert_eq!(format_time(172_800.0, 86_400.0), "2d");
        assert_eq!(format_time(45.0, 15.0), "45s");
        assert_eq!(format_time(90.0, 30.0), "1m 30s");
        assert_eq!(format_time(3615.0, 15.0), "1h 15s");
        assert_eq!(format_time(0.5, 0.5), "0.5s");
        assert_eq!(format_time(120.5, 0.5), "2m 0.5s");
        assert_eq!(format_time(0.25, 0.05), "0.25s");
        assert_eq!(format_time(0.003, 0.001), "0.003s");
        assert_eq!(format_time(-90.0, 30.0), "-1m 30s");
        // Float noise in tick times does not show.
        assert_eq!(format_time(3.0 * 0.1, 0.1), "0.3s");
        assert_eq!(format_time(1799.9999999, 1800.0), "30m");
    }

    #[test]
    fn time_axis_steps_and_ticks() {
        let a = TimeAxis::new(0.0, 3600.0, 10);
        assert_eq!(a.step_s, 600.0);
        assert_eq!(a.ticks().len(), 7);
        let labels: Vec<String> = a.ticks().iter().map(|&t| a.label(t)).collect();
        assert_eq!(labels, ["0", "10m", "20m", "30m", "40m", "50m", "1h"]);
        let a = TimeAxis::new(0.0, 3.0 * 86_400.0, 10);
        assert_eq!(a.step_s, 43_200.0);
        assert_eq!(a.label(a.ticks()[3]), "1d 12h");
        // NASA-like: 58.6 days.
        let a = TimeAxis::new(0.0, 5_059_950.0, 10);
        assert_eq!(a.step_s, 7.0 * 86_400.0);
        assert_eq!(a.label(a.ticks()[8]), "56d");
        // Years: 1-2-5 multiples of 10 days.
        let a = TimeAxis::new(0.0, 3e8, 10);
        assert!(a.ticks().len() <= 10 && a.step_s >= 1e6, "{a:?}");
        let a = TimeAxis::new(0.0, 2.0, 10);
        assert_eq!(a.step_s, 0.5);
        assert_eq!(a.ticks(), vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        // Degenerate ranges do not panic.
        for (s, e) in [
            (0.0, 0.0),
            (5.0, 1.0),
            (f64::NAN, 1.0),
            (0.0, f64::INFINITY),
        ] {
            let a = TimeAxis::new(s, e, 10);
            assert!(!a.ticks().is_empty(), "{a:?}");
        }
        assert!(TimeAxis::new(0.0, 1e300, 10).ticks().len() <= 10);
    }

    #[test]
    fn value_axis() {
        let a = ValueAxis::new(0.0, 3.0, 8);
        assert_eq!((a.lo, a.hi, a.step), (0.0, 3.5, 0.5));
        assert_eq!(a.label(1.5), "1.5");
        assert_eq!(a.label(2.0), "2.0");
        let a = ValueAxis::new(0.0, 97.0, 8);
        assert_eq!((a.hi, a.step), (100.0, 20.0));
        assert_eq!(a.label(60.0), "60");
        let a = ValueAxis::new(0.0, 240_000.0, 8);
        assert_eq!(a.label(100_000.0), "100k");
        let a = ValueAxis::new(0.0, 0.0, 8);
        assert_eq!((a.lo, a.hi), (0.0, 1.0));
        let a = ValueAxis::new(-3.0, 3.0, 8);
        assert!(a.lo <= -3.0 && a.ticks().contains(&0.0));
        assert_eq!(a.label(-0.0), "0");
    }

    #[test]
    fn plot_bins() {
        const S: u64 = 1_000_000_000;
        // Few bins: the data's own.
        assert_eq!(plot_bin_ns(600 * S, 60 * S, 2000), 60 * S);
        // NASA: 5,059,950 one-second bins -> hourly.
        assert_eq!(plot_bin_ns(5_059_950 * S, S, 2000), 3600 * S);
        // A one-hour request log -> 2 s.
        assert_eq!(plot_bin_ns(3600 * S, 1, 2000), 2 * S);
        // An odd native bin: a multiple of it.
        assert_eq!(plot_bin_ns(7 * 10_000 * S, 7 * S, 2000), 35 * S);
        // Not a round width far coarser than needed: 7 s x 2001 -> 14 s, not 7 days.
        assert_eq!(plot_bin_ns(7 * 2001 * S, 7 * S, 2000), 14 * S);
        assert!(plot_bin_ns(u64::MAX, 1, 2000) > 0);
        // NASA at speedup 24 (bins of 1/24 s): 2 min, not 1m42.625s.
        assert_eq!(plot_bin_ns(5_059_950 * S / 24, S / 24, 2000), 120 * S);
    }

    #[test]
    fn polylines_break_and_step() {
        let s = Series::steps(
            "x",
            vec![
                (0.0, 1.0),
                (1.0, 2.0),
                (2.0, f64::NAN),
                (3.0, 4.0),
                (4.0, 4.0),
            ],
        );
        assert_eq!(
            polylines(&s),
            vec![
                vec![(0.0, 1.0), (1.0, 1.0), (1.0, 2.0), (2.0, 2.0)],
                vec![(3.0, 4.0), (4.0, 4.0), (4.0, 4.0)]
            ]
        );
    }

    #[test]
    fn dense_series_become_bands_of_pixel_columns() {
        // Few points: drawn exactly.
        let few: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, i as f64)).collect();
        assert!(dense(&few, true, 0.0, 10.0, 100).is_none());
        // 1,000 steps on 10 columns: each column 100 steps, alternating 0 and 10.
        let many: Vec<(f64, f64)> = (0..=1000).map(|i| (i as f64, if i % 2 == 0 { 0.0 } else { 10.0 })).collect();
        let d = dense(&many, true, 0.0, 1000.0, 10).unwrap();
        assert_eq!(d.runs.len(), 1);
        assert_eq!(d.runs[0].len(), 10);
        for c in &d.runs[0] {
            assert_eq!((c.lo, c.hi), (0.0, 10.0));
            assert!((c.mean - 5.0).abs() < 1e-9, "{c:?}");
        }
        assert_eq!(d.mean_lines()[0].len(), 10);
        assert_eq!(d.bands()[0].len(), 40);
        // A spike of one step shows in its column's maximum; a gap splits the runs.
        let mut spiky: Vec<(f64, f64)> = (0..=1000).map(|i| (i as f64, 1.0)).collect();
        spiky[555].1 = 99.0;
        for p in &mut spiky[200..300] {
            p.1 = f64::NAN;
        }
        let d = dense(&spiky, true, 0.0, 1000.0, 10).unwrap();
        assert_eq!(d.runs.len(), 2, "{d:?}");
        let col = d.runs[1].iter().find(|c| c.x0 <= 555.0 && 555.0 < c.x1).unwrap();
        assert_eq!(col.hi, 99.0);
        assert!((col.mean - (99.0 + 99.0) / 100.0).abs() < 1e-9, "{col:?}");
        // Time-weighted: a value held for 90% of a column counts for 90%.
        let d = dense(&[(0.0, 10.0), (0.9, 0.0), (1.0, 0.0), (1.5, 0.0), (2.0, 0.0)], true, 0.0, 2.0, 1).unwrap();
        assert!((d.runs[0][0].mean - 4.5).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn coincident_series_are_found() {
        let a = vec![(0.0, 1.0), (1.0, 2.0)];
        let b = vec![(0.0, 1.0), (1.0, 3.0)];
        let same = coincident(&[(&a, true), (&b, true), (&a, true), (&a, false), (&[], true)]);
        assert_eq!(same, vec![None, None, Some(0), None, None]);
        let chart = LineChart::new("t", "x", "y").with(Series::steps("one", a.clone())).with(Series::steps("two", a));
        let svg = render_svg(&chart).unwrap();
        assert!(svg.contains("two (same as one)"), "{svg}");
    }

    #[test]
    fn bounded_axes_stay_inside() {
        let a = ValueAxis::new(90.0, 100.0, 6).bounded(None, Some(100.0));
        assert_eq!(a.hi, 100.0);
        assert!(a.ticks().iter().all(|t| *t <= 100.0));
        let a = ValueAxis::new(-5.0, 100.0, 6).bounded(Some(0.0), None);
        assert_eq!(a.lo, 0.0);
    }

    fn two_series() -> LineChart {
        let a: Vec<(f64, f64)> = (0..500)
            .map(|i| (i as f64 * 60.0, (i as f64 / 40.0).sin() * 50.0 + 60.0))
            .collect();
        let b: Vec<(f64, f64)> = (0..500)
            .map(|i| (i as f64 * 60.0, 40.0 + (i / 100) as f64 * 5.0))
            .collect();
        LineChart::new(
            "Load & replicas <test>",
            "time since the start",
            "requests per second",
        )
        .with(Series::line("load", a))
        .with(Series::steps("capacity", b))
    }

    #[test]
    fn renders_deterministically() {
        let c = two_series();
        let svg = render_svg(&c).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("Load &amp; replicas &lt;test&gt;"));
        assert!(
            svg.contains("\ncapacity\n</text>") && svg.contains("\n8h\n</text>"),
            "{svg}"
        );
        assert_eq!(svg, render_svg(&c).unwrap());
        let png = render_png(&c).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(png, render_png(&c).unwrap());
        // Empty and degenerate charts draw too.
        let empty = LineChart::new("empty", "t", "v");
        render_svg(&empty).unwrap();
        render_png(&empty.with(Series::line("flat", vec![(5.0, 0.0)]))).unwrap();
        let mut tiny = two_series();
        tiny.width = 10;
        assert!(render_png(&tiny).is_err());
    }
}
