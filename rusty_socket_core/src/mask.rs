//! Masking (RFC 6455 section 5.3).
//!
//! Every frame a client sends is *masked*: its payload is XORed with a 32-bit
//! `masking_key` chosen at random for that frame, and the key travels in the
//! frame header. Masking is not encryption (the key is right there); it keeps
//! a hostile page from choosing the bytes that appear on the wire, which could
//! otherwise poison caches of intermediaries that misread WebSocket traffic as
//! HTTP (section 10.3).
//!
//! The transformation is its own inverse: octet `i` of the payload becomes
//! `payload[i] ^ masking_key[i % 4]`, and applying it twice gives the original.
//!
//! [`apply_mask`] is the fast path: it XORs eight bytes at a time with a
//! 64-bit word made of the key repeated twice, in safe code, and the compiler
//! turns the loop into vector instructions (twice as wide on a CPU with
//! AVX2: see the private `avx2` module). [`apply_mask_reference`] is the
//! byte-by-byte definition from the RFC, kept to test the fast path against.
//!
//! A payload rarely stays where it arrived or leaves from where it was made,
//! so masking also comes as a copy: [`mask_into`] appends a payload to an
//! outgoing frame, or a received one to the message being assembled, and
//! [`unmask_into`] does the latter for text, noting on the way whether it is
//! all ASCII, which spares the text a second UTF-8 pass. A text payload that
//! arrived whole is unmasked where it lies by [`unmask_checking_ascii`].

/// XORs `payload` with `masking_key`, where `payload[0]` is octet number
/// `offset` of the frame's payload.
///
/// The offset lets a receiver unmask a payload in pieces as they arrive from
/// the network: pass the number of payload bytes already unmasked.
///
/// ```
/// use rusty_socket_core::mask::apply_mask;
/// // RFC 6455 section 5.7: a masked "Hello" from a client.
/// let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(&payload, b"Hello");
/// ```
pub fn apply_mask(payload: &mut [u8], masking_key: [u8; 4], offset: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        return avx2::apply_mask(payload, masking_key, offset);
    }
    apply_mask_loop(payload, masking_key, offset);
}

