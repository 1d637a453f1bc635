//! The events Lambda hands the function, built as its services build them: an HTTP API request,
//! an SQS batch, EventBridge events. The integration tests, the end-to-end tests' fixtures and
//! the benchmark (through `benchkit event`) all take them from here.

use serde_json::{Value, json};

/// A `DELETE /v1/{project}/del-job` through an HTTP API whose JWT names `token_project`.
pub fn http_api_event(project: &str, token_project: &str, body: &Value) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "DELETE /v1/{project_id}/del-job",
        "rawPath": format!("/v1/{project}/del-job"),
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "pathParameters": {"project_id": project},
        "requestContext": {
            "http": {"method": "DELETE", "path": format!("/v1/{project}/del-job")},
            "stage": "$default",
            "requestId": "test",
            "authorizer": {"jwt": {"claims": {"project_id": token_project, "sub": format!("user-of-{token_project}")}}}
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}

/// The request body for `job` of `job_type`, with configuration sources under `config_path`.
pub fn body(job: &str, job_type: &str, config_path: Option<&str>) -> Value {
    let mut platform =
        json!({"platform": "DLI", "platform_parameter": {"cluster_name": "res_one"}});
    if let Some(path) = config_path {
        platform["config_load_path"] = json!(path);
    }
    json!({"job_id": job, "type": job_type, "offline_platform": platform})
}

/// EventBridge's "Object Created" for `key` in `bucket`, as the bucket sends it.
pub fn object_created_event(bucket: &str, key: &str) -> Value {
    json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2026-11-27T20:00:00Z", "region": "eu-west-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0", "bucket": {"name": bucket},
            "object": {"key": key, "size": 200, "etag": "b1946ac92492d2347c6235b4d2611184"},
            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject"
        }
    })
}

/// An EventBridge "Delete Job" from `EVENT_SOURCE` in the tests' account, its detail `request`.
pub fn delete_job_event(request: &Value) -> Value {
    json!({
        "version": "0", "id": "e0d6c8a4-1d0e-4b7e-9c2a-7b1f0e5d3c21",
        "detail-type": "Delete Job", "source": "res.jobs", "account": "123456789012",
        "time": "2026-12-02T10:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": request
    })
}

/// An SQS batch of `(message id, body)`.
pub fn sqs_event(messages: &[(&str, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id, "receiptHandle": "handle", "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SenderId": "AROAEXAMPLE:res-cleanup"},
                "messageAttributes": {},
                "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:del-job", "awsRegion": "eu-west-1"
            })
        })
        .collect();
    json!({"Records": records})
}
