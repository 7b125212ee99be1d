//! RESP: replies, command encoding, and the incremental request decoder.
//!
//! The decoder follows Redis's `processMultibulkBuffer` and `processInlineBuffer`
//! (networking.c): the same limits, the same protocol-error texts, and the same handling of an
//! empty inline line (a replica's keepalive newline). It accepts input in any chunking and keeps
//! its progress between calls, so a large argument arriving in many pieces is not re-parsed.
//! Malformed input is a [`ProtoError`], never a panic.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Largest inline request or header line, `PROTO_INLINE_MAX_SIZE`.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// Largest bulk argument, `proto-max-bulk-len` default.
pub const BULK_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Largest multibulk count Redis accepts (`INT_MAX`).
const MULTIBULK_MAX: i64 = i32::MAX as i64;
/// Before AUTH, Redis limits a multibulk to 10 arguments and a bulk to 16 KB.
const UNAUTH_MULTIBULK_MAX: i64 = 10;
const UNAUTH_BULK_MAX: i64 = 16384;

/// A reply, as the node sends it to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Status text: fixed texts (`OK`, `PONG`) are borrowed, so the common replies allocate nothing.
    Simple(Cow<'static, str>),
    /// Error text without the leading `-`, e.g. `ERR syntax error` or `NOAUTH Authentication required.`.
    Error(Cow<'static, str>),
    Integer(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Reply>),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple(Cow::Borrowed("OK"))
    }

    pub fn err(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(text.into())
    }

    pub fn bulk(b: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(b.as_ref().to_vec())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the RESP2 encoding of this reply to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) => line(out, b'-', s.as_bytes()),
            Reply::Integer(i) => line(out, b':', i.to_string().as_bytes()),
            Reply::Bulk(b) => {
                line(out, b'$', b.len().to_string().as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Null => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }

    /// A short human form for histories and logs: `OK`, `(error) NOREPLICAS ...`, `(integer) 3`.
    pub fn summary(&self) -> String {
        match self {
            Reply::Simple(s) => s.to_string(),
            Reply::Error(s) => format!("(error) {s}"),
            Reply::Integer(i) => format!("(integer) {i}"),
            Reply::Bulk(b) => format!("\"{}\"", String::from_utf8_lossy(b)),
            Reply::Null => "(nil)".into(),
            Reply::Array(items) => {
                let mut s = String::from("[");
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    s.push_str(&it.summary());
                }
                s.push(']');
                s
            }
        }
    }
}

