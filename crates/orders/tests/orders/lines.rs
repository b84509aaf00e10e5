//! Orders of several lines: priced line by line, totalled with checks,
//! announced as `orders.placed` version 2, settled by version 2 answers.
//! Against the real products service, see `with_products`.

use syncchain_events::{
    Envelope,
    payloads::{
        orders::OrderPlacedV2,
        products::{
            RejectedLineV2, StockLineV2, StockRejectedV2, StockRejection, StockReservedV1,
            StockReservedV2,
        },
    },
};
use syncchain_platform::grpc::field_of;
use syncchain_proto::orders::v1::{self as proto, OrderStatus};
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{TestApp, envelope, spawn_app, spawn_app_with};

fn uuid(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap()
}

fn reserved(order: &proto::Order) -> Envelope {
    envelope(&StockReservedV2 {
        order_id: uuid(&order.id),
        lines: order
            .lines
            .iter()
            .map(|line| StockLineV2 {
                product_id: uuid(&line.product_id),
                quantity: line.quantity,
                remaining: 0,
            })
            .collect(),
    })
}

/// The refusal products sends when `line` (counted from 0) was short.
fn rejected(order: &proto::Order, line: usize) -> Envelope {
    let short = &order.lines[line];
    envelope(&StockRejectedV2 {
        order_id: uuid(&order.id),
        lines: vec![RejectedLineV2 {
            product_id: uuid(&short.product_id),
            quantity: short.quantity,
            reason: StockRejection::InsufficientStock,
            available: 1,
        }],
    })
}

async fn placed_pending(app: &TestApp, token: &str, lines: &[(&str, i64)]) -> proto::Order {
    let order = app.place_lines(token, lines, 0, None).await.unwrap();
    assert_eq!(order.status(), OrderStatus::Pending);
    order
}

#[tokio::test]
async fn an_order_of_several_lines_is_priced_per_line_and_announced_as_version_2() {
    let app = spawn_app().await;
    let (user, token) = app.customer();
    let (kettle, toaster) = (app.product(250), app.product(1000));

    let order = placed_pending(&app, &token, &[(&kettle, 2), (&toaster, 1)]).await;

    let lines: Vec<(String, i64, i64, i64)> = order
        .lines
        .iter()
        .map(|l| (l.product_id.clone(), l.quantity, l.unit_price, l.line_total))
        .collect();
    assert_eq!(
        lines,
        vec![
            (kettle.clone(), 2, 250, 500),
            (toaster.clone(), 1, 1000, 1000)
        ]
    );
    assert_eq!(order.total_amount, 1500);
    // The single-product fields are the first line's.
    assert_eq!(
        (order.product_id.as_str(), order.quantity, order.unit_price),
        (kettle.as_str(), 2, 250)
    );
    let published = app.wait_for_published("orders.placed", &order.id, 1).await;
    assert_eq!(published[0].version, 2);
    let placed: OrderPlacedV2 = published[0].decode().unwrap();
    assert_eq!(placed.user_id, user);
    assert_eq!(placed.total_amount, 1500);
    let announced: Vec<(String, i64, i64)> = placed
        .lines
        .iter()
        .map(|l| (l.product_id.to_string(), l.quantity, l.unit_price))
        .collect();
    assert_eq!(
        announced,
        vec![(kettle.clone(), 2, 250), (toaster.clone(), 1, 1000)]
    );
    let read = app.get(&token, &order.id).await.unwrap();
    assert_eq!(read.lines, order.lines);
}

#[tokio::test]
async fn a_reservation_of_every_line_confirms_and_a_refusal_names_the_short_line() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let (kettle, toaster) = (app.product(250), app.product(1000));
    let confirmed = placed_pending(&app, &token, &[(&kettle, 2), (&toaster, 1)]).await;
    let refused = placed_pending(&app, &token, &[(&kettle, 1), (&toaster, 3)]).await;

    app.publish(&reserved(&confirmed)).await;
    app.publish(&rejected(&refused, 1)).await;

    app.wait_for_status(&confirmed.id, OrderStatus::Confirmed)
        .await;
    let rejected = app
        .wait_for_status(&refused.id, OrderStatus::Rejected)
        .await;
    assert_eq!(
        rejected.rejection_reason,
        format!("insufficient stock for product {toaster}: 3 requested, 1 available")
    );
}

