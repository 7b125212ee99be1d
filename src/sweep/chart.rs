//! A sweep's charts, as SVG strings: for a sweep over seeds, the distribution of each figure over
//! the runs as a CDF; against a varied directive, each chosen figure per value, its median as a
//! line over the band from the least to the most any seed gave, and its 99th percentile as
//! points. Colours are Okabe and Ito's, told apart with every common colour-vision deficiency.
//! Pure functions: no file is written here.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Num, SweepReport};
use crate::report::chart::{human_bytes, register_font};

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 620;
const FONT: &str = "sans-serif";

/// Okabe–Ito: blue, sky blue, vermillion.
const BLUE: RGBColor = RGBColor(0, 114, 178);
const SKY: RGBColor = RGBColor(86, 180, 233);
const VERMILLION: RGBColor = RGBColor(213, 94, 0);

/// A chart: its file name (`cdf-acked_writes_lost.svg`), its figure and its SVG text.
pub struct SvgChart {
    pub file: String,
    /// The figure it draws.
    pub figure: String,
    pub svg: String,
}

/// Every chart of `r`: of each figure in `chosen`, or when it is empty of every figure with a
/// value (over seeds) or every figure that changes (against a varied directive, as
/// [`super::text::chosen_figures`] picks them).
pub fn charts(r: &SweepReport, chosen: &[String]) -> Result<Vec<SvgChart>, String> {
    register_font();
    let mut out = Vec::new();
    match &r.vary {
        None => {
            for (k, f) in r.figures.iter().enumerate() {
                if !(chosen.is_empty() || chosen.contains(&f.name)) {
                    continue;
                }
                let values: Vec<f64> = r
                    .records
                    .iter()
                    .filter_map(|x| x.figures[k])
                    .map(|n| n.0)
                    .collect();
                if values.is_empty() {
                    continue;
                }
                let title = format!("{}: {} over {} runs", r.scenario, f.name, values.len());
                let svg = draw(|root| cdf(root, &title, &f.name, &f.unit, values))?;
                out.push(SvgChart {
                    file: format!("cdf-{}.svg", file_name(&f.name)),
                    figure: f.name.clone(),
                    svg,
                });
            }
        }
        Some(v) => {
            let (shown, _) = super::text::chosen_figures(r, chosen);
            let sizes = v
                .values
                .iter()
                .any(|t| t.ends_with(|c: char| c.is_ascii_alphabetic()));
            let axis = Axis {
                name: v.directive.clone(),
                labels: v.values.clone(),
                numbers: v.numbers.clone().filter(|_| v.spacing != "list"),
                log: v.spacing == "geometric",
                sizes,
            };
            for k in shown {
                let f = &r.figures[k];
                let rows: Vec<[Option<f64>; 3]> = r
                    .cases
                    .iter()
                    .map(|c| {
                        let d = &c.distributions[k];
                        [d.min, d.p50, d.max].map(|x| x.map(|n: Num| n.0))
                    })
                    .collect();
                let p99: Vec<Option<f64>> = r
                    .cases
                    .iter()
                    .map(|c| c.distributions[k].p99.map(|n| n.0))
                    .collect();
                let seeds = r.cases.first().map_or(0, |c| c.runs);
                let title = format!(
                    "{}: {} against {} ({} seeds per value)",
                    r.scenario, f.name, v.directive, seeds
                );
                let svg = draw(|root| against(root, &title, f, &axis, &rows, &p99))?;
                out.push(SvgChart {
                    file: format!("vary-{}.svg", file_name(&f.name)),
                    figure: f.name.clone(),
                    svg,
                });
            }
        }
    }
    Ok(out)
}

/// A figure's name as a file name: node names are the user's, so anything but letters, digits,
/// `.`, `-` and `_` becomes `_`.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn draw(
    f: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        f(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A range for an axis over `lo..hi` with a margin, wide enough to draw when they are equal.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let m = (hi - lo) * 0.04;
        (lo - m, hi + m)
    } else {
        let m = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - m, hi + m)
    }
}

