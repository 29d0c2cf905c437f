//! Confirmed delivery without stream management: sent messages stay in flight until the answer to
//! a later ping proves the server has handled them (RFC 6120 servers handle a stream in order),
//! or, for a room message, until the room reflects it back.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio_xmpp::jid::BareJid;

use crate::address::Target;
use crate::outbox::Queued;

/// Messages sent before a ping is required and no more are sent until it is answered.
pub(crate) const WINDOW: usize = 32;

#[derive(Debug)]
struct Barrier {
    id: String,
    /// Sequence number of the last message the barrier covers.
    covers: u64,
    deadline: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// Sequence number, stanza id, message.
    entries: VecDeque<(u64, String, Queued)>,
    next_seq: u64,
    barrier: Option<Barrier>,
}

impl InFlight {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn has_milestones(&self) -> bool {
        self.entries.iter().any(|(_, _, q)| q.is_milestone())
    }

    /// No more messages may be sent before the barrier is answered.
    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= WINDOW
    }

    /// `item` was sent with stanza id `id`.
    pub(crate) fn sent(&mut self, id: String, item: Queued) {
        self.entries.push_back((self.next_seq, id, item));
        self.next_seq += 1;
    }

    /// The message with stanza id `id` came back from the room it was sent to; returns whether it
    /// was in flight.
    pub(crate) fn reflected(&mut self, id: &str, room: &BareJid) -> bool {
        let position = self.entries.iter().position(|(_, sent, item)| {
            sent == id && matches!(&item.target, Target::Room(target) if target == room)
        });
        position
            .and_then(|index| self.entries.remove(index))
            .is_some()
    }

    /// Whether a barrier ping should be sent now: messages are unconfirmed and none is pending.
    pub(crate) fn needs_barrier(&self) -> bool {
        self.barrier.is_none() && !self.entries.is_empty()
    }

    /// A barrier ping with stanza id `id` is being sent; it must be answered within `timeout`.
    pub(crate) fn barrier_sent(&mut self, id: String, now: Instant, timeout: Duration) {
        let covers = self.next_seq.saturating_sub(1);
        self.barrier = Some(Barrier {
            id,
            covers,
            deadline: now + timeout,
        });
    }

    /// An IQ answer arrived; returns true when it was the barrier's (confirming what it covers).
    pub(crate) fn answered(&mut self, id: &str) -> bool {
        let Some(barrier) = self.barrier.take_if(|b| b.id == id) else {
            return false;
        };
        while self
            .entries
            .front()
            .is_some_and(|(seq, _, _)| *seq <= barrier.covers)
        {
            self.entries.pop_front();
        }
        true
    }

    /// When the pending barrier must have been answered by.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.barrier.as_ref().map(|b| b.deadline)
    }

    pub(crate) fn overdue(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    /// The connection is gone: everything unconfirmed, in order, to be sent again.
    pub(crate) fn take_all(&mut self) -> Vec<Queued> {
        self.barrier = None;
        self.entries.drain(..).map(|(_, _, q)| q).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops() -> BareJid {
        BareJid::new("ops@conference.example.org").expect("jid")
    }

    fn item(text: &str) -> Queued {
        Queued {
            target: Target::Room(ops()),
            text: text.into(),
            thread: None,
        }
    }

    #[test]
    fn a_barrier_confirms_what_was_sent_before_it() {
        let now = Instant::now();
        let mut f = InFlight::default();
        f.sent("i1".into(), item("m1"));
        f.sent("i2".into(), item("m2"));
        assert!(f.needs_barrier());
        f.barrier_sent("b1".into(), now, Duration::from_secs(5));
        assert!(!f.needs_barrier());
        f.sent("i3".into(), item("m3"));
        assert!(!f.answered("other"));
        assert!(f.answered("b1"));
        assert!(f.needs_barrier(), "m3 is not covered yet");
        f.barrier_sent("b2".into(), now, Duration::from_secs(5));
        assert_eq!(f.take_all(), vec![item("m3")]);
        assert!(f.is_empty() && !f.needs_barrier());
    }

    #[test]
    fn an_unanswered_barrier_becomes_overdue_and_the_window_fills() {
        let now = Instant::now();
        let mut f = InFlight::default();
        for n in 0..WINDOW {
            assert!(!f.is_full());
            f.sent(n.to_string(), item(&n.to_string()));
        }
        assert!(f.is_full() && f.has_milestones());
        f.barrier_sent("b".into(), now, Duration::from_secs(5));
        assert!(!f.overdue(now));
        assert!(f.overdue(now + Duration::from_secs(5)));
        assert_eq!(f.take_all().len(), WINDOW);
    }

    #[test]
    fn a_reflection_from_its_room_confirms_one_message() {
        let mut f = InFlight::default();
        f.sent("i1".into(), item("m1"));
        f.sent("i2".into(), item("m2"));
        let elsewhere = BareJid::new("dev@conference.example.org").expect("jid");
        assert!(!f.reflected("i2", &elsewhere));
        assert!(f.reflected("i2", &ops()));
        assert!(!f.reflected("i2", &ops()));
        assert_eq!(f.take_all(), vec![item("m1")]);
    }
}
