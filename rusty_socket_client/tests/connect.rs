//! Opening and using a connection: echo, subprotocols, refusals, errors and
//! timeouts, each against a server started by the test on 127.0.0.1:0.

mod common;

use common::{accept, echo, echo_server, listen, read_request_head, serve_one, LIMIT};
use rusty_socket_client::{Client, ClientBuilder, CloseCode, CloseFrame, Error, Message, Stage};
use rusty_socket_core::{Config, HandshakeError, Role, WebSocket};
use std::io::{ErrorKind, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn connect(url: &str) -> Client {
    let client = Client::connect(url).expect("connect");
    client.set_read_timeout(Some(LIMIT)).expect("timeout");
    client
}

#[test]
fn echo_round_trip() {
    let (url, server) = echo_server();
    let mut client = connect(&url);
    assert_eq!(client.response().status, 101);
    assert_eq!(client.protocol(), None);

    client.send_text("hello").unwrap();
    assert_eq!(client.read().unwrap().unwrap(), Message::text("hello"));
    client.send_binary(vec![0, 1, 2, 255]).unwrap();
    assert_eq!(
        client.read().unwrap().unwrap(),
        Message::binary(vec![0, 1, 2, 255])
    );
    let big = "x".repeat(1 << 20);
    client.send_text(big.as_str()).unwrap();
    assert_eq!(client.read().unwrap().unwrap(), Message::text(big));
    client.ping(b"are you there").unwrap();
    assert_eq!(
        client.read().unwrap().unwrap(),
        Message::Pong(b"are you there".to_vec())
    );

    client.close(1000, "done").unwrap();
    assert!(!client.is_open());
    assert!(matches!(
        client.send_text("late"),
        Err(Error::AlreadyClosed)
    ));
    let close = client.read().unwrap().unwrap();
    assert_eq!(
        close,
        Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
    );
    assert_eq!(client.read().unwrap(), None);
    assert_eq!(client.read().unwrap(), None);

    let seen = server.join().unwrap();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(
        seen[4],
        Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "done")))
    );
}

#[test]
fn subprotocol_and_extra_headers() {
    let (headers_tx, headers_rx) = mpsc::channel();
    let (url, server) = serve_one(move |stream| {
        let ws = rusty_socket_core::accept(
            stream,
            rusty_socket_core::Config::default(),
            |request, offered| {
                headers_tx.send(request.headers.clone()).unwrap();
                offered
                    .iter()
                    .find(|p| **p == "chat.v2")
                    .map(|p| p.to_string())
            },
        )
        .unwrap();
        echo(ws)
    });
    let mut client = ClientBuilder::new()
        .protocol("chat.v3")
        .protocol("chat.v2")
        .header("Origin", "http://test.example")
        .header("X-Token", "secret")
        .connect(&url)
        .unwrap();
    assert_eq!(client.protocol(), Some("chat.v2"));
    assert_eq!(
        client.response().headers.get("sec-websocket-protocol"),
        Some("chat.v2")
    );

    let headers = headers_rx.recv_timeout(LIMIT).unwrap();
    assert_eq!(headers.get("origin"), Some("http://test.example"));
    assert_eq!(headers.get("x-token"), Some("secret"));
    let offered: Vec<&str> = headers.tokens("sec-websocket-protocol").collect();
    assert_eq!(offered, ["chat.v3", "chat.v2"]);
    let host = url.trim_start_matches("ws://").trim_end_matches('/');
    assert_eq!(headers.get("host"), Some(host));

    client.close(1000, "").unwrap();
    while let Ok(Some(_)) = client.read() {}
    server.join().unwrap();
}

#[test]
fn no_protocol_picked_is_none() {
    let (url, server) = serve_one(|stream| echo(accept(stream, None)));
    let mut client = ClientBuilder::new().protocol("chat").connect(&url).unwrap();
    assert_eq!(client.protocol(), None);
    client.close(1000, "").unwrap();
    while let Ok(Some(_)) = client.read() {}
    server.join().unwrap();
}

/// A server that answers the upgrade request with `response`.
fn refusing_server(response: &'static str) -> (String, thread::JoinHandle<String>) {
    serve_one(move |mut stream| {
        let head = read_request_head(&mut stream);
        stream.write_all(response.as_bytes()).unwrap();
        head
    })
}

#[test]
fn refusals_report_status_and_headers() {
    let cases: &[(&str, u16, &str, (&str, &str))] = &[
        (
            "HTTP/1.1 403 Forbidden\r\nX-Reason: banned\r\nContent-Length: 9\r\n\r\nforbidden",
            403,
            "Forbidden",
            ("x-reason", "banned"),
        ),
        (
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nConnection: close\r\n\r\n",
            503,
            "Service Unavailable",
            ("Retry-After", "30"),
        ),
        (
            "HTTP/1.0 200 OK\r\nServer: plain-http\r\n\r\nhi",
            200,
            "OK",
            ("server", "plain-http"),
        ),
    ];
    for &(response, status, reason, (name, value)) in cases {
        let (url, server) = refusing_server(response);
        let error = Client::connect(&url).expect_err(response);
        assert_eq!(error.status(), Some(status), "{error}");
        let rejection = error.rejection().unwrap();
        assert_eq!(rejection.reason, reason);
        assert_eq!(rejection.header(name), Some(value), "{rejection:?}");
        assert!(
            error.to_string().contains(&format!("{status} {reason}")),
            "{error}"
        );
        let request = server.join().unwrap();
        assert!(request.starts_with("GET / HTTP/1.1\r\n"), "{request}");
    }
}

