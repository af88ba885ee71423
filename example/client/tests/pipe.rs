//! The REPL driven through a pipe, against WebSocket servers started by the
//! test on 127.0.0.1:0.

use rusty_socket_core::{CloseCode, Config, Message};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long one run of the REPL may take.
const LIMIT: Duration = Duration::from_secs(20);

/// An echo server for any number of connections. The text `please close`
/// makes it close the connection with 1001 "server shutting down".
fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream));
        }
    });
    url
}

fn serve(stream: TcpStream) {
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let Ok(mut ws) = rusty_socket_core::accept(stream, Config::default(), |_, _| None) else {
        return;
    };
    while let Ok(Some(message)) = ws.read() {
        if message == Message::text("please close") {
            let _ = ws.close(CloseCode::GOING_AWAY, "server shutting down");
        } else if message.is_data() && ws.send(message).is_err() {
            return;
        }
    }
}

/// A server that refuses every upgrade with 403.
fn refusing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        }
    });
    url
}

/// A URL on which nothing listens.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("ws://{}/", listener.local_addr().unwrap())
}

struct Run {
    stdout: String,
    stderr: String,
    success: bool,
}

/// Runs the REPL with `script` on its standard input.
fn run(script: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat_client"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chat_client");
    let pid = child.id();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(child.wait_with_output()));
    let output = match rx.recv_timeout(LIMIT) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("chat_client did not finish within {LIMIT:?} on {script:?}");
        }
    };
    Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        success: output.status.success(),
    }
}

#[test]
fn echo_through_a_pipe() {
    let url = echo_server();
    let out = run(&format!("connect {url}\nhello\n__disconnect\nexit\n"));
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("---<Command Line Chat Initialized!>---\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\nrcv=> hello\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("connected to {url}")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\ndisconnected\n"), "{}", out.stdout);
}

#[test]
fn replies_in_flight_are_printed_before_leaving() {
    let url = echo_server();
    let lines: String = (0..50).map(|i| format!("line {i}\n")).collect();
    // No __disconnect, no exit: the end of the input closes the connection.
    let out = run(&format!("connect {url}\n{lines}"));
    assert!(out.success, "{}", out.stderr);
    for i in 0..50 {
        assert!(
            out.stdout.contains(&format!("rcv=> line {i}\n")),
            "line {i}: {}",
            out.stdout
        );
    }
}

#[test]
fn an_unreachable_server_is_reported_and_the_repl_goes_on() {
    let url = echo_server();
    let dead = dead_url();
    let out = run(&format!(
        "connect {dead}\nconnect {url}\nstill here\nexit\n"
    ));
    assert!(out.success);
    assert!(out.stderr.contains("connection failed"), "{}", out.stderr);
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
    assert!(out.stdout.contains("rcv=> still here"), "{}", out.stdout);
}

#[test]
fn connect_again_after_a_disconnect() {
    let url = echo_server();
    let out = run(&format!(
        "connect {url}\none\n__disconnect\nconnect {url}\ntwo\n__disconnect\nexit\n"
    ));
    assert!(out.success, "{}", out.stderr);
    let one = out.stdout.find("rcv=> one").expect(&out.stdout);
    let two = out.stdout.find("rcv=> two").expect(&out.stdout);
    assert!(one < two);
    assert_eq!(
        out.stdout.matches("\ndisconnected\n").count(),
        2,
        "{}",
        out.stdout
    );
}

#[test]
fn a_close_from_the_server_is_reported() {
    let url = echo_server();
    let out = run(&format!("connect {url}\nplease close\nexit\n"));
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("connection closed by server: 1001 (server shutting down)"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_refused_handshake_shows_the_status() {
    let url = refusing_server();
    let out = run(&format!("connect {url}\nhelp\nexit\n"));
    assert!(out.success);
    assert!(out.stderr.contains("403 Forbidden"), "{}", out.stderr);
    assert!(
        out.stdout.contains("__disconnect"),
        "help still works: {}",
        out.stdout
    );
}

#[test]
fn unknown_lines_while_disconnected_get_a_hint() {
    let out = run("hello\n__bogus\nexit\n");
    assert!(out.success);
    assert!(out.stdout.contains("not connected"), "{}", out.stdout);
    assert!(out.stdout.contains("unknown command"), "{}", out.stdout);
}
