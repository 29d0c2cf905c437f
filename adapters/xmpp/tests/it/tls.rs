//! TLS: the server's certificate must chain to a trusted CA.

use tokio_xmpp::connect::{DnsConfig, ServerConnector};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::xmlstream::Timeouts;

use crate::support::prosody::unrelated_ca;
use crate::support::{shared_prosody, together};

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
