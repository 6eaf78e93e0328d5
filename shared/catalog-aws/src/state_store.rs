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
//! - `state/latest-export.json`: the newest export built, which scheduled
//!   runs diff. It only moves forward (compare-and-swap, ordered by
//!   [`ExportRef::order`]), so a late or repeated message for an older export
//!   can never point the schedules back at it.
//! - `state/needs-full/<catalog name>.json`: one marker per catalog the gate
//!   refused that the builder made (the state already counts it as sent);
//!   the next build sends a full catalog, which puts Amazon back in line with
//!   the state, and deletes exactly the markers it saw — a marker written
//!   while it built stays for the build after.
//! - `state/overrides/allow-shrink.json`: put there by an operator, it lets
//!   the next build past the shrink and removal guards once; that build
//!   deletes it when it commits.
//!
//! Reading and writing the state is blocking work (zstd, JSON) and runs on
//! a blocking thread.

use std::io::Read;

use catalog_core::SubmissionType;
use catalog_core::state::{CatalogState, StateError};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio_util::io::SyncIoBridge;

use crate::store::{Metadata, ObjectStore, Precondition, StoreError};

/// Where the catalog state lives in the work bucket.
pub const STATE_KEY: &str = "state/catalog-state.jsonl.zst";
/// Which export scheduled runs diff.
pub const LATEST_EXPORT_KEY: &str = "state/latest-export.json";

/// The gate's requests for a full catalog, one object per refused catalog.
pub const NEEDS_FULL_PREFIX: &str = "state/needs-full/";

/// The operator's one-shot override of the shrink and removal guards.
pub const ALLOW_SHRINK_KEY: &str = "state/overrides/allow-shrink.json";

/// The marker key for a refused catalog.
pub fn needs_full_key(catalog_name: &str) -> String {
    format!("{NEEDS_FULL_PREFIX}{catalog_name}.json")
}

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

pub use catalog_core::ledger::ExportRef;

/// Who is building a catalog version, from which export, at which time, of
/// which type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The catalog version being built.
    pub version: u64,
    /// The export it is built from.
    pub export: ExportRef,
    /// The time the build uses (Unix seconds): the trigger's time.
    pub now: i64,
    /// Full or update: a build of another type waits for this one.
    /// Claims written before this field existed read as updates.
    #[serde(default)]
    pub kind: ClaimKind,
    /// The catalog's name (`catalog-<time>-<type>.xml.zst`).
    #[serde(default)]
    pub name: String,
    /// Whether the build may pass the shrink and removal guards (the
    /// operator's override was there when it was claimed).
    #[serde(default)]
    pub allow_shrink: bool,
    /// When the claim was made (Unix seconds), to spot abandoned ones.
    pub claimed_at: i64,
}

/// The submission type a claim pins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimKind {
    /// `CATALOG_FULL`.
    Full,
    /// `CATALOG_UPDATE`.
    #[default]
    Update,
}

impl From<SubmissionType> for ClaimKind {
    fn from(kind: SubmissionType) -> ClaimKind {
        match kind {
            SubmissionType::Full => ClaimKind::Full,
            SubmissionType::Update => ClaimKind::Update,
        }
    }
}

impl From<ClaimKind> for SubmissionType {
    fn from(kind: ClaimKind) -> SubmissionType {
        match kind {
            ClaimKind::Full => SubmissionType::Full,
            ClaimKind::Update => SubmissionType::Update,
        }
    }
}

/// The latest export and the ETag of the pointer object, for the
/// compare-and-swap that moves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    /// The export.
    pub export: ExportRef,
    /// The pointer's ETag.
    pub etag: String,
}

/// What moving the latest-export pointer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// The pointer names this export now (it did already, or moved to it).
    Latest,
    /// The pointer names a newer export: this one is superseded.
    Older(ExportRef),
}

