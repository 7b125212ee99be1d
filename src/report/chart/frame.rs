//! What every chart is built from: the palette, the page layout (a title, then rows of a plot
//! column and a legend column), time-axis panels with fault bands behind, the fault lane,
//! legends, and series drawn so that nothing leaves its plot area.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::series::{segments, shape, steps, tick, Shape};

pub const WIDTH: u32 = 1400;
/// The legend column at the right of every row, outside every plot area.
pub const LEGEND_W: u32 = 310;
pub const MAIN_W: u32 = WIDTH - LEGEND_W;
pub const TITLE_H: u32 = 44;
const MARGIN: u32 = 12;
const Y_LABEL_W: u32 = 95;
const X_LABEL_H: u32 = 40;
/// The pixel columns every time axis spans, in panels and lanes alike, so they line up.
pub const PLOT_X0: i32 = (MARGIN + Y_LABEL_W) as i32;
pub const PLOT_X1: i32 = (MAIN_W - MARGIN) as i32;
pub const FONT: &str = "sans-serif";

/// The background of a plot area (and the test's way to find one in an SVG).
pub const PLOT_BG: RGBColor = RGBColor(250, 250, 250);
/// The background of a lane (fault labels, sync markers).
pub const LANE_BG: RGBColor = RGBColor(240, 240, 240);

/// The Okabe–Ito palette, which readers with any common colour-vision deficiency can tell
/// apart, without its black (kept for limits). Node `i` of a report (in name order) has colour
/// `i` on every chart of the run.
const OKABE_ITO: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(240, 228, 66),  // yellow
];

pub fn node_color(i: usize) -> RGBColor {
    OKABE_ITO[i % OKABE_ITO.len()]
}

/// Colours for series that are not nodes (refusal kinds), from the same palette.
pub fn other_color(i: usize) -> RGBColor {
    [OKABE_ITO[1], OKABE_ITO[3], OKABE_ITO[4], OKABE_ITO[5]][i % 4]
}

/// Limits are drawn in black and grey, never a node's colour: the hard limit Redis enforces,
/// the soft limit, and the hard limit as configured where it differs from the enforced one.
pub const LIMIT_HARD: RGBColor = RGBColor(0, 0, 0);
pub const LIMIT_SOFT: RGBColor = RGBColor(110, 110, 110);
pub const LIMIT_CONFIGURED: RGBColor = RGBColor(170, 170, 170);

const FAULT_INK: RGBColor = RGBColor(80, 80, 80);

pub fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

pub type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
pub type Area<DB> = DrawingArea<DB, Shift>;
/// A row of a chart: its main area (plots and lanes) and its legend area.
pub type Row<DB> = (Area<DB>, Area<DB>);

/// A fault's window on the time axis, in seconds.
pub struct Fault {
    pub label: String,
    pub start: f64,
    pub end: Option<f64>,
}

/// Line width of series `i` of `n` drawn in order: with a few series, earlier ones are wider, so
/// where series coincide (replicas all caught up, a replica's backlog equal to its master's) each
/// still shows as a band under the later ones instead of vanishing.
pub fn stroke(i: usize, n: usize) -> u32 {
    if n <= 4 {
        2 + 2 * (n - 1 - i.min(n - 1)) as u32
    } else {
        2
    }
}

/// The width of `text` in pixels at `size`.
pub fn text_width(text: &str, size: u32) -> u32 {
    (FONT, size)
        .into_font()
        .box_size(text)
        .map_or(0, |(w, _)| w)
}

/// `text` cut to fit `width` pixels at `size`, with an ellipsis when cut.
pub fn fit(text: &str, size: u32, width: u32) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let mut cut: String = text.to_string();
    while !cut.is_empty() && text_width(&format!("{cut}…"), size) > width {
        cut.pop();
    }
    format!("{cut}…")
}

/// Clears the page, writes its title, and splits the rest into rows of the given heights, each
/// a main area (plots and lanes) and a legend area of `LEGEND_W` beside it. The page is
/// `WIDTH` wide but for the side-by-side chart, whose main area holds two columns.
pub fn rows<DB: DrawingBackend>(
    root: &Area<DB>,
    title: &str,
    heights: &[u32],
) -> Result<Vec<Row<DB>>, String> {
    root.fill(&WHITE).map_err(err)?;
    let (width, _) = root.dim_in_pixel();
    let (head, mut rest) = root.split_vertically(TITLE_H);
    let style = (FONT, 24)
        .into_font()
        .into_text_style(&head)
        .pos(Pos::new(HPos::Center, VPos::Center));
    head.draw_text(
        &fit(title, 24, width - 20),
        &style,
        (width as i32 / 2, TITLE_H as i32 / 2),
    )
    .map_err(err)?;
    let mut out = Vec::with_capacity(heights.len());
    for &h in heights {
        let (row, below) = rest.split_vertically(h);
        rest = below;
        out.push(row.split_horizontally(width - LEGEND_W));
    }
    Ok(out)
}

