//! Orders: the predecessor's `orders`, `order(id)` and `placeOrder`, with
//! the nested `Order.user` and `Order.product` resolved through the
//! request's DataLoaders; plus `cancelOrder`, a cursor-paged list and the
//! `orderUpdated` subscription.

use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject, Subscription,
};
use chrono::{DateTime, Utc};
use futures::Stream;
use syncchain_platform::grpc::request;
use syncchain_proto::orders::v1 as pb;

use super::{
    context::{
        caller, data, loaders, place_order_wait, request as request_context, revocations, services,
        token,
    },
    convert,
    order_updates::OrderUpdates,
    paging::{PageInfo, page_size},
    products::Product,
    users::User,
};
use crate::{
    errors::{ApiError, ApiResult},
    order_feed::OrderFeed,
    subscription_slots::{Recheck, Slots, SocketSlots},
};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderStatus {
    /// Placed; waiting for stock to be reserved.
    Pending,
    /// Stock is reserved for it.
    Confirmed,
    /// No stock could be reserved; see `rejectionReason`.
    Rejected,
    /// Cancelled by its owner or an admin, before or after confirmation;
    /// whatever stock was reserved went back.
    Cancelled,
}

#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Order {
    pub id: ID,
    pub user_id: ID,
    /// The first line's product (see `lines` for every line).
    pub product_id: ID,
    /// The first line's quantity.
    pub quantity: i32,
    /// The first line's price per item when the order was placed, in minor
    /// units.
    pub unit_price: i32,
    /// The sum of every line's `lineTotal`, in minor units.
    pub total_amount: i32,
    /// Every line, in the order placed; one for an order of one product.
    pub lines: Vec<OrderLine>,
    pub status: OrderStatus,
    /// Why the order was rejected; null otherwise.
    pub rejection_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One product of an order.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct OrderLine {
    pub product_id: ID,
    pub quantity: i32,
    /// Price per item when the order was placed, in minor units.
    pub unit_price: i32,
    /// `unitPrice` x `quantity`, in minor units.
    pub line_total: i32,
}

#[ComplexObject]
impl OrderLine {
    /// The product (null if it no longer exists).
    async fn product(&self, ctx: &Context<'_>) -> ApiResult<Option<Product>> {
        loaders(ctx)?
            .products
            .load_one(self.product_id.to_string())
            .await
    }
}

#[ComplexObject]
impl Order {
    /// The first line's product (null if it no longer exists).
    async fn product(&self, ctx: &Context<'_>) -> ApiResult<Option<Product>> {
        loaders(ctx)?
            .products
            .load_one(self.product_id.to_string())
            .await
    }

    /// Who placed the order (visible to that user and to admins).
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        loaders(ctx)?.users.load_one(self.user_id.to_string()).await
    }

    /// Each status the order went through, oldest first: when, and why.
    async fn history(&self, ctx: &Context<'_>) -> ApiResult<Vec<OrderHistoryEntry>> {
        Ok(loaders(ctx)?
            .histories
            .load_one(self.id.to_string())
            .await?
            .unwrap_or_default())
    }
}

