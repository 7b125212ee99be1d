//! The world's connection table: which node connection is which network connection, both ways.
//!
//! A node names its connections with its own ids ([`ConnId`]); the network with its own
//! ([`NetConn`], one per TCP connection, with a client and a server side). Writes go from a
//! node id to the network's; deliveries come from the network's to a node's. The two directions
//! are kept in one place, so every change updates both: a connection opened, accepted, closed,
//! refused, reset, or every connection of a crashed node.

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;

use crate::net::{ConnId as NetConn, Side};
use crate::redis::ConnId;

/// A node's connections: its own id → the network connection and its side of it.
pub(crate) type NodeConns = HashMap<ConnId, (NetConn, Side), FxBuildHasher>;

#[derive(Default)]
pub(crate) struct ConnTable {
    /// Per node, its connections.
    by_node: Vec<NodeConns>,
    /// Per network connection, the node end on each side (client, server).
    by_net: HashMap<u64, [Option<(usize, ConnId)>; 2], FxBuildHasher>,
}

impl ConnTable {
    pub(crate) fn new(nodes: usize) -> ConnTable {
        ConnTable {
            by_node: (0..nodes).map(|_| NodeConns::default()).collect(),
            by_net: HashMap::default(),
        }
    }

    /// Node `i`'s connections, for its socket layer.
    pub(crate) fn of_node(&self, i: usize) -> &NodeConns {
        &self.by_node[i]
    }

    /// Node `i` opened `local` as the client side of `net`.
    pub(crate) fn connect(&mut self, i: usize, local: ConnId, net: NetConn) {
        self.by_node[i].insert(local, (net, Side::Client));
        self.by_net.insert(net.as_u64(), [Some((i, local)), None]);
    }

    /// Node `i` accepted `net` as `local`.
    pub(crate) fn accept(&mut self, i: usize, local: ConnId, net: NetConn) {
        self.by_node[i].insert(local, (net, Side::Server));
        if let Some(ends) = self.by_net.get_mut(&net.as_u64()) {
            ends[Side::Server as usize] = Some((i, local));
        }
    }

    /// The node end of `net`'s `side`.
    pub(crate) fn end(&self, net: NetConn, side: Side) -> Option<(usize, ConnId)> {
        self.by_net.get(&net.as_u64())?[side as usize]
    }

    /// The node that opened `net`, whatever side is asked about.
    pub(crate) fn connecting_node(&self, net: NetConn) -> Option<usize> {
        self.end(net, Side::Client).map(|(i, _)| i)
    }

    /// The network connection of node `i`'s `local`.
    pub(crate) fn net_of(&self, i: usize, local: ConnId) -> Option<(NetConn, Side)> {
        self.by_node[i].get(&local).copied()
    }

    /// Node `i` closed `local`: its end is gone, the other end stays until it closes too.
    pub(crate) fn close(&mut self, i: usize, local: ConnId) -> Option<(NetConn, Side)> {
        let (net, side) = self.by_node[i].remove(&local)?;
        if let Some(ends) = self.by_net.get_mut(&net.as_u64()) {
            ends[side as usize] = None;
        }
        Some((net, side))
    }

    /// `net`'s connect failed: the connecting end is forgotten with it.
    pub(crate) fn connect_failed(&mut self, net: NetConn) -> Option<(usize, ConnId)> {
        let ends = self.by_net.remove(&net.as_u64())?;
        let (i, local) = ends[Side::Client as usize]?;
        self.by_node[i].remove(&local);
        Some((i, local))
    }

    /// `net` was reset on `side`: that end is gone.
    pub(crate) fn reset(&mut self, net: NetConn, side: Side) -> Option<(usize, ConnId)> {
        let (i, local) = self.by_net.get_mut(&net.as_u64())?[side as usize].take()?;
        self.by_node[i].remove(&local);
        Some((i, local))
    }

    /// Node `i` crashed: none of its connections exist any more.
    pub(crate) fn crash(&mut self, i: usize) {
        self.by_node[i].clear();
        for ends in self.by_net.values_mut() {
            for end in ends.iter_mut() {
                if end.is_some_and(|(n, _)| n == i) {
                    *end = None;
                }
            }
        }
    }

    /// Checks that both directions agree (for tests).
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        for (i, conns) in self.by_node.iter().enumerate() {
            for (&local, &(net, side)) in conns {
                assert_eq!(
                    self.end(net, side),
                    Some((i, local)),
                    "node {i}'s {local:?}"
                );
            }
        }
        for (&net, ends) in &self.by_net {
            for (i, local) in ends.iter().flatten() {
                let (n, side) = self.by_node[*i][local];
                assert_eq!(n.as_u64(), net);
                assert_eq!(ends[side as usize], Some((*i, *local)));
            }
        }
    }
}
