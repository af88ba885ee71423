//! RESP2, the Redis serialization protocol: how commands are written and
//! how replies are read (<https://redis.io/docs/latest/develop/reference/protocol-spec/>).
//!
//! Every value starts with one type byte and ends its first line with CRLF:
//!
//! | type byte | value | example |
//! |---|---|---|
//! | `+` | simple string (one line) | `+OK\r\n` |
//! | `-` | error (one line) | `-WRONGPASS invalid username-password pair\r\n` |
//! | `:` | signed 64-bit integer | `:1000\r\n` |
//! | `$` | bulk string: a length, then that many bytes and CRLF; `-1` is null | `$5\r\nhello\r\n`, `$-1\r\n` |
//! | `*` | array: a count, then that many values; `-1` is null | `*2\r\n:1\r\n:2\r\n` |
//!
//! A client sends every command as an array of bulk strings
//! ([`encode_command`]); the server answers each with one value, in order,
//! which is what makes pipelining possible: write many commands, then read
//! as many replies.
//!
//! [`parse`] is sans-IO: it is given the bytes received so far and answers
//! [`Decoded::Partial`] ("need more", never an error) or the value and how
//! many bytes it took. It checks every declared length against [`Limits`]
//! *before* trusting it, and it never allocates room for what a peer merely
//! declared: an array that claims a million elements reserves at most what
//! the bytes already received could hold, and a bulk string is copied only
//! once all of it has arrived.
//!
//! ```
//! use rusty_socket_server::broker::resp::{encode_command, parse, Value};
//! use rusty_socket_core::Decoded;
//!
//! let mut wire = Vec::new();
//! encode_command(&mut wire, &[b"GET", b"greeting"]);
//! assert_eq!(wire, b"*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n");
//!
//! // A reply, arriving in two pieces.
//! assert_eq!(parse(b"$5\r\nhel"), Ok(Decoded::Partial));
//! assert_eq!(
//!     parse(b"$5\r\nhello\r\n"),
//!     Ok(Decoded::Complete(Value::Bulk(Some(b"hello".to_vec())), 11))
//! );
//! ```
//!
//! [`parse_bulk`] reads one bulk string in place, without copying: the
//! subscriber's fast path for `message` pushes.
//!
//! RESP3 (the `HELLO 3` protocol) is not spoken: its type bytes (`_`, `#`,
//! `,`, `%`, `~`, `>` and others) are protocol errors here.
//!
//! A note on cost: a caller whose reply is still incomplete calls [`parse`]
//! again from the start of the value once more bytes arrive. That is free
//! for bulk strings (the header says how many bytes to wait for) and cheap
//! for the small replies a broker reads; an enormous array that trickles in
//! is parsed again on every read.

use rusty_socket_core::Decoded;
use std::fmt;

/// The longest bulk string [`parse`] accepts by default: 16 MiB.
pub const MAX_BULK: usize = 16 * 1024 * 1024;

/// The most elements an array may declare by default: 1,048,576.
pub const MAX_ARRAY: usize = 1_048_576;

/// How deeply arrays may nest by default: 8 (an array of arrays is 2).
pub const MAX_DEPTH: usize = 8;

/// The longest line (simple string, error, integer or length) accepted by
/// default, CRLF not counted: 64 KiB.
pub const MAX_LINE: usize = 64 * 1024;

/// Nesting deeper than this is refused whatever [`Limits::max_depth`] says:
/// the parser recurses once per level, and the stack is not the peer's.
const DEPTH_CEILING: usize = 64;

/// One RESP2 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+...`: a one-line status such as `OK` or `PONG`. Bytes that are not
    /// UTF-8 are replaced with U+FFFD.
    Simple(String),
    /// `-...`: an error reply, such as `WRONGPASS invalid username-password
    /// pair or user is disabled.` By convention its first word is a code.
    /// Bytes that are not UTF-8 are replaced with U+FFFD.
    Error(String),
    /// `:...`: a signed 64-bit integer.
    Integer(i64),
    /// `$...`: binary-safe bytes; `None` is the null bulk string (`$-1`),
    /// which is how `GET` says "no such key".
    Bulk(Option<Vec<u8>>),
    /// `*...`: a sequence of values; `None` is the null array (`*-1`).
    Array(Option<Vec<Value>>),
}

