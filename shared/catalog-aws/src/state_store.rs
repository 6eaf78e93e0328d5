//! The catalog state and the submission ledger, kept in the work bucket under `state/`.
//!
//! - `state/catalog-state.jsonl.zst`: the [`CatalogState`], replaced only
//!   with compare-and-swap (`If-Match` on the ETag it was read with; the
//!   first one with create-once), so two builders racing can never both
//!   commit on top of the same state.
//! - `state/ledger/claims/<catalog version>.json`: a [`Claim`], created once
//!   before a catalog version is built. It pins the export and the time a
//!   build of that version uses, so a redelivered trigger rebuilds the very
//!   same catalog (same name, same content) and a concurrent build of another
//!   export waits its turn instead of sending the same versions twice.
//! - `state/ledger/submissions/<catalog name>.json`: what each catalog the
//!   builder made holds.
//! - `state/ledger/published/<catalog name>.json`: what the gate handed to
//!   Amazon, when, under which manifest.
//! - `state/latest-export.json`: which export a scheduled run diffs.
//! - `state/needs-full.json`: set by the gate when it refuses a catalog the
//!   builder made (the state already counts it as sent); the next build then
//!   sends a full catalog, which puts Amazon back in line with the state.
//!
//! Reading and writing the state is blocking work (zstd, JSON) and runs on
//! a blocking thread.

use std::io::Read;

use catalog_core::state::{CatalogState, StateError};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio_util::io::SyncIoBridge;

use crate::store::{Metadata, ObjectStore, Precondition, StoreError};

/// Where the catalog state lives in the work bucket.
pub const STATE_KEY: &str = "state/catalog-state.jsonl.zst";
/// Which export scheduled runs diff.
pub const LATEST_EXPORT_KEY: &str = "state/latest-export.json";

/// Asks the next build for a full catalog.
pub const NEEDS_FULL_KEY: &str = "state/needs-full.json";

/// The claim key for a catalog version.
pub fn claim_key(version: u64) -> String {
    format!("state/ledger/claims/{version:010}.json")
}

/// The ledger key for a submitted catalog.
pub fn submission_key(catalog_name: &str) -> String {
    format!("state/ledger/submissions/{catalog_name}.json")
}

/// The ledger key for a catalog the gate published.
pub fn published_key(catalog_name: &str) -> String {
    format!("state/ledger/published/{catalog_name}.json")
}

/// Why the next build must be a full catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedsFull {
    /// The catalog the gate refused.
    pub catalog: String,
    /// Why it refused it.
    pub reason: String,
    /// When (Unix seconds).
    pub at: i64,
}

/// What can go wrong with the state store.
#[derive(Debug, Error)]
pub enum StateStoreError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state object is not a valid state.
    #[error("{location}: {source}")]
    State {
        /// Where.
        location: String,
        /// What is wrong with it.
        #[source]
        source: StateError,
    },
    /// A JSON object under `state/` is not what this code writes.
    #[error("{location}: not a valid record: {message}")]
    Record {
        /// Where.
        location: String,
        /// The parse error.
        message: String,
    },
    /// The blocking task failed.
    #[error("a blocking task failed: {0}")]
    Join(String),
}

/// A pointer to one export object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRef {
    /// The key in the work bucket.
    pub key: String,
    /// Its ETag when the build read it.
    pub etag: String,
}

/// Who is building a catalog version, from which export, at which time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The catalog version being built.
    pub version: u64,
    /// The export it is built from.
    pub export: ExportRef,
    /// The time the build uses (Unix seconds): the trigger's time.
    pub now: i64,
    /// When the claim was made (Unix seconds), to spot abandoned ones.
    pub claimed_at: i64,
}

/// The state and the ETag it was read with (`None` when there is none yet).
#[derive(Debug)]
pub struct Loaded {
    /// The state.
    pub state: CatalogState,
    /// Its ETag, for the compare-and-swap of the commit.
    pub etag: Option<String>,
}

/// The result of trying to claim a catalog version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimResult {
    /// The claim is ours, just made.
    Made(Claim),
    /// A claim already exists (ours from an earlier attempt, or another
    /// build's), with its ETag.
    Exists(Claim, String),
}

/// The state store over any [`ObjectStore`].
#[derive(Debug, Clone)]
pub struct StateStore<S> {
    store: S,
}