/// The loop of [`apply_mask`], compiled for the instructions of its caller
/// (see [`avx2`]).
#[inline(always)]
fn apply_mask_loop(payload: &mut [u8], masking_key: [u8; 4], offset: usize) {
    // Rotate the key so that key[0] applies to payload[0].
    let shift = offset % 4;
    let key = [
        masking_key[shift],
        masking_key[(shift + 1) % 4],
        masking_key[(shift + 2) % 4],
        masking_key[(shift + 3) % 4],
    ];
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let masked = u64::from_ne_bytes(bytes) ^ word;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    // The tail is shorter than eight bytes and starts at a multiple of eight,
    // so the key lines up with it from key[0] again.
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// Appends `payload` to `out`, unmasked with `masking_key` (or as it is when
/// there is no key), where `payload[0]` is octet number `offset` of the
/// frame's payload. Returns whether every appended byte is ASCII (below
/// 0x80).
///
/// This is how a receiver takes a payload out of its read buffer: one copy
/// into the message being assembled, then one pass over the copy, while it
/// is still in the cache, that unmasks each byte and notes whether any has
/// its top bit set. The read buffer itself is left as it arrived.
///
/// The ASCII answer comes free from that pass, and it saves a second one:
/// ASCII text is valid UTF-8 by definition, so a text message found to be
/// all ASCII needs no other validation (see [`crate::message::Assembler`]).
///
/// ```
/// use rusty_socket_core::mask::unmask_into;
/// let mut message = b"He".to_vec();
/// // Octets 2..5 of the masked "Hello" from section 5.7.
/// let ascii = unmask_into(&mut message, &[0x4d, 0x51, 0x58], Some([0x37, 0xfa, 0x21, 0x3d]), 2);
/// assert_eq!(message, b"Hello");
/// assert!(ascii);
/// ```
pub fn unmask_into(
    out: &mut Vec<u8>,
    payload: &[u8],
    masking_key: Option<[u8; 4]>,
    offset: usize,
) -> bool {
    let start = out.len();
    append_in_pieces(out, payload);
    let appended = &mut out[start..];
    match masking_key {
        Some(key) => unmask_checking_ascii(appended, key, offset),
        None => appended.is_ascii(),
    }
}

/// Appends `payload` to `out`, XORed with `masking_key` (or as it is when
/// there is no key), where `payload[0]` is octet number `offset` of the
/// frame's payload. Masking and unmasking are the same XOR, so this is how
/// a sender writes a frame's payload after its header (see
/// [`crate::frame::encode_frame`]), and how a receiver takes out a payload
/// that is not text. For text, [`unmask_into`] also notes whether it is
/// ASCII.
///
/// ```
/// use rusty_socket_core::mask::mask_into;
/// let mut frame = vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d];
/// mask_into(&mut frame, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]), 0);
/// assert_eq!(&frame[6..], &[0x7f, 0x9f, 0x4d, 0x51, 0x58]); // section 5.7
/// ```
pub fn mask_into(out: &mut Vec<u8>, payload: &[u8], masking_key: Option<[u8; 4]>, offset: usize) {
    let start = out.len();
    append_in_pieces(out, payload);
    if let Some(key) = masking_key {
        apply_mask(&mut out[start..], key, offset);
    }
}

/// `out.extend_from_slice(bytes)`, in pieces of 1 KiB.
///
/// glibc's `memcpy` moves a large block with `rep movsb`, which on some
/// CPUs (this project's AMD EPYC test machine among them) runs ten times
/// slower when the destination lies a few bytes after the source modulo
/// 4 KiB: 5 µs instead of 0.45 µs for 16 KiB. A payload's place in the read
/// buffer changes with every frame, so that case comes up again and again.
/// Pieces this small are copied with vector loads and stores, at full
/// speed whatever the addresses.
fn append_in_pieces(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len());
    for piece in bytes.chunks(1024) {
        out.extend_from_slice(piece);
    }
}

/// [`apply_mask`] and [`<[u8]>::is_ascii`] in one pass: unmasks `payload`
/// in place and returns whether every unmasked byte is ASCII. This is how a
/// text payload that arrived whole is unmasked where it lies
/// ([`crate::Receiver::decode_in_place`]); [`unmask_into`] uses it on its
/// copy.
///
/// The key is laid out 32 bytes wide and the top bits are gathered in 32
/// separate lanes, so that each block is one independent XOR and OR per
/// byte: the shape the compiler turns into vector instructions.
///
/// ```
/// use rusty_socket_core::mask::unmask_checking_ascii;
/// let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58]; // section 5.7
/// assert!(unmask_checking_ascii(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0));
/// assert_eq!(&payload, b"Hello");
/// ```
pub fn unmask_checking_ascii(payload: &mut [u8], masking_key: [u8; 4], offset: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        return avx2::unmask_checking_ascii(payload, masking_key, offset);
    }
    unmask_checking_ascii_loop(payload, masking_key, offset)
}

/// The loop of [`unmask_checking_ascii`], compiled for the instructions of
/// its caller (see [`avx2`]).
#[inline(always)]
fn unmask_checking_ascii_loop(payload: &mut [u8], masking_key: [u8; 4], offset: usize) -> bool {
    // The key byte that applies to payload[i] is masking_key[(offset + i) % 4].
    let key: [u8; 32] = std::array::from_fn(|i| masking_key[(offset + i) % 4]);
    let mut seen = [0u8; 32];
    let mut blocks = payload.chunks_exact_mut(32);
    for block in &mut blocks {
        for ((byte, k), lane) in block.iter_mut().zip(&key).zip(&mut seen) {
            *byte ^= k;
            *lane |= *byte;
        }
    }
    // The tail starts at a multiple of 32, so the key lines up from key[0].
    for ((byte, k), lane) in blocks.into_remainder().iter_mut().zip(&key).zip(&mut seen) {
        *byte ^= k;
        *lane |= *byte;
    }
    seen.iter().fold(0, |all, lane| all | lane) < 0x80
}

