//! What the tracker hands back: tickets, a never-failing lookup result, and logged changesets.

use std::collections::BTreeMap;

/// A ticket as the tracker describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub id: u32,
    pub summary: String,
    /// `new`, `assigned`, `closed`, … as the tracker names it.
    pub status: String,
    /// `fixed`, `wontfix`, … or empty while the ticket is open.
    pub resolution: String,
    /// Where people read it, when the tracker has pages.
    pub url: Option<String>,
}

/// The answer of [`super::Tracker::lookup`]: the tickets that could be had, and, when details are
/// missing, one line saying why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketLookup {
    pub tickets: BTreeMap<u32, Ticket>,
    /// e.g. `the tracker did not answer within 3s`; `None` when the tracker answered (a ticket
    /// absent from `tickets` then does not exist or may not be seen).
    pub unavailable: Option<String>,
}

impl TicketLookup {
    /// The line for the room when details are missing: `ticket details unavailable: Trac answered 500`.
    pub fn notice(&self) -> Option<String> {
        self.unavailable
            .as_ref()
            .map(|why| format!("ticket details unavailable: {why}"))
    }
}

/// One entry of the tracker's changeset log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedChangeset {
    /// The revision as the tracker shows it (Trac shows git revisions abbreviated, e.g. `3f2a9c1`).
    pub sha: String,
    /// The author (not the committer), e.g. `Bob Builder <bob@example.org>`.
    pub author: String,
    /// The message as the tracker shows it. Trac re-wraps lines longer than 70 columns.
    pub message: String,
}

impl LoggedChangeset {
    /// The author without the e-mail address: `Bob Builder`.
    pub fn author_name(&self) -> &str {
        match self.author.find(" <") {
            Some(at) if self.author.ends_with('>') => &self.author[..at],
            _ => &self.author,
        }
    }

    /// Whether this entry is the revision `rev` (either may be abbreviated).
    pub fn is_revision(&self, rev: &str) -> bool {
        !self.sha.is_empty()
            && !rev.is_empty()
            && (rev.starts_with(&self.sha) || self.sha.starts_with(rev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changeset(sha: &str, author: &str) -> LoggedChangeset {
        LoggedChangeset {
            sha: sha.into(),
            author: author.into(),
            message: String::new(),
        }
    }

    #[test]
    fn author_name_drops_the_address() {
        assert_eq!(
            changeset("a", "Bob Builder <bob@example.org>").author_name(),
            "Bob Builder"
        );
        assert_eq!(changeset("a", "bob").author_name(), "bob");
        assert_eq!(changeset("a", "a <b> c").author_name(), "a <b> c");
    }

    #[test]
    fn revisions_match_by_prefix_either_way() {
        let c = changeset("3f2a9c1", "x");
        assert!(c.is_revision("3f2a9c1d0e"));
        assert!(c.is_revision("3f2a9c1"));
        assert!(c.is_revision("3f2a"));
        assert!(!c.is_revision("3f2a9c2"));
        assert!(!c.is_revision(""));
    }

    #[test]
    fn notice_prefixes_the_reason() {
        let lookup = TicketLookup {
            unavailable: Some("Trac answered 500".into()),
            ..Default::default()
        };
        assert_eq!(
            lookup.notice().as_deref(),
            Some("ticket details unavailable: Trac answered 500")
        );
        assert_eq!(TicketLookup::default().notice(), None);
    }
}
