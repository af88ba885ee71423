//! The read loop of an open connection: bytes from the socket into the
//! core's sans-IO [`Receiver`], messages out to the [`crate::Handler`], and
//! the timers of the connection (pings, idle timeout), all driven by the
//! socket's read timeout: the thread sleeps in `read` and nowhere else.
//!
//! The read buffer is allocated when the first bytes arrive (the thread
//! waits for them with a one-byte `peek`), grows while reads fill it, and is
//! freed again when the connection falls silent, so an idle connection holds
//! no buffer at all. The receiver consumes payload as it arrives, so what
//! stays in the buffer between reads is at most a partial frame header.

use crate::conn::{handler_panicked, Conn, Outgoing};
use crate::handle::ServerHandle;
use crate::handler::Ending;
use crate::shared::Shared;
use rusty_socket_core::frame::encode_frame;
use rusty_socket_core::{CloseCode, CloseFrame, Message, OpCode, ReadBuffer, Receiver, Role};
use std::io;
use std::net::TcpStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a connection's read loop ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The peer's close frame arrived (the closing handshake is done, or our
    /// answer is queued). `None`: it had no status code.
    Closed(Option<CloseFrame>),
    /// The peer broke the protocol: a close frame with the error's code is
    /// queued, and [`Conn::ending`] holds the code.
    Failed,
    /// The peer did not answer our close in time.
    Timeout,
    /// The connection is unusable: the peer vanished, or a read failed.
    Abnormal,
}

impl End {
    /// How the connection ended: the server's own reason for closing it if
    /// it had one, or else what the reader saw.
    pub(crate) fn ending(self, conn: &Conn) -> Ending {
        conn.ending().unwrap_or(match self {
            End::Closed(frame) => Ending::Closed(frame),
            End::Timeout => Ending::Timeout,
            // A failure records its ending before it ends the loop.
            End::Failed | End::Abnormal => Ending::Abnormal,
        })
    }

    /// Whether the connection still works, so the writer may finish.
    pub(crate) fn is_orderly(&self) -> bool {
        matches!(self, End::Closed(_) | End::Failed)
    }
}

/// One `read` into `buffer`. While it holds no memory (a quiet connection,
/// see [`ReadBuffer::release`]), wait for data with a one-byte `peek` first,
/// so that an idle connection allocates nothing. Returns 0 at end of file.
fn fill(buffer: &mut ReadBuffer, stream: &TcpStream) -> io::Result<usize> {
    if !buffer.is_allocated() && stream.peek(&mut [0u8; 1])? == 0 {
        return Ok(0);
    }
    buffer.fill(&mut &*stream)
}

/// The state of one connection's read loop.
pub(crate) struct Reader<'a> {
    /// The handle the handler's callbacks receive. Its outbox gathers their
    /// broadcasts, and is flushed once a read's messages are handled and
    /// before the reader queues anything itself.
    handle: ServerHandle,
    conn: &'a Conn,
    receiver: Receiver,
    buffer: ReadBuffer,
    /// When the last bytes arrived.
    last_received: Instant,
    /// When we last sent a ping.
    last_ping: Instant,
    /// When we noticed that a close is under way; the peer has until then
    /// plus the close timeout to answer.
    closing_since: Option<Instant>,
    /// The read timeout currently set on the socket.
    timeout: Option<Duration>,
}

