//! The products service as orders needs it: the price of one product at
//! the moment an order is placed. One lazily connecting channel serves every
//! request (so orders starts even while products does not), with a short
//! connect timeout and a request timeout, so a products service that is down
//! or stuck turns into a prompt UNAVAILABLE instead of a hanging order. So
//! does products answering UNAVAILABLE itself (its database is away): either
//! way, trying again shortly may work.
//!
//! Nothing is logged here: the failure goes up as a [`PriceError`] that
//! keeps products' status as its cause, and the gRPC edge logs it once.
//!
//! The caller's token is forwarded: products applies its own rules to it.

use std::{collections::HashMap, time::Duration};

use syncchain_platform::{grpc, net};
use syncchain_proto::products::v1::{
    GetProductRequest, GetProductsRequest, products_client::ProductsClient,
};
use tonic::{Code, Status, transport::Channel};

use crate::domain::{ProductId, UnitPrice};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a price could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("no such product")]
    NotFound,
    /// Not reachable, no answer in time, or away for now by its own
    /// account (UNAVAILABLE: its database cannot be reached).
    #[error("the products service is unavailable")]
    Unavailable(#[source] Status),
    /// It answered with an error of its own.
    #[error("the products service refused the price lookup")]
    Failed(#[source] Status),
    #[error("the products service priced product {0} at {1}, below one minor unit")]
    InvalidPrice(ProductId, i64),
}

/// A client of the products service. Cheap to clone.
#[derive(Clone)]
pub struct Prices {
    client: ProductsClient<Channel>,
}

impl Prices {
    /// Connects on first use; `url` was validated with the configuration.
    pub fn new(url: &str) -> Result<Self, tonic::transport::Error> {
        let channel = net::endpoint(url, CONNECT_TIMEOUT)?
            .timeout(REQUEST_TIMEOUT)
            .connect_lazy();
        Ok(Self {
            client: ProductsClient::new(channel),
        })
    }

    /// The current price of `product`, asked as the caller with `token`.
    #[tracing::instrument(skip_all, fields(product.id = %product))]
    pub async fn unit_price(
        &self,
        product: ProductId,
        token: Option<&str>,
    ) -> Result<UnitPrice, PriceError> {
        let request = grpc::request(
            GetProductRequest {
                id: product.to_string(),
                fresh: false,
            },
            token,
        );
        let found = self
            .client
            .clone()
            .get_product(request)
            .await
            .map_err(classify)?
            .into_inner();
        UnitPrice::new(found.price).ok_or(PriceError::InvalidPrice(product, found.price))
    }
}

impl Prices {
    /// The current price of each of `products` that exists, asked as the
    /// caller with `token` in one request; an unknown product is absent.
    #[tracing::instrument(skip_all, fields(products = products.len()))]
    pub async fn unit_prices(
        &self,
        products: &[ProductId],
        token: Option<&str>,
    ) -> Result<HashMap<ProductId, UnitPrice>, PriceError> {
        let request = grpc::request(
            GetProductsRequest {
                ids: products.iter().map(ToString::to_string).collect(),
            },
            token,
        );
        let found = self
            .client
            .clone()
            .get_products(request)
            .await
            .map_err(classify)?
            .into_inner();
        let mut prices = HashMap::with_capacity(found.products.len());
        for product in found.products {
            let Ok(id) = ProductId::parse("id", &product.id) else {
                continue;
            };
            let price =
                UnitPrice::new(product.price).ok_or(PriceError::InvalidPrice(id, product.price))?;
            prices.insert(id, price);
        }
        Ok(prices)
    }
}

/// What products' failed answer means for the order being placed.
fn classify(status: Status) -> PriceError {
    match status.code() {
        Code::NotFound => PriceError::NotFound,
        // A refused connection and products' own "my database is away" are
        // UNAVAILABLE; tonic reports its own timeouts as CANCELLED.
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
            PriceError::Unavailable(status)
        }
        _ => PriceError::Failed(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_away_or_saying_it_is_away_is_unavailable() {
        for status in [
            Status::unavailable("the products database is temporarily unavailable"),
            Status::deadline_exceeded("no answer"),
            Status::cancelled("timeout expired"),
        ] {
            assert!(matches!(classify(status), PriceError::Unavailable(_)));
        }
    }

    #[test]
    fn an_unknown_product_is_not_found_and_other_refusals_are_failures() {
        assert!(matches!(
            classify(Status::not_found("no such product")),
            PriceError::NotFound
        ));
        for status in [
            Status::internal("internal error"),
            Status::unauthenticated("sign in first"),
        ] {
            assert!(matches!(classify(status), PriceError::Failed(_)));
        }
    }
}
