//! A local Slack for tests: the Web API methods bosun calls and a Socket Mode WebSocket, speaking Slack's documented JSON, recording what bosun sent and misbehaving on demand.
//!
//! Web API: `POST /api/{method}` for `auth.test`, `apps.connections.open`, `chat.postMessage`,
//! `chat.update`, `users.info`, answering `{"ok": true, …}` or `{"ok": false, "error": …}`
//! (`msg_too_long` past 40,000 characters, `cant_update_message` when told to), and HTTP 429
//! with `Retry-After` when told to. Socket Mode: `GET /link` upgrades to a WebSocket that says
//! `hello`, carries event envelopes (the bot's own posts and edits come back as `message`
//! events with its `bot_id`, as Slack sends them to an app subscribed to its channels), pings
//! the client and answers its pings, expects `{"envelope_id"}` acks, and can say `disconnect`,
//! drop dead, or go silent with the socket open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const BOT_TOKEN: &str = "xoxb-test-bot-token";
pub const APP_TOKEN: &str = "xapp-test-app-token";
/// The bot's own user id, as `auth.test` tells it.
pub const BOT_USER: &str = "UBOSUN";

/// How long a test waits for the stand-in to see something.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One Web API call as the stand-in received it.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub at: Instant,
    /// The JSON body, or the form fields as a JSON object.
    pub body: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// For a successful `chat.postMessage`, the new message's `ts`.
    pub ts: Option<String>,
}

/// A message in a channel, as the stand-in keeps it.
#[derive(Clone, Debug)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    /// The text as posted, then each edit's text.
    pub versions: Vec<String>,
}

impl Posted {
    pub fn text(&self) -> &str {
        self.versions.last().expect("a message has text")
    }
}

enum Control {
    Send(String),
    /// Drop the connection without a close frame.
    Kill,
    /// Keep the socket open but neither read nor write: no frames, no pings, no pongs.
    Silence,
}

/// Slack's documented limit on a message's text.
const MAX_TEXT: usize = 40_000;
/// How often the stand-in pings a Socket Mode client.
const PING_EVERY: Duration = Duration::from_millis(300);

struct Connection {
    id: usize,
    control: mpsc::Sender<Control>,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    posted: Vec<Posted>,
    next_ts: u64,
    /// Answer this many more `chat.*` calls with 429.
    limit_calls: usize,
    limit_for: Duration,
    /// No request should arrive before this (the last `Retry-After` given).
    limited_until: Option<Instant>,
    /// Requests that arrived while a `Retry-After` had not passed.
    too_early: Vec<String>,
    /// Channels that answer `ok: false` with this error.
    broken_channels: HashMap<String, String>,
    connections: Vec<Connection>,
    opened: usize,
    closed_by_client: usize,
    acks: Vec<String>,
    next_envelope: u64,
    /// Answer `chat.update` with `cant_update_message`.
    refuse_updates: bool,
    /// Pings received from clients.
    client_pings: usize,
}

impl Inner {
    /// Puts `event` in an `events_api` envelope on the newest connection; returns its id.
    fn envelope(&mut self, event: Value) -> Option<(String, mpsc::Sender<Control>, String)> {
        self.next_envelope += 1;
        let id = format!("env-{}", self.next_envelope);
        let envelope = json!({
            "envelope_id": id,
            "type": "events_api",
            "accepts_response_payload": false,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "token": "verification-token",
                "team_id": "T1",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": format!("Ev{id}"),
                "event_time": 1_700_000_000,
                "event": event,
            },
        });
        let control = self.connections.last()?.control.clone();
        Some((id, control, envelope.to_string()))
    }

    /// Sends the bot's own message back as Slack does, without waiting (a full connection
    /// misses it).
    fn echo(&mut self, event: Value) {
        if let Some((_, control, text)) = self.envelope(event) {
            let _ = control.try_send(Control::Send(text));
        }
    }
}

