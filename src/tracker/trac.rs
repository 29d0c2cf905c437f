//! A Trac over HTTP: ticket details from `/query?format=csv`, the changeset log from
//! `/log/?format=changelog`, and links to `/changeset/SHA` and `/ticket/N`.
//!
//! Anonymous, or logged in as a user: `GET /login` with HTTP basic auth hands back a `trac_auth`
//! cookie that the client's cookie store sends with every later request. The login is kept; a
//! request refused with 403 (Trac forgets logins after some days) logs in again once and retries.
//! Every call is bounded by the configured timeout, login included.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use tokio::sync::Mutex;

use super::changelog;
use super::csv;
use super::error::TrackerError;
use super::model::{LoggedChangeset, Ticket};
use super::secret;
use crate::config::Secret;

/// The most entries one `log` asks for; Trac's own default is 100.
const LOG_LIMIT: u32 = 1000;

/// The columns asked of `/query`, in this order.
const COLUMNS: [&str; 4] = ["id", "summary", "status", "resolution"];

/// A Trac environment reached over HTTP.
#[derive(Debug)]
pub struct TracTracker {
    /// The environment's URL without a trailing `/`.
    base: String,
    /// `host[:port]`, for messages.
    host: String,
    login: Option<Login>,
    timeout: Duration,
    client: reqwest::Client,
    /// Whether the client holds a `trac_auth` cookie; held while logging in.
    logged_in: Mutex<bool>,
}

#[derive(Debug)]
struct Login {
    user: String,
    password: Option<Secret>,
}

