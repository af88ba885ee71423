//! Lending (zero copy): [`WebSocket::read_in_place`] unmasks a message that
//! arrived whole where it lies in the read buffer and lends it as a
//! [`MessageRef`]; [`Incoming::echo`] sends it back from there.
//!
//! The lent bytes stay valid because the read buffer is written in only one
//! place, the connection's `fill`, and that flushes the write queue first:
//! an echo queued as a range of the buffer has always been sent before the
//! bytes it points to can move.

use super::reading::{Link, Step};
use super::write_queue::Payload;
use super::{WebSocket, Whole};
use crate::error::Result;
use crate::message::{Message, MessageRef};
use crate::opcode::OpCode;
use std::io::{Read, Write};
use std::ops::Range;

/// What [`WebSocket::read_in_place`] found: a message lent from the read
/// buffer (with where its payload lies there) or an owned one.
#[derive(Debug)]
enum Arrived<'a> {
    Lent {
        message: MessageRef<'a>,
        payload: Range<usize>,
    },
    Owned(Message),
}

impl<S: Read + Write> WebSocket<S> {
    /// Reads the next message as [`Self::read`] does, but lends it instead
    /// of handing it over: a text or binary message that arrived as one
    /// frame, all within one read, is unmasked and validated where it lies
    /// in the read buffer, and borrowed from there, without a copy or an
    /// allocation. Anything else (fragmented messages, frames larger than
    /// what one read brought, pings, closes) is assembled as by
    /// [`Self::read`] and lent from the [`Incoming`]. `Ok(None)` is the
    /// clean end, as for [`Self::read`].
    ///
    /// [`Incoming::echo`] sends the message back, from where it lies.
    ///
    /// ```
    /// use rusty_socket_core::{Config, MessageRef, Role, WebSocket};
    /// use std::io::Cursor;
    /// // A masked "Hello" from a client (RFC 6455 section 5.7).
    /// let bytes = vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let mut ws = WebSocket::from_raw(Cursor::new(bytes), Role::Server, Config::default(), &[]);
    /// let incoming = ws.read_in_place().unwrap().expect("a message");
    /// assert_eq!(incoming.message(), MessageRef::Text("Hello"));
    /// incoming.echo().unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`Self::read`].
    // The loop builds its links from the fields rather than with `parts()`:
    // a borrow returned from inside a loop must not cover all of `self`.
    #[allow(unsafe_code)]
    pub fn read_in_place(&mut self) -> Result<Option<Incoming<'_, S>>> {
        let lent = loop {
            if self.connection.reads_frames() {
                match self
                    .reader
                    .receiver
                    .decode_in_place(self.reader.buffer.pending_mut())
                {
                    Ok(Some(lent)) => break lent,
                    Ok(None) => {}
                    Err(error) => {
                        let mut link = Whole {
                            stream: &mut self.stream,
                            connection: &mut self.connection,
                            queue: &mut self.queue,
                        };
                        link.failed(self.reader.buffer.storage(), &error);
                        return Err(error);
                    }
                }
            }
            let mut link = Whole {
                stream: &mut self.stream,
                connection: &mut self.connection,
                queue: &mut self.queue,
            };
            match self.reader.step(&mut link)? {
                Step::Message(message) => {
                    return Ok(Some(Incoming {
                        arrived: Arrived::Owned(message),
                        lent: self.reader.buffer.storage(),
                        link: Whole {
                            stream: &mut self.stream,
                            connection: &mut self.connection,
                            queue: &mut self.queue,
                        },
                    }))
                }
                Step::End => return Ok(None),
                Step::More => {}
            }
        };
        // The message's bytes stay where they are until the buffer is
        // filled again, which flushes the queue first.
        let at = self.reader.buffer.start();
        self.reader.buffer.consume(lent.used);
        let payload = at + lent.payload.start..at + lent.payload.end;
        // Borrow the parts apart: the message borrows the read buffer, the
        // Incoming the stream, the state machine and the queue.
        let (reader, link) = self.parts();
        let storage = reader.buffer.storage();
        let bytes = &storage[payload.clone()];
        let message = match lent.opcode {
            OpCode::Text => {
                // What the proof below says, checked in debug builds.
                debug_assert!(std::str::from_utf8(bytes).is_ok());
                // SAFETY: `str` requires valid UTF-8. `decode_in_place`,
                // just above, returned this range as text only after it
                // found every byte below 0x80 as it unmasked them in place
                // (`unmask_checking_ascii`, whose tests put a high byte at
                // every position, length and key offset; a byte below 0x80
                // is a complete UTF-8 sequence, RFC 3629 section 3) or,
                // failing that, after `std::str::from_utf8` accepted them.
                // Nothing has written to the buffer since: `consume` only
                // moves the indices.
                MessageRef::Text(unsafe { std::str::from_utf8_unchecked(bytes) })
            }
            _ => MessageRef::Binary(bytes),
        };
        Ok(Some(Incoming {
            arrived: Arrived::Lent { message, payload },
            lent: storage,
            link,
        }))
    }
}

/// A message lent by [`WebSocket::read_in_place`], with the means to send
/// it back. The connection is borrowed until it is dropped.
#[derive(Debug)]
pub struct Incoming<'a, S> {
    arrived: Arrived<'a>,
    /// The read buffer's bytes.
    lent: &'a [u8],
    link: Whole<'a, S>,
}

