//! Opens many WebSocket connections to a server, keeps them all open, and
//! checks that every one of them still works, round after round.
//!
//! ```text
//! cargo run --release -p rusty_socket_core --example hold_connections -- ws://127.0.0.1:9001/ 10000 3
//! cargo run --release -p rusty_socket_core --example hold_connections -- ws://127.0.0.1:9002/ 400 1 --allow-refused --broadcast
//! ```
//!
//! Arguments: the server's URL (`ws://127.0.0.1:PORT/`), the number of
//! connections, the number of rounds, and the options anywhere among them.
//! One thread does everything: it connects one connection after the other,
//! then runs the rounds, so the client side costs one socket per connection
//! and no threads. The process needs a file limit above the number of
//! connections (`ulimit -n`), and so does the server:
//! `scripts/ten_thousand.sh` sets both.
//!
//! - Against an **echo server** (the default), a round sends a distinct
//!   message on every connection and reads every echo back.
//! - `--broadcast`: against a **broadcast server** (every message goes to
//!   every client), a round is one message, sent by the first connection,
//!   that every held connection must receive, the first included. There is
//!   at least one round. Before the first, every connection sends a ping and
//!   waits for its pong: a server answers from the connection's reader,
//!   which runs only once the connection is registered for broadcasts, so
//!   the broadcast that follows cannot miss a connection still being set up.
//! - `--allow-refused`: a connection the server refuses with HTTP 503 (which
//!   must carry `Retry-After`), or closes or resets during the handshake, is
//!   counted instead of failing the run; the rounds run on the connections
//!   that were accepted (at least one must be).
//!
//! Exits non-zero, naming the connection, if any connect, handshake or
//! round fails; prints `held N connections, R rounds, M messages verified`,
//! and with `--allow-refused` a second line,
//! `refused_503=N refused_closed=M`.

use rusty_socket_core::handshake::{self, ClientRequest};
use rusty_socket_core::{Config, Error, HandshakeError, Message, WebSocket};
use std::net::TcpStream;
use std::process::exit;
use std::time::{Duration, Instant};

/// How a connection attempt ended.
enum Attempt {
    Open(Box<WebSocket<TcpStream>>),
    /// HTTP 503; whether it carried `Retry-After`.
    Refused503 {
        retry_after: bool,
    },
    /// Closed or reset before the handshake completed.
    Closed(Error),
}

fn main() {
    let mut allow_refused = false;
    let mut broadcast = false;
    let mut positional = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--allow-refused" => allow_refused = true,
            "--broadcast" => broadcast = true,
            flag if flag.starts_with("--") => {
                eprintln!("hold_connections: unknown option {flag}");
                exit(2);
            }
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let url = positional
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".to_string());
    let count: usize = positional
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let mut rounds: usize = positional.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    if broadcast {
        rounds = rounds.max(1);
    }
    let Some(addr) = url
        .strip_prefix("ws://")
        .map(|rest| rest.trim_end_matches('/'))
    else {
        eprintln!("hold_connections: expected a ws://HOST:PORT/ URL, got {url}");
        exit(2);
    };

    let started = Instant::now();
    let mut connections = Vec::with_capacity(count);
    let (mut refused_503, mut refused_closed) = (0usize, 0usize);
    for i in 0..count {
        match open(addr) {
            Attempt::Open(ws) => connections.push(*ws),
            Attempt::Refused503 { retry_after } if allow_refused => {
                if !retry_after {
                    fail(&format!("connection {i}: a 503 without Retry-After"));
                }
                refused_503 += 1;
            }
            Attempt::Closed(_) if allow_refused => refused_closed += 1,
            Attempt::Refused503 { .. } => fail(&format!("connection {i}: refused with 503")),
            Attempt::Closed(e) => fail(&format!("connection {i}: {e}")),
        }
        if (i + 1) % 1000 == 0 {
            eprintln!(
                "hold_connections: {} connected ({:.1} s)",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let held = connections.len();
    eprintln!(
        "hold_connections: {held} of {count} connections open after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if held == 0 {
        fail("no connection was accepted");
    }

    let verified = if broadcast {
        synchronise(&mut connections);
        broadcast_rounds(&mut connections, rounds)
    } else {
        echo_rounds(&mut connections, rounds)
    };
    println!("held {held} connections, {rounds} rounds, {verified} messages verified");
    if allow_refused {
        println!("refused_503={refused_503} refused_closed={refused_closed}");
    }
}

/// Each connection sends a distinct message and reads its echo.
fn echo_rounds(connections: &mut [WebSocket<TcpStream>], rounds: usize) -> usize {
    let count = connections.len();
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
    count * rounds
}

/// Pings every connection and waits for every pong (see the module docs).
fn synchronise(connections: &mut [WebSocket<TcpStream>]) {
    for (i, ws) in connections.iter_mut().enumerate() {
        if let Err(e) = ws.ping(b"ready?") {
            fail(&format!("ping on connection {i}: {e}"));
        }
    }
    for (i, ws) in connections.iter_mut().enumerate() {
        match ws.read() {
            Ok(Some(Message::Pong(payload))) if payload == b"ready?" => {}
            Ok(other) => fail(&format!("connection {i} answered the ping with {other:?}")),
            Err(e) => fail(&format!("read on connection {i}: {e}")),
        }
    }
}

/// The first connection sends one message a round; every connection reads
/// it.
fn broadcast_rounds(connections: &mut [WebSocket<TcpStream>], rounds: usize) -> usize {
    let count = connections.len();
    for round in 0..rounds {
        let round_start = Instant::now();
        let text = format!("broadcast round {round}");
        if let Err(e) = connections[0].send(text.as_str()) {
            fail(&format!("send on connection 0: {e}"));
        }
        let expected = Message::text(text);
        for (i, ws) in connections.iter_mut().enumerate() {
            match ws.read() {
                Ok(Some(message)) if message == expected => {}
                Ok(other) => fail(&format!("connection {i} received {other:?}")),
                Err(e) => fail(&format!("read on connection {i}: {e}")),
            }
        }
        eprintln!(
            "hold_connections: round {}: one broadcast received by {count} in {:.2} s",
            round + 1,
            round_start.elapsed().as_secs_f64()
        );
    }
    count * rounds
}

fn open(addr: &str) -> Attempt {
    match connect(addr) {
        Ok(ws) => Attempt::Open(Box::new(ws)),
        Err(Error::Handshake(HandshakeError::Rejected(response))) if response.status == 503 => {
            Attempt::Refused503 {
                retry_after: response.headers.get("Retry-After").is_some(),
            }
        }
        Err(Error::Io(e)) if rusty_socket_core::connection::is_disconnect(&e) => {
            Attempt::Closed(Error::Io(e))
        }
        Err(e) => fail(&format!("connect: {e}")),
    }
}

fn connect(addr: &str) -> rusty_socket_core::Result<WebSocket<TcpStream>> {
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
        extensions: None,
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
