//! [`RedisBroker`]: a [`Broker`] on a Redis server, spoken to in RESP2
//! ([`super::resp`]) over plain TCP with the standard library alone.
//!
//! ## Two connections
//!
//! Redis puts a connection that has sent `SUBSCRIBE` into *subscribed
//! mode*: from then on it only pushes messages and accepts (un)subscribe
//! and `PING` commands. So each broker keeps two connections:
//!
//! - the **subscriber connection**, read by the broker's own thread. It is
//!   subscribed to every channel ever given to [`Broker::subscribe`] (a
//!   channel added while connected is subscribed at once, on the live
//!   connection, by the calling thread under a lock), and each `message`
//!   push calls that channel's callbacks on this thread.
//! - the **command connection**, shared under a lock, for the key
//!   operations ([`Broker::claim`] and the others, each a blocking round
//!   trip bounded by [`RedisOptions::timeout`]) and for publishing.
//!
//! ## Publishing is pipelined
//!
//! [`Broker::publish`] never touches the network: it copies the message
//! into a bounded queue ([`RedisOptions::queue_messages`],
//! [`RedisOptions::queue_bytes`]) and returns. A publisher thread takes up
//! to 4,096 queued messages (1 MiB) at a time, writes them in one go, and
//! only then reads the replies: one round trip per batch, not per message.
//! While it waits for replies the queue fills, so the batches grow with the
//! load, and throughput is bounded by Redis rather than by the network's
//! latency. Messages queued one after another for the same channel travel
//! in one `PUBLISH`, up to 64 KiB: a busy node costs Redis one command per
//! batch rather than per message.
//!
//! Such a *pack* is the bytes `ff 52 53 50` (`0xff`, then `RSP`) and, for
//! each message, its length (4 bytes, big-endian) and its bytes. A
//! subscriber unpacks every payload that starts so and is well formed, and
//! takes anything else as one message. A message alone goes bare, so other
//! Redis clients on the channel see ordinary payloads while the load is
//! light; one that itself starts with those four bytes is packed, so that
//! it is never taken for a pack. (`0xff` never starts UTF-8 text.)
//! Redis answers commands of one connection in order, so messages from one
//! node reach every subscriber in the order they were published.
//!
//! ## How a dead or frozen Redis is noticed
//!
//! A Redis that exits closes its sockets: the subscriber's read ends at
//! once. A Redis that is frozen (`SIGSTOP`, a stalled VM, a cut cable)
//! says nothing, so the subscriber sends `PING` every
//! [`RedisOptions::ping_interval`] (2 s) and declares Redis dead when
//! neither the `pong` nor any other byte has come back one more interval
//! after it: a freeze is noticed within about two intervals. The command
//! connection is checked too: the publisher `PING`s it when it has been
//! idle for an interval, and every command on it must be answered within
//! [`RedisOptions::timeout`] (1 s).
//!
//! Any failure on either connection takes the broker [`BrokerState::Down`]:
//! both connections are dropped, a key operation waiting for an answer
//! fails at once with [`BrokerError::Unavailable`], and the broker
//! reconnects by itself, forever. Between attempts it waits with
//! exponential backoff, from [`RedisOptions::backoff_min`] (100 ms)
//! doubling up to [`RedisOptions::backoff_max`] (1 s), each wait a random
//! point between half and all of it so that many nodes do not reconnect in
//! lockstep. It is [`BrokerState::Up`] again only when both connections are
//! open, authenticated, and every channel is subscribed again; the
//! [`Broker::on_state`] callbacks hear of each change exactly once, on the
//! broker's thread. A refusal (a wrong password, say) is logged once per
//! outage, not once per attempt; [`RedisBroker::last_error`] tells it too.
//!
//! ## What is dropped, and counted
//!
//! Nothing is kept without bound, and nothing is dropped silently. Counted
//! in [`BrokerStats::dropped`]: a message published while the broker is
//! down ([`BrokerError::Unavailable`]) or while the queue is full
//! ([`BrokerError::Full`]); messages still queued when the connection is
//! lost; and messages written to a connection that died before Redis
//! confirmed them (Redis may have delivered some of those: without a
//! reply there is no knowing). [`BrokerStats::published`] counts the
//! messages Redis confirmed. Redis itself closes a subscriber that falls
//! more than its `client-output-buffer-limit pubsub` (32 MiB by default)
//! behind, which this broker sees as a lost connection.

use super::resp::{self, Value};
use super::{
    Broker, BrokerError, BrokerResult, BrokerState, BrokerStats, Claim, OnDrained, OnMessage,
    OnState,
};
use crate::shared::lock;
use rusty_socket_core::Decoded;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

mod outbox;
mod url;

use outbox::{queued_size, unpack, Batch, Outbox, MAX_PAYLOAD};

pub use url::{RedisUrl, RedisUrlError, DEFAULT_PORT};

/// How many bytes a connection asks the socket for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A reply (or push) larger than this is refused as a protocol error, so a
/// peer cannot make a connection buffer without bound.
const MAX_REPLY: usize = 64 * 1024 * 1024;

/// A connection's read buffer is given back when empty and larger than
/// this.
const KEEP_BUFFER: usize = 1024 * 1024;

/// How every `message` push of a subscription starts: an array of three
/// bulk strings, the first `message`.
const MESSAGE_PUSH: &[u8] = b"*3\r\n$7\r\nmessage\r\n";

/// Channels per `SUBSCRIBE` command when resubscribing.
const SUBSCRIBE_BATCH: usize = 512;

/// The longest expiry sent to Redis, in milliseconds (about 34 years): a
/// longer one (`Duration::MAX` as "forever") is cut to this rather than
/// refused.
const MAX_TTL_MS: u128 = 1 << 40;

/// Takes the key for `ARGV[1]` for `ARGV[2]` milliseconds if it is free
/// (`SET .. PX`), renews it if `ARGV[1]` holds it (`PEXPIRE`), else
/// returns the holder. One script, so the check and the write are atomic.
/// A key of another type reads as held by "" (nobody can claim it). A ttl
/// of 0 is an expiry that has already passed: the claim succeeds and
/// leaves nothing behind.
const CLAIM_SCRIPT: &str = "\
local holder = redis.pcall('GET', KEYS[1])
if type(holder) == 'table' then return '' end
if holder == ARGV[1] then
  if ARGV[2] == '0' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return 1
end
if holder then return holder end
if ARGV[2] ~= '0' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1";

/// Deletes the key if `ARGV[1]` holds it: compare and delete, atomic.
const RELEASE_SCRIPT: &str = "\
if redis.pcall('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0";

// ---------------------------------------------------------------------------
// Options

