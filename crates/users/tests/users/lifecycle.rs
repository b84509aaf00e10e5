use std::time::Duration;

use syncchain_proto::users::v1::VerifyCredentialsRequest;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
};

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with, unique_email};

/// The status line of a plain HTTP/1.1 GET.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn health_and_readiness_answer_on_the_grpc_port() {
    let app = spawn_app().await;

    assert!(http_get(app.addr, "/healthz").await.contains("200"));
    assert!(http_get(app.addr, "/readyz").await.contains("200"));
}

#[tokio::test]
async fn stopping_lets_requests_in_flight_finish_then_closes_the_port() {
    // One hash at a time, so several sign-ins queue up inside the service.
    let app = spawn_app_with(&[("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY", "1")]).await;
    let email = unique_email();
    app.register_email(&email).await;
    let mut calls = JoinSet::new();
    for _ in 0..4 {
        let mut client = app.client();
        let request = VerifyCredentialsRequest {
            email: email.clone(),
            password: PASSWORD.into(),
        };
        calls.spawn(async move { client.verify_credentials(request).await });
    }
    // The first answer means the others were sent and are being worked on.
    let first = calls.join_next().await.unwrap().unwrap();
    assert!(first.is_ok());

    let addr = app.addr;
    let stopped = tokio::spawn(app.stop());
    while let Some(call) = calls.join_next().await {
        assert!(call.unwrap().is_ok(), "an in-flight request was cut off");
    }

    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the service stops in time")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}
