//! Attacks from inside the account, by someone who holds no user token, on the entries that carry
//! none (tickets, EventBridge events, IAM callers), and by a tenant aiming its configuration path
//! at another's sources; and a store that stalls to keep an HTTP caller waiting past API
//! Gateway's 29 s. Against Garage (moto for a versioned bucket), faults from `s3-proxy`. Each
//! attack is shown to delete nothing, every victim key still there, and the legitimate path beside
//! it still to work.

use del_job::entry::EventError;
use s3_proxy::Settings;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use testkit::fixture::JobSpec;
use testkit::{World, body, http_api_event, invoke, invoke_event, refused, settle, sqs_event};

/// The Lambda deadline of the event invocations.
const EVENT: Duration = Duration::from_secs(60);
/// The account the tests' function runs in (`testkit::FUNCTION_ARN`).
const OWN_ACCOUNT: &str = "123456789012";

/// The chain the records of jobs being deleted name, and the hand-ons below carry.
const CHAIN: &str = "c0ffee";

/// A hand-on as the function sends it, for `project`'s job `job`.
fn hand_on(project: &str, job: &str, config_path: Option<&str>, hops: u32) -> String {
    let mut request =
        json!({"project_id": project, "job_id": job, "type": "etl", "offline_platform": {}});
    if let Some(path) = config_path {
        request["offline_platform"]["config_load_path"] = path.into();
    }
    let hand_on = json!({"request": request, "chain": CHAIN, "deleted_objects": 0, "deleted_bytes": 0, "hops": hops});
    hand_on.to_string()
}

/// An EventBridge "Delete Job" for `project`'s job `job`.
fn delete_job_event(source: &str, account: &str, project: &str, job: &str) -> Value {
    json!({
        "version": "0", "id": "e0d6c8a4-1d0e-4b7e-9c2a-7b1f0e5d3c21",
        "detail-type": "Delete Job", "source": source, "account": account,
        "time": "2026-12-02T10:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": {"project_id": project, "job_id": job, "type": "etl", "offline_platform": {}}
    })
}

/// A direct S3 event notification of `event_name` for `key` in `bucket`.
fn s3_notification(bucket: &str, key: &str, event_name: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
        "eventTime": "2026-12-02T10:00:00.000Z", "eventName": event_name,
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": key, "size": 200}}
    }]})
}

/// The reason an event was refused; panics on any other result.
fn refusal(result: Result<Value, EventError>) -> String {
    match result {
        Err(EventError::Refused(reason)) => reason,
        other => panic!("expected the event to be refused, got {other:?}"),
    }
}

/// Records an attack's row for RELIABILITY.md and asserts every victim key is still there.
fn untouched(case: &str, runs: u64, victims: &BTreeSet<String>, now: &BTreeSet<String>) {
    settle("isolation", case, runs, &BTreeSet::new(), victims, now, "refused, nothing deleted");
}

