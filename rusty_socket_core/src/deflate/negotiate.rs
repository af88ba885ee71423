//! permessage-deflate negotiation (RFC 7692 sections 5 and 7.1), sans-IO.
//!
//! The `Sec-WebSocket-Extensions` header (RFC 6455 section 9.1) carries a
//! comma-separated list of extensions, each `name *( ";" param )` with
//! `param = token [ "=" (token | quoted-string) ]`; several header lines
//! form one list. [`Extensions`] walks that list without allocating:
//! every name and value it yields borrows from the header.
//!
//! * A server hands the client's header values to [`accept_offer`] with a
//!   [`ServerPolicy`]; it answers the first acceptable `permessage-deflate`
//!   offer with the [`DeflateParams`] both sides will use and the value of
//!   its own `Sec-WebSocket-Extensions` response header.
//! * A client sends [`client_offer`] of its [`ClientPolicy`] and checks the
//!   server's answer with [`accept_response`], which fails with a
//!   [`NegotiationError`] that names what was wrong.
//!
//! Extension and parameter names are compared ASCII case-insensitively, as
//! HTTP tokens usually are. Nothing here panics on any header value.

use std::borrow::Cow;
use std::fmt;

use crate::http::is_token_byte;

/// The extension's registered name (RFC 7692 section 7).
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The smallest window any side may ask for: `2^8` bytes (RFC 7692
/// section 7.1.2.1: "between 8 to 15, inclusive").
pub const MIN_WINDOW_BITS: u8 = 8;

/// The largest window, and the one used when no parameter limits it.
pub const MAX_WINDOW_BITS: u8 = 15;

/// What both sides agreed on: the parameters a connection's compressor and
/// decompressor are built with.
///
/// The server compresses with a window of at most `2^server_max_window_bits`
/// and the client inflates with that window; the client compresses with at
/// most `2^client_max_window_bits` and the server inflates with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message (RFC 7692
    /// section 7.1.1.1), so the client may reset its decompressor.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message (section
    /// 7.1.1.2), so the server may reset its decompressor.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window is at most `2^server_max_window_bits` bytes
    /// (8..=15; 15 when the parameter is absent, section 7.1.2.1).
    pub server_max_window_bits: u8,
    /// The client's LZ77 window is at most `2^client_max_window_bits` bytes
    /// (8..=15; 15 when the parameter is absent, section 7.1.2.2).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// Context takeover both ways and 32 KiB windows: what a bare
    /// `permessage-deflate` agreement means.
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

/// The header did not follow the RFC 6455 section 9.1 grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError {
    /// The byte offset, within the header value, where parsing stopped.
    pub offset: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed Sec-WebSocket-Extensions value at byte {}",
            self.offset
        )
    }
}

impl std::error::Error for SyntaxError {}

/// A parameter's value, as written: a token, or the inside of a
/// quoted-string with its escapes still in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value<'a> {
    raw: &'a str,
    quoted: bool,
}

impl<'a> Value<'a> {
    /// The value as written between the quotes (escapes kept), or the token.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the value was a quoted-string.
    pub fn is_quoted(&self) -> bool {
        self.quoted
    }

    /// The value after quoted-string unescaping (RFC 6455 section 9.1:
    /// "the value after quoted-string unescaping MUST conform to the
    /// 'token' ABNF"). Allocates only if the value has a `\` escape.
    pub fn unescaped(&self) -> Cow<'a, str> {
        if !self.quoted || !self.raw.contains('\\') {
            return Cow::Borrowed(self.raw);
        }
        let mut out = String::with_capacity(self.raw.len());
        let mut escaped = false;
        for c in self.raw.chars() {
            if c == '\\' && !escaped {
                escaped = true;
            } else {
                out.push(c);
                escaped = false;
            }
        }
        Cow::Owned(out)
    }
}

/// One `param` of an extension: a name and perhaps a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter's name, a token.
    pub name: &'a str,
    /// Its value, if it has `=`.
    pub value: Option<Value<'a>>,
}

/// One element of the list: an extension name and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The extension's name, a token.
    pub name: &'a str,
    /// The text of its parameters, already checked by [`Extensions`].
    params: &'a str,
}

impl<'a> Extension<'a> {
    /// The extension's parameters, in order.
    pub fn params(&self) -> Params<'a> {
        Params {
            cursor: Cursor {
                s: self.params,
                pos: 0,
            },
        }
    }
}

/// The parameters of one [`Extension`], from [`Extension::params`].
#[derive(Debug, Clone)]
pub struct Params<'a> {
    cursor: Cursor<'a>,
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        // The text was checked when the extension was parsed, so a failure
        // here cannot happen; it would end the parameters, not panic.
        self.cursor.skip_ows();
        if !self.cursor.eat(b';') {
            return None;
        }
        self.cursor.param().ok()
    }
}

/// A byte position in one header value.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Optional whitespace: spaces and horizontal tabs (RFC 7230 `OWS`).
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn error(&self) -> SyntaxError {
        SyntaxError { offset: self.pos }
    }

    fn token(&mut self) -> Result<&'a str, SyntaxError> {
        let start = self.pos;
        while self.peek().is_some_and(is_token_byte) {
            self.pos += 1;
        }
        // Token bytes are ASCII, so `start..pos` lies on char boundaries.
        match self.s.get(start..self.pos) {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(self.error()),
        }
    }

    /// A quoted-string (RFC 7230 section 3.2.6), the opening quote next;
    /// answers its inside, escapes kept.
    fn quoted(&mut self) -> Result<&'a str, SyntaxError> {
        if !self.eat(b'"') {
            return Err(self.error());
        }
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.error()),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'\t' | b' '..=b'~' | 0x80..=0xff) => self.pos += 1,
                        _ => return Err(self.error()),
                    }
                }
                Some(b'\t' | b' ' | b'!' | b'#'..=b'[' | b']'..=b'~' | 0x80..=0xff) => {
                    self.pos += 1
                }
                Some(_) => return Err(self.error()),
            }
        }
        let inside = self.s.get(start..self.pos).ok_or_else(|| self.error())?;
        self.pos += 1; // the closing quote
        Ok(inside)
    }

    /// `token [ "=" (token | quoted-string) ]`, after its `;`.
    fn param(&mut self) -> Result<Param<'a>, SyntaxError> {
        self.skip_ows();
        let name = self.token()?;
        self.skip_ows();
        let value = if self.eat(b'=') {
            self.skip_ows();
            Some(if self.peek() == Some(b'"') {
                let raw = self.quoted()?;
                Value { raw, quoted: true }
            } else {
                Value {
                    raw: self.token()?,
                    quoted: false,
                }
            })
        } else {
            None
        };
        Ok(Param { name, value })
    }
}

