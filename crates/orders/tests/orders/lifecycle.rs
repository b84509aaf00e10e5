//! Cancelling, and the service's own lifecycle: health, readiness, and a
//! shutdown that releases whoever is waiting.

use std::time::Duration;

use syncchain_events::payloads::orders::OrderCancelledV1;
use syncchain_proto::orders::v1::{OrderStatus, WatchOrderRequest};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::Code;

use crate::helpers::{as_caller, spawn_app};

#[tokio::test]
async fn cancelling_a_confirmed_order_cancels_it_and_publishes_orders_cancelled() {
    let app = spawn_app().await;
    let (user, token) = app.customer();
    let order = app.pending_order(&token, 2).await;
    app.publish(&app.reserved(&order)).await;
    app.wait_for_status(&order.id, OrderStatus::Confirmed).await;

    let status = app.cancel(&token, &order.id).await.unwrap();

    assert_eq!(status, OrderStatus::Cancelled);
    let published = app
        .wait_for_published("orders.cancelled", &order.id, 1)
        .await;
    let cancelled: OrderCancelledV1 = published[0].decode().unwrap();
    assert_eq!((cancelled.user_id, cancelled.quantity), (user, 2));
}

#[tokio::test]
async fn an_admin_may_cancel_anyones_confirmed_order() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 1).await;
    app.publish(&app.reserved(&order)).await;
    app.wait_for_status(&order.id, OrderStatus::Confirmed).await;

    let status = app.cancel(&app.admin_token(), &order.id).await.unwrap();

    assert_eq!(status, OrderStatus::Cancelled);
}

#[tokio::test]
async fn a_rejected_or_cancelled_order_cannot_be_cancelled() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let rejected = app.pending_order(&token, 1).await;
    app.publish(&app.rejected(&rejected)).await;
    app.wait_for_status(&rejected.id, OrderStatus::Rejected)
        .await;
    let cancelled = app.pending_order(&token, 1).await;
    app.publish(&app.reserved(&cancelled)).await;
    app.wait_for_status(&cancelled.id, OrderStatus::Confirmed)
        .await;
    app.cancel(&token, &cancelled.id).await.unwrap();

    for (order, status) in [(&rejected, "REJECTED"), (&cancelled, "CANCELLED")] {
        let refused = app.cancel(&token, &order.id).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{status}");
        assert!(refused.message().contains(status), "{}", refused.message());
    }
    assert_eq!(
        app.published("orders.cancelled", &cancelled.id).await.len(),
        1
    );
}

#[tokio::test]
async fn a_pending_order_can_be_cancelled_and_a_reservation_arriving_later_is_given_back() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 2).await;

    let status = app.cancel(&token, &order.id).await.unwrap();
    app.wait_for_published("orders.cancelled", &order.id, 1)
        .await;
    // Products reserved before it heard of the cancellation.
    app.publish(&app.reserved(&order)).await;

    assert_eq!(status, OrderStatus::Cancelled);
    let released = app
        .wait_for_published("orders.cancelled", &order.id, 2)
        .await;
    assert_eq!(released.len(), 2);
    app.saga_caught_up().await;
    let order = app.get(&token, &order.id).await.unwrap();
    assert_eq!(order.status(), OrderStatus::Cancelled);
}

#[tokio::test]
async fn a_refusal_arriving_after_a_cancellation_changes_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 1).await;
    app.cancel(&token, &order.id).await.unwrap();

    app.publish(&app.rejected(&order)).await;
    app.saga_caught_up().await;

    let order = app.get(&token, &order.id).await.unwrap();
    assert_eq!(order.status(), OrderStatus::Cancelled);
    assert_eq!(app.published("orders.cancelled", &order.id).await.len(), 1);
}

/// The status line of a plain HTTP/1.1 GET.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn health_and_readiness_answer_on_the_grpc_port() {
    let app = spawn_app().await;

    assert!(http_get(app.addr, "/healthz").await.contains("200"));
    // Ready once its dependencies answer and its sessions replica has
    // replayed the users stream, which a loaded machine may take a moment
    // to finish after start.
    let ready = syncchain_testkit::eventually(Duration::from_secs(10), || async {
        http_get(app.addr, "/readyz").await.contains("200")
    })
    .await;
    assert!(ready, "{}", http_get(app.addr, "/readyz").await);
}

#[tokio::test]
async fn stopping_releases_waiting_callers_and_watchers_then_closes_the_port() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 1).await;
    let mut watch = app
        .client()
        .watch_order(as_caller(
            WatchOrderRequest {
                id: order.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        OrderStatus::Pending
    );
    let product = app.product(100);
    let waiting = {
        let client = app.client();
        let token = token.clone();
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
    // Once its order is stored, the placing call is waiting for the outcome.
    let stored = syncchain_testkit::eventually(crate::helpers::DEADLINE, || async {
        app.stored_orders().await == 2
    })
    .await;
    assert!(stored);

    let addr = app.addr;
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the service stops in time")
        .unwrap();

    let placed = waiting.await.unwrap().unwrap().into_inner();
    assert_eq!(placed.status(), OrderStatus::Pending);
    assert!(watch.message().await.unwrap_or(None).is_none());
    assert!(TcpStream::connect(addr).await.is_err());
}
