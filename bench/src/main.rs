//! The benchmark's S3 tools (see BENCHMARKS.md and bench/run.py), on the server named by
//! `AWS_ENDPOINT_URL`:
//!
//! - `benchkit seed BUCKET ROOT OBJECTS FOLDERS`: a finished `etl` job's record and OBJECTS
//!   small objects under ROOT, spread over FOLDERS sub-folders of `output/` (0: flat).
//! - `benchkit count BUCKET PREFIX`: how many keys are under PREFIX.
//! - `benchkit floor BUCKET ROOT OBJECTS FOLDERS CONCURRENCY BATCH`: the floor, DeleteObjects of
//!   the already-known keys (the seed's), BATCH keys a request, CONCURRENCY requests at once, no
//!   listing.
//! - `benchkit event http|sqs PROJECT JOB`: the event that asks the function to delete the job,
//!   as the test kit builds it for the tests (an HTTP API request, an SQS batch of one).
//!
//! Keys are named the same way by `seed` and `floor`, so the floor needs no listing.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use del_job::config::S3Settings;
use futures_util::{StreamExt, stream};
use std::time::Duration;

fn keys(root: &str, objects: usize, folders: usize) -> Vec<String> {
    let mut keys: Vec<String> = (0..objects)
        .map(|i| match folders {
            0 => format!("{root}output/data-{i:07}.bin"),
            f => format!("{root}output/part-{:05}/data-{i:07}.bin", i % f),
        })
        .collect();
    keys.push(format!("{root}job.json"));
    keys
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| usage());
    let number = |i: usize| arg(i).parse::<usize>().unwrap_or_else(|_| usage());
    if arg(0) == "event" {
        println!("{}", event(arg(1), arg(2), arg(3)));
        return;
    }
    let client = client().await;
    match arg(0) {
        "seed" => seed(&client, arg(1), arg(2), number(3), number(4)).await,
        "count" => println!("{}", count(&client, arg(1), arg(2)).await),
        "floor" => {
            let keys = keys(arg(2), number(3), number(4));
            floor(&client, arg(1), &keys, number(5), number(6)).await
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: benchkit seed BUCKET ROOT OBJECTS FOLDERS | count BUCKET PREFIX | \
         floor BUCKET ROOT OBJECTS FOLDERS CONCURRENCY BATCH | event http|sqs PROJECT JOB"
    );
    std::process::exit(2)
}

/// The event asking to delete `project`'s `etl` job `job`, through `entry`.
fn event(entry: &str, project: &str, job: &str) -> serde_json::Value {
    let platform = serde_json::json!({"platform": "DLI"});
    let body = serde_json::json!({"job_id": job, "type": "etl", "offline_platform": platform});
    match entry {
        "http" => testkit::http_api_event(project, project, &body),
        "sqs" => {
            let mut message = body;
            message["project_id"] = project.into();
            testkit::sqs_event(&[("bench", message.to_string())])
        }
        _ => usage(),
    }
}

async fn client() -> Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        eprintln!("AWS_ENDPOINT_URL must name the local S3 server");
        std::process::exit(2)
    });
    let settings = S3Settings {
        max_attempts: 5,
        attempt_timeout: Duration::from_secs(60),
        endpoint: Some(endpoint),
    };
    del_job::store::s3_client(&settings).await
}

async fn seed(client: &Client, bucket: &str, root: &str, objects: usize, folders: usize) {
    let mut keys = keys(root, objects, folders);
    let record = keys.pop().expect("the record key");
    stream::iter(keys)
        .map(|key| async move {
            let body = ByteStream::from_static(b"0123456789abcdef");
            client.put_object().bucket(bucket).key(&key).body(body).send().await.expect("put");
        })
        .buffer_unordered(64)
        .collect::<()>()
        .await;
    let job = root.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    let body = format!(r#"{{"job_id":"{job}","type":"etl","status":"succeeded"}}"#);
    client
        .put_object()
        .bucket(bucket)
        .key(&record)
        .body(body.into_bytes().into())
        .send()
        .await
        .expect("put");
}

async fn count(client: &Client, bucket: &str, prefix: &str) -> usize {
    let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += page.expect("list").contents().len();
    }
    n
}

async fn floor(client: &Client, bucket: &str, keys: &[String], concurrency: usize, batch: usize) {
    let failed: usize = stream::iter(keys.chunks(batch.clamp(1, 1000)))
        .map(|chunk| async move {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build().expect("a key"))
                .collect();
            let delete =
                Delete::builder().set_objects(Some(objects)).quiet(true).build().expect("keys");
            let reply =
                client.delete_objects().bucket(bucket).delete(delete).send().await.expect("delete");
            reply.errors().len()
        })
        .buffer_unordered(concurrency)
        .fold(0, |sum, n| async move { sum + n })
        .await;
    assert_eq!(failed, 0, "the floor must delete every key");
}
