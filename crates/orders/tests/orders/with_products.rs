//! The saga across the real orders and products services, sharing one
//! namespace on the real broker: stock is reserved, refused and released by
//! products' own rules, and orders reports the outcome.

use futures::future::join_all;
use syncchain_platform::{auth::Role, grpc};
use syncchain_proto::{
    orders::v1::{CancelOrderRequest, OrderStatus},
    products::v1::{CreateProductRequest, GetProductRequest, products_client::ProductsClient},
};
use syncchain_testkit::{eventually, service::TestService};
use tonic::transport::Channel;

use crate::helpers::{DEADLINE, TestApp, as_caller, spawn_app_with};

/// Orders asking a real products service, and a client of that service;
/// the products service stops with the test.
struct System {
    orders: TestApp,
    products: ProductsClient<Channel>,
    admin: String,
    products_service: TestService,
}

async fn system() -> System {
    system_with(&[]).await
}

/// Orders configured with `extra` variables on top of the defaults.
async fn system_with(extra: &[(&str, &str)]) -> System {
    let namespace = syncchain_testkit::namespace();
    let redis_url = syncchain_testkit::redis_url();
    let products = TestService::spawn::<syncchain_products::Config>(&[
        ("SYNCCHAIN_EVENTS_NAMESPACE", namespace.as_str()),
        ("SYNCCHAIN_PRODUCTS_DB_MAX_CONNECTIONS", "5"),
        ("SYNCCHAIN_REDIS_URL", redis_url.as_str()),
        ("SYNCCHAIN_REDIS_PREFIX", namespace.as_str()),
    ])
    .await;
    let products_url = products.url();

    let mut orders_env = vec![
        ("SYNCCHAIN_EVENTS_NAMESPACE", namespace.as_str()),
        ("SYNCCHAIN_JWT_SECRET", products.secret.as_str()),
        ("SYNCCHAIN_PRODUCTS_URL", products_url.as_str()),
    ];
    orders_env.extend_from_slice(extra);
    let orders = spawn_app_with(&orders_env).await;
    let admin = products
        .keys
        .issue(uuid::Uuid::new_v4(), Role::Admin)
        .unwrap()
        .token;
    System {
        orders,
        products: ProductsClient::connect(products_url).await.unwrap(),
        admin,
        products_service: products,
    }
}

impl System {
    /// A product with `stock` items at 500 each; its id.
    async fn product(&self, stock: i64) -> String {
        let request = CreateProductRequest {
            name: "Lamp".into(),
            description: "A lamp".into(),
            price: 500,
            stock,
        };
        self.products
            .clone()
            .create_product(grpc::request(request, Some(&self.admin)))
            .await
            .unwrap()
            .into_inner()
            .id
    }

    async fn stock(&self, id: &str) -> i64 {
        let request = GetProductRequest {
            id: id.into(),
            fresh: false,
        };
        self.products
            .clone()
            .get_product(grpc::request(request, Some(&self.admin)))
            .await
            .unwrap()
            .into_inner()
            .stock
    }

    async fn stock_becomes(&self, id: &str, expected: i64) -> bool {
        eventually(DEADLINE, || async { self.stock(id).await == expected }).await
    }
}

#[tokio::test]
async fn an_order_within_the_stock_is_confirmed_and_takes_the_stock() {
    let system = system().await;
    let (_, token) = system.orders.customer();
    let product = system.product(5).await;

    let order = system
        .orders
        .place(&token, &product, 3, 10_000)
        .await
        .unwrap();

    assert_eq!(order.status(), OrderStatus::Confirmed);
    assert_eq!((order.unit_price, order.total_amount), (500, 1500));
    assert_eq!(system.stock(&product).await, 2);
}

#[tokio::test]
async fn an_order_beyond_the_stock_is_rejected_with_the_reason_and_takes_nothing() {
    let system = system().await;
    let (_, token) = system.orders.customer();
    let product = system.product(2).await;

    let order = system
        .orders
        .place(&token, &product, 3, 10_000)
        .await
        .unwrap();

    assert_eq!(order.status(), OrderStatus::Rejected);
    assert_eq!(
        order.rejection_reason,
        "insufficient stock: 3 requested, 2 available"
    );
    assert_eq!(system.stock(&product).await, 2);
}

#[tokio::test]
async fn cancelling_a_confirmed_order_puts_its_stock_back() {
    let system = system().await;
    let (_, token) = system.orders.customer();
    let product = system.product(4).await;
    let order = system
        .orders
        .place(&token, &product, 4, 10_000)
        .await
        .unwrap();
    assert_eq!(order.status(), OrderStatus::Confirmed);

    system
        .orders
        .client()
        .cancel_order(as_caller(CancelOrderRequest { id: order.id }, &token))
        .await
        .unwrap();

    assert!(
        system.stock_becomes(&product, 4).await,
        "the stock did not come back"
    );
}

#[tokio::test]
async fn orders_cancelled_while_pending_give_back_exactly_what_was_reserved() {
    let system = system().await;
    let product = system.product(30).await;
    let (_, token) = system.orders.customer();

    // Each cancellation races its own reservation: some reach products
    // first, some after the stock was taken, some after the order settled.
    let cancelled = join_all((0..10).map(|_| async {
        let order = system.orders.place(&token, &product, 3, 0).await.unwrap();
        system.orders.cancel(&token, &order.id).await
    }))
    .await;

    for outcome in &cancelled {
        assert_eq!(
            outcome.as_ref().ok(),
            Some(&OrderStatus::Cancelled),
            "{cancelled:?}"
        );
    }
    assert!(
        system.stock_becomes(&product, 30).await,
        "the stock did not all come back"
    );
    // Products' own ledger: every reservation it made was released, and
    // none is held (the stock is 30 less what RESERVED rows hold).
    let (reserved, held): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status = 'RESERVED') FROM reservations",
    )
    .fetch_one(&system.products_service.pool)
    .await
    .unwrap();
    assert_eq!(held, 0, "{reserved} reservations, {held} still held");
}

