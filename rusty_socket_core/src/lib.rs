//! # rusty_socket_core
//!
//! The WebSocket protocol, [RFC 6455], written from scratch on the standard
//! library alone: no dependencies, and four small `unsafe` blocks, each
//! with its proof beside it (text already known to be valid, most often
//! found all ASCII while it was unmasked, becomes a `str` without a second
//! validation pass, in `message.rs` and `websocket.rs`;
//! the masking loops compiled for AVX2 run only on a CPU that has it, in
//! `mask.rs`). Every module owns one concept of the RFC and names the
//! section it implements, so the code can be read side by side with the
//! specification.
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
//!
//! ## The pieces
//!
//! | module | RFC 6455 | what it does |
//! |---|---|---|
//! | [`http`] | 4 (HTTP/1.1 syntax) | push parser for request and response heads |
//! | [`handshake`] | 4.1, 4.2, 4.4 | opening handshake, both roles |
//! | [`sha1`], [`base64`] | 1.3, 4.2.2 | `Sec-WebSocket-Accept` = base64(SHA-1(key + GUID)) |
//! | [`entropy`] | 4.1, 5.3, 10.3 | OS randomness for keys and masks |
//! | [`frame`] | 5.2 | frame header syntax: decode and encode |
//! | [`opcode`] | 5.2, 11.8 | what a frame carries |
//! | [`mask`] | 5.3 | XOR masking, a vector at a time |
//! | [`deflate`] | RFC 1951, RFC 7692 | DEFLATE by hand, both ways (`Inflater`, `Deflater`), and permessage-deflate: negotiation and compressed messages |
//! | [`protocol`] | 5.1-5.5, 7 | the rules each role enforces; bytes to messages |
//! | [`message`] | 5.4, 5.6 | messages and reassembly of fragments |
//! | [`utf8`] | 5.6, 8.1 | incremental UTF-8 validation, fail fast |
//! | [`close`] | 5.5.1, 7.1.5, 7.4 | close codes and close payloads |
//! | [`error`] | 7.1.7, 7.4.1 | errors that know their close code or HTTP status |
//! | [`decoded`] | | "need more" or a value: the answer of every parser |
//! | [`config`] | 10.4 | limits on what a peer can make us hold |
//! | [`capacity`] | 10.4 | how many connections the OS lets this process hold |
//! | [`connection`] | 5.4, 5.5, 7 | the duplex rules: what we owe the peer, what we may send |
//! | [`tcp`] | 7.1.1 | the server's end of the TCP connection: half-close, then wait for the peer's, so no reset destroys the close frame |
//! | [`websocket`] | 5.5.2, 7.1 | the blocking connection, and its split halves |
//! | [`duplex`] | 3 (`wss`) | one TLS session shared by a reading thread and writing threads, over any record layer: TLS is one more `Read + Write` |
//!
//! The bottom layers are *sans-IO*: [`http::Request::parse`],
//! [`frame::FrameHeader::decode`] and [`Receiver::decode`] take the bytes
//! received so far and answer "need more" ([`Decoded::Partial`]) or a
//! value and how many bytes it used. They never read a socket. The blocking
//! [`WebSocket`] is a thin layer that owns one read buffer and feeds them.
//!
//! ## Walkthrough: one connection, first byte to last
//!
//! 1. **The upgrade request arrives.** The server reads whatever the socket
//!    has and asks [`http::Request::parse`] whether a whole head is there;
//!    until the blank line arrives the answer is `Partial` and it reads more
//!    ([`read_head`]). Heads over 8 KiB or with more than 64
//!    fields are refused ([`http::Limits`]).
//! 2. **The request is judged** by [`handshake::validate_request`]
//!    (section 4.2.1): GET, HTTP/1.1, `Host`, `Upgrade: websocket`,
//!    `Connection: upgrade` (both as comma lists, any case), a
//!    `Sec-WebSocket-Key` that is base64 of 16 bytes, and version 13. A
//!    failure becomes an HTTP status ([`HandshakeError::status`]) and a short
//!    response ([`handshake::error_response`]): 400, 405, 426 (naming version
//!    13), 431 or 505.
//! 3. **The server answers 101** ([`handshake::response_101`]) with
//!    [`handshake::accept_key`]: SHA-1 ([`sha1`]) of the key and the RFC's
//!    GUID, in base64 ([`base64`]). Bytes that came after the request head
//!    are kept: they are the first frames ([`accept`]).
//!    (A client does the mirror image: [`handshake::generate_key`],
//!    [`handshake::ClientRequest`], [`handshake::validate_response`],
//!    [`connect`].)
//! 4. **Frames arrive.** [`WebSocket::read`] hands the buffered bytes to the
//!    [`Receiver`]. [`frame::FrameHeader::decode`] reads FIN, RSV1-3, the
//!    opcode ([`OpCode`]), the mask bit, the 7/16/64-bit payload length and
//!    the masking key (section 5.2).
//! 5. **The rules are applied to the header**, before any payload is held
//!    ([`protocol`]): the client must mask and the server must not (5.1), RSV
//!    bits need an extension (5.2), control frames are final and at most 125
//!    bytes (5.5), continuation frames follow a fragmented message and
//!    nothing else interrupts it but control frames (5.4), and the frame and
//!    message fit in the configured [`Config`] limits (else 1009).
//! 6. **The payload is unmasked** as it arrives ([`mask::mask_into`], and
//!    [`mask::unmask_into`] for text, 5.3):
//!    copied out of the read buffer into the message and unmasked there,
//!    with the offset into the payload so that a frame split across reads
//!    unmasks correctly; text is validated as it arrives ([`utf8`]), so
//!    invalid UTF-8 fails the connection (1007) at its first bad byte, even
//!    in the middle of a frame.
//!
//!    Or, without a copy: [`WebSocket::read_in_place`] asks
//!    [`Receiver::decode_in_place`] first, which takes a text or binary
//!    message that arrived as one frame within one read, unmasks it where
//!    it lies in the read buffer ([`mask::unmask_checking_ascii`]) and lends
//!    it as a [`MessageRef`]; [`Incoming::echo`] can send it back from
//!    there. Everything else takes the path above.
//! 7. **Fragments become a message** ([`message::Assembler`], 5.4): the
//!    final fragment completes a [`Message::Text`] or [`Message::Binary`].
//!    A ping in between is returned too, and the connection's state machine
//!    ([`Connection::receive`]) says a pong is owed (5.5.2), which
//!    [`WebSocket::read`] queues.
//! 8. **Replies are batched**: [`WebSocket::write`] encodes a frame
//!    ([`frame::encode_frame`]; a client masks it with a fresh key from
//!    [`entropy`]) into a buffer, and [`WebSocket::read`] flushes that
//!    buffer before it blocks for more input.
//! 9. **A protocol violation fails the connection** (7.1.7): the error knows
//!    its close code ([`Error::close_code`]: 1002, 1007, 1009),
//!    [`Connection::fail`] turns it into the close frame to send, and the
//!    connection is over. What *we* send is checked by the same machine:
//!    [`Connection::send`] refuses a fragmented or oversized control frame,
//!    a continuation with nothing to continue, and anything after a close
//!    ([`Error::Send`], [`Error::AlreadyClosed`]).
//! 10. **The closing handshake** (5.5.1, 7.1): one side sends a close
//!     ([`WebSocket::close`]), the other answers it once, echoing the code
//!     ([`close::parse_close_payload`] checks it against section 7.4). Both
//!     sides see [`Message::Close`], then `Ok(None)`, the clean end. The server closes the TCP connection first; a client waits
//!     for it (7.1.1).
//!
//! ## Walkthrough: one compressed message (RFC 7692)
//!
//! permessage-deflate is on by default ([`Config::permessage_deflate`]).
//!
//! 1. **The offer.** A client's [`connect`] adds
//!    `Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits`
//!    ([`deflate::client_offer`]); a browser sends the same.
//! 2. **The answer.** The server's [`accept`] takes the first acceptable
//!    offer ([`handshake::Upgrade::accept_deflate`], [`deflate::accept_offer`]
//!    under a [`deflate::ServerPolicy`]) and answers it in the 101, never
//!    wider than offered. The client checks the answer against its offer
//!    ([`handshake::validate_response`]) and fails on anything it did not
//!    ask for (RFC 7692 section 5). Both sides now hold the same
//!    [`deflate::DeflateParams`]: a window size and a context rule for each
//!    direction. Nothing is allocated yet.
//! 3. **Sending.** [`WebSocket::write`] gives a whole text or binary message
//!    to the sender's [`deflate::MessageCompressor`]: DEFLATE blocks
//!    ([`deflate::Deflater`]) ending in a sync flush whose `00 00 ff ff` is
//!    cut off (section 7.2.1), sent as one frame with RSV1 set (section 6).
//!    Control frames are never compressed; neither is a message shorter
//!    than [`deflate::PerMessageDeflate::min_size`], nor one given to
//!    [`WebSocket::write_uncompressed`] (a secret next to text an attacker
//!    chooses: see CRIME).
//! 4. **Receiving.** The [`Receiver`] accepts RSV1 on the first frame of a
//!    data message only (1002 elsewhere), unmasks each piece of its payload
//!    as it arrives and inflates it at once ([`deflate::MessageDecompressor`],
//!    [`deflate::Inflater`]) into the message, never past
//!    `max_message_size` bytes of output (1009: a small frame that would
//!    inflate to gigabytes stops there, with nothing more allocated). Text
//!    is validated as it inflates (1007 at the first bad byte); data that
//!    is not DEFLATE, or that reaches further back than the agreed window,
//!    is 1007 too ([`Error::Compression`]): the frames were well formed, but
//!    their content is not what RSV1 said it is.
//! 5. **The end of the message.** On the final frame the receiver inflates
//!    the `00 00 ff ff` it appends (section 7.2.2). With context takeover
//!    both sides keep their window for the next message, which may refer
//!    back into this one; without it, both drop their state.
//!
//! ## How a message travels
//!
//! ```text
//!  peer ──TCP──▶ ReadBuffer ──bytes──▶ Receiver ─────────────▶ Message ──▶ your code
//!                (websocket)           │ frame::FrameHeader::decode  (syntax)
//!                                      │ protocol rules (role, RSV, control, limits)
//!                                      │ mask::unmask_into + utf8::Utf8Validator
//!                                      └ message::Assembler (fragments)
//!                read_in_place: a whole one-frame message is unmasked where it
//!                lies and lent as a MessageRef (Receiver::decode_in_place)
//!
//!  your code ──Message──▶ frame::encode_frame (+ mask for a client) ──▶ write buffer ──flush──▶ peer
//!                         answers owed by read(): pong, close reply ─┘
//! ```
//!
//! ## Example: an echo server and a client, over loopback
//!
//! ```
//! use rusty_socket_core::handshake::{self, ClientRequest};
//! use rusty_socket_core::{accept, connect};
//! use rusty_socket_core::{CloseCode, Config, Message};
//! use std::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || -> rusty_socket_core::Result<()> {
//!     let (stream, _) = listener.accept()?;
//!     let mut ws = accept(stream, Config::default(), |_, _| None)?;
//!     while let Some(message) = ws.read()? {
//!         if message.is_data() {
//!             ws.write(message)?;
//!         }
//!     }
//!     Ok(())
//! });
//!
//! let key = handshake::generate_key()?;
//! let host = addr.to_string();
//! let request = ClientRequest { host: &host, target: "/", key: &key, protocols: &[], extra_headers: &[], extensions: None };
//! let (mut ws, _response, _protocol) =
//!     connect(TcpStream::connect(addr)?, &request, Config::default())?;
//! ws.send("hello")?;
//! assert_eq!(ws.read()?, Some(Message::text("hello")));
//! ws.close(CloseCode::NORMAL, "bye")?;
//! assert!(matches!(ws.read()?, Some(Message::Close(Some(frame))) if frame.code == CloseCode::NORMAL));
//! assert_eq!(ws.read()?, None);
//! server.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod base64;
pub mod capacity;
pub mod close;
pub mod config;
pub mod connection;
pub mod decoded;
pub mod deflate;
pub mod duplex;
pub mod entropy;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod http;
pub mod mask;
pub mod message;
pub mod opcode;
pub mod protocol;
pub mod sha1;
pub mod tcp;
pub mod utf8;
pub mod websocket;

pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{Connection, Owed, SendError};
pub use decoded::Decoded;
pub use error::{CapacityError, Error, HandshakeError, ProtocolError, Result};
pub use message::{Message, MessageRef};
pub use opcode::OpCode;
pub use protocol::{InPlace, Receiver, Role};
pub use websocket::{
    accept, connect, read_head, Incoming, ReadBuffer, ReadHalf, WebSocket, WriteHalf,
};
