//! Shutdown is a [`CancellationToken`] handed to every task at start. The
//! binary cancels it on Ctrl-C or SIGTERM; tests cancel it directly. Tasks
//! stop taking new work when it fires and finish what they hold.

pub use tokio_util::sync::CancellationToken as Shutdown;

/// Completes on Ctrl-C or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// A token that is cancelled when the process is asked to stop.
pub fn on_signal() -> Shutdown {
    let token = Shutdown::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        signal().await;
        tracing::info!("shutdown requested");
        trigger.cancel();
    });
    token
}
