use serde_json::json;

use crate::support::{ME, TestApp, code, unique_email};

#[tokio::test]
async fn repeated_failed_sign_ins_become_rate_limited() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT", "3")]).await;
    let email = unique_email("target");
    app.register(&email).await;
    let sign_in = "mutation($input: SigninInput!) { signIn(input: $input) { token } }";
    let wrong = json!({ "input": { "email": email, "password": "wrong password" } });

    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(code(&app.gql(sign_in, wrong.clone(), None).await).to_owned());
    }
    let right = app
        .gql(
            sign_in,
            json!({ "input": { "email": email, "password": crate::support::PASSWORD } }),
            None,
        )
        .await;

    assert_eq!(codes[..3], ["UNAUTHENTICATED"; 3], "{codes:?}");
    assert_eq!(codes[3..], ["RATE_LIMITED"; 2], "{codes:?}");
    assert_eq!(
        code(&right),
        "RATE_LIMITED",
        "even the right password waits: {right}"
    );
}

#[tokio::test]
async fn too_many_attempts_from_one_address_become_rate_limited() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_SIGNIN_MAX_PER_ADDRESS", "4")]).await;
    let sign_in = "mutation($input: SigninInput!) { signIn(input: $input) { token } }";

    let mut codes = Vec::new();
    for _ in 0..6 {
        let input = json!({ "input": { "email": unique_email("spray"), "password": "whatever1" } });
        codes.push(code(&app.gql(sign_in, input, None).await).to_owned());
    }

    assert_eq!(codes[..4], ["UNAUTHENTICATED"; 4], "{codes:?}");
    assert_eq!(codes[4..], ["RATE_LIMITED"; 2], "{codes:?}");
}

async fn still_serves(app: &TestApp) {
    let (_, token) = app.customer(&unique_email("after")).await;
    let me = app.gql(ME, json!({}), Some(&token)).await;
    assert!(me["data"]["me"]["id"].is_string(), "{me}");
}

#[tokio::test]
async fn an_overly_deep_query_is_refused_without_harm() {
    let app = TestApp::spawn().await;
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(30),
        "}".repeat(30)
    );

    let body = app.gql(&deep, json!({}), None).await;

    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["data"].is_null(), "{body}");
    still_serves(&app).await;
}

#[tokio::test]
async fn a_query_with_three_thousand_aliases_is_refused_without_harm() {
    let app = TestApp::spawn().await;
    let aliases: String = (0..3000).map(|i| format!("a{i}: me {{ id }} ")).collect();

    let body = app.gql(&format!("{{ {aliases} }}"), json!({}), None).await;

    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["data"].is_null(), "{body}");
    still_serves(&app).await;
}

#[tokio::test]
async fn a_three_mebibyte_body_is_refused_without_harm() {
    let app = TestApp::spawn().await;
    let padding = " ".repeat(3 * 1024 * 1024);
    let body = json!({ "query": format!("{{ __typename {padding} }}") });

    let (status, response) = app.post_raw(&body, None).await;

    assert_eq!(status, 413);
    assert_eq!(code(&response), "BAD_USER_INPUT", "{response}");
    still_serves(&app).await;
}

#[tokio::test]
async fn malformed_bodies_and_batches_get_a_coded_error() {
    let app = TestApp::spawn().await;
    for raw in ["not json", "[{\"query\": \"{ __typename }\"}]", "{}"] {
        let response = app
            .http
            .post(&app.graphql_url)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("sent");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{raw}: {body}");
    }
}

#[tokio::test]
async fn the_ide_is_served_by_the_gateway_itself() {
    let app = TestApp::spawn().await;

    let page = app.http.get(&app.graphql_url).send().await.expect("page");
    let html = page.text().await.expect("html");
    let script = app
        .http
        .get(format!("{}/ide.js", app.graphql_url))
        .send()
        .await
        .expect("js");

    assert!(html.contains("/graphql/ide.js"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "loads nothing from elsewhere"
    );
    assert!(script.status().is_success());
}
