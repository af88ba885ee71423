//! Base64, as specified in RFC 4648 section 4: the standard alphabet
//! (`A`-`Z`, `a`-`z`, `0`-`9`, `+`, `/`) with `=` padding.
//!
//! # Why a WebSocket needs base64
//!
//! Two handshake headers carry binary values as base64 text (RFC 6455
//! sections 1.3, 4.1 and 4.2.2):
//!
//! * `Sec-WebSocket-Key`, sent by the client, is 16 random bytes in base64
//!   (always 24 characters). A server checks that it decodes to exactly 16
//!   bytes.
//! * `Sec-WebSocket-Accept`, sent by the server, is the base64 of a SHA-1
//!   digest (see [`crate::sha1`]):
//!
//! ```text
//! Sec-WebSocket-Accept = base64(SHA-1(Sec-WebSocket-Key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
//! ```
//!
//! # How base64 works, in brief
//!
//! Every 3 input bytes (24 bits) become 4 output characters, each standing
//! for 6 bits, most significant first. When the input length is not a
//! multiple of 3, the last group is short (RFC 4648 section 4):
//!
//! * 1 byte left (8 bits): 2 characters, then `==`. The second character
//!   carries 4 bits that must be zero.
//! * 2 bytes left (16 bits): 3 characters, then `=`. The third character
//!   carries 2 bits that must be zero.
//!
//! [`decode`] is strict: it accepts only what [`encode`] produces. RFC 4648
//! section 3.5 allows decoders to reject encodings whose padding bits are not
//! zero, and doing so means every byte string has exactly one accepted
//! encoding.

use std::fmt;

/// The standard base64 alphabet (RFC 4648 section 4, table 1): character
/// `ALPHABET[v]` stands for the 6-bit value `v`.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The padding character.
const PAD: u8 = b'=';

/// Encodes `input` as base64 text with padding.
///
/// ```
/// # use rusty_socket_core::base64::encode;
/// assert_eq!(encode(b"foobar"), "Zm9vYmFy");
/// assert_eq!(encode(b"fo"), "Zm8=");
/// ```
#[must_use]
pub fn encode(input: &[u8]) -> String {
    let mut out = String::new();
    encode_into(input, &mut out);
    out
}

/// Appends the base64 encoding of `input` to `out`. What is already in `out`
/// is kept.
///
/// Useful for building a header line without an extra allocation.
pub fn encode_into(input: &[u8], out: &mut String) {
    // Every started group of 3 bytes becomes 4 characters.
    out.reserve(input.len().div_ceil(3).saturating_mul(4));

    // The 6-bit value at `shift` within the 24-bit group `n`, as a character.
    // The mask keeps the index in 0..64, so the lookup cannot go out of range.
    let char_at = |n: u32, shift: u32| char::from(ALPHABET[((n >> shift) & 0x3F) as usize]);

    let mut groups = input.chunks_exact(3);
    for group in &mut groups {
        let n = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        out.push(char_at(n, 18));
        out.push(char_at(n, 12));
        out.push(char_at(n, 6));
        out.push(char_at(n, 0));
    }

    // The final, short group, padded with zero bits and then `=`.
    match *groups.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.push(char_at(n, 18));
            out.push(char_at(n, 12));
            out.push(char::from(PAD));
            out.push(char::from(PAD));
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.push(char_at(n, 18));
            out.push(char_at(n, 12));
            out.push(char_at(n, 6));
            out.push(char::from(PAD));
        }
        _ => {}
    }
}