/// How a [`RedisBroker`] talks to Redis. Every field has the default named
/// in its docs; build with `RedisOptions { timeout: ..,
/// ..RedisOptions::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// How long a TCP connect, and every command's reply, may take
    /// (default 1 s). A key operation never blocks much longer than this.
    pub timeout: Duration,
    /// How often the subscriber connection sends `PING` (default 2 s);
    /// Redis is declared dead when nothing has come back one more interval
    /// later, so a frozen Redis is noticed within about twice this.
    pub ping_interval: Duration,
    /// The first wait between reconnection attempts (default 100 ms); it
    /// doubles after each failed attempt.
    pub backoff_min: Duration,
    /// The longest wait between reconnection attempts (default 1 s). Each
    /// wait is a random point between half of it and all of it.
    pub backoff_max: Duration,
    /// The most messages waiting to be published (default 65,536);
    /// [`Broker::publish`] refuses more with [`BrokerError::Full`].
    pub queue_messages: usize,
    /// The most bytes of encoded `PUBLISH` commands waiting (default
    /// 64 MiB); [`Broker::publish`] refuses more with [`BrokerError::Full`].
    pub queue_bytes: usize,
}

impl Default for RedisOptions {
    fn default() -> RedisOptions {
        RedisOptions {
            timeout: Duration::from_secs(1),
            ping_interval: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            queue_messages: 65_536,
            queue_bytes: 64 * 1024 * 1024,
        }
    }
}

impl RedisOptions {
    /// The options with every value made usable: timeouts of at least a
    /// millisecond (a zero socket timeout would mean "forever"), queues
    /// of at least one.
    fn usable(mut self) -> RedisOptions {
        let ms = Duration::from_millis(1);
        self.timeout = self.timeout.max(ms);
        self.ping_interval = self.ping_interval.max(Duration::from_millis(10));
        self.backoff_min = self.backoff_min.max(ms);
        self.backoff_max = self.backoff_max.max(self.backoff_min);
        self.queue_messages = self.queue_messages.max(1);
        self.queue_bytes = self.queue_bytes.max(1);
        self
    }
}

/// How long to wait before reconnection attempt `attempt` (0 is the first
/// after a failure): `backoff_min` doubled `attempt` times, at most
/// `backoff_max`, and of that a random point between half and all.
fn backoff(options: &RedisOptions, attempt: u32) -> Duration {
    let full = options
        .backoff_min
        .saturating_mul(1u32 << attempt.min(20))
        .min(options.backoff_max);
    let half = full / 2;
    half + (full - half).mul_f64(random_fraction())
}

