//! The charts checked from what they draw: the SVG's elements (parsed as text) and the PNG's
//! pixels, for runs that once drew misleading charts: a far replica sampled every 10 ms,
//! a chain, a failover that loses writes, and CONFIG SET moving the limits mid-run.

use super::frame::{
    node_color, LANE_BG, LEGEND_W, LIMIT_CONFIGURED, LIMIT_HARD, LIMIT_SOFT, PLOT_BG,
};
use super::*;
use crate::sim::observe::Milestone;

fn run(toml: &str) -> Report {
    let sc = crate::scenario::parse("t.toml", toml).unwrap();
    let seed = sc.seed;
    crate::report::build(&crate::sim::run(sc, seed, u64::MAX, None, &mut |_, _| {}))
}

/// A master, a replica next to it and one 50 ms away, sampled every 10 ms.
const THREE_REGION: &str = include_str!("../../../scenarios/three-region.toml");

/// CONFIG SET lowers the output-buffer limits at 10 s and raises the backlog size (and with it
/// the effective hard limit) at 20 s, while a slow link keeps the replica's buffer busy.
const LIMITS: &str = "name = \"limits\"\nduration = \"40s\"\n\
    [[link]]\nbetween = [\"master\", \"replica\"]\nbandwidth = \"20mbit\"\n\
    [[node]]\nname = \"master\"\n[[node]]\nname = \"replica\"\nreplicaof = \"master\"\n\
    [[workload]]\ntarget = \"master\"\nrate = 2000\nvalue_size = \"1kb\"\nkeys = 5000\n\
    [[fault]]\nat = \"10s\"\nkind = \"command\"\nnode = \"master\"\n\
    command = \"CONFIG SET client-output-buffer-limit \\\"replica 3mb 1mb 60\\\"\"\n\
    [[fault]]\nat = \"20s\"\nkind = \"command\"\nnode = \"master\"\n\
    command = \"CONFIG SET repl-backlog-size 8mb\"\n";

const CHAINED: &str = include_str!("../../../scenarios/chained-replicas.toml");
const FAILOVER: &str = include_str!("../../../scenarios/failover-split-brain.toml");

/// An SVG element: its tag, attributes and text.
struct El {
    tag: String,
    attrs: Vec<(String, String)>,
    text: String,
}

impl El {
    fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }

    fn num(&self, k: &str) -> f64 {
        self.attr(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// The colour it is drawn in: its stroke, or its fill.
    fn color(&self) -> Option<&str> {
        match self.attr("stroke") {
            Some(s) if s != "none" => Some(s),
            _ => self.attr("fill"),
        }
    }

    /// The points it passes through, in pixels.
    fn points(&self) -> Vec<(f64, f64)> {
        match self.tag.as_str() {
            "polyline" | "polygon" => self
                .attr("points")
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|p| {
                    let (x, y) = p.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                })
                .collect(),
            "line" => vec![
                (self.num("x1"), self.num("y1")),
                (self.num("x2"), self.num("y2")),
            ],
            "circle" => vec![(self.num("cx"), self.num("cy"))],
            "rect" => {
                let (x, y) = (self.num("x"), self.num("y"));
                let (w, h) = (self.num("width"), self.num("height"));
                vec![(x, y), (x + w, y + h)]
            }
            _ => Vec::new(),
        }
    }
}

/// The elements of an SVG as plotters writes it: one element per tag, text between a
/// `<text>` and its `</text>`.
fn elements(svg: &str) -> Vec<El> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag_text = &rest[..end];
        rest = &rest[end + 1..];
        if tag_text.starts_with('/') || tag_text.starts_with('?') {
            continue;
        }
        let (tag, mut attrs_text) = tag_text.split_once(' ').unwrap_or((tag_text, ""));
        let mut attrs = Vec::new();
        while let Some((k, v)) = attrs_text.split_once("=\"") {
            let Some((value, after)) = v.split_once('"') else {
                break;
            };
            attrs.push((k.trim().to_string(), value.to_string()));
            attrs_text = after;
        }
        let text = if tag == "text" {
            rest.split_once("</text>")
                .map_or("", |(t, _)| t)
                .trim()
                .to_string()
        } else {
            String::new()
        };
        out.push(El {
            tag: tag.to_string(),
            attrs,
            text,
        });
    }
    out
}

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// A plot area or lane: its background rectangle's corners.
#[derive(Clone, Copy, Debug)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Rect {
    fn strictly_inside(&self, (x, y): (f64, f64)) -> bool {
        self.x0 < x && x < self.x1 && self.y0 < y && y < self.y1
    }

    fn holds(&self, (x, y): (f64, f64), slack: f64) -> bool {
        self.x0 - slack <= x && x <= self.x1 + slack && self.y0 - slack <= y && y <= self.y1 + slack
    }

    /// The simulated time at pixel column `x`, on an axis from 0 to `x_max`.
    fn time_at(&self, x: f64, x_max: f64) -> f64 {
        (x - self.x0) / (self.x1 - self.x0) * x_max
    }
}