impl TracTracker {
    /// A tracker for the Trac at `url`, anonymous unless `user` is given. The password is read
    /// when logging in, not here. Installs rustls' `ring` provider if none is installed yet.
    pub fn new(
        url: &str,
        user: Option<String>,
        password: Option<Secret>,
        timeout: Duration,
    ) -> Result<Self, TrackerError> {
        let base = url.trim_end_matches('/').to_string();
        let parsed = Url::parse(&base).map_err(|_| TrackerError::InvalidUrl { url: url.into() })?;
        let host = match (parsed.scheme(), parsed.host_str()) {
            ("http" | "https", Some(host)) => match parsed.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            },
            _ => return Err(TrackerError::InvalidUrl { url: url.into() }),
        };
        // Err means a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bosun/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| TrackerError::Client)?;
        Ok(TracTracker {
            base,
            host,
            login: user.map(|user| Login { user, password }),
            timeout,
            client,
            logged_in: Mutex::new(false),
        })
    }

    /// The longest one call waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn changeset_url(&self, sha: &str) -> String {
        format!("{}/changeset/{sha}", self.base)
    }

    /// The page listing the changesets after `old` up to `new`.
    pub fn log_url(&self, new: &str, old: &str) -> String {
        format!("{}/log/?rev={new}&stop_rev={old}", self.base)
    }

    pub fn ticket_url(&self, id: u32) -> String {
        format!("{}/ticket/{id}", self.base)
    }

    /// The tickets among `ids` that exist and may be seen, in one request (plus a login when
    /// one is due). No request at all for no ids.
    pub async fn tickets(&self, ids: &[u32]) -> Result<BTreeMap<u32, Ticket>, TrackerError> {
        let wanted: BTreeSet<u32> = ids.iter().copied().collect();
        if wanted.is_empty() {
            return Ok(BTreeMap::new());
        }
        // Trac 1.6 takes `id=1,2,3`. (`id=1|2` fails inside Trac, "Invalid query constraint
        // value", after the 200 status line went out: an empty body.)
        let list = wanted
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut url = self.url("query")?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("format", "csv")
                .append_pair("id", &list)
                .append_pair("max", "0");
            for column in COLUMNS {
                query.append_pair("col", column);
            }
        }
        let text = self.within(self.get(url)).await?;
        let tickets = self.parse_tickets(&text)?;
        Ok(tickets
            .into_iter()
            .filter(|(id, _)| wanted.contains(id))
            .collect())
    }

    /// The changesets after `old` up to and including `new`, newest first, with their authors.
    pub async fn log(&self, new: &str, old: &str) -> Result<Vec<LoggedChangeset>, TrackerError> {
        let mut url = self.url("log/")?;
        url.query_pairs_mut()
            .append_pair("format", "changelog")
            .append_pair("verbose", "on")
            .append_pair("rev", new)
            .append_pair("stop_rev", old)
            .append_pair("limit", &LOG_LIMIT.to_string());
        let text = self.within(self.get(url)).await?;
        let mut entries =
            changelog::parse(&text).map_err(|_| TrackerError::Unparseable { what: "changelog" })?;
        // Trac's range includes `stop_rev` itself.
        entries.retain(|entry| !entry.is_revision(old));
        Ok(entries)
    }

    fn url(&self, path: &str) -> Result<Url, TrackerError> {
        Url::parse(&format!("{}/{path}", self.base)).map_err(|_| TrackerError::InvalidUrl {
            url: self.base.clone(),
        })
    }

    async fn within<T>(
        &self,
        work: impl Future<Output = Result<T, TrackerError>>,
    ) -> Result<T, TrackerError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or(Err(TrackerError::Timeout {
                after: self.timeout,
            }))
    }

    /// The body of a 200 answer to `url`, logged in first when a user is configured.
    async fn get(&self, url: Url) -> Result<String, TrackerError> {
        let fresh = self.log_in(false).await?;
        let mut response = self.send(url.clone()).await?;
        if response.status() == StatusCode::FORBIDDEN && self.login.is_some() && !fresh {
            self.log_in(true).await?;
            response = self.send(url).await?;
        }
        match response.status() {
            StatusCode::OK => response.text().await.map_err(|_| self.unreachable()),
            status => Err(TrackerError::Status {
                code: status.as_u16(),
            }),
        }
    }

    async fn send(&self, url: Url) -> Result<reqwest::Response, TrackerError> {
        self.client
            .get(url)
            .send()
            .await
            .map_err(|_| self.unreachable())
    }

    /// `GET /login` with basic auth, unless anonymous or logged in already (and not `again`).
    /// Whether it logged in just now.
    async fn log_in(&self, again: bool) -> Result<bool, TrackerError> {
        let Some(login) = &self.login else {
            return Ok(false);
        };
        let mut logged_in = self.logged_in.lock().await;
        if *logged_in && !again {
            return Ok(false);
        }
        *logged_in = false;
        let password = login.password.as_ref().map(secret::read).transpose()?;
        let response = self
            .client
            .get(self.url("login")?)
            .basic_auth(&login.user, password)
            .send()
            .await
            .map_err(|_| self.unreachable())?;
        let status = response.status();
        let refused = TrackerError::LoginRefused {
            user: login.user.clone(),
        };
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(refused);
        }
        if !(status.is_success() || status.is_redirection()) {
            return Err(TrackerError::Status {
                code: status.as_u16(),
            });
        }
        if !response
            .cookies()
            .any(|cookie| cookie.name() == "trac_auth")
        {
            return Err(refused);
        }
        *logged_in = true;
        Ok(true)
    }

    fn unreachable(&self) -> TrackerError {
        TrackerError::Unreachable {
            host: self.host.clone(),
        }
    }

    /// Rows of `id,summary,status,resolution` (the header's labels are Trac's, possibly
    /// translated, so only its shape and the `id` column are checked).
    fn parse_tickets(&self, text: &str) -> Result<BTreeMap<u32, Ticket>, TrackerError> {
        let unparseable = || TrackerError::Unparseable {
            what: "ticket list",
        };
        let mut records = csv::parse(text).map_err(|_| unparseable())?.into_iter();
        match records.next() {
            Some(header)
                if header.len() == COLUMNS.len() && header[0].eq_ignore_ascii_case("id") => {}
            _ => return Err(unparseable()),
        }
        let mut tickets = BTreeMap::new();
        for record in records {
            let [id, summary, status, resolution] =
                <[String; 4]>::try_from(record).map_err(|_| unparseable())?;
            let id = id.parse::<u32>().map_err(|_| unparseable())?;
            tickets.insert(
                id,
                Ticket {
                    id,
                    summary,
                    status,
                    resolution,
                    url: Some(self.ticket_url(id)),
                },
            );
        }
        Ok(tickets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trac(url: &str) -> TracTracker {
        TracTracker::new(url, None, None, Duration::from_secs(3)).expect("valid")
    }

    #[test]
    fn links_hang_off_the_base_url() {
        let t = trac("https://trac.example.org/blog/");
        assert_eq!(
            t.changeset_url("3f2a9c1"),
            "https://trac.example.org/blog/changeset/3f2a9c1"
        );
        assert_eq!(
            t.ticket_url(212),
            "https://trac.example.org/blog/ticket/212"
        );
    }

    #[test]
    fn only_http_urls_are_trackers() {
        for url in [
            "trac.example.org",
            "ftp://trac.example.org",
            "file:///srv/trac",
            "",
        ] {
            let error = TracTracker::new(url, None, None, Duration::from_secs(1)).unwrap_err();
            assert!(
                matches!(error, TrackerError::InvalidUrl { .. }),
                "{url}: {error:?}"
            );
        }
    }

    #[test]
    fn ticket_rows_become_tickets() {
        let t = trac("http://127.0.0.1:8000");
        let text = "\u{feff}id,Summary,Status,Resolution\r\n\
                    7,\"Feed skips page 2, sometimes\",closed,fixed\r\n\
                    9,Cache tag pages,new,\r\n";
        let tickets = t.parse_tickets(text).expect("parses");
        assert_eq!(
            tickets.values().cloned().collect::<Vec<_>>(),
            vec![
                Ticket {
                    id: 7,
                    summary: "Feed skips page 2, sometimes".into(),
                    status: "closed".into(),
                    resolution: "fixed".into(),
                    url: Some("http://127.0.0.1:8000/ticket/7".into()),
                },
                Ticket {
                    id: 9,
                    summary: "Cache tag pages".into(),
                    status: "new".into(),
                    resolution: String::new(),
                    url: Some("http://127.0.0.1:8000/ticket/9".into()),
                },
            ]
        );
    }

    #[test]
    fn anything_else_is_unparseable() {
        let t = trac("http://127.0.0.1:8000");
        for text in [
            "",
            "<!DOCTYPE html><html><body>Error</body></html>",
            "id,Summary,Status\r\n1,a,new\r\n",
            "id,Summary,Status,Resolution\r\nseven,a,new,\r\n",
            "id,Summary,Status,Resolution\r\n1,a,new\r\n",
            "id,Summary,Status,Resolution\r\n1,\"unclosed,new,\r\n",
        ] {
            assert!(
                matches!(t.parse_tickets(text), Err(TrackerError::Unparseable { .. })),
                "{text:?}"
            );
        }
    }
}
