use serde_json::json;

use crate::support::{TestApp, code, unique_email};

const USERS: &str = "{ users { id email role } }";

#[tokio::test]
async fn listing_users_is_forbidden_to_customers_and_anonymous_callers() {
    let app = TestApp::spawn().await;
    let (_, token) = app.customer(&unique_email("ada")).await;

    let customer = app.gql(USERS, json!({}), Some(&token)).await;
    let anonymous = app.gql(USERS, json!({}), None).await;

    assert_eq!(code(&customer), "FORBIDDEN", "{customer}");
    assert_eq!(code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
}

#[tokio::test]
async fn an_admin_promoted_with_the_cli_lists_users_after_signing_in_again() {
    let app = TestApp::spawn().await;
    let email = unique_email("root");
    let (_, old_token) = app.customer(&email).await;
    app.customer(&unique_email("bob")).await;

    let output = app.cli(&["admin", "promote", &email.to_uppercase()]).await;
    assert!(
        output.status.success(),
        "promote failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stale = app.gql(USERS, json!({}), Some(&old_token)).await;
    let token = app.sign_in(&email).await;
    let listed = app.gql(USERS, json!({}), Some(&token)).await;

    assert_eq!(
        code(&stale),
        "FORBIDDEN",
        "old tokens keep the old role: {stale}"
    );
    let users = listed["data"]["users"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(users.len(), 2, "{listed}");
    assert!(
        users
            .iter()
            .any(|u| u["email"] == json!(email) && u["role"] == json!("ADMIN"))
    );
}

#[tokio::test]
async fn promoting_an_unknown_email_fails_clearly() {
    let app = TestApp::spawn().await;

    let output = app.cli(&["admin", "promote", "nobody@example.com"]).await;

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nobody@example.com") || stderr.to_lowercase().contains("no user"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_admin_pages_through_users_and_sets_roles() {
    let app = TestApp::spawn().await;
    let email = unique_email("root");
    app.customer(&email).await;
    assert!(
        app.cli(&["admin", "promote", &email])
            .await
            .status
            .success()
    );
    let admin = app.sign_in(&email).await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(app.customer(&unique_email(name)).await.0);
    }
    let page = "query($after: String) { usersConnection(first: 2, after: $after) { nodes { id } pageInfo { endCursor hasNextPage } } }";

    let first = app.gql(page, json!({ "after": null }), Some(&admin)).await;
    let cursor = first["data"]["usersConnection"]["pageInfo"]["endCursor"].clone();
    let second = app
        .gql(page, json!({ "after": cursor }), Some(&admin))
        .await;
    let bad_cursor = app
        .gql(page, json!({ "after": "garbage" }), Some(&admin))
        .await;
    let promoted = app
        .gql(
            "mutation($id: ID!) { setUserRole(id: $id, role: ADMIN) { id role } }",
            json!({ "id": ids[0] }),
            Some(&admin),
        )
        .await;

    assert_eq!(
        first["data"]["usersConnection"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{first}"
    );
    assert_eq!(
        first["data"]["usersConnection"]["pageInfo"]["hasNextPage"],
        json!(true)
    );
    assert_eq!(
        second["data"]["usersConnection"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{second}"
    );
    assert_eq!(
        second["data"]["usersConnection"]["pageInfo"]["hasNextPage"],
        json!(false)
    );
    assert_eq!(code(&bad_cursor), "BAD_USER_INPUT", "{bad_cursor}");
    assert_eq!(
        promoted["data"]["setUserRole"]["role"],
        json!("ADMIN"),
        "{promoted}"
    );
}