/// The rectangles filled with `color`, top to bottom.
fn areas(els: &[El], color: RGBColor) -> Vec<Rect> {
    let mut out: Vec<Rect> = els
        .iter()
        .filter(|e| e.tag == "rect" && e.attr("fill") == Some(&hex(color)))
        .map(|e| {
            let p = e.points();
            Rect {
                x0: p[0].0,
                y0: p[0].1,
                x1: p[1].0,
                y1: p[1].1,
            }
        })
        .collect();
    out.sort_by(|a, b| a.y0.total_cmp(&b.y0));
    out
}

fn texts(els: &[El]) -> Vec<&str> {
    els.iter()
        .filter(|e| e.tag == "text")
        .map(|e| e.text.as_str())
        .collect()
}

/// Whether `e` lies in the legend column of a page `width` pixels wide.
fn in_legend(e: &El, width: f64) -> bool {
    e.num("x") >= width - f64::from(LEGEND_W)
}

/// The page's width, from the SVG's root element.
fn page_width(els: &[El]) -> f64 {
    els.iter()
        .find(|e| e.tag == "svg")
        .map_or(f64::from(WIDTH), |e| e.num("width"))
}

/// The legend column's text, lines joined by spaces (a wrapped entry reads as one).
fn legend_text(els: &[El]) -> String {
    let width = page_width(els);
    let lines: Vec<&str> = els
        .iter()
        .filter(|e| e.tag == "text" && in_legend(e, width))
        .map(|e| e.text.as_str())
        .collect();
    lines.join(" ")
}

fn chart<'a>(charts: &'a [Chart], name: &str) -> &'a Chart {
    charts
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} chart"))
}

/// Every element that reaches into a plot area or lane stays inside it, and every sync marker
/// (a triangle in a node's colour) is in a lane; returns how many elements were drawn inside
/// plot areas, so a caller can tell the check was not empty.
fn check_inside(name: &str, svg: &str) -> usize {
    let els = elements(svg);
    let plots = areas(&els, PLOT_BG);
    let lanes = areas(&els, LANE_BG);
    assert!(!plots.is_empty(), "{name}: no plot area found");
    let mut inside = 0;
    for e in &els {
        let pts = e.points();
        if e.tag == "text" {
            continue;
        }
        for area in plots.iter().chain(&lanes) {
            if pts.iter().any(|&p| area.strictly_inside(p)) {
                let outside: Vec<&(f64, f64)> =
                    pts.iter().filter(|&&p| !area.holds(p, 0.5)).collect();
                assert!(
                    outside.is_empty(),
                    "{name}: a {} reaches from inside {area:?} to {outside:?}",
                    e.tag
                );
                if plots.iter().any(|p| std::ptr::eq(p, area)) && e.tag != "rect" {
                    inside += 1;
                }
            }
        }
    }
    let palette: Vec<String> = (0..7).map(|i| hex(node_color(i))).collect();
    for e in els
        .iter()
        .filter(|e| e.tag == "polygon" && e.points().len() == 3)
    {
        if e.color().is_some_and(|c| palette.iter().any(|p| p == c)) {
            let p = e.points();
            assert!(
                lanes.iter().any(|l| p.iter().all(|&q| l.holds(q, 0.5))),
                "{name}: a sync marker at {p:?} is outside the lanes"
            );
        }
    }
    inside
}

/// No pixel in a node's colour lies outside the plot areas, lanes (and the width of a line
/// drawn on their edge) or the legend column: lines do not escape into titles or other panels.
fn check_pixels(name: &str, c: &Chart) {
    let els = elements(&c.svg);
    let zones: Vec<Rect> = areas(&els, PLOT_BG)
        .into_iter()
        .chain(areas(&els, LANE_BG))
        .collect();
    let img = image::load_from_memory(&c.png).unwrap().to_rgb8();
    let palette: Vec<[u8; 3]> = (0..7)
        .map(|i| {
            let RGBColor(r, g, b) = node_color(i);
            [r, g, b]
        })
        .collect();
    let legend_x = f64::from(img.width() - LEGEND_W);
    for (x, y, p) in img.enumerate_pixels() {
        if !palette.contains(&p.0) {
            continue;
        }
        let at = (f64::from(x), f64::from(y));
        assert!(
            at.0 >= legend_x || zones.iter().any(|z| z.holds(at, 5.0)),
            "{name}: a pixel of a series at {at:?} lies outside every plot area"
        );
    }
}

