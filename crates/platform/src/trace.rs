//! W3C trace context across every hop, so one `placeOrder` is one trace
//! through the gateway, orders, the outbox relay, products and back:
//!
//! - the gateway continues a client's `traceparent` header, if any;
//! - a gRPC call carries the caller's context in its metadata
//!   ([`inject_metadata`], called by [`crate::grpc::request`]) and the
//!   service continues it ([`continue_from_headers`]);
//! - an event made while a request or a message is handled carries the
//!   context in its envelope's `traceparent` ([`traceparent`]); the relay
//!   publishes it under a span of its own, sends that span's context in the
//!   NATS headers, and the consumer continues it ([`continue_from`]).
//!
//! When no exporter is configured ([`crate::telemetry`]) no propagator is
//! installed, every call here is a cheap no-op, and nothing is written.

use std::collections::HashMap;

use axum::http::HeaderMap;
use opentelemetry::{
    global,
    propagation::{Extractor, Injector},
    trace::TraceContextExt,
};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header that carries the context.
pub const TRACEPARENT: &str = "traceparent";

/// The current span's context in the `traceparent` form, when there is
/// one to continue.
pub fn traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// `span`'s context in the `traceparent` form, when there is one.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut fields = HashMap::new();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut fields);
    });
    fields.remove(TRACEPARENT)
}

/// Adds the current span's context to outgoing gRPC metadata.
pub fn inject_metadata(metadata: &mut MetadataMap) {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return;
    }
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(metadata));
    });
}

/// Makes `span` a child of the context in `headers` (HTTP or gRPC), if any.
pub fn continue_from_headers(span: &tracing::Span, headers: &HeaderMap) {
    let context =
        global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// Makes `span` a child of `traceparent`, if it is one.
pub fn continue_from(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let fields = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let context = global::get_text_map_propagator(|propagator| propagator.extract(&fields));
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|key| key.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_exporter_nothing_is_carried() {
        assert_eq!(traceparent(), None);
        let mut metadata = MetadataMap::new();
        inject_metadata(&mut metadata);
        assert!(metadata.is_empty());
    }
}
