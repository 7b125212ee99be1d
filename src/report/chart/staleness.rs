//! The staleness chart: per node that served stale reads, the distribution (CDF) of how stale
//! they were, on a logarithmic time axis, so a replica whose stale reads are a few
//! milliseconds old and one whose are seconds old read apart at a glance.

use plotters::prelude::*;

use super::frame::{self, draw_legend, err, Area, Entry, Glyph, FONT, PLOT_BG};
use super::series::{human_seconds, thousands, time_unit};
use super::{Data, StalenessCdf};

const PANEL_H: u32 = 560;

pub fn heights() -> Vec<u32> {
    vec![PANEL_H]
}

/// Whether any node served a stale read.
pub fn wants(d: &Data) -> bool {
    d.report.timeline.staleness.values().any(|s| s.stale > 0)
}

/// The staleness at quantile `q` (0 to 1) of `s`, in seconds.
fn at(s: &StalenessCdf, q: f64) -> f64 {
    let k = s.quantile.iter().position(|&x| x >= q).unwrap_or(0);
    s.staleness_us.get(k).copied().unwrap_or(0.0) / 1e6
}

pub fn draw<DB: DrawingBackend>(root: &Area<DB>, d: &Data, heights: &[u32]) -> Result<(), String> {
    let rows = frame::rows(root, &d.title("staleness of stale reads"), heights)?;
    let (area, legend) = rows.first().ok_or("no row for the panel")?;
    let nodes: Vec<(&String, &StalenessCdf)> = d
        .report
        .timeline
        .staleness
        .iter()
        .filter(|(_, s)| s.stale > 0 && !s.staleness_us.is_empty())
        .collect();
    // The axis spans the smallest to the largest staleness, at least a decade, and never
    // reaches zero, which a logarithmic axis cannot show.
    let values = nodes
        .iter()
        .flat_map(|(_, s)| s.staleness_us.iter().copied());
    let lo_us = values.clone().fold(f64::INFINITY, f64::min).max(0.001);
    let hi_us = values.fold(0.0f64, f64::max).max(lo_us * 10.0);
    let (div, unit) = time_unit(hi_us / 1e6);
    let (lo, hi) = (lo_us / 1e6 / div, hi_us / 1e6 / div);
    let mut chart = ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(12)
        .margin_top(8)
        .margin_bottom(4)
        .x_label_area_size(40)
        .y_label_area_size(95)
        .build_cartesian_2d((lo * 0.9..hi * 1.1).log_scale(), 0.0..1.0)
        .map_err(err)?;
    chart.plotting_area().fill(&PLOT_BG).map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "how long the newer value had been acknowledged ({unit}, logarithmic)"
        ))
        .y_desc("share of the node's stale reads at most this stale")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_label_formatter(&|v| {
            if *v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.3}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            }
        })
        .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
        .bold_line_style(RGBColor(220, 220, 220))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    let mut entries = Vec::new();
    for (name, s) in &nodes {
        let c = d.color(name);
        let pts: Vec<(f64, f64)> = s
            .staleness_us
            .iter()
            .zip(&s.quantile)
            .map(|(&v, &q)| ((v / 1e6 / div).clamp(lo, hi), q))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(3)))
            .map_err(err)?;
        let served = s.reads - s.reads_before_first_sync;
        entries.push(Entry::new(
            Glyph::Line(c, 3),
            format!(
                "{name}: {} of {} reads stale",
                thousands(s.stale),
                thousands(served)
            ),
        ));
        entries.push(Entry::new(
            Glyph::None,
            format!(
                "median {}, p99 {}, max {}",
                human_seconds(at(s, 0.5)),
                human_seconds(at(s, 0.99)),
                human_seconds(at(s, 1.0))
            ),
        ));
    }
    // Nodes that served reads, none of them stale, are named too: the comparison is the point.
    for (name, s) in d
        .report
        .timeline
        .staleness
        .iter()
        .filter(|(_, s)| s.stale == 0)
    {
        let served = s.reads - s.reads_before_first_sync;
        entries.push(Entry::new(
            Glyph::None,
            format!("{name}: none of {} reads stale", thousands(served)),
        ));
    }
    draw_legend(legend, &entries)
}
