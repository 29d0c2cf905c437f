//! A local Discord for tests: the REST routes bosun calls and a gateway WebSocket, speaking Discord's documented JSON and opcodes, recording what bosun sent and misbehaving on demand.
//!
//! REST (`/api/v10`): `GET /gateway` (failing with 502 when told to), `GET /channels/{id}` (for
//! threads), `POST /channels/{id}/messages` (an enforced `nonce` returns the message it already
//! made; a slow answer when told to), `PATCH /channels/{id}/messages/{id}`, with
//! `X-RateLimit-*` headers from a per-channel bucket and 429 bodies (`retry_after`, `global`);
//! content past 2,000 characters is refused (50035).
//! Gateway: HELLO (10), IDENTIFY (2) → READY, or close code 4004 for a wrong token and 4014 for
//! a privileged intent the bot may not use; HEARTBEAT (1) → ACK (11), RESUME (6) → missed
//! dispatches replayed then RESUMED; dispatches only what the session's intents ask for
//! (message content empty without MESSAGE_CONTENT, as Discord does); the bot's own posts come
//! back as MESSAGE_CREATE; and on demand MESSAGE_CREATE / MESSAGE_UPDATE, RECONNECT (7),
//! INVALID_SESSION (9), a dropped socket, or refusing connections altogether.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, patch, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-discord-token";
/// The bot's own user id, as READY tells it.
pub const BOT_USER: u64 = 4242;
pub const GUILD: u64 = 7000;

/// How long a test waits for the stand-in to see something.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Discord refuses longer message content (Invalid Form Body, code 50035).
const MAX_CONTENT: usize = 2000;

/// Gateway intents, as Discord numbers them.
const GUILD_MESSAGES: u64 = 1 << 9;
const DIRECT_MESSAGES: u64 = 1 << 12;
const MESSAGE_CONTENT: u64 = 1 << 15;

/// One REST request as the stand-in received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub at: Instant,
    pub body: Value,
    pub status: u16,
    pub authorized: bool,
}

/// A message the bot posted, with its edits.
#[derive(Clone, Debug)]
pub struct Posted {
    pub channel: u64,
    pub id: u64,
    pub versions: Vec<String>,
}

impl Posted {
    /// The content as Discord shows it: escapes undone, zero-width spaces gone.
    pub fn shown(&self) -> String {
        shown(self.versions.last().expect("a message has content"))
    }
}

/// What Discord shows for content: a backslash before ASCII punctuation shows that character
/// (markdown's escape); any other backslash shows as itself. Zero-width spaces show nothing.
pub fn shown(content: &str) -> String {
    let mut out = String::new();
    let mut chars = content.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|n| n.is_ascii_punctuation()) => {
                out.extend(chars.next())
            }
            '\u{200b}' => {}
            c => out.push(c),
        }
    }
    out
}

/// What the gateway saw a client do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayOp {
    Identify { intents: u64, token_ok: bool },
    Resume { session: String, seq: u64 },
    Heartbeat,
}

enum Control {
    Send(Value),
    Kill,
    /// Close with this close code.
    Close(u16),
}

struct Session {
    id: String,
    intents: u64,
    seq: u64,
    /// Every dispatch of the session, for replay after RESUME.
    sent: Vec<(u64, Value)>,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Request>,
    posted: Vec<Posted>,
    next_id: u64,
    /// Per channel: the times of recent requests, for the bucket.
    buckets: HashMap<u64, VecDeque<Instant>>,
    bucket_limit: usize,
    bucket_window: Duration,
    /// Answer this many more message requests with 429 for `limit_for`, `global` or not.
    limit_calls: usize,
    limit_for: Duration,
    limit_global: bool,
    limited_until: Option<Instant>,
    /// Requests that came while a 429's `retry_after` or a spent bucket had not passed.
    too_early: Vec<String>,
    ops: Vec<GatewayOp>,
    sessions: Vec<Session>,
    current: Option<(usize, mpsc::Sender<Control>)>,
    connections: usize,
    /// The current connection has identified or resumed.
    live: bool,
    refuse: bool,
    /// The bot may not use the privileged MESSAGE_CONTENT intent (close code 4014).
    content_disallowed: bool,
    /// Answer this many more `GET /gateway` with 502.
    gateway_failures: usize,
    /// The next POST is made but answered this late.
    slow_post: Option<Duration>,
    /// (channel, nonce) → the message made with it.
    nonces: HashMap<(u64, String), u64>,
    /// Thread channel → the channel it is under.
    threads: HashMap<u64, u64>,
    /// Close codes the gateway closed with.
    closed_with: Vec<u16>,
    /// Channels that are direct conversations.
    dm_channels: std::collections::HashSet<u64>,
}

