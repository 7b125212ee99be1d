//! Charts from a report: lag, backlog and output buffers, availability. Pure functions from the
//! report's `timeline` to PNG and SVG bytes; no simulation inside, no file written here.
//!
//! Text is drawn with DejaVu Sans embedded in the binary (assets/fonts, Bitstream Vera licence),
//! so charts render the same on a machine with no fonts installed.

use std::io::Cursor;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::Report;
use crate::sim::observe::Milestone;

pub const WIDTH: u32 = 1400;
pub const HEIGHT: u32 = 860;
const FONT: &str = "sans-serif";

static FONT_ONCE: Once = Once::new();

/// Registers the bundled font with plotters, once per process, before anything draws text.
pub fn register_font() {
    FONT_ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        for style in [
            FontStyle::Normal,
            FontStyle::Bold,
            FontStyle::Italic,
            FontStyle::Oblique,
        ] {
            // The bundled font is a valid TrueType file; failing here would be a packaging bug.
            plotters::style::register_font(FONT, style, bytes)
                .unwrap_or_else(|_| panic!("the bundled font does not load"));
        }
    });
}

/// One chart in both formats.
pub struct Chart {
    pub name: &'static str,
    pub png: Vec<u8>,
    pub svg: String,
}

/// Draws every chart of a report.
pub fn charts(report: &Report) -> Result<Vec<Chart>, String> {
    register_font();
    let data = Data::from_report(report)?;
    ["lag", "backlog", "availability"]
        .into_iter()
        .map(|name| render(name, &data))
        .collect()
}

/// Draws chart `name` twice: into a PNG pixel buffer and into an SVG string.
fn render(name: &'static str, data: &Data) -> Result<Chart, String> {
    let mut buf = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        draw_named(name, &root, data)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let img =
        image::RgbImage::from_raw(WIDTH, HEIGHT, buf).ok_or("pixel buffer of the wrong size")?;
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageOutputFormat::Png)
        .map_err(|e| e.to_string())?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw_named(name, &root, data)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(Chart { name, png, svg })
}

fn draw_named<DB: DrawingBackend>(
    name: &str,
    root: &DrawingArea<DB, Shift>,
    data: &Data,
) -> Result<(), String> {
    match name {
        "lag" => lag_chart(root, data),
        "backlog" => backlog_chart(root, data),
        _ => availability_chart(root, data),
    }
}

/// What the charts need, read out of the report once.
struct Data {
    title: String,
    t: Vec<f64>,
    duration_s: f64,
    nodes: Vec<NodeSeries>,
    workloads: Vec<WorkloadSeries>,
    milestones: Vec<(f64, String, String)>,
    faults: Vec<(String, String, f64, Option<f64>)>,
}

struct NodeSeries {
    name: String,
    lag_bytes: Vec<Option<f64>>,
    lag_seconds: Vec<Option<f64>>,
    histlen: Vec<f64>,
    was_master: bool,
    backlog_size: f64,
    hard: f64,
    soft: f64,
    obuf: Vec<(String, Vec<Option<f64>>)>,
}

struct WorkloadSeries {
    writes: Vec<f64>,
    ok: Vec<f64>,
    timeouts: Vec<f64>,
    errors: Vec<(String, Vec<f64>)>,
}

