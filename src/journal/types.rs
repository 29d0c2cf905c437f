//! The journal's record types, the same whichever database keeps them.

/// A deploy or a rollback: both switch an environment to a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeployKind {
    Deploy,
    Rollback,
    /// Hosts brought back to one release after drift was found (`repair ENV`, or on its own).
    Repair,
}

impl DeployKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployKind::Deploy => "deploy",
            DeployKind::Rollback => "rollback",
            DeployKind::Repair => "repair",
        }
    }
    pub(crate) fn parse(s: &str) -> DeployKind {
        match s {
            "rollback" => DeployKind::Rollback,
            "repair" => DeployKind::Repair,
            _ => DeployKind::Deploy,
        }
    }
}

/// Where a deploy stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeployState {
    Running,
    Succeeded,
    /// Failed, and everything it did was undone.
    Undone,
    /// Failed, and an undo failed too: people must look.
    Failed,
    /// Left running by a bot that died; undone when the next one started.
    Recovered,
    /// A repair that brought drifted hosts back to the release already live.
    Repaired,
}

impl DeployState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployState::Running => "running",
            DeployState::Succeeded => "succeeded",
            DeployState::Undone => "undone",
            DeployState::Failed => "failed",
            DeployState::Recovered => "recovered",
            DeployState::Repaired => "repaired",
        }
    }
    pub(crate) fn parse(s: &str) -> DeployState {
        match s {
            "succeeded" => DeployState::Succeeded,
            "undone" => DeployState::Undone,
            "failed" => DeployState::Failed,
            "recovered" => DeployState::Recovered,
            "repaired" => DeployState::Repaired,
            _ => DeployState::Running,
        }
    }
}

/// Where a step stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    /// Written before the step ran: it may or may not have happened.
    Intent,
    Done,
    Failed,
    Undone,
    UndoFailed,
    /// An undo step (its `undo_of` names the step it reverses) that completed.
    Reverted,
    /// Stopped before it finished (cancelled, the bot shut down or died): the host's guard
    /// killed it, so it may have done part of its work.
    Interrupted,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Intent => "intent",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Undone => "undone",
            StepState::UndoFailed => "undo_failed",
            StepState::Reverted => "reverted",
            StepState::Interrupted => "interrupted",
        }
    }
    pub(crate) fn parse(s: &str) -> StepState {
        match s {
            "done" => StepState::Done,
            "failed" => StepState::Failed,
            "undone" => StepState::Undone,
            "undo_failed" => StepState::UndoFailed,
            "reverted" => StepState::Reverted,
            "interrupted" => StepState::Interrupted,
            _ => StepState::Intent,
        }
    }
}

