//! Several chat servers as one chat: what the nodes tell each other through
//! a [`Broker`], and what each node knows of the others.
//!
//! Every node publishes on one channel, [`CHANNEL`], in an [`Envelope`]
//! that carries its name, and every node hears everything (its own
//! messages it skips: it delivered them itself already). What travels:
//!
//! | event | what the receiving nodes do |
//! |---|---|
//! | `line ROOM TEXT` | show a chat line to their users in ROOM, and keep it in their own history of ROOM |
//! | `notice ROOM TEXT` | show a notice (joined, left) to their users in ROOM |
//! | `all TEXT` | show it to all their users (a rename) |
//! | `private NAME TEXT` | show it to their user NAME, if they have one |
//! | `users NAME ROOM ...` | replace what they know of the sender's users: its whole list, every [`HEARTBEAT`] |
//! | `join NAME ROOM`, `leave NAME` | update that list at once |
//! | `hello` | a node (re)joined: everyone sends it their list |
//! | `bye` | the node is stopping: forget its users |
//!
//! **Per-sender order, exactly once.** One node's messages reach the others
//! in the order it published them (the broker promises that), and a node
//! delivers a message to its own users itself, once, without waiting for
//! the broker; nothing is delivered twice because a node skips its own.
//!
//! **Who is online** on other nodes is known from their lists, not asked
//! for: `/list`, `/rooms` and `/msg` answer at once from memory. A node
//! whose list has not been refreshed for [`NODE_TIMEOUT`] (it died, or the
//! broker lost it) is forgotten: its users leave everyone's lists within
//! [`NODE_TIMEOUT`] plus one [`HEARTBEAT`].
//!
//! **Names** are claimed in the broker (`chat:name:NAME`, owned by the
//! node) for [`NAME_TTL`] and refreshed every [`HEARTBEAT`], so a name is
//! unique across nodes, and the names of a node that died come free. Guest
//! names come from one counter in the broker (`chat:guests`).
//!
//! **History** of a room is a bounded list in the broker
//! (`chat:history:ROOM`), the same from every node.
//!
//! **When the broker is unreachable**, a node keeps its own users chatting
//! (everything above falls back to what the node itself knows), tells them
//! once, forgets the other nodes, and when the broker is back claims its
//! users' names again: a name taken meanwhile on another node stays there,
//! and the local user gets a new one with a notice.

use rusty_socket_server::broker::{Broker, BrokerState, Envelope};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The channel every node publishes on and listens to.
pub const CHANNEL: &str = "chat:events";

/// How often a node sends its list of users and renews its name claims.
pub const HEARTBEAT: Duration = Duration::from_secs(3);

/// How long a node's list is believed without a refresh.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a name claim lasts without a renewal.
pub const NAME_TTL: Duration = Duration::from_secs(15);

/// How long a room's history stays in the broker after its last line.
pub const HISTORY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The broker key of a claimed name.
pub fn name_key(name: &str) -> String {
    format!("chat:name:{name}")
}

/// The broker key of a room's history.
pub fn history_key(room: &str) -> String {
    format!("chat:history:{room}")
}

/// The broker key of the guest counter.
pub const GUESTS_KEY: &str = "chat:guests";

/// The name a node gets unless it is given one: the host's name (from
/// `/proc/sys/kernel/hostname` or `/etc/hostname`, else `localhost`) and
/// the port it listens on, as `host:port`.
pub fn default_node(addr: SocketAddr) -> String {
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| {
            let name = std::fs::read_to_string(path).ok()?;
            let name = name.trim();
            (!name.is_empty()).then(|| name.to_owned())
        })
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{}", addr.port())
}

/// What nodes tell each other (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A chat line for a room, already formatted (`NAME: text`).
    Line {
        /// The room.
        room: String,
        /// The line.
        text: String,
    },
    /// A notice for a room.
    Notice {
        /// The room.
        room: String,
        /// The notice.
        text: String,
    },
    /// A notice for everyone.
    All {
        /// The notice.
        text: String,
    },
    /// A private message for one user, wherever they are.
    Private {
        /// Who it is for.
        to: String,
        /// The whole line, as shown.
        text: String,
    },
    /// The sender's users and their rooms: all of them.
    Users(Vec<(String, String)>),
    /// One of the sender's users entered a room (or got a new name).
    Join {
        /// The user.
        name: String,
        /// The room.
        room: String,
    },
    /// One of the sender's users left (or lost a name).
    Leave {
        /// The user.
        name: String,
    },
    /// The sender (re)joined: everyone sends their lists.
    Hello,
    /// The sender is stopping.
    Bye,
}

