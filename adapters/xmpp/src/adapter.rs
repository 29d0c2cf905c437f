//! [`XmppAdapter`]: the connection loop — connect with back-off, run each session until it is
//! lost, and stop when shut down or when the core is done and every milestone is delivered.

use std::future::{Future, pending};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bosun_chat::{Adapter, Channels, Inbound, Outbound};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_xmpp::xmlstream::Timeouts;

use crate::backoff::Backoff;
use crate::classify::NETWORK;
use crate::config::XmppConfig;
use crate::engine::{Effects, Engine};
use crate::session::{Incoming, Session, SessionError};
use crate::tls::{StartTlsConnector, client_config};

/// Messages held while disconnected or waiting for a room (progress lines are coalesced).
const OUTBOX_CAPACITY: usize = 256;
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// The longest wait between attempts while the server refuses connections (it is restarting):
/// a refused connection costs it nothing, and the bot is back soon after it is.
const REFUSED_CAP: Duration = Duration::from_secs(2);
/// Connecting, TLS, login and binding together must not take longer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The XMPP chat adapter; see the crate documentation.
#[derive(Debug)]
pub struct XmppAdapter {
    config: XmppConfig,
}

impl XmppAdapter {
    pub fn new(config: XmppConfig) -> Self {
        XmppAdapter { config }
    }
}

impl Adapter for XmppAdapter {
    fn network(&self) -> &'static str {
        NETWORK
    }

    /// The first configured room: where the bot says what it finds on its own (a takeover
    /// from another bot, hosts that drifted).
    fn home(&self) -> Option<bosun_chat::Room> {
        self.config
            .rooms
            .first()
            .map(|room| bosun_chat::Room::new(room.trim()))
    }

    fn run(
        self,
        channels: Channels,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        run(self.config, channels, shutdown)
    }
}

async fn run(
    config: XmppConfig,
    channels: Channels,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let settings = config.settings().context("invalid XMPP settings")?;
    let ca_file = settings.ca_file.clone();
    let tls = tokio::task::spawn_blocking(move || client_config(ca_file.as_deref()))
        .await
        .context("loading TLS trust roots")??;
    let server = settings
        .server
        .as_ref()
        .map(|(host, port)| (host.as_str(), *port));
    let connector = StartTlsConnector::for_server(server, settings.jid.domain().as_str(), tls);
    let timeouts = Timeouts {
        read_timeout: settings.keepalive,
        response_timeout: settings.keepalive,
    };

    let mut engine = Engine::new(&settings, OUTBOX_CAPACITY);
    let mut link = Link {
        inbound: Some(channels.inbound),
        outbound: channels.outbound,
        outbound_open: true,
        shutdown,
    };
    let mut backoff = Backoff::new(BACKOFF_BASE, BACKOFF_CAP);
    let mut first_attempt = true;
    let mut refused = false;
    loop {
        if !std::mem::take(&mut first_attempt) {
            let mut delay = backoff.next_delay();
            if std::mem::take(&mut refused) {
                delay = delay.min(REFUSED_CAP);
            }
            tracing::info!(?delay, "reconnecting after a pause");
            if let Offline::Stop = link.offline(&mut engine, tokio::time::sleep(delay)).await {
                return Ok(());
            }
        }
        let open = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Session::open(&connector, &settings.jid, &settings.password, timeouts),
        );
        let session = match link.offline(&mut engine, open).await {
            Offline::Stop => return Ok(()),
            Offline::Done(Ok(Ok(session))) => session,
            Offline::Done(Ok(Err(error @ SessionError::Login(_)))) => {
                tracing::error!(%error, jid = %settings.jid, "cannot log in");
                continue;
            }
            Offline::Done(Ok(Err(error))) => {
                refused = error.is_refused();
                tracing::warn!(%error, "cannot connect");
                continue;
            }
            Offline::Done(Err(_)) => {
                tracing::warn!(timeout = ?CONNECT_TIMEOUT, "connecting timed out");
                continue;
            }
        };
        tracing::info!(jid = %session.jid(), "online");
        // A session was established: the next loss starts the back-off over.
        backoff.reset();
        match link.online(&mut engine, session).await {
            Online::Stop => return Ok(()),
            Online::Lost(error) => {
                tracing::warn!(%error, "connection lost; reconnecting");
                engine.on_lost();
            }
        }
    }
}

