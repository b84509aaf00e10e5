//! A small GraphQL IDE served by the gateway itself, so it works offline
//! and loads nothing from elsewhere: an editor for the operation, its
//! variables and the Authorization header, the response, and a schema
//! browser built from introspection (when introspection is on).

use axum::{
    http::header,
    response::{Html, IntoResponse, Response},
};

const PAGE: &str = include_str!("ide/index.html");
const SCRIPT: &str = include_str!("ide/ide.js");
const STYLE: &str = include_str!("ide/ide.css");

pub fn page() -> Response {
    Html(PAGE).into_response()
}

pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

pub async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}
