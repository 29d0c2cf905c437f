//! Turns a playbook's host entry into a connected `Host`, and keeps connections for reuse between deploys.

use crate::config::HostSpec;

use super::{Host, LocalHost, TransportError};

/// Opens hosts. One per bot: it owns whatever connections outlive a single deploy, and closes
/// them on `shutdown`.
#[derive(Clone, Debug, Default)]
pub struct Connector {}

impl Connector {
    pub fn new() -> Connector {
        Connector::default()
    }

    /// The host named `name`, reachable as `spec` says, and the deploy root (the playbook's
    /// `deploy_to`) as that host sees it.
    pub async fn connect(
        &self,
        name: &str,
        spec: &HostSpec,
        deploy_to: &str,
    ) -> Result<(Host, String), TransportError> {
        match spec {
            HostSpec::Local { root } => {
                let root = std::path::absolute(root).unwrap_or_else(|_| root.clone());
                let deploy_root = root.join(deploy_to.trim_start_matches('/'));
                Ok((
                    Host::Local(LocalHost::new(name, root)),
                    deploy_root.display().to_string(),
                ))
            }
        }
    }

    /// Closes every connection kept for reuse.
    pub async fn shutdown(&self) {}
}
