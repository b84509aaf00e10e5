//! Generated gRPC clients, servers and messages, one module per versioned
//! protobuf package. The `.proto` files under `proto/` are the contract; this
//! crate only makes them callable from Rust.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod users {
    pub mod v1 {
        tonic::include_proto!("syncchain.users.v1");
    }
}

pub mod products {
    pub mod v1 {
        tonic::include_proto!("syncchain.products.v1");
    }
}

pub mod orders {
    pub mod v1 {
        tonic::include_proto!("syncchain.orders.v1");
    }
}
