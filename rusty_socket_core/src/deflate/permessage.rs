//! permessage-deflate messages (RFC 7692 sections 6 and 7.2): what a sender
//! does to a message's payload before framing it, and what a receiver does
//! to the payload of a message whose first frame has RSV1 set.
//!
//! One compressed message, end to end (section 7.2.3.1's example, "Hello"):
//!
//! 1. The sender's [`MessageCompressor`] runs the [`Deflater`] over the
//!    whole payload and ends it with a sync flush, an empty stored block whose
//!    last four bytes, `00 00 ff ff`, it removes (7.2.1): `f2 48 cd c9 c9 07
//!    00`.
//! 2. The frame carries those bytes with RSV1 set on its first (here only)
//!    frame, "the Per-Message Compressed bit" (6). Continuations and control
//!    frames never have it (6.1, 6).
//! 3. The receiver sees RSV1 on the first frame and sends every payload byte
//!    of the message, frame after frame, through its [`MessageDecompressor`],
//!    which inflates it as it arrives, never past `max_message_size` bytes of
//!    output.
//! 4. At the last frame it appends `00 00 ff ff` (7.2.2) and inflates that
//!    too, which ends the empty stored block: "Hello".
//! 5. Without context takeover (7.1.1) both ends then forget the message;
//!    with it, the next message may refer back into this one.
//!
//! Memory: neither side allocates anything until its first compressed
//! message, and a side that does not keep context frees what it used after
//! each message; see the tables in the [`deflate`](crate::deflate) module.

use super::{ClientPolicy, ServerPolicy};
use super::{DeflateParams, Deflater, InflateError, Inflater, Level};
use crate::protocol::Role;

/// The tail a sync flush ends with, removed by the sender and appended by
/// the receiver (RFC 7692 section 7.2.1, 7.2.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How a connection offers, accepts and uses permessage-deflate: part of
/// [`Config`](crate::Config), where `None` turns it off.
///
/// ```
/// use rusty_socket_core::deflate::{Level, PerMessageDeflate};
/// use rusty_socket_core::Config;
/// let config = Config::default().permessage_deflate(Some(PerMessageDeflate {
///     level: Level::Fast,
///     ..PerMessageDeflate::default()
/// }));
/// assert_eq!(config.permessage_deflate.unwrap().level, Level::Fast);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerMessageDeflate {
    /// What a server accepts (windows, context takeover).
    pub server: ServerPolicy,
    /// What a client offers.
    pub client: ClientPolicy,
    /// How hard the compressor works. Default [`Level::Fast`]: on short
    /// messages about as small as [`Level::Default`]'s output (within a few
    /// percent on chat), on long text about four times its speed for output
    /// some 15% larger. A server pays for every message it compresses.
    pub level: Level,
    /// Data messages shorter than this many bytes are sent uncompressed
    /// (section 6: compression is per message). Default 16: below that the
    /// frame header is most of the frame and DEFLATE's block header leaves
    /// little to gain.
    pub min_size: usize,
}

impl PerMessageDeflate {
    /// The defaults, usable in `const` contexts.
    pub const DEFAULT: PerMessageDeflate = PerMessageDeflate {
        server: ServerPolicy::DEFAULT,
        client: ClientPolicy::DEFAULT,
        level: Level::Fast,
        min_size: 16,
    };
}

impl Default for PerMessageDeflate {
    fn default() -> Self {
        PerMessageDeflate::DEFAULT
    }
}

/// The window and context rule of one direction of a connection.
fn direction(params: &DeflateParams, from_server: bool) -> (u8, bool) {
    if from_server {
        (
            params.server_max_window_bits,
            params.server_no_context_takeover,
        )
    } else {
        (
            params.client_max_window_bits,
            params.client_no_context_takeover,
        )
    }
}

/// The sending half of permessage-deflate on one connection.
#[derive(Debug)]
pub struct MessageCompressor {
    deflater: Deflater,
    /// Reset after every message (section 7.1.1).
    no_context_takeover: bool,
    min_size: usize,
}

impl MessageCompressor {
    /// The compressor `role` uses under the agreed `params`: a server
    /// compresses with `server_max_window_bits` and drops its context after
    /// each message if `server_no_context_takeover` was agreed; a client
    /// follows the `client_` parameters. Allocates nothing.
    pub fn new(role: Role, params: &DeflateParams, level: Level, min_size: usize) -> Self {
        let (bits, no_context_takeover) = direction(params, role == Role::Server);
        MessageCompressor {
            deflater: Deflater::new(level, bits),
            no_context_takeover,
            min_size,
        }
    }

    /// Whether every message starts from an empty window.
    pub fn resets_each_message(&self) -> bool {
        self.no_context_takeover
    }

