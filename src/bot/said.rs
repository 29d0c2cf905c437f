//! Everything the bot says goes through here on its way to the chat: configured secrets are
//! hidden, and what is said about a deploy (its topic is `deploy-ID`) is kept in the journal for
//! the page and the export, in order, by a task of its own so the loop never waits on the disk.

use bosun_chat::{Delivery, Outbound};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use crate::journal::{Journal, NewMessage};
use crate::redact::Redactor;

/// Messages waiting to be journaled before the loop waits for the recorder.
const BACKLOG: usize = 256;

/// The journal id of the deploy a topic belongs to.
pub(crate) fn deploy_of(topic: Option<&str>) -> Option<i64> {
    topic?.strip_prefix("deploy-")?.parse().ok()
}

/// The loop's mouth. Dropping it lets the recorder finish what is queued and stop.
pub(crate) struct Said {
    redactor: Redactor,
    record: mpsc::Sender<NewMessage>,
}

impl Said {
    /// Starts the recorder on `tasks`.
    pub(crate) fn start(journal: Journal, tasks: &TaskTracker) -> Said {
        let (record, mut queued) = mpsc::channel::<NewMessage>(BACKLOG);
        let redactor = journal.redactor().clone();
        tasks.spawn(async move {
            while let Some(first) = queued.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = queued.try_recv() {
                    batch.push(more);
                }
                if let Err(e) = journal.record_messages(batch).await {
                    tracing::warn!("chat messages were not journaled: {e}");
                }
            }
        });
        Said { redactor, record }
    }

    /// Hides secrets in `message`, queues it for the journal when it belongs to a deploy, and
    /// hands it to the adapter.
    pub(crate) async fn send(&self, to_chat: &mpsc::Sender<Outbound>, mut message: Outbound) {
        message.text = self.redactor.redact_owned(message.text);
        if let Some(deploy_id) = deploy_of(message.topic.as_deref()) {
            let kind = match message.delivery {
                Delivery::Milestone => "milestone",
                Delivery::Progress { .. } => "progress",
            };
            let _ = self
                .record
                .send(NewMessage {
                    deploy_id,
                    at: crate::clock::now_ms(),
                    room: message.room.to_string(),
                    kind,
                    text: message.text.clone(),
                })
                .await;
        }
        let _ = to_chat.send(message).await;
    }
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
