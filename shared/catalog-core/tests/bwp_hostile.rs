//! Hostile input for the Buy with Prime readers: whatever the bytes, the
//! product loader, the feed validator and the result reader never panic,
//! every finding names a line, and good rows around bad ones still go on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use catalog_core::bwp::{
    ListingKind, ProductLoadOptions, ProductLoader, ResultReader, validate_feed,
};
use catalog_core::source::SourceFormat;
use proptest::prelude::*;

const GOOD_JSON: &str = "{\"external_id\":\"ok-1\",\"sku\":\"S1\",\"amazon_sku\":\"M1\",\"image_url\":\"https://i.example/1.jpg\"}\n";
const FEED_HEADER: &str = "\"External ID\",\"Updated External ID\",\"SKU\",\"Amazon SKU\",\"Offer Prime\",\"Image URL\",\"Product Detail Page URL\"\n";

fn load_all(bytes: &[u8], format: SourceFormat) -> Vec<String> {
    let mut loader = ProductLoader::new(bytes, format, ProductLoadOptions::default()).unwrap();
    let mut ids = Vec::new();
    while let Some((_, product)) = loader.next_product().unwrap() {
        ids.push(product.external_id);
    }
    let report = loader.finish();
    for finding in report.findings.iter() {
        assert!(finding.position.line >= 1, "{finding}");
    }
    ids
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_bytes_between_good_rows_never_stop_the_load(noise in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = GOOD_JSON.as_bytes().to_vec();
        bytes.push(b'\n');
        bytes.extend(noise.iter().copied().filter(|&b| b != b'\n'));
        bytes.push(b'\n');
        bytes.extend_from_slice(GOOD_JSON.replace("ok-1", "ok-2").replace("S1", "S2").as_bytes());
        let ids = load_all(&bytes, SourceFormat::JsonLines);
        prop_assert_eq!(ids.first().map(String::as_str), Some("ok-1"));
        prop_assert!(ids.iter().any(|id| id == "ok-2"));
    }

    #[test]
    fn any_bytes_as_csv_feed_or_result_never_panic(noise in proptest::collection::vec(any::<u8>(), 0..600)) {
        load_all(&noise, SourceFormat::Csv);
        let mut feed = FEED_HEADER.as_bytes().to_vec();
        feed.extend_from_slice(&noise);
        let report = validate_feed(&feed[..], &mut |_| ListingKind::FirstListing, 50).unwrap();
        for finding in report.findings.iter() {
            prop_assert!(finding.position.line >= 1);
        }
        let mut reader = ResultReader::new(&noise[..], 50).unwrap();
        while reader.next_row().unwrap().is_some() {}
    }
}

#[test]
fn a_gzip_feed_is_validated_like_a_plain_one() {
    let text = format!("{FEED_HEADER}p1,,S1,M1,maybe,https://i/1,\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let report = validate_feed(&gz[..], &mut |_| ListingKind::FirstListing, 50).unwrap();
    let found: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.position.line, f.rule.code()))
        .collect();
    assert_eq!(found, [(2, "bwp.offer-prime")]);
}

#[test]
fn a_truncated_zstd_export_is_an_error_not_a_panic() {
    let text = GOOD_JSON.repeat(1000);
    let zst = zstd::encode_all(text.as_bytes(), 3).unwrap();
    let cut = &zst[..zst.len() / 2];
    let mut loader =
        ProductLoader::new(cut, SourceFormat::JsonLines, ProductLoadOptions::default()).unwrap();
    let mut failed = false;
    loop {
        match loader.next_product() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "a cut zstd stream must fail the load");
}
