//! Fault tests: the saga keeps its promises when a service is killed, when
//! NATS restarts and when a service's Postgres goes away for a while. The
//! services under fault run as real `syncchain serve` processes (so `kill -9`
//! is a real kill); NATS and the proxy in front of Postgres are private to
//! each test, never the machine's shared servers.

mod support;
#[path = "../common/ws.rs"]
mod ws;

mod broker;
mod database;
mod instances;
mod poison;
mod services;
mod streams;
mod subscriptions;
mod traces;
