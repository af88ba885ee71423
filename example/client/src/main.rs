//! A command-line chat client for any WebSocket server.
//!
//! ```text
//! $ chat_client
//! ---<Command Line Chat Initialized!>---
//! > connect ws://127.0.0.1:8080/
//! connected to ws://127.0.0.1:8080/
//! msg> hello
//! rcv=> hello
//! msg> __disconnect
//! disconnected
//! > exit
//! ```
//!
//! With a terminal, lines are edited with history (rustyline) and received
//! messages are printed above the prompt without disturbing the line being
//! typed. Without one (`printf 'connect\nhello\nexit\n' | chat_client`),
//! commands are read line by line from standard input.
//!
//! Options: `--connect URL` connects at start; `--ca FILE` trusts the CA
//! certificates of a PEM file for `wss://` servers, besides the Mozilla
//! roots (for a server with a private or test CA).

mod commands;
mod input;
mod session;

use commands::Command;
use input::{Input, LineSource, Piped, Terminal};
use rusty_socket_client::ClientBuilder;
use session::Session;
use std::io::IsTerminal;
use std::process::ExitCode;

const BANNER: &str = "---<Command Line Chat Initialized!>---";
const USAGE: &str = "usage: chat_client [--connect URL] [--ca FILE]";

fn main() -> ExitCode {
    let mut connect_at_start = None;
    let mut builder = session::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--connect" => match args.next() {
                Some(url) => connect_at_start = Some(url),
                None => {
                    eprintln!("--connect needs a URL\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--ca" => match args.next().map(|file| builder.clone().add_ca_file(&file)) {
                Some(Ok(with_ca)) => builder = with_ca,
                Some(Err(e)) => {
                    eprintln!("--ca: {e}");
                    return ExitCode::from(2);
                }
                None => {
                    eprintln!("--ca needs a PEM file\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}\n\n{}", commands::help());
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }

    println!("{BANNER}");
    if std::io::stdin().is_terminal() {
        match Terminal::new() {
            Ok(mut terminal) => run(&mut terminal, &builder, connect_at_start),
            Err(e) => {
                eprintln!("error: cannot set up the terminal ({e}); reading lines instead");
                run(&mut Piped::new(), &builder, connect_at_start)
            }
        }
    } else {
        run(&mut Piped::new(), &builder, connect_at_start)
    }
    ExitCode::SUCCESS
}

/// The REPL: read a line, act on it, until `exit`, Ctrl-C or the end.
fn run(source: &mut dyn LineSource, builder: &ClientBuilder, connect_at_start: Option<String>) {
    let mut session: Option<Session> = None;
    if let Some(url) = connect_at_start {
        session = connect(&url, builder, source);
    }
    loop {
        forget_if_closed(&mut session);
        let prompt = if session.is_some() { "msg> " } else { "> " };
        let line = match source.next_line(prompt) {
            Input::Line(line) => line,
            Input::Interrupted | Input::End => break,
        };
        // Checked again: the server may have closed while the line was typed.
        forget_if_closed(&mut session);
        match commands::parse(&line, session.is_some()) {
            Command::Nothing => {}
            Command::Help => println!("{}", commands::help()),
            Command::Exit => break,
            Command::Connect(url) => {
                if let Some(open) = session.take() {
                    disconnect(open);
                }
                session = connect(&url, builder, source);
            }
            Command::Disconnect => match session.take() {
                Some(open) => disconnect(open),
                None => println!("not connected"),
            },
            Command::Send(text) => {
                if let Some(open) = &session {
                    if let Err(e) = open.send(&text) {
                        eprintln!("error: message not sent: {e}");
                    }
                }
            }
            Command::Unknown(line) => {
                if line.starts_with("__") {
                    println!("unknown command {line:?}; type help");
                } else {
                    println!("not connected, nothing sent: type connect [url] first, or help");
                }
            }
        }
    }
    if let Some(open) = session.take() {
        disconnect(open);
    }
}

/// Drops a session whose connection has ended; its reader thread has
/// already said why.
fn forget_if_closed(session: &mut Option<Session>) {
    if session.as_ref().is_some_and(|s| !s.is_alive()) {
        *session = None;
    }
}

fn connect(url: &str, builder: &ClientBuilder, source: &dyn LineSource) -> Option<Session> {
    match Session::open(url, builder, source.printer()) {
        Ok(session) => {
            println!("connected to {url}");
            Some(session)
        }
        Err(e) => {
            eprintln!("connection failed: {e}");
            None
        }
    }
}

fn disconnect(session: Session) {
    if session.disconnect() {
        println!("disconnected");
    } else {
        println!("disconnected (the server did not answer the close in time)");
    }
}
