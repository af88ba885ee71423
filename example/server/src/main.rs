//! `chat_server [--addr ADDR] [--rate N] [--burst N] [--max-per-ip N]`:
//! the chat room of [`chat_server`] with its web page.

use std::io::Write;
use std::process::ExitCode;
use std::str::FromStr;

const USAGE: &str = "chat_server: a WebSocket chat room with a web page

usage: chat_server [--addr ADDR] [--rate N] [--burst N] [--max-per-ip N]

options:
  --addr ADDR       the address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --rate N          messages a second a client may send, on average; past it
                    they are dropped with a notice, and a client that keeps
                    going is closed with 1008 (default 20; 0: no limit)
  --burst N         messages a client may send at once above the rate
                    (default 40; 0: the rate)
  --max-per-ip N    connections one client address may hold; the next gets
                    429 Too Many Requests (default 20; 0: no limit)
  -h, --help        print this help";

/// What the command line asks for.
struct Options {
    addr: String,
    rate: u32,
    burst: u32,
    max_per_ip: usize,
}

/// The value of `flag`: what follows `--flag=`, or the next argument.
fn value(
    flag: &str,
    inline: Option<&str>,
    args: &mut impl Iterator<Item = String>,
) -> Result<String, String> {
    match inline {
        Some(value) => Ok(value.to_owned()),
        None => args.next().ok_or(format!("{flag} needs a value")),
    }
}

fn number<T: FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag} needs a number, not {text:?}"))
}

/// Parses the arguments; `Ok(None)` for `--help`.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        addr: chat_server::DEFAULT_ADDR.to_owned(),
        rate: chat_server::DEFAULT_RATE,
        burst: chat_server::DEFAULT_BURST,
        max_per_ip: chat_server::DEFAULT_MAX_PER_IP,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value)),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--addr" => options.addr = value(&flag, inline, &mut args)?,
            "--rate" => options.rate = number(&flag, &value(&flag, inline, &mut args)?)?,
            "--burst" => options.burst = number(&flag, &value(&flag, inline, &mut args)?)?,
            "--max-per-ip" => {
                options.max_per_ip = number(&flag, &value(&flag, inline, &mut args)?)?
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("chat_server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let addr = options.addr;
    let config = chat_server::config(&addr)
        .message_rate(options.rate)
        .message_burst(options.burst)
        .max_connections_per_ip(options.max_per_ip);
    let server = match chat_server::bind_with(config) {
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
