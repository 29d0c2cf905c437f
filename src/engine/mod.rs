//! The deploy engine: a `Plan` built from a request, then run step by step with do/undo through a transport, journaled.

pub mod action;
mod event;
mod fleet;
pub mod guard;
mod perform;
mod plan;
mod prepare;
pub mod reconcile;
mod recover;
mod releases;
mod runner;
mod staging;
mod tenure;
mod tickets;
mod undo;

pub use event::{Control, EngineEvent, Failure, RunOutcome, Stop};
pub use plan::{
    ChangesetLine, Phase, Plan, PlanInput, PlanKind, PlannedHost, RevisionInfo, Step, TicketInfo,
    plan as build_plan,
};
pub use prepare::{
    DeployRequest, PrepareError, Prepared, diff, prepare_deploy, prepare_rollback, target,
};
pub use recover::{
    Recovered, live_now, orphaned, recover, recover_deploy, recover_one, succeeded_or_live,
};
pub use releases::{
    Applied, KeptRelease, KeptReleases, applied_migrations, kept_releases, migrations_to_undo,
};
pub use runner::Runner;
pub use tenure::Tenure;
