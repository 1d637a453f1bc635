//! What the integration tests share: the S3 fixture, an app configured for a test's own
//! buckets, and the handler invoked as Lambda would invoke it.
#![allow(dead_code)] // each test binary takes the part it needs

#[path = "../support/fixture.rs"]
pub mod fixture;

use del_job::config::Config;
use del_job::entry::{self, App};
use fixture::Bucket;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::collections::HashMap;

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
        let configs = Bucket::fresh(&client, &format!("{label}cfg")).await;
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

/// The function as configured by `vars` on top of the process environment (endpoint, keys).
pub async fn app(vars: &HashMap<String, String>) -> App {
    let config =
        Config::from_lookup(|name| vars.get(name).cloned().or_else(|| std::env::var(name).ok()))
            .expect("test configuration");
    App::new(config).await
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
