//! The write queue of a blocking connection: frames encoded and waiting to
//! be sent, in the order the [`Connection`](crate::connection::Connection)
//! accepted them (section 5.3 masking included).
//!
//! Small frames are encoded into one buffer. A large payload that the
//! caller gave away (an owned `Vec`), or that an echo sends back from the
//! read buffer ("lent"), is not copied: it waits in the queue beside its
//! header, and [`WriteQueue::flush`] sends the buffer's pieces and the
//! payloads together in one vectored write.
//!
//! A lent payload is queued as a *range* of the read buffer, so every method
//! that sends takes `lent`, the read buffer's bytes. The connection flushes
//! its queue before the read buffer is filled again (its `fill` does both,
//! in that order), so a range always still holds the bytes it was queued
//! for.

use crate::close::{encode_close_payload, CloseFrame};
use crate::config::Config;
use crate::connection::Owed;
use crate::deflate::{DeflateParams, MessageCompressor, PerMessageDeflate};
use crate::entropy::masking_key;
use crate::error::Result;
use crate::frame::{FrameHeader, MAX_HEADER_LEN};
use crate::mask::{apply_mask, mask_into};
use crate::opcode::OpCode;
use crate::protocol::Role;
use std::io::{self, IoSlice, Write};
use std::ops::Range;

/// A frame's payload: borrowed (copied into the write buffer), given away
/// with the message, or lent from the read buffer (both sent without a
/// copy when they are large).
pub(crate) enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    /// `lent[range]`, see the module documentation.
    Lent(Range<usize>),
}

impl Payload<'_> {
    fn as_slice<'s>(&'s self, lent: &'s [u8]) -> &'s [u8] {
        match self {
            Payload::Borrowed(bytes) => bytes,
            Payload::Owned(bytes) => bytes,
            Payload::Lent(range) => &lent[range.clone()],
        }
    }

    /// The payload's length.
    pub(crate) fn len(&self, lent: &[u8]) -> usize {
        self.as_slice(lent).len()
    }
}

/// A large payload waiting in the queue.
#[derive(Debug)]
enum Queued {
    Owned(Vec<u8>),
    /// A range of the read buffer.
    Lent(Range<usize>),
}

/// Owned payloads at least this long are sent without being copied: below
/// it, a copy costs less than one more entry in the vectored write.
const ZERO_COPY_MIN: usize = 1024;

/// Encoded frames waiting to be sent (see the module documentation).
#[derive(Debug)]
pub(crate) struct WriteQueue {
    role: Role,
    /// Headers and small frames.
    buffer: Vec<u8>,
    /// Large payloads, each to be sent after `buffer[..offset]`.
    payloads: Vec<(usize, Queued)>,
    /// How many of `payloads` are lent from the read buffer.
    lent_count: usize,
    /// Bytes queued in `buffer` and `payloads` together.
    queued: usize,
    flush_at: usize,
    /// permessage-deflate's sending half, when it was negotiated.
    compressor: Option<MessageCompressor>,
}

impl WriteQueue {
    pub(crate) fn new(role: Role, config: &Config) -> WriteQueue {
        WriteQueue {
            role,
            buffer: Vec::new(),
            payloads: Vec::new(),
            lent_count: 0,
            queued: 0,
            flush_at: config.write_buffer_size.max(MAX_HEADER_LEN),
            compressor: None,
        }
    }

    /// Compresses whole data messages from now on (RFC 7692), as the
    /// handshake agreed, at the level and threshold of `settings`.
    pub(crate) fn enable_deflate(&mut self, params: &DeflateParams, settings: &PerMessageDeflate) {
        self.compressor = Some(MessageCompressor::new(
            self.role,
            params,
            settings.level,
            settings.min_size,
        ));
    }

    /// Whether nothing waits to be sent.
    pub(crate) fn is_empty(&self) -> bool {
        self.buffer.is_empty() && self.payloads.is_empty()
    }

    /// Whether enough is queued that it should be sent now.
    pub(crate) fn is_full(&self) -> bool {
        self.queued >= self.flush_at
    }