impl Event {
    /// The text form: a word, then fields each on a line of its own; the
    /// last field (a text) may hold anything, newlines included. Names
    /// and rooms never hold spaces or newlines (the chat checks them).
    pub fn encode(&self) -> String {
        match self {
            Event::Line { room, text } => format!("line\n{room}\n{text}"),
            Event::Notice { room, text } => format!("notice\n{room}\n{text}"),
            Event::All { text } => format!("all\n{text}"),
            Event::Private { to, text } => format!("private\n{to}\n{text}"),
            Event::Users(users) => {
                let mut out = "users".to_owned();
                for (name, room) in users {
                    out.push('\n');
                    out.push_str(name);
                    out.push(' ');
                    out.push_str(room);
                }
                out
            }
            Event::Join { name, room } => format!("join\n{name}\n{room}"),
            Event::Leave { name } => format!("leave\n{name}"),
            Event::Hello => "hello".to_owned(),
            Event::Bye => "bye".to_owned(),
        }
    }

    /// Reads the text form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Event> {
        let (kind, rest) = text.split_once('\n').unwrap_or((text, ""));
        let two = || {
            rest.split_once('\n')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        };
        Some(match kind {
            "line" => {
                let (room, text) = two()?;
                Event::Line { room, text }
            }
            "notice" => {
                let (room, text) = two()?;
                Event::Notice { room, text }
            }
            "all" => Event::All {
                text: rest.to_owned(),
            },
            "private" => {
                let (to, text) = two()?;
                Event::Private { to, text }
            }
            "users" => Event::Users(
                rest.split('\n')
                    .filter(|line| !line.is_empty())
                    .map(|line| {
                        line.split_once(' ')
                            .map(|(name, room)| (name.to_owned(), room.to_owned()))
                    })
                    .collect::<Option<Vec<_>>>()?,
            ),
            "join" => {
                let (name, room) = two()?;
                Event::Join { name, room }
            }
            "leave" => Event::Leave {
                name: rest.to_owned(),
            },
            "hello" => Event::Hello,
            "bye" => Event::Bye,
            _ => return None,
        })
    }
}

/// What a node knows of another: its users and their rooms, and when it
/// last said.
#[derive(Debug)]
struct Peer {
    users: HashMap<String, String>,
    heard: Instant,
}

/// How often a node speaks up, and how long what it says is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How often a node sends its users and renews its names; default
    /// [`HEARTBEAT`].
    pub heartbeat: Duration,
    /// How long a node's list is believed without a refresh; default
    /// [`NODE_TIMEOUT`].
    pub node_timeout: Duration,
    /// How long a name claim lasts without a renewal; default [`NAME_TTL`].
    pub name_ttl: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            heartbeat: HEARTBEAT,
            node_timeout: NODE_TIMEOUT,
            name_ttl: NAME_TTL,
        }
    }
}

/// This node's link to the others.
pub struct Cluster {
    broker: Arc<dyn Broker>,
    node: OnceLock<String>,
    timing: Timing,
    peers: Mutex<HashMap<String, Peer>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("state", &self.broker.state())
            .finish()
    }
}

