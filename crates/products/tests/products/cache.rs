//! The read cache: fresh after every change, in use when Redis is there,
//! out of the way when it is not.

use syncchain_events::{payloads::products::StockReservedV1, streams};
use syncchain_products::cache::invalidation;
use syncchain_proto::products::v1::{GetProductRequest, ListProductsRequest, UpdateProductRequest};
use syncchain_testkit::{eventually, process::spare_port, redis_server::RedisServer};
use uuid::Uuid;

use crate::helpers::{DEADLINE, TestApp, as_caller, placed, spawn_app, spawn_app_with};

/// The cached entries (not the generations) under the app's prefix.
async fn cached_entries(app: &TestApp, redis_url: &str) -> usize {
    let Ok(client) = redis::Client::open(redis_url) else {
        return 0;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return 0;
    };
    let pattern = format!("{}:products:v:*", app.redis_prefix);
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async::<Vec<String>>(&mut conn)
        .await
        .map_or(0, |keys| keys.len())
}

/// Renames a product behind the service's back: no event, no invalidation.
async fn rename_in_db(app: &TestApp, id: &str, name: &str) {
    sqlx::query("UPDATE products SET name = $2 WHERE id = $1")
        .bind(Uuid::parse_str(id).unwrap())
        .bind(name)
        .execute(&app.pool)
        .await
        .unwrap();
}

/// Waits until the cache consumer has handled every event about `id`
/// published so far, so that no late invalidation races the test.
async fn until_invalidated(app: &TestApp, id: &str) -> bool {
    let published = eventually(DEADLINE, || async {
        let mut events = app.emitted("products.created").await;
        events.extend(app.emitted("products.updated").await);
        events.iter().any(|e| e.payload["product_id"] == id)
    })
    .await;
    published
        && app
            .consumer_settled(streams::PRODUCTS, invalidation::CONSUMER)
            .await
}

/// Reads the product until the cache has an entry for it.
async fn until_cached(app: &TestApp, id: &str, redis_url: &str) -> bool {
    eventually(DEADLINE, || async {
        app.get(id).await.is_ok() && cached_entries(app, redis_url).await > 0
    })
    .await
}

#[tokio::test]
async fn reads_are_served_from_the_cache_until_an_event_invalidates_them() {
    let app = spawn_app().await;
    let redis = syncchain_testkit::redis_url();
    let product = app.create("Kettle", 100, 5).await;
    assert!(
        until_invalidated(&app, &product.id).await,
        "products.created not handled"
    );
    assert!(
        until_cached(&app, &product.id, &redis).await,
        "nothing was cached"
    );

    rename_in_db(&app, &product.id, "Renamed quietly").await;
    let cached = app.get(&product.id).await.unwrap();
    let order = placed(&product.id, 2);
    app.publish(&order).await;

    assert_eq!(
        cached.name, "Kettle",
        "the second read did not come from the cache"
    );
    let fresh = eventually(DEADLINE, || async {
        app.get(&product.id)
            .await
            .is_ok_and(|p| p.name == "Renamed quietly" && p.stock == 3)
    })
    .await;
    assert!(
        fresh,
        "the reservation did not invalidate the cached product"
    );
    assert!(
        !app.emitted_for::<StockReservedV1>(order.order_id)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_read_right_after_an_edit_or_a_restock_shows_the_new_value() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 100, 5).await;
    let list = ListProductsRequest::default();
    assert_eq!(app.get(&product.id).await.unwrap().stock, 5);
    assert_eq!(app.list(list.clone()).await.products[0].stock, 5);

    app.restock(&product.id, 3).await.unwrap();
    let after_restock = app.get(&product.id).await.unwrap();
    let listed_after_restock = app.list(list.clone()).await;
    app.client()
        .update_product(as_caller(
            UpdateProductRequest {
                id: product.id.clone(),
                name: Some("Steel Kettle".into()),
                ..Default::default()
            },
            &app.admin(),
        ))
        .await
        .unwrap();
    let after_edit = app.get(&product.id).await.unwrap();
    let listed_after_edit = app.list(list).await;

    assert_eq!(after_restock.stock, 8);
    assert_eq!(listed_after_restock.products[0].stock, 8);
    assert_eq!(after_edit.name, "Steel Kettle");
    assert_eq!(listed_after_edit.products[0].name, "Steel Kettle");
}

