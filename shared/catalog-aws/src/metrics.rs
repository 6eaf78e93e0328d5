//! CloudWatch metrics as one Embedded Metric Format (EMF) log line per run.
//!
//! A Lambda function writes the line to stdout; CloudWatch Logs extracts the
//! metrics from it, with no API call and no extra permission. The shape
//! (AWS's "Specification: Embedded metric format"):
//!
//! ```json
//! {"_aws":{"Timestamp":1732492800000,
//!          "CloudWatchMetrics":[{"Namespace":"CatalogRelay",
//!                                "Dimensions":[["Function","Env"]],
//!                                "Metrics":[{"Name":"ItemsSent","Unit":"Count"}]}]},
//!  "Function":"catalog-builder","Env":"staging","ItemsSent":42}
//! ```
//!
//! Dimension values are strings; metric values are numbers. Extra
//! properties (a request id, the run's mode) can ride along: they are kept
//! in the log line but are not metrics. EMF allows at most 100 metrics and
//! 30 dimensions per line; more are dropped with a warning.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Number, Value, json};

/// EMF's limit on metrics in one directive.
const MAX_METRICS: usize = 100;
/// EMF's limit on dimensions in one dimension set.
const MAX_DIMENSIONS: usize = 30;

/// The units CloudWatch knows (a subset: the ones this project uses and
/// their close relatives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// A plain count.
    Count,
    /// Bytes.
    Bytes,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
    /// A percentage.
    Percent,
    /// Bytes per second.
    BytesPerSecond,
    /// Counts per second.
    CountPerSecond,
    /// No unit.
    None,
}

impl Unit {
    /// The unit's name as CloudWatch spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::Percent => "Percent",
            Unit::BytesPerSecond => "Bytes/Second",
            Unit::CountPerSecond => "Count/Second",
            Unit::None => "None",
        }
    }
}

/// A metric value: any integer, or a finite float.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValue(Option<Number>);

macro_rules! metric_value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for MetricValue {
            fn from(n: $t) -> MetricValue {
                MetricValue(Some(Number::from(n)))
            }
        }
    )*};
}
metric_value_from_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl From<f64> for MetricValue {
    /// NaN and infinities are not numbers in JSON: such a metric is dropped.
    fn from(n: f64) -> MetricValue {
        MetricValue(Number::from_f64(n))
    }
}

impl From<std::time::Duration> for MetricValue {
    /// A duration as whole milliseconds (use with [`Unit::Milliseconds`]).
    fn from(d: std::time::Duration) -> MetricValue {
        MetricValue::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// One EMF line: a namespace, one dimension set, metrics and properties.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfLine {
    namespace: String,
    timestamp_ms: u64,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, Unit, Number)>,
    properties: Vec<(String, Value)>,
}

