//! The Slack Web API calls bosun makes, over HTTPS (or plain HTTP to a local stand-in), with Slack's errors typed.
//!
//! Every method is a POST to `{api_url}/{method}` with `Authorization: Bearer TOKEN`. Slack
//! answers `{"ok": true, …}` or `{"ok": false, "error": "code"}`; HTTP 429 carries
//! `Retry-After` in seconds.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

/// A Slack token. It is only ever put in an `Authorization` header; it prints as `<redacted>`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Why a call did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("rate limited by Slack for {0:?}")]
    RateLimited(Duration),
    #[error("Slack answered {code}: {}", meaning(code))]
    Slack { code: String },
    #[error("Slack answered HTTP {0}")]
    Status(u16),
    #[error("cannot reach Slack: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("Slack's answer to {method} is not what its documentation says: {detail}")]
    Malformed {
        method: &'static str,
        detail: String,
    },
}

impl ApiError {
    /// Whether trying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::RateLimited(_) | ApiError::Transport(_) => true,
            ApiError::Status(status) => *status >= 500,
            ApiError::Slack { code } => matches!(
                code.as_str(),
                "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout"
            ),
            ApiError::Malformed { .. } => false,
        }
    }
}

/// What an error code from Slack means for whoever runs bosun.
pub(crate) fn meaning(code: &str) -> &'static str {
    match code {
        "channel_not_found" => {
            "the channel does not exist or the bot cannot see it (check the channel id)"
        }
        "not_in_channel" => "the bot is not a member of the channel; invite it with /invite",
        "is_archived" => "the channel is archived",
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" => {
            "the token is wrong or was revoked; check bot_token and app_token"
        }
        "missing_scope" => {
            "the app lacks an OAuth scope it needs (chat:write, users:read, channels:history, groups:history, im:history)"
        }
        "ratelimited" => "too many requests; bosun waits and tries again",
        "message_not_found" => "the message to edit was deleted",
        "cant_update_message" => "the message can no longer be edited; bosun posts it anew",
        "msg_too_long" => "the message is too long",
        "no_text" => "the message was empty",
        _ => "see Slack's documentation of this error code",
    }
}

/// Who the bot is, from `auth.test`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Me {
    pub user_id: String,
    pub bot_id: Option<String>,
}

/// A Web API client for one workspace.
#[derive(Clone, Debug)]
pub(crate) struct WebApi {
    http: reqwest::Client,
    base: String,
    bot: Token,
    app: Token,
}

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

impl WebApi {
    pub fn new(base: &str, bot: Token, app: Token) -> anyhow::Result<Self> {
        // Err means a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("bosun/", env!("CARGO_PKG_VERSION")))
            .timeout(CALL_TIMEOUT)
            .build()?;
        Ok(WebApi {
            http,
            base: base.trim_end_matches('/').to_string(),
            bot,
            app,
        })
    }

    /// `auth.test` with the bot token: the bot's own user id.
    pub async fn auth_test(&self) -> Result<Me, ApiError> {
        let answer = self.form("auth.test", &self.bot, &[]).await?;
        let user_id = text_field(&answer, "user_id", "auth.test")?;
        let bot_id = answer["bot_id"].as_str().map(str::to_string);
        Ok(Me { user_id, bot_id })
    }

    /// `apps.connections.open` with the app-level token: a fresh Socket Mode URL.
    pub async fn open_connection(&self) -> Result<String, ApiError> {
        let answer = self.form("apps.connections.open", &self.app, &[]).await?;
        text_field(&answer, "url", "apps.connections.open")
    }

    /// `users.info`: the name the workspace shows for a user.
    pub async fn user_name(&self, user: &str) -> Result<String, ApiError> {
        let answer = self
            .form("users.info", &self.bot, &[("user", user)])
            .await?;
        let profile = &answer["user"]["profile"];
        [
            &profile["display_name"],
            &profile["real_name"],
            &answer["user"]["name"],
        ]
        .into_iter()
        .filter_map(Value::as_str)
        .find(|name| !name.is_empty())
        .map(str::to_string)
        .ok_or(ApiError::Malformed {
            method: "users.info",
            detail: "no name in user".into(),
        })
    }

    /// `chat.postMessage`: the new message's `ts`.
    pub async fn post(
        &self,
        channel: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<String, ApiError> {
        let mut body = json!({
            "channel": channel,
            "text": text,
            "parse": "none",
            "link_names": false,
            "unfurl_links": false,
            "unfurl_media": false,
        });
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.json("chat.postMessage", body).await?;
        text_field(&answer, "ts", "chat.postMessage")
    }

    /// `chat.update`: replaces a message's text.
    pub async fn update(&self, channel: &str, ts: &str, text: &str) -> Result<(), ApiError> {
        let body = json!({
            "channel": channel,
            "ts": ts,
            "text": text,
            "parse": "none",
            "link_names": false,
        });
        self.json("chat.update", body).await.map(drop)
    }

    async fn form(
        &self,
        method: &'static str,
        token: &Token,
        fields: &[(&str, &str)],
    ) -> Result<Value, ApiError> {
        let request = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&token.0)
            .form(fields);
        answer(request).await
    }

    async fn json(&self, method: &'static str, body: Value) -> Result<Value, ApiError> {
        let request = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.bot.0)
            .json(&body);
        answer(request).await
    }
}

async fn answer(request: reqwest::RequestBuilder) -> Result<Value, ApiError> {
    let response = request.send().await.map_err(ApiError::Transport)?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    if status == 429 {
        return Err(ApiError::RateLimited(retry_after));
    }
    if !(200..300).contains(&status) {
        return Err(ApiError::Status(status));
    }
    let value: Value = response.json().await.map_err(ApiError::Transport)?;
    if value["ok"].as_bool() == Some(true) {
        return Ok(value);
    }
    let code = value["error"]
        .as_str()
        .unwrap_or("unknown_error")
        .to_string();
    if code == "ratelimited" {
        return Err(ApiError::RateLimited(retry_after));
    }
    Err(ApiError::Slack { code })
}

/// `Retry-After: SECONDS`; one second when absent or unreadable.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(1), Duration::from_secs_f64)
}

fn text_field(answer: &Value, field: &str, method: &'static str) -> Result<String, ApiError> {
    answer[field]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::Malformed {
            method,
            detail: format!("no {field:?}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print() {
        let token = Token::new("xoxb-very-secret");
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
    }

    #[test]
    fn errors_explain_themselves() {
        let error = ApiError::Slack {
            code: "not_in_channel".into(),
        };
        assert_eq!(
            error.to_string(),
            "Slack answered not_in_channel: the bot is not a member of the channel; invite it with /invite"
        );
        assert!(!error.is_transient());
        assert!(ApiError::Status(503).is_transient());
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), Duration::from_secs(1));
        headers.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Duration::from_secs(3));
    }
}
