//! The read buffer of a blocking connection: received bytes waiting for the
//! [`Receiver`](crate::Receiver), in one growable allocation that an idle
//! connection does not hold.

use crate::frame::MAX_HEADER_LEN;
use std::io::{self, Read};

/// The read buffer of a blocking connection: bytes `start..end` of `data`
/// are received but not yet consumed.
///
/// It is allocated on the first [`fill`](Self::fill), so an idle connection
/// holds none, and it grows, while reads keep filling it, up to a maximum.
/// Since a [`Receiver`](crate::Receiver) consumes payload as it arrives, what stays behind
/// between reads is at most a partial frame header: the buffer never needs
/// to hold a whole frame. [`WebSocket`](super::WebSocket) uses one; a server with its own
/// read loop can too.
#[derive(Debug)]
pub struct ReadBuffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
    initial: usize,
    max: usize,
}

impl ReadBuffer {
    /// A buffer that starts at `initial` bytes, may grow to `max`, and
    /// holds `leftover` (bytes read past the handshake) to begin with.
    pub fn new(initial: usize, max: usize, leftover: &[u8]) -> ReadBuffer {
        let initial = initial.max(MAX_HEADER_LEN);
        ReadBuffer {
            data: leftover.to_vec(),
            start: 0,
            end: leftover.len(),
            initial,
            max: max.max(initial),
        }
    }

    /// The bytes received and not yet consumed.
    pub fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Whether no received byte is waiting.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether memory is held; after [`release`](Self::release), none is.
    pub fn is_allocated(&self) -> bool {
        !self.data.is_empty()
    }

    /// All of the buffer's memory. Payloads lent to the write queue are
    /// ranges of it (see [`WriteQueue`](super::write_queue::WriteQueue)).
    pub(crate) fn storage(&self) -> &[u8] {
        &self.data
    }

    /// Where [`pending`](Self::pending) starts in [`storage`](Self::storage).
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// The pending bytes, to be unmasked where they lie.
    pub(crate) fn pending_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.end]
    }

    /// Drops `n` bytes from the front of [`pending`](Self::pending).
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Frees the memory if nothing is pending: for a connection that has
    /// gone quiet.
    pub fn release(&mut self) {
        if self.is_empty() {
            self.data = Vec::new();
        }
    }

    /// One `read` call on `stream`; returns the number of bytes received
    /// (0: end of file).
    ///
    /// # Errors
    /// Whatever the stream's `read` fails with, `Interrupted` aside.
    pub fn fill<R: Read + ?Sized>(&mut self, stream: &mut R) -> io::Result<usize> {
        if self.data.is_empty() {
            self.data = vec![0; self.initial.max(self.end)];
        } else if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.data.len() * 2).max(self.initial);
                self.data.resize(grown, 0);
            }
        }
        let free = self.data.len() - self.end;
        let n = loop {
            match stream.read(&mut self.data[self.end..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.end += n;
        // Reads that fill the buffer mean the peer sends faster than we
        // read: a bigger buffer takes fewer system calls.
        if n == free && self.data.len() < self.max {
            let grown = (self.data.len() * 2).min(self.max);
            self.data.resize(grown, 0);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that hands out `chunk` bytes per read.
    struct Chunks<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Chunks<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn nothing_is_allocated_until_the_first_fill() {
        let mut buffer = ReadBuffer::new(16, 64, &[]);
        assert!(!buffer.is_allocated());
        let mut stream = Chunks {
            data: b"abc",
            chunk: 8,
        };
        assert_eq!(buffer.fill(&mut stream).unwrap(), 3);
        assert!(buffer.is_allocated());
        assert_eq!(buffer.pending(), b"abc");
        buffer.consume(3);
        buffer.release();
        assert!(!buffer.is_allocated());
    }

    #[test]
    fn leftover_comes_first_and_release_keeps_pending_bytes() {
        let mut buffer = ReadBuffer::new(16, 64, b"xy");
        assert_eq!(buffer.pending(), b"xy");
        buffer.release();
        assert_eq!(buffer.pending(), b"xy");
        let mut stream = Chunks {
            data: b"z",
            chunk: 8,
        };
        buffer.fill(&mut stream).unwrap();
        assert_eq!(buffer.pending(), b"xyz");
    }

    #[test]
    fn full_reads_grow_the_buffer_up_to_its_maximum() {
        let data = vec![7u8; 1000];
        let mut stream = Chunks {
            data: &data,
            chunk: 1000,
        };
        let mut buffer = ReadBuffer::new(16, 64, &[]);
        let mut sizes = Vec::new();
        let mut total = 0;
        while total < 1000 {
            let n = buffer.fill(&mut stream).unwrap();
            total += n;
            buffer.consume(n);
            sizes.push(buffer.storage().len());
        }
        assert_eq!(&sizes[..3], [32, 64, 64]);
        assert!(sizes.iter().all(|&size| size <= 64));
    }

    #[test]
    fn consumed_bytes_make_room_before_the_buffer_grows() {
        let data = vec![1u8; 32];
        let mut stream = Chunks {
            data: &data,
            chunk: 16,
        };
        let mut buffer = ReadBuffer::new(16, 16, &[]);
        assert_eq!(buffer.fill(&mut stream).unwrap(), 16);
        buffer.consume(10);
        assert_eq!(buffer.fill(&mut stream).unwrap(), 10);
        assert_eq!(buffer.pending().len(), 16);
        assert_eq!(buffer.storage().len(), 16);
    }
}
