//! Black-box tests of the orders service: each test starts the real
//! application on port 0 with its own database and its own NATS namespace
//! (so tests run in parallel) and talks to it with the generated gRPC
//! client, as the gateway does. In most tests products' side of the saga
//! is played by publishing `stock.*` events to the real JetStream broker and
//! prices come from a small products server (`products_double`);
//! `with_products` runs the saga against the real products service.
//! `saga_model` is the property test of the state machine and the stock.

// A panic is how a test reports a failure.
#![allow(clippy::unwrap_used)]

mod helpers;
mod products_double;

mod access;
mod history;
mod idempotency;
mod lifecycle;
mod limits;
mod lines;
mod placing;
mod resending;
mod saga;
mod saga_model;
mod sessions;
mod watching;
mod with_products;
