use syncchain_events::payloads::products::{ProductCreatedV1, ProductUpdatedV1};
use syncchain_platform::grpc::field_of;
use syncchain_proto::products::v1::{
    GetProductsRequest, ListProductsRequest, UpdateProductRequest,
};
use syncchain_testkit::eventually;
use tonic::Code;

use crate::helpers::{DEADLINE, TestApp, as_caller, spawn_app};

/// The `E` events emitted so far about `product_id`.
async fn announced<E: syncchain_events::Event>(app: &TestApp, product_id: &str) -> Vec<E> {
    app.emitted(E::TYPE)
        .await
        .into_iter()
        .filter(|e| e.payload["product_id"] == product_id)
        .map(|e| e.decode::<E>().unwrap())
        .collect()
}

#[tokio::test]
async fn an_admin_creates_a_product_that_anyone_reads_back() {
    let app = spawn_app().await;

    let created = app.create("  Espresso Machine ", 24_999, 7).await;
    let read = app.get(&created.id).await.unwrap();

    assert_eq!(created.name, "Espresso Machine");
    assert_eq!((created.price, created.stock), (24_999, 7));
    assert_eq!(read, created);
    assert!(read.created_at.is_some() && read.updated_at.is_some());
}

#[tokio::test]
async fn creating_a_product_announces_products_created() {
    let app = spawn_app().await;

    let created = app.create("Kettle", 2599, 3).await;

    let published = eventually(DEADLINE, || async {
        !announced::<ProductCreatedV1>(&app, &created.id)
            .await
            .is_empty()
    })
    .await;
    assert!(published, "products.created was not published in time");
    let event = &announced::<ProductCreatedV1>(&app, &created.id).await[0];
    assert_eq!(
        (event.name.as_str(), event.price, event.stock),
        ("Kettle", 2599, 3)
    );
}

#[tokio::test]
async fn a_missing_product_is_not_found_and_a_malformed_id_names_its_field() {
    let app = spawn_app().await;

    let missing = app
        .get(&uuid::Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    let malformed = app.get("42").await.unwrap_err();

    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert_eq!(field_of(&malformed).as_deref(), Some("id"));
}

#[tokio::test]
async fn a_batch_read_returns_the_products_that_exist_in_the_order_asked() {
    let app = spawn_app().await;
    let first = app.create("First", 100, 1).await;
    let second = app.create("Second", 200, 2).await;
    let ids = vec![
        second.id.clone(),
        uuid::Uuid::new_v4().to_string(),
        first.id.clone(),
        second.id.clone(),
    ];

    let found = app
        .client()
        .get_products(GetProductsRequest { ids })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(found.products, vec![second, first]);
}

#[tokio::test]
async fn products_are_listed_newest_first_one_page_at_a_time() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for n in 0..5 {
        expected.push(app.create(&format!("Product {n}"), 100, 1).await.id);
    }
    expected.reverse();

    let mut seen = Vec::new();
    let mut after = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .list(ListProductsRequest {
                first: 2,
                after: after.clone(),
                ..Default::default()
            })
            .await;
        pages += 1;
        assert!(page.products.len() <= 2);
        seen.extend(page.products.into_iter().map(|p| p.id));
        if !page.has_next_page {
            break;
        }
        after = page.end_cursor;
    }

    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn a_name_search_ignores_case_and_matches_wildcards_literally() {
    let app = spawn_app().await;
    let blue = app.create("Blue Kettle", 100, 1).await;
    let black = app.create("kettle, black", 100, 1).await;
    let cotton = app.create("100% cotton shirt", 100, 1).await;
    app.create("1000 cotton threads", 100, 1).await;
    let search = |text: &str| ListProductsRequest {
        search: text.into(),
        ..Default::default()
    };
    let names = |page: syncchain_proto::products::v1::ListProductsResponse| {
        page.products.into_iter().map(|p| p.id).collect::<Vec<_>>()
    };

    assert_eq!(
        names(app.list(search("KETTLE")).await),
        vec![black.id, blue.id]
    );
    assert_eq!(names(app.list(search("100%")).await), vec![cotton.id]);
    assert!(names(app.list(search("_")).await).is_empty());
    assert_eq!(names(app.list(search("  ")).await).len(), 4);
}

#[tokio::test]
async fn a_forged_cursor_or_an_overlong_search_names_its_argument() {
    let app = spawn_app().await;

    let forged = app
        .client()
        .list_products(ListProductsRequest {
            after: "bm9wZQ".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let overlong = app
        .client()
        .list_products(ListProductsRequest {
            search: "a".repeat(201),
            ..Default::default()
        })
        .await
        .unwrap_err();

    assert_eq!(field_of(&forged).as_deref(), Some("after"));
    assert_eq!(field_of(&overlong).as_deref(), Some("search"));
}

#[tokio::test]
async fn an_edit_changes_only_the_given_fields_and_announces_the_product() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 2599, 4).await;

    let edited = app
        .client()
        .update_product(as_caller(
            UpdateProductRequest {
                id: product.id.clone(),
                price: Some(1999),
                description: Some(String::new()),
                name: None,
            },
            &app.admin(),
        ))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(
        (edited.name.as_str(), edited.description.as_str()),
        ("Kettle", "")
    );
    assert_eq!((edited.price, edited.stock), (1999, 4));
    let published = eventually(DEADLINE, || async {
        announced::<ProductUpdatedV1>(&app, &product.id)
            .await
            .iter()
            .any(|e| e.price == 1999 && e.restocked == 0)
    })
    .await;
    assert!(published, "products.updated was not published in time");
}

#[tokio::test]
async fn a_restock_adds_to_the_stock_and_announces_how_much() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 2599, 4).await;

    let restocked = app.restock(&product.id, 6).await.unwrap();

    assert_eq!(restocked.stock, 10);
    let published = eventually(DEADLINE, || async {
        announced::<ProductUpdatedV1>(&app, &product.id)
            .await
            .iter()
            .any(|e| e.stock == 10 && e.restocked == 6)
    })
    .await;
    assert!(published, "products.updated was not published in time");
}

#[tokio::test]
async fn a_restock_past_the_largest_int_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 2599, 2_147_483_600).await;

    let refused = app.restock(&product.id, 48).await.unwrap_err();
    let filled = app.restock(&product.id, 47).await.unwrap();

    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(field_of(&refused).as_deref(), Some("quantity"));
    assert_eq!(filled.stock, 2_147_483_647);
}

#[tokio::test]
async fn editing_or_restocking_a_missing_product_is_not_found() {
    let app = spawn_app().await;
    let id = uuid::Uuid::new_v4().to_string();

    let restock = app.restock(&id, 1).await.unwrap_err();
    let edit = app
        .client()
        .update_product(as_caller(
            UpdateProductRequest {
                id,
                price: Some(5),
                ..Default::default()
            },
            &app.admin(),
        ))
        .await
        .unwrap_err();

    assert_eq!(restock.code(), Code::NotFound);
    assert_eq!(edit.code(), Code::NotFound);
}
