//! Charts from a report: lag (against the top of each chain, and hop by hop where replicas
//! chain), backlog and output buffers against their limits, availability, acknowledged writes
//! kept and lost, and read staleness; and, from two reports, the side-by-side chart that puts
//! one run's buffers and lag beside another's (`beside`). Pure functions from the reports'
//! `timeline` to PNG and SVG bytes; no simulation inside, no file written here.
//!
//! Every chart has the same frame (`frame`): a title, then rows of a plot column and a legend
//! column, so legends never cover data; fault labels in a lane of their own over the time
//! panels; every series kept inside its plot area and reduced to what its pixels can show
//! (`series`). Each node has one colour, from a palette colour-blind readers can tell apart,
//! on every chart of a run.
//!
//! Text is drawn with DejaVu Sans embedded in the binary (assets/fonts, Bitstream Vera licence),
//! so charts render the same on a machine with no fonts installed.

mod backlog;
mod beside;
mod frame;
mod lag;
mod series;
mod staleness;
mod traffic;

#[cfg(test)]
mod tests;

use std::io::Cursor;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{AckedWrites, LimitsFrom, NodeTimeline, Report, SentinelMark, StalenessCdf};
pub use beside::beside;
pub use frame::WIDTH;
use frame::{Area, Fault, FONT, TITLE_H};
pub use series::human_bytes;

static FONT_ONCE: Once = Once::new();

/// Registers the bundled font with plotters, once per process, before anything draws text.
pub fn register_font() {
    FONT_ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
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

/// Draws every chart that has something to show for this report: lag, backlog and
/// availability always; the hop-by-hop lag where replicas chain; acknowledged writes where
/// writes were lost or a node was promoted; staleness where reads were stale.
pub fn charts(report: &Report) -> Result<Vec<Chart>, String> {
    register_font();
    let data = Data::from_report(report)?;
    let mut names = vec!["lag"];
    if lag::chained(&data) {
        names.push("lag-hops");
    }
    names.extend(["backlog", "availability"]);
    if traffic::wants_writes(&data) {
        names.push("writes");
    }
    if staleness::wants(&data) {
        names.push("staleness");
    }
    names.into_iter().map(|name| render(name, &data)).collect()
}

/// The rows of chart `name` under its title, in pixels.
fn heights(name: &str, d: &Data) -> Vec<u32> {
    match name {
        "lag" => lag::heights(d, lag::View::Top),
        "lag-hops" => lag::heights(d, lag::View::Hops),
        "backlog" => backlog::heights(d),
        "availability" | "writes" => traffic::heights(d),
        _ => staleness::heights(),
    }
}

fn draw<DB: DrawingBackend>(name: &str, root: &Area<DB>, d: &Data) -> Result<(), String> {
    let rows = heights(name, d);
    match name {
        "lag" => lag::draw(root, d, lag::View::Top, &rows),
        "lag-hops" => lag::draw(root, d, lag::View::Hops, &rows),
        "backlog" => backlog::draw(root, d, &rows),
        "availability" => traffic::availability(root, d, &rows),
        "writes" => traffic::writes(root, d, &rows),
        _ => staleness::draw(root, d, &rows),
    }
}

/// Draws chart `name`, `WIDTH` wide, in both formats.
fn render(name: &'static str, data: &Data) -> Result<Chart, String> {
    let height = TITLE_H + heights(name, data).iter().sum::<u32>();
    paint(name, (WIDTH, height), &One { name, data })
}

/// Something that draws a whole page on any backend.
trait Page {
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), String>;
}

/// One of a report's own charts.
struct One<'a> {
    name: &'static str,
    data: &'a Data<'a>,
}

impl Page for One<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), String> {
        draw(self.name, root, self.data)
    }
}

/// Draws `page`, `size` pixels, twice: into a PNG pixel buffer and into an SVG string.
fn paint(name: &'static str, size: (u32, u32), page: &impl Page) -> Result<Chart, String> {
    let (width, height) = size;
    let mut buf = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        page.draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let img =
        image::RgbImage::from_raw(width, height, buf).ok_or("pixel buffer of the wrong size")?;
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageOutputFormat::Png)
        .map_err(|e| e.to_string())?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        page.draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(Chart { name, png, svg })
}

/// What every chart needs, read out of the report once.
struct Data<'a> {
    report: &'a Report,
    /// Sample times in seconds.
    t: Vec<f64>,
    x_max: f64,
    faults: Vec<Fault>,
    /// The nodes in name order, which is also their colour order.
    nodes: Vec<(&'a str, &'a NodeTimeline)>,
}