/// The width in pixels of the plot area of a panel or lane drawn on an area `area_w` wide: what
/// the margins and the axis labels leave. On a page's main area it is `PLOT_X1 - PLOT_X0`.
pub fn plot_width(area_w: u32) -> u32 {
    area_w.saturating_sub(2 * MARGIN + Y_LABEL_W).max(1)
}

/// A time-axis panel: axes from 0 to `x_max` and `y.0..y.1`, its plot area shaded, the mesh, and
/// the fault windows behind everything drawn later.
pub fn panel<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    x_max: f64,
    y: (f64, f64),
    y_desc: &str,
    y_fmt: &dyn Fn(&f64) -> String,
    faults: &[Fault],
) -> Result<Chart2d<'a, DB>, String> {
    let mut chart = ChartBuilder::on(area)
        .margin_left(MARGIN)
        .margin_right(MARGIN)
        .margin_top(8)
        .margin_bottom(4)
        .x_label_area_size(X_LABEL_H)
        .y_label_area_size(Y_LABEL_W)
        .build_cartesian_2d(0.0..x_max, y.0..y.1)
        .map_err(err)?;
    chart.plotting_area().fill(&PLOT_BG).map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc(y_desc)
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_label_formatter(&|v| tick(*v, x_max))
        .y_label_formatter(y_fmt)
        .bold_line_style(RGBColor(220, 220, 220))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for f in faults {
        let end = f.end.unwrap_or(x_max).min(x_max);
        if end > f.start {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(f.start, y.0), (end, y.1)],
                    BLACK.mix(0.07).filled(),
                )))
                .map_err(err)?;
        } else {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(f.start, y.0), (f.start, y.1)],
                    FAULT_INK.mix(0.5).stroke_width(1),
                )))
                .map_err(err)?;
        }
    }
    Ok(chart)
}

/// A lane: a strip under or over the panels with the same time axis, `rows` rows high, its
/// rows labelled in the axis column.
pub fn lane<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    x_max: f64,
    labels: &[String],
) -> Result<Chart2d<'a, DB>, String> {
    let rows = labels.len().max(1);
    let chart = ChartBuilder::on(area)
        .margin_left(MARGIN)
        .margin_right(MARGIN)
        .margin_top(3)
        .margin_bottom(3)
        .y_label_area_size(Y_LABEL_W)
        .build_cartesian_2d(0.0..x_max, 0.0..rows as f64)
        .map_err(err)?;
    chart.plotting_area().fill(&LANE_BG).map_err(err)?;
    let style = (FONT, 13)
        .into_font()
        .color(&FAULT_INK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    // Text on the area is placed relative to the area's corner; the chart maps to the page's.
    let (_, top) = area.get_base_pixel();
    for (r, label) in labels.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
        let (_, y) = chart.backend_coord(&(0.0, row_y(rows, r)));
        area.draw_text(
            &fit(label, 13, Y_LABEL_W - 12),
            &style,
            (PLOT_X0 - 6, y - top),
        )
        .map_err(err)?;
    }
    Ok(chart)
}

/// The middle of row `r` of a lane of `rows` rows, the first row at the top.
pub fn row_y(rows: usize, r: usize) -> f64 {
    rows as f64 - r as f64 - 0.5
}

/// Row height of the fault lane, in pixels.
const FAULT_ROW_H: u32 = 18;
/// At most this many rows of fault labels; more faults share the last row.
const FAULT_ROWS_MAX: usize = 8;

