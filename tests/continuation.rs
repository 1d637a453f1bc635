//! Jobs larger than one invocation, and the SQS entry, against Garage and moto's SQS: the HTTP
//! answer 202 comes only once a hand-on carries the rest, the hand-on queue's messages resume the
//! deletion invocation after invocation, and SQS batches report exactly the messages that failed.

use s3_proxy::{Action, Fault, Match, Proxy, Settings};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use testkit::fixture::JobSpec;
use testkit::{World, body, http_api_event, invoke, invoke_event, sqs_event};

const P1: &str = "p1";
/// The Lambda deadline each continuation gets in these tests. It keeps a margin of 2 s to hand
/// on: these tests race several large deletions on two cores, and a hand-on can wait.
const INVOCATION: Duration = Duration::from_secs(8);
const HTTP_BUDGET: Duration = Duration::from_secs(3);

/// Keys the store admits a second. It bounds what one invocation can delete whatever the
/// machine's speed: the HTTP answer at most (3 s + 1 s of burst) × 4,000 = 16,000 keys, a
/// continuation at most 28,000, so the jobs below always outlast the first request.
const STORE_RATE: u64 = 4_000;

/// A world whose store admits [`STORE_RATE`] deletions a second, as S3 admits a prefix's writes.
async fn world(label: &str) -> (World, Proxy) {
    let env = [("HTTP_BUDGET_MS", "3000"), ("DEADLINE_MARGIN_MS", "2000")];
    let (world, proxy) = World::behind_proxy(label, Settings::default(), &env).await;
    proxy.set_write_limit(Some(STORE_RATE));
    (world, proxy)
}

/// Delivers the hand-on queue's messages until it is empty; returns how many invocations it
/// took. Every invocation must end before its deadline. A message the function reports failed
/// stays in the queue and is delivered again, as SQS would; a failure that is not the store's
/// fails the test.
async fn deliver_until_done(world: &World) -> usize {
    for hop in 1..=200 {
        let started = Instant::now();
        let Some(delivery) = world.hand_ons.deliver(&world.app, INVOCATION).await else {
            return hop - 1;
        };
        let took = started.elapsed();
        assert!(took < INVOCATION, "hop {hop} overran its deadline: {took:?}");
        if delivery.failed {
            let answer = delivery.result.expect("an SQS batch always gets an answer");
            let last = world.last_summary();
            assert_eq!(last["error_code"], "res.5003", "hop {hop}: {answer} {last}");
        }
    }
    panic!("the deletion never finished")
}

/// The job and its record are gone, the neighbour stays, the queue is empty; recorded for
/// RELIABILITY.md.
async fn assert_only_neighbour_left(
    world: &World,
    job: &BTreeSet<String>,
    neighbour: &BTreeSet<String>,
    (case, runs, outcome): (&str, usize, &str),
) {
    let now = world.jobs.keys().await;
    testkit::settle("continuation", case, runs as u64, job, neighbour, &now, outcome);
    assert_eq!(now, *neighbour, "nothing else may be left");
    assert_eq!(world.hand_ons.pending().await, 0, "no hand-on may be left");
}

#[tokio::test]
async fn a_job_too_large_for_one_request_is_finished_through_its_hand_ons() {
    let _heavy = testkit::heavy().await;
    // GIVEN a 50,000-object job and an HTTP budget of three seconds
    let (world, _proxy) = world("fiftyk").await;
    let job = world.jobs.seed_job("", &JobSpec::new(P1, "big").objects(50_000, 16)).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new(P1, "big0")).await;

    // WHEN it is deleted through the API
    let started = Instant::now();
    let (status, envelope) =
        invoke(&world.app, http_api_event(P1, P1, &body("big", "etl", None))).await;

    // THEN the answer is a 202 soon after the budget (handing on takes two writes), the record
    // says deleting, and a hand-on is in the queue
    assert_eq!(status, 202, "{envelope}");
    let took = started.elapsed();
    assert!(took < HTTP_BUDGET + Duration::from_secs(1), "{took:?}");
    assert_eq!(envelope["is_success"], true);
    assert_eq!(envelope["message"], "Deletion of job big is in progress.");
    let first = envelope["deleted_objects"].as_u64().unwrap();
    assert!(first > 0 && first < 50_000, "{first}");
    let record: Value =
        serde_json::from_slice(&world.jobs.get("p1/jobs/big/job.json").await.unwrap()).unwrap();
    assert_eq!(record["status"], "deleting");
    assert_eq!(record["name"], "demo", "the record keeps its other fields");
    let hand_ons = world.hand_ons.peek().await;
    assert_eq!(hand_ons.len(), 1, "{hand_ons:?}");
    assert_eq!(hand_ons[0]["request"]["job_id"], "big");
    assert_eq!(
        (hand_ons[0]["deleted_objects"].as_u64(), hand_ons[0]["hops"].as_u64()),
        (Some(first), Some(1))
    );

    // AND the hand-ons, delivered as the queue's event source mapping would, finish the job
    let hops = deliver_until_done(&world).await;
    assert!(hops > 1, "the continuations should need several invocations");
    let outcome =
        format!("202, then {hops} invocations from the hand-on queue, none past its deadline");
    let case = ("50,000 objects: HTTP 202, then the hand-ons", hops + 1, outcome.as_str());
    assert_only_neighbour_left(&world, &job, &neighbour, case).await;

    // AND a late duplicate of a hand-on finds the job gone, and is done
    let late = world.hand_ons.event(&[("late", hand_ons[0].to_string())]);
    let answer = invoke_event(&world.app, late, INVOCATION).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert_eq!(world.last_summary()["outcome"], "job_gone");
}

