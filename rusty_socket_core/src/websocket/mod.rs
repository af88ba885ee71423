//! The blocking connection: [`WebSocket`] over any `Read + Write` stream,
//! for either role, and its split into a [`ReadHalf`] and a [`WriteHalf`]
//! for full duplex on two threads.
//!
//! This is a thin layer over the sans-IO pieces, one file each:
//!
//! | file | what it holds |
//! |---|---|
//! | `read_buffer.rs` | [`ReadBuffer`]: received bytes waiting for the [`Receiver`](crate::Receiver) |
//! | `reading.rs` | the read loop: bytes in, messages out, everything reported to the state machine |
//! | `write_queue.rs` | encoded frames waiting to be sent, large payloads without a copy |
//! | `split.rs` | [`ReadHalf`] and [`WriteHalf`], and how they share the state machine |
//! | `in_place.rs` | [`WebSocket::read_in_place`] and [`Incoming`]: lending from the read buffer |
//! | `opening.rs` | the opening handshake over a blocking stream: [`accept`], [`connect`], [`read_head`] |
//!
//! Every rule that needs both directions (answer pings, reply to a close,
//! fail the connection with the right code, send nothing after a close,
//! refuse what may not be sent) is decided by the connection's state
//! machine, [`crate::connection::Connection`]; this layer only moves bytes
//! and sends what the machine says is owed:
//!
//! - **Reading** returns the peer's close as [`Message::Close`] and then
//!   `Ok(None)`, so `while let Some(message) = ws.read()? { .. }` is the
//!   natural loop. The server closes the TCP connection first (section
//!   7.1.1): on the server side the connection is over as soon as the
//!   closing handshake is, and the caller drops the stream; a client waits
//!   for the server to close the TCP connection before `read` ends.
//! - **Batching**: [`WebSocket::write`] only queues, and [`WebSocket::read`]
//!   flushes before it blocks for more input. A server answering every
//!   message of a read with `write` therefore sends all the answers in one
//!   system call. Pongs wait for that flush too; a close is sent at once.
//! - **Lending** (zero copy): [`WebSocket::read_in_place`] unmasks a
//!   message that arrived whole where it lies in the read buffer and lends
//!   it; [`Incoming::echo`] queues it back as a range of that buffer. The
//!   only way the buffer is filled again flushes the queue first.

mod in_place;
mod opening;
mod read_buffer;
mod reading;
mod split;
pub(crate) use split::lock;
#[cfg(test)]
mod test_support;
mod write_queue;

pub use in_place::Incoming;
pub use opening::{accept, connect, read_head};
pub use read_buffer::ReadBuffer;
pub use split::{ReadHalf, WriteHalf};

use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::connection::{Connection, State};
use crate::deflate::DeflateParams;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::opcode::OpCode;
use crate::protocol::Role;
use reading::{Link, Reader};
use std::io::{self, Read, Write};
use write_queue::{Payload, WriteQueue};

/// A WebSocket connection over a blocking stream, after the opening
/// handshake. Build one with [`accept`] (server), [`connect`] (client), or
/// [`WebSocket::from_raw`] when the handshake was done elsewhere.
///
/// ```
/// use rusty_socket_core::{Message, WebSocket, Role, Config};
/// use std::io::Cursor;
/// // A masked "Hello" from a client, read by a server from an in-memory
/// // stream (a Cursor over a Vec is Read + Write).
/// let bytes = vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let mut ws = WebSocket::from_raw(Cursor::new(bytes), Role::Server, Config::default(), &[]);
/// assert_eq!(ws.read().unwrap(), Some(Message::text("Hello")));
/// ```
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    reader: Reader,
    /// The rules of the connection, and what it has sent and received.
    connection: Connection,
    queue: WriteQueue,
    config: Config,
    /// What permessage-deflate the handshake agreed, if any.
    deflate: Option<DeflateParams>,
}

impl<S: Read + Write> WebSocket<S> {
    /// Wraps a stream whose opening handshake is complete and agreed no
    /// extension. `leftover` are bytes already read past the end of the
    /// handshake: the first frames.
    pub fn from_raw(stream: S, role: Role, config: Config, leftover: &[u8]) -> WebSocket<S> {
        WebSocket::from_raw_with_deflate(stream, role, config, None, leftover)
    }

