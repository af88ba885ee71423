//! [`RedisBroker`] against a real `redis-server`.
//!
//! Every test starts its own server on a free loopback port (no
//! persistence) and kills it when it ends, whatever happens. They are
//! ignored by default, since they need the `redis-server` binary (set
//! `REDIS_SERVER` to use another path than the one on `PATH`):
//!
//! ```text
//! cargo test -p rusty_socket_server --test redis -- --ignored
//! ```
//!
//! Every wait is bounded: a state is waited for with
//! [`RedisBroker::wait_for`], a message with a channel timeout, anything
//! else by polling with a deadline. Nothing sleeps to synchronise.

use rusty_socket_core::Decoded;
use rusty_socket_server::broker::resp::{self, Value};
use rusty_socket_server::broker::{
    Broker, BrokerError, BrokerState, Claim, LocalBroker, RedisBroker, RedisOptions,
};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The longest any single wait may take.
const WAIT: Duration = Duration::from_secs(10);

/// A `redis-server` of this test's own, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

impl Redis {
    /// A server on a free port, with `args` added to its command line.
    fn start(args: &[&str]) -> Redis {
        Redis::start_on(free_port(), args)
    }

    /// A server on `port`; returns once it answers.
    fn start_on(port: u16, args: &[&str]) -> Redis {
        let program = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let dir = std::env::temp_dir();
        let child = Command::new(&program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program} (is redis-server installed?): {e}"));
        let mut redis = Redis { child, port };
        redis.wait_until_it_answers();
        redis
    }

    fn wait_until_it_answers(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            if answers(self.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} does not answer",
                self.port
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends `signal` (`-STOP`, `-CONT`) with `kill(1)`.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// SIGKILL, and waits until the process is gone.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL redis-server");
        self.child.wait().expect("reap redis-server");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether something on `port` answers `PING` (`+PONG`, or an error such as
/// `-NOAUTH`: either way it is Redis, and ready).
fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut byte = [0u8; 1];
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok()
        && stream.read_exact(&mut byte).is_ok()
        && matches!(byte[0], b'+' | b'-')
}

/// Sends `commands` on a connection of its own and returns the replies.
fn raw(port: u16, commands: &[&[&[u8]]]) -> Vec<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut wire = Vec::new();
    for command in commands {
        resp::encode_command(&mut wire, command);
    }
    stream.write_all(&wire).unwrap();
    let mut buffer = Vec::new();
    let mut replies = Vec::new();
    let mut chunk = [0u8; 4096];
    while replies.len() < commands.len() {
        match resp::parse(&buffer).expect("RESP from redis") {
            Decoded::Complete(value, used) => {
                replies.push(value);
                buffer.drain(..used);
            }
            Decoded::Partial => {
                let n = stream.read(&mut chunk).expect("a reply from redis");
                assert!(n > 0, "redis closed the connection");
                buffer.extend_from_slice(&chunk[..n]);
            }
        }
    }
    replies
}

fn ok() -> Value {
    Value::Simple("OK".to_owned())
}

fn bulk(text: &str) -> Value {
    Value::Bulk(Some(text.as_bytes().to_vec()))
}

fn broker(url: &str) -> RedisBroker {
    RedisBroker::new(url.parse().expect("a redis URL"), RedisOptions::default())
}

fn up(broker: &RedisBroker) {
    assert!(
        broker.wait_for(BrokerState::Up, WAIT),
        "{} is not up: {:?}",
        broker.url(),
        broker.last_error()
    );
}

/// Every payload published on `channel`, as `broker` receives it.
fn collect(broker: &RedisBroker, channel: &str) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    broker.subscribe(
        channel,
        Arc::new(move |payload: &[u8]| {
            let _ = tx.send(payload.to_vec());
        }),
    );
    rx
}

