//! Server-wide counters: atomics bumped by every connection thread, read as
//! a [`Stats`] snapshot or as the JSON served at `GET /stats`, with the
//! server's capacity and what it uses now.

use rusty_socket_core::capacity::Capacity;
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
    /// Sockets in their opening handshake (or a plain HTTP request) now.
    pub handshakes: u64,
    /// Clients refused for want of capacity since the server started: 503s
    /// past [`Stats::capacity`] or [`crate::ServerConfig::max_handshakes`],
    /// and `accept` failures for want of descriptors or memory.
    pub refused: u64,
    /// Threads of the whole process now, where the OS tells (Linux).
    pub threads: Option<u64>,
    /// Writer threads serving one slow client each now (at most
    /// [`crate::ServerConfig::max_slow_writers`]).
    pub slow_writers: u64,
    /// The most connections the server takes, and the limit that decided
    /// it (measured at bind time): the OS limits, or
    /// [`crate::ServerConfig::max_connections`] if lower.
    pub capacity: Capacity,
}

impl Stats {
    /// The snapshot as the JSON object served at `GET /stats`. `capacity`
    /// is the number, `capacity_limit` the [`Limit::name`] of what bound
    /// it, `capacity_reason` the sentence; `threads` is `null` where
    /// unknown:
    ///
    /// ```
    /// # use rusty_socket_server::Stats;
    /// # use std::time::Duration;
    /// use rusty_socket_core::capacity::{compute, Costs, Limits, Usage};
    /// let limits = Limits { open_files: Some(256), ..Limits::default() };
    /// let capacity = compute(&limits, &Usage::default(), &Costs::default(), None);
    /// let stats = Stats { connections: 2, total_accepted: 5, messages_in: 7, messages_out: 9,
    ///                     bytes_in: 70, bytes_out: 90, uptime: Duration::from_secs(3),
    ///                     handshakes: 1, refused: 4, threads: None, slow_writers: 0, capacity };
    /// assert_eq!(
    ///     stats.to_json(),
    ///     concat!(
    ///         r#"{"connections":2,"total_accepted":5,"messages_in":7,"messages_out":9,"#,
    ///         r#""bytes_in":70,"bytes_out":90,"uptime_secs":3,"handshakes":1,"refused":4,"#,
    ///         r#""threads":null,"slow_writers":0,"capacity":224,"capacity_limit":"files","#,
    ///         r#""capacity_reason":"224 connections, limited by the file limit, ulimit -n (256 files, 1 per connection)"}"#,
    ///     )
    /// );
    /// ```
    ///
    /// [`Limit::name`]: rusty_socket_core::capacity::Limit::name
    pub fn to_json(&self) -> String {
        let threads = match self.threads {
            Some(n) => n.to_string(),
            None => "null".to_owned(),
        };
        // The reason is our own text, without quotes or backslashes; should
        // one ever slip in, it is replaced rather than break the JSON.
        format!(
            "{{\"connections\":{},\"total_accepted\":{},\"messages_in\":{},\"messages_out\":{},\"bytes_in\":{},\"bytes_out\":{},\"uptime_secs\":{},\"handshakes\":{},\"refused\":{},\"threads\":{threads},\"slow_writers\":{},\"capacity\":{},\"capacity_limit\":\"{}\",\"capacity_reason\":\"{}\"}}",
            self.connections,
            self.total_accepted,
            self.messages_in,
            self.messages_out,
            self.bytes_in,
            self.bytes_out,
            self.uptime.as_secs(),
            self.handshakes,
            self.refused,
            self.slow_writers,
            self.capacity.connections,
            self.capacity.limit.name(),
            self.capacity.to_string().replace(['"', '\\'], "'"),
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

    /// The counters, with the `capacity`, the `handshakes` in progress, the
    /// clients `refused`, the `slow_writers` running, and the process's
    /// threads read now.
    pub(crate) fn snapshot(
        &self,
        capacity: Capacity,
        handshakes: u64,
        refused: u64,
        slow_writers: u64,
    ) -> Stats {
        Stats {
            connections: self.connections.load(Relaxed),
            total_accepted: self.total_accepted.load(Relaxed),
            messages_in: self.messages_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            uptime: self.started.elapsed(),
            handshakes,
            refused,
            threads: rusty_socket_core::capacity::process_threads(),
            slow_writers,
            capacity,
        }
    }
}
