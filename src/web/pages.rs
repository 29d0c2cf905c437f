//! The three pages: environments (what is live where, locks, freezes, the queue, what runs and
//! what needs a look), history (filters and paging), and one deploy's whole record.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Page;
use super::html::{error_page, esc, kind_word, layout, query_value, state_badge, took, when};
use crate::engine::Plan;
use crate::journal::{DeployRecord, DeployState, HistoryFilter, JournalError, StepRecord};

/// Rows per history page unless `limit` says otherwise.
pub const PAGE_SIZE: usize = 50;

fn journal_error(e: JournalError) -> Response {
    match e {
        JournalError::NoSuchDeploy(id) => {
            error_page(StatusCode::NOT_FOUND, &format!("no deploy #{id}"))
        }
        e => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot read the journal: {e}"),
        ),
    }
}

impl Page {
    /// Escaped text with the configured secrets hidden.
    fn text(&self, text: &str) -> String {
        esc(&self.inner.redactor.redact(text))
    }

    fn revision(&self, d: &DeployRecord) -> String {
        let short: String = d
            .revision
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(7)
            .collect();
        match &d.tag {
            Some(tag) => format!("{} (<code>{}</code>)", self.text(tag), self.text(&short)),
            None => format!("<code>{}</code>", self.text(&short)),
        }
    }

    fn deploy_link(&self, id: i64) -> String {
        format!("<a href=\"/deploys/{id}\">#{id}</a>")
    }
}

/// `/`: what is live where, and everything that holds or waits.
pub async fn environments(State(page): State<Page>) -> Response {
    let journal = &page.inner.journal;
    let mut body = String::from(
        "<h1>Environments</h1><table id=\"live-where\"><tr><th>app</th><th>environment</th><th>revision</th><th>release</th><th>since</th><th>by</th><th>journal</th></tr>",
    );
    for playbook in &page.inner.config.playbooks {
        for env in &playbook.environments {
            let live = match crate::engine::live_now(journal, &playbook.app.name, &env.name).await {
                Ok(live) => live,
                Err(e) => return journal_error(e),
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td>",
                esc(&playbook.app.name),
                esc(&env.name)
            );
            match live {
                Some(d) => {
                    let _ = write!(
                        body,
                        "<td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        page.revision(&d),
                        page.text(d.release.as_deref().unwrap_or("-")),
                        when(d.finished_at.or(Some(d.started_at))),
                        page.text(&d.requested_by),
                        page.deploy_link(d.id)
                    );
                }
                None => body.push_str("<td colspan=\"5\" class=\"muted\">never deployed</td></tr>"),
            }
        }
    }
    body.push_str("</table>");

    let running = match journal.running().await {
        Ok(r) => r,
        Err(e) => return journal_error(e),
    };
    body.push_str("<h2>Running now</h2>");
    if running.is_empty() {
        body.push_str("<p class=\"muted\">nothing is running</p>");
    } else {
        body.push_str(
            "<table id=\"running\"><tr><th>journal</th><th>what</th><th>by</th><th>since</th></tr>",
        );
        for d in &running {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{} {} {} to {}</td><td>{}</td><td>{}</td></tr>",
                page.deploy_link(d.id),
                kind_word(d.kind),
                esc(&d.app),
                page.revision(d),
                esc(&d.env),
                page.text(&d.requested_by),
                when(Some(d.started_at))
            );
        }
        body.push_str("</table>");
    }

    let locks = match journal.locks().await {
        Ok(l) => l,
        Err(e) => return journal_error(e),
    };
    body.push_str("<h2>Locks</h2>");
    if locks.is_empty() {
        body.push_str("<p class=\"muted\">no locks</p>");
    } else {
        body.push_str("<table id=\"locks\"><tr><th>environment</th><th>app</th><th>held by</th><th>reason</th><th>since</th></tr>");
        for l in &locks {
            let reason = match l.deploy_id {
                Some(id) => format!("{} {}", page.text(&l.reason), page.deploy_link(id)),
                None => page.text(&l.reason),
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{reason}</td><td>{}</td></tr>",
                esc(&l.env),
                esc(&l.app),
                page.text(&l.holder),
                when(Some(l.since))
            );
        }
        body.push_str("</table>");
    }

    let now = crate::clock::now_ms();
    let freezes: Vec<_> = match journal.freezes().await {
        Ok(f) => f.into_iter().filter(|f| f.holds_at(now)).collect(),
        Err(e) => return journal_error(e),
    };
    body.push_str("<h2>Freezes</h2>");
    if freezes.is_empty() {
        body.push_str("<p class=\"muted\">no freezes</p>");
    } else {
        body.push_str("<table id=\"freezes\"><tr><th>environment</th><th>by</th><th>until</th><th>reason</th></tr>");
        for f in &freezes {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.env),
                page.text(&f.holder),
                esc(&crate::checks::until_text(f.until)),
                page.text(&f.reason)
            );
        }
        body.push_str("</table>");
    }

    let board = page.inner.board.borrow().clone();
    body.push_str("<h2>Waiting for a free environment</h2>");
    if board.queue.is_empty() {
        body.push_str("<p class=\"muted\">nobody is waiting</p>");
    } else {
        body.push_str("<ol id=\"queue\">");
        for q in &board.queue {
            let _ = write!(
                body,
                "<li>{} {} {} {} for {}</li>",
                q.kind,
                esc(&q.app),
                if q.kind == "deploy" { "to" } else { "in" },
                esc(&q.env),
                page.text(&q.who)
            );
        }
        body.push_str("</ol>");
    }

    let failed = match journal.need_a_look().await {
        Ok(f) => f,
        Err(e) => return journal_error(e),
    };
    if !failed.is_empty() {
        body.push_str("<h2>Need a look</h2><ul id=\"need-a-look\">");
        for d in &failed {
            let _ = write!(
                body,
                "<li>{} {} {} on {} by {}: {}</li>",
                page.deploy_link(d.id),
                kind_word(d.kind),
                esc(&d.app),
                esc(&d.env),
                page.text(&d.requested_by),
                page.text(d.summary.as_deref().unwrap_or(""))
            );
        }
        body.push_str("</ul>");
    }
    layout("environments", &body).into_response()
}

