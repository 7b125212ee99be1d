//! The engine and the world it drives.
//!
//! The engine (this file, `queue.rs`, `trace.rs`): simulated time, the event queue, the trace and
//! the run loop. A model (the world of nodes and network, or a benchmark) implements [`Model`];
//! the [`Engine`] pops events in `(time, seq)` order and hands each to the model with the engine
//! itself as context, so the model can read `now`, schedule more events and record to the trace.
//! Reaching a limit (simulated time or event count, or the caller's wall-clock or memory limit
//! between slices) is a reported [`Stop`], never a hang. What a run will hold in memory is
//! estimated from its scenario before it starts (`estimate.rs`).
//!
//! The world (`world.rs`, with `clients.rs`, `fault.rs` and `observe.rs`): nodes, the network
//! between them, client workloads, the fault timeline, and the recording of what happened. `sim`
//! holds no Redis logic (that is the node's) and no fault policy: which faults strike, and when,
//! is the scenario's; `fault.rs` only applies them at their times.

pub mod applied;
mod clients;
mod conns;
pub mod estimate;
mod fault;
pub mod hist;
pub mod observe;
pub mod queue;
pub mod sentinel_clients;
pub mod sentinels;
pub mod trace;
pub mod world;
pub use world::RunOptions;

use crate::net::{NetScheduler, NetTimer};
pub use crate::time::{SimDuration, SimTime};
use queue::EventQueue;
use trace::Trace;

/// Bounds on one call to [`Engine::run`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Process events at or before this time, then stop with the clock set to it.
    pub until: SimTime,
    /// Stop once the engine has processed this many events in total.
    pub max_events: u64,
}

impl Limits {
    pub fn until(t: SimTime) -> Limits {
        Limits {
            until: t,
            max_events: u64::MAX,
        }
    }
}

/// Why a run stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// No events remain. The clock reads `Limits::until` unless that was `SimTime::MAX`.
    Idle,
    /// The next event lies after `Limits::until`; the clock now reads `until`. A whole run that
    /// reached its scenario's duration stops so.
    TimeLimit,
    /// `Limits::max_events` events have been processed.
    EventLimit,
    /// The caller's wall-clock limit ended the run between two slices ([`Interrupt`]).
    WallLimit,
    /// The caller's memory limit ended the run between two slices ([`Interrupt`]).
    MemoryLimit,
}

impl Stop {
    /// The run ended before its scenario's duration, at a limit: what it reports describes a
    /// part of the run.
    pub fn is_limit(self) -> bool {
        matches!(self, Stop::EventLimit | Stop::WallLimit | Stop::MemoryLimit)
    }

    /// A rerun of the same scenario and seed stops at the same point. The event limit is one of
    /// the run's inputs; wall time and memory are the machine's, so a run they stopped ends
    /// elsewhere on another machine or another day.
    pub fn reproducible(self) -> bool {
        !matches!(self, Stop::WallLimit | Stop::MemoryLimit)
    }
}

/// A reason from outside the simulation to end a run, given between slices: the CLI measures
/// wall time and memory, which the simulation never reads.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Interrupt {
    WallLimit,
    MemoryLimit,
}

impl From<Interrupt> for Stop {
    fn from(i: Interrupt) -> Stop {
        match i {
            Interrupt::WallLimit => Stop::WallLimit,
            Interrupt::MemoryLimit => Stop::MemoryLimit,
        }
    }
}

/// The most events between two calls of a run's `between` callback. Simulated time slices a run
/// too, but a livelock can pile millions of events into one simulated instant, and the caller's
/// limits must still get their turn.
pub const EVENTS_PER_CALL_MAX: u64 = 1 << 20;

/// What the engine drives.
pub trait Model<E> {
    fn handle(&mut self, engine: &mut Engine<E>, event: E);
}

/// The discrete-event engine.
pub struct Engine<E> {
    queue: EventQueue<E>,
    /// The event popped past a time limit, kept here rather than pushed back: pushing it again
    /// would give it a new `seq` and could reorder it among equal-time events, so a run in slices
    /// would differ from a run in one go.
    stashed: Option<(SimTime, E)>,
    now: SimTime,
    events: u64,
    pub trace: Trace,
}

impl<E> Default for Engine<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Engine<E> {
    pub fn new() -> Engine<E> {
        Engine {
            queue: EventQueue::new(),
            stashed: None,
            now: SimTime::ZERO,
            events: 0,
            trace: Trace::new(),
        }
    }

