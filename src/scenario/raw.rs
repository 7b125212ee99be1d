//! The raw serde shape of a scenario file and its validation into [`Scenario`].

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::{Spanned, Value};

use super::suggest::did_you_mean;
use super::units;
use super::{
    DataSpec, Distribution, ExpectValue, Expectation, FaultKind, FaultSpec, LinkOverride,
    LinkPatch, Mix, NodeSpec, Op, Scenario, ScenarioError, Target, WorkloadSpec,
};

mod probe;
mod script;
mod sentinel;
mod trigger;
use crate::net::LinkParams;
use crate::redis::config::Config;
use crate::redis::keyspace::{rdb_len_bytes, Bulk};
use crate::time::SimDuration;

/// Materialised keys per node dataset or workload key space: each costs memory on every node.
const MAX_KEYS: u64 = 10_000_000;
/// Materialised initial data per node (keys times value size).
const MAX_MATERIALISED: u64 = 2 << 30;
/// Redis's `proto-max-bulk-len` default: the largest key or value.
const MAX_BULK_LEN: u64 = 512 << 20;
/// The largest synthetic dataset, in RDB bytes (1 PB): far beyond any real instance, and far
/// from overflowing the byte arithmetic of a transfer.
const MAX_BULK_BYTES: u64 = 1 << 50;

type Map = BTreeMap<Spanned<String>, Spanned<Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    seed: Option<Spanned<i64>>,
    duration: Spanned<String>,
    sample_interval: Option<Spanned<String>>,
    network: Option<RawLinkParams>,
    #[serde(default)]
    link: Vec<RawLink>,
    #[serde(default)]
    defaults: Map,
    #[serde(default)]
    node: Vec<RawNode>,
    #[serde(default)]
    sentinel: Vec<sentinel::RawSentinel>,
    #[serde(default)]
    workload: Vec<RawWorkload>,
    #[serde(default)]
    fault: Vec<Spanned<RawFault>>,
    #[serde(default)]
    probe: Vec<Spanned<probe::RawProbe>>,
    #[serde(default)]
    expect: Map,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLinkParams {
    latency: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    bandwidth: Option<Spanned<String>>,
    loss: Option<Spanned<String>>,
    send_buffer: Option<Spanned<Value>>,
    rto: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    between: Spanned<Vec<String>>,
    #[serde(default)]
    one_way: bool,
    latency: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    bandwidth: Option<Spanned<String>>,
    loss: Option<Spanned<String>>,
    send_buffer: Option<Spanned<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Spanned<String>,
    replicaof: Option<Spanned<String>>,
    warm: Option<Spanned<bool>>,
    #[serde(default)]
    config: Map,
    data: Option<RawData>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    keys: Option<Spanned<i64>>,
    value_size: Option<Spanned<Value>>,
    bulk_keys: Option<Spanned<i64>>,
    bulk_size: Option<Spanned<Value>>,
    bulk_key_size: Option<Spanned<Value>>,
    bulk_value_size: Option<Spanned<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: Option<String>,
    target: Spanned<String>,
    /// `"script"` for a script workload; absent for a generated one.
    kind: Option<Spanned<String>>,
    rate: Option<Spanned<i64>>,
    commands: Option<Spanned<Vec<Spanned<String>>>>,
    repeat: Option<Spanned<i64>>,
    then: Option<Spanned<Vec<Spanned<String>>>>,
    pipeline: Option<Spanned<bool>>,
    start: Option<Spanned<String>>,
    stop: Option<Spanned<String>>,
    mix: Option<Spanned<BTreeMap<String, Spanned<i64>>>>,
    keys: Option<Spanned<i64>>,
    distribution: Option<Spanned<String>>,
    value_size: Option<Spanned<Value>>,
    wait: Option<RawWait>,
    read_from: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    client_rtt: Option<Spanned<String>>,
    sentinels: Option<Spanned<Vec<String>>>,
    near: Option<Spanned<String>>,
}

