//! What the gateway measures, in the process's registry
//! ([`syncchain_platform::metrics`]) on the admin listener's `/metrics`:
//!
//! - each GraphQL request by operation and outcome, its duration, and its
//!   errors by `extensions.code` ([`GraphqlMetrics`]);
//! - each call to a service by gRPC method ([`CountedChannel`]). The
//!   per-method count is what shows the DataLoaders at work: a list of
//!   orders with their users and products costs one `GetUsers` and one
//!   `GetProducts`, however long the list.
//!
//! The operation label is the one root field the operation selects
//! (`placeOrder`, `products`, `__typename`), `multiple` when it selects
//! more, and `invalid` when the document never ran (unparsable, refused by
//! the cost guard or by validation). It is taken only from documents that
//! passed validation, so it is always a field of the schema: a client's
//! operation names and made-up fields never become series.
//!
//! Each operation that runs does so in a `graphql_operation` span named by
//! the same label, inside the request's `http_request` span.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Instant,
};

use async_graphql::{
    Response, ServerResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    },
    parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, Selection},
};
use syncchain_platform::metrics::{Counters, Metrics, Seconds};
use tonic::{body::Body, transport::Channel};
use tracing::Instrument;

type Operation = [(&'static str, String); 1];
type Outcome = [(&'static str, String); 2];

/// The GraphQL series, shared by every request's [`Observed`] extension.
#[derive(Clone)]
pub struct GraphqlMetrics {
    requests: Counters<Outcome>,
    errors: Counters<Outcome>,
    durations: Seconds<Operation>,
}

impl GraphqlMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            requests: metrics.counters(
                "graphql_requests",
                "GraphQL requests over HTTP, by operation (its root field) and outcome (ok, or error when the response has errors).",
            ),
            errors: metrics.counters(
                "graphql_errors",
                "Errors in GraphQL responses, by operation and extensions.code.",
            ),
            durations: metrics.seconds(
                "graphql_request_duration",
                "Time to answer a GraphQL request over HTTP, by operation.",
            ),
        }
    }
}

impl ExtensionFactory for GraphqlMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Observed {
            metrics: self.clone(),
            roots: Mutex::default(),
            ran: Mutex::default(),
        })
    }
}

/// One request's measurement.
struct Observed {
    metrics: GraphqlMetrics,
    /// The root-field label of each operation in the parsed document,
    /// keyed by operation name (`None`: the document's one anonymous one).
    roots: Mutex<HashMap<Option<String>, String>>,
    /// The label of the operation that passed validation and ran.
    ran: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Extension for Observed {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let operation = self
            .ran
            .lock()
            .ok()
            .and_then(|mut ran| ran.take())
            .unwrap_or_else(|| "invalid".to_owned());
        let outcome = if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        self.metrics
            .requests
            .get_or_create(&[
                ("operation", operation.clone()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
        for error in &response.errors {
            let code = match error.extensions.as_ref().and_then(|ext| ext.get("code")) {
                Some(async_graphql::Value::String(code)) => code.clone(),
                _ => "BAD_USER_INPUT".to_owned(),
            };
            self.metrics
                .errors
                .get_or_create(&[("operation", operation.clone()), ("code", code)])
                .inc();
        }
        self.metrics
            .durations
            .get_or_create(&[("operation", operation)])
            .observe(started.elapsed().as_secs_f64());
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let roots = match &document.operations {
            DocumentOperations::Single(operation) => {
                HashMap::from([(None, root_label(&operation.node))])
            }
            DocumentOperations::Multiple(operations) => operations
                .iter()
                .map(|(name, operation)| (Some(name.to_string()), root_label(&operation.node)))
                .collect(),
        };
        if let Ok(mut slot) = self.roots.lock() {
            *slot = roots;
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        // Reached only once the document passed validation.
        let label = self.roots.lock().ok().and_then(|roots| {
            roots
                .get(&operation_name.map(str::to_owned))
                .or_else(|| (roots.len() == 1).then(|| roots.values().next()).flatten())
                .cloned()
        });
        let span = tracing::info_span!(
            "graphql_operation",
            operation = label.as_deref().unwrap_or("unknown")
        );
        if let (Some(label), Ok(mut ran)) = (label, self.ran.lock()) {
            *ran = Some(label);
        }
        next.run(ctx, operation_name).instrument(span).await
    }
}

/// The one root field an operation selects, or `multiple`.
fn root_label(operation: &OperationDefinition) -> String {
    match operation.selection_set.node.items.as_slice() {
        [only] => match &only.node {
            Selection::Field(field) => field.node.name.node.to_string(),
            _ => "multiple".to_owned(),
        },
        _ => "multiple".to_owned(),
    }
}

/// A channel that counts each call by its gRPC method.
#[derive(Clone)]
pub struct CountedChannel {
    inner: Channel,
    calls: Counters<Operation>,
}

impl CountedChannel {
    pub fn new(inner: Channel, metrics: &Metrics) -> Self {
        Self {
            inner,
            calls: metrics.counters(
                "grpc_client_requests",
                "gRPC calls the gateway made to the services, by method.",
            ),
        }
    }
}

impl tower::Service<http::Request<Body>> for CountedChannel {
    type Response = <Channel as tower::Service<http::Request<Body>>>::Response;
    type Error = <Channel as tower::Service<http::Request<Body>>>::Error;
    type Future = <Channel as tower::Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // "/syncchain.users.v1.Users/GetUsers" -> "users.v1.Users/GetUsers"
        let path = request.uri().path();
        let method = path.strip_prefix("/syncchain.").unwrap_or(path);
        self.calls
            .get_or_create(&[("method", method.to_owned())])
            .inc();
        self.inner.call(request)
    }
}
