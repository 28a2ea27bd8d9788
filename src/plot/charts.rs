//! Charts of a sweep: a scatter of two metrics (the Pareto front), and a heatmap of a metric
//! over a grid of two axes. Drawn like the line charts (embedded font, deterministic SVG).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    checked_dims, ensure_font, house_mesh, rgb, text_width, PlotError, Ticked, ValueAxis, DESC_SIZE, FAMILY, LABEL_SIZE,
    LEGEND_ROW_PX, LEGEND_SIZE, TITLE_SIZE,
};

/// Points of one kind in a scatter.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterSeries {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: (u8, u8, u8),
    /// Join the points with a line, in the given order.
    pub joined: bool,
    /// Larger marks (for a point to pick out).
    pub big: bool,
}

impl ScatterSeries {
    pub fn dots(name: impl Into<String>, points: Vec<(f64, f64)>, color: (u8, u8, u8)) -> Self {
        ScatterSeries { name: name.into(), points, color, joined: false, big: false }
    }
    pub fn joined(mut self) -> Self {
        self.joined = true;
        self
    }
    pub fn big(mut self) -> Self {
        self.big = true;
        self
    }
}

/// Natural bounds of a value axis: a share stays within [0, 1], a count at or above 0. The
/// axis' margin around the data stops at them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bounds {
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

/// A scatter of points on two value axes, with a legend below.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterChart {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<ScatterSeries>,
    pub x_bounds: Bounds,
    pub y_bounds: Bounds,
    pub width: u32,
    pub height: u32,
}

impl ScatterChart {
    pub fn new(title: impl Into<String>, x_desc: impl Into<String>, y_desc: impl Into<String>) -> Self {
        ScatterChart { title: title.into(), x_desc: x_desc.into(), y_desc: y_desc.into(), series: Vec::new(), x_bounds: Bounds::default(), y_bounds: Bounds::default(), width: super::DEFAULT_WIDTH, height: super::DEFAULT_HEIGHT }
    }
}

/// A value per cell of a grid of two categorical axes. `values[y][x]`; `None` is a cell
/// without a value (its runs failed).
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub x_labels: Vec<String>,
    pub y_labels: Vec<String>,
    pub values: Vec<Vec<Option<f64>>>,
    /// Cells outlined (those meeting the constraints).
    pub highlight: Vec<Vec<bool>>,
    /// There are constraints: the cells not highlighted break them and are drawn grey and
    /// hatched, outside the colour scale, so that green means good.
    pub constrained: bool,
    /// Colour scale: green for better.
    pub higher_is_better: bool,
    /// A cell outlined thick (the best).
    pub marked: Option<(usize, usize)>,
    /// A line under the plot.
    pub note: String,
    pub width: u32,
    pub height: u32,
}

fn png_of<F>(w: u32, h: u32, f: F) -> Result<Vec<u8>, PlotError>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
{
    ensure_font()?;
    let (w, h) = checked_dims(w, h)?;
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        f(&root)?;
    }
    super::encode_png(&buf, w, h)
}

fn svg_of<F>(w: u32, h: u32, f: F) -> Result<String, PlotError>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
{
    ensure_font()?;
    let (w, h) = checked_dims(w, h)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        f(&root)?;
    }
    if !svg.ends_with('\n') {
        svg.push('\n');
    }
    Ok(svg)
}

pub fn render_scatter_png(c: &ScatterChart) -> Result<Vec<u8>, PlotError> {
    png_of(c.width, c.height, |root| draw_scatter(root, c))
}

pub fn render_scatter_svg(c: &ScatterChart) -> Result<String, PlotError> {
    svg_of(c.width, c.height, |root| draw_scatter(root, c))
}

pub fn render_heatmap_png(h: &Heatmap) -> Result<Vec<u8>, PlotError> {
    png_of(h.width, h.height, |root| draw_heatmap(root, h))
}

pub fn render_heatmap_svg(h: &Heatmap) -> Result<String, PlotError> {
    svg_of(h.width, h.height, |root| draw_heatmap(root, h))
}

/// An axis around data `[lo, hi]` with a margin on both sides.
fn padded(lo: f64, hi: f64) -> ValueAxis {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.05 };
    ValueAxis::new(lo - pad, hi + pad, 8)
}