#[tokio::test]
async fn whoever_may_write_the_bucket_can_neither_start_nor_steer_a_deletion() {
    // GIVEN a finished job of another project, a job being deleted whose record names its
    // configuration path, and another tenant's sources for a job of the same id
    let world = World::new("bucketwriter", "").await;
    let cfg = format!("s3://{}", world.configs.name);
    let victim = world.jobs.seed_job("", &JobSpec::new("p2", "victim").objects(40, 4)).await;
    let own_path = format!("{cfg}/p1-sources");
    let deleting = JobSpec::new("p1", "j").status("deleting").config_load_path(&own_path);
    let job = world.jobs.seed_job("", &deleting.deletion_chain(CHAIN).objects(10, 2)).await;
    let other_tenant = "p2-sources/j/config.json";
    world.configs.put(other_tenant, "{}").await;
    let mut victims = victim.clone();
    victims.extend(job.iter().cloned());

    // WHEN someone who may write the job bucket marks the victim's record deleting and writes
    // what a hand-on would carry where the bucket's events would see it
    let victim_record = "p2/jobs/victim/job.json";
    world.jobs.put(victim_record, r#"{"job_id":"victim","type":"etl","status":"deleting"}"#).await;
    let key = ".deletions/p2/victim.json";
    world.jobs.put(key, hand_on("p2", "victim", None, 0)).await;
    for event in [
        testkit::object_created_event(&world.jobs.name, key),
        s3_notification(&world.jobs.name, key, "ObjectCreated:Put"),
        s3_notification(&world.jobs.name, key, "ObjectRemoved:Delete"),
    ] {
        // THEN no bucket event is honoured: each fails, and deletes nothing
        let result = invoke_event(&world.app, event.clone(), EVENT).await;
        assert!(result.is_err(), "{event}: {result:?}");
    }
    // AND a hand-on sent to the request queue (where RequestSenders may send) is no request
    let forged = sqs_event(&[("m1", hand_on("p2", "victim", None, 0))]);
    let answer = invoke_event(&world.app, forged, EVENT).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([{"itemIdentifier": "m1"}]), "{answer}");
    assert_eq!(world.last_summary()["error_code"], "res.1006");
    let mut written = victims.clone();
    written.insert(key.to_owned());
    assert_eq!(world.jobs.keys().await, written, "a victim key is gone");

    // AND a hand-on whose job's record was rewritten under it (another tenant's configuration
    // path, or a status other than deleting) is refused, deleting nothing
    world.jobs.put(victim_record, r#"{"job_id":"victim","type":"etl","status":"succeeded"}"#).await;
    let record = "p1/jobs/j/job.json";
    let original = world.jobs.get(record).await.unwrap();
    let steered = format!(
        r#"{{"job_id":"j","type":"etl","status":"deleting","config_load_path":"{cfg}/p2-sources"}}"#
    );
    world.jobs.put(record, steered).await;
    for body in [hand_on("p1", "j", Some(&own_path), 1), hand_on("p2", "victim", None, 1)] {
        let event = world.hand_ons.event(&[("h1", body.clone())]);
        let answer = invoke_event(&world.app, event, EVENT).await.unwrap();
        assert_eq!(answer["batchItemFailures"], json!([{"itemIdentifier": "h1"}]), "{body}");
        assert_eq!(world.last_summary()["outcome"], "refused", "{body}");
    }
    assert_eq!(world.jobs.keys().await, written);
    assert!(world.configs.get(other_tenant).await.is_some());
    untouched(
        "bucket writes: a record marked deleting, ticket-like objects, their S3 events; hand-ons \
         of rewritten records",
        6,
        &victims,
        &world.jobs.keys().await,
    );

    // AND the job's own hand-on, its record as the function wrote it, still finishes it
    world.jobs.put(record, original).await;
    let event = world.hand_ons.event(&[("h2", hand_on("p1", "j", Some(&own_path), 1))]);
    let answer = invoke_event(&world.app, event, EVENT).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert_eq!(world.last_summary()["outcome"], "deleted");
    let mut left = victim.clone();
    left.insert(key.to_owned());
    assert_eq!(world.jobs.keys().await, left);
    assert!(world.configs.get(other_tenant).await.is_some());
}

#[tokio::test]
async fn a_record_marked_deleting_in_a_versioned_bucket_leaves_every_version() {
    // GIVEN a finished job in a versioned bucket, some of its objects overwritten
    let world = World::versioned("forgedvers", &[]).await;
    world.jobs.seed_job("", &JobSpec::new("p2", "victim").objects(12, 2)).await;
    world.jobs.put("p2/jobs/victim/output/part-00000/data-000000.parquet", "v2").await;

    // WHEN a bucket writer marks its record deleting, and the bucket's event arrives
    world.jobs.put("p2/jobs/victim/job.json", r#"{"type":"etl","status":"deleting"}"#).await;
    let before = world.jobs.versions().await;
    let key = "p2/jobs/victim/job.json";
    let event = s3_notification(&world.jobs.name, key, "ObjectCreated:Put");
    assert!(invoke_event(&world.app, event, EVENT).await.is_err());

    // THEN not one version or delete marker of the job is gone
    let named = |versions: &BTreeSet<(String, String)>| -> BTreeSet<String> {
        versions.iter().map(|(k, v)| format!("{k}@{v}")).collect()
    };
    untouched(
        "a record marked deleting in a versioned bucket (every version)",
        1,
        &named(&before),
        &named(&world.jobs.versions().await),
    );
}

#[tokio::test]
async fn delete_job_events_are_honoured_only_from_the_source_and_trusted_accounts() {
    // GIVEN two jobs, and a function that trusts one account besides its own
    let world = World::with_env("ebtrust", "", &[("TRUSTED_ACCOUNTS", "111122223333")]).await;
    let a = world.jobs.seed_job("", &JobSpec::new("p1", "a")).await;
    let b = world.jobs.seed_job("", &JobSpec::new("p1", "b")).await;
    let everything: BTreeSet<String> = a.union(&b).cloned().collect();

    // WHEN "Delete Job" comes from another source, or from an account not trusted
    for (source, account, why) in [
        ("evil.jobs", OWN_ACCOUNT, "source"),
        ("aws.s3", OWN_ACCOUNT, "source"),
        ("res.jobs", "999999999999", "account"),
        ("res.jobs", "", "account"),
    ] {
        let event = delete_job_event(source, account, "p1", "a");
        let reason = refusal(invoke_event(&world.app, event, EVENT).await);
        // THEN it fails, naming why, and deletes nothing
        assert!(reason.contains(why), "{source} {account}: {reason}");
        assert_eq!(world.jobs.keys().await, everything, "{source} {account}");
    }
    untouched(
        "\"Delete Job\" from another source or account",
        4,
        &everything,
        &world.jobs.keys().await,
    );

    // AND from EVENT_SOURCE in its own account, or a trusted one, it deletes exactly the job
    let own = invoke_event(&world.app, delete_job_event("res.jobs", OWN_ACCOUNT, "p1", "a"), EVENT);
    assert_eq!(own.await.unwrap()["outcome"], "deleted");
    assert_eq!(world.jobs.keys().await, b);
    let trusted = delete_job_event("res.jobs", "111122223333", "p1", "b");
    assert_eq!(invoke_event(&world.app, trusted, EVENT).await.unwrap()["outcome"], "deleted");
    assert!(world.jobs.keys().await.is_empty());
}

#[tokio::test]
async fn a_delete_job_detail_that_names_a_member_twice_is_refused_as_a_body_is() {
    // GIVEN two jobs in two projects
    let world = World::new("ebdup", "").await;
    let a = world.jobs.seed_job("", &JobSpec::new("p1", "a")).await;
    let b = world.jobs.seed_job("", &JobSpec::new("p2", "a")).await;
    let everything: BTreeSet<String> = a.union(&b).cloned().collect();

    // WHEN a "Delete Job" names project_id twice, as an SQS body or an HTTP body could
    let detail =
        r#"{"project_id":"p1","project_id":"p2","job_id":"a","type":"etl","offline_platform":{}}"#;
    let event = format!(
        r#"{{"version":"0","id":"1","detail-type":"Delete Job","source":"res.jobs","account":"{OWN_ACCOUNT}","time":"2026-12-02T10:00:00Z","region":"eu-west-1","resources":[],"detail":{detail}}}"#
    );
    let result = testkit::invoke_text(&world.app, &event, EVENT).await;

    // THEN it fails with res.1006, naming the member, and deletes nothing
    match result {
        Err(EventError::Failed(err)) => {
            assert_eq!(err.code(), "res.1006", "{err}");
            assert!(err.to_string().contains("project_id"), "{err}");
        }
        other => panic!("expected res.1006, got {other:?}"),
    }
    untouched(
        "a \"Delete Job\" detail with a member twice",
        1,
        &everything,
        &world.jobs.keys().await,
    );
}

/// An HTTP API request to delete `project`'s job `job` signed by the IAM principal `arn`.
fn iam_event(project: &str, job: &str, arn: &str) -> Value {
    let mut event = http_api_event(project, project, &body(job, "etl", None));
    event["requestContext"]["authorizer"] =
        json!({"iam": {"accessKey": "ASIA", "accountId": "111122223333", "userArn": arn}});
    event
}

#[tokio::test]
async fn iam_callers_delete_only_when_trusted_by_name() {
    // GIVEN jobs in two projects, and a function that trusts roles named cleanup-*
    let trusted = "arn:aws:iam::111122223333:role/cleanup-*";
    let world = World::with_env("iamtrust", "", &[("TRUSTED_PRINCIPALS", trusted)]).await;
    let a = world.jobs.seed_job("", &JobSpec::new("p1", "a")).await;
    let b = world.jobs.seed_job("", &JobSpec::new("p2", "b")).await;
    let everything: BTreeSet<String> = a.union(&b).cloned().collect();

    // WHEN callers the function does not trust ask: another role, a guest of an identity pool,
    // a role of another account, and a context without an ARN
    for arn in [
        "arn:aws:iam::111122223333:role/reporting",
        "arn:aws:sts::111122223333:assumed-role/Cognito_PoolUnauth_Role/CognitoIdentityCredentials",
        "arn:aws:sts::999922223333:assumed-role/cleanup-nightly/s",
        "",
    ] {
        // THEN they get a 403 res.1012, and nothing is deleted
        refused(&invoke(&world.app, iam_event("p1", "a", arn)).await, 403, "res.1012");
        assert_eq!(world.jobs.keys().await, everything, "{arn}");
    }
    untouched("untrusted IAM callers", 4, &everything, &world.jobs.keys().await);

    // AND a session of a trusted role may delete in any project, exactly the job it names
    let session = "arn:aws:sts::111122223333:assumed-role/cleanup-nightly/i-0abc";
    let (status, envelope) = invoke(&world.app, iam_event("p2", "b", session)).await;
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(world.jobs.keys().await, a);

    // AND by default no IAM caller is trusted at all
    let default = World::new("iamdefault", "").await;
    let c = default.jobs.seed_job("", &JobSpec::new("p1", "c")).await;
    refused(&invoke(&default.app, iam_event("p1", "c", session)).await, 403, "res.1012");
    assert_eq!(default.jobs.keys().await, c);
}

#[tokio::test]
async fn the_record_decides_the_configuration_path() {
    // GIVEN project p1's job j, whose record names its configuration sources, and project p2's
    // sources for a job of the same id
    let world = World::new("confrecord", "").await;
    let cfg = format!("s3://{}", world.configs.name);
    let spec = JobSpec::new("p1", "j").config_load_path(&format!("{cfg}/p1/sources"));
    let job = world.jobs.seed_job("", &spec).await;
    let own = "p1/sources/j/config.json";
    let other = "p2/sources/j/config.json";
    world.configs.put(own, "{}").await;
    world.configs.put(other, "{}").await;

    // WHEN p1 asks to delete j naming p2's configuration path
    let aimed = body("j", "etl", Some(&format!("{cfg}/p2/sources")));
    let message =
        refused(&invoke(&world.app, http_api_event("p1", "p1", &aimed)).await, 400, "res.1001");

    // THEN it is refused by the parameter's name, and nothing is deleted
    assert!(message.contains("offline_platform.config_load_path"), "{message}");
    let victims: BTreeSet<String> =
        job.iter().cloned().chain([format!("cfg:{own}"), format!("cfg:{other}")]).collect();
    let now = |jobs: BTreeSet<String>, configs: BTreeSet<String>| -> BTreeSet<String> {
        jobs.into_iter().chain(configs.into_iter().map(|k| format!("cfg:{k}"))).collect()
    };
    untouched(
        "a configuration path aimed at another project's sources",
        1,
        &victims,
        &now(world.jobs.keys().await, world.configs.keys().await),
    );

    // AND the same request naming no path deletes the recorded folder, and only that
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("j", "etl", None))).await;
    assert_eq!(status, 200, "{envelope}");
    assert!(world.jobs.keys().await.is_empty());
    assert_eq!(world.configs.keys().await, BTreeSet::from([other.to_owned()]));
}