#[test]
fn no_series_point_lies_outside_its_plot_area() {
    for (scenario, toml) in [
        ("three-region", THREE_REGION),
        ("chained", CHAINED),
        ("failover", FAILOVER),
        ("limits", LIMITS),
    ] {
        let charts = charts(&run(toml)).unwrap();
        for c in &charts {
            let name = format!("{scenario}/{}", c.name);
            let inside = check_inside(&name, &c.svg);
            assert!(inside > 0, "{name}: nothing was drawn in a plot area");
            check_pixels(&name, c);
            let legend = legend_text(&elements(&c.svg));
            assert!(
                !legend.contains("… and"),
                "{name}: a legend cut short: {legend}"
            );
        }
    }
}

#[test]
fn dense_noisy_lag_is_an_envelope_in_milliseconds_with_its_peak() {
    let r = run(THREE_REGION);
    let far = &r.timeline.nodes["far"];
    let peak = far.lag_bytes.iter().flatten().max().copied().unwrap();
    let charts = charts(&r).unwrap();
    let lag = chart(&charts, "lag");
    let els = elements(&lag.svg);
    let t = texts(&els);
    assert!(t.contains(&"behind its master (ms)"), "{t:?}");
    assert!(
        t.contains(&format!("far: up to {}", series::human_bytes(peak as f64)).as_str()),
        "the legend names the far replica's peak: {t:?}"
    );
    // Sub-second lag reads in milliseconds: the far replica a one-way trip behind, the local
    // one within a millisecond.
    let ms = |who: &str| -> f64 {
        let label = t
            .iter()
            .find(|x| x.starts_with(&format!("{who}: up to")) && x.ends_with(" ms"))
            .unwrap_or_else(|| panic!("{who}'s lag in ms: {t:?}"));
        label
            .trim_end_matches(" ms")
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!((50.0..70.0).contains(&ms("far")), "{}", ms("far"));
    assert!(ms("local") <= 2.0, "{}", ms("local"));
    // About 6,000 samples over 981 pixel columns: the far replica is drawn as a band (a
    // polygon in its colour), not thousands of jagged line points.
    let far_color = hex(node_color(0));
    let bands = els
        .iter()
        .filter(|e| e.tag == "polygon" && e.color() == Some(&far_color))
        .count();
    assert!(bands >= 2, "one band per lag panel, found {bands}");
    let longest = els
        .iter()
        .filter(|e| e.tag == "polyline" && e.color() == Some(&far_color))
        .map(|e| e.points().len())
        .max()
        .unwrap();
    assert!(longest <= 1000, "a polyline of {longest} points");
}

/// The times (s) at which the polylines of `color` inside `area` start and step.
fn steps_of(els: &[El], area: &Rect, color: RGBColor, x_max: f64) -> (Vec<f64>, Vec<f64>) {
    let (mut starts, mut steps) = (Vec::new(), Vec::new());
    for e in els
        .iter()
        .filter(|e| e.tag == "polyline" && e.color() == Some(&hex(color)))
    {
        let p = e.points();
        if !p.iter().all(|&q| area.holds(q, 0.5)) {
            continue;
        }
        starts.push(area.time_at(p[0].0, x_max));
        for w in p.windows(2) {
            if w[0].0 == w[1].0 && w[0].1 != w[1].1 {
                steps.push(area.time_at(w[0].0, x_max));
            }
        }
    }
    (starts, steps)
}

#[test]
fn limit_series_step_where_config_set_changed_them() {
    let r = run(LIMITS);
    let charts = charts(&r).unwrap();
    let els = elements(&chart(&charts, "backlog").svg);
    let plots = areas(&els, PLOT_BG);
    let (backlog, buffers) = (&plots[0], &plots[1]);
    let near = |got: &[f64], want: f64| got.iter().any(|&t| (t - want).abs() < 0.15);
    // The effective hard limit is 256 MB (off the axis) until 10 s, 3 MB until 20 s, then the
    // 8 MB backlog raises it to 8 MB.
    let (starts, steps) = steps_of(&els, buffers, LIMIT_HARD, 40.0);
    assert!(
        near(&starts, 10.0),
        "effective hard limit starts {starts:?}"
    );
    assert!(near(&steps, 20.0), "effective hard limit steps {steps:?}");
    assert_eq!(steps.len(), 1, "{steps:?}");
    // The configured hard limit shows once it differs from the effective one.
    let (starts, _) = steps_of(&els, buffers, LIMIT_CONFIGURED, 40.0);
    assert!(
        near(&starts, 20.0),
        "configured hard limit starts {starts:?}"
    );
    let (starts, _) = steps_of(&els, buffers, LIMIT_SOFT, 40.0);
    assert!(near(&starts, 10.0), "soft limit starts {starts:?}");
    // Only the master's backlog grew, so its repl-backlog-size is its own line, in its colour.
    let (_, steps) = steps_of(&els, backlog, node_color(0), 40.0);
    assert!(near(&steps, 20.0), "repl-backlog-size steps {steps:?}");
    let legend = legend_text(&els).replace('\u{a0}', " ");
    for want in [
        "effective hard limit: 256 MB (off scale) → 3.0 MB → 8.0 MB",
        "configured hard limit: 3.0 MB",
        "soft limit: 64.0 MB (off scale) → 1.0 MB",
        "repl-backlog-size on master: 1.0 MB → 8.0 MB",
    ] {
        assert!(legend.contains(want), "{want:?} in {legend:?}");
    }
}

#[test]
fn the_writes_charts_lost_count_is_the_checkers() {
    let r = run(FAILOVER);
    let lost = r.checks.acked_writes_lost.lost;
    let acked = r.checks.acked_writes_lost.acked;
    assert!(lost > 10_000);
    let charts = charts(&r).unwrap();
    let els = elements(&chart(&charts, "writes").svg);
    let t = texts(&els);
    let total = format!(
        "total: {} acked, {} lost",
        series::thousands(acked),
        series::thousands(lost)
    );
    assert!(t.contains(&total.as_str()), "{total:?} in {t:?}");
    // The bars say the same: kept area over lost area is kept writes over lost writes, whatever
    // the axis' scale (bars are in the writing node's colour, kept above the zero line).
    let plot = areas(&els, PLOT_BG)[0];
    let zero = els
        .iter()
        .find(|e| {
            e.tag == "polyline" && e.color() == Some("#000000") && {
                let p = e.points();
                p.len() == 2
                    && p[0].1 == p[1].1
                    && p.iter().all(|&q| plot.holds(q, 0.5))
                    && plot.y0 < p[0].1
                    && p[0].1 < plot.y1
            }
        })
        .expect("a zero line")
        .points()[0]
        .1;
    let master = hex(node_color(0));
    let (mut kept_px, mut lost_px) = (0.0, 0.0);
    for e in els
        .iter()
        .filter(|e| e.tag == "rect" && e.attr("fill") == Some(&master))
    {
        let p = e.points();
        if !plot.strictly_inside(p[0]) {
            continue;
        }
        let a = (p[1].0 - p[0].0) * (p[1].1 - p[0].1);
        if p[1].1 <= zero + 0.5 {
            kept_px += a;
        } else {
            lost_px += a;
        }
    }
    let ratio = kept_px / lost_px;
    let want = (acked - lost) as f64 / lost as f64;
    assert!(
        (ratio - want).abs() < want * 0.03,
        "bars kept/lost {ratio:.3}, report {want:.3}"
    );
}

#[test]
fn a_chain_is_measured_from_its_top_with_the_hops_beside() {
    let r = run(CHAINED);
    let charts = charts(&r).unwrap();
    let names: Vec<&str> = charts.iter().map(|c| c.name).collect();
    assert_eq!(names, ["lag", "lag-hops", "backlog", "availability"]);
    let top = texts(&elements(&chart(&charts, "lag").svg))
        .into_iter()
        .find(|t| t.starts_with("C (2 hops from the top): up to") && t.ends_with(" s"))
        .map(str::to_string)
        .expect("C's lag in seconds against A");
    let secs: f64 = top
        .trim_end_matches(" s")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs > 15.0, "{top}");
    let hops = texts(&elements(&chart(&charts, "lag-hops").svg))
        .into_iter()
        .find(|t| t.starts_with("C: up to") && t.ends_with(" s"))
        .map(str::to_string)
        .expect("C's lag against B");
    assert!(hops.contains("1.") || hops.contains("ms"), "{hops}");
}

