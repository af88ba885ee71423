//! What the unit tests of the reader and the writer share: a [`Conn`]
//! without a socket, a server's [`Shared`] state without a listener, and
//! frames as a client sends them.

use crate::config::ServerConfig;
use crate::conn::{Conn, Take, Wire};
use crate::handler::{ConnectionId, ConnectionInfo, Handler};
use crate::shared::Shared;
use crate::writer::{Settings, Writers};
use rusty_socket_core::frame::encode_frame;
use rusty_socket_core::OpCode;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// A socket that records what is written to it and whether it was hung
/// up. A stalled line takes no bytes: under a short write timeout (a pool
/// writer's) a write fails at once with `WouldBlock`, as a socket's does
/// when the timeout passes with the peer's window full; under a long one (a
/// slow client's writer) it waits until the line is opened again or the
/// timeout passes. With a budget, it stalls by itself after that many
/// bytes.
#[derive(Debug, Default)]
pub(crate) struct Line {
    state: Mutex<LineState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct LineState {
    hung_up: bool,
    stalled: bool,
    /// Bytes still taken before the line stalls by itself.
    budget: Option<usize>,
    timeout: Option<Duration>,
    written: Vec<u8>,
    writes: usize,
    timeouts: Vec<Duration>,
}

impl Line {
    fn state(&self) -> std::sync::MutexGuard<'_, LineState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(crate) fn is_hung_up(&self) -> bool {
        self.state().hung_up
    }
    /// Everything written so far.
    pub(crate) fn written(&self) -> Vec<u8> {
        self.state().written.clone()
    }
    /// The number of writes that took bytes.
    pub(crate) fn writes(&self) -> usize {
        self.state().writes
    }
    /// The write timeouts set, in order.
    pub(crate) fn timeouts(&self) -> Vec<Duration> {
        self.state().timeouts.clone()
    }
    /// Stops (or resumes, without a budget) taking bytes.
    pub(crate) fn stall(&self, stalled: bool) {
        let mut state = self.state();
        state.stalled = stalled;
        state.budget = None;
        drop(state);
        self.changed.notify_all();
    }
    /// Takes `n` more bytes, then stalls.
    pub(crate) fn stall_after(&self, n: usize) {
        self.state().budget = Some(n);
    }
    /// Waits up to `limit` until `len` bytes have been written or the line
    /// was hung up; returns what was written.
    pub(crate) fn wait_written(&self, len: usize, limit: Duration) -> Vec<u8> {
        let deadline = Instant::now() + limit;
        let mut state = self.state();
        while state.written.len() < len && !state.hung_up {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
        state.written.clone()
    }
}

impl Wire for Line {
    fn write(&self, bytes: &[u8]) -> io::Result<usize> {
        let mut state = self.state();
        let timeout = state.timeout.unwrap_or(Duration::ZERO);
        let deadline = Instant::now() + timeout;
        while state.stalled && !state.hung_up {
            let now = Instant::now();
            if timeout < Duration::from_secs(1) || now >= deadline {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
        if state.hung_up {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = state
            .budget
            .map_or(bytes.len(), |left| left.min(bytes.len()));
        if let Some(left) = &mut state.budget {
            *left -= n;
            if *left == 0 {
                state.stalled = true;
            }
        }
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        state.written.extend_from_slice(&bytes[..n]);
        state.writes += 1;
        drop(state);
        self.changed.notify_all();
        Ok(n)
    }
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        let mut state = self.state();
        state.timeout = Some(timeout);
        state.timeouts.push(timeout);
        Ok(())
    }
    fn hang_up(&self) {
        self.state().hung_up = true;
        self.changed.notify_all();
    }
}

const ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9);

/// The writers' settings in unit tests.
pub(crate) const SETTINGS: Settings = Settings {
    max_batch: 64 << 10,
    pool_timeout: Duration::from_millis(20),
    slow_timeout: Duration::from_secs(5),
    max_slow: 2,
    close_timeout: Duration::from_secs(5),
};

/// Connection `id` with a queue of `queue_len` slots, on writers that have
/// no threads (a test drives them), and its socket.
pub(crate) fn conn(id: u64, queue_len: usize) -> (Arc<Conn>, Arc<Line>) {
    conn_on(id, queue_len, Arc::new(Writers::new(SETTINGS)))
}

/// As [`conn`], on the given writers.
pub(crate) fn conn_on(id: u64, queue_len: usize, writers: Arc<Writers>) -> (Arc<Conn>, Arc<Line>) {
    let line = Arc::new(Line::default());
    let info = ConnectionInfo {
        id: ConnectionId(id),
        peer_addr: ADDR,
        client_addr: ADDR.ip(),
        target: "/".to_owned(),
        opened_at: SystemTime::now(),
        protocol: None,
        permessage_deflate: None,
    };
    let socket: Arc<dyn Wire> = Arc::clone(&line) as Arc<Line>;
    (Conn::new(info, socket, queue_len, writers, None), line)
}

/// A server's state for `handler`, with `conns` registered.
pub(crate) fn shared(handler: impl Handler, conns: &[&Arc<Conn>]) -> Arc<Shared> {
    shared_with(ServerConfig::default(), handler, conns)
}

/// As [`shared`], with `config`.
pub(crate) fn shared_with(
    config: ServerConfig,
    handler: impl Handler,
    conns: &[&Arc<Conn>],
) -> Arc<Shared> {
    let shared = Shared::new(config.sanitized(), Box::new(handler), ADDR);
    {
        let mut registry = shared.registry.write().unwrap();
        for conn in conns {
            registry.insert(conn.id(), Arc::clone(conn));
        }
    }
    Arc::new(shared)
}

/// A frame as a client sends it: masked (section 5.3).
pub(crate) fn client_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, true, opcode, payload, Some([1, 2, 3, 4]));
    out
}

/// A frame as the server sends it: unmasked.
pub(crate) fn server_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, true, opcode, payload, None);
    out
}

/// The bytes of everything queued for `conn`, in order, each item on its
/// own (taken as a writer would, without writing it).
pub(crate) fn drain(conn: &Conn) -> Vec<Vec<u8>> {
    let mut items = Vec::new();
    loop {
        match conn.take(usize::MAX, true) {
            Take::Items(taken) => items.extend(taken.iter().map(|item| item.bytes().to_vec())),
            Take::Unsent(bytes) => items.push(bytes),
            Take::Urgent(bytes) => items.push(bytes.to_vec()),
            Take::Idle | Take::Finished => return items,
        }
    }
}
