//! The streaming inflater: DEFLATE blocks back to bytes (RFC 1951 sections
//! 3.2.3 to 3.2.7).
//!
//! A stream is a sequence of blocks, each starting with a 3-bit header
//! (section 3.2.3): `BFINAL` (is this the last block?) and `BTYPE` (00 =
//! stored, 01 = fixed Huffman codes, 10 = dynamic Huffman codes, 11 = an
//! error). A stored block (section 3.2.4) is copied through; a Huffman
//! block is a sequence of literal bytes and `<length, distance>` pairs
//! ending with symbol 256, and a pair means "copy `length` bytes starting
//! `distance` bytes back in the output" (section 3.2.5), which may overlap
//! what it is writing (distance 1, length 100 writes a run of 100 bytes).
//!
//! [`Inflater::inflate`] is a push decoder: it takes whatever input there
//! is, writes what it can, and remembers where it stopped, even in the middle
//! of a code, so input can be cut anywhere. Output goes straight into the
//! caller's `Vec`; matches that reach back before this call's output are
//! served from the *window*, a ring of the last `2^window_bits` bytes, which
//! is kept across calls and across streams (permessage-deflate's context
//! takeover) until [`Inflater::reset`].
//!
//! ## Speed
//!
//! While at least eight input bytes and 266 output bytes of room remain, a
//! fast loop runs: the bit buffer is topped up to 56..=63 bits with one
//! 8-byte load, enough for a whole literal or length/distance pair (at most
//! 15 + 5 + 15 + 13 = 48 bits), so a symbol needs no "is there enough
//! input?" check; a match is copied eight bytes at a time when its distance
//! allows, or by doubling the copied pattern when it overlaps. Near the end
//! of the input or the output limit a careful loop takes over, one byte of
//! input and one symbol at a time.
//!
//! ## Memory
//!
//! Allocated lazily: see the table in the `deflate` module's docs.

use super::bits::{low_bits, Bits};
use super::huffman::{
    code_len, extra_bits, fixed_literal_length_lengths, kind, value, Alphabet, DistanceTable,
    LiteralLengthTable, DISTANCE, END, FIXED_DISTANCE_LENGTHS, INVALID, LENGTH, LITERAL,
    MAX_CODE_LEN, SYMBOL,
};

/// What went wrong in a DEFLATE stream, or that the output limit was hit.
///
/// Apart from [`InflateError::OutputLimit`], an error is final: the
/// [`Inflater`] returns it again on every call until [`Inflater::reset`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// A block header with `BTYPE` = 11, "reserved (error)" (section 3.2.3).
    InvalidBlockType,
    /// A stored block whose `NLEN` is not the one's complement of `LEN`
    /// (section 3.2.4).
    StoredLengthMismatch {
        /// `LEN`, the number of data bytes claimed.
        len: u16,
        /// `NLEN`, which should have been `!len`.
        nlen: u16,
    },
    /// A dynamic block header declaring more codes than the alphabets have
    /// meaningful symbols: `HLIT` over 286 or `HDIST` over 30 (section 3.2.7;
    /// zlib refuses these too).
    TooManyCodes {
        /// The number of literal/length codes declared (`HLIT` + 257).
        literal_length: u16,
        /// The number of distance codes declared (`HDIST` + 1).
        distance: u8,
    },
    /// Code lengths that claim more codes than the bits can tell apart
    /// (section 3.2.2): no prefix code has them.
    OverSubscribed(Alphabet),
    /// Code lengths that leave bit patterns unused, where section 3.2.7
    /// does not allow it (only a distance code may be empty or a single
    /// one-bit code).
    Incomplete(Alphabet),
    /// A code length out of range or too many of them (never produced by a
    /// well-formed header; a guard for the table builder).
    InvalidCodeLengths(Alphabet),
    /// Code length symbol 16 ("copy the previous code length") as the first
    /// length of a dynamic header, when there is no previous length
    /// (section 3.2.7).
    RepeatWithoutPrevious,
    /// Code length repeats (symbols 16, 17, 18) running past the
    /// `HLIT + HDIST` lengths the header declared (section 3.2.7).
    CodeLengthsOverrun,
    /// A dynamic block that gives the end-of-block symbol 256 no code, so
    /// the block could never end (section 3.2.7 requires it).
    MissingEndOfBlock,
    /// Literal/length symbol 286 or 287, which have fixed codes but no
    /// meaning (section 3.2.6).
    InvalidLiteralLength(u16),
    /// Distance symbol 30 or 31 (fixed codes, section 3.2.6) or a bit
    /// pattern that is no code of an incomplete distance code (section
    /// 3.2.7); `None` in the latter case.
    InvalidDistance(Option<u8>),
    /// A distance larger than the window (`2^window_bits`): the peer
    /// compressed with a larger window than was agreed.
    DistanceBeyondWindow {
        /// The distance in the stream.
        distance: u16,
        /// The window size in bytes.
        window: usize,
    },
    /// A distance reaching back before the first byte of output (section
    /// 3.2.5: "a distance referring past the beginning of the output
    /// stream" is invalid).
    DistanceBeforeStart {
        /// The distance in the stream.
        distance: u16,
        /// How many bytes of history there were.
        available: usize,
    },
    /// The output reached the `max_out` given to [`Inflater::inflate`] and
    /// the stream has more. This one is not final: the output so far is in
    /// `out`, the inflater's state is intact, and calling again with
    /// `input[consumed..]` and more room continues where it stopped.
    OutputLimit {
        /// The limit that was reached.
        limit: usize,
        /// How many bytes of this call's input were used.
        consumed: usize,
    },
}

impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InflateError::InvalidBlockType => write!(f, "invalid DEFLATE block type 3"),
            InflateError::StoredLengthMismatch { len, nlen } => write!(
                f,
                "stored block LEN {len:#06x} does not match NLEN {nlen:#06x}"
            ),
            InflateError::TooManyCodes { literal_length, distance } => write!(
                f,
                "dynamic block declares {literal_length} literal/length and {distance} distance codes (at most 286 and 30)"
            ),
            InflateError::OverSubscribed(a) => write!(f, "over-subscribed {a} code lengths"),
            InflateError::Incomplete(a) => write!(f, "incomplete {a} code lengths"),
            InflateError::InvalidCodeLengths(a) => write!(f, "invalid {a} code lengths"),
            InflateError::RepeatWithoutPrevious => {
                write!(f, "code length repeat (16) with no previous length")
            }
            InflateError::CodeLengthsOverrun => {
                write!(f, "code length repeat runs past the declared number of codes")
            }
            InflateError::MissingEndOfBlock => {
                write!(f, "dynamic block has no code for end-of-block")
            }
            InflateError::InvalidLiteralLength(s) => {
                write!(f, "invalid literal/length symbol {s}")
            }
            InflateError::InvalidDistance(Some(s)) => write!(f, "invalid distance symbol {s}"),
            InflateError::InvalidDistance(None) => write!(f, "invalid distance code"),
            InflateError::DistanceBeyondWindow { distance, window } => write!(
                f,
                "distance {distance} is beyond the {window}-byte window"
            ),
            InflateError::DistanceBeforeStart { distance, available } => write!(
                f,
                "distance {distance} reaches before the start of the output ({available} bytes)"
            ),
            InflateError::OutputLimit { limit, .. } => {
                write!(f, "inflated output exceeds the limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for InflateError {}

/// How a call to [`Inflater::inflate`] ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every input byte was used and the stream has not ended. For
    /// permessage-deflate this is how a message normally ends (after its
    /// re-appended `00 00 ff ff`); otherwise, call again with more input.
    NeedInput,
    /// The block marked `BFINAL` ended: the stream is complete. Input after
    /// it is not consumed (`Progress::consumed` says where it stopped).
    /// Further calls return this again until [`Inflater::start_next_stream`]
    /// or [`Inflater::reset`].
    StreamEnd,
}

/// What one call to [`Inflater::inflate`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// How many bytes of the input it used.
    pub consumed: usize,
    /// How many bytes it appended to `out`.
    pub produced: usize,
    /// Why it stopped.
    pub status: Status,
}

/// Where the decoder is between two calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before a block header (3 bits).
    Header,
    /// Before a stored block's `LEN` and `NLEN`.
    StoredHeader,
    /// Inside a stored block, with this many bytes left.
    Stored(u16),
    /// Before a dynamic block's `HLIT`, `HDIST`, `HCLEN` (14 bits).
    DynamicHeader,
    /// Reading the 3-bit code length code lengths; `done` of `hclen` read.
    CodeLengthCodes {
        hlit: u16,
        hdist: u8,
        hclen: u8,
        done: u8,
    },
    /// Reading the literal/length and distance code lengths; `done` read.
    CodeLengths { hlit: u16, hdist: u8, done: u16 },
    /// Inside a Huffman block.
    Block,
    /// Inside a Huffman block, in the middle of a match that did not fit.
    Copy { len: u16, distance: u16 },
    /// After the final block.
    Done,
    /// After an error (kept until `reset`).
    Failed(InflateError),
}

/// The order in which section 3.2.7 sends the code length code lengths.
const CODE_LENGTH_ORDER: [u8; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Which codes the current Huffman block uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codes {
    None,
    /// Section 3.2.6's, from [`fixed_tables`], shared by every `Inflater`.
    Fixed,
    /// The block's own, in [`Inflater`]'s `tables`.
    Dynamic,
}

/// The decoding tables of the fixed codes (section 3.2.6), built once per
/// process on the first fixed block and shared by all inflaters, so an
/// `Inflater` needs no tables of its own for fixed blocks.
struct FixedTables {
    literal_length: LiteralLengthTable,
    distance: DistanceTable,
}

/// The fixed codes' decoding tables (built on first use).
fn fixed_tables() -> &'static FixedTables {
    static FIXED: std::sync::OnceLock<FixedTables> = std::sync::OnceLock::new();
    FIXED.get_or_init(|| {
        let mut t = FixedTables {
            literal_length: LiteralLengthTable::new(),
            distance: DistanceTable::new(),
        };
        // Both complete codes; a failure would leave tables that reject
        // every code, never a wrong decoding (and a test checks them).
        let lit = t
            .literal_length
            .build(&fixed_literal_length_lengths(), Alphabet::LiteralLength);
        let dist = t
            .distance
            .build(&FIXED_DISTANCE_LENGTHS, Alphabet::Distance);
        debug_assert!(lit.is_ok() && dist.is_ok());
        t
    })
}

/// The decoding tables of a dynamic block and its header's scratch space:
/// allocated at a dynamic block's header, freed whenever a call returns
/// between blocks (see [`Inflater::heap_bytes`]).
struct Tables {
    literal_length: LiteralLengthTable,
    distance: DistanceTable,
    /// The nonzero code lengths of a dynamic header, in the order read
    /// (HLIT literal/length then HDIST distance), each with its position
    /// in that sequence ([`noted`]); `used_count` of them so far. Zeros are
    /// not kept: the tables are built from these alone, and a short block
    /// uses a few dozen of its up to 316 symbols.
    used: [u16; 286 + 30],
    used_count: u16,
    /// How many codes of each length the header has so far: literal/length
    /// codes, then distance codes (`counts[_][0]` unused).
    counts: [[u16; MAX_CODE_LEN + 1]; 2],
    /// The code length code's lengths.
    code_lengths: [u8; 19],
}