/// A series as chart coordinates.
fn floats(v: &[u64]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// A series with gaps as chart coordinates.
fn gappy(v: &[Option<u64>]) -> Vec<Option<f64>> {
    v.iter().map(|x| x.map(|x| x as f64)).collect()
}

impl Data {
    fn from_report(r: &Report) -> Result<Data, String> {
        let tl = &r.timeline;
        let t: Vec<f64> = tl.t_ms.iter().map(|x| x / 1000.0).collect();
        if t.is_empty() {
            return Err("the report's timeline has no samples".into());
        }
        let nodes = tl
            .nodes
            .iter()
            .map(|(name, n)| NodeSeries {
                name: name.clone(),
                lag_bytes: gappy(&n.lag_bytes),
                lag_seconds: n.lag_seconds.clone(),
                histlen: floats(&n.backlog_histlen),
                was_master: n.master.iter().any(|&m| m),
                backlog_size: n.repl_backlog_size as f64,
                hard: n.obuf_hard_limit as f64,
                soft: n.obuf_soft_limit as f64,
                obuf: n
                    .replica_obuf
                    .iter()
                    .map(|(replica, v)| (replica.clone(), gappy(v)))
                    .collect(),
            })
            .collect();
        let workloads = tl
            .workloads
            .values()
            .map(|w| WorkloadSeries {
                writes: floats(&w.writes),
                ok: floats(&w.writes_ok),
                timeouts: floats(&w.timeouts),
                errors: w
                    .errors
                    .iter()
                    .map(|(kind, v)| (kind.clone(), floats(v)))
                    .collect(),
            })
            .collect();
        let milestones = tl
            .milestones
            .iter()
            .map(|m| (m.t_ms / 1000.0, m.node.clone(), m.what.clone()))
            .collect();
        let faults = tl
            .faults
            .iter()
            .map(|f| {
                (
                    f.kind.clone(),
                    f.label.clone(),
                    f.start_ms / 1000.0,
                    f.end_ms.map(|e| e / 1000.0),
                )
            })
            .collect();
        Ok(Data {
            title: r.scenario.clone(),
            duration_s: tl.duration_ms / 1000.0,
            t,
            nodes,
            workloads,
            milestones,
            faults,
        })
    }

    fn x_max(&self) -> f64 {
        self.duration_s
            .max(*self.t.last().unwrap_or(&1.0))
            .max(1e-3)
    }
}

/// 1536 → "1.5 KB".
pub fn human_bytes(v: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut x = v;
    let mut u = 0;
    while x.abs() >= 1024.0 && u < units.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 || x.abs() >= 100.0 {
        format!("{x:.0} {}", units[u])
    } else {
        format!("{x:.1} {}", units[u])
    }
}

/// The binary unit a byte axis reading up to `max` is drawn in, so its ticks are round numbers.
fn byte_unit(max: f64) -> (f64, &'static str) {
    let units = [
        (1.0, "B"),
        (1024.0, "KB"),
        (1048576.0, "MB"),
        (1073741824.0, "GB"),
    ];
    units
        .iter()
        .rev()
        .find(|(d, _)| max / d >= 2.0)
        .copied()
        .unwrap_or((1.0, "B"))
}

/// Divides every present value by `d`.
fn scaled(v: &[Option<f64>], d: f64) -> Vec<Option<f64>> {
    v.iter().map(|x| x.map(|x| x / d)).collect()
}

/// Line width of series `i` of `n` drawn in order: with a few series, earlier ones are wider, so
/// where series coincide (replicas all caught up, a replica's backlog equal to its master's) each
/// still shows as a band under the later ones instead of vanishing.
fn stroke(i: usize, n: usize) -> u32 {
    if n <= 4 {
        2 + 2 * (n - 1 - i.min(n - 1)) as u32
    } else {
        2
    }
}

/// A palette that stays readable on white.
fn color(i: usize) -> RGBColor {
    const P: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    P[i % P.len()]
}

fn fault_color(kind: &str) -> RGBColor {
    match kind {
        "partition" => RGBColor(230, 85, 13),
        "pause" => RGBColor(204, 170, 0),
        "crash" => RGBColor(90, 90, 90),
        _ => RGBColor(120, 120, 200),
    }
}

/// Segments of consecutive present points, so gaps (no master, node down) are not bridged.
fn segments(t: &[f64], ys: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for (x, y) in t.iter().zip(ys) {
        match y {
            Some(y) => cur.push((*x, *y)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

type Chart2d<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Shaded fault windows with labels, and lines for instant faults.
fn draw_faults<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    data: &Data,
    y_max: f64,
) -> Result<(), String> {
    let x_max = data.x_max();
    for (label_row, (kind, label, start, end)) in data.faults.iter().enumerate() {
        let c = fault_color(kind);
        let end = end.unwrap_or(x_max).min(x_max);
        if end > *start {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(*start, 0.0), (end, y_max)],
                    c.mix(0.12).filled(),
                )))
                .map_err(err)?;
        } else {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(*start, 0.0), (*start, y_max)],
                    c.mix(0.6).stroke_width(1),
                )))
                .map_err(err)?;
        }
        // Stagger labels so neighbouring faults do not overprint each other.
        let y = y_max * (0.97 - 0.06 * (label_row % 4) as f64);
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                (*start + x_max * 0.003, y),
                (FONT, 14).into_font().color(&c),
            )))
            .map_err(err)?;
    }
    Ok(())
}

