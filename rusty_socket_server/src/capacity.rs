//! How many connections this server takes, and what it does with the rest.
//!
//! At bind time the server asks the core ([`rusty_socket_core::capacity`])
//! how many connections the operating system lets it hold, given what one
//! costs here ([`costs`]), and keeps the smaller of that and
//! [`crate::ServerConfig::max_connections`]. A thread the machine cannot
//! give is never started: on Linux such a thread can abort the whole
//! process inside `std`, beyond the reach of any `catch_unwind`.
//!
//! Past the capacity a client gets `503 Service Unavailable` with
//! `Retry-After: 5` ([`RETRY_AFTER_SECS`]), either after its request head
//! (the slot check in [`crate::session`]) or, when even the threads for
//! handshakes are taken, at once from the accept loop, without a thread.
//! Such refusals, and `accept` failing for want of descriptors or memory,
//! are logged once per episode ([`Refusals`]), not once per client.

use crate::config::ServerConfig;
use rusty_socket_core::capacity::{self, Capacity, Costs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Threads a connection costs for its whole life: its reader. Its frames
/// are written by the writers every connection shares ([`crate::writer`]).
pub(crate) const CONNECTION_THREADS: u64 = 1;

/// Writer threads shared by all connections, whatever their number: the
/// pool ([`ServerConfig::writer_threads`]), the threads that take over a
/// slow client ([`ServerConfig::max_slow_writers`]), and the closer. Counted even before
/// they exist, so that the capacity does not shrink when they arrive.
pub(crate) fn writer_threads(config: &ServerConfig) -> u64 {
    // The one closer thread, which shuts down the sockets of peers that
    // do not answer our close, comes with them.
    (config.writer_threads + config.max_slow_writers + 1) as u64
}

/// Memory one connection may hold at its peak. An idle connection measured
/// about 25 KiB resident (its stack pages, queue and state); a busy one adds
/// a read buffer of up to 64 KiB and a writer batch, but they are freed when
/// it falls silent and not every connection peaks at once. 64 KiB is the
/// estimate; the core leaves a quarter of `MemAvailable` on top.
const MEMORY_PER_CONNECTION: u64 = 64 << 10;

/// The `Retry-After` of every 503 the server answers for want of capacity,
/// in seconds: long enough that a client retrying in a loop does not add to
/// a flood, short enough that a connection that closed meanwhile is reused
/// soon.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// What a connection, and the server around the connections, costs:
/// [`CONNECTION_THREADS`] threads and one descriptor (the socket) per
/// connection; fixed, the [`writer_threads`], one thread for each of
/// [`ServerConfig::max_handshakes`] sockets in their handshake (a handshake
/// runs on the thread that becomes the reader, and may still run when all
/// connection slots are taken, to be answered 503), and the accept loop.
pub(crate) fn costs(config: &ServerConfig) -> Costs {
    Costs {
        threads_per_connection: CONNECTION_THREADS,
        fixed_threads: writer_threads(config) + config.max_handshakes as u64 + 1,
        files_per_connection: 1,
        memory_per_connection: MEMORY_PER_CONNECTION,
        ..Costs::default()
    }
}

/// The capacity of this process for `config`: what the OS allows, or
/// [`ServerConfig::max_connections`] if lower.
pub(crate) fn measure(config: &ServerConfig) -> Capacity {
    capacity::measure(&costs(config), Some(config.max_connections as u64))
}

/// Connections refused for want of capacity, logged once per episode: one
/// line when refusals start, one when a connection is admitted again, with
/// the number refused in between.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    /// Whether an episode is under way.
    active: AtomicBool,
    /// Refused in the current episode.
    in_episode: AtomicU64,
    /// Refused since the server started (reported in `/stats`).
    total: AtomicU64,
}

impl Refusals {
    /// Counts a refusal; logs `why` if it starts an episode.
    pub(crate) fn refused(&self, why: std::fmt::Arguments<'_>) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.in_episode.fetch_add(1, Ordering::AcqRel);
        if !self.active.swap(true, Ordering::AcqRel) {
            crate::log::server(format_args!(
                "refusing connections ({why}); logging once until one is admitted again"
            ));
        }
    }

    /// A connection was admitted: ends the episode, if one is under way. A
    /// single load when none is, so it costs nothing on the common path.
    /// (A refusal racing with the end may be counted in the next episode.)
    pub(crate) fn admitted(&self) {
        if self.active.load(Ordering::Acquire) && self.active.swap(false, Ordering::AcqRel) {
            let refused = self.in_episode.swap(0, Ordering::AcqRel);
            crate::log::server(format_args!(
                "admitting connections again; {refused} refused meanwhile"
            ));
        }
    }

    /// Refusals since the server started.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_refusals_across_episodes() {
        let refusals = Refusals::default();
        refusals.admitted();
        assert_eq!(refusals.total(), 0);
        for _ in 0..3 {
            refusals.refused(format_args!("test"));
        }
        assert!(refusals.active.load(Ordering::Acquire));
        assert_eq!(refusals.in_episode.load(Ordering::Acquire), 3);
        refusals.admitted();
        assert!(!refusals.active.load(Ordering::Acquire));
        assert_eq!(refusals.in_episode.load(Ordering::Acquire), 0);
        refusals.refused(format_args!("test"));
        assert_eq!(refusals.total(), 4);
        assert_eq!(refusals.in_episode.load(Ordering::Acquire), 1);
    }

    #[test]
    fn the_server_costs_its_fixed_threads() {
        let config = ServerConfig::default()
            .max_handshakes(100)
            .writer_threads(3)
            .max_slow_writers(20);
        let server = costs(&config);
        assert_eq!(server.fixed_threads, 3 + 20 + 1 + 100 + 1);
        assert_eq!(server.threads_per_connection, 1);
        let capacity = measure(&config.max_connections(7));
        assert!(capacity.connections <= 7);
    }
}
