//! The writers: a small pool of threads that send every connection's
//! outgoing queue, and a bounded number of threads for slow clients.
//!
//! A connection with nothing to send holds no writer thread. When something
//! is queued for it ([`crate::conn::Conn::enqueue`]), the connection goes on
//! the ready list, once; a pool thread takes it, writes everything queued
//! (small frames copied into one batch, one `write`; a frame of 16 KiB or
//! more straight from its shared bytes) and moves on when the queue is
//! empty. A broadcast to 15,000 idle clients therefore costs the pool's few
//! threads, not 15,000 new ones, which the machine may not be able to give
//! (each thread takes memory mappings, PIDs and memory).
//!
//! Pool writes block for at most [`crate::ServerConfig::slow_write_after`].
//! A peer that does not take its bytes in that time gets a thread of its
//! own while it stays slow: it writes with the full
//! [`crate::ServerConfig::write_timeout`], and hands the connection back to
//! the pool once the queue is empty. Those threads are bounded too
//! ([`crate::ServerConfig::max_slow_writers`]): past the bound a slow client
//! is dropped, as one whose queue fills is closed with 1008. So the threads
//! number readers + pool + slow clients, whatever is broadcast, and one
//! client that stops reading holds up no one else. Each connection's frames
//! go out in order: only one writer has a connection at a time.
//!
//! After a close frame nothing more is written; the reader thread, which
//! waits for that, then closes the TCP connection (the server closes first,
//! section 7.1.1).

use crate::conn::{Conn, Outgoing, Take};
use crate::handler::Ending;
use crate::shared::{lock, Shared};
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Frames at least this long are written straight from their own bytes
/// instead of being copied into the batch.
///
/// The core's `WebSocket` stops copying at 1 KiB (`ZERO_COPY_MIN`), because
/// it sends with one vectored write, where a payload left in place costs
/// only one more slice in the same system call. These writers have no
/// vectored write: a frame left out of the batch costs a `write` of its
/// own, the batch before it another, and one system call costs about as
/// much as copying 16 KiB. Below that, copying is the cheaper way.
const COPY_LIMIT: usize = 16 << 10;
/// A batch buffer larger than this is freed after use.
const KEEP_BUFFER: usize = 64 << 10;

/// The writers' settings, from [`crate::ServerConfig`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// A batch stops growing here ([`rusty_socket_core::Config::write_buffer_size`]).
    pub(crate) max_batch: usize,
    /// How long a pool write may block.
    pub(crate) pool_timeout: Duration,
    /// How long a slow client's write may block before it is given up.
    pub(crate) slow_timeout: Duration,
    /// Threads for slow clients, at most.
    pub(crate) max_slow: usize,
    /// How long the peer has to answer our close before its socket is shut
    /// down ([`crate::ServerConfig::close_timeout`]).
    pub(crate) close_timeout: Duration,
}

#[derive(Debug, Default)]
struct Ready {
    conns: VecDeque<Arc<Conn>>,
    /// Pool threads waiting for work.
    idle: usize,
    /// The server is shutting down: threads leave once they are idle.
    stopping: bool,
}

/// The pool, its ready list and the count of slow-client threads.
#[derive(Debug)]
pub(crate) struct Writers {
    settings: Settings,
    ready: Mutex<Ready>,
    work: Condvar,
    slow: AtomicUsize,
    /// Connections alive (built and not yet dropped): on shutdown the
    /// writers stay until the last is gone, since a handler may still send
    /// to the others from `on_close`.
    live: AtomicUsize,
    /// The server, whose thread count slow-client threads join; absent in
    /// unit tests, where plain threads are used.
    server: OnceLock<Weak<Shared>>,
    /// Connections whose close frame is out, with the time their peer's
    /// answer is due: the closer thread shuts down the sockets of those
    /// still open then, which also wakes a reader blocked in `read`.
    closing: Mutex<Closing>,
    closing_changed: Condvar,
}

#[derive(Debug, Default)]
struct Closing {
    due: Vec<(Instant, Weak<Conn>)>,
    stopping: bool,
}

