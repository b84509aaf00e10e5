//! Orders whose saga answer never came are announced again: a PENDING
//! order unchanged for longer than `SYNCCHAIN_ORDER_RESEND_AFTER` gets a
//! fresh `orders.placed`. The sweep itself is driven directly on a migrated
//! database (no service running, so nothing else touches the outbox), and
//! end to end through the running service.

use std::time::Duration;

use futures::future::join;
use sqlx::PgPool;
use syncchain_events::payloads::orders::{OrderPlacedV1, OrderPlacedV2};
use syncchain_orders::resend::Resender;
use syncchain_platform::shutdown::Shutdown;
use syncchain_proto::orders::v1::OrderStatus;
use uuid::Uuid;

use crate::helpers::spawn_app_with;

const RESEND_AFTER: Duration = Duration::from_secs(60);

async fn migrated_database() -> PgPool {
    let (pool, _) = syncchain_testkit::db::fresh_database().await;
    syncchain_host::database::migrate::<syncchain_orders::OrdersDatabase>(&pool)
        .await
        .unwrap();
    pool
}

/// An order of 2 × 250 in `status`, last changed `age_secs` ago; its id.
async fn insert_order(pool: &PgPool, status: &str, age_secs: i64) -> Uuid {
    let id = Uuid::now_v7();
    let reason = (status == "REJECTED").then_some("unknown product");
    sqlx::query(
        "INSERT INTO orders (id, user_id, product_id, quantity, unit_price, total_amount,
                             status, rejection_reason, created_at, updated_at)
         VALUES ($1, $2, $3, 2, 250, 500, $4, $5,
                 now() - $6 * interval '1 second', now() - $6 * interval '1 second')",
    )
    .bind(id)
    .bind(Uuid::new_v4())
    .bind(Uuid::new_v4())
    .bind(status)
    .bind(reason)
    .bind(age_secs)
    .execute(pool)
    .await
    .unwrap();
    id
}

/// The `orders.placed` events waiting in the outbox.
async fn enqueued_placements(pool: &PgPool) -> Vec<(Uuid, OrderPlacedV1)> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT event_id, envelope::text FROM outbox WHERE event_type = 'orders.placed' ORDER BY seq",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, json)| {
            let envelope = syncchain_events::Envelope::from_json(json.as_bytes()).unwrap();
            (id, envelope.decode().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn only_orders_pending_for_longer_than_the_delay_are_announced_again() {
    let pool = migrated_database().await;
    let stale = insert_order(&pool, "PENDING", 3600).await;
    insert_order(&pool, "PENDING", 1).await;
    for status in ["CONFIRMED", "REJECTED", "CANCELLED"] {
        insert_order(&pool, status, 3600).await;
    }
    let resender = Resender::new(pool.clone(), RESEND_AFTER);

    let sent = resender.sweep(&Shutdown::new()).await.unwrap();

    assert_eq!(sent, 1);
    let placements = enqueued_placements(&pool).await;
    assert_eq!(placements.len(), 1);
    let placed = &placements[0].1;
    assert_eq!(placed.order_id, stale);
    assert_eq!(
        (placed.quantity, placed.unit_price, placed.total_amount),
        (2, 250, 500)
    );
}

#[tokio::test]
async fn an_order_of_several_lines_is_announced_again_with_every_line_as_version_2() {
    let pool = migrated_database().await;
    let stale = insert_order(&pool, "PENDING", 3600).await;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    // Its first line in its columns is 2 x 250; the second line 1 x 700.
    sqlx::query("UPDATE orders SET product_id = $2, total_amount = 1200 WHERE id = $1;")
        .bind(stale)
        .bind(first)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO order_lines (order_id, position, product_id, quantity, unit_price)
         VALUES ($1, 1, $2, 2, 250), ($1, 2, $3, 1, 700)",
    )
    .bind(stale)
    .bind(first)
    .bind(second)
    .execute(&pool)
    .await
    .unwrap();
    let resender = Resender::new(pool.clone(), RESEND_AFTER);

    assert_eq!(resender.sweep(&Shutdown::new()).await.unwrap(), 1);

    let json: String =
        sqlx::query_scalar("SELECT envelope::text FROM outbox WHERE event_type = 'orders.placed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let envelope = syncchain_events::Envelope::from_json(json.as_bytes()).unwrap();
    let placed: OrderPlacedV2 = envelope.decode().unwrap();
    let lines: Vec<(Uuid, i64, i64)> = placed
        .lines
        .iter()
        .map(|l| (l.product_id, l.quantity, l.unit_price))
        .collect();
    assert_eq!(lines, vec![(first, 2, 250), (second, 1, 700)]);
    assert_eq!(placed.total_amount, 1200);
}

#[tokio::test]
async fn an_order_announced_again_waits_a_full_delay_before_the_next_time() {
    let pool = migrated_database().await;
    insert_order(&pool, "PENDING", 3600).await;
    let resender = Resender::new(pool.clone(), RESEND_AFTER);

    let first = resender.sweep(&Shutdown::new()).await.unwrap();
    let second = resender.sweep(&Shutdown::new()).await.unwrap();

    assert_eq!((first, second), (1, 0));
}

#[tokio::test]
async fn sweeps_of_several_instances_at_once_announce_each_order_once() {
    let pool = migrated_database().await;
    for _ in 0..150 {
        insert_order(&pool, "PENDING", 3600).await;
    }
    let one = Resender::new(pool.clone(), RESEND_AFTER);
    let other = Resender::new(pool.clone(), RESEND_AFTER);
    let stop = Shutdown::new();

    let (a, b) = join(one.sweep(&stop), other.sweep(&stop)).await;

    assert_eq!(a.unwrap() + b.unwrap(), 150);
    let placements = enqueued_placements(&pool).await;
    let mut orders: Vec<Uuid> = placements.iter().map(|(_, p)| p.order_id).collect();
    orders.sort();
    orders.dedup();
    assert_eq!((placements.len(), orders.len()), (150, 150));
}

#[tokio::test]
async fn a_pending_order_whose_answer_never_came_is_placed_again_and_then_settles() {
    let app = spawn_app_with(&[("SYNCCHAIN_ORDER_RESEND_AFTER", "200ms")]).await;
    let (_, token) = app.customer();
    let order = app.pending_order(&token, 2).await;

    let placed = app.wait_for_published("orders.placed", &order.id, 2).await;
    app.publish(&app.reserved(&order)).await;

    assert_ne!(placed[0].id, placed[1].id, "each placement is a new event");
    assert_eq!(placed[0].payload, placed[1].payload);
    app.wait_for_status(&order.id, OrderStatus::Confirmed).await;
}
