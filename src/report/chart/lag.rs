//! The lag charts: bytes and time behind, with each replica's syncs in a lane underneath. The
//! main view measures a replica against the top of its chain (the master whose stream it is),
//! so a replica of a replica that looks current against its own master shows how far behind
//! the data's source it is; the hop-by-hop view, drawn where replicas chain, measures each
//! against the node it replicates from.

use super::frame::{
    self, draw_legend, draw_mark, draw_series, err, row_y, Area, Entry, Glyph, Mark,
};
use super::series::{byte_unit, human_bytes, human_seconds, thousands, tick, time_unit};
use super::{Data, NodeTimeline};
use crate::sim::observe::Milestone;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, IntoFont};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Against the top of the chain.
    Top,
    /// Against the node each replica replicates from.
    Hops,
}

const PANEL_H: u32 = 360;
/// The sync lane is at least tall enough for its legend's four entries.
const SYNC_LANE_MIN_H: u32 = 92;
const SYNC_ROW_H: u32 = 24;
/// With more replicas than this syncing, the lane has a row per kind of milestone instead.
const SYNC_ROWS_MAX: usize = 12;

/// Whether any replica ever replicated from another replica.
pub fn chained(d: &Data) -> bool {
    d.nodes
        .iter()
        .any(|(_, n)| n.hops_to_top.iter().any(|h| h.is_some_and(|h| h >= 2)))
}

pub(super) fn bytes_of(n: &NodeTimeline, view: View) -> &[Option<u64>] {
    match view {
        View::Top => &n.lag_bytes_top,
        View::Hops => &n.lag_bytes,
    }
}

fn seconds_of(n: &NodeTimeline, view: View) -> &[Option<f64>] {
    match view {
        View::Top => &n.lag_seconds_top,
        View::Hops => &n.lag_seconds,
    }
}

/// The nodes that were ever measured in this view.
pub(super) fn replicas<'a>(d: &Data<'a>, view: View) -> Vec<(&'a str, &'a NodeTimeline)> {
    d.nodes
        .iter()
        .filter(|(_, n)| bytes_of(n, view).iter().any(Option::is_some))
        .copied()
        .collect()
}

/// A sync milestone on the lane: when, whose, which.
struct SyncMark {
    t: f64,
    node: usize,
    mark: Mark,
}

fn sync_marks(d: &Data, replicas: &[(&str, &NodeTimeline)]) -> Vec<SyncMark> {
    let kinds = [
        (Milestone::FullSyncStarted, Mark::Started),
        (Milestone::FullSyncFinished, Mark::Online),
        (Milestone::PartialSync, Mark::Partial),
        (Milestone::FullSyncAborted, Mark::Aborted),
    ];
    d.report
        .timeline
        .milestones
        .iter()
        .filter_map(|m| {
            let node = replicas.iter().position(|(n, _)| *n == m.node)?;
            let (_, mark) = kinds.iter().find(|(k, _)| k.name() == m.what)?;
            Some(SyncMark {
                t: m.t_ms / 1000.0,
                node,
                mark: *mark,
            })
        })
        .collect()
}

/// The lane's rows: one per replica that synced, or one per kind of milestone when too many
/// replicas did.
fn lane_rows(marks: &[SyncMark], replicas: &[(&str, &NodeTimeline)]) -> Vec<String> {
    let mut syncing: Vec<usize> = marks.iter().map(|m| m.node).collect();
    syncing.sort_unstable();
    syncing.dedup();
    if syncing.len() > SYNC_ROWS_MAX {
        return ["started", "online", "partial", "aborted"]
            .map(String::from)
            .to_vec();
    }
    syncing
        .into_iter()
        .map(|i| replicas[i].0.to_string())
        .collect()
}

pub fn heights(d: &Data, view: View) -> Vec<u32> {
    let mut h: Vec<u32> = d.fault_lane().into_iter().collect();
    h.extend([PANEL_H, PANEL_H]);
    h.extend(sync_lane_height(d, &replicas(d, view)));
    h
}

