//! The compressor: LZ77 match finding over hash chains, then Huffman coded
//! blocks (RFC 1951 sections 3.2.5 and 4), shaped for permessage-deflate
//! (RFC 7692 section 7.2.1).
//!
//! ## Finding matches (section 4)
//!
//! The input is appended to a buffer that also keeps the last
//! `2^window_bits` bytes before it (the *window*: earlier messages' bytes
//! too, with context takeover). Every position is *inserted* under a hash
//! of the three bytes starting there: `head[hash]` holds the most recent
//! position with that hash and `prev[position % window]` the one inserted
//! before it with the same hash, so following `prev` from `head` walks the
//! earlier positions that may start the same three bytes, newest (nearest)
//! first, as section 4 suggests. Each candidate is compared with the current
//! position eight bytes at a time; the longest match wins.
//!
//! With windows of 13 bits or more the chains are by the first *four*
//! bytes, and a second table, `head3`, keeps only the most recent position
//! per hash of three (1 024 entries, 2 KiB). A large window holds many
//! positions that share three bytes but not four; by three bytes the search
//! follows them all in vain before it finds a long match, by four it skips
//! them. The nearest 3-byte match is the one worth having (its distance code
//! is the shortest, and the lazy levels drop 3-byte matches beyond 4 096
//! bytes), so `head3`'s one candidate is tried first, when no match is in
//! hand. On the chat and text corpora at 15 bits, [`Level::Default`] became
//! 1.4-1.6x faster for the same output (within 0.1%), and `Level::Fast`'s
//! output 1-3% smaller. Small windows have short chains: there the second
//! table costs more time than it saves, so they chain by three bytes.
//!
//! Positions are stored as 16-bit numbers (stream offsets modulo 65 536):
//! a candidate's distance is the wrapping difference, and anything
//! farther than the window, or than the bytes the buffer still holds, is
//! the end of the chain. So the tables never need rewriting when the
//! buffer slides or after [`Deflater::reset`]; every 16 KiB of input one
//! sweep marks entries that have fallen out of the window, so that an old
//! entry is never mistaken for a near one when the 16-bit numbers wrap.
//! Whatever the tables hold, a match is only used after its bytes compared
//! equal, so the output is right even if they were garbage.
//!
//! ## Levels
//!
//! - [`Level::Fast`]: *greedy*: takes the first match found at each
//!   position, looks at no more than 4 candidates (2 on chains by four
//!   bytes, which find about as much), stops at one of 8 bytes
//!   or more, and inserts the positions inside a match only when it is at
//!   most 4 bytes long. Messages of up to 1 024 bytes are matched lazily
//!   instead, as [`Level::Default`] below but with at most 6 candidates (1
//!   when the match in hand is already 4 bytes), stopping at 32 bytes and
//!   not looking further once it holds a match of 8 bytes: there a
//!   message's fixed cost (its block) outweighs the search, and on chat in
//!   150-byte messages with context takeover (windows of 9 to 12 bits) the
//!   output is within 3% of zlib's level 6, where greedy matching was 5-9%
//!   larger, in about the same time. Long messages stay greedy, which is
//!   about a third faster on bulk text.
//! - [`Level::Default`]: *lazy*: having found a match at position `p`,
//!   looks for a longer one at `p + 1` before committing, and if there is
//!   one, sends the byte at `p` as a literal instead. Up to 128 candidates
//!   (32 when the match in hand is already 8 bytes), stops at 128 bytes,
//!   does not look further once it holds a match of 16 bytes, and drops
//!   3-byte matches farther than 4 096 bytes (their codes cost about as much
//!   as three literals). With windows of 12 bits or less, up to 32
//!   candidates (8 once the match in hand is 4 bytes): a small window
//!   holds few candidates worth following to the end of their chain, and
//!   on the chat and text corpora at 9 to 12 bits the output stays within
//!   1% of zlib's level 6 at the same window (smaller at 9 and 10 bits)
//!   while text compresses 1.1-1.35x faster than with 128.
//! - [`Level::Best`]: lazy, up to 4 096 candidates, always looks one position
//!   ahead, stops only at 258 bytes.
//!
//! ## The window and the largest distance
//!
//! With `window_bits` = `w`, the largest distance ever emitted is
//! `2^w - 1` (255 for `w = 8`, 32 767 for `w = 15`): at most the peer's
//! window `2^w` (RFC 7692 section 7.1.2.1), so an inflater with the same
//! `window_bits` accepts every message, for `w = 8` too.
//!
//! ## Blocks
//!
//! A block is sent when it holds 8 192 tokens (literals and matches) and at
//! the end of each message, as dynamic, fixed or stored, whichever is
//! smallest (see `block.rs`); then the message ends with an empty stored
//! block, the sync flush, whose last four bytes `00 00 ff ff` are removed
//! (RFC 7692 section 7.2.1).

use super::bit_writer::BitWriter;
use super::block::{write_stored, Block, MAX_MATCH, MIN_MATCH};

/// How hard the compressor looks for matches (see the module docs of
/// [`Deflater`] for the details of each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Level {
    /// Greedy matching, at most 4 candidates per position (2 with windows
    /// of 13 bits or more; lazy with 6 for
    /// messages up to 1 KiB): the fastest, about as fast as zlib's level 1
    /// on long messages and twice as fast on short ones.
    Fast,
    /// Lazy matching, up to 128 candidates (32 with windows of 12 bits or
    /// less): close to zlib's default level 6.
    #[default]
    Default,
    /// Lazy matching, up to 4 096 candidates: the smallest output, slowly.
    Best,
}

/// Search parameters of a level.
#[derive(Clone, Copy)]
struct Params {
    /// Look one position ahead before committing to a match.
    lazy: bool,
    /// Candidates examined per search.
    max_chain: u32,
    /// Lazy: quarter the search once the match in hand is this long.
    good: usize,
    /// Lazy: do not search at all once the match in hand is this long.
    /// Greedy: insert the positions inside a match only up to this length.
    max_lazy: usize,
    /// Stop searching at a match this long.
    nice: usize,
}