/// Where each fault's label goes in a fault lane whose plot is `plot_w` pixels wide: its row and
/// the pixel (from the plot's left edge) its text starts at. A label starts at its fault's
/// start, or ends at the plot's right edge if it would pass it, and takes the first row where
/// neither it nor its window overlaps an earlier fault's.
pub fn fault_lane_layout(faults: &[Fault], x_max: f64, plot_w: u32) -> Vec<(usize, i32)> {
    let width = f64::from(plot_w);
    let px = |t: f64| (t / x_max * width).round() as i32;
    let mut row_end: Vec<i32> = Vec::new();
    faults
        .iter()
        .map(|f| {
            let start = px(f.start);
            let end = px(f.end.unwrap_or(f.start).min(x_max));
            let w = text_width(&f.label, 13) as i32;
            let text_x = (start + 4).min(width as i32 - w).max(0);
            let (lo, hi) = (start.min(text_x), end.max(text_x + w) + 10);
            let row = row_end
                .iter()
                .position(|&e| e <= lo)
                .unwrap_or(row_end.len())
                .min(FAULT_ROWS_MAX - 1);
            if row == row_end.len() {
                row_end.push(hi);
            } else {
                row_end[row] = row_end[row].max(hi);
            }
            (row, text_x)
        })
        .collect()
}

/// The fault lane's rows: those its labels take, and at least two, so that its legend (two
/// lines) fits beside it.
fn fault_lane_rows(faults: &[Fault], x_max: f64, plot_w: u32) -> usize {
    let rows = fault_lane_layout(faults, x_max, plot_w)
        .iter()
        .map(|&(r, _)| r + 1)
        .max()
        .unwrap_or(0);
    if rows == 0 {
        0
    } else {
        rows.max(2)
    }
}

/// The height of a fault lane for `faults` whose plot is `plot_w` pixels wide, or 0 when there
/// are none.
pub fn fault_lane_height(faults: &[Fault], x_max: f64, plot_w: u32) -> u32 {
    match fault_lane_rows(faults, x_max, plot_w) {
        0 => 0,
        rows => rows as u32 * FAULT_ROW_H + 6,
    }
}

/// The fault lane with its legend.
pub fn fault_lane<DB: DrawingBackend>(
    area: &Area<DB>,
    legend: &Area<DB>,
    faults: &[Fault],
    x_max: f64,
) -> Result<(), String> {
    fault_lane_plot(area, faults, x_max)?;
    draw_legend(legend, &[fault_legend()])
}

/// The fault lane's legend entry.
pub fn fault_legend() -> Entry {
    Entry::new(
        Glyph::Shade,
        "faults: shaded while in force, a line where instant",
    )
}

/// The fault lane without its legend: each fault's window as a bar (a tick if instant) with its
/// label, in rows that keep labels apart.
pub fn fault_lane_plot<DB: DrawingBackend>(
    area: &Area<DB>,
    faults: &[Fault],
    x_max: f64,
) -> Result<(), String> {
    let plot_w = plot_width(area.dim_in_pixel().0);
    let layout = fault_lane_layout(faults, x_max, plot_w);
    let rows = fault_lane_rows(faults, x_max, plot_w).max(1);
    let labels: Vec<String> = (0..rows)
        .map(|r| {
            if r == 0 {
                "faults".into()
            } else {
                String::new()
            }
        })
        .collect();
    let mut chart = lane(area, x_max, &labels)?;
    let per_px = x_max / f64::from(plot_w);
    for (f, &(row, text_x)) in faults.iter().zip(&layout) {
        let y = row_y(rows, row);
        let end = f.end.unwrap_or(f.start).min(x_max);
        if end > f.start {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(f.start, y - 0.45), (end, y + 0.45)],
                    BLACK.mix(0.10).filled(),
                )))
                .map_err(err)?;
        } else {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(f.start, y - 0.45), (f.start, y + 0.45)],
                    FAULT_INK.stroke_width(2),
                )))
                .map_err(err)?;
        }
        let style = (FONT, 13)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(std::iter::once(Text::new(
                f.label.clone(),
                (f64::from(text_x) * per_px, y),
                style,
            )))
            .map_err(err)?;
    }
    Ok(())
}

/// What a legend entry shows beside its text.
#[derive(Clone, Copy)]
pub enum Glyph {
    Line(RGBColor, u32),
    /// A line inside a translucent band: a dense series' mean and its min/max envelope.
    Band(RGBColor),
    Swatch(RGBColor),
    Mark(Mark, RGBColor),
    Shade,
    None,
}

pub struct Entry {
    pub glyph: Glyph,
    pub text: String,
}

impl Entry {
    pub fn new(glyph: Glyph, text: impl Into<String>) -> Entry {
        Entry {
            glyph,
            text: text.into(),
        }
    }
}

const LEGEND_ROW_H: i32 = 19;
/// A wrapped line of an entry's text under its first.
const LEGEND_LINE_H: i32 = 16;
const LEGEND_FONT: u32 = 13;
const LEGEND_TEXT_W: u32 = LEGEND_W - 48;

