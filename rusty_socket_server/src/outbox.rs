//! [`Outbox`]: the broadcasts a [`crate::Handler`] makes from a reader
//! thread while that thread handles one read's worth of messages, gathered
//! and queued together once the read is handled.
//!
//! A client that sends K small messages in one packet makes its handler
//! broadcast K times. Queued one by one, that would take K slots of every
//! recipient's queue and could wake each writer thread K times; gathered,
//! the K frames travel as one shared buffer in one slot, and each writer
//! sends them in one `write`.
//!
//! The outbox belongs to the reader thread's [`crate::ServerHandle`] (the
//! one its callbacks receive), and only that handle can fill it: a clone of
//! the handle, or the handle of any other thread, sends at once. The reader
//! flushes it after each read's messages and before anything it queues
//! itself (a pong, a close), so what leaves the server stays in the order
//! the calls were made.

use crate::frames::Frames;
use crate::handler::ConnectionId;
use crate::shared::Shared;
use rusty_socket_core::Message;

/// Who a broadcast goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recipients {
    All,
    Except(ConnectionId),
}

impl Recipients {
    pub(crate) fn include(self, id: ConnectionId) -> bool {
        match self {
            Recipients::All => true,
            Recipients::Except(except) => id != except,
        }
    }
}

/// A gathered batch is queued at once beyond this size, so the outbox never
/// holds more than this plus one frame.
const MAX_GATHERED: usize = 64 << 10;

/// Broadcast frames not yet queued: consecutive ones with the same
/// recipients, as one buffer of frames.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// The recipients of `frames`; `None` while nothing is gathered.
    recipients: Option<Recipients>,
    frames: Option<Frames>,
    /// Data messages and payload bytes in `frames`, for the counters.
    messages: u64,
    bytes: u64,
}

impl Outbox {
    /// Gathers `message` for `recipients` (queuing what was gathered first
    /// if it went to others, or if the batch is full), and returns the
    /// number of connections it is queued for: those open and not closing
    /// now. (One whose queue turns out to be full when the batch goes out is
    /// closed with 1008, as it would have been at once.) A message too large
    /// to gather is queued at once, after the batch.
    pub(crate) fn broadcast(
        &mut self,
        shared: &Shared,
        recipients: Recipients,
        message: &Message,
        (messages, bytes): (u64, u64),
    ) -> usize {
        if message.len() > MAX_GATHERED {
            self.flush(shared);
            let frames = Frames::one(message, true);
            return shared.enqueue_all(&frames, |id| recipients.include(id), (messages, bytes));
        }
        let gathered = self.frames.as_ref().map_or(0, Frames::payload_len);
        if self.recipients.is_some_and(|r| r != recipients)
            || gathered + message.len() > MAX_GATHERED
        {
            self.flush(shared);
        }
        self.recipients = Some(recipients);
        self.frames
            .get_or_insert_with(|| Frames::new(true))
            .push(message.opcode(), message.as_bytes());
        self.messages += messages;
        self.bytes += bytes;
        shared.open_connections(|id| recipients.include(id))
    }

    /// Queues what was gathered, for every recipient still open.
    pub(crate) fn flush(&mut self, shared: &Shared) {
        let Some(recipients) = self.recipients.take() else {
            return;
        };
        let Some(frames) = self.frames.take().filter(|f| !f.is_empty()) else {
            return;
        };
        let counts = (self.messages, self.bytes);
        self.messages = 0;
        self.bytes = 0;
        shared.enqueue_all(&frames, |id| recipients.include(id), counts);
    }
}
