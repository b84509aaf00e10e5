//! Sign-outs and role changes survive Redis: the users database keeps them,
//! Redis is only the gateway's fast path. Each test runs the system on a
//! private Redis it can restart empty, fill up, flush or cut off.

use std::time::Duration;

use serde_json::{Value, json};
use syncchain_testkit::{eventually, poll, proxy::TcpProxy, redis_server::RedisServer};

use crate::support::{ME, TestApp, code, unique_email};

const DEADLINE: Duration = Duration::from_secs(15);
const SIGN_OUT: &str = "mutation { signOut }";
const USERS: &str = "{ users { id } }";
const SET_ROLE: &str =
    "mutation($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { role } }";

async fn on_private_redis() -> (RedisServer, TestApp) {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn_with(&[("SYNCCHAIN_REDIS_URL", &redis.url())]).await;
    (redis, app)
}

async fn redis_of(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("the private Redis answers")
}

/// The hash the gateway keeps session state in.
fn sessions_key(app: &TestApp) -> String {
    let prefix = app
        .env
        .iter()
        .find(|(name, _)| name == "SYNCCHAIN_REDIS_PREFIX")
        .map(|(_, value)| value.clone())
        .expect("a Redis prefix");
    format!("{prefix}:sessions")
}

async fn me(app: &TestApp, token: &str) -> Value {
    app.gql(ME, json!({}), Some(token)).await
}

/// Restarts Redis with nothing in it, and waits until the gateway answers
/// signed-in requests again (`probe` is a token that stays valid).
async fn restart_empty(redis: &mut RedisServer, app: &TestApp, probe: &str) {
    redis.stop().await;
    redis.start_again().await;
    let answered = eventually(DEADLINE, || async {
        me(app, probe).await["data"]["me"]["id"].is_string()
    })
    .await;
    assert!(answered, "the gateway answers after Redis restarted");
}

async fn create_product(app: &TestApp, token: &str) -> Value {
    app.gql(
        "mutation($input: ProductInput!) { createProduct(input: $input) { id } }",
        json!({ "input": { "name": "Lamp", "price": 1000, "description": "A lamp", "quantity": 1 } }),
        Some(token),
    )
    .await
}

/// A customer promoted to admin by the start-up admin, signed in after
/// the promotion; returns (id, email, admin token).
async fn deputy(app: &TestApp) -> (String, String, String) {
    let root = app.admin_token().await;
    let email = unique_email("deputy");
    let (id, _) = app.customer(&email).await;
    let promoted = app
        .gql(SET_ROLE, json!({ "id": id, "role": "ADMIN" }), Some(&root))
        .await;
    assert_eq!(
        promoted["data"]["setUserRole"]["role"],
        json!("ADMIN"),
        "{promoted}"
    );
    let token = app.sign_in(&email).await;
    assert!(
        app.gql(USERS, json!({}), Some(&token)).await["data"]["users"].is_array(),
        "the deputy is an admin"
    );
    (id, email, token)
}

fn assert_told_to_sign_in_again(body: &Value) {
    assert_eq!(code(body), "UNAUTHENTICATED", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("sign in again"), "{body}");
}

#[tokio::test]
async fn a_signed_out_token_stays_refused_after_redis_restarts_empty() {
    let (mut redis, app) = on_private_redis().await;
    let email = unique_email("ada");
    let (_, token) = app.customer(&email).await;
    let other = app.sign_in(&email).await;
    let out = app.gql(SIGN_OUT, json!({}), Some(&token)).await;
    assert_eq!(out["data"]["signOut"], json!(true), "{out}");

    restart_empty(&mut redis, &app, &other).await;
    let after = me(&app, &token).await;

    assert_eq!(code(&after), "UNAUTHENTICATED", "{after}");
}

#[tokio::test]
async fn a_demoted_admins_old_token_stays_refused_after_redis_restarts_empty() {
    let (mut redis, app) = on_private_redis().await;
    let root = app.admin_token().await;
    let (id, _, old_token) = deputy(&app).await;
    let demoted = app
        .gql(
            SET_ROLE,
            json!({ "id": id, "role": "CUSTOMER" }),
            Some(&root),
        )
        .await;
    assert_eq!(
        demoted["data"]["setUserRole"]["role"],
        json!("CUSTOMER"),
        "{demoted}"
    );

    restart_empty(&mut redis, &app, &root).await;
    let product = create_product(&app, &old_token).await;
    let users = app.gql(USERS, json!({}), Some(&old_token)).await;

    assert_told_to_sign_in_again(&product);
    assert_told_to_sign_in_again(&users);
}

