//! The contract between the catalog builder and the gate: where a catalog
//! waits (the outbox key), what the object says about itself (its metadata),
//! how several parts make one catalog (the batch descriptor), and how two
//! ETags compare. Each is one type here, used by both sides, so a key or a
//! field cannot be spelled two ways.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{KindTag, SubmissionType};

/// An S3 ETag. S3 returns it quoted in some places and bare in others; two
/// ETags are equal when they are equal without their quotes.
#[derive(Debug, Clone, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ETag(String);

impl ETag {
    /// An ETag as S3 or a store gave it (quoted or not).
    pub fn new(raw: impl Into<String>) -> ETag {
        ETag(raw.into())
    }

    /// The ETag without quotes.
    pub fn bare(&self) -> &str {
        self.0.trim_matches('"')
    }

    /// The ETag as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for ETag {
    fn eq(&self, other: &ETag) -> bool {
        self.bare() == other.bare()
    }
}

impl PartialEq<str> for ETag {
    fn eq(&self, other: &str) -> bool {
        self.bare() == other.trim_matches('"')
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.bare())
    }
}

/// A key under `outbox/<env>/`: `catalogs/` where catalogs wait for the
/// gate, `rejected/` where the gate moves what it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxKey<'a> {
    /// `staging` or `prod` (or whatever folder a catalog was dropped in).
    pub env: &'a str,
    /// The file name, the key's last segment.
    pub file: &'a str,
}

impl<'a> OutboxKey<'a> {
    /// `outbox/<env>/catalogs/<file>` → the key; `None` for anything else
    /// (another folder, a nested path, an empty segment).
    pub fn parse(key: &'a str) -> Option<OutboxKey<'a>> {
        let rest = key.strip_prefix("outbox/")?;
        let (env, rest) = rest.split_once('/')?;
        let file = rest.strip_prefix("catalogs/")?;
        (!env.is_empty() && !file.is_empty() && !file.contains('/'))
            .then_some(OutboxKey { env, file })
    }

    /// The folder catalogs of `env` wait in: `outbox/<env>/catalogs/`.
    pub fn catalogs_folder(env: &str) -> String {
        format!("outbox/{env}/catalogs/")
    }

    /// `outbox/<env>/catalogs/<file>`.
    pub fn catalog(env: &str, file: &str) -> String {
        format!("outbox/{env}/catalogs/{file}")
    }

    /// Where the gate moves a refused file: `outbox/<env>/rejected/<file>`.
    pub fn rejected(env: &str, file: &str) -> String {
        format!("outbox/{env}/rejected/{file}")
    }

    /// The key this names.
    pub fn key(&self) -> String {
        OutboxKey::catalog(self.env, self.file)
    }
}

/// The last segment of a key.
pub fn file_name_of(key: &str) -> &str {
    key.rsplit_once('/').map_or(key, |(_, file)| file)
}

/// What a file dropped in `outbox/<env>/catalogs/` is to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxFile<'a> {
    /// A catalog on its own: `NAME.xml.zst`.
    Catalog(&'a str),
    /// A batch descriptor, `STEM.batch.json`, listing the parts of one catalog.
    Batch(&'a str),
    /// One part of a batch, `…-partNNNN.xml.zst`: it waits for its descriptor.
    Part,
    /// Anything else: not a catalog (a plain `.xml` is not what Amazon takes).
    Other,
}

impl<'a> OutboxFile<'a> {
    /// Classifies a file name (the last segment of the key).
    pub fn classify(file_name: &'a str) -> OutboxFile<'a> {
        if let Some(batch) = file_name.strip_suffix(".batch.json") {
            return OutboxFile::Batch(batch);
        }
        let Some(base) = file_name.strip_suffix(".xml.zst") else {
            return OutboxFile::Other;
        };
        let is_part = base
            .rsplit_once("-part")
            .is_some_and(|(_, n)| n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()));
        match (is_part, base.is_empty()) {
            (true, _) => OutboxFile::Part,
            (false, true) => OutboxFile::Other,
            (false, false) => OutboxFile::Catalog(file_name),
        }
    }
}

/// The name of the batch descriptor of a catalog: `<stem>.batch.json`.
pub fn batch_descriptor_name(catalog_name: &str) -> String {
    format!("{}.batch.json", crate::naming::stem(catalog_name))
}

/// The name of part `n` (1-based) of a catalog: `<stem>-partNNNN.xml.zst`.
pub fn part_name(catalog_name: &str, n: u32) -> String {
    format!("{}-part{n:04}.xml.zst", crate::naming::stem(catalog_name))
}

/// Object metadata as the store gives it: lower-case names, text values.
pub type MetadataMap = BTreeMap<String, String>;

/// What an outbox object says about itself in its metadata. The builder
/// writes all of it; a catalog dropped by hand may carry `catalog-type` and
/// `allow-shrink`, or nothing (then its name says the type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogMeta {
    /// `catalog-type`: `CATALOG_FULL` / `CATALOG_UPDATE` (or `full` / `update`),
    /// as found; [`crate::gate::submission_type`] reads it.
    pub catalog_type: Option<String>,
    /// `catalog-version`: the builder's catalog version. Present only on
    /// what the builder made, so it also says who made the catalog.
    pub catalog_version: Option<u64>,
    /// `export-etag`: the export the builder read.
    pub export_etag: Option<String>,
    /// `content-hash`: xxh3-128 of the XML, hex.
    pub content_hash: Option<String>,
    /// `allow-shrink`: `true` lets this one catalog past the shrink and
    /// removal guards.
    pub allow_shrink: bool,
    /// `items-<kind>`: items written per kind.
    pub items: Option<[u64; 4]>,
    /// `deletes`: deletes written.
    pub deletes: Option<u64>,
    /// `xml-bytes`: uncompressed XML bytes.
    pub xml_bytes: Option<u64>,
}

impl CatalogMeta {
    /// The metadata key of the submission type.
    pub const CATALOG_TYPE: &'static str = "catalog-type";
    /// The metadata key of the builder's catalog version.
    pub const CATALOG_VERSION: &'static str = "catalog-version";
    /// The metadata key of the export's ETag.
    pub const EXPORT_ETAG: &'static str = "export-etag";
    /// The metadata key of the content hash.
    pub const CONTENT_HASH: &'static str = "content-hash";
    /// The metadata key of the one-catalog override of the shrink guard.
    pub const ALLOW_SHRINK: &'static str = "allow-shrink";
    /// The metadata key of the delete count.
    pub const DELETES: &'static str = "deletes";
    /// The metadata key of the XML size.
    pub const XML_BYTES: &'static str = "xml-bytes";

