//! The catalog-relay domain, pure: no AWS SDK, no async runtime, no network.
//!
//! Everything streams. [`writer::CatalogWriter`] turns entries into EMBER XML
//! on any `Write`; [`reader::CatalogReader`] reads EMBER XML (plain or zstd)
//! from any `Read`, yields entries and reports every rule broken as a
//! [`finding::Finding`]; [`source`] loads a provider's own export (JSON Lines
//! or CSV) into items, reporting bad rows by line; [`bwp`] turns a
//! merchant's product export into Buy with Prime catalog feed files and
//! reads their result files back.
//!
//! ```
//! use catalog_core::model::{Action, CatalogHeader, Item, ItemKind, LocalizedText, Metadata};
//! use catalog_core::reader::{CatalogReader, ReadOptions};
//! use catalog_core::writer::CatalogWriter;
//!
//! let header = CatalogHeader { id: "MY_CATALOG".into(), version: 1, action: Action::Upsert };
//! let movie = Item {
//!     id: "NEW_MOVIE".into(),
//!     version: 1,
//!     kind: ItemKind::Movie,
//!     meta: Metadata {
//!         title: LocalizedText { locale: "en-US".into(), text: "Fish & Chips".into() },
//!         ..Metadata::default()
//!     },
//! };
//! let mut writer = CatalogWriter::new(Vec::new(), &header)?;
//! writer.write_item(&movie)?;
//! let (xml, _summary) = writer.finish()?;
//!
//! let mut reader = CatalogReader::new(&xml[..], ReadOptions::default())?;
//! let mut items = Vec::new();
//! while let Some(entry) = reader.next_entry() {
//!     items.push(entry);
//! }
//! let report = reader.finish();
//! assert!(report.findings.is_clean());
//! assert_eq!(items, vec![catalog_core::model::Entry::Item(movie)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod bwp;
pub mod bwp_event;
pub mod diff;
pub mod ember;
pub mod finding;
pub mod gate;
pub mod ids;
pub mod input;
mod json_row;
pub mod ledger;
pub mod model;
pub mod naming;
pub mod outbox;
pub mod pipeline;
pub mod product_status;
pub mod reader;
pub mod report;
pub mod rules;
pub mod source;
pub mod state;
pub mod synthetic;
mod threaded;
mod words;
pub mod writer;
mod xml_events;

pub use finding::{Finding, Findings, Position, Rule, Severity};
pub use model::{
    Action, CatalogHeader, Delete, Entry, Item, ItemKind, KindTag, Metadata, SubmissionType,
};
