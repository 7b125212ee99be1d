//! replsim: a deterministic discrete-event simulator of Redis master–replica replication.
//!
//! Dependencies point one way: `report, check → sim → net, redis`, and `time` is a leaf shared by
//! all. See ARCHITECTURE.md for the map.

pub mod bench;
pub mod fault;
pub mod net;
pub mod redis;
pub mod sim;
pub mod time;
pub mod scenario;
pub mod workload;
pub mod check;
pub mod report;