/// Why [`decode`] rejected its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The input length is not a multiple of 4. Padded base64 always comes
    /// in whole groups of 4 characters.
    InvalidLength,
    /// A byte that is neither in the base64 alphabet nor `=`.
    InvalidByte {
        /// Position of the offending byte in the input.
        index: usize,
        /// The offending byte.
        byte: u8,
    },
    /// The `=` padding is malformed: it appears anywhere other than as one or
    /// two characters at the very end, or the bits it leaves unused in the
    /// last character are not zero (a non-canonical encoding such as `Zh==`
    /// instead of `Zg==`).
    InvalidPadding,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::InvalidLength => {
                f.write_str("invalid base64: length is not a multiple of 4")
            }
            DecodeError::InvalidByte { index, byte } => {
                write!(
                    f,
                    "invalid base64: byte 0x{byte:02x} at index {index} is not in the alphabet"
                )
            }
            DecodeError::InvalidPadding => f.write_str("invalid base64: malformed padding"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The number of bytes that [`decode`] would produce for `input`, worked out
/// from its length and trailing `=` characters alone.
///
/// Returns `None` when the length is not a multiple of 4. Other errors are
/// not detected: `Some` does not mean that `decode` will succeed.
///
/// ```
/// # use rusty_socket_core::base64::decoded_len;
/// assert_eq!(decoded_len(b"dGhlIHNhbXBsZSBub25jZQ=="), Some(16));
/// assert_eq!(decoded_len(b"Zm8"), None);
/// ```
#[must_use]
pub fn decoded_len(input: &[u8]) -> Option<usize> {
    if input.len() % 4 != 0 {
        return None;
    }
    let padding = match input {
        [.., PAD, PAD] => 2,
        [.., PAD] => 1,
        _ => 0,
    };
    Some(input.len() / 4 * 3 - padding)
}

/// Decodes padded base64 text.
///
/// Strict: the input must be exactly what [`encode`] would produce for some
/// bytes. That means a length that is a multiple of 4, only characters from
/// the standard alphabet, `=` only as one or two final characters, and zero
/// bits where the padding leaves bits unused. Whitespace, line breaks and
/// the URL-safe characters `-` and `_` are all rejected.
///
/// # Errors
///
/// * [`DecodeError::InvalidLength`] if the length is not a multiple of 4.
/// * [`DecodeError::InvalidByte`] for the first byte that is neither in the
///   alphabet nor `=`.
/// * [`DecodeError::InvalidPadding`] if `=` appears anywhere but as the last
///   one or two characters, or if the unused bits before the padding are not
///   zero.
///
/// ```
/// # use rusty_socket_core::base64::{decode, DecodeError};
/// assert_eq!(decode(b"Zm9vYg=="), Ok(b"foob".to_vec()));
/// assert_eq!(decode(b"Zm9vYg="), Err(DecodeError::InvalidLength));
/// ```
pub fn decode(input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let len = decoded_len(input).ok_or(DecodeError::InvalidLength)?;
    let mut out = Vec::with_capacity(len);

    // Only the last group of 4 may contain padding, so it is handled apart.
    let Some(last_start) = input.len().checked_sub(4) else {
        return Ok(out); // Empty input.
    };
    let (body, last) = input.split_at(last_start);

    // Each group of 4 characters is 24 bits: the low three bytes of `n`,
    // which `to_be_bytes()[1..]` picks out.
    for (group_index, group) in body.chunks_exact(4).enumerate() {
        let at = group_index * 4;
        let n = sextet(group[0], at)? << 18
            | sextet(group[1], at + 1)? << 12
            | sextet(group[2], at + 2)? << 6
            | sextet(group[3], at + 3)?;
        out.extend_from_slice(&n.to_be_bytes()[1..]);
    }

    let at = last_start;
    let a = sextet(last[0], at)?;
    let b = sextet(last[1], at + 1)?;
    let (n, byte_count) = match (last[2], last[3]) {
        // "xx==": 12 bits for one byte; the last 4 bits must be zero.
        (PAD, PAD) => {
            if b & 0x0F != 0 {
                return Err(DecodeError::InvalidPadding);
            }
            (a << 18 | b << 12, 1)
        }
        // "xx=y": padding followed by something else.
        (PAD, _) => return Err(DecodeError::InvalidPadding),
        // "xxx=": 18 bits for two bytes; the last 2 bits must be zero.
        (c, PAD) => {
            let c = sextet(c, at + 2)?;
            if c & 0x03 != 0 {
                return Err(DecodeError::InvalidPadding);
            }
            (a << 18 | b << 12 | c << 6, 2)
        }
        // "xxxx": a full group of three bytes.
        (c, d) => {
            let c = sextet(c, at + 2)?;
            let d = sextet(d, at + 3)?;
            (a << 18 | b << 12 | c << 6 | d, 3)
        }
    };
    out.extend_from_slice(&n.to_be_bytes()[1..=byte_count]);

    debug_assert_eq!(out.len(), len);
    Ok(out)
}

/// The 6-bit value of the base64 character `byte`, found at `index` in the
/// input. Reports `=` as misplaced padding, since the caller only asks about
/// positions where padding is not allowed.
fn sextet(byte: u8, index: usize) -> Result<u32, DecodeError> {
    // The inverse of `ALPHABET`.
    let value = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        PAD => return Err(DecodeError::InvalidPadding),
        _ => return Err(DecodeError::InvalidByte { index, byte }),
    };
    Ok(u32::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 section 10 test vectors.
    const RFC4648_VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    /// All 256 byte values, each exactly once, in a scrambled but fixed order
    /// (167 is odd, so multiplying by it modulo 256 is a permutation).
    fn all_bytes() -> Vec<u8> {
        (0..=255u8)
            .map(|i| i.wrapping_mul(167).wrapping_add(13))
            .collect()
    }

    #[test]
    fn rfc4648_encode() {
        for (plain, encoded) in RFC4648_VECTORS {
            assert_eq!(encode(plain.as_bytes()), encoded, "encoding {plain:?}");
        }
    }

    #[test]
    fn rfc4648_decode() {
        for (plain, encoded) in RFC4648_VECTORS {
            assert_eq!(
                decode(encoded.as_bytes()),
                Ok(plain.as_bytes().to_vec()),
                "decoding {encoded:?}"
            );
            assert_eq!(decoded_len(encoded.as_bytes()), Some(plain.len()));
        }
    }

    #[test]
    fn alphabet_in_order() {
        // Bytes 0x00 0x10 0x83 0x10 0x51 0x87 ... encode the values 0, 1, 2,
        // ... 63 in turn, so the output is the whole alphabet.
        let mut bits = Vec::new();
        for v in 0u32..64 {
            bits.extend((0..6).rev().map(|i| (v >> i) & 1));
        }
        let bytes: Vec<u8> = bits
            .chunks_exact(8)
            .map(|b| b.iter().fold(0u8, |acc, &bit| acc << 1 | bit as u8))
            .collect();
        assert_eq!(encode(&bytes).as_bytes(), ALPHABET);
        assert_eq!(decode(ALPHABET), Ok(bytes));
    }

    #[test]
    fn round_trip_all_lengths() {
        let data = all_bytes();
        for len in 0..=64 {
            // Every window of this length, so that every byte value shows up
            // at every position within a 3-byte group.
            for window in data.windows(len.max(1)) {
                let window = &window[..len];
                let encoded = encode(window);
                assert_eq!(encoded.len(), len.div_ceil(3) * 4);
                assert_eq!(decoded_len(encoded.as_bytes()), Some(len));
                assert_eq!(decode(encoded.as_bytes()).as_deref(), Ok(window));
            }
        }
        // And everything at once.
        assert_eq!(decode(encode(&data).as_bytes()), Ok(data));
    }

    #[test]
    fn encode_into_appends() {
        let mut out = String::from("Sec-WebSocket-Key: ");
        encode_into(b"foob", &mut out);
        assert_eq!(out, "Sec-WebSocket-Key: Zm9vYg==");
    }

    #[test]
    fn rejects_bad_length() {
        for input in ["Z", "Zg", "Zg=", "Zm9vY", "Zm9vYg=", "Zm9vYg==="] {
            assert_eq!(
                decode(input.as_bytes()),
                Err(DecodeError::InvalidLength),
                "{input:?}"
            );
            assert_eq!(decoded_len(input.as_bytes()), None);
        }
    }

    #[test]
    fn rejects_bytes_outside_the_alphabet() {
        let cases: [(&[u8], usize, u8); 8] = [
            (b"Zm9v!A==", 4, b'!'),
            (b"Zm9 ", 3, b' '),
            (b"Zm9vYmFy\r\n==", 8, b'\r'),
            (b"Zm-v", 2, b'-'), // URL-safe alphabet
            (b"Zm_v", 2, b'_'), // URL-safe alphabet
            (b"Zm\0v", 2, 0),
            (b"Z\xffg=", 1, 0xFF),
            (b"Zm8\x80", 3, 0x80),
        ];
        for (input, index, byte) in cases {
            assert_eq!(
                decode(input),
                Err(DecodeError::InvalidByte { index, byte }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_padding() {
        for input in [
            "====",     // nothing but padding
            "Z===",     // three padding characters
            "Zg=a",     // padding followed by data
            "Z=g=",     // padding in the middle of the group
            "=Zm9",     // padding first
            "Zg==Zg==", // padding in the middle of the input
            "Zm8=Zm9v", // padding in the middle of the input
            "Zh==",     // non-zero padding bits (canonical: "Zg==")
            "Zm9=",     // non-zero padding bits (canonical: "Zm8=")
            "Zm9vYh==", // same, after a full group
        ] {
            assert_eq!(
                decode(input.as_bytes()),
                Err(DecodeError::InvalidPadding),
                "{input:?}"
            );
        }
    }

    #[test]
    fn accepts_exactly_the_canonical_encodings() {
        // Every 4-character group over a small character set, after a valid
        // full group. Whatever `decode` accepts must re-encode to the very
        // same text, and the number accepted must match a count by hand.
        let chars = b"ABCDQgw/=!";
        let mut accepted = 0;
        for &a in chars {
            for &b in chars {
                for &c in chars {
                    for &d in chars {
                        let input = [b'Z', b'm', b'9', b'v', a, b, c, d];
                        if let Ok(bytes) = decode(&input) {
                            assert_eq!(encode(&bytes).as_bytes(), input);
                            accepted += 1;
                        }
                    }
                }
            }
        }
        // The 8 alphabet characters here have values 0, 1, 2, 3, 16, 32, 48
        // and 63; four of them (A, Q, g, w) have both low 2 and low 4 bits
        // zero, which is all that can come right before padding.
        //   "xxxx": 8^4 = 4096, "xxx=": 8 * 8 * 4 = 256, "xx==": 8 * 4 = 32.
        assert_eq!(accepted, 4096 + 256 + 32);
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            DecodeError::InvalidLength.to_string(),
            "invalid base64: length is not a multiple of 4"
        );
        assert_eq!(
            DecodeError::InvalidByte {
                index: 3,
                byte: b' '
            }
            .to_string(),
            "invalid base64: byte 0x20 at index 3 is not in the alphabet"
        );
        assert_eq!(
            DecodeError::InvalidPadding.to_string(),
            "invalid base64: malformed padding"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(DecodeError::InvalidPadding);
        assert_eq!(boxed.to_string(), "invalid base64: malformed padding");
    }

    /// The worked example of RFC 6455 section 1.3 (also in section 4.2.2):
    /// the key a client sends and the accept value the server must answer.
    #[test]
    fn rfc6455_accept_example() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        assert_eq!(decode(key.as_bytes()).map(|nonce| nonce.len()), Ok(16));

        let mut hasher = crate::sha1::Sha1::new();
        hasher.update(key.as_bytes());
        hasher.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        let digest = hasher.finalize();
        assert_eq!(
            digest,
            crate::sha1::sha1(b"dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
        );
        assert_eq!(encode(&digest), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
