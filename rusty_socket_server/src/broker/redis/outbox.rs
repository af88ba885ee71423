//! The publish queue of a [`super::RedisBroker`], and how several messages
//! travel in one `PUBLISH`.
//!
//! Why messages are packed, the format of a pack and the order it keeps
//! are in the public docs of [`super`] (the `broker::redis` module); this
//! module holds the code: [`Outbox`] queues, [`Batch`] groups a round
//! trip's worth into [`Pack`]s, and [`unpack`] takes a payload apart again.
//! A payload that starts with [`PACK_MAGIC`] but is not a well-formed pack
//! is delivered whole, as one message.

use super::resp;
use std::collections::VecDeque;

/// How a payload carrying several messages starts. `0xff` never starts
/// UTF-8 text, so no text message can be mistaken for a pack.
pub(super) const PACK_MAGIC: &[u8; 4] = b"\xffRSP";

/// The bytes a pack adds in front of each message it carries: the
/// message's length, a big-endian `u32` (the magic comes once per pack, on
/// top).
const RECORD_HEADER: usize = 4;

/// How many payload bytes a pack grows to before the next message starts
/// another (a single larger message is a pack of its own).
pub(super) const PACK_BYTES: usize = 64 * 1024;

/// The most messages written before their replies are read.
pub(super) const BATCH_MESSAGES: usize = 4096;

/// The most bytes written before their replies are read (a single larger
/// message is a batch of its own).
pub(super) const BATCH_BYTES: usize = 1024 * 1024;

/// The most bytes a payload may have so that it still fits one bulk string
/// when packed.
pub(super) const MAX_PAYLOAD: usize = resp::MAX_BULK - PACK_MAGIC.len() - RECORD_HEADER;

/// What one queued message counts against
/// [`super::RedisOptions::queue_bytes`] and [`BATCH_BYTES`]: its payload,
/// its channel, and the framing of a `PUBLISH` of its own (an upper bound:
/// packed, it costs less).
pub(super) fn queued_size(channel: &str, payload: &[u8]) -> usize {
    resp::command_len(&[b"PUBLISH", channel.as_bytes(), payload]) + RECORD_HEADER
}

/// Messages for one channel, to go out in one `PUBLISH`.
pub(super) struct Pack {
    pub(super) channel: String,
    /// [`PACK_MAGIC`], then each message with its length.
    body: Vec<u8>,
    /// How many messages `body` holds.
    pub(super) count: usize,
}

impl Pack {
    fn new(channel: &str, mut body: Vec<u8>) -> Pack {
        body.clear();
        body.extend_from_slice(PACK_MAGIC);
        Pack {
            channel: channel.to_owned(),
            body,
            count: 0,
        }
    }

    /// Whether `payload` for `channel` may join this pack.
    fn takes(&self, channel: &str, payload: &[u8]) -> bool {
        self.channel == channel && self.body.len() + RECORD_HEADER + payload.len() <= PACK_BYTES
    }

    fn add(&mut self, payload: &[u8]) {
        // A payload is at most MAX_PAYLOAD (checked by publish), below 4 GiB.
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        self.body.extend_from_slice(&len.to_be_bytes());
        self.body.extend_from_slice(payload);
        self.count += 1;
    }

    /// What the `PUBLISH` carries: the bare message for a pack of one that
    /// cannot be mistaken for a pack, else the whole pack.
    pub(super) fn payload(&self) -> &[u8] {
        let first = &self.body[PACK_MAGIC.len() + RECORD_HEADER..];
        if self.count == 1 && !first.starts_with(PACK_MAGIC) {
            first
        } else {
            &self.body
        }
    }
}

/// The messages of a payload, if it is a well-formed pack: every length
/// within the payload, nothing left over, at least one message. `None`
/// means it is one message as it is.
pub(super) fn unpack(payload: &[u8]) -> Option<Messages<'_>> {
    let records = payload.strip_prefix(PACK_MAGIC)?;
    let mut check = Messages { rest: records };
    let mut any = false;
    while !check.rest.is_empty() {
        check.next_checked()?;
        any = true;
    }
    any.then_some(Messages { rest: records })
}

/// The messages of a pack that [`unpack`] checked.
pub(super) struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Messages<'a> {
    fn next_checked(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.rest.split_first_chunk::<RECORD_HEADER>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if len > rest.len() {
            return None;
        }
        let (message, rest) = rest.split_at(len);
        self.rest = rest;
        Some(message)
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        self.next_checked()
    }
}

