//! Where clients send their operations when they do not address a node directly: Sentinel-aware
//! clients (`target = "sentinel:<master name>"`) and the reach of a client that runs beside a
//! host (`near`).
//!
//! A Sentinel-aware client behaves as client libraries do (Jedis's pool, redis-py's
//! `Sentinel.master_for`): with no connection to a master it asks its Sentinels in order
//! `SENTINEL get-master-addr-by-name`, taking the first answer, and then sends every operation
//! there. It asks again only when that connection fails it: a request that times out, a
//! `READONLY` error (the node it talks to has become a replica), or the connection killed (a
//! Sentinel's `CLIENT KILL TYPE normal` after a REPLICAOF). So a client that keeps reaching the
//! old master keeps writing to it, whatever the Sentinels decided elsewhere.
//!
//! Asking is part of the operation: it costs one round trip per Sentinel that answers and the
//! client's timeout per Sentinel it cannot reach, and the operation reaches its node that much
//! later. The Sentinel's answer is its view when the operation is issued.

use super::world::World;
use crate::redis::resp::Reply;
use crate::redis::ClientId;
use crate::scenario::Target;
use crate::time::{SimDuration, SimTime};

/// A Sentinel-aware client's error when no Sentinel gave it a master (redis-py's
/// `MasterNotFoundError`; Jedis throws a connection exception).
pub const MASTER_NOT_FOUND: &str = "MasterNotFoundError";

impl World {
    /// Whether workload `w`'s client reaches host `host`: always, unless it runs beside a host
    /// that a partition cuts off from `host` in either direction.
    pub(crate) fn client_reaches(&self, w: usize, host: usize) -> bool {
        match self.workloads[w].spec.near {
            None => true,
            Some(h) if h == host => true,
            Some(h) => {
                let (a, b) = (
                    crate::net::NodeId(h as u32),
                    crate::net::NodeId(host as u32),
                );
                !self.net.is_blocked(a, b) && !self.net.is_blocked(b, a)
            }
        }
    }

    /// The node Sentinel-aware workload `w` sends its next operation to, and how long it spent
    /// asking the Sentinels first; `Err` with that time when none gave it a master it can name.
    pub(crate) fn sentinel_route(
        &mut self,
        now: SimTime,
        w: usize,
    ) -> Result<(usize, SimDuration), SimDuration> {
        if let Some(node) = self.sentinel_masters[w] {
            return Ok((node, SimDuration::ZERO));
        }
        let spec = &self.workloads[w].spec;
        let Target::Sentinel {
            master_name,
            sentinels,
        } = &spec.target
        else {
            unreachable!("only Sentinel-aware workloads are routed here");
        };
        let (master_name, sentinels) = (master_name.clone(), sentinels.clone());
        let (rtt, timeout) = (spec.client_rtt, spec.timeout);
        let mut spent = SimDuration::ZERO;
        for j in sentinels {
            if !self.client_reaches(w, self.slots.len() + j) {
                spent += timeout;
                continue;
            }
            spent += rtt;
            let args: [&[u8]; 3] = [
                b"SENTINEL",
                b"get-master-addr-by-name",
                master_name.as_bytes(),
            ];
            let Some(s) = self.sentinels[j].sentinel.as_mut() else {
                continue;
            };
            if let Reply::Array(addr) = s.handle_command(now, &args) {
                if let [Reply::Bulk(ip), Reply::Bulk(_port)] = addr.as_slice() {
                    if let Some(node) = self.resolve(&String::from_utf8_lossy(ip)) {
                        self.sentinel_masters[w] = Some(node);
                        return Ok((node, spent));
                    }
                }
            }
        }
        Err(spent)
    }

    /// What workload `w`'s operation on `node` got (`None`: no reply in time): a Sentinel-aware
    /// client drops its connection, and will ask the Sentinels again, after a timeout or a
    /// READONLY error.
    pub(crate) fn sentinel_client_outcome(&mut self, w: usize, node: usize, reply: Option<&Reply>) {
        if !matches!(self.workloads[w].spec.target, Target::Sentinel { .. }) {
            return;
        }
        let failed = match reply {
            None => true,
            Some(Reply::Error(e)) => e.starts_with("READONLY"),
            Some(_) => false,
        };
        if failed && self.sentinel_masters[w] == Some(node) {
            self.sentinel_masters[w] = None;
        }
    }

