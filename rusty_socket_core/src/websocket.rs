//! The blocking connection: [`WebSocket`] over any `Read + Write` stream,
//! for either role, and its split into a [`ReadHalf`] and a [`WriteHalf`]
//! for full duplex on two threads.
//!
//! This is a thin layer over the sans-IO pieces. Reading: one growable
//! buffer is filled from the stream and handed to the [`Receiver`], which
//! turns bytes into messages. Writing: frames are encoded into a buffer and
//! sent on [`WebSocket::flush`]. The layer adds what needs both directions:
//!
//! - **Pongs** (section 5.5.2): a received ping is answered with a pong
//!   carrying the same application data, by itself.
//! - **The closing handshake** (section 5.5.1 and 7): a received close is
//!   answered with a close echoing its code, once; after a close is sent no
//!   data frame follows it. The server closes the TCP connection first
//!   (section 7.1.1): on the server side the connection is over as soon as
//!   the closing handshake is, and the caller drops the stream; a client
//!   waits for the server to close the TCP connection.
//! - **Failing the connection** (section 7.1.7): a protocol violation sends
//!   a close frame with the code the error implies (1002, 1007, 1009), and
//!   the connection is over.
//! - **Batching**: [`WebSocket::write`] only buffers, and [`WebSocket::read`]
//!   flushes before it blocks for more input. A server answering every
//!   message of a read with `write` therefore sends all the answers in one
//!   system call.

use crate::close::{encode_close_payload, CloseCode, CloseFrame};
use crate::config::Config;
use crate::entropy::masking_key;
use crate::error::{Error, ProtocolError, Result};
use crate::frame::{encode_frame, FrameHeader, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::message::Message;
use crate::opcode::OpCode;
use crate::protocol::{Receiver, Role};
use std::io::{self, IoSlice, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a connection is in its closing handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// Data flows both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    Sent,
    /// Client only: the closing handshake is complete; we wait for the
    /// server to close the TCP connection.
    Draining,
    /// Nothing more will be read or written.
    Done,
}

/// The read side: a buffer, the receiver, and what it has seen of the close.
#[derive(Debug)]
struct Reader {
    buffer: ReadBuffer,
    receiver: Receiver,
}

/// The read buffer of a blocking connection: bytes `start..end` of `data`
/// are received but not yet consumed.
///
/// It is allocated on the first [`fill`](Self::fill), so an idle connection
/// holds none, and it grows, while reads keep filling it, up to a maximum.
/// Since a [`Receiver`] consumes payload as it arrives, what stays behind
/// between reads is at most a partial frame header: the buffer never needs
/// to hold a whole frame. [`WebSocket`] uses one; a server with its own
/// read loop can too.
#[derive(Debug)]
pub struct ReadBuffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
    initial: usize,
    max: usize,
}

impl ReadBuffer {
    /// A buffer that starts at `initial` bytes, may grow to `max`, and
    /// holds `leftover` (bytes read past the handshake) to begin with.
    pub fn new(initial: usize, max: usize, leftover: &[u8]) -> ReadBuffer {
        let initial = initial.max(MAX_HEADER_LEN);
        ReadBuffer {
            data: leftover.to_vec(),
            start: 0,
            end: leftover.len(),
            initial,
            max: max.max(initial),
        }
    }

    /// The bytes received and not yet consumed.
    pub fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Whether no received byte is waiting.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether memory is held; after [`release`](Self::release), none is.
    pub fn is_allocated(&self) -> bool {
        !self.data.is_empty()
    }

    /// Drops `n` bytes from the front of [`pending`](Self::pending).
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Frees the memory if nothing is pending: for a connection that has
    /// gone quiet.
    pub fn release(&mut self) {
        if self.is_empty() {
            self.data = Vec::new();
        }
    }

