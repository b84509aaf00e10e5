//! `spawn_app` and friends: a running service per test, tokens to act as an
//! admin or a customer, and the two ends of the event streams: publishing
//! order events and reading what the service emitted.

use std::{ops::Deref, time::Duration};

use async_nats::jetstream;
use syncchain_events::{
    Envelope, Event,
    payloads::orders::{OrderLineV2, OrderPlacedV1, OrderPlacedV2},
    streams,
};
use syncchain_platform::{auth::Role, grpc};
use syncchain_products::config::DATABASE_URL_VAR;
use syncchain_proto::products::v1::{self as proto, products_client::ProductsClient};
use syncchain_testkit::service::TestService;
use tonic::transport::Channel;
use uuid::Uuid;

/// How long anything event-driven may take before a test gives up.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The running service (its address, pool, namespace and keys through
/// `Deref`) with a client, its cache's key prefix and a JetStream context.
pub struct TestApp {
    pub client: ProductsClient<Channel>,
    pub redis_prefix: String,
    pub jetstream: jetstream::Context,
    service: TestService,
}

impl Deref for TestApp {
    type Target = TestService;

    fn deref(&self) -> &TestService {
        &self.service
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A service with extra configuration variables on top of the test
/// defaults. A test may give `SYNCCHAIN_PRODUCTS_DATABASE_URL`,
/// `SYNCCHAIN_EVENTS_NAMESPACE`, `SYNCCHAIN_JWT_SECRET` and
/// `SYNCCHAIN_REDIS_PREFIX` of another app to run a second instance of it.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let redis_prefix = extra
        .iter()
        .find(|(k, _)| *k == "SYNCCHAIN_REDIS_PREFIX")
        .map_or_else(syncchain_testkit::namespace, |(_, v)| (*v).to_owned());
    let redis_url = syncchain_testkit::redis_url();
    let mut vars = vec![
        ("SYNCCHAIN_PRODUCTS_DB_MAX_CONNECTIONS", "5"),
        ("SYNCCHAIN_REDIS_URL", redis_url.as_str()),
        ("SYNCCHAIN_REDIS_PREFIX", redis_prefix.as_str()),
    ];
    vars.extend_from_slice(extra);
    let service = TestService::spawn::<syncchain_products::Config>(&vars).await;
    let client = ProductsClient::connect(service.url())
        .await
        .expect("connect to the service");
    let jetstream = syncchain_testkit::jetstream(&syncchain_testkit::nats_url()).await;
    TestApp {
        client,
        redis_prefix,
        jetstream,
        service,
    }
}

impl TestApp {
    /// Another instance of this service: same database, namespace, secret
    /// and cache.
    pub async fn another_instance(&self) -> TestApp {
        spawn_app_with(&[
            (DATABASE_URL_VAR, &self.database_url),
            ("SYNCCHAIN_EVENTS_NAMESPACE", self.namespace.as_str()),
            ("SYNCCHAIN_JWT_SECRET", &self.secret),
            ("SYNCCHAIN_REDIS_PREFIX", &self.redis_prefix),
        ])
        .await
    }

    /// Asks the service to stop and waits until it has.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.service.stop().await
    }

    pub fn client(&self) -> ProductsClient<Channel> {
        self.client.clone()
    }

    pub fn token(&self, role: Role) -> String {
        self.keys.issue(Uuid::new_v4(), role).unwrap().token
    }

    pub fn admin(&self) -> String {
        self.token(Role::Admin)
    }

    /// Creates a product as an admin.
    pub async fn create(&self, name: &str, price: i64, stock: i64) -> proto::Product {
        let request = proto::CreateProductRequest {
            name: name.into(),
            description: format!("All about {name}."),
            price,
            stock,
        };
        self.client()
            .create_product(as_caller(request, &self.admin()))
            .await
            .expect("an admin creates a product")
            .into_inner()
    }

