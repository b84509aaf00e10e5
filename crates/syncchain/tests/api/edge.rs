//! The GraphQL edge refuses what would cost too much, or what a browser
//! could send on a victim's behalf, before anything runs.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::support::{ME, PASSWORD, REGISTER, SIGN_IN, TestApp, code, registration, unique_email};

/// F1 selects a field; each next fragment spreads the one before four
/// times: 611 bytes that expand to a million fields.
pub fn fragment_bomb(operation: &str, on: &str, levels: usize) -> String {
    let mut query =
        format!("{operation} {{ ...F{levels} }}\nfragment F1 on {on} {{ __typename }}\n");
    for level in 2..=levels {
        let below = level - 1;
        query.push_str(&format!(
            "fragment F{level} on {on} {{ ...F{below} ...F{below} ...F{below} ...F{below} }}\n"
        ));
    }
    query
}

fn refused(body: &Value) {
    assert_eq!(code(body), "BAD_USER_INPUT", "{body}");
    assert!(body["data"].is_null(), "nothing ran: {body}");
}

async fn still_serves(app: &TestApp) {
    let trivial = app.gql("{ __typename }", json!({}), None).await;
    assert_eq!(trivial["data"]["__typename"], "Query", "{trivial}");
    let (_, token) = app.customer(&unique_email("after")).await;
    let me = app.gql(ME, json!({}), Some(&token)).await;
    assert!(me["data"]["me"]["id"].is_string(), "{me}");
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_and_the_system_keeps_serving() {
    let app = TestApp::spawn().await;
    let bomb = fragment_bomb("query", "Query", 11);

    let (first, second) = tokio::join!(
        app.gql(&bomb, json!({}), None),
        app.gql(&bomb, json!({}), None)
    );

    refused(&first);
    refused(&second);
    let message = first["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("too large"), "{first}");
    still_serves(&app).await;
}

#[tokio::test]
async fn a_fragment_bomb_on_a_websocket_is_refused() {
    let app = TestApp::spawn().await;
    let url = app.graphql_url.replace("http://", "ws://");
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connected");
    let mut send = async |message: Value| {
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("sent");
    };
    send(json!({ "type": "connection_init", "payload": {} })).await;
    let bomb = fragment_bomb("subscription", "Subscription", 11);
    send(json!({ "id": "1", "type": "subscribe", "payload": { "query": bomb } })).await;

    let mut error = Value::Null;
    while error.is_null() {
        let message = tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .expect("an answer in time")
            .expect("socket open")
            .expect("message");
        let Message::Text(text) = message else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).expect("json");
        error = match message["type"].as_str() {
            Some("error") => message["payload"][0].clone(),
            Some("next") => message["payload"]["errors"][0].clone(),
            _ => Value::Null,
        };
    }

    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    still_serves(&app).await;
}

#[tokio::test]
async fn thirty_full_pages_of_products_in_one_query_are_refused() {
    let app = TestApp::spawn().await;
    let aliases: String = (0..30)
        .map(|i| format!("p{i}: products(first: 100) {{ id }} "))
        .collect();

    let body = app.gql(&format!("{{ {aliases} }}"), json!({}), None).await;

    refused(&body);
    let one_page = app
        .gql("{ products(first: 100) { id } }", json!({}), None)
        .await;
    assert!(one_page["data"]["products"].is_array(), "{one_page}");
}

#[tokio::test]
async fn two_sign_ins_in_one_request_are_refused_before_either_runs() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT", "1")]).await;
    let email = unique_email("twice");
    app.register(&email).await;
    let twice = "query($e: String!) { a: signin(input: { email: $e, password: \"wrong one\" }) { token } b: signin(input: { email: $e, password: \"wrong two\" }) { token } }";

    let body = app.gql(twice, json!({ "e": email }), None).await;

    refused(&body);
    // Neither wrong password was tried: the one failure this account may
    // have is still there, so the right password works.
    let token = app.sign_in(&email).await;
    assert!(!token.is_empty());
}

