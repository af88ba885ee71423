//! A broadcast server: every text or binary message a client sends goes to
//! every connected client, the sender included. With `--echo`, each message
//! goes back to its sender only, so one binary measures echo and broadcast,
//! over ws and wss.
//!
//! ```text
//! cargo run --release -p rusty_socket_server --features tls --example broadcast_server -- \
//!     127.0.0.1:9002 [--echo] [--no-deflate] [--no-context-takeover] \
//!     [--tls-cert cert.pem --tls-key key.pem] [--redis URL [--node NAME]] \
//!     [--queue-len N]
//! ```
//!
//! permessage-deflate (RFC 7692) is accepted with the server's defaults;
//! `--no-deflate` turns it off, and `--no-context-takeover` asks every
//! client for `server_no_context_takeover`, so that each broadcast is
//! compressed once for all of them. `--tls-cert` and `--tls-key` (PEM
//! files; the build needs the `tls` feature) make it a `wss://` server.
//! Flags may come before or after the address.
//!
//! With `--redis redis://host:port`, the server is one node of several:
//! every message is also published through Redis
//! ([`rusty_socket_server::broker::RedisBroker`]) and the other nodes
//! broadcast it to their own clients, so clients spread over the nodes
//! receive every message exactly once. `--node` names this node (default:
//! the address it listens on). Messages from Redis come in bursts (many
//! in one read), so a node may want a longer queue per client than the
//! default 64 messages before a client counts as too slow: `--queue-len`.

use rusty_socket_core::deflate::PerMessageDeflate;
use rusty_socket_server::broker::{Broker, Envelope, RedisBroker, RedisOptions, RedisUrl};
use rusty_socket_server::{
    Config, ConnectionId, Handler, Message, Server, ServerConfig, ServerHandle,
};
use std::sync::Arc;

/// The Redis channel the nodes share.
const CHANNEL: &str = "broadcast";

/// Sends each message, unchanged, to everyone, or with `echo` to its
/// sender; with a broker, to every node's clients too.
struct Broadcast {
    echo: bool,
    relay: Option<Relay>,
}

/// This node's link to the others.
struct Relay {
    broker: Arc<dyn Broker>,
    node: String,
}

/// A message as it travels between nodes: `t` or `b` (text or binary),
/// then the payload.
fn encode(message: &Message) -> Option<Vec<u8>> {
    let (kind, payload) = match message {
        Message::Text(text) => (b't', text.as_bytes()),
        Message::Binary(bytes) => (b'b', &bytes[..]),
        _ => return None,
    };
    let mut out = Vec::with_capacity(1 + payload.len());
    out.push(kind);
    out.extend_from_slice(payload);
    Some(out)
}

fn decode(body: &[u8]) -> Option<Message> {
    let (&kind, payload) = body.split_first()?;
    match kind {
        b't' => String::from_utf8(payload.to_vec()).ok().map(Message::from),
        b'b' => Some(Message::from(payload.to_vec())),
        _ => None,
    }
}

impl Handler for Broadcast {
    fn on_message(&self, server: &ServerHandle, id: ConnectionId, message: Message) {
        if self.echo {
            let _ = server.send_to(id, message);
            return;
        }
        if let Some(relay) = &self.relay {
            if let Some(body) = encode(&message) {
                let _ = relay
                    .broker
                    .publish(CHANNEL, &Envelope::encode(&relay.node, &body));
            }
        }
        let _ = server.broadcast(message);
    }
}

