//! One record layer (a TLS session) on one TCP socket, shared by the thread
//! that reads the connection and the threads that write it.
//!
//! To the rest of the core a `wss://` connection is just another
//! `Read + Write`. But a TLS session is one object with one state for both
//! directions, and a blocking TLS stream cannot be cloned the way a
//! `TcpStream` can: the thread blocked reading it would hold it, and no
//! other could write. [`Duplex`] shares it so that neither direction ever
//! waits for the other's socket I/O:
//!
//! ```text
//!                 ┌────────── session lock (never held during I/O) ──────────┐
//!   reader: TCP ──┼─▶ ciphertext in ─▶ [ record layer ] ─▶ plaintext out ──┼─▶ reader
//!   writers ──────┼─▶ plaintext in  ─▶ [ record layer ] ─▶ ciphertext out ─┼─▶ outbox ─▶ TCP
//!                 └──────────────────────────────────────────────────────────┘   (lock held
//!                                                                                 while writing)
//! ```
//!
//! - The reader blocks on the socket *unlocked*, then feeds what arrived to
//!   the record layer under the session lock and takes out the plaintext.
//! - A writer encrypts under the session lock, then writes the ciphertext to
//!   the socket holding only the *outbox* lock, which orders the records:
//!   records carry sequence numbers, so they must reach the socket in the
//!   order they were sealed. Whoever holds the outbox drains the record
//!   layer of everything sealed, its own records and any others'.
//!
//! The record layer itself is not here: the core has no dependencies. The
//! client and server crates implement [`RecordLayer`] for a rustls
//! connection (their `tls` feature), whose methods these mirror.

