//! NATS restarted in the middle of a burst of orders (a private
//! nats-server; its store survives the restart, as JetStream's file store
//! does in production).

use crate::support::{Options, Progress, System, accepted};

#[tokio::test]
async fn nats_restarted_mid_burst_loses_and_repeats_nothing() {
    let mut system = System::start(Options {
        private_nats: true,
        ..Options::default()
    })
    .await;
    let admin = system.admin_token().await;
    let product = system.product(&admin, "Sprocket", 100, 30).await;
    let tokens = system.customers(5).await;
    let mut nats = system.nats.take().expect("a private nats-server");

    let progress = Progress::default();

    let answers = system
        .burst(&tokens, &product, 60, &progress, async {
            progress.answered(15).await;
            nats.stop().await;
            // Orders keep being accepted into the outbox while NATS is away.
            progress.answered(15).await;
            nats.start_again().await;
        })
        .await;

    // NATS being away does not stop orders from being accepted: they wait
    // in the outbox.
    assert!(accepted(&answers) > 0, "no order was accepted");
    let (confirmed, rejected) = system.assert_at_rest(&admin, &product, 30).await;
    assert_eq!(confirmed, 30.min(confirmed + rejected));
    drop(nats);
}
