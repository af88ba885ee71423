//! A compressed block: the symbols of one stretch of input, and the choice
//! of how to send them (RFC 1951 sections 3.2.3 to 3.2.7).
//!
//! LZ77 turns the input into *tokens*: literal bytes and `<length,
//! distance>` pairs (section 3.2.5). [`Block`] collects them with their
//! symbol counts until it is full or the message ends, then sends them as
//! whichever block type is smallest (see below for the one shortcut):
//!
//! - **dynamic Huffman codes** (`BTYPE` 10, section 3.2.7): codes fitted to
//!   this block's counts, at the price of a header that describes them (the
//!   code lengths, run-length coded with symbols 16, 17 and 18 and
//!   themselves Huffman coded with the 19-symbol code length code);
//! - **fixed Huffman codes** (`BTYPE` 01, section 3.2.6): no header, so the
//!   best choice for a short block;
//! - **stored** (`BTYPE` 00, section 3.2.4): the bytes as they are, in
//!   pieces of at most 65 535 bytes, for input that does not compress.
//!
//! Building the dynamic code (Huffman lengths for 286 and 30 symbols, their
//! run-length coding and the code length code) costs more than
//! compressing a short chat message, and for most such messages the fixed
//! code wins anyway. So a quick estimate comes first: the data at its
//! entropy (table of `f log2 f`, no code built) and the header at about 3
//! bits per symbol used and 7 per gap between them. When that exceeds the
//! fixed block by more than 1/16, the block goes fixed (or stored) without
//! building the dynamic code; otherwise all three sizes are computed
//! exactly. On the chat corpus in 150-byte messages this skips most
//! dynamic builds and adds a few bytes in millions.
//!
//! Each length 3..=258 and distance 1..=32 768 is sent as a *code* plus
//! extra bits (the tables of section 3.2.5); [`length_code`] and
//! [`distance_code`] find them.

use super::bit_writer::BitWriter;
use super::huffman::{DISTANCE_EXTRA, LENGTH_BASE, LENGTH_EXTRA};
use super::huffman_build::{
    build_lengths, build_lengths_of_used, canonical_codes, canonical_codes_of_used,
};

/// The shortest match DEFLATE can express (section 3.2.5).
pub(crate) const MIN_MATCH: usize = 3;
/// The longest match DEFLATE can express (section 3.2.5).
pub(crate) const MAX_MATCH: usize = 258;

/// `LENGTH_CODE[len - 3]` is the length code of `len` minus 257. Length 258
/// has its own code, 285; 284 with all five extra bits set would also mean
/// 258, but the RFC's table gives 284 only 227..=257.
static LENGTH_CODE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut code = 0;
    while code < 29 {
        let base = LENGTH_BASE[code] as usize;
        let span = if code == 28 {
            1
        } else {
            1 << LENGTH_EXTRA[code]
        };
        let mut l = base;
        while l < base + span && l - 3 < 256 {
            table[l - 3] = code as u8;
            l += 1;
        }
        code += 1;
    }
    table
};

/// The length code (257..=285) of a match length 3..=258, its number of
/// extra bits and their value (section 3.2.5).
#[inline(always)]
pub(crate) fn length_code(len: usize) -> (usize, u32, u32) {
    let code = usize::from(LENGTH_CODE[(len - MIN_MATCH) & 0xff]);
    let extra = u32::from(LENGTH_EXTRA[code]);
    (
        257 + code,
        extra,
        (len - usize::from(LENGTH_BASE[code])) as u32,
    )
}

/// The distance code (0..=29) of a distance 1..=32 768, its number of extra
/// bits and their value (section 3.2.5). Beyond distance 4 each pair of
/// codes covers twice the span of the pair before, so the code is twice the
/// position of `d - 1`'s top bit plus the bit below it.
#[inline(always)]
pub(crate) fn distance_code(dist: usize) -> (usize, u32, u32) {
    let d = (dist.clamp(1, 32768) - 1) as u32;
    if d < 4 {
        return (d as usize, 0, 0);
    }
    let top = 31 - d.leading_zeros(); // 2..=14
    let code = (2 * top + ((d >> (top - 1)) & 1)) as usize;
    let extra = top - 1;
    (code, extra, d & ((1 << extra) - 1))
}