impl Cluster {
    /// This node, named `node`, on `broker`. An empty name is decided
    /// when the chat is bound: the host's name and the port
    /// ([`default_node`]).
    pub fn new(broker: Arc<dyn Broker>, node: &str) -> Cluster {
        let name = OnceLock::new();
        if !node.is_empty() {
            let _ = name.set(node.to_owned());
        }
        Cluster {
            broker,
            node: name,
            timing: Timing::default(),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// The same, speaking up and believing others as `timing` says (tests
    /// use short times).
    pub fn timing(mut self, timing: Timing) -> Cluster {
        self.timing = timing;
        self
    }

    /// How often this node speaks up, and how long it believes others.
    pub fn timings(&self) -> Timing {
        self.timing
    }

    /// The broker.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// This node's name (empty until it is decided).
    pub fn node(&self) -> &str {
        self.node.get().map_or("", String::as_str)
    }

    /// Names the node, unless it has a name already.
    pub fn name_if_unnamed(&self, node: impl FnOnce() -> String) {
        if self.node.get().is_none() {
            let _ = self.node.set(node());
        }
    }

    /// Whether the broker can be reached now.
    pub fn is_up(&self) -> bool {
        self.broker.state() == BrokerState::Up
    }

    fn peers(&self) -> MutexGuard<'_, HashMap<String, Peer>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the other nodes; what the broker cannot take is counted by
    /// it and lost (the local users got it already).
    pub fn publish(&self, event: &Event) {
        let wire = Envelope::encode(self.node(), event.encode().as_bytes());
        let _ = self.broker.publish(CHANNEL, &wire);
    }

    /// Reads a message from the channel: the event and the node it came
    /// from, unless it is this node's own or not an event.
    pub fn receive(&self, payload: &[u8]) -> Option<(String, Event)> {
        let envelope = Envelope::decode(payload)?;
        if envelope.origin == self.node() {
            return None;
        }
        let event = Event::decode(std::str::from_utf8(envelope.body).ok()?)?;
        let origin = envelope.origin.to_owned();
        self.learn(&origin, &event);
        Some((origin, event))
    }

    /// Updates what we know of `origin`'s users from `event`.
    fn learn(&self, origin: &str, event: &Event) {
        let mut peers = self.peers();
        if *event == Event::Bye {
            peers.remove(origin);
            return;
        }
        let peer = peers.entry(origin.to_owned()).or_insert_with(|| Peer {
            users: HashMap::new(),
            heard: Instant::now(),
        });
        peer.heard = Instant::now();
        match event {
            Event::Users(users) => peer.users = users.iter().cloned().collect(),
            Event::Join { name, room } => {
                peer.users.insert(name.clone(), room.clone());
            }
            Event::Leave { name } => {
                peer.users.remove(name);
            }
            _ => {}
        }
    }

    /// Forgets nodes not heard from within the node timeout.
    pub fn forget_silent(&self) {
        let now = Instant::now();
        let timeout = self.timing.node_timeout;
        self.peers()
            .retain(|_, peer| now.duration_since(peer.heard) < timeout);
    }

    /// Forgets every other node (the broker is unreachable: their users
    /// cannot be reached either).
    pub fn forget_all(&self) {
        self.peers().clear();
    }

    /// The node a remote user `name` is on.
    pub fn node_of(&self, name: &str) -> Option<String> {
        self.peers()
            .iter()
            .find(|(_, peer)| peer.users.contains_key(name))
            .map(|(node, _)| node.clone())
    }

    /// The remote users in `room`.
    pub fn names_in(&self, room: &str) -> Vec<String> {
        self.peers()
            .values()
            .flat_map(|peer| peer.users.iter())
            .filter(|(_, r)| r.as_str() == room)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The rooms remote users are in, with how many each.
    pub fn rooms(&self) -> BTreeMap<String, usize> {
        let mut rooms = BTreeMap::new();
        for peer in self.peers().values() {
            for room in peer.users.values() {
                *rooms.entry(room.clone()).or_insert(0) += 1;
            }
        }
        rooms
    }

    /// How many nodes this one knows of (itself not counted).
    pub fn peer_count(&self) -> usize {
        self.peers().len()
    }
}

#[cfg(test)]
mod tests {
    use super::{Cluster, Event};
    use rusty_socket_server::broker::{Envelope, LocalBroker};
    use std::sync::Arc;

    #[test]
    fn events_round_trip() {
        let events = [
            Event::Line {
                room: "lobby".into(),
                text: "ann: hi\nthere".into(),
            },
            Event::Notice {
                room: "rust".into(),
                text: "* bo joined".into(),
            },
            Event::All {
                text: "* a is now b".into(),
            },
            Event::Private {
                to: "bo".into(),
                text: "[private] ann -> bo: psst".into(),
            },
            Event::Users(vec![
                ("ann".into(), "lobby".into()),
                ("bo".into(), "rust".into()),
            ]),
            Event::Users(Vec::new()),
            Event::Join {
                name: "ann".into(),
                room: "rust".into(),
            },
            Event::Leave { name: "ann".into() },
            Event::Hello,
            Event::Bye,
        ];
        for event in events {
            assert_eq!(
                Event::decode(&event.encode()),
                Some(event.clone()),
                "{event:?}"
            );
        }
        for junk in ["", "line", "line\nroom-only", "users\nno-room", "shout\nx"] {
            assert_eq!(Event::decode(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn a_node_skips_its_own_and_learns_who_is_where_from_the_others() {
        let broker = Arc::new(LocalBroker::new());
        let a = Cluster::new(broker.clone(), "a");
        let from = |node: &str, event: &Event| Envelope::encode(node, event.encode().as_bytes());
        assert_eq!(a.receive(&from("a", &Event::Hello)), None);
        let users = Event::Users(vec![
            ("bo".into(), "lobby".into()),
            ("cy".into(), "rust".into()),
        ]);
        assert!(a.receive(&from("b", &users)).is_some());
        assert_eq!(a.node_of("cy").as_deref(), Some("b"));
        assert_eq!(a.names_in("rust"), ["cy"]);
        a.receive(&from(
            "b",
            &Event::Join {
                name: "cy".into(),
                room: "lobby".into(),
            },
        ));
        let mut lobby = a.names_in("lobby");
        lobby.sort();
        assert_eq!(lobby, ["bo", "cy"]);
        assert_eq!(a.rooms().get("lobby"), Some(&2));
        a.receive(&from("b", &Event::Leave { name: "bo".into() }));
        assert_eq!(a.node_of("bo"), None);
        a.receive(&from("b", &Event::Bye));
        assert_eq!(a.peer_count(), 0);
        assert_eq!(a.receive(b"\x01bnot an event"), None);
    }
}
