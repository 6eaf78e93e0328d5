//! The submission cadence, checked from the published ledger (DOMAIN.md A5).
//!
//! Amazon deprioritises a catalog without an incremental update for 7 days
//! and may suppress one without a full refresh for 30. The builder sends an
//! update at least every 4 days and a full every 25, so the alarms here
//! (defaults 6 and 28 days, issue #18) mean the builder's own schedule
//! failed, with a day or two left to act. A full counts as an update too
//! [ours: it re-sends every item]. A published submission with no report
//! after `report_within_hours` (default 24) is reported as missing: Amazon
//! posts reports within hours (DOMAIN.md A1).
//!
//! Pure: the caller gives the time (an injected clock in tests).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ledger::Published;

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CadencePolicy {
    /// Days without an update (or full) before the alarm.
    pub update_days: u32,
    /// Days without a full before the alarm.
    pub full_days: u32,
    /// Hours a published submission may wait for its report.
    pub report_within_hours: u32,
}

impl Default for CadencePolicy {
    fn default() -> CadencePolicy {
        CadencePolicy {
            update_days: 6,
            full_days: 28,
            report_within_hours: 24,
        }
    }
}

/// One published submission, as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The catalog's name.
    pub catalog: String,
    /// `staging` or `prod`.
    pub env: String,
    /// A full submission.
    pub full: bool,
    /// When it was published (Unix seconds).
    pub at: i64,
    /// Whether a report answering it was read.
    pub reported: bool,
}

impl Submitted {
    /// From a ledger record; `None` when its time is not RFC 3339.
    pub fn from_published(record: &Published, reported: bool) -> Option<Submitted> {
        let at = OffsetDateTime::parse(&record.validated_at, &Rfc3339).ok()?;
        Some(Submitted {
            catalog: record.catalog.clone(),
            env: record.env.clone(),
            full: record.manifest_type == "CATALOG_FULL",
            at: at.unix_timestamp(),
            reported,
        })
    }
}

/// The cadence of one env.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvCadence {
    /// `staging` or `prod`.
    pub env: String,
    /// When the last update or full went out (Unix seconds).
    pub last_update: Option<i64>,
    /// When the last full went out.
    pub last_full: Option<i64>,
    /// Days since then (fractional), `None` when never.
    pub days_since_update: Option<f64>,
    /// Days since the last full.
    pub days_since_full: Option<f64>,
    /// Past the update threshold (or never sent).
    pub update_overdue: bool,
    /// Past the full threshold (or never sent).
    pub full_overdue: bool,
    /// Published submissions with no report past the threshold.
    pub missing_reports: Vec<String>,
}

impl EnvCadence {
    /// Nothing to alarm about.
    pub fn healthy(&self) -> bool {
        !self.update_overdue && !self.full_overdue && self.missing_reports.is_empty()
    }

    /// What is wrong, one sentence each.
    pub fn problems(&self, policy: &CadencePolicy) -> Vec<String> {
        let mut out = Vec::new();
        let days = |d: Option<f64>| d.map_or("ever".to_owned(), |d| format!("{d:.1} days"));
        if self.update_overdue {
            out.push(format!(
                "{}: no update published for {} (alarm at {} days; Amazon deprioritises after 7)",
                self.env,
                days(self.days_since_update),
                policy.update_days
            ));
        }
        if self.full_overdue {
            out.push(format!(
                "{}: no full catalog published for {} (alarm at {} days; Amazon may suppress after 30)",
                self.env,
                days(self.days_since_full),
                policy.full_days
            ));
        }
        for catalog in &self.missing_reports {
            out.push(format!(
                "{}: {catalog} has had no ingestion report for over {} hours",
                self.env, policy.report_within_hours
            ));
        }
        out
    }
}

