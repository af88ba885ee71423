//! The life of one accepted socket, on its reader thread: with TLS, the TLS
//! handshake, then read the request head, both within the handshake
//! deadline; then either answer plain HTTP, refuse
//! the upgrade (400/405/426/429/431/503/505, or what
//! [`crate::Handler::on_upgrade`] answers), or accept it, start the writer
//! thread, register the connection and hand over to [`crate::reader`].
//! When the reader is done, the connection is torn down here: writer joined,
//! socket closed, registry entry removed, [`crate::Handler::on_close`] called.

use crate::conn::Conn;
use crate::handle::ServerHandle;
use crate::handler::{ConnectionId, ConnectionInfo, HttpResponse};
use crate::reader::{End, Reader};
use crate::shared::{lock, Shared};
use crate::socket::Socket;
use rusty_socket_core::handshake::{
    error_response, is_upgrade_request, response_101, validate_request,
};
use rusty_socket_core::http::{Limits, Request};
use rusty_socket_core::Decoded;
use rusty_socket_core::HandshakeError;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Instant, SystemTime};

/// Why the request head did not arrive.
enum HeadError {
    /// The deadline passed.
    Timeout,
    /// The peer closed before a whole head arrived.
    Closed,
    /// The head is not acceptable HTTP; answered with its status.
    Bad(HandshakeError),
    Io(io::Error),
}

const SERVICE_UNAVAILABLE: &str = "too many connections, try again later\n";

/// The answer to a client the server has no room for: `503 Service
/// Unavailable`, with `Retry-After` ([`crate::capacity::RETRY_AFTER_SECS`]).
pub(crate) fn service_unavailable() -> Vec<u8> {
    HttpResponse::text(503, SERVICE_UNAVAILABLE)
        .header(
            "Retry-After",
            &crate::capacity::RETRY_AFTER_SECS.to_string(),
        )
        .encode()
}

/// What a client of a TLS port gets when the server has no thread for it:
/// a fatal `internal_error` alert (RFC 8446 section 6.2: "an internal error
/// unrelated to the peer ... makes it impossible to continue"), as one
/// plaintext alert record, which is how alerts travel before a handshake
/// has agreed on keys: content type 21, record version 3.3, length 2,
/// level 2 (fatal), description 80. A client that sent a `ClientHello`
/// waits for a `ServerHello`: an HTTP `503` would reach it as garbage ("not
/// a TLS record"), the alert as a plain refusal.
pub(crate) const TLS_REFUSAL: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50];

/// Refuses a socket the server has no thread for, without waiting: `503`
/// (or on a TLS port [`TLS_REFUSAL`]), a best effort. What the client
/// already sent is read and dropped first, so that closing a socket with
/// unread bytes does not reset the connection (a reset can destroy the
/// answer before the client reads it).
pub(crate) fn refuse_now(shared: &Shared, stream: &TcpStream) {
    let _ = stream.set_nonblocking(true);
    let mut stream = stream;
    if shared.config.uses_tls() {
        let _ = stream.write_all(&TLS_REFUSAL);
    } else {
        let _ = stream.write_all(&service_unavailable());
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 1024];
    for _ in 0..8 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

const TOO_MANY_FROM_YOU: &str = "too many connections from your address, try again later\n";

/// Holds one of a client address's connections
/// ([`crate::ServerConfig::max_connections_per_ip`]) until it is dropped,
/// however the connection ends, even by a panic.
struct IpSlot<'a> {
    shared: &'a Shared,
    ip: IpAddr,
}

impl IpSlot<'_> {
    /// Takes one of `ip`'s places: `Ok(None)` without a limit, `Err(())`
    /// when the address has them all.
    fn reserve(shared: &Shared, ip: IpAddr) -> Result<Option<IpSlot<'_>>, ()> {
        let max = shared.config.max_connections_per_ip;
        if max == 0 {
            return Ok(None);
        }
        let mut per_ip = lock(&shared.per_ip);
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= max {
            return Err(());
        }
        *count += 1;
        Ok(Some(IpSlot { shared, ip }))
    }
}

