//! Products: the predecessor's `products`, `product(id)` and
//! `createProduct`, plus a cursor-paged list with a name search, and the
//! admin's `updateProduct` and `restockProduct`. `quantity` is the stock.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use syncchain_platform::grpc::request;
use syncchain_proto::products::v1 as pb;

use super::{
    context::{admin, services, token},
    convert,
    paging::{PageInfo, page_size},
};
use crate::{
    errors::{ApiError, ApiResult},
    product_reads::{Lookup, ProductReads},
};

/// Something for sale. `price` is in minor units (cents); `quantity` is
/// the stock left.
#[derive(SimpleObject, Clone, Debug)]
pub struct Product {
    pub id: ID,
    pub name: String,
    pub price: i32,
    pub description: String,
    pub quantity: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<pb::Product> for Product {
    type Error = ApiError;
    fn try_from(p: pb::Product) -> Result<Self, ApiError> {
        Ok(Self {
            id: ID(p.id),
            name: p.name,
            price: convert::int(p.price, "product.price")?,
            description: p.description,
            quantity: convert::int(p.stock, "product.stock")?,
            created_at: syncchain_platform::grpc::from_timestamp(p.created_at),
            updated_at: syncchain_platform::grpc::from_timestamp(p.updated_at),
        })
    }
}

#[derive(InputObject)]
pub struct ProductInput {
    pub name: String,
    /// In minor units (cents), at least 1.
    pub price: i32,
    pub description: Option<String>,
    /// Initial stock, 0 or more.
    pub quantity: i32,
}

#[derive(InputObject)]
pub struct UpdateProductInput {
    pub name: Option<String>,
    pub price: Option<i32>,
    pub description: Option<String>,
}

#[derive(SimpleObject, Clone)]
pub struct ProductConnection {
    pub nodes: Vec<Product>,
    pub page_info: PageInfo,
}

async fn list(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    search: Option<String>,
) -> ApiResult<ProductConnection> {
    let first = page_size(first)?;
    let (after, search) = (after.unwrap_or_default(), search.unwrap_or_default());
    let lookup = match ctx.data_opt::<ProductReads>() {
        Some(reads) => reads.first_page(first, !after.is_empty() || !search.is_empty()),
        None => Lookup::Bypass,
    };
    let ticket = match lookup {
        Lookup::Hit(page) => return Ok(page),
        Lookup::Miss(ticket) => Some(ticket),
        Lookup::Bypass => None,
    };
    let message = pb::ListProductsRequest {
        first,
        after,
        search,
        fresh: ticket.is_some(),
    };
    let page = services(ctx)?
        .products
        .clone()
        .list_products(request(message, None))
        .await
        .map_err(|s| ApiError::from_status(s, "products.ListProducts"))?
        .into_inner();
    let page = ProductConnection {
        nodes: page
            .products
            .into_iter()
            .map(Product::try_from)
            .collect::<Result<_, _>>()?,
        page_info: PageInfo {
            end_cursor: (!page.end_cursor.is_empty()).then_some(page.end_cursor),
            has_next_page: page.has_next_page,
        },
    };
    if let (Some(ticket), Some(reads)) = (ticket, ctx.data_opt::<ProductReads>()) {
        reads.keep_first_page(ticket, first, &page);
    }
    Ok(page)
}

/// After a change made through this gateway: its next read shows it,
/// without waiting for the change's event.
fn changed(ctx: &Context<'_>, product: &ApiResult<Product>) {
    if let (Ok(product), Some(reads)) = (product, ctx.data_opt::<ProductReads>())
        && let Ok(id) = uuid::Uuid::parse_str(product.id.as_str())
    {
        reads.changed(id);
    }
}

fn product(
    result: Result<tonic::Response<pb::Product>, tonic::Status>,
    call: &'static str,
) -> ApiResult<Product> {
    result
        .map_err(|s| ApiError::from_status(s, call))?
        .into_inner()
        .try_into()
}

#[derive(Default)]
pub struct ProductsQuery;

#[Object]
impl ProductsQuery {
    /// A page of products, newest first (20 unless `first` says otherwise).
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100, default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor from `productsConnection.pageInfo.endCursor`.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only products whose name contains this, ignoring case.")] search: Option<
            String,
        >,
    ) -> ApiResult<Vec<Product>> {
        Ok(list(ctx, first, after, search).await?.nodes)
    }

    /// A page of products with its cursor.
    async fn products_connection(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> ApiResult<ProductConnection> {
        list(ctx, first, after, search).await
    }

    /// One product.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Product> {
        let id = convert::uuid(&id, "id")?;
        let reads = ctx.data_opt::<ProductReads>();
        let ticket = match reads.map_or(Lookup::Bypass, |reads| reads.product(id)) {
            Lookup::Hit(product) => return Ok(product),
            Lookup::Miss(ticket) => Some(ticket),
            Lookup::Bypass => None,
        };
        let message = pb::GetProductRequest {
            id: id.to_string(),
            fresh: ticket.is_some(),
        };
        let result = services(ctx)?
            .products
            .clone()
            .get_product(request(message, None))
            .await;
        let found = product(result, "products.GetProduct")?;
        if let (Some(ticket), Some(reads)) = (ticket, reads) {
            reads.keep_product(ticket, &found);
        }
        Ok(found)
    }
}

#[derive(Default)]
pub struct ProductsMutation;

#[Object]
impl ProductsMutation {
    /// Adds a product to the catalogue (admins only).
    async fn create_product(&self, ctx: &Context<'_>, input: ProductInput) -> ApiResult<Product> {
        admin(ctx).await?;
        let message = pb::CreateProductRequest {
            name: input.name,
            description: input.description.unwrap_or_default(),
            price: input.price.into(),
            stock: input.quantity.into(),
        };
        let result = services(ctx)?
            .products
            .clone()
            .create_product(request(message, token(ctx)?))
            .await;
        let result = product(result, "products.CreateProduct");
        changed(ctx, &result);
        result
    }

    /// Changes a product's name, price or description (admins only); fields
    /// left out stay as they are.
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateProductInput,
    ) -> ApiResult<Product> {
        admin(ctx).await?;
        let message = pb::UpdateProductRequest {
            id: convert::id(&id, "id")?,
            name: input.name,
            description: input.description,
            price: input.price.map(i64::from),
        };
        let result = services(ctx)?
            .products
            .clone()
            .update_product(request(message, token(ctx)?))
            .await;
        let result = product(result, "products.UpdateProduct");
        changed(ctx, &result);
        result
    }

    /// Adds stock to a product (admins only).
    async fn restock_product(
        &self,
        ctx: &Context<'_>,
        id: ID,
        quantity: i32,
    ) -> ApiResult<Product> {
        admin(ctx).await?;
        let message = pb::RestockProductRequest {
            id: convert::id(&id, "id")?,
            quantity: quantity.into(),
        };
        let result = services(ctx)?
            .products
            .clone()
            .restock_product(request(message, token(ctx)?))
            .await;
        let result = product(result, "products.RestockProduct");
        changed(ctx, &result);
        result
    }
}
