//! The reading half of a client connection: RESP2 replies as hiredis parses them, from bytes that
//! arrive in any chunking. Sentinel reads the replies of masters, replicas and other Sentinels
//! through it.
//!
//! A reply that breaks the protocol is an error, never a panic: the connection is then dropped,
//! as hiredis drops a context whose reader failed. Sizes are bounded as Redis bounds them (a
//! bulk of at most 512 MB, an array of at most 2^31-1 elements) and so is nesting (hiredis
//! nests at most 7 levels below the top).

use crate::redis::resp::{Reply, BULK_MAX_BYTES};

/// The most array levels below the top reply (hiredis `REDIS_READER_STACK` less the top).
const NESTING_MAX: usize = 7;

/// Why a reply could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyError(pub &'static str);

/// An incremental RESP2 reply reader.
#[derive(Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
    pos: usize,
}

impl ReplyReader {
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete reply, `None` until one has arrived whole.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        match parse(&self.buf[self.pos..], 0)? {
            Some((reply, used)) => {
                self.pos += used;
                if self.pos == self.buf.len() {
                    self.buf.clear();
                    self.pos = 0;
                }
                Ok(Some(reply))
            }
            None => Ok(None),
        }
    }
}

/// The line at the start of `b` without its CRLF, and the bytes it took.
fn line(b: &[u8]) -> Option<(&[u8], usize)> {
    let end = b.windows(2).position(|w| w == b"\r\n")?;
    Some((&b[..end], end + 2))
}

fn integer(text: &[u8]) -> Result<i64, ReplyError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(ReplyError("Bad integer value"))
}

/// One reply from the start of `b` and the bytes it took, or `None` if it is not whole yet.
fn parse(b: &[u8], depth: usize) -> Result<Option<(Reply, usize)>, ReplyError> {
    let Some(&kind) = b.first() else {
        return Ok(None);
    };
    let Some((text, head)) = line(&b[1..]) else {
        return Ok(None);
    };
    let head = head + 1;
    let lossy = || String::from_utf8_lossy(text).into_owned();
    match kind {
        b'+' => Ok(Some((Reply::Simple(lossy().into()), head))),
        b'-' => Ok(Some((Reply::Error(lossy().into()), head))),
        b':' => Ok(Some((Reply::Integer(integer(text)?), head))),
        b'$' => {
            let len = integer(text)?;
            if len == -1 {
                return Ok(Some((Reply::Null, head)));
            }
            if len < 0 || len as u64 > BULK_MAX_BYTES {
                return Err(ReplyError("Bulk string length out of range"));
            }
            let len = len as usize;
            if b.len() < head + len + 2 {
                return Ok(None);
            }
            if &b[head + len..head + len + 2] != b"\r\n" {
                return Err(ReplyError("Bulk string not terminated by CRLF"));
            }
            Ok(Some((
                Reply::Bulk(b[head..head + len].to_vec()),
                head + len + 2,
            )))
        }
        b'*' => {
            let count = integer(text)?;
            if count == -1 {
                return Ok(Some((Reply::Null, head)));
            }
            if !(0..=i64::from(i32::MAX)).contains(&count) {
                return Err(ReplyError("Multi-bulk length out of range"));
            }
            if depth >= NESTING_MAX {
                return Err(ReplyError(
                    "No support for nested multi bulk replies with depth > 7",
                ));
            }
            let mut items = Vec::new();
            let mut at = head;
            for _ in 0..count {
                match parse(&b[at..], depth + 1)? {
                    Some((item, used)) => {
                        items.push(item);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(items), at)))
        }
        _ => Err(ReplyError(
            "Protocol error, got an unexpected reply type byte",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(chunks: &[&[u8]]) -> Result<Vec<Reply>, ReplyError> {
        let mut r = ReplyReader::default();
        let mut out = Vec::new();
        for c in chunks {
            r.feed(c);
            while let Some(reply) = r.next_reply()? {
                out.push(reply);
            }
        }
        Ok(out)
    }

    #[test]
    fn replies_read_the_same_in_any_chunking() {
        let bytes: &[u8] = b"+PONG\r\n-ERR no\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n*1\r\n:1\r\n$0\r\n\r\n";
        let want = vec![
            Reply::Simple("PONG".into()),
            Reply::err("ERR no"),
            Reply::Integer(42),
            Reply::bulk("hello"),
            Reply::Null,
            Reply::Null,
            Reply::Array(vec![
                Reply::bulk("message"),
                Reply::bulk("ch"),
                Reply::Array(vec![Reply::Integer(1)]),
            ]),
            Reply::bulk(""),
        ];
        assert_eq!(read_all(&[bytes]).unwrap(), want);
        for split in 0..bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(read_all(&[a, b]).unwrap(), want, "split at {split}");
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(read_all(&bytewise).unwrap(), want);
    }

    #[test]
    fn broken_replies_are_errors_not_panics() {
        let cases: &[&[u8]] = &[
            b"?x\r\n",
            b":12a\r\n",
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"*-5\r\n",
            b"$99999999999999999999\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
        ];
        for &c in cases {
            assert!(read_all(&[c]).is_err(), "{:?}", String::from_utf8_lossy(c));
        }
        // Seven levels below the top are allowed.
        let seven = read_all(&[b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"]);
        assert_eq!(seven.map(|r| r.len()), Ok(1));
    }
}
