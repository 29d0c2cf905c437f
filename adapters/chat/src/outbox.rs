//! The outbound queue adapters that edit in place share: what to send next in each room, with milestones in order and progress coalesced into one edited message.
//!
//! A pure state machine, no I/O: the sender asks [`Outbox::next`] for a job, performs it, and
//! reports the [`Outcome`] ([`crate::drive`] runs that loop for an adapter). Rules it keeps:
//! - milestones in a room go out in the order given, once each, and are never dropped while
//!   the chat system accepts them;
//! - the first progress line of a thread is posted at its place among the milestones (so the
//!   room reads in order); later lines only edit that message, and only the newest text of a
//!   thread is kept while it waits (coalescing);
//! - a room is not sent to before its `not_before`, nor anything before the global one (a
//!   rate limit's `Retry-After`);
//! - every post carries a number that stays the same when it is tried again, so a chat system
//!   that takes an idempotency key can tell a retry from a new message.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use crate::{Delivery, Outbound, Room};
use tokio::time::Instant;

/// How many progress threads a room remembers; the least recently updated finished one is
/// forgotten first (its next line, if any, becomes a new message).
const THREADS_PER_ROOM: usize = 32;

/// How many topics' first messages a room remembers.
const TOPICS_PER_ROOM: usize = 64;

/// One request for the chat system, for the [`Room`] [`Outbox::next`] returns with it (whose
/// thread, if it names one, is where the message goes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job<Id> {
    /// Post a new message.
    Post {
        /// Unique in this outbox and the same on every retry of this message.
        seq: u64,
        text: String,
        /// The progress thread it starts, `None` for a milestone.
        progress: Option<String>,
        /// The first posted message of this message's topic (one deploy's announcement), for
        /// systems that put the rest of a topic in a thread under it.
        topic_anchor: Option<Id>,
    },
    /// Replace the text of a progress message.
    Edit { id: Id, text: String },
}

/// What became of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<Id> {
    /// Done; a post returns the new message's id. `pace` is how long this room must wait
    /// before its next request.
    Sent { id: Option<Id>, pace: Duration },
    /// Refused for now (HTTP 429): nothing is sent before `after` has passed, in this room or,
    /// when `global`, anywhere. The job is kept.
    RateLimited { after: Duration, global: bool },
    /// Failed in a way that may pass (network, server error): the job is kept and retried
    /// after `after`.
    Retry { after: Duration },
    /// The message to edit is gone or cannot be edited any more: the progress is posted anew.
    Gone,
    /// Refused for good (no such channel, no access): the job is dropped.
    Dropped,
}

#[derive(Debug)]
enum Entry {
    Milestone {
        seq: u64,
        room: Room,
        text: String,
        topic: Option<String>,
    },
    /// The first line of a progress thread: posted here, edited afterwards.
    NewProgress(String),
}

#[derive(Debug)]
struct Progress<Id> {
    /// Where the thread's message goes (the room of its newest line).
    room: Room,
    text: String,
    topic: Option<String>,
    /// The number its post carries; a new one when it must be posted anew.
    seq: u64,
    /// Bumped on every new line; `sent` says which version the chat system shows.
    version: u64,
    sent: u64,
    posted: Option<Id>,
    /// Whether a `NewProgress` entry for it waits in the room's order.
    queued: bool,
    touched: u64,
}

#[derive(Debug)]
struct RoomQueue<Id> {
    order: VecDeque<Entry>,
    threads: HashMap<String, Progress<Id>>,
    /// The first posted message of each recent topic, oldest first (bounded).
    topics: VecDeque<(String, Id)>,
    not_before: Option<Instant>,
}

impl<Id> Default for RoomQueue<Id> {
    fn default() -> Self {
        RoomQueue {
            order: VecDeque::new(),
            threads: HashMap::new(),
            topics: VecDeque::new(),
            not_before: None,
        }
    }
}

impl<Id: Clone + PartialEq> RoomQueue<Id> {
    /// The edit that is due in this room, if any: a posted thread whose text changed.
    fn due_edit(&self) -> Option<(&String, &Progress<Id>)> {
        self.threads
            .iter()
            .filter(|(_, p)| p.posted.is_some() && p.version != p.sent)
            .min_by_key(|(_, p)| p.touched)
    }

