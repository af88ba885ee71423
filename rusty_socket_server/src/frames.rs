//! [`Frames`]: messages on their way to one or many connections, encoded
//! once for each way a recipient needs them (RFC 7692 for the compressed
//! ways).
//!
//! A connection that did not negotiate permessage-deflate gets the plain
//! frames, encoded once and shared by all such recipients. One that did
//! negotiate it gets compressed frames, in one of two ways:
//!
//! - **Without context takeover** (`server_no_context_takeover` agreed,
//!   RFC 7692 section 7.1.1.1), every message is compressed on its own, so
//!   the compressed frames are the same for every recipient with the same
//!   window: they are made once per window size and shared, like the plain
//!   ones. A broadcast costs one compression, whatever the audience.
//! - **With context takeover**, each connection's compressor remembers what
//!   it sent that connection, so each recipient's frames differ: the
//!   connection compresses them itself ([`crate::conn::Conn::enqueue_frames`])
//!   under its compressor's lock, which it holds until they are queued, so
//!   the peer inflates them in the order they were compressed.

use rusty_socket_core::deflate::{DeflateParams, MessageCompressor, PerMessageDeflate};
use rusty_socket_core::frame::FrameHeader;
use rusty_socket_core::{Message, OpCode, Role};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// One or more messages, with their encodings made as recipients need them.
#[derive(Debug)]
pub(crate) struct Frames {
    /// Each message's opcode and where its payload lies in `plain`.
    messages: Vec<(OpCode, Range<usize>)>,
    /// The plain encoding (servers do not mask, RFC 6455 section 5.1),
    /// written as the messages are added: each payload is copied once, into
    /// its frame, and the compressed encodings read it from there.
    plain: Arc<Vec<u8>>,
    /// The payload bytes (headers aside).
    payload_bytes: usize,
    /// Whether data messages may be compressed (not for a secret).
    compress: bool,
    /// The compressed encodings without context takeover, by window bits
    /// (index `bits - 8`), made on first use.
    shared: [OnceLock<Arc<Vec<u8>>>; 8],
}

impl Frames {
    /// Nothing yet; `compress: false` keeps every message uncompressed.
    pub(crate) fn new(compress: bool) -> Frames {
        Frames::with_plain(Vec::new(), compress)
    }

    /// Nothing yet, the plain encoding to be written into `plain`.
    fn with_plain(plain: Vec<u8>, compress: bool) -> Frames {
        Frames {
            messages: Vec::new(),
            plain: Arc::new(plain),
            payload_bytes: 0,
            compress,
            shared: Default::default(),
        }
    }

    /// One message.
    pub(crate) fn one(message: &Message, compress: bool) -> Frames {
        let payload = message.as_bytes();
        let mut frames = Frames::with_plain(Vec::with_capacity(payload.len() + 10), compress);
        frames.push(message.opcode(), payload);
        frames
    }

    /// Adds a message (before any encoding was shared).
    pub(crate) fn push(&mut self, opcode: OpCode, payload: &[u8]) {
        debug_assert_eq!(Arc::strong_count(&self.plain), 1);
        // Unique until `plain()` is shared, so no copy is made here.
        let out = Arc::make_mut(&mut self.plain);
        append(out, opcode, false, payload);
        self.messages
            .push((opcode, out.len() - payload.len()..out.len()));
        self.payload_bytes += payload.len();
    }

    /// Whether it holds no message.
    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The payload bytes it holds.
    pub(crate) fn payload_len(&self) -> usize {
        self.payload_bytes
    }

    /// Whether its messages may be compressed.
    pub(crate) fn compressible(&self) -> bool {
        self.compress
    }

    /// The frames uncompressed. An `Arc<Vec<u8>>`, not an `Arc<[u8]>`:
    /// that would copy the frames once more (a 16 KiB echo spent 2% of the
    /// server's time on that copy).
    pub(crate) fn plain(&self) -> &Arc<Vec<u8>> {
        &self.plain
    }

    /// The frames compressed for a recipient that agreed `params` without
    /// context takeover: made once per window size, then shared.
    pub(crate) fn compressed_shared(
        &self,
        params: &DeflateParams,
        settings: &PerMessageDeflate,
    ) -> &Arc<Vec<u8>> {
        debug_assert!(params.server_no_context_takeover);
        let bits = params.server_max_window_bits.clamp(8, 15);
        self.shared[usize::from(bits - 8)].get_or_init(|| {
            let mut compressor =
                MessageCompressor::new(Role::Server, params, settings.level, settings.min_size);
            Arc::new(self.compressed_with(&mut compressor))
        })
    }

    /// The frames with every data message compressed by `compressor` (a
    /// connection's own, with context takeover).
    pub(crate) fn compressed_with(&self, compressor: &mut MessageCompressor) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload_bytes / 2 + 10 * self.messages.len());
        let mut scratch = Vec::new();
        for (opcode, range) in &self.messages {
            let payload = &self.plain[range.clone()];
            scratch.clear();
            let data = matches!(opcode, OpCode::Text | OpCode::Binary);
            if data && self.compress && compressor.compress(payload, &mut scratch) {
                append(&mut out, *opcode, true, &scratch);
            } else {
                append(&mut out, *opcode, false, payload);
            }
        }
        out
    }
}

/// Appends one final, unmasked frame.
fn append(out: &mut Vec<u8>, opcode: OpCode, rsv1: bool, payload: &[u8]) {
    let header = FrameHeader {
        rsv1,
        ..FrameHeader::new(opcode, payload.len() as u64)
    };
    header.append_to(out);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusty_socket_core::deflate::Level;
    use rusty_socket_core::{Config, Receiver};

    fn params(no_takeover: bool) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: no_takeover,
            ..DeflateParams::default()
        }
    }

    /// What a client makes of `bytes`.
    fn receive(bytes: &[u8], params: &DeflateParams) -> Vec<Message> {
        let mut receiver = Receiver::new(Role::Client, Config::default());
        receiver.enable_deflate(params);
        let mut messages = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let (used, message) = receiver.decode(&bytes[at..]).unwrap();
            at += used;
            messages.extend(message);
        }
        messages
    }

    #[test]
    fn every_encoding_carries_the_same_messages() {
        let mut frames = Frames::new(true);
        let text = "hello, hello, hello, hello, hello".repeat(4);
        frames.push(OpCode::Text, text.as_bytes());
        frames.push(OpCode::Ping, b"p");
        frames.push(OpCode::Binary, &[7; 300]);
        let expected = vec![
            Message::text(text.clone()),
            Message::Ping(b"p".to_vec()),
            Message::binary(vec![7; 300]),
        ];
        let settings = PerMessageDeflate::default();
        assert_eq!(receive(frames.plain(), &params(false)), expected);
        let shared = frames.compressed_shared(&params(true), &settings);
        assert!(shared.len() < frames.plain().len());
        assert_eq!(receive(shared, &params(true)), expected);
        // The same window gets the very same bytes: compressed once.
        assert!(Arc::ptr_eq(
            shared,
            frames.compressed_shared(&params(true), &settings)
        ));
        let mut own = MessageCompressor::new(Role::Server, &params(false), Level::Default, 0);
        let compressed = frames.compressed_with(&mut own);
        assert_eq!(receive(&compressed, &params(false)), expected);
    }

    #[test]
    fn a_secret_is_never_compressed() {
        let mut frames = Frames::new(false);
        frames.push(OpCode::Text, "token token token token token".as_bytes());
        let mut own = MessageCompressor::new(Role::Server, &params(false), Level::Default, 0);
        assert_eq!(&frames.compressed_with(&mut own)[..], &frames.plain()[..]);
    }
}
