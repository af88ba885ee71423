//! Streams and frame helpers for the tests of the blocking connection.

use crate::config::Config;
use crate::frame::encode_frame;
use crate::message::Message;
use crate::opcode::OpCode;
use crate::protocol::{Receiver, Role};
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

/// A stream that hands out its input in reads of at most `step` bytes
/// and keeps what is written. Clones share both (for `split`).
#[derive(Clone, Debug)]
pub(crate) struct Scripted(Arc<Mutex<ScriptedInner>>);

#[derive(Debug)]
struct ScriptedInner {
    input: Vec<u8>,
    at: usize,
    step: usize,
    written: Vec<u8>,
}

impl Scripted {
    pub(crate) fn new(input: Vec<u8>, step: usize) -> Scripted {
        Scripted(Arc::new(Mutex::new(ScriptedInner {
            input,
            at: 0,
            step,
            written: Vec::new(),
        })))
    }

    pub(crate) fn written(&self) -> Vec<u8> {
        self.0.lock().unwrap().written.clone()
    }
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut inner = self.0.lock().unwrap();
        let n = buf.len().min(inner.step).min(inner.input.len() - inner.at);
        let at = inner.at;
        buf[..n].copy_from_slice(&inner.input[at..at + n]);
        inner.at += n;
        Ok(n)
    }
}

impl Write for Scripted {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().written.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The frames `role`'s peer sends: each `(fin, opcode, payload)` as it is.
pub(crate) fn peer_frames(role: Role, frames: &[(bool, OpCode, Vec<u8>)]) -> Vec<u8> {
    let key = match role {
        Role::Server => Some([9, 8, 7, 6]),
        Role::Client => None,
    };
    let mut out = Vec::new();
    for (fin, opcode, payload) in frames {
        encode_frame(&mut out, *fin, *opcode, payload, key);
    }
    out
}

/// Every message on `wire`, as `role` sent it.
pub(crate) fn messages_on(wire: &[u8], role: Role) -> Vec<Message> {
    let peer = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let mut receiver = Receiver::new(peer, Config::default());
    let mut received = Vec::new();
    let mut offset = 0;
    while offset < wire.len() {
        let (used, message) = receiver.decode(&wire[offset..]).unwrap();
        offset += used;
        received.extend(message);
    }
    received
}
