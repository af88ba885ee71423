//! Several `chat_server` processes as one chat through a real
//! `redis-server`, which each test starts on a free loopback port: what
//! crosses nodes, and what happens when Redis or a node dies or freezes.
//!
//! They need `redis-server` on the PATH, so they are ignored by a plain
//! `cargo test`; `scripts/redis.sh` installs Redis and runs them with
//! `--ignored`.

mod common;

use common::{read_until, Client, WAIT};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOWN: &str =
    "* the other servers are unreachable: only people on this server hear you for now";
const UP: &str = "* the other servers are reachable again";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` of this test's own, killed when dropped.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Redis {
        let mut redis = Redis {
            port: free_port(),
            child: None,
        };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port and waits until it answers PING.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while !self.answers() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// SIGKILL, and waits for it to be gone.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A frozen server cannot die until it runs again.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
    }
}

/// A `chat_server` process on a free port, one node on `redis`.
struct Node {
    child: Child,
    addr: SocketAddr,
}

impl Node {
    fn start(redis: &Redis, name: &str) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat_server"))
            .args(["--addr", "127.0.0.1:0", "--rate", "0"])
            .args(["--redis", &redis.url(), "--node", name])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("not the address: {first:?}"))
            .parse()
            .unwrap();
        // The rest of what it prints is not read: let it go nowhere.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        // The node connects to Redis in the background: until it has, its
        // users chat locally only. Wait for it, as a load balancer's
        // health check would.
        let deadline = Instant::now() + WAIT;
        while !common::get(addr, "/health").ends_with("broker: up\n") {
            assert!(Instant::now() < deadline, "the node never reached Redis");
            std::thread::sleep(Duration::from_millis(20));
        }
        Node { child, addr }
    }

    fn join(&self) -> Client {
        Client::join(self.addr)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asks `/list` until it shows exactly `names`, within `within`.
fn wait_for_list(client: &mut Client, names: &[&str], within: Duration) -> Duration {
    let started = Instant::now();
    let mut names = names.to_vec();
    names.sort_unstable();
    let wanted = format!("* online in #lobby: {}", names.join(", "));
    loop {
        client.say("/list");
        let line = loop {
            let line = client.read();
            if line.starts_with("* online in") {
                break line;
            }
        };
        if line == wanted {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "still {line}, wanted {wanted}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Gives `client` the name `name` and waits for its own notice.
fn rename(client: &mut Client, name: &str) {
    client.say(&format!("/nick {name}"));
    read_until(client, &format!("* {} is now {name}", client.name));
    client.name = name.to_owned();
}

/// Joins a client on `node` and waits until `watcher` (on another node)
/// has seen it arrive, so that both sides know of each other.
fn join_seen(node: &Node, watcher: &mut Client) -> Client {
    let client = node.join();
    read_until(watcher, &format!("* {} joined", client.name));
    client
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn three_nodes_are_one_chat() {
    let redis = Redis::start();
    let nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|name| Node::start(&redis, name))
        .collect();
    let mut ann = nodes[0].join();
    let mut bo = join_seen(&nodes[1], &mut ann);
    let mut cy = join_seen(&nodes[2], &mut ann);
    read_until(&mut bo, &format!("* {} joined", cy.name));
    rename(&mut ann, "ann");
    rename(&mut bo, "bo");
    rename(&mut cy, "cy");
    // Chat lines: everyone, once, in the sender's order.
    for i in 0..30 {
        bo.say(&format!("line {i}"));
    }
    for client in [&mut ann, &mut bo, &mut cy] {
        let mut seen = Vec::new();
        while seen.len() < 30 {
            let line = client.read();
            if let Some(rest) = line.strip_prefix("bo: ") {
                seen.push(rest.to_owned());
            }
        }
        let wanted: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
        assert_eq!(seen, wanted);
    }
    // A private message crosses nodes; an unknown name is refused.
    ann.say("/msg cy psst");
    let private = "[private] ann -> cy: psst";
    read_until(&mut cy, private);
    read_until(&mut ann, private);
    ann.say("/msg nobody hi");
    read_until(&mut ann, "! no user named nobody");
    // A name is unique across nodes.
    cy.say("/nick bo");
    read_until(&mut cy, "! the name bo is taken");
    // Everyone is on everyone's list.
    wait_for_list(&mut cy, &["ann", "bo", "cy"], WAIT);
    // History is the same from every node.
    let mut dee = nodes[2].join();
    let history = read_until(&mut dee, chat_server::HISTORY_END);
    assert!(history.contains(&"bo: line 29".to_owned()), "{history:?}");
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn redis_killed_and_restarted_local_chat_goes_on_and_cross_node_chat_resumes() {
    let mut redis = Redis::start();
    let (a, b) = (Node::start(&redis, "a"), Node::start(&redis, "b"));
    let mut ann = a.join();
    let mut bo = join_seen(&b, &mut ann);
    redis.kill();
    read_until(&mut ann, DOWN);
    read_until(&mut bo, DOWN);
    // Local chat never stops.
    ann.say("still here");
    let line = format!("{}: still here", ann.name);
    read_until(&mut ann, &line);
    redis.restart();
    let back = Instant::now();
    read_until(&mut ann, UP);
    read_until(&mut bo, UP);
    // Cross-node chat resumes within 2.5 s of Redis being back.
    let deadline = back + Duration::from_millis(2500);
    ann.say("across again");
    read_until(&mut bo, &format!("{}: across again", ann.name));
    assert!(
        Instant::now() < deadline + Duration::from_millis(500),
        "took {:?}",
        back.elapsed()
    );
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn a_frozen_redis_is_noticed_within_seconds() {
    let redis = Redis::start();
    let (a, b) = (Node::start(&redis, "a"), Node::start(&redis, "b"));
    let mut ann = a.join();
    let _bo = join_seen(&b, &mut ann);
    redis.signal("-STOP");
    let frozen = Instant::now();
    read_until(&mut ann, DOWN);
    assert!(
        frozen.elapsed() < Duration::from_secs(8),
        "{:?}",
        frozen.elapsed()
    );
    redis.signal("-CONT");
    read_until(&mut ann, UP);
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn a_dead_node_leaves_the_lists_and_a_stopped_one_at_once() {
    let redis = Redis::start();
    let (a, b, c) = (
        Node::start(&redis, "a"),
        Node::start(&redis, "b"),
        Node::start(&redis, "c"),
    );
    let mut ann = a.join();
    rename(&mut ann, "ann");
    let mut bo = join_seen(&b, &mut ann);
    rename(&mut bo, "bo");
    let mut cy = join_seen(&c, &mut ann);
    rename(&mut cy, "cy");
    wait_for_list(&mut ann, &["ann", "bo", "cy"], WAIT);
    // SIGTERM: bo is told, closed with 1001, and leaves the lists at once.
    b.signal("-TERM");
    read_until(&mut bo, "* this server is stopping");
    match bo.ws.read() {
        Ok(Some(rusty_socket_core::Message::Close(Some(frame)))) => {
            assert_eq!(frame.code, rusty_socket_core::CloseCode::GOING_AWAY)
        }
        other => panic!("expected a close 1001, got {other:?}"),
    }
    wait_for_list(&mut ann, &["ann", "cy"], Duration::from_secs(3));
    // bo's name is free again at once.
    cy.say("/nick bo");
    read_until(&mut cy, "* cy is now bo");
    // SIGKILL: c's users leave the lists within 15 seconds.
    c.signal("-KILL");
    let took = wait_for_list(&mut ann, &["ann"], Duration::from_secs(15));
    eprintln!("a killed node left the list after {took:?}");
}
