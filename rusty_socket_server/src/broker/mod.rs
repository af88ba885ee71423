//! Brokers: how several server processes (nodes) act as one.
//!
//! A [`Broker`] carries messages between nodes on named channels
//! (publish/subscribe) and keeps the little shared state that a chat needs
//! across them: claims on names with an expiry, counters, and bounded lists for
//! history. Two implementations:
//!
//! - [`LocalBroker`]: in this process. Several handlers sharing one
//!   `LocalBroker` behave as nodes of one deployment, which is how the
//!   multi-node logic is tested without a network.
//! - [`RedisBroker`]: a Redis server, spoken to in RESP2 by our own code on
//!   `std` ([`resp`]). Two connections per node: a subscriber on its own
//!   thread, and one for commands and publishing.
//!
//! ## What a broker promises
//!
//! - **Publishing never blocks on the network.** [`Broker::publish`] queues
//!   the message for the broker's own thread and returns; what cannot be
//!   queued (the broker is unreachable, or the bounded queue is full) is
//!   refused, counted in [`BrokerStats::dropped`], and not kept.
//! - **Order per publisher.** Messages one node publishes reach every
//!   subscriber in the order they were published.
//! - **Callbacks run on the broker's thread** and must not block: hand the
//!   message to the server's bounded per-client queues
//!   ([`crate::ServerHandle::broadcast`] and friends) and return.
//! - **A node hears its own messages too**: a subscriber receives what it
//!   published. A node that already delivered to its own clients skips
//!   messages that carry its own name (see [`Envelope`]).
//! - **Key operations** ([`Broker::claim`] and the others) are blocking
//!   calls bounded by a short timeout; while the broker is unreachable they
//!   fail at once with [`BrokerError::Unavailable`].
//! - **It reconnects by itself**, forever, and tells [`Broker::on_state`]
//!   callbacks when it goes down and when it is back (after resubscribing).

mod local;
pub mod redis;
pub mod resp;

pub use local::LocalBroker;
pub use redis::{RedisBroker, RedisOptions, RedisUrl};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A callback for the messages of one channel: the payload, as published.
pub type OnMessage = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// A callback for the end of a burst: see [`Broker::on_drained`].
pub type OnDrained = Arc<dyn Fn() + Send + Sync>;

/// A callback for changes of [`BrokerState`].
pub type OnState = Arc<dyn Fn(BrokerState) + Send + Sync>;

/// Whether the broker can be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    /// Connected, and subscribed to every channel asked for.
    Up,
    /// Unreachable; reconnecting.
    Down,
}

impl BrokerState {
    /// `"up"` or `"down"`, as `/health` and `/stats` show it.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerState::Up => "up",
            BrokerState::Down => "down",
        }
    }
}

impl fmt::Display for BrokerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters of one broker, since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BrokerStats {
    /// Messages handed to the broker and sent on.
    pub published: u64,
    /// Messages received from subscribed channels.
    pub received: u64,
    /// Messages refused by [`Broker::publish`], or lost with a connection
    /// before they were sent: counted, never kept.
    pub dropped: u64,
    /// Times the broker connection came back after it was lost.
    pub reconnects: u64,
}

/// Why a broker operation failed.
#[derive(Debug)]
pub enum BrokerError {
    /// The broker is unreachable right now; it is reconnecting.
    Unavailable,
    /// The publish queue is full: the broker cannot keep up.
    Full,
    /// A socket operation failed or timed out.
    Io(std::io::Error),
    /// The broker answered something this client does not understand.
    Protocol(String),
    /// The broker refused the command (a Redis error reply, such as
    /// `WRONGPASS`).
    Refused(String),
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerError::Unavailable => f.write_str("the broker is unreachable"),
            BrokerError::Full => f.write_str("the broker's publish queue is full"),
            BrokerError::Io(e) => write!(f, "broker connection: {e}"),
            BrokerError::Protocol(what) => write!(f, "broker protocol error: {what}"),
            BrokerError::Refused(what) => write!(f, "the broker refused: {what}"),
        }
    }
}

impl std::error::Error for BrokerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BrokerError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for BrokerError {
    fn from(e: std::io::Error) -> BrokerError {
        BrokerError::Io(e)
    }
}

/// The result of a broker operation.
pub type BrokerResult<T> = std::result::Result<T, BrokerError>;

