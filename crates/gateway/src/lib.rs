//! The public edge of syncchain: one GraphQL endpoint over HTTP.
//!
//! Every request is authenticated here (a JWT in `Authorization`, with or
//! without `Bearer`, checked against the users service's sign-outs and role
//! cut-offs, through a Redis copy of them) and every
//! field is authorised here; the services behind it are reached over gRPC
//! with the caller's token attached, and they enforce ownership again on
//! their own data. The gateway owns no database.
//!
//! Errors leave the gateway in one shape: a GraphQL error whose
//! `extensions.code` is one of a small stable set (see [`errors`]); what went
//! wrong inside is logged once and never shown.

pub mod app;
pub mod auth;
pub mod clients;
pub mod config;
pub mod cost;
pub mod errors;
pub mod extensions;
pub mod http;
pub mod ide;
pub mod metrics;
pub mod order_feed;
mod product_reads;
pub mod ratelimit;
pub mod schema;
pub mod server;
pub mod subscription_slots;
pub mod subscriptions;

pub use app::Application;
pub use config::Config;
