//! The broadcasts a reader thread gathers while it handles one read's worth
//! of messages, queued together when it has handled them (see
//! [`crate::ServerHandle::broadcast`]).

use crate::handler::ConnectionId;
use crate::shared::Shared;
use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    /// Broadcasts made by a reader thread while it handles one read's worth
    /// of messages, sent together when that read is handled (see
    /// [`crate::ServerHandle::broadcast`]). `None` outside of a reader's batch.
    pub(crate) static DEFERRED: RefCell<Option<Deferred>> = const { RefCell::new(None) };
}

/// Who a broadcast goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recipients {
    All,
    Except(ConnectionId),
}

/// Broadcasts not yet queued: consecutive ones with the same recipients, on
/// the same server, as one buffer of frames.
#[derive(Default)]
pub(crate) struct Deferred {
    pub(crate) pending: Option<(Arc<Shared>, Recipients)>,
    pub(crate) frames: Vec<u8>,
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
}

/// A deferred batch is queued at once beyond this size.
pub(crate) const MAX_DEFERRED: usize = 64 << 10;

/// Marks the calling (reader) thread as handling a read's worth of messages
/// until the guard is dropped; [`flush_deferred`] sends what accumulated.
pub(crate) struct Batching;

impl Batching {
    pub(crate) fn start() -> Batching {
        DEFERRED.with(|d| *d.borrow_mut() = Some(Deferred::default()));
        Batching
    }
}

impl Drop for Batching {
    fn drop(&mut self) {
        flush_deferred();
        DEFERRED.with(|d| *d.borrow_mut() = None);
    }
}

/// Queues the broadcasts deferred on this thread, if any.
pub(crate) fn flush_deferred() {
    let taken = DEFERRED.with(|d| {
        let mut d = d.borrow_mut();
        let d = d.as_mut()?;
        let (shared, recipients) = d.pending.take()?;
        let frames: Arc<[u8]> = Arc::from(d.frames.as_slice());
        if d.frames.capacity() > MAX_DEFERRED {
            d.frames = Vec::new();
        } else {
            d.frames.clear();
        }
        let counts = (d.messages, d.bytes);
        d.messages = 0;
        d.bytes = 0;
        Some((shared, recipients, frames, counts))
    });
    if let Some((shared, recipients, frames, (messages, bytes))) = taken {
        shared.enqueue_all(
            &frames,
            |id| match recipients {
                Recipients::All => true,
                Recipients::Except(except) => id != except,
            },
            (messages, bytes),
        );
    }
}
