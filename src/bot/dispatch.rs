//! Inbound message → parse → identify → authorize → a worker task or a reply. Decisions only; work happens in tasks.

use bosun_chat::{Done, Inbound, Room, Sender};

use super::{Context, DeployKey, Ended, Running, State, WorkerMsg, queries, worker};
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

/// Who a sender is: the person their real identity belongs to, and the name to call them by.
pub(crate) fn who_of<'c>(ctx: &'c Context, sender: &Sender) -> Who<'c> {
    let person = sender
        .identity
        .as_ref()
        .and_then(|id| ctx.policy.identify(id));
    // A person matched by a wildcard identity (`NETWORK = "*"`) is named as the chat names them.
    let by_wildcard = match (person, &sender.identity) {
        (Some(p), Some(id)) => p.identities.get(&id.network).is_some_and(|i| i == "*"),
        _ => false,
    };
    let name = match (person, &sender.identity) {
        (Some(p), _) if !by_wildcard => p.name.clone(),
        // Someone bosun does not know is named by the identity the chat vouches for too, so a
        // borrowed nick cannot pass for its usual owner.
        (None, Some(id)) if id.id != sender.display => format!("{} ({})", sender.display, id.id),
        _ => sender.display.clone(),
    };
    Who { person, name }
}

/// Handles one message. Returns true when a query task was started (the loop waits for it
/// before exiting at end of input). The message's completion token is held by whatever its
/// work is (a deploy, a queued request, a query task) and dropped when that ends.
pub(crate) async fn handle(ctx: &Context, state: &mut State, message: Inbound) -> bool {
    let parsed = parse_message(&message.text, &ctx.config.bot.name, message.direct);
    if let Some(original) = &message.edit_of {
        // The one place that answers edits, for every chat system: never run, answered once.
        if !matches!(parsed, Parsed::NotForMe) && state.edits.first_time(&message.room, original) {
            ctx.say(
                &message.room,
                format!(
                    "edits are not run as commands; to run \"{}\", send it again as a new message",
                    bosun_chat::clip(message.text.trim(), 120)
                ),
            )
            .await;
        }
        return false;
    }
    let command = match parsed {
        Parsed::NotForMe => return false,
        Parsed::Invalid(error) => {
            tracing::info!(room = %message.room, sender = ?message.sender.identity, "not understood: {error}");
            ctx.say(&message.room, error.to_string()).await;
            return false;
        }
        Parsed::Command(command) => command,
    };
    let who = who_of(ctx, &message.sender);
    let room = message.room.clone();
    tracing::info!(
        room = %room,
        sender = ?message.sender.identity,
        who = who.name,
        command = %command,
        "command received"
    );
    if who.person.is_none() && !matches!(command, Command::Help { .. }) {
        // Someone bosun does not know may ask for help, and nothing else.
        let action = match command {
            Command::Status
            | Command::History { .. }
            | Command::Diff { .. }
            | Command::Where { .. }
            | Command::Releases { .. }
            | Command::Export { .. } => Action::Read,
            Command::Rollback { .. } | Command::Repair { .. } => Action::Rollback,
            Command::Lock { .. }
            | Command::Unlock { .. }
            | Command::Freeze { .. }
            | Command::Unfreeze { .. } => Action::Lock,
            Command::Cancel | Command::Continue => Action::Admin,
            Command::Deploy { .. } | Command::Help { .. } => Action::Deploy,
        };
        if let Err(refusal) = ctx.policy.allows(None, &who.name, action, "*", "*") {
            ctx.say(&room, refusal).await;
        }
        return false;
    }
    let done = message.done;

    match command {
        Command::Deploy {
            app,
            reference,
            env,
            force,
            canary,
            when_free,
        } => {
            let request = DeployRequest {
                app: app.to_string(),
                env: env.map(|e| e.to_string()),
                reference: reference.map(|r| r.to_string()),
                force,
                canary,
            };
            let ask = Ask {
                room: room.clone(),
                sender: message.sender.clone(),
                when_free,
                done,
                line: message.text.clone(),
                direct: message.direct,
            };
            start(ctx, state, &ask, &who, Job::Deploy(request), force).await;
            false
        }
        Command::Rollback {
            app,
            env,
            to,
            force,
        } => {
            let to = to.map(|t| t.to_string());
            let (app, env) = match app {
                Some(app) => (app.to_string(), env.map(|e| e.to_string())),
                None => {
                    match ctx.journal.last_in_room(room.to_string()).await {
                        Ok(Some(last)) => (
                            last.app,
                            Some(env.map(|e| e.to_string()).unwrap_or(last.env)),
                        ),
                        Ok(None) => {
                            state.refused(Ended::Invalid);
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
            let ask = Ask {
                room: room.clone(),
                sender: message.sender.clone(),
                when_free: false,
                done,
                line: message.text.clone(),
                direct: message.direct,
            };
            start(
                ctx,
                state,
                &ask,
                &who,
                Job::Rollback { app, env, to },
                force,
            )
            .await;
            false
        }
        Command::Cancel => {
            let mine: Vec<&Running> = state
                .running
                .values()
                .filter(|r| r.room.same_room(&room))
                .collect();
            match mine.as_slice() {
                [] => ctx.say(&room, "nothing is running from this room").await,
                running => {
                    for r in running {
                        r.cancel.stop(format!("cancelled by {}", who.name));
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
                .find(|r| r.room.same_room(&room) && r.canary_waiting);
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
            queries::status(ctx, state, &room, &who).await;
            false
        }
        Command::Repair { app, env } => {
            repair(
                ctx,
                state,
                &room,
                &who,
                app.as_ref().map(|a| a.as_str()),
                env.as_str(),
                done,
            )
            .await;
            false
        }
        Command::History { app, env } => {
            queries::history(
                ctx,
                &room,
                &who,
                app.as_str(),
                env.as_ref().map(|e| e.as_str()),
            )
            .await;
            false
        }
        Command::Releases { app, env } => {
            let ctx2 = ctx.clone();
            let app = app.to_string();
            let env = env.map(|e| e.to_string());
            ctx.tasks.spawn(async move {
                queries::releases(&ctx2, &room, &app, env.as_deref()).await;
                let _ = ctx2.to_loop.send(WorkerMsg::QueryDone).await;
            });
            true
        }
        Command::Export { id } => {
            queries::export(ctx, &room, id as i64).await;
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
            let app = app.to_string();
            let env = env.map(|e| e.to_string());
            if let Err(refusal) = queries::may_read(ctx, &who, &app, env.as_deref()) {
                ctx.say(&room, refusal).await;
                return false;
            }
            let ctx2 = ctx.clone();
            ctx.tasks.spawn(async move {
                queries::diff(&ctx2, &room, &app, env.as_deref()).await;
                let _ = ctx2.to_loop.send(WorkerMsg::QueryDone).await;
                // The reply is on its way before the next command of a script is read.
                drop(done);
            });
            true
        }
    }
}

/// A deploy or a rollback to start.
#[derive(Clone, Debug)]
pub(crate) enum Job {
    Deploy(DeployRequest),
    Rollback {
        app: String,
        env: Option<String>,
        /// A kept release, or the ref of one (`rollback … to v1.4.1`); `None`: the previous one.
        to: Option<String>,
    },
}

/// Checks the target, the permission and the locks, then starts the job's task.
/// Where a request came from, and whether its sender will wait for a lock to free.
#[derive(Clone, Debug)]
pub(crate) struct Ask {
    pub room: Room,
    pub sender: Sender,
    pub when_free: bool,
    /// Held until the request has run (queued, then running) or was refused.
    pub done: Done,
    /// The line as it was said, and whether in a direct conversation: a queued request is
    /// kept as this, for the bot that leads next.
    pub line: String,
    pub direct: bool,
}

/// A request waiting for its environment to be free (`deploy … when free`).
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    pub key: DeployKey,
    pub ask: Ask,
    pub job: Job,
    pub force: bool,
    /// Asked while the environment's deploy was live and only removed old releases: it waits
    /// for that without a word, and starts with its own announcement, not a queue line.
    pub quiet: bool,
}

pub(crate) async fn start(
    ctx: &Context,
    state: &mut State,
    ask: &Ask,
    who: &Who<'_>,
    job: Job,
    force: bool,
) {
    let room = &ask.room;
    let (app, env, action) = match &job {
        Job::Deploy(r) => (r.app.clone(), r.env.clone(), Action::Deploy),
        Job::Rollback { app, env, .. } => (app.clone(), env.clone(), Action::Rollback),
    };
    let (playbook, environment) = match target(&ctx.config, &app, env.as_deref()) {
        Ok(found) => found,
        Err(e) => {
            tracing::info!(app, "invalid: {e}");
            state.refused(Ended::Invalid);
            return ctx.say(room, e.to_string()).await;
        }
    };
    let (app, env) = (playbook.app.name.clone(), environment.name.clone());
    let refusal = ctx
        .policy
        .room_allows(&app, room.as_str())
        .and_then(|()| ctx.policy.allows(who.person, &who.name, action, &app, &env))
        .and_then(|()| match force {
            true => ctx
                .policy
                .allows(who.person, &who.name, Action::Force, &app, &env),
            false => Ok(()),
        });
    if let Err(refusal) = refusal {
        tracing::info!(app, env, who = who.name, "refused: {refusal}");
        state.refused(Ended::Refused);
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
    let busy = match (state.running.get(&key), busy_lock(ctx, &key).await) {
        (Some(_), _) => true,
        (None, Ok(lock)) => lock.is_some(),
        (None, Err(e)) => {
            state.refused(Ended::Refused);
            return ctx.say(room, format!("cannot read the journal: {e}")).await;
        }
    };
    // A deploy that is live and only removes old releases ends soon: what is asked of its
    // environment meanwhile waits for it, as if asked "when free", and says nothing until it
    // starts (the room already heard that the environment is live; a wait that short is no news).
    let cleaning_up = state.running.get(&key).is_some_and(|r| r.cleaning_up);
    let quiet = cleaning_up && !ask.when_free;
    if busy && (ask.when_free || cleaning_up) {
        if !state
            .queue
            .iter()
            .any(|q| q.key == key && q.ask.sender == ask.sender)
        {
            state.queue.push_back(Queued {
                key: key.clone(),
                ask: ask.clone(),
                job,
                force,
                quiet,
            });
            if ctx.keeps_queue {
                let kept = crate::journal::QueuedLine {
                    app: key.0.clone(),
                    env: key.1.clone(),
                    room: room.as_str().to_string(),
                    who: ask.sender.identity.as_ref().map(|i| i.id.clone()),
                    display: ask.sender.display.clone(),
                    line: ask.line.clone(),
                    direct: ask.direct,
                };
                if let Err(e) = ctx.journal.queue_line(ctx.network, kept).await {
                    tracing::warn!("cannot keep the queue in the journal: {e}");
                }
            }
        }
        let place = state
            .queue
            .iter()
            .position(|q| q.key == key && q.ask.sender == ask.sender)
            .unwrap_or(0)
            + 1;
        tracing::info!(app, env, who = who.name, place, quiet, "queued until free");
        if quiet {
            return;
        }
        let text = format!(
            "{app} on {env} is busy; {} is queued, number {place} in line, and starts when it is free",
            who.name
        );
        return ctx.say(room, text).await;
    }
    if let Some(running) = state.running.get(&key).cloned() {
        tracing::info!(app, env, who = who.name, "refused: busy");
        state.refused(Ended::Refused);
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
    if let Ok(Some(lock)) = busy_lock(ctx, &key).await {
        tracing::info!(
            app,
            env,
            who = who.name,
            holder = lock.holder,
            "refused: locked"
        );
        state.refused(Ended::Refused);
        let mut refusal = lock_refusal(&app, &env, &lock);
        if lock.is_stale(
            crate::clock::now_ms(),
            ctx.config.journal.lease.as_millis() as i64,
        ) {
            refusal.push_str(" Its bot stopped renewing the lock, so I am recovering that deploy now; say \"deploy … when free\" to go next.");
        } else {
            refusal.push_str(" Say \"deploy … when free\" to go next.");
        }
        return ctx.say(room, refusal).await;
    }
    let cancel = crate::engine::Stop::new();
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
            cleaning_up: false,
            done: ask.done.clone(),
        },
    );
    let job = match job {
        Job::Deploy(mut r) => {
            r.env = Some(env.clone());
            Job::Deploy(r)
        }
        Job::Rollback { app, to, .. } => Job::Rollback {
            app,
            env: Some(env.clone()),
            to,
        },
    };
    tracing::info!(app, env, who = who.name, kind, force, "starting");
    let ctx2 = ctx.clone();
    let room = room.clone();
    let name = who.name.clone();
    ctx.tasks.spawn(async move {
        let end = worker::run_job(&ctx2, &room, &name, job, force, cancel, control_rx).await;
        let last = end.last.map(|text| {
            let said = bosun_chat::Outbound::milestone(room.clone(), text);
            match end.topic {
                Some(topic) => said.in_topic(topic),
                None => said,
            }
        });
        let _ = ctx2
            .to_loop
            .send(WorkerMsg::Finished {
                key,
                ended: end.ended,
                last,
            })
            .await;
    });
}

/// The journal lock that stops a deploy of `key` (a manual lock on the environment, or another
/// bot's deploy), if any.
async fn busy_lock(
    ctx: &Context,
    key: &DeployKey,
) -> Result<Option<crate::journal::LockRecord>, crate::journal::JournalError> {
    let (app, env) = key;
    Ok(ctx
        .journal
        .locks()
        .await?
        .into_iter()
        .find(|l| &l.env == env && (l.app == "*" || &l.app == app)))
}

/// When this bot starts to lead (at start, or when it takes over from another bot): deploys
/// left running by a bot that is gone are recovered in tasks of their own, while the bot
/// already answers (their environments stay locked until they are done); then every
/// environment's hosts are compared with the journal (an environment still being recovered
/// is skipped: its lock is held, and the next round looks again). A takeover is told in the
/// room, with what was recovered.
pub(crate) async fn lead(
    ctx: &Context,
    state: &mut State,
) -> Result<(), crate::journal::JournalError> {
    for (deploy, seen) in crate::engine::orphaned(&ctx.config, &ctx.journal).await? {
        if state.recovering.contains_key(&deploy.id) {
            continue;
        }
        state
            .recovering
            .insert(deploy.id, (deploy.app.clone(), deploy.env.clone()));
        let takeover = state.takeover.take().is_some();
        spawn_recovery_told(ctx, deploy.id, seen, None, takeover);
    }
    if state.takeover.is_some() {
        // The bot that led may hold a deploy lock whose lease outlasts its lead by a moment:
        // that deploy is recovered (and the takeover told with it) once the lock runs out.
        if foreign_deploy_lock(ctx).await? {
            state.takeover_waits = Some(tokio::time::Instant::now() + ctx.config.journal.lease);
        } else {
            say_takeover_of_nothing(ctx, state).await;
        }
    }
    if ctx.options.reconcile {
        reconcile_all(ctx, state);
    }
    // The `when free` queue the bot that led before kept in the journal is queued again here
    // (as if its lines were said again), in its order.
    if ctx.keeps_queue {
        match ctx.journal.take_queue(ctx.network).await {
            Ok(lines) => {
                for kept in lines {
                    let message = bosun_chat::Inbound {
                        room: Room::new(kept.room),
                        sender: bosun_chat::Sender {
                            identity: kept
                                .who
                                .map(|id| bosun_chat::Identity::new(ctx.network, id)),
                            display: kept.display,
                        },
                        text: kept.line,
                        direct: kept.direct,
                        edit_of: None,
                        done: Done::none(),
                    };
                    handle(ctx, state, message).await;
                }
            }
            Err(e) => tracing::warn!("cannot read the queue kept in the journal: {e}"),
        }
    }
    start_queued(ctx, state).await;
    Ok(())
}

/// Every tick: recover deploys whose bot died (their lease ran out), and start queued requests
/// whose environment is free. (The leases are renewed by their own task.)
pub(crate) async fn tick(ctx: &Context, state: &mut State) {
    let Ok(locks) = ctx.journal.locks().await else {
        return;
    };
    let Ok(now) = ctx.journal.now_ms().await else {
        return;
    };
    let lease = ctx.config.journal.lease.as_millis() as i64;
    for lock in locks.iter().filter(|l| {
        l.is_stale(now, lease) && !l.owner.as_deref().is_some_and(|o| ctx.journal.is_me(o))
    }) {
        let Some(id) = lock.deploy_id else { continue };
        if state.recovering.contains_key(&id) {
            continue;
        }
        state
            .recovering
            .insert(id, (lock.app.clone(), lock.env.clone()));
        if state.takeover.take().is_some() {
            state.takeover_waits = None;
            spawn_recovery_told(ctx, id, lock.generation, None, true);
            continue;
        }
        let why = format!(
            "The lock {} held went stale: its bot stopped renewing it.",
            lock.holder
        );
        spawn_recovery(ctx, id, lock.generation, Some(why));
    }
    if state
        .takeover_waits
        .is_some_and(|until| tokio::time::Instant::now() >= until)
    {
        say_takeover_of_nothing(ctx, state).await;
    }
    start_queued(ctx, state).await;
}

/// Whether another bot holds a deploy's lock whose lease has not run out.
async fn foreign_deploy_lock(ctx: &Context) -> Result<bool, crate::journal::JournalError> {
    let now = ctx.journal.now_ms().await?;
    let lease = ctx.config.journal.lease.as_millis() as i64;
    Ok(ctx.journal.locks().await?.iter().any(|l| {
        l.deploy_id.is_some()
            && !l.is_stale(now, lease)
            && !l.owner.as_deref().is_some_and(|o| ctx.journal.is_me(o))
    }))
}

/// Tells the room that this bot took the lead and found nothing to recover.
async fn say_takeover_of_nothing(ctx: &Context, state: &mut State) {
    state.takeover_waits = None;
    if let Some(from) = state.takeover.take()
        && let Some(home) = &ctx.home
    {
        ctx.say(
            home,
            format!(
                "bosun on {} takes over from the bot on {from}, whose lease ran out; nothing was running",
                ctx.host
            ),
        )
        .await;
    }
}

/// Compares every environment's hosts with the journal, in tasks of their own, except where a
/// deploy runs or is being recovered (its end settles its hosts) or a comparison already runs.
pub(crate) fn reconcile_all(ctx: &Context, state: &mut State) {
    for playbook in &ctx.config.playbooks {
        for env in &playbook.environments {
            let key = (playbook.app.name.clone(), env.name.clone());
            // A deploy being recovered there changes its hosts: comparing them now would act on
            // a look that recovery makes stale.
            if state.running.contains_key(&key)
                || state.recovering.values().any(|k| *k == key)
                || !state.reconciling.insert(key.clone())
            {
                continue;
            }
            let before = state.drift.get(&key).cloned();
            super::reconcile::spawn(ctx, key, None, before);
        }
    }
}

/// `repair [APP in] ENV`: compare now and bring drifted hosts back, answering either way.
/// `done` is held until every repair it started has answered.
#[allow(clippy::too_many_arguments)]
async fn repair(
    ctx: &Context,
    state: &mut State,
    room: &Room,
    who: &Who<'_>,
    app: Option<&str>,
    env: &str,
    done: Done,
) {
    let apps: Vec<String> = match app {
        Some(app) => vec![app.to_string()],
        None => ctx
            .config
            .playbooks
            .iter()
            .filter(|p| p.environment(env).is_some())
            .map(|p| p.app.name.clone())
            .collect(),
    };
    if apps.is_empty() {
        return ctx
            .say(room, format!("no app has an environment \"{env}\""))
            .await;
    }
    for app in apps {
        let (playbook, environment) = match target(&ctx.config, &app, Some(env)) {
            Ok(found) => found,
            Err(e) => {
                ctx.say(room, e.to_string()).await;
                continue;
            }
        };
        let key = (playbook.app.name.clone(), environment.name.clone());
        if let Err(refusal) =
            ctx.policy
                .allows(who.person, &who.name, Action::Rollback, &key.0, &key.1)
        {
            ctx.say(room, refusal).await;
            continue;
        }
        if let Some(running) = state.running.get(&key) {
            ctx.say(
                room,
                format!(
                    "{} on {} is busy: {} is running a {}; its end settles the hosts",
                    key.0, key.1, running.who, running.kind
                ),
            )
            .await;
            continue;
        }
        if !state.reconciling.insert(key.clone()) {
            ctx.say(
                room,
                format!("{} on {}: I am looking at its hosts already", key.0, key.1),
            )
            .await;
            continue;
        }
        let asked = super::reconcile::Asked {
            room: room.clone(),
            who: who.name.clone(),
            done: done.clone(),
        };
        let before = state.drift.get(&key).cloned();
        super::reconcile::spawn(ctx, key, Some(asked), before);
    }
}

/// Recovers deploy `id`, whose bot is gone, in a task of its own: takes it over (if it is
/// still held under `seen`), undoes it, tells its room, and reports to the loop.
pub(crate) fn spawn_recovery(ctx: &Context, id: i64, seen: Option<i64>, why: Option<String>) {
    spawn_recovery_told(ctx, id, seen, why, false)
}

/// Recovers deploy `id`; with `takeover`, the room is told that this bot took the lead.
fn spawn_recovery_told(
    ctx: &Context,
    id: i64,
    seen: Option<i64>,
    why: Option<String>,
    takeover: bool,
) {
    let ctx2 = ctx.clone();
    ctx.tasks.spawn(async move {
        let recovered = crate::engine::recover_one(
            &ctx2.connector,
            &ctx2.config,
            &ctx2.journal,
            id,
            seen,
            ctx2.options.layout_timeout,
        )
        .await;
        match recovered {
            Ok(Some(recovered)) => {
                let room = Room::new(recovered.deploy.room.clone());
                let text = if takeover {
                    crate::announce::takeover_text(&ctx2.host, &recovered)
                } else {
                    crate::announce::recovery_text(&recovered)
                };
                let text = match &why {
                    Some(why) => format!("{why} {text}"),
                    None => text,
                };
                ctx2.say_in(&room, &format!("deploy-{id}"), text).await;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("recovering deploy #{id}: {e}");
                if let Ok(deploy) = ctx2.journal.deploy(id).await {
                    let room = Room::new(deploy.room);
                    ctx2.say(&room, format!("recovering deploy #{id} failed: {e}"))
                        .await;
                }
            }
        }
        let _ = ctx2
            .to_loop
            .send(WorkerMsg::Recovered { deploy_id: id })
            .await;
    });
}

/// Starts the first queued request of every environment that is free now.
pub(crate) async fn start_queued(ctx: &Context, state: &mut State) {
    let mut index = 0;
    while index < state.queue.len() {
        let key = state.queue[index].key.clone();
        let free =
            !state.running.contains_key(&key) && matches!(busy_lock(ctx, &key).await, Ok(None));
        if !free {
            index += 1;
            continue;
        }
        let Some(queued) = state.queue.remove(index) else {
            break;
        };
        if ctx.keeps_queue {
            let who = queued.ask.sender.identity.as_ref().map(|i| i.id.clone());
            if let Err(e) = ctx
                .journal
                .dequeue_line(ctx.network, &key.0, &key.1, who)
                .await
            {
                tracing::warn!("cannot update the queue in the journal: {e}");
            }
        }
        let who = who_of(ctx, &queued.ask.sender);
        if !queued.quiet {
            ctx.say(
                &queued.ask.room,
                format!(
                    "{} on {} is free: the queue moves, starting {}'s request",
                    key.0, key.1, who.name
                ),
            )
            .await;
        }
        let ask = Ask {
            when_free: false,
            ..queued.ask.clone()
        };
        start(ctx, state, &ask, &who, queued.job, queued.force).await;
    }
}

/// The edits already answered, per room (bounded): each edited message gets one answer.
#[derive(Debug, Default)]
pub(crate) struct AnsweredEdits(std::collections::VecDeque<(String, String)>);

impl AnsweredEdits {
    const REMEMBERED: usize = 256;

    /// True the first time an edit of `original` in `room` is seen.
    fn first_time(&mut self, room: &Room, original: &str) -> bool {
        let key = (room.as_str().to_string(), original.to_string());
        if self.0.contains(&key) {
            return false;
        }
        if self.0.len() >= Self::REMEMBERED {
            self.0.pop_front();
        }
        self.0.push_back(key);
        true
    }
}
