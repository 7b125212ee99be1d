//! A sweep's report.html: the page `report::html` renders for a run, built here from a sweep
//! report. The verdict, what ran, each expectation's pass count with the runs that failed it and
//! their repro lines, each figure's distribution (per value of a varied directive), the charts
//! inline as SVG and the text summary folded away. Pure: the caller writes the file.

use crate::report::html::{self, Block, Cell, Mark, Section, Table, Verdict};
use crate::report::summary::group;

use super::chart::SvgChart;
use super::text::{self, number};
use super::{Case, Distribution, Num, SweepReport};

/// Failing runs listed per expectation and value; the JSON holds every one.
const REPROS_SHOWN: usize = 50;

/// The page of `r`, with `charts` (as [`super::chart::charts`] drew them for the same `chosen`
/// figures) and the text summary `summary`.
pub fn page(r: &SweepReport, chosen: &[String], charts: &[SvgChart], summary: &str) -> String {
    let mut sections = vec![expectations(r)];
    if let Some(t) = troubles(r) {
        sections.push(t);
    }
    sections.push(figures(r, chosen));
    if !charts.is_empty() {
        sections.push(Section {
            heading: "Charts".into(),
            blocks: charts
                .iter()
                .map(|c| Block::Svg {
                    caption: caption(r, c),
                    svg: c.svg.clone(),
                })
                .collect(),
        });
    }
    sections.push(Section {
        heading: "Summary".into(),
        blocks: vec![Block::Folded {
            summary: "The summary as `replsim sweep` prints it".into(),
            blocks: vec![Block::Pre(summary.to_string())],
        }],
    });
    html::sweep_page(
        &format!("Sweep of {}", r.scenario),
        facts(r),
        Some(verdict(r)),
        sections,
    )
}

fn facts(r: &SweepReport) -> Vec<String> {
    let mut f = vec![
        format!("file {}", r.file),
        match r.shard {
            Some(s) => format!(
                "seeds {}..{} of {}..{} (shard {}/{})",
                s.seeds.start, s.seeds.end, r.seeds.start, r.seeds.end, s.index, s.count
            ),
            None => format!("seeds {}..{}", r.seeds.start, r.seeds.end),
        },
        format!("{} runs", group(r.runs)),
    ];
    for s in &r.set {
        f.push(format!("--set {s}"));
    }
    if let Some(v) = &r.vary {
        f.push(format!(
            "{} over {} values ({}): {}",
            v.directive,
            v.values.len(),
            v.spacing,
            v.values.join(", ")
        ));
    }
    f
}

fn verdict(r: &SweepReport) -> Verdict {
    let failed = r.runs - r.runs_ok;
    let mut reasons = Vec::new();
    for c in &r.cases {
        let at = c
            .value
            .as_ref()
            .map_or(String::new(), |v| format!(" at {v}"));
        for e in c.expectations.iter().filter(|e| e.failed > 0) {
            reasons.push(format!(
                "{} failed in {} of {} runs{at}",
                e.expect,
                group(e.failed),
                group(e.passed + e.failed)
            ));
        }
        for v in &c.violations {
            reasons.push(format!(
                "unexpected {} violation in {} runs{at}",
                v.checker,
                group(v.runs)
            ));
        }
        for s in &c.stopped {
            reasons.push(format!(
                "stopped at {} in {} runs{at}",
                s.stop,
                group(s.runs)
            ));
        }
        if !c.panics.is_empty() {
            reasons.push(format!("{} runs panicked{at}", c.panics.len()));
        }
    }
    Verdict {
        ok: r.ok,
        headline: if r.ok {
            format!("All {} runs passed", group(r.runs))
        } else {
            format!("{} of {} runs failed", group(failed), group(r.runs))
        },
        reasons,
    }
}

/// A row's first cell: the case's value against a varied directive, nothing otherwise.
fn value_cell(r: &SweepReport, c: &Case) -> Vec<Cell> {
    match (&r.vary, &c.value) {
        (Some(_), Some(v)) => vec![Cell::marked(v.clone(), Mark::Code)],
        _ => Vec::new(),
    }
}

fn value_head(r: &SweepReport) -> Vec<String> {
    r.vary.iter().map(|v| v.directive.clone()).collect()
}

