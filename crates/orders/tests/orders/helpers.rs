//! `spawn_app` and friends: a running orders service per test, callers
//! with tokens, products' answers published to the real broker, and reads
//! of what orders published.

use std::{ops::Deref, time::Duration};

use async_nats::jetstream;
use syncchain_events::{
    Envelope, Event,
    payloads::products::{StockRejectedV1, StockRejection, StockReservedV1},
    streams,
};
use syncchain_platform::{auth::Role, grpc};
use syncchain_proto::orders::v1::{
    self as proto, GetOrderRequest, OrderStatus, PlaceOrderRequest, orders_client::OrdersClient,
};
use syncchain_testkit::{eventually, service::TestService};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::products_double::FixedPrices;

/// How long anything asynchronous may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The running service (its address, pool, namespace and keys through
/// `Deref`) with a client, a JetStream context and the products double
/// it asks for prices.
pub struct TestApp {
    pub client: OrdersClient<Channel>,
    pub jetstream: jetstream::Context,
    pub prices: FixedPrices,
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
/// defaults. `SYNCCHAIN_EVENTS_NAMESPACE` and `SYNCCHAIN_JWT_SECRET` may be
/// given to share them with another service; `SYNCCHAIN_PRODUCTS_URL` to
/// ask another products service than the test double.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let prices = FixedPrices::default();
    let products_url = format!("http://{}", prices.clone().serve().await);
    let mut vars = vec![
        ("SYNCCHAIN_ORDERS_DB_MAX_CONNECTIONS", "5"),
        ("SYNCCHAIN_PRODUCTS_URL", products_url.as_str()),
    ];
    vars.extend_from_slice(extra);
    let service = TestService::spawn::<syncchain_orders::Config>(&vars).await;
    let client = OrdersClient::connect(service.url())
        .await
        .expect("connect to the service");
    let jetstream = jetstream::new(
        async_nats::connect(syncchain_testkit::nats_url())
            .await
            .expect("connect to NATS"),
    );
    TestApp {
        client,
        jetstream,
        prices,
        service,
    }
}

