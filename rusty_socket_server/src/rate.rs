//! Flood control for one connection: a token bucket that decides, for each
//! data message a client sends, whether the [`crate::Handler`] sees it
//! ([`ServerConfig::message_rate`], [`ServerConfig::message_burst`]).
//!
//! The bucket holds at most `burst` tokens and gains `rate` tokens a
//! second. A message takes one token; a message that finds the bucket
//! empty is dropped. So a client may send `burst` messages at once, and
//! then `rate` a second for as long as it likes.
//!
//! Dropping alone would let a client flood forever at no cost to itself,
//! so the bucket also keeps score: more than `burst` drops within
//! [`FLOOD_WINDOW`] (counted from the first drop of the window) and the
//! connection is closed with 1008. A client slightly over the rate (a few
//! drops a second) is only throttled; one that ignores the drops is shown
//! the door within a fraction of a second. A client that goes quiet gets
//! its tokens back and starts with a clean slate.
//!
//! The bucket reads no clock: every call is given the time, so that the
//! tests below can drive it through minutes in microseconds.
//!
//! [`ServerConfig::message_rate`]: crate::ServerConfig::message_rate
//! [`ServerConfig::message_burst`]: crate::ServerConfig::message_burst

use std::time::{Duration, Instant};

/// The span over which drops are counted: more than `burst` of them within
/// it closes the connection.
pub(crate) const FLOOD_WINDOW: Duration = Duration::from_secs(10);

/// A dropped message is answered with a notice at most this often, so the
/// notices cannot become a flood of their own.
pub(crate) const NOTICE_INTERVAL: Duration = Duration::from_secs(1);

/// The text message that tells a client one of its messages was dropped.
pub(crate) const NOTICE: &str = "! rate limit: message dropped";

/// The reason in the close frame of a connection that kept flooding.
pub(crate) const CLOSE_REASON: &str = "rate limit exceeded";

/// A token is this many units, so that refills of a fraction of a token
/// add up exactly, in integers.
const UNITS: u64 = 1_000_000;

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Within the rate: hand it to the handler.
    Deliver,
    /// Over the rate: drop it. `notify` when the sender should be told
    /// (at most once per [`NOTICE_INTERVAL`]).
    Drop {
        /// Whether to send [`NOTICE`].
        notify: bool,
    },
    /// Over the rate, and it has been for too long: close with 1008.
    Close,
}

/// One connection's token bucket and its flood score.
#[derive(Debug)]
pub(crate) struct Bucket {
    /// Units gained per microsecond (one token is [`UNITS`]): the rate in
    /// messages per second, since a second is a million microseconds.
    rate: u64,
    /// The most units the bucket holds.
    capacity: u64,
    units: u64,
    /// The time up to which refills have been counted. It advances by
    /// whole microseconds only, so that nothing is lost to rounding.
    refilled_to: Instant,
    /// The most drops a window may hold before the connection is closed.
    max_drops: u32,
    /// The drops since `window_start`.
    drops: u32,
    window_start: Option<Instant>,
    last_notice: Option<Instant>,
}

impl Bucket {
    /// A full bucket at `now`, for `rate` messages a second with bursts of
    /// `burst` (both at least 1).
    pub(crate) fn new(rate: u32, burst: u32, now: Instant) -> Bucket {
        let burst = u64::from(burst.max(1));
        Bucket {
            rate: u64::from(rate.max(1)),
            capacity: burst * UNITS,
            units: burst * UNITS,
            refilled_to: now,
            max_drops: u32::try_from(burst).unwrap_or(u32::MAX),
            drops: 0,
            window_start: None,
            last_notice: None,
        }
    }

    /// Adds the tokens earned since the last call.
    fn refill(&mut self, now: Instant) {
        let Some(elapsed) = now.checked_duration_since(self.refilled_to) else {
            return;
        };
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.units = self
            .units
            .saturating_add(micros.saturating_mul(self.rate))
            .min(self.capacity);
        self.refilled_to += Duration::from_micros(micros);
    }