    /// One `read` call on `stream`; returns the number of bytes received
    /// (0: end of file).
    ///
    /// # Errors
    /// Whatever the stream's `read` fails with, `Interrupted` aside.
    pub fn fill<R: Read + ?Sized>(&mut self, stream: &mut R) -> io::Result<usize> {
        if self.data.is_empty() {
            self.data = vec![0; self.initial.max(self.end)];
        } else if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.data.len() * 2).max(self.initial);
                self.data.resize(grown, 0);
            }
        }
        let free = self.data.len() - self.end;
        let n = loop {
            match stream.read(&mut self.data[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.end += n;
        // Reads that fill the buffer mean the peer sends faster than we
        // read: a bigger buffer takes fewer system calls.
        if n == free && self.data.len() < self.max {
            let grown = (self.data.len() * 2).min(self.max);
            self.data.resize(grown, 0);
        }
        Ok(n)
    }
}

/// The write side: encodes frames into a buffer, and queues large payloads
/// that the caller gave away so that they are sent from where they are,
/// without a copy, in the same system call as the rest
/// (`write_vectored`).
#[derive(Debug)]
struct WriteState {
    role: Role,
    /// Headers and small frames.
    buffer: Vec<u8>,
    /// Large payloads, each to be sent after `buffer[..offset]`.
    payloads: Vec<(usize, Vec<u8>)>,
    /// Bytes queued in `buffer` and `payloads` together.
    queued: usize,
    flush_at: usize,
    closing: Closing,
}

/// A frame's payload: borrowed (copied into the write buffer) or given
/// away with the message (sent without a copy when it is large).
enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Payload<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Borrowed(bytes) => bytes,
            Payload::Owned(bytes) => bytes,
        }
    }
}

/// Owned payloads at least this long are sent without being copied: below
/// it, a copy costs less than one more entry in the vectored write.
const ZERO_COPY_MIN: usize = 1024;

impl WriteState {
    fn new(role: Role, config: &Config) -> WriteState {
        WriteState {
            role,
            buffer: Vec::new(),
            payloads: Vec::new(),
            queued: 0,
            flush_at: config.write_buffer_size.max(MAX_HEADER_LEN),
            closing: Closing::Open,
        }
    }

    /// Encodes one frame; a client masks it with a fresh key (section 5.3).
    fn frame<W: Write + ?Sized>(
        &mut self,
        stream: &mut W,
        fin: bool,
        opcode: OpCode,
        payload: Payload<'_>,
    ) -> Result<()> {
        let len = payload.as_slice().len();
        if opcode.is_control() && len > 125 {
            return Err(ProtocolError::ControlFrameTooLong.into());
        }
        let masking_key = match self.role {
            Role::Client => Some(masking_key()?),
            Role::Server => None,
        };
        let before = self.buffer.len();
        match payload {
            Payload::Owned(mut bytes) if len >= ZERO_COPY_MIN => {
                let header = FrameHeader {
                    fin,
                    masking_key,
                    ..FrameHeader::new(opcode, len as u64)
                };
                header.append_to(&mut self.buffer);
                if let Some(key) = masking_key {
                    // The payload is ours now: mask it in place.
                    apply_mask(&mut bytes, key, 0);
                }
                self.payloads.push((self.buffer.len(), bytes));
                self.queued += len;
            }
            payload => {
                encode_frame(
                    &mut self.buffer,
                    fin,
                    opcode,
                    payload.as_slice(),
                    masking_key,
                );
            }
        }
        self.queued += self.buffer.len() - before;
        if self.queued >= self.flush_at {
            self.flush(stream)?;
        }
        Ok(())
    }

    /// A data or control frame, refused once a close has been sent.
    fn send_frame<W: Write + ?Sized>(
        &mut self,
        stream: &mut W,
        fin: bool,
        opcode: OpCode,
        payload: Payload<'_>,
    ) -> Result<()> {
        if self.closing != Closing::Open {
            return Err(Error::ConnectionClosed);
        }
        self.frame(stream, fin, opcode, payload)
    }

    /// Queues a message (not a close), giving its payload away.
    fn send_message<W: Write + ?Sized>(&mut self, stream: &mut W, message: Message) -> Result<()> {
        let opcode = message.opcode();
        let payload = match message {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data,
            Message::Close(frame) => return self.send_close(stream, frame.as_ref()),
        };
        self.send_frame(stream, true, opcode, Payload::Owned(payload))
    }

