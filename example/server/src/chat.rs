//! The chat itself: who is online under which name, in which room, what
//! each room said lately, and what each line a client sends turns into.

use rusty_socket_core::http::Request;
use rusty_socket_core::Message;
use rusty_socket_server::{
    ConnectionId, ConnectionInfo, Ending, Handler, HttpResponse, ServerHandle,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// The longest chat line, in bytes.
pub const MAX_CHAT_MESSAGE: usize = 4096;

/// The longest name, in characters.
pub const MAX_NAME_LEN: usize = 24;

/// The longest room name, in characters.
pub const MAX_ROOM_LEN: usize = 32;

/// The room everyone starts in, and goes back to with `/leave`. It never
/// disappears.
pub const LOBBY: &str = "lobby";

/// The last chat lines of a room a newcomer is shown by default.
pub const DEFAULT_HISTORY: usize = 50;

/// The most bytes of history kept per room by default (64 KiB).
pub const DEFAULT_HISTORY_BYTES: usize = 64 << 10;

/// The most rooms that keep a history at once by default.
pub const DEFAULT_HISTORY_ROOMS: usize = 256;

/// The line that closes a replay of history.
pub const HISTORY_END: &str = "--- end of history ---";

const HELP: &str =
    "* commands: /nick NAME, /join ROOM, /leave, /rooms, /list, /msg NAME text, /help";

/// How much history the chat keeps.
///
/// Each room keeps at most `lines` chat lines and `room_bytes` bytes of
/// them (the oldest go first), and at most `rooms` rooms keep a history at
/// once: a room that starts one past that evicts the history of the room
/// that spoke least recently. A room's history goes with the room when
/// its last member leaves (the lobby stays). So the chat holds at most
/// `rooms * room_bytes` bytes of history, 16 MiB with the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Chat lines kept per room; 0 turns history off. Default
    /// [`DEFAULT_HISTORY`].
    pub lines: usize,
    /// Bytes of chat lines kept per room. Default [`DEFAULT_HISTORY_BYTES`].
    pub room_bytes: usize,
    /// Rooms keeping a history at once. Default [`DEFAULT_HISTORY_ROOMS`].
    pub rooms: usize,
}

impl Default for HistoryLimits {
    fn default() -> HistoryLimits {
        HistoryLimits {
            lines: DEFAULT_HISTORY,
            room_bytes: DEFAULT_HISTORY_BYTES,
            rooms: DEFAULT_HISTORY_ROOMS,
        }
    }
}

/// The last chat lines of one room.
#[derive(Debug, Default)]
struct History {
    lines: VecDeque<String>,
    bytes: usize,
    /// When the room last spoke, on the chat's clock of lines.
    last_used: u64,
}

/// One room: its members and what they said lately.
#[derive(Debug, Default)]
struct Room {
    members: BTreeSet<ConnectionId>,
    history: Option<History>,
}

/// One connected user.
#[derive(Debug)]
struct User {
    name: String,
    room: String,
}

/// Everything the chat knows, under one lock.
#[derive(Debug, Default)]
struct State {
    users: HashMap<ConnectionId, User>,
    /// Name to id, sorted, for `/list` and `/msg`.
    ids: BTreeMap<String, ConnectionId>,
    /// By name, sorted, for `/rooms`; the lobby is always there.
    rooms: BTreeMap<String, Room>,
    /// Rooms that have a history.
    with_history: usize,
    /// Counts chat lines, to find the room that spoke least recently.
    clock: u64,
}

/// The chat [`Handler`].
#[derive(Debug, Default)]
pub struct Chat {
    state: Mutex<State>,
    limits: HistoryLimits,
}

/// Whether `name` is acceptable: 1-24 letters, digits, `-` or `_`.
fn valid_name(name: &str) -> bool {
    valid_word(name, MAX_NAME_LEN)
}

/// Whether `room` is acceptable: 1-32 letters, digits, `-` or `_`.
fn valid_room(room: &str) -> bool {
    valid_word(room, MAX_ROOM_LEN)
}

