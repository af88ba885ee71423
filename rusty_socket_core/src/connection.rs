//! The rules of a connection that involve both of its directions (RFC 6455
//! sections 5.4, 5.5 and 7), as one sans-IO state machine: [`Connection`].
//!
//! The [`Receiver`](crate::Receiver) checks each frame the peer sends on its
//! own; what it cannot know is what *we* have sent and what we now owe. That
//! is this module:
//!
//! - **Incoming.** [`Connection::receive`] is told each message that
//!   arrived and answers with what it obliges us to send ([`Owed`]): a pong
//!   for a ping (5.5.2), the reply to a close (5.5.1).
//!   [`Connection::fail`] is told a rule the peer broke and answers with the
//!   close that fails the connection (7.1.7); [`Connection::end_of_stream`]
//!   says whether the TCP connection ended cleanly or abnormally (1006).
//! - **Outgoing.** [`Connection::send`] and [`Connection::send_close`] are
//!   asked before every frame we send and refuse what the RFC forbids, with
//!   a [`SendError`] that says which rule: a fragmented or oversized control
//!   frame, a continuation with nothing to continue, a new message inside an
//!   unfinished one, anything after our close, a close code that may not be
//!   sent.
//!
//! It holds no bytes and does no I/O. Whoever owns the connection's writing
//! side encodes what it says is owed; the blocking [`crate::WebSocket`], its
//! split halves and the server's reader and writer threads all drive this
//! one machine, so each rule is written once, here.
//!
//! ```text
//!             send_close ─────────────▶ CloseSent ── peer's close ──┐
//!   Open ─┤   peer's close (reply owed) ────────────────────────────┼─▶ Draining (client) ── EOF ─▶ Closed
//!         │                                                         └─▶ Closed   (server)
//!         ├── fail, its close owed ─────────────────────────────────────▶ Draining (client), Closed (server)
//!         └── fail without a close / end of stream ─────────────────────▶ Closed
//! ```

use crate::close::{parse_close_payload, CloseCode, CloseFrame};
use crate::error::Error;
use crate::message::Message;
use crate::opcode::OpCode;
use crate::protocol::Role;
use std::fmt;

/// Where a connection is in its closing handshake (section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Data flows both ways.
    Open,
    /// We sent a close frame and wait for the peer's. What arrives in the
    /// meantime is still read; nothing more may be sent (5.5.1).
    CloseSent,
    /// Client only: the closing handshake is complete, or the client failed
    /// the connection and sent its close, and the client waits for the
    /// server to close the TCP connection (7.1.1); whatever still arrives
    /// is discarded. A client that closed the socket at once instead, while
    /// the server is still sending, would make its kernel answer with a
    /// reset, which can destroy the close (and what came before it) before
    /// the server reads it.
    Draining,
    /// Nothing more is read or written.
    Closed,
}

/// A frame the connection now owes the peer, to be sent by whichever thread
/// writes the connection, after what is already queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owed<'a> {
    /// A pong with the ping's application data (section 5.5.2).
    Pong(&'a [u8]),
    /// A close frame: the reply to the peer's close, echoing its code
    /// (5.5.1), or the close that fails the connection (7.1.7). `None` is
    /// a close frame without a body.
    Close(Option<CloseFrame>),
}

