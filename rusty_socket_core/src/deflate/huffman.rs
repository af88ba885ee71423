//! Canonical Huffman codes and their decoding tables (RFC 1951 sections
//! 3.2.2, 3.2.5 and 3.2.6).
//!
//! A DEFLATE block sends only the *length* of each symbol's code; the codes
//! themselves follow from the rule of section 3.2.2: "shorter codes
//! lexicographically precede longer codes", and codes of one length are
//! consecutive numbers in symbol order. So counting how many codes each
//! length has gives the first code of every length, and then every code.
//!
//! Lengths must describe a prefix code. With `count[l]` codes of length
//! `l`, the code space left after length `l` is
//! `left(l) = 2 * left(l - 1) - count[l]`, from `left(0) = 1`. A negative
//! `left` means more codes than the bits can tell apart: the set is
//! *over-subscribed*, and always an error. A positive `left` at the end is an
//! *incomplete* set, some bit patterns meaning nothing. Like zlib, we accept
//! that only where section 3.2.7 allows it: a distance alphabet with no codes
//! ("the data is all literals") or with a single code of length one ("one
//! distance code ... is encoded using one bit, not zero bits").
//!
//! Decoding reads the code bit-reversed (codes are packed from their
//! most-significant bit, section 3.1.1), so the tables are indexed by the
//! reversed code: a code of length `l <= B` fills every entry of the
//! `2^B`-entry table whose low `l` bits are that reversed code. One lookup of
//! the next `B` input bits then gives the symbol and how many bits it used.
//! The literal/length table has `B = 10` and the distance table `B = 8`,
//! or the longest code's length if that is shorter (a short block's table
//! is then a fraction of the size to fill, which matters when every small
//! message brings its own codes); the rare longer codes (their symbols occur less than once in 1 024) take
//! a slower walk through the code lengths, one bit at a time, in the canonical
//! order (`decode_long`).

use super::inflate::InflateError;

/// Which of DEFLATE's three code alphabets a code belongs to (section 3.2.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// The 19-symbol code that compresses the other two codes' lengths.
    CodeLength,
    /// Literal bytes 0-255, end of block 256, and lengths 257-285.
    LiteralLength,
    /// Distance codes 0-29.
    Distance,
}

impl std::fmt::Display for Alphabet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Alphabet::CodeLength => "code length",
            Alphabet::LiteralLength => "literal/length",
            Alphabet::Distance => "distance",
        })
    }
}

// A table entry is a `u32`:
//   bits 0..4    bits of input the entry accounts for (its code length)
//   bits 4..8    extra bits that follow the code (section 3.2.5)
//   bits 8..12   what the symbol is (one of the kinds below)
//   bits 16..32  its value: the literal byte, the base length or distance,
//                the code length symbol, or the invalid symbol's number
/// An entry of a decoding table (see the layout above).
pub(crate) type Entry = u32;

/// A literal byte: the value is the byte.
pub(crate) const LITERAL: u32 = 0;
/// A length code: the value is the base length (3..=258).
pub(crate) const LENGTH: u32 = 1;
/// The end-of-block symbol 256.
pub(crate) const END: u32 = 2;
/// A symbol that has a code but no meaning (literal/length 286 and 287,
/// distance 30 and 31 of the fixed codes), or a bit pattern that is no code
/// (an incomplete distance code).
pub(crate) const INVALID: u32 = 3;
/// The prefix of a code longer than the table: decode with `decode_long`.
const LONG: u32 = 4;
/// A distance code: the value is the base distance (1..=24 577).
pub(crate) const DISTANCE: u32 = 5;
/// A code length code symbol (0..=18): the value is the symbol.
pub(crate) const SYMBOL: u32 = 6;

/// How many input bits the entry's code takes.
#[inline(always)]
pub(crate) fn code_len(e: Entry) -> u32 {
    e & 0xf
}

/// How many extra bits follow the code.
#[inline(always)]
pub(crate) fn extra_bits(e: Entry) -> u32 {
    (e >> 4) & 0xf
}

/// What kind of symbol the entry is.
#[inline(always)]
pub(crate) fn kind(e: Entry) -> u32 {
    (e >> 8) & 0xf
}

