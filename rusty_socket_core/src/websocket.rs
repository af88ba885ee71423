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
//! - **Lending** (zero copy): [`WebSocket::read_in_place`] unmasks a
//!   message that arrived whole where it lies in the read buffer and lends
//!   it; [`Incoming::echo`] queues it back as a range of that buffer. The
//!   flush that always comes before the buffer is filled again sends it.

use crate::close::{encode_close_payload, CloseCode, CloseFrame};
use crate::config::Config;
use crate::entropy::masking_key;
use crate::error::{Error, ProtocolError, Result};
use crate::frame::{encode_frame, FrameHeader, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::message::{Message, MessageRef};
use crate::opcode::OpCode;
use crate::protocol::{Receiver, Role};
use std::io::{self, IoSlice, Read, Write};
use std::ops::Range;
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

    /// All of the buffer's memory. Payloads lent to the write queue are
    /// ranges of it (see [`WriteState`]).
    fn storage(&self) -> &[u8] {
        &self.data
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
/// that the caller gave away, or that an echo sends back from the read
/// buffer, so that they are sent from where they are, without a copy, in
/// the same system call as the rest (`write_vectored`).
///
/// Payloads lent from the read buffer are queued as byte ranges of it.
/// Every method that may flush therefore takes `lent`, the read buffer's
/// bytes (empty where nothing can be lent, as in a [`WriteHalf`]), and the
/// connection flushes before the read buffer is filled again: until then
/// the ranges still hold the bytes they were queued for.
#[derive(Debug)]
struct WriteState {
    role: Role,
    /// Headers and small frames.
    buffer: Vec<u8>,
    /// Large payloads, each to be sent after `buffer[..offset]`.
    payloads: Vec<(usize, Queued)>,
    /// Bytes queued in `buffer` and `payloads` together.
    queued: usize,
    flush_at: usize,
    closing: Closing,
}

/// A frame's payload: borrowed (copied into the write buffer), given away
/// with the message, or lent from the read buffer (both sent without a
/// copy when they are large).
enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    /// `lent[range]`, see [`WriteState`].
    Lent(Range<usize>),
}

impl Payload<'_> {
    fn as_slice<'s>(&'s self, lent: &'s [u8]) -> &'s [u8] {
        match self {
            Payload::Borrowed(bytes) => bytes,
            Payload::Owned(bytes) => bytes,
            Payload::Lent(range) => &lent[range.clone()],
        }
    }
}

