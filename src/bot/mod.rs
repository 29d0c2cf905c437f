//! The bot: one closed event loop that takes chat messages and worker reports, and the only place that mutates shared state.
//!
//! `run(config, adapter, options, shutdown)` owns everything it starts: the adapter task and every
//! deploy, rollback and query task live in one `TaskTracker` and stop on shutdown. Deploy tasks
//! report by message; only the loop decides what runs.

mod board;
mod dispatch;
mod freeze;
mod leases;
mod queries;
mod reconcile;
mod said;
mod worker;

pub use board::{Board, QueuedEntry, RunningEntry};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bosun_chat::{Adapter, Channels, Inbound, Outbound, Room};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Policy;
use crate::config::Config;
use crate::journal::Journal;
use crate::live::LiveLogs;
use crate::redact::Redactor;
use crate::tracker::Tracker;
use crate::transport::Connector;

/// Knobs that are not part of the config file.
#[derive(Clone, Debug)]
pub struct BotOptions {
    /// Timeout for layout commands (stage, switch, remove).
    pub layout_timeout: Duration,
    /// Serve the page when `[web]` configures one. `bosun deploy` and `bosun rollback` from a
    /// script do not: the running bot already serves it.
    pub serve_page: bool,
    /// Compare every environment's hosts with the journal at start and on a schedule. `bosun
    /// deploy` and `bosun rollback` from a script do not: they act on one environment, and the
    /// running bot keeps the others.
    pub reconcile: bool,
}

impl Default for BotOptions {
    fn default() -> Self {
        BotOptions {
            layout_timeout: Duration::from_secs(600),
            serve_page: true,
            reconcile: true,
        }
    }
}

/// What a run of the bot amounted to, for the CLI's exit code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BotReport {
    pub deploys_succeeded: usize,
    /// Deploys and rollbacks that did not reach their goal, for whatever reason (the ones below
    /// included).
    pub deploys_failed: usize,
    /// Of those: a step failed and everything done was undone.
    pub deploys_undone: usize,
    /// Of those: a step failed and an undo failed too; the fleet needs a look.
    pub deploys_need_a_look: usize,
    /// Requests refused before anything ran (permissions, locks, checks, nothing to do).
    pub refused: usize,
    /// Requests that named no app, environment or ref there is (a line that does not parse at
    /// all is answered with a suggestion, and not counted).
    pub invalid: usize,
}

/// How one request ended, as the report counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    Succeeded,
    Undone,
    NeedsALook,
    Refused,
    Invalid,
}

impl BotReport {
    fn count(&mut self, ended: Ended) {
        match ended {
            Ended::Succeeded => self.deploys_succeeded += 1,
            Ended::Undone => self.deploys_undone += 1,
            Ended::NeedsALook => self.deploys_need_a_look += 1,
            Ended::Refused => self.refused += 1,
            Ended::Invalid => self.invalid += 1,
        }
        if ended != Ended::Succeeded && ended != Ended::Invalid {
            self.deploys_failed += 1;
        }
    }
}

/// A report from a task to the loop.
#[derive(Debug)]
pub(crate) enum WorkerMsg {
    Say(Outbound),
    /// A deploy or rollback task ended; `ended` says whether it reached its goal.
    Finished {
        key: DeployKey,
        ended: Ended,
        /// What the room is told once the environment is free again.
        last: Option<Outbound>,
    },
    /// A query task ended.
    QueryDone,
    /// The recovery of a dead bot's deploy ended.
    Recovered {
        deploy_id: i64,
    },
    /// A deploy is live on every host and cleans up old releases now: `said` tells the room.
    Live {
        key: DeployKey,
        said: Outbound,
    },
    /// A canary deploy switched its host and now waits.
    CanaryWaiting {
        key: DeployKey,
    },
    /// A reconciliation of an environment ended; `drift` is what is still wrong there.
    Reconciled {
        key: DeployKey,
        drift: Option<String>,
    },
}