/// The entry's value (see the kinds).
#[inline(always)]
pub(crate) fn value(e: Entry) -> u32 {
    e >> 16
}

const fn entry(kind: u32, extra: u32, value: u32) -> Entry {
    kind << 8 | extra << 4 | value << 16
}

/// Section 3.2.5: lengths 3..=258 for symbols 257..=285, a base and a count
/// of extra bits each. Shared by the decoder (here) and the encoder
/// (`block.rs`).
pub(crate) const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
/// Section 3.2.5: the extra bits after each length code 257..=285.
pub(crate) const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Section 3.2.5: distances 1..=32 768 for codes 0..=29.
pub(crate) const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
/// Section 3.2.5: the extra bits after each distance code 0..=29.
pub(crate) const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// What `symbol` of `alphabet` means, as an entry without its length.
const fn meaning(alphabet: Alphabet, symbol: usize) -> Entry {
    let sym = symbol as u32;
    match alphabet {
        Alphabet::CodeLength => entry(SYMBOL, 0, sym),
        Alphabet::LiteralLength => match symbol {
            0..=255 => entry(LITERAL, 0, sym),
            256 => entry(END, 0, 0),
            257..=285 => entry(
                LENGTH,
                LENGTH_EXTRA[symbol - 257] as u32,
                LENGTH_BASE[symbol - 257] as u32,
            ),
            _ => entry(INVALID, 0, sym),
        },
        Alphabet::Distance => match symbol {
            0..=29 => entry(
                DISTANCE,
                DISTANCE_EXTRA[symbol] as u32,
                DISTANCE_BASE[symbol] as u32,
            ),
            _ => entry(INVALID, 0, sym),
        },
    }
}

/// Every symbol's [`meaning`], worked out at compile time: building a
/// table looks them up instead of matching on each symbol.
const fn meanings<const N: usize>(alphabet: Alphabet) -> [Entry; N] {
    let mut table = [0; N];
    let mut symbol = 0;
    while symbol < N {
        table[symbol] = meaning(alphabet, symbol);
        symbol += 1;
    }
    table
}

const CODE_LENGTH_MEANINGS: [Entry; 19] = meanings(Alphabet::CodeLength);
const LITERAL_LENGTH_MEANINGS: [Entry; 288] = meanings(Alphabet::LiteralLength);
const DISTANCE_MEANINGS: [Entry; 32] = meanings(Alphabet::Distance);

/// The longest code DEFLATE allows (section 3.2.7: lengths are 0..=15).
pub(crate) const MAX_CODE_LEN: usize = 15;

/// A decoding table for a code of up to `SYMBOLS` symbols, with a first
/// level of `TABLE` entries (a power of two).
#[derive(Clone, Debug)]
pub(crate) struct Huffman<const TABLE: usize, const SYMBOLS: usize> {
    /// Indexed by the next `log2(TABLE)` input bits.
    table: [Entry; TABLE],
    /// How many codes each length has; `counts[0]` is how many bits index
    /// `table` (the longest code's length, at most `log2(TABLE)`).
    counts: [u16; MAX_CODE_LEN + 1],
    /// The symbols' meanings in canonical order: by code length, then by
    /// symbol. The walk for long codes ends at an index into this.
    sorted: [Entry; SYMBOLS],
}

/// The literal/length table: 288 symbols (section 3.2.6), 10-bit lookups.
pub(crate) type LiteralLengthTable = Huffman<1024, 288>;
/// The distance table: 32 symbols (section 3.2.6), 8-bit lookups.
pub(crate) type DistanceTable = Huffman<256, 32>;

impl<const TABLE: usize, const SYMBOLS: usize> Huffman<TABLE, SYMBOLS> {
    /// How many input bits index the first-level table.
    const BITS: u32 = TABLE.trailing_zeros();

    /// An empty table: every bit pattern is invalid until [`Huffman::build`].
    pub(crate) fn new() -> Self {
        Huffman {
            table: [entry(INVALID, 0, 0) | 1; TABLE],
            counts: [
                Self::BITS as u16,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ],
            sorted: [entry(INVALID, 0, 0); SYMBOLS],
        }
    }

