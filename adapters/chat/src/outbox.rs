//! The outbound queue adapters that edit in place share: what to send next in each room, with milestones in order and progress coalesced into one edited message.
//!
//! A pure state machine, no I/O: the sender asks [`Outbox::next`] for a job, performs it, and
//! reports the [`Outcome`]. Rules it keeps:
//! - milestones in a room go out in the order given, once each, and are never dropped while
//!   the chat system accepts them;
//! - the first progress line of a thread is posted at its place among the milestones (so the
//!   room reads in order); later lines only edit that message, and only the newest text of a
//!   thread is kept while it waits (coalescing);
//! - a room is not sent to before its `not_before`, nor anything before the global one (a
//!   rate limit's `Retry-After`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use crate::{Delivery, Outbound, Room};
use tokio::time::Instant;

/// How many progress threads a room remembers; the least recently updated finished one is
/// forgotten first (its next line, if any, becomes a new message).
const THREADS_PER_ROOM: usize = 32;

/// How many topics' first messages a room remembers.
const TOPICS_PER_ROOM: usize = 64;

trait PopMilestone {
    fn pop_front_if_milestone(&mut self) -> Option<Entry>;
}

impl PopMilestone for VecDeque<Entry> {
    fn pop_front_if_milestone(&mut self) -> Option<Entry> {
        match self.front() {
            Some(Entry::Milestone(..)) => self.pop_front(),
            _ => None,
        }
    }
}

/// One request for the chat system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job<Id> {
    /// Post a new message. `anchor` is the room's last posted milestone, for systems that put
    /// progress in a thread under it.
    Post {
        text: String,
        progress: Option<String>,
        anchor: Option<Id>,
        /// For a milestone of a topic that already has a posted first message: that message,
        /// for systems that put the rest of a topic in a thread under it.
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
    /// The message to edit is gone: the progress is posted anew.
    Gone,
    /// Refused for good (no such channel, no access): the job is dropped.
    Dropped,
}

#[derive(Debug)]
enum Entry {
    /// A milestone's text and its topic.
    Milestone(String, Option<String>),
    /// The first line of a progress thread: posted here, edited afterwards.
    NewProgress(String),
}

#[derive(Debug)]
struct Progress<Id> {
    text: String,
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
    last_milestone: Option<Id>,
    /// The first posted message of each recent topic, oldest first (bounded).
    topics: VecDeque<(String, Id)>,
    not_before: Option<Instant>,
}

