//! Opcodes: what a frame carries (RFC 6455 section 5.2, registry in section 11.8).
//!
//! The opcode is the low nibble of a frame's first byte. Values `0x0`-`0x2`
//! carry data, `0x8`-`0xA` are *control* frames (section 5.5), and every other
//! value is reserved: a peer that sends one without having negotiated an
//! extension that defines it must be failed (section 5.2, "If an unknown
//! opcode is received, the receiving endpoint MUST _Fail the WebSocket
//! Connection_").

use std::fmt;

/// The kind of a frame, decoded from the 4-bit opcode field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// `0x0`: continues a fragmented data message (section 5.4).
    Continuation,
    /// `0x1`: the first frame of a text message; the payload is UTF-8.
    Text,
    /// `0x2`: the first frame of a binary message.
    Binary,
    /// `0x8`: the closing handshake (section 5.5.1).
    Close,
    /// `0x9`: a heartbeat request that must be answered by a pong (5.5.2).
    Ping,
    /// `0xA`: the answer to a ping, or an unsolicited heartbeat (5.5.3).
    Pong,
}

impl OpCode {
    /// Decodes the 4-bit opcode field. Returns `None` for the reserved values
    /// `0x3`-`0x7` and `0xB`-`0xF` (and anything above 4 bits).
    ///
    /// ```
    /// use rusty_socket_core::OpCode;
    /// assert_eq!(OpCode::from_u8(0x1), Some(OpCode::Text));
    /// assert_eq!(OpCode::from_u8(0x3), None);
    /// ```
    pub const fn from_u8(value: u8) -> Option<OpCode> {
        match value {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// The 4-bit value written on the wire.
    pub const fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Control frames have the high bit of the opcode set (section 5.5): they
    /// may not be fragmented and carry at most 125 bytes of payload.
    pub const fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }

    /// Text, binary and continuation frames carry application data.
    pub const fn is_data(self) -> bool {
        !self.is_control()
    }
}

impl From<OpCode> for u8 {
    fn from(opcode: OpCode) -> u8 {
        opcode.as_u8()
    }
}

impl TryFrom<u8> for OpCode {
    type Error = u8;

    /// Fails with the raw value when it is a reserved opcode.
    fn try_from(value: u8) -> Result<Self, u8> {
        OpCode::from_u8(value).ok_or(value)
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            OpCode::Continuation => "continuation",
            OpCode::Text => "text",
            OpCode::Binary => "binary",
            OpCode::Close => "close",
            OpCode::Ping => "ping",
            OpCode::Pong => "pong",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nibble_round_trips_or_is_reserved() {
        let defined = [0x0, 0x1, 0x2, 0x8, 0x9, 0xA];
        for value in 0u8..=0x0F {
            match OpCode::from_u8(value) {
                Some(opcode) => {
                    assert!(defined.contains(&value), "{value:#x} must be reserved");
                    assert_eq!(opcode.as_u8(), value);
                    assert_eq!(OpCode::try_from(value), Ok(opcode));
                }
                None => {
                    assert!(!defined.contains(&value), "{value:#x} must be defined");
                    assert_eq!(OpCode::try_from(value), Err(value));
                }
            }
        }
    }

    #[test]
    fn control_opcodes_are_exactly_close_ping_pong() {
        assert!(OpCode::Close.is_control());
        assert!(OpCode::Ping.is_control());
        assert!(OpCode::Pong.is_control());
        assert!(OpCode::Text.is_data());
        assert!(OpCode::Binary.is_data());
        assert!(OpCode::Continuation.is_data());
    }
}
