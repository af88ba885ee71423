//! [`ServerHandle`]: how the application (and its [`crate::Handler`]) sends,
//! broadcasts, closes, inspects and shuts down a running server.

use crate::conn::Conn;
use crate::error::{Error, Result};
use crate::frames::Frames;
use crate::handler::{ConnectionId, ConnectionInfo};
use crate::outbox::{Outbox, Recipients};
use crate::shared::{lock, on_server_thread, Shared};
use crate::stats::Stats;
use rusty_socket_core::connection::Refusal;
use rusty_socket_core::{CloseCode, CloseFrame, Message};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one copy of `message` adds to the sent counters: (messages, bytes)
/// for text and binary, nothing for control frames.
fn data_counts(message: &Message) -> (u64, u64) {
    if message.is_data() {
        (1, message.len() as u64)
    } else {
        (0, 0)
    }
}

/// A cheap, cloneable handle to a running server: send to connections,
/// close them, read statistics, shut the server down. Every method may be
/// called from any thread, including from [`crate::Handler`] callbacks.
///
/// Sending never blocks and never writes to a socket: it encodes the frame
/// and queues it for the server's writers. A connection whose
/// queue is full is closed with 1008 (see [`crate::ServerConfig::queue_len`]).
///
/// The handle a [`crate::Handler`] callback receives on a reader thread
/// also carries that thread's outbox: see [`ServerHandle::broadcast`]. A
/// clone of it is a plain handle, which sends at once.
pub struct ServerHandle {
    shared: Arc<Shared>,
    /// The broadcasts gathered on behalf of a reader thread (see
    /// [`crate::outbox`]); `None` for every other handle.
    outbox: Option<Mutex<Outbox>>,
}

