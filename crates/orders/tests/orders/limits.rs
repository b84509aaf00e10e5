//! What one customer may place: a few orders in flight, a bounded quantity
//! each, and (when set) a bounded number a minute. Here no products service
//! answers the placements, so every accepted order stays PENDING until the
//! test settles it.

use futures::future::join_all;
use syncchain_platform::grpc::field_of;
use syncchain_proto::orders::v1::OrderStatus;
use tonic::Code;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn concurrent_placements_by_one_customer_stop_at_the_pending_cap() {
    let app = spawn_app_with(&[("SYNCCHAIN_ORDER_MAX_PENDING_PER_CUSTOMER", "5")]).await;
    let (_, token) = app.customer();
    let product = app.product(100);

    let answers = join_all((0..30).map(|_| app.place(&token, &product, 1, 0))).await;

    let accepted = answers.iter().filter(|a| a.is_ok()).count();
    let limited = answers
        .iter()
        .filter(|a| matches!(a, Err(s) if s.code() == Code::ResourceExhausted))
        .count();
    assert_eq!((accepted, limited), (5, 25), "{answers:?}");
    assert_eq!(app.stored_orders().await, 5);
}

#[tokio::test]
async fn a_settled_order_makes_room_for_another_and_other_customers_are_not_held_back() {
    let app = spawn_app_with(&[("SYNCCHAIN_ORDER_MAX_PENDING_PER_CUSTOMER", "1")]).await;
    let (_, token) = app.customer();
    let (_, other) = app.customer();
    let product = app.product(100);

    let first = app.place(&token, &product, 1, 0).await.unwrap();
    let refused = app.place(&token, &product, 1, 0).await.unwrap_err();
    let others = app.place(&other, &product, 1, 0).await;
    app.publish(&app.reserved(&first)).await;
    app.wait_for_status(&first.id, OrderStatus::Confirmed).await;
    let after = app.place(&token, &product, 1, 0).await;

    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(others.is_ok(), "{others:?}");
    assert!(after.is_ok(), "{after:?}");
}

#[tokio::test]
async fn a_quantity_above_the_cap_is_refused_naming_quantity_and_nothing_is_written() {
    let app = spawn_app_with(&[("SYNCCHAIN_ORDER_MAX_QUANTITY", "50")]).await;
    let (_, token) = app.customer();
    let product = app.product(100);

    let refused = app.place(&token, &product, 51, 0).await.unwrap_err();
    let most = app.place(&token, &product, 50, 0).await;

    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(field_of(&refused).as_deref(), Some("quantity"));
    assert!(most.is_ok(), "{most:?}");
    assert_eq!(app.stored_orders().await, 1);
}

#[tokio::test]
async fn placements_beyond_the_per_minute_cap_are_refused() {
    let app = spawn_app_with(&[
        ("SYNCCHAIN_ORDER_MAX_PER_MINUTE", "3"),
        ("SYNCCHAIN_ORDER_MAX_PENDING_PER_CUSTOMER", "100"),
    ])
    .await;
    let (_, token) = app.customer();
    let product = app.product(100);

    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(match app.place(&token, &product, 1, 0).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        });
    }

    assert_eq!(
        codes,
        [
            Code::Ok,
            Code::Ok,
            Code::Ok,
            Code::ResourceExhausted,
            Code::ResourceExhausted
        ]
    );
    assert_eq!(app.stored_orders().await, 3);
}
