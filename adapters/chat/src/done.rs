//! The completion token: the core holds a message's [`Done`] until the work it asked for is finished, and an adapter that must go one command at a time waits on its [`Finished`].
//!
//! A console fed by a script reads its next line only when the previous command has finished
//! (a deploy's last message, a query's reply, a queued request until it ran); a chat room does
//! not wait. Adapters that never wait give [`Done::none`], which costs nothing.

use std::fmt;
use std::sync::Arc;

use tokio::sync::oneshot;

/// Held while a message's work runs. Every copy must be dropped for the work to count as
/// finished: a copy kept with a queued request keeps it unfinished until it ran.
#[derive(Clone, Default)]
pub struct Done(Option<Arc<oneshot::Sender<()>>>);

/// Resolves when every copy of its [`Done`] is dropped.
#[derive(Debug)]
pub struct Finished(Option<oneshot::Receiver<()>>);

impl Done {
    /// A token and what resolves once it is gone.
    pub fn new() -> (Done, Finished) {
        let (tx, rx) = oneshot::channel();
        (Done(Some(Arc::new(tx))), Finished(Some(rx)))
    }

    /// A token nobody waits for.
    pub fn none() -> Done {
        Done(None)
    }

    /// Whether someone waits for this token.
    pub fn is_awaited(&self) -> bool {
        self.0.is_some()
    }
}

impl Finished {
    /// Waits until the work is finished. Cancel-safe: waiting again after a cancelled wait
    /// goes on where it stopped.
    pub async fn wait(&mut self) {
        if let Some(rx) = &mut self.0 {
            // Nothing is ever sent: the sender being dropped is the signal.
            let _ = rx.await;
        }
    }
}

impl fmt::Debug for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_awaited() {
            "Done(awaited)"
        } else {
            "Done"
        })
    }
}

/// Tokens carry no content: two messages that say the same are equal whoever waits on them.
impl PartialEq for Done {
    fn eq(&self, _: &Done) -> bool {
        true
    }
}

impl Eq for Done {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn finished_waits_for_every_copy() {
        let (done, mut finished) = Done::new();
        let copy = done.clone();
        let waiting = tokio::spawn(async move { finished.wait().await });
        drop(done);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a copy is still held");
        drop(copy);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("finished once every copy is gone")
            .unwrap();
    }

    #[tokio::test]
    async fn none_is_never_awaited() {
        assert!(!Done::none().is_awaited());
        Finished(None).wait().await;
        let (done, mut finished) = Done::new();
        let cancelled = tokio::time::timeout(Duration::from_millis(10), finished.wait()).await;
        assert!(cancelled.is_err(), "still held");
        drop(done);
        finished.wait().await;
    }
}