/// A time-axis panel: axes from 0 to `x_max` and `y_max`, the mesh with `y_desc`, and the fault
/// bands behind everything drawn later.
fn panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    d: &Data,
    y_max: f64,
    y_desc: &str,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Result<Chart2d<'a, DB>, String> {
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(95)
        .build_cartesian_2d(0.0..d.x_max(), 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc(y_desc)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(y_fmt)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    draw_faults(&mut chart, d, y_max)?;
    Ok(chart)
}

fn one_decimal(v: &f64) -> String {
    format!("{v:.1}")
}

fn caption<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
) -> Result<DrawingArea<DB, Shift>, String> {
    root.fill(&WHITE).map_err(err)?;
    root.titled(text, (FONT, 26).into_font()).map_err(err)
}

/// The milestones the lag chart marks, in the order of `SyncMark::kind`.
const SYNC_KINDS: [Milestone; 4] = [
    Milestone::FullSyncStarted,
    Milestone::FullSyncFinished,
    Milestone::PartialSync,
    Milestone::FullSyncAborted,
];

/// A sync milestone drawn on the lag chart: when, whose (index among the charted replicas),
/// which kind (0 started, 1 finished, 2 partial resync, 3 aborted), and its stacking level.
struct SyncMark {
    t: f64,
    replica: usize,
    kind: usize,
    level: usize,
}

/// The lag chart's sync markers. A marker takes the lowest level (up to 5) not taken by an
/// earlier marker of its row (starts, or the rest) within 0.8% of the time axis, so simultaneous
/// syncs of several replicas all show.
fn sync_marks(d: &Data, replicas: &[&NodeSeries]) -> Vec<SyncMark> {
    let near = d.x_max() * 0.008;
    let mut marks: Vec<SyncMark> = Vec::new();
    for (t, node, what) in &d.milestones {
        let Some(replica) = replicas.iter().position(|n| n.name == *node) else {
            continue;
        };
        let Some(kind) = SYNC_KINDS.iter().position(|k| k.name() == what) else {
            continue;
        };
        let taken: Vec<usize> = marks
            .iter()
            .filter(|m| (m.kind == 0) == (kind == 0) && (m.t - t).abs() < near)
            .map(|m| m.level)
            .collect();
        let level = (0..5).find(|l| !taken.contains(l)).unwrap_or(5);
        marks.push(SyncMark {
            t: *t,
            replica,
            kind,
            level,
        });
    }
    marks
}

