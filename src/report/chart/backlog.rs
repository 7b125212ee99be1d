//! The backlog chart: each node's `repl_backlog_histlen` against `repl-backlog-size`, and each
//! replica's output buffer on its master against `client-output-buffer-limit replica`. Limits
//! are step series sampled with the data, so a CONFIG SET shows where it happened; the hard
//! limit drawn is the one Redis enforces (raised to the backlog size when lower), with the
//! configured one beside it where they differ.

use plotters::prelude::{DrawingBackend, RGBColor};

use super::frame::{
    self, draw_legend, draw_series, draw_steps, Area, Entry, Glyph, LIMIT_CONFIGURED, LIMIT_HARD,
    LIMIT_SOFT,
};
use super::series::{byte_unit, human_bytes, tick};
use super::{gappy, limits_at, Data, LimitsFrom, NodeTimeline};

const PANEL_H: u32 = 380;

pub fn heights(d: &Data) -> Vec<u32> {
    let mut h: Vec<u32> = d.fault_lane().into_iter().collect();
    h.extend([PANEL_H, PANEL_H]);
    h
}

/// A limit as drawn: whose (`None` when every owner's agrees), what, and its value at each
/// sample (`None` where it does not apply).
pub(super) struct Limit {
    owner: Option<String>,
    what: &'static str,
    color: RGBColor,
    pub(super) values: Vec<Option<u64>>,
}

/// One kind of limit over its owners: a single series in the kind's colour if they agree
/// wherever two are up, else one per owner in the owner's colour.
pub(super) fn limit_series(
    d: &Data,
    owners: &[(&str, &NodeTimeline)],
    what: &'static str,
    color: RGBColor,
    value: &dyn Fn(&LimitsFrom) -> Option<u64>,
) -> Vec<Limit> {
    let samples = d.t.len();
    let t_ms = &d.report.timeline.t_ms;
    let per_owner: Vec<Vec<Option<u64>>> = owners
        .iter()
        .map(|(_, n)| {
            let limits = limits_at(&n.limits, t_ms);
            (0..samples)
                .map(|k| limits[k].filter(|_| n.up[k]).and_then(value))
                .collect()
        })
        .collect();
    let agree = (0..samples).all(|k| {
        let mut present = per_owner.iter().filter_map(|v| v[k]);
        let first = present.next();
        present.all(|v| Some(v) == first)
    });
    if agree {
        let merged = (0..samples)
            .map(|k| per_owner.iter().find_map(|v| v[k]))
            .collect();
        return vec![Limit {
            owner: None,
            what,
            color,
            values: merged,
        }];
    }
    owners
        .iter()
        .zip(per_owner)
        .map(|((name, _), values)| Limit {
            owner: Some(name.to_string()),
            what,
            color: d.color(name),
            values,
        })
        .collect()
}

/// "256 MB (off scale) → 1.0 MB": the values a limit takes, in order (at most four), those
/// above `max` (in bytes) marked as off the scale.
fn values_text(values: &[Option<u64>], max: f64) -> String {
    let mut seen: Vec<u64> = Vec::new();
    for v in values.iter().flatten() {
        if seen.last() != Some(v) {
            seen.push(*v);
        }
    }
    let mut parts: Vec<String> = seen
        .iter()
        .take(4)
        .map(|&v| {
            // No-break spaces keep a value and its unit on one line of the legend.
            let off = if v as f64 > max {
                "\u{a0}(off\u{a0}scale)"
            } else {
                ""
            };
            format!("{}{off}", human_bytes(v as f64).replace(' ', "\u{a0}"))
        })
        .collect();
    if seen.len() > 4 {
        parts.push("…".into());
    }
    parts.join(" → ")
}

/// Draws `limits` and returns their legend entries; a value above the axis is named in the
/// legend and not drawn.
pub(super) fn draw_limits<DB: DrawingBackend>(
    chart: &mut frame::Chart2d<'_, DB>,
    d: &Data,
    limits: &[Limit],
    div: f64,
    y_max: f64,
) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for l in limits
        .iter()
        .filter(|l| l.values.iter().any(Option::is_some))
    {
        let ys = gappy(&l.values, div);
        draw_steps(chart, &d.t, &ys, l.color, 2)?;
        let owner = l
            .owner
            .as_ref()
            .map_or(String::new(), |o| format!(" on {o}"));
        entries.push(Entry::new(
            Glyph::Line(l.color, 2),
            format!("{}{owner}: {}", l.what, values_text(&l.values, y_max * div)),
        ));
    }
    Ok(entries)
}

