//! An order's history: each status it went through, when and why, written
//! by the same statements that change it, shown to its owner and admins.

use syncchain_proto::orders::v1::{self as proto, OrderStatus};
use tonic::Code;

use crate::helpers::{TestApp, spawn_app};

/// The history of `id` as (status, reason) pairs, oldest first, checking
/// that the times never go back.
async fn steps(app: &TestApp, token: &str, id: &str) -> Vec<(OrderStatus, String)> {
    let histories = app.histories(token, &[id]).await.unwrap();
    assert_eq!(histories.len(), 1, "{histories:?}");
    let entries = &histories[0].entries;
    let times: Vec<_> = entries
        .iter()
        .map(|e| {
            let at = e.at.unwrap();
            (at.seconds, at.nanos)
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{entries:?}");
    entries
        .iter()
        .map(|e| (e.status(), e.reason.clone()))
        .collect()
}

fn step(status: OrderStatus, reason: &str) -> (OrderStatus, String) {
    (status, reason.to_owned())
}

#[tokio::test]
async fn a_confirmed_then_cancelled_order_shows_each_step_and_who_cancelled() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 1).await;
    // Delivered twice: applied, and written in the history, once.
    app.publish(&app.reserved(&order)).await;
    app.publish(&app.reserved(&order)).await;
    app.wait_for_status(&order.id, OrderStatus::Confirmed).await;
    app.saga_caught_up().await;
    app.cancel(&token, &order.id).await.unwrap();

    assert_eq!(
        steps(&app, &token, &order.id).await,
        [
            step(OrderStatus::Pending, "placed"),
            step(OrderStatus::Confirmed, "stock reserved"),
            step(OrderStatus::Cancelled, "cancelled by the customer"),
        ]
    );
}

#[tokio::test]
async fn a_rejected_order_shows_the_reason_and_an_admins_cancellation_says_so() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let rejected = app.pending_order(&token, 1).await;
    let cancelled = app.pending_order(&token, 1).await;
    app.publish(&app.rejected(&rejected)).await;
    app.publish(&app.reserved(&cancelled)).await;
    app.wait_for_status(&rejected.id, OrderStatus::Rejected)
        .await;
    app.wait_for_status(&cancelled.id, OrderStatus::Confirmed)
        .await;
    app.cancel(&app.admin_token(), &cancelled.id).await.unwrap();

    let rejected_steps = steps(&app, &token, &rejected.id).await;
    assert_eq!(rejected_steps[0], step(OrderStatus::Pending, "placed"));
    assert_eq!(rejected_steps[1].0, OrderStatus::Rejected);
    assert!(rejected_steps[1].1.contains("stock"), "{rejected_steps:?}");
    assert_eq!(rejected_steps.len(), 2);
    let cancelled_steps = steps(&app, &app.admin_token(), &cancelled.id).await;
    assert_eq!(
        cancelled_steps.last(),
        Some(&step(OrderStatus::Cancelled, "cancelled by an admin"))
    );
}

#[tokio::test]
async fn histories_come_in_the_order_asked_and_others_orders_are_left_out() {
    let app = spawn_app().await;
    let (_, alice) = app.customer();
    let (_, bob) = app.customer();
    let hers = app.pending_order(&alice, 1).await;
    let his = app.pending_order(&bob, 1).await;
    let unknown = uuid::Uuid::new_v4().to_string();

    let seen_by_alice = app
        .histories(&alice, &[&his.id, &hers.id, &unknown, &hers.id])
        .await
        .unwrap();
    let seen_by_admin = app
        .histories(&app.admin_token(), &[&his.id, &hers.id])
        .await
        .unwrap();

    let ids = |h: &[proto::OrderHistory]| -> Vec<String> {
        h.iter().map(|h| h.order_id.clone()).collect()
    };
    assert_eq!(ids(&seen_by_alice), std::slice::from_ref(&hers.id));
    assert_eq!(ids(&seen_by_admin), [his.id, hers.id]);
}

#[tokio::test]
async fn too_many_or_malformed_ids_are_refused_naming_ids() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let many: Vec<String> = (0..1001)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();

    let too_many = app.histories(&token, &many).await.unwrap_err();
    let malformed = app.histories(&token, &["not-an-id"]).await.unwrap_err();

    for status in [too_many, malformed] {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(
            syncchain_platform::grpc::field_of(&status).as_deref(),
            Some("ids")
        );
    }
}
