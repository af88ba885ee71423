//! Interoperability check of our client against another implementation's
//! echo server: `interop_client URL [--expect-extension SUBSTR]... [--ca FILE]`.
//!
//! ```text
//! cargo run -p rusty_socket_client --example interop_client -- \
//!     ws://127.0.0.1:8765/ --expect-extension permessage-deflate
//! cargo run -p rusty_socket_client --features tls --example interop_client -- \
//!     wss://localhost:8765/ --ca target/interop/pki/ca.pem
//! ```
//!
//! `--ca FILE` trusts the CA certificates of a PEM file for `wss://`
//! servers, besides the Mozilla roots (certificate checks stay on); it
//! needs the `tls` feature, and without it is a usage error.
//!
//! Connects with [`ClientBuilder::new`]'s defaults, as [`Client::connect`]
//! does (so with whatever the client offers by default), prints the `Sec-WebSocket-Extensions` header of the
//! server's 101 response, then sends text (ASCII and non-ASCII), binary,
//! empty messages of both kinds, a 64 KiB and a 1 MiB compressible message
//! and 300 small chat-like lines (32 at a time), and checks that every echo comes
//! back byte for byte, of the same kind and in order. It closes with 1000
//! and reads until the server ends the connection.
//!
//! Every check prints one `PASS` or `FAIL` line. The exit status is 0 when
//! all passed, 1 when any failed (a mismatch, a missing echo, an error, or
//! an `--expect-extension` the header does not contain; the option may be
//! given more than once) and 2 on a usage
//! error. Every read is bounded by a 20 s read timeout; the caller bounds
//! the whole run.

use rusty_socket_client::{Client, ClientBuilder, Message};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long one read may wait for an echo.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// How many small chat-like lines are sent back to back.
const CHAT_LINES: usize = 300;

/// How many lines are sent before their echoes are read: a chat, not a
/// flood (a server may bound what it queues for one client, as
/// rusty_socket_server does at 64 messages).
const CHAT_WINDOW: usize = 32;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = parse_args(&args).and_then(|args| {
        let builder = builder(args.ca.as_deref())?;
        Ok((args, builder))
    });
    let (Args { url, expect, .. }, builder) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("interop_client: {message}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let mut checks = Checks::default();
    run(&builder, &url, &expect, &mut checks);
    println!(
        "interop_client {url}: {} passed, {} failed ({:.1} s)",
        checks.passed,
        checks.failed,
        started.elapsed().as_secs_f64()
    );
    if checks.failed == 0 && checks.passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

const USAGE: &str = "usage: interop_client URL [--expect-extension SUBSTR]... [--ca FILE]";

/// What the command line asks for.
struct Args {
    url: String,
    expect: Vec<String>,
    ca: Option<String>,
}

/// `URL [--expect-extension SUBSTR]... [--ca FILE]`, in any order.
fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut url = None;
    let mut expect = Vec::new();
    let mut ca = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--expect-extension" => match rest.next() {
                Some(value) => expect.push(value.clone()),
                None => return Err("--expect-extension needs a value".into()),
            },
            "--ca" => match rest.next() {
                Some(_) if ca.is_some() => return Err("--ca given twice".into()),
                Some(file) => ca = Some(file.clone()),
                None => return Err("--ca needs a PEM file".into()),
            },
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ if url.is_some() => return Err(format!("unexpected argument {arg}")),
            _ => url = Some(arg.clone()),
        }
    }
    let url = url.ok_or("no URL given")?;
    Ok(Args { url, expect, ca })
}

/// The client's defaults ([`Client::connect`]'s), trusting the CA
/// certificates of `ca` too.
#[cfg(feature = "tls")]
fn builder(ca: Option<&str>) -> Result<ClientBuilder, String> {
    let builder = ClientBuilder::new();
    match ca {
        Some(file) => builder
            .add_ca_file(file)
            .map_err(|e| format!("--ca {file}: {e}")),
        None => Ok(builder),
    }
}

/// The client's defaults ([`Client::connect`]'s); `--ca` needs TLS.
#[cfg(not(feature = "tls"))]
fn builder(ca: Option<&str>) -> Result<ClientBuilder, String> {
    match ca {
        Some(_) => Err("--ca needs TLS: build with --features tls \
             (cargo build -p rusty_socket_client --features tls --example interop_client)"
            .into()),
        None => Ok(ClientBuilder::new()),
    }
}

/// Counts of the PASS and FAIL lines printed.
#[derive(Default)]
struct Checks {
    passed: usize,
    failed: usize,
}

impl Checks {
    fn pass(&mut self, what: &str) {
        self.passed += 1;
        println!("PASS {what}");
    }

    fn fail(&mut self, what: &str, why: &str) {
        self.failed += 1;
        println!("FAIL {what}: {why}");
    }

    fn check(&mut self, what: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.pass(what),
            Err(why) => self.fail(what, &why),
        }
    }
}