impl EmfLine {
    /// Starts a line in `namespace` with one dimension set made of
    /// `dimensions` (name, value), stamped now.
    pub fn new<N, V>(namespace: &str, dimensions: impl IntoIterator<Item = (N, V)>) -> EmfLine
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut line = EmfLine {
            namespace: namespace.to_owned(),
            timestamp_ms: now_ms(),
            dimensions: Vec::new(),
            metrics: Vec::new(),
            properties: Vec::new(),
        };
        for (name, value) in dimensions {
            let name = name.into();
            if line.dimensions.len() >= MAX_DIMENSIONS {
                tracing::warn!(dimension = %name, "EMF allows 30 dimensions: dimension dropped");
                continue;
            }
            line.dimensions.push((name, value.into()));
        }
        line
    }

    /// Sets the timestamp (milliseconds since the Unix epoch).
    pub fn timestamp_ms(mut self, ms: u64) -> EmfLine {
        self.timestamp_ms = ms;
        self
    }

    /// Adds a metric; a second value for the same name replaces the first.
    /// A non-finite float is dropped with a warning.
    pub fn metric(mut self, name: &str, unit: Unit, value: impl Into<MetricValue>) -> EmfLine {
        let Some(value) = value.into().0 else {
            tracing::warn!(
                metric = name,
                "metric value is not a finite number: dropped"
            );
            return self;
        };
        if let Some(slot) = self.metrics.iter_mut().find(|(n, _, _)| n == name) {
            *slot = (name.to_owned(), unit, value);
        } else if self.metrics.len() >= MAX_METRICS {
            tracing::warn!(
                metric = name,
                "EMF allows 100 metrics per line: metric dropped"
            );
        } else {
            self.metrics.push((name.to_owned(), unit, value));
        }
        self
    }

    /// Adds a property that is logged but is not a metric.
    pub fn property(mut self, name: &str, value: impl Into<Value>) -> EmfLine {
        self.properties.push((name.to_owned(), value.into()));
        self
    }

    /// The line as JSON text, without a trailing newline.
    ///
    /// Members are written in this order: `_aws`, properties, dimensions,
    /// metrics; a later one with the same name wins, so a dimension or a
    /// metric cannot be shadowed by a property.
    pub fn to_json(&self) -> String {
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        let metric_defs: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let aws = json!({
            "Timestamp": self.timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": self.namespace,
                "Dimensions": [dimension_names],
                "Metrics": metric_defs,
            }],
        });
        // Members in a stable, readable order; a later one replaces an
        // earlier one of the same name, and nothing replaces `_aws`.
        let mut members: Vec<(&str, Value)> = vec![("_aws", aws)];
        fn put<'s>(members: &mut Vec<(&'s str, Value)>, name: &'s str, value: Value) {
            if name == "_aws" {
                return;
            }
            match members.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => members.push((name, value)),
            }
        }
        for (name, value) in &self.properties {
            put(&mut members, name, value.clone());
        }
        for (name, value) in &self.dimensions {
            put(&mut members, name, Value::String(value.clone()));
        }
        for (name, _, value) in &self.metrics {
            put(&mut members, name, Value::Number(value.clone()));
        }
        let mut out = String::from("{");
        for (i, (name, value)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String((*name).to_owned()).to_string());
            out.push(':');
            out.push_str(&value.to_string());
        }
        out.push('}');
        out
    }

    /// Writes the line to stdout, where CloudWatch Logs picks it up.
    pub fn emit(&self) {
        println!("{}", self.to_json());
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn line_has_the_documented_emf_shape() {
        let line = EmfLine::new(
            "CatalogRelay",
            [("Function", "catalog-builder"), ("Env", "staging")],
        )
        .timestamp_ms(1_732_492_800_000)
        .metric("MoviesSent", Unit::Count, 42_u64)
        .metric("BytesWritten", Unit::Bytes, 1_048_576_u64)
        .metric("Duration", Unit::Milliseconds, Duration::from_millis(1500))
        .property("mode", "update");
        let value: Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(
            value,
            json!({
                "_aws": {
                    "Timestamp": 1_732_492_800_000_u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "CatalogRelay",
                        "Dimensions": [["Function", "Env"]],
                        "Metrics": [
                            {"Name": "MoviesSent", "Unit": "Count"},
                            {"Name": "BytesWritten", "Unit": "Bytes"},
                            {"Name": "Duration", "Unit": "Milliseconds"},
                        ],
                    }],
                },
                "Function": "catalog-builder",
                "Env": "staging",
                "MoviesSent": 42,
                "BytesWritten": 1_048_576,
                "Duration": 1500,
                "mode": "update",
            })
        );
    }

    #[test]
    fn line_is_one_line_starting_with_aws() {
        let text = EmfLine::new("N", [("D", "v")])
            .metric("M", Unit::Count, 1_u32)
            .to_json();
        assert!(!text.contains('\n'));
        assert!(text.starts_with(r#"{"_aws":"#), "{text}");
    }

    #[test]
    fn members_follow_aws_in_a_stable_order_and_aws_cannot_be_replaced() {
        let text = EmfLine::new("N", [("Env", "prod")])
            .timestamp_ms(1)
            .metric("M", Unit::Count, 2_u64)
            .property("_aws", "nope")
            .property("mode", "full")
            .to_json();
        assert_eq!(
            text,
            r#"{"_aws":{"CloudWatchMetrics":[{"Dimensions":[["Env"]],"Metrics":[{"Name":"M","Unit":"Count"}],"Namespace":"N"}],"Timestamp":1},"mode":"full","Env":"prod","M":2}"#
        );
    }

    #[test]
    fn integers_stay_integers_and_floats_stay_floats() {
        let text = EmfLine::new("N", [("D", "v")])
            .metric("Whole", Unit::Count, 3_u64)
            .metric("Share", Unit::Percent, 7.5)
            .to_json();
        assert!(text.contains(r#""Whole":3"#), "{text}");
        assert!(text.contains(r#""Share":7.5"#), "{text}");
    }

    #[test]
    fn non_finite_values_are_dropped() {
        let line = EmfLine::new("N", [("D", "v")])
            .metric("Bad", Unit::None, f64::NAN)
            .metric("Good", Unit::Count, 1_i64);
        let value: Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(value.get("Bad"), None);
        assert_eq!(
            value["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "Good", "Unit": "Count"}])
        );
    }

    #[test]
    fn a_repeated_metric_replaces_the_first() {
        let line = EmfLine::new("N", [("D", "v")])
            .metric("M", Unit::Count, 1_u64)
            .metric("M", Unit::Count, 2_u64);
        let value: Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(value["M"], 2);
        assert_eq!(
            value["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_property_cannot_shadow_a_metric_or_dimension() {
        let line = EmfLine::new("N", [("Env", "prod")])
            .metric("M", Unit::Count, 5_u64)
            .property("M", "text")
            .property("Env", "staging");
        let value: Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(value["M"], 5);
        assert_eq!(value["Env"], "prod");
    }

    #[test]
    fn limits_are_enforced() {
        let dims: Vec<(String, String)> =
            (0..40).map(|i| (format!("D{i}"), "v".to_owned())).collect();
        let mut line = EmfLine::new("N", dims);
        for i in 0..120 {
            line = line.metric(&format!("M{i}"), Unit::Count, i);
        }
        let value: Value = serde_json::from_str(&line.to_json()).unwrap();
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"][0].as_array().unwrap().len(), 30);
        assert_eq!(directive["Metrics"].as_array().unwrap().len(), 100);
    }

    #[test]
    fn timestamp_defaults_to_now() {
        let before = now_ms();
        let value: Value =
            serde_json::from_str(&EmfLine::new("N", Vec::<(String, String)>::new()).to_json())
                .unwrap();
        let ts = value["_aws"]["Timestamp"].as_u64().unwrap();
        assert!(ts >= before && ts <= now_ms());
    }
}