/// The outcome filter's words, as the page's form offers them.
const OUTCOMES: &[(&str, DeployState)] = &[
    ("succeeded", DeployState::Succeeded),
    ("undone", DeployState::Undone),
    ("failed", DeployState::Failed),
    ("recovered", DeployState::Recovered),
    ("running", DeployState::Running),
];

/// `/history?app=&env=&person=&outcome=&before=&limit=`
pub async fn history(
    State(page): State<Page>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| {
        query
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let outcome = field("outcome");
    let state = match outcome.as_deref() {
        None => None,
        Some(word) => match OUTCOMES.iter().find(|(w, _)| *w == word) {
            Some((_, state)) => Some(*state),
            None => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown outcome {word:?}"),
                );
            }
        },
    };
    let number = |name: &str| field(name).and_then(|v| v.parse::<i64>().ok());
    let filter = HistoryFilter {
        app: field("app"),
        env: field("env"),
        person: field("person"),
        state,
        before: number("before"),
        limit: number("limit").map_or(PAGE_SIZE, |n| n.clamp(1, 500) as usize),
    };
    let result = match page.inner.journal.history_page(filter.clone()).await {
        Ok(r) => r,
        Err(e) => return journal_error(e),
    };

    let mut body =
        String::from("<h1>History</h1><form class=\"filters\" method=\"get\" action=\"/history\">");
    let select = |name: &str, label: &str, options: Vec<String>, chosen: Option<&str>| {
        let mut out =
            format!("<label>{label}<select name=\"{name}\"><option value=\"\">any</option>");
        for o in options {
            let selected = if Some(o.as_str()) == chosen {
                " selected"
            } else {
                ""
            };
            let _ = write!(out, "<option{selected}>{}</option>", esc(&o));
        }
        out.push_str("</select></label>");
        out
    };
    let config = &page.inner.config;
    let apps: Vec<String> = config
        .playbooks
        .iter()
        .map(|p| p.app.name.clone())
        .collect();
    let mut envs: Vec<String> = config
        .playbooks
        .iter()
        .flat_map(|p| p.environments.iter().map(|e| e.name.clone()))
        .collect();
    envs.sort();
    envs.dedup();
    body.push_str(&select("app", "app", apps, filter.app.as_deref()));
    body.push_str(&select("env", "environment", envs, filter.env.as_deref()));
    let _ = write!(
        body,
        "<label>person<input name=\"person\" value=\"{}\"></label>",
        esc(filter.person.as_deref().unwrap_or(""))
    );
    body.push_str(&select(
        "outcome",
        "outcome",
        OUTCOMES.iter().map(|(w, _)| w.to_string()).collect(),
        outcome.as_deref(),
    ));
    body.push_str("<button type=\"submit\">show</button></form>");
    let _ = write!(
        body,
        "<p class=\"muted\" id=\"total\">{}</p>",
        match result.total {
            1 => "1 deploy matches".to_string(),
            n => format!("{n} deploys match"),
        }
    );
    body.push_str("<table id=\"history\"><tr><th>journal</th><th>started</th><th>who</th><th>what</th><th>where</th><th>took</th><th>outcome</th></tr>");
    for d in &result.deploys {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            page.deploy_link(d.id),
            when(Some(d.started_at)),
            page.text(&d.requested_by),
            kind_word(d.kind),
            esc(&d.app),
            page.revision(d),
            esc(&d.env),
            took(d.started_at, d.finished_at),
            state_badge(d.state)
        );
    }
    body.push_str("</table>");
    let mut keep = String::new();
    for (name, value) in [
        ("app", &filter.app),
        ("env", &filter.env),
        ("person", &filter.person),
        ("outcome", &outcome),
    ] {
        if let Some(v) = value {
            let _ = write!(keep, "&{name}={}", query_value(v));
        }
    }
    body.push_str("<p class=\"paging\">");
    if filter.before.is_some() {
        let _ = write!(
            body,
            "<a id=\"newest\" href=\"/history?limit={}{}\">newest</a> ",
            filter.limit,
            esc(&keep)
        );
    }
    if let Some(next) = result.next_before {
        let _ = write!(
            body,
            "<a id=\"older\" href=\"/history?before={next}&amp;limit={}{}\">older</a>",
            filter.limit,
            esc(&keep)
        );
    }
    body.push_str("</p>");
    layout("history", &body).into_response()
}

