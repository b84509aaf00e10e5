//! A small but real products gRPC server that answers `GetProduct` from a
//! fixed table of prices, for the tests of the orders side alone. It is a
//! stand-in for the price lookup only (acceptable for these unit-level
//! tests of orders; the saga across both real services is tested end to
//! end elsewhere): the stock side is played by publishing `stock.*`
//! events to the real JetStream broker. Every other call is UNIMPLEMENTED.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use syncchain_proto::products::v1::{
    self as proto,
    products_server::{Products, ProductsServer},
};
use tonic::{Request, Response, Status, service::Routes};
use uuid::Uuid;

#[derive(Clone, Default)]
pub struct FixedPrices {
    prices: Arc<Mutex<HashMap<String, i64>>>,
}

impl FixedPrices {
    /// A new product at `price`; its id.
    pub fn add(&self, price: i64) -> String {
        let id = Uuid::new_v4().to_string();
        self.prices.lock().unwrap().insert(id.clone(), price);
        id
    }

    /// Serves on a port of its own until the test ends; its address.
    pub async fn serve(self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Routes::new(ProductsServer::new(self)).into_axum_router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not part of the test double"))
}

#[tonic::async_trait]
impl Products for FixedPrices {
    async fn get_product(
        &self,
        request: Request<proto::GetProductRequest>,
    ) -> Result<Response<proto::Product>, Status> {
        let id = request.into_inner().id;
        let price = self.prices.lock().unwrap().get(&id).copied();
        match price {
            Some(price) => Ok(Response::new(proto::Product {
                id,
                name: "Test product".into(),
                price,
                stock: 1_000_000,
                ..proto::Product::default()
            })),
            None => Err(Status::not_found("no such product")),
        }
    }

    async fn create_product(
        &self,
        _: Request<proto::CreateProductRequest>,
    ) -> Result<Response<proto::Product>, Status> {
        unimplemented()
    }

    async fn get_products(
        &self,
        request: Request<proto::GetProductsRequest>,
    ) -> Result<Response<proto::GetProductsResponse>, Status> {
        let prices = self.prices.lock().unwrap();
        let products = request
            .into_inner()
            .ids
            .into_iter()
            .filter_map(|id| {
                let price = *prices.get(&id)?;
                Some(proto::Product {
                    id,
                    name: "Test product".into(),
                    price,
                    stock: 1_000_000,
                    ..proto::Product::default()
                })
            })
            .collect();
        Ok(Response::new(proto::GetProductsResponse { products }))
    }

    async fn list_products(
        &self,
        _: Request<proto::ListProductsRequest>,
    ) -> Result<Response<proto::ListProductsResponse>, Status> {
        unimplemented()
    }

    async fn update_product(
        &self,
        _: Request<proto::UpdateProductRequest>,
    ) -> Result<Response<proto::Product>, Status> {
        unimplemented()
    }

    async fn restock_product(
        &self,
        _: Request<proto::RestockProductRequest>,
    ) -> Result<Response<proto::Product>, Status> {
        unimplemented()
    }
}
