//! `wss://` (feature `tls`): the client against a rustls server of the
//! test's own (rustls' `StreamOwned` under the core's `accept`), with a CA
//! and certificates made by rcgen at test time.

#![cfg(feature = "tls")]

mod common;

use common::LIMIT;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use rusty_socket_client::{Client, ClientBuilder, Error, Message, Stage, TlsConfig};
use rusty_socket_core::Config;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A CA, and a server certificate it signed.
struct Pki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// A CA and a certificate for `name` and 127.0.0.1, valid from
/// `not_before` to `not_after` (years).
fn pki_for(name: &str, not_before: i32, not_after: i32) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca.self_signed(&ca_key).unwrap();
    let mut leaf = CertificateParams::new(vec![name.to_owned()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    leaf.not_before = rcgen::date_time_ymd(not_before, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(not_after, 1, 1);
    let key = KeyPair::generate().unwrap();
    let leaf = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    Pki {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().clone()],
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

fn pki() -> Pki {
    pki_for("localhost", 2020, 2100)
}

fn server_config(pki: &Pki) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// What the test server saw of its one connection.
#[derive(Debug)]
struct Seen {
    alpn: Option<Vec<u8>>,
    sni: Option<String>,
    echoed: usize,
}

/// A wss echo server for one connection: TLS handshake, WebSocket
/// handshake, then every data message back. Returns the listener's port
/// and what it saw (an error string if TLS or the upgrade failed).
fn echo_server(pki: &Pki) -> (u16, JoinHandle<Result<Seen, String>>) {
    let config = server_config(pki);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(LIMIT)).unwrap();
        tcp.set_write_timeout(Some(LIMIT)).unwrap();
        let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| format!("TLS: {e}"))?;
        }
        let alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
        let sni = tls.conn.server_name().map(str::to_owned);
        let mut ws = rusty_socket_core::accept(tls, Config::default(), |_, _| None)
            .map_err(|e| format!("upgrade: {e}"))?;
        let mut echoed = 0;
        while let Some(message) = ws.read().map_err(|e| format!("read: {e}"))? {
            if message.is_data() {
                ws.send(message).map_err(|e| format!("send: {e}"))?;
                echoed += 1;
            }
        }
        Ok(Seen { alpn, sni, echoed })
    });
    (port, handle)
}

fn trusting(pki: &Pki) -> ClientBuilder {
    let tls = TlsConfig::webpki_roots()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap();
    ClientBuilder::new().tls(tls)
}

#[test]
fn echoes_over_wss_with_sni_alpn_and_compression() {
    let pki = pki();
    let (port, server) = echo_server(&pki);
    let mut client = trusting(&pki)
        .connect(&format!("wss://localhost:{port}/chat"))
        .unwrap();
    assert!(client.permessage_deflate().is_some());
    let big = "wss ".repeat(20_000);
    for text in ["hello", &big, ""] {
        client.send_text(text).unwrap();
        assert_eq!(client.read().unwrap(), Some(Message::text(text)));
    }
    client.close(1000, "bye").unwrap();
    while let Some(message) = client.read().unwrap() {
        assert!(matches!(message, Message::Close(_)), "{message:?}");
    }
    let seen = server.join().unwrap().unwrap();
    assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
    assert_eq!(seen.echoed, 3);
}

#[test]
fn an_ip_literal_is_checked_against_the_certificates_ip() {
    let pki = pki();
    let (port, server) = echo_server(&pki);
    let mut client = trusting(&pki)
        .connect(&format!("wss://127.0.0.1:{port}/"))
        .unwrap();
    client.send_binary(vec![1, 2, 3]).unwrap();
    assert_eq!(client.read().unwrap(), Some(Message::binary(vec![1, 2, 3])));
    client.close(1000, "").unwrap();
    while client.read().unwrap().is_some() {}
    // No SNI for an address (RFC 6066 section 3).
    assert_eq!(server.join().unwrap().unwrap().sni, None);
}

#[test]
fn split_halves_run_full_duplex_over_one_tls_session() {
    let pki = pki();
    let (port, server) = echo_server(&pki);
    let (mut reader, writer) = trusting(&pki)
        .connect(&format!("wss://localhost:{port}/"))
        .unwrap()
        .split()
        .unwrap();
    const COUNT: usize = 300;
    // The reader blocks in the socket while the writer sends: neither
    // waits for the other.
    let reading = thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(message) = reader.read().unwrap() {
            if let Message::Text(text) = message {
                got.push(text);
            }
        }
        got
    });
    for i in 0..COUNT {
        writer
            .send_text(format!("{i} {}", "x".repeat(i * 7)))
            .unwrap();
    }
    assert!(writer.close_and_wait(1000, "done", LIMIT).unwrap());
    let got = reading.join().unwrap();
    assert_eq!(got.len(), COUNT);
    for (i, text) in got.iter().enumerate() {
        assert!(text.starts_with(&format!("{i} ")), "{i}: {text:.20}");
    }
    assert_eq!(server.join().unwrap().unwrap().echoed, COUNT);
}

/// Connects to a fresh server with `builder` and returns the client's
/// error, after checking that the server never got to HTTP.
fn refused(pki: &Pki, builder: ClientBuilder, host: &str) -> Error {
    let (port, server) = echo_server(pki);
    let error = builder
        .connect(&format!("wss://{host}:{port}/"))
        .unwrap_err();
    let outcome = server.join().unwrap();
    assert!(
        matches!(&outcome, Err(e) if e.starts_with("TLS")),
        "the server must fail in TLS, before any HTTP: {outcome:?}"
    );
    error
}

#[test]
fn an_unknown_issuer_is_a_certificate_error() {
    let pki = pki();
    let error = refused(&pki, ClientBuilder::new(), "localhost");
    assert!(
        matches!(
            error,
            Error::Certificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("not trusted"), "{message}");
    assert!(message.contains("add_ca_file"), "{message}");
}

#[test]
fn a_name_the_certificate_does_not_cover_is_a_certificate_error() {
    // A certificate for another name, from a CA the client trusts.
    let pki = pki_for("example.test", 2020, 2100);
    let error = refused(&pki, trusting(&pki), "localhost");
    assert!(
        matches!(
            error,
            Error::Certificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{error:?}"
    );
}

#[test]
fn an_expired_certificate_is_a_certificate_error() {
    let pki = pki_for("localhost", 2001, 2002);
    let builder = trusting(&pki);
    let error = refused(&pki, builder, "localhost");
    assert!(
        matches!(
            error,
            Error::Certificate(
                rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
            )
        ),
        "{error:?}"
    );
}

#[test]
fn a_silent_tls_server_times_out_within_the_handshake_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts, then never answers the ClientHello.
    let server = thread::spawn(move || listener.accept().map(|(tcp, _)| tcp));
    let started = Instant::now();
    let error = Client::builder()
        .handshake_timeout(Some(Duration::from_millis(300)))
        .connect(&format!("wss://localhost:{port}/"))
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(error, Error::Timeout(Stage::Handshake)),
        "{error:?}"
    );
    assert!(took < LIMIT, "took {took:?}");
    drop(server.join().unwrap());
}

#[test]
fn bad_ca_pem_is_refused() {
    let error = TlsConfig::webpki_roots()
        .add_ca_pem(b"not a certificate")
        .unwrap_err();
    assert!(matches!(error, Error::TlsConfig(_)), "{error:?}");
}