/// What `Journal::begin` records.
#[derive(Clone, Debug)]
pub struct NewDeploy {
    pub kind: DeployKind,
    pub app: String,
    pub env: String,
    pub reference: Option<String>,
    pub revision: Option<String>,
    pub tag: Option<String>,
    pub release: Option<String>,
    pub previous_release: Option<String>,
    pub previous_revision: Option<String>,
    pub requested_by: String,
    pub room: String,
    /// The plan as JSON.
    pub plan: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployRecord {
    pub id: i64,
    pub kind: DeployKind,
    pub app: String,
    pub env: String,
    pub reference: Option<String>,
    pub revision: Option<String>,
    pub tag: Option<String>,
    pub release: Option<String>,
    pub previous_release: Option<String>,
    pub previous_revision: Option<String>,
    pub requested_by: String,
    pub room: String,
    pub state: DeployState,
    pub plan: Option<String>,
    pub summary: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// The fencing generation it acts under (the newest, after a takeover).
    pub generation: Option<i64>,
}

/// What `Journal::intent` records.
#[derive(Clone, Debug)]
pub struct StepIntent {
    pub seq: i64,
    pub host: Option<String>,
    pub phase: String,
    pub label: String,
    /// The action as JSON (the engine's own versioned type).
    pub action: String,
    /// Its undo as JSON, if it has one.
    pub undo: Option<String>,
    /// For an undo step: the journal id of the step it reverses.
    pub undo_of: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    pub id: i64,
    pub deploy_id: i64,
    pub seq: i64,
    pub host: Option<String>,
    pub phase: String,
    pub label: String,
    pub action: String,
    pub undo: Option<String>,
    pub state: StepState,
    pub output: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub undo_of: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// A lock on an environment: taken by a running deploy, or by hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRecord {
    /// `*` for a manual lock, which holds the environment for every app.
    pub app: String,
    pub env: String,
    /// `deploy` or `manual`.
    pub kind: String,
    pub holder: String,
    pub reason: String,
    pub since: i64,
    pub deploy_id: Option<i64>,
    /// The bot instance that holds a deploy lock (`host/8 hex digits`, see
    /// `Journal::instance`), and when it last said it is alive (ms, the database's clock).
    pub owner: Option<String>,
    pub heartbeat_at: Option<i64>,
    /// The fencing generation of the deploy holding it.
    pub generation: Option<i64>,
}

impl LockRecord {
    /// A deploy lock whose holder has not renewed its lease within `lease_ms`: its bot is gone.
    pub fn is_stale(&self, now: i64, lease_ms: i64) -> bool {
        self.deploy_id.is_some() && self.heartbeat_at.unwrap_or(self.since) + lease_ms < now
    }
}

/// One message the bot sent about a deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    /// When it was handed to the chat adapter (ms since the epoch).
    pub at: i64,
    pub room: String,
    /// `milestone`, or `progress` (a line the chat may edit in place).
    pub kind: String,
    pub text: String,
}

/// A message to keep, as the bot sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    pub deploy_id: i64,
    pub at: i64,
    pub room: String,
    /// `milestone` or `progress`.
    pub kind: &'static str,
    pub text: String,
}

/// A freeze on an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreezeRecord {
    pub env: String,
    /// Who froze it.
    pub holder: String,
    pub reason: String,
    /// When, in ms since the epoch.
    pub since: i64,
    /// When it ends by itself (ms since the epoch); `None`: when someone unfreezes it.
    pub until: Option<i64>,
}

impl FreezeRecord {
    /// Whether the freeze holds at `now_ms`.
    pub fn holds_at(&self, now_ms: i64) -> bool {
        self.until.is_none_or(|until| now_ms < until)
    }
}

/// Which deploys to list, and where the page starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub app: Option<String>,
    pub env: Option<String>,
    /// Who asked for it, as the journal names them.
    pub person: Option<String>,
    pub state: Option<DeployState>,
    /// Only deploys older than this journal id (the previous page's last).
    pub before: Option<i64>,
    /// At most this many (1..=500).
    pub limit: usize,
}

/// One page of history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPage {
    pub deploys: Vec<DeployRecord>,
    /// Where the next (older) page starts, when there is one.
    pub next_before: Option<i64>,
    /// How many deploys match the filters in all.
    pub total: i64,
}

/// What a bot found when it claimed the lead of a chat network (`Journal::claim_leader`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaderClaim {
    /// This bot instance leads. `from` is the instance whose lease it took over, when another
    /// one held the lead before and its lease ran out.
    Leads { from: Option<String> },
    /// Another instance leads; its lease runs out in `expires_in_ms` (by the journal's clock)
    /// unless it renews it.
    Follows {
        instance: String,
        expires_in_ms: i64,
    },
}

/// Who leads a chat network, as the journal keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderRecord {
    pub network: String,
    /// The leading bot instance (`host/8 hex digits`).
    pub instance: String,
    /// When it took the lead, and when it last renewed it (ms since the epoch, journal's clock).
    pub since: i64,
    pub heartbeat_at: i64,
}

/// A `when free` request kept in the journal, so that the bot that leads next queues it again:
/// the line as it was said, by whom, where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedLine {
    pub app: String,
    pub env: String,
    pub room: String,
    /// The sender's identity id on the network, when the adapter vouched for one.
    pub who: Option<String>,
    pub display: String,
    pub line: String,
    /// Said in a direct conversation rather than in a room.
    pub direct: bool,
}