/// One deploy at a time per app and environment.
pub(crate) type DeployKey = (String, String);

/// A deploy or rollback this bot is running.
#[derive(Clone, Debug)]
pub(crate) struct Running {
    pub who: String,
    pub room: Room,
    /// Stops it (the running command through the host's guard), then it is undone.
    pub cancel: crate::engine::Stop,
    pub since: i64,
    pub kind: &'static str,
    /// Tells a canary deploy to go on or to undo.
    pub control: mpsc::Sender<crate::engine::Control>,
    /// True while a canary deploy waits for `continue`.
    pub canary_waiting: bool,
    /// True once the deploy is live and only removes old releases: a request for the same
    /// environment waits in the queue for that to end instead of being refused.
    pub cleaning_up: bool,
    /// The completion token of the message that asked for it: dropped when it ends (or when
    /// a canary waits for `continue`, which the next line may be).
    pub done: bosun_chat::Done,
}

/// Shared, read-only context for tasks.
#[derive(Clone)]
pub(crate) struct Context {
    pub config: Arc<Config>,
    pub journal: Journal,
    pub policy: Arc<Policy>,
    pub options: BotOptions,
    pub to_loop: mpsc::Sender<WorkerMsg>,
    pub tasks: TaskTracker,
    pub connector: Connector,
    pub tracker: Arc<Tracker>,
    /// The chat's own room, for what the bot finds on its own when nothing else names a room.
    pub home: Option<Room>,
    /// The output of the deploys running now, for the page.
    pub live: LiveLogs,
    /// When this bot's leases were last renewed: its runners stop once they may have run out.
    pub tenure: crate::engine::Tenure,
    /// This bot's host, for what it says when it takes over.
    pub host: String,
    /// The chat network this bot answers on.
    pub network: &'static str,
    /// Whether the `when free` queue is kept in the journal for the bot that leads next (not
    /// for a bot alone on its network).
    pub keeps_queue: bool,
}

impl Context {
    /// Says something that belongs to a topic (one deploy's story).
    pub async fn say_in(&self, room: &Room, topic: &str, text: impl Into<String>) {
        let message = Outbound::milestone(room.clone(), text).in_topic(topic);
        let _ = self.to_loop.send(WorkerMsg::Say(message)).await;
    }

    pub async fn say(&self, room: &Room, text: impl Into<String>) {
        let _ = self
            .to_loop
            .send(WorkerMsg::Say(Outbound::milestone(room.clone(), text)))
            .await;
    }
}

/// The loop's own state.
pub(crate) struct State {
    pub running: HashMap<DeployKey, Running>,
    /// Requests waiting for their environment (`deploy … when free`), oldest first.
    pub queue: std::collections::VecDeque<dispatch::Queued>,
    /// Deploys of dead bots being recovered now, with their environment (which no comparison
    /// with the journal touches meanwhile).
    pub recovering: HashMap<i64, DeployKey>,
    /// Environments whose hosts are being compared with the journal now.
    pub reconciling: std::collections::HashSet<DeployKey>,
    /// What the last reconciliation of each environment left wrong, for `status`.
    pub drift: std::collections::BTreeMap<DeployKey, String>,
    pub report: BotReport,
    /// Edits already answered.
    pub edits: dispatch::AnsweredEdits,
    /// Whether this bot answers on its chat network (the others stay quiet).
    pub leading: bool,
    /// Set when this bot took the lead from another one, until the room was told (with the
    /// recovery of the other bot's deploys, when there are any).
    pub takeover: Option<String>,
    /// While the lead was taken from a bot whose deploy lock has not run out yet (the two
    /// leases are renewed together, but need not end in the same instant): until when the
    /// takeover waits for that lock, to tell the room of it with the deploy's recovery.
    pub takeover_waits: Option<tokio::time::Instant>,
}

impl State {
    /// Counts a request that was refused or invalid before any task started.
    pub(crate) fn refused(&mut self, ended: Ended) {
        self.report.count(ended);
    }
}

