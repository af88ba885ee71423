//! Base framing: the bits of a frame header (RFC 6455 section 5.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! This module is *syntax* only: it turns bytes into a [`FrameHeader`] and
//! back, and rejects only what cannot be represented (a reserved opcode, a
//! 64-bit length with its top bit set, a length not written in the minimal
//! number of bytes). Which frames a given side may receive (masking
//! direction, RSV bits, control frame limits, fragmentation order, sizes) is
//! decided by [`crate::protocol`].
//!
//! Decoding never blocks and never fails for lack of input: with too few
//! bytes it answers [`Decoded::Partial`], and the caller reads more.

use crate::decoded::Decoded;
use crate::error::ProtocolError;
use crate::mask::mask_into;
use crate::opcode::OpCode;

/// The most bytes a header can take: 2 + 8 (64-bit length) + 4 (masking key).
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// This is the final fragment of a message.
    pub fin: bool,
    /// Reserved bit 1, meaningful only with a negotiated extension.
    pub rsv1: bool,
    /// Reserved bit 2.
    pub rsv2: bool,
    /// Reserved bit 3.
    pub rsv3: bool,
    /// What the payload is.
    pub opcode: OpCode,
    /// The key the payload is masked with; present exactly when the MASK bit
    /// is set (every client-to-server frame).
    pub masking_key: Option<[u8; 4]>,
    /// The length of the payload that follows the header.
    pub payload_len: u64,
}

impl FrameHeader {
    /// A final, unmasked header with no RSV bits.
    pub const fn new(opcode: OpCode, payload_len: u64) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            masking_key: None,
            payload_len,
        }
    }

    /// Decodes a header from the start of `input`.
    ///
    /// ```
    /// use rusty_socket_core::frame::FrameHeader;
    /// use rusty_socket_core::Decoded;
    /// use rusty_socket_core::OpCode;
    /// // RFC 6455 section 5.7: an unmasked "Hello".
    /// let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    /// let Decoded::Complete(header, used) = FrameHeader::decode(&bytes).unwrap() else {
    ///     panic!("a whole header is there");
    /// };
    /// assert_eq!((header.fin, header.opcode, header.payload_len, used), (true, OpCode::Text, 5, 2));
    /// assert_eq!(FrameHeader::decode(&bytes[..1]).unwrap(), Decoded::Partial);
    /// ```
    ///
    /// # Errors
    /// [`ProtocolError::ReservedOpcode`], [`ProtocolError::PayloadLengthOverflow`]
    /// or [`ProtocolError::NonMinimalLength`]. Errors are reported as soon as
    /// the bytes that show them are present.
    pub fn decode(input: &[u8]) -> Result<Decoded<FrameHeader>, ProtocolError> {
        let (first, second) = match input {
            [first, second, ..] => (*first, *second),
            [first] => {
                // The opcode is already visible: fail fast on a reserved one.
                OpCode::from_u8(first & 0x0F).ok_or(ProtocolError::ReservedOpcode(first & 0x0F))?;
                return Ok(Decoded::Partial);
            }
            [] => return Ok(Decoded::Partial),
        };
        let opcode =
            OpCode::from_u8(first & 0x0F).ok_or(ProtocolError::ReservedOpcode(first & 0x0F))?;
        let masked = second & 0x80 != 0;
        let (payload_len, mut used) = match second & 0x7F {
            126 => {
                let Some(bytes) = input.get(2..4) else {
                    return Ok(Decoded::Partial);
                };
                let len = u16::from_be_bytes([bytes[0], bytes[1]]);
                if len < 126 {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (u64::from(len), 4)
            }
            127 => {
                let Some(bytes) = input.get(2..10) else {
                    return Ok(Decoded::Partial);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(ProtocolError::PayloadLengthOverflow);
                }
                if len <= u64::from(u16::MAX) {
                    return Err(ProtocolError::NonMinimalLength);
                }
                (len, 10)
            }
            len => (u64::from(len), 2),
        };
        let masking_key = if masked {
            let Some(bytes) = input.get(used..used + 4) else {
                return Ok(Decoded::Partial);
            };
            used += 4;
            Some([bytes[0], bytes[1], bytes[2], bytes[3]])
        } else {
            None
        };
        let header = FrameHeader {
            fin: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            rsv2: first & 0x20 != 0,
            rsv3: first & 0x10 != 0,
            opcode,
            masking_key,
            payload_len,
        };
        Ok(Decoded::Complete(header, used))
    }

    /// How many bytes [`Self::encode`] writes.
    pub const fn encoded_len(&self) -> usize {
        let len_bytes = if self.payload_len < 126 {
            0
        } else if self.payload_len <= u16::MAX as u64 {
            2
        } else {
            8
        };
        let mask_bytes = if self.masking_key.is_some() { 4 } else { 0 };
        2 + len_bytes + mask_bytes
    }

    /// Writes the header into `out` and returns how many bytes it used,
    /// always with the minimal length encoding.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7)
            | (u8::from(self.rsv1) << 6)
            | (u8::from(self.rsv2) << 5)
            | (u8::from(self.rsv3) << 4)
            | self.opcode.as_u8();
        let mask_bit = if self.masking_key.is_some() { 0x80 } else { 0 };
        let mut used = 2;
        if self.payload_len < 126 {
            out[1] = mask_bit | self.payload_len as u8;
        } else if let Ok(len) = u16::try_from(self.payload_len) {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&len.to_be_bytes());
            used = 4;
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&self.payload_len.to_be_bytes());
            used = 10;
        }
        if let Some(key) = self.masking_key {
            out[used..used + 4].copy_from_slice(&key);
            used += 4;
        }
        used
    }

    /// Appends the encoded header to `out`.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let used = self.encode(&mut bytes);
        out.extend_from_slice(&bytes[..used]);
    }
}

