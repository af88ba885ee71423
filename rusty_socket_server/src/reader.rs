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
use crate::rate::{self, Bucket, Verdict};
use crate::shared::Shared;
use rusty_socket_core::frame::encode_frame;
use rusty_socket_core::{CloseCode, CloseFrame, Message, OpCode, ReadBuffer, Receiver, Role};
use std::io::{self, Read};
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
fn fill(buffer: &mut ReadBuffer, source: &mut impl Source) -> io::Result<usize> {
    if !buffer.is_allocated() && !source.wait_for_data()? {
        return Ok(0);
    }
    buffer.fill(source)
}

/// What the read loop needs of its socket: reads, a read timeout, and a way
/// to wait for data without a buffer to read it into. `&TcpStream` is one;
/// the unit tests below use a script of reads instead.
pub(crate) trait Source: Read {
    /// Makes every later read give up after `timeout` (with `WouldBlock` or
    /// `TimedOut`).
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()>;
    /// Waits until at least one byte can be read, without reading it.
    /// Returns false at end of file.
    fn wait_for_data(&mut self) -> io::Result<bool>;
    /// The connection is quiet: free what the source buffers (a TLS
    /// session's receive buffer). Plain sockets buffer nothing.
    fn release(&mut self) {}
}

impl Source for &TcpStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        TcpStream::set_read_timeout(self, Some(timeout))
    }

    fn wait_for_data(&mut self) -> io::Result<bool> {
        Ok(self.peek(&mut [0u8; 1])? > 0)
    }
}

/// The state of one connection's read loop.
pub(crate) struct Reader<'a, S> {
    /// The handle the handler's callbacks receive. Its outbox gathers their
    /// broadcasts, and is flushed once a read's messages are handled and
    /// before the reader queues anything itself.
    handle: ServerHandle,
    conn: &'a Conn,
    source: S,
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
    /// The flood control of [`crate::ServerConfig::message_rate`], if set.
    bucket: Option<Bucket>,
}

