//! The chat protocol over real sockets, against the chat on 127.0.0.1:0.

use rusty_socket_core::connect;
use rusty_socket_core::handshake::{generate_key, ClientRequest};
use rusty_socket_core::{Config, Message, WebSocket};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

struct Client {
    ws: WebSocket<TcpStream>,
    name: String,
}

impl Client {
    /// Connects and reads the welcome line.
    fn join(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let key = generate_key().unwrap();
        let host = addr.to_string();
        let request = ClientRequest {
            host: &host,
            target: "/",
            key: &key,
            protocols: &[],
            extra_headers: &[],
        };
        let (ws, _, _) = connect(stream, &request, Config::default()).unwrap();
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

    fn say(&mut self, text: &str) {
        self.ws.send(text).unwrap();
    }

    fn read(&mut self) -> String {
        match self.ws.read().unwrap().unwrap() {
            Message::Text(text) => text,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Joins `n` clients, each having seen the others' join notices.
fn room(addr: SocketAddr, n: usize) -> Vec<Client> {
    let mut clients: Vec<Client> = Vec::new();
    for _ in 0..n {
        let newcomer = Client::join(addr);
        for client in &mut clients {
            assert_eq!(client.read(), format!("* {} joined", newcomer.name));
        }
        clients.push(newcomer);
    }
    clients
}

#[test]
fn chat_lines_reach_everyone_in_order() {
    let chat = chat_server::spawn("127.0.0.1:0").unwrap();
    let mut clients = room(chat.local_addr(), 3);
    for i in 0..20 {
        clients[1].say(&format!("line {i}"));
    }
    let sender = clients[1].name.clone();
    for client in &mut clients {
        for i in 0..20 {
            assert_eq!(client.read(), format!("{sender}: line {i}"));
        }
    }
    // Gone before the shutdown, so it need not wait for their close replies.
    drop(clients);
    chat.shutdown();
}

#[test]
fn private_messages_reach_only_the_target_and_the_sender() {
    let chat = chat_server::spawn("127.0.0.1:0").unwrap();
    let mut clients = room(chat.local_addr(), 3);
    let (a, b) = (clients[0].name.clone(), clients[1].name.clone());
    clients[0].say(&format!("/msg {b} psst"));
    let private = format!("[private] {a} -> {b}: psst");
    assert_eq!(clients[1].read(), private);
    assert_eq!(clients[0].read(), private);
    clients[0].say("/msg nobody hi");
    assert_eq!(clients[0].read(), "! no user named nobody");
    // The next thing the third client sees is a public line.
    clients[0].say("public");
    for client in &mut clients {
        assert_eq!(client.read(), format!("{a}: public"));
    }
    drop(clients);
    chat.shutdown();
}

#[test]
fn nick_list_join_and_leave() {
    let chat = chat_server::spawn("127.0.0.1:0").unwrap();
    let mut clients = room(chat.local_addr(), 2);
    let old = clients[0].name.clone();
    clients[0].say("/nick alice");
    for client in &mut clients {
        assert_eq!(client.read(), format!("* {old} is now alice"));
    }
    clients[0].name = "alice".to_owned();
    clients[1].say("/nick alice");
    assert_eq!(clients[1].read(), "! the name alice is taken");
    clients[1].say("/nick no spaces");
    assert!(clients[1].read().starts_with("! invalid name"));
    let guest = clients[1].name.clone();
    clients[1].say("/nick bob");
    for client in &mut clients {
        assert_eq!(client.read(), format!("* {guest} is now bob"));
    }
    clients[1].name = "bob".to_owned();
    clients[0].say("/list");
    assert_eq!(clients[0].read(), "* online: alice, bob");
    clients[0].say("/help");
    assert_eq!(
        clients[0].read(),
        "* commands: /nick NAME, /list, /msg NAME text, /help"
    );
    let mut carol = Client::join(chat.local_addr());
    for client in &mut clients {
        assert_eq!(client.read(), format!("* {} joined", carol.name));
    }
    carol.say("/list");
    assert_eq!(
        carol.read(),
        format!("* online: alice, bob, {}", carol.name)
    );
    let bob = clients.pop().unwrap();
    drop(bob);
    assert_eq!(clients[0].read(), "* bob left");
    assert_eq!(carol.read(), "* bob left");
    drop((clients, carol));
    chat.shutdown();
}

#[test]
fn unknown_commands_and_long_messages_get_errors() {
    let chat = chat_server::spawn("127.0.0.1:0").unwrap();
    let mut client = Client::join(chat.local_addr());
    client.say("/foo bar");
    assert_eq!(client.read(), "! unknown command /foo (try /help)");
    client.say(&"x".repeat(4097));
    assert_eq!(client.read(), "! message too long");
    client.say(&"y".repeat(4096));
    assert_eq!(
        client.read(),
        format!("{}: {}", client.name, "y".repeat(4096))
    );
    drop(client);
    chat.shutdown();
}

#[test]
fn get_slash_serves_the_page() {
    let chat = chat_server::spawn("127.0.0.1:0").unwrap();
    let mut stream = TcpStream::connect(chat.local_addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("Content-Type: text/html"));
    for needle in [
        "id=\"input\"",
        "id=\"send\"",
        "id=\"form\"",
        "id=\"log\"",
        "id=\"status\"",
    ] {
        assert!(answer.contains(needle), "{needle}");
    }
    chat.shutdown();
}

/// Starts the binary on a free port with `flags`; returns it, its address
/// and its standard output (kept open: the server still writes to it).
fn start_binary(flags: &[&str]) -> (Child, SocketAddr, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat_server"))
        .args(["--addr", "127.0.0.1:0"])
        .args(flags)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr: SocketAddr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();
    (child, addr, stdout)
}

#[test]
fn the_binary_prints_its_address_and_serves() {
    let (mut child, addr, _stdout) = start_binary(&[]);
    let client = Client::join(addr);
    assert!(client.name.starts_with("guest-"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn the_binary_takes_its_flood_limits_from_flags() {
    let (mut child, addr, _stdout) =
        start_binary(&["--rate", "1", "--burst=2", "--max-per-ip", "1"]);
    let mut client = Client::join(addr);
    // One connection per address: the second is refused before the upgrade.
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let key = generate_key().unwrap();
    let host = addr.to_string();
    let request = ClientRequest {
        host: &host,
        target: "/",
        key: &key,
        protocols: &[],
        extra_headers: &[],
    };
    match connect(stream, &request, Config::default()) {
        Err(rusty_socket_core::Error::Handshake(rusty_socket_core::HandshakeError::Rejected(
            response,
        ))) => assert_eq!(response.status, 429),
        other => panic!("expected a 429, got {:?}", other.map(|_| ())),
    }
    // A burst of two: the third line at once is dropped, with a notice.
    // (The welcome took no token: the server sent it.)
    for text in ["one", "two", "three"] {
        client.ws.write(Message::text(text)).unwrap();
    }
    client.ws.flush().unwrap();
    let name = client.name.clone();
    assert_eq!(client.read(), format!("{name}: one"));
    assert_eq!(client.read(), format!("{name}: two"));
    assert_eq!(client.read(), "! rate limit: message dropped");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn help_states_the_flood_defaults() {
    let output = Command::new(env!("CARGO_BIN_EXE_chat_server"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    for needle in [
        "--rate N",
        "(default 20;",
        "--burst N",
        "(default 40;",
        "--max-per-ip N",
    ] {
        assert!(help.contains(needle), "{needle} in {help}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_chat_server"))
        .args(["--rate", "lots"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
