//! A connection split for full duplex: a [`ReadHalf`] that one thread reads
//! with, and a [`WriteHalf`] (cheap to clone) that any thread sends with.
//!
//! Both halves drive the connection's one state machine. It sits with the
//! write queue behind a mutex that is held only to decide and to encode,
//! never during I/O; the stream to write to has a lock of its own, held by
//! whichever half is writing:
//!
//! ```text
//!   ReadHalf ── ping ──▶ ┌ sending (brief lock) ┐          ┌ wire (held while writing) ┐
//!   WriteHalf ─ send ──▶ │ Connection + queue   │ ─ pump ─▶ │ stream                    │ ──▶ peer
//!                        └──────────────────────┘          └───────────────────────────┘
//! ```
//!
//! What the read half owes the peer (a pong, the reply to a close, the
//! close that fails the connection) goes into the queue; then it *tries*
//! to take the wire. If the write half holds it, blocked on a peer that
//! does not read, the read half goes back to reading at once: the write
//! half sends the queued frames after its own, since every writer looks at
//! the queue again after it lets go of the wire. So the reader never waits
//! for the writer.

use super::read_buffer::ReadBuffer;
use super::reading::{Link, Reader};
use super::write_queue::{Payload, WriteQueue};
use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::connection::{Connection, State};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::opcode::OpCode;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// The state machine and what it has accepted to send.
#[derive(Debug)]
struct Sending {
    connection: Connection,
    queue: WriteQueue,
}

/// The stream to write to, and a spare queue to take the frames into.
#[derive(Debug)]
struct Wire<S> {
    stream: S,
    spare: WriteQueue,
}

#[derive(Debug)]
struct Shared<S> {
    sending: Mutex<Sending>,
    wire: Mutex<Wire<S>>,
}

/// Locks `mutex`. A thread that panicked while holding it left at worst a
/// partly written stream; the state itself stays consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<S: Write> Shared<S> {
    /// Sends what is queued. With `wait`, blocks for the wire; without, a
    /// busy wire means its holder will send it, and this returns at once.
    fn pump(&self, mut wait: bool) -> Result<()> {
        loop {
            let mut wire = if wait {
                lock(&self.wire)
            } else {
                match self.wire.try_lock() {
                    Ok(wire) => wire,
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(TryLockError::WouldBlock) => return Ok(()),
                }
            };
            let Wire { stream, spare } = &mut *wire;
            loop {
                {
                    let mut sending = lock(&self.sending);
                    if sending.queue.is_empty() {
                        break;
                    }
                    sending.queue.swap_out(spare);
                }
                spare.flush(stream, &[])?;
            }
            drop(wire);
            // Frames queued after our last look, by a thread that found the
            // wire taken, are ours to send.
            if lock(&self.sending).queue.is_empty() {
                return Ok(());
            }
            wait = false;
        }
    }
}

/// Splits a whole connection's parts into halves.
pub(super) fn split<S: Read + Write>(
    write_stream: S,
    read_stream: S,
    reader: Reader,
    connection: Connection,
    queue: WriteQueue,
    config: &Config,
) -> (ReadHalf<S>, WriteHalf<S>) {
    let role = connection.role();
    let state = connection.state();
    let shared = Arc::new(Shared {
        sending: Mutex::new(Sending { connection, queue }),
        wire: Mutex::new(Wire {
            stream: write_stream,
            spare: WriteQueue::new(role, config),
        }),
    });
    let writer = WriteHalf { shared };
    let reader = ReadHalf {
        stream: read_stream,
        reader,
        writer: writer.clone(),
        state,
    };
    (reader, writer)
}