use crate::websocket::lock;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What [`Duplex`] needs of a record layer: the sans-IO surface of a TLS
/// connection (rustls' `ConnectionCommon`), ciphertext in and out on one
/// side, plaintext in and out on the other.
pub trait RecordLayer: Send {
    /// Takes received ciphertext from `ciphertext` (as much as it wants);
    /// returns how many bytes it took, 0 for the end of the stream.
    ///
    /// # Errors
    /// When it cannot take more now (its buffers are full).
    fn read_tls(&mut self, ciphertext: &mut dyn Read) -> io::Result<usize>;
    /// Processes what [`Self::read_tls`] took: handshake messages, alerts,
    /// records to decrypt. Returns how many plaintext bytes wait to be read.
    ///
    /// # Errors
    /// A fatal TLS error (a bad certificate, a bad record, garbage): the
    /// session is over. Its alert, if any, waits in [`Self::write_tls`].
    /// The error is an [`io::Error`] of kind `InvalidData` wrapping the
    /// record layer's own error, which callers may downcast.
    fn process_new_packets(&mut self) -> io::Result<usize>;
    /// Takes decrypted plaintext out: `Ok(0)` once the peer sent
    /// `close_notify` and everything before it was read.
    ///
    /// # Errors
    /// `WouldBlock` when no plaintext is waiting; `UnexpectedEof` when the
    /// stream ended without `close_notify`.
    fn read_plaintext(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Seals plaintext for sending; returns how many bytes it took.
    ///
    /// # Errors
    /// When the session cannot take data (it is closed).
    fn write_plaintext(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Moves sealed ciphertext into `out`; returns how many bytes.
    ///
    /// # Errors
    /// Only those of `out`.
    fn write_tls(&mut self, out: &mut dyn Write) -> io::Result<usize>;
    /// Whether sealed ciphertext waits for [`Self::write_tls`].
    fn wants_write(&self) -> bool;
    /// Whether the handshake is still under way.
    fn is_handshaking(&self) -> bool;
    /// Queues a `close_notify` alert: nothing more will be sent.
    fn send_close_notify(&mut self);
}

/// The largest piece of plaintext sealed in one go: it bounds the
/// ciphertext a write buffers (four full TLS records).
const MAX_SEAL: usize = 64 * 1024;

/// How much one read from the socket asks for during the handshake: one
/// full TLS record (16 KiB of plaintext) and its header and tag.
const READ_CHUNK: usize = 16 * 1024 + 256;

/// The largest buffer kept once empty: small writes reuse it, a big one's
/// is freed.
const KEPT: usize = 4096;

/// A reader with nothing yet: `WouldBlock`. Given to the layer's `read_tls`
/// it reads nothing and marks no end of file, but lets the layer trim its
/// receive buffer if no record is half there (rustls shrinks it back to
/// 4 KiB then).
struct NothingYet;

impl Read for NothingYet {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// The record layer and the ciphertext received but not fed to it yet.
#[derive(Debug)]
struct Session<L> {
    layer: L,
    /// Received ciphertext the layer did not take yet: fed before the
    /// socket is read again.
    unfed: Vec<u8>,
    /// We sent `close_notify`.
    notified: bool,
}

/// Ciphertext on its way to the socket.
#[derive(Debug, Default)]
struct Outbox {
    /// Sealed, taken out of the layer, not yet written.
    pending: Vec<u8>,
    /// Plaintext bytes a write sealed whose ciphertext did not all go out
    /// before the socket timed out: the write failed with the timeout, and
    /// the next one, which must repeat them, reports them once the
    /// ciphertext is out (see [`Duplex::write_shared`]).
    owed: usize,
}

#[derive(Debug)]
struct Shared<L> {
    tcp: Arc<TcpStream>,
    session: Mutex<Session<L>>,
    outbox: Mutex<Outbox>,
}

/// A handle to one TLS session over one TCP socket: `Read` and `Write`
/// (also through `&Duplex`), and cheap to clone, so that one handle reads
/// while others write (see the module docs).
///
/// It keeps no read buffer of its own: a read takes ciphertext from the
/// socket into the caller's buffer, feeds it to the record layer (which
/// copies it), and decrypts into the same buffer.
#[derive(Debug)]
pub struct Duplex<L> {
    shared: Arc<Shared<L>>,
}

impl<L> Clone for Duplex<L> {
    fn clone(&self) -> Self {
        Duplex {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<L: RecordLayer> Duplex<L> {
    /// Shares `layer`, a fresh session (its handshake not done yet), over
    /// `tcp` (a `TcpStream`, or one already shared).
    pub fn new(tcp: impl Into<Arc<TcpStream>>, layer: L) -> Duplex<L> {
        Duplex {
            shared: Arc::new(Shared {
                tcp: tcp.into(),
                session: Mutex::new(Session {
                    layer,
                    unfed: Vec::new(),
                    notified: false,
                }),
                outbox: Mutex::new(Outbox::default()),
            }),
        }
    }

    /// The socket under the session: for timeouts, addresses, `peek`.
    /// Reading or writing it directly corrupts the session.
    pub fn tcp(&self) -> &TcpStream {
        &self.shared.tcp
    }

    /// Runs `f` on the record layer, under the session lock: to read what
    /// the handshake agreed (ALPN, the peer's certificates, the version).
    pub fn with_layer<T>(&self, f: impl FnOnce(&L) -> T) -> T {
        f(&lock(&self.shared.session).layer)
    }

    /// Completes the TLS handshake, before `deadline` if there is one: every
    /// read and write of the socket waits at most until then, so a silent or
    /// trickling peer fails with `TimedOut`. The socket's timeouts are left as the
    /// deadline set them; set them again afterwards.
    ///
    /// # Errors
    /// `TimedOut`; the record layer's error (a bad certificate, garbage
    /// instead of a handshake) as `InvalidData`, after its alert was sent;
    /// `UnexpectedEof` if the peer closed; other I/O errors.
    pub fn handshake(&self, deadline: Option<Instant>) -> io::Result<()> {
        let mut scratch = vec![0; READ_CHUNK];
        loop {
            if let Some(deadline) = deadline {
                self.shared
                    .tcp
                    .set_write_timeout(Some(time_left(deadline)?))?;
            }
            self.flush_sealed()?;
            if !lock(&self.shared.session).layer.is_handshaking() {
                return Ok(());
            }
            if let Some(deadline) = deadline {
                self.shared
                    .tcp
                    .set_read_timeout(Some(time_left(deadline)?))?;
            }
            if self.receive(&mut scratch)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                ));
            }
        }
    }

    /// Reads the socket once (unlocked) into `scratch` and feeds what came
    /// to the record layer. Returns how many bytes came, 0 at end of file;
    /// sends what the layer has to answer (handshake messages, alerts).
    /// For the handshake: plaintext that arrives with the peer's last
    /// flight (a client's first request can) stays in the layer for the
    /// first read, since `scratch` is not the reader's buffer.
    fn receive(&self, scratch: &mut [u8]) -> io::Result<usize> {
        let n = self.read_socket(scratch)?;
        let (fed, answer) = {
            let mut session = lock(&self.shared.session);
            let Session { layer, unfed, .. } = &mut *session;
            let mut input = &scratch[..n];
            let fed = if unfed.is_empty() {
                feed(layer, &mut input)
            } else {
                unfed.extend_from_slice(input);
                input = &[];
                feed_unfed(layer, unfed)
            };
            // What the layer did not take waits for the next read.
            unfed.extend_from_slice(input);
            (fed, layer.wants_write())
        };
        self.answer_then(answer, fed)?;
        Ok(n)
    }

    /// One read of the socket (unlocked), retried if interrupted.
    fn read_socket(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match (&*self.shared.tcp).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// After feeding the layer: what it answers (handshake messages, an
    /// alert for the error, if any) goes out first, then `result`, the
    /// feeding's outcome. Only after the session lock is released: a writer
    /// may hold the outbox, blocked on a slow peer, and a read must not
    /// wait for it holding the session.
    fn answer_then<T>(&self, answer: bool, result: io::Result<T>) -> io::Result<T> {
        let flushed = if answer { self.flush_sealed() } else { Ok(()) };
        let value = result?;
        flushed?;
        Ok(value)
    }

    /// [`Self::receive`] for reading plaintext: reads the socket once
    /// (unlocked) into `buf`, feeds the ciphertext to the record layer, and
    /// whenever the layer stops taking it (it holds as much plaintext as it
    /// will), takes plaintext out into the front of the same buffer, then
    /// feeds on. A record's plaintext is shorter than the record, and no
    /// more is taken out than fits before the first byte not yet fed, so
    /// nothing unfed is overwritten. Only ciphertext the layer refuses while
    /// no plaintext fits is kept for later, in `unfed` (before, everything
    /// past the first refusal was copied there, then moved again as it was
    /// fed: with 16 KiB messages, 4% of a wss server's time).
    ///
    /// Returns the bytes received (0: end of file) and the plaintext now at
    /// the front of `buf`. Called with nothing kept (`read_shared` feeds
    /// that first).
    fn receive_in_place(&self, buf: &mut [u8]) -> io::Result<(usize, usize)> {
        let n = self.read_socket(buf)?;
        let (result, answer) = {
            let mut session = lock(&self.shared.session);
            let Session { layer, unfed, .. } = &mut *session;
            debug_assert!(unfed.is_empty());
            let (mut fed, mut placed) = (0, 0);
            let result = loop {
                let mut input = &buf[fed..n];
                let took = feed(layer, &mut input);
                fed = n - input.len();
                if let Err(e) = took {
                    break Err(e);
                }
                if fed == n {
                    break Ok(placed);
                }
                // Refused: make room by taking plaintext out.
                let out = match layer.read_plaintext(&mut buf[placed..fed]) {
                    Ok(out) => out,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                    Err(e) => break Err(e),
                };
                if out == 0 {
                    unfed.extend_from_slice(&buf[fed..n]);
                    break Ok(placed);
                }
                placed += out;
            };
            (result, layer.wants_write())
        };
        let placed = self.answer_then(answer, result)?;
        Ok((n, placed))
    }

    /// Feeds ciphertext kept from an earlier read, if any. Returns whether
    /// there was some.
    fn feed_kept(&self) -> io::Result<bool> {
        let mut session = lock(&self.shared.session);
        let Session { layer, unfed, .. } = &mut *session;
        if unfed.is_empty() {
            return Ok(false);
        }
        feed_unfed(layer, unfed)?;
        Ok(true)
    }

    /// Writes everything the record layer has sealed, in order, holding the
    /// outbox lock: ciphertext kept from a write that timed out first.
    ///
    /// # Errors
    /// I/O errors of the socket, a timeout included (the ciphertext not
    /// written stays in the outbox, in order).
    fn flush_sealed(&self) -> io::Result<()> {
        let mut outbox = lock(&self.shared.outbox);
        self.drain(&mut outbox)
    }

    /// [`Self::flush_sealed`] with the outbox already held.
    fn drain(&self, outbox: &mut Outbox) -> io::Result<()> {
        loop {
            write_pending(&self.shared.tcp, &mut outbox.pending)?;
            let mut session = lock(&self.shared.session);
            if !session.layer.wants_write() {
                return Ok(());
            }
            while session.layer.wants_write() {
                session.layer.write_tls(&mut outbox.pending)?;
            }
        }
    }

    /// Seals `bytes` (up to 64 KiB of them) and writes their ciphertext,
    /// through a shared reference: any number of threads may write.
    ///
    /// A write that times out (the socket's write timeout) after sealing
    /// keeps the ciphertext not yet written and fails with the timeout; the
    /// next write *must begin with the same bytes* (as a retry does): it
    /// first writes that ciphertext, then reports those bytes as written
    /// without sealing them again. So a slow peer costs no data and no
    /// duplicate.
    ///
    /// # Errors
    /// I/O errors of the socket; the record layer's refusal (the session is
    /// closed).
    pub fn write_shared(&self, bytes: &[u8]) -> io::Result<usize> {
        let mut outbox = lock(&self.shared.outbox);
        if outbox.owed > 0 {
            self.drain(&mut outbox)?;
            let owed = std::mem::take(&mut outbox.owed);
            debug_assert!(owed <= bytes.len(), "a retry must repeat the bytes owed");
            return Ok(owed.min(bytes.len()));
        }
        // Anything sealed before (by the reader, say) goes first.
        self.drain(&mut outbox)?;
        let sealed = {
            let mut session = lock(&self.shared.session);
            let sealed = session
                .layer
                .write_plaintext(&bytes[..bytes.len().min(MAX_SEAL)])?;
            while session.layer.wants_write() {
                session.layer.write_tls(&mut outbox.pending)?;
            }
            sealed
        };
        match self.drain(&mut outbox) {
            Ok(()) => {
                // A big write's buffer is not kept for an idle connection.
                if outbox.pending.capacity() > KEPT {
                    outbox.pending = Vec::new();
                }
                Ok(sealed)
            }
            Err(e) if crate::connection::is_timeout(&e) => {
                outbox.owed = sealed;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads plaintext, blocking on the socket (unlocked) until some has
    /// been decrypted, through a shared reference (one thread reads at a
    /// time). `Ok(0)` once the peer sent `close_notify`, which is
    /// answered with ours.
    ///
    /// # Errors
    /// I/O errors of the socket (a read timeout included); `UnexpectedEof`
    /// if the stream ended without `close_notify`; the record layer's
    /// errors as `InvalidData`.
    pub fn read_shared(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.take_plaintext(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(0) if !buf.is_empty() => {
                    self.close_notify();
                    return Ok(0);
                }
                other => return other,
            }
            if self.feed_kept()? {
                continue;
            }
            if buf.is_empty() {
                return Ok(0);
            }
            self.trim();
            let (received, placed) = self.receive_in_place(buf)?;
            if placed > 0 {
                // The layer may hold more than fitted behind the ciphertext.
                // Whatever it says now (close_notify, an error) it says
                // again on the next read.
                let more = match &mut buf[placed..] {
                    [] => 0,
                    rest => self.take_plaintext(rest).unwrap_or(0),
                };
                return Ok(placed + more);
            }
            if received == 0 {
                // The end of the stream: the layer says whether it was
                // announced (Ok(0) next) or not (UnexpectedEof).
                let mut session = lock(&self.shared.session);
                session.layer.read_tls(&mut io::empty())?;
                session.layer.process_new_packets()?;
            }
        }
    }

    /// Before blocking on the socket: the layer's receive buffer may have
    /// grown to hold a whole record (up to 16 KiB and its overhead); let it
    /// shrink back while nothing is half received, rather than keep it for
    /// as long as the connection stays quiet. (rustls after one 16 KiB
    /// message each way holds 6 KiB trimmed, 35 KiB untrimmed.)
    fn trim(&self) {
        let _ = lock(&self.shared.session).layer.read_tls(&mut NothingYet);
    }

    /// Plaintext already decrypted, if any (`WouldBlock` if none).
    fn take_plaintext(&self, buf: &mut [u8]) -> io::Result<usize> {
        lock(&self.shared.session).layer.read_plaintext(buf)
    }

    /// Whether plaintext or received ciphertext waits in the session, so
    /// that a read would not block on the socket first.
    pub fn has_buffered(&self) -> bool {
        let mut session = lock(&self.shared.session);
        if !session.unfed.is_empty() {
            return true;
        }
        // Nothing new to process: this only says what is decrypted. An
        // error is news too: the next read reports it.
        session
            .layer
            .process_new_packets()
            .map_or(true, |ready| ready > 0)
    }

    /// Gives back what an idle connection need not hold: the layer's
    /// receive buffer beyond its minimum, empty buffers of our own. For a
    /// reader that has nothing to read for a while (the server's readers
    /// call it when they free their own buffer).
    pub fn release(&self) {
        {
            let mut session = lock(&self.shared.session);
            let _ = session.layer.read_tls(&mut NothingYet);
            if session.unfed.is_empty() {
                session.unfed = Vec::new();
            }
        }
        // A writer holding the outbox is busy: its buffer is in use.
        if let Ok(mut outbox) = self.shared.outbox.try_lock() {
            if outbox.pending.is_empty() {
                outbox.pending = Vec::new();
            }
        }
    }

    /// Sends `close_notify` (once): nothing more will be sent. Best effort,
    /// within the socket's write timeout; then shut the socket down.
    pub fn close_notify(&self) {
        let mut outbox = lock(&self.shared.outbox);
        {
            let mut session = lock(&self.shared.session);
            if session.notified {
                return;
            }
            session.notified = true;
            session.layer.send_close_notify();
        }
        let _ = self.drain(&mut outbox);
    }

    /// Shuts the socket down: reads and writes in progress end.
    ///
    /// # Errors
    /// As [`TcpStream::shutdown`].
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.shared.tcp.shutdown(how)
    }
}

/// Feeds `input` to the layer until it is used up or the layer stops
/// taking it; `input` is left at what was not taken.
fn feed<L: RecordLayer>(layer: &mut L, input: &mut &[u8]) -> io::Result<()> {
    while !input.is_empty() {
        let taken = match layer.read_tls(input) {
            Ok(taken) => taken,
            // Full: the plaintext must be read first; the rest is kept.
            Err(_) if !input.is_empty() => 0,
            Err(e) => return Err(e),
        };
        layer.process_new_packets()?;
        if taken == 0 {
            break;
        }
    }
    Ok(())
}

/// [`feed`] from the kept ciphertext, dropping what was taken.
fn feed_unfed<L: RecordLayer>(layer: &mut L, unfed: &mut Vec<u8>) -> io::Result<()> {
    let mut input = &unfed[..];
    let result = feed(layer, &mut input);
    let used = unfed.len() - input.len();
    unfed.drain(..used);
    if unfed.is_empty() && unfed.capacity() > KEPT {
        *unfed = Vec::new();
    }
    result
}

/// Writes all of `pending` to the socket; what a timeout leaves unwritten
/// stays in `pending`.
fn write_pending(mut tcp: &TcpStream, pending: &mut Vec<u8>) -> io::Result<()> {
    let mut written = 0;
    let result = loop {
        if written == pending.len() {
            break Ok(());
        }
        match tcp.write(&pending[written..]) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    pending.drain(..written);
    result
}

/// The time left before `deadline`; `TimedOut` once it has passed.
fn time_left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the TLS handshake did not finish in time",
        ));
    }
    Ok(left)
}

impl<L: RecordLayer> Read for Duplex<L> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_shared(buf)
    }
}

