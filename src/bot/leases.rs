//! Leases renewed off the chat loop: one owned task renews the lease of every deploy this bot runs and, on a chat network several bots share, the leadership that makes exactly one of them answer.
//!
//! The task never waits on chat delivery, so a stalled chat server never stops a heartbeat. It
//! keeps the bot's [`Tenure`] (when the leases were last renewed): a bot that cannot renew for
//! longer than a lease stops acting, and stops leading.
//!
//! Leadership is the journal's leader row for the chat network (`Journal::claim_leader`), held
//! under a lease like a deploy lock, by the bot's instance id: the holder renews it; anyone may
//! claim it once it ran out (by the journal's clock); a bot that stops cleanly gives it up at
//! once. The `when free` queue is kept in the journal too, for whichever bot leads next.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::Tenure;
use crate::journal::{Journal, LeaderClaim, instance_host};

/// Whether this bot answers on its chat network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// It answers. `took_over_from` names the host of the bot that led before, when this bot
    /// took the lead from another one whose lease ran out.
    Leading { took_over_from: Option<String> },
    /// Another bot answers (or this one cannot tell: it lost the journal).
    Following,
}

/// The running lease task's handles.
pub(crate) struct Leases {
    pub tenure: Tenure,
    pub role: watch::Receiver<Role>,
}

/// Starts the task that renews this bot's leases five times a lease, until `stop`. A bot that
/// is alone on its network (`always_lead`) leads from the start and never claims. The task gives up leadership when it stops.
pub(crate) async fn start(
    journal: Journal,
    lease: Duration,
    network: &'static str,
    always_lead: bool,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> Leases {
    let tenure = Tenure::new(lease);
    // A bot on a shared network knows whether it leads before it reads its first message:
    // a command said while it starts is answered by it (when it leads), never dropped.
    let first = match always_lead {
        true => None,
        false => tokio::time::timeout(lease, journal.claim_leader(network, lease))
            .await
            .ok(),
    };
    let initial = match first {
        None if always_lead => Role::Leading {
            took_over_from: None,
        },
        Some(Ok(LeaderClaim::Leads { from })) => {
            tracing::info!(instance = %journal.instance(), network, "this bot leads");
            Role::Leading {
                took_over_from: from.map(|instance| instance_host(&instance).to_string()),
            }
        }
        _ => Role::Following,
    };
    let (role_tx, role) = watch::channel(initial);
    // Five renewals a lease: a follower takes over within a fifth of a lease of its end.
    let every = (lease / 5).max(Duration::from_millis(100));
    let task_tenure = tenure.clone();
    tasks.spawn(async move {
        let tenure = task_tenure;
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.cancelled() => break,
            }
            let at = Instant::now();
            next = tokio::time::Instant::from_std(at) + every;
            // The deploy leases and the lead are renewed together. A journal that does not
            // answer counts as lost: no renewal may wait past what is left of the tenure, so
            // that the bot stops leading as soon as it may have lost the journal.
            let bound = tenure.remaining().unwrap_or(lease).max(every);
            let renew = async {
                let claim = async {
                    match always_lead {
                        true => None,
                        false => Some(journal.claim_leader(network, lease).await),
                    }
                };
                tokio::join!(journal.heartbeat(), claim)
            };
            let (beat, claim) = match tokio::time::timeout(bound, renew).await {
                Ok((beat, claim)) => (Some(beat), claim.map(Some)),
                Err(_) => (None, (!always_lead).then_some(None)),
            };
            let renewed = matches!(beat, Some(Ok(_))) && !matches!(claim, Some(None | Some(Err(_))));
            match (&beat, &claim) {
                (None, _) => {
                    tracing::warn!("cannot renew the leases: the journal does not answer")
                }
                (Some(Err(e)), _) => tracing::warn!("cannot renew the deploy leases: {e}"),
                (_, Some(Some(Err(e)))) => tracing::warn!("cannot renew the lead: {e}"),
                _ => {}
            }
            if renewed {
                tenure.renewed(at);
            }
            let next = match claim {
                None => continue,
                Some(Some(Ok(LeaderClaim::Leads { from }))) => {
                    let from = from.map(|instance| instance_host(&instance).to_string());
                    match &*role_tx.borrow() {
                    Role::Leading { took_over_from } => Role::Leading {
                        took_over_from: from.or_else(|| took_over_from.clone()),
                    },
                    Role::Following => Role::Leading {
                        took_over_from: from,
                    },
                    }
                }
                Some(Some(Ok(LeaderClaim::Follows { expires_in_ms, .. }))) => {
                    // A follower claims again right when the leader's lease runs out.
                    let expires_in = Duration::from_millis(expires_in_ms.max(0) as u64);
                    let expiry =
                        tokio::time::Instant::from_std(at) + expires_in + Duration::from_millis(5);
                    next = next.min(expiry);
                    Role::Following
                }
                // Unsure: keep leading while the lease lasts, then be quiet.
                _ if tenure.lost() => Role::Following,
                _ => continue,
            };
            role_tx.send_if_modified(|role| {
                let changed = std::mem::discriminant(role) != std::mem::discriminant(&next);
                if changed {
                    match &next {
                        Role::Leading { .. } => {
                            tracing::info!(instance = %journal.instance(), network, "this bot leads")
                        }
                        Role::Following => {
                            tracing::info!(instance = %journal.instance(), network, "this bot follows")
                        }
                    }
                    *role = next;
                }
                changed
            });
        }
        if !always_lead && let Err(e) = journal.resign_leader(network).await {
            tracing::warn!("cannot give up the lead: {e}");
        }
    });
    Leases { tenure, role }
}
