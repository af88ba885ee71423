//! Limits and knobs of a connection (RFC 6455 section 10.4), each default
//! documented with its reason.
//!
//! Section 10.4: implementations with limits on "the frame size or total
//! message size after reassembly from multiple frames MUST protect
//! themselves against exceeding those limits". [`Config`] holds ours;
//! each is checked before the bytes it bounds are buffered.

use crate::deflate::PerMessageDeflate;

/// The limits a connection enforces on what its peer sends, and how it
/// buffers. Change a field with its setter (fields may be added, so the
/// struct cannot be built by hand outside this crate):
///
/// ```
/// use rusty_socket_core::Config;
/// let config = Config::default().max_message_size(1 << 20);
/// assert_eq!(config.max_message_size, 1 << 20);
/// assert_eq!(config.max_frame_size, 16 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The largest payload one frame may declare. Checked on the header,
    /// before any of the payload is buffered; larger frames fail the
    /// connection with close code 1009.
    ///
    /// Default: 16 MiB, the largest single frame the Autobahn TestSuite sends
    /// (section 9) and the same as the most used Rust libraries.
    pub max_frame_size: usize,
    /// The largest message, summed over all of its fragments. Checked before
    /// each fragment is buffered; close code 1009 beyond it.
    ///
    /// Default: 16 MiB, the same as the frame limit: the largest message the
    /// Autobahn TestSuite sends (section 9), and one default for the core,
    /// the server and the client alike. Memory only grows as bytes actually
    /// arrive, so a peer must really send that much to make the receiver
    /// hold it; a server with many connections may want less.
    pub max_message_size: usize,
    /// How much the read buffer holds at first. It grows, up to
    /// `max_read_buffer`, while reads keep filling it, and is allocated on
    /// the first read, so an idle connection costs nothing here.
    ///
    /// Default: 4 KiB.
    pub read_buffer_size: usize,
    /// The size the read buffer may grow to under sustained load.
    ///
    /// Default: 64 KiB: large enough that a stream of big messages takes few
    /// system calls, small enough to keep thousands of busy connections.
    pub max_read_buffer: usize,
    /// Buffered outgoing bytes beyond which a write flushes by itself.
    ///
    /// Default: 64 KiB.
    pub write_buffer_size: usize,
    /// permessage-deflate (RFC 7692): what a server accepts and a client
    /// offers, and how messages are compressed; `None` neither offers nor
    /// accepts it.
    ///
    /// Default: on, with [`PerMessageDeflate::DEFAULT`]: every browser
    /// offers it, and text shrinks two to three times with context
    /// takeover. Memory comes only with the first compressed message (see
    /// the [`deflate`](crate::deflate) module).
    pub permessage_deflate: Option<PerMessageDeflate>,
}

impl Config {
    /// The defaults, usable in `const` contexts.
    pub const DEFAULT: Config = Config {
        max_frame_size: 16 << 20,
        max_message_size: 16 << 20,
        read_buffer_size: 4 << 10,
        max_read_buffer: 64 << 10,
        write_buffer_size: 64 << 10,
        permessage_deflate: Some(PerMessageDeflate::DEFAULT),
    };
}

impl Config {
    /// Sets [`Config::max_frame_size`].
    #[must_use]
    pub const fn max_frame_size(mut self, bytes: usize) -> Config {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`Config::max_message_size`].
    #[must_use]
    pub const fn max_message_size(mut self, bytes: usize) -> Config {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`Config::read_buffer_size`].
    #[must_use]
    pub const fn read_buffer_size(mut self, bytes: usize) -> Config {
        self.read_buffer_size = bytes;
        self
    }

    /// Sets [`Config::max_read_buffer`].
    #[must_use]
    pub const fn max_read_buffer(mut self, bytes: usize) -> Config {
        self.max_read_buffer = bytes;
        self
    }

    /// Sets [`Config::write_buffer_size`].
    #[must_use]
    pub const fn write_buffer_size(mut self, bytes: usize) -> Config {
        self.write_buffer_size = bytes;
        self
    }
}

impl Config {
    /// Sets [`Config::permessage_deflate`].
    #[must_use]
    pub const fn permessage_deflate(mut self, deflate: Option<PerMessageDeflate>) -> Config {
        self.permessage_deflate = deflate;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