impl Value {
    /// Appends the wire form of this value to `out`; [`parse`] reads it
    /// back. A `Simple` or `Error` text must not contain CR or LF (the
    /// protocol has no way to escape them).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Simple(text) => line(out, b'+', text.as_bytes()),
            Value::Error(text) => line(out, b'-', text.as_bytes()),
            Value::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Value::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Value::Bulk(Some(bytes)) => bulk(out, bytes),
            Value::Array(None) => out.extend_from_slice(b"*-1\r\n"),
            Value::Array(Some(items)) => {
                header(out, b'*', items.len());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

fn line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// `kind`, the decimal `n`, CRLF; no allocation.
fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    line(out, kind, &digits[at..]);
}

fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    header(out, b'$', bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

fn decimal_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Appends the command `args` (the command name first) to `out`, as the
/// protocol wants every command sent: an array of bulk strings. Arguments
/// are binary-safe.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.reserve(command_len(args));
    header(out, b'*', args.len());
    for arg in args {
        bulk(out, arg);
    }
}

/// How many bytes [`encode_command`] appends for `args`, without encoding
/// them (to check a byte budget before queueing a command).
pub fn command_len(args: &[&[u8]]) -> usize {
    let headers = 1 + decimal_len(args.len()) + 2;
    args.iter().fold(headers, |total, arg| {
        total + 1 + decimal_len(arg.len()) + 2 + arg.len() + 2
    })
}

/// What [`parse_with`] accepts. Every default is the constant of the same
/// name in this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest bulk string, in bytes ([`MAX_BULK`], 16 MiB).
    pub max_bulk: usize,
    /// The most elements of one array ([`MAX_ARRAY`], 1,048,576).
    pub max_array: usize,
    /// How deeply arrays may nest ([`MAX_DEPTH`], 8); at most 64 is
    /// honoured.
    pub max_depth: usize,
    /// The longest line, CRLF not counted ([`MAX_LINE`], 64 KiB).
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bulk: MAX_BULK,
            max_array: MAX_ARRAY,
            max_depth: MAX_DEPTH,
            max_line: MAX_LINE,
        }
    }
}

/// Why bytes are not RESP2. Every variant carries the offset (from the
/// start of the input given to [`parse`]) where the trouble is. After any
/// of these the connection cannot be trusted to be in step with the server
/// any more: close it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// A value starts with a byte that is not a RESP2 type.
    UnknownType {
        /// The byte.
        byte: u8,
        /// Where it is.
        offset: usize,
    },
    /// A line holds a CR not followed by LF, or an LF without CR.
    BadLineEnd {
        /// Where the stray CR or LF is.
        offset: usize,
    },
    /// A line is longer than [`Limits::max_line`].
    LineTooLong {
        /// Where the line starts.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// An integer, a length or a count is not a decimal that fits in 64
    /// bits.
    BadInteger {
        /// Where the number starts.
        offset: usize,
    },
    /// A length or count is negative (only `-1`, null, is allowed).
    NegativeLength {
        /// What was declared.
        declared: i64,
        /// Where the number starts.
        offset: usize,
    },
    /// A bulk string declares more bytes than [`Limits::max_bulk`].
    BulkTooLong {
        /// What was declared.
        declared: i64,
        /// The limit.
        max: usize,
    },
    /// An array declares more elements than [`Limits::max_array`].
    ArrayTooLong {
        /// What was declared.
        declared: i64,
        /// The limit.
        max: usize,
    },
    /// Arrays nest deeper than [`Limits::max_depth`].
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// [`parse_bulk`] found a value that is not a bulk string.
    NotBulk {
        /// The type byte found.
        byte: u8,
        /// Where it is.
        offset: usize,
    },
    /// A bulk string's bytes are not followed by CRLF.
    BadBulkEnd {
        /// Where CRLF should be.
        offset: usize,
    },
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RespError::UnknownType { byte, offset } => {
                write!(f, "unknown RESP type byte 0x{byte:02x} at offset {offset}")?;
                if b"_,#!=(%~>|".contains(&byte) {
                    write!(f, " ('{}' is RESP3; only RESP2 is spoken)", byte as char)?;
                }
                Ok(())
            }
            RespError::BadLineEnd { offset } => {
                write!(f, "a line does not end in CRLF (offset {offset})")
            }
            RespError::LineTooLong { offset, max } => {
                write!(f, "the line at offset {offset} is longer than {max} bytes")
            }
            RespError::BadInteger { offset } => {
                write!(f, "not a 64-bit decimal integer at offset {offset}")
            }
            RespError::NegativeLength { declared, offset } => {
                write!(f, "negative length {declared} at offset {offset}")
            }
            RespError::BulkTooLong { declared, max } => {
                write!(f, "a bulk string of {declared} bytes (the limit is {max})")
            }
            RespError::ArrayTooLong { declared, max } => {
                write!(f, "an array of {declared} elements (the limit is {max})")
            }
            RespError::TooDeep { max } => write!(f, "arrays nested deeper than {max}"),
            RespError::NotBulk { byte, offset } => write!(
                f,
                "expected a bulk string at offset {offset}, found type byte 0x{byte:02x}"
            ),
            RespError::BadBulkEnd { offset } => {
                write!(f, "a bulk string is not followed by CRLF (offset {offset})")
            }
        }
    }
}

