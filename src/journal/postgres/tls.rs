//! TLS to PostgreSQL through rustls (ring): the system's roots, or the CA of `[journal] ca_file`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::journal::JournalError;

/// The connector: trusts `ca_file` (PEM) when given, else the system's roots. Reads files:
/// call it off the runtime.
pub(super) fn connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, JournalError> {
    let settings = |message: String| JournalError::Settings(message);
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| settings(format!("[journal] ca_file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(settings(format!(
                    "[journal] ca_file {}: no certificate in it",
                    path.display()
                )));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| settings(format!("[journal] ca_file {}: {e}", path.display())))?;
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if roots.is_empty() {
                return Err(settings(
                    "[journal] tls = \"require\": no system certificates; name the CA with ca_file"
                        .into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| settings(format!("[journal] tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