impl Level {
    /// The parameters for a message of `len` bytes and a window of
    /// `2^window_bits` bytes.
    fn params(self, len: usize, window_bits: u8) -> Params {
        match self {
            // Lazy matching costs a short message little next to its fixed
            // cost (its block), and makes it smaller (module docs).
            Level::Fast if len <= FAST_LAZY_UP_TO => Params {
                lazy: true,
                max_chain: 6,
                good: 4,
                max_lazy: 8,
                nice: 32,
            },
            // Chains by four bytes hold fewer false candidates, and two of
            // them find about as much as four by three bytes (module docs).
            Level::Fast => Params {
                lazy: false,
                max_chain: if window_bits >= HASH_FOUR_FROM { 2 } else { 4 },
                good: 4,
                max_lazy: 4,
                nice: 8,
            },
            // Small windows: a shorter search (module docs).
            Level::Default if window_bits <= SHORT_SEARCH_UP_TO => Params {
                lazy: true,
                max_chain: 32,
                good: 4,
                max_lazy: 16,
                nice: 128,
            },
            Level::Default => Params {
                lazy: true,
                max_chain: 128,
                good: 8,
                max_lazy: 16,
                nice: 128,
            },
            Level::Best => Params {
                lazy: true,
                max_chain: 4096,
                good: 32,
                max_lazy: MAX_MATCH,
                nice: MAX_MATCH,
            },
        }
    }
}

/// [`Level::Default`] searches less with windows of up to this many bits.
const SHORT_SEARCH_UP_TO: u8 = 12;
/// [`Level::Fast`] matches lazily in messages up to this long.
const FAST_LAZY_UP_TO: usize = 1024;
/// 3-byte matches farther than this are not worth their codes (lazy levels).
const TOO_FAR: usize = 4096;
/// How much stream may pass between two sweeps of the tables (module docs).
const SWEEP_EVERY: usize = 16 * 1024;
/// Tokens per block: 24 KiB of scratch while a long message is compressed.
/// Fewer tokens a block means more headers to send and to read: with 3 584,
/// whole files came out 0.7-1.2% larger and inflated 2-4% slower; 16 384
/// (zlib's at memLevel 8) gained little more for twice the scratch.
pub(crate) const BLOCK_TOKENS: usize = 8192;

/// Bits of the hash for a window of `2^window_bits` bytes: as many as the
/// window's, but at least 11 and at most 13. With fewer than 2 048 heads,
/// unrelated 3-byte strings share chains and the search follows them in
/// vain: 11 bits instead of 9 made 9-bit windows 1.2-1.4x faster on whole
/// files and 1.1-1.2x in 150-byte messages with takeover, for 3 KiB more.
fn hash_bits(window_bits: u8) -> u32 {
    u32::from(window_bits).clamp(11, 13)
}

/// Windows of at least this many bits chain positions by their first four
/// bytes, not three, and keep a table of the last position per 3-byte hash
/// besides (module docs).
const HASH_FOUR_FROM: u8 = 13;

/// Entries of the table of 3-byte hashes: none when chains are by three
/// bytes already, else 1 024 (2 KiB): it serves only 3-byte matches, and
/// the lazy levels drop those beyond 4 096 bytes.
fn hash3_entries(window_bits: u8) -> usize {
    if window_bits >= HASH_FOUR_FROM {
        1 << HASH3_BITS
    } else {
        0
    }
}

/// Bits of the 3-byte table's hash.
const HASH3_BITS: u32 = 10;

/// Bytes of input the buffer takes beyond the window before it slides.
fn chunk_size(window_bits: u8) -> usize {
    ((1usize << window_bits) / 8).max(1024)
}

/// A permessage-deflate compressor (RFC 7692 over RFC 1951).
///
/// Each [`Deflater::compress_message`] call compresses one whole message
/// and ends it with a sync flush, removing the flush's `00 00 ff ff` tail as
/// RFC 7692 section 7.2.1 requires; the window carries over to the next
/// message (context takeover) until [`Deflater::reset`].
///
/// # Memory
///
/// A new `Deflater` holds no heap memory. Between messages it holds what
/// context takeover needs: the last `2^window_bits` bytes of history and
/// the hash tables over them ([`Deflater::state_bytes_for`]). During a
/// message it also holds scratch sized to the message, up to
/// [`Deflater::peak_bytes_for`]: the input taken in ahead of the window and
/// the block's tokens, freed before [`Deflater::compress_message`] returns.
/// [`Deflater::release`] frees everything (see the table in the `deflate`
/// module docs).
///
/// # Example
///
/// ```
/// use rusty_socket_core::deflate::{Deflater, Inflater, Level};
///
/// let mut deflater = Deflater::new(Level::Default, 15);
/// let mut inflater = Inflater::new(15);
/// for text in ["hello hello hello", "hello again"] {
///     let mut payload = Vec::new();
///     deflater.compress_message(text.as_bytes(), &mut payload);
///     // The receiver puts the tail back (RFC 7692 section 7.2.2).
///     payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
///     let mut message = Vec::new();
///     inflater.inflate(&payload, &mut message, 1 << 20).unwrap();
///     assert_eq!(message, text.as_bytes());
/// }
/// ```
pub struct Deflater {
    level: Level,
    window_bits: u8,
    state: Option<Box<State>>,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("level", &self.level)
            .field("window_bits", &self.window_bits)
            .field("allocated", &self.state.is_some())
            .finish()
    }
}

impl Deflater {
    /// A compressor whose distances stay below `2^window_bits`
    /// (permessage-deflate's negotiated `*_max_window_bits`, RFC 7692
    /// section 7.1.2); `window_bits` is clamped to 8..=15. Allocates
    /// nothing.
    pub fn new(level: Level, window_bits: u8) -> Self {
        Deflater {
            level,
            window_bits: window_bits.clamp(8, 15),
            state: None,
        }
    }

    /// The level it compresses at.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The window size in bytes, `2^window_bits`; the largest distance
    /// emitted is one less.
    pub fn window_size(&self) -> usize {
        1 << self.window_bits
    }

    /// The largest distance this compressor emits: `2^window_bits - 1`.
    pub fn max_distance(&self) -> usize {
        self.window_size() - 1
    }