/// `text` broken at spaces into lines of at most `width` pixels at `size` (a word longer than
/// a line is cut).
pub fn wrap(text: &str, size: u32, width: u32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let joined = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if line.is_empty() || text_width(&joined, size) <= width {
            line = joined;
        } else {
            lines.push(fit(&std::mem::take(&mut line), size, width));
            line = word.to_string();
        }
    }
    lines.push(fit(&line, size, width));
    lines
}

/// Draws a legend into its own area, one entry after another from the top, long texts
/// wrapped; entries that do not fit are counted in a last line.
pub fn draw_legend<DB: DrawingBackend>(area: &Area<DB>, entries: &[Entry]) -> Result<(), String> {
    let (_, h) = area.dim_in_pixel();
    let bottom = h as i32 - 8;
    let style = (FONT, LEGEND_FONT)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 18;
    for (k, e) in entries.iter().enumerate() {
        let lines = wrap(&e.text, LEGEND_FONT, LEGEND_TEXT_W);
        let height = (lines.len() as i32 - 1) * LEGEND_LINE_H;
        let more_after = k + 1 < entries.len();
        // Keep a line for "and N more" unless this is the last entry.
        if y + height > bottom || (more_after && y + height + LEGEND_ROW_H > bottom) {
            let more = format!("… and {} more", entries.len() - k);
            area.draw_text(&more, &style, (40, y)).map_err(err)?;
            return Ok(());
        }
        draw_glyph(area, e.glyph, (8, y))?;
        for (i, line) in lines.iter().enumerate() {
            area.draw_text(line, &style, (40, y + i as i32 * LEGEND_LINE_H))
                .map_err(err)?;
        }
        y += height + LEGEND_ROW_H;
    }
    Ok(())
}

/// A legend glyph, 26 pixels wide, its left middle at `at`.
fn draw_glyph<DB: DrawingBackend>(
    area: &Area<DB>,
    glyph: Glyph,
    at: (i32, i32),
) -> Result<(), String> {
    let (x, y) = at;
    match glyph {
        Glyph::Line(c, w) => area
            .draw(&Rectangle::new(
                [
                    (x, y - (w as i32 / 2).max(1)),
                    (x + 26, y + (w as i32 / 2).max(1)),
                ],
                c.filled(),
            ))
            .map_err(err),
        Glyph::Band(c) => {
            area.draw(&Rectangle::new(
                [(x, y - 7), (x + 26, y + 7)],
                c.mix(0.25).filled(),
            ))
            .map_err(err)?;
            area.draw(&Rectangle::new([(x, y - 1), (x + 26, y + 1)], c.filled()))
                .map_err(err)
        }
        Glyph::Swatch(c) => area
            .draw(&Rectangle::new(
                [(x + 4, y - 7), (x + 22, y + 7)],
                c.filled(),
            ))
            .map_err(err),
        Glyph::Shade => area
            .draw(&Rectangle::new(
                [(x, y - 8), (x + 26, y + 8)],
                BLACK.mix(0.10).filled(),
            ))
            .map_err(err),
        Glyph::Mark(m, c) => draw_mark(area, m, (x + 13, y), c),
        Glyph::None => Ok(()),
    }
}

/// A sync milestone's marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Started,
    Online,
    Partial,
    Aborted,
}

/// Draws marker `m` on `area` at pixel `at` (relative to the area's corner).
pub fn draw_mark<DB: DrawingBackend>(
    area: &Area<DB>,
    m: Mark,
    at: (i32, i32),
    c: RGBColor,
) -> Result<(), String> {
    let e = EmptyElement::at(at);
    match m {
        Mark::Started => area.draw(&(e + TriangleMarker::new((0, 0), 7, c.filled()))),
        Mark::Online => area.draw(&(e + Circle::new((0, 0), 5, c.filled()))),
        Mark::Partial => {
            area.draw(&(e + Polygon::new(vec![(0, -6), (6, 0), (0, 6), (-6, 0)], c.filled())))
        }
        Mark::Aborted => area.draw(&(e + Cross::new((0, 0), 5, c.stroke_width(3)))),
    }
    .map_err(err)
}

/// `v` moved into `lo..=hi`.
fn clamp(v: f64, lo: f64, hi: f64) -> f64 {
    v.max(lo).min(hi)
}

/// The chart's ranges, for clamping.
fn ranges<DB: DrawingBackend>(chart: &Chart2d<'_, DB>) -> ((f64, f64), (f64, f64)) {
    let x = chart.x_range();
    let y = chart.y_range();
    ((x.start, x.end), (y.start, y.end))
}

