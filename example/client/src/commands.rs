//! The REPL's command table and the parsing of one input line.
//!
//! Not connected, a line is a command. Connected, a line is a message,
//! except for the commands that start with `__` (and `exit`), so that
//! ordinary words such as `help` can be sent.

/// Where `connect` goes without a URL.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:8080/";

/// Every command and what it does, for `help`.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "connect [url]",
        "connect to a WebSocket server, ws:// or wss:// (default ws://127.0.0.1:8080/)",
    ),
    (
        "__disconnect",
        "close the connection (closing handshake, code 1000)",
    ),
    ("help", "show this list (type __help while connected)"),
    (
        "exit",
        "leave, closing the connection first (also Ctrl-C, Ctrl-D)",
    ),
];

/// What one line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `connect [url]`.
    Connect(String),
    /// `__disconnect`.
    Disconnect,
    /// `help` or `__help`.
    Help,
    /// `exit` or `__exit`.
    Exit,
    /// A text message to send (connected only).
    Send(String),
    /// A blank line.
    Nothing,
    /// A line that is no command, while not connected.
    Unknown(String),
}

/// Interprets `line`; `connected` decides whether plain lines are messages.
pub fn parse(line: &str, connected: bool) -> Command {
    let trimmed = line.trim();
    match trimmed {
        "" => return Command::Nothing,
        "__disconnect" => return Command::Disconnect,
        "__help" => return Command::Help,
        "exit" | "__exit" => return Command::Exit,
        _ => {}
    }
    if connected {
        return Command::Send(line.to_owned());
    }
    let mut words = trimmed.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("help"), None, _) => Command::Help,
        (Some("connect" | "__connect"), url, None) => {
            Command::Connect(url.unwrap_or(DEFAULT_URL).to_owned())
        }
        _ => Command::Unknown(trimmed.to_owned()),
    }
}

/// The text `help` prints.
pub fn help() -> String {
    let width = COMMANDS
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("commands:\n");
    for (name, what) in COMMANDS {
        out.push_str(&format!("  {name:<width$}  {what}\n"));
    }
    out.push_str("while connected, every other line is sent as a text message");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_table() {
        let cases: &[(&str, bool, Command)] = &[
            ("connect", false, Command::Connect(DEFAULT_URL.into())),
            (
                "  connect ws://h:1/x ",
                false,
                Command::Connect("ws://h:1/x".into()),
            ),
            ("connect a b", false, Command::Unknown("connect a b".into())),
            ("help", false, Command::Help),
            ("help", true, Command::Send("help".into())),
            ("__help", true, Command::Help),
            ("exit", false, Command::Exit),
            ("exit", true, Command::Exit),
            ("__disconnect", true, Command::Disconnect),
            ("__disconnect", false, Command::Disconnect),
            ("", false, Command::Nothing),
            ("   ", true, Command::Nothing),
            ("hello", false, Command::Unknown("hello".into())),
            (
                "  hello there ",
                true,
                Command::Send("  hello there ".into()),
            ),
            ("connect", true, Command::Send("connect".into())),
        ];
        for (line, connected, expected) in cases {
            assert_eq!(
                &parse(line, *connected),
                expected,
                "{line:?} connected={connected}"
            );
        }
    }

    #[test]
    fn help_lists_every_command() {
        let text = help();
        for (name, _) in COMMANDS {
            assert!(text.contains(name), "{name}");
        }
    }
}
