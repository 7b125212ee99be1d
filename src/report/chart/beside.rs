//! The side-by-side chart of two runs of one setup that differ in a directive (the classic
//! full sync against the dual-channel one, a buffer limit against a larger one): a column per
//! run, a row per quantity — each replica's output buffer on its master against the master's
//! limits, each replica's local buffer of the stream against its own limit, and the lag — with
//! one time axis for both columns and one y-scale across each row, so that the eye compares
//! heights and times directly. Each column keeps its own fault lane above and sync lane below.
//!
//! The series and limits are those of the backlog and lag charts (`backlog`, `lag`), taken from
//! there, not drawn again here; this file holds the layout and what differs between the runs.

use std::collections::BTreeSet;

use plotters::prelude::{DrawingBackend, RGBColor, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::IntoFont;

use super::backlog::{
    byte_scale, draw_limits, limit_series, limit_values, local_buffers, obuf_limits,
    output_buffers, Limit,
};
use super::frame::{
    self, draw_legend, draw_series, err, fit, plot_width, Area, Entry, Glyph, FONT, LEGEND_W,
    LIMIT_HARD, PLOT_X0, TITLE_H,
};
use super::lag::{self, View};
use super::series::{human_bytes, tick};
use super::{gappy, paint, register_font, Chart, Data, NodeTimeline, Page, Report};
use crate::sim::observe::Milestone;

/// The page is wider than a single run's charts: each column is about as wide as the main
/// column of a 1400-pixel chart less its legend, so both time axes stay readable.
pub const BESIDE_WIDTH: u32 = 1800;
const COLUMN_W: u32 = (BESIDE_WIDTH - LEGEND_W) / 2;
/// The row of column headings: the run's scenario and what sets it apart.
const HEAD_H: u32 = 54;
const PANEL_H: u32 = 300;

/// The row labels (y-axis descriptions, before the unit), the same in both columns.
pub const OBUF_LABEL: &str = "output buffer on the master";
pub const LOCAL_LABEL: &str = "local buffer on the replica";
pub const LAG_LABEL: &str = "lag: behind its master";
/// The lag row's label where a replica replicates from another replica in either run: the
/// bytes are counted against the top of its chain, as the lag chart counts them.
pub const LAG_TOP_LABEL: &str = "lag: behind the top of its chain";

/// Draws the side-by-side chart of `left` and `right`, named `beside`. The runs must have the
/// same replicas: a replica in one run only has nothing to be compared with.
pub fn beside(left: &Report, right: &Report) -> Result<Chart, String> {
    register_font();
    let runs = runs(left, right)?;
    let page = Beside { runs };
    let height = TITLE_H + page.heights().iter().sum::<u32>();
    paint("beside", (BESIDE_WIDTH, height), &page)
}

/// What the chart draws of one run.
pub(super) struct Run<'a> {
    pub(super) d: Data<'a>,
    /// Each replica's output buffer on a master: `(master, replica, bytes per sample)`.
    pub(super) obuf: Vec<(&'a str, &'a str, &'a [Option<u64>])>,
    obuf_limits: Vec<Limit>,
    /// Each replica's local buffer during a dual-channel sync, for those that held any.
    pub(super) local: Vec<(&'a str, Vec<Option<u64>>)>,
    /// The limit of a local buffer: its replica's own `client-output-buffer-limit replica`
    /// hard limit as configured (replication.c `bufferReplData`).
    local_limits: Vec<Limit>,
    /// The replicas, each with its bytes behind the top of its chain per sample.
    pub(super) lag: Vec<(&'a str, &'a NodeTimeline)>,
    /// What sets this run apart from the other, for its heading.
    pub(super) subtitle: String,
}

/// Both runs as the chart draws them, on one time axis.
pub(super) fn runs<'a>(left: &'a Report, right: &'a Report) -> Result<[Run<'a>; 2], String> {
    let mut a = Data::from_report(left).map_err(|e| format!("{}: {e}", left.scenario))?;
    let mut b = Data::from_report(right).map_err(|e| format!("{}: {e}", right.scenario))?;
    let x_max = a.x_max.max(b.x_max);
    (a.x_max, b.x_max) = (x_max, x_max);
    let (ra, rb) = (replica_names(&a), replica_names(&b));
    if ra != rb {
        let list = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(", ");
        return Err(format!(
            "the runs have different replicas ({}: {}; {}: {}): the chart compares each \
             replica with itself",
            left.scenario,
            list(&ra),
            right.scenario,
            list(&rb)
        ));
    }
    if ra.is_empty() {
        return Err("the runs have no replica to compare".into());
    }
    let (sa, sb) = subtitles(&a, &b);
    Ok([run(a, sa), run(b, sb)])
}

fn run(d: Data<'_>, subtitle: String) -> Run<'_> {
    let local = local_buffers(&d);
    let holders: Vec<(&str, &NodeTimeline)> = d
        .nodes
        .iter()
        .filter(|(name, _)| local.iter().any(|(l, _)| l == name))
        .copied()
        .collect();
    let local_limits = limit_series(&d, &holders, "replica's own hard limit", LIMIT_HARD, &|l| {
        (l.obuf_hard_limit_configured > 0).then_some(l.obuf_hard_limit_configured)
    });
    Run {
        obuf: output_buffers(&d),
        obuf_limits: obuf_limits(&d),
        local,
        local_limits,
        lag: lag::replicas(&d, View::Top),
        subtitle,
        d,
    }
}

/// Every node that was ever a replica: measured against a master, or holding an output buffer
/// on one.
fn replica_names<'a>(d: &Data<'a>) -> BTreeSet<&'a str> {
    lag::replicas(d, View::Top)
        .iter()
        .map(|(name, _)| *name)
        .chain(output_buffers(d).iter().map(|(_, r, _)| *r))
        .collect()
}

