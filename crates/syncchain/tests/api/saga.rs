//! The order saga through the API, as a customer and an admin see it.

use serde_json::json;

use crate::support::{TestApp, code, unique_email};

#[tokio::test]
async fn an_order_within_stock_is_confirmed_and_the_stock_goes_down() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Teapot", 1250, 5).await;
    let (_, token) = app.customer(&unique_email("ada")).await;

    let body = app.place_order(&token, &product, 2).await;

    let order = &body["data"]["placeOrder"];
    assert_eq!(order["status"], json!("CONFIRMED"), "{body}");
    assert_eq!(order["totalAmount"], json!(2500));
    assert_eq!(app.stock(&product).await, 3);
}

#[tokio::test]
async fn an_order_beyond_the_stock_is_rejected_with_its_reason_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Kettle", 3000, 2).await;
    let (_, token) = app.customer(&unique_email("ada")).await;

    let body = app.place_order(&token, &product, 3).await;

    let order = &body["data"]["placeOrder"];
    assert_eq!(order["status"], json!("REJECTED"), "{body}");
    let reason = order["rejectionReason"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(reason.contains("stock"), "{body}");
    assert_eq!(app.stock(&product).await, 2);
}

#[tokio::test]
async fn cancelling_a_confirmed_order_puts_the_stock_back_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Mug", 800, 4).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let placed = app.place_order(&token, &product, 3).await;
    let id = placed["data"]["placeOrder"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cancel = "mutation($id: ID!) { cancelOrder(id: $id) { id status } }";

    let cancelled = app.gql(cancel, json!({ "id": id }), Some(&token)).await;
    let again = app.gql(cancel, json!({ "id": id }), Some(&token)).await;
    let restocked = syncchain_testkit::eventually(std::time::Duration::from_secs(10), || async {
        app.stock(&product).await == 4
    })
    .await;

    assert_eq!(
        cancelled["data"]["cancelOrder"]["status"],
        json!("CANCELLED"),
        "{cancelled}"
    );
    assert_eq!(code(&again), "CONFLICT", "{again}");
    assert!(restocked, "stock is {}", app.stock(&product).await);
}

#[tokio::test]
async fn an_order_total_beyond_the_apis_int_is_bad_user_input_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Yacht", 2_000_000_000, 10).await;
    let (_, token) = app.customer(&unique_email("rich")).await;

    let body = app.place_order(&token, &product, 2).await;
    let orders = app.gql("{ orders { id } }", json!({}), Some(&token)).await;

    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], json!("quantity"));
    assert_eq!(orders["data"]["orders"], json!([]), "{orders}");
    assert_eq!(app.stock(&product).await, 10);
}

#[tokio::test]
async fn bad_order_input_is_refused_with_its_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Spoon", 100, 10).await;
    let (_, token) = app.customer(&unique_email("ada")).await;

    let zero = app.place_order(&token, &product, 0).await;
    let negative = app.place_order(&token, &product, -3).await;
    let bad_id = app.place_order(&token, "not-an-id", 1).await;
    let unknown = app
        .place_order(&token, &uuid::Uuid::new_v4().to_string(), 1)
        .await;

    assert_eq!(code(&zero), "BAD_USER_INPUT", "{zero}");
    assert_eq!(zero["errors"][0]["extensions"]["field"], json!("quantity"));
    assert_eq!(code(&negative), "BAD_USER_INPUT", "{negative}");
    assert_eq!(code(&bad_id), "BAD_USER_INPUT", "{bad_id}");
    assert_eq!(
        bad_id["errors"][0]["extensions"]["field"],
        json!("productId")
    );
    assert_eq!(code(&unknown), "NOT_FOUND", "{unknown}");
    assert_eq!(app.stock(&product).await, 10);
}

#[tokio::test]
async fn product_validation_names_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let create = "mutation($input: ProductInput!) { createProduct(input: $input) { id } }";
    let cases = [
        ("name", json!({ "name": "", "price": 100, "quantity": 1 })),
        (
            "name",
            json!({ "name": "n".repeat(201), "price": 100, "quantity": 1 }),
        ),
        ("price", json!({ "name": "Cup", "price": 0, "quantity": 1 })),
        (
            "price",
            json!({ "name": "Cup", "price": -5, "quantity": 1 }),
        ),
        (
            "quantity",
            json!({ "name": "Cup", "price": 100, "quantity": -1 }),
        ),
        (
            "description",
            json!({ "name": "Cup", "price": 100, "quantity": 1, "description": "d".repeat(5001) }),
        ),
    ];
    for (field, input) in cases {
        let body = app
            .gql(create, json!({ "input": input }), Some(&admin))
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{field}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            json!(field),
            "{body}"
        );
    }
    let listed = app.gql("{ products { id } }", json!({}), None).await;
    assert_eq!(
        listed["data"]["products"],
        json!([]),
        "nothing was created: {listed}"
    );
}

