//! The state every thread of one server shares ([`Shared`]): the
//! configuration, the handler, the registry of open connections, the
//! counters, and the count of live server threads that lets a shutdown wait
//! for all of them to end.

use crate::capacity::Refusals;
use crate::config::ServerConfig;
use crate::conn::Conn;
use crate::error::Result;
use crate::frames::Frames;
use crate::handler::{ConnectionId, Handler};
use crate::stats::{Counters, Stats};
use crate::writer::{Settings, Writers};
use rusty_socket_core::capacity::Capacity;
use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

thread_local! {
    /// Set on every thread the server spawns, so that a shutdown requested
    /// from a handler does not wait for its own thread to end.
    static SERVER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is one the server spawned.
pub(crate) fn on_server_thread() -> bool {
    SERVER_THREAD.with(Cell::get)
}

/// The state every thread of one server shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) local_addr: SocketAddr,
    pub(crate) handler: Box<dyn Handler>,
    /// The open connections. Broadcasts take the read lock, and only queue
    /// (never write to a socket) while holding it.
    pub(crate) registry: RwLock<HashMap<ConnectionId, Arc<Conn>>>,
    /// Sockets still in their handshake, so a shutdown can cut them off.
    pub(crate) pending: Mutex<HashMap<u64, Arc<TcpStream>>>,
    pub(crate) handshaking: AtomicUsize,
    /// Open connections (and upgrades past the per-address check) per
    /// client address, for [`ServerConfig::max_connections_per_ip`]; empty
    /// without that limit. An address leaves the map with its last
    /// connection, so it holds no more entries than connections.
    pub(crate) per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// How many connections this server takes: what the OS allows, or
    /// `max_connections` if lower, measured when it was bound.
    pub(crate) capacity: Capacity,
    /// Clients refused for want of capacity, logged once per episode.
    pub(crate) refusals: Refusals,
    pub(crate) counters: Counters,
    pub(crate) next_id: AtomicU64,
    pub(crate) shutting_down: AtomicBool,
    /// The writer threads and their ready list.
    pub(crate) writers: Arc<Writers>,
    /// Live server threads (accept loop, readers, writers).
    threads: Mutex<usize>,
    threads_done: Condvar,
}

/// Takes a lock even if a thread panicked while holding it: every structure
/// behind our locks stays consistent between statements.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// The state of a server serving `handler` with `config` (already
    /// sanitized) on `local_addr`, with no connection and no thread yet.
    pub(crate) fn new(
        config: ServerConfig,
        handler: Box<dyn Handler>,
        local_addr: SocketAddr,
    ) -> Shared {
        let writers = Arc::new(Writers::new(Settings {
            max_batch: config.websocket.write_buffer_size.max(1),
            pool_timeout: config.slow_write_after,
            slow_timeout: config.write_timeout,
            max_slow: config.max_slow_writers,
            close_timeout: config.close_timeout,
        }));
        Shared {
            capacity: crate::capacity::measure(&config),
            refusals: Refusals::default(),
            config,
            local_addr,
            handler,
            registry: RwLock::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            handshaking: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            counters: Counters::new(),
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            writers,
            threads: Mutex::new(0),
            threads_done: Condvar::new(),
        }
    }
    /// Spawns a server thread with the configured stack size, counted until
    /// it ends (even by a panic).
    pub(crate) fn spawn<T: Send + 'static>(
        self: &Arc<Self>,
        name: &str,
        body: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<JoinHandle<T>> {
        *lock(&self.threads) += 1;
        let guard = ThreadGuard(Arc::clone(self));
        let spawned = thread::Builder::new()
            .name(name.to_owned())
            .stack_size(self.config.stack_size)
            .spawn(move || {
                let _guard = guard;
                SERVER_THREAD.with(|flag| flag.set(true));
                body()
            });
        // On failure the closure, and with it the guard, has been dropped.
        spawned
    }

    /// Counts the calling thread as a server thread until the guard is
    /// dropped (the accept loop, when [`crate::Server::run`] runs it here).
    pub(crate) fn count_this_thread(self: &Arc<Self>) -> ThreadGuard {
        *lock(&self.threads) += 1;
        ThreadGuard(Arc::clone(self))
    }

    /// Waits until every server thread has ended, or `timeout` has passed;
    /// returns whether they all ended.
    pub(crate) fn wait_for_threads(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut threads = lock(&self.threads);
        while *threads > 0 {
            match deadline {
                None => {
                    threads = self
                        .threads_done
                        .wait(threads)
                        .unwrap_or_else(|p| p.into_inner())
                }
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    threads = self
                        .threads_done
                        .wait_timeout(threads, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        true
    }

    /// Queues `frames` for every connection `keep` accepts, counting
    /// `counts` (data messages, payload bytes) as sent for each. Returns how
    /// many connections it was queued for.
    pub(crate) fn enqueue_all(
        &self,
        frames: &Frames,
        mut keep: impl FnMut(ConnectionId) -> bool,
        counts: (u64, u64),
    ) -> usize {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        let mut queued = 0;
        for (id, conn) in registry.iter() {
            if keep(*id) && self.enqueue_frames_counted(conn, frames, counts).is_ok() {
                queued += 1;
            }
        }
        queued
    }

    /// Queues `frames` for `conn` in the encoding it needs. The counters go
    /// up *before* they are queued (and down again if they could not be):
    /// once queued, a writer may deliver them at once, and a peer that has
    /// received a message must find it counted in
    /// [`crate::ServerHandle::stats`].
    pub(crate) fn enqueue_frames_counted(
        &self,
        conn: &Conn,
        frames: &Frames,
        (messages, bytes): (u64, u64),
    ) -> Result<()> {
        self.counters.queued(messages, bytes);
        let queued = conn.enqueue_frames(frames);
        if queued.is_err() {
            self.counters.unqueued(messages, bytes);
        }
        queued
    }

    /// The number of open connections, not closing, that `keep` accepts.
    pub(crate) fn open_connections(&self, mut keep: impl FnMut(ConnectionId) -> bool) -> usize {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        registry
            .iter()
            .filter(|(id, conn)| keep(**id) && !conn.is_closing())
            .count()
    }

    /// A snapshot of the counters, the capacity and the current use.
    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot(
            self.capacity,
            self.handshaking.load(std::sync::atomic::Ordering::Acquire) as u64,
            self.refusals.total(),
            self.writers.slow_writers() as u64,
        )
    }

    pub(crate) fn connection(&self, id: ConnectionId) -> Option<Arc<Conn>> {
        self.registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }
}

/// Counts a server thread down when it ends.
pub(crate) struct ThreadGuard(Arc<Shared>);

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        let mut threads = lock(&self.0.threads);
        *threads -= 1;
        if *threads == 0 {
            self.0.threads_done.notify_all();
        }
    }
}
