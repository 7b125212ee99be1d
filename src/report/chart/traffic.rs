//! What clients saw: writes accepted and refused over time (availability), and writes
//! acknowledged per second, kept or lost in the end, by the node that took them (writes).

use plotters::prelude::*;

use super::frame::{self, draw_legend, draw_series, err, other_color, Area, Entry, Glyph, Row};
use super::series::{rates, thousands};
use super::{AckedWrites, Data};
use crate::sim::observe::Milestone;

const PANEL_H: u32 = 560;

/// A rate line of the availability chart: its label, colour and points.
type Line = (String, RGBColor, Vec<(f64, f64)>);

pub fn heights(d: &Data) -> Vec<u32> {
    let mut h: Vec<u32> = d.fault_lane().into_iter().collect();
    h.push(PANEL_H);
    h
}

/// Draws the fault lane if there are faults, and returns the panel's row.
fn rows<'r, DB: DrawingBackend>(rows: &'r [Row<DB>], d: &Data) -> Result<&'r Row<DB>, String> {
    let mut rows = rows.iter();
    if d.fault_lane().is_some() {
        let (area, legend) = rows.next().ok_or("no row for the fault lane")?;
        frame::fault_lane(area, legend, &d.faults, d.x_max)?;
    }
    rows.next()
        .ok_or_else(|| "no row for the panel".to_string())
}

pub fn availability<DB: DrawingBackend>(
    root: &Area<DB>,
    d: &Data,
    heights: &[u32],
) -> Result<(), String> {
    let all = frame::rows(root, &d.title("writes accepted and refused"), heights)?;
    let (area, legend) = rows(&all, d)?;
    let workloads: Vec<_> = d.report.timeline.workloads.values().collect();
    let n = d.t.len();
    let sum = |f: &dyn Fn(usize) -> f64| -> Vec<f64> { (0..n).map(f).collect() };
    let at = |v: &Vec<u64>, k: usize| v.get(k).copied().unwrap_or(0) as f64;
    let mut kinds: Vec<&String> = workloads.iter().flat_map(|w| w.errors.keys()).collect();
    kinds.sort();
    kinds.dedup();
    let mut lines: Vec<Line> = vec![(
        "accepted".into(),
        BLACK,
        rates(
            &d.t,
            &sum(&|k| workloads.iter().map(|w| at(&w.writes_ok, k)).sum()),
        ),
    )];
    for (i, kind) in kinds.iter().enumerate() {
        let cum = sum(&|k| {
            workloads
                .iter()
                .filter_map(|w| w.errors.get(*kind))
                .map(|v| at(v, k))
                .sum()
        });
        lines.push((
            format!("refused: {kind}"),
            other_color(i),
            rates(&d.t, &cum),
        ));
    }
    let timeouts = rates(
        &d.t,
        &sum(&|k| workloads.iter().map(|w| at(&w.timeouts, k)).sum()),
    );
    if timeouts.iter().any(|p| p.1 > 0.0) {
        lines.push(("timed out".into(), RGBColor(150, 150, 150), timeouts));
    }
    let issued = rates(
        &d.t,
        &sum(&|k| workloads.iter().map(|w| at(&w.writes, k)).sum()),
    );
    let y_max = issued.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.15;
    let mut chart = frame::panel(
        area,
        d.x_max,
        (0.0, y_max),
        "writes per second",
        &|v| format!("{v:.0}"),
        &d.faults,
    )?;
    let mut entries = Vec::new();
    for (label, c, pts) in &lines {
        let (t, ys): (Vec<f64>, Vec<Option<f64>>) = pts.iter().map(|&(t, v)| (t, Some(v))).unzip();
        let glyph = draw_series(&mut chart, &t, &ys, *c, 3)?;
        entries.push(Entry::new(glyph, label.clone()));
    }
    draw_legend(legend, &entries)
}

/// Whether the writes chart has a story: writes were lost, or another node than the first
/// took writes or became master.
pub fn wants_writes(d: &Data) -> bool {
    let tl = &d.report.timeline;
    let lost = tl
        .acked_writes
        .values()
        .any(|a| a.lost.iter().any(|&l| l > 0));
    let promoted = tl
        .milestones
        .iter()
        .any(|m| m.what == Milestone::BecameMaster.name());
    !tl.acked_writes.is_empty() && (lost || promoted || tl.acked_writes.len() > 1)
}

