//! Export + state → catalog: the one loop every builder runs.
//!
//! [`build_from_state`] streams a source export through the diff
//! [`Planner`] into a [`CatalogWriter`]: each item the plan sends is written
//! as it arrives, then the keep-alive item and the deletes, so memory stays
//! bounded by the state, never by the catalog. Rows the loader refused are
//! held (an unreadable row is not a removal); when some rows could not be
//! read at all, no delete goes out this run. The `catalogctl` CLI and the
//! builder Lambda both call this.

use std::io::Write;

use thiserror::Error;

use crate::diff::{DiffError, Plan, Planner, Policy, Request};
use crate::model::{Action, CatalogHeader, SubmissionType};
use crate::source::{LoadError, LoadReport, SourceLoader};
use crate::state::CatalogState;
use crate::writer::{CatalogWriter, WriteError, WriteSummary};

/// What can stop a build.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The export could not be read.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The catalog could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The diff could not record the new state.
    #[error(transparent)]
    Diff(#[from] DiffError),
}

/// What a build did.
#[derive(Debug)]
pub struct Built<W> {
    /// The sink, handed back to be closed by its owner (zstd frame, upload).
    pub sink: W,
    /// What the loader found in the export.
    pub load: LoadReport,
    /// The diff's verdict, counts and the new state.
    pub plan: Plan,
    /// What was written.
    pub written: WriteSummary,
}

/// Streams `loader`'s items through a diff against `state` into `sink`.
///
/// `on_progress` is called every few thousand items with (items read,
/// decompressed bytes read). The catalog is written whatever the verdict;
/// when `plan.outcome` is not `Send` the caller discards it.
pub fn build_from_state<W: Write>(
    mut loader: SourceLoader<'_>,
    state: &CatalogState,
    policy: Policy,
    request: Request,
    sink: W,
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<Built<W>, BuildError> {
    let mut planner = Planner::new(state, policy, request);
    let header = CatalogHeader {
        id: state.catalog_id.clone(),
        version: state.catalog_version + 1,
        action: Action::Upsert,
    };
    let mut writer = CatalogWriter::new(sink, &header)?;
    let mut read = 0u64;
    while let Some(item) = loader.next_item()? {
        read += 1;
        if let Some(item) = planner.next(item)? {
            writer.write_item(&item)?;
        }
        if read % 4096 == 0 {
            on_progress(read, loader.bytes_read());
        }
    }
    let load = loader.finish();
    for id in &load.rejected_ids {
        planner.hold(id);
    }
    if load.unreadable_rows > 0 {
        planner.hold_all_removals(format!(
            "{} export rows could not be read, so their items cannot be told apart from removed ones",
            load.unreadable_rows
        ));
    }
    let plan = planner.finish()?;
    if let Some(item) = &plan.keepalive {
        writer.write_item(item)?;
    }
    if plan.kind == SubmissionType::Update {
        for (delete, kind) in &plan.deletes {
            writer.delete(delete.clone(), *kind)?;
        }
    }
    let (sink, written) = writer.finish()?;
    Ok(Built {
        sink,
        load,
        plan,
        written,
    })
}