fn lag_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &Data) -> Result<(), String> {
    let body = caption(root, &format!("{}: replication lag", d.title))?;
    let (top, bottom) = body.split_vertically((HEIGHT - 40) / 2);
    let replicas: Vec<&NodeSeries> = d
        .nodes
        .iter()
        .filter(|n| n.lag_bytes.iter().any(Option::is_some))
        .collect();
    for (area, seconds) in [(&top, false), (&bottom, true)] {
        let raw_max = replicas
            .iter()
            .flat_map(|n| {
                if seconds {
                    n.lag_seconds.clone()
                } else {
                    n.lag_bytes.clone()
                }
            })
            .flatten()
            .fold(0.0f64, f64::max);
        let (div, unit) = if seconds {
            (1.0, "s")
        } else {
            byte_unit(raw_max)
        };
        let series = |n: &NodeSeries| {
            if seconds {
                n.lag_seconds.clone()
            } else {
                scaled(&n.lag_bytes, div)
            }
        };
        let y_max = (raw_max / div).max(1.0) * 1.25;
        let desc = if seconds {
            "lag (seconds behind master)".to_string()
        } else {
            format!("lag ({unit} behind master)")
        };
        let mut chart = panel(area, d, y_max, &desc, &one_decimal)?;
        for (i, n) in replicas.iter().enumerate() {
            let c = color(i);
            for (k, seg) in segments(&d.t, &series(n)).into_iter().enumerate() {
                let s = chart
                    .draw_series(LineSeries::new(
                        seg,
                        c.stroke_width(stroke(i, replicas.len())),
                    ))
                    .map_err(err)?;
                if k == 0 && i < 12 {
                    s.label(n.name.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3))
                    });
                }
            }
        }
        // Sync markers on two rows near the bottom of the panel, coloured by replica: starts on the
        // upper row, so that a sync that finishes quickly does not hide its start. Markers of
        // different replicas at about the same time stack upwards instead of hiding each other.
        let marks = sync_marks(d, &replicas);
        let step = y_max * 0.045;
        let end_levels = marks
            .iter()
            .filter(|m| m.kind != 0)
            .map(|m| m.level)
            .max()
            .unwrap_or(0);
        let (row, start_row) = (
            y_max * 0.04,
            y_max * 0.04 + step * (end_levels + 1) as f64 + y_max * 0.025,
        );
        let mut legend_done = [false; 4];
        for m in &marks {
            let (kind, c) = (m.kind, color(m.replica));
            let style = c.filled();
            let p = (
                m.t,
                if kind == 0 { start_row } else { row } + step * m.level as f64,
            );
            let s = match kind {
                0 => chart
                    .draw_series(std::iter::once(TriangleMarker::new(p, 9, style)))
                    .map_err(err)?,
                1 => chart
                    .draw_series(std::iter::once(Cross::new(p, 8, c.stroke_width(3))))
                    .map_err(err)?,
                3 => chart
                    .draw_series(std::iter::once(Cross::new(
                        p,
                        9,
                        RGBColor(200, 0, 0).stroke_width(3),
                    )))
                    .map_err(err)?,
                _ => chart
                    .draw_series(std::iter::once(Circle::new(p, 6, style)))
                    .map_err(err)?,
            };
            if !seconds && !legend_done[kind] {
                legend_done[kind] = true;
                let name = [
                    "full sync started",
                    "full sync finished (online)",
                    "partial resync",
                    "full sync failed (dropped)",
                ][kind];
                s.label(name)
                    .legend(move |(x, y)| -> DynElement<'static, DB, (i32, i32)> {
                        match kind {
                            0 => TriangleMarker::new((x + 10, y), 7, BLACK.filled()).into_dyn(),
                            1 => Cross::new((x + 10, y), 6, BLACK.stroke_width(2)).into_dyn(),
                            3 => Cross::new((x + 10, y), 6, RGBColor(200, 0, 0).stroke_width(3))
                                .into_dyn(),
                            _ => Circle::new((x + 10, y), 5, BLACK.filled()).into_dyn(),
                        }
                    });
            }
        }
        if !seconds {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font((FONT, 15))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()
                .map_err(err)?;
        }
    }
    Ok(())
}