fn run(builder: &ClientBuilder, url: &str, expect: &[String], checks: &mut Checks) {
    let mut client = match builder.connect(url) {
        Ok(client) => client,
        Err(e) => return checks.fail("connect", &e.to_string()),
    };
    checks.pass(&format!("connect {url}"));

    let extensions = client
        .response()
        .headers
        .get("Sec-WebSocket-Extensions")
        .map(str::to_owned);
    println!(
        "Sec-WebSocket-Extensions: {}",
        extensions.as_deref().unwrap_or("(none)")
    );
    for want in expect {
        let what = format!("negotiated extension contains {want:?}");
        match &extensions {
            Some(header) if header.contains(want.as_str()) => checks.pass(&what),
            Some(header) => checks.fail(&what, &format!("the header is {header:?}")),
            None => checks.fail(&what, "no Sec-WebSocket-Extensions header"),
        }
    }

    if let Err(e) = client.set_read_timeout(Some(READ_TIMEOUT)) {
        return checks.fail("set the read timeout", &e.to_string());
    }

    for (what, message) in single_messages() {
        let result = echo_one(&mut client, &message);
        checks.check(&format!("echo {what}"), result);
    }

    let lines = chat_lines();
    let result = echo_burst(&mut client, &lines);
    checks.check(
        &format!("echo {CHAT_LINES} chat lines, {CHAT_WINDOW} at a time back to back"),
        result,
    );

    checks.check("close handshake (1000)", close(client));
}

/// The messages echoed one at a time, with their names.
fn single_messages() -> Vec<(String, Message)> {
    vec![
        ("ASCII text".into(), Message::text("Hello, interop!")),
        (
            "non-ASCII text".into(),
            Message::text("Grüße, ¡hola!, привет, 你好, こんにちは, 🦀🔌 (κόσμε)"),
        ),
        (
            "binary 0..=255".into(),
            Message::binary((0..=255u8).collect::<Vec<u8>>()),
        ),
        ("empty text".into(), Message::text("")),
        ("empty binary".into(), Message::binary(Vec::new())),
        (
            "64 KiB compressible text".into(),
            Message::text(compressible_text(64 << 10)),
        ),
        (
            "1 MiB compressible binary".into(),
            Message::binary(compressible_bytes(1 << 20)),
        ),
    ]
}

/// `len` bytes of repetitive, JSON-like ASCII: what permessage-deflate is for.
fn compressible_text(len: usize) -> String {
    let mut text = String::with_capacity(len + 64);
    let mut n = 0u64;
    while text.len() < len {
        text.push_str(&format!(
            "{{\"seq\":{n},\"user\":\"guest-{}\",\"text\":\"the quick brown fox\"}}\n",
            n % 7
        ));
        n += 1;
    }
    text.truncate(len);
    text
}

/// `len` bytes of a slowly varying pattern with long repeats.
fn compressible_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i / 64) % 251) as u8 ^ (i % 4) as u8)
        .collect()
}

/// Small lines like a chat sends.
fn chat_lines() -> Vec<String> {
    let words = [
        "hi",
        "how are you?",
        "fine, thanks",
        "see you",
        "ok 👍",
        "lol",
    ];
    (0..CHAT_LINES)
        .map(|i| format!("guest-{}: {} #{i}", i % 5, words[i % words.len()]))
        .collect()
}

fn echo_one(client: &mut Client, message: &Message) -> Result<(), String> {
    client
        .send(message.clone())
        .map_err(|e| format!("send: {e}"))?;
    let echo = read_data(client)?;
    compare(message, &echo)
}

/// Sends the lines [`CHAT_WINDOW`] at a time, reading and checking each
/// window's echoes in order before the next.
fn echo_burst(client: &mut Client, lines: &[String]) -> Result<(), String> {
    for (w, window) in lines.chunks(CHAT_WINDOW).enumerate() {
        for line in window {
            client
                .send_text(line.as_str())
                .map_err(|e| format!("send: {e}"))?;
        }
        for (j, line) in window.iter().enumerate() {
            let i = w * CHAT_WINDOW + j;
            let echo = read_data(client).map_err(|e| format!("line {i}: {e}"))?;
            compare(&Message::text(line.as_str()), &echo).map_err(|e| format!("line {i}: {e}"))?;
        }
    }
    Ok(())
}

/// The next text or binary message; pings and pongs are skipped (the
/// connection answers pings by itself).
fn read_data(client: &mut Client) -> Result<Message, String> {
    loop {
        match client.read() {
            Ok(Some(message)) if message.is_data() => return Ok(message),
            Ok(Some(Message::Close(frame))) => {
                return Err(format!("the server closed instead of echoing: {frame:?}"))
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("the connection ended instead of an echo".into()),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Same kind, same bytes; a mismatch names the first differing offset.
fn compare(sent: &Message, got: &Message) -> Result<(), String> {
    let (sent_kind, sent_bytes) = kind_and_bytes(sent);
    let (got_kind, got_bytes) = kind_and_bytes(got);
    if sent_kind != got_kind {
        return Err(format!("sent {sent_kind}, got {got_kind} back"));
    }
    if sent_bytes == got_bytes {
        return Ok(());
    }
    let at = sent_bytes
        .iter()
        .zip(got_bytes)
        .position(|(a, b)| a != b)
        .unwrap_or(sent_bytes.len().min(got_bytes.len()));
    Err(format!(
        "sent {} bytes, got {} back, first difference at byte {at}",
        sent_bytes.len(),
        got_bytes.len()
    ))
}

fn kind_and_bytes(message: &Message) -> (&'static str, &[u8]) {
    match message {
        Message::Text(text) => ("text", text.as_bytes()),
        Message::Binary(data) => ("binary", data),
        Message::Ping(data) => ("ping", data),
        Message::Pong(data) => ("pong", data),
        Message::Close(_) => ("close", &[]),
    }
}

/// Closes with 1000 and reads until the clean end.
fn close(mut client: Client) -> Result<(), String> {
    client
        .close(1000, "done")
        .map_err(|e| format!("close: {e}"))?;
    loop {
        match client.read() {
            Ok(Some(Message::Close(_))) | Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("reading after the close: {e}")),
        }
    }
}
