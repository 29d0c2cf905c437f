//! Answers that read and never deploy: status, history, diff, where, and the manual locks. Reading needs the `read` permission (or any other on the same app and environment).

use bosun_chat::Room;

use super::dispatch::Who;
use super::{Context, State};
use crate::announce::{history_text, live_line, lock_line};
use crate::auth::Action;
use crate::engine::target;

/// Whether `who` may read `app` in `env`, or in the environment a query names by default.
pub(crate) fn may_read(
    ctx: &Context,
    who: &Who<'_>,
    app: &str,
    env: Option<&str>,
) -> Result<(), String> {
    let env = match target(&ctx.config, app, env) {
        Ok((_, environment)) => environment.name.clone(),
        // The query itself says what is wrong with the names.
        Err(_) => return Ok(()),
    };
    ctx.policy
        .allows(who.person, &who.name, Action::Read, app, &env)
}

fn reads(ctx: &Context, who: &Who<'_>, app: &str, env: &str) -> bool {
    ctx.policy
        .allows(who.person, &who.name, Action::Read, app, env)
        .is_ok()
}

/// `status`: what is live where, what runs, what is locked or frozen, what waits in the queue,
/// which deploys need a look and what drifted — where `who` may read.
pub(crate) async fn status(ctx: &Context, state: &State, room: &Room, who: &Who<'_>) {
    let mut status = crate::announce::Status::default();
    let mut readable = std::collections::BTreeSet::new();
    for playbook in &ctx.config.playbooks {
        for env in &playbook.environments {
            let (app, env) = (playbook.app.name.clone(), env.name.clone());
            if !reads(ctx, who, &app, &env) {
                continue;
            }
            match crate::engine::live_now(&ctx.journal, &app, &env).await {
                Ok(live) => status.live.push(live_line(&app, &env, live.as_ref())),
                Err(e) => status
                    .live
                    .push(format!("{app} on {env}: cannot read the journal: {e}")),
            }
            readable.insert((app, env));
        }
    }
    if readable.is_empty() {
        return ctx
            .say(room, format!("{} may not read anything here", who.name))
            .await;
    }
    let reads_env = |env: &str| readable.iter().any(|(_, e)| e == env);
    let reads_key = |app: &str, env: &str| readable.iter().any(|(a, e)| a == app && e == env);
    let mut problems = Vec::new();
    match ctx.journal.locks().await {
        Ok(locks) => {
            status.locks = locks
                .into_iter()
                .filter(|l| reads_env(&l.env) && (l.app == "*" || reads_key(&l.app, &l.env)))
                .collect()
        }
        Err(e) => problems.push(format!("locks: cannot read the journal: {e}")),
    }
    let now = crate::clock::now_ms();
    match ctx.journal.freezes().await {
        Ok(freezes) => {
            status.freezes = freezes
                .into_iter()
                .filter(|f| f.holds_at(now) && reads_env(&f.env))
                .collect()
        }
        Err(e) => problems.push(format!("freezes: cannot read the journal: {e}")),
    }
    match ctx.journal.need_a_look().await {
        Ok(failed) => {
            status.need_a_look = failed
                .into_iter()
                .filter(|d| reads_key(&d.app, &d.env))
                .collect()
        }
        Err(e) => problems.push(format!("failed deploys: cannot read the journal: {e}")),
    }
    status.queue = state
        .queue
        .iter()
        .filter(|q| reads_key(&q.key.0, &q.key.1))
        .map(|q| crate::announce::QueuedLine {
            kind: match q.job {
                super::dispatch::Job::Deploy(_) => "deploy".into(),
                super::dispatch::Job::Rollback { .. } => "rollback".into(),
            },
            app: q.key.0.clone(),
            env: q.key.1.clone(),
            who: super::dispatch::who_of(ctx, &q.ask.sender).name,
        })
        .collect();
    status.drift = state
        .drift
        .iter()
        .filter(|((app, env), _)| reads_key(app, env))
        .map(|(_, drift)| drift.clone())
        .collect();
    let mut text = crate::announce::status_text(&status);
    for p in problems {
        text.push('\n');
        text.push_str(&p);
    }
    ctx.say(room, text).await;
}

/// `releases APP [in ENV]`: asks the hosts what they keep, and the journal what each release is.
pub(crate) async fn releases(ctx: &Context, room: &Room, app: &str, env: Option<&str>) {
    // Like a rollback, only from the rooms the app may be rolled back from.
    if let Err(refusal) = ctx.policy.room_allows(app, room.as_str()) {
        return ctx.say(room, refusal).await;
    }
    match crate::engine::kept_releases(&ctx.connector, &ctx.config, &ctx.journal, app, env).await {
        Ok(kept) => ctx.say(room, crate::announce::releases_text(&kept)).await,
        Err(e) => {
            ctx.say(room, format!("cannot list the releases of {app}: {e}"))
                .await
        }
    }
}

/// `export JOURNAL_ID`: where the whole record of that deploy can be had, and what it holds.
pub(crate) async fn export(ctx: &Context, room: &Room, id: i64) {
    let deploy = match ctx.journal.find(id).await {
        Ok(Some(deploy)) => deploy,
        Ok(None) => return ctx.say(room, format!("there is no journal #{id}")).await,
        Err(e) => return ctx.say(room, format!("cannot read the journal: {e}")).await,
    };
    let text = crate::announce::export_text(&deploy, ctx.config.web.as_ref());
    ctx.say(room, text).await
}