pub fn draw<DB: DrawingBackend>(root: &Area<DB>, d: &Data, heights: &[u32]) -> Result<(), String> {
    let rows = frame::rows(
        root,
        &d.title("backlog and replica output buffers"),
        heights,
    )?;
    let mut rows = rows.iter();
    if d.fault_lane().is_some() {
        let (area, legend) = rows.next().ok_or("no row for the fault lane")?;
        frame::fault_lane(area, legend, &d.faults, d.x_max)?;
    }

    // Top: repl_backlog_histlen against repl-backlog-size.
    let (area, legend) = rows.next().ok_or("no row for the backlog panel")?;
    let with_backlog: Vec<(&str, &NodeTimeline)> = d
        .nodes
        .iter()
        .filter(|(_, n)| n.backlog_histlen.iter().any(|&h| h > 0))
        .copied()
        .collect();
    let sizes = limit_series(d, &with_backlog, "repl-backlog-size", LIMIT_HARD, &|l| {
        Some(l.repl_backlog_size)
    });
    let raw_max = with_backlog
        .iter()
        .flat_map(|(_, n)| n.backlog_histlen.iter().copied())
        .chain(
            sizes
                .iter()
                .flat_map(|l| l.values.iter().flatten().copied()),
        )
        .fold(1024u64, u64::max) as f64;
    let (div, unit) = byte_unit(raw_max);
    let y_max = raw_max / div * 1.15;
    let mut chart = frame::panel(
        area,
        d.x_max,
        (0.0, y_max),
        &format!("repl_backlog_histlen ({unit})"),
        &|v| tick(*v, y_max),
        &d.faults,
    )?;
    let mut entries = Vec::new();
    for (i, (name, n)) in with_backlog.iter().enumerate() {
        let c = d.color(name);
        let ys: Vec<Option<f64>> = n
            .backlog_histlen
            .iter()
            .map(|&h| Some(h as f64 / div))
            .collect();
        let glyph = draw_series(
            &mut chart,
            &d.t,
            &ys,
            c,
            frame::stroke(i, with_backlog.len()),
        )?;
        let max = n.backlog_histlen.iter().max().copied().unwrap_or(0);
        entries.push(Entry::new(
            glyph,
            format!("{name} backlog: up to {}", human_bytes(max as f64)),
        ));
    }
    entries.extend(draw_limits(&mut chart, d, &sizes, div, y_max)?);
    draw_legend(legend, &entries)?;

    // Bottom: each replica's output buffer on its master, against the limits.
    let (area, legend) = rows.next().ok_or("no row for the buffer panel")?;
    let buffers = output_buffers(d);
    let limits = obuf_limits(d);
    // A dual-channel replica holds the stream of its full sync itself: its local buffer is
    // drawn beside the output buffers, the same bytes on the other side of the link.
    let locals = local_buffers(d);
    let data_max = buffers
        .iter()
        .flat_map(|(_, _, v)| v.iter().flatten().copied())
        .chain(locals.iter().flat_map(|(_, v)| v.iter().flatten().copied()))
        .fold(0, u64::max);
    let (div, unit, y_max) = byte_scale(data_max, limit_values(&limits));
    let title = if locals.is_empty() {
        format!("replica output buffer on master ({unit})")
    } else {
        format!("replica output buffer on master, local buffer on replica ({unit})")
    };
    let mut chart = frame::panel(
        area,
        d.x_max,
        (0.0, y_max),
        &title,
        &|v| tick(*v, y_max),
        &d.faults,
    )?;
    let mut entries = Vec::new();
    for (i, (m, r, v)) in buffers.iter().enumerate() {
        let c = d.color(r);
        let glyph = draw_series(
            &mut chart,
            &d.t,
            &gappy(v, div),
            c,
            frame::stroke(i, buffers.len()),
        )?;
        let max = v.iter().flatten().max().copied().unwrap_or(0);
        entries.push(Entry::new(
            glyph,
            format!("{r} on {m}: up to {}", human_bytes(max as f64)),
        ));
    }
    let strokes = buffers.len() + locals.len();
    for (i, (r, v)) in locals.iter().enumerate() {
        let glyph = draw_series(
            &mut chart,
            &d.t,
            &gappy(v, div),
            local_color(d, r),
            frame::stroke(buffers.len() + i, strokes),
        )?;
        let max = v.iter().flatten().max().copied().unwrap_or(0);
        entries.push(Entry::new(
            glyph,
            format!(
                "{r}'s local buffer (dual channel): up to {}",
                human_bytes(max as f64)
            ),
        ));
    }
    entries.extend(draw_limits(&mut chart, d, &limits, div, y_max)?);
    draw_legend(legend, &entries)
}

