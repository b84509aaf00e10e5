//! The HTTP server: our own accept loop over hyper, because the gateway
//! must shed clients that hold sockets without using them, and
//! `axum::serve` has no timeouts and no connection cap.
//!
//! - **Connection cap.** Every open socket holds a permit, WebSockets
//!   included (the permit lives inside the socket, so it moves with an
//!   upgrade). A connection accepted with no permit left is closed at once:
//!   the process never runs out of file descriptors, and the refused client
//!   learns it straight away instead of waiting in the backlog.
//! - **Header timeout.** hyper's `header_read_timeout` closes an HTTP/1
//!   connection whose request head has not arrived in time; its timer starts
//!   when the connection opens and again whenever it goes idle after a
//!   response, so on HTTP/1 an idle keep-alive connection lives at most this
//!   long. hyper does not time the protocol sniffing before it (nor HTTP/2),
//!   so a connection must also have started its first request within the
//!   header timeout or it is closed here.
//! - **Idle timeout.** A connection with no request in flight for this long
//!   is closed gracefully (HTTP/2 gets a GOAWAY).
//! - The body and request timeouts are per request: see `http.rs` and
//!   [`request_timeout`].
//!
//! On shutdown the listener stops accepting, every connection is asked to
//! close gracefully (requests in flight finish) and `serve` returns once
//! they have. Upgraded WebSockets are not waited for.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use syncchain_platform::request_id::{self, RequestId};
use syncchain_platform::shutdown::Shutdown;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
    time::Instant,
};
use tower::ServiceExt;

use crate::{config::HttpLimits, errors::ApiError};

/// Serves `router` on `listener` until `shutdown`, then drains.
pub async fn serve(listener: TcpListener, router: Router, limits: HttpLimits, shutdown: Shutdown) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    // Each connection task holds a sender; when all are gone, all are done.
    let (draining, mut drained) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, or a connection that died in the
                // backlog: wait a moment rather than spin.
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(client = %peer, "connection refused: at the connection cap");
            drop(stream);
            continue;
        };
        syncchain_platform::net::accepted(&stream);
        let connection = Connection {
            builder: builder.clone(),
            router: router.clone(),
            limits,
            shutdown: shutdown.clone(),
            _draining: draining.clone(),
        };
        tokio::spawn(connection.run(Counted::new(stream, permit), peer));
    }
    drop(listener);
    drop(draining);
    let _ = drained.recv().await;
}

struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    limits: HttpLimits,
    shutdown: Shutdown,
    _draining: mpsc::Sender<()>,
}

impl Connection {
    async fn run(self, stream: Counted, peer: SocketAddr) {
        let activity = Activity::new();
        let service = {
            let (router, activity) = (self.router.clone(), activity.clone());
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let busy = activity.begin();
                let router = router.clone();
                async move {
                    let response = router.oneshot(request.map(Body::new)).await;
                    drop(busy);
                    response
                }
            })
        };
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, client = %peer, "connection ended with an error");
                    }
                    return;
                }
                () = self.shutdown.cancelled(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = activity.expired(&self.limits), if !closing => {
                    tracing::debug!(client = %peer, "closing an idle connection");
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// What a connection is doing, for its idle timer.
#[derive(Clone)]
struct Activity(Arc<Mutex<ActivityState>>);

struct ActivityState {
    opened: Instant,
    in_flight: usize,
    /// When the last request ended; `None` before the first one began.
    last: Option<Instant>,
}

/// A request in flight; ends it when dropped.
struct Busy(Activity);

impl Activity {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(ActivityState {
            opened: Instant::now(),
            in_flight: 0,
            last: None,
        })))
    }

    fn update(&self, f: impl FnOnce(&mut ActivityState)) {
        if let Ok(mut state) = self.0.lock() {
            f(&mut state);
        }
    }

    fn begin(&self) -> Busy {
        self.update(|state| {
            state.in_flight += 1;
            state.last.get_or_insert_with(Instant::now);
        });
        Busy(self.clone())
    }

    /// When the connection counts as idle unless something happens first;
    /// `None` while a request is in flight.
    fn deadline(&self, limits: &HttpLimits) -> Option<Instant> {
        let state = self.0.lock().ok()?;
        match (state.in_flight, state.last) {
            (0, None) => Some(state.opened + limits.header_timeout),
            (0, Some(last)) => Some(last + limits.idle_timeout),
            _ => None,
        }
    }

    /// Completes once the connection has been idle too long.
    async fn expired(&self, limits: &HttpLimits) {
        loop {
            let now = Instant::now();
            match self.deadline(limits) {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => tokio::time::sleep(limits.idle_timeout).await,
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|state| {
            state.in_flight = state.in_flight.saturating_sub(1);
            state.last = Some(Instant::now());
        });
    }
}

/// A socket that holds its connection permit for as long as it is open,
/// through a WebSocket upgrade too.
struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Counted {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit) -> Self {
        Self {
            stream,
            _permit: permit,
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Middleware: the request is handled under its id
/// ([`syncchain_platform::request_id`]), the client's `x-request-id` when
/// plausible, else a fresh one, and the response carries it. Outside the
/// timeout, so the timeout's line and answer carry the id too.
pub async fn request_id(request: Request, next: Next) -> Response {
    let id = RequestId::parse_or_generate(
        request
            .headers()
            .get(request_id::HEADER)
            .and_then(|value| value.to_str().ok()),
    );
    let span = tracing::info_span!("http_request", request_id = %id, path = %request.uri().path());
    syncchain_platform::trace::continue_from_headers(&span, request.headers());
    let mut response = request_id::scope(id.clone(), span, next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    response
}

/// Middleware: a request that takes longer than `timeout` gets a coded
/// GraphQL error (503) instead of holding its connection.
pub async fn request_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_ms = timeout.as_millis() as u64, "request timed out");
            crate::http::error_response(StatusCode::SERVICE_UNAVAILABLE, ApiError::Unavailable)
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn limits() -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            max_connections: 10,
            request_timeout: Duration::from_millis(100),
        }
    }

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_millis(300)).await;
        "done"
    }

    async fn get_once(address: SocketAddr, path: &str) -> String {
        let mut socket = TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn a_request_past_the_request_timeout_gets_a_coded_error() {
        let router =
            Router::new()
                .route("/slow", get(slow))
                .layer(axum::middleware::from_fn_with_state(
                    limits().request_timeout,
                    request_timeout,
                ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        tokio::spawn(serve(listener, router, limits(), shutdown.clone()));

        let answer = get_once(address, "/slow").await;
        shutdown.cancel();

        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains(r#""code":"INTERNAL""#), "{answer}");
    }

    #[tokio::test]
    async fn shutdown_lets_requests_in_flight_finish_then_returns() {
        let started = Arc::new(tokio::sync::Notify::new());
        let router = Router::new().route(
            "/slow",
            get({
                let started = started.clone();
                move || async move {
                    started.notify_one();
                    slow().await
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve(listener, router, limits(), shutdown.clone()));

        let request = tokio::spawn(get_once(address, "/slow"));
        started.notified().await;
        shutdown.cancel();
        let answer = request.await.unwrap();

        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server returned once drained")
            .unwrap();
        assert!(
            TcpStream::connect(address).await.is_err(),
            "still listening"
        );
    }
}
