//! Inbound message → parse → identify → authorize → a worker task or a reply. Decisions only; work happens in tasks.

use bosun_chat::{Inbound, Room};
use tokio_util::sync::CancellationToken;

use super::{Context, Running, State, WorkerMsg, queries, worker};
use crate::announce::lock_refusal;
use crate::auth::Action;
use crate::command::{Command, Parsed, parse_message};
use crate::config::Person;
use crate::engine::{Control, DeployRequest, target};

/// Who sent a message, as far as the bot can tell.
pub(crate) struct Who<'a> {
    pub person: Option<&'a Person>,
    /// Their configured name, else what the chat system calls them.
    pub name: String,
}

/// Handles one message. Returns true when a query task was started (the loop waits for it
/// before exiting at end of input).
pub(crate) async fn handle(ctx: &Context, state: &mut State, message: Inbound) -> bool {
    let command = match parse_message(&message.text, &ctx.config.bot.name, message.direct) {
        Parsed::NotForMe => return false,
        Parsed::Invalid(error) => {
            ctx.say(&message.room, error.to_string()).await;
            return false;
        }
        Parsed::Command(command) => command,
    };
    let person = message
        .sender
        .identity
        .as_ref()
        .and_then(|id| ctx.policy.identify(id));
    // A person matched by a wildcard identity (`console = "*"`) is named as the chat names them.
    let by_wildcard = match (person, &message.sender.identity) {
        (Some(p), Some(id)) => p.identities.get(&id.network).is_some_and(|i| i == "*"),
        _ => false,
    };
    let name = match person {
        Some(p) if !by_wildcard => p.name.clone(),
        _ => message.sender.display.clone(),
    };
    let who = Who { person, name };
    let room = message.room.clone();

    match command {
        Command::Deploy {
            app,
            reference,
            env,
            force,
            canary,
            when_free: _,
        } => {
            let request = DeployRequest {
                app: app.to_string(),
                env: env.map(|e| e.to_string()),
                reference: reference.map(|r| r.to_string()),
                force,
                canary,
            };
            start(ctx, state, &room, &who, Job::Deploy(request), force).await;
            false
        }
        Command::Rollback {
            app,
            env,
            to,
            force,
        } => {
            if to.is_some() {
                ctx.say(&room, "rolling back to a named revision is not supported yet; \"rollback\" goes to the release before the live one").await;
                return false;
            }
            let (app, env) = match app {
                Some(app) => (app.to_string(), env.map(|e| e.to_string())),
                None => {
                    match ctx.journal.last_in_room(room.to_string()).await {
                        Ok(Some(last)) => (
                            last.app,
                            Some(env.map(|e| e.to_string()).unwrap_or(last.env)),
                        ),
                        Ok(None) => {
                            ctx.say(&room, "nothing was deployed from this room yet; say \"rollback APP in ENV\"").await;
                            return false;
                        }
                        Err(e) => {
                            ctx.say(&room, format!("cannot read the journal: {e}"))
                                .await;
                            return false;
                        }
                    }
                }
            };
            start(ctx, state, &room, &who, Job::Rollback { app, env }, force).await;
            false
        }
        Command::Cancel => {
            let mine: Vec<&Running> = state.running.values().filter(|r| r.room == room).collect();
            match mine.as_slice() {
                [] => ctx.say(&room, "nothing is running from this room").await,
                running => {
                    for r in running {
                        r.cancel.cancel();
                    }
                    ctx.say(
                        &room,
                        format!(
                            "cancelling; what was done will be undone ({} asked)",
                            who.name
                        ),
                    )
                    .await
                }
            }
            false
        }
        Command::Continue => {
            let waiting = state
                .running
                .values_mut()
                .find(|r| r.room == room && r.canary_waiting);
            match waiting {
                Some(running) => {
                    running.canary_waiting = false;
                    let _ = running
                        .control
                        .send(Control::Continue {
                            who: who.name.clone(),
                        })
                        .await;
                }
                None => ctx.say(&room, "nothing is waiting for \"continue\"").await,
            }
            false
        }
        Command::Lock { env, reason } => {
            queries::lock(
                ctx,
                &room,
                &who,
                env.as_str(),
                reason.unwrap_or_else(|| "no reason given".into()),
            )
            .await;
            false
        }
        Command::Unlock { env, force } => {
            queries::unlock(ctx, &room, &who, env.as_str(), force).await;
            false
        }
        Command::Freeze { env, until, reason } => {
            super::freeze::freeze(ctx, &room, &who, env.as_str(), until, reason).await;
            false
        }
        Command::Unfreeze { env } => {
            super::freeze::unfreeze(ctx, &room, &who, env.as_str()).await;
            false
        }
        Command::Status => {
            queries::status(ctx, state, &room).await;
            false
        }
        Command::History { app, env } => {
            queries::history(ctx, &room, app.as_str(), env.as_ref().map(|e| e.as_str())).await;
            false
        }
        Command::Where { app } => {
            queries::where_can(ctx, &room, &who, app.as_str()).await;
            false
        }
        Command::Help { topic } => {
            ctx.say(&room, crate::command::help(topic.as_deref())).await;
            false
        }
        Command::Diff { app, env } => {
            let ctx2 = ctx.clone();
            let app = app.to_string();
            let env = env.map(|e| e.to_string());
            ctx.tasks.spawn(async move {
                queries::diff(&ctx2, &room, &app, env.as_deref()).await;
                let _ = ctx2.to_loop.send(WorkerMsg::QueryDone).await;
            });
            true
        }
    }
}

