//! One open connection as the rest of the server sees it ([`Conn`]): its
//! outgoing queue, its socket, and the state machine of its closing
//! handshake.
//!
//! Everything that sends to a connection goes through [`Conn::enqueue`],
//! which never blocks: a full queue means the client reads more slowly than
//! the server produces, and it is closed with 1008 instead of being waited
//! for, so no client can hold up another. A connection with something to
//! send is put on the [`Writers`]' ready list, once, until a writer has
//! emptied its queue: an idle connection holds no writer thread.

use crate::error::Error;
use crate::frames::Frames;
use crate::handler::{ConnectionId, ConnectionInfo, Ending};
use crate::writer::Writers;
use rusty_socket_core::close::encode_close_payload;
use rusty_socket_core::connection::{Connection, Owed, Refusal};
use rusty_socket_core::deflate::{DeflateParams, MessageCompressor, PerMessageDeflate};
use rusty_socket_core::frame::encode_frame;
use rusty_socket_core::{CloseCode, CloseFrame, Error as CoreError, Message, OpCode, Role};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::Thread;
use std::time::Duration;

/// What the writers and the rest of the server do to a connection's socket
/// (the reader thread reads its own handle): write, bound how long a write
/// may block, shut it down. A trait, so that a [`Conn`] can be built
/// without a socket in tests.
pub(crate) trait Wire: Send + Sync + fmt::Debug {
    /// One `write`: returns how many bytes the socket took.
    fn write(&self, bytes: &[u8]) -> io::Result<usize>;
    /// How long a `write` may block before it fails with `WouldBlock` (or
    /// returns what it managed to send).
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()>;
    /// Shuts the socket down in both directions.
    fn hang_up(&self);
}

impl Wire for TcpStream {
    fn write(&self, bytes: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, bytes)
    }
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        TcpStream::set_write_timeout(self, Some(timeout))
    }
    fn hang_up(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

/// One entry of a connection's outgoing queue.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Encoded frames shared by many recipients (a broadcast).
    Shared(Arc<Vec<u8>>),
    /// Encoded frames for this recipient only.
    Owned(Box<[u8]>),
    /// An encoded close frame: written, then nothing more is.
    Close(Box<[u8]>),
}

impl Outgoing {
    /// The encoded bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Outgoing::Shared(bytes) => bytes,
            Outgoing::Owned(bytes) | Outgoing::Close(bytes) => bytes,
        }
    }
}

/// A connection's outgoing side: what waits to be written, and who writes
/// it.
#[derive(Debug, Default)]
struct Out {
    items: VecDeque<Outgoing>,
    /// A close frame that must go out ahead of the queued messages, which
    /// are dropped: set when the queue was full.
    urgent: Option<Box<[u8]>>,
    /// The rest of a write a slow peer did not take: it goes first, so no
    /// frame is cut.
    unsent: Vec<u8>,
    /// On the writers' ready list, or being written by a writer.
    scheduled: bool,
    /// Nothing more will be written: the close is out, or the connection
    /// was abandoned or broke.
    finished: bool,
}

/// What a writer took from a connection's queue (see [`Conn::take`]).
#[derive(Debug)]
pub(crate) enum Take {
    /// Frames to write, in order, up to the batch size; a close frame is
    /// the last.
    Items(Vec<Outgoing>),
    /// The rest of a frame a slow peer did not take.
    Unsent(Vec<u8>),
    /// The close for a full queue: the last bytes written.
    Urgent(Box<[u8]>),
    /// Nothing to write: the connection is off the ready list until its
    /// next enqueue.
    Idle,
    /// Nothing more will be written.
    Finished,
}

/// The reason a queued close frame gives when the queue overflows.
const QUEUE_FULL_REASON: &str = "outgoing queue full: the client reads too slowly";

/// The shared state of one open connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) info: ConnectionInfo,
    /// The socket, which the reader thread reads and the writers write (one
    /// `TcpStream` for both: no second file descriptor), as the rest of the
    /// server sees it: something to hang up.
    socket: Arc<dyn Wire>,
    out: Mutex<Out>,
    /// How many entries the queue holds at most.
    queue_len: usize,
    /// Where the connection goes when it has something to send.
    writers: Arc<Writers>,
    /// The connection itself, for the ready list.
    me: Weak<Conn>,
    /// The reader thread, woken when nothing more will be written.
    reader: OnceLock<Thread>,
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
    /// permessage-deflate, when the handshake agreed it.
    deflate: Option<Deflate>,
}