/// The same loops, compiled a second time for CPUs with AVX2.
///
/// A build for x86-64 may only assume the vector instructions that every
/// x86-64 CPU has, 16 bytes wide, so that is what the compiler makes of the
/// loops above. Nearly every x86-64 CPU in service also has AVX2, 32 bytes
/// wide: compiled for it, the same safe loops run 1.8 times faster on a
/// 16 KiB payload in the level 2 cache (measured on this project's AMD EPYC
/// test machine: 229 ns instead of 406 ns). [`apply_mask`] and
/// [`unmask_checking_ascii`] ask the CPU once at run time
/// (`is_x86_feature_detected!`, which caches the answer) and call these
/// when it has AVX2.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    /// [`super::apply_mask`] for a CPU with AVX2.
    pub(super) fn apply_mask(payload: &mut [u8], masking_key: [u8; 4], offset: usize) {
        // What the proof below says, checked in debug builds.
        debug_assert!(std::arch::is_x86_feature_detected!("avx2"));
        // SAFETY: a function compiled with `target_feature(enable = "avx2")`
        // may only run on a CPU that has AVX2; this one is only called after
        // `is_x86_feature_detected!("avx2")` said the CPU has it. The
        // function itself is safe code (the same loop as the portable path).
        unsafe { apply_mask_avx2(payload, masking_key, offset) }
    }

    /// [`super::unmask_checking_ascii`] for a CPU with AVX2.
    pub(super) fn unmask_checking_ascii(
        payload: &mut [u8],
        masking_key: [u8; 4],
        offset: usize,
    ) -> bool {
        debug_assert!(std::arch::is_x86_feature_detected!("avx2"));
        // SAFETY: as in `apply_mask` above: only called once the CPU was
        // found to have AVX2.
        unsafe { unmask_checking_ascii_avx2(payload, masking_key, offset) }
    }

    #[target_feature(enable = "avx2")]
    fn apply_mask_avx2(payload: &mut [u8], masking_key: [u8; 4], offset: usize) {
        super::apply_mask_loop(payload, masking_key, offset);
    }

    #[target_feature(enable = "avx2")]
    fn unmask_checking_ascii_avx2(payload: &mut [u8], masking_key: [u8; 4], offset: usize) -> bool {
        super::unmask_checking_ascii_loop(payload, masking_key, offset)
    }
}