    /// Reads what an object's metadata says; unknown or unreadable values
    /// are left out (the gate decides what a missing value means).
    pub fn from_map(map: &MetadataMap) -> CatalogMeta {
        let get = |name: &str| map.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let number = |name: &str| get(name).and_then(|v| v.parse::<u64>().ok());
        let mut items = [0u64; 4];
        let mut any_items = false;
        for kind in KindTag::ALL {
            if let Some(n) = number(&items_key(kind)) {
                items[kind as usize] = n;
                any_items = true;
            }
        }
        CatalogMeta {
            catalog_type: get(Self::CATALOG_TYPE).map(str::to_owned),
            catalog_version: number(Self::CATALOG_VERSION),
            export_etag: get(Self::EXPORT_ETAG).map(str::to_owned),
            content_hash: get(Self::CONTENT_HASH).map(str::to_owned),
            allow_shrink: get(Self::ALLOW_SHRINK).is_some_and(|v| v.eq_ignore_ascii_case("true")),
            items: any_items.then_some(items),
            deletes: number(Self::DELETES),
            xml_bytes: number(Self::XML_BYTES),
        }
    }

    /// The metadata to store with the object.
    pub fn to_map(&self) -> MetadataMap {
        let mut map = MetadataMap::new();
        let mut put = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                map.insert(name.to_owned(), value);
            }
        };
        put(Self::CATALOG_TYPE, self.catalog_type.clone());
        put(
            Self::CATALOG_VERSION,
            self.catalog_version.map(|v| v.to_string()),
        );
        put(Self::EXPORT_ETAG, self.export_etag.clone());
        put(Self::CONTENT_HASH, self.content_hash.clone());
        put(
            Self::ALLOW_SHRINK,
            self.allow_shrink.then(|| "true".to_owned()),
        );
        if let Some(items) = self.items {
            for kind in KindTag::ALL {
                put(&items_key(kind), Some(items[kind as usize].to_string()));
            }
        }
        put(Self::DELETES, self.deletes.map(|v| v.to_string()));
        put(Self::XML_BYTES, self.xml_bytes.map(|v| v.to_string()));
        map
    }

    /// The metadata of a catalog the builder made.
    pub fn built(kind: SubmissionType, version: u64, export_etag: &ETag) -> CatalogMeta {
        CatalogMeta {
            catalog_type: Some(kind.manifest_type().to_owned()),
            catalog_version: Some(version),
            export_etag: Some(export_etag.bare().to_owned()),
            ..CatalogMeta::default()
        }
    }
}