fn expectations(r: &SweepReport) -> Section {
    let mut blocks = Vec::new();
    if r.expectations.is_empty() {
        blocks.push(Block::Paragraph(
            "The scenario has no [expect] block.".into(),
        ));
    } else {
        let mut header = value_head(r);
        header.extend(["expectation", "held", "failed"].map(String::from));
        let mut rows = Vec::new();
        for c in &r.cases {
            for e in &c.expectations {
                let mut row = value_cell(r, c);
                row.push(Cell::marked(e.expect.clone(), Mark::Code));
                let mark = if e.failed == 0 { Mark::Ok } else { Mark::Fail };
                row.push(Cell::marked(
                    format!("{} of {}", group(e.passed), group(e.passed + e.failed)),
                    mark,
                ));
                row.push(Cell::text(group(e.failed)));
                rows.push(row);
            }
        }
        blocks.push(Block::Table(Table { header, rows }));
    }
    for c in &r.cases {
        for e in c.expectations.iter().filter(|e| !e.failing.is_empty()) {
            let at = c
                .value
                .as_ref()
                .map_or(String::new(), |v| format!(" at {v}"));
            let rows = e
                .failing
                .iter()
                .take(REPROS_SHOWN)
                .map(|f| {
                    vec![
                        Cell::text(f.seed.to_string()),
                        Cell::marked(f.actual.to_string(), Mark::Fail),
                        Cell::marked(f.repro.clone(), Mark::Code),
                    ]
                })
                .collect();
            let mut inner = vec![Block::Table(Table {
                header: ["seed", "actual", "reproduce"].map(String::from).to_vec(),
                rows,
            })];
            if e.failing.len() > REPROS_SHOWN {
                let rest: Vec<u64> = e.failing[REPROS_SHOWN..].iter().map(|f| f.seed).collect();
                inner.push(Block::Paragraph(format!(
                    "And {} more, the same with --seed: {}",
                    rest.len(),
                    text::seed_list(&rest)
                )));
            }
            blocks.push(Block::Folded {
                summary: format!("{} failing runs of {}{at}", group(e.failed), e.expect),
                blocks: inner,
            });
        }
    }
    Section {
        heading: "Expectations".into(),
        blocks,
    }
}

/// Unexpected violations, stops at a limit and panics, if any run had one.
fn troubles(r: &SweepReport) -> Option<Section> {
    let mut header = value_head(r);
    header.extend(["what", "runs", "seeds"].map(String::from));
    let mut rows = Vec::new();
    for c in &r.cases {
        let mut push = |what: String, mark: Mark, runs: u64, seeds: String| {
            let mut row = value_cell(r, c);
            row.extend([
                Cell::marked(what, mark),
                Cell::text(group(runs)),
                Cell::marked(seeds, Mark::Code),
            ]);
            rows.push(row);
        };
        for v in &c.violations {
            let what = format!("unexpected {} violation", v.checker);
            push(what, Mark::Fail, v.runs, text::seed_list(&v.seeds));
        }
        for s in &c.stopped {
            let what = format!("stopped at {}", s.stop);
            push(what, Mark::Warn, s.runs, text::seed_list(&s.seeds));
        }
        for p in &c.panics {
            let what = format!("panic: {}", p.message);
            push(what, Mark::Fail, 1, p.repro.clone());
        }
    }
    (!rows.is_empty()).then(|| Section {
        heading: "Violations, limits and panics".into(),
        blocks: vec![Block::Table(Table { header, rows })],
    })
}

fn distribution_cells(d: &Distribution) -> Vec<Cell> {
    let cell = |x: Option<Num>| Cell::text(x.map_or_else(|| "-".to_string(), number));
    let runs = if d.missing == 0 {
        group(d.runs)
    } else {
        format!("{} ({} without)", group(d.runs), group(d.missing))
    };
    vec![
        cell(d.min),
        cell(d.p50),
        cell(d.p99),
        cell(d.max),
        cell(d.mean),
        Cell::text(runs),
    ]
}

const DISTRIBUTION_HEADS: [&str; 6] = ["min", "p50", "p99", "max", "mean", "runs"];