    /// Builds the canonical code of section 3.2.2 from `lengths[symbol]`
    /// (0 = the symbol is not used) and fills the table.
    ///
    /// # Errors
    ///
    /// [`InflateError::OverSubscribed`] if the lengths describe more codes
    /// than fit, [`InflateError::Incomplete`] if they leave bit patterns
    /// unused (except for the distance cases of section 3.2.7 described in
    /// the module docs), [`InflateError::InvalidCodeLengths`] if there are
    /// more lengths than symbols or a length is over 15.
    pub(crate) fn build(&mut self, lengths: &[u8], alphabet: Alphabet) -> Result<(), InflateError> {
        if lengths.len() > SYMBOLS {
            return Err(InflateError::InvalidCodeLengths(alphabet));
        }
        // Step 1 of section 3.2.2: count the codes of each length. Four
        // sets of counters, so that runs of one length (the usual case) do
        // not wait on the same counter in memory at every step.
        if lengths.iter().fold(0, |acc, &len| acc | len) > MAX_CODE_LEN as u8 {
            return Err(InflateError::InvalidCodeLengths(alphabet));
        }
        let mut partial = [[0u16; MAX_CODE_LEN + 1]; 4];
        let mut quads = lengths.chunks_exact(4);
        for quad in &mut quads {
            for (counts, &len) in partial.iter_mut().zip(quad) {
                counts[usize::from(len & 15)] += 1;
            }
        }
        for &len in quads.remainder() {
            partial[0][usize::from(len & 15)] += 1;
        }
        let mut counts = [0u16; MAX_CODE_LEN + 1];
        for (len, count) in counts.iter_mut().enumerate() {
            *count = partial.iter().map(|p| p[len]).sum();
        }
        let symbols = lengths
            .iter()
            .enumerate()
            .filter(|&(_, &len)| len != 0)
            .map(|(symbol, &len)| (symbol, len));
        self.build_counted(counts, symbols, alphabet)
    }

    /// [`Self::build`] from what the caller already knows: `counts[len]`
    /// codes of each length (`counts[0]` is ignored), and the symbols that
    /// have a code, in increasing order, each with its length (1..=15).
    /// The inflater gathers both while it reads a block's code lengths,
    /// so that only the few dozen symbols a short block uses are visited
    /// here, not all of HLIT + HDIST.
    ///
    /// # Errors
    ///
    /// As [`Self::build`]; a symbol beyond the alphabet is
    /// [`InflateError::InvalidCodeLengths`].
    pub(crate) fn build_counted(
        &mut self,
        mut counts: [u16; MAX_CODE_LEN + 1],
        symbols: impl Iterator<Item = (usize, u8)>,
        alphabet: Alphabet,
    ) -> Result<(), InflateError> {
        counts[0] = 0;
        let mut left: i32 = 1;
        for &count in &counts[1..] {
            left = 2 * left - i32::from(count);
            if left < 0 {
                return Err(InflateError::OverSubscribed(alphabet));
            }
        }
        let used: u32 = counts.iter().map(|&c| u32::from(c)).sum();
        if left > 0 {
            let allowed =
                alphabet == Alphabet::Distance && (used == 0 || (used == 1 && counts[1] == 1));
            if !allowed {
                return Err(InflateError::Incomplete(alphabet));
            }
        }
        // Canonical order: offsets[l] is where the codes of length l start.
        let mut offsets = [0usize; MAX_CODE_LEN + 2];
        for len in 1..=MAX_CODE_LEN {
            offsets[len + 1] = offsets[len] + usize::from(counts[len]);
        }
        let meanings: &[Entry] = match alphabet {
            Alphabet::CodeLength => &CODE_LENGTH_MEANINGS,
            Alphabet::LiteralLength => &LITERAL_LENGTH_MEANINGS,
            Alphabet::Distance => &DISTANCE_MEANINGS,
        };
        for (symbol, len) in symbols {
            let Some(&meaning) = meanings.get(symbol) else {
                return Err(InflateError::InvalidCodeLengths(alphabet));
            };
            let slot = &mut offsets[usize::from(len & 15)];
            if let Some(s) = self.sorted.get_mut(*slot) {
                *s = meaning;
            }
            *slot += 1;
        }
        // The first level only needs as many bits as the longest code (at
        // least 1): a short block's small alphabet fills a table of 2^7 or
        // 2^8 entries, not 2^10. The number lives in the unused `counts[0]`.
        let longest = (1..=MAX_CODE_LEN)
            .rev()
            .find(|&l| counts[l] != 0)
            .unwrap_or(1);
        let root = (longest as u32).min(Self::BITS);
        counts[0] = root as u16;
        self.counts = counts;

        // Steps 2 and 3 of section 3.2.2: the codes of each length are
        // consecutive, starting where the previous length's codes ended,
        // doubled. Walking the symbols in canonical order assigns them.
        //
        // The table is filled one length at a time: while the codes of
        // length `len` are placed, only its first `2^len` entries are in
        // use, and each code has exactly one entry there (its reversed
        // code). Then that part is copied once above itself, which gives
        // every shorter code its entries for one more bit. Every entry is
        // written about twice, with no per-code stride loops; an entry not
        // yet written holds a stale value that the codes overwrite, since
        // a complete code leaves no pattern unassigned. Only an incomplete
        // (distance) code needs the table cleared first.
        if left > 0 {
            self.table[..1 << root].fill(entry(INVALID, 0, 0) | 1);
        }
        let mut code: u32 = 0;
        let mut index = 0;
        for len in 1..=MAX_CODE_LEN as u32 {
            let n = usize::from(counts[len as usize]);
            if len <= root {
                for &meaning in self.sorted.get(index..index + n).unwrap_or(&[]) {
                    let reversed = (code.reverse_bits() >> (32 - len)) as usize;
                    if let Some(slot) = self.table.get_mut(reversed) {
                        *slot = meaning | len;
                    }
                    code += 1;
                }
                if len < root {
                    let size = 1usize << len;
                    self.table.copy_within(..size, size);
                }
            } else {
                for _ in 0..n {
                    let prefix = code >> (len - root);
                    let reversed = (prefix.reverse_bits() >> (32 - root)) as usize;
                    if let Some(slot) = self.table.get_mut(reversed) {
                        *slot = entry(LONG, 0, 0) | root;
                    }
                    code += 1;
                }
            }
            index += n;
            code <<= 1;
        }
        Ok(())
    }