/// `history APP [ENV]`: the deploys of the environments `who` may read.
pub(crate) async fn history(
    ctx: &Context,
    room: &Room,
    who: &Who<'_>,
    app: &str,
    env: Option<&str>,
) {
    let playbook = match target(&ctx.config, app, env) {
        Ok((playbook, _)) => playbook,
        Err(e) => return ctx.say(room, e.to_string()).await,
    };
    let readable: Vec<String> = playbook
        .environments
        .iter()
        .map(|e| e.name.clone())
        .filter(|e| env.is_none_or(|named| named == e) && reads(ctx, who, app, e))
        .collect();
    if readable.is_empty() {
        let refusal = ctx
            .policy
            .allows(who.person, &who.name, Action::Read, app, env.unwrap_or("*"))
            .err()
            .unwrap_or_else(|| format!("{} may not read {app}", who.name));
        return ctx.say(room, refusal).await;
    }
    match ctx
        .journal
        .history(Some(app.to_string()), env.map(str::to_string), 10)
        .await
    {
        Ok(mut deploys) => {
            deploys.retain(|d| readable.contains(&d.env));
            ctx.say(room, history_text(app, env, &deploys)).await
        }
        Err(e) => ctx.say(room, format!("cannot read the journal: {e}")).await,
    }
}

/// `diff APP [to ENV]`: the plan a deploy would make now, nothing deployed.
pub(crate) async fn diff(ctx: &Context, room: &Room, app: &str, env: Option<&str>) {
    match crate::engine::diff(&ctx.tracker, &ctx.config, &ctx.journal, app, env).await {
        Ok(plan) => {
            ctx.say(
                room,
                crate::announce::diff_text(&plan, &ctx.config.announce),
            )
            .await
        }
        Err(e) => ctx.say(room, format!("cannot diff {app}: {e}")).await,
    }
}

/// `where can I deploy APP`
pub(crate) async fn where_can(ctx: &Context, room: &Room, who: &Who<'_>, app: &str) {
    let playbook = match target(&ctx.config, app, None) {
        Ok((playbook, _)) => playbook,
        Err(e) => return ctx.say(room, e.to_string()).await,
    };
    let Some(person) = who.person else {
        return ctx
            .say(
                room,
                format!(
                    "I don't know who {} is, so nowhere; ask an admin to add you to [[people]]",
                    who.name
                ),
            )
            .await;
    };
    let envs: Vec<String> = playbook
        .environments
        .iter()
        .map(|e| e.name.clone())
        .collect();
    if !ctx.policy.reads_any(person, app, &envs) {
        return ctx
            .say(room, format!("{} may not read {app}", who.name))
            .await;
    }
    let allowed = ctx
        .policy
        .environments_for(person, Action::Deploy, app, &envs);
    let text = if allowed.is_empty() {
        format!("{} may not deploy {app} anywhere", who.name)
    } else {
        format!("{} may deploy {app} to {}", who.name, allowed.join(", "))
    };
    ctx.say(room, text).await
}

/// `lock ENV reason`
pub(crate) async fn lock(ctx: &Context, room: &Room, who: &Who<'_>, env: &str, reason: String) {
    if let Err(refusal) = ctx
        .policy
        .allows(who.person, &who.name, Action::Lock, "*", env)
    {
        return ctx.say(room, refusal).await;
    }
    if !ctx
        .config
        .playbooks
        .iter()
        .any(|p| p.environment(env).is_some())
    {
        return ctx
            .say(room, format!("no app has an environment \"{env}\""))
            .await;
    }
    match ctx
        .journal
        .lock(env.to_string(), who.name.clone(), reason.clone())
        .await
    {
        Ok(Ok(())) => {
            ctx.say(room, format!("{env} is locked by {}: {reason}", who.name))
                .await
        }
        Ok(Err(held)) => {
            ctx.say(room, format!("{env} is already held: {}", lock_line(&held)))
                .await
        }
        Err(e) => {
            ctx.say(room, format!("cannot write the journal: {e}"))
                .await
        }
    }
}

/// `unlock ENV` / `unlock! ENV`
pub(crate) async fn unlock(ctx: &Context, room: &Room, who: &Who<'_>, env: &str, force: bool) {
    let locks = match ctx.journal.locks().await {
        Ok(locks) => locks,
        Err(e) => return ctx.say(room, format!("cannot read the journal: {e}")).await,
    };
    let Some(held) = locks
        .into_iter()
        .find(|l| l.env == env && l.kind == "manual")
    else {
        return ctx.say(room, format!("{env} is not locked by hand")).await;
    };
    if held.holder != who.name {
        if !force {
            return ctx
                .say(
                    room,
                    format!(
                        "{env} is locked by {}, not you; \"unlock! {env}\" breaks it if you may",
                        held.holder
                    ),
                )
                .await;
        }
        if let Err(refusal) =
            ctx.policy
                .allows(who.person, &who.name, Action::UnlockOthers, "*", env)
        {
            return ctx.say(room, refusal).await;
        }
    }
    match ctx.journal.unlock(env.to_string()).await {
        Ok(_) if held.holder != who.name => {
            ctx.say(
                room,
                format!(
                    "{env} is unlocked; {} broke {}'s lock ({})",
                    who.name, held.holder, held.reason
                ),
            )
            .await
        }
        Ok(_) => ctx.say(room, format!("{env} is unlocked")).await,
        Err(e) => {
            ctx.say(room, format!("cannot write the journal: {e}"))
                .await
        }
    }
}