/// Draws a polyline inside the plot area: its points clamped to the axes' ranges, and cut into
/// separate paths wherever it turns back by more than a right angle. A thick path is drawn
/// as one polygon whose corners are where its offset edges meet; at a sharp turn they meet far
/// from the line, which drew spikes across the chart from noisy series.
pub fn draw_line<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    pts: &[(f64, f64)],
    color: RGBColor,
    width: u32,
) -> Result<(), String> {
    let ((x0, x1), (y0, y1)) = ranges(chart);
    let pts: Vec<(f64, f64)> = pts
        .iter()
        .map(|&(x, y)| (clamp(x, x0, x1), clamp(y, y0, y1)))
        .collect();
    let px: Vec<(i32, i32)> = pts.iter().map(|p| chart.backend_coord(p)).collect();
    let style = color.stroke_width(width);
    let mut start = 0;
    let mut last_dir: Option<(i64, i64)> = None;
    for k in 1..pts.len() {
        let d = (
            i64::from(px[k].0 - px[k - 1].0),
            i64::from(px[k].1 - px[k - 1].1),
        );
        if d == (0, 0) {
            continue;
        }
        if let Some(prev) = last_dir {
            if prev.0 * d.0 + prev.1 * d.1 < 0 {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        pts[start..k].to_vec(),
                        style,
                    )))
                    .map_err(err)?;
                start = k - 1;
            }
        }
        last_dir = Some(d);
    }
    if pts.len() >= start + 2 {
        chart
            .draw_series(std::iter::once(PathElement::new(
                pts[start..].to_vec(),
                style,
            )))
            .map_err(err)?;
    }
    Ok(())
}

/// The width of a column of a dense series, in pixels. A series of about a sample per pixel
/// that flips between two values from sample to sample (a replica one write behind, then
/// caught up) is then drawn as the band between them, not as a comb of one-pixel spikes.
const COLUMN_PX: usize = 3;

/// Draws a sampled series with gaps: each segment as a line where its points are sparse (at
/// most one per column of `COLUMN_PX` pixels), or as the min/max envelope of each column (a
/// translucent band) with a line through the columns' means where they are dense. Returns the glyph its legend entry shows: a band if
/// any part was dense.
pub fn draw_series<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    t: &[f64],
    ys: &[Option<f64>],
    color: RGBColor,
    width: u32,
) -> Result<Glyph, String> {
    let mut glyph = Glyph::Line(color, width.clamp(2, 4));
    let ((x0, x1), (y0, y1)) = ranges(chart);
    let columns = (chart.plotting_area().get_pixel_range().0.len() / COLUMN_PX).max(1);
    for seg in segments(t, ys) {
        match shape(&seg, x0, x1, columns) {
            Shape::Points(pts) => draw_line(chart, &pts, color, width)?,
            Shape::Columns(cols) => {
                let mut outline: Vec<(f64, f64)> =
                    cols.iter().map(|c| (c.x, clamp(c.max, y0, y1))).collect();
                outline.extend(cols.iter().rev().map(|c| (c.x, clamp(c.min, y0, y1))));
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        outline,
                        color.mix(0.25).filled(),
                    )))
                    .map_err(err)?;
                let means: Vec<(f64, f64)> = cols.iter().map(|c| (c.x, c.mean)).collect();
                draw_line(chart, &means, color, width.min(3))?;
                glyph = Glyph::Band(color);
            }
        }
    }
    Ok(glyph)
}

/// Draws a step series (a limit that CONFIG SET may change): horizontal at each value until the
/// sample where it changes, then vertical to the next. Runs above the axis are left out (the
/// legend gives the value), never drawn at the edge as if that were the value.
pub fn draw_steps<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    t: &[f64],
    ys: &[Option<f64>],
    color: RGBColor,
    width: u32,
) -> Result<(), String> {
    let (_, (y0, y1)) = ranges(chart);
    let mut path: Vec<(f64, f64)> = Vec::new();
    let flush = |chart: &mut Chart2d<'_, DB>, path: &mut Vec<(f64, f64)>| {
        if path.len() >= 2 {
            draw_line(chart, path, color, width)?;
        }
        path.clear();
        Ok::<(), String>(())
    };
    for (start, end, v) in steps(t, ys) {
        if v < y0 || v > y1 {
            flush(chart, &mut path)?;
            continue;
        }
        if path.last().is_none_or(|&(x, _)| x != start) {
            flush(chart, &mut path)?;
        }
        path.push((start, v));
        path.push((end, v));
    }
    flush(chart, &mut path)
}