/// The writing half of a split connection. Clones share one stream and one
/// state machine, so any thread can send.
#[derive(Debug)]
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for WriteHalf<S> {
    fn clone(&self) -> Self {
        WriteHalf {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Write> WriteHalf<S> {
    /// Asks the state machine, then queues the frame, compressed if
    /// `compress` and permessage-deflate was agreed.
    fn push(&self, fin: bool, opcode: OpCode, payload: Payload<'_>, compress: bool) -> Result<()> {
        let mut sending = lock(&self.shared.sending);
        sending.connection.send(fin, opcode, payload.len(&[]))?;
        if compress {
            sending.queue.push(&[], fin, opcode, payload)
        } else {
            sending.queue.push_uncompressed(&[], fin, opcode, payload)
        }
    }

    fn push_close(&self, frame: Option<&CloseFrame>) -> Result<()> {
        let mut sending = lock(&self.shared.sending);
        sending.connection.send_close(frame)?;
        sending.queue.push_close(frame)
    }

    /// Queues a message without sending it: [`Self::flush`] (or the next
    /// send, by either half) sends it. [`Message::Close`] starts the
    /// closing handshake and is sent at once.
    ///
    /// # Errors
    /// As [`super::WebSocket::write`].
    pub fn write(&self, message: Message) -> Result<()> {
        match message {
            Message::Close(frame) => {
                self.push_close(frame.as_ref())?;
                self.flush()
            }
            message => {
                let opcode = message.opcode();
                self.push(true, opcode, Payload::Owned(message.into_payload()), true)
            }
        }
    }

    /// Queues a data message that is never compressed, as
    /// [`super::WebSocket::write_uncompressed`] does.
    ///
    /// # Errors
    /// As [`super::WebSocket::write`].
    pub fn write_uncompressed(&self, message: Message) -> Result<()> {
        if !message.is_data() {
            return self.write(message);
        }
        let opcode = message.opcode();
        self.push(true, opcode, Payload::Owned(message.into_payload()), false)
    }

    /// Queues and sends a message ([`Message::Close`] starts the closing
    /// handshake).
    ///
    /// # Errors
    /// As [`super::WebSocket::write`].
    pub fn send(&self, message: impl Into<Message>) -> Result<()> {
        self.write(message.into())?;
        self.flush()
    }

    /// Writes one frame of a message you fragment yourself, as
    /// [`super::WebSocket::write_frame`] does, and sends it.
    ///
    /// # Errors
    /// As [`super::WebSocket::write_frame`].
    pub fn write_frame(&self, fin: bool, opcode: OpCode, payload: &[u8]) -> Result<()> {
        if opcode == OpCode::Close && fin {
            let mut sending = lock(&self.shared.sending);
            sending.connection.send_close_payload(payload)?;
            sending
                .queue
                .push(&[], true, OpCode::Close, Payload::Borrowed(payload))?;
        } else {
            self.push(fin, opcode, Payload::Borrowed(payload), false)?;
        }
        self.flush()
    }

    /// Sends a ping with `payload` (at most 125 bytes).
    ///
    /// # Errors
    /// As [`super::WebSocket::ping`].
    pub fn ping(&self, payload: &[u8]) -> Result<()> {
        self.push(true, OpCode::Ping, Payload::Borrowed(payload), false)?;
        self.flush()
    }

    /// Starts the closing handshake; the read half receives the peer's
    /// close.
    ///
    /// # Errors
    /// As [`super::WebSocket::close`].
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        self.push_close(Some(&CloseFrame::new(code.into(), reason)))?;
        self.flush()
    }

    /// Sends everything queued, by either half, waiting for the other half
    /// if it is writing.
    ///
    /// # Errors
    /// I/O errors from the stream.
    pub fn flush(&self) -> Result<()> {
        self.shared.pump(true)
    }

    /// Whether data may still be sent (no close sent or received).
    pub fn is_open(&self) -> bool {
        lock(&self.shared.sending).connection.is_open()
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        lock(&self.shared.sending).connection.state()
    }
}

/// The reading half of a split connection.
#[derive(Debug)]
pub struct ReadHalf<S> {
    stream: S,
    reader: Reader,
    writer: WriteHalf<S>,
    /// The read side's copy of the closing state, refreshed whenever it
    /// consults the state machine, so that reading data takes no lock.
    state: State,
}

impl<S: Read + Write> ReadHalf<S> {
    /// Reads the next message, as [`super::WebSocket::read`] does: pings
    /// and closes are answered through the write queue, and `Ok(None)` is
    /// the clean end. What is queued is sent before this blocks, unless the
    /// write half is writing, in which case it sends it.
    ///
    /// # Errors
    /// As [`super::WebSocket::read`].
    pub fn read(&mut self) -> Result<Option<Message>> {
        self.reader.read(&mut Halves {
            stream: &mut self.stream,
            shared: &self.writer.shared,
            state: &mut self.state,
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

/// The link of a [`ReadHalf`]: its own stream to read from, and the shared
/// state machine and queue to report to.
struct Halves<'a, S> {
    stream: &'a mut S,
    shared: &'a Shared<S>,
    state: &'a mut State,
}

impl<S: Read + Write> Halves<'_, S> {
    fn sending(&mut self, f: impl FnOnce(&mut Sending)) {
        let mut sending = lock(&self.shared.sending);
        f(&mut sending);
        *self.state = sending.connection.state();
    }
}

impl<S: Read + Write> Link for Halves<'_, S> {
    fn fill(&mut self, buffer: &mut ReadBuffer) -> Result<usize> {
        self.shared.pump(false)?;
        Ok(buffer.fill(self.stream)?)
    }
    fn state(&mut self) -> State {
        *self.state
    }
    fn received(&mut self, _: &[u8], message: &Message) -> Result<()> {
        if !matches!(message, Message::Ping(_) | Message::Close(_)) {
            return Ok(());
        }
        let mut queued = Ok(());
        self.sending(|sending| {
            if let Some(owed) = sending.connection.receive(message) {
                queued = sending.queue.push_owed(owed);
            }
        });
        queued?;
        // Sent now if the wire is free; otherwise by the half writing.
        // After a close the peer may be gone already: that ends nothing.
        let sent = self.shared.pump(false);
        match message {
            Message::Close(_) => Ok(()),
            _ => sent,
        }
    }
    fn failed(&mut self, _: &[u8], error: &Error) {
        self.sending(|sending| {
            if let Some(close) = sending.connection.fail(error) {
                let _ = sending.queue.push_close(Some(&close));
            }
        });
        let _ = self.shared.pump(false);
    }
    fn ended(&mut self) -> bool {
        let mut clean = false;
        self.sending(|sending| clean = sending.connection.end_of_stream());
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Role;
    use crate::websocket::WebSocket;
    use std::collections::VecDeque;
    use std::io;
    use std::sync::mpsc;
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    /// The bytes the peer sent, and whether it closed the connection.
    type Inbound = (VecDeque<u8>, bool);

    /// One side of an in-memory connection whose writes can be held: while
    /// the gate is closed, a write blocks (a peer that does not read).
    #[derive(Clone)]
    struct Gated {
        /// The bytes the peer sent, and whether it closed the connection.
        inbound: Arc<(Mutex<Inbound>, Condvar)>,
        written: Arc<Mutex<Vec<u8>>>,
        gate: Arc<(Mutex<bool>, Condvar)>,
        /// Tells the test that a write is waiting at the closed gate.
        blocked: mpsc::SyncSender<()>,
    }

    impl Read for Gated {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let (inbound, arrived) = &*self.inbound;
            let mut inbound = lock(inbound);
            loop {
                let (bytes, eof) = &mut *inbound;
                if bytes.is_empty() && *eof {
                    return Ok(0);
                }
                if !bytes.is_empty() {
                    let n = out.len().min(bytes.len());
                    for (slot, byte) in out.iter_mut().zip(bytes.drain(..n)) {
                        *slot = byte;
                    }
                    return Ok(n);
                }
                let (next, timeout) = arrived
                    .wait_timeout(inbound, Duration::from_secs(10))
                    .unwrap();
                if timeout.timed_out() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                inbound = next;
            }
        }
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (open, opened) = &*self.gate;
            let mut open = lock(open);
            if !*open {
                let _ = self.blocked.try_send(());
            }
            while !*open {
                let (next, timeout) = opened.wait_timeout(open, Duration::from_secs(10)).unwrap();
                if timeout.timed_out() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                open = next;
            }
            lock(&self.written).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Gated {
        fn new(open: bool) -> (Gated, mpsc::Receiver<()>) {
            let (blocked, on_block) = mpsc::sync_channel(16);
            let gated = Gated {
                inbound: Arc::new((Mutex::new((VecDeque::new(), false)), Condvar::new())),
                written: Arc::new(Mutex::new(Vec::new())),
                gate: Arc::new((Mutex::new(open), Condvar::new())),
                blocked,
            };
            (gated, on_block)
        }
        fn deliver(&self, bytes: &[u8]) {
            let (inbound, arrived) = &*self.inbound;
            lock(inbound).0.extend(bytes);
            arrived.notify_all();
        }
        /// The peer closes the TCP connection.
        fn end(&self) {
            let (inbound, arrived) = &*self.inbound;
            lock(inbound).1 = true;
            arrived.notify_all();
        }
        fn open_gate(&self) {
            let (open, opened) = &*self.gate;
            *lock(open) = true;
            opened.notify_all();
        }
        fn written(&self) -> Vec<u8> {
            lock(&self.written).clone()
        }
    }

    /// A frame as a client sends it (masked with a zero key).
    fn from_client(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        crate::frame::encode_frame(&mut out, true, opcode, payload, Some([0; 4]));
        out
    }

    fn from_server(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        crate::frame::encode_frame(&mut out, true, opcode, payload, None);
        out
    }

    #[test]
    fn the_reader_keeps_reading_while_the_writer_is_blocked() {
        let (stream, on_block) = Gated::new(false);
        let ws = WebSocket::from_raw(stream.clone(), Role::Server, Config::default(), &[]);
        let (mut reader, writer) = ws.split(|s| Ok(s.clone())).unwrap();
        // The writer blocks on a peer that does not read.
        let blocked_writer = std::thread::spawn(move || writer.send(Message::text("big")));
        on_block.recv_timeout(Duration::from_secs(10)).unwrap();
        // Meanwhile the peer pings and sends data: all of it is read.
        stream.deliver(&from_client(OpCode::Ping, b"p1"));
        stream.deliver(&from_client(OpCode::Text, b"one"));
        stream.deliver(&from_client(OpCode::Text, b"two"));
        assert_eq!(reader.read().unwrap(), Some(Message::Ping(b"p1".to_vec())));
        assert_eq!(reader.read().unwrap(), Some(Message::text("one")));
        assert_eq!(reader.read().unwrap(), Some(Message::text("two")));
        assert!(stream.written().is_empty());
        // Once the peer reads again, the writer sends its message and then
        // the pong the reader queued.
        stream.open_gate();
        blocked_writer.join().unwrap().unwrap();
        let mut want = from_server(OpCode::Text, b"big");
        want.extend(from_server(OpCode::Pong, b"p1"));
        assert_eq!(stream.written(), want);
    }

    #[test]
    fn split_does_not_strand_a_queued_pong() {
        // A server reads a ping (the pong is queued), then splits; the
        // read half must send the pong before it blocks for more.
        let (stream, _) = Gated::new(true);
        stream.deliver(&[0x89, 0x80, 0, 0, 0, 0]);
        let mut ws = WebSocket::from_raw(stream.clone(), Role::Server, Config::default(), &[]);
        assert_eq!(ws.read().unwrap(), Some(Message::Ping(Vec::new())));
        assert!(stream.written().is_empty(), "the pong waits for a flush");
        let (mut reader, _writer) = ws.split(|s| Ok(s.clone())).unwrap();
        let peer = stream.clone();
        let read = std::thread::spawn(move || reader.read());
        // The reader sent the pong before blocking: the peer sees it
        // before sending anything more.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while peer.written().is_empty() {
            assert!(std::time::Instant::now() < deadline, "pong never sent");
            std::thread::yield_now();
        }
        assert_eq!(peer.written(), from_server(OpCode::Pong, b""));
        peer.deliver(&from_client(OpCode::Close, &[0x03, 0xe8]));
        assert!(matches!(read.join().unwrap(), Ok(Some(Message::Close(_)))));
    }

    #[test]
    fn split_does_not_strand_a_queued_message() {
        let (stream, _) = Gated::new(true);
        let mut ws = WebSocket::from_raw(stream.clone(), Role::Server, Config::default(), &[]);
        ws.write(Message::text("queued")).unwrap();
        let (_reader, writer) = ws.split(|s| Ok(s.clone())).unwrap();
        assert!(stream.written().is_empty());
        writer.flush().unwrap();
        assert_eq!(stream.written(), from_server(OpCode::Text, b"queued"));
    }

    #[test]
    fn a_close_from_either_half_is_seen_by_both() {
        let (stream, _) = Gated::new(true);
        let ws = WebSocket::from_raw(stream.clone(), Role::Client, Config::default(), &[]);
        let (mut reader, writer) = ws.split(|s| Ok(s.clone())).unwrap();
        writer.close(CloseCode::NORMAL, "bye").unwrap();
        assert!(matches!(
            writer.send("late").unwrap_err(),
            Error::AlreadyClosed
        ));
        assert_eq!(writer.state(), State::CloseSent);
        stream.deliver(&from_server(OpCode::Close, &[0x03, 0xe8]));
        assert!(matches!(reader.read().unwrap(), Some(Message::Close(_))));
        assert_eq!(writer.state(), State::Draining);
        // The client waits for the server to close the TCP connection,
        // discarding what still arrives; then reading ends cleanly.
        stream.deliver(&from_server(OpCode::Text, b"ignored"));
        stream.end();
        assert_eq!(reader.read().unwrap(), None);
        assert_eq!(reader.read().unwrap(), None);
        assert_eq!(writer.state(), State::Closed);
        let sent = stream.written();
        // What the client sent: one masked close frame with 1000 "bye".
        let (used, close) = crate::Receiver::new(Role::Server, Config::default())
            .decode(&sent)
            .unwrap();
        assert_eq!(used, sent.len());
        assert_eq!(
            close,
            Some(Message::Close(Some(CloseFrame::new(
                CloseCode::NORMAL,
                "bye"
            ))))
        );
    }

    #[test]
    fn forbidden_sends_are_refused_by_the_write_half() {
        let (stream, _) = Gated::new(true);
        let ws = WebSocket::from_raw(stream.clone(), Role::Server, Config::default(), &[]);
        let (_reader, writer) = ws.split(|s| Ok(s.clone())).unwrap();
        assert!(matches!(
            writer.write_frame(false, OpCode::Ping, b"x"),
            Err(Error::Send(
                crate::connection::SendError::FragmentedControlFrame
            ))
        ));
        assert!(matches!(
            writer.close(CloseCode::ABNORMAL, ""),
            Err(Error::Send(
                crate::connection::SendError::UnsendableCloseCode(1006)
            ))
        ));
        assert!(stream.written().is_empty());
    }
}
