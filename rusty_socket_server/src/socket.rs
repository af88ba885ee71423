//! The socket of one connection as the session, its reader and the writers
//! see it: plain TCP, or a TLS session on it (feature `tls`). Everything
//! above this module is the same for both.

use crate::conn::Wire;
use crate::reader::Source;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// One accepted connection's stream.
#[derive(Debug)]
pub(crate) enum Socket {
    Plain(Arc<TcpStream>),
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsStream),
}

impl Socket {
    /// The TCP socket, under TLS or not.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Socket::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Socket::Tls(tls) => tls.tcp(),
        }
    }

    /// Writes all of `bytes` (an HTTP answer, the 101).
    pub(crate) fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Socket::Plain(tcp) => (&**tcp).write_all(bytes),
            #[cfg(feature = "tls")]
            Socket::Tls(tls) => {
                let mut tls = tls;
                tls.write_all(bytes)
            }
        }
    }

    /// What the writers write to.
    pub(crate) fn wire(&self) -> Arc<dyn Wire> {
        match self {
            Socket::Plain(tcp) => Arc::clone(tcp) as Arc<dyn Wire>,
            #[cfg(feature = "tls")]
            Socket::Tls(tls) => Arc::new(tls.clone()),
        }
    }

    /// Ends a TLS session with `close_notify`, after the last frame; a
    /// plain socket has nothing to say.
    pub(crate) fn close_notify(&self) {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = self {
            tls.close_notify();
        }
    }

    /// Shuts the TCP socket down.
    pub(crate) fn shutdown(&self, how: Shutdown) {
        let _ = self.tcp().shutdown(how);
    }
}

impl Read for &Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match *self {
            Socket::Plain(tcp) => (&**tcp).read(buf),
            #[cfg(feature = "tls")]
            Socket::Tls(tls) => tls.read_shared(buf),
        }
    }
}

impl Source for &Socket {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.tcp().set_read_timeout(Some(timeout))
    }

    fn wait_for_data(&mut self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = *self {
            if tls.has_buffered() {
                return Ok(true);
            }
        }
        Ok(self.tcp().peek(&mut [0u8; 1])? > 0)
    }

    fn release(&mut self) {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = *self {
            tls.release();
        }
    }
}

#[cfg(feature = "tls")]
impl Wire for crate::tls::TlsStream {
    fn write(&self, bytes: &[u8]) -> io::Result<usize> {
        // A write that times out keeps its ciphertext and reports the
        // bytes on the retry, which the writers always make with the same
        // bytes first (see `Duplex::write_shared`).
        self.write_shared(bytes)
    }
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.tcp().set_write_timeout(Some(timeout))
    }
    fn hang_up(&self) {
        let _ = self.tcp().shutdown(Shutdown::Both);
    }
}