fn line(out: &mut Vec<u8>, prefix: u8, body: &[u8]) {
    out.push(prefix);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

/// Appends `*<argc>\r\n` then `$<len>\r\n<arg>\r\n` per argument: how Redis propagates and how
/// `sendCommand` sends handshake commands.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    out.push(b'*');
    push_u64(out, args.len() as u64);
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        push_u64(out, a.len() as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The encoded size of a command, without encoding it.
pub fn command_len<A: AsRef<[u8]>>(args: &[A]) -> u64 {
    let digits = |n: usize| u64::from(n.checked_ilog10().unwrap_or(0) + 1);
    let mut n = 1 + digits(args.len()) + 2;
    for a in args {
        let len = a.as_ref().len();
        n += 1 + digits(len) + 2 + len as u64 + 2;
    }
    n
}

/// Appends the decimal digits of `n` (without `format!`: this runs for every argument).
#[inline]
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A protocol error. The text is what Redis replies (after `-ERR `) before closing the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoError(pub String);

impl ProtoError {
    fn new(msg: &str) -> ProtoError {
        ProtoError(format!("Protocol error: {msg}"))
    }

    /// What went wrong, as `setProtocolError` logs it (the reply's text without its
    /// `Protocol error: ` prefix).
    pub fn errstr(&self) -> &str {
        self.0.strip_prefix("Protocol error: ").unwrap_or(&self.0)
    }
}

/// `PROTO_DUMP_LEN`: how much of a query buffer a protocol error's log line samples.
const PROTO_DUMP_LEN: usize = 128;

/// What the decoder produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A command; its arguments are [`Decoder::args`].
    Command,
    /// An empty inline line: a keepalive newline.
    Newline,
}

/// Incremental request decoder with Redis's limits.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Start of the bytes not yet consumed.
    pos: usize,
    /// Arguments of the command being parsed or just returned, as ranges into `buf`.
    args: Vec<(usize, usize)>,
    /// Arguments of the last inline command (they may contain escapes, so they are copies).
    inline_args: Vec<Vec<u8>>,
    /// Whether the last command returned was inline.
    inline_last: bool,
    /// Multibulk arguments still expected for the command in progress; 0 when between commands.
    mb_left: i64,
    /// Length of the bulk argument whose header was read, if its body is awaited.
    bulk_len: Option<usize>,
    /// Where the command in progress starts, so a frame's size can be reported.
    frame_start: usize,
    /// Size in bytes of the last frame returned.
    last_frame_bytes: usize,
    /// Where the last frame returned starts.
    last_frame_start: usize,
    /// Whether the peer has authenticated (Redis limits unauthenticated requests).
    pub authenticated: bool,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            authenticated: true,
            ..Decoder::default()
        }
    }

    /// Appends received bytes. The arguments of a frame already returned are invalid afterwards.
    pub fn feed(&mut self, data: &[u8]) {
        // Reclaim consumed space before growing, once it is the larger part of the buffer.
        if (self.pos > 0 && self.pos == self.buf.len())
            || (self.pos > 4096 && self.pos * 2 > self.buf.len())
        {
            self.compact();
        }
        self.buf.extend_from_slice(data);
    }

    fn compact(&mut self) {
        let shift = self.frame_start.min(self.pos);
        if shift == 0 {
            return;
        }
        self.buf.drain(..shift);
        self.pos -= shift;
        self.frame_start -= shift;
        self.last_frame_start = self.last_frame_start.saturating_sub(shift);
        self.last_frame_bytes = 0;
        if self.mb_left == 0 {
            // Between commands, `args` describes a frame already returned; feeding invalidates it.
            self.args.clear();
        } else {
            // The partial command's arguments all lie after `frame_start`.
            for a in &mut self.args {
                a.0 -= shift;
                a.1 -= shift;
            }
        }
    }

    /// Bytes received and not yet consumed by a returned frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.frame_start
    }

    /// The size in bytes of the frame last returned by [`Decoder::next_frame`].
    pub fn last_frame_bytes(&self) -> usize {
        self.last_frame_bytes
    }

    /// The arguments of the last [`Frame::Command`].
    pub fn args(&self) -> Args<'_> {
        Args { d: self, i: 0 }
    }

    /// The number of arguments of the last command.
    pub fn argc(&self) -> usize {
        if self.inline_last {
            self.inline_args.len()
        } else {
            self.args.len()
        }
    }

    /// Argument `i` of the last command.
    pub fn arg(&self, i: usize) -> &[u8] {
        if self.inline_last {
            &self.inline_args[i]
        } else {
            let (a, b) = self.args[i];
            &self.buf[a..b]
        }
    }

    /// The arguments of the last command, copied.
    pub fn args_vec(&self) -> Vec<Vec<u8>> {
        self.args().map(<[u8]>::to_vec).collect()
    }

    /// Discards everything buffered (a cached master drops its unprocessed query buffer).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.frame_start = 0;
        self.args.clear();
        self.mb_left = 0;
        self.bulk_len = None;
    }

    /// Reads one `\n`-terminated line (CRLF stripped) into a buffer of `size` bytes, as
    /// `syncReadLine` does for the replies of the handshake and the RDB's header: a line that
    /// does not fit is returned cut at `size - 1` bytes, and the rest of it is read as the
    /// next line. Returns `None` until a whole line (or `size - 1` bytes) is buffered, so a
    /// peer that never sends a newline cannot make it buffer more than that.
    pub fn read_line(&mut self, size: usize) -> Option<Vec<u8>> {
        debug_assert!(self.mb_left == 0, "read_line in the middle of a command");
        assert!(
            size > 1,
            "a line buffer holds at least one byte and its terminator"
        );
        let rest = &self.buf[self.pos..];
        let window = &rest[..rest.len().min(size - 1)];
        let Some(nl) = window.iter().position(|&b| b == b'\n') else {
            if window.len() < size - 1 {
                return None;
            }
            // The buffer is full without a newline: syncReadLine returns what it holds.
            let line = window.to_vec();
            self.pos += line.len();
            self.frame_start = self.pos;
            return Some(line);
        };
        let mut line = window[..nl].to_vec();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        self.pos += nl + 1;
        self.frame_start = self.pos;
        Some(line)
    }

    /// The sample of unread input a protocol error's log line shows (`setProtocolError`):
    /// all of it when short, else its first and last 64 bytes, non-printable bytes as `.`.
    pub fn protocol_error_sample(&self) -> String {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let printable = |b: &[u8]| -> String {
            b.iter()
                .map(|&c| {
                    if c.is_ascii_graphic() || c == b' ' {
                        c as char
                    } else {
                        '.'
                    }
                })
                .collect()
        };
        if rest.len() < PROTO_DUMP_LEN {
            format!("Query buffer during protocol error: '{}'", printable(rest))
        } else {
            let half = PROTO_DUMP_LEN / 2;
            format!(
                "Query buffer during protocol error: '{}' (... more {} bytes ...) '{}'",
                printable(&rest[..half]),
                rest.len() - PROTO_DUMP_LEN,
                printable(&rest[rest.len() - half..])
            )
        }
    }

    /// Takes up to `max` raw bytes (an RDB payload).
    pub fn take_raw(&mut self, max: usize) -> &[u8] {
        let start = self.pos;
        let n = max.min(self.buf.len() - self.pos);
        self.pos += n;
        self.frame_start = self.pos;
        &self.buf[start..start + n]
    }

    /// Bytes buffered and not consumed, without consuming them.
    pub fn peek_raw(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Parses the next request. `Ok(None)` means more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ProtoError> {
        if self.mb_left == 0 {
            self.args.clear();
            self.inline_last = false;
            self.frame_start = self.pos;
            let Some(&first) = self.buf.get(self.pos) else {
                return Ok(None);
            };
            if first != b'*' {
                return self.inline();
            }
            let Some(n) = self.header_line()? else {
                return Ok(None);
            };
            if n > MULTIBULK_MAX || (!self.authenticated && n > UNAUTH_MULTIBULK_MAX) {
                return Err(ProtoError::new(if self.authenticated {
                    "invalid multibulk length"
                } else {
                    "unauthenticated multibulk length"
                }));
            }
            if n <= 0 {
                // `*0` and `*-1` are empty commands that Redis skips.
                self.finish_frame();
                return self.next_frame();
            }
            self.mb_left = n;
        }
        while self.mb_left > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let Some(&b) = self.buf.get(self.pos) else {
                        return Ok(None);
                    };
                    if b != b'$' {
                        return Err(ProtoError(format!(
                            "Protocol error: expected '$', got '{}'",
                            b as char
                        )));
                    }
                    let Some(len) = self.header_line()? else {
                        return Ok(None);
                    };
                    let max = if self.authenticated {
                        BULK_MAX_BYTES as i64
                    } else {
                        UNAUTH_BULK_MAX
                    };
                    if len < 0 || len > max {
                        return Err(ProtoError::new(if self.authenticated {
                            "invalid bulk length"
                        } else {
                            "unauthenticated bulk length"
                        }));
                    }
                    self.bulk_len = Some(len as usize);
                    len as usize
                }
            };
            if self.buf.len() - self.pos < len + 2 {
                return Ok(None);
            }
            self.args.push((self.pos, self.pos + len));
            // Redis skips the two bytes after a bulk without checking that they are CRLF.
            self.pos += len + 2;
            self.bulk_len = None;
            self.mb_left -= 1;
        }
        self.finish_frame();
        Ok(Some(Frame::Command))
    }

    fn finish_frame(&mut self) {
        self.last_frame_bytes = self.pos - self.frame_start;
        self.last_frame_start = self.frame_start;
        self.frame_start = self.pos;
    }

    /// Where the next frame starts in the buffer: the end of the last frame returned, which is
    /// not the parse position when a frame is half parsed. Stays valid until the next `feed`.
    pub fn position(&self) -> usize {
        self.frame_start
    }

    /// The raw bytes between two positions, valid until the next `feed`.
    pub fn slice(&self, from: usize, to: usize) -> &[u8] {
        &self.buf[from..to]
    }

    /// The raw bytes of the last frame returned, valid until the next `feed`.
    pub fn last_frame(&self) -> &[u8] {
        &self.buf[self.last_frame_start..self.last_frame_start + self.last_frame_bytes]
    }

    /// Reads a `*<n>` or `$<n>` header line at `pos` and returns `n`.
    fn header_line(&mut self) -> Result<Option<i64>, ProtoError> {
        let rest = &self.buf[self.pos..];
        // Fast path, for what a well-behaved peer sends on every line: up to 18 digits without a
        // leading zero, then CR. It reads the number while looking for the CR; it gives exactly
        // what the general path below gives, which handles everything else with Redis's rules.
        let mut n: i64 = 0;
        let mut i = 1;
        while i < rest.len() && i <= 18 && rest[i].is_ascii_digit() {
            n = n * 10 + i64::from(rest[i] - b'0');
            i += 1;
        }
        if i > 1 && i < rest.len() && rest[i] == b'\r' && (rest[1] != b'0' || i == 2) {
            if rest.len() < i + 2 {
                return Ok(None);
            }
            self.pos += i + 2;
            return Ok(Some(n));
        }
        let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
            if rest.len() > INLINE_MAX_BYTES {
                let what = if rest[0] == b'*' {
                    "too big mbulk count string"
                } else {
                    "too big bulk count string"
                };
                return Err(ProtoError::new(what));
            }
            return Ok(None);
        };
        if rest.len() < cr + 2 {
            return Ok(None);
        }
        let invalid = if rest[0] == b'*' {
            "invalid multibulk length"
        } else {
            "invalid bulk length"
        };
        let n = string2ll(&rest[1..cr]).ok_or_else(|| ProtoError::new(invalid))?;
        self.pos += cr + 2;
        Ok(Some(n))
    }

    fn inline(&mut self) -> Result<Option<Frame>, ProtoError> {
        let rest = &self.buf[self.pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() > INLINE_MAX_BYTES {
                return Err(ProtoError::new("too big inline request"));
            }
            return Ok(None);
        };
        let mut end = self.pos + nl;
        if end > self.pos && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        let start = self.pos;
        self.pos += nl + 1;
        let ranges = split_args(&self.buf[start..end])
            .ok_or_else(|| ProtoError::new("unbalanced quotes in request"))?;
        self.finish_frame();
        if ranges.is_empty() {
            return Ok(Some(Frame::Newline));
        }
        self.args.clear();
        self.inline_args = ranges;
        self.inline_last = true;
        Ok(Some(Frame::Command))
    }
}