/// How each run's full syncs went, and the replication limits the two runs set differently:
/// the report records no directives, so the heading says what the run did and what the
/// limits were, which is what an operator compares.
fn subtitles(a: &Data, b: &Data) -> (String, String) {
    let mut parts: [Vec<String>; 2] =
        [a, b].map(|d| sync_kind(d).into_iter().map(String::from).collect());
    type Get = fn(&super::LimitsFrom) -> u64;
    let directives: [(&str, Get); 3] = [
        ("repl-backlog-size", |l| l.repl_backlog_size),
        ("client-output-buffer-limit replica hard", |l| {
            l.obuf_hard_limit_configured
        }),
        ("client-output-buffer-limit replica soft", |l| {
            l.obuf_soft_limit
        }),
    ];
    for (name, get) in directives {
        let values = |d: &Data| -> BTreeSet<u64> {
            d.nodes
                .iter()
                .filter_map(|(_, n)| n.limits.first().map(get))
                .collect()
        };
        let (va, vb) = (values(a), values(b));
        if va != vb {
            for (side, v) in [(0, va), (1, vb)] {
                let text: Vec<String> = v.iter().map(|&x| human_bytes(x as f64)).collect();
                parts[side].push(format!("{name} {}", text.join(" and ")));
            }
        }
    }
    let [pa, pb] = parts;
    (pa.join("; "), pb.join("; "))
}

/// How the run's full syncs carried the stream, if it had any.
fn sync_kind(d: &Data) -> Option<&'static str> {
    let started = Milestone::FullSyncStarted.name();
    if !local_buffers(d).is_empty() {
        Some("dual-channel sync: the RDB on a second connection")
    } else if d
        .report
        .timeline
        .milestones
        .iter()
        .any(|m| m.what == started)
    {
        Some("classic sync: the RDB and the stream on one connection")
    } else {
        None
    }
}

struct Beside<'a> {
    runs: [Run<'a>; 2],
}

impl Beside<'_> {
    /// The fault lane's height: the taller of the two columns', or none without faults.
    fn fault_lane(&self) -> Option<u32> {
        let plot_w = plot_width(COLUMN_W);
        self.runs
            .iter()
            .map(|r| frame::fault_lane_height(&r.d.faults, r.d.x_max, plot_w))
            .max()
            .filter(|&h| h > 0)
    }

    fn sync_lane(&self) -> Option<u32> {
        self.runs
            .iter()
            .filter_map(|r| lag::sync_lane_height(&r.d, &r.lag))
            .max()
    }

    /// The rows under the title: the headings, the fault lane if any, the three panels, and the
    /// sync lane if any replica synced.
    fn heights(&self) -> Vec<u32> {
        let mut h = vec![HEAD_H];
        h.extend(self.fault_lane());
        h.extend([PANEL_H, PANEL_H, PANEL_H]);
        h.extend(self.sync_lane());
        h
    }
}

impl Page for Beside<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), String> {
        let heights = self.heights();
        let rows = frame::rows(
            root,
            "side by side: the replica's buffers on both ends of the link, and its lag",
            &heights,
        )?;
        let mut rows = rows.iter();
        let (head, note) = rows.next().ok_or("no row for the headings")?;
        let [la, ra] = columns(head);
        heading(&la, &self.runs[0])?;
        heading(&ra, &self.runs[1])?;
        draw_legend(
            note,
            &[Entry::new(
                Glyph::None,
                "both columns share the time axis, and each row its scale",
            )],
        )?;
        if self.fault_lane().is_some() {
            let (main, legend) = rows.next().ok_or("no row for the fault lanes")?;
            for (area, r) in columns(main).iter().zip(&self.runs) {
                frame::fault_lane_plot(area, &r.d.faults, r.d.x_max)?;
            }
            draw_legend(legend, &[frame::fault_legend()])?;
        }
        for kind in [RowKind::Obuf, RowKind::Local, RowKind::Lag] {
            let (main, legend) = rows.next().ok_or("no row for a panel")?;
            self.row(kind, main, legend)?;
        }
        if let Some((main, legend)) = rows.next() {
            for (area, r) in columns(main).iter().zip(&self.runs) {
                lag::sync_lane_plot(area, &r.d, &r.lag)?;
            }
            draw_legend(legend, &lag::sync_legend())?;
        }
        Ok(())
    }
}

