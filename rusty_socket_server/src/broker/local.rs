//! [`LocalBroker`]: a broker inside this process.

use super::{
    Broker, BrokerError, BrokerResult, BrokerState, BrokerStats, Claim, OnDrained, OnMessage,
    OnState,
};
use crate::shared::lock;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How many published messages wait for delivery at most by default.
pub const DEFAULT_QUEUE: usize = 65_536;

/// A broker in this process: channels, claims, counters and lists
/// in memory, with expiries.
///
/// Handlers that share one `LocalBroker` (through an `Arc`) act as nodes
/// of one deployment. Messages are delivered on the broker's own thread,
/// in the order they were published, so a callback never runs inside a
/// publisher's locks. [`LocalBroker::set_state`] takes it down and back
/// up, to test how nodes live through an outage.
pub struct LocalBroker {
    inner: Arc<Inner>,
    queue: SyncSender<Delivery>,
}

enum Delivery {
    Message(String, Vec<u8>),
    State(BrokerState),
}

#[derive(Default)]
struct Inner {
    subscribers: Mutex<HashMap<String, Vec<OnMessage>>>,
    watchers: Mutex<Vec<OnState>>,
    drained: Mutex<Vec<OnDrained>>,
    data: Mutex<Data>,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
}

struct Data {
    state: BrokerState,
    keys: HashMap<String, (Value, Option<Instant>)>,
}

impl Default for Data {
    fn default() -> Data {
        Data {
            state: BrokerState::Up,
            keys: HashMap::new(),
        }
    }
}

enum Value {
    Text(String),
    Counter(u64),
    List(VecDeque<String>),
}

impl Default for LocalBroker {
    fn default() -> LocalBroker {
        LocalBroker::new()
    }
}

impl std::fmt::Debug for LocalBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBroker")
            .field("state", &self.state())
            .field("stats", &self.stats())
            .finish()
    }
}

impl LocalBroker {
    /// A broker that is up, with a queue of `DEFAULT_QUEUE` (65,536) messages.
    pub fn new() -> LocalBroker {
        LocalBroker::with_queue(DEFAULT_QUEUE)
    }

    /// A broker whose delivery queue holds at most `capacity` messages.
    pub fn with_queue(capacity: usize) -> LocalBroker {
        let inner = Arc::new(Inner::default());
        let (queue, deliveries) = mpsc::sync_channel(capacity.max(1));
        let deliverer = Arc::clone(&inner);
        // The thread ends when the broker is dropped (the queue closes).
        thread::Builder::new()
            .name("local-broker".to_owned())
            .spawn(move || deliver(&deliverer, &deliveries))
            .expect("cannot start the local broker's thread");
        LocalBroker { inner, queue }
    }

    /// Takes the broker down (every operation fails with
    /// [`BrokerError::Unavailable`], publishing drops) or brings it back;
    /// [`Broker::on_state`] callbacks hear of it, on the broker's thread.
    pub fn set_state(&self, state: BrokerState) {
        {
            let mut data = lock(&self.inner.data);
            if data.state == state {
                return;
            }
            data.state = state;
        }
        if state == BrokerState::Up {
            self.inner.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        // A change of state is never dropped: wait for room.
        let _ = self.queue.send(Delivery::State(state));
    }

    /// Runs `f` on the live keys, if the broker is up.
    fn with_data<T>(
        &self,
        f: impl FnOnce(&mut HashMap<String, (Value, Option<Instant>)>) -> T,
    ) -> BrokerResult<T> {
        let mut data = lock(&self.inner.data);
        if data.state == BrokerState::Down {
            return Err(BrokerError::Unavailable);
        }
        let now = Instant::now();
        data.keys
            .retain(|_, (_, expiry)| expiry.is_none_or(|at| at > now));
        Ok(f(&mut data.keys))
    }
}

fn deliver(inner: &Inner, deliveries: &Receiver<Delivery>) {
    // Block for the first of a burst, take the rest as long as there is
    // more, then tell whoever gathers that the burst is over.
    while let Ok(first) = deliveries.recv() {
        let mut next = Some(first);
        while let Some(delivery) = next.take() {
            deliver_one(inner, delivery);
            next = deliveries.try_recv().ok();
        }
        let drained = lock(&inner.drained).clone();
        for callback in drained {
            callback();
        }
    }
}

fn deliver_one(inner: &Inner, delivery: Delivery) {
    match delivery {
        Delivery::Message(channel, payload) => {
            let callbacks = lock(&inner.subscribers).get(&channel).cloned();
            for callback in callbacks.iter().flatten() {
                inner.received.fetch_add(1, Ordering::Relaxed);
                callback(&payload);
            }
        }
        Delivery::State(state) => {
            let watchers = lock(&inner.watchers).clone();
            for watcher in watchers {
                watcher(state);
            }
        }
    }
}

impl Broker for LocalBroker {
    fn publish(&self, channel: &str, payload: &[u8]) -> BrokerResult<()> {
        if self.state() == BrokerState::Down {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(BrokerError::Unavailable);
        }
        match self
            .queue
            .try_send(Delivery::Message(channel.to_owned(), payload.to_vec()))
        {
            Ok(()) => {
                self.inner.published.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                Err(BrokerError::Full)
            }
        }
    }

