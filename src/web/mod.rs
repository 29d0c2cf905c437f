//! The page the bot serves (`[web]`): what is live where, the history, one deploy's whole record
//! and its live log (server-sent events), and the export download. Read-only: every route is a
//! GET; everything from git, chat or command output is escaped; a strict Content-Security-Policy
//! allows only this server's own script and style; configured secrets are hidden.
//!
//! `bind` takes the address before the bot starts; `serve` runs until the bot stops (its task
//! belongs to the bot's `TaskTracker`, and every live stream ends with it).

mod access;
mod download;
mod html;
mod pages;
mod sse;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::bot::Board;
use crate::config::{Config, WebSection};
use crate::journal::Journal;
use crate::live::LiveLogs;
use crate::redact::Redactor;
use crate::tracker::Tracker;

pub use access::Access;

/// The policy every answer carries: only this server's own script and style, no frames, no
/// plugins, no inline code (so text that slipped through escaping still could not run).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Why the page could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("the page cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("[web]: {0}")]
    Secret(#[from] crate::config::SecretError),
}

/// Takes the page's address.
pub async fn bind(web: &WebSection) -> Result<TcpListener, WebError> {
    TcpListener::bind(web.listen)
        .await
        .map_err(|source| WebError::Bind {
            addr: web.listen,
            source,
        })
}

/// What the page reads. Cheap to clone.
#[derive(Clone)]
pub struct Page {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    journal: Journal,
    live: LiveLogs,
    board: watch::Receiver<Board>,
    access: Access,
    tracker: Arc<Tracker>,
    redactor: Redactor,
    stop: CancellationToken,
}

impl Page {
    /// The page over the bot's journal, live logs and loop state; the access secrets are read now.
    pub fn new(
        config: Arc<Config>,
        journal: Journal,
        live: LiveLogs,
        board: watch::Receiver<Board>,
        tracker: Arc<Tracker>,
        stop: CancellationToken,
    ) -> Result<Page, WebError> {
        let access = match &config.web {
            Some(web) => Access::from_config(web)?,
            None => Access::default(),
        };
        let redactor = journal.redactor().clone();
        Ok(Page {
            inner: Arc::new(Inner {
                config,
                journal,
                live,
                board,
                access,
                tracker,
                redactor,
                stop,
            }),
        })
    }

    /// The routes, behind access control and the security headers.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(pages::environments))
            .route("/history", get(pages::history))
            .route("/deploys/{id}", get(pages::deploy))
            .route("/deploys/{id}/live", get(sse::live))
            .route("/deploys/{id}/export", get(download::export))
            .route("/static/bosun.js", get(html::script))
            .route("/static/bosun.css", get(html::style))
            .fallback(html::not_found)
            .layer(middleware::from_fn_with_state(self.clone(), guard))
            .with_state(self.clone())
    }
}

/// Serves the page until `stop` is cancelled.
pub async fn serve(listener: TcpListener, page: Page, stop: CancellationToken) {
    let router = page.router();
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(e) = result {
        tracing::error!("the page stopped: {e}");
    }
}

/// Access control first, then the headers every answer carries.
async fn guard(State(page): State<Page>, request: Request, next: Next) -> Response {
    let mut response = match page.inner.access.check(&request) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal,
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
