//! A malformed message on an events subject is parked with its reason and
//! the services keep serving.

use std::time::Duration;

use crate::support::{Options, System};

#[tokio::test]
async fn malformed_events_are_parked_and_orders_still_flow() {
    let system = System::start(Options::default()).await;
    let admin = system.admin_token().await;
    let product = system.product(&admin, "Nut", 100, 5).await;
    let tokens = system.customers(1).await;
    let jetstream = syncchain_testkit::jetstream(&syncchain_testkit::nats_url()).await;
    let ns = &system.namespace;

    for (subject, payload) in [
        (format!("{ns}.orders.placed"), "this is not json"),
        (
            format!("{ns}.stock.reserved"),
            "{\"type\":\"stock.reserved\",\"version\":1}",
        ),
    ] {
        jetstream
            .publish(subject, payload.as_bytes().to_vec().into())
            .await
            .expect("published")
            .await
            .expect("stored");
    }

    let parked = |url: String| async move {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        syncchain_testkit::eventually(Duration::from_secs(20), || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM dead_letters WHERE reason <> ''")
                .fetch_one(&pool)
                .await
                .unwrap_or(0)
                >= 1
        })
        .await
    };
    assert!(
        parked(system.products_database_url.clone()).await,
        "products parked nothing"
    );
    assert!(
        parked(system.orders_database_url.clone()).await,
        "orders parked nothing"
    );

    let placed = system.place_order(&tokens[0], &product, 2).await;
    let id = placed["data"]["placeOrder"]["id"]
        .as_str()
        .expect("placed")
        .to_owned();
    let confirmed = syncchain_testkit::eventually(Duration::from_secs(20), || async {
        let body = system
            .gql(
                "query($id: ID!) { order(id: $id) { status } }",
                serde_json::json!({ "id": id }),
                Some(&tokens[0]),
            )
            .await;
        body["data"]["order"]["status"] == serde_json::json!("CONFIRMED")
    })
    .await;
    assert!(confirmed);
    assert_eq!(system.stock(&product).await, 3);
}