/// The height of the sync lane of `replicas`, if any of them synced.
pub(super) fn sync_lane_height(d: &Data, replicas: &[(&str, &NodeTimeline)]) -> Option<u32> {
    let rows = lane_rows(&sync_marks(d, replicas), replicas).len() as u32;
    (rows > 0).then(|| (rows * SYNC_ROW_H + 8).max(SYNC_LANE_MIN_H))
}

pub fn draw<DB: plotters::prelude::DrawingBackend>(
    root: &Area<DB>,
    d: &Data,
    view: View,
    heights: &[u32],
) -> Result<(), String> {
    let chained = chained(d);
    let (title, against) = match (view, chained) {
        (View::Top, true) => (
            "replication lag behind the top of each chain",
            "the top of its chain",
        ),
        (View::Top, false) => ("replication lag", "its master"),
        (View::Hops, _) => (
            "replication lag, hop by hop (each replica against the node it replicates from)",
            "its own master",
        ),
    };
    let rows = frame::rows(root, &d.title(title), heights)?;
    let mut rows = rows.iter();
    if d.fault_lane().is_some() {
        let (area, legend) = rows.next().ok_or("no row for the fault lane")?;
        frame::fault_lane(area, legend, &d.faults, d.x_max)?;
    }
    let replicas = replicas(d, view);
    let hops_max = |n: &NodeTimeline| n.hops_to_top.iter().flatten().copied().max().unwrap_or(0);
    let name = |name: &str, n: &NodeTimeline| {
        if view == View::Top && hops_max(n) >= 2 {
            format!("{name} ({} hops from the top)", hops_max(n))
        } else {
            name.to_string()
        }
    };

    // Bytes behind.
    let (area, legend) = rows.next().ok_or("no row for the bytes panel")?;
    let raw_max = replicas
        .iter()
        .flat_map(|(_, n)| bytes_of(n, view).iter().flatten())
        .fold(0u64, |a, &b| a.max(b)) as f64;
    let (div, unit) = byte_unit(raw_max);
    let y_max = (raw_max / div).max(1.0) * 1.15;
    let mut chart = frame::panel(
        area,
        d.x_max,
        (0.0, y_max),
        &format!("behind {against} ({unit})"),
        &|v| tick(*v, y_max),
        &d.faults,
    )?;
    let mut entries = Vec::new();
    for (i, (n, series)) in replicas.iter().enumerate() {
        let c = d.color(n);
        let ys = super::gappy(bytes_of(series, view), div);
        let glyph = draw_series(&mut chart, &d.t, &ys, c, frame::stroke(i, replicas.len()))?;
        let max = bytes_of(series, view).iter().flatten().max().copied();
        entries.push(Entry::new(
            glyph,
            format!(
                "{}: up to {}",
                name(n, series),
                human_bytes(max.unwrap_or(0) as f64)
            ),
        ));
    }
    draw_legend(legend, &entries)?;

    // Time behind.
    let (area, legend) = rows.next().ok_or("no row for the time panel")?;
    let raw_max = replicas
        .iter()
        .flat_map(|(_, n)| seconds_of(n, view).iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let (div, unit) = time_unit(raw_max);
    let y_max = (raw_max / div).max(1.0) * 1.15;
    let mut chart = frame::panel(
        area,
        d.x_max,
        (0.0, y_max),
        &format!("behind {against} ({unit})"),
        &|v| tick(*v, y_max),
        &d.faults,
    )?;
    let mut entries = Vec::new();
    for (i, (n, series)) in replicas.iter().enumerate() {
        let c = d.color(n);
        let ys: Vec<Option<f64>> = seconds_of(series, view)
            .iter()
            .map(|x| x.map(|x| x / div))
            .collect();
        let glyph = draw_series(&mut chart, &d.t, &ys, c, frame::stroke(i, replicas.len()))?;
        let max = seconds_of(series, view)
            .iter()
            .flatten()
            .fold(0.0f64, |a, &b| a.max(b));
        entries.push(Entry::new(
            glyph,
            format!("{}: up to {}", name(n, series), human_seconds(max)),
        ));
    }
    draw_legend(legend, &entries)?;

    if let Some((area, legend)) = rows.next() {
        sync_lane(area, legend, d, &replicas)?;
    }
    Ok(())
}

/// The sync lane with its legend.
fn sync_lane<DB: plotters::prelude::DrawingBackend>(
    area: &Area<DB>,
    legend: &Area<DB>,
    d: &Data,
    replicas: &[(&str, &NodeTimeline)],
) -> Result<(), String> {
    sync_lane_plot(area, d, replicas)?;
    draw_legend(legend, &sync_legend())
}

/// The sync lane's legend: its four markers.
pub(super) fn sync_legend() -> Vec<Entry> {
    let ink = plotters::style::RGBColor(60, 60, 60);
    vec![
        Entry::new(Glyph::Mark(Mark::Started, ink), "full sync started"),
        Entry::new(
            Glyph::Mark(Mark::Online, ink),
            "full sync finished (online)",
        ),
        Entry::new(Glyph::Mark(Mark::Partial, ink), "partial resync"),
        Entry::new(Glyph::Mark(Mark::Aborted, ink), "full sync aborted"),
    ]
}

/// The replicas' sync milestones in a lane of their own, without its legend, one row per
/// replica (coloured as its lines): a bar while a full sync runs, its start above the bar and
/// its end (online or aborted) below, partial resyncs on it.
pub(super) fn sync_lane_plot<DB: plotters::prelude::DrawingBackend>(
    area: &Area<DB>,
    d: &Data,
    replicas: &[(&str, &NodeTimeline)],
) -> Result<(), String> {
    let marks = sync_marks(d, replicas);
    let labels = lane_rows(&marks, replicas);
    let by_kind = labels.first().is_some_and(|l| l == "started");
    let row_of = |m: &SyncMark| -> usize {
        if by_kind {
            [Mark::Started, Mark::Online, Mark::Partial, Mark::Aborted]
                .iter()
                .position(|k| *k == m.mark)
                .unwrap_or(0)
        } else {
            labels
                .iter()
                .position(|l| l == replicas[m.node].0)
                .unwrap_or(0)
        }
    };
    let rows = labels.len();
    let mut chart = frame::lane(area, d.x_max, &labels)?;
    // Bars while full syncs run: from each start to the replica's next end, or to the end of
    // the run.
    if !by_kind {
        for (k, m) in marks.iter().enumerate() {
            if m.mark != Mark::Started {
                continue;
            }
            let end = marks[k + 1..]
                .iter()
                .find(|e| e.node == m.node && matches!(e.mark, Mark::Online | Mark::Aborted))
                .map_or(d.x_max, |e| e.t);
            let y = row_y(rows, row_of(m));
            let c = d.color(replicas[m.node].0);
            chart
                .draw_series(std::iter::once(plotters::element::Rectangle::new(
                    [(m.t, y - 0.06), (end.max(m.t), y + 0.06)],
                    plotters::style::ShapeStyle::from(c.mix(0.45)).filled(),
                )))
                .map_err(err)?;
        }
    }
    // Markers of one kind for one replica closer than a few pixels (a replica retrying a
    // refused handshake every few milliseconds) are drawn as a run: a marker at each end, a
    // line between and their count, instead of a smear of hundreds of overlapping markers.
    let (left, top) = area.get_base_pixel();
    let placed: Vec<((usize, Mark), (i32, i32))> = marks
        .iter()
        .map(|m| {
            let y = row_y(rows, row_of(m));
            let dy = if by_kind {
                0.0
            } else {
                match m.mark {
                    Mark::Started => 0.25,
                    Mark::Online | Mark::Aborted => -0.25,
                    Mark::Partial => 0.0,
                }
            };
            let (x, y) = chart.backend_coord(&(m.t, y + dy));
            ((m.node, m.mark), (x - left, y - top))
        })
        .collect();
    let (lane_w, _) = area.dim_in_pixel();
    for run in marker_runs(&placed) {
        let (node, mark) = run.key;
        let c = d.color(replicas[node].0);
        if run.count < MARKER_RUN_MIN {
            for &at in &run.points {
                draw_mark(area, mark, at, c)?;
            }
            continue;
        }
        let (first, last) = (run.points[0], run.points[run.points.len() - 1]);
        area.draw(&plotters::element::PathElement::new(
            vec![first, last],
            c.stroke_width(2),
        ))
        .map_err(err)?;
        draw_mark(area, mark, first, c)?;
        draw_mark(area, mark, last, c)?;
        let text = format!("×{}", thousands(run.count as u64));
        let w = frame::text_width(&text, 12) as i32;
        let x = if last.0 + 10 + w < lane_w as i32 - 4 {
            last.0 + 10
        } else {
            first.0 - 10 - w
        };
        let style = (frame::FONT, 12)
            .into_font()
            .color(&c)
            .pos(Pos::new(HPos::Left, VPos::Center));
        area.draw_text(&text, &style, (x, last.1)).map_err(err)?;
    }
    Ok(())
}

/// Markers closer than this many pixels to the previous one of their kind and replica join its
/// run.
const MARKER_RUN_GAP_PX: i32 = 6;
/// Runs of at least this many markers are drawn as a run; shorter ones marker by marker.
const MARKER_RUN_MIN: usize = 4;

/// Consecutive markers of one key (replica and kind) at most `MARKER_RUN_GAP_PX` apart.
struct MarkerRun<K> {
    key: K,
    count: usize,
    points: Vec<(i32, i32)>,
}

/// Groups markers (in time order, each with its key and pixel) into runs per key, in the
/// order each run starts.
fn marker_runs<K: Copy + PartialEq>(placed: &[(K, (i32, i32))]) -> Vec<MarkerRun<K>> {
    let mut runs: Vec<MarkerRun<K>> = Vec::new();
    // The run each key is extending, as an index into `runs`.
    let mut open: Vec<(K, usize)> = Vec::new();
    for &(key, at) in placed {
        let extends = open
            .iter()
            .find(|(k, _)| *k == key)
            .map(|&(_, r)| r)
            .filter(|&r| {
                let last = runs[r].points[runs[r].points.len() - 1];
                at.0 - last.0 <= MARKER_RUN_GAP_PX && at.1 == last.1
            });
        match extends {
            Some(r) => {
                runs[r].count += 1;
                runs[r].points.push(at);
            }
            None => {
                open.retain(|(k, _)| *k != key);
                open.push((key, runs.len()));
                runs.push(MarkerRun {
                    key,
                    count: 1,
                    points: vec![at],
                });
            }
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_markers_of_one_kind_join_a_run_and_others_stay_apart() {
        let placed = [
            ('a', (10, 5)),
            ('b', (11, 5)),
            ('a', (14, 5)),
            ('a', (20, 5)),
            ('a', (40, 5)),
            ('b', (41, 5)),
            ('a', (42, 9)),
        ];
        let runs: Vec<(char, usize, i32, i32)> = marker_runs(&placed)
            .iter()
            .map(|r| {
                (
                    r.key,
                    r.count,
                    r.points[0].0,
                    r.points[r.points.len() - 1].0,
                )
            })
            .collect();
        assert_eq!(
            runs,
            [
                ('a', 3, 10, 20),
                ('b', 1, 11, 11),
                ('a', 1, 40, 40),
                ('b', 1, 41, 41),
                ('a', 1, 42, 42),
            ]
        );
    }
}