    /// The first posted message of `topic`, if it is remembered.
    fn anchor_of(&self, topic: Option<&str>) -> Option<Id> {
        let topic = topic?;
        self.topics
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, id)| id.clone())
    }

    fn has_work(&self) -> bool {
        !self.order.is_empty() || self.due_edit().is_some()
    }

    fn forget_old_threads(&mut self) {
        while self.threads.len() > THREADS_PER_ROOM {
            let oldest = self
                .threads
                .iter()
                .filter(|(_, p)| !p.queued && p.version == p.sent)
                .min_by_key(|(_, p)| p.touched)
                .map(|(thread, _)| thread.clone());
            match oldest {
                Some(thread) => self.threads.remove(&thread),
                None => break,
            };
        }
    }
}

/// Everything waiting to be said, room by room (a room's threads share its queue and pace).
#[derive(Debug)]
pub struct Outbox<Id> {
    rooms: BTreeMap<String, RoomQueue<Id>>,
    not_before: Option<Instant>,
    milestones: usize,
    clock: u64,
}

impl<Id> Default for Outbox<Id> {
    fn default() -> Self {
        Outbox {
            rooms: BTreeMap::new(),
            not_before: None,
            milestones: 0,
            clock: 0,
        }
    }
}

impl<Id: Clone + PartialEq> Outbox<Id> {
    /// Queues a message from the core.
    pub fn push(&mut self, message: Outbound) {
        self.clock += 1;
        let clock = self.clock;
        let queue = self
            .rooms
            .entry(message.room.as_str().to_string())
            .or_default();
        match message.delivery {
            Delivery::Milestone => {
                queue.order.push_back(Entry::Milestone {
                    seq: clock,
                    room: message.room,
                    text: message.text,
                    topic: message.topic,
                });
                self.milestones += 1;
            }
            Delivery::Progress { thread } => {
                let slot = queue.threads.entry(thread.clone()).or_insert(Progress {
                    room: message.room.clone(),
                    text: String::new(),
                    topic: None,
                    seq: clock,
                    version: 0,
                    sent: 0,
                    posted: None,
                    queued: false,
                    touched: clock,
                });
                slot.room = message.room;
                slot.text = message.text;
                slot.topic = message.topic;
                slot.version += 1;
                slot.touched = clock;
                if slot.posted.is_none() && !slot.queued {
                    slot.queued = true;
                    queue.order.push_back(Entry::NewProgress(thread));
                }
                queue.forget_old_threads();
            }
        }
    }

    /// Milestones waiting, in all rooms.
    pub fn milestones(&self) -> usize {
        self.milestones
    }

    pub fn is_empty(&self) -> bool {
        self.rooms.values().all(|r| !r.has_work())
    }

    /// The next job that may go out at `now`, and where it goes: the room that has waited
    /// longest goes first.
    pub fn next(&self, now: Instant) -> Option<(Room, Job<Id>)> {
        if self.not_before.is_some_and(|t| t > now) {
            return None;
        }
        let (_, queue) = self
            .rooms
            .iter()
            .filter(|(_, r)| r.has_work() && r.not_before.is_none_or(|t| t <= now))
            .min_by_key(|(_, r)| r.not_before)?;
        Some(match queue.order.front() {
            Some(Entry::Milestone {
                seq,
                room,
                text,
                topic,
            }) => (
                room.clone(),
                Job::Post {
                    seq: *seq,
                    text: text.clone(),
                    progress: None,
                    topic_anchor: queue.anchor_of(topic.as_deref()),
                },
            ),
            Some(Entry::NewProgress(thread)) => {
                let slot = &queue.threads[thread];
                (
                    slot.room.clone(),
                    Job::Post {
                        seq: slot.seq,
                        text: slot.text.clone(),
                        progress: Some(thread.clone()),
                        topic_anchor: queue.anchor_of(slot.topic.as_deref()),
                    },
                )
            }
            None => {
                let (_, progress) = queue.due_edit()?;
                (
                    progress.room.clone(),
                    Job::Edit {
                        id: progress.posted.clone()?,
                        text: progress.text.clone(),
                    },
                )
            }
        })
    }