fn items_key(kind: KindTag) -> String {
    format!("items-{}", kind.source_name())
}

/// `<stem>.batch.json`: the parts of one logical catalog, in order. The
/// builder writes every field; a hand-made descriptor needs only the parts'
/// keys (the rest defaults), and the gate checks sizes when given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchDescriptor {
    /// The catalog's name (default `<stem>.xml.zst`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// `CATALOG_FULL` or `CATALOG_UPDATE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_type: Option<String>,
    /// The parts, in order.
    pub parts: Vec<BatchPart>,
}

/// One part of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPart {
    /// The part's key (or its file name, in the descriptor's folder).
    pub key: String,
    /// Its compressed size, checked when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Items it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
    /// Deletes it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes: Option<u64>,
    /// Its uncompressed XML size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml_bytes: Option<u64>,
    /// xxh3-128 of its XML, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

/// The most a batch descriptor may weigh.
pub const MAX_DESCRIPTOR_BYTES: u64 = 1 << 20;

impl BatchDescriptor {
    /// Parses a descriptor, saying what is wrong in a provider's words.
    pub fn parse(bytes: &[u8]) -> Result<BatchDescriptor, String> {
        if bytes.len() as u64 > MAX_DESCRIPTOR_BYTES {
            return Err(format!(
                "the descriptor is {} bytes; a batch descriptor is at most {MAX_DESCRIPTOR_BYTES}",
                bytes.len()
            ));
        }
        serde_json::from_slice::<BatchDescriptor>(bytes)
            .map_err(|e| format!("the descriptor is not a batch descriptor: {e}"))
    }

