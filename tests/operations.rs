//! What an operator sees, against Garage: the summary line of every deletion request (an EMF
//! document whose metrics are its true counts), progress lines while a slowed deletion runs, and
//! an SQS batch whose every message is tried in the invocation that received it.

use del_job::telemetry::Sink;
use s3_proxy::{Proxy, Settings};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use testkit::fixture::JobSpec;
use testkit::{World, body, http_api_event, invoke, invoke_event, refused, settle, sqs_event};

/// A world whose function's lines are kept for the test to read.
async fn observed(label: &str, env: &[(&str, &str)]) -> World {
    let mut world = World::with_env(label, "", env).await;
    world.app.sink = Sink::Memory(Default::default());
    world
}

/// The summary lines emitted so far.
fn summaries(world: &World) -> Vec<Value> {
    world.app.sink.lines().into_iter().filter(|l| l["message"] == "deletion summary").collect()
}

/// Asserts `line` is an EMF document: every metric it declares has its value beside it.
fn assert_emf(line: &Value) {
    let spec = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(spec["Namespace"], "DelJob", "{line}");
    assert_eq!(spec["Dimensions"], json!([["FunctionName", "Entry"], ["FunctionName"]]));
    assert!(line["_aws"]["Timestamp"].is_u64(), "{line}");
    let declared: BTreeSet<&str> =
        spec["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()).collect();
    for name in [
        "ObjectsDeleted",
        "BytesDeleted",
        "ObjectsFailed",
        "Throttled",
        "HandOns",
        "Duration",
        "Refused",
        "Failed",
        "ColdStart",
    ] {
        assert!(declared.contains(name), "{name} is not declared: {line}");
    }
    for name in declared {
        assert!(line[name].is_number(), "{name} has no value: {line}");
    }
}

#[tokio::test]
async fn an_http_deletion_and_a_refusal_are_summarised_with_their_true_counts() {
    // GIVEN a job with configuration sources, beside a neighbour
    let world = observed("emfhttp", &[("AWS_LAMBDA_FUNCTION_NAME", "del-job-test")]).await;
    let job = world.jobs.seed_job("", &JobSpec::new("p1", "j").objects(40, 4)).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new("p1", "j0")).await;
    world.configs.put("sources/j/config.json", "{\"a\":1}").await;
    let path = format!("s3://{}/sources", world.configs.name);

    // WHEN a request with the wrong type is refused, then the job is deleted
    let wrong = http_api_event("p1", "p1", &body("j", "ranking", Some(&path)));
    refused(&invoke(&world.app, wrong).await, 400, "res.1001");
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("j", "etl", Some(&path)))).await;
    assert_eq!(status, 200, "{envelope}");

    // THEN there is one summary for each, an EMF document of the request's true counts
    let lines = summaries(&world);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_emf(line);
        assert_eq!(
            (line["FunctionName"].as_str(), line["Entry"].as_str()),
            (Some("del-job-test"), Some("http"))
        );
        assert_eq!((line["project_id"].as_str(), line["job_id"].as_str()), (Some("p1"), Some("j")));
    }
    let (refusal, deletion) = (&lines[0], &lines[1]);
    assert_eq!(refusal["outcome"], "refused");
    assert_eq!(
        (refusal["status"].as_u64(), refusal["error_code"].as_str()),
        (Some(400), Some("res.1001"))
    );
    assert_eq!((refusal["Refused"].as_u64(), refusal["Failed"].as_u64()), (Some(1), Some(0)));
    assert_eq!(refusal["ObjectsDeleted"], 0);
    assert_eq!(deletion["outcome"], "deleted");
    assert_eq!(deletion["status"], 200);
    assert_eq!(deletion["ObjectsDeleted"], job.len() as u64 + 1);
    assert_eq!(deletion["ObjectsDeleted"], envelope["deleted_objects"]);
    assert_eq!(deletion["BytesDeleted"], envelope["deleted_bytes"]);
    assert_eq!(
        (deletion["ObjectsFailed"].as_u64(), deletion["HandOns"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!((deletion["Refused"].as_u64(), deletion["Failed"].as_u64()), (Some(0), Some(0)));
    assert_eq!(world.jobs.keys().await, neighbour);
}

#[tokio::test]
async fn every_sqs_message_is_summarised() {
    // GIVEN a batch of a valid request and an invalid one
    let world = observed("emfsqs", &[]).await;
    let job = world.jobs.seed_job("", &JobSpec::new("p1", "j").objects(12, 2)).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new("p1", "j0")).await;
    let valid = json!({"project_id": "p1", "job_id": "j", "type": "etl", "offline_platform": {}});
    let batch = sqs_event(&[("m-valid", valid.to_string()), ("m-bad", "{\"job_id\":".into())]);

    // WHEN it is delivered
    let answer = invoke_event(&world.app, batch, Duration::from_secs(60)).await.unwrap();

    // THEN the bad message fails, and each has a summary of its own with its counts
    assert_eq!(answer["batchItemFailures"], json!([{"itemIdentifier": "m-bad"}]));
    let lines = summaries(&world);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_emf(line);
        assert_eq!(line["Entry"], "sqs");
    }
    let by_id = |id: &str| lines.iter().find(|l| l["message_id"] == id).unwrap().clone();
    let (done, bad) = (by_id("m-valid"), by_id("m-bad"));
    assert_eq!((done["outcome"].as_str(), done["job_id"].as_str()), (Some("deleted"), Some("j")));
    assert_eq!(done["ObjectsDeleted"], job.len() as u64);
    assert_eq!(
        (bad["outcome"].as_str(), bad["error_code"].as_str()),
        (Some("refused"), Some("res.1006"))
    );
    assert_eq!((bad["Refused"].as_u64(), bad["ObjectsDeleted"].as_u64()), (Some(1), Some(0)));
    assert_eq!(world.jobs.keys().await, neighbour);
}

