//! Attacks from inside the account, by someone who holds no user token, on the entries that carry
//! none (tickets, EventBridge events, IAM callers), and by a tenant aiming its configuration path
//! at another's sources; and a store that stalls to keep an HTTP caller waiting past API
//! Gateway's 29 s. Against Garage (moto for a versioned bucket), faults from `s3-proxy`. Each
//! attack is shown to delete nothing, every victim key still there, and the legitimate path beside
//! it still to work.

mod common;

use common::fixture::JobSpec;
use common::{
    World, body, http_api_event, invoke, invoke_event, object_created_event, refused, settle,
};
use del_job::entry::EventError;
use s3_proxy::{Action, Fault, Match, Settings};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The Lambda deadline of the event invocations.
const EVENT: Duration = Duration::from_secs(60);
/// The account the tests' function runs in (`common::FUNCTION_ARN`).
const OWN_ACCOUNT: &str = "123456789012";

/// A ticket as a hand-on writes it, for `project`'s job `job`.
fn ticket(project: &str, job: &str, config_path: Option<&str>, hops: u32) -> String {
    let mut request =
        json!({"project_id": project, "job_id": job, "type": "etl", "offline_platform": {}});
    if let Some(path) = config_path {
        request["offline_platform"]["config_load_path"] = path.into();
    }
    json!({"request": request, "deleted_objects": 0, "deleted_bytes": 0, "hops": hops}).to_string()
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
async fn a_forged_ticket_deletes_nothing_and_is_removed() {
    // GIVEN a finished job of another project, and a job being deleted whose record names its
    // configuration path, beside another tenant's sources for a job of the same id
    let world = World::new("forged", "").await;
    let cfg = format!("s3://{}", world.configs.name);
    let victim = world.jobs.seed_job("", &JobSpec::new("p2", "victim").objects(40, 4)).await;
    let own_path = format!("{cfg}/p1-sources");
    let deleting =
        JobSpec::new("p1", "j").status("deleting").config_load_path(&own_path).objects(10, 2);
    let mut victims = victim.clone();
    victims.extend(world.jobs.seed_job("", &deleting).await);
    let other_tenant = "p2-sources/j/config.json";
    world.configs.put(other_tenant, "{}").await;

    // WHEN someone who may write under .deletions/ writes tickets and their events arrive
    let forgeries = [
        // a job that is not being deleted
        (".deletions/p2/victim.json", ticket("p2", "victim", None, 1), "succeeded"),
        // a ticket that names another job than its key
        (".deletions/p2/victim.json", ticket("p1", "j", Some(&own_path), 1), "another job"),
        // a job being deleted, with another tenant's configuration path
        (
            ".deletions/p1/j.json",
            ticket("p1", "j", Some(&format!("{cfg}/p2-sources")), 1),
            "configuration path",
        ),
        // the same job without its recorded path
        (".deletions/p1/j.json", ticket("p1", "j", None, 1), "configuration path"),
    ];
    for (key, forged, why) in &forgeries {
        world.jobs.put(key, forged.as_str()).await;
        let event = object_created_event(&world.jobs.name, key);
        let reason = refusal(invoke_event(&world.app, event, EVENT).await);

        // THEN the event fails saying why, the ticket is gone, and nothing else is
        assert!(reason.contains(why), "{key}: {reason}");
        assert!(world.jobs.get(key).await.is_none(), "{key}: the forged ticket must be removed");
        assert!(world.jobs.keys().await.is_superset(&victims), "{key}: a victim key is gone");
        assert!(world.configs.get(other_tenant).await.is_some());
    }
    untouched(
        "forged tickets (finished job, other job, other path)",
        4,
        &victims,
        &world.jobs.keys().await,
    );

    // AND the ticket a real hand-on writes still resumes the deletion
    world.jobs.put(".deletions/p1/j.json", ticket("p1", "j", Some(&own_path), 1)).await;
    let event = object_created_event(&world.jobs.name, ".deletions/p1/j.json");
    let summary = invoke_event(&world.app, event, EVENT).await.unwrap();
    assert_eq!(summary["outcome"], "deleted", "{summary}");
    assert_eq!(world.jobs.keys().await, victim);
    assert!(world.configs.get(other_tenant).await.is_some());
}

#[tokio::test]
async fn a_forged_ticket_in_a_versioned_bucket_leaves_every_version() {
    // GIVEN a finished job in a versioned bucket, some of its objects overwritten
    let world = World::versioned("forgedvers", &[]).await;
    world.jobs.seed_job("", &JobSpec::new("p2", "victim").objects(12, 2)).await;
    world.jobs.put("p2/jobs/victim/output/part-00000/data-000000.parquet", "v2").await;
    let before = world.jobs.versions().await;

    // WHEN a forged ticket's event arrives
    let key = ".deletions/p2/victim.json";
    world.jobs.put(key, ticket("p2", "victim", None, 1)).await;
    let reason =
        refusal(invoke_event(&world.app, object_created_event(&world.jobs.name, key), EVENT).await);

    // THEN not one version or delete marker of the job is gone
    assert!(reason.contains("succeeded"), "{reason}");
    let now = world.jobs.versions().await;
    let named = |versions: &BTreeSet<(String, String)>| -> BTreeSet<String> {
        versions
            .iter()
            .filter(|(k, _)| !k.starts_with(".deletions/"))
            .map(|(k, v)| format!("{k}@{v}"))
            .collect()
    };
    untouched(
        "a forged ticket in a versioned bucket (every version)",
        1,
        &named(&before),
        &named(&now),
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
async fn ticket_events_are_honoured_only_from_s3_for_the_job_bucket_in_a_trusted_account() {
    // GIVEN a job being deleted, with its ticket
    let world = World::new("s3trust", "").await;
    let job = world.jobs.seed_job("", &JobSpec::new("p1", "j").status("deleting")).await;
    let key = ".deletions/p1/j.json";
    world.jobs.put(key, ticket("p1", "j", None, 1)).await;
    let mut victims = job.clone();
    victims.insert(key.into());

    // WHEN its Object Created event comes from another account, another source or another
    // bucket
    let mut foreign = object_created_event(&world.jobs.name, key);
    foreign["account"] = json!("999999999999");
    let mut spoofed = object_created_event(&world.jobs.name, key);
    spoofed["source"] = json!("res.jobs");
    let elsewhere = object_created_event(&world.configs.name, key);
    for (event, why) in
        [(foreign, "account"), (spoofed, "source"), (elsewhere, "not a deletion ticket")]
    {
        let reason = refusal(invoke_event(&world.app, event, EVENT).await);
        // THEN it fails and deletes nothing, the ticket included
        assert!(reason.contains(why), "{reason}");
        assert_eq!(world.jobs.keys().await, victims);
    }
    untouched(
        "ticket events from another account, source or bucket",
        3,
        &victims,
        &world.jobs.keys().await,
    );

    // AND the bucket's own event resumes the deletion
    let event = object_created_event(&world.jobs.name, key);
    assert_eq!(invoke_event(&world.app, event, EVENT).await.unwrap()["outcome"], "deleted");
    assert!(world.jobs.keys().await.is_empty());
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
    let _heavy = common::heavy().await;
    // GIVEN a slow store, a function that may hand on twice, and a job too large for that
    let slow = Settings { delay: Duration::from_millis(20), faults: Vec::new() };
    let mut env = SLOW.to_vec();
    env.extend([("MAX_HOPS", "2"), ("HTTP_BUDGET_MS", "1000"), ("DEADLINE_MARGIN_MS", "1000")]);
    let (world, _proxy) = World::behind_proxy("maxhops", slow, &env).await;
    let job = world.jobs.seed_job("", &JobSpec::new("p1", "big").objects(3_000, 4)).await;
    let key = ".deletions/p1/big.json";

    // WHEN it is deleted through the API, and the ticket's events are delivered
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("big", "etl", None))).await;
    assert_eq!(status, 202, "{envelope}");
    let resumed = object_created_event(&world.jobs.name, key);
    let second = invoke_event(&world.app, resumed.clone(), Duration::from_secs(3)).await.unwrap();
    assert_eq!(second["outcome"], "in_progress", "{second}");
    let left = world.jobs.keys().await;
    let reason = refusal(invoke_event(&world.app, resumed, Duration::from_secs(3)).await);

    // THEN the third invocation stops the chain: it fails, deletes nothing, and leaves the job
    // `deleting` with its ticket
    assert!(reason.contains("MAX_HOPS"), "{reason}");
    assert_eq!(world.jobs.keys().await, left);
    assert!(left.len() > 1 && left.len() < job.len(), "{} left", left.len());
    let record: Value =
        serde_json::from_slice(&world.jobs.get("p1/jobs/big/job.json").await.unwrap()).unwrap();
    assert_eq!(record["status"], "deleting");
    assert_eq!(
        serde_json::from_slice::<Value>(&world.jobs.get(key).await.unwrap()).unwrap()["hops"],
        2
    );
    common::record(
        "continuation",
        "a chain of hand-ons past MAX_HOPS",
        3,
        0,
        0,
        "stopped, job left deleting",
    );
}

#[tokio::test]
async fn a_store_that_stalls_on_the_record_is_answered_503_before_api_gateway_gives_up() {
    // GIVEN a store that holds every request for the job's record a minute
    let stall = Fault::new(
        Match::Contains("/p1/jobs/j/job.json".into()),
        Action::Stall(Duration::from_secs(60)),
    );
    let stalled = Settings { delay: Duration::ZERO, faults: vec![stall.clone()] };
    let (world, _proxy) = World::behind_proxy("stallrecord", stalled, &[]).await;
    let job = world.jobs.seed_job("", &JobSpec::new("p1", "j")).await;

    // WHEN the job is deleted with the default HTTP budget
    let started = Instant::now();
    let answer = invoke(&world.app, http_api_event("p1", "p1", &body("j", "etl", None))).await;

    // THEN the caller gets the envelope's 503 before API Gateway's 29 s, and nothing is deleted
    let took = started.elapsed();
    let message = refused(&answer, 503, "res.5003");
    assert!(took < Duration::from_secs(29), "answered after {took:?}");
    assert!(stall.fired() > 0);
    assert!(message.contains("record"), "{message}");
    untouched("a store that stalls on the record read", 1, &job, &world.jobs.keys().await);
}

#[tokio::test]
async fn a_store_that_stalls_on_the_hand_on_is_answered_within_the_allowance() {
    let _heavy = common::heavy().await;
    // GIVEN a slow store that holds every write of a ticket a minute, and a short HTTP budget
    let stall =
        Fault::new(Match::Contains(".deletions/".into()), Action::Stall(Duration::from_secs(60)));
    let settings = Settings { delay: Duration::from_millis(20), faults: vec![stall.clone()] };
    let mut env = SLOW.to_vec();
    env.push(("HTTP_BUDGET_MS", "1500"));
    let (world, proxy) = World::behind_proxy("stallhandon", settings, &env).await;
    let job = world.jobs.seed_job("", &JobSpec::new("p1", "j").objects(2_000, 4)).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new("p1", "j0")).await;

    // WHEN the job is deleted and the budget runs out
    let request = http_api_event("p1", "p1", &body("j", "etl", None));
    let started = Instant::now();
    let answer = invoke(&world.app, request.clone()).await;

    // THEN the answer is a 503 within the budget and the 2 s hand-on allowance, not a 202 that
    // no ticket backs, and the job's record is kept
    let took = started.elapsed();
    refused(&answer, 503, "res.5003");
    assert!(took < Duration::from_millis(1_500 + 2_000 + 700), "answered after {took:?}");
    assert!(stall.fired() > 0);
    assert!(world.jobs.get("p1/jobs/j/job.json").await.is_some());

    // AND once the store recovers, the same request, retried, finishes the job
    proxy.set(Settings::default());
    let mut tries = 1;
    loop {
        tries += 1;
        let (status, envelope) = invoke(&world.app, request.clone()).await;
        match status {
            202 => assert!(tries < 30, "the job never finished"),
            200 => break,
            _ => panic!("{status}: {envelope}"),
        }
    }
    let now = world.jobs.keys().await;
    let mut doomed = job.clone();
    doomed.insert(".deletions/p1/j.json".into());
    settle(
        "faults",
        "a store that stalls on the hand-on",
        tries,
        &doomed,
        &neighbour,
        &now,
        "503 within the allowance, then finished",
    );
    assert_eq!(now, neighbour);
}