impl std::error::Error for RespError {}

/// Reads one value from the start of `bytes`, with the default [`Limits`].
///
/// # Errors
/// A [`RespError`] when the bytes are not RESP2 or break a limit. Input
/// that merely stops early is `Ok(Decoded::Partial)`, never an error.
pub fn parse(bytes: &[u8]) -> Result<Decoded<Value>, RespError> {
    parse_with(bytes, &Limits::default())
}

/// Reads one value from the start of `bytes`, within `limits`. Bytes after
/// the value are left alone: the `usize` of [`Decoded::Complete`] says
/// where the next value starts.
///
/// # Errors
/// As [`parse`].
pub fn parse_with(bytes: &[u8], limits: &Limits) -> Result<Decoded<Value>, RespError> {
    let parser = Parser { bytes, limits };
    Ok(match parser.value(0, 0)? {
        Some((value, end)) => Decoded::Complete(value, end),
        None => Decoded::Partial,
    })
}

/// Reads one bulk string from the start of `bytes` without copying it,
/// with the default [`Limits`]: its bytes (`None` for the null bulk string)
/// and how many input bytes it took. For hot paths that know what comes
/// next, such as the `message` pushes of a subscription.
///
/// # Errors
/// [`RespError::NotBulk`] when the value there is of another type; else as
/// [`parse`].
pub fn parse_bulk(bytes: &[u8]) -> Result<Decoded<Option<&[u8]>>, RespError> {
    let limits = Limits::default();
    let parser = Parser {
        bytes,
        limits: &limits,
    };
    match bytes.first() {
        None => return Ok(Decoded::Partial),
        Some(b'$') => {}
        Some(&byte) => return Err(RespError::NotBulk { byte, offset: 0 }),
    }
    let Some((text, next)) = parser.line(1)? else {
        return Ok(Decoded::Partial);
    };
    Ok(match parser.bulk_ref(text, 1, next)? {
        Some((data, end)) => Decoded::Complete(data, end),
        None => Decoded::Partial,
    })
}

struct Parser<'a, 'l> {
    bytes: &'a [u8],
    limits: &'l Limits,
}

/// A value and the offset just past it, or `None`: need more bytes.
type Step<T> = Result<Option<(T, usize)>, RespError>;

