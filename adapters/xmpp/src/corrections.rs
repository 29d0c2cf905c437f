//! XEP-0308 bookkeeping: whether the next progress line of a thread may correct the message that
//! showed the thread so far, which it may only while that is still the bot's last message there.

use std::collections::HashMap;

use crate::address::Target;

/// Conversations remembered at most; beyond this the oldest state is simply forgotten (the next
/// progress line then starts a new message, which is always correct).
const MAX_TARGETS: usize = 1024;

/// The bot's last message in one conversation.
#[derive(Debug)]
struct Last {
    /// The id of the message first sent for it (corrections keep referring to it).
    first_id: String,
    /// The progress thread it shows, `None` for a milestone.
    thread: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Corrections {
    last: HashMap<Target, Last>,
}

impl Corrections {
    /// Record a message about to be sent to `target` with the new stanza id `id`; returns the id
    /// of the message it corrects, or `None` when it is a new message.
    pub(crate) fn next(
        &mut self,
        target: &Target,
        thread: Option<&str>,
        id: &str,
    ) -> Option<String> {
        if let Some(thread) = thread
            && let Some(last) = self.last.get(target)
            && last.thread.as_deref() == Some(thread)
        {
            return Some(last.first_id.clone());
        }
        if self.last.len() >= MAX_TARGETS && !self.last.contains_key(target) {
            self.last.clear();
        }
        self.last.insert(
            target.clone(),
            Last {
                first_id: id.to_string(),
                thread: thread.map(str::to_string),
            },
        );
        None
    }

    /// Forget everything (a new session: earlier messages are no longer to be corrected).
    pub(crate) fn clear(&mut self) {
        self.last.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::jid::BareJid;

    fn room(name: &str) -> Target {
        Target::Room(BareJid::new(&format!("{name}@conference.example.org")).expect("jid"))
    }

    #[test]
    fn progress_corrects_the_first_message_of_its_thread() {
        let ops = room("ops");
        let mut c = Corrections::default();
        assert_eq!(c.next(&ops, Some("d1"), "id1"), None);
        assert_eq!(c.next(&ops, Some("d1"), "id2").as_deref(), Some("id1"));
        assert_eq!(c.next(&ops, Some("d1"), "id3").as_deref(), Some("id1"));
    }

    #[test]
    fn a_milestone_in_between_starts_a_new_progress_message() {
        let ops = room("ops");
        let mut c = Corrections::default();
        c.next(&ops, Some("d1"), "id1");
        assert_eq!(c.next(&ops, None, "m1"), None);
        assert_eq!(c.next(&ops, Some("d1"), "id3"), None);
        assert_eq!(c.next(&ops, Some("d1"), "id4").as_deref(), Some("id3"));
    }

    #[test]
    fn another_thread_in_between_starts_a_new_message_and_rooms_are_separate() {
        let (ops, dev) = (room("ops"), room("dev"));
        let mut c = Corrections::default();
        c.next(&ops, Some("a"), "a1");
        c.next(&dev, Some("x"), "x1");
        assert_eq!(c.next(&ops, Some("a"), "a2").as_deref(), Some("a1"));
        assert_eq!(c.next(&ops, Some("b"), "b1"), None);
        assert_eq!(c.next(&ops, Some("a"), "a3"), None);
        assert_eq!(c.next(&dev, Some("x"), "x2").as_deref(), Some("x1"));
        c.clear();
        assert_eq!(c.next(&dev, Some("x"), "x3"), None);
    }
}