impl RawWorkload {
    /// The fields only a generated workload takes that the file gives, each with its span.
    fn generated_fields(&self) -> Vec<(&'static str, Range<usize>)> {
        let mut given = Vec::new();
        let mut note = |name: &'static str, span: Option<Range<usize>>| {
            if let Some(span) = span {
                given.push((name, span));
            }
        };
        note("rate", self.rate.as_ref().map(Spanned::span));
        note("stop", self.stop.as_ref().map(Spanned::span));
        note("mix", self.mix.as_ref().map(Spanned::span));
        note("keys", self.keys.as_ref().map(Spanned::span));
        note(
            "distribution",
            self.distribution.as_ref().map(Spanned::span),
        );
        note("value_size", self.value_size.as_ref().map(Spanned::span));
        note("wait", self.wait.as_ref().map(|w| w.replicas.span()));
        note("read_from", self.read_from.as_ref().map(Spanned::span));
        note("timeout", self.timeout.as_ref().map(Spanned::span));
        note("sentinels", self.sentinels.as_ref().map(Spanned::span));
        note("near", self.near.as_ref().map(Spanned::span));
        given
    }

    /// The fields only a script workload takes that the file gives, each with its span.
    fn script_fields(&self) -> Vec<(&'static str, Range<usize>)> {
        [
            ("commands", self.commands.as_ref().map(Spanned::span)),
            ("repeat", self.repeat.as_ref().map(Spanned::span)),
            ("then", self.then.as_ref().map(Spanned::span)),
            ("pipeline", self.pipeline.as_ref().map(Spanned::span)),
        ]
        .into_iter()
        .filter_map(|(name, span)| span.map(|s| (name, s)))
        .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWait {
    replicas: Spanned<i64>,
    timeout: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    at: Option<Spanned<String>>,
    after: Option<Spanned<trigger::RawAfter>>,
    kind: Spanned<String>,
    name: Option<Spanned<String>>,
    groups: Option<Spanned<Vec<Vec<String>>>>,
    one_way: Option<Spanned<bool>>,
    duration: Option<Spanned<String>>,
    partition: Option<Spanned<String>>,
    between: Option<Spanned<Vec<String>>>,
    node: Option<Spanned<String>>,
    persistence: Option<Spanned<bool>>,
    command: Option<Spanned<String>>,
    latency: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    bandwidth: Option<Spanned<String>>,
    loss: Option<Spanned<String>>,
    send_buffer: Option<Spanned<Value>>,
}

/// The fields each fault kind takes besides `at` and `kind`. A field of another kind is an
/// error, not silently ignored: `crash` with a `duration` would otherwise read as a crash that
/// ends by itself.
const FAULT_FIELDS: &[(&str, &[&str])] = &[
    ("partition", &["groups", "one_way", "duration", "name"]),
    ("heal", &["partition"]),
    (
        "link",
        &[
            "between",
            "one_way",
            "latency",
            "jitter",
            "bandwidth",
            "loss",
            "send_buffer",
        ],
    ),
    ("reset", &["between"]),
    ("crash", &["node"]),
    ("shutdown", &["node"]),
    ("restart", &["node", "persistence"]),
    ("pause", &["node", "duration"]),
    ("command", &["node", "command"]),
];

impl RawFault {
    /// The optional fields given in the file, each with its span. Destructured without `..`, so
    /// a field added to `RawFault` does not compile until it is listed here.
    fn given(&self) -> Vec<(&'static str, Range<usize>)> {
        let RawFault {
            at: _,
            after: _,
            kind: _,
            name,
            groups,
            one_way,
            duration,
            partition,
            between,
            node,
            persistence,
            command,
            latency,
            jitter,
            bandwidth,
            loss,
            send_buffer,
        } = self;
        let span = |v: Option<Range<usize>>, field: &'static str| v.map(|s| (field, s));
        [
            span(name.as_ref().map(Spanned::span), "name"),
            span(groups.as_ref().map(Spanned::span), "groups"),
            span(one_way.as_ref().map(Spanned::span), "one_way"),
            span(duration.as_ref().map(Spanned::span), "duration"),
            span(partition.as_ref().map(Spanned::span), "partition"),
            span(between.as_ref().map(Spanned::span), "between"),
            span(node.as_ref().map(Spanned::span), "node"),
            span(persistence.as_ref().map(Spanned::span), "persistence"),
            span(command.as_ref().map(Spanned::span), "command"),
            span(latency.as_ref().map(Spanned::span), "latency"),
            span(jitter.as_ref().map(Spanned::span), "jitter"),
            span(bandwidth.as_ref().map(Spanned::span), "bandwidth"),
            span(loss.as_ref().map(Spanned::span), "loss"),
            span(send_buffer.as_ref().map(Spanned::span), "send_buffer"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn one_way(&self) -> bool {
        self.one_way.as_ref().is_some_and(|b| *b.get_ref())
    }
}

/// Errors carry a span; this turns it into file:line:column.
struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
    /// The nodes' names, in file order (node `i` is host `i`).
    names: Vec<String>,
    /// The Sentinels' names, in file order (Sentinel `j` is host `names.len() + j`).
    sentinels: Vec<String>,
    /// The master name each Sentinel monitors.
    sentinel_masters: Vec<String>,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let (line, column) = line_col(self.src, span.start);
        ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    fn at<T>(&self, v: &Spanned<T>, message: impl Into<String>) -> ScenarioError {
        self.err(v.span(), message)
    }

    fn duration(&self, v: &Spanned<String>, what: &str) -> Result<SimDuration, ScenarioError> {
        units::duration(v.get_ref()).map_err(|e| self.at(v, format!("{what}: {e}")))
    }

    fn size(&self, v: &Spanned<Value>, what: &str) -> Result<u64, ScenarioError> {
        match v.get_ref() {
            Value::Integer(n) if *n >= 0 => Ok(*n as u64),
            Value::Integer(_) => Err(self.at(v, format!("{what}: a size cannot be negative"))),
            Value::String(s) => units::size(s).map_err(|e| self.at(v, format!("{what}: {e}"))),
            other => Err(self.at(
                v,
                format!(
                    "{what}: expected a size such as \"64kb\" or 1024, found {}",
                    other.type_str()
                ),
            )),
        }
    }

    fn count(&self, v: &Spanned<i64>, what: &str, min: i64) -> Result<u64, ScenarioError> {
        let n = *v.get_ref();
        if n < min {
            return Err(self.at(v, format!("{what} must be at least {min}, found {n}")));
        }
        Ok(n as u64)
    }

    /// A count within `min..=max` (the upper bound keeps memory and arithmetic in range).
    fn count_in(
        &self,
        v: &Spanned<i64>,
        what: &str,
        min: i64,
        max: i64,
    ) -> Result<u64, ScenarioError> {
        let n = *v.get_ref();
        if !(min..=max).contains(&n) {
            return Err(self.at(
                v,
                format!("{what} must be between {min} and {max}, found {n}"),
            ));
        }
        Ok(n as u64)
    }

    /// A size of at most `max` bytes.
    fn size_at_most(
        &self,
        v: &Spanned<Value>,
        what: &str,
        max: u64,
        max_text: &str,
    ) -> Result<u64, ScenarioError> {
        let n = self.size(v, what)?;
        if n > max {
            return Err(self.at(
                v,
                format!("{what} must be at most {max_text}, found {n} bytes"),
            ));
        }
        Ok(n)
    }

    fn node(&self, v: &Spanned<String>) -> Result<usize, ScenarioError> {
        self.node_name(v, v.get_ref())
    }

    fn node_name<T>(&self, v: &Spanned<T>, name: &str) -> Result<usize, ScenarioError> {
        if self.sentinels.iter().any(|s| s == name) {
            return Err(self.at(
                v,
                format!(
                    "\"{name}\" is a sentinel; this takes a node: {}",
                    self.names.join(", ")
                ),
            ));
        }
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            self.at(
                v,
                format!(
                    "unknown node \"{name}\"{}; the nodes are: {}",
                    did_you_mean(name, self.names.iter().map(String::as_str)),
                    self.names.join(", ")
                ),
            )
        })
    }

    /// A host on the network: a node or a Sentinel, by name.
    fn host_name<T>(&self, v: &Spanned<T>, name: &str) -> Result<usize, ScenarioError> {
        if let Some(j) = self.sentinels.iter().position(|s| s == name) {
            return Ok(self.names.len() + j);
        }
        if self.sentinels.is_empty() {
            return self.node_name(v, name);
        }
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            let all = self.names.iter().chain(&self.sentinels).map(String::as_str);
            self.at(
                v,
                format!(
                    "unknown node or sentinel \"{name}\"{}; the nodes are: {}; the sentinels are: {}",
                    did_you_mean(name, all),
                    self.names.join(", "),
                    self.sentinels.join(", ")
                ),
            )
        })
    }

    /// Every host: the nodes, then the Sentinels.
    fn host_count(&self) -> usize {
        self.names.len() + self.sentinels.len()
    }

    fn pair(&self, v: &Spanned<Vec<String>>) -> Result<(usize, usize), ScenarioError> {
        let names = v.get_ref();
        if names.len() != 2 {
            return Err(self.at(v, format!("expected two node names, found {}", names.len())));
        }
        let (a, b) = (self.host_name(v, &names[0])?, self.host_name(v, &names[1])?);
        if a == b {
            return Err(self.at(v, "a link joins two different nodes"));
        }
        Ok((a, b))
    }
}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, column)
}

