//! The socket options of every TCP connection syncchain accepts or opens,
//! in one place.
//!
//! `TCP_NODELAY` on every socket: with Nagle's algorithm on, a response
//! written in more than one segment holds its last one until the first is
//! acknowledged, and a peer that delays its ACKs (40 ms on Linux) turns
//! every larger answer into a 40 ms stall. The GraphQL server
//! ([`accepted`] in its accept loop), the services' gRPC servers
//! ([`listener`]) and the gRPC clients ([`endpoint`]) take it from here;
//! Redis takes it from the `redis` crate's `tcp_nodelay` feature, and the
//! Postgres (sqlx), NATS (async-nats) and HTTP (reqwest) clients set it
//! themselves.

use std::time::Duration;

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Endpoint;

/// Applies syncchain's options to a connection just accepted or opened.
pub fn accepted(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
}

/// `listener` with [`accepted`] applied to each connection it accepts, for
/// `axum::serve`.
pub fn listener(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(|stream| accepted(stream))
}

/// A gRPC endpoint for `url` with syncchain's options: `TCP_NODELAY`, a
/// connect timeout of `connect_timeout`, and HTTP/2 keep-alive pings every
/// 30 s so a dead peer is noticed on an idle connection.
pub fn endpoint(url: &str, connect_timeout: Duration) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true))
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    use super::*;

    #[tokio::test]
    async fn connections_the_listener_accepts_have_nagle_off() {
        let bound = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = bound.local_addr().unwrap();
        let mut tuned = listener(bound);
        let client = tokio::spawn(TcpStream::connect(address));

        let (accepted, _) = tuned.accept().await;

        assert!(accepted.nodelay().unwrap());
        drop(client.await.unwrap().unwrap());
    }
}
