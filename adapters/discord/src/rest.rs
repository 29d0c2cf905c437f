//! The Discord REST calls bosun makes itself (messages, edits, the gateway URL), with Discord's rate-limit headers and 429 bodies read, not guessed.
//!
//! serenity's own limiter is off (it is bypassed by a custom base URL anyway), so the adapter
//! keeps Discord's limits: a success reports `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset-After` (seconds), a 429 carries `{"retry_after": seconds, "global": bool}`
//! and a `Retry-After` header. Every request is `{api_url}/api/v10/…` with
//! `Authorization: Bot TOKEN`.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// The Discord API version bosun speaks (serenity 0.12's too).
pub(crate) const API_VERSION: u8 = 10;

/// A bot token. It is only ever put in an `Authorization` header; it prints as `<redacted>`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestError {
    #[error("rate limited by Discord for {after:?}{}", if *global { " (global)" } else { "" })]
    RateLimited { after: Duration, global: bool },
    #[error("Discord answered HTTP {status}{}: {}", code.map(|c| format!(" (code {c})")).unwrap_or_default(), meaning(*status, *code))]
    Refused { status: u16, code: Option<i64> },
    #[error("cannot reach Discord: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("Discord's answer is not what its documentation says: {0}")]
    Malformed(String),
}

impl RestError {
    /// Whether trying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            RestError::RateLimited { .. } | RestError::Transport(_) => true,
            RestError::Refused { status, .. } => *status >= 500,
            RestError::Malformed(_) => false,
        }
    }

    /// The message to edit no longer exists.
    pub fn is_unknown_message(&self) -> bool {
        matches!(
            self,
            RestError::Refused {
                code: Some(10008),
                ..
            }
        )
    }
}

/// What a refusal means for whoever runs bosun.
fn meaning(status: u16, code: Option<i64>) -> &'static str {
    match (status, code) {
        (_, Some(10003)) => "no such channel (check the channel id)",
        (_, Some(10008)) => "the message to edit was deleted",
        (_, Some(50001)) => "the bot cannot see the channel (Missing Access)",
        (_, Some(50013)) => {
            "the bot lacks a permission it needs there (Send Messages, Read Message History)"
        }
        (_, Some(50035)) => "Discord refused the message's form",
        (401, _) => "the bot token is wrong or was reset",
        (403, _) => "the bot is not allowed to do this",
        (404, _) => "not found",
        (500.., _) => "Discord is having trouble; bosun tries again",
        _ => "see Discord's documentation of this status",
    }
}

/// Discord's REST API, for one bot.
#[derive(Clone, Debug)]
pub(crate) struct Rest {
    http: reqwest::Client,
    api: String,
    /// `Bot TOKEN`, marked sensitive so that no debug output shows it.
    auth: HeaderValue,
}

/// Message flag SUPPRESS_EMBEDS: links in bosun's messages (commit and ticket URLs) unfurl
/// into no preview.
const SUPPRESS_EMBEDS: u64 = 1 << 2;

impl Rest {
    /// `base` is `https://discord.com`, or a stand-in's URL; `timeout` bounds each call.
    pub fn new(base: &str, token: Token, timeout: Duration) -> anyhow::Result<Self> {
        // Err means a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "DiscordBot (bosun, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .timeout(timeout)
            .build()?;
        let mut auth = HeaderValue::from_str(&format!("Bot {}", token.expose()))
            .map_err(|_| anyhow::anyhow!("the Discord token has characters a token cannot have"))?;
        auth.set_sensitive(true);
        Ok(Rest {
            http,
            api: format!("{}/api/v{API_VERSION}", base.trim_end_matches('/')),
            auth,
        })
    }

    /// `GET /gateway`: the WebSocket URL to connect to.
    pub async fn gateway_url(&self) -> Result<String, RestError> {
        let request = self.http.get(format!("{}/gateway", self.api));
        let (value, _) = self.send(request).await?;
        value["url"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| RestError::Malformed("GET /gateway has no url".into()))
    }

