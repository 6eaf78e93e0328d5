//! [`LocalStore`]: the object store port on a folder, for `catalogctl` and
//! local runs.
//!
//! A key is a relative path under the root (`outbox/staging/catalogs/x.xml.zst`
//! is that file). Beside each object, hidden files do the bookkeeping, and
//! listings never show them:
//!
//! - `.<name>.meta.json`: the user metadata and the ETag, with the size,
//!   modification time and inode the ETag was computed for. A file put there
//!   by hand (or changed by hand) has no matching record, so its ETag is
//!   computed from its content.
//! - `.<name>.<pid>-<n>.tmp`: an object or record being written.
//! - `.<name>.lock`: held while a write of that key commits.
//!
//! The ETag is `"` + the hex XXH3-128 of the content + `"`. Writes go to a
//! temp file in the object's folder first, then appear whole: create-once by
//! `hard_link` (which fails atomically if the key exists), other writes by
//! `rename`. Every write commits under the key's lock file, so a
//! compare-and-swap checks the current ETag and replaces the object without
//! another writer in between. The metadata record is renamed into place just
//! after the object: a reader in that instant sees the new content with no
//! metadata, never with another version's.
//!
//! Keys must be relative, `/`-separated, with no empty, `.` or `..` segment,
//! and no segment may start with `.` (those names are the bookkeeping's).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3Default;

use crate::store::{
    Body, Metadata, ObjectInfo, ObjectStore, ObjectWriter, Precondition, StoreError,
};

/// How long a writer waits for another writer's lock on the same key.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// A lock file older than this was left by a writer that died; it is removed.
const STALE_LOCK: Duration = Duration::from_secs(60);

/// The streaming writer's buffer (the part size means nothing on a disk).
const WRITE_BUFFER: usize = 1024 * 1024;

/// Keeps temp file names unique within the process.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// A folder as an [`ObjectStore`].
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store on the folder `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key`, once the key is checked.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        resolve(&self.root, key)
    }

    /// The one copy: `from` in `source` (this store or another) to `to` in
    /// this one, committed like any write (create-once by hard link,
    /// compare-and-swap under the lock). With `metadata`, the copy carries it
    /// instead of the source's.
    async fn copy_object(
        &self,
        source: &LocalStore,
        from: &str,
        to: &str,
        precondition: Precondition,
        metadata: Option<&Metadata>,
        source_etag: Option<&str>,
    ) -> Result<ObjectInfo, StoreError> {
        let (source, from, to) = (source.clone(), from.to_owned(), to.to_owned());
        let metadata = metadata.cloned();
        let source_etag = source_etag.map(str::to_owned);
        self.blocking(&to.clone(), move |store| {
            let source_path = source.path_of(&from)?;
            let target_path = store.path_of(&to)?;
            let Some((source, mut file)) = open_object(&from, &source_path)? else {
                return Err(StoreError::NotFound {
                    location: source_path.display().to_string(),
                });
            };
            if let Some(expected) = source_etag
                && expected.trim_matches('"') != source.etag.trim_matches('"')
            {
                return Err(StoreError::SourceChanged {
                    location: source_path.display().to_string(),
                    expected,
                    found: source.etag,
                });
            }
            let mut temp = TempFile::beside(&target_path)?;
            let copied = temp.file().and_then(|target| {
                file.rewind()?;
                io::copy(&mut file, target)?;
                target.sync_all()
            });
            copied.map_err(io_error(&target_path))?;
            let metadata = metadata.unwrap_or(source.metadata);
            commit(&target_path, temp, &precondition, source.etag, metadata, to)
        })
        .await
    }

    /// Runs blocking file work off the async threads.
    async fn blocking<T, F>(&self, key: &str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(LocalStore) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(store))
            .await
            .map_err(|error| StoreError::Io {
                location: self.location(key),
                source: io::Error::other(format!("the file work did not complete: {error}")),
            })?
    }
}

impl ObjectStore for LocalStore {
    fn location(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }

