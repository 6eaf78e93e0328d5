//! A product's live status on Buy with Prime, and the pure decisions an
//! event makes about it: which object it lives in, whether the API must be
//! asked, whether the event is stale or a repeat, the new status, and the
//! one normalized message downstream consumers get.
//!
//! Keys (one small JSON object per product, `state/products/…`):
//! - `BUYABILITY_CHANGED` is about a product: `external-id/<id>` when the
//!   External ID is known (the merchant's own key, DOMAIN.md B1), else
//!   `product-id/<id>` (Buy with Prime's id).
//! - `INVENTORY_CHANGED` names an inventory item, and the docs give no
//!   mapping from it to a product: `inventory-item/<id>`. The object is
//!   *linked* to a product by carrying its External ID / SKU when the event
//!   (or the API) tells them. It never writes the product's object too: one
//!   event changes at most one object, which keeps "at most one state change
//!   per event" a single compare-and-swap. A reader joins the two on SKU.
//!
//! Ordering and repeats: an event older than the stored `eventTime` changes
//! nothing ([`Decision::Stale`]); an event whose dedupe key is among the
//! last [`RECENT_EVENTS`] applied to the object is a repeat
//! ([`Decision::AlreadyApplied`]): the caller resends the downstream message
//! (a redelivery after a crash between the state change and the send) with
//! the same idempotency key, and changes nothing.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::bwp_event::{Buyability, BwpEvent, EventKind, ProductFacts};

/// How many applied dedupe keys a status remembers.
pub const RECENT_EVENTS: usize = 32;

/// The prefix of every product status object.
pub const STATUS_PREFIX: &str = "state/products/";

/// Which object a status lives in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "by", content = "id", rename_all = "kebab-case")]
pub enum StatusKey {
    /// The merchant's External ID.
    ExternalId(String),
    /// Buy with Prime's product id.
    ProductId(String),
    /// An inventory item id.
    InventoryItem(String),
}

impl StatusKey {
    /// The object key: `state/products/<kind>/<id, escaped>.json`.
    pub fn object_key(&self) -> String {
        let (kind, id) = match self {
            StatusKey::ExternalId(id) => ("external-id", id),
            StatusKey::ProductId(id) => ("product-id", id),
            StatusKey::InventoryItem(id) => ("inventory-item", id),
        };
        format!("{STATUS_PREFIX}{kind}/{}.json", escape_id(id))
    }
}

