//! Black-box tests of the running system: a users service and a gateway
//! started in-process on spare ports, each test with its own database,
//! event namespace and Redis prefix, spoken to over HTTP as a client would.

mod support;

mod abuse;
mod accounts;
mod admin;
mod authorization;
mod bad_input;
mod batching;
mod compat;
mod edge;
mod fuzz;
mod limits;
mod order_limits;
mod orders_access;
mod oversell;
mod saga;
mod sessions;
mod subscriptions;
mod tokens;
