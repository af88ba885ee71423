//! Helpers shared by the integration tests: a test handler, a server on
//! 127.0.0.1:0, and WebSocket and HTTP clients built from the core.
#![allow(dead_code)]

use rusty_socket_core::connect;
use rusty_socket_core::handshake::{generate_key, ClientRequest};
use rusty_socket_core::http::Request;
use rusty_socket_core::{Config, Message, WebSocket};
use rusty_socket_server::{
    ConnectionId, Ending, Handler, HttpResponse, Server, ServerConfig, ServerHandle,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;

/// The longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Broadcasts every message to everyone, except `to ID text`, which goes to
/// connection ID only. Reports each opened connection's id. Refuses some
/// upgrades (see `on_upgrade`).
pub struct TestHandler {
    opened: Mutex<Sender<ConnectionId>>,
    closed: Mutex<Sender<(ConnectionId, Ending)>>,
}

impl Handler for TestHandler {
    /// Refuses pages from `http://evil.example` (403) and panics for the
    /// target `/panic`.
    fn on_upgrade(&self, request: &Request, _peer: SocketAddr) -> Result<(), HttpResponse> {
        if request.target == "/panic" {
            panic!("on_upgrade panics for /panic");
        }
        match request.headers.get("origin") {
            Some("http://evil.example") => Err(HttpResponse::text(403, "origin not allowed\n")),
            _ => Ok(()),
        }
    }

    fn on_open(&self, _server: &ServerHandle, connection: &rusty_socket_server::ConnectionInfo) {
        let _ = self.opened.lock().unwrap().send(connection.id);
    }

    fn on_close(&self, _server: &ServerHandle, id: ConnectionId, ending: Ending) {
        let _ = self.closed.lock().unwrap().send((id, ending));
    }

    fn on_message(&self, server: &ServerHandle, _id: ConnectionId, message: Message) {
        if let Message::Text(text) = &message {
            if let Some(rest) = text.strip_prefix("to ") {
                let (id, text) = rest.split_once(' ').unwrap();
                server
                    .send_to(ConnectionId(id.parse().unwrap()), text)
                    .unwrap();
                return;
            }
        }
        let _ = server.broadcast(message);
    }
}

/// A running test server, the ids of connections as they open, and how
/// they ended as they close.
pub struct TestServer {
    pub handle: ServerHandle,
    pub opened: Receiver<ConnectionId>,
    pub closed: Receiver<(ConnectionId, Ending)>,
}

impl TestServer {
    pub fn start(config: ServerConfig) -> TestServer {
        let (tx, opened) = mpsc::channel();
        let (closed_tx, closed) = mpsc::channel();
        let handler = TestHandler {
            opened: Mutex::new(tx),
            closed: Mutex::new(closed_tx),
        };
        let server = Server::bind(config.bind_addr("127.0.0.1:0"), handler).unwrap();
        TestServer {
            handle: server.spawn().unwrap(),
            opened,
            closed,
        }
    }

    /// How connection `id` ended, waiting for it to end.
    pub fn ending(&self, id: ConnectionId) -> Ending {
        loop {
            let (closed, ending) = self.closed.recv_timeout(WAIT).expect("on_close");
            if closed == id {
                return ending;
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// Connects a client and waits until the server has registered it.
    pub fn client(&self) -> (WebSocket<TcpStream>, ConnectionId) {
        self.client_with(Config::default())
    }

    /// As [`TestServer::client`], with the client's `config` (what it
    /// offers of permessage-deflate, for one).
    pub fn client_with(&self, config: Config) -> (WebSocket<TcpStream>, ConnectionId) {
        let ws = try_client_config(self.addr(), &[], config).expect("handshake");
        let id = self.opened.recv_timeout(WAIT).expect("on_open");
        (ws, id)
    }
}

/// A client-role WebSocket connected to `addr`, with a read timeout.
pub fn client(addr: SocketAddr) -> WebSocket<TcpStream> {
    try_client(addr).expect("handshake")
}

pub fn try_client(addr: SocketAddr) -> rusty_socket_core::Result<WebSocket<TcpStream>> {
    try_client_with(addr, &[])
}

/// As [`try_client`], with more header fields in the upgrade request.
pub fn try_client_with(
    addr: SocketAddr,
    extra_headers: &[(String, String)],
) -> rusty_socket_core::Result<WebSocket<TcpStream>> {
    try_client_config(addr, extra_headers, Config::default())
}

/// As [`try_client_with`], with the client's `config`.
pub fn try_client_config(
    addr: SocketAddr,
    extra_headers: &[(String, String)],
    config: Config,
) -> rusty_socket_core::Result<WebSocket<TcpStream>> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(WAIT))?;
    let key = generate_key()?;
    let host = addr.to_string();
    let request = ClientRequest {
        host: &host,
        target: "/",
        key: &key,
        protocols: &[],
        extra_headers,
        extensions: None,
    };
    let (ws, _, _) = connect(stream, &request, config)?;
    Ok(ws)
}

/// The status of the answer that refused a handshake; panics if it was
/// accepted or failed otherwise.
pub fn refusal_status<T>(attempt: rusty_socket_core::Result<T>) -> (u16, Option<String>) {
    match attempt {
        Err(rusty_socket_core::Error::Handshake(rusty_socket_core::HandshakeError::Rejected(
            response,
        ))) => (
            response.status,
            response.headers.get("Retry-After").map(str::to_owned),
        ),
        Ok(_) => panic!("expected a refusal, the handshake succeeded"),
        Err(e) => panic!("expected a refusal, got {e}"),
    }
}

/// Reads the next text message.
pub fn read_text(ws: &mut WebSocket<TcpStream>) -> String {
    match ws.read().expect("read") {
        Some(Message::Text(text)) => text,
        other => panic!("expected text, got {other:?}"),
    }
}

/// Sends raw `request` bytes and reads the whole answer (until the server
/// closes), as a string.
pub fn raw_http(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// `GET path` and the answer's status and body.
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let answer = raw_http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    );
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}