impl<S: Write> Incoming<'_, S> {
    /// The message.
    pub fn message(&self) -> MessageRef<'_> {
        match &self.arrived {
            Arrived::Lent { message, .. } => *message,
            Arrived::Owned(message) => message.into(),
        }
    }

    /// The message, owned (copied if it was lent from the read buffer).
    pub fn into_message(self) -> Message {
        match self.arrived {
            Arrived::Lent { message, .. } => message.to_message(),
            Arrived::Owned(message) => message,
        }
    }

    /// Sends a text or binary message back to the peer unchanged, as
    /// [`WebSocket::write`] would (queued until the next flush or read).
    /// A large payload goes out from where it lies, without a copy: from
    /// the read buffer if it was lent from there. Pings and closes are not
    /// sent back: reading them answered them already.
    ///
    /// # Errors
    /// As [`WebSocket::write`].
    pub fn echo(self) -> Result<()> {
        let Incoming {
            arrived,
            lent,
            mut link,
        } = self;
        let (opcode, payload) = match arrived {
            Arrived::Owned(message) if message.is_data() => {
                (message.opcode(), Payload::Owned(message.into_payload()))
            }
            Arrived::Lent { message, payload } if message.is_data() => {
                (message.opcode(), Payload::Lent(payload))
            }
            _ => return Ok(()),
        };
        link.push(lent, true, opcode, payload, true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{messages_on, peer_frames, Scripted};
    use super::*;
    use crate::close::CloseCode;
    use crate::config::Config;
    use crate::protocol::Role;

    /// `read_in_place` + `echo` must see and send exactly what `read` +
    /// `write` do, whatever the reads bring: whole frames (lent), frames cut
    /// by a read or larger than the buffer, fragments, pings and the close.
    #[test]
    fn echo_in_place_sends_what_read_and_write_send() {
        let frames = vec![
            (true, OpCode::Text, b"small".to_vec()),
            (true, OpCode::Text, vec![b'a'; 5000]),
            (true, OpCode::Text, "é".repeat(1500).into_bytes()),
            (true, OpCode::Binary, vec![3u8; 70_000]),
            (false, OpCode::Text, b"frag".to_vec()),
            (true, OpCode::Ping, b"in between".to_vec()),
            (true, OpCode::Continuation, b"mented".to_vec()),
            (true, OpCode::Binary, Vec::new()),
            (true, OpCode::Binary, vec![7u8; 1024]),
            (true, OpCode::Close, vec![0x03, 0xe8]),
        ];
        for role in [Role::Server, Role::Client] {
            let input = peer_frames(role, &frames);
            for step in [1, 7, 1000, 4096, 20_000, usize::MAX] {
                let stream = Scripted::new(input.clone(), step);
                let mut ws = WebSocket::from_raw(stream.clone(), role, Config::default(), &[]);
                let mut expected = Vec::new();
                while let Some(message) = ws.read().unwrap() {
                    if message.is_data() {
                        ws.write(message.clone()).unwrap();
                    }
                    expected.push(message);
                }
                let expected_wire = messages_on(&stream.written(), role);

                let stream = Scripted::new(input.clone(), step);
                let mut ws = WebSocket::from_raw(stream.clone(), role, Config::default(), &[]);
                let mut seen = Vec::new();
                while let Some(incoming) = ws.read_in_place().unwrap() {
                    seen.push(incoming.message().to_message());
                    incoming.echo().unwrap();
                }
                assert_eq!(seen, expected, "{role:?}, reads of {step}");
                assert_eq!(
                    messages_on(&stream.written(), role),
                    expected_wire,
                    "{role:?}, reads of {step}"
                );
            }
        }
    }

    /// Echoes lent from the read buffer are still queued when a bad frame
    /// behind them fails the connection: they must go out, before the close.
    #[test]
    fn lent_echoes_go_out_before_the_close_for_a_bad_frame_behind_them() {
        let mut input = peer_frames(
            Role::Server,
            &[
                (true, OpCode::Text, vec![b't'; 2000]),
                (true, OpCode::Binary, vec![1u8; 3000]),
            ],
        );
        let mut bad = peer_frames(Role::Server, &[(true, OpCode::Text, b"x".to_vec())]);
        bad[0] |= 0x40; // RSV1 without an extension
        input.extend(bad);
        let stream = Scripted::new(input, usize::MAX);
        let mut ws = WebSocket::from_raw(stream.clone(), Role::Server, Config::default(), &[]);
        ws.read_in_place().unwrap().unwrap().echo().unwrap();
        ws.read_in_place().unwrap().unwrap().echo().unwrap();
        let err = ws.read_in_place().map(|_| ()).unwrap_err();
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
        let sent = messages_on(&stream.written(), Role::Server);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(sent[0], Message::text("t".repeat(2000)));
        assert_eq!(sent[1], Message::binary(vec![1u8; 3000]));
        assert!(matches!(&sent[2], Message::Close(Some(f)) if f.code == CloseCode::PROTOCOL_ERROR));
    }

    /// A split right after an echo, before any flush: the write half owns
    /// a copy of the lent payload and sends it.
    #[test]
    fn a_split_takes_lent_echoes_along() {
        let input = peer_frames(Role::Server, &[(true, OpCode::Binary, vec![5u8; 4000])]);
        let stream = Scripted::new(input, usize::MAX);
        let mut ws = WebSocket::from_raw(stream.clone(), Role::Server, Config::default(), &[]);
        ws.read_in_place().unwrap().unwrap().echo().unwrap();
        assert!(stream.written().is_empty());
        let (_read, write) = ws.split(|s| Ok(s.clone())).unwrap();
        write.send(Message::text("after")).unwrap();
        assert_eq!(
            messages_on(&stream.written(), Role::Server),
            vec![Message::binary(vec![5u8; 4000]), Message::text("after")]
        );
    }
}