/// A frame we were asked to send that RFC 6455 forbids. Nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// A control frame without FIN: control frames cannot be fragmented
    /// (section 5.5).
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload (section 5.5).
    ControlFrameTooLong(usize),
    /// A continuation frame with no fragmented message to continue (5.4).
    NothingToContinue,
    /// A new text or binary frame while the fragmented message we are
    /// sending is unfinished: its fragments must come first (5.4).
    MessageInProgress,
    /// A close code that may not appear on the wire (7.4): 1005, 1006,
    /// 1015 and the unassigned ranges.
    UnsendableCloseCode(u16),
    /// A close frame body that is not a code and a UTF-8 reason of at most
    /// 123 bytes (5.5.1).
    InvalidClosePayload,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::FragmentedControlFrame => {
                f.write_str("a control frame cannot be fragmented (RFC 6455 section 5.5)")
            }
            SendError::ControlFrameTooLong(len) => write!(
                f,
                "a control frame carries at most 125 bytes, not {len} (section 5.5)"
            ),
            SendError::NothingToContinue => {
                f.write_str("a continuation frame needs a fragmented message to continue (5.4)")
            }
            SendError::MessageInProgress => f.write_str(
                "the fragmented message being sent must be finished before a new one (5.4)",
            ),
            SendError::UnsendableCloseCode(code) => {
                write!(f, "close code {code} may not be sent (section 7.4)")
            }
            SendError::InvalidClosePayload => {
                f.write_str("a close body is a code and a UTF-8 reason of at most 123 bytes")
            }
        }
    }
}

impl std::error::Error for SendError {}

/// The duplex rules of one connection (see the module documentation).
#[derive(Debug, Clone)]
pub struct Connection {
    role: Role,
    state: State,
    /// The kind of the fragmented message we are sending, if one is
    /// unfinished.
    sending: Option<OpCode>,
}

/// What [`Connection::send`] and [`Connection::send_close`] refuse:
/// anything after our close, or a frame the RFC forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A close was already sent or received, or the connection failed:
    /// nothing more may be sent.
    Closed,
    /// The frame breaks a rule of RFC 6455.
    Forbidden(SendError),
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Error {
        match refusal {
            Refusal::Closed => Error::AlreadyClosed,
            Refusal::Forbidden(e) => Error::Send(e),
        }
    }
}

impl From<SendError> for Refusal {
    fn from(e: SendError) -> Refusal {
        Refusal::Forbidden(e)
    }
}

impl Connection {
    /// A connection whose opening handshake is complete.
    pub fn new(role: Role) -> Connection {
        Connection {
            role,
            state: State::Open,
            sending: None,
        }
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether data may still be sent: no close sent or received.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether frames from the peer are still read and delivered (not once
    /// the closing handshake is complete or the connection failed).
    pub fn reads_frames(&self) -> bool {
        matches!(self.state, State::Open | State::CloseSent)
    }

    /// A message arrived: returns what it obliges us to send.
    ///
    /// - A ping, while we have not sent a close, is owed a pong with the
    ///   same payload. Section 5.5.2: "Upon receipt of a Ping frame, an
    ///   endpoint MUST send a Pong frame in response, unless it already
    ///   received a Close frame." (Once our close is sent, nothing more may
    ///   follow it.) A pong owed for an earlier ping and not yet sent may be
    ///   dropped for this one: "an endpoint MAY elect to send a Pong frame
    ///   for only the most recently processed Ping frame."
    /// - A close, if we have not sent ours, is owed a close that echoes its
    ///   status code. Section 5.5.1: "If an endpoint receives a Close frame
    ///   and did not previously send a Close frame, the endpoint MUST send a
    ///   Close frame in response." Either way the closing handshake is then
    ///   complete: a server is done, a client waits for the server to close
    ///   the TCP connection (7.1.1).
    /// - Data and pongs owe nothing.
    pub fn receive<'m>(&mut self, message: &'m Message) -> Option<Owed<'m>> {
        match message {
            Message::Ping(payload) if self.state == State::Open => Some(Owed::Pong(payload)),
            Message::Close(frame) => {
                let reply = (self.state == State::Open)
                    .then(|| Owed::Close(frame.as_ref().map(|f| CloseFrame::new(f.code, ""))));
                self.state = match self.role {
                    Role::Client => State::Draining,
                    Role::Server => State::Closed,
                };
                reply
            }
            _ => None,
        }
    }