/// A row of panels: what it draws of each run.
#[derive(Clone, Copy)]
enum RowKind {
    /// Each replica's output buffer on its master, against the master's limits.
    Obuf,
    /// Each replica's local buffer, against its own limit.
    Local,
    /// Each replica's bytes behind the top of its chain.
    Lag,
}

impl RowKind {
    /// The row's label; `chained` when a replica replicates from a replica in either run.
    fn label(self, chained: bool) -> &'static str {
        match self {
            RowKind::Obuf => OBUF_LABEL,
            RowKind::Local => LOCAL_LABEL,
            RowKind::Lag if chained => LAG_TOP_LABEL,
            RowKind::Lag => LAG_LABEL,
        }
    }
}

/// One series of a row: its legend text, its node and its bytes per sample.
type Line<'b> = (String, &'b str, &'b [Option<u64>]);

impl Run<'_> {
    /// What row `kind` draws of this run: its series, and the limits they are held to.
    fn row(&self, kind: RowKind, chained: bool) -> (Vec<Line<'_>>, &[Limit]) {
        match kind {
            RowKind::Obuf => (
                self.obuf
                    .iter()
                    .map(|&(m, r, v)| (format!("{r} on {m}"), r, v))
                    .collect(),
                &self.obuf_limits,
            ),
            RowKind::Local => (
                self.local
                    .iter()
                    .map(|(r, v)| (format!("{r}'s local buffer"), *r, v.as_slice()))
                    .collect(),
                &self.local_limits,
            ),
            RowKind::Lag => (
                self.lag
                    .iter()
                    .map(|&(r, n)| {
                        (
                            if chained {
                                format!("{r} behind the top of its chain")
                            } else {
                                format!("{r} behind its master")
                            },
                            r,
                            lag::bytes_of(n, View::Top),
                        )
                    })
                    .collect(),
                &[],
            ),
        }
    }
}

impl Beside<'_> {
    /// Draws row `kind`: a panel per run on one scale, each series in its replica's colour (a
    /// local buffer too: in a row of its own it need not be told from the output buffer, which
    /// the backlog chart does by darkening it), and one legend for both.
    fn row<DB: DrawingBackend>(
        &self,
        kind: RowKind,
        main: &Area<DB>,
        legend: &Area<DB>,
    ) -> Result<(), String> {
        let chained = self.runs.iter().any(|r| lag::chained(&r.d));
        let rows = self.runs.each_ref().map(|r| r.row(kind, chained));
        let data_max = rows
            .iter()
            .flat_map(|(lines, _)| lines.iter().flat_map(|(_, _, v)| v.iter().flatten()))
            .fold(0, |a, &b| a.max(b));
        let limits = rows.iter().flat_map(|(_, l)| limit_values(l));
        let (div, unit, y_max) = byte_scale(data_max, limits);
        let mut series: Vec<Summary> = Vec::new();
        let mut limit_entries: [Vec<Entry>; 2] = [Vec::new(), Vec::new()];
        let desc = format!("{} ({unit})", kind.label(chained));
        for (side, (area, r)) in columns(main).iter().zip(&self.runs).enumerate() {
            let d = &r.d;
            let (lines, limits) = &rows[side];
            let mut chart = panel(area, d, y_max, &desc)?;
            // Limits under the series: a buffer held at its limit (a local buffer stays at its
            // limit until the RDB is loaded) would otherwise vanish behind the limit's line.
            limit_entries[side] = draw_limits(&mut chart, d, limits, div, y_max)?;
            if lines.is_empty() {
                // An empty panel would read as a buffer that stayed at zero, or as a chart that
                // failed to draw; say what it means.
                let style = (FONT, 15)
                    .into_font()
                    .color(&RGBColor(90, 90, 90))
                    .pos(Pos::new(HPos::Center, VPos::Center));
                chart
                    .draw_series(std::iter::once(Text::new(
                        empty_note(kind),
                        (d.x_max / 2.0, y_max / 2.0),
                        style,
                    )))
                    .map_err(err)?;
            }
            for (i, (what, node, v)) in lines.iter().enumerate() {
                let stroke = frame::stroke(i, lines.len());
                let c = d.color(node);
                let glyph = draw_series(&mut chart, &d.t, &gappy(v, div), c, stroke)?;
                let max = v.iter().flatten().max().copied().unwrap_or(0);
                summarise(&mut series, side, what.clone(), glyph, max);
            }
        }
        let mut entries = entries(series);
        entries.extend(merge_limits(limit_entries));
        draw_legend(legend, &entries)
    }
}