#[tokio::test]
async fn an_admin_updates_and_restocks_and_reads_see_it_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Plate", 500, 1).await;
    assert_eq!(app.stock(&product).await, 1);
    let listed_before = app
        .gql("{ products { id name quantity } }", json!({}), None)
        .await;

    let updated = app
        .gql(
            "mutation($id: ID!) { updateProduct(id: $id, input: { name: \"Dinner plate\", price: 650 }) { name price } }",
            json!({ "id": product }),
            Some(&admin),
        )
        .await;
    let restocked = app
        .gql(
            "mutation($id: ID!) { restockProduct(id: $id, quantity: 9) { quantity } }",
            json!({ "id": product }),
            Some(&admin),
        )
        .await;
    let read = app
        .gql(
            "query($id: ID!) { product(id: $id) { name price quantity } }",
            json!({ "id": product }),
            None,
        )
        .await;
    let listed = app
        .gql("{ products { name quantity } }", json!({}), None)
        .await;

    assert_eq!(listed_before["data"]["products"][0]["quantity"], json!(1));
    assert_eq!(
        updated["data"]["updateProduct"]["price"],
        json!(650),
        "{updated}"
    );
    assert_eq!(
        restocked["data"]["restockProduct"]["quantity"],
        json!(10),
        "{restocked}"
    );
    assert_eq!(
        read["data"]["product"],
        json!({ "name": "Dinner plate", "price": 650, "quantity": 10 })
    );
    assert_eq!(
        listed["data"]["products"][0],
        json!({ "name": "Dinner plate", "quantity": 10 })
    );
}

#[tokio::test]
async fn a_retried_placement_with_its_key_buys_once_and_another_input_is_a_conflict() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Saucer", 400, 5).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let place = "mutation($input: OrderInput!, $key: String) {
        placeOrder(input: $input, idempotencyKey: $key) { id status quantity totalAmount } }";
    let input = json!({ "productId": product, "quantity": 2 });

    let (first, retry) = tokio::join!(
        app.gql(
            place,
            json!({ "input": input, "key": "checkout-7" }),
            Some(&token)
        ),
        app.gql(
            place,
            json!({ "input": input, "key": "checkout-7" }),
            Some(&token)
        ),
    );
    let later = app
        .gql(
            place,
            json!({ "input": input, "key": "checkout-7" }),
            Some(&token),
        )
        .await;
    let other = json!({ "productId": product, "quantity": 3 });
    let conflict = app
        .gql(
            place,
            json!({ "input": other, "key": "checkout-7" }),
            Some(&token),
        )
        .await;

    let id = &first["data"]["placeOrder"]["id"];
    assert!(id.is_string(), "{first}");
    assert_eq!(&retry["data"]["placeOrder"]["id"], id, "{retry}");
    assert_eq!(&later["data"]["placeOrder"]["id"], id, "{later}");
    assert_eq!(later["data"]["placeOrder"]["status"], json!("CONFIRMED"));
    assert_eq!(code(&conflict), "CONFLICT", "{conflict}");
    assert_eq!(app.stock(&product).await, 3, "two items bought, once");
}

#[tokio::test]
async fn an_orders_history_tells_what_happened_when_and_why() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Jug", 900, 3).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let confirmed = app.place_order(&token, &product, 2).await;
    let rejected = app.place_order(&token, &product, 2).await;
    let id = confirmed["data"]["placeOrder"]["id"].clone();
    let cancel = "mutation($id: ID!) { cancelOrder(id: $id) { status } }";
    app.gql(cancel, json!({ "id": id }), Some(&token)).await;

    let history = "query($id: ID!) { order(id: $id) { history { status reason at } } }";
    let body = app.gql(history, json!({ "id": id }), Some(&token)).await;
    let listed = app
        .gql(
            "{ orders { id history { status reason } } }",
            json!({}),
            Some(&admin),
        )
        .await;

    let steps: Vec<(String, String)> = body["data"]["order"]["history"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| (e["status"].to_string(), e["reason"].to_string()))
        .collect();
    assert_eq!(
        steps,
        [
            ("\"PENDING\"".into(), "\"placed\"".into()),
            ("\"CONFIRMED\"".into(), "\"stock reserved\"".into()),
            (
                "\"CANCELLED\"".into(),
                "\"cancelled by the customer\"".into()
            ),
        ],
        "{body}"
    );
    let times: Vec<&str> = body["data"]["order"]["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["at"].as_str())
        .collect();
    assert!(
        times.len() == 3 && times.windows(2).all(|w| w[0] <= w[1]),
        "{body}"
    );
    let rejected_id = &rejected["data"]["placeOrder"]["id"];
    let rejected_history = listed["data"]["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| &o["id"] == rejected_id)
        .map(|o| o["history"].clone());
    let last = rejected_history
        .as_ref()
        .and_then(|h| h.as_array())
        .and_then(|h| h.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["status"], json!("REJECTED"), "{listed}");
    assert!(
        last["reason"].as_str().is_some_and(|r| r.contains("stock")),
        "{listed}"
    );
}

#[tokio::test]
async fn an_oversized_or_malformed_idempotency_key_is_bad_input_and_buys_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Plate", 500, 5).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let place = "mutation($input: OrderInput!, $key: String) {
        placeOrder(input: $input, idempotencyKey: $key) { id } }";
    let input = json!({ "productId": product, "quantity": 1 });

    for key in ["k".repeat(100_000), String::new(), "new\nline".to_owned()] {
        let body = app
            .gql(place, json!({ "input": input, "key": key }), Some(&token))
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            json!("idempotencyKey"),
            "{body}"
        );
    }
    assert_eq!(app.stock(&product).await, 5);
}

