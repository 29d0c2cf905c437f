//! Test harness of the XMPP adapter: a real Prosody ([`prosody`]), people talking through
//! tokio-xmpp clients ([`client`]) and the adapter run as the core runs it ([`bot`]).

#![allow(dead_code)] // each test binary uses part of the harness

pub mod bot;
pub mod client;
pub mod prosody;

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use bot::Bot;
pub use client::TestClient;
pub use prosody::{ANON_MUC, MUC, Prosody};

/// How long a test waits for anything it expects.
pub const WAIT: Duration = Duration::from_secs(15);

/// Accounts on the shared server.
pub const USERS: &[&str] = &["alice", "mallory", "bosun", "dmbot"];

/// The server shared by the tests running at the same time; it is stopped when the last of
/// them drops its handle (and started again by the next test).
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

fn turns() -> &'static RwLock<()> {
    static TURNS: OnceLock<RwLock<()>> = OnceLock::new();
    TURNS.get_or_init(|| RwLock::new(()))
}

/// Most tests run side by side.
pub async fn together() -> RwLockReadGuard<'static, ()> {
    init_logs();
    turns().read().await
}

/// A test that measures this process (its memory) runs alone.
pub async fn alone() -> RwLockWriteGuard<'static, ()> {
    init_logs();
    turns().write().await
}

/// A room JID on the public MUC service, unique to one test.
pub fn room(name: &str) -> String {
    format!("{name}@{MUC}")
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::DEBUG)
        .try_init();
}