enum Offline<T> {
    Done(T),
    /// Shut down, or the core is done and no milestone is left to deliver.
    Stop,
}

enum Online {
    Stop,
    Lost(SessionError),
}

impl Online {
    /// Close the session cleanly when stopping; a lost one is just dropped.
    async fn closing(self, session: Session) -> Online {
        if let Online::Stop = self {
            session.close().await;
        }
        self
    }
}

/// The adapter's ends of the channels to the core.
struct Link {
    /// `None` once the core stopped listening.
    inbound: Option<mpsc::Sender<Inbound>>,
    outbound: mpsc::Receiver<Outbound>,
    outbound_open: bool,
    shutdown: CancellationToken,
}

impl Link {
    fn take(&mut self, engine: &mut Engine, message: Option<Outbound>) {
        match message {
            Some(message) => engine.accept(message),
            None => {
                tracing::debug!("the core has nothing more to say");
                self.outbound_open = false;
            }
        }
    }

    fn finished(&self, engine: &Engine) -> bool {
        !self.outbound_open && !engine.has_pending_milestones()
    }

    /// Run `work` (connecting, waiting) while still taking messages from the core.
    async fn offline<F: Future>(&mut self, engine: &mut Engine, work: F) -> Offline<F::Output> {
        tokio::pin!(work);
        loop {
            if self.finished(engine) {
                return Offline::Stop;
            }
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Offline::Stop,
                output = &mut work => return Offline::Done(output),
                message = self.outbound.recv(), if self.outbound_open && engine.can_accept() => {
                    self.take(engine, message);
                }
            }
        }
    }

    async fn online(&mut self, engine: &mut Engine, mut session: Session) -> Online {
        let effects = engine.on_online();
        if let Err(end) = self.apply(engine, &mut session, effects).await {
            return end.closing(session).await;
        }
        loop {
            let now = Instant::now();
            while let Some(stanza) = engine.poll_send(now) {
                if let Err(error) = session.send(&stanza).await {
                    return Online::Lost(error);
                }
            }
            if !self.outbound_open && engine.is_drained() {
                session.close().await;
                return Online::Stop;
            }
            let deadline = engine.next_deadline();
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => pending().await,
                }
            };
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    session.close().await;
                    return Online::Stop;
                }
                incoming = session.next() => match incoming {
                    Ok(Incoming::Stanza(stanza)) => {
                        let effects = engine.on_stanza(*stanza, Instant::now());
                        if let Err(end) = self.apply(engine, &mut session, effects).await {
                            return end.closing(session).await;
                        }
                    }
                    Ok(Incoming::Idle) => {
                        if let Err(error) = session.send(&engine.keepalive()).await {
                            return Online::Lost(error);
                        }
                    }
                    Err(error) => return Online::Lost(error),
                },
                message = self.outbound.recv(), if self.outbound_open && engine.can_accept() => {
                    self.take(engine, message);
                }
                () = timer => {
                    let now = Instant::now();
                    if engine.ack_overdue(now) {
                        return Online::Lost(SessionError::NoAnswer("a delivery ping"));
                    }
                    for stanza in engine.on_timer(now) {
                        if let Err(error) = session.send(&stanza).await {
                            return Online::Lost(error);
                        }
                    }
                }
            }
        }
    }

    /// Send what an event asked for, then hand inbound messages to the core. While the core is
    /// busy, messages from it are still taken (so neither side waits for the other forever);
    /// the stream is not read meanwhile, which pushes back on the server.
    async fn apply(
        &mut self,
        engine: &mut Engine,
        session: &mut Session,
        effects: Effects,
    ) -> Result<(), Online> {
        for stanza in &effects.send {
            session.send(stanza).await.map_err(Online::Lost)?;
        }
        for message in effects.forward {
            let Some(inbound) = self.inbound.clone() else {
                break;
            };
            loop {
                tokio::select! {
                    biased;
                    () = self.shutdown.cancelled() => {
                        return Err(Online::Stop);
                    }
                    permit = inbound.reserve() => {
                        match permit {
                            Ok(permit) => permit.send(message),
                            Err(_) => {
                                tracing::warn!("the core stopped listening; inbound messages are dropped");
                                self.inbound = None;
                            }
                        }
                        break;
                    }
                    message = self.outbound.recv(), if self.outbound_open && engine.can_accept() => {
                        self.take(engine, message);
                    }
                }
            }
        }
        Ok(())
    }
}
