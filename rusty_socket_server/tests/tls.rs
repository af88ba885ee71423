//! `wss://` (feature `tls`): the server with a certificate made by rcgen at
//! test time, against a client of the test's own (rustls' `StreamOwned`
//! under the core's `connect`).

#![cfg(feature = "tls")]

mod common;

use common::{TestServer, WAIT};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rusty_socket_core::handshake::{generate_key, ClientRequest};
use rusty_socket_core::{Config, Message, WebSocket};
use rusty_socket_server::{ServerConfig, TlsConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A CA, and the server's certificate and key (PEM) for `localhost`.
struct Pki {
    ca: rustls::pki_types::CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    Pki {
        ca: ca.der().clone(),
        cert_pem: leaf.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn tls_server(pki: &Pki, config: ServerConfig) -> TestServer {
    let tls = TlsConfig::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    TestServer::start(config.tls(Some(tls)))
}

/// A TLS client session to `server`, its handshake done.
fn tls_client(pki: &Pki, server: &TestServer) -> Tls {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    tls
}

/// A WebSocket over a fresh TLS session, registered by the server.
fn wss_client(pki: &Pki, server: &TestServer) -> WebSocket<Tls> {
    let key = generate_key().unwrap();
    let host = server.addr().to_string();
    let request = ClientRequest {
        host: &host,
        target: "/",
        key: &key,
        protocols: &[],
        extra_headers: &[],
        extensions: None,
    };
    let (ws, _, _) =
        rusty_socket_core::connect(tls_client(pki, server), &request, Config::default()).unwrap();
    server.opened.recv_timeout(WAIT).expect("on_open");
    ws
}

#[test]
fn broadcasts_over_wss_compressed_and_closes_with_close_notify() {
    let pki = pki();
    let server = tls_server(&pki, ServerConfig::default());
    let mut a = wss_client(&pki, &server);
    let mut b = wss_client(&pki, &server);
    assert!(a.permessage_deflate().is_some());
    let big = "tls ".repeat(40_000);
    for text in ["hello", big.as_str()] {
        a.send(Message::text(text)).unwrap();
        for ws in [&mut a, &mut b] {
            assert_eq!(ws.read().unwrap(), Some(Message::text(text)));
        }
    }
    a.close(1000, "bye").unwrap();
    loop {
        match a.read().unwrap() {
            Some(Message::Close(_)) => {}
            Some(other) => panic!("{other:?}"),
            None => break,
        }
    }
    // After the close frame the server ended the TLS session properly:
    // rustls reports close_notify as a clean end of file (not
    // UnexpectedEof).
    let mut rest = Vec::new();
    assert_eq!(a.get_mut().read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn full_duplex_a_client_reads_broadcasts_while_the_server_reads_it() {
    let pki = pki();
    let server = tls_server(&pki, ServerConfig::default());
    let mut sender = wss_client(&pki, &server);
    let mut listener = wss_client(&pki, &server);
    // Many messages each way at once: the server's reader thread decrypts
    // while its writers encrypt, on the same sessions.
    const COUNT: usize = 400;
    for i in 0..COUNT {
        sender
            .send(Message::text(format!("{i}:{}", "y".repeat(i % 50 * 40))))
            .unwrap();
    }
    for ws in [&mut sender, &mut listener] {
        for i in 0..COUNT {
            match ws.read().unwrap() {
                Some(Message::Text(text)) => assert!(text.starts_with(&format!("{i}:"))),
                other => panic!("{i}: {other:?}"),
            }
        }
    }
}

/// How long until the server drops `stream` (end of file or reset).
fn time_until_dropped(stream: &mut TcpStream, started: Instant) -> Duration {
    let mut sink = [0u8; 512];
    loop {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

#[test]
fn plain_http_or_silence_on_the_tls_port_is_dropped_and_harms_no_one() {
    let pki = pki();
    let server = tls_server(
        &pki,
        ServerConfig::default().handshake_timeout(Duration::from_millis(400)),
    );
    let mut wss = wss_client(&pki, &server);

    // Plain HTTP: the TLS handshake fails, the socket is dropped.
    let mut plain = TcpStream::connect(server.addr()).unwrap();
    plain.set_read_timeout(Some(WAIT)).unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "no plaintext answer on a TLS port: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // Silence, and a trickled ClientHello: dropped at the deadline.
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr()).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    let mut trickle = TcpStream::connect(server.addr()).unwrap();
    trickle
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let hello = [
        0x16, 0x03, 0x01, 0x00, 0x80, 0x01, 0x00, 0x00, 0x7c, 0x03, 0x03,
    ];
    let mut dropped = None;
    for byte in hello.iter().cycle().take(100) {
        if trickle.write_all(&[*byte]).is_err() {
            dropped = Some(started.elapsed());
            break;
        }
        // Paces the trickle: one byte, then up to 50 ms for an answer.
        let mut probe = [0u8; 16];
        if let Ok(0) = trickle.read(&mut probe) {
            dropped = Some(started.elapsed());
            break;
        }
    }
    let trickled = dropped.expect("a trickling TLS client is dropped");
    let silent = time_until_dropped(&mut silent, started);
    for took in [trickled, silent] {
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < WAIT, "{took:?}");
    }

    // The established connection never noticed.
    wss.send(Message::text("still here")).unwrap();
    assert_eq!(wss.read().unwrap(), Some(Message::text("still here")));
}

#[test]
fn a_tls_client_the_server_has_no_room_for_gets_a_tls_alert_not_plain_http() {
    let pki = pki();
    let server = tls_server(&pki, ServerConfig::default().max_handshakes(1));
    // A socket that never starts its TLS handshake takes the only
    // handshake slot; the accept loop takes sockets in order, so the next
    // one is refused there, before any thread is started for it.
    let silent = TcpStream::connect(server.addr()).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let error = loop {
        match conn.complete_io(&mut tcp) {
            Ok(_) if conn.is_handshaking() => {}
            Ok(_) => panic!("the handshake succeeded with no slot free"),
            Err(e) => break e,
        }
    };
    let tls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    assert_eq!(
        tls_error,
        Some(&rustls::Error::AlertReceived(
            rustls::AlertDescription::InternalError
        )),
        "{error}"
    );
    drop(silent);
}

#[test]
fn https_serves_the_http_routes() {
    let pki = pki();
    let server = tls_server(&pki, ServerConfig::default());
    let mut tls = tls_client(&pki, &server);
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn bad_pem_is_a_tls_config_error() {
    let pki = pki();
    for (cert, key) in [
        ("nothing".as_bytes(), pki.key_pem.as_bytes()),
        (pki.cert_pem.as_bytes(), "nothing".as_bytes()),
    ] {
        let error = TlsConfig::from_pem(cert, key).unwrap_err();
        assert!(
            matches!(error, rusty_socket_server::Error::TlsConfig(_)),
            "{error:?}"
        );
    }
    // A key that is not the certificate's.
    let other = KeyPair::generate().unwrap().serialize_pem();
    assert!(TlsConfig::from_pem(pki.cert_pem.as_bytes(), other.as_bytes()).is_err());
}