impl Clone for ServerHandle {
    fn clone(&self) -> Self {
        ServerHandle::new(Arc::clone(&self.shared))
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

/// Checks that `message` may be sent through a handle: not a close (that
/// is [`ServerHandle::close`]), and a control frame of at most 125 bytes.
fn check(message: &Message) -> Result<()> {
    if matches!(message, Message::Close(_)) {
        return Err(Error::InvalidMessage("use ServerHandle::close"));
    }
    // Section 5.5: "All control frames MUST have a payload length of 125
    // bytes or less".
    if message.opcode().is_control() && message.len() > 125 {
        return Err(Error::InvalidMessage(
            "control frame payload over 125 bytes",
        ));
    }
    Ok(())
}

impl ServerHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> ServerHandle {
        ServerHandle {
            shared,
            outbox: None,
        }
    }

    /// The handle of a reader thread, which gathers its broadcasts until
    /// [`ServerHandle::flush`].
    pub(crate) fn with_outbox(shared: Arc<Shared>) -> ServerHandle {
        ServerHandle {
            shared,
            outbox: Some(Mutex::new(Outbox::default())),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// A handle that gathers broadcasts, as a reader thread's does (see
    /// [`ServerHandle::broadcast`]), until [`ServerHandle::flush`] (or
    /// 64 KiB, or anything else it sends). For a thread that delivers
    /// bursts of messages from elsewhere, such as a broker's subscriber:
    /// broadcast each, then flush once the burst is over
    /// ([`crate::broker::Broker::on_drained`]). A burst of K messages then
    /// costs each recipient one queue slot and one wake, not K.
    pub fn gathering(&self) -> ServerHandle {
        ServerHandle::with_outbox(Arc::clone(&self.shared))
    }

    /// Queues the broadcasts this handle has gathered, if any; nothing for
    /// a handle that does not gather.
    pub fn flush(&self) {
        if let Some(outbox) = &self.outbox {
            lock(outbox).flush(&self.shared);
        }
    }

    /// The server's state, for queuing something at once: every method
    /// that does not go through the outbox takes this path, which first
    /// queues what the outbox has gathered, so that what this handle sends
    /// leaves in the order of the calls.
    fn at_once(&self) -> &Shared {
        self.flush();
        &self.shared
    }

    /// Queues `message` for connection `id`.
    ///
    /// # Errors
    /// [`Error::NotConnected`] for an unknown id, [`Error::Closing`] if the
    /// connection is closing, [`Error::QueueFull`] if its queue was full (it
    /// is then closed with 1008), [`Error::InvalidMessage`] for a close or an
    /// oversized ping or pong.
    pub fn send_to(&self, id: ConnectionId, message: impl Into<Message>) -> Result<()> {
        self.send_one(id, message.into(), true)
    }

    /// Queues `message` for connection `id` uncompressed, even if the
    /// connection negotiated permessage-deflate: for a secret (a token, a
    /// password) on a connection that also carries text others choose.
    /// Compressed together, the sizes would tell an attacker whether a
    /// guess matched the secret (the CRIME attack).
    ///
    /// # Errors
    /// As [`ServerHandle::send_to`].
    pub fn send_uncompressed(&self, id: ConnectionId, message: impl Into<Message>) -> Result<()> {
        self.send_one(id, message.into(), false)
    }

    fn send_one(&self, id: ConnectionId, message: Message, compress: bool) -> Result<()> {
        check(&message)?;
        let frames = Frames::one(&message, compress);
        let shared = self.at_once();
        let conn = shared.connection(id).ok_or(Error::NotConnected(id))?;
        shared.enqueue_frames_counted(&conn, &frames, data_counts(&message))
    }

    /// Queues `message` for every open connection, and returns the number of
    /// connections it was queued for (those open and not closing). The frame
    /// is encoded once and its bytes shared by every queue: a broadcast
    /// costs one allocation, not one per recipient.
    ///
    /// Called from a [`crate::Handler`] callback with the handle it was
    /// given, broadcasts are gathered while the reader thread handles the
    /// messages of one `read`, and queued together when it has (or when
    /// 64 KiB have gathered, or before anything else this handle sends, so
    /// the order of everything sent stays the order of the calls). A burst
    /// of K messages then takes one slot of each recipient's queue, wakes its
    /// writer once and costs it one `write`, not K. A recipient whose queue
    /// is full when they go out is closed with 1008, as it would be at once.
    ///
    /// # Errors
    /// [`Error::InvalidMessage`] for a close or an oversized ping or pong,
    /// which is sent to nobody.
    pub fn broadcast(&self, message: impl Into<Message>) -> Result<usize> {
        self.broadcast_to(Recipients::All, message.into())
    }

    /// Queues `message` for every open connection but `except`, as
    /// [`ServerHandle::broadcast`] does.
    ///
    /// # Errors
    /// As [`ServerHandle::broadcast`].
    pub fn broadcast_except(
        &self,
        except: ConnectionId,
        message: impl Into<Message>,
    ) -> Result<usize> {
        self.broadcast_to(Recipients::Except(except), message.into())
    }

    fn broadcast_to(&self, recipients: Recipients, message: Message) -> Result<usize> {
        check(&message)?;
        let counts = data_counts(&message);
        if let Some(outbox) = &self.outbox {
            return Ok(lock(outbox).broadcast(&self.shared, recipients, &message, counts));
        }
        let frames = Frames::one(&message, true);
        Ok(self
            .shared
            .enqueue_all(&frames, |id| recipients.include(id), counts))
    }

    /// Queues `message` at once for every open connection for which `keep`
    /// returns true, and returns the number of connections it was queued
    /// for.
    ///
    /// # Errors
    /// As [`ServerHandle::broadcast`].
    pub fn broadcast_filter(
        &self,
        message: impl Into<Message>,
        keep: impl FnMut(ConnectionId) -> bool,
    ) -> Result<usize> {
        let message = message.into();
        check(&message)?;
        let frames = Frames::one(&message, true);
        Ok(self
            .at_once()
            .enqueue_all(&frames, keep, data_counts(&message)))
    }

    /// Starts the closing handshake of connection `id` with `code` and
    /// `reason` (cut to 123 bytes, so that the close frame's payload fits
    /// the 125 bytes of a control frame, section 5.5), after the messages
    /// already queued for it. [`crate::Handler::on_close`] follows when the
    /// closing handshake is over, usually with [`crate::Ending::Closed`] and
    /// the peer's answer.
    ///
    /// # Errors
    /// [`Error::UnsendableCloseCode`] for a code that may not be sent, such
    /// as 1005 or 1006 (see [`CloseCode::is_sendable`]);
    /// [`Error::NotConnected`] for an unknown id; [`Error::Closing`] if the
    /// connection is already closing.
    pub fn close(&self, id: ConnectionId, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        let code = code.into();
        let conn = self
            .at_once()
            .connection(id)
            .ok_or(Error::NotConnected(id))?;
        match conn.close(Some(CloseFrame::new(code, reason)), None) {
            Ok(()) => Ok(()),
            Err(Refusal::Forbidden(_)) => Err(Error::UnsendableCloseCode(code)),
            Err(Refusal::Closed) => Err(Error::Closing(id)),
        }
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
        self.shared.stats()
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
    /// ended: clients get [`crate::ServerConfig::close_timeout`] to answer the
    /// close, after which their sockets are shut down.
    ///
    /// Called from a [`crate::Handler`] callback, it starts the shutdown and returns
    /// without waiting (the calling thread is one of those to end).
    pub fn shutdown(&self) {
        let shared = self.at_once();
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
            // The writers leave once the close frames just queued are out.
            shared.writers.stop();
        }
        if on_server_thread() {
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
                conn.hang_up();
            } else {
                conn.shut_down();
            }
        }
        for stream in lock(&self.shared.pending).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}