/// The definition from section 5.3, one octet at a time: the reference that
/// [`apply_mask`] is tested against. Slow; use [`apply_mask`].
pub fn apply_mask_reference(payload: &mut [u8], masking_key: [u8; 4], offset: usize) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= masking_key[(offset + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    #[test]
    fn fast_path_matches_reference_for_every_short_length_and_offset() {
        let key = [0x12, 0x34, 0xab, 0xcd];
        for len in 0..=64 {
            for offset in 0..8 {
                // Also vary where the slice starts in memory: alignment must
                // not matter.
                for start in 0..8 {
                    let mut fast = pattern(len + start);
                    let mut reference = fast.clone();
                    let mut portable = fast.clone();
                    apply_mask(&mut fast[start..], key, offset);
                    apply_mask_loop(&mut portable[start..], key, offset);
                    apply_mask_reference(&mut reference[start..], key, offset);
                    assert_eq!(fast, reference, "len {len} offset {offset} start {start}");
                    assert_eq!(
                        portable, reference,
                        "len {len} offset {offset} start {start}"
                    );
                }
            }
        }
    }

    #[test]
    fn masking_twice_is_identity() {
        let original = pattern(1000);
        let mut data = original.clone();
        apply_mask(&mut data, [1, 2, 3, 4], 0);
        assert_ne!(data, original);
        apply_mask(&mut data, [1, 2, 3, 4], 0);
        assert_eq!(data, original);
    }

    #[test]
    fn unmasking_in_pieces_equals_unmasking_at_once() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let mut whole = pattern(100);
        let mut pieces = whole.clone();
        apply_mask(&mut whole, key, 0);
        let mut done = 0;
        for piece in [1, 2, 3, 5, 8, 13, 21, 47] {
            apply_mask(&mut pieces[done..done + piece], key, done);
            done += piece;
        }
        assert_eq!(done, 100);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn unmask_into_appends_what_apply_mask_gives() {
        let key = [0x12, 0x34, 0xab, 0xcd];
        for len in 0..=40 {
            for offset in 0..5 {
                let masked = pattern(len);
                let mut expected = masked.clone();
                apply_mask_reference(&mut expected, key, offset);
                let mut out = vec![0xee; 3];
                let ascii = unmask_into(&mut out, &masked, Some(key), offset);
                assert_eq!(&out[..3], &[0xee; 3]);
                assert_eq!(&out[3..], &expected[..], "len {len} offset {offset}");
                assert_eq!(ascii, expected.is_ascii(), "len {len} offset {offset}");
                // mask_into appends the same bytes.
                let mut same = Vec::new();
                mask_into(&mut same, &masked, Some(key), offset);
                assert_eq!(same, expected, "len {len} offset {offset}");
                // Without a key the bytes are appended as they are.
                let mut plain = Vec::new();
                let ascii = unmask_into(&mut plain, &masked, None, offset);
                assert_eq!(plain, masked);
                assert_eq!(ascii, masked.is_ascii());
            }
        }
    }

    /// Payloads longer than one 1 KiB copy piece, at lengths around the
    /// piece and block edges, in both directions.
    #[test]
    fn long_payloads_are_copied_and_masked_whole() {
        let key = [0x0f, 0xf0, 0x55, 0xaa];
        for len in [1023, 1024, 1025, 2047, 2048, 5000, 16 * 1024 + 7] {
            for offset in 0..4 {
                let original = pattern(len);
                let mut expected = original.clone();
                apply_mask_reference(&mut expected, key, offset);
                let mut out = b"head".to_vec();
                let ascii = unmask_into(&mut out, &original, Some(key), offset);
                assert_eq!(&out[4..], &expected[..], "len {len} offset {offset}");
                assert_eq!(ascii, expected.is_ascii());
            }
            let mut frame = b"hdr".to_vec();
            mask_into(&mut frame, &pattern(len), Some(key), 0);
            apply_mask_reference(&mut frame[3..], key, 0);
            assert_eq!(&frame[3..], &pattern(len)[..], "len {len}");
        }
    }

    /// The ASCII answer decides whether text is validated again, so it must
    /// see every byte: one byte with its top bit set, at every position of
    /// payloads up to three blocks long, at every key offset.
    #[test]
    fn unmask_into_sees_a_high_bit_anywhere() {
        let key = [0x5a, 0x01, 0x7f, 0x20];
        for len in 1..=100 {
            for offset in 0..4 {
                for high in 0..len {
                    let mut plain = vec![b'a'; len];
                    plain[high] = 0x80 | (high as u8);
                    let mut masked = plain.clone();
                    apply_mask_reference(&mut masked, key, offset);
                    let mut out = Vec::new();
                    assert!(!unmask_into(&mut out, &masked, Some(key), offset));
                    assert_eq!(out, plain);
                    // In place, on whichever path this CPU takes, and on
                    // the portable one.
                    let mut in_place = masked.clone();
                    assert!(!unmask_checking_ascii(&mut in_place, key, offset));
                    assert_eq!(in_place, plain);
                    let mut portable = masked.clone();
                    assert!(!unmask_checking_ascii_loop(&mut portable, key, offset));
                    assert_eq!(portable, plain);
                }
                let mut masked = vec![b'z'; len];
                apply_mask_reference(&mut masked, key, offset);
                assert!(unmask_into(&mut Vec::new(), &masked, Some(key), offset));
                assert!(unmask_checking_ascii(&mut masked.clone(), key, offset));
                assert!(unmask_checking_ascii_loop(&mut masked, key, offset));
            }
        }
    }

    #[test]
    fn rfc_section_5_7_masked_hello() {
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }
}