/// Packs, in batches ready to be written.
#[derive(Default)]
pub(super) struct Outbox {
    pub(super) batches: VecDeque<Batch>,
    /// Messages queued, in all batches.
    pub(super) messages: usize,
    /// Their [`queued_size`]s, summed.
    pub(super) bytes: usize,
    /// Emptied pack buffers, to fill again without allocating.
    spare: Vec<Vec<u8>>,
}

/// The packs written in one go, before their replies are read.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) packs: Vec<Pack>,
    /// Messages in all packs.
    pub(super) count: usize,
    /// Their [`queued_size`]s, summed.
    bytes: usize,
}

impl Batch {
    /// Encodes the batch's `PUBLISH` commands after `wire`.
    pub(super) fn encode(&self, wire: &mut Vec<u8>) {
        for pack in &self.packs {
            resp::encode_command(wire, &[b"PUBLISH", pack.channel.as_bytes(), pack.payload()]);
        }
    }
}

impl Outbox {
    /// Queues `payload` for `channel`; `size` is its [`queued_size`].
    pub(super) fn push(&mut self, channel: &str, payload: &[u8], size: usize) {
        let fits = self
            .batches
            .back()
            .is_some_and(|batch| batch.count < BATCH_MESSAGES && batch.bytes + size <= BATCH_BYTES);
        if !fits {
            self.batches.push_back(Batch::default());
        }
        let Some(batch) = self.batches.back_mut() else {
            return;
        };
        let joins = batch
            .packs
            .last()
            .is_some_and(|pack| pack.takes(channel, payload));
        if !joins {
            let body = self.spare.pop().unwrap_or_default();
            batch.packs.push(Pack::new(channel, body));
        }
        if let Some(pack) = batch.packs.last_mut() {
            pack.add(payload);
            batch.count += 1;
            batch.bytes += size;
            self.messages += 1;
            self.bytes += size;
        }
    }

    pub(super) fn pop(&mut self) -> Option<Batch> {
        let batch = self.batches.pop_front()?;
        self.messages -= batch.count;
        self.bytes -= batch.bytes;
        Some(batch)
    }

    /// Keeps a sent batch's buffers for the next packs.
    pub(super) fn recycle(&mut self, batch: Batch) {
        for pack in batch.packs {
            if self.spare.len() < 16 && pack.body.capacity() <= 2 * PACK_BYTES {
                self.spare.push(pack.body);
            }
        }
    }