/// A world whose function reaches Garage through `s3-proxy`, set with `settings`.
/// Deletion slowed to a few hundred objects a second: one request of 5 keys at a time, each
/// 20 ms late.
const SLOW: [(&str, &str); 3] =
    [("DELETE_CONCURRENCY", "1"), ("DELETE_BATCH_SIZE", "5"), ("LIST_CONCURRENCY", "1")];

#[tokio::test]
async fn a_chain_of_hand_ons_stops_after_max_hops() {
    let _heavy = testkit::heavy().await;
    // GIVEN a slow store, a function that may take two invocations, and a job too large for that
    let slow = Settings { delay: Duration::from_millis(20), faults: Vec::new() };
    let mut env = SLOW.to_vec();
    env.extend([("MAX_HOPS", "2"), ("HTTP_BUDGET_MS", "1000"), ("DEADLINE_MARGIN_MS", "1000")]);
    let (world, _proxy) = World::behind_proxy("maxhops", slow, &env).await;
    let job = world.jobs.seed_job("", &JobSpec::new("p1", "big").objects(3_000, 4)).await;

    // WHEN it is deleted through the API, and its hand-on is delivered
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("big", "etl", None))).await;
    assert_eq!(status, 202, "{envelope}");
    let second = world.hand_ons.deliver(&world.app, Duration::from_secs(3)).await.unwrap();

    // THEN the second invocation, the last MAX_HOPS allows, deletes what its budget holds but
    // sends no third: it fails visibly (503 res.5003 naming MAX_HOPS; its message stays for the
    // dead-letter queue) and leaves the job `deleting`
    assert!(second.failed, "{:?}", second.result);
    assert_eq!(second.body["hops"], 1);
    let summary = world.last_summary();
    assert_eq!(
        (summary["outcome"].as_str(), summary["Failed"].as_u64(), summary["status"].as_u64()),
        (Some("failed"), Some(1), Some(503)),
        "{summary}"
    );
    assert!(summary["error"].as_str().unwrap().contains("MAX_HOPS"), "{summary}");
    let left = world.jobs.keys().await;
    assert!(left.len() > 1 && left.len() < job.len(), "{} left", left.len());
    let record: Value =
        serde_json::from_slice(&world.jobs.get("p1/jobs/big/job.json").await.unwrap()).unwrap();
    assert_eq!(record["status"], "deleting");
    let pending = world.hand_ons.peek().await;
    assert_eq!(pending.len(), 1, "only the failed hand-on, back in the queue: {pending:?}");
    assert_eq!(pending[0]["hops"], 1);

    // AND a hand-on that arrives at MAX_HOPS (the limit lowered meanwhile) deletes nothing and
    // fails the same way
    let world = world.reconfigured(&[("MAX_HOPS", "1")]).await;
    let late = world.hand_ons.deliver(&world.app, Duration::from_secs(3)).await.unwrap();
    assert!(late.failed, "{:?}", late.result);
    assert!(world.last_summary()["error"].as_str().unwrap().contains("MAX_HOPS"));
    assert_eq!(world.jobs.keys().await, left);
    testkit::record(
        "continuation",
        "a chain of hand-ons past MAX_HOPS",
        3,
        0,
        0,
        "stopped, job left deleting",
    );
}
