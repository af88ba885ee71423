//! The blocking `WebSocket` over real loopback sockets: the parts of the
//! protocol that need both directions (pongs, the closing handshake, failing
//! the connection with the right code) and the handshake on the wire.

use rusty_socket_core::deflate::DeflateParams;
use rusty_socket_core::frame::encode_frame;
use rusty_socket_core::handshake::{self, ClientRequest};
use rusty_socket_core::{CloseCode, Config, Error, Message, OpCode, SendError, WebSocket};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A listener on an OS-chosen loopback port.
fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    (listener, addr)
}

fn accept(
    listener: &TcpListener,
    config: Config,
) -> rusty_socket_core::Result<WebSocket<TcpStream>> {
    let (stream, _) = listener.accept()?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    rusty_socket_core::accept(stream, config, |_, _| None)
}

fn connect(addr: &str) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let key = handshake::generate_key().unwrap();
    let request = ClientRequest {
        host: addr,
        target: "/",
        key: &key,
        protocols: &[],
        extra_headers: &[],
        extensions: None,
    };
    rusty_socket_core::connect(stream, &request, Config::default())
        .expect("handshake")
        .0
}

/// A raw client: handshake by hand, then arbitrary bytes.
fn raw_client(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    stream
}

/// Reads everything until the server closes, and returns the close code of
/// the close frame at the start (an unmasked server frame).
fn close_code_then_eof(stream: &mut TcpStream) -> u16 {
    let mut bytes = Vec::new();
    stream
        .read_to_end(&mut bytes)
        .expect("server closes the connection");
    assert_eq!(bytes[0], 0x88, "a close frame: {bytes:x?}");
    u16::from_be_bytes([bytes[2], bytes[3]])
}

fn masked(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, fin, opcode, payload, Some([1, 2, 3, 4]));
    out
}

#[test]
fn pings_are_answered_with_the_same_payload() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || {
        let mut ws = accept(&listener, Config::default()).unwrap();
        assert_eq!(
            ws.read().unwrap().unwrap(),
            Message::Ping(b"are you there".to_vec())
        );
        assert_eq!(ws.read().unwrap().unwrap(), Message::text("after the ping"));
    });
    let mut client = connect(&addr);
    client.ping(b"are you there").unwrap();
    client.send("after the ping").unwrap();
    assert_eq!(
        client.read().unwrap().unwrap(),
        Message::Pong(b"are you there".to_vec())
    );
    server.join().unwrap();
}

#[test]
fn closing_handshake_started_by_the_server() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || {
        let mut ws = accept(&listener, Config::default()).unwrap();
        ws.close(CloseCode::GOING_AWAY, "shutting down").unwrap();
        // No data after a close.
        assert!(matches!(ws.send("late"), Err(Error::AlreadyClosed)));
        // Data the client sent before it saw our close still arrives.
        assert_eq!(ws.read().unwrap().unwrap(), Message::text("in flight"));
        let reply = ws.read().unwrap().unwrap();
        assert!(
            matches!(reply, Message::Close(Some(ref f)) if f.code == CloseCode::GOING_AWAY),
            "{reply:?}"
        );
        assert_eq!(ws.read().unwrap(), None);
        // Dropping the server's WebSocket closes TCP: the server closes first.
    });
    let mut client = connect(&addr);
    client.send("in flight").unwrap();
    let close = client.read().unwrap().unwrap();
    assert!(
        matches!(close, Message::Close(Some(ref f)) if f.code == CloseCode::GOING_AWAY && f.reason == "shutting down")
    );
    assert!(!client.is_open());
    // The client waits for the server to close TCP, then ends cleanly.
    assert_eq!(client.read().unwrap(), None);
    server.join().unwrap();
}

#[test]
fn closing_handshake_started_by_the_client() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || {
        let mut ws = accept(&listener, Config::default()).unwrap();
        let close = ws.read().unwrap().unwrap();
        assert!(matches!(close, Message::Close(Some(ref f)) if f.code == CloseCode::NORMAL));
        assert_eq!(ws.read().unwrap(), None);
    });
    let mut client = connect(&addr);
    client.close(CloseCode::NORMAL, "done").unwrap();
    assert!(matches!(
        client.close(CloseCode::NORMAL, "twice"),
        Err(Error::AlreadyClosed)
    ));
    assert!(
        matches!(client.read().unwrap().unwrap(), Message::Close(Some(f)) if f.code == CloseCode::NORMAL)
    );
    assert_eq!(client.read().unwrap(), None);
    server.join().unwrap();
}