    fn subscribe(&self, channel: &str, on_message: OnMessage) {
        lock(&self.inner.subscribers)
            .entry(channel.to_owned())
            .or_default()
            .push(on_message);
    }

    fn on_drained(&self, on_drained: OnDrained) {
        lock(&self.inner.drained).push(on_drained);
    }

    fn on_state(&self, on_state: OnState) {
        lock(&self.inner.watchers).push(on_state);
    }

    fn state(&self) -> BrokerState {
        lock(&self.inner.data).state
    }

    fn stats(&self) -> BrokerStats {
        BrokerStats {
            published: self.inner.published.load(Ordering::Relaxed),
            received: self.inner.received.load(Ordering::Relaxed),
            dropped: self.inner.dropped.load(Ordering::Relaxed),
            reconnects: self.inner.reconnects.load(Ordering::Relaxed),
        }
    }

    fn claim(&self, key: &str, owner: &str, ttl: Duration) -> BrokerResult<Claim> {
        let expiry = Some(Instant::now() + ttl);
        self.with_data(|keys| match keys.get_mut(key) {
            Some((Value::Text(holder), at)) if holder == owner => {
                *at = expiry;
                Claim::Ours
            }
            Some((Value::Text(holder), _)) => Claim::Theirs(holder.clone()),
            Some(_) => Claim::Theirs(String::new()),
            None => {
                keys.insert(key.to_owned(), (Value::Text(owner.to_owned()), expiry));
                Claim::Ours
            }
        })
    }

    fn release(&self, key: &str, owner: &str) -> BrokerResult<()> {
        self.with_data(|keys| {
            if matches!(keys.get(key), Some((Value::Text(holder), _)) if holder == owner) {
                keys.remove(key);
            }
        })
    }

    fn holder(&self, key: &str) -> BrokerResult<Option<String>> {
        self.with_data(|keys| match keys.get(key) {
            Some((Value::Text(holder), _)) => Some(holder.clone()),
            _ => None,
        })
    }

    fn increment(&self, key: &str) -> BrokerResult<u64> {
        self.with_data(|keys| {
            let entry = keys
                .entry(key.to_owned())
                .or_insert((Value::Counter(0), None));
            match &mut entry.0 {
                Value::Counter(n) => {
                    *n += 1;
                    *n
                }
                other => {
                    *other = Value::Counter(1);
                    1
                }
            }
        })
    }

    fn push_bounded(&self, key: &str, value: &str, keep: usize, ttl: Duration) -> BrokerResult<()> {
        self.with_data(|keys| {
            let entry = keys
                .entry(key.to_owned())
                .or_insert((Value::List(VecDeque::new()), None));
            if !matches!(entry.0, Value::List(_)) {
                entry.0 = Value::List(VecDeque::new());
            }
            entry.1 = Some(Instant::now() + ttl);
            if let Value::List(list) = &mut entry.0 {
                list.push_back(value.to_owned());
                while list.len() > keep {
                    list.pop_front();
                }
            }
        })
    }

