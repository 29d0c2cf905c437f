//! One client session: connect (STARTTLS), authenticate (SASL), bind a resource, then read and
//! write stanzas. No stream management and no resumption: a lost session is simply over.

use std::borrow::Cow;
use std::io;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sasl::common::Credentials;
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::jid::{FullJid, Jid};
use tokio_xmpp::parsers::bind::{BindQuery, BindResponse};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::stanza::Stanza;
use tokio_xmpp::xmlstream::{
    FallibleStreamElement, ReadError, StreamElementError, StreamHeader, Timeouts, XmppStream,
    XmppStreamElement,
};
use tokio_xmpp::{Error as XmppError, client_login};

use crate::tls::StartTlsConnector;

const BIND_ID: &str = "bosun-bind";
/// How long a clean close may take before the connection is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

type Io = <StartTlsConnector as ServerConnector>::Stream;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("connecting failed: {0}")]
    Connect(#[source] XmppError),
    #[error("login failed: {0}")]
    Login(#[source] XmppError),
    #[error("the server offers no resource binding")]
    NoBind,
    #[error("resource binding failed: {0}")]
    Bind(String),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("the server closed the stream")]
    Closed,
    #[error("stream error from the server: {0}")]
    Stream(String),
    #[error("invalid data from the server: {0}")]
    Invalid(String),
    #[error("no answer to {0}")]
    NoAnswer(&'static str),
}

impl SessionError {
    /// The server refused the TCP connection (it is down or restarting).
    pub(crate) fn is_refused(&self) -> bool {
        matches!(self, SessionError::Connect(XmppError::Io(e)) if e.kind() == io::ErrorKind::ConnectionRefused)
    }
}

/// What the stream produced.
#[derive(Debug)]
pub(crate) enum Incoming {
    Stanza(Box<Stanza>),
    /// The stream has been silent for the keep-alive time: ping, or it will be dropped.
    Idle,
}

pub(crate) struct Session {
    stream: XmppStream<Io>,
    jid: FullJid,
}

impl Session {
    /// Connect, authenticate and bind; `timeouts` also governs keep-alive on the open session.
    pub(crate) async fn open(
        connector: &StartTlsConnector,
        jid: &Jid,
        password: &str,
        timeouts: Timeouts,
    ) -> Result<Session, SessionError> {
        let user = jid.node().map(|n| n.as_str()).unwrap_or_default();
        let (pending, binding) = connector
            .connect(jid, ns::JABBER_CLIENT, timeouts)
            .await
            .map_err(SessionError::Connect)?;
        let (features, stream) = pending
            .recv_features()
            .await
            .map_err(|e| SessionError::Connect(e.into()))?;
        let credentials = Credentials::default()
            .with_username(user)
            .with_password(password)
            .with_channel_binding(binding);
        let reset = client_login(stream, features.sasl_mechanisms, credentials)
            .await
            .map_err(SessionError::Login)?;
        let header = StreamHeader {
            to: Some(Cow::Borrowed(jid.domain().as_str())),
            from: None,
            id: None,
        };
        let pending = reset.send_header(header).await?;
        let (features, stream) = pending
            .recv_features()
            .await
            .map_err(|e| SessionError::Login(e.into()))?;
        if !features.can_bind() {
            return Err(SessionError::NoBind);
        }
        let mut stream = stream;
        let jid = bind(&mut stream, jid.resource().map(|r| r.to_string())).await?;
        Ok(Session { stream, jid })
    }

    /// The full JID the server bound this session to.
    pub(crate) fn jid(&self) -> &FullJid {
        &self.jid
    }

    pub(crate) async fn send(&mut self, stanza: &Stanza) -> Result<(), SessionError> {
        tracing::trace!(?stanza, "sending");
        self.stream.send(stanza).await?;
        Ok(())
    }

    /// The next stanza, or `Idle` after the keep-alive time of silence. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Result<Incoming, SessionError> {
        read(&mut self.stream).await
    }

    /// Say goodbye and close the stream, giving up after a short while.
    pub(crate) async fn close(mut self) {
        let goodbye = async {
            self.send(&crate::stanzas::unavailable().into()).await?;
            SinkExt::<&Stanza>::close(&mut self.stream).await?;
            Ok::<(), SessionError>(())
        };
        match tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await {
            Ok(Ok(())) => tracing::debug!("session closed"),
            Ok(Err(error)) => tracing::debug!(%error, "closing the session failed"),
            Err(_) => tracing::debug!("closing the session timed out"),
        }
    }
}

