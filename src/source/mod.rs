//! Source control: a bare mirror per app, fetched from its origin; resolving references to one
//! commit; the changesets a deploy ships; deterministic tar archives of a commit's tree.
//!
//! Everything here blocks (libgit2 and file I/O): async callers use `spawn_blocking`.

mod archive;
mod changesets;
mod delta;
mod error;
mod mirror;
mod near;
mod resolve;
mod tags;
#[doc(hidden)]
pub mod testing;

pub use archive::{ArchiveInfo, ShippedFile, archive_path};
pub use changesets::Changeset;
pub use delta::{Delta, DeltaInfo, delta_path, manifest, tree_hash};
pub use error::SourceError;
pub use mirror::Mirror;
pub use resolve::Revision;
