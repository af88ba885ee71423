//! A broadcast server: every text or binary message a client sends goes to
//! every connected client, the sender included.
//!
//! ```text
//! cargo run --release -p rusty_socket_server --example broadcast_server -- 127.0.0.1:9002
//! ```

use rusty_socket_server::{ConnectionId, Handler, Message, Server, ServerConfig, ServerHandle};

/// Sends each message, unchanged, to everyone.
struct Broadcast;

impl Handler for Broadcast {
    fn on_message(&self, server: &ServerHandle, _id: ConnectionId, message: Message) {
        let _ = server.broadcast(message);
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".to_owned());
    let server = match Server::bind(ServerConfig::new(addr.as_str()), Broadcast) {
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