/// Each case: bytes a misbehaving client sends after the handshake, and the
/// close code the server must fail the connection with.
#[test]
fn violations_close_the_connection_with_the_right_code() {
    let mut unmasked = Vec::new();
    encode_frame(&mut unmasked, true, OpCode::Text, b"hi", None);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked frame", unmasked, 1002),
        ("reserved opcode", vec![0x85, 0x80, 1, 2, 3, 4], 1002),
        (
            "invalid utf-8",
            masked(true, OpCode::Text, b"ok \xc0\xaf"),
            1007,
        ),
        // Only the header of a 2^40-byte frame: refused before any payload.
        (
            "huge frame",
            vec![0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            1009,
        ),
        (
            "bad close code",
            masked(true, OpCode::Close, b"\x03\xee"),
            1002,
        ),
    ];
    for (name, bytes, code) in cases {
        let (listener, addr) = listener();
        let server = thread::spawn(move || {
            let mut ws = accept(&listener, Config::default()).unwrap();
            ws.read().unwrap_err()
        });
        let mut client = raw_client(&addr);
        client.write_all(&bytes).unwrap();
        assert_eq!(close_code_then_eof(&mut client), code, "{name}");
        let error = server.join().unwrap();
        assert_eq!(error.close_code(), Some(CloseCode(code)), "{name}: {error}");
    }
}

#[test]
fn frames_sent_with_the_request_are_not_lost() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || {
        let mut ws = accept(&listener, Config::default()).unwrap();
        (ws.read().unwrap().unwrap(), ws.read().unwrap().unwrap())
    });
    let mut stream = TcpStream::connect(&addr).unwrap();
    let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec();
    bytes.extend(masked(true, OpCode::Text, b"first"));
    bytes.extend(masked(true, OpCode::Binary, b"second"));
    stream.write_all(&bytes).unwrap();
    let (first, second) = server.join().unwrap();
    assert_eq!(first, Message::text("first"));
    assert_eq!(second, Message::binary(b"second".to_vec()));
}

#[test]
fn bad_handshakes_get_an_http_status() {
    let cases: &[(&[u8], &str)] = &[
        (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", "HTTP/1.1 426 "),
        (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", "HTTP/1.1 400 "),
        (b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405 "),
        (b"NOT HTTP AT ALL\r\n\r\n", "HTTP/1.1 400 "),
    ];
    for (request, status) in cases {
        let (listener, addr) = listener();
        let server = thread::spawn(move || accept(&listener, Config::default()).map(|_| ()));
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.write_all(request).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with(status), "{response}");
        assert!(matches!(server.join().unwrap(), Err(Error::Handshake(_))));
    }
}

#[test]
fn a_server_refusal_reaches_the_client_with_its_status() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).unwrap();
        stream
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    });
    let stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let key = handshake::generate_key().unwrap();
    let request = ClientRequest {
        host: &addr,
        target: "/",
        key: &key,
        protocols: &[],
        extra_headers: &[],
        extensions: None,
    };
    let error = rusty_socket_core::connect(stream, &request, Config::default()).unwrap_err();
    assert!(
        matches!(error, Error::Handshake(ref e) if e.status() == 403),
        "{error}"
    );
    server.join().unwrap();
}

#[test]
fn split_halves_share_the_closing_state() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || {
        let mut ws = accept(&listener, Config::default()).unwrap();
        loop {
            match ws.read() {
                Ok(Some(m)) if m.is_data() => ws.write(m).unwrap(),
                Ok(Some(Message::Close(_))) => break,
                Ok(Some(_)) => {}
                Ok(None) => panic!("server: ended before the close"),
                Err(e) => panic!("server: {e}"),
            }
        }
    });
    let client = connect(&addr);
    let (mut reader, writer) = client.split(TcpStream::try_clone).unwrap();
    let reading = thread::spawn(move || {
        let mut seen = Vec::new();
        while let Some(message) = reader.read().unwrap() {
            seen.push(message);
        }
        seen
    });
    for i in 0..100 {
        writer.send(format!("message {i}")).unwrap();
    }
    writer.close(CloseCode::NORMAL, "").unwrap();
    assert!(!writer.is_open());
    assert!(matches!(writer.send("too late"), Err(Error::AlreadyClosed)));
    let seen = reading.join().unwrap();
    let expected: Vec<Message> = (0..100)
        .map(|i| Message::text(format!("message {i}")))
        .collect();
    assert_eq!(&seen[..100], &expected[..], "echoes arrive in order");
    assert!(matches!(seen[100], Message::Close(_)));
    server.join().unwrap();
}