    /// [`Self::from_raw`] for a handshake that agreed permessage-deflate
    /// with `deflate` (RFC 7692): compressed messages are accepted, and
    /// whole data messages are sent compressed at the level and threshold
    /// of [`Config::permessage_deflate`] (or its defaults, if that is
    /// `None`).
    pub fn from_raw_with_deflate(
        stream: S,
        role: Role,
        config: Config,
        deflate: Option<DeflateParams>,
        leftover: &[u8],
    ) -> WebSocket<S> {
        let mut reader = Reader::new(role, &config, leftover);
        let mut queue = WriteQueue::new(role, &config);
        if let Some(params) = &deflate {
            let settings = config.permessage_deflate.unwrap_or_default();
            reader.receiver.enable_deflate(params);
            queue.enable_deflate(params, &settings);
        }
        WebSocket {
            stream,
            reader,
            connection: Connection::new(role),
            queue,
            config,
            deflate,
        }
    }

    /// The permessage-deflate parameters the handshake agreed, or `None`
    /// if messages travel uncompressed.
    pub fn permessage_deflate(&self) -> Option<&DeflateParams> {
        self.deflate.as_ref()
    }

    /// Reads the next message, blocking until one is complete. Pings are
    /// answered (the pong goes out with the next flush) and returned; the
    /// peer's close is answered at once and returned as [`Message::Close`].
    /// `Ok(None)` is the clean end: the closing handshake is complete (and,
    /// for a client, the server has closed the TCP connection), or the
    /// connection failed earlier. It is returned again by every later call.
    ///
    /// Any queued outgoing frames are flushed before this blocks.
    ///
    /// # Errors
    /// A protocol, capacity or UTF-8 error fails the connection: the close
    /// frame it implies has been sent when the error is returned. An end of
    /// the stream without a closing handshake is an `UnexpectedEof` I/O
    /// error (1006). Other I/O errors come from the stream, including
    /// timeouts set on it.
    pub fn read(&mut self) -> Result<Option<Message>> {
        let (reader, mut link) = self.parts();
        reader.read(&mut link)
    }

    /// The read side, and the rest of the connection as the read loop's
    /// link: two borrows apart.
    fn parts(&mut self) -> (&mut Reader, Whole<'_, S>) {
        let WebSocket {
            stream,
            reader,
            connection,
            queue,
            ..
        } = self;
        (
            reader,
            Whole {
                stream,
                connection,
                queue,
            },
        )
    }

    /// Queues a message to be sent with the next flush (or the next read,
    /// which flushes before blocking). [`Message::Close`] starts the closing
    /// handshake and is flushed at once.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] once a close was sent or received;
    /// [`Error::Send`] for a ping or pong longer than 125 bytes or a close
    /// code that may not be sent; I/O errors if the queue had to be flushed.
    pub fn write(&mut self, message: Message) -> Result<()> {
        match message {
            Message::Close(frame) => self.send_close(frame.as_ref()),
            message => {
                let opcode = message.opcode();
                self.push(true, opcode, Payload::Owned(message.into_payload()), true)
            }
        }
    }

    /// Queues a data message that is never compressed, even when
    /// permessage-deflate was agreed: for a secret sent on a connection
    /// that also carries text an attacker chooses (compressing both
    /// together tells the attacker, through the sizes, whether his guess
    /// matched the secret: the CRIME attack). Other messages are written
    /// as [`Self::write`] writes them.
    ///
    /// # Errors
    /// As [`Self::write`].
    pub fn write_uncompressed(&mut self, message: Message) -> Result<()> {
        if !message.is_data() {
            return self.write(message);
        }
        let opcode = message.opcode();
        self.push(true, opcode, Payload::Owned(message.into_payload()), false)
    }

    fn push(
        &mut self,
        fin: bool,
        opcode: OpCode,
        payload: Payload<'_>,
        compress: bool,
    ) -> Result<()> {
        let (reader, mut link) = self.parts();
        link.push(reader.buffer.storage(), fin, opcode, payload, compress)
    }

    fn send_close(&mut self, frame: Option<&CloseFrame>) -> Result<()> {
        self.connection.send_close(frame)?;
        self.queue.push_close(frame)?;
        self.flush()
    }