fn backlog_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Data,
) -> Result<(), String> {
    let body = caption(
        root,
        &format!("{}: backlog and replica output buffers", d.title),
    )?;
    let (top, bottom) = body.split_vertically((HEIGHT - 40) / 2);
    let x_max = d.x_max();
    let masters: Vec<&NodeSeries> = d
        .nodes
        .iter()
        .filter(|n| n.histlen.iter().any(|&h| h > 0.0))
        .collect();
    // Top: repl_backlog_histlen against repl-backlog-size.
    let raw_max = masters
        .iter()
        .flat_map(|n| {
            n.histlen
                .iter()
                .copied()
                .chain(std::iter::once(n.backlog_size))
        })
        .fold(1024.0f64, f64::max);
    let (div, unit) = byte_unit(raw_max);
    let y_max = raw_max / div * 1.2;
    let mut chart = panel(
        &top,
        d,
        y_max,
        &format!("repl_backlog_histlen ({unit})"),
        &one_decimal,
    )?;
    for (i, n) in masters.iter().enumerate() {
        let c = color(i);
        let pts: Vec<(f64, f64)> =
            d.t.iter()
                .copied()
                .zip(n.histlen.iter().map(|h| h / div))
                .collect();
        chart
            .draw_series(LineSeries::new(
                pts,
                c.stroke_width(stroke(i, masters.len())),
            ))
            .map_err(err)?
            .label(format!("{} backlog", n.name))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3)));
        if n.was_master && n.backlog_size > 0.0 {
            let b = n.backlog_size / div;
            let dash =
                DashedLineSeries::new(vec![(0.0, b), (x_max, b)], 8, 6, c.mix(0.7).stroke_width(2));
            chart
                .draw_series(dash)
                .map_err(err)?
                .label(format!(
                    "{} repl-backlog-size {}",
                    n.name,
                    human_bytes(n.backlog_size)
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], c.mix(0.7).stroke_width(1))
                });
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(err)?;

    // Bottom: each replica's output buffer on its master, against the limits.
    let buffers: Vec<(&NodeSeries, &String, &Vec<Option<f64>>)> = d
        .nodes
        .iter()
        .flat_map(|m| m.obuf.iter().map(move |(r, v)| (m, r, v)))
        .collect();
    let data_max = buffers
        .iter()
        .flat_map(|(_, _, v)| v.iter().flatten().copied())
        .fold(1024.0f64, f64::max);
    let limit_max = buffers
        .iter()
        .flat_map(|(m, _, _)| [m.hard, m.soft])
        .filter(|&l| l > 0.0 && l < data_max * 4.0)
        .fold(0.0f64, f64::max);
    let (div, unit) = byte_unit(data_max.max(limit_max));
    let y_max = data_max.max(limit_max) / div * 1.2;
    let mut chart = panel(
        &bottom,
        d,
        y_max,
        &format!("replica output buffer on master ({unit})"),
        &one_decimal,
    )?;
    let mut drawn_limits = Vec::new();
    for (i, (m, r, v)) in buffers.iter().enumerate() {
        let c = color(i);
        for (k, seg) in segments(&d.t, &scaled(v, div)).into_iter().enumerate() {
            let s = chart
                .draw_series(LineSeries::new(
                    seg,
                    c.stroke_width(stroke(i, buffers.len())),
                ))
                .map_err(err)?;
            if k == 0 && i < 12 {
                s.label(format!("{r} (on {})", m.name))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3))
                    });
            }
        }
        for (lim_bytes, what) in [(m.hard, "hard limit"), (m.soft, "soft limit")] {
            let lim = lim_bytes / div;
            if lim_bytes > 0.0 && lim <= y_max && !drawn_limits.contains(&(lim_bytes as u64)) {
                drawn_limits.push(lim_bytes as u64);
                let red = RGBColor(200, 0, 0);
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(0.0, lim), (x_max, lim)],
                        10,
                        6,
                        red.mix(if what == "hard limit" { 0.9 } else { 0.5 })
                            .stroke_width(2),
                    ))
                    .map_err(err)?;
                // The label sits just above its line.
                let label = format!(
                    "client-output-buffer-limit {what} {}",
                    human_bytes(lim_bytes)
                );
                chart
                    .draw_series(std::iter::once(Text::new(
                        label,
                        (x_max * 0.01, lim + y_max * 0.07),
                        (FONT, 14).into_font().color(&red),
                    )))
                    .map_err(err)?;
            }
        }
    }
    if !buffers.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// Per-second rates from cumulative counters, each over the trailing second (or sample
