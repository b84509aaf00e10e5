//! Black-box tests of the users service: each test starts the real
//! application on port 0 with its own database and its own NATS namespace
//! (so tests run in parallel) and talks to it with the generated gRPC
//! client, as the gateway does.

// A panic is how a test reports a failure.
#![allow(clippy::unwrap_used)]

mod helpers;

mod access;
mod admin;
mod canonical;
mod credentials;
mod events;
mod lifecycle;
mod register;
mod sessions;
