//! In-process clients, and the WAITs they are blocked in (blocked.c, and the WAIT half of
//! replication.c).
//!
//! Redis keeps the clients blocked in WAIT in `server.clients_waiting_acks`, newest first, and
//! their timeouts in `server.clients_timeout_table`, a radix tree in (timeout, client id) order.
//! Before every sleep `processClientsWaitingReplicas` visits each blocked client and counts the
//! replicas that acknowledged its offset. Here a blocked WAIT is indexed twice, by deadline and
//! by what it needs, so neither a timer nor an input visits a WAIT that cannot complete: a WAIT
//! for `k` replicas at offset `o` completes exactly when the `k`-th highest acknowledged offset
//! reaches `o`. The WAITs that complete are then answered in Redis's order (newest first) with
//! Redis's counts (see `Node::unblock_waits`), so the replies are the same as Redis's walk.
//!
//! Every client that goes ([`Clients::remove`]) leaves neither index, so a client closed while
//! blocked leaves no trace.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use super::node::{Client, ClientId};
use crate::time::SimTime;

/// A client blocked in `WAIT numreplicas timeout` (its `bstate`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockedWait {
    /// `bstate.numreplicas`.
    pub numreplicas: u64,
    /// `bstate.reploffset`: the client's last write.
    pub offset: u64,
    /// When the WAIT times out; `None` for `WAIT n 0`, which waits for ever.
    pub deadline: Option<SimTime>,
    /// When it blocked, counted: Redis visits the newest first (`listAddNodeHead`).
    seq: u64,
}

/// The in-process clients, with their blocked WAITs indexed.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    map: BTreeMap<ClientId, Client>,
    waits: BTreeMap<ClientId, BlockedWait>,
    /// (deadline, client) of every WAIT with a timeout: `clients_timeout_table`.
    deadlines: BTreeSet<(SimTime, ClientId)>,
    /// (numreplicas, offset, seq, client) of every WAIT: what each needs to complete.
    needs: BTreeSet<(u64, u64, u64, ClientId)>,
    next_seq: u64,
    /// Clients answered and to be closed once their reply is out (`CLIENT_CLOSE_AFTER_REPLY`),
    /// at the end of the current input: the command that unblocked them may still be running.
    closing: Vec<ClientId>,
}

