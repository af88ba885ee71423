//! The stream under a client connection, plain TCP or TLS (`wss://`, the
//! `tls` feature), with an optional deadline.
//!
//! A socket timeout (`SO_RCVTIMEO`) bounds one `read` call, not a whole
//! exchange: a server that sends its response one byte per second would
//! never trip a 5 second read timeout. During the opening handshake the
//! stream therefore carries a *deadline*, and every read and write first sets
//! the socket timeout to the time that is left. Once the handshake is done
//! the deadline is removed. With TLS the deadline is the same, on the same
//! socket: the TLS session's reads and writes go through it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What carries the bytes.
#[derive(Debug)]
enum Io {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsStream),
}

/// A connection's stream whose reads and writes fail with `TimedOut` once
/// an optional deadline has passed.
#[derive(Debug)]
pub(crate) struct Stream {
    io: Io,
    deadline: Option<Instant>,
}

impl Stream {
    /// Wraps `tcp`; with a `deadline`, every operation must end by then.
    pub(crate) fn new(tcp: TcpStream, deadline: Option<Instant>) -> Stream {
        Stream {
            io: Io::Plain(tcp),
            deadline,
        }
    }

    /// Wraps a TLS session whose handshake is done.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(tls: crate::tls::TlsStream, deadline: Option<Instant>) -> Stream {
        Stream {
            io: Io::Tls(tls),
            deadline,
        }
    }

    /// Removes the deadline and the socket timeouts it set.
    pub(crate) fn clear_deadline(&mut self) -> io::Result<()> {
        if self.deadline.take().is_some() {
            self.tcp().set_read_timeout(None)?;
            self.tcp().set_write_timeout(None)?;
        }
        Ok(())
    }

    /// The TCP socket, under TLS or not.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match &self.io {
            Io::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Io::Tls(tls) => tls.tcp(),
        }
    }

    /// A second handle to the same connection, without a deadline: a
    /// second handle to the socket, or to the shared TLS session.
    pub(crate) fn try_clone(&self) -> io::Result<Stream> {
        let io = match &self.io {
            Io::Plain(tcp) => Io::Plain(tcp.try_clone()?),
            #[cfg(feature = "tls")]
            Io::Tls(tls) => Io::Tls(tls.clone()),
        };
        Ok(Stream { io, deadline: None })
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
            self.tcp().set_read_timeout(Some(left))?;
        }
        match &mut self.io {
            Io::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "tls")]
            Io::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(left) = self.time_left()? {
            self.tcp().set_write_timeout(Some(left))?;
        }
        match &mut self.io {
            Io::Plain(tcp) => tcp.write(buf),
            #[cfg(feature = "tls")]
            Io::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.io {
            Io::Plain(tcp) => tcp.flush(),
            #[cfg(feature = "tls")]
            Io::Tls(tls) => tls.flush(),
        }
    }
}