    /// Writes one frame of a message you fragment yourself: the first with
    /// `OpCode::Text` or `OpCode::Binary`, the rest with
    /// `OpCode::Continuation`, `fin` on the last (section 5.4). Control
    /// frames may come between the fragments; an `OpCode::Close` frame's
    /// payload must be a valid close body, and starts the closing handshake.
    ///
    /// # Errors
    /// [`Error::Send`] for what RFC 6455 forbids (a fragmented or oversized
    /// control frame, a continuation with nothing to continue, a new
    /// message before the last one's final fragment, an invalid close
    /// body); otherwise as [`Self::write`].
    pub fn write_frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) -> Result<()> {
        if opcode == OpCode::Close && fin {
            self.connection.send_close_payload(payload)?;
            self.queue
                .push(&[], true, OpCode::Close, Payload::Borrowed(payload))?;
            return self.flush();
        }
        self.push(fin, opcode, Payload::Borrowed(payload), false)
    }

    /// Queues and flushes a message.
    ///
    /// # Errors
    /// As [`Self::write`] and [`Self::flush`].
    pub fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        self.write(message.into())?;
        self.flush()
    }

    /// Sends a ping with `payload` (at most 125 bytes).
    ///
    /// # Errors
    /// As [`Self::write`].
    pub fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.push(true, OpCode::Ping, Payload::Borrowed(payload), false)?;
        self.flush()
    }

    /// Starts the closing handshake with `code` and `reason` (cut to 123
    /// bytes). Keep calling [`Self::read`] to receive the peer's close; data
    /// it sent before may still arrive first.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] if a close was already sent or received;
    /// [`Error::Send`] for a code that may not be sent (1005, 1006, 1015,
    /// ...).
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        self.send_close(Some(&CloseFrame::new(code.into(), reason)))
    }

    /// Sends everything queued.
    ///
    /// # Errors
    /// I/O errors from the stream.
    pub fn flush(&mut self) -> Result<()> {
        self.queue
            .flush(&mut self.stream, self.reader.buffer.storage())
    }

    /// Whether data frames may still be sent (no close sent or received).
    pub fn is_open(&self) -> bool {
        self.connection.is_open()
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.connection.state()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The underlying stream, for example to set timeouts.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably. Reading or writing it directly
    /// corrupts the frame stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Splits the connection into a read half and a write half that can be
    /// used from two threads. `try_clone` makes a second handle to the
    /// stream, such as `TcpStream::try_clone`.
    ///
    /// Both halves drive the connection's one state machine: a close sent
    /// or received by either is seen by both. What the read half owes the
    /// peer (pongs, the reply to a close) is queued for whichever half
    /// writes next; the read half never waits for the write half. Frames
    /// already queued are sent by the first of them to write or read.
    ///
    /// # Errors
    /// Whatever `try_clone` fails with.
    pub fn split(
        self,
        try_clone: impl FnOnce(&S) -> io::Result<S>,
    ) -> io::Result<(ReadHalf<S>, WriteHalf<S>)> {
        let read_stream = try_clone(&self.stream)?;
        let mut queue = self.queue;
        queue.copy_lent(self.reader.buffer.storage());
        Ok(split::split(
            self.stream,
            read_stream,
            self.reader,
            self.connection,
            queue,
            &self.config,
        ))
    }
}

/// The link of a whole [`WebSocket`]: one stream for both directions, and
/// one owner for the state machine and the queue, so nothing is shared.
#[derive(Debug)]
struct Whole<'a, S> {
    stream: &'a mut S,
    connection: &'a mut Connection,
    queue: &'a mut WriteQueue,
}

impl<S: Write> Whole<'_, S> {
    /// Asks the state machine, then queues the frame (compressed if
    /// `compress` and permessage-deflate was agreed), flushing if the queue
    /// is full. `lent` is the read buffer's bytes.
    fn push(
        &mut self,
        lent: &[u8],
        fin: bool,
        opcode: OpCode,
        payload: Payload<'_>,
        compress: bool,
    ) -> Result<()> {
        self.connection.send(fin, opcode, payload.len(lent))?;
        if compress {
            self.queue.push(lent, fin, opcode, payload)?;
        } else {
            self.queue.push_uncompressed(lent, fin, opcode, payload)?;
        }
        if self.queue.is_full() {
            self.queue.flush(self.stream, lent)?;
        }
        Ok(())
    }
}