#[test]
fn each_node_keeps_its_colour_on_every_chart() {
    let r = run(FAILOVER);
    let charts = charts(&r).unwrap();
    let names: Vec<&str> = charts.iter().map(|c| c.name).collect();
    assert_eq!(names, ["lag", "backlog", "availability", "writes"]);
    for (i, node) in ["master", "replica-1", "replica-2"].iter().enumerate() {
        let want = hex(node_color(i));
        for c in &charts {
            let els = elements(&c.svg);
            // A legend entry is its glyph's shapes, then its text.
            for (k, e) in els.iter().enumerate() {
                if e.tag == "text"
                    && in_legend(e, f64::from(WIDTH))
                    && e.text.starts_with(&format!("{node}:"))
                {
                    let glyph = els[..k]
                        .iter()
                        .rev()
                        .find(|g| g.tag == "rect" && g.attr("opacity") == Some("1"))
                        .and_then(El::color);
                    assert_eq!(glyph, Some(want.as_str()), "{} legend of {node}", c.name);
                }
            }
        }
    }
}

#[test]
fn staleness_is_drawn_as_a_distribution_per_replica() {
    let r = run(include_str!("../../../scenarios/cap-consistency.toml"));
    let charts = charts(&r).unwrap();
    let c = chart(&charts, "staleness");
    let els = elements(&c.svg);
    let t = texts(&els);
    for (node, s) in r.timeline.staleness.iter().filter(|(_, s)| s.stale > 0) {
        let want = format!("{node}: {} of", series::thousands(s.stale));
        assert!(t.iter().any(|x| x.starts_with(&want)), "{want:?} in {t:?}");
        // The curve rises from the least stale read to every one of them.
        let color = hex(c_color(&r, node));
        let curve = els
            .iter()
            .find(|e| e.tag == "polyline" && e.color() == Some(&color))
            .expect("a curve")
            .points();
        let (first, last) = (curve[0], curve[curve.len() - 1]);
        assert!(first.0 < last.0 && first.1 > last.1, "{curve:?}");
        assert!(curve
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 >= w[1].1));
    }
    check_inside("cap-consistency/staleness", &c.svg);
}

