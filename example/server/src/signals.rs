//! SIGTERM and SIGINT, turned into a call on an ordinary thread, with the
//! C library that `std` already links and no crate.
//!
//! A signal handler may do almost nothing: only async-signal-safe
//! functions (POSIX.1-2017, section 2.4.3), and no locks or allocation.
//! Ours writes one byte to a socket (`write(2)` is on that list); a thread
//! blocked reading the other end wakes up and runs the caller's code, where
//! anything is allowed: the self-pipe trick.

use std::io::{self, Read};

/// Calls `stop` (on a thread of its own) with the signal's number when the
/// process receives SIGTERM or SIGINT; a second signal ends the process at
/// once, the system's default. Elsewhere than on Unix, does nothing.
///
/// # Errors
/// If the socket pair, the thread or the handlers cannot be set up.
pub fn on_stop(stop: impl FnOnce(i32) + Send + 'static) -> io::Result<()> {
    imp::on_stop(stop)
}

#[cfg(unix)]
mod imp {
    use super::{io, Read};
    use std::os::fd::IntoRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::thread;

    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    /// `SIG_DFL`: the default action.
    const DEFAULT: usize = 0;
    /// `SIG_ERR`: what `signal` returns when it fails.
    const FAILED: usize = usize::MAX;

    /// The write end of the socket pair, once set up; never closed.
    static WAKE: AtomicI32 = AtomicI32::new(-1);

    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
        fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    }

    extern "C" fn on_signal(signum: i32) {
        let fd = WAKE.load(Ordering::Relaxed);
        if fd < 0 {
            return;
        }
        let byte = signum as u8;
        // SAFETY: write(2) is async-signal-safe; `byte` is a local that
        // lives for the whole call, and we pass its length, 1. `fd` came
        // from `into_raw_fd` and is never closed, so it is a valid
        // descriptor for the life of the process. A failed write (a full
        // buffer after many signals) is harmless: one byte already waits.
        unsafe {
            write(fd, &byte, 1);
        }
        for signum in [SIGINT, SIGTERM] {
            // SAFETY: signal(2) is async-signal-safe; SIG_DFL restores the
            // default, so a second signal ends the process.
            unsafe {
                signal(signum, DEFAULT);
            }
        }
    }

    pub(super) fn on_stop(stop: impl FnOnce(i32) + Send + 'static) -> io::Result<()> {
        let (mut waiting, wake) = UnixStream::pair()?;
        let handler = on_signal as extern "C" fn(i32) as usize;
        thread::Builder::new()
            .name("signals".to_owned())
            .spawn(move || {
                let mut byte = [0u8; 1];
                if waiting.read_exact(&mut byte).is_ok() {
                    stop(i32::from(byte[0]));
                }
            })?;
        let fd = wake.into_raw_fd();
        WAKE.store(fd, Ordering::Relaxed);
        for signum in [SIGINT, SIGTERM] {
            // SAFETY: `handler` is an `extern "C" fn(i32)`, the type a
            // signal handler has, and it does only async-signal-safe work
            // (see `on_signal`). The thread that reads the other end was
            // started before, so a signal from now on is never lost.
            let previous = unsafe { signal(signum, handler) };
            if previous == FAILED {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod imp {
    use super::io;

    pub(super) fn on_stop(_stop: impl FnOnce(i32) + Send + 'static) -> io::Result<()> {
        Ok(())
    }
}
