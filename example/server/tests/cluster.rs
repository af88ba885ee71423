//! Several chat servers as one chat, over real sockets: nodes in this
//! process sharing one `LocalBroker` (the same chat code runs on Redis in
//! `scripts/redis.sh`).

mod common;

use chat_server::cluster::{self, Cluster, Timing};
use chat_server::{Chat, HistoryLimits};
use common::{read_until, Client};
use rusty_socket_server::broker::{
    Broker, BrokerResult, BrokerState, BrokerStats, Claim, LocalBroker, OnDrained, OnMessage,
    OnState,
};
use rusty_socket_server::ServerHandle;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Short times, so that a silent node is forgotten quickly.
const FAST: Timing = Timing {
    heartbeat: Duration::from_millis(50),
    node_timeout: Duration::from_millis(300),
    name_ttl: Duration::from_secs(5),
};

struct Node {
    handle: ServerHandle,
    chat: Chat,
}

impl Node {
    fn start(broker: &Arc<LocalBroker>, name: &str) -> Node {
        Node::on(broker.clone(), name)
    }

    fn on(broker: Arc<dyn Broker>, name: &str) -> Node {
        let chat = Chat::clustered(
            HistoryLimits::default(),
            Cluster::new(broker, name).timing(FAST),
        );
        let server = chat_server::bind_chat(
            chat_server::config("127.0.0.1:0").message_rate(0),
            chat.clone(),
        )
        .unwrap();
        Node {
            handle: server.spawn().unwrap(),
            chat,
        }
    }

    fn join(&self) -> Client {
        Client::join(self.handle.local_addr())
    }
}

/// Waits until every node has handled everything published so far: the
/// local broker delivers on one thread, in order, so once a marker
/// published now has arrived, so has all that came before it.
fn settle(broker: &LocalBroker) {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let channel = format!("test:settle:{:?}", Instant::now());
    broker.subscribe(
        &channel,
        Arc::new(move |_: &[u8]| {
            let _ = tx.lock().unwrap().send(());
        }),
    );
    broker.publish(&channel, b"").unwrap();
    rx.recv_timeout(common::WAIT).expect("the broker delivers");
}

/// Asks `/list` until it shows `names` (the other nodes' lists arrive on
/// their own), within the test's wait.
fn wait_for_list(client: &mut Client, room: &str, names: &[&str]) {
    let wanted = format!("* online in #{room}: {}", names.join(", "));
    let deadline = Instant::now() + common::WAIT;
    loop {
        client.say("/list");
        let line = client.read();
        if line == wanted {
            return;
        }
        assert!(line.starts_with("* online in"), "{line}");
        assert!(Instant::now() < deadline, "still {line}, wanted {wanted}");
    }
}

#[test]
fn chat_lines_notices_and_names_cross_nodes_once_each_in_order() {
    let broker = Arc::new(LocalBroker::new());
    let (a, b) = (Node::start(&broker, "a"), Node::start(&broker, "b"));
    let mut ann = a.join();
    settle(&broker);
    let mut bo = b.join();
    // Guest names come from one counter: unique across nodes.
    assert_ne!(ann.name, bo.name);
    assert_eq!(ann.read(), format!("* {} joined", bo.name));
    for i in 0..50 {
        ann.say(&format!("line {i}"));
    }
    let sender = ann.name.clone();
    for client in [&mut ann, &mut bo] {
        for i in 0..50 {
            assert_eq!(client.read(), format!("{sender}: line {i}"));
        }
    }
    // A rename reaches everyone, and the old name is free again.
    let old = bo.name.clone();
    bo.say("/nick bo");
    assert_eq!(bo.read(), format!("* {old} is now bo"));
    assert_eq!(ann.read(), format!("* {old} is now bo"));
    ann.say("/nick bo");
    assert_eq!(ann.read(), "! the name bo is taken");
    // The first line after these is the next chat line: nothing twice.
    ann.say("/nick ann");
    assert_eq!(ann.read(), format!("* {} is now ann", ann.name));
    assert_eq!(bo.read(), format!("* {} is now ann", ann.name));
    bo.say("end");
    assert_eq!(ann.read(), "bo: end");
    assert_eq!(bo.read(), "bo: end");
    drop((ann, bo));
    a.handle.shutdown();
    b.handle.shutdown();
}