impl Drop for IpSlot<'_> {
    fn drop(&mut self) {
        let mut per_ip = lock(&self.shared.per_ip);
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// Counts a socket as in its handshake (or a plain HTTP request) until it
/// is dropped: from the accept loop until it holds a connection slot, or
/// until it is done.
struct Handshake<'a>(&'a Shared);

impl Drop for Handshake<'_> {
    fn drop(&mut self) {
        self.0.handshaking.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs the socket's whole life. `pending_id` is its entry in the table of
/// handshakes in progress.
pub(crate) fn run(shared: &Arc<Shared>, stream: Arc<TcpStream>, peer: SocketAddr, pending_id: u64) {
    let deadline = Instant::now() + shared.config.handshake_timeout;
    // The accept loop counted this socket in `handshaking`; it stays
    // counted until it holds a slot, so that the accept loop's budget
    // (slots + handshakes) covers this thread throughout.
    let handshake = Handshake(shared);
    let socket = match secure(shared, stream, peer, deadline) {
        Some(socket) => socket,
        None => {
            lock(&shared.pending).remove(&pending_id);
            return;
        }
    };
    let head = read_head(&socket, deadline);
    lock(&shared.pending).remove(&pending_id);
    let (request, leftover) = match head {
        Ok(head) => head,
        Err(HeadError::Timeout) => {
            crate::log::peer(peer, format_args!("handshake timed out"));
            return;
        }
        Err(HeadError::Closed) => return,
        Err(HeadError::Io(e)) => {
            if !rusty_socket_core::connection::is_disconnect(&e)
                && !shared.shutting_down.load(Ordering::Acquire)
            {
                crate::log::peer(peer, format_args!("handshake failed: {e}"));
            }
            return;
        }
        Err(HeadError::Bad(e)) => {
            crate::log::peer(peer, format_args!("bad request: {e}"));
            reply(&socket, &error_response(&e));
            return;
        }
    };
    let _ = socket
        .tcp()
        .set_write_timeout(Some(shared.config.write_timeout));
    if !is_upgrade_request(&request) {
        reply(&socket, &crate::routes::respond(shared, &request).encode());
        return;
    }
    let (key, protocol, deflate) = match validate_request(&request) {
        Ok(upgrade) => (
            upgrade.key.to_owned(),
            choose_protocol(shared, &upgrade.protocols),
            upgrade.accept_deflate(shared.config.websocket.permessage_deflate.as_ref()),
        ),
        Err(e) => {
            crate::log::peer(peer, format_args!("bad upgrade request: {e}"));
            reply(&socket, &error_response(&e));
            return;
        }
    };
    let verdict = catch_unwind(AssertUnwindSafe(|| {
        shared.handler.on_upgrade(&request, peer)
    }));
    let refusal = match verdict {
        Ok(Ok(())) => None,
        Ok(Err(response)) => Some(response),
        Err(_) => {
            crate::log::peer(peer, format_args!("the handler panicked in on_upgrade"));
            Some(HttpResponse::text(500, "internal server error\n"))
        }
    };
    if let Some(response) = refusal {
        crate::log::peer(
            peer,
            format_args!("upgrade refused by the handler ({})", response.status),
        );
        reply(&socket, &response.encode());
        return;
    }
    let client_addr =
        crate::proxy::client_ip(peer.ip(), &request.headers, &shared.config.trusted_proxies);
    let Ok(ip_slot) = IpSlot::reserve(shared, client_addr) else {
        crate::log::peer(
            peer,
            format_args!(
                "{client_addr} has {} connections open already; answering 429",
                shared.config.max_connections_per_ip
            ),
        );
        let refusal = HttpResponse::text(429, TOO_MANY_FROM_YOU).header(
            "Retry-After",
            &crate::capacity::RETRY_AFTER_SECS.to_string(),
        );
        reply(&socket, &refusal.encode());
        return;
    };
    if !reserve_slot(shared) {
        shared.refusals.refused(format_args!(
            "every connection slot is taken, {}; answering 503",
            shared.capacity
        ));
        reply(&socket, &service_unavailable());
        return;
    }
    let _slot = Slot(shared);
    drop(handshake);
    shared.refusals.admitted();
    let extensions = deflate.as_ref().map(|(_, answer)| answer.as_str());
    if let Err(e) = socket.write_all(&response_101(&key, protocol.as_deref(), extensions)) {
        crate::log::peer(peer, format_args!("cannot answer the handshake: {e}"));
        return;
    }
    let info = ConnectionInfo {
        id: ConnectionId(shared.next_id.fetch_add(1, Ordering::Relaxed)),
        peer_addr: peer,
        client_addr,
        target: request.target,
        opened_at: SystemTime::now(),
        protocol,
        permessage_deflate: deflate.map(|(params, _)| params),
    };
    drop(request.headers);
    open(shared, socket, info, &leftover, ip_slot);
}

/// The stream the connection speaks over: the socket itself, or with
/// [`crate::ServerConfig::tls`] a TLS session on it once its handshake is
/// done, before `deadline`. `None`: the TLS handshake failed (a silent or
/// slow client, plain HTTP or garbage on the TLS port); the socket is
/// dropped.
#[cfg_attr(not(feature = "tls"), allow(unused_variables))]
fn secure(
    shared: &Shared,
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    deadline: Instant,
) -> Option<Socket> {
    #[cfg(feature = "tls")]
    if let Some(tls) = &shared.config.tls {
        let session = match tls.session(stream) {
            Ok(session) => session,
            Err(e) => {
                crate::log::peer(peer, format_args!("cannot start TLS: {e}"));
                return None;
            }
        };
        let outcome = handshake_apart(&session, deadline, shared.config.stack_size);
        return match outcome {
            Ok(()) => Some(Socket::Tls(session)),
            Err(e) => {
                if !rusty_socket_core::connection::is_disconnect(&e)
                    && !shared.shutting_down.load(Ordering::Acquire)
                {
                    let why = if rusty_socket_core::connection::is_timeout(&e) {
                        "timed out".to_owned()
                    } else {
                        format!("failed: {e}")
                    };
                    crate::log::peer(peer, format_args!("TLS handshake {why}"));
                }
                session.shutdown(Shutdown::Both).ok();
                None
            }
        };
    }
    Some(Socket::Plain(stream))
}

/// The first of the server's subprotocols that the client offers.
fn choose_protocol(shared: &Shared, offered: &[&str]) -> Option<String> {
    shared
        .config
        .protocols
        .iter()
        .find(|ours| offered.contains(&ours.as_str()))
        .cloned()
}

/// Takes one of the connection slots, if one is free: the server's
/// capacity ([`crate::capacity`]), at most `max_connections`.
fn reserve_slot(shared: &Shared) -> bool {
    let max = shared.capacity.connections;
    shared
        .counters
        .connections
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// Gives a slot back when the connection ends.
struct Slot<'a>(&'a Shared);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.counters.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs the TLS handshake on a short-lived thread of its own, with the
/// connection thread waiting: the key exchange and the signature touch more
/// stack than all the rest of a connection's life, and the stack pages a
/// thread has touched stay resident until it ends. (With `wsload conns`,
/// 2,000 idle wss connections: 34.5 KiB each with the handshake on the
/// connection's thread, 28.4 KiB with it apart; plain ws 13.6 KiB.)
#[cfg(feature = "tls")]
fn handshake_apart(
    session: &crate::tls::TlsStream,
    deadline: Instant,
    stack_size: usize,
) -> io::Result<()> {
    thread::scope(|scope| {
        let handshake = thread::Builder::new()
            .name("ws-tls-handshake".into())
            .stack_size(stack_size)
            .spawn_scoped(scope, || session.handshake(Some(deadline)))?;
        handshake
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the TLS handshake panicked")))
    })
}

/// Writes a whole answer and closes our side (after `close_notify`, with
/// TLS), then waits briefly for the client to close its own, so that what
/// it sent beyond the head cannot turn our close into a reset that loses
/// the answer ([`rusty_socket_core::tcp`]).
fn reply(socket: &Socket, bytes: &[u8]) {
    let _ = socket.write_all(bytes);
    socket.close_notify();
    rusty_socket_core::tcp::close_cleanly(socket.tcp(), rusty_socket_core::tcp::LINGER);
}

/// Reads until a whole request head has arrived or `deadline` passes. Each
/// read waits at most until the deadline, so a client sending one byte at a
/// time gains nothing. The head may not exceed 8 KiB
/// ([`Limits::max_head_size`]).
fn read_head(socket: &Socket, deadline: Instant) -> Result<(Request, Vec<u8>), HeadError> {
    // Read straight into the heap buffer: a chunk on the stack would stay
    // resident in every connection thread's stack afterwards.
    let mut buffer: Vec<u8> = Vec::new();
    let mut stream = socket;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(HeadError::Timeout);
        }
        socket
            .tcp()
            .set_read_timeout(Some(deadline - now))
            .map_err(HeadError::Io)?;
        let filled = buffer.len();
        buffer.resize(filled + 1024, 0);
        let read = stream.read(&mut buffer[filled..]);
        buffer.truncate(filled + *read.as_ref().unwrap_or(&0));
        let n = match read {
            Ok(0) => return Err(HeadError::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if rusty_socket_core::connection::is_timeout(&e) => {
                return Err(HeadError::Timeout)
            }
            Err(e) => return Err(HeadError::Io(e)),
        };
        debug_assert!(n > 0);
        match Request::parse(&buffer, Limits::default()) {
            Ok(Decoded::Partial) => {}
            Ok(Decoded::Complete(request, len)) => {
                buffer.drain(..len);
                return Ok((request, buffer));
            }
            Err(e) => return Err(HeadError::Bad(e)),
        }
    }
}

