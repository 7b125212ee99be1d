//! replsim: a deterministic discrete-event simulator of Redis master–replica replication.
//!
//! Dependencies point one way: `report, check → sim → net, redis`, and `time` is a leaf shared by
//! all. `live` runs the node on real sockets; nothing else depends on it. See ARCHITECTURE.md for
//! the map.

pub mod bench;
pub mod check;
pub mod fault;
pub mod live;
pub mod net;
pub mod redis;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod time;
pub mod workload;