/// The last bytes of output, a ring of exactly `2^window_bits` bytes once
/// allocated.
#[derive(Debug, Default)]
struct Window {
    /// Empty until the first output, then the ring.
    ring: Vec<u8>,
    /// Where the next byte goes.
    next: usize,
    /// How many bytes of the ring are history (at most its length).
    have: usize,
}

impl Window {
    /// Appends `data` to the history, keeping the last `size` bytes.
    fn update(&mut self, data: &[u8], size: usize) {
        if data.is_empty() {
            return;
        }
        if self.ring.len() != size {
            self.ring = vec![0; size];
            self.next = 0;
            self.have = 0;
        }
        if data.len() >= size {
            self.ring.copy_from_slice(&data[data.len() - size..]);
            self.next = 0;
            self.have = size;
            return;
        }
        let first = data.len().min(size - self.next);
        let (head, tail) = data.split_at(first);
        self.ring[self.next..self.next + first].copy_from_slice(head);
        self.ring[..tail.len()].copy_from_slice(tail);
        // The size is a power of two: a mask, not a division.
        debug_assert!(size.is_power_of_two());
        self.next = (self.next + data.len()) & (size - 1);
        self.have = (self.have + data.len()).min(size);
    }
}

/// A streaming DEFLATE decoder (RFC 1951) for raw streams, with a sliding
/// window kept across calls and streams: what permessage-deflate (RFC 7692)
/// needs to decompress messages.
///
/// Memory: nothing until the first output, then the `2^window_bits`-byte
/// window, kept until [`Inflater::release`] or drop; while inside a
/// dynamic block, also its 7 184 bytes of decoding tables, freed when a
/// call returns between blocks, as a permessage-deflate message always
/// ends (the table in the [module docs](crate::deflate#memory)).
///
/// # Example
///
/// ```
/// use rusty_socket_core::deflate::{Inflater, Status};
///
/// // "Hello" as permessage-deflate sends it: a fixed-code block, sync
/// // flushed, with the trailing 00 00 ff ff removed by the sender.
/// let mut payload = vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// payload.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]); // RFC 7692 7.2.2
/// let mut inflater = Inflater::new(15);
/// let mut out = Vec::new();
/// let progress = inflater.inflate(&payload, &mut out, 1 << 20)?;
/// assert_eq!(progress.status, Status::NeedInput);
/// assert_eq!(out, b"Hello");
/// # Ok::<(), rusty_socket_core::deflate::InflateError>(())
/// ```
pub struct Inflater {
    window_bits: u8,
    state: State,
    final_block: bool,
    codes: Codes,
    bits: Bits,
    window: Window,
    tables: Option<Box<Tables>>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("state", &self.state)
            .field("history", &self.window.have)
            .finish_non_exhaustive()
    }
}

/// The input and output of one call, with the positions in each.
struct Io<'a> {
    input: &'a [u8],
    pos: usize,
    /// The caller's `Vec`, zero-padded past `op` while decoding (the padding
    /// is room to write into; it is cut off before returning).
    out: &'a mut Vec<u8>,
    /// The end of the real output in `out`.
    op: usize,
    /// `out.len()` when the call began: this call's output is `out[start..op]`.
    start: usize,
    /// `out` never grows past this.
    limit: usize,
}

impl Io<'_> {
    /// Takes one input byte into `bits`; `false` if the input is used up.
    #[inline]
    fn pull(&mut self, bits: &mut Bits) -> bool {
        match self.input.get(self.pos) {
            Some(&byte) => {
                bits.push_byte(byte);
                self.pos += 1;
                true
            }
            None => false,
        }
    }

    /// Makes room for `want` more output bytes if the limit allows, and
    /// returns the room there is (possibly less than `want`). The padding
    /// grows by doubling, by exact reservations, so `out`'s capacity never
    /// exceeds the limit on our account.
    fn room(&mut self, want: usize) -> usize {
        let room = self.out.len() - self.op;
        if room >= want || self.out.len() >= self.limit {
            return room;
        }
        let grow = want.max(self.out.len() - self.start).max(1024);
        let new_len = self.out.len().saturating_add(grow).min(self.limit);
        self.out.reserve_exact(new_len - self.out.len());
        self.out.resize(new_len, 0);
        self.out.len() - self.op
    }
}

/// Why a decoding step stopped the call.
enum Halt {
    NeedInput,
    Full,
    End,
    Error(InflateError),
}

impl From<InflateError> for Halt {
    fn from(e: InflateError) -> Self {
        Halt::Error(e)
    }
}

impl Inflater {
    /// A decoder for raw DEFLATE streams whose distances reach at most
    /// `2^window_bits` bytes back (permessage-deflate's
    /// `client_max_window_bits` / `server_max_window_bits`, RFC 7692 section
    /// 7.1.2). `window_bits` is clamped to 8..=15. Allocates nothing.
    pub fn new(window_bits: u8) -> Self {
        Inflater {
            window_bits: window_bits.clamp(8, 15),
            state: State::Header,
            final_block: false,
            codes: Codes::None,
            bits: Bits::default(),
            window: Window::default(),
            tables: None,
        }
    }

    /// The window size in bytes, `2^window_bits`: the largest distance
    /// accepted.
    pub fn window_size(&self) -> usize {
        1 << self.window_bits
    }

    /// Forgets everything: the window (permessage-deflate without context
    /// takeover, RFC 7692 section 7.1.1), any error, and any stream in
    /// progress. Keeps the window's memory for the next message.
    pub fn reset(&mut self) {
        self.state = State::Header;
        self.final_block = false;
        self.bits = Bits::default();
        self.window.next = 0;
        self.window.have = 0;
        self.tables = None;
    }

    /// Forgets everything as [`Inflater::reset`] does and frees all heap
    /// memory: the same as a new `Inflater` with the same window.
    pub fn release(&mut self) {
        *self = Inflater::new(self.window_bits);
    }

    /// Heap bytes held right now: the window (`2^window_bits` once there
    /// has been output, 0 before and after [`Inflater::release`]), plus the
    /// dynamic block's decoding tables while a call has returned inside
    /// one (never after a whole permessage-deflate message, which ends
    /// between blocks). Not counted: the `Inflater` itself, wherever it
    /// lives.
    pub fn heap_bytes(&self) -> usize {
        self.window.ring.capacity() + self.tables.as_ref().map_or(0, |_| Self::TABLES_BYTES)
    }

    /// The bytes of a dynamic block's decoding tables (7 184).
    pub const TABLES_BYTES: usize = std::mem::size_of::<Tables>();

    /// Heap bytes an `Inflater` with this `window_bits` holds between
    /// messages once it has produced output: exactly the window.
    pub fn retained_bytes_for(window_bits: u8) -> usize {
        1 << window_bits.clamp(8, 15)
    }

    /// The most heap an `Inflater` with this `window_bits` holds during a
    /// call: the window and a dynamic block's tables.
    pub fn peak_bytes_for(window_bits: u8) -> usize {
        Self::retained_bytes_for(window_bits) + Self::TABLES_BYTES
    }

    /// After [`Status::StreamEnd`], begins a new stream that may refer back
    /// to the previous ones' output (RFC 7692 section 7.2.3.4: a message may
    /// end with a final block, and with context takeover the next message's
    /// stream still uses the window). The bits left of the final block's last
    /// byte are padding and are dropped.
    pub fn start_next_stream(&mut self) {
        if self.state == State::Done {
            self.state = State::Header;
            self.final_block = false;
            self.bits = Bits::default();
        }
    }

