//! The answer of every push parser in this crate (the HTTP head, the frame
//! header): "need more bytes", or a value and how many bytes it took.
//!
//! A parser is given the bytes received so far; it never reads a socket and
//! never treats a short input as an error. The caller keeps its buffer,
//! reads more when told [`Decoded::Partial`], and drops the `used` bytes
//! of a [`Decoded::Complete`].
//!
//! ```
//! use rusty_socket_core::frame::FrameHeader;
//! use rusty_socket_core::Decoded;
//! // The first byte of a frame is not a header yet.
//! assert_eq!(FrameHeader::decode(&[0x81]), Ok(Decoded::Partial));
//! assert!(matches!(FrameHeader::decode(&[0x81, 0x05]), Ok(Decoded::Complete(_, 2))));
//! ```

/// The answer of a push parser: either "need more bytes" or a value and how
/// many bytes of the input it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// The input ends before the value does; call again with more bytes.
    /// This is never an error.
    Partial,
    /// The value, and the number of input bytes it took.
    Complete(T, usize),
}
