//! Writing bits least-significant-bit first (RFC 1951 section 3.1.1).
//!
//! DEFLATE packs its data elements into bytes starting at each byte's
//! least-significant bit: "data elements are packed into bytes in order of
//! increasing bit number within the byte". Numbers other than Huffman codes
//! (extra bits, block headers, `HLIT` and friends) are "packed starting with
//! the least-significant bit of the data element", so a value is simply
//! shifted into the stream above the bits already there. Huffman codes are
//! the exception: they are "packed starting with the most-significant bit of
//! the code", so the encoder stores every code *bit-reversed* (see
//! `huffman_build.rs`) and writes that reversed value like any other number.
//!
//! [`BitWriter`] keeps up to 63 pending bits in a `u64` and moves them to the
//! output four bytes at a time, so writing a symbol is a shift, an `or` and,
//! one time in a few, a 4-byte append.

/// An LSB-first bit sink appending to a caller's `Vec<u8>`.
///
/// Bits stay in the accumulator until 32 of them are ready; call
/// [`BitWriter::align`] (pads with zero bits to a byte boundary, as a stored
/// block header requires, section 3.2.4) and then [`BitWriter::flush`] to
/// push the rest into the `Vec`.
pub(crate) struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Pending bits, the oldest in bit 0.
    acc: u64,
    /// How many bits of `acc` are pending: always below 32 between calls.
    len: u32,
}

impl<'a> BitWriter<'a> {
    /// A writer appending to `out`, starting at a byte boundary.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter {
            out,
            acc: 0,
            len: 0,
        }
    }

    /// Writes the low `n` bits of `bits` (`n <= 32`), least-significant
    /// first. Bits of `bits` above `n` must be zero.
    #[inline(always)]
    pub(crate) fn put(&mut self, bits: u32, n: u32) {
        debug_assert!(n <= 32 && (n == 32 || bits >> n == 0));
        self.acc |= u64::from(bits) << self.len;
        self.len += n;
        if self.len >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.len -= 32;
        }
    }

    /// How many bits were written since the last byte boundary (0..8).
    pub(crate) fn bit_offset(&self) -> u32 {
        self.len % 8
    }

    /// Pads with zero bits up to the next byte boundary (section 3.2.4: a
    /// stored block's data starts on one) and moves whole pending bytes to
    /// the output.
    pub(crate) fn align(&mut self) {
        let pad = (8 - self.len % 8) % 8;
        self.put(0, pad);
        self.flush();
    }

    /// Moves every complete pending byte to the output. Leaves the writer
    /// byte-aligned only if it was (see [`BitWriter::align`]).
    pub(crate) fn flush(&mut self) {
        while self.len >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.len -= 8;
        }
    }

    /// Appends whole bytes; the writer must be byte-aligned and flushed
    /// (after [`BitWriter::align`]).
    pub(crate) fn put_bytes(&mut self, bytes: &[u8]) {
        debug_assert_eq!(self.len, 0);
        self.out.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::BitWriter;

    #[test]
    fn bits_fill_bytes_from_the_least_significant_end() {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        // BFINAL = 1, BTYPE = 01 (fixed), as a block header is written:
        // the byte starts 1, then 1, 0 (BTYPE's low bit first).
        w.put(1, 1);
        w.put(0b01, 2);
        w.put(0b10110, 5);
        w.align();
        assert_eq!(out, [0b1011_0011]);
    }

    #[test]
    fn values_cross_byte_and_word_boundaries() {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        w.put(0x5, 3);
        w.put(0x1234_5678, 32);
        w.put(0x3ff, 10);
        assert_eq!(w.bit_offset(), (3 + 32 + 10) % 8);
        w.align();
        // The same 45 bits, assembled by hand.
        let v: u64 = 0x5 | (0x1234_5678 << 3) | (0x3ff << 35);
        assert_eq!(out, v.to_le_bytes()[..6]);
    }

    #[test]
    fn align_on_a_boundary_adds_nothing_and_bytes_pass_through() {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        w.align();
        w.put(0xab, 8);
        w.align();
        w.put_bytes(&[1, 2, 3]);
        w.put(0, 3);
        w.align();
        assert_eq!(out, [0xab, 1, 2, 3, 0]);
    }

    #[test]
    fn many_random_widths_match_a_bit_at_a_time_reference() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut out = Vec::new();
        let mut reference: Vec<bool> = Vec::new();
        let mut w = BitWriter::new(&mut out);
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 33) as u32;
            let bits = if n == 0 {
                0
            } else {
                (seed >> 8) as u32 & (u32::MAX >> (32 - n))
            };
            w.put(bits, n);
            reference.extend((0..n).map(|i| bits >> i & 1 == 1));
        }
        w.align();
        let mut expected = vec![0u8; reference.len().div_ceil(8)];
        for (i, &b) in reference.iter().enumerate() {
            expected[i / 8] |= u8::from(b) << (i % 8);
        }
        assert_eq!(out, expected);
    }
}
