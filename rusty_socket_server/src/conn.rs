//! One open connection as the rest of the server sees it ([`Conn`]): its
//! outgoing queue, the socket shared by its reader and writer threads, and
//! the flags of its closing handshake.
//!
//! Everything that sends to a connection goes through [`Conn::enqueue`],
//! which never blocks: a full queue means the client reads more slowly than
//! the server produces, and it is closed with 1008 instead of being waited
//! for, so no client can hold up another.

use crate::error::Error;
use crate::handler::{ConnectionId, ConnectionInfo, Ending};
use rusty_socket_core::close::encode_close_payload;
use rusty_socket_core::frame::encode_frame;
use rusty_socket_core::{CloseCode, CloseFrame, OpCode};
use std::fmt;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};

/// What the server does to a connection's socket besides reading and
/// writing it (which only its reader and writer threads do): shut it down.
/// A trait, so that a [`Conn`] can be built without a socket in tests.
pub(crate) trait HangUp: Send + Sync + fmt::Debug {
    /// Shuts the socket down in both directions.
    fn hang_up(&self);
}

impl HangUp for TcpStream {
    fn hang_up(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

/// What a writer thread is given to do. Every variant is at most two words
/// plus a tag, since the queue's slots are allocated up front.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Encoded frames shared by many recipients (a broadcast).
    Shared(Arc<[u8]>),
    /// Encoded frames for this recipient only.
    Owned(Box<[u8]>),
    /// An encoded close frame: written, then nothing more is.
    Close(Box<[u8]>),
    /// Look at [`Conn::urgent_close`]: a close could not be queued.
    Wake,
    /// The connection is dead: stop without writing anything.
    Stop,
}

/// The reason a queued close frame gives when the queue overflows.
const QUEUE_FULL_REASON: &str = "outgoing queue full: the client reads too slowly";

/// The shared state of one open connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) info: ConnectionInfo,
    /// The socket, which the reader and writer threads read and write (one
    /// `TcpStream` for both: no second file descriptor), as the rest of the
    /// server sees it: something to hang up.
    socket: Arc<dyn HangUp>,
    queue: SyncSender<Outgoing>,
    /// Set once a close frame is on its way or the connection is dead:
    /// nothing more is queued, and messages still arriving are dropped.
    closing: AtomicBool,
    /// Why the server closed the connection, when it did so for a reason of
    /// its own: set by the close that started the closing handshake.
    ending: OnceLock<Ending>,
    /// A close frame that must go out ahead of the queued messages, which
    /// are dropped: set when the queue was full.
    pub(crate) urgent_close: OnceLock<Box<[u8]>>,
    /// Set by the reader thread when it no longer reads: the writer may
    /// close the socket once its close frame is out.
    pub(crate) reader_done: AtomicBool,
    /// Set by the writer thread as it ends.
    pub(crate) writer_done: AtomicBool,
}

impl Conn {
    pub(crate) fn new(
        info: ConnectionInfo,
        socket: Arc<dyn HangUp>,
        queue: SyncSender<Outgoing>,
    ) -> Conn {
        Conn {
            info,
            socket,
            queue,
            closing: AtomicBool::new(false),
            ending: OnceLock::new(),
            urgent_close: OnceLock::new(),
            reader_done: AtomicBool::new(false),
            writer_done: AtomicBool::new(false),
        }
    }

    pub(crate) fn id(&self) -> ConnectionId {
        self.info.id
    }

    /// Whether a close is under way (no more data may be sent).
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Queues encoded frames without blocking. A full queue closes the
    /// connection with 1008.
    pub(crate) fn enqueue(&self, item: Outgoing) -> Result<(), Error> {
        if self.is_closing() {
            return Err(Error::Closing(self.id()));
        }
        match self.queue.try_send(item) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                crate::log::peer(
                    self.info.peer_addr,
                    format_args!(
                        "connection {}: {QUEUE_FULL_REASON}; closing with 1008",
                        self.id()
                    ),
                );
                self.close(
                    Some(CloseFrame::new(
                        CloseCode::POLICY_VIOLATION,
                        QUEUE_FULL_REASON,
                    )),
                    Some(Ending::QueueFull),
                );
                Err(Error::QueueFull(self.id()))
            }
            Err(TrySendError::Disconnected(_)) => Err(Error::Closing(self.id())),
        }
    }

    /// Starts the closing handshake with `frame` (`None`: an empty close
    /// frame). The close goes after what is already queued if there is room
    /// for it, and otherwise ahead of it, dropping the rest. Returns false if
    /// a close was already under way. `ending`, if any, is how the
    /// connection will be reported to have ended (see [`Conn::ending`]).
    ///
    /// Whoever sends on behalf of this connection's reader thread queues
    /// what it has gathered first, so that the close comes after it.
    // DUPLEX: the other half of the rules in `Reader::duplex`: one close
    // frame at most, and nothing queued after it (section 5.5.1).
    pub(crate) fn close(&self, frame: Option<CloseFrame>, ending: Option<Ending>) -> bool {
        if self.closing.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Some(ending) = ending {
            let _ = self.ending.set(ending);
        }
        let encoded = encode_close(frame.as_ref());
        match self.queue.try_send(Outgoing::Close(encoded)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(Outgoing::Close(encoded))) => {
                let _ = self.urgent_close.set(encoded);
                // The writer may have emptied the queue since: make sure it
                // wakes up to look (if the queue is still full, it is busy
                // and looks after its current write).
                let _ = self.queue.try_send(Outgoing::Wake);
            }
            Err(TrySendError::Full(_)) => {}
        }
        true
    }

    /// The reason of its own for which the server closed the connection,
    /// if it had one.
    pub(crate) fn ending(&self) -> Option<Ending> {
        self.ending.get().cloned()
    }

    /// Shuts the socket down in both directions: the TCP connection ends,
    /// and a thread blocked reading or writing it wakes up.
    pub(crate) fn hang_up(&self) {
        self.socket.hang_up();
    }

    /// The connection is dead (the peer vanished or broke the protocol
    /// beyond a close): the writer stops without writing more.
    pub(crate) fn abandon(&self) {
        self.closing.store(true, Ordering::Release);
        // If the queue is full the writer is busy writing, and the socket
        // shutdown that follows makes that write fail.
        let _ = self.queue.try_send(Outgoing::Stop);
    }
}

/// A handler callback panicked: close the connection with 1011.
pub(crate) fn handler_panicked(conn: &Conn, callback: &str) {
    crate::log::peer(
        conn.info.peer_addr,
        format_args!(
            "connection {}: the handler panicked in {callback}; closing with 1011",
            conn.id()
        ),
    );
    conn.close(
        Some(CloseFrame::new(CloseCode::INTERNAL_ERROR, "internal error")),
        None,
    );
}

/// A whole close frame, unmasked (the server masks nothing, section 5.1).
pub(crate) fn encode_close(frame: Option<&CloseFrame>) -> Box<[u8]> {
    let mut payload = Vec::with_capacity(125);
    encode_close_payload(frame, &mut payload);
    let mut out = Vec::with_capacity(2 + payload.len());
    encode_frame(&mut out, true, OpCode::Close, &payload, None);
    out.into_boxed_slice()
}
