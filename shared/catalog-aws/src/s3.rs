//! [`S3Store`]: the object store port on one S3 bucket, through the AWS SDK.
//!
//! Conditional writes are S3's own (`If-None-Match: *` to create once,
//! `If-Match: <etag>` to compare-and-swap), so two functions racing on the
//! same key cannot both win. The streaming [`ObjectWriter`] is a multipart
//! upload driven from a blocking thread: it holds one part in memory, sends
//! each full part with `UploadPart`, and completes the upload on `finish`
//! (with `If-None-Match: *` when it must create the object once). An upload
//! that fails, is aborted, or is dropped unfinished is aborted on S3, so no
//! parts are left to bill. An object no larger than one part goes up in a
//! single `PutObject`. Parts carry the SDK's default checksum (CRC32, checked
//! by S3 per part); the completion names the parts by ETag only, which is
//! what S3 expects of an upload created without a checksum algorithm.
//!
//! Copies (`copy`, and `copy_from` another bucket) are server-side, made
//! with this store's client: one `CopyObject` up to the multipart-copy
//! threshold (5 GiB, the most `CopyObject` takes), above it a multipart
//! upload whose parts are `UploadPartCopy` ranges of the source, aborted on
//! error or when the copy is dropped unfinished. Every part names the source's
//! ETag (`x-amz-copy-source-if-match`), so a source replaced during the copy
//! fails it instead of mixing versions. The destination's precondition is
//! checked with `HeadObject` first (emulators such as moto 5.2.5 ignore it on
//! `CopyObject`; that check is not atomic) and sent with the write too.
//!
//! [`S3Store::with_bucket_owner_full_control`] makes every object this store
//! writes (`PutObject`, `CopyObject`, `CreateMultipartUpload`) carry the
//! canned ACL `bucket-owner-full-control`, which a destination bucket owned
//! by another account may require.
//!
//! Limits: a streamed object may have at most 10,000 parts (48 GiB at the
//! minimum part size).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::mpsc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, MetadataDirective, ObjectCannedAcl,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::runtime::Handle;

use crate::store::{
    Body, Metadata, ObjectInfo, ObjectStore, ObjectWriter, Precondition, StoreError,
};

/// The smallest part S3 accepts, except for the last one.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// The largest part S3 accepts.
const MAX_PART_SIZE: usize = 5 * 1024 * 1024 * 1024;

/// The most parts one multipart upload may have.
const MAX_PARTS: usize = 10_000;

/// The largest object one `CopyObject` can copy: the default multipart-copy
/// threshold.
pub const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// The default part size of a multipart copy (grown if a source would need
/// more than 10,000 parts).
pub const COPY_PART_SIZE: u64 = 512 * 1024 * 1024;

/// How long dropping an unfinished writer waits for its `AbortMultipartUpload`.
const ABORT_ON_DROP_TIMEOUT: Duration = Duration::from_secs(30);

/// What `x-amz-copy-source` leaves unescaped in a key: RFC 3986 unreserved
/// characters and the `/` separators.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// One S3 bucket as an [`ObjectStore`].
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// The runtime the streaming writer blocks on (it runs on a blocking thread).
    handle: Handle,
    /// `ListObjectsV2` page size; `None` leaves S3's default (1,000).
    list_page_size: Option<i32>,
    /// Sources larger than this are copied in parts with `UploadPartCopy`.
    multipart_copy_threshold: u64,
    /// The part size of a multipart copy.
    copy_part_size: u64,
    /// The canned ACL every object this store writes carries, if any.
    acl: Option<ObjectCannedAcl>,
}

