//! Buy with Prime events: `BUYABILITY_CHANGED` and `INVENTORY_CHANGED`, in
//! both envelopes Amazon delivers (DOMAIN.md B5), parsed into one
//! [`BwpEvent`].
//!
//! The envelopes:
//! 1. EventBridge, "thin": `detail-type` names the event, `source` is
//!    `aws.partner/buywithprime/<name>`, `resources` holds
//!    `businessProduct/<bp>/items/<id>` (buyability) or
//!    `businessProduct/<bp>/item-quantities/<id>` (inventory), and `detail`
//!    is empty: the receiver asks the API for the current state.
//! 2. The 2024-11-01 form: the webhook body, and for EventBridge the same
//!    object inside `detail`: `idempotencyKey`, `eventDescriptor`,
//!    `resources`, `eventId`, `apiVersion`, `subscriptionId`, `eventTime`,
//!    `data` (`data.product{externalId{value}, id, amazonSku{value},
//!    sku{value}, buyability{status}}`, or `{}`).
//!
//! Parsing is lenient about what it does not use (unknown fields are
//! ignored, `account` may be missing as moto leaves it out) and strict about
//! what it does: an event without a time, or without any key to dedupe on,
//! is [`MalformedEvent`]. An event type this module does not know is
//! [`Parsed::Unknown`]: acknowledged and counted, never failed.
//! `PRODUCT_INVENTORY_CHANGED` is read as `INVENTORY_CHANGED` (one docs
//! page uses both names).
//!
//! A malformed event is never worth a retry (the same bytes come back), so
//! callers acknowledge it and report the finding: the DLQ is for failures a
//! retry could fix (the API down, a store refusing a write).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The event types this module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// An item became eligible or ineligible for Buy with Prime.
    BuyabilityChanged,
    /// An item's inventory changed, or the item has an error the merchant
    /// must fix.
    InventoryChanged,
}

impl EventKind {
    /// Reads an event type name; `PRODUCT_INVENTORY_CHANGED` is an alias.
    pub fn from_name(name: &str) -> Option<EventKind> {
        match name.trim() {
            "BUYABILITY_CHANGED" => Some(EventKind::BuyabilityChanged),
            "INVENTORY_CHANGED" | "PRODUCT_INVENTORY_CHANGED" => Some(EventKind::InventoryChanged),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::BuyabilityChanged => "BUYABILITY_CHANGED",
            EventKind::InventoryChanged => "INVENTORY_CHANGED",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the event arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Envelope {
    /// EventBridge with an empty `detail`: only resource paths.
    EventBridgeThin,
    /// EventBridge with the 2024-11-01 object in `detail`.
    EventBridge,
    /// The 2024-11-01 object on its own (the webhook body).
    Webhook,
}

/// Buy with Prime's buyability status (DOMAIN.md B1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Buyability {
    /// Buyable with Prime.
    Buyable,
    /// Not buyable.
    NotBuyable,
    /// Amazon does not know (or said something this code does not).
    #[serde(other)]
    Unknown,
}

impl Buyability {
    /// Reads a status; anything unrecognised is `Unknown`.
    pub fn from_status(status: &str) -> Buyability {
        match status.trim() {
            "BUYABLE" => Buyability::Buyable,
            "NOT_BUYABLE" => Buyability::NotBuyable,
            _ => Buyability::Unknown,
        }
    }
}

/// What the dedupe key was taken from, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DedupeSource {
    /// The 2024-11-01 `idempotencyKey`.
    IdempotencyKey,
    /// The 2024-11-01 `eventId`.
    EventId,
    /// The EventBridge envelope's `id`.
    EventBridgeId,
}

/// The key a repeat of the same event shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupeKey {
    /// Where it came from.
    pub source: DedupeSource,
    /// The value as Amazon sent it.
    pub value: String,
}

impl DedupeKey {
    /// A fixed-length, store-safe name for the key (an xxh3-128 of source
    /// and value, in hex): Amazon's keys may hold any character.
    pub fn storage_name(&self) -> String {
        let source = match self.source {
            DedupeSource::IdempotencyKey => "i",
            DedupeSource::EventId => "e",
            DedupeSource::EventBridgeId => "b",
        };
        let mut text = String::with_capacity(self.value.len() + 2);
        text.push_str(source);
        text.push(':');
        text.push_str(&self.value);
        format!("{:032x}", xxhash_rust::xxh3::xxh3_128(text.as_bytes()))
    }
}