    fn send_close<W: Write + ?Sized>(
        &mut self,
        stream: &mut W,
        frame: Option<&CloseFrame>,
    ) -> Result<()> {
        if self.closing != Closing::Open {
            return Err(Error::ConnectionClosed);
        }
        if let Some(frame) = frame {
            if !frame.code.is_sendable() {
                return Err(ProtocolError::InvalidCloseCode(frame.code.0).into());
            }
        }
        let mut payload = Vec::with_capacity(125);
        encode_close_payload(frame, &mut payload);
        self.frame(stream, true, OpCode::Close, Payload::Borrowed(&payload))?;
        self.closing = Closing::Sent;
        self.flush(stream)
    }

    fn flush<W: Write + ?Sized>(&mut self, stream: &mut W) -> Result<()> {
        let result = if self.payloads.is_empty() {
            stream.write_all(&self.buffer)
        } else {
            // Interleave the buffer's pieces with the queued payloads.
            let mut slices = Vec::with_capacity(2 * self.payloads.len() + 1);
            let mut start = 0;
            for (offset, payload) in &self.payloads {
                slices.push(IoSlice::new(&self.buffer[start..*offset]));
                slices.push(IoSlice::new(payload));
                start = *offset;
            }
            slices.push(IoSlice::new(&self.buffer[start..]));
            write_all_vectored(stream, &mut slices)
        };
        self.buffer.clear();
        self.payloads.clear();
        self.queued = 0;
        result?;
        stream.flush()?;
        Ok(())
    }

    /// What a received message obliges us to send: a pong for a ping, a
    /// close reply for a close. Returns the new closing state of the read
    /// side.
    fn answer<W: Write + ?Sized>(&mut self, stream: &mut W, message: &Message) -> Result<()> {
        match message {
            // Section 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST
            // send a Pong frame in response, unless it already received a
            // Close frame." It goes out with the next flush.
            Message::Ping(payload) if self.closing == Closing::Open => {
                self.frame(stream, true, OpCode::Pong, Payload::Borrowed(payload))
            }
            // Section 5.5.1: "If an endpoint receives a Close frame and did
            // not previously send a Close frame, the endpoint MUST send a
            // Close frame in response." It echoes the status code.
            Message::Close(frame) => {
                if self.closing == Closing::Open {
                    let reply = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
                    // The peer may already be gone; the handshake is over
                    // either way.
                    let _ = self.send_close(stream, reply.as_ref());
                }
                self.closing = match self.role {
                    Role::Client => Closing::Draining,
                    Role::Server => Closing::Done,
                };
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Section 7.1.7, _Fail the WebSocket Connection_: send the close code the
    /// error implies, if a close may still be sent, and stop.
    fn fail<W: Write + ?Sized>(&mut self, stream: &mut W, error: &Error) {
        if let Some(code) = error.close_code() {
            let reason = error.to_string();
            let _ = self.send_close(stream, Some(&CloseFrame::new(code, &reason)));
        }
        self.closing = Closing::Done;
    }
}

impl Reader {
    fn new(role: Role, config: &Config, leftover: &[u8]) -> Reader {
        Reader {
            buffer: ReadBuffer::new(config.read_buffer_size, config.max_read_buffer, leftover),
            receiver: Receiver::new(role, *config),
        }
    }

    /// Decodes the next message from what is buffered, if there is one.
    fn poll(&mut self) -> Result<Option<Message>> {
        if self.buffer.is_empty() {
            return Ok(None);
        }
        let (used, message) = self.receiver.decode(self.buffer.pending())?;
        self.buffer.consume(used);
        Ok(message)
    }

    /// The read loop shared by [`WebSocket::read`] and [`ReadHalf::read`]:
    /// decode what is buffered; if no message is complete, flush what we
    /// owe the peer and block for more bytes.
    fn read<L: Link>(&mut self, link: &mut L) -> Result<Message> {
        loop {
            match link.closing() {
                Closing::Done => return Err(Error::ConnectionClosed),
                Closing::Draining => {
                    // Wait for the server to close the TCP connection,
                    // discarding anything that still arrives. A reset is
                    // as good as a close here: the handshake is complete.
                    let pending = self.buffer.pending().len();
                    self.buffer.consume(pending);
                    match link.fill(&mut self.buffer) {
                        Ok(0) => link.set_closing(Closing::Done),
                        Ok(_) => {}
                        Err(e) if is_disconnect(&e) => link.set_closing(Closing::Done),
                        Err(e) => return Err(e.into()),
                    }
                    continue;
                }
                Closing::Open | Closing::Sent => {}
            }
            match self.poll() {
                Ok(Some(message)) => {
                    link.answer(&message)?;
                    return Ok(message);
                }
                Ok(None) => {}
                Err(error) => {
                    link.fail(&error);
                    return Err(error);
                }
            }
            link.flush()?;
            if link.fill(&mut self.buffer)? == 0 {
                return Err(link.end_of_stream());
            }
        }
    }
}

/// What the read loop needs besides the read buffer: the stream to read
/// from, and the write side, to answer pings and closes and to share the
/// closing state.
trait Link {
    fn fill(&mut self, buffer: &mut ReadBuffer) -> io::Result<usize>;
    fn closing(&mut self) -> Closing;
    fn set_closing(&mut self, closing: Closing);
    fn answer(&mut self, message: &Message) -> Result<()>;
    fn fail(&mut self, error: &Error);
    fn flush(&mut self) -> Result<()>;
    /// The stream reported end of file: the connection is over. Returns
    /// how it ended.
    fn end_of_stream(&mut self) -> Error;
}

/// The link of a whole [`WebSocket`]: one stream for both directions.
struct Whole<'a, S> {
    stream: &'a mut S,
    writer: &'a mut WriteState,
}

impl<S: Read + Write> Link for Whole<'_, S> {
    fn fill(&mut self, buffer: &mut ReadBuffer) -> io::Result<usize> {
        buffer.fill(self.stream)
    }
    fn closing(&mut self) -> Closing {
        self.writer.closing
    }
    fn set_closing(&mut self, closing: Closing) {
        self.writer.closing = closing;
    }
    fn answer(&mut self, message: &Message) -> Result<()> {
        self.writer.answer(self.stream, message)
    }
    fn fail(&mut self, error: &Error) {
        self.writer.fail(self.stream, error);
    }
    fn flush(&mut self) -> Result<()> {
        self.writer.flush(self.stream)
    }
    fn end_of_stream(&mut self) -> Error {
        let error = end_of_stream(self.writer.closing);
        self.writer.closing = Closing::Done;
        error
    }
}

/// The link of a [`ReadHalf`]: its own stream handle to read from, and the
/// shared [`WriteHalf`] to answer through. The read side keeps its own view
/// of the closing state (`local`), so that reading data never waits for the
/// writer's lock: only pings, closes and the end of the stream take it.
/// Answers are flushed at once, since the write half may be idle on another
/// thread.
struct Halves<'a, S> {
    stream: &'a mut S,
    writer: &'a WriteHalf<S>,
    local: &'a mut Closing,
}

