//! How a service runs: the server on the caller's listener until the
//! shutdown token fires (in-flight requests finish), with its background
//! work (outbox relay, consumers, connections) beside it. The background
//! stops after the server, on a child token, so it also stops when serving
//! fails, and each task is awaited so nothing is cut off mid-message.

use std::future::Future;

use anyhow::Context;
use axum::Router;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::shutdown::Shutdown;

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish.
pub async fn serve(
    service: &'static str,
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(service, %address, "service listening");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .with_context(|| format!("the {service} service stopped serving"))
}

/// Tasks that run beside the server and stop after it.
pub struct Background {
    stop: Shutdown,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Background {
    /// Tasks stopped by [`Background::stop`], or when `shutdown` fires.
    pub fn new(shutdown: &Shutdown) -> Self {
        Self {
            stop: shutdown.child_token(),
            tasks: Vec::new(),
        }
    }

    /// Spawns `task`, handing it the token that tells it to stop.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task(self.stop.clone()));
        self.tasks.push((name, handle));
    }

    /// Tells every task to stop and waits until each has.
    pub async fn stop(self) {
        self.stop.cancel();
        for (task, handle) in self.tasks {
            if let Err(error) = handle.await {
                tracing::error!(task, %error, "background task failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    use super::*;

    #[tokio::test]
    async fn stopping_the_background_waits_for_each_task_to_finish() {
        let shutdown = Shutdown::new();
        let finished = Arc::new(AtomicBool::new(false));
        let mut background = Background::new(&shutdown);
        let flag = finished.clone();
        background.spawn("worker", |stop| async move {
            stop.cancelled().await;
            tokio::task::yield_now().await;
            flag.store(true, Ordering::SeqCst);
        });

        background.stop().await;

        assert!(finished.load(Ordering::SeqCst));
        assert!(!shutdown.is_cancelled(), "only the background was stopped");
    }
}
