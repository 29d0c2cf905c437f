//! TLS for the client stream: a rustls configuration (ring provider) trusting the system roots
//! plus an optional CA file, and [`StartTlsConnector`], a tokio-xmpp `ServerConnector` that
//! requires STARTTLS and uses it.
//!
//! A certificate in the CA file is also trusted as the server's own certificate when the server
//! presents exactly it: a self-signed certificate made by `openssl req -x509` or Prosody's
//! certificate tool is marked CA:TRUE, which rustls refuses as a server's certificate
//! (`CaUsedAsEndEntity`). Pinned that way, its names must still match the server.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use sasl::common::ChannelBinding;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::{WebPkiServerVerifier, verify_server_name};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_xmpp::connect::{DnsConfig, ServerConnector, ServerConnectorError};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::starttls;
use tokio_xmpp::xmlstream::{
    PendingFeaturesRecv, ReadError, StreamHeader, Timeouts, XmppStream, XmppStreamElement,
    initiate_stream,
};

/// Why TLS could not be set up or did not hold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read the CA file {path}: {source}")]
    CaFile {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the CA file {0} holds no certificate")]
    EmptyCaFile(PathBuf),
    #[error("the CA file {path} holds a certificate rustls refuses: {source}")]
    BadCa {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("no trusted certificates: no system roots were found and no CA file was given")]
    NoRoots,
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    #[error("the server does not offer STARTTLS; refusing to continue without TLS")]
    NoStartTls,
    #[error("the server refused STARTTLS")]
    StartTlsRefused,
}

impl ServerConnectorError for TlsError {}

/// A rustls client configuration with the ring provider, trusting the system's roots and the
/// certificates of `ca_file` (PEM). Reads files: call it outside async code.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "skipping unreadable system certificate");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let ca_error = |source| TlsError::CaFile {
            path: path.to_path_buf(),
            source,
        };
        let mut found = 0usize;
        for cert in CertificateDer::pem_file_iter(path).map_err(ca_error)? {
            let cert = cert.map_err(ca_error)?;
            roots.add(cert).map_err(|source| TlsError::BadCa {
                path: path.to_path_buf(),
                source,
            })?;
            found += 1;
        }
        if found == 0 {
            return Err(TlsError::EmptyCaFile(path.to_path_buf()));
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
    let verifier = PinningVerifier {
        webpki,
        pinned: pinned(ca_file)?,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificates of the CA file, to recognise a server that presents one of them.
fn pinned(ca_file: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let Some(path) = ca_file else {
        return Ok(Vec::new());
    };
    CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::CaFile {
            path: path.to_path_buf(),
            source,
        })
}

/// The usual web PKI checks, and one more way in: a server certificate that is exactly one
/// of the CA file's (pinned by the operator) is trusted even when it is marked as a CA, as
/// long as it names the server.
#[derive(Debug)]
struct PinningVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            Err(error)
                if self
                    .pinned
                    .iter()
                    .any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                let parsed = ParsedCertificate::try_from(end_entity)?;
                verify_server_name(&parsed, server_name)?;
                tracing::debug!(%error, "the server presents a certificate of the CA file: trusted as pinned");
                Ok(ServerCertVerified::assertion())
            }
            Err(error) => Err(error),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Connects over TCP, requires `<starttls/>`, and verifies the server's certificate for the
/// JID's domain with the given rustls configuration.
#[derive(Clone, Debug)]
pub struct StartTlsConnector {
    dns: DnsConfig,
    tls: Arc<ClientConfig>,
}

impl StartTlsConnector {
    pub fn new(dns: DnsConfig, tls: Arc<ClientConfig>) -> Self {
        StartTlsConnector { dns, tls }
    }

    /// Connect to `host:port`, or look up the domain's `_xmpp-client._tcp` SRV record.
    pub fn for_server(server: Option<(&str, u16)>, domain: &str, tls: Arc<ClientConfig>) -> Self {
        let dns = match server {
            Some((host, port)) => DnsConfig::no_srv(host, port),
            None => DnsConfig::srv_default_client(domain),
        };
        StartTlsConnector::new(dns, tls)
    }
}

type Tls = TlsStream<TcpStream>;

impl ServerConnector for StartTlsConnector {
    type Stream = BufStream<Tls>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), tokio_xmpp::Error> {
        let domain = jid.domain().as_str();
        let tcp = self.dns.resolve().await?;
        let header = || StreamHeader {
            to: Some(Cow::Borrowed(domain)),
            from: None,
            id: None,
        };
        let plain = initiate_stream(BufStream::new(tcp), ns, header(), timeouts).await?;
        let (features, mut plain): (_, XmppStream<BufStream<TcpStream>>) =
            plain.recv_features().await?;
        if !features.can_starttls() {
            return Err(TlsError::NoStartTls.into());
        }
        plain
            .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
                starttls::Request,
            )))
            .await?;
        loop {
            match plain
                .next()
                .await
                .map(|item| item.and_then(|el| el.into_read_error()))
            {
                Some(Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_)))) => break,
                Some(Ok(XmppStreamElement::Starttls(_))) => {
                    return Err(TlsError::StartTlsRefused.into());
                }
                Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) => {}
                Some(Err(ReadError::HardError(e))) => return Err(e.into()),
                Some(Err(ReadError::ParseError(e))) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e).into());
                }
                None | Some(Err(ReadError::StreamFooterReceived)) => {
                    return Err(tokio_xmpp::Error::Disconnected);
                }
            }
        }
        let tcp = plain.into_inner().into_inner();
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|_| TlsError::ServerName(domain.to_owned()))?;
        let tls = TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, tcp)
            .await?;
        let binding = channel_binding(&tls)?;
        let stream = initiate_stream(BufStream::new(tls), ns, header(), timeouts).await?;
        Ok((stream, binding))
    }
}

/// RFC 9266 `tls-exporter` channel binding on TLS 1.3 (as tokio-xmpp's own connector does);
/// none on older versions.
fn channel_binding(tls: &Tls) -> Result<ChannelBinding, TlsError> {
    let (_, connection) = tls.get_ref();
    match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => {
            let data = connection.export_keying_material(
                vec![0u8; 32],
                b"EXPORTER-Channel-Binding",
                None,
            )?;
            Ok(ChannelBinding::TlsExporter(data))
        }
        _ => Ok(ChannelBinding::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem"))).expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        assert!(matches!(
            client_config(Some(&path)),
            Err(TlsError::EmptyCaFile(_))
        ));
    }
}
