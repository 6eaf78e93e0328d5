//! Adapters between `catalog-core` and AWS: the object store port with its
//! S3 and local-folder implementations, the state store, configuration from
//! the environment, event parsing, EMF metrics and JSON logging. Handlers
//! use these; domain rules stay in `catalog-core`.

pub mod alerts;
pub mod aws;
pub mod build_pass;
pub mod config;
pub mod events;
pub mod gate_pass;
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

/// Where the gate moves a catalog it refuses: `outbox/<env>/rejected/<file>`.
pub fn outbox_rejected_key(env: &str, file_name: &str) -> String {
    format!("outbox/{env}/rejected/{file_name}")
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
