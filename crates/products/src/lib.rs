//! The products service: the catalogue and its stock, served over gRPC to
//! the gateway and the orders service, with its own Postgres database, its
//! events published through the transactional outbox, and a Redis read
//! cache that events keep fresh.
//!
//! Layers, outside in: [`grpc`] turns wire messages into [`domain`] types
//! and errors into statuses; [`catalogue`] holds the rules (who may change
//! what, which event a change emits) and reads through the [`cache`];
//! [`saga`] applies order events to the stock; `storage` holds every SQL
//! statement. The [`Application`] wires them to Postgres, NATS, Redis and a
//! listener.

// Tests may unwrap: a panic there is the failure report.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod app;
pub mod cache;
pub mod catalogue;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod saga;
mod storage;

pub use config::{CacheConfig, Config, DatabaseConfig, ProductsDatabase};

/// The products service, built on its listener by the service host.
pub type Application = syncchain_host::Application<Config>;