#[test]
fn private_messages_and_the_list_cover_every_node() {
    let broker = Arc::new(LocalBroker::new());
    let (a, b) = (Node::start(&broker, "a"), Node::start(&broker, "b"));
    let mut ann = a.join();
    ann.say("/nick ann");
    let notice = format!("* {} is now ann", ann.name);
    read_until(&mut ann, &notice);
    settle(&broker);
    let mut bo = b.join();
    read_until(&mut ann, &format!("* {} joined", bo.name));
    bo.say("/nick bo");
    let notice = format!("* {} is now bo", bo.name);
    read_until(&mut ann, &notice);
    read_until(&mut bo, &notice);
    ann.say("/msg bo psst");
    let private = "[private] ann -> bo: psst";
    assert_eq!(bo.read(), private);
    assert_eq!(ann.read(), private);
    ann.say("/msg nobody hi");
    assert_eq!(ann.read(), "! no user named nobody");
    wait_for_list(&mut ann, "lobby", &["ann", "bo"]);
    wait_for_list(&mut bo, "lobby", &["ann", "bo"]);
    bo.say("/join rust");
    read_until(&mut bo, "* you are now in #rust (1 here)");
    assert_eq!(ann.read(), "* bo left for #rust");
    ann.say("/rooms");
    assert_eq!(ann.read(), "* rooms: lobby (1), rust (1)");
    drop((ann, bo));
    a.handle.shutdown();
    b.handle.shutdown();
}

#[test]
fn history_is_the_same_from_every_node() {
    let broker = Arc::new(LocalBroker::new());
    let (a, b) = (Node::start(&broker, "a"), Node::start(&broker, "b"));
    let mut ann = a.join();
    ann.say("one");
    ann.say("two");
    assert_eq!(ann.read(), format!("{}: one", ann.name));
    assert_eq!(ann.read(), format!("{}: two", ann.name));
    // A line goes to the broker's history right after its room got it.
    let key = cluster::history_key("lobby");
    let deadline = Instant::now() + common::WAIT;
    while broker.last(&key, 50).unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the history never reached the broker"
        );
        std::thread::yield_now();
    }
    // Node b had no user when these lines were said; it shows the
    // broker's history.
    let mut cy = b.join();
    assert_eq!(cy.read(), "--- history of #lobby (2 messages) ---");
    assert_eq!(cy.read(), format!("{}: one", ann.name));
    assert_eq!(cy.read(), format!("{}: two", ann.name));
    assert_eq!(cy.read(), chat_server::HISTORY_END);
    drop((ann, cy));
    a.handle.shutdown();
    b.handle.shutdown();
}

#[test]
fn an_outage_keeps_each_node_chatting_and_is_told_once_each_way() {
    let broker = Arc::new(LocalBroker::new());
    let (a, b) = (Node::start(&broker, "a"), Node::start(&broker, "b"));
    let mut ann = a.join();
    settle(&broker);
    let mut bo = b.join();
    read_until(&mut ann, &format!("* {} joined", bo.name));
    broker.set_state(BrokerState::Down);
    let down = "* the other servers are unreachable: only people on this server hear you for now";
    assert_eq!(ann.read(), down);
    assert_eq!(bo.read(), down);
    // Each node's own users still chat; the list is theirs alone.
    ann.say("alone");
    assert_eq!(ann.read(), format!("{}: alone", ann.name));
    ann.say("/list");
    assert_eq!(ann.read(), format!("* online in #lobby: {}", ann.name));
    broker.set_state(BrokerState::Up);
    let up = "* the other servers are reachable again";
    assert_eq!(ann.read(), up);
    // bo never got "alone": the next line it reads is the notice.
    assert_eq!(bo.read(), up);
    bo.say("together");
    assert_eq!(ann.read(), format!("{}: together", bo.name));
    assert_eq!(bo.read(), format!("{}: together", bo.name));
    let mut names = [ann.name.clone(), bo.name.clone()];
    names.sort();
    wait_for_list(&mut ann, "lobby", &[&names[0], &names[1]]);
    assert!(broker.stats().dropped > 0);
    drop((ann, bo));
    a.handle.shutdown();
    b.handle.shutdown();
}

#[test]
fn a_name_taken_elsewhere_during_an_outage_is_given_up_with_a_notice() {
    let broker = Arc::new(LocalBroker::new());
    let a = Node::start(&broker, "a");
    // Another node holds "zed" in the broker, with no user we know of.
    broker
        .claim(&cluster::name_key("zed"), "c", Duration::from_secs(60))
        .unwrap();
    let mut ann = a.join();
    broker.set_state(BrokerState::Down);
    read_until(
        &mut ann,
        "* the other servers are unreachable: only people on this server hear you for now",
    );
    // Unreachable: the name is given locally, to be claimed later.
    ann.say("/nick zed");
    assert_eq!(ann.read(), format!("* {} is now zed", ann.name));
    broker.set_state(BrokerState::Up);
    assert_eq!(ann.read(), "* the other servers are reachable again");
    let notice = ann.read();
    let fresh = notice
        .strip_prefix("* the name zed belongs to someone on another server; you are now ")
        .unwrap_or_else(|| panic!("not a rename: {notice}"));
    assert!(fresh.starts_with("guest-"), "{fresh}");
    ann.say("/nick zed");
    assert_eq!(ann.read(), "! the name zed is taken");
    drop(ann);
    a.handle.shutdown();
}