/// interval, if longer), so sampling granularity does not show as noise.
fn rates(t: &[f64], cum: &[f64]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(t.len());
    let mut j = 0;
    for i in 1..t.len().min(cum.len()) {
        while j + 1 < i && t[i] - t[j + 1] >= 1.0 {
            j += 1;
        }
        if t[i] > t[j] {
            out.push((t[i], (cum[i] - cum[j]) / (t[i] - t[j])));
        }
    }
    out
}

fn availability_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Data,
) -> Result<(), String> {
    let body = caption(root, &format!("{}: writes accepted and refused", d.title))?;
    let n = d.t.len();
    let sum = |f: &dyn Fn(&WorkloadSeries) -> &Vec<f64>| -> Vec<f64> {
        (0..n)
            .map(|k| {
                d.workloads
                    .iter()
                    .map(|w| f(w).get(k).copied().unwrap_or(0.0))
                    .sum()
            })
            .collect()
    };
    let ok = rates(&d.t, &sum(&|w| &w.ok));
    let timeouts = rates(&d.t, &sum(&|w| &w.timeouts));
    let mut kinds: Vec<String> = d
        .workloads
        .iter()
        .flat_map(|w| w.errors.iter().map(|(k, _)| k.clone()))
        .collect();
    kinds.sort();
    kinds.dedup();
    let refused: Vec<(String, Vec<(f64, f64)>)> = kinds
        .iter()
        .map(|k| {
            let cum: Vec<f64> = (0..n)
                .map(|i| {
                    d.workloads
                        .iter()
                        .filter_map(|w| w.errors.iter().find(|(kk, _)| kk == k))
                        .map(|(_, v)| v.get(i).copied().unwrap_or(0.0))
                        .sum()
                })
                .collect();
            (k.clone(), rates(&d.t, &cum))
        })
        .collect();
    let writes = rates(&d.t, &sum(&|w| &w.writes));
    let y_max = writes.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.25;
    let mut chart = panel(&body, d, y_max, "writes per second", &|v| format!("{v:.0}"))?;
    let green = RGBColor(44, 160, 44);
    chart
        .draw_series(LineSeries::new(ok, green.stroke_width(3)))
        .map_err(err)?
        .label("accepted")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], green.stroke_width(3)));
    for (i, (k, pts)) in refused.into_iter().enumerate() {
        let c = [
            RGBColor(214, 39, 40),
            RGBColor(148, 103, 189),
            RGBColor(255, 127, 14),
            RGBColor(140, 86, 75),
        ][i % 4];
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(3)))
            .map_err(err)?
            .label(format!("refused: {k}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3)));
    }
    if timeouts.iter().any(|p| p.1 > 0.0) {
        let gray = RGBColor(90, 90, 90);
        chart
            .draw_series(LineSeries::new(timeouts, gray.stroke_width(2)))
            .map_err(err)?
            .label("timed out")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], gray.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let sc = crate::scenario::parse(
            "t.toml",
            "name = \"t\"\nduration = \"20s\"\n[[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
             [[workload]]\ntarget = \"m\"\nrate = 100\n[[fault]]\nat = \"8s\"\nkind = \"partition\"\ngroups = [[\"r\"]]\nduration = \"4s\"\n",
        )
        .unwrap();
        let out = crate::sim::run(sc, 1, u64::MAX, None, &mut |_, _| {});
        crate::report::build(&out)
    }

    /// The text nodes of an SVG, trimmed.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                Some(
                    t.split_once('>')?
                        .1
                        .split_once("</text>")?
                        .0
                        .trim()
                        .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn charts_render_as_png_and_svg_with_their_series() {
        let charts = charts(&report()).unwrap();
        let names: Vec<&str> = charts.iter().map(|c| c.name).collect();
        assert_eq!(names, ["lag", "backlog", "availability"]);
        for c in &charts {
            assert_eq!(&c.png[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", c.name);
            let img = image::load_from_memory(&c.png).unwrap();
            assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT));
            assert!(
                c.svg.starts_with("<svg") && c.svg.contains(&format!("width=\"{WIDTH}\"")),
                "{} is an SVG",
                c.name
            );
        }
        let lag = texts(&charts[0].svg);
        for want in [
            "t: replication lag",
            "r",
            "partition r | m",
            "full sync started",
            "simulated time (s)",
            "lag (seconds behind master)",
        ] {
            assert!(
                lag.iter().any(|t| t == want),
                "the lag chart lacks {want:?}: {lag:?}"
            );
        }
        let backlog = texts(&charts[1].svg);
        assert!(
            backlog.iter().any(|t| t.starts_with("m repl-backlog-size")),
            "{backlog:?}"
        );
        assert!(
            backlog.iter().any(|t| t == "r (on m)"),
            "the replica's output buffer is drawn: {backlog:?}"
        );
        let avail = texts(&charts[2].svg);
        assert!(
            avail.iter().any(|t| t == "accepted") && avail.iter().any(|t| t == "writes per second"),
            "{avail:?}"
        );
    }

    #[test]
    fn simultaneous_syncs_of_several_replicas_stack_instead_of_hiding() {
        let sc = crate::scenario::parse(
            "t.toml",
            "name = \"t\"\nduration = \"20s\"\n[[node]]\nname = \"m\"\n[[node]]\nname = \"a\"\nreplicaof = \"m\"\n[[node]]\nname = \"b\"\nreplicaof = \"m\"\n",
        )
        .unwrap();
        let d = Data::from_report(&crate::report::build(&crate::sim::run(
            sc,
            1,
            u64::MAX,
            None,
            &mut |_, _| {},
        )))
        .unwrap();
        let replicas: Vec<&NodeSeries> = d.nodes.iter().filter(|n| n.name != "m").collect();
        let marks = sync_marks(&d, &replicas);
        for kind in [0, 1] {
            let of_kind: Vec<&SyncMark> = marks.iter().filter(|m| m.kind == kind).collect();
            assert_eq!(
                of_kind.len(),
                2,
                "both replicas full-sync once (kind {kind})"
            );
            assert!(
                (of_kind[0].t - of_kind[1].t).abs() < 0.01,
                "at the same time"
            );
            let mut levels: Vec<usize> = of_kind.iter().map(|m| m.level).collect();
            levels.sort();
            assert_eq!(levels, [0, 1], "one above the other (kind {kind})");
        }
    }

    #[test]
    fn a_report_without_samples_is_an_error_not_a_panic() {
        let mut r = report();
        r.timeline.t_ms.clear();
        assert_eq!(
            charts(&r).err().as_deref(),
            Some("the report's timeline has no samples")
        );
    }

    #[test]
    fn earlier_series_are_drawn_wider_so_coinciding_lines_all_show() {
        assert_eq!((0..3).map(|i| stroke(i, 3)).collect::<Vec<_>>(), [6, 4, 2]);
        assert_eq!(stroke(0, 1), 2);
        assert!(
            (0..100).all(|i| stroke(i, 100) == 2),
            "many series keep one width"
        );
    }

    #[test]
    fn byte_axes_pick_round_units() {
        assert_eq!(byte_unit(200.0 * 1048576.0), (1048576.0, "MB"));
        assert_eq!(byte_unit(1500.0), (1.0, "B"));
        assert_eq!(human_bytes(1536.0), "1.5 KB");
        assert_eq!(human_bytes(256.0 * 1048576.0), "256 MB");
    }
}