    /// Compresses one data message's `payload` for a frame with RSV1 set,
    /// appending it to `out` (tail removed), and returns `true`; or returns
    /// `false` and leaves `out` alone when the message is to go
    /// uncompressed, because it is shorter than `min_size`, or because
    /// without context takeover it would not shrink. (With context takeover
    /// the compressor's window has taken the message in, so the compressed
    /// form is always sent: the peer's window must see the same bytes.)
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> bool {
        if payload.len() < self.min_size {
            return false;
        }
        let start = out.len();
        self.deflater.compress_message(payload, out);
        if self.no_context_takeover {
            // Nothing of this message may be referred to again: free it all.
            self.deflater.release();
            if out.len() - start >= payload.len() {
                out.truncate(start);
                return false;
            }
        }
        true
    }

    /// Heap bytes held between messages.
    pub fn heap_bytes(&self) -> usize {
        self.deflater.state_bytes()
    }
}

/// Why an inflating receiver stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateFailure {
    /// The payload is not valid DEFLATE, or reaches beyond the agreed window.
    Invalid(InflateError),
    /// The message inflates past the limit it was given.
    TooLarge,
}

/// The receiving half of permessage-deflate on one connection.
#[derive(Debug)]
pub struct MessageDecompressor {
    inflater: Inflater,
    /// The peer resets after each message, so we may too (section 7.1.1).
    no_context_takeover: bool,
}

impl MessageDecompressor {
    /// The decompressor `role` uses under `params`: a server inflates what
    /// the client compressed, with `client_max_window_bits`, and a client
    /// what the server compressed. Allocates nothing.
    pub fn new(role: Role, params: &DeflateParams) -> Self {
        let (window_bits, no_context_takeover) = direction(params, role == Role::Client);
        MessageDecompressor {
            inflater: Inflater::new(window_bits),
            no_context_takeover,
        }
    }

    /// Inflates the next piece of a compressed message's payload (already
    /// unmasked), appending to `out`, which may grow to at most `max_out`
    /// bytes.
    ///
    /// # Errors
    /// [`InflateFailure::TooLarge`] when the message would pass `max_out`;
    /// [`InflateFailure::Invalid`] for data that is not DEFLATE.
    pub fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<(), InflateFailure> {
        while !input.is_empty() {
            match self.inflater.inflate(input, out, max_out) {
                Ok(progress) => {
                    input = &input[progress.consumed..];
                    if self.inflater.is_stream_end() {
                        // A message may end its stream with a final block
                        // (section 7.2.3.4); what follows starts a new one.
                        self.inflater.start_next_stream();
                    } else if progress.consumed == 0 {
                        break;
                    }
                }
                Err(InflateError::OutputLimit { .. }) => return Err(InflateFailure::TooLarge),
                Err(e) => return Err(InflateFailure::Invalid(e)),
            }
        }
        Ok(())
    }

    /// Ends the message: inflates the tail that the sender removed (section
    /// 7.2.2), then forgets the message if context is not kept.
    ///
    /// # Errors
    /// As [`Self::inflate`].
    pub fn finish(&mut self, out: &mut Vec<u8>, max_out: usize) -> Result<(), InflateFailure> {
        let result = self.inflate(&TAIL, out, max_out);
        if self.no_context_takeover {
            // Free the window and tables: the next message needs neither.
            self.inflater.release();
        }
        result
    }

    /// Heap bytes held now (between messages: the window, if context is
    /// kept).
    pub fn heap_bytes(&self) -> usize {
        self.inflater.heap_bytes()
    }

