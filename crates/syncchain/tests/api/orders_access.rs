//! Who may see and change which orders and products.

use serde_json::json;

use crate::support::{TestApp, code, unique_email};

#[tokio::test]
async fn orders_belong_to_their_owner_and_admins() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Lamp", 4000, 10).await;
    let (ada_id, ada) = app.customer(&unique_email("ada")).await;
    let (_, bob) = app.customer(&unique_email("bob")).await;
    let placed = app.place_order(&ada, &product, 1).await;
    let id = placed["data"]["placeOrder"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let query = "query($id: ID!) { order(id: $id) { id userId user { id email } } }";

    let own = app.gql(query, json!({ "id": id }), Some(&ada)).await;
    let other = app.gql(query, json!({ "id": id }), Some(&bob)).await;
    let by_admin = app.gql(query, json!({ "id": id }), Some(&admin)).await;
    let cancel_other = app
        .gql(
            "mutation($id: ID!) { cancelOrder(id: $id) { id } }",
            json!({ "id": id }),
            Some(&bob),
        )
        .await;
    let bob_list = app.gql("{ orders { id } }", json!({}), Some(&bob)).await;
    let admin_list = app.gql("{ orders { id } }", json!({}), Some(&admin)).await;

    assert_eq!(own["data"]["order"]["user"]["id"], json!(ada_id), "{own}");
    assert_eq!(code(&other), "FORBIDDEN", "{other}");
    assert_eq!(
        by_admin["data"]["order"]["userId"],
        json!(ada_id),
        "{by_admin}"
    );
    assert_eq!(code(&cancel_other), "FORBIDDEN", "{cancel_other}");
    assert_eq!(bob_list["data"]["orders"], json!([]));
    assert_eq!(admin_list["data"]["orders"][0]["id"], json!(id));
}

#[tokio::test]
async fn writes_to_the_catalogue_are_for_admins_and_orders_for_signed_in_users() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Chair", 9000, 3).await;
    let (_, customer) = app.customer(&unique_email("ada")).await;
    let create =
        "mutation { createProduct(input: { name: \"Free stuff\", price: 1, quantity: 5 }) { id } }";

    let by_customer = app.gql(create, json!({}), Some(&customer)).await;
    let anonymous_create = app.gql(create, json!({}), None).await;
    let restock = app
        .gql(
            "mutation($id: ID!) { restockProduct(id: $id, quantity: 5) { id } }",
            json!({ "id": product }),
            Some(&customer),
        )
        .await;
    let anonymous_order = app
        .gql(
            "mutation($input: OrderInput!) { placeOrder(input: $input) { id } }",
            json!({ "input": { "productId": product, "quantity": 1 } }),
            None,
        )
        .await;

    assert_eq!(code(&by_customer), "FORBIDDEN", "{by_customer}");
    assert_eq!(
        code(&anonymous_create),
        "UNAUTHENTICATED",
        "{anonymous_create}"
    );
    assert_eq!(code(&restock), "FORBIDDEN", "{restock}");
    assert_eq!(
        code(&anonymous_order),
        "UNAUTHENTICATED",
        "{anonymous_order}"
    );
    assert_eq!(app.stock(&product).await, 3);
}
