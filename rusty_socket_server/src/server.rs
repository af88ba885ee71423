//! The listening side: [`Server`] binds and runs the accept loop, and
//! [`ServerHandle`] is how the application (and its [`Handler`]) sends,
//! broadcasts, closes, inspects and shuts down.
//!
//! The accept loop only accepts: each socket gets its own reader thread at
//! once, which does the handshake, so a slow or silent client never delays
//! the next one. A failed `accept` (out of file descriptors, say) is logged
//! and retried after a short pause; it never ends the loop.

use crate::config::ServerConfig;
use crate::conn::{Conn, Outgoing};
use crate::error::{Error, Result};
use crate::handler::{ConnectionId, ConnectionInfo, Handler};
use crate::stats::{Counters, Stats};
use rusty_socket_core::frame::encode_frame;
use rusty_socket_core::{CloseCode, CloseFrame, Config, Message, OpCode};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

thread_local! {
    /// Set on every thread the server spawns, so that a shutdown requested
    /// from a handler does not wait for its own thread to end.
    static SERVER_THREAD: Cell<bool> = const { Cell::new(false) };
}

thread_local! {
    /// Broadcasts made by a reader thread while it handles one read's worth
    /// of messages, sent together when that read is handled (see
    /// [`ServerHandle::broadcast`]). `None` outside of a reader's batch.
    static DEFERRED: RefCell<Option<Deferred>> = const { RefCell::new(None) };
}

/// Who a broadcast goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recipients {
    All,
    Except(ConnectionId),
}

/// Broadcasts not yet queued: consecutive ones with the same recipients, on
/// the same server, as one buffer of frames.
#[derive(Default)]
struct Deferred {
    pending: Option<(Arc<Shared>, Recipients)>,
    frames: Vec<u8>,
    messages: u64,
    bytes: u64,
}

/// A deferred batch is queued at once beyond this size.
const MAX_DEFERRED: usize = 64 << 10;

/// Marks the calling (reader) thread as handling a read's worth of messages
/// until the guard is dropped; [`flush_deferred`] sends what accumulated.
pub(crate) struct Batching;

impl Batching {
    pub(crate) fn start() -> Batching {
        DEFERRED.with(|d| *d.borrow_mut() = Some(Deferred::default()));
        Batching
    }
}

impl Drop for Batching {
    fn drop(&mut self) {
        flush_deferred();
        DEFERRED.with(|d| *d.borrow_mut() = None);
    }
}

/// Queues the broadcasts deferred on this thread, if any.
pub(crate) fn flush_deferred() {
    let taken = DEFERRED.with(|d| {
        let mut d = d.borrow_mut();
        let d = d.as_mut()?;
        let (shared, recipients) = d.pending.take()?;
        let frames: Arc<[u8]> = Arc::from(d.frames.as_slice());
        if d.frames.capacity() > MAX_DEFERRED {
            d.frames = Vec::new();
        } else {
            d.frames.clear();
        }
        let counts = (d.messages, d.bytes);
        d.messages = 0;
        d.bytes = 0;
        Some((shared, recipients, frames, counts))
    });
    if let Some((shared, recipients, frames, (messages, bytes))) = taken {
        shared.enqueue_all(
            &frames,
            |id| match recipients {
                Recipients::All => true,
                Recipients::Except(except) => id != except,
            },
            (messages, bytes),
        );
    }
}

/// What one copy of `message` adds to the sent counters: (messages, bytes)
/// for text and binary, nothing for control frames.
fn data_counts(message: &Message) -> (u64, u64) {
    if message.is_data() {
        (1, message.len() as u64)
    } else {
        (0, 0)
    }
}

