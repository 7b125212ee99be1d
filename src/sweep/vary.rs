//! `--vary DIRECTIVE=VALUES`: the values of one redis.conf directive a sweep or the advisor
//! tries.
//!
//! VALUES is a list (`repl-timeout=10,30,60`, any text) or a range of numbers (`lo..hi`, sizes in
//! redis.conf notation such as `1mb..1gb`, or plain integers), in geometric steps by default
//! (`lo..hi` takes [`STEPS_DEFAULT`] values, `lo..hi:N` takes N) or in linear ones
//! (`lo..hi:+STEP`). A directive whose value has several parts names the varying one in braces,
//! and a later `{}` repeats it: `client-output-buffer-limit=replica {16mb..4gb} {} 0` varies the
//! replica hard and soft limits together.

use crate::scenario::units;

use super::VaryReport;

/// Values a range takes without `:N`.
pub const STEPS_DEFAULT: usize = 8;

/// The most values one `--vary` may take.
pub const VALUES_MAX: usize = 1000;

/// One directive and the values it takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    pub directive: String,
    /// The directive's value around the varying part: `parts[0] V parts[1] V …`. A plain value
    /// is `["", ""]`.
    pub parts: Vec<String>,
    pub spacing: Spacing,
    pub values: Vec<Value>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Spacing {
    List,
    Geometric,
    Linear,
}

impl Spacing {
    fn name(self) -> &'static str {
        match self {
            Spacing::List => "list",
            Spacing::Geometric => "geometric",
            Spacing::Linear => "linear",
        }
    }

    fn from_name(s: &str) -> Option<Spacing> {
        [Spacing::List, Spacing::Geometric, Spacing::Linear]
            .into_iter()
            .find(|x| x.name() == s)
    }
}

/// One value of the varying part.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// As written into the directive (`64mb`, `2754kb`, `yes`).
    pub text: String,
    /// As a number (bytes for sizes) when it is one.
    pub number: Option<f64>,
}

impl Vary {
    /// Parses `DIRECTIVE=VALUES`; a range without `:N` takes `default_steps` values.
    pub fn parse(text: &str, default_steps: usize) -> Result<Vary, String> {
        let (directive, spec) = text.split_once('=').ok_or_else(|| {
            format!("\"{text}\": expected DIRECTIVE=VALUES, such as repl-backlog-size=1mb..1gb")
        })?;
        let directive = directive.trim().to_string();
        if directive.is_empty() {
            return Err(format!("\"{text}\": no directive before ="));
        }
        let (parts, values) = template(spec.trim())?;
        let (spacing, values) = values_of(values, default_steps)?;
        if values.len() > VALUES_MAX {
            return Err(format!(
                "\"{text}\": {} values, more than {VALUES_MAX}",
                values.len()
            ));
        }
        Ok(Vary {
            directive,
            parts,
            spacing,
            values,
        })
    }

    /// The directive's whole value for value `i`.
    pub fn setting(&self, i: usize) -> String {
        self.parts.join(&self.values[i].text)
    }

    /// `DIRECTIVE=VALUE` for value `i`, as `--set` takes it.
    pub fn set_arg(&self, i: usize) -> String {
        format!("{}={}", self.directive, self.setting(i))
    }

    /// The values as numbers, when every one is.
    pub fn numbers(&self) -> Option<Vec<f64>> {
        self.values.iter().map(|v| v.number).collect()
    }

    pub fn report(&self) -> VaryReport {
        VaryReport {
            directive: self.directive.clone(),
            template: self.parts.join("{}"),
            spacing: self.spacing.name().to_string(),
            values: self.values.iter().map(|v| v.text.clone()).collect(),
            numbers: self.numbers(),
        }
    }

    /// The `Vary` a report was written from, for merging shards.
    pub fn from_report(r: &VaryReport) -> Result<Vary, String> {
        let spacing = Spacing::from_name(&r.spacing)
            .ok_or_else(|| format!("unknown spacing \"{}\"", r.spacing))?;
        let numbers = match &r.numbers {
            Some(n) if n.len() != r.values.len() => {
                return Err("numbers and values differ in length".into())
            }
            Some(n) => n.iter().copied().map(Some).collect(),
            None => vec![None; r.values.len()],
        };
        let parts: Vec<String> = r.template.split("{}").map(str::to_string).collect();
        if parts.len() < 2 {
            return Err(format!("template \"{}\" has no {{}}", r.template));
        }
        Ok(Vary {
            directive: r.directive.clone(),
            parts,
            spacing,
            values: r
                .values
                .iter()
                .zip(numbers)
                .map(|(text, number)| Value {
                    text: text.clone(),
                    number,
                })
                .collect(),
        })
    }
}