/// A large payload waiting in the write queue.
#[derive(Debug)]
enum Queued {
    Owned(Vec<u8>),
    /// A range of the read buffer.
    Lent(Range<usize>),
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
        lent: &[u8],
        fin: bool,
        opcode: OpCode,
        payload: Payload<'_>,
    ) -> Result<()> {
        let len = payload.as_slice(lent).len();
        if opcode.is_control() && len > 125 {
            return Err(ProtocolError::ControlFrameTooLong.into());
        }
        let masking_key = match self.role {
            Role::Client => Some(masking_key()?),
            Role::Server => None,
        };
        let before = self.buffer.len();
        // Large payloads that were given away or lent are sent from where
        // they are, after their header.
        let zero_copy = match payload {
            Payload::Owned(mut bytes) if len >= ZERO_COPY_MIN => {
                if let Some(key) = masking_key {
                    // The payload is ours now: mask it in place.
                    apply_mask(&mut bytes, key, 0);
                }
                Some(Queued::Owned(bytes))
            }
            // Lent bytes are the read buffer's: a client, which would have
            // to mask them, copies them instead.
            Payload::Lent(range) if len >= ZERO_COPY_MIN && masking_key.is_none() => {
                Some(Queued::Lent(range))
            }
            payload => {
                encode_frame(
                    &mut self.buffer,
                    fin,
                    opcode,
                    payload.as_slice(lent),
                    masking_key,
                );
                None
            }
        };
        if let Some(queued) = zero_copy {
            let header = FrameHeader {
                fin,
                masking_key,
                ..FrameHeader::new(opcode, len as u64)
            };
            header.append_to(&mut self.buffer);
            self.payloads.push((self.buffer.len(), queued));
            self.queued += len;
        }
        self.queued += self.buffer.len() - before;
        if self.queued >= self.flush_at {
            self.flush(stream, lent)?;
        }
        Ok(())
    }

    /// Whether payloads lent from the read buffer wait in the queue.
    fn has_lent(&self) -> bool {
        self.payloads
            .iter()
            .any(|(_, payload)| matches!(payload, Queued::Lent(_)))
    }

    /// Replaces payloads lent from the read buffer by copies, for a write
    /// side that parts from the read buffer.
    fn copy_lent(&mut self, lent: &[u8]) {
        for (_, payload) in &mut self.payloads {
            if let Queued::Lent(range) = payload {
                *payload = Queued::Owned(lent[range.clone()].to_vec());
            }
        }
    }

    /// A data or control frame, refused once a close has been sent.
    fn send_frame<W: Write + ?Sized>(
        &mut self,
        stream: &mut W,
        lent: &[u8],
        fin: bool,
        opcode: OpCode,
        payload: Payload<'_>,
    ) -> Result<()> {
        if self.closing != Closing::Open {
            return Err(Error::ConnectionClosed);
        }
        self.frame(stream, lent, fin, opcode, payload)
    }

    /// Queues a message (not a close), giving its payload away.
    fn send_message<W: Write + ?Sized>(
        &mut self,
        stream: &mut W,
        lent: &[u8],
        message: Message,
    ) -> Result<()> {
        let opcode = message.opcode();
        let payload = match message {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data,
            Message::Close(frame) => return self.send_close(stream, lent, frame.as_ref()),
        };
        self.send_frame(stream, lent, true, opcode, Payload::Owned(payload))
    }

    fn send_close<W: Write + ?Sized>(
        &mut self,
        stream: &mut W,
        lent: &[u8],
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
        self.frame(
            stream,
            lent,
            true,
            OpCode::Close,
            Payload::Borrowed(&payload),
        )?;
        self.closing = Closing::Sent;
        self.flush(stream, lent)
    }

    fn flush<W: Write + ?Sized>(&mut self, stream: &mut W, lent: &[u8]) -> Result<()> {
        let result = if self.payloads.is_empty() {
            stream.write_all(&self.buffer)
        } else {
            // Interleave the buffer's pieces with the queued payloads.
            let mut slices = Vec::with_capacity(2 * self.payloads.len() + 1);
            let mut start = 0;
            for (offset, payload) in &self.payloads {
                slices.push(IoSlice::new(&self.buffer[start..*offset]));
                slices.push(IoSlice::new(match payload {
                    Queued::Owned(bytes) => bytes,
                    Queued::Lent(range) => &lent[range.clone()],
                }));
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
    fn answer<W: Write + ?Sized>(
        &mut self,
        stream: &mut W,
        lent: &[u8],
        message: &Message,
    ) -> Result<()> {
        match message {
            // Section 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST
            // send a Pong frame in response, unless it already received a
            // Close frame." It goes out with the next flush.
            Message::Ping(payload) if self.closing == Closing::Open => {
                self.frame(stream, lent, true, OpCode::Pong, Payload::Borrowed(payload))
            }
            // Section 5.5.1: "If an endpoint receives a Close frame and did
            // not previously send a Close frame, the endpoint MUST send a
            // Close frame in response." It echoes the status code.
            Message::Close(frame) => {
                if self.closing == Closing::Open {
                    let reply = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
                    // The peer may already be gone; the handshake is over
                    // either way.
                    let _ = self.send_close(stream, lent, reply.as_ref());
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
    fn fail<W: Write + ?Sized>(&mut self, stream: &mut W, lent: &[u8], error: &Error) {
        if let Some(code) = error.close_code() {
            let reason = error.to_string();
            let _ = self.send_close(stream, lent, Some(&CloseFrame::new(code, &reason)));
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

    /// The read loop shared by [`WebSocket::read`] and [`ReadHalf::read`].
    fn read<L: Link>(&mut self, link: &mut L) -> Result<Message> {
        loop {
            if let Some(message) = self.turn(link)? {
                return Ok(message);
            }
        }
    }

    /// One turn of the read loop: decode what is buffered; if no message is
    /// complete, flush what we owe the peer and block for more bytes.
    fn turn<L: Link>(&mut self, link: &mut L) -> Result<Option<Message>> {
        match link.closing() {
            Closing::Done => return Err(Error::ConnectionClosed),
            Closing::Draining => {
                // Wait for the server to close the TCP connection,
                // discarding anything that still arrives. A reset is as
                // good as a close here: the handshake is complete.
                let pending = self.buffer.pending().len();
                self.buffer.consume(pending);
                match link.fill(&mut self.buffer) {
                    Ok(0) => link.set_closing(Closing::Done),
                    Ok(_) => {}
                    Err(e) if is_disconnect(&e) => link.set_closing(Closing::Done),
                    Err(e) => return Err(e.into()),
                }
                return Ok(None);
            }
            Closing::Open | Closing::Sent => {}
        }
        match self.poll() {
            Ok(Some(message)) => {
                link.answer(self.buffer.storage(), &message)?;
                return Ok(Some(message));
            }
            Ok(None) => {}
            Err(error) => {
                link.fail(self.buffer.storage(), &error);
                return Err(error);
            }
        }
        link.flush(self.buffer.storage())?;
        if link.fill(&mut self.buffer)? == 0 {
            return Err(link.end_of_stream());
        }
        Ok(None)
    }

    /// The read loop of [`WebSocket::read_in_place`]: as [`Self::read`],
    /// but a data message that lies whole in the read buffer is unmasked
    /// there and lent (see [`Receiver::decode_in_place`]). Returns the
    /// message and the read buffer's bytes.
    #[allow(unsafe_code)]
    fn read_in_place<L: Link>(&mut self, link: &mut L) -> Result<(Arrived<'_>, &[u8])> {
        let lent = loop {
            if matches!(link.closing(), Closing::Open | Closing::Sent) {
                let ReadBuffer {
                    data, start, end, ..
                } = &mut self.buffer;
                match self.receiver.decode_in_place(&mut data[*start..*end]) {
                    Ok(Some(lent)) => break lent,
                    Ok(None) => {}
                    Err(error) => {
                        link.fail(self.buffer.storage(), &error);
                        return Err(error);
                    }
                }
            }
            if let Some(message) = self.turn(link)? {
                return Ok((Arrived::Owned(message), self.buffer.storage()));
            }
        };
        // The message's bytes stay where they are until the buffer is
        // filled again, which only happens after a flush.
        let at = self.buffer.start;
        self.buffer.consume(lent.used);
        let payload = at + lent.payload.start..at + lent.payload.end;
        let bytes = &self.buffer.data[payload.clone()];
        let message = match lent.opcode {
            OpCode::Text => {
                // What the proof below says, checked in debug builds.
                debug_assert!(std::str::from_utf8(bytes).is_ok());
                // SAFETY: `str` requires valid UTF-8. `decode_in_place`,
                // just above, returned this range as text only after it
                // found every byte below 0x80 as it unmasked them in place
                // (`unmask_checking_ascii`, whose tests put a high byte at
                // every position, length and key offset; a byte below 0x80
                // is a complete UTF-8 sequence, RFC 3629 section 3) or,
                // failing that, after `std::str::from_utf8` accepted them.
                // Nothing has written to the buffer since: `consume` only
                // moves the indices.
                MessageRef::Text(unsafe { std::str::from_utf8_unchecked(bytes) })
            }
            _ => MessageRef::Binary(bytes),
        };
        Ok((Arrived::Lent { message, payload }, &self.buffer.data))
    }
}

/// What [`Reader::read_in_place`] found: a message lent from the read
/// buffer (with where its payload lies there) or an owned one.
#[derive(Debug)]
enum Arrived<'a> {
    Lent {
        message: MessageRef<'a>,
        payload: Range<usize>,
    },
    Owned(Message),
}

/// What the read loop needs besides the read buffer: the stream to read
/// from, and the write side, to answer pings and closes and to share the
/// closing state.
trait Link {
    fn fill(&mut self, buffer: &mut ReadBuffer) -> io::Result<usize>;
    fn closing(&mut self) -> Closing;
    fn set_closing(&mut self, closing: Closing);
    /// `lent` is the read buffer's bytes (see [`WriteState`]).
    fn answer(&mut self, lent: &[u8], message: &Message) -> Result<()>;
    fn fail(&mut self, lent: &[u8], error: &Error);
    fn flush(&mut self, lent: &[u8]) -> Result<()>;
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
        // Filling may move or overwrite what lent payloads point to.
        debug_assert!(!self.writer.has_lent(), "lent payloads not flushed");
        buffer.fill(self.stream)
    }
    fn closing(&mut self) -> Closing {
        self.writer.closing
    }
    fn set_closing(&mut self, closing: Closing) {
        self.writer.closing = closing;
    }
    fn answer(&mut self, lent: &[u8], message: &Message) -> Result<()> {
        self.writer.answer(self.stream, lent, message)
    }
    fn fail(&mut self, lent: &[u8], error: &Error) {
        self.writer.fail(self.stream, lent, error);
    }
    fn flush(&mut self, lent: &[u8]) -> Result<()> {
        self.writer.flush(self.stream, lent)
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
    fn answer(&mut self, _: &[u8], message: &Message) -> Result<()> {
        if !matches!(message, Message::Ping(_) | Message::Close(_)) {
            return Ok(());
        }
        let mut guard = self.writer.lock();
        let SharedWriter { stream, state } = &mut *guard;
        let answered = state
            .answer(stream, &[], message)
            .and_then(|()| state.flush(stream, &[]));
        if matches!(message, Message::Close(_)) {
            *self.local = state.closing;
        }
        answered
    }
    fn fail(&mut self, _: &[u8], error: &Error) {
        let mut guard = self.writer.lock();
        let SharedWriter { stream, state } = &mut *guard;
        state.fail(stream, &[], error);
        *self.local = Closing::Done;
    }
    fn flush(&mut self, _: &[u8]) -> Result<()> {
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

    /// Reads the next message as [`Self::read`] does, but lends it instead
    /// of handing it over: a text or binary message that arrived as one
    /// frame, all within one read, is unmasked and validated where it lies
    /// in the read buffer, and borrowed from there, without a copy or an
    /// allocation. Anything else (fragmented messages, frames larger than
    /// what one read brought, pings, closes) is assembled as by
    /// [`Self::read`] and lent from the [`Incoming`].
    ///
    /// [`Incoming::echo`] sends the message back, from where it lies.
    ///
    /// ```
    /// use rusty_socket_core::{Config, MessageRef, Role, WebSocket};
    /// use std::io::Cursor;
    /// // A masked "Hello" from a client (RFC 6455 section 5.7).
    /// let bytes = vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let mut ws = WebSocket::from_raw(Cursor::new(bytes), Role::Server, Config::default(), &[]);
    /// let incoming = ws.read_in_place().unwrap();
    /// assert_eq!(incoming.message(), MessageRef::Text("Hello"));
    /// incoming.echo().unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`Self::read`].
    pub fn read_in_place(&mut self) -> Result<Incoming<'_, S>> {
        let (arrived, lent) = self.reader.read_in_place(&mut Whole {
            stream: &mut self.stream,
            writer: &mut self.writer,
        })?;
        Ok(Incoming {
            arrived,
            lent,
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
        self.writer
            .send_message(&mut self.stream, self.reader.buffer.storage(), message)
    }

    /// Writes one frame of a message you fragment yourself: the first with
    /// `OpCode::Text` or `OpCode::Binary`, the rest with
    /// `OpCode::Continuation`, `fin` on the last (section 5.4).
    ///
    /// # Errors
    /// As [`Self::write`].
    pub fn write_frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) -> Result<()> {
        self.writer.send_frame(
            &mut self.stream,
            self.reader.buffer.storage(),
            fin,
            opcode,
            Payload::Borrowed(payload),
        )
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
            self.reader.buffer.storage(),
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
        self.writer.send_close(
            &mut self.stream,
            self.reader.buffer.storage(),
            Some(&CloseFrame::new(code, reason)),
        )
    }

    /// Sends everything buffered.
    ///
    /// # Errors
    /// I/O errors from the stream.
    pub fn flush(&mut self) -> Result<()> {
        self.writer
            .flush(&mut self.stream, self.reader.buffer.storage())
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
        let mut writer_state = self.writer;
        writer_state.copy_lent(self.reader.buffer.storage());
        let closing = writer_state.closing;
        let writer = WriteHalf {
            shared: Arc::new(Mutex::new(SharedWriter {
                stream: self.stream,
                state: writer_state,
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

/// A message lent by [`WebSocket::read_in_place`], with the means to send
/// it back. The connection is borrowed until it is dropped.
#[derive(Debug)]
pub struct Incoming<'a, S> {
    arrived: Arrived<'a>,
    /// The read buffer's bytes.
    lent: &'a [u8],
    stream: &'a mut S,
    writer: &'a mut WriteState,
}

impl<S: Write> Incoming<'_, S> {
    /// The message.
    pub fn message(&self) -> MessageRef<'_> {
        match &self.arrived {
            Arrived::Lent { message, .. } => *message,
            Arrived::Owned(message) => message.into(),
        }
    }

    /// The message, owned (copied if it was lent from the read buffer).
    pub fn into_message(self) -> Message {
        match self.arrived {
            Arrived::Lent { message, .. } => message.to_message(),
            Arrived::Owned(message) => message,
        }
    }

    /// Sends a text or binary message back to the peer unchanged, as
    /// [`WebSocket::write`] would (buffered until the next flush or read).
    /// A large payload goes out from where it lies, without a copy: from
    /// the read buffer if it was lent from there. Pings and closes are not
    /// sent back: reading them answered them already.
    ///
    /// # Errors
    /// As [`WebSocket::write`].
    pub fn echo(self) -> Result<()> {
        let Incoming {
            arrived,
            lent,
            stream,
            writer,
        } = self;
        match arrived {
            Arrived::Owned(message) if message.is_data() => {
                writer.send_message(stream, lent, message)
            }
            Arrived::Lent { message, payload } if message.is_data() => {
                writer.send_frame(stream, lent, true, message.opcode(), Payload::Lent(payload))
            }
            _ => Ok(()),
        }
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
        state.send_message(stream, &[], message.into())?;
        state.flush(stream, &[])
    }

    /// Starts the closing handshake; the read half receives the peer's
    /// close.
    ///
    /// # Errors
    /// As [`WebSocket::close`].
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<()> {
        let mut guard = self.lock();
        let SharedWriter { stream, state } = &mut *guard;
        state.send_close(stream, &[], Some(&CloseFrame::new(code, reason)))
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

    /// A stream that hands out its input in reads of at most `step` bytes
    /// and keeps what is written. Clones share both (for `split`).
    #[derive(Clone, Debug)]
    struct Scripted(Arc<Mutex<ScriptedInner>>);

    #[derive(Debug)]
    struct ScriptedInner {
        input: Vec<u8>,
        at: usize,
        step: usize,
        written: Vec<u8>,
    }

    impl Scripted {
        fn new(input: Vec<u8>, step: usize) -> Scripted {
            Scripted(Arc::new(Mutex::new(ScriptedInner {
                input,
                at: 0,
                step,
                written: Vec::new(),
            })))
        }

        fn written(&self) -> Vec<u8> {
            self.0.lock().unwrap().written.clone()
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let mut inner = self.0.lock().unwrap();
            let n = buf.len().min(inner.step).min(inner.input.len() - inner.at);
            let at = inner.at;
            buf[..n].copy_from_slice(&inner.input[at..at + n]);
            inner.at += n;
            Ok(n)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().written.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The frames `role`'s peer sends for `messages` (and `fragments`, sent
    /// as they are).
    fn peer_frames(role: Role, frames: &[(bool, OpCode, Vec<u8>)]) -> Vec<u8> {
        let key = match role {
            Role::Server => Some([9, 8, 7, 6]),
            Role::Client => None,
        };
        let mut out = Vec::new();
        for (fin, opcode, payload) in frames {
            encode_frame(&mut out, *fin, *opcode, payload, key);
        }
        out
    }

    /// Every message on `wire`, as `role` sent it.
    fn messages_on(wire: &[u8], role: Role) -> Vec<Message> {
        let peer = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let mut receiver = Receiver::new(peer, Config::default());
        let mut received = Vec::new();
        let mut offset = 0;
        while offset < wire.len() {
            let (used, message) = receiver.decode(&wire[offset..]).unwrap();
            offset += used;
            received.extend(message);
        }
        received
    }

    /// `read_in_place` + `echo` must see and send exactly what `read` +
    /// `write` do, whatever the reads bring: whole frames (lent), frames cut
    /// by a read or larger than the buffer, fragments, pings and the close.
    #[test]
    fn echo_in_place_sends_what_read_and_write_send() {
        let frames = vec![
            (true, OpCode::Text, b"small".to_vec()),
            (true, OpCode::Text, vec![b'a'; 5000]),
            (true, OpCode::Text, "é".repeat(1500).into_bytes()),
            (true, OpCode::Binary, vec![3u8; 70_000]),
            (false, OpCode::Text, b"frag".to_vec()),
            (true, OpCode::Ping, b"in between".to_vec()),
            (true, OpCode::Continuation, b"mented".to_vec()),
            (true, OpCode::Binary, Vec::new()),
            (true, OpCode::Binary, vec![7u8; ZERO_COPY_MIN]),
            (true, OpCode::Close, vec![0x03, 0xe8]),
        ];
        for role in [Role::Server, Role::Client] {
            let input = peer_frames(role, &frames);
            for step in [1, 7, 1000, 4096, 20_000, usize::MAX] {
                let stream = Scripted::new(input.clone(), step);
                let mut ws = WebSocket::from_raw(stream.clone(), role, Config::default(), &[]);
                let mut expected = Vec::new();
                loop {
                    match ws.read() {
                        Ok(message) => {
                            if message.is_data() {
                                ws.write(message.clone()).unwrap();
                            }
                            expected.push(message);
                        }
                        Err(e) => {
                            assert!(e.is_closed(), "{e}");
                            break;
                        }
                    }
                }
                let expected_wire = messages_on(&stream.written(), role);

                let stream = Scripted::new(input.clone(), step);
                let mut ws = WebSocket::from_raw(stream.clone(), role, Config::default(), &[]);
                let mut seen = Vec::new();
                loop {
                    match ws.read_in_place() {
                        Ok(incoming) => {
                            seen.push(incoming.message().to_message());
                            incoming.echo().unwrap();
                        }
                        Err(e) => {
                            assert!(e.is_closed(), "{e}");
                            break;
                        }
                    }
                }
                assert_eq!(seen, expected, "{role:?}, reads of {step}");
                assert_eq!(
                    messages_on(&stream.written(), role),
                    expected_wire,
                    "{role:?}, reads of {step}"
                );
            }
        }
    }

    /// Echoes lent from the read buffer are still queued when a bad frame
    /// behind them fails the connection: they must go out, before the close.
    #[test]
    fn lent_echoes_go_out_before_the_close_for_a_bad_frame_behind_them() {
        let mut input = peer_frames(
            Role::Server,
            &[
                (true, OpCode::Text, vec![b't'; 2000]),
                (true, OpCode::Binary, vec![1u8; 3000]),
            ],
        );
        let mut bad = peer_frames(Role::Server, &[(true, OpCode::Text, b"x".to_vec())]);
        bad[0] |= 0x40; // RSV1 without an extension
        input.extend(bad);
        let stream = Scripted::new(input, usize::MAX);
        let mut ws = WebSocket::from_raw(stream.clone(), Role::Server, Config::default(), &[]);
        ws.read_in_place().unwrap().echo().unwrap();
        ws.read_in_place().unwrap().echo().unwrap();
        let err = ws.read_in_place().unwrap_err();
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
        let sent = messages_on(&stream.written(), Role::Server);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(sent[0], Message::text("t".repeat(2000)));
        assert_eq!(sent[1], Message::binary(vec![1u8; 3000]));
        assert!(matches!(&sent[2], Message::Close(Some(f)) if f.code == CloseCode::PROTOCOL_ERROR));
    }

    /// A split right after an echo, before any flush: the write half owns
    /// a copy of the lent payload and sends it.
    #[test]
    fn a_split_takes_lent_echoes_along() {
        let input = peer_frames(Role::Server, &[(true, OpCode::Binary, vec![5u8; 4000])]);
        let stream = Scripted::new(input, usize::MAX);
        let mut ws = WebSocket::from_raw(stream.clone(), Role::Server, Config::default(), &[]);
        ws.read_in_place().unwrap().echo().unwrap();
        assert!(stream.written().is_empty());
        let (_read, write) = ws.split(|s| Ok(s.clone())).unwrap();
        write.send(Message::text("after")).unwrap();
        assert_eq!(
            messages_on(&stream.written(), Role::Server),
            vec![Message::binary(vec![5u8; 4000]), Message::text("after")]
        );
    }
}
