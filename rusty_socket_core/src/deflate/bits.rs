//! Reading bits least-significant first (RFC 1951 section 3.1.1).
//!
//! "Data elements are packed into bytes in order of increasing bit number
//! within the byte, i.e., starting with the least-significant bit of the
//! byte." So the stream is one long little-endian number: byte `k` supplies
//! bits `8k..8k+8`. [`Bits`] holds the next bits of that number in a `u64`,
//! the oldest in its low bits; reading `n` bits is a mask and a shift.
//!
//! Two kinds of element live in that number. Header fields and extra bits
//! are plain numbers, least-significant bit first, so the mask gives them
//! directly. "Huffman codes are packed starting with the most-significant
//! bit of the code", so a code shows up bit-reversed; the decoding tables in
//! `huffman.rs` are indexed by the reversed code, which is exactly what the
//! mask gives, and no bit is ever reversed while decoding.
//!
//! Input arrives in pieces, and a piece may end anywhere, even inside a
//! code. The bits already taken from earlier pieces stay in [`Bits`], which
//! is part of the inflater's state; nothing is taken back from the caller.
//! Whole bytes are taken one at a time ([`Bits::push_byte`]) where input is
//! short, or seven at a time ([`Bits::refill`]) in the fast loop.

/// Bits taken from the input and not yet used: `count` of them, in the low
/// bits of `buf` (the bits above `count` are always zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bits {
    /// The bits, the oldest in bit 0.
    pub(crate) buf: u64,
    /// How many bits of `buf` are valid (at most 63).
    pub(crate) count: u32,
}

/// The eight bytes at `input[pos..]` as a little-endian word, if eight are
/// there: the refills' one load.
#[inline(always)]
fn word_at(input: &[u8], pos: usize) -> Option<u64> {
    let word = input.get(pos..).and_then(|rest| rest.first_chunk::<8>())?;
    Some(u64::from_le_bytes(*word))
}

/// A mask of the `n` low bits (`n` may be 0..=64).
#[inline(always)]
pub(crate) fn low_bits(n: u32) -> u64 {
    match 1u64.checked_shl(n) {
        Some(bit) => bit - 1,
        None => u64::MAX,
    }
}

impl Bits {
    /// Appends one input byte above the bits held. The caller only does this
    /// while it holds fewer bits than it needs, and it never needs more than
    /// 48, so `count` stays at most 55 and nothing is shifted out.
    #[inline(always)]
    pub(crate) fn push_byte(&mut self, byte: u8) {
        debug_assert!(self.count <= 56);
        self.buf |= u64::from(byte) << self.count;
        self.count += 8;
    }

    /// [`Bits::refill`] without masking the loaded word, for the
    /// inflater's fast loop (`count` below 56 on entry). The bits above
    /// `count` are then not zero but the input that follows, in place, so
    /// the next load ORs the same values over them again, and every use
    /// masks the bits it reads. Since [`Bits::push_byte`] needs them zero,
    /// [`Bits::clear_above`] must come before the buffer goes back to the
    /// careful path.
    #[inline(always)]
    pub(crate) fn refill_unmasked(&mut self, input: &[u8], pos: &mut usize) -> bool {
        let Some(word) = word_at(input, *pos) else {
            return false;
        };
        debug_assert!(self.count < 56);
        self.buf |= word << self.count;
        // Up to 63 bits: 56 plus what was held of a partial byte.
        *pos += 7 - (self.count as usize >> 3);
        self.count |= 56;
        true
    }

    /// Clears the bits above `count` (after [`Bits::refill_unmasked`]).
    #[inline(always)]
    pub(crate) fn clear_above(&mut self) {
        self.buf &= low_bits(self.count);
    }

    /// Takes whole bytes from `input[*pos..]` until at least 56 bits are
    /// held: the fast loop's refill, one unaligned little-endian load for up
    /// to seven bytes. Returns `false` (and takes nothing) when fewer than
    /// eight bytes are left, so that the load is always in bounds; the slow
    /// path then takes the last bytes one at a time.
    #[inline(always)]
    pub(crate) fn refill(&mut self, input: &[u8], pos: &mut usize) -> bool {
        let Some(word) = word_at(input, *pos) else {
            return false;
        };
        // With `count` bits held, (63 - count) / 8 whole bytes fit (at most
        // 7, at least 1 as count <= 63): only those are taken, so the bits
        // above `count` stay zero.
        let take = (63 - self.count) / 8;
        self.buf |= (word & low_bits(take * 8)) << self.count;
        self.count += take * 8;
        *pos += take as usize;
        true
    }