/// Appends one whole frame to `out`: the header, then `payload`, masked with
/// `masking_key` when one is given (a client must give one, section 5.3).
///
/// ```
/// use rusty_socket_core::frame::encode_frame;
/// use rusty_socket_core::OpCode;
/// let mut out = Vec::new();
/// encode_frame(&mut out, true, OpCode::Text, b"Hello", None);
/// assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
/// ```
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    masking_key: Option<[u8; 4]>,
) {
    let header = FrameHeader {
        fin,
        masking_key,
        ..FrameHeader::new(opcode, payload.len() as u64)
    };
    out.reserve(header.encoded_len() + payload.len());
    header.append_to(out);
    mask_into(out, payload, masking_key, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(input: &[u8]) -> (FrameHeader, usize) {
        match FrameHeader::decode(input) {
            Ok(Decoded::Complete(header, used)) => (header, used),
            other => panic!("expected a header from {input:x?}, got {other:?}"),
        }
    }

    /// The examples of RFC 6455 section 5.7.
    #[test]
    fn rfc_section_5_7_examples() {
        // A single-frame unmasked text message.
        let (h, used) = complete(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(
            (h.fin, h.opcode, h.masking_key, h.payload_len, used),
            (true, OpCode::Text, None, 5, 2)
        );
        // A single-frame masked text message.
        let (h, used) = complete(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!(
            (h.masking_key, h.payload_len, used),
            (Some([0x37, 0xfa, 0x21, 0x3d]), 5, 6)
        );
        // A fragmented unmasked text message: "Hel" then "lo".
        let (h, _) = complete(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!((h.fin, h.opcode), (false, OpCode::Text));
        let (h, _) = complete(&[0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!((h.fin, h.opcode), (true, OpCode::Continuation));
        // Unmasked ping and masked pong.
        let (h, _) = complete(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(h.opcode, OpCode::Ping);
        let (h, used) = complete(&[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!((h.opcode, used), (OpCode::Pong, 6));
        // 256 bytes binary in a single unmasked frame.
        let (h, used) = complete(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((h.opcode, h.payload_len, used), (OpCode::Binary, 256, 4));
        // 64 KiB binary in a single unmasked frame.
        let (h, used) = complete(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!((h.payload_len, used), (65536, 10));
    }

    #[test]
    fn length_boundaries_round_trip_with_minimal_encoding() {
        for len in [0u64, 1, 125, 126, 127, 65535, 65536, 1 << 32, (1 << 63) - 1] {
            for key in [None, Some([1, 2, 3, 4])] {
                let header = FrameHeader {
                    masking_key: key,
                    ..FrameHeader::new(OpCode::Binary, len)
                };
                let mut bytes = [0u8; MAX_HEADER_LEN];
                let used = header.encode(&mut bytes);
                assert_eq!(used, header.encoded_len());
                let expected_len_bytes = match len {
                    0..=125 => 0,
                    126..=65535 => 2,
                    _ => 8,
                };
                assert_eq!(
                    used,
                    2 + expected_len_bytes + if key.is_some() { 4 } else { 0 }
                );
                assert_eq!(complete(&bytes[..used]), (header, used), "len {len}");
            }
        }
    }

    #[test]
    fn every_prefix_is_partial_and_never_an_error() {
        let header = FrameHeader {
            masking_key: Some([9, 8, 7, 6]),
            ..FrameHeader::new(OpCode::Text, 70000)
        };
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let used = header.encode(&mut bytes);
        for cut in 0..used {
            assert_eq!(
                FrameHeader::decode(&bytes[..cut]),
                Ok(Decoded::Partial),
                "prefix {cut}"
            );
        }
        assert_eq!(complete(&bytes[..used]).0, header);
    }

    #[test]
    fn bits_are_decoded_where_the_rfc_puts_them() {
        let (h, _) = complete(&[0b0111_0010, 0x00]);
        assert_eq!(
            (h.fin, h.rsv1, h.rsv2, h.rsv3, h.opcode),
            (false, true, true, true, OpCode::Binary)
        );
        let (h, _) = complete(&[0b1100_1001, 0x00]);
        assert_eq!(
            (h.fin, h.rsv1, h.rsv2, h.rsv3, h.opcode),
            (true, true, false, false, OpCode::Ping)
        );
    }

    #[test]
    fn syntax_errors_table() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (&[0x83], ProtocolError::ReservedOpcode(3)),
            (&[0x8B, 0x00], ProtocolError::ReservedOpcode(0xB)),
            (&[0x8F, 0x00], ProtocolError::ReservedOpcode(0xF)),
            (
                &[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0],
                ProtocolError::PayloadLengthOverflow,
            ),
            (
                &[0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                ProtocolError::PayloadLengthOverflow,
            ),
            (&[0x82, 0x7E, 0x00, 0x7D], ProtocolError::NonMinimalLength),
            (
                &[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF],
                ProtocolError::NonMinimalLength,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                FrameHeader::decode(input),
                Err(*expected),
                "input {input:x?}"
            );
        }
    }

    #[test]
    fn encode_frame_masks_the_payload_only() {
        let mut out = Vec::new();
        encode_frame(
            &mut out,
            true,
            OpCode::Text,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn seeded_random_bytes_never_panic() {
        // A small xorshift generator: deterministic, no dependencies.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 16) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Ok(Decoded::Complete(_, used)) = FrameHeader::decode(&bytes) {
                assert!(used <= bytes.len());
            }
        }
    }
}