/// The outcome of [`Broker::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours now (or was already, and its expiry is renewed).
    Ours,
    /// Someone else holds it: their owner string.
    Theirs(String),
}

/// What carries messages and shared state between nodes. See the [module
/// docs](self) for what every implementation promises.
pub trait Broker: Send + Sync {
    /// Queues `payload` for every subscriber of `channel`, on every node
    /// (this one included). Never blocks on the network.
    fn publish(&self, channel: &str, payload: &[u8]) -> BrokerResult<()>;

    /// Calls `on_message` for every message published on `channel` from
    /// now on, from the broker's thread. Kept across reconnections.
    fn subscribe(&self, channel: &str, on_message: OnMessage);

    /// Calls `on_drained`, on the broker's thread, each time it has
    /// delivered every message received so far and is about to wait for
    /// more: the end of a burst. A subscriber that gathers what it
    /// delivers ([`crate::ServerHandle::gathering`]) flushes there.
    fn on_drained(&self, on_drained: OnDrained);

    /// Calls `on_state` whenever the broker goes down or comes back up.
    fn on_state(&self, on_state: OnState);

    /// Whether the broker is reachable now.
    fn state(&self) -> BrokerState;

    /// The counters.
    fn stats(&self) -> BrokerStats;

    /// Claims `key` for `owner` for `ttl`: taken if free, renewed if
    /// `owner` already holds it, refused if someone else does.
    fn claim(&self, key: &str, owner: &str, ttl: Duration) -> BrokerResult<Claim>;

    /// Gives `key` up, if `owner` holds it; someone else's claim stays.
    fn release(&self, key: &str, owner: &str) -> BrokerResult<()>;

    /// Who holds `key`, if anyone.
    fn holder(&self, key: &str) -> BrokerResult<Option<String>>;

    /// Adds one to the counter `key` (0 if it does not exist) and returns
    /// the new value.
    fn increment(&self, key: &str) -> BrokerResult<u64>;

    /// Appends `value` to the list `key`, keeps its last `keep` entries, and
    /// lets it expire `ttl` after the last append.
    fn push_bounded(&self, key: &str, value: &str, keep: usize, ttl: Duration) -> BrokerResult<()>;

    /// The last `count` entries of the list `key`, oldest first.
    fn last(&self, key: &str, count: usize) -> BrokerResult<Vec<String>>;
}

/// A message as nodes publish it: the publishing node's name, then the
/// body. Lets a node skip what it published itself.
///
/// The wire form is one byte of name length, the name (at most 255 bytes),
/// then the body: binary-safe, and no parsing of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The node that published it.
    pub origin: &'a str,
    /// What it published.
    pub body: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// The wire form of a message `body` from `origin` (a name longer than
    /// 255 bytes is cut, at a character boundary).
    pub fn encode(origin: &str, body: &[u8]) -> Vec<u8> {
        let mut end = origin.len().min(255);
        while !origin.is_char_boundary(end) {
            end -= 1;
        }
        let mut out = Vec::with_capacity(1 + end + body.len());
        out.push(end as u8);
        out.extend_from_slice(&origin.as_bytes()[..end]);
        out.extend_from_slice(body);
        out
    }

    /// Reads the wire form; `None` if it is not one.
    pub fn decode(bytes: &'a [u8]) -> Option<Envelope<'a>> {
        let (&len, rest) = bytes.split_first()?;
        let len = usize::from(len);
        if rest.len() < len {
            return None;
        }
        let origin = std::str::from_utf8(&rest[..len]).ok()?;
        Some(Envelope {
            origin,
            body: &rest[len..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Envelope;

    #[test]
    fn envelopes_round_trip_and_reject_what_is_not_one() {
        let wire = Envelope::encode("node-a", b"\x00binary\xff");
        assert_eq!(
            Envelope::decode(&wire),
            Some(Envelope {
                origin: "node-a",
                body: b"\x00binary\xff"
            })
        );
        assert_eq!(Envelope::decode(b""), None);
        assert_eq!(Envelope::decode(b"\x05abc"), None);
        assert_eq!(Envelope::decode(b"\x02\xff\xfe"), None);
        let long = "é".repeat(200);
        let wire = Envelope::encode(&long, b"x");
        let decoded = Envelope::decode(&wire).unwrap();
        assert_eq!(decoded.origin, "é".repeat(127));
        assert_eq!(decoded.body, b"x");
    }
}
