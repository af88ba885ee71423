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
//! turns the loop into vector instructions. [`apply_mask_reference`] is the
//! byte-by-byte definition from the RFC, kept to test the fast path against.

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
                    apply_mask(&mut fast[start..], key, offset);
                    apply_mask_reference(&mut reference[start..], key, offset);
                    assert_eq!(fast, reference, "len {len} offset {offset} start {start}");
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
    fn rfc_section_5_7_masked_hello() {
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }
}
