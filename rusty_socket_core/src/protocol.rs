//! The receiving side of the protocol: which frames each role may receive,
//! and how frames become messages (RFC 6455 sections 5.1-5.6 and 7).
//!
//! [`Receiver`] is sans-IO: it is given bytes, and answers with how many it
//! used and, when one is complete, a [`Message`]. It never reads a socket, so
//! the same code serves the blocking [`crate::WebSocket`], a reader thread of
//! a split connection, or an event loop.
//!
//! For each frame, in order:
//! 1. [`FrameHeader::decode`] parses the header (syntax);
//! 2. [`Receiver`] applies the rules of the role (masking direction, RSV bits,
//!    control frame limits, fragmentation order, size limits) *before* any of
//!    the payload is buffered;
//! 3. the payload is consumed as it arrives, in as many pieces as the
//!    network delivers it: each piece is copied into the message (or control
//!    frame) being assembled and unmasked there; text is validated piece by
//!    piece;
//! 4. at the end of the frame, a control frame or the final fragment of a
//!    data message becomes a [`Message`].

use crate::close::parse_close_payload;
use crate::config::Config;
use crate::decoded::Decoded;
use crate::deflate::{DeflateParams, InflateFailure, MessageDecompressor};
use crate::error::{CapacityError, Error, ProtocolError};
use crate::frame::FrameHeader;
use crate::mask::{apply_mask, mask_into, unmask_checking_ascii};
use crate::message::{Assembler, Message};
use crate::opcode::OpCode;
use std::ops::Range;

/// Which end of the connection this is. The roles differ in masking
/// (section 5.1): a client masks every frame it sends and the server masks
/// none, and each side fails the connection if the other breaks that rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that accepted the connection.
    Server,
    /// The side that opened the connection.
    Client,
}

/// Where the receiver is within the frame stream.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for (the rest of) a frame header.
    Header,
    /// Inside the payload of `header`, with `received` bytes already consumed.
    Payload { header: FrameHeader, received: u64 },
}

/// A text or binary message that [`Receiver::decode_in_place`] found whole
/// at the start of its input, and unmasked there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InPlace {
    /// [`OpCode::Text`] or [`OpCode::Binary`].
    pub opcode: OpCode,
    /// Where the payload lies in the input.
    pub payload: Range<usize>,
    /// How many bytes of the input the frame took.
    pub used: usize,
}

/// Turns a stream of bytes into messages, enforcing every rule a receiver
/// must (see the module documentation).
///
/// ```
/// use rusty_socket_core::{Config, Message, Receiver, Role};
/// let mut receiver = Receiver::new(Role::Client, Config::default());
/// // "Hel" + "lo" as two fragments (RFC 6455 section 5.7).
/// let bytes = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
/// let (used, message) = receiver.decode(&bytes).unwrap();
/// assert_eq!((used, message), (9, Some(Message::text("Hello"))));
/// ```
#[derive(Debug)]
pub struct Receiver {
    role: Role,
    max_frame_size: usize,
    max_message_size: usize,
    state: State,
    assembler: Assembler,
    /// The payload of the control frame being received (at most 125 bytes).
    control: Vec<u8>,
    /// permessage-deflate's receiving half, when it was negotiated.
    decompressor: Option<MessageDecompressor>,
    /// Whether the data message being received had RSV1 on its first frame.
    compressed: bool,
}

impl Receiver {
    /// A receiver for `role` with the limits of `config`.
    pub fn new(role: Role, config: Config) -> Receiver {
        Receiver {
            role,
            max_frame_size: config.max_frame_size,
            max_message_size: config.max_message_size,
            state: State::Header,
            assembler: Assembler::new(config.max_message_size),
            control: Vec::new(),
            decompressor: None,
            compressed: false,
        }
    }

    /// Accepts compressed messages (RSV1 on their first frame) from now on,
    /// under the permessage-deflate parameters the handshake agreed (RFC
    /// 7692). Their inflated size counts against `max_message_size`, checked
    /// as they inflate, and compressed text is validated as it inflates.
    pub fn enable_deflate(&mut self, params: &DeflateParams) {
        self.decompressor = Some(MessageDecompressor::new(self.role, params));
    }