/// The state every thread of one server shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) core: Config,
    pub(crate) local_addr: SocketAddr,
    pub(crate) handler: Box<dyn Handler>,
    /// The open connections. Broadcasts take the read lock, and only queue
    /// (never write to a socket) while holding it.
    pub(crate) registry: RwLock<HashMap<ConnectionId, Arc<Conn>>>,
    /// Sockets still in their handshake, so a shutdown can cut them off.
    pub(crate) pending: Mutex<HashMap<u64, Arc<TcpStream>>>,
    pub(crate) handshaking: AtomicUsize,
    pub(crate) counters: Counters,
    pub(crate) next_id: AtomicU64,
    pub(crate) shutting_down: AtomicBool,
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

    fn wait_for_threads(&self, timeout: Option<Duration>) -> bool {
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

    /// Queues `frames` for every connection `keep` accepts; returns how
    /// many. Only queues: no socket is written while the lock is held.
    /// Queues `frames` for every connection `keep` accepts, counting
    /// `counts` (data messages, payload bytes) as sent for each. Returns how
    /// many connections it was queued for.
    fn enqueue_all(
        &self,
        frames: &Arc<[u8]>,
        mut keep: impl FnMut(ConnectionId) -> bool,
        counts: (u64, u64),
    ) -> u64 {
        let registry = self.registry.read().unwrap_or_else(|p| p.into_inner());
        let mut queued = 0;
        for (id, conn) in registry.iter() {
            if keep(*id)
                && self
                    .enqueue_counted(conn, Outgoing::Shared(Arc::clone(frames)), counts)
                    .is_ok()
            {
                queued += 1;
            }
        }
        queued
    }

    /// Queues `item` for `conn`. The counters go up *before* the item is
    /// queued (and down again if it could not be): once queued, a writer may
    /// deliver it at once, and a peer that has received a message must find
    /// it counted in [`ServerHandle::stats`].
    fn enqueue_counted(
        &self,
        conn: &Conn,
        item: Outgoing,
        (messages, bytes): (u64, u64),
    ) -> Result<()> {
        self.counters.queued(messages, bytes);
        let queued = conn.enqueue(item);
        if queued.is_err() {
            self.counters.unqueued(messages, bytes);
        }
        queued
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
struct ThreadGuard(Arc<Shared>);

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        let mut threads = lock(&self.0.threads);
        *threads -= 1;
        if *threads == 0 {
            self.0.threads_done.notify_all();
        }
    }
}

/// A bound server, not yet accepting. [`Server::run`] accepts on the
/// calling thread; [`Server::spawn`] on a thread of its own.
///
/// ```
/// use rusty_socket_server::{Handler, Server, ServerConfig};
/// struct Nothing;
/// impl Handler for Nothing {}
///
/// let server = Server::bind(ServerConfig::new("127.0.0.1:0"), Nothing)?;
/// let handle = server.spawn()?;
/// assert_eq!(handle.connection_count(), 0);
/// handle.shutdown(); // returns once every server thread has ended
/// # Ok::<(), rusty_socket_server::Error>(())
/// ```
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
}