    async fn get(&self, key: &str) -> Result<(ObjectInfo, Body), StoreError> {
        let key = key.to_owned();
        self.blocking(&key.clone(), move |store| {
            let path = store.path_of(&key)?;
            let location = path.display().to_string();
            let Some((info, mut file)) = open_object(&key, &path)? else {
                return Err(StoreError::NotFound { location });
            };
            file.rewind()
                .map_err(|source| StoreError::Io { location, source })?;
            let body: Body = Box::pin(tokio::fs::File::from_std(file));
            Ok((info, body))
        })
        .await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let key = key.to_owned();
        self.blocking(&key.clone(), move |store| {
            let path = store.path_of(&key)?;
            Ok(open_object(&key, &path)?.map(|(info, _)| info))
        })
        .await
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        precondition: Precondition,
        metadata: &Metadata,
    ) -> Result<ObjectInfo, StoreError> {
        let key = key.to_owned();
        let metadata = metadata.clone();
        self.blocking(&key.clone(), move |store| {
            let path = store.path_of(&key)?;
            let mut temp = TempFile::beside(&path)?;
            let written = temp.file().and_then(|file| {
                file.write_all(&body)?;
                file.sync_all()
            });
            written.map_err(io_error(&temp.path))?;
            let etag = etag_from_hash(xxhash_rust::xxh3::xxh3_128(&body));
            commit(&path, temp, &precondition, etag, metadata, key)
        })
        .await
    }

    async fn copy(
        &self,
        from: &str,
        to: &str,
        precondition: Precondition,
        metadata: Option<&Metadata>,
    ) -> Result<ObjectInfo, StoreError> {
        self.copy_object(self, from, to, precondition, metadata, None)
            .await
    }

    async fn copy_from(
        &self,
        source: &LocalStore,
        from: &str,
        to: &str,
        precondition: Precondition,
    ) -> Result<ObjectInfo, StoreError> {
        self.copy_object(source, from, to, precondition, None, None)
            .await
    }

    async fn copy_version_from(
        &self,
        source: &LocalStore,
        from: &str,
        source_etag: &str,
        to: &str,
        precondition: Precondition,
    ) -> Result<ObjectInfo, StoreError> {
        self.copy_object(source, from, to, precondition, None, Some(source_etag))
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let prefix = prefix.to_owned();
        self.blocking(&prefix.clone(), move |store| {
            // Walk only the folder the prefix is certainly in.
            let (start, start_key) = match prefix.rfind('/') {
                Some(end) => match store.path_of(&prefix[..end]) {
                    Ok(folder) => (folder, format!("{}/", &prefix[..end])),
                    // No key can start with it.
                    Err(_) => return Ok(Vec::new()),
                },
                None => (store.root.clone(), String::new()),
            };
            let mut objects = Vec::new();
            walk(&start, &start_key, &prefix, &mut objects)?;
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(objects)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.blocking(&key.clone(), move |store| {
            let path = store.path_of(&key)?;
            let location = path.display().to_string();
            if !path.parent().is_some_and(Path::is_dir) {
                return Ok(());
            }
            let _lock = KeyLock::acquire(&path)?;
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                // A folder of other keys, not an object.
                Err(_) if path.is_dir() => return Ok(()),
                Err(source) => return Err(StoreError::Io { location, source }),
            }
            remove_if_present(&sidecar_path(&path))
        })
        .await
    }

    fn writer(
        &self,
        key: &str,
        metadata: &Metadata,
        _part_size: usize,
        create_once: bool,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        let path = self.path_of(key)?;
        let mut temp = TempFile::beside(&path)?;
        let file = temp.take_file()?;
        Ok(Box::new(LocalWriter {
            key: key.to_owned(),
            path,
            temp,
            out: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            hasher: Xxh3Default::new(),
            metadata: metadata.clone(),
            create_once,
        }))
    }
}

/// The streaming writer: a temp file that appears at the key on `finish`.
struct LocalWriter {
    key: String,
    path: PathBuf,
    /// Removed when the writer is dropped unfinished.
    temp: TempFile,
    out: Option<BufWriter<File>>,
    hasher: Xxh3Default,
    metadata: Metadata,
    create_once: bool,
}

impl std::fmt::Debug for LocalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalWriter")
            .field("path", &self.path)
            .field("temp", &self.temp.path)
            .field("create_once", &self.create_once)
            .finish_non_exhaustive()
    }
}

impl LocalWriter {
    fn out(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.out.as_mut().ok_or_else(|| {
            io::Error::other(format!("{}: the writer is closed", self.path.display()))
        })
    }
}

impl Write for LocalWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.out()?.write(data)?;
        self.hasher.update(&data[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out()?.flush()
    }
}

impl ObjectWriter for LocalWriter {
    fn finish(mut self: Box<Self>) -> Result<ObjectInfo, StoreError> {
        let location = self.path.display().to_string();
        let out = self.out.take().ok_or_else(|| StoreError::Io {
            location: location.clone(),
            source: io::Error::other("the writer is closed"),
        })?;
        let file = out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .and_then(|file| file.sync_all().map(|()| file))
            .map_err(|source| StoreError::Io {
                location: location.clone(),
                source,
            })?;
        drop(file);
        let precondition = if self.create_once {
            Precondition::IfNoneMatch
        } else {
            Precondition::None
        };
        let etag = etag_from_hash(self.hasher.digest128());
        let temp = std::mem::take(&mut self.temp);
        commit(
            &self.path,
            temp,
            &precondition,
            etag,
            std::mem::take(&mut self.metadata),
            std::mem::take(&mut self.key),
        )
    }