/// A world whose function reaches Garage through `s3-proxy`, each request 20 ms late, and deletes
/// one batch of 5 keys at a time: a few hundred objects a second.
async fn slowed(label: &str, env: &[(&str, &str)]) -> (World, Proxy) {
    let delay = Settings { delay: Duration::from_millis(20), faults: Vec::new() };
    let proxy = testkit::proxy_to_garage(delay).await;
    let url = proxy.url();
    let mut env = env.to_vec();
    env.extend([
        ("AWS_ENDPOINT_URL_S3", url.as_str()),
        ("DELETE_CONCURRENCY", "1"),
        ("DELETE_BATCH_SIZE", "5"),
        ("LIST_CONCURRENCY", "1"),
    ]);
    (observed(label, &env).await, proxy)
}

#[tokio::test]
async fn progress_lines_come_while_a_slowed_deletion_runs() {
    let _heavy = testkit::heavy().await;
    // GIVEN a slow store and a progress line every second
    let (world, _proxy) = slowed("progress", &[("PROGRESS_INTERVAL_MS", "1000")]).await;
    let job = world.jobs.seed_job("", &JobSpec::new("p1", "j").objects(1_500, 3)).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new("p1", "j0")).await;

    // WHEN the job is deleted
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("j", "etl", None))).await;
    assert_eq!(status, 200, "{envelope}");

    // THEN progress lines came, each a second apart, counting up to what the summary says
    let lines = world.app.sink.lines();
    let progress: Vec<&Value> =
        lines.iter().filter(|l| l["message"] == "deletion progress").collect();
    assert!(progress.len() >= 2, "{} progress lines", progress.len());
    let deleted: Vec<u64> = progress.iter().map(|l| l["deleted"].as_u64().unwrap()).collect();
    assert!(deleted.windows(2).all(|w| w[0] <= w[1]), "{deleted:?}");
    assert!(*deleted.last().unwrap() > 0, "{deleted:?}");
    for line in &progress {
        assert_eq!((line["project_id"].as_str(), line["job_id"].as_str()), (Some("p1"), Some("j")));
        assert!(line["in_flight"].as_u64().unwrap() <= 1, "{line}");
        assert!(line["objects_per_second"].is_number() && line["listed_not_deleted"].is_u64());
    }
    let summary = lines.iter().find(|l| l["message"] == "deletion summary").unwrap();
    assert!(summary["ObjectsDeleted"].as_u64().unwrap() >= *deleted.last().unwrap());
    let now = world.jobs.keys().await;
    settle(
        "faults",
        "progress lines on a slowed store",
        1,
        &job,
        &neighbour,
        &now,
        "200, a line a second",
    );
}

#[tokio::test]
async fn every_message_of_a_batch_is_tried_in_the_invocation_that_received_it() {
    let _heavy = testkit::heavy().await;
    // GIVEN a slow store, a batch of a 20,000-object job and a small one, and an invocation far
    // too short for the first
    let (world, _proxy) = slowed("sqsshare", &[("DEADLINE_MARGIN_MS", "1000")]).await;
    let large = world.jobs.seed_job("", &JobSpec::new("p1", "large").objects(20_000, 8)).await;
    let small = world.jobs.seed_job("", &JobSpec::new("p1", "small").objects(10, 1)).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new("p1", "large0")).await;
    let request = |job: &str| {
        json!({"project_id": "p1", "job_id": job, "type": "etl", "offline_platform": {}})
            .to_string()
    };
    let batch = sqs_event(&[("m-large", request("large")), ("m-small", request("small"))]);

    // WHEN it is delivered with five seconds to its deadline
    let answer = invoke_event(&world.app, batch, Duration::from_secs(5)).await.unwrap();

    // THEN no message failed: the small job is gone, and the large one handed on
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let now = world.jobs.keys().await;
    assert!(now.is_disjoint(&small), "the small job must be gone");
    assert!(now.is_superset(&neighbour));
    let record: Value =
        serde_json::from_slice(&world.jobs.get("p1/jobs/large/job.json").await.unwrap()).unwrap();
    assert_eq!(record["status"], "deleting");
    let hand_ons = world.hand_ons.peek().await;
    assert_eq!(hand_ons.len(), 1, "one hand-on carries the large job on: {hand_ons:?}");
    let deleted = hand_ons[0]["deleted_objects"].as_u64().unwrap();
    assert!(deleted > 0 && deleted < large.len() as u64, "{deleted}");
    assert_eq!(now.intersection(&large).count() as u64, large.len() as u64 - deleted);
    let lines = summaries(&world);
    let outcomes: Vec<&str> = lines.iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["in_progress", "deleted"]);
    assert_eq!(lines[0]["HandOns"], 1);
    testkit::record(
        "continuation",
        "an SQS batch: a large job and a small one in a short invocation",
        2,
        0,
        0,
        "none failed; small deleted, large handed on",
    );
}

