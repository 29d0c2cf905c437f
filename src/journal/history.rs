//! The history as the page reads it: filters (app, environment, person, outcome) and keyset
//! paging by journal id, newest first, so a page costs the same with 10 or 100,000 deploys.

use rusqlite::params;

use super::records::query_deploys;
use super::{DeployRecord, DeployState, Journal, JournalError};

/// Which deploys to list, and where the page starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub app: Option<String>,
    pub env: Option<String>,
    /// Who asked for it, as the journal names them.
    pub person: Option<String>,
    pub state: Option<DeployState>,
    /// Only deploys older than this journal id (the previous page's last).
    pub before: Option<i64>,
    /// At most this many (1..=500).
    pub limit: usize,
}

/// One page of history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPage {
    pub deploys: Vec<DeployRecord>,
    /// Where the next (older) page starts, when there is one.
    pub next_before: Option<i64>,
    /// How many deploys match the filters in all.
    pub total: i64,
}

const WHERE: &str = "WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR env = ?2)
   AND (?3 IS NULL OR requested_by = ?3) AND (?4 IS NULL OR state = ?4)";

impl Journal {
    /// A page of deploys matching `filter`, newest first.
    pub async fn history_page(&self, filter: HistoryFilter) -> Result<HistoryPage, JournalError> {
        self.with(move |conn| {
            let limit = filter.limit.clamp(1, 500);
            let state = filter.state.map(|s| s.as_str());
            let mut deploys = query_deploys(
                conn,
                &format!("{WHERE} AND (?5 IS NULL OR id < ?5) ORDER BY id DESC LIMIT ?6"),
                params![
                    filter.app,
                    filter.env,
                    filter.person,
                    state,
                    filter.before,
                    limit as i64 + 1
                ],
            )?;
            let next_before = if deploys.len() > limit {
                deploys.truncate(limit);
                deploys.last().map(|d| d.id)
            } else {
                None
            };
            let total = conn.query_row(
                &format!("SELECT COUNT(*) FROM deploys {WHERE}"),
                params![filter.app, filter.env, filter.person, state],
                |r| r.get(0),
            )?;
            Ok(HistoryPage {
                deploys,
                next_before,
                total,
            })
        })
        .await
    }
}