    /// Heap bytes the compressor holds now, that is between messages: 0
    /// before the first non-empty message and after
    /// [`Deflater::release`], then the history kept for context takeover
    /// (at most `2^window_bits` bytes) and the hash tables, which is
    /// [`Deflater::state_bytes_for`] once `2^window_bits` bytes have been
    /// compressed (see the table in the `deflate` module docs).
    pub fn state_bytes(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.heap_bytes())
    }

    /// Heap bytes a compressor with this `window_bits` holds between
    /// messages once it has compressed `2^window_bits` bytes (the same at
    /// every level): its state, the window, the hash heads (`2^hash_bits`
    /// 16-bit entries), chains (`2^window_bits` 16-bit entries) and, from
    /// 13 bits on, the 3-byte table (1 024 16-bit entries).
    pub fn state_bytes_for(window_bits: u8) -> usize {
        let w = window_bits.clamp(8, 15);
        let window = 1usize << w;
        std::mem::size_of::<State>()
            + window
            + 2 * (1usize << hash_bits(w))
            + 2 * hash3_entries(w)
            + 2 * window
    }

    /// The most heap a compressor with this `window_bits` holds during
    /// [`Deflater::compress_message`] (messages of `2^window_bits / 8`
    /// bytes, or 1 024 if more, and longer): [`Deflater::state_bytes_for`]
    /// plus that much input ahead of the window and 8 192 tokens of 3
    /// bytes. A message of `n` bytes shorter than that takes `4 n` bytes of
    /// scratch: `n` of input and `n` tokens.
    pub fn peak_bytes_for(window_bits: u8) -> usize {
        let w = window_bits.clamp(8, 15);
        Self::state_bytes_for(w) + chunk_size(w) + 3 * BLOCK_TOKENS
    }

    /// Forgets the window (permessage-deflate without context takeover,
    /// RFC 7692 section 7.1.1): the next message refers to nothing before
    /// it. Keeps the memory.
    pub fn reset(&mut self) {
        if let Some(state) = &mut self.state {
            state.forget();
        }
    }

    /// Forgets the window as [`Deflater::reset`] does and frees all heap
    /// memory: the same as a new `Deflater` with the same level and window.
    pub fn release(&mut self) {
        self.state = None;
    }

    /// Compresses `input` as one permessage-deflate message, appending the
    /// payload to `out`: DEFLATE blocks (never `BFINAL`), ended with a sync
    /// flush (an empty stored block) whose `00 00 ff ff` is then removed
    /// (RFC 7692 section 7.2.1). An empty `input` gives the single byte
    /// `00` (section 7.2.3.6). The receiver appends `00 00 ff ff` before
    /// inflating. Never fails and never panics.
    pub fn compress_message(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let params = self.level.params(input.len(), self.window_bits);
        {
            let mut w = BitWriter::new(out);
            if !input.is_empty() {
                let window_bits = self.window_bits;
                let state = self
                    .state
                    .get_or_insert_with(|| Box::new(State::new(window_bits)));
                state.compress(input, &mut w, params);
            }
            write_stored(&mut w, &[]);
        }
        out.truncate(out.len().saturating_sub(4));
    }
}

/// What the compressor keeps between messages; the tokens of the block
/// being built live only during [`State::compress`].
struct State {
    /// The window (up to `2^w` bytes before `pos`) and, during a message,
    /// the input after it; between messages only the window, with a
    /// capacity of at most `2^w`.
    buf: Vec<u8>,
    /// During a message, how far `buf` fills before it slides: the window
    /// plus the message or one chunk, whichever is shorter.
    cap: usize,
    /// Bytes of input the buffer takes beyond the window at most.
    chunk: usize,
    /// Stream offset of `buf[0]`.
    base: usize,
    /// Index in `buf` of the next position to encode.
    pos: usize,
    /// Index in `buf` of the first position not yet inserted because the
    /// bytes its hash is taken over ([`State::hashed`]) had not all
    /// arrived.
    tail: usize,
    /// Most recent position (16-bit stream offset) per hash of the first
    /// [`State::hashed`] bytes.
    head: Vec<u16>,
    /// With 4-byte chains, the most recent position per hash of 3 bytes;
    /// else empty.
    head3: Vec<u16>,
    /// Previous position with the same hash, per position modulo the window.
    prev: Vec<u16>,
    /// `2^w - 1`: the `prev` index mask, and the largest distance.
    max_dist: usize,
    /// `32 - hash_bits`.
    hash_shift: u32,
    /// Stream offset of the last sweep.
    swept_at: usize,
    /// Lazy matching across chunks: a byte at `pos - 1` is waiting...
    waiting: bool,
    /// ...with the match found there (length `< 3` for none).
    prev_len: usize,
    prev_dist: usize,
    /// The largest distance ever emitted (tests check it against the
    /// window).
    #[cfg(test)]
    max_dist_sent: usize,
    /// The most heap held during a message (tests check the docs).
    #[cfg(test)]
    peak: usize,
}

impl State {
    fn new(window_bits: u8) -> Self {
        let window = 1usize << window_bits;
        State {
            buf: Vec::new(),
            cap: window,
            chunk: chunk_size(window_bits),
            base: 0,
            pos: 0,
            tail: 0,
            head: vec![0; 1 << hash_bits(window_bits)],
            head3: vec![0; hash3_entries(window_bits)],
            prev: vec![0; window],
            max_dist: window - 1,
            hash_shift: 32 - hash_bits(window_bits),
            swept_at: 0,
            waiting: false,
            prev_len: 0,
            prev_dist: 0,
            #[cfg(test)]
            max_dist_sent: 0,
            #[cfg(test)]
            peak: 0,
        }
    }

    /// Bytes a chain's hash is taken over: 4 when there is a 3-byte table
    /// besides, else 3.
    fn hashed(&self) -> usize {
        if self.head3.is_empty() {
            3
        } else {
            4
        }
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<State>()
            + self.buf.capacity()
            + 2 * self.head.capacity()
            + 2 * self.head3.capacity()
            + 2 * self.prev.capacity()
    }

    fn forget(&mut self) {
        self.base += self.buf.len();
        self.buf.clear();
        self.pos = 0;
        self.tail = 0;
        self.waiting = false;
        self.prev_len = 0;
    }

