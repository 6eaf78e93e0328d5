//! Export + state → catalog: the one loop every builder runs.
//!
//! [`build_in_parts`] streams a source export through the diff [`Planner`]
//! into [`CatalogWriter`]s: each item the plan sends is written as it
//! arrives, then the keep-alive item and the deletes, so memory stays
//! bounded by the state, never by the catalog. A catalog with more items
//! than a part may hold is split into several complete documents (parts)
//! with the same root; deletes go in the last part, children first. Rows the
//! loader refused are held (an unreadable row is not a removal); when some
//! rows could not be read at all, no delete goes out this run.
//!
//! The last part's sink is handed back unclosed: the caller finishes it
//! when the plan says send, and discards it otherwise. `catalogctl` and the
//! builder Lambda both call this.

use std::io::{self, Write};

use thiserror::Error;

use crate::diff::{DiffError, Plan, Planner, Policy, Request};
use crate::ember::EmberOptions;
use crate::finding::{Finding, Position, Rule};
use crate::model::{Action, CatalogHeader, Item, SubmissionType};
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
    /// Opening or closing a part failed.
    #[error("could not open or close catalog part {part}: {source}")]
    Part {
        /// The 1-based part number.
        part: u32,
        /// What failed.
        #[source]
        source: io::Error,
    },
}

/// Where the parts of a catalog go.
pub trait Parts {
    /// The sink of one part.
    type Sink: Write;

    /// Opens part `part` (1-based).
    fn open(&mut self, part: u32) -> io::Result<Self::Sink>;

    /// Closes a part that is complete (every part but the last).
    fn close(&mut self, part: u32, sink: Self::Sink, written: &WriteSummary) -> io::Result<()>;
}

/// What a build did.
#[derive(Debug)]
pub struct Built<W> {
    /// The last part's sink, unclosed: finish it to keep the catalog.
    pub sink: W,
    /// What was written to each part, in order; the last is the sink's.
    pub parts: Vec<WriteSummary>,
    /// What the loader found in the export.
    pub load: LoadReport,
    /// The diff's verdict, counts and the new state.
    pub plan: Plan,
}

impl<W> Built<W> {
    /// Everything written, all parts together.
    pub fn written(&self) -> WriteSummary {
        let mut total = WriteSummary::default();
        for part in &self.parts {
            total.add(part);
        }
        total
    }
}

