//! What every invocation of a process shares: the configuration, the S3 client (one connection
//! pool) and where the log lines go. Built once at start-up.

use crate::config::Config;
use crate::store::{Store, s3_client};
use crate::telemetry::Sink;

#[derive(Debug, Clone)]
pub struct App {
    pub config: Config,
    pub store: Store,
    pub sink: Sink,
}

impl App {
    /// Builds the S3 client once; call at start-up, not per event.
    pub async fn new(config: Config) -> App {
        let client = s3_client(&config.s3).await;
        App::with_client(config, client)
    }

    pub fn with_client(config: Config, client: aws_sdk_s3::Client) -> App {
        let store = Store::new(client, config.deletion, config.versioning);
        App { config, store, sink: Sink::Stdout }
    }
}