/// Splits `spec` into the fixed parts around the varying one and the varying one's values.
fn template(spec: &str) -> Result<(Vec<String>, &str), String> {
    if !spec.contains('{') {
        return Ok((vec![String::new(), String::new()], spec));
    }
    let mut parts = Vec::new();
    let mut values = None;
    let mut rest = spec;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| format!("\"{spec}\": a {{ without its }}"))?;
        parts.push(rest[..open].to_string());
        let inner = rest[open + 1..close].trim();
        if !inner.is_empty() {
            if values.is_some() {
                return Err(format!(
                    "\"{spec}\": more than one part in braces varies; a later {{}} repeats the first"
                ));
            }
            values = Some(inner);
        }
        rest = &rest[close + 1..];
    }
    parts.push(rest.to_string());
    let values =
        values.ok_or_else(|| format!("\"{spec}\": no values in braces, such as {{16mb..4gb}}"))?;
    Ok((parts, values))
}

/// The values of `spec`: a list, or a range in steps.
fn values_of(spec: &str, default_steps: usize) -> Result<(Spacing, Vec<Value>), String> {
    if spec.is_empty() {
        return Err("no values to vary".into());
    }
    let Some((lo, rest)) = spec.split_once("..") else {
        let values: Vec<Value> = spec
            .split(',')
            .map(|t| {
                let text = t.trim().to_string();
                let number = units::size(&text).ok().map(|n| n as f64);
                Value { text, number }
            })
            .collect();
        if values.iter().any(|v| v.text.is_empty()) {
            return Err(format!("\"{spec}\": an empty value in the list"));
        }
        return Ok((Spacing::List, values));
    };
    let (hi, step) = match rest.split_once(':') {
        Some((hi, step)) => (hi, Some(step.trim())),
        None => (rest, None),
    };
    let (lo, hi) = (Number::parse(lo)?, Number::parse(hi)?);
    if lo.value >= hi.value {
        return Err(format!(
            "\"{spec}\": a range runs from a smaller value to a larger one"
        ));
    }
    let sizes = lo.size || hi.size;
    let (spacing, raw) = match step {
        Some(s) if s.starts_with('+') => {
            let step = Number::parse(&s[1..])?;
            if step.value == 0 {
                return Err(format!("\"{spec}\": a step of 0"));
            }
            let count = (hi.value - lo.value) / step.value + 1;
            if count > VALUES_MAX as u64 {
                return Err(format!(
                    "\"{spec}\": {count} values, more than {VALUES_MAX}"
                ));
            }
            let raw = (0..count).map(|k| lo.value + k * step.value).collect();
            (Spacing::Linear, raw)
        }
        _ => {
            let steps = match step {
                Some(n) => n.parse::<usize>().map_err(|_| {
                    format!("\"{spec}\": after : a number of steps (:16) or a linear step (:+16mb)")
                })?,
                None => default_steps,
            };
            if !(2..=VALUES_MAX).contains(&steps) {
                return Err(format!(
                    "\"{spec}\": a range takes from 2 to {VALUES_MAX} steps"
                ));
            }
            if lo.value == 0 {
                return Err(format!(
                    "\"{spec}\": a geometric range cannot start at 0; give a linear step (:+STEP)"
                ));
            }
            (
                Spacing::Geometric,
                geometric(lo.value, hi.value, steps, sizes),
            )
        }
    };
    let values = raw
        .into_iter()
        .map(|n| Value {
            text: if sizes { size_text(n) } else { n.to_string() },
            number: Some(n as f64),
        })
        .collect();
    Ok((spacing, values))
}

/// `steps` values from `lo` to `hi` (both kept exactly), each the previous times the same
/// ratio, rounded to integers, and sizes to three or more digits of the largest unit that
/// leaves them (`840mb`, `2756kb`); a value that rounds onto its neighbour is left out.
fn geometric(lo: u64, hi: u64, steps: usize, sizes: bool) -> Vec<u64> {
    let ratio = (hi as f64 / lo as f64).powf(1.0 / (steps - 1) as f64);
    let mut out: Vec<u64> = Vec::with_capacity(steps);
    for k in 0..steps {
        let x = if k == 0 {
            lo
        } else if k == steps - 1 {
            hi
        } else {
            let x = lo as f64 * ratio.powi(k as i32);
            // The largest unit that leaves at least three digits: 840mb, not 860184kb.
            let unit = if sizes {
                [1u64 << 30, 1 << 20, 1 << 10]
                    .into_iter()
                    .map(|u| u as f64)
                    .find(|u| x / u >= 100.0)
                    .unwrap_or(1.0)
            } else {
                1.0
            };
            ((x / unit).round() * unit) as u64
        };
        if out.last().is_none_or(|&l| l < x) {
            out.push(x);
        }
    }
    out
}

/// A range's bound or step: its value, and whether it was written as a size (`64mb`).
struct Number {
    value: u64,
    size: bool,
}

