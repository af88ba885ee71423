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

/// Reassembles data messages from their fragments.
#[derive(Debug, Default)]
pub struct Assembler {
    /// `Some(Text | Binary)` while a message is being received.
    opcode: Option<OpCode>,
    payload: Vec<u8>,
    utf8: Utf8Validator,
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

    /// Adds unmasked payload bytes of the current frame. Text is validated
    /// here, so an invalid byte fails the message as soon as it arrives.
    ///
    /// `whole_frame` says that `bytes` is the entire payload of a final
    /// frame. When that frame is also the whole message, nothing can arrive
    /// later to fail faster, so the text is validated once, in
    /// [`Self::end_frame`], instead of twice.
    ///
    /// # Errors
    /// [`Error::Utf8`] for invalid text.
    pub fn extend(&mut self, bytes: &[u8], whole_frame: bool) -> Result<(), Error> {
        let whole_message = whole_frame && self.payload.is_empty();
        if self.opcode == Some(OpCode::Text) && !whole_message {
            self.utf8.feed(bytes)?;
        }
        self.payload.extend_from_slice(bytes);
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
                // Validated piece by piece unless it came whole (see
                // `extend`); from_utf8 checks (again), so that no unsafe
                // code is needed.
                let text = String::from_utf8(payload).map_err(|_| Error::Utf8)?;
                Ok(Some(Message::Text(text)))
            }
            _ => Ok(Some(Message::Binary(payload))),
        }
    }
}