/// The extensions of one or more `Sec-WebSocket-Extensions` header values,
/// as one list, in order. Empty list elements (`a, , b`) are skipped, as
/// RFC 7230 section 7 asks of a recipient.
///
/// A syntax error is yielded once, and ends the list: past it nothing can be
/// trusted (a quote may have been meant to hide a comma).
#[derive(Debug, Clone)]
pub struct Extensions<'a, I> {
    values: I,
    cursor: Option<Cursor<'a>>,
    failed: bool,
}

/// The extensions of the header values `values` (one `&str` per header
/// line).
///
/// ```
/// use rusty_socket_core::deflate::extensions;
/// let names: Vec<_> = extensions(["foo; a=1, permessage-deflate", "bar"])
///     .map(|e| e.unwrap().name)
///     .collect();
/// assert_eq!(names, ["foo", "permessage-deflate", "bar"]);
/// ```
pub fn extensions<'a, I>(values: I) -> Extensions<'a, I::IntoIter>
where
    I: IntoIterator<Item = &'a str>,
{
    Extensions {
        values: values.into_iter(),
        cursor: None,
        failed: false,
    }
}

impl<'a, I> Extensions<'a, I> {
    fn element(c: &mut Cursor<'a>) -> Result<Extension<'a>, SyntaxError> {
        let name = c.token()?;
        let start = c.pos;
        loop {
            c.skip_ows();
            match c.peek() {
                None | Some(b',') => break,
                Some(b';') => {
                    c.pos += 1;
                    c.param()?;
                }
                Some(_) => return Err(c.error()),
            }
        }
        let params = c.s.get(start..c.pos).ok_or_else(|| c.error())?;
        Ok(Extension { name, params })
    }
}

impl<'a, I: Iterator<Item = &'a str>> Iterator for Extensions<'a, I> {
    type Item = Result<Extension<'a>, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let c = match &mut self.cursor {
                Some(c) => c,
                None => {
                    let s = self.values.next()?;
                    self.cursor.insert(Cursor { s, pos: 0 })
                }
            };
            // Skip whitespace and empty elements.
            loop {
                c.skip_ows();
                if !c.eat(b',') {
                    break;
                }
            }
            if c.peek().is_none() {
                self.cursor = None;
                continue;
            }
            let result = Self::element(c);
            if result.is_err() {
                self.failed = true;
            } else {
                // `element` stopped at a comma or the end.
                c.eat(b',');
            }
            return Some(result);
        }
    }
}

/// How an offer treats `client_max_window_bits` (RFC 7692 section 7.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientWindow {
    /// Not offered: the client cannot limit its window, so the server
    /// MUST NOT answer with the parameter.
    Omit,
    /// Offered with no value: the client can limit its window to whatever
    /// the server answers.
    Supported,
    /// Offered with a value: the client can limit its window and will use
    /// at most `2^n` bytes anyway (a hint the server may repeat or lower).
    AtMost(u8),
}

/// One `permessage-deflate` offer, checked (RFC 7692 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// `server_no_context_takeover` was offered.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover` was offered.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N`, if offered.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits`, with or without a value, or absent.
    pub client_max_window_bits: ClientWindow,
}

/// What was wrong with a `permessage-deflate` offer or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiationError {
    /// The header did not follow the RFC 6455 section 9.1 grammar.
    Syntax(SyntaxError),
    /// The response named no extension at all.
    NoExtension,
    /// The response named an extension that was not offered.
    UnofferedExtension(String),
    /// The response had more than one `permessage-deflate` element.
    MultipleResponses,
    /// A parameter RFC 7692 does not define.
    UnknownParameter(String),
    /// A parameter given twice.
    DuplicateParameter(String),
    /// A parameter with a value it must not have, or without one it must
    /// have, or with a value outside its range.
    InvalidValue(String),
    /// The response has `client_max_window_bits`, which the client did not
    /// offer.
    UnofferedClientWindow,
    /// The response lets the server use a wider window than the client
    /// asked for.
    ServerWindowTooLarge {
        /// What the client's `server_max_window_bits` asked for.
        asked: u8,
        /// What the response allows the server (15 when it has none).
        answered: u8,
    },
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::Syntax(e) => e.fmt(f),
            NegotiationError::NoExtension => f.write_str("the response names no extension"),
            NegotiationError::UnofferedExtension(name) => {
                write!(f, "the response names extension {name:?}, never offered")
            }
            NegotiationError::MultipleResponses => {
                f.write_str("the response has more than one permessage-deflate element")
            }
            NegotiationError::UnknownParameter(name) => {
                write!(f, "unknown permessage-deflate parameter {name:?}")
            }
            NegotiationError::DuplicateParameter(name) => {
                write!(f, "permessage-deflate parameter {name:?} given twice")
            }
            NegotiationError::InvalidValue(name) => {
                write!(f, "invalid value for permessage-deflate parameter {name:?}")
            }
            NegotiationError::UnofferedClientWindow => {
                f.write_str("the response has client_max_window_bits, never offered")
            }
            NegotiationError::ServerWindowTooLarge { asked, answered } => write!(
                f,
                "the response allows server_max_window_bits={answered}, above the {asked} asked for"
            ),
        }
    }
}

impl std::error::Error for NegotiationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NegotiationError::Syntax(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SyntaxError> for NegotiationError {
    fn from(e: SyntaxError) -> Self {
        NegotiationError::Syntax(e)
    }
}

/// A window size value: "a decimal integer value without leading zeroes
/// between 8 to 15, inclusive" (RFC 7692 sections 7.1.2.1 and 7.1.2.2),
/// after quoted-string unescaping.
fn window_bits(value: &Value<'_>) -> Option<u8> {
    match value.unescaped().as_bytes() {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// The parameters of a `permessage-deflate` element, with no value checked
/// against the other side yet: each known one at most once.
#[derive(Default)]
struct Seen<'a> {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<Option<Value<'a>>>,
    client_max_window_bits: Option<Option<Value<'a>>>,
}

fn invalid(name: &str) -> NegotiationError {
    NegotiationError::InvalidValue(name.to_owned())
}

/// The four parameters of section 7.1, each at most once.
///
/// Section 5: a server "MUST decline an extension negotiation offer for
/// this extension if any of the following conditions are met: The
/// negotiation offer contains an extension parameter not defined for use
/// in an offer. The negotiation offer contains an extension parameter with
/// an invalid value. The negotiation offer contains multiple extension
/// parameters with the same name." The client's rules for a response are
/// the same.
fn collect<'a>(ext: &Extension<'a>) -> Result<Seen<'a>, NegotiationError> {
    let mut seen = Seen::default();
    for p in ext.params() {
        let dup = || NegotiationError::DuplicateParameter(p.name.to_owned());
        let name = p.name;
        if name.eq_ignore_ascii_case("server_no_context_takeover") {
            if std::mem::replace(&mut seen.server_no_context_takeover, true) {
                return Err(dup());
            }
            // Section 7.1.1.1: "This extension parameter has no value."
            if p.value.is_some() {
                return Err(invalid(name));
            }
        } else if name.eq_ignore_ascii_case("client_no_context_takeover") {
            if std::mem::replace(&mut seen.client_no_context_takeover, true) {
                return Err(dup());
            }
            // Section 7.1.1.2: "This extension parameter has no value."
            if p.value.is_some() {
                return Err(invalid(name));
            }
        } else if name.eq_ignore_ascii_case("server_max_window_bits") {
            if seen.server_max_window_bits.replace(p.value).is_some() {
                return Err(dup());
            }
        } else if name.eq_ignore_ascii_case("client_max_window_bits") {
            if seen.client_max_window_bits.replace(p.value).is_some() {
                return Err(dup());
            }
        } else {
            return Err(NegotiationError::UnknownParameter(name.to_owned()));
        }
    }
    Ok(seen)
}

