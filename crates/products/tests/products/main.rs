//! Black-box tests of the products service: each test starts the real
//! application on port 0 with its own database, its own NATS namespace and
//! its own Redis key prefix (so tests run in parallel), talks to it with
//! the generated gRPC client as the gateway and the orders service do, and
//! drives the saga by publishing order events on the ORDERS stream as the
//! orders service's relay would.

// A panic is how a test reports a failure.
#![allow(clippy::unwrap_used)]

mod helpers;

mod access;
mod cache;
mod cache_bounds;
mod catalogue;
mod saga;
mod sessions;
mod unavailable;
