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

/// Runs the writer of `conn`, writing to `stream`, until its close frame
/// is out, it is told to stop, or the socket fails. A batch stops growing
/// at `max_batch` bytes ([`rusty_socket_core::Config::write_buffer_size`]),
/// even if more is queued.
pub(crate) fn run(
    conn: &Conn,
    queue: &Receiver<Outgoing>,
    mut stream: impl Write,
    close_timeout: Duration,
    max_batch: usize,
) {
    match write_loop(conn, queue, &mut stream, max_batch) {
        Ok(true) => wait_for_reader(conn, close_timeout),
        Ok(false) => {}
        Err(e) => {
            if !conn.is_closing() && !rusty_socket_core::connection::is_disconnect(&e) {
                crate::log::peer(
                    conn.info.peer_addr,
                    format_args!("connection {}: write failed: {e}", conn.id()),
                );
            }
            // Wake the reader: the connection is unusable.
            conn.abandon();
            conn.hang_up();
        }
    }
}

/// Returns whether a close frame was written.
fn write_loop(
    conn: &Conn,
    queue: &Receiver<Outgoing>,
    stream: &mut impl Write,
    max_batch: usize,
) -> io::Result<bool> {
    let mut batch: Vec<u8> = Vec::new();
    loop {
        let Ok(first) = queue.recv() else {
            return Ok(false);
        };
        let mut next = Some(first);
        while let Some(item) = next {
            if conn.urgent_close.get().is_some() {
                break;
            }
            match item {
                Outgoing::Shared(bytes) => push(stream, &mut batch, &bytes)?,
                Outgoing::Owned(bytes) => push(stream, &mut batch, &bytes)?,
                Outgoing::Close(close) => {
                    // The close is the last frame: in the same write as the
                    // batch before it.
                    batch.extend_from_slice(&close);
                    stream.write_all(&batch)?;
                    return Ok(true);
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
            // The queue overflowed: its close goes ahead, and what is still
            // batched or queued is dropped.
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
    conn.hang_up();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::encode_close;
    use crate::handler::Ending;
    use crate::testing::{conn, server_frame};
    use rusty_socket_core::{CloseCode, CloseFrame, OpCode};
    use std::sync::Arc;

    /// A socket that takes everything and remembers each `write` call.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<Vec<u8>>,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes.push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn close_frame(code: CloseCode, reason: &str) -> Vec<u8> {
        encode_close(Some(&CloseFrame::new(code, reason))).to_vec()
    }

    #[test]
    fn everything_queued_goes_out_in_one_write_ending_with_the_close() {
        let (conn, queue, line) = conn(1, 8);
        let frames: Vec<Vec<u8>> = ["a", "bb", "ccc"]
            .iter()
            .map(|text| server_frame(OpCode::Text, text.as_bytes()))
            .collect();
        conn.enqueue(Outgoing::Owned(frames[0].clone().into_boxed_slice()))
            .unwrap();
        conn.enqueue(Outgoing::Shared(Arc::from(frames[1].as_slice())))
            .unwrap();
        conn.enqueue(Outgoing::Owned(frames[2].clone().into_boxed_slice()))
            .unwrap();
        assert_eq!(
            conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), None),
            Ok(())
        );
        conn.reader_done.store(true, Ordering::Release);
        let mut socket = Recorder::default();
        run(&conn, &queue, &mut socket, Duration::from_secs(5), 64 << 10);
        let mut expected = frames.concat();
        expected.extend_from_slice(&close_frame(CloseCode::NORMAL, ""));
        assert_eq!(socket.writes, vec![expected]);
        // The close is out and the reader done: the TCP connection ends.
        assert!(line.is_hung_up());
    }

    #[test]
    fn a_large_frame_is_written_from_its_own_bytes_and_a_batch_stops_at_its_limit() {
        let (conn, queue, _line) = conn(1, 8);
        let small = server_frame(OpCode::Binary, &[1; 10]);
        let large = server_frame(OpCode::Binary, &vec![2; COPY_LIMIT]);
        for frame in [&small, &large, &small, &small] {
            conn.enqueue(Outgoing::Owned(frame.clone().into_boxed_slice()))
                .unwrap();
        }
        conn.enqueue(Outgoing::Stop).unwrap();
        let mut socket = Recorder::default();
        // A batch limit of one small frame: each goes out on its own.
        run(
            &conn,
            &queue,
            &mut socket,
            Duration::from_secs(5),
            small.len(),
        );
        assert_eq!(
            socket.writes,
            vec![small.clone(), large, small.clone(), small]
        );
    }

    #[test]
    fn a_full_queue_sends_the_1008_close_ahead_and_drops_the_rest() {
        let (conn, queue, line) = conn(1, 2);
        let frame = server_frame(OpCode::Text, b"backlog");
        for _ in 0..2 {
            conn.enqueue(Outgoing::Owned(frame.clone().into_boxed_slice()))
                .unwrap();
        }
        let overflow = conn.enqueue(Outgoing::Owned(frame.clone().into_boxed_slice()));
        assert!(matches!(overflow, Err(crate::Error::QueueFull(_))));
        assert!(conn.is_closing());
        assert_eq!(conn.ending(), Some(Ending::QueueFull));
        conn.reader_done.store(true, Ordering::Release);
        let mut socket = Recorder::default();
        run(&conn, &queue, &mut socket, Duration::from_secs(5), 64 << 10);
        let reason = "outgoing queue full: the client reads too slowly";
        assert_eq!(
            socket.writes,
            vec![close_frame(CloseCode::POLICY_VIOLATION, reason)]
        );
        assert!(line.is_hung_up());
    }

    #[test]
    fn a_failed_write_abandons_the_connection() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (conn, queue, line) = conn(1, 2);
        conn.enqueue(Outgoing::Owned(
            server_frame(OpCode::Text, b"x").into_boxed_slice(),
        ))
        .unwrap();
        run(&conn, &queue, Broken, Duration::from_secs(5), 64 << 10);
        assert!(conn.is_closing());
        assert!(line.is_hung_up());
    }
}
