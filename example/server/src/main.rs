//! `chat_server [--addr ADDR] [--rate N] [--burst N] [--max-per-ip N]
//! [--history N] [--history-bytes N] [--history-rooms N] [--deflate MODE]
//! [--tls-cert FILE --tls-key FILE] [--redis URL [--node NAME]]`: the chat of
//! [`chat_server`] with its web page. Every flag may also come from the
//! environment, as `RUSTY_SOCKET_` and the flag in capitals with `_` for
//! `-` (`RUSTY_SOCKET_MAX_PER_IP`); a flag wins over the environment.

mod signals;

use chat_server::cluster::Cluster;
use chat_server::Chat;
use rusty_socket_server::broker::{Broker, BrokerState, RedisBroker, RedisOptions, RedisUrl};
use std::io::Write;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How long a node started with `--redis` waits for Redis before it
/// serves anyway.
const REDIS_STARTUP: Duration = Duration::from_secs(3);

const USAGE: &str = "chat_server: a WebSocket chat with rooms and a web page

usage: chat_server [--addr ADDR] [--rate N] [--burst N] [--max-per-ip N]
                   [--history N] [--history-bytes N] [--history-rooms N]
                   [--deflate MODE] [--tls-cert FILE --tls-key FILE]
                   [--redis URL [--node NAME]]

options (each also from the environment variable beside it; a flag wins):
  --addr ADDR          RUSTY_SOCKET_ADDR
      the address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --rate N             RUSTY_SOCKET_RATE
      messages a second a client may send, on average; past it they are
      dropped with a notice, and a client that keeps going is closed with
      1008 (default 20; 0: no limit)
  --burst N            RUSTY_SOCKET_BURST
      messages a client may send at once above the rate (default 40; 0: the rate)
  --max-per-ip N       RUSTY_SOCKET_MAX_PER_IP
      connections one client address may hold; the next gets 429 Too Many
      Requests (default 20; 0: no limit)
  --history N          RUSTY_SOCKET_HISTORY
      chat lines of a room shown to whoever enters it (default 50; 0: none)
  --history-bytes N    RUSTY_SOCKET_HISTORY_BYTES
      bytes of history kept per room (default 65536)
  --history-rooms N    RUSTY_SOCKET_HISTORY_ROOMS
      rooms keeping a history at once; past it, the room that spoke least
      recently loses its own (default 256)
  --deflate MODE       RUSTY_SOCKET_DEFLATE
      permessage-deflate (RFC 7692) for clients that offer it: on (each
      connection keeps its context: the best compression), shared (asks
      server_no_context_takeover: each broadcast is compressed once for
      all), or off (default on)
  --tls-cert FILE      RUSTY_SOCKET_TLS_CERT
  --tls-key FILE       RUSTY_SOCKET_TLS_KEY
      serve the page over https and the chat over wss: the certificate
      chain and its private key, PEM files (default: plain http and ws)
  --redis URL          RUSTY_SOCKET_REDIS
      be one node of a chat spread over several servers that share this
      Redis: redis://[user:password@]host[:port][/db] (default: alone)
  --node NAME          RUSTY_SOCKET_NODE
      this node's name among them (default: the host's name and the port)
  -h, --help           print this help

SIGTERM or SIGINT stops the server gracefully: its users are told, leave
the other nodes' lists at once, and are closed with 1001 (going away).";

/// The flags that take a value, in the order the environment is read.
const FLAGS: [&str; 12] = [
    "--addr",
    "--rate",
    "--burst",
    "--max-per-ip",
    "--history",
    "--history-bytes",
    "--history-rooms",
    "--deflate",
    "--tls-cert",
    "--tls-key",
    "--redis",
    "--node",
];

/// What the command line and the environment ask for.
#[derive(Debug, PartialEq)]
struct Options {
    addr: String,
    rate: u32,
    burst: u32,
    max_per_ip: usize,
    history: chat_server::HistoryLimits,
    deflate: chat_server::Deflate,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    redis: Option<RedisUrl>,
    node: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            addr: chat_server::DEFAULT_ADDR.to_owned(),
            rate: chat_server::DEFAULT_RATE,
            burst: chat_server::DEFAULT_BURST,
            max_per_ip: chat_server::DEFAULT_MAX_PER_IP,
            history: chat_server::HistoryLimits::default(),
            deflate: chat_server::Deflate::On,
            tls_cert: None,
            tls_key: None,
            redis: None,
            node: String::new(),
        }
    }
}

