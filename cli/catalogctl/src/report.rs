//! Printing findings and counts for people (and JSON for machines).

use std::io::{self, Write};

use catalog_core::{Finding, Findings, KindTag, Severity};

/// How many findings a terminal report prints before summarising the rest.
pub const PRINT_LIMIT: usize = 50;

pub use catalog_core::model::KindCounts;

/// "3 movies, 1 series, 2 seasons, 14 episodes".
pub fn describe_counts(counts: [u64; 4]) -> String {
    KindTag::ALL
        .iter()
        .map(|&kind| {
            let n = counts[kind as usize];
            let noun = match (kind, n) {
                (KindTag::Series, _) => "series",
                (KindTag::Movie, 1) => "movie",
                (KindTag::Movie, _) => "movies",
                (KindTag::Season, 1) => "season",
                (KindTag::Season, _) => "seasons",
                (KindTag::Episode, 1) => "episode",
                (KindTag::Episode, _) => "episodes",
            };
            format!("{n} {noun}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Human-readable size: `1.5 MB`.
pub fn describe_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.1} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} KB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

/// Prints findings as `FILE:LINE:COL: error [rule] item "id": message (fix: …)`.
pub fn print_findings(out: &mut dyn Write, file: &str, findings: &Findings) -> io::Result<()> {
    for finding in findings.iter().take(PRINT_LIMIT) {
        print_finding(out, file, finding)?;
    }
    let shown = findings.iter().count().min(PRINT_LIMIT) as u64;
    let total = findings.error_count() + findings.warning_count();
    if total > shown {
        writeln!(
            out,
            "… and {} more finding(s) not shown ({} errors, {} warnings in all)",
            total - shown,
            findings.error_count(),
            findings.warning_count()
        )?;
    }
    Ok(())
}

fn print_finding(out: &mut dyn Write, file: &str, finding: &Finding) -> io::Result<()> {
    let level = match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let position = &finding.position;
    write!(out, "{file}:{}", position.line)?;
    if position.column > 0 {
        write!(out, ":{}", position.column)?;
    }
    write!(out, ": {level} [{}]", finding.rule)?;
    if let Some(id) = &finding.item_id {
        write!(out, " item {id:?}")?;
    }
    writeln!(out, ": {} (fix: {})", finding.message, finding.fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_naturally() {
        assert_eq!(
            describe_counts([3, 1, 1, 2]),
            "3 movies, 1 series, 1 season, 2 episodes"
        );
        assert_eq!(describe_bytes(1_500_000), "1.5 MB");
    }
}
