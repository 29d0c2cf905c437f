//! The pace at which SSH connections start: one token bucket (a burst of `rate`, then `rate` a second) shared by every master of a connector.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Connection starts per second when nobody said otherwise.
pub const DEFAULT_RATE: u32 = 30;

/// A generic cell rate limiter: each start is due one interval after the previous one, and up
/// to `rate` starts may come early (the burst).
#[derive(Debug)]
pub(crate) struct Pace {
    rate: AtomicU32,
    /// When the next start would be due with no burst left.
    due: Mutex<Option<Instant>>,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            rate: AtomicU32::new(DEFAULT_RATE),
            due: Mutex::new(None),
        }
    }
}

impl Pace {
    pub fn set_rate(&self, rate: u32) {
        self.rate.store(rate.max(1), Ordering::Relaxed);
    }

    /// How long a start asked for at `now` must wait, and books it.
    fn book(&self, now: Instant) -> Duration {
        let rate = self.rate.load(Ordering::Relaxed).max(1);
        let interval = Duration::from_secs(1) / rate;
        let burst = interval * (rate - 1);
        let mut due = self.due.lock().expect("not poisoned");
        let at = due.map_or(now, |d| d.max(now));
        *due = Some(at + interval);
        at.saturating_duration_since(now + burst)
    }

    /// Waits for this start's turn.
    pub async fn start(&self) {
        let wait = self.book(Instant::now());
        if !wait.is_zero() {
            // Pacing, not synchronisation: the turn is a point in time.
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_rate_then_one_interval_apart() {
        let pace = Pace::default();
        pace.set_rate(4);
        let now = Instant::now();
        let waits: Vec<Duration> = (0..7).map(|_| pace.book(now)).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 0, 0, 0, 250, 500, 750]);
        // Later, the bucket has refilled.
        let later = now + Duration::from_secs(10);
        assert_eq!(pace.book(later), Duration::ZERO);
    }
}
