//! The object store contract (see `catalog_aws::store`), checked against both
//! implementations: [`S3Store`] on the moto emulator (a fresh bucket per
//! test) and [`LocalStore`] on a temp folder. Each check is written once,
//! generic over the store; `contract!` at the bottom runs it on both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::sync::Arc;

use catalog_aws::local::LocalStore;
use catalog_aws::s3::S3Store;
use catalog_aws::store::{Metadata, ObjectInfo, ObjectStore, Precondition, StoreError};
use tokio::io::AsyncReadExt;

/// The part size the streaming tests use: S3's minimum.
const PART: usize = 5 * 1024 * 1024;

/// A store under test, and what it leaves behind that it should not.
trait Harness {
    type Store: ObjectStore;

    fn store(&self) -> Arc<Self::Store>;

    /// Another store reached the same way (another bucket, another folder),
    /// for copies between stores.
    async fn other_store(&self, name: &str) -> Arc<Self::Store>;

    /// Unfinished uploads (S3: pending multipart uploads; local: temp and
    /// lock files), which must be none after any write ends.
    async fn leftovers(&self) -> Vec<String>;
}

struct S3Harness {
    store: Arc<S3Store>,
}

impl S3Harness {
    async fn new(test: &str) -> S3Harness {
        let emulator = catalog_testkit::Emulator::get();
        let bucket = emulator.fresh_bucket(test).await;
        let client = emulator.s3().await;
        // Pages of two keys, so every listing test crosses pages.
        let store =
            S3Store::new(client, bucket, tokio::runtime::Handle::current()).with_list_page_size(2);
        S3Harness {
            store: Arc::new(store),
        }
    }
}

impl Harness for S3Harness {
    type Store = S3Store;

    fn store(&self) -> Arc<S3Store> {
        Arc::clone(&self.store)
    }

    async fn other_store(&self, name: &str) -> Arc<S3Store> {
        let bucket = catalog_testkit::Emulator::get().fresh_bucket(name).await;
        let store = S3Store::new(
            self.store.client().clone(),
            bucket,
            tokio::runtime::Handle::current(),
        );
        Arc::new(store.with_list_page_size(2))
    }

    async fn leftovers(&self) -> Vec<String> {
        let output = self
            .store
            .client()
            .list_multipart_uploads()
            .bucket(self.store.bucket())
            .send()
            .await
            .unwrap();
        output
            .uploads()
            .iter()
            .map(|upload| format!("multipart upload of {:?}", upload.key()))
            .collect()
    }
}

struct LocalHarness {
    dir: tempfile::TempDir,
    store: Arc<LocalStore>,
}

impl LocalHarness {
    async fn new(_test: &str) -> LocalHarness {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path().join("store")));
        LocalHarness { dir, store }
    }
}

impl Harness for LocalHarness {
    type Store = LocalStore;

    fn store(&self) -> Arc<LocalStore> {
        Arc::clone(&self.store)
    }

    async fn other_store(&self, name: &str) -> Arc<LocalStore> {
        Arc::new(LocalStore::new(self.dir.path().join(name)))
    }

    async fn leftovers(&self) -> Vec<String> {
        fn walk(folder: &std::path::Path, found: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(folder) else {
                return;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if path.is_dir() {
                    walk(&path, found);
                } else if name.ends_with(".tmp") || name.ends_with(".lock") {
                    found.push(path.display().to_string());
                }
            }
        }
        let mut found = Vec::new();
        walk(self.dir.path(), &mut found);
        found
    }
}

fn meta(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift64*), so a part boundary never
/// falls on a repeated pattern.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

async fn read_all<S: ObjectStore>(store: &S, key: &str) -> (ObjectInfo, Vec<u8>) {
    let (info, mut body) = store.get(key).await.unwrap();
    let mut bytes = Vec::new();
    body.read_to_end(&mut bytes).await.unwrap();
    (info, bytes)
}

/// How a streamed write ends.
#[derive(Debug, Clone, Copy)]
enum End {
    Finish,
    Abort,
    Drop,
}