/// `/deploys/ID`: who, what, the changesets, the plan, every step with its output, the chat
/// messages, the files, the download; and the live log while it runs.
pub async fn deploy(State(page): State<Page>, Path(id): Path<i64>) -> Response {
    let journal = &page.inner.journal;
    let d = match journal.deploy(id).await {
        Ok(d) => d,
        Err(e) => return journal_error(e),
    };
    let (steps, files, messages) = match (
        journal.steps(id).await,
        journal.files(id).await,
        journal.messages(id).await,
    ) {
        (Ok(s), Ok(f), Ok(m)) => (s, f, m),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return journal_error(e),
    };
    let plan: Option<Plan> = d.plan.as_deref().and_then(|p| serde_json::from_str(p).ok());

    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{} #{}: {} {} to {} {}</h1>",
        kind_word(d.kind),
        d.id,
        esc(&d.app),
        page.revision(&d),
        esc(&d.env),
        state_badge(d.state)
    );
    let _ = write!(
        body,
        "<table id=\"summary\"><tr><th>asked by</th><td>{}</td></tr><tr><th>room</th><td>{}</td></tr>\
         <tr><th>reference</th><td>{}</td></tr><tr><th>revision</th><td><code>{}</code></td></tr>\
         <tr><th>release</th><td><code>{}</code></td></tr><tr><th>replaced</th><td>{}</td></tr>\
         <tr><th>started</th><td>{}</td></tr><tr><th>finished</th><td>{}</td></tr><tr><th>took</th><td>{}</td></tr>\
         <tr><th>summary</th><td>{}</td></tr></table>",
        page.text(&d.requested_by),
        page.text(&d.room),
        page.text(d.reference.as_deref().unwrap_or("-")),
        page.text(d.revision.as_deref().unwrap_or("-")),
        page.text(d.release.as_deref().unwrap_or("-")),
        match (&d.previous_release, &d.previous_revision) {
            (Some(release), revision) => format!(
                "<code>{}</code> (<code>{}</code>)",
                page.text(release),
                page.text(revision.as_deref().unwrap_or("-"))
            ),
            (None, _) => "nothing: the first deploy there".to_string(),
        },
        when(Some(d.started_at)),
        when(d.finished_at),
        took(d.started_at, d.finished_at),
        page.text(d.summary.as_deref().unwrap_or("-"))
    );
    let _ = write!(
        body,
        "<p><a id=\"download\" href=\"/deploys/{id}/export\" download>download the whole record (tar.gz)</a></p>"
    );

    if d.state == DeployState::Running {
        let _ = write!(
            body,
            "<h2>Live output</h2><p id=\"live-status\" class=\"muted\">waiting for output…</p>\
             <pre id=\"live\" data-src=\"/deploys/{id}/live\"></pre>"
        );
    }

    if let Some(plan) = &plan {
        body.push_str(&changesets(&page, plan, d.kind));
        let _ = write!(
            body,
            "<h2>Plan</h2><details><summary>{} step(s) on {} host(s)</summary><pre id=\"plan\">{}</pre></details>",
            plan.steps.len(),
            plan.hosts.len(),
            page.text(&plan.render())
        );
    }
    body.push_str(&steps_table(&page, &steps));

    body.push_str("<h2>What the room was told</h2>");
    if messages.is_empty() {
        body.push_str("<p class=\"muted\">nothing recorded</p>");
    } else {
        body.push_str("<table id=\"chat\"><tr><th>when</th><th>room</th><th>message</th></tr>");
        for m in &messages {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                when(Some(m.at)),
                page.text(&m.room),
                page.text(&m.text)
            );
        }
        body.push_str("</table>");
    }
    let _ = write!(
        body,
        "<h2>Files shipped</h2><details><summary>{} files</summary><table id=\"files\"><tr><th>path</th><th>size</th><th>SHA-256</th></tr>",
        files.len()
    );
    for f in &files {
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"mono\">{}</td></tr>",
            page.text(&f.path),
            f.size,
            esc(&f.sha256)
        );
    }
    body.push_str("</table></details>");
    layout(&format!("{} #{id}", kind_word(d.kind)), &body).into_response()
}