fn c_color(r: &Report, node: &str) -> RGBColor {
    node_color(r.timeline.nodes.keys().position(|n| n == node).unwrap())
}

#[test]
fn charts_render_as_png_and_svg_of_the_same_size() {
    let r = run(THREE_REGION);
    for c in &charts(&r).unwrap() {
        assert_eq!(&c.png[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", c.name);
        let img = image::load_from_memory(&c.png).unwrap();
        assert_eq!(img.width(), WIDTH);
        assert!(
            c.svg.starts_with("<svg")
                && c.svg
                    .contains(&format!("width=\"{WIDTH}\" height=\"{}\"", img.height())),
            "{} is an SVG of the PNG's size",
            c.name
        );
    }
}

#[test]
fn a_report_without_samples_is_an_error_not_a_panic() {
    let mut r = run(THREE_REGION);
    r.timeline.t_ms.clear();
    assert_eq!(
        charts(&r).err().as_deref(),
        Some("the report's timeline has no samples")
    );
    let mut r = run(THREE_REGION);
    r.timeline
        .nodes
        .get_mut("far")
        .unwrap()
        .lag_seconds_top
        .pop();
    assert!(charts(&r)
        .err()
        .is_some_and(|e| e.contains("node far's series")));
    let mut r = run(LIMITS);
    let limits = &mut r.timeline.nodes.get_mut("master").unwrap().limits;
    assert!(limits.len() >= 3, "an entry per CONFIG SET: {limits:?}");
    limits.swap(0, 1);
    assert_eq!(
        charts(&r).err().as_deref(),
        Some("node master's limits are not in time order")
    );
}

#[test]
fn earlier_series_are_drawn_wider_so_coinciding_lines_all_show() {
    use super::frame::stroke;
    assert_eq!((0..3).map(|i| stroke(i, 3)).collect::<Vec<_>>(), [6, 4, 2]);
    assert_eq!(stroke(0, 1), 2);
    assert!(
        (0..100).all(|i| stroke(i, 100) == 2),
        "many series keep one width"
    );
}

#[test]
fn fault_labels_take_rows_so_none_overlaps() {
    use super::frame::{fault_lane_layout, text_width, Fault};
    register_font();
    let f = |label: &str, start: f64, end: Option<f64>| Fault {
        label: label.into(),
        start,
        end,
    };
    let faults = [
        f("split", 20.0, Some(55.0)),
        f("replica-1: REPLICAOF NO ONE", 25.0, Some(25.0)),
        f("replica-2: REPLICAOF replica-1 6379", 26.0, Some(26.0)),
        f("master: REPLICAOF replica-1 6379", 56.0, Some(56.0)),
        f("a label that would run past the right edge", 89.0, None),
    ];
    let right = (super::frame::PLOT_X1 - super::frame::PLOT_X0) as u32;
    let layout = fault_lane_layout(&faults, 90.0, right);
    let rows: Vec<usize> = layout.iter().map(|&(r, _)| r).collect();
    // The split's window covers both REPLICAOF commands, so each takes a row below it; the
    // heal's command comes after the window and shares the first row.
    assert_eq!(rows, [0, 1, 2, 0, 1]);
    let (_, x) = layout[4];
    assert_eq!(
        x as u32 + text_width(&faults[4].label, 13),
        right,
        "the last label ends at the plot's edge"
    );
}

#[test]
fn a_burst_of_sync_markers_is_one_run_with_its_count() {
    // The replica without masterauth retries every few milliseconds for 20 s.
    let r = run(include_str!("../../../scenarios/auth.toml"));
    let aborted = r
        .timeline
        .milestones
        .iter()
        .filter(|m| m.node == "replica" && m.what == Milestone::FullSyncAborted.name())
        .count();
    assert!(aborted > 1000, "{aborted}");
    let charts = charts(&r).unwrap();
    let c = chart(&charts, "lag");
    let els = elements(&c.svg);
    let want = format!("×{}", series::thousands(aborted as u64));
    assert!(texts(&els).contains(&want.as_str()), "{want} in the lane");
    // Two crosses (two strokes each) at the run's ends, not thousands.
    let color = hex(c_color(&r, "replica"));
    let crosses = els
        .iter()
        .filter(|e| e.tag == "line" && e.color() == Some(&color))
        .count();
    assert!(crosses < 20, "{crosses} cross strokes");
    check_inside("auth/lag", &c.svg);
}

#[test]
fn sentinel_marks_a_failover_once_per_kind_not_once_per_sentinel() {
    let mark = |t_ms: f64, sentinel: &str, kind: &str, message: &str| super::SentinelMark {
        t_ms,
        sentinel: sentinel.into(),
        kind: kind.into(),
        message: message.into(),
    };
    let events = [
        mark(
            0.0,
            "s1",
            "+monitor",
            "master mymaster 10.0.0.1 6379 quorum 2",
        ),
        mark(25_740.0, "s2", "+sdown", "master mymaster 10.0.0.1 6379"),
        mark(25_800.0, "s3", "+sdown", "master mymaster 10.0.0.1 6379"),
        // A replica's or a Sentinel's subjective down is not the master's.
        mark(
            25_900.0,
            "s1",
            "+sdown",
            "slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster",
        ),
        mark(
            25_990.0,
            "s3",
            "+odown",
            "master mymaster 10.0.0.1 6379 #quorum 2/2",
        ),
        mark(
            26_960.0,
            "s2",
            "+odown",
            "master mymaster 10.0.0.1 6379 #quorum 2/2",
        ),
        mark(
            27_060.0,
            "s2",
            "+switch-master",
            "mymaster 10.0.0.1 6379 10.0.0.3 6379",
        ),
        mark(
            28_100.0,
            "s3",
            "+switch-master",
            "mymaster 10.0.0.1 6379 10.0.0.3 6379",
        ),
        mark(
            50_290.0,
            "s1",
            "+switch-master",
            "mymaster 10.0.0.1 6379 10.0.0.3 6379",
        ),
        mark(
            60_300.0,
            "s3",
            "+convert-to-slave",
            "slave 10.0.0.1:6379 @ mymaster",
        ),
        mark(
            70_000.0,
            "s2",
            "-failover-abort-no-good-slave",
            "master mymaster",
        ),
    ];
    let marks = |failovers: &[(f64, f64)]| -> Vec<(String, f64)> {
        super::sentinel_marks(&events, failovers)
            .into_iter()
            .map(|f| (f.label, f.start))
            .collect()
    };
    // With no failover window in the lane, the objective down and the switch are marked.
    let alone = marks(&[]);
    assert_eq!(alone[1], ("Sentinel +odown".to_string(), 25.99));
    assert_eq!(alone[2], ("Sentinel +switch-master".to_string(), 27.06));
    // Inside the window of the failover they belong to, they are not marked again.
    let marks = marks(&[(25.99, 28.1)]);
    let want = [
        ("Sentinel +sdown", 25.74),
        // The minority's switch after the heal is outside the window: it is marked.
        ("Sentinel +switch-master", 50.29),
        ("Sentinel +convert-to-slave", 60.3),
        ("Sentinel -failover-abort-no-good-slave", 70.0),
    ];
    assert_eq!(marks.len(), want.len(), "{marks:?}");
    for ((label, t), (wl, wt)) in marks.iter().zip(want) {
        assert_eq!(label, wl);
        assert!((t - wt).abs() < 1e-9, "{label} at {t}, want {wt}");
    }
}

#[test]
fn the_lag_chart_of_a_sentinel_failover_marks_it_in_the_fault_lane() {
    let r = run(include_str!("../../../scenarios/sentinel-partition.toml"));
    let charts = charts(&r).unwrap();
    let lag = chart(&charts, "lag");
    let els = elements(&lag.svg);
    let t = texts(&els);
    for label in [
        "split",
        "Sentinel +sdown",
        "Sentinel +switch-master",
        "Sentinel +convert-to-slave",
    ] {
        assert!(t.contains(&label), "{label} is in the lane: {t:?}");
    }
    check_inside("lag", &lag.svg);
}

/// A 16 MB dataset over an 8 Mbit/s link with 1 MB/s of writes, under limits low enough to be on
/// the scale of what the buffers hold; `extra` adds directives to `[defaults]`.
fn small_sync(name: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nduration = \"40s\"\n\
         [defaults]\nclient-output-buffer-limit = \"replica 32mb 0 0\"\n{extra}\
         [[link]]\nbetween = [\"master\", \"replica\"]\nbandwidth = \"8mbit\"\n\
         [[node]]\nname = \"master\"\n[node.data]\nbulk_size = \"16mb\"\nbulk_value_size = \"1kb\"\n\
         [[node]]\nname = \"replica\"\nreplicaof = \"master\"\n\
         [[workload]]\ntarget = \"master\"\nrate = 1000\nvalue_size = \"1kb\"\nkeys = 5000\n"
    )
}

fn classic_and_dual() -> (Report, Report) {
    let dual = "redis-version = \"valkey-8.1\"\ndual-channel-replication-enabled = \"yes\"\n";
    (
        run(&small_sync("classic", "")),
        run(&small_sync("dual", dual)),
    )
}

#[test]
fn side_by_side_each_column_draws_its_own_runs_series_on_one_time_axis() {
    let (a, b) = classic_and_dual();
    let [left, right] = super::beside::runs(&a, &b).unwrap();
    let obuf = |r: &Report| r.timeline.nodes["master"].replica_obuf["replica"].clone();
    for (col, r) in [(&left, &a), (&right, &b)] {
        let drawn: Vec<(&str, &str, Vec<Option<u64>>)> = col
            .obuf
            .iter()
            .map(|(m, rep, v)| (*m, *rep, v.to_vec()))
            .collect();
        assert_eq!(drawn, [("master", "replica", obuf(r))], "{}", r.scenario);
        let lag: Vec<&str> = col.lag.iter().map(|(n, _)| *n).collect();
        assert_eq!(lag, ["replica"], "{}", r.scenario);
        assert_eq!(col.d.x_max, 40.0);
    }
    // Only the dual-channel replica held the stream itself, and the chart draws what it held.
    assert!(left.local.is_empty(), "the classic replica holds no stream");
    let held: Vec<u64> = b.timeline.nodes["replica"].local_repl_buffer.clone();
    assert!(held.iter().any(|&x| x > 0), "the dual-channel run buffered");
    let drawn: Vec<u64> = right.local[0].1.iter().map(|x| x.unwrap()).collect();
    assert_eq!((right.local[0].0, drawn), ("replica", held));
    assert!(
        left.subtitle.starts_with("classic sync"),
        "{}",
        left.subtitle
    );
    assert!(
        right.subtitle.starts_with("dual-channel sync"),
        "{}",
        right.subtitle
    );
}

#[test]
fn side_by_side_a_chain_is_measured_from_its_top_and_says_so() {
    let r = run(CHAINED);
    let text = texts(&elements(&beside(&r, &r).unwrap().svg)).join("\n");
    assert!(text.contains(super::beside::LAG_TOP_LABEL), "{text}");
    assert!(text.contains("C behind the top of its chain"), "{text}");
    assert!(!text.contains(super::beside::LAG_LABEL), "{text}");
    assert!(!text.contains("behind its master"), "{text}");
}

#[test]
fn side_by_side_rows_share_one_scale_and_nothing_leaves_its_panel() {
    let (a, b) = classic_and_dual();
    let c = beside(&a, &b).unwrap();
    let inside = check_inside("beside", &c.svg);
    assert!(inside > 0, "nothing was drawn in a plot area");
    check_pixels("beside", &c);
    let els = elements(&c.svg);
    let text = texts(&els).join("\n");
    for label in [
        "classic",
        "dual",
        super::beside::OBUF_LABEL,
        super::beside::LOCAL_LABEL,
        super::beside::LAG_LABEL,
    ] {
        assert!(text.contains(label), "{label} missing from:\n{text}");
    }
    let legend = legend_text(&els).replace('\u{a0}', " ");
    assert!(
        legend.contains("effective hard limit: 32.0 MB in both"),
        "{legend}"
    );
    assert!(!legend.contains("… and"), "a legend cut short: {legend}");
    // Two plot areas per row, side by side at the same height: three rows.
    let plots = areas(&els, PLOT_BG);
    assert_eq!(plots.len(), 6, "{plots:?}");
    for pair in plots.chunks(2) {
        assert_eq!((pair[0].y0, pair[0].y1), (pair[1].y0, pair[1].y1));
        assert!(pair[0].x1 < pair[1].x0, "the columns overlap: {pair:?}");
    }
    // The master's hard limit is the same 32 MB in both runs: its line is at one height in
    // both columns. Axes and ticks are black too, but lie on the plot's edge or outside it.
    let hard: Vec<(usize, f64)> = els
        .iter()
        .filter(|e| e.tag == "polyline" && e.attr("stroke") == Some(&hex(LIMIT_HARD)))
        .filter_map(|e| {
            let p = e.points();
            let column = plots[..2].iter().position(|a| {
                p.iter()
                    .all(|&(x, y)| a.holds((x, y), 1.0) && a.y0 < y && y < a.y1)
            })?;
            Some((column, p[0].1))
        })
        .collect();
    assert_eq!(hard.len(), 2, "{hard:?}");
    assert_eq!((hard[0].0, hard[1].0), (0, 1), "{hard:?}");
    assert_eq!(hard[0].1, hard[1].1, "{hard:?}");
    // The lag peaks far apart in the two runs; on one scale per row both columns read the same
    // ticks, where a scale per column would stretch the smaller peak to the same height.
    let lag_max = |r: &Report| {
        r.timeline.nodes["replica"]
            .lag_bytes_top
            .iter()
            .flatten()
            .max()
            .copied()
            .unwrap()
    };
    let (la, lb) = (lag_max(&a), lag_max(&b));
    assert!(la.max(lb) > la.min(lb) * 3 / 2, "{la} {lb}");
    let (left, right) = (plots[4], plots[5]);
    let ticks = |x0: f64, x1: f64| -> Vec<&str> {
        els.iter()
            .filter(|e| e.tag == "text" && x0 < e.num("x") && e.num("x") < x1)
            .filter(|e| left.y0 - 1.0 <= e.num("y") && e.num("y") <= left.y1 + 1.0)
            .map(|e| e.text.as_str())
            .collect()
    };
    let left_ticks = ticks(0.0, left.x0);
    assert!(left_ticks.len() >= 4, "{left_ticks:?}");
    assert_eq!(left_ticks, ticks(left.x1, right.x0));
}

#[test]
fn side_by_side_refuses_runs_with_other_replicas() {
    let (a, mut b) = classic_and_dual();
    let tl = &mut b.timeline;
    let replica = tl.nodes.remove("replica").unwrap();
    tl.nodes.insert("replica-2".into(), replica);
    let master = tl.nodes.get_mut("master").unwrap();
    let obuf = master.replica_obuf.remove("replica").unwrap();
    master.replica_obuf.insert("replica-2".into(), obuf);
    let e = beside(&a, &b).err().unwrap();
    assert!(
        e.contains("different replicas (classic: replica; dual: replica-2)"),
        "{e}"
    );
}

#[test]
fn limits_the_same_in_both_runs_are_listed_once() {
    use super::frame::{Entry, Glyph};
    let e = |t: &str| Entry::new(Glyph::None, t);
    let merged = super::beside::merge_limits([
        vec![e("soft limit: 64 MB"), e("effective hard limit: 256 MB")],
        vec![
            e("soft limit: 64 MB"),
            e("effective hard limit: 1.0 GB"),
            e("configured hard limit: 2 MB"),
        ],
    ]);
    let texts: Vec<&str> = merged.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "soft limit: 64 MB in both",
            "effective hard limit: 256 MB left, 1.0 GB right",
            "configured hard limit: 2 MB right only",
        ]
    );
}
