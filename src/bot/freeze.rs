//! `freeze ENV …` and `unfreeze ENV`: who may, what is journaled, and what the room is told.
//!
//! Freezing needs the `lock` action on `*:ENV`, like a manual lock. The freeze itself is a row in
//! the journal; deploys meet it in the `freeze` check (`src/checks/`).

use bosun_chat::Room;

use super::Context;
use super::dispatch::Who;
use crate::auth::Action;
use crate::checks::until_text;
use crate::command::FreezeEnd;
use crate::journal::FreezeRecord;

/// `freeze ENV [until HH:MM | for DURATION] [reason…]`
pub(crate) async fn freeze(
    ctx: &Context,
    room: &Room,
    who: &Who<'_>,
    env: &str,
    until: Option<FreezeEnd>,
    reason: Option<String>,
) {
    if let Some(refusal) = refused(ctx, who, env) {
        return ctx.say(room, refusal).await;
    }
    let now = crate::clock::now_ms();
    let until = until.map(|end| end.end_ms(now));
    let reason = reason.unwrap_or_else(|| "no reason given".into());
    match ctx
        .journal
        .freeze(env.to_string(), who.name.clone(), reason.clone(), until)
        .await
    {
        Ok(replaced) => {
            ctx.say(
                room,
                frozen_text(env, &who.name, until, &reason, replaced.as_ref(), now),
            )
            .await
        }
        Err(e) => {
            ctx.say(room, format!("cannot write the journal: {e}"))
                .await
        }
    }
}

/// `unfreeze ENV`
pub(crate) async fn unfreeze(ctx: &Context, room: &Room, who: &Who<'_>, env: &str) {
    if let Some(refusal) = refused(ctx, who, env) {
        return ctx.say(room, refusal).await;
    }
    match ctx.journal.unfreeze(env.to_string()).await {
        Ok(lifted) => {
            let text = unfrozen_text(env, &who.name, lifted.as_ref(), crate::clock::now_ms());
            ctx.say(room, text).await
        }
        Err(e) => {
            ctx.say(room, format!("cannot write the journal: {e}"))
                .await
        }
    }
}

/// Why `who` may not freeze or unfreeze `env`, if they may not.
fn refused(ctx: &Context, who: &Who<'_>, env: &str) -> Option<String> {
    if let Err(refusal) = ctx
        .policy
        .allows(who.person, &who.name, Action::Lock, "*", env)
    {
        return Some(refusal);
    }
    let known = ctx
        .config
        .playbooks
        .iter()
        .any(|p| p.environment(env).is_some());
    (!known).then(|| format!("no app has an environment \"{env}\""))
}

/// The reply to a freeze.
fn frozen_text(
    env: &str,
    who: &str,
    until: Option<i64>,
    reason: &str,
    replaced: Option<&FreezeRecord>,
    now: i64,
) -> String {
    let mut text = format!(
        "{env} is frozen by {who} {}: {reason}; deploys to it are refused (\"unfreeze {env}\" lifts it)",
        until_text(until)
    );
    if let Some(old) = replaced.filter(|old| old.holds_at(now)) {
        text.push_str(&format!(
            ". It replaces {}'s freeze {} ({})",
            old.holder,
            until_text(old.until),
            old.reason
        ));
    }
    text
}

/// The reply to an unfreeze.
fn unfrozen_text(env: &str, who: &str, lifted: Option<&FreezeRecord>, now: i64) -> String {
    match lifted.filter(|f| f.holds_at(now)) {
        Some(f) if f.holder == who => format!("{env} is unfrozen; deploys are taken again"),
        Some(f) => format!(
            "{env} is unfrozen by {who}; it was {}'s freeze {} ({}); deploys are taken again",
            f.holder,
            until_text(f.until),
            f.reason
        ),
        None => format!("{env} is not frozen"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: &str, until: Option<i64>) -> FreezeRecord {
        FreezeRecord {
            env: "live".into(),
            holder: holder.into(),
            reason: "release week".into(),
            since: 0,
            until,
        }
    }

    // 2026-11-23 08:15:02 UTC
    const NOW: i64 = 1_795_421_702_000;
    const FIVE_PM: i64 = 1_795_453_200_000;

    #[test]
    fn freeze_replies_name_who_until_when_and_why() {
        assert_eq!(
            frozen_text("live", "alice", Some(FIVE_PM), "demo", None, NOW),
            "live is frozen by alice until 2026-11-23 17:00 UTC: demo; deploys to it are refused (\"unfreeze live\" lifts it)"
        );
        assert_eq!(
            frozen_text(
                "live",
                "alice",
                None,
                "demo",
                Some(&record("bob", None)),
                NOW
            ),
            "live is frozen by alice until someone unfreezes it: demo; deploys to it are refused (\"unfreeze live\" lifts it). \
             It replaces bob's freeze until someone unfreezes it (release week)"
        );
        // A freeze that had already ended is not worth mentioning.
        assert!(
            !frozen_text(
                "live",
                "alice",
                None,
                "demo",
                Some(&record("bob", Some(NOW - 1))),
                NOW
            )
            .contains("bob")
        );
    }

    #[test]
    fn unfreeze_replies_say_whose_freeze_was_lifted() {
        assert_eq!(
            unfrozen_text("live", "alice", Some(&record("alice", None)), NOW),
            "live is unfrozen; deploys are taken again"
        );
        assert_eq!(
            unfrozen_text("live", "carol", Some(&record("bob", Some(FIVE_PM))), NOW),
            "live is unfrozen by carol; it was bob's freeze until 2026-11-23 17:00 UTC (release week); deploys are taken again"
        );
        assert_eq!(
            unfrozen_text("live", "carol", None, NOW),
            "live is not frozen"
        );
        assert_eq!(
            unfrozen_text("live", "carol", Some(&record("bob", Some(NOW))), NOW),
            "live is not frozen"
        );
    }
}
