//! A fault's `after = { event = "...", node = "...", delay = "1s", occurrence = 1 }`: its raw
//! shape and its validation into a [`Trigger`].

use serde::Deserialize;
use toml::Spanned;

use super::Ctx;
use crate::scenario::suggest::did_you_mean;
use crate::scenario::{ScenarioError, Trigger, TriggerEvent};
use crate::time::SimDuration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAfter {
    event: Spanned<String>,
    node: Option<Spanned<String>>,
    delay: Option<Spanned<String>>,
    occurrence: Option<Spanned<i64>>,
}

/// The most occurrences a trigger may count to: far beyond any run's syncs or failovers.
const OCCURRENCE_MAX: i64 = 1_000_000;

pub(super) fn trigger(
    ctx: &Ctx,
    a: &Spanned<RawAfter>,
    duration: SimDuration,
) -> Result<Trigger, ScenarioError> {
    let r = a.get_ref();
    let name = r.event.get_ref().as_str();
    let event = if let Some((_, e)) = TriggerEvent::NODE_EVENTS.iter().find(|(n, _)| *n == name) {
        e.clone()
    } else if TriggerEvent::SENTINEL_EVENTS.contains(&name) {
        TriggerEvent::Sentinel(name.to_string())
    } else {
        let all = TriggerEvent::NODE_EVENTS
            .iter()
            .map(|(n, _)| *n)
            .chain(TriggerEvent::SENTINEL_EVENTS);
        return Err(ctx.at(
            &r.event,
            format!(
                "unknown event \"{name}\"{}; the events are: {}",
                did_you_mean(name, all.clone()),
                all.collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let host = match &r.node {
        None => None,
        Some(n) if matches!(event, TriggerEvent::Sentinel(_)) => {
            let name = n.get_ref();
            let j = ctx.sentinels.iter().position(|s| s == name).ok_or_else(|| {
                ctx.at(
                    n,
                    format!(
                        "a Sentinel event is reported by a sentinel, and \"{name}\" is none{}; the sentinels are: {}",
                        did_you_mean(name, ctx.sentinels.iter().map(String::as_str)),
                        if ctx.sentinels.is_empty() {
                            "(none)".to_string()
                        } else {
                            ctx.sentinels.join(", ")
                        }
                    ),
                )
            })?;
            Some(ctx.names.len() + j)
        }
        Some(n) => Some(ctx.node(n)?),
    };
    if matches!(event, TriggerEvent::Sentinel(_)) && ctx.sentinels.is_empty() {
        return Err(ctx.at(
            &r.event,
            format!("event \"{name}\" comes from a Sentinel, and the scenario has no [[sentinel]]"),
        ));
    }
    let delay = match &r.delay {
        Some(d) => ctx.duration(d, "delay")?,
        None => SimDuration::ZERO,
    };
    if delay > duration {
        let d = r.delay.as_ref().expect("a delay above zero was given");
        return Err(ctx.at(
            d,
            format!("a delay of {delay} is longer than the scenario ({duration}): the fault could never apply"),
        ));
    }
    let occurrence = match &r.occurrence {
        Some(o) => ctx.count_in(o, "occurrence", 1, OCCURRENCE_MAX)? as u32,
        None => 1,
    };
    Ok(Trigger {
        event,
        host,
        delay,
        occurrence,
    })
}
