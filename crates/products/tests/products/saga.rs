use futures::future::join_all;
use syncchain_events::payloads::{
    orders::{OrderCancelledV1, OrderPlacedV1, OrderPlacedV2},
    products::{
        StockRejectedV1, StockRejectedV2, StockRejection, StockReleasedV1, StockReleasedV2,
        StockReservedV1, StockReservedV2,
    },
};
use syncchain_events::streams;
use syncchain_testkit::eventually;
use uuid::Uuid;

use crate::helpers::{DEADLINE, TestApp, placed, placed_lines, spawn_app};

fn cancelled(order: &OrderPlacedV1) -> OrderCancelledV1 {
    OrderCancelledV1 {
        order_id: order.order_id,
        user_id: order.user_id,
        product_id: order.product_id,
        quantity: order.quantity,
    }
}

/// The cancellation orders announces for an order of several lines.
fn cancelled_lines(order: &OrderPlacedV2) -> OrderCancelledV1 {
    OrderCancelledV1 {
        order_id: order.order_id,
        user_id: order.user_id,
        product_id: order.lines[0].product_id,
        quantity: order.lines[0].quantity,
    }
}

/// Waits until the order has a `stock.reserved` or `stock.rejected`, of
/// either version.
async fn settled(app: &TestApp, order_id: Uuid) -> bool {
    eventually(DEADLINE, || async {
        let answered =
            |e: &syncchain_events::Envelope| e.payload["order_id"] == order_id.to_string();
        app.emitted("stock.reserved").await.iter().any(answered)
            || app.emitted("stock.rejected").await.iter().any(answered)
    })
    .await
}

/// Waits until the saga consumer has settled every message published so far.
async fn drain(app: &TestApp) {
    assert!(
        app.consumer_settled(streams::ORDERS, syncchain_products::saga::CONSUMER)
            .await,
        "the saga consumer did not settle every message in time"
    );
}

/// Once every message so far is handled: one reservation for the order,
/// and `stock` left.
async fn assert_reserved_once(app: &TestApp, product_id: &str, order_id: Uuid, stock: i64) {
    drain(app).await;
    let reserved = app.emitted_for::<StockReservedV1>(order_id).await;
    assert_eq!(reserved.len(), 1, "{reserved:?}");
    assert_eq!(app.stock_in_db(product_id).await, stock);
}

#[tokio::test]
async fn an_order_within_the_stock_reserves_it_and_announces_stock_reserved() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 100, 5).await;
    let order = placed(&product.id, 3);

    app.publish(&order).await;

    assert!(settled(&app, order.order_id).await, "no outcome in time");
    let reserved = app.emitted_for::<StockReservedV1>(order.order_id).await;
    assert_eq!(reserved.len(), 1);
    assert_eq!((reserved[0].quantity, reserved[0].remaining), (3, 2));
    assert_eq!(app.stock_in_db(&product.id).await, 2);
}

#[tokio::test]
async fn an_order_beyond_the_stock_is_rejected_with_the_reason_and_changes_nothing() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 100, 2).await;
    let order = placed(&product.id, 3);

    app.publish(&order).await;

    assert!(settled(&app, order.order_id).await, "no outcome in time");
    let rejected = app.emitted_for::<StockRejectedV1>(order.order_id).await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].reason, StockRejection::InsufficientStock);
    assert_eq!(rejected[0].available, 2);
    assert_eq!(app.stock_in_db(&product.id).await, 2);
}

#[tokio::test]
async fn an_order_for_an_unknown_product_is_rejected_as_unknown_product() {
    let app = spawn_app().await;
    let order = placed(&Uuid::now_v7().to_string(), 1);

    app.publish(&order).await;

    assert!(settled(&app, order.order_id).await, "no outcome in time");
    let rejected = app.emitted_for::<StockRejectedV1>(order.order_id).await;
    assert_eq!(rejected[0].reason, StockRejection::UnknownProduct);
    assert_eq!(rejected[0].available, 0);
}

#[tokio::test]
async fn the_same_orders_placed_delivered_twice_changes_the_stock_once() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 100, 5).await;
    let order = placed(&product.id, 2);

    let envelope = app.publish(&order).await;
    app.publish_envelope(&envelope).await;

    assert_reserved_once(&app, &product.id, order.order_id, 3).await;
}

