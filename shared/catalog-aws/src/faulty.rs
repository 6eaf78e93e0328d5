//! A store that injects faults, for tests and drills: every call is shown
//! to a hook first, which may fail it (a crash before a write, a throttled
//! read) or act on the world (replace an object between two reads). Built
//! only with the `testing` feature.

use std::fmt;
use std::sync::Arc;

use crate::store::{
    Body, Metadata, ObjectInfo, ObjectStore, ObjectWriter, Precondition, StoreError,
};

/// A call about to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// `get(key)`.
    Get(&'a str),
    /// `head(key)`.
    Head(&'a str),
    /// `put(key, …)`.
    Put(&'a str),
    /// `copy(from, to, …)` within the store.
    Copy(&'a str, &'a str),
    /// `copy_from` / `copy_version_from` another store (from, to).
    CopyFrom(&'a str, &'a str),
    /// `list(prefix)`.
    List(&'a str),
    /// `delete(key)`.
    Delete(&'a str),
    /// `writer(key, …)`.
    Writer(&'a str),
}

/// Decides, for each call, whether it fails (with a message) before it is made.
pub type Hook = Arc<dyn Fn(Op<'_>) -> Option<String> + Send + Sync>;

/// `inner`, with every call shown to `hook` first.
#[derive(Clone)]
pub struct Faulty<S> {
    /// The store the calls go to.
    pub inner: S,
    hook: Hook,
}

impl<S> fmt::Debug for Faulty<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Faulty")
    }
}

impl<S: ObjectStore> Faulty<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, hook: impl Fn(Op<'_>) -> Option<String> + Send + Sync + 'static) -> Self {
        Faulty {
            inner,
            hook: Arc::new(hook),
        }
    }

    fn check(&self, op: Op<'_>, key: &str, operation: &'static str) -> Result<(), StoreError> {
        match (self.hook)(op) {
            None => Ok(()),
            Some(message) => Err(StoreError::Service {
                location: self.inner.location(key),
                operation,
                message,
            }),
        }
    }
}

impl<S: ObjectStore + Clone> ObjectStore for Faulty<S> {
    fn location(&self, key: &str) -> String {
        self.inner.location(key)
    }

    async fn get(&self, key: &str) -> Result<(ObjectInfo, Body), StoreError> {
        self.check(Op::Get(key), key, "GetObject")?;
        self.inner.get(key).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        self.check(Op::Head(key), key, "HeadObject")?;
        self.inner.head(key).await
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Precondition,
        metadata: &Metadata,
    ) -> Result<ObjectInfo, StoreError> {
        self.check(Op::Put(key), key, "PutObject")?;
        self.inner.put(key, body, precondition, metadata).await
    }

    async fn copy(
        &self,
        from: &str,
        to: &str,
        precondition: Precondition,
        metadata: Option<&Metadata>,
    ) -> Result<ObjectInfo, StoreError> {
        self.check(Op::Copy(from, to), to, "CopyObject")?;
        self.inner.copy(from, to, precondition, metadata).await
    }

    async fn copy_from(
        &self,
        source: &Self,
        from: &str,
        to: &str,
        precondition: Precondition,
    ) -> Result<ObjectInfo, StoreError> {
        self.check(Op::CopyFrom(from, to), to, "CopyObject")?;
        self.inner
            .copy_from(&source.inner, from, to, precondition)
            .await
    }

    async fn copy_version_from(
        &self,
        source: &Self,
        from: &str,
        source_etag: &str,
        to: &str,
        precondition: Precondition,
    ) -> Result<ObjectInfo, StoreError> {
        self.check(Op::CopyFrom(from, to), to, "CopyObject")?;
        self.inner
            .copy_version_from(&source.inner, from, source_etag, to, precondition)
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.check(Op::List(prefix), prefix, "ListObjectsV2")?;
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check(Op::Delete(key), key, "DeleteObject")?;
        self.inner.delete(key).await
    }

    fn writer(
        &self,
        key: &str,
        metadata: &Metadata,
        part_size: usize,
        create_once: bool,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        self.check(Op::Writer(key), key, "CreateMultipartUpload")?;
        self.inner.writer(key, metadata, part_size, create_once)
    }
}