fn valid_word(word: &str, max: usize) -> bool {
    !word.is_empty()
        && word.len() <= max
        && word
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

impl State {
    /// Queues `text` for every member of `room` but `except`.
    fn tell_room(
        &self,
        server: &ServerHandle,
        room: &str,
        except: Option<ConnectionId>,
        text: &str,
    ) {
        if let Some(room) = self.rooms.get(room) {
            let _ = server
                .broadcast_filter(text, |id| Some(id) != except && room.members.contains(&id));
        }
    }

    /// Puts `id` in `room`, creating it; tells the room and replays its
    /// history to `id`.
    fn enter(&mut self, server: &ServerHandle, id: ConnectionId, name: &str, room: &str) {
        self.tell_room(server, room, Some(id), &format!("* {name} joined"));
        self.rooms
            .entry(room.to_owned())
            .or_default()
            .members
            .insert(id);
        if let Some(user) = self.users.get_mut(&id) {
            user.room = room.to_owned();
        }
    }

    /// Takes `id` out of its room; tells the others `* NAME left{why}`; an
    /// empty room other than the lobby goes, with its history.
    fn exit(&mut self, server: &ServerHandle, id: ConnectionId, why: &str) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        let (name, room) = (user.name.clone(), user.room.clone());
        let Some(members) = self.rooms.get_mut(&room).map(|r| &mut r.members) else {
            return;
        };
        members.remove(&id);
        let empty = members.is_empty();
        self.tell_room(server, &room, None, &format!("* {name} left{why}"));
        if empty && room != LOBBY {
            if let Some(gone) = self.rooms.remove(&room) {
                if gone.history.is_some() {
                    self.with_history -= 1;
                }
            }
        }
    }

    /// Sends `id` the history of `room`, between a header and a footer;
    /// nothing when there is none.
    fn replay(&self, server: &ServerHandle, id: ConnectionId, room: &str) {
        let Some(history) = self.rooms.get(room).and_then(|r| r.history.as_ref()) else {
            return;
        };
        if history.lines.is_empty() {
            return;
        }
        let n = history.lines.len();
        let plural = if n == 1 { "" } else { "s" };
        let _ = server.send_to(
            id,
            format!("--- history of #{room} ({n} message{plural}) ---"),
        );
        for line in &history.lines {
            let _ = server.send_to(id, line.as_str());
        }
        let _ = server.send_to(id, HISTORY_END);
    }

    /// Keeps `line` in the history of `room`, within `limits`.
    fn remember(&mut self, limits: &HistoryLimits, room: &str, line: &str) {
        if limits.lines == 0
            || limits.rooms == 0
            || line.len() > limits.room_bytes
            || !self.rooms.contains_key(room)
        {
            return;
        }
        self.clock += 1;
        let has_history = self.rooms.get(room).is_some_and(|r| r.history.is_some());
        if !has_history {
            if self.with_history >= limits.rooms {
                // Evict the history of the room that spoke least recently.
                let oldest = self
                    .rooms
                    .iter()
                    .filter_map(|(name, r)| r.history.as_ref().map(|h| (h.last_used, name)))
                    .min()
                    .map(|(_, name)| name.clone());
                if let Some(oldest) = oldest {
                    if let Some(r) = self.rooms.get_mut(&oldest) {
                        r.history = None;
                        self.with_history -= 1;
                    }
                }
            }
            self.with_history += 1;
        }
        let Some(room) = self.rooms.get_mut(room) else {
            return;
        };
        let history = room.history.get_or_insert_with(History::default);
        history.last_used = self.clock;
        history.lines.push_back(line.to_owned());
        history.bytes += line.len();
        while history.lines.len() > limits.lines || history.bytes > limits.room_bytes {
            let Some(old) = history.lines.pop_front() else {
                break;
            };
            history.bytes -= old.len();
        }
    }
}

impl Chat {
    /// An empty chat, with the default history limits.
    pub fn new() -> Chat {
        Chat::default()
    }

