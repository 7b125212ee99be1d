//! Script workloads (`[[workload]]` with `kind = "script"`): an exact sequence of commands,
//! with `<i>` replaced by the repetition's number, validated into a [`ScriptSpec`].

use toml::Spanned;

use super::{Ctx, RawWorkload};
use crate::scenario::{ScenarioError, ScriptSpec};
use crate::time::SimDuration;

/// The most commands a script may expand to: far beyond any experiment written by hand, and a
/// bound on the memory its replies take.
const COMMANDS_MAX: u64 = 1_000_000;

/// Splits `text` as redis-cli would, after replacing `<i>` with `i`.
fn command(ctx: &Ctx, v: &Spanned<String>, i: u64) -> Result<Vec<String>, ScenarioError> {
    let text = v.get_ref().replace("<i>", &i.to_string());
    let args = crate::redis::resp::split_args(text.as_bytes())
        .ok_or_else(|| ctx.at(v, "unbalanced quotes in command"))?;
    if args.is_empty() {
        return Err(ctx.at(v, "the command is empty"));
    }
    Ok(args
        .into_iter()
        .map(|a| String::from_utf8_lossy(&a).to_string())
        .collect())
}

pub(super) fn script(
    ctx: &Ctx,
    w: &RawWorkload,
    i: usize,
    duration: SimDuration,
) -> Result<ScriptSpec, ScenarioError> {
    let kind = w.kind.as_ref().expect("called for a script workload");
    // A field of a generated workload would be silently ignored here: it is an error instead.
    if let Some((field, span)) = w.generated_fields().into_iter().next() {
        return Err(ctx.err(
            span,
            format!("`{field}` does not apply to a script workload, which takes `name`, `target`, `start`, `commands`, `repeat`, `then`, `pipeline`, `client_rtt`"),
        ));
    }
    let node = match w.target.get_ref().as_str() {
        t if t == "@master" || t.starts_with("sentinel:") => {
            return Err(ctx.at(&w.target, "a script's target is a node by name"))
        }
        _ => ctx.node(&w.target)?,
    };
    let start = match &w.start {
        Some(v) => {
            let s = ctx.duration(v, "start")?;
            if s > duration {
                return Err(ctx.at(
                    v,
                    format!("start ({s}) is after the end of the scenario ({duration})"),
                ));
            }
            s
        }
        None => SimDuration::ZERO,
    };
    let repeat = match &w.repeat {
        Some(r) => ctx.count_in(r, "repeat", 1, COMMANDS_MAX as i64)?,
        None => 1,
    };
    let body = w
        .commands
        .as_ref()
        .ok_or_else(|| ctx.at(kind, "a script workload needs `commands = [\"SET k v\"]`"))?;
    if body.get_ref().is_empty() {
        return Err(ctx.at(body, "`commands` lists no command"));
    }
    let then: &[Spanned<String>] = w.then.as_ref().map_or(&[], |t| t.get_ref());
    let total = repeat * body.get_ref().len() as u64 + then.len() as u64;
    if total > COMMANDS_MAX {
        let msg = format!("the script expands to {total} commands; at most {COMMANDS_MAX}");
        return Err(match &w.repeat {
            Some(r) => ctx.at(r, msg),
            None => ctx.at(body, msg),
        });
    }
    let mut commands = Vec::with_capacity(total as usize);
    for n in 0..repeat {
        for c in body.get_ref() {
            commands.push(command(ctx, c, n)?);
        }
    }
    for c in then {
        if c.get_ref().contains("<i>") {
            return Err(ctx.at(
                c,
                "`then` runs once, after the repetitions: it has no `<i>`",
            ));
        }
        commands.push(command(ctx, c, 0)?);
    }
    let client_rtt = match &w.client_rtt {
        Some(v) => ctx.duration(v, "client_rtt")?,
        None => SimDuration::from_micros(200),
    };
    Ok(ScriptSpec {
        name: w.name.clone().unwrap_or_else(|| format!("script-{i}")),
        node,
        start,
        pipeline: w.pipeline.as_ref().is_some_and(|p| *p.get_ref()),
        commands,
        client_rtt,
    })
}
