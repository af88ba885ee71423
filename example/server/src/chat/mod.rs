//! The chat itself: who is online under which name, in which room, what
//! each room said lately, and what each line a client sends turns into.

mod remote;

use crate::cluster::{self, Cluster, Event};
use rusty_socket_core::http::Request;
use rusty_socket_core::Message;
use rusty_socket_server::broker::Claim;
use rusty_socket_server::{
    ConnectionId, ConnectionInfo, Ending, Handler, HttpResponse, ServerHandle,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;

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

/// The chat [`Handler`]: on its own, or one node of several that share a
/// broker ([`Chat::clustered`], [`crate::cluster`]). Clones share one
/// chat.
#[derive(Debug, Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

/// What the handler and the broker's callbacks share.
#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    limits: HistoryLimits,
    cluster: Option<Cluster>,
    /// The server, once bound: remote events are delivered through it.
    server: OnceLock<ServerHandle>,
    /// Set to wake the heartbeat early (the broker came back).
    wake: Mutex<bool>,
    woken: Condvar,
    /// Whether the users were told that the other servers are unreachable.
    told_down: AtomicBool,
    /// Whether the heartbeat should stop.
    stopping: AtomicBool,
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

    /// Queues `text` for every user of the chat but `except`: connections
    /// whose welcome is still being prepared (and are not users yet) are
    /// left out, so that the welcome is always the first line a user reads.
    fn tell_all(&self, server: &ServerHandle, except: Option<ConnectionId>, text: &str) {
        let _ = server.broadcast_filter(text, |id| {
            Some(id) != except && self.users.contains_key(&id)
        });
    }

    /// Puts `id` in `room`, creating it; tells the room, here and on the
    /// other nodes. The caller has told the other nodes where `id` is
    /// first ([`Event::Join`]), so that whoever reads the notice there can
    /// address the newcomer at once.
    fn enter(
        &mut self,
        server: &ServerHandle,
        cluster: Option<&Cluster>,
        id: ConnectionId,
        name: &str,
        room: &str,
    ) {
        let notice = format!("* {name} joined");
        self.tell_room(server, room, Some(id), &notice);
        if let Some(cluster) = cluster {
            cluster.publish(&Event::Notice {
                room: room.to_owned(),
                text: notice,
            });
        }
        self.rooms
            .entry(room.to_owned())
            .or_default()
            .members
            .insert(id);
        if let Some(user) = self.users.get_mut(&id) {
            user.room = room.to_owned();
        }
    }

    /// Takes `id` out of its room; tells the others `* NAME left{why}`,
    /// here and on the other nodes (after the caller told them where `id`
    /// went, or that it left: [`Event::Join`], [`Event::Leave`]); an empty
    /// room other than the lobby goes, with its history.
    fn exit(
        &mut self,
        server: &ServerHandle,
        cluster: Option<&Cluster>,
        id: ConnectionId,
        why: &str,
    ) {
        let Some(user) = self.users.get(&id) else {
            return;
        };
        let (name, room) = (user.name.clone(), user.room.clone());
        let Some(members) = self.rooms.get_mut(&room).map(|r| &mut r.members) else {
            return;
        };
        members.remove(&id);
        let empty = members.is_empty();
        let notice = format!("* {name} left{why}");
        self.tell_room(server, &room, None, &notice);
        if let Some(cluster) = cluster {
            cluster.publish(&Event::Notice {
                room: room.clone(),
                text: notice,
            });
        }
        if empty && room != LOBBY {
            if let Some(gone) = self.rooms.remove(&room) {
                if gone.history.is_some() {
                    self.with_history -= 1;
                }
            }
        }
    }

    /// Sends `id` the history of `room` (the broker's, when it gave one,
    /// else this node's own), between a header and a footer; nothing when
    /// there is none.
    fn replay(
        &self,
        server: &ServerHandle,
        id: ConnectionId,
        room: &str,
        from_broker: Option<Vec<String>>,
    ) {
        let local = self
            .rooms
            .get(room)
            .and_then(|r| r.history.as_ref())
            .map(|h| h.lines.iter().map(String::as_str).collect::<Vec<_>>());
        let lines: Vec<&str> = match &from_broker {
            Some(lines) => lines.iter().map(String::as_str).collect(),
            None => local.unwrap_or_default(),
        };
        if lines.is_empty() {
            return;
        }
        let n = lines.len();
        let plural = if n == 1 { "" } else { "s" };
        let _ = server.send_to(
            id,
            format!("--- history of #{room} ({n} message{plural}) ---"),
        );
        for line in lines {
            let _ = server.send_to(id, line);
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

impl Default for Chat {
    fn default() -> Chat {
        Chat::new()
    }
}

impl Chat {
    /// An empty chat, with the default history limits.
    pub fn new() -> Chat {
        Chat::with_history(HistoryLimits::default())
    }

    /// An empty chat that keeps history within `limits`.
    pub fn with_history(limits: HistoryLimits) -> Chat {
        Chat::build(limits, None)
    }

    /// One node of a chat spread over every server whose `cluster` shares
    /// one broker (see [`crate::cluster`]): chat lines, notices,
    /// private messages, who is online, names and history cross nodes.
    /// It starts working once bound ([`crate::bind_chat`]).
    ///
    /// ```
    /// use chat_server::{cluster::Cluster, Chat, HistoryLimits};
    /// use rusty_socket_server::broker::LocalBroker;
    /// use std::sync::Arc;
    /// // Two nodes of one chat in one process.
    /// let broker = Arc::new(LocalBroker::new());
    /// let a = Chat::clustered(HistoryLimits::default(), Cluster::new(broker.clone(), "a"));
    /// let b = Chat::clustered(HistoryLimits::default(), Cluster::new(broker, "b"));
    /// let a = chat_server::bind_chat(chat_server::config("127.0.0.1:0"), a)?.spawn()?;
    /// let b = chat_server::bind_chat(chat_server::config("127.0.0.1:0"), b)?.spawn()?;
    /// # a.shutdown(); b.shutdown();
    /// # Ok::<(), rusty_socket_server::Error>(())
    /// ```
    pub fn clustered(limits: HistoryLimits, cluster: Cluster) -> Chat {
        Chat::build(limits, Some(cluster))
    }

    fn build(limits: HistoryLimits, cluster: Option<Cluster>) -> Chat {
        Chat {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                limits,
                cluster,
                server: OnceLock::new(),
                wake: Mutex::new(false),
                woken: Condvar::new(),
                told_down: AtomicBool::new(false),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    /// Connects the chat to its server: remote events are delivered
    /// through `server`. For a clustered chat, subscribes to the broker,
    /// starts the heartbeat and says hello to the other nodes. Called by
    /// [`crate::bind_chat`]; a second call does nothing.
    pub fn attach(&self, server: ServerHandle) {
        let addr = server.local_addr();
        if self.inner.server.set(server).is_err() {
            return;
        }
        let Some(cluster) = &self.inner.cluster else {
            return;
        };
        cluster.name_if_unnamed(|| cluster::default_node(addr));
        let weak = Arc::downgrade(&self.inner);
        cluster.broker().subscribe(
            cluster::CHANNEL,
            Arc::new(move |payload: &[u8]| {
                if let Some(inner) = weak.upgrade() {
                    inner.on_broker_message(payload);
                }
            }),
        );
        let weak = Arc::downgrade(&self.inner);
        cluster.broker().on_state(Arc::new(move |state| {
            if let Some(inner) = weak.upgrade() {
                inner.on_broker_state(state);
            }
        }));
        cluster.publish(&Event::Hello);
        let weak = Arc::downgrade(&self.inner);
        let started = thread::Builder::new()
            .name("chat-heartbeat".to_owned())
            .spawn(move || remote::heartbeat(&weak));
        if let Err(e) = started {
            eprintln!("chat_server: cannot start the heartbeat: {e}");
        }
    }

    /// Begins a graceful stop: tells this node's users that the server is
    /// stopping and, for a clustered chat, leaves the other nodes at once
    /// (says goodbye, so they forget its users, and releases its users'
    /// names). The caller then shuts the server down, which closes every
    /// connection with 1001 ([`ServerHandle::shutdown`]).
    pub fn stop(&self) {
        let inner = &self.inner;
        inner.stopping.store(true, Ordering::Release);
        inner.wake_heartbeat();
        let names: Vec<String> = {
            let state = inner.state();
            if let Some(server) = inner.server.get() {
                state.tell_all(server, None, "* this server is stopping");
            }
            state.ids.keys().cloned().collect()
        };
        let Some(cluster) = &inner.cluster else {
            return;
        };
        cluster.publish(&Event::Bye);
        for name in names {
            let _ = cluster
                .broker()
                .release(&cluster::name_key(&name), cluster.node());
        }
    }

    /// This node's name, for a clustered chat.
    pub fn node(&self) -> Option<&str> {
        self.inner.cluster.as_ref().map(Cluster::node)
    }

    /// The broker's state and counters as JSON, for `/stats`; `None` for
    /// a chat on its own.
    pub fn broker_json(&self) -> Option<String> {
        self.inner.broker_json()
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cluster, if the broker can be reached now.
    fn reachable(&self) -> Option<&Cluster> {
        self.cluster.as_ref().filter(|c| c.is_up())
    }

    /// Handles `/nick new` from `id`, now `name`. The chat is not locked
    /// while the broker is asked for the name.
    fn nick(&self, server: &ServerHandle, id: ConnectionId, name: &str, new: &str) {
        let reply = |text: String| {
            let _ = server.send_to(id, text);
        };
        if !valid_name(new) {
            return reply(format!(
                "! invalid name {new:?}: use 1-{MAX_NAME_LEN} letters, digits, - or _"
            ));
        }
        if new == name {
            return reply(format!("! you are already {new}"));
        }
        let taken_here = |state: &State| {
            state.ids.contains_key(new)
                || self
                    .cluster
                    .as_ref()
                    .is_some_and(|c| c.node_of(new).is_some())
        };
        if taken_here(&self.state()) {
            return reply(format!("! the name {new} is taken"));
        }
        let claimed = match self.reachable() {
            Some(cluster) => {
                let key = cluster::name_key(new);
                match cluster
                    .broker()
                    .claim(&key, cluster.node(), cluster.timings().name_ttl)
                {
                    Ok(Claim::Theirs(_)) => return reply(format!("! the name {new} is taken")),
                    Ok(Claim::Ours) => true,
                    // Unreachable: a local name, claimed when it is back.
                    Err(_) => false,
                }
            }
            None => false,
        };
        let mut state = self.state();
        if taken_here(&state) || state.users.get(&id).is_none_or(|u| u.name != name) {
            drop(state);
            if claimed {
                self.release_name(new);
            }
            return reply(format!("! the name {new} is taken"));
        }
        state.ids.remove(name);
        state.ids.insert(new.to_owned(), id);
        let room = match state.users.get_mut(&id) {
            Some(user) => {
                user.name = new.to_owned();
                user.room.clone()
            }
            None => return,
        };
        // Names are global: everyone hears of the change (the other nodes
        // after they know the new name).
        let notice = format!("* {name} is now {new}");
        state.tell_all(server, None, &notice);
        if let Some(cluster) = &self.cluster {
            cluster.publish(&Event::Leave {
                name: name.to_owned(),
            });
            cluster.publish(&Event::Join {
                name: new.to_owned(),
                room,
            });
            cluster.publish(&Event::All { text: notice });
        }
        drop(state);
        self.release_name(name);
    }

    /// Gives `name` back to the broker, if this node holds it there.
    fn release_name(&self, name: &str) {
        if let Some(cluster) = self.reachable() {
            let _ = cluster
                .broker()
                .release(&cluster::name_key(name), cluster.node());
        }
    }

    /// Handles `/join room` (or `/leave`, `to` being the lobby).
    fn join(&self, server: &ServerHandle, id: ConnectionId, name: &str, room: &str, to: &str) {
        let reply = |text: String| {
            let _ = server.send_to(id, text);
        };
        if !valid_room(to) {
            return reply(format!(
                "! invalid room name {to:?}: use 1-{MAX_ROOM_LEN} letters, digits, - or _"
            ));
        }
        if to == room {
            return reply(format!("! you are already in #{to}"));
        }
        let history = self.broker_history(to);
        let cluster = self.cluster.as_ref();
        let mut state = self.state();
        if state.users.get(&id).is_none_or(|u| u.room != room) {
            return;
        }
        if let Some(cluster) = cluster {
            cluster.publish(&Event::Join {
                name: name.to_owned(),
                room: to.to_owned(),
            });
        }
        state.exit(server, cluster, id, &format!(" for #{to}"));
        state.enter(server, cluster, id, name, to);
        let here = state.rooms.get(to).map_or(0, |r| r.members.len())
            + cluster.map_or(0, |c| c.names_in(to).len());
        reply(format!("* you are now in #{to} ({here} here)"));
        state.replay(server, id, to, history);
    }

    /// Handles one line from `id`. The chat stays locked while the answers
    /// are queued, so every client sees events in the same order; it is
    /// not locked while the broker is asked something.
    fn line(&self, server: &ServerHandle, id: ConnectionId, text: &str) {
        let (name, room) = {
            let state = self.state();
            let Some(user) = state.users.get(&id) else {
                return;
            };
            (user.name.clone(), user.room.clone())
        };
        let reply = |text: String| {
            let _ = server.send_to(id, text);
        };
        if text.len() > MAX_CHAT_MESSAGE {
            return reply("! message too long".to_owned());
        }
        let cluster = self.cluster.as_ref();
        let Some(command) = text.strip_prefix('/') else {
            if text.trim().is_empty() {
                return;
            }
            let line = format!("{name}: {text}");
            {
                let mut state = self.state();
                state.tell_room(server, &room, None, &line);
                state.remember(&self.limits, &room, &line);
                if let Some(cluster) = cluster {
                    cluster.publish(&Event::Line {
                        room: room.clone(),
                        text: line.clone(),
                    });
                }
            }
            if let Some(cluster) = self.reachable() {
                if self.limits.lines > 0 && self.limits.rooms > 0 {
                    let _ = cluster.broker().push_bounded(
                        &cluster::history_key(&room),
                        &line,
                        self.limits.lines,
                        cluster::HISTORY_TTL,
                    );
                }
            }
            return;
        };
        let (command, rest) = command.split_once(' ').unwrap_or((command, ""));
        let rest = rest.trim();
        match command {
            "nick" => self.nick(server, id, &name, rest),
            "join" => self.join(
                server,
                id,
                &name,
                &room,
                rest.strip_prefix('#').unwrap_or(rest),
            ),
            "leave" => self.join(server, id, &name, &room, LOBBY),
            "rooms" => {
                let state = self.state();
                let mut counts: BTreeMap<String, usize> =
                    cluster.map(Cluster::rooms).unwrap_or_default();
                for (room, r) in &state.rooms {
                    *counts.entry(room.clone()).or_insert(0) += r.members.len();
                }
                let rooms: Vec<String> = counts
                    .iter()
                    .map(|(name, n)| format!("{name} ({n})"))
                    .collect();
                reply(format!("* rooms: {}", rooms.join(", ")));
            }
            "list" => {
                let state = self.state();
                let mut names: Vec<String> = state
                    .rooms
                    .get(&room)
                    .map(|r| {
                        r.members
                            .iter()
                            .filter_map(|m| state.users.get(m).map(|u| u.name.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(cluster) = cluster {
                    names.extend(cluster.names_in(&room));
                }
                names.sort_unstable();
                names.dedup();
                reply(format!("* online in #{room}: {}", names.join(", ")));
            }
            "msg" => {
                let (to, message) = rest.split_once(' ').unwrap_or((rest, ""));
                let message = message.trim_start();
                if to.is_empty() || message.is_empty() {
                    return reply("! usage: /msg NAME text".to_owned());
                }
                let line = format!("[private] {name} -> {to}: {message}");
                let state = self.state();
                if let Some(&to_id) = state.ids.get(to) {
                    if to_id != id {
                        let _ = server.send_to(to_id, line.as_str());
                    }
                } else if let Some(cluster) = cluster.filter(|c| c.node_of(to).is_some()) {
                    cluster.publish(&Event::Private {
                        to: to.to_owned(),
                        text: line.clone(),
                    });
                } else {
                    return reply(format!("! no user named {to}"));
                }
                reply(line);
            }
            "help" => reply(HELP.to_owned()),
            _ => reply(format!("! unknown command /{command} (try /help)")),
        }
    }
}

/// `guest-ID`, or `guest-ID-N` if someone took that with `/nick`.
fn local_guest_name(state: &State, id: ConnectionId) -> String {
    let mut name = format!("guest-{id}");
    let mut n = 1;
    while state.ids.contains_key(&name) {
        n += 1;
        name = format!("guest-{id}-{n}");
    }
    name
}

impl Handler for Chat {
    fn on_open(&self, server: &ServerHandle, connection: &ConnectionInfo) {
        let inner = &self.inner;
        let id = connection.id;
        let guest = inner.guest_name();
        let history = inner.broker_history(LOBBY);
        let cluster = inner.cluster.as_ref();
        let mut state = inner.state();
        let name = match guest {
            Some(name) if !state.ids.contains_key(&name) => name,
            _ => local_guest_name(&state, id),
        };
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
        if let Some(cluster) = cluster {
            cluster.publish(&Event::Join {
                name: name.clone(),
                room: LOBBY.to_owned(),
            });
        }
        state.enter(server, cluster, id, &name, LOBBY);
        let _ = server.send_to(id, format!("* welcome, {name}! type /help for commands"));
        state.replay(server, id, LOBBY, history);
    }

    fn on_message(&self, server: &ServerHandle, id: ConnectionId, message: Message) {
        match message {
            Message::Text(text) => self.inner.line(server, id, &text),
            _ => {
                let _ = server.send_to(id, "! only text messages are supported");
            }
        }
    }

    fn on_close(&self, server: &ServerHandle, id: ConnectionId, ending: Ending) {
        let inner = &self.inner;
        let gone = {
            let mut state = inner.state();
            if let (Some(cluster), Some(user)) = (&inner.cluster, state.users.get(&id)) {
                cluster.publish(&Event::Leave {
                    name: user.name.clone(),
                });
            }
            state.exit(server, inner.cluster.as_ref(), id, &why(&ending));
            let gone = state.users.remove(&id);
            if let Some(user) = &gone {
                state.ids.remove(&user.name);
            }
            gone
        };
        if let Some(user) = gone {
            inner.release_name(&user.name);
        }
    }

    fn on_http(&self, request: &Request) -> Option<HttpResponse> {
        match (request.method.as_str(), request.path()) {
            ("GET", "/" | "/index.html") => Some(HttpResponse::html(crate::INDEX_HTML)),
            ("GET", "/health") if self.inner.cluster.is_some() => {
                let state = self.inner.cluster.as_ref().map(|c| c.broker().state())?;
                Some(HttpResponse::text(200, format!("ok\nbroker: {state}\n")))
            }
            ("GET", "/stats") => {
                let broker = self.inner.broker_json()?;
                let server = self.inner.server.get()?;
                let mut json = server.stats().to_json();
                if json.ends_with('}') {
                    json.pop();
                    json.push_str(&format!(",\"broker\":{broker}}}"));
                }
                Some(HttpResponse::json(json))
            }
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