#[test]
fn a_dead_node_leaves_the_lists_and_a_stopping_one_at_once() {
    let broker = Arc::new(LocalBroker::new());
    let link = Arc::new(Severable::new(broker.clone()));
    let (a, b, c) = (
        Node::start(&broker, "a"),
        Node::start(&broker, "b"),
        Node::on(link.clone(), "c"),
    );
    let mut ann = a.join();
    settle(&broker);
    let bo = b.join();
    settle(&broker);
    let cy = c.join();
    read_until(&mut ann, &format!("* {} joined", bo.name));
    read_until(&mut ann, &format!("* {} joined", cy.name));
    let mut all = [ann.name.clone(), bo.name.clone(), cy.name.clone()];
    all.sort();
    wait_for_list(&mut ann, "lobby", &[&all[0], &all[1], &all[2]]);
    // b stops gracefully: its users leave the lists at once.
    b.chat.stop();
    let mut two = [ann.name.clone(), cy.name.clone()];
    two.sort();
    wait_for_list(&mut ann, "lobby", &[&two[0], &two[1]]);
    // c dies without a word: forgotten after the node timeout.
    let silent_since = Instant::now();
    link.sever();
    let alone = ann.name.clone();
    wait_for_list(&mut ann, "lobby", &[&alone]);
    assert!(silent_since.elapsed() >= FAST.node_timeout / 2);
    drop((ann, bo, cy));
    a.handle.shutdown();
    b.handle.shutdown();
    c.handle.shutdown();
}

#[test]
fn health_and_stats_report_the_broker() {
    let broker = Arc::new(LocalBroker::new());
    let a = Node::start(&broker, "a");
    let addr = a.handle.local_addr();
    let health = common::get(addr, "/health");
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    assert!(health.ends_with("ok\nbroker: up\n"), "{health}");
    let stats = common::get(addr, "/stats");
    assert!(
        stats.contains("\"broker\":{\"state\":\"up\",\"node\":\"a\",\"peers\":"),
        "{stats}"
    );
    assert!(stats.trim_end().ends_with("}}"), "{stats}");
    broker.set_state(BrokerState::Down);
    let deadline = Instant::now() + common::WAIT;
    while !common::get(addr, "/health").ends_with("broker: down\n") {
        assert!(Instant::now() < deadline, "/health never said down");
    }
    a.handle.shutdown();
}

/// A node's link to a shared broker that can be cut, as if the node died:
/// nothing it publishes goes out any more, and it hears nothing.
struct Severable {
    broker: Arc<LocalBroker>,
    cut: Arc<AtomicBool>,
}

impl Severable {
    fn new(broker: Arc<LocalBroker>) -> Severable {
        Severable {
            broker,
            cut: Arc::new(AtomicBool::new(false)),
        }
    }

    fn sever(&self) {
        self.cut.store(true, Ordering::Release);
    }
}

impl Broker for Severable {
    fn publish(&self, channel: &str, payload: &[u8]) -> BrokerResult<()> {
        if self.cut.load(Ordering::Acquire) {
            return Ok(());
        }
        self.broker.publish(channel, payload)
    }
    fn subscribe(&self, channel: &str, on_message: OnMessage) {
        let cut = Arc::clone(&self.cut);
        self.broker.subscribe(
            channel,
            Arc::new(move |payload: &[u8]| {
                if !cut.load(Ordering::Acquire) {
                    on_message(payload);
                }
            }),
        );
    }
    fn on_drained(&self, on_drained: OnDrained) {
        self.broker.on_drained(on_drained);
    }
    fn on_state(&self, on_state: OnState) {
        self.broker.on_state(on_state);
    }
    fn state(&self) -> BrokerState {
        self.broker.state()
    }
    fn stats(&self) -> BrokerStats {
        self.broker.stats()
    }
    fn claim(&self, key: &str, owner: &str, ttl: Duration) -> BrokerResult<Claim> {
        self.broker.claim(key, owner, ttl)
    }
    fn release(&self, key: &str, owner: &str) -> BrokerResult<()> {
        self.broker.release(key, owner)
    }
    fn holder(&self, key: &str) -> BrokerResult<Option<String>> {
        self.broker.holder(key)
    }
    fn increment(&self, key: &str) -> BrokerResult<u64> {
        self.broker.increment(key)
    }
    fn push_bounded(&self, key: &str, value: &str, keep: usize, ttl: Duration) -> BrokerResult<()> {
        self.broker.push_bounded(key, value, keep, ttl)
    }
    fn last(&self, key: &str, count: usize) -> BrokerResult<Vec<String>> {
        self.broker.last(key, count)
    }
}