    /// `GET /channels/{id}`: for a thread, the channel it is under.
    pub async fn thread_parent(&self, channel: u64) -> Result<Option<u64>, RestError> {
        let request = self.http.get(format!("{}/channels/{channel}", self.api));
        let (value, _) = self.send(request).await?;
        // Announcement, public and private threads.
        let is_thread = matches!(value["type"].as_u64(), Some(10..=12));
        Ok(value["parent_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .filter(|_| is_thread))
    }

    /// `POST /channels/{channel}/messages`: the new message's id, and how long this channel
    /// must now wait. `nonce` (at most 25 characters) is enforced: a retry of a post that
    /// Discord took although its answer was lost returns that message, no second one.
    /// `reply_to` makes it a reply to that message.
    pub async fn post(
        &self,
        channel: &str,
        content: &str,
        nonce: &str,
        reply_to: Option<&str>,
    ) -> Result<(String, Duration), RestError> {
        let mut body = body(content);
        body["flags"] = json!(SUPPRESS_EMBEDS);
        body["nonce"] = json!(nonce);
        body["enforce_nonce"] = json!(true);
        if let Some(message) = reply_to {
            body["message_reference"] = json!({"message_id": message, "fail_if_not_exists": false});
        }
        let request = self
            .http
            .post(format!("{}/channels/{channel}/messages", self.api))
            .json(&body);
        let (value, pace) = self.send(request).await?;
        let id = value["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| RestError::Malformed("a created message has no id".into()))?;
        Ok((id, pace))
    }

    /// `PATCH /channels/{channel}/messages/{message}`: how long this channel must now wait.
    pub async fn edit(
        &self,
        channel: &str,
        message: &str,
        content: &str,
    ) -> Result<Duration, RestError> {
        let request = self
            .http
            .patch(format!(
                "{}/channels/{channel}/messages/{message}",
                self.api
            ))
            .json(&json!({
                "content": content,
                "allowed_mentions": { "parse": [] },
                "flags": SUPPRESS_EMBEDS,
            }));
        let (_, pace) = self.send(request).await?;
        Ok(pace)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(Value, Duration), RestError> {
        let response = request
            .header(reqwest::header::AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .map_err(RestError::Transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let value: Value = match response.json().await {
            Ok(value) => value,
            Err(_) if !(200..300).contains(&status) => Value::Null,
            Err(e) => return Err(RestError::Transport(e)),
        };
        if status == 429 {
            return Err(rate_limited(&headers, &value));
        }
        if !(200..300).contains(&status) {
            return Err(RestError::Refused {
                status,
                code: value["code"].as_i64(),
            });
        }
        Ok((value, pace(&headers)))
    }
}

/// Content with every mention switched off.
fn body(content: &str) -> Value {
    json!({ "content": content, "allowed_mentions": { "parse": [] } })
}

/// How long the route must rest after a success: its reset when no request is left.
fn pace(headers: &HeaderMap) -> Duration {
    let remaining = header_number(headers, "x-ratelimit-remaining");
    match remaining {
        Some(r) if r < 1.0 => header_number(headers, "x-ratelimit-reset-after")
            .map_or(Duration::from_secs(1), Duration::from_secs_f64),
        _ => Duration::ZERO,
    }
}

/// A 429: the body's `retry_after` (seconds, fractional), else `Retry-After`, else a second.
fn rate_limited(headers: &HeaderMap, body: &Value) -> RestError {
    let after = body["retry_after"]
        .as_f64()
        .or_else(|| header_number(headers, "retry-after"))
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(1), Duration::from_secs_f64);
    let global = body["global"].as_bool() == Some(true)
        || headers
            .get("x-ratelimit-global")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    RestError::RateLimited { after, global }
}

fn header_number(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_spent_bucket_rests_until_its_reset() {
        assert_eq!(pace(&headers(&[])), Duration::ZERO);
        assert_eq!(
            pace(&headers(&[
                ("x-ratelimit-remaining", "3"),
                ("x-ratelimit-reset-after", "4.5")
            ])),
            Duration::ZERO
        );
        assert_eq!(
            pace(&headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset-after", "0.25")
            ])),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn a_429_is_read_from_its_body_first() {
        let error = rate_limited(
            &headers(&[("retry-after", "2")]),
            &json!({"message": "You are being rate limited.", "retry_after": 0.6, "global": false}),
        );
        assert!(
            matches!(error, RestError::RateLimited { after, global: false } if after == Duration::from_millis(600))
        );
        let error = rate_limited(
            &headers(&[("retry-after", "2"), ("x-ratelimit-global", "true")]),
            &Value::Null,
        );
        assert!(
            matches!(error, RestError::RateLimited { after, global: true } if after == Duration::from_secs(2))
        );
    }

    #[test]
    fn refusals_explain_themselves_and_tokens_never_print() {
        let error = RestError::Refused {
            status: 403,
            code: Some(50013),
        };
        assert_eq!(
            error.to_string(),
            "Discord answered HTTP 403 (code 50013): the bot lacks a permission it needs there (Send Messages, Read Message History)"
        );
        assert!(!error.is_transient());
        assert_eq!(format!("{:?}", Token::new("secret")), "Token(<redacted>)");
        assert_eq!(body("hi")["allowed_mentions"], json!({"parse": []}));
        assert_eq!(SUPPRESS_EMBEDS, 4);
    }
}
