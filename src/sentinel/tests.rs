//! A Sentinel driven by hand: the test plays its masters, replicas and peers, byte for byte, on
//! a virtual clock. The whole failover (three Sentinels, real nodes, the network) is tested in
//! `sim::sentinels`; these tests pin what one Sentinel writes and how it reads.

use std::collections::BTreeMap;

use super::*;
use crate::redis::resp::{encode_command, Reply};

const MYMASTER: &str = "10.0.0.1";

struct Capture(BTreeMap<ConnId, Vec<u8>>);

impl Transmit for Capture {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
        self.0.entry(conn).or_default().extend_from_slice(bytes);
        bytes.len()
    }
    fn send_opaque(&mut self, _conn: ConnId, _len: u64) -> u64 {
        unreachable!("a Sentinel writes no RDB")
    }
}

/// One Sentinel monitoring `mymaster` at 10.0.0.1:6379 (quorum 2, down-after 5 s), with every
/// output kept for the test to read.
struct Harness {
    s: Sentinel,
    now: SimTime,
    out: Capture,
    /// Outgoing connections by the address they were opened to, in order.
    opened: Vec<(ConnId, String)>,
    closed: Vec<ConnId>,
    events: Vec<SentinelEvent>,
    logs: Vec<String>,
}

impl Harness {
    fn new() -> Harness {
        let mut m = MonitorConfig::new(
            "mymaster",
            Addr {
                ip: MYMASTER.into(),
                port: 6379,
            },
            2,
        );
        m.down_after_ms = 5_000;
        let params = SentinelParams {
            name: "s1".into(),
            ip: "10.0.0.9".into(),
            port: SENTINEL_PORT,
            masters: vec![m],
            seed: 7,
        };
        let mut h = Harness {
            s: Sentinel::boot(SimTime::ZERO, params),
            now: SimTime::ZERO,
            out: Capture(BTreeMap::new()),
            opened: Vec::new(),
            closed: Vec::new(),
            events: Vec::new(),
            logs: Vec::new(),
        };
        h.drain();
        h
    }

    fn drain(&mut self) {
        self.s.poll_transmit(self.now, &mut self.out);
        while let Some(a) = self.s.poll_action() {
            match a {
                Action::Connect { conn, host, port } => {
                    self.opened.push((conn, format!("{host}:{port}")))
                }
                Action::Close { conn } => self.closed.push(conn),
                _ => {}
            }
        }
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
        while let Some(l) = self.s.poll_log() {
            self.logs.push(l.message);
        }
    }

    /// Runs the timer until `t`, every run it asks for.
    fn run_until(&mut self, t: SimTime) {
        while self.s.poll_timeout() <= t {
            self.now = self.s.poll_timeout();
            self.s.handle_timeout(self.now);
            self.drain();
        }
        self.now = t;
    }

    fn run_for_ms(&mut self, ms: u64) {
        let t = self.now + SimDuration::from_millis(ms);
        self.run_until(t);
    }

    /// What the Sentinel wrote on `conn` since the last call, as text.
    fn written(&mut self, conn: ConnId) -> String {
        String::from_utf8_lossy(&self.out.0.remove(&conn).unwrap_or_default()).into_owned()
    }

    /// Delivers `bytes` on `conn`.
    fn reply(&mut self, conn: ConnId, bytes: &str) {
        self.s.handle_data(self.now, conn, bytes.as_bytes());
        self.drain();
    }

    fn connect_all(&mut self) {
        for (c, _) in self.opened.clone() {
            self.s.handle_connected(self.now, c);
        }
        self.drain();
    }

    fn kinds(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.kind.as_str()).collect()
    }
}

fn cmd(args: &[&str]) -> String {
    let mut out = Vec::new();
    encode_command(args, &mut out);
    String::from_utf8(out).unwrap()
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

#[test]
fn it_starts_with_its_id_and_a_monitor_event_in_sentinels_words() {
    let h = Harness::new();
    let id = h.s.myid().to_string();
    assert_eq!(id.len(), 40);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        h.logs,
        [
            "Sentinel new configuration saved on disk".to_string(),
            format!("Sentinel ID is {id}"),
            "+monitor master mymaster 10.0.0.1 6379 quorum 2".to_string(),
        ]
    );
}

