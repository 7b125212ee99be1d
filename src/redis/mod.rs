//! The Redis node: sans-IO replication logic faithful to Redis 7.2.
//!
//! `redis` owns every replication decision: handshake, PSYNC, the shared replication buffer and
//! backlog, full sync through RDB snapshots, timeouts, WAIT, min-replicas, INFO and logs. It
//! touches no clock, socket, file, thread, stdout, global or engine type: time arrives as `now`,
//! randomness from the node's own seeded stream, and bytes through `handle_*`/`poll_*`.

mod blocked;
mod commands;
pub mod config;
mod connection;
mod dual;
#[cfg(test)]
mod dual_tests;
mod info;
mod invariants;
pub mod keyspace;
pub mod log;
mod master;
mod node;
#[cfg(test)]
mod pair;
mod pubsub;
pub mod rdb;
mod rdb_channel_tests;
pub(crate) mod replbuf;
mod replica;
pub mod resp;
pub mod shared;
mod state;
#[cfg(test)]
mod tests;
mod warm;

pub use node::{
    Action, ClientId, CommandResult, ConnId, DropReason, Event, Node, NodeParams, Persisted, Stats,
    SyncAbort, Timer, Transmit,
};
pub use replbuf::ReplBuffer;
pub use state::{ReplState, ReplicaState};
pub use warm::{SyncPoint, WarmStartError};
