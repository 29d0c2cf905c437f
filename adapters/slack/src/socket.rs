//! The Socket Mode connection: open it, acknowledge every envelope, hand typed messages to the core, replace it when Slack asks, reconnect with back-off when it is lost or falls silent.
//!
//! Slack pings the client over the WebSocket; the client pings too, every `ping_interval`. A
//! connection from which nothing at all (no frame, no ping, no pong) has come for `silence`
//! is taken for dead although the socket looks open, and replaced.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bosun_chat::{Identity, Inbound, Room, Sender};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, WebApi};
use crate::events::{self, Disconnect, Frame, Listening, Typed};
use crate::{NETWORK, SlackTiming};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Opening = Pin<Box<dyn Future<Output = Result<Ws, ConnectError>> + Send>>;

/// Why a Socket Mode connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("apps.connections.open failed: {0}")]
    Open(#[from] ApiError),
    #[error("the WebSocket did not open: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("no hello within {0:?}")]
    NoHello(Duration),
    #[error("the WebSocket closed before hello")]
    Closed,
}

impl ConnectError {
    /// Whether trying again can help without someone changing the app's settings.
    fn is_permanent(&self) -> bool {
        matches!(self, ConnectError::Open(e) if !e.is_transient())
    }
}

/// How many event ids are remembered to drop Slack's redeliveries.
const REMEMBERED_EVENTS: usize = 512;
/// How many display names are remembered.
const REMEMBERED_NAMES: usize = 1024;
/// The longest a display name look-up may hold a message up.
const NAME_TIMEOUT: Duration = Duration::from_secs(3);

/// Reads Socket Mode until `shutdown`; returns an error only when the first connection is
/// refused for good (a wrong app token), since nothing would ever be heard.
pub(crate) async fn run(
    api: WebApi,
    listening: Listening,
    inbound: mpsc::Sender<Inbound>,
    timing: SlackTiming,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut reader = Reader {
        api,
        listening,
        inbound,
        timing,
        seen: Recent::default(),
        names: HashMap::new(),
    };
    let mut delay = timing.reconnect_min;
    let mut connected_once = false;
    loop {
        let opened = tokio::select! {
            opened = open(reader.api.clone(), timing.hello_timeout) => opened,
            _ = shutdown.cancelled() => return Ok(()),
        };
        let ws = match opened {
            Ok(ws) => ws,
            Err(e) if e.is_permanent() && !connected_once => {
                anyhow::bail!("Slack refused the Socket Mode connection: {e}")
            }
            Err(e) => {
                tracing::warn!("Slack Socket Mode: {e}; trying again in {delay:?}");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => return Ok(()),
                }
                delay = (delay * 2).min(timing.reconnect_max);
                continue;
            }
        };
        connected_once = true;
        delay = timing.reconnect_min;
        tracing::info!("Slack Socket Mode connected");
        match reader.serve(ws, &shutdown).await {
            Served::Shutdown | Served::CoreGone => return Ok(()),
            Served::Lost => tracing::warn!("Slack Socket Mode connection lost; reconnecting"),
        }
    }
}

enum Served {
    Shutdown,
    Lost,
    /// The core stopped listening.
    CoreGone,
}

struct Reader {
    api: WebApi,
    listening: Listening,
    inbound: mpsc::Sender<Inbound>,
    timing: SlackTiming,
    seen: Recent,
    names: HashMap<String, String>,
}