/// A number in `[0, 1)` from the OS's random source; 1 would do no harm
/// (no jitter), so that is what a failing source gives.
fn random_fraction() -> f64 {
    let mut bytes = [0u8; 8];
    match rusty_socket_core::entropy::fill_random(&mut bytes) {
        Ok(()) => (u64::from_ne_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 1.0,
    }
}

// ---------------------------------------------------------------------------
// One connection: a socket and the bytes read from it but not yet parsed.

struct Conn {
    stream: TcpStream,
    /// `buffer[start..end]` is what was read and not yet parsed.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
}

use rusty_socket_core::connection::is_timeout as timed_out;

impl Conn {
    /// Connects to the first address of `url` that answers within
    /// `timeout`, with Nagle off and `timeout` on every read and write.
    fn open(url: &RedisUrl, timeout: Duration) -> BrokerResult<Conn> {
        let mut last = None;
        for address in (url.host.as_str(), url.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&address, timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    return Ok(Conn {
                        stream,
                        buffer: Vec::new(),
                        start: 0,
                        end: 0,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(BrokerError::Io(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} resolves to no address", url.host),
            )
        })))
    }

    /// The next complete value among the bytes already read.
    fn buffered(&mut self) -> BrokerResult<Option<Value>> {
        match resp::parse(&self.buffer[self.start..self.end]) {
            Ok(Decoded::Complete(value, used)) => {
                self.consume(used);
                Ok(Some(value))
            }
            Ok(Decoded::Partial) => Ok(None),
            Err(e) => Err(BrokerError::Protocol(e.to_string())),
        }
    }

    /// The fast path of a subscription: when the buffer starts with a
    /// complete `message` push, calls `deliver(channel, payload)` with its
    /// bytes in place (no allocation) and drops it; whether it did.
    /// Anything else, or an incomplete push, is left to
    /// [`Conn::buffered`].
    fn take_message(&mut self, deliver: impl FnOnce(&[u8], &[u8])) -> bool {
        let bytes = &self.buffer[self.start..self.end];
        let Some(rest) = bytes.strip_prefix(MESSAGE_PUSH) else {
            return false;
        };
        let Ok(Decoded::Complete(Some(channel), channel_len)) = resp::parse_bulk(rest) else {
            return false;
        };
        let Ok(Decoded::Complete(Some(payload), payload_len)) =
            resp::parse_bulk(&rest[channel_len..])
        else {
            return false;
        };
        deliver(channel, payload);
        self.consume(MESSAGE_PUSH.len() + channel_len + payload_len);
        true
    }

    /// Drops the first `used` buffered bytes.
    fn consume(&mut self, used: usize) {
        self.start += used;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buffer.len() > KEEP_BUFFER {
                self.buffer = Vec::new();
            }
        }
    }

    /// Reads once from the socket (blocking up to its read timeout).
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end >= MAX_REPLY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a reply from Redis is larger than {MAX_REPLY} bytes"),
            ));
        }
        if self.buffer.len() - self.end < READ_CHUNK {
            self.buffer.resize(self.end + READ_CHUNK, 0);
        }
        match self.stream.read(&mut self.buffer[self.end..]) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "Redis closed the connection",
            )),
            Ok(n) => {
                self.end += n;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The next value, waiting at most `timeout` for it.
    fn read_value(&mut self, timeout: Duration) -> BrokerResult<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = self.buffered()? {
                return Ok(value);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let late = || {
                BrokerError::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("Redis did not answer within {timeout:?}"),
                ))
            };
            if left.is_zero() {
                return Err(late());
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.fill() {
                Ok(()) => {}
                Err(e) if timed_out(&e) => return Err(late()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes every command of `pipeline`, then reads one reply for each.
    /// Error replies are values here; only the connection failing is an
    /// error.
    fn exchange(&mut self, pipeline: &Pipeline, timeout: Duration) -> BrokerResult<Vec<Value>> {
        self.stream.write_all(&pipeline.wire)?;
        (0..pipeline.count)
            .map(|_| self.read_value(timeout))
            .collect()
    }

    /// Logs in (`AUTH`), picks the database (`SELECT`, on the command
    /// connection only) and checks that Redis answers (`PING`).
    fn greet(&mut self, url: &RedisUrl, select: bool, timeout: Duration) -> BrokerResult<()> {
        let mut pipeline = Pipeline::default();
        let mut names = Vec::new();
        if let Some(password) = &url.password {
            match &url.username {
                Some(user) => pipeline.push(&[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => pipeline.push(&[b"AUTH", password.as_bytes()]),
            }
            names.push("AUTH");
        }
        let db = url.db.to_string();
        if select && url.db != 0 {
            pipeline.push(&[b"SELECT", db.as_bytes()]);
            names.push("SELECT");
        }
        pipeline.push(&[b"PING"]);
        names.push("PING");
        let replies = self.exchange(&pipeline, timeout)?;
        // The first refusal is the cause (a failed AUTH makes the rest
        // fail with NOAUTH).
        for (name, reply) in names.iter().zip(&replies) {
            if let Value::Error(e) = reply {
                return Err(BrokerError::Refused(format!("{name}: {e}")));
            }
        }
        match replies.last() {
            Some(Value::Simple(pong)) if pong == "PONG" => Ok(()),
            other => Err(unexpected("PING", other)),
        }
    }
}

/// Commands encoded back to back, to be written at once.
#[derive(Default)]
struct Pipeline {
    wire: Vec<u8>,
    count: usize,
}

impl Pipeline {
    fn push(&mut self, args: &[&[u8]]) {
        resp::encode_command(&mut self.wire, args);
        self.count += 1;
    }
}

/// A short description of a reply this client did not expect (never the
/// whole of a large one).
fn unexpected(command: &str, reply: Option<&Value>) -> BrokerError {
    let what = match reply {
        None => "nothing".to_owned(),
        Some(Value::Simple(s)) => format!("+{}", cut(s)),
        Some(Value::Error(e)) => format!("-{}", cut(e)),
        Some(Value::Integer(n)) => format!(":{n}"),
        Some(Value::Bulk(None)) => "a null bulk string".to_owned(),
        Some(Value::Bulk(Some(b))) => format!("a bulk string of {} bytes", b.len()),
        Some(Value::Array(None)) => "a null array".to_owned(),
        Some(Value::Array(Some(items))) => format!("an array of {} values", items.len()),
    };
    BrokerError::Protocol(format!("unexpected reply to {command}: {what}"))
}

fn cut(text: &str) -> &str {
    let mut end = text.len().min(80);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An error reply as [`BrokerError::Refused`]; anything else passes.
fn check(reply: Value) -> BrokerResult<Value> {
    match reply {
        Value::Error(e) => Err(BrokerError::Refused(e)),
        other => Ok(other),
    }
}

fn utf8(bytes: Vec<u8>) -> BrokerResult<String> {
    String::from_utf8(bytes)
        .map_err(|_| BrokerError::Protocol("Redis answered bytes that are not UTF-8".to_owned()))
}

fn is_wrong_type(reply: &Value) -> bool {
    matches!(reply, Value::Error(e) if e.starts_with("WRONGTYPE"))
}

/// `ttl` in whole milliseconds for `PX`/`PEXPIRE`: rounded up (a claim of
/// half a millisecond still expires), at most [`MAX_TTL_MS`].
fn millis(ttl: Duration) -> String {
    let ms = ttl.as_nanos().div_ceil(1_000_000).min(MAX_TTL_MS);
    ms.to_string()
}

/// A count as a negative index from the end of a list (`-count`).
fn from_end(count: usize) -> String {
    format!("-{}", count.min(i64::MAX as usize))
}

/// A copy of an error, for [`RedisBroker::last_error`] (an `io::Error`
/// cannot be cloned; its kind and message can).
fn duplicate(e: &BrokerError) -> BrokerError {
    match e {
        BrokerError::Unavailable => BrokerError::Unavailable,
        BrokerError::Full => BrokerError::Full,
        BrokerError::Io(e) => BrokerError::Io(io::Error::new(e.kind(), e.to_string())),
        BrokerError::Protocol(what) => BrokerError::Protocol(what.clone()),
        BrokerError::Refused(what) => BrokerError::Refused(what.clone()),
    }
}

/// Which kind of error, for logging once per kind per outage.
fn kind(e: &BrokerError) -> u8 {
    match e {
        BrokerError::Unavailable => 0,
        BrokerError::Full => 1,
        BrokerError::Io(_) => 2,
        BrokerError::Protocol(_) => 3,
        BrokerError::Refused(_) => 4,
    }
}

// ---------------------------------------------------------------------------
// The broker

/// A [`Broker`] on a Redis server: publish/subscribe between nodes, and
/// claims, counters and lists as Redis keys. See the [module
/// docs](self) for how it connects, publishes, notices trouble and
/// recovers.
///
/// ```no_run
/// use rusty_socket_server::broker::{Broker, BrokerState, RedisBroker, RedisOptions};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let broker = RedisBroker::new("redis://127.0.0.1:6379".parse()?, RedisOptions::default());
/// broker.subscribe("room", Arc::new(|payload: &[u8]| println!("{} bytes", payload.len())));
/// // `new` returns at once; the connection is made in the background.
/// if broker.wait_for(BrokerState::Up, Duration::from_secs(5)) {
///     broker.publish("room", b"hello")?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping it stops its two threads: their sockets are shut down so that
/// a blocked read returns, and they end within about
/// [`RedisOptions::timeout`] (a connection attempt in progress finishes
/// first).
pub struct RedisBroker {
    inner: Arc<Inner>,
}

struct Inner {
    url: RedisUrl,
    options: RedisOptions,
    stop: AtomicBool,
    /// The visible state, read without a lock by `publish` and `state`;
    /// written under `status`.
    up: AtomicBool,
    status: Mutex<Status>,
    /// Signalled on every change of `status`, and on stop.
    changed: Condvar,
    watchers: Mutex<Vec<OnState>>,
    /// Called when every message read so far has been delivered.
    drained: Mutex<Vec<OnDrained>>,
    /// Every channel ever subscribed, with its callbacks (replaced, not
    /// changed, so a delivery only clones an `Arc`).
    subscriptions: Mutex<HashMap<String, Arc<[OnMessage]>>>,
    /// A clone of the live subscriber socket, for writing `SUBSCRIBE` and
    /// `PING`; every write to it goes through this lock. Taken before
    /// `subscriptions` when both are needed.
    subscriber: Mutex<Option<TcpStream>>,
    /// The live command connection. Taken before `status` and `sockets`.
    command: Mutex<Option<Conn>>,
    /// Clones of both live sockets, only to shut them down (from `Drop`,
    /// or to wake the connection thread when the command side fails).
    sockets: Mutex<Vec<TcpStream>>,
    outbox: Mutex<Outbox>,
    /// Signalled when the outbox stops being empty, and on stop.
    outbox_ready: Condvar,
    /// Whether a refused `PUBLISH` was logged since the last connection.
    publish_refusal_logged: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
}

struct Status {
    state: BrokerState,
    last_error: Option<BrokerError>,
}

impl RedisBroker {
    /// A broker for the Redis at `url`. Returns at once, [`BrokerState::Down`]:
    /// it connects in the background (see [`RedisBroker::wait_for`]) and
    /// keeps reconnecting for as long as it lives.
    ///
    /// # Panics
    /// If the operating system cannot start a thread.
    pub fn new(url: RedisUrl, options: RedisOptions) -> RedisBroker {
        let inner = Arc::new(Inner {
            url,
            options: options.usable(),
            stop: AtomicBool::new(false),
            up: AtomicBool::new(false),
            status: Mutex::new(Status {
                state: BrokerState::Down,
                last_error: None,
            }),
            changed: Condvar::new(),
            watchers: Mutex::new(Vec::new()),
            drained: Mutex::new(Vec::new()),
            subscriptions: Mutex::new(HashMap::new()),
            subscriber: Mutex::new(None),
            command: Mutex::new(None),
            sockets: Mutex::new(Vec::new()),
            outbox: Mutex::new(Outbox::default()),
            outbox_ready: Condvar::new(),
            publish_refusal_logged: AtomicBool::new(false),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        });
        let connection = Arc::clone(&inner);
        thread::Builder::new()
            .name("redis-broker".to_owned())
            .spawn(move || connection.run())
            .expect("cannot start the Redis broker's connection thread");
        let publisher = Arc::clone(&inner);
        thread::Builder::new()
            .name("redis-publish".to_owned())
            .spawn(move || publisher.publish_loop())
            .expect("cannot start the Redis broker's publisher thread");
        RedisBroker { inner }
    }

    /// Waits until the broker is in `state`, at most `timeout`; whether it
    /// is. For tests, and for a server that would rather start connected.
    pub fn wait_for(&self, state: BrokerState, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut status = lock(&self.inner.status);
        loop {
            if status.state == state {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            status = self
                .inner
                .changed
                .wait_timeout(status, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Why the broker is down: the error of the last failed connection
    /// attempt, or what broke the last connection. `None` while up.
    pub fn last_error(&self) -> Option<BrokerError> {
        lock(&self.inner.status).last_error.as_ref().map(duplicate)
    }

    /// Where Redis is.
    pub fn url(&self) -> &RedisUrl {
        &self.inner.url
    }
}

impl fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBroker")
            .field("url", &self.inner.url.to_string())
            .field("state", &self.state())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.shutdown_sockets();
        // Taking each lock before notifying means a thread that checked
        // `stop` just before is already waiting, and hears it.
        drop(lock(&self.inner.status));
        self.inner.changed.notify_all();
        drop(lock(&self.inner.outbox));
        self.inner.outbox_ready.notify_all();
    }
}

/// What the subscriber connection can be told.
enum Push {
    Message(Vec<u8>, Vec<u8>),
    Subscribed(Vec<u8>),
    Pong,
}

fn classify(value: Value) -> BrokerResult<Push> {
    let items = match value {
        // `PING` before any `SUBSCRIBE` is answered the usual way.
        Value::Simple(pong) if pong == "PONG" => return Ok(Push::Pong),
        Value::Error(e) => return Err(BrokerError::Refused(e)),
        Value::Array(Some(items)) => items,
        other => return Err(unexpected("SUBSCRIBE", Some(&other))),
    };
    let count = items.len();
    let mut items = items.into_iter();
    let kind = match items.next() {
        Some(Value::Bulk(Some(kind))) => kind,
        _ => return Err(unexpected("SUBSCRIBE", Some(&Value::Array(None)))),
    };
    let shape = |n| BrokerError::Protocol(format!("a {n}-element {kind:?} push"));
    match (kind.as_slice(), items.next(), items.next(), items.next()) {
        (b"message", Some(Value::Bulk(Some(channel))), Some(Value::Bulk(Some(payload))), None) => {
            Ok(Push::Message(channel, payload))
        }
        (b"subscribe", Some(Value::Bulk(Some(channel))), Some(Value::Integer(_)), None) => {
            Ok(Push::Subscribed(channel))
        }
        // In subscribed mode `PING` is answered ["pong", ""].
        (b"pong", Some(Value::Bulk(_)), None, None) => Ok(Push::Pong),
        _ => Err(shape(count)),
    }
}

impl Inner {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn count_dropped(&self, n: usize) {
        if n > 0 {
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    fn log(&self, what: fmt::Arguments<'_>) {
        crate::log::server(format_args!("redis broker {}: {what}", self.url));
    }

    /// Makes the visible state Down; whether it was Up. `why` is kept for
    /// [`RedisBroker::last_error`] if it is the cause (the first failure
    /// of a connection), or when `force`d (a failed connection attempt).
    fn mark_down(&self, why: &BrokerError, force: bool) -> bool {
        let was_up = {
            let mut status = lock(&self.status);
            let was_up = status.state == BrokerState::Up;
            status.state = BrokerState::Down;
            self.up.store(false, Ordering::Release);
            if was_up || force || status.last_error.is_none() {
                status.last_error = Some(duplicate(why));
            }
            was_up
        };
        self.changed.notify_all();
        was_up
    }

    /// Shuts down both live sockets: every blocked read on them returns.
    fn shutdown_sockets(&self) {
        for socket in lock(&self.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// The command connection in `slot` failed with `why`: drop it, go
    /// Down, and wake the connection thread (by shutting the subscriber
    /// down) to reconnect. Whether this was the failure that took the
    /// broker down.
    fn lose_command(&self, slot: &mut Option<Conn>, why: &BrokerError) -> bool {
        if let Some(conn) = slot.take() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        let was_up = self.mark_down(why, false);
        self.shutdown_sockets();
        was_up
    }

    /// Sends `pipeline` on the command connection and returns its replies
    /// (error replies included).
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] at once while down; the connection's
    /// error if it fails now (the broker goes down with it).
    fn round_trip(&self, pipeline: &Pipeline) -> BrokerResult<Vec<Value>> {
        if !self.is_up() {
            return Err(BrokerError::Unavailable);
        }
        let mut slot = lock(&self.command);
        let result = match slot.as_mut() {
            Some(conn) => conn.exchange(pipeline, self.options.timeout),
            None => return Err(BrokerError::Unavailable),
        };
        result.map_err(|e| {
            if self.lose_command(&mut slot, &e) {
                e
            } else {
                // Someone else took the broker down first: this operation
                // was merely caught in it.
                BrokerError::Unavailable
            }
        })
    }

    /// One command; an error reply is [`BrokerError::Refused`].
    fn call(&self, args: &[&[u8]]) -> BrokerResult<Value> {
        check(self.call_raw(args)?)
    }

    /// One command; an error reply is returned as a value.
    fn call_raw(&self, args: &[&[u8]]) -> BrokerResult<Value> {
        let mut pipeline = Pipeline::default();
        pipeline.push(args);
        let mut replies = self.round_trip(&pipeline)?;
        replies
            .pop()
            .ok_or_else(|| BrokerError::Protocol("no reply".to_owned()))
    }

    /// `MULTI`, `commands`, `EXEC` in one write; the replies of `commands`.
    fn transaction(&self, commands: &[&[&[u8]]]) -> BrokerResult<Vec<Value>> {
        let mut pipeline = Pipeline::default();
        pipeline.push(&[b"MULTI"]);
        for command in commands {
            pipeline.push(command);
        }
        pipeline.push(&[b"EXEC"]);
        let replies = self.round_trip(&pipeline)?;
        // A command refused while queueing is the cause; EXEC then says
        // EXECABORT.
        for reply in &replies {
            if let Value::Error(e) = reply {
                return Err(BrokerError::Refused(e.clone()));
            }
        }
        match replies.into_iter().last() {
            Some(Value::Array(Some(results))) if results.len() == commands.len() => {
                results.into_iter().map(check).collect()
            }
            other => Err(unexpected("EXEC", other.as_ref())),
        }
    }

    /// Calls every watcher with `state`, on this thread, holding no lock.
    fn announce(&self, state: BrokerState) {
        let watchers = lock(&self.watchers).clone();
        for watcher in watchers {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| watcher(state)));
        }
    }

    /// Both connections are ready and every channel is subscribed.
    fn go_up(&self, reconnect: bool) {
        if reconnect {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.publish_refusal_logged.store(false, Ordering::Relaxed);
        {
            let mut status = lock(&self.status);
            status.state = BrokerState::Up;
            status.last_error = None;
            self.up.store(true, Ordering::Release);
        }
        self.changed.notify_all();
        self.announce(BrokerState::Up);
    }

    /// Drops everything of the connection that ended with `why`.
    fn teardown(&self, why: &BrokerError, connected: bool) {
        self.mark_down(why, !connected);
        self.shutdown_sockets();
        *lock(&self.subscriber) = None;
        // A key operation blocked on the command socket was woken by the
        // shutdown above, so this lock is not held for long.
        drop(lock(&self.command).take());
        let lost = lock(&self.outbox).clear();
        self.count_dropped(lost);
    }

    /// Waits `delay`, or until the broker is dropped.
    fn pause(&self, delay: Duration) {
        let deadline = Instant::now() + delay;
        let mut status = lock(&self.status);
        while !self.stopped() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            status = self
                .changed
                .wait_timeout(status, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The connection thread: connect, serve the subscriber connection
    /// until it fails, clean up, wait, again; until the broker is dropped.
    fn run(&self) {
        let mut attempt = 0u32;
        let mut ever_up = false;
        // The kind of error already logged in this outage.
        let mut logged: Option<u8> = None;
        while !self.stopped() {
            let started = Instant::now();
            let mut up = false;
            let why = match self.session(&mut up, ever_up) {
                Ok(()) => BrokerError::Unavailable,
                Err(e) => e,
            };
            self.teardown(&why, up);
            if self.stopped() {
                break;
            }
            if up {
                ever_up = true;
                let cause = lock(&self.status)
                    .last_error
                    .as_ref()
                    .map_or_else(|| why.to_string(), ToString::to_string);
                self.log(format_args!("connection lost ({cause}); reconnecting"));
                logged = Some(kind(&why));
                self.announce(BrokerState::Down);
                if started.elapsed() >= self.options.backoff_max {
                    // It had been fine for a while: try again at once.
                    attempt = 0;
                    continue;
                }
            } else if logged != Some(kind(&why)) {
                self.log(format_args!("cannot connect ({why}); retrying"));
                logged = Some(kind(&why));
            }
            self.pause(backoff(&self.options, attempt));
            attempt = attempt.saturating_add(1);
        }
    }

    /// One connection, from connecting until it fails (`Err`) or the
    /// broker is dropped (`Ok`). Sets `up` once it is up.
    fn session(&self, up: &mut bool, reconnect: bool) -> BrokerResult<()> {
        let timeout = self.options.timeout;
        let mut command = Conn::open(&self.url, timeout)?;
        command.greet(&self.url, true, timeout)?;
        let mut subscriber = Conn::open(&self.url, timeout)?;
        subscriber.greet(&self.url, false, timeout)?;
        {
            let mut sockets = lock(&self.sockets);
            if self.stopped() {
                return Ok(());
            }
            sockets.push(command.stream.try_clone()?);
            sockets.push(subscriber.stream.try_clone()?);
        }
        *lock(&self.command) = Some(command);
        // Subscribe to every channel; from the moment the writer is in
        // place, `subscribe` writes new channels itself.
        let mut pending: HashSet<Vec<u8>> = HashSet::new();
        {
            let mut writer = lock(&self.subscriber);
            let channels: Vec<String> = lock(&self.subscriptions).keys().cloned().collect();
            let mut wire = Vec::new();
            for batch in channels.chunks(SUBSCRIBE_BATCH) {
                let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
                args.extend(batch.iter().map(|channel| channel.as_bytes()));
                resp::encode_command(&mut wire, &args);
            }
            subscriber.stream.write_all(&wire)?;
            pending.extend(channels.into_iter().map(String::into_bytes));
            *writer = Some(subscriber.stream.try_clone()?);
        }
        let interval = self.options.ping_interval;
        // Wake often enough to send pings and notice silence on time.
        let tick = (interval / 8).clamp(Duration::from_millis(5), Duration::from_millis(250));
        subscriber.stream.set_read_timeout(Some(tick))?;
        let subscribe_by = Instant::now() + timeout;
        let mut ping_sent: Option<Instant> = None;
        let mut next_ping = Instant::now() + interval;
        let mut heard = Instant::now();
        loop {
            let mut delivered = false;
            loop {
                if subscriber.take_message(|channel, payload| self.deliver(channel, payload)) {
                    delivered = true;
                    continue;
                }
                let Some(value) = subscriber.buffered()? else {
                    break;
                };
                match classify(value)? {
                    Push::Message(channel, payload) => {
                        delivered = true;
                        self.deliver(&channel, &payload);
                    }
                    Push::Subscribed(channel) => {
                        pending.remove(&channel);
                    }
                    Push::Pong => ping_sent = None,
                }
            }
            if delivered {
                // The end of a burst: what was gathered goes out.
                let drained = lock(&self.drained).clone();
                for callback in drained {
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| callback()));
                }
            }
            if self.stopped() {
                return Ok(());
            }
            let now = Instant::now();
            if !*up {
                if pending.is_empty() {
                    *up = true;
                    if reconnect {
                        self.log(format_args!("connected again"));
                    }
                    self.go_up(reconnect);
                } else if now >= subscribe_by {
                    return Err(BrokerError::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "Redis did not confirm {} subscriptions within {timeout:?}",
                            pending.len()
                        ),
                    )));
                }
            }
            match ping_sent {
                Some(sent) if now.duration_since(sent.max(heard)) >= interval => {
                    return Err(BrokerError::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer to PING within {interval:?}"),
                    )));
                }
                Some(_) => {}
                None if now >= next_ping => {
                    self.write_subscriber(&[b"PING"])?;
                    ping_sent = Some(now);
                    next_ping = now + interval;
                }
                None => {}
            }
            match subscriber.fill() {
                Ok(()) => heard = Instant::now(),
                Err(e) if timed_out(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Writes one command on the subscriber connection.
    fn write_subscriber(&self, args: &[&[u8]]) -> io::Result<()> {
        let mut wire = Vec::new();
        resp::encode_command(&mut wire, args);
        match lock(&self.subscriber).as_ref() {
            Some(mut stream) => stream.write_all(&wire),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the subscriber connection is gone",
            )),
        }
    }

    /// Calls the callbacks of `channel` with each message of `payload` (a
    /// pack, [`outbox::unpack`]ed, or one message), on this thread. A
    /// callback that panics does not stop the others, nor the broker.
    fn deliver(&self, channel: &[u8], payload: &[u8]) {
        let Some(callbacks) = std::str::from_utf8(channel)
            .ok()
            .and_then(|channel| lock(&self.subscriptions).get(channel).cloned())
        else {
            return;
        };
        let mut call = |message: &[u8]| {
            for callback in callbacks.iter() {
                self.received.fetch_add(1, Ordering::Relaxed);
                let _ = panic::catch_unwind(AssertUnwindSafe(|| callback(message)));
            }
        };
        match unpack(payload) {
            Some(messages) => messages.for_each(&mut call),
            None => call(payload),
        }
    }

    /// The publisher thread: takes batches from the outbox and sends them;
    /// pings the command connection when there has been nothing to send
    /// for a ping interval.
    fn publish_loop(&self) {
        let mut wire = Vec::new();
        loop {
            let batch = {
                let mut outbox = lock(&self.outbox);
                loop {
                    if self.stopped() {
                        return;
                    }
                    if let Some(batch) = outbox.pop() {
                        break Some(batch);
                    }
                    let (guard, wait) = self
                        .outbox_ready
                        .wait_timeout(outbox, self.options.ping_interval)
                        .unwrap_or_else(PoisonError::into_inner);
                    outbox = guard;
                    if wait.timed_out() && outbox.batches.is_empty() {
                        break None;
                    }
                }
            };
            match batch {
                Some(batch) => {
                    self.send(&batch, &mut wire);
                    lock(&self.outbox).recycle(batch);
                    if wire.capacity() > KEEP_BUFFER {
                        wire = Vec::new();
                    }
                }
                None => {
                    if self.is_up() {
                        // A failure takes the broker down inside.
                        let _ = self.call(&[b"PING"]);
                    }
                }
            }
        }
    }

    /// Writes a batch's `PUBLISH` commands (encoded into `wire`), then
    /// reads their replies: one per pack, which confirms all its messages.
    fn send(&self, batch: &Batch, wire: &mut Vec<u8>) {
        // Encoded before the lock: a request on the command connection
        // (a claim, a heartbeat) waits only for the write and the replies.
        wire.clear();
        batch.encode(wire);
        let mut slot = lock(&self.command);
        let Some(conn) = slot.as_mut() else {
            self.count_dropped(batch.count);
            return;
        };
        if let Err(e) = conn.stream.write_all(wire) {
            self.count_dropped(batch.count);
            self.lose_command(&mut slot, &e.into());
            return;
        }
        let mut published = 0;
        let mut failure = None;
        for (answered, pack) in batch.packs.iter().enumerate() {
            match conn.read_value(self.options.timeout) {
                Ok(Value::Integer(_)) => published += pack.count,
                Ok(Value::Error(e)) => {
                    self.count_dropped(pack.count);
                    if !self.publish_refusal_logged.swap(true, Ordering::Relaxed) {
                        self.log(format_args!("Redis refused a PUBLISH: {e}"));
                    }
                }
                Ok(other) => {
                    failure = Some((answered, unexpected("PUBLISH", Some(&other))));
                    break;
                }
                Err(e) => {
                    failure = Some((answered, e));
                    break;
                }
            }
        }
        self.published
            .fetch_add(published as u64, Ordering::Relaxed);
        if let Some((answered, e)) = failure {
            // Written but never confirmed: lost with the connection.
            let unconfirmed = batch.packs[answered..].iter().map(|pack| pack.count);
            self.count_dropped(unconfirmed.sum());
            self.lose_command(&mut slot, &e);
        }
    }
}

impl Broker for RedisBroker {
    /// Queues a `PUBLISH` for the publisher thread and returns.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] while down, [`BrokerError::Full`] when
    /// the queue is at [`RedisOptions::queue_messages`] or
    /// [`RedisOptions::queue_bytes`], [`BrokerError::Refused`] for a
    /// payload or channel name longer than [`resp::MAX_BULK`] less 8 bytes
    /// (16 MiB with a pack's framing: every subscriber would refuse to read
    /// it, and lose its connection); in
    /// each case the message is counted in [`BrokerStats::dropped`] and not
    /// kept.
    fn publish(&self, channel: &str, payload: &[u8]) -> BrokerResult<()> {
        let inner = &*self.inner;
        if !inner.is_up() {
            inner.count_dropped(1);
            return Err(BrokerError::Unavailable);
        }
        if payload.len().max(channel.len()) > MAX_PAYLOAD {
            inner.count_dropped(1);
            return Err(BrokerError::Refused(format!(
                "a message of {} bytes is larger than the {MAX_PAYLOAD} a subscriber reads",
                payload.len(),
            )));
        }
        let size = queued_size(channel, payload);
        let was_empty = {
            let mut outbox = lock(&inner.outbox);
            if outbox.messages >= inner.options.queue_messages
                || outbox.bytes.saturating_add(size) > inner.options.queue_bytes
            {
                drop(outbox);
                inner.count_dropped(1);
                return Err(BrokerError::Full);
            }
            let was_empty = outbox.batches.is_empty();
            outbox.push(channel, payload, size);
            was_empty
        };
        // The publisher only sleeps on an empty outbox.
        if was_empty {
            inner.outbox_ready.notify_one();
        }
        Ok(())
    }

    /// Adds `on_message` to `channel`'s callbacks; a new channel is
    /// subscribed on the live connection at once (and on every connection
    /// after).
    fn subscribe(&self, channel: &str, on_message: OnMessage) {
        let inner = &*self.inner;
        let writer = lock(&inner.subscriber);
        let new = {
            let mut subscriptions = lock(&inner.subscriptions);
            match subscriptions.get_mut(channel) {
                Some(callbacks) => {
                    let mut list = callbacks.to_vec();
                    list.push(on_message);
                    *callbacks = list.into();
                    false
                }
                None => {
                    subscriptions.insert(channel.to_owned(), Arc::from(vec![on_message]));
                    true
                }
            }
        };
        if let (true, Some(mut stream)) = (new, writer.as_ref()) {
            let mut wire = Vec::new();
            resp::encode_command(&mut wire, &[b"SUBSCRIBE", channel.as_bytes()]);
            if stream.write_all(&wire).is_err() {
                // The connection thread sees it fail and reconnects; the
                // channel is subscribed on the next connection.
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    fn on_drained(&self, on_drained: OnDrained) {
        lock(&self.inner.drained).push(on_drained);
    }

    fn on_state(&self, on_state: OnState) {
        lock(&self.inner.watchers).push(on_state);
    }

    fn state(&self) -> BrokerState {
        if self.inner.is_up() {
            BrokerState::Up
        } else {
            BrokerState::Down
        }
    }

    /// The counters; `published` counts what Redis confirmed.
    fn stats(&self) -> BrokerStats {
        let inner = &*self.inner;
        BrokerStats {
            published: inner.published.load(Ordering::Relaxed),
            received: inner.received.load(Ordering::Relaxed),
            dropped: inner.dropped.load(Ordering::Relaxed),
            reconnects: inner.reconnects.load(Ordering::Relaxed),
        }
    }

    /// One `EVAL` of a Lua script: `GET`; if there is none, `SET .. PX`;
    /// if it is `owner`'s, renew it; else answer the holder.
    fn claim(&self, key: &str, owner: &str, ttl: Duration) -> BrokerResult<Claim> {
        let ttl = millis(ttl);
        let reply = self.inner.call(&[
            b"EVAL",
            CLAIM_SCRIPT.as_bytes(),
            b"1",
            key.as_bytes(),
            owner.as_bytes(),
            ttl.as_bytes(),
        ])?;
        match reply {
            Value::Integer(1) => Ok(Claim::Ours),
            Value::Bulk(Some(holder)) => Ok(Claim::Theirs(utf8(holder)?)),
            other => Err(unexpected("EVAL (claim)", Some(&other))),
        }
    }

    /// Compare and delete, in one `EVAL`.
    fn release(&self, key: &str, owner: &str) -> BrokerResult<()> {
        self.inner.call(&[
            b"EVAL",
            RELEASE_SCRIPT.as_bytes(),
            b"1",
            key.as_bytes(),
            owner.as_bytes(),
        ])?;
        Ok(())
    }

    /// `GET`; a key of another type has no holder.
    fn holder(&self, key: &str) -> BrokerResult<Option<String>> {
        match self.inner.call_raw(&[b"GET", key.as_bytes()])? {
            Value::Bulk(Some(holder)) => Ok(Some(utf8(holder)?)),
            Value::Bulk(None) => Ok(None),
            reply if is_wrong_type(&reply) => Ok(None),
            Value::Error(e) => Err(BrokerError::Refused(e)),
            other => Err(unexpected("GET", Some(&other))),
        }
    }

    /// `INCR`. A key that holds something else than a counter is refused.
    fn increment(&self, key: &str) -> BrokerResult<u64> {
        match self.inner.call(&[b"INCR", key.as_bytes()])? {
            Value::Integer(n) if n >= 0 => Ok(n as u64),
            other => Err(unexpected("INCR", Some(&other))),
        }
    }

    /// `MULTI`, `RPUSH`, `LTRIM`, `PEXPIRE`, `EXEC`. Keeping 0 entries is
    /// `DEL`.
    fn push_bounded(&self, key: &str, value: &str, keep: usize, ttl: Duration) -> BrokerResult<()> {
        let key = key.as_bytes();
        if keep == 0 {
            self.inner.call(&[b"DEL", key])?;
            return Ok(());
        }
        let start = from_end(keep);
        let ttl = millis(ttl);
        self.inner.transaction(&[
            &[b"RPUSH", key, value.as_bytes()],
            &[b"LTRIM", key, start.as_bytes(), b"-1"],
            &[b"PEXPIRE", key, ttl.as_bytes()],
        ])?;
        Ok(())
    }

    /// `LRANGE key -count -1`; no command for a count of 0. A key of
    /// another type is an empty list.
    fn last(&self, key: &str, count: usize) -> BrokerResult<Vec<String>> {
        if !self.inner.is_up() {
            return Err(BrokerError::Unavailable);
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        let start = from_end(count);
        match self
            .inner
            .call_raw(&[b"LRANGE", key.as_bytes(), start.as_bytes(), b"-1"])?
        {
            Value::Array(Some(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::Bulk(Some(entry)) => utf8(entry),
                    other => Err(unexpected("LRANGE", Some(&other))),
                })
                .collect(),
            reply if is_wrong_type(&reply) => Ok(Vec::new()),
            Value::Error(e) => Err(BrokerError::Refused(e)),
            other => Err(unexpected("LRANGE", Some(&other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::url::tests::url;
    use super::*;
    use std::net::{SocketAddr, TcpListener};
    use std::sync::mpsc;

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_in_the_upper_half() {
        let options = RedisOptions::default();
        for attempt in 0..40 {
            let full =
                Duration::from_millis(100 * (1u64 << attempt.min(10))).min(Duration::from_secs(1));
            let mut seen = HashSet::new();
            for _ in 0..20 {
                let wait = backoff(&options, attempt);
                assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
                seen.insert(wait);
            }
            assert!(seen.len() > 1, "no jitter at attempt {attempt}");
        }
    }

    #[test]
    fn ttls_and_ranges_are_what_redis_accepts() {
        assert_eq!(millis(Duration::ZERO), "0");
        assert_eq!(millis(Duration::from_micros(1)), "1");
        assert_eq!(millis(Duration::from_millis(1500)), "1500");
        assert_eq!(millis(Duration::MAX), MAX_TTL_MS.to_string());
        assert_eq!(from_end(3), "-3");
        assert_eq!(from_end(usize::MAX), format!("-{}", i64::MAX));
    }

    /// A port with nothing listening.
    fn closed_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn without_redis_it_starts_at_once_down_and_refuses_at_once() {
        let started = Instant::now();
        let broker = RedisBroker::new(
            url("127.0.0.1", closed_port(), 0, None, None),
            RedisOptions::default(),
        );
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(broker.state(), BrokerState::Down);
        assert!(matches!(
            broker.publish("c", b"x"),
            Err(BrokerError::Unavailable)
        ));
        assert_eq!(broker.stats().dropped, 1);
        let asked = Instant::now();
        assert!(matches!(
            broker.claim("k", "me", Duration::from_secs(1)),
            Err(BrokerError::Unavailable)
        ));
        assert!(matches!(broker.last("k", 0), Err(BrokerError::Unavailable)));
        assert!(asked.elapsed() < Duration::from_millis(100));
        let deadline = Instant::now() + WAIT;
        while broker.last_error().is_none() {
            assert!(Instant::now() < deadline, "no connection error recorded");
            thread::yield_now();
        }
        assert!(matches!(broker.last_error(), Some(BrokerError::Io(_))));
        assert!(!broker.wait_for(BrokerState::Up, Duration::from_millis(50)));
        assert!(format!("{broker:?}").contains("Down"));
    }

    /// A stand-in for Redis that answers each command with `reply(args)`.
    fn fake_redis(reply: fn(&[Vec<u8>]) -> Vec<u8>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                thread::spawn(move || {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut chunk) {
                        buffer.extend_from_slice(&chunk[..n]);
                        while let Ok(Decoded::Complete(Value::Array(Some(items)), used)) =
                            resp::parse(&buffer)
                        {
                            let args: Vec<Vec<u8>> = items
                                .into_iter()
                                .filter_map(|item| match item {
                                    Value::Bulk(Some(arg)) => Some(arg),
                                    _ => None,
                                })
                                .collect();
                            if stream.write_all(&reply(&args)).is_err() {
                                return;
                            }
                            buffer.drain(..used);
                        }
                    }
                });
            }
        });
        address
    }

    fn fake_options() -> RedisOptions {
        RedisOptions {
            ping_interval: Duration::from_millis(100),
            ..RedisOptions::default()
        }
    }

    #[test]
    fn odd_replies_are_protocol_errors_and_garbage_takes_it_down_without_panicking() {
        let address =
            fake_redis(
                |args| match (args[0].as_slice(), args.get(1).map(Vec::as_slice)) {
                    (b"PING", _) => b"+PONG\r\n".to_vec(),
                    (b"GET", Some(b"latin1")) => b"$2\r\n\xe9t\r\n".to_vec(),
                    (b"GET", Some(b"garbage")) => b"?what\r\n".to_vec(),
                    (b"GET", _) => b"$-1\r\n".to_vec(),
                    (b"INCR", _) => b":-5\r\n".to_vec(),
                    _ => b"-ERR unknown command\r\n".to_vec(),
                },
            );
        let broker = RedisBroker::new(
            url("127.0.0.1", address.port(), 0, None, None),
            fake_options(),
        );
        assert!(broker.wait_for(BrokerState::Up, WAIT));
        // Odd but in step: an error for the caller, the connection stays.
        assert!(matches!(
            broker.holder("latin1"),
            Err(BrokerError::Protocol(_))
        ));
        assert!(matches!(
            broker.increment("n"),
            Err(BrokerError::Protocol(_))
        ));
        assert!(matches!(
            broker.release("k", "me"),
            Err(BrokerError::Refused(_))
        ));
        assert_eq!(broker.holder("none").unwrap(), None);
        assert_eq!(broker.state(), BrokerState::Up);
        // Not RESP: the connection cannot be trusted; down, then back.
        assert!(matches!(
            broker.holder("garbage"),
            Err(BrokerError::Protocol(_))
        ));
        assert_eq!(broker.state(), BrokerState::Down);
        assert!(matches!(
            broker.holder("none"),
            Err(BrokerError::Unavailable)
        ));
        assert!(broker.wait_for(BrokerState::Up, WAIT));
        let deadline = Instant::now() + WAIT;
        while broker.stats().reconnects < 1 {
            assert!(Instant::now() < deadline);
            thread::yield_now();
        }
    }

    #[test]
    fn messages_reach_callbacks_and_a_bad_push_takes_it_down() {
        let address = fake_redis(|args| {
            let channel = args.get(1).cloned().unwrap_or_default();
            let confirm = |out: &mut Vec<u8>| {
                Value::Array(Some(vec![
                    Value::Bulk(Some(b"subscribe".to_vec())),
                    Value::Bulk(Some(channel.clone())),
                    Value::Integer(1),
                ]))
                .encode(out)
            };
            let mut out = Vec::new();
            match (args[0].as_slice(), channel.as_slice()) {
                (b"PING", _) => out.extend_from_slice(b"+PONG\r\n"),
                (b"SUBSCRIBE", b"bad") => {
                    confirm(&mut out);
                    out.extend_from_slice(b"*2\r\n:1\r\n:2\r\n");
                }
                (b"SUBSCRIBE", _) => {
                    confirm(&mut out);
                    out.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n");
                }
                _ => out.extend_from_slice(b"-ERR unknown command\r\n"),
            }
            out
        });
        let broker = RedisBroker::new(
            url("127.0.0.1", address.port(), 0, None, None),
            fake_options(),
        );
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        broker.subscribe(
            "c",
            Arc::new(move |payload: &[u8]| {
                let _ = lock(&tx).send(payload.to_vec());
            }),
        );
        assert!(broker.wait_for(BrokerState::Up, WAIT));
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), b"hi");
        assert!(broker.stats().received >= 1);
        broker.subscribe("bad", Arc::new(|_: &[u8]| {}));
        assert!(broker.wait_for(BrokerState::Down, WAIT));
        let deadline = Instant::now() + WAIT;
        while !matches!(broker.last_error(), Some(BrokerError::Protocol(_))) {
            assert!(Instant::now() < deadline, "{:?}", broker.last_error());
            thread::yield_now();
        }
    }
}