/// A deploy or a rollback to start.
pub(crate) enum Job {
    Deploy(DeployRequest),
    Rollback { app: String, env: Option<String> },
}

/// Checks the target, the permission and the locks, then starts the job's task.
async fn start(
    ctx: &Context,
    state: &mut State,
    room: &Room,
    who: &Who<'_>,
    job: Job,
    force: bool,
) {
    let (app, env, action) = match &job {
        Job::Deploy(r) => (r.app.clone(), r.env.clone(), Action::Deploy),
        Job::Rollback { app, env } => (app.clone(), env.clone(), Action::Rollback),
    };
    let (playbook, environment) = match target(&ctx.config, &app, env.as_deref()) {
        Ok(found) => found,
        Err(e) => return ctx.say(room, e.to_string()).await,
    };
    let (app, env) = (playbook.app.name.clone(), environment.name.clone());
    if let Err(refusal) = ctx.policy.allows(who.person, &who.name, action, &app, &env) {
        return ctx.say(room, refusal).await;
    }
    if force
        && let Err(refusal) = ctx
            .policy
            .allows(who.person, &who.name, Action::Force, &app, &env)
    {
        return ctx.say(room, refusal).await;
    }
    let key = (app.clone(), env.clone());
    if let (Job::Rollback { .. }, Some(running)) = (&job, state.running.get_mut(&key))
        && running.canary_waiting
    {
        running.canary_waiting = false;
        let _ = running
            .control
            .send(Control::Abort {
                who: who.name.clone(),
            })
            .await;
        return;
    }
    if let Some(running) = state.running.get(&key) {
        return ctx
            .say(
                room,
                format!(
                    "{app} on {env} is busy: {} is running a {} since {}",
                    running.who,
                    running.kind,
                    crate::clock::format_utc(running.since)
                ),
            )
            .await;
    }
    match ctx.journal.locks().await {
        Ok(locks) => {
            if let Some(lock) = locks
                .iter()
                .find(|l| l.env == env && (l.app == "*" || l.app == app))
            {
                return ctx.say(room, lock_refusal(&app, &env, lock)).await;
            }
        }
        Err(e) => return ctx.say(room, format!("cannot read the journal: {e}")).await,
    }
    let cancel = CancellationToken::new();
    let (control, control_rx) = tokio::sync::mpsc::channel(4);
    let kind = match job {
        Job::Deploy(_) => "deploy",
        Job::Rollback { .. } => "rollback",
    };
    state.running.insert(
        key.clone(),
        Running {
            who: who.name.clone(),
            room: room.clone(),
            cancel: cancel.clone(),
            since: crate::clock::now_ms(),
            kind,
            control,
            canary_waiting: false,
        },
    );
    let job = match job {
        Job::Deploy(mut r) => {
            r.env = Some(env.clone());
            Job::Deploy(r)
        }
        Job::Rollback { app, .. } => Job::Rollback {
            app,
            env: Some(env.clone()),
        },
    };
    let ctx2 = ctx.clone();
    let room = room.clone();
    let name = who.name.clone();
    ctx.tasks.spawn(async move {
        let ok = worker::run_job(&ctx2, &room, &name, job, force, cancel, control_rx).await;
        let _ = ctx2.to_loop.send(WorkerMsg::Finished { key, ok }).await;
    });
}