/// A request for a full catalog found, with the key to delete once one is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullRequest {
    /// The marker's key.
    pub key: String,
    /// What it says.
    pub why: NeedsFull,
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
    /// The claim is ours, just made, with its ETag.
    Made(Claim, String),
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
            Ok(info) => Ok(ClaimResult::Made(claim.clone(), info.etag)),
            Err(StoreError::PreconditionFailed { .. }) => {
                let (existing, etag) = self.read_json::<Claim>(&key).await?;
                Ok(ClaimResult::Exists(existing, etag))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Replaces an abandoned claim (compare-and-swap on its ETag); returns
    /// the new claim's ETag.
    pub async fn take_over(
        &self,
        claim: &Claim,
        abandoned_etag: &str,
    ) -> Result<String, StateStoreError> {
        let info = self
            .store
            .put(
                &claim_key(claim.version),
                to_json(claim),
                Precondition::IfMatch(abandoned_etag.to_owned()),
                &Metadata::new(),
            )
            .await?;
        Ok(info.etag)
    }

    /// The claim of `version` and its ETag, if there is one.
    pub async fn claim_of(&self, version: u64) -> Result<Option<(Claim, String)>, StateStoreError> {
        match self.read_json::<Claim>(&claim_key(version)).await {
            Ok(found) => Ok(Some(found)),
            Err(StateStoreError::Store(StoreError::NotFound { .. })) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Gives up a claim that built nothing.
    pub async fn release(&self, version: u64) -> Result<(), StateStoreError> {
        self.store.delete(&claim_key(version)).await?;
        Ok(())
    }

    /// The export scheduled runs diff, with the pointer's ETag.
    pub async fn latest(&self) -> Result<Option<Latest>, StateStoreError> {
        self.pointer(LATEST_EXPORT_KEY).await
    }

    /// The export a pointer object at `key` names, with its ETag.
    async fn pointer(&self, key: &str) -> Result<Option<Latest>, StateStoreError> {
        match self.read_json::<ExportRef>(key).await {
            Ok((export, etag)) => Ok(Some(Latest { export, etag })),
            Err(StateStoreError::Store(StoreError::NotFound { .. })) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The export scheduled runs should diff, if any was dropped yet.
    pub async fn latest_export(&self) -> Result<Option<ExportRef>, StateStoreError> {
        Ok(self.latest().await?.map(|latest| latest.export))
    }

    /// Moves the latest-export pointer to `export` unless it names a newer
    /// one; compare-and-swap, so two builders never move it backwards.
    pub async fn advance_latest(&self, export: &ExportRef) -> Result<Advance, StateStoreError> {
        self.advance_pointer(LATEST_EXPORT_KEY, export).await
    }

    /// Moves the pointer object at `key` (see [`StateStore::advance_latest`])
    /// to `export` unless it names a newer one. The Buy with Prime feed build
    /// keeps its own (`state/bwp/latest-products.json`).
    pub async fn advance_pointer(
        &self,
        key: &str,
        export: &ExportRef,
    ) -> Result<Advance, StateStoreError> {
        loop {
            let current = self.pointer(key).await?;
            let precondition = match &current {
                Some(latest) if latest.export.same_object(export) => return Ok(Advance::Latest),
                Some(latest) if latest.export.order(export).is_gt() => {
                    return Ok(Advance::Older(latest.export.clone()));
                }
                Some(latest) => Precondition::IfMatch(latest.etag.clone()),
                None => Precondition::IfNoneMatch,
            };
            match self
                .store
                .put(key, to_json(export), precondition, &Metadata::new())
                .await
            {
                Ok(_) => return Ok(Advance::Latest),
                Err(StoreError::PreconditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// Asks the next build for a full catalog because `why.catalog` was refused.
    pub async fn request_full(&self, why: &NeedsFull) -> Result<(), StateStoreError> {
        self.store
            .put(
                &needs_full_key(&why.catalog),
                to_json(why),
                Precondition::None,
                &Metadata::new(),
            )
            .await?;
        Ok(())
    }

    /// The requests for a full catalog standing now.
    pub async fn full_requests(&self) -> Result<Vec<FullRequest>, StateStoreError> {
        let mut requests = Vec::new();
        for object in self.store.list(NEEDS_FULL_PREFIX).await? {
            if let Some(why) = self.read_record::<NeedsFull>(&object.key).await? {
                requests.push(FullRequest {
                    key: object.key,
                    why,
                });
            }
        }
        Ok(requests)
    }

    /// Deletes the requests a full catalog answered (and only those).
    pub async fn clear_full_requests(
        &self,
        answered: &[FullRequest],
    ) -> Result<(), StateStoreError> {
        for request in answered {
            self.store.delete(&request.key).await?;
        }
        Ok(())
    }

    /// The operator's one-shot override of the shrink and removal guards,
    /// with its ETag; `None` when there is none.
    pub async fn allow_shrink_override(&self) -> Result<Option<String>, StateStoreError> {
        Ok(self
            .store
            .head(ALLOW_SHRINK_KEY)
            .await?
            .map(|info| info.etag))
    }

    /// Consumes the override a build used: deleted only if it is still the
    /// object that build read (a new one uploaded since stays).
    pub async fn consume_allow_shrink(&self, etag: &str) -> Result<(), StateStoreError> {
        match self.store.head(ALLOW_SHRINK_KEY).await? {
            Some(info) if info.etag.trim_matches('"') == etag.trim_matches('"') => {
                self.store.delete(ALLOW_SHRINK_KEY).await?;
            }
            _ => {}
        }
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