/// Escapes an id for one path segment: ASCII letters, digits, `-`, `_` and
/// `.` stay; every other byte becomes `%XX` (so `/`, `..` tricks and
/// non-ASCII never reach a key).
pub fn escape_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_') {
            out.push(char::from(byte));
        } else if byte == b'.' && !out.is_empty() {
            out.push('.');
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A quantity as the API gives it (`buyableQuantity { unit amount }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    /// The unit, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The amount.
    pub amount: i64,
}

/// What the API said about an inventory item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InventoryFacts {
    /// The buyable (fulfillable) quantity, when answered.
    pub quantity: Option<Quantity>,
    /// An error the merchant must fix (`InvalidAmazonSkuConfiguration`,
    /// `MissingAmazonSkuConfiguration`), when the API answered one.
    pub problem: Option<String>,
}

/// What the event and the API together say, before the status is merged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    /// The product, from the API (current state), when asked.
    pub product: Option<ProductFacts>,
    /// The inventory item, from the API, when asked.
    pub inventory: Option<InventoryFacts>,
}

/// A question for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiQuery {
    /// `product(identifier: {productId: {value}})`.
    ProductById(String),
    /// `product(identifier: {externalId: {value}})`.
    ProductByExternalId(String),
    /// `inventoryItem(inventoryItemId)`.
    InventoryItem(String),
}

/// An event that names nothing this code can key a status on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} event {key} names no product: {reason}")]
pub struct Unresolvable {
    /// The event type.
    pub kind: EventKind,
    /// Its dedupe key.
    pub key: String,
    /// What is missing.
    pub reason: &'static str,
}

/// The live status of one product (or inventory item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductStatus {
    /// Which object this is.
    pub key: StatusKey,
    /// External ID, when known.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Buy with Prime's product id, when known.
    #[serde(default)]
    pub product_id: Option<String>,
    /// SKU, when known.
    #[serde(default)]
    pub sku: Option<String>,
    /// Amazon SKU, when known.
    #[serde(default)]
    pub amazon_sku: Option<String>,
    /// Buyability, when known.
    #[serde(default)]
    pub buyability: Option<Buyability>,
    /// The inventory item, for inventory statuses.
    #[serde(default)]
    pub inventory_item_id: Option<String>,
    /// The buyable quantity, when known.
    #[serde(default)]
    pub buyable_quantity: Option<Quantity>,
    /// An error the merchant must fix, until an event clears it.
    #[serde(default)]
    pub problem: Option<String>,
    /// The newest applied event's time, as sent.
    pub event_time: String,
    /// The same in Unix milliseconds: older events are stale.
    pub event_time_ms: i64,
    /// The newest applied event's type.
    pub last_event: EventKind,
    /// Storage names of the last [`RECENT_EVENTS`] dedupe keys applied, newest last.
    #[serde(default)]
    pub recent_events: Vec<String>,
}

/// What an event does to a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write this new status (compare-and-swap), then notify.
    Apply(ProductStatus),
    /// This event was applied before: change nothing, notify again.
    AlreadyApplied(ProductStatus),
    /// An older event than the stored one: change nothing, notify nothing.
    Stale {
        /// The stored event's time.
        stored_event_time: String,
    },
}

/// The one message downstream consumers get per applied event (the
/// `product-updates` queue). `idempotency_key` is the same on a resend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductNotice {
    /// The event's dedupe key, for consumers to drop repeats.
    pub idempotency_key: String,
    /// The event type.
    pub event_type: EventKind,
    /// The status object this event changed.
    pub status_key: StatusKey,
    /// External ID, when known.
    pub external_id: Option<String>,
    /// SKU, when known.
    pub sku: Option<String>,
    /// Amazon SKU, when known.
    pub amazon_sku: Option<String>,
    /// Buyability, when known.
    pub buyability: Option<Buyability>,
    /// The buyable quantity's amount, when known.
    pub buyable_quantity: Option<i64>,
    /// Why: the merchant-facing error code when there is one, else the event type.
    pub reason: String,
    /// The event's time, as sent.
    pub event_time: String,
}

/// What to ask the API, if anything: a thin buyability event (or one whose
/// `data` lacks the status) asks for the product; an inventory event always
/// asks for its inventory item (the quantity is never in the event).
pub fn api_query(event: &BwpEvent) -> Result<Option<ApiQuery>, Unresolvable> {
    let unresolvable = |reason| Unresolvable {
        kind: event.kind,
        key: event.dedupe_key.value.clone(),
        reason,
    };
    match event.kind {
        EventKind::BuyabilityChanged => {
            let facts = event.product.as_ref();
            if facts.and_then(|p| p.buyability).is_some() {
                return Ok(None);
            }
            if let Some(id) = facts.and_then(|p| p.external_id.clone()) {
                return Ok(Some(ApiQuery::ProductByExternalId(id)));
            }
            if let Some(id) = facts
                .and_then(|p| p.product_id.clone())
                .or_else(|| event.item_id().map(str::to_owned))
            {
                return Ok(Some(ApiQuery::ProductById(id)));
            }
            Err(unresolvable(
                "no External ID, product id or `businessProduct/<bp>/items/<id>` resource",
            ))
        }
        EventKind::InventoryChanged => match event.inventory_item_id() {
            Some(id) => Ok(Some(ApiQuery::InventoryItem(id.to_owned()))),
            None => Err(unresolvable(
                "no `businessProduct/<bp>/item-quantities/<id>` resource",
            )),
        },
    }
}

/// The object the event changes.
pub fn status_key(event: &BwpEvent, resolved: &Resolved) -> Result<StatusKey, Unresolvable> {
    let unresolvable = |reason| Unresolvable {
        kind: event.kind,
        key: event.dedupe_key.value.clone(),
        reason,
    };
    match event.kind {
        EventKind::BuyabilityChanged => {
            let facts = merged_facts(event, resolved);
            if let Some(id) = facts.external_id {
                Ok(StatusKey::ExternalId(id))
            } else if let Some(id) = facts
                .product_id
                .or_else(|| event.item_id().map(str::to_owned))
            {
                Ok(StatusKey::ProductId(id))
            } else {
                Err(unresolvable(
                    "neither the event nor the API names the product",
                ))
            }
        }
        EventKind::InventoryChanged => event
            .inventory_item_id()
            .map(|id| StatusKey::InventoryItem(id.to_owned()))
            .ok_or_else(|| unresolvable("no inventory item id in `resources`")),
    }
}

/// The event's facts overlaid with the API's (the API answers with the
/// current state, so it wins where it speaks).
fn merged_facts(event: &BwpEvent, resolved: &Resolved) -> ProductFacts {
    let mut facts = event.product.clone().unwrap_or_default();
    if let Some(api) = &resolved.product {
        let overlay = |mine: &mut Option<String>, theirs: &Option<String>| {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        };
        overlay(&mut facts.external_id, &api.external_id);
        overlay(&mut facts.product_id, &api.product_id);
        overlay(&mut facts.sku, &api.sku);
        overlay(&mut facts.amazon_sku, &api.amazon_sku);
        if api.buyability.is_some() {
            facts.buyability = api.buyability;
        }
    }
    facts
}

/// Decides what the event does to `current` (the stored status, if any).
pub fn decide(
    current: Option<&ProductStatus>,
    event: &BwpEvent,
    resolved: &Resolved,
    key: StatusKey,
) -> Decision {
    let name = event.dedupe_key.storage_name();
    if let Some(current) = current {
        if current.recent_events.contains(&name) {
            return Decision::AlreadyApplied(current.clone());
        }
        if event.event_time_ms < current.event_time_ms {
            return Decision::Stale {
                stored_event_time: current.event_time.clone(),
            };
        }
    }
    let facts = merged_facts(event, resolved);
    let mut next = current.cloned().unwrap_or_else(|| ProductStatus {
        key: key.clone(),
        external_id: None,
        product_id: None,
        sku: None,
        amazon_sku: None,
        buyability: None,
        inventory_item_id: None,
        buyable_quantity: None,
        problem: None,
        event_time: String::new(),
        event_time_ms: i64::MIN,
        last_event: event.kind,
        recent_events: Vec::new(),
    });
    let keep = |mine: &mut Option<String>, theirs: Option<String>| {
        if theirs.is_some() {
            *mine = theirs;
        }
    };
    keep(&mut next.external_id, facts.external_id);
    keep(&mut next.product_id, facts.product_id);
    keep(&mut next.sku, facts.sku);
    keep(&mut next.amazon_sku, facts.amazon_sku);
    if facts.buyability.is_some() {
        next.buyability = facts.buyability;
    }
    if let StatusKey::InventoryItem(id) = &key {
        next.inventory_item_id = Some(id.clone());
    }
    if let Some(inventory) = &resolved.inventory {
        if inventory.quantity.is_some() {
            next.buyable_quantity.clone_from(&inventory.quantity);
        }
        // An answer with a quantity and no error clears an old problem.
        next.problem.clone_from(&inventory.problem);
    }
    next.key = key;
    next.event_time.clone_from(&event.event_time);
    next.event_time_ms = event.event_time_ms;
    next.last_event = event.kind;
    next.recent_events.push(name);
    if next.recent_events.len() > RECENT_EVENTS {
        let excess = next.recent_events.len() - RECENT_EVENTS;
        next.recent_events.drain(..excess);
    }
    Decision::Apply(next)
}

/// The downstream message for an applied (or re-applied) event.
pub fn notice(status: &ProductStatus, event: &BwpEvent) -> ProductNotice {
    ProductNotice {
        idempotency_key: event.dedupe_key.value.clone(),
        event_type: event.kind,
        status_key: status.key.clone(),
        external_id: status.external_id.clone(),
        sku: status.sku.clone(),
        amazon_sku: status.amazon_sku.clone(),
        buyability: status.buyability,
        buyable_quantity: status.buyable_quantity.as_ref().map(|q| q.amount),
        reason: status
            .problem
            .clone()
            .unwrap_or_else(|| event.kind.as_str().to_owned()),
        event_time: event.event_time.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bwp_event::{Parsed, parse_event};

    fn event(body: &str) -> BwpEvent {
        match parse_event(body.as_bytes()).unwrap() {
            Parsed::Event(e) => *e,
            other => panic!("{other:?}"),
        }
    }

    fn buyability(key: &str, time: &str, status: &str) -> BwpEvent {
        event(&format!(
            r#"{{"idempotencyKey":"{key}","eventDescriptor":"BUYABILITY_CHANGED","eventTime":"{time}",
                "resources":["businessProduct/bp/items/P-1"],
                "data":{{"product":{{"externalId":{{"value":"EXT/1"}},"id":"P-1","sku":{{"value":"SKU-1"}},
                "buyability":{{"status":"{status}"}}}}}}}}"#
        ))
    }

    fn applied(decision: Decision) -> ProductStatus {
        match decision {
            Decision::Apply(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_product_event_is_keyed_by_external_id_escaped() {
        let e = buyability("k1", "2026-01-01T00:00:00Z", "BUYABLE");
        assert_eq!(api_query(&e).unwrap(), None);
        let key = status_key(&e, &Resolved::default()).unwrap();
        assert_eq!(key.object_key(), "state/products/external-id/EXT%2F1.json");
    }

    #[test]
    fn newer_applies_older_is_stale_repeat_is_recognised() {
        let first = buyability("k1", "2026-01-01T00:00:10Z", "BUYABLE");
        let key = status_key(&first, &Resolved::default()).unwrap();
        let s1 = applied(decide(None, &first, &Resolved::default(), key.clone()));
        assert_eq!(s1.buyability, Some(Buyability::Buyable));

        let older = buyability("k0", "2026-01-01T00:00:05Z", "NOT_BUYABLE");
        assert!(matches!(
            decide(Some(&s1), &older, &Resolved::default(), key.clone()),
            Decision::Stale { .. }
        ));
        assert!(matches!(
            decide(Some(&s1), &first, &Resolved::default(), key.clone()),
            Decision::AlreadyApplied(_)
        ));
        let newer = buyability("k2", "2026-01-01T00:00:20Z", "NOT_BUYABLE");
        let s2 = applied(decide(Some(&s1), &newer, &Resolved::default(), key));
        assert_eq!(s2.buyability, Some(Buyability::NotBuyable));
        assert_eq!(s2.recent_events.len(), 2);
        let n = notice(&s2, &newer);
        assert_eq!(n.idempotency_key, "k2");
        assert_eq!(n.reason, "BUYABILITY_CHANGED");
        assert_eq!(n.sku.as_deref(), Some("SKU-1"));
    }

    #[test]
    fn the_memory_of_applied_events_is_bounded() {
        let mut status = None;
        for i in 0..(RECENT_EVENTS + 5) {
            let e = buyability(&format!("k{i}"), "2026-01-01T00:00:00Z", "BUYABLE");
            let key = status_key(&e, &Resolved::default()).unwrap();
            status = Some(applied(decide(
                status.as_ref(),
                &e,
                &Resolved::default(),
                key,
            )));
        }
        assert_eq!(status.unwrap().recent_events.len(), RECENT_EVENTS);
    }

    #[test]
    fn a_thin_inventory_event_asks_the_api_and_records_the_problem() {
        let e = event(
            r#"{"version":"0","id":"eb-1","detail-type":"INVENTORY_CHANGED","time":"2026-01-01T00:00:00Z",
                "resources":["businessProduct/bp/item-quantities/INV-9"],"detail":{}}"#,
        );
        assert_eq!(
            api_query(&e).unwrap(),
            Some(ApiQuery::InventoryItem("INV-9".into()))
        );
        let resolved = Resolved {
            product: None,
            inventory: Some(InventoryFacts {
                quantity: None,
                problem: Some("MissingAmazonSkuConfiguration".into()),
            }),
        };
        let key = status_key(&e, &resolved).unwrap();
        assert_eq!(key, StatusKey::InventoryItem("INV-9".into()));
        let s = applied(decide(None, &e, &resolved, key));
        assert_eq!(notice(&s, &e).reason, "MissingAmazonSkuConfiguration");
    }

    #[test]
    fn a_thin_buyability_event_takes_the_apis_external_id() {
        let e = event(
            r#"{"version":"0","id":"eb-2","detail-type":"BUYABILITY_CHANGED","time":"2026-01-01T00:00:00Z",
                "resources":["businessProduct/bp/items/P-7"],"detail":{}}"#,
        );
        assert_eq!(
            api_query(&e).unwrap(),
            Some(ApiQuery::ProductById("P-7".into()))
        );
        let resolved = Resolved {
            product: Some(ProductFacts {
                external_id: Some("EXT-7".into()),
                buyability: Some(Buyability::Buyable),
                ..ProductFacts::default()
            }),
            inventory: None,
        };
        assert_eq!(
            status_key(&e, &resolved).unwrap(),
            StatusKey::ExternalId("EXT-7".into())
        );
    }

    #[test]
    fn ids_cannot_escape_their_folder() {
        assert_eq!(escape_id("../x"), "%2E.%2Fx");
        assert_eq!(escape_id("é"), "%C3%A9");
    }
}
