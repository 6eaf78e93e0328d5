//! Adapters between `catalog-core` and the outside world.
//!
//! This crate grows with the AWS issues: the S3 object store (streaming
//! multipart, conditional writes), SQS, configuration from the environment,
//! and a local-folder store with the same contract. Today it holds only the
//! layout of the work bucket's outbox, so that layout lives in one place.

pub mod aws;
pub mod config;
pub mod events;
pub mod local;
pub mod logging;
pub mod metrics;
pub mod s3;
pub mod state_store;
pub mod store;

/// Where a built catalog waits in the work bucket before the gate:
/// `outbox/<env>/catalogs/<name>`.
pub fn outbox_catalog_key(env: &str, name: &str) -> String {
    format!("outbox/{env}/catalogs/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_key_is_under_env() {
        assert_eq!(
            outbox_catalog_key("staging", "catalog-x.xml.zst"),
            "outbox/staging/catalogs/catalog-x.xml.zst"
        );
    }
}
