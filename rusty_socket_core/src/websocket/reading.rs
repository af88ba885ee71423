//! The read loop shared by [`WebSocket`](super::WebSocket) and
//! [`ReadHalf`](super::ReadHalf): bytes from the stream into the
//! [`Receiver`], messages out, and every message, failure and end of the
//! stream reported to the connection's state machine through a [`Link`],
//! which queues what the machine says is owed.

use super::read_buffer::ReadBuffer;
use crate::config::Config;
use crate::connection::{is_disconnect, State};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::protocol::{Receiver, Role};
use std::io;

/// The read side of a connection: its buffer and its receiver.
#[derive(Debug)]
pub(crate) struct Reader {
    pub(crate) buffer: ReadBuffer,
    pub(crate) receiver: Receiver,
}

/// What the read loop needs besides the read buffer: the stream, and the
/// connection's state machine with its write queue. `lent` is always the
/// read buffer's bytes (see [`super::write_queue`]).
pub(crate) trait Link {
    /// Sends what is queued (so nothing owed waits while we block, and no
    /// lent payload outlives the bytes it points to), then reads once into
    /// `buffer`. Returns 0 at end of file.
    fn fill(&mut self, buffer: &mut ReadBuffer) -> Result<usize>;
    /// The closing state, as the read side needs it.
    fn state(&mut self) -> State;
    /// A message arrived: tell the machine, queue what it says we owe.
    fn received(&mut self, lent: &[u8], message: &Message) -> Result<()>;
    /// The peer broke a rule: fail the connection (section 7.1.7).
    fn failed(&mut self, lent: &[u8], error: &Error);
    /// The stream ended; returns whether cleanly (see
    /// [`crate::connection::Connection::end_of_stream`]).
    fn ended(&mut self) -> bool;
}

/// One step of the read loop.
pub(crate) enum Step {
    /// A message, to be returned.
    Message(Message),
    /// The connection is over: `Ok(None)` from now on.
    End,
    /// Bytes were read (or discarded): go round again.
    More,
}

impl Reader {
    pub(crate) fn new(role: Role, config: &Config, leftover: &[u8]) -> Reader {
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

    /// Reads until a message is complete (`Some`) or the connection is over
    /// (`None`).
    pub(crate) fn read<L: Link>(&mut self, link: &mut L) -> Result<Option<Message>> {
        loop {
            match self.step(link)? {
                Step::Message(message) => return Ok(Some(message)),
                Step::End => return Ok(None),
                Step::More => {}
            }
        }
    }

    /// Decode what is buffered; if no message is complete, send what is
    /// owed and block for more bytes.
    pub(crate) fn step<L: Link>(&mut self, link: &mut L) -> Result<Step> {
        match link.state() {
            State::Closed => return Ok(Step::End),
            State::Draining => {
                // Wait for the server to close the TCP connection (7.1.1),
                // discarding anything that still arrives. A reset is as
                // good as a close here: the handshake is complete.
                let pending = self.buffer.pending().len();
                self.buffer.consume(pending);
                match link.fill(&mut self.buffer) {
                    Ok(0) => {
                        link.ended();
                    }
                    Ok(_) => {}
                    Err(Error::Io(e)) if is_disconnect(&e) => {
                        link.ended();
                    }
                    Err(e) => return Err(e),
                }
                return Ok(Step::More);
            }
            State::Open | State::CloseSent => {}
        }
        match self.poll() {
            Ok(Some(message)) => {
                link.received(self.buffer.storage(), &message)?;
                return Ok(Step::Message(message));
            }
            Ok(None) => {}
            Err(error) => {
                link.failed(self.buffer.storage(), &error);
                return Err(error);
            }
        }
        match link.fill(&mut self.buffer) {
            Ok(0) if link.ended() => Ok(Step::End),
            Ok(0) => Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection without a close frame (1006)",
            ))),
            Ok(_) => Ok(Step::More),
            Err(e) => Err(e),
        }
    }
}