#[test]
fn it_opens_a_commands_and_a_pubsub_connection_and_sends_what_sentinel_sends() {
    let mut h = Harness::new();
    h.run_until(SimTime::ZERO);
    let addrs: Vec<&str> = h.opened.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(addrs, ["10.0.0.1:6379", "10.0.0.1:6379"]);
    let (cc, pc) = (h.opened[0].0, h.opened[1].0);
    // Nothing goes out before the connection is up; then what hiredis queued meanwhile.
    assert!(h.out.0.is_empty());
    h.connect_all();
    let id8 = h.s.myid()[..8].to_string();
    assert_eq!(
        h.written(cc),
        [
            cmd(&["CLIENT", "SETNAME", &format!("sentinel-{id8}-cmd")]),
            cmd(&["PING"]),
            cmd(&["INFO"]),
        ]
        .concat()
    );
    assert_eq!(
        h.written(pc),
        [
            cmd(&["CLIENT", "SETNAME", &format!("sentinel-{id8}-pubsub")]),
            cmd(&["SUBSCRIBE", "__sentinel__:hello"]),
        ]
        .concat()
    );
    // The first hello goes two seconds after the instance was created, as every later one.
    let hello = format!("10.0.0.9,26379,{},0,mymaster,10.0.0.1,6379,0", h.s.myid());
    h.run_for_ms(1_950);
    assert!(!h.written(cc).contains("PUBLISH"));
    h.run_for_ms(200);
    assert!(h
        .written(cc)
        .contains(&cmd(&["PUBLISH", "__sentinel__:hello", &hello])));
}

/// The INFO reply of a master at 10.0.0.1 with replicas `slaves` (ip, offset).
fn master_info(run_id: &str, slaves: &[(&str, u64)]) -> String {
    let mut text = format!("# Server\r\nrun_id:{run_id}\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:{}\r\n", slaves.len());
    for (i, (ip, off)) in slaves.iter().enumerate() {
        text += &format!("slave{i}:ip={ip},port=6379,state=online,offset={off},lag=0\r\n");
    }
    bulk(&text)
}

#[test]
fn replicas_come_from_info_and_sentinels_from_hellos() {
    let mut h = Harness::new();
    h.run_until(SimTime::ZERO);
    h.connect_all();
    let (cc, pc) = (h.opened[0].0, h.opened[1].0);
    let run_id = "a".repeat(40);
    // CLIENT SETNAME, PING, INFO: their replies in order.
    h.reply(
        cc,
        &format!(
            "+OK\r\n+PONG\r\n{}",
            master_info(&run_id, &[("10.0.0.3", 10), ("10.0.0.2", 10)])
        ),
    );
    let peer = "b".repeat(40);
    let message = format!("10.0.0.8,26379,{peer},3,mymaster,10.0.0.1,6379,0");
    let ours = format!("10.0.0.9,26379,{},0,mymaster,10.0.0.1,6379,0", h.s.myid());
    h.reply(
        pc,
        &format!(
            "+OK\r\n*3\r\n$9\r\nsubscribe\r\n$18\r\n__sentinel__:hello\r\n:1\r\n\
             *3\r\n$7\r\nmessage\r\n$18\r\n__sentinel__:hello\r\n{}\
             *3\r\n$7\r\nmessage\r\n$18\r\n__sentinel__:hello\r\n{}",
            bulk(&ours),
            bulk(&message)
        ),
    );
    let lines: Vec<String> = h
        .events
        .iter()
        .filter(|e| e.kind != "+monitor")
        .map(|e| format!("{} {}", e.kind, e.message))
        .collect();
    assert_eq!(
        lines,
        [
            "+slave slave 10.0.0.3:6379 10.0.0.3 6379 @ mymaster 10.0.0.1 6379".to_string(),
            "+slave slave 10.0.0.2:6379 10.0.0.2 6379 @ mymaster 10.0.0.1 6379".to_string(),
            // Its own hello is ignored; the peer's is a Sentinel and a newer epoch.
            format!("+sentinel sentinel {peer} 10.0.0.8 26379 @ mymaster 10.0.0.1 6379"),
            "+new-epoch 3".to_string(),
        ]
    );
    assert_eq!(h.s.current_epoch(), 3);
    // The next timer run connects to both replicas and to the peer (no Pub/Sub link to it).
    h.run_for_ms(150);
    assert!(h.closed.is_empty(), "every reply answered a command");
    let mut addrs: Vec<&str> = h.opened[2..].iter().map(|(_, a)| a.as_str()).collect();
    addrs.sort();
    assert_eq!(
        addrs,
        [
            "10.0.0.2:6379",
            "10.0.0.2:6379",
            "10.0.0.3:6379",
            "10.0.0.3:6379",
            "10.0.0.8:26379"
        ]
    );
}

