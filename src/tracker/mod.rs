//! The ticket tracker: which tickets a changeset names, their details, links, and the tracker's
//! changeset log, from the tracker the configuration names (none, URL templates, or a Trac).
//!
//! A deploy never waits on the tracker for long: [`Tracker::lookup`] answers within the
//! configured timeout and turns every failure into one line saying why details are missing.

mod changelog;
mod csv;
mod error;
mod links;
mod model;
mod refs;
mod secret;
mod trac;

use std::collections::BTreeMap;

pub use error::TrackerError;
pub use links::LinksTracker;
pub use model::{LoggedChangeset, Ticket, TicketLookup};
pub use refs::ticket_refs;
pub use trac::TracTracker;

use crate::config::TrackerSection;

/// The configured tracker. The set is closed: a new kind of tracker is a new variant.
#[derive(Debug)]
pub enum Tracker {
    /// No tracker: no links, no details.
    None,
    /// Links from URL templates, no look-ups.
    Links(LinksTracker),
    /// A Trac over HTTP.
    Trac(TracTracker),
}

impl Tracker {
    /// The tracker `[tracker]` describes. Nothing is contacted and no secret is read yet.
    pub fn from_config(section: &TrackerSection) -> Result<Tracker, TrackerError> {
        Ok(match section {
            TrackerSection::None => Tracker::None,
            TrackerSection::Links {
                changeset_url,
                ticket_url,
            } => Tracker::Links(LinksTracker::new(changeset_url.clone(), ticket_url.clone())),
            TrackerSection::Trac {
                url,
                user,
                password,
                timeout,
            } => Tracker::Trac(TracTracker::new(
                url,
                user.clone(),
                password.clone(),
                *timeout,
            )?),
        })
    }

    /// Details of the tickets among `ids` that the tracker knows (none for a tracker without
    /// look-ups). Bounded by the configured timeout.
    pub async fn tickets(&self, ids: &[u32]) -> Result<BTreeMap<u32, Ticket>, TrackerError> {
        match self {
            Tracker::None | Tracker::Links(_) => Ok(BTreeMap::new()),
            Tracker::Trac(trac) => trac.tickets(ids).await,
        }
    }

    /// Like [`Tracker::tickets`], but it never fails: what went wrong becomes
    /// [`TicketLookup::unavailable`], a short line with no secret and no response body in it.
    pub async fn lookup(&self, ids: &[u32]) -> TicketLookup {
        match self.tickets(ids).await {
            Ok(tickets) => TicketLookup {
                tickets,
                unavailable: None,
            },
            Err(error) => TicketLookup {
                tickets: BTreeMap::new(),
                unavailable: Some(error.to_string()),
            },
        }
    }

    /// Where people read changeset `sha`, if the tracker has pages.
    pub fn changeset_url(&self, sha: &str) -> Option<String> {
        match self {
            Tracker::None => None,
            Tracker::Links(links) => links.changeset_url(sha),
            Tracker::Trac(trac) => Some(trac.changeset_url(sha)),
        }
    }

    /// Where people read the whole list of changesets after `old` up to `new`, if anywhere.
    pub fn log_url(&self, new: &str, old: &str) -> Option<String> {
        match self {
            Tracker::Trac(trac) => Some(trac.log_url(new, old)),
            Tracker::None | Tracker::Links(_) => None,
        }
    }

    /// Where people read ticket `id`, if the tracker has pages.
    pub fn ticket_url(&self, id: u32) -> Option<String> {
        match self {
            Tracker::None => None,
            Tracker::Links(links) => links.ticket_url(id),
            Tracker::Trac(trac) => Some(trac.ticket_url(id)),
        }
    }

    /// The tracker's log of the changesets after `old` up to `new`, newest first, with their
    /// authors. Only Trac keeps one; the others answer [`TrackerError::NoLog`].
    pub async fn log(&self, new: &str, old: &str) -> Result<Vec<LoggedChangeset>, TrackerError> {
        match self {
            Tracker::None | Tracker::Links(_) => Err(TrackerError::NoLog),
            Tracker::Trac(trac) => trac.log(new, old).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn no_tracker_gives_nothing_and_fails_nothing() {
        let tracker = Tracker::from_config(&TrackerSection::None).expect("builds");
        assert_eq!(tracker.lookup(&[1, 2]).await, TicketLookup::default());
        assert_eq!(tracker.changeset_url("abc"), None);
        assert_eq!(tracker.ticket_url(1), None);
        assert!(matches!(
            tracker.log("b", "a").await,
            Err(TrackerError::NoLog)
        ));
    }

    #[tokio::test]
    async fn links_tracker_links_but_looks_nothing_up() {
        let tracker = Tracker::from_config(&TrackerSection::Links {
            changeset_url: "https://git.example.org/c/{sha}".into(),
            ticket_url: "https://t.example.org/{ticket}".into(),
        })
        .expect("builds");
        assert_eq!(
            tracker.changeset_url("abc").as_deref(),
            Some("https://git.example.org/c/abc")
        );
        assert_eq!(
            tracker.ticket_url(4).as_deref(),
            Some("https://t.example.org/4")
        );
        assert!(tracker.tickets(&[4]).await.expect("no look-up").is_empty());
        assert_eq!(tracker.lookup(&[4]).await, TicketLookup::default());
        assert!(matches!(
            tracker.log("b", "a").await,
            Err(TrackerError::NoLog)
        ));
    }

    #[tokio::test]
    async fn trac_links_and_no_request_for_no_tickets() {
        // Port 9 (discard) on loopback: a request would fail, so an empty answer proves none was made.
        let tracker = Tracker::from_config(&TrackerSection::Trac {
            url: "http://127.0.0.1:9/blog".into(),
            user: None,
            password: None,
            timeout: Duration::from_secs(3),
        })
        .expect("builds");
        assert_eq!(
            tracker.ticket_url(3).as_deref(),
            Some("http://127.0.0.1:9/blog/ticket/3")
        );
        assert_eq!(
            tracker.changeset_url("abc").as_deref(),
            Some("http://127.0.0.1:9/blog/changeset/abc")
        );
        assert_eq!(tracker.lookup(&[]).await, TicketLookup::default());
    }

    #[test]
    fn a_bad_trac_url_is_refused_at_start() {
        let error = Tracker::from_config(&TrackerSection::Trac {
            url: "trac.example.org".into(),
            user: None,
            password: None,
            timeout: Duration::from_secs(3),
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the tracker URL \"trac.example.org\" is not an http(s) URL"
        );
    }
}
