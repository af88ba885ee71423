//! DEFLATE (RFC 1951) decompression and compression, for permessage-deflate
//! (RFC 7692).
//!
//! DEFLATE (RFC 1951) is LZ77 plus Huffman coding: the data becomes a
//! sequence of literal bytes and `<length, distance>` back-references
//! ("repeat the `length` bytes found `distance` bytes back", section 3.2.5),
//! and those symbols are written with prefix codes, either fixed ones
//! (section 3.2.6) or codes the block describes in its header (section
//! 3.2.7). A stream is a sequence of blocks; stored blocks (section 3.2.4)
//! carry bytes as they are.
//!
//! permessage-deflate compresses each message's payload as a *raw* DEFLATE
//! stream (no zlib or gzip wrapper). The sender ends a message with a sync
//! flush, which emits an empty stored block, `00 00 ff ff`, and removes those
//! four bytes from the payload; "the receiver appends 0x00 0x00 0xff 0xff to
//! the tail end of the payload of the message" before inflating (RFC 7692
//! section 7.2.2). So a message usually ends *between* blocks, not with a
//! final block: [`Inflater::inflate`] stops at the end of the input with
//! [`Status::NeedInput`], and the next message's bytes continue the same
//! stream. With context takeover (the default) the next message may refer to
//! the previous ones' bytes, up to `2^window_bits` back, so the [`Inflater`]
//! keeps its window between messages; without it, call [`Inflater::reset`]
//! after each message.
//!
//! | file | RFC 1951 | what it does |
//! |---|---|---|
//! | `bits.rs` | 3.1.1 | least-significant-bit-first bit reading over input in pieces |
//! | `huffman.rs` | 3.2.2, 3.2.5, 3.2.6 | canonical codes from lengths, decoding tables |
//! | `inflate.rs` | 3.2.3-3.2.7 | the streaming block decoder, window, limits |
//! | `bit_writer.rs` | 3.1.1 | least-significant-bit-first bit writing |
//! | `huffman_build.rs` | 3.2.2, 3.2.7 | length-limited code lengths from counts, canonical codes |
//! | `block.rs` | 3.2.3-3.2.7 | tokens of a block; dynamic, fixed or stored, whichever is smallest |
//! | `compress.rs` | 4, 3.2.5 | [`Deflater`]: LZ77 over hash chains, levels, messages |
//! | `negotiate.rs` | RFC 7692 5, 7.1 | the `Sec-WebSocket-Extensions` offer and answer |
//! | `permessage.rs` | RFC 7692 6, 7.2 | a message's payload compressed and inflated, per direction |
//!
//! The negotiation is sans-IO too: a server answers the client's offers
//! with [`accept_offer`] under a [`ServerPolicy`], a client offers
//! [`client_offer`] and checks the answer with [`accept_response`]; both
//! agree on the same [`DeflateParams`] (window sizes, context takeover).
//!
//! ## Memory
//!
//! A new [`Inflater`] is 96 bytes and holds no heap memory, so an idle
//! connection that negotiated compression costs nothing more. Its first
//! call with input allocates the decoding tables (6 800 bytes: the
//! literal/length and distance tables and the dynamic header's scratch), and
//! its first call that produces output allocates the window, exactly
//! `2^window_bits` bytes. Both are kept until the `Inflater` is dropped
//! ([`Inflater::reset`] forgets the window's contents, not its memory). On a
//! 64-bit target:
//!
//! | `window_bits` | window | tables | `Inflater` | total bytes |
//! |---|---|---|---|---|
//! | 8 | 256 | 6 800 | 96 | 7 152 |
//! | 9 | 512 | 6 800 | 96 | 7 408 |
//! | 10 | 1 024 | 6 800 | 96 | 7 920 |
//! | 11 | 2 048 | 6 800 | 96 | 8 944 |
//! | 12 | 4 096 | 6 800 | 96 | 10 992 |
//! | 13 | 8 192 | 6 800 | 96 | 15 088 |
//! | 14 | 16 384 | 6 800 | 96 | 23 280 |
//! | 15 | 32 768 | 6 800 | 96 | 39 664 |
//!
//! ## Compression
//!
//! [`Deflater::compress_message`] compresses one whole message: LZ77 over
//! 3-byte hash chains ([`Level::Fast`] greedy, [`Level::Default`] and
//! [`Level::Best`] lazy), blocks sent as dynamic, fixed or stored codes,
//! whichever is smallest, and a sync flush whose `00 00 ff ff` is removed
//! (RFC 7692 section 7.2.1). With `window_bits` = `w` it never emits a
//! distance above `2^w - 1`, so an [`Inflater`] (or zlib) with the same
//! window accepts its output, for `w = 8` too. The window carries over to
//! the next message until [`Deflater::reset`]. A new [`Deflater`] holds no
//! heap memory; its first non-empty message allocates the same at every
//! level ([`Deflater::state_bytes_for`]): the buffer (window plus the input
//! taken in ahead of the slide), the hash heads (`2^min(w, 13)` 16-bit
//! entries), the chains (`2^w` 16-bit entries), 3 584 tokens of 3 bytes, and
//! the 1 488-byte state itself (64-bit target). zlib's compressor at
//! memLevel 8 takes about 256 KiB at `w = 15`; this is just under 128 KiB.
//!
//! | `window_bits` | buffer | heads | chains | tokens | total bytes |
//! |---|---|---|---|---|---|
//! | 8 | 1 280 | 512 | 512 | 10 752 | 14 544 |
//! | 9 | 1 536 | 1 024 | 1 024 | 10 752 | 15 824 |
//! | 10 | 2 048 | 2 048 | 2 048 | 10 752 | 18 384 |
//! | 11 | 3 072 | 4 096 | 4 096 | 10 752 | 23 504 |
//! | 12 | 5 120 | 8 192 | 8 192 | 10 752 | 33 744 |
//! | 13 | 9 216 | 16 384 | 16 384 | 10 752 | 54 224 |
//! | 14 | 18 432 | 16 384 | 32 768 | 10 752 | 79 824 |
//! | 15 | 36 864 | 16 384 | 65 536 | 10 752 | 131 024 |

mod bit_writer;
mod bits;
mod block;
mod compress;
mod huffman;
mod huffman_build;
mod inflate;
mod negotiate;
mod permessage;
#[cfg(test)]
mod vectors;

pub use compress::{Deflater, Level};
pub use huffman::Alphabet;
pub use inflate::{InflateError, Inflater, Progress, Status};
pub use negotiate::{
    accept_offer, accept_response, client_offer, extensions, ClientPolicy, ClientWindow,
    DeflateParams, Extension, Extensions, NegotiationError, Offer, Param, Params, ServerPolicy,
    SyntaxError, Value, EXTENSION_NAME, MAX_WINDOW_BITS, MIN_WINDOW_BITS,
};
pub use permessage::{
    InflateFailure, MessageCompressor, MessageDecompressor, PerMessageDeflate, TAIL,
};