    fn last(&self, key: &str, count: usize) -> BrokerResult<Vec<String>> {
        self.with_data(|keys| match keys.get(key) {
            Some((Value::List(list), _)) => list
                .iter()
                .skip(list.len().saturating_sub(count))
                .cloned()
                .collect(),
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::LocalBroker;
    use crate::broker::{Broker, BrokerError, BrokerState, Claim};
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn subscribers_get_every_message_in_order_on_the_broker_thread() {
        let broker = LocalBroker::new();
        let (tx, rx) = mpsc::channel();
        let me = std::thread::current().id();
        broker.subscribe(
            "room",
            Arc::new(move |payload: &[u8]| {
                let _ = tx.send((payload.to_vec(), std::thread::current().id() != me));
            }),
        );
        for i in 0..100u8 {
            broker.publish("room", &[i]).unwrap();
        }
        broker.publish("elsewhere", b"not for us").unwrap();
        for i in 0..100u8 {
            assert_eq!(rx.recv_timeout(WAIT).unwrap(), (vec![i], true));
        }
        let stats = broker.stats();
        assert_eq!(stats.published, 101);
    }

    #[test]
    fn a_full_queue_refuses_and_counts_instead_of_keeping() {
        let broker = LocalBroker::with_queue(1);
        let (entered, wait_entered) = mpsc::channel();
        let (release, blocked) = mpsc::channel::<()>();
        let blocked = std::sync::Mutex::new(blocked);
        broker.subscribe(
            "c",
            Arc::new(move |_: &[u8]| {
                let _ = entered.send(());
                let _ = blocked.lock().unwrap().recv_timeout(WAIT);
            }),
        );
        broker.publish("c", b"1").unwrap();
        wait_entered.recv_timeout(WAIT).unwrap();
        // The deliverer is busy with "1": one fits in the queue, no more.
        broker.publish("c", b"2").unwrap();
        assert!(matches!(broker.publish("c", b"3"), Err(BrokerError::Full)));
        assert_eq!(broker.stats().dropped, 1);
        release.send(()).unwrap();
        release.send(()).unwrap();
    }

    #[test]
    fn claims_are_exclusive_renewable_releasable_and_expire() {
        let broker = LocalBroker::new();
        let ttl = Duration::from_secs(60);
        assert_eq!(broker.claim("name:ann", "a", ttl).unwrap(), Claim::Ours);
        assert_eq!(broker.claim("name:ann", "a", ttl).unwrap(), Claim::Ours);
        assert_eq!(
            broker.claim("name:ann", "b", ttl).unwrap(),
            Claim::Theirs("a".to_owned())
        );
        broker.release("name:ann", "b").unwrap();
        assert_eq!(broker.holder("name:ann").unwrap(), Some("a".to_owned()));
        broker.release("name:ann", "a").unwrap();
        assert_eq!(broker.holder("name:ann").unwrap(), None);
        assert_eq!(
            broker.claim("name:bo", "a", Duration::ZERO).unwrap(),
            Claim::Ours
        );
        assert_eq!(broker.claim("name:bo", "b", ttl).unwrap(), Claim::Ours);
    }

    #[test]
    fn counters_and_bounded_lists() {
        let broker = LocalBroker::new();
        assert_eq!(broker.increment("guests").unwrap(), 1);
        assert_eq!(broker.increment("guests").unwrap(), 2);
        for i in 0..10 {
            broker
                .push_bounded("history", &i.to_string(), 3, Duration::from_secs(60))
                .unwrap();
        }
        assert_eq!(broker.last("history", 2).unwrap(), ["8", "9"]);
        assert_eq!(broker.last("history", 50).unwrap(), ["7", "8", "9"]);
        assert!(broker.last("nothing", 5).unwrap().is_empty());
    }

    #[test]
    fn an_outage_fails_operations_at_once_and_is_announced_both_ways() {
        let broker = LocalBroker::new();
        let (tx, rx) = mpsc::channel();
        broker.on_state(Arc::new(move |state| {
            let _ = tx.send(state);
        }));
        broker.set_state(BrokerState::Down);
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), BrokerState::Down);
        assert!(matches!(
            broker.claim("k", "a", Duration::from_secs(1)),
            Err(BrokerError::Unavailable)
        ));
        assert!(matches!(
            broker.publish("c", b"x"),
            Err(BrokerError::Unavailable)
        ));
        assert_eq!(broker.stats().dropped, 1);
        broker.set_state(BrokerState::Up);
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), BrokerState::Up);
        assert_eq!(broker.stats().reconnects, 1);
        assert_eq!(broker.increment("n").unwrap(), 1);
    }
}
