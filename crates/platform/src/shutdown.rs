//! Shutdown is a [`CancellationToken`] handed to every task at start. The
//! binary cancels it on Ctrl-C or SIGTERM (and, for commands that belong to
//! a terminal, on SIGHUP); tests cancel it directly. Tasks stop taking new
//! work when it fires and finish what they hold.

pub use tokio_util::sync::CancellationToken as Shutdown;

/// Runs `round` now and then every `period` until `shutdown`, which also
/// cuts a round short. A slow round delays the next instead of piling up.
pub async fn every<F, Fut>(period: std::time::Duration, shutdown: &Shutdown, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = round() => {}
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn signal() {
    until(false).await;
}

/// Completes on Ctrl-C or SIGTERM, and on SIGHUP when `hangup` is set.
async fn until(hangup: bool) {
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
    #[cfg(unix)]
    let hung_up = async {
        if !hangup {
            return std::future::pending::<()>().await;
        }
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGHUP");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let hung_up = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
        () = hung_up => {}
    }
}

/// A token that is cancelled when the process is asked to stop.
pub fn on_signal() -> Shutdown {
    token_until(false)
}

/// Like [`on_signal`], and also cancelled when the terminal goes away
/// (SIGHUP): for commands run from a terminal that own child servers, so
/// closing the window stops them as Ctrl-C would. Services under a
/// supervisor keep the default ([`on_signal`]): `nohup` must keep them up.
pub fn on_signal_or_hangup() -> Shutdown {
    token_until(true)
}

fn token_until(hangup: bool) -> Shutdown {
    let token = Shutdown::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        until(hangup).await;
        tracing::info!("shutdown requested");
        trigger.cancel();
    });
    token
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use super::*;

    #[tokio::test]
    async fn every_runs_at_once_then_each_period_and_stops_on_shutdown() {
        let shutdown = Shutdown::new();
        let rounds = AtomicUsize::new(0);
        let ran = every(Duration::from_millis(20), &shutdown, || async {
            if rounds.fetch_add(1, Ordering::SeqCst) == 2 {
                shutdown.cancel();
            }
        });
        tokio::time::timeout(Duration::from_secs(5), ran)
            .await
            .expect("stopped once cancelled");
        assert_eq!(rounds.load(Ordering::SeqCst), 3);
    }
}
