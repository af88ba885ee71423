//! The chat protocol over real sockets, against the chat on 127.0.0.1:0.

mod common;

use chat_server::{Chat, HistoryLimits};
use common::{Client, WAIT};
use rusty_socket_core::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};

/// Asserts that the next upgrade to `addr` is refused with 429.
fn assert_refused_with_429(addr: SocketAddr) {
    match common::upgrade(addr) {
        Err(rusty_socket_core::Error::Handshake(rusty_socket_core::HandshakeError::Rejected(
            response,
        ))) => assert_eq!(response.status, 429),
        other => panic!("expected a 429, got {:?}", other.map(|_| ())),
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
    assert_eq!(clients[0].read(), "* online in #lobby: alice, bob");
    clients[0].say("/help");
    assert_eq!(
        clients[0].read(),
        "* commands: /nick NAME, /join ROOM, /leave, /rooms, /list, /msg NAME text, /help"
    );
    let mut carol = Client::join(chat.local_addr());
    for client in &mut clients {
        assert_eq!(client.read(), format!("* {} joined", carol.name));
    }
    carol.say("/list");
    assert_eq!(
        carol.read(),
        format!("* online in #lobby: alice, bob, {}", carol.name)
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
        "id=\"rooms\"",
        "id=\"people\"",
    ] {
        assert!(answer.contains(needle), "{needle}");
    }
    chat.shutdown();
}

/// Starts the binary on a free port with `flags`; returns it, its address
/// and its standard output (kept open: the server still writes to it).
fn start_binary(flags: &[&str]) -> (Child, SocketAddr, BufReader<ChildStdout>) {
    start_binary_with_env(flags, &[])
}

/// As [`start_binary`], with `env` added to the child's environment.
fn start_binary_with_env(
    flags: &[&str],
    env: &[(&str, &str)],
) -> (Child, SocketAddr, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat_server"))
        .args(["--addr", "127.0.0.1:0"])
        .args(flags)
        .envs(env.iter().copied())
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
    assert_refused_with_429(addr);
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
        "RUSTY_SOCKET_MAX_PER_IP",
        "--history N",
    ] {
        assert!(help.contains(needle), "{needle} in {help}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_chat_server"))
        .args(["--rate", "lots"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// Starts the chat on a free port with history within `limits`.
fn spawn_with_history(limits: HistoryLimits) -> rusty_socket_server::ServerHandle {
    chat_server::bind_chat(
        chat_server::config("127.0.0.1:0"),
        Chat::with_history(limits),
    )
    .unwrap()
    .spawn()
    .unwrap()
}

/// Reads one history replay: header, lines, footer; returns the lines.
fn read_history(client: &mut Client, room: &str) -> Vec<String> {
    let header = client.read();
    let count: usize = header
        .strip_prefix(&format!("--- history of #{room} ("))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a history header: {header}"));
    let lines = (0..count).map(|_| client.read()).collect();
    assert_eq!(client.read(), chat_server::HISTORY_END);
    lines
}

#[test]
fn rooms_keep_lines_notices_and_lists_apart() {
    let chat = chat_server::spawn("127.0.0.1:0").unwrap();
    let mut clients = room(chat.local_addr(), 3);
    let names = ["alice", "bob", "carol"];
    for (i, name) in names.iter().enumerate() {
        let old = clients[i].name.clone();
        clients[i].say(&format!("/nick {name}"));
        for client in &mut clients {
            assert_eq!(client.read(), format!("* {old} is now {name}"));
        }
    }
    let (mut c, mut b, mut a) = (
        clients.pop().unwrap(),
        clients.pop().unwrap(),
        clients.pop().unwrap(),
    );

    // alice creates #rust; the lobby hears where she went.
    a.say("/join rust");
    assert_eq!(a.read(), "* you are now in #rust (1 here)");
    assert_eq!(b.read(), "* alice left for #rust");
    assert_eq!(c.read(), "* alice left for #rust");
    b.say("/join #rust");
    assert_eq!(b.read(), "* you are now in #rust (2 here)");
    assert_eq!(a.read(), "* bob joined");
    assert_eq!(c.read(), "* bob left for #rust");

    // Lines stay in their room: carol's next line is her own.
    b.say("in rust");
    assert_eq!(a.read(), "bob: in rust");
    assert_eq!(b.read(), "bob: in rust");
    c.say("in the lobby");
    assert_eq!(c.read(), "carol: in the lobby");

    // /list is per room, /rooms counts members.
    a.say("/list");
    assert_eq!(a.read(), "* online in #rust: alice, bob");
    c.say("/list");
    assert_eq!(c.read(), "* online in #lobby: carol");
    c.say("/rooms");
    assert_eq!(c.read(), "* rooms: lobby (1), rust (2)");

    // /msg crosses rooms.
    c.say("/msg alice psst");
    assert_eq!(a.read(), "[private] carol -> alice: psst");
    assert_eq!(c.read(), "[private] carol -> alice: psst");

    // Bad names and no-op moves are refused readably.
    for bad in ["", "two words", "x!", &"r".repeat(33)] {
        a.say(&format!("/join {bad}"));
        let error = a.read();
        assert!(
            error.starts_with("! invalid room name") && error.contains("1-32 letters"),
            "{error}"
        );
    }
    a.say(&format!("/join {}", "r".repeat(32)));
    assert_eq!(
        a.read(),
        format!("* you are now in #{} (1 here)", "r".repeat(32))
    );
    assert_eq!(b.read(), format!("* alice left for #{}", "r".repeat(32)));
    a.say("/join rust");
    assert_eq!(a.read(), "* you are now in #rust (2 here)");
    assert_eq!(read_history(&mut a, "rust"), ["bob: in rust"]);
    assert_eq!(b.read(), "* alice joined");
    a.say("/join rust");
    assert_eq!(a.read(), "! you are already in #rust");

    // /leave goes back to the lobby, with the lobby's history.
    a.say("/leave");
    assert_eq!(a.read(), "* you are now in #lobby (2 here)");
    assert_eq!(read_history(&mut a, "lobby"), ["carol: in the lobby"]);
    assert_eq!(b.read(), "* alice left for #lobby");
    assert_eq!(c.read(), "* alice joined");
    a.say("/leave");
    assert_eq!(a.read(), "! you are already in #lobby");

    // An empty room other than the lobby is gone, and so is its history.
    b.say("/leave");
    assert_eq!(b.read(), "* you are now in #lobby (3 here)");
    assert_eq!(read_history(&mut b, "lobby"), ["carol: in the lobby"]);
    assert_eq!(a.read(), "* bob joined");
    assert_eq!(c.read(), "* bob joined");
    c.say("/rooms");
    assert_eq!(c.read(), "* rooms: lobby (3)");
    b.say("/join rust");
    assert_eq!(b.read(), "* you are now in #rust (1 here)");
    assert_eq!(a.read(), "* bob left for #rust");
    assert_eq!(c.read(), "* bob left for #rust");
    b.say("/list");
    assert_eq!(b.read(), "* online in #rust: bob");
    c.say("/rooms");
    assert_eq!(c.read(), "* rooms: lobby (2), rust (1)");

    // Leaving the chat is told to the room left only: once alice has
    // heard it, carol's next line is the answer to her /rooms.
    a.say("/join rust");
    assert_eq!(a.read(), "* you are now in #rust (2 here)");
    assert_eq!(b.read(), "* alice joined");
    assert_eq!(c.read(), "* alice left for #rust");
    drop(b);
    assert_eq!(a.read(), "* bob left");
    c.say("/rooms");
    assert_eq!(c.read(), "* rooms: lobby (1), rust (1)");
    drop((a, c));
    chat.shutdown();
}

#[test]
fn newcomers_get_the_last_lines_in_order_between_marks() {
    let limits = HistoryLimits {
        lines: 5,
        ..HistoryLimits::default()
    };
    let chat = spawn_with_history(limits);
    let mut a = Client::join(chat.local_addr());
    for i in 0..8 {
        a.say(&format!("line {i}"));
        assert_eq!(a.read(), format!("{}: line {i}", a.name));
    }
    let mut b = Client::join(chat.local_addr());
    assert_eq!(a.read(), format!("* {} joined", b.name));
    let expected: Vec<String> = (3..8).map(|i| format!("{}: line {i}", a.name)).collect();
    assert_eq!(b.read(), "--- history of #lobby (5 messages) ---");
    for line in &expected {
        assert_eq!(&b.read(), line);
    }
    assert_eq!(b.read(), chat_server::HISTORY_END);
    // Notices are not history; a room's history is its own.
    b.say("/join quiet");
    assert_eq!(b.read(), "* you are now in #quiet (1 here)");
    b.say("/list");
    assert_eq!(b.read(), format!("* online in #quiet: {}", b.name));
    drop((a, b));
    chat.shutdown();
}

#[test]
fn history_is_bounded_in_bytes_and_in_rooms() {
    // Room for two of these lines ("guest-N: " + 100 bytes), not three.
    let limits = HistoryLimits {
        lines: 50,
        room_bytes: 250,
        rooms: 1,
    };
    let chat = spawn_with_history(limits);
    let mut a = Client::join(chat.local_addr());
    let long: Vec<String> = (0..3).map(|i| i.to_string().repeat(100)).collect();
    for text in &long {
        a.say(text);
        a.read();
    }
    let mut b = Client::join(chat.local_addr());
    a.read();
    let kept: Vec<String> = long[1..]
        .iter()
        .map(|t| format!("{}: {t}", a.name))
        .collect();
    assert_eq!(read_history(&mut b, "lobby"), kept);
    // A second room with history evicts the lobby's: one room at most.
    b.say("/join other");
    assert_eq!(b.read(), "* you are now in #other (1 here)");
    a.read();
    b.say("over here");
    assert_eq!(b.read(), format!("{}: over here", b.name));
    let mut c = Client::join(chat.local_addr());
    a.read();
    c.say("/list");
    assert!(c.read().starts_with("* online in #lobby: "));
    c.say("/join other");
    assert_eq!(c.read(), "* you are now in #other (2 here)");
    assert_eq!(
        read_history(&mut c, "other"),
        [format!("{}: over here", b.name)]
    );
    assert_eq!(a.read(), format!("* {} left for #other", c.name));
    assert_eq!(b.read(), format!("* {} joined", c.name));
    drop((a, b, c));
    chat.shutdown();
}

#[test]
fn the_chat_limits_floods_and_connections_per_address() {
    let chat = chat_server::spawn("127.0.0.1:0").unwrap();
    let addr = chat.local_addr();
    let mut flooder = Client::join(addr);
    let burst = chat_server::DEFAULT_BURST as usize;
    for i in 0..burst + 10 {
        flooder
            .ws
            .write(Message::text(format!("flood {i}")))
            .unwrap();
    }
    flooder.ws.flush().unwrap();
    // The burst goes through (perhaps a little more, as tokens refill), then
    // the notice.
    let mut seen = 0;
    loop {
        let line = flooder.read();
        if line == "! rate limit: message dropped" {
            break;
        }
        assert_eq!(line, format!("{}: flood {seen}", flooder.name));
        seen += 1;
        assert!(seen < burst + 10, "no rate limit notice");
    }
    assert!(seen >= burst, "only {seen} lines went through");
    // The address already holds one connection: DEFAULT_MAX_PER_IP - 1 more.
    let others: Vec<Client> = (1..chat_server::DEFAULT_MAX_PER_IP)
        .map(|_| Client::join(addr))
        .collect();
    assert_refused_with_429(addr);
    drop((flooder, others));
    chat.shutdown();
}

#[test]
fn more_connections_per_address_by_config() {
    let config = chat_server::config("127.0.0.1:0").max_connections_per_ip(100);
    let chat = chat_server::bind_with(config).unwrap().spawn().unwrap();
    let clients: Vec<Client> = (0..chat_server::DEFAULT_MAX_PER_IP + 5)
        .map(|_| Client::join(chat.local_addr()))
        .collect();
    assert_eq!(chat.connection_count(), clients.len());
    drop(clients);
    chat.shutdown();
}

#[test]
fn the_binary_takes_history_from_the_environment_and_flags() {
    // The flag wins over RUSTY_SOCKET_HISTORY; the rate comes from the
    // environment alone, high enough for this test.
    let (mut child, addr, _stdout) = start_binary_with_env(
        &["--history=2"],
        &[("RUSTY_SOCKET_HISTORY", "1"), ("RUSTY_SOCKET_RATE", "1000")],
    );
    let mut a = Client::join(addr);
    for text in ["one", "two", "three"] {
        a.say(text);
        assert_eq!(a.read(), format!("{}: {text}", a.name));
    }
    let mut b = Client::join(addr);
    let name = a.name.clone();
    assert_eq!(
        read_history(&mut b, "lobby"),
        [format!("{name}: two"), format!("{name}: three")]
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