/// Streams `data` through the store's writer on a blocking thread, in odd
/// sized writes; `Some` with the finish result, `None` if aborted or dropped.
async fn stream<S: ObjectStore>(
    store: Arc<S>,
    key: &str,
    metadata: Metadata,
    data: Arc<Vec<u8>>,
    create_once: bool,
    end: End,
) -> Option<Result<ObjectInfo, StoreError>> {
    let key = key.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut writer = store.writer(&key, &metadata, PART, create_once).unwrap();
        for chunk in data.chunks(1024 * 1024 + 17) {
            writer.write_all(chunk).unwrap();
        }
        match end {
            End::Finish => Some(writer.finish()),
            End::Abort => {
                writer.abort();
                None
            }
            End::Drop => {
                drop(writer);
                None
            }
        }
    })
    .await
    .unwrap()
}

// ---- The contract, once. ----

async fn put_get_head_round_trip<H: Harness>(harness: H) {
    let store = harness.store();
    let metadata = meta(&[("source-etag", "\"abc\""), ("rows", "3")]);
    let put = store
        .put(
            "state/catalog.json",
            b"{\"v\":1}".to_vec(),
            Precondition::None,
            &metadata,
        )
        .await
        .unwrap();
    assert_eq!(put.key, "state/catalog.json");
    assert_eq!(put.size, 7);
    assert_eq!(put.metadata, metadata);
    assert!(
        put.etag.starts_with('"') && put.etag.ends_with('"'),
        "{}",
        put.etag
    );

    let head = store.head("state/catalog.json").await.unwrap().unwrap();
    assert_eq!(head, put);

    let (got, bytes) = read_all(&*store, "state/catalog.json").await;
    assert_eq!(bytes, b"{\"v\":1}");
    assert_eq!(got, put);

    // Replacing without a condition, with no metadata, drops the old metadata.
    let replaced = store
        .put(
            "state/catalog.json",
            Vec::new(),
            Precondition::None,
            &Metadata::new(),
        )
        .await
        .unwrap();
    assert_ne!(replaced.etag, put.etag);
    let head = store.head("state/catalog.json").await.unwrap().unwrap();
    assert_eq!(head.size, 0);
    assert!(head.metadata.is_empty(), "{:?}", head.metadata);
    assert_eq!(read_all(&*store, "state/catalog.json").await.1, b"");
}

async fn create_once_twice_fails_and_keeps_the_first<H: Harness>(harness: H) {
    let store = harness.store();
    let first = store
        .put(
            "ledger/1",
            b"first".to_vec(),
            Precondition::IfNoneMatch,
            &meta(&[("n", "1")]),
        )
        .await
        .unwrap();
    let second = store
        .put(
            "ledger/1",
            b"second".to_vec(),
            Precondition::IfNoneMatch,
            &meta(&[("n", "2")]),
        )
        .await;
    match second {
        Err(StoreError::PreconditionFailed { location }) => {
            assert!(location.contains("ledger/1"), "{location}")
        }
        other => panic!("expected PreconditionFailed, got {other:?}"),
    }
    let (info, bytes) = read_all(&*store, "ledger/1").await;
    assert_eq!(bytes, b"first");
    assert_eq!(info, first);
}

async fn compare_and_swap<H: Harness>(harness: H) {
    let store = harness.store();
    let v1 = store
        .put(
            "state/x",
            b"v1".to_vec(),
            Precondition::None,
            &Metadata::new(),
        )
        .await
        .unwrap();
    let v2 = store
        .put(
            "state/x",
            b"v2".to_vec(),
            Precondition::IfMatch(v1.etag.clone()),
            &Metadata::new(),
        )
        .await
        .unwrap();
    assert_ne!(v2.etag, v1.etag);

    let stale = store
        .put(
            "state/x",
            b"v3".to_vec(),
            Precondition::IfMatch(v1.etag.clone()),
            &Metadata::new(),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::PreconditionFailed { .. })),
        "{stale:?}"
    );
    assert_eq!(read_all(&*store, "state/x").await.1, b"v2");

    // An absent object is not the one that was read either.
    let absent = store
        .put(
            "state/gone",
            b"v".to_vec(),
            Precondition::IfMatch(v1.etag),
            &Metadata::new(),
        )
        .await;
    assert!(
        matches!(absent, Err(StoreError::PreconditionFailed { .. })),
        "{absent:?}"
    );
    assert!(store.head("state/gone").await.unwrap().is_none());
}

