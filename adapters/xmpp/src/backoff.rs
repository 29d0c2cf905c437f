//! Reconnect delays: exponential back-off with jitter, reset once a session has proved stable.

use std::time::Duration;

/// Delays between connection attempts: `base · 2^failures`, capped, each drawn uniformly from
/// its upper half so that restarted servers are not hit by every client at once.
#[derive(Debug)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            failures: 0,
        }
    }

    /// The delay before the next attempt; each call counts one more failure.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = delay_for(self.base, self.cap, self.failures, rand::random::<f64>());
        self.failures = self.failures.saturating_add(1);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The delay after `failures` failures, with `unit` in `[0, 1)` choosing the jitter.
fn delay_for(base: Duration, cap: Duration, failures: u32, unit: f64) -> Duration {
    let ceiling = base
        .saturating_mul(2u32.saturating_pow(failures.min(20)))
        .min(cap);
    let half = ceiling / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(500);
    const CAP: Duration = Duration::from_secs(30);

    #[test]
    fn delays_grow_exponentially_up_to_the_cap() {
        assert_eq!(delay_for(BASE, CAP, 0, 0.0), Duration::from_millis(250));
        assert_eq!(delay_for(BASE, CAP, 0, 1.0), Duration::from_millis(500));
        assert_eq!(delay_for(BASE, CAP, 3, 1.0), Duration::from_secs(4));
        assert_eq!(delay_for(BASE, CAP, 50, 1.0), CAP);
        assert_eq!(delay_for(BASE, CAP, 50, 0.0), CAP / 2);
    }

    #[test]
    fn jitter_stays_within_bounds_and_reset_starts_over() {
        let mut backoff = Backoff::new(BASE, CAP);
        for failures in 0..10u32 {
            let delay = backoff.next_delay();
            let ceiling = delay_for(BASE, CAP, failures, 1.0);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= BASE);
    }
}