/// Seconds per bar, so that bars are at least three pixels wide.
fn seconds_per_bar(seconds: usize) -> usize {
    let px = (frame::PLOT_X1 - frame::PLOT_X0) as usize;
    (seconds * 3).div_ceil(px).max(1)
}

/// Per bar: each node's kept and lost writes per second (in node order).
fn bars(writes: &[(&str, &AckedWrites)], per_bar: usize) -> Vec<Vec<(f64, f64)>> {
    let seconds = writes.iter().map(|(_, a)| a.acked.len()).max().unwrap_or(0);
    (0..seconds.div_ceil(per_bar))
        .map(|b| {
            let range = b * per_bar..((b + 1) * per_bar).min(seconds);
            writes
                .iter()
                .map(|(_, a)| {
                    let sum = |v: &[u64]| {
                        range
                            .clone()
                            .map(|s| v.get(s).copied().unwrap_or(0))
                            .sum::<u64>()
                    };
                    let (acked, lost) = (sum(&a.acked), sum(&a.lost));
                    let per = per_bar as f64;
                    ((acked - lost) as f64 / per, lost as f64 / per)
                })
                .collect()
        })
        .collect()
}

pub fn writes<DB: DrawingBackend>(
    root: &Area<DB>,
    d: &Data,
    heights: &[u32],
) -> Result<(), String> {
    let all = frame::rows(
        root,
        &d.title("acknowledged writes: kept above the axis, lost below"),
        heights,
    )?;
    let (area, legend) = rows(&all, d)?;
    let writes: Vec<(&str, &AckedWrites)> = d
        .report
        .timeline
        .acked_writes
        .iter()
        .map(|(n, a)| (n.as_str(), a))
        .collect();
    let seconds = writes.iter().map(|(_, a)| a.acked.len()).max().unwrap_or(0);
    let per_bar = seconds_per_bar(seconds);
    let bars = bars(&writes, per_bar);
    let kept_max = bars
        .iter()
        .map(|b| b.iter().map(|p| p.0).sum::<f64>())
        .fold(1.0f64, f64::max);
    let lost_max = bars
        .iter()
        .map(|b| b.iter().map(|p| p.1).sum::<f64>())
        .fold(kept_max * 0.08, f64::max);
    let (y_lo, y_hi) = (-lost_max * 1.15, kept_max * 1.15);
    let per = if per_bar == 1 {
        "writes per second".to_string()
    } else {
        format!("writes per second (mean of {per_bar} s)")
    };
    let mut chart = frame::panel(
        area,
        d.x_max.max(seconds as f64),
        (y_lo, y_hi),
        &format!("{per}: lost ▼ kept ▲"),
        &|v| format!("{:.0}", v.abs()),
        &d.faults,
    )?;
    for (b, bar) in bars.iter().enumerate() {
        let (x0, x1) = ((b * per_bar) as f64, ((b + 1) * per_bar) as f64);
        let (mut up, mut down) = (0.0, 0.0);
        for ((name, _), &(kept, lost)) in writes.iter().zip(bar) {
            let c = d.color(name);
            for (from, size, sign) in [(&mut up, kept, 1.0), (&mut down, lost, -1.0)] {
                if size > 0.0 {
                    let base = *from;
                    *from += size;
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x0, sign * base), (x1, sign * *from)],
                            c.filled(),
                        )))
                        .map_err(err)?;
                }
            }
        }
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (d.x_max.max(seconds as f64), 0.0)],
            BLACK.stroke_width(1),
        )))
        .map_err(err)?;
    let mut entries = Vec::new();
    let (mut acked_all, mut lost_all) = (0u64, 0u64);
    for (name, a) in &writes {
        let (acked, lost) = (a.acked.iter().sum::<u64>(), a.lost.iter().sum::<u64>());
        acked_all += acked;
        lost_all += lost;
        entries.push(Entry::new(
            Glyph::Swatch(d.color(name)),
            format!(
                "{name}: {} acked, {} lost",
                thousands(acked),
                thousands(lost)
            ),
        ));
    }
    entries.push(Entry::new(
        Glyph::None,
        format!(
            "total: {} acked, {} lost",
            thousands(acked_all),
            thousands(lost_all)
        ),
    ));
    draw_legend(legend, &entries)
}