impl Writers {
    pub(crate) fn new(settings: Settings) -> Writers {
        Writers {
            settings,
            ready: Mutex::new(Ready::default()),
            work: Condvar::new(),
            slow: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            server: OnceLock::new(),
            closing: Mutex::new(Closing::default()),
            closing_changed: Condvar::new(),
        }
    }

    /// How long a pool write may block: the socket timeout a connection
    /// has while the pool writes it.
    pub(crate) fn pool_timeout(&self) -> Duration {
        self.settings.pool_timeout
    }

    /// Slow-client threads running now.
    pub(crate) fn slow_writers(&self) -> usize {
        self.slow.load(Ordering::Relaxed)
    }

    /// Starts `threads` pool threads for `shared`'s connections.
    ///
    /// # Errors
    /// If a thread cannot be started.
    pub(crate) fn start(shared: &Arc<Shared>, threads: usize) -> io::Result<()> {
        let writers = Arc::clone(&shared.writers);
        let _ = writers.server.set(Arc::downgrade(shared));
        for _ in 0..threads.max(1) {
            let writers = Arc::clone(&writers);
            shared.spawn("ws-writer", move || writers.work())?;
        }
        let closer = Arc::clone(&writers);
        shared.spawn("ws-closer", move || closer.close_late())?;
        Ok(())
    }

    /// `conn`'s close frame is out: if its peer has not answered within the
    /// close timeout, the closer thread shuts its socket down. (The reader
    /// may be blocked in `read` with a long timeout; only this wakes it.)
    pub(crate) fn watch_close(&self, conn: Weak<Conn>) {
        let due = Instant::now() + self.settings.close_timeout;
        lock(&self.closing).due.push((due, conn));
        self.closing_changed.notify_one();
    }

    /// The closer thread: shuts down the sockets whose peer did not answer
    /// our close in time, until the server stops and none is left.
    fn close_late(&self) {
        let mut closing = lock(&self.closing);
        loop {
            let now = Instant::now();
            let mut late = Vec::new();
            closing.due.retain(|(due, conn)| {
                // A connection already gone needs no hanging up.
                if conn.strong_count() == 0 {
                    return false;
                }
                if *due > now {
                    return true;
                }
                late.push(conn.clone());
                false
            });
            if !late.is_empty() {
                drop(closing);
                for conn in late.iter().filter_map(Weak::upgrade) {
                    conn.hang_up();
                }
                closing = lock(&self.closing);
                continue;
            }
            if closing.stopping && closing.due.is_empty() && self.live.load(Ordering::Acquire) == 0
            {
                return;
            }
            let next = closing.due.iter().map(|(due, _)| *due).min();
            closing = match next {
                Some(due) => {
                    self.closing_changed
                        .wait_timeout(closing, due.saturating_duration_since(now))
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self
                    .closing_changed
                    .wait(closing)
                    .unwrap_or_else(|p| p.into_inner()),
            };
        }
    }

    /// A connection was built on these writers.
    pub(crate) fn conn_opened(&self) {
        self.live.fetch_add(1, Ordering::AcqRel);
    }

    /// A connection was dropped: the last one lets stopped writers leave.
    pub(crate) fn conn_dropped(&self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            drop(lock(&self.ready));
            self.work.notify_all();
            drop(lock(&self.closing));
            self.closing_changed.notify_all();
        }
    }

    /// Puts `conn` at the end of the ready list.
    pub(crate) fn schedule(&self, conn: Arc<Conn>) {
        let mut ready = lock(&self.ready);
        ready.conns.push_back(conn);
        if ready.idle > 0 {
            self.work.notify_one();
        }
    }

    /// The server is shutting down: pool threads leave once nothing is
    /// ready and every connection is gone (their close frames, and what a
    /// handler sends from `on_close`, are written first).
    pub(crate) fn stop(&self) {
        lock(&self.ready).stopping = true;
        self.work.notify_all();
        lock(&self.closing).stopping = true;
        self.closing_changed.notify_all();
    }

