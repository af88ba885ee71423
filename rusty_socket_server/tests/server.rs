//! The server over real sockets on 127.0.0.1:0. Every wait is bounded by a
//! read timeout or a channel timeout; nothing sleeps to synchronise.

mod common;

use common::{get, raw_http, read_text, TestServer, WAIT};
use rusty_socket_core::{CloseCode, CloseFrame, Config, Message, Receiver, Role};
use rusty_socket_server::{Ending, Error, ServerConfig};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

fn config() -> ServerConfig {
    ServerConfig::default().close_timeout(Duration::from_secs(1))
}

/// Reads until a close frame and returns its code.
fn read_close_code(ws: &mut rusty_socket_core::WebSocket<TcpStream>) -> Option<CloseCode> {
    loop {
        match ws.read() {
            Ok(Some(Message::Close(frame))) => return frame.map(|f| f.code),
            Ok(Some(_)) => {}
            Ok(None) => panic!("no close frame: the connection ended"),
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

#[test]
fn broadcast_reaches_everyone_in_order() {
    let server = TestServer::start(config());
    let mut clients: Vec<_> = (0..3).map(|_| server.client().0).collect();
    for i in 0..50 {
        clients[0]
            .write(Message::text(format!("message {i}")))
            .unwrap();
    }
    clients[0].flush().unwrap();
    for ws in &mut clients {
        for i in 0..50 {
            assert_eq!(read_text(ws), format!("message {i}"));
        }
    }
    let stats = server.handle.stats();
    assert_eq!(
        (stats.connections, stats.messages_in, stats.messages_out),
        (3, 50, 150)
    );
    server.handle.shutdown();
}

#[test]
fn send_to_reaches_only_its_target() {
    let server = TestServer::start(config());
    let (mut a, _) = server.client();
    let (mut b, b_id) = server.client();
    let (mut c, _) = server.client();
    a.send(format!("to {b_id} just for b")).unwrap();
    assert_eq!(read_text(&mut b), "just for b");
    // A broadcast after it: the next thing a and c see must be that.
    a.send("everyone").unwrap();
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(read_text(ws), "everyone");
    }
    assert!(server
        .handle
        .send_to(rusty_socket_server::ConnectionId(999), "x")
        .is_err());
    server.handle.shutdown();
}

#[test]
fn a_stalled_client_is_closed_with_1008_without_delaying_others() {
    let server = TestServer::start(config().queue_len(4));
    let (mut fast, _) = server.client();
    let (mut stalled, stalled_id) = server.client();
    // Noise, so that permessage-deflate cannot shrink it and the stalled
    // client's socket buffers fill.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let payload: Vec<u8> = (0..64 << 10)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let started = Instant::now();
    let mut sent = 0;
    // The fast client reads each message before the next is sent; the
    // stalled one never reads, until its queue overflows: the broadcast
    // that finds it full is queued for the fast client only.
    loop {
        let queued_for = server.handle.broadcast(payload.clone()).unwrap();
        assert_eq!(fast.read().unwrap(), Some(Message::Binary(payload.clone())));
        if queued_for < 2 {
            assert_eq!(queued_for, 1);
            break;
        }
        sent += 1;
        assert!(sent < 5_000, "the stalled client was never closed");
    }
    // From then on nothing more is queued for the stalled client: it is
    // closing (1008 on its way) or already gone.
    assert!(matches!(
        server.handle.send_to(stalled_id, "more"),
        Err(Error::Closing(_) | Error::NotConnected(_))
    ));
    // The fast client goes on, while the stalled one still reads nothing.
    assert_eq!(server.handle.broadcast("still here").unwrap(), 1);
    assert_eq!(read_text(&mut fast), "still here");
    fast.send("and talking").unwrap();
    assert_eq!(read_text(&mut fast), "and talking");
    assert!(started.elapsed() < WAIT);
    // Reading at last, the stalled client finds what the socket held, then
    // the close with 1008; the server reports the overflow.
    assert_eq!(
        read_close_code(&mut stalled),
        Some(CloseCode::POLICY_VIOLATION)
    );
    assert_eq!(server.ending(stalled_id), Ending::QueueFull);
    server.handle.shutdown();
}

#[test]
fn max_connections_answers_503() {
    let server = TestServer::start(config().max_connections(2));
    let _a = server.client();
    let _b = server.client();
    match common::try_client(server.addr()) {
        Err(rusty_socket_core::Error::Handshake(rusty_socket_core::HandshakeError::Rejected(
            response,
        ))) => {
            assert_eq!(response.status, 503);
            assert_eq!(response.headers.get("Retry-After"), Some("5"));
        }
        other => panic!("expected a 503, got {:?}", other.map(|_| ())),
    }
    let stats = server.handle.stats();
    assert_eq!(stats.capacity.connections, 2);
    assert_eq!(
        stats.capacity.limit,
        rusty_socket_core::capacity::Limit::Configured
    );
    assert_eq!((stats.connections, stats.refused), (2, 1));
    server.handle.shutdown();
}

#[test]
fn past_max_handshakes_the_accept_loop_answers_503_itself() {
    let server = TestServer::start(config().max_handshakes(1));
    // Takes the only handshake place and keeps it: it never speaks. The
    // accept loop counts it before it accepts the next socket.
    let _silent = TcpStream::connect(server.addr()).unwrap();
    // The next one is answered at once, before it has sent anything, and
    // closed: no thread waits for its request.
    let mut refused = TcpStream::connect(server.addr()).unwrap();
    refused.set_read_timeout(Some(WAIT)).unwrap();
    let mut answer = String::new();
    refused.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("\r\nRetry-After: 5\r\n"), "{answer}");
    assert_eq!(server.handle.stats().refused, 1);
    assert_eq!(server.handle.stats().handshakes, 1);
    server.handle.shutdown();
}

/// Waits for the server to close `stream`; returns how long it took.
fn time_until_closed(stream: &mut TcpStream, started: Instant) -> Duration {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("not closed: {e}"),
        }
    }
}