const PLACE_LINES: &str = "mutation($input: OrderInput!) { placeOrder(input: $input) {
    id status productId quantity unitPrice totalAmount rejectionReason
    product { name }
    lines { productId quantity unitPrice lineTotal product { name } }
} }";

#[tokio::test]
async fn an_order_of_two_lines_is_confirmed_with_every_line_and_takes_both() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let teapot = app.product(&admin, "Teapot", 1250, 5).await;
    let cups = app.product(&admin, "Cup", 300, 8).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let input = json!({ "lines": [
        { "productId": teapot, "quantity": 1 },
        { "productId": cups, "quantity": 4 },
    ] });

    let body = app
        .gql(PLACE_LINES, json!({ "input": input }), Some(&token))
        .await;

    let order = &body["data"]["placeOrder"];
    assert_eq!(order["status"], json!("CONFIRMED"), "{body}");
    assert_eq!(order["totalAmount"], json!(2450));
    assert_eq!(
        order["lines"],
        json!([
            { "productId": teapot, "quantity": 1, "unitPrice": 1250, "lineTotal": 1250, "product": { "name": "Teapot" } },
            { "productId": cups, "quantity": 4, "unitPrice": 300, "lineTotal": 1200, "product": { "name": "Cup" } },
        ])
    );
    // The single-product fields describe the first line (ADR 0018).
    assert_eq!(
        (
            &order["productId"],
            &order["quantity"],
            &order["product"]["name"]
        ),
        (&json!(teapot), &json!(1), &json!("Teapot"))
    );
    assert_eq!(app.stock(&teapot).await, 4);
    assert_eq!(app.stock(&cups).await, 4);
}

#[tokio::test]
async fn an_order_of_one_product_lists_it_as_its_one_line() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Teapot", 1250, 5).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let input = json!({ "productId": product, "quantity": 2 });

    let body = app
        .gql(PLACE_LINES, json!({ "input": input }), Some(&token))
        .await;

    assert_eq!(
        body["data"]["placeOrder"]["lines"],
        json!([{ "productId": product, "quantity": 2, "unitPrice": 1250, "lineTotal": 2500, "product": { "name": "Teapot" } }]),
        "{body}"
    );
}

#[tokio::test]
async fn an_order_input_of_both_forms_or_neither_is_refused_and_places_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Teapot", 1250, 5).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let line = json!({ "productId": product, "quantity": 1 });
    let too_many: Vec<_> = (0..101)
        .map(|_| json!({ "productId": uuid::Uuid::now_v7(), "quantity": 1 }))
        .collect();
    let cases = [
        (
            json!({ "productId": product, "quantity": 1, "lines": [line] }),
            "lines",
        ),
        (json!({}), "productId"),
        (json!({ "productId": product }), "quantity"),
        (json!({ "lines": [] }), "lines"),
        (json!({ "lines": [line, line] }), "lines"),
        (
            json!({ "lines": [line, { "productId": "nope", "quantity": 1 }] }),
            "lines",
        ),
        (json!({ "lines": too_many }), "lines"),
    ];

    for (input, field) in cases {
        let body = app
            .gql(PLACE_LINES, json!({ "input": input }), Some(&token))
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            json!(field),
            "{input}: {body}"
        );
    }
    let orders = app.gql("{ orders { id } }", json!({}), Some(&token)).await;
    assert_eq!(orders["data"]["orders"], json!([]), "{orders}");
    assert_eq!(app.stock(&product).await, 5);
}