#[test]
fn a_bad_accept_key_fails_the_handshake() {
    let (url, server) = refusing_server(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
    );
    let error = Client::connect(&url).unwrap_err();
    assert!(matches!(error, Error::Handshake(_)), "{error}");
    server.join().unwrap();
}

/// The `Sec-WebSocket-Key` of a request head read by `read_request_head`.
fn request_key(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("the request has a key")
        .to_owned()
}

#[test]
fn two_sec_websocket_accept_lines_fail_the_handshake() {
    // RFC 6455 section 11.3.3: Sec-WebSocket-Accept MUST NOT appear more
    // than once. Both lines hold the right value, so only the count is wrong.
    let (url, server) = serve_one(|mut stream| {
        let key = request_key(&read_request_head(&mut stream));
        let accept = rusty_socket_core::handshake::accept_key(&key);
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        stream.write_all(response.as_bytes()).unwrap();
    });
    let error = Client::connect(&url).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Handshake(HandshakeError::Malformed(what)) if what.contains("Sec-WebSocket-Accept")
        ),
        "{error:?}"
    );
    server.join().unwrap();
}

#[test]
fn a_closed_port_is_a_clear_error() {
    let (listener, url) = listen();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = Client::connect(&url).unwrap_err();
    match &error {
        Error::Connect {
            addr: tried,
            source,
        } => {
            assert_eq!(*tried, addr);
            assert_eq!(source.kind(), ErrorKind::ConnectionRefused);
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

#[test]
fn a_silent_server_trips_the_handshake_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let server = thread::spawn(move || {
        // Accept, read nothing, answer nothing, until the test is over.
        let (_stream, _) = listener.accept().unwrap();
        let _ = done_rx.recv_timeout(LIMIT);
    });
    let start = Instant::now();
    let error = ClientBuilder::new()
        .handshake_timeout(Some(Duration::from_millis(300)))
        .connect(&url)
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(error, Error::Timeout(Stage::Handshake)), "{error}");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    done_tx.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn a_trickling_server_cannot_stretch_the_handshake_deadline() {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (url, server) = serve_one(move |mut stream| {
        read_request_head(&mut stream);
        // One byte of a response every 50 ms: each read succeeds, but the
        // whole response would take far longer than the deadline.
        for byte in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n".iter() {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            if done_rx.recv_timeout(Duration::from_millis(50)).is_ok() {
                break;
            }
        }
    });
    let start = Instant::now();
    let error = ClientBuilder::new()
        .handshake_timeout(Some(Duration::from_millis(400)))
        .connect(&url)
        .unwrap_err();
    assert!(matches!(error, Error::Timeout(Stage::Handshake)), "{error}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let _ = done_tx.send(());
    server.join().unwrap();
}

#[test]
fn unresolvable_and_unsupported_urls() {
    let error = Client::connect("ws://no-such-host.invalid/").unwrap_err();
    assert!(matches!(error, Error::Resolve { .. }), "{error}");
    let error = Client::connect("http://127.0.0.1/").unwrap_err();
    assert!(matches!(error, Error::Url(_)), "{error}");
    // Without TLS, wss:// is refused before connecting (tests/tls.rs has
    // wss:// with it).
    #[cfg(not(feature = "tls"))]
    {
        let error = Client::connect("wss://127.0.0.1/").unwrap_err();
        assert!(matches!(error, Error::TlsNotEnabled), "{error}");
    }
}

#[test]
fn messages_sent_right_after_the_101_are_kept() {
    // The server's first frame goes out in one write with the 101, so on
    // loopback it arrives in the same read as the response head: the
    // handshake must hand the bytes after the head to the connection
    // instead of dropping them.
    let (url, server) = serve_one(|mut stream| {
        let key = request_key(&read_request_head(&mut stream));
        let mut bytes = rusty_socket_core::handshake::response_101(&key, None, None);
        // FIN + text, unmasked (a server's frames are), 7 bytes of payload.
        bytes.extend_from_slice(&[0x81, 0x07]);
        bytes.extend_from_slice(b"welcome");
        stream.write_all(&bytes).unwrap();
        let ws = WebSocket::from_raw(stream, Role::Server, Config::default(), &[]);
        echo(ws)
    });
    let mut client = connect(&url);
    assert_eq!(client.read().unwrap().unwrap(), Message::text("welcome"));
    client.close(1000, "").unwrap();
    while let Ok(Some(_)) = client.read() {}
    server.join().unwrap();
}

#[test]
fn a_reset_after_the_closing_handshake_is_still_a_clean_end() {
    // Like Autobahn's fuzzingserver: close, then abort the TCP connection.
    // Closing a socket with unread input makes the kernel send a reset.
    let (url, server) = serve_one(|mut stream| {
        let key = request_key(&read_request_head(&mut stream));
        stream
            .write_all(&rusty_socket_core::handshake::response_101(
                &key, None, None,
            ))
            .unwrap();
        // A close frame with code 1000.
        stream.write_all(&[0x88, 0x02, 0x03, 0xe8]).unwrap();
        // Wait until the client's close reply is there, leave it unread.
        let mut byte = [0u8; 1];
        stream.peek(&mut byte).unwrap();
    });
    let mut client = connect(&url);
    assert_eq!(
        client.read().unwrap().unwrap(),
        Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
    );
    server.join().unwrap();
    // The server's reset after the completed handshake is the clean end.
    assert_eq!(client.read().unwrap(), None);
}
