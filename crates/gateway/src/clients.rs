//! gRPC clients of the services. Channels connect lazily and reconnect on
//! their own, so the gateway starts even while a service is still starting,
//! and answers a coded error (logged) for calls made while it is away.

use std::time::Duration;

use syncchain_proto::{
    orders::v1::orders_client::OrdersClient, products::v1::products_client::ProductsClient,
    users::v1::users_client::UsersClient,
};
use tonic::transport::Endpoint;

use crate::metrics::{CountedChannel, Metrics};

#[derive(Clone)]
pub struct Services {
    pub users: UsersClient<CountedChannel>,
    pub products: ProductsClient<CountedChannel>,
    pub orders: OrdersClient<CountedChannel>,
    /// Orders without a request deadline, for `WatchOrder` streams that live
    /// as long as the client's subscription.
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
            Ok(CountedChannel::new(channel(url, timeout)?, metrics.clone()))
        };
        Ok(Self {
            users: UsersClient::new(channel(&urls.users, Some(call_timeout))?),
            products: ProductsClient::new(channel(&urls.products, Some(call_timeout))?),
            orders: OrdersClient::new(channel(&urls.orders, Some(call_timeout))?),
            order_watch: OrdersClient::new(channel(&urls.orders, None)?),
        })
    }
}

fn channel(url: &str, timeout: Option<Duration>) -> anyhow::Result<tonic::transport::Channel> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| anyhow::anyhow!("invalid service address {url}: {e}"))?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    if let Some(timeout) = timeout {
        endpoint = endpoint.timeout(timeout);
    }
    Ok(endpoint.connect_lazy())
}
