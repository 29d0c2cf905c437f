//! The tracker's error type: why ticket details or a changeset log could not be had.
//!
//! Every message is one short line a chat room can read. None carries a password, a cookie or a
//! response body: a tracker that answers with an HTML error page is reported by its status code.

use std::time::Duration;

/// An error from the tracker module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrackerError {
    /// The configured URL is not an absolute http(s) URL.
    #[error("the tracker URL {url:?} is not an http(s) URL")]
    InvalidUrl { url: String },
    /// The HTTP client could not be set up (no TLS roots, for example).
    #[error("the HTTP client for the tracker could not be set up")]
    Client,
    /// The password could not be read from where the configuration says it is.
    #[error("the tracker password could not be read: {reason}")]
    Secret { reason: String },
    /// No answer came within the configured time (connecting, logging in and the query together).
    #[error("the tracker did not answer within {}", seconds(*after))]
    Timeout { after: Duration },
    /// The connection could not be made or broke before an answer arrived.
    #[error("could not reach the tracker at {host}")]
    Unreachable { host: String },
    /// The tracker answered with an unexpected HTTP status.
    #[error("Trac answered {code}")]
    Status { code: u16 },
    /// `/login` refused the configured user (HTTP 401 or 403, or no session cookie came back).
    #[error("Trac refused the login for {user:?}")]
    LoginRefused { user: String },
    /// The answer was not what that endpoint returns (an HTML page, truncated CSV, …).
    #[error("Trac's answer was not a readable {what}")]
    Unparseable { what: &'static str },
    /// This kind of tracker keeps no changeset log (only Trac has `log`).
    #[error("this tracker has no changeset log")]
    NoLog,
}

/// `3s`, `1.5s`, `300ms`: the way a person writes a short duration.
pub(crate) fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_one_line_for_the_room() {
        let cases = [
            (TrackerError::Status { code: 500 }, "Trac answered 500"),
            (
                TrackerError::Timeout {
                    after: Duration::from_secs(3),
                },
                "the tracker did not answer within 3s",
            ),
            (
                TrackerError::Timeout {
                    after: Duration::from_millis(250),
                },
                "the tracker did not answer within 250ms",
            ),
            (
                TrackerError::Timeout {
                    after: Duration::from_millis(1500),
                },
                "the tracker did not answer within 1.5s",
            ),
            (
                TrackerError::LoginRefused {
                    user: "deploybot".into(),
                },
                "Trac refused the login for \"deploybot\"",
            ),
            (
                TrackerError::Unreachable {
                    host: "127.0.0.1:9".into(),
                },
                "could not reach the tracker at 127.0.0.1:9",
            ),
            (
                TrackerError::Unparseable {
                    what: "ticket list",
                },
                "Trac's answer was not a readable ticket list",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
            assert!(!text.contains('\n'));
        }
    }
}
