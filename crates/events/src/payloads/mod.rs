//! Every event type of the system, one module per producing service. They
//! live in one crate so producer and consumers share a single definition;
//! a breaking change is a new `...V2` type next to the old one, never an
//! edit of a published shape.

pub mod orders;
pub mod products;
pub mod users;