#[test]
fn handshake_timeout_drops_silent_and_half_sent_handshakes() {
    let timeout = Duration::from_millis(300);
    let server = TestServer::start(config().handshake_timeout(timeout));
    // Silent.
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr()).unwrap();
    let took = time_until_closed(&mut silent, started);
    assert!(
        took >= timeout - Duration::from_millis(50) && took < timeout * 5,
        "{took:?}"
    );
    // Half a head, then a byte every 50 ms: the deadline still holds.
    let started = Instant::now();
    let mut trickle = TcpStream::connect(server.addr()).unwrap();
    trickle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    trickle
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 64];
    let took = loop {
        if trickle.write_all(b"X").is_err() {
            break started.elapsed();
        }
        match trickle.read(&mut buf) {
            Ok(0) => break started.elapsed(),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break started.elapsed(),
        }
        assert!(
            started.elapsed() < WAIT,
            "the trickling client was never dropped"
        );
    };
    assert!(took < timeout * 5, "{took:?}");
    server.handle.shutdown();
}

#[test]
fn pings_at_the_interval_and_idle_timeout_closes_with_1001() {
    let ping_interval = Duration::from_millis(100);
    let idle = Duration::from_millis(600);
    let server = TestServer::start(config().ping_interval(ping_interval).idle_timeout(idle));
    // Taken before connecting, so no later than the server's own start of
    // the clocks: the lower bounds below cannot fail on a slow machine.
    let opened = Instant::now();
    let (mut ws, _) = server.client();
    // Read raw frames, never answering the pings.
    let stream = ws.get_mut();
    let mut receiver = Receiver::new(Role::Client, Config::default());
    let mut buf = Vec::new();
    let mut chunk = [0u8; 256];
    let mut pings = Vec::new();
    let close = 'outer: loop {
        let n = stream.read(&mut chunk).expect("the server closes in time");
        assert!(n > 0, "closed without a close frame");
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let (used, message) = receiver.decode(&buf).unwrap();
            buf.drain(..used);
            match message {
                Some(Message::Ping(_)) => pings.push(opened.elapsed()),
                Some(Message::Close(frame)) => break 'outer frame,
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
    };
    let closed = opened.elapsed();
    assert_eq!(close.map(|f| f.code), Some(CloseCode::GOING_AWAY));
    assert!(
        closed >= idle - Duration::from_millis(50) && closed < idle * 4,
        "{closed:?}"
    );
    assert!(pings.len() >= 2, "pings: {pings:?}");
    assert!(
        pings[0] >= ping_interval - Duration::from_millis(30),
        "pings: {pings:?}"
    );
    server.handle.shutdown();
}

