//! Reconciliation as the bot runs it: every environment at start, again on a schedule, and one on `repair ENV`; what it finds and does goes to the room and into `status`.

use bosun_chat::Room;

use super::{Context, DeployKey, WorkerMsg};
use crate::engine::reconcile::{repair, survey};

/// Who asked for a reconciliation, when someone did (`repair ENV`): they are answered even
/// when nothing was wrong.
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    pub room: Room,
    pub who: String,
    /// Held until the answer is on its way (a script reads its next line then).
    pub done: bosun_chat::Done,
}

/// Surveys `key`'s hosts in a task of its own and repairs what drifted. `before` is what the
/// last survey found: the room hears about drift when it is new or changed, never the same
/// words every round.
pub(crate) fn spawn(ctx: &Context, key: DeployKey, asked: Option<Asked>, before: Option<String>) {
    let ctx2 = ctx.clone();
    ctx.tasks.spawn(async move {
        let held = asked.as_ref().map(|a| a.done.clone());
        let found = reconcile(&ctx2, &key, asked, before).await;
        let _ = ctx2
            .to_loop
            .send(WorkerMsg::Reconciled { key, drift: found })
            .await;
        // The answer is on its way: a script may read its next line.
        drop(held);
    });
}

/// Returns the drift left for `status` (`None`: every host is where it should be).
async fn reconcile(
    ctx: &Context,
    key: &DeployKey,
    asked: Option<Asked>,
    before: Option<String>,
) -> Option<String> {
    let (app, env) = key;
    let say = |room: Option<Room>, text: String| async move {
        match room {
            Some(room) => ctx.say(&room, text).await,
            None => tracing::warn!("{text}"),
        }
    };
    let surveyed = survey(&ctx.connector, &ctx.config, &ctx.journal, app, env).await;
    let found = match surveyed {
        Ok(found) => found,
        Err(e) => {
            let text = format!("{app} on {env}: cannot look at the hosts: {e}");
            if let Some(asked) = &asked {
                say(Some(asked.room.clone()), text).await;
            } else {
                tracing::warn!("{text}");
            }
            return before;
        }
    };
    let unreachable = (!found.unreachable.is_empty()).then(|| {
        let named: Vec<String> = found
            .unreachable
            .iter()
            .map(|(h, why)| format!("{h} ({why})"))
            .collect();
        format!("cannot reach {}", named.join(", "))
    });
    if !found.drift() {
        if let Some(asked) = &asked {
            let hosts = found.observed.len();
            let on = found
                .assessment
                .release
                .as_deref()
                .map(|r| format!("on {r}"))
                .unwrap_or_else(|| "without a release".into());
            let mut text = format!(
                "{app} on {env}: every host I can reach ({hosts}) is {on}; nothing to repair."
            );
            if let Some(unreachable) = &unreachable {
                text.push_str(&format!(
                    " I {unreachable}; they are checked again when they answer."
                ));
            }
            say(Some(asked.room.clone()), text).await;
        }
        return unreachable.map(|u| format!("{app} on {env}: {u}"));
    }
    let finding = found.describe();
    let room = match &asked {
        Some(asked) => Some(asked.room.clone()),
        None => room_for(ctx, app, env).await,
    };
    let who = asked
        .as_ref()
        .map(|a| a.who.clone())
        .unwrap_or_else(|| ctx.config.bot.name.clone());
    let repaired = repair(
        &ctx.connector,
        &ctx.config,
        &ctx.journal,
        &found,
        &who,
        room.as_ref().map(|r| r.as_str()).unwrap_or(""),
        ctx.options.layout_timeout,
    )
    .await;
    match repaired {
        // A deploy holds the environment: its own end settles the hosts.
        Ok(None) => {
            if let Some(asked) = &asked {
                say(
                    Some(asked.room.clone()),
                    format!("{app} on {env} is busy; I look again when it is free."),
                )
                .await;
            }
            before
        }
        Err(e) => {
            let text = format!("{finding}. I could not repair it: {e}");
            if asked.is_some() || before.as_deref() != Some(text.as_str()) {
                say(room, text.clone()).await;
            }
            Some(text)
        }
        Ok(Some(r)) => {
            let id = r
                .journal_id
                .map(|id| format!(" Journal #{id}."))
                .unwrap_or_default();
            if r.problems.is_empty() {
                say(
                    room,
                    format!("I found that {finding}. I {}.{id}", r.done.join("; ")),
                )
                .await;
                unreachable.map(|u| format!("{app} on {env}: {u}"))
            } else {
                let text = format!(
                    "I found that {finding}. {}I could not repair everything: {}. The fleet needs a look.{id}",
                    if r.done.is_empty() {
                        String::new()
                    } else {
                        format!("I {}; ", r.done.join("; "))
                    },
                    r.problems.join("; ")
                );
                if asked.is_some() || before.as_deref() != Some(finding.as_str()) {
                    say(room, text).await;
                }
                Some(finding)
            }
        }
    }
}

/// Where to say what a reconciliation found: the room of the environment's last deploy, else
/// `[announce] room`, else the chat's own first room.
async fn room_for(ctx: &Context, app: &str, env: &str) -> Option<Room> {
    let last = ctx
        .journal
        .history(Some(app.to_string()), Some(env.to_string()), 1)
        .await
        .ok()
        .and_then(|mut h| h.pop())
        .map(|d| d.room)
        .filter(|r| !r.is_empty());
    last.or_else(|| ctx.config.announce.room.clone())
        .map(Room::new)
        .or_else(|| ctx.home.clone())
}