    /// The peer broke a rule, or exceeded a limit (`error`, from the
    /// [`Receiver`](crate::Receiver)): section 7.1.7, _Fail the WebSocket
    /// Connection_. Returns the close frame to send, with the code the error
    /// implies (1002, 1007 or 1009) and its description as the reason, if a
    /// close may still be sent; the connection is closed either way.
    pub fn fail(&mut self, error: &Error) -> Option<CloseFrame> {
        let close = match (self.state, error.close_code()) {
            (State::Open, Some(code)) => Some(CloseFrame::new(code, &error.to_string())),
            _ => None,
        };
        // _Fail_ means _Close the WebSocket Connection_ (7.1.7): a client
        // that sent its close waits for the server to close TCP (7.1.1).
        self.state = match (self.role, &close) {
            (Role::Client, Some(_)) => State::Draining,
            _ => State::Closed,
        };
        close
    }

    /// We fail the connection for a reason of our own (a timeout, a full
    /// queue, a shutdown) with `code`: returns the close frame to send if a
    /// close may still be sent. The connection is closed either way.
    pub fn abort(&mut self, code: CloseCode, reason: &str) -> Option<CloseFrame> {
        let close = (self.state == State::Open).then(|| CloseFrame::new(code, reason));
        self.state = State::Closed;
        close
    }

    /// The stream ended (end of file, or the peer reset it). Returns whether
    /// that is the clean end: after the closing handshake, or after we sent
    /// our close (the peer may close the TCP connection without answering
    /// it). Otherwise the peer went away without a close frame, what the RFC
    /// calls 1006, _abnormal closure_ (section 7.1.5).
    pub fn end_of_stream(&mut self) -> bool {
        let clean = self.state != State::Open;
        self.state = State::Closed;
        clean
    }

    /// Asks to send one frame of a data message or a ping or pong (a close
    /// goes through [`Self::send_close`] or [`Self::send_close_payload`]).
    /// `len` is the payload's length. On `Ok` the frame must be sent, in
    /// this order with the others the machine accepted.
    ///
    /// # Errors
    /// [`Refusal::Closed`] once a close was sent or received;
    /// [`Refusal::Forbidden`] for a fragmented or oversized control frame,
    /// a continuation with nothing to continue, or a new message while a
    /// fragmented one is unfinished.
    pub fn send(&mut self, fin: bool, opcode: OpCode, len: usize) -> Result<(), Refusal> {
        if opcode == OpCode::Close {
            // A close's body must be checked: see send_close_payload.
            return Err(SendError::InvalidClosePayload.into());
        }
        if self.state != State::Open {
            return Err(Refusal::Closed);
        }
        if opcode.is_control() {
            if !fin {
                return Err(SendError::FragmentedControlFrame.into());
            }
            if len > 125 {
                return Err(SendError::ControlFrameTooLong(len).into());
            }
            return Ok(());
        }
        match (opcode, self.sending) {
            (OpCode::Continuation, None) => return Err(SendError::NothingToContinue.into()),
            (OpCode::Continuation, Some(_)) => {}
            (_, Some(_)) => return Err(SendError::MessageInProgress.into()),
            (kind, None) => self.sending = Some(kind),
        }
        if fin {
            self.sending = None;
        }
        Ok(())
    }

    /// Asks to send a close frame (`None`: one without a body), starting
    /// the closing handshake. On `Ok` it must be sent, and nothing after it.
    ///
    /// # Errors
    /// [`Refusal::Closed`] if a close was already sent or received;
    /// [`Refusal::Forbidden`] with [`SendError::UnsendableCloseCode`] for a
    /// code that may not be sent.
    pub fn send_close(&mut self, frame: Option<&CloseFrame>) -> Result<(), Refusal> {
        if self.state != State::Open {
            return Err(Refusal::Closed);
        }
        if let Some(frame) = frame {
            if !frame.code.is_sendable() {
                return Err(SendError::UnsendableCloseCode(frame.code.0).into());
            }
        }
        self.state = State::CloseSent;
        Ok(())
    }

