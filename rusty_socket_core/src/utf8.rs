//! Incremental UTF-8 validation of text messages (RFC 6455 sections 5.6 and
//! 8.1).
//!
//! A text message's payload must be valid UTF-8, and "when an endpoint is to
//! interpret a byte stream as UTF-8 but finds that the byte stream is not, in
//! fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
//! Connection_" (section 8.1) with close code 1007.
//!
//! A message may arrive in many frames, and one frame may arrive in many
//! reads, so the receiver validates each piece as it arrives instead of
//! waiting for the whole message: an invalid sequence is caught as soon as
//! its first wrong byte is seen (Autobahn cases 6.4.x check exactly this).
//! The only state carried between pieces is a code point cut in two: at most
//! three bytes that form a valid *beginning* of a sequence.
//!
//! The byte-level work is done by [`std::str::from_utf8`], whose error tells
//! the two cases apart: `error_len() == None` means "valid so far, but the
//! input ended inside a sequence", anything else is a real error.

use std::fmt;

/// The payload of a text message is not valid UTF-8 (close code 1007).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8 in a text message")
    }
}

impl std::error::Error for InvalidUtf8 {}

/// Validates a UTF-8 stream fed in pieces of any size.
///
/// ```
/// use rusty_socket_core::utf8::Utf8Validator;
/// let euro = "€".as_bytes(); // three bytes: e2 82 ac
/// let mut v = Utf8Validator::new();
/// assert!(v.feed(&euro[..1]).is_ok()); // a valid beginning
/// assert!(v.feed(&euro[1..]).is_ok());
/// assert!(v.finish().is_ok());
///
/// let mut v = Utf8Validator::new();
/// assert!(v.feed(&[0xe2, 0x28]).is_err()); // fails at the second byte
/// ```
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// The start of a code point that the last piece cut off.
    partial: [u8; 4],
    partial_len: usize,
}

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub const fn new() -> Self {
        Utf8Validator {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Validates the next piece of the stream.
    ///
    /// # Errors
    /// [`InvalidUtf8`] as soon as a byte makes the stream invalid, even if the
    /// sequence it belongs to started in an earlier piece.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            // Complete the code point left over from the previous piece.
            let width = sequence_width(self.partial[0]);
            let take = (width - self.partial_len).min(input.len());
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(&input[..take]);
            self.partial_len += take;
            match std::str::from_utf8(&self.partial[..self.partial_len]) {
                Ok(_) => self.partial_len = 0,
                // Still a valid beginning: the input ran out before the end.
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(InvalidUtf8),
            }
            input = &input[take..];
        }
        match std::str::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                Some(_) => Err(InvalidUtf8),
                None => {
                    let rest = &input[e.valid_up_to()..];
                    self.partial[..rest.len()].copy_from_slice(rest);
                    self.partial_len = rest.len();
                    Ok(())
                }
            },
        }
    }

    /// Declares the end of the stream (the final frame of a message).
    ///
    /// # Errors
    /// [`InvalidUtf8`] if the stream ends in the middle of a code point.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Forgets any partial code point, ready for a new message.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }
}

/// The length of the sequence that `lead` begins. Only called on bytes that
/// `from_utf8` accepted as the start of an unfinished sequence.
fn sequence_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at every possible pair of points and checks that
    /// the verdict never depends on the split.
    fn verdict_for_all_splits(input: &[u8]) -> bool {
        let whole = std::str::from_utf8(input).is_ok();
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let mut v = Utf8Validator::new();
                let ok = v.feed(&input[..a]).is_ok()
                    && v.feed(&input[a..b]).is_ok()
                    && v.feed(&input[b..]).is_ok()
                    && v.finish().is_ok();
                assert_eq!(ok, whole, "input {input:x?} split at {a},{b}");
            }
        }
        whole
    }

    #[test]
    fn valid_and_invalid_inputs_agree_with_std_for_every_split() {
        let valid: [&[u8]; 6] = [
            b"",
            b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
            "κόσμε".as_bytes(),
            "\u{10FFFF}\u{FFFF}\u{0080}\u{07FF}".as_bytes(),
            b"\xed\x9f\xbf",     // U+D7FF, just below the surrogates
            b"\xf0\x90\x80\x80", // U+10000
        ];
        for input in valid {
            assert!(verdict_for_all_splits(input));
        }
        let invalid: [&[u8]; 8] = [
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", // surrogate
            b"\xf4\x90\x80\x80",                                         // above U+10FFFF
            b"\xc0\xaf",                                                 // overlong '/'
            b"\xe0\x80\xaf",                                             // overlong
            b"\x80",                                                     // lone continuation
            b"\xfe",
            b"abc\xe2\x82", // truncated at the end
            b"\xc2\x41",    // lead byte followed by ASCII
        ];
        for input in invalid {
            assert!(!verdict_for_all_splits(input));
        }
    }

    #[test]
    fn fails_fast_at_the_first_wrong_byte() {
        // Autobahn 6.4.1: the first part is fine, the second part makes the
        // code point 0x110000; the error must come with that second part.
        let mut v = Utf8Validator::new();
        assert!(v.feed("κόσμε".as_bytes()).is_ok());
        assert!(v.feed(b"\xf4").is_ok());
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
    }

    #[test]
    fn a_code_point_may_be_split_across_pieces() {
        let mut v = Utf8Validator::new();
        for byte in "𝄞 clef".as_bytes() {
            v.feed(std::slice::from_ref(byte)).unwrap();
        }
        v.finish().unwrap();
    }

    #[test]
    fn finish_rejects_a_truncated_code_point_and_resets() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xe2\x82").unwrap();
        assert_eq!(v.finish(), Err(InvalidUtf8));
        // The validator is clean again for the next message.
        v.feed(b"ok").unwrap();
        v.finish().unwrap();
    }
}
