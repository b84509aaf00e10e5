//! The gRPC edge. Wire messages become domain types here, the caller's
//! token is verified here (and passed on to products), and each
//! [`OrdersError`] becomes a [`Status`] here, exactly once: bad input names
//! its field (as clients know it: `productId`, `quantity`), another
//! user's order is PERMISSION_DENIED, an order that cannot be cancelled is
//! FAILED_PRECONDITION, a dependency that is away is UNAVAILABLE, and
//! unexpected failures are logged with their cause chain and cross the wire
//! as a bare "internal error".

use std::time::Duration;

use futures::{StreamExt, stream, stream::BoxStream};
use syncchain_events::{
    payloads::orders::OrderPlacedV2,
    sessions::{self, Sessions},
};
use syncchain_platform::{
    auth::{Caller, TokenKeys},
    grpc::{database_failure, internal, invalid_argument, timestamp, token, unavailable},
};
use syncchain_proto::orders::v1 as proto;
use tonic::{Request, Response, Status, metadata::MetadataMap};

use crate::{
    domain::{
        Cursor, HistoryEntry, IdempotencyKey, NewOrder, Order, OrderId, OrderStatus, PageSize,
        ValidationError,
    },
    error::OrdersError,
    ordering::Orders,
};

pub use proto::orders_server::OrdersServer;

/// Implements `syncchain.orders.v1.Orders`.
#[derive(Clone)]
pub struct OrdersApi {
    orders: Orders,
    keys: TokenKeys,
    sessions: Sessions,
}

impl OrdersApi {
    pub fn new(orders: Orders, keys: TokenKeys, sessions: Sessions) -> Self {
        Self {
            orders,
            keys,
            sessions,
        }
    }

    /// The signed-in caller, whose token still counts: not signed out, and
    /// issued after the caller's last role change.
    async fn caller(&self, metadata: &MetadataMap) -> Result<Caller, Status> {
        sessions::verify(metadata, &self.keys, &self.sessions).await
    }
}

#[tonic::async_trait]
impl proto::orders_server::Orders for OrdersApi {
    async fn place_order(
        &self,
        request: Request<proto::PlaceOrderRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let token = token(request.metadata())?;
        let r = request.get_ref();
        let result = async {
            let new = new_order(r)?;
            let key = r
                .idempotency_key
                .as_deref()
                .map(IdempotencyKey::parse)
                .transpose()?;
            let wait = Duration::from_millis(u64::from(r.wait_ms));
            self.orders.place(&caller, token, new, key, wait).await
        }
        .await;
        respond("place order", result.map(to_proto))
    }

    async fn get_order(
        &self,
        request: Request<proto::GetOrderRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let result = async {
            let id = OrderId::parse("id", &request.get_ref().id)?;
            self.orders.get(&caller, id).await
        }
        .await;
        respond("get order", result.map(to_proto))
    }

    async fn get_orders(
        &self,
        request: Request<proto::GetOrdersRequest>,
    ) -> Result<Response<proto::GetOrdersResponse>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let result = async {
            let ids = order_ids(request.get_ref())?;
            self.orders.get_many(&caller, &ids).await
        }
        .await;
        respond(
            "get orders",
            result.map(|orders| proto::GetOrdersResponse {
                orders: orders.into_iter().map(to_proto).collect(),
            }),
        )
    }

    async fn get_order_histories(
        &self,
        request: Request<proto::GetOrdersRequest>,
    ) -> Result<Response<proto::GetOrderHistoriesResponse>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let result = async {
            let ids = order_ids(request.get_ref())?;
            self.orders.histories(&caller, &ids).await
        }
        .await;
        respond(
            "get order histories",
            result.map(|histories| proto::GetOrderHistoriesResponse {
                histories: histories
                    .into_iter()
                    .map(|(id, entries)| proto::OrderHistory {
                        order_id: id.to_string(),
                        entries: entries.into_iter().map(history_to_proto).collect(),
                    })
                    .collect(),
            }),
        )
    }

    async fn list_orders(
        &self,
        request: Request<proto::ListOrdersRequest>,
    ) -> Result<Response<proto::ListOrdersResponse>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let result = async {
            let r = request.get_ref();
            let after = Cursor::decode(&r.after).map_err(ValidationError::from)?;
            self.orders
                .list(&caller, after, PageSize::new(r.first))
                .await
        }
        .await;
        respond(
            "list orders",
            result.map(|page| proto::ListOrdersResponse {
                orders: page.items.into_iter().map(to_proto).collect(),
                end_cursor: page.end_cursor.map(|c| c.encode()).unwrap_or_default(),
                has_next_page: page.has_next_page,
            }),
        )
    }

    async fn cancel_order(
        &self,
        request: Request<proto::CancelOrderRequest>,
    ) -> Result<Response<proto::Order>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let result = async {
            let id = OrderId::parse("id", &request.get_ref().id)?;
            self.orders.cancel(&caller, id).await
        }
        .await;
        respond("cancel order", result.map(to_proto))
    }

    type WatchOrderStream = BoxStream<'static, Result<proto::Order, Status>>;

    async fn watch_order(
        &self,
        request: Request<proto::WatchOrderRequest>,
    ) -> Result<Response<Self::WatchOrderStream>, Status> {
        let caller = self.caller(request.metadata()).await?;
        let result = async {
            let id = OrderId::parse("id", &request.get_ref().id)?;
            self.orders.watch(&caller, id).await
        }
        .await;
        respond(
            "watch order",
            result.map(|changes| {
                changes
                    .map(|item| item.map(to_proto).map_err(|e| status("watch order", e)))
                    .boxed()
            }),
        )
    }

    type WatchChangesStream = BoxStream<'static, Result<proto::OrderChanged, Status>>;

    async fn watch_changes(
        &self,
        request: Request<proto::WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let caller = self.caller(request.metadata()).await?;
        respond(
            "watch changes",
            self.orders.changes(&caller).map(|changes| {
                stream::unfold(changes, |mut changes| async move {
                    let order = changes.next().await?;
                    let changed = proto::OrderChanged {
                        order_id: order.map(|id| id.to_string()).unwrap_or_default(),
                    };
                    Some((Ok(changed), changes))
                })
                .boxed()
            }),
        )
    }
}

