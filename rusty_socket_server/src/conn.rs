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
use rusty_socket_core::connection::{Connection, Owed, Refusal};
use rusty_socket_core::frame::encode_frame;
use rusty_socket_core::{CloseCode, CloseFrame, Error as CoreError, Message, OpCode, Role};
use std::fmt;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

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
    /// The connection's state machine from the core: it decides what we owe
    /// the peer (pongs, the reply to a close, the close that fails the
    /// connection) and refuses what may not be sent. Locked for control
    /// frames and closes only.
    machine: Mutex<Connection>,
    /// Set once the machine is no longer open (a close was sent or
    /// received, or the connection failed) or the connection is dead:
    /// nothing more is queued, and data still arriving is dropped. A copy
    /// of the machine's answer that broadcasts read without a lock.
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
            machine: Mutex::new(Connection::new(Role::Server)),
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
                let _ = self.close(
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

    fn machine(&self) -> MutexGuard<'_, Connection> {
        self.machine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the closing handshake with `frame` (`None`: an empty close
    /// frame), if the state machine allows it. The close goes after what is
    /// already queued if there is room for it, and otherwise ahead of it,
    /// dropping the rest. `ending`, if any, is how the connection will be
    /// reported to have ended (see [`Conn::ending`]).
    ///
    /// Whoever sends on behalf of this connection's reader thread queues
    /// what it has gathered first, so that the close comes after it.
    ///
    /// # Errors
    /// The machine's refusal: a close was already sent or received, or the
    /// code may not be sent.
    pub(crate) fn close(
        &self,
        frame: Option<CloseFrame>,
        ending: Option<Ending>,
    ) -> Result<(), Refusal> {
        self.machine().send_close(frame.as_ref())?;
        self.queue_close(frame, ending);
        Ok(())
    }

    /// A message arrived from the peer: the machine says what it obliges us
    /// to send, and that is queued (after what the handler has sent so far:
    /// the caller flushes its outbox first). A close ends what may be sent.
    pub(crate) fn received(&self, message: &Message) {
        let mut machine = self.machine();
        let owed = machine.receive(message);
        let open = machine.is_open();
        drop(machine);
        match owed {
            // It goes through the queue like everything else, so a client
            // that pings without reading fills its own queue and is closed
            // (1008), instead of growing our memory.
            Some(Owed::Pong(payload)) => {
                let mut pong = Vec::with_capacity(2 + payload.len());
                encode_frame(&mut pong, true, OpCode::Pong, payload, None);
                let _ = self.enqueue(Outgoing::Owned(pong.into_boxed_slice()));
            }
            Some(Owed::Close(reply)) => self.queue_close(reply, None),
            None => {}
        }
        if !open {
            self.closing.store(true, Ordering::Release);
        }
    }

    /// The peer broke the protocol (`error`, from the receiver): the
    /// machine fails the connection, and the close it implies is queued.
    pub(crate) fn fail(&self, error: &CoreError) {
        let close = self.machine().fail(error);
        let code = error.close_code().unwrap_or(CloseCode::PROTOCOL_ERROR);
        let ending = Some(Ending::ProtocolError(code));
        match close {
            Some(close) => self.queue_close(Some(close), ending),
            None => {
                if let Some(ending) = ending {
                    let _ = self.ending.set(ending);
                }
                self.closing.store(true, Ordering::Release);
            }
        }
    }

    /// Whether a ping of ours may be sent now.
    pub(crate) fn may_ping(&self) -> bool {
        self.machine().send(true, OpCode::Ping, 0).is_ok()
    }

    /// Queues the close frame the machine decided on (it decides on one at
    /// most): the last frame.
    fn queue_close(&self, frame: Option<CloseFrame>, ending: Option<Ending>) {
        self.closing.store(true, Ordering::Release);
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
        self.machine().finish();
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
    let _ = conn.close(
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