impl S3Store {
    /// A store on `bucket`; `handle` is the runtime whose blocking threads
    /// drive [`ObjectStore::writer`] (usually `Handle::current()`).
    pub fn new(client: Client, bucket: impl Into<String>, handle: Handle) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            handle,
            list_page_size: None,
            multipart_copy_threshold: MAX_SINGLE_COPY,
            copy_part_size: COPY_PART_SIZE,
            acl: None,
        }
    }

    /// Lists in pages of at most `keys` keys (S3's default is 1,000); small
    /// pages let tests exercise the pagination.
    #[must_use]
    pub fn with_list_page_size(mut self, keys: i32) -> Self {
        self.list_page_size = Some(keys);
        self
    }

    /// Copies sources larger than `threshold` bytes (at most 5 GiB, the
    /// default) as multipart copies in parts of `part_size` bytes (5 MiB to
    /// 5 GiB; 512 MiB by default); small values let tests exercise it.
    #[must_use]
    pub fn with_multipart_copy(mut self, threshold: u64, part_size: u64) -> Self {
        self.multipart_copy_threshold = threshold.min(MAX_SINGLE_COPY);
        self.copy_part_size = part_size.clamp(MIN_PART_SIZE as u64, MAX_PART_SIZE as u64);
        self
    }

    /// Every `PutObject`, `CopyObject` and `CreateMultipartUpload` this store
    /// makes carries the canned ACL `bucket-owner-full-control`, as a bucket
    /// of another account may require (a bucket with `BucketOwnerEnforced`
    /// ownership accepts it too). Off by default.
    #[must_use]
    pub fn with_bucket_owner_full_control(mut self) -> Self {
        self.acl = Some(ObjectCannedAcl::BucketOwnerFullControl);
        self
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The SDK client the store calls.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl S3Store {
    /// The one copy: `from` in `source` (this bucket or another) to `to` in
    /// this bucket; see the module docs. The source is read (`HeadObject`)
    /// with its own store's client, the copy is made with this store's. With
    /// `metadata`, the copy carries it instead of the source's.
    async fn copy_object(
        &self,
        source: &S3Store,
        from: &str,
        to: &str,
        precondition: &Precondition,
        metadata: Option<&Metadata>,
        source_etag: Option<&str>,
    ) -> Result<ObjectInfo, StoreError> {
        let info = source
            .head(from)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                location: source.location(from),
            })?;
        // The copy is made with `x-amz-copy-source-if-match` on this ETag.
        if let Some(expected) = source_etag
            && expected.trim_matches('"') != info.etag.trim_matches('"')
        {
            return Err(StoreError::SourceChanged {
                location: source.location(from),
                expected: expected.to_owned(),
                found: info.etag,
            });
        }
        // S3 checks the destination's precondition itself; emulators that
        // ignore those headers on CopyObject (moto 5.2.5) still get this check,
        // which is not atomic.
        let current = match precondition {
            Precondition::None => None,
            Precondition::IfNoneMatch | Precondition::IfMatch(_) => self.head(to).await?,
        };
        let holds = match (precondition, &current) {
            (Precondition::None, _) | (Precondition::IfNoneMatch, None) => true,
            (Precondition::IfNoneMatch, Some(_)) | (Precondition::IfMatch(_), None) => false,
            (Precondition::IfMatch(etag), Some(current)) => current.etag == *etag,
        };
        if !holds {
            return Err(StoreError::PreconditionFailed {
                location: self.location(to),
            });
        }

        let source = CopySource {
            header: format!(
                "{}/{}",
                source.bucket,
                utf8_percent_encode(from, COPY_SOURCE)
            ),
            location: source.location(from),
            info,
        };
        let etag = if source.info.size > self.multipart_copy_threshold {
            let metadata = metadata.unwrap_or(&source.info.metadata);
            self.multipart_copy(&source, to, precondition, metadata)
                .await?
        } else {
            self.single_copy(&source, to, precondition, metadata)
                .await?
        };
        Ok(ObjectInfo {
            key: to.to_owned(),
            size: source.info.size,
            etag,
            metadata: metadata.cloned().unwrap_or(source.info.metadata),
            last_modified: None,
        })
    }

    /// One `CopyObject`; returns the copy's ETag.
    async fn single_copy(
        &self,
        source: &CopySource,
        to: &str,
        precondition: &Precondition,
        metadata: Option<&Metadata>,
    ) -> Result<String, StoreError> {
        // Copy exactly the version that was read, so size and metadata match.
        let mut request = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(&source.header)
            .copy_source_if_match(&source.info.etag)
            .set_acl(self.acl.clone());
        if let Some(metadata) = metadata {
            request = request
                .metadata_directive(MetadataDirective::Replace)
                .set_metadata(sdk_metadata(metadata));
        }
        request = match precondition {
            Precondition::None => request,
            Precondition::IfNoneMatch => request.if_none_match("*"),
            Precondition::IfMatch(etag) => request.if_match(etag),
        };
        let output = request.send().await.map_err(|error| {
            match classify(error, "CopyObject", self.location(to)) {
                StoreError::NotFound { .. } if matches!(precondition, Precondition::IfMatch(_)) => {
                    StoreError::PreconditionFailed {
                        location: self.location(to),
                    }
                }
                StoreError::NotFound { .. } => StoreError::NotFound {
                    location: source.location.clone(),
                },
                other => other,
            }
        })?;
        etag_of(
            output
                .copy_object_result()
                .and_then(|result| result.e_tag()),
            "CopyObject",
            || self.location(to),
        )
    }

    /// A multipart upload of `UploadPartCopy` ranges, aborted unless it
    /// completes; returns the copy's ETag.
    async fn multipart_copy(
        &self,
        source: &CopySource,
        to: &str,
        precondition: &Precondition,
        metadata: &Metadata,
    ) -> Result<String, StoreError> {
        let output = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(to)
            .set_metadata(sdk_metadata(metadata))
            .set_acl(self.acl.clone())
            .send()
            .await
            .map_err(|error| classify(error, "CreateMultipartUpload", self.location(to)))?;
        let Some(id) = output.upload_id() else {
            return Err(StoreError::Service {
                location: self.location(to),
                operation: "CreateMultipartUpload",
                message: "the answer carried no upload id".to_owned(),
            });
        };
        let upload = PendingUpload {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: to.to_owned(),
            handle: self.handle.clone(),
            id: Some(id.to_owned()),
        };
        let result = self.copy_parts(source, to, id, precondition).await;
        match &result {
            Ok(_) => upload.completed(),
            Err(_) => upload.abort().await,
        }
        result
    }

    /// Copies the source into upload `id` range by range, then completes the
    /// upload under the destination's precondition; returns its ETag.
    async fn copy_parts(
        &self,
        source: &CopySource,
        to: &str,
        id: &str,
        precondition: &Precondition,
    ) -> Result<String, StoreError> {
        let size = source.info.size;
        let part_size = copy_part_size(self.copy_part_size, size);
        let mut parts = Vec::new();
        let mut start = 0;
        while start < size {
            let end = start.saturating_add(part_size).min(size);
            let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
            let output = self
                .client
                .upload_part_copy()
                .bucket(&self.bucket)
                .key(to)
                .upload_id(id)
                .part_number(number)
                .copy_source(&source.header)
                .copy_source_range(format!("bytes={start}-{}", end - 1))
                .copy_source_if_match(&source.info.etag)
                .send()
                .await
                .map_err(
                    |error| match classify(error, "UploadPartCopy", self.location(to)) {
                        // A part's only conditions are on the source: it is gone,
                        // or it changed since it was read.
                        StoreError::NotFound { .. } => StoreError::NotFound {
                            location: source.location.clone(),
                        },
                        StoreError::PreconditionFailed { .. } => StoreError::PreconditionFailed {
                            location: source.location.clone(),
                        },
                        other => other,
                    },
                )?;
            let etag = etag_of(
                output.copy_part_result().and_then(|result| result.e_tag()),
                "UploadPartCopy",
                || self.location(to),
            )?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(etag)
                    .build(),
            );
            start = end;
        }
        let mut request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(to)
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        request = match precondition {
            Precondition::None => request,
            Precondition::IfNoneMatch => request.if_none_match("*"),
            Precondition::IfMatch(etag) => request.if_match(etag),
        };
        let output = request.send().await.map_err(|error| {
            match classify(error, "CompleteMultipartUpload", self.location(to)) {
                // If-Match on an absent key: S3 answers 404.
                StoreError::NotFound { location }
                    if matches!(precondition, Precondition::IfMatch(_)) =>
                {
                    StoreError::PreconditionFailed { location }
                }
                other => other,
            }
        })?;
        etag_of(output.e_tag(), "CompleteMultipartUpload", || {
            self.location(to)
        })
    }
}

