//! SHA-1, as specified in FIPS 180-4 ("Secure Hash Standard"), section 6.1
//! (with the padding of section 5.1.1, the functions of section 4.1.1 and the
//! constants of section 4.2.1).
//!
//! # Why a WebSocket needs SHA-1
//!
//! The opening handshake proves that the server really understood the
//! WebSocket upgrade request (RFC 6455 sections 1.3 and 4.2.2). The client
//! sends a random `Sec-WebSocket-Key`; the server appends the fixed GUID
//! `258EAFA5-E914-47DA-95CA-C5AB0DC85B11`, hashes the result with SHA-1 and
//! sends back the base64 of the 20-byte digest as `Sec-WebSocket-Accept`:
//!
//! ```text
//! Sec-WebSocket-Accept = base64(SHA-1(Sec-WebSocket-Key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
//! ```
//!
//! SHA-1 is no longer collision resistant, but that does not matter here: the
//! handshake only needs a value that an HTTP server or proxy that does not
//! speak WebSocket would never produce by accident. It is not used for
//! security.
//!
//! # How SHA-1 works, in brief
//!
//! 1. The message is padded (FIPS 180-4 section 5.1.1): a single `1` bit
//!    (the byte `0x80`), then `0` bits until the length is 56 modulo 64
//!    bytes, then the original message length in *bits* as a 64-bit
//!    big-endian integer. The padded message is a whole number of 64-byte
//!    blocks.
//! 2. Five 32-bit words of state start at fixed values (section 5.3.1).
//! 3. Each 64-byte block is mixed into the state by 80 rounds
//!    (section 6.1.2). The block is read as sixteen big-endian words, which
//!    are expanded to eighty by the "message schedule".
//! 4. The digest is the five state words written out big-endian.
//!
//! [`Sha1`] hashes data that arrives in pieces; [`sha1`] hashes one slice.

/// Size in bytes of one SHA-1 input block (512 bits).
const BLOCK_LEN: usize = 64;

/// Where the 64-bit message length goes in the final block: the last 8 bytes.
const LENGTH_OFFSET: usize = BLOCK_LEN - 8;

/// Initial hash value H(0) (FIPS 180-4 section 5.3.1).
const INITIAL_STATE: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

/// Round constants K (FIPS 180-4 section 4.2.1), one for each group of 20
/// rounds. They are the integer parts of 2^30 times the square roots of
/// 2, 3, 5 and 10.
const K: [u32; 4] = [0x5A82_7999, 0x6ED9_EBA1, 0x8F1B_BCDC, 0xCA62_C1D6];

/// An incremental SHA-1 hasher.
///
/// Feed it data with [`update`](Sha1::update), in pieces of any size, then
/// call [`finalize`](Sha1::finalize) to get the 20-byte digest. The result
/// depends only on the concatenation of all the pieces, never on how the
/// data was split.
///
/// ```
/// # use rusty_socket_core::sha1::{sha1, Sha1};
/// let mut hasher = Sha1::new();
/// hasher.update(b"dGhlIHNhbXBsZSBub25jZQ==");
/// hasher.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
/// let digest = hasher.finalize();
/// assert_eq!(
///     digest,
///     sha1(b"dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Sha1 {
    /// The running hash value: H0..H4.
    state: [u32; 5],
    /// Bytes of an incomplete block, waiting for more input.
    buffer: [u8; BLOCK_LEN],
    /// How many bytes of `buffer` are in use. Always less than `BLOCK_LEN`
    /// between calls.
    buffer_len: usize,
    /// Total number of message bytes seen so far. FIPS 180-4 limits messages
    /// to less than 2^64 bits; longer inputs simply wrap around instead of
    /// panicking.
    total_len: u64,
}

impl Sha1 {
    /// Creates a hasher in the initial state, ready to hash a new message.
    #[must_use]
    pub fn new() -> Self {
        Sha1 {
            state: INITIAL_STATE,
            buffer: [0; BLOCK_LEN],
            buffer_len: 0,
            total_len: 0,
        }
    }