    /// A pool thread: takes ready connections and writes them, until the
    /// server stops.
    fn work(self: &Arc<Self>) {
        let mut batch = Vec::new();
        loop {
            let conn = {
                let mut ready = lock(&self.ready);
                loop {
                    if let Some(conn) = ready.conns.pop_front() {
                        break conn;
                    }
                    if ready.stopping && self.live.load(Ordering::Acquire) == 0 {
                        return;
                    }
                    ready.idle += 1;
                    ready = self.work.wait(ready).unwrap_or_else(|p| p.into_inner());
                    ready.idle -= 1;
                }
            };
            if let Served::Slow = serve(&conn, &mut batch, self.settings, Mode::Pool) {
                self.hand_over(conn);
            }
            if batch.capacity() > KEEP_BUFFER {
                batch = Vec::new();
            }
        }
    }

    /// `conn`'s peer stopped taking bytes: give it a thread of its own, or
    /// drop it if none may be started.
    fn hand_over(self: &Arc<Self>, conn: Arc<Conn>) {
        let settings = self.settings;
        let admitted = self
            .slow
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < settings.max_slow).then_some(n + 1)
            })
            .is_ok();
        let started = admitted && {
            let slow = Arc::clone(&conn);
            let server = self.server.get().and_then(Weak::upgrade);
            let writers = Arc::clone(self);
            let body = move || {
                slow_writer(&slow, settings);
                writers.slow.fetch_sub(1, Ordering::AcqRel);
            };
            match &server {
                Some(server) => server.spawn("ws-slow-writer", body).is_ok(),
                // Unit tests: no server to count the thread.
                None => std::thread::Builder::new().spawn(body).is_ok(),
            }
        };
        if !started {
            if admitted {
                self.slow.fetch_sub(1, Ordering::AcqRel);
            }
            crate::log::peer(
                conn.info.peer_addr,
                format_args!(
                    "connection {}: the client reads too slowly and no writer thread is free; dropped",
                    conn.id()
                ),
            );
            conn.set_ending(Ending::QueueFull);
            conn.abandon();
            conn.hang_up();
        }
    }
}

/// The thread of a slow client: writes with the full timeout until the
/// queue is empty, then gives the connection back to the pool.
fn slow_writer(conn: &Conn, settings: Settings) {
    let mut batch = Vec::new();
    loop {
        let _ = conn.wire().set_write_timeout(settings.slow_timeout);
        // In this mode `serve` ends with the queue empty (the connection
        // still ours) or with nothing more to write.
        serve(conn, &mut batch, settings, Mode::Slow);
        if conn.is_finished() {
            return;
        }
        // The pool's timeout first, then let go: frames queued in between
        // keep the connection here for another round.
        let _ = conn.wire().set_write_timeout(settings.pool_timeout);
        if conn.release() {
            return;
        }
    }
}

/// Who is writing, which decides what a write that blocks too long means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A pool thread: the peer is slow, hand it over.
    Pool,
    /// A slow client's own thread: the peer is gone, give up.
    Slow,
}

/// How serving a connection ended.
#[derive(Debug)]
enum Served {
    /// The queue is empty (the connection is off the ready list), or
    /// nothing more will be written.
    Done,
    /// The peer stopped taking bytes; what was not written is back in the
    /// queue, and the connection is still the caller's.
    Slow,
}

/// How one write ended.
enum Sent {
    All,
    /// Only this many bytes were taken before the timeout.
    Part(usize),
    Failed(io::Error),
}