impl<S: Read + Write> Link for Whole<'_, S> {
    fn fill(&mut self, buffer: &mut ReadBuffer) -> Result<usize> {
        // Flush first: lent payloads point into the buffer, which filling
        // may move or overwrite.
        self.queue.flush(self.stream, buffer.storage())?;
        Ok(buffer.fill(self.stream)?)
    }
    fn state(&mut self) -> State {
        self.connection.state()
    }
    fn received(&mut self, lent: &[u8], message: &Message) -> Result<()> {
        let Some(owed) = self.connection.receive(message) else {
            return Ok(());
        };
        let is_close = matches!(owed, crate::connection::Owed::Close(_));
        self.queue.push_owed(owed)?;
        if is_close {
            // The closing handshake is complete for a server, which drops
            // the stream next: the reply goes out now. The peer may already
            // be gone; the handshake is over either way.
            let _ = self.queue.flush(self.stream, lent);
        }
        Ok(())
    }
    fn failed(&mut self, lent: &[u8], error: &Error) {
        if let Some(close) = self.connection.fail(error) {
            if self.queue.push_close(Some(&close)).is_ok() {
                let _ = self.queue.flush(self.stream, lent);
            }
        }
    }
    fn ended(&mut self) -> bool {
        self.connection.end_of_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{messages_on, peer_frames, Scripted};
    use super::*;
    use crate::connection::SendError;

    /// A stream that accepts at most `step` bytes per write, as a busy
    /// socket may, and has nothing to read.
    struct Trickle {
        written: Vec<u8>,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }

    impl Write for Trickle {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let n = bytes.len().min(self.step);
            self.written.extend_from_slice(&bytes[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Small frames are copied, large owned payloads are queued and sent by
    /// a vectored write: the bytes on the wire must be the same frames in the
    /// same order, for both roles, however the stream splits the writes.
    #[test]
    fn queued_payloads_go_out_in_order_through_partial_writes() {
        let messages = vec![
            Message::text("small"),
            Message::binary(vec![7u8; 5000]),
            Message::Ping(b"ping".to_vec()),
            Message::text("é".repeat(1500)),
            Message::binary(vec![1u8; 1024]),
            Message::text(""),
        ];
        for role in [Role::Server, Role::Client] {
            for step in [1, 7, 4096, usize::MAX] {
                let stream = Trickle {
                    written: Vec::new(),
                    step,
                };
                let mut ws = WebSocket::from_raw(stream, role, Config::default(), &[]);
                for message in messages.clone() {
                    ws.write(message).unwrap();
                }
                ws.flush().unwrap();
                let wire = std::mem::take(&mut ws.get_mut().written);
                let received = messages_on(&wire, role);
                assert_eq!(received, messages, "{role:?}, writes of {step} bytes");
            }
        }
    }

    /// A fresh server connection over a scripted stream with no input.
    fn server() -> (WebSocket<Scripted>, Scripted) {
        let stream = Scripted::new(Vec::new(), usize::MAX);
        (
            WebSocket::from_raw(stream.clone(), Role::Server, Config::default(), &[]),
            stream,
        )
    }

    /// One named test per send the public API must refuse; nothing reaches
    /// the wire, and the connection stays usable where it was.
    macro_rules! refused {
        ($($name:ident: |$ws:ident| $setup:expr, $send:expr => $error:pat_param,)*) => {$(
            #[test]
            fn $name() {
                let (mut $ws, stream) = server();
                #[allow(clippy::unused_unit, path_statements, clippy::no_effect)]
                {
                    $setup;
                }
                $ws.flush().unwrap();
                let before = stream.written();
                let result = $send;
                assert!(matches!(result, Err($error)), "{result:?}");
                $ws.flush().unwrap();
                assert_eq!(stream.written(), before, "nothing more was sent");
            }
        )*};
    }

    refused! {
        a_fragmented_ping: |ws| (), ws.write_frame(false, OpCode::Ping, b"x")
            => Error::Send(SendError::FragmentedControlFrame),
        a_ping_of_126_bytes: |ws| (), ws.ping(&[0; 126])
            => Error::Send(SendError::ControlFrameTooLong(126)),
        a_pong_of_126_bytes: |ws| (), ws.write(Message::Pong(vec![0; 126]))
            => Error::Send(SendError::ControlFrameTooLong(126)),
        a_continuation_with_nothing_to_continue: |ws| (),
            ws.write_frame(true, OpCode::Continuation, b"c")
            => Error::Send(SendError::NothingToContinue),
        a_new_message_inside_a_fragmented_one: |ws| ws.write_frame(false, OpCode::Text, b"a").unwrap(),
            ws.write(Message::text("b"))
            => Error::Send(SendError::MessageInProgress),
        data_after_our_close: |ws| ws.close(CloseCode::NORMAL, "").unwrap(),
            ws.write(Message::text("late")) => Error::AlreadyClosed,
        data_after_a_raw_close_frame: |ws| ws.write_frame(true, OpCode::Close, &[0x03, 0xe8]).unwrap(),
            ws.write(Message::text("late")) => Error::AlreadyClosed,
        a_ping_after_our_close: |ws| ws.close(CloseCode::NORMAL, "").unwrap(),
            ws.ping(b"") => Error::AlreadyClosed,
        a_second_close: |ws| ws.close(CloseCode::NORMAL, "").unwrap(),
            ws.close(CloseCode::NORMAL, "") => Error::AlreadyClosed,
        close_code_1005: |ws| (), ws.close(CloseCode::NO_STATUS, "")
            => Error::Send(SendError::UnsendableCloseCode(1005)),
        close_code_1006_in_a_message: |ws| (),
            ws.write(Message::Close(Some(CloseFrame::new(CloseCode::ABNORMAL, ""))))
            => Error::Send(SendError::UnsendableCloseCode(1006)),
        close_code_1015_as_a_raw_frame: |ws| (),
            ws.write_frame(true, OpCode::Close, &1015u16.to_be_bytes())
            => Error::Send(SendError::UnsendableCloseCode(1015)),
        a_raw_close_frame_of_one_byte: |ws| (), ws.write_frame(true, OpCode::Close, &[3])
            => Error::Send(SendError::InvalidClosePayload),
        a_fragmented_close_frame: |ws| (), ws.write_frame(false, OpCode::Close, &[3, 232])
            => Error::Send(SendError::InvalidClosePayload),
    }

    #[test]
    fn a_raw_close_frame_ends_what_may_be_sent() {
        let (mut ws, stream) = server();
        ws.write_frame(true, OpCode::Close, &[0x03, 0xe8]).unwrap();
        assert!(!ws.is_open());
        assert_eq!(ws.state(), State::CloseSent);
        assert_eq!(
            messages_on(&stream.written(), Role::Server),
            vec![Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))]
        );
    }

    #[test]
    fn reading_ends_with_the_close_then_none() {
        for role in [Role::Server, Role::Client] {
            let input = peer_frames(
                role,
                &[
                    (true, OpCode::Text, b"hi".to_vec()),
                    (true, OpCode::Close, vec![0x03, 0xe8]),
                ],
            );
            let stream = Scripted::new(input, usize::MAX);
            let mut ws = WebSocket::from_raw(stream.clone(), role, Config::default(), &[]);
            let mut seen = Vec::new();
            while let Some(message) = ws.read().unwrap() {
                seen.push(message);
            }
            assert_eq!(
                seen,
                vec![
                    Message::text("hi"),
                    Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
                ]
            );
            assert_eq!(ws.read().unwrap(), None, "the end stays the end");
            assert_eq!(ws.state(), State::Closed);
            assert!(matches!(ws.send("late"), Err(Error::AlreadyClosed)));
            // The close was answered once, with its code.
            assert_eq!(
                messages_on(&stream.written(), role),
                vec![Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))]
            );
        }
    }

    #[test]
    fn an_end_of_stream_without_a_close_is_1006_then_none() {
        let stream = Scripted::new(Vec::new(), usize::MAX);
        let mut ws = WebSocket::from_raw(stream, Role::Client, Config::default(), &[]);
        let error = ws.read().unwrap_err();
        assert!(
            matches!(&error, Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{error}"
        );
        assert_eq!(ws.read().unwrap(), None);
    }

    #[test]
    fn a_ping_is_answered_with_the_next_flush() {
        let input = peer_frames(Role::Server, &[(true, OpCode::Ping, b"p".to_vec())]);
        let stream = Scripted::new(input, usize::MAX);
        let mut ws = WebSocket::from_raw(stream.clone(), Role::Server, Config::default(), &[]);
        assert_eq!(ws.read().unwrap(), Some(Message::Ping(b"p".to_vec())));
        assert!(stream.written().is_empty());
        ws.flush().unwrap();
        assert_eq!(
            messages_on(&stream.written(), Role::Server),
            vec![Message::Pong(b"p".to_vec())]
        );
    }
}