    /// The descriptor's bytes (pretty JSON).
    pub fn to_json(&self) -> Vec<u8> {
        // Strings and numbers only: serializing cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// The parts' keys and expected sizes, each checked to be a `.xml.zst`
    /// file in the descriptor's own folder (`outbox/<env>/catalogs/`); a
    /// bare file name is taken to be in that folder.
    pub fn part_keys(&self, env: &str) -> Result<Vec<(String, Option<u64>)>, String> {
        let folder = OutboxKey::catalogs_folder(env);
        if self.parts.is_empty() {
            return Err("the batch lists no parts".into());
        }
        let mut keys = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            let key = if part.key.contains('/') {
                part.key.clone()
            } else {
                format!("{folder}{}", part.key)
            };
            let in_folder = key
                .strip_prefix(&folder)
                .is_some_and(|file| !file.contains('/') && file.ends_with(".xml.zst"));
            if !in_folder {
                return Err(format!(
                    "the batch lists {key}; parts must be .xml.zst files in {folder}"
                ));
            }
            if keys.iter().any(|(k, _)| *k == key) {
                return Err(format!("the batch lists {key} twice"));
            }
            keys.push((key, part.size));
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_compare_without_quotes() {
        assert_eq!(ETag::new("\"abc\""), ETag::new("abc"));
        assert_ne!(ETag::new("abc"), ETag::new("abd"));
        assert!(ETag::new("abc") == *"\"abc\"");
    }

    #[test]
    fn outbox_keys_parse_only_catalog_folders() {
        assert_eq!(
            OutboxKey::parse("outbox/staging/catalogs/a.xml.zst"),
            Some(OutboxKey {
                env: "staging",
                file: "a.xml.zst"
            })
        );
        assert_eq!(OutboxKey::parse("outbox/staging/rejected/a.xml.zst"), None);
        assert_eq!(
            OutboxKey::parse("outbox/staging/catalogs/x/a.xml.zst"),
            None
        );
        assert_eq!(OutboxKey::parse("source/a.xml.zst"), None);
        assert_eq!(
            OutboxKey::catalog("prod", "a.xml.zst"),
            "outbox/prod/catalogs/a.xml.zst"
        );
        assert_eq!(
            OutboxKey::rejected("prod", "a.xml.zst"),
            "outbox/prod/rejected/a.xml.zst"
        );
    }

    #[test]
    fn outbox_files_are_catalogs_batches_or_parts() {
        assert_eq!(
            OutboxFile::classify("catalog-x-full.xml.zst"),
            OutboxFile::Catalog("catalog-x-full.xml.zst")
        );
        assert_eq!(
            OutboxFile::classify("catalog-x-full.batch.json"),
            OutboxFile::Batch("catalog-x-full")
        );
        assert_eq!(
            OutboxFile::classify("catalog-x-full-part0002.xml.zst"),
            OutboxFile::Part
        );
        assert_eq!(
            OutboxFile::classify("catalog-x-full-party.xml.zst"),
            OutboxFile::Catalog("catalog-x-full-party.xml.zst")
        );
        assert_eq!(OutboxFile::classify("catalog.xml"), OutboxFile::Other);
        assert_eq!(OutboxFile::classify(".xml.zst"), OutboxFile::Other);
        assert_eq!(
            part_name("catalog-x-full.xml.zst", 2),
            "catalog-x-full-part0002.xml.zst"
        );
        assert_eq!(
            batch_descriptor_name("catalog-x-full.xml.zst"),
            "catalog-x-full.batch.json"
        );
    }

    #[test]
    fn metadata_round_trips_and_reads_hand_made_values() {
        let mut meta = CatalogMeta::built(SubmissionType::Full, 7, &ETag::new("\"e\""));
        meta.content_hash = Some("00ff".into());
        meta.items = Some([1, 2, 3, 4]);
        meta.deletes = Some(0);
        meta.allow_shrink = true;
        let map = meta.to_map();
        assert_eq!(map["catalog-type"], "CATALOG_FULL");
        assert_eq!(map["catalog-version"], "7");
        assert_eq!(map["export-etag"], "e");
        assert_eq!(map["items-episode"], "4");
        assert_eq!(CatalogMeta::from_map(&map), meta);

        let mut hand = MetadataMap::new();
        hand.insert("allow-shrink".into(), " TRUE ".into());
        hand.insert("catalog-version".into(), "not a number".into());
        let read = CatalogMeta::from_map(&hand);
        assert!(read.allow_shrink);
        assert_eq!(read.catalog_version, None);
        assert_eq!(read.catalog_type, None);
    }

    #[test]
    fn descriptors_keep_parts_in_their_folder() {
        let d = BatchDescriptor::parse(br#"{"parts":[{"key":"a-part0001.xml.zst"},{"key":"outbox/staging/catalogs/a-part0002.xml.zst","size":3}]}"#).unwrap();
        assert_eq!(
            d.part_keys("staging").unwrap(),
            vec![
                (
                    "outbox/staging/catalogs/a-part0001.xml.zst".to_owned(),
                    None
                ),
                (
                    "outbox/staging/catalogs/a-part0002.xml.zst".to_owned(),
                    Some(3)
                ),
            ]
        );
        let outside =
            BatchDescriptor::parse(br#"{"parts":[{"key":"source/secret.xml.zst"}]}"#).unwrap();
        assert!(
            outside
                .part_keys("staging")
                .unwrap_err()
                .contains("parts must be")
        );
        let empty = BatchDescriptor::parse(br#"{"parts":[]}"#).unwrap();
        assert!(empty.part_keys("staging").is_err());
        let twice = BatchDescriptor::parse(
            br#"{"parts":[{"key":"a-part0001.xml.zst"},{"key":"a-part0001.xml.zst"}]}"#,
        )
        .unwrap();
        assert!(twice.part_keys("staging").unwrap_err().contains("twice"));
        assert!(BatchDescriptor::parse(b"{").is_err());
    }
}