impl Clients {
    pub(crate) fn entry(&mut self, id: ClientId) -> Entry<'_, ClientId, Client> {
        self.map.entry(id)
    }

    pub(crate) fn get(&self, id: &ClientId) -> Option<&Client> {
        self.map.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &ClientId) -> Option<&mut Client> {
        self.map.get_mut(id)
    }

    /// A client goes (`freeClient`): it is forgotten, and so is any WAIT it was blocked in.
    pub(crate) fn remove(&mut self, id: &ClientId) -> Option<Client> {
        self.unblock(*id);
        self.map.remove(id)
    }

    /// Blocks client `id` in a WAIT. The client exists and is not blocked already: a blocked
    /// client sends nothing until it is answered.
    pub(crate) fn block(
        &mut self,
        id: ClientId,
        numreplicas: u64,
        offset: u64,
        deadline: Option<SimTime>,
    ) {
        assert!(self.map.contains_key(&id), "{id:?} blocks, so it exists");
        // A client that sent another command while blocked (only an in-process caller can)
        // waits for the later one.
        self.unblock(id);
        let seq = self.next_seq;
        self.next_seq += 1;
        let wait = BlockedWait {
            numreplicas,
            offset,
            deadline,
            seq,
        };
        self.waits.insert(id, wait);
        if let Some(d) = deadline {
            self.deadlines.insert((d, id));
        }
        self.needs.insert((numreplicas, offset, seq, id));
    }

    /// Ends client `id`'s WAIT, if it is blocked in one.
    pub(crate) fn unblock(&mut self, id: ClientId) -> Option<BlockedWait> {
        let wait = self.waits.remove(&id)?;
        if let Some(d) = wait.deadline {
            self.deadlines.remove(&(d, id));
        }
        self.needs
            .remove(&(wait.numreplicas, wait.offset, wait.seq, id));
        Some(wait)
    }

    /// Ends client `id`'s WAIT and closes the client after the current input
    /// ([`Clients::close_pending`]).
    pub(crate) fn unblock_and_close(&mut self, id: ClientId) {
        self.unblock(id);
        self.closing.push(id);
    }

    /// Closes the clients marked to close after their reply.
    pub(crate) fn close_pending(&mut self) {
        for id in std::mem::take(&mut self.closing) {
            self.remove(&id);
        }
    }

    /// Every client, in client id order.
    pub(crate) fn ids(&self) -> Vec<ClientId> {
        self.map.keys().copied().collect()
    }

    /// Whether any client is blocked.
    /// How many clients are blocked.
    pub(crate) fn blocked_count(&self) -> usize {
        self.waits.len()
    }

    pub(crate) fn any_blocked(&self) -> bool {
        !self.waits.is_empty()
    }

    /// The blocked clients, in client id order (the order of `server.clients`).
    pub(crate) fn blocked(&self) -> Vec<ClientId> {
        self.waits.keys().copied().collect()
    }

    /// The earliest deadline of a blocked WAIT.
    pub(crate) fn next_deadline(&self) -> Option<SimTime> {
        self.deadlines.first().map(|&(d, _)| d)
    }

    /// Ends and returns the first WAIT whose deadline is at or before `now`, in
    /// (deadline, client) order.
    pub(crate) fn pop_due(&mut self, now: SimTime) -> Option<(ClientId, BlockedWait)> {
        let &(d, id) = self.deadlines.first()?;
        if d > now {
            return None;
        }
        let wait = self.unblock(id).expect("indexed, so blocked");
        Some((id, wait))
    }

    /// The blocked WAITs that the acknowledged offsets `acks_desc` (every online replica's,
    /// highest first) satisfy, newest first. A WAIT for `k` replicas is satisfied when
    /// `acks_desc[k - 1]` reaches its offset, so each distinct `k` costs one range.
    pub(crate) fn satisfied(&self, acks_desc: &[u64]) -> Vec<(ClientId, BlockedWait)> {
        debug_assert!(acks_desc.windows(2).all(|w| w[0] >= w[1]), "highest first");
        let mut out = Vec::new();
        let mut k = 0;
        while let Some(&(need, ..)) = self.needs.range((k, 0, 0, ClientId(0))..).next() {
            let threshold = match need {
                0 => u64::MAX,
                _ => match acks_desc.get(need as usize - 1) {
                    Some(&t) => t,
                    // Fewer replicas than `need`, and every later `need` is larger.
                    None => break,
                },
            };
            let range = (need, 0, 0, ClientId(0))..=(need, threshold, u64::MAX, ClientId(u64::MAX));
            out.extend(
                self.needs
                    .range(range)
                    .map(|&(.., id)| (id, self.waits[&id])),
            );
            match need.checked_add(1) {
                Some(next) => k = next,
                None => break,
            }
        }
        out.sort_by_key(|(_, w)| std::cmp::Reverse(w.seq));
        out
    }

    /// The indexes agree with the WAITs: every blocked client exists, and each index holds
    /// exactly one entry per WAIT.
    pub(crate) fn assert_invariants(&self) {
        for (id, w) in &self.waits {
            assert!(self.map.contains_key(id), "blocked {id:?} is a client");
            assert!(
                self.needs.contains(&(w.numreplicas, w.offset, w.seq, *id)),
                "blocked {id:?} is indexed by what it needs"
            );
            if let Some(d) = w.deadline {
                assert!(
                    self.deadlines.contains(&(d, *id)),
                    "blocked {id:?} is indexed by its deadline"
                );
            }
        }
        assert_eq!(self.needs.len(), self.waits.len(), "one need per WAIT");
        for id in &self.closing {
            assert!(
                !self.waits.contains_key(id),
                "closing {id:?} is not blocked"
            );
        }
        assert_eq!(
            self.deadlines.len(),
            self.waits.values().filter(|w| w.deadline.is_some()).count(),
            "one deadline per WAIT with a timeout"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `replicationCountAcksByOffset` over `acks`.
    fn count(acks: &[u64], offset: u64) -> u64 {
        acks.iter().filter(|&&a| a >= offset).count() as u64
    }

    #[test]
    fn the_index_finds_exactly_the_waits_a_scan_finds_newest_first() {
        let mut rng = crate::seed::SeedStream::derive(4, "blocked-index");
        for round in 0..300 {
            let mut c = Clients::default();
            let n = rng.below(40);
            for i in 0..n {
                let id = ClientId(rng.below(60));
                c.entry(id).or_default();
                let deadline = (rng.below(2) == 0).then(|| SimTime::from_millis(rng.below(100)));
                c.block(id, rng.below(5), rng.below(1000), deadline);
                if i % 7 == 3 {
                    c.remove(&ClientId(rng.below(60)));
                }
            }
            c.assert_invariants();
            let replicas = rng.below(5) as usize;
            let mut acks: Vec<u64> = (0..replicas).map(|_| rng.below(1000)).collect();
            acks.sort_unstable_by(|a, b| b.cmp(a));
            let mut scan: Vec<(ClientId, BlockedWait)> = c
                .waits
                .iter()
                .filter(|(_, w)| count(&acks, w.offset) >= w.numreplicas)
                .map(|(id, w)| (*id, *w))
                .collect();
            scan.sort_by_key(|(_, w)| std::cmp::Reverse(w.seq));
            assert_eq!(c.satisfied(&acks), scan, "round {round}, acks {acks:?}");
        }
    }

    #[test]
    fn a_client_that_goes_leaves_no_trace_and_deadlines_pop_in_order() {
        let mut c = Clients::default();
        for (id, ms) in [(1, 30), (2, 10), (3, 20), (4, 10)] {
            c.entry(ClientId(id)).or_default();
            c.block(ClientId(id), 1, 5, Some(SimTime::from_millis(ms)));
        }
        c.entry(ClientId(5)).or_default();
        c.block(ClientId(5), 1, 5, None);
        assert_eq!(c.next_deadline(), Some(SimTime::from_millis(10)));
        c.remove(&ClientId(2));
        c.remove(&ClientId(5));
        c.assert_invariants();
        assert_eq!(c.blocked(), vec![ClientId(1), ClientId(3), ClientId(4)]);
        let due: Vec<ClientId> = std::iter::from_fn(|| c.pop_due(SimTime::from_millis(20)))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(due, vec![ClientId(4), ClientId(3)]);
        assert_eq!(c.next_deadline(), Some(SimTime::from_millis(30)));
        c.remove(&ClientId(1));
        assert!(!c.any_blocked());
        assert_eq!(c.next_deadline(), None);
        assert!(c.needs.is_empty() && c.deadlines.is_empty() && c.waits.is_empty());
        assert_eq!(c.map.len(), 2, "clients 3 and 4 remain, unblocked");
        c.assert_invariants();
    }
}
