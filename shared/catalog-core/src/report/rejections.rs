//! Rejected items, from reports into the catalog state.
//!
//! The report parser records each report's rejected items as JSON Lines of
//! [`Rejection`] under `state/rejections/<env>/`; the builder, which alone
//! writes the catalog state, merges them with [`mark_rejected`] when it
//! claims its next version. A rejected item is marked
//! [`Status::Rejected`]: the operator sees it in the state, it is never
//! picked as a keep-alive, and the planner sends it again as soon as its
//! content changes (an unchanged item would only be rejected again).
//!
//! Marking is idempotent and never goes back in time: a rejection names the
//! version it speaks of, and only that version is marked; an item sent again
//! since (a higher version) is left alone. A rejection without a version
//! marks the item only if it was last sent before the report arrived.

use std::io::{self, BufRead};

use serde::{Deserialize, Serialize};

use crate::state::{CatalogState, StateError, Status};

/// One rejected item, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The item's id.
    pub id: String,
    /// The version the report rejected, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the report arrived (Unix seconds).
    pub reported_at: i64,
}

/// What a merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marked {
    /// Items marked rejected now.
    pub marked: u64,
    /// Already marked.
    pub already: u64,
    /// Left alone: unknown id, deleted, or sent again since.
    pub stale: u64,
}

/// Marks the items `rejections` name as rejected in `state`.
pub fn mark_rejected<I>(state: &mut CatalogState, rejections: I) -> Result<Marked, StateError>
where
    I: IntoIterator<Item = Rejection>,
{
    let mut done = Marked::default();
    for rejection in rejections {
        let Some(mut item) = state.get(&rejection.id) else {
            done.stale += 1;
            continue;
        };
        let same_version = match rejection.version {
            Some(version) => item.version == version,
            None => item.sent_at <= rejection.reported_at,
        };
        match item.status {
            Status::Rejected if same_version => done.already += 1,
            Status::Live if same_version => {
                item.status = Status::Rejected;
                state.upsert(&rejection.id, &item)?;
                done.marked += 1;
            }
            _ => done.stale += 1,
        }
    }
    Ok(done)
}

/// Reads a JSON Lines file of rejections; a bad line is skipped (and
/// counted), so one bad line never blocks the builder.
pub fn read_rejections<R: BufRead>(input: R) -> io::Result<(Vec<Rejection>, u64)> {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Rejection>(&line) {
            Ok(rejection) => out.push(rejection),
            Err(_) => bad += 1,
        }
    }
    Ok((out, bad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubmissionType;
    use crate::diff::{Planner, Policy, Request};
    use crate::model::{Item, ItemKind, LocalizedText, Metadata};

    fn movie(id: &str, title: &str) -> Item {
        Item {
            id: id.to_owned(),
            version: 1,
            kind: ItemKind::Movie,
            meta: Metadata {
                title: LocalizedText {
                    locale: "en-US".to_owned(),
                    text: title.to_owned(),
                },
                ..Metadata::default()
            },
        }
    }

    /// Plans `items` against `state` as an update at `now`; returns the ids
    /// sent and the new state.
    fn plan(state: CatalogState, items: &[Item], now: i64) -> (Vec<(String, u64)>, CatalogState) {
        let request = Request {
            now,
            force_full: false,
            allow_shrink: false,
        };
        let mut planner = Planner::new(state, Policy::default(), request);
        let mut sent = Vec::new();
        for item in items {
            if let Some(item) = planner.next(item.clone()).unwrap() {
                sent.push((item.id.clone(), item.version));
            }
        }
        let plan = planner.finish().unwrap();
        (
            sent,
            plan.new_state
                .unwrap_or_else(|| panic!("nothing committed")),
        )
    }

    fn rejection(id: &str, version: Option<u64>) -> Rejection {
        Rejection {
            id: id.to_owned(),
            version,
            code: Some("E".to_owned()),
            message: None,
            reported_at: 2_000_000_000,
        }
    }

    #[test]
    fn rejected_items_are_marked_once_and_resent_when_their_content_changes() {
        let now = 1_800_000_000;
        let (_, state) = plan(
            CatalogState::new("P"),
            &[movie("A", "a"), movie("B", "b")],
            now,
        );
        let mut state = state;
        let done =
            mark_rejected(&mut state, [rejection("A", Some(1)), rejection("Z", None)]).unwrap();
        assert_eq!(
            done,
            Marked {
                marked: 1,
                already: 0,
                stale: 1
            }
        );
        assert_eq!(state.get("A").unwrap().status, Status::Rejected);
        // Idempotent.
        let again = mark_rejected(&mut state, [rejection("A", Some(1))]).unwrap();
        assert_eq!(again.already, 1);

        // Unchanged: not resent (it would only be rejected again); a new
        // item makes the update go out.
        let (sent, unchanged) = plan(
            state.clone(),
            &[movie("A", "a"), movie("B", "b"), movie("C", "c")],
            now + 86_400,
        );
        assert_eq!(sent, vec![("C".to_owned(), 1)]);
        assert_eq!(unchanged.get("A").unwrap().status, Status::Rejected);

        // Changed: resent with the next version, live again.
        let (sent, changed) = plan(state, &[movie("A", "fixed"), movie("B", "b")], now + 86_400);
        assert_eq!(sent, vec![("A".to_owned(), 2)]);
        assert_eq!(changed.get("A").unwrap().status, Status::Live);
    }

    #[test]
    fn a_rejection_of_an_older_version_is_stale() {
        let (_, mut state) = plan(CatalogState::new("P"), &[movie("A", "a")], 1_800_000_000);
        let done = mark_rejected(&mut state, [rejection("A", Some(7))]).unwrap();
        assert_eq!(done.stale, 1);
        let old_report = Rejection {
            reported_at: 1_700_000_000,
            ..rejection("A", None)
        };
        assert_eq!(mark_rejected(&mut state, [old_report]).unwrap().stale, 1);
        assert_eq!(state.get("A").unwrap().status, Status::Live);
    }

    #[test]
    fn rejection_files_skip_bad_lines() {
        let text = "{\"id\":\"A\",\"version\":1,\"reported_at\":5}\nnot json\n\n";
        let (rejections, bad) = read_rejections(text.as_bytes()).unwrap();
        assert_eq!(rejections.len(), 1);
        assert_eq!(bad, 1);
        let _ = SubmissionType::Update;
    }
}