async fn missing_keys<H: Harness>(harness: H) {
    let store = harness.store();
    assert!(store.head("nothing/here").await.unwrap().is_none());
    match store.get("nothing/here").await {
        Err(StoreError::NotFound { location }) => {
            assert!(location.contains("nothing/here"), "{location}")
        }
        Err(other) => panic!("expected NotFound, got {other:?}"),
        Ok(_) => panic!("expected NotFound, got an object"),
    }
}

async fn list_by_prefix_in_key_order<H: Harness>(harness: H) {
    let store = harness.store();
    let mut put = Vec::new();
    for key in ["a/2", "a/10", "b/1", "a/1", "ab", "a/sub/x", "a-z"] {
        let info = store
            .put(
                key,
                key.as_bytes().to_vec(),
                Precondition::None,
                &meta(&[("k", "v")]),
            )
            .await
            .unwrap();
        put.push(info);
    }
    let listed = store.list("a/").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|info| info.key.as_str()).collect();
    assert_eq!(keys, ["a/1", "a/10", "a/2", "a/sub/x"]);
    for info in &listed {
        let was = put.iter().find(|p| p.key == info.key).unwrap();
        assert_eq!(info.size, was.size);
        assert_eq!(info.etag, was.etag);
        assert!(info.metadata.is_empty(), "listings carry no metadata");
    }

    let keys = |infos: Vec<ObjectInfo>| infos.into_iter().map(|info| info.key).collect::<Vec<_>>();
    assert_eq!(
        keys(store.list("a").await.unwrap()),
        ["a-z", "a/1", "a/10", "a/2", "a/sub/x", "ab"]
    );
    assert_eq!(keys(store.list("a/s").await.unwrap()), ["a/sub/x"]);
    assert_eq!(
        keys(store.list("").await.unwrap()),
        ["a-z", "a/1", "a/10", "a/2", "a/sub/x", "ab", "b/1"]
    );
    assert!(store.list("c/").await.unwrap().is_empty());
    assert!(store.list("a/nope/").await.unwrap().is_empty());
}

