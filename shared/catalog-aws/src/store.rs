//! The object store port: what the functions need from a bucket, and nothing more.
//!
//! Two implementations keep the same contract, checked by one contract test
//! suite: [`crate::s3::S3Store`] (a bucket, through the AWS SDK; in tests a
//! real S3 emulator) and [`crate::local::LocalStore`] (a folder: what
//! `catalogctl` and local runs use).
//!
//! The contract:
//! - `put` with [`Precondition::IfNoneMatch`] creates an object once: a second
//!   create of the same key fails with [`StoreError::PreconditionFailed`].
//!   With [`Precondition::IfMatch`] it replaces the object only if its ETag is
//!   still the one given (compare-and-swap), else `PreconditionFailed`.
//! - [`ObjectStore::copy_from`] copies an object from another store of the
//!   same kind (another bucket, another folder) and [`ObjectStore::copy`]
//!   within the store, server-side where the store can, of any size. The copy
//!   has the source's content and metadata (`copy` may replace the metadata)
//!   and is exactly the version of the source read when the copy started: if
//!   the source changes meanwhile, the copy fails rather than mix versions.
//!   The precondition applies to the destination, as in `put`; a missing
//!   source is [`StoreError::NotFound`] naming the source.
//! - [`ObjectStore::writer`] streams an object of any size: a `std::io::Write`
//!   that uploads parts as they fill (memory bounded by about two parts) and
//!   makes the object appear whole on [`ObjectWriter::finish`], never half
//!   written. Dropping it unfinished, or [`ObjectWriter::abort`], leaves
//!   nothing behind. It is blocking I/O: use it from a blocking thread
//!   (`tokio::task::spawn_blocking`), never on the async runtime's threads.
//! - [`ObjectStore::get`] streams the body as an `AsyncRead`; wrap it in
//!   `tokio_util::io::SyncIoBridge` inside a blocking thread to feed a
//!   `std::io::Read` consumer such as `CatalogReader`.
//! - ETags are opaque strings compared as given (quotes included).
//! - User metadata keys are lower-case ASCII; values are ASCII.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;

use thiserror::Error;
use tokio::io::AsyncRead;

/// User metadata on an object (`x-amz-meta-*` on S3).
pub type Metadata = BTreeMap<String, String>;

/// A streamed object body.
pub type Body = Pin<Box<dyn AsyncRead + Send + Sync>>;

/// What a store knows about one object. Two are equal when they describe
/// the same version (key, size, ETag, metadata): `last_modified` is the
/// store's clock, which some calls do not report (a put), not the version.
#[derive(Debug, Clone, Eq)]
pub struct ObjectInfo {
    /// The key within the store.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The entity tag, as the store gives it.
    pub etag: String,
    /// User metadata (empty in listings, which do not carry it).
    pub metadata: Metadata,
    /// When the object was last written, in Unix seconds (S3's
    /// LastModified; a file's modification time), when the store says.
    pub last_modified: Option<i64>,
}

impl PartialEq for ObjectInfo {
    fn eq(&self, other: &ObjectInfo) -> bool {
        self.key == other.key
            && self.size == other.size
            && self.etag == other.etag
            && self.metadata == other.metadata
    }
}

/// A condition on a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Write whatever is there.
    None,
    /// Create only: fail if the key exists (`If-None-Match: *`).
    IfNoneMatch,
    /// Replace only if the current ETag is this one (`If-Match`).
    IfMatch(String),
}