#[test]
fn health_stats_and_404() {
    let server = TestServer::start(config());
    let _ws = server.client();
    assert_eq!(get(server.addr(), "/health"), (200, "ok".to_owned()));
    let (status, body) = get(server.addr(), "/stats");
    assert_eq!(status, 200);
    assert!(
        body.starts_with("{\"connections\":1,\"total_accepted\":1,\"messages_in\":0"),
        "{body}"
    );
    assert!(
        body.contains("\"uptime_secs\":") && body.ends_with('}'),
        "{body}"
    );
    // The capacity, what bound it, and the current use.
    let capacity = server.handle.stats().capacity;
    for field in [
        format!("\"capacity\":{},", capacity.connections),
        format!("\"capacity_limit\":\"{}\"", capacity.limit.name()),
        format!("\"capacity_reason\":\"{capacity}\""),
        "\"refused\":0,".to_owned(),
    ] {
        assert!(body.contains(&field), "{field} in {body}");
    }
    // The request asking for /stats is itself in its handshake while it is
    // answered; the /health request before it may still be finishing on
    // its own thread after its answer was read.
    let handshakes: u64 = body
        .split("\"handshakes\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .expect("a handshakes field");
    assert!((1..=2).contains(&handshakes), "{body}");
    assert!(capacity.connections > 0 && capacity.connections <= 100_000);
    assert_eq!(get(server.addr(), "/nope").0, 404);
    server.handle.shutdown();
}

#[test]
fn bad_upgrades_get_400_and_426() {
    let server = TestServer::start(config());
    let addr = server.addr();
    let no_key = raw_http(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert!(no_key.starts_with("HTTP/1.1 400 "), "{no_key}");
    let old_version = raw_http(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    );
    assert!(old_version.starts_with("HTTP/1.1 426 "), "{old_version}");
    assert!(
        old_version.contains("Sec-WebSocket-Version: 13"),
        "{old_version}"
    );
    let garbage = raw_http(addr, "HELLO\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
    server.handle.shutdown();
}

#[test]
fn a_declared_2_pow_40_byte_frame_is_refused_with_1009() {
    let server = TestServer::start(config());
    let (mut ws, id) = server.client();
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    ws.get_mut().write_all(&header).unwrap();
    assert_eq!(read_close_code(&mut ws), Some(CloseCode::MESSAGE_TOO_BIG));
    assert_eq!(
        server.ending(id),
        Ending::ProtocolError(CloseCode::MESSAGE_TOO_BIG)
    );
    server.handle.shutdown();
}

#[test]
fn shutdown_sends_1001_to_everyone_and_returns() {
    let server = TestServer::start(config());
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (mut ws, _) = server.client();
            thread::spawn(move || read_close_code(&mut ws))
        })
        .collect();
    let started = Instant::now();
    server.handle.shutdown();
    assert!(started.elapsed() < WAIT);
    for reader in readers {
        assert_eq!(reader.join().unwrap(), Some(CloseCode::GOING_AWAY));
    }
    assert_eq!(server.handle.connection_count(), 0);
    assert!(TcpStream::connect(server.addr()).is_err() || get_fails(server.addr()));
}

/// After shutdown nothing answers any more.
fn get_fails(addr: std::net::SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return true;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = Vec::new();
    !matches!(stream.read_to_end(&mut buf), Ok(n) if n > 0)
}

#[test]
fn client_close_is_echoed_and_reported() {
    let server = TestServer::start(config());
    let (mut ws, id) = server.client();
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(read_close_code(&mut ws), Some(CloseCode::NORMAL));
    // The server then closes the TCP connection: the clean end.
    assert_eq!(ws.read().unwrap(), None);
    assert_eq!(
        server.ending(id),
        Ending::Closed(Some(CloseFrame::new(CloseCode::NORMAL, "bye")))
    );
    server.handle.shutdown();
}

#[test]
fn close_refuses_a_code_that_may_not_be_sent_and_sends_one_that_may() {
    let server = TestServer::start(config());
    let (mut ws, id) = server.client();
    for code in [CloseCode::NO_STATUS, CloseCode::ABNORMAL, CloseCode(999)] {
        assert!(matches!(
            server.handle.close(id, code, "no"),
            Err(Error::UnsendableCloseCode(c)) if c == code
        ));
    }
    server.handle.close(id, CloseCode(4000), "done").unwrap();
    assert!(matches!(
        server.handle.close(id, CloseCode(4000), "again"),
        Err(Error::Closing(_))
    ));
    // The core client answers the close; the server reports that answer.
    assert_eq!(read_close_code(&mut ws), Some(CloseCode(4000)));
    assert!(matches!(server.ending(id), Ending::Closed(Some(f)) if f.code == CloseCode(4000)));
    assert!(matches!(
        server.handle.close(id, CloseCode::NORMAL, ""),
        Err(Error::NotConnected(_))
    ));
    server.handle.shutdown();
}

#[test]
fn a_vanished_peer_ends_abnormally() {
    let server = TestServer::start(config());
    let (ws, id) = server.client();
    drop(ws);
    assert_eq!(server.ending(id), Ending::Abnormal);
    server.handle.shutdown();
}

/// Reports the subprotocol of each connection as it opens.
struct ProtocolProbe(std::sync::Mutex<std::sync::mpsc::Sender<Option<String>>>);

impl rusty_socket_server::Handler for ProtocolProbe {
    fn on_open(
        &self,
        _: &rusty_socket_server::ServerHandle,
        info: &rusty_socket_server::ConnectionInfo,
    ) {
        let _ = self.0.lock().unwrap().send(info.protocol.clone());
    }
}

#[test]
fn the_server_picks_its_preferred_subprotocol_among_those_offered() {
    use rusty_socket_core::connect;
    use rusty_socket_core::handshake::{generate_key, ClientRequest};
    let (tx, opened) = std::sync::mpsc::channel();
    let config = config()
        .bind_addr("127.0.0.1:0")
        .protocol("v2.chat")
        .protocol("chat");
    let server =
        rusty_socket_server::Server::bind(config, ProtocolProbe(std::sync::Mutex::new(tx)))
            .unwrap()
            .spawn()
            .unwrap();
    let addr = server.local_addr().to_string();
    // Offered in the client's order of preference; the server's order wins.
    let cases: [(&[&str], Option<&str>); 3] = [
        (&["chat", "v2.chat"], Some("v2.chat")),
        (&["chat", "other"], Some("chat")),
        (&["other"], None),
    ];
    for (offered, expected) in cases {
        let protocols: Vec<String> = offered.iter().map(|p| p.to_string()).collect();
        let key = generate_key().unwrap();
        let request = ClientRequest {
            host: &addr,
            target: "/",
            key: &key,
            protocols: &protocols,
            extra_headers: &[],
            extensions: None,
        };
        let stream = TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(common::WAIT)).unwrap();
        let (ws, response, chosen) =
            connect(stream, &request, rusty_socket_core::Config::default()).unwrap();
        assert_eq!(chosen.as_deref(), expected, "offered {offered:?}");
        assert_eq!(response.headers.get("sec-websocket-protocol"), expected);
        let seen = opened.recv_timeout(common::WAIT).expect("on_open");
        assert_eq!(seen.as_deref(), expected);
        drop(ws);
    }
    server.shutdown();
}

