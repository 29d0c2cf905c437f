//! Socket Mode frames and `message` events, read: which frame it is, what to acknowledge, and whether a message is a command someone typed.
//!
//! Pure functions over the documented JSON; the socket loop does the I/O.

use std::collections::HashSet;

use serde_json::Value;

use crate::api::Me;
use crate::text;

/// Why Slack asks the client to disconnect (`{"type": "disconnect", "reason": …}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Disconnect {
    /// The connection is due to be replaced: open a new one, then let this one go.
    Refresh,
    /// This connection will close in a few seconds (`warning`): same as a refresh.
    Warning,
    /// Socket Mode was turned off for the app: nothing will come until it is on again.
    LinkDisabled,
    Other(String),
}

/// One frame from the Socket Mode WebSocket.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Frame {
    Hello,
    Disconnect(Disconnect),
    /// An envelope (`events_api`, `slash_commands`, `interactive`): acknowledged by its id.
    Envelope {
        envelope_id: String,
        /// `payload.event_id`, the same across Slack's retries of one event.
        event_id: Option<String>,
        /// `payload.event` of an `events_api` envelope.
        event: Option<Value>,
    },
    Other,
}

pub(crate) fn parse_frame(raw: &str) -> Result<Frame, serde_json::Error> {
    let value: Value = serde_json::from_str(raw)?;
    Ok(match value["type"].as_str() {
        Some("hello") => Frame::Hello,
        Some("disconnect") => Frame::Disconnect(match value["reason"].as_str() {
            Some("refresh_requested") => Disconnect::Refresh,
            Some("warning") => Disconnect::Warning,
            Some("link_disabled") => Disconnect::LinkDisabled,
            other => Disconnect::Other(other.unwrap_or_default().to_string()),
        }),
        _ => match value["envelope_id"].as_str() {
            Some(id) => Frame::Envelope {
                envelope_id: id.to_string(),
                event_id: value["payload"]["event_id"].as_str().map(str::to_string),
                event: (value["type"] == "events_api")
                    .then(|| value["payload"]["event"].clone())
                    .filter(Value::is_object),
            },
            None => Frame::Other,
        },
    })
}

/// The acknowledgement of an envelope.
pub(crate) fn ack(envelope_id: &str) -> String {
    serde_json::json!({ "envelope_id": envelope_id }).to_string()
}

/// A message someone typed where bosun listens, or an edit of one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Typed {
    pub channel: String,
    pub user: String,
    pub text: String,
    pub direct: bool,
    /// The thread it belongs in: the thread it was typed in, or for an edit the thread under
    /// (or around) the edited message, where the answer goes.
    pub thread: Option<String>,
    /// For an edit, the `ts` of the message edited.
    pub edit_of: Option<String>,
}

/// Where bosun listens and how it is addressed.
#[derive(Clone, Debug)]
pub(crate) struct Listening {
    pub channels: HashSet<String>,
    pub me: Me,
    pub bot_name: String,
}

