//! The HTML report: one self-contained page that opens offline. Styles are inline, charts are
//! inline SVG, there is no script, no font file and no link to anything outside the page, so
//! the file can be mailed, attached to a CI run or opened from a USB stick and read the same.
//!
//! A page is built as data ([`Page`]: sections of paragraphs, tables, preformatted text, SVG
//! and folded blocks) and rendered by one function, [`render`], which escapes every text it is
//! given. [`run_page`] builds the page of one run from its report, its charts' SVG and its
//! nodes' logs; other pages (a sweep's) build their own [`Page`] and call [`render`] too.

use std::fmt::Write as _;

use super::summary::{self, group};
use super::{NodeReport, Report};

/// A whole page: a title, facts under it, an optional verdict banner, and sections.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub title: String,
    /// Short lines under the title (seed, trace hash, how to reproduce).
    pub facts: Vec<String>,
    /// Paragraphs of description under the facts.
    pub description: String,
    pub verdict: Option<Verdict>,
    pub sections: Vec<Section>,
}

/// The banner at the top: green when `ok`, red otherwise, with the reasons under it.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub ok: bool,
    pub headline: String,
    pub reasons: Vec<String>,
}

/// A titled part of the page.
#[derive(Clone, Debug)]
pub struct Section {
    pub heading: String,
    pub blocks: Vec<Block>,
}

/// What a section holds. Text is escaped when rendered; SVG is put in the page as it is, so it
/// must come from replsim's own drawing code, never from a user's input.
#[derive(Clone, Debug)]
pub enum Block {
    Paragraph(String),
    /// Preformatted text in a fixed-width font (a summary, a log).
    Pre(String),
    Table(Table),
    /// A drawing with a caption.
    Svg {
        caption: String,
        svg: String,
    },
    /// Blocks folded away under a one-line summary, opened with a click.
    Folded {
        summary: String,
        blocks: Vec<Block>,
    },
}

/// A table; each cell may carry a mark that colours it.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub text: String,
    pub mark: Mark,
}

/// How a cell is coloured.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Mark {
    #[default]
    None,
    Ok,
    Fail,
    Warn,
    /// Fixed-width text (hashes, commands).
    Code,
}

