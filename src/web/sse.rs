//! `/deploys/ID/live`: a running deploy's output as server-sent events (`line`, then `end`),
//! the lines printed so far first. Ends when the deploy's run ends or the bot stops; a reader
//! too slow to keep up is told how many lines it missed (`skipped`) instead of slowing the deploy.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::Page;
use crate::live::LiveEvent;

fn event(e: &LiveEvent) -> Event {
    match e {
        LiveEvent::Line {
            seq,
            host,
            stderr,
            text,
        } => Event::default().event("line").id(seq.to_string()).data(
            serde_json::json!({ "seq": seq, "host": host, "stderr": stderr, "text": text })
                .to_string(),
        ),
        LiveEvent::End => Event::default().event("end").data("end"),
    }
}

/// One reader's place in a deploy's log.
struct Feed {
    backlog: VecDeque<LiveEvent>,
    rx: Option<Receiver<LiveEvent>>,
    last: u64,
    stop: CancellationToken,
    ended: bool,
}

impl Feed {
    fn end(mut self) -> Option<(Result<Event, Infallible>, Feed)> {
        self.ended = true;
        Some((Ok(event(&LiveEvent::End)), self))
    }

    async fn next(mut self) -> Option<(Result<Event, Infallible>, Feed)> {
        if self.ended {
            return None;
        }
        if let Some(e) = self.backlog.pop_front() {
            if let LiveEvent::Line { seq, .. } = &e {
                self.last = *seq;
            }
            return Some((Ok(event(&e)), self));
        }
        let Some(rx) = self.rx.as_mut() else {
            // Not running in this bot (it ended, or another bot sharing the journal runs it).
            self.ended = true;
            let end = Event::default().event("end").data("not running here");
            return Some((Ok(end), self));
        };
        loop {
            let got = tokio::select! {
                got = rx.recv() => got,
                _ = self.stop.cancelled() => return self.end(),
            };
            match got {
                Ok(LiveEvent::Line { seq, .. }) if seq <= self.last => continue,
                Ok(LiveEvent::End) | Err(RecvError::Closed) => return self.end(),
                Ok(e) => {
                    if let LiveEvent::Line { seq, .. } = &e {
                        self.last = *seq;
                    }
                    return Some((Ok(event(&e)), self));
                }
                Err(RecvError::Lagged(missed)) => {
                    let skipped = Event::default().event("skipped").data(missed.to_string());
                    return Some((Ok(skipped), self));
                }
            }
        }
    }
}

pub async fn live(State(page): State<Page>, Path(id): Path<i64>) -> Response {
    let (backlog, rx) = match page.inner.live.subscribe(id) {
        Some((backlog, rx)) => (backlog.into(), Some(rx)),
        None => (VecDeque::new(), None),
    };
    let feed = Feed {
        backlog,
        rx,
        last: 0,
        stop: page.inner.stop.clone(),
        ended: false,
    };
    let stream = futures_util::stream::unfold(feed, Feed::next);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