impl TryFrom<pb::Order> for Order {
    type Error = ApiError;
    fn try_from(o: pb::Order) -> Result<Self, ApiError> {
        let status = status_from(o.status(), &o.id)?;
        let mut lines = o
            .lines
            .into_iter()
            .map(|line| {
                Ok(OrderLine {
                    product_id: ID(line.product_id),
                    quantity: convert::int(line.quantity, "order.lines.quantity")?,
                    unit_price: convert::int(line.unit_price, "order.lines.unit_price")?,
                    line_total: convert::int(line.line_total, "order.lines.line_total")?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let quantity = convert::int(o.quantity, "order.quantity")?;
        let unit_price = convert::int(o.unit_price, "order.unit_price")?;
        let total_amount = convert::int(o.total_amount, "order.total_amount")?;
        if lines.is_empty() {
            // An orders instance that predates lines: its order is one line.
            lines.push(OrderLine {
                product_id: ID(o.product_id.clone()),
                quantity,
                unit_price,
                line_total: total_amount,
            });
        }
        Ok(Self {
            id: ID(o.id),
            user_id: ID(o.user_id),
            product_id: ID(o.product_id),
            quantity,
            unit_price,
            total_amount,
            lines,
            status,
            rejection_reason: (!o.rejection_reason.is_empty()).then_some(o.rejection_reason),
            created_at: syncchain_platform::grpc::from_timestamp(o.created_at),
            updated_at: syncchain_platform::grpc::from_timestamp(o.updated_at),
        })
    }
}

fn status_from(status: pb::OrderStatus, order_id: &str) -> Result<OrderStatus, ApiError> {
    Ok(match status {
        pb::OrderStatus::Pending => OrderStatus::Pending,
        pb::OrderStatus::Confirmed => OrderStatus::Confirmed,
        pb::OrderStatus::Rejected => OrderStatus::Rejected,
        pb::OrderStatus::Cancelled => OrderStatus::Cancelled,
        pb::OrderStatus::Unspecified => {
            tracing::error!(order.id = %order_id, "order status unspecified");
            return Err(ApiError::Internal);
        }
    })
}

/// One status an order went through.
#[derive(SimpleObject, Clone, Debug)]
pub struct OrderHistoryEntry {
    pub status: OrderStatus,
    /// Why: `placed`, `stock reserved`, the rejection reason, or who
    /// cancelled it (`cancelled by the customer`, `cancelled by an admin`).
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// An order's history as the orders service sent it, checked.
pub fn history_from(history: pb::OrderHistory) -> Result<Vec<OrderHistoryEntry>, ApiError> {
    history
        .entries
        .into_iter()
        .map(|entry| {
            Ok(OrderHistoryEntry {
                status: status_from(entry.status(), &history.order_id)?,
                reason: (!entry.reason.is_empty()).then_some(entry.reason),
                at: syncchain_platform::grpc::from_timestamp(entry.at),
            })
        })
        .collect()
}

/// One product (`productId` and `quantity`, as before) or several
/// (`lines`), not both.
#[derive(InputObject)]
pub struct OrderInput {
    pub product_id: Option<ID>,
    /// How many items, at least 1.
    pub quantity: Option<i32>,
    /// Several products, each once, all reserved or none; at most 20
    /// unless the deployment says otherwise.
    pub lines: Option<Vec<OrderLineInput>>,
}

/// One product of a new order.
#[derive(InputObject)]
pub struct OrderLineInput {
    pub product_id: ID,
    /// How many items, at least 1.
    pub quantity: i32,
}

/// More lines than any deployment accepts (orders caps them at its
/// `SYNCCHAIN_ORDER_MAX_LINES`, at most 100) are refused here, unsent.
const MAX_LINES: usize = 100;

impl OrderInput {
    /// The placement request for this input: exactly one of the two forms.
    fn into_request(self) -> ApiResult<pb::PlaceOrderRequest> {
        match (self.product_id, self.quantity, self.lines) {
            (None, None, Some(lines)) => {
                if lines.is_empty() {
                    return Err(ApiError::bad_input("lines", "must hold at least one line"));
                }
                if lines.len() > MAX_LINES {
                    return Err(ApiError::bad_input(
                        "lines",
                        format!("must hold at most {MAX_LINES} lines"),
                    ));
                }
                let lines = lines
                    .iter()
                    .enumerate()
                    .map(|(index, line)| {
                        let product_id =
                            uuid::Uuid::parse_str(line.product_id.as_str()).map_err(|_| {
                                ApiError::bad_input(
                                    "lines",
                                    format!("line {}: productId is not a valid id", index + 1),
                                )
                            })?;
                        Ok(pb::OrderLineInput {
                            product_id: product_id.to_string(),
                            quantity: line.quantity.into(),
                        })
                    })
                    .collect::<ApiResult<_>>()?;
                Ok(pb::PlaceOrderRequest {
                    lines,
                    ..Default::default()
                })
            }
            (Some(product_id), Some(quantity), None) => Ok(pb::PlaceOrderRequest {
                product_id: convert::id(&product_id, "productId")?,
                quantity: quantity.into(),
                ..Default::default()
            }),
            (_, _, Some(_)) => Err(ApiError::bad_input(
                "lines",
                "give either productId and quantity, or lines, not both",
            )),
            (None, _, None) => Err(ApiError::bad_input(
                "productId",
                "is required (or give lines)",
            )),
            (Some(_), None, None) => Err(ApiError::bad_input("quantity", "is required")),
        }
    }
}

#[derive(SimpleObject)]
pub struct OrderConnection {
    pub nodes: Vec<Order>,
    pub page_info: PageInfo,
}

fn order(
    result: Result<tonic::Response<pb::Order>, tonic::Status>,
    call: &'static str,
) -> ApiResult<Order> {
    result
        .map_err(|s| ApiError::from_status(s, call))?
        .into_inner()
        .try_into()
}

async fn list(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<OrderConnection> {
    caller(ctx).await?;
    let message = pb::ListOrdersRequest {
        first: page_size(first)?,
        after: after.unwrap_or_default(),
    };
    let page = services(ctx)?
        .orders
        .clone()
        .list_orders(request(message, token(ctx)?))
        .await
        .map_err(|s| ApiError::from_status(s, "orders.ListOrders"))?
        .into_inner();
    Ok(OrderConnection {
        nodes: page
            .orders
            .into_iter()
            .map(Order::try_from)
            .collect::<Result<_, _>>()?,
        page_info: PageInfo {
            end_cursor: (!page.end_cursor.is_empty()).then_some(page.end_cursor),
            has_next_page: page.has_next_page,
        },
    })
}

#[derive(Default)]
pub struct OrdersQuery;

#[Object]
impl OrdersQuery {
    /// Your orders, newest first (an admin's: everyone's); 20 unless `first`
    /// says otherwise.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100, default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor from `ordersConnection.pageInfo.endCursor`.")] after: Option<
            String,
        >,
    ) -> ApiResult<Vec<Order>> {
        Ok(list(ctx, first, after).await?.nodes)
    }

    /// A page of orders with its cursor.
    async fn orders_connection(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<OrderConnection> {
        list(ctx, first, after).await
    }

    /// One order: yours, or anyone's for an admin.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Order> {
        caller(ctx).await?;
        let id = convert::id(&id, "id")?;
        let result = services(ctx)?
            .orders
            .clone()
            .get_order(request(pb::GetOrderRequest { id }, token(ctx)?))
            .await;
        order(result, "orders.GetOrder")
    }
}

#[derive(Default)]
pub struct OrdersMutation;

#[Object]
impl OrdersMutation {
    /// Orders a product, or several at once (`input.lines`: every line is
    /// reserved or none is). Waits briefly for the stock to be reserved, so the
    /// answer is normally `CONFIRMED` or `REJECTED`; if the outcome takes
    /// longer it is `PENDING`, and `order(id)` or `orderUpdated(id)` tell
    /// the rest.
    ///
    /// With an `idempotencyKey` (1 to 255 characters, your own choice, for
    /// example a UUID made when the customer pressed "buy"), placing again
    /// with the same key and the same input returns the order the first
    /// placement made, in its current state, and buys nothing twice: a
    /// retry after a timeout or a double click is safe. The same key with a
    /// different input is `CONFLICT`. Keys are remembered for at least 24
    /// hours.
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        input: OrderInput,
        idempotency_key: Option<String>,
    ) -> ApiResult<Order> {
        caller(ctx).await?;
        let message = pb::PlaceOrderRequest {
            wait_ms: u32::try_from(place_order_wait(ctx)?.as_millis()).unwrap_or(u32::MAX),
            idempotency_key,
            ..input.into_request()?
        };
        let result = services(ctx)?
            .orders
            .clone()
            .place_order(request(message, token(ctx)?))
            .await;
        order(result, "orders.PlaceOrder")
    }

    /// Cancels a pending or confirmed order (its owner or an admin); whatever
    /// stock was reserved for it goes back, once, even when the cancellation
    /// overtakes the reservation.
    async fn cancel_order(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Order> {
        caller(ctx).await?;
        let id = convert::id(&id, "id")?;
        let result = services(ctx)?
            .orders
            .clone()
            .cancel_order(request(pb::CancelOrderRequest { id }, token(ctx)?))
            .await;
        order(result, "orders.CancelOrder")
    }
}

#[derive(Default)]
pub struct OrdersSubscription;

#[Subscription]
impl OrdersSubscription {
    /// The order now, then each change of it (its owner or an admin). Ends
    /// once the order is rejected or cancelled, and with `UNAUTHENTICATED`
    /// once the token that opened it is signed out, demoted or expired.
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Order>> + use<>> {
        let caller = caller(ctx).await?;
        let lifetime = (caller.expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        let id = convert::id(&id, "id")?;
        let order =
            uuid::Uuid::parse_str(&id).map_err(|_| ApiError::bad_input("id", "not a valid id"))?;
        let socket = ctx.data_opt::<SocketSlots>().cloned().unwrap_or_default();
        let slot = data::<Slots>(ctx)?.take(caller.user_id, &socket)?;
        let mut updates = OrderUpdates {
            // Watching before the first read, so no change falls between.
            watch: data::<OrderFeed>(ctx)?.watch(order),
            id,
            expires: tokio::time::Instant::now() + lifetime,
            token: token(ctx)?.map(str::to_owned),
            auth: request_context(ctx)?.auth.clone(),
            revocations: revocations(ctx)?.clone(),
            orders: services(ctx)?.orders.clone(),
            _slot: slot,
            recheck: data::<Recheck>(ctx)?.clone(),
        };
        let first = updates.read().await?;
        Ok(updates.stream(first))
    }
}
