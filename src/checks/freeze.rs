//! The `freeze` check: an environment frozen from chat refuses deploys, naming who froze it,
//! until when, and why.

use super::CheckInput;
use crate::journal::FreezeRecord;

/// `until 2026-11-23 17:00 UTC`, or `until someone unfreezes it`.
pub fn until_text(until: Option<i64>) -> String {
    match until {
        Some(ms) => {
            let full = crate::clock::format_utc(ms);
            format!("until {} UTC", &full[..16])
        }
        None => "until someone unfreezes it".to_string(),
    }
}

/// Why a deploy to `env` is refused at `now_ms`, if a freeze holds it.
pub(super) fn refusal(freezes: &[FreezeRecord], env: &str, now_ms: i64) -> Option<String> {
    let freeze = freezes
        .iter()
        .find(|f| f.env == env && f.holds_at(now_ms))?;
    Some(format!(
        "{env} is frozen by {} {}: {}; \"unfreeze {env}\" lifts it",
        freeze.holder,
        until_text(freeze.until),
        freeze.reason
    ))
}

pub(super) async fn check(input: &CheckInput<'_>) -> Result<(), String> {
    let freezes = input
        .journal
        .freezes()
        .await
        .map_err(|e| format!("cannot tell whether {} is frozen: {e}", input.env.name))?;
    match refusal(&freezes, &input.env.name, input.now_ms) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23 08:15:02 UTC and 17:00 that day.
    const NOW: i64 = 1_795_421_702_000;
    const FIVE_PM: i64 = 1_795_453_200_000;

    fn freeze(env: &str, until: Option<i64>) -> FreezeRecord {
        FreezeRecord {
            env: env.into(),
            holder: "alice".into(),
            reason: "release week".into(),
            since: NOW - 1000,
            until,
        }
    }

    #[test]
    fn a_freeze_refuses_its_environment_until_it_ends() {
        let freezes = [freeze("staging", None), freeze("live", Some(FIVE_PM))];
        assert_eq!(
            refusal(&freezes, "live", NOW).as_deref(),
            Some(
                "live is frozen by alice until 2026-11-23 17:00 UTC: release week; \"unfreeze live\" lifts it"
            )
        );
        assert_eq!(refusal(&freezes, "live", FIVE_PM), None);
        assert_eq!(refusal(&freezes, "qa", NOW), None);
        assert_eq!(
            refusal(&freezes, "staging", FIVE_PM * 2).as_deref(),
            Some(
                "staging is frozen by alice until someone unfreezes it: release week; \"unfreeze staging\" lifts it"
            )
        );
    }
}