impl<S: Read + Write> Link for Halves<'_, S> {
    fn fill(&mut self, buffer: &mut ReadBuffer) -> io::Result<usize> {
        buffer.fill(self.stream)
    }
    fn closing(&mut self) -> Closing {
        // `Sent` (by the write half) reads the same as `Open` here.
        *self.local
    }
    fn set_closing(&mut self, closing: Closing) {
        *self.local = closing;
        self.writer.lock().state.closing = closing;
    }
    fn answer(&mut self, message: &Message) -> Result<()> {
        if !matches!(message, Message::Ping(_) | Message::Close(_)) {
            return Ok(());
        }
        let mut guard = self.writer.lock();
        let SharedWriter { stream, state } = &mut *guard;
        let answered = state
            .answer(stream, message)
            .and_then(|()| state.flush(stream));
        if matches!(message, Message::Close(_)) {
            *self.local = state.closing;
        }
        answered
    }
    fn fail(&mut self, error: &Error) {
        let mut guard = self.writer.lock();
        let SharedWriter { stream, state } = &mut *guard;
        state.fail(stream, error);
        *self.local = Closing::Done;
    }
    fn flush(&mut self) -> Result<()> {
        // Answers were flushed when they were made; sends flush themselves.
        Ok(())
    }
    fn end_of_stream(&mut self) -> Error {
        let mut guard = self.writer.lock();
        let error = end_of_stream(guard.state.closing);
        guard.state.closing = Closing::Done;
        *self.local = Closing::Done;
        error
    }
}