#[tokio::test]
async fn concurrent_orders_never_take_more_than_the_stock() {
    let system = system().await;
    let product = system.product(5).await;

    let placed = join_all((0..20).map(|_| {
        let (_, token) = system.orders.customer();
        let (orders, product) = (&system.orders, product.clone());
        async move { orders.place(&token, &product, 1, 10_000).await.unwrap() }
    }))
    .await;

    let mut settled = Vec::new();
    for order in placed {
        let order = match order.status() {
            OrderStatus::Pending => {
                // Past the wait: it settles all the same.
                let admin = system.orders.admin_token();
                let settled = eventually(DEADLINE, || async {
                    system.orders.get(&admin, &order.id).await.unwrap().status()
                        != OrderStatus::Pending
                })
                .await;
                assert!(settled, "order {} never settled", order.id);
                system.orders.get(&admin, &order.id).await.unwrap()
            }
            _ => order,
        };
        settled.push(order.status());
    }
    let confirmed = settled
        .iter()
        .filter(|s| **s == OrderStatus::Confirmed)
        .count();
    let rejected = settled
        .iter()
        .filter(|s| **s == OrderStatus::Rejected)
        .count();
    assert_eq!((confirmed, rejected), (5, 15));
    assert_eq!(system.stock(&product).await, 0);
}

#[tokio::test]
async fn an_order_whose_placement_was_lost_is_placed_again_and_confirmed() {
    let system = system_with(&[("SYNCCHAIN_ORDER_RESEND_AFTER", "200ms")]).await;
    let product = system.product(5).await;
    // PENDING for a minute with no orders.placed on its way: as if the
    // event had been parked by products or lost.
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (id, user_id, product_id, quantity, unit_price, total_amount,
                             status, created_at, updated_at)
         VALUES ($1, $2, $3, 2, 500, 1000, 'PENDING',
                 now() - interval '1 minute', now() - interval '1 minute')",
    )
    .bind(id)
    .bind(uuid::Uuid::new_v4())
    .bind(uuid::Uuid::parse_str(&product).unwrap())
    .execute(&system.orders.pool)
    .await
    .unwrap();

    let order = system
        .orders
        .wait_for_status(&id.to_string(), OrderStatus::Confirmed)
        .await;

    assert_eq!(order.total_amount, 1000);
    assert_eq!(system.stock(&product).await, 3);
}

#[tokio::test]
async fn an_order_of_two_lines_within_the_stock_is_confirmed_and_takes_both() {
    let system = system().await;
    let (_, token) = system.orders.customer();
    let (lamp, shade) = (system.product(5).await, system.product(3).await);

    let order = system
        .orders
        .place_lines(&token, &[(&lamp, 2), (&shade, 3)], 10_000, None)
        .await
        .unwrap();

    assert_eq!(order.status(), OrderStatus::Confirmed, "{order:?}");
    assert_eq!(order.total_amount, 2500);
    assert_eq!(system.stock(&lamp).await, 3);
    assert_eq!(system.stock(&shade).await, 0);
}

#[tokio::test]
async fn an_order_with_a_line_beyond_the_stock_is_rejected_naming_it_and_takes_nothing() {
    let system = system().await;
    let (_, token) = system.orders.customer();
    let (lamp, shade) = (system.product(5).await, system.product(1).await);

    let order = system
        .orders
        .place_lines(&token, &[(&lamp, 2), (&shade, 3)], 10_000, None)
        .await
        .unwrap();

    assert_eq!(order.status(), OrderStatus::Rejected);
    assert_eq!(
        order.rejection_reason,
        format!("insufficient stock for product {shade}: 3 requested, 1 available")
    );
    assert_eq!(system.stock(&lamp).await, 5);
    assert_eq!(system.stock(&shade).await, 1);
}

#[tokio::test]
async fn cancelling_orders_of_several_lines_puts_every_line_back_once() {
    let system = system().await;
    let (_, token) = system.orders.customer();
    let (lamp, shade) = (system.product(12).await, system.product(12).await);

    // Some cancellations overtake their reservations, some follow them.
    let (lamp, shade, token, orders) = (&lamp, &shade, &token, &system.orders);
    let cancelled = join_all((0..4).map(|n| async move {
        let wait = if n % 2 == 0 { 0 } else { 10_000 };
        let order = orders
            .place_lines(token, &[(lamp, 3), (shade, 2)], wait, None)
            .await
            .unwrap();
        orders.cancel(token, &order.id).await
    }))
    .await;

    for outcome in &cancelled {
        assert_eq!(
            outcome.as_ref().ok(),
            Some(&OrderStatus::Cancelled),
            "{cancelled:?}"
        );
    }
    assert!(
        system.stock_becomes(lamp, 12).await,
        "the lamps did not come back"
    );
    assert!(
        system.stock_becomes(shade, 12).await,
        "the shades did not come back"
    );
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reservations WHERE status = 'RESERVED'")
            .fetch_one(&system.products_service.pool)
            .await
            .unwrap();
    assert_eq!(held, 0);
}
