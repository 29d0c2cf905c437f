//! The history as the page reads it: filters (app, environment, person, outcome) and keyset
//! paging by journal id, newest first, so a page costs the same with 10 or 100,000 deploys.

use rusqlite::params;

use super::Sqlite;
use super::records::query_deploys;
use crate::journal::{HistoryFilter, HistoryPage, JournalError};

const WHERE: &str = "WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR env = ?2)
   AND (?3 IS NULL OR requested_by = ?3) AND (?4 IS NULL OR state = ?4)";

impl Sqlite {
    /// A page of deploys matching `filter`, newest first.
    pub(crate) async fn history_page(
        &self,
        filter: HistoryFilter,
    ) -> Result<HistoryPage, JournalError> {
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