impl<'a> Parser<'a, '_> {
    /// The value starting at `at`, inside `depth` arrays.
    fn value(&self, at: usize, depth: usize) -> Step<Value> {
        let Some(&kind) = self.bytes.get(at) else {
            return Ok(None);
        };
        if !b"+-:$*".contains(&kind) {
            return Err(RespError::UnknownType {
                byte: kind,
                offset: at,
            });
        }
        let Some((text, next)) = self.line(at + 1)? else {
            return Ok(None);
        };
        let text_at = at + 1;
        match kind {
            b'+' => Ok(Some((Value::Simple(lossy(text)), next))),
            b'-' => Ok(Some((Value::Error(lossy(text)), next))),
            b':' => {
                let n = integer(text).ok_or(RespError::BadInteger { offset: text_at })?;
                Ok(Some((Value::Integer(n), next)))
            }
            b'$' => self.bulk(text, text_at, next),
            _ => self.array(text, text_at, next, depth),
        }
    }

    fn bulk(&self, text: &[u8], text_at: usize, next: usize) -> Step<Value> {
        // Only now, with every byte here, is anything allocated.
        Ok(self
            .bulk_ref(text, text_at, next)?
            .map(|(data, end)| (Value::Bulk(data.map(<[u8]>::to_vec)), end)))
    }

    /// The bytes of the bulk string whose length line is `text`, borrowed
    /// from the input.
    fn bulk_ref(&self, text: &[u8], text_at: usize, next: usize) -> Step<Option<&'a [u8]>> {
        let declared = integer(text).ok_or(RespError::BadInteger { offset: text_at })?;
        let len = match self.length(declared, text_at)? {
            None => return Ok(Some((None, next))),
            Some(len) if len > self.limits.max_bulk => {
                return Err(RespError::BulkTooLong {
                    declared,
                    max: self.limits.max_bulk,
                })
            }
            Some(len) => len,
        };
        // `len` is at most `max_bulk`, so this cannot overflow in practice;
        // checked anyway, since `max_bulk` is the caller's.
        let data_end = next.checked_add(len).ok_or(RespError::BulkTooLong {
            declared,
            max: self.limits.max_bulk,
        })?;
        // Check the terminator as far as it has arrived, to fail early.
        for (i, expected) in [b'\r', b'\n'].into_iter().enumerate() {
            match self.bytes.get(data_end + i) {
                None => return Ok(None),
                Some(&byte) if byte != expected => {
                    return Err(RespError::BadBulkEnd { offset: data_end })
                }
                Some(_) => {}
            }
        }
        Ok(Some((Some(&self.bytes[next..data_end]), data_end + 2)))
    }

    fn array(&self, text: &[u8], text_at: usize, next: usize, depth: usize) -> Step<Value> {
        let declared = integer(text).ok_or(RespError::BadInteger { offset: text_at })?;
        let count = match self.length(declared, text_at)? {
            None => return Ok(Some((Value::Array(None), next))),
            Some(count) if count > self.limits.max_array => {
                return Err(RespError::ArrayTooLong {
                    declared,
                    max: self.limits.max_array,
                })
            }
            Some(count) => count,
        };
        let max_depth = self.limits.max_depth.min(DEPTH_CEILING);
        if depth >= max_depth {
            return Err(RespError::TooDeep { max: max_depth });
        }
        // The smallest value (`+\r\n`) takes 3 bytes: never reserve room
        // for more elements than the bytes already here could hold.
        let arrived = self.bytes.len().saturating_sub(next) / 3;
        let mut items = Vec::with_capacity(count.min(arrived));
        let mut at = next;
        for _ in 0..count {
            let Some((item, end)) = self.value(at, depth + 1)? else {
                return Ok(None);
            };
            items.push(item);
            at = end;
        }
        Ok(Some((Value::Array(Some(items)), at)))
    }

    /// A declared length: `None` for -1 (null), else it must not be
    /// negative.
    fn length(&self, declared: i64, offset: usize) -> Result<Option<usize>, RespError> {
        match declared {
            -1 => Ok(None),
            n if n < 0 => Err(RespError::NegativeLength {
                declared: n,
                offset,
            }),
            // On a 32-bit target a huge length does not fit a usize: it is
            // over any limit anyway.
            n => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        }
    }

    /// The line starting at `at` (without CRLF) and the offset after its
    /// CRLF.
    fn line(&self, at: usize) -> Step<&[u8]> {
        let rest = self.bytes.get(at..).unwrap_or(&[]);
        let max = self.limits.max_line;
        // A line of `max` bytes has its CR at index `max` at the latest.
        let window = &rest[..rest.len().min(max.saturating_add(1))];
        match window.iter().position(|&b| b == b'\r' || b == b'\n') {
            Some(i) if window[i] == b'\n' => Err(RespError::BadLineEnd { offset: at + i }),
            Some(i) => match rest.get(i + 1) {
                None => Ok(None),
                Some(b'\n') => Ok(Some((&rest[..i], at + i + 2))),
                Some(_) => Err(RespError::BadLineEnd { offset: at + i }),
            },
            None if rest.len() > max => Err(RespError::LineTooLong { offset: at, max }),
            None => Ok(None),
        }
    }
}

fn lossy(text: &[u8]) -> String {
    String::from_utf8_lossy(text).into_owned()
}