/// A message event as Slack sends it for a message the bot posted with its token.
fn bot_message(channel: &str, ts: &str, text: &str, thread_ts: Option<&str>) -> Value {
    let mut message = json!({
        "type": "message", "channel": channel, "channel_type": channel_type(channel),
        "user": BOT_USER, "bot_id": "BBOSUN", "app_id": "A1", "text": text, "ts": ts,
        "event_ts": ts, "team": "T1",
        "bot_profile": {"id": "BBOSUN", "app_id": "A1", "name": "bosun", "team_id": "T1"},
    });
    if let Some(thread) = thread_ts {
        message["thread_ts"] = json!(thread);
    }
    message
}

fn channel_type(channel: &str) -> &'static str {
    match channel.chars().next() {
        Some('D') => "im",
        Some('G') => "group",
        _ => "channel",
    }
}

struct Shared {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
    stop: CancellationToken,
    base: String,
}

impl Shared {
    fn update<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let out = f(&mut self.inner.lock().unwrap());
        self.changed.send_modify(|v| *v += 1);
        out
    }
}

/// The stand-in, serving on a loopback port until dropped.
pub struct SlackStandIn {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl SlackStandIn {
    pub async fn start() -> SlackStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the Slack stand-in binds a loopback port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                next_ts: 1,
                ..Inner::default()
            }),
            changed: watch::channel(0).0,
            stop: CancellationToken::new(),
            base: format!("http://127.0.0.1:{port}"),
        });
        let app = Router::new()
            .route("/api/{method}", post(web_api))
            .route("/link", any(socket_mode))
            .with_state(shared.clone());
        let stop = shared.stop.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .expect("the Slack stand-in serves");
        });
        SlackStandIn { shared, server }
    }

    /// The Web API base URL to configure (`api_url`).
    pub fn api_url(&self) -> String {
        format!("{}/api", self.shared.base)
    }

    /// Waits until `check` finds what it looks for in the stand-in's state; fails the test
    /// with `what` after [`PATIENCE`].
    pub async fn wait_for<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&StandInView) -> Option<T>,
    ) -> T {
        let mut changes = self.shared.changed.subscribe();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let view = self.view();
            if let Some(found) = check(&view) {
                return found;
            }
            changes.borrow_and_update();
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                panic!(
                    "the Slack stand-in did not see {what} within {PATIENCE:?}; bosun posted:\n{}",
                    self.view().transcript()
                );
            }
        }
    }

    /// A copy of what the stand-in has seen so far.
    pub fn view(&self) -> StandInView {
        let inner = self.shared.inner.lock().unwrap();
        StandInView {
            calls: inner.calls.clone(),
            posted: inner.posted.clone(),
            too_early: inner.too_early.clone(),
            opened: inner.opened,
            open_now: inner.connections.len(),
            closed_by_client: inner.closed_by_client,
            acks: inner.acks.clone(),
            client_pings: inner.client_pings,
        }
    }

    /// Sends an `events_api` envelope carrying `event` on the newest connection; returns its
    /// envelope id. Waits for a connection first.
    pub async fn send_event(&self, event: Value) -> String {
        self.wait_for("a Socket Mode connection", |v| {
            (v.open_now > 0).then_some(())
        })
        .await;
        let (id, control, envelope) = self
            .shared
            .update(|inner| inner.envelope(event))
            .expect("a connection");
        control
            .send(Control::Send(envelope))
            .await
            .expect("the connection is open");
        id
    }

    /// `user` types `text` in `channel` (a `D…` channel is a direct message); returns the
    /// envelope id.
    pub async fn say(&self, channel: &str, user: &str, text: &str) -> String {
        self.say_at(channel, user, text, None).await.0
    }

    /// `user` types `text` in `channel`, in the thread under `thread_ts` if given; returns the
    /// envelope id and the message's `ts`.
    pub async fn say_at(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> (String, String) {
        let ts = self.shared.update(|inner| {
            inner.next_ts += 1;
            format!("1600000000.{:06}", inner.next_ts)
        });
        let mut event = json!({
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel_type": channel_type(channel),
        });
        if let Some(thread) = thread_ts {
            event["thread_ts"] = json!(thread);
            event["parent_user_id"] = json!(BOT_USER);
        }
        (self.send_event(event).await, ts)
    }

    /// `user` edits their message `ts` in `channel` from `before` to `after`: a
    /// `message_changed` event, as Slack sends it.
    pub async fn edit(
        &self,
        channel: &str,
        user: &str,
        ts: &str,
        before: &str,
        after: &str,
    ) -> String {
        let now = self.shared.update(|inner| {
            inner.next_ts += 1;
            format!("1600000000.{:06}", inner.next_ts)
        });
        self.send_event(json!({
            "type": "message",
            "subtype": "message_changed",
            "hidden": true,
            "channel": channel,
            "channel_type": channel_type(channel),
            "ts": now,
            "event_ts": now,
            "message": {"type": "message", "user": user, "text": after, "ts": ts,
                        "edited": {"user": user, "ts": now}},
            "previous_message": {"type": "message", "user": user, "text": before, "ts": ts},
        }))
        .await
    }

    /// The newest connection goes silent with its socket open.
    pub async fn go_silent(&self) {
        let control = self.newest().await;
        control
            .send(Control::Silence)
            .await
            .expect("the connection is open");
    }

    /// From now on every `chat.update` is answered `cant_update_message`.
    pub fn refuse_updates(&self) {
        self.shared.update(|inner| inner.refuse_updates = true);
    }

    /// Sends `{"type": "disconnect", "reason": reason}` on the newest connection.
    pub async fn disconnect(&self, reason: &str) {
        let control = self.newest().await;
        let frame =
            json!({"type": "disconnect", "reason": reason, "debug_info": {"host": "stand-in"}});
        control
            .send(Control::Send(frame.to_string()))
            .await
            .expect("the connection is open");
    }

    /// Drops the newest connection dead, without a close frame.
    pub async fn drop_connection(&self) {
        let control = self.newest().await;
        control
            .send(Control::Kill)
            .await
            .expect("the connection is open");
    }

    async fn newest(&self) -> mpsc::Sender<Control> {
        self.wait_for("a Socket Mode connection", |v| {
            (v.open_now > 0).then_some(())
        })
        .await;
        let inner = self.shared.inner.lock().unwrap();
        inner
            .connections
            .last()
            .expect("a connection")
            .control
            .clone()
    }

    /// The next `calls` `chat.*` requests are answered with HTTP 429 and `Retry-After: secs`.
    pub fn rate_limit(&self, calls: usize, retry_after: Duration) {
        self.shared.update(|inner| {
            inner.limit_calls = calls;
            inner.limit_for = retry_after;
        });
    }

    /// Every post to `channel` is answered `{"ok": false, "error": error}`.
    pub fn break_channel(&self, channel: &str, error: &str) {
        self.shared.update(|inner| {
            inner
                .broken_channels
                .insert(channel.to_string(), error.to_string());
        });
    }
}

