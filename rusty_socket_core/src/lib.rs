//! # rusty_socket_core
//!
//! The WebSocket protocol (RFC 6455) written from scratch on the standard
//! library alone. Placeholder docs; the walkthrough comes with the docs issue.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod base64;
pub mod close;
pub mod config;
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
pub mod utf8;
pub mod websocket;

pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use error::{CapacityError, Error, HandshakeError, ProtocolError, Result};
pub use message::Message;
pub use opcode::OpCode;
pub use protocol::{Receiver, Role};
pub use websocket::{ReadHalf, WebSocket, WriteHalf};
