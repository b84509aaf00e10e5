//! WatchOrder: the order now, then each change, until a final status.

use syncchain_proto::orders::v1::{
    CancelOrderRequest, Order, OrderChanged, OrderStatus, WatchChangesRequest, WatchOrderRequest,
};
use tonic::Streaming;

use crate::helpers::{TestApp, as_caller, spawn_app};

async fn watch(app: &TestApp, token: &str, id: &str) -> Streaming<Order> {
    app.client()
        .watch_order(as_caller(WatchOrderRequest { id: id.into() }, token))
        .await
        .unwrap()
        .into_inner()
}

async fn next_status(stream: &mut Streaming<Order>) -> Option<OrderStatus> {
    let next = tokio::time::timeout(crate::helpers::DEADLINE, stream.message())
        .await
        .expect("the stream moves on in time");
    next.unwrap().map(|order| order.status())
}

#[tokio::test]
async fn watching_streams_pending_then_confirmed_then_cancelled_and_ends() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 1).await;
    let mut stream = watch(&app, &token, &order.id).await;
    assert_eq!(next_status(&mut stream).await, Some(OrderStatus::Pending));

    app.publish(&app.reserved(&order)).await;
    assert_eq!(next_status(&mut stream).await, Some(OrderStatus::Confirmed));

    app.client()
        .cancel_order(as_caller(
            CancelOrderRequest {
                id: order.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap();
    assert_eq!(next_status(&mut stream).await, Some(OrderStatus::Cancelled));
    assert_eq!(next_status(&mut stream).await, None);
}

#[tokio::test]
async fn watching_a_rejected_order_shows_it_once_and_ends() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 1).await;
    app.publish(&app.rejected(&order)).await;
    app.wait_for_status(&order.id, OrderStatus::Rejected).await;

    let mut stream = watch(&app, &app.admin_token(), &order.id).await;

    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.status(), OrderStatus::Rejected);
    assert!(!first.rejection_reason.is_empty());
    assert_eq!(next_status(&mut stream).await, None);
}

#[tokio::test]
async fn a_watch_hears_of_changes_after_the_listening_connection_was_lost() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 1).await;
    let mut stream = watch(&app, &token, &order.id).await;
    assert_eq!(next_status(&mut stream).await, Some(OrderStatus::Pending));

    let kill = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND query LIKE 'LISTEN%orders_changed%'";
    let killed = syncchain_testkit::eventually(crate::helpers::DEADLINE, || async {
        sqlx::query_scalar::<_, i64>(kill)
            .fetch_one(&app.pool)
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    assert!(killed, "no listening connection to cut");
    app.publish(&app.reserved(&order)).await;

    assert_eq!(next_status(&mut stream).await, Some(OrderStatus::Confirmed));
    let listening = "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND query LIKE 'LISTEN%orders_changed%'";
    let again = syncchain_testkit::eventually(crate::helpers::DEADLINE, || async {
        sqlx::query_scalar::<_, i64>(listening)
            .fetch_one(&app.pool)
            .await
            .is_ok_and(|n| n == 1)
    })
    .await;
    assert!(again, "the service did not listen again");
}

#[tokio::test]
async fn the_change_feed_is_for_admins_and_names_each_order_that_changes() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let refused = app
        .client()
        .watch_changes(as_caller(WatchChangesRequest {}, &token))
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(refused, Some(tonic::Code::PermissionDenied));

    let mut feed = app
        .client()
        .watch_changes(as_caller(WatchChangesRequest {}, &app.admin_token()))
        .await
        .unwrap()
        .into_inner();
    let first = next_signal(&mut feed).await.expect("a first signal");
    assert_eq!(
        first.order_id, "",
        "it starts with: anything may have changed"
    );

    let order = app.pending_order(&token, 1).await;
    app.publish(&app.reserved(&order)).await;
    loop {
        let signal = next_signal(&mut feed).await.expect("a signal");
        if signal.order_id == order.id {
            break;
        }
    }
}

async fn next_signal(feed: &mut Streaming<OrderChanged>) -> Option<OrderChanged> {
    tokio::time::timeout(crate::helpers::DEADLINE, feed.message())
        .await
        .expect("a signal in time")
        .unwrap()
}