/// Each replica's output buffer on a master, as `(master, replica, bytes per sample)`.
pub(super) fn output_buffers<'a>(d: &Data<'a>) -> Vec<(&'a str, &'a str, &'a [Option<u64>])> {
    d.nodes
        .iter()
        .flat_map(|(m, n)| {
            n.replica_obuf
                .iter()
                .map(move |(r, v)| (*m, r.as_str(), v.as_slice()))
        })
        .collect()
}

/// The limits on the replicas' output buffers, of the masters that held any: the hard limit
/// Redis enforces, the configured one where it differs, and the soft limit.
pub(super) fn obuf_limits(d: &Data) -> Vec<Limit> {
    let owners: Vec<(&str, &NodeTimeline)> = d
        .nodes
        .iter()
        .filter(|(_, n)| !n.replica_obuf.is_empty())
        .copied()
        .collect();
    let nonzero = |v: u64| (v > 0).then_some(v);
    let mut limits = limit_series(d, &owners, "effective hard limit", LIMIT_HARD, &|l| {
        nonzero(l.obuf_hard_limit_effective)
    });
    limits.extend(limit_series(
        d,
        &owners,
        "configured hard limit",
        LIMIT_CONFIGURED,
        &|l| {
            let configured = l.obuf_hard_limit_configured;
            (configured != l.obuf_hard_limit_effective).then_some(configured)
        },
    ));
    limits.extend(limit_series(d, &owners, "soft limit", LIMIT_SOFT, &|l| {
        nonzero(l.obuf_soft_limit)
    }));
    limits
}

/// Each node's local buffer of the stream during a dual-channel full sync, for the nodes that
/// ever held any, as `(node, bytes per sample)`.
pub(super) fn local_buffers<'a>(d: &Data<'a>) -> Vec<(&'a str, Vec<Option<u64>>)> {
    d.nodes
        .iter()
        .filter(|(_, n)| !n.local_repl_buffer.is_empty())
        .map(|(name, n)| {
            (
                *name,
                n.local_repl_buffer.iter().map(|&b| Some(b)).collect(),
            )
        })
        .collect()
}

/// The colour of node `name`'s local buffer: its own colour, darker, as it is the same node on
/// the other side of the link from its output buffer on the master, drawn in the plain colour.
fn local_color(d: &Data, name: &str) -> RGBColor {
    let RGBColor(red, green, blue) = d.color(name);
    let darker = |x: u8| (u16::from(x) * 11 / 20) as u8;
    RGBColor(darker(red), darker(green), darker(blue))
}

/// The scale of a byte axis for data up to `data_max` bytes against limits taking the values
/// `limits`: its unit's divisor,
/// the unit, and the axis's top in that unit. A limit far above the data would flatten it; one
/// within four times the data's peak is kept on the scale, the others are named in the legend
/// only.
pub(super) fn byte_scale(
    data_max: u64,
    limits: impl Iterator<Item = u64>,
) -> (f64, &'static str, f64) {
    let data_max = data_max.max(1024) as f64;
    let limit_max = limits
        .map(|v| v as f64)
        .filter(|&l| l < data_max * 4.0)
        .fold(0.0f64, f64::max);
    let (div, unit) = byte_unit(data_max.max(limit_max));
    (div, unit, data_max.max(limit_max) / div * 1.15)
}

/// Every value `limits` take, in bytes.
pub(super) fn limit_values(limits: &[Limit]) -> impl Iterator<Item = u64> + '_ {
    limits
        .iter()
        .flat_map(|l| l.values.iter().flatten().copied())
}