    /// Encodes one frame at the end of the queue; a client masks it with a
    /// fresh key (section 5.3). The caller has asked the connection's state
    /// machine whether the frame may be sent. With permessage-deflate, a
    /// whole text or binary message (one frame, `fin` set) is compressed
    /// and sent with RSV1 (RFC 7692 section 6); fragments you send
    /// yourself, and control frames, never are.
    ///
    /// # Errors
    /// Only if no masking key could be drawn.
    pub(crate) fn push(
        &mut self,
        lent: &[u8],
        fin: bool,
        opcode: OpCode,
        payload: Payload<'_>,
    ) -> Result<()> {
        let whole_data = fin && matches!(opcode, OpCode::Text | OpCode::Binary);
        if let (true, Some(compressor)) = (whole_data, &mut self.compressor) {
            let bytes = payload.as_slice(lent);
            let mut compressed = Vec::with_capacity(bytes.len() / 2 + 16);
            if compressor.compress(bytes, &mut compressed) {
                return self.push_frame(lent, fin, true, opcode, Payload::Owned(compressed));
            }
        }
        self.push_frame(lent, fin, false, opcode, payload)
    }

    /// [`Self::push`] without compression, for a message that must not be
    /// compressed (a secret sent next to text an attacker chooses: see
    /// [`crate::WebSocket::write_uncompressed`]).
    ///
    /// # Errors
    /// As [`Self::push`].
    pub(crate) fn push_uncompressed(
        &mut self,
        lent: &[u8],
        fin: bool,
        opcode: OpCode,
        payload: Payload<'_>,
    ) -> Result<()> {
        self.push_frame(lent, fin, false, opcode, payload)
    }

    fn push_frame(
        &mut self,
        lent: &[u8],
        fin: bool,
        rsv1: bool,
        opcode: OpCode,
        payload: Payload<'_>,
    ) -> Result<()> {
        let len = payload.len(lent);
        let masking_key = match self.role {
            Role::Client => Some(masking_key()?),
            Role::Server => None,
        };
        let header = FrameHeader {
            fin,
            rsv1,
            masking_key,
            ..FrameHeader::new(opcode, len as u64)
        };
        let before = self.buffer.len();
        // Large payloads that were given away or lent are sent from where
        // they are, after their header.
        let zero_copy = match payload {
            Payload::Owned(mut bytes) if len >= ZERO_COPY_MIN => {
                if let Some(key) = masking_key {
                    // The payload is ours now: mask it in place.
                    apply_mask(&mut bytes, key, 0);
                }
                Some(Queued::Owned(bytes))
            }
            // Lent bytes are the read buffer's: a client, which would have
            // to mask them, copies them instead.
            Payload::Lent(range) if len >= ZERO_COPY_MIN && masking_key.is_none() => {
                self.lent_count += 1;
                Some(Queued::Lent(range))
            }
            payload => {
                self.buffer.reserve(header.encoded_len() + len);
                header.append_to(&mut self.buffer);
                mask_into(&mut self.buffer, payload.as_slice(lent), masking_key, 0);
                None
            }
        };
        if let Some(queued) = zero_copy {
            header.append_to(&mut self.buffer);
            self.payloads.push((self.buffer.len(), queued));
            self.queued += len;
        }
        self.queued += self.buffer.len() - before;
        Ok(())
    }

    /// Encodes a close frame (`None`: without a body).
    ///
    /// # Errors
    /// As [`Self::push`].
    pub(crate) fn push_close(&mut self, frame: Option<&CloseFrame>) -> Result<()> {
        let mut payload = Vec::with_capacity(125);
        encode_close_payload(frame, &mut payload);
        self.push(&[], true, OpCode::Close, Payload::Borrowed(&payload))
    }

    /// Encodes what the state machine says we owe the peer.
    ///
    /// # Errors
    /// As [`Self::push`].
    pub(crate) fn push_owed(&mut self, owed: Owed<'_>) -> Result<()> {
        match owed {
            Owed::Pong(payload) => self.push(&[], true, OpCode::Pong, Payload::Borrowed(payload)),
            Owed::Close(frame) => self.push_close(frame.as_ref()),
        }
    }

