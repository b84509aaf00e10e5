//! What anonymous reads can make the cache hold: a bounded set of keys,
//! whatever arguments they send, and only in the cache's own Redis.

use chrono::{Duration as Age, Utc};
use syncchain_platform::paging::Cursor;
use syncchain_proto::products::v1::ListProductsRequest;
use syncchain_testkit::{eventually, redis_server::RedisServer};
use uuid::Uuid;

use crate::helpers::{DEADLINE, spawn_app_with};

/// Every key matching `pattern` in the Redis at `redis_url`, counted with
/// `SCAN` (as an operator would, without blocking the server).
async fn count_keys(redis_url: &str, pattern: &str) -> usize {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (mut cursor, mut count) = (0_u64, 0);
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        count += keys.len();
        if next == 0 {
            return count;
        }
        cursor = next;
    }
}

#[tokio::test]
async fn varied_list_arguments_and_unknown_ids_leave_a_bounded_number_of_cache_keys() {
    let redis = RedisServer::start().await;
    let app = spawn_app_with(&[("SYNCCHAIN_CACHE_REDIS_URL", &redis.url())]).await;
    let sizes = 50;

    for i in 0..200_u32 {
        let mut request = ListProductsRequest {
            first: i % sizes + 1,
            ..ListProductsRequest::default()
        };
        match i % 3 {
            0 => {
                let cursor = Cursor {
                    created_at: Utc::now() - Age::microseconds(i.into()),
                    id: Uuid::new_v4(),
                };
                request.after = cursor.encode();
            }
            1 => request.search = format!("needle {i}"),
            _ => {}
        }
        app.list(request).await;
    }
    for _ in 0..200 {
        let status = app.get(&Uuid::now_v7().to_string()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound);
    }

    // One entry per page size of the first, unfiltered page; the list
    // generation; the epoch.
    let keys = count_keys(&redis.url(), &format!("{}*", app.redis_prefix)).await;
    assert!(
        keys <= sizes as usize + 2,
        "{keys} keys after 400 anonymous reads"
    );
}

#[tokio::test]
async fn the_cache_lives_in_the_redis_named_for_it_and_nothing_lands_in_the_main_one() {
    let cache_redis = RedisServer::start().await;
    let app = spawn_app_with(&[("SYNCCHAIN_CACHE_REDIS_URL", &cache_redis.url())]).await;
    let product = app.create("Kettle", 100, 5).await;

    let cached = eventually(DEADLINE, || async {
        app.get(&product.id).await.is_ok()
            && app
                .list(ListProductsRequest::default())
                .await
                .products
                .len()
                == 1
            && count_keys(
                &cache_redis.url(),
                &format!("{}:products:v:*", app.redis_prefix),
            )
            .await
                >= 2
    })
    .await;

    assert!(cached, "nothing was cached in the cache's Redis");
    let main = syncchain_testkit::redis_url();
    assert_eq!(
        count_keys(&main, &format!("{}*", app.redis_prefix)).await,
        0,
        "the cache wrote into the main Redis"
    );
}