/// The part size of a multipart copy of `size` bytes: the configured one,
/// grown if the copy would need more than 10,000 parts.
fn copy_part_size(configured: u64, size: u64) -> u64 {
    configured.max(size.div_ceil(MAX_PARTS as u64))
}

/// The source of a copy: the version of it that was read.
#[derive(Debug)]
struct CopySource {
    /// `bucket/key` for `x-amz-copy-source`, the key percent-encoded.
    header: String,
    /// `s3://bucket/key`, for messages.
    location: String,
    /// Its size, ETag and metadata when the copy started.
    info: ObjectInfo,
}

/// A multipart copy in progress: aborted unless completed, in the background
/// if it is dropped (a cancelled copy).
#[derive(Debug)]
struct PendingUpload {
    client: Client,
    bucket: String,
    key: String,
    handle: Handle,
    /// `None` once completed or aborted.
    id: Option<String>,
}

impl PendingUpload {
    /// The upload completed: nothing to abort.
    fn completed(mut self) {
        self.id = None;
    }

    /// Aborts the upload now.
    async fn abort(mut self) {
        if let Some(abort) = self.take_abort() {
            abort.await;
        }
    }

    /// The abort to run, once.
    fn take_abort(&mut self) -> Option<impl Future<Output = ()> + Send + 'static> {
        let id = self.id.take()?;
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        Some(async move {
            if let Err(error) = abort_multipart_upload(&client, &bucket, &key, &id).await {
                tracing::warn!(location = %location(&bucket, &key), %error, "could not abort a multipart copy; a lifecycle rule must clean it up");
            }
        })
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if let Some(abort) = self.take_abort() {
            self.handle.spawn(abort);
        }
    }
}