    /// Whether payloads lent from the read buffer wait in the queue.
    pub(crate) fn has_lent(&self) -> bool {
        self.lent_count > 0
    }

    /// Replaces payloads lent from the read buffer by copies, for a write
    /// side that parts from the read buffer.
    pub(crate) fn copy_lent(&mut self, lent: &[u8]) {
        for (_, payload) in &mut self.payloads {
            if let Queued::Lent(range) = payload {
                *payload = Queued::Owned(lent[range.clone()].to_vec());
            }
        }
        self.lent_count = 0;
    }

    /// Sends everything queued, in one vectored write if the stream takes
    /// it all at once. The queue is empty afterwards, even on error (the
    /// stream is then broken: what part of the frames arrived is unknown).
    ///
    /// # Errors
    /// Whatever the stream's writes fail with.
    pub(crate) fn flush<W: Write + ?Sized>(&mut self, stream: &mut W, lent: &[u8]) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let result = if self.payloads.is_empty() {
            stream.write_all(&self.buffer)
        } else {
            // Interleave the buffer's pieces with the queued payloads.
            let mut slices = Vec::with_capacity(2 * self.payloads.len() + 1);
            let mut start = 0;
            for (offset, payload) in &self.payloads {
                slices.push(IoSlice::new(&self.buffer[start..*offset]));
                slices.push(IoSlice::new(match payload {
                    Queued::Owned(bytes) => bytes,
                    Queued::Lent(range) => &lent[range.clone()],
                }));
                start = *offset;
            }
            slices.push(IoSlice::new(&self.buffer[start..]));
            write_all_vectored(stream, &mut slices)
        };
        self.buffer.clear();
        self.payloads.clear();
        self.lent_count = 0;
        self.queued = 0;
        result?;
        stream.flush()?;
        Ok(())
    }

    /// Moves everything queued into `other` (which must be empty), leaving
    /// this queue empty with `other`'s allocations: a split connection's
    /// writer takes the queue this way, then writes it without the lock.
    pub(crate) fn swap_out(&mut self, other: &mut WriteQueue) {
        debug_assert!(other.is_empty() && !self.has_lent());
        std::mem::swap(&mut self.buffer, &mut other.buffer);
        std::mem::swap(&mut self.payloads, &mut other.payloads);
        other.queued = std::mem::take(&mut self.queued);
    }
}

