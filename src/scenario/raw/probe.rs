//! `[[probe]]` entries: a command run on a node at given times, its reply recorded.

use serde::Deserialize;
use toml::Spanned;

use super::Ctx;
use crate::scenario::{ProbeSpec, ScenarioError};
use crate::time::SimDuration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    node: Spanned<String>,
    command: Spanned<String>,
    at: Option<Spanned<Vec<Spanned<String>>>>,
    every: Option<Spanned<String>>,
}

/// The most replies one probe may record: a reply a millisecond over 100 s.
const TIMES_MAX: u64 = 100_000;

pub(super) fn probe(
    ctx: &Ctx,
    p: &Spanned<RawProbe>,
    duration: SimDuration,
) -> Result<ProbeSpec, ScenarioError> {
    let r = p.get_ref();
    let node = ctx.node(&r.node)?;
    let args = crate::redis::resp::split_args(r.command.get_ref().as_bytes())
        .ok_or_else(|| ctx.at(&r.command, "unbalanced quotes in command"))?;
    if args.is_empty() {
        return Err(ctx.at(&r.command, "the command is empty"));
    }
    let times = match (&r.at, &r.every) {
        (Some(at), None) => {
            if at.get_ref().is_empty() {
                return Err(ctx.at(at, "`at` lists no time"));
            }
            if at.get_ref().len() as u64 > TIMES_MAX {
                return Err(ctx.at(at, format!("at most {TIMES_MAX} times per probe")));
            }
            let mut times = Vec::new();
            for t in at.get_ref() {
                let d = ctx.duration(t, "at")?;
                if d > duration {
                    return Err(ctx.at(
                        t,
                        format!("probe at {d} is after the end of the scenario ({duration})"),
                    ));
                }
                times.push(d);
            }
            times.sort();
            times
        }
        (None, Some(every)) => {
            let d = ctx.duration(every, "every")?;
            if d.is_zero() || duration.as_nanos() / d.as_nanos() >= TIMES_MAX {
                return Err(ctx.at(
                    every,
                    format!("every {d} over {duration} is too often: at most {TIMES_MAX} replies per probe"),
                ));
            }
            (0..=duration.as_nanos() / d.as_nanos())
                .map(|k| SimDuration::from_nanos(k * d.as_nanos()))
                .collect()
        }
        (Some(at), Some(_)) => {
            return Err(ctx.at(
                at,
                "a probe has either `at` (a list of times) or `every` (an interval), not both",
            ))
        }
        (None, None) => {
            return Err(ctx.at(
                &r.node,
                "a probe needs `at = [\"1s\", \"5s\"]` or `every = \"1s\"`",
            ))
        }
    };
    Ok(ProbeSpec {
        node,
        command: args
            .into_iter()
            .map(|a| String::from_utf8_lossy(&a).to_string())
            .collect(),
        times,
    })
}