    /// Decodes the code at the bottom of `bits` (of which `count` are
    /// valid). `None` means `count` bits are not enough to tell: take more
    /// input and try again. An invalid pattern gives an [`INVALID`] entry.
    #[inline(always)]
    pub(crate) fn decode(&self, bits: u64, count: u32) -> Option<Entry> {
        let e = self.first_level(bits);
        if kind(e) == LONG {
            return self.decode_long(bits, count);
        }
        (code_len(e) <= count).then_some(e)
    }

    /// [`Self::decode`] with at least [`MAX_CODE_LEN`] valid bits, as the
    /// inflater's fast loop always holds: the code is always there, so no
    /// `None` to test for.
    #[inline(always)]
    pub(crate) fn decode_full(&self, bits: u64) -> Entry {
        let e = self.first_level(bits);
        if kind(e) == LONG {
            // With all 15 bits there, the walk always ends in an entry.
            return self
                .decode_long(bits, MAX_CODE_LEN as u32)
                .unwrap_or(entry(INVALID, 0, 0) | 1);
        }
        e
    }

    /// The first-level entry for the next bits: the table indexed by as
    /// many of them as `counts[0]` says.
    #[inline(always)]
    fn first_level(&self, bits: u64) -> Entry {
        let mask = (1usize << self.counts[0]) - 1;
        self.table[(bits as usize) & mask & (TABLE - 1)]
    }

    /// The slow path for codes longer than the table: read the code one bit
    /// at a time, most-significant first. At each length `len`, the codes of
    /// that length are the numbers `first..first + counts[len]`; a code
    /// below `first + counts[len]` is found, otherwise it is longer.
    #[cold]
    fn decode_long(&self, bits: u64, count: u32) -> Option<Entry> {
        let mut code: u32 = 0;
        let mut first: u32 = 0;
        let mut index: u32 = 0;
        for len in 1..=MAX_CODE_LEN as u32 {
            if len > count {
                return None;
            }
            code |= ((bits >> (len - 1)) & 1) as u32;
            let n = u32::from(self.counts[len as usize]);
            let offset = code.wrapping_sub(first);
            if offset < n {
                let e = self.sorted.get((index + offset) as usize).copied();
                return Some(e.unwrap_or(entry(INVALID, 0, 0)) | len);
            }
            index += n;
            first = (first + n) << 1;
            code <<= 1;
        }
        Some(entry(INVALID, 0, 0) | MAX_CODE_LEN as u32)
    }
}

