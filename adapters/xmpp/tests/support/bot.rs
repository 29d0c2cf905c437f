//! The adapter under test, run as the core would run it: a task owned by the test, fed and read
//! through bounded channels, stopped by a cancellation token.

use std::time::Duration;

use anyhow::{Context, anyhow};
use bosun_chat::{Adapter, Channels, Inbound, Outbound};
use bosun_xmpp::{XmppAdapter, XmppConfig};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::WAIT;
use super::prosody::{DOMAIN, PASSWORD, Prosody};

pub struct Bot {
    inbound: mpsc::Receiver<Inbound>,
    /// `None` once the test said it has nothing more to say.
    outbound: Option<mpsc::Sender<Outbound>>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Bot {
    /// Settings for `user@localhost` on `prosody`, in `rooms`, as nick `bosun`.
    pub fn config(prosody: &Prosody, user: &str, rooms: &[&str]) -> XmppConfig {
        XmppConfig {
            jid: format!("{user}@{DOMAIN}"),
            password: PASSWORD.into(),
            server: Some(("127.0.0.1".into(), prosody.port())),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            nick: "bosun".into(),
            ca_file: Some(prosody.ca_file()),
            rejoin_on_kick: true,
            keepalive: Duration::from_secs(10),
        }
    }

    pub fn start(config: XmppConfig) -> Bot {
        let (inbound_tx, inbound) = mpsc::channel(64);
        let (outbound, outbound_rx) = mpsc::channel(64);
        let shutdown = CancellationToken::new();
        let adapter = XmppAdapter::new(config);
        let channels = Channels {
            inbound: inbound_tx,
            outbound: outbound_rx,
        };
        let task = tokio::spawn(adapter.run(channels, shutdown.clone()));
        Bot {
            inbound,
            outbound: Some(outbound),
            shutdown,
            task: Some(task),
        }
    }

    /// Hand the adapter a message to say.
    pub async fn say(&self, message: Outbound) -> anyhow::Result<()> {
        let outbound = self
            .outbound
            .as_ref()
            .context("the test closed the outbound channel")?;
        tokio::time::timeout(WAIT, outbound.send(message))
            .await
            .map_err(|_| anyhow!("the adapter took no message within {WAIT:?}"))?
            .context("the adapter stopped")
    }

    /// The next message the adapter forwards.
    pub async fn heard(&mut self) -> anyhow::Result<Inbound> {
        tokio::time::timeout(WAIT, self.inbound.recv())
            .await
            .map_err(|_| anyhow!("the adapter forwarded nothing within {WAIT:?}"))?
            .context("the adapter stopped forwarding")
    }

    /// Close the outbound channel, as a core that is done does, and wait for the adapter to
    /// return by itself (after delivering what it was given).
    pub async fn finish(mut self) -> anyhow::Result<()> {
        self.outbound = None;
        let task = self.task.take().expect("running");
        tokio::time::timeout(WAIT, task)
            .await
            .map_err(|_| anyhow!("the adapter did not return within {WAIT:?}"))?
            .context("the adapter panicked")?
    }

    /// Stop the adapter and check it ended cleanly.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let task = self.task.take().expect("running");
        tokio::time::timeout(WAIT, task)
            .await
            .map_err(|_| anyhow!("the adapter did not stop within {WAIT:?}"))?
            .context("the adapter panicked")?
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