impl fmt::Display for DedupeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// One entry of `resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Resource {
    /// `businessProduct/<bp>/items/<id>`: a product (its Buy with Prime id).
    Item {
        /// The business product segment.
        business_product: String,
        /// The item id.
        id: String,
    },
    /// `businessProduct/<bp>/item-quantities/<id>`: an inventory item.
    ItemQuantity {
        /// The business product segment.
        business_product: String,
        /// The inventory item id.
        id: String,
    },
    /// Anything else, kept as sent.
    Other {
        /// The text.
        path: String,
    },
}

impl Resource {
    /// Reads a resource path; the `businessProduct/...` part may follow a
    /// prefix (an ARN's head).
    pub fn parse(path: &str) -> Resource {
        let tail = path
            .find("businessProduct/")
            .map(|at| &path[at..])
            .unwrap_or(path);
        let parts: Vec<&str> = tail.split('/').collect();
        if let ["businessProduct", bp, kind, id] = parts.as_slice()
            && !bp.is_empty()
            && !id.is_empty()
        {
            match *kind {
                "items" => {
                    return Resource::Item {
                        business_product: (*bp).to_owned(),
                        id: (*id).to_owned(),
                    };
                }
                "item-quantities" => {
                    return Resource::ItemQuantity {
                        business_product: (*bp).to_owned(),
                        id: (*id).to_owned(),
                    };
                }
                _ => {}
            }
        }
        Resource::Other {
            path: path.to_owned(),
        }
    }
}

/// What an event (or the API) says about a product. Every field may be
/// missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductFacts {
    /// The merchant's External ID.
    pub external_id: Option<String>,
    /// Buy with Prime's product id.
    pub product_id: Option<String>,
    /// The merchant's SKU.
    pub sku: Option<String>,
    /// The Amazon SKU (mSKU).
    pub amazon_sku: Option<String>,
    /// The buyability status.
    pub buyability: Option<Buyability>,
}

impl ProductFacts {
    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        self == &ProductFacts::default()
    }
}

/// A parsed event of a known type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BwpEvent {
    /// The event type.
    pub kind: EventKind,
    /// How it arrived.
    pub envelope: Envelope,
    /// What repeats share.
    pub dedupe_key: DedupeKey,
    /// `eventTime` (or EventBridge's `time`) as sent.
    pub event_time: String,
    /// The same, in Unix milliseconds.
    pub event_time_ms: i64,
    /// `resources`, read.
    pub resources: Vec<Resource>,
    /// `data.product`, when the event carries one that says anything.
    pub product: Option<ProductFacts>,
    /// `apiVersion`, when sent.
    pub api_version: Option<String>,
    /// `subscriptionId`, when sent.
    pub subscription_id: Option<String>,
    /// EventBridge's `source`, when sent.
    pub source: Option<String>,
}

impl BwpEvent {
    /// The first product (`items/<id>`) resource's id.
    pub fn item_id(&self) -> Option<&str> {
        self.resources.iter().find_map(|r| match r {
            Resource::Item { id, .. } => Some(id.as_str()),
            _ => None,
        })
    }

    /// The first inventory item (`item-quantities/<id>`) resource's id.
    pub fn inventory_item_id(&self) -> Option<&str> {
        self.resources.iter().find_map(|r| match r {
            Resource::ItemQuantity { id, .. } => Some(id.as_str()),
            _ => None,
        })
    }

    /// True when the event carries no product facts (thin, or `data: {}`):
    /// the current state must come from the API.
    pub fn is_thin(&self) -> bool {
        self.product.is_none()
    }
}

/// What [`parse_event`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A known event.
    Event(Box<BwpEvent>),
    /// A well-formed event of a type this code does not handle.
    Unknown {
        /// The type name as sent.
        event_type: String,
        /// Its dedupe key, when it has one.
        dedupe_key: Option<DedupeKey>,
    },
}

/// An event that cannot be read. A retry cannot fix it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("malformed Buy with Prime event: {reason}")]
pub struct MalformedEvent {
    /// What is wrong, and where.
    pub reason: String,
}

fn malformed(reason: impl Into<String>) -> MalformedEvent {
    MalformedEvent {
        reason: reason.into(),
    }
}

/// The EventBridge envelope (moto leaves out `account`; nothing else is needed).
#[derive(Deserialize)]
struct EventBridgeWire {
    id: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: Option<String>,
    time: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    detail: Value,
}

/// The 2024-11-01 object.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ModernWire {
    idempotency_key: Option<String>,
    event_descriptor: Option<Value>,
    #[serde(default)]
    resources: Vec<String>,
    event_id: Option<String>,
    api_version: Option<String>,
    subscription_id: Option<String>,
    event_time: Option<String>,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct Valued {
    value: Option<String>,
}

