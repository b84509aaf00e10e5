//! The events as a published contract: an AsyncAPI 3.0 document made from
//! the payload types themselves (their JSON Schemas come from the same
//! `serde` definitions the services encode and decode with), the envelope,
//! the streams and who sends and receives each event. `docs/asyncapi.json`
//! is this document; a test fails when the code drifts from it, and
//! `UPDATE_ASYNCAPI=1 cargo test -p syncchain-events asyncapi` writes it
//! again after an intended change.

use schemars::{JsonSchema, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use crate::{
    Event,
    payloads::{
        orders::{OrderCancelledV1, OrderPlacedV1, OrderPlacedV2, OrderSettledV1},
        products::{
            ProductCreatedV1, ProductUpdatedV1, StockRejectedV1, StockRejectedV2, StockReleasedV1,
            StockReleasedV2, StockReservedV1, StockReservedV2,
        },
        users::{UserRegisteredV1, UserRoleChangedV1, UserSessionsEndedV1, UserTokenRevokedV1},
    },
    streams,
};

/// How an event type changes, said once in the document and in
/// `docs/events.md`.
const EVOLUTION: &str = "Each message is an envelope (`id`, `type`, `version`, `occurred_at`, \
    optional `traceparent`, `payload`). A consumer decodes only the exact type and version it was \
    written for; anything else is an error it parks, never a silent misreading. Adding an optional \
    field that old readers may ignore keeps the version. Any other change is a new version (a \
    `...V2` type) published beside the old one: first every consumer learns to accept both, then \
    the producer switches, and the old version is removed once no stream holds it (streams keep \
    messages for seven days).";

/// One event type: its schema, its stream, who sends it and who reads it.
struct Entry {
    event_type: &'static str,
    version: u16,
    name: String,
    schema: Value,
    stream: &'static str,
    producer: &'static str,
    consumers: &'static [(&'static str, &'static str)],
}

fn entry<E: Event + JsonSchema>(
    stream: &'static str,
    producer: &'static str,
    consumers: &'static [(&'static str, &'static str)],
) -> Entry {
    let mut settings = SchemaSettings::draft07();
    settings.inline_subschemas = true;
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<E>()
        .to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
    }
    Entry {
        event_type: E::TYPE,
        version: E::VERSION,
        name: E::schema_name().into_owned(),
        schema,
        stream,
        producer,
        consumers,
    }
}

/// Session replicas: every service that checks callers' tokens itself.
const SESSIONS: &[(&str, &str)] = &[
    ("orders", "the sessions replica (ordered consumer)"),
    ("products", "the sessions replica (ordered consumer)"),
];
const STOCK_KEEPER: &[(&str, &str)] = &[("products", "durable consumer `products`")];
const SAGA: &[(&str, &str)] = &[
    ("orders", "durable consumer `orders`"),
    ("products", "durable consumer `products-cache`"),
];
const CACHE: &[(&str, &str)] = &[("products", "durable consumer `products-cache`")];
const NOBODY: &[(&str, &str)] = &[];

fn catalogue() -> Vec<Entry> {
    use streams::{ORDERS, PRODUCTS, USERS};
    vec![
        entry::<UserRegisteredV1>(USERS, "users", NOBODY),
        entry::<UserRoleChangedV1>(USERS, "users", NOBODY),
        entry::<UserSessionsEndedV1>(USERS, "users", SESSIONS),
        entry::<UserTokenRevokedV1>(USERS, "users", SESSIONS),
        entry::<ProductCreatedV1>(PRODUCTS, "products", CACHE),
        entry::<ProductUpdatedV1>(PRODUCTS, "products", CACHE),
        entry::<StockReservedV1>(PRODUCTS, "products", SAGA),
        entry::<StockRejectedV1>(
            PRODUCTS,
            "products",
            &[("orders", "durable consumer `orders`")],
        ),
        entry::<StockReservedV2>(PRODUCTS, "products", SAGA),
        entry::<StockRejectedV2>(
            PRODUCTS,
            "products",
            &[("orders", "durable consumer `orders`")],
        ),
        entry::<StockReleasedV1>(PRODUCTS, "products", CACHE),
        entry::<StockReleasedV2>(PRODUCTS, "products", CACHE),
        entry::<OrderPlacedV1>(ORDERS, "orders", STOCK_KEEPER),
        entry::<OrderPlacedV2>(ORDERS, "orders", STOCK_KEEPER),
        entry::<OrderCancelledV1>(ORDERS, "orders", STOCK_KEEPER),
        entry::<OrderSettledV1>(ORDERS, "orders", NOBODY),
    ]
}

