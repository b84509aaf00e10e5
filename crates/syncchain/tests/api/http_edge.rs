//! The HTTP edge sheds clients that hold sockets without using them, caps
//! open connections, and keeps the operational endpoints off the public
//! port. Raw TCP here, because well-behaved HTTP clients cannot misbehave.

use std::time::Duration;

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use crate::support::{TestApp, code};

async fn open(app: &TestApp) -> TcpStream {
    let address = app.base_url.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connected")
}

/// Reads until the server closes the socket; what it sent, or `None` if it
/// was still open at `within`.
async fn read_until_closed(socket: &mut TcpStream, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn a_socket_that_sends_half_a_header_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_HTTP_HEADER_TIMEOUT", "1s")]).await;
    let mut socket = open(&app).await;

    socket
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: applic")
        .await
        .expect("written");
    let closed = read_until_closed(&mut socket, Duration::from_secs(10)).await;

    assert!(closed.is_some(), "the socket was still open after 10 s");
}

#[tokio::test]
async fn a_socket_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_HTTP_HEADER_TIMEOUT", "1s")]).await;
    let mut socket = open(&app).await;

    let closed = read_until_closed(&mut socket, Duration::from_secs(10)).await;

    assert!(closed.is_some(), "the socket was still open after 10 s");
}

#[tokio::test]
async fn a_body_with_broken_framing_is_bad_input_not_too_large() {
    let app = TestApp::spawn().await;
    let mut socket = open(&app).await;
    // A chunk size that is not hexadecimal.
    socket
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        )
        .await
        .expect("written");
    let answer = read_until_closed(&mut socket, Duration::from_secs(10))
        .await
        .expect("answered and closed");

    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("BAD_USER_INPUT"), "{answer}");
    assert!(answer.contains("could not be read"), "{answer}");
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_with_a_coded_timeout_error() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_HTTP_BODY_TIMEOUT", "1s")]).await;
    let mut socket = open(&app).await;
    socket
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .await
        .expect("written");
    let (mut reader, mut writer) = socket.into_split();
    let trickle = tokio::spawn(async move {
        // One byte every 200 ms: 1000 bytes would take over three minutes.
        while writer.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut answer)).await;
    trickle.abort();

    assert!(read.is_ok(), "no answer within 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    assert_eq!(code(&body), "BAD_USER_INPUT", "{answer}");
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_clients_are_served_once_slow_ones_are_shed() {
    let app = TestApp::spawn_with(&[
        ("SYNCCHAIN_HTTP_MAX_CONNECTIONS", "4"),
        ("SYNCCHAIN_HTTP_HEADER_TIMEOUT", "3s"),
    ])
    .await;
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut socket = open(&app).await;
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .expect("written");
        slow.push(socket);
    }
    // The server has accepted them once it answers on them; one complete
    // request on the last proves all four hold their slots.
    slow[3]
        .write_all(b"Host: gateway\r\n\r\n")
        .await
        .expect("written");
    let mut buffer = [0_u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), slow[3].read(&mut buffer))
        .await
        .expect("answered")
        .expect("read");
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));

    let mut over = open(&app).await;
    let started = Instant::now();
    let refused = read_until_closed(&mut over, Duration::from_secs(10)).await;

    assert_eq!(
        refused.as_deref(),
        Some(""),
        "the fifth connection is closed unanswered"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once, not after the header timeout: {:?}",
        started.elapsed()
    );
    let served = syncchain_testkit::eventually(Duration::from_secs(15), || async {
        let sent = app
            .http
            .post(&app.graphql_url)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await;
        matches!(sent, Ok(response) if response.status().is_success())
    })
    .await;
    assert!(
        served,
        "a normal client was not served once the slow ones were shed"
    );
}

#[tokio::test]
async fn operational_endpoints_answer_on_the_admin_port_only() {
    let app = TestApp::spawn().await;
    let get = |url: String| async move {
        reqwest::get(url)
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };

    for path in ["/readyz", "/metrics"] {
        assert_eq!(
            get(format!("{}{path}", app.base_url)).await,
            404,
            "{path} public"
        );
        assert_eq!(
            get(format!("{}{path}", app.admin_url)).await,
            200,
            "{path} admin"
        );
    }
    assert_eq!(get(format!("{}/healthz", app.base_url)).await, 200);
}