#[derive(Deserialize)]
struct StatusWire {
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductWire {
    external_id: Option<Valued>,
    id: Option<String>,
    amazon_sku: Option<Valued>,
    sku: Option<Valued>,
    buyability: Option<StatusWire>,
}

/// Parses one event body (an SQS message body from EventBridge, or a
/// webhook body).
pub fn parse_event(body: &[u8]) -> Result<Parsed, MalformedEvent> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "not JSON (line {}, column {}: {e}); Amazon's published sample has a trailing comma, \
             a real event should not",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(fields) = &value else {
        return Err(malformed("the body is not a JSON object"));
    };
    if fields.contains_key("detail-type") {
        parse_eventbridge(value)
    } else if fields.contains_key("eventDescriptor")
        || fields.contains_key("idempotencyKey")
        || fields.contains_key("eventId")
    {
        let wire: ModernWire = serde_json::from_value(value)
            .map_err(|e| malformed(format!("a 2024-11-01 event: {e}")))?;
        parse_modern(wire, None, Envelope::Webhook)
    } else {
        Err(malformed(
            "neither an EventBridge event (no `detail-type`) nor a 2024-11-01 event \
             (no `eventDescriptor`, `idempotencyKey` or `eventId`)",
        ))
    }
}

fn parse_eventbridge(value: Value) -> Result<Parsed, MalformedEvent> {
    let wire: EventBridgeWire = serde_json::from_value(value)
        .map_err(|e| malformed(format!("an EventBridge event: {e}")))?;
    let envelope_key = wire
        .id
        .as_deref()
        .filter(|id| !id.trim().is_empty())
        .map(|id| DedupeKey {
            source: DedupeSource::EventBridgeId,
            value: id.to_owned(),
        });
    let detail_is_empty = match &wire.detail {
        Value::Null => true,
        Value::Object(fields) => fields.is_empty(),
        _ => return Err(malformed("EventBridge `detail` is not an object")),
    };
    if !detail_is_empty {
        let mut modern: ModernWire = serde_json::from_value(wire.detail)
            .map_err(|e| malformed(format!("EventBridge `detail`: {e}")))?;
        if modern.event_descriptor.is_none() {
            modern.event_descriptor = Some(Value::String(wire.detail_type.clone()));
        }
        if modern.event_time.is_none() {
            modern.event_time = wire.time.clone();
        }
        if modern.resources.is_empty() {
            modern.resources = wire.resources.clone();
        }
        let parsed = parse_modern(modern, envelope_key, Envelope::EventBridge)?;
        return Ok(match parsed {
            Parsed::Event(mut event) => {
                event.source = wire.source;
                Parsed::Event(event)
            }
            unknown => unknown,
        });
    }
    let Some(kind) = EventKind::from_name(&wire.detail_type) else {
        return Ok(Parsed::Unknown {
            event_type: wire.detail_type,
            dedupe_key: envelope_key,
        });
    };
    let dedupe_key =
        envelope_key.ok_or_else(|| malformed("EventBridge event without an `id` to dedupe on"))?;
    let event_time = wire
        .time
        .ok_or_else(|| malformed("EventBridge event without a `time`"))?;
    let event_time_ms = parse_time(&event_time)?;
    Ok(Parsed::Event(Box::new(BwpEvent {
        kind,
        envelope: Envelope::EventBridgeThin,
        dedupe_key,
        event_time,
        event_time_ms,
        resources: wire.resources.iter().map(|r| Resource::parse(r)).collect(),
        product: None,
        api_version: None,
        subscription_id: None,
        source: wire.source,
    })))
}