/// The order in which the code length code's lengths are sent (section
/// 3.2.7), so that the usually unused ones come last and can be left off.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Section 3.2.6: the fixed literal/length code's length for a symbol.
const fn fixed_length(sym: usize) -> u8 {
    match sym {
        0..=143 => 8,
        144..=255 => 9,
        256..=279 => 7,
        _ => 8,
    }
}

/// The fixed code's lengths (section 3.2.6), all 288 symbols.
static FIXED_LIT_LEN: [u8; 288] = {
    let mut t = [0u8; 288];
    let mut s = 0;
    while s < 288 {
        t[s] = fixed_length(s);
        s += 1;
    }
    t
};
/// The fixed code's bit-reversed codes, made once at compile time.
static FIXED_LIT_CODE: [u16; 288] = const_canonical(&FIXED_LIT_LEN);
/// Fixed distance codes: 5 bits each (section 3.2.6).
static FIXED_DIST_LEN: [u8; 30] = [5; 30];
static FIXED_DIST_CODE: [u16; 30] = const_canonical(&FIXED_DIST_LEN);

/// [`canonical_codes`] at compile time, for the fixed code.
const fn const_canonical<const N: usize>(lengths: &[u8; N]) -> [u16; N] {
    let mut bl_count = [0u16; 16];
    let mut i = 0;
    while i < N {
        bl_count[lengths[i] as usize] += 1;
        i += 1;
    }
    bl_count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    let mut bits = 1;
    while bits < 16 {
        code = (code + bl_count[bits - 1]) << 1;
        next[bits] = code;
        bits += 1;
    }
    let mut codes = [0u16; N];
    let mut i = 0;
    while i < N {
        let l = lengths[i] as usize;
        if l > 0 {
            codes[i] = next[l].reverse_bits() >> (16 - l);
            next[l] += 1;
        }
        i += 1;
    }
    codes
}

/// The tokens of the block being built and their symbol counts.
pub(crate) struct Block {
    /// Per token, 3 bytes: a literal byte and 0, 0; or for a match its
    /// length - 3 and its distance, little-endian (never 0). One vector, so
    /// adding a token is one push.
    tokens: Vec<[u8; 3]>,
    /// Tokens a block holds before it is sent.
    capacity: usize,
    /// Counts of literal/length symbols 0..=285.
    lit_freq: [u32; 286],
    /// Counts of distance codes 0..=29.
    dist_freq: [u32; 30],
    /// Which literal/length symbols are used, a bit each, 64 to a word:
    /// the estimate then visits only those.
    lit_used: [u64; 5],
    /// Which distance codes are used.
    dist_used: u64,
    /// Where the block's input starts in the message, and how long it is:
    /// what a stored block would carry.
    pub(crate) raw_start: usize,
    pub(crate) raw_len: usize,
    /// The largest distance ever added (tests check it against the window).
    #[cfg(test)]
    pub(crate) max_dist: usize,
}

impl Block {
    /// An empty block that sends itself every `capacity` tokens, with room
    /// for `room` tokens allocated (more are allocated as they come, up to
    /// `capacity`): a message of `n` bytes never has more than `n` tokens.
    pub(crate) fn with_room(capacity: usize, room: usize) -> Self {
        let room = room.min(capacity);
        Block {
            tokens: Vec::with_capacity(room),
            capacity,
            lit_freq: [0; 286],
            dist_freq: [0; 30],
            lit_used: [0; 5],
            dist_used: 0,
            raw_start: 0,
            raw_len: 0,
            #[cfg(test)]
            max_dist: 0,
        }
    }

