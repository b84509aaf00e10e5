//! How a service runs: the server on the caller's listener until the
//! shutdown token fires (in-flight requests finish), with its background
//! work (outbox relay, consumers, connections) beside it.
//!
//! The background has a token of its own, not a child of the shutdown
//! token: a request still in flight when shutdown begins may need it (its
//! outbox row published, its saga answer consumed), so it is stopped only
//! once the server has returned, whether serving ended by shutdown or by
//! failure, and each task is awaited so nothing is cut off mid-message.

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
    axum::serve(crate::net::listener(listener), router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .with_context(|| format!("the {service} service stopped serving"))
}

/// Tasks that run beside the server and stop after it: when
/// [`Background::stop`] is called, or when the `Background` is dropped
/// (the service's future abandoned), never when the shutdown token fires.
#[derive(Default)]
pub struct Background {
    stop: Shutdown,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Background {
    pub fn new() -> Self {
        Self::default()
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
    pub async fn stop(mut self) {
        self.stop.cancel();
        for (task, handle) in std::mem::take(&mut self.tasks) {
            if let Err(error) = handle.await {
                tracing::error!(task, %error, "background task failed");
            }
        }
    }
}

/// Abandoned without [`Background::stop`]: the tasks are told to stop
/// rather than left running unowned.
impl Drop for Background {
    fn drop(&mut self) {
        self.stop.cancel();
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
        let finished = Arc::new(AtomicBool::new(false));
        let mut background = Background::new();
        let flag = finished.clone();
        background.spawn("worker", |stop| async move {
            stop.cancelled().await;
            tokio::task::yield_now().await;
            flag.store(true, Ordering::SeqCst);
        });

        background.stop().await;

        assert!(finished.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn the_background_keeps_running_while_the_server_drains_after_shutdown() {
        let shutdown = Shutdown::new();
        let mut background = Background::new();
        let (told, mut stopped) = tokio::sync::oneshot::channel::<()>();
        background.spawn("worker", |stop| async move {
            stop.cancelled().await;
            let _ = told.send(());
        });

        shutdown.cancel();
        tokio::task::yield_now().await;

        assert!(
            stopped.try_recv().is_err(),
            "the worker stopped with the shutdown token"
        );
        background.stop().await;
        assert!(stopped.try_recv().is_ok());
    }

    #[tokio::test]
    async fn dropping_the_background_tells_its_tasks_to_stop() {
        let mut background = Background::new();
        let (told, stopped) = tokio::sync::oneshot::channel::<()>();
        background.spawn("worker", |stop| async move {
            stop.cancelled().await;
            let _ = told.send(());
        });

        drop(background);

        assert!(stopped.await.is_ok());
    }
}