/// Iterator over a decoded command's arguments.
pub struct Args<'a> {
    d: &'a Decoder,
    i: usize,
}

impl<'a> Iterator for Args<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.i >= self.d.argc() {
            return None;
        }
        self.i += 1;
        Some(self.d.arg(self.i - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.d.argc() - self.i;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Args<'_> {}

/// Redis's `string2ll`, which reads every integer Redis takes from the wire: RESP `*`/`$` headers
/// and integer arguments (SELECT, EXPIRE, WAIT, PSYNC offsets, REPLCONF ACK, ports). An optional
/// `-`, then `0` alone or digits without a leading zero; no `+`, no spaces, no overflow
/// (`i64::MIN` is accepted). On the hot path of every argument of every command, so it avoids
/// UTF-8 checks and `str::parse`.
pub(crate) fn string2ll(b: &[u8]) -> Option<i64> {
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits[0] == b'0' || digits.len() > 19 {
        return None;
    }
    // 19 digits always fit in a u64.
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(d - b'0');
    }
    if neg {
        (v <= 1 << 63).then(|| (v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Splits an inline request like `sdssplitargs`: spaces separate arguments, and double or single
/// quotes group them (double quotes understand `\n`, `\xHH` and friends). `None` means unbalanced
/// quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut cur = Vec::new();
        let mut done = false;
        let (mut inq, mut insq) = (false, false);
        while !done {
            if inq {
                if i >= line.len() {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < line.len()
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    let hex = std::str::from_utf8(&line[i + 2..i + 4]).ok()?;
                    cur.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                } else if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if i + 1 < line.len() && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    done = true;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if i >= line.len() {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < line.len() && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    done = true;
                } else {
                    cur.push(c);
                }
            } else if i >= line.len() {
                done = true;
            } else {
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            if i < line.len() {
                i += 1;
            }
        }
        out.push(cur);
    }
    Some(out)
}

/// Formats arguments for logs the way Redis prints a command: space separated, lossy UTF-8.
pub fn args_to_string<A: AsRef<[u8]>>(args: &[A]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{}", String::from_utf8_lossy(a.as_ref()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(args: &[&str]) -> Vec<u8> {
        let mut v = vec![];
        encode_command(args, &mut v);
        v
    }

    #[test]
    fn propagated_commands_have_redis_sizes() {
        assert_eq!(enc(&["SELECT", "0"]).len(), 23);
        assert_eq!(enc(&["SET", "k", "v"]).len(), 27);
        assert_eq!(enc(&["ping"]).len(), 14);
        assert_eq!(enc(&["REPLCONF", "GETACK", "*"]).len(), 37);
        assert_eq!(enc(&["SELECT", "10"]).len(), 24);
        assert_eq!(command_len(&["SET", "k", "v"]), 27);
        let long: Vec<String> = (0..12).map(|i| "x".repeat(i * 37)).collect();
        assert_eq!(
            command_len(&long),
            enc(&long.iter().map(String::as_str).collect::<Vec<_>>()).len() as u64
        );
        assert_eq!(
            enc(&["SET", "k", "v"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
    }

    fn decode_all(chunks: &[&[u8]]) -> Vec<Result<Vec<Vec<u8>>, ProtoError>> {
        let mut d = Decoder::new();
        let mut out = vec![];
        for c in chunks {
            d.feed(c);
            loop {
                match d.next_frame() {
                    Ok(Some(Frame::Command)) => out.push(Ok(d.args_vec())),
                    Ok(Some(Frame::Newline)) => out.push(Ok(vec![])),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e));
                        return out;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn decodes_in_any_chunking() {
        let stream = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\n\n*1\r\n$4\r\nping\r\n";
        let whole = decode_all(&[stream]);
        for split in 0..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(decode_all(&[a, b]), whole, "split at {split}");
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_all(&bytewise), whole);
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[2], Ok(vec![]), "an empty line is a keepalive newline");
    }

    #[test]
    fn protocol_errors_use_redis_texts() {
        let cases: &[(&[u8], &str)] = &[
            (b"*abc\r\n", "Protocol error: invalid multibulk length"),
            (b"*1\r\n+x\r\n", "Protocol error: expected '$', got '+'"),
            (b"*1\r\n$-5\r\n", "Protocol error: invalid bulk length"),
            (
                b"*1\r\n$999999999999\r\n",
                "Protocol error: invalid bulk length",
            ),
            (
                b"SET \"k v\r\n",
                "Protocol error: unbalanced quotes in request",
            ),
        ];
        for (input, msg) in cases {
            let r = decode_all(&[input]);
            assert_eq!(
                r.last(),
                Some(&Err(ProtoError(msg.to_string()))),
                "{input:?}"
            );
        }
        let huge = vec![b'a'; INLINE_MAX_BYTES + 1];
        assert_eq!(
            decode_all(&[&huge]).last(),
            Some(&Err(ProtoError(
                "Protocol error: too big inline request".into()
            )))
        );
    }

    #[test]
    fn unauthenticated_clients_get_smaller_limits() {
        let mut d = Decoder::new();
        d.authenticated = false;
        d.feed(b"*11\r\n");
        assert_eq!(
            d.next_frame(),
            Err(ProtoError(
                "Protocol error: unauthenticated multibulk length".into()
            ))
        );
    }

    #[test]
    fn integers_parse_like_string2ll() {
        assert_eq!(string2ll(b"123"), Some(123));
        assert_eq!(string2ll(b"42"), Some(42));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b""), None);
        assert_eq!(string2ll(b"-"), None);
        assert_eq!(string2ll(b"12a"), None);
        assert_eq!(string2ll(b"1.5"), None);
        assert_eq!(string2ll(b"007"), None);
        assert_eq!(string2ll(b"-0"), None);
        assert_eq!(string2ll(b"+5"), None);
        assert_eq!(string2ll(b" 5"), None);
        assert_eq!(string2ll(b"99999999999999999999"), None);
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"9223372036854775808"), None);
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2ll(b"-9223372036854775809"), None);
    }

    #[test]
    fn header_lines_read_exactly_like_string2ll() {
        // The header fast path must agree with the general path on every input.
        let counts = [
            "0",
            "1",
            "3",
            "42",
            "100",
            "00",
            "007",
            "-0",
            "-1",
            "+5",
            " 5",
            "5 ",
            "",
            "1a",
            "123456789012345678",
            "1234567890123456789",
            "9223372036854775807",
            "9223372036854775808",
            "99999999999999999999",
        ];
        for c in counts {
            let mut d = Decoder::new();
            d.feed(format!("${c}\r\nrest").as_bytes());
            let got = d.header_line();
            match string2ll(c.as_bytes()) {
                Some(n) => {
                    assert_eq!(got, Ok(Some(n)), "{c:?}");
                    assert_eq!(d.pos, c.len() + 3, "{c:?}");
                }
                None => assert_eq!(got, Err(ProtoError::new("invalid bulk length")), "{c:?}"),
            }
            // Without its LF the line is not complete yet, whatever it holds.
            let mut d = Decoder::new();
            d.feed(format!("${c}\r").as_bytes());
            if string2ll(c.as_bytes()).is_some() {
                assert_eq!(d.header_line(), Ok(None), "{c:?} without LF");
            }
        }
    }

    #[test]
    fn inline_splitting_follows_sdssplitargs() {
        assert_eq!(
            split_args(b"set k \"a b\\n\" 'c d'").unwrap(),
            vec![
                b"set".to_vec(),
                b"k".to_vec(),
                b"a b\n".to_vec(),
                b"c d".to_vec()
            ]
        );
        assert_eq!(split_args(b"\"\\x41\"").unwrap(), vec![b"A".to_vec()]);
        assert!(split_args(b"\"abc\"def").is_none());
    }

    #[test]
    fn replies_encode_as_resp2() {
        let mut v = vec![];
        Reply::Array(vec![Reply::bulk("master"), Reply::Integer(3), Reply::Null]).encode(&mut v);
        assert_eq!(v, b"*3\r\n$6\r\nmaster\r\n:3\r\n$-1\r\n");
        let mut v = vec![];
        Reply::err("NOAUTH Authentication required.").encode(&mut v);
        assert_eq!(v, b"-NOAUTH Authentication required.\r\n");
    }

    #[test]
    fn lines_and_raw_bytes_can_be_read_between_commands() {
        let mut d = Decoder::new();
        d.feed(b"+FULLRESYNC abc 0\r\n\n$3\r\nxyz*1\r\n$4\r\nping\r\n");
        assert_eq!(d.read_line(256).unwrap(), b"+FULLRESYNC abc 0");
        assert_eq!(d.read_line(256).unwrap(), b"");
        assert_eq!(d.read_line(256).unwrap(), b"$3");
        assert_eq!(d.take_raw(3), b"xyz");
        assert_eq!(d.next_frame(), Ok(Some(Frame::Command)));
        assert_eq!(d.args_vec(), vec![b"ping".to_vec()]);
        assert_eq!(d.last_frame_bytes(), 14);
    }

    #[test]
    fn a_line_longer_than_its_buffer_is_cut_as_sync_read_line_cuts_it() {
        let mut d = Decoder::new();
        d.feed(b"+0123456789");
        assert_eq!(d.read_line(8), Some(b"+012345".to_vec()), "size - 1 bytes");
        assert_eq!(d.read_line(8), None, "the rest waits for its newline");
        d.feed(b"\r\n");
        assert_eq!(d.read_line(8), Some(b"6789".to_vec()));
        assert_eq!(d.pending(), 0, "everything was consumed");
        // A peer that never sends a newline holds at most one buffer's worth unread.
        let mut d = Decoder::new();
        d.feed(&[b'x'; 1000]);
        let mut lines = 0;
        while let Some(line) = d.read_line(256) {
            assert_eq!(line.len(), 255);
            lines += 1;
        }
        assert_eq!((lines, d.pending()), (3, 1000 - 3 * 255));
    }

    #[test]
    fn protocol_errors_sample_the_query_buffer_like_set_protocol_error() {
        let mut d = Decoder::new();
        d.feed(b"*1\r\n+x\r\n");
        let e = d.next_frame().unwrap_err();
        assert_eq!(e.errstr(), "expected '$', got '+'");
        assert_eq!(
            d.protocol_error_sample(),
            "Query buffer during protocol error: '+x..'"
        );
        let mut d = Decoder::new();
        d.feed(b"*1\r\n");
        d.feed(&[b'+'; 300]);
        d.next_frame().unwrap_err();
        let sample = d.protocol_error_sample();
        assert!(
            sample.contains("'++++") && sample.contains("(... more 172 bytes ...)"),
            "{sample}"
        );
    }

    #[test]
    fn garbage_decodes_the_same_in_any_chunking_and_frames_have_their_exact_size() {
        let mut rng = crate::seed::SeedStream::derive(5, "resp-fuzz");
        let alphabet = b"*$\r\n0123456789-abc \"'\\x";
        let (mut commands, mut errors) = (0, 0);
        for _ in 0..2000 {
            let len = rng.below(64) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            let whole = decode_all(&[&bytes]);
            // The same frames and the same error whatever the chunking.
            let cut = rng.below(bytes.len() as u64 + 1) as usize;
            let (a, b) = bytes.split_at(cut);
            assert_eq!(decode_all(&[a, b]), whole, "{bytes:?} split at {cut}");
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            assert_eq!(decode_all(&bytewise), whole, "{bytes:?} byte by byte");
            // Each multibulk command is exactly as long as its encoding: the decoder consumed
            // its header, its arguments and their terminators, nothing more.
            let mut d = Decoder::new();
            d.feed(&bytes);
            loop {
                match d.next_frame() {
                    Ok(Some(Frame::Command)) => {
                        commands += 1;
                        if d.last_frame().first() == Some(&b'*') {
                            let args = d.args_vec();
                            assert_eq!(
                                d.last_frame_bytes() as u64,
                                command_len(&args),
                                "{bytes:?}"
                            );
                        }
                    }
                    Ok(Some(Frame::Newline)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        assert!(e.0.starts_with("Protocol error: "), "{e:?}");
                        errors += 1;
                        break;
                    }
                }
            }
        }
        assert!(
            commands > 500 && errors > 200,
            "both commands and errors: {commands}, {errors}"
        );
    }
}