#[test]
fn control_frames_longer_than_125_bytes_are_refused_locally() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || accept(&listener, Config::default()).map(|_| ()));
    let mut client = connect(&addr);
    assert!(matches!(
        client.ping(&[0; 126]),
        Err(Error::Send(SendError::ControlFrameTooLong(126)))
    ));
    drop(client);
    server.join().unwrap().unwrap();
}

/// An echo over loopback that reads in place: every message comes back
/// whole and in order, whether it arrived in one read (lent from the read
/// buffer), across reads, larger than the read buffer, or fragmented; a
/// ping in the middle is answered.
#[test]
fn an_echo_reading_in_place_returns_every_message() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || -> rusty_socket_core::Result<usize> {
        let mut ws = accept(&listener, Config::default())?;
        let mut echoed = 0;
        while let Some(incoming) = ws.read_in_place()? {
            echoed += usize::from(incoming.message().is_data());
            incoming.echo()?;
        }
        Ok(echoed)
    });
    let mut ws = connect(&addr);
    let mut sent = Vec::new();
    for (i, len) in [0usize, 5, 125, 126, 1023, 1024, 5000, 16 * 1024, 70_000]
        .into_iter()
        .enumerate()
    {
        let text: String = (0..len)
            .map(|j| char::from(b'a' + ((i + j) % 26) as u8))
            .collect();
        sent.push(Message::text(text));
        sent.push(Message::binary(vec![i as u8; len]));
    }
    sent.push(Message::text("κόσμε, with non-ASCII text"));
    // The client's frames, written by hand from a second thread so that
    // the echoes are read while they are sent: no socket buffer fills up.
    let mut wire = Vec::new();
    for message in &sent {
        wire.extend(masked(true, message.opcode(), message.as_bytes()));
    }
    wire.extend(masked(true, OpCode::Ping, b"are you there"));
    wire.extend(masked(false, OpCode::Text, b"frag"));
    wire.extend(masked(true, OpCode::Continuation, b"mented"));
    sent.push(Message::text("fragmented"));
    let mut raw = ws.get_ref().try_clone().unwrap();
    let writer = thread::spawn(move || raw.write_all(&wire));

    let mut received = Vec::new();
    let mut pong = None;
    while received.len() < sent.len() {
        match ws.read().unwrap().unwrap() {
            Message::Pong(payload) => pong = Some(payload),
            message => received.push(message),
        }
    }
    assert_eq!(received, sent);
    assert_eq!(pong.as_deref(), Some(&b"are you there"[..]));
    writer.join().unwrap().unwrap();
    ws.close(CloseCode::NORMAL, "done").unwrap();
    while ws.read().unwrap().is_some() {}
    assert_eq!(server.join().unwrap().unwrap(), sent.len());
}

/// As [`connect`], with `config`.
fn connect_with(addr: &str, config: Config) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let key = handshake::generate_key().unwrap();
    let request = ClientRequest {
        host: addr,
        target: "/",
        key: &key,
        protocols: &[],
        extra_headers: &[],
        extensions: None,
    };
    rusty_socket_core::connect(stream, &request, config)
        .expect("handshake")
        .0
}

/// Echo server for one connection: sends back every data message, and
/// returns the parameters it agreed.
fn echo_once(listener: TcpListener, config: Config) -> thread::JoinHandle<Option<DeflateParams>> {
    thread::spawn(move || {
        let mut ws = accept(&listener, config).expect("accept");
        let agreed = ws.permessage_deflate().copied();
        while let Ok(Some(message)) = ws.read() {
            if message.is_data() {
                ws.write(message).unwrap();
            }
        }
        agreed
    })
}

/// A client configuration that offers permessage-deflate as `client` says.
fn offering(client: rusty_socket_core::deflate::ClientPolicy) -> Config {
    Config::default().permessage_deflate(Some(rusty_socket_core::deflate::PerMessageDeflate {
        client,
        ..Default::default()
    }))
}

/// Sends [`deflate_traffic`], checks every echo, then closes.
fn echo_traffic(ws: &mut WebSocket<TcpStream>) {
    for message in deflate_traffic() {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.read().unwrap(), Some(message));
    }
    ws.close(CloseCode::NORMAL, "").unwrap();
    while ws.read().unwrap().is_some() {}
}

