//! Per-request DataLoaders over the batch RPCs: however many orders a
//! response holds, their users come from one `GetUsers` call, their
//! products from one `GetProducts` call and their histories from one
//! `GetOrderHistories` call. The loaders live for one request
//! because they carry that request's token: what a loader may return is
//! what its caller may see.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use syncchain_platform::grpc::request;
use syncchain_proto::{
    orders::v1 as orders_pb, products::v1 as products_pb, users::v1 as users_pb,
};

use super::{
    orders::{OrderHistoryEntry, history_from},
    products::Product,
    users::User,
};
use crate::{clients::Services, errors::ApiError};

pub struct UserLoader {
    services: Services,
    token: Option<String>,
}

impl Loader<String> for UserLoader {
    type Value = User;
    type Error = ApiError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, User>, ApiError> {
        let message = users_pb::GetUsersRequest { ids: keys.to_vec() };
        let users = self
            .services
            .users
            .clone()
            .get_users(request(message, self.token.as_deref()))
            .await
            .map_err(|s| ApiError::from_status(s, "users.GetUsers"))?
            .into_inner()
            .users;
        Ok(users
            .into_iter()
            .map(|u| (u.id.clone(), User::from(u)))
            .collect())
    }
}

pub struct ProductLoader {
    services: Services,
}

impl Loader<String> for ProductLoader {
    type Value = Product;
    type Error = ApiError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Product>, ApiError> {
        let message = products_pb::GetProductsRequest { ids: keys.to_vec() };
        let products = self
            .services
            .products
            .clone()
            .get_products(request(message, None))
            .await
            .map_err(|s| ApiError::from_status(s, "products.GetProducts"))?
            .into_inner()
            .products;
        let mut loaded = HashMap::with_capacity(products.len());
        for product in products {
            let id = product.id.clone();
            loaded.insert(id, Product::try_from(product)?);
        }
        Ok(loaded)
    }
}

pub struct HistoryLoader {
    services: Services,
    token: Option<String>,
}

impl Loader<String> for HistoryLoader {
    type Value = Vec<OrderHistoryEntry>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, Vec<OrderHistoryEntry>>, ApiError> {
        let message = orders_pb::GetOrdersRequest { ids: keys.to_vec() };
        let histories = self
            .services
            .orders
            .clone()
            .get_order_histories(request(message, self.token.as_deref()))
            .await
            .map_err(|s| ApiError::from_status(s, "orders.GetOrderHistories"))?
            .into_inner()
            .histories;
        let mut loaded = HashMap::with_capacity(histories.len());
        for history in histories {
            let id = history.order_id.clone();
            loaded.insert(id, history_from(history)?);
        }
        Ok(loaded)
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub products: DataLoader<ProductLoader>,
    pub histories: DataLoader<HistoryLoader>,
}

impl Loaders {
    pub fn new(services: &Services, token: Option<&str>) -> Self {
        Self {
            users: DataLoader::new(
                UserLoader {
                    services: services.clone(),
                    token: token.map(str::to_owned),
                },
                spawn_in_request,
            ),
            products: DataLoader::new(
                ProductLoader {
                    services: services.clone(),
                },
                spawn_in_request,
            ),
            histories: DataLoader::new(
                HistoryLoader {
                    services: services.clone(),
                    token: token.map(str::to_owned),
                },
                spawn_in_request,
            ),
        }
    }
}

/// Runs a batch on a task of its own, still as part of the request that
/// asked for it: its calls carry the request's id, its lines its span.
fn spawn_in_request<F>(batch: F) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(syncchain_platform::request_id::inherit(batch))
}
