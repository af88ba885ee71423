//! The chat as one node of several: the heartbeat, and what this node
//! does with what the others tell it through the broker (see
//! [`crate::cluster`] for the protocol).

use super::{local_guest_name, Inner};
use crate::cluster::{self, Cluster, Event};
use rusty_socket_server::broker::{BrokerState, Claim};
use std::sync::atomic::Ordering;
use std::sync::Weak;

/// Every [`cluster::HEARTBEAT`] (or when woken: the broker is back):
/// forgets silent nodes, sends this node's users, renews their names and
/// renames whoever lost theirs to another node. Ends with the chat.
pub(super) fn heartbeat(weak: &Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if inner.stopping.load(Ordering::Acquire) {
            return;
        }
        inner.beat();
        let every = inner
            .cluster
            .as_ref()
            .map_or(cluster::HEARTBEAT, |c| c.timings().heartbeat);
        let wake = inner.wake.lock().unwrap_or_else(|p| p.into_inner());
        let (mut wake, _) = inner
            .woken
            .wait_timeout_while(wake, every, |woken| !*woken)
            .unwrap_or_else(|p| p.into_inner());
        *wake = false;
    }
}

impl Inner {
    pub(super) fn wake_heartbeat(&self) {
        *self.wake.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.woken.notify_all();
    }

    /// This node's users and their rooms.
    pub(super) fn roster(&self) -> Vec<(String, String)> {
        self.state()
            .users
            .values()
            .map(|u| (u.name.clone(), u.room.clone()))
            .collect()
    }

    pub(super) fn beat(&self) {
        let Some(cluster) = self.reachable() else {
            return;
        };
        cluster.forget_silent();
        cluster.publish(&Event::Users(self.roster()));
        let names: Vec<String> = self.state().ids.keys().cloned().collect();
        for name in names {
            let claim = cluster.broker().claim(
                &cluster::name_key(&name),
                cluster.node(),
                cluster.timings().name_ttl,
            );
            if let Ok(Claim::Theirs(_)) = claim {
                self.lost_name(cluster, &name);
            }
        }
    }

    /// `name`, held here, belongs to a user of another node (both were
    /// given it while the broker was unreachable): the other keeps it, ours
    /// is renamed, and told.
    pub(super) fn lost_name(&self, cluster: &Cluster, name: &str) {
        let fresh = self.guest_name();
        let Some(server) = self.server.get() else {
            return;
        };
        let mut state = self.state();
        let Some(&id) = state.ids.get(name) else {
            return;
        };
        let fresh = fresh
            .filter(|n| !state.ids.contains_key(n))
            .unwrap_or_else(|| local_guest_name(&state, id));
        state.ids.remove(name);
        state.ids.insert(fresh.clone(), id);
        let room = match state.users.get_mut(&id) {
            Some(user) => {
                user.name = fresh.clone();
                user.room.clone()
            }
            None => return,
        };
        let _ = server.send_to(
            id,
            format!("* the name {name} belongs to someone on another server; you are now {fresh}"),
        );
        state.tell_all(server, Some(id), &format!("* {name} is now {fresh}"));
        cluster.publish(&Event::Leave {
            name: name.to_owned(),
        });
        cluster.publish(&Event::Join { name: fresh, room });
    }

    /// A guest name from the broker's counter, claimed for this node:
    /// `None` while the broker cannot be reached.
    pub(super) fn guest_name(&self) -> Option<String> {
        let cluster = self.reachable()?;
        for _ in 0..5 {
            let n = cluster.broker().increment(cluster::GUESTS_KEY).ok()?;
            let name = format!("guest-{n}");
            let claim = cluster
                .broker()
                .claim(
                    &cluster::name_key(&name),
                    cluster.node(),
                    cluster.timings().name_ttl,
                )
                .ok()?;
            if claim == Claim::Ours {
                return Some(name);
            }
        }
        None
    }

    /// The broker's history of `room`, newest last, within the limits;
    /// `None` when history is off or the broker cannot give it (this
    /// node's own is used then).
    pub(super) fn broker_history(&self, room: &str) -> Option<Vec<String>> {
        let limits = &self.limits;
        if limits.lines == 0 || limits.rooms == 0 {
            return None;
        }
        let cluster = self.reachable()?;
        let mut lines = cluster
            .broker()
            .last(&cluster::history_key(room), limits.lines)
            .ok()?;
        let mut bytes = 0;
        let keep = lines
            .iter()
            .rev()
            .take_while(|line| {
                bytes += line.len();
                bytes <= limits.room_bytes
            })
            .count();
        lines.drain(..lines.len() - keep);
        Some(lines)
    }

    pub(super) fn broker_json(&self) -> Option<String> {
        let cluster = self.cluster.as_ref()?;
        let broker = cluster.broker();
        let stats = broker.stats();
        Some(format!(
            "{{\"state\":\"{}\",\"node\":\"{}\",\"peers\":{},\"published\":{},\"received\":{},\"dropped\":{},\"reconnects\":{}}}",
            broker.state(),
            json_escape(cluster.node()),
            cluster.peer_count(),
            stats.published,
            stats.received,
            stats.dropped,
            stats.reconnects
        ))
    }

    /// An event from another node.
    pub(super) fn on_broker_message(&self, payload: &[u8]) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let Some((_, event)) = cluster.receive(payload) else {
            return;
        };
        let Some(server) = self.server.get() else {
            return;
        };
        match event {
            Event::Line { room, text } => {
                let mut state = self.state();
                state.tell_room(server, &room, None, &text);
                state.remember(&self.limits, &room, &text);
            }
            Event::Notice { room, text } => self.state().tell_room(server, &room, None, &text),
            Event::All { text } => self.state().tell_all(server, None, &text),
            Event::Private { to, text } => {
                let state = self.state();
                if let Some(&id) = state.ids.get(&to) {
                    let _ = server.send_to(id, text);
                }
            }
            Event::Hello => cluster.publish(&Event::Users(self.roster())),
            Event::Users(_) | Event::Join { .. } | Event::Leave { .. } | Event::Bye => {}
        }
    }

    /// The broker went down or came back.
    pub(super) fn on_broker_state(&self, state: BrokerState) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let server = self.server.get();
        match state {
            BrokerState::Down => {
                cluster.forget_all();
                if !self.told_down.swap(true, Ordering::AcqRel) {
                    if let Some(server) = server {
                        self.state().tell_all(
                            server,
                            None,
                            "* the other servers are unreachable: only people on this server hear you for now",
                        );
                    }
                }
            }
            BrokerState::Up => {
                if self.told_down.swap(false, Ordering::AcqRel) {
                    if let Some(server) = server {
                        self.state().tell_all(
                            server,
                            None,
                            "* the other servers are reachable again",
                        );
                    }
                }
                cluster.publish(&Event::Hello);
                // Names are claimed again, and lists sent, at once.
                self.wake_heartbeat();
            }
        }
    }
}

/// `text` as the inside of a JSON string.
fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