fn parse_modern(
    wire: ModernWire,
    envelope_key: Option<DedupeKey>,
    envelope: Envelope,
) -> Result<Parsed, MalformedEvent> {
    let type_name = wire
        .event_descriptor
        .as_ref()
        .and_then(descriptor_name)
        .ok_or_else(|| {
            malformed("2024-11-01 event without an `eventDescriptor` naming its type")
        })?;
    let nonblank = |s: &Option<String>| {
        s.as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    };
    let dedupe_key = nonblank(&wire.idempotency_key)
        .map(|value| DedupeKey {
            source: DedupeSource::IdempotencyKey,
            value,
        })
        .or_else(|| {
            nonblank(&wire.event_id).map(|value| DedupeKey {
                source: DedupeSource::EventId,
                value,
            })
        })
        .or(envelope_key);
    let Some(kind) = EventKind::from_name(&type_name) else {
        return Ok(Parsed::Unknown {
            event_type: type_name,
            dedupe_key,
        });
    };
    let dedupe_key = dedupe_key.ok_or_else(|| {
        malformed("2024-11-01 event without `idempotencyKey`, `eventId` or an EventBridge `id`")
    })?;
    let event_time = wire
        .event_time
        .ok_or_else(|| malformed("2024-11-01 event without an `eventTime`"))?;
    let event_time_ms = parse_time(&event_time)?;
    let product = match &wire.data {
        Value::Null => None,
        Value::Object(data) => match data.get("product") {
            None | Some(Value::Null) => None,
            Some(product) => {
                let wire: ProductWire = serde_json::from_value(product.clone())
                    .map_err(|e| malformed(format!("`data.product`: {e}")))?;
                let facts = product_facts(wire);
                (!facts.is_empty()).then_some(facts)
            }
        },
        _ => return Err(malformed("`data` is not an object")),
    };
    Ok(Parsed::Event(Box::new(BwpEvent {
        kind,
        envelope,
        dedupe_key,
        event_time,
        event_time_ms,
        resources: wire.resources.iter().map(|r| Resource::parse(r)).collect(),
        product,
        api_version: wire.api_version,
        subscription_id: wire.subscription_id,
        source: None,
    })))
}

fn descriptor_name(descriptor: &Value) -> Option<String> {
    match descriptor {
        Value::String(name) => Some(name.clone()),
        // The docs show a plain name; accept an object naming it too.
        Value::Object(fields) => ["eventType", "type", "name"]
            .iter()
            .find_map(|k| fields.get(*k).and_then(Value::as_str))
            .map(str::to_owned),
        _ => None,
    }
}

fn product_facts(wire: ProductWire) -> ProductFacts {
    let value = |v: Option<Valued>| v.and_then(|v| v.value).filter(|s| !s.trim().is_empty());
    ProductFacts {
        external_id: value(wire.external_id),
        product_id: wire.id.filter(|s| !s.trim().is_empty()),
        sku: value(wire.sku),
        amazon_sku: value(wire.amazon_sku),
        buyability: wire
            .buyability
            .and_then(|b| b.status)
            .map(|s| Buyability::from_status(&s)),
    }
}

