//! The users service: accounts, credentials and roles, served over gRPC to
//! the gateway, with its own Postgres database and its events published
//! through the transactional outbox.
//!
//! Layers, outside in: [`grpc`] turns wire messages into [`domain`] types
//! and errors into statuses; [`accounts`] holds the rules (who may do what,
//! which event a change emits); [`sessions`] keeps revocations and session
//! cut-offs durably; `storage` holds every SQL statement. The
//! [`Application`] wires them to Postgres, NATS and a listener, and [`admin`]
//! serves the operator commands.

// Tests may unwrap: a panic there is the failure report.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod accounts;
pub mod admin;
mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod password;
pub mod sessions;
mod storage;

pub use config::{BootstrapAdmin, Config, DatabaseConfig, UsersDatabase};

/// The users service, built on its listener by the service host.
pub type Application = syncchain_host::Application<Config>;