    /// Whether compressed messages are accepted.
    pub fn deflate_enabled(&self) -> bool {
        self.decompressor.is_some()
    }

    /// The role whose rules this receiver enforces.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the receiver stands between frames with no fragmented
    /// message unfinished.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header) && !self.assembler.in_progress()
    }

    /// Consumes bytes from the start of `input` until a message is complete
    /// or the input runs out. Returns the number of bytes used, which the
    /// caller must drop from its buffer, and the message if one completed.
    ///
    /// `input` is only read: payload bytes are unmasked in the copy that
    /// becomes the message. `Ok((n, None))` means "need more": call again
    /// with more bytes (and the `len - n` unused ones in front).
    ///
    /// # Errors
    /// The first rule the peer broke, as [`Error::Protocol`],
    /// [`Error::Capacity`] or [`Error::Utf8`]; its
    /// [`Error::close_code`] is what to fail the connection with. After an
    /// error the receiver must not be used again.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Message>), Error> {
        let mut used = 0;
        loop {
            match self.state {
                State::Header => {
                    let (header, len) = match FrameHeader::decode(&input[used..])? {
                        Decoded::Partial => return Ok((used, None)),
                        Decoded::Complete(header, len) => (header, len),
                    };
                    self.check_header(&header)?;
                    used += len;
                    self.state = State::Payload {
                        header,
                        received: 0,
                    };
                }
                State::Payload { header, received } => {
                    let remaining = header.payload_len - received;
                    let available = input.len() - used;
                    // `take` fits in usize: it is at most `available`.
                    let take = remaining.min(available as u64) as usize;
                    let chunk = &input[used..used + take];
                    // Where this piece starts within the 4-byte key cycle.
                    let offset = (received % 4) as usize;
                    if header.opcode.is_control() {
                        mask_into(&mut self.control, chunk, header.masking_key, offset);
                    } else if self.compressed {
                        self.inflate(chunk, header.masking_key, offset)?;
                    } else {
                        let whole_frame = header.fin && take as u64 == header.payload_len;
                        self.assembler
                            .extend(chunk, header.masking_key, offset, whole_frame)?;
                    }
                    used += take;
                    let received = received + take as u64;
                    if received < header.payload_len {
                        self.state = State::Payload { header, received };
                        return Ok((used, None));
                    }
                    self.state = State::Header;
                    if let Some(message) = self.end_frame(&header)? {
                        return Ok((used, Some(message)));
                    }
                }
            }
        }
    }

    /// Decodes the message at the start of `input` *where it lies*, if it
    /// can be: a text or binary message sent as one frame, which `input`
    /// holds whole, while no fragmented message is in progress. The frame
    /// is checked as [`Self::decode`] would check it, its payload is
    /// unmasked in place, and text is validated. The answer says where the
    /// payload is; drop [`InPlace::used`] bytes from the buffer once done
    /// with it.
    ///
    /// This is the zero-copy path: the message is read without being
    /// copied out of the buffer (see [`crate::WebSocket::read_in_place`]).
    ///
    /// `Ok(None)` means the input does not begin with such a message, or
    /// not yet all of it: nothing was changed, use [`Self::decode`].
    ///
    /// ```
    /// use rusty_socket_core::{Config, OpCode, Receiver, Role};
    /// let mut receiver = Receiver::new(Role::Server, Config::default());
    /// // A masked "Hello" (RFC 6455 section 5.7).
    /// let mut bytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let found = receiver.decode_in_place(&mut bytes).unwrap().unwrap();
    /// assert_eq!((found.opcode, found.used), (OpCode::Text, 11));
    /// assert_eq!(&bytes[found.payload], b"Hello");
    /// // A fragment is not a whole message: decode() assembles those.
    /// let mut first = [0x01, 0x83, 0, 0, 0, 0, b'H', b'e', b'l'];
    /// assert_eq!(receiver.decode_in_place(&mut first).unwrap(), None);
    /// ```
    ///
    /// # Errors
    /// As [`Self::decode`].
    pub fn decode_in_place(&mut self, input: &mut [u8]) -> Result<Option<InPlace>, Error> {
        if !self.is_idle() {
            return Ok(None);
        }
        let (header, header_len) = match FrameHeader::decode(input)? {
            Decoded::Partial => return Ok(None),
            Decoded::Complete(header, len) => (header, len),
        };
        let available = (input.len() - header_len) as u64;
        let data = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        // A compressed message is inflated into a buffer of its own.
        if !header.fin || !data || header.rsv1 || header.payload_len > available {
            return Ok(None);
        }
        self.check_rules(&header)?;
        if header.payload_len > self.max_message_size as u64 {
            return Err(CapacityError::MessageTooLarge {
                size: header.payload_len,
                max: self.max_message_size,
            }
            .into());
        }
        // It fits in `input`, so in usize.
        let payload = header_len..header_len + header.payload_len as usize;
        let bytes = &mut input[payload.clone()];
        let text = header.opcode == OpCode::Text;
        let ascii = match header.masking_key {
            Some(key) if text => unmask_checking_ascii(bytes, key, 0),
            Some(key) => {
                apply_mask(bytes, key, 0);
                false
            }
            None => text && bytes.is_ascii(),
        };
        if text && !ascii {
            std::str::from_utf8(bytes).map_err(|_| Error::Utf8)?;
        }
        Ok(Some(InPlace {
            opcode: header.opcode,
            used: payload.end,
            payload,
        }))
    }

    /// The rules a frame header must satisfy before its payload is read,
    /// and the start of the frame in the message being assembled.
    fn check_header(&mut self, header: &FrameHeader) -> Result<(), Error> {
        self.check_rules(header)?;
        if header.opcode.is_control() {
            self.control.clear();
            return Ok(());
        }
        if header.opcode != OpCode::Continuation {
            self.compressed = header.rsv1;
        }
        // A compressed frame's length says nothing of the message's size:
        // that is checked as it inflates.
        let counted = if self.compressed {
            0
        } else {
            header.payload_len
        };
        self.assembler.begin_frame(header.opcode, counted)
    }

    /// Inflates a piece of a compressed frame's payload into the message,
    /// unmasking it a block at a time on the stack.
    fn inflate(&mut self, chunk: &[u8], key: Option<[u8; 4]>, offset: usize) -> Result<(), Error> {
        let decompressor = self
            .decompressor
            .as_mut()
            .expect("a compressed frame passed check_rules only with deflate enabled");
        let mut block = [0u8; 4096];
        let mut offset = offset;
        for piece in chunk.chunks(block.len()) {
            let block = &mut block[..piece.len()];
            block.copy_from_slice(piece);
            if let Some(key) = key {
                apply_mask(block, key, offset);
            }
            offset += piece.len();
            self.assembler.extend_with(|payload, max| {
                decompressor
                    .inflate(block, payload, max)
                    .map_err(|e| inflate_error(e, max))
            })?;
        }
        Ok(())
    }

    /// The rules of section 5 that a frame header must satisfy by itself.
    fn check_rules(&self, header: &FrameHeader) -> Result<(), Error> {
        // Section 5.2: "MUST be 0 unless an extension is negotiated".
        // permessage-deflate defines RSV1 (RFC 7692 section 6), and only
        // for the first frame of a data message (section 6.1: "An endpoint
        // MUST NOT set the "Per-Message Compressed" bit of control frames
        // and non-first fragments of a data message").
        if header.rsv2 || header.rsv3 || (header.rsv1 && self.decompressor.is_none()) {
            return Err(ProtocolError::ReservedBits.into());
        }
        if header.rsv1 && (header.opcode.is_control() || header.opcode == OpCode::Continuation) {
            return Err(ProtocolError::MisplacedCompressedBit.into());
        }
        // Section 5.1: "The server MUST close the connection upon receiving a
        // frame that is not masked", and "A client MUST close a connection if
        // it detects a masked frame".
        match (self.role, header.masking_key) {
            (Role::Server, None) => return Err(ProtocolError::UnmaskedFrame.into()),
            (Role::Client, Some(_)) => return Err(ProtocolError::MaskedFrame.into()),
            _ => {}
        }
        if header.opcode.is_control() {
            // Section 5.5: "All control frames MUST have a payload length of
            // 125 bytes or less and MUST NOT be fragmented."
            if header.payload_len > 125 {
                return Err(ProtocolError::ControlFrameTooLong.into());
            }
            if !header.fin {
                return Err(ProtocolError::FragmentedControlFrame.into());
            }
        } else if header.payload_len > self.max_frame_size as u64 {
            return Err(CapacityError::FrameTooLarge {
                size: header.payload_len,
                max: self.max_frame_size,
            }
            .into());
        }
        Ok(())
    }

    /// Called once the whole payload of `header` has been consumed.
    fn end_frame(&mut self, header: &FrameHeader) -> Result<Option<Message>, Error> {
        match header.opcode {
            OpCode::Ping => Ok(Some(Message::Ping(std::mem::take(&mut self.control)))),
            OpCode::Pong => Ok(Some(Message::Pong(std::mem::take(&mut self.control)))),
            OpCode::Close => Ok(Some(Message::Close(parse_close_payload(&self.control)?))),
            _ if header.fin && self.compressed => {
                self.compressed = false;
                let decompressor = self
                    .decompressor
                    .as_mut()
                    .expect("a compressed message began only with deflate enabled");
                self.assembler.extend_with(|payload, max| {
                    decompressor
                        .finish(payload, max)
                        .map_err(|e| inflate_error(e, max))
                })?;
                self.assembler.end_frame(true)
            }
            _ => self.assembler.end_frame(header.fin),
        }
    }
}