    /// When the next job may go out, if anything waits; `None` when nothing does.
    pub fn wake_at(&self) -> Option<Instant> {
        let room = self
            .rooms
            .values()
            .filter(|r| r.has_work())
            .map(|r| r.not_before)
            .min()?;
        Some(match (room, self.not_before) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b).unwrap_or_else(Instant::now),
        })
    }

    /// Records what became of the job [`Outbox::next`] returned for `room` at `now`.
    pub fn finish(&mut self, room: &Room, job: &Job<Id>, outcome: Outcome<Id>, now: Instant) {
        self.clock += 1;
        let clock = self.clock;
        let Some(queue) = self.rooms.get_mut(room.as_str()) else {
            return;
        };
        match outcome {
            Outcome::RateLimited { after, global } => {
                let until = Some(now + after);
                if global {
                    self.not_before = self.not_before.max(until);
                } else {
                    queue.not_before = queue.not_before.max(until);
                }
            }
            Outcome::Retry { after } => queue.not_before = Some(now + after),
            Outcome::Sent { id, pace } => {
                queue.not_before = Some(now + pace);
                Self::done(queue, &mut self.milestones, job, id);
            }
            Outcome::Dropped => Self::done(queue, &mut self.milestones, job, None),
            Outcome::Gone => {
                if let Job::Edit { id, .. } = job
                    && let Some((thread, slot)) = queue
                        .threads
                        .iter_mut()
                        .find(|(_, p)| p.posted.as_ref() == Some(id))
                {
                    slot.posted = None;
                    slot.sent = 0;
                    slot.seq = clock;
                    if !slot.queued {
                        slot.queued = true;
                        queue.order.push_back(Entry::NewProgress(thread.clone()));
                    }
                } else {
                    Self::done(queue, &mut self.milestones, job, None);
                }
            }
        }
    }

    fn done(queue: &mut RoomQueue<Id>, milestones: &mut usize, job: &Job<Id>, id: Option<Id>) {
        match job {
            Job::Post { progress: None, .. } => {
                if let Some(Entry::Milestone { .. }) = queue.order.front()
                    && let Some(Entry::Milestone { topic, .. }) = queue.order.pop_front()
                {
                    *milestones -= 1;
                    if let (Some(topic), Some(id)) = (topic, &id)
                        && queue.anchor_of(Some(&topic)).is_none()
                    {
                        queue.topics.push_back((topic, id.clone()));
                        while queue.topics.len() > TOPICS_PER_ROOM {
                            queue.topics.pop_front();
                        }
                    }
                }
            }
            Job::Post {
                progress: Some(thread),
                text,
                ..
            } => {
                if matches!(queue.order.front(), Some(Entry::NewProgress(t)) if t == thread) {
                    queue.order.pop_front();
                }
                if let Some(slot) = queue.threads.get_mut(thread) {
                    slot.queued = false;
                    slot.posted = id;
                    if slot.posted.is_some() {
                        // What was posted is the text of the job; a newer line is an edit.
                        slot.sent = if slot.text == *text { slot.version } else { 0 };
                    } else {
                        // Dropped: nothing shows, so nothing more is edited.
                        slot.sent = slot.version;
                    }
                }
            }
            Job::Edit { id: edited, text } => {
                if let Some(slot) = queue
                    .threads
                    .values_mut()
                    .find(|p| p.posted.as_ref() == Some(edited))
                    && slot.text == *text
                {
                    slot.sent = slot.version;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> Room {
        Room::new("C1")
    }

    fn sent(id: &str) -> Outcome<String> {
        Outcome::Sent {
            id: Some(id.to_string()),
            pace: Duration::ZERO,
        }
    }

    /// A job without its sequence number: (text, progress thread, topic anchor) for a post.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Post(String, Option<String>, Option<String>),
        Edit(String, String),
    }

    fn seen(job: &Job<String>) -> Seen {
        match job {
            Job::Post {
                text,
                progress,
                topic_anchor,
                ..
            } => Seen::Post(text.clone(), progress.clone(), topic_anchor.clone()),
            Job::Edit { id, text } => Seen::Edit(id.clone(), text.clone()),
        }
    }

    fn post(text: &str, progress: Option<&str>, anchor: Option<&str>) -> Seen {
        Seen::Post(
            text.into(),
            progress.map(Into::into),
            anchor.map(Into::into),
        )
    }

    /// Runs every job that is due at `now`, answering each post with ids m1, m2, … and each
    /// edit with success; returns the jobs in order, with the room each went to.
    fn drain_in(outbox: &mut Outbox<String>, now: Instant) -> Vec<(Room, Job<String>)> {
        let mut jobs = Vec::new();
        while let Some((room, job)) = outbox.next(now) {
            let outcome = match &job {
                Job::Post { .. } => sent(&format!("m{}", jobs.len() + 1)),
                Job::Edit { .. } => Outcome::Sent {
                    id: None,
                    pace: Duration::ZERO,
                },
            };
            outbox.finish(&room, &job, outcome, now);
            jobs.push((room, job));
        }
        jobs
    }

    fn drain(outbox: &mut Outbox<String>, now: Instant) -> Vec<Seen> {
        drain_in(outbox, now).iter().map(|(_, j)| seen(j)).collect()
    }

    #[test]
    fn milestones_keep_their_order_and_progress_is_posted_once_then_edited_with_the_newest_line() {
        let mut outbox = Outbox::default();
        let now = Instant::now();
        outbox.push(Outbound::milestone(room(), "announce"));
        outbox.push(Outbound::progress(room(), "d1", "staged"));
        outbox.push(Outbound::progress(room(), "d1", "switching"));
        outbox.push(Outbound::milestone(room(), "done"));
        assert_eq!(
            drain(&mut outbox, now),
            vec![
                post("announce", None, None),
                post("switching", Some("d1"), None),
                post("done", None, None),
            ]
        );
        outbox.push(Outbound::progress(room(), "d1", "healthy"));
        outbox.push(Outbound::progress(room(), "d1", "cleaned up"));
        assert_eq!(
            drain(&mut outbox, now),
            vec![Seen::Edit("m2".into(), "cleaned up".into())]
        );
        assert!(outbox.is_empty());
        assert_eq!(outbox.milestones(), 0);
    }

    #[test]
    fn a_rate_limit_holds_everything_until_it_expires_and_loses_nothing() {
        let mut outbox = Outbox::default();
        let now = Instant::now();
        outbox.push(Outbound::milestone(room(), "one"));
        outbox.push(Outbound::milestone(Room::new("C2"), "elsewhere"));
        let (first_room, job) = outbox.next(now).unwrap();
        outbox.finish(
            &first_room,
            &job,
            Outcome::RateLimited {
                after: Duration::from_secs(2),
                global: true,
            },
            now,
        );
        assert_eq!(outbox.next(now + Duration::from_millis(1999)), None);
        assert_eq!(outbox.wake_at(), Some(now + Duration::from_secs(2)));
        let later = now + Duration::from_secs(2);
        assert_eq!(
            drain(&mut outbox, later),
            vec![post("one", None, None), post("elsewhere", None, None)]
        );
    }

    #[test]
    fn a_room_is_paced_and_a_retry_waits_while_other_rooms_go_on_with_the_same_number() {
        let mut outbox = Outbox::default();
        let now = Instant::now();
        outbox.push(Outbound::milestone(room(), "a"));
        outbox.push(Outbound::milestone(room(), "b"));
        let (r, job) = outbox.next(now).unwrap();
        outbox.finish(
            &r,
            &job,
            Outcome::Sent {
                id: Some("m1".into()),
                pace: Duration::from_secs(1),
            },
            now,
        );
        assert_eq!(outbox.next(now), None, "paced");
        outbox.push(Outbound::milestone(Room::new("C2"), "other"));
        let (r2, job2) = outbox.next(now).unwrap();
        assert_eq!(r2, Room::new("C2"));
        outbox.finish(
            &r2,
            &job2,
            Outcome::Retry {
                after: Duration::from_secs(5),
            },
            now,
        );
        let (r3, job3) = outbox.next(now + Duration::from_secs(1)).unwrap();
        assert_eq!((r3, seen(&job3)), (room(), post("b", None, None)));
        outbox.finish(&room(), &job3, sent("m2"), now + Duration::from_secs(1));
        assert_eq!(outbox.next(now + Duration::from_secs(2)), None);
        let (_, again) = outbox
            .next(now + Duration::from_secs(5))
            .expect("the retry comes back");
        assert_eq!(again, job2, "a retry is the same job, with the same number");
        let numbers = [&job, &job2, &job3].map(|j| match j {
            Job::Post { seq, .. } => *seq,
            Job::Edit { .. } => 0,
        });
        assert!(numbers[0] != numbers[1] && numbers[1] != numbers[2] && numbers[0] != numbers[2]);
    }

    #[test]
    fn a_line_that_arrives_while_the_first_is_posted_becomes_an_edit() {
        let mut outbox = Outbox::default();
        let now = Instant::now();
        outbox.push(Outbound::progress(room(), "d1", "staged"));
        let (r, job) = outbox.next(now).unwrap();
        outbox.push(Outbound::progress(room(), "d1", "switching"));
        outbox.finish(&r, &job, sent("m1"), now);
        assert_eq!(
            drain(&mut outbox, now),
            vec![Seen::Edit("m1".into(), "switching".into())]
        );
    }

    #[test]
    fn a_deleted_progress_message_is_posted_anew_and_a_refused_milestone_is_dropped() {
        let mut outbox = Outbox::default();
        let now = Instant::now();
        outbox.push(Outbound::progress(room(), "d1", "staged"));
        drain(&mut outbox, now);
        outbox.push(Outbound::progress(room(), "d1", "switching"));
        let (r, job) = outbox.next(now).unwrap();
        assert!(matches!(job, Job::Edit { .. }));
        outbox.finish(&r, &job, Outcome::Gone, now);
        let (r, job) = outbox.next(now).unwrap();
        assert_eq!(seen(&job), post("switching", Some("d1"), None));
        outbox.finish(&r, &job, sent("m9"), now);

        outbox.push(Outbound::milestone(room(), "nobody hears this"));
        let (r, job) = outbox.next(now).unwrap();
        outbox.finish(&r, &job, Outcome::Dropped, now);
        assert!(outbox.is_empty());
        assert_eq!(outbox.milestones(), 0);
    }

    #[test]
    fn finished_threads_are_forgotten_beyond_the_limit() {
        let mut outbox = Outbox::default();
        let now = Instant::now();
        for i in 0..THREADS_PER_ROOM + 5 {
            outbox.push(Outbound::progress(room(), format!("d{i}"), "x"));
            drain(&mut outbox, now);
        }
        assert_eq!(outbox.rooms["C1"].threads.len(), THREADS_PER_ROOM);
    }

    #[test]
    fn a_topics_later_messages_and_its_progress_point_at_its_own_first_message() {
        let now = Instant::now();
        let mut outbox: Outbox<String> = Outbox::default();
        outbox.push(Outbound::milestone(room(), "announce 1").in_topic("deploy-1"));
        outbox.push(Outbound::milestone(room(), "announce 2").in_topic("deploy-2"));
        outbox.push(Outbound::progress(room(), "deploy-1", "1: staged"));
        outbox.push(Outbound::progress(room(), "deploy-2", "2: staged"));
        outbox.push(Outbound::milestone(room(), "unrelated"));
        outbox.push(Outbound::milestone(room(), "done 2").in_topic("deploy-2"));
        outbox.push(Outbound::milestone(room(), "done 1").in_topic("deploy-1"));
        assert_eq!(
            drain(&mut outbox, now),
            vec![
                post("announce 1", None, None),
                post("announce 2", None, None),
                post("1: staged", Some("deploy-1"), Some("m1")),
                post("2: staged", Some("deploy-2"), Some("m2")),
                post("unrelated", None, None),
                post("done 2", None, Some("m2")),
                post("done 1", None, Some("m1")),
            ]
        );
    }

    #[test]
    fn a_room_in_a_thread_shares_its_rooms_queue_and_keeps_its_thread() {
        let now = Instant::now();
        let mut outbox: Outbox<String> = Outbox::default();
        outbox.push(Outbound::milestone(room(), "top"));
        outbox.push(Outbound::milestone(room().in_thread("T1"), "in the thread"));
        outbox.push(Outbound::progress(room().in_thread("T1"), "d", "progress"));
        let rooms: Vec<Option<String>> = drain_in(&mut outbox, now)
            .into_iter()
            .map(|(r, _)| r.thread().map(str::to_string))
            .collect();
        assert_eq!(rooms, [None, Some("T1".into()), Some("T1".into())]);
        assert_eq!(outbox.rooms.len(), 1, "one queue, one pace per room");
        outbox.push(Outbound::progress(room().in_thread("T1"), "d", "more"));
        let edits = drain_in(&mut outbox, now);
        assert_eq!(
            edits[0].0.thread(),
            Some("T1"),
            "an edit goes where the message is"
        );
    }
}