    fn compress(&mut self, input: &[u8], w: &mut BitWriter<'_>, params: Params) {
        // Scratch for this message only, sized to it: room for the input
        // beyond the window (the whole message if it is short) and tokens
        // (a message of n bytes makes at most n).
        self.cap = self.max_dist + 1 + self.chunk.min(input.len());
        let want = self.cap.min(self.buf.len() + input.len());
        self.buf.reserve_exact(want - self.buf.len());
        let mut block = Block::with_room(BLOCK_TOKENS, input.len());
        let mut used = 0;
        loop {
            if self.buf.len() >= self.cap {
                self.slide();
            }
            let n = (self.cap.saturating_sub(self.buf.len())).min(input.len() - used);
            self.buf.extend_from_slice(&input[used..used + n]);
            used += n;
            let last = used == input.len();
            let hashed = self.hashed();
            let four = hashed == 4;
            if four {
                self.insert_tail::<4>();
            } else {
                self.insert_tail::<3>();
            }
            self.sweep_if_due();
            let end = self.buf.len();
            let limit = if last {
                end
            } else {
                end.saturating_sub(MAX_MATCH)
            };
            match (params.lazy, four) {
                (true, true) => self.lazy::<4>(limit, input, w, params, &mut block),
                (true, false) => self.lazy::<3>(limit, input, w, params, &mut block),
                (false, true) => self.greedy::<4>(limit, input, w, params, &mut block),
                (false, false) => self.greedy::<3>(limit, input, w, params, &mut block),
            }
            // Every position before `pos` is in the tables now (or was
            // skipped on purpose), but for the last `hashed - 1`, whose
            // bytes may not all be here yet.
            let hashable = self.buf.len().saturating_sub(hashed - 1);
            self.tail = self.tail.max(self.pos.min(hashable));
            if last {
                break;
            }
        }
        if self.waiting {
            let byte = self.buf[self.pos - 1];
            if block.literal(byte) {
                block.send(w, input);
            }
            self.waiting = false;
            self.prev_len = 0;
        }
        block.send(w, input);
        #[cfg(test)]
        {
            self.max_dist_sent = self.max_dist_sent.max(block.max_dist);
            self.peak = self.peak.max(self.heap_bytes() + block.heap_bytes());
        }
        drop(block);
        self.keep_window();
    }

    /// At the end of a message: keeps only the last `2^w` bytes, all the
    /// next message may refer to, in a buffer of at most `2^w` bytes.
    fn keep_window(&mut self) {
        debug_assert_eq!(self.pos, self.buf.len());
        let window = self.max_dist + 1;
        let keep_from = self.buf.len().saturating_sub(window);
        if keep_from > 0 {
            self.buf.copy_within(keep_from.., 0);
            self.buf.truncate(window);
            self.base += keep_from;
            self.pos -= keep_from;
            self.tail = self.tail.saturating_sub(keep_from);
        }
        self.buf.shrink_to(window);
    }

    /// Drops the bytes more than a window before `pos`.
    fn slide(&mut self) {
        let keep_from = self.pos.saturating_sub(self.max_dist + 1);
        if keep_from == 0 {
            return;
        }
        self.buf.copy_within(keep_from.., 0);
        self.buf.truncate(self.buf.len() - keep_from);
        self.base += keep_from;
        self.pos -= keep_from;
        self.tail = self.tail.saturating_sub(keep_from);
    }

    /// Inserts the positions at the end of the previous message whose `H`
    /// bytes have now arrived.
    fn insert_tail<const H: usize>(&mut self) {
        while self.tail < self.pos && self.tail + H <= self.buf.len() {
            self.insert::<H>(self.tail);
            self.tail += 1;
        }
        self.tail = self.tail.max(self.pos);
    }

    /// Marks table entries farther back than the window as empty, so none
    /// is still there when the 16-bit offsets wrap (module docs).
    fn sweep_if_due(&mut self) {
        let now = self.base + self.pos;
        if now - self.swept_at < SWEEP_EVERY {
            return;
        }
        self.swept_at = now;
        let now16 = now as u16;
        let empty = now16.wrapping_sub(self.max_dist as u16).wrapping_sub(1);
        let max_dist = self.max_dist as u16;
        // Branch-free, one table at a time, so the loop vectorizes.
        let sweep = |table: &mut [u16]| {
            for e in table {
                let far = now16.wrapping_sub(*e) > max_dist;
                *e = if far { empty } else { *e };
            }
        };
        sweep(&mut self.head);
        sweep(&mut self.head3);
        sweep(&mut self.prev);
    }

    /// Inserts position `p` (which needs `p + H <= buf.len()`) under the
    /// hash of its first `H` bytes, and with `H = 4` in the 3-byte table
    /// too; returns the previous head of its chain and, with `H = 4`, the
    /// previous entry of its 3-byte hash (else the chain's head again).
    #[inline(always)]
    fn insert<const H: usize>(&mut self, p: usize) -> (u16, u16) {
        let s = self.base + p;
        let Some(bytes) = self.buf.get(p..).and_then(|b| b.first_chunk::<H>()) else {
            return (s as u16, s as u16); // distance 0: no candidate
        };
        let key = bytes
            .iter()
            .rev()
            .fold(0u32, |key, &b| key << 8 | u32::from(b));
        let h = (key.wrapping_mul(0x9e37_79b1) >> self.hash_shift) as usize;
        let mask = self.head.len() - 1;
        let slot = &mut self.head[h & mask];
        let old = *slot;
        *slot = s as u16;
        self.prev[s & self.max_dist] = old;
        if H == 3 {
            return (old, old);
        }
        let h3 = ((key & 0x00ff_ffff).wrapping_mul(0x9e37_79b1) >> (32 - HASH3_BITS)) as usize;
        let Some(slot3) = self.head3.get_mut(h3) else {
            return (old, s as u16);
        };
        let old3 = *slot3;
        *slot3 = s as u16;
        (old, old3)
    }