impl<'a, S: Source> Reader<'a, S> {
    /// The reader of `conn`, reading `source`, whose handshake left
    /// `leftover` bytes.
    pub(crate) fn new(
        shared: &Arc<Shared>,
        conn: &'a Conn,
        source: S,
        leftover: &[u8],
    ) -> Reader<'a, S> {
        let now = Instant::now();
        let config = &shared.config;
        let bucket = (config.message_rate > 0)
            .then(|| Bucket::new(config.message_rate, config.message_burst, now));
        Reader {
            handle: ServerHandle::with_outbox(Arc::clone(shared)),
            conn,
            source,
            receiver: receiver(shared, conn),
            buffer: ReadBuffer::new(
                shared.config.websocket.read_buffer_size,
                shared.config.websocket.max_read_buffer,
                leftover,
            ),
            last_received: now,
            last_ping: now,
            closing_since: None,
            timeout: None,
            bucket,
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
            let stale = self
                .timeout
                .is_none_or(|t| t > timeout || t + Duration::from_millis(5) < timeout);
            if stale {
                if let Err(e) = self.source.set_read_timeout(timeout) {
                    return self.dead(&e);
                }
                self.timeout = Some(timeout);
            }
            match fill(&mut self.buffer, &mut self.source) {
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
                Err(e) if rusty_socket_core::connection::is_timeout(&e) => {
                    // An idle moment: give the buffer back.
                    if self.receiver.is_idle() {
                        self.buffer.release();
                        self.source.release();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.dead(&e),
            }
        }
    }

    fn dead(&self, e: &io::Error) -> End {
        if self.closing_since.is_none() && !rusty_socket_core::connection::is_disconnect(e) {
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
            let _ = self.conn.close(
                Some(CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout")),
                Some(Ending::Timeout),
            );
            self.closing_since = Some(now);
            return None;
        }
        // Time for a ping; a full queue closes the connection with 1008.
        self.last_ping = now;
        if self.conn.may_ping() {
            let mut ping = Vec::with_capacity(2);
            encode_frame(&mut ping, true, OpCode::Ping, &[], None);
            let _ = self.conn.enqueue(Outgoing::Owned(ping.into_boxed_slice()));
        }
        None
    }

    /// Decodes every complete message in the buffer and acts on it, until
    /// the buffer holds no whole frame or the connection ends.
    fn decode_buffered(&mut self) -> Option<End> {
        while !self.buffer.is_empty() {
            let received = match self.receiver.decode(self.buffer.pending()) {
                Ok((used, message)) => {
                    self.buffer.consume(used);
                    match message {
                        Some(message) => Ok(message),
                        None => break,
                    }
                }
                Err(e) => Err(e),
            };
            if let Some(end) = self.duplex(received) {
                return Some(end);
            }
        }
        None
    }

    /// Acts on one message from the peer, or on the protocol error that
    /// stopped the decoding; returns how the connection ends, if it does.
    ///
    /// What the message obliges us to send is decided by the core's state
    /// machine ([`Conn::received`], [`Conn::fail`]); anything it queues goes
    /// after what the handler has sent so far, so the outbox is flushed
    /// first.
    fn duplex(&mut self, received: Result<Message, rusty_socket_core::Error>) -> Option<End> {
        let message = match received {
            Ok(message) => message,
            Err(e) => {
                // Section 7.1.7: fail the connection with the code the
                // error implies (1002, 1007 or 1009).
                let code = e.close_code().unwrap_or(CloseCode::PROTOCOL_ERROR);
                crate::log::peer(
                    self.conn.info.peer_addr,
                    format_args!("connection {}: {e}; closing with {code}", self.conn.id()),
                );
                self.handle.flush();
                self.conn.fail(&e);
                return Some(End::Failed);
            }
        };
        if message.is_data() {
            self.handle.shared().counters.received(message.len());
            // Section 5.5.1: after sending a close, an endpoint may discard
            // what still arrives.
            if !self.conn.is_closing() && self.within_rate() {
                self.deliver(message);
            }
            return None;
        }
        if matches!(message, Message::Pong(_)) {
            return None;
        }
        self.handle.flush();
        self.conn.received(&message);
        match message {
            Message::Close(frame) => Some(End::Closed(frame)),
            _ => None,
        }
    }

    /// Whether a data message that just arrived is within the connection's
    /// rate ([`crate::rate`]). One over it is dropped, with a notice to the
    /// sender now and then; one too many closes the connection with 1008.
    /// The time is that of the read that brought the message: the messages
    /// of one read arrived together.
    fn within_rate(&mut self) -> bool {
        let Some(bucket) = &mut self.bucket else {
            return true;
        };
        match bucket.check(self.last_received) {
            Verdict::Deliver => true,
            Verdict::Drop { notify } => {
                if notify {
                    // After what the handler sent so far (send_to flushes
                    // the outbox first); a full queue closes the connection.
                    let _ = self.handle.send_to(self.conn.id(), rate::NOTICE);
                }
                false
            }
            Verdict::Close => {
                crate::log::peer(
                    self.conn.info.peer_addr,
                    format_args!(
                        "connection {}: {}; closing with 1008",
                        self.conn.id(),
                        rate::CLOSE_REASON
                    ),
                );
                self.handle.flush();
                let _ = self.conn.close(
                    Some(CloseFrame::new(
                        CloseCode::POLICY_VIOLATION,
                        rate::CLOSE_REASON,
                    )),
                    Some(Ending::RateLimited),
                );
                false
            }
        }
    }

    /// Hands a text or binary message to the handler; a panic closes the
    /// connection with 1011.
    fn deliver(&mut self, message: Message) {
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
    }
}

/// The receiver of `conn`: the server's limits, and permessage-deflate if
/// the handshake agreed it.
fn receiver(shared: &Shared, conn: &Conn) -> Receiver {
    let mut receiver = Receiver::new(Role::Server, shared.config.websocket);
    if let Some(params) = &conn.info.permessage_deflate {
        receiver.enable_deflate(params);
    }
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::encode_close;
    use crate::handler::ConnectionId;
    use crate::testing::{client_frame, conn, drain, server_frame, shared};
    use rusty_socket_core::close::parse_close_payload;
    use rusty_socket_core::OpCode;
    use std::collections::VecDeque;

    /// A socket whose reads return these chunks, one per read, and then
    /// end of file.
    struct Script(VecDeque<Vec<u8>>);

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(mut chunk) = self.0.pop_front() else {
                return Ok(0);
            };
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.0.push_front(chunk.split_off(n));
            }
            Ok(n)
        }
    }

    impl Source for Script {
        fn set_read_timeout(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }

        fn wait_for_data(&mut self) -> io::Result<bool> {
            Ok(!self.0.is_empty())
        }
    }

    /// Sends every message back to everyone (the sender included), through
    /// the outbox of the handle it is given.
    struct Broadcast;

    impl crate::Handler for Broadcast {
        fn on_message(&self, server: &ServerHandle, _: ConnectionId, message: Message) {
            server.broadcast(message).unwrap();
        }
    }

    /// Runs a reader over `chunks` to its end; returns the end and what it
    /// queued, item by item.
    fn read(chunks: Vec<Vec<u8>>) -> (End, Vec<Vec<u8>>, Option<Ending>) {
        let (conn, _line) = conn(1, 16);
        let shared = shared(Broadcast, &[&conn]);
        let mut reader = Reader::new(&shared, &conn, Script(chunks.into()), &[]);
        let end = reader.run();
        (end, drain(&conn), conn.ending())
    }

    #[test]
    fn past_the_rate_messages_are_dropped_with_one_notice_then_closed_with_1008() {
        // Burst 3: three messages through, three dropped (one notice), the
        // seventh closes; the eighth, after the close, is discarded.
        let (conn, _line) = conn(1, 16);
        let config = crate::ServerConfig::default()
            .message_rate(1)
            .message_burst(3);
        let shared = crate::testing::shared_with(config, Broadcast, &[&conn]);
        let packet: Vec<u8> = (0..8)
            .flat_map(|i| client_frame(OpCode::Text, format!("m{i}").as_bytes()))
            .collect();
        let mut reader = Reader::new(&shared, &conn, Script(vec![packet].into()), &[]);
        reader.run();
        let queued = drain(&conn);
        let mut echoes = Vec::new();
        for i in 0..3 {
            echoes.extend_from_slice(&server_frame(OpCode::Text, format!("m{i}").as_bytes()));
        }
        assert_eq!(queued.len(), 3, "{queued:?}");
        assert_eq!(queued[0], echoes);
        assert_eq!(
            queued[1],
            server_frame(OpCode::Text, rate::NOTICE.as_bytes())
        );
        assert_eq!(
            queued[2],
            close(CloseCode::POLICY_VIOLATION, rate::CLOSE_REASON)
        );
        assert_eq!(conn.ending(), Some(Ending::RateLimited));
        let stats = shared.stats();
        assert_eq!(stats.messages_in, 8);
    }

    fn close(code: CloseCode, reason: &str) -> Vec<u8> {
        encode_close(Some(&CloseFrame::new(code, reason))).to_vec()
    }

    #[test]
    fn a_ping_is_answered_with_a_pong_carrying_its_payload() {
        let (end, queued, ending) = read(vec![client_frame(OpCode::Ping, b"are you there")]);
        assert_eq!(queued, vec![server_frame(OpCode::Pong, b"are you there")]);
        // Then the script ends without a close frame.
        assert_eq!((end, ending), (End::Abnormal, None));
    }

    #[test]
    fn a_close_is_answered_with_its_code_and_ends_the_loop() {
        let mut payload = 4000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        // Bytes after the close are never read.
        let chunks = vec![
            client_frame(OpCode::Close, &payload),
            client_frame(OpCode::Text, b"late"),
        ];
        let (end, queued, ending) = read(chunks);
        assert_eq!(queued, vec![close(CloseCode(4000), "")]);
        assert_eq!(
            end,
            End::Closed(Some(CloseFrame::new(CloseCode(4000), "bye")))
        );
        assert_eq!(ending, None);
    }

    #[test]
    fn a_malformed_frame_is_failed_with_1002_after_the_answer_to_the_message_before_it() {
        // One read: a good message, then a frame with RSV1 set and no
        // extension agreed (section 5.2: the connection MUST be failed).
        let mut packet = client_frame(OpCode::Text, b"first");
        let bad = packet.len();
        packet.extend_from_slice(&client_frame(OpCode::Text, b"second"));
        packet[bad] |= 0x40;
        let (end, queued, ending) = read(vec![packet]);
        assert_eq!(queued.len(), 2, "{queued:?}");
        assert_eq!(queued[0], server_frame(OpCode::Text, b"first"));
        // A final close frame, unmasked, its payload short enough for the
        // one-byte length: 1002 and the error's text.
        assert_eq!(queued[1][0], 0x88);
        let sent = parse_close_payload(&queued[1][2..]).unwrap().unwrap();
        assert_eq!(sent.code, CloseCode::PROTOCOL_ERROR);
        assert!(sent.reason.contains("reserved bits"), "{sent:?}");
        assert_eq!(end, End::Failed);
        assert_eq!(
            ending,
            Some(Ending::ProtocolError(CloseCode::PROTOCOL_ERROR))
        );
    }

    #[test]
    fn messages_split_across_reads_are_answered_in_order_once_each_read_is_handled() {
        let mut two = client_frame(OpCode::Text, b"one");
        two.extend_from_slice(&client_frame(OpCode::Text, b"two"));
        let three = client_frame(OpCode::Binary, b"three");
        let (first, rest) = three.split_at(3);
        let (end, queued, _) = read(vec![two, first.to_vec(), rest.to_vec()]);
        // The two messages of the first read share one queue slot.
        let mut expected = server_frame(OpCode::Text, b"one");
        expected.extend_from_slice(&server_frame(OpCode::Text, b"two"));
        assert_eq!(
            queued,
            vec![expected, server_frame(OpCode::Binary, b"three")]
        );
        assert_eq!(end, End::Abnormal);
    }
}