/// Runs the bot until `shutdown` is cancelled, or until the adapter's input ends and all
/// running work has finished.
pub async fn run<A: Adapter + 'static>(
    config: Arc<Config>,
    adapter: A,
    options: BotOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<BotReport> {
    let redactor = Redactor::from_config(&config);
    let location = config.journal.location().map_err(anyhow::Error::msg)?;
    let journal = Journal::connect(&location)
        .await?
        .with_redactor(redactor.clone());
    // The page's address is taken before anything starts, so a port in use stops the bot at once.
    let listener = match &config.web {
        Some(web) if options.serve_page => Some(crate::web::bind(web).await?),
        _ => None,
    };
    let (inbound_tx, mut inbound_rx) = mpsc::channel::<Inbound>(64);
    let (outbound_tx, outbound_rx) = mpsc::channel::<Outbound>(256);
    let (to_loop, mut from_tasks) = mpsc::channel::<WorkerMsg>(256);
    let tasks = TaskTracker::new();
    let home = adapter.home();
    let network = adapter.network();
    let shared = adapter.shared();
    let adapter_stop = CancellationToken::new();
    let adapter_task = tasks.spawn(adapter.run(
        Channels {
            inbound: inbound_tx,
            outbound: outbound_rx,
        },
        adapter_stop.clone(),
    ));

    let said = said::Said::start(journal.clone(), &tasks);
    // The leases are renewed in a task of their own, never behind chat delivery. A bot alone
    // on its network always leads.
    let leases_stop = CancellationToken::new();
    let mut leases = leases::start(
        journal.clone(),
        config.journal.lease,
        network,
        !shared,
        &tasks,
        leases_stop.clone(),
    )
    .await;
    let (leading, takeover) = match leases.role.borrow_and_update().clone() {
        leases::Role::Leading { took_over_from } => (true, took_over_from),
        leases::Role::Following => (false, None),
    };
    let connector = Connector::new();
    let tracker = Arc::new(Tracker::from_config(&config.tracker)?);
    let live = LiveLogs::default();
    let (board_tx, board_rx) = tokio::sync::watch::channel(board::Board::default());
    let web_stop = CancellationToken::new();
    // The page stops with the bot, however `run` ends.
    let web_guard = web_stop.clone().drop_guard();
    if let (Some(web), Some(listener)) = (&config.web, listener) {
        tracing::info!(address = %listener.local_addr()?, url = ?web.public_url, "serving the page");
        let page = crate::web::Page::new(
            config.clone(),
            journal.clone(),
            live.clone(),
            board_rx,
            tracker.clone(),
            web_stop.clone(),
        )?;
        tasks.spawn(crate::web::serve(listener, page, web_stop.clone()));
    }
    let ctx = Context {
        live,
        connector: connector.clone(),
        tracker,
        policy: Arc::new(Policy::new(&config)),
        config: config.clone(),
        journal: journal.clone(),
        options: options.clone(),
        to_loop,
        tasks: tasks.clone(),
        home,
        tenure: leases.tenure.clone(),
        host: crate::journal::instance_host(journal.instance()).to_string(),
        network,
        keeps_queue: shared,
    };
    let mut state = State {
        running: HashMap::new(),
        queue: Default::default(),
        recovering: Default::default(),
        reconciling: Default::default(),
        drift: Default::default(),
        report: BotReport::default(),
        edits: Default::default(),
        leading,
        takeover,
        takeover_waits: None,
    };

    if state.leading {
        dispatch::lead(&ctx, &mut state).await?;
    }
    let mut reconcile_ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + config.journal.reconcile_every,
        config.journal.reconcile_every,
    );
    reconcile_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let mut ticks =
        tokio::time::interval((config.journal.lease / 3).max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut input_open = true;
    let mut pending_queries = 0usize;
    loop {
        if !input_open
            && state.running.is_empty()
            && pending_queries == 0
            && state.queue.is_empty()
            && state.recovering.is_empty()
            && state.reconciling.is_empty()
        {
            break;
        }
        tokio::select! {
            message = inbound_rx.recv(), if input_open => match message {
                // Another bot answers: this one stays quiet. So does a bot that may have lost
                // the journal (its lease may have run out), before its lease task says so.
                Some(_) if !state.leading || ctx.tenure.lost() => {}
                Some(message) => {
                    if dispatch::handle(&ctx, &mut state, message).await {
                        pending_queries += 1;
                    }
                }
                None => input_open = false,
            },
            Some(msg) = from_tasks.recv() => match msg {
                WorkerMsg::Say(outbound) if state.leading => said.send(&outbound_tx, outbound).await,
                WorkerMsg::Say(_) => {}
                WorkerMsg::Recovered { deploy_id } => {
                    state.recovering.remove(&deploy_id);
                    dispatch::start_queued(&ctx, &mut state).await;
                }
                WorkerMsg::Finished { key, ended, last } => {
                    let finished = state.running.remove(&key);
                    if let Some(last) = last.filter(|_| state.leading) {
                        said.send(&outbound_tx, last).await;
                    }
                    // The environment is free and its last word said: a script reads on.
                    drop(finished);
                    dispatch::start_queued(&ctx, &mut state).await;
                    state.report.count(ended);
                }
                WorkerMsg::Live { key, said: live } => {
                    if let Some(running) = state.running.get_mut(&key) {
                        running.cleaning_up = true;
                    }
                    said.send(&outbound_tx, live).await;
                }
                WorkerMsg::CanaryWaiting { key } => {
                    if let Some(running) = state.running.get_mut(&key) {
                        running.canary_waiting = true;
                        running.done = bosun_chat::Done::none();
                    }
                }
                WorkerMsg::QueryDone => {
                    pending_queries = pending_queries.saturating_sub(1);
                }
                WorkerMsg::Reconciled { key, drift } => {
                    state.reconciling.remove(&key);
                    match drift {
                        Some(drift) => state.drift.insert(key, drift),
                        None => state.drift.remove(&key),
                    };
                    dispatch::start_queued(&ctx, &mut state).await;
                }
            },
            _ = reconcile_ticks.tick(), if input_open && options.reconcile && state.leading => {
                dispatch::reconcile_all(&ctx, &mut state)
            }
            _ = ticks.tick(), if state.leading => dispatch::tick(&ctx, &mut state).await,
            Ok(()) = leases.role.changed() => {
                let role = leases.role.borrow_and_update().clone();
                match role {
                    leases::Role::Leading { took_over_from } if !state.leading => {
                        state.leading = true;
                        state.takeover = took_over_from;
                        if let Err(e) = dispatch::lead(&ctx, &mut state).await {
                            tracing::warn!("taking the lead: {e}");
                        }
                    }
                    leases::Role::Leading { .. } => {}
                    leases::Role::Following => state.leading = false,
                }
            }
            _ = shutdown.cancelled() => {
                for running in state.running.values() {
                    running.cancel.stop("bosun is shutting down");
                }
                break;
            }
        }
        board::publish(&board_tx, &state);
    }

    // Let tasks reach a safe point, forwarding what they still say.
    drop(ctx);
    tasks.close();
    while let Some(msg) = from_tasks.recv().await {
        // A deploy that ends now (one that was live and removing old releases goes on to its
        // end) counts like any other.
        if let WorkerMsg::Finished { ended, .. } = &msg {
            state.report.count(*ended);
        }
        if let WorkerMsg::Say(outbound)
        | WorkerMsg::Live { said: outbound, .. }
        | WorkerMsg::Finished {
            last: Some(outbound),
            ..
        } = msg
        {
            said.send(&outbound_tx, outbound).await;
        }
    }
    drop(web_guard);
    drop(said);
    drop(outbound_tx);
    adapter_stop.cancel();
    let adapter_result = adapter_task.await;
    leases_stop.cancel();
    tasks.wait().await;
    connector.shutdown().await;
    adapter_result??;
    Ok(state.report)
}