impl Offer {
    /// Checks one `permessage-deflate` element as an offer (the name is not
    /// looked at).
    ///
    /// Section 7.1.2.1: `server_max_window_bits` "has a decimal integer
    /// value without leading zeroes between 8 to 15, inclusive"; section
    /// 7.1.2.2: `client_max_window_bits` "may have a value"; if it has one,
    /// the same rule holds.
    pub fn parse(ext: &Extension<'_>) -> Result<Offer, NegotiationError> {
        let seen = collect(ext)?;
        let server_max_window_bits = match seen.server_max_window_bits {
            None => None,
            Some(v) => Some(
                v.as_ref()
                    .and_then(window_bits)
                    .ok_or_else(|| invalid("server_max_window_bits"))?,
            ),
        };
        let client_max_window_bits = match seen.client_max_window_bits {
            None => ClientWindow::Omit,
            Some(None) => ClientWindow::Supported,
            Some(Some(v)) => ClientWindow::AtMost(
                window_bits(&v).ok_or_else(|| invalid("client_max_window_bits"))?,
            ),
        };
        Ok(Offer {
            server_no_context_takeover: seen.server_no_context_takeover,
            client_no_context_takeover: seen.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        })
    }
}

/// What a server wants from permessage-deflate.
///
/// The defaults (11 window bits both ways, context takeover both ways)
/// bound what an idle connection holds for compression: between messages
/// a [`Deflater`] at 11 bits keeps 10 432 bytes (its 2 KiB window and the
/// hash tables over it) and an [`Inflater`] at 11 bits its 2 048-byte
/// window, 12 480 bytes together, under the 14 KiB that leaves room in a
/// 16 KiB budget for the connection's own wrapper (see the tables in
/// [`crate::deflate`]). At 12 bits the [`Deflater`] alone would keep
/// 20 672 bytes, and 11 for ours with 12 for the client's would be
/// 14 528, over the 14 KiB; 15 bits both ways would be 116 928 + 32 768.
/// Context takeover stays on both ways, since it is where most of the gain
/// on small messages comes from.
///
/// What the smaller window costs, measured with [`Level::Default`] on the
/// `chat.jsonl` corpus of `zcmp --make-corpus` cut into 150-byte messages
/// with takeover (uncompressed / compressed bytes): 1.766 at 10 bits, 1.859
/// at 11, 1.959 at 12, 2.362 at 15. So 11 bits sends about 5 % more bytes
/// than 12 would, for half the memory, and 10 bits 5 % more again (the
/// ignored test `window_bits_report` in `compress.rs` prints these
/// figures).
///
/// A client that does not offer `client_max_window_bits` cannot be asked
/// for a smaller window (RFC 7692 section 7.1.2.2): the server then
/// inflates with 15 bits, a 32 KiB window. Browsers offer it.
///
/// [`Level::Default`]: crate::deflate::Level::Default
/// [`Deflater`]: crate::deflate::Deflater
/// [`Inflater`]: crate::deflate::Inflater
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerPolicy {
    /// The widest window the server compresses with (8..=15; default 11).
    /// The answer uses the smaller of this and the offer's
    /// `server_max_window_bits`; a value out of range is clamped.
    pub server_max_window_bits: u8,
    /// Ask to reset the server's compressor after each message.
    pub server_no_context_takeover: bool,
    /// Ask the client to reset its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The window to ask of a client that offered `client_max_window_bits`
    /// (default `Some(11)`); `None` asks nothing. A client that did not offer
    /// it cannot be asked for a window (section 7.1.2.2): when this is below
    /// 15, such a client (Firefox sends a bare `permessage-deflate`) is asked
    /// for `client_no_context_takeover` instead, so that the server keeps no
    /// 32 KiB window for it between messages.
    pub client_max_window_bits: Option<u8>,
}

impl Default for ServerPolicy {
    fn default() -> Self {
        ServerPolicy::DEFAULT
    }
}

impl ServerPolicy {
    /// [`ServerPolicy::default()`], usable in `const` contexts.
    pub const DEFAULT: ServerPolicy = ServerPolicy {
        server_max_window_bits: 11,
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        client_max_window_bits: Some(11),
    };
}

fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// The canonical header value for `params`: the name, then each parameter
/// that differs from the default, in the order of section 7.1.
fn format(params: &DeflateParams, server_bits: bool, client_bits: Option<Option<u8>>) -> String {
    let mut out = String::from(EXTENSION_NAME);
    if params.server_no_context_takeover {
        out.push_str("; server_no_context_takeover");
    }
    if params.client_no_context_takeover {
        out.push_str("; client_no_context_takeover");
    }
    if server_bits {
        out.push_str("; server_max_window_bits=");
        out.push_str(&params.server_max_window_bits.to_string());
    }
    match client_bits {
        None => {}
        Some(None) => out.push_str("; client_max_window_bits"),
        Some(Some(bits)) => {
            out.push_str("; client_max_window_bits=");
            out.push_str(&bits.to_string());
        }
    }
    out
}