/// A message by a person in a configured channel, a thread under one, or a direct
/// conversation: new (a thread reply stays in its thread), or edited (`message_changed` with
/// new text, marked as an edit). Deletions, thread broadcasts, every other subtype, messages
/// by bots (bosun's own above all, which Slack echoes with its `bot_id`) and messages
/// elsewhere are not heard.
pub(crate) fn typed(event: &Value, listening: &Listening) -> Option<Typed> {
    if event["type"] != "message" {
        return None;
    }
    let (message, edit_of) = match event["subtype"].as_str() {
        None if event["edited"].is_null() => (event, None),
        // An edited message delivered whole (a client that does not send message_changed).
        None => (event, Some(event["ts"].as_str()?.to_string())),
        Some("message_changed") => {
            let message = &event["message"];
            // Unfurls and other changes that leave the text alone are not edits.
            if message["text"] == event["previous_message"]["text"] {
                return None;
            }
            (message, Some(message["ts"].as_str()?.to_string()))
        }
        Some(_) => return None,
    };
    if !message["bot_id"].is_null() || !message["bot_profile"].is_null() {
        return None;
    }
    let user = message["user"].as_str()?;
    if user == listening.me.user_id {
        return None;
    }
    let channel = event["channel"].as_str()?;
    let direct = event["channel_type"] == "im";
    if !direct && !listening.channels.contains(channel) {
        return None;
    }
    let raw = message["text"].as_str()?;
    let addressed = text::address_mention(raw, &listening.me.user_id, &listening.bot_name);
    let thread = match &edit_of {
        Some(ts) => Some(message["thread_ts"].as_str().unwrap_or(ts).to_string()),
        None => message["thread_ts"].as_str().map(str::to_string),
    };
    Some(Typed {
        channel: channel.to_string(),
        user: user.to_string(),
        text: text::unescape(&addressed),
        direct,
        thread,
        edit_of,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listening() -> Listening {
        Listening {
            channels: HashSet::from(["C1".to_string()]),
            me: Me {
                user_id: "UBOT".into(),
                bot_id: Some("BBOT".into()),
            },
            bot_name: "bosun".into(),
        }
    }

    fn message(extra: Value) -> Value {
        let mut event = json!({
            "type": "message", "channel": "C1", "user": "U1",
            "text": "deploy demo to staging", "ts": "1.000100", "channel_type": "channel"
        });
        for (k, v) in extra.as_object().unwrap() {
            event[k] = v.clone();
        }
        event
    }

    #[test]
    fn frames_are_told_apart() {
        assert_eq!(
            parse_frame(r#"{"type":"hello","num_connections":1}"#).unwrap(),
            Frame::Hello
        );
        assert_eq!(
            parse_frame(r#"{"type":"disconnect","reason":"refresh_requested"}"#).unwrap(),
            Frame::Disconnect(Disconnect::Refresh)
        );
        assert_eq!(
            parse_frame(r#"{"type":"disconnect","reason":"link_disabled"}"#).unwrap(),
            Frame::Disconnect(Disconnect::LinkDisabled)
        );
        let envelope = parse_frame(
            r#"{"type":"events_api","envelope_id":"e1","payload":{"event_id":"Ev1","event":{"type":"message"}}}"#,
        )
        .unwrap();
        assert_eq!(
            envelope,
            Frame::Envelope {
                envelope_id: "e1".into(),
                event_id: Some("Ev1".into()),
                event: Some(json!({"type": "message"}))
            }
        );
        assert!(matches!(
            parse_frame(r#"{"type":"slash_commands","envelope_id":"e2","payload":{}}"#).unwrap(),
            Frame::Envelope { event: None, .. }
        ));
        assert_eq!(ack("e1"), r#"{"envelope_id":"e1"}"#);
    }

    #[test]
    fn a_person_in_a_configured_channel_or_a_dm_is_heard() {
        let heard = typed(&message(json!({})), &listening()).unwrap();
        assert_eq!(
            heard,
            Typed {
                channel: "C1".into(),
                user: "U1".into(),
                text: "deploy demo to staging".into(),
                direct: false,
                thread: None,
                edit_of: None,
            }
        );
        let dm = typed(
            &message(json!({"channel": "D9", "channel_type": "im", "text": "status"})),
            &listening(),
        )
        .unwrap();
        assert!(dm.direct);
        let mention = typed(
            &message(json!({"text": "<@UBOT> deploy demo &amp; more"})),
            &listening(),
        )
        .unwrap();
        assert_eq!(mention.text, "bosun deploy demo & more");
    }

    #[test]
    fn a_thread_reply_stays_in_its_thread_and_an_edit_is_marked_with_the_thread_of_its_answer() {
        let reply = typed(
            &message(json!({"thread_ts": "1.000001", "text": "!status"})),
            &listening(),
        )
        .unwrap();
        assert_eq!(
            (reply.thread.as_deref(), reply.edit_of),
            (Some("1.000001"), None)
        );
        let changed = json!({"type": "message", "subtype": "message_changed", "channel": "C1", "channel_type": "channel",
            "message": {"type": "message", "user": "U1", "text": "deploy demo to staging", "ts": "1.000100", "edited": {"user": "U1", "ts": "1.5"}},
            "previous_message": {"type": "message", "user": "U1", "text": "deploy demo to stagign", "ts": "1.000100"}});
        let edit = typed(&changed, &listening()).unwrap();
        assert_eq!(edit.edit_of.as_deref(), Some("1.000100"));
        assert_eq!(edit.thread.as_deref(), Some("1.000100"));
        assert_eq!(edit.text, "deploy demo to staging");
        let mut unfurled = changed.clone();
        unfurled["previous_message"]["text"] = json!("deploy demo to staging");
        assert_eq!(
            typed(&unfurled, &listening()),
            None,
            "same text: not an edit"
        );
    }

    #[test]
    fn bots_deletions_subtypes_and_other_channels_are_not_heard() {
        for extra in [
            json!({"user": "UBOT"}),
            json!({"bot_id": "B2", "user": "U2"}),
            json!({"bot_id": "BBOT", "user": "UBOT", "app_id": "A1"}),
            json!({"subtype": "bot_message"}),
            json!({"subtype": "message_changed", "message": {"text": "deploy demo to staging", "user": "U1", "bot_id": "B2", "ts": "1.0"}}),
            json!({"subtype": "message_deleted"}),
            json!({"subtype": "thread_broadcast"}),
            json!({"channel": "C2"}),
            json!({"type": "app_mention"}),
        ] {
            assert_eq!(
                typed(&message(extra.clone()), &listening()),
                None,
                "{extra}"
            );
        }
    }
}