    /// Whether the final block of the stream has been decoded.
    pub fn is_stream_end(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as it can, appending the output to `out`
    /// but never letting `out.len()` exceed `max_out` (nor its capacity grow
    /// past `max_out` on our account), so a small input that would inflate
    /// to gigabytes stops at the limit having allocated no more than it.
    ///
    /// The input may be cut anywhere, even inside a code or a block header:
    /// the next call continues where this one stopped, and its output
    /// continues this one's.
    ///
    /// # Errors
    ///
    /// [`InflateError::OutputLimit`] when `max_out` is reached and the
    /// stream has more output (resumable: see its docs); any other variant
    /// when the stream is not valid DEFLATE or reaches back further than the
    /// window. Those are final until [`Inflater::reset`].
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<Progress, InflateError> {
        match self.state {
            State::Failed(e) => return Err(e),
            State::Done => {
                return Ok(Progress {
                    consumed: 0,
                    produced: 0,
                    status: Status::StreamEnd,
                })
            }
            _ => {}
        }
        let mut tables = self.tables.take();
        let start = out.len();
        let mut io = Io {
            input,
            pos: 0,
            out,
            op: start,
            start,
            limit: max_out.max(start),
        };
        let halt = self.run(&mut tables, &mut io);
        // Between blocks (or after the stream or an error) the tables are
        // of no further use: the next dynamic block brings its own codes.
        // Inside a dynamic block (its header or its symbols, even a match
        // cut short by the output limit) they are kept.
        let inside_dynamic = match self.state {
            State::CodeLengthCodes { .. } | State::CodeLengths { .. } => true,
            State::Block | State::Copy { .. } => self.codes == Codes::Dynamic,
            _ => false,
        };
        if !inside_dynamic {
            tables = None;
        }
        self.tables = tables;
        let (pos, op) = (io.pos, io.op);
        out.truncate(op);
        self.window.update(&out[start..], self.window_size());
        let produced = op - start;
        match halt {
            Halt::NeedInput => Ok(Progress {
                consumed: pos,
                produced,
                status: Status::NeedInput,
            }),
            Halt::End => Ok(Progress {
                consumed: pos,
                produced,
                status: Status::StreamEnd,
            }),
            Halt::Full => Err(InflateError::OutputLimit {
                limit: max_out,
                consumed: pos,
            }),
            Halt::Error(e) => {
                self.state = State::Failed(e);
                self.tables = None;
                Err(e)
            }
        }
    }

    /// The state machine: runs until the input, the room or the stream ends.
    fn run(&mut self, tables: &mut Option<Box<Tables>>, io: &mut Io<'_>) -> Halt {
        loop {
            let step = match self.state {
                State::Header => self.header(io),
                State::StoredHeader => self.stored_header(io),
                State::Stored(left) => self.stored(io, left),
                State::DynamicHeader => self.dynamic_header(io),
                State::CodeLengthCodes {
                    hlit,
                    hdist,
                    hclen,
                    done,
                } => self.code_length_codes(dynamic(tables), io, hlit, hdist, hclen, done),
                State::CodeLengths { hlit, hdist, done } => {
                    self.code_lengths(dynamic(tables), io, hlit, hdist, done)
                }
                State::Block => match self.codes {
                    Codes::Fixed => {
                        let f = fixed_tables();
                        self.block(&f.literal_length, &f.distance, io)
                    }
                    // Dynamic: built by its header. (None cannot be here;
                    // empty tables would reject every code, not panic.)
                    _ => {
                        let t = dynamic(tables);
                        self.block(&t.literal_length, &t.distance, io)
                    }
                },
                State::Copy { len, distance } => self.copy(io, len, distance),
                State::Done => {
                    self.bits.give_back(&mut io.pos);
                    Err(Halt::End)
                }
                State::Failed(e) => Err(Halt::Error(e)),
            };
            if let Err(halt) = step {
                return halt;
            }
        }
    }

    /// Takes bytes until `n` bits are held (`n` at most 48).
    #[inline]
    fn need(&mut self, io: &mut Io<'_>, n: u32) -> Result<(), Halt> {
        while self.bits.count < n {
            if !io.pull(&mut self.bits) {
                return Err(Halt::NeedInput);
            }
        }
        Ok(())
    }

    /// The block header (section 3.2.3): BFINAL, then BTYPE.
    fn header(&mut self, io: &mut Io<'_>) -> Result<(), Halt> {
        self.need(io, 3)?;
        let header = self.bits.peek(3);
        self.bits.consume(3);
        self.final_block = header & 1 == 1;
        self.state = match header >> 1 {
            0 => State::StoredHeader,
            1 => {
                self.codes = Codes::Fixed;
                State::Block
            }
            2 => State::DynamicHeader,
            _ => return Err(InflateError::InvalidBlockType.into()),
        };
        Ok(())
    }

    /// Where a block's end leads: the next header, or the end of the stream.
    fn end_of_block(&mut self) {
        self.state = if self.final_block {
            State::Done
        } else {
            State::Header
        };
    }

    /// A stored block's header (section 3.2.4): skip to the byte boundary,
    /// then `LEN` and `NLEN`, its one's complement.
    fn stored_header(&mut self, io: &mut Io<'_>) -> Result<(), Halt> {
        self.bits.align();
        self.need(io, 32)?;
        let len = self.bits.peek(16) as u16;
        let nlen = (self.bits.peek(32) >> 16) as u16;
        if len != !nlen {
            return Err(InflateError::StoredLengthMismatch { len, nlen }.into());
        }
        self.bits.consume(32);
        self.state = State::Stored(len);
        Ok(())
    }

    /// A stored block's data: bytes already in the bit buffer first, then
    /// straight from the input, as much as input and room allow.
    fn stored(&mut self, io: &mut Io<'_>, mut left: u16) -> Result<(), Halt> {
        while left > 0 && self.bits.count >= 8 {
            if io.room(1) == 0 {
                self.state = State::Stored(left);
                return Err(Halt::Full);
            }
            io.out[io.op] = self.bits.peek(8) as u8;
            io.op += 1;
            self.bits.consume(8);
            left -= 1;
        }
        while left > 0 {
            let available = io.input.len() - io.pos;
            if available == 0 {
                self.state = State::Stored(left);
                return Err(Halt::NeedInput);
            }
            let room = io.room(usize::from(left).min(available));
            if room == 0 {
                self.state = State::Stored(left);
                return Err(Halt::Full);
            }
            let n = usize::from(left).min(available).min(room);
            io.out[io.op..io.op + n].copy_from_slice(&io.input[io.pos..io.pos + n]);
            io.op += n;
            io.pos += n;
            left -= n as u16;
        }
        self.end_of_block();
        Ok(())
    }

    /// A dynamic block's counts (section 3.2.7): 5 bits HLIT, 5 bits HDIST,
    /// 4 bits HCLEN.
    fn dynamic_header(&mut self, io: &mut Io<'_>) -> Result<(), Halt> {
        self.need(io, 14)?;
        let hlit = self.bits.peek(5) as u16 + 257;
        let hdist = (self.bits.peek(10) >> 5) as u8 + 1;
        let hclen = (self.bits.peek(14) >> 10) as u8 + 4;
        if hlit > 286 || hdist > 30 {
            return Err(InflateError::TooManyCodes {
                literal_length: hlit,
                distance: hdist,
            }
            .into());
        }
        self.bits.consume(14);
        self.state = State::CodeLengthCodes {
            hlit,
            hdist,
            hclen,
            done: 0,
        };
        Ok(())
    }

    /// The code length code: HCLEN lengths of 3 bits, in
    /// [`CODE_LENGTH_ORDER`]; the rest are 0.
    fn code_length_codes(
        &mut self,
        t: &mut Tables,
        io: &mut Io<'_>,
        hlit: u16,
        hdist: u8,
        hclen: u8,
        mut done: u8,
    ) -> Result<(), Halt> {
        if done == 0 {
            t.code_lengths = [0; 19];
        }
        while done < hclen {
            if let Err(halt) = self.need(io, 3) {
                self.state = State::CodeLengthCodes {
                    hlit,
                    hdist,
                    hclen,
                    done,
                };
                return Err(halt);
            }
            let symbol = CODE_LENGTH_ORDER[usize::from(done) % 19];
            t.code_lengths[usize::from(symbol)] = self.bits.peek(3) as u8;
            self.bits.consume(3);
            done += 1;
        }
        self.codes = Codes::Dynamic;
        // The code length code (19 symbols, at most 7 bits) fits the
        // distance table's 8-bit first level, which is free until the end
        // of the header: a quarter of the literal/length table to fill.
        t.distance.build(&t.code_lengths, Alphabet::CodeLength)?;
        self.state = State::CodeLengths {
            hlit,
            hdist,
            done: 0,
        };
        Ok(())
    }

    /// The literal/length and distance code lengths (section 3.2.7), one
    /// sequence of HLIT + HDIST lengths coded with the code length code:
    /// 0..=15 are lengths, 16 repeats the previous length 3..=6 times (2
    /// extra bits), 17 and 18 repeat zero 3..=10 (3 bits) and 11..=138
    /// (7 bits) times.
    fn code_lengths(
        &mut self,
        t: &mut Tables,
        io: &mut Io<'_>,
        hlit: u16,
        hdist: u8,
        mut done: u16,
    ) -> Result<(), Halt> {
        let total = hlit + u16::from(hdist);
        if done == 0 {
            t.used_count = 0;
            t.counts = [[0; MAX_CODE_LEN + 1]; 2];
        }
        while done < total {
            // A length with its extra bits takes at most 7 + 7 bits: while
            // 8 input bytes remain, one load tops up for several of them.
            if self.bits.count < 14 {
                self.bits.refill(io.input, &mut io.pos);
            }
            let Some(e) = t.distance.decode(self.bits.buf, self.bits.count) else {
                if io.pull(&mut self.bits) {
                    continue;
                }
                self.state = State::CodeLengths { hlit, hdist, done };
                return Err(Halt::NeedInput);
            };
            // A complete code length code has only SYMBOL entries.
            let symbol = if kind(e) == SYMBOL { value(e) } else { 19 };
            let (extra, base) = match symbol {
                0..=15 => (0, 1),
                16 => (2, 3),
                17 => (3, 3),
                18 => (7, 11),
                _ => return Err(InflateError::InvalidCodeLengths(Alphabet::CodeLength).into()),
            };
            let used = code_len(e) + extra;
            if self.bits.count < used {
                if io.pull(&mut self.bits) {
                    continue;
                }
                self.state = State::CodeLengths { hlit, hdist, done };
                return Err(Halt::NeedInput);
            }
            let repeat = base + ((self.bits.buf >> code_len(e)) & low_bits(extra)) as u16;
            let length = match symbol {
                0..=15 => symbol as u8,
                16 => match done.checked_sub(1) {
                    Some(previous) => t.length_at(previous),
                    None => return Err(InflateError::RepeatWithoutPrevious.into()),
                },
                _ => 0,
            };
            let end = done + repeat;
            if end > total {
                return Err(InflateError::CodeLengthsOverrun.into());
            }
            if length != 0 {
                // A nonzero run is at most 6 long.
                for position in done..end {
                    if let Some(slot) = t.used.get_mut(usize::from(t.used_count)) {
                        *slot = noted(position, length);
                        t.used_count += 1;
                    }
                    t.counts[usize::from(position >= hlit)][usize::from(length)] += 1;
                }
            }
            self.bits.consume(used);
            done = end;
        }
        let used = &t.used[..usize::from(t.used_count)];
        let (lit, dist) = used.split_at(used.partition_point(|&n| noted_position(n) < hlit));
        if lit
            .binary_search_by_key(&256, |&n| noted_position(n))
            .is_err()
        {
            return Err(InflateError::MissingEndOfBlock.into());
        }
        let lit_symbols = lit
            .iter()
            .map(|&n| (usize::from(noted_position(n)), noted_length(n)));
        t.literal_length
            .build_counted(t.counts[0], lit_symbols, Alphabet::LiteralLength)?;
        let dist_symbols = dist
            .iter()
            .map(|&n| (usize::from(noted_position(n) - hlit), noted_length(n)));
        t.distance
            .build_counted(t.counts[1], dist_symbols, Alphabet::Distance)?;
        self.state = State::Block;
        Ok(())
    }

    /// Checks a distance against the window and the history there is
    /// (section 3.2.5).
    #[inline(always)]
    fn check_distance(&self, produced: usize, distance: usize) -> Result<(), InflateError> {
        let window = self.window_size();
        if distance > window {
            return Err(InflateError::DistanceBeyondWindow {
                distance: distance as u16,
                window,
            });
        }
        let available = produced + self.window.have;
        if distance > available {
            return Err(InflateError::DistanceBeforeStart {
                distance: distance as u16,
                available,
            });
        }
        Ok(())
    }

    /// A Huffman block: the fast loop while there is plenty of input and
    /// room, else one careful symbol.
    fn block(
        &mut self,
        ll: &LiteralLengthTable,
        d: &DistanceTable,
        io: &mut Io<'_>,
    ) -> Result<(), Halt> {
        if io.input.len() - io.pos >= 8 && io.room(FAST_ROOM) >= FAST_ROOM {
            let ended = self.fast(ll, d, io)?;
            // Whole bytes the fast loop took but did not use go back, so the
            // careful path and a following stored block see them in order.
            self.bits.give_back(&mut io.pos);
            if ended {
                self.end_of_block();
                return Ok(());
            }
        }
        self.block_slow(ll, d, io)
    }

    /// One literal, match or end of block, taking input a byte at a time.
    /// Nothing is used until the whole symbol (with its distance) is there,
    /// so stopping for input leaves the state as it was.
    fn block_slow(
        &mut self,
        ll: &LiteralLengthTable,
        dt: &DistanceTable,
        io: &mut Io<'_>,
    ) -> Result<(), Halt> {
        loop {
            let bits = self.bits;
            let Some(e) = ll.decode(bits.buf, bits.count) else {
                if io.pull(&mut self.bits) {
                    continue;
                }
                return Err(Halt::NeedInput);
            };
            match kind(e) {
                LITERAL => {
                    if io.room(1) == 0 {
                        return Err(Halt::Full);
                    }
                    io.out[io.op] = value(e) as u8;
                    io.op += 1;
                    self.bits.consume(code_len(e));
                    return Ok(());
                }
                END => {
                    self.bits.consume(code_len(e));
                    self.end_of_block();
                    return Ok(());
                }
                LENGTH => {
                    let used = code_len(e) + extra_bits(e);
                    if bits.count < used {
                        if io.pull(&mut self.bits) {
                            continue;
                        }
                        return Err(Halt::NeedInput);
                    }
                    let len =
                        value(e) + ((bits.buf >> code_len(e)) & low_bits(extra_bits(e))) as u32;
                    let rest = bits.buf >> used;
                    let Some(d) = dt.decode(rest, bits.count - used) else {
                        if io.pull(&mut self.bits) {
                            continue;
                        }
                        return Err(Halt::NeedInput);
                    };
                    if kind(d) != DISTANCE {
                        return Err(invalid_distance(d).into());
                    }
                    let used_d = code_len(d) + extra_bits(d);
                    if bits.count - used < used_d {
                        if io.pull(&mut self.bits) {
                            continue;
                        }
                        return Err(Halt::NeedInput);
                    }
                    let distance =
                        value(d) + ((rest >> code_len(d)) & low_bits(extra_bits(d))) as u32;
                    self.check_distance(io.op - io.start, distance as usize)?;
                    self.bits.consume(used + used_d);
                    self.state = State::Copy {
                        len: len as u16,
                        distance: distance as u16,
                    };
                    return Ok(());
                }
                _ => return Err(InflateError::InvalidLiteralLength(value(e) as u16).into()),
            }
        }
    }

    /// The rest of a match (its distance already checked), as much as fits.
    fn copy(&mut self, io: &mut Io<'_>, len: u16, distance: u16) -> Result<(), Halt> {
        let room = io.room(usize::from(len));
        let n = usize::from(len).min(room);
        if n > 0 {
            io.op = copy_match(
                &mut io.out[..],
                io.op,
                io.start,
                &self.window,
                usize::from(distance),
                n,
            );
        }
        if n < usize::from(len) {
            self.state = State::Copy {
                len: len - n as u16,
                distance,
            };
            return Err(Halt::Full);
        }
        self.state = State::Block;
        Ok(())
    }

    /// The fast loop of a Huffman block. Runs while at least 8 input bytes
    /// and [`FAST_ROOM`] output bytes are left; returns `true` at the end of
    /// the block, `false` when the careful path should take over (with the
    /// next symbol not yet used).
    ///
    /// Never inlined: inside the caller, which holds the rest of the
    /// decoder, the loop's registers went to whatever else was compiled
    /// in with it, and its speed moved with changes elsewhere (8% slower
    /// on whole files when the header code changed); on its own it keeps
    /// them, for the cost of one call per block.
    #[inline(never)]
    fn fast(
        &mut self,
        ll: &LiteralLengthTable,
        dt: &DistanceTable,
        io: &mut Io<'_>,
    ) -> Result<bool, InflateError> {
        // The positions and the output live in locals for the loop: with
        // them behind `io`, every byte written could (for the compiler)
        // have changed the `Vec`'s length or pointer, which it then read
        // again from memory at every symbol.
        let mut bits = self.bits;
        let input = io.input;
        let mut pos = io.pos;
        let start = io.start;
        let mut op = io.op;
        let out: &mut [u8] = &mut io.out[..];
        let result = loop {
            // At least 48 bits held: a length, its distance and their
            // extra bits take at most 15 + 5 + 15 + 13 of them, so every
            // code is whole and is decoded without asking.
            if bits.count < 48 && !bits.refill_unmasked(input, &mut pos) {
                break Ok(false);
            }
            if out.len() - op < FAST_ROOM {
                break Ok(false);
            }
            let e = ll.decode_full(bits.buf);
            let k = kind(e);
            if k == LITERAL {
                out[op] = value(e) as u8;
                op += 1;
                bits.consume(code_len(e));
                // Literals come in runs: up to two more straight away. Each
                // takes at most 15 of the 48 bits held, and a byte of the
                // room.
                for _ in 0..2 {
                    let e = ll.decode_full(bits.buf);
                    if kind(e) != LITERAL {
                        break;
                    }
                    out[op] = value(e) as u8;
                    op += 1;
                    bits.consume(code_len(e));
                }
                continue;
            }
            if k == END {
                bits.consume(code_len(e));
                break Ok(true);
            }
            if k != LENGTH {
                break Err(InflateError::InvalidLiteralLength(value(e) as u16));
            }
            let used = code_len(e) + extra_bits(e);
            let len = value(e) + ((bits.buf >> code_len(e)) & low_bits(extra_bits(e))) as u32;
            let rest = bits.buf >> used;
            let d = dt.decode_full(rest);
            if kind(d) != DISTANCE {
                break Err(invalid_distance(d));
            }
            let distance = value(d) + ((rest >> code_len(d)) & low_bits(extra_bits(d))) as u32;
            if let Err(e) = self.check_distance(op - start, distance as usize) {
                break Err(e);
            }
            bits.consume(used + code_len(d) + extra_bits(d));
            op = copy_match(
                out,
                op,
                start,
                &self.window,
                distance as usize,
                len as usize,
            );
        };
        io.pos = pos;
        io.op = op;
        bits.clear_above();
        self.bits = bits;
        result
    }
}

impl Tables {
    /// The code length read at `position` of the header's sequence: the
    /// last one noted if it is there, else zero (a run of zeros is not
    /// noted).
    fn length_at(&self, position: u16) -> u8 {
        match usize::from(self.used_count).checked_sub(1) {
            Some(last) if noted_position(self.used[last]) == position => {
                noted_length(self.used[last])
            }
            _ => 0,
        }
    }
}

/// A nonzero code length as [`Tables`] notes it: its position in the
/// header's sequence (below 316) in the low 9 bits, the length (1..=15)
/// in the top 4.
fn noted(position: u16, length: u8) -> u16 {
    position | u16::from(length) << 12
}

/// The position of a [`noted`] length.
fn noted_position(noted: u16) -> u16 {
    noted & 0x1ff
}

/// The length of a [`noted`] length.
fn noted_length(noted: u16) -> u8 {
    (noted >> 12) as u8
}

/// The dynamic tables, allocated if they are not yet.
fn dynamic(tables: &mut Option<Box<Tables>>) -> &mut Tables {
    tables.get_or_insert_with(|| {
        Box::new(Tables {
            literal_length: LiteralLengthTable::new(),
            distance: DistanceTable::new(),
            used: [0; 286 + 30],
            used_count: 0,
            counts: [[0; MAX_CODE_LEN + 1]; 2],
            code_lengths: [0; 19],
        })
    })
}

/// The output room the fast loop keeps: the longest match (258) plus the
/// 8 bytes an 8-byte copy may write past its end.
const FAST_ROOM: usize = 258 + 8;

/// The error for a distance entry that is not a distance.
fn invalid_distance(d: u32) -> InflateError {
    if kind(d) == INVALID && code_len(d) == 5 && value(d) >= 30 {
        InflateError::InvalidDistance(Some(value(d) as u8))
    } else {
        InflateError::InvalidDistance(None)
    }
}

/// Writes `len` bytes of a match `distance` bytes back at `out[op..]` (the
/// distance already checked, `len` bytes of room made) and returns the new
/// end of the output. This call's output began at `start`; the part of the
/// source before it comes from the window.
#[inline(always)]
fn copy_match(
    out: &mut [u8],
    op: usize,
    start: usize,
    window: &Window,
    distance: usize,
    len: usize,
) -> usize {
    let produced = op - start;
    if distance > produced {
        return copy_from_window(out, op, start, window, distance, len);
    }
    let src = op - distance;
    if distance >= 8 && out.len() - op >= len + 8 {
        // Eight bytes at a time: each chunk's source lies wholly before its
        // destination (distance >= 8), and the overshoot past `len` lands in
        // the padding, to be overwritten or cut off.
        let mut s = src;
        let mut d = op;
        while d < op + len {
            out.copy_within(s..s + 8, d);
            s += 8;
            d += 8;
        }
    } else if distance >= len {
        out.copy_within(src..src + len, op);
    } else if distance == 1 {
        let byte = out[src];
        out[op..op + len].fill(byte);
    } else {
        // Overlapping: the output repeats with period `distance`, so after
        // `done` bytes (a multiple of the period) `out[src..op + done]` can be
        // copied again: the copied pattern doubles each time.
        let mut done = 0;
        while done < len {
            let n = (len - done).min(distance + done);
            out.copy_within(src..src + n, op + done);
            done += n;
        }
    }
    op + len
}

/// A match that starts in the window (before this call's output), and may
/// run on into this call's output. With context takeover most matches of a
/// short message reach into earlier messages, so this is a hot path too.
#[inline]
fn copy_from_window(
    out: &mut [u8],
    op: usize,
    start: usize,
    window: &Window,
    distance: usize,
    len: usize,
) -> usize {
    let produced = op - start;
    let back = distance - produced; // 1..=window.have, checked before
    let size = window.ring.len();
    let from_window = back.min(len);
    if size == 0 || back > window.have {
        return op; // unreachable: the distance was checked against `have`
    }
    // The ring's size is a power of two (`2^window_bits`), so the wrap is
    // a mask: a division here cost more than the copy of a short match.
    let begin = (window.next + size - back) & (size - 1);
    let first = from_window.min(size - begin);
    let chunks = from_window.div_ceil(16) * 16;
    if first == from_window && begin + chunks <= size && out.len() - op >= chunks {
        // Sixteen bytes at a time, fixed-size copies rather than a call to
        // memmove for a few bytes: the source does not wrap, and the
        // overshoot past `from_window` lands in the padding, to be
        // overwritten or cut off.
        let mut k = 0;
        while k < from_window {
            out[op + k..op + k + 16].copy_from_slice(&window.ring[begin + k..begin + k + 16]);
            k += 16;
        }
    } else {
        out[op..op + first].copy_from_slice(&window.ring[begin..begin + first]);
        out[op + first..op + from_window].copy_from_slice(&window.ring[..from_window - first]);
    }
    let op = op + from_window;
    if len > from_window {
        // The rest starts at this call's first byte, `distance` back.
        return copy_match(out, op, start, window, distance, len - from_window);
    }
    op
}

#[cfg(test)]
mod tests {
    use super::super::vectors;
    use super::*;

