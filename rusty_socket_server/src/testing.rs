//! What the unit tests of the reader and the writer share: a [`Conn`]
//! without a socket, a server's [`Shared`] state without a listener, and
//! frames as a client sends them.

use crate::config::ServerConfig;
use crate::conn::{Conn, HangUp, Outgoing};
use crate::handler::{ConnectionId, ConnectionInfo, Handler};
use crate::shared::Shared;
use rusty_socket_core::frame::encode_frame;
use rusty_socket_core::OpCode;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::SystemTime;

/// A socket that only records whether it was hung up.
#[derive(Debug, Default)]
pub(crate) struct Line {
    hung_up: AtomicBool,
}

impl Line {
    pub(crate) fn is_hung_up(&self) -> bool {
        self.hung_up.load(Ordering::Acquire)
    }
}

impl HangUp for Line {
    fn hang_up(&self) {
        self.hung_up.store(true, Ordering::Release);
    }
}

const ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9);

/// Connection `id` with a queue of `queue_len` slots, the other end of its
/// queue, and its socket.
pub(crate) fn conn(id: u64, queue_len: usize) -> (Conn, Receiver<Outgoing>, Arc<Line>) {
    let (queue, outgoing) = mpsc::sync_channel(queue_len);
    let line = Arc::new(Line::default());
    let info = ConnectionInfo {
        id: ConnectionId(id),
        peer_addr: ADDR,
        target: "/".to_owned(),
        opened_at: SystemTime::now(),
        protocol: None,
    };
    let socket: Arc<dyn HangUp> = Arc::clone(&line) as Arc<Line>;
    (Conn::new(info, socket, queue), outgoing, line)
}

/// A server's state for `handler`, with `conns` registered.
pub(crate) fn shared(handler: impl Handler, conns: &[&Arc<Conn>]) -> Arc<Shared> {
    let shared = Shared::new(ServerConfig::default().sanitized(), Box::new(handler), ADDR);
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

/// The bytes of everything in `queue`, in order, each item on its own.
pub(crate) fn drain(queue: &Receiver<Outgoing>) -> Vec<Vec<u8>> {
    queue
        .try_iter()
        .filter_map(|item| match item {
            Outgoing::Shared(bytes) => Some(bytes.to_vec()),
            Outgoing::Owned(bytes) | Outgoing::Close(bytes) => Some(bytes.to_vec()),
            Outgoing::Wake | Outgoing::Stop => None,
        })
        .collect()
}