/// The command line: flags anywhere, the address the one other argument.
struct Args {
    addr: String,
    flags: Vec<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    redis: Option<RedisUrl>,
    node: Option<String>,
    queue_len: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:9002".to_owned(),
        flags: Vec::new(),
        tls_cert: None,
        tls_key: None,
        redis: None,
        node: None,
        queue_len: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--tls-cert" | "--tls-key" => {
                let value = it.next().ok_or(format!("{arg} needs a file"))?;
                if arg == "--tls-cert" {
                    args.tls_cert = Some(value);
                } else {
                    args.tls_key = Some(value);
                }
            }
            "--redis" => {
                let value = it.next().ok_or("--redis needs a URL")?;
                args.redis = Some(value.parse().map_err(|e| format!("--redis: {e}"))?);
            }
            "--node" => args.node = Some(it.next().ok_or("--node needs a name")?),
            "--queue-len" => {
                let value = it.next().ok_or("--queue-len needs a number")?;
                let n = value
                    .parse()
                    .map_err(|_| format!("--queue-len: not a number: {value}"))?;
                args.queue_len = Some(n);
            }
            "--echo" | "--no-deflate" | "--no-context-takeover" => args.flags.push(arg),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            _ => args.addr = arg,
        }
    }
    Ok(args)
}

/// The server's TLS, if both files were given.
#[cfg(feature = "tls")]
fn tls(args: &Args, config: ServerConfig) -> Result<ServerConfig, String> {
    match (&args.tls_cert, &args.tls_key) {
        (None, None) => Ok(config),
        (Some(cert), Some(key)) => rusty_socket_server::TlsConfig::from_pem_files(cert, key)
            .map(|tls| config.tls(Some(tls)))
            .map_err(|e| e.to_string()),
        _ => Err("--tls-cert and --tls-key go together".to_owned()),
    }
}

#[cfg(not(feature = "tls"))]
fn tls(args: &Args, config: ServerConfig) -> Result<ServerConfig, String> {
    match (&args.tls_cert, &args.tls_key) {
        (None, None) => Ok(config),
        _ => Err("TLS needs the tls feature: cargo run --features tls ...".to_owned()),
    }
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("broadcast_server: {e}");
        std::process::exit(2);
    });
    let flag = |name: &str| args.flags.iter().any(|a| a == name);
    let addr = args.addr.clone();
    let mut websocket = Config::default();
    if flag("--no-deflate") {
        websocket = websocket.permessage_deflate(None);
    } else if flag("--no-context-takeover") {
        let mut deflate = PerMessageDeflate::default();
        deflate.server.server_no_context_takeover = true;
        websocket = websocket.permessage_deflate(Some(deflate));
    }
    let mut config = ServerConfig::new(addr.as_str()).websocket(websocket);
    if let Some(n) = args.queue_len {
        config = config.queue_len(n);
    }
    let secure = args.tls_cert.is_some();
    let config = tls(&args, config).unwrap_or_else(|e| {
        eprintln!("broadcast_server: {e}");
        std::process::exit(2);
    });
    let relay = args.redis.clone().map(|url| Relay {
        broker: Arc::new(RedisBroker::new(url, RedisOptions::default())),
        node: args.node.clone().unwrap_or_else(|| addr.clone()),
    });
    let broker = relay
        .as_ref()
        .map(|r| (Arc::clone(&r.broker), r.node.clone()));
    let handler = Broadcast {
        echo: flag("--echo"),
        relay,
    };
    let server = match Server::bind(config, handler) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("broadcast_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    if let Some((broker, node)) = broker {
        // What the other nodes publish goes to this node's clients; what
        // this node published it broadcast itself already. Messages come
        // in bursts: gathered, and queued once a burst is over.
        let handle = Arc::new(server.handle().gathering());
        let flusher = Arc::clone(&handle);
        broker.on_drained(Arc::new(move || flusher.flush()));
        broker.subscribe(
            CHANNEL,
            Arc::new(move |payload: &[u8]| {
                let Some(envelope) = Envelope::decode(payload) else {
                    return;
                };
                if envelope.origin == node {
                    return;
                }
                if let Some(message) = decode(envelope.body) {
                    let _ = handle.broadcast(message);
                }
            }),
        );
    }
    // What the machine lets it hold (also in GET /stats): past it, 503.
    println!(
        "broadcast_server: capacity {}",
        server.handle().stats().capacity
    );
    println!(
        "broadcast_server listening on {}://{}/{}",
        if secure { "wss" } else { "ws" },
        server.local_addr(),
        if flag("--echo") { " (echo)" } else { "" }
    );
    if let Err(e) = server.run() {
        eprintln!("broadcast_server: {e}");
        std::process::exit(1);
    }
}