impl ObjectStore for S3Store {
    fn location(&self, key: &str) -> String {
        location(&self.bucket, key)
    }

    async fn get(&self, key: &str) -> Result<(ObjectInfo, Body), StoreError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| classify(error, "GetObject", self.location(key)))?;
        let info = ObjectInfo {
            key: key.to_owned(),
            size: size_of(output.content_length(), "GetObject", || self.location(key))?,
            etag: etag_of(output.e_tag(), "GetObject", || self.location(key))?,
            metadata: metadata_of(output.metadata()),
            last_modified: output.last_modified().map(|t| t.secs()),
        };
        let body: Body = Box::pin(output.body.into_async_read());
        Ok((info, body))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let result = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let output = match result.map_err(|error| classify(error, "HeadObject", self.location(key)))
        {
            Ok(output) => output,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        Ok(Some(ObjectInfo {
            key: key.to_owned(),
            size: size_of(output.content_length(), "HeadObject", || self.location(key))?,
            etag: etag_of(output.e_tag(), "HeadObject", || self.location(key))?,
            metadata: metadata_of(output.metadata()),
            last_modified: output.last_modified().map(|t| t.secs()),
        }))
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Precondition,
        metadata: &Metadata,
    ) -> Result<ObjectInfo, StoreError> {
        put_object(
            &self.client,
            &self.bucket,
            key,
            body,
            &precondition,
            metadata,
            self.acl.clone(),
        )
        .await
    }

    async fn copy(
        &self,
        from: &str,
        to: &str,
        precondition: Precondition,
        metadata: Option<&Metadata>,
    ) -> Result<ObjectInfo, StoreError> {
        self.copy_object(self, from, to, &precondition, metadata, None)
            .await
    }

    async fn copy_from(
        &self,
        source: &S3Store,
        from: &str,
        to: &str,
        precondition: Precondition,
    ) -> Result<ObjectInfo, StoreError> {
        self.copy_object(source, from, to, &precondition, None, None)
            .await
    }

    async fn copy_version_from(
        &self,
        source: &S3Store,
        from: &str,
        source_etag: &str,
        to: &str,
        precondition: Precondition,
    ) -> Result<ObjectInfo, StoreError> {
        self.copy_object(source, from, to, &precondition, None, Some(source_etag))
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut objects = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let output = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_max_keys(self.list_page_size)
                .set_continuation_token(continuation.take())
                .send()
                .await
                .map_err(|error| classify(error, "ListObjectsV2", self.location(prefix)))?;
            for object in output.contents() {
                let Some(key) = object.key() else { continue };
                objects.push(ObjectInfo {
                    key: key.to_owned(),
                    size: size_of(object.size(), "ListObjectsV2", || self.location(key))?,
                    etag: etag_of(object.e_tag(), "ListObjectsV2", || self.location(key))?,
                    metadata: Metadata::new(),
                    last_modified: object.last_modified().map(|t| t.secs()),
                });
            }
            match (output.is_truncated(), output.next_continuation_token()) {
                (Some(true), Some(token)) => continuation = Some(token.to_owned()),
                (Some(true), None) => {
                    return Err(StoreError::Service {
                        location: self.location(prefix),
                        operation: "ListObjectsV2",
                        message: "a truncated listing came without a continuation token".to_owned(),
                    });
                }
                _ => break,
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match result.map_err(|error| classify(error, "DeleteObject", self.location(key))) {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    fn writer(
        &self,
        key: &str,
        metadata: &Metadata,
        part_size: usize,
        create_once: bool,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        Ok(Box::new(S3Writer {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            handle: self.handle.clone(),
            metadata: metadata.clone(),
            acl: self.acl.clone(),
            part_size: part_size.clamp(MIN_PART_SIZE, MAX_PART_SIZE),
            create_once,
            buffer: Vec::new(),
            upload: None,
            size: 0,
            failed: None,
            done: false,
        }))
    }
}

/// `s3://bucket/key`, for messages.
fn location(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// `PutObject` under a precondition, with the store's canned ACL if any;
/// shared by `put` and the writer's single-part path.
async fn put_object(
    client: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    precondition: &Precondition,
    metadata: &Metadata,
    acl: Option<ObjectCannedAcl>,
) -> Result<ObjectInfo, StoreError> {
    let size = body.len() as u64;
    let mut request = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .set_metadata(sdk_metadata(metadata))
        .set_acl(acl);
    request = match precondition {
        Precondition::None => request,
        Precondition::IfNoneMatch => request.if_none_match("*"),
        Precondition::IfMatch(etag) => request.if_match(etag),
    };
    let output = request.send().await.map_err(|error| {
        match classify(error, "PutObject", location(bucket, key)) {
            // If-Match on an absent key: S3 answers 404; for the caller the
            // object is simply not the one it read.
            StoreError::NotFound { location }
                if matches!(precondition, Precondition::IfMatch(_)) =>
            {
                StoreError::PreconditionFailed { location }
            }
            other => other,
        }
    })?;
    Ok(ObjectInfo {
        key: key.to_owned(),
        size,
        etag: etag_of(output.e_tag(), "PutObject", || location(bucket, key))?,
        metadata: metadata.clone(),
        last_modified: None,
    })
}

/// Turns an SDK error into the port's error. S3 gives no typed variant for a
/// failed condition: it is the code `PreconditionFailed` (HTTP 412).
fn classify<E>(
    error: SdkError<E, HttpResponse>,
    operation: &'static str,
    location: String,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error
        .raw_response()
        .map(|response| response.status().as_u16());
    match (error.code(), status) {
        (Some("PreconditionFailed"), _) | (_, Some(412)) => {
            StoreError::PreconditionFailed { location }
        }
        (Some("NoSuchKey" | "NotFound"), _) | (None, Some(404)) => {
            StoreError::NotFound { location }
        }
        (Some(code), _) => {
            let message = error.message().unwrap_or("no message");
            let status = status
                .map(|status| format!(" (HTTP {status})"))
                .unwrap_or_default();
            StoreError::Service {
                location,
                operation,
                message: format!("{code}: {message}{status}"),
            }
        }
        (None, _) => StoreError::Service {
            location,
            operation,
            message: DisplayErrorContext(&error).to_string(),
        },
    }
}

fn etag_of(
    etag: Option<&str>,
    operation: &'static str,
    location: impl FnOnce() -> String,
) -> Result<String, StoreError> {
    match etag {
        Some(etag) if !etag.is_empty() => Ok(etag.to_owned()),
        _ => Err(StoreError::Service {
            location: location(),
            operation,
            message: "the answer carried no ETag".to_owned(),
        }),
    }
}

fn size_of(
    size: Option<i64>,
    operation: &'static str,
    location: impl FnOnce() -> String,
) -> Result<u64, StoreError> {
    size.and_then(|size| u64::try_from(size).ok())
        .ok_or_else(|| StoreError::Service {
            location: location(),
            operation,
            message: "the answer carried no object size".to_owned(),
        })
}

fn metadata_of(metadata: Option<&HashMap<String, String>>) -> Metadata {
    metadata
        .map(|metadata| {
            metadata
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn sdk_metadata(metadata: &Metadata) -> Option<HashMap<String, String>> {
    (!metadata.is_empty()).then(|| {
        metadata
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    })
}

/// A multipart upload in progress.
#[derive(Debug)]
struct Upload {
    id: String,
    parts: Vec<CompletedPart>,
}

/// The streaming writer: see the module docs.
#[derive(Debug)]
struct S3Writer {
    client: Client,
    bucket: String,
    key: String,
    handle: Handle,
    metadata: Metadata,
    /// The store's canned ACL, if any.
    acl: Option<ObjectCannedAcl>,
    part_size: usize,
    create_once: bool,
    /// The part being filled; sent when it is full and more bytes come.
    buffer: Vec<u8>,
    /// Started with the first full part.
    upload: Option<Upload>,
    /// Bytes written so far.
    size: u64,
    /// The first failure; the upload is aborted by then.
    failed: Option<StoreError>,
    /// Finished or aborted: nothing left to clean up.
    done: bool,
}

impl S3Writer {
    fn location(&self) -> String {
        location(&self.bucket, &self.key)
    }

    /// Sends the buffered part, starting the multipart upload first if needed.
    fn send_part(&mut self) -> Result<(), StoreError> {
        if self.upload.is_none() {
            let output = self
                .handle
                .block_on(
                    self.client
                        .create_multipart_upload()
                        .bucket(&self.bucket)
                        .key(&self.key)
                        .set_metadata(sdk_metadata(&self.metadata))
                        .set_acl(self.acl.clone())
                        .send(),
                )
                .map_err(|error| classify(error, "CreateMultipartUpload", self.location()))?;
            let Some(id) = output.upload_id() else {
                return Err(StoreError::Service {
                    location: self.location(),
                    operation: "CreateMultipartUpload",
                    message: "the answer carried no upload id".to_owned(),
                });
            };
            self.upload = Some(Upload {
                id: id.to_owned(),
                parts: Vec::new(),
            });
        }
        let location = self.location();
        let Some(upload) = self.upload.as_mut() else {
            return Err(StoreError::Service {
                location,
                operation: "UploadPart",
                message: "no multipart upload in progress".to_owned(),
            });
        };
        if upload.parts.len() >= MAX_PARTS {
            return Err(StoreError::Service {
                location,
                operation: "UploadPart",
                message: format!(
                    "the object needs more than {MAX_PARTS} parts of {} bytes; write it with a larger part size",
                    self.part_size
                ),
            });
        }
        let number = i32::try_from(upload.parts.len() + 1).unwrap_or(i32::MAX);
        // The full buffer goes to the request; a fresh one fills meanwhile,
        // so memory stays at about two parts.
        let part = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.part_size));
        let output = self
            .handle
            .block_on(
                self.client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .upload_id(&upload.id)
                    .part_number(number)
                    .body(ByteStream::from(part))
                    .send(),
            )
            .map_err(|error| classify(error, "UploadPart", location.clone()))?;
        let etag = etag_of(output.e_tag(), "UploadPart", || location.clone())?;
        upload.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(etag)
                .build(),
        );
        Ok(())
    }

    /// Sends what is left and makes the object appear.
    fn complete(&mut self) -> Result<ObjectInfo, StoreError> {
        if self.upload.is_none() {
            let precondition = if self.create_once {
                Precondition::IfNoneMatch
            } else {
                Precondition::None
            };
            let body = std::mem::take(&mut self.buffer);
            let mut info = self.handle.block_on(put_object(
                &self.client,
                &self.bucket,
                &self.key,
                body,
                &precondition,
                &self.metadata,
                self.acl.clone(),
            ))?;
            info.size = self.size;
            return Ok(info);
        }
        if !self.buffer.is_empty() {
            self.send_part()?;
        }
        let location = self.location();
        let Some(upload) = self.upload.as_ref() else {
            return Err(StoreError::Service {
                location,
                operation: "CompleteMultipartUpload",
                message: "no multipart upload in progress".to_owned(),
            });
        };
        let mut request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&upload.id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(upload.parts.clone()))
                    .build(),
            );
        if self.create_once {
            request = request.if_none_match("*");
        }
        let output = self
            .handle
            .block_on(request.send())
            .map_err(|error| classify(error, "CompleteMultipartUpload", location.clone()))?;
        let etag = etag_of(output.e_tag(), "CompleteMultipartUpload", || {
            location.clone()
        })?;
        // Completed: there is nothing left to abort.
        self.upload = None;
        Ok(ObjectInfo {
            key: self.key.clone(),
            size: self.size,
            etag,
            metadata: self.metadata.clone(),
            last_modified: None,
        })
    }

    /// Records the first failure and aborts the upload, so later calls fail
    /// fast and nothing is left on S3.
    fn fail(&mut self, error: StoreError) -> io::Error {
        let message = error.to_string();
        self.abort_upload();
        self.failed = Some(error);
        io::Error::other(message)
    }

    /// Aborts the multipart upload, if one was started. Blocks: call it from
    /// a blocking thread.
    fn abort_upload(&mut self) {
        if let Some(upload) = self.upload.take() {
            let result = self.handle.block_on(abort_multipart_upload(
                &self.client,
                &self.bucket,
                &self.key,
                &upload.id,
            ));
            if let Err(error) = result {
                tracing::warn!(location = %self.location(), %error, "could not abort a multipart upload; a lifecycle rule must clean it up");
            }
        }
    }

    /// Aborts from `Drop`, which may run anywhere (even on an async worker
    /// thread, where `block_on` would panic): a short-lived thread blocks on
    /// the runtime instead, and `Drop` waits for it a bounded time.
    fn abort_upload_from_drop(&mut self) {
        let Some(upload) = self.upload.take() else {
            return;
        };
        let (client, bucket, key, handle) = (
            self.client.clone(),
            self.bucket.clone(),
            self.key.clone(),
            self.handle.clone(),
        );
        let (sender, receiver) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("s3-abort-upload".to_owned())
            .spawn(move || {
                let result =
                    handle.block_on(abort_multipart_upload(&client, &bucket, &key, &upload.id));
                let _ = sender.send(result);
            });
        let outcome = match spawned {
            Ok(_) => receiver
                .recv_timeout(ABORT_ON_DROP_TIMEOUT)
                .unwrap_or_else(|_| Err("no answer in time".to_owned())),
            Err(error) => Err(format!("cannot start a thread: {error}")),
        };
        if let Err(error) = outcome {
            tracing::warn!(location = %self.location(), %error, "could not abort a dropped multipart upload; a lifecycle rule must clean it up");
        }
    }
}

async fn abort_multipart_upload(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), String> {
    client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|error| DisplayErrorContext(&error).to_string())
}