    /// Forgets the message in progress after a failure (the connection is
    /// over anyway) and frees memory.
    pub fn abandon(&mut self) {
        self.inflater.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(bits: u8, no_takeover: bool) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: no_takeover,
            client_no_context_takeover: no_takeover,
            server_max_window_bits: bits,
            client_max_window_bits: bits,
        }
    }

    #[test]
    fn the_rfc_example_inflates_to_hello() {
        // RFC 7692 section 7.2.3.1.
        let mut d = MessageDecompressor::new(Role::Client, &DeflateParams::default());
        let mut out = Vec::new();
        d.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        d.finish(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
        // Section 7.2.3.2: the same message again, with context takeover, is
        // a back-reference into the first.
        let mut again = Vec::new();
        d.inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut again, 100)
            .unwrap();
        d.finish(&mut again, 100).unwrap();
        assert_eq!(again, b"Hello");
    }

    #[test]
    fn both_roles_agree_in_each_direction_with_and_without_takeover() {
        for bits in [8, 9, 12, 15] {
            for no_takeover in [false, true] {
                let p = params(bits, no_takeover);
                for sender in [Role::Server, Role::Client] {
                    let receiver = match sender {
                        Role::Server => Role::Client,
                        Role::Client => Role::Server,
                    };
                    let mut c = MessageCompressor::new(sender, &p, Level::Default, 0);
                    let mut d = MessageDecompressor::new(receiver, &p);
                    for i in 0..20 {
                        let text =
                            format!("{{\"from\":\"ada\",\"n\":{i},\"text\":\"hello hello\"}}");
                        let mut wire = Vec::new();
                        let compressed = c.compress(text.as_bytes(), &mut wire);
                        if !compressed {
                            assert!(no_takeover, "with takeover everything is compressed");
                            continue;
                        }
                        let mut out = Vec::new();
                        // Feed it a byte at a time: frames may cut it anywhere.
                        for b in wire.chunks(1) {
                            d.inflate(b, &mut out, 1 << 20).unwrap();
                        }
                        d.finish(&mut out, 1 << 20).unwrap();
                        assert_eq!(out, text.as_bytes(), "bits {bits} {sender:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn small_messages_and_those_that_do_not_shrink_go_uncompressed() {
        let mut c = MessageCompressor::new(Role::Server, &params(15, false), Level::Default, 16);
        let mut out = Vec::new();
        assert!(!c.compress(b"short", &mut out));
        assert!(out.is_empty());
        // Without takeover, incompressible bytes are sent as they are.
        let mut c = MessageCompressor::new(Role::Server, &params(15, true), Level::Default, 0);
        let noise: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert!(!c.compress(&noise, &mut out));
        assert!(out.is_empty());
        assert!(c.compress(&[b'a'; 64], &mut out));
        assert!(out.len() < 64);
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let mut c = MessageCompressor::new(Role::Client, &params(15, false), Level::Fast, 0);
        let mut wire = Vec::new();
        assert!(c.compress(&vec![0u8; 1 << 20], &mut wire));
        assert!(wire.len() < (1 << 20) / 100, "{} bytes", wire.len());
        let mut d = MessageDecompressor::new(Role::Server, &params(15, false));
        let mut out = Vec::new();
        assert_eq!(
            d.inflate(&wire, &mut out, 4096),
            Err(InflateFailure::TooLarge)
        );
        assert!(out.capacity() <= 4096, "allocated {}", out.capacity());
    }

    #[test]
    fn garbage_is_invalid() {
        let mut d = MessageDecompressor::new(Role::Server, &params(15, false));
        let mut out = Vec::new();
        // BTYPE 11 is reserved (RFC 1951 section 3.2.3).
        assert!(matches!(
            d.inflate(&[0xff], &mut out, 100),
            Err(InflateFailure::Invalid(_))
        ));
    }

    /// The memory bound of the issue: at the server's defaults, a connection
    /// that negotiated permessage-deflate holds nothing more before its first
    /// compressed message, and at most 16 KiB more after traffic both ways.
    #[test]
    fn at_the_server_defaults_a_connection_keeps_at_most_16_kib() {
        use crate::deflate::{accept_offer, ServerPolicy};
        let chat = |i: usize| {
            format!("{{\"type\":\"message\",\"from\":\"user{}\",\"room\":\"lobby\",\"text\":\"hello number {i}, how is it going over there\"}}", i % 7)
        };
        // Chromium's offer, and Firefox's bare one.
        for (offer, inflater_keeps) in [
            ("permessage-deflate; client_max_window_bits", 1 << 11),
            ("permessage-deflate", 0),
        ] {
            let (params, _) = accept_offer([offer], &ServerPolicy::default()).unwrap();
            let settings = PerMessageDeflate::default();
            let mut ours =
                MessageCompressor::new(Role::Server, &params, settings.level, settings.min_size);
            let mut theirs = MessageCompressor::new(Role::Client, &params, Level::Default, 0);
            let mut inflate = MessageDecompressor::new(Role::Server, &params);
            assert_eq!(ours.heap_bytes() + inflate.heap_bytes(), 0, "{offer}");
            for i in 0..500 {
                let mut wire = Vec::new();
                assert!(ours.compress(chat(i).as_bytes(), &mut wire));
                let mut wire = Vec::new();
                assert!(theirs.compress(chat(i + 1).as_bytes(), &mut wire));
                let mut out = Vec::new();
                inflate.inflate(&wire, &mut out, 1 << 20).unwrap();
                inflate.finish(&mut out, 1 << 20).unwrap();
                assert_eq!(out, chat(i + 1).as_bytes());
            }
            let kept = ours.heap_bytes() + inflate.heap_bytes();
            assert_eq!(inflate.heap_bytes(), inflater_keeps, "{offer}");
            assert_eq!(ours.heap_bytes(), Deflater::state_bytes_for(11), "{offer}");
            assert!(kept <= 16 << 10, "{offer}: {kept} bytes");
        }
    }
}