impl Drop for SlackStandIn {
    fn drop(&mut self) {
        self.shared.stop.cancel();
        self.server.abort();
    }
}

/// What the stand-in saw, at one moment.
pub struct StandInView {
    pub calls: Vec<Call>,
    pub posted: Vec<Posted>,
    pub too_early: Vec<String>,
    /// Socket Mode connections opened so far, and open now.
    pub opened: usize,
    pub open_now: usize,
    pub closed_by_client: usize,
    pub acks: Vec<String>,
    /// Pings the stand-in received from clients.
    pub client_pings: usize,
}

impl StandInView {
    /// Messages in `channel`, in the order they were posted.
    pub fn in_channel(&self, channel: &str) -> Vec<&Posted> {
        self.posted
            .iter()
            .filter(|p| p.channel == channel)
            .collect()
    }

    /// The first message in `channel` whose current text contains `needle`.
    pub fn find(&self, channel: &str, needle: &str) -> Option<Posted> {
        self.in_channel(channel)
            .into_iter()
            .find(|p| p.text().contains(needle))
            .cloned()
    }

    /// How many messages (by their text as first posted) contain `needle`.
    pub fn count_posted(&self, needle: &str) -> usize {
        self.posted
            .iter()
            .filter(|p| p.versions[0].contains(needle))
            .count()
    }

