//! The node against real Redis: `cargo test --test conformance`.
//!
//! Every case starts real `redis-server` processes on 127.0.0.1 (free ports, their own temp
//! directories, `--save ''`, killed when the case ends) and live replsim nodes (the simulation's
//! node on real sockets, `replsim::live`), and checks what one can observe of both: byte
//! offsets, datasets (keys, values, absolute expiry times), log lines and reply bytes.
//!
//! The `valkey` cases do the same against `valkey-server` (Valkey 8.1's dual-channel sync).
//! Without `redis-server` (or `valkey-server`) on PATH the cases skip with a message; with
//! `CI=true` a missing server is a failure. docs/conformance.md lists every case and the known differences.

// The suite measures real servers, so it reads the wall clock (clippy.toml bans that in the
// simulation).
#![allow(clippy::disallowed_methods)]

mod conformance {
    mod support;

    mod chain;
    mod cli;
    mod errors;
    mod real_master;
    mod real_replica;
    mod valkey;
}