impl<S: ObjectStore + Clone> StateStore<S> {
    /// A state store in `store` (the work bucket).
    pub fn new(store: S) -> StateStore<S> {
        StateStore { store }
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Loads the state, or a new one for `catalog_id` when none exists yet.
    pub async fn load(&self, catalog_id: &str) -> Result<Loaded, StateStoreError> {
        let (got, body) = match self.store.get(STATE_KEY).await {
            Ok(found) => found,
            Err(StoreError::NotFound { .. }) => {
                return Ok(Loaded {
                    state: CatalogState::new(catalog_id),
                    etag: None,
                });
            }
            Err(other) => return Err(other.into()),
        };
        let location = self.store.location(STATE_KEY);
        let bridge = SyncIoBridge::new(body);
        let state = tokio::task::spawn_blocking(move || CatalogState::load(bridge))
            .await
            .map_err(|e| StateStoreError::Join(e.to_string()))?
            .map_err(|source| StateStoreError::State { location, source })?;
        Ok(Loaded {
            state,
            etag: Some(got.etag),
        })
    }

    /// Replaces the state if it is still the one read with `expected`
    /// (`None`: if there is still none). Returns the new ETag; a lost race
    /// is `StoreError::PreconditionFailed`.
    pub async fn commit(
        &self,
        state: CatalogState,
        expected: Option<&str>,
    ) -> Result<String, StateStoreError> {
        let location = self.store.location(STATE_KEY);
        let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, StateError> {
            // About 17 compressed bytes an item: sized up front, the buffer
            // is not doubled (and copied) while a large state is written.
            let estimate = state.len().saturating_mul(20).saturating_add(4096);
            let encoder = zstd::stream::write::Encoder::new(Vec::with_capacity(estimate), 3)?;
            let encoder = state.save(encoder)?;
            Ok(encoder.finish()?)
        })
        .await
        .map_err(|e| StateStoreError::Join(e.to_string()))?
        .map_err(|source| StateStoreError::State { location, source })?;
        let precondition = match expected {
            Some(etag) => Precondition::IfMatch(etag.to_owned()),
            None => Precondition::IfNoneMatch,
        };
        let info = self
            .store
            .put(STATE_KEY, bytes, precondition, &Metadata::new())
            .await?;
        Ok(info.etag)
    }

    /// Claims catalog version `claim.version`, or returns the claim already there.
    pub async fn claim(&self, claim: &Claim) -> Result<ClaimResult, StateStoreError> {
        let key = claim_key(claim.version);
        let body = to_json(claim);
        match self
            .store
            .put(&key, body, Precondition::IfNoneMatch, &Metadata::new())
            .await
        {
            Ok(_) => Ok(ClaimResult::Made(claim.clone())),
            Err(StoreError::PreconditionFailed { .. }) => {
                let (existing, etag) = self.read_json::<Claim>(&key).await?;
                Ok(ClaimResult::Exists(existing, etag))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Replaces an abandoned claim (compare-and-swap on its ETag).
    pub async fn take_over(
        &self,
        claim: &Claim,
        abandoned_etag: &str,
    ) -> Result<(), StateStoreError> {
        self.store
            .put(
                &claim_key(claim.version),
                to_json(claim),
                Precondition::IfMatch(abandoned_etag.to_owned()),
                &Metadata::new(),
            )
            .await?;
        Ok(())
    }

    /// Gives up a claim that built nothing.
    pub async fn release(&self, version: u64) -> Result<(), StateStoreError> {
        self.store.delete(&claim_key(version)).await?;
        Ok(())
    }

    /// Records which export scheduled runs should diff.
    pub async fn set_latest_export(&self, export: &ExportRef) -> Result<(), StateStoreError> {
        self.store
            .put(
                LATEST_EXPORT_KEY,
                to_json(export),
                Precondition::None,
                &Metadata::new(),
            )
            .await?;
        Ok(())
    }

    /// The export scheduled runs should diff, if any was dropped yet.
    pub async fn latest_export(&self) -> Result<Option<ExportRef>, StateStoreError> {
        self.read_record(LATEST_EXPORT_KEY).await
    }

    /// Asks the next build for a full catalog (the last request wins).
    pub async fn request_full(&self, why: &NeedsFull) -> Result<(), StateStoreError> {
        self.store
            .put(
                NEEDS_FULL_KEY,
                to_json(why),
                Precondition::None,
                &Metadata::new(),
            )
            .await?;
        Ok(())
    }

    /// Whether a full catalog was asked for, and why.
    pub async fn needs_full(&self) -> Result<Option<NeedsFull>, StateStoreError> {
        self.read_record(NEEDS_FULL_KEY).await
    }

    /// Clears the request once a full catalog is built.
    pub async fn clear_needs_full(&self) -> Result<(), StateStoreError> {
        self.store.delete(NEEDS_FULL_KEY).await?;
        Ok(())
    }

    /// Reads a JSON record under `state/`; `None` when absent.
    pub async fn read_record<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StateStoreError> {
        match self.read_json::<T>(key).await {
            Ok((value, _)) => Ok(Some(value)),
            Err(StateStoreError::Store(StoreError::NotFound { .. })) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Writes a ledger record once (a second write of the same record is fine).
    pub async fn record<T: Serialize>(&self, key: &str, record: &T) -> Result<(), StateStoreError> {
        match self
            .store
            .put(
                key,
                to_json(record),
                Precondition::IfNoneMatch,
                &Metadata::new(),
            )
            .await
        {
            Ok(_) | Err(StoreError::PreconditionFailed { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    async fn read_json<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<(T, String), StateStoreError> {
        let (info, body) = self.store.get(key).await?;
        let mut bytes = Vec::new();
        let mut bridge = SyncIoBridge::new(body);
        let bytes =
            tokio::task::spawn_blocking(move || bridge.read_to_end(&mut bytes).map(|_| bytes))
                .await
                .map_err(|e| StateStoreError::Join(e.to_string()))?
                .map_err(|source| StoreError::Io {
                    location: self.store.location(key),
                    source,
                })?;
        let value = serde_json::from_slice(&bytes).map_err(|e| StateStoreError::Record {
            location: self.store.location(key),
            message: e.to_string(),
        })?;
        Ok((value, info.etag))
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    serde_json::to_vec_pretty(value).unwrap_or_default()
}
