//! Integration tests of the outbox, the relay and the consumer against the
//! real Postgres and NATS: one binary, one module per concern. Each test has
//! its own database and namespace; tests that stop NATS run a private
//! server, tests that cut Postgres put a proxy in front of it.

// Tests may unwrap: a panic there is the failure report.
#![allow(clippy::unwrap_used)]

mod consumer;
mod database_outage;
mod migrate;
mod outbox;
mod processed;
mod sessions;
mod streams;
mod support;