impl<Id> Default for RoomQueue<Id> {
    fn default() -> Self {
        RoomQueue {
            order: VecDeque::new(),
            threads: HashMap::new(),
            last_milestone: None,
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
    fn anchor_of(&self, topic: &str) -> Option<Id> {
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

/// Everything waiting to be said, room by room.
#[derive(Debug)]
pub struct Outbox<Id> {
    rooms: BTreeMap<Room, RoomQueue<Id>>,
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
        let room = self.rooms.entry(message.room).or_default();
        match message.delivery {
            Delivery::Milestone => {
                room.order
                    .push_back(Entry::Milestone(message.text, message.topic));
                self.milestones += 1;
            }
            Delivery::Progress { thread } => {
                let clock = self.clock;
                let slot = room.threads.entry(thread.clone()).or_insert(Progress {
                    text: String::new(),
                    version: 0,
                    sent: 0,
                    posted: None,
                    queued: false,
                    touched: clock,
                });
                slot.text = message.text;
                slot.version += 1;
                slot.touched = clock;
                if slot.posted.is_none() && !slot.queued {
                    slot.queued = true;
                    room.order.push_back(Entry::NewProgress(thread));
                }
                room.forget_old_threads();
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

    /// The next job that may go out at `now`: the room that has waited longest goes first.
    pub fn next(&self, now: Instant) -> Option<(Room, Job<Id>)> {
        if self.not_before.is_some_and(|t| t > now) {
            return None;
        }
        let (name, room) = self
            .rooms
            .iter()
            .filter(|(_, r)| r.has_work() && r.not_before.is_none_or(|t| t <= now))
            .min_by_key(|(_, r)| r.not_before)?;
        let job = match room.order.front() {
            Some(Entry::Milestone(text, topic)) => Job::Post {
                text: text.clone(),
                progress: None,
                anchor: room.last_milestone.clone(),
                topic_anchor: topic.as_ref().and_then(|t| room.anchor_of(t)),
            },
            Some(Entry::NewProgress(thread)) => Job::Post {
                text: room.threads[thread].text.clone(),
                progress: Some(thread.clone()),
                anchor: room.last_milestone.clone(),
                topic_anchor: None,
            },
            None => {
                let (_, progress) = room.due_edit()?;
                Job::Edit {
                    id: progress.posted.clone()?,
                    text: progress.text.clone(),
                }
            }
        };
        Some((name.clone(), job))
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
        let Some(queue) = self.rooms.get_mut(room) else {
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
                if let Some(Entry::Milestone(_, topic)) = queue.order.pop_front_if_milestone() {
                    *milestones -= 1;
                    if let (Some(topic), Some(id)) = (topic, &id)
                        && queue.anchor_of(&topic).is_none()
                    {
                        queue.topics.push_back((topic, id.clone()));
                        while queue.topics.len() > TOPICS_PER_ROOM {
                            queue.topics.pop_front();
                        }
                    }
                }
                if id.is_some() {
                    queue.last_milestone = id;
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

    /// Runs every job that is due at `now`, answering each post with ids m1, m2, … and each
    /// edit with success; returns the jobs in order.
    fn drain(outbox: &mut Outbox<String>, now: Instant) -> Vec<Job<String>> {
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
            jobs.push(job);
        }
        jobs
    }

    #[test]
    fn milestones_keep_their_order_and_progress_is_posted_once_then_edited_with_the_newest_line() {
        let mut outbox = Outbox::default();
        let now = Instant::now();
        outbox.push(Outbound::milestone(room(), "announce"));
        outbox.push(Outbound::progress(room(), "d1", "staged"));
        outbox.push(Outbound::progress(room(), "d1", "switching"));
        outbox.push(Outbound::milestone(room(), "done"));
        let jobs = drain(&mut outbox, now);
        assert_eq!(
            jobs,
            vec![
                Job::Post {
                    text: "announce".into(),
                    progress: None,
                    anchor: None,
                    topic_anchor: None
                },
                Job::Post {
                    text: "switching".into(),
                    progress: Some("d1".into()),
                    anchor: Some("m1".into()),
                    topic_anchor: None
                },
                Job::Post {
                    text: "done".into(),
                    progress: None,
                    anchor: Some("m1".into()),
                    topic_anchor: None
                },
            ]
        );
        outbox.push(Outbound::progress(room(), "d1", "healthy"));
        outbox.push(Outbound::progress(room(), "d1", "cleaned up"));
        assert_eq!(
            drain(&mut outbox, now),
            vec![Job::Edit {
                id: "m2".into(),
                text: "cleaned up".into()
            }]
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
        let texts: Vec<String> = drain(&mut outbox, later)
            .into_iter()
            .map(|j| match j {
                Job::Post { text, .. } => text,
                Job::Edit { text, .. } => text,
            })
            .collect();
        assert_eq!(texts, ["one", "elsewhere"]);
    }

    #[test]
    fn a_room_is_paced_and_a_retry_waits_while_other_rooms_go_on() {
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
        assert_eq!(
            (r3, job3.clone()),
            (
                room(),
                Job::Post {
                    text: "b".into(),
                    progress: None,
                    anchor: Some("m1".into()),
                    topic_anchor: None
                }
            )
        );
        outbox.finish(&room(), &job3, sent("m2"), now + Duration::from_secs(1));
        assert_eq!(outbox.next(now + Duration::from_secs(2)), None);
        assert!(
            outbox.next(now + Duration::from_secs(5)).is_some(),
            "the retry comes back"
        );
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
            vec![Job::Edit {
                id: "m1".into(),
                text: "switching".into()
            }]
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
        assert_eq!(
            job,
            Job::Post {
                text: "switching".into(),
                progress: Some("d1".into()),
                anchor: None,
                topic_anchor: None
            }
        );
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
        assert_eq!(outbox.rooms[&room()].threads.len(), THREADS_PER_ROOM);
    }

    #[test]
    fn later_milestones_of_a_topic_point_at_its_first_message() {
        let now = Instant::now();
        let mut outbox: Outbox<String> = Outbox::default();
        outbox.push(Outbound::milestone(room(), "announce").in_topic("deploy-1"));
        outbox.push(Outbound::milestone(room(), "unrelated"));
        outbox.push(Outbound::milestone(room(), "done").in_topic("deploy-1"));
        let jobs = drain(&mut outbox, now);
        let anchors: Vec<Option<String>> = jobs
            .iter()
            .map(|j| match j {
                Job::Post { topic_anchor, .. } => topic_anchor.clone(),
                Job::Edit { .. } => None,
            })
            .collect();
        assert_eq!(anchors, [None, None, Some("m1".to_string())]);
    }
}
