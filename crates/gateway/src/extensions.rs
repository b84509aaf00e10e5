//! Schema extensions that hold for every transport.
//!
//! `ErrorCodes` gives every error a code, whether the response goes out
//! over HTTP or on a WebSocket: errors raised by our resolvers carry one
//! already, and those raised by the GraphQL engine itself (syntax, unknown
//! fields, wrong variable types, depth and complexity limits) are the
//! client's doing and become `BAD_USER_INPUT`.
//!
//! `CostGuard` prices every document before the engine parses, checks or
//! runs it (see [`crate::cost`]). It hooks `prepare_request`, the first
//! step of async-graphql's pipeline, not `parse_query`: the future that
//! `parse_query` extensions wrap runs the engine's recursion-depth and
//! directive checks right after parsing, and those follow every fragment
//! spread, which is the very walk a fragment bomb makes explode. The guard
//! hands the engine the document it parsed, so the text is parsed once.
//!
//! `SubscriptionsOnlyOnSockets` refuses queries and mutations sent on a
//! WebSocket: those go over HTTP POST, where the body limit applies and
//! mutations are only accepted that way.

use std::sync::Arc;

use async_graphql::{
    Request, Response, ServerError, ServerResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
        NextRequest, NextSubscribe,
    },
    futures_util::stream::BoxStream,
    parser::types::{ExecutableDocument, OperationType},
};
use futures::StreamExt;

use crate::cost::{self, Budget};

/// Marks the data of a WebSocket connection.
pub struct WebSocketConnection;

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        ensure_codes(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                ensure_codes(&mut response);
                response
            })
            .boxed()
    }
}

/// Gives every error in a response a code (see the module docs).
pub fn ensure_codes(response: &mut Response) {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "BAD_USER_INPUT");
        }
    }
}

/// Refuses documents over budget before anything else looks at them.
pub struct CostGuard(pub Budget);

impl ExtensionFactory for CostGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostGuard(self.0))
    }
}

#[async_trait::async_trait]
impl Extension for CostGuard {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let admission = cost::admit(&request.query, &request.variables, self.0);
        let (document, _price) = admission
            .outcome
            .map_err(cost::Refusal::into_server_error)?;
        request.set_parsed_query(document);
        next.run(ctx, request).await
    }
}

pub struct SubscriptionsOnlyOnSockets;

impl ExtensionFactory for SubscriptionsOnlyOnSockets {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(SubscriptionsOnlyOnSockets)
    }
}

#[async_trait::async_trait]
impl Extension for SubscriptionsOnlyOnSockets {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let on_socket = ctx.data_opt::<WebSocketConnection>().is_some();
        let not_subscription = document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty != OperationType::Subscription);
        if on_socket && not_subscription {
            let mut error = ServerError::new(
                "only subscriptions run on a WebSocket; send queries and mutations as HTTP POST",
                None,
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "BAD_USER_INPUT");
            return Err(error);
        }
        Ok(document)
    }
}
