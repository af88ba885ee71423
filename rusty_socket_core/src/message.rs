//! Messages and their assembly from fragments (RFC 6455 sections 5.4 and 5.6).
//!
//! An application sees *messages*; the wire carries *frames*. A message is
//! one text or binary frame with FIN set, or a first frame without FIN
//! followed by continuation frames, the last of which has FIN set. Control
//! frames (ping, pong, close) may be interleaved between the fragments of a
//! message, but the fragments of two data messages may not interleave.
//!
//! [`Assembler`] collects the payload of a data message fragment by fragment,
//! enforces the message size limit before each fragment is buffered, and
//! validates text incrementally (see [`crate::utf8`]).

use crate::close::CloseFrame;
use crate::error::{CapacityError, Error, ProtocolError};
use crate::mask::{mask_into, unmask_into};
use crate::opcode::OpCode;
use crate::utf8::Utf8Validator;

/// A complete message, as an application sends and receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message: always valid UTF-8.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping with its application data (at most 125 bytes). A
    /// [`crate::WebSocket`] answers it with a pong by itself.
    Ping(Vec<u8>),
    /// A pong with its application data.
    Pong(Vec<u8>),
    /// A close frame: `None` when it carried no status code (1005).
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Message {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Vec<u8>>) -> Message {
        Message::Binary(data.into())
    }

    /// The opcode of the (first) frame that carries this message.
    pub fn opcode(&self) -> OpCode {
        match self {
            Message::Text(_) => OpCode::Text,
            Message::Binary(_) => OpCode::Binary,
            Message::Ping(_) => OpCode::Ping,
            Message::Pong(_) => OpCode::Pong,
            Message::Close(_) => OpCode::Close,
        }
    }

    /// Whether this is a text or binary message.
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }

    /// The payload bytes (for a close, the reason only).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data,
            Message::Close(Some(frame)) => frame.reason.as_bytes(),
            Message::Close(None) => &[],
        }
    }

    /// The payload as it goes on the wire: the text's bytes, the data, or
    /// a close frame's body (code and reason, section 5.5.1).
    pub fn into_payload(self) -> Vec<u8> {
        match self {
            Message::Text(text) => text.into_bytes(),
            Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data,
            Message::Close(frame) => {
                let mut body = Vec::new();
                crate::close::encode_close_payload(frame.as_ref(), &mut body);
                body
            }
        }
    }

    /// The length of the payload.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Message {
        Message::Binary(data)
    }
}