/// Registers the connection and runs it to the end. Its frames are written
/// by the server's writers ([`crate::writer`]); this thread only reads.
///
/// The client address's place (`ip_slot`) is given back before
/// [`crate::Handler::on_close`] runs, so that a handler told of the end can
/// count on it.
fn open(
    shared: &Arc<Shared>,
    socket: Socket,
    info: ConnectionInfo,
    leftover: &[u8],
    ip_slot: Option<IpSlot<'_>>,
) {
    let peer = info.peer_addr;
    let id = info.id;
    let conn = Conn::new(
        info,
        socket.wire(),
        shared.config.queue_len,
        Arc::clone(&shared.writers),
        shared.config.websocket.permessage_deflate,
    );
    conn.set_reader(thread::current());
    let close_timeout = shared.config.close_timeout;
    let registered = {
        let mut registry = shared.registry.write().unwrap_or_else(|p| p.into_inner());
        if shared.shutting_down.load(Ordering::Acquire) {
            false
        } else {
            registry.insert(id, Arc::clone(&conn));
            true
        }
    };
    let handle = ServerHandle::new(Arc::clone(shared));
    let end = if registered {
        shared
            .counters
            .total_accepted
            .fetch_add(1, Ordering::Relaxed);
        let mut reader = Reader::new(shared, &conn, &socket, leftover);
        reader.open();
        reader.run()
    } else {
        conn.shut_down();
        End::Failed
    };

    // Teardown. The reader is done: let the writers send what is queued
    // (the close frame, if any, is last) for at most the close timeout.
    if !end.is_orderly() {
        conn.abandon();
        socket.shutdown(Shutdown::Both);
    }
    let ending = end.ending(&conn);
    if conn.wait_finished(close_timeout) {
        // The close frame is out, no writer holds the socket: end a TLS
        // session properly, then the TCP connection, without a reset that
        // could destroy the close frame if the client is still sending
        // (section 7.1.1).
        socket.close_notify();
        rusty_socket_core::tcp::close_cleanly(
            socket.tcp(),
            close_timeout.min(rusty_socket_core::tcp::LINGER),
        );
    } else {
        conn.abandon();
    }
    // The server closes the TCP connection (section 7.1.1); this also ends
    // a write a writer may still be blocked in.
    socket.shutdown(Shutdown::Both);
    if registered {
        shared
            .registry
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        drop(ip_slot);
        let closed = catch_unwind(AssertUnwindSafe(|| {
            shared.handler.on_close(&handle, id, ending)
        }));
        if closed.is_err() {
            crate::log::peer(
                peer,
                format_args!("connection {id}: the handler panicked in on_close"),
            );
        }
    }
}