/// `write_all` for a list of slices: one `write_vectored` call when the
/// stream takes everything at once, more when it does not.
fn write_all_vectored<W: Write + ?Sized>(
    stream: &mut W,
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match stream.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The error for an end of file in state `closing`.
fn end_of_stream(closing: Closing) -> Error {
    match closing {
        // The server closed after the closing handshake, or after we sent a
        // close: both are the normal end.
        Closing::Draining | Closing::Sent | Closing::Done => Error::ConnectionClosed,
        Closing::Open => Error::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the peer closed the connection without a close frame (1006)",
        )),
    }
}

/// Errors that mean the peer has gone: after a completed closing handshake
/// they end the connection as cleanly as an end of file does.
fn is_disconnect(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// A WebSocket connection over a blocking stream, after the opening
/// handshake. Build one with [`crate::handshake::accept`] (server),
/// [`crate::handshake::connect`] (client), or [`WebSocket::from_raw`] when the
/// handshake was done elsewhere.
///
/// ```
/// use rusty_socket_core::{Message, WebSocket, Role, Config};
/// use std::io::Cursor;
/// // A masked "Hello" from a client, read by a server from an in-memory
/// // stream (a Cursor over a Vec is Read + Write).
/// let bytes = vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let mut ws = WebSocket::from_raw(Cursor::new(bytes), Role::Server, Config::default(), &[]);
/// assert_eq!(ws.read().unwrap(), Message::text("Hello"));
/// ```
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    reader: Reader,
    writer: WriteState,
    config: Config,
}

impl<S: Read + Write> WebSocket<S> {
    /// Wraps a stream whose opening handshake is complete. `leftover` are
    /// bytes already read past the end of the handshake: the first frames.
    pub fn from_raw(stream: S, role: Role, config: Config, leftover: &[u8]) -> WebSocket<S> {
        WebSocket {
            stream,
            reader: Reader::new(role, &config, leftover),
            writer: WriteState::new(role, &config),
            config,
        }
    }

    /// Reads the next message, blocking until one is complete. Pings are
    /// answered and returned; a close is answered and returned as
    /// [`Message::Close`], after which the next call gives
    /// [`Error::ConnectionClosed`], the clean end.
    ///
    /// Any buffered outgoing frames are flushed before this blocks.
    ///
    /// # Errors
    /// A protocol, capacity or UTF-8 error fails the connection: the close
    /// frame it implies has been sent when the error is returned. I/O errors
    /// come from the stream, including timeouts set on it.
    pub fn read(&mut self) -> Result<Message> {
        self.reader.read(&mut Whole {
            stream: &mut self.stream,
            writer: &mut self.writer,
        })
    }

    /// Buffers a message to be sent with the next flush (or the next read,
    /// which flushes before blocking). [`Message::Close`] starts the closing
    /// handshake and is flushed at once.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] once a close frame has been sent; a ping
    /// or pong longer than 125 bytes is refused; I/O errors if the buffer
    /// had to be flushed.
    pub fn write(&mut self, message: Message) -> Result<()> {
        self.writer.send_message(&mut self.stream, message)
    }

