//! `[[sentinel]]` entries: their raw shape and their validation into [`SentinelSpec`]s.
//!
//! A Sentinel is a host of its own on the network (a partition may name it), monitoring one
//! node under a master name. Its directives keep sentinel.conf's names:
//! `down-after-milliseconds`, `failover-timeout`, `parallel-syncs`.

use serde::Deserialize;
use toml::{Spanned, Value};

use super::Ctx;
use crate::scenario::{ScenarioError, SentinelSpec, Target};
use crate::time::SimDuration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSentinel {
    name: Spanned<String>,
    monitor: Spanned<String>,
    master_name: Option<Spanned<String>>,
    quorum: Spanned<i64>,
    #[serde(rename = "down-after-milliseconds")]
    down_after: Option<Spanned<Value>>,
    #[serde(rename = "failover-timeout")]
    failover_timeout: Option<Spanned<Value>>,
    #[serde(rename = "parallel-syncs")]
    parallel_syncs: Option<Spanned<i64>>,
}

/// The longest span a Sentinel directive in milliseconds may name: a day, far beyond any real
/// setting and far from overflowing Sentinel's millisecond arithmetic.
const MS_MAX: u64 = 86_400_000;

/// A Sentinel directive in milliseconds: an integer, as in sentinel.conf, or a duration.
fn millis(ctx: &Ctx, v: &Spanned<Value>, what: &str) -> Result<SimDuration, ScenarioError> {
    let d = match v.get_ref() {
        Value::Integer(n) if *n > 0 => SimDuration::from_millis(*n as u64),
        Value::Integer(n) => {
            return Err(ctx.at(
                v,
                format!("{what} must be more than 0 milliseconds, found {n}"),
            ))
        }
        Value::String(s) => {
            let d = super::units::duration(s).map_err(|e| ctx.at(v, format!("{what}: {e}")))?;
            if d.as_nanos() % 1_000_000 != 0 || d.is_zero() {
                return Err(ctx.at(
                    v,
                    format!("{what} is in whole milliseconds above 0; \"{s}\" is not"),
                ));
            }
            d
        }
        other => {
            return Err(ctx.at(
                v,
                format!(
                    "{what}: expected milliseconds (5000) or a duration (\"5s\"), found {}",
                    other.type_str()
                ),
            ))
        }
    };
    if d.as_millis() > MS_MAX {
        return Err(ctx.at(v, format!("{what} must be at most 1 day, found {d}")));
    }
    Ok(d)
}

/// Checks each `[[sentinel]]` against the nodes (already known to `ctx`) and its neighbours.
pub(super) fn sentinels(
    ctx: &Ctx,
    raw: &[RawSentinel],
) -> Result<Vec<SentinelSpec>, ScenarioError> {
    let mut out: Vec<SentinelSpec> = Vec::new();
    for s in raw {
        let name = s.name.get_ref();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ctx.at(
                &s.name,
                format!("sentinel name \"{name}\" must be letters, digits, '-' or '_'"),
            ));
        }
        if ctx.names.contains(name) || out.iter().any(|o| &o.name == name) {
            return Err(ctx.at(
                &s.name,
                format!("\"{name}\" is defined twice: nodes and sentinels share one set of names"),
            ));
        }
        if name == "checks" {
            return Err(ctx.at(&s.name, "\"checks\" is reserved for checker results"));
        }
        let monitor = ctx.node(&s.monitor)?;
        let master_name = match &s.master_name {
            Some(m) => {
                let t = m.get_ref();
                if t.is_empty() || t.contains(|c: char| c.is_whitespace() || c == ',') {
                    return Err(ctx.at(
                        m,
                        format!("master_name \"{t}\" must be one word without commas (Sentinel's hellos separate fields with commas)"),
                    ));
                }
                t.clone()
            }
            None => "mymaster".to_string(),
        };
        if let Some(other) = out
            .iter()
            .find(|o| o.master_name == master_name && o.monitor != monitor)
        {
            return Err(ctx.at(
                &s.monitor,
                format!(
                    "sentinel \"{}\" monitors \"{master_name}\" at node \"{}\"; every sentinel of one master name starts at the same node",
                    other.name, ctx.names[other.monitor]
                ),
            ));
        }
        let quorum = ctx.count_in(&s.quorum, "quorum", 1, 1000)? as u32;
        let down_after = match &s.down_after {
            Some(v) => millis(ctx, v, "down-after-milliseconds")?,
            None => SimDuration::from_secs(30),
        };
        let failover_timeout = match &s.failover_timeout {
            Some(v) => millis(ctx, v, "failover-timeout")?,
            None => SimDuration::from_secs(180),
        };
        let parallel_syncs = match &s.parallel_syncs {
            Some(v) => ctx.count_in(v, "parallel-syncs", 1, 1000)? as u32,
            None => 1,
        };
        out.push(SentinelSpec {
            name: name.clone(),
            monitor,
            master_name,
            quorum,
            down_after,
            failover_timeout,
            parallel_syncs,
        });
    }
    Ok(out)
}

/// A workload's `target = "sentinel:<master name>"` and its `sentinels`: the Sentinels it asks,
/// in order (by default every Sentinel of that master name, in file order).
pub(super) fn client_target(
    ctx: &Ctx,
    target: &Spanned<String>,
    master_name: &str,
    asked: &Option<Spanned<Vec<String>>>,
) -> Result<Target, ScenarioError> {
    let of_master: Vec<usize> = (0..ctx.sentinels.len())
        .filter(|&j| ctx.sentinel_masters[j] == master_name)
        .collect();
    if of_master.is_empty() {
        let mut names: Vec<&str> = ctx.sentinel_masters.iter().map(String::as_str).collect();
        names.dedup();
        return Err(ctx.at(
            target,
            if names.is_empty() {
                "no [[sentinel]] to ask: a target \"sentinel:<master name>\" needs Sentinels monitoring that master".to_string()
            } else {
                format!(
                    "no [[sentinel]] monitors \"{master_name}\"{}; the master names are: {}",
                    crate::scenario::suggest::did_you_mean(master_name, names.iter().copied()),
                    names.join(", ")
                )
            },
        ));
    }
    let sentinels = match asked {
        None => of_master,
        Some(list) => {
            if list.get_ref().is_empty() {
                return Err(ctx.at(list, "`sentinels` names at least one Sentinel to ask"));
            }
            let mut out = Vec::new();
            for name in list.get_ref() {
                let Some(j) = ctx.sentinels.iter().position(|s| s == name) else {
                    return Err(ctx.at(
                        list,
                        format!(
                            "unknown sentinel \"{name}\"{}; the sentinels are: {}",
                            crate::scenario::suggest::did_you_mean(
                                name,
                                ctx.sentinels.iter().map(String::as_str)
                            ),
                            ctx.sentinels.join(", ")
                        ),
                    ));
                };
                if !of_master.contains(&j) {
                    return Err(ctx.at(
                        list,
                        format!("sentinel \"{name}\" does not monitor \"{master_name}\""),
                    ));
                }
                out.push(j);
            }
            out
        }
    };
    Ok(Target::Sentinel {
        master_name: master_name.to_string(),
        sentinels,
    })
}