    fn abort(self: Box<Self>) {
        // Dropping removes the temp file.
    }
}

/// The bookkeeping record beside an object.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    etag: String,
    /// What the file looked like when `etag` was computed.
    stamp: Stamp,
    #[serde(default)]
    metadata: Metadata,
}

/// Enough of a file's status to tell it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    modified_ns: u128,
    inode: u64,
}

impl Stamp {
    fn of(status: &fs::Metadata) -> Stamp {
        let modified_ns = status
            .modified()
            .ok()
            .and_then(|time| time.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_nanos());
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(status);
        #[cfg(not(unix))]
        let inode = 0;
        Stamp {
            size: status.len(),
            modified_ns,
            inode,
        }
    }
}

/// Checks a key and returns its path under `root`.
fn resolve(root: &Path, key: &str) -> Result<PathBuf, StoreError> {
    let invalid = |why: &str| StoreError::Io {
        location: format!("{}: key {key:?}", root.display()),
        source: io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a valid key for a local store: {why}"),
        ),
    };
    if key.is_empty() {
        return Err(invalid("it is empty"));
    }
    if key.starts_with('/') {
        return Err(invalid(
            "it is absolute; keys are relative paths like `outbox/x`",
        ));
    }
    if key.contains('\\') || key.contains('\0') {
        return Err(invalid(
            "it contains `\\` or NUL; separate folders with `/`",
        ));
    }
    let mut path = root.to_path_buf();
    for segment in key.split('/') {
        match segment {
            "" => {
                return Err(invalid(
                    "it has an empty segment (`//`, or a `/` at the end)",
                ));
            }
            "." | ".." => return Err(invalid("`.` and `..` segments are not allowed")),
            _ if segment.starts_with('.') => {
                return Err(invalid(
                    "a segment starts with `.`, which is kept for the store's metadata and temp files",
                ));
            }
            _ => path.push(segment),
        }
    }
    Ok(path)
}

/// `.<name>.<suffix>` beside `path`.
fn hidden_beside(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{suffix}"))
}

fn sidecar_path(path: &Path) -> PathBuf {
    hidden_beside(path, "meta.json")
}

fn etag_from_hash(hash: u128) -> String {
    format!("\"{hash:032x}\"")
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        location: path.display().to_string(),
        source,
    }
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(io_error(path)(error)),
        _ => Ok(()),
    }
}

/// Opens the object at `path` and describes it; `None` when there is no
/// object there. The description matches the opened file, even if the key is
/// replaced meanwhile.
fn open_object(key: &str, path: &Path) -> Result<Option<(ObjectInfo, File)>, StoreError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(io_error(path)(error)),
    };
    let status = file.metadata().map_err(io_error(path))?;
    if !status.is_file() {
        return Ok(None);
    }
    let stamp = Stamp::of(&status);
    let (etag, metadata) = match read_sidecar(path) {
        Some(sidecar) if sidecar.stamp == stamp => (sidecar.etag, sidecar.metadata),
        // No record, or one for another version: hash the content.
        _ => (
            hash_file(&mut file).map_err(io_error(path))?,
            Metadata::new(),
        ),
    };
    let info = ObjectInfo {
        key: key.to_owned(),
        size: stamp.size,
        etag,
        metadata,
        last_modified: i64::try_from(stamp.modified_ns / 1_000_000_000).ok(),
    };
    Ok(Some((info, file)))
}