#[tokio::test]
async fn a_second_placement_of_the_same_order_reserves_nothing_more_and_answers_again() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 100, 5).await;
    let order = placed(&product.id, 2);

    // As orders' sweep sends it again when no answer came back: a new event id.
    app.publish(&order).await;
    app.publish(&order).await;
    drain(&app).await;

    let reserved = app.emitted_for::<StockReservedV1>(order.order_id).await;
    assert_eq!(reserved.len(), 2, "{reserved:?}");
    assert!(reserved.iter().all(|e| e.quantity == 2), "{reserved:?}");
    assert_eq!(app.stock_in_db(&product.id).await, 3);
    assert_eq!(app.reservations_of(order.order_id).await, 1);
}

#[tokio::test]
async fn a_placement_repeated_after_the_release_is_not_answered() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 100, 5).await;
    let order = placed(&product.id, 2);
    app.publish(&order).await;
    assert!(settled(&app, order.order_id).await, "no outcome in time");
    app.publish(&cancelled(&order)).await;

    app.publish(&order).await;
    drain(&app).await;

    assert_eq!(
        app.emitted_for::<StockReservedV1>(order.order_id)
            .await
            .len(),
        1
    );
    assert_eq!(app.stock_in_db(&product.id).await, 5);
}

#[tokio::test]
async fn a_refused_order_placed_again_is_decided_again() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 100, 1).await;
    let order = placed(&product.id, 2);
    app.publish(&order).await;
    assert!(settled(&app, order.order_id).await, "no outcome in time");
    app.restock(&product.id, 1).await.unwrap();

    app.publish(&order).await;
    drain(&app).await;

    assert_eq!(
        app.emitted_for::<StockRejectedV1>(order.order_id)
            .await
            .len(),
        1
    );
    assert_eq!(
        app.emitted_for::<StockReservedV1>(order.order_id)
            .await
            .len(),
        1
    );
    assert_eq!(app.stock_in_db(&product.id).await, 0);
}

#[tokio::test]
async fn a_cancellation_releases_the_reservation_once_even_if_delivered_twice() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 100, 5).await;
    let order = placed(&product.id, 2);
    app.publish(&order).await;
    assert!(settled(&app, order.order_id).await, "no outcome in time");

    let envelope = app.publish(&cancelled(&order)).await;
    app.publish_envelope(&envelope).await;
    app.publish(&cancelled(&order)).await;
    drain(&app).await;

    let released = app.emitted_for::<StockReleasedV1>(order.order_id).await;
    assert_eq!(released.len(), 1);
    assert_eq!((released[0].quantity, released[0].remaining), (2, 5));
    assert_eq!(app.stock_in_db(&product.id).await, 5);
}

#[tokio::test]
async fn cancelling_an_order_that_reserved_nothing_changes_nothing() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 100, 1).await;
    let order = placed(&product.id, 2);
    app.publish(&order).await;
    assert!(settled(&app, order.order_id).await, "no outcome in time");

    app.publish(&cancelled(&order)).await;
    drain(&app).await;

    assert!(
        app.emitted_for::<StockReleasedV1>(order.order_id)
            .await
            .is_empty()
    );
    assert_eq!(app.stock_in_db(&product.id).await, 1);
}

#[tokio::test]
async fn fifty_concurrent_orders_against_a_stock_of_ten_reserve_exactly_ten() {
    let app = spawn_app().await;
    // Two instances share the durable consumer, so decrements really race.
    let other = app.another_instance().await;
    let product = app.create("Limited edition", 100, 10).await;
    let orders: Vec<OrderPlacedV1> = (0..50).map(|_| placed(&product.id, 1)).collect();

    join_all(orders.iter().map(|order| app.publish(order))).await;

    let all_settled = eventually(DEADLINE * 2, || async {
        app.emitted("stock.reserved").await.len() + app.emitted("stock.rejected").await.len() == 50
    })
    .await;
    assert!(all_settled, "not every order was settled in time");
    assert_eq!(app.emitted("stock.reserved").await.len(), 10);
    let rejected = app.emitted("stock.rejected").await;
    assert!(rejected.iter().all(|e| {
        e.decode::<StockRejectedV1>().unwrap().reason == StockRejection::InsufficientStock
    }));
    assert_eq!(app.stock_in_db(&product.id).await, 0);
    let reservations: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reservations, 10);
    other.stop().await.unwrap();
}