/// What can go wrong talking to a store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// No object at that key.
    #[error("{location}: no such object")]
    NotFound {
        /// `bucket/key` or the local path.
        location: String,
    },
    /// A conditional write lost: the object exists (create-once) or changed (compare-and-swap).
    #[error(
        "{location}: the precondition failed (the object already exists, or changed since it was read)"
    )]
    PreconditionFailed {
        /// `bucket/key` or the local path.
        location: String,
    },
    /// A copy's source is no longer the version it was asked to copy.
    #[error("{location}: changed since it was read (ETag {expected} expected, {found} found)")]
    SourceChanged {
        /// `bucket/key` or the local path of the source.
        location: String,
        /// The ETag asked for.
        expected: String,
        /// The ETag found.
        found: String,
    },
    /// The store refused or failed the call.
    #[error("{location}: {operation} failed: {message}")]
    Service {
        /// `bucket/key` or the local path.
        location: String,
        /// The call, e.g. `PutObject`.
        operation: &'static str,
        /// What the store said, with its error code when it gave one.
        message: String,
    },
    /// Local I/O failed.
    #[error("{location}: {source}")]
    Io {
        /// The local path.
        location: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether a retry of the same call may succeed (throttling, 5xx, a
    /// broken connection), as opposed to a final answer.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Service { .. } | StoreError::Io { .. })
    }
}

/// A streaming upload: write the bytes, then `finish`.
pub trait ObjectWriter: Write + Send {
    /// Uploads what is buffered and makes the object appear whole.
    /// With `create_once`, fails with `PreconditionFailed` if the key exists
    /// by then (and leaves that object as it was).
    fn finish(self: Box<Self>) -> Result<ObjectInfo, StoreError>;

    /// Drops everything uploaded so far; nothing appears at the key.
    fn abort(self: Box<Self>);
}

/// The operations on one bucket (or folder) that the functions use.
pub trait ObjectStore: Send + Sync + 'static {
    /// `bucket/key` (or the path) for messages.
    fn location(&self, key: &str) -> String;

    /// Streams an object.
    fn get(&self, key: &str)
    -> impl Future<Output = Result<(ObjectInfo, Body), StoreError>> + Send;

    /// Reads an object's size, ETag and metadata; `None` when absent.
    fn head(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectInfo>, StoreError>> + Send;

    /// Writes a small object in one call, under a precondition.
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Precondition,
        metadata: &Metadata,
    ) -> impl Future<Output = Result<ObjectInfo, StoreError>> + Send;

    /// Copies an object within the store: [`ObjectStore::copy_from`] this
    /// store. With `metadata`, the copy carries that metadata instead of the
    /// source's.
    fn copy(
        &self,
        from: &str,
        to: &str,
        precondition: Precondition,
        metadata: Option<&Metadata>,
    ) -> impl Future<Output = Result<ObjectInfo, StoreError>> + Send;

    /// Copies `from` in `source` (another bucket or folder reached the same way)
    /// to `to` in this store, server-side where the store can: on S3 a
    /// CopyObject made with *this* store's client (its credentials must be able
    /// to read the source), and above the multipart-copy threshold (5 GiB) a
    /// multipart copy with UploadPartCopy. The copy keeps the source's metadata.
    /// `precondition` applies to `to` like in `put`.
    fn copy_from(
        &self,
        source: &Self,
        from: &str,
        to: &str,
        precondition: Precondition,
    ) -> impl Future<Output = Result<ObjectInfo, StoreError>> + Send
    where
        Self: Sized;

    /// [`ObjectStore::copy_from`], of exactly the version whose ETag is
    /// `source_etag`: on S3 `x-amz-copy-source-if-match`. A source that
    /// changed fails with [`StoreError::SourceChanged`], nothing copied.
    fn copy_version_from(
        &self,
        source: &Self,
        from: &str,
        source_etag: &str,
        to: &str,
        precondition: Precondition,
    ) -> impl Future<Output = Result<ObjectInfo, StoreError>> + Send
    where
        Self: Sized;

    /// Every object whose key starts with `prefix`, in key order.
    fn list(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObjectInfo>, StoreError>> + Send;

    /// Deletes an object; deleting an absent key is not an error.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Starts a streaming upload of `key` in parts of `part_size` bytes
    /// (at least 5 MiB on S3). With `create_once`, `finish` refuses to
    /// replace an existing object. Call from a blocking thread.
    fn writer(
        &self,
        key: &str,
        metadata: &Metadata,
        part_size: usize,
        create_once: bool,
    ) -> Result<Box<dyn ObjectWriter>, StoreError>;
}