/// Directives whose redis.conf unit is whole seconds: a scenario may write them as `"60s"`.
const SECONDS_DIRECTIVES: &[&str] = &[
    "repl-timeout",
    "repl-backlog-ttl",
    "repl-ping-replica-period",
    "repl-diskless-sync-delay",
    "min-replicas-max-lag",
    "min-slaves-max-lag",
    "repl-ping-slave-period",
];

/// The cost model's durations (`replsim-fork-time = "1ms"`): a scenario may write them with
/// decimals, as any scenario duration (`"1.5ms"`); the node's own parser, like CONFIG SET, takes
/// whole numbers of a unit.
const DURATION_DIRECTIVES: &[&str] = &[
    "replsim-fork-time",
    "replsim-fork-time-per-gb",
    "replsim-command-time",
];

/// The redis.conf text for a directive's value from its TOML (or `--set`) form.
pub(super) fn directive_value(name: &str, value: &str) -> Result<String, String> {
    if DURATION_DIRECTIVES.contains(&name.to_ascii_lowercase().as_str()) && value.contains('.') {
        let d = units::duration(value).map_err(|e| format!("{name}: {e}"))?;
        return Ok(format!("{}ns", d.as_nanos()));
    }
    if SECONDS_DIRECTIVES.contains(&name.to_ascii_lowercase().as_str())
        && value.trim().ends_with(|c: char| c.is_ascii_alphabetic())
    {
        let d = units::duration(value)?;
        if d.as_nanos() % 1_000_000_000 != 0 {
            return Err(format!("{name} is in whole seconds; \"{value}\" is not"));
        }
        return Ok(d.as_secs().to_string());
    }
    Ok(value.to_string())
}

fn apply_directives(ctx: &Ctx, cfg: &mut Config, map: &Map) -> Result<(), ScenarioError> {
    for (k, v) in map {
        let text = match v.get_ref() {
            Value::Integer(n) => n.to_string(),
            Value::Boolean(b) => if *b { "yes" } else { "no" }.to_string(),
            Value::String(s) => s.clone(),
            other => {
                return Err(ctx.at(
                    v,
                    format!(
                        "{}: expected a string, number or boolean, found {}",
                        k.get_ref(),
                        other.type_str()
                    ),
                ))
            }
        };
        let text = directive_value(k.get_ref(), &text).map_err(|e| ctx.at(v, e))?;
        cfg.set(k.get_ref(), &text, false).map_err(|e| match e {
            crate::redis::config::ConfigError::Unknown(name) => ctx.at(k, unknown_directive(&name)),
            other => ctx.at(v, other.to_string()),
        })?;
    }
    Ok(())
}