impl Server {
    /// Binds `config.bind_addr` and prepares to serve `handler`.
    ///
    /// # Errors
    /// [`Error::Io`] if the address cannot be resolved or bound.
    pub fn bind(config: ServerConfig, handler: impl Handler) -> Result<Server> {
        let config = config.sanitized();
        let listener = TcpListener::bind(config.bind_addr.as_str())?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            core: config.core(),
            config,
            local_addr,
            handler: Box::new(handler),
            registry: RwLock::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            handshaking: AtomicUsize::new(0),
            counters: Counters::new(),
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            threads: Mutex::new(0),
            threads_done: Condvar::new(),
        });
        Ok(Server { shared, listener })
    }

    /// The address the server listens on (with the actual port when bound to
    /// port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// A handle to the server, usable before it runs.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Accepts connections on the calling thread until
    /// [`ServerHandle::shutdown`] is called.
    ///
    /// # Errors
    /// None at present: failures of single connections, and of `accept`
    /// itself, are logged and the loop goes on. The `Result` leaves room for
    /// fatal listener errors.
    pub fn run(self) -> Result<()> {
        *lock(&self.shared.threads) += 1;
        let guard = ThreadGuard(Arc::clone(&self.shared));
        accept_loop(&self.shared, &self.listener);
        drop(self.listener);
        drop(guard);
        Ok(())
    }

    /// Accepts connections on a new thread and returns at once.
    ///
    /// # Errors
    /// [`Error::Io`] if the thread cannot be spawned.
    pub fn spawn(self) -> Result<ServerHandle> {
        let handle = self.handle();
        let Server { shared, listener } = self;
        let accept_shared = Arc::clone(&shared);
        shared.spawn("ws-accept", move || accept_loop(&accept_shared, &listener))?;
        Ok(handle)
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    let mut next_pending = 0u64;
    loop {
        let accepted = listener.accept();
        if shared.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                crate::log::server(format_args!("accept failed: {e}"));
                // Out of file descriptors or memory: give the connections
                // that end meanwhile a chance to free some.
                if matches!(e.raw_os_error(), Some(23 | 24 | 12 | 105)) {
                    thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
        };
        if shared.handshaking.load(Ordering::Acquire) >= shared.config.max_handshakes {
            crate::log::peer(
                peer,
                format_args!("too many handshakes in progress; refused"),
            );
            crate::session::refuse_now(&stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let stream = Arc::new(stream);
        next_pending += 1;
        let pending_id = next_pending;
        shared.handshaking.fetch_add(1, Ordering::AcqRel);
        lock(&shared.pending).insert(pending_id, Arc::clone(&stream));
        let session_shared = Arc::clone(shared);
        let session_stream = Arc::clone(&stream);
        let spawned = shared.spawn("ws-reader", move || {
            crate::session::run(&session_shared, session_stream, peer, pending_id);
        });
        if let Err(e) = spawned {
            crate::log::peer(peer, format_args!("cannot spawn a thread: {e}"));
            lock(&shared.pending).remove(&pending_id);
            shared.handshaking.fetch_sub(1, Ordering::AcqRel);
            crate::session::refuse_now(&stream);
        }
    }
}

/// A cheap, cloneable handle to a running server: send to connections,
/// close them, read statistics, shut the server down. Every method may be
/// called from any thread, including from [`Handler`] callbacks.
///
/// Sending never blocks and never writes to a socket: it encodes the frame
/// and queues it for the connection's writer thread. A connection whose
/// queue is full is closed with 1008 (see [`ServerConfig::queue_len`]).
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

/// A message's frame, encoded once (servers do not mask, section 5.1).
fn encode(message: &Message) -> Result<Vec<u8>> {
    let (opcode, payload): (OpCode, &[u8]) = match message {
        Message::Text(text) => (OpCode::Text, text.as_bytes()),
        Message::Binary(data) => (OpCode::Binary, data),
        Message::Ping(data) => (OpCode::Ping, data),
        Message::Pong(data) => (OpCode::Pong, data),
        Message::Close(_) => return Err(Error::InvalidMessage("use ServerHandle::close")),
    };
    // Section 5.5: "All control frames MUST have a payload length of 125
    // bytes or less".
    if opcode.is_control() && payload.len() > 125 {
        return Err(Error::InvalidMessage(
            "control frame payload over 125 bytes",
        ));
    }
    let mut out = Vec::with_capacity(payload.len() + 10);
    encode_frame(&mut out, true, opcode, payload, None);
    Ok(out)
}

impl ServerHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> ServerHandle {
        ServerHandle { shared }
    }

    /// Queues `message` for connection `id`.
    ///
    /// # Errors
    /// [`Error::NotConnected`] for an unknown id, [`Error::Closing`] if the
    /// connection is closing, [`Error::QueueFull`] if its queue was full (it
    /// is then closed with 1008), [`Error::InvalidMessage`] for a close or an
    /// oversized ping or pong.
    pub fn send_to(&self, id: ConnectionId, message: impl Into<Message>) -> Result<()> {
        let message = message.into();
        flush_deferred();
        let conn = self.shared.connection(id).ok_or(Error::NotConnected(id))?;
        let frame = encode(&message)?;
        self.shared.enqueue_counted(
            &conn,
            Outgoing::Owned(frame.into_boxed_slice()),
            data_counts(&message),
        )
    }

    /// Queues `message` for every open connection. Returns the number of
    /// open connections it goes to. The frame is encoded once and its bytes
    /// shared by every queue: a broadcast costs one allocation, not one per
    /// recipient.
    ///
    /// Called from [`Handler::on_message`], broadcasts are gathered while
    /// the reader thread handles the messages of one `read`, and queued
    /// together when it has (or when 64 KiB have gathered, or before any
    /// other send from that thread, so the order of everything sent stays
    /// the order of the calls). A burst of K messages then wakes each
    /// recipient's writer once and costs it one `write`, not K.
    pub fn broadcast(&self, message: impl Into<Message>) -> usize {
        self.broadcast_to(Recipients::All, message.into())
    }

    /// Queues `message` for every open connection but `except`, as
    /// [`ServerHandle::broadcast`] does.
    pub fn broadcast_except(&self, except: ConnectionId, message: impl Into<Message>) -> usize {
        self.broadcast_to(Recipients::Except(except), message.into())
    }

    fn broadcast_to(&self, recipients: Recipients, message: Message) -> usize {
        let Ok(frame) = encode(&message) else {
            return 0;
        };
        let deferred = DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            let Some(d) = d.as_mut() else {
                return false;
            };
            let same = match &d.pending {
                None => true,
                Some((shared, pending)) => {
                    Arc::ptr_eq(shared, &self.shared) && *pending == recipients
                }
            };
            if !same || d.frames.len() + frame.len() > MAX_DEFERRED {
                return false;
            }
            if d.pending.is_none() {
                d.pending = Some((Arc::clone(&self.shared), recipients));
            }
            d.frames.extend_from_slice(&frame);
            if message.is_data() {
                d.messages += 1;
                d.bytes += message.len() as u64;
            }
            true
        });
        let registry_len = || {
            self.shared
                .registry
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .len()
        };
        if deferred {
            return match recipients {
                Recipients::All => registry_len(),
                Recipients::Except(id) => {
                    registry_len() - usize::from(self.shared.connection(id).is_some())
                }
            };
        }
        flush_deferred();
        let frame: Arc<[u8]> = Arc::from(frame);
        let queued = self.shared.enqueue_all(
            &frame,
            |id| match recipients {
                Recipients::All => true,
                Recipients::Except(except) => id != except,
            },
            data_counts(&message),
        );
        queued as usize
    }

    /// Queues `message` for every open connection for which `keep` returns
    /// true, at once. Returns the number of connections it was queued for;
    /// a close message, or a ping or pong over 125 bytes, is sent to nobody.
    pub fn broadcast_filter(
        &self,
        message: impl Into<Message>,
        keep: impl FnMut(ConnectionId) -> bool,
    ) -> usize {
        let message = message.into();
        let Ok(frame) = encode(&message) else {
            return 0;
        };
        flush_deferred();
        let frame: Arc<[u8]> = Arc::from(frame);
        let queued = self.shared.enqueue_all(&frame, keep, data_counts(&message));
        queued as usize
    }

    /// Starts closing connection `id` with `code` and `reason` (cut to 123
    /// bytes), after the messages already queued for it. Returns false if
    /// there is no such connection or it is already closing.
    /// [`Handler::on_close`] follows when the closing handshake is over.
    pub fn close(&self, id: ConnectionId, code: CloseCode, reason: &str) -> bool {
        // The broadcasts gathered so far go out first: `Conn::close` queues
        // them before the close frame.
        let Some(conn) = self.shared.connection(id) else {
            return false;
        };
        let code = if code.is_sendable() {
            code
        } else {
            CloseCode::NORMAL
        };
        conn.close(Some(CloseFrame::new(code, reason)))
    }

    /// The open connections, in no particular order.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let registry = self
            .shared
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner());
        registry.values().map(|conn| conn.info.clone()).collect()
    }

    /// What the server knows about connection `id`, if it is open.
    pub fn connection(&self, id: ConnectionId) -> Option<ConnectionInfo> {
        self.shared.connection(id).map(|conn| conn.info.clone())
    }

    /// The number of open connections.
    pub fn connection_count(&self) -> usize {
        self.shared
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// A snapshot of the server's counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Whether [`ServerHandle::shutdown`] has been called.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::Acquire)
    }

    /// Stops the server: no new connections are accepted, every open
    /// connection is sent close code 1001 (going away), and sockets still in
    /// their handshake are cut off. Returns when every server thread has
    /// ended: clients get [`ServerConfig::close_timeout`] to answer the
    /// close, after which their sockets are shut down.
    ///
    /// Called from a [`Handler`] callback, it starts the shutdown and returns
    /// without waiting (the calling thread is one of those to end).
    pub fn shutdown(&self) {
        flush_deferred();
        let shared = &self.shared;
        if !shared.shutting_down.swap(true, Ordering::AcqRel) {
            // Wake the accept loop with a connection of our own.
            let ip = match shared.local_addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            let wake = SocketAddr::new(ip, shared.local_addr.port());
            if let Err(e) = TcpStream::connect_timeout(&wake, Duration::from_secs(1)) {
                crate::log::server(format_args!("shutdown: cannot wake the accept loop: {e}"));
            }
            self.close_all(false);
        }
        if SERVER_THREAD.with(Cell::get) {
            return;
        }
        let grace = shared.config.close_timeout + Duration::from_millis(500);
        if !shared.wait_for_threads(Some(grace)) {
            self.close_all(true);
            shared.wait_for_threads(None);
        }
    }

    /// Sends 1001 to every connection and cuts off handshakes; with `force`,
    /// shuts every socket down instead.
    fn close_all(&self, force: bool) {
        let conns: Vec<Arc<Conn>> = {
            let registry = self
                .shared
                .registry
                .read()
                .unwrap_or_else(|p| p.into_inner());
            registry.values().cloned().collect()
        };
        for conn in conns {
            if force {
                conn.abandon();
                let _ = conn.stream.shutdown(Shutdown::Both);
            } else {
                conn.close(Some(CloseFrame::new(
                    CloseCode::GOING_AWAY,
                    "server shutting down",
                )));
            }
        }
        for stream in crate::server::lock(&self.shared.pending).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}