/// The environment variable of `flag`: `--max-per-ip` is
/// `RUSTY_SOCKET_MAX_PER_IP`.
fn env_name(flag: &str) -> String {
    format!(
        "RUSTY_SOCKET_{}",
        flag.trim_start_matches('-')
            .to_uppercase()
            .replace('-', "_")
    )
}

fn number<T: FromStr>(source: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{source} needs a number, not {text:?}"))
}

impl Options {
    /// Sets what `flag` names to `value`; `source` (the flag or the
    /// variable) is for the error.
    fn set(&mut self, flag: &str, source: &str, value: &str) -> Result<(), String> {
        match flag {
            "--addr" => self.addr = value.to_owned(),
            "--rate" => self.rate = number(source, value)?,
            "--burst" => self.burst = number(source, value)?,
            "--max-per-ip" => self.max_per_ip = number(source, value)?,
            "--history" => self.history.lines = number(source, value)?,
            "--history-bytes" => self.history.room_bytes = number(source, value)?,
            "--history-rooms" => self.history.rooms = number(source, value)?,
            "--deflate" => {
                self.deflate = match value {
                    "on" => chat_server::Deflate::On,
                    "shared" => chat_server::Deflate::Shared,
                    "off" => chat_server::Deflate::Off,
                    _ => return Err(format!("{source} is on, shared or off, not {value:?}")),
                }
            }
            "--tls-cert" => self.tls_cert = Some(value.to_owned()),
            "--tls-key" => self.tls_key = Some(value.to_owned()),
            "--redis" => {
                let url = value.parse().map_err(|e| format!("{source}: {e}"))?;
                self.redis = Some(url);
            }
            "--node" => self.node = value.to_owned(),
            _ => return Err(format!("unknown argument {source:?}")),
        }
        Ok(())
    }
}