/// The one place a result becomes a response.
fn respond<T>(
    context: &'static str,
    result: Result<T, OrdersError>,
) -> Result<Response<T>, Status> {
    result
        .map(Response::new)
        .map_err(|error| status(context, error))
}

/// The one place an [`OrdersError`] becomes a [`Status`].
fn status(context: &'static str, error: OrdersError) -> Status {
    match error {
        OrdersError::Invalid(e) => invalid_argument(e.field, e.to_string()),
        OrdersError::NotFound | OrdersError::ProductNotFound => {
            Status::not_found(error.to_string())
        }
        OrdersError::Forbidden => Status::permission_denied(error.to_string()),
        OrdersError::TooManyPending(_) | OrdersError::TooManyPerMinute(_) => {
            Status::resource_exhausted(error.to_string())
        }
        OrdersError::NotCancellable(_) => Status::failed_precondition(error.to_string()),
        OrdersError::KeyReused => Status::already_exists(error.to_string()),
        OrdersError::ProductsUnavailable(_) => unavailable(context, "the products service", &error),
        OrdersError::Database(ref cause) => {
            database_failure(context, "the orders database", cause, &error)
        }
        OrdersError::Products(_) | OrdersError::Event(_) => internal(context, &error),
    }
}

/// The ids of a batch read, each checked.
fn order_ids(request: &proto::GetOrdersRequest) -> Result<Vec<OrderId>, OrdersError> {
    let ids = request
        .ids
        .iter()
        .map(|raw| OrderId::parse("ids", raw))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

fn history_to_proto(entry: HistoryEntry) -> proto::OrderHistoryEntry {
    proto::OrderHistoryEntry {
        status: status_to_proto(entry.status) as i32,
        reason: entry.reason.unwrap_or_default(),
        at: Some(timestamp(entry.at)),
    }
}

/// The request's lines, or its one product: one form or the other.
fn new_order(r: &proto::PlaceOrderRequest) -> Result<NewOrder, ValidationError> {
    if r.lines.is_empty() {
        return NewOrder::parse(&r.product_id, r.quantity);
    }
    if !r.product_id.is_empty() || r.quantity != 0 {
        return Err(ValidationError::new(
            "lines",
            "give either productId and quantity, or lines, not both",
        ));
    }
    // No deployment takes more (SYNCCHAIN_ORDER_MAX_LINES is checked once
    // parsed): refused before any line is read.
    if r.lines.len() > OrderPlacedV2::MAX_LINES {
        return Err(ValidationError::new(
            "lines",
            format!("must hold at most {} lines", OrderPlacedV2::MAX_LINES),
        ));
    }
    NewOrder::parse_lines(r.lines.iter().map(|l| (l.product_id.as_str(), l.quantity)))
}

fn to_proto(order: Order) -> proto::Order {
    proto::Order {
        lines: order
            .lines
            .iter()
            .map(|line| proto::OrderLine {
                product_id: line.product_id.to_string(),
                quantity: line.quantity,
                unit_price: line.unit_price,
                line_total: line.total(),
            })
            .collect(),
        id: order.id.to_string(),
        user_id: order.user_id.to_string(),
        product_id: order.product_id.to_string(),
        quantity: order.quantity,
        unit_price: order.unit_price,
        total_amount: order.total_amount,
        status: status_to_proto(order.status) as i32,
        rejection_reason: order.rejection_reason.unwrap_or_default(),
        created_at: Some(timestamp(order.created_at)),
        updated_at: Some(timestamp(order.updated_at)),
    }
}

pub fn status_to_proto(status: OrderStatus) -> proto::OrderStatus {
    match status {
        OrderStatus::Pending => proto::OrderStatus::Pending,
        OrderStatus::Confirmed => proto::OrderStatus::Confirmed,
        OrderStatus::Rejected => proto::OrderStatus::Rejected,
        OrderStatus::Cancelled => proto::OrderStatus::Cancelled,
    }
}
