//! The TCP stream under a client connection, with an optional deadline.
//!
//! A socket timeout (`SO_RCVTIMEO`) bounds one `read` call, not a whole
//! exchange: a server that sends its response one byte per second would
//! never trip a 5 second read timeout. During the opening handshake the
//! stream therefore carries a *deadline*, and every read and write first sets
//! the socket timeout to the time that is left. Once the handshake is done
//! the deadline is removed and the stream is a plain `TcpStream`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A `TcpStream` whose reads and writes fail with `TimedOut` once an
/// optional deadline has passed.
#[derive(Debug)]
pub(crate) struct Stream {
    tcp: TcpStream,
    deadline: Option<Instant>,
}

impl Stream {
    /// Wraps `tcp`; with `limit`, every operation must end within `limit`
    /// from now.
    pub(crate) fn new(tcp: TcpStream, limit: Option<Duration>) -> Stream {
        Stream {
            tcp,
            deadline: limit.map(|limit| Instant::now() + limit),
        }
    }

    /// Removes the deadline and the socket timeouts it set.
    pub(crate) fn clear_deadline(&mut self) -> io::Result<()> {
        if self.deadline.take().is_some() {
            self.tcp.set_read_timeout(None)?;
            self.tcp.set_write_timeout(None)?;
        }
        Ok(())
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// A second handle to the same socket, without a deadline.
    pub(crate) fn try_clone(&self) -> io::Result<Stream> {
        Ok(Stream {
            tcp: self.tcp.try_clone()?,
            deadline: None,
        })
    }

    /// The time left before the deadline; `TimedOut` once it has passed.
    fn time_left(&self) -> io::Result<Option<Duration>> {
        let Some(deadline) = self.deadline else {
            return Ok(None);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        Ok(Some(left))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(left) = self.time_left()? {
            self.tcp.set_read_timeout(Some(left))?;
        }
        self.tcp.read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(left) = self.time_left()? {
            self.tcp.set_write_timeout(Some(left))?;
        }
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}