/// An optional `-` and one or more ASCII digits, as an `i64`; `None` if it
/// is anything else or does not fit.
fn integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0i64, |n, &byte| {
        if !byte.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(byte - b'0');
        // Accumulating towards the sign lets i64::MIN through.
        let n = n.checked_mul(10)?;
        if negative {
            n.checked_sub(digit)
        } else {
            n.checked_add(digit)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(bytes: &[u8]) -> Value {
        Value::Bulk(Some(bytes.to_vec()))
    }

    fn array(items: Vec<Value>) -> Value {
        Value::Array(Some(items))
    }

    /// Wire bytes and the value they are.
    fn valid() -> Vec<(&'static [u8], Value)> {
        vec![
            (b"+OK\r\n", Value::Simple("OK".into())),
            (b"+\r\n", Value::Simple(String::new())),
            (
                b"-ERR unknown command 'FOO'\r\n",
                Value::Error("ERR unknown command 'FOO'".into()),
            ),
            (b"-\xff\r\n", Value::Error("\u{fffd}".into())),
            (b":0\r\n", Value::Integer(0)),
            (b":-0\r\n", Value::Integer(0)),
            (b":1000\r\n", Value::Integer(1000)),
            (b":-42\r\n", Value::Integer(-42)),
            (b":9223372036854775807\r\n", Value::Integer(i64::MAX)),
            (b":-9223372036854775808\r\n", Value::Integer(i64::MIN)),
            (b"$5\r\nhello\r\n", bulk(b"hello")),
            (b"$0\r\n\r\n", bulk(b"")),
            (b"$4\r\n\r\n\r\n\r\n", bulk(b"\r\n\r\n")),
            (b"$3\r\n\x00\xff\x80\r\n", bulk(b"\x00\xff\x80")),
            (b"$-1\r\n", Value::Bulk(None)),
            (b"*0\r\n", array(vec![])),
            (b"*-1\r\n", Value::Array(None)),
            (
                b"*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n$2\r\nhi\r\n",
                array(vec![bulk(b"message"), bulk(b"room"), bulk(b"hi")]),
            ),
            (
                b"*4\r\n:1\r\n$-1\r\n*1\r\n+x\r\n-E\r\n",
                array(vec![
                    Value::Integer(1),
                    Value::Bulk(None),
                    array(vec![Value::Simple("x".into())]),
                    Value::Error("E".into()),
                ]),
            ),
            (
                b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*0\r\n",
                nested(8),
            ),
        ]
    }

    /// `depth` arrays, one inside the other.
    fn nested(depth: usize) -> Value {
        (1..depth).fold(array(vec![]), |inner, _| array(vec![inner]))
    }

    #[test]
    fn every_valid_value_parses_and_every_prefix_needs_more() {
        for (wire, value) in valid() {
            assert_eq!(
                parse(wire),
                Ok(Decoded::Complete(value.clone(), wire.len())),
                "{wire:?}"
            );
            for end in 0..wire.len() {
                assert_eq!(
                    parse(&wire[..end]),
                    Ok(Decoded::Partial),
                    "{wire:?} cut at {end}"
                );
            }
            // What follows a value is not part of it.
            let mut more = wire.to_vec();
            more.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(
                parse(&more),
                Ok(Decoded::Complete(value.clone(), wire.len()))
            );
            // And the encoder writes the same bytes back, except where the
            // input was not canonical (`:-0`, lossy text).
            let mut encoded = Vec::new();
            value.encode(&mut encoded);
            assert_eq!(parse(&encoded), Ok(Decoded::Complete(value, encoded.len())));
        }
    }

    /// Parses a stream given in `pieces` the way a connection does: append
    /// what arrived, take every complete value, keep the rest.
    fn drain(pieces: &[&[u8]]) -> Result<Vec<Value>, RespError> {
        let mut buffer = Vec::new();
        let mut values = Vec::new();
        for piece in pieces {
            buffer.extend_from_slice(piece);
            while let Decoded::Complete(value, used) = parse(&buffer)? {
                values.push(value);
                buffer.drain(..used);
            }
        }
        assert!(buffer.is_empty(), "bytes left over: {buffer:?}");
        Ok(values)
    }

    #[test]
    fn a_stream_split_anywhere_or_fed_byte_by_byte_gives_the_same_values() {
        let table = valid();
        let stream: Vec<u8> = table.iter().flat_map(|(wire, _)| wire.to_vec()).collect();
        let expected: Vec<Value> = table.into_iter().map(|(_, value)| value).collect();
        for split in 0..=stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(drain(&[a, b]), Ok(expected.clone()), "split at {split}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(drain(&bytes), Ok(expected));
    }

    #[test]
    fn malformed_input_and_broken_limits_are_errors_with_an_offset() {
        let too_long_bulk = format!("${}\r\n", MAX_BULK + 1);
        let too_long_array = format!("*{}\r\n", MAX_ARRAY + 1);
        let too_deep = format!("{}*0\r\n", "*1\r\n".repeat(8));
        let long_line = [b"+".as_slice(), &vec![b'a'; MAX_LINE + 1]].concat();
        let table: Vec<(&[u8], RespError)> = vec![
            (
                b"?",
                RespError::UnknownType {
                    byte: b'?',
                    offset: 0,
                },
            ),
            (
                b"?\r\n",
                RespError::UnknownType {
                    byte: b'?',
                    offset: 0,
                },
            ),
            (
                b"_\r\n",
                RespError::UnknownType {
                    byte: b'_',
                    offset: 0,
                },
            ),
            (
                b"*1\r\n%0\r\n",
                RespError::UnknownType {
                    byte: b'%',
                    offset: 4,
                },
            ),
            (b"+OK\rX", RespError::BadLineEnd { offset: 3 }),
            (b"+OK\n", RespError::BadLineEnd { offset: 3 }),
            (b":\r\n", RespError::BadInteger { offset: 1 }),
            (b":-\r\n", RespError::BadInteger { offset: 1 }),
            (b": 1\r\n", RespError::BadInteger { offset: 1 }),
            (b":+1\r\n", RespError::BadInteger { offset: 1 }),
            (b":1.5\r\n", RespError::BadInteger { offset: 1 }),
            (
                b":9223372036854775808\r\n",
                RespError::BadInteger { offset: 1 },
            ),
            (b"$abc\r\n", RespError::BadInteger { offset: 1 }),
            (
                b"$-2\r\n",
                RespError::NegativeLength {
                    declared: -2,
                    offset: 1,
                },
            ),
            (
                b"*-5\r\n",
                RespError::NegativeLength {
                    declared: -5,
                    offset: 1,
                },
            ),
            (
                too_long_bulk.as_bytes(),
                RespError::BulkTooLong {
                    declared: MAX_BULK as i64 + 1,
                    max: MAX_BULK,
                },
            ),
            (
                b"$9223372036854775807\r\n",
                RespError::BulkTooLong {
                    declared: i64::MAX,
                    max: MAX_BULK,
                },
            ),
            (
                too_long_array.as_bytes(),
                RespError::ArrayTooLong {
                    declared: MAX_ARRAY as i64 + 1,
                    max: MAX_ARRAY,
                },
            ),
            (too_deep.as_bytes(), RespError::TooDeep { max: MAX_DEPTH }),
            (b"$3\r\nabcXY", RespError::BadBulkEnd { offset: 7 }),
            (b"$3\r\nabc\rY", RespError::BadBulkEnd { offset: 7 }),
            (
                &long_line,
                RespError::LineTooLong {
                    offset: 1,
                    max: MAX_LINE,
                },
            ),
        ];
        for (wire, error) in table {
            assert_eq!(
                parse(wire),
                Err(error.clone()),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
            assert!(!error.to_string().is_empty());
        }
        assert!(parse(b"_\r\n").unwrap_err().to_string().contains("RESP3"));
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_fine_and_custom_limits_apply() {
        let limits = Limits {
            max_bulk: 4,
            max_array: 2,
            max_depth: 1,
            max_line: 3,
        };
        assert!(matches!(
            parse_with(b"+abc\r\n", &limits),
            Ok(Decoded::Complete(_, 6))
        ));
        assert_eq!(parse_with(b"+abc", &limits), Ok(Decoded::Partial));
        assert_eq!(
            parse_with(b"+abcd", &limits),
            Err(RespError::LineTooLong { offset: 1, max: 3 })
        );
        assert!(matches!(
            parse_with(b"$4\r\nabcd\r\n", &limits),
            Ok(Decoded::Complete(..))
        ));
        assert!(matches!(
            parse_with(b"$5\r\n", &limits),
            Err(RespError::BulkTooLong { declared: 5, .. })
        ));
        assert!(matches!(
            parse_with(b"*3\r\n", &limits),
            Err(RespError::ArrayTooLong { declared: 3, .. })
        ));
        assert_eq!(
            parse_with(b"*1\r\n*0\r\n", &limits),
            Err(RespError::TooDeep { max: 1 })
        );
        let no_ceiling = Limits {
            max_depth: usize::MAX,
            ..Limits::default()
        };
        let deep = "*1\r\n".repeat(100);
        assert_eq!(
            parse_with(deep.as_bytes(), &no_ceiling),
            Err(RespError::TooDeep { max: DEPTH_CEILING })
        );
    }

    #[test]
    fn bulk_strings_can_be_read_in_place() {
        let table: Vec<(&[u8], Option<&[u8]>)> = vec![
            (b"$5\r\nhello\r\n", Some(b"hello")),
            (b"$0\r\n\r\n", Some(b"")),
            (b"$2\r\n\r\n\r\n", Some(b"\r\n")),
            (b"$-1\r\n", None),
        ];
        for (wire, data) in table {
            assert_eq!(parse_bulk(wire), Ok(Decoded::Complete(data, wire.len())));
            for end in 0..wire.len() {
                assert_eq!(
                    parse_bulk(&wire[..end]),
                    Ok(Decoded::Partial),
                    "{wire:?} cut at {end}"
                );
            }
        }
        assert_eq!(
            parse_bulk(b":1\r\n"),
            Err(RespError::NotBulk {
                byte: b':',
                offset: 0
            })
        );
        assert_eq!(
            parse_bulk(b"$1\r\nab"),
            Err(RespError::BadBulkEnd { offset: 5 })
        );
        assert_eq!(
            parse_bulk(b"$x\r\n"),
            Err(RespError::BadInteger { offset: 1 })
        );
        let too_long = format!("${}\r\n", MAX_BULK + 1);
        assert!(matches!(
            parse_bulk(too_long.as_bytes()),
            Err(RespError::BulkTooLong { .. })
        ));
    }

    #[test]
    fn what_is_only_declared_is_waited_for_not_allocated() {
        // A full-size bulk header with no data yet: need more, nothing kept.
        let header = format!("${MAX_BULK}\r\n");
        assert_eq!(parse(header.as_bytes()), Ok(Decoded::Partial));
        // A million elements declared, one arrived.
        let wire = format!("*{MAX_ARRAY}\r\n:1\r\n");
        assert_eq!(parse(wire.as_bytes()), Ok(Decoded::Partial));
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings_and_their_length_is_known() {
        let table: Vec<(Vec<&[u8]>, &[u8])> = vec![
            (vec![b"PING"], b"*1\r\n$4\r\nPING\r\n"),
            (
                vec![b"SET", b"k", b""],
                b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
            ),
            (
                vec![b"PUBLISH", b"room", b"\r\n\x00"],
                b"*3\r\n$7\r\nPUBLISH\r\n$4\r\nroom\r\n$3\r\n\r\n\x00\r\n",
            ),
            (vec![], b"*0\r\n"),
        ];
        for (args, wire) in table {
            let mut out = b"before".to_vec();
            encode_command(&mut out, &args);
            assert_eq!(&out[6..], wire);
            assert_eq!(command_len(&args), wire.len());
            let expected = array(args.iter().map(|arg| bulk(arg)).collect());
            assert_eq!(parse(wire), Ok(Decoded::Complete(expected, wire.len())));
        }
        let long = vec![7u8; 12_345];
        let mut args: Vec<&[u8]> = vec![b"x"; 11];
        args.push(&long);
        let mut out = Vec::new();
        encode_command(&mut out, &args);
        assert_eq!(out.len(), command_len(&args));
        assert_eq!(decimal_len(0), 1);
        assert_eq!(decimal_len(9), 1);
        assert_eq!(decimal_len(10), 2);
        assert_eq!(decimal_len(usize::MAX), usize::MAX.to_string().len());
    }

    #[test]
    fn random_bytes_never_panic() {
        // xorshift64*, seeded: the same inputs on every run.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let alphabet = b"+-:$*\r\n0123456789-_%abc";
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 8 == 0 {
                        (r >> 8) as u8
                    } else {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    }
                })
                .collect();
            if let Ok(Decoded::Complete(_, used)) = parse(&input) {
                assert!(used <= input.len());
            }
        }
    }
}
