//! Server-wide counters: atomics bumped by every connection thread, read as
//! a [`Stats`] snapshot or as the JSON served at `GET /stats`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A snapshot of the server's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// WebSocket connections open now.
    pub connections: u64,
    /// WebSocket connections accepted (upgraded) since the server started.
    pub total_accepted: u64,
    /// Text and binary messages received.
    pub messages_in: u64,
    /// Text and binary messages queued for sending, counted once per
    /// recipient (a broadcast to 10 clients counts 10).
    pub messages_out: u64,
    /// Payload bytes of the messages received.
    pub bytes_in: u64,
    /// Payload bytes of the messages queued for sending, per recipient.
    pub bytes_out: u64,
    /// Time since the server was bound.
    pub uptime: Duration,
}

impl Stats {
    /// The snapshot as the JSON object served at `GET /stats`:
    ///
    /// ```
    /// # use rusty_socket_server::Stats;
    /// # use std::time::Duration;
    /// let stats = Stats { connections: 2, total_accepted: 5, messages_in: 7, messages_out: 9,
    ///                     bytes_in: 70, bytes_out: 90, uptime: Duration::from_secs(3) };
    /// assert_eq!(stats.to_json(), r#"{"connections":2,"total_accepted":5,"messages_in":7,"messages_out":9,"bytes_in":70,"bytes_out":90,"uptime_secs":3}"#);
    /// ```
    pub fn to_json(&self) -> String {
        format!(
            "{{\"connections\":{},\"total_accepted\":{},\"messages_in\":{},\"messages_out\":{},\"bytes_in\":{},\"bytes_out\":{},\"uptime_secs\":{}}}",
            self.connections,
            self.total_accepted,
            self.messages_in,
            self.messages_out,
            self.bytes_in,
            self.bytes_out,
            self.uptime.as_secs()
        )
    }
}

/// The live counters.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) connections: AtomicU64,
    pub(crate) total_accepted: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    started: Instant,
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            connections: AtomicU64::new(0),
            total_accepted: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn queued(&self, messages: u64, bytes: u64) {
        if messages > 0 {
            self.messages_out.fetch_add(messages, Relaxed);
            self.bytes_out.fetch_add(bytes, Relaxed);
        }
    }

    /// Takes back what [`Counters::queued`] counted for a message that could
    /// not be queued after all.
    pub(crate) fn unqueued(&self, messages: u64, bytes: u64) {
        if messages > 0 {
            self.messages_out.fetch_sub(messages, Relaxed);
            self.bytes_out.fetch_sub(bytes, Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            connections: self.connections.load(Relaxed),
            total_accepted: self.total_accepted.load(Relaxed),
            messages_in: self.messages_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            uptime: self.started.elapsed(),
        }
    }
}
