//! Replays a file of text lines (a chat corpus: one JSON message a line)
//! through an echo server, one message per line, and counts the bytes on
//! the wire both ways: what permessage-deflate saves on real traffic.
//!
//! ```text
//! replay 127.0.0.1:9001 target/deflate-corpus/chat.jsonl [--count N] [--no-deflate]
//! ```
//!
//! Each line is sent and its echo read before the next (a chat's pace, not
//! a benchmark's). The last line is
//! `RESULT deflate=0|1 extensions=... messages=N payload_bytes=B wire_out=O wire_in=I ratio_out=R ratio_in=R elapsed_ms=T`,
//! where the ratios are payload bytes over wire bytes (frame headers and
//! masks included; the handshake excluded).

use rusty_socket_core::handshake::{self, ClientRequest};
use rusty_socket_core::{CloseCode, Config, Message};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::exit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A stream that counts what passes through it.
struct Counting {
    stream: TcpStream,
    read: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

fn fail(what: impl std::fmt::Display) -> ! {
    eprintln!("replay: {what}");
    exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deflate = !args.iter().any(|a| a == "--no-deflate");
    let count: usize = args
        .iter()
        .position(|a| a == "--count")
        .and_then(|i| args.get(i + 1))
        .map_or(usize::MAX, |n| {
            n.parse().unwrap_or_else(|_| fail("--count N"))
        });
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--count"))
        .map(|(_, a)| a)
        .collect();
    let [addr, file] = positional[..] else {
        fail("usage: replay ADDR FILE [--count N] [--no-deflate]")
    };
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| fail(format!("{file}: {e}")));
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).take(count).collect();

    let stream = TcpStream::connect(addr).unwrap_or_else(|e| fail(format!("{addr}: {e}")));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap_or_else(|e| fail(e));
    let _ = stream.set_nodelay(true);
    let (read, written) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let counting = Counting {
        stream,
        read: Arc::clone(&read),
        written: Arc::clone(&written),
    };
    let key = handshake::generate_key().unwrap_or_else(|e| fail(e));
    let request = ClientRequest {
        host: addr,
        target: "/",
        key: &key,
        protocols: &[],
        extra_headers: &[],
        extensions: None,
    };
    let mut config = Config::default();
    if !deflate {
        config = config.permessage_deflate(None);
    }
    let (mut ws, response, _) =
        rusty_socket_core::connect(counting, &request, config).unwrap_or_else(|e| fail(e));
    let extensions = response
        .headers
        .get("sec-websocket-extensions")
        .unwrap_or("none")
        .replace(' ', "");
    // The handshake is not traffic.
    let (read_before, written_before) = (
        read.load(Ordering::Relaxed),
        written.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    let mut payload = 0u64;
    for line in &lines {
        ws.send(Message::text(*line)).unwrap_or_else(|e| fail(e));
        match ws.read() {
            Ok(Some(Message::Text(echo))) if echo == *line => {}
            other => fail(format!("expected the echo of a line, got {other:?}")),
        }
        payload += line.len() as u64;
    }
    let elapsed = started.elapsed();
    let wire_out = written.load(Ordering::Relaxed) - written_before;
    let wire_in = read.load(Ordering::Relaxed) - read_before;
    let _ = ws.close(CloseCode::NORMAL, "");
    while let Ok(Some(_)) = ws.read() {}
    println!(
        "{} messages, {payload} payload bytes: {wire_out} bytes out, {wire_in} bytes in",
        lines.len()
    );
    println!(
        "RESULT deflate={} extensions={extensions} messages={} payload_bytes={payload} wire_out={wire_out} wire_in={wire_in} ratio_out={:.3} ratio_in={:.3} elapsed_ms={}",
        u8::from(deflate),
        lines.len(),
        payload as f64 / wire_out.max(1) as f64,
        payload as f64 / wire_in.max(1) as f64,
        elapsed.as_millis()
    );
}