/// The share of runs at or below each value: a step from 0 to 1.
fn cdf(
    root: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    name: &str,
    unit: &str,
    mut values: Vec<f64>,
) -> Result<(), String> {
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    let (lo, hi) = padded(values[0], values[values.len() - 1]);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, 0.0..1.02)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("{name} ({unit})"))
        .y_desc("share of runs at or below")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    let mut path = vec![(lo, 0.0)];
    for (i, &x) in values.iter().enumerate() {
        path.push((x, i as f64 / n));
        path.push((x, (i + 1) as f64 / n));
    }
    path.push((hi, 1.0));
    chart
        .draw_series(std::iter::once(PathElement::new(
            path,
            BLUE.stroke_width(3),
        )))
        .map_err(err)?;
    // The median and the 99th percentile, dashed across the plot, named at the top.
    for (p, label) in [(50u64, "p50"), (99, "p99")] {
        let k = (p * values.len() as u64).div_ceil(100).max(1) as usize - 1;
        let x = values[k];
        chart
            .draw_series(DashedLineSeries::new(
                [(x, 0.0), (x, 1.0)],
                6,
                4,
                VERMILLION.stroke_width(2),
            ))
            .map_err(err)?;
        let y = if p == 50 { 0.94 } else { 0.86 };
        // A label in the right half ends at its line, so it is not cut off at the plot's edge.
        let h = if x > (lo + hi) / 2.0 {
            HPos::Right
        } else {
            HPos::Left
        };
        chart
            .draw_series(std::iter::once(Text::new(
                format!(" {label} {} ", super::text::number(Num(x))),
                (x, y),
                (FONT, 15)
                    .into_font()
                    .color(&VERMILLION)
                    .pos(Pos::new(h, VPos::Top)),
            )))
            .map_err(err)?;
    }
    Ok(())
}

/// The varied directive's axis.
struct Axis {
    name: String,
    labels: Vec<String>,
    /// The values as numbers, for a numeric axis; `None` places them evenly by index.
    numbers: Option<Vec<f64>>,
    /// A geometric range: drawn on a log axis (log10 of the value).
    log: bool,
    sizes: bool,
}

impl Axis {
    /// Where value `i` sits on the x axis.
    fn x(&self, i: usize) -> f64 {
        match &self.numbers {
            Some(n) if self.log => n[i].max(f64::MIN_POSITIVE).log10(),
            Some(n) => n[i],
            None => i as f64,
        }
    }

    /// The label at `x`.
    fn label(&self, x: f64) -> String {
        let value = match &self.numbers {
            None => {
                let i = x.round();
                return if (x - i).abs() < 1e-6 && i >= 0.0 {
                    self.labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                };
            }
            Some(_) if self.log => 10f64.powf(x),
            Some(_) => x,
        };
        if self.sizes {
            human_bytes(value)
        } else if value >= 100.0 || value.fract().abs() < 1e-9 {
            format!("{value:.0}")
        } else {
            format!("{value:.2}")
        }
    }
}

/// A figure against the varied directive: the min–max band, the median line, p99 points.
fn against(
    root: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    f: &super::FigureDef,
    axis: &Axis,
    rows: &[[Option<f64>; 3]],
    p99: &[Option<f64>],
) -> Result<(), String> {
    let xs: Vec<f64> = (0..rows.len()).map(|i| axis.x(i)).collect();
    let (x_lo, x_hi) = padded(xs[0], xs[xs.len() - 1]);
    let ys = rows.iter().flatten().flatten().copied();
    let (y_min, y_max) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    let (y_lo, y_hi) = if y_min.is_finite() {
        padded(y_min.min(0.0), y_max)
    } else {
        (0.0, 1.0)
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(err)?;
    let label = |x: &f64| axis.label(*x);
    let x_desc = format!(
        "{}{}",
        axis.name,
        if axis.log { " (log scale)" } else { "" }
    );
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(format!("{} ({})", f.name, f.unit))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_labels(if axis.numbers.is_none() {
            rows.len()
        } else {
            10
        })
        .x_label_formatter(&label)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    // The band between the least and the most, over the values every seed has.
    let band: Vec<(f64, f64, f64)> = xs
        .iter()
        .zip(rows)
        .filter_map(|(&x, [lo, _, hi])| Some((x, (*lo)?, (*hi)?)))
        .collect();
    if band.len() > 1 {
        let mut poly: Vec<(f64, f64)> = band.iter().map(|&(x, lo, _)| (x, lo)).collect();
        poly.extend(band.iter().rev().map(|&(x, _, hi)| (x, hi)));
        chart
            .draw_series(std::iter::once(Polygon::new(poly, SKY.mix(0.35).filled())))
            .map_err(err)?
            .label("min to max over seeds")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], SKY.mix(0.35).filled()));
    }
    for &(x, lo, hi) in &band {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, lo), (x, hi)],
                SKY.stroke_width(2),
            )))
            .map_err(err)?;
    }
    let median: Vec<(f64, f64)> = xs
        .iter()
        .zip(rows)
        .filter_map(|(&x, [_, p50, _])| Some((x, (*p50)?)))
        .collect();
    chart
        .draw_series(LineSeries::new(median.clone(), BLUE.stroke_width(3)))
        .map_err(err)?
        .label("median (p50)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(3)));
    chart
        .draw_series(
            median
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 5, BLUE.filled())),
        )
        .map_err(err)?;
    chart
        .draw_series(
            xs.iter().zip(p99).filter_map(|(&x, y)| {
                Some(TriangleMarker::new((x, (*y)?), 7, VERMILLION.filled()))
            }),
        )
        .map_err(err)?
        .label("p99")
        .legend(|(x, y)| TriangleMarker::new((x + 10, y), 7, VERMILLION.filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 14))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    Ok(())
}