/// An upgrade request with `origin` and `target`, as raw bytes.
fn upgrade_request(addr: std::net::SocketAddr, target: &str, origin: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: {origin}\r\n\r\n"
    )
}

#[test]
fn the_handler_can_refuse_an_upgrade_before_the_101() {
    let server = TestServer::start(config());
    let addr = server.addr();
    let refused = raw_http(addr, &upgrade_request(addr, "/", "http://evil.example"));
    assert!(refused.starts_with("HTTP/1.1 403 "), "{refused}");
    assert!(refused.ends_with("origin not allowed\n"), "{refused}");
    // A handler that panics refuses with 500, and the server goes on.
    let panicked = raw_http(
        addr,
        &upgrade_request(addr, "/panic", "http://good.example"),
    );
    assert!(panicked.starts_with("HTTP/1.1 500 "), "{panicked}");
    // Neither refused request was opened; an allowed one is.
    let accepted = raw_http_head(addr, &upgrade_request(addr, "/", "http://good.example"));
    assert!(accepted.starts_with("HTTP/1.1 101 "), "{accepted}");
    let first_opened = server.opened.recv_timeout(WAIT).expect("on_open");
    let (_ws, id) = server.client();
    assert_eq!((first_opened.0, id.0), (1, 2));
    assert_eq!(server.handle.stats().total_accepted, 2);
    server.handle.shutdown();
}