/// `write_all` for a list of slices: one `write_vectored` call when the
/// stream takes everything at once, more when it does not.
fn write_all_vectored<W: Write + ?Sized>(
    stream: &mut W,
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match stream.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::CloseCode;
    use crate::frame::encode_frame;

    /// A stream that takes at most `max` bytes per write, and counts writes.
    struct Stingy {
        out: Vec<u8>,
        max: usize,
        writes: usize,
    }

    impl Write for Stingy {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            let n = buf.len().min(self.max);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        /// Takes from as many slices as `max` allows, as a socket does.
        fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
            self.writes += 1;
            let mut n = 0;
            for slice in slices {
                let take = slice.len().min(self.max - n);
                self.out.extend_from_slice(&slice[..take]);
                n += take;
                if n == self.max {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn server_queue() -> WriteQueue {
        WriteQueue::new(Role::Server, &Config::default())
    }

    fn expected(frames: &[(OpCode, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (opcode, payload) in frames {
            encode_frame(&mut out, true, *opcode, payload, None);
        }
        out
    }

    #[test]
    fn frames_go_out_in_order_whatever_their_payload_kind() {
        let big = vec![b'b'; 5000];
        let lent = vec![b'l'; 3000];
        for max in [1, 7, 1000, usize::MAX] {
            let mut queue = server_queue();
            queue
                .push(&lent, true, OpCode::Text, Payload::Borrowed(b"hi"))
                .unwrap();
            queue
                .push(&lent, true, OpCode::Binary, Payload::Owned(big.clone()))
                .unwrap();
            queue.push_owed(Owed::Pong(b"p")).unwrap();
            queue
                .push(&lent, true, OpCode::Binary, Payload::Lent(0..3000))
                .unwrap();
            queue
                .push_close(Some(&CloseFrame::new(CloseCode::NORMAL, "")))
                .unwrap();
            assert!(queue.has_lent());
            let mut stream = Stingy {
                out: Vec::new(),
                max,
                writes: 0,
            };
            queue.flush(&mut stream, &lent).unwrap();
            assert!(queue.is_empty() && !queue.has_lent());
            let want = expected(&[
                (OpCode::Text, b"hi"),
                (OpCode::Binary, &big),
                (OpCode::Pong, b"p"),
                (OpCode::Binary, &lent),
                (OpCode::Close, &[0x03, 0xe8]),
            ]);
            assert_eq!(stream.out, want, "max {max}");
            if max == usize::MAX {
                assert_eq!(stream.writes, 1, "one vectored write");
            }
        }
    }

    #[test]
    fn copied_lent_payloads_survive_the_read_buffer() {
        let mut lent = vec![b'x'; 2000];
        let mut queue = server_queue();
        queue
            .push(&lent, true, OpCode::Binary, Payload::Lent(0..2000))
            .unwrap();
        queue.copy_lent(&lent);
        assert!(!queue.has_lent());
        lent.fill(b'y');
        let mut stream = Stingy {
            out: Vec::new(),
            max: usize::MAX,
            writes: 0,
        };
        queue.flush(&mut stream, &[]).unwrap();
        assert_eq!(stream.out, expected(&[(OpCode::Binary, &[b'x'; 2000])]));
    }

    #[test]
    fn a_client_masks_every_frame_and_copies_what_is_lent() {
        let lent = vec![b'l'; 2000];
        let mut queue = WriteQueue::new(Role::Client, &Config::default());
        queue
            .push(&lent, true, OpCode::Binary, Payload::Lent(0..2000))
            .unwrap();
        assert!(!queue.has_lent());
        queue
            .push(
                &lent,
                true,
                OpCode::Binary,
                Payload::Owned(vec![b'o'; 2000]),
            )
            .unwrap();
        let mut stream = Stingy {
            out: Vec::new(),
            max: usize::MAX,
            writes: 0,
        };
        queue.flush(&mut stream, &[]).unwrap();
        let mut receiver = crate::Receiver::new(Role::Server, Config::default());
        let (used, first) = receiver.decode(&stream.out).unwrap();
        assert_eq!(first, Some(crate::Message::Binary(lent.clone())));
        let (_, second) = receiver.decode(&stream.out[used..]).unwrap();
        assert_eq!(second, Some(crate::Message::Binary(vec![b'o'; 2000])));
    }

    #[test]
    fn the_queue_is_full_at_the_write_buffer_size() {
        let config = Config {
            write_buffer_size: 100,
            ..Config::default()
        };
        let mut queue = WriteQueue::new(Role::Server, &config);
        queue
            .push(&[], true, OpCode::Text, Payload::Borrowed(&[b'a'; 90]))
            .unwrap();
        assert!(!queue.is_full());
        queue
            .push(&[], true, OpCode::Text, Payload::Borrowed(&[b'a'; 10]))
            .unwrap();
        assert!(queue.is_full());
    }

    #[test]
    fn swap_out_moves_everything() {
        let mut queue = server_queue();
        queue
            .push(&[], true, OpCode::Binary, Payload::Owned(vec![1; 4000]))
            .unwrap();
        let mut taken = server_queue();
        queue.swap_out(&mut taken);
        assert!(queue.is_empty() && !taken.is_empty());
        let mut stream = Stingy {
            out: Vec::new(),
            max: usize::MAX,
            writes: 0,
        };
        taken.flush(&mut stream, &[]).unwrap();
        assert_eq!(stream.out, expected(&[(OpCode::Binary, &[1; 4000])]));
    }
}
