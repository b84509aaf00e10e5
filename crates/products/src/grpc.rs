//! The gRPC edge. Wire messages become domain types here, the caller's
//! token is verified here (writes only: reading the catalogue needs no
//! identity, so a forwarded token is not even looked at), and each
//! [`ProductsError`] becomes a [`Status`] here, exactly once: bad input
//! names its field as clients know it, a database that is away is
//! UNAVAILABLE, and unexpected failures are logged with their cause chain
//! and cross the wire as a bare "internal error".

use syncchain_events::sessions::{self, Sessions};
use syncchain_platform::{
    auth::{Caller, TokenKeys},
    grpc::{database_failure, internal, invalid_argument, timestamp},
};
use syncchain_proto::products::v1 as proto;
use tonic::{Request, Response, Status, metadata::MetadataMap};

use crate::{
    catalogue::{Catalogue, Read},
    domain::{
        Cursor, NameSearch, NewProduct, NewProductInput, PageSize, Product, ProductChanges,
        ProductChangesInput, ProductId, Quantity, ValidationError,
    },
    error::ProductsError,
};

pub use proto::products_server::ProductsServer;

/// Implements `syncchain.products.v1.Products`.
#[derive(Clone)]
pub struct ProductsApi {
    catalogue: Catalogue,
    keys: TokenKeys,
    sessions: Sessions,
}

impl ProductsApi {
    pub fn new(catalogue: Catalogue, keys: TokenKeys, sessions: Sessions) -> Self {
        Self {
            catalogue,
            keys,
            sessions,
        }
    }

    /// The caller of a write: signed in with a token that still counts (not
    /// signed out, issued after the caller's last role change) and an admin,
    /// checked before the input is looked at.
    async fn admin(&self, metadata: &MetadataMap) -> Result<Caller, Status> {
        let caller = sessions::verify(metadata, &self.keys, &self.sessions).await?;
        if caller.is_admin() {
            Ok(caller)
        } else {
            Err(Status::permission_denied(
                ProductsError::Forbidden.to_string(),
            ))
        }
    }
}

#[tonic::async_trait]
impl proto::products_server::Products for ProductsApi {
    async fn create_product(
        &self,
        request: Request<proto::CreateProductRequest>,
    ) -> Result<Response<proto::Product>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let r = request.get_ref();
        let result = async {
            let new = NewProduct::parse(NewProductInput {
                name: &r.name,
                description: &r.description,
                price: r.price,
                stock: r.stock,
            })?;
            self.catalogue.create(&caller, new).await
        }
        .await;
        respond("create product", result.map(to_proto))
    }

    async fn get_product(
        &self,
        request: Request<proto::GetProductRequest>,
    ) -> Result<Response<proto::Product>, Status> {
        let result = async {
            let r = request.get_ref();
            let id = ProductId::parse("id", &r.id)?;
            self.catalogue.get(id, Read::fresh(r.fresh)).await
        }
        .await;
        respond("get product", result.map(to_proto))
    }

    async fn get_products(
        &self,
        request: Request<proto::GetProductsRequest>,
    ) -> Result<Response<proto::GetProductsResponse>, Status> {
        let result = async {
            let ids = request
                .get_ref()
                .ids
                .iter()
                .map(|raw| ProductId::parse("ids", raw))
                .collect::<Result<Vec<_>, _>>()?;
            self.catalogue.get_many(&ids).await
        }
        .await;
        respond(
            "get products",
            result.map(|products| proto::GetProductsResponse {
                products: products.into_iter().map(to_proto).collect(),
            }),
        )
    }

    async fn list_products(
        &self,
        request: Request<proto::ListProductsRequest>,
    ) -> Result<Response<proto::ListProductsResponse>, Status> {
        let r = request.get_ref();
        let result = async {
            let after = Cursor::decode(&r.after).map_err(ValidationError::from)?;
            let search = NameSearch::parse(&r.search)?;
            self.catalogue
                .list(after, PageSize::new(r.first), search, Read::fresh(r.fresh))
                .await
        }
        .await;
        respond(
            "list products",
            result.map(|page| proto::ListProductsResponse {
                products: page.items.into_iter().map(to_proto).collect(),
                end_cursor: page.end_cursor.map(|c| c.encode()).unwrap_or_default(),
                has_next_page: page.has_next_page,
            }),
        )
    }

    async fn update_product(
        &self,
        request: Request<proto::UpdateProductRequest>,
    ) -> Result<Response<proto::Product>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let r = request.get_ref();
        let result = async {
            let id = ProductId::parse("id", &r.id)?;
            let changes = ProductChanges::parse(ProductChangesInput {
                name: r.name.as_deref(),
                description: r.description.as_deref(),
                price: r.price,
            })?;
            self.catalogue.update(&caller, id, changes).await
        }
        .await;
        respond("update product", result.map(to_proto))
    }

    async fn restock_product(
        &self,
        request: Request<proto::RestockProductRequest>,
    ) -> Result<Response<proto::Product>, Status> {
        let caller = self.admin(request.metadata()).await?;
        let r = request.get_ref();
        let result = async {
            let id = ProductId::parse("id", &r.id)?;
            let quantity = Quantity::parse(r.quantity)?;
            self.catalogue.restock(&caller, id, quantity).await
        }
        .await;
        respond("restock product", result.map(to_proto))
    }
}

/// The one place a [`ProductsError`] becomes a [`Status`].
fn respond<T>(
    context: &'static str,
    result: Result<T, ProductsError>,
) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(|error| match error {
        ProductsError::Invalid(e) => invalid_argument(e.field, e.to_string()),
        ProductsError::NotFound => Status::not_found(error.to_string()),
        ProductsError::Forbidden => Status::permission_denied(error.to_string()),
        ProductsError::Database(ref cause) => {
            database_failure(context, "the products database", cause, &error)
        }
        ProductsError::Event(_) => internal(context, &error),
    })
}

fn to_proto(product: Product) -> proto::Product {
    proto::Product {
        id: product.id.to_string(),
        name: product.name,
        description: product.description,
        price: product.price,
        stock: product.stock,
        created_at: Some(timestamp(product.created_at)),
        updated_at: Some(timestamp(product.updated_at)),
    }
}