/// A message borrowed instead of owned: what
/// [`crate::WebSocket::read_in_place`] lends, often straight from the
/// connection's read buffer, so that reading it costs no copy and no
/// allocation. [`MessageRef::to_message`] makes an owned [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRef<'a> {
    /// A text message: always valid UTF-8.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping with its application data.
    Ping(&'a [u8]),
    /// A pong with its application data.
    Pong(&'a [u8]),
    /// A close frame: `None` when it carried no status code (1005).
    Close(Option<&'a CloseFrame>),
}

impl MessageRef<'_> {
    /// The opcode of the (first) frame that carried this message.
    pub fn opcode(&self) -> OpCode {
        match self {
            MessageRef::Text(_) => OpCode::Text,
            MessageRef::Binary(_) => OpCode::Binary,
            MessageRef::Ping(_) => OpCode::Ping,
            MessageRef::Pong(_) => OpCode::Pong,
            MessageRef::Close(_) => OpCode::Close,
        }
    }

    /// Whether this is a text or binary message.
    pub fn is_data(&self) -> bool {
        matches!(self, MessageRef::Text(_) | MessageRef::Binary(_))
    }

    /// The payload bytes (for a close, the reason only).
    pub fn as_bytes(&self) -> &[u8] {
        match *self {
            MessageRef::Text(text) => text.as_bytes(),
            MessageRef::Binary(data) | MessageRef::Ping(data) | MessageRef::Pong(data) => data,
            MessageRef::Close(Some(frame)) => frame.reason.as_bytes(),
            MessageRef::Close(None) => &[],
        }
    }

    /// An owned copy.
    pub fn to_message(&self) -> Message {
        match *self {
            MessageRef::Text(text) => Message::Text(text.to_owned()),
            MessageRef::Binary(data) => Message::Binary(data.to_vec()),
            MessageRef::Ping(data) => Message::Ping(data.to_vec()),
            MessageRef::Pong(data) => Message::Pong(data.to_vec()),
            MessageRef::Close(frame) => Message::Close(frame.cloned()),
        }
    }
}

impl<'a> From<&'a Message> for MessageRef<'a> {
    fn from(message: &'a Message) -> MessageRef<'a> {
        match message {
            Message::Text(text) => MessageRef::Text(text),
            Message::Binary(data) => MessageRef::Binary(data),
            Message::Ping(data) => MessageRef::Ping(data),
            Message::Pong(data) => MessageRef::Pong(data),
            Message::Close(frame) => MessageRef::Close(frame.as_ref()),
        }
    }
}

/// Reassembles data messages from their fragments.
#[derive(Debug, Default)]
pub struct Assembler {
    /// `Some(Text | Binary)` while a message is being received.
    opcode: Option<OpCode>,
    payload: Vec<u8>,
    utf8: Utf8Validator,
    /// Whether every byte of `payload` is ASCII, as [`unmask_into`] found
    /// while writing it there.
    all_ascii: bool,
    max_message_size: usize,
}

impl Assembler {
    /// An assembler that refuses messages larger than `max_message_size`.
    pub fn new(max_message_size: usize) -> Assembler {
        Assembler {
            max_message_size,
            ..Assembler::default()
        }
    }

    /// Bytes reserved for the message being assembled.
    pub fn capacity(&self) -> usize {
        self.payload.capacity()
    }

    /// Whether a fragmented message is unfinished.
    pub fn in_progress(&self) -> bool {
        self.opcode.is_some()
    }

    /// Starts the data frame with `opcode` and `payload_len`, checking the
    /// fragmentation order (section 5.4) and the size limit before a byte of
    /// its payload is buffered.
    ///
    /// # Errors
    /// [`ProtocolError::UnexpectedContinuation`],
    /// [`ProtocolError::ExpectedContinuation`] or
    /// [`CapacityError::MessageTooLarge`].
    pub fn begin_frame(&mut self, opcode: OpCode, payload_len: u64) -> Result<(), Error> {
        match (opcode, self.opcode) {
            (OpCode::Continuation, None) => {
                return Err(ProtocolError::UnexpectedContinuation.into())
            }
            (OpCode::Continuation, Some(_)) => {}
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation.into()),
            (_, None) => {
                self.opcode = Some(opcode);
                self.utf8.reset();
                // Nothing from before belongs to this message.
                self.payload.clear();
                self.all_ascii = true;
            }
        }
        let size = (self.payload.len() as u64).saturating_add(payload_len);
        if size > self.max_message_size as u64 {
            return Err(CapacityError::MessageTooLarge {
                size,
                max: self.max_message_size,
            }
            .into());
        }
        Ok(())
    }

    /// Adds payload bytes of the current frame, as they arrived: they are
    /// appended and unmasked with `masking_key` (see
    /// [`crate::mask::mask_into`], and [`crate::mask::unmask_into`] for
    /// text; `offset` is where `bytes` start in the frame's payload). Text
    /// is validated here, so an invalid byte fails the message as soon as
    /// it arrives.
    ///
    /// `whole_frame` says that `bytes` is the entire payload of a final
    /// frame. When that frame is also the whole message, nothing can arrive
    /// later to fail faster, so the text is validated once, in
    /// [`Self::end_frame`], instead of twice.
    ///
    /// # Errors
    /// [`Error::Utf8`] for invalid text.
    pub fn extend(
        &mut self,
        bytes: &[u8],
        masking_key: Option<[u8; 4]>,
        offset: usize,
        whole_frame: bool,
    ) -> Result<(), Error> {
        if self.opcode != Some(OpCode::Text) {
            mask_into(&mut self.payload, bytes, masking_key, offset);
            return Ok(());
        }
        let whole_message = whole_frame && self.payload.is_empty();
        let start = self.payload.len();
        self.all_ascii &= unmask_into(&mut self.payload, bytes, masking_key, offset);
        // ASCII is valid UTF-8 and never leaves a code point unfinished: as
        // long as the whole message so far is ASCII, the validator would
        // only confirm it. It starts looking at the first piece that is not.
        if !whole_message && !self.all_ascii {
            self.utf8.feed(&self.payload[start..])?;
        }
        Ok(())
    }

    /// Adds bytes that `produce` appends to the message, given the payload
    /// so far and the most it may hold (`max_message_size`): an inflater's
    /// output, for a compressed message. Text is validated as in
    /// [`Self::extend`], so invalid UTF-8 fails as soon as it is inflated.
    ///
    /// # Errors
    /// Whatever `produce` fails with, or [`Error::Utf8`].
    pub fn extend_with(
        &mut self,
        produce: impl FnOnce(&mut Vec<u8>, usize) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let start = self.payload.len();
        produce(&mut self.payload, self.max_message_size)?;
        if self.opcode == Some(OpCode::Text) {
            // `produce` had the whole payload in hand: the text is checked
            // again as a whole at the end (`into_text`), never assumed ASCII.
            self.all_ascii = false;
            self.utf8.feed(&self.payload[start..])?;
        }
        Ok(())
    }

    /// Ends the current frame; when it had FIN set, returns the message.
    ///
    /// # Errors
    /// [`Error::Utf8`] if a text message ends inside a code point.
    pub fn end_frame(&mut self, fin: bool) -> Result<Option<Message>, Error> {
        if !fin {
            return Ok(None);
        }
        let payload = std::mem::take(&mut self.payload);
        match self.opcode.take() {
            Some(OpCode::Text) => {
                self.utf8.finish()?;
                Ok(Some(Message::Text(into_text(payload, self.all_ascii)?)))
            }
            _ => Ok(Some(Message::Binary(payload))),
        }
    }
}

