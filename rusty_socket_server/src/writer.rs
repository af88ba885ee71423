//! The writer thread of a connection: drains the outgoing queue and writes
//! to the socket, batching everything already queued into one `write`.
//!
//! A broadcast to N clients wakes N writers; each then takes every frame
//! waiting for it (`try_recv` until the queue is empty) and sends them in
//! one system call, so a burst of K messages costs each client one write,
//! not K. Small frames are copied into one batch buffer; a frame of 16 KiB
//! or more is written straight from its shared bytes instead.
//!
//! After writing a close frame the writer waits (up to the close timeout)
//! for the reader thread to see the peer's close, then shuts the socket
//! down: the server closes the TCP connection first (section 7.1.1), and a
//! peer that never answers cannot keep the connection open.

use crate::conn::{Conn, Outgoing};
use std::io::{self, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

/// Frames at least this long are written straight from their own bytes
/// instead of being copied into the batch.
///
/// The core's `WebSocket` stops copying at 1 KiB (`ZERO_COPY_MIN`), because
/// it sends with one vectored write, where a payload left in place costs
/// only one more slice in the same system call. This writer has no vectored
/// write: a frame left out of the batch costs a `write` of its own, the
/// batch before it another, and one system call costs about as much as
/// copying 16 KiB. Below that, copying is the cheaper way.
const COPY_LIMIT: usize = 16 << 10;
/// A batch buffer larger than this is freed after use, so an idle
/// connection keeps little.
const KEEP_BUFFER: usize = 4 << 10;

/// Runs the writer of `conn` until its close frame is out, it is told to
/// stop, or the socket fails.
/// A batch stops growing at `max_batch` bytes
/// ([`rusty_socket_core::Config::write_buffer_size`]), even if more is
/// queued.
pub(crate) fn run(
    conn: &Conn,
    queue: &Receiver<Outgoing>,
    close_timeout: Duration,
    max_batch: usize,
) {
    match write_loop(conn, queue, max_batch) {
        Ok(true) => wait_for_reader(conn, close_timeout),
        Ok(false) => {}
        Err(e) => {
            if !conn.is_closing() && !crate::log::is_disconnect(&e) {
                crate::log::peer(
                    conn.info.peer_addr,
                    format_args!("connection {}: write failed: {e}", conn.id()),
                );
            }
            // Wake the reader: the connection is unusable.
            conn.abandon();
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
    }
}

/// Returns whether a close frame was written.
fn write_loop(conn: &Conn, queue: &Receiver<Outgoing>, max_batch: usize) -> io::Result<bool> {
    let mut stream = &*conn.stream;
    let mut batch: Vec<u8> = Vec::new();
    loop {
        let Ok(first) = queue.recv() else {
            return Ok(false);
        };
        let mut next = Some(first);
        let mut close = None;
        while let Some(item) = next {
            match item {
                Outgoing::Shared(bytes) => push(&mut stream, &mut batch, &bytes)?,
                Outgoing::Owned(bytes) => push(&mut stream, &mut batch, &bytes)?,
                Outgoing::Close(bytes) => {
                    close = Some(bytes);
                    break;
                }
                Outgoing::Wake => {}
                Outgoing::Stop => return Ok(false),
            }
            if batch.len() >= max_batch {
                break;
            }
            next = queue.try_recv().ok();
        }
        if let Some(urgent) = conn.urgent_close.get() {
            // The queue overflowed: what is left of it is dropped.
            stream.write_all(urgent)?;
            return Ok(true);
        }
        if !batch.is_empty() {
            stream.write_all(&batch)?;
            if batch.capacity() > KEEP_BUFFER {
                batch = Vec::new();
            } else {
                batch.clear();
            }
        }
        if let Some(close) = close {
            stream.write_all(&close)?;
            return Ok(true);
        }
    }
}

/// Appends `bytes` to the batch, or writes them directly if they are large.
fn push(stream: &mut impl Write, batch: &mut Vec<u8>, bytes: &[u8]) -> io::Result<()> {
    if bytes.len() < COPY_LIMIT {
        batch.extend_from_slice(bytes);
        return Ok(());
    }
    if !batch.is_empty() {
        stream.write_all(batch)?;
        batch.clear();
    }
    stream.write_all(bytes)
}

/// After our close frame: give the reader `close_timeout` to receive the
/// peer's, then close the TCP connection either way.
fn wait_for_reader(conn: &Conn, close_timeout: Duration) {
    let deadline = Instant::now() + close_timeout;
    while !conn.reader_done.load(Ordering::Acquire) {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        thread::park_timeout(deadline - now);
    }
    // With the reader done this only ends the TCP connection early; without
    // it, it also wakes the reader, whose read returns end of file.
    let _ = conn.stream.shutdown(Shutdown::Both);
}
