//! Opens many WebSocket connections to an echo server, keeps them all open,
//! and checks that every one of them still echoes, round after round.
//!
//! ```text
//! cargo run --release -p rusty_socket_core --example hold_connections -- ws://127.0.0.1:9001/ 10000 3
//! ```
//!
//! Arguments: the echo server's URL (`ws://127.0.0.1:PORT/`), the number of
//! connections, and the number of rounds. One thread does everything: it
//! connects one connection after the other, then in each round sends a
//! distinct message on every connection and reads every echo back, so the
//! client side costs one socket per connection and no threads. The process
//! needs a file limit above the number of connections (`ulimit -n`), and so
//! does the server: `scripts/ten_thousand.sh` sets both.
//!
//! Exits non-zero, naming the connection, if any connect, handshake or echo
//! fails; prints `held N connections, R rounds, N*R echoes verified`.

use rusty_socket_core::handshake::{self, ClientRequest};
use rusty_socket_core::{Config, Message, WebSocket};
use std::net::TcpStream;
use std::process::exit;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".to_string());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let Some(addr) = url
        .strip_prefix("ws://")
        .map(|rest| rest.trim_end_matches('/'))
    else {
        eprintln!("hold_connections: expected a ws://HOST:PORT/ URL, got {url}");
        exit(2);
    };

    let started = Instant::now();
    let mut connections = Vec::with_capacity(count);
    for i in 0..count {
        match open(addr) {
            Ok(ws) => connections.push(ws),
            Err(e) => fail(&format!("connection {i}: {e}")),
        }
        if (i + 1) % 1000 == 0 {
            eprintln!(
                "hold_connections: {} connected ({:.1} s)",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "hold_connections: {count} connections open after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    for round in 0..rounds {
        let round_start = Instant::now();
        for (i, ws) in connections.iter_mut().enumerate() {
            if let Err(e) = ws.send(format!("round {round} connection {i}")) {
                fail(&format!("send on connection {i}: {e}"));
            }
        }
        for (i, ws) in connections.iter_mut().enumerate() {
            let expected = Message::text(format!("round {round} connection {i}"));
            match ws.read() {
                Ok(Some(message)) if message == expected => {}
                Ok(other) => fail(&format!("connection {i} echoed {other:?}")),
                Err(e) => fail(&format!("read on connection {i}: {e}")),
            }
        }
        eprintln!(
            "hold_connections: round {}: {count} echoes in {:.2} s",
            round + 1,
            round_start.elapsed().as_secs_f64()
        );
    }
    println!(
        "held {count} connections, {rounds} rounds, {} echoes verified",
        count * rounds
    );
}

fn open(addr: &str) -> rusty_socket_core::Result<WebSocket<TcpStream>> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true)?;
    let key = handshake::generate_key()?;
    let request = ClientRequest {
        host: addr,
        target: "/",
        key: &key,
        protocols: &[],
        extra_headers: &[],
    };
    // Small buffers: ten thousand of them add up.
    let config = Config::default()
        .read_buffer_size(256)
        .max_read_buffer(4096);
    Ok(rusty_socket_core::connect(stream, &request, config)?.0)
}

fn fail(what: &str) -> ! {
    eprintln!("hold_connections: FAILED: {what}");
    exit(1);
}
