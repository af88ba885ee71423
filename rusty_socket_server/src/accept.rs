//! The accept loop. It only accepts: each socket gets its own reader thread
//! at once, which does the handshake ([`crate::session`]), so a slow or
//! silent client never delays the next one. A failed `accept` (out of file
//! descriptors, say) is logged and retried after a short pause; it never
//! ends the loop. Past [`crate::ServerConfig::max_handshakes`] sockets in
//! their handshake, a new one gets a best-effort 503 and is closed at once.

use crate::shared::{lock, Shared};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Accepts connections on `listener` until the server shuts down.
pub(crate) fn run(shared: &Arc<Shared>, listener: &TcpListener) {
    let mut next_pending = 0u64;
    loop {
        let accepted = listener.accept();
        if shared.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                crate::log::server(format_args!("accept failed: {e}"));
                // Out of file descriptors or memory: give the connections
                // that end meanwhile a chance to free some.
                if matches!(e.raw_os_error(), Some(23 | 24 | 12 | 105)) {
                    thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
        };
        if shared.handshaking.load(Ordering::Acquire) >= shared.config.max_handshakes {
            crate::log::peer(
                peer,
                format_args!("too many handshakes in progress; refused"),
            );
            crate::session::refuse_now(&stream);
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
            crate::log::peer(peer, format_args!("cannot spawn a thread: {e}"));
            lock(&shared.pending).remove(&pending_id);
            shared.handshaking.fetch_sub(1, Ordering::AcqRel);
            crate::session::refuse_now(&stream);
        }
    }
}