    /// As [`Self::send_close`], for a close frame body given as bytes.
    ///
    /// # Errors
    /// As [`Self::send_close`], and [`SendError::InvalidClosePayload`] for a
    /// body that is not a close body.
    pub fn send_close_payload(&mut self, payload: &[u8]) -> Result<(), Refusal> {
        if payload.len() > 125 {
            return Err(SendError::ControlFrameTooLong(payload.len()).into());
        }
        match parse_close_payload(payload) {
            Ok(frame) => self.send_close(frame.as_ref()),
            Err(crate::error::ProtocolError::InvalidCloseCode(code)) => {
                Err(SendError::UnsendableCloseCode(code).into())
            }
            Err(_) => Err(SendError::InvalidClosePayload.into()),
        }
    }

    /// Client only: the server closed the TCP connection while we drained;
    /// or anyone: the connection is over.
    pub fn finish(&mut self) {
        self.state = State::Closed;
    }
}

/// Whether an I/O error only says that the peer has gone (it reset or
/// closed the TCP connection, or the socket was shut down): after a
/// completed closing handshake it ends the connection as cleanly as an end
/// of file does, and on a server it is an everyday event that needs no log
/// line.
pub fn is_disconnect(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::NotConnected
            | ErrorKind::UnexpectedEof
    )
}

