//! Randomness the protocol requires: masking keys (RFC 6455 section 5.3) and
//! the handshake nonce `Sec-WebSocket-Key` (section 4.1).
//!
//! Section 5.3 says the masking key "MUST be derived from a strong source of
//! entropy" and must not be predictable from earlier frames, and section 10.3
//! explains why: a hostile script that could guess the key could choose the
//! bytes on the wire. The standard library has no random number generator, so
//! this module reads the operating system's: `/dev/urandom`, in blocks of 256
//! bytes per thread so that a client sending many small frames does not make
//! a system call for each key.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};

/// How many random bytes each thread reads from the OS at a time.
const BLOCK: usize = 256;

struct Pool {
    source: Option<File>,
    bytes: [u8; BLOCK],
    used: usize,
}

impl Pool {
    fn take(&mut self, out: &mut [u8]) -> io::Result<()> {
        for byte in out.iter_mut() {
            if self.used == BLOCK {
                self.refill()?;
            }
            *byte = self.bytes[self.used];
            self.used += 1;
        }
        Ok(())
    }

    fn refill(&mut self) -> io::Result<()> {
        if self.source.is_none() {
            self.source = Some(File::open("/dev/urandom")?);
        }
        if let Some(source) = self.source.as_mut() {
            source.read_exact(&mut self.bytes)?;
        }
        self.used = 0;
        Ok(())
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool { source: None, bytes: [0; BLOCK], used: BLOCK })
    };
}

/// Fills `out` with bytes from the operating system's random source.
///
/// # Errors
/// Fails when `/dev/urandom` cannot be opened or read (for example on a
/// platform that has none): the caller must not fall back to a guessable key.
pub fn fill_random(out: &mut [u8]) -> io::Result<()> {
    POOL.with(|pool| pool.borrow_mut().take(out))
}

/// A fresh, unpredictable masking key for one client frame (section 5.3).
///
/// # Errors
/// As [`fill_random`].
pub fn masking_key() -> io::Result<[u8; 4]> {
    let mut key = [0u8; 4];
    fill_random(&mut key)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_and_cross_block_boundaries() {
        // 1000 keys span several 256-byte refills; a fixed or repeating source
        // would produce duplicates far more often than a random one.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            seen.insert(masking_key().expect("os random source"));
        }
        // Among 1000 random 32-bit values, a collision has odds of about 1e-4.
        assert!(seen.len() >= 999, "only {} distinct keys", seen.len());
    }

    #[test]
    fn fill_random_fills_large_buffers() {
        let mut a = [0u8; 1000];
        let mut b = [0u8; 1000];
        fill_random(&mut a).unwrap();
        fill_random(&mut b).unwrap();
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != 0));
    }
}