    /// Every message and its edits, then every call, for failure reports.
    pub fn transcript(&self) -> String {
        let messages = self
            .posted
            .iter()
            .map(|p| format!("[{} {}] {}", p.channel, p.ts, p.versions.join("  ⟶  ")));
        let calls = self.calls.iter().map(|c| {
            format!(
                "  call {} {} → {}",
                c.method,
                c.body["channel"].as_str().unwrap_or_default(),
                c.status
            )
        });
        let acks = std::iter::once(format!("  acks: {:?}", self.acks));
        messages
            .chain(calls)
            .chain(acks)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Messages that are progress lines: posted as `ENV: …` and not a result.
    pub fn progress(&self) -> Vec<&Posted> {
        self.posted
            .iter()
            .filter(|p| {
                p.versions[0].starts_with("staging: ") && !p.versions[0].contains(" is live on ")
            })
            .collect()
    }
}

fn ok(mut body: Value) -> Response {
    body["ok"] = json!(true);
    axum::Json(body).into_response()
}

fn error(code: &str) -> Response {
    axum::Json(json!({"ok": false, "error": code})).into_response()
}

async fn web_api(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let now = Instant::now();
    let json_body = serde_json::from_slice::<Value>(&body).unwrap_or_else(|_| {
        let fields: HashMap<String, String> = url_form(&String::from_utf8_lossy(&body));
        json!(fields)
    });
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let expected = if method == "apps.connections.open" {
        APP_TOKEN
    } else {
        BOT_TOKEN
    };
    shared.update(|inner| {
        let mut record = |status: u16, ts: Option<String>| {
            inner.calls.push(Call {
                method: method.clone(),
                at: now,
                body: json_body.clone(),
                status,
                ts,
            })
        };
        if bearer != expected {
            record(200, None);
            return error("invalid_auth");
        }
        if let Some(until) = inner.limited_until
            && now < until
        {
            inner
                .too_early
                .push(format!("{method} {:?} before Retry-After passed", until - now));
        }
        if method.starts_with("chat.") && inner.limit_calls > 0 {
            inner.limit_calls -= 1;
            inner.limited_until = Some(now + inner.limit_for);
            inner.calls.push(Call {
                method: method.clone(),
                at: now,
                body: json_body.clone(),
                status: 429,
                ts: None,
            });
            let mut response = axum::Json(json!({"ok": false, "error": "ratelimited"})).into_response();
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response.headers_mut().insert(
                "retry-after",
                inner.limit_for.as_secs().to_string().parse().unwrap(),
            );
            return response;
        }
        let channel = json_body["channel"].as_str().unwrap_or_default().to_string();
        match method.as_str() {
            "auth.test" => {
                record(200, None);
                ok(json!({"url": "https://stand-in.slack/", "team": "Test", "user": "bosun",
                          "team_id": "T1", "user_id": BOT_USER, "bot_id": "BBOSUN"}))
            }
            "apps.connections.open" => {
                record(200, None);
                let ticket = inner.opened + 1;
                ok(json!({"url": format!("{}/link?ticket={ticket}", shared.base.replace("http://", "ws://"))}))
            }
            "users.info" => {
                record(200, None);
                let user = json_body["user"].as_str().unwrap_or_default();
                let name = user.trim_start_matches('U').to_lowercase();
                ok(json!({"user": {"id": user, "name": name, "profile": {"display_name": name, "real_name": name}}}))
            }
            "chat.postMessage" | "chat.update" if inner.broken_channels.contains_key(&channel) => {
                record(200, None);
                error(&inner.broken_channels[&channel].clone())
            }
            "chat.postMessage" | "chat.update"
                if json_body["text"].as_str().unwrap_or_default().chars().count() > MAX_TEXT =>
            {
                record(200, None);
                error("msg_too_long")
            }
            "chat.postMessage" => {
                inner.next_ts += 1;
                let ts = format!("1700000000.{:06}", inner.next_ts);
                record(200, Some(ts.clone()));
                let text = json_body["text"].as_str().unwrap_or_default().to_string();
                let thread_ts = json_body["thread_ts"].as_str().map(str::to_string);
                inner.posted.push(Posted {
                    channel: channel.clone(),
                    ts: ts.clone(),
                    thread_ts: thread_ts.clone(),
                    versions: vec![text.clone()],
                });
                let message = bot_message(&channel, &ts, &text, thread_ts.as_deref());
                inner.echo(message.clone());
                ok(json!({"channel": channel, "ts": ts, "message": message}))
            }
            "chat.update" if inner.refuse_updates => {
                record(200, None);
                error("cant_update_message")
            }
            "chat.update" => {
                record(200, None);
                let ts = json_body["ts"].as_str().unwrap_or_default().to_string();
                let text = json_body["text"].as_str().unwrap_or_default().to_string();
                match inner.posted.iter_mut().find(|p| p.channel == channel && p.ts == ts) {
                    Some(posted) => {
                        let before = posted.text().to_string();
                        let thread = posted.thread_ts.clone();
                        posted.versions.push(text.clone());
                        let mut after = bot_message(&channel, &ts, &text, thread.as_deref());
                        after["edited"] = json!({"user": BOT_USER, "ts": ts});
                        inner.echo(json!({
                            "type": "message", "subtype": "message_changed", "hidden": true,
                            "channel": channel, "channel_type": channel_type(&channel),
                            "ts": ts, "event_ts": ts, "message": after,
                            "previous_message": bot_message(&channel, &ts, &before, thread.as_deref()),
                        }));
                        ok(json!({"channel": channel, "ts": ts, "text": text}))
                    }
                    None => error("message_not_found"),
                }
            }
            _ => {
                record(200, None);
                error("unknown_method")
            }
        }
    })
}

/// `a=b&c=d`, percent-decoded.
fn url_form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn socket_mode(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| connection(shared, socket))
}

