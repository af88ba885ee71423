//! A split client: a reader thread and writer threads on one connection, and
//! the closing handshake seen by both halves whichever side starts it.

mod common;

use common::{accept, echo_server, read_request_head, serve_one, LIMIT};
use rusty_socket_client::{Client, ClientReader, CloseCode, CloseFrame, Error, Message};
use rusty_socket_core::handshake::response_101;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn split(url: &str) -> (ClientReader, rusty_socket_client::ClientWriter) {
    let (reader, writer) = Client::connect(url).unwrap().split().unwrap();
    reader.set_read_timeout(Some(LIMIT)).unwrap();
    (reader, writer)
}

/// Reads data messages until the connection ends; returns them, the
/// close frame received, if any, and how reading ended (`Ok`: cleanly).
fn read_all(
    mut reader: ClientReader,
) -> (Vec<Message>, Option<Option<CloseFrame>>, Result<(), Error>) {
    let mut data = Vec::new();
    let mut close = None;
    loop {
        match reader.read() {
            Ok(Some(Message::Close(frame))) => close = Some(frame),
            Ok(Some(message)) if message.is_data() => data.push(message),
            Ok(Some(_)) => {}
            Ok(None) => return (data, close, Ok(())),
            Err(end) => return (data, close, Err(end)),
        }
    }
}

#[test]
fn reader_and_writers_on_separate_threads() {
    let (url, server) = echo_server();
    let (reader, writer) = split(&url);
    let reading = thread::spawn(move || read_all(reader));

    // Two writer threads through clones of the writer.
    let senders: Vec<_> = (0..2)
        .map(|t| {
            let writer = writer.clone();
            thread::spawn(move || {
                for i in 0..200 {
                    writer.send_text(format!("{t}:{i}")).unwrap();
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    writer.ping(b"p").unwrap();
    assert!(
        writer.close_and_wait(1000, "bye", LIMIT).unwrap(),
        "clean close expected"
    );

    let (data, close, end) = reading.join().unwrap();
    assert_eq!(data.len(), 400);
    // Each thread's messages arrive in the order that thread sent them.
    for t in 0..2 {
        let prefix = format!("{t}:");
        let mine: Vec<_> = data
            .iter()
            .filter_map(|m| match m {
                Message::Text(s) if s.starts_with(&prefix) => Some(s.clone()),
                _ => None,
            })
            .collect();
        let expected: Vec<_> = (0..200).map(|i| format!("{t}:{i}")).collect();
        assert_eq!(mine, expected);
    }
    assert_eq!(close, Some(Some(CloseFrame::new(CloseCode::NORMAL, ""))));
    assert!(end.is_ok(), "{end:?}");
    assert_eq!(server.join().unwrap().len(), 402); // 400 texts, ping, close
}

#[test]
fn a_close_from_the_server_is_seen_by_both_halves() {
    let (url, server) = serve_one(|stream| {
        let mut ws = accept(stream, None);
        // Wait for "bye", then close first, as a server shutting down would.
        while ws
            .read()
            .map(|m| m != Some(Message::text("bye")))
            .unwrap_or(false)
        {}
        ws.close(CloseCode::GOING_AWAY, "server shutting down")
            .unwrap();
        // Read until the client's answer completes the closing handshake;
        // dropping the stream then closes the TCP connection (section 7.1.1).
        loop {
            match ws.read() {
                Ok(Some(Message::Close(frame))) => return frame,
                Ok(Some(_)) => {}
                Ok(None) => panic!("no close reply: the connection ended"),
                Err(e) => panic!("no close reply: {e}"),
            }
        }
    });
    let (mut reader, writer) = split(&url);
    assert!(writer.is_open());
    writer.send_text("bye").unwrap();
    let close = reader.read().unwrap().unwrap();
    assert_eq!(
        close,
        Message::Close(Some(CloseFrame::new(
            CloseCode::GOING_AWAY,
            "server shutting down"
        )))
    );
    // The writer shares the closing state: nothing more may be sent.
    assert!(!writer.is_open());
    assert!(matches!(
        writer.send_text("too late"),
        Err(Error::AlreadyClosed)
    ));
    assert!(matches!(writer.close(1000, ""), Err(Error::AlreadyClosed)));
    // Then the server closes the TCP connection: the clean end.
    assert_eq!(reader.read().unwrap(), None);
    assert!(writer.wait_closed(Duration::ZERO));
    // The client echoed the server's code.
    assert_eq!(
        server.join().unwrap(),
        Some(CloseFrame::new(CloseCode::GOING_AWAY, ""))
    );
}

#[test]
fn a_close_from_the_writer_is_seen_by_the_reader() {
    let (url, server) = echo_server();
    let (reader, writer) = split(&url);
    let other = writer.clone();
    let reading = thread::spawn(move || read_all(reader));
    writer.send_text("last").unwrap();
    writer.close(4000, "custom").unwrap();
    // Every clone sees it at once.
    assert!(!other.is_open());
    assert!(matches!(
        other.send_text("after close"),
        Err(Error::AlreadyClosed)
    ));
    let (data, close, end) = reading.join().unwrap();
    // The echo of "last" still arrives before the server's close.
    assert_eq!(data, vec![Message::text("last")]);
    assert_eq!(close, Some(Some(CloseFrame::new(CloseCode(4000), ""))));
    assert!(end.is_ok(), "{end:?}");
    assert!(writer.wait_closed(Duration::ZERO));
    let seen = server.join().unwrap();
    assert_eq!(
        seen.last(),
        Some(&Message::Close(Some(CloseFrame::new(
            CloseCode(4000),
            "custom"
        ))))
    );
}

#[test]
fn the_writer_ends_a_connection_whose_server_never_answers() {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (url, server) = serve_one(move |mut stream| {
        // A handshake by hand, then silence: the close is never answered.
        let head = read_request_head(&mut stream);
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .to_owned();
        std::io::Write::write_all(&mut stream, &response_101(&key, None, None)).unwrap();
        let _ = done_rx.recv_timeout(LIMIT);
    });
    let (reader, writer) = split(&url);
    let reading = thread::spawn(move || read_all(reader));
    let start = Instant::now();
    let clean = writer
        .close_and_wait(1000, "bye", Duration::from_millis(300))
        .unwrap();
    assert!(!clean, "the server never answered");
    // The shutdown woke the reader up well before its 10 s read timeout.
    let (data, close, end) = reading.join().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(data.is_empty());
    assert_eq!(close, None);
    assert!(end.is_ok(), "{end:?}");
    done_tx.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn dropping_the_reader_counts_as_the_end() {
    let (url, server) = echo_server();
    let (reader, writer) = split(&url);
    assert!(!writer.wait_closed(Duration::from_millis(10)));
    drop(reader);
    assert!(writer.wait_closed(Duration::ZERO));
    writer.close(1000, "").unwrap();
    writer.shutdown().unwrap();
    writer.shutdown().unwrap(); // twice is fine
    server.join().unwrap();
}