impl<L: RecordLayer> Read for &Duplex<L> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_shared(buf)
    }
}

impl<L: RecordLayer> Write for Duplex<L> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_shared(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_sealed()
    }
}

impl<L: RecordLayer> Write for &Duplex<L> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_shared(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_sealed()
    }
}

/// Implements [`RecordLayer`] for a one-field wrapper around a rustls
/// connection (`ClientConnection`, `ServerConnection` or `Connection`),
/// whose methods it forwards to by name: the core knows no rustls type,
/// and the client and server crates each wrap their own side.
///
/// ```ignore
/// struct Tls(rustls::ClientConnection);
/// rusty_socket_core::forward_record_layer!(Tls);
/// ```
#[macro_export]
macro_rules! forward_record_layer {
    ($wrapper:ty) => {
        impl $crate::duplex::RecordLayer for $wrapper {
            fn read_tls(
                &mut self,
                ciphertext: &mut dyn ::std::io::Read,
            ) -> ::std::io::Result<usize> {
                self.0.read_tls(ciphertext)
            }
            fn process_new_packets(&mut self) -> ::std::io::Result<usize> {
                match self.0.process_new_packets() {
                    Ok(state) => Ok(state.plaintext_bytes_to_read()),
                    Err(e) => Err(::std::io::Error::new(::std::io::ErrorKind::InvalidData, e)),
                }
            }
            fn read_plaintext(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                ::std::io::Read::read(&mut self.0.reader(), buf)
            }
            fn write_plaintext(&mut self, buf: &[u8]) -> ::std::io::Result<usize> {
                ::std::io::Write::write(&mut self.0.writer(), buf)
            }
            fn write_tls(&mut self, out: &mut dyn ::std::io::Write) -> ::std::io::Result<usize> {
                self.0.write_tls(out)
            }
            fn wants_write(&self) -> bool {
                self.0.wants_write()
            }
            fn is_handshaking(&self) -> bool {
                self.0.is_handshaking()
            }
            fn send_close_notify(&mut self) {
                self.0.send_close_notify()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::net::TcpListener;

    /// A record layer with the shape of rustls' buffered one, and a toy
    /// cipher: a record is a 2-byte big-endian length, the payload XORed
    /// with 0x5a, and one tag byte (so a record is longer than its
    /// plaintext). `read_tls` takes at most 64 bytes a call, and refuses
    /// input while more than 1,000 bytes of plaintext wait, as rustls does
    /// at 16 KiB.
    #[derive(Default)]
    struct Toy {
        incoming: Vec<u8>,
        plaintext: VecDeque<u8>,
        outgoing: Vec<u8>,
        eof: bool,
    }

    const TAG: u8 = 0xee;
    const PLAINTEXT_LIMIT: usize = 1000;

    fn seal(payload: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        out.extend(payload.iter().map(|b| b ^ 0x5a));
        out.push(TAG);
    }

    impl RecordLayer for Toy {
        fn read_tls(&mut self, ciphertext: &mut dyn Read) -> io::Result<usize> {
            if self.plaintext.len() > PLAINTEXT_LIMIT {
                return Err(io::Error::other("plaintext buffer full"));
            }
            let mut chunk = [0u8; 64];
            let n = ciphertext.read(&mut chunk)?;
            self.incoming.extend_from_slice(&chunk[..n]);
            self.eof |= n == 0;
            Ok(n)
        }
        fn process_new_packets(&mut self) -> io::Result<usize> {
            while let [a, b, rest @ ..] = &self.incoming[..] {
                let len = usize::from(u16::from_be_bytes([*a, *b]));
                if rest.len() < len + 1 {
                    break;
                }
                if rest[len] != TAG {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bad tag"));
                }
                self.plaintext.extend(rest[..len].iter().map(|b| b ^ 0x5a));
                self.incoming.drain(..2 + len + 1);
            }
            Ok(self.plaintext.len())
        }
        fn read_plaintext(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.plaintext.is_empty() {
                return if self.eof {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let n = buf.len().min(self.plaintext.len());
            for (slot, byte) in buf.iter_mut().zip(self.plaintext.drain(..n)) {
                *slot = byte;
            }
            Ok(n)
        }
        fn write_plaintext(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(300);
            seal(&buf[..n], &mut self.outgoing);
            Ok(n)
        }
        fn write_tls(&mut self, out: &mut dyn Write) -> io::Result<usize> {
            out.write_all(&self.outgoing)?;
            Ok(std::mem::take(&mut self.outgoing).len())
        }
        fn wants_write(&self) -> bool {
            !self.outgoing.is_empty()
        }
        fn is_handshaking(&self) -> bool {
            false
        }
        fn send_close_notify(&mut self) {}
    }

    /// Records of 0 to 299 bytes, sealed, and the plaintext they carry.
    fn records(count: usize) -> (Vec<u8>, Vec<u8>) {
        let (mut sealed, mut plain) = (Vec::new(), Vec::new());
        for i in 0..count {
            let payload: Vec<u8> = (0..i * 37 % 300).map(|j| (i + j) as u8).collect();
            seal(&payload, &mut sealed);
            plain.extend_from_slice(&payload);
        }
        (sealed, plain)
    }

    /// Sends `sealed` to a `Duplex` over loopback, then closes; returns all
    /// the plaintext read from it with reads of `read_size` bytes.
    fn read_through(sealed: Vec<u8>, read_size: usize) -> Vec<u8> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sender = std::thread::spawn(move || {
            let mut tcp = TcpStream::connect(addr).unwrap();
            // Some in one write, the rest in odd pieces.
            let (bulk, pieces) = sealed.split_at(sealed.len() / 2);
            tcp.write_all(bulk).unwrap();
            for piece in pieces.chunks(777) {
                tcp.write_all(piece).unwrap();
            }
            tcp.shutdown(Shutdown::Write).unwrap();
            // Until the reader is done.
            let _ = tcp.read(&mut [0u8; 1]);
        });
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let duplex = Duplex::new(tcp, Toy::default());
        let mut got = Vec::new();
        let mut buf = vec![0u8; read_size];
        loop {
            match (&duplex).read(&mut buf).unwrap() {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        duplex.shutdown(Shutdown::Both).unwrap();
        sender.join().unwrap();
        got
    }

    #[test]
    fn reads_give_the_plaintext_in_order_whatever_the_layer_refuses() {
        // 200 records, about 30 KB: a 64 KiB read takes in far more than the
        // layer's plaintext limit, so plaintext is taken out in place and
        // the rest fed behind it; small reads take the other paths.
        let (sealed, plain) = records(200);
        for read_size in [1, 7, 300, 4096, 65536] {
            assert!(
                read_through(sealed.clone(), read_size) == plain,
                "reads of {read_size}"
            );
        }
    }

    #[test]
    fn a_bad_record_is_an_error_not_plaintext() {
        let (mut sealed, _) = records(20);
        let (bad, _) = records(3);
        let mut broken = bad.clone();
        *broken.last_mut().unwrap() ^= 1; // the tag
        sealed.extend_from_slice(&broken);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.write_all(&sealed).unwrap();
        let (server, _) = listener.accept().unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let duplex = Duplex::new(server, Toy::default());
        let mut buf = vec![0u8; 65536];
        let error = loop {
            match (&duplex).read(&mut buf) {
                Ok(n) => assert!(n > 0, "no end of file before the bad record"),
                Err(e) => break e,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
    }
}
