//! The order side of the saga, with products' answers published to the
//! real broker as products would publish them.

use syncchain_events::payloads::orders::{OrderCancelledV1, OrderSettledV1};
use syncchain_proto::orders::v1::{ListOrdersRequest, OrderStatus};
use syncchain_testkit::eventually;

use crate::helpers::{DEADLINE, as_caller, spawn_app};

#[tokio::test]
async fn stock_reserved_confirms_a_pending_order_and_publishes_orders_settled() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 2).await;

    app.publish(&app.reserved(&order)).await;

    let confirmed = app.wait_for_status(&order.id, OrderStatus::Confirmed).await;
    assert!(confirmed.rejection_reason.is_empty());
    let settled = app.wait_for_published("orders.settled", &order.id, 1).await;
    let settled: OrderSettledV1 = settled[0].decode().unwrap();
    assert_eq!(
        (settled.status.as_str(), settled.reason),
        ("CONFIRMED", None)
    );
}

#[tokio::test]
async fn place_order_waits_for_the_outcome_and_returns_it() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let product = app.product(100);

    let placing = {
        let (token, product) = (token.clone(), product.clone());
        let client = app.client();
        tokio::spawn(async move {
            let request = syncchain_proto::orders::v1::PlaceOrderRequest {
                product_id: product,
                quantity: 1,
                wait_ms: 10_000,
                idempotency_key: None,
                lines: Vec::new(),
            };
            client.clone().place_order(as_caller(request, &token)).await
        })
    };
    let list = || {
        let mut client = app.client();
        let token = token.clone();
        async move {
            client
                .list_orders(as_caller(ListOrdersRequest::default(), &token))
                .await
                .unwrap()
                .into_inner()
                .orders
        }
    };
    let stored = eventually(DEADLINE, || async { !list().await.is_empty() }).await;
    assert!(stored, "the order was not stored in time");
    let order = list().await.remove(0);
    app.publish(&app.reserved(&order)).await;

    let answered = placing.await.unwrap().unwrap().into_inner();
    assert_eq!(answered.status(), OrderStatus::Confirmed);
}

#[tokio::test]
async fn stock_rejected_rejects_the_order_with_the_reason() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 5).await;

    app.publish(&app.rejected(&order)).await;

    let rejected = app.wait_for_status(&order.id, OrderStatus::Rejected).await;
    assert_eq!(
        rejected.rejection_reason,
        "insufficient stock: 5 requested, 1 available"
    );
    let settled = app.wait_for_published("orders.settled", &order.id, 1).await;
    let settled: OrderSettledV1 = settled[0].decode().unwrap();
    assert_eq!(settled.status, "REJECTED");
    assert_eq!(
        settled.reason.as_deref(),
        Some(rejected.rejection_reason.as_str())
    );
}

#[tokio::test]
async fn the_same_answer_delivered_twice_is_applied_once() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 1).await;
    let reserved = app.reserved(&order);

    app.publish(&reserved).await;
    app.publish(&reserved).await;
    app.saga_caught_up().await;

    let confirmed = app.wait_for_status(&order.id, OrderStatus::Confirmed).await;
    app.saga_caught_up().await;
    assert_eq!(app.get(&token, &order.id).await.unwrap(), confirmed);
    assert_eq!(app.published("orders.settled", &order.id).await.len(), 1);
}

#[tokio::test]
async fn a_late_answer_for_a_settled_order_changes_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 1).await;
    app.publish(&app.reserved(&order)).await;
    let confirmed = app.wait_for_status(&order.id, OrderStatus::Confirmed).await;

    app.publish(&app.rejected(&order)).await;
    app.saga_caught_up().await;

    assert_eq!(app.get(&token, &order.id).await.unwrap(), confirmed);
    assert_eq!(app.published("orders.settled", &order.id).await.len(), 1);
}

#[tokio::test]
async fn stock_reserved_for_a_rejected_order_is_released_by_orders_cancelled() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 4).await;
    app.publish(&app.rejected(&order)).await;
    app.wait_for_status(&order.id, OrderStatus::Rejected).await;

    app.publish(&app.reserved(&order)).await;

    let released = app
        .wait_for_published("orders.cancelled", &order.id, 1)
        .await;
    let released: OrderCancelledV1 = released[0].decode().unwrap();
    assert_eq!(released.quantity, 4);
    assert_eq!(released.product_id.to_string(), order.product_id);
    let still = app.get(&token, &order.id).await.unwrap();
    assert_eq!(still.status(), OrderStatus::Rejected);
}

#[tokio::test]
async fn stock_reserved_again_for_a_cancelled_order_is_released_again() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 1).await;
    let reserved = app.reserved(&order);
    app.publish(&reserved).await;
    app.wait_for_status(&order.id, OrderStatus::Confirmed).await;
    app.client()
        .cancel_order(as_caller(
            syncchain_proto::orders::v1::CancelOrderRequest {
                id: order.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap();

    // A second reservation (a new event, not a redelivery of the first).
    app.publish(&app.reserved(&order)).await;

    // Products releases at most once per order, so asking twice is safe.
    app.wait_for_published("orders.cancelled", &order.id, 2)
        .await;
    let still = app.get(&token, &order.id).await.unwrap();
    assert_eq!(still.status(), OrderStatus::Cancelled);
}

#[tokio::test]
async fn an_answer_about_an_unknown_order_is_parked_and_the_saga_carries_on() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let ghost = app.pending_order(&token, 1).await;
    let mut unknown = ghost.clone();
    unknown.id = uuid::Uuid::new_v4().to_string();
    let mismatched = {
        let mut other = ghost.clone();
        other.quantity = 7;
        other
    };

    app.publish(&app.reserved(&unknown)).await;
    app.publish(&app.reserved(&mismatched)).await;
    app.publish(&app.reserved(&ghost)).await;

    app.wait_for_status(&ghost.id, OrderStatus::Confirmed).await;
    let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(parked, 2);
}
