//! An echo server: every text and binary message comes back unchanged.
//!
//! ```text
//! cargo run --release -p rusty_socket_core --example echo_server -- 127.0.0.1:9001 [--no-deflate]
//! ```
//!
//! It accepts permessage-deflate (RFC 7692) when a client offers it, with
//! the core's defaults; `--no-deflate` turns that off.
//!
//! One thread per connection, with a small stack. It is the server that the
//! Autobahn TestSuite's fuzzing client tests, so it runs with the default
//! [`Config`] limits (16 MiB frames and messages): the suite's section 9
//! sends single frames of 16 MiB.
//!
//! Messages are read with [`WebSocket::read_in_place`], which unmasks a
//! message where it arrived in the read buffer instead of copying it out,
//! and sent back with
//! [`Incoming::echo`](rusty_socket_core::Incoming::echo), which sends a large payload from
//! there too: most echoes cost no copy and no allocation in this program.
//! Echoes are only buffered; reading flushes before it waits for more
//! input, so all the echoes of one read go out in one system call.
//!
//! It never starts a thread the machine cannot give (on Linux such a
//! thread aborts the process): at start it asks
//! [`rusty_socket_core::capacity`] how many one-thread connections fit, and
//! past that many live connection threads it answers `503 Service
//! Unavailable` with `Retry-After: 5` from the accept loop and closes the
//! socket, without a thread. Refusals are logged once per episode.

use rusty_socket_core::capacity::{self, Costs};
use rusty_socket_core::{Config, Error, WebSocket};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// The answer past the capacity. `Retry-After: 5`: a client that retries
/// waits long enough for connections to end meanwhile.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
Content-Length: 38\r\nConnection: close\r\nRetry-After: 5\r\n\r\n\
too many connections, try again later\n";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deflate = !args.iter().any(|a| a == "--no-deflate");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9001".to_string());
    let config = if deflate {
        Config::default()
    } else {
        Config::default().permessage_deflate(None)
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    // One thread and one socket per connection; the accept loop is this
    // thread, already running.
    let costs = Costs {
        fixed_threads: 0,
        ..Costs::default()
    };
    let capacity = capacity::measure(&costs, None);
    eprintln!("echo_server: capacity {capacity}");
    eprintln!("echo_server: listening on ws://{addr}/");
    let live = Arc::new(AtomicU64::new(0));
    let mut refusing = false;
    let mut refused = 0u64;
    let mut backoff = Duration::from_millis(10);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            // Out of descriptors or memory: wait for connections to end,
            // longer each time, rather than spin.
            Err(e) if matches!(e.raw_os_error(), Some(12 | 23 | 24 | 105)) => {
                if !refusing {
                    eprintln!("echo_server: accept failed: {e}; retrying");
                }
                (refusing, refused) = (true, refused + 1);
                thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
            Err(e) => {
                eprintln!("echo_server: accept failed: {e}");
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        if live.load(Ordering::Acquire) >= capacity.connections {
            if !refusing {
                eprintln!("echo_server: full ({capacity}); answering 503 until a connection ends");
            }
            (refusing, refused) = (true, refused + 1);
            refuse(&stream);
            continue;
        }
        if refusing {
            eprintln!("echo_server: accepting again; {refused} refused meanwhile");
            (refusing, refused) = (false, 0);
        }
        // Counted before the thread starts, and uncounted when it ends
        // (or when it could not start: the closure, and the guard, are
        // dropped then).
        live.fetch_add(1, Ordering::AcqRel);
        let guard = Live(Arc::clone(&live));
        let spawned = thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            let _guard = guard;
            serve(stream, config)
        });
        if let Err(e) = spawned {
            eprintln!("echo_server: cannot start a thread: {e}");
        }
    }
}

/// One live connection thread, counted down when it ends.
struct Live(Arc<AtomicU64>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers 503 without waiting, reads and drops what the client already
/// sent (closing with unread bytes would reset the connection, and could
/// destroy the answer), and closes.
fn refuse(stream: &TcpStream) {
    let mut stream = stream;
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(REFUSAL);
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 1024];
    for _ in 0..8 {
        if !matches!(stream.read(&mut sink), Ok(1..)) {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn serve(stream: TcpStream, config: Config) {
    let _ = stream.set_nodelay(true);
    let ws = match rusty_socket_core::accept(stream, config, |_, _| None) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("echo_server: handshake failed: {e}");
            return;
        }
    };
    let mut ws = ws;
    if let Err(e) = echo(&mut ws) {
        eprintln!("echo_server: connection ended: {e}");
    }
    // The server closes TCP first, without a reset (section 7.1.1).
    rusty_socket_core::tcp::close_cleanly(ws.get_ref(), rusty_socket_core::tcp::LINGER);
}

fn echo(ws: &mut WebSocket<TcpStream>) -> Result<(), Error> {
    // Pings and closes are answered inside `read_in_place`; `echo` sends
    // back data only. `None` is the clean end.
    while let Some(incoming) = ws.read_in_place()? {
        incoming.echo()?;
    }
    Ok(())
}