/// The message for a directive replsim does not know, with the nearest one it does.
pub(super) fn unknown_directive(name: &str) -> String {
    let known = crate::redis::config::DIRECTIVES.iter().copied();
    format!(
        "unknown directive \"{name}\"{}; see docs/scenario-format.md for the directives replsim models",
        did_you_mean(name, known)
    )
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a` or `b`") with the
/// nearest expected field named.
fn with_field_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match super::suggest::nearest(field, candidates) {
        Some(near) => format!("{message}; did you mean `{near}`?"),
        None => message.to_string(),
    }
}

/// Parses scenario text. `file` is only used in error messages.
pub fn parse(file: &str, src: &str) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = toml::from_str(src).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(src, s.start));
        ScenarioError {
            file: file.to_string(),
            line,
            column,
            message: with_field_suggestion(e.message().trim()),
        }
    })?;
    let mut ctx = Ctx {
        file,
        src,
        names: Vec::new(),
        sentinels: Vec::new(),
        sentinel_masters: Vec::new(),
    };
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(ctx.at(&raw.name, "the scenario name is empty"));
    }
    let seed = match &raw.seed {
        Some(s) if *s.get_ref() < 0 => return Err(ctx.at(s, "seed must be a non-negative integer")),
        Some(s) => *s.get_ref() as u64,
        None => 1,
    };
    let duration = ctx.duration(&raw.duration, "duration")?;
    if duration.is_zero() {
        return Err(ctx.at(&raw.duration, "duration must be more than zero"));
    }
    let net = raw.network.unwrap_or_default();
    let mut network = LinkParams::default();
    link_params(
        &ctx,
        &mut network,
        &net.latency,
        &net.jitter,
        &net.bandwidth,
        &net.loss,
        &net.send_buffer,
    )?;
    if let Some(rto) = &net.rto {
        network.rto = ctx.duration(rto, "rto")?;
    }
    let connect_timeout = match &net.connect_timeout {
        Some(v) => ctx.duration(v, "connect_timeout")?,
        None => SimDuration::from_secs(127),
    };

    // Nodes first: everything else refers to them by name.
    if raw.node.is_empty() {
        return Err(ScenarioError {
            file: file.into(),
            line: 1,
            column: 1,
            message: "a scenario needs at least one [[node]]".into(),
        });
    }
    for n in &raw.node {
        let nm = n.name.get_ref();
        if nm.is_empty()
            || !nm
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ctx.at(
                &n.name,
                format!("node name \"{nm}\" must be letters, digits, '-' or '_'"),
            ));
        }
        if ctx.names.contains(nm) {
            return Err(ctx.at(&n.name, format!("node \"{nm}\" is defined twice")));
        }
        if nm == "checks" {
            return Err(ctx.at(&n.name, "\"checks\" is reserved for checker results"));
        }
        ctx.names.push(nm.clone());
    }
    let mut defaults = Config::default();
    apply_directives(&ctx, &mut defaults, &raw.defaults)?;
    let mut nodes = Vec::new();
    for (i, n) in raw.node.iter().enumerate() {
        let mut config = defaults.clone();
        apply_directives(&ctx, &mut config, &n.config)?;
        config
            .check_release()
            .map_err(|(_, why)| ctx.at(&n.name, why))?;
        let replicaof = match &n.replicaof {
            Some(r) => {
                let m = ctx.node(r)?;
                if m == i {
                    return Err(ctx.at(
                        r,
                        format!(
                            "node \"{}\" cannot be a replica of itself",
                            n.name.get_ref()
                        ),
                    ));
                }
                Some(m)
            }
            None => None,
        };
        let data = match &n.data {
            Some(d) => data_spec(&ctx, d)?,
            None => DataSpec::default(),
        };
        nodes.push(NodeSpec {
            name: n.name.get_ref().clone(),
            replicaof,
            warm: n.warm.as_ref().is_some_and(|w| *w.get_ref()),
            config,
            data,
        });
    }

    if let Some(err) = replication_cycle(&ctx, &raw.node, &nodes) {
        return Err(err);
    }
    warm_starts(&ctx, &raw.node, &nodes)?;
    let sentinels = sentinel::sentinels(&ctx, &raw.sentinel)?;
    ctx.sentinels = sentinels.iter().map(|s| s.name.clone()).collect();
    ctx.sentinel_masters = sentinels.iter().map(|s| s.master_name.clone()).collect();

    let mut links = Vec::new();
    for l in &raw.link {
        let (a, b) = ctx.pair(&l.between)?;
        let mut params = network;
        link_params(
            &ctx,
            &mut params,
            &l.latency,
            &l.jitter,
            &l.bandwidth,
            &l.loss,
            &l.send_buffer,
        )?;
        links.push(LinkOverride {
            a,
            b,
            one_way: l.one_way,
            params,
        });
    }

    let mut workloads = Vec::new();
    let mut scripts = Vec::new();
    for (i, w) in raw.workload.iter().enumerate() {
        match &w.kind {
            None => workloads.push(workload(&ctx, w, i, duration)?),
            Some(k) if k.get_ref() == "script" => {
                scripts.push(script::script(&ctx, w, i, duration)?)
            }
            Some(k) => {
                return Err(ctx.at(
                    k,
                    format!(
                        "unknown workload kind \"{}\"; the only kind is \"script\" (leave `kind` out for generated traffic)",
                        k.get_ref()
                    ),
                ))
            }
        }
    }

    let mut faults = Vec::new();
    for f in &raw.fault {
        faults.push(fault(&ctx, f, duration)?);
    }
    check_heals(&ctx, &raw.fault, &faults)?;
    let mut probes = Vec::new();
    for p in &raw.probe {
        probes.push(probe::probe(&ctx, p, duration)?);
    }
    if network.rto.is_zero() {
        // A lost segment costs one retransmission timeout of delay: with none, a loss of any
        // size would change nothing, and a scenario that asks for loss expects an effect.
        let losses = std::iter::once(&net.loss)
            .chain(raw.link.iter().map(|l| &l.loss))
            .chain(raw.fault.iter().map(|f| &f.get_ref().loss));
        for loss in losses.flatten() {
            if units::percent_ppm(loss.get_ref()).is_ok_and(|ppm| ppm > 0) {
                return Err(ctx.at(
                    loss,
                    format!(
                        "loss {} has no effect with [network] rto = \"{}\": a lost segment costs one rto of delay; set rto above 0",
                        loss.get_ref(),
                        net.rto.as_ref().map_or("", |r| r.get_ref().as_str())
                    ),
                ));
            }
        }
    }
    // Stable: faults at the same time keep their order in the file, as the timeline applies
    // them. Faults that wait for an event follow, in file order.
    faults.sort_by_key(|f| (f.after.is_some(), f.at));

    let mut expect = Vec::new();
    for (k, v) in &raw.expect {
        expect.push(expectation(&ctx, k, v)?);
    }

    let sample_interval = match &raw.sample_interval {
        Some(v) => {
            let d = ctx.duration(v, "sample_interval")?;
            if d < SimDuration::from_millis(1) {
                return Err(ctx.at(v, "sample_interval must be at least 1ms"));
            }
            d
        }
        // About 1000 samples over the run, between 10 ms and 10 s apart.
        None => {
            SimDuration::from_nanos((duration.as_nanos() / 1000).clamp(10_000_000, 10_000_000_000))
        }
    };

    Ok(Scenario {
        name,
        description: raw.description.trim().to_string(),
        seed,
        duration,
        network,
        connect_timeout,
        links,
        nodes,
        sentinels,
        workloads,
        scripts,
        faults,
        probes,
        expect,
        sample_interval,
    })
}

fn link_params(
    ctx: &Ctx,
    p: &mut LinkParams,
    latency: &Option<Spanned<String>>,
    jitter: &Option<Spanned<String>>,
    bandwidth: &Option<Spanned<String>>,
    loss: &Option<Spanned<String>>,
    send_buffer: &Option<Spanned<Value>>,
) -> Result<(), ScenarioError> {
    if let Some(v) = latency {
        p.latency = ctx.duration(v, "latency")?;
    }
    if let Some(v) = jitter {
        p.jitter = ctx.duration(v, "jitter")?;
    }
    if let Some(v) = bandwidth {
        p.bandwidth_bps =
            units::bandwidth(v.get_ref()).map_err(|e| ctx.at(v, format!("bandwidth: {e}")))?;
    }
    if let Some(v) = loss {
        p.loss_ppm =
            units::percent_ppm(v.get_ref()).map_err(|e| ctx.at(v, format!("loss: {e}")))?;
    }
    if let Some(v) = send_buffer {
        p.send_buffer_bytes = ctx.size(v, "send_buffer")?;
        if p.send_buffer_bytes == 0 {
            return Err(ctx.at(v, "send_buffer must be at least 1 byte"));
        }
    }
    Ok(())
}

fn data_spec(ctx: &Ctx, d: &RawData) -> Result<DataSpec, ScenarioError> {
    let value_size = match &d.value_size {
        Some(v) => ctx.size_at_most(v, "value_size", MAX_BULK_LEN, "512mb")? as u32,
        None => 100,
    };
    let keys = match &d.keys {
        Some(v) => {
            let n = ctx.count_in(v, "keys", 0, MAX_KEYS as i64)?;
            if n * u64::from(value_size) > MAX_MATERIALISED {
                return Err(ctx.at(v, format!("{n} keys of {value_size} bytes would hold more than 2gb on every node; describe a dataset this big with bulk_keys or bulk_size, which cost no memory")));
            }
            n
        }
        None => 0,
    };
    let key_bytes = match &d.bulk_key_size {
        Some(v) => ctx
            .size_at_most(v, "bulk_key_size", MAX_BULK_LEN, "512mb")?
            .max(16) as u32,
        None => 16,
    };
    let value_bytes = match &d.bulk_value_size {
        Some(v) => ctx.size_at_most(v, "bulk_value_size", MAX_BULK_LEN, "512mb")? as u32,
        None => 1000,
    };
    let bulk = match (&d.bulk_keys, &d.bulk_size) {
        (Some(k), None) => {
            let b = Bulk {
                count: ctx.count(k, "bulk_keys", 0)?,
                key_bytes,
                value_bytes,
            };
            if b.count
                .checked_mul(b.entry_rdb_bytes())
                .is_none_or(|n| n > MAX_BULK_BYTES)
            {
                return Err(ctx.at(k, format!("{} keys of {key_bytes}-byte names and {value_bytes}-byte values make more than 1048576gb (1 PB)", b.count)));
            }
            Some(b)
        }
        (None, Some(s)) => {
            let total = ctx.size_at_most(s, "bulk_size", MAX_BULK_BYTES, "1048576gb (1 PB)")?;
            let per = 1
                + rdb_len_bytes(u64::from(key_bytes))
                + u64::from(key_bytes)
                + rdb_len_bytes(u64::from(value_bytes))
                + u64::from(value_bytes);
            Some(Bulk {
                count: total / per,
                key_bytes,
                value_bytes,
            })
        }
        (Some(k), Some(_)) => return Err(ctx.at(k, "give either bulk_keys or bulk_size, not both")),
        (None, None) => None,
    };
    Ok(DataSpec {
        keys,
        value_size,
        bulk: bulk.filter(|b| b.count > 0),
    })
}

fn workload(
    ctx: &Ctx,
    w: &RawWorkload,
    i: usize,
    duration: SimDuration,
) -> Result<WorkloadSpec, ScenarioError> {
    let target = match w.target.get_ref().strip_prefix("sentinel:") {
        _ if w.target.get_ref() == "@master" => Target::CurrentMaster,
        Some(master_name) => sentinel::client_target(ctx, &w.target, master_name, &w.sentinels)?,
        None => Target::Node(ctx.node(&w.target)?),
    };
    if let (Some(s), false) = (&w.sentinels, matches!(target, Target::Sentinel { .. })) {
        return Err(ctx.at(
            s,
            "`sentinels` applies to a workload whose target is \"sentinel:<master name>\"",
        ));
    }
    let near = match &w.near {
        Some(n) => Some(ctx.host_name(n, n.get_ref())?),
        None => None,
    };
    if let Some((field, span)) = w.script_fields().into_iter().next() {
        return Err(ctx.err(
            span,
            format!("`{field}` applies to a script workload (kind = \"script\")"),
        ));
    }
    let rate = w.rate.as_ref().ok_or_else(|| {
        ctx.at(
            &w.target,
            "a workload needs `rate = 100` (operations per second), or `kind = \"script\"`",
        )
    })?;
    let rate_per_sec = ctx.count_in(rate, "rate", 1, 10_000_000)?;
    let start = match &w.start {
        Some(v) => ctx.duration(v, "start")?,
        None => SimDuration::ZERO,
    };
    let stop = match &w.stop {
        Some(v) => {
            let s = ctx.duration(v, "stop")?;
            if s > duration {
                return Err(ctx.at(
                    v,
                    format!("stop ({s}) is after the end of the scenario ({duration})"),
                ));
            }
            if s <= start {
                return Err(ctx.at(v, format!("stop ({s}) must come after start ({start})")));
            }
            s
        }
        None => duration,
    };
    let mut mix = Mix::default();
    match &w.mix {
        None => mix.set = 1,
        Some(m) => {
            for (op, weight) in m.get_ref() {
                let n = ctx.count_in(weight, &format!("mix.{op}"), 0, 1_000_000)? as u32;
                match op.as_str() {
                    "set" => mix.set = n,
                    "get" => mix.get = n,
                    "incr" => mix.incr = n,
                    "append" => mix.append = n,
                    "del" => mix.del = n,
                    other => return Err(ctx.at(m, format!("unknown operation \"{other}\" in mix; use set, get, incr, append or del"))),
                }
            }
            if mix.total() == 0 {
                return Err(ctx.at(m, "the mix has no operation with a weight above 0"));
            }
        }
    }
    let keys = match &w.keys {
        Some(v) => ctx.count_in(v, "keys", 1, MAX_KEYS as i64)?,
        None => 1000,
    };
    let distribution = match &w.distribution {
        None => Distribution::Uniform,
        Some(d) => match d.get_ref().as_str() {
            "uniform" => Distribution::Uniform,
            "zipf" => Distribution::Zipf,
            "sequential" => Distribution::Sequential,
            other => {
                return Err(ctx.at(
                    d,
                    format!(
                    "unknown distribution \"{other}\"; use \"uniform\", \"zipf\" or \"sequential\""
                ),
                ))
            }
        },
    };
    let value_size = match &w.value_size {
        Some(v) => {
            let s = ctx.size(v, "value_size")?;
            if !(1..=(64 << 20)).contains(&s) {
                return Err(ctx.at(v, "value_size must be between 1 byte and 64mb"));
            }
            if keys * s > MAX_MATERIALISED {
                return Err(ctx.at(v, format!("{keys} keys of {s} bytes could hold more than 2gb on every node; use fewer keys or smaller values")));
            }
            s as u32
        }
        None => 100,
    };
    let wait = match &w.wait {
        Some(wt) => Some((
            ctx.count_in(&wt.replicas, "wait.replicas", 0, 1_000_000)?,
            ctx.duration(&wt.timeout, "wait.timeout")?,
        )),
        None => None,
    };
    let reads_from_replicas = match &w.read_from {
        None => false,
        Some(r) => match r.get_ref().as_str() {
            "target" => false,
            "replicas" => true,
            other => {
                return Err(ctx.at(
                    r,
                    format!("read_from must be \"target\" or \"replicas\", found \"{other}\""),
                ))
            }
        },
    };
    let timeout = match &w.timeout {
        Some(v) => ctx.duration(v, "timeout")?,
        None => SimDuration::from_secs(1),
    };
    let client_rtt = match &w.client_rtt {
        Some(v) => ctx.duration(v, "client_rtt")?,
        None => SimDuration::from_micros(200),
    };
    Ok(WorkloadSpec {
        name: w.name.clone().unwrap_or_else(|| format!("workload-{i}")),
        target,
        rate_per_sec,
        start,
        stop,
        mix,
        keys,
        distribution,
        value_size,
        wait,
        reads_from_replicas,
        timeout,
        client_rtt,
        near,
    })
}

