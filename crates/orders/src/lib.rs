//! The orders service: placing, reading, listing, cancelling and watching
//! orders over gRPC, and the order side of the saga, with its own Postgres
//! database and its events published through the transactional outbox.
//!
//! Layers, outside in: [`grpc`] turns wire messages into [`domain`] types
//! and errors into statuses; [`ordering`] holds the rules (who may do what,
//! which event a change emits) and asks products for prices through
//! [`prices`]; [`saga`] applies products' answers; [`resend`] announces
//! again orders whose answer never came; `storage` holds every SQL
//! statement; [`watch`] tells waiting requests when an order changed.
//! The [`Application`] wires them to Postgres, NATS and a listener.

// Tests may unwrap: a panic there is the failure report.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod app;
pub mod config;
pub mod domain;
pub mod error;
mod events;
pub mod grpc;
mod keys;
pub mod metrics;
pub mod ordering;
mod periodic;
pub mod prices;
pub mod resend;
pub mod saga;
mod storage;
pub mod watch;

pub use config::{Config, DatabaseConfig, OrdersDatabase};

/// The orders service, built on its listener by the service host.
pub type Application = syncchain_host::Application<Config>;
