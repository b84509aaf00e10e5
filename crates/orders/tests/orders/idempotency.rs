//! Placements with an idempotency key: the same caller, key and request
//! get the first placement's order back, however many arrive and whatever
//! the order's state by then; the same key with another request is refused;
//! keys are each caller's own and expire. No products service answers here,
//! so an order stays PENDING until the test settles it.

use futures::future::join_all;
use syncchain_platform::grpc::field_of;
use syncchain_proto::orders::v1::{self as proto, OrderStatus};
use tonic::{Code, Status};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A customer of `app` and a product at 100 a piece.
struct Buyer {
    app: TestApp,
    token: String,
    product: String,
}

impl Buyer {
    async fn new(extra: &[(&str, &str)]) -> Self {
        let app = spawn_app_with(extra).await;
        let (_, token) = app.customer();
        let product = app.product(100);
        Self {
            app,
            token,
            product,
        }
    }

    /// Places `quantity` of the product with `key`, waiting `wait_ms`.
    async fn place(&self, quantity: i64, wait_ms: u32, key: &str) -> Result<proto::Order, Status> {
        self.app
            .place_keyed(&self.token, &self.product, quantity, wait_ms, Some(key))
            .await
    }

    async fn keys_stored(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM placement_keys")
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn placing_again_with_the_key_returns_the_first_order_and_announces_it_once() {
    let buyer = Buyer::new(&[]).await;

    let first = buyer.place(2, 0, "buy-1").await.unwrap();
    let again = buyer.place(2, 0, "buy-1").await.unwrap();

    assert_eq!(again.id, first.id);
    assert_eq!((again.quantity, again.total_amount), (2, 200));
    assert_eq!(buyer.app.stored_orders().await, 1);
    assert_eq!(buyer.keys_stored().await, 1);
    buyer
        .app
        .wait_for_published("orders.placed", &first.id, 1)
        .await;
    assert_eq!(
        buyer.app.published("orders.placed", &first.id).await.len(),
        1
    );
}

#[tokio::test]
async fn many_placements_with_one_key_at_once_make_one_order() {
    let buyer = Buyer::new(&[]).await;

    let answers = join_all((0..12).map(|_| buyer.place(1, 0, "double-click"))).await;

    let ids: std::collections::HashSet<String> = answers
        .into_iter()
        .map(|answer| answer.expect("every placement is answered").id)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(buyer.app.stored_orders().await, 1);
}

#[tokio::test]
async fn the_key_with_another_request_is_already_exists_and_writes_nothing() {
    let buyer = Buyer::new(&[]).await;
    let other_product = buyer.app.product(100);
    buyer.place(1, 0, "k").await.unwrap();

    let more = buyer.place(2, 0, "k").await.unwrap_err();
    let elsewhere = buyer
        .app
        .place_keyed(&buyer.token, &other_product, 1, 0, Some("k"))
        .await
        .unwrap_err();

    assert_eq!(more.code(), Code::AlreadyExists, "{more:?}");
    assert_eq!(elsewhere.code(), Code::AlreadyExists, "{elsewhere:?}");
    assert_eq!(buyer.app.stored_orders().await, 1);
}

#[tokio::test]
async fn a_retry_gets_the_order_as_it_stands_now() {
    let buyer = Buyer::new(&[]).await;
    let first = buyer.place(1, 0, "k").await.unwrap();
    assert_eq!(first.status(), OrderStatus::Pending);
    buyer.app.publish(&buyer.app.reserved(&first)).await;
    buyer
        .app
        .wait_for_status(&first.id, OrderStatus::Confirmed)
        .await;

    let again = buyer.place(1, 0, "k").await.unwrap();

    assert_eq!(again.id, first.id);
    assert_eq!(again.status(), OrderStatus::Confirmed);
}

#[tokio::test]
async fn a_retry_waits_for_the_outcome_like_a_first_placement() {
    let buyer = Buyer::new(&[]).await;
    let first = buyer.place(1, 0, "k").await.unwrap();

    // Retries race the answer: those that read the order before it arrives
    // wait for it (each listens before it reads, so no change falls
    // between), the others find it settled. Either way, CONFIRMED.
    let (retries, ()) = tokio::join!(
        join_all((0..8).map(|_| buyer.place(1, 10_000, "k"))),
        async { buyer.app.publish(&buyer.app.reserved(&first)).await },
    );

    for again in retries {
        let again = again.unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(again.status(), OrderStatus::Confirmed);
    }
}

#[tokio::test]
async fn one_key_sent_at_once_with_two_requests_makes_one_order_and_one_conflict() {
    let buyer = Buyer::new(&[]).await;

    let (one, two) = tokio::join!(buyer.place(1, 0, "k"), buyer.place(2, 0, "k"));

    let outcomes = [&one, &two];
    let placed = outcomes.iter().filter(|o| o.is_ok()).count();
    let conflicts = outcomes
        .iter()
        .filter(|o| matches!(o, Err(s) if s.code() == Code::AlreadyExists))
        .count();
    assert_eq!((placed, conflicts), (1, 1), "{one:?} {two:?}");
    assert_eq!(buyer.app.stored_orders().await, 1);
    assert_eq!(buyer.keys_stored().await, 1);
}

#[tokio::test]
async fn a_retry_is_answered_even_at_the_pending_cap() {
    let buyer = Buyer::new(&[("SYNCCHAIN_ORDER_MAX_PENDING_PER_CUSTOMER", "1")]).await;
    let first = buyer.place(1, 0, "k").await.unwrap();

    let again = buyer.place(1, 0, "k").await.unwrap();
    let new = buyer.place(1, 0, "k2").await.unwrap_err();

    assert_eq!(again.id, first.id);
    assert_eq!(new.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn keys_are_each_callers_own_and_without_a_key_each_placement_is_new() {
    let app = spawn_app().await;
    let (_, alice) = app.customer();
    let (_, bob) = app.customer();
    let product = app.product(100);

    let hers = app.place_keyed(&alice, &product, 1, 0, Some("same")).await;
    let his = app.place_keyed(&bob, &product, 1, 0, Some("same")).await;
    let plain = app.place(&alice, &product, 1, 0).await.unwrap();
    let plain_again = app.place(&alice, &product, 1, 0).await.unwrap();

    let (hers, his) = (hers.unwrap(), his.unwrap());
    assert_ne!(hers.id, his.id);
    assert_ne!(hers.user_id, his.user_id);
    assert_ne!(plain.id, plain_again.id);
    assert_eq!(app.stored_orders().await, 4);
}

#[tokio::test]
async fn an_expired_key_places_a_new_order_and_is_taken_over() {
    let buyer = Buyer::new(&[]).await;
    let first = buyer.place(1, 0, "old").await.unwrap();
    sqlx::query("UPDATE placement_keys SET created_at = now() - interval '25 hours'")
        .execute(&buyer.app.pool)
        .await
        .unwrap();

    // Expired, it no longer answers, and any request may take it over.
    let second = buyer.place(3, 0, "old").await.unwrap();
    let again = buyer.place(3, 0, "old").await.unwrap();

    assert_ne!(second.id, first.id);
    assert_eq!(again.id, second.id);
    assert_eq!(buyer.keys_stored().await, 1);
}

#[tokio::test]
async fn a_bad_key_is_refused_naming_the_field_and_nothing_is_written() {
    let buyer = Buyer::new(&[]).await;

    for key in [String::new(), "k".repeat(256), "tab\tinside".into()] {
        let status = buyer.place(1, 0, &key).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{key:?}");
        assert_eq!(field_of(&status).as_deref(), Some("idempotencyKey"));
    }
    assert_eq!(buyer.app.stored_orders().await, 0);
}