/// The fixed literal/length code lengths of section 3.2.6.
pub(crate) fn fixed_literal_length_lengths() -> [u8; 288] {
    let mut lengths = [8u8; 288];
    lengths[144..256].fill(9);
    lengths[256..280].fill(7);
    lengths
}

/// The fixed distance code: 32 codes of 5 bits (30 and 31 never valid).
pub(crate) const FIXED_DISTANCE_LENGTHS: [u8; 32] = [5; 32];

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs a code MSB-first into the LSB-first order of the stream.
    fn reversed(code: u32, len: u32) -> u64 {
        u64::from(code.reverse_bits() >> (32 - len))
    }

    #[test]
    fn rfc_example_abcdefgh() {
        // Section 3.2.2's example: lengths (3, 3, 3, 3, 3, 2, 4, 4) give
        // F=00, A=010 .. E=110, G=1110, H=1111.
        let mut t = LiteralLengthTable::new();
        t.build(&[3, 3, 3, 3, 3, 2, 4, 4], Alphabet::LiteralLength)
            .unwrap();
        let codes = [
            (0, 0b010, 3),
            (4, 0b110, 3),
            (5, 0b00, 2),
            (6, 0b1110, 4),
            (7, 0b1111, 4),
        ];
        for (symbol, code, len) in codes {
            let e = t.decode(reversed(code, len), 10).unwrap();
            assert_eq!((kind(e), value(e), code_len(e)), (LITERAL, symbol, len));
        }
    }

    #[test]
    fn too_few_bits_asks_for_more() {
        let mut t = LiteralLengthTable::new();
        t.build(&[3, 3, 3, 3, 3, 2, 4, 4], Alphabet::LiteralLength)
            .unwrap();
        assert_eq!(t.decode(reversed(0b1110, 4), 3), None);
        assert!(t.decode(reversed(0b00, 2), 2).is_some());
    }

    #[test]
    fn fixed_codes_match_section_3_2_6() {
        let mut t = LiteralLengthTable::new();
        t.build(&fixed_literal_length_lengths(), Alphabet::LiteralLength)
            .unwrap();
        // 0 = 00110000 (8 bits), 144 = 110010000 (9), 256 = 0000000 (7),
        // 280 = 11000000 (8), 287 = 11000111 (8, invalid).
        let e = t.decode(reversed(0b0011_0000, 8), 64).unwrap();
        assert_eq!((kind(e), value(e), code_len(e)), (LITERAL, 0, 8));
        let e = t.decode(reversed(0b1_1001_0000, 9), 64).unwrap();
        assert_eq!((kind(e), value(e), code_len(e)), (LITERAL, 144, 9));
        let e = t.decode(reversed(0, 7), 64).unwrap();
        assert_eq!((kind(e), code_len(e)), (END, 7));
        let e = t.decode(reversed(0b1100_0000, 8), 64).unwrap();
        assert_eq!((kind(e), value(e), extra_bits(e)), (LENGTH, 115, 4));
        let e = t.decode(reversed(0b1100_0111, 8), 64).unwrap();
        assert_eq!((kind(e), value(e)), (INVALID, 287));
    }

    #[test]
    fn long_codes_take_the_slow_walk() {
        // Symbol i has length i + 1 for i < 14, then two codes of 15 bits:
        // a complete code whose last codes are all ones but one bit.
        let mut lengths = [0u8; 16];
        for (i, l) in lengths.iter_mut().enumerate().take(14) {
            *l = i as u8 + 1;
        }
        lengths[14] = 15;
        lengths[15] = 15;
        let mut t = LiteralLengthTable::new();
        t.build(&lengths, Alphabet::LiteralLength).unwrap();
        for symbol in 0..16u32 {
            let len = (symbol + 1).min(15);
            let code = if symbol < 14 {
                (1 << len) - 2
            } else {
                (1 << 15) - 2 + (symbol - 14)
            };
            let e = t.decode(reversed(code, len), 64).unwrap();
            assert_eq!((value(e), code_len(e)), (symbol, len), "symbol {symbol}");
            assert_eq!(t.decode(reversed(code, len), len - 1), None);
        }
    }

    /// Random complete codes: split a random leaf of the code tree until
    /// there are `n` leaves (no deeper than 15).
    fn random_complete_lengths(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) as usize
        };
        let mut leaves = vec![1u8, 1];
        while leaves.len() < n {
            let i = next() % leaves.len();
            if leaves[i] < 15 {
                leaves[i] += 1;
                leaves.push(leaves[i]);
            }
        }
        // Shuffle which symbol gets which length.
        for i in (1..leaves.len()).rev() {
            leaves.swap(i, next() % (i + 1));
        }
        leaves
    }

    #[test]
    fn every_code_decodes_whatever_the_table_held_before() {
        // One table rebuilt again and again, as a stream's dynamic blocks
        // do: stale entries from the previous code must never show through,
        // whatever the first level's size (the longest code, up to 10).
        let mut t = LiteralLengthTable::new();
        for seed in 0..300u64 {
            let n = 2 + (seed as usize * 7) % 280;
            let lengths = random_complete_lengths(seed, n);
            t.build(&lengths, Alphabet::LiteralLength).unwrap();
            let mut counts = [0u32; 16];
            for &l in &lengths {
                counts[usize::from(l)] += 1;
            }
            let mut next_code = [0u32; 16];
            let mut code = 0;
            for len in 1..16 {
                code = (code + counts[len - 1]) << 1;
                next_code[len] = code;
            }
            for (symbol, &len) in lengths.iter().enumerate() {
                let len = u32::from(len);
                let c = next_code[len as usize];
                next_code[len as usize] += 1;
                let e = t.decode(reversed(c, len), 64).unwrap();
                assert_eq!(
                    (value(e), code_len(e)),
                    (meaning(Alphabet::LiteralLength, symbol) >> 16, len),
                    "seed {seed} symbol {symbol}"
                );
                assert_eq!(t.decode(reversed(c, len), len - 1), None);
            }
        }
    }

    #[test]
    fn over_subscribed_is_an_error() {
        let mut t = DistanceTable::new();
        assert_eq!(
            t.build(&[1, 1, 1], Alphabet::Distance),
            Err(InflateError::OverSubscribed(Alphabet::Distance))
        );
    }

    #[test]
    fn incomplete_is_an_error_but_for_one_distance_code() {
        let mut t = LiteralLengthTable::new();
        assert_eq!(
            t.build(&[2, 2, 2], Alphabet::LiteralLength),
            Err(InflateError::Incomplete(Alphabet::LiteralLength))
        );
        assert_eq!(
            t.build(&[1], Alphabet::CodeLength),
            Err(InflateError::Incomplete(Alphabet::CodeLength))
        );
        let mut d = DistanceTable::new();
        assert_eq!(
            d.build(&[0, 2], Alphabet::Distance),
            Err(InflateError::Incomplete(Alphabet::Distance))
        );
        d.build(&[0, 0, 1], Alphabet::Distance).unwrap();
        let e = d.decode(0b0, 1).unwrap();
        assert_eq!((kind(e), value(e), code_len(e)), (DISTANCE, 3, 1));
        assert_eq!(kind(d.decode(0b1, 1).unwrap()), INVALID);
        d.build(&[0; 30], Alphabet::Distance).unwrap();
        assert_eq!(kind(d.decode(0, 1).unwrap()), INVALID);
    }

    #[test]
    fn lengths_over_15_or_too_many_are_errors() {
        let mut d = DistanceTable::new();
        assert_eq!(
            d.build(&[16, 1], Alphabet::Distance),
            Err(InflateError::InvalidCodeLengths(Alphabet::Distance))
        );
        assert_eq!(
            d.build(&[1; 33], Alphabet::Distance),
            Err(InflateError::InvalidCodeLengths(Alphabet::Distance))
        );
    }
}