/// The text of a complete text message.
///
/// Text that was found to be all ASCII as it was unmasked is valid UTF-8
/// with no further look; anything else goes through [`String::from_utf8`]
/// (even when [`Utf8Validator`] has already checked it piece by piece: the
/// validator's verdict is not relied on for memory safety).
///
/// # Errors
/// [`Error::Utf8`] if `payload` is not UTF-8.
#[allow(unsafe_code)]
fn into_text(payload: Vec<u8>, all_ascii: bool) -> Result<String, Error> {
    if all_ascii {
        // What the proof below says, checked in debug builds (every test run).
        debug_assert!(payload.is_ascii());
        // SAFETY: `String` requires its bytes to be valid UTF-8. `all_ascii`
        // is true only if every byte of `payload` is below 0x80, whatever
        // order a caller uses the public methods in:
        // - `end_frame` calls this only for a text message, whose opcode
        //   only `begin_frame` sets; when it does, it empties `payload` and
        //   sets `all_ascii`, together;
        // - after that, while the message is text, `payload` is written only
        //   by `unmask_into` in `extend`, which ANDs in its answer for the
        //   bytes it appended: true only if their OR is below 0x80 (its
        //   tests put a high byte at every position, length and key offset,
        //   and compare with `is_ascii`); `extend_with`, which lets a closure
        //   write the payload, sets it to false.
        // Each byte below 0x80 is a complete one-byte UTF-8 sequence (RFC
        // 3629 section 3), so the whole is valid UTF-8.
        return Ok(unsafe { String::from_utf8_unchecked(payload) });
    }
    String::from_utf8(payload).map_err(|_| Error::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` of one text frame (not the whole message at once),
    /// returning the index of the piece that failed, or the message.
    fn text_in_pieces(pieces: &[&[u8]]) -> Result<Message, usize> {
        let mut assembler = Assembler::new(1 << 20);
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        assembler.begin_frame(OpCode::Text, len as u64).unwrap();
        for (i, piece) in pieces.iter().enumerate() {
            assembler.extend(piece, None, 0, false).map_err(|_| i)?;
        }
        match assembler.end_frame(true) {
            Ok(Some(message)) => Ok(message),
            _ => Err(pieces.len()),
        }
    }

    #[test]
    fn text_after_ascii_pieces_is_still_validated_as_it_arrives() {
        // A lone continuation byte after ASCII fails in its own piece.
        assert_eq!(text_in_pieces(&[b"hello ", b"\x80", b"world"]), Err(1));
        // A code point cut across pieces after ASCII is fine...
        let euro = "€".as_bytes();
        assert_eq!(
            text_in_pieces(&[b"price: ", &euro[..1], &euro[1..], b"!"]),
            Ok(Message::text("price: €!"))
        );
        // ...but one that never ends is not, and neither is ASCII where its
        // continuation should be.
        assert_eq!(text_in_pieces(&[b"a", &euro[..2]]), Err(2));
        assert_eq!(text_in_pieces(&[b"a", &euro[..2], b"b"]), Err(2));
    }

    /// Bytes given outside a message (a misuse of the public API) cannot
    /// slip into the next one and bypass validation.
    #[test]
    fn a_new_message_starts_empty() {
        let mut assembler = Assembler::new(1 << 20);
        assembler.extend(b"\xff\xfe", None, 0, false).unwrap();
        assembler.begin_frame(OpCode::Text, 2).unwrap();
        assembler.extend(b"ok", None, 0, true).unwrap();
        assert_eq!(
            assembler.end_frame(true).unwrap(),
            Some(Message::text("ok"))
        );
    }

    #[test]
    fn whole_messages_are_checked_once_ascii_or_not() {
        for (payload, valid) in [
            (&b"plain ascii"[..], true),
            ("κόσμε".as_bytes(), true),
            (&b"bad \xff byte"[..], false),
            (&b""[..], true),
        ] {
            let mut assembler = Assembler::new(1 << 20);
            assembler
                .begin_frame(OpCode::Text, payload.len() as u64)
                .unwrap();
            assembler.extend(payload, None, 0, true).unwrap();
            let message = assembler.end_frame(true);
            assert_eq!(message.is_ok(), valid, "{payload:?}");
            if valid {
                assert_eq!(message.unwrap().unwrap().as_bytes(), payload);
            }
        }
    }
}
