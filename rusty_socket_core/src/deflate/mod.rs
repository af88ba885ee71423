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
//! A permessage-deflate connection is idle between messages most of the
//! time, so both halves free their scratch when a message is done and keep
//! only what context takeover needs. Neither allocates anything until the
//! first message that uses it: a connection that negotiated compression and
//! sent nothing compressed costs only the two structs (96 bytes for an
//! [`Inflater`], 16 for a [`Deflater`], 64-bit target).
//!
//! An [`Inflater`]'s first output allocates the window, exactly
//! `2^window_bits` bytes, kept until [`Inflater::release`] or drop
//! ([`Inflater::reset`] forgets its contents, not its memory). A dynamic
//! block's header allocates the decoding tables (7 184 bytes: the
//! literal/length and distance tables and the header's scratch), freed as
//! soon as a call returns between blocks, which is always the case after a
//! whole permessage-deflate message; a call that stops inside a dynamic
//! block keeps them. Fixed-code blocks use tables built once per process
//! and shared. [`Inflater::heap_bytes`] says what is held now.
//!
//! | `window_bits` | between messages | peak during a message |
//! |---|---|---|
//! | 8 | 256 | 7 440 |
//! | 9 | 512 | 7 696 |
//! | 10 | 1 024 | 8 208 |
//! | 11 | 2 048 | 9 232 |
//! | 12 | 4 096 | 11 280 |
//! | 13 | 8 192 | 15 376 |
//! | 14 | 16 384 | 23 568 |
//! | 15 | 32 768 | 39 952 |
//!
//! A [`Deflater`] holds between messages ([`Deflater::state_bytes`], once
//! `2^window_bits` bytes have passed; [`Deflater::state_bytes_for`]) its
//! 192-byte state, the last `2^window_bits` bytes of history, the hash
//! heads (`2^window_bits` 16-bit entries, but at least 2 048 and at most
//! 8 192), the chains (`2^window_bits` 16-bit entries) and, from 13 bits
//! on, the 3-byte table (1 024 16-bit entries). During a message it also takes
//! scratch sized to the message: the input ahead of the window (the whole
//! message, or a chunk of `2^window_bits / 8` bytes but at least 1 024 if
//! the message is longer) and 3-byte tokens (one per byte of a short
//! message, at most 8 192), freed before [`Deflater::compress_message`]
//! returns; the peak ([`Deflater::peak_bytes_for`]) is for long messages,
//! a message of `n` bytes shorter than the chunk takes `4 n` bytes over
//! the retained figure. (The block's symbol counts, 1.3 KB, are on the
//! stack.) [`Deflater::release`] frees everything. zlib's compressor at
//! memLevel 8 takes about 256 KiB at `w = 15`.
//!
//! | `window_bits` | between messages | peak during a message |
//! |---|---|---|
//! | 8 | 5 056 | 30 656 |
//! | 9 | 5 824 | 31 424 |
//! | 10 | 7 360 | 32 960 |
//! | 11 | 10 432 | 36 032 |
//! | 12 | 20 672 | 46 272 |
//! | 13 | 43 200 | 68 800 |
//! | 14 | 67 776 | 94 400 |
//! | 15 | 116 928 | 145 600 |
//!
//! So at the [`ServerPolicy`] defaults (11 window bits both ways, context
//! takeover) a connection that has passed compressed messages both ways
//! holds 10 432 + 2 048 = 12 480 heap bytes for compression between
//! messages, plus the two structs.
//!
//! ## Compression
//!
//! [`Deflater::compress_message`] compresses one whole message: LZ77 over
//! hash chains (by 3 bytes, by 4 from 13 window bits; [`Level::Fast`] lazy
//! with a few candidates for messages up to 1 KiB and greedy beyond,
//! [`Level::Default`] and [`Level::Best`] lazy), blocks sent as dynamic, fixed or stored codes,
//! whichever is smallest (a quick size estimate rules the dynamic code out
//! without building it when fixed codes clearly win, as they do for most
//! short messages), and a sync flush whose `00 00 ff ff` is removed
//! (RFC 7692 section 7.2.1). With `window_bits` = `w` it never emits a
//! distance above `2^w - 1`, so an [`Inflater`] (or zlib) with the same
//! window accepts its output, for `w = 8` too. The window carries over to
//! the next message until [`Deflater::reset`]; see [Memory](#memory) for
//! what it holds.

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

#[cfg(test)]
mod tests {
    use super::{Deflater, Inflater};

    /// The two tables of the module docs, computed from the code.
    #[test]
    fn memory_tables_in_the_docs_match_the_code() {
        // (window_bits, inflater between, inflater peak, deflater between,
        // deflater peak)
        let table: [(u8, usize, usize, usize, usize); 8] = [
            (8, 256, 7_440, 5_056, 30_656),
            (9, 512, 7_696, 5_824, 31_424),
            (10, 1_024, 8_208, 7_360, 32_960),
            (11, 2_048, 9_232, 10_432, 36_032),
            (12, 4_096, 11_280, 20_672, 46_272),
            (13, 8_192, 15_376, 43_200, 68_800),
            (14, 16_384, 23_568, 67_776, 94_400),
            (15, 32_768, 39_952, 116_928, 145_600),
        ];
        if !cfg!(target_pointer_width = "64") {
            return;
        }
        assert_eq!(std::mem::size_of::<Inflater>(), 96);
        assert_eq!(std::mem::size_of::<Deflater>(), 16);
        for (w, i_between, i_peak, d_between, d_peak) in table {
            assert_eq!(Inflater::retained_bytes_for(w), i_between, "w = {w}");
            assert_eq!(Inflater::peak_bytes_for(w), i_peak, "w = {w}");
            assert_eq!(Deflater::state_bytes_for(w), d_between, "w = {w}");
            assert_eq!(Deflater::peak_bytes_for(w), d_peak, "w = {w}");
        }
        // The defaults' sum in the docs.
        assert_eq!(
            Deflater::state_bytes_for(11) + Inflater::retained_bytes_for(11),
            12_480
        );
    }
}