async fn copy_within_the_store<H: Harness>(harness: H) {
    let store = harness.store();
    let metadata = meta(&[("catalog-kind", "full")]);
    let source = store
        .put(
            "outbox/c 1+x.xml",
            b"<catalog/>".to_vec(),
            Precondition::None,
            &metadata,
        )
        .await
        .unwrap();

    let copied = store
        .copy(
            "outbox/c 1+x.xml",
            "published/c.xml",
            Precondition::None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(copied.key, "published/c.xml");
    assert_eq!(copied.size, source.size);
    assert_eq!(copied.metadata, metadata);
    let (head, bytes) = read_all(&*store, "published/c.xml").await;
    assert_eq!(bytes, b"<catalog/>");
    assert_eq!(head, copied);

    // Create-once refuses to overwrite; compare-and-swap needs the current ETag.
    store
        .put(
            "published/d.xml",
            b"other".to_vec(),
            Precondition::None,
            &Metadata::new(),
        )
        .await
        .unwrap();
    let refused = store
        .copy(
            "outbox/c 1+x.xml",
            "published/d.xml",
            Precondition::IfNoneMatch,
            None,
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::PreconditionFailed { .. })),
        "{refused:?}"
    );
    assert_eq!(read_all(&*store, "published/d.xml").await.1, b"other");
    let stale = store
        .copy(
            "outbox/c 1+x.xml",
            "published/d.xml",
            Precondition::IfMatch(source.etag.clone()),
            None,
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::PreconditionFailed { .. })),
        "{stale:?}"
    );
    let current = store.head("published/d.xml").await.unwrap().unwrap();
    store
        .copy(
            "outbox/c 1+x.xml",
            "published/d.xml",
            Precondition::IfMatch(current.etag),
            None,
        )
        .await
        .unwrap();
    assert_eq!(read_all(&*store, "published/d.xml").await.1, b"<catalog/>");
    store
        .copy(
            "outbox/c 1+x.xml",
            "published/e.xml",
            Precondition::IfNoneMatch,
            None,
        )
        .await
        .unwrap();

    // With metadata, the copy carries it instead of the source's.
    let relabelled = meta(&[
        ("catalog-kind", "incremental"),
        ("published-at", "2026-11-24"),
    ]);
    let info = store
        .copy(
            "outbox/c 1+x.xml",
            "published/f.xml",
            Precondition::None,
            Some(&relabelled),
        )
        .await
        .unwrap();
    assert_eq!(info.metadata, relabelled);
    let (head, bytes) = read_all(&*store, "published/f.xml").await;
    assert_eq!(bytes, b"<catalog/>");
    assert_eq!(head, info);
    assert_eq!(
        store
            .head("outbox/c 1+x.xml")
            .await
            .unwrap()
            .unwrap()
            .metadata,
        metadata
    );

    let missing = store
        .copy("outbox/none", "published/x", Precondition::None, None)
        .await;
    match missing {
        Err(StoreError::NotFound { location }) => {
            assert!(location.contains("outbox/none"), "{location}")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

async fn copy_from_another_store_keeps_content_and_metadata<H: Harness>(harness: H) {
    let store = harness.store();
    let source = harness.other_store("source").await;
    let metadata = meta(&[("catalog-kind", "full"), ("rows", "2")]);
    let put = source
        .put(
            "outbox/c 1+x.xml",
            b"<catalog/>".to_vec(),
            Precondition::None,
            &metadata,
        )
        .await
        .unwrap();

    let copied = store
        .copy_from(
            &source,
            "outbox/c 1+x.xml",
            "catalogs/c.xml",
            Precondition::None,
        )
        .await
        .unwrap();
    assert_eq!(copied.key, "catalogs/c.xml");
    assert_eq!(copied.size, put.size);
    assert_eq!(copied.metadata, metadata);
    let (head, bytes) = read_all(&*store, "catalogs/c.xml").await;
    assert_eq!(bytes, b"<catalog/>");
    assert_eq!(head, copied);

    // The source is untouched, and nothing else appeared in either store.
    assert_eq!(source.head("outbox/c 1+x.xml").await.unwrap().unwrap(), put);
    let keys = |infos: Vec<ObjectInfo>| infos.into_iter().map(|info| info.key).collect::<Vec<_>>();
    assert_eq!(keys(store.list("").await.unwrap()), ["catalogs/c.xml"]);
    assert_eq!(keys(source.list("").await.unwrap()), ["outbox/c 1+x.xml"]);

    // Create-once and compare-and-swap work as in `put`.
    store
        .copy_from(
            &source,
            "outbox/c 1+x.xml",
            "catalogs/d.xml",
            Precondition::IfNoneMatch,
        )
        .await
        .unwrap();
    let replaced = store
        .copy_from(
            &source,
            "outbox/c 1+x.xml",
            "catalogs/c.xml",
            Precondition::IfMatch(copied.etag.clone()),
        )
        .await
        .unwrap();
    assert_eq!(replaced.metadata, metadata);
    assert!(harness.leftovers().await.is_empty());
}

async fn copy_from_create_once_onto_an_existing_key_fails_and_keeps_it<H: Harness>(harness: H) {
    let store = harness.store();
    let source = harness.other_store("source").await;
    source
        .put(
            "outbox/c.xml",
            b"<catalog/>".to_vec(),
            Precondition::None,
            &meta(&[("v", "2")]),
        )
        .await
        .unwrap();
    let existing = store
        .put(
            "catalogs/c.xml",
            b"published".to_vec(),
            Precondition::None,
            &meta(&[("v", "1")]),
        )
        .await
        .unwrap();

    let refused = store
        .copy_from(
            &source,
            "outbox/c.xml",
            "catalogs/c.xml",
            Precondition::IfNoneMatch,
        )
        .await;
    match refused {
        Err(StoreError::PreconditionFailed { location }) => {
            assert_eq!(location, store.location("catalogs/c.xml"))
        }
        other => panic!("expected PreconditionFailed, got {other:?}"),
    }
    let (info, bytes) = read_all(&*store, "catalogs/c.xml").await;
    assert_eq!(bytes, b"published");
    assert_eq!(info, existing);
    assert!(harness.leftovers().await.is_empty());
}

async fn copy_from_a_missing_source_is_not_found_naming_the_source<H: Harness>(harness: H) {
    let store = harness.store();
    let source = harness.other_store("source").await;
    let missing = store
        .copy_from(&source, "outbox/none", "catalogs/x", Precondition::None)
        .await;
    match missing {
        Err(StoreError::NotFound { location }) => {
            assert_eq!(location, source.location("outbox/none"))
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(store.head("catalogs/x").await.unwrap().is_none());
    assert!(harness.leftovers().await.is_empty());
}

async fn delete_is_idempotent<H: Harness>(harness: H) {
    let store = harness.store();
    store
        .put(
            "tmp/x",
            b"x".to_vec(),
            Precondition::None,
            &meta(&[("a", "b")]),
        )
        .await
        .unwrap();
    store.delete("tmp/x").await.unwrap();
    assert!(store.head("tmp/x").await.unwrap().is_none());
    assert!(store.list("tmp/").await.unwrap().is_empty());
    store.delete("tmp/x").await.unwrap();
    store.delete("never/was").await.unwrap();
    // After a delete, create-once works again.
    store
        .put(
            "tmp/x",
            b"y".to_vec(),
            Precondition::IfNoneMatch,
            &Metadata::new(),
        )
        .await
        .unwrap();
}

async fn writer_streams_parts_and_a_tail<H: Harness>(harness: H) {
    let store = harness.store();
    let data = Arc::new(pseudo_random(3 * PART + 1024 * 1024, 7));
    let metadata = meta(&[("format", "ember"), ("compression", "zstd")]);
    let info = stream(
        store.clone(),
        "outbox/big.bin",
        metadata.clone(),
        data.clone(),
        false,
        End::Finish,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(info.key, "outbox/big.bin");
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(info.metadata, metadata);

    let head = store.head("outbox/big.bin").await.unwrap().unwrap();
    assert_eq!(head, info);

    // Read back the way a catalog reader does: a std::io::Read on a blocking thread.
    let (_, body) = store.get("outbox/big.bin").await.unwrap();
    let back = tokio::task::spawn_blocking(move || {
        let mut reader = tokio_util::io::SyncIoBridge::new(body);
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        back
    })
    .await
    .unwrap();
    assert!(
        back == *data,
        "the object read back differs from what was written"
    );
    assert!(harness.leftovers().await.is_empty());
}

async fn writer_of_small_and_empty_objects<H: Harness>(harness: H) {
    let store = harness.store();
    let small = Arc::new(b"a small state file".to_vec());
    let info = stream(
        store.clone(),
        "state/small",
        Metadata::new(),
        small.clone(),
        true,
        End::Finish,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(info.size, small.len() as u64);
    assert_eq!(read_all(&*store, "state/small").await.1, *small);

    let exactly_one_part = Arc::new(pseudo_random(PART, 3));
    stream(
        store.clone(),
        "state/one-part",
        Metadata::new(),
        exactly_one_part.clone(),
        false,
        End::Finish,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(read_all(&*store, "state/one-part").await.1 == *exactly_one_part);

    let info = stream(
        store.clone(),
        "state/empty",
        Metadata::new(),
        Arc::new(Vec::new()),
        false,
        End::Finish,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(info.size, 0);
    assert_eq!(
        store.head("state/empty").await.unwrap().unwrap().etag,
        info.etag
    );
    assert!(harness.leftovers().await.is_empty());
}

async fn writer_create_once_keeps_the_existing_object<H: Harness>(harness: H) {
    let store = harness.store();
    let existing = store
        .put(
            "outbox/c.zst",
            b"published".to_vec(),
            Precondition::None,
            &meta(&[("v", "1")]),
        )
        .await
        .unwrap();
    // One object smaller than a part (one PutObject), one over a part
    // (multipart, refused at completion).
    for (size, seed) in [(1000, 1), (PART + 4096, 2)] {
        let data = Arc::new(pseudo_random(size, seed));
        let result = stream(
            store.clone(),
            "outbox/c.zst",
            meta(&[("v", "2")]),
            data,
            true,
            End::Finish,
        )
        .await
        .unwrap();
        assert!(
            matches!(result, Err(StoreError::PreconditionFailed { .. })),
            "{size} bytes: {result:?}"
        );
        let (info, bytes) = read_all(&*store, "outbox/c.zst").await;
        assert_eq!(bytes, b"published");
        assert_eq!(info, existing);
        assert_eq!(
            harness.leftovers().await,
            Vec::<String>::new(),
            "{size} bytes"
        );
    }
}

async fn aborted_or_dropped_writers_leave_nothing<H: Harness>(harness: H) {
    let store = harness.store();
    for end in [End::Abort, End::Drop] {
        for size in [1000, 2 * PART + 10] {
            let key = format!("outbox/{end:?}-{size}");
            let data = Arc::new(pseudo_random(size, 9));
            assert!(
                stream(store.clone(), &key, Metadata::new(), data, false, end)
                    .await
                    .is_none()
            );
            assert!(store.head(&key).await.unwrap().is_none(), "{key}");
            assert_eq!(harness.leftovers().await, Vec::<String>::new(), "{key}");
        }
    }
    assert!(store.list("").await.unwrap().is_empty());
}

// ---- Run it on both stores. ----

macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $check() {
                    super::$check(super::S3Harness::new(stringify!($check)).await).await;
                }
            )*
        }
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $check() {
                    super::$check(super::LocalHarness::new(stringify!($check)).await).await;
                }
            )*
        }
    };
}

contract!(
    put_get_head_round_trip,
    create_once_twice_fails_and_keeps_the_first,
    compare_and_swap,
    missing_keys,
    list_by_prefix_in_key_order,
    copy_within_the_store,
    copy_from_another_store_keeps_content_and_metadata,
    copy_from_create_once_onto_an_existing_key_fails_and_keeps_it,
    copy_from_a_missing_source_is_not_found_naming_the_source,
    delete_is_idempotent,
    writer_streams_parts_and_a_tail,
    writer_of_small_and_empty_objects,
    writer_create_once_keeps_the_existing_object,
    aborted_or_dropped_writers_leave_nothing,
);

// ---- What only S3 can show. ----

mod s3_only {
    use std::sync::Mutex;

    use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
    use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
    use aws_sdk_s3::error::BoxError;
    use aws_sdk_s3::types::Permission;

    use super::*;

    /// A source over 5 MiB copied with a 5 MiB threshold and part size goes
    /// up as a multipart copy of ranges, in `copy_from` and `copy` alike,
    /// with the same bytes and the source's (or the given) metadata.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_large_copy_is_a_multipart_copy_of_ranges() {
        let harness = S3Harness::new("multipart-copy").await;
        let source = harness.other_store("multipart-copy-source").await;
        let store = (*harness.store())
            .clone()
            .with_multipart_copy(PART as u64, PART as u64);
        let data = pseudo_random(12 * 1024 * 1024, 21);
        let metadata = meta(&[("catalog-kind", "full"), ("rows", "12")]);
        let put = source
            .put(
                "outbox/big 1+x.zst",
                data.clone(),
                Precondition::None,
                &metadata,
            )
            .await
            .unwrap();

        let copied = store
            .copy_from(
                &source,
                "outbox/big 1+x.zst",
                "catalogs/big.zst",
                Precondition::IfNoneMatch,
            )
            .await
            .unwrap();
        assert_eq!(copied.size, put.size);
        assert_eq!(copied.metadata, metadata);
        // Parts of 5, 5 and 2 MiB: the multipart form of the ETag.
        assert!(copied.etag.ends_with("-3\""), "{}", copied.etag);
        let (head, bytes) = read_all(&store, "catalogs/big.zst").await;
        assert!(bytes == data, "the copy's bytes differ from the source's");
        assert_eq!(head, copied);

        // `copy` shares it, metadata replacement included.
        let relabelled = meta(&[("catalog-kind", "incremental")]);
        let info = store
            .copy(
                "catalogs/big.zst",
                "catalogs/relabelled.zst",
                Precondition::None,
                Some(&relabelled),
            )
            .await
            .unwrap();
        assert_eq!(info.metadata, relabelled);
        assert!(info.etag.ends_with("-3\""), "{}", info.etag);
        let (head, bytes) = read_all(&store, "catalogs/relabelled.zst").await;
        assert!(bytes == data, "the copy's bytes differ from the source's");
        assert_eq!(head, info);

        // The destination's precondition holds as for a single copy.
        let refused = store
            .copy_from(
                &source,
                "outbox/big 1+x.zst",
                "catalogs/big.zst",
                Precondition::IfNoneMatch,
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::PreconditionFailed { .. })),
            "{refused:?}"
        );
        assert_eq!(
            store.head("catalogs/big.zst").await.unwrap().unwrap(),
            copied
        );
        let swapped = store
            .copy_from(
                &source,
                "outbox/big 1+x.zst",
                "catalogs/relabelled.zst",
                Precondition::IfMatch(info.etag),
            )
            .await
            .unwrap();
        assert_eq!(swapped.metadata, metadata);
        assert!(harness.leftovers().await.is_empty());
    }

    /// A request sent: its operation and its `x-amz-acl` header.
    type Sent = (String, Option<String>);

    /// Records every request's operation (the SDK's `x-id` query parameter;
    /// CreateMultipartUpload has none, it is `POST <key>?uploads`) and its
    /// `x-amz-acl` header.
    #[derive(Debug, Default, Clone)]
    struct AclRecorder(Arc<Mutex<Vec<Sent>>>);

    impl AclRecorder {
        fn take(&self) -> Vec<Sent> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl Intercept for AclRecorder {
        fn name(&self) -> &'static str {
            "AclRecorder"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let request = context.request();
            let uri = request.uri();
            let operation = if uri.ends_with("?uploads") {
                "CreateMultipartUpload"
            } else {
                uri.split_once("x-id=")
                    .map_or("", |(_, rest)| rest.split('&').next().unwrap_or(rest))
            };
            let acl = request.headers().get("x-amz-acl").map(str::to_owned);
            self.0.lock().unwrap().push((operation.to_owned(), acl));
            Ok(())
        }
    }

    /// With `with_bucket_owner_full_control`, every write that creates an
    /// object (PutObject, CopyObject, CreateMultipartUpload) carries the
    /// canned ACL, and the emulator takes it; without it, none does.
    #[tokio::test(flavor = "multi_thread")]
    async fn bucket_owner_full_control_goes_with_every_write() {
        let emulator = catalog_testkit::Emulator::get();
        let recorder = AclRecorder::default();
        let client = emulator.s3().await;
        let client = aws_sdk_s3::Client::from_conf(
            client
                .config()
                .to_builder()
                .interceptor(recorder.clone())
                .build(),
        );
        let handle = tokio::runtime::Handle::current();
        let source = S3Store::new(
            client.clone(),
            emulator.fresh_bucket("acl-source").await,
            handle.clone(),
        );
        let bucket = emulator.fresh_bucket("acl-destination").await;
        let store = Arc::new(
            S3Store::new(client.clone(), bucket.clone(), handle)
                .with_bucket_owner_full_control()
                .with_multipart_copy(PART as u64, PART as u64),
        );

        let large = pseudo_random(PART + 1024, 31);
        source
            .put("small", b"s".to_vec(), Precondition::None, &Metadata::new())
            .await
            .unwrap();
        source
            .put("large", large.clone(), Precondition::None, &Metadata::new())
            .await
            .unwrap();
        let plain = recorder.take();
        assert!(
            plain.iter().all(|(_, acl)| acl.is_none()),
            "off by default: {plain:?}"
        );

        store
            .put(
                "put",
                b"p".to_vec(),
                Precondition::IfNoneMatch,
                &Metadata::new(),
            )
            .await
            .unwrap();
        store
            .copy("put", "copied", Precondition::None, None)
            .await
            .unwrap();
        store
            .copy_from(&source, "small", "copied-from", Precondition::None)
            .await
            .unwrap();
        store
            .copy_from(&source, "large", "copied-large", Precondition::None)
            .await
            .unwrap();
        for (key, data) in [("streamed-small", vec![1; 10]), ("streamed-large", large)] {
            stream(
                store.clone(),
                key,
                Metadata::new(),
                Arc::new(data),
                true,
                End::Finish,
            )
            .await
            .unwrap()
            .unwrap();
        }
        let writes: Vec<Sent> = recorder
            .take()
            .into_iter()
            .filter(|(operation, _)| {
                matches!(
                    operation.as_str(),
                    "PutObject" | "CopyObject" | "CreateMultipartUpload"
                )
            })
            .collect();
        let count = |name: &str| {
            writes
                .iter()
                .filter(|(operation, _)| operation == name)
                .count()
        };
        assert_eq!(
            (
                count("PutObject"),
                count("CopyObject"),
                count("CreateMultipartUpload")
            ),
            (2, 2, 2),
            "{writes:?}"
        );
        assert!(
            writes
                .iter()
                .all(|(_, acl)| acl.as_deref() == Some("bucket-owner-full-control")),
            "{writes:?}"
        );

        // What the emulator records: the bucket owner has full control.
        for key in [
            "put",
            "copied",
            "copied-from",
            "copied-large",
            "streamed-small",
            "streamed-large",
        ] {
            let acl = client
                .get_object_acl()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            assert!(
                acl.grants()
                    .iter()
                    .any(|grant| grant.permission() == Some(&Permission::FullControl)),
                "{key}: {acl:?}"
            );
        }
    }

    /// The streamed object really went up as a multipart upload: S3 gives a
    /// multipart object the ETag `"<md5 of the part md5s>-<parts>"`.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_streamed_object_is_a_multipart_upload_of_full_parts() {
        let harness = S3Harness::new("multipart-etag").await;
        let data = Arc::new(pseudo_random(3 * PART + 1, 11));
        let info = stream(
            harness.store(),
            "big",
            Metadata::new(),
            data,
            false,
            End::Finish,
        )
        .await
        .unwrap()
        .unwrap();
        assert!(info.etag.ends_with("-4\""), "{}", info.etag);

        let one_part = Arc::new(pseudo_random(PART, 12));
        let info = stream(
            harness.store(),
            "one",
            Metadata::new(),
            one_part,
            false,
            End::Finish,
        )
        .await
        .unwrap()
        .unwrap();
        assert!(
            !info.etag.contains('-'),
            "one part goes up in one PutObject: {}",
            info.etag
        );
    }

    /// Dropping an unfinished writer on an async worker thread (where a
    /// blocking call would panic) still aborts its upload.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_writer_dropped_on_an_async_thread_still_aborts() {
        let harness = S3Harness::new("drop-async").await;
        let store = harness.store();
        let writer = tokio::task::spawn_blocking(move || {
            let mut writer = store.writer("half", &Metadata::new(), PART, false).unwrap();
            writer.write_all(&pseudo_random(PART + 10, 5)).unwrap();
            writer
        })
        .await
        .unwrap();
        assert_eq!(harness.leftovers().await.len(), 1, "a part was sent");
        drop(writer);
        assert_eq!(harness.leftovers().await, Vec::<String>::new());
        assert!(harness.store().head("half").await.unwrap().is_none());
    }

    /// Errors name the bucket and key, and say what S3 said.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_missing_bucket_is_a_service_error_not_a_missing_key() {
        let emulator = catalog_testkit::Emulator::get();
        let store = S3Store::new(
            emulator.s3().await,
            "no-such-bucket-here",
            tokio::runtime::Handle::current(),
        );
        let error = store.get("k").await.err().unwrap();
        let message = error.to_string();
        assert!(matches!(error, StoreError::Service { .. }), "{error:?}");
        assert!(message.contains("s3://no-such-bucket-here/k"), "{message}");
        assert!(message.contains("NoSuchBucket"), "{message}");
    }
}
