//! gRPC clients of the services. Channels connect lazily and reconnect on
//! their own, so the gateway starts even while a service is still starting,
//! and answers a coded error (logged) for calls made while it is away.

use std::time::Duration;

use syncchain_platform::{health::Check, net};
use syncchain_proto::{
    orders::v1 as orders_pb, orders::v1::orders_client::OrdersClient, products::v1 as products_pb,
    products::v1::products_client::ProductsClient, users::v1 as users_pb,
    users::v1::users_client::UsersClient,
};

use syncchain_platform::metrics::Metrics;

use crate::metrics::CountedChannel;

#[derive(Clone)]
pub struct Services {
    pub users: UsersClient<CountedChannel>,
    pub products: ProductsClient<CountedChannel>,
    pub orders: OrdersClient<CountedChannel>,
    /// Orders without a request deadline and on a connection of its own,
    /// for the gateway's one `WatchChanges` feed (see `order_feed`).
    pub order_watch: OrdersClient<CountedChannel>,
}

/// Where each service answers.
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub users: String,
    pub products: String,
    pub orders: String,
}

impl Services {
    /// `call_timeout` bounds every unary call; it must exceed the longest
    /// `placeOrder` wait.
    pub fn connect_lazy(
        urls: &ServiceUrls,
        call_timeout: Duration,
        metrics: &Metrics,
    ) -> anyhow::Result<Self> {
        let channel = |url: &str, timeout| -> anyhow::Result<CountedChannel> {
            Ok(CountedChannel::new(channel(url, timeout)?, metrics))
        };
        Ok(Self {
            users: UsersClient::new(channel(&urls.users, Some(call_timeout))?),
            products: ProductsClient::new(channel(&urls.products, Some(call_timeout))?),
            orders: OrdersClient::new(channel(&urls.orders, Some(call_timeout))?),
            order_watch: OrdersClient::new(channel(&urls.orders, None)?),
        })
    }
}

impl Services {
    /// Readiness checks, one per service: a cheap batch read with no ids.
    /// Any answer, even a refusal, means the service is up; only a
    /// transport failure or no answer in time means it is down.
    pub fn checks(&self) -> Vec<Check> {
        let (users, products, orders) = (
            self.users.clone(),
            self.products.clone(),
            self.orders.clone(),
        );
        vec![
            Check::new("users", move || {
                let mut users = users.clone();
                async move {
                    answers(
                        users
                            .get_users(users_pb::GetUsersRequest { ids: vec![] })
                            .await,
                    )
                }
            }),
            Check::new("products", move || {
                let mut products = products.clone();
                async move {
                    answers(
                        products
                            .get_products(products_pb::GetProductsRequest { ids: vec![] })
                            .await,
                    )
                }
            }),
            Check::new("orders", move || {
                let mut orders = orders.clone();
                async move {
                    answers(
                        orders
                            .get_orders(orders_pb::GetOrdersRequest { ids: vec![] })
                            .await,
                    )
                }
            }),
        ]
    }
}

fn answers<T>(result: Result<T, tonic::Status>) -> bool {
    !matches!(result, Err(s) if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded))
}

fn channel(url: &str, timeout: Option<Duration>) -> anyhow::Result<tonic::transport::Channel> {
    let mut endpoint = net::endpoint(url, Duration::from_secs(2))
        .map_err(|e| anyhow::anyhow!("invalid service address {url}: {e}"))?;
    if let Some(timeout) = timeout {
        endpoint = endpoint.timeout(timeout);
    }
    Ok(endpoint.connect_lazy())
}
