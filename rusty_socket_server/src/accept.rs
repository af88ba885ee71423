//! The accept loop. It only accepts: each socket gets its own reader thread
//! at once, which does the handshake ([`crate::session`]), so a slow or
//! silent client never delays the next one.
//!
//! It never starts a thread the machine cannot give ([`crate::capacity`]):
//! when the open connections and the sockets in their handshake already
//! fill the capacity plus [`crate::ServerConfig::max_handshakes`], or the
//! handshakes alone fill `max_handshakes`, a new socket gets a best-effort
//! `503` with `Retry-After` and is closed at once, on this thread (on a
//! TLS port, a TLS `internal_error` alert instead: the client expects a
//! TLS record, and there is no thread to run a handshake for it).
//!
//! A failed `accept` for want of descriptors or memory (`EMFILE`,
//! `ENFILE`, `ENOMEM`, `ENOBUFS`) is retried after a pause that doubles
//! from 10 ms to 1 s while the failures go on, so the loop does not spin
//! while the connections that are open go on undisturbed. Refusals of both
//! kinds are logged once per episode ([`crate::capacity::Refusals`]).

use crate::shared::{lock, Shared};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// The first pause after `accept` failed for want of resources.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// `ENOMEM`, `ENFILE`, `EMFILE`, `ENOBUFS` on Linux: `accept` failed for
/// want of memory or descriptors, which only time (connections ending) can
/// cure.
fn is_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(12 | 23 | 24 | 105))
}

/// Accepts connections on `listener` until the server shuts down.
pub(crate) fn run(shared: &Arc<Shared>, listener: &TcpListener) {
    let mut next_pending = 0u64;
    let mut backoff = BACKOFF_MIN;
    // Sockets between the accept loop and a connection slot each hold a
    // thread; past this many, no thread is started.
    let max_threads = shared
        .capacity
        .connections
        .saturating_add(shared.config.max_handshakes as u64);
    loop {
        let accepted = listener.accept();
        if shared.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = BACKOFF_MIN;
                accepted
            }
            Err(e) if is_exhaustion(&e) => {
                shared
                    .refusals
                    .refused(format_args!("accept failed: {e}; retrying"));
                // Give the connections that end meanwhile a chance to free
                // what is missing.
                thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
            Err(e) => {
                // A connection reset before it was accepted is its own
                // affair, not the server's.
                if e.kind() != std::io::ErrorKind::ConnectionAborted {
                    crate::log::server(format_args!("accept failed: {e}"));
                }
                continue;
            }
        };
        let handshakes = shared.handshaking.load(Ordering::Acquire);
        if handshakes >= shared.config.max_handshakes {
            shared.refusals.refused(format_args!(
                "{handshakes} handshakes in progress, the most allowed; answering 503"
            ));
            crate::session::refuse_now(shared, &stream);
            continue;
        }
        let connections = shared.counters.connections.load(Ordering::Acquire);
        if connections.saturating_add(handshakes as u64) >= max_threads {
            shared.refusals.refused(format_args!(
                "{connections} connections and {handshakes} handshakes fill the capacity, {}; answering 503",
                shared.capacity
            ));
            crate::session::refuse_now(shared, &stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let stream = Arc::new(stream);
        next_pending += 1;
        let pending_id = next_pending;
        shared.handshaking.fetch_add(1, Ordering::AcqRel);
        lock(&shared.pending).insert(pending_id, Arc::clone(&stream));
        let session_shared = Arc::clone(shared);
        let session_stream = Arc::clone(&stream);
        let spawned = shared.spawn("ws-reader", move || {
            crate::session::run(&session_shared, session_stream, peer, pending_id);
        });
        if let Err(e) = spawned {
            shared
                .refusals
                .refused(format_args!("cannot spawn a thread: {e}; answering 503"));
            lock(&shared.pending).remove(&pending_id);
            shared.handshaking.fetch_sub(1, Ordering::AcqRel);
            crate::session::refuse_now(shared, &stream);
        }
    }
}
