//! replsim: a deterministic discrete-event simulator of Redis master–replica replication.
//!
//! Dependencies point one way, `main → report → check → sim → workload → scenario → net, redis →
//! seed → fnv`, `sim → sentinel → redis`, `main → sweep → report`, `main → diff → report`,
//! `main → shrink → report`, `main → bench → sim` and `main → live → redis`, and `time` is a
//! leaf shared by all (`tests/layering.rs` enforces it). `live` runs the node on real sockets;
//! nothing but the CLI depends on it. See ARCHITECTURE.md for the map.

pub mod bench;
pub mod check;
pub mod diff;
pub mod fnv;
pub mod live;
pub mod nemesis;
pub mod net;
pub mod redis;
pub mod report;
pub mod scenario;
pub mod seed;
pub mod sentinel;
pub mod shrink;
pub mod sim;
pub mod sweep;
pub mod time;
pub mod workload;