#[tokio::test]
async fn an_admin_demoted_by_the_command_cannot_use_their_old_token_after_redis_restarts_empty() {
    let (mut redis, app) = on_private_redis().await;
    let root = app.admin_token().await;
    let (_, email, old_token) = deputy(&app).await;
    let output = app.cli(&["admin", "demote", &email]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    restart_empty(&mut redis, &app, &root).await;
    let product = create_product(&app, &old_token).await;

    assert_told_to_sign_in_again(&product);
}

#[tokio::test]
async fn a_signed_out_token_stays_refused_when_redis_evicts_everything() {
    let (redis, app) = on_private_redis().await;
    let email = unique_email("ada");
    let (_, first) = app.customer(&email).await;
    let second = app.sign_in(&email).await;
    let out = app.gql(SIGN_OUT, json!({}), Some(&first)).await;
    assert_eq!(out["data"]["signOut"], json!(true), "{out}");

    let mut admin = redis_of(&redis.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory-policy", "allkeys-lru"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "1"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    let first_after = me(&app, &first).await;
    let second_out = app.gql(SIGN_OUT, json!({}), Some(&second)).await;
    let second_after = me(&app, &second).await;

    assert_eq!(code(&first_after), "UNAUTHENTICATED", "{first_after}");
    assert_eq!(second_out["data"]["signOut"], json!(true), "{second_out}");
    assert_eq!(code(&second_after), "UNAUTHENTICATED", "{second_after}");
}

#[tokio::test]
async fn signing_out_succeeds_when_redis_is_full_and_the_token_is_refused() {
    let (redis, app) = on_private_redis().await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let mut admin = redis_of(&redis.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory-policy", "noeviction"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "1"])
        .query_async(&mut admin)
        .await
        .unwrap();

    let out = app.gql(SIGN_OUT, json!({}), Some(&token)).await;
    let after = me(&app, &token).await;

    assert_eq!(out["data"]["signOut"], json!(true), "{out}");
    assert_eq!(code(&after), "UNAUTHENTICATED", "{after}");
}

#[tokio::test]
async fn signing_out_while_redis_is_down_succeeds_and_the_token_stays_refused_after() {
    let (mut redis, app) = on_private_redis().await;
    let (id, token) = app.customer(&unique_email("ada")).await;
    redis.stop().await;

    let during = me(&app, &token).await;
    let out = app.gql(SIGN_OUT, json!({}), Some(&token)).await;
    let refused_during = me(&app, &token).await;
    redis.start_again().await;
    let refused_after = me(&app, &token).await;

    assert_eq!(during["data"]["me"]["id"], json!(id), "{during}");
    assert_eq!(out["data"]["signOut"], json!(true), "{out}");
    assert_eq!(code(&refused_during), "UNAUTHENTICATED", "{refused_during}");
    assert_eq!(code(&refused_after), "UNAUTHENTICATED", "{refused_after}");
}

#[tokio::test]
async fn a_sign_out_redis_missed_is_never_honoured_when_redis_comes_back_with_old_data() {
    let redis = RedisServer::start().await;
    let port: u16 = redis
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let proxy = TcpProxy::start(([127, 0, 0, 1], port).into()).await;
    let proxied = format!("redis://127.0.0.1:{}", proxy.port());
    let app = TestApp::spawn_with(&[("SYNCCHAIN_REDIS_URL", &proxied)]).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let key = sessions_key(&app);
    let field = format!("t:{}", token_id(&token).simple());
    let direct = redis_of(&redis.url()).await;
    // A signed-in request makes the gateway fill Redis from the users service.
    let filled = poll(
        DEADLINE,
        || async {
            me(&app, &token).await;
            let loaded: bool = redis::cmd("HEXISTS")
                .arg(&key)
                .arg("loaded")
                .query_async(&mut direct.clone())
                .await
                .unwrap_or(false);
            loaded
        },
        |loaded| *loaded,
    )
    .await;
    assert!(filled, "the gateway filled its fast path");

    proxy.cut();
    let out = app.gql(SIGN_OUT, json!({}), Some(&token)).await;
    proxy.restore();
    // Redis kept its complete-looking copy, without this revocation; every
    // answer must still refuse the token until the copy has it.
    let mut answers = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let copied = loop {
        answers.push(code(&me(&app, &token).await).to_owned());
        let copied: bool = redis::cmd("HEXISTS")
            .arg(&key)
            .arg(&field)
            .query_async(&mut direct.clone())
            .await
            .unwrap_or(false);
        if copied || tokio::time::Instant::now() > deadline {
            break copied;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert_eq!(out["data"]["signOut"], json!(true), "{out}");
    assert!(copied, "the fast path was refilled with the revocation");
    assert!(
        answers.iter().all(|c| c == "UNAUTHENTICATED"),
        "{answers:?}"
    );
    assert_eq!(code(&me(&app, &token).await), "UNAUTHENTICATED");
}

/// The `jti` of a token, read without verifying (the test knows it is ours).
fn token_id(token: &str) -> uuid::Uuid {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json");
    claims["jti"]
        .as_str()
        .and_then(|j| uuid::Uuid::parse_str(j).ok())
        .expect("a jti")
}