#[tokio::test]
async fn a_continuation_killed_midway_is_finished_by_its_message_delivered_again() {
    let _heavy = testkit::heavy().await;
    let (world, _proxy) = world("killed").await;
    let job = world.jobs.seed_job("", &JobSpec::new(P1, "big").objects(20_000, 8)).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new(P1, "big0")).await;
    let (status, envelope) =
        invoke(&world.app, http_api_event(P1, P1, &body("big", "etl", None))).await;
    assert_eq!(status, 202, "{envelope}");

    // WHEN a continuation is ended part way, as a process killed mid-request would be
    let lost = world.hand_ons.deliver_and_kill(&world.app, Duration::from_millis(300)).await;
    assert!(lost.is_some(), "a hand-on must be there to deliver");
    assert_eq!(world.hand_ons.pending().await, 1, "the hand-on must survive the kill");

    // THEN delivering its message again finishes the job
    let hops = deliver_until_done(&world).await;
    let case = (
        "a continuation killed mid-way, its message delivered again",
        hops + 1,
        "finished by the message delivered again",
    );
    assert_only_neighbour_left(&world, &job, &neighbour, case).await;
}

#[tokio::test]
async fn an_http_retry_racing_a_continuation_ends_cleanly_with_nothing_left() {
    let _heavy = testkit::heavy().await;
    let (world, _proxy) = world("race").await;
    let job = world.jobs.seed_job("", &JobSpec::new(P1, "big").objects(30_000, 16)).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new(P1, "big0")).await;
    let request = http_api_event(P1, P1, &body("big", "etl", None));
    let (status, envelope) = invoke(&world.app, request.clone()).await;
    assert_eq!(status, 202, "{envelope}");

    // WHEN the caller retries while the continuation runs
    let retry = async {
        let mut statuses = Vec::new();
        loop {
            let (status, envelope) = invoke(&world.app, request.clone()).await;
            statuses.push(status);
            assert!(matches!(status, 200 | 202 | 404), "{status}: {envelope}");
            if status != 202 {
                return statuses;
            }
        }
    };
    let (statuses, _) = tokio::join!(retry, deliver_until_done(&world));

    // THEN neither failed, the job ended with a 200 or a 404, and nothing is left once every
    // hand-on (one a 202) is delivered
    assert!(matches!(statuses.last(), Some(200 | 404)), "{statuses:?}");
    deliver_until_done(&world).await;
    let outcome = format!("HTTP answers {statuses:?}, no 500");
    let case = ("an HTTP retry racing a continuation", statuses.len(), outcome.as_str());
    assert_only_neighbour_left(&world, &job, &neighbour, case).await;
}

#[tokio::test]
async fn a_hand_on_whose_job_is_gone_is_done_and_one_from_another_queue_is_a_request() {
    let (world, _proxy) = world("orphan").await;
    let hand_on = json!({
        "request": {"project_id": "p1", "job_id": "big", "type": "ranking"},
        "chain": "c0ffee", "deleted_objects": 5, "deleted_bytes": 50, "hops": 1
    });
    let neighbour = world.jobs.seed_job("", &JobSpec::new(P1, "big0")).await;
    let event = world.hand_ons.event(&[("m1", hand_on.to_string())]);
    let answer = invoke_event(&world.app, event, INVOCATION).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert_eq!(world.last_summary()["outcome"], "job_gone");
    assert_eq!(world.jobs.keys().await, neighbour);

    // The same body through another queue (the request queue) is a request, and not a valid one.
    let answer = invoke_event(&world.app, sqs_event(&[("m2", hand_on.to_string())]), INVOCATION)
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"], json!([{"itemIdentifier": "m2"}]), "{answer}");
    assert_eq!(world.last_summary()["error_code"], "res.1006");
    assert_eq!(world.jobs.keys().await, neighbour);
}

#[tokio::test]
async fn an_sqs_batch_reports_exactly_the_messages_that_failed() {
    // GIVEN jobs behind a proxy that refuses every request about the job `locked`
    let refuse = Fault::new(
        Match::Contains("/locked/".into()),
        Action::Reply { status: 403, code: "AccessDenied".into() },
    );
    let settings = Settings { delay: Duration::ZERO, faults: vec![refuse] };
    let (world, _proxy) = World::behind_proxy("sqs", settings, &[]).await;
    world.jobs.seed_job("", &JobSpec::new(P1, "done").objects(30, 3)).await;
    let locked = world.jobs.seed_job("", &JobSpec::new(P1, "locked").job_type("ranking")).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new(P1, "done0")).await;
    let request = |job: &str, job_type: &str| {
        json!({"project_id": P1, "job_id": job, "type": job_type, "offline_platform": {}})
            .to_string()
    };

    // WHEN a batch mixes a valid request, invalid ones, a job that is gone and a store failure
    let batch = sqs_event(&[
        ("m-valid", request("done", "etl")),
        ("m-not-json", "{\"project_id\":".into()),
        ("m-bad-type", request("done0", "batch")),
        ("m-gone", request("never-was", "etl")),
        ("m-store-fails", request("locked", "ranking")),
    ]);
    let answer = invoke_event(&world.app, batch, Duration::from_secs(60)).await.unwrap();

    // THEN exactly the invalid and the failed messages come back, and only `done` is gone
    let failed: BTreeSet<&str> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failed, BTreeSet::from(["m-not-json", "m-bad-type", "m-store-fails"]));
    let expected: BTreeSet<String> = locked.union(&neighbour).cloned().collect();
    assert_eq!(world.jobs.keys().await, expected);
}
