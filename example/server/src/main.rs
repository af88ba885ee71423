//! `chat_server [--addr ADDR]`: the chat room of [`chat_server`] with its
//! web page.

use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "chat_server: a WebSocket chat room with a web page

usage: chat_server [--addr ADDR]

options:
  --addr ADDR   the address to listen on (default 127.0.0.1:8080; port 0 picks one)
  -h, --help    print this help";

fn main() -> ExitCode {
    let mut addr = chat_server::DEFAULT_ADDR.to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--addr" => match args.next() {
                Some(value) => addr = value,
                None => {
                    eprintln!("chat_server: --addr needs a value\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            other => match other.strip_prefix("--addr=") {
                Some(value) => addr = value.to_owned(),
                None => {
                    eprintln!("chat_server: unknown argument {other:?}\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
        }
    }
    let server = match chat_server::bind(&addr) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("chat_server: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = server.local_addr();
    // Nobody may be reading standard output (a closed pipe): the server
    // must not die for that, so write errors are ignored.
    let _ = writeln!(
        std::io::stdout(),
        "listening on {local}\n  WebSocket: ws://{local}/\n  web page:  http://{local}/\n  terminal:  cd example/client && cargo run"
    );
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat_server: {e}");
            ExitCode::FAILURE
        }
    }
}
