use syncchain_platform::{auth::Role, grpc::field_of};
use syncchain_proto::products::v1::{
    CreateProductRequest, ListProductsRequest, RestockProductRequest, UpdateProductRequest,
};
use tonic::Code;

use crate::helpers::{as_caller, spawn_app};

fn valid() -> CreateProductRequest {
    CreateProductRequest {
        name: "Kettle".into(),
        description: "Boils water.".into(),
        price: 2599,
        stock: 10,
    }
}

#[tokio::test]
async fn a_customer_may_not_change_the_catalogue() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 2599, 1).await;
    let customer = app.token(Role::Customer);
    let mut client = app.client();

    let create = client
        .create_product(as_caller(valid(), &customer))
        .await
        .unwrap_err();
    let update = client
        .update_product(as_caller(
            UpdateProductRequest {
                id: product.id.clone(),
                price: Some(1),
                ..Default::default()
            },
            &customer,
        ))
        .await
        .unwrap_err();
    let restock = client
        .restock_product(as_caller(
            RestockProductRequest {
                id: product.id.clone(),
                quantity: 5,
            },
            &customer,
        ))
        .await
        .unwrap_err();
    // Refused before the input is even looked at.
    let invalid = client
        .create_product(as_caller(
            CreateProductRequest {
                price: 0,
                ..valid()
            },
            &customer,
        ))
        .await
        .unwrap_err();

    for status in [create, update, restock, invalid] {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    assert_eq!(app.get(&product.id).await.unwrap(), product);
}

#[tokio::test]
async fn changing_the_catalogue_needs_a_valid_token() {
    let app = spawn_app().await;
    let tampered = format!("{}x", app.admin());

    let anonymous = app.client().create_product(valid()).await.unwrap_err();
    let forged = app
        .client()
        .create_product(as_caller(valid(), &tampered))
        .await
        .unwrap_err();

    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert_eq!(forged.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn reading_the_catalogue_needs_no_token_and_ignores_a_stale_one() {
    let app = spawn_app().await;
    let product = app.create("Kettle", 2599, 1).await;

    let anonymous = app.get(&product.id).await.unwrap();
    let with_garbage = app
        .client()
        .list_products(as_caller(ListProductsRequest::default(), "not-a-token"))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(anonymous, product);
    assert_eq!(with_garbage.products, vec![product]);
}

#[tokio::test]
async fn each_invalid_input_is_refused_naming_its_field() {
    let app = spawn_app().await;
    let admin = app.admin();
    let product = app.create("Kettle", 2599, 1).await;
    let cases = [
        (
            CreateProductRequest {
                name: "  ".into(),
                ..valid()
            },
            "name",
        ),
        (
            CreateProductRequest {
                name: "n".repeat(201),
                ..valid()
            },
            "name",
        ),
        (
            CreateProductRequest {
                description: "d".repeat(5001),
                ..valid()
            },
            "description",
        ),
        (
            CreateProductRequest {
                price: 0,
                ..valid()
            },
            "price",
        ),
        (
            CreateProductRequest {
                price: 2_147_483_648,
                ..valid()
            },
            "price",
        ),
        (
            CreateProductRequest {
                stock: -1,
                ..valid()
            },
            "quantity",
        ),
        (
            CreateProductRequest {
                stock: 2_147_483_648,
                ..valid()
            },
            "quantity",
        ),
    ];
    for (request, field) in cases {
        let status = app
            .client()
            .create_product(as_caller(request, &admin))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(field_of(&status).as_deref(), Some(field));
    }

    let bad_edit = app
        .client()
        .update_product(as_caller(
            UpdateProductRequest {
                id: product.id.clone(),
                price: Some(-1),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    let bad_restock = app.restock(&product.id, 0).await.unwrap_err();

    assert_eq!(field_of(&bad_edit).as_deref(), Some("price"));
    assert_eq!(field_of(&bad_restock).as_deref(), Some("quantity"));
    assert_eq!(app.get(&product.id).await.unwrap(), product);
    let listed = app.list(ListProductsRequest::default()).await;
    assert_eq!(listed.products.len(), 1);
}