    /// An empty chat that keeps history within `limits`.
    pub fn with_history(limits: HistoryLimits) -> Chat {
        Chat {
            state: Mutex::default(),
            limits,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one line from `id`. The chat stays locked while the answers
    /// are queued, so every client sees events in the same order.
    fn line(&self, server: &ServerHandle, id: ConnectionId, text: &str) {
        let mut state = self.state();
        let Some(user) = state.users.get(&id) else {
            return;
        };
        let (name, room) = (user.name.clone(), user.room.clone());
        let reply = |text: String| {
            let _ = server.send_to(id, text);
        };
        if text.len() > MAX_CHAT_MESSAGE {
            return reply("! message too long".to_owned());
        }
        let Some(command) = text.strip_prefix('/') else {
            if !text.trim().is_empty() {
                let line = format!("{name}: {text}");
                state.tell_room(server, &room, None, &line);
                state.remember(&self.limits, &room, &line);
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
                } else if state.ids.contains_key(new) {
                    reply(format!("! the name {new} is taken"));
                } else {
                    state.ids.remove(&name);
                    state.ids.insert(new.to_owned(), id);
                    if let Some(user) = state.users.get_mut(&id) {
                        user.name = new.to_owned();
                    }
                    // Names are global: everyone hears of the change.
                    let _ = server.broadcast(format!("* {name} is now {new}"));
                }
            }
            "join" | "leave" => {
                let to = if command == "leave" {
                    LOBBY
                } else {
                    rest.strip_prefix('#').unwrap_or(rest)
                };
                if !valid_room(to) {
                    reply(format!(
                        "! invalid room name {to:?}: use 1-{MAX_ROOM_LEN} letters, digits, - or _"
                    ));
                } else if to == room {
                    reply(format!("! you are already in #{to}"));
                } else {
                    state.exit(server, id, &format!(" for #{to}"));
                    state.enter(server, id, &name, to);
                    let here = state.rooms.get(to).map_or(0, |r| r.members.len());
                    reply(format!("* you are now in #{to} ({here} here)"));
                    state.replay(server, id, to);
                }
            }
            "rooms" => {
                let rooms: Vec<String> = state
                    .rooms
                    .iter()
                    .map(|(name, r)| format!("{name} ({})", r.members.len()))
                    .collect();
                reply(format!("* rooms: {}", rooms.join(", ")));
            }
            "list" => {
                let mut names: Vec<&str> = state.rooms[&room]
                    .members
                    .iter()
                    .filter_map(|m| state.users.get(m).map(|u| u.name.as_str()))
                    .collect();
                names.sort_unstable();
                reply(format!("* online in #{room}: {}", names.join(", ")));
            }
            "msg" => {
                let (to, message) = rest.split_once(' ').unwrap_or((rest, ""));
                let message = message.trim_start();
                if to.is_empty() || message.is_empty() {
                    return reply("! usage: /msg NAME text".to_owned());
                }
                let Some(&to_id) = state.ids.get(to) else {
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
        let mut state = self.state();
        let mut name = format!("guest-{id}");
        // Someone may have taken this guest name with /nick.
        let mut n = 1;
        while state.ids.contains_key(&name) {
            n += 1;
            name = format!("guest-{id}-{n}");
        }
        state.users.insert(
            id,
            User {
                name: name.clone(),
                room: LOBBY.to_owned(),
            },
        );
        state.ids.insert(name.clone(), id);
        // The notice goes out before the welcome. Once the newcomer has read
        // its welcome, everyone who was in the room has the notice queued,
        // and whoever connects after that cannot receive it: a client that
        // waits for its welcome sees a consistent room.
        state.enter(server, id, &name, LOBBY);
        let _ = server.send_to(id, format!("* welcome, {name}! type /help for commands"));
        state.replay(server, id, LOBBY);
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
        let mut state = self.state();
        state.exit(server, id, &why(&ending));
        if let Some(user) = state.users.remove(&id) {
            state.ids.remove(&user.name);
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
    use super::{valid_name, valid_room};

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

    #[test]
    fn rooms_table() {
        let cases = [
            ("lobby", true),
            ("rust-lang_2", true),
            (&"r".repeat(32), true),
            (&"r".repeat(33), false),
            ("", false),
            ("#rust", false),
            ("two words", false),
            ("café", false),
        ];
        for (room, ok) in cases {
            assert_eq!(valid_room(room), ok, "{room:?}");
        }
    }
}