    pub async fn get(&self, id: &str) -> Result<proto::Product, tonic::Status> {
        let request = proto::GetProductRequest {
            id: id.into(),
            fresh: false,
        };
        self.client()
            .get_product(request)
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn list(&self, request: proto::ListProductsRequest) -> proto::ListProductsResponse {
        self.client()
            .list_products(request)
            .await
            .expect("listing succeeds")
            .into_inner()
    }

    pub async fn restock(&self, id: &str, quantity: i64) -> Result<proto::Product, tonic::Status> {
        let request = proto::RestockProductRequest {
            id: id.into(),
            quantity,
        };
        self.client()
            .restock_product(as_caller(request, &self.admin()))
            .await
            .map(tonic::Response::into_inner)
    }

    /// The stock as the database holds it, bypassing service and cache.
    pub async fn stock_in_db(&self, id: &str) -> i64 {
        sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
            .bind(Uuid::parse_str(id).unwrap())
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// The reservation rows recorded for `order_id`.
    pub async fn reservations_of(&self, order_id: Uuid) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM reservations WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Waits until durable consumer `consumer` of `stream` has settled every
    /// message published so far (see [`syncchain_testkit::consumer_settled`]).
    pub async fn consumer_settled(&self, stream: &str, consumer: &str) -> bool {
        syncchain_testkit::consumer_settled(
            &self.jetstream,
            &self.namespace.stream(stream),
            consumer,
            DEADLINE,
        )
        .await
    }

    /// Publishes `event` on the ORDERS stream, as the orders relay would.
    pub async fn publish<E: Event>(&self, event: &E) -> Envelope {
        let envelope = Envelope::new(event).unwrap();
        self.publish_envelope(&envelope).await;
        envelope
    }

    /// Publishes `envelope` as a new message each time (no `Nats-Msg-Id`,
    /// so JetStream stores a repeat instead of dropping it): how a
    /// redelivery looks to the consumer.
    pub async fn publish_envelope(&self, envelope: &Envelope) {
        self.jetstream
            .publish(
                self.namespace.subject(&envelope.event_type),
                envelope.to_json().unwrap().into(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Every event on the PRODUCTS stream of `event_type`, oldest first.
    pub async fn emitted(&self, event_type: &str) -> Vec<Envelope> {
        let subject = self.namespace.subject(event_type);
        let Ok(stream) = self
            .jetstream
            .get_stream(self.namespace.stream(streams::PRODUCTS))
            .await
        else {
            return Vec::new();
        };
        let Ok(info) = stream.get_info().await else {
            return Vec::new();
        };
        let mut events = Vec::new();
        if info.state.messages == 0 {
            return events;
        }
        for sequence in info.state.first_sequence..=info.state.last_sequence {
            if let Ok(message) = stream.get_raw_message(sequence).await
                && message.subject.as_str() == subject
            {
                events.push(Envelope::from_json(&message.payload).unwrap());
            }
        }
        events
    }

    /// The `E` events emitted so far that concern `order_id`.
    pub async fn emitted_for<E: Event>(&self, order_id: Uuid) -> Vec<E> {
        self.emitted(E::TYPE)
            .await
            .into_iter()
            .filter(|e| e.version == E::VERSION && e.payload["order_id"] == order_id.to_string())
            .map(|e| e.decode::<E>().unwrap())
            .collect()
    }
}

/// A new order for `quantity` of the product, as the orders service
/// announces it.
pub fn placed(product_id: &str, quantity: i64) -> OrderPlacedV1 {
    OrderPlacedV1 {
        order_id: Uuid::now_v7(),
        user_id: Uuid::now_v7(),
        product_id: Uuid::parse_str(product_id).unwrap(),
        quantity,
        unit_price: 100,
        total_amount: 100 * quantity,
    }
}

/// A new order of several lines, `(product id, quantity)` each, as the
/// orders service announces it.
pub fn placed_lines(lines: &[(&str, i64)]) -> OrderPlacedV2 {
    let lines: Vec<OrderLineV2> = lines
        .iter()
        .map(|(product_id, quantity)| OrderLineV2 {
            product_id: Uuid::parse_str(product_id).unwrap(),
            quantity: *quantity,
            unit_price: 100,
        })
        .collect();
    OrderPlacedV2 {
        order_id: Uuid::now_v7(),
        user_id: Uuid::now_v7(),
        total_amount: lines.iter().map(|l| l.quantity * l.unit_price).sum(),
        lines,
    }
}

/// A request carrying `token` in its `authorization` metadata.
pub fn as_caller<T>(message: T, token: &str) -> tonic::Request<T> {
    grpc::request(message, Some(token))
}
