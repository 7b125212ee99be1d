//! The Redis node: sans-IO replication logic faithful to Redis 7.2.
pub mod config;
pub mod keyspace;
pub mod rdb;
pub mod resp;