    /// The longest match at `p` longer than `best_len`, following the chain
    /// from `cand` (with `H = 4`, after the 3-byte table's candidate
    /// `cand3`, for a match of 3 while none is in hand); `(0, 0)` if none.
    /// Matches end at `buf.len()`.
    #[inline(always)]
    fn longest_match<const H: usize>(
        &self,
        p: usize,
        (mut cand, cand3): (u16, u16),
        mut best_len: usize,
        max_chain: u32,
        nice: usize,
    ) -> (usize, usize) {
        // No candidate within reach (often so for a new byte): done before
        // any set-up.
        let now = (self.base + p) as u16;
        let reach = self.max_dist.min(p);
        let dist3 = usize::from(now.wrapping_sub(cand3));
        let three = H == 4 && best_len < MIN_MATCH && dist3.wrapping_sub(1) < reach;
        if !three && usize::from(now.wrapping_sub(cand)).wrapping_sub(1) >= reach {
            return (0, 0);
        }
        let buf = &self.buf[..];
        let max_len = MAX_MATCH.min(buf.len().saturating_sub(p));
        if max_len < H || best_len >= max_len {
            return (0, 0);
        }
        let here = &buf[p..p + max_len];
        // Every candidate starts before `p`, so its `max_len` bytes are in
        // `upto`.
        let upto = &buf[..p + max_len];
        let mut best_dist = 0;
        if three {
            // The last position with the same 3-byte hash: a 3-byte match
            // there is the nearest one (longer ones are on the chain).
            let c = p - dist3;
            if upto[c..c + 3] == here[..3] {
                best_len = common_prefix(&upto[c..], here);
                best_dist = dist3;
                if best_len >= nice || best_len >= max_len {
                    return (best_len, best_dist);
                }
            }
        }
        let (prev, mask) = (&self.prev[..], self.max_dist);
        let mut chain = max_chain;
        // A candidate must agree on the first two bytes and on the two
        // ending at `best_len` (else it is no longer): two 16-bit compares
        // reject most of them before the full comparison.
        let pair = |s: &[u8], i: usize| u16::from_le_bytes([s[i], s[i + 1]]);
        let start = pair(here, 0);
        let mut end = pair(here, best_len - 1);
        loop {
            let dist = usize::from(now.wrapping_sub(cand));
            // dist == 0 or dist > reach, in one compare.
            if dist.wrapping_sub(1) >= reach {
                break;
            }
            // `prev` is indexed by stream offset modulo the window, and the
            // 16-bit `cand` is that offset modulo 65 536: the next candidate
            // is one load away, whatever the current one turns out to be.
            let next = prev.get(usize::from(cand) & mask).copied().unwrap_or(now);
            let c = p - dist;
            if pair(upto, c + best_len - 1) == end && pair(upto, c) == start {
                let len = common_prefix(&upto[c..], here);
                if len > best_len {
                    best_len = len;
                    best_dist = dist;
                    if len >= nice || len >= max_len {
                        break;
                    }
                    end = pair(here, best_len - 1);
                }
            }
            chain -= 1;
            if chain == 0 {
                break;
            }
            cand = next;
        }
        if best_dist == 0 {
            (0, 0)
        } else {
            (best_len, best_dist)
        }
    }

    /// Greedy parsing of positions `pos..limit`.
    fn greedy<const H: usize>(
        &mut self,
        limit: usize,
        input: &[u8],
        w: &mut BitWriter<'_>,
        params: Params,
        block: &mut Block,
    ) {
        let end = self.buf.len();
        let mut p = self.pos;
        while p < limit {
            let (mut len, mut dist) = (0, 0);
            if p + H <= end {
                let cand = self.insert::<H>(p);
                (len, dist) =
                    self.longest_match::<H>(p, cand, MIN_MATCH - 1, params.max_chain, params.nice);
            }
            let full = if len >= MIN_MATCH {
                if len <= params.max_lazy {
                    for q in p + 1..(p + len).min(end.saturating_sub(H - 1)) {
                        self.insert::<H>(q);
                    }
                }
                p += len;
                block.matched(len, dist)
            } else {
                p += 1;
                block.literal(self.buf[p - 1])
            };
            if full {
                block.send(w, input);
            }
        }
        self.pos = p;
    }

    /// Lazy parsing of positions `pos..limit` (module docs).
    fn lazy<const H: usize>(
        &mut self,
        limit: usize,
        input: &[u8],
        w: &mut BitWriter<'_>,
        params: Params,
        block: &mut Block,
    ) {
        let end = self.buf.len();
        let mut p = self.pos;
        let (mut waiting, mut prev_len, mut prev_dist) =
            (self.waiting, self.prev_len, self.prev_dist);
        while p < limit {
            let (mut len, mut dist) = (0, 0);
            if p + H <= end {
                let cand = self.insert::<H>(p);
                if prev_len < params.max_lazy {
                    let chain = if prev_len >= params.good {
                        params.max_chain / 4
                    } else {
                        params.max_chain
                    };
                    (len, dist) = self.longest_match::<H>(
                        p,
                        cand,
                        prev_len.max(MIN_MATCH - 1),
                        chain.max(1),
                        params.nice,
                    );
                    if len == MIN_MATCH && dist > TOO_FAR {
                        len = 0;
                    }
                }
            }
            if prev_len >= MIN_MATCH && len <= prev_len {
                // The match at p - 1 stands: send it, insert its inside.
                let stop = p - 1 + prev_len;
                for q in p + 1..stop.min(end.saturating_sub(H - 1)) {
                    self.insert::<H>(q);
                }
                let full = block.matched(prev_len, prev_dist);
                p = stop;
                waiting = false;
                prev_len = 0;
                if full {
                    block.send(w, input);
                }
            } else if waiting {
                let full = block.literal(self.buf[p - 1]);
                prev_len = len;
                prev_dist = dist;
                p += 1;
                if full {
                    block.send(w, input);
                }
            } else {
                waiting = true;
                prev_len = len;
                prev_dist = dist;
                p += 1;
            }
        }
        self.pos = p;
        self.waiting = waiting;
        self.prev_len = prev_len;
        self.prev_dist = prev_dist;
    }
}

