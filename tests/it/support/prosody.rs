//! A real Prosody and people on it for the bot-level XMPP tests: the XMPP adapter's own harness
//! (a throw-away server with a test CA in `prosody`, tokio-xmpp clients in `client`), shared by
//! path so that both test suites drive the same code, with the waits a whole deploy needs.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::Mutex;

// Named `prosody` because the shared client finds the server as `super::prosody`.
#[allow(clippy::module_inception)]
#[path = "../../../adapters/xmpp/tests/support/prosody.rs"]
pub mod prosody;

#[path = "../../../adapters/xmpp/tests/support/client.rs"]
pub mod client;

#[path = "../../../adapters/xmpp/tests/support/bot.rs"]
pub mod bot;

pub use client::{TestClient, body, is_groupchat, replaces};
pub use prosody::{DOMAIN, MUC, PASSWORD, Prosody};

/// How long a client waits for anything it expects (a whole deploy fits in it).
pub const WAIT: Duration = Duration::from_secs(60);

/// Accounts on every server: people, and one bot account per test so that a direct message to
/// one test's bot never reaches another's.
pub const USERS: &[&str] = &[
    "alice",
    "mallory",
    "bot-story",
    "bot-restart",
    "bot-history",
    "bot-nick",
    "bot-lines",
    "bot-text",
    "bot-edits",
];

/// The server shared by the tests running at the same time; it stops when the last of them
/// drops its handle, and the next test starts another.
pub async fn shared_prosody() -> anyhow::Result<Arc<Prosody>> {
    static SHARED: OnceLock<Mutex<Weak<Prosody>>> = OnceLock::new();
    let mut shared = SHARED.get_or_init(|| Mutex::new(Weak::new())).lock().await;
    if let Some(prosody) = shared.upgrade() {
        return Ok(prosody);
    }
    let prosody = Arc::new(Prosody::start(USERS).await?);
    *shared = Arc::downgrade(&prosody);
    Ok(prosody)
}

/// A room JID on the server's MUC service (real JIDs visible), unique to one test.
pub fn room(name: &str) -> String {
    format!("{name}@{MUC}")
}
