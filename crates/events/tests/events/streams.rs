//! The streams are declared in code and converge on every start.

use std::time::Duration;

use async_nats::jetstream::stream::StorageType;
use syncchain_events::streams;

use crate::support::setup;

#[tokio::test]
async fn ensuring_the_streams_again_keeps_them_as_declared() {
    let setup = setup().await;

    streams::ensure_streams(&setup.jetstream, &setup.namespace, 1)
        .await
        .unwrap();

    for (name, subjects) in streams::STREAMS {
        let mut stream = setup
            .jetstream
            .get_stream(setup.namespace.stream(name))
            .await
            .unwrap();
        let config = &stream.info().await.unwrap().config;
        let expected: Vec<String> = subjects
            .iter()
            .map(|s| setup.namespace.subject(s))
            .collect();
        assert_eq!(config.subjects, expected);
        assert_eq!(config.storage, StorageType::File);
        assert_eq!(config.duplicate_window, Duration::from_secs(120));
        assert_eq!(config.max_age, streams::MAX_AGE);
    }
    setup.cleanup().await;
}
