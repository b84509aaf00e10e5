//! Signing in and out: the predecessor's `signin` query (kept for its
//! clients), the `signIn` mutation that also returns the expiry and the
//! user, and `signOut`, which revokes the token it is called with.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use syncchain_platform::{auth::Role as TokenRole, grpc::request};
use syncchain_proto::users::v1 as pb;

use super::{
    context::{caller, limiter, request as request_context, revocations, services},
    users::User,
};
use crate::errors::{ApiError, ApiResult};

#[derive(InputObject)]
pub struct SigninInput {
    pub email: String,
    pub password: String,
}

#[derive(SimpleObject)]
pub struct Token {
    pub token: String,
}

#[derive(SimpleObject)]
pub struct SignInPayload {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

async fn sign_in(ctx: &Context<'_>, input: SigninInput) -> ApiResult<SignInPayload> {
    let address = request_context(ctx)?.address.0;
    let limiter = limiter(ctx)?;
    // Counted before the password is checked: see `ratelimit`.
    let pass = limiter.admit_sign_in(&input.email, address).await?;
    let message = pb::VerifyCredentialsRequest {
        email: input.email,
        password: input.password,
    };
    let result = services(ctx)?
        .users
        .clone()
        .verify_credentials(request(message, None))
        .await;
    let user = match result {
        Ok(user) => {
            limiter.signed_in(pass).await;
            user.into_inner()
        }
        Err(status) => {
            let error = ApiError::from_status(status, "users.VerifyCredentials");
            if matches!(
                error,
                ApiError::Unauthenticated(_) | ApiError::BadUserInput { .. }
            ) {
                // One answer for every wrong credential, whatever was wrong.
                return Err(ApiError::Unauthenticated("wrong email or password".into()));
            }
            return Err(error);
        }
    };
    let user = User::from(user);
    let user_id = uuid::Uuid::parse_str(user.id.as_str()).map_err(|error| {
        tracing::error!(%error, "users service returned a malformed id");
        ApiError::Internal
    })?;
    let role = match user.role {
        super::users::Role::Admin => TokenRole::Admin,
        super::users::Role::Customer => TokenRole::Customer,
    };
    let issued = revocations(ctx)?
        .keys()
        .issue(user_id, role)
        .map_err(|error| {
            tracing::error!(%error, "cannot sign token");
            ApiError::Internal
        })?;
    Ok(SignInPayload {
        token: issued.token,
        expires_at: issued.caller.expires_at,
        user,
    })
}

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// Signs in and returns a token (kept as a query for existing clients;
    /// new clients use the `signIn` mutation).
    async fn signin(&self, ctx: &Context<'_>, input: SigninInput) -> ApiResult<Token> {
        Ok(Token {
            token: sign_in(ctx, input).await?.token,
        })
    }
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Signs in: a token to send as `Authorization: Bearer <token>`, when
    /// it expires, and who it belongs to.
    async fn sign_in(&self, ctx: &Context<'_>, input: SigninInput) -> ApiResult<SignInPayload> {
        sign_in(ctx, input).await
    }

    /// Revokes the token this request was made with.
    async fn sign_out(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let caller = caller(ctx).await?;
        let token = super::context::token(ctx)?.ok_or(ApiError::Internal)?;
        revocations(ctx)?.revoke(&caller, token).await?;
        Ok(true)
    }
}