async fn connection(shared: Arc<Shared>, mut socket: WebSocket) {
    let (control, mut commands) = mpsc::channel(64);
    let id = shared.update(|inner| {
        inner.opened += 1;
        let id = inner.opened;
        inner.connections.push(Connection { id, control });
        id
    });
    let hello = json!({"type": "hello", "num_connections": 1,
        "debug_info": {"host": "stand-in", "approximate_connection_time": 18060},
        "connection_info": {"app_id": "A1"}});
    let mut alive = socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_ok();
    let mut pings = tokio::time::interval(PING_EVERY);
    while alive {
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            _ = pings.tick() => {
                alive = socket.send(Message::Ping(Vec::new().into())).await.is_ok();
            }
            command = commands.recv() => match command {
                Some(Control::Send(text)) => alive = socket.send(Message::Text(text.into())).await.is_ok(),
                Some(Control::Silence) => {
                    // The socket stays open and nothing moves on it until the client gives up.
                    loop {
                        tokio::select! {
                            _ = shared.stop.cancelled() => break,
                            command = commands.recv() => match command {
                                Some(Control::Kill) | None => break,
                                Some(_) => {}
                            },
                        }
                    }
                    break;
                }
                Some(Control::Kill) | None => break,
            },
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    if let Some(envelope) = value["envelope_id"].as_str() {
                        let envelope = envelope.to_string();
                        shared.update(|inner| inner.acks.push(envelope));
                    }
                }
                Some(Ok(Message::Ping(_))) => shared.update(|inner| inner.client_pings += 1),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    shared.update(|inner| inner.closed_by_client += 1);
                    break;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    shared.update(|inner| inner.connections.retain(|c| c.id != id));
}