/// How many leading bytes `a` and `b` share, eight at a time.
#[inline(always)]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    while let (Some(x), Some(y)) = (
        a.get(i..).and_then(|s| s.first_chunk::<8>()),
        b.get(i..).and_then(|s| s.first_chunk::<8>()),
    ) {
        let diff = u64::from_le_bytes(*x) ^ u64::from_le_bytes(*y);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::{BitWriter, Deflater, Level, State, BLOCK_TOKENS, FAST_LAZY_UP_TO};
    use crate::deflate::block::write_stored;
    use crate::deflate::Inflater;

    const LEVELS: [Level; 3] = [Level::Fast, Level::Default, Level::Best];
    const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// Text-like bytes: words from a small vocabulary.
    fn text(n: usize, seed: u64) -> Vec<u8> {
        let words = [
            "the ",
            "socket ",
            "frame ",
            "deflate ",
            "window ",
            "message ",
            "of ",
            "a ",
            "{\"user\":",
            "\"text\":",
            "hello ",
            "world ",
            "\n",
            "compress ",
            "RFC ",
            "1951 ",
        ];
        let mut r = XorShift(seed | 1);
        let mut out = Vec::with_capacity(n + 16);
        while out.len() < n {
            out.extend_from_slice(words[(r.next() % 16) as usize].as_bytes());
        }
        out.truncate(n);
        out
    }

    /// Compresses `messages` with one `Deflater`, inflates them with one
    /// `Inflater` of the same window (with context takeover unless
    /// `takeover` is false, then both are reset after each message), checks
    /// every message comes back, and returns the compressed sizes.
    fn round_trip(level: Level, wbits: u8, messages: &[Vec<u8>], takeover: bool) -> Vec<usize> {
        let mut deflater = Deflater::new(level, wbits);
        let mut inflater = Inflater::new(wbits);
        let mut sizes = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let mut payload = Vec::new();
            deflater.compress_message(m, &mut payload);
            sizes.push(payload.len());
            assert!(!payload.ends_with(&TAIL) || payload.len() < 4 || m.is_empty());
            payload.extend_from_slice(&TAIL);
            let mut back = Vec::new();
            let progress = inflater
                .inflate(&payload, &mut back, m.len())
                .unwrap_or_else(|e| panic!("{level:?} w{wbits} message {i}: {e}"));
            assert_eq!(progress.consumed, payload.len());
            assert!(back == *m, "{level:?} w{wbits} message {i} differs");
            if !takeover {
                deflater.reset();
                inflater.reset();
            }
        }
        if let Some(state) = &deflater.state {
            assert!(state.max_dist_sent <= deflater.max_distance());
            assert!(state.max_dist_sent < 1 << wbits);
        }
        sizes
    }

    fn corpus(wbits: u8) -> Vec<Vec<u8>> {
        let window = 1usize << wbits;
        let mut r = XorShift(0x1234_5678_9abc_def1);
        let all: Vec<u8> = (0..=255).collect();
        vec![
            Vec::new(),
            vec![b'x'],
            b"ab".to_vec(),
            b"abc".to_vec(),
            text(1000, 1),
            text(1000, 1), // the same again: found through the window
            all.clone(),
            all.iter().rev().copied().collect(),
            vec![0; 100_000],
            vec![7; 259],
            r.bytes(3000),
            text(3 * window + 123, 2),
            Vec::new(),
            b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".to_vec(),
            r.bytes(70_000), // incompressible and over one stored block
            text(window - 1, 3),
            text(window, 3),
            text(window + 1, 3),
            text(150, 4),
            text(150, 5),
            text(150, 4),
        ]
    }

    #[test]
    fn fast_is_lazy_for_short_messages_and_greedy_for_long_ones() {
        assert!(Level::Fast.params(FAST_LAZY_UP_TO, 15).lazy);
        assert!(!Level::Fast.params(FAST_LAZY_UP_TO + 1, 15).lazy);
        assert!(Level::Default.params(1, 15).lazy && Level::Default.params(1 << 20, 8).lazy);
        // Both paths, alternating on one stream with takeover, at every
        // window: short chat-like messages, and ones just past the switch.
        for wbits in 8..=15 {
            let mut messages = Vec::new();
            for i in 0..40u64 {
                let n = [150, 60, FAST_LAZY_UP_TO, FAST_LAZY_UP_TO + 1, 3000][i as usize % 5];
                messages.push(text(n, i));
            }
            round_trip(Level::Fast, wbits, &messages, true);
            round_trip(Level::Fast, wbits, &messages, false);
        }
        // Lazy matching makes short messages smaller than greedy did.
        let messages: Vec<Vec<u8>> = text(30_000, 7).chunks(150).map(|c| c.to_vec()).collect();
        let lazy: usize = round_trip(Level::Fast, 11, &messages, true).iter().sum();
        let mut greedy = Deflater::new(Level::Fast, 11);
        let params = Level::Fast.params(FAST_LAZY_UP_TO + 1, 15);
        let mut size = 0;
        for m in &messages {
            let mut out = Vec::new();
            {
                let mut w = BitWriter::new(&mut out);
                let state = greedy.state.get_or_insert_with(|| Box::new(State::new(11)));
                state.compress(m, &mut w, params);
                write_stored(&mut w, &[]);
            }
            size += out.len() - 4;
        }
        assert!(lazy < size, "lazy {lazy} >= greedy {size}");
    }

    #[test]
    fn empty_message_is_one_zero_byte() {
        let mut d = Deflater::new(Level::Default, 15);
        let mut out = Vec::new();
        d.compress_message(b"", &mut out);
        assert_eq!(out, [0]);
        assert_eq!(d.state_bytes(), 0, "nothing allocated for nothing");
    }

    #[test]
    fn every_level_and_window_round_trips_with_and_without_takeover() {
        for wbits in 8..=15 {
            let messages = corpus(wbits);
            for level in LEVELS {
                round_trip(level, wbits, &messages, true);
                round_trip(level, wbits, &messages, false);
            }
        }
    }

    #[test]
    fn distances_stay_inside_the_smallest_window() {
        // Data that repeats at exactly 256 and 257 bytes: a compressor
        // allowed distance 256 would love it. Distances of 256 and more must
        // not appear with w = 8 (the largest emitted is 255).
        let mut r = XorShift(99);
        let unit = r.bytes(256);
        let mut m = Vec::new();
        for _ in 0..40 {
            m.extend_from_slice(&unit);
            m.push(r.next() as u8);
        }
        for level in LEVELS {
            let mut d = Deflater::new(level, 8);
            let mut out = Vec::new();
            d.compress_message(&m, &mut out);
            let state = d.state.as_ref().expect("allocated");
            assert!(state.max_dist_sent <= 255, "{}", state.max_dist_sent);
            round_trip(level, 8, &[m.clone(), m.clone()], true);
        }
        // And with w = 15 the same data reaches back far.
        let mut d = Deflater::new(Level::Default, 15);
        d.compress_message(&m, &mut Vec::new());
        assert!(d.state.as_ref().unwrap().max_dist_sent >= 256);
    }

    #[test]
    fn it_compresses_and_takeover_helps() {
        for level in LEVELS {
            let t = text(20_000, 7);
            let sizes = round_trip(level, 15, &[t], true);
            assert!(sizes[0] < 20_000 / 3, "{level:?}: {sizes:?}");
            // Random bytes do not compress, but a second copy is a chain of
            // 258-byte matches into the first message.
            let noise = XorShift(11).bytes(20_000);
            let sizes = round_trip(level, 15, &[noise.clone(), noise], true);
            assert!(sizes[0] > 20_000, "{level:?}: {sizes:?}");
            assert!(sizes[1] < 400, "{level:?}: {sizes:?}");
            let runs = round_trip(level, 15, &[vec![b'a'; 100_000]], true);
            assert!(runs[0] < 600, "{level:?}: {runs:?}");
        }
        // Default is no worse than Fast, Best no worse than Default.
        let t = text(50_000, 8);
        let s: Vec<usize> = LEVELS
            .iter()
            .map(|&l| round_trip(l, 15, std::slice::from_ref(&t), true)[0])
            .collect();
        assert!(s[1] <= s[0] && s[2] <= s[1], "{s:?}");
    }

    #[test]
    fn a_long_message_keeps_its_hash_chains_across_buffer_slides() {
        // Noise repeating every 20 000 bytes: after the first copy, all
        // matches at distance 20 000, found only if the chains stay right
        // through the buffer slides a 200 000-byte message makes.
        let unit = XorShift(21).bytes(20_000);
        let m: Vec<u8> = unit.iter().copied().cycle().take(200_000).collect();
        for level in LEVELS {
            let size = round_trip(level, 15, std::slice::from_ref(&m), true)[0];
            assert!(size < 23_500, "{level:?}: {size}");
        }
    }

    #[test]
    fn incompressible_input_is_stored() {
        let mut r = XorShift(5);
        for n in [1, 10, 1000, 65535, 65536, 200_000] {
            let m = r.bytes(n);
            let size = round_trip(Level::Default, 15, &[m], true)[0];
            // Stored: 5 bytes per block (at most BLOCK_TOKENS bytes each,
            // the block's token limit), plus the flush's 1 byte.
            assert!(size <= n + 5 * n.div_ceil(BLOCK_TOKENS) + 1, "{n}: {size}");
        }
    }

    #[test]
    fn tiny_inputs_use_small_blocks() {
        // A 1-byte message: fixed block of 3 + 8 + 7 bits and the flush.
        let size = round_trip(Level::Default, 15, &[b"a".to_vec()], true)[0];
        assert!(size <= 3, "{size}");
    }

    #[test]
    fn seeded_random_inputs_of_many_lengths_round_trip() {
        let mut r = XorShift(0xdead_beef_cafe_f00d);
        for round in 0..60 {
            let wbits = 8 + (round % 8) as u8;
            let level = LEVELS[round % 3];
            let messages: Vec<Vec<u8>> = (0..8)
                .map(|_| {
                    let n = (r.next() % 5000) as usize;
                    match r.next() % 4 {
                        0 => r.bytes(n),
                        1 => text(n, r.next()),
                        // Few distinct bytes: many short matches.
                        2 => (0..n).map(|_| b'a' + (r.next() % 3) as u8).collect(),
                        _ => {
                            let mut v = text(n, 3);
                            for b in v.iter_mut().step_by(7) {
                                *b = r.next() as u8;
                            }
                            v
                        }
                    }
                })
                .collect();
            round_trip(level, wbits, &messages, round % 2 == 0);
        }
    }

    #[test]
    fn four_byte_chains_still_find_three_byte_matches() {
        // From 13 bits on, chains are by four bytes: "abcY" is not on the
        // chain of "abcX", and only the 3-byte table finds the 3-byte match
        // at distance 4.
        let mut state = State::new(15);
        assert_eq!(state.hashed(), 4);
        // (Not at position 0: empty table entries point there.)
        state.buf.extend_from_slice(b"--abcXabcY--");
        for p in 0..6 {
            state.insert::<4>(p);
        }
        let cand = state.insert::<4>(6);
        assert_eq!(state.longest_match::<4>(6, cand, 2, 8, 128), (3, 4));
        // A 3-byte match is looked for only while none is in hand.
        assert_eq!(state.longest_match::<4>(6, cand, 3, 8, 128), (0, 0));
        // Small windows chain by three bytes and have no second table.
        assert_eq!(State::new(12).hashed(), 3);
        assert!(State::new(12).head3.is_empty());
    }

    #[test]
    fn between_messages_only_the_window_and_its_tables_are_held() {
        for wbits in 8..=15 {
            for level in LEVELS {
                let mut d = Deflater::new(level, wbits);
                assert_eq!(d.state_bytes(), 0);
                // Small messages with takeover: the history grows to the
                // window, and stays there.
                let all = text(3 << wbits, u64::from(wbits));
                let mut history = 0;
                for m in all.chunks(150) {
                    d.compress_message(m, &mut Vec::new());
                    history = (history + m.len()).min(1 << wbits);
                    let state = d.state.as_ref().expect("allocated");
                    assert!(state.buf.capacity() <= 1 << wbits);
                    assert_eq!(state.buf.len(), history);
                }
                assert_eq!(d.state_bytes(), Deflater::state_bytes_for(wbits));
                // A big message: the peak is as documented, and the scratch
                // is gone afterwards.
                d.compress_message(&text(100_000, 1), &mut Vec::new());
                assert_eq!(d.state_bytes(), Deflater::state_bytes_for(wbits));
                let peak = d.state.as_ref().unwrap().peak;
                assert_eq!(peak, Deflater::peak_bytes_for(wbits), "w = {wbits}");
                // reset keeps the memory, release frees it.
                d.reset();
                d.compress_message(b"x", &mut Vec::new());
                assert_eq!(d.state_bytes(), Deflater::state_bytes_for(wbits));
                d.release();
                assert_eq!(d.state_bytes(), 0);
            }
        }
    }

    #[test]
    fn scratch_is_sized_to_a_short_message() {
        let mut d = Deflater::new(Level::Default, 15);
        let mut out = Vec::new();
        for m in text(40_000, 3).chunks(150) {
            d.compress_message(m, &mut out);
        }
        let state = d.state.as_ref().unwrap();
        // The window's 32 768 plus 150 bytes of input and 150 tokens.
        assert_eq!(state.peak, Deflater::state_bytes_for(15) + 150 + 3 * 150);
    }

    #[test]
    fn window_bits_are_clamped() {
        assert_eq!(Deflater::new(Level::Fast, 0).window_size(), 256);
        assert_eq!(Deflater::new(Level::Fast, 20).window_size(), 32768);
        assert_eq!(Deflater::new(Level::Fast, 8).max_distance(), 255);
    }
}

