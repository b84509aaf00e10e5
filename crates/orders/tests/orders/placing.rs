use syncchain_events::payloads::orders::OrderPlacedV1;
use syncchain_platform::grpc::field_of;
use syncchain_proto::orders::v1::OrderStatus;
use tokio::net::TcpListener;
use tonic::Code;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn placing_an_order_stores_it_pending_and_publishes_orders_placed() {
    let app = spawn_app().await;
    let (user, token) = app.customer();
    let product = app.product(250);

    let order = app.place(&token, &product, 3, 0).await.unwrap();

    assert_eq!(order.status(), OrderStatus::Pending);
    assert_eq!(order.user_id, user.to_string());
    assert_eq!(order.product_id, product);
    assert_eq!(
        (order.quantity, order.unit_price, order.total_amount),
        (3, 250, 750)
    );
    assert!(order.rejection_reason.is_empty());
    assert!(order.created_at.is_some() && order.updated_at.is_some());
    let published = app.wait_for_published("orders.placed", &order.id, 1).await;
    let placed: OrderPlacedV1 = published[0].decode().unwrap();
    assert_eq!(placed.user_id, user);
    assert_eq!(placed.product_id.to_string(), product);
    assert_eq!(
        (placed.quantity, placed.unit_price, placed.total_amount),
        (3, 250, 750)
    );
}

#[tokio::test]
async fn a_total_beyond_the_api_int_is_refused_naming_quantity_and_nothing_is_written() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let product = app.product(i64::from(i32::MAX) / 2 + 1);

    let status = app.place(&token, &product, 2, 0).await.unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(field_of(&status).as_deref(), Some("quantity"));
    assert!(
        status.message().contains("2147483647"),
        "{}",
        status.message()
    );
    assert_eq!(app.stored_orders().await, 0);
}

#[tokio::test]
async fn a_total_of_exactly_the_api_int_is_accepted() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let product = app.product(i64::from(i32::MAX));

    let order = app.place(&token, &product, 1, 0).await.unwrap();

    assert_eq!(order.total_amount, i64::from(i32::MAX));
}

#[tokio::test]
async fn an_unknown_product_is_not_found_and_nothing_is_written() {
    let app = spawn_app().await;
    let (_, token) = app.customer();

    let unknown = uuid::Uuid::new_v4().to_string();
    let status = app.place(&token, &unknown, 1, 0).await.unwrap_err();

    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(app.stored_orders().await, 0);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_as_clients_know_it() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let product = app.product(100);

    for (product_id, quantity, field) in [
        ("not-a-uuid", 1, "productId"),
        ("", 1, "productId"),
        (product.as_str(), 0, "quantity"),
        (product.as_str(), -3, "quantity"),
        (product.as_str(), 1_000_001, "quantity"),
    ] {
        let status = app
            .place(&token, product_id, quantity, 0)
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{product_id} {quantity}"
        );
        assert_eq!(field_of(&status).as_deref(), Some(field));
    }
    assert_eq!(app.stored_orders().await, 0);
}

#[tokio::test]
async fn placing_an_order_needs_a_signed_in_caller() {
    let app = spawn_app().await;
    let product = app.product(100);
    let request = syncchain_proto::orders::v1::PlaceOrderRequest {
        product_id: product,
        quantity: 1,
        wait_ms: 0,
        idempotency_key: None,
        lines: Vec::new(),
    };

    let status = app.client().place_order(request).await.unwrap_err();

    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(app.stored_orders().await, 0);
}

#[tokio::test]
async fn when_products_cannot_be_reached_placing_is_unavailable_and_nothing_is_written() {
    // A port nobody listens on any more.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(&[("SYNCCHAIN_PRODUCTS_URL", url.as_str())]).await;
    let (_, token) = app.customer();

    let product = uuid::Uuid::new_v4().to_string();
    let status = app.place(&token, &product, 1, 0).await.unwrap_err();

    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        !status.message().contains("127.0.0.1"),
        "{}",
        status.message()
    );
    assert_eq!(app.stored_orders().await, 0);
}

#[tokio::test]
async fn the_wait_is_capped_by_the_configured_maximum() {
    let app = spawn_app_with(&[("SYNCCHAIN_ORDER_MAX_WAIT", "200ms")]).await;
    let (_, token) = app.customer();
    let product = app.product(100);

    let started = std::time::Instant::now();
    let order = app.place(&token, &product, 1, 60_000).await.unwrap();

    // Nobody answers for products here, so it comes back PENDING after the cap.
    assert_eq!(order.status(), OrderStatus::Pending);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