#[tokio::test]
async fn many_registrations_in_one_request_are_refused() {
    let app = TestApp::spawn().await;
    let email = unique_email("bulk");
    let aliases: String = (0..3)
        .map(|i| format!("r{i}: registerUser(input: $input) {{ id }} "))
        .collect();

    let body = app
        .gql(
            &format!("mutation($input: RegisterInput!) {{ {aliases} }}"),
            json!({ "input": registration(&email) }),
            None,
        )
        .await;

    refused(&body);
    let once = app.register(&email).await;
    assert!(
        once["data"]["registerUser"]["id"].is_string(),
        "not registered before: {once}"
    );
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let email = unique_email("csrf");
    let body = json!({ "query": REGISTER, "variables": { "input": registration(&email) } });

    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let response = app
            .http
            .post(&app.graphql_url)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 415, "{content_type}");
        let answer: Value = response.json().await.expect("a JSON error");
        assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    }

    let sign_in = app
        .gql(
            "query($e: String!, $p: String!) { signin(input: { email: $e, password: $p }) { token } }",
            json!({ "e": email, "p": PASSWORD }),
            None,
        )
        .await;
    assert_eq!(code(&sign_in), "UNAUTHENTICATED", "{sign_in}");
    let registered = app.register(&email).await;
    assert!(
        registered["data"]["registerUser"]["id"].is_string(),
        "{registered}"
    );
}

#[tokio::test]
async fn json_with_a_charset_is_accepted() {
    let app = TestApp::spawn().await;

    let response = app
        .http
        .post(&app.graphql_url)
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .expect("sent");

    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}

#[tokio::test]
async fn a_misspelled_field_gets_no_suggestion_in_production() {
    let app = TestApp::spawn().await;

    let body = app.gql("{ prodcts { id } }", json!({}), None).await;

    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(!body.to_string().contains("Did you mean"), "{body}");
    assert!(!body.to_string().contains("products"), "{body}");
}

/// Posts a body as it is, without building it as a `serde_json::Value`
/// (a value nested 100,000 deep would overflow this test's own stack).
async fn post_text(app: &TestApp, body: String) -> (u16, Value) {
    let response = app
        .http
        .post(&app.graphql_url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body read");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn documents_and_variables_of_extreme_shape_are_refused_without_harm() {
    let app = TestApp::spawn().await;
    let deep = 100_000;
    let nested_variables = format!(
        r#"{{"query":"{{ __typename }}","variables":{{"x":{}{}}}}}"#,
        "[".repeat(deep),
        "]".repeat(deep)
    );
    let (status, body) = post_text(&app, nested_variables).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    let shapes = [
        // Brackets nested in an argument, deeper than any parser should go.
        format!(
            "{{ products(search: {}{}) {{ id }} }}",
            "[".repeat(deep / 2),
            "]".repeat(deep / 2)
        ),
        // A thousand operations in one document.
        (0..1000)
            .map(|i| format!("query q{i} {{ __typename }} "))
            .collect(),
        // Two thousand directives on one field.
        format!("{{ __typename {}}}", "@skip(if: false) ".repeat(2000)),
    ];
    for query in shapes {
        let body = app.gql(&query, json!({}), None).await;
        refused(&body);
    }
    still_serves(&app).await;
}

#[tokio::test]
async fn a_900_kib_password_is_bad_input_on_registration_and_fails_on_sign_in() {
    let app = TestApp::spawn().await;
    let huge = "p".repeat(900_000);

    let mut input = registration(&unique_email("huge"));
    input["password"] = json!(huge);
    let registered = app.gql(REGISTER, json!({ "input": input }), None).await;
    assert_eq!(code(&registered), "BAD_USER_INPUT", "{registered}");
    assert_eq!(
        registered["errors"][0]["extensions"]["field"], "password",
        "{registered}"
    );

    let signed_in = app
        .gql(
            SIGN_IN,
            json!({ "input": { "email": unique_email("nobody"), "password": huge } }),
            None,
        )
        .await;
    assert_eq!(code(&signed_in), "UNAUTHENTICATED", "{signed_in}");

    still_serves(&app).await;
}