impl Mark {
    fn class(self) -> &'static str {
        match self {
            Mark::None => "",
            Mark::Ok => " class=\"ok\"",
            Mark::Fail => " class=\"fail\"",
            Mark::Warn => " class=\"warn\"",
            Mark::Code => " class=\"code\"",
        }
    }
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            mark: Mark::None,
        }
    }

    pub fn marked(text: impl Into<String>, mark: Mark) -> Cell {
        Cell {
            text: text.into(),
            mark,
        }
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root { color-scheme: light; }
body { margin: 0; background: #f4f5f7; color: #1d2125; font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 1px solid #dfe1e6; }
section { background: #fff; border: 1px solid #dfe1e6; border-radius: 6px; padding: 16px 20px; margin: 16px 0; }
.facts { color: #44546f; margin: 0 0 10px; }
.facts span { margin-right: 18px; white-space: nowrap; }
.facts code, td.code, pre, code { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 13px; }
.description p { margin: 6px 0; max-width: 980px; }
.verdict { border-radius: 6px; padding: 12px 18px; margin: 16px 0; color: #fff; }
.verdict.ok { background: #1f845a; }
.verdict.fail { background: #c9372c; }
.verdict strong { font-size: 20px; }
.verdict ul { margin: 6px 0 0; padding-left: 20px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th { text-align: left; background: #f1f2f4; font-weight: 600; }
th.num { text-align: right; }
th, td { padding: 5px 10px; border-bottom: 1px solid #ebecf0; vertical-align: top; }
tr:nth-child(even) td { background: #fafbfc; }
td.ok { color: #1f845a; font-weight: 600; }
td.fail { color: #c9372c; font-weight: 600; }
td.warn { color: #a54800; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 8px 0 20px; }
figure svg { display: block; width: 100%; height: auto; border: 1px solid #ebecf0; border-radius: 4px; background: #fff; }
figcaption { font-weight: 600; margin-bottom: 6px; }
details { margin: 6px 0; border: 1px solid #ebecf0; border-radius: 4px; padding: 4px 10px; background: #fafbfc; }
details > summary { cursor: pointer; font-weight: 600; padding: 4px 0; }
details[open] > summary { margin-bottom: 6px; }
pre { background: #f7f8f9; border: 1px solid #ebecf0; border-radius: 4px; padding: 8px 10px; overflow: auto; max-height: 520px; margin: 6px 0; white-space: pre; }
.scroll { max-height: 520px; overflow: auto; }
footer { color: #626f86; font-size: 13px; margin-top: 24px; }
";

/// Renders `page` as one HTML document.
pub fn render(page: &Page) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<header>\n<h1>{}</h1>\n",
        escape(&page.title),
        escape(&page.title)
    );
    if !page.facts.is_empty() {
        s.push_str("<p class=\"facts\">");
        for f in &page.facts {
            let _ = write!(s, "<span>{}</span>", escape(f));
        }
        s.push_str("</p>\n");
    }
    if !page.description.trim().is_empty() {
        s.push_str("<div class=\"description\">");
        for para in page.description.split("\n\n") {
            let _ = write!(s, "<p>{}</p>", escape(para.trim()));
        }
        s.push_str("</div>\n");
    }
    s.push_str("</header>\n");
    if let Some(v) = &page.verdict {
        let _ = write!(
            s,
            "<div class=\"verdict {}\" id=\"verdict\"><strong>{}</strong>",
            if v.ok { "ok" } else { "fail" },
            escape(&v.headline)
        );
        if !v.reasons.is_empty() {
            s.push_str("<ul>");
            for r in &v.reasons {
                let _ = write!(s, "<li>{}</li>", escape(r));
            }
            s.push_str("</ul>");
        }
        s.push_str("</div>\n");
    }
    for (k, sec) in page.sections.iter().enumerate() {
        let _ = write!(
            s,
            "<section id=\"{}\">\n<h2>{}</h2>\n",
            anchor(&sec.heading, k),
            escape(&sec.heading)
        );
        let mut svg_count = 0;
        for b in &sec.blocks {
            block(&mut s, b, k, &mut svg_count);
        }
        s.push_str("</section>\n");
    }
    s.push_str("<footer>Written by replsim. This page holds everything it shows: no scripts, fonts or images are loaded from elsewhere.</footer>\n</main>\n</body>\n</html>\n");
    s
}

/// A section's id: its heading in lower case with dashes, unique by its position.
fn anchor(heading: &str, k: usize) -> String {
    let mut id: String = heading
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    id = id.trim_matches('-').to_string();
    if id.is_empty() {
        id = format!("section-{k}");
    }
    id
}

fn block(s: &mut String, b: &Block, section: usize, svg_count: &mut usize) {
    match b {
        Block::Paragraph(t) => {
            let _ = writeln!(s, "<p>{}</p>", escape(t));
        }
        Block::Pre(t) => {
            let _ = writeln!(s, "<pre>{}</pre>", escape(t));
        }
        Block::Table(t) => table(s, t),
        Block::Svg { caption, svg } => {
            *svg_count += 1;
            let prefix = format!("s{section}-{svg_count}-");
            let _ = writeln!(
                s,
                "<figure><figcaption>{}</figcaption>\n{}\n</figure>",
                escape(caption),
                inline_svg(svg, &prefix)
            );
        }
        Block::Folded { summary, blocks } => {
            let _ = writeln!(s, "<details><summary>{}</summary>", escape(summary));
            for inner in blocks {
                block(s, inner, section, svg_count);
            }
            s.push_str("</details>\n");
        }
    }
}

fn table(s: &mut String, t: &Table) {
    let wide = t.rows.len() > 40;
    if wide {
        s.push_str("<div class=\"scroll\">");
    }
    // A column of figures is aligned right, its heading with it.
    let numeric: Vec<bool> = (0..t.header.len())
        .map(|k| {
            let cells = t.rows.iter().filter_map(|r| r.get(k));
            let blank = |c: &Cell| c.text.is_empty() || c.text == "-";
            cells.clone().any(|c| !blank(c))
                && cells
                    .clone()
                    .all(|c| blank(c) || (c.mark == Mark::None && looks_numeric(&c.text)))
        })
        .collect();
    s.push_str("<table>\n<thead><tr>");
    for (k, h) in t.header.iter().enumerate() {
        let class = if numeric[k] { " class=\"num\"" } else { "" };
        let _ = write!(s, "<th{class}>{}</th>", escape(h));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        s.push_str("<tr>");
        for (k, c) in row.iter().enumerate() {
            let class = if numeric.get(k).copied().unwrap_or(false) {
                " class=\"num\""
            } else {
                c.mark.class()
            };
            let _ = write!(s, "<td{class}>{}</td>", escape(&c.text));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    if wide {
        s.push_str("</div>\n");
    }
}

/// A figure the table aligns right: digits with separators, a sign, a unit.
fn looks_numeric(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
        && t.chars().filter(char::is_ascii_digit).count() * 2
            >= t.chars().filter(|c| !c.is_whitespace()).count()
}

/// An SVG document as an element of the page: without an XML declaration or doctype, with its
/// ids (and the references to them) prefixed so two drawings on one page never share one.
fn inline_svg(svg: &str, prefix: &str) -> String {
    let mut body = svg.trim();
    while body.starts_with("<?") || body.starts_with("<!") {
        match body.find('>') {
            Some(end) => body = body[end + 1..].trim_start(),
            None => break,
        }
    }
    body.replace(" id=\"", &format!(" id=\"{prefix}"))
        .replace("url(#", &format!("url(#{prefix}"))
        .replace("href=\"#", &format!("href=\"#{prefix}"))
}

/// What [`run_page`] draws from besides the report.
pub struct RunInputs<'a> {
    pub report: &'a Report,
    /// The scenario file, for the line that reproduces the run.
    pub source: Option<&'a str>,
    /// Each chart's name and SVG, in the order to show them.
    pub charts: &'a [(&'a str, &'a str)],
    /// Each node's name and log text.
    pub logs: &'a [(&'a str, &'a str)],
}

/// The most log lines of one node the page shows; the rest are in its `.log` file.
pub const LOG_LINES_SHOWN_MAX: usize = 5_000;
/// The most timeline events the table lists.
pub const TIMELINE_ROWS_MAX: usize = 2_000;

/// The page of one run: the verdict, expectations, violations, checks, nodes, workloads,
/// charts, the fault and milestone timeline, operator commands, each node's log folded away,
/// and the text summary.
pub fn run_page(inputs: &RunInputs) -> String {
    let r = inputs.report;
    let mut facts = vec![
        format!("seed {}", r.seed),
        format!("trace {}", r.trace_hash),
        format!("{:.3} s simulated", r.sim_time_us as f64 / 1e6),
        format!("{} events", group(r.events)),
    ];
    if let Some(src) = inputs.source {
        facts.push(format!("reproduce: replsim run {src} --seed {}", r.seed));
    }
    let mut sections = vec![expectations_section(r), checks_section(r), nodes_section(r)];
    if !r.workloads.is_empty() {
        sections.push(workloads_section(r));
    }
    if !inputs.charts.is_empty() {
        sections.push(Section {
            heading: "Charts".into(),
            blocks: inputs
                .charts
                .iter()
                .map(|(name, svg)| Block::Svg {
                    caption: chart_caption(name),
                    svg: (*svg).to_string(),
                })
                .collect(),
        });
    }
    sections.push(timeline_section(r));
    if !inputs.logs.is_empty() {
        sections.push(logs_section(inputs.logs));
    }
    sections.push(Section {
        heading: "Text summary".into(),
        blocks: vec![Block::Folded {
            summary: "summary.txt, as `replsim run` prints it".into(),
            blocks: vec![Block::Pre(summary::render(r))],
        }],
    });
    render(&Page {
        title: format!("replsim: {}", r.scenario),
        facts,
        description: r.description.clone(),
        verdict: Some(verdict(r)),
        sections,
    })
}

/// The heading over chart `name`: what it shows, in a sentence. Every chart the chart module
/// draws has one; a name it does not know (a chart added later) is shown as it is.
fn chart_caption(name: &str) -> String {
    match name {
        // Where replicas chain, this chart measures each against the top of its chain, so the
        // caption does not say "its master".
        "lag" => "Replication lag: how far behind each replica is, with syncs and faults".into(),
        "lag-hops" => {
            "Replication lag hop by hop: each replica against the node it replicates from".into()
        }
        "backlog" => {
            "Backlog and replica output buffers on each master, against their limits".into()
        }
        "availability" => "Availability: writes accepted and refused over time".into(),
        "writes" => {
            "Acknowledged writes: kept above the axis, lost below, by the node that took them"
                .into()
        }
        "staleness" => {
            "Stale reads: how stale they were, per node that served them (a CDF, log time)".into()
        }
        other => other.to_string(),
    }
}

fn verdict(r: &Report) -> Verdict {
    let mut reasons = Vec::new();
    if let Some(line) = summary::stopped_early(r) {
        reasons.push(line);
    }
    for e in r.expectations.iter().filter(|e| !e.ok) {
        reasons.push(format!(
            "expectation failed: {} (actual {}, line {})",
            e.expect, e.actual, e.line
        ));
    }
    for v in r.violations.iter().filter(|v| !v.expected) {
        reasons.push(format!(
            "unexpected violation: {}: {}",
            v.checker, v.message
        ));
    }
    let passed = r.expectations.iter().filter(|e| e.ok).count();
    let headline = if r.ok {
        format!(
            "OK: {passed} of {} expectations held, no unexpected violation",
            r.expectations.len()
        )
    } else {
        "FAILED".to_string()
    };
    Verdict {
        ok: r.ok,
        headline,
        reasons,
    }
}

fn ok_cell(ok: bool) -> Cell {
    if ok {
        Cell::marked("ok", Mark::Ok)
    } else {
        Cell::marked("FAIL", Mark::Fail)
    }
}

fn expectations_section(r: &Report) -> Section {
    let mut blocks = Vec::new();
    if r.expectations.is_empty() {
        blocks.push(Block::Paragraph(
            "The scenario has no [expect] block.".into(),
        ));
    } else {
        blocks.push(Block::Table(Table {
            header: vec![
                "".into(),
                "expectation".into(),
                "actual".into(),
                "line".into(),
            ],
            rows: r
                .expectations
                .iter()
                .map(|e| {
                    vec![
                        ok_cell(e.ok),
                        Cell::marked(&e.expect, Mark::Code),
                        Cell::marked(e.actual.to_string(), Mark::Code),
                        Cell::text(e.line.to_string()),
                    ]
                })
                .collect(),
        }));
    }
    if !r.violations.is_empty() {
        blocks.push(Block::Paragraph("Violations the checkers found:".into()));
        blocks.push(Block::Table(Table {
            header: vec!["".into(), "checker".into(), "finding".into()],
            rows: r
                .violations
                .iter()
                .map(|v| {
                    vec![
                        if v.expected {
                            Cell::marked("expected", Mark::Warn)
                        } else {
                            Cell::marked("UNEXPECTED", Mark::Fail)
                        },
                        Cell::text(&v.checker),
                        Cell::text(&v.message),
                    ]
                })
                .collect(),
        }));
    }
    Section {
        heading: "Expectations and violations".into(),
        blocks,
    }
}

fn checks_section(r: &Report) -> Section {
    let c = &r.checks;
    let violated = |name: &str| r.violations.iter().find(|v| v.checker == name);
    let state = |name: &str| match violated(name) {
        None => Cell::marked("ok", Mark::Ok),
        Some(v) if v.expected => Cell::marked("violated (expected)", Mark::Warn),
        Some(_) => Cell::marked("VIOLATED", Mark::Fail),
    };
    let conv = &c.convergence;
    let conv_text = if conv.replicas.is_empty() {
        "no replicas".to_string()
    } else {
        let each: Vec<String> = conv
            .replicas
            .iter()
            .map(|x| {
                format!(
                    "{} {}{}",
                    x.replica,
                    if x.converged {
                        "converged"
                    } else {
                        "NOT converged"
                    },
                    x.seconds_after_last_fault
                        .map_or_else(String::new, |t| format!(" {t:.3} s after the last fault"))
                )
            })
            .collect();
        each.join("; ")
    };
    let l = &c.acked_writes_lost;
    let mut lost = format!(
        "{} of {} acknowledged writes never applied by the final master ({})",
        group(l.lost),
        group(l.acked),
        l.final_master.as_deref().unwrap_or("none at the end")
    );
    for w in &l.by_window {
        let _ = write!(lost, "; {} during {}", group(w.lost), w.window);
    }
    if l.superseded > 0 {
        let _ = write!(lost, "; {} superseded, not lost", group(l.superseded));
    }
    let st = &c.stale_reads;
    let stale = format!(
        "{} of {} reads stale, at most {:.3} ms behind",
        group(st.stale),
        group(st.reads),
        st.max_staleness_ms
    );
    let rl = &c.resync_loop;
    let loops = if rl.looping.is_empty() {
        let syncs: Vec<String> = rl
            .replicas
            .iter()
            .map(|x| {
                format!(
                    "{}: {} full, {} aborted, {} partial",
                    x.replica, x.full_syncs_finished, x.full_syncs_aborted, x.partial_syncs
                )
            })
            .collect();
        format!("none; {}", syncs.join("; "))
    } else {
        format!("LOOPING: {}", rl.looping.join(", "))
    };
    let a = &c.availability;
    let avail = format!(
        "{:.1}% of {} writes accepted; {} timeouts; refusing every write for {:.1} s",
        a.share_accepted * 100.0,
        group(a.writes),
        group(a.timeouts),
        a.refusing_seconds
    );
    let rows = vec![
        vec![
            Cell::text("convergence"),
            state("convergence"),
            Cell::text(conv_text),
        ],
        vec![
            Cell::text("acked writes lost"),
            state("acked_writes_lost"),
            Cell::text(lost),
        ],
        vec![
            Cell::text("stale reads"),
            state("stale_reads"),
            Cell::text(stale),
        ],
        vec![
            Cell::text("resync loop"),
            state("resync_loop"),
            Cell::text(loops),
        ],
        vec![
            Cell::text("availability"),
            Cell::marked("measured", Mark::None),
            Cell::text(avail),
        ],
    ];
    Section {
        heading: "Checks".into(),
        blocks: vec![Block::Table(Table {
            header: vec!["checker".into(), "verdict".into(), "what it found".into()],
            rows,
        })],
    }
}

fn nodes_section(r: &Report) -> Section {
    let info = |n: &super::LiveNode, k: &str| match n.info.get(k) {
        Some(super::InfoValue::Number(x)) => {
            u64::try_from(*x).map_or_else(|_| x.to_string(), group)
        }
        Some(super::InfoValue::Text(t)) => t.clone(),
        None => "-".into(),
    };
    let rows = summary::topology(r)
        .into_iter()
        .map(|(name, depth)| {
            let label = format!("{}{name}", "\u{2003}".repeat(depth));
            match &r.nodes[name] {
                NodeReport::Down(_) => vec![
                    Cell::text(label),
                    Cell::marked("down", Mark::Fail),
                    Cell::text("-"),
                    Cell::text("-"),
                    Cell::text("-"),
                    Cell::text("-"),
                    Cell::text("-"),
                    Cell::text("-"),
                    Cell::text("-"),
                    Cell::text("-"),
                ],
                node @ (NodeReport::Master(n) | NodeReport::Slave(n)) => {
                    let replica = matches!(node, NodeReport::Slave(_));
                    let link = if replica {
                        let status = info(n, "master_link_status");
                        let mark = if status == "up" { Mark::Ok } else { Mark::Fail };
                        Cell::marked(status, mark)
                    } else {
                        Cell::text("-")
                    };
                    vec![
                        Cell::text(label),
                        Cell::text(if replica { "replica" } else { "master" }),
                        Cell::text(info(n, "master_repl_offset")),
                        link,
                        Cell::text(n.max_lag_bytes.map_or_else(|| "-".into(), group)),
                        Cell::text(group(n.stats.sync_full)),
                        Cell::text(group(n.stats.sync_partial_ok)),
                        Cell::text(group(n.stats.sync_partial_err)),
                        Cell::text(group(n.dataset.keys)),
                        Cell::marked(&n.dataset.digest, Mark::Code),
                    ]
                }
            }
        })
        .collect();
    Section {
        heading: "Nodes".into(),
        blocks: vec![
            Block::Table(Table {
                header: [
                    "node",
                    "role",
                    "offset",
                    "link",
                    "max lag (bytes)",
                    "sync_full",
                    "partial_ok",
                    "partial_err",
                    "keys",
                    "digest",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            }),
            Block::Paragraph(
                "Replicas are indented under their master. sync_full and the partial counters \
                 are the ones INFO keeps: a master counts the syncs it served."
                    .into(),
            ),
        ],
    }
}

fn workloads_section(r: &Report) -> Section {
    let rows = r
        .workloads
        .iter()
        .map(|(name, w)| {
            let errors: Vec<String> = w
                .errors
                .iter()
                .map(|(k, n)| format!("{k} {}", group(*n)))
                .collect();
            let lat = |op: &str| {
                w.latency.get(op).map_or_else(
                    || "-".into(),
                    |p| format!("{:.3} / {:.3} ms", p.p50_us / 1e3, p.p99_us / 1e3),
                )
            };
            vec![
                Cell::text(name),
                Cell::text(group(w.writes)),
                Cell::text(group(w.writes_ok)),
                Cell::text(group(w.reads)),
                Cell::text(group(w.timeouts)),
                Cell::text(if errors.is_empty() {
                    "none".into()
                } else {
                    errors.join(", ")
                }),
                Cell::text(group(w.stale_reads)),
                Cell::text(lat("set")),
                Cell::text(lat("get")),
            ]
        })
        .collect();
    Section {
        heading: "Workloads".into(),
        blocks: vec![Block::Table(Table {
            header: [
                "workload",
                "writes",
                "accepted",
                "reads",
                "timeouts",
                "refused",
                "stale reads",
                "SET p50 / p99",
                "GET p50 / p99",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        })],
    }
}

/// One thing on the timeline: when, which node (empty for a fault), what, and details.
struct Event {
    t_ms: f64,
    end_ms: Option<f64>,
    node: String,
    what: String,
    detail: String,
    mark: Mark,
}

fn timeline_events(r: &Report) -> Vec<Event> {
    let mut ev = Vec::new();
    for f in &r.timeline.faults {
        ev.push(Event {
            t_ms: f.start_ms,
            end_ms: f.end_ms.filter(|e| *e > f.start_ms),
            node: String::new(),
            what: format!("fault: {}", f.kind),
            detail: f.label.clone(),
            mark: Mark::Warn,
        });
    }
    for m in &r.timeline.milestones {
        let mut detail = String::new();
        if let Some(rep) = &m.replica {
            detail.push_str(rep);
        }
        if let Some(why) = &m.reason {
            let _ = write!(detail, " ({why})");
        }
        let mark = match m.what.as_str() {
            "full_sync_aborted" | "replica_dropped" | "crashed" => Mark::Fail,
            "full_sync_finished" | "partial_sync" => Mark::Ok,
            _ => Mark::None,
        };
        ev.push(Event {
            t_ms: m.t_ms,
            end_ms: None,
            node: m.node.clone(),
            what: m.what.replace('_', " "),
            detail: detail.trim().to_string(),
            mark,
        });
    }
    // A stable sort keeps faults before milestones at the same instant, as they happened.
    ev.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    ev
}

/// `1 fault`, `3 faults`.
fn count(n: usize, what: &str) -> String {
    format!(
        "{} {what}{}",
        group(n as u64),
        if n == 1 { "" } else { "s" }
    )
}

fn seconds(ms: f64) -> String {
    format!("{:.3} s", ms / 1e3)
}

fn timeline_section(r: &Report) -> Section {
    let events = timeline_events(r);
    let mut blocks = vec![Block::Svg {
        caption: "Each node's state over time (role, link), faults as bands, milestones as marks"
            .into(),
        svg: timeline_svg(r),
    }];
    if events.is_empty() {
        blocks.push(Block::Paragraph("No fault and no milestone.".into()));
    } else {
        let shown = events.len().min(TIMELINE_ROWS_MAX);
        let rows = events[..shown]
            .iter()
            .map(|e| {
                vec![
                    Cell::text(seconds(e.t_ms)),
                    Cell::text(e.end_ms.map_or_else(String::new, seconds)),
                    Cell::text(&e.node),
                    Cell::marked(&e.what, e.mark),
                    Cell::text(&e.detail),
                ]
            })
            .collect();
        let table = Block::Table(Table {
            header: ["at", "until", "node", "what", "detail"]
                .map(String::from)
                .to_vec(),
            rows,
        });
        let mut list = vec![table];
        if events.len() > shown {
            list.push(Block::Paragraph(format!(
                "… and {} more; report.json has them all.",
                group((events.len() - shown) as u64)
            )));
        }
        blocks.push(Block::Folded {
            summary: format!(
                "{} and {}, in time order",
                count(r.timeline.faults.len(), "fault"),
                count(r.timeline.milestones.len(), "milestone")
            ),
            blocks: list,
        });
    }
    if !r.timeline.operator_commands.is_empty() {
        blocks.push(Block::Paragraph(
            "Operator commands and what each node answered:".into(),
        ));
        blocks.push(Block::Table(Table {
            header: ["at", "node", "command", "reply"]
                .map(String::from)
                .to_vec(),
            rows: r
                .timeline
                .operator_commands
                .iter()
                .map(|c| {
                    let reply = match (&c.reply, c.error) {
                        (Some(x), _) => x.clone(),
                        (None, true) => "not run: the node was down".into(),
                        (None, false) => "no reply by the end of the run".into(),
                    };
                    command_row(c.t_ms, &c.node, &c.command, reply, c.error)
                })
                .collect(),
        }));
    }
    if !r.timeline.probes.is_empty() {
        blocks.push(Block::Paragraph(format!(
            "Probes: {} {}, each in full in report.json (timeline.probes){}:",
            group(r.timeline.probes.len() as u64),
            if r.timeline.probes.len() == 1 {
                "reply"
            } else {
                "replies"
            },
            if r.timeline.probes.len() > PROBE_ROWS_MAX {
                format!("; the first {PROBE_ROWS_MAX} here")
            } else {
                String::new()
            }
        )));
        blocks.push(Block::Table(Table {
            header: ["at", "node", "command", "reply"]
                .map(String::from)
                .to_vec(),
            rows: r
                .timeline
                .probes
                .iter()
                .take(PROBE_ROWS_MAX)
                .map(|c| {
                    let reply = match &c.reply {
                        // INFO's lines, one cell: joined, and cut where a table cell would be
                        // too long to read.
                        Some(x) => {
                            let one = x
                                .lines()
                                .filter(|l| !l.is_empty())
                                .collect::<Vec<_>>()
                                .join(" | ");
                            if one.chars().count() > 200 {
                                format!("{}...", one.chars().take(197).collect::<String>())
                            } else {
                                one
                            }
                        }
                        None => "no reply: the node was down or paused, or it blocked".into(),
                    };
                    command_row(c.t_ms, &c.node, &c.command, reply, c.error)
                })
                .collect(),
        }));
    }
    Section {
        heading: "Timeline".into(),
        blocks,
    }
}

/// A row of the operator commands' or the probes' table: when, where, what and the reply, marked
/// as a failure where it was one.
fn command_row(t_ms: f64, node: &str, command: &str, reply: String, error: bool) -> Vec<Cell> {
    vec![
        Cell::text(seconds(t_ms)),
        Cell::text(node),
        Cell::marked(command, Mark::Code),
        Cell::marked(reply, if error { Mark::Fail } else { Mark::Code }),
    ]
}

/// The most probe replies the page shows as rows.
const PROBE_ROWS_MAX: usize = 50;

/// A lane per node: its state between samples as coloured runs (master, replica with its link
/// up, replica with its link down, down), fault windows as bands across every lane and their
/// labels above, and each milestone as a mark in its node's lane with the time in a tooltip.
fn timeline_svg(r: &Report) -> String {
    const W: f64 = 1200.0;
    const LEFT: f64 = 120.0;
    const RIGHT: f64 = 20.0;
    const LANE: f64 = 34.0;
    let tl = &r.timeline;
    let names: Vec<&str> = summary::topology(r).into_iter().map(|(n, _)| n).collect();
    let duration = tl
        .duration_ms
        .max(tl.t_ms.last().copied().unwrap_or(0.0))
        .max(1.0);
    let x = |ms: f64| LEFT + (ms / duration).clamp(0.0, 1.0) * (W - LEFT - RIGHT);
    // Fault labels stack on up to four rows so that close ones do not overwrite each other.
    let mut label_rows: Vec<f64> = Vec::new();
    let mut labels = String::new();
    for f in &tl.faults {
        let x0 = x(f.start_ms);
        let text = if f.label.starts_with(&f.kind) {
            f.label.clone()
        } else {
            format!("{} {}", f.kind, f.label)
        };
        let width = 7.0 * text.chars().count() as f64;
        let row = match label_rows.iter().position(|&end| end < x0) {
            Some(k) => k,
            None if label_rows.len() < 4 => {
                label_rows.push(0.0);
                label_rows.len() - 1
            }
            None => label_rows.len() - 1,
        };
        label_rows[row] = x0 + width;
        let _ = write!(
            labels,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#a54800\">{}</text>",
            x0 + 2.0,
            14.0 + 15.0 * row as f64,
            escape(&text)
        );
    }
    let top = 8.0 + 15.0 * label_rows.len().max(1) as f64;
    let lanes_h = LANE * names.len() as f64;
    let axis_y = top + lanes_h;
    let h = axis_y + 64.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h:.0}\" viewBox=\"0 0 {W} {h:.0}\" font-family=\"sans-serif\">"
    );
    s.push_str(&labels);
    // Lanes: state runs.
    for (k, name) in names.iter().enumerate() {
        let y = top + LANE * k as f64;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"end\" fill=\"#1d2125\">{}</text>",
            LEFT - 8.0,
            y + LANE / 2.0 + 4.0,
            escape(name)
        );
        let Some(series) = tl.nodes.get(*name) else {
            continue;
        };
        let state = |i: usize| -> u8 {
            if !series.up.get(i).copied().unwrap_or(false) {
                0
            } else if series.master.get(i).copied().unwrap_or(false) {
                1
            } else if series.link_up.get(i).copied().unwrap_or(false) {
                2
            } else {
                3
            }
        };
        let n = tl.t_ms.len();
        let mut i = 0;
        while i < n {
            let st = state(i);
            let mut j = i + 1;
            while j < n && state(j) == st {
                j += 1;
            }
            let end = if j < n { tl.t_ms[j] } else { duration };
            let (fill, what) = match st {
                0 => ("#8590a2", "down"),
                1 => ("#cce0ff", "master"),
                2 => ("#baf3db", "replica, link up"),
                _ => ("#ffd5d2", "replica, link down"),
            };
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"><title>{}: {what} from {} to {}</title></rect>",
                x(tl.t_ms[i]),
                y + 4.0,
                (x(end) - x(tl.t_ms[i])).max(0.5),
                LANE - 8.0,
                escape(name),
                seconds(tl.t_ms[i]),
                seconds(end)
            );
            i = j;
        }
    }
    // Faults: windows as bands, instants as lines.
    for f in &tl.faults {
        let x0 = x(f.start_ms);
        let windowed = matches!(f.kind.as_str(), "partition" | "pause");
        let end = match f.end_ms {
            Some(e) if e > f.start_ms => Some(e),
            None if windowed => Some(duration),
            _ => None,
        };
        let tip = format!("{} {} at {}", f.kind, f.label, seconds(f.start_ms));
        match end {
            Some(e) => {
                let _ = write!(
                    s,
                    "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{lanes_h:.1}\" fill=\"#ff8b00\" fill-opacity=\"0.07\" stroke=\"#e56910\" stroke-width=\"1.5\"><title>{} until {}</title></rect>",
                    top,
                    (x(e) - x0).max(1.0),
                    escape(&tip),
                    seconds(e)
                );
            }
            None => {
                let _ = write!(
                    s,
                    "<line x1=\"{x0:.1}\" y1=\"{:.1}\" x2=\"{x0:.1}\" y2=\"{axis_y:.1}\" stroke=\"#a54800\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"><title>{}</title></line>",
                    top - 4.0,
                    escape(&tip)
                );
            }
        }
    }
    // Milestones.
    for m in &tl.milestones {
        let Some(k) = names.iter().position(|n| *n == m.node) else {
            continue;
        };
        let cx = x(m.t_ms);
        let cy = top + LANE * k as f64 + LANE / 2.0;
        let tip = format!(
            "{} {} at {}{}",
            m.node,
            m.what.replace('_', " "),
            seconds(m.t_ms),
            m.replica
                .as_ref()
                .map_or_else(String::new, |x| format!(" ({x})"))
        );
        let shape = mark_shape(&m.what, cx, cy);
        let _ = write!(s, "<g><title>{}</title>{shape}</g>", escape(&tip));
    }
    // The time axis.
    let _ = write!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{axis_y:.1}\" x2=\"{:.1}\" y2=\"{axis_y:.1}\" stroke=\"#44546f\"/>",
        W - RIGHT
    );
    let step = nice_step(duration / 1e3 / 10.0);
    let mut t = 0.0;
    while t <= duration / 1e3 + 1e-9 {
        let tx = x(t * 1e3);
        let _ = write!(
            s,
            "<line x1=\"{tx:.1}\" y1=\"{axis_y:.1}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#44546f\"/><text x=\"{tx:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#44546f\">{}</text>",
            axis_y + 5.0,
            axis_y + 18.0,
            trim_float(t)
        );
        t += step;
    }
    // The legend.
    let legend = [
        ("#cce0ff", "master"),
        ("#baf3db", "replica, link up"),
        ("#ffd5d2", "replica, link down"),
        ("#8590a2", "down"),
    ];
    let ly = axis_y + 34.0;
    let mut lx = LEFT;
    for (fill, what) in legend {
        let _ = write!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"14\" height=\"10\" fill=\"{fill}\"/><text x=\"{:.1}\" y=\"{ly:.1}\" font-size=\"12\" fill=\"#44546f\">{what}</text>",
            ly - 9.0,
            lx + 18.0
        );
        lx += 30.0 + 7.0 * what.len() as f64;
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#44546f\">simulated time (s)</text>",
        W - RIGHT,
        ly
    );
    let ly = ly + 20.0;
    let mut lx = LEFT;
    for (what, label) in [
        ("full_sync_started", "full sync started"),
        ("full_sync_finished", "finished"),
        ("partial_sync", "partial resync"),
        ("full_sync_aborted", "aborted, dropped, crashed"),
        ("became_master", "role change"),
        ("link_down", "link down"),
    ] {
        let cy = if what == "full_sync_started" {
            ly + 2.0
        } else if what == "full_sync_finished" {
            ly - 9.0
        } else {
            ly - 4.0
        };
        let _ = write!(
            s,
            "{}<text x=\"{:.1}\" y=\"{ly:.1}\" font-size=\"12\" fill=\"#44546f\">{label}</text>",
            mark_shape(what, lx + 6.0, cy),
            lx + 16.0
        );
        lx += 28.0 + 7.0 * label.len() as f64;
    }
    s.push_str("</svg>");
    s
}

/// The mark a milestone gets on the timeline, centred on `(cx, cy)`: a full sync that starts is
/// a blue triangle above the lane's middle and one that finishes a green dot below it (the two
/// often fall within a millisecond), a partial resync a green diamond, an abort, a drop or a
/// crash a red cross, a role change a purple square, anything else (a link going down) a bar.
fn mark_shape(what: &str, cx: f64, cy: f64) -> String {
    match what {
        "full_sync_started" => format!(
            "<path d=\"M{cx:.1},{:.1} l5,8 h-10 z\" fill=\"#0c66e4\"/>",
            cy - 11.0
        ),
        "full_sync_finished" => format!(
            "<circle cx=\"{cx:.1}\" cy=\"{:.1}\" r=\"4.5\" fill=\"#1f845a\"/>",
            cy + 5.0
        ),
        "partial_sync" => format!(
            "<path d=\"M{cx:.1},{:.1} l5,6 l-5,6 l-5,-6 z\" fill=\"#22a06b\"/>",
            cy - 6.0
        ),
        "full_sync_aborted" | "replica_dropped" | "crashed" => format!(
            "<path d=\"M{:.1},{:.1} l10,10 m0,-10 l-10,10\" stroke=\"#c9372c\" stroke-width=\"2.5\"/>",
            cx - 5.0,
            cy - 5.0
        ),
        "became_master" | "became_replica" => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\" fill=\"#6e5dc6\" transform=\"rotate(45 {cx:.1} {cy:.1})\"/>",
            cx - 4.5,
            cy - 4.5
        ),
        _ => format!(
            "<line x1=\"{cx:.1}\" y1=\"{:.1}\" x2=\"{cx:.1}\" y2=\"{:.1}\" stroke=\"#44546f\" stroke-width=\"2\"/>",
            cy - 8.0,
            cy + 8.0
        ),
    }
}

/// A round step (1, 2 or 5 times a power of ten) near `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let k = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    k * p
}

fn trim_float(t: f64) -> String {
    let s = format!("{t:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn logs_section(logs: &[(&str, &str)]) -> Section {
    let blocks = logs
        .iter()
        .map(|(name, text)| {
            let lines = text.lines().count();
            let shown: String = if lines > LOG_LINES_SHOWN_MAX {
                let mut t: String = text
                    .lines()
                    .take(LOG_LINES_SHOWN_MAX)
                    .flat_map(|l| [l, "\n"])
                    .collect();
                let _ = write!(
                    t,
                    "… {} more lines in {name}.log",
                    group((lines - LOG_LINES_SHOWN_MAX) as u64)
                );
                t
            } else {
                text.to_string()
            };
            Block::Folded {
                summary: format!("{name}.log ({} lines)", group(lines as u64)),
                blocks: vec![Block::Pre(shown)],
            }
        })
        .collect();
    Section {
        heading: "Node logs".into(),
        blocks,
    }
}

/// A page for results that are not one run's (a sweep's): the title, facts, a verdict if there
/// is one, and sections of text, tables and SVG, rendered like a run's page.
pub fn sweep_page(
    title: &str,
    facts: Vec<String>,
    verdict: Option<Verdict>,
    sections: Vec<Section>,
) -> String {
    render(&Page {
        title: title.to_string(),
        facts,
        description: String::new(),
        verdict,
        sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_svg_ids_are_made_unique() {
        let page = Page {
            title: "a <b> & \"c\"".into(),
            sections: vec![Section {
                heading: "S".into(),
                blocks: vec![
                    Block::Pre("<script>alert(1)</script>".into()),
                    Block::Svg {
                        caption: "one".into(),
                        svg: "<?xml version=\"1.0\"?><svg><clipPath id=\"c\"/><g clip-path=\"url(#c)\"/></svg>".into(),
                    },
                    Block::Svg {
                        caption: "two".into(),
                        svg: "<svg><clipPath id=\"c\"/><g clip-path=\"url(#c)\"/></svg>".into(),
                    },
                ],
            }],
            ..Page::default()
        };
        let html = render(&page);
        assert!(html.contains("<title>a &lt;b&gt; &amp; &quot;c&quot;</title>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("<?xml"));
        assert!(html.contains("id=\"s0-1-c\"") && html.contains("url(#s0-1-c)"));
        assert!(html.contains("id=\"s0-2-c\"") && html.contains("url(#s0-2-c)"));
    }

    #[test]
    fn steps_are_round() {
        for (raw, step) in [
            (0.7, 1.0),
            (1.3, 2.0),
            (3.0, 5.0),
            (7.0, 10.0),
            (42.0, 50.0),
            (0.03, 0.05),
        ] {
            assert!(
                (nice_step(raw) - step).abs() < 1e-12,
                "{raw}: {}",
                nice_step(raw)
            );
        }
    }
}