fn changesets(page: &Page, plan: &Plan, kind: crate::journal::DeployKind) -> String {
    let tracker = &page.inner.tracker;
    let mut out = format!(
        "<h2>{}</h2>",
        match kind {
            crate::journal::DeployKind::Deploy => "Changesets shipped",
            crate::journal::DeployKind::Rollback => "Changesets taken out",
            crate::journal::DeployKind::Repair => "Changesets",
        }
    );
    if plan.changesets.is_empty() {
        out.push_str("<p class=\"muted\">none</p>");
        return out;
    }
    out.push_str("<table id=\"changesets\"><tr><th>commit</th><th>author</th><th>subject</th><th>tickets</th></tr>");
    for c in &plan.changesets {
        let commit = match tracker.changeset_url(&c.sha) {
            Some(url) => format!(
                "<a href=\"{}\"><code>{}</code></a>",
                esc(&url),
                esc(&c.short)
            ),
            None => format!("<code>{}</code>", esc(&c.short)),
        };
        let mut tickets = String::new();
        for id in &c.tickets {
            let title = plan
                .tickets
                .get(id)
                .map(|t| format!(" {} ({})", page.text(&t.summary), esc(&t.status)))
                .unwrap_or_default();
            match tracker.ticket_url(*id) {
                Some(url) => {
                    let _ = write!(tickets, "<a href=\"{}\">#{id}</a>{title} ", esc(&url));
                }
                None => {
                    let _ = write!(tickets, "#{id}{title} ");
                }
            }
        }
        let _ = write!(
            out,
            "<tr><td>{commit}</td><td>{}</td><td class=\"subject\">{}</td><td>{tickets}</td></tr>",
            page.text(&c.author),
            page.text(&c.subject)
        );
    }
    out.push_str("</table>");
    out
}

fn steps_table(page: &Page, steps: &[StepRecord]) -> String {
    let mut out = String::from("<h2>Steps</h2>");
    if steps.is_empty() {
        out.push_str("<p class=\"muted\">no step ran</p>");
        return out;
    }
    out.push_str("<table id=\"steps\"><tr><th>#</th><th>phase</th><th>host</th><th>command</th><th>started</th><th>took</th><th>outcome</th></tr>");
    let seq_of: HashMap<i64, i64> = steps.iter().map(|s| (s.id, s.seq)).collect();
    for s in steps {
        let phase = match s.undo_of.and_then(|of| seq_of.get(&of)) {
            Some(seq) => format!("undo of #{seq}"),
            None => esc(&s.phase),
        };
        let _ = write!(
            out,
            "<tr class=\"step {}\"><td>{}</td><td>{phase}</td><td>{}</td><td><code>{}</code>",
            esc(s.state.as_str()),
            s.seq,
            page.text(s.host.as_deref().unwrap_or("(bot)")),
            page.text(&s.label)
        );
        if let Some(undo) = &s.undo {
            let _ = write!(
                out,
                "<details><summary>action and undo</summary><pre>{}\nundo: {}</pre></details>",
                page.text(&s.action),
                page.text(undo)
            );
        }
        let output = s.output.as_deref().unwrap_or("");
        if !output.trim().is_empty() {
            let _ = write!(out, "<pre class=\"output\">{}</pre>", page.text(output));
        }
        let _ = write!(
            out,
            "</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            when(Some(s.started_at)),
            took(s.started_at, s.finished_at),
            esc(s.state.as_str())
        );
    }
    out.push_str("</table>");
    out
}
