//! Full duplex: a [`ClientReader`] on one thread, [`ClientWriter`]s on
//! others, over the core's [`ReadHalf`] and [`WriteHalf`].
//!
//! The core's halves share the closing state of section 7, so a close seen
//! by one half is seen by the other. What this layer adds is the end of the
//! story on the client side. Section 7.1.1 wants the *server* to close the
//! TCP connection first: after sending a close, a client waits for the
//! server's close and then for the end of the stream. If the server never
//! answers, the reader would block forever, so the writer can
//!
//! - [`ClientWriter::wait_closed`]: wait, with a timeout, until the reader
//!   has seen the end of the connection;
//! - [`ClientWriter::shutdown`]: shut the socket down, which wakes a reader
//!   blocked in `read` (section 7.1.1: the client "MAY close the
//!   connection" itself when the server does not);
//! - [`ClientWriter::close_and_wait`]: all three in one.

use crate::error::{map_read, Error, Result, Stage};
use crate::stream::Stream;
use rusty_socket_core::{CloseCode, Message, ReadHalf, WriteHalf};
use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Set once the reader has seen the end of the connection (or was dropped).
#[derive(Debug, Default)]
struct Ended {
    ended: Mutex<bool>,
    changed: Condvar,
}

impl Ended {
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.ended
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set(&self) {
        *self.lock() = true;
        self.changed.notify_all();
    }

    /// Waits up to `limit` for [`Ended::set`]; returns whether it happened.
    fn wait(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut ended = self.lock();
        while !*ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            ended = match self.changed.wait_timeout(ended, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}

pub(crate) fn new(
    read: ReadHalf<Stream>,
    write: WriteHalf<Stream>,
    control: TcpStream,
) -> (ClientReader, ClientWriter) {
    let ended = Arc::new(Ended::default());
    let writer = ClientWriter {
        half: write,
        control: Arc::new(control),
        ended: Arc::clone(&ended),
    };
    let reader = ClientReader {
        half: read,
        writer: writer.clone(),
        ended,
    };
    (reader, writer)
}

/// The reading half of a split [`crate::Client`]. Only one thread reads.
///
/// Pings are answered, and a close from the server is answered, through the
/// writer. Dropping the reader counts as the end of the connection for
/// [`ClientWriter::wait_closed`].
#[derive(Debug)]
pub struct ClientReader {
    half: ReadHalf<Stream>,
    writer: ClientWriter,
    ended: Arc<Ended>,
}

impl ClientReader {
    /// Reads the next message; see [`crate::Client::read`].
    ///
    /// # Errors
    /// As [`crate::Client::read`]: `Ok(None)` is the clean end. The end, or
    /// any error but a timeout, ends the connection for
    /// [`ClientWriter::wait_closed`].
    pub fn read(&mut self) -> Result<Option<Message>> {
        let result = map_read(self.half.read());
        if matches!(&result, Ok(None)) || matches!(&result, Err(error) if !error.is_timeout()) {
            self.ended.set();
        }
        result
    }

    /// Bounds how long [`ClientReader::read`] blocks; `None` blocks forever.
    ///
    /// # Errors
    /// [`Error::Io`] if the socket refuses (a zero duration is an error).
    pub fn set_read_timeout(&self, limit: Option<Duration>) -> Result<()> {
        self.writer
            .control
            .set_read_timeout(limit)
            .map_err(Error::Io)
    }

    /// A writer for the same connection.
    pub fn writer(&self) -> ClientWriter {
        self.writer.clone()
    }
}

impl Drop for ClientReader {
    fn drop(&mut self) {
        self.ended.set();
    }
}

/// The writing half of a split [`crate::Client`]. Clones share one
/// connection and can be sent to other threads.
#[derive(Debug, Clone)]
pub struct ClientWriter {
    half: WriteHalf<Stream>,
    control: Arc<TcpStream>,
    ended: Arc<Ended>,
}

impl ClientWriter {
    /// Sends a message.
    ///
    /// # Errors
    /// As [`crate::Client::send`]: [`Error::AlreadyClosed`] once a close was
    /// sent or received by either half.
    pub fn send(&self, message: Message) -> Result<()> {
        self.half
            .send(message)
            .map_err(|e| Error::from_core(e, Stage::Write))
    }

    /// Sends a text message.
    ///
    /// # Errors
    /// As [`ClientWriter::send`].
    pub fn send_text(&self, text: impl Into<String>) -> Result<()> {
        self.send(Message::Text(text.into()))
    }

    /// Sends a binary message.
    ///
    /// # Errors
    /// As [`ClientWriter::send`].
    pub fn send_binary(&self, data: impl Into<Vec<u8>>) -> Result<()> {
        self.send(Message::Binary(data.into()))
    }

    /// Sends a ping; the reader receives the pong.
    ///
    /// # Errors
    /// As [`ClientWriter::send`]; more than 125 bytes is refused.
    pub fn ping(&self, payload: &[u8]) -> Result<()> {
        self.send(Message::Ping(payload.to_vec()))
    }

    /// Starts the closing handshake; the reader receives the server's close
    /// and then `Ok(None)`.
    ///
    /// # Errors
    /// As [`crate::Client::close`].
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        self.half
            .close(code.into(), reason)
            .map_err(|e| Error::from_core(e, Stage::Write))
    }

    /// Whether messages may still be sent (no close sent or received by
    /// either half).
    pub fn is_open(&self) -> bool {
        self.half.is_open()
    }

    /// Waits up to `limit` for the reader to see the end of the connection
    /// (or be dropped). Returns whether it did.
    pub fn wait_closed(&self, limit: Duration) -> bool {
        self.ended.wait(limit)
    }

    /// Shuts the TCP connection down in both directions: a reader blocked in
    /// `read` wakes up with the end of the connection, and nothing more can
    /// be sent. No close frame is sent: use it after [`ClientWriter::close`]
    /// or to abandon a connection.
    ///
    /// # Errors
    /// [`Error::Io`] from the socket; a connection already shut down is not
    /// an error.
    pub fn shutdown(&self) -> Result<()> {
        match self.control.shutdown(Shutdown::Both) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(Error::Io(e)),
            _ => Ok(()),
        }
    }

    /// The whole client side of a closing handshake: sends a close (unless
    /// one was already sent or received), waits up to `limit` for the reader
    /// to see the end of the connection, and shuts the socket down if it
    /// did not. Returns `true` for a clean close, `false` when the server did
    /// not finish in time.
    ///
    /// The reader keeps returning the messages that arrive meanwhile, so
    /// replies already on their way are not lost.
    ///
    /// # Errors
    /// Only an error from sending the close other than
    /// [`Error::AlreadyClosed`] (the socket is shut down then too).
    pub fn close_and_wait(
        &self,
        code: impl Into<CloseCode>,
        reason: &str,
        limit: Duration,
    ) -> Result<bool> {
        match self.close(code, reason) {
            Ok(()) | Err(Error::AlreadyClosed) => {}
            Err(error) => {
                let _ = self.shutdown();
                return Err(error);
            }
        }
        if self.wait_closed(limit) {
            return Ok(true);
        }
        self.shutdown()?;
        Ok(false)
    }

    /// The TCP stream, for its addresses or socket options.
    pub fn tcp(&self) -> &TcpStream {
        &self.control
    }
}
