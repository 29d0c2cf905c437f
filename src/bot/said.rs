//! Everything the bot says goes through here on its way to the chat: configured secrets are
//! hidden, and what is said about a deploy (its topic is `deploy-ID`) is kept in the journal for
//! the page and the export.

use bosun_chat::{Delivery, Outbound};
use tokio::sync::mpsc;

use crate::journal::Journal;

/// The journal id of the deploy a topic belongs to.
pub(crate) fn deploy_of(topic: Option<&str>) -> Option<i64> {
    topic?.strip_prefix("deploy-")?.parse().ok()
}

/// Hides secrets in `message`, journals it when it belongs to a deploy, and hands it to the
/// adapter.
pub(crate) async fn send(
    journal: &Journal,
    to_chat: &mpsc::Sender<Outbound>,
    mut message: Outbound,
) {
    message.text = journal.redactor().redact_owned(message.text);
    if let Some(id) = deploy_of(message.topic.as_deref()) {
        let kind = match message.delivery {
            Delivery::Milestone => "milestone",
            Delivery::Progress { .. } => "progress",
        };
        if let Err(e) = journal
            .record_message(id, message.room.to_string(), kind, message.text.clone())
            .await
        {
            tracing::warn!(journal = id, "a chat message was not journaled: {e}");
        }
    }
    let _ = to_chat.send(message).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_name_their_deploy() {
        assert_eq!(deploy_of(Some("deploy-42")), Some(42));
        assert_eq!(deploy_of(Some("deploy-x")), None);
        assert_eq!(deploy_of(Some("other")), None);
        assert_eq!(deploy_of(None), None);
    }
}
