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
        "UNAUTHENTICATED",
        "a role change ends the sessions that carry the old role: {stale}"
    );
    let users = listed["data"]["users"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Both customers and the admin that exists from the start.
    assert_eq!(users.len(), 3, "{listed}");
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
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "d"] {
        ids.push(app.customer(&unique_email(name)).await.0);
    }
    let page = "query($after: String) { usersConnection(first: 2, after: $after) { nodes { id } pageInfo { endCursor hasNextPage } } }";

    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    let mut pages = 0;
    loop {
        let body = app.gql(page, json!({ "after": after }), Some(&admin)).await;
        let connection = &body["data"]["usersConnection"];
        let nodes = connection["nodes"].as_array().cloned().unwrap_or_default();
        assert!(!nodes.is_empty() && nodes.len() <= 2, "{body}");
        seen.extend(nodes.iter().map(|n| n["id"].clone()));
        pages += 1;
        if connection["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
        assert!(pages < 10, "paging does not end");
    }
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

    // The start-up admin and four customers, each exactly once, in three pages.
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    for id in &ids {
        assert_eq!(seen.iter().filter(|s| *s == &json!(id)).count(), 1);
    }
    assert_eq!(code(&bad_cursor), "BAD_USER_INPUT", "{bad_cursor}");
    assert_eq!(
        promoted["data"]["setUserRole"]["role"],
        json!("ADMIN"),
        "{promoted}"
    );
}

#[tokio::test]
async fn a_demoted_admins_tokens_stop_working_at_once() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    let email = unique_email("deputy");
    let (id, _) = app.customer(&email).await;
    let promote = "mutation($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { role } }";
    app.gql(promote, json!({ "id": id, "role": "ADMIN" }), Some(&root))
        .await;
    let deputy = app.sign_in(&email).await;
    assert!(app.gql(USERS, json!({}), Some(&deputy)).await["data"]["users"].is_array());

    let demoted = app
        .gql(
            promote,
            json!({ "id": id, "role": "CUSTOMER" }),
            Some(&root),
        )
        .await;
    let after = app.gql(USERS, json!({}), Some(&deputy)).await;

    assert_eq!(
        demoted["data"]["setUserRole"]["role"],
        json!("CUSTOMER"),
        "{demoted}"
    );
    assert_eq!(code(&after), "UNAUTHENTICATED", "{after}");
}