#[tokio::test]
async fn a_restock_leaves_room_for_stock_reserved_for_orders_to_come_back() {
    const MAX: i64 = 2_147_483_647;
    let app = spawn_app().await;
    let product = app.create("Kettle", 100, MAX - 100).await;
    let order = placed(&product.id, 60);
    app.publish(&order).await;
    assert!(settled(&app, order.order_id).await, "no outcome in time");
    assert_eq!(app.stock_in_db(&product.id).await, MAX - 160);

    let refused = app.restock(&product.id, 101).await.unwrap_err();
    let filled = app.restock(&product.id, 100).await.unwrap();
    app.publish(&cancelled(&order)).await;
    let released = eventually(DEADLINE, || async {
        !app.emitted_for::<StockReleasedV1>(order.order_id)
            .await
            .is_empty()
    })
    .await;

    assert!(released, "the reservation was not released in time");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        syncchain_platform::grpc::field_of(&refused).as_deref(),
        Some("quantity")
    );
    assert_eq!(filled.stock, MAX - 60);
    assert_eq!(app.stock_in_db(&product.id).await, MAX);
}

#[tokio::test]
async fn an_order_of_several_lines_within_the_stock_reserves_every_line() {
    let app = spawn_app().await;
    let kettle = app.create("Kettle", 100, 5).await;
    let toaster = app.create("Toaster", 300, 2).await;
    let order = placed_lines(&[(&kettle.id, 3), (&toaster.id, 2)]);

    app.publish(&order).await;
    assert!(settled(&app, order.order_id).await, "no outcome in time");
    drain(&app).await;

    let reserved = app.emitted_for::<StockReservedV2>(order.order_id).await;
    assert_eq!(reserved.len(), 1, "{reserved:?}");
    let lines: Vec<(String, i64, i64)> = reserved[0]
        .lines
        .iter()
        .map(|l| (l.product_id.to_string(), l.quantity, l.remaining))
        .collect();
    assert_eq!(
        lines,
        vec![(kettle.id.clone(), 3, 2), (toaster.id.clone(), 2, 0)]
    );
    assert_eq!(app.stock_in_db(&kettle.id).await, 2);
    assert_eq!(app.stock_in_db(&toaster.id).await, 0);
    assert_eq!(app.reservations_of(order.order_id).await, 2);
}

#[tokio::test]
async fn an_order_with_a_line_beyond_the_stock_reserves_nothing_and_names_the_line() {
    let app = spawn_app().await;
    let kettle = app.create("Kettle", 100, 5).await;
    let toaster = app.create("Toaster", 300, 1).await;
    let unknown = Uuid::now_v7().to_string();
    let order = placed_lines(&[(&kettle.id, 3), (&toaster.id, 2), (&unknown, 1)]);

    app.publish(&order).await;
    assert!(settled(&app, order.order_id).await, "no outcome in time");
    drain(&app).await;

    let rejected = app.emitted_for::<StockRejectedV2>(order.order_id).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let lines: Vec<(String, i64, StockRejection, i64)> = rejected[0]
        .lines
        .iter()
        .map(|l| (l.product_id.to_string(), l.quantity, l.reason, l.available))
        .collect();
    assert_eq!(
        lines,
        vec![
            (toaster.id.clone(), 2, StockRejection::InsufficientStock, 1),
            (unknown, 1, StockRejection::UnknownProduct, 0),
        ]
    );
    assert!(app.emitted("stock.reserved").await.is_empty());
    assert_eq!(app.stock_in_db(&kettle.id).await, 5);
    assert_eq!(app.stock_in_db(&toaster.id).await, 1);
    assert_eq!(app.reservations_of(order.order_id).await, 0);
}

#[tokio::test]
async fn an_order_of_several_lines_placed_again_reserves_once_and_is_answered_again() {
    let app = spawn_app().await;
    let kettle = app.create("Kettle", 100, 5).await;
    let toaster = app.create("Toaster", 300, 5).await;
    let order = placed_lines(&[(&kettle.id, 1), (&toaster.id, 4)]);

    let envelope = app.publish(&order).await;
    app.publish_envelope(&envelope).await;
    app.publish(&order).await;
    drain(&app).await;

    let reserved = app.emitted_for::<StockReservedV2>(order.order_id).await;
    assert_eq!(reserved.len(), 2, "{reserved:?}");
    assert_eq!(reserved[0].lines, reserved[1].lines);
    assert_eq!(app.stock_in_db(&kettle.id).await, 4);
    assert_eq!(app.stock_in_db(&toaster.id).await, 1);
    assert_eq!(app.reservations_of(order.order_id).await, 2);
}