/// Reads an RFC 3339 time into Unix milliseconds.
pub fn parse_time(text: &str) -> Result<i64, MalformedEvent> {
    let time = OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map_err(|e| malformed(format!("event time {text:?} is not RFC 3339: {e}")))?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| malformed(format!("event time {text:?} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const THIN_BUYABILITY: &str =
        include_str!("../tests/fixtures/bwp/eventbridge-thin-buyability.json");
    const THIN_INVENTORY: &str =
        include_str!("../tests/fixtures/bwp/eventbridge-thin-inventory.json");
    const EB_MODERN_BUYABILITY: &str =
        include_str!("../tests/fixtures/bwp/eventbridge-2024-11-01-buyability.json");
    const EB_MODERN_INVENTORY: &str =
        include_str!("../tests/fixtures/bwp/eventbridge-2024-11-01-inventory-alias.json");
    const WEBHOOK_BUYABILITY: &str =
        include_str!("../tests/fixtures/bwp/webhook-2024-11-01-buyability.json");
    const WEBHOOK_INVENTORY_EMPTY: &str =
        include_str!("../tests/fixtures/bwp/webhook-2024-11-01-inventory-empty-data.json");
    const WEBHOOK_TRAILING_COMMA: &str =
        include_str!("../tests/fixtures/bwp/webhook-trailing-comma.json.txt");
    const UNKNOWN_TYPE: &str = include_str!("../tests/fixtures/bwp/webhook-unknown-type.json");

    fn event(body: &str) -> BwpEvent {
        match parse_event(body.as_bytes()).unwrap() {
            Parsed::Event(e) => *e,
            other => panic!("not a known event: {other:?}"),
        }
    }

    #[test]
    fn thin_buyability_from_eventbridge_names_the_item() {
        let e = event(THIN_BUYABILITY);
        assert_eq!(e.kind, EventKind::BuyabilityChanged);
        assert_eq!(e.envelope, Envelope::EventBridgeThin);
        assert!(e.is_thin());
        assert_eq!(e.item_id(), Some("P-THIN-1"));
        assert_eq!(e.dedupe_key.source, DedupeSource::EventBridgeId);
        assert_eq!(e.event_time_ms, 1_764_504_000_000);
        assert_eq!(
            e.source.as_deref(),
            Some("aws.partner/buywithprime/acme-events")
        );
    }

    #[test]
    fn thin_inventory_names_the_inventory_item() {
        let e = event(THIN_INVENTORY);
        assert_eq!(e.kind, EventKind::InventoryChanged);
        assert_eq!(e.inventory_item_id(), Some("INV-1"));
        assert_eq!(e.item_id(), None);
    }

    #[test]
    fn eventbridge_detail_in_2024_11_01_form_is_read_with_its_idempotency_key() {
        let e = event(EB_MODERN_BUYABILITY);
        assert_eq!(e.envelope, Envelope::EventBridge);
        assert_eq!(e.dedupe_key.source, DedupeSource::IdempotencyKey);
        assert_eq!(e.dedupe_key.value, "idem-eb-1");
        let p = e.product.unwrap();
        assert_eq!(p.external_id.as_deref(), Some("EXT-1"));
        assert_eq!(p.buyability, Some(Buyability::NotBuyable));
    }

    #[test]
    fn product_inventory_changed_is_an_alias() {
        let e = event(EB_MODERN_INVENTORY);
        assert_eq!(e.kind, EventKind::InventoryChanged);
        // No idempotencyKey: the eventId is next.
        assert_eq!(e.dedupe_key.source, DedupeSource::EventId);
        assert_eq!(e.inventory_item_id(), Some("INV-2"));
    }

    #[test]
    fn webhook_body_carries_the_product() {
        let e = event(WEBHOOK_BUYABILITY);
        assert_eq!(e.envelope, Envelope::Webhook);
        assert_eq!(e.api_version.as_deref(), Some("2024-11-01"));
        let p = e.product.unwrap();
        assert_eq!(p.sku.as_deref(), Some("SKU-1"));
        assert_eq!(p.amazon_sku.as_deref(), Some("MSKU-1"));
        assert_eq!(p.product_id.as_deref(), Some("P-1"));
        assert_eq!(p.buyability, Some(Buyability::Buyable));
    }

    #[test]
    fn empty_data_is_thin() {
        let e = event(WEBHOOK_INVENTORY_EMPTY);
        assert!(e.is_thin());
        assert_eq!(e.inventory_item_id(), Some("INV-3"));
    }

    #[test]
    fn amazons_sample_with_a_trailing_comma_is_refused_with_the_position() {
        let error = parse_event(WEBHOOK_TRAILING_COMMA.as_bytes()).unwrap_err();
        assert!(error.reason.contains("not JSON"), "{error}");
        assert!(error.reason.contains("line"), "{error}");
    }

    #[test]
    fn unknown_types_are_reported_not_failed() {
        match parse_event(UNKNOWN_TYPE.as_bytes()).unwrap() {
            Parsed::Unknown {
                event_type,
                dedupe_key,
            } => {
                assert_eq!(event_type, "ORDER_CREATED");
                assert!(dedupe_key.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn events_without_time_or_key_are_malformed() {
        let no_time = r#"{"eventDescriptor":"BUYABILITY_CHANGED","idempotencyKey":"k","data":{}}"#;
        assert!(
            parse_event(no_time.as_bytes())
                .unwrap_err()
                .reason
                .contains("eventTime")
        );
        let no_key = r#"{"eventDescriptor":"BUYABILITY_CHANGED","eventTime":"2026-01-01T00:00:00Z","resources":[],"subscriptionId":"s","eventId":""}"#;
        assert!(
            parse_event(no_key.as_bytes())
                .unwrap_err()
                .reason
                .contains("idempotencyKey")
        );
        assert!(parse_event(b"[1]").is_err());
        assert!(parse_event(b"{\"hello\":1}").is_err());
    }

    #[test]
    fn resources_are_read_after_a_prefix() {
        assert_eq!(
            Resource::parse("arn:aws:buywithprime:::businessProduct/bp1/items/X"),
            Resource::Item {
                business_product: "bp1".into(),
                id: "X".into()
            }
        );
        assert!(matches!(
            Resource::parse("businessProduct//items/X"),
            Resource::Other { .. }
        ));
    }

    #[test]
    fn storage_names_differ_by_source_and_are_fixed_length() {
        let a = DedupeKey {
            source: DedupeSource::EventId,
            value: "x/y".into(),
        };
        let b = DedupeKey {
            source: DedupeSource::IdempotencyKey,
            value: "x/y".into(),
        };
        assert_ne!(a.storage_name(), b.storage_name());
        assert_eq!(a.storage_name().len(), 32);
    }
}