    /// Decides about one message arriving at `now`.
    pub(crate) fn check(&mut self, now: Instant) -> Verdict {
        self.refill(now);
        if self.units >= UNITS {
            self.units -= UNITS;
            return Verdict::Deliver;
        }
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) < FLOOD_WINDOW => {}
            _ => {
                self.window_start = Some(now);
                self.drops = 0;
            }
        }
        self.drops += 1;
        if self.drops > self.max_drops {
            return Verdict::Close;
        }
        let notify = self
            .last_notice
            .is_none_or(|at| now.saturating_duration_since(at) >= NOTICE_INTERVAL);
        if notify {
            self.last_notice = Some(now);
        }
        Verdict::Drop { notify }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `n` messages at `at`, returning the verdicts.
    fn send(bucket: &mut Bucket, at: Instant, n: usize) -> Vec<Verdict> {
        (0..n).map(|_| bucket.check(at)).collect()
    }

    const DROP: Verdict = Verdict::Drop { notify: false };
    const NOTIFY: Verdict = Verdict::Drop { notify: true };

    #[test]
    fn a_full_bucket_lets_a_burst_through_and_drops_the_next_with_a_notice() {
        let t = Instant::now();
        let mut bucket = Bucket::new(2, 5, t);
        assert_eq!(send(&mut bucket, t, 5), vec![Verdict::Deliver; 5]);
        assert_eq!(send(&mut bucket, t, 3), vec![NOTIFY, DROP, DROP]);
    }

    #[test]
    fn tokens_come_back_at_the_rate_fractions_included() {
        let t = Instant::now();
        // A burst large enough that the drops below do not close.
        let mut bucket = Bucket::new(4, 2000, t);
        bucket.units = 0;
        // A quarter of a second earns one token, in a thousand small steps
        // as well as in one.
        for i in 0..1000 {
            let at = t + Duration::from_micros(250 * i);
            assert_eq!(bucket.check(at), if i == 0 { NOTIFY } else { DROP });
        }
        assert_eq!(
            bucket.check(t + Duration::from_millis(250)),
            Verdict::Deliver
        );
        assert_eq!(bucket.check(t + Duration::from_millis(250)), DROP);
        assert_eq!(
            bucket.check(t + Duration::from_millis(500)),
            Verdict::Deliver
        );
    }

    #[test]
    fn a_quiet_spell_refills_no_more_than_the_burst() {
        let t = Instant::now();
        let mut bucket = Bucket::new(10, 3, t);
        assert_eq!(send(&mut bucket, t, 3), vec![Verdict::Deliver; 3]);
        let later = t + Duration::from_secs(3600);
        assert_eq!(send(&mut bucket, later, 3), vec![Verdict::Deliver; 3]);
        assert_eq!(bucket.check(later), NOTIFY);
    }

    #[test]
    fn notices_go_out_at_most_once_a_second() {
        let t = Instant::now();
        // So slow a rate that nothing refills during the test.
        let mut bucket = Bucket::new(1, 100, t);
        bucket.units = 0;
        let verdicts: Vec<_> = (0..25)
            .map(|i| bucket.check(t + Duration::from_millis(100 * i)))
            .filter(|v| *v == NOTIFY)
            .collect();
        // At 0 s, 1.1 s and 2.1 s: a token came back at 1 s and at 2 s, so
        // those messages went through.
        assert_eq!(verdicts.len(), 3);
    }

    #[test]
    fn more_than_burst_drops_within_the_window_close_the_connection() {
        let t = Instant::now();
        let mut bucket = Bucket::new(1, 4, t);
        assert_eq!(send(&mut bucket, t, 4), vec![Verdict::Deliver; 4]);
        // Four drops are tolerated; the fifth within the window closes.
        assert_eq!(send(&mut bucket, t, 4), vec![NOTIFY, DROP, DROP, DROP]);
        assert_eq!(bucket.check(t), Verdict::Close);
    }

    #[test]
    fn a_client_just_over_the_rate_is_throttled_but_not_closed() {
        let t = Instant::now();
        let mut bucket = Bucket::new(10, 10, t);
        // 10.5 messages a second for a minute: once the burst is spent, one
        // dropped every two seconds, five in a window, fewer than the burst.
        let mut delivered = 0;
        for i in 0..630 {
            let at = t + Duration::from_micros(2_000_000 * i / 21);
            match bucket.check(at) {
                Verdict::Deliver => delivered += 1,
                Verdict::Drop { .. } => {}
                Verdict::Close => panic!("closed at message {i}"),
            }
        }
        // The burst, then the rate: 10 + 10 a second for 60 s, less the
        // last fraction of a second.
        assert!((600..=610).contains(&delivered), "{delivered}");
    }

    #[test]
    fn a_quiet_client_recovers_its_tokens_and_a_clean_score() {
        let t = Instant::now();
        let mut bucket = Bucket::new(5, 5, t);
        assert_eq!(send(&mut bucket, t, 5), vec![Verdict::Deliver; 5]);
        // Five drops: one short of being closed.
        assert_eq!(send(&mut bucket, t, 5).len(), 5);
        // Quiet past the window: a full bucket and no drops held against it.
        let later = t + FLOOD_WINDOW;
        assert_eq!(send(&mut bucket, later, 5), vec![Verdict::Deliver; 5]);
        assert_eq!(
            send(&mut bucket, later, 5),
            vec![NOTIFY, DROP, DROP, DROP, DROP]
        );
        assert_eq!(bucket.check(later), Verdict::Close);
    }

    #[test]
    fn a_clock_going_backwards_earns_nothing_and_does_not_panic() {
        let t = Instant::now() + Duration::from_secs(10);
        let mut bucket = Bucket::new(u32::MAX, u32::MAX, t);
        assert_eq!(bucket.check(t - Duration::from_secs(5)), Verdict::Deliver);
        assert_eq!(
            bucket.check(t + Duration::from_secs(1 << 32)),
            Verdict::Deliver
        );
    }
}
