//! A service killed with `kill -9` in the middle of a burst of orders, then
//! started again: every accepted order still gets its outcome, and the
//! stock balances.

use crate::support::{Options, Progress, System, accepted};

#[tokio::test]
async fn the_products_service_killed_mid_burst_loses_and_repeats_nothing() {
    let system = System::start(Options::default()).await;
    let admin = system.admin_token().await;
    let product = system.product(&admin, "Widget", 100, 30).await;
    let tokens = system.customers(5).await;

    let progress = Progress::default();

    let answers = system
        .burst(&tokens, &product, 60, &progress, async {
            progress.answered(15).await;
            system.products.kill().await;
            // Down for real: the next orders are refused.
            progress.refused(3).await;
            system.products.start().await;
        })
        .await;

    assert!(accepted(&answers) > 0, "no order was accepted");
    let (confirmed, rejected) = system.assert_at_rest(&admin, &product, 30).await;
    // One item each: orders are refused only once the stock has run out.
    assert_eq!(confirmed, 30.min(confirmed + rejected));
}

#[tokio::test]
async fn the_orders_service_killed_mid_burst_loses_and_repeats_nothing() {
    let system = System::start(Options::default()).await;
    let admin = system.admin_token().await;
    let product = system.product(&admin, "Gadget", 100, 30).await;
    let tokens = system.customers(5).await;

    let progress = Progress::default();

    let answers = system
        .burst(&tokens, &product, 60, &progress, async {
            progress.answered(15).await;
            system.orders.kill().await;
            // Down for real: the next orders are refused.
            progress.refused(3).await;
            system.orders.start().await;
        })
        .await;

    // Orders refused while the service was down were never accepted; every
    // one that was (answered or not) settles.
    assert!(accepted(&answers) > 0, "no order was accepted");
    let (confirmed, rejected) = system.assert_at_rest(&admin, &product, 30).await;
    assert_eq!(confirmed, 30.min(confirmed + rejected));
}
