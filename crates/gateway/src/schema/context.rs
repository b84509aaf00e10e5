//! What each resolver can ask of its request: the caller, the client
//! address, and the service clients.

use std::net::IpAddr;

use async_graphql::Context;
use syncchain_platform::auth::Caller;

use super::loaders::Loaders;
use crate::{
    auth::{RequestAuth, Revocations},
    clients::Services,
    errors::ApiError,
    ratelimit::SignInLimiter,
};

/// The client's address, as seen by the gateway (or its trusted proxy).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub IpAddr);

/// Per-request data added to each GraphQL request (or subscription
/// connection).
pub struct RequestContext {
    pub auth: RequestAuth,
    pub address: ClientAddress,
    pub loaders: Loaders,
}

impl RequestContext {
    pub fn new(auth: RequestAuth, address: ClientAddress, services: &Services) -> Self {
        let loaders = Loaders::new(services, auth.token());
        Self {
            auth,
            address,
            loaders,
        }
    }
}

/// How long `placeOrder` waits for the saga's outcome.
#[derive(Debug, Clone, Copy)]
pub struct PlaceOrderWait(pub std::time::Duration);

pub(crate) fn data<'a, T: Send + Sync + 'static>(ctx: &Context<'a>) -> Result<&'a T, ApiError> {
    ctx.data::<T>().map_err(|e| {
        tracing::error!(error = ?e.message, "request context incomplete");
        ApiError::Internal
    })
}

pub(crate) fn request<'a>(ctx: &Context<'a>) -> Result<&'a RequestContext, ApiError> {
    data(ctx)
}

pub(crate) fn services<'a>(ctx: &Context<'a>) -> Result<&'a Services, ApiError> {
    data(ctx)
}

pub(crate) fn revocations<'a>(ctx: &Context<'a>) -> Result<&'a Revocations, ApiError> {
    data(ctx)
}

pub(crate) fn limiter<'a>(ctx: &Context<'a>) -> Result<&'a SignInLimiter, ApiError> {
    data(ctx)
}

/// The signed-in caller, or `UNAUTHENTICATED`.
pub(crate) async fn caller(ctx: &Context<'_>) -> Result<Caller, ApiError> {
    request(ctx)?.auth.caller(revocations(ctx)?).await
}

/// The signed-in caller if an admin; `FORBIDDEN` otherwise.
pub(crate) async fn admin(ctx: &Context<'_>) -> Result<Caller, ApiError> {
    let caller = caller(ctx).await?;
    if caller.is_admin() {
        Ok(caller)
    } else {
        Err(ApiError::Forbidden("only an admin may do this".into()))
    }
}

/// The token to forward to services with a call.
pub(crate) fn token<'a>(ctx: &Context<'a>) -> Result<Option<&'a str>, ApiError> {
    Ok(request(ctx)?.auth.token())
}

pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> Result<&'a Loaders, ApiError> {
    Ok(&request(ctx)?.loaders)
}

pub(crate) fn place_order_wait(ctx: &Context<'_>) -> Result<std::time::Duration, ApiError> {
    Ok(data::<PlaceOrderWait>(ctx)?.0)
}
