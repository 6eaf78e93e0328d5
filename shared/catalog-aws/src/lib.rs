//! Adapters between `catalog-core` and AWS: the object store port with its
//! S3 and local-folder implementations, the state store, configuration from
//! the environment, event parsing, EMF metrics and JSON logging, and the
//! passes the functions and `catalogctl` share: the build pass, the gate
//! pass, the report passes, the Buy with Prime event pass, and the Buy with
//! Prime catalog-feed submission and results passes (`bwp_pass`,
//! `bwp_results`). Domain rules stay in `catalog-core`; a function crate
//! only routes.

// The passes' module docs walk a maintainer through their private steps,
// with links: `cargo doc --document-private-items` renders them.
#![allow(rustdoc::private_intra_doc_links)]

pub mod alerts;
pub mod aws;
pub mod build_pass;
pub mod bwp_pass;
pub mod bwp_results;
pub mod config;
pub mod event_config;
pub mod event_pass;
pub mod events;
#[cfg(feature = "testing")]
pub mod faulty;
pub mod gate_pass;
pub mod local;
pub mod logging;
pub mod metrics;
pub mod report_pass;
pub mod s3;
pub mod state_store;
pub mod store;
pub mod webhook;
