//! The products database away: callers hear UNAVAILABLE (try again
//! shortly), never an internal error or the cause, and the service
//! recovers on its own when the database is back.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use syncchain_products::config::DATABASE_URL_VAR;
use syncchain_testkit::{eventually, proxy::TcpProxy};
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{DEADLINE, spawn_app_with};

/// A fresh database reached through a proxy the test can cut; its URL.
async fn database_behind_a_proxy() -> (TcpProxy, String) {
    let (_, url) = syncchain_testkit::db::fresh_database().await;
    let options = PgConnectOptions::from_str(&url).unwrap();
    let server = format!("{}:{}", options.get_host(), options.get_port());
    let target = tokio::net::lookup_host(&server)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = TcpProxy::start(target).await;
    let proxied = url.replacen(&server, &format!("127.0.0.1:{}", proxy.port()), 1);
    assert_ne!(proxied, url, "the test database URL names no host:port");
    (proxy, proxied)
}

#[tokio::test]
async fn with_its_database_away_a_read_is_unavailable_and_then_recovers() {
    let (proxy, url) = database_behind_a_proxy().await;
    let app = spawn_app_with(&[(DATABASE_URL_VAR, url.as_str())]).await;
    let missing = Uuid::new_v4().to_string();

    proxy.cut();
    let away = app.get(&missing).await.unwrap_err();
    proxy.restore();

    assert_eq!(away.code(), Code::Unavailable, "{away:?}");
    assert_eq!(
        away.message(),
        "the products database is temporarily unavailable; try again shortly"
    );
    let recovered = eventually(DEADLINE, || async {
        app.get(&missing)
            .await
            .is_err_and(|status| status.code() == Code::NotFound)
    })
    .await;
    assert!(recovered, "the service did not recover");
}
