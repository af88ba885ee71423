//! The chat room itself: who is online under which name, and what each
//! line a client sends turns into.

use rusty_socket_core::http::Request;
use rusty_socket_core::Message;
use rusty_socket_server::{
    ConnectionId, ConnectionInfo, Ending, Handler, HttpResponse, ServerHandle,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

/// The longest chat line, in bytes.
pub const MAX_CHAT_MESSAGE: usize = 4096;

/// The longest name, in characters.
pub const MAX_NAME_LEN: usize = 24;

const HELP: &str = "* commands: /nick NAME, /list, /msg NAME text, /help";

/// Who is online.
#[derive(Debug, Default)]
struct Room {
    names: HashMap<ConnectionId, String>,
    /// Name to id, sorted, for `/list` and `/msg`.
    ids: BTreeMap<String, ConnectionId>,
}

/// The chat [`Handler`].
#[derive(Debug, Default)]
pub struct Chat {
    room: Mutex<Room>,
}

/// Whether `name` is acceptable: 1-24 letters, digits, `-` or `_`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the room is told about a departure, after `* NAME left`: nothing
/// for a client that closed or went away, the reason when the server
/// showed it the door.
fn why(ending: &Ending) -> String {
    match ending {
        Ending::Timeout => " (timed out)".to_owned(),
        Ending::QueueFull => " (too slow to keep up)".to_owned(),
        Ending::RateLimited => " (flooding)".to_owned(),
        Ending::ProtocolError(code) => format!(" (protocol error, {code})"),
        _ => String::new(),
    }
}

impl Chat {
    /// An empty room.
    pub fn new() -> Chat {
        Chat::default()
    }

    fn room(&self) -> MutexGuard<'_, Room> {
        self.room.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one line from `id`. The room stays locked while the answers
    /// are queued, so every client sees events in the same order.
    fn line(&self, server: &ServerHandle, id: ConnectionId, text: &str) {
        let mut room = self.room();
        let Some(name) = room.names.get(&id).cloned() else {
            return;
        };
        let reply = |text: String| {
            let _ = server.send_to(id, text);
        };
        if text.len() > MAX_CHAT_MESSAGE {
            return reply("! message too long".to_owned());
        }
        let Some(command) = text.strip_prefix('/') else {
            if !text.trim().is_empty() {
                let _ = server.broadcast(format!("{name}: {text}"));
            }
            return;
        };
        let (command, rest) = command.split_once(' ').unwrap_or((command, ""));
        let rest = rest.trim();
        match command {
            "nick" => {
                let new = rest;
                if !valid_name(new) {
                    reply(format!(
                        "! invalid name {new:?}: use 1-{MAX_NAME_LEN} letters, digits, - or _"
                    ));
                } else if new == name {
                    reply(format!("! you are already {new}"));
                } else if room.ids.contains_key(new) {
                    reply(format!("! the name {new} is taken"));
                } else {
                    room.ids.remove(&name);
                    room.ids.insert(new.to_owned(), id);
                    room.names.insert(id, new.to_owned());
                    let _ = server.broadcast(format!("* {name} is now {new}"));
                }
            }
            "list" => {
                let names: Vec<&str> = room.ids.keys().map(String::as_str).collect();
                reply(format!("* online: {}", names.join(", ")));
            }
            "msg" => {
                let (to, message) = rest.split_once(' ').unwrap_or((rest, ""));
                let message = message.trim_start();
                if to.is_empty() || message.is_empty() {
                    return reply("! usage: /msg NAME text".to_owned());
                }
                let Some(&to_id) = room.ids.get(to) else {
                    return reply(format!("! no user named {to}"));
                };
                let line = format!("[private] {name} -> {to}: {message}");
                if to_id != id {
                    let _ = server.send_to(to_id, line.as_str());
                }
                reply(line);
            }
            "help" => reply(HELP.to_owned()),
            _ => reply(format!("! unknown command /{command} (try /help)")),
        }
    }
}

impl Handler for Chat {
    fn on_open(&self, server: &ServerHandle, connection: &ConnectionInfo) {
        let id = connection.id;
        let mut room = self.room();
        let mut name = format!("guest-{id}");
        // Someone may have taken this guest name with /nick.
        let mut n = 1;
        while room.ids.contains_key(&name) {
            n += 1;
            name = format!("guest-{id}-{n}");
        }
        room.names.insert(id, name.clone());
        room.ids.insert(name.clone(), id);
        // The notice goes out before the welcome. Once the newcomer has read
        // its welcome, everyone who was in the room has the notice queued,
        // and whoever connects after that cannot receive it: a client that
        // waits for its welcome sees a consistent room.
        let _ = server.broadcast_except(id, format!("* {name} joined"));
        let _ = server.send_to(id, format!("* welcome, {name}! type /help for commands"));
    }

    fn on_message(&self, server: &ServerHandle, id: ConnectionId, message: Message) {
        match message {
            Message::Text(text) => self.line(server, id, &text),
            _ => {
                let _ = server.send_to(id, "! only text messages are supported");
            }
        }
    }

    fn on_close(&self, server: &ServerHandle, id: ConnectionId, ending: Ending) {
        let mut room = self.room();
        if let Some(name) = room.names.remove(&id) {
            room.ids.remove(&name);
            let _ = server.broadcast(format!("* {name} left{}", why(&ending)));
        }
    }

    fn on_http(&self, request: &Request) -> Option<HttpResponse> {
        match (request.method.as_str(), request.path()) {
            ("GET", "/" | "/index.html") => Some(HttpResponse::html(crate::INDEX_HTML)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names_table() {
        let cases = [
            ("alice", true),
            ("a", true),
            ("Bob_2-x", true),
            (&"x".repeat(24), true),
            (&"x".repeat(25), false),
            ("", false),
            ("with space", false),
            ("ünï", false),
            ("a,b", false),
        ];
        for (name, ok) in cases {
            assert_eq!(valid_name(name), ok, "{name:?}");
        }
    }
}
