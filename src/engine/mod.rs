//! The deploy engine: a `Plan` built from a request, then run step by step with do/undo through a transport, journaled.

pub mod action;
mod event;
mod fleet;
mod plan;
mod prepare;
mod recover;
mod releases;
mod runner;
mod tickets;

pub use event::{Control, EngineEvent, Failure, RunOutcome};
pub use plan::{
    ChangesetLine, Phase, Plan, PlanInput, PlanKind, PlannedHost, RevisionInfo, Step, TicketInfo,
    plan as build_plan,
};
pub use prepare::{
    DeployRequest, PrepareError, Prepared, diff, prepare_deploy, prepare_rollback, target,
};
pub use recover::{Recovered, recover, recover_deploy};
pub use releases::{
    Applied, KeptRelease, KeptReleases, applied_migrations, kept_releases, migrations_to_undo,
};
pub use runner::Runner;
