//! A broadcast server: every text or binary message a client sends goes to
//! every connected client, the sender included. With `--echo`, each message
//! goes back to its sender only, so one binary measures echo and broadcast,
//! over ws and wss.
//!
//! ```text
//! cargo run --release -p rusty_socket_server --features tls --example broadcast_server -- \
//!     127.0.0.1:9002 [--echo] [--no-deflate] [--no-context-takeover] \
//!     [--tls-cert cert.pem --tls-key key.pem]
//! ```
//!
//! permessage-deflate (RFC 7692) is accepted with the server's defaults;
//! `--no-deflate` turns it off, and `--no-context-takeover` asks every
//! client for `server_no_context_takeover`, so that each broadcast is
//! compressed once for all of them. `--tls-cert` and `--tls-key` (PEM
//! files; the build needs the `tls` feature) make it a `wss://` server.
//! Flags may come before or after the address.

use rusty_socket_core::deflate::PerMessageDeflate;
use rusty_socket_server::{
    Config, ConnectionId, Handler, Message, Server, ServerConfig, ServerHandle,
};

/// Sends each message, unchanged, to everyone, or with `echo` to its
/// sender.
struct Broadcast {
    echo: bool,
}

impl Handler for Broadcast {
    fn on_message(&self, server: &ServerHandle, id: ConnectionId, message: Message) {
        if self.echo {
            let _ = server.send_to(id, message);
        } else {
            let _ = server.broadcast(message);
        }
    }
}

/// The command line: flags anywhere, the address the one other argument.
struct Args {
    addr: String,
    flags: Vec<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:9002".to_owned(),
        flags: Vec::new(),
        tls_cert: None,
        tls_key: None,
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
    let config = ServerConfig::new(addr.as_str()).websocket(websocket);
    let secure = args.tls_cert.is_some();
    let config = tls(&args, config).unwrap_or_else(|e| {
        eprintln!("broadcast_server: {e}");
        std::process::exit(2);
    });
    let handler = Broadcast {
        echo: flag("--echo"),
    };
    let server = match Server::bind(config, handler) {
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