/// Ratio and speed on a corpus, for people (not an assertion): run
/// `DEFLATE_CORPUS=DIR cargo test --release -p rusty_socket_core --lib
/// corpus_report -- --ignored --nocapture` with the files of
/// `zcmp --make-corpus DIR`.
#[cfg(test)]
mod report {
    use super::{Deflater, Level};
    use crate::deflate::Inflater;
    use std::time::Instant;

    fn run(level: Level, data: &[u8], size: Option<usize>) -> (usize, f64) {
        let mut best = f64::MAX;
        let mut total = 0;
        for _ in 0..3 {
            let mut d = Deflater::new(level, 15);
            let mut out = Vec::with_capacity(data.len());
            let t = Instant::now();
            total = 0;
            match size {
                None => {
                    d.compress_message(data, &mut out);
                    total = out.len();
                }
                Some(n) => {
                    for m in data.chunks(n) {
                        out.clear();
                        d.compress_message(m, &mut out);
                        total += out.len();
                    }
                }
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        (total, data.len() as f64 / best / 1e6)
    }

    fn check(level: Level, data: &[u8], size: Option<usize>) {
        let mut d = Deflater::new(level, 15);
        let mut i = Inflater::new(15);
        for m in data.chunks(size.unwrap_or(data.len()).max(1)) {
            let mut p = Vec::new();
            d.compress_message(m, &mut p);
            p.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let mut back = Vec::new();
            i.inflate(&p, &mut back, m.len()).expect("valid");
            assert!(back == m);
        }
    }

    /// The figures behind `ServerPolicy::default()`: the ratio of
    /// [`Level::Default`] on `chat.jsonl` cut into 150-byte messages with
    /// context takeover, per window, and what each window keeps between
    /// messages. `DEFLATE_CORPUS=DIR cargo test --release -p
    /// rusty_socket_core --lib window_bits_report -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints ratio per window on DEFLATE_CORPUS"]
    fn window_bits_report() {
        let Ok(dir) = std::env::var("DEFLATE_CORPUS") else {
            return;
        };
        let Ok(data) = std::fs::read(format!("{dir}/chat.jsonl")) else {
            return;
        };
        for wbits in [10, 11, 12, 15] {
            let mut d = Deflater::new(Level::Default, wbits);
            let mut total = 0;
            let mut out = Vec::new();
            for m in data.chunks(150) {
                out.clear();
                d.compress_message(m, &mut out);
                total += out.len();
            }
            println!(
                "chat.jsonl Default 150-byte messages w{wbits}: ratio {:.3}, kept between messages: deflater {} + inflater {} bytes",
                data.len() as f64 / total as f64,
                d.state_bytes(),
                Inflater::retained_bytes_for(wbits)
            );
        }
    }

    #[test]
    #[ignore = "prints ratio and speed on DEFLATE_CORPUS"]
    fn corpus_report() {
        let Ok(dir) = std::env::var("DEFLATE_CORPUS") else {
            return;
        };
        let levels: Vec<Level> = match std::env::var("LEVELS").as_deref() {
            Ok("fast") => vec![Level::Fast],
            Ok("default") => vec![Level::Default],
            _ => vec![Level::Fast, Level::Default, Level::Best],
        };
        let only = std::env::var("FILES").unwrap_or_default();
        for name in ["chat.jsonl", "text.txt", "binary.bin"] {
            if !only.is_empty() && !only.contains(name) {
                continue;
            }
            let Ok(data) = std::fs::read(format!("{dir}/{name}")) else {
                continue;
            };
            if let Ok(dump) = std::env::var("DEFLATE_DUMP") {
                for (level, wbits, size) in [
                    (Level::Fast, 15, 150),
                    (Level::Default, 15, 150),
                    (Level::Best, 15, 1 << 30),
                    (Level::Default, 8, 150),
                    (Level::Default, 8, 1 << 30),
                    (Level::Fast, 11, 4000),
                ] {
                    let mut d = Deflater::new(level, wbits);
                    let mut file = Vec::new();
                    for m in data.chunks(size) {
                        let mut p = Vec::new();
                        d.compress_message(m, &mut p);
                        file.extend_from_slice(&(p.len() as u32).to_be_bytes());
                        file.extend_from_slice(&p);
                    }
                    let path = format!("{dump}/{name}.{level:?}.w{wbits}.{size}.msgs");
                    std::fs::write(path, file).expect("writable DEFLATE_DUMP");
                }
            }
            for &level in &levels {
                for size in [None, Some(150)] {
                    check(level, &data, size);
                    let (out, mbs) = run(level, &data, size);
                    println!(
                        "ours {name:12} {level:?} {:>6} {} -> {out} ratio {:.3} comp {mbs:.1} MB/s",
                        size.map_or("whole".to_string(), |s| s.to_string()),
                        data.len(),
                        data.len() as f64 / out as f64
                    );
                }
            }
        }
    }
}
