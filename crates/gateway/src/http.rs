//! The HTTP surface: `POST /graphql` executes, `GET /graphql` serves the
//! IDE, and the health endpoints. The body is read here with its own limit
//! so an oversized or malformed request gets a GraphQL error with a code,
//! like every other failure, instead of a bare status page.
//!
//! A POST must say `Content-Type: application/json`. Browsers send
//! `text/plain`, form and multipart bodies across sites without asking, so
//! a server that parsed any body as JSON would run mutations for any page
//! a signed-out victim visits (CSRF); a JSON body takes a CORS preflight.

use std::net::{IpAddr, SocketAddr};

use axum::{
    Json,
    body::Body,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    app::AppState,
    auth::RequestAuth,
    errors::ApiError,
    schema::{ClientAddress, RequestContext},
};

pub(crate) fn error_response(status: StatusCode, error: ApiError) -> Response {
    let error = async_graphql::Error::from(error).into_server_error(Default::default());
    let body = serde_json::json!({ "errors": [error] });
    (status, Json(body)).into_response()
}

pub(crate) fn client_address(headers: &HeaderMap, peer: SocketAddr, trust_proxy: bool) -> IpAddr {
    if trust_proxy
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            // The right-most entry is the one our proxy added; entries to its
            // left come from the client and can say anything.
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return forwarded;
    }
    peer.ip()
}

/// Whether the body is declared JSON (`application/json`, or the GraphQL
/// response type some clients send), parameters such as `charset` aside.
fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|media| {
            media.eq_ignore_ascii_case("application/json")
                || media.eq_ignore_ascii_case("application/graphql-response+json")
        })
}

pub async fn graphql(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !declares_json(&headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadUserInput {
                field: None,
                message:
                    "send GraphQL requests as a JSON body with `Content-Type: application/json`"
                        .into(),
            },
        );
    }
    let limit = state.limits.max_body_bytes;
    let read = tokio::time::timeout(state.body_timeout, axum::body::to_bytes(body, limit));
    let bytes = match read.await {
        Ok(Ok(bytes)) => bytes,
        Err(_) => return body_too_slow(state.body_timeout),
        Ok(Err(error)) if over_limit(&error) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiError::BadUserInput {
                    field: None,
                    message: format!("the request body is larger than {limit} bytes"),
                },
            );
        }
        // Malformed framing (a bad chunk), or the client went away.
        Ok(Err(_)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ApiError::BadUserInput {
                    field: None,
                    message: "the request body could not be read".into(),
                },
            );
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                ApiError::BadUserInput {
                    field: None,
                    message: "the body must be one JSON object with `query` and optional `variables` and `operationName`".into(),
                },
            );
        }
    };
    let auth = RequestAuth::from_header(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let address = ClientAddress(client_address(&headers, peer, state.trust_proxy));
    let context = RequestContext::new(auth, address, &state.services);
    let response = state.schema.execute(request.data(context)).await;
    Json(response).into_response()
}

/// The whole body must arrive within the body timeout: a client that
/// trickles it would otherwise hold its connection for as long as it likes.
fn body_too_slow(timeout: std::time::Duration) -> Response {
    let mut response = error_response(
        StatusCode::REQUEST_TIMEOUT,
        ApiError::BadUserInput {
            field: None,
            message: format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ),
        },
    );
    // The rest of the body may still be on its way: do not read it.
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// `GET /graphql`: a WebSocket upgrade for subscriptions
/// (graphql-transport-ws, or the older graphql-ws), else the IDE page.
pub async fn get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let (parts, _body) = request.into_parts();
    let upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        return crate::subscriptions::upgrade(state, peer, parts).await;
    }
    ide(state)
}

/// The IDE page, or 404 when it is turned off.
fn ide(state: AppState) -> Response {
    if state.graphiql {
        crate::ide::page()
    } else {
        (
            StatusCode::NOT_FOUND,
            "The GraphQL IDE is turned off here; POST GraphQL requests to /graphql.",
        )
            .into_response()
    }
}

/// Whether reading the body failed because it passed the size limit.
fn over_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_bodies_are_accepted() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            declares_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/graphql-response+json"));
        for refused in [
            "text/plain",
            "text/plain; charset=application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
        ] {
            assert!(!with(refused), "{refused}");
        }
        assert!(!declares_json(&HeaderMap::new()), "no content type");
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.7, 203.0.113.9".parse().unwrap(),
        );
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(client_address(&headers, peer, false), peer.ip());
        assert_eq!(
            client_address(&headers, peer, true),
            "203.0.113.9".parse::<IpAddr>().unwrap(),
            "the left entry is the client's own claim; the right one our proxy saw"
        );
    }
}