impl<'a> Data<'a> {
    fn from_report(r: &'a Report) -> Result<Data<'a>, String> {
        let tl = &r.timeline;
        let t: Vec<f64> = tl.t_ms.iter().map(|x| x / 1000.0).collect();
        let Some(&last) = t.last() else {
            return Err("the report's timeline has no samples".into());
        };
        let samples = t.len();
        for (name, n) in &tl.nodes {
            let lens = [
                n.up.len(),
                n.lag_bytes.len(),
                n.lag_seconds.len(),
                n.hops_to_top.len(),
                n.lag_bytes_top.len(),
                n.lag_seconds_top.len(),
                n.backlog_histlen.len(),
            ];
            if lens.iter().any(|&l| l != samples)
                || n.replica_obuf.values().any(|v| v.len() != samples)
                || !(n.local_repl_buffer.is_empty() || n.local_repl_buffer.len() == samples)
            {
                return Err(format!(
                    "node {name}'s series do not have one entry per sample ({samples})"
                ));
            }
            if n.limits.windows(2).any(|w| w[0].t_ms >= w[1].t_ms) {
                return Err(format!("node {name}'s limits are not in time order"));
            }
        }
        let mut faults: Vec<Fault> = tl
            .faults
            .iter()
            .map(|f| Fault {
                label: f.label.clone(),
                start: f.start_ms / 1000.0,
                end: f.end_ms.map(|e| e / 1000.0),
            })
            .collect();
        let failovers: Vec<(f64, f64)> = tl
            .faults
            .iter()
            .filter(|f| f.kind == "failover")
            .map(|f| {
                (
                    f.start_ms / 1000.0,
                    f.end_ms.unwrap_or(f64::INFINITY) / 1000.0,
                )
            })
            .collect();
        faults.extend(sentinel_marks(&tl.sentinel_events, &failovers));
        // Stable: faults at one instant keep their order, and come before Sentinel's.
        faults.sort_by(|a, b| a.start.total_cmp(&b.start));
        Ok(Data {
            report: r,
            x_max: (tl.duration_ms / 1000.0).max(last).max(1e-3),
            t,
            faults,
            nodes: tl.nodes.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        })
    }

    fn title(&self, what: &str) -> String {
        format!("{}: {what}", self.report.scenario)
    }

    /// Node `name`'s colour.
    fn color(&self, name: &str) -> RGBColor {
        let i = self.nodes.iter().position(|(n, _)| *n == name);
        frame::node_color(i.unwrap_or(self.nodes.len()))
    }

    /// Where the fault lane goes, if there are faults: its height.
    fn fault_lane(&self) -> Option<u32> {
        let plot_w = (frame::PLOT_X1 - frame::PLOT_X0) as u32;
        let h = frame::fault_lane_height(&self.faults, self.x_max, plot_w);
        (h > 0).then_some(h)
    }
}

/// Sentinel's events that tell a failover's story, for the fault lane: a master's subjective
/// and objective down, the switch to a new master, an old master turned into a replica, and an
/// aborted failover. Every Sentinel logs most of them; the first of a kind stands for the
/// others that follow it within [`SENTINEL_MARK_MERGE_S`]. A failover already has its window
/// in the lane (from the leader's `+odown` to its `+switch-master`, in seconds in
/// `failovers`), so the objective down and the switch inside one are not marked again; a
/// Sentinel that learns of the switch later (after a heal) is.
fn sentinel_marks(events: &[SentinelMark], failovers: &[(f64, f64)]) -> Vec<Fault> {
    let mut marks: Vec<Fault> = Vec::new();
    let mut last: Vec<(&str, f64)> = Vec::new();
    for e in events {
        let kind = e.kind.as_str();
        let wanted = match kind {
            "+sdown" | "-sdown" => e.message.starts_with("master "),
            "+odown" | "+switch-master" | "+convert-to-slave" => true,
            _ => kind.starts_with("-failover-abort"),
        };
        if !wanted {
            continue;
        }
        let t = e.t_ms / 1000.0;
        let in_failover = failovers.iter().any(|&(a, b)| (a..=b).contains(&t));
        if in_failover && matches!(kind, "+odown" | "+switch-master") {
            continue;
        }
        match last.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, at)) if t - *at <= SENTINEL_MARK_MERGE_S => continue,
            Some((_, at)) => *at = t,
            None => last.push((kind, t)),
        }
        // An instant: a line, not a window in force to the end of the run.
        marks.push(Fault {
            label: format!("Sentinel {kind}"),
            start: t,
            end: Some(t),
        });
    }
    marks
}

/// Seconds within which Sentinel events of one kind are one mark.
const SENTINEL_MARK_MERGE_S: f64 = 2.0;

/// The entry of `limits` in force at each sample time of `t_ms` (`None` before the first).
fn limits_at<'a>(limits: &'a [LimitsFrom], t_ms: &[f64]) -> Vec<Option<&'a LimitsFrom>> {
    let mut next = 0;
    t_ms.iter()
        .map(|&t| {
            while limits.get(next).is_some_and(|l| l.t_ms <= t) {
                next += 1;
            }
            next.checked_sub(1).map(|k| &limits[k])
        })
        .collect()
}

/// A series with gaps as chart coordinates, divided by `d`.
fn gappy(v: &[Option<u64>], d: f64) -> Vec<Option<f64>> {
    v.iter().map(|x| x.map(|x| x as f64 / d)).collect()
}
