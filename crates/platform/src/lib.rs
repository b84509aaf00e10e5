//! The pieces every syncchain process needs and no domain owns: typed
//! configuration from the environment, logging, shutdown, health endpoints,
//! connections to Postgres, NATS and Redis with errors a person can act on,
//! access tokens, and the gRPC conventions shared by gateway and services.
//!
//! Each module is one concern; nothing here knows about users, products or
//! orders.

pub mod auth;
pub mod config;
pub mod database;
pub mod deps;
pub mod failure;
pub mod grpc;
pub mod health;
pub mod identity;
pub mod metrics;
pub mod net;
pub mod paging;
pub mod request_id;
pub mod roles;
pub mod serve;
pub mod shutdown;
pub mod telemetry;
pub mod text;
pub mod trace;
pub mod validation;
