//! EMBER 1.0.0: the schema table and the switches for what it only infers.
//!
//! [`schema`] is the one place that knows element names, the child order of
//! each program type and of a `ProgramOffer`, and which of those facts are
//! documented by Amazon and which are our inference (with the evidence).
//! The writer and the reader both read it, so correcting a guess when
//! Amazon's `EMBER_1.0.0.xsd` is at hand is a one-line change.
//! [`EmberOptions`] switches inferred elements off without a code change.

pub mod options;
pub mod schema;

pub use options::{EmberOptions, Omit, OptionsError};
pub use schema::{Evidence, Inferred};
