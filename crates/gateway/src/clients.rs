//! gRPC clients of the services. Channels connect lazily and reconnect on
//! their own, so the gateway starts even while a service is still starting,
//! and answers `INTERNAL` (logged) for calls made while it is away.

use std::time::Duration;

use syncchain_proto::users::v1::users_client::UsersClient;
use tonic::transport::{Channel, Endpoint};

#[derive(Clone)]
pub struct Services {
    pub users: UsersClient<Channel>,
}

impl Services {
    pub fn connect_lazy(users_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            users: UsersClient::new(channel(users_url)?),
        })
    }
}

fn channel(url: &str) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| anyhow::anyhow!("invalid service address {url}: {e}"))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}