    /// The current simulated time: the time of the event being handled.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Events waiting.
    pub fn pending(&self) -> usize {
        self.queue.len() + usize::from(self.stashed.is_some())
    }

    pub fn next_time(&mut self) -> Option<SimTime> {
        match &self.stashed {
            Some((t, _)) => Some(*t),
            None => self.queue.peek_time(),
        }
    }

    /// Schedules `event` at `at`. Scheduling in the past is a bug.
    #[inline]
    pub fn schedule(&mut self, at: SimTime, event: E) {
        assert!(
            at >= self.now,
            "event scheduled in the past: {at:?} < {:?}",
            self.now
        );
        self.queue.push(at, event);
    }

    /// Runs until a limit is reached or no events remain. May be called repeatedly with growing
    /// limits; running in slices processes exactly the same events as one call.
    pub fn run<M: Model<E>>(&mut self, model: &mut M, limits: Limits) -> Stop {
        loop {
            if self.events >= limits.max_events {
                return Stop::EventLimit;
            }
            let next = match self.stashed.take() {
                // Something scheduled between runs may come before the stashed event.
                Some(st) if self.queue.peek_time().is_some_and(|t| t < st.0) => {
                    self.stashed = Some(st);
                    self.queue.pop()
                }
                Some(st) => Some(st),
                None => self.queue.pop(),
            };
            let Some((t, event)) = next else {
                // Nothing left before `until` either: the clock still reaches it, so that "run
                // for 100 ms" means the same with or without pending events.
                if limits.until != SimTime::MAX {
                    self.now = self.now.max(limits.until);
                }
                return Stop::Idle;
            };
            if t > limits.until {
                self.stashed = Some((t, event));
                self.now = self.now.max(limits.until);
                return Stop::TimeLimit;
            }
            assert!(t >= self.now, "time went backwards");
            self.now = t;
            self.events += 1;
            model.handle(self, event);
        }
    }
}

impl<E: From<NetTimer>> NetScheduler for Engine<E> {
    #[inline]
    fn schedule(&mut self, at: SimTime, timer: NetTimer) {
        Engine::schedule(self, at, E::from(timer));
    }
}

/// What a finished run hands to the checkers and the report.
pub struct RunOutput {
    pub world: world::World,
    pub seed: u64,
    pub trace_hash: u64,
    pub events: u64,
    pub sim_time: SimTime,
    pub stop: Stop,
    /// Each node's dataset digest, computed once on first use (the checkers and the report
    /// both compare them, and hashing every key of every node is not free).
    digests: std::cell::OnceCell<Vec<Option<u64>>>,
}

impl RunOutput {
    /// Node `i`'s dataset digest, or `None` while it is down.
    pub fn digest(&self, i: usize) -> Option<u64> {
        self.digests.get_or_init(|| {
            (0..self.world.node_count())
                .map(|n| self.world.node(n).map(crate::redis::Node::digest))
                .collect()
        })[i]
    }
}

/// Runs `scenario` under `seed` to its duration (or `max_events`). `progress` is called between
/// slices of simulated time with the time reached and the events so far; slicing never changes
/// the outcome. `sink` receives every trace record.
pub fn run(
    scenario: crate::scenario::Scenario,
    seed: u64,
    max_events: u64,
    sink: Option<Box<dyn trace::TraceSink>>,
    progress: &mut dyn FnMut(SimTime, u64),
) -> RunOutput {
    run_with(
        scenario,
        seed,
        max_events,
        world::RunOptions::default(),
        sink,
        progress,
    )
}

/// [`run`], keeping what `options` asks for beyond what the checkers need.
pub fn run_with(
    scenario: crate::scenario::Scenario,
    seed: u64,
    max_events: u64,
    options: world::RunOptions,
    sink: Option<Box<dyn trace::TraceSink>>,
    progress: &mut dyn FnMut(SimTime, u64),
) -> RunOutput {
    run_until(
        scenario,
        seed,
        max_events,
        options,
        sink,
        &mut |t, events| {
            progress(t, events);
            None
        },
    )
}

/// [`run_with`], where `between` (called like `progress`, at least every
/// [`EVENTS_PER_CALL_MAX`] events) may end the run early with an [`Interrupt`]. A run that has
/// already reached its duration is not interrupted.
pub fn run_until(
    scenario: crate::scenario::Scenario,
    seed: u64,
    max_events: u64,
    options: world::RunOptions,
    sink: Option<Box<dyn trace::TraceSink>>,
    between: &mut dyn FnMut(SimTime, u64) -> Option<Interrupt>,
) -> RunOutput {
    run_calling_every(
        scenario,
        seed,
        max_events,
        options,
        sink,
        between,
        EVENTS_PER_CALL_MAX,
    )
}