    /// Appends `data` to the message being hashed.
    ///
    /// May be called any number of times with slices of any length,
    /// including empty ones.
    pub fn update(&mut self, data: &[u8]) {
        self.total_len = self.total_len.wrapping_add(data.len() as u64);
        let mut data = data;

        // First top up a partially filled block left over from last time.
        if self.buffer_len > 0 {
            let take = (BLOCK_LEN - self.buffer_len).min(data.len());
            let (head, rest) = data.split_at(take);
            self.buffer[self.buffer_len..self.buffer_len + take].copy_from_slice(head);
            self.buffer_len += take;
            data = rest;
            if self.buffer_len < BLOCK_LEN {
                // Still not a whole block, so `data` is empty: wait for more.
                return;
            }
            compress(&mut self.state, &self.buffer);
            self.buffer_len = 0;
        }

        // Whole blocks are hashed straight from the caller's slice, no copy.
        let mut blocks = data.chunks_exact(BLOCK_LEN);
        for block in &mut blocks {
            compress(&mut self.state, block);
        }

        // Keep what is left (fewer than 64 bytes) for the next call.
        let rest = blocks.remainder();
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffer_len = rest.len();
    }

    /// Pads the message, hashes the final block(s) and returns the 20-byte
    /// digest.
    #[must_use]
    pub fn finalize(mut self) -> [u8; 20] {
        // The length field counts bits, modulo 2^64.
        let bit_len = self.total_len.wrapping_mul(8);

        // Padding, FIPS 180-4 section 5.1.1: one `1` bit right after the
        // message. `buffer_len` is at most 63 here, so this byte fits.
        self.buffer[self.buffer_len] = 0x80;
        let used = self.buffer_len + 1;

        if used > LENGTH_OFFSET {
            // The message left fewer than 9 free bytes in this block, room
            // for the 0x80 but not also for the 8-byte length: zero-fill
            // this block, hash it, and put the length in one more block of
            // zeros.
            self.buffer[used..].fill(0);
            compress(&mut self.state, &self.buffer);
            self.buffer[..LENGTH_OFFSET].fill(0);
        } else {
            self.buffer[used..LENGTH_OFFSET].fill(0);
        }
        self.buffer[LENGTH_OFFSET..].copy_from_slice(&bit_len.to_be_bytes());
        compress(&mut self.state, &self.buffer);

        // The digest is H0 || H1 || H2 || H3 || H4, each big-endian.
        let mut digest = [0u8; 20];
        for (out, word) in digest.chunks_exact_mut(4).zip(self.state) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }
}

impl Default for Sha1 {
    fn default() -> Self {
        Self::new()
    }
}

/// Computes the SHA-1 digest of `data` in one call.
///
/// ```
/// # use rusty_socket_core::sha1::sha1;
/// let digest = sha1(b"abc");
/// assert_eq!(digest[..4], [0xa9, 0x99, 0x3e, 0x36]);
/// ```
#[must_use]
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut hasher = Sha1::new();
    hasher.update(data);
    hasher.finalize()
}

/// Message schedule word W(t) for round `t`, for t >= 16
/// (FIPS 180-4 section 6.1.2, step 1):
///
/// ```text
/// W(t) = ROTL1(W(t-3) xor W(t-8) xor W(t-14) xor W(t-16))
/// ```
///
/// Only the last 16 words are ever needed, so they live in a ring of 16:
/// W(t) is stored at index `t % 16`, overwriting W(t-16), which is used for
/// the last time here. Modulo 16, t-3 is t+13, t-8 is t+8 and t-14 is t+2.
#[inline]
fn schedule(w: &mut [u32; 16], t: usize) -> u32 {
    let next = (w[(t + 13) % 16] ^ w[(t + 8) % 16] ^ w[(t + 2) % 16] ^ w[t % 16]).rotate_left(1);
    w[t % 16] = next;
    next
}

