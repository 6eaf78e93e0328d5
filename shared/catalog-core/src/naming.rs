//! Catalog file names: `catalog-YYYYMMDDTHHMMSSZ-<full|update>[-partNNNN].xml.zst`.
//!
//! Several catalogs a day sort by time and never collide (DOMAIN.md A1, ours).

use time::OffsetDateTime;

use crate::model::SubmissionType;

/// `YYYYMMDDTHHMMSSZ` of `at` in UTC: the time in every file name this
/// project makes (catalogs, feed files), so names sort by time.
pub fn compact_utc(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The file name of a catalog built at `at` (UTC), optionally one part of several.
pub fn catalog_file_name(at: OffsetDateTime, kind: SubmissionType, part: Option<u32>) -> String {
    let part = part.map(|n| format!("-part{n:04}")).unwrap_or_default();
    format!(
        "catalog-{}-{}{part}.xml.zst",
        compact_utc(at),
        kind.as_str()
    )
}

/// The name without `.xml.zst`, for the summary and manifest next to it.
pub fn stem(file_name: &str) -> &str {
    file_name.strip_suffix(".xml.zst").unwrap_or(file_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names_sort_by_time_and_say_full_or_update() {
        let at = datetime!(2025-04-20 06:05:04 UTC);
        assert_eq!(
            catalog_file_name(at, SubmissionType::Full, None),
            "catalog-20250420T060504Z-full.xml.zst"
        );
        assert_eq!(
            catalog_file_name(at, SubmissionType::Update, Some(3)),
            "catalog-20250420T060504Z-update-part0003.xml.zst"
        );
        assert_eq!(stem("catalog-x-full.xml.zst"), "catalog-x-full");
    }
}
