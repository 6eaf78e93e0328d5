//! Structured logs for the Lambda functions: one JSON object per line on
//! stdout, which CloudWatch Logs stores and Logs Insights can query.
//!
//! Each line carries `timestamp` (kept even though Lambda stamps the log
//! event too: a line copied out of CloudWatch still says when it happened),
//! `level`, `target`, the event's fields at the top level (`message` and
//! the rest, flattened), and `span`: the current span with its fields (for
//! example the SQS message id being handled), without the list of parents.
//! No ANSI colours.
//!
//! The filter comes from `RUST_LOG` (e.g. `info,catalog_aws=debug`); when it
//! is unset, from `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's logging config);
//! else `info`.

use std::io;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the JSON subscriber as the global default. Call once, first
/// thing in `main`; a second call (or a subscriber installed by someone
/// else) leaves the existing one in place.
pub fn init_json_logging() {
    let subscriber = json_subscriber(env_filter(), io::stdout);
    // An error here only means a subscriber is already installed.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The filter: `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`, else `info`. A
/// directive that does not parse is reported on stderr and `info` is used.
fn env_filter() -> EnvFilter {
    let from = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    let directives = from("RUST_LOG")
        .or_else(|| from("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_ascii_lowercase()))
        .unwrap_or_else(|| "info".to_owned());
    EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("log filter {directives:?} is invalid ({e}); logging at info");
        EnvFilter::new("info")
    })
}

/// The subscriber [`init_json_logging`] installs, writing to `writer`.
fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .with_target(true)
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::Value;

    use super::*;

    /// A writer that keeps what is written, for reading back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Captured {
            self.clone()
        }
    }

    fn lines(captured: &Captured) -> Vec<Value> {
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn events_are_flat_json_with_the_current_span() {
        let captured = Captured::default();
        let subscriber = json_subscriber(EnvFilter::new("info"), captured.clone());
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("run", mode = "update");
            let _outer = outer.enter();
            let span = tracing::info_span!("message", message_id = "m-1");
            let _entered = span.enter();
            tracing::info!(key = "source/a b.csv", bytes = 12_u64, "object read");
        });
        let lines = lines(&captured);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "object read");
        assert_eq!(line["key"], "source/a b.csv");
        assert_eq!(line["bytes"], 12);
        assert_eq!(line["span"]["name"], "message");
        assert_eq!(line["span"]["message_id"], "m-1");
        assert!(line.get("spans").is_none(), "{line}");
        assert!(line.get("fields").is_none(), "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["target"].is_string(), "{line}");
    }

    #[test]
    fn filter_drops_lower_levels_and_output_has_no_ansi() {
        let captured = Captured::default();
        let subscriber = json_subscriber(EnvFilter::new("warn"), captured.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("hidden");
            tracing::warn!("shown");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains('\u{1b}'), "{text}");
        let lines = lines(&captured);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["message"], "shown");
    }
}