#[test]
fn a_master_silent_for_down_after_is_sdown_and_a_pong_ends_it() {
    let mut h = Harness::new();
    h.run_until(SimTime::ZERO);
    h.connect_all();
    let cc = h.opened[0].0;
    h.written(cc);
    h.reply(
        cc,
        &format!("+OK\r\n+PONG\r\n{}", master_info(&"a".repeat(40), &[])),
    );
    assert!(h.closed.is_empty());
    // From here on the master says nothing: the next PING, about a second later, is the first
    // unanswered one, and SDOWN comes down-after (5 s) after it.
    let mut sent = h.written(cc);
    let mut first_ping = None;
    for _ in 0..200 {
        h.run_for_ms(50);
        let more = h.written(cc);
        if first_ping.is_none() && more.contains("PING") {
            first_ping = Some(h.now);
        }
        sent += &more;
        if h.kinds().contains(&"+sdown") {
            break;
        }
    }
    let first_ping = first_ping.expect("a PING went out");
    let sdown = h
        .events
        .iter()
        .position(|e| e.kind == "+sdown")
        .expect("+sdown");
    assert_eq!(h.events[sdown].message, "master mymaster 10.0.0.1 6379");
    let after = h.now.since(first_ping).as_millis();
    assert!(
        (5_000..5_200).contains(&after),
        "+sdown {after} ms after the first silent PING"
    );
    assert!(h
        .logs
        .contains(&"+sdown master mymaster 10.0.0.1 6379".to_string()));
    // The master wakes up and answers everything it was sent, in order.
    let mut decoder = crate::redis::resp::Decoder::new();
    decoder.feed(sent.as_bytes());
    let mut replies = String::new();
    while let Ok(Some(crate::redis::resp::Frame::Command)) = decoder.next_frame() {
        replies += match decoder.arg(0) {
            b"PING" => "+PONG\r\n",
            b"PUBLISH" => ":1\r\n",
            other => panic!("unexpected {:?}", String::from_utf8_lossy(other)),
        };
    }
    assert!(replies.contains("PONG"));
    h.reply(cc, &replies);
    h.run_for_ms(150);
    assert_eq!(h.kinds().last(), Some(&"-sdown"));
}