/// The AsyncAPI 3.0 document of every event.
pub fn document() -> Value {
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    let mut schemas = Map::new();
    for entry in catalogue() {
        let channel = entry.event_type.to_owned();
        let message = format!("{}.v{}", entry.event_type, entry.version);
        let description = entry.schema["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // Every version of a type travels on the type's one channel: the
        // first entry makes the channel and its operations, later versions
        // add their message to them.
        let on_channel = channels.entry(channel.clone()).or_insert_with(|| {
            json!({
                "address": format!("{{namespace}}.{}", entry.event_type),
                "title": entry.event_type,
                "description": format!(
                    "{description} Stored in the JetStream stream `{{NAMESPACE}}_{}`.",
                    entry.stream
                ),
                "parameters": { "namespace": { "$ref": "#/components/parameters/namespace" } },
                "messages": {},
            })
        });
        on_channel["messages"][message.as_str()] =
            json!({ "$ref": format!("#/components/messages/{message}") });
        let message_ref = json!({ "$ref": format!("#/channels/{channel}/messages/{message}") });
        let mut operation = |name: String, made: Value| {
            let operation = operations.entry(name).or_insert(made);
            if let Some(listed) = operation["messages"].as_array_mut() {
                listed.push(message_ref.clone());
            }
        };
        operation(
            format!("{}.send", entry.event_type),
            json!({
                "action": "send",
                "channel": { "$ref": format!("#/channels/{channel}") },
                "summary": format!(
                    "The {} service publishes it through its transactional outbox, with `Nats-Msg-Id` set to the envelope id.",
                    entry.producer
                ),
                "messages": [],
            }),
        );
        for (service, how) in entry.consumers {
            operation(
                format!("{}.receive.{service}", entry.event_type),
                json!({
                    "action": "receive",
                    "channel": { "$ref": format!("#/channels/{channel}") },
                    "summary": format!("The {service} service reads it: {how}."),
                    "messages": [],
                }),
            );
        }
        messages.insert(
            message,
            json!({
                "name": entry.event_type,
                "title": format!("{} version {}", entry.event_type, entry.version),
                "summary": description,
                "contentType": "application/json",
                "headers": { "$ref": "#/components/schemas/Headers" },
                "payload": envelope(entry.event_type, entry.version, &entry.name),
            }),
        );
        schemas.insert(entry.name, entry.schema);
    }
    schemas.insert(
        "Headers".into(),
        json!({
            "type": "object",
            "properties": {
                "Nats-Msg-Id": {
                    "type": "string",
                    "format": "uuid",
                    "description": "The envelope id: JetStream drops a repeat within two minutes, and consumers record it with the effect so a redelivery is applied once.",
                },
            },
            "required": ["Nats-Msg-Id"],
        }),
    );
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "syncchain events",
            "version": "1",
            "description": format!(
                "The domain events syncchain's services exchange over NATS JetStream. Every state change others care about is written with its event in one database transaction (the outbox) and published at least once; consumers apply each event id once. {EVOLUTION}"
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "parameters": {
                "namespace": {
                    "description": "SYNCCHAIN_EVENTS_NAMESPACE (default `syncchain`); streams are named after it in capitals, e.g. SYNCCHAIN_ORDERS.",
                    "default": "syncchain",
                },
            },
            "messages": messages,
            "schemas": schemas,
        },
    })
}

/// The envelope around `payload` for one type and version.
fn envelope(event_type: &str, version: u16, payload: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": { "type": "string", "format": "uuid", "description": "Unique per event, time-ordered (UUIDv7); also the Nats-Msg-Id." },
            "type": { "const": event_type },
            "version": { "const": version },
            "occurred_at": { "type": "string", "format": "date-time" },
            "traceparent": { "type": "string", "description": "W3C trace context of the operation that caused the event, when traced." },
            "payload": { "$ref": format!("#/components/schemas/{payload}") },
        },
        "required": ["id", "type", "version", "occurred_at", "payload"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/asyncapi.json");

    #[test]
    fn the_document_matches_the_committed_asyncapi_json() {
        let actual = format!(
            "{}\n",
            serde_json::to_string_pretty(&document()).unwrap_or_default()
        );
        if std::env::var_os("UPDATE_ASYNCAPI").is_some() {
            std::fs::write(PATH, &actual).unwrap_or_else(|e| panic!("write {PATH}: {e}"));
        }
        let committed = std::fs::read_to_string(PATH).unwrap_or_default();
        assert!(
            committed == actual,
            "the events differ from {PATH}; if the change is intended, run UPDATE_ASYNCAPI=1 cargo test -p syncchain-events asyncapi and commit the file"
        );
    }

    #[test]
    fn every_event_version_in_the_payloads_is_in_the_document() {
        let documented: Vec<String> = catalogue().into_iter().map(|e| e.name).collect();
        for source in [
            include_str!("payloads/users.rs"),
            include_str!("payloads/products.rs"),
            include_str!("payloads/orders.rs"),
        ] {
            for line in source.lines() {
                if let Some(rest) = line.trim().strip_prefix("impl Event for ") {
                    let payload = rest.trim_end_matches(" {");
                    assert!(
                        documented.iter().any(|name| name == payload),
                        "{payload} is not in the AsyncAPI catalogue"
                    );
                }
            }
        }
    }

    #[test]
    fn each_channel_names_its_envelope_and_a_payload_schema_that_exists() {
        let document = document();
        let schemas = &document["components"]["schemas"];
        for (name, message) in document["components"]["messages"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let payload = message["payload"]["properties"]["payload"]["$ref"]
                .as_str()
                .unwrap_or_default();
            let schema = payload.trim_start_matches("#/components/schemas/");
            assert!(schemas[schema].is_object(), "{name}: no schema {schema}");
            assert!(
                message["payload"]["required"]
                    .as_array()
                    .is_some_and(|r| r.len() == 5),
                "{name}"
            );
        }
    }
}