impl io::Write for S3Writer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(error) = &self.failed {
            return Err(io::Error::other(format!(
                "the upload already failed: {error}"
            )));
        }
        if self.done {
            return Err(io::Error::other(format!(
                "{}: the upload is closed",
                self.location()
            )));
        }
        if data.is_empty() {
            return Ok(0);
        }
        // A full part is sent only when more bytes come, so an object of
        // exactly one part still goes up in one PutObject.
        if self.buffer.len() >= self.part_size
            && let Err(error) = self.send_part()
        {
            return Err(self.fail(error));
        }
        if self.buffer.capacity() == 0 {
            self.buffer.reserve_exact(self.part_size);
        }
        let room = self.part_size - self.buffer.len();
        let taken = room.min(data.len());
        self.buffer.extend_from_slice(&data[..taken]);
        self.size += taken as u64;
        Ok(taken)
    }

    /// Does nothing: S3 takes parts of at least 5 MiB, so bytes wait in the
    /// buffer until a part is full or the writer finishes.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ObjectWriter for S3Writer {
    fn finish(mut self: Box<Self>) -> Result<ObjectInfo, StoreError> {
        if let Some(error) = self.failed.take() {
            self.done = true;
            return Err(error);
        }
        let result = self.complete();
        if result.is_err() {
            self.abort_upload();
        }
        self.done = true;
        result
    }

    fn abort(mut self: Box<Self>) {
        self.abort_upload();
        self.done = true;
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if !self.done {
            self.abort_upload_from_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_copy_never_needs_more_than_10000_parts() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(copy_part_size(COPY_PART_SIZE, 12 * MIB), COPY_PART_SIZE);
        assert_eq!(copy_part_size(5 * MIB, 12 * MIB), 5 * MIB);
        // The largest S3 object, 5 TiB, at the minimum and default part sizes.
        let largest = 5 * 1024 * 1024 * MIB;
        for configured in [5 * MIB, COPY_PART_SIZE] {
            let part_size = copy_part_size(configured, largest);
            assert!(part_size >= configured);
            assert!(part_size <= MAX_PART_SIZE as u64, "{part_size}");
            assert!(
                largest.div_ceil(part_size) <= MAX_PARTS as u64,
                "{part_size}"
            );
        }
    }
}
