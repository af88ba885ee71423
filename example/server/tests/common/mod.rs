//! What the chat tests share: a chat client on the core's blocking
//! WebSocket.
#![allow(dead_code)]

use rusty_socket_core::connect;
use rusty_socket_core::handshake::{generate_key, ClientRequest};
use rusty_socket_core::{Config, Message, WebSocket};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Client {
    pub ws: WebSocket<TcpStream>,
    pub name: String,
}

impl Client {
    /// Connects and reads the welcome line.
    pub fn join(addr: SocketAddr) -> Client {
        let ws = upgrade(addr).unwrap();
        let mut client = Client {
            ws,
            name: String::new(),
        };
        let welcome = client.read();
        let name = welcome
            .strip_prefix("* welcome, ")
            .and_then(|rest| rest.strip_suffix("! type /help for commands"))
            .unwrap_or_else(|| panic!("not a welcome: {welcome}"));
        assert!(name.starts_with("guest-"), "{name}");
        client.name = name.to_owned();
        client
    }

    pub fn say(&mut self, text: &str) {
        self.ws.send(text).unwrap();
    }

    pub fn read(&mut self) -> String {
        match self.ws.read().unwrap().unwrap() {
            Message::Text(text) => text,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// `GET path` on `addr`: the whole answer, head and body.
pub fn get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Opens a WebSocket to the chat at `addr`, with the test's read timeout.
///
/// # Errors
/// As [`rusty_socket_core::connect`]: a refusal is a handshake error with
/// the server's answer.
pub fn upgrade(addr: SocketAddr) -> rusty_socket_core::Result<WebSocket<TcpStream>> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(WAIT))?;
    let key = generate_key()?;
    let host = addr.to_string();
    let request = ClientRequest {
        host: &host,
        target: "/",
        key: &key,
        protocols: &[],
        extra_headers: &[],
        extensions: None,
    };
    connect(stream, &request, Config::default()).map(|(ws, _, _)| ws)
}

/// Reads until a line equal to `wanted`, within the client's read
/// timeout; returns the lines before it.
pub fn read_until(client: &mut Client, wanted: &str) -> Vec<String> {
    let mut before = Vec::new();
    loop {
        let line = client.read();
        if line == wanted {
            return before;
        }
        before.push(line);
    }
}