/// Streams `loader`'s items through a diff against `state` into one sink.
///
/// `on_progress` is called every few thousand items with (items read,
/// decompressed bytes read).
pub fn build_from_state<W: Write>(
    loader: SourceLoader<'_>,
    state: CatalogState,
    policy: Policy,
    request: Request,
    sink: W,
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<Built<W>, BuildError> {
    let mut single = Single(Some(sink));
    build_in_parts(
        loader,
        state,
        policy,
        request,
        u64::MAX,
        &mut single,
        on_progress,
    )
}

/// [`build_from_state`] with EMBER options (see [`build_in_parts_with`]).
pub fn build_from_state_with<W: Write>(
    loader: SourceLoader<'_>,
    state: CatalogState,
    policy: Policy,
    request: Request,
    sink: W,
    options: &EmberOptions,
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<Built<W>, BuildError> {
    let mut single = Single(Some(sink));
    build_in_parts_with(
        loader,
        state,
        policy,
        request,
        u64::MAX,
        &mut single,
        options,
        on_progress,
    )
}

struct Single<W>(Option<W>);

impl<W: Write> Parts for Single<W> {
    type Sink = W;

    fn open(&mut self, _part: u32) -> io::Result<W> {
        self.0
            .take()
            .ok_or_else(|| io::Error::other("a single-sink build asked for a second part"))
    }

    fn close(&mut self, _part: u32, _sink: W, _written: &WriteSummary) -> io::Result<()> {
        Err(io::Error::other("a single-sink build closed a part"))
    }
}

/// Streams `loader`'s items through a diff against `state` into parts of at
/// most `max_items_per_part` items each (deletes not counted).
///
/// The state is consumed: the plan hands it back, updated, when the catalog
/// is to be sent. Keep a clone if the state before the run is still needed.
pub fn build_in_parts<P: Parts>(
    loader: SourceLoader<'_>,
    state: CatalogState,
    policy: Policy,
    request: Request,
    max_items_per_part: u64,
    parts: &mut P,
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<Built<P::Sink>, BuildError> {
    let options = EmberOptions::default();
    build_in_parts_with(
        loader,
        state,
        policy,
        request,
        max_items_per_part,
        parts,
        &options,
        on_progress,
    )
}

/// [`build_in_parts`] with EMBER options: inferred elements switched off
/// are cleared from each item before the diff (so the state's hashes are
/// those of what is sent) and not written; the offer catalog id.
///
/// Fields EMBER has no place for are reported once, as one
/// [`Rule::NotSent`] warning in the load report.
#[allow(clippy::too_many_arguments)]
pub fn build_in_parts_with<P: Parts>(
    mut loader: SourceLoader<'_>,
    state: CatalogState,
    policy: Policy,
    request: Request,
    max_items_per_part: u64,
    parts: &mut P,
    options: &EmberOptions,
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<Built<P::Sink>, BuildError> {
    let header = CatalogHeader {
        id: state.catalog_id.clone(),
        version: state.catalog_version + 1,
        action: Action::Upsert,
    };
    let mut planner = Planner::new(state, policy, request);
    let mut rotation = Rotation {
        parts,
        header,
        max: max_items_per_part.max(1),
        part: 1,
        done: Vec::new(),
        writer: None,
        options,
    };
    rotation.start()?;
    let mut read = 0u64;
    while let Some(mut item) = loader.next_item()? {
        read += 1;
        options.omit.strip(&mut item);
        if let Some(item) = planner.next(item)? {
            rotation.write(&item)?;
            loader.recycle(item);
        }
        if read.is_multiple_of(4096) {
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
        rotation.write(item)?;
    }
    let mut writer = rotation.take_writer()?;
    if plan.kind == SubmissionType::Update {
        for (delete, kind) in &plan.deletes {
            writer.delete(delete.clone(), *kind)?;
        }
        for delete in &plan.offer_deletes {
            writer.delete_offers(delete.clone())?;
        }
    }
    let (sink, written) = writer.finish()?;
    let mut done = rotation.done;
    done.push(written);
    let mut built = Built {
        sink,
        parts: done,
        load,
        plan,
    };
    if let Some(finding) = not_sent(&built.written()) {
        built.load.findings.push(finding);
    }
    Ok(built)
}

/// One warning for what EMBER could not carry in this build, if anything.
pub fn not_sent(written: &WriteSummary) -> Option<Finding> {
    let mut what = Vec::new();
    if written.prices_not_sent > 0 {
        what.push(format!(
            "the price of {} offers (EMBER 1.0.0 documents no place for prices or currencies)",
            written.prices_not_sent
        ));
    }
    if written.deep_links_not_sent > 0 {
        what.push(format!(
            "the deep link of {} programs without offers (a deep link travels in an offer's LaunchTargets)",
            written.deep_links_not_sent
        ));
    }
    if what.is_empty() {
        return None;
    }
    let position = Position {
        line: 0,
        column: 0,
        offset: 0,
    };
    Some(Finding::warning(
        Rule::NotSent,
        position,
        format!("not sent: {}", what.join("; ")),
    ))
}

/// The current part's writer, and the rotation to the next.
struct Rotation<'p, P: Parts> {
    parts: &'p mut P,
    options: &'p EmberOptions,
    header: CatalogHeader,
    max: u64,
    part: u32,
    done: Vec<WriteSummary>,
    writer: Option<CatalogWriter<P::Sink>>,
}

impl<P: Parts> Rotation<'_, P> {
    fn start(&mut self) -> Result<(), BuildError> {
        let part = self.part;
        let sink = self
            .parts
            .open(part)
            .map_err(|source| BuildError::Part { part, source })?;
        self.writer = Some(CatalogWriter::with_options(
            sink,
            &self.header,
            self.options,
        )?);
        Ok(())
    }

    fn no_part(&self) -> BuildError {
        BuildError::Part {
            part: self.part,
            source: io::Error::other("no open part"),
        }
    }

    fn take_writer(&mut self) -> Result<CatalogWriter<P::Sink>, BuildError> {
        self.writer.take().ok_or_else(|| self.no_part())
    }

    fn write(&mut self, item: &Item) -> Result<(), BuildError> {
        let full = self
            .writer
            .as_ref()
            .is_some_and(|w| w.summary().total_items() >= self.max);
        if full {
            let part = self.part;
            let (sink, written) = self.take_writer()?.finish()?;
            self.parts
                .close(part, sink, &written)
                .map_err(|source| BuildError::Part { part, source })?;
            self.done.push(written);
            self.part += 1;
            self.start()?;
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(self.no_part());
        };
        writer.write_item(item)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{LoadOptions, SourceFormat, SourceRecord};
    use crate::synthetic::Synthetic;
    use std::io::Read;

    /// A JSON Lines export of `items` synthetic items.
    fn export(items: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for item in Synthetic::new(items, 7) {
            serde_json::to_writer(&mut out, &SourceRecord::from(&item)).unwrap();
            out.push(b'\n');
        }
        out
    }

    fn request() -> Request {
        Request {
            now: 1_767_592_800,
            force_full: true,
            allow_shrink: false,
        }
    }

    fn build(export: impl Read + 'static, sink: impl Write) -> Result<u64, BuildError> {
        let loader =
            SourceLoader::new(export, SourceFormat::JsonLines, LoadOptions::default()).unwrap();
        let state = CatalogState::new("CAT");
        build_from_state(
            loader,
            state,
            Policy::default(),
            request(),
            sink,
            &mut |_, _| {},
        )
        .map(|built| built.written().total_items())
    }

    /// Fails every write once `left` bytes have gone through.
    struct FailingSink {
        left: usize,
    }

    impl Write for FailingSink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left < buf.len() {
                return Err(io::Error::other("the disk is full"));
            }
            self.left -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Hands over `good` bytes of an export, then fails.
    struct FailingExport {
        bytes: io::Cursor<Vec<u8>>,
        good: u64,
    }

    impl Read for FailingExport {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.bytes.position() >= self.good {
                return Err(io::Error::other("the connection was reset"));
            }
            let room = (self.good - self.bytes.position()) as usize;
            let n = out.len().min(room);
            self.bytes.read(&mut out[..n])
        }
    }

    #[test]
    fn every_item_is_written_in_the_export_order() {
        let items = 1_000;
        let mut sink = Vec::new();
        let written = build(io::Cursor::new(export(items)), &mut sink).unwrap();
        assert_eq!(written, items);
        let xml = String::from_utf8(sink).unwrap();
        let ids: Vec<&str> = xml
            .lines()
            .filter_map(|l| l.trim_start().split_once(" id=\"").map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_once('"').map(|(id, _)| id))
            .filter(|id| !id.contains(".offers.") && *id != "CAT" && *id != "CAT-offers")
            .collect();
        let expected: Vec<String> = Synthetic::new(items, 7).map(|item| item.id).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn a_sink_that_fails_stops_the_build_with_its_error() {
        let sink = FailingSink { left: 100_000 };
        match build(io::Cursor::new(export(3_000)), sink) {
            Err(BuildError::Write(error)) => {
                assert!(error.to_string().contains("the disk is full"), "{error}")
            }
            other => panic!("expected the sink's error, got {other:?}"),
        }
    }

    #[test]
    fn an_export_that_fails_to_read_stops_the_build_with_its_error() {
        let bytes = export(3_000);
        let good = bytes.len() as u64 / 2;
        let export = FailingExport {
            bytes: io::Cursor::new(bytes),
            good,
        };
        match build(export, Vec::new()) {
            Err(BuildError::Load(error)) => {
                assert!(
                    error.to_string().contains("the connection was reset"),
                    "{error}"
                )
            }
            other => panic!("expected the export's error, got {other:?}"),
        }
    }
}
