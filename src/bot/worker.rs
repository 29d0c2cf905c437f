//! A deploy or rollback task: prepare the plan, take the lock in the journal, announce, run, record the outcome.

use bosun_chat::{Outbound, Room};
use tokio::sync::mpsc;

use super::dispatch::Job;
use super::{Context, Ended, WorkerMsg};
use crate::announce::{event_text, lock_refusal, outcome_text, plan_announcement};
use crate::engine::guard::Fence;
use crate::engine::{
    Control, EngineEvent, PlanKind, Prepared, RunOutcome, Runner, Stop, prepare_deploy,
    prepare_rollback,
};
use crate::journal::{DeployKind, DeployState, NewDeploy};

/// Runs one job to its end. Returns whether it reached its goal.
pub(crate) async fn run_job(
    ctx: &Context,
    room: &Room,
    who: &str,
    job: Job,
    force: bool,
    stop: Stop,
    mut control: mpsc::Receiver<Control>,
) -> JobEnd {
    let (app, env) = match &job {
        Job::Deploy(r) => (r.app.clone(), r.env.clone().unwrap_or_default()),
        Job::Rollback { app, env, .. } => (app.clone(), env.clone().unwrap_or_default()),
    };
    let doing = match &job {
        Job::Deploy(_) => format!("deploy {app} to {env}"),
        Job::Rollback { to: Some(to), .. } => format!("roll back {app} in {env} to {to}"),
        Job::Rollback { .. } => format!("roll back {app} in {env}"),
    };
    let prepared = match job {
        Job::Deploy(request) => {
            prepare_deploy(
                &ctx.connector,
                &ctx.tracker,
                &ctx.config,
                &ctx.journal,
                request,
            )
            .await
        }
        Job::Rollback { app, env, to } => {
            prepare_rollback(
                &ctx.connector,
                &ctx.tracker,
                &ctx.config,
                &ctx.journal,
                &app,
                env.as_deref(),
                to.as_deref(),
                force,
            )
            .await
        }
    };
    let Prepared {
        plan,
        hosts,
        files,
        skipped,
    } = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            tracing::info!(app, env, "refused to {doing}: {e}");
            ctx.say(room, format!("cannot {doing}: {e}")).await;
            return JobEnd {
                ended: if e.is_invalid_request() {
                    Ended::Invalid
                } else {
                    Ended::Refused
                },
                last: None,
                topic: None,
            };
        }
    };
    let kind = match plan.kind {
        PlanKind::Deploy => DeployKind::Deploy,
        PlanKind::Rollback => DeployKind::Rollback,
    };
    let record = NewDeploy {
        kind,
        app: plan.app.clone(),
        env: plan.env.clone(),
        reference: plan.reference.clone(),
        revision: Some(plan.revision.sha.clone()),
        tag: plan.revision.tag.clone(),
        release: Some(plan.release.clone()),
        previous_release: plan.previous_release.clone(),
        previous_revision: plan.previous.as_ref().map(|p| p.sha.clone()),
        requested_by: who.to_string(),
        room: room.to_string(),
        plan: plan.to_json(),
    };
    let id = match ctx.journal.begin(record).await {
        Ok(Ok(id)) => id,
        Ok(Err(lock)) => {
            tracing::info!(
                app,
                env,
                holder = lock.holder,
                "refused: the environment is held"
            );
            ctx.say(room, lock_refusal(&plan.app, &plan.env, &lock))
                .await;
            return JobEnd {
                ended: Ended::Refused,
                last: None,
                topic: None,
            };
        }
        Err(e) => {
            tracing::error!(app, env, "cannot write the journal: {e}");
            ctx.say(room, format!("cannot write the journal: {e}"))
                .await;
            return JobEnd {
                ended: Ended::Refused,
                last: None,
                topic: None,
            };
        }
    };
    let fence = match fence_of(ctx, id).await {
        Ok(fence) => fence,
        Err(e) => {
            ctx.say(room, format!("cannot read the journal: {e}")).await;
            let _ = ctx
                .journal
                .finish(id, DeployState::Undone, format!("not started: {e}"))
                .await;
            return JobEnd {
                ended: Ended::Undone,
                last: None,
                topic: None,
            };
        }
    };
    if !files.is_empty()
        && let Err(e) = ctx.journal.record_files(id, files).await
    {
        tracing::warn!("journal #{id}: files not recorded: {e}");
    }
    // Every message of this deploy shares one topic: chat systems with threads can keep the
    // deploy's story under its announcement.
    let thread = format!("deploy-{id}");
    tracing::info!(
        journal = id,
        kind = kind.as_str(),
        app = plan.app,
        env = plan.env,
        revision = plan.revision.sha,
        release = plan.release,
        who,
        "started"
    );
    let page = crate::announce::page_link(ctx.config.web.as_ref(), id);
    let mut announcement = plan_announcement(who, &plan, &ctx.config.announce, id, force);
    if let Some(page) = &page {
        announcement.push_str(&format!("\n{page}"));
    }
    ctx.say_in(room, &thread, announcement).await;

    for (host, why) in &skipped {
        ctx.say_in(
            room,
            &thread,
            format!(
                "{}: skipping {host}, which cannot be reached ({why}); it stays on its release",
                plan.env
            ),
        )
        .await;
    }
    let (events_tx, mut events_rx) = mpsc::channel::<EngineEvent>(64);
    // With a page, the hosts' output streams into the live log as it is printed.
    let (lines, lines_rx) = match ctx.config.web {
        Some(_) if ctx.options.serve_page => {
            let (tx, rx) = mpsc::channel(crate::live::FEED);
            ctx.live.open(id);
            (Some(tx), Some(rx))
        }
        _ => (None, None),
    };
    let pump = async {
        if let Some(rx) = lines_rx {
            ctx.live.pump(id, rx, ctx.journal.redactor().clone()).await;
        }
    };
    let runner = Runner {
        lines,
        journal: ctx.journal.clone(),
        hosts,
        events: events_tx,
        stop,
        fence,
        max_parallel: ctx
            .config
            .playbook(&plan.app)
            .map(|p| p.app.max_parallel)
            .unwrap_or(32),
        layout_timeout: ctx.options.layout_timeout,
        tenure: ctx.tenure.clone(),
        retries: ctx
            .config
            .playbook(&plan.app)
            .map(|p| p.pipeline.retries)
            .unwrap_or(0),
    };
    let run = async {
        let outcome = runner.run(&plan, Some(&mut control)).await;
        drop(runner);
        outcome
    };
    // What the room was told when the deploy went live (before its clean-up), if it was.
    let live_text: std::sync::Mutex<Option<String>> = std::sync::Mutex::default();
    let forward = async {
        while let Some(event) = events_rx.recv().await {
            if let EngineEvent::CanaryWaiting { .. } = event {
                let key = (plan.app.clone(), plan.env.clone());
                let _ = ctx.to_loop.send(WorkerMsg::CanaryWaiting { key }).await;
            }
            if let EngineEvent::Live { elapsed } = event {
                // Said now, not after the clean-up: the loop marks the environment as
                // cleaning up first, so that a rollback asked from now on waits for it.
                let text = outcome_text(&plan, &RunOutcome::Succeeded { elapsed }, id);
                tracing::info!(journal = id, "{}", ctx.journal.redactor().redact(&text));
                *live_text.lock().expect("not poisoned") = Some(text.clone());
                let key = (plan.app.clone(), plan.env.clone());
                let said = Outbound::milestone(room.clone(), text).in_topic(thread.clone());
                let _ = ctx.to_loop.send(WorkerMsg::Live { key, said }).await;
                continue;
            }
            let (milestone, text) = event_text(&plan.env, &event);
            tracing::info!(journal = id, "{}", ctx.journal.redactor().redact(&text));
            let message = if milestone {
                Outbound::milestone(room.clone(), text).in_topic(thread.clone())
            } else {
                Outbound::progress(room.clone(), thread.clone(), text)
            };
            let _ = ctx.to_loop.send(WorkerMsg::Say(message)).await;
        }
    };
    let (outcome, (), ()) = tokio::join!(run, forward, pump);

    let live_text = live_text.into_inner().expect("not poisoned");
    let mut text = match (&outcome, &live_text) {
        (RunOutcome::Succeeded { .. }, Some(said)) => said.clone(),
        _ => outcome_text(&plan, &outcome, id),
    };
    if let (Some(page), false) = (&page, matches!(outcome, RunOutcome::Succeeded { .. })) {
        text.push_str(&format!("\nthe whole output: {page}"));
    }
    let alert = &ctx.config.announce.alert;
    if let RunOutcome::Undone { failure, .. } | RunOutcome::UndoFailed { failure, .. } = &outcome
        && failure.retries_spent
        && !alert.is_empty()
    {
        text.push_str(&format!(
            "\nattention {}: {} kept failing after every retry",
            alert.join(", "),
            failure.step
        ));
    }
    let state = match &outcome {
        RunOutcome::Succeeded { .. } => DeployState::Succeeded,
        RunOutcome::Undone { .. } => DeployState::Undone,
        RunOutcome::UndoFailed { .. } => DeployState::Failed,
        RunOutcome::Fenced { .. } => {
            // Another bot owns this deploy now: it records how it ends.
            tracing::warn!(journal = id, "stopped, undoing nothing: {text}");
            return JobEnd {
                ended: Ended::Undone,
                last: Some(text),
                topic: Some(thread),
            };
        }
    };
    if let Err(e) = ctx.journal.finish(id, state, text.clone()).await {
        tracing::error!("journal #{id}: outcome not recorded: {e}");
    }
    tracing::info!(journal = id, state = state.as_str(), "finished");
    // A deploy that went live said so before its clean-up, and the end of that is no news: a
    // clean-up that failed was said as a warning, and a request asked meanwhile starts now.
    // The last word goes out with the end of the job, so that the loop frees the environment
    // before anyone can read that it is live and ask again.
    JobEnd {
        ended: match state {
            DeployState::Succeeded => Ended::Succeeded,
            DeployState::Undone => Ended::Undone,
            _ => Ended::NeedsALook,
        },
        // Said already when it went live.
        last: (live_text.is_none() || state != DeployState::Succeeded).then_some(text),
        topic: Some(thread),
    }
}

/// The fence a deploy acts under: this journal, the deploy, the generation its lock holds.
async fn fence_of(ctx: &Context, id: i64) -> Result<Fence, crate::journal::JournalError> {
    let (journal, _) = ctx.journal.identity().await?;
    let generation = ctx.journal.generation(id).await?.unwrap_or_default();
    Ok(Fence {
        journal,
        deploy: id,
        generation,
    })
}

/// How a job ended, and what the room is told last.
pub(crate) struct JobEnd {
    pub ended: Ended,
    /// The deploy's topic, for the last message.
    pub topic: Option<String>,
    pub last: Option<String>,
}
