//! Small servers for the integration tests, on 127.0.0.1:0, written with
//! the core's `handshake::accept`. Each serves one connection on its own
//! thread; every socket has a timeout so that a bug fails a test instead of
//! hanging it.

#![allow(dead_code)] // each test file uses a different subset

use rusty_socket_core::{Config, Message, WebSocket};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long any single blocking operation in a test may take.
pub const LIMIT: Duration = Duration::from_secs(10);

/// A listener on a free port and the `ws://` URL that reaches it.
pub fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    (listener, format!("ws://127.0.0.1:{port}/"))
}

/// Accepts one TCP connection and hands it to `serve` on a new thread.
pub fn serve_one<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (String, JoinHandle<T>) {
    let (listener, url) = listen();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(LIMIT)).expect("timeout");
        stream.set_write_timeout(Some(LIMIT)).expect("timeout");
        serve(stream)
    });
    (url, handle)
}

/// The WebSocket side of the opening handshake, choosing `protocol` if the
/// client offers it.
pub fn accept(stream: TcpStream, protocol: Option<&'static str>) -> WebSocket<TcpStream> {
    rusty_socket_core::accept(stream, Config::default(), move |_, offered| {
        protocol.filter(|p| offered.contains(p)).map(str::to_owned)
    })
    .expect("server handshake")
}

/// Echoes text and binary messages until the connection ends; returns
/// everything received, control messages included.
pub fn echo(mut ws: WebSocket<TcpStream>) -> Vec<Message> {
    let mut seen = Vec::new();
    while let Ok(Some(message)) = ws.read() {
        if message.is_data() {
            ws.send(message.clone()).expect("echo");
        }
        seen.push(message);
    }
    seen
}

/// An echo server for one connection.
pub fn echo_server() -> (String, JoinHandle<Vec<Message>>) {
    serve_one(|stream| echo(accept(stream, None)))
}

/// Reads a request head, byte by byte up to the blank line.
pub fn read_request_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}
