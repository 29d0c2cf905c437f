//! TLS: the server's certificate must chain to a trusted CA, or be the very certificate the CA file holds (a self-signed one marked CA:TRUE included).

use tokio_xmpp::connect::{DnsConfig, ServerConnector};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::xmlstream::Timeouts;

use crate::support::prosody::{Certificate, unrelated_ca};
use crate::support::{Bot, Prosody, TestClient, room, shared_prosody, together};

#[tokio::test]
async fn the_server_certificate_must_chain_to_a_trusted_ca() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = shared_prosody().await?;
    let dir = tempfile::tempdir()?;
    let other_ca = unrelated_ca(dir.path()).await?;
    let jid = Jid::new("alice@localhost")?;
    let connect = |ca: std::path::PathBuf| {
        let jid = jid.clone();
        let port = server.port();
        async move {
            let tls =
                tokio::task::spawn_blocking(move || bosun_xmpp::client_config(Some(&ca))).await??;
            let dns = DnsConfig::addr(&format!("127.0.0.1:{port}"));
            let connector = bosun_xmpp::StartTlsConnector::new(dns, tls);
            let result = connector
                .connect(&jid, ns::JABBER_CLIENT, Timeouts::tight())
                .await;
            anyhow::Ok(result.map(|_| ()))
        }
    };
    let refused = connect(other_ca)
        .await?
        .expect_err("a certificate from an unknown CA");
    assert!(refused.to_string().contains("certificate"), "{refused}");
    connect(server.ca_file())
        .await?
        .map_err(|e| anyhow::anyhow!("with the test CA: {e}"))?;
    Ok(())
}

#[tokio::test]
async fn a_self_signed_ca_true_certificate_pinned_by_the_ca_file_connects() -> anyhow::Result<()> {
    let _turn = together().await;
    let server = Prosody::start_with(&["alice", "bosun"], Certificate::SelfSigned).await?;
    let dir = tempfile::tempdir()?;
    // The usual checks alone refuse it: a CA is no server certificate.
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let cert = tokio_rustls::rustls::pki_types::CertificateDer::from_pem_file(server.ca_file())?;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(cert.clone())?;
    let plain = tokio_rustls::rustls::client::WebPkiServerVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()),
    )
    .build()?;
    let refused = tokio_rustls::rustls::client::danger::ServerCertVerifier::verify_server_cert(
        plain.as_ref(),
        &cert,
        &[],
        &tokio_rustls::rustls::pki_types::ServerName::try_from("localhost")?,
        &[],
        tokio_rustls::rustls::pki_types::UnixTime::now(),
    )
    .expect_err("webpki alone refuses a CA as a server certificate");
    assert!(
        format!("{refused:?}").contains("CaUsedAsEndEntity"),
        "{refused:?}"
    );

    // bosun, pinning it with ca_file, connects and joins.
    let room = room("pinned");
    let mut alice = TestClient::connect(&server, "alice").await?;
    alice.join(&room, "alice").await?;
    let bot = Bot::start(Bot::config(&server, "bosun", &[&room]));
    alice.sees_occupant(&room, "bosun").await?;
    // Another self-signed certificate in the file is no pin for this server.
    let other = unrelated_ca(dir.path()).await?;
    let tls =
        tokio::task::spawn_blocking(move || bosun_xmpp::client_config(Some(&other))).await??;
    let connector = bosun_xmpp::StartTlsConnector::new(
        DnsConfig::addr(&format!("127.0.0.1:{}", server.port())),
        tls,
    );
    let jid = Jid::new("alice@localhost")?;
    assert!(
        connector
            .connect(&jid, ns::JABBER_CLIENT, Timeouts::tight())
            .await
            .is_err()
    );
    bot.stop().await
}