impl<'a> Reader<'a> {
    /// The reader of `conn`, whose handshake left `leftover` bytes.
    pub(crate) fn new(shared: &Arc<Shared>, conn: &'a Conn, leftover: &[u8]) -> Reader<'a> {
        let now = Instant::now();
        Reader {
            handle: ServerHandle::with_outbox(Arc::clone(shared)),
            conn,
            receiver: Receiver::new(Role::Server, shared.config.websocket),
            buffer: ReadBuffer::new(
                shared.config.websocket.read_buffer_size,
                shared.config.websocket.max_read_buffer,
                leftover,
            ),
            last_received: now,
            last_ping: now,
            closing_since: None,
            timeout: None,
        }
    }

    /// Tells the handler that the connection is open.
    pub(crate) fn open(&mut self) {
        let opened = catch_unwind(AssertUnwindSafe(|| {
            self.handle
                .shared()
                .handler
                .on_open(&self.handle, &self.conn.info)
        }));
        self.handle.flush();
        if opened.is_err() {
            handler_panicked(self.conn, "on_open");
        }
    }

    /// Runs the read loop until the connection ends.
    pub(crate) fn run(&mut self) -> End {
        loop {
            let end = self.decode_buffered();
            // This read's messages are handled: send what they broadcast.
            self.handle.flush();
            if let Some(end) = end {
                return end;
            }
            let now = Instant::now();
            if self.closing_since.is_none() && self.conn.is_closing() {
                self.closing_since = Some(now);
            }
            let timeout = match self.next_deadline().checked_duration_since(now) {
                Some(left) if !left.is_zero() => left,
                _ => {
                    if let Some(end) = self.on_timer(now) {
                        return end;
                    }
                    continue;
                }
            };
            // Setting a timeout is a system call: only when it changes much.
            let stale = self.timeout.map_or(true, |t| {
                t > timeout || t + Duration::from_millis(5) < timeout
            });
            if stale {
                if let Err(e) = self.conn.stream.set_read_timeout(Some(timeout)) {
                    return self.dead(&e);
                }
                self.timeout = Some(timeout);
            }
            match fill(&mut self.buffer, &self.conn.stream) {
                Ok(0) => {
                    if self.closing_since.is_none() {
                        crate::log::peer(
                            self.conn.info.peer_addr,
                            format_args!(
                                "connection {}: closed without a close frame (1006)",
                                self.conn.id()
                            ),
                        );
                    }
                    return End::Abnormal;
                }
                Ok(_) => self.last_received = Instant::now(),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // An idle moment: give the buffer back.
                    if self.receiver.is_idle() {
                        self.buffer.release();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.dead(&e),
            }
        }
    }

    fn dead(&self, e: &io::Error) -> End {
        if self.closing_since.is_none() && !crate::log::is_disconnect(e) {
            crate::log::peer(
                self.conn.info.peer_addr,
                format_args!("connection {}: read failed: {e}", self.conn.id()),
            );
        }
        End::Abnormal
    }

    /// When the read loop must next wake up by itself.
    fn next_deadline(&self) -> Instant {
        let config = &self.handle.shared().config;
        if let Some(since) = self.closing_since {
            return since + config.close_timeout;
        }
        let idle = self.last_received + config.idle_timeout;
        let ping = self.last_received.max(self.last_ping) + config.ping_interval;
        idle.min(ping)
    }

    /// A deadline passed.
    fn on_timer(&mut self, now: Instant) -> Option<End> {
        let config = &self.handle.shared().config;
        if self.closing_since.is_some() {
            // The peer did not answer our close in time.
            return Some(End::Timeout);
        }
        if now >= self.last_received + config.idle_timeout {
            crate::log::peer(
                self.conn.info.peer_addr,
                format_args!(
                    "connection {}: silent for {:?}; closing with 1001",
                    self.conn.id(),
                    config.idle_timeout
                ),
            );
            self.conn.close(
                Some(CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout")),
                Some(Ending::Timeout),
            );
            self.closing_since = Some(now);
            return None;
        }
        // Time for a ping; a full queue closes the connection with 1008.
        self.last_ping = now;
        let mut ping = Vec::with_capacity(2);
        encode_frame(&mut ping, true, OpCode::Ping, &[], None);
        let _ = self.conn.enqueue(Outgoing::Owned(ping.into_boxed_slice()));
        None
    }

    /// Hands every complete message in the buffer to `dispatch`.
    fn decode_buffered(&mut self) -> Option<End> {
        while !self.buffer.is_empty() {
            match self.receiver.decode(self.buffer.pending()) {
                Ok((used, message)) => {
                    self.buffer.consume(used);
                    match message {
                        Some(message) => {
                            if let Some(end) = self.dispatch(message) {
                                return Some(end);
                            }
                        }
                        None => break,
                    }
                }
                Err(e) => {
                    // Section 7.1.7: fail the connection with the code the
                    // error implies (1002, 1007 or 1009).
                    let code = e.close_code().unwrap_or(CloseCode::PROTOCOL_ERROR);
                    crate::log::peer(
                        self.conn.info.peer_addr,
                        format_args!("connection {}: {e}; closing with {code}", self.conn.id()),
                    );
                    self.handle.flush();
                    self.conn.close(
                        Some(CloseFrame::new(code, &e.to_string())),
                        Some(Ending::ProtocolError(code)),
                    );
                    return Some(End::Failed);
                }
            }
        }
        None
    }

    fn dispatch(&mut self, message: Message) -> Option<End> {
        match message {
            Message::Text(_) | Message::Binary(_) => {
                self.handle.shared().counters.received(message.len());
                // Section 5.5.1: after sending a close, an endpoint may
                // discard what still arrives.
                if self.conn.is_closing() {
                    return None;
                }
                let id = self.conn.id();
                let delivered = catch_unwind(AssertUnwindSafe(|| {
                    self.handle
                        .shared()
                        .handler
                        .on_message(&self.handle, id, message);
                }));
                if delivered.is_err() {
                    self.handle.flush();
                    handler_panicked(self.conn, "on_message");
                }
                None
            }
            // Section 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST
            // send a Pong frame in response, unless it already received a
            // Close frame." It goes through the queue like everything else,
            // so a client that pings without reading fills its own queue and
            // is closed (1008), instead of growing our memory.
            Message::Ping(payload) => {
                if !self.conn.is_closing() {
                    let mut pong = Vec::with_capacity(2 + payload.len());
                    encode_frame(&mut pong, true, OpCode::Pong, &payload, None);
                    let _ = self.conn.enqueue(Outgoing::Owned(pong.into_boxed_slice()));
                }
                None
            }
            Message::Pong(_) => None,
            // Section 5.5.1: "If an endpoint receives a Close frame and did
            // not previously send a Close frame, the endpoint MUST send a
            // Close frame in response." It echoes the status code. If we
            // sent ours first, the closing handshake is now complete.
            Message::Close(frame) => {
                let reply = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
                self.handle.flush();
                self.conn.close(reply, None);
                Some(End::Closed(frame))
            }
        }
    }
}