impl TestApp {
    /// Asks the service to stop and waits until it has.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.service.stop().await
    }

    pub fn client(&self) -> OrdersClient<Channel> {
        self.client.clone()
    }

    /// Someone new with `role`, and a token for them as the gateway forwards it.
    pub fn caller(&self, role: Role) -> (Uuid, String) {
        let id = Uuid::new_v4();
        (id, self.keys.issue(id, role).expect("issue a token").token)
    }

    pub fn customer(&self) -> (Uuid, String) {
        self.caller(Role::Customer)
    }

    pub fn admin_token(&self) -> String {
        self.caller(Role::Admin).1
    }

    /// A product priced `price` that products knows.
    pub fn product(&self, price: i64) -> String {
        self.prices.add(price)
    }

    pub async fn place(
        &self,
        token: &str,
        product_id: &str,
        quantity: i64,
        wait_ms: u32,
    ) -> Result<proto::Order, tonic::Status> {
        self.place_keyed(token, product_id, quantity, wait_ms, None)
            .await
    }

    /// [`Self::place`] with an idempotency key, when given.
    pub async fn place_keyed(
        &self,
        token: &str,
        product_id: &str,
        quantity: i64,
        wait_ms: u32,
        key: Option<&str>,
    ) -> Result<proto::Order, tonic::Status> {
        let request = PlaceOrderRequest {
            product_id: product_id.to_owned(),
            quantity,
            wait_ms,
            idempotency_key: key.map(str::to_owned),
            lines: Vec::new(),
        };
        self.send(token, request).await
    }

    /// Places an order of `lines`, `(product id, quantity)` each.
    pub async fn place_lines(
        &self,
        token: &str,
        lines: &[(&str, i64)],
        wait_ms: u32,
        key: Option<&str>,
    ) -> Result<proto::Order, tonic::Status> {
        let request = PlaceOrderRequest {
            wait_ms,
            idempotency_key: key.map(str::to_owned),
            lines: lines
                .iter()
                .map(|(product_id, quantity)| proto::OrderLineInput {
                    product_id: (*product_id).to_owned(),
                    quantity: *quantity,
                })
                .collect(),
            ..PlaceOrderRequest::default()
        };
        self.send(token, request).await
    }

    async fn send(
        &self,
        token: &str,
        request: PlaceOrderRequest,
    ) -> Result<proto::Order, tonic::Status> {
        self.client()
            .place_order(as_caller(request, token))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Cancels order `id` as the holder of `token`; the status it ends in.
    pub async fn cancel(&self, token: &str, id: &str) -> Result<OrderStatus, tonic::Status> {
        self.client()
            .cancel_order(as_caller(
                proto::CancelOrderRequest { id: id.into() },
                token,
            ))
            .await
            .map(|r| r.into_inner().status())
    }

    /// The histories of `ids` the holder of `token` may see.
    pub async fn histories(
        &self,
        token: &str,
        ids: &[&str],
    ) -> Result<Vec<proto::OrderHistory>, tonic::Status> {
        let request = proto::GetOrdersRequest {
            ids: ids.iter().map(|id| (*id).to_owned()).collect(),
        };
        self.client()
            .get_order_histories(as_caller(request, token))
            .await
            .map(|r| r.into_inner().histories)
    }

    /// A PENDING order of `quantity` items at 250 a piece, placed without waiting.
    pub async fn pending_order(&self, token: &str, quantity: i64) -> proto::Order {
        let product = self.product(250);
        self.place(token, &product, quantity, 0)
            .await
            .expect("the order is placed")
    }

    pub async fn get(&self, token: &str, id: &str) -> Result<proto::Order, tonic::Status> {
        let request = GetOrderRequest { id: id.to_owned() };
        self.client()
            .get_order(as_caller(request, token))
            .await
            .map(tonic::Response::into_inner)
    }

    /// The order once it is in `status`; fails the test past the deadline.
    pub async fn wait_for_status(&self, id: &str, status: OrderStatus) -> proto::Order {
        let admin = self.admin_token();
        let reached = eventually(DEADLINE, || async {
            self.get(&admin, id)
                .await
                .is_ok_and(|order| order.status() == status)
        })
        .await;
        assert!(reached, "order {id} did not become {status:?} in time");
        self.get(&admin, id).await.unwrap()
    }

    /// Products' answer that stock was reserved for `order`.
    pub fn reserved(&self, order: &proto::Order) -> Envelope {
        envelope(&StockReservedV1 {
            order_id: order.id.parse().unwrap(),
            product_id: order.product_id.parse().unwrap(),
            quantity: order.quantity,
            remaining: 10,
        })
    }

    /// Products' answer that there was not enough stock for `order`.
    pub fn rejected(&self, order: &proto::Order) -> Envelope {
        envelope(&StockRejectedV1 {
            order_id: order.id.parse().unwrap(),
            product_id: order.product_id.parse().unwrap(),
            quantity: order.quantity,
            reason: StockRejection::InsufficientStock,
            available: 1,
        })
    }

    /// Publishes `envelope` on its subject of the PRODUCTS stream, without
    /// a message id, so publishing it twice stores it twice (a redelivery).
    pub async fn publish(&self, envelope: &Envelope) {
        let subject = self.namespace.subject(&envelope.event_type);
        self.jetstream
            .publish(subject, envelope.to_json().unwrap().into())
            .await
            .expect("publish")
            .await
            .expect("JetStream stores the event");
    }

    /// Returns once the saga consumer has settled everything published to
    /// PRODUCTS before this call: JetStream has nothing left to deliver to
    /// it and nothing delivered waits for an acknowledgement, which the
    /// consumer sends after its transaction commits (or parks the message).
    pub async fn saga_caught_up(&self) {
        let handled = syncchain_testkit::consumer_settled(
            &self.jetstream,
            &self.namespace.stream(streams::PRODUCTS),
            syncchain_orders::saga::CONSUMER,
            DEADLINE,
        )
        .await;
        assert!(handled, "the saga consumer did not catch up in time");
    }

    /// Every event of `event_type` orders published about `order_id`, in order.
    pub async fn published(&self, event_type: &str, order_id: &str) -> Vec<Envelope> {
        let subject = self.namespace.subject(event_type);
        let Ok(mut stream) = self
            .jetstream
            .get_stream(self.namespace.stream(streams::ORDERS))
            .await
        else {
            return Vec::new();
        };
        let Ok(info) = stream.info().await else {
            return Vec::new();
        };
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut found = Vec::new();
        for sequence in first..=last {
            let Ok(message) = stream.get_raw_message(sequence).await else {
                continue;
            };
            if message.subject.as_str() != subject {
                continue;
            }
            let envelope = Envelope::from_json(&message.payload).unwrap();
            if envelope.payload["order_id"] == order_id {
                found.push(envelope);
            }
        }
        found
    }

    /// The events of `event_type` about `order_id`, once there are `count`.
    pub async fn wait_for_published(
        &self,
        event_type: &str,
        order_id: &str,
        count: usize,
    ) -> Vec<Envelope> {
        let appeared = eventually(DEADLINE, || async {
            self.published(event_type, order_id).await.len() >= count
        })
        .await;
        assert!(
            appeared,
            "{count} × {event_type} for {order_id} not published in time"
        );
        self.published(event_type, order_id).await
    }

    /// Rows in the orders table.
    pub async fn stored_orders(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

pub fn envelope<E: Event>(event: &E) -> Envelope {
    Envelope::new(event).unwrap()
}

/// A request carrying `token` in its `authorization` metadata.
pub fn as_caller<T>(message: T, token: &str) -> tonic::Request<T> {
    grpc::request(message, Some(token))
}
