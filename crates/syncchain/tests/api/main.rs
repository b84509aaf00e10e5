//! Black-box tests of the running system: a users service and a gateway
//! started in-process on spare ports, each test with its own database,
//! event namespace and Redis prefix, spoken to over HTTP as a client would.

mod support;
#[path = "../common/ws.rs"]
mod ws;

mod abuse;
mod accounts;
mod admin;
mod authorization;
mod bad_input;
mod batching;
mod compat;
mod edge;
mod events_cli;
mod fuzz;
mod http_edge;
mod limits;
mod metrics;
mod order_limits;
mod orders_access;
mod oversell;
mod product_reads;
mod request_ids;
mod saga;
mod sessions;
mod subscription_limits;
mod subscriptions;
mod tokens;