impl Offer {
    /// The server's answer to this offer under `policy`: the agreed
    /// parameters and the response header value. Never wider than the
    /// offer.
    pub fn answer(&self, policy: &ServerPolicy) -> (DeflateParams, String) {
        let wanted = clamp_bits(policy.server_max_window_bits);
        // Section 7.1.2.1: "A server accepts an extension negotiation offer
        // with this parameter by including the server_max_window_bits
        // extension parameter in the extension negotiation response to send
        // back to the client with the same or smaller value as the offer."
        // Without it in the offer the server may still limit its own
        // window, and says so in the response (as section 7.1.2.1 allows).
        let server_max_window_bits = self
            .server_max_window_bits
            .map_or(wanted, |n| n.min(wanted));
        let server_bits =
            self.server_max_window_bits.is_some() || server_max_window_bits < MAX_WINDOW_BITS;
        // Section 7.1.2.2: "If a received extension negotiation offer
        // doesn't have the client_max_window_bits extension parameter, the
        // corresponding extension negotiation response to the offer MUST NOT
        // include the client_max_window_bits extension parameter." With
        // it, "the server MAY include the client_max_window_bits extension
        // parameter"; with a value, "the server may either ignore this value
        // or use this value ... with a value equal to or smaller than the
        // received value". We repeat or lower a value, and answer a bare
        // offer only when the policy wants less than 15.
        let (client_max_window_bits, client_bits) = match self.client_max_window_bits {
            ClientWindow::Omit => (MAX_WINDOW_BITS, None),
            ClientWindow::Supported => match policy.client_max_window_bits.map(clamp_bits) {
                Some(b) if b < MAX_WINDOW_BITS => (b, Some(Some(b))),
                _ => (MAX_WINDOW_BITS, None),
            },
            ClientWindow::AtMost(n) => {
                let b = policy
                    .client_max_window_bits
                    .map_or(n, |b| clamp_bits(b).min(n));
                (b, Some(Some(b)))
            }
        };
        let params = DeflateParams {
            // Section 7.1.1.1: "A server accepts an extension negotiation
            // offer that includes the server_no_context_takeover extension
            // parameter by including the server_no_context_takeover
            // extension parameter in the corresponding extension
            // negotiation response".
            server_no_context_takeover: self.server_no_context_takeover
                || policy.server_no_context_takeover,
            // A client that cannot limit its window compresses with 32 KiB
            // of history, which we would have to keep between messages.
            // When the policy wants a smaller window than that, such a client
            // is asked not to keep context instead (section 7.1.1.2: the
            // server may add client_no_context_takeover to any answer), so
            // our inflater keeps nothing between its messages.
            client_no_context_takeover: self.client_no_context_takeover
                || policy.client_no_context_takeover
                || (self.client_max_window_bits == ClientWindow::Omit
                    && policy
                        .client_max_window_bits
                        .is_some_and(|b| clamp_bits(b) < MAX_WINDOW_BITS)),
            server_max_window_bits,
            client_max_window_bits,
        };
        let response = format(&params, server_bits, client_bits);
        (params, response)
    }
}

/// The server's side: the first acceptable `permessage-deflate` offer in the
/// client's `Sec-WebSocket-Extensions` header values, answered under
/// `policy`; `None` declines (no `permessage-deflate` in the response).
///
/// An offer that breaks a rule of section 5 (an unknown or duplicate
/// parameter, an invalid value) is declined and the next one is tried. A
/// header that does not parse at all is declined as a whole. Other
/// extensions are passed over.
///
/// ```
/// use rusty_socket_core::deflate::{accept_offer, ServerPolicy};
/// let offer = "permessage-deflate; client_max_window_bits";
/// let (params, response) = accept_offer([offer], &ServerPolicy::default()).unwrap();
/// assert_eq!(
///     response,
///     "permessage-deflate; server_max_window_bits=11; client_max_window_bits=11"
/// );
/// assert_eq!(params.client_max_window_bits, 11);
/// ```
pub fn accept_offer<'a, I>(values: I, policy: &ServerPolicy) -> Option<(DeflateParams, String)>
where
    I: IntoIterator<Item = &'a str>,
    I::IntoIter: Clone,
{
    let values = values.into_iter();
    if extensions(values.clone()).any(|e| e.is_err()) {
        return None;
    }
    extensions(values)
        .filter_map(Result::ok)
        .filter(|e| e.name.eq_ignore_ascii_case(EXTENSION_NAME))
        .find_map(|e| Offer::parse(&e).ok())
        .map(|offer| offer.answer(policy))
}

/// What a client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientPolicy {
    /// Ask the server to reset its compressor after each message.
    pub server_no_context_takeover: bool,
    /// Promise to reset the client's compressor after each message.
    pub client_no_context_takeover: bool,
    /// Ask the server for at most this window (8..=15, clamped); `None`
    /// (default) asks nothing.
    pub server_max_window_bits: Option<u8>,
    /// Whether the client can limit its own window (default
    /// [`ClientWindow::Supported`], as browsers offer).
    pub client_max_window_bits: ClientWindow,
}

impl Default for ClientPolicy {
    fn default() -> Self {
        ClientPolicy {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: ClientWindow::Supported,
        }
    }
}

impl ClientPolicy {
    /// [`ClientPolicy::default()`], usable in `const` contexts.
    pub const DEFAULT: ClientPolicy = ClientPolicy {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: ClientWindow::Supported,
    };
}

/// The client's `Sec-WebSocket-Extensions` value for `policy`.
///
/// ```
/// use rusty_socket_core::deflate::{client_offer, ClientPolicy};
/// assert_eq!(
///     client_offer(&ClientPolicy::default()),
///     "permessage-deflate; client_max_window_bits"
/// );
/// ```
pub fn client_offer(policy: &ClientPolicy) -> String {
    let params = DeflateParams {
        server_no_context_takeover: policy.server_no_context_takeover,
        client_no_context_takeover: policy.client_no_context_takeover,
        server_max_window_bits: policy
            .server_max_window_bits
            .map_or(MAX_WINDOW_BITS, clamp_bits),
        client_max_window_bits: MAX_WINDOW_BITS,
    };
    let client_bits = match policy.client_max_window_bits {
        ClientWindow::Omit => None,
        ClientWindow::Supported => Some(None),
        ClientWindow::AtMost(n) => Some(Some(clamp_bits(n))),
    };
    format(
        &params,
        policy.server_max_window_bits.is_some(),
        client_bits,
    )
}