/// [`run_until`] with `between` called at least every `events_per_call` events.
fn run_calling_every(
    scenario: crate::scenario::Scenario,
    seed: u64,
    max_events: u64,
    options: world::RunOptions,
    sink: Option<Box<dyn trace::TraceSink>>,
    between: &mut dyn FnMut(SimTime, u64) -> Option<Interrupt>,
    events_per_call: u64,
) -> RunOutput {
    let mut engine: Engine<world::Ev> = Engine::new();
    if let Some(s) = sink {
        engine.trace.set_sink(s);
    }
    let end = SimTime::ZERO + scenario.duration;
    let slice = SimDuration::from_nanos((scenario.duration.as_nanos() / 200).max(1));
    let mut w = world::World::new(scenario, seed, options, &mut engine);
    let mut stop = Stop::TimeLimit;
    let mut t = SimTime::ZERO;
    'run: while t < end {
        t = (t + slice).min(end);
        loop {
            // Stopping at a smaller event count and going on from there processes exactly the
            // events one call would: the engine checks the count before taking an event.
            let call_max = max_events.min(engine.events().saturating_add(events_per_call));
            let sliced = engine.run(
                &mut w,
                Limits {
                    until: t,
                    max_events: call_max,
                },
            );
            let at_limit = sliced == Stop::EventLimit && engine.events() >= max_events;
            let done = sliced != Stop::EventLimit && t == end;
            if let Some(i) = between(engine.now(), engine.events()) {
                if !done && !at_limit {
                    stop = i.into();
                    break 'run;
                }
            }
            if at_limit {
                stop = Stop::EventLimit;
                break 'run;
            }
            if sliced != Stop::EventLimit {
                break;
            }
        }
    }
    // The final state is sampled at the end, whatever the sampling interval.
    w.sample(engine.now());
    RunOutput {
        trace_hash: engine.trace.hash(),
        events: engine.events(),
        sim_time: engine.now(),
        stop,
        world: w,
        seed,
        digests: std::cell::OnceCell::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model that reschedules each event `gap` later, `remaining` times.
    struct Ticker {
        seen: Vec<(u64, u32)>,
    }

    impl Model<u32> for Ticker {
        fn handle(&mut self, e: &mut Engine<u32>, ev: u32) {
            self.seen.push((e.now().as_nanos(), ev));
            e.trace.record(
                e.now().as_nanos(),
                trace::TraceKind::Timer,
                u64::from(ev),
                0,
                0,
            );
            if ev < 100 {
                e.schedule(e.now() + SimDuration::from_nanos(10), ev + 1);
            }
        }
    }

    #[test]
    fn a_time_limit_is_a_reported_outcome() {
        let mut e = Engine::new();
        e.schedule(SimTime::ZERO, 0);
        let mut m = Ticker { seen: vec![] };
        assert_eq!(
            e.run(&mut m, Limits::until(SimTime::from_nanos(55))),
            Stop::TimeLimit
        );
        assert_eq!(e.now(), SimTime::from_nanos(55));
        assert_eq!(m.seen.len(), 6);
        assert_eq!(e.run(&mut m, Limits::until(SimTime::MAX)), Stop::Idle);
        assert_eq!(m.seen.len(), 101);
        assert_eq!(e.now(), SimTime::from_nanos(1000));
        assert_eq!(
            e.run(&mut m, Limits::until(SimTime::from_nanos(5000))),
            Stop::Idle
        );
        assert_eq!(
            e.now(),
            SimTime::from_nanos(5000),
            "an idle run still moves the clock to its limit"
        );
    }

    #[test]
    fn an_event_limit_stops_a_run_that_would_never_end() {
        struct Forever;
        impl Model<()> for Forever {
            fn handle(&mut self, e: &mut Engine<()>, _: ()) {
                e.schedule(e.now(), ());
            }
        }
        let mut e = Engine::new();
        e.schedule(SimTime::ZERO, ());
        let limits = Limits {
            until: SimTime::MAX,
            max_events: 1000,
        };
        assert_eq!(e.run(&mut Forever, limits), Stop::EventLimit);
        assert_eq!(e.events(), 1000);
    }

    /// A scenario whose every instant holds events, for runs stopped part way.
    fn busy() -> crate::scenario::Scenario {
        crate::scenario::parse(
            "busy.toml",
            "name = \"busy\"\nduration = \"2s\"\n[[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
             [[workload]]\ntarget = \"m\"\nrate = 200000\nkeys = 10\n",
        )
        .expect("a valid scenario")
    }

    /// Events between calls in the tests: a slice of `busy` holds about 2,000.
    const PER_CALL: u64 = 500;

    #[test]
    fn the_callers_interrupt_ends_a_run_between_calls_and_says_why() {
        let whole = run(busy(), 1, u64::MAX, None, &mut |_, _| {});
        assert_eq!(whole.stop, Stop::TimeLimit);
        let mut calls = Vec::new();
        let out = run_calling_every(
            busy(),
            1,
            u64::MAX,
            RunOptions::default(),
            None,
            &mut |t, events| {
                calls.push((t, events));
                (events > whole.events / 2).then_some(Interrupt::MemoryLimit)
            },
            PER_CALL,
        );
        assert_eq!(out.stop, Stop::MemoryLimit);
        assert!(!out.stop.reproducible() && out.stop.is_limit());
        assert!(out.events > whole.events / 2 && out.events <= whole.events / 2 + PER_CALL);
        assert!(out.sim_time < whole.sim_time);
        // Calls come at least every PER_CALL events, even within one time slice.
        let gaps = calls.windows(2).map(|w| w[1].1 - w[0].1);
        assert!(gaps.clone().all(|g| g <= PER_CALL), "{calls:?}");
        assert!(gaps.clone().any(|g| g == PER_CALL), "{calls:?}");
    }

    #[test]
    fn calls_between_slices_change_nothing_and_a_finished_run_is_not_interrupted() {
        let whole = run(busy(), 1, u64::MAX, None, &mut |_, _| {});
        let mut calls = 0;
        let out = run_calling_every(
            busy(),
            1,
            u64::MAX,
            RunOptions::default(),
            None,
            &mut |_, _| {
                calls += 1;
                None
            },
            PER_CALL,
        );
        assert!(
            calls > 400,
            "every slice and every chunk of events: {calls}"
        );
        assert_eq!(
            (out.trace_hash, out.events, out.stop),
            (whole.trace_hash, whole.events, Stop::TimeLimit)
        );
        let end = SimTime::ZERO + SimDuration::from_secs(2);
        let last = run_until(
            busy(),
            1,
            u64::MAX,
            RunOptions::default(),
            None,
            &mut |t, _| (t == end).then_some(Interrupt::WallLimit),
        );
        assert_eq!(
            last.stop,
            Stop::TimeLimit,
            "the run had finished when the interrupt came"
        );
        let limited = run_calling_every(
            busy(),
            1,
            2 * PER_CALL + 5,
            RunOptions::default(),
            None,
            &mut |_, _| None,
            PER_CALL,
        );
        assert_eq!(
            (limited.stop, limited.events),
            (Stop::EventLimit, 2 * PER_CALL + 5)
        );
        assert!(limited.stop.reproducible());
    }

    #[test]
    fn an_event_scheduled_between_runs_still_runs_in_time_order() {
        let mut e = Engine::new();
        e.schedule(SimTime::from_nanos(100), 500);
        let mut m = Ticker { seen: vec![] };
        e.run(&mut m, Limits::until(SimTime::from_nanos(10)));
        e.schedule(SimTime::from_nanos(50), 1000);
        e.run(&mut m, Limits::until(SimTime::from_nanos(100)));
        assert_eq!(m.seen, vec![(50, 1000), (100, 500)]);
    }

    #[test]
    fn running_in_slices_gives_the_same_trace_as_one_run() {
        let whole = {
            let mut e = Engine::new();
            e.schedule(SimTime::ZERO, 0);
            e.run(&mut Ticker { seen: vec![] }, Limits::until(SimTime::MAX));
            e.trace.hash()
        };
        let mut e = Engine::new();
        e.schedule(SimTime::ZERO, 0);
        let mut m = Ticker { seen: vec![] };
        for slice in 1..=20 {
            e.run(&mut m, Limits::until(SimTime::from_nanos(slice * 77)));
        }
        e.run(&mut m, Limits::until(SimTime::MAX));
        assert_eq!(e.trace.hash(), whole);
    }
}