/// Writes all of `bytes`, as far as the socket takes them within its
/// timeout.
fn send(conn: &Conn, bytes: &[u8]) -> Sent {
    let mut written = 0;
    while written < bytes.len() {
        match conn.wire().write(&bytes[written..]) {
            Ok(0) => return Sent::Failed(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if rusty_socket_core::connection::is_timeout(&e) => return Sent::Part(written),
            Err(e) => return Sent::Failed(e),
        }
    }
    Sent::All
}

/// The socket failed: the connection is unusable.
fn broken(conn: &Conn, e: &io::Error) {
    if !conn.is_closing() && !rusty_socket_core::connection::is_disconnect(e) {
        crate::log::peer(
            conn.info.peer_addr,
            format_args!("connection {}: write failed: {e}", conn.id()),
        );
    }
    conn.abandon();
    conn.hang_up();
}

/// Writes what `conn` has queued until its queue is empty or its peer
/// stops taking bytes. `batch` is the thread's own buffer.
fn serve(conn: &Conn, batch: &mut Vec<u8>, settings: Settings, mode: Mode) -> Served {
    loop {
        let items = match conn.take(settings.max_batch, mode == Mode::Pool) {
            Take::Finished | Take::Idle => return Served::Done,
            Take::Unsent(bytes) => match send(conn, &bytes) {
                Sent::All => continue,
                Sent::Part(n) => match mode {
                    Mode::Pool => {
                        conn.put_back(bytes[n..].to_vec(), Vec::new());
                        return Served::Slow;
                    }
                    Mode::Slow => return timed_out(conn),
                },
                Sent::Failed(e) => {
                    broken(conn, &e);
                    return Served::Done;
                }
            },
            Take::Urgent(close) => {
                // The queue overflowed: its close goes ahead, what was
                // queued is dropped, and a peer that does not take even
                // this is simply cut off.
                match send(conn, &close) {
                    Sent::Failed(e) => broken(conn, &e),
                    _ => conn.close_written(),
                }
                return Served::Done;
            }
            Take::Items(items) => items,
        };
        match write_items(conn, batch, items) {
            Wrote::All { closed } => {
                if closed {
                    conn.close_written();
                    return Served::Done;
                }
            }
            Wrote::Part { unsent, rest } => match mode {
                Mode::Pool => {
                    conn.put_back(unsent, rest);
                    return Served::Slow;
                }
                Mode::Slow => return timed_out(conn),
            },
            Wrote::Failed(e) => {
                broken(conn, &e);
                return Served::Done;
            }
        }
    }
}

/// A slow client's write timed out: give up on it.
fn timed_out(conn: &Conn) -> Served {
    crate::log::peer(
        conn.info.peer_addr,
        format_args!("connection {}: write timed out; dropped", conn.id()),
    );
    conn.set_ending(Ending::Timeout);
    conn.abandon();
    conn.hang_up();
    Served::Done
}

/// How writing a batch of frames ended.
enum Wrote {
    /// Everything went out; `closed` if the last was a close frame.
    All {
        closed: bool,
    },
    /// The peer stopped taking bytes: the rest of the write that was cut,
    /// and the frames not yet begun.
    Part {
        unsent: Vec<u8>,
        rest: Vec<Outgoing>,
    },
    Failed(io::Error),
}

/// Writes `items` in order: small frames copied into `batch` and sent
/// together, large ones from their own bytes.
fn write_items(conn: &Conn, batch: &mut Vec<u8>, items: Vec<Outgoing>) -> Wrote {
    batch.clear();
    let mut closed = false;
    let mut items = items.into_iter();
    while let Some(item) = items.next() {
        closed = matches!(item, Outgoing::Close(_));
        let bytes = item.bytes();
        if bytes.len() < COPY_LIMIT || closed {
            batch.extend_from_slice(bytes);
            continue;
        }
        // A large frame: the batch before it, then the frame itself.
        if !batch.is_empty() {
            match send(conn, batch) {
                Sent::All => batch.clear(),
                Sent::Part(n) => {
                    let mut rest = vec![item];
                    rest.extend(items);
                    return Wrote::Part {
                        unsent: batch[n..].to_vec(),
                        rest,
                    };
                }
                Sent::Failed(e) => return Wrote::Failed(e),
            }
        }
        match send(conn, bytes) {
            Sent::All => {}
            Sent::Part(n) => {
                return Wrote::Part {
                    unsent: bytes[n..].to_vec(),
                    rest: items.collect(),
                }
            }
            Sent::Failed(e) => return Wrote::Failed(e),
        }
    }
    if !batch.is_empty() {
        match send(conn, batch) {
            Sent::All => {}
            Sent::Part(n) => {
                return Wrote::Part {
                    unsent: batch[n..].to_vec(),
                    rest: Vec::new(),
                }
            }
            Sent::Failed(e) => return Wrote::Failed(e),
        }
    }
    Wrote::All { closed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::{encode_close, Wire};
    use crate::testing::{conn, conn_on, server_frame, SETTINGS};
    use rusty_socket_core::{CloseCode, CloseFrame, OpCode};
    use std::time::Instant;

    const WAIT: Duration = Duration::from_secs(10);

    fn close_frame(code: CloseCode, reason: &str) -> Vec<u8> {
        encode_close(Some(&CloseFrame::new(code, reason))).to_vec()
    }

    fn owned(frame: &[u8]) -> Outgoing {
        Outgoing::Owned(frame.to_vec().into_boxed_slice())
    }

    /// Serves `conn` once as a pool thread would.
    fn pool_serve(conn: &Conn) -> Served {
        serve(conn, &mut Vec::new(), SETTINGS, Mode::Pool)
    }

    #[test]
    fn everything_queued_goes_out_in_one_write_ending_with_the_close() {
        let (conn, line) = conn(1, 8);
        let frames: Vec<Vec<u8>> = ["a", "bb", "ccc"]
            .iter()
            .map(|text| server_frame(OpCode::Text, text.as_bytes()))
            .collect();
        conn.enqueue(owned(&frames[0])).unwrap();
        conn.enqueue(Outgoing::Shared(Arc::new(frames[1].clone())))
            .unwrap();
        conn.enqueue(owned(&frames[2])).unwrap();
        assert_eq!(
            conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "")), None),
            Ok(())
        );
        assert!(matches!(pool_serve(&conn), Served::Done));
        let mut expected = frames.concat();
        expected.extend_from_slice(&close_frame(CloseCode::NORMAL, ""));
        assert_eq!(line.written(), expected);
        assert_eq!(line.writes(), 1, "one write for the whole batch");
        // Nothing more is written after the close.
        assert!(conn.is_finished());
        assert!(conn.enqueue(owned(&frames[0])).is_err());
    }

    #[test]
    fn a_large_frame_is_written_from_its_own_bytes_and_a_batch_stops_at_its_limit() {
        let (conn, line) = conn(1, 8);
        let small = server_frame(OpCode::Binary, &[1; 10]);
        let large = server_frame(OpCode::Binary, &vec![2; COPY_LIMIT]);
        for frame in [&small, &large, &small, &small] {
            conn.enqueue(owned(frame)).unwrap();
        }
        // A batch limit of one small frame: each goes out on its own.
        let settings = Settings {
            max_batch: small.len(),
            ..SETTINGS
        };
        assert!(matches!(
            serve(&conn, &mut Vec::new(), settings, Mode::Pool),
            Served::Done
        ));
        assert_eq!(
            line.written(),
            [&small[..], &large, &small, &small].concat()
        );
        assert_eq!(line.writes(), 4);
    }

    #[test]
    fn a_full_queue_sends_the_1008_close_ahead_and_drops_the_rest() {
        let (conn, line) = conn(1, 2);
        let frame = server_frame(OpCode::Text, b"backlog");
        for _ in 0..2 {
            conn.enqueue(owned(&frame)).unwrap();
        }
        let overflow = conn.enqueue(owned(&frame));
        assert!(matches!(overflow, Err(crate::Error::QueueFull(_))));
        assert!(conn.is_closing());
        assert_eq!(conn.ending(), Some(Ending::QueueFull));
        pool_serve(&conn);
        let reason = "outgoing queue full: the client reads too slowly";
        assert_eq!(
            line.written(),
            close_frame(CloseCode::POLICY_VIOLATION, reason)
        );
        assert!(conn.is_finished());
    }

    #[test]
    fn a_failed_write_abandons_the_connection() {
        let (conn, line) = conn(1, 2);
        line.hang_up();
        conn.enqueue(owned(&server_frame(OpCode::Text, b"x")))
            .unwrap();
        pool_serve(&conn);
        assert!(conn.is_closing());
        assert!(conn.is_finished());
    }

    #[test]
    fn a_connection_is_scheduled_once_per_burst_and_idle_holds_no_writer() {
        let writers = Arc::new(Writers::new(SETTINGS));
        let (conn, line) = conn_on(1, 8, Arc::clone(&writers));
        let frame = server_frame(OpCode::Text, b"x");
        for _ in 0..3 {
            conn.enqueue(owned(&frame)).unwrap();
        }
        assert_eq!(
            lock(&writers.ready).conns.len(),
            1,
            "on the ready list once"
        );
        let ready = lock(&writers.ready).conns.pop_front().unwrap();
        assert!(matches!(pool_serve(&ready), Served::Done));
        assert_eq!(line.written(), frame.repeat(3));
        // Empty again: the next frame puts it back on the list.
        assert!(lock(&writers.ready).conns.is_empty());
        conn.enqueue(owned(&frame)).unwrap();
        assert_eq!(lock(&writers.ready).conns.len(), 1);
    }

    #[test]
    fn a_cut_write_is_finished_before_anything_else() {
        let (conn, line) = conn(1, 2);
        let first = server_frame(OpCode::Binary, &[7; 100]);
        let second = server_frame(OpCode::Binary, &[8; 100]);
        conn.enqueue(owned(&first)).unwrap();
        conn.enqueue(owned(&second)).unwrap();
        // The peer takes 30 bytes, then nothing: the pool hands it over.
        line.stall_after(30);
        assert!(matches!(pool_serve(&conn), Served::Slow));
        assert_eq!(line.written(), first[..30]);
        // The queue overflows: its close goes ahead of the queued frames,
        // but only after the rest of the write already begun (both frames
        // went out in one batch).
        let third = server_frame(OpCode::Binary, &[9; 10]);
        assert!(conn.enqueue(owned(&third)).is_ok());
        assert!(conn.enqueue(owned(&third)).is_ok());
        assert!(conn.enqueue(owned(&third)).is_err(), "the queue is full");
        line.stall(false);
        assert!(matches!(pool_serve(&conn), Served::Done));
        let reason = "outgoing queue full: the client reads too slowly";
        let close = close_frame(CloseCode::POLICY_VIOLATION, reason);
        assert_eq!(line.written(), [&first[..], &second, &close].concat());
    }

    #[test]
    fn a_slow_client_gets_a_thread_of_its_own_and_holds_up_no_one() {
        let writers = Arc::new(Writers::new(SETTINGS));
        let (slow, slow_line) = conn_on(1, 8, Arc::clone(&writers));
        let (fast, fast_line) = conn_on(2, 8, Arc::clone(&writers));
        let frame = server_frame(OpCode::Text, b"for everyone");
        slow_line.stall(true);
        for conn in [&slow, &fast] {
            conn.enqueue(owned(&frame)).unwrap();
        }
        let pool = {
            let writers = Arc::clone(&writers);
            std::thread::spawn(move || writers.work())
        };
        // The fast client gets its frame while the slow one takes nothing.
        assert_eq!(fast_line.wait_written(frame.len(), WAIT), frame);
        let deadline = Instant::now() + WAIT;
        while writers.slow_writers() != 1 {
            assert!(Instant::now() < deadline, "no slow writer started");
            std::thread::yield_now();
        }
        assert!(slow_line.written().is_empty());
        fast.enqueue(owned(&frame)).unwrap();
        assert_eq!(
            fast_line.wait_written(2 * frame.len(), WAIT),
            frame.repeat(2)
        );
        // When the slow client reads again, its own thread sends its frame
        // and gives the connection back to the pool.
        slow_line.stall(false);
        assert_eq!(slow_line.wait_written(frame.len(), WAIT), frame);
        while writers.slow_writers() != 0 {
            assert!(Instant::now() < deadline, "the slow writer did not end");
            std::thread::yield_now();
        }
        assert_eq!(
            slow_line.timeouts().last(),
            Some(&SETTINGS.pool_timeout),
            "back to the pool's timeout"
        );
        slow.enqueue(owned(&frame)).unwrap();
        assert_eq!(
            slow_line.wait_written(2 * frame.len(), WAIT),
            frame.repeat(2)
        );
        drop((slow, fast));
        writers.stop();
        pool.join().unwrap();
    }

    #[test]
    fn a_peer_that_does_not_answer_our_close_is_hung_up_after_the_close_timeout() {
        let close_timeout = Duration::from_millis(50);
        let writers = Arc::new(Writers::new(Settings {
            close_timeout,
            ..SETTINGS
        }));
        let closer = {
            let writers = Arc::clone(&writers);
            std::thread::spawn(move || writers.close_late())
        };
        let (conn, line) = conn_on(1, 8, Arc::clone(&writers));
        let close = CloseFrame::new(CloseCode::NORMAL, "");
        conn.close(Some(close), None).unwrap();
        let ready = lock(&writers.ready).conns.pop_front().unwrap();
        let written = Instant::now();
        assert!(matches!(pool_serve(&ready), Served::Done));
        assert_eq!(line.written(), close_frame(CloseCode::NORMAL, ""));
        assert!(!line.is_hung_up(), "the peer has time to answer");
        // No answer: the closer shuts the socket down (waking a reader
        // blocked in `read`), not before the close timeout.
        line.wait_written(usize::MAX, WAIT);
        assert!(line.is_hung_up());
        assert!(written.elapsed() >= close_timeout);
        // Stopped writers leave once the last connection is gone.
        drop((conn, ready));
        writers.stop();
        closer.join().unwrap();
    }

    #[test]
    fn stopped_writers_leave_once_the_last_connection_is_gone() {
        // A close timeout far longer than the test may take.
        let writers = Arc::new(Writers::new(Settings {
            close_timeout: Duration::from_secs(600),
            ..SETTINGS
        }));
        let (done, ended) = std::sync::mpsc::channel();
        for role in ["pool", "closer"] {
            let writers = Arc::clone(&writers);
            let done = done.clone();
            std::thread::spawn(move || {
                match role {
                    "pool" => writers.work(),
                    _ => writers.close_late(),
                }
                let _ = done.send(role);
            });
        }
        let (conn, line) = conn_on(1, 8, Arc::clone(&writers));
        conn.close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "")), None)
            .unwrap();
        let expected = close_frame(CloseCode::GOING_AWAY, "");
        assert_eq!(line.wait_written(expected.len(), WAIT), expected);
        writers.stop();
        // The connection still lives: its close reply may still come, and a
        // handler may still send to it. Nothing leaves yet.
        assert!(ended.recv_timeout(Duration::from_millis(50)).is_err());
        drop(conn);
        let mut left = vec![
            ended.recv_timeout(WAIT).expect("a writer left"),
            ended.recv_timeout(WAIT).expect("both writers left"),
        ];
        left.sort_unstable();
        assert_eq!(left, ["closer", "pool"]);
    }

    #[test]
    fn past_the_bound_a_slow_client_is_dropped() {
        let writers = Arc::new(Writers::new(Settings {
            max_slow: 0,
            ..SETTINGS
        }));
        let (conn, line) = conn_on(1, 8, Arc::clone(&writers));
        line.stall(true);
        conn.enqueue(owned(&server_frame(OpCode::Text, b"x")))
            .unwrap();
        let ready = lock(&writers.ready).conns.pop_front().unwrap();
        assert!(matches!(pool_serve(&ready), Served::Slow));
        writers.hand_over(ready);
        assert!(conn.is_finished());
        assert!(line.is_hung_up());
        assert_eq!(conn.ending(), Some(Ending::QueueFull));
        assert_eq!(writers.slow_writers(), 0);
    }
}