fn draw_scatter<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &ScatterChart) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (w, h) = root.dim_in_pixel();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for s in &c.series {
        for &(x, y) in &s.points {
            if x.is_finite() && y.is_finite() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    let xa = padded(x0, x1).bounded(c.x_bounds.lo, c.x_bounds.hi);
    let ya = padded(y0, y1).bounded(c.y_bounds.lo, c.y_bounds.hi);
    let legend_h = LEGEND_ROW_PX + 10;
    let (plot_area, legend_area) = root.split_vertically(h.saturating_sub(legend_h));
    let y_area = ya.ticks().iter().map(|&v| text_width(&ya.label(v), LABEL_SIZE)).max().unwrap_or(0) + DESC_SIZE as u32 + 26;
    let x_area = (LABEL_SIZE + DESC_SIZE) as u32 + 30;
    let mut cc = ChartBuilder::on(&plot_area)
        .caption(&c.title, (FAMILY, TITLE_SIZE))
        .margin_top(10)
        .margin_bottom(4)
        .margin_left(12)
        .margin_right(40)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(Ticked::new(xa.lo..xa.hi, xa.ticks()), Ticked::new(ya.lo..ya.hi, ya.ticks()))?;
    let x_fmt = |v: &f64| xa.label(*v);
    let y_fmt = |v: &f64| ya.label(*v);
    house_mesh(&mut cc.configure_mesh(), LABEL_SIZE, DESC_SIZE)
        .x_desc(c.x_desc.as_str())
        .y_desc(c.y_desc.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .draw()?;
    for s in &c.series {
        let color = rgb(s.color);
        let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        if s.joined && pts.len() > 1 {
            cc.draw_series(pts.windows(2).map(|w| PathElement::new(vec![w[0], w[1]], ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: 2 })))?;
        }
        let r = if s.big { 9 } else { 5 };
        cc.draw_series(pts.iter().map(|&p| Circle::new(p, r, if s.big { color.stroke_width(3) } else { color.filled() })))?;
    }
    // Legend: one row, centred.
    let text = TextStyle::from((FAMILY, LEGEND_SIZE).into_font()).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    let entries: Vec<(i32, &ScatterSeries)> = {
        let mut x = 0;
        c.series
            .iter()
            .map(|s| {
                let at = x;
                x += 24 + text_width(&s.name, LEGEND_SIZE) as i32 + 24;
                (at, s)
            })
            .collect()
    };
    let total = entries.last().map_or(0, |(x, s)| x + 24 + text_width(&s.name, LEGEND_SIZE) as i32);
    let left = (w as i32 - total) / 2;
    let y = 4 + LEGEND_ROW_PX as i32 / 2;
    for (dx, s) in entries {
        let x = left + dx;
        legend_area.draw(&Circle::new((x + 8, y), if s.big { 7 } else { 5 }, if s.big { rgb(s.color).stroke_width(3) } else { rgb(s.color).filled() }))?;
        legend_area.draw(&Text::new(s.name.clone(), (x + 24, y), text.clone()))?;
    }
    root.present()?;
    Ok(())
}

/// Diagonal hatching over a rectangle (an infeasible cell).
fn hatch<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, (x0, y0): (i32, i32), (x1, y1): (i32, i32)) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let st = ShapeStyle { color: RGBColor(0x99, 0x99, 0x99).to_rgba(), filled: false, stroke_width: 1 };
    let (w, h) = (x1 - x0, y1 - y0);
    // Lines x - y = k, clipped to the rectangle, every 10 pixels.
    let mut k = -h;
    while k < w {
        let (ax, ay) = if k >= 0 { (x0 + k, y0) } else { (x0, y0 - k) };
        let len = (w - (ax - x0)).min(h - (ay - y0));
        if len > 0 {
            root.draw(&PathElement::new(vec![(ax, ay), (ax + len, ay + len)], st))?;
        }
        k += 10;
    }
    Ok(())
}

