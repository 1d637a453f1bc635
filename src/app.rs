//! What every invocation of a process shares: the configuration, the S3 client (one connection
//! pool), the hand-on queue and where the log lines go. Built once at start-up.

use crate::config::Config;
use crate::queue::HandOnQueue;
use crate::store::{Store, aws_config, s3_client_from};
use crate::telemetry::Sink;
use aws_config::SdkConfig;

#[derive(Debug, Clone)]
pub struct App {
    pub config: Config,
    pub store: Store,
    /// Where a deletion that outlives its invocation is handed on; `None` when not configured.
    pub hand_on: Option<HandOnQueue>,
    pub sink: Sink,
}

impl App {
    /// Builds the clients once; call at start-up, not per event.
    pub async fn new(config: Config) -> App {
        let sdk = aws_config(&config.s3).await;
        App::with_sdk(config, &sdk)
    }

    pub fn with_sdk(config: Config, sdk: &SdkConfig) -> App {
        let client = s3_client_from(sdk, &config.s3);
        let store = Store::new(client, config.deletion, config.versioning);
        let settings = &config.hand_on;
        let hand_on = (settings.queue.as_ref())
            .map(|queue| HandOnQueue::new(sdk, queue, settings.endpoint.as_deref()));
        App { config, store, hand_on, sink: Sink::Stdout }
    }
}