#[test]
fn a_sentinel_votes_once_per_epoch_for_the_first_asker() {
    let mut h = Harness::new();
    let conn = h.s.handle_accept(h.now, "10.0.0.7", 40000);
    let ask = |runid: &str, epoch: &str| {
        cmd(&[
            "SENTINEL",
            "is-master-down-by-addr",
            MYMASTER,
            "6379",
            epoch,
            runid,
        ])
    };
    let (a, b) = ("a".repeat(40), "b".repeat(40));
    h.reply(conn, &ask(&a, "1"));
    h.reply(conn, &ask(&b, "1"));
    h.reply(conn, &ask("*", "1"));
    h.reply(conn, &ask(&b, "2"));
    h.reply(
        conn,
        &cmd(&[
            "SENTINEL",
            "is-master-down-by-addr",
            "10.9.9.9",
            "6379",
            "2",
            &a,
        ]),
    );
    assert_eq!(
        h.written(conn),
        [
            format!("*3\r\n:0\r\n{}:1\r\n", bulk(&a)),
            // Already voted in epoch 1: the same answer.
            format!("*3\r\n:0\r\n{}:1\r\n", bulk(&a)),
            // Not asking for a vote.
            "*3\r\n:0\r\n$1\r\n*\r\n:0\r\n".to_string(),
            format!("*3\r\n:0\r\n{}:2\r\n", bulk(&b)),
            // No master at that address.
            "*3\r\n:0\r\n$1\r\n*\r\n:0\r\n".to_string(),
        ]
        .concat()
    );
    let votes: Vec<String> = h
        .events
        .iter()
        .filter(|e| e.kind == "+vote-for-leader" || e.kind == "+new-epoch")
        .map(|e| format!("{} {}", e.kind, e.message))
        .collect();
    assert_eq!(
        votes,
        [
            "+new-epoch 1".to_string(),
            format!("+vote-for-leader {a} 1"),
            "+new-epoch 2".to_string(),
            format!("+vote-for-leader {b} 2"),
        ]
    );
}

#[test]
fn clients_ask_where_the_master_is_and_get_sentinels_replies() {
    let mut h = Harness::new();
    let conn = h.s.handle_accept(h.now, "10.0.0.7", 40000);
    let cases: &[(&[&str], String)] = &[
        (
            &["SENTINEL", "get-master-addr-by-name", "mymaster"],
            format!("*2\r\n{}{}", bulk("10.0.0.1"), bulk("6379")),
        ),
        (
            &["SENTINEL", "get-master-addr-by-name", "other"],
            "*-1\r\n".into(),
        ),
        (&["PING"], "+PONG\r\n".into()),
        (
            &["PUBLISH", "elsewhere", "x"],
            "-ERR Only HELLO messages are accepted by Sentinel instances.\r\n".into(),
        ),
        (
            &["SENTINEL", "replicas", "nope"],
            "-ERR No such master with that name\r\n".into(),
        ),
        (
            &["SENTINEL", "bogus"],
            "-ERR unknown subcommand 'bogus'. Try SENTINEL HELP.\r\n".into(),
        ),
        (
            &["GET", "k"],
            "-ERR unknown command 'GET', with args beginning with: 'k' \r\n".into(),
        ),
        (
            &["ROLE"],
            format!("*2\r\n{}*1\r\n{}", bulk("sentinel"), bulk("mymaster")),
        ),
    ];
    for (args, want) in cases {
        h.reply(conn, &cmd(args));
        assert_eq!(&h.written(conn), want, "{args:?}");
    }
    assert_eq!(
        h.s.handle_command(h.now, &[b"SENTINEL", b"get-master-addr-by-name", b"other"]),
        Reply::Null
    );
}

#[test]
fn a_reply_to_nothing_drops_the_link_as_hiredis_does() {
    let mut h = Harness::new();
    h.run_until(SimTime::ZERO);
    h.connect_all();
    let cc = h.opened[0].0;
    h.reply(cc, "+OK\r\n+PONG\r\n$0\r\n\r\n+OK\r\n");
    assert_eq!(h.closed, [cc]);
}

#[test]
fn a_broken_reply_drops_the_link_and_it_is_made_again_a_second_later() {
    let mut h = Harness::new();
    h.run_until(SimTime::ZERO);
    h.connect_all();
    let cc = h.opened[0].0;
    h.reply(cc, "?garbage\r\n");
    assert_eq!(h.closed, [cc]);
    let before = h.opened.len();
    h.run_for_ms(1_100);
    assert_eq!(h.opened.len(), before + 1, "a new commands connection");
    assert_eq!(h.opened.last().unwrap().1, "10.0.0.1:6379");
}
