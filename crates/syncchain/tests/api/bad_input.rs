//! Input no client should send but any client can: answered as bad input
//! naming the field, never as an internal error.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::support::{TestApp, code, unique_email};

fn field(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or("<none>")
}

#[tokio::test]
async fn a_product_search_with_a_nul_character_is_bad_input_on_search() {
    let app = TestApp::spawn().await;

    let body = app
        .gql(
            "query($search: String) { products(search: $search) { id } }",
            json!({ "search": "a\u{0}b" }),
            None,
        )
        .await;

    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(field(&body), "search", "{body}");
}

#[tokio::test]
async fn a_cursor_with_a_time_out_of_range_is_bad_input_on_after_in_every_list() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, customer) = app.customer(&unique_email("pager")).await;
    let cursor =
        URL_SAFE_NO_PAD.encode(format!("v1:-8000000000000000000:{}", uuid::Uuid::new_v4()));

    for (list, token) in [
        ("products", None),
        ("users", Some(admin.as_str())),
        ("orders", Some(customer.as_str())),
    ] {
        let query = format!("query($after: String) {{ {list}(after: $after) {{ id }} }}");
        let body = app.gql(&query, json!({ "after": cursor }), token).await;

        assert_eq!(code(&body), "BAD_USER_INPUT", "{list}: {body}");
        assert_eq!(field(&body), "after", "{list}: {body}");
    }
}
