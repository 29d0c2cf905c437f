//! The bounded queue of messages waiting to be sent: progress is coalesced and dropped under
//! pressure, milestones never are (a full queue refuses them so the caller can push back).

use std::collections::VecDeque;

use crate::address::Target;

/// A message waiting to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Queued {
    pub target: Target,
    pub text: String,
    /// `Some(thread)` for progress, `None` for a milestone.
    pub thread: Option<String>,
}

impl Queued {
    pub(crate) fn is_milestone(&self) -> bool {
        self.thread.is_none()
    }
}

/// What became of a pushed message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// It replaced the still unsent line of the same progress thread.
    Coalesced,
    /// The queue was full: the oldest progress line (this one, if no other) was dropped.
    DroppedProgress,
    /// The queue is full of milestones: the milestone is handed back.
    Full(Queued),
}

#[derive(Debug)]
pub(crate) struct Outbox {
    entries: VecDeque<Queued>,
    capacity: usize,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Outbox {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn has_milestones(&self) -> bool {
        self.entries.iter().any(Queued::is_milestone)
    }

    pub(crate) fn push(&mut self, item: Queued) -> Pushed {
        if let Some(thread) = &item.thread {
            // The newest line of a thread wins, as long as nothing else for that target was
            // queued after the older line (it would otherwise jump ahead of a milestone).
            if let Some(last) = self
                .entries
                .iter_mut()
                .rev()
                .find(|e| e.target == item.target)
                && last.thread.as_ref() == Some(thread)
            {
                last.text = item.text;
                return Pushed::Coalesced;
            }
            if self.entries.len() < self.capacity {
                self.entries.push_back(item);
                return Pushed::Queued;
            }
            if self.drop_oldest_progress() {
                self.entries.push_back(item);
            }
            return Pushed::DroppedProgress;
        }
        if self.entries.len() < self.capacity || self.drop_oldest_progress() {
            self.entries.push_back(item);
            Pushed::Queued
        } else {
            Pushed::Full(item)
        }
    }

    /// Put messages that were sent but not confirmed back in front, keeping their order. The
    /// queue may exceed its capacity by their number until it drains.
    pub(crate) fn requeue_front(&mut self, items: Vec<Queued>) {
        for item in items.into_iter().rev() {
            self.entries.push_front(item);
        }
    }

    /// The oldest message whose target is ready. Messages of one target keep their order.
    pub(crate) fn pop_ready(&mut self, ready: impl Fn(&Target) -> bool) -> Option<Queued> {
        let index = self.entries.iter().position(|e| ready(&e.target))?;
        self.entries.remove(index)
    }

    /// Forget every message whose target is `doomed`; returns how many there were.
    pub(crate) fn drop_where(&mut self, doomed: impl Fn(&Target) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| !doomed(&e.target));
        before - self.entries.len()
    }

    fn drop_oldest_progress(&mut self) -> bool {
        match self.entries.iter().position(|e| !e.is_milestone()) {
            Some(index) => {
                self.entries.remove(index);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::jid::BareJid;

    fn room(name: &str) -> Target {
        Target::Room(BareJid::new(&format!("{name}@conference.example.org")).expect("jid"))
    }

    fn milestone(target: &Target, text: &str) -> Queued {
        Queued {
            target: target.clone(),
            text: text.into(),
            thread: None,
        }
    }

    fn progress(target: &Target, thread: &str, text: &str) -> Queued {
        Queued {
            target: target.clone(),
            text: text.into(),
            thread: Some(thread.into()),
        }
    }

    fn texts(outbox: &mut Outbox) -> Vec<String> {
        std::iter::from_fn(|| outbox.pop_ready(|_| true))
            .map(|q| q.text)
            .collect()
    }

    #[test]
    fn progress_coalesces_until_something_else_is_queued_for_the_room() {
        let ops = room("ops");
        let mut outbox = Outbox::new(10);
        assert_eq!(outbox.push(progress(&ops, "d1", "1/3")), Pushed::Queued);
        assert_eq!(outbox.push(progress(&ops, "d1", "2/3")), Pushed::Coalesced);
        outbox.push(milestone(&ops, "done"));
        assert_eq!(outbox.push(progress(&ops, "d1", "3/3")), Pushed::Queued);
        assert_eq!(texts(&mut outbox), ["2/3", "done", "3/3"]);
    }

    #[test]
    fn a_full_queue_drops_progress_first_and_hands_back_milestones() {
        let ops = room("ops");
        let mut outbox = Outbox::new(3);
        outbox.push(progress(&ops, "a", "a1"));
        outbox.push(milestone(&ops, "m1"));
        outbox.push(progress(&ops, "b", "b1"));
        // Full: the oldest progress line makes room for the milestone.
        assert_eq!(outbox.push(milestone(&ops, "m2")), Pushed::Queued);
        // Full: new progress drops the oldest progress line.
        assert_eq!(
            outbox.push(progress(&ops, "c", "c1")),
            Pushed::DroppedProgress
        );
        assert_eq!(outbox.push(milestone(&ops, "m3")), Pushed::Queued);
        // Full of milestones: the next one is handed back, progress is dropped.
        assert_eq!(
            outbox.push(milestone(&ops, "m4")),
            Pushed::Full(milestone(&ops, "m4"))
        );
        assert_eq!(
            outbox.push(progress(&ops, "d", "d1")),
            Pushed::DroppedProgress
        );
        assert_eq!(texts(&mut outbox), ["m1", "m2", "m3"]);
    }

    #[test]
    fn targets_that_are_not_ready_wait_without_blocking_others() {
        let (ops, dev) = (room("ops"), room("dev"));
        let mut outbox = Outbox::new(10);
        outbox.push(milestone(&ops, "o1"));
        outbox.push(milestone(&dev, "d1"));
        outbox.push(milestone(&ops, "o2"));
        let first = outbox.pop_ready(|t| t == &dev).expect("dev is ready");
        assert_eq!(first.text, "d1");
        assert!(outbox.pop_ready(|t| t == &dev).is_none());
        outbox.requeue_front(vec![first]);
        assert_eq!(texts(&mut outbox), ["d1", "o1", "o2"]);
    }

    #[test]
    fn dropping_a_target() {
        let (ops, dev) = (room("ops"), room("dev"));
        let mut outbox = Outbox::new(10);
        outbox.push(milestone(&ops, "o1"));
        outbox.push(progress(&dev, "t", "p"));
        outbox.push(milestone(&dev, "d1"));
        assert_eq!(outbox.drop_where(|t| t == &ops), 1);
        assert!(outbox.has_milestones());
        assert_eq!(texts(&mut outbox), ["p", "d1"]);
        assert!(outbox.is_empty());
    }
}