    /// Heap bytes held.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        3 * self.tokens.capacity()
    }

    /// Adds a literal byte; `true` when the block is full.
    #[inline(always)]
    pub(crate) fn literal(&mut self, byte: u8) -> bool {
        self.tokens.push([byte, 0, 0]);
        self.lit_freq[usize::from(byte)] += 1;
        self.lit_used[usize::from(byte >> 6)] |= 1 << (byte & 63);
        self.raw_len += 1;
        self.tokens.len() >= self.capacity
    }

    /// Adds a match (`len` 3..=258, `dist` 1..=32 768); `true` when the
    /// block is full.
    #[inline(always)]
    pub(crate) fn matched(&mut self, len: usize, dist: usize) -> bool {
        let [lo, hi] = (dist as u16).to_le_bytes();
        self.tokens.push([(len - MIN_MATCH) as u8, lo, hi]);
        let (sym, code) = (length_code(len).0, distance_code(dist).0);
        self.lit_freq[sym] += 1;
        self.dist_freq[code] += 1;
        self.lit_used[4] |= 1 << (sym - 256); // 257..=285: the fifth word
        self.dist_used |= 1 << code;
        self.raw_len += len;
        #[cfg(test)]
        {
            self.max_dist = self.max_dist.max(dist);
        }
        self.tokens.len() >= self.capacity
    }

    /// Whether no token is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Sends the block as the smallest of dynamic, fixed and stored, unless
    /// the estimate (module docs) rules dynamic out first (never
    /// `BFINAL`: a permessage-deflate message ends with a sync flush
    /// instead), then starts the next block after it. `message` is the
    /// message being compressed; the block's bytes are
    /// `message[raw_start..raw_start + raw_len]`.
    pub(crate) fn send(&mut self, w: &mut BitWriter<'_>, message: &[u8]) {
        self.send_choosing(w, message, true);
    }

    /// [`Block::send`]; with `estimate` false the dynamic code is always
    /// built and the exact sizes decide (tests compare the two).
    fn send_choosing(&mut self, w: &mut BitWriter<'_>, message: &[u8], estimate: bool) {
        if self.is_empty() {
            return;
        }
        self.lit_freq[256] += 1; // end of block
        self.lit_used[4] |= 1;
        // The literal/length symbols used, in increasing order: a short
        // block uses a few dozen of the 286, and every pass over the
        // alphabet below visits only those.
        let mut used = [0u16; 286];
        let n_used = used_symbols(&self.lit_used, &mut used);
        let used = &used[..n_used];
        let extra_bits = self.extra_bits();
        let fixed = 3 + extra_bits + self.fixed_data_bits(used);
        let raw = message
            .get(self.raw_start..self.raw_start + self.raw_len)
            .unwrap_or(&[]);
        let stored = if raw.len() == self.raw_len {
            stored_bits(raw.len(), w.bit_offset())
        } else {
            u64::MAX // cannot happen; never choose stored without the bytes
        };
        if estimate && self.dynamic_estimate(extra_bits) > fixed + fixed / FIXED_MARGIN {
            // Dynamic cannot win by the estimate (section docs): do not
            // build it.
            if stored < fixed {
                write_stored(w, raw);
            } else {
                self.write_fixed(w);
            }
            self.next_block();
            return;
        }
        let mut lit_len = [0u8; 286];
        let mut dist_len = [0u8; 30];
        build_lengths_of_used(&self.lit_freq, used, 15, &mut lit_len);
        build_lengths(&self.dist_freq, 15, &mut dist_len);

        // The dynamic header: HLIT, HDIST and the run-length coded lengths.
        let n_lit = 257
            + lit_len[257..]
                .iter()
                .rposition(|&l| l > 0)
                .map_or(0, |i| i + 1);
        let n_dist = 1 + dist_len[1..]
            .iter()
            .rposition(|&l| l > 0)
            .map_or(0, |i| i + 1);
        let mut seq = [0u8; 286 + 30];
        seq[..n_lit].copy_from_slice(&lit_len[..n_lit]);
        seq[n_lit..n_lit + n_dist].copy_from_slice(&dist_len[..n_dist]);
        let mut runs = [(0u8, 0u8); 286 + 30];
        let n_runs = run_length(&seq[..n_lit + n_dist], &mut runs);
        let mut cl_freq = [0u32; 19];
        for &(sym, _) in &runs[..n_runs] {
            cl_freq[usize::from(sym)] += 1;
        }
        let mut cl_len = [0u8; 19];
        build_lengths(&cl_freq, 7, &mut cl_len);
        let n_cl = 4 + CODE_LENGTH_ORDER[4..]
            .iter()
            .rposition(|&s| cl_len[s] > 0)
            .map_or(0, |i| i + 1);

        // Exact sizes in bits of the three choices.
        let mut dynamic_data = extra_bits;
        for &s in used {
            let s = usize::from(s);
            dynamic_data += u64::from(self.lit_freq[s]) * u64::from(lit_len[s]);
        }
        for (&f, &l) in self.dist_freq.iter().zip(&dist_len) {
            dynamic_data += u64::from(f) * u64::from(l);
        }
        let header_bits: u64 = 3
            + 5
            + 5
            + 4
            + 3 * n_cl as u64
            + runs[..n_runs]
                .iter()
                .map(|&(s, _)| u64::from(cl_len[usize::from(s)]) + u64::from(run_extra_bits(s)))
                .sum::<u64>();
        let dynamic = header_bits + dynamic_data;

        if stored < dynamic.min(fixed) {
            write_stored(w, raw);
        } else if fixed <= dynamic {
            self.write_fixed(w);
        } else {
            w.put(0, 1); // BFINAL = 0
            w.put(0b10, 2); // BTYPE = 10
            w.put((n_lit - 257) as u32, 5); // HLIT
            w.put((n_dist - 1) as u32, 5); // HDIST
            w.put((n_cl - 4) as u32, 4); // HCLEN
            for &s in &CODE_LENGTH_ORDER[..n_cl] {
                w.put(u32::from(cl_len[s]), 3);
            }
            let mut cl_code = [0u16; 19];
            canonical_codes(&cl_len, &mut cl_code);
            for &(s, extra) in &runs[..n_runs] {
                let s = usize::from(s);
                w.put(u32::from(cl_code[s]), u32::from(cl_len[s]));
                w.put(u32::from(extra), run_extra_bits(s as u8));
            }
            let mut lit_code = [0u16; 286];
            canonical_codes_of_used(&lit_len, used, &mut lit_code);
            let mut dist_code = [0u16; 30];
            canonical_codes(&dist_len, &mut dist_code);
            self.write_tokens(w, &lit_len, &lit_code, &dist_len, &dist_code);
        }
        self.next_block();
    }

    /// Empties the block for the next one, which starts after it.
    fn next_block(&mut self) {
        self.tokens.clear();
        self.lit_freq = [0; 286];
        self.dist_freq = [0; 30];
        self.lit_used = [0; 5];
        self.dist_used = 0;
        self.raw_start += self.raw_len;
        self.raw_len = 0;
    }

    /// A fixed Huffman block (section 3.2.6).
    fn write_fixed(&self, w: &mut BitWriter<'_>) {
        w.put(0, 1); // BFINAL = 0
        w.put(0b01, 2); // BTYPE = 01
        self.write_tokens(
            w,
            &FIXED_LIT_LEN,
            &FIXED_LIT_CODE,
            &FIXED_DIST_LEN,
            &FIXED_DIST_CODE,
        );
    }

    /// The extra bits of the lengths and distances (the same in every
    /// block type but stored).
    fn extra_bits(&self) -> u64 {
        // Bit c of the fifth word's upper 63 bits: length code 257 + c.
        let lengths = set_bits(self.lit_used[4] >> 1)
            .map(|c| u64::from(self.lit_freq[257 + c]) * u64::from(LENGTH_EXTRA[c]));
        let distances = set_bits(self.dist_used)
            .map(|c| u64::from(self.dist_freq[c]) * u64::from(DISTANCE_EXTRA[c]));
        lengths.chain(distances).sum()
    }

    /// The Huffman coded bits of a fixed block, without extra bits and the
    /// 3 header bits.
    fn fixed_data_bits(&self, used: &[u16]) -> u64 {
        let lit: u64 = used
            .iter()
            .map(|&s| {
                u64::from(self.lit_freq[usize::from(s)]) * u64::from(FIXED_LIT_LEN[usize::from(s)])
            })
            .sum();
        let dist: u64 = self.dist_freq.iter().map(|&f| u64::from(f)).sum();
        lit + 5 * dist
    }

    /// A quick estimate of the dynamic block's size in bits, with no code
    /// built: the data at its entropy (which no Huffman code beats), the
    /// header at about 3 bits per code length sent and 7 per run of unused
    /// symbols. Used only to skip building a dynamic code that is far
    /// larger than the fixed one, so it need not be exact, only rarely
    /// wrong by more than the margin.
    fn dynamic_estimate(&self, extra_bits: u64) -> u64 {
        let (lit_bits, lit_used, lit_gaps) = entropy_and_shape(&self.lit_freq, &self.lit_used);
        let (dist_bits, dist_used, dist_gaps) =
            entropy_and_shape(&self.dist_freq, &[self.dist_used]);
        17 + 3 * 14
            + 3 * (lit_used + dist_used)
            + 7 * (lit_gaps + dist_gaps)
            + lit_bits
            + dist_bits
            + extra_bits
    }

    /// Writes every token and the end-of-block code with the given codes.
    fn write_tokens(
        &self,
        w: &mut BitWriter<'_>,
        lit_len: &[u8],
        lit_code: &[u16],
        dist_len: &[u8],
        dist_code: &[u16],
    ) {
        let (lit_len, lit_code) = (&lit_len[..286], &lit_code[..286]);
        let (dist_len, dist_code) = (&dist_len[..30], &dist_code[..30]);
        for &[lit, lo, hi] in &self.tokens {
            let dist = u16::from_le_bytes([lo, hi]);
            if dist == 0 {
                let s = usize::from(lit);
                w.put(u32::from(lit_code[s]), u32::from(lit_len[s]));
            } else {
                let (s, n, v) = length_code(usize::from(lit) + MIN_MATCH);
                let l = u32::from(lit_len[s]);
                w.put(u32::from(lit_code[s]) | v << l, l + n);
                let (c, n, v) = distance_code(usize::from(dist));
                let l = u32::from(dist_len[c]);
                w.put(u32::from(dist_code[c]) | v << l, l + n);
            }
        }
        w.put(u32::from(lit_code[256]), u32::from(lit_len[256]));
    }
}