fn figures(r: &SweepReport, chosen: &[String]) -> Section {
    let mut blocks = Vec::new();
    match &r.vary {
        None => {
            let mut header = vec!["figure".to_string(), "unit".to_string()];
            header.extend(DISTRIBUTION_HEADS.map(String::from));
            let rows = r
                .cases
                .iter()
                .flat_map(|c| c.distributions.iter().zip(&r.figures))
                .filter(|(_, f)| chosen.is_empty() || chosen.contains(&f.name))
                .map(|(d, f)| {
                    let mut row = vec![
                        Cell::marked(f.name.clone(), Mark::Code),
                        Cell::text(f.unit.clone()),
                    ];
                    row.extend(distribution_cells(d));
                    row
                })
                .collect();
            blocks.push(Block::Table(Table { header, rows }));
        }
        Some(v) => {
            let (shown, constant) = text::chosen_figures(r, chosen);
            for k in shown {
                let f = &r.figures[k];
                blocks.push(Block::Paragraph(format!(
                    "{} ({}) against {}: {}",
                    f.name, f.unit, v.directive, f.about
                )));
                let mut header = vec![v.directive.clone()];
                header.extend(DISTRIBUTION_HEADS.map(String::from));
                let rows = r
                    .cases
                    .iter()
                    .map(|c| {
                        let mut row = vec![Cell::marked(
                            c.value.clone().unwrap_or_default(),
                            Mark::Code,
                        )];
                        row.extend(distribution_cells(&c.distributions[k]));
                        row
                    })
                    .collect();
                blocks.push(Block::Table(Table { header, rows }));
            }
            if !constant.is_empty() {
                blocks.push(Block::Paragraph(format!(
                    "The same in every run: {}.",
                    constant.join(", ")
                )));
            }
        }
    }
    Section {
        heading: "Figures".into(),
        blocks,
    }
}

/// A chart's caption: its figure's name and what the figure is.
fn caption(r: &SweepReport, c: &SvgChart) -> String {
    let about = r
        .figures
        .iter()
        .find(|f| f.name == c.figure)
        .map_or(String::new(), |f| format!(": {}", f.about));
    let kind = if r.vary.is_some() {
        "against the varied directive, median over the band from the least to the most, \
         p99 as points"
    } else {
        "share of runs at or below each value (CDF)"
    };
    format!("{} {kind}{about}", c.figure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::{ExpectDef, FigureDef, Plan, RunRecord, SeedRange};

    fn plan() -> Plan {
        Plan {
            scenario: "s".into(),
            file: "s.toml".into(),
            file_digest: 7,
            set: vec![],
            vary: None,
            seeds: SeedRange { start: 1, end: 4 },
            shard: None,
            expectations: vec![ExpectDef {
                expect: "master.sync_full <= 1".into(),
                line: 3,
            }],
            figures: vec![FigureDef {
                name: "acked_writes_lost".into(),
                unit: "writes".into(),
                about: "lost <writes>".into(),
            }],
        }
    }

    fn record(seed: u64, ok: bool, lost: f64) -> RunRecord {
        RunRecord {
            case: 0,
            seed,
            ok,
            trace_hash: Some("h".into()),
            stop: Some("time_limit".into()),
            failed: if ok { vec![] } else { vec![0] },
            actual: vec![serde_json::json!(if ok { 1 } else { 2 })],
            unexpected: vec![],
            panic: None,
            figures: vec![Some(Num(lost))],
        }
    }

    #[test]
    fn the_page_shows_the_verdict_each_failing_seed_and_the_distribution() {
        let p = plan();
        let r = p.report(vec![
            record(1, true, 0.0),
            record(2, false, 5.0),
            record(3, true, 9.0),
        ]);
        let chart = SvgChart {
            file: "cdf-acked_writes_lost.svg".into(),
            figure: "acked_writes_lost".into(),
            svg: "<svg><g id=\"x\"/></svg>".into(),
        };
        let html = page(&r, &[], &[chart], "summary <text>");
        assert!(html.contains("1 of 3 runs failed"), "{html}");
        assert!(html.contains("2 of 3"));
        assert!(html.contains("replsim run s.toml --seed 2"));
        assert!(!html.contains("--seed 1<") && !html.contains("--seed 3<"));
        // min, p50, p99, max of 0, 5, 9.
        let row = html.split("acked_writes_lost</td>").nth(1).unwrap();
        let cells: Vec<&str> = row
            .split("<td")
            .skip(2)
            .take(4)
            .map(|c| c.split('>').nth(1).unwrap().split('<').next().unwrap())
            .collect();
        assert_eq!(cells, ["0", "5", "9", "9"]);
        assert!(html.contains("<svg") && html.contains("lost &lt;writes&gt;"));
        assert!(html.contains("summary &lt;text&gt;"));
        assert!(!html.contains("<script") && !html.contains("<link") && !html.contains(" src="));
    }
}