    // ---- helpers -------------------------------------------------------

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// The noise of `scripts/deflate_vectors.py`.
    fn lcg(seed: u32, n: usize) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = (x.wrapping_mul(1_103_515_245).wrapping_add(12_345)) & 0x7fff_ffff;
                (x >> 16) as u8
            })
            .collect()
    }

    fn text() -> Vec<u8> {
        (0..12)
            .map(|i| {
                format!(
                    "Message {i}: the quick brown fox jumps over the lazy dog; \
                     WebSocket frames carry compressed payloads. "
                )
            })
            .collect::<String>()
            .into_bytes()
    }

    fn far(wbits: u32) -> Vec<u8> {
        let head: Vec<u8> = lcg(7, 40).iter().map(|b| b | 1).collect();
        let mut v = head.clone();
        v.resize((1 << wbits) - 262, 0);
        v.extend_from_slice(&head);
        v
    }

    const MESSAGES: [&[u8]; 4] = [
        b"Hello, permessage-deflate!",
        b"Hello, permessage-deflate! Hello again, with context takeover.",
        b"{\"type\":\"update\",\"id\":1,\"value\":\"Hello again\"}",
        b"{\"type\":\"update\",\"id\":2,\"value\":\"Hello again\"}",
    ];

    const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

    /// Feeds `pieces` one after another; the output and the last status.
    fn feed(
        inf: &mut Inflater,
        pieces: &[&[u8]],
        max: usize,
    ) -> Result<(Vec<u8>, Status), InflateError> {
        let mut out = Vec::new();
        let mut status = Status::NeedInput;
        for piece in pieces {
            let before = out.len();
            let p = inf.inflate(piece, &mut out, max)?;
            assert_eq!(p.produced, out.len() - before, "produced counts the output");
            if p.status == Status::NeedInput {
                assert_eq!(p.consumed, piece.len(), "NeedInput uses all input");
            }
            status = p.status;
        }
        Ok((out, status))
    }

    fn inflate_all(input: &[u8], wbits: u8) -> Result<(Vec<u8>, Status), InflateError> {
        feed(&mut Inflater::new(wbits), &[input], usize::MAX)
    }

    /// Writes bits LSB-first; Huffman codes MSB-first (section 3.1.1).
    #[derive(Default)]
    struct BitWriter {
        bytes: Vec<u8>,
        acc: u64,
        n: u32,
    }

    impl BitWriter {
        fn bits(&mut self, value: u32, n: u32) -> &mut Self {
            self.acc |= u64::from(value) << self.n;
            self.n += n;
            while self.n >= 8 {
                self.bytes.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
            self
        }
        fn code(&mut self, code: u32, len: u32) -> &mut Self {
            self.bits(code.reverse_bits() >> (32 - len), len)
        }
        fn align(&mut self) -> &mut Self {
            if self.n > 0 {
                self.bits(0, 8 - self.n % 8);
            }
            self
        }
        fn finish(&mut self) -> Vec<u8> {
            self.align();
            std::mem::take(&mut self.bytes)
        }
        /// A fixed-code literal/length symbol (section 3.2.6).
        fn fixed_symbol(&mut self, sym: u32) -> &mut Self {
            match sym {
                0..=143 => self.code(0x30 + sym, 8),
                144..=255 => self.code(0x190 + sym - 144, 9),
                256..=279 => self.code(sym - 256, 7),
                _ => self.code(0xc0 + sym - 280, 8),
            }
        }
        /// A length and distance with the fixed codes.
        fn fixed_match(&mut self, len: u32, dist: u32) -> &mut Self {
            let (sym, base, extra) = length_code(len);
            self.fixed_symbol(sym).bits(len - base, extra);
            let (dsym, dbase, dextra) = distance_code(dist);
            self.code(dsym, 5).bits(dist - dbase, dextra)
        }
        fn stored(&mut self, last: bool, data: &[u8]) -> &mut Self {
            self.bits(u32::from(last), 1).bits(0, 2).align();
            let len = data.len() as u32;
            self.bits(len, 16).bits(!len & 0xffff, 16);
            for &b in data {
                self.bits(u32::from(b), 8);
            }
            self
        }
    }

    const LBASE: [u32; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const DBASE: [u32; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];

    fn length_code(len: u32) -> (u32, u32, u32) {
        let i = if len == 258 {
            28
        } else {
            LBASE.iter().rposition(|&b| b <= len).unwrap().min(27)
        };
        let extra = if i < 8 || i == 28 {
            0
        } else {
            (i as u32 - 4) / 4
        };
        (257 + i as u32, LBASE[i], extra)
    }

    fn distance_code(dist: u32) -> (u32, u32, u32) {
        let i = DBASE.iter().rposition(|&b| b <= dist).unwrap();
        let extra = if i < 4 { 0 } else { (i as u32 - 2) / 2 };
        (i as u32, DBASE[i], extra)
    }

    /// A tiny greedy LZ77 encoder with fixed codes, to make large or
    /// far-reaching streams in the tests (hash of 3 bytes, last position).
    fn fixed_lz77(data: &[u8], window: usize) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.bits(1, 1).bits(1, 2);
        let mut last = vec![usize::MAX; 1 << 12];
        let hash = |i: usize| {
            ((u32::from(data[i]) << 8 ^ u32::from(data[i + 1]) << 4 ^ u32::from(data[i + 2]))
                .wrapping_mul(2_654_435_761)
                >> 20) as usize
        };
        let mut i = 0;
        while i < data.len() {
            let mut best = 0;
            let mut dist = 0;
            if i + 3 <= data.len() {
                let h = hash(i);
                let cand = last[h];
                last[h] = i;
                if cand != usize::MAX && i - cand <= window {
                    let max = (data.len() - i).min(258);
                    let n = (0..max)
                        .take_while(|&k| data[cand + k] == data[i + k])
                        .count();
                    if n >= 3 {
                        best = n;
                        dist = i - cand;
                    }
                }
            }
            if best >= 3 {
                w.fixed_match(best as u32, dist as u32);
                for k in 1..best {
                    if i + k + 3 <= data.len() {
                        last[hash(i + k)] = i + k;
                    }
                }
                i += best;
            } else {
                w.fixed_symbol(u32::from(data[i]));
                i += 1;
            }
        }
        w.fixed_symbol(256);
        w.finish()
    }

    /// Canonical codes from lengths (the encoder's side of section 3.2.2).
    fn canonical(lengths: &[u8]) -> Vec<(u32, u32)> {
        let mut count = [0u32; 16];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        let mut next = [0u32; 16];
        let mut code = 0;
        for bits in 1..16 {
            code = (code + count[bits - 1]) << 1;
            next[bits] = code;
        }
        lengths
            .iter()
            .map(|&l| {
                let c = next[usize::from(l)];
                next[usize::from(l)] += 1;
                (c, u32::from(l))
            })
            .collect()
    }

    /// A dynamic block header whose code length code gives every one of the
    /// 19 symbols a code (13 of 4 bits, 6 of 5 bits), followed by `symbols`
    /// (code length symbols with their extra bits) and nothing else. `hlit`
    /// and `hdist` are the counts as declared.
    fn dynamic_header(
        w: &mut BitWriter,
        last: bool,
        hlit: u32,
        hdist: u32,
        symbols: &[(u32, u32)],
    ) {
        w.bits(u32::from(last), 1).bits(2, 2);
        w.bits(hlit - 257, 5).bits(hdist - 1, 5).bits(19 - 4, 4);
        let mut clen = [4u8; 19];
        clen[13..].fill(5);
        for symbol in CODE_LENGTH_ORDER {
            w.bits(u32::from(clen[usize::from(symbol)]), 3);
        }
        let codes = canonical(&clen);
        for &(sym, extra) in symbols {
            let (c, l) = codes[sym as usize];
            w.code(c, l);
            match sym {
                16 => w.bits(extra, 2),
                17 => w.bits(extra, 3),
                18 => w.bits(extra, 7),
                _ => w,
            };
        }
    }

    /// Code length symbols that send `lengths` plainly (no repeats).
    fn plain(lengths: &[u8]) -> Vec<(u32, u32)> {
        lengths.iter().map(|&l| (u32::from(l), 0)).collect()
    }

    // ---- hand-made streams ---------------------------------------------

    #[test]
    fn empty_final_stored_block_ends_the_stream() {
        let input = [0x01, 0x00, 0x00, 0xff, 0xff, 0xaa];
        let mut inf = Inflater::new(15);
        let mut out = Vec::new();
        let p = inf.inflate(&input, &mut out, 100).unwrap();
        assert_eq!(
            p,
            Progress {
                consumed: 5,
                produced: 0,
                status: Status::StreamEnd
            }
        );
        assert!(inf.is_stream_end());
        assert_eq!(inf.inflate(&input[5..], &mut out, 100).unwrap().consumed, 0);
    }

    #[test]
    fn sync_flush_marker_is_an_empty_stored_block() {
        let (out, status) = inflate_all(&[0x00, 0x00, 0x00, 0xff, 0xff], 15).unwrap();
        assert_eq!((out.len(), status), (0, Status::NeedInput));
    }

    #[test]
    fn stored_blocks_with_data() {
        let input = BitWriter::default()
            .stored(false, b"abc")
            .stored(false, b"")
            .stored(true, b"de")
            .finish();
        assert_eq!(
            inflate_all(&input, 15).unwrap(),
            (b"abcde".to_vec(), Status::StreamEnd)
        );
    }

    #[test]
    fn rfc7692_hello_fixed_codes() {
        // RFC 7692 section 7.2.3.1.
        let mut msg = vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        msg.extend_from_slice(&SYNC_TAIL);
        assert_eq!(
            inflate_all(&msg, 15).unwrap(),
            (b"Hello".to_vec(), Status::NeedInput)
        );
    }

    #[test]
    fn rfc7692_hello_twice_with_context_takeover() {
        // RFC 7692 section 7.2.3.2: the second "Hello" is one match into the
        // first message.
        let mut inf = Inflater::new(15);
        let first = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let second = [0xf2, 0x00, 0x11, 0x00, 0x00];
        for msg in [&first[..], &second[..]] {
            let (out, status) = feed(&mut inf, &[msg, &SYNC_TAIL], 1000).unwrap();
            assert_eq!((out, status), (b"Hello".to_vec(), Status::NeedInput));
        }
    }

    #[test]
    fn rfc7692_hello_stored() {
        // RFC 7692 section 7.2.3.3.
        let mut msg = vec![
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        msg.extend_from_slice(&SYNC_TAIL);
        assert_eq!(
            inflate_all(&msg, 15).unwrap(),
            (b"Hello".to_vec(), Status::NeedInput)
        );
    }

    #[test]
    fn final_fixed_block_hello() {
        let msg = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(
            inflate_all(&msg, 15).unwrap(),
            (b"Hello".to_vec(), Status::StreamEnd)
        );
    }

    #[test]
    fn fixed_block_made_by_hand() {
        // "abc" then <length 7, distance 3>: an overlapping copy.
        let mut w = BitWriter::default();
        w.bits(1, 1).bits(1, 2);
        for b in b"abc" {
            w.fixed_symbol(u32::from(*b));
        }
        w.fixed_match(7, 3).fixed_symbol(256);
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap(),
            (b"abcabcabca".to_vec(), Status::StreamEnd)
        );
    }

    #[test]
    fn dynamic_block_made_by_hand() {
        // Codes for 'a', 'b', end of block and length 3..4 (symbol 257 and
        // 258), two-bit codes each, and one distance code, 1 (distance 2):
        // "abab" + <3, 2> + "a".
        let mut lit = [0u8; 259];
        for s in [b'a' as usize, b'b' as usize, 256, 257] {
            lit[s] = 2;
        }
        let mut w = BitWriter::default();
        let mut symbols = vec![(0, 0); 0];
        symbols.push((18, 97 - 11)); // 97 zeros
        symbols.push((2, 0)); // 'a'
        symbols.push((2, 0)); // 'b'
        symbols.push((18, 138 - 11));
        symbols.push((18, 18 - 11)); // zeros up to 255
        symbols.extend(plain(&[0, 2, 2, 0, 0, 1])); // 255..=258, distances 0, 1
        dynamic_header(&mut w, true, 259, 2, &symbols);
        let lit_codes = canonical(&lit);
        let emit = |w: &mut BitWriter, s: usize| {
            let (c, l) = lit_codes[s];
            w.code(c, l);
        };
        for s in [b'a', b'b', b'a', b'b'] {
            emit(&mut w, usize::from(s));
        }
        emit(&mut w, 257); // length 3
        w.code(0, 1); // distance code 1: distance 2
        emit(&mut w, usize::from(b'a'));
        emit(&mut w, 256);
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap(),
            (b"abababaa".to_vec(), Status::StreamEnd)
        );
    }

    #[test]
    fn repeated_code_lengths_cross_from_literals_into_distances() {
        // The header notes only nonzero lengths, so a repeat (16) must
        // find its previous length there, or know it was a zero, and a
        // run that crosses HLIT must count on both sides. Literal/length
        // 'a', 'b', 256 and 257 and distance codes 0..=3 all have 2 bits;
        // 257 and distances 0 and 1 come from one repeat of 256's length.
        let mut symbols = plain(&[0]);
        symbols.push((16, 0)); // 16 repeating a zero: positions 1..=3
        symbols.push((18, 93 - 11)); // zeros up to 96
        symbols.extend(plain(&[2, 2])); // 'a', 'b'
        symbols.push((18, 138 - 11));
        symbols.push((18, 19 - 11)); // zeros up to 255
        symbols.extend(plain(&[2])); // 256
        symbols.push((16, 0)); // 257, then distances 0 and 1
        symbols.extend(plain(&[2, 2])); // distances 2 and 3
        let mut w = BitWriter::default();
        dynamic_header(&mut w, true, 258, 4, &symbols);
        let mut lit = [0u8; 258];
        for s in [b'a' as usize, b'b' as usize, 256, 257] {
            lit[s] = 2;
        }
        let lit_codes = canonical(&lit);
        let dist_codes = canonical(&[2, 2, 2, 2]);
        let emit = |w: &mut BitWriter, (c, l): (u32, u32)| {
            w.code(c, l);
        };
        for s in [b'a', b'b', b'a', b'b'] {
            emit(&mut w, lit_codes[usize::from(s)]);
        }
        emit(&mut w, lit_codes[257]); // length 3
        emit(&mut w, dist_codes[1]); // distance 2
        emit(&mut w, lit_codes[usize::from(b'a')]);
        emit(&mut w, lit_codes[257]); // length 3
        emit(&mut w, dist_codes[3]); // distance 4
        emit(&mut w, lit_codes[256]);
        let input = w.finish();
        let expected = (b"abababaaaba".to_vec(), Status::StreamEnd);
        assert_eq!(inflate_all(&input, 15).unwrap(), expected);
        // Cut inside the header anywhere: the notes survive the calls.
        for cut in 1..input.len() {
            let pieces = [&input[..cut], &input[cut..]];
            assert_eq!(
                feed(&mut Inflater::new(15), &pieces, usize::MAX).unwrap(),
                expected,
                "cut at {cut}"
            );
        }
        // Without 256's code the block could never end.
        symbols[7] = (0, 0); // 256 gets no code; the repeat copies a zero
        let mut w = BitWriter::default();
        dynamic_header(&mut w, true, 258, 4, &symbols);
        assert_eq!(
            inflate_all(&w.finish(), 15),
            Err(InflateError::MissingEndOfBlock)
        );
    }

    // ---- zlib's streams ------------------------------------------------

    #[test]
    fn zlib_text_is_a_dynamic_block() {
        let input = hex(vectors::TEXT);
        assert_eq!((input[0] >> 1) & 3, 2, "BTYPE 10");
        assert_eq!(
            inflate_all(&input, 15).unwrap(),
            (text(), Status::StreamEnd)
        );
    }

    #[test]
    fn zlib_binary() {
        let mut expected = lcg(1, 300);
        expected.extend(lcg(1, 120));
        expected.extend(lcg(2, 50));
        assert_eq!(inflate_all(&hex(vectors::BINARY), 15).unwrap().0, expected);
    }

    #[test]
    fn zlib_all_byte_values() {
        let mut expected: Vec<u8> = (0..=255).cycle().take(768).collect();
        expected.extend((0..=255u8).rev());
        assert_eq!(
            inflate_all(&hex(vectors::ALL_BYTES), 15).unwrap().0,
            expected
        );
    }

    #[test]
    fn zlib_long_runs_and_overlapping_copies() {
        let mut expected = vec![b'a'; 1000];
        expected.extend(b"ab".repeat(300));
        expected.extend(b"xyz".repeat(200));
        expected.extend([0; 500]);
        assert_eq!(inflate_all(&hex(vectors::RUNS), 15).unwrap().0, expected);
    }

    #[test]
    fn zlib_far_distance_window_9() {
        assert_eq!(inflate_all(&hex(vectors::FAR_9), 9).unwrap().0, far(9));
    }

    #[test]
    fn zlib_far_distance_window_15() {
        assert_eq!(inflate_all(&hex(vectors::FAR_15), 15).unwrap().0, far(15));
    }

    #[test]
    fn zlib_level_0_is_stored() {
        let input = hex(vectors::STORED);
        assert_eq!(input[0] & 6, 0, "BTYPE 00");
        assert_eq!(inflate_all(&input, 15).unwrap().0, text()[..300].to_vec());
    }

    #[test]
    fn zlib_fixed_codes() {
        let input = hex(vectors::FIXED);
        assert_eq!((input[0] >> 1) & 3, 1, "BTYPE 01");
        assert_eq!(
            inflate_all(&input, 15).unwrap().0,
            b"Hello, hello, hello WebSocket!".to_vec()
        );
    }

    #[test]
    fn zlib_one_mib_of_zeros() {
        let (out, status) = inflate_all(&hex(vectors::ZEROS_1MIB), 15).unwrap();
        assert_eq!((out.len(), status), (1 << 20, Status::StreamEnd));
        assert!(out.iter().all(|&b| b == 0));
    }

    #[test]
    fn sync_flushed_messages_with_context_takeover() {
        let mut inf = Inflater::new(15);
        let sync = [
            vectors::SYNC_0,
            vectors::SYNC_1,
            vectors::SYNC_2,
            vectors::SYNC_3,
        ];
        for (payload, expected) in sync.iter().zip(MESSAGES) {
            let (out, status) = feed(&mut inf, &[&hex(payload), &SYNC_TAIL], 1 << 20).unwrap();
            assert_eq!((out.as_slice(), status), (expected, Status::NeedInput));
        }
    }

    #[test]
    fn reset_forgets_the_window() {
        let mut inf = Inflater::new(15);
        feed(&mut inf, &[&hex(vectors::SYNC_0), &SYNC_TAIL], 1 << 20).unwrap();
        inf.reset();
        let err = feed(&mut inf, &[&hex(vectors::SYNC_1), &SYNC_TAIL], 1 << 20).unwrap_err();
        // The second message starts with a match into the first one.
        assert!(
            matches!(err, InflateError::DistanceBeforeStart { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn next_stream_after_a_final_block_keeps_the_window() {
        let mut inf = Inflater::new(15);
        let mut first = hex(vectors::STREAM_1);
        let len = first.len();
        first.extend_from_slice(b"trailing");
        let mut out = Vec::new();
        let p = inf.inflate(&first, &mut out, 1000).unwrap();
        assert_eq!(
            (p.consumed, p.status, out.as_slice()),
            (len, Status::StreamEnd, MESSAGES[0])
        );
        inf.start_next_stream();
        let (out, status) = inflate_all_on(&mut inf, &hex(vectors::STREAM_2));
        assert_eq!((out.as_slice(), status), (MESSAGES[1], Status::StreamEnd));
    }

    fn inflate_all_on(inf: &mut Inflater, input: &[u8]) -> (Vec<u8>, Status) {
        feed(inf, &[input], usize::MAX).unwrap()
    }

    // ---- input in pieces -----------------------------------------------

    fn split_vectors() -> Vec<(Vec<u8>, u8)> {
        let mut sync = Vec::new();
        for p in [
            vectors::SYNC_0,
            vectors::SYNC_1,
            vectors::SYNC_2,
            vectors::SYNC_3,
        ] {
            sync.extend(hex(p));
            sync.extend_from_slice(&SYNC_TAIL);
        }
        vec![
            (hex(vectors::TEXT), 15),
            (hex(vectors::FIXED), 15),
            (hex(vectors::RUNS), 15),
            (hex(vectors::BINARY), 15),
            (hex(vectors::FAR_9), 9),
            (hex(vectors::STORED), 15),
            (sync, 15),
        ]
    }

    #[test]
    fn every_split_point_gives_the_same_output() {
        for (input, wbits) in split_vectors() {
            let (whole, status) = inflate_all(&input, wbits).unwrap();
            for at in 0..=input.len() {
                let (a, b) = input.split_at(at);
                let got = feed(&mut Inflater::new(wbits), &[a, b], usize::MAX).unwrap();
                assert_eq!(got, (whole.clone(), status), "split at {at}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time_gives_the_same_output() {
        for (input, wbits) in split_vectors() {
            let whole = inflate_all(&input, wbits).unwrap();
            let pieces: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(
                feed(&mut Inflater::new(wbits), &pieces, usize::MAX).unwrap(),
                whole
            );
        }
    }

    #[test]
    fn far_stream_fed_in_odd_pieces() {
        let input = hex(vectors::FAR_15);
        for size in [1, 2, 3, 7, 8, 9, 31] {
            let pieces: Vec<&[u8]> = input.chunks(size).collect();
            assert_eq!(
                feed(&mut Inflater::new(15), &pieces, usize::MAX).unwrap().0,
                far(15),
                "{size}"
            );
        }
    }

    // ---- limits --------------------------------------------------------

    #[test]
    fn zip_bomb_stops_at_the_limit() {
        let input = hex(vectors::ZEROS_1MIB);
        let mut inf = Inflater::new(15);
        let mut out = Vec::new();
        let limit = 64 << 10;
        let err = inf.inflate(&input, &mut out, limit).unwrap_err();
        assert!(
            matches!(err, InflateError::OutputLimit { limit: 65536, .. }),
            "{err:?}"
        );
        assert_eq!(out.len(), limit);
        assert!(out.capacity() <= limit, "capacity {}", out.capacity());
    }

    #[test]
    fn output_limit_is_resumable() {
        let input = hex(vectors::ZEROS_1MIB);
        let mut inf = Inflater::new(15);
        let mut rest = &input[..];
        let mut total = 0;
        loop {
            let mut out = Vec::new();
            match inf.inflate(rest, &mut out, 10_000) {
                Err(InflateError::OutputLimit { consumed, .. }) => {
                    assert_eq!(out.len(), 10_000);
                    rest = &rest[consumed..];
                }
                Ok(p) => {
                    assert_eq!(p.status, Status::StreamEnd);
                    total += out.len();
                    break;
                }
                Err(e) => panic!("{e}"),
            }
            assert!(out.iter().all(|&b| b == 0));
            total += out.len();
        }
        assert_eq!(total, 1 << 20);
    }

    #[test]
    fn output_exactly_at_the_limit_is_not_an_error() {
        let input = hex(vectors::TEXT);
        let n = text().len();
        let mut out = Vec::new();
        let p = Inflater::new(15).inflate(&input, &mut out, n).unwrap();
        assert_eq!((p.status, out.len()), (Status::StreamEnd, n));
        let mut out = Vec::new();
        let err = Inflater::new(15)
            .inflate(&input, &mut out, n - 1)
            .unwrap_err();
        assert!(matches!(err, InflateError::OutputLimit { .. }));
        assert_eq!(out, text()[..n - 1].to_vec());
    }

    #[test]
    fn limit_counts_what_out_already_held() {
        let mut out = vec![1; 10];
        let err = Inflater::new(15)
            .inflate(&hex(vectors::TEXT), &mut out, 12)
            .unwrap_err();
        assert!(matches!(err, InflateError::OutputLimit { limit: 12, .. }));
        assert_eq!(&out[10..], &text()[..2]);
    }

    #[test]
    fn stored_block_stops_at_the_limit_and_resumes() {
        let input = BitWriter::default().stored(true, b"0123456789").finish();
        let mut inf = Inflater::new(15);
        let mut out = Vec::new();
        let err = inf.inflate(&input, &mut out, 4).unwrap_err();
        let InflateError::OutputLimit { consumed, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(out, b"0123");
        let p = inf.inflate(&input[consumed..], &mut out, 100).unwrap();
        assert_eq!(
            (out.as_slice(), p.status),
            (&b"0123456789"[..], Status::StreamEnd)
        );
    }

    #[test]
    fn memory_is_allocated_lazily() {
        let mut inf = Inflater::new(12);
        let mut out = Vec::new();
        inf.inflate(&[], &mut out, 100).unwrap();
        assert!(inf.tables.is_none() && inf.window.ring.capacity() == 0);
        inf.inflate(&[0x00, 0x00, 0x00, 0xff, 0xff], &mut out, 100)
            .unwrap();
        assert_eq!(inf.heap_bytes(), 0, "an empty stored block needs nothing");
        // A fixed block uses the shared fixed tables: only the window.
        inf.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        assert!(inf.tables.is_none());
        assert_eq!(inf.window.ring.len(), 4096);
        assert_eq!(inf.window.ring.capacity(), 4096);
        assert_eq!(inf.heap_bytes(), 4096);
        inf.release();
        assert_eq!(inf.heap_bytes(), 0);
    }

    #[test]
    fn between_messages_only_the_window_is_held() {
        // Messages from our compressor, with dynamic, fixed and stored
        // blocks among them, inflated with context takeover: after each
        // whole message (tail re-appended) the heap is exactly the window.
        use crate::deflate::{Deflater, Level};
        let all: Vec<u8> = text().iter().copied().cycle().take(40_000).collect();
        for wbits in 8..=15 {
            for level in [Level::Fast, Level::Default, Level::Best] {
                let mut d = Deflater::new(level, wbits);
                let mut inf = Inflater::new(wbits);
                for (i, m) in all.chunks(150 + 997 * (wbits as usize % 3)).enumerate() {
                    let mut p = Vec::new();
                    d.compress_message(m, &mut p);
                    p.extend_from_slice(&[0, 0, 0xff, 0xff]);
                    let mut back = Vec::new();
                    let progress = inf.inflate(&p, &mut back, usize::MAX).unwrap();
                    assert_eq!(progress.consumed, p.len());
                    assert!(back == m, "w{wbits} {level:?} message {i}");
                    assert!(inf.tables.is_none());
                    assert_eq!(inf.heap_bytes(), Inflater::retained_bytes_for(wbits));
                }
            }
        }
    }

    #[test]
    fn a_call_that_stops_inside_a_dynamic_block_keeps_its_tables() {
        // zlib's text vector is one dynamic block: cut it anywhere inside
        // and the tables must survive until the block is done.
        let input = hex(vectors::TEXT);
        let whole = inflate_all(&input, 15).unwrap().0;
        for cut in [3, 20, 60, input.len() / 2, input.len() - 2] {
            let mut inf = Inflater::new(15);
            let mut out = Vec::new();
            let p = inf.inflate(&input[..cut], &mut out, usize::MAX).unwrap();
            assert_eq!(p.status, Status::NeedInput);
            if cut > 20 {
                assert!(inf.tables.is_some(), "cut at {cut}");
                assert_eq!(inf.heap_bytes(), inf.window.ring.capacity() + 7184);
            }
            let p = inf.inflate(&input[cut..], &mut out, usize::MAX).unwrap();
            assert_eq!(p.status, Status::StreamEnd);
            assert!(out == whole, "cut at {cut}");
            assert_eq!(inf.heap_bytes(), 32768, "after the final block");
        }
        // Stopped by the output limit in the middle of the block: the same.
        let mut inf = Inflater::new(15);
        let mut out = Vec::new();
        let err = inf.inflate(&input, &mut out, 100).unwrap_err();
        let InflateError::OutputLimit { consumed, .. } = err else {
            panic!("{err:?}")
        };
        assert!(inf.tables.is_some());
        inf.inflate(&input[consumed..], &mut out, usize::MAX)
            .unwrap();
        assert!(out == whole);
        assert!(inf.tables.is_none());
    }

    #[test]
    fn tables_and_state_sizes_match_the_docs() {
        if cfg!(target_pointer_width = "64") {
            assert_eq!(std::mem::size_of::<Tables>(), 7184, "tables");
            assert_eq!(Inflater::TABLES_BYTES, 7184, "tables");
            assert_eq!(std::mem::size_of::<Inflater>(), 96, "Inflater");
        }
    }

    #[test]
    fn window_bits_are_clamped_to_8_through_15() {
        assert_eq!(Inflater::new(0).window_size(), 256);
        assert_eq!(Inflater::new(9).window_size(), 512);
        assert_eq!(Inflater::new(15).window_size(), 32768);
        assert_eq!(Inflater::new(200).window_size(), 32768);
    }

    #[test]
    fn start_next_stream_only_acts_after_the_end() {
        // In the middle of a stored block, it must not lose the state.
        let input = BitWriter::default().stored(true, b"abcdef").finish();
        let mut inf = Inflater::new(15);
        let mut out = Vec::new();
        inf.inflate(&input[..7], &mut out, 100).unwrap();
        inf.start_next_stream();
        let p = inf.inflate(&input[7..], &mut out, 100).unwrap();
        assert_eq!(
            (out.as_slice(), p.status),
            (&b"abcdef"[..], Status::StreamEnd)
        );
    }

    // ---- windows and distances -----------------------------------------

    #[test]
    fn distance_of_exactly_the_window() {
        let data = lcg(3, 32768);
        let mut w = BitWriter::default();
        w.stored(false, &data[..20000])
            .stored(false, &data[20000..]);
        w.bits(1, 1)
            .bits(1, 2)
            .fixed_match(3, 32768)
            .fixed_symbol(256);
        let (out, _) = inflate_all(&w.finish(), 15).unwrap();
        assert_eq!(&out[32768..], &data[..3]);
    }

    #[test]
    fn distance_beyond_window_8() {
        let data = lcg(4, 300);
        let make = |dist| {
            let mut w = BitWriter::default();
            w.stored(false, &data);
            w.bits(1, 1)
                .bits(1, 2)
                .fixed_match(3, dist)
                .fixed_symbol(256);
            w.finish()
        };
        let (out, _) = inflate_all(&make(256), 8).unwrap();
        assert_eq!(&out[300..], &data[44..47]);
        assert_eq!(
            inflate_all(&make(257), 8).unwrap_err(),
            InflateError::DistanceBeyondWindow {
                distance: 257,
                window: 256
            }
        );
        assert!(inflate_all(&make(257), 9).is_ok());
    }

    #[test]
    fn distance_before_start_of_output() {
        let mut w = BitWriter::default();
        w.bits(1, 1)
            .bits(1, 2)
            .fixed_symbol(u32::from(b'a'))
            .fixed_match(3, 2)
            .fixed_symbol(256);
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::DistanceBeforeStart {
                distance: 2,
                available: 1
            }
        );
    }

    #[test]
    fn fixed_lz77_round_trips_far_and_overlapping() {
        let mut data = lcg(5, 5000);
        data.extend(vec![7u8; 700]);
        data.extend(lcg(5, 3000));
        data.extend(b"abcabcabcabd".repeat(50));
        data.extend(lcg(6, 30000));
        data.extend(lcg(5, 2000));
        let (out, _) = inflate_all(&fixed_lz77(&data, 32768), 15).unwrap();
        assert!(out == data);
    }

    #[test]
    fn a_mebibyte_of_text_is_not_quadratic() {
        let words: Vec<&[u8]> = vec![
            b"frame ",
            b"mask ",
            b"opcode ",
            b"payload ",
            b"deflate ",
            b"window ",
            b"close\n",
        ];
        let mut data = Vec::with_capacity(1 << 20);
        let mut x = 12345u32;
        while data.len() < 1 << 20 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            data.extend_from_slice(words[x as usize % words.len()]);
        }
        let input = fixed_lz77(&data, 32768);
        let started = std::time::Instant::now();
        let (out, _) = inflate_all(&input, 15).unwrap();
        let took = started.elapsed();
        assert!(out == data);
        assert!(took.as_secs() < 5, "took {took:?}");
    }

    // ---- errors --------------------------------------------------------

    #[test]
    fn block_type_3_is_an_error() {
        assert_eq!(
            inflate_all(&[0x07], 15).unwrap_err(),
            InflateError::InvalidBlockType
        );
        assert_eq!(
            inflate_all(&[0x06], 15).unwrap_err(),
            InflateError::InvalidBlockType
        );
    }

    #[test]
    fn errors_are_final_until_reset() {
        let mut inf = Inflater::new(15);
        let mut out = Vec::new();
        assert!(inf.inflate(&[0x07], &mut out, 10).is_err());
        assert_eq!(
            inf.inflate(&[0x01, 0, 0, 0xff, 0xff], &mut out, 10),
            Err(InflateError::InvalidBlockType)
        );
        inf.reset();
        assert_eq!(
            inf.inflate(&[0x01, 0, 0, 0xff, 0xff], &mut out, 10)
                .unwrap()
                .status,
            Status::StreamEnd
        );
    }

    #[test]
    fn stored_len_nlen_mismatch() {
        assert_eq!(
            inflate_all(&[0x01, 0x05, 0x00, 0xfa, 0xfe], 15).unwrap_err(),
            InflateError::StoredLengthMismatch {
                len: 5,
                nlen: 0xfefa
            }
        );
    }

    #[test]
    fn over_subscribed_code_length_code() {
        // HCLEN = 4: lengths for 16, 17, 18, 0 all 1: four one-bit codes.
        let mut w = BitWriter::default();
        w.bits(1, 1).bits(2, 2).bits(0, 5).bits(0, 5).bits(0, 4);
        for _ in 0..4 {
            w.bits(1, 3);
        }
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::OverSubscribed(Alphabet::CodeLength)
        );
    }

    #[test]
    fn over_subscribed_literal_length_code() {
        let mut w = BitWriter::default();
        let mut lengths = vec![1u8; 257];
        lengths.push(1);
        dynamic_header(&mut w, true, 257, 1, &plain(&lengths));
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::OverSubscribed(Alphabet::LiteralLength)
        );
    }

    #[test]
    fn incomplete_literal_length_code() {
        let mut lengths = vec![0u8; 258];
        lengths[0] = 2;
        lengths[256] = 2;
        lengths[257] = 1;
        let mut w = BitWriter::default();
        dynamic_header(&mut w, true, 257, 1, &plain(&lengths));
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::Incomplete(Alphabet::LiteralLength)
        );
    }

    #[test]
    fn incomplete_distance_code_of_two_bits() {
        let mut lengths = vec![0u8; 259];
        lengths[0] = 1;
        lengths[256] = 1;
        lengths[258] = 2;
        let mut w = BitWriter::default();
        dynamic_header(&mut w, true, 257, 2, &plain(&lengths));
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::Incomplete(Alphabet::Distance)
        );
    }

    /// A block whose literal/length code is 'a' (code 0) and 256 (code 1)
    /// plus a length code 257 where the test says, and distance lengths
    /// `dist`.
    fn tiny_dynamic(dist: &[u8], body: impl Fn(&mut BitWriter)) -> Vec<u8> {
        let mut lengths = vec![0u8; 258];
        lengths[usize::from(b'a')] = 2;
        lengths[256] = 2;
        lengths[257] = 1;
        lengths.extend_from_slice(dist);
        let mut w = BitWriter::default();
        dynamic_header(&mut w, true, 258, dist.len() as u32, &plain(&lengths));
        body(&mut w);
        w.finish()
    }

    #[test]
    fn empty_distance_code_is_allowed_until_used() {
        // 'a' = 10, 256 = 11, 257 = 0.
        let ok = tiny_dynamic(&[0], |w| {
            w.code(0b10, 2).code(0b11, 2);
        });
        assert_eq!(inflate_all(&ok, 15).unwrap().0, b"a");
        let used = tiny_dynamic(&[0], |w| {
            w.code(0b10, 2).code(0, 1).code(0, 1);
        });
        assert_eq!(
            inflate_all(&used, 15).unwrap_err(),
            InflateError::InvalidDistance(None)
        );
    }

    #[test]
    fn single_one_bit_distance_code() {
        let ok = tiny_dynamic(&[1], |w| {
            w.code(0b10, 2).code(0, 1).code(0, 1).code(0b11, 2);
        });
        assert_eq!(inflate_all(&ok, 15).unwrap().0, b"aaaa");
        let unused_pattern = tiny_dynamic(&[1], |w| {
            w.code(0b10, 2).code(0, 1).code(1, 1);
        });
        assert_eq!(
            inflate_all(&unused_pattern, 15).unwrap_err(),
            InflateError::InvalidDistance(None)
        );
    }

    #[test]
    fn literal_length_286_and_287_are_invalid() {
        for sym in [286, 287] {
            let mut w = BitWriter::default();
            w.bits(1, 1).bits(1, 2).fixed_symbol(sym);
            assert_eq!(
                inflate_all(&w.finish(), 15).unwrap_err(),
                InflateError::InvalidLiteralLength(sym as u16)
            );
        }
    }

    #[test]
    fn distance_30_and_31_are_invalid() {
        for sym in [30, 31] {
            let mut w = BitWriter::default();
            w.bits(1, 1)
                .bits(1, 2)
                .fixed_symbol(u32::from(b'x'))
                .fixed_symbol(257)
                .code(sym, 5);
            w.bits(0, 16);
            assert_eq!(
                inflate_all(&w.finish(), 15).unwrap_err(),
                InflateError::InvalidDistance(Some(sym as u8))
            );
        }
    }

    #[test]
    fn invalid_symbols_are_caught_in_the_fast_loop_too() {
        // The same invalid symbols after a run of literals and with input to
        // spare, so that the fast loop (8 bytes of input, room for a match)
        // is the one that meets them.
        let run = |w: &mut BitWriter| {
            w.bits(1, 1).bits(1, 2);
            for _ in 0..40 {
                w.fixed_symbol(u32::from(b'x'));
            }
        };
        for sym in [286, 287] {
            let mut w = BitWriter::default();
            run(&mut w);
            w.fixed_symbol(sym).bits(0, 64).bits(0, 64);
            assert_eq!(
                inflate_all(&w.finish(), 15).unwrap_err(),
                InflateError::InvalidLiteralLength(sym as u16)
            );
        }
        for sym in [30, 31] {
            let mut w = BitWriter::default();
            run(&mut w);
            w.fixed_symbol(257).code(sym, 5).bits(0, 64).bits(0, 64);
            assert_eq!(
                inflate_all(&w.finish(), 15).unwrap_err(),
                InflateError::InvalidDistance(Some(sym as u8))
            );
        }
        // And a distance of 41 after 40 bytes: too far back.
        let mut w = BitWriter::default();
        run(&mut w);
        // Distance code 10 is 33..=48 with 3 extra bits: 33 + 8 = 41.
        w.fixed_symbol(257)
            .code(10, 5)
            .bits(8, 3)
            .bits(0, 64)
            .bits(0, 64);
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::DistanceBeforeStart {
                distance: 41,
                available: 40
            }
        );
    }

    #[test]
    fn repeat_16_first_is_an_error() {
        let mut w = BitWriter::default();
        dynamic_header(&mut w, true, 257, 1, &[(16, 0)]);
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::RepeatWithoutPrevious
        );
    }

    #[test]
    fn repeat_past_the_declared_count_is_an_error() {
        let mut w = BitWriter::default();
        // 257 + 1 = 258 lengths: 138 + 119 zeros, then 18 asks for 11 more.
        dynamic_header(&mut w, true, 257, 1, &[(18, 127), (18, 108), (18, 0)]);
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::CodeLengthsOverrun
        );
    }

    #[test]
    fn missing_end_of_block_code_is_an_error() {
        let mut lengths = vec![0u8; 258];
        lengths[0] = 1;
        lengths[1] = 1;
        let mut w = BitWriter::default();
        dynamic_header(&mut w, true, 257, 1, &plain(&lengths));
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::MissingEndOfBlock
        );
    }

    #[test]
    fn too_many_codes_is_an_error() {
        let mut w = BitWriter::default();
        w.bits(1, 1).bits(2, 2).bits(30, 5).bits(0, 5).bits(0, 4);
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::TooManyCodes {
                literal_length: 287,
                distance: 1
            }
        );
        let mut w = BitWriter::default();
        w.bits(1, 1).bits(2, 2).bits(0, 5).bits(30, 5).bits(0, 4);
        assert_eq!(
            inflate_all(&w.finish(), 15).unwrap_err(),
            InflateError::TooManyCodes {
                literal_length: 257,
                distance: 31
            }
        );
    }

    #[test]
    fn errors_display_what_was_wrong() {
        assert_eq!(
            InflateError::InvalidBlockType.to_string(),
            "invalid DEFLATE block type 3"
        );
        assert_eq!(
            InflateError::OverSubscribed(Alphabet::Distance).to_string(),
            "over-subscribed distance code lengths"
        );
        assert_eq!(
            InflateError::DistanceBeyondWindow {
                distance: 300,
                window: 256
            }
            .to_string(),
            "distance 300 is beyond the 256-byte window"
        );
    }

    // ---- hostile input ---------------------------------------------------

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for i in 0..4000 {
            let len = (rng.next() % 300) as usize;
            let mut input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if let Some(first) = input.first_mut() {
                // Steer a share of the inputs into each block type.
                *first = (*first & !6) | ((i % 4) << 1) as u8;
            }
            let wbits = 8 + (i % 8) as u8;
            let cut = if len == 0 {
                0
            } else {
                (rng.next() as usize) % len
            };
            let (a, b) = input.split_at(cut);
            let _ = feed(&mut Inflater::new(wbits), &[a, b], 1 << 16);
        }
    }

    #[test]
    fn mutated_streams_never_panic() {
        let mut rng = XorShift(42);
        let originals: Vec<Vec<u8>> = split_vectors().into_iter().map(|(v, _)| v).collect();
        for i in 0..3000 {
            let mut input = originals[i % originals.len()].clone();
            for _ in 0..1 + rng.next() % 3 {
                let at = (rng.next() as usize) % input.len();
                input[at] ^= 1 << (rng.next() % 8);
            }
            let max = (rng.next() % 5000) as usize;
            let _ = feed(&mut Inflater::new(8 + (i % 8) as u8), &[&input], max);
        }
    }

    #[test]
    fn messages_cut_at_every_byte_across_window_wraps() {
        // Small windows (8..=11 bits) wrap their ring every few 150-byte
        // messages, so matches served from the window cross the wrap, start
        // right before it, or end exactly at it. Every message of the
        // stream, cut into two pieces at the same offset (every offset), or
        // fed one byte at a time, with the output limit at the message's
        // length, must give back the same bytes as one call.
        use crate::deflate::{Deflater, Level};
        let mut all = Vec::new();
        for i in 0..40u32 {
            all.extend_from_slice(&lcg(i % 5, 23));
            all.extend_from_slice(
                format!("{{\"type\":\"message\",\"id\":{i},\"text\":\"hello again\"}} ").as_bytes(),
            );
        }
        for wbits in 8..=11u8 {
            for level in [Level::Fast, Level::Default] {
                let mut d = Deflater::new(level, wbits);
                let payloads: Vec<Vec<u8>> = all
                    .chunks(150)
                    .map(|m| {
                        let mut p = Vec::new();
                        d.compress_message(m, &mut p);
                        p.extend_from_slice(&SYNC_TAIL);
                        p
                    })
                    .collect();
                let longest = payloads.iter().map(Vec::len).max().unwrap();
                for cut in 0..=longest + 1 {
                    let mut inf = Inflater::new(wbits);
                    for (i, (p, m)) in payloads.iter().zip(all.chunks(150)).enumerate() {
                        let at = cut.min(p.len());
                        let (out, status) = if cut > longest {
                            let pieces: Vec<&[u8]> = p.chunks(1).collect();
                            feed(&mut inf, &pieces, m.len()).unwrap()
                        } else {
                            feed(&mut inf, &[&p[..at], &p[at..]], m.len()).unwrap()
                        };
                        assert_eq!(status, Status::NeedInput);
                        assert!(out == m, "w{wbits} {level:?} message {i} cut {cut}");
                    }
                }
            }
        }
    }
}