/// Checks each env that has published anything.
pub fn check_cadence(now: i64, submitted: &[Submitted], policy: &CadencePolicy) -> Vec<EnvCadence> {
    let mut envs: Vec<&str> = submitted.iter().map(|s| s.env.as_str()).collect();
    envs.sort_unstable();
    envs.dedup();
    envs.into_iter()
        .map(|env| {
            let mine = submitted.iter().filter(|s| s.env == env);
            let last_update = mine.clone().map(|s| s.at).max();
            let last_full = mine.clone().filter(|s| s.full).map(|s| s.at).max();
            let days = |at: Option<i64>| at.map(|at| (now - at) as f64 / 86_400.0);
            let overdue = |at: Option<i64>, limit: u32| {
                at.is_none_or(|at| now - at > i64::from(limit) * 86_400)
            };
            let wait = i64::from(policy.report_within_hours) * 3600;
            let mut missing_reports: Vec<String> = mine
                .filter(|s| !s.reported && now - s.at > wait)
                .map(|s| s.catalog.clone())
                .collect();
            missing_reports.sort();
            EnvCadence {
                env: env.to_owned(),
                last_update,
                last_full,
                days_since_update: days(last_update),
                days_since_full: days(last_full),
                update_overdue: overdue(last_update, policy.update_days),
                full_overdue: overdue(last_full, policy.full_days),
                missing_reports,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_790_000_000;

    fn sent(catalog: &str, full: bool, days_ago: f64, reported: bool) -> Submitted {
        Submitted {
            catalog: catalog.to_owned(),
            env: "staging".to_owned(),
            full,
            at: NOW - (days_ago * DAY as f64) as i64,
            reported,
        }
    }

    #[test]
    fn all_well() {
        let ledger = [sent("f", true, 10.0, true), sent("u", false, 1.0, true)];
        let [env] = &check_cadence(NOW, &ledger, &CadencePolicy::default())[..] else {
            panic!("one env");
        };
        assert!(env.healthy(), "{env:?}");
    }

    #[test]
    fn five_days_without_an_update() {
        let ledger = [sent("f", true, 20.0, true), sent("u", false, 5.0, true)];
        let default = &check_cadence(NOW, &ledger, &CadencePolicy::default())[0];
        assert!(default.healthy(), "5 days is within the default 6");
        assert!((default.days_since_update.unwrap() - 5.0).abs() < 0.01);
        let strict = CadencePolicy {
            update_days: 4,
            ..CadencePolicy::default()
        };
        let checked = &check_cadence(NOW, &ledger, &strict)[0];
        assert!(checked.update_overdue && !checked.full_overdue);
        assert!(checked.problems(&strict)[0].contains("no update published for 5.0 days"));
    }

    #[test]
    fn twenty_five_days_without_a_full() {
        let ledger = [sent("f", true, 25.0, true), sent("u", false, 1.0, true)];
        assert!(check_cadence(NOW, &ledger, &CadencePolicy::default())[0].healthy());
        let strict = CadencePolicy {
            full_days: 24,
            ..CadencePolicy::default()
        };
        let checked = &check_cadence(NOW, &ledger, &strict)[0];
        assert!(checked.full_overdue && !checked.update_overdue);
        // Past the default too.
        let ledger = [sent("f", true, 29.0, true), sent("u", false, 1.0, true)];
        assert!(check_cadence(NOW, &ledger, &CadencePolicy::default())[0].full_overdue);
    }

    #[test]
    fn a_submission_without_a_report_for_24_hours() {
        let ledger = [
            sent("f", true, 3.0, true),
            sent("late", false, 1.01, false),
            sent("fresh", false, 0.5, false),
        ];
        let env = &check_cadence(NOW, &ledger, &CadencePolicy::default())[0];
        assert_eq!(env.missing_reports, vec!["late".to_owned()]);
        assert!(!env.healthy());
    }

    #[test]
    fn an_env_that_never_published_is_not_checked() {
        assert!(check_cadence(NOW, &[], &CadencePolicy::default()).is_empty());
    }
}