/// Parses the environment (`env` looks a variable up), then the
/// arguments, which win; `Ok(None)` for `--help`.
fn parse(
    mut args: impl Iterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Options>, String> {
    let mut options = Options::default();
    for flag in FLAGS {
        let name = env_name(flag);
        if let Some(value) = env(&name) {
            options.set(flag, &name, &value)?;
        }
    }
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value)),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if !FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown argument {arg:?}"));
        }
        let value = match inline {
            Some(value) => value.to_owned(),
            None => args.next().ok_or(format!("{flag} needs a value"))?,
        };
        options.set(&flag, &flag, &value)?;
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
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
    let config = chat_server::with_deflate(config, options.deflate);
    let (config, secure) = match (&options.tls_cert, &options.tls_key) {
        (None, None) => (config, false),
        (Some(cert), Some(key)) => {
            match rusty_socket_server::TlsConfig::from_pem_files(cert, key) {
                Ok(tls) => (config.tls(Some(tls)), true),
                Err(e) => {
                    eprintln!("chat_server: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("chat_server: --tls-cert and --tls-key go together\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (ws, http) = if secure {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    let chat = match options.redis {
        Some(url) => {
            let redis = RedisBroker::new(url, RedisOptions::default());
            // The first users should find the other nodes: give Redis a
            // moment before serving. A node that cannot reach it serves its
            // own users alone, and joins the others once Redis answers.
            if !redis.wait_for(BrokerState::Up, REDIS_STARTUP) {
                let why = redis
                    .last_error()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                eprintln!(
                    "chat_server: Redis at {} is not answering{why}; serving this node's users alone until it does",
                    redis.url()
                );
            }
            let broker: Arc<dyn Broker> = Arc::new(redis);
            Chat::clustered(options.history, Cluster::new(broker, &options.node))
        }
        None => Chat::with_history(options.history),
    };
    let server = match chat_server::bind_chat(config, chat.clone()) {
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
        "listening on {local}\n  WebSocket: {ws}://{local}/\n  web page:  {http}://{local}/\n  terminal:  cd example/client && cargo run"
    );
    if let Some(node) = chat.node() {
        let _ = writeln!(std::io::stdout(), "  node:      {node}");
    }
    let handle = server.handle();
    let watched = server.handle();
    let stopping = chat.clone();
    let (stopped, wait_stopped) = std::sync::mpsc::channel();
    let stop = signals::on_stop(move |signal| {
        eprintln!("chat_server: signal {signal}: stopping");
        stopping.stop();
        // Returns once every connection is closed (1001) or timed out.
        handle.shutdown();
        let _ = stopped.send(());
    });
    if let Err(e) = stop {
        eprintln!("chat_server: cannot catch SIGTERM and SIGINT: {e}");
    }
    let ran = server.run();
    if watched.is_shutting_down() {
        // The accept loop ends first: let the close frames go out.
        let _ = wait_stopped.recv_timeout(std::time::Duration::from_secs(30));
    }
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat_server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{env_name, parse, Options, FLAGS, USAGE};
    use std::collections::HashMap;

    fn parse_with(args: &[&str], env: &[(&str, &str)]) -> Result<Option<Options>, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(args.iter().map(|a| a.to_string()), |name| {
            env.get(name).cloned()
        })
    }

    #[test]
    fn env_names() {
        assert_eq!(env_name("--addr"), "RUSTY_SOCKET_ADDR");
        assert_eq!(env_name("--max-per-ip"), "RUSTY_SOCKET_MAX_PER_IP");
        assert_eq!(env_name("--history-bytes"), "RUSTY_SOCKET_HISTORY_BYTES");
    }

    #[test]
    fn help_lists_every_flag_and_its_variable() {
        for flag in FLAGS {
            assert!(USAGE.contains(&format!("{flag} ")), "{flag}");
            assert!(USAGE.contains(&env_name(flag)), "{flag}");
        }
    }

    #[test]
    fn nothing_gives_the_defaults() {
        assert_eq!(parse_with(&[], &[]), Ok(Some(Options::default())));
        assert_eq!(parse_with(&["--help"], &[]), Ok(None));
    }

    #[test]
    fn the_environment_sets_and_a_flag_wins() {
        let env = [
            ("RUSTY_SOCKET_ADDR", "0.0.0.0:9000"),
            ("RUSTY_SOCKET_RATE", "5"),
            ("RUSTY_SOCKET_BURST", "6"),
            ("RUSTY_SOCKET_MAX_PER_IP", "7"),
            ("RUSTY_SOCKET_HISTORY", "8"),
            ("RUSTY_SOCKET_HISTORY_BYTES", "9"),
            ("RUSTY_SOCKET_HISTORY_ROOMS", "10"),
            ("RUSTY_SOCKET_DEFLATE", "off"),
            ("RUSTY_SOCKET_TLS_CERT", "c.pem"),
            ("UNRELATED", "x"),
        ];
        let from_env = parse_with(&[], &env).unwrap().unwrap();
        assert_eq!(from_env.addr, "0.0.0.0:9000");
        assert_eq!((from_env.rate, from_env.burst), (5, 6));
        assert_eq!(from_env.max_per_ip, 7);
        assert_eq!(
            (
                from_env.history.lines,
                from_env.history.room_bytes,
                from_env.history.rooms
            ),
            (8, 9, 10)
        );
        assert_eq!(from_env.deflate, chat_server::Deflate::Off);
        assert_eq!(from_env.tls_cert.as_deref(), Some("c.pem"));
        assert_eq!(from_env.tls_key, None);
        let flags = [
            "--addr",
            "127.0.0.1:0",
            "--rate=1",
            "--max-per-ip",
            "3",
            "--history-rooms=4",
            "--deflate=shared",
        ];
        let both = parse_with(&flags, &env).unwrap().unwrap();
        assert_eq!(both.addr, "127.0.0.1:0");
        assert_eq!((both.rate, both.burst), (1, 6));
        assert_eq!(both.max_per_ip, 3);
        assert_eq!(
            (
                both.history.lines,
                both.history.room_bytes,
                both.history.rooms
            ),
            (8, 9, 4)
        );
        assert_eq!(both.deflate, chat_server::Deflate::Shared);
        assert!(parse_with(&["--deflate", "max"], &[]).is_err());
    }

    #[test]
    fn errors_name_their_source() {
        let bad_env = parse_with(&[], &[("RUSTY_SOCKET_BURST", "many")]);
        assert_eq!(
            bad_env,
            Err("RUSTY_SOCKET_BURST needs a number, not \"many\"".to_owned())
        );
        // A flag does not rescue a bad variable: the mistake is still shown.
        assert!(parse_with(&["--burst", "2"], &[("RUSTY_SOCKET_BURST", "x")]).is_err());
        assert_eq!(
            parse_with(&["--history", "-1"], &[]),
            Err("--history needs a number, not \"-1\"".to_owned())
        );
        assert_eq!(
            parse_with(&["--rate"], &[]),
            Err("--rate needs a value".to_owned())
        );
        assert_eq!(
            parse_with(&["--nope"], &[]),
            Err("unknown argument \"--nope\"".to_owned())
        );
    }
}