/// What a panel of row `kind` with no series means.
fn empty_note(kind: RowKind) -> &'static str {
    match kind {
        RowKind::Obuf => "no replica was attached to a master",
        RowKind::Local => "no local buffer: this run's replicas held none of the stream",
        RowKind::Lag => "no replica was measured against a master",
    }
}

/// The two columns of a row's main area, left and right.
fn columns<DB: DrawingBackend>(main: &Area<DB>) -> [Area<DB>; 2] {
    let (l, r) = main.split_horizontally(COLUMN_W);
    [l, r]
}

/// A time-axis panel of a column, on the common time axis and the row's scale.
fn panel<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    d: &Data,
    y_max: f64,
    desc: &str,
) -> Result<frame::Chart2d<'a, DB>, String> {
    frame::panel(
        area,
        d.x_max,
        (0.0, y_max),
        desc,
        &|v| tick(*v, y_max),
        &d.faults,
    )
}

/// A column's heading: its scenario, and under it what sets the run apart.
fn heading<DB: DrawingBackend>(area: &Area<DB>, r: &Run) -> Result<(), String> {
    let plot_w = plot_width(COLUMN_W);
    let x = PLOT_X0 + plot_w as i32 / 2;
    let style = |size: u32, c: RGBColor| {
        (FONT, size)
            .into_font()
            .color(&c)
            .pos(Pos::new(HPos::Center, VPos::Center))
    };
    let name = &r.d.report.scenario;
    area.draw_text(
        &fit(name, 19, plot_w),
        &style(19, RGBColor(0, 0, 0)),
        (x, 16),
    )
    .map_err(err)?;
    area.draw_text(
        &fit(&r.subtitle, 14, plot_w),
        &style(14, RGBColor(70, 70, 70)),
        (x, 39),
    )
    .map_err(err)
}

/// A series' peak in each column, for its legend entry.
struct Summary {
    what: String,
    glyph: Glyph,
    max: [Option<u64>; 2],
}

fn summarise(out: &mut Vec<Summary>, side: usize, what: String, glyph: Glyph, max: u64) {
    let i = match out.iter().position(|s| s.what == what) {
        Some(i) => i,
        None => {
            out.push(Summary {
                what,
                glyph,
                max: [None, None],
            });
            out.len() - 1
        }
    };
    out[i].max[side] = Some(max);
}

/// "replica on master: up to 186 MB left, up to 148 MB right"; a column without the series
/// says "none".
fn entries(series: Vec<Summary>) -> Vec<Entry> {
    series
        .into_iter()
        .map(|s| {
            let [l, r] = s.max.map(|m| {
                m.map_or("none".into(), |m| {
                    format!("up to {}", human_bytes(m as f64))
                })
            });
            Entry::new(s.glyph, format!("{}: {l} left, {r} right", s.what))
        })
        .collect()
}

/// The two columns' limit entries as one legend: a limit the same in both is listed once, one
/// that differs with its values on each side, one drawn on one side only as such.
pub(super) fn merge_limits(entries: [Vec<Entry>; 2]) -> Vec<Entry> {
    let split = |e: &Entry| -> (String, String) {
        match e.text.split_once(": ") {
            Some((what, values)) => (what.to_string(), values.to_string()),
            None => (e.text.clone(), String::new()),
        }
    };
    let mut out: Vec<(Glyph, String, [Option<String>; 2])> = Vec::new();
    for (side, list) in entries.iter().enumerate() {
        for e in list {
            let (what, values) = split(e);
            match out.iter_mut().find(|(_, w, _)| *w == what) {
                Some((_, _, v)) => v[side] = Some(values),
                None => {
                    let mut v = [None, None];
                    v[side] = Some(values);
                    out.push((e.glyph, what, v));
                }
            }
        }
    }
    out.into_iter()
        .map(|(glyph, what, [l, r])| {
            let text = match (l, r) {
                (Some(l), Some(r)) if l == r => format!("{what}: {l} in both"),
                // A limit drawn in one column only (a local buffer's, where only one run held
                // one) is said to be so: "none" would read as no limit at all.
                (Some(l), None) => format!("{what}: {l} left only"),
                (None, Some(r)) => format!("{what}: {r} right only"),
                (Some(l), Some(r)) => format!("{what}: {l} left, {r} right"),
                (None, None) => unreachable!("each entry comes from one column at least"),
            };
            Entry::new(glyph, text)
        })
        .collect()
}
