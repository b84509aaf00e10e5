//! The service host. Every gRPC service runs the same skeleton: a listener
//! bound by the caller, its own Postgres database created and migrated, a
//! NATS connection with the streams ensured, the outbox relay, its
//! consumers, `/healthz` and `/readyz`, the gRPC server, and a drain on
//! shutdown in which the background outlives the server, and `/metrics`
//! with the series every service shares (gRPC calls, outbox, consumers,
//! dead letters, database pool) beside those the service adds. That skeleton is
//! written once, here; a service crate implements [`Service`] to declare
//! only what is its own (its gRPC service, consumers, background tasks,
//! readiness checks and settings) on the [`Host`] it is given.
//!
//! What stays in each service: its errors and their mapping, its
//! authorization, its SQL, its domain types and its saga handlers.

pub mod database;
mod host;
mod observe;

pub use database::ServiceDatabase;
pub use host::{Application, Host, Service};