#[tokio::test]
async fn every_summary_says_who_asked_and_when() {
    // GIVEN jobs, and a deletion that outlives its first invocation
    let world = observed(
        "audit",
        &[("HTTP_BUDGET_MS", "1000"), ("DELETE_CONCURRENCY", "1"), ("DELETE_BATCH_SIZE", "5")],
    )
    .await;
    for job in ["a", "b", "c"] {
        world.jobs.seed_job("", &JobSpec::new("p1", job)).await;
    }
    let request = |job: &str| json!({"project_id": "p1", "job_id": job, "type": "etl", "offline_platform": {}});

    // WHEN each entry asks for a deletion: HTTP with a JWT, SQS, EventBridge, and a hand-on
    let http = invoke(&world.app, http_api_event("p1", "p1", &body("a", "etl", None))).await;
    assert_eq!(http.0, 200, "{}", http.1);
    let sqs = sqs_event(&[("m1", request("b").to_string())]);
    invoke_event(&world.app, sqs, Duration::from_secs(30)).await.unwrap();
    let event = testkit::delete_job_event(&request("c"));
    invoke_event(&world.app, event, Duration::from_secs(30)).await.unwrap();
    let hand_on = json!({"request": request("gone"), "chain": "c1", "deleted_objects": 0,
        "deleted_bytes": 0, "hops": 1});
    let event = world.hand_ons.event(&[("h1", hand_on.to_string())]);
    invoke_event(&world.app, event, Duration::from_secs(30)).await.unwrap();

    // THEN every summary names who asked, and when (RFC 3339)
    let lines = summaries(&world);
    let who: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["caller_type"].as_str().unwrap(), l["caller"].as_str().unwrap()))
        .collect();
    let hand_on_queue = world.hand_ons.arn.rsplit(':').next().unwrap().to_owned();
    assert_eq!(
        who,
        [
            ("jwt", "sub=user-of-p1 project_id=p1"),
            ("sqs", "queue=del-job sender=AROAEXAMPLE:res-cleanup"),
            ("eventbridge", "source=res.jobs account=123456789012"),
            ("hand_on", format!("queue={hand_on_queue}").as_str()),
        ]
    );
    for line in &lines {
        let when = line["timestamp"].as_str().unwrap();
        let parsed = aws_sdk_s3::primitives::DateTime::from_str(
            when,
            aws_sdk_s3::primitives::DateTimeFormat::DateTime,
        );
        assert!(parsed.is_ok(), "{when}");
    }
}

#[tokio::test]
async fn an_sqs_message_not_tried_is_counted_failed_and_warned() {
    let _heavy = testkit::heavy().await;
    // GIVEN a batch of a job too large for one invocation and a small one, a store that admits
    // 1,500 deletions a second, and a hand-on queue that stalls: the first message holds its
    // invocation until it must answer
    let sqs = testkit::proxy_to_moto(Settings::default()).await;
    let sqs_url = sqs.url();
    let env = [("DEADLINE_MARGIN_MS", "1000"), ("AWS_ENDPOINT_URL_SQS", sqs_url.as_str())];
    let (world, s3) = World::behind_proxy("nottried", Settings::default(), &env).await;
    s3.set_write_limit(Some(1_500));
    let stall = s3_proxy::Fault::new(
        s3_proxy::Match::Any,
        s3_proxy::Action::Stall(Duration::from_secs(60)),
    );
    sqs.set(Settings { delay: Duration::ZERO, faults: vec![stall] });
    world.jobs.seed_job("", &JobSpec::new("p1", "large").objects(6_000, 4)).await;
    let small = world.jobs.seed_job("", &JobSpec::new("p1", "small")).await;
    let request = |job: &str| {
        json!({"project_id": "p1", "job_id": job, "type": "etl", "offline_platform": {}})
            .to_string()
    };
    let batch = sqs_event(&[("m-large", request("large")), ("m-small", request("small"))]);

    // WHEN the batch is delivered three seconds before its deadline
    let answer = invoke_event(&world.app, batch, Duration::from_secs(3)).await.unwrap();

    // THEN both messages come back; the second, never tried, is counted failed, at WARN
    let failed = json!([{"itemIdentifier": "m-large"}, {"itemIdentifier": "m-small"}]);
    assert_eq!(answer["batchItemFailures"], failed);
    let line = world.last_summary();
    assert_eq!(
        (line["outcome"].as_str(), line["message_id"].as_str()),
        (Some("not_tried"), Some("m-small"))
    );
    assert_eq!((line["Failed"].as_u64(), line["level"].as_str()), (Some(1), Some("WARN")));
    assert!(world.jobs.keys().await.is_superset(&small));
}
