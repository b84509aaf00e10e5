//! Domain events between syncchain services, delivered at least once and
//! applied exactly once.
//!
//! - A producer writes its change and an [`Envelope`] into the outbox in one
//!   transaction ([`outbox::enqueue`]); the [`relay::Relay`] publishes it to
//!   JetStream with `Nats-Msg-Id` = event id and deletes it once
//!   acknowledged, so no committed event is lost and none is stored twice.
//! - A consumer ([`consumer::Consumer`]) records each applied event in the
//!   same transaction as its effect, so redeliveries are no-ops, and parks
//!   what it cannot apply ([`dead_letter`]) instead of stopping.
//! - Event types are versioned structs in [`payloads`]; subjects and streams
//!   are derived from a validated [`Namespace`] ([`streams`]).
//! - Streams that disappear (a wiped NATS store) are created again by the
//!   relay and the consumers that miss them, and [`JetStreamHealth`] tells
//!   `/readyz` while they cannot be.
//!
//! The outbox, processed-event and dead-letter tables live in each service's
//! own database: [`migrate`] adds them next to the service's tables, and
//! [`migrate_with`] runs them and the service's own migrations in one call.

// Tests may unwrap: a panic there is the failure report.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod asyncapi;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod envelope;
pub mod feed;
mod handler;
pub mod health;
pub mod outbox;
pub mod payloads;
pub mod processed;
pub mod relay;
mod retry;
pub mod sessions;
pub mod streams;

pub use async_trait::async_trait;
pub use config::{EventsConfig, InvalidNamespace, Namespace};
pub use envelope::{DecodeError, Envelope, Event};
pub use health::JetStreamHealth;

/// Creates or updates the outbox, processed-event and dead-letter tables.
///
/// The service using this crate keeps its own migrations in the same
/// database and the same `_sqlx_migrations` table, so each side ignores the
/// versions it does not know.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}

/// Migrates a service's database: the events tables ([`migrate`]), then
/// the service's own migrations, so a service's `db.rs` is one line:
///
/// ```ignore
/// syncchain_events::migrate_with(&pool, sqlx::migrate!("./migrations")).await?;
/// ```
///
/// Both sets share `_sqlx_migrations`, so `service` is run with
/// `ignore_missing` set: the events versions are not in its directory.
pub async fn migrate_with(
    pool: &sqlx::PgPool,
    mut service: sqlx::migrate::Migrator,
) -> Result<(), sqlx::migrate::MigrateError> {
    migrate(pool).await?;
    service.set_ignore_missing(true);
    service.run(pool).await
}
