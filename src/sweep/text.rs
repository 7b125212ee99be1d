//! The human summary of a sweep: what ran, each expectation's pass count with the runs that
//! failed it and how to reproduce them, and each figure's distribution; against the varied
//! directive, a row per value.

use std::fmt::Write as _;

use super::{Case, Distribution, Num, SweepReport};
use crate::report::summary::group;

/// Repro lines shown per expectation of a sweep without `--vary`; the JSON lists every one.
const REPROS_SHOWN: usize = 10;

/// Renders `r`. `chosen` names the figures to show; empty shows every figure of a sweep over
/// seeds, and against a varied directive every figure that is not the same in every run.
pub fn render(r: &SweepReport, chosen: &[String]) -> String {
    let mut s = header(r);
    match &r.vary {
        None => plain(&mut s, r, chosen),
        Some(_) => varied(&mut s, r, chosen),
    }
    s.push_str(if r.ok { "OK\n" } else { "FAILED\n" });
    s
}

fn header(r: &SweepReport) -> String {
    let mut s = String::new();
    let seeds = match r.shard {
        Some(sh) => format!(
            "seeds {}..{} of {}..{} (shard {}/{})",
            sh.seeds.start, sh.seeds.end, r.seeds.start, r.seeds.end, sh.index, sh.count
        ),
        None => format!("seeds {}..{}", r.seeds.start, r.seeds.end),
    };
    let _ = writeln!(s, "sweep: {} ({})  {seeds}", r.scenario, r.file);
    if !r.set.is_empty() {
        let _ = writeln!(s, "  --set {}", r.set.join(" --set "));
    }
    if let Some(v) = &r.vary {
        let template = if v.template == "{}" {
            String::new()
        } else {
            format!(" as {}", v.template)
        };
        let _ = writeln!(
            s,
            "  {}{template} over {} values ({}): {}",
            v.directive,
            v.values.len(),
            v.spacing,
            v.values.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "  {} runs: {} ok, {} failed\n",
        group(r.runs),
        group(r.runs_ok),
        group(r.runs - r.runs_ok)
    );
    s
}

/// A sweep over seeds alone: every figure, or those in `chosen`.
fn plain(s: &mut String, r: &SweepReport, chosen: &[String]) {
    let Some(case) = r.cases.first() else {
        return;
    };
    if !case.expectations.is_empty() {
        let width = case
            .expectations
            .iter()
            .map(|e| e.expect.len())
            .max()
            .unwrap_or(0);
        let _ = writeln!(s, "expectations");
        for e in &case.expectations {
            let _ = writeln!(
                s,
                "  {}  {:width$}  {} of {} runs hold it",
                if e.failed == 0 { "ok  " } else { "FAIL" },
                e.expect,
                group(e.passed),
                group(e.passed + e.failed)
            );
            for f in e.failing.iter().take(REPROS_SHOWN) {
                let _ = writeln!(s, "          actual {}  {}", f.actual, f.repro);
            }
            if e.failing.len() > REPROS_SHOWN {
                let rest: Vec<u64> = e.failing[REPROS_SHOWN..].iter().map(|f| f.seed).collect();
                let _ = writeln!(
                    s,
                    "          and {} more, the same with --seed: {}",
                    rest.len(),
                    seed_list(&rest)
                );
            }
        }
        s.push('\n');
    }
    troubles(s, case, "");
    let width = r
        .figures
        .iter()
        .map(|f| f.name.len() + f.unit.len() + 3)
        .max()
        .unwrap_or(0);
    let _ = writeln!(s, "{:w$}{HEADS}  runs", "figure", w = width + 2);
    let shown = |name: &String| chosen.is_empty() || chosen.contains(name);
    for (d, f) in case.distributions.iter().zip(&r.figures) {
        if !shown(&f.name) {
            continue;
        }
        let name = format!("{} ({})", f.name, f.unit);
        let _ = writeln!(s, "  {name:width$}{}  {}", numbers(d), runs_with(d));
    }
    s.push('\n');
}

/// Unexpected violations, stops at a limit and panics of one case.
fn troubles(s: &mut String, case: &Case, indent: &str) {
    for v in &case.violations {
        let _ = writeln!(
            s,
            "{indent}unexpected {} violation in {} runs: seeds {}",
            v.checker,
            group(v.runs),
            seed_list(&v.seeds)
        );
    }
    for st in &case.stopped {
        let _ = writeln!(
            s,
            "{indent}stopped at {} in {} runs: seeds {}",
            st.stop,
            group(st.runs),
            seed_list(&st.seeds)
        );
    }
    for p in &case.panics {
        let _ = writeln!(s, "{indent}PANIC at seed {}: {}", p.seed, p.message);
        let _ = writeln!(s, "{indent}  {}", p.repro);
    }
    if !(case.violations.is_empty() && case.stopped.is_empty() && case.panics.is_empty()) {
        s.push('\n');
    }
}

/// A sweep against a varied directive: pass counts per value, then each chosen figure per
/// value.
fn varied(s: &mut String, r: &SweepReport, chosen: &[String]) {
    let Some(v) = &r.vary else { return };
    // The first column holds the directive's name over its values, indented.
    let first = v
        .values
        .iter()
        .map(|x| x.len() + 2)
        .chain([v.directive.len()])
        .max()
        .unwrap_or(0);
    let row = |value: &str| format!("  {value:w$}", w = first - 2);
    if !r.expectations.is_empty() {
        let _ = writeln!(s, "expectations");
        for (k, e) in r.expectations.iter().enumerate() {
            let _ = writeln!(s, "  [{}] {}", k + 1, e.expect);
        }
        s.push('\n');
    }
    let _ = write!(s, "{:first$}  {:>9}", v.directive, "runs ok");
    for k in 0..r.expectations.len() {
        let _ = write!(s, "  {:>9}", format!("[{}]", k + 1));
    }
    s.push('\n');
    for c in &r.cases {
        let _ = write!(
            s,
            "{}  {:>9}",
            row(c.value.as_deref().unwrap_or("-")),
            format!("{}/{}", c.runs_ok, c.runs)
        );
        for e in &c.expectations {
            let _ = write!(
                s,
                "  {:>9}",
                format!("{}/{}", e.passed, e.passed + e.failed)
            );
        }
        s.push('\n');
    }
    s.push('\n');
    for (ci, c) in r.cases.iter().enumerate() {
        if c.runs_ok == c.runs {
            continue;
        }
        let value = c.value.as_deref().unwrap_or("-");
        let failed: Vec<u64> = r
            .records
            .iter()
            .filter(|x| x.case == ci && !x.ok)
            .map(|x| x.seed)
            .collect();
        let example = c
            .expectations
            .iter()
            .flat_map(|e| e.failing.first())
            .map(|f| f.repro.clone())
            .next()
            .or_else(|| c.panics.first().map(|p| p.repro.clone()));
        let _ = writeln!(
            s,
            "{value}: {} failed (seeds {}){}",
            failed.len(),
            seed_list(&failed),
            example.map_or(String::new(), |e| format!(", e.g. {e}"))
        );
        troubles(s, c, "  ");
    }
    if r.cases.iter().any(|c| c.runs_ok < c.runs) {
        s.push('\n');
    }
    let (shown, constant) = chosen_figures(r, chosen);
    for k in shown {
        let f = &r.figures[k];
        let _ = writeln!(s, "{} ({}) against {}", f.name, f.unit, v.directive);
        let _ = writeln!(s, "{}{}  runs", row(""), HEADS);
        for c in &r.cases {
            let d = &c.distributions[k];
            let _ = writeln!(
                s,
                "{}{}  {}",
                row(c.value.as_deref().unwrap_or("-")),
                numbers(d),
                runs_with(d)
            );
        }
        s.push('\n');
    }
    if !constant.is_empty() {
        let _ = writeln!(s, "the same in every run: {}\n", constant.join(", "));
    }
}

/// The distribution columns' heads, as wide as [`numbers`] writes them.
const HEADS: &str = "          min          p50          p99          max         mean";

/// The figures to show against the varied directive (indices into `figures`), and the others'
/// constant values as `name value`. Figures named in `chosen` are shown whatever they hold.
pub fn chosen_figures(r: &SweepReport, chosen: &[String]) -> (Vec<usize>, Vec<String>) {
    let mut shown = Vec::new();
    let mut constant = Vec::new();
    for (k, f) in r.figures.iter().enumerate() {
        let values: Vec<Option<Num>> = r.records.iter().map(|x| x.figures[k]).collect();
        let same = values.windows(2).all(|w| w[0] == w[1]);
        if chosen.is_empty() {
            if same {
                let v = values.first().copied().flatten();
                constant.push(format!("{} {}", f.name, v.map_or("none".into(), number)));
            } else {
                shown.push(k);
            }
        } else if chosen.contains(&f.name) {
            shown.push(k);
        }
    }
    (shown, constant)
}

fn numbers(d: &Distribution) -> String {
    let cell = |x: Option<Num>| x.map_or_else(|| "-".to_string(), number);
    format!(
        " {:>12} {:>12} {:>12} {:>12} {:>12}",
        cell(d.min),
        cell(d.p50),
        cell(d.p99),
        cell(d.max),
        cell(d.mean)
    )
}

fn runs_with(d: &Distribution) -> String {
    if d.missing == 0 {
        group(d.runs)
    } else {
        format!("{} ({} without)", group(d.runs), group(d.missing))
    }
}

/// A figure's value: whole numbers grouped, others to three decimals.
pub fn number(x: Num) -> String {
    let x = x.0;
    if x.fract() == 0.0 && x.abs() < 1e15 {
        let n = x.abs() as u64;
        format!("{}{}", if x < 0.0 { "-" } else { "" }, group(n))
    } else if x.abs() >= 1000.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// Seeds in order as runs: `1-3, 7, 9-10`.
pub fn seed_list(seeds: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seeds.len() {
        let mut j = i;
        while j + 1 < seeds.len() && seeds[j + 1] == seeds[j] + 1 {
            j += 1;
        }
        out.push(if j == i {
            seeds[i].to_string()
        } else {
            format!("{}-{}", seeds[i], seeds[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_listed_as_runs() {
        assert_eq!(seed_list(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
        assert_eq!(seed_list(&[]), "");
        assert_eq!(seed_list(&[5]), "5");
    }

    #[test]
    fn numbers_read_as_counts_or_decimals() {
        assert_eq!(number(Num(15000.0)), "15,000");
        assert_eq!(number(Num(6.4761)), "6.476");
        assert_eq!(number(Num(0.0)), "0");
        assert_eq!(number(Num(-3.0)), "-3");
        assert_eq!(number(Num(12345.678)), "12345.7");
    }
}