/// Whether an I/O error only says that a socket timeout passed
/// (`set_read_timeout`, `set_write_timeout`): Unix reports `WouldBlock`,
/// Windows `TimedOut`. Nothing was lost; the operation may be tried again.
pub fn is_timeout(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProtocolError;

    fn open(role: Role) -> Connection {
        Connection::new(role)
    }

    fn closed_by_us(role: Role) -> Connection {
        let mut c = open(role);
        c.send_close(Some(&CloseFrame::new(CloseCode::NORMAL, "")))
            .unwrap();
        c
    }

    fn in_fragment(role: Role) -> Connection {
        let mut c = open(role);
        c.send(false, OpCode::Text, 3).unwrap();
        c
    }

    /// One named test per forbidden send: `name: connection, send => refusal`.
    macro_rules! forbidden {
        ($($name:ident: $conn:expr, |$c:ident| $send:expr => $refusal:expr;)*) => {$(
            #[test]
            fn $name() {
                for role in [Role::Server, Role::Client] {
                    let mut $c = $conn(role);
                    assert_eq!($send, Err($refusal), "{role:?}");
                }
            }
        )*};
    }

    forbidden! {
        fragmented_ping: open, |c| c.send(false, OpCode::Ping, 1)
            => Refusal::Forbidden(SendError::FragmentedControlFrame);
        fragmented_pong: open, |c| c.send(false, OpCode::Pong, 0)
            => Refusal::Forbidden(SendError::FragmentedControlFrame);
        ping_of_126_bytes: open, |c| c.send(true, OpCode::Ping, 126)
            => Refusal::Forbidden(SendError::ControlFrameTooLong(126));
        pong_of_126_bytes: open, |c| c.send(true, OpCode::Pong, 126)
            => Refusal::Forbidden(SendError::ControlFrameTooLong(126));
        close_body_of_126_bytes: open, |c| c.send_close_payload(&[0x03; 126])
            => Refusal::Forbidden(SendError::ControlFrameTooLong(126));
        close_through_send: open, |c| c.send(true, OpCode::Close, 0)
            => Refusal::Forbidden(SendError::InvalidClosePayload);
        continuation_with_nothing_to_continue: open, |c| c.send(true, OpCode::Continuation, 1)
            => Refusal::Forbidden(SendError::NothingToContinue);
        continuation_after_the_last_fragment: |role| {
            let mut c = in_fragment(role);
            c.send(true, OpCode::Continuation, 1).unwrap();
            c
        }, |c| c.send(true, OpCode::Continuation, 1)
            => Refusal::Forbidden(SendError::NothingToContinue);
        text_inside_a_fragmented_message: in_fragment, |c| c.send(true, OpCode::Text, 1)
            => Refusal::Forbidden(SendError::MessageInProgress);
        binary_inside_a_fragmented_message: in_fragment, |c| c.send(false, OpCode::Binary, 1)
            => Refusal::Forbidden(SendError::MessageInProgress);
        data_after_our_close: closed_by_us, |c| c.send(true, OpCode::Text, 1) => Refusal::Closed;
        ping_after_our_close: closed_by_us, |c| c.send(true, OpCode::Ping, 0) => Refusal::Closed;
        continuation_after_our_close: |role| {
            let mut c = in_fragment(role);
            c.send_close(None).unwrap();
            c
        }, |c| c.send(true, OpCode::Continuation, 1) => Refusal::Closed;
        a_second_close: closed_by_us, |c| c.send_close(None) => Refusal::Closed;
        data_after_the_peers_close: |role| {
            let mut c = open(role);
            c.receive(&Message::Close(None));
            c
        }, |c| c.send(true, OpCode::Binary, 1) => Refusal::Closed;
        data_after_failing: |role| {
            let mut c = open(role);
            c.fail(&ProtocolError::ReservedBits.into());
            c
        }, |c| c.send(true, OpCode::Binary, 1) => Refusal::Closed;
        close_code_1005: open, |c| c.send_close(Some(&CloseFrame::new(CloseCode::NO_STATUS, "")))
            => Refusal::Forbidden(SendError::UnsendableCloseCode(1005));
        close_code_1006: open, |c| c.send_close(Some(&CloseFrame::new(CloseCode::ABNORMAL, "")))
            => Refusal::Forbidden(SendError::UnsendableCloseCode(1006));
        close_code_1015: open, |c| c.send_close(Some(&CloseFrame::new(CloseCode::TLS_HANDSHAKE, "")))
            => Refusal::Forbidden(SendError::UnsendableCloseCode(1015));
        close_code_999_as_bytes: open, |c| c.send_close_payload(&999u16.to_be_bytes())
            => Refusal::Forbidden(SendError::UnsendableCloseCode(999));
        close_body_of_one_byte: open, |c| c.send_close_payload(&[3])
            => Refusal::Forbidden(SendError::InvalidClosePayload);
        close_reason_not_utf8: open, |c| c.send_close_payload(&[3, 0xe8, 0xff])
            => Refusal::Forbidden(SendError::InvalidClosePayload);
    }

    #[test]
    fn a_refused_send_changes_nothing() {
        let mut c = in_fragment(Role::Client);
        assert!(c.send(true, OpCode::Text, 1).is_err());
        assert!(c
            .send_close(Some(&CloseFrame::new(CloseCode(1005), "")))
            .is_err());
        // The fragmented message can still be finished, and closed after.
        assert_eq!(c.send(true, OpCode::Ping, 0), Ok(()));
        assert_eq!(c.send(true, OpCode::Continuation, 1), Ok(()));
        assert_eq!(c.send(true, OpCode::Text, 1), Ok(()));
        assert_eq!(c.send_close(None), Ok(()));
        assert_eq!(c.state(), State::CloseSent);
    }

    #[test]
    fn allowed_sends_pass() {
        let mut c = open(Role::Server);
        assert_eq!(c.send(true, OpCode::Text, 1 << 20), Ok(()));
        assert_eq!(c.send(true, OpCode::Ping, 125), Ok(()));
        assert_eq!(c.send(false, OpCode::Binary, 3), Ok(()));
        // Control frames may come between fragments (section 5.4).
        assert_eq!(c.send(true, OpCode::Pong, 0), Ok(()));
        assert_eq!(c.send(false, OpCode::Continuation, 3), Ok(()));
        assert_eq!(c.send(true, OpCode::Continuation, 0), Ok(()));
        assert_eq!(c.send_close_payload(&[0x03, 0xe8, b'o', b'k']), Ok(()));
        assert!(!c.is_open());
    }

    #[test]
    fn a_ping_is_owed_a_pong_until_we_close() {
        let mut c = open(Role::Server);
        let ping = Message::Ping(b"abc".to_vec());
        assert_eq!(c.receive(&ping), Some(Owed::Pong(b"abc")));
        assert_eq!(c.receive(&Message::Pong(vec![1])), None);
        assert_eq!(c.receive(&Message::text("x")), None);
        c.send_close(None).unwrap();
        assert_eq!(c.receive(&ping), None);
    }

    #[test]
    fn a_close_is_answered_once_with_its_code() {
        for (role, after) in [
            (Role::Server, State::Closed),
            (Role::Client, State::Draining),
        ] {
            let mut c = open(role);
            let close = Message::Close(Some(CloseFrame::new(CloseCode(4000), "bye")));
            assert_eq!(
                c.receive(&close),
                Some(Owed::Close(Some(CloseFrame::new(CloseCode(4000), ""))))
            );
            assert_eq!(c.state(), after);
            assert!(!c.reads_frames());
            let mut c = open(role);
            assert_eq!(c.receive(&Message::Close(None)), Some(Owed::Close(None)));
        }
    }

    #[test]
    fn the_peers_reply_to_our_close_is_owed_nothing() {
        let mut c = closed_by_us(Role::Client);
        assert!(c.reads_frames());
        assert_eq!(c.receive(&Message::Close(None)), None);
        assert_eq!(c.state(), State::Draining);
        let mut c = closed_by_us(Role::Server);
        assert_eq!(c.receive(&Message::Close(None)), None);
        assert_eq!(c.state(), State::Closed);
    }

    #[test]
    fn failing_sends_the_errors_code_once() {
        let cases: [(Error, u16); 3] = [
            (ProtocolError::ReservedBits.into(), 1002),
            (Error::Utf8, 1007),
            (
                crate::error::CapacityError::FrameTooLarge { size: 9, max: 8 }.into(),
                1009,
            ),
        ];
        for (error, code) in cases {
            for (role, after) in [
                (Role::Server, State::Closed),
                (Role::Client, State::Draining),
            ] {
                let mut c = open(role);
                let close = c.fail(&error).expect("a close is owed");
                assert_eq!(close.code, CloseCode(code));
                assert_eq!(close.reason, error.to_string());
                assert_eq!(c.state(), after, "{role:?}");
                assert_eq!(c.fail(&error), None);
                assert_eq!(c.state(), State::Closed, "{role:?}");
            }
        }
        // After our own close, failing sends nothing more.
        let mut c = closed_by_us(Role::Client);
        assert_eq!(c.fail(&Error::Utf8), None);
        // An I/O error implies no close code.
        let mut c = open(Role::Client);
        assert_eq!(c.fail(&std::io::Error::other("x").into()), None);
    }

    #[test]
    fn abort_sends_our_code_if_it_still_may() {
        let mut c = open(Role::Server);
        assert_eq!(
            c.abort(CloseCode::GOING_AWAY, "idle"),
            Some(CloseFrame::new(CloseCode::GOING_AWAY, "idle"))
        );
        assert_eq!(c.abort(CloseCode::GOING_AWAY, "idle"), None);
    }

    #[test]
    fn the_end_of_the_stream_is_clean_only_after_a_close() {
        assert!(!open(Role::Client).end_of_stream());
        assert!(closed_by_us(Role::Server).end_of_stream());
        let mut c = open(Role::Client);
        c.receive(&Message::Close(None));
        assert!(c.end_of_stream());
        assert_eq!(c.state(), State::Closed);
    }

    #[test]
    fn timeouts_and_disconnects_are_told_apart() {
        use std::io::{Error, ErrorKind};
        for kind in [ErrorKind::WouldBlock, ErrorKind::TimedOut] {
            assert!(is_timeout(&Error::from(kind)), "{kind:?}");
            assert!(!is_disconnect(&Error::from(kind)), "{kind:?}");
        }
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::BrokenPipe,
            ErrorKind::UnexpectedEof,
        ] {
            assert!(is_disconnect(&Error::from(kind)), "{kind:?}");
            assert!(!is_timeout(&Error::from(kind)), "{kind:?}");
        }
        assert!(!is_timeout(&Error::from(ErrorKind::PermissionDenied)));
    }
}