    /// Node `node` killed in-process client `client`: the Sentinel-aware workload it belongs to
    /// lost its connection there.
    pub(crate) fn sentinel_client_killed(&mut self, node: usize, client: ClientId) {
        let owner = match self.blocked.get(&client) {
            Some(&op) => Some(self.op_ref(op).workload as usize),
            // Workload `w`'s client without WAIT is `w + 1`.
            None => (client.0 as usize)
                .checked_sub(1)
                .filter(|&w| w < self.workloads.len()),
        };
        if let Some(w) = owner {
            if self.sentinel_masters[w] == Some(node) {
                self.sentinel_masters[w] = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::sim::{run, RunOutput};

    /// A master, two replicas, three Sentinels (down-after 5 s); workloads `clients`; the
    /// master, Sentinel 1 and the clients beside the master cut off from the rest from 20 s to
    /// 40 s.
    fn split(clients: &str) -> RunOutput {
        let mut toml = "name = \"t\"\nduration = \"70s\"\n\
            [[node]]\nname = \"master\"\n[[node]]\nname = \"replica-1\"\nreplicaof = \"master\"\n\
            [[node]]\nname = \"replica-2\"\nreplicaof = \"master\"\n"
            .to_string();
        for i in 1..=3 {
            toml += &format!(
                "[[sentinel]]\nname = \"sentinel-{i}\"\nmonitor = \"master\"\nquorum = 2\n\
                 down-after-milliseconds = 5000\nfailover-timeout = 60000\n"
            );
        }
        toml += clients;
        toml += "[[fault]]\nat = \"20s\"\nkind = \"partition\"\nname = \"split\"\n\
                 groups = [[\"master\", \"sentinel-1\"], [\"replica-1\", \"replica-2\", \"sentinel-2\", \"sentinel-3\"]]\n\
                 [[fault]]\nat = \"40s\"\nkind = \"heal\"\npartition = \"split\"\n";
        let sc = crate::scenario::parse("t.toml", &toml).expect("a valid scenario");
        run(sc, 3, u64::MAX, None, &mut |_, _| {})
    }

    /// Workload `w`'s writes as (invoke seconds, node, acknowledged).
    fn writes(out: &RunOutput, w: u16) -> Vec<(f64, usize, bool)> {
        out.world
            .rec
            .writes
            .iter()
            .filter(|r| r.workload == w)
            .map(|r| (r.invoke_ns as f64 / 1e9, r.node as usize, r.acked()))
            .collect()
    }

    /// When the first Sentinel event of `kind` happened, in seconds.
    fn when(out: &RunOutput, kind: &str) -> f64 {
        let e = out
            .world
            .rec
            .sentinel_events
            .iter()
            .find(|e| e.event.kind == kind);
        e.map(|e| e.time.as_nanos() as f64 / 1e9)
            .unwrap_or_else(|| panic!("no {kind}"))
    }

    #[test]
    fn a_client_beside_the_old_master_writes_to_it_until_its_connection_is_killed() {
        let out = split(
            "[[workload]]\ntarget = \"sentinel:mymaster\"\nnear = \"master\"\nrate = 100\nstart = \"5s\"\nstop = \"65s\"\n",
        );
        let switch = when(&out, "+switch-master");
        let convert = when(&out, "+convert-to-slave");
        assert!(switch < 40.0 && convert > 40.0, "{switch} {convert}");
        let new_master = out.world.current_master().unwrap();
        assert_ne!(new_master, 0);
        for (t, node, acked) in writes(&out, 0) {
            // Until the Sentinel's REPLICAOF killed its connection, the old master; then the new
            // one, which it asked its Sentinel about. Every write was acknowledged.
            let want = if t < convert { 0 } else { new_master };
            if (t - convert).abs() > 0.01 {
                assert_eq!(node, want, "write at {t}");
            }
            assert!(acked, "write at {t}");
        }
        assert_eq!(out.world.sentinel_masters[0], Some(new_master));
    }

    #[test]
    fn a_client_beside_the_replicas_times_out_asks_again_and_follows_the_failover() {
        let out = split(
            "[[workload]]\ntarget = \"sentinel:mymaster\"\nnear = \"replica-1\"\nrate = 100\nstart = \"5s\"\nstop = \"65s\"\n",
        );
        let switch = when(&out, "+switch-master");
        let new_master = out.world.current_master().unwrap();
        let w = writes(&out, 0);
        // Before the split, the master; during it, timeouts (the Sentinels still name the master
        // it cannot reach); from the failover, the new master, acknowledged.
        assert!(w.iter().filter(|x| x.0 < 20.0).all(|x| x.1 == 0 && x.2));
        let lost_time: Vec<_> = w
            .iter()
            .filter(|x| x.0 > 20.5 && x.0 < switch - 1.0)
            .collect();
        assert!(!lost_time.is_empty() && lost_time.iter().all(|x| x.1 == 0 && !x.2));
        let after: Vec<_> = w
            .iter()
            .filter(|x| x.0 > switch + 1.0 && !(x.1 == new_master && x.2))
            .collect();
        assert!(
            after.is_empty(),
            "switch {switch}: {:?}",
            &after[..after.len().min(20)]
        );
        assert_eq!(
            out.world.rec.counters[0].writes_ok + out.world.rec.counters[0].timeouts,
            w.len() as u64
        );
    }

    #[test]
    fn a_client_that_no_sentinel_answers_counts_master_not_found() {
        // Beside the master, asking only Sentinels on the other side of the split.
        let out = split(
            "[[workload]]\ntarget = \"sentinel:mymaster\"\nnear = \"master\"\nsentinels = [\"sentinel-2\", \"sentinel-3\"]\n\
             rate = 100\nstart = \"5s\"\nstop = \"65s\"\ntimeout = \"100ms\"\n",
        );
        let c = &out.world.rec.counters[0];
        let not_found = c.errors.get(super::MASTER_NOT_FOUND).copied().unwrap_or(0);
        // It keeps its connection to the master while that answers: it asks only after a
        // failure, and during the split a failure never comes (the old master answers).
        assert_eq!(not_found, 0);
        assert_eq!(c.writes_ok, c.writes);
        let out = split(
            "[[workload]]\ntarget = \"sentinel:mymaster\"\nnear = \"replica-1\"\nsentinels = [\"sentinel-1\"]\n\
             rate = 100\nstart = \"5s\"\nstop = \"65s\"\ntimeout = \"100ms\"\n",
        );
        // Beside the replicas, asking only the Sentinel cut off with the master: from its first
        // timeout to the heal, every operation finds no master.
        let c = &out.world.rec.counters[0];
        let not_found = c.errors.get(super::MASTER_NOT_FOUND).copied().unwrap_or(0);
        assert!((1500..2000).contains(&not_found), "{not_found}");
    }
}