impl Number {
    fn parse(text: &str) -> Result<Number, String> {
        let t = text.trim();
        let value = units::size(t).map_err(|_| {
            format!("\"{t}\": a range takes numbers or sizes such as 64mb; list words as a,b,c")
        })?;
        Ok(Number {
            value,
            size: t.ends_with(|c: char| c.is_ascii_alphabetic()),
        })
    }
}

/// Bytes in redis.conf notation: the largest of gb, mb, kb that divides them, else bytes.
pub fn size_text(bytes: u64) -> String {
    for (unit, name) in [(1u64 << 30, "gb"), (1 << 20, "mb"), (1 << 10, "kb")] {
        if bytes >= unit && bytes % unit == 0 {
            return format!("{}{name}", bytes / unit);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: &Vary) -> Vec<&str> {
        v.values.iter().map(|v| v.text.as_str()).collect()
    }

    #[test]
    fn a_list_keeps_its_order_and_its_words() {
        let v = Vary::parse("repl-diskless-sync=yes,no", 8).unwrap();
        assert_eq!((v.spacing, texts(&v)), (Spacing::List, vec!["yes", "no"]));
        assert_eq!(v.numbers(), None);
        assert_eq!(v.set_arg(1), "repl-diskless-sync=no");
        let n = Vary::parse("repl-timeout=10, 30,60", 8).unwrap();
        assert_eq!(n.numbers(), Some(vec![10.0, 30.0, 60.0]));
    }

    #[test]
    fn a_range_takes_geometric_steps_with_exact_ends() {
        let v = Vary::parse("repl-backlog-size=1mb..1gb", STEPS_DEFAULT).unwrap();
        assert_eq!(v.spacing, Spacing::Geometric);
        assert_eq!(v.values.len(), STEPS_DEFAULT);
        assert_eq!(texts(&v)[0], "1mb");
        assert_eq!(texts(&v)[7], "1gb");
        // 1024^(1/7) = 2.6918 per step, rounded to three digits of a unit.
        assert_eq!(
            texts(&v)[1..7],
            ["2756kb", "7420kb", "19972kb", "53761kb", "141mb", "380mb"]
        );
        let n = v.numbers().unwrap();
        assert!(
            n.windows(2).all(|w| (w[1] / w[0] - 2.6918).abs() < 0.01),
            "{n:?}"
        );
        let four = Vary::parse("repl-backlog-size=1mb..8mb:4", 8).unwrap();
        assert_eq!(texts(&four), ["1mb", "2mb", "4mb", "8mb"]);
        let ints = Vary::parse("repl-timeout=1..1000:4", 8).unwrap();
        assert_eq!(texts(&ints), ["1", "10", "100", "1000"]);
    }

    #[test]
    fn a_linear_range_steps_by_a_fixed_amount() {
        let v = Vary::parse("repl-timeout=10..60:+25", 8).unwrap();
        assert_eq!(
            (v.spacing, texts(&v)),
            (Spacing::Linear, vec!["10", "35", "60"])
        );
        let s = Vary::parse("repl-backlog-size=0..2mb:+1mb", 8).unwrap();
        assert_eq!(texts(&s), ["0", "1mb", "2mb"]);
    }

    #[test]
    fn rounding_never_repeats_a_value() {
        let v = Vary::parse("repl-timeout=1..4:10", 8).unwrap();
        assert_eq!(texts(&v), ["1", "2", "3", "4"]);
    }

    #[test]
    fn a_template_varies_the_part_in_braces_and_repeats_it() {
        let v = Vary::parse("client-output-buffer-limit=replica {16mb..64mb:3} {} 0", 8).unwrap();
        assert_eq!(v.directive, "client-output-buffer-limit");
        assert_eq!(texts(&v), ["16mb", "32mb", "64mb"]);
        assert_eq!(v.setting(1), "replica 32mb 32mb 0");
    }

    #[test]
    fn mistakes_are_explained() {
        for (bad, says) in [
            ("repl-backlog-size", "DIRECTIVE=VALUES"),
            ("=1..2", "no directive"),
            ("repl-backlog-size=1gb..1mb", "smaller value to a larger"),
            ("repl-backlog-size=0..1mb", "cannot start at 0"),
            ("repl-backlog-size=1mb..1gb:1", "from 2 to"),
            ("repl-backlog-size=1mb..1gb:x", "number of steps"),
            ("repl-backlog-size=1mb..1gb:+0", "step of 0"),
            ("repl-backlog-size=a..b", "numbers or sizes"),
            ("repl-timeout=1,,2", "empty value"),
            (
                "client-output-buffer-limit=replica {} 0 0",
                "no values in braces",
            ),
            (
                "client-output-buffer-limit=replica {1..2} {3..4} 0",
                "more than one",
            ),
            ("client-output-buffer-limit=replica {1..2", "without its"),
            ("repl-timeout=1..100000:+1", "more than"),
        ] {
            let e = Vary::parse(bad, 8).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