#[tokio::test]
async fn an_answer_that_does_not_name_the_orders_lines_changes_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let (kettle, toaster) = (app.product(250), app.product(1000));
    let order = placed_pending(&app, &token, &[(&kettle, 2), (&toaster, 1)]).await;
    let mut partial = reserved(&order);
    partial.payload["lines"].as_array_mut().unwrap().pop();
    let one_line = envelope(&StockReservedV1 {
        order_id: uuid(&order.id),
        product_id: uuid(&kettle),
        quantity: 2,
        remaining: 0,
    });

    app.publish(&partial).await;
    app.publish(&one_line).await;
    app.saga_caught_up().await;

    let read = app.get(&token, &order.id).await.unwrap();
    assert_eq!(read.status(), OrderStatus::Pending);
}

#[tokio::test]
async fn bad_lines_are_refused_naming_lines_and_nothing_is_written() {
    let app = spawn_app_with(&[
        ("SYNCCHAIN_ORDER_MAX_LINES", "3"),
        ("SYNCCHAIN_ORDER_MAX_QUANTITY", "10"),
    ])
    .await;
    let (_, token) = app.customer();
    let (a, b, c, d) = (
        app.product(100),
        app.product(100),
        app.product(100),
        app.product(100),
    );
    // Two lines as dear as these pass the `Int` range.
    let costly = app.product(i64::from(i32::MAX) / 2 + 1);
    let also_costly = app.product(i64::from(i32::MAX) / 2 + 1);
    let unknown = Uuid::now_v7().to_string();
    let cases: Vec<(Vec<(&str, i64)>, &str)> = vec![
        (
            vec![(&a, 1), (&b, 1), (&c, 1), (&d, 1)],
            "must hold at most 3 lines",
        ),
        (vec![(&a, 6), (&b, 5)], "must be at most 10 items"),
        (vec![(&a, 1), (&a, 1)], "name product"),
        (
            vec![(&a, 1), ("not-an-id", 1)],
            "has a bad line 2: productId",
        ),
        (vec![(&a, 1), (&b, 0)], "has a bad line 2: quantity"),
        (
            vec![(&a, 1), (&unknown, 1)],
            "name an unknown product on line 2",
        ),
        (
            vec![(&costly, 1), (&also_costly, 1)],
            "make the order total exceed",
        ),
    ];

    for (lines, expected) in cases {
        let status = app.place_lines(&token, &lines, 0, None).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{lines:?}: {status:?}"
        );
        assert_eq!(field_of(&status).as_deref(), Some("lines"), "{status:?}");
        assert!(
            status.message().contains(expected),
            "{lines:?}: {}",
            status.message()
        );
    }
    let both = proto::PlaceOrderRequest {
        product_id: a.clone(),
        quantity: 1,
        lines: vec![proto::OrderLineInput {
            product_id: b.clone(),
            quantity: 1,
        }],
        ..proto::PlaceOrderRequest::default()
    };
    let status = app
        .client()
        .place_order(crate::helpers::as_caller(both, &token))
        .await
        .unwrap_err();
    assert_eq!(field_of(&status).as_deref(), Some("lines"));
    assert_eq!(app.stored_orders().await, 0);
}

#[tokio::test]
async fn a_keyed_order_of_several_lines_placed_again_is_the_same_order_and_other_lines_conflict() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let (kettle, toaster) = (app.product(250), app.product(1000));
    let lines = [(kettle.as_str(), 2), (toaster.as_str(), 1)];

    let first = app
        .place_lines(&token, &lines, 0, Some("k-1"))
        .await
        .unwrap();
    let again = app
        .place_lines(&token, &lines, 0, Some("k-1"))
        .await
        .unwrap();
    let other = app
        .place_lines(&token, &[(&kettle, 2)], 0, Some("k-1"))
        .await
        .unwrap_err();

    assert_eq!(again.id, first.id);
    assert_eq!(other.code(), Code::AlreadyExists);
    assert_eq!(app.stored_orders().await, 1);
}
