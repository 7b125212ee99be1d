//! replsim: a deterministic discrete-event simulator of Redis master–replica replication.
//!
//! Dependencies point one way, `main → report → check → sim → workload → scenario → net, redis →
//! seed → fnv` and `main → bench → sim`, and `time` is a leaf shared by all (`tests/layering.rs`
//! enforces it). See ARCHITECTURE.md for the map.

pub mod bench;
pub mod check;
pub mod fnv;
pub mod net;
pub mod redis;
pub mod report;
pub mod scenario;
pub mod seed;
pub mod sim;
pub mod time;
pub mod workload;