    /// The next `n` bits (`n` at most 32) as a number, without using them.
    #[inline(always)]
    pub(crate) fn peek(&self, n: u32) -> u32 {
        (self.buf & low_bits(n)) as u32
    }

    /// Uses `n` bits (the caller has checked `n <= count`).
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.count);
        self.buf = self.buf.checked_shr(n).unwrap_or(0);
        self.count -= n;
    }

    /// Skips to the next byte boundary (section 3.2.4: a stored block's
    /// `LEN` starts on a byte boundary). Bits are only ever taken a whole
    /// byte at a time, so the bits left of the current byte are `count % 8`.
    pub(crate) fn align(&mut self) {
        self.consume(self.count % 8);
    }

    /// Puts whole unused bytes back into the input, as far back as `*pos`
    /// allows (bytes taken by an earlier call cannot be returned). After
    /// this, fewer than 8 bits are held unless the bytes came from an
    /// earlier call.
    pub(crate) fn give_back(&mut self, pos: &mut usize) {
        let bytes = (self.count / 8).min(u32::try_from(*pos).unwrap_or(u32::MAX));
        self.count -= bytes * 8;
        self.buf &= low_bits(self.count);
        *pos -= bytes as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_come_least_significant_first() {
        let mut bits = Bits::default();
        bits.push_byte(0b1010_0110);
        assert_eq!(bits.peek(1), 0);
        bits.consume(1);
        assert_eq!(bits.peek(2), 0b11);
        bits.consume(2);
        assert_eq!(bits.peek(5), 0b10100);
        bits.consume(5);
        assert_eq!(bits.count, 0);
    }

    #[test]
    fn second_byte_lands_above_the_first() {
        let mut bits = Bits::default();
        bits.push_byte(0xff);
        bits.consume(3);
        bits.push_byte(0x01);
        assert_eq!(bits.count, 13);
        assert_eq!(bits.peek(13), 0b11_1111);
        bits.consume(5);
        assert_eq!(bits.peek(8), 0x01);
    }

    #[test]
    fn refill_takes_whole_bytes_and_keeps_high_bits_clear() {
        let input = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let mut pos = 0;
        let mut bits = Bits::default();
        bits.push_byte(0xaa);
        bits.consume(3);
        assert!(bits.refill(&input, &mut pos));
        assert_eq!(pos, 7);
        assert_eq!(bits.count, 61);
        assert_eq!(bits.buf >> 5, 0x07_06_05_04_03_02_01);
        assert_eq!(bits.peek(5), 0xaa >> 3);
        bits.consume(61);
        assert!(!bits.refill(&input, &mut pos), "3 bytes left");
        assert_eq!(pos, 7);
    }

    #[test]
    fn unmasked_refills_read_the_same_stream_as_masked_ones() {
        let input: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8).collect();
        let (mut a, mut b) = (Bits::default(), Bits::default());
        let (mut pa, mut pb) = (0, 0);
        // Consume odd amounts so that every count modulo 8 is met.
        for n in [1, 7, 13, 3, 9, 15, 2, 11, 5, 8, 14, 6, 12, 4, 10]
            .iter()
            .cycle()
            .take(40)
        {
            if a.count < 48 {
                assert!(a.refill(&input, &mut pa));
            }
            if b.count < 48 {
                assert!(b.refill_unmasked(&input, &mut pb));
            }
            assert_eq!((pa, a.count), (pb, b.count));
            assert_eq!(a.peek(15), b.peek(15));
            a.consume(*n);
            b.consume(*n);
        }
        b.clear_above();
        assert_eq!(a, b);
    }

    #[test]
    fn refill_refuses_fewer_than_eight_bytes() {
        let mut pos = 3;
        let mut bits = Bits::default();
        assert!(!bits.refill(&[0; 10], &mut pos));
        assert_eq!((pos, bits.count), (3, 0));
    }

    #[test]
    fn align_drops_the_rest_of_the_byte() {
        let mut bits = Bits::default();
        bits.push_byte(0xff);
        bits.push_byte(0x5a);
        bits.consume(3);
        bits.align();
        assert_eq!((bits.count, bits.peek(8)), (8, 0x5a));
    }

    #[test]
    fn give_back_returns_only_this_calls_bytes() {
        let mut bits = Bits::default();
        for b in [1, 2, 3] {
            bits.push_byte(b);
        }
        bits.consume(4);
        let mut pos = 1;
        bits.give_back(&mut pos);
        assert_eq!((pos, bits.count), (0, 12));
        assert_eq!(bits.buf, 0x201 >> 4);
    }
}