/// Processes one 64-byte block, updating the hash state
/// (FIPS 180-4 section 6.1.2).
///
/// `block` is always exactly [`BLOCK_LEN`] bytes long; it is a slice so that
/// whole blocks can be passed directly from the caller's input.
#[inline]
fn compress(state: &mut [u32; 5], block: &[u8]) {
    debug_assert_eq!(block.len(), BLOCK_LEN);

    // W(0)..W(15): the block read as sixteen big-endian 32-bit words.
    let mut w = [0u32; 16];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }

    let [mut a, mut b, mut c, mut d, mut e] = *state;

    // One round (the same in all 80 apart from `f` and `k`):
    //   T = ROTL5(a) + f(b, c, d) + e + K + W(t)
    //   e = d; d = c; c = ROTL30(b); b = a; a = T
    // All additions are modulo 2^32.
    macro_rules! round {
        ($f:expr, $k:expr, $w:expr) => {{
            let temp = a
                .rotate_left(5)
                .wrapping_add($f)
                .wrapping_add(e)
                .wrapping_add($k)
                .wrapping_add($w);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }};
    }

    // Rounds 0-19: f = Ch(b, c, d), "choose": each bit of b picks the bit
    // from c (if 1) or d (if 0).
    for &word in &w {
        round!((b & c) | (!b & d), K[0], word);
    }
    for t in 16..20 {
        round!((b & c) | (!b & d), K[0], schedule(&mut w, t));
    }
    // Rounds 20-39: f = Parity(b, c, d).
    for t in 20..40 {
        round!(b ^ c ^ d, K[1], schedule(&mut w, t));
    }
    // Rounds 40-59: f = Maj(b, c, d), "majority": each bit is whichever value
    // at least two of b, c, d have.
    for t in 40..60 {
        round!((b & c) | (b & d) | (c & d), K[2], schedule(&mut w, t));
    }
    // Rounds 60-79: f = Parity(b, c, d) again.
    for t in 60..80 {
        round!(b ^ c ^ d, K[3], schedule(&mut w, t));
    }

    // Add this block's result into the running hash value.
    for (h, v) in state.iter_mut().zip([a, b, c, d, e]) {
        *h = h.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lower-case hex of a digest, for comparing with published vectors.
    fn hex(digest: &[u8]) -> String {
        use std::fmt::Write;
        digest.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// A deterministic byte pattern of the given length.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(31).wrapping_add(7) ^ (i >> 3)) as u8)
            .collect()
    }

    /// Hashes `data` by feeding it to the hasher one byte at a time.
    fn sha1_bytewise(data: &[u8]) -> [u8; 20] {
        let mut hasher = Sha1::new();
        for byte in data {
            hasher.update(std::slice::from_ref(byte));
        }
        hasher.finalize()
    }

    // FIPS 180-4 / NIST example vectors.

    #[test]
    fn empty_message() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn abc() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn two_block_message() {
        // 56 bytes: the padding no longer fits, so this takes two blocks.
        let msg = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(msg.len(), 56);
        assert_eq!(hex(&sha1(msg)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    }

    #[test]
    fn one_million_a() {
        let msg = vec![b'a'; 1_000_000];
        let expected = "34aa973cd4c4daa4f61eeb2bdbad27316534016f";
        assert_eq!(hex(&sha1(&msg)), expected);

        // The same message in uneven pieces.
        let mut hasher = Sha1::new();
        for piece in msg.chunks(1000 - 7) {
            hasher.update(piece);
        }
        assert_eq!(hex(&hasher.finalize()), expected);
    }

    #[test]
    fn every_chunk_size_gives_the_same_digest() {
        let data = pattern(300);
        let expected = sha1(&data);
        for chunk_size in 1..=130 {
            let mut hasher = Sha1::new();
            for piece in data.chunks(chunk_size) {
                hasher.update(piece);
            }
            assert_eq!(hasher.finalize(), expected, "chunk size {chunk_size}");
        }
    }

    #[test]
    fn empty_updates_change_nothing() {
        let mut hasher = Sha1::new();
        hasher.update(b"");
        hasher.update(b"a");
        hasher.update(b"");
        hasher.update(b"bc");
        hasher.update(b"");
        assert_eq!(hasher.finalize(), sha1(b"abc"));
    }

    #[test]
    fn padding_edge_lengths() {
        // 55: 0x80 and the length just fit in one block.
        // 56..=63: the length no longer fits, an extra block is needed.
        // 64, 65: exactly one full block, and one byte more.
        for len in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129] {
            let data = pattern(len);
            assert_eq!(sha1(&data), sha1_bytewise(&data), "length {len}");
        }
    }

    #[test]
    fn padding_edge_lengths_known_digests() {
        // Digests of `len` times b'a', computed independently with the
        // coreutils `sha1sum` tool.
        let cases = [
            (55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"),
            (56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"),
            (63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"),
            (64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"),
            (65, "11655326c708d70319be2610e8a57d9a5b959d3b"),
        ];
        for (len, expected) in cases {
            let data = vec![b'a'; len];
            assert_eq!(hex(&sha1(&data)), expected, "length {len}");
            assert_eq!(hex(&sha1_bytewise(&data)), expected, "length {len}");
        }
    }

    #[test]
    fn default_is_new() {
        let mut hasher = Sha1::default();
        hasher.update(b"abc");
        assert_eq!(hasher.finalize(), sha1(b"abc"));
    }

    #[test]
    fn clone_forks_the_state() {
        let mut hasher = Sha1::new();
        hasher.update(b"ab");
        let mut fork = hasher.clone();
        hasher.update(b"c");
        fork.update(b"d");
        assert_eq!(hasher.finalize(), sha1(b"abc"));
        assert_eq!(fork.finalize(), sha1(b"abd"));
    }
}
