//! What the integration tests share: the S3 fixture, an app configured for a test's own
//! buckets, and the handler invoked as Lambda would invoke it.
#![allow(dead_code)] // each test binary takes the part it needs

#[path = "../support/fixture.rs"]
pub mod fixture;
pub mod watch;

use del_job::app::App;
use del_job::config::Config;
use del_job::entry;
use fixture::Bucket;
use lambda_runtime::{Context, LambdaEvent};
use s3_proxy::{Proxy, Settings};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Held by the tests that seed and delete tens of thousands of objects, or that time
/// invocations, so that they do not share the two cores and the store with one another.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// A test's world: a bucket for jobs, one for configuration sources, and the function
/// configured for them (plus any variables the test sets).
pub struct World {
    pub jobs: Bucket,
    pub configs: Bucket,
    pub job_prefix: String,
    pub app: App,
}

impl World {
    pub async fn new(label: &str, job_prefix: &str) -> World {
        World::with_env(label, job_prefix, &[]).await
    }

    pub async fn with_env(label: &str, job_prefix: &str, env: &[(&str, &str)]) -> World {
        let client = fixture::client().await;
        let jobs = Bucket::fresh(&client, label).await;
        World::on(client, jobs, job_prefix, env).await
    }

    /// A world whose function reaches Garage through the project's s3-proxy, set up with
    /// `settings`; the proxy is returned so that the test can change or count what it does.
    pub async fn behind_proxy(
        label: &str,
        settings: Settings,
        env: &[(&str, &str)],
    ) -> (World, Proxy) {
        let proxy = proxy_to_garage(settings).await;
        let url = proxy.url();
        let mut env = env.to_vec();
        env.push(("AWS_ENDPOINT_URL_S3", &url));
        (World::with_env(label, "", &env).await, proxy)
    }

    /// A world on moto, whose `jobs` bucket keeps versions and may lock them.
    pub async fn versioned(label: &str, env: &[(&str, &str)]) -> World {
        let endpoint = fixture::moto_endpoint();
        let client = fixture::client_for(&endpoint).await;
        let mut env = env.to_vec();
        env.push(("AWS_ENDPOINT_URL_S3", &endpoint));
        let jobs = Bucket::fresh_lockable(&client, label).await;
        World::on(client, jobs, "", &env).await
    }

    async fn on(
        client: aws_sdk_s3::Client,
        jobs: Bucket,
        job_prefix: &str,
        env: &[(&str, &str)],
    ) -> World {
        let configs = Bucket::fresh(&client, &format!("{}cfg", jobs.name)).await;
        let mut vars: HashMap<String, String> = HashMap::from([
            ("JOB_BUCKET".into(), jobs.name.clone()),
            ("JOB_PREFIX".into(), job_prefix.into()),
            ("CONFIG_BUCKETS".into(), configs.name.clone()),
        ]);
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let app = app(&vars).await;
        World { jobs, configs, job_prefix: job_prefix.into(), app }
    }
}

/// The project's s3-proxy in front of the tests' Garage, on a port of its own.
pub async fn proxy_to_garage(settings: Settings) -> Proxy {
    let garage = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL names Garage");
    let garage = garage.trim_start_matches("http://").parse().expect("Garage's address");
    Proxy::start("127.0.0.1:0".parse().unwrap(), garage, settings).await.expect("s3-proxy")
}

/// The function as configured by `vars` on top of the process environment (endpoint, keys).
pub async fn app(vars: &HashMap<String, String>) -> App {
    let config =
        Config::from_lookup(|name| vars.get(name).cloned().or_else(|| std::env::var(name).ok()))
            .expect("test configuration");
    App::new(config).await
}

/// The function's ARN in the contexts the tests invoke it with: its account is the one the
/// sample events come from.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:del-job";

/// A Lambda context whose deadline is `left` from now.
pub fn context_with(left: Duration) -> Context {
    let mut context = Context::default();
    context.invoked_function_arn = FUNCTION_ARN.into();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    context.deadline = (now + left).as_millis() as u64;
    context
}

/// Invokes the handler with an event that is not an HTTP request, `left` before its deadline.
pub async fn invoke_event(
    app: &App,
    event: Value,
    left: Duration,
) -> Result<Value, entry::EventError> {
    entry::handle(app, LambdaEvent::new(event, context_with(left))).await
}

/// Invokes the handler with a raw event; returns the HTTP status and the envelope.
pub async fn invoke(app: &App, event: Value) -> (u16, Value) {
    let answer = entry::handle(app, LambdaEvent::new(event, Context::default()))
        .await
        .expect("an HTTP event always gets an answer");
    let status = answer["statusCode"].as_u64().expect("statusCode") as u16;
    assert_eq!(answer["headers"]["content-type"], "application/json");
    let body: Value =
        serde_json::from_str(answer["body"].as_str().expect("body")).expect("JSON body");
    (status, body)
}

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
            "authorizer": {"jwt": {"claims": {"project_id": token_project}}}
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

/// Asserts an envelope is a refusal with `code`, and returns its message.
pub fn refused(answer: &(u16, Value), status: u16, code: &str) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["is_success"], false, "{}", answer.1);
    assert_eq!(answer.1["error_code"], code, "{}", answer.1);
    answer.1["error_msg"].as_str().expect("error_msg").to_owned()
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

/// An SQS batch of `(message id, body)`.
pub fn sqs_event(messages: &[(&str, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id, "receiptHandle": "handle", "body": body,
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:del-job", "awsRegion": "eu-west-1"
            })
        })
        .collect();
    json!({"Records": records})
}

/// Objects that had to go and are still there, and objects that had to stay and are gone.
pub fn tally(
    doomed: &BTreeSet<String>,
    survivors: &BTreeSet<String>,
    now: &BTreeSet<String>,
) -> (usize, usize) {
    let left = doomed.intersection(now).count();
    let wrongly_deleted = survivors.difference(now).count();
    (left, wrongly_deleted)
}

/// One row of RELIABILITY.md, appended as a JSON line to `$DEL_JOB_RELIABILITY_LOG` when the
/// test run collects them (scripts/test.sh does).
pub fn record(
    area: &str,
    case: &str,
    runs: u64,
    left: usize,
    wrongly_deleted: usize,
    outcome: &str,
) {
    let Ok(path) = std::env::var("DEL_JOB_RELIABILITY_LOG") else { return };
    let row = json!({
        "area": area, "case": case, "runs": runs,
        "objects_left": left, "wrongly_deleted": wrongly_deleted, "outcome": outcome,
    });
    use std::io::Write;
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).open(path).expect("reliability log");
    writeln!(file, "{row}").expect("write reliability log");
}

/// Asserts nothing doomed is left and no survivor is gone, and records the row.
pub fn settle(
    area: &str,
    case: &str,
    runs: u64,
    doomed: &BTreeSet<String>,
    survivors: &BTreeSet<String>,
    now: &BTreeSet<String>,
    outcome: &str,
) {
    let (left, wrongly_deleted) = tally(doomed, survivors, now);
    record(area, case, runs, left, wrongly_deleted, outcome);
    assert_eq!(left, 0, "{case}: objects left that had to go");
    assert_eq!(wrongly_deleted, 0, "{case}: objects gone that had to stay");
}