async fn bind(
    stream: &mut XmppStream<Io>,
    resource: Option<String>,
) -> Result<FullJid, SessionError> {
    let request = Stanza::from(Iq::from_set(BIND_ID, BindQuery::new(resource)));
    stream.send(&request).await?;
    loop {
        let stanza = match read(stream).await? {
            Incoming::Stanza(stanza) => *stanza,
            Incoming::Idle => return Err(SessionError::NoAnswer("resource binding")),
        };
        match stanza {
            Stanza::Iq(Iq::Result { id, payload, .. }) if id == BIND_ID => {
                let payload = payload.ok_or_else(|| SessionError::Bind("empty result".into()))?;
                let bound = BindResponse::try_from(payload)
                    .map_err(|e| SessionError::Bind(e.to_string()))?;
                return Ok(bound.into());
            }
            Stanza::Iq(Iq::Error { id, error, .. }) if id == BIND_ID => {
                return Err(SessionError::Bind(format!("{:?}", error.defined_condition)));
            }
            _ => {}
        }
    }
}

/// The next stanza from `stream`, or `Idle` after the keep-alive time of silence. Cancel-safe.
async fn read(stream: &mut XmppStream<Io>) -> Result<Incoming, SessionError> {
    loop {
        let item = stream.next().await.ok_or(SessionError::Closed)?;
        match item {
            Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(stanza))) => {
                return Ok(Incoming::Stanza(Box::new(stanza)));
            }
            Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(error))) => {
                return Err(SessionError::Stream(error.to_string()));
            }
            Ok(FallibleStreamElement::Ok(other)) => {
                tracing::debug!(?other, "ignoring an unexpected stream element");
            }
            Ok(FallibleStreamElement::Err(StreamElementError::InvalidStanza {
                name,
                header,
                error,
                ..
            })) => {
                // One malformed stanza (from anyone on the network) must not cost the session.
                tracing::warn!(%name, from = ?header.from, %error, "ignoring an invalid stanza");
            }
            Ok(FallibleStreamElement::Err(error)) => {
                return Err(SessionError::Invalid(error.to_string()));
            }
            Err(ReadError::SoftTimeout) => return Ok(Incoming::Idle),
            Err(ReadError::HardError(error)) => return Err(SessionError::Io(error)),
            Err(ReadError::ParseError(error)) => {
                return Err(SessionError::Invalid(error.to_string()));
            }
            Err(ReadError::StreamFooterReceived) => return Err(SessionError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio_xmpp::minidom::Element;
    use tokio_xmpp::parsers::sm;

    /// Why this crate never uses XEP-0198 (see the crate documentation). When this fails after
    /// an upgrade, xmpp-parsers accepts Prosody's answer and the decision can be revisited.
    #[test]
    fn xmpp_parsers_refuses_the_failed_prosody_sends_after_a_restart() {
        let failed: Element = "<failed xmlns='urn:xmpp:sm:3'>\
            <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
            .parse()
            .expect("well-formed");
        assert!(sm::Failed::try_from(failed).is_err());
        let with_h: Element = "<failed xmlns='urn:xmpp:sm:3' h='3'>\
            <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
            .parse()
            .expect("well-formed");
        assert!(sm::Failed::try_from(with_h).is_ok());
    }
}