/// Every change of state `broker` announces.
fn states(broker: &RedisBroker) -> Receiver<BrokerState> {
    let (tx, rx) = mpsc::channel();
    broker.on_state(Arc::new(move |state| {
        let _ = tx.send(state);
    }));
    rx
}

/// Asserts that `changes` announces exactly `expected`, then nothing more
/// for a moment.
fn announced(changes: &Receiver<BrokerState>, expected: &[BrokerState]) {
    for state in expected {
        assert_eq!(changes.recv_timeout(WAIT), Ok(*state));
    }
    assert!(
        changes.recv_timeout(Duration::from_millis(200)).is_err(),
        "a change was announced twice"
    );
}

/// Polls `condition` until it holds; fails with `what` after `WAIT`.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Publishes `probe` on `channel` from `from` until `seen` receives one,
/// before `deadline`: the path from `from` to `seen`'s broker works end to
/// end. Returns how many probes were accepted for publishing.
fn until_delivered(
    from: &RedisBroker,
    channel: &str,
    seen: &Receiver<Vec<u8>>,
    deadline: Instant,
) -> u64 {
    let mut accepted = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "nothing got through from {} on {channel}",
            from.url()
        );
        if from.publish(channel, b"probe").is_ok() {
            accepted += 1;
        }
        if let Ok(payload) = seen.recv_timeout(Duration::from_millis(50)) {
            if payload == b"probe" {
                return accepted;
            }
        }
    }
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn two_nodes_get_every_message_exactly_once_in_publisher_order() {
    const N: u32 = 10_000;
    let redis = Redis::start(&[]);
    let a = broker(&redis.url());
    let b = broker(&redis.url());
    let at_a = collect(&a, "room");
    let at_b = collect(&b, "room");
    up(&a);
    up(&b);
    let deadline = Instant::now() + WAIT;
    let mut accepted_a = until_delivered(&a, "room", &at_b, deadline);
    let mut accepted_b = until_delivered(&b, "room", &at_a, deadline);

    let started = Instant::now();
    thread::scope(|scope| {
        for (node, name) in [(&a, "a"), (&b, "b")] {
            scope.spawn(move || {
                for seq in 0..N {
                    node.publish("room", format!("{name}:{seq}").as_bytes())
                        .expect("the queue holds 10,000 messages");
                }
            });
        }
    });
    accepted_a += u64::from(N);
    accepted_b += u64::from(N);
    for (node, received) in [("a", &at_a), ("b", &at_b)] {
        let mut next: HashMap<String, u32> = HashMap::new();
        let mut got = 0;
        while got < 2 * N {
            let payload = received
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("{node} got only {got} of {} messages", 2 * N));
            if payload == b"probe" {
                continue;
            }
            let text = String::from_utf8(payload).unwrap();
            let (origin, seq) = text.split_once(':').unwrap();
            let expected = next.entry(origin.to_owned()).or_default();
            assert_eq!(
                seq.parse::<u32>().unwrap(),
                *expected,
                "{node}: from {origin}"
            );
            *expected += 1;
            got += 1;
        }
        assert_eq!(next.get("a"), Some(&N));
        assert_eq!(next.get("b"), Some(&N));
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{} messages published by 2 nodes, delivered to both, in {elapsed:?}",
        2 * N
    );
    // Redis confirmed every message; nothing was dropped or delivered twice.
    eventually("Redis to confirm every message", || {
        a.stats().published == accepted_a && b.stats().published == accepted_b
    });
    for node in [&a, &b] {
        let stats = node.stats();
        assert_eq!(stats.dropped, 0);
        assert_eq!(stats.reconnects, 0);
        assert!(stats.received >= u64::from(2 * N));
    }
    for received in [&at_a, &at_b] {
        assert!(received.try_iter().all(|payload| payload == b"probe"));
    }
    // What no subscriber would read is refused, and counted.
    let huge = vec![0u8; resp::MAX_BULK + 1];
    assert!(matches!(
        a.publish("room", &huge),
        Err(BrokerError::Refused(_))
    ));
    assert_eq!(a.stats().dropped, 1);
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn claims_conflict_between_nodes_and_can_be_released_renewed_and_expire() {
    let redis = Redis::start(&[]);
    let a = broker(&redis.url());
    let b = broker(&redis.url());
    up(&a);
    up(&b);
    let long = Duration::from_secs(60);

    assert_eq!(a.claim("name:ann", "a", long).unwrap(), Claim::Ours);
    assert_eq!(a.claim("name:ann", "a", long).unwrap(), Claim::Ours);
    assert_eq!(
        b.claim("name:ann", "b", long).unwrap(),
        Claim::Theirs("a".to_owned())
    );
    b.release("name:ann", "b").unwrap();
    assert_eq!(b.holder("name:ann").unwrap(), Some("a".to_owned()));
    a.release("name:ann", "a").unwrap();
    assert_eq!(b.holder("name:ann").unwrap(), None);
    assert_eq!(b.claim("name:ann", "b", long).unwrap(), Claim::Ours);

    // A claim expires by itself.
    assert_eq!(
        a.claim("name:bo", "a", Duration::from_millis(300)).unwrap(),
        Claim::Ours
    );
    let claimed = Instant::now();
    assert_eq!(
        b.claim("name:bo", "b", long).unwrap(),
        Claim::Theirs("a".to_owned())
    );
    eventually("the claim to expire", || {
        b.claim("name:bo", "b", long).unwrap() == Claim::Ours
    });
    assert!(claimed.elapsed() >= Duration::from_millis(250));

    // Claiming again renews the expiry.
    a.claim("name:cy", "a", Duration::from_secs(2)).unwrap();
    assert_eq!(a.claim("name:cy", "a", long).unwrap(), Claim::Ours);
    match &raw(redis.port, &[&[b"PTTL", b"name:cy"]])[..] {
        [Value::Integer(ms)] => assert!(*ms > 50_000, "PTTL {ms}"),
        other => panic!("PTTL answered {other:?}"),
    }

    // A ttl of zero has already expired.
    assert_eq!(
        a.claim("name:dee", "a", Duration::ZERO).unwrap(),
        Claim::Ours
    );
    assert_eq!(b.claim("name:dee", "b", long).unwrap(), Claim::Ours);

    // A key of another type is nobody's to claim, and has no holder.
    raw(redis.port, &[&[b"HSET", b"name:hash", b"f", b"v"]]);
    assert_eq!(a.holder("name:hash").unwrap(), None);
    assert_eq!(
        a.claim("name:hash", "a", long).unwrap(),
        Claim::Theirs(String::new())
    );
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn counters_and_bounded_lists_are_shared_between_nodes() {
    let redis = Redis::start(&[]);
    let a = broker(&redis.url());
    let b = broker(&redis.url());
    up(&a);
    up(&b);
    let long = Duration::from_secs(60);

    assert_eq!(a.increment("guests").unwrap(), 1);
    assert_eq!(b.increment("guests").unwrap(), 2);
    assert_eq!(a.increment("guests").unwrap(), 3);

    for i in 0..10 {
        a.push_bounded("history", &i.to_string(), 3, long).unwrap();
    }
    assert_eq!(b.last("history", 2).unwrap(), ["8", "9"]);
    assert_eq!(b.last("history", 50).unwrap(), ["7", "8", "9"]);
    assert!(b.last("history", 0).unwrap().is_empty());
    assert!(b.last("nothing", 5).unwrap().is_empty());
    match &raw(
        redis.port,
        &[&[b"LLEN", b"history"], &[b"PTTL", b"history"]],
    )[..]
    {
        [Value::Integer(3), Value::Integer(ms)] => assert!(*ms > 50_000, "PTTL {ms}"),
        other => panic!("LLEN, PTTL answered {other:?}"),
    }
    a.push_bounded("history", "x", 0, long).unwrap();
    assert!(b.last("history", 5).unwrap().is_empty());

    // What Redis holds but this broker would not have written.
    raw(
        redis.port,
        &[
            &[b"SET", b"latin1", b"\xe9t\xe9"],
            &[b"HSET", b"hash", b"f", b"v"],
        ],
    );
    assert!(matches!(a.holder("latin1"), Err(BrokerError::Protocol(_))));
    assert!(
        matches!(a.increment("hash"), Err(BrokerError::Refused(e)) if e.starts_with("WRONGTYPE"))
    );
    assert!(a.last("latin1", 3).unwrap().is_empty());
    // None of that breaks the connection.
    assert_eq!(a.state(), BrokerState::Up);
    assert_eq!(a.increment("guests").unwrap(), 4);

    // Dropping a broker closes both of its connections.
    assert_eq!(connected_clients(redis.port), 5);
    drop(a);
    drop(b);
    eventually("the dropped brokers to disconnect", || {
        connected_clients(redis.port) == 1
    });
}

/// How many clients Redis has, counting the one that asks.
fn connected_clients(port: u16) -> usize {
    let info = match &raw(port, &[&[b"INFO", b"clients"]])[..] {
        [Value::Bulk(Some(info))] => String::from_utf8_lossy(info).into_owned(),
        other => panic!("INFO answered {other:?}"),
    };
    info.lines()
        .find_map(|line| line.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients in INFO")
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn requirepass_the_right_password_works_a_wrong_one_is_refused() {
    let redis = Redis::start(&["--requirepass", "p@ss w:rd/é"]);
    let port = redis.port;
    let right = broker(&format!(
        "redis://:p%40ss%20w%3Ard%2F%C3%A9@127.0.0.1:{port}"
    ));
    let wrong = broker(&format!("redis://:nope@127.0.0.1:{port}"));
    let none = broker(&redis.url());
    up(&right);
    assert_eq!(right.increment("n").unwrap(), 1);

    for (broker, code) in [(&wrong, "WRONGPASS"), (&none, "NOAUTH")] {
        eventually(
            "the refusal",
            || matches!(broker.last_error(), Some(BrokerError::Refused(e)) if e.contains(code)),
        );
        assert!(!broker.wait_for(BrokerState::Up, Duration::from_millis(500)));
        assert!(matches!(
            broker.publish("room", b"x"),
            Err(BrokerError::Unavailable)
        ));
        assert!(matches!(
            broker.increment("n"),
            Err(BrokerError::Unavailable)
        ));
        assert_eq!(broker.stats().dropped, 1);
    }
    // The password never shows.
    assert!(!format!("{right:?}").contains("p@ss"));
    assert!(!right.url().to_string().contains("p%40ss"));
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn an_acl_user_logs_in_and_select_keeps_databases_apart() {
    let redis = Redis::start(&["--requirepass", "admin"]);
    let port = redis.port;
    assert_eq!(
        raw(
            port,
            &[
                &[b"AUTH", b"admin"],
                &[b"ACL", b"SETUSER", b"alice", b"on", b">secret", b"~*", b"&*", b"+@all"],
            ]
        ),
        [ok(), ok()]
    );
    let alice = broker(&format!("redis://alice:secret@127.0.0.1:{port}/3"));
    let admin = broker(&format!("redis://:admin@127.0.0.1:{port}"));
    let impostor = broker(&format!("redis://alice:guess@127.0.0.1:{port}/3"));
    let news = collect(&alice, "news");
    up(&alice);
    up(&admin);

    assert_eq!(alice.increment("visits").unwrap(), 1);
    assert_eq!(alice.increment("visits").unwrap(), 2);
    assert_eq!(admin.increment("visits").unwrap(), 1);
    assert_eq!(
        admin
            .claim("name:x", "admin", Duration::from_secs(60))
            .unwrap(),
        Claim::Ours
    );
    assert_eq!(
        alice
            .claim("name:x", "alice", Duration::from_secs(60))
            .unwrap(),
        Claim::Ours
    );
    assert_eq!(
        raw(
            port,
            &[
                &[b"AUTH", b"admin"],
                &[b"GET", b"visits"],
                &[b"SELECT", b"3"],
                &[b"GET", b"visits"],
                &[b"GET", b"name:x"],
            ]
        ),
        [ok(), bulk("1"), ok(), bulk("2"), bulk("alice")]
    );
    // Channels belong to no database.
    until_delivered(&admin, "news", &news, Instant::now() + WAIT);

    eventually(
        "the refusal",
        || matches!(impostor.last_error(), Some(BrokerError::Refused(e)) if e.contains("WRONGPASS")),
    );
    assert_eq!(impostor.state(), BrokerState::Down);
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn a_killed_redis_is_noticed_and_a_restarted_one_is_used_again_resubscribed() {
    // The brokers exist before Redis does, so they announce their first Up.
    let port = free_port();
    let a = broker(&format!("redis://127.0.0.1:{port}"));
    let b = broker(&format!("redis://127.0.0.1:{port}"));
    let changes_a = states(&a);
    let changes_b = states(&b);
    let at_b = collect(&b, "room");
    let mut redis = Redis::start_on(port, &[]);
    up(&a);
    up(&b);
    announced(&changes_a, &[BrokerState::Up]);
    announced(&changes_b, &[BrokerState::Up]);
    until_delivered(&a, "room", &at_b, Instant::now() + WAIT);

    redis.kill();
    let killed = Instant::now();
    for node in [&a, &b] {
        assert!(node.wait_for(BrokerState::Down, Duration::from_secs(3)));
    }
    eprintln!("SIGKILL noticed after {:?}", killed.elapsed());
    let dropped = a.stats().dropped;
    assert!(matches!(
        a.publish("room", b"lost"),
        Err(BrokerError::Unavailable)
    ));
    assert_eq!(a.stats().dropped, dropped + 1);
    let asked = Instant::now();
    assert!(matches!(
        a.claim("name:ann", "a", Duration::from_secs(1)),
        Err(BrokerError::Unavailable)
    ));
    assert!(asked.elapsed() < Duration::from_millis(100));
    assert!(a.last_error().is_some());

    let restarted = Instant::now();
    let _redis = Redis::start_on(port, &[]);
    let back_by = restarted + Duration::from_millis(2500);
    for node in [&a, &b] {
        assert!(
            node.wait_for(
                BrokerState::Up,
                back_by.saturating_duration_since(Instant::now())
            ),
            "not up within 2.5 s of the restart: {:?}",
            node.last_error()
        );
    }
    // Resubscribed: messages cross between nodes again, in time.
    until_delivered(&a, "room", &at_b, back_by);
    eprintln!(
        "delivering again {:?} after the restart",
        restarted.elapsed()
    );

    announced(&changes_a, &[BrokerState::Down, BrokerState::Up]);
    announced(&changes_b, &[BrokerState::Down, BrokerState::Up]);
    assert_eq!(a.stats().reconnects, 1);
    assert_eq!(b.stats().reconnects, 1);
    assert!(a.last_error().is_none());
}

#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn a_frozen_redis_is_noticed_and_a_thawed_one_is_used_again() {
    let port = free_port();
    let a = broker(&format!("redis://127.0.0.1:{port}"));
    let b = broker(&format!("redis://127.0.0.1:{port}"));
    let changes_a = states(&a);
    let changes_b = states(&b);
    let at_b = collect(&b, "room");
    let redis = Redis::start_on(port, &[]);
    up(&a);
    up(&b);
    announced(&changes_a, &[BrokerState::Up]);
    announced(&changes_b, &[BrokerState::Up]);
    until_delivered(&a, "room", &at_b, Instant::now() + WAIT);

    redis.signal("-STOP");
    let frozen = Instant::now();
    for node in [&a, &b] {
        let left = (frozen + Duration::from_secs(6)).saturating_duration_since(Instant::now());
        assert!(
            node.wait_for(BrokerState::Down, left),
            "a frozen Redis went unnoticed for 6 s"
        );
    }
    eprintln!("SIGSTOP noticed after {:?}", frozen.elapsed());
    assert!(matches!(
        a.publish("room", b"lost"),
        Err(BrokerError::Unavailable)
    ));
    assert!(a.stats().dropped >= 1);

    redis.signal("-CONT");
    let thawed = Instant::now();
    for node in [&a, &b] {
        assert!(
            node.wait_for(BrokerState::Up, Duration::from_secs(5)),
            "not up again after SIGCONT: {:?}",
            node.last_error()
        );
    }
    until_delivered(&a, "room", &at_b, thawed + Duration::from_secs(5));
    eprintln!("delivering again {:?} after SIGCONT", thawed.elapsed());

    announced(&changes_a, &[BrokerState::Down, BrokerState::Up]);
    announced(&changes_b, &[BrokerState::Down, BrokerState::Up]);
    assert_eq!(a.stats().reconnects, 1);
}

/// Not a benchmark (run `--release` for real numbers): the rate at which
/// one node's messages reach another through Redis, next to the same
/// through a `LocalBroker` in this process.
#[test]
#[ignore = "needs redis-server: scripts/redis.sh runs it"]
fn pipelined_publishing_keeps_up_with_an_in_process_broker() {
    const N: usize = 200_000;

    /// Publishes N messages of 64 bytes from `publisher` and waits until
    /// `subscriber` has them all; how long that took.
    fn run(publisher: &dyn Broker, subscriber: &dyn Broker) -> (Duration, u64) {
        let seen = Arc::new(AtomicUsize::new(0));
        let probed = Arc::new(AtomicBool::new(false));
        let (counter, probe) = (Arc::clone(&seen), Arc::clone(&probed));
        subscriber.subscribe(
            "bench",
            Arc::new(move |payload: &[u8]| {
                if payload == b"probe" {
                    probe.store(true, Ordering::Relaxed);
                } else {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }),
        );
        let deadline = Instant::now() + WAIT;
        while !probed.load(Ordering::Relaxed) {
            assert!(
                Instant::now() < deadline,
                "the subscription never got a probe"
            );
            let _ = publisher.publish("bench", b"probe");
            thread::sleep(Duration::from_millis(20));
        }
        let started = Instant::now();
        let payload = [b'x'; 64];
        let mut sent = 0;
        let mut full = 0;
        while sent < N {
            match publisher.publish("bench", &payload) {
                Ok(()) => sent += 1,
                // The queue is full: let the publisher thread catch up.
                Err(BrokerError::Full) => {
                    full += 1;
                    thread::sleep(Duration::from_micros(200));
                }
                Err(e) => panic!("publish: {e}"),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.load(Ordering::Relaxed) < N {
            assert!(Instant::now() < deadline, "only {seen:?} of {N} arrived");
            thread::sleep(Duration::from_millis(1));
        }
        (started.elapsed(), full)
    }

    let local = LocalBroker::new();
    let (in_process, _) = run(&local, &local);

    let redis = Redis::start(&[]);
    let a = broker(&redis.url());
    let b = broker(&redis.url());
    up(&a);
    up(&b);
    let (through_redis, full) = run(&a, &b);
    let rate = |d: Duration| N as f64 / d.as_secs_f64();
    eprintln!(
        "{N} messages of 64 bytes: in process {:.0}/s, through Redis {:.0}/s ({:.2}x)",
        rate(in_process),
        rate(through_redis),
        rate(through_redis) / rate(in_process)
    );
    // Refused as Full, and counted so: nothing else was lost.
    assert_eq!(a.stats().dropped, full);
}