fn fault(
    ctx: &Ctx,
    f: &Spanned<RawFault>,
    duration: SimDuration,
) -> Result<FaultSpec, ScenarioError> {
    let line = line_col(ctx.src, f.span().start).0;
    let r = f.get_ref();
    let (at, after) = match (&r.at, &r.after) {
        (Some(at_v), None) => {
            let at = ctx.duration(at_v, "at")?;
            if at > duration {
                return Err(ctx.at(
                    at_v,
                    format!("fault at {at} is after the end of the scenario ({duration})"),
                ));
            }
            (at, None)
        }
        (None, Some(a)) => (SimDuration::ZERO, Some(trigger::trigger(ctx, a, duration)?)),
        (Some(_), Some(a)) => {
            return Err(ctx.at(
                a,
                "a fault has either `at` (a time) or `after` (an event), not both",
            ))
        }
        (None, None) => {
            return Err(ctx.at(
                &r.kind,
                "a fault needs `at = \"10s\"` or `after = { event = \"link-up\" }`",
            ))
        }
    };
    let kind_name = r.kind.get_ref().as_str();
    let Some((_, fields)) = FAULT_FIELDS.iter().find(|(k, _)| *k == kind_name) else {
        let kinds = FAULT_FIELDS.iter().map(|(k, _)| *k);
        return Err(ctx.at(
            &r.kind,
            format!(
                "unknown fault kind \"{kind_name}\"{}; use partition, heal, link, reset, crash, shutdown, restart, pause or command",
                did_you_mean(kind_name, kinds)
            ),
        ));
    };
    for (field, span) in r.given() {
        if !fields.contains(&field) {
            return Err(ctx.err(
                span,
                format!(
                    "`{field}` does not apply to a {kind_name} fault, which takes {}",
                    fields
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let need_node = || {
        r.node
            .as_ref()
            .ok_or_else(|| {
                ctx.at(
                    &r.kind,
                    format!("a {} fault needs `node = \"...\"`", r.kind.get_ref()),
                )
            })
            .and_then(|n| ctx.node(n))
    };
    let need_between = || {
        r.between
            .as_ref()
            .ok_or_else(|| {
                ctx.at(
                    &r.kind,
                    format!(
                        "a {} fault needs `between = [\"a\", \"b\"]`",
                        r.kind.get_ref()
                    ),
                )
            })
            .and_then(|b| ctx.pair(b))
    };
    let kind = match r.kind.get_ref().as_str() {
        "partition" => {
            let groups = r.groups.as_ref().ok_or_else(|| {
                ctx.at(
                    &r.kind,
                    "a partition needs `groups = [[\"a\"], [\"b\", \"c\"]]`",
                )
            })?;
            let mut idx: Vec<Vec<usize>> = Vec::new();
            let mut seen = Vec::new();
            for g in groups.get_ref() {
                if g.is_empty() {
                    return Err(ctx.at(groups, "a partition group cannot be empty"));
                }
                let mut gi = Vec::new();
                for n in g {
                    let i = ctx.host_name(groups, n)?;
                    if seen.contains(&i) {
                        return Err(
                            ctx.at(groups, format!("node \"{n}\" is in two partition groups"))
                        );
                    }
                    seen.push(i);
                    gi.push(i);
                }
                idx.push(gi);
            }
            if idx.is_empty() || idx.len() > 2 && r.one_way() {
                return Err(ctx.at(
                    groups,
                    "a one-way partition has exactly two groups: from, to",
                ));
            }
            if idx.len() == 1 {
                // One group: it is cut off from every other node.
                let rest: Vec<usize> = (0..ctx.host_count())
                    .filter(|i| !seen.contains(i))
                    .collect();
                if rest.is_empty() {
                    return Err(ctx.at(groups, "the group contains every node; nothing is cut off"));
                }
                idx.push(rest);
            }
            let duration_d = match &r.duration {
                Some(d) => Some(ctx.duration(d, "duration")?),
                None => None,
            };
            FaultKind::Partition {
                name: r.name.as_ref().map(|n| n.get_ref().clone()),
                groups: idx,
                one_way: r.one_way(),
                duration: duration_d,
            }
        }
        "heal" => FaultKind::Heal {
            partition: r.partition.as_ref().map(|p| p.get_ref().clone()),
        },
        "link" => {
            let (a, b) = need_between()?;
            let mut patch = LinkPatch::default();
            let mut p = LinkParams::default();
            link_params(
                ctx,
                &mut p,
                &r.latency,
                &r.jitter,
                &r.bandwidth,
                &r.loss,
                &r.send_buffer,
            )?;
            patch.latency = r.latency.as_ref().map(|_| p.latency);
            patch.jitter = r.jitter.as_ref().map(|_| p.jitter);
            patch.bandwidth_bps = r.bandwidth.as_ref().map(|_| p.bandwidth_bps);
            patch.loss_ppm = r.loss.as_ref().map(|_| p.loss_ppm);
            patch.send_buffer_bytes = r.send_buffer.as_ref().map(|_| p.send_buffer_bytes);
            FaultKind::Link {
                a,
                b,
                one_way: r.one_way(),
                patch,
            }
        }
        "reset" => {
            let (a, b) = need_between()?;
            FaultKind::Reset { a, b }
        }
        "crash" => FaultKind::Crash { node: need_node()? },
        "shutdown" => FaultKind::Shutdown { node: need_node()? },
        "restart" => FaultKind::Restart {
            node: need_node()?,
            persistence: r.persistence.as_ref().is_some_and(|p| *p.get_ref()),
        },
        "pause" => {
            let node = need_node()?;
            let d = r
                .duration
                .as_ref()
                .ok_or_else(|| ctx.at(&r.kind, "a pause needs `duration = \"10s\"`"))?;
            FaultKind::Pause {
                node,
                duration: ctx.duration(d, "duration")?,
            }
        }
        "command" => {
            let node = need_node()?;
            let c = r.command.as_ref().ok_or_else(|| {
                ctx.at(
                    &r.kind,
                    "a command fault needs `command = \"REPLICAOF NO ONE\"`",
                )
            })?;
            let args = crate::redis::resp::split_args(c.get_ref().as_bytes())
                .ok_or_else(|| ctx.at(c, "unbalanced quotes in command"))?;
            if args.is_empty() {
                return Err(ctx.at(c, "the command is empty"));
            }
            FaultKind::Command {
                node,
                args: args
                    .into_iter()
                    .map(|a| String::from_utf8_lossy(&a).to_string())
                    .collect(),
            }
        }
        other => unreachable!("FAULT_FIELDS lists every kind handled here, not {other}"),
    };
    Ok(FaultSpec {
        at,
        after,
        kind,
        line,
    })
}

/// A heal must have a partition to heal at its time: one in force (started at or before it, in
/// the order the timeline applies faults, and neither ended by its `duration` nor healed yet),
/// with its name when it names one. A partition whose `duration` ends at the heal's instant is
/// still in force then: the timeline applies the faults of an instant before the ends it
/// scheduled for that instant while running.
fn check_heals(
    ctx: &Ctx,
    raw: &[Spanned<RawFault>],
    faults: &[FaultSpec],
) -> Result<(), ScenarioError> {
    struct InForce<'a> {
        name: Option<&'a str>,
        end: Option<SimDuration>,
    }
    // A fault that waits for an event has no time before the run: it is not checked, and a heal
    // that may find a partition waiting for an event is not refused.
    let mut order: Vec<usize> = (0..faults.len())
        .filter(|&i| faults[i].after.is_none())
        .collect();
    order.sort_by_key(|&i| faults[i].at);
    let waiting: Vec<Option<&str>> = faults
        .iter()
        .filter(|f| f.after.is_some())
        .filter_map(|f| match &f.kind {
            FaultKind::Partition { name, .. } => Some(name.as_deref()),
            _ => None,
        })
        .collect();
    // Every named partition and its start, for saying why a heal finds nothing.
    let named: Vec<(&str, SimDuration)> = order
        .iter()
        .filter_map(|&i| match &faults[i].kind {
            FaultKind::Partition { name: Some(n), .. } => Some((n.as_str(), faults[i].at)),
            _ => None,
        })
        .collect();
    let mut in_force: Vec<InForce> = Vec::new();
    for &i in &order {
        let at = faults[i].at;
        in_force.retain(|p| p.end.is_none_or(|end| end >= at));
        let r = raw[i].get_ref();
        match &faults[i].kind {
            FaultKind::Partition { name, duration, .. } => in_force.push(InForce {
                name: name.as_deref(),
                end: duration.map(|d| at + d),
            }),
            FaultKind::Heal { partition: None } => {
                if in_force.is_empty() && waiting.is_empty() {
                    return Err(ctx.at(
                        &r.kind,
                        format!("nothing to heal at {at}: no partition is in force then"),
                    ));
                }
                in_force.clear();
            }
            FaultKind::Heal {
                partition: Some(want),
            } => {
                let before = in_force.len();
                in_force.retain(|p| p.name != Some(want.as_str()));
                if in_force.len() < before || waiting.contains(&Some(want.as_str())) {
                    continue;
                }
                let why = match named.iter().find(|(n, _)| n == want) {
                    None => format!(
                        "no partition is named \"{want}\"{}",
                        did_you_mean(want, named.iter().map(|(n, _)| *n))
                    ),
                    Some((_, start)) if *start > at => format!(
                        "the heal at {at} comes before partition \"{want}\" starts ({start})"
                    ),
                    Some(_) => format!(
                        "partition \"{want}\" is not in force at {at}: it has already ended or been healed"
                    ),
                };
                let span = r
                    .partition
                    .as_ref()
                    .map_or_else(|| r.kind.span(), Spanned::span);
                return Err(ctx.err(span, why));
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a warm replica (`warm = true`) needs: a master to be in sync with, which is a master at
/// the start or a warm replica itself (a replica still syncing has no history to share); no
/// dataset of its own (it starts with its master's); and a sync that would succeed: the
/// password its master requires, and an RDB format it can load (a 7.0 replica cannot load what
/// a 7.2 master writes). Each is an error at the `warm` key.
fn warm_starts(ctx: &Ctx, raw: &[RawNode], nodes: &[NodeSpec]) -> Result<(), ScenarioError> {
    for (r, n) in raw.iter().zip(nodes) {
        let Some(warm) = r.warm.as_ref().filter(|w| *w.get_ref()) else {
            continue;
        };
        let name = &n.name;
        let Some(m) = n.replicaof else {
            return Err(ctx.at(
                warm,
                format!("node \"{name}\": warm = true starts a replica in sync with its master; give it a replicaof"),
            ));
        };
        let master = &nodes[m];
        if master.replicaof.is_some() && !master.warm {
            return Err(ctx.at(
                warm,
                format!(
                    "node \"{name}\" cannot start in sync with \"{}\", which is a replica that is not warm and has no data at the start; make \"{}\" warm too, or \"{name}\" not warm",
                    master.name, master.name
                ),
            ));
        }
        if r.data.is_some() {
            return Err(ctx.at(
                warm,
                format!("node \"{name}\" is warm: it starts with its master's dataset, so it takes no [node.data] of its own"),
            ));
        }
        if master.config.requirepass.is_some() && master.config.requirepass != n.config.masterauth {
            return Err(ctx.at(
                warm,
                format!(
                    "node \"{name}\" is warm, but its masterauth is not the password \"{}\" requires: its sync would fail, so it cannot start synced",
                    master.name
                ),
            ));
        }
        if master.config.redis_version.rdb_version() > n.config.redis_version.rdb_version() {
            return Err(ctx.at(
                warm,
                format!(
                    "node \"{name}\" is warm, but it cannot load the RDB format of \"{}\" (a newer redis-version): its sync would fail",
                    master.name
                ),
            ));
        }
    }
    Ok(())
}

/// A node that follows a chain of `replicaof` back to itself: no node of the loop is a master,
/// so no data would ever flow. Reported at the `replicaof` of the loop's first node in the file.
fn replication_cycle(ctx: &Ctx, raw: &[RawNode], nodes: &[NodeSpec]) -> Option<ScenarioError> {
    for start in 0..nodes.len() {
        let mut path = vec![start];
        let mut next = nodes[start].replicaof;
        while let Some(at) = next {
            if at == start {
                let names: Vec<&str> = path
                    .iter()
                    .chain([&start])
                    .map(|&i| nodes[i].name.as_str())
                    .collect();
                let replicaof = raw[start].replicaof.as_ref()?;
                return Some(ctx.at(
                    replicaof,
                    format!(
                        "replication cycle {}: every node in it is a replica, so none has data to send; make one of them a master",
                        names.join(" → ")
                    ),
                ));
            }
            if path.contains(&at) {
                // A loop that `start` leads into but is not part of: it is found from one of
                // its own nodes.
                break;
            }
            path.push(at);
            next = nodes[at].replicaof;
        }
    }
    None
}

fn expectation(
    ctx: &Ctx,
    k: &Spanned<String>,
    v: &Spanned<Value>,
) -> Result<Expectation, ScenarioError> {
    let written = k.get_ref().clone();
    let parts: Vec<String> = written.split('.').map(str::to_string).collect();
    if parts.iter().any(String::is_empty) {
        return Err(ctx.at(k, format!("\"{written}\" is not a path such as \"replica-1.sync_full\" or \"checks.acked_writes_lost.count\"")));
    }
    let path = match parts[0].as_str() {
        first if REPORT_TOP.contains(&first) => parts.clone(),
        first => {
            if !ctx.names.iter().any(|n| n == first) {
                let known = ctx
                    .names
                    .iter()
                    .map(String::as_str)
                    .chain(REPORT_TOP.iter().copied());
                return Err(ctx.at(k, format!("\"{written}\" starts with \"{first}\", which is neither a node ({}) nor a part of the report such as \"checks\" or \"workloads\"{}", ctx.names.join(", "), did_you_mean(first, known))));
            }
            let mut p = vec!["nodes".to_string()];
            p.extend(parts);
            p
        }
    };
    let (op, value) = match v.get_ref() {
        Value::Integer(n) => (Op::Eq, ExpectValue::Number(*n as f64)),
        Value::Float(f) => (Op::Eq, ExpectValue::Number(*f)),
        Value::Boolean(b) => (Op::Eq, ExpectValue::Bool(*b)),
        Value::String(s) => parse_comparison(s).map_err(|e| ctx.at(v, e))?,
        other => {
            return Err(ctx.at(
                v,
                format!(
                    "expected a number, a boolean, or a comparison such as \">= 1\", found {}",
                    other.type_str()
                ),
            ))
        }
    };
    let (line, column) = line_col(ctx.src, k.span().start);
    Ok(Expectation {
        written,
        path,
        op,
        value,
        line,
        column,
    })
}

/// An `[expect]` entry written on one line, `PATH COMPARISON` (`replica.sync_full <= 1`,
/// `checks.convergence.converged == true`), as the command line takes one: the same paths and
/// comparisons as a scenario's `[expect]` block, for a scenario of nodes `names`. The text is
/// read as the TOML entry `"PATH" = "COMPARISON"`, so it goes through the very code that reads
/// the block.
pub fn expectation_line(names: &[String], text: &str) -> Result<Expectation, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_whitespace() || "<>=!".contains(c))
        .unwrap_or(text.len());
    let (path, comparison) = text.split_at(split);
    let comparison = comparison.trim();
    if comparison.is_empty() {
        return Err(format!(
            "\"{text}\": no comparison after the path, such as \"<= 1\" or \"== true\""
        ));
    }
    // A bare number compares equal, as `"path" = 1` does in the block.
    let comparison = match comparison.parse::<f64>() {
        Ok(_) => format!("== {comparison}"),
        Err(_) => comparison.to_string(),
    };
    let quote = |s: &str| {
        format!(
            "\"{}\"",
            s.trim().replace('\\', "\\\\").replace('"', "\\\"")
        )
    };
    let src = format!("{} = {}", quote(path), quote(&comparison));
    let map: Map = toml::from_str(&src).map_err(|e| format!("\"{text}\": {}", e.message()))?;
    // Sentinels are reached through the report's `sentinels` field, whose paths the report
    // checks itself, so the line needs only the node names.
    let ctx = Ctx {
        file: "",
        src: &src,
        names: names.to_vec(),
        sentinels: Vec::new(),
        sentinel_masters: Vec::new(),
    };
    let (k, v) = map
        .iter()
        .next()
        .ok_or_else(|| format!("\"{text}\": no path"))?;
    expectation(&ctx, k, v).map_err(|e| e.message)
}

/// The report's top-level fields an `[expect]` path may start with; any other first part names
/// a node. Which fields lie below them is the report's to say: it checks every path against its
/// own shape before a run.
const REPORT_TOP: &[&str] = &[
    "checks",
    "nodes",
    "sentinels",
    "workloads",
    "scenario",
    "seed",
    "trace_hash",
    "events",
    "sim_time_us",
    "stop",
];

fn parse_comparison(s: &str) -> Result<(Op, ExpectValue), String> {
    let t = s.trim();
    if let Some((lo, hi)) = t.split_once("..") {
        if let (Ok(lo), Ok(hi)) = (lo.trim().parse::<f64>(), hi.trim().parse::<f64>()) {
            if lo > hi {
                return Err(format!("\"{s}\": the range is empty ({lo} > {hi})"));
            }
            return Ok((Op::Within, ExpectValue::Range(lo, hi)));
        }
    }
    for (sym, op) in [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
    ] {
        if let Some(rest) = t.strip_prefix(sym) {
            let rest = rest.trim();
            let value = match rest {
                "true" => ExpectValue::Bool(true),
                "false" => ExpectValue::Bool(false),
                _ => match rest.parse::<f64>() {
                    Ok(n) => ExpectValue::Number(n),
                    Err(_) if matches!(op, Op::Eq | Op::Ne) => {
                        ExpectValue::Text(rest.trim_matches('"').to_string())
                    }
                    Err(_) => return Err(format!("\"{s}\": {sym} needs a number after it")),
                },
            };
            return Ok((op, value));
        }
    }
    Ok((Op::Eq, ExpectValue::Text(t.to_string())))
}

#[cfg(test)]
mod tests;
