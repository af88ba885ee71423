//! A broadcast server: every text or binary message a client sends goes to
//! every connected client, the sender included.
//!
//! ```text
//! cargo run --release -p rusty_socket_server --example broadcast_server -- 127.0.0.1:9002 [--no-deflate] [--no-context-takeover]
//! ```
//!
//! permessage-deflate (RFC 7692) is accepted with the server's defaults;
//! `--no-deflate` turns it off, and `--no-context-takeover` asks every
//! client for `server_no_context_takeover`, so that each broadcast is
//! compressed once for all of them.

use rusty_socket_core::deflate::PerMessageDeflate;
use rusty_socket_server::{
    Config, ConnectionId, Handler, Message, Server, ServerConfig, ServerHandle,
};

/// Sends each message, unchanged, to everyone.
struct Broadcast;

impl Handler for Broadcast {
    fn on_message(&self, server: &ServerHandle, _id: ConnectionId, message: Message) {
        let _ = server.broadcast(message);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9002".to_owned());
    let mut websocket = Config::default();
    if flag("--no-deflate") {
        websocket = websocket.permessage_deflate(None);
    } else if flag("--no-context-takeover") {
        let mut deflate = PerMessageDeflate::default();
        deflate.server.server_no_context_takeover = true;
        websocket = websocket.permessage_deflate(Some(deflate));
    }
    let config = ServerConfig::new(addr.as_str()).websocket(websocket);
    let server = match Server::bind(config, Broadcast) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("broadcast_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    // What the machine lets it hold (also in GET /stats): past it, 503.
    println!(
        "broadcast_server: capacity {}",
        server.handle().stats().capacity
    );
    println!(
        "broadcast_server listening on ws://{}/",
        server.local_addr()
    );
    if let Err(e) = server.run() {
        eprintln!("broadcast_server: {e}");
        std::process::exit(1);
    }
}