    /// Writes one frame of a message you fragment yourself: the first with
    /// `OpCode::Text` or `OpCode::Binary`, the rest with
    /// `OpCode::Continuation`, `fin` on the last (section 5.4).
    ///
    /// # Errors
    /// As [`Self::write`].
    pub fn write_frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) -> Result<()> {
        self.writer
            .send_frame(&mut self.stream, fin, opcode, Payload::Borrowed(payload))
    }

    /// Writes and flushes a message.
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
        self.writer.send_frame(
            &mut self.stream,
            true,
            OpCode::Ping,
            Payload::Borrowed(payload),
        )?;
        self.flush()
    }

    /// Starts the closing handshake with `code` and `reason` (cut to 123
    /// bytes). Keep calling [`Self::read`] to receive the peer's close; data
    /// it sent before may still arrive first.
    ///
    /// # Errors
    /// [`Error::ConnectionClosed`] if a close was already sent; a code that
    /// may not be sent (1005, 1006, 1015, ...) is refused.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.writer
            .send_close(&mut self.stream, Some(&CloseFrame::new(code, reason)))
    }

    /// Sends everything buffered.
    ///
    /// # Errors
    /// I/O errors from the stream.
    pub fn flush(&mut self) -> Result<()> {
        self.writer.flush(&mut self.stream)
    }

    /// Whether data frames may still be sent (no close sent or received).
    pub fn is_open(&self) -> bool {
        self.writer.closing == Closing::Open
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
    /// The read half answers pings and closes through the write half, and a
    /// close sent or received by either half is seen by both.
    ///
    /// # Errors
    /// Whatever `try_clone` fails with.
    pub fn split(
        self,
        try_clone: impl FnOnce(&S) -> io::Result<S>,
    ) -> io::Result<(ReadHalf<S>, WriteHalf<S>)> {
        let read_stream = try_clone(&self.stream)?;
        let closing = self.writer.closing;
        let writer = WriteHalf {
            shared: Arc::new(Mutex::new(SharedWriter {
                stream: self.stream,
                state: self.writer,
            })),
        };
        let reader = ReadHalf {
            stream: read_stream,
            reader: self.reader,
            writer: writer.clone(),
            closing,
        };
        Ok((reader, writer))
    }
}

#[derive(Debug)]
struct SharedWriter<S> {
    stream: S,
    state: WriteState,
}

/// The writing half of a split connection. Clones share one stream and one
/// closing state behind a mutex, so any thread can send.
#[derive(Debug)]
pub struct WriteHalf<S> {
    shared: Arc<Mutex<SharedWriter<S>>>,
}

impl<S> Clone for WriteHalf<S> {
    fn clone(&self) -> Self {
        WriteHalf {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Write> WriteHalf<S> {
    fn lock(&self) -> MutexGuard<'_, SharedWriter<S>> {
        // A thread that panicked while writing leaves at worst a partly
        // written buffer; the state itself stays consistent.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes and flushes a message ([`Message::Close`] starts the closing
    /// handshake).
    ///
    /// # Errors
    /// As [`WebSocket::write`].
    pub fn send(&self, message: impl Into<Message>) -> Result<()> {
        let mut guard = self.lock();
        let SharedWriter { stream, state } = &mut *guard;
        state.send_message(stream, message.into())?;
        state.flush(stream)
    }

    /// Starts the closing handshake; the read half receives the peer's
    /// close.
    ///
    /// # Errors
    /// As [`WebSocket::close`].
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<()> {
        let mut guard = self.lock();
        let SharedWriter { stream, state } = &mut *guard;
        state.send_close(stream, Some(&CloseFrame::new(code, reason)))
    }

    /// Whether data may still be sent.
    pub fn is_open(&self) -> bool {
        self.lock().state.closing == Closing::Open
    }
}

/// The reading half of a split connection.
#[derive(Debug)]
pub struct ReadHalf<S> {
    stream: S,
    reader: Reader,
    writer: WriteHalf<S>,
    /// The read side's view of the closing state (see `Halves`).
    closing: Closing,
}

impl<S: Read + Write> ReadHalf<S> {
    /// Reads the next message, as [`WebSocket::read`]: pings and closes are
    /// answered through the write half.
    ///
    /// # Errors
    /// As [`WebSocket::read`].
    pub fn read(&mut self) -> Result<Message> {
        self.reader.read(&mut Halves {
            stream: &mut self.stream,
            writer: &self.writer,
            local: &mut self.closing,
        })
    }

    /// The write half this read half answers through.
    pub fn writer(&self) -> &WriteHalf<S> {
        &self.writer
    }

    /// The read side's stream, for example to set a read timeout.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Message::binary(vec![1u8; ZERO_COPY_MIN]),
            Message::text(""),
        ];
        for (role, peer) in [(Role::Server, Role::Client), (Role::Client, Role::Server)] {
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
                let mut receiver = Receiver::new(peer, Config::default());
                let mut received = Vec::new();
                let mut offset = 0;
                while offset < wire.len() {
                    let (used, message) = receiver.decode(&wire[offset..]).unwrap();
                    offset += used;
                    received.extend(message);
                }
                assert_eq!(received, messages, "{role:?}, writes of {step} bytes");
            }
        }
    }
}