impl Inner {
    /// Numbers `kind`/`event` on the current session and sends it, if the session's intents
    /// ask for it (message content emptied without MESSAGE_CONTENT, except in DMs and messages
    /// that mention the bot). Without waiting: a dead connection misses it, RESUME replays it.
    fn dispatch(&mut self, kind: &str, mut event: Value) -> Option<(Value, mpsc::Sender<Control>)> {
        let session = self.sessions.last_mut()?;
        if kind.starts_with("MESSAGE_") {
            let direct = event["guild_id"].is_null();
            let wanted = if direct {
                DIRECT_MESSAGES
            } else {
                GUILD_MESSAGES
            };
            if session.intents & wanted == 0 {
                return None;
            }
            let mentioned = event["content"]
                .as_str()
                .is_some_and(|c| c.contains(&format!("<@{BOT_USER}>")));
            if session.intents & MESSAGE_CONTENT == 0
                && !direct
                && !mentioned
                && event.get("content").is_some()
            {
                event["content"] = json!("");
            }
        }
        session.seq += 1;
        let payload = json!({"op": 0, "t": kind, "s": session.seq, "d": event});
        session.sent.push((session.seq, payload.clone()));
        Some((payload, self.current.as_ref()?.1.clone()))
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
pub struct DiscordStandIn {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl DiscordStandIn {
    pub async fn start() -> DiscordStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the Discord stand-in binds a loopback port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                next_id: 1_000_000,
                bucket_limit: 1000,
                bucket_window: Duration::from_secs(1),
                ..Inner::default()
            }),
            changed: watch::channel(0).0,
            stop: CancellationToken::new(),
            base: format!("http://127.0.0.1:{port}"),
        });
        let app = Router::new()
            .route("/api/v10/gateway", get(gateway_url))
            .route("/api/v10/channels/{channel}", get(channel))
            .route("/api/v10/channels/{channel}/messages", post(create))
            .route(
                "/api/v10/channels/{channel}/messages/{message}",
                patch(edit),
            )
            .route("/gateway", any(gateway))
            .with_state(shared.clone());
        let stop = shared.stop.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .expect("the Discord stand-in serves");
        });
        DiscordStandIn { shared, server }
    }

    /// The base URL to configure (`api_url`).
    pub fn api_url(&self) -> String {
        self.shared.base.clone()
    }

    /// Waits until `check` finds what it looks for; fails the test with `what` after
    /// [`PATIENCE`].
    pub async fn wait_for<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&StandInView) -> Option<T>,
    ) -> T {
        let mut changes = self.shared.changed.subscribe();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(found) = check(&self.view()) {
                return found;
            }
            changes.borrow_and_update();
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                panic!(
                    "the Discord stand-in did not see {what} within {PATIENCE:?}; bosun posted:\n{}",
                    self.view().transcript()
                );
            }
        }
    }

    pub fn view(&self) -> StandInView {
        let inner = self.shared.inner.lock().unwrap();
        StandInView {
            requests: inner.requests.clone(),
            posted: inner.posted.clone(),
            too_early: inner.too_early.clone(),
            ops: inner.ops.clone(),
            connections: inner.connections,
            ready: inner.current.is_some() && inner.live,
            closed_with: inner.closed_with.clone(),
        }
    }

    /// Waits until a client has identified or resumed on the current connection.
    pub async fn wait_ready(&self) {
        self.wait_for("a gateway session", |v| v.ready.then_some(()))
            .await;
    }

    /// Dispatches `event` of type `kind` on the current session (numbered, kept for replay).
    pub async fn dispatch(&self, kind: &str, event: Value) {
        self.wait_ready().await;
        if let Some((payload, control)) = self.shared.update(|inner| inner.dispatch(kind, event)) {
            // A connection that just died misses it; RESUME replays it.
            let _ = control.send(Control::Send(payload)).await;
        }
    }

    /// `user` edits their message `id` in `channel` to `content`: a MESSAGE_UPDATE as Discord
    /// sends it.
    pub async fn edit(
        &self,
        channel: u64,
        guild: Option<u64>,
        user: u64,
        name: &str,
        id: u64,
        content: &str,
    ) {
        let mut message = Self::message(channel, guild, Self::user(user, name), content, id);
        message["edited_timestamp"] = json!("2026-11-23T10:05:00.000000+00:00");
        self.dispatch("MESSAGE_UPDATE", message).await;
    }

    /// `channel` is a public thread under `parent`.
    pub fn add_thread(&self, channel: u64, parent: u64) {
        self.shared.update(|inner| {
            inner.threads.insert(channel, parent);
        });
    }

    /// From now on IDENTIFY with MESSAGE_CONTENT is closed with 4014, as for a bot whose
    /// Message Content intent is not turned on.
    pub fn disallow_message_content(&self) {
        self.shared.update(|inner| inner.content_disallowed = true);
    }

    /// The next `failures` `GET /gateway` answer 502.
    pub fn fail_gateway_url(&self, failures: usize) {
        self.shared
            .update(|inner| inner.gateway_failures = failures);
    }

    /// The next POST is made at once but answered only after `delay`.
    pub fn slow_next_post(&self, delay: Duration) {
        self.shared.update(|inner| inner.slow_post = Some(delay));
    }

    /// A MESSAGE_CREATE as Discord documents it. `guild` None makes it a direct message.
    pub fn message(
        channel: u64,
        guild: Option<u64>,
        author: Value,
        content: &str,
        id: u64,
    ) -> Value {
        let mut message = json!({
            "id": id.to_string(), "channel_id": channel.to_string(), "author": author,
            "content": content, "timestamp": "2026-11-23T10:00:00.000000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
        });
        if let Some(guild) = guild {
            message["guild_id"] = json!(guild.to_string());
            message["member"] = json!({"roles": [], "joined_at": "2026-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0});
        }
        message
    }

    /// A person.
    pub fn user(id: u64, name: &str) -> Value {
        json!({"id": id.to_string(), "username": name, "discriminator": "0", "global_name": name, "avatar": null})
    }

    /// `user` types `content` in `channel` of the guild (or, with `guild` None, in a DM);
    /// returns the message's id.
    pub async fn say(
        &self,
        channel: u64,
        guild: Option<u64>,
        user: u64,
        name: &str,
        content: &str,
    ) -> u64 {
        let id = self.shared.update(|inner| {
            if guild.is_none() {
                inner.dm_channels.insert(channel);
            }
            inner.next_id += 1;
            inner.next_id
        });
        let message = Self::message(channel, guild, Self::user(user, name), content, id);
        self.dispatch("MESSAGE_CREATE", message).await;
        id
    }

    /// Sends a raw gateway payload (RECONNECT, INVALID_SESSION) on the current connection.
    pub async fn send_op(&self, payload: Value) {
        self.wait_ready().await;
        let control = self
            .shared
            .inner
            .lock()
            .unwrap()
            .current
            .as_ref()
            .map(|(_, c)| c.clone());
        control
            .expect("a connection")
            .send(Control::Send(payload))
            .await
            .expect("the connection is open");
    }

    /// Drops the current connection dead; with `refuse`, new ones are refused until
    /// [`DiscordStandIn::accept`].
    pub async fn drop_connection(&self, refuse: bool) {
        self.wait_ready().await;
        let control = self.shared.update(|inner| {
            inner.refuse = refuse;
            inner.current.take().map(|(_, c)| c)
        });
        control
            .expect("a connection")
            .send(Control::Kill)
            .await
            .expect("open");
    }

    pub fn accept(&self) {
        self.shared.update(|inner| inner.refuse = false);
    }

    /// The next `calls` message requests get 429 with `retry_after`.
    pub fn rate_limit(&self, calls: usize, retry_after: Duration, global: bool) {
        self.shared.update(|inner| {
            inner.limit_calls = calls;
            inner.limit_for = retry_after;
            inner.limit_global = global;
        });
    }

    /// Each channel allows `limit` message requests per `window`, as the headers say.
    pub fn bucket(&self, limit: usize, window: Duration) {
        self.shared.update(|inner| {
            inner.bucket_limit = limit;
            inner.bucket_window = window;
        });
    }
}

impl Drop for DiscordStandIn {
    fn drop(&mut self) {
        self.shared.stop.cancel();
        self.server.abort();
    }
}

/// What the stand-in saw, at one moment.
pub struct StandInView {
    pub requests: Vec<Request>,
    pub posted: Vec<Posted>,
    pub too_early: Vec<String>,
    pub ops: Vec<GatewayOp>,
    pub connections: usize,
    pub ready: bool,
    pub closed_with: Vec<u16>,
}

impl StandInView {
    pub fn in_channel(&self, channel: u64) -> Vec<&Posted> {
        self.posted
            .iter()
            .filter(|p| p.channel == channel)
            .collect()
    }

    /// The first message in `channel` whose shown content contains `needle`.
    pub fn find(&self, channel: u64, needle: &str) -> Option<Posted> {
        self.in_channel(channel)
            .into_iter()
            .find(|p| p.shown().contains(needle))
            .cloned()
    }

    /// How many messages, as first posted, show `needle`.
    pub fn count_posted(&self, needle: &str) -> usize {
        self.posted
            .iter()
            .filter(|p| shown(&p.versions[0]).contains(needle))
            .count()
    }

    /// Messages that are progress lines: posted as `ENV: …` and not a result.
    pub fn progress(&self) -> Vec<&Posted> {
        self.posted
            .iter()
            .filter(|p| {
                let first = shown(&p.versions[0]);
                first.starts_with("staging: ") && !first.contains(" is live on ")
            })
            .collect()
    }

    pub fn transcript(&self) -> String {
        self.posted
            .iter()
            .map(|p| format!("[{} {}] {}", p.channel, p.id, p.versions.join("  ⟶  ")))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn gateway_url(State(shared): State<Arc<Shared>>) -> Response {
    let failing = shared.update(|inner| {
        let failing = inner.gateway_failures > 0;
        inner.gateway_failures = inner.gateway_failures.saturating_sub(1);
        failing
    });
    if failing {
        return StatusCode::BAD_GATEWAY.into_response();
    }
    let url = shared.base.replace("http://", "ws://") + "/gateway";
    axum::Json(json!({"url": url})).into_response()
}

async fn channel(State(shared): State<Arc<Shared>>, Path(channel): Path<u64>) -> Response {
    let parent = shared.inner.lock().unwrap().threads.get(&channel).copied();
    match parent {
        Some(parent) => axum::Json(json!({
            "id": channel.to_string(), "type": 11, "guild_id": GUILD.to_string(),
            "parent_id": parent.to_string(), "name": "a thread", "owner_id": "501",
            "thread_metadata": {"archived": false, "auto_archive_duration": 1440, "locked": false},
        }))
        .into_response(),
        None => status_json(404, json!({"message": "Unknown Channel", "code": 10003})),
    }
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Path(channel): Path<u64>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let response = message_request(&shared, "POST", channel, None, &headers, body);
    let slow = shared.update(|inner| inner.slow_post.take());
    if let Some(delay) = slow {
        // The message is made; only its answer is late (a client may give up waiting).
        tokio::time::sleep(delay).await; // allow-sleep: the stand-in answers late on purpose
    }
    response
}

async fn edit(
    State(shared): State<Arc<Shared>>,
    Path((channel, message)): Path<(u64, u64)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    message_request(&shared, "PATCH", channel, Some(message), &headers, body)
}

fn message_request(
    shared: &Shared,
    method: &'static str,
    channel: u64,
    message: Option<u64>,
    headers: &HeaderMap,
    body: Value,
) -> Response {
    let now = Instant::now();
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bot {TOKEN}"));
    let path = match message {
        Some(m) => format!("/channels/{channel}/messages/{m}"),
        None => format!("/channels/{channel}/messages"),
    };
    shared.update(|inner| {
        let record = |status: u16| Request {
            method,
            path: path.clone(),
            at: now,
            body: body.clone(),
            status,
            authorized,
        };
        if !authorized {
            inner.requests.push(record(401));
            return status_json(401, json!({"message": "401: Unauthorized", "code": 0}));
        }
        if body["content"].as_str().is_some_and(|c| c.chars().count() > MAX_CONTENT) {
            inner.requests.push(record(400));
            return status_json(
                400,
                json!({"message": "Invalid Form Body", "code": 50035, "errors": {"content": {"_errors": [
                    {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}),
            );
        }
        if let Some(until) = inner.limited_until
            && now < until
        {
            inner
                .too_early
                .push(format!("{method} {path} {:?} before retry_after passed", until - now));
        }
        // The channel's bucket: requests in the last window.
        let (limit, window) = (inner.bucket_limit, inner.bucket_window);
        let bucket = inner.buckets.entry(channel).or_default();
        while bucket.front().is_some_and(|t| now.duration_since(*t) >= window) {
            bucket.pop_front();
        }
        if bucket.len() >= limit {
            let reset = window - now.duration_since(*bucket.front().unwrap());
            inner.too_early.push(format!("{method} {path}: the bucket was spent"));
            inner.requests.push(record(429));
            return rate_limited(reset, false);
        }
        if inner.limit_calls > 0 {
            inner.limit_calls -= 1;
            inner.limited_until = Some(now + inner.limit_for);
            inner.requests.push(record(429));
            return rate_limited(inner.limit_for, inner.limit_global);
        }
        bucket.push_back(now);
        let remaining = limit - bucket.len();
        let nonce = body["nonce"].as_str().map(str::to_string);
        let enforced = body["enforce_nonce"] == json!(true);
        let reset_after = window - now.duration_since(*bucket.front().unwrap());
        let content = body["content"].as_str().unwrap_or_default().to_string();
        let known = nonce
            .as_ref()
            .filter(|_| enforced && message.is_none())
            .and_then(|n| inner.nonces.get(&(channel, n.clone())).copied());
        let answer = match message {
            // Discord returns the message the same author made with the same nonce.
            None if known.is_some() => known,
            None => {
                inner.next_id += 1;
                let id = inner.next_id;
                inner.posted.push(Posted {
                    channel,
                    id,
                    versions: vec![content.clone()],
                });
                if let Some(nonce) = &nonce {
                    inner.nonces.insert((channel, nonce.clone()), id);
                }
                Some(id)
            }
            Some(m) => match inner.posted.iter_mut().find(|p| p.channel == channel && p.id == m) {
                Some(posted) => {
                    posted.versions.push(content.clone());
                    Some(m)
                }
                None => None,
            },
        };
        let Some(id) = answer else {
            inner.requests.push(record(404));
            return status_json(404, json!({"message": "Unknown Message", "code": 10008}));
        };
        inner.requests.push(record(200));
        let mut made = json!({
            "id": id.to_string(), "channel_id": channel.to_string(),
            "author": {"id": BOT_USER.to_string(), "username": "bosun", "discriminator": "0", "avatar": null, "bot": true},
            "content": content, "timestamp": "2026-11-23T10:00:00.000000+00:00",
            "edited_timestamp": message.map(|_| "2026-11-23T10:00:01.000000+00:00"),
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "type": 0,
            "flags": body["flags"].as_u64().unwrap_or(0),
        });
        if let Some(nonce) = &nonce {
            made["nonce"] = json!(nonce);
        }
        if message.is_none() && known.is_none() {
            // The bot's own message comes back over the gateway, as to every client.
            let mut created = made.clone();
            if !inner.dm_channels.contains(&channel) {
                created["guild_id"] = json!(GUILD.to_string());
            }
            if let Some((payload, control)) = inner.dispatch("MESSAGE_CREATE", created) {
                let _ = control.try_send(Control::Send(payload));
            }
        }
        let mut response = axum::Json(made).into_response();
        let h = response.headers_mut();
        h.insert("x-ratelimit-limit", limit.to_string().parse().unwrap());
        h.insert("x-ratelimit-remaining", remaining.to_string().parse().unwrap());
        // Rounded up to the millisecond, as a client must not come back a moment early.
        let millis = reset_after.as_micros().div_ceil(1000);
        h.insert(
            "x-ratelimit-reset-after",
            format!("{}.{:03}", millis / 1000, millis % 1000).parse().unwrap(),
        );
        h.insert("x-ratelimit-bucket", format!("messages-{channel}").parse().unwrap());
        response
    })
}

fn status_json(status: u16, body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
}

fn rate_limited(after: Duration, global: bool) -> Response {
    let mut response = status_json(
        429,
        json!({"message": "You are being rate limited.", "retry_after": after.as_secs_f64(), "global": global}),
    );
    let h = response.headers_mut();
    h.insert(
        "retry-after",
        after.as_secs().max(1).to_string().parse().unwrap(),
    );
    h.insert(
        "x-ratelimit-scope",
        if global { "global" } else { "user" }.parse().unwrap(),
    );
    if global {
        h.insert("x-ratelimit-global", "true".parse().unwrap());
    }
    response
}

async fn gateway(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    if shared.inner.lock().unwrap().refuse {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    upgrade.on_upgrade(move |socket| connection(shared, socket))
}

async fn connection(shared: Arc<Shared>, mut socket: WebSocket) {
    let (control, mut commands) = mpsc::channel(64);
    let number = shared.update(|inner| {
        inner.connections += 1;
        inner.current = Some((inner.connections, control));
        inner.live = false;
        inner.connections
    });
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 1000}, "s": null, "t": null});
    let mut alive = socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_ok();
    while alive {
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            command = commands.recv() => match command {
                Some(Control::Send(payload)) => {
                    alive = socket.send(Message::Text(payload.to_string().into())).await.is_ok();
                }
                Some(Control::Close(code)) => {
                    let _ = socket.send(Message::Close(Some(axum::extract::ws::CloseFrame { code, reason: "closed by the stand-in".into() }))).await;
                    break;
                }
                Some(Control::Kill) | None => break,
            },
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let payload: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    for answer in answer(&shared, &payload) {
                        match answer {
                            Answer::Send(answer) => {
                                alive = alive && socket.send(Message::Text(answer.to_string().into())).await.is_ok();
                            }
                            Answer::Close(code) => {
                                shared.update(|inner| inner.closed_with.push(code));
                                let _ = socket.send(Message::Close(Some(axum::extract::ws::CloseFrame { code, reason: "closed by the stand-in".into() }))).await;
                                alive = false;
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    shared.update(|inner| {
        if inner.current.as_ref().is_some_and(|(n, _)| *n == number) {
            inner.current = None;
        }
    });
}

/// What the gateway does about a client's payload.
enum Answer {
    Send(Value),
    Close(u16),
}

/// What the gateway says to a client's payload.
fn answer(shared: &Shared, payload: &Value) -> Vec<Answer> {
    let base = shared.base.replace("http://", "ws://") + "/gateway";
    let answers = shared.update(|inner| match payload["op"].as_u64() {
        Some(1) => {
            inner.ops.push(GatewayOp::Heartbeat);
            vec![json!({"op": 11, "d": null, "s": null, "t": null})]
        }
        Some(2) => {
            let intents = payload["d"]["intents"].as_u64().unwrap_or(0);
            let token_ok = payload["d"]["token"].as_str().map(|t| t.trim_start_matches("Bot ")) == Some(TOKEN);
            inner.ops.push(GatewayOp::Identify { intents, token_ok });
            if !token_ok {
                // Authentication failed.
                return vec![json!({"close": 4004})];
            }
            if intents >= 1 << 26 {
                return vec![json!({"close": 4013})];
            }
            if inner.content_disallowed && intents & MESSAGE_CONTENT != 0 {
                // A privileged intent not turned on for the bot.
                return vec![json!({"close": 4014})];
            }
            let id = format!("session-{}", inner.sessions.len() + 1);
            let ready = json!({"op": 0, "t": "READY", "s": 1, "d": {
                "v": 10,
                "user": {"id": BOT_USER.to_string(), "username": "bosun", "discriminator": "0", "global_name": null, "avatar": null, "bot": true, "verified": true, "mfa_enabled": false, "flags": 0},
                "guilds": [{"id": GUILD.to_string(), "unavailable": true}],
                "session_id": id,
                "resume_gateway_url": base,
                "shard": [0, 1],
                "application": {"id": "4243", "flags": 0},
            }});
            inner.sessions.push(Session { id, intents, seq: 1, sent: vec![(1, ready.clone())] });
            inner.live = true;
            vec![ready]
        }
        Some(6) => {
            let session = payload["d"]["session_id"].as_str().unwrap_or_default().to_string();
            let seq = payload["d"]["seq"].as_u64().unwrap_or(0);
            inner.ops.push(GatewayOp::Resume { session: session.clone(), seq });
            let Some(known) = inner.sessions.iter_mut().find(|s| s.id == session) else {
                return vec![json!({"op": 9, "d": false, "s": null, "t": null})];
            };
            let mut out: Vec<Value> = known
                .sent
                .iter()
                .filter(|(s, _)| *s > seq)
                .map(|(_, p)| p.clone())
                .collect();
            known.seq += 1;
            let resumed = json!({"op": 0, "t": "RESUMED", "s": known.seq, "d": {}});
            known.sent.push((known.seq, resumed.clone()));
            out.push(resumed);
            // The resumed session is the current one again.
            let index = inner.sessions.iter().position(|s| s.id == session).unwrap();
            let resumed_session = inner.sessions.remove(index);
            inner.sessions.push(resumed_session);
            inner.live = true;
            out
        }
        _ => Vec::new(),
    });
    answers
        .into_iter()
        .map(|a| match a["close"].as_u64() {
            Some(code) => Answer::Close(code as u16),
            None => Answer::Send(a),
        })
        .collect()
}
