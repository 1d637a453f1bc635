//! Builds the S3 client a process uses; its connection pool is shared by every invocation. The
//! engine derives from it a copy without retries for DeleteObjects (`Clients`, engine/mod.rs).

use crate::config::S3Settings;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use std::time::Duration;

/// Credentials and region come from the standard chain (in Lambda: the function's role and
/// `AWS_REGION`). Retries use the SDK's standard mode, exponential backoff with jitter, which
/// also retries `SlowDown`, 5xx and lost connections. Each attempt has a time limit, so a
/// stalled connection costs one attempt rather than the whole invocation.
pub async fn s3_client(settings: &S3Settings) -> Client {
    s3_client_from(&aws_config(settings).await, settings)
}

/// What every client of the process shares: credentials, region, the HTTP client (rustls with
/// ring), retries and time limits.
pub async fn aws_config(settings: &S3Settings) -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(settings.attempt_timeout)
                .build(),
        )
        .load()
        .await
}

/// The S3 client on `shared`; a custom endpoint is addressed path-style.
pub fn s3_client_from(shared: &SdkConfig, settings: &S3Settings) -> Client {
    let mut s3 = aws_sdk_s3::config::Builder::from(shared);
    if let Some(endpoint) = &settings.endpoint {
        // Local servers (Garage, moto) serve buckets as paths, not as host names.
        s3 = s3.endpoint_url(endpoint).force_path_style(true);
    }
    Client::from_conf(s3.build())
}