/// The error a failed inflate fails the connection with: 1009 past the
/// message limit, 1007 for data that is not DEFLATE (the frames were well
/// formed; their content is not what RSV1 said it is).
fn inflate_error(failure: InflateFailure, max: usize) -> Error {
    match failure {
        InflateFailure::TooLarge => CapacityError::MessageTooLarge {
            size: max as u64 + 1,
            max,
        }
        .into(),
        InflateFailure::Invalid(e) => Error::Compression(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::{CloseCode, CloseFrame};
    use crate::frame::encode_frame;

    const KEY: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];

    /// A frame as a client sends it (masked).
    fn masked(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, fin, opcode, payload, Some(KEY));
        out
    }

    /// Feeds `input` to a server-side receiver in pieces of `step` bytes,
    /// collecting messages, as a reader with a tiny buffer would.
    fn feed(receiver: &mut Receiver, input: &[u8], step: usize) -> Result<Vec<Message>, Error> {
        feed_with(receiver, input, step, false)
    }

    /// As [`feed`], but as `WebSocket::read_in_place` reads: each whole
    /// message is first offered to `decode_in_place`, which must leave the
    /// input untouched whenever it declines.
    fn feed_in_place(
        receiver: &mut Receiver,
        input: &[u8],
        step: usize,
    ) -> Result<Vec<Message>, Error> {
        feed_with(receiver, input, step, true)
    }

    fn feed_with(
        receiver: &mut Receiver,
        input: &[u8],
        step: usize,
        in_place: bool,
    ) -> Result<Vec<Message>, Error> {
        let mut buffer = Vec::new();
        let mut messages = Vec::new();
        for piece in input.chunks(step.max(1)) {
            buffer.extend_from_slice(piece);
            loop {
                if in_place {
                    let before = buffer.clone();
                    if let Some(found) = receiver.decode_in_place(&mut buffer)? {
                        let payload = buffer[found.payload.clone()].to_vec();
                        let text = found.opcode == OpCode::Text;
                        messages.push(match text {
                            true => Message::Text(String::from_utf8(payload).unwrap()),
                            false => Message::Binary(payload),
                        });
                        buffer.drain(..found.used);
                        continue;
                    }
                    assert_eq!(buffer, before, "declined, yet changed the input");
                }
                let (used, message) = receiver.decode(&buffer)?;
                buffer.drain(..used);
                match message {
                    Some(message) => messages.push(message),
                    None => break,
                }
            }
        }
        Ok(messages)
    }

    fn server() -> Receiver {
        Receiver::new(Role::Server, Config::default())
    }

    #[test]
    fn byte_at_a_time_gives_the_same_messages_as_all_at_once() {
        let mut stream = Vec::new();
        stream.extend(masked(true, OpCode::Text, b"Hello"));
        stream.extend(masked(false, OpCode::Binary, &[1, 2, 3]));
        stream.extend(masked(true, OpCode::Ping, b"between fragments"));
        stream.extend(masked(true, OpCode::Continuation, &[4, 5]));
        stream.extend(masked(true, OpCode::Text, &vec![b'x'; 70_000]));
        stream.extend(masked(true, OpCode::Text, b""));
        stream.extend(masked(true, OpCode::Close, b"\x03\xe8done"));
        let expected = vec![
            Message::text("Hello"),
            Message::Ping(b"between fragments".to_vec()),
            Message::binary(vec![1, 2, 3, 4, 5]),
            Message::text("x".repeat(70_000)),
            Message::text(""),
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "done"))),
        ];
        for step in [1, 2, 3, 7, 64, 1000, stream.len()] {
            assert_eq!(
                feed(&mut server(), &stream, step).unwrap(),
                expected,
                "step {step}"
            );
            assert_eq!(
                feed_in_place(&mut server(), &stream, step).unwrap(),
                expected,
                "in place, step {step}"
            );
        }
    }

    #[test]
    fn payload_length_boundaries() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let frame = masked(true, OpCode::Binary, &payload);
            let messages = feed(&mut server(), &frame, 4096).unwrap();
            assert_eq!(
                messages,
                vec![Message::Binary(payload.clone())],
                "len {len}"
            );
            let messages = feed_in_place(&mut server(), &frame, frame.len()).unwrap();
            assert_eq!(
                messages,
                vec![Message::Binary(payload)],
                "in place, len {len}"
            );
        }
    }

    /// Each input must fail the connection with the given close code.
    #[test]
    fn violations_fail_with_the_right_close_code() {
        let unmasked = {
            let mut out = Vec::new();
            encode_frame(&mut out, true, OpCode::Text, b"hi", None);
            out
        };
        let with_rsv1 = {
            let mut frame = masked(true, OpCode::Text, b"hi");
            frame[0] |= 0x40;
            frame
        };
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("unmasked client frame", unmasked, 1002),
            ("rsv1 without extension", with_rsv1, 1002),
            ("reserved opcode", vec![0x83, 0x80, 0, 0, 0, 0], 1002),
            (
                "ping of 126 bytes",
                masked(true, OpCode::Ping, &[0; 126]),
                1002,
            ),
            ("fragmented ping", masked(false, OpCode::Ping, b"x"), 1002),
            (
                "continuation first",
                masked(true, OpCode::Continuation, b"x"),
                1002,
            ),
            (
                "text inside a fragmented message",
                [
                    masked(false, OpCode::Text, b"a"),
                    masked(true, OpCode::Text, b"b"),
                ]
                .concat(),
                1002,
            ),
            ("invalid utf-8", masked(true, OpCode::Text, b"\xff"), 1007),
            (
                "utf-8 cut at the end of the message",
                masked(true, OpCode::Text, b"\xe2\x82"),
                1007,
            ),
            (
                "close with one byte",
                masked(true, OpCode::Close, b"\x03"),
                1002,
            ),
            (
                "close code 1005",
                masked(true, OpCode::Close, b"\x03\xed"),
                1002,
            ),
            (
                "close code 999",
                masked(true, OpCode::Close, b"\x03\xe7"),
                1002,
            ),
            (
                "close with bad reason",
                masked(true, OpCode::Close, b"\x03\xe8\xff"),
                1002,
            ),
            (
                "close inside a fragmented message is fine, but a bad one is not",
                [
                    masked(false, OpCode::Text, b"a"),
                    masked(true, OpCode::Close, b"\x00"),
                ]
                .concat(),
                1002,
            ),
        ];
        for (name, input, code) in cases {
            let err = feed(&mut server(), &input, input.len()).expect_err(name);
            assert_eq!(err.close_code(), Some(CloseCode(code)), "{name}: {err}");
            let err = feed_in_place(&mut server(), &input, input.len()).expect_err(name);
            assert_eq!(
                err.close_code(),
                Some(CloseCode(code)),
                "in place, {name}: {err}"
            );
        }
    }

    #[test]
    fn a_client_refuses_masked_frames() {
        let mut client = Receiver::new(Role::Client, Config::default());
        let err = client
            .decode(&masked(true, OpCode::Text, b"x"))
            .unwrap_err();
        assert!(matches!(err, Error::Protocol(ProtocolError::MaskedFrame)));
    }

    #[test]
    fn a_close_inside_a_fragmented_message_is_delivered() {
        let input = [
            masked(false, OpCode::Text, b"half"),
            masked(true, OpCode::Close, b""),
        ]
        .concat();
        assert_eq!(
            feed(&mut server(), &input, 1).unwrap(),
            vec![Message::Close(None)]
        );
    }

    #[test]
    fn invalid_utf8_fails_before_the_frame_is_complete() {
        // Autobahn 6.4.3: one frame whose invalid byte arrives in the middle.
        let frame = masked(
            true,
            OpCode::Text,
            b"\xce\xba\xe1\xbd\xb9\xf4\x90\x80\x80 and more",
        );
        let mut receiver = server();
        let head = frame[..6 + 5].to_vec(); // header + the valid "κό"
        assert_eq!(receiver.decode(&head).unwrap(), (11, None));
        let bad = frame[11..13].to_vec(); // 0xf4 0x90: already invalid
        assert!(matches!(receiver.decode(&bad), Err(Error::Utf8)));
    }

    #[test]
    fn limits_are_checked_on_the_header_before_buffering() {
        let config = Config {
            max_frame_size: 100,
            max_message_size: 150,
            ..Config::default()
        };
        // Only the header of a frame claiming 2^62 bytes: refused at once.
        let huge = vec![0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        let err = Receiver::new(Role::Server, config)
            .decode(&huge)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Capacity(CapacityError::FrameTooLarge { .. })
        ));
        assert_eq!(err.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
        // Fragments of 100 each: the second takes the message to 200 > 150.
        let input = [
            masked(false, OpCode::Binary, &[0; 100]),
            masked(true, OpCode::Continuation, &[0; 100]),
        ]
        .concat();
        let mut receiver = Receiver::new(Role::Server, config);
        let err = feed(&mut receiver, &input, 106 + 14).unwrap_err();
        assert!(matches!(
            err,
            Error::Capacity(CapacityError::MessageTooLarge {
                size: 200,
                max: 150
            })
        ));
        // In place, a whole frame over either limit is refused the same way.
        let config = Config {
            max_frame_size: 200,
            max_message_size: 150,
            ..Config::default()
        };
        let mut frame = masked(true, OpCode::Binary, &[0; 160]);
        let err = Receiver::new(Role::Server, config)
            .decode_in_place(&mut frame)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Capacity(CapacityError::MessageTooLarge { size: 160, .. })
        ));
        let mut frame = masked(true, OpCode::Binary, &[0; 201]);
        let err = Receiver::new(Role::Server, config)
            .decode_in_place(&mut frame)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Capacity(CapacityError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn in_place_declines_what_is_not_one_whole_data_frame() {
        let text = masked(true, OpCode::Text, b"whole");
        let declined: Vec<(&str, Vec<u8>)> = vec![
            ("header cut", text[..3].to_vec()),
            ("payload cut", text[..text.len() - 1].to_vec()),
            ("first fragment", masked(false, OpCode::Text, b"part")),
            ("ping", masked(true, OpCode::Ping, b"p")),
            ("close", masked(true, OpCode::Close, b"")),
        ];
        for (name, input) in declined {
            let mut bytes = input.clone();
            assert_eq!(
                server().decode_in_place(&mut bytes).unwrap(),
                None,
                "{name}"
            );
            assert_eq!(bytes, input, "{name}: changed");
        }
        // Inside a fragmented message, even a whole frame is decode()'s.
        let mut receiver = server();
        let first = masked(false, OpCode::Text, b"a");
        assert_eq!(receiver.decode(&first).unwrap(), (first.len(), None));
        let mut bytes = masked(true, OpCode::Text, b"b");
        assert_eq!(receiver.decode_in_place(&mut bytes).unwrap(), None);
        // Followed by more input, a whole frame is found and only it used.
        let mut bytes = [text.clone(), b"next".to_vec()].concat();
        let found = server().decode_in_place(&mut bytes).unwrap().unwrap();
        assert_eq!(found.used, text.len());
        assert_eq!(&bytes[found.payload], b"whole");
        assert_eq!(&bytes[text.len()..], b"next");
    }

    #[test]
    fn in_place_text_is_ascii_only_without_a_high_byte_anywhere() {
        for len in 1..80 {
            for high in 0..len {
                let mut payload = vec![b'a'; len];
                // A valid two-byte sequence when it fits, else a lone byte.
                if high + 1 < len {
                    payload[high..high + 2].copy_from_slice("é".as_bytes());
                } else {
                    payload[high] = 0x80;
                }
                let mut frame = masked(true, OpCode::Text, &payload);
                match server().decode_in_place(&mut frame) {
                    Ok(Some(found)) => {
                        assert!(std::str::from_utf8(&frame[found.payload.clone()]).is_ok());
                        assert_eq!(&frame[found.payload], &payload[..]);
                    }
                    Err(Error::Utf8) => assert_eq!(high + 1, len, "len {len} high {high}"),
                    other => panic!("len {len} high {high}: {other:?}"),
                }
            }
            let mut frame = masked(true, OpCode::Text, &vec![b'a'; len]);
            let found = server().decode_in_place(&mut frame).unwrap().unwrap();
            assert_eq!(&frame[found.payload], &vec![b'a'; len][..]);
        }
    }

    #[test]
    fn seeded_random_streams_never_panic() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5_000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Mostly valid-looking headers: masked, small lengths.
            if len > 1 {
                bytes[1] = 0x80 | (bytes[1] % 40);
            }
            let role = if next() % 2 == 0 {
                Role::Server
            } else {
                Role::Client
            };
            let mut receiver = Receiver::new(role, Config::default());
            let mut offset = 0;
            while offset < bytes.len() {
                if next() % 2 == 0 {
                    match receiver.decode_in_place(&mut bytes[offset..]) {
                        Ok(Some(found)) => {
                            offset += found.used;
                            continue;
                        }
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
                match receiver.decode(&bytes[offset..]) {
                    Ok((used, message)) => {
                        offset += used;
                        if message.is_none() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    }

    /// permessage-deflate: a masked frame with RSV1 as given.
    fn masked_rsv1(fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        FrameHeader {
            fin,
            rsv1,
            masking_key: Some(KEY),
            ..FrameHeader::new(opcode, payload.len() as u64)
        }
        .append_to(&mut out);
        mask_into(&mut out, payload, Some(KEY), 0);
        out
    }

    fn deflating(config: Config, bits: u8) -> Receiver {
        let mut receiver = Receiver::new(Role::Server, config);
        receiver.enable_deflate(&DeflateParams {
            client_max_window_bits: bits,
            ..DeflateParams::default()
        });
        receiver
    }

    fn compress(deflater: &mut crate::deflate::Deflater, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        deflater.compress_message(bytes, &mut out);
        out
    }

    #[test]
    fn compressed_messages_whole_and_in_fragments_in_any_pieces() {
        use crate::deflate::{Deflater, Level};
        let text = "héllo, wörld; hello, world; ".repeat(40);
        for bits in [8, 9, 12, 15] {
            let mut deflater = Deflater::new(Level::Default, bits);
            let mut input = Vec::new();
            // One frame.
            input.extend(masked_rsv1(
                true,
                true,
                OpCode::Text,
                &compress(&mut deflater, text.as_bytes()),
            ));
            // Three fragments: RSV1 on the first only (RFC 7692 section 6.1),
            // with a ping between them.
            let payload = compress(&mut deflater, text.as_bytes());
            let (a, rest) = payload.split_at(payload.len() / 3);
            let (b, c) = rest.split_at(rest.len() / 2);
            input.extend(masked_rsv1(false, true, OpCode::Binary, a));
            input.extend(masked(true, OpCode::Ping, b"p"));
            input.extend(masked_rsv1(false, false, OpCode::Continuation, b));
            input.extend(masked_rsv1(true, false, OpCode::Continuation, c));
            // An uncompressed message in between, and an empty compressed one
            // (section 7.2.3.6: the single byte 00).
            input.extend(masked(true, OpCode::Text, b"plain"));
            input.extend(masked_rsv1(
                true,
                true,
                OpCode::Text,
                &compress(&mut deflater, b""),
            ));
            for step in [1, 7, 4096] {
                let mut receiver = deflating(Config::default(), bits);
                let messages = feed(&mut receiver, &input, step).unwrap();
                assert_eq!(
                    messages,
                    [
                        Message::text(text.clone()),
                        Message::Ping(b"p".to_vec()),
                        Message::binary(text.as_bytes()),
                        Message::text("plain"),
                        Message::text(""),
                    ],
                    "bits {bits}, step {step}"
                );
            }
        }
    }

    #[test]
    fn rsv1_is_only_for_the_first_frame_of_a_data_message() {
        let data = [0x4a, 0x04, 0x00];
        for frames in [
            masked_rsv1(true, true, OpCode::Ping, b""),
            masked_rsv1(true, true, OpCode::Close, &[3, 232]),
            [
                masked_rsv1(false, true, OpCode::Text, &data),
                masked_rsv1(true, true, OpCode::Continuation, &data),
            ]
            .concat(),
        ] {
            let mut receiver = deflating(Config::default(), 15);
            let error = feed(&mut receiver, &frames, 100).unwrap_err();
            assert!(matches!(
                error,
                Error::Protocol(ProtocolError::MisplacedCompressedBit)
            ));
            assert_eq!(error.close_code(), Some(CloseCode::PROTOCOL_ERROR));
        }
        // Without the extension, RSV1 is just a reserved bit.
        let mut plain = Receiver::new(Role::Server, Config::default());
        let error = feed(
            &mut plain,
            &masked_rsv1(true, true, OpCode::Text, &data),
            100,
        )
        .unwrap_err();
        assert!(matches!(
            error,
            Error::Protocol(ProtocolError::ReservedBits)
        ));
    }

    #[test]
    fn a_compression_bomb_fails_with_1009_at_the_limit() {
        use crate::deflate::{Deflater, Level};
        let limit = 64 << 10;
        let mut deflater = Deflater::new(Level::Fast, 15);
        // 16 MiB of zeros in a few KiB.
        let bomb = compress(&mut deflater, &vec![0; 16 << 20]);
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let mut receiver = deflating(Config::default().max_message_size(limit), 15);
        let error = feed(
            &mut receiver,
            &masked_rsv1(true, true, OpCode::Binary, &bomb),
            1 << 20,
        )
        .unwrap_err();
        assert_eq!(error.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
        // Nothing beyond the limit was held.
        assert!(
            receiver.assembler.capacity() <= limit,
            "{}",
            receiver.assembler.capacity()
        );
    }

    #[test]
    fn bad_compressed_data_is_1007_and_bad_text_fails_fast() {
        use crate::deflate::{Deflater, Level};
        // BTYPE 11 is reserved (RFC 1951 section 3.2.3).
        let mut receiver = deflating(Config::default(), 15);
        let error = feed(
            &mut receiver,
            &masked_rsv1(true, true, OpCode::Text, &[0xff]),
            10,
        )
        .unwrap_err();
        assert!(matches!(error, Error::Compression(_)));
        assert_eq!(error.close_code(), Some(CloseCode::INVALID_PAYLOAD));
        // A distance beyond the agreed window: compressed with 2^15, read
        // with 2^8.
        let mut deflater = Deflater::new(Level::Default, 15);
        let mut far = vec![b'x'; 0];
        far.extend((0..1000u32).map(|i| (i * 7 % 251) as u8));
        let copy = far.clone();
        far.extend(copy);
        let payload = compress(&mut deflater, &far);
        let mut narrow = deflating(Config::default(), 8);
        let error = feed(
            &mut narrow,
            &masked_rsv1(true, true, OpCode::Binary, &payload),
            64,
        )
        .unwrap_err();
        assert!(matches!(error, Error::Compression(_)), "{error:?}");
        // Invalid UTF-8 fails while the message inflates: the first frame of
        // a fragmented text message already holds it.
        let mut deflater = Deflater::new(Level::Default, 15);
        let mut bad = b"fine so far ".repeat(20);
        bad.push(0xff);
        let payload = compress(&mut deflater, &bad);
        let mut receiver = deflating(Config::default(), 15);
        let error = feed(
            &mut receiver,
            &masked_rsv1(false, true, OpCode::Text, &payload),
            5,
        )
        .unwrap_err();
        assert!(matches!(error, Error::Utf8));
    }
}