#[tokio::test]
async fn a_new_product_appears_in_a_cached_list_at_once() {
    let app = spawn_app().await;
    app.create("First", 100, 1).await;
    assert_eq!(
        app.list(ListProductsRequest::default())
            .await
            .products
            .len(),
        1
    );

    app.create("Second", 100, 1).await;

    assert_eq!(
        app.list(ListProductsRequest::default())
            .await
            .products
            .len(),
        2
    );
}

#[tokio::test]
async fn the_service_starts_and_serves_without_redis() {
    let unreachable = format!("redis://127.0.0.1:{}", spare_port());
    let app = spawn_app_with(&[("SYNCCHAIN_REDIS_URL", &unreachable)]).await;

    let product = app.create("Kettle", 100, 5).await;
    let restocked = app.restock(&product.id, 1).await.unwrap();

    assert_eq!(app.get(&product.id).await.unwrap(), restocked);
    let ready = reqwest::get(format!("http://{}/readyz", app.addr))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["redis"], "down");
}

#[tokio::test]
async fn reads_and_writes_carry_on_while_redis_is_down_and_caching_resumes_after() {
    let mut redis = RedisServer::start().await;
    let url = redis.url();
    let app = spawn_app_with(&[("SYNCCHAIN_REDIS_URL", &url)]).await;
    let product = app.create("Kettle", 100, 5).await;
    assert!(
        until_cached(&app, &product.id, &url).await,
        "nothing was cached"
    );

    redis.stop().await;
    let while_down = app.get(&product.id).await.unwrap();
    let restocked = app.restock(&product.id, 4).await.unwrap();
    let after_restock = app.get(&product.id).await.unwrap();
    let listed = app.list(ListProductsRequest::default()).await;

    assert_eq!(while_down.stock, 5);
    assert_eq!(restocked.stock, 9);
    assert_eq!(after_restock.stock, 9);
    assert_eq!(listed.products[0].stock, 9);

    redis.start_again().await;
    assert!(
        until_cached(&app, &product.id, &url).await,
        "caching did not resume once Redis was back"
    );
    assert_eq!(app.get(&product.id).await.unwrap().stock, 9);
    let ready = reqwest::get(format!("http://{}/readyz", app.addr))
        .await
        .unwrap();
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["redis"], "up");
}

#[tokio::test]
async fn a_fresh_read_comes_from_the_database_and_leaves_the_cache_alone() {
    let app = spawn_app().await;
    let redis = syncchain_testkit::redis_url();
    let product = app.create("Kettle", 100, 5).await;
    // The creation's own invalidation has passed before the cache fills.
    assert!(until_invalidated(&app, &product.id).await);
    assert!(until_cached(&app, &product.id, &redis).await);
    let first_page = ListProductsRequest {
        first: 5,
        ..Default::default()
    };
    app.list(first_page.clone()).await;

    rename_in_db(&app, &product.id, "Renamed quietly").await;
    let fresh_request = GetProductRequest {
        id: product.id.clone(),
        fresh: true,
    };
    let fresh = app
        .client()
        .get_product(fresh_request)
        .await
        .unwrap()
        .into_inner();
    let fresh_page = app
        .list(ListProductsRequest {
            fresh: true,
            ..first_page.clone()
        })
        .await;
    let cached = app.get(&product.id).await.unwrap();
    let cached_page = app.list(first_page).await;

    assert_eq!(fresh.name, "Renamed quietly");
    assert_eq!(fresh_page.products[0].name, "Renamed quietly");
    // The cache still holds what it held: a fresh read neither read nor
    // replaced it.
    assert_eq!(cached.name, "Kettle");
    assert_eq!(cached_page.products[0].name, "Kettle");
}