/// Lists the symbols whose bits are set in `mask` (bit `i % 64` of word
/// `i / 64`), in increasing order, into `out`; returns how many.
fn used_symbols(mask: &[u64], out: &mut [u16]) -> usize {
    let symbols = mask
        .iter()
        .enumerate()
        .flat_map(|(word, &bits)| set_bits(bits).map(move |bit| word * 64 + bit));
    let mut n = 0;
    for (slot, sym) in out.iter_mut().zip(symbols) {
        *slot = sym as u16;
        n += 1;
    }
    n
}

/// The positions of the bits set in `mask`, lowest first.
fn set_bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let bit = mask.trailing_zeros() as usize;
        mask &= mask.wrapping_sub(1);
        (bit < 64).then_some(bit)
    })
}

/// Extra bits after a code length symbol: 16 repeats the previous length
/// 3..=6 times (2 bits), 17 repeats zero 3..=10 times (3 bits), 18 repeats
/// zero 11..=138 times (7 bits) (section 3.2.7).
fn run_extra_bits(sym: u8) -> u32 {
    match sym {
        16 => 2,
        17 => 3,
        18 => 7,
        _ => 0,
    }
}

/// How many leading bytes of `seq` equal its first (0 if empty), eight at
/// a time: one compare per eight, not a mispredicted branch per byte.
fn run_of(seq: &[u8]) -> usize {
    let Some(&v) = seq.first() else {
        return 0;
    };
    let pattern = u64::from_ne_bytes([v; 8]);
    let mut i = 0;
    while let Some(chunk) = seq.get(i..).and_then(|s| s.first_chunk::<8>()) {
        let diff = u64::from_le_bytes(*chunk) ^ pattern;
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + seq[i..].iter().take_while(|&&x| x == v).count()
}

/// The dynamic code is not built when its estimated size exceeds the fixed
/// block's by more than `fixed / FIXED_MARGIN` bits. On the chat corpus in
/// 150-byte messages (windows 9 to 12, with context takeover) this skips
/// most dynamic builds and changes the output by a few bytes in millions.
const FIXED_MARGIN: u64 = 16;

/// `F_LOG_F[f]` = `f * log2(f)` in 1/256 bits, for every count a block can
/// hold (at most 3 585), computed at compile time in fixed point.
static F_LOG_F: [u32; 4096] = {
    let mut t = [0u32; 4096];
    let mut f = 1;
    while f < 4096 {
        // log2(f) with 12 fractional bits: the integer part from the top
        // bit, then squaring the mantissa (in [1, 2), 32 fractional bits)
        // gives one more bit each time.
        let int = 31 - (f as u32).leading_zeros();
        let mut y = (f as u64) << (32 - int);
        let mut frac = 0u64;
        let mut i = 0;
        while i < 12 {
            y = ((y as u128 * y as u128) >> 32) as u64;
            frac <<= 1;
            if y >= 2 << 32 {
                y >>= 1;
                frac |= 1;
            }
            i += 1;
        }
        let log2_q12 = (int as u64) << 12 | frac;
        t[f] = ((f as u64 * log2_q12) >> 4) as u32;
        f += 1;
    }
    t
};

/// For the counts of one alphabet and the mask of its used symbols (bit
/// `i % 64` of word `i / 64`): the entropy of the symbols in whole bits
/// (`T log2 T - sum f log2 f`), how many symbols are used, and how many runs
/// of unused symbols lie between or before used ones. Visits only the used
/// symbols.
fn entropy_and_shape(freqs: &[u32], used_mask: &[u64]) -> (u64, u64, u64) {
    let flogf = |f: u32| -> u64 {
        match F_LOG_F.get(f as usize) {
            Some(&v) => u64::from(v),
            None => (f64::from(f) * f64::from(f).log2() * 256.0) as u64,
        }
    };
    let (mut total, mut sum, mut used, mut gaps) = (0u32, 0u64, 0u64, 0u64);
    let mut last_used = 1u64; // no gap before symbol 0
    for (chunk, &mask) in freqs.chunks(64).zip(used_mask) {
        for bit in set_bits(mask) {
            let f = chunk.get(bit).copied().unwrap_or(0);
            total += f;
            sum += flogf(f);
        }
        used += u64::from(mask.count_ones());
        gaps += u64::from((mask & !(mask << 1 | last_used)).count_ones());
        last_used = (mask >> (chunk.len() - 1)) & 1;
    }
    (flogf(total).saturating_sub(sum) / 256, used, gaps)
}

/// Run-length codes a sequence of code lengths with the symbols of section
/// 3.2.7 into `(symbol, extra bits value)` pairs; returns how many.
fn run_length(seq: &[u8], runs: &mut [(u8, u8)]) -> usize {
    let mut n = 0;
    let mut emit = |sym: u8, extra: u8| {
        if let Some(slot) = runs.get_mut(n) {
            *slot = (sym, extra);
            n += 1;
        }
    };
    let mut i = 0;
    while i < seq.len() {
        let v = seq[i];
        let run = run_of(&seq[i..]);
        let mut left = run;
        if v == 0 {
            while left >= 11 {
                let r = left.min(138);
                emit(18, (r - 11) as u8);
                left -= r;
            }
            if left >= 3 {
                emit(17, (left - 3) as u8);
                left = 0;
            }
        } else {
            emit(v, 0);
            left -= 1;
            while left >= 3 {
                let r = left.min(6);
                emit(16, (r - 3) as u8);
                left -= r;
            }
        }
        for _ in 0..left {
            emit(v, 0);
        }
        i += run;
    }
    n
}

/// Bits taken by `len` bytes as stored blocks, starting `bit_offset` bits
/// into a byte: per piece of at most 65 535 bytes a 3-bit header, padding to
/// the byte boundary, `LEN` and `NLEN`, then the bytes (section 3.2.4).
fn stored_bits(len: usize, bit_offset: u32) -> u64 {
    let pieces = len.div_ceil(65535).max(1) as u64;
    let first_pad = u64::from((8 - (bit_offset + 3) % 8) % 8);
    3 + first_pad + 32 + (pieces - 1) * (8 + 32) + 8 * len as u64
}

/// Writes `raw` as stored blocks of at most 65 535 bytes (section 3.2.4);
/// an empty `raw` writes one empty stored block, the sync flush marker
/// `00 00 ff ff` after the header.
pub(crate) fn write_stored(w: &mut BitWriter<'_>, raw: &[u8]) {
    let mut pieces = raw.chunks(65535).peekable();
    if pieces.peek().is_none() {
        w.put(0, 3);
        w.align();
        w.put_bytes(&[0, 0, 0xff, 0xff]);
        return;
    }
    for piece in pieces {
        w.put(0, 3); // BFINAL = 0, BTYPE = 00
        w.align();
        let len = piece.len() as u16;
        w.put_bytes(&len.to_le_bytes());
        w.put_bytes(&(!len).to_le_bytes());
        w.put_bytes(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::compress::BLOCK_TOKENS;
    use crate::deflate::huffman::DISTANCE_BASE;

    #[test]
    fn length_codes_match_the_table_of_section_3_2_5() {
        assert_eq!(length_code(3), (257, 0, 0));
        assert_eq!(length_code(10), (264, 0, 0));
        assert_eq!(length_code(11), (265, 1, 0));
        assert_eq!(length_code(12), (265, 1, 1));
        assert_eq!(length_code(18), (268, 1, 1));
        assert_eq!(length_code(19), (269, 2, 0));
        assert_eq!(length_code(226), (283, 5, 31));
        assert_eq!(length_code(227), (284, 5, 0));
        assert_eq!(length_code(257), (284, 5, 30));
        assert_eq!(length_code(258), (285, 0, 0));
        for len in 3..=258 {
            let (code, n, v) = length_code(len);
            let c = code - 257;
            assert_eq!(usize::from(LENGTH_BASE[c]) + v as usize, len);
            assert_eq!(n, u32::from(LENGTH_EXTRA[c]));
            assert!(v < 1 << n || n == 0 && v == 0);
        }
    }

    #[test]
    fn distance_codes_match_the_table_of_section_3_2_5() {
        assert_eq!(distance_code(1), (0, 0, 0));
        assert_eq!(distance_code(4), (3, 0, 0));
        assert_eq!(distance_code(5), (4, 1, 0));
        assert_eq!(distance_code(6), (4, 1, 1));
        assert_eq!(distance_code(7), (5, 1, 0));
        assert_eq!(distance_code(256), (15, 6, 63));
        assert_eq!(distance_code(257), (16, 7, 0));
        assert_eq!(distance_code(24577), (29, 13, 0));
        assert_eq!(distance_code(32768), (29, 13, 8191));
        for dist in 1..=32768 {
            let (c, n, v) = distance_code(dist);
            assert_eq!(usize::from(DISTANCE_BASE[c]) + v as usize, dist);
            assert_eq!(n, u32::from(DISTANCE_EXTRA[c]));
            assert!(v < 1 << n || n == 0 && v == 0);
        }
    }

    #[test]
    fn runs_are_counted_like_byte_by_byte() {
        let mut seed = 0x1234_5678_9abc_def1_u64;
        for len in 0..80 {
            for _ in 0..20 {
                let seq: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        u8::from(seed % 5 == 0)
                    })
                    .collect();
                for start in 0..=len {
                    let s = &seq[start..];
                    let want = s.iter().take_while(|&&x| Some(&x) == s.first()).count();
                    assert_eq!(run_of(s), want, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn run_lengths_use_16_17_and_18() {
        let mut runs = [(0, 0); 316];
        let n = run_length(&[8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 5, 5, 0], &mut runs);
        assert_eq!(
            runs[..n],
            [(8, 0), (16, 3), (8, 0), (17, 0), (5, 0), (5, 0), (0, 0)]
        );
        let mut seq = [0u8; 150];
        seq[149] = 2;
        let n = run_length(&seq, &mut runs);
        assert_eq!(runs[..n], [(18, 127), (18, 0), (2, 0)]);
        let n = run_length(&seq[3..], &mut runs);
        assert_eq!(runs[..n], [(18, 127), (17, 5), (2, 0)]);
    }

    #[test]
    fn compile_time_fixed_codes_equal_the_run_time_ones() {
        let mut codes = [0u16; 288];
        canonical_codes(&FIXED_LIT_LEN, &mut codes);
        assert_eq!(codes, FIXED_LIT_CODE);
        let mut codes = [0u16; 30];
        canonical_codes(&FIXED_DIST_LEN, &mut codes);
        assert_eq!(codes, FIXED_DIST_CODE);
    }

    #[test]
    fn the_f_log_f_table_is_within_a_bit_fraction_of_f64() {
        for f in 1..4096u32 {
            let want = f64::from(f) * f64::from(f).log2() * 256.0;
            let got = f64::from(F_LOG_F[f as usize]);
            // 12 fractional bits of log2, truncated: at most f / 16 low.
            assert!(
                got <= want + 1.0 && want - got <= f64::from(f) / 16.0 + 1.0,
                "{f}"
            );
        }
        assert_eq!(F_LOG_F[1], 0);
        assert_eq!(F_LOG_F[2], 2 * 256);
        assert_eq!(F_LOG_F[1024], 1024 * 10 * 256);
    }

    /// The used-symbol masks of `freqs`, computed from scratch.
    fn masks_of(freqs: &[u32]) -> Vec<u64> {
        freqs
            .chunks(64)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0, |m, (i, &f)| m | u64::from(f > 0) << i)
            })
            .collect()
    }

    #[test]
    fn entropy_and_shape_of_small_counts() {
        let of = |f: &[u32]| entropy_and_shape(f, &masks_of(f));
        // Four equally likely symbols: 2 bits each.
        assert_eq!(of(&[0, 3, 3, 0, 3, 3]), (24, 4, 2));
        assert_eq!(of(&[5, 0, 0, 0]), (0, 1, 0));
        assert_eq!(of(&[0, 0, 0]), (0, 0, 0));
        assert_eq!(of(&[0, 1, 0, 1, 0, 1]), (4, 3, 3));
        let mut wide = [0u32; 286];
        wide[63] = 2;
        wide[64] = 2;
        wide[256] = 1;
        wide[285] = 3;
        // 8 log2 8 - 2 log2 2 - 2 log2 2 - 3 log2 3 = 15.2 bits.
        assert_eq!(of(&wide), (15, 4, 3));
    }

    /// Seeded blocks of `n` tokens over `message`: literals and matches
    /// copying earlier bytes of it, so every block type is possible.
    fn blocks_of(message: &[u8], seed: &mut u64) -> Vec<(usize, usize)> {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        let mut tokens = Vec::new();
        let mut at = 0;
        while at < message.len() {
            let r = next();
            let len = 3 + (r >> 8) as usize % 30;
            let dist = 1 + (r >> 20) as usize % at.max(1);
            let fits = at + len <= message.len()
                && dist <= at
                && (0..len).all(|i| message[at + i] == message[at + i - dist]);
            if r % 3 == 0 && fits {
                tokens.push((len, dist));
                at += len;
            } else {
                tokens.push((0, 0));
                at += 1;
            }
        }
        tokens
    }

    #[test]
    fn the_estimate_changes_the_block_type_only_when_the_sizes_are_close() {
        let mut seed = 0x0123_4567_89ab_cdef_u64;
        let words = [
            "the ",
            "room",
            "\"text\":",
            "hello ",
            "42",
            "{\"id\":\"",
            "zq",
            "~",
        ];
        let (mut exact_total, mut quick_total) = (0usize, 0usize);
        for round in 0..600 {
            let n = [1, 2, 5, 20, 60, 150, 400, 1500][round % 8];
            let mut message = Vec::new();
            while message.len() < n {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if seed % 5 == 0 {
                    message.push((seed >> 16) as u8);
                } else {
                    message.extend_from_slice(words[(seed >> 8) as usize % words.len()].as_bytes());
                }
            }
            let tokens = blocks_of(&message, &mut seed);
            let mut outs = [Vec::new(), Vec::new()];
            for (out, estimate) in outs.iter_mut().zip([false, true]) {
                {
                    let mut w = BitWriter::new(out);
                    let mut block = Block::with_room(BLOCK_TOKENS, message.len());
                    let mut at = 0;
                    for &(len, dist) in &tokens {
                        if len == 0 {
                            block.literal(message[at]);
                            at += 1;
                        } else {
                            block.matched(len, dist);
                            at += len;
                        }
                    }
                    assert_eq!(block.lit_used[..4], masks_of(&block.lit_freq)[..4]);
                    assert_eq!(block.dist_used, masks_of(&block.dist_freq)[0]);
                    block.send_choosing(&mut w, &message, estimate);
                    write_stored(&mut w, &[]);
                }
                let mut inflater = crate::deflate::Inflater::new(15);
                let mut back = Vec::new();
                inflater.inflate(out, &mut back, 1 << 20).unwrap();
                assert_eq!(back, message, "estimate {estimate}, {n} bytes");
            }
            let (exact, quick) = (outs[0].len(), outs[1].len());
            assert!(quick >= exact, "the exact choice is the smallest");
            assert!(
                quick <= exact + exact / FIXED_MARGIN as usize + 1,
                "{n} bytes: {quick} > {exact} + margin"
            );
            exact_total += exact;
            quick_total += quick;
        }
        assert!(quick_total <= exact_total + exact_total / 200);
    }

    #[test]
    fn stored_sizes_count_padding_and_pieces() {
        assert_eq!(stored_bits(0, 0), 3 + 5 + 32);
        assert_eq!(stored_bits(1, 5), 3 + 32 + 8); // no padding needed
        assert_eq!(stored_bits(65536, 0), 3 + 5 + 32 + 40 + 8 * 65536);
    }
}