/// The client's side: checks the server's `Sec-WebSocket-Extensions`
/// response value against what was `offered` (a single
/// `permessage-deflate` offer made by [`client_offer`]).
///
/// Section 5: "If a server gives an invalid response, such as accepting a
/// PMCE that the client did not offer, the client MUST _Fail the WebSocket
/// Connection_." Invalid here: an extension that was not offered, more than
/// one `permessage-deflate` (the server picks one offer), an unknown,
/// duplicate or invalid parameter (the rules of section 5 for an offer), a
/// `client_max_window_bits` the client did not offer (section 7.1.2.2: the
/// response to such an offer "MUST NOT include the client_max_window_bits
/// extension parameter"), and a `server_max_window_bits` wider than the one
/// asked for (section 7.1.2.1: "A server accepts an extension negotiation
/// offer with this parameter by including the server_max_window_bits
/// extension parameter in the extension negotiation response to send back
/// to the client with the same or smaller value as the offer"; an answer
/// without it, when one was asked for, counts as 15).
///
/// A `server_no_context_takeover` the client did not ask for is accepted
/// (section 7.1.1.1 lets the server add it); one it asked for and did not
/// get is accepted too, and the params say the server keeps its context.
///
/// A `client_max_window_bits=N` answer above the client's own hint is
/// accepted and lowered to the hint: the client promised that much anyway.
pub fn accept_response(
    value: &str,
    offered: &ClientPolicy,
) -> Result<DeflateParams, NegotiationError> {
    let mut found = None;
    for ext in extensions([value]) {
        let ext = ext?;
        if !ext.name.eq_ignore_ascii_case(EXTENSION_NAME) {
            return Err(NegotiationError::UnofferedExtension(ext.name.to_owned()));
        }
        if found.replace(ext).is_some() {
            return Err(NegotiationError::MultipleResponses);
        }
    }
    let ext = found.ok_or(NegotiationError::NoExtension)?;
    let seen = collect(&ext)?;
    let server_max_window_bits = match seen.server_max_window_bits {
        None => MAX_WINDOW_BITS,
        Some(v) => v
            .as_ref()
            .and_then(window_bits)
            .ok_or_else(|| invalid("server_max_window_bits"))?,
    };
    if let Some(asked) = offered.server_max_window_bits.map(clamp_bits) {
        if server_max_window_bits > asked {
            return Err(NegotiationError::ServerWindowTooLarge {
                asked,
                answered: server_max_window_bits,
            });
        }
    }
    let client_max_window_bits = match (seen.client_max_window_bits, offered.client_max_window_bits)
    {
        (None, ClientWindow::AtMost(n)) => clamp_bits(n),
        (None, _) => MAX_WINDOW_BITS,
        (Some(_), ClientWindow::Omit) => return Err(NegotiationError::UnofferedClientWindow),
        // In a response the parameter has a value: the server says which
        // window the client uses.
        (Some(v), offer) => {
            let b = v
                .as_ref()
                .and_then(window_bits)
                .ok_or_else(|| invalid("client_max_window_bits"))?;
            match offer {
                ClientWindow::AtMost(n) => b.min(clamp_bits(n)),
                _ => b,
            }
        }
    };
    Ok(DeflateParams {
        server_no_context_takeover: seen.server_no_context_takeover,
        client_no_context_takeover: seen.client_no_context_takeover
            || offered.client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that takes whatever the client allows: no limits of its own.
    const OPEN: ServerPolicy = ServerPolicy {
        server_max_window_bits: 15,
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        client_max_window_bits: None,
    };

    fn params(snct: bool, cnct: bool, server: u8, client: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: server,
            client_max_window_bits: client,
        }
    }

    /// `name: policy, offer => answer` — the response header value the server
    /// sends, or `None` when it declines every offer.
    macro_rules! server {
        ($($name:ident: $policy:expr, $offer:expr => $answer:expr;)*) => {$(
            #[test]
            fn $name() {
                let got = accept_offer([$offer], &$policy).map(|(_, r)| r);
                let want: Option<&str> = $answer;
                assert_eq!(got.as_deref(), want, "offer {:?}", $offer);
            }
        )*};
    }

    server! {
        // RFC 7692 section 5.2 and 7.1 example offers.
        rfc_bare: OPEN, "permessage-deflate" => Some("permessage-deflate");
        rfc_client_bits_no_value: OPEN, "permessage-deflate; client_max_window_bits"
            => Some("permessage-deflate");
        rfc_server_bits_10_then_bare: OPEN,
            "permessage-deflate; server_max_window_bits=10, permessage-deflate"
            => Some("permessage-deflate; server_max_window_bits=10");
        rfc_client_bits_10_then_client_bits: OPEN,
            "permessage-deflate; client_max_window_bits=10, permessage-deflate; client_max_window_bits"
            => Some("permessage-deflate; client_max_window_bits=10");
        rfc_server_no_context_takeover_echoed: OPEN,
            "permessage-deflate; server_no_context_takeover"
            => Some("permessage-deflate; server_no_context_takeover");
        rfc_client_no_context_takeover_echoed: OPEN,
            "permessage-deflate; client_no_context_takeover"
            => Some("permessage-deflate; client_no_context_takeover");
        // Browsers.
        chromium_default_policy: ServerPolicy::default(),
            "permessage-deflate; client_max_window_bits"
            => Some("permessage-deflate; server_max_window_bits=11; client_max_window_bits=11");
        firefox_default_policy: ServerPolicy::default(), "permessage-deflate"
            => Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=11");
        firefox_open: OPEN, "permessage-deflate" => Some("permessage-deflate");
        // Fallback: an invalid offer is declined and the next one tried.
        fallback_client_bits_7: OPEN,
            "permessage-deflate; client_max_window_bits=7, permessage-deflate"
            => Some("permessage-deflate");
        fallback_unknown_then_valid: OPEN,
            "permessage-deflate; foo, permessage-deflate; server_max_window_bits=9"
            => Some("permessage-deflate; server_max_window_bits=9");
        fallback_all_invalid: OPEN,
            "permessage-deflate; foo, permessage-deflate; server_max_window_bits"
            => None;
        first_valid_wins: OPEN,
            "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9"
            => Some("permessage-deflate; server_max_window_bits=8");
        // Section 5: unknown, duplicate and invalid declined.
        unknown_param: OPEN, "permessage-deflate; foo" => None;
        unknown_param_with_value: OPEN, "permessage-deflate; foo=1" => None;
        duplicate_server_bits: OPEN,
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10" => None;
        duplicate_client_bits: OPEN,
            "permessage-deflate; client_max_window_bits; client_max_window_bits" => None;
        duplicate_snct: OPEN,
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover" => None;
        duplicate_cnct: OPEN,
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover" => None;
        duplicate_any_case: OPEN,
            "permessage-deflate; client_no_context_takeover; Client_No_Context_Takeover" => None;
        server_bits_16: OPEN, "permessage-deflate; server_max_window_bits=16" => None;
        server_bits_7: OPEN, "permessage-deflate; server_max_window_bits=7" => None;
        server_bits_leading_zero: OPEN, "permessage-deflate; server_max_window_bits=08" => None;
        server_bits_zero: OPEN, "permessage-deflate; server_max_window_bits=0" => None;
        server_bits_huge: OPEN,
            "permessage-deflate; server_max_window_bits=99999999999999999999" => None;
        server_bits_sign: OPEN, "permessage-deflate; server_max_window_bits=+9" => None;
        server_bits_no_value: OPEN, "permessage-deflate; server_max_window_bits" => None;
        server_bits_empty_quoted: OPEN, "permessage-deflate; server_max_window_bits=\"\"" => None;
        client_bits_16: OPEN, "permessage-deflate; client_max_window_bits=16" => None;
        client_bits_leading_zero: OPEN, "permessage-deflate; client_max_window_bits=010" => None;
        snct_with_value: OPEN, "permessage-deflate; server_no_context_takeover=1" => None;
        cnct_with_value: OPEN, "permessage-deflate; client_no_context_takeover=\"x\"" => None;
        // Every valid window value.
        server_bits_8: OPEN, "permessage-deflate; server_max_window_bits=8"
            => Some("permessage-deflate; server_max_window_bits=8");
        server_bits_15: OPEN, "permessage-deflate; server_max_window_bits=15"
            => Some("permessage-deflate; server_max_window_bits=15");
        // Quoted values, unescaped before the check.
        quoted_server_bits: OPEN, "permessage-deflate; server_max_window_bits=\"10\""
            => Some("permessage-deflate; server_max_window_bits=10");
        quoted_client_bits: OPEN, "permessage-deflate; client_max_window_bits=\"10\""
            => Some("permessage-deflate; client_max_window_bits=10");
        quoted_escaped: OPEN, "permessage-deflate; client_max_window_bits=\"1\\1\""
            => Some("permessage-deflate; client_max_window_bits=11");
        quoted_not_a_number: OPEN, "permessage-deflate; client_max_window_bits=\"1 1\"" => None;
        quoted_unterminated: OPEN, "permessage-deflate; client_max_window_bits=\"10" => None;
        // Whitespace and case.
        whitespace_around: OPEN,
            " \tpermessage-deflate ;\tserver_max_window_bits = 10 ; client_max_window_bits\t"
            => Some("permessage-deflate; server_max_window_bits=10");
        no_whitespace: OPEN, "permessage-deflate;server_max_window_bits=11,foo"
            => Some("permessage-deflate; server_max_window_bits=11");
        upper_case_names: OPEN, "PerMessage-Deflate; SERVER_MAX_WINDOW_BITS=9"
            => Some("permessage-deflate; server_max_window_bits=9");
        empty_elements: OPEN, " , ,permessage-deflate,," => Some("permessage-deflate");
        // Other extensions around it.
        other_before: OPEN, "foo, permessage-deflate" => Some("permessage-deflate");
        other_after: OPEN, "permessage-deflate, foo; bar=\"a,b\"" => Some("permessage-deflate");
        other_with_same_params: OPEN, "x-webkit-deflate-frame; server_max_window_bits=9, permessage-deflate"
            => Some("permessage-deflate");
        only_others: OPEN, "foo, bar; baz" => None;
        empty: OPEN, "" => None;
        // A header that does not parse is declined as a whole.
        syntax_bad_name: OPEN, "permessage-deflate, \"foo\"" => None;
        syntax_stray_byte: OPEN, "permessage-deflate x" => None;
        syntax_missing_param: OPEN, "permessage-deflate;" => None;
        syntax_missing_value: OPEN, "permessage-deflate; server_max_window_bits=" => None;
        syntax_non_ascii: OPEN, "permessage-deflaté" => None;
        syntax_after_valid_offer: OPEN, "permessage-deflate, foo bar" => None;
        syntax_control_byte: OPEN, "permessage-deflate; a=\"\u{1}\"" => None;
        syntax_crlf: OPEN, "permessage-deflate\r\n" => None;
        quoted_other_extension_bytes: OPEN, "foo; a=\"\t; \\\" \u{e9}\", permessage-deflate"
            => Some("permessage-deflate");
        // The server's own policy, never wider than the offer.
        policy_narrower_than_offer: ServerPolicy::default(),
            "permessage-deflate; server_max_window_bits=14; client_max_window_bits=13"
            => Some("permessage-deflate; server_max_window_bits=11; client_max_window_bits=11");
        policy_wider_than_offer: ServerPolicy::default(),
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10"
            => Some("permessage-deflate; server_max_window_bits=9; client_max_window_bits=10");
        // A client that cannot limit its window is asked not to keep
        // context instead.
        policy_client_bits_not_offered: ServerPolicy { client_max_window_bits: Some(8), ..OPEN },
            "permessage-deflate" => Some("permessage-deflate; client_no_context_takeover");
        policy_client_bits_offered: ServerPolicy { client_max_window_bits: Some(8), ..OPEN },
            "permessage-deflate; client_max_window_bits" => Some("permessage-deflate; client_max_window_bits=8");
        policy_client_bits_15_says_nothing: ServerPolicy { client_max_window_bits: Some(15), ..OPEN },
            "permessage-deflate; client_max_window_bits" => Some("permessage-deflate");
        policy_out_of_range_clamped: ServerPolicy { server_max_window_bits: 3, client_max_window_bits: Some(200), ..OPEN },
            "permessage-deflate; client_max_window_bits"
            => Some("permessage-deflate; server_max_window_bits=8");
        policy_no_context_takeover: ServerPolicy {
                server_no_context_takeover: true, client_no_context_takeover: true, ..OPEN },
            "permessage-deflate"
            => Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        everything: OPEN,
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover; \
             client_max_window_bits=9; server_max_window_bits=8"
            => Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                     server_max_window_bits=8; client_max_window_bits=9");
    }

    #[test]
    fn several_header_lines_form_one_list() {
        let lines = [
            "foo",
            "permessage-deflate; foo",
            "permessage-deflate; server_max_window_bits=10",
        ];
        let (p, r) = accept_offer(lines, &OPEN).unwrap();
        assert_eq!(r, "permessage-deflate; server_max_window_bits=10");
        assert_eq!(p, params(false, false, 10, 15));
        // A syntax error on any line declines them all.
        assert_eq!(accept_offer(["permessage-deflate", "bad;"], &OPEN), None);
        assert_eq!(accept_offer(Vec::<&str>::new(), &OPEN), None);
    }

    #[test]
    fn agreed_params_match_the_answer() {
        let policy = ServerPolicy::default();
        let (p, _) = accept_offer(["permessage-deflate; client_max_window_bits"], &policy).unwrap();
        assert_eq!(p, params(false, false, 11, 11));
        let (p, _) = accept_offer(["permessage-deflate"], &policy).unwrap();
        // The client did not allow a limit: the server must inflate with
        // 15, and asks it to drop its context after each message, so that
        // it need not keep 32 KiB between them.
        assert_eq!(p, params(false, true, 11, 15));
        let (p, _) =
            accept_offer(["permessage-deflate; client_no_context_takeover"], &OPEN).unwrap();
        assert_eq!(p, params(false, true, 15, 15));
    }

    #[test]
    fn extensions_parse_names_params_and_values() {
        let value = "foo; a; b=1 ; c=\"x\\\"y\", permessage-deflate";
        let exts: Vec<_> = extensions([value]).collect::<Result<_, _>>().unwrap();
        assert_eq!(exts.len(), 2);
        assert_eq!(exts[0].name, "foo");
        let ps: Vec<_> = exts[0].params().collect();
        assert_eq!(ps.len(), 3);
        assert_eq!((ps[0].name, ps[0].value), ("a", None));
        assert_eq!(ps[1].name, "b");
        assert_eq!(ps[1].value.unwrap().raw(), "1");
        assert!(!ps[1].value.unwrap().is_quoted());
        let c = ps[2].value.unwrap();
        assert!(c.is_quoted());
        assert_eq!(c.raw(), "x\\\"y");
        assert_eq!(c.unescaped(), "x\"y");
        assert_eq!(exts[1].name, "permessage-deflate");
        assert_eq!(exts[1].params().count(), 0);
    }

    #[test]
    fn extensions_unescaped_borrows_without_escapes() {
        let exts: Vec<_> = extensions(["a; b=\"10\""]).map(Result::unwrap).collect();
        let v = exts[0].params().next().unwrap().value.unwrap();
        assert!(matches!(v.unescaped(), Cow::Borrowed("10")));
    }

    #[test]
    fn extensions_syntax_error_ends_the_list() {
        let mut it = extensions(["a, b c, d"]);
        assert_eq!(it.next().unwrap().unwrap().name, "a");
        assert_eq!(it.next(), Some(Err(SyntaxError { offset: 5 })));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn extensions_quoted_comma_is_not_a_separator() {
        let names: Vec<_> = extensions(["a; q=\"x, y\", b"])
            .map(|e| e.unwrap().name)
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn extensions_empty_header_lines() {
        assert_eq!(extensions(["", " ", ","]).count(), 0);
    }

    /// `name: offered, response => result` for the client.
    macro_rules! client {
        ($($name:ident: $offered:expr, $response:expr => $result:expr;)*) => {$(
            #[test]
            fn $name() {
                let got = accept_response($response, &$offered);
                let want: Result<DeflateParams, NegotiationError> = $result;
                assert_eq!(got, want, "response {:?}", $response);
            }
        )*};
    }

    const DEFAULT: ClientPolicy = ClientPolicy {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: ClientWindow::Supported,
    };
    const PLAIN: ClientPolicy = ClientPolicy {
        client_max_window_bits: ClientWindow::Omit,
        ..DEFAULT
    };

    fn unknown(name: &str) -> NegotiationError {
        NegotiationError::UnknownParameter(name.to_owned())
    }
    fn dup(name: &str) -> NegotiationError {
        NegotiationError::DuplicateParameter(name.to_owned())
    }

    client! {
        client_bare: DEFAULT, "permessage-deflate" => Ok(params(false, false, 15, 15));
        client_default_answer: DEFAULT,
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
            => Ok(params(false, false, 12, 12));
        client_no_context_takeover_both: PLAIN,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            => Ok(params(true, true, 15, 15));
        client_quoted_and_spaces: DEFAULT,
            " permessage-deflate ; client_max_window_bits = \"9\" "
            => Ok(params(false, false, 15, 9));
        client_own_cnct_kept: ClientPolicy { client_no_context_takeover: true, ..DEFAULT },
            "permessage-deflate" => Ok(params(false, true, 15, 15));
        client_hint_kept_when_unanswered: ClientPolicy { client_max_window_bits: ClientWindow::AtMost(10), ..DEFAULT },
            "permessage-deflate" => Ok(params(false, false, 15, 10));
        client_hint_lowers_wider_answer: ClientPolicy { client_max_window_bits: ClientWindow::AtMost(10), ..DEFAULT },
            "permessage-deflate; client_max_window_bits=12" => Ok(params(false, false, 15, 10));
        client_server_bits_smaller_than_asked: ClientPolicy { server_max_window_bits: Some(10), ..DEFAULT },
            "permessage-deflate; server_max_window_bits=9" => Ok(params(false, false, 9, 15));
        client_server_bits_equal_to_asked: ClientPolicy { server_max_window_bits: Some(10), ..DEFAULT },
            "permessage-deflate; server_max_window_bits=10" => Ok(params(false, false, 10, 15));
        client_snct_unasked_accepted: DEFAULT,
            "permessage-deflate; server_no_context_takeover" => Ok(params(true, false, 15, 15));
        // Failures, one per rule.
        client_fail_unknown: DEFAULT, "permessage-deflate; foo" => Err(unknown("foo"));
        client_fail_duplicate: DEFAULT,
            "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9"
            => Err(dup("server_max_window_bits"));
        client_fail_duplicate_flag: DEFAULT,
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover"
            => Err(dup("server_no_context_takeover"));
        client_fail_server_bits_16: DEFAULT, "permessage-deflate; server_max_window_bits=16"
            => Err(NegotiationError::InvalidValue("server_max_window_bits".into()));
        client_fail_server_bits_7: DEFAULT, "permessage-deflate; server_max_window_bits=7"
            => Err(NegotiationError::InvalidValue("server_max_window_bits".into()));
        client_fail_server_bits_leading_zero: DEFAULT, "permessage-deflate; server_max_window_bits=09"
            => Err(NegotiationError::InvalidValue("server_max_window_bits".into()));
        client_fail_server_bits_no_value: DEFAULT, "permessage-deflate; server_max_window_bits"
            => Err(NegotiationError::InvalidValue("server_max_window_bits".into()));
        client_fail_client_bits_no_value: DEFAULT, "permessage-deflate; client_max_window_bits"
            => Err(NegotiationError::InvalidValue("client_max_window_bits".into()));
        client_fail_client_bits_bad: DEFAULT, "permessage-deflate; client_max_window_bits=abc"
            => Err(NegotiationError::InvalidValue("client_max_window_bits".into()));
        client_fail_flag_value: DEFAULT, "permessage-deflate; client_no_context_takeover=1"
            => Err(NegotiationError::InvalidValue("client_no_context_takeover".into()));
        client_fail_client_bits_unoffered: PLAIN, "permessage-deflate; client_max_window_bits=10"
            => Err(NegotiationError::UnofferedClientWindow);
        client_fail_server_bits_above_asked: ClientPolicy { server_max_window_bits: Some(10), ..DEFAULT },
            "permessage-deflate; server_max_window_bits=11"
            => Err(NegotiationError::ServerWindowTooLarge { asked: 10, answered: 11 });
        client_fail_server_bits_missing_when_asked: ClientPolicy { server_max_window_bits: Some(10), ..DEFAULT },
            "permessage-deflate"
            => Err(NegotiationError::ServerWindowTooLarge { asked: 10, answered: 15 });
        client_fail_two_elements: DEFAULT, "permessage-deflate, permessage-deflate"
            => Err(NegotiationError::MultipleResponses);
        client_fail_other_extension: DEFAULT, "foo" => Err(NegotiationError::UnofferedExtension("foo".into()));
        client_fail_other_after: DEFAULT, "permessage-deflate, foo"
            => Err(NegotiationError::UnofferedExtension("foo".into()));
        client_fail_empty: DEFAULT, " , " => Err(NegotiationError::NoExtension);
        client_fail_syntax: DEFAULT, "permessage-deflate;"
            => Err(NegotiationError::Syntax(SyntaxError { offset: 19 }));
    }

    #[test]
    fn client_offer_formats() {
        assert_eq!(
            client_offer(&ClientPolicy::default()),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(client_offer(&PLAIN), "permessage-deflate");
        let all = ClientPolicy {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(10),
            client_max_window_bits: ClientWindow::AtMost(9),
        };
        assert_eq!(
            client_offer(&all),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=9"
        );
        let clamped = ClientPolicy {
            server_max_window_bits: Some(99),
            client_max_window_bits: ClientWindow::AtMost(0),
            ..PLAIN
        };
        assert_eq!(
            client_offer(&clamped),
            "permessage-deflate; server_max_window_bits=15; client_max_window_bits=8"
        );
    }

    #[test]
    fn errors_display_and_source() {
        let e = NegotiationError::ServerWindowTooLarge {
            asked: 10,
            answered: 15,
        };
        assert_eq!(
            e.to_string(),
            "the response allows server_max_window_bits=15, above the 10 asked for"
        );
        assert!(std::error::Error::source(&e).is_none());
        let s = NegotiationError::from(SyntaxError { offset: 3 });
        assert_eq!(
            s.to_string(),
            "malformed Sec-WebSocket-Extensions value at byte 3"
        );
        assert!(std::error::Error::source(&s).is_some());
        assert_eq!(
            unknown("x").to_string(),
            "unknown permessage-deflate parameter \"x\""
        );
    }

    #[test]
    fn every_error_says_something() {
        let all = [
            NegotiationError::Syntax(SyntaxError { offset: 0 }),
            NegotiationError::NoExtension,
            NegotiationError::UnofferedExtension("foo".into()),
            NegotiationError::MultipleResponses,
            unknown("foo"),
            dup("server_no_context_takeover"),
            NegotiationError::InvalidValue("server_max_window_bits".into()),
            NegotiationError::UnofferedClientWindow,
            NegotiationError::ServerWindowTooLarge {
                asked: 8,
                answered: 9,
            },
        ];
        let texts: Vec<String> = all.iter().map(|e| e.to_string()).collect();
        for (i, t) in texts.iter().enumerate() {
            assert!(!t.is_empty());
            assert!(texts[..i].iter().all(|u| u != t), "{t:?} twice");
        }
    }

    fn client_policies() -> Vec<ClientPolicy> {
        let mut out = Vec::new();
        for snct in [false, true] {
            for cnct in [false, true] {
                for server in [None, Some(8), Some(10), Some(15)] {
                    for client in [
                        ClientWindow::Omit,
                        ClientWindow::Supported,
                        ClientWindow::AtMost(8),
                        ClientWindow::AtMost(11),
                        ClientWindow::AtMost(15),
                    ] {
                        out.push(ClientPolicy {
                            server_no_context_takeover: snct,
                            client_no_context_takeover: cnct,
                            server_max_window_bits: server,
                            client_max_window_bits: client,
                        });
                    }
                }
            }
        }
        out
    }

    fn server_policies() -> Vec<ServerPolicy> {
        let mut out = Vec::new();
        for snct in [false, true] {
            for cnct in [false, true] {
                for server in [8, 9, 12, 15] {
                    for client in [None, Some(8), Some(12), Some(15)] {
                        out.push(ServerPolicy {
                            server_max_window_bits: server,
                            server_no_context_takeover: snct,
                            client_no_context_takeover: cnct,
                            client_max_window_bits: client,
                        });
                    }
                }
            }
        }
        out
    }

    #[test]
    fn round_trip_every_policy_pair() {
        let mut pairs = 0;
        for cp in client_policies() {
            let offer = client_offer(&cp);
            for sp in server_policies() {
                let (server_side, response) = accept_offer([offer.as_str()], &sp)
                    .unwrap_or_else(|| panic!("{offer:?} declined"));
                let client_side = accept_response(&response, &cp)
                    .unwrap_or_else(|e| panic!("{offer:?} -> {response:?}: {e}"));
                assert_eq!(server_side, client_side, "{offer:?} -> {response:?}");
                // Never wider than the offer, nor than the server wants.
                let p = server_side;
                assert!(p.server_max_window_bits <= sp.server_max_window_bits);
                if let Some(n) = cp.server_max_window_bits {
                    assert!(p.server_max_window_bits <= n);
                }
                match cp.client_max_window_bits {
                    ClientWindow::Omit => {
                        assert_eq!(p.client_max_window_bits, 15);
                        assert!(!response.contains("client_max_window_bits"));
                    }
                    ClientWindow::AtMost(n) => assert!(p.client_max_window_bits <= n),
                    ClientWindow::Supported => {}
                }
                assert!(p.server_no_context_takeover >= cp.server_no_context_takeover);
                assert!(p.server_no_context_takeover >= sp.server_no_context_takeover);
                assert!(p.client_no_context_takeover >= cp.client_no_context_takeover);
                assert!(p.client_no_context_takeover >= sp.client_no_context_takeover);
                // The answer is itself a valid offer with the same numbers.
                let ext = extensions([response.as_str()]).next().unwrap().unwrap();
                Offer::parse(&ext).unwrap();
                pairs += 1;
            }
        }
        assert_eq!(pairs, 80 * 64);
    }

    /// xorshift64: a seeded, reproducible source for the fuzz test.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn random_headers_never_panic() {
        const PIECES: &[&str] = &[
            "permessage-deflate",
            "foo",
            ";",
            ",",
            "=",
            "\"",
            "\\",
            " ",
            "\t",
            "server_max_window_bits",
            "client_max_window_bits",
            "server_no_context_takeover",
            "client_no_context_takeover",
            "8",
            "15",
            "16",
            "08",
            "1",
            "\u{e9}",
            "\r\n",
            "\0",
            "x",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15;
        let mut accepted = 0;
        for _ in 0..20_000 {
            let len = next(&mut state) % 12;
            let mut header = String::new();
            for _ in 0..len {
                let i = (next(&mut state) % PIECES.len() as u64) as usize;
                header.push_str(PIECES[i]);
            }
            let _ = extensions([header.as_str()]).count();
            for ext in extensions([header.as_str()]).flatten() {
                let _ = ext.params().count();
            }
            if let Some((p, response)) = accept_offer([header.as_str()], &ServerPolicy::default()) {
                accepted += 1;
                assert!((8..=15).contains(&p.server_max_window_bits));
                assert!((8..=15).contains(&p.client_max_window_bits));
                assert!(response.starts_with(EXTENSION_NAME));
            }
            let _ = accept_response(&header, &ClientPolicy::default());
            let _ = accept_response(&header, &PLAIN);
        }
        assert!(accepted > 0, "the generator never made a valid offer");
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state = 0x0123_4567_89ab_cdef;
        for _ in 0..20_000 {
            let len = next(&mut state) % 40;
            let bytes: Vec<u8> = (0..len).map(|_| (next(&mut state) % 128) as u8).collect();
            let header = String::from_utf8_lossy(&bytes);
            let _ = accept_offer([header.as_ref()], &OPEN);
            let _ = accept_response(&header, &DEFAULT);
            for ext in extensions([header.as_ref()]).flatten() {
                for p in ext.params() {
                    let _ = p.value.map(|v| v.unescaped());
                }
            }
        }
    }
}