#[tokio::test]
async fn cancelling_an_order_of_several_lines_releases_every_line_once() {
    let app = spawn_app().await;
    let kettle = app.create("Kettle", 100, 5).await;
    let toaster = app.create("Toaster", 300, 5).await;
    let order = placed_lines(&[(&kettle.id, 2), (&toaster.id, 3)]);
    app.publish(&order).await;
    assert!(settled(&app, order.order_id).await, "no outcome in time");

    let cancellation = app.publish(&cancelled_lines(&order)).await;
    app.publish_envelope(&cancellation).await;
    app.publish(&cancelled_lines(&order)).await;
    drain(&app).await;

    let released = app.emitted_for::<StockReleasedV2>(order.order_id).await;
    assert_eq!(released.len(), 1, "{released:?}");
    assert_eq!(released[0].lines.len(), 2);
    assert!(released[0].lines.iter().all(|l| l.remaining == 5));
    assert_eq!(app.stock_in_db(&kettle.id).await, 5);
    assert_eq!(app.stock_in_db(&toaster.id).await, 5);
}

#[tokio::test]
async fn placements_no_orders_service_sends_are_parked_and_reserve_nothing() {
    let app = spawn_app().await;
    let kettle = app.create("Kettle", 100, 5).await;
    let mut empty = placed_lines(&[]);
    empty.total_amount = 0;
    let twice = placed_lines(&[(&kettle.id, 1), (&kettle.id, 1)]);
    let none = placed_lines(&[(&kettle.id, 0)]);
    let too_many_ids: Vec<String> = (0..=OrderPlacedV2::MAX_LINES)
        .map(|_| Uuid::now_v7().to_string())
        .collect();
    let too_many_lines: Vec<(&str, i64)> = too_many_ids.iter().map(|id| (id.as_str(), 1)).collect();
    let too_many = placed_lines(&too_many_lines);
    let bad = [&empty, &twice, &none, &too_many];

    for order in bad {
        app.publish(order).await;
    }
    drain(&app).await;

    let parked: Vec<String> = sqlx::query_scalar("SELECT reason FROM dead_letters ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(parked.len(), bad.len(), "{parked:?}");
    assert!(parked[0].contains("has 0 lines"), "{parked:?}");
    assert!(parked[1].contains("more than one line"), "{parked:?}");
    assert!(parked[2].contains("at least 1"), "{parked:?}");
    assert!(parked[3].contains("has 101 lines"), "{parked:?}");
    assert!(app.emitted("stock.reserved").await.is_empty());
    assert!(app.emitted("stock.rejected").await.is_empty());
    assert_eq!(app.stock_in_db(&kettle.id).await, 5);
}

/// Orders of two lines naming the same two products in either order,
/// racing on two instances: the products are locked in id order whatever
/// the lines' order, so none waits on another, and none is oversold.
#[tokio::test]
async fn orders_of_several_lines_racing_on_two_instances_never_oversell_or_deadlock() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let kettle = app.create("Kettle", 100, 10).await;
    let toaster = app.create("Toaster", 300, 10).await;
    let orders: Vec<OrderPlacedV2> = (0..40)
        .map(|n| {
            if n % 2 == 0 {
                placed_lines(&[(&kettle.id, 1), (&toaster.id, 1)])
            } else {
                placed_lines(&[(&toaster.id, 1), (&kettle.id, 1)])
            }
        })
        .collect();

    join_all(orders.iter().map(|order| app.publish(order))).await;

    let all_settled = eventually(DEADLINE * 2, || async {
        app.emitted("stock.reserved").await.len() + app.emitted("stock.rejected").await.len() == 40
    })
    .await;
    assert!(all_settled, "not every order was settled in time");
    assert_eq!(app.emitted("stock.reserved").await.len(), 10);
    assert_eq!(app.stock_in_db(&kettle.id).await, 0);
    assert_eq!(app.stock_in_db(&toaster.id).await, 0);
    let reservations: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reservations, 20);
    let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(parked, 0);
    // A deadlock would only show as a retry; Postgres counts it (its
    // statistics may lag a second behind, so this may miss one, never
    // invent one).
    let deadlocks: i64 = sqlx::query_scalar(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(deadlocks, 0);
    other.stop().await.unwrap();
}