/// Red (worse) through yellow to green (better), for a share in [0, 1].
fn scale(t: f64) -> RGBColor {
    let (bad, mid, good) = ((0xe1u8, 0x57u8, 0x59u8), (0xedu8, 0xc9u8, 0x48u8), (0x59u8, 0xa1u8, 0x4fu8));
    let lerp = |a: (u8, u8, u8), b: (u8, u8, u8), f: f64| {
        let m = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
        RGBColor(m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
    };
    let t = t.clamp(0.0, 1.0);
    if t < 0.5 {
        lerp(bad, mid, t * 2.0)
    } else {
        lerp(mid, good, (t - 0.5) * 2.0)
    }
}

fn short(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let mag = x.abs().log10().floor() as i32;
    let d = (3 - mag).clamp(0, 9) as usize;
    let s = format!("{x:.d$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn draw_heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, hm: &Heatmap) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (w, h) = root.dim_in_pixel();
    let (nx, ny) = (hm.x_labels.len().max(1), hm.y_labels.len().max(1));
    let label_w = hm.y_labels.iter().map(|l| text_width(l, LABEL_SIZE)).max().unwrap_or(0) as i32;
    let (left, right, top, bottom) = (label_w + DESC_SIZE as i32 + 40, 30, 60, 100);
    let cw = ((w as i32 - left - right) / nx as i32).max(4);
    let ch = ((h as i32 - top - bottom) / ny as i32).max(4);
    let title = TextStyle::from((FAMILY, TITLE_SIZE).into_font()).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(hm.title.clone(), (w as i32 / 2, 28), title))?;
    let infeasible = |x: usize, y: usize| hm.constrained && !hm.highlight.get(y).and_then(|r| r.get(x)).copied().unwrap_or(false);
    let mut vals: Vec<f64> = Vec::new();
    for (y, row) in hm.values.iter().enumerate() {
        for (x, v) in row.iter().enumerate() {
            if let Some(v) = v.filter(|v| v.is_finite() && !infeasible(x, y)) {
                vals.push(v);
            }
        }
    }
    let (lo, hi) = vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let center = TextStyle::from((FAMILY, LABEL_SIZE).into_font()).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
    for y in 0..ny {
        for x in 0..nx {
            // The first y label at the bottom, as on a value axis.
            let px = left + x as i32 * cw;
            let py = top + (ny - 1 - y) as i32 * ch;
            let v = hm.values.get(y).and_then(|r| r.get(x)).copied().flatten();
            let fill = match v {
                Some(_) if infeasible(x, y) => RGBColor(0xd9, 0xd9, 0xd9),
                Some(v) if hi > lo => {
                    let t = (v - lo) / (hi - lo);
                    scale(if hm.higher_is_better { t } else { 1.0 - t })
                }
                Some(_) => scale(1.0),
                None => RGBColor(0xe4, 0xe4, 0xe4),
            };
            root.draw(&Rectangle::new([(px + 1, py + 1), (px + cw - 1, py + ch - 1)], fill.filled()))?;
            if v.is_some() && infeasible(x, y) {
                hatch(root, (px + 1, py + 1), (px + cw - 1, py + ch - 1))?;
            }
            if hm.highlight.get(y).and_then(|r| r.get(x)).copied().unwrap_or(false) {
                root.draw(&Rectangle::new([(px + 2, py + 2), (px + cw - 2, py + ch - 2)], BLACK.stroke_width(2)))?;
            }
            if hm.marked == Some((x, y)) {
                root.draw(&Rectangle::new([(px + 3, py + 3), (px + cw - 3, py + ch - 3)], BLACK.stroke_width(5)))?;
            }
            let text = v.map_or_else(|| "failed".to_string(), short);
            if cw > 30 && ch > 16 {
                root.draw(&Text::new(text, (px + cw / 2, py + ch / 2), center.clone()))?;
            }
        }
    }
    let right_t = TextStyle::from((FAMILY, LABEL_SIZE).into_font()).color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
    for (y, l) in hm.y_labels.iter().enumerate() {
        root.draw(&Text::new(l.clone(), (left - 8, top + (ny - 1 - y) as i32 * ch + ch / 2), right_t.clone()))?;
    }
    let below = TextStyle::from((FAMILY, LABEL_SIZE).into_font()).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
    for (x, l) in hm.x_labels.iter().enumerate() {
        root.draw(&Text::new(l.clone(), (left + x as i32 * cw + cw / 2, top + ny as i32 * ch + 6), below.clone()))?;
    }
    let desc = TextStyle::from((FAMILY, DESC_SIZE).into_font()).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new(hm.x_desc.clone(), (left + nx as i32 * cw / 2, top + ny as i32 * ch + 32), desc.clone()))?;
    let note = TextStyle::from((FAMILY, LEGEND_SIZE).into_font()).color(&RGBColor(0x55, 0x55, 0x55)).pos(Pos::new(HPos::Center, VPos::Top));
    let note_text = if hm.constrained {
        format!("{}; green is better; grey hatched cells break the constraints", hm.note)
    } else {
        format!("{}; green is better", hm.note)
    };
    root.draw(&Text::new(note_text, (w as i32 / 2, top + ny as i32 * ch + 62), note))?;
    let vdesc = TextStyle::from((FAMILY, DESC_SIZE).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center))
        .transform(plotters::style::FontTransform::Rotate270);
    root.draw(&Text::new(hm.y_desc.clone(), (16, top + ny as i32 * ch / 2), vdesc))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_draw_and_svg_is_deterministic() {
        let mut c = ScatterChart::new("t", "cost", "attainment");
        c.series.push(ScatterSeries::dots("a", vec![(1.0, 0.99), (2.0, 0.999)], (0, 0, 255)).joined());
        c.series.push(ScatterSeries::dots("b", vec![(1.5, 0.995)], (255, 0, 0)).big());
        let a = render_scatter_svg(&c).unwrap();
        assert_eq!(a, render_scatter_svg(&c).unwrap());
        assert!(a.contains("attainment"));
        assert!(render_scatter_png(&c).unwrap().starts_with(b"\x89PNG"));
        let hm = Heatmap {
            title: "h".into(),
            x_desc: "x".into(),
            y_desc: "y".into(),
            x_labels: vec!["1".into(), "2".into()],
            y_labels: vec!["a".into()],
            values: vec![vec![Some(1.0), None]],
            highlight: vec![vec![true, false]],
            constrained: true,
            higher_is_better: false,
            marked: Some((0, 0)),
            note: "n".into(),
            width: 600,
            height: 400,
        };
        let s = render_heatmap_svg(&hm).unwrap();
        assert!(s.contains("failed"));
        assert!(render_heatmap_png(&hm).unwrap().starts_with(b"\x89PNG"));
    }
}
