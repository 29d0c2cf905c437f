//! How long this bot may still act on the journal: the time its leases were last renewed, checked before every step (a bot that cannot renew for longer than the lease stops acting).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared between the task that renews the leases and the runners that check them; cheap to
/// clone. A bot whose leases were last renewed longer than one lease ago has lost the journal:
/// another bot may already recover its deploys, so it must take no further step and undo
/// nothing.
#[derive(Clone, Debug)]
pub struct Tenure {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    lease: Option<Duration>,
    renewed: Mutex<Instant>,
}

impl Tenure {
    /// A tenure that runs out `lease` after the last renewal.
    pub fn new(lease: Duration) -> Tenure {
        Tenure {
            inner: Arc::new(Inner {
                lease: Some(lease),
                renewed: Mutex::new(Instant::now()),
            }),
        }
    }

    /// A tenure that never runs out (a one-off run that holds its lease by acting).
    pub fn unbounded() -> Tenure {
        Tenure {
            inner: Arc::new(Inner {
                lease: None,
                renewed: Mutex::new(Instant::now()),
            }),
        }
    }

    /// Records a renewal that was started at `at` and succeeded. The start counts, not the
    /// end: the journal stamped the lease no earlier than that.
    pub fn renewed(&self, at: Instant) {
        let mut renewed = self.inner.renewed.lock().expect("not poisoned");
        if at > *renewed {
            *renewed = at;
        }
    }

    /// How long ago the leases were last renewed.
    pub fn since_renewed(&self) -> Duration {
        self.inner.renewed.lock().expect("not poisoned").elapsed()
    }

    /// How long the bot may still act unless the leases are renewed (`None`: without end).
    pub fn remaining(&self) -> Option<Duration> {
        self.inner
            .lease
            .map(|lease| lease.saturating_sub(self.since_renewed()))
    }

    /// Runs `work` while the tenure lasts: `None` when it ran out first (a journal that does
    /// not answer must not hold a runner past its lease).
    pub async fn within<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        match self.remaining() {
            None => Some(work.await),
            Some(left) => tokio::time::timeout(left, work).await.ok(),
        }
    }

    /// Whether the leases may have run out: the bot must stop acting.
    pub fn lost(&self) -> bool {
        match self.inner.lease {
            Some(lease) => self.since_renewed() >= lease,
            None => false,
        }
    }

    /// Why the bot stops acting, for the journal and the room.
    pub fn why_lost(&self) -> String {
        format!(
            "this bot could not renew its lease in the journal for {:.1} s (the lease is {:.1} s): another bot may be recovering its deploys, so it stops acting and undoes nothing",
            self.since_renewed().as_secs_f64(),
            self.inner.lease.unwrap_or_default().as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenure_is_lost_one_lease_after_its_last_renewal() {
        let tenure = Tenure::new(Duration::from_millis(50));
        assert!(!tenure.lost());
        tenure.renewed(Instant::now() - Duration::from_millis(60));
        // An older renewal never moves the tenure back.
        assert!(!tenure.lost());
        let old = Tenure::new(Duration::from_millis(50));
        *old.inner.renewed.lock().unwrap() = Instant::now() - Duration::from_millis(60);
        assert!(old.lost());
        assert!(old.why_lost().contains("undoes nothing"));
        assert_eq!(old.remaining(), Some(Duration::ZERO));
        old.renewed(Instant::now());
        assert!(!old.lost());
        assert!(old.remaining().unwrap() > Duration::from_millis(10));
        assert!(!Tenure::unbounded().lost());
        assert_eq!(Tenure::unbounded().remaining(), None);
    }
}

#[cfg(test)]
mod within {
    use super::*;

    #[tokio::test]
    async fn work_that_outlasts_the_tenure_is_given_up() {
        let tenure = Tenure::new(Duration::from_millis(100));
        assert_eq!(tenure.within(async { 7 }).await, Some(7));
        let never = std::future::pending::<()>();
        assert_eq!(tenure.within(never).await, None);
    }
}