/// A connection's side of permessage-deflate (see [`crate::frames`]).
#[derive(Debug)]
struct Deflate {
    params: DeflateParams,
    settings: PerMessageDeflate,
    /// Its own compressor, for context takeover; locked from compressing
    /// a message until it is queued, so that messages are queued in the
    /// order their compressor saw them.
    compressor: Mutex<MessageCompressor>,
}

impl Conn {
    /// A connection writing to `socket` through `writers`, with a queue of
    /// at most `queue_len` entries, compressing with `settings` if
    /// `info` says permessage-deflate was agreed.
    pub(crate) fn new(
        info: ConnectionInfo,
        socket: Arc<dyn Wire>,
        queue_len: usize,
        writers: Arc<Writers>,
        settings: Option<PerMessageDeflate>,
    ) -> Arc<Conn> {
        let deflate = info.permessage_deflate.map(|params| {
            let settings = settings.unwrap_or_default();
            Deflate {
                params,
                settings,
                compressor: Mutex::new(MessageCompressor::new(
                    Role::Server,
                    &params,
                    settings.level,
                    settings.min_size,
                )),
            }
        });
        let _ = socket.set_write_timeout(writers.pool_timeout());
        writers.conn_opened();
        Arc::new_cyclic(|me| Conn {
            info,
            socket,
            out: Mutex::new(Out::default()),
            queue_len: queue_len.max(1),
            writers,
            me: me.clone(),
            reader: OnceLock::new(),
            machine: Mutex::new(Connection::new(Role::Server)),
            closing: AtomicBool::new(false),
            ending: OnceLock::new(),
            deflate,
        })
    }

    /// Queues `frames` in the encoding this connection needs: plain, the
    /// compressed frames shared by every recipient with the same window
    /// (no context takeover), or compressed by its own compressor.
    ///
    /// # Errors
    /// As [`Conn::enqueue`].
    pub(crate) fn enqueue_frames(&self, frames: &Frames) -> Result<(), Error> {
        match &self.deflate {
            Some(deflate) if frames.compressible() => {
                if deflate.params.server_no_context_takeover {
                    let shared = frames.compressed_shared(&deflate.params, &deflate.settings);
                    return self.enqueue(Outgoing::Shared(Arc::clone(shared)));
                }
                if self.is_closing() {
                    return Err(Error::Closing(self.id()));
                }
                let mut compressor = deflate.compressor.lock().unwrap_or_else(|p| p.into_inner());
                let bytes = frames.compressed_with(&mut compressor);
                self.enqueue(Outgoing::Owned(bytes.into_boxed_slice()))
            }
            _ => self.enqueue(Outgoing::Shared(Arc::clone(frames.plain()))),
        }
    }

    fn out(&self) -> MutexGuard<'_, Out> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The socket, for the writers.
    pub(crate) fn wire(&self) -> &dyn Wire {
        &*self.socket
    }

    /// Names the reader thread, which [`Conn::wait_finished`] parks.
    pub(crate) fn set_reader(&self, thread: Thread) {
        let _ = self.reader.set(thread);
    }

    /// Puts the connection on the ready list, unless it is there already or
    /// a writer has it. Called with the queue's lock taken (`out`).
    fn schedule(&self, mut out: MutexGuard<'_, Out>) {
        if out.scheduled || out.finished {
            return;
        }
        out.scheduled = true;
        drop(out);
        if let Some(me) = self.me.upgrade() {
            self.writers.schedule(me);
        }
    }

    /// Marks the end of writing: nothing more will be. Wakes the reader,
    /// which may be waiting for the close to go out.
    pub(crate) fn finish(&self) {
        {
            let mut out = self.out();
            out.finished = true;
            out.items.clear();
            out.urgent = None;
            out.unsent = Vec::new();
        }
        if let Some(reader) = self.reader.get() {
            reader.unpark();
        }
    }

    /// Our close frame is out: nothing more will be written, and the peer
    /// has the close timeout to answer before its socket is shut down.
    pub(crate) fn close_written(&self) {
        self.finish();
        self.writers.watch_close(self.me.clone());
    }