/// Messages of every kind that permessage-deflate must carry unchanged.
fn deflate_traffic() -> Vec<Message> {
    let chat = |i: usize| {
        format!("{{\"from\":\"ada\",\"room\":\"lobby\",\"n\":{i},\"text\":\"héllo again\"}}")
    };
    let mut messages: Vec<Message> = (0..200).map(|i| Message::text(chat(i))).collect();
    messages.push(Message::text(""));
    messages.push(Message::binary(vec![0u8; 300_000]));
    messages.push(Message::binary(
        (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect::<Vec<u8>>(),
    ));
    messages.push(Message::text("tiny"));
    messages
}

#[test]
fn our_client_and_server_negotiate_permessage_deflate_by_default() {
    let (listener, addr) = listener();
    let server = echo_once(listener, Config::default());
    let mut ws = connect(&addr);
    let agreed = *ws.permessage_deflate().expect("negotiated");
    // The server's defaults (RFC 7692 section 7.1.2: it asks for its window
    // and answers the client's bare client_max_window_bits).
    let policy = rusty_socket_core::deflate::ServerPolicy::default();
    assert_eq!(agreed.server_max_window_bits, policy.server_max_window_bits);
    echo_traffic(&mut ws);
    assert_eq!(server.join().unwrap(), Some(agreed));
}

#[test]
fn eight_bit_windows_in_both_directions() {
    use rusty_socket_core::deflate::{ClientPolicy, ClientWindow};
    let (listener, addr) = listener();
    let server = echo_once(listener, Config::default());
    // The client asks for 8 bits both ways, which zlib cannot compress
    // with: ours does, natively.
    let mut ws = connect_with(
        &addr,
        offering(ClientPolicy {
            server_max_window_bits: Some(8),
            client_max_window_bits: ClientWindow::AtMost(8),
            ..ClientPolicy::default()
        }),
    );
    let agreed = *ws.permessage_deflate().expect("negotiated");
    assert_eq!(
        (agreed.server_max_window_bits, agreed.client_max_window_bits),
        (8, 8)
    );
    echo_traffic(&mut ws);
    assert_eq!(server.join().unwrap(), Some(agreed));
}

#[test]
fn without_context_takeover_and_turned_off() {
    use rusty_socket_core::deflate::ClientPolicy;
    // No context takeover either way, asked by the client.
    let (first, addr) = listener();
    let server = echo_once(first, Config::default());
    let mut ws = connect_with(
        &addr,
        offering(ClientPolicy {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..ClientPolicy::default()
        }),
    );
    let agreed = *ws.permessage_deflate().expect("negotiated");
    assert!(agreed.server_no_context_takeover && agreed.client_no_context_takeover);
    echo_traffic(&mut ws);
    server.join().unwrap();
    // A server with it off answers without the extension, and a client
    // with it off offers nothing: plain frames both ways.
    for (server_config, client_config) in [
        (
            Config::default().permessage_deflate(None),
            Config::default(),
        ),
        (
            Config::default(),
            Config::default().permessage_deflate(None),
        ),
    ] {
        let (plain, addr) = listener();
        let server = echo_once(plain, server_config);
        let mut ws = connect_with(&addr, client_config);
        assert_eq!(ws.permessage_deflate(), None);
        ws.send("plain").unwrap();
        assert_eq!(ws.read().unwrap(), Some(Message::text("plain")));
        ws.close(CloseCode::NORMAL, "").unwrap();
        while ws.read().unwrap().is_some() {}
        assert_eq!(server.join().unwrap(), None);
    }
}

#[test]
fn a_secret_goes_uncompressed_and_compressed_frames_carry_rsv1() {
    let (listener, addr) = listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut ws = rusty_socket_core::accept(stream, Config::default(), |_, _| None).unwrap();
        let text = "secret=hunter2 ".repeat(8);
        ws.write_uncompressed(Message::text(text.clone())).unwrap();
        ws.write(Message::text(text)).unwrap();
        ws.flush().unwrap();
        while let Ok(Some(_)) = ws.read() {}
    });
    // Read the raw frames: the first without RSV1 and whole, the second
    // with RSV1 and shorter.
    let stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let key = handshake::generate_key().unwrap();
    let offer = rusty_socket_core::deflate::client_offer(&Default::default());
    let request = ClientRequest {
        host: &addr,
        target: "/",
        key: &key,
        protocols: &[],
        extra_headers: &[],
        extensions: Some(&offer),
    };
    let mut stream = stream;
    stream.write_all(&request.encode()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(String::from_utf8(head)
        .unwrap()
        .contains("Sec-WebSocket-Extensions: permessage-deflate"));
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).unwrap();
    assert_eq!(
        (header[0], header[1]),
        (0x81, 120),
        "plain: FIN, text, 120 bytes"
    );
    let mut payload = vec![0u8; 120];
    stream.read_exact(&mut payload).unwrap();
    stream.read_exact(&mut header).unwrap();
    assert_eq!(header[0], 0xc1, "compressed: FIN, RSV1, text");
    assert!(header[1] < 120);
    drop(stream);
    server.join().unwrap();
}
