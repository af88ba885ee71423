//! Closing the TCP connection under a WebSocket cleanly (RFC 6455 section
//! 7.1.1).
//!
//! The server closes the TCP connection first. Closing a socket that still
//! has unread bytes, or that receives more after it is closed, makes the
//! kernel answer with a reset (RFC 1122 section 4.2.2.13) instead of an
//! orderly end, and a reset can destroy what was sent just before it: a
//! peer whose kernel receives the reset before the application has read
//! the close frame may never see that frame, and a peer whose next write
//! fails with "connection reset" often drops the connection unread. That
//! happens whenever the peer is still sending when the server fails the
//! connection, or sends one more frame before it reads the server's close.
//!
//! Section 7.1.1 gives the remedy: shut down the writing side (a FIN after
//! the last byte), read until the peer ends its side too, then close.
//! [`close_cleanly`] does that, for at most a given time, throwing away
//! whatever still arrives (section 5.5.1 allows discarding data after a
//! close frame).

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// How long [`close_cleanly`] waits for the peer's end by default: a peer
/// that reads our close promptly ends its side within a round trip.
pub const LINGER: Duration = Duration::from_secs(1);

/// The most bytes [`close_cleanly`] reads and throws away: a peer that goes
/// on sending past this is not waiting for our close, and gets the reset.
pub const MAX_DISCARDED: usize = 1 << 20;

/// Half-closes `stream` (so the peer reads everything sent so far, then an
/// orderly end of stream), then reads and discards what the peer still
/// sends until it ends its side, `linger` passes, or [`MAX_DISCARDED`]
/// bytes came. Returns whether the peer ended its side: then closing the
/// socket sends no reset.
///
/// The caller closes the socket afterwards (dropping it, or
/// `shutdown(Shutdown::Both)` when other handles to it remain). The read
/// timeout of `stream` is changed.
pub fn close_cleanly(stream: &TcpStream, linger: Duration) -> bool {
    if stream.shutdown(Shutdown::Write).is_err() {
        return false;
    }
    let deadline = Instant::now() + linger;
    let mut sink = [0u8; 4096];
    let mut discarded = 0;
    let mut stream = stream;
    while discarded < MAX_DISCARDED {
        let left = match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => left,
            _ => return false,
        };
        if stream.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(n) => discarded += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{close_cleanly, MAX_DISCARDED};
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::thread;
    use std::time::{Duration, Instant};

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    #[test]
    fn the_peer_reads_everything_then_an_orderly_end_and_its_end_is_awaited() {
        let (server, mut client) = pair();
        client.write_all(&[7u8; 10_000]).unwrap();
        (&server).write_all(b"last words").unwrap();
        let peer = thread::spawn(move || {
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut got = Vec::new();
            let end = client.read_to_end(&mut got);
            // Our end comes after we have read theirs: no reset, ever.
            drop(client);
            (got, end.is_ok())
        });
        assert!(close_cleanly(&server, Duration::from_secs(10)));
        let (got, clean) = peer.join().unwrap();
        assert_eq!(got, b"last words");
        assert!(clean);
    }

    #[test]
    fn a_peer_that_never_ends_its_side_is_given_up_on_after_the_linger() {
        let (server, _client) = pair();
        let started = Instant::now();
        assert!(!close_cleanly(&server, Duration::from_millis(50)));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(50), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn a_peer_that_keeps_sending_is_given_up_on_after_the_byte_limit() {
        let (server, mut client) = pair();
        let flood = thread::spawn(move || {
            let chunk = [0u8; 65536];
            let mut sent = 0;
            while client.write_all(&chunk).is_ok() {
                sent += chunk.len();
            }
            sent
        });
        assert!(!close_cleanly(&server, Duration::from_secs(30)));
        drop(server);
        let sent = flood.join().unwrap();
        assert!(sent >= MAX_DISCARDED, "{sent}");
    }
}
