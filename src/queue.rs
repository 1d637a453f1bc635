//! The hand-on queue: the function's own SQS queue, to which a deletion that outlives its
//! invocation sends its next step. The queue's messages invoke the function (an event source
//! mapping), so the chain needs nothing of the buckets (no notifications), and its messages are
//! trusted because the queue's policy lets no one but the function's role send to it.
//!
//! Nothing here knows about jobs: it sends a body and recognises its own messages.

use crate::config::QueueUrl;
use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::Region;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

/// The queue, and the client that sends to it.
#[derive(Debug, Clone)]
pub struct HandOnQueue {
    client: Client,
    queue: QueueUrl,
}

/// A message that could not be sent, after the SDK's retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("send to the hand-on queue {queue}: {code}")]
pub struct QueueError {
    pub queue: String,
    /// The SQS error code, or a transport condition (`Timeout`, `ConnectionFailed`).
    pub code: String,
    /// The SDK's description, for logs only.
    pub detail: String,
}

impl HandOnQueue {
    /// The queue `queue`, reached at `endpoint` when one is given (a local server), in the
    /// region its URL names.
    pub fn new(sdk: &SdkConfig, queue: &QueueUrl, endpoint: Option<&str>) -> HandOnQueue {
        let mut config = aws_sdk_sqs::config::Builder::from(sdk);
        if let Some(region) = &queue.region {
            config = config.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        HandOnQueue { client: Client::from_conf(config.build()), queue: queue.clone() }
    }

    pub fn url(&self) -> &str {
        &self.queue.url
    }

    /// Whether an SQS record whose `eventSourceARN` is `arn` came from this queue
    /// (`arn:PARTITION:sqs:REGION:ACCOUNT:NAME`).
    pub fn is_source(&self, arn: &str) -> bool {
        let mut parts = arn.rsplit(':');
        parts.next() == Some(&self.queue.name) && parts.next() == Some(&self.queue.account)
    }

    pub async fn send(&self, body: String) -> Result<(), QueueError> {
        let sent =
            self.client.send_message().queue_url(&self.queue.url).message_body(body).send().await;
        sent.map(drop).map_err(|err| {
            let code = match &err {
                SdkError::TimeoutError(_) => "Timeout".to_owned(),
                SdkError::DispatchFailure(_) => "ConnectionFailed".to_owned(),
                SdkError::ServiceError(service) => service.err().code().map_or_else(
                    || format!("HTTP{}", service.raw().status().as_u16()),
                    str::to_owned,
                ),
                _ => "RequestFailed".to_owned(),
            };
            QueueError { queue: self.queue.name.clone(), code, detail: format!("{err:?}") }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(url: &str) -> Option<HandOnQueue> {
        let sdk =
            SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        Some(HandOnQueue::new(&sdk, &QueueUrl::parse(url)?, None))
    }

    #[test]
    fn its_own_messages_are_known_by_account_and_name() {
        let q = queue("https://sqs.eu-west-1.amazonaws.com/123456789012/del-job-hand-on").unwrap();
        assert!(q.is_source("arn:aws:sqs:eu-west-1:123456789012:del-job-hand-on"));
        assert!(!q.is_source("arn:aws:sqs:eu-west-1:123456789012:del-job-requests"));
        assert!(!q.is_source("arn:aws:sqs:eu-west-1:999999999999:del-job-hand-on"));
        assert!(!q.is_source(""));
        assert_eq!(q.client.config().region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(queue("https://sqs.eu-west-1.amazonaws.com/").is_none());
    }
}