fn read_sidecar(path: &Path) -> Option<Sidecar> {
    let bytes = fs::read(sidecar_path(path)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn hash_file(file: &mut File) -> io::Result<String> {
    file.rewind()?;
    let mut hasher = Xxh3Default::new();
    let mut buffer = vec![0_u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(etag_from_hash(hasher.digest128()))
}

/// Makes the finished temp file the object at `path`, under `precondition`,
/// then records its ETag and metadata beside it.
fn commit(
    path: &Path,
    mut temp: TempFile,
    precondition: &Precondition,
    etag: String,
    metadata: Metadata,
    key: String,
) -> Result<ObjectInfo, StoreError> {
    let location = path.display().to_string();
    let status = fs::metadata(&temp.path).map_err(io_error(&temp.path))?;
    let sidecar = Sidecar {
        etag,
        stamp: Stamp::of(&status),
        metadata,
    };
    let record = serde_json::to_vec(&sidecar).map_err(|error| StoreError::Io {
        location: location.clone(),
        source: io::Error::other(error),
    })?;
    let mut record_temp = TempFile::beside(path)?;
    let written = record_temp.file().and_then(|file| file.write_all(&record));
    written.map_err(io_error(&record_temp.path))?;
    record_temp.close();

    let _lock = KeyLock::acquire(path)?;
    match precondition {
        Precondition::None => {}
        Precondition::IfNoneMatch => {}
        Precondition::IfMatch(expected) => {
            let current = open_object(&key, path)?.map(|(info, _)| info.etag);
            if current.as_deref() != Some(expected.as_str()) {
                return Err(StoreError::PreconditionFailed { location });
            }
        }
    }
    if *precondition == Precondition::IfNoneMatch {
        // Fails if anything is at the key, even a writer that ignores the lock.
        match fs::hard_link(&temp.path, path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StoreError::PreconditionFailed { location });
            }
            Err(source) => return Err(StoreError::Io { location, source }),
        }
    } else {
        temp.rename_to(path)?;
    }
    record_temp.rename_to(&sidecar_path(path))?;
    Ok(ObjectInfo {
        key,
        size: sidecar.stamp.size,
        etag: sidecar.etag,
        metadata: sidecar.metadata,
        last_modified: i64::try_from(sidecar.stamp.modified_ns / 1_000_000_000).ok(),
    })
}

/// Collects the objects under `folder` (whose keys start with `folder_key`)
/// that start with `prefix`.
fn walk(
    folder: &Path,
    folder_key: &str,
    prefix: &str,
    found: &mut Vec<ObjectInfo>,
) -> Result<(), StoreError> {
    let entries = match fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(());
        }
        Err(error) => return Err(io_error(folder)(error)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error(folder))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: cannot be a key
        };
        if name.starts_with('.') {
            continue; // metadata, temp and lock files
        }
        let key = format!("{folder_key}{name}");
        let path = entry.path();
        // Follows symbolic links to files; a link to a folder is not walked.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let sub_key = format!("{key}/");
            if sub_key.starts_with(prefix) || prefix.starts_with(&sub_key) {
                walk(&path, &sub_key, prefix, found)?;
            }
        } else if key.starts_with(prefix)
            && let Some((info, _)) = open_object(&key, &path)?
        {
            // Listings carry no metadata, as on S3.
            found.push(ObjectInfo {
                metadata: Metadata::new(),
                ..info
            });
        }
    }
    Ok(())
}

/// A hidden temp file beside its object, removed unless renamed away.
#[derive(Debug, Default)]
struct TempFile {
    path: PathBuf,
    file: Option<File>,
    /// Renamed into place: nothing to remove.
    persisted: bool,
}

impl TempFile {
    /// Creates the object's folder if needed, then a new temp file in it.
    fn beside(path: &Path) -> Result<TempFile, StoreError> {
        let folder = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(folder).map_err(io_error(folder))?;
        loop {
            let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
            let temp = hidden_beside(path, &format!("{}-{n}.tmp", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    return Ok(TempFile {
                        path: temp,
                        file: Some(file),
                        persisted: false,
                    });
                }
                // Left by an earlier process with the same id: try the next name.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(io_error(&temp)(error)),
            }
        }
    }

    fn file(&mut self) -> io::Result<&mut File> {
        self.file.as_mut().ok_or_else(|| {
            io::Error::other(format!("{}: the temp file is closed", self.path.display()))
        })
    }

    fn take_file(&mut self) -> Result<File, StoreError> {
        self.file.take().ok_or_else(|| StoreError::Io {
            location: self.path.display().to_string(),
            source: io::Error::other("the temp file is closed"),
        })
    }

    fn close(&mut self) {
        self.file = None;
    }

