//! An echo server: every text and binary message comes back unchanged.
//!
//! ```text
//! cargo run --release -p rusty_socket_core --example echo_server -- 127.0.0.1:9001
//! ```
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

use rusty_socket_core::{Config, Error, WebSocket};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_string());
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("echo_server: listening on ws://{addr}/");
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("echo_server: accept failed: {e}");
                continue;
            }
        };
        let spawned = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || serve(stream));
        if let Err(e) = spawned {
            eprintln!("echo_server: cannot start a thread: {e}");
        }
    }
}

fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let ws = match rusty_socket_core::accept(stream, Config::default(), |_, _| None) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("echo_server: handshake failed: {e}");
            return;
        }
    };
    if let Err(e) = echo(ws) {
        eprintln!("echo_server: connection ended: {e}");
    }
}

fn echo(mut ws: WebSocket<TcpStream>) -> Result<(), Error> {
    // Pings and closes are answered inside `read_in_place`; `echo` sends
    // back data only. `None` is the clean end.
    while let Some(incoming) = ws.read_in_place()? {
        incoming.echo()?;
    }
    Ok(())
}