impl Reader {
    /// Serves connections until one is lost with no replacement on its way.
    async fn serve(&mut self, mut ws: Ws, shutdown: &CancellationToken) -> Served {
        let mut next: Option<Opening> = None;
        let mut heard = tokio::time::Instant::now();
        let mut pings = tokio::time::interval(self.timing.ping_interval);
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    close(ws).await;
                    return Served::Shutdown;
                }
                _ = pings.tick() => {
                    if heard.elapsed() >= self.timing.silence {
                        tracing::warn!(
                            "Slack Socket Mode: nothing heard for {:?} on an open connection; replacing it",
                            self.timing.silence
                        );
                        drop(ws);
                        return Served::Lost;
                    }
                    if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                        tracing::warn!("Slack Socket Mode: cannot ping; the connection is lost");
                        return Served::Lost;
                    }
                }
                opened = async { next.as_mut().expect("guarded").await }, if next.is_some() => {
                    next = None;
                    match opened {
                        Ok(new) => {
                            close(std::mem::replace(&mut ws, new)).await;
                            heard = tokio::time::Instant::now();
                            tracing::info!("Slack Socket Mode connection refreshed");
                        }
                        Err(e) => tracing::warn!("Slack Socket Mode: a new connection failed ({e}); keeping this one while it lasts"),
                    }
                }
                frame = ws.next() => {
                    if matches!(frame, Some(Ok(_))) {
                        heard = tokio::time::Instant::now();
                    }
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                            // Lost: a replacement already on its way takes over.
                            let Some(opening) = next.take() else { return Served::Lost };
                            let opened = tokio::select! {
                                opened = opening => opened,
                                _ = shutdown.cancelled() => return Served::Shutdown,
                            };
                            match opened {
                                Ok(new) => { ws = new; heard = tokio::time::Instant::now(); continue; }
                                Err(e) => {
                                    tracing::warn!("Slack Socket Mode: the new connection failed: {e}");
                                    return Served::Lost;
                                }
                            }
                        }
                        Some(Ok(_)) => continue,
                    };
                    match events::parse_frame(&text) {
                        Ok(Frame::Envelope { envelope_id, event_id, event }) => {
                            if ws.send(Message::text(events::ack(&envelope_id))).await.is_err() {
                                tracing::warn!("Slack Socket Mode: cannot acknowledge an envelope");
                            }
                            let fresh = event_id.is_none_or(|id| self.seen.insert(id));
                            if let Some(typed) = event.filter(|_| fresh).and_then(|e| events::typed(&e, &self.listening))
                                && !self.deliver(typed, shutdown).await
                            {
                                close(ws).await;
                                return Served::CoreGone;
                            }
                        }
                        Ok(Frame::Disconnect(reason)) => {
                            if reason == Disconnect::LinkDisabled {
                                tracing::error!("Slack turned Socket Mode off for this app (link_disabled): bosun hears nothing until it is turned on again in the app's settings");
                            } else {
                                tracing::info!("Slack asks for a new connection ({reason:?})");
                            }
                            if next.is_none() {
                                next = Some(Box::pin(open(self.api.clone(), self.timing.hello_timeout)));
                            }
                        }
                        Ok(Frame::Hello | Frame::Other) => {}
                        Err(e) => tracing::warn!("Slack Socket Mode: unreadable frame: {e}"),
                    }
                }
            }
        }
    }

    /// Hands a message to the core; false when the core no longer listens.
    async fn deliver(&mut self, typed: Typed, shutdown: &CancellationToken) -> bool {
        let display = self.name_of(&typed.user).await;
        let mut room = Room::new(typed.channel);
        if let Some(thread) = typed.thread {
            room = room.in_thread(thread);
        }
        let sender = Sender {
            identity: Some(Identity::new(NETWORK, typed.user)),
            display,
        };
        let mut message = Inbound::new(room, sender, typed.text, typed.direct);
        message.edit_of = typed.edit_of;
        tokio::select! {
            sent = self.inbound.send(message) => sent.is_ok(),
            _ = shutdown.cancelled() => true,
        }
    }

    /// What the workspace calls a user; their id when `users.info` does not say.
    async fn name_of(&mut self, user: &str) -> String {
        if let Some(name) = self.names.get(user) {
            return name.clone();
        }
        match tokio::time::timeout(NAME_TIMEOUT, self.api.user_name(user)).await {
            Ok(Ok(name)) => {
                if self.names.len() >= REMEMBERED_NAMES {
                    self.names.clear();
                }
                self.names.insert(user.to_string(), name.clone());
                name
            }
            Ok(Err(e)) => {
                tracing::debug!("users.info {user}: {e}");
                user.to_string()
            }
            Err(_) => user.to_string(),
        }
    }
}

/// Opens a Socket Mode connection and waits for its `hello`.
async fn open(api: WebApi, hello_timeout: Duration) -> Result<Ws, ConnectError> {
    let url = api.open_connection().await?;
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let hello = async {
        while let Some(frame) = ws.next().await {
            match frame? {
                Message::Text(text) if events::parse_frame(&text).ok() == Some(Frame::Hello) => {
                    return Ok(());
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        Err(ConnectError::Closed)
    };
    match tokio::time::timeout(hello_timeout, hello).await {
        Ok(Ok(())) => Ok(ws),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ConnectError::NoHello(hello_timeout)),
    }
}

/// Says goodbye on a connection, without waiting long for the other side.
async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

/// The last event ids seen, to drop redeliveries.
#[derive(Default)]
struct Recent {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Recent {
    /// True when `id` was not seen lately.
    fn insert(&mut self, id: String) -> bool {
        if self.set.contains(&id) {
            return false;
        }
        if self.order.len() >= REMEMBERED_EVENTS
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(id.clone());
        self.set.insert(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redeliveries_are_dropped_and_memory_is_bounded() {
        let mut recent = Recent::default();
        assert!(recent.insert("Ev1".into()));
        assert!(!recent.insert("Ev1".into()));
        for i in 0..REMEMBERED_EVENTS {
            recent.insert(format!("x{i}"));
        }
        assert_eq!(recent.set.len(), REMEMBERED_EVENTS);
        assert!(recent.insert("Ev1".into()), "forgotten after enough others");
    }
}
