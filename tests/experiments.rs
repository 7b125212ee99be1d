//! Behavioural experiments: decisions and timings that byte comparisons cannot show.
//!
//! Each experiment runs a small setup twice: on real `redis-server` processes on 127.0.0.1,
//! measured with the wall clock, and as a replsim scenario, simulated. It then compares what
//! both decided (partial or full resync, a replica dropped, a write refused) and when, within a
//! tolerance the experiment states. docs/conformance.md records every experiment and its
//! outcome on the project's machine.
//!
//! They take a minute or two of wall-clock time, so they run only when asked:
//!
//! ```sh
//! REPLSIM_EXPERIMENTS=1 cargo test --test experiments -- --nocapture
//! ```
//!
//! Otherwise every experiment returns at once, saying so. With `REPLSIM_EXPERIMENTS=1` a missing
//! `redis-server` (PATH or `$REDIS_SERVER`) is a failure. Experiments run one at a time whatever
//! the test harness's thread count, since their timings would disturb each other.

// The experiments measure real servers, so they read the wall clock (clippy.toml bans that in
// the simulation).
#![allow(clippy::disallowed_methods)]

mod experiments {
    // The conformance suite's real servers and RESP client; the experiments use a part of it.
    #[allow(dead_code)]
    #[path = "../conformance/support.rs"]
    mod support;

    mod harness;

    mod backlog;
    mod cob;
    mod config_set;
    mod dual;
    mod fork;
    mod handshake;
    mod master_gone;
    mod timeouts;
    mod writes;
}
