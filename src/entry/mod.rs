//! Events in, answers out. One binary serves every entry; each event is recognised by its shape
//! and handed to the entry that knows it. The entries share validation, isolation and the
//! deletion engine, so a rule holds the same whichever way a request arrives.

mod auth;
mod http;

pub use auth::Caller;

use crate::config::Config;
use crate::store::{Store, s3_client};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;

/// What every invocation of a process shares: the configuration and the S3 client.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Config,
    pub store: Store,
}

impl App {
    /// Builds the S3 client once; call at start-up, not per event.
    pub async fn new(config: Config) -> App {
        let client = s3_client(&config.s3).await;
        App::with_client(config, client)
    }

    pub fn with_client(config: Config, client: aws_sdk_s3::Client) -> App {
        let store = Store::new(client, config.deletion);
        App { config, store }
    }
}

/// An event this function cannot take. Returned as a Lambda error, so that asynchronous
/// invocations retry and then reach their on-failure destination instead of vanishing.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("unrecognised event: expected an API Gateway or Function URL request")]
    Unrecognised,
}

impl From<EventError> for Diagnostic {
    fn from(err: EventError) -> Diagnostic {
        Diagnostic { error_type: "UnrecognisedEvent".into(), error_message: err.to_string() }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, EventError> {
    let payload = event.payload;
    if http::is_http(&payload) {
        return Ok(http::handle(app, payload).await);
    }
    tracing::error!(request_id = %event.context.request_id, "unrecognised event");
    Err(EventError::Unrecognised)
}
