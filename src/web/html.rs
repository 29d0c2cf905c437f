//! HTML the safe way: every value goes through `esc`; pages share one layout; the page's one
//! script and stylesheet are served from here (the Content-Security-Policy allows nothing else).

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::clock::format_utc;
use crate::journal::{DeployKind, DeployState};

/// Text made safe for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query-string value, percent-encoded.
pub fn query_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A whole page: the title is escaped here, `body` must already be HTML.
pub fn layout(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · bosun</title><link rel=\"stylesheet\" href=\"/static/bosun.css\">\
         <script src=\"/static/bosun.js\" defer></script></head><body>\
         <nav><a href=\"/\">environments</a> <a href=\"/history\">history</a></nav>\
         <main>{body}</main></body></html>\n",
        esc(title)
    ))
}

/// `2026-11-23 08:15 UTC`, or `-`.
pub fn when(ms: Option<i64>) -> String {
    ms.map(format_utc).unwrap_or_else(|| "-".into())
}

/// How long from `start` to `end`, for people.
pub fn took(start: i64, end: Option<i64>) -> String {
    match end {
        Some(end) => crate::clock::human_duration(std::time::Duration::from_millis(
            (end - start).max(0) as u64,
        )),
        None => "-".into(),
    }
}

pub fn state_word(state: DeployState) -> &'static str {
    match state {
        DeployState::Running => "running",
        DeployState::Succeeded => "succeeded",
        DeployState::Undone => "failed, undone",
        DeployState::Failed => "FAILED, needs a look",
        DeployState::Recovered => "interrupted, undone on restart",
        DeployState::Repaired => "hosts brought back to the live release",
    }
}

/// A badge for a deploy's state (the class names a fixed word, never input).
pub fn state_badge(state: DeployState) -> String {
    format!(
        "<span class=\"state {}\">{}</span>",
        state.as_str(),
        state_word(state)
    )
}

pub fn kind_word(kind: DeployKind) -> &'static str {
    match kind {
        DeployKind::Deploy => "deploy",
        DeployKind::Rollback => "rollback",
        DeployKind::Repair => "repair",
    }
}

pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        layout("not found", "<h1>Not found</h1>"),
    )
        .into_response()
}

pub fn error_page(status: StatusCode, what: &str) -> Response {
    (status, layout(what, &format!("<h1>{}</h1>", esc(what)))).into_response()
}

const SCRIPT: &str = r#"// bosun's page: follows a running deploy's live log. Text only: never HTML.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const log = document.getElementById("live");
  if (!log || !log.dataset.src) return;
  const status = document.getElementById("live-status");
  const source = new EventSource(log.dataset.src);
  source.addEventListener("line", (event) => {
    const line = JSON.parse(event.data);
    const row = document.createElement("div");
    row.className = line.stderr ? "line stderr" : "line";
    row.dataset.seq = String(line.seq);
    const host = document.createElement("span");
    host.className = "host";
    host.textContent = line.host;
    row.appendChild(host);
    row.appendChild(document.createTextNode(" " + line.text));
    log.appendChild(row);
    if (status) status.textContent = "following the hosts' output";
  });
  source.addEventListener("skipped", (event) => {
    const row = document.createElement("div");
    row.className = "line skipped";
    row.textContent = "… " + event.data + " lines skipped (the whole output is kept in the journal)";
    log.appendChild(row);
  });
  source.addEventListener("end", (event) => {
    source.close();
    if (status) {
      status.textContent = event.data === "end"
        ? "the deploy has ended; reload for its whole record"
        : "this bot is not running it; reload for its record";
    }
    log.dataset.ended = "true";
  });
});
"#;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}\
nav{background:#243b53;padding:.6em 1em}nav a{color:#fff;margin-right:1.2em;text-decoration:none;font-weight:600}\
main{padding:1em 1.5em;max-width:80em}table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}\
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}\
th{background:#eef2f7}pre,code,.mono{font-family:ui-monospace,monospace;font-size:.9em}\
pre{background:#fff;border:1px solid #ddd;padding:.5em;overflow-x:auto;white-space:pre-wrap}\
.state{padding:.1em .5em;border-radius:.8em;font-size:.85em;white-space:nowrap}\
.succeeded{background:#d3f9d8}.running{background:#d0ebff}.undone{background:#fff3bf}\
.failed{background:#ffc9c9;font-weight:700}.recovered{background:#ffe8cc}\
#live{background:#0b1220;color:#e6edf3;min-height:4em}#live .host{color:#8ab4f8}#live .stderr{color:#ffb4a9}\
form.filters{display:flex;gap:.6em;flex-wrap:wrap;align-items:end;margin:.5em 0}\
form.filters label{display:flex;flex-direction:column;font-size:.85em}.muted{color:#667}";

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        SCRIPT,
    )
        .into_response()
}

pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        STYLE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            esc("<img src=x onerror=alert(1)> & \"q\" 'a'"),
            "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot; &#39;a&#39;"
        );
        assert_eq!(query_value("a b&c"), "a+b%26c");
    }
}