/// Sends `request` and reads up to the end of the response head.
fn raw_http_head(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// A good message and a bad frame in one packet: the answer to the first
/// still arrives, before the close that the second earns (Autobahn cases
/// 3.2, 4.1.3, 5.15 and others expect exactly that).
#[test]
fn a_bad_frame_does_not_swallow_the_answer_to_the_message_before_it() {
    use rusty_socket_core::frame::encode_frame;
    use rusty_socket_core::OpCode;
    let server = TestServer::start(config());
    let (mut ws, _) = server.client();
    let key = [1, 2, 3, 4];
    let mut packet = Vec::new();
    encode_frame(&mut packet, true, OpCode::Text, b"first", Some(key));
    let bad = packet.len();
    encode_frame(&mut packet, true, OpCode::Text, b"second", Some(key));
    packet[bad] |= 0x20; // RSV2 without an extension: a protocol error
    ws.get_mut().write_all(&packet).unwrap();
    assert_eq!(read_text(&mut ws), "first");
    assert_eq!(read_close_code(&mut ws), Some(CloseCode::PROTOCOL_ERROR));
    server.handle.shutdown();
}

/// Reads text messages until `wanted`, skipping others (broadcasts from
/// other clients); returns the ones skipped.
fn read_until(ws: &mut rusty_socket_core::WebSocket<TcpStream>, wanted: &str) -> Vec<String> {
    let mut skipped = Vec::new();
    loop {
        let text = read_text(ws);
        if text == wanted {
            return skipped;
        }
        skipped.push(text);
    }
}

#[test]
fn a_flooding_client_gets_a_notice_then_1008_and_slows_no_one_down() {
    // Burst 30, one token a second: nothing worth counting refills during
    // the test. Thirty drops are tolerated within 10 s, the next closes.
    // The limit is per connection: the other client, sending fewer than 30
    // messages, stays within it.
    let server = TestServer::start(config().message_rate(1).message_burst(30));
    let (mut other, _) = server.client();
    let (mut flooder, flooder_id) = server.client();

    // 33 at once: 30 are broadcast, three dropped with one notice.
    for i in 0..33 {
        flooder.write(Message::text(format!("flood {i}"))).unwrap();
    }
    flooder.flush().unwrap();
    for i in 0..30 {
        assert_eq!(read_text(&mut flooder), format!("flood {i}"));
    }
    assert_eq!(read_text(&mut flooder), "! rate limit: message dropped");
    // The other client saw the five, and none of the dropped ones.
    let started = Instant::now();
    other.send("still here").unwrap();
    let seen = read_until(&mut other, "still here");
    assert_eq!(
        seen,
        (0..30).map(|i| format!("flood {i}")).collect::<Vec<_>>()
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // It keeps going, from a thread of its own, while the other client
    // talks: it is closed with 1008, and the other's round trips stay
    // prompt all along.
    let flood = thread::spawn(move || {
        for i in 0..2_000 {
            flooder.write(Message::text(format!("more {i}"))).unwrap();
        }
        flooder.flush().unwrap();
        read_close_code(&mut flooder)
    });
    for i in 0..20 {
        let started = Instant::now();
        let text = format!("round trip {i}");
        other.send(text.as_str()).unwrap();
        for seen in read_until(&mut other, &text) {
            // At most a token's worth got through before the close.
            assert!(seen.starts_with("more "), "{seen}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "round trip {i} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(flood.join().unwrap(), Some(CloseCode::POLICY_VIOLATION));
    assert_eq!(server.ending(flooder_id), Ending::RateLimited);
    other.send("after").unwrap();
    read_until(&mut other, "after");
    server.handle.shutdown();
}

#[test]
fn past_max_connections_per_ip_answers_429_until_one_closes() {
    let server = TestServer::start(config().max_connections_per_ip(2));
    let (mut a, a_id) = server.client();
    let (mut b, _) = server.client();
    assert_eq!(
        common::refusal_status(common::try_client(server.addr())),
        (429, Some("5".to_owned()))
    );
    // The two admitted work.
    a.send("from a").unwrap();
    assert_eq!(read_text(&mut b), "from a");
    // One leaves; once the server has seen it go, there is room again.
    a.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(read_close_code(&mut a), Some(CloseCode::NORMAL));
    assert!(matches!(server.ending(a_id), Ending::Closed(_)));
    let (mut c, _) = server.client();
    c.send("from c").unwrap();
    assert_eq!(read_text(&mut b), "from c");
    // A refusal for one address is not one of the server's capacity
    // refusals (the 503s).
    assert_eq!(server.handle.stats().refused, 0);
    server.handle.shutdown();
}

#[test]
fn behind_a_trusted_proxy_the_limit_counts_forwarded_clients() {
    let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let server = TestServer::start(
        config()
            .max_connections_per_ip(1)
            .trusted_proxies(vec![loopback]),
    );
    let via = |client: &str| {
        vec![(
            "Forwarded".to_owned(),
            format!("for=\"{client}:4711\";proto=http"),
        )]
    };
    let _one = common::try_client_with(server.addr(), &via("192.0.2.1")).unwrap();
    let one = server.opened.recv_timeout(WAIT).unwrap();
    let _two = common::try_client_with(server.addr(), &via("[2001:db8::2]")).unwrap();
    let two = server.opened.recv_timeout(WAIT).unwrap();
    let addr = |id| server.handle.connection(id).unwrap().client_addr;
    assert_eq!(addr(one), "192.0.2.1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(
        addr(two),
        "2001:db8::2".parse::<std::net::IpAddr>().unwrap()
    );
    // A second connection for the same client is one too many...
    let again = common::try_client_with(server.addr(), &via("192.0.2.1"));
    assert_eq!(common::refusal_status(again).0, 429);
    // The proxy's own connections, without a header, count for the proxy:
    // the first is admitted, the second refused.
    let _proxy = common::try_client_with(server.addr(), &[]).unwrap();
    let proxy = server.opened.recv_timeout(WAIT).unwrap();
    assert_eq!(addr(proxy), loopback);
    assert_eq!(
        common::refusal_status(common::try_client(server.addr())).0,
        429
    );
    server.handle.shutdown();
}

#[test]
fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let server = TestServer::start(config().max_connections_per_ip(1));
    let spoof = [("X-Forwarded-For".to_owned(), "192.0.2.1".to_owned())];
    let _first = common::try_client_with(server.addr(), &spoof).unwrap();
    let id = server.opened.recv_timeout(WAIT).unwrap();
    let info = server.handle.connection(id).unwrap();
    assert_eq!(info.client_addr, info.peer_addr.ip());
    // Claiming another address does not get around the limit.
    let other = [("X-Forwarded-For".to_owned(), "192.0.2.2".to_owned())];
    let second = common::try_client_with(server.addr(), &other);
    assert_eq!(common::refusal_status(second).0, 429);
    server.handle.shutdown();
}

/// A broadcast reaches clients that negotiated permessage-deflate with and
/// without context takeover, and one that did not, each in its own
/// encoding; a message sent to one goes in that one's.
#[test]
fn broadcasts_reach_compressed_and_plain_clients_alike() {
    use rusty_socket_core::deflate::{ClientPolicy, PerMessageDeflate};
    let server = TestServer::start(config());
    let (mut takeover, takeover_id) = server.client();
    let no_takeover = Config::default().permessage_deflate(Some(PerMessageDeflate {
        client: ClientPolicy {
            server_no_context_takeover: true,
            ..ClientPolicy::default()
        },
        ..PerMessageDeflate::default()
    }));
    let (mut fresh_a, _) = server.client_with(no_takeover);
    let (mut fresh_b, _) = server.client_with(no_takeover);
    let (mut plain, _) = server.client_with(Config::default().permessage_deflate(None));
    let agreed = takeover.permessage_deflate().copied().expect("negotiated");
    assert!(!agreed.server_no_context_takeover);
    assert!(
        fresh_a
            .permessage_deflate()
            .unwrap()
            .server_no_context_takeover
    );
    assert_eq!(plain.permessage_deflate(), None);
    // The server knows what each agreed.
    let info = server.handle.connection(takeover_id).unwrap();
    assert_eq!(info.permessage_deflate, Some(agreed));
    let lines: Vec<String> = (0..50)
        .map(|i| format!("{{\"from\":\"ada\",\"n\":{i},\"text\":\"hello, room, hello\"}}"))
        .collect();
    for line in &lines {
        assert_eq!(server.handle.broadcast(line.as_str()).unwrap(), 4);
    }
    // Several in one read of a reader thread: gathered in its outbox.
    let burst: Vec<String> = (0..20)
        .map(|i| format!("burst {i} burst burst burst"))
        .collect();
    for line in &burst {
        plain.write(Message::text(line.clone())).unwrap();
    }
    plain.flush().unwrap();
    for ws in [&mut takeover, &mut fresh_a, &mut fresh_b, &mut plain] {
        for line in lines.iter().chain(&burst) {
            assert_eq!(read_text(ws), *line);
        }
    }
    server
        .handle
        .send_to(takeover_id, "just you, just you")
        .unwrap();
    server
        .handle
        .send_uncompressed(takeover_id, "a secret, a secret")
        .unwrap();
    assert_eq!(read_text(&mut takeover), "just you, just you");
    assert_eq!(read_text(&mut takeover), "a secret, a secret");
    server.handle.shutdown();
}

/// A client still sending when the server fails its connection gets the
/// close frame and then a clean end of stream, not a reset: the server
/// half-closes and reads what is still coming before it closes the socket
/// (RFC 6455 section 7.1.1). Closing a socket with unread bytes makes the
/// kernel answer with a reset, which can destroy the close frame, and a
/// peer whose write fails often drops the connection unread.
#[test]
fn a_failed_connection_ends_with_a_clean_tcp_close_while_the_client_still_sends() {
    let server = TestServer::start(config());
    // A reset needs bad luck in timing: try a few connections.
    for _ in 0..10 {
        fail_while_sending(&server);
    }
    server.handle.shutdown();
}

fn fail_while_sending(server: &TestServer) {
    use rusty_socket_core::frame::encode_frame;
    use rusty_socket_core::OpCode;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let (mut ws, _) = server.client();
    let key = [9, 8, 7, 6];
    let mut bad = Vec::new();
    encode_frame(&mut bad, true, OpCode::Text, b"bad", Some(key));
    bad[0] |= 0x20; // RSV2 without an extension: a protocol error
    let mut more = Vec::new();
    encode_frame(&mut more, true, OpCode::Binary, &[0u8; 100], Some(key));
    let stream = ws.get_mut();
    stream.write_all(&bad).unwrap();
    // The client goes on sending until it has seen the server's end, as a
    // peer that has not read the close yet does: a few hundred KiB at
    // most (the server gives up on one that sends more than
    // `rusty_socket_core::tcp::MAX_DISCARDED` after its close, and resets
    // it, which a busy machine could reach here before the reader below
    // has seen the end).
    let seen_end = Arc::new(AtomicBool::new(false));
    let mut writer = stream.try_clone().unwrap();
    let sender = {
        let seen_end = Arc::clone(&seen_end);
        std::thread::spawn(move || {
            let mut sent = 0;
            while !seen_end.load(Ordering::Acquire) {
                if sent < rusty_socket_core::tcp::MAX_DISCARDED / 4 {
                    if writer.write_all(&more).is_err() {
                        return false;
                    }
                    sent += more.len();
                } else {
                    std::thread::yield_now();
                }
            }
            let _ = writer.shutdown(std::net::Shutdown::Write);
            true
        })
    };
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        match stream.read(&mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) => break Err(e),
        }
    };
    seen_end.store(true, Ordering::Release);
    let wrote_to_the_end = sender.join().unwrap();
    // The close frame (opcode 8, FIN, unmasked, a short payload) with
    // 1002 = 0x03ea.
    assert!(
        received.len() >= 4 && received[0] == 0x88 && received[2..4] == [0x03, 0xea],
        "no close 1002 in {received:?}"
    );
    assert!(end.is_ok(), "the server reset the connection: {end:?}");
    assert!(wrote_to_the_end, "the client's writes failed");
}