    fn rename_to(&mut self, target: &Path) -> Result<(), StoreError> {
        self.close();
        fs::rename(&self.path, target).map_err(io_error(target))?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file = None;
        if !self.persisted && !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// `.<name>.lock`, held while a write of that key commits.
#[derive(Debug)]
struct KeyLock {
    path: PathBuf,
}

impl KeyLock {
    fn acquire(object: &Path) -> Result<KeyLock, StoreError> {
        let path = hidden_beside(object, "lock");
        let started = Instant::now();
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(KeyLock { path }),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(io_error(&path)(error)),
            }
            let age = fs::metadata(&path)
                .and_then(|status| status.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok());
            if age.is_some_and(|age| age > STALE_LOCK) {
                // Its writer died while holding it.
                let _ = fs::remove_file(&path);
                continue;
            }
            if started.elapsed() > LOCK_WAIT {
                return Err(StoreError::Io {
                    location: object.display().to_string(),
                    source: io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!(
                            "another writer has held {} for over {} s; if none runs, remove that file",
                            path.display(),
                            LOCK_WAIT.as_secs()
                        ),
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        (dir, store)
    }

    #[test]
    fn keys_are_checked() {
        let (_dir, store) = store();
        assert!(store.path_of("outbox/staging/catalogs/x.xml.zst").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "a//b",
            "a/",
            "../x",
            "a/../b",
            "./a",
            "a/.hidden",
            "a\\b",
        ] {
            let error = store.path_of(bad).expect_err(bad).to_string();
            assert!(error.contains("not a valid key"), "{bad}: {error}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_file_put_there_by_hand_gets_its_etag_from_its_content() {
        let (dir, store) = store();
        fs::create_dir_all(dir.path().join("source")).unwrap();
        fs::write(dir.path().join("source/export.jsonl"), b"by hand").unwrap();

        let info = store.head("source/export.jsonl").await.unwrap().unwrap();
        assert_eq!(
            info.etag,
            etag_from_hash(xxhash_rust::xxh3::xxh3_128(b"by hand"))
        );
        assert_eq!(info.size, 7);
        assert!(info.metadata.is_empty());

        let replaced = store
            .put(
                "source/export.jsonl",
                b"v2".to_vec(),
                Precondition::IfMatch(info.etag),
                &Metadata::new(),
            )
            .await
            .unwrap();
        assert_eq!(
            replaced.etag,
            etag_from_hash(xxhash_rust::xxh3::xxh3_128(b"v2"))
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_file_changed_by_hand_loses_its_stale_record() {
        let (dir, store) = store();
        let metadata = Metadata::from([("source".to_owned(), "test".to_owned())]);
        let put = store
            .put(
                "state/x.json",
                b"{}".to_vec(),
                Precondition::None,
                &metadata,
            )
            .await
            .unwrap();
        fs::write(dir.path().join("state/x.json"), b"{\"edited\":true}").unwrap();

        let info = store.head("state/x.json").await.unwrap().unwrap();
        assert_ne!(info.etag, put.etag);
        assert_eq!(
            info.etag,
            etag_from_hash(xxhash_rust::xxh3::xxh3_128(b"{\"edited\":true}"))
        );
        assert!(
            info.metadata.is_empty(),
            "the record described another version"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_folder_is_not_an_object() {
        let (_dir, store) = store();
        store
            .put("a/b", b"x".to_vec(), Precondition::None, &Metadata::new())
            .await
            .unwrap();
        assert!(store.head("a").await.unwrap().is_none());
        assert!(matches!(
            store.get("a").await,
            Err(StoreError::NotFound { .. })
        ));
        store.delete("a").await.unwrap();
        assert!(store.head("a/b").await.unwrap().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_writers_have_exactly_one_winner() {
        let (_dir, store) = store();
        let v1 = store
            .put(
                "state/x",
                b"v1".to_vec(),
                Precondition::None,
                &Metadata::new(),
            )
            .await
            .unwrap();
        for precondition in [Precondition::IfMatch(v1.etag), Precondition::IfNoneMatch] {
            let key = match precondition {
                Precondition::IfNoneMatch => "state/new",
                _ => "state/x",
            };
            let racers = (0..16).map(|n| {
                let (store, precondition) = (store.clone(), precondition.clone());
                tokio::spawn(async move {
                    let body = format!("racer {n}").into_bytes();
                    store.put(key, body, precondition, &Metadata::new()).await
                })
            });
            let mut won = Vec::new();
            for racer in racers.collect::<Vec<_>>() {
                match racer.await.unwrap() {
                    Ok(info) => won.push(info),
                    Err(StoreError::PreconditionFailed { .. }) => {}
                    Err(other) => panic!("{other:?}"),
                }
            }
            assert_eq!(won.len(), 1, "{precondition:?}: {won:?}");
            assert_eq!(store.head(key).await.unwrap().unwrap().etag, won[0].etag);
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_stale_lock_is_taken_over() {
        let (dir, store) = store();
        fs::create_dir_all(dir.path().join("state")).unwrap();
        let lock = dir.path().join("state/.x.lock");
        let file = File::create(&lock).unwrap();
        file.set_modified(SystemTime::now() - STALE_LOCK * 2)
            .unwrap();
        drop(file);

        store
            .put(
                "state/x",
                b"x".to_vec(),
                Precondition::None,
                &Metadata::new(),
            )
            .await
            .unwrap();
        assert!(!lock.exists());
    }
}