    /// Throws everything queued away; how many messages that was.
    pub(super) fn clear(&mut self) -> usize {
        let lost = self.messages;
        while let Some(batch) = self.pop() {
            self.recycle(batch);
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resp::Value;
    use rusty_socket_core::Decoded;

    fn queue(outbox: &mut Outbox, channel: &str, payload: &[u8]) {
        outbox.push(channel, payload, queued_size(channel, payload));
    }

    /// The `PUBLISH` commands a batch writes, as (channel, payload).
    fn commands(batch: &Batch) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut wire = Vec::new();
        batch.encode(&mut wire);
        let mut rest = &wire[..];
        let mut out = Vec::new();
        while let Ok(Decoded::Complete(value, used)) = resp::parse(rest) {
            let Value::Array(Some(args)) = value else {
                panic!("not a command: {value:?}");
            };
            let args: Vec<Vec<u8>> = args
                .into_iter()
                .map(|arg| match arg {
                    Value::Bulk(Some(bytes)) => bytes,
                    other => panic!("not a bulk string: {other:?}"),
                })
                .collect();
            assert_eq!(args.len(), 3);
            assert_eq!(args[0], b"PUBLISH");
            out.push((args[1].clone(), args[2].clone()));
            rest = &rest[used..];
        }
        assert!(rest.is_empty(), "the wire is whole commands");
        out
    }

    /// What a subscriber hands to its callbacks for one payload.
    fn received(payload: &[u8]) -> Vec<Vec<u8>> {
        match unpack(payload) {
            Some(messages) => messages.map(<[u8]>::to_vec).collect(),
            None => vec![payload.to_vec()],
        }
    }

    #[test]
    fn messages_for_one_channel_go_in_one_publish_in_order() {
        let mut outbox = Outbox::default();
        for i in 0..100 {
            queue(&mut outbox, "room", i.to_string().as_bytes());
        }
        let batch = outbox.pop().unwrap();
        assert_eq!(batch.count, 100);
        let sent = commands(&batch);
        assert_eq!(sent.len(), 1, "one PUBLISH for 100 small messages");
        assert_eq!(sent[0].0, b"room");
        let expected: Vec<Vec<u8>> = (0..100).map(|i: i32| i.to_string().into_bytes()).collect();
        assert_eq!(received(&sent[0].1), expected);
        assert_eq!((outbox.messages, outbox.bytes), (0, 0));
    }

    #[test]
    fn a_pack_of_one_is_the_bare_message_unless_it_looks_like_a_pack() {
        let mut outbox = Outbox::default();
        queue(&mut outbox, "room", b"hello");
        let sent = commands(&outbox.pop().unwrap());
        assert_eq!(sent, vec![(b"room".to_vec(), b"hello".to_vec())]);

        let mut lookalike = PACK_MAGIC.to_vec();
        lookalike.extend_from_slice(&[0, 0, 0, 1, b'x']);
        queue(&mut outbox, "room", &lookalike);
        let sent = commands(&outbox.pop().unwrap());
        assert_ne!(sent[0].1, lookalike, "wrapped, or it would be unpacked");
        assert_eq!(received(&sent[0].1), vec![lookalike]);

        queue(&mut outbox, "room", b"");
        let sent = commands(&outbox.pop().unwrap());
        assert_eq!(received(&sent[0].1), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn another_channel_starts_another_pack_and_order_is_kept() {
        let mut outbox = Outbox::default();
        for (channel, payload) in [("a", "1"), ("a", "2"), ("b", "3"), ("a", "4")] {
            queue(&mut outbox, channel, payload.as_bytes());
        }
        let batch = outbox.pop().unwrap();
        let sent: Vec<(Vec<u8>, Vec<Vec<u8>>)> = commands(&batch)
            .into_iter()
            .map(|(channel, payload)| (channel, received(&payload)))
            .collect();
        let expected = vec![
            (b"a".to_vec(), vec![b"1".to_vec(), b"2".to_vec()]),
            (b"b".to_vec(), vec![b"3".to_vec()]),
            (b"a".to_vec(), vec![b"4".to_vec()]),
        ];
        assert_eq!(sent, expected);
    }

    #[test]
    fn packs_and_batches_keep_to_their_budgets_and_account_exactly() {
        let mut outbox = Outbox::default();
        let message = vec![7u8; 1000];
        let total = BATCH_BYTES / queued_size("c", &message) + 5;
        for _ in 0..total {
            queue(&mut outbox, "c", &message);
        }
        assert_eq!(outbox.messages, total);
        assert_eq!(outbox.bytes, total * queued_size("c", &message));
        let first = outbox.pop().unwrap();
        let second = outbox.pop().unwrap();
        assert!(outbox.pop().is_none());
        assert_eq!(first.count + second.count, total);
        assert!(first.bytes <= BATCH_BYTES);
        for batch in [&first, &second] {
            for (_, payload) in commands(batch) {
                assert!(payload.len() <= PACK_BYTES);
                assert!(received(&payload).iter().all(|m| *m == message));
            }
        }
        assert_eq!(
            commands(&first).len(),
            first.count.div_ceil(PACK_BYTES / 1004)
        );
        outbox.recycle(first);

        let mut outbox = Outbox::default();
        for _ in 0..BATCH_MESSAGES + 1 {
            queue(&mut outbox, "c", b"x");
        }
        assert_eq!(outbox.pop().unwrap().count, BATCH_MESSAGES);
        assert_eq!(outbox.pop().unwrap().count, 1);

        let big = vec![1u8; PACK_BYTES * 2];
        queue(&mut outbox, "c", b"small");
        queue(&mut outbox, "c", &big);
        queue(&mut outbox, "c", b"small");
        let batch = outbox.pop().unwrap();
        let sent = commands(&batch);
        assert_eq!(sent.len(), 3, "a big message is a pack of its own");
        assert_eq!(sent[1].1, big);
        assert_eq!(outbox.clear(), 0);
        queue(&mut outbox, "c", b"lost");
        assert_eq!(outbox.clear(), 1);
        assert_eq!((outbox.messages, outbox.bytes), (0, 0));
    }

    #[test]
    fn payloads_that_are_not_whole_packs_are_one_message() {
        let mut pack = PACK_MAGIC.to_vec();
        pack.extend_from_slice(&[0, 0, 0, 2, b'h', b'i', 0, 0, 0, 0]);
        assert_eq!(received(&pack), vec![b"hi".to_vec(), Vec::new()]);
        let foreign: [&[u8]; 5] = [
            b"",
            b"\xffRS",
            b"\xffRSP",
            b"\xffRSP\x00\x00\x00\x05abc",
            b"\xffRSP\x00\x00\x00\x01ab",
        ];
        for payload in foreign {
            assert!(unpack(payload).is_none(), "{payload:?}");
            assert_eq!(received(payload), vec![payload.to_vec()]);
        }
        let huge_length = b"\xffRSP\xff\xff\xff\xff";
        assert!(unpack(huge_length).is_none());
    }
}