    /// Whether nothing more will be written.
    pub(crate) fn is_finished(&self) -> bool {
        self.out().finished
    }

    /// For a writer: takes what to write next, at most about `max_batch`
    /// bytes of frames (at least one), stopping after a close. With nothing
    /// queued, `release` takes the connection off the ready list (a pool
    /// writer); without, the caller keeps it (see [`Conn::release`]).
    pub(crate) fn take(&self, max_batch: usize, release: bool) -> Take {
        let mut out = self.out();
        if out.finished {
            out.scheduled = false;
            return Take::Finished;
        }
        // A frame already begun is finished first, even before an urgent
        // close: a cut frame would garble everything after it.
        if !out.unsent.is_empty() {
            return Take::Unsent(std::mem::take(&mut out.unsent));
        }
        if let Some(urgent) = out.urgent.take() {
            out.items.clear();
            return Take::Urgent(urgent);
        }
        if out.items.is_empty() {
            out.scheduled = !release;
            // An idle connection keeps no queue memory.
            if out.items.capacity() > 8 {
                out.items = VecDeque::new();
            }
            return Take::Idle;
        }
        let mut taken = Vec::new();
        let mut bytes = 0;
        while let Some(item) = out.items.pop_front() {
            bytes += item.bytes().len();
            let last = matches!(item, Outgoing::Close(_));
            taken.push(item);
            if last || bytes >= max_batch {
                break;
            }
        }
        Take::Items(taken)
    }

    /// For a slow client's writer that emptied the queue: lets go of the
    /// connection unless something was queued meanwhile. Returns whether it
    /// did.
    pub(crate) fn release(&self) -> bool {
        let mut out = self.out();
        if out.items.is_empty() && out.unsent.is_empty() && out.urgent.is_none() {
            out.scheduled = false;
            true
        } else {
            false
        }
    }

    /// Records why the server ended the connection, unless a reason was
    /// recorded before.
    pub(crate) fn set_ending(&self, ending: Ending) {
        let _ = self.ending.set(ending);
    }

    /// For a writer whose peer stopped taking bytes: `unsent` (the rest of
    /// the write) and `rest` (frames taken but not begun) go back to the
    /// front of the queue, in order.
    pub(crate) fn put_back(&self, unsent: Vec<u8>, rest: Vec<Outgoing>) {
        let mut out = self.out();
        if out.finished {
            return;
        }
        out.unsent = unsent;
        for item in rest.into_iter().rev() {
            out.items.push_front(item);
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
        let mut out = self.out();
        if out.finished {
            return Err(Error::Closing(self.id()));
        }
        if out.items.len() >= self.queue_len {
            drop(out);
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
            return Err(Error::QueueFull(self.id()));
        }
        out.items.push_back(item);
        self.schedule(out);
        Ok(())
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

    /// The server is shutting down: close with 1001 (going away), after
    /// what is queued, if a close may still be sent.
    pub(crate) fn shut_down(&self) {
        let _ = self.close(
            Some(CloseFrame::new(
                CloseCode::GOING_AWAY,
                "server shutting down",
            )),
            Some(Ending::Shutdown),
        );
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
        let ending = Ending::ProtocolError(code);
        match close {
            Some(close) => self.queue_close(Some(close), Some(ending)),
            None => {
                self.set_ending(ending);
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
        let mut out = self.out();
        if out.items.len() < self.queue_len {
            out.items.push_back(Outgoing::Close(encoded));
        } else {
            // No room: the close goes ahead, the backlog is dropped.
            out.urgent = Some(encoded);
        }
        self.schedule(out);
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
    /// beyond a close): nothing more is written, and what is queued is
    /// dropped. A writer in the middle of a write fails once the socket is
    /// shut down.
    pub(crate) fn abandon(&self) {
        self.machine().finish();
        self.closing.store(true, Ordering::Release);
        self.finish();
    }

    /// The reader thread, at the end: waits up to `limit` for the writers
    /// to send what is queued (the close frame last). Returns whether they
    /// did.
    pub(crate) fn wait_finished(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if self.is_finished() {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::park_timeout(deadline - now);
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.writers.conn_dropped();
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
