//! A deletion once started is finished, where features meet: a configuration path in the record,
//! the request or both, hand-ons, resends, kills, and a store that stalls one kind of request.
//! Against Garage and moto's SQS, faults from `s3-proxy` in front of each.
//!
//! - each break found where two features met, on every entry (HTTP, SQS, EventBridge);
//! - the stall matrix: every kind of request the HTTP path makes, stalled alone, is answered
//!   within `HTTP_BUDGET_MS` + the 2 s allowance, and a retry on a healthy store finishes;
//! - the chain under chaos: random schedules of entries, deliveries (late, twice, killed),
//!   resends and stalls, checked after every step against what must hold.

use s3_proxy::{Action, Fault, Match, Proxy, Settings};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use testkit::fixture::JobSpec;
use testkit::{
    Rng, World, body, delete_job_event, http_api_event, invoke, invoke_event, proxy_to_moto,
    refused, sqs_event,
};

const P1: &str = "p1";
const JOB: &str = "j";
const RECORD: &str = "p1/jobs/j/job.json";
/// The HTTP budget of these tests, and the most an answer may take past it: the documented
/// 2 s to hand on or finish, and a second for a busy test machine.
const HTTP_BUDGET_MS: u64 = 1_500;
const ANSWER_BY: Duration = Duration::from_millis(HTTP_BUDGET_MS + 2_000 + 1_000);
/// The Lambda deadline of the event invocations (SQS, EventBridge, hand-ons).
const EVENT_LEFT: Duration = Duration::from_secs(3);
/// Keys the store admits a second: it, not the machine, bounds what one invocation deletes.
const STORE_RATE: u64 = 1_500;

/// A world behind two proxies, one in front of Garage (S3) and one in front of moto (the
/// hand-on queue's SQS), with short budgets and the store's write limit.
async fn world(label: &str, env: &[(&str, &str)]) -> (World, Proxy, Proxy) {
    let sqs = proxy_to_moto(Settings::default()).await;
    let sqs_url = sqs.url();
    let budget = HTTP_BUDGET_MS.to_string();
    let mut vars = vec![
        ("HTTP_BUDGET_MS", budget.as_str()),
        ("DEADLINE_MARGIN_MS", "1000"),
        ("AWS_ENDPOINT_URL_SQS", sqs_url.as_str()),
        ("S3_ATTEMPT_TIMEOUT_MS", "10000"),
    ];
    vars.extend_from_slice(env);
    let (world, s3) = World::behind_proxy(label, Settings::default(), &vars).await;
    s3.set_write_limit(Some(STORE_RATE));
    (world, s3, sqs)
}

/// Where a test names the job's configuration path.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PathIn {
    Record,
    Request,
    Both,
    /// The record names the job area itself, so that the configuration folder is the job's
    /// own root, record included.
    JobRoot,
}

/// A job `j` of project p1 with `objects` objects and configuration sources under
/// `{cfg}/p1/sources/j/`, beside what must survive: a job whose id extends it, the same id in a
/// project whose id extends p1, and the sources of p2's job `j` and of p1's `j0`. Returns the
/// configuration path, what must go (`cfg:` keys in the configuration bucket) and what must stay.
struct Seeded {
    path: String,
    doomed: BTreeSet<String>,
    survivors: BTreeSet<String>,
}

async fn seed(world: &World, objects: usize, folders: usize, path_in: PathIn) -> Seeded {
    let path = match path_in {
        PathIn::JobRoot => format!("s3://{}/p1/jobs", world.jobs.name),
        _ => format!("s3://{}/p1/sources", world.configs.name),
    };
    let mut spec = JobSpec::new(P1, JOB).objects(objects, folders);
    if path_in != PathIn::Request {
        spec = spec.config_load_path(&path);
    }
    let mut doomed_set = world.jobs.seed_job("", &spec).await;
    let mut survivors = world.jobs.seed_job("", &JobSpec::new(P1, "j0")).await;
    survivors.extend(world.jobs.seed_job("", &JobSpec::new("p10", JOB)).await);
    // The job's own sources, when the path is not its root, and other jobs' beside them.
    let own = path_in != PathIn::JobRoot;
    for (key, doomed) in [
        ("p1/sources/j/config.json", own),
        ("p1/sources/j/features/a.json", own),
        ("p2/sources/j/config.json", false),
        ("p1/sources/j0/config.json", false),
    ] {
        world.configs.put(key, "{}").await;
        let set = if doomed { &mut doomed_set } else { &mut survivors };
        set.insert(format!("cfg:{key}"));
    }
    Seeded { path, doomed: doomed_set, survivors }
}

/// Every key of both buckets, the configuration bucket's as `cfg:` keys.
async fn everything(world: &World) -> BTreeSet<String> {
    let mut keys = world.jobs.keys().await;
    keys.extend(world.configs.keys().await.into_iter().map(|k| format!("cfg:{k}")));
    keys
}

/// The request for job `j`, naming `path` unless the record alone names it.
fn request_body(seeded: &Seeded, path_in: PathIn) -> Value {
    let named = matches!(path_in, PathIn::Request | PathIn::Both);
    body(JOB, "etl", named.then_some(seeded.path.as_str()))
}

#[derive(Debug, Clone, Copy)]
enum Via {
    Http,
    Sqs,
    EventBridge,
}

/// What a deletion request came to, whatever its entry.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Deleted,
    InProgress,
    NotFound,
    /// A refusal or failure, with its RES code (`refused` for an event refused unheeded).
    Failed(String),
}

/// Sends the request for job `j` by `via`; returns what came of it and how long it took.
async fn ask(world: &World, via: Via, request: &Value) -> (Answer, Duration) {
    let started = Instant::now();
    let answer = match via {
        Via::Http => {
            let (status, envelope) = invoke(&world.app, http_api_event(P1, P1, request)).await;
            match status {
                200 => Answer::Deleted,
                202 => Answer::InProgress,
                404 => Answer::NotFound,
                _ => Answer::Failed(envelope["error_code"].as_str().unwrap_or("?").to_owned()),
            }
        }
        Via::Sqs | Via::EventBridge => {
            let mut message = request.clone();
            message["project_id"] = json!(P1);
            let event = match via {
                Via::Sqs => sqs_event(&[("m1", message.to_string())]),
                _ => delete_job_event(&message),
            };
            let result = invoke_event(&world.app, event, EVENT_LEFT).await;
            let failed = match &result {
                Ok(answer) => answer["batchItemFailures"].as_array().is_some_and(|f| !f.is_empty()),
                Err(_) => true,
            };
            let summary = world.last_summary();
            match (failed, summary["outcome"].as_str()) {
                (false, Some("deleted")) => Answer::Deleted,
                (false, Some("in_progress")) => Answer::InProgress,
                (false, Some("not_found")) => Answer::NotFound,
                _ => Answer::Failed(summary["error_code"].as_str().unwrap_or("refused").to_owned()),
            }
        }
    };
    (answer, started.elapsed())
}

/// How long an answer by `via` may take.
fn deadline(via: Via) -> Duration {
    match via {
        Via::Http => ANSWER_BY,
        Via::Sqs | Via::EventBridge => EVENT_LEFT,
    }
}

/// Delivers hand-ons, and sends `request` again while the job's record is there, until the job
/// is gone; returns the invocations it took. The store must be healthy.
async fn finish(world: &World, request: &Value) -> usize {
    let mut invocations = 0;
    for _ in 0..40 {
        while let Some(delivery) = world.hand_ons.deliver(&world.app, EVENT_LEFT).await {
            invocations += 1;
            assert!(invocations < 200, "hand-ons never end: {:?}", delivery.result);
        }
        if world.jobs.get(RECORD).await.is_none() {
            return invocations;
        }
        let (answer, took) = ask(world, Via::Http, request).await;
        invocations += 1;
        assert!(took < ANSWER_BY, "answered after {took:?}");
        assert!(
            !matches!(&answer, Answer::Failed(code) if !code.starts_with("res.5003")),
            "{answer:?}"
        );
    }
    panic!("the job never finished")
}

/// What must hold after every step: nothing outside the job is gone, and the record is there
/// while any of the job's objects is.
async fn assert_invariants(world: &World, seeded: &Seeded, context: &str) {
    let now = everything(world).await;
    let lost: Vec<&String> = seeded.survivors.difference(&now).collect();
    assert!(lost.is_empty(), "{context}: deleted outside the job: {lost:?}");
    let left = seeded.doomed.intersection(&now).count();
    assert!(
        left == 0 || now.contains(RECORD),
        "{context}: the record is gone while {left} of the job's objects are left"
    );
}

/// The job is gone, its hand-ons too, and everything else is there.
async fn assert_finished(world: &World, seeded: &Seeded, context: &str) {
    let now = everything(world).await;
    let (left, wrongly) = testkit::tally(&seeded.doomed, &seeded.survivors, &now);
    assert_eq!((left, wrongly), (0, 0), "{context}: objects left, objects wrongly deleted");
    assert_eq!(world.hand_ons.pending().await, 0, "{context}: a hand-on is left");
}

// ---- Where two features met -------------------------------------------------------------

#[tokio::test]
async fn a_path_named_by_the_record_alone_or_an_empty_record_path_is_carried_by_the_hand_ons() {
    let _heavy = testkit::heavy().await;
    for via in [Via::Http, Via::Sqs, Via::EventBridge] {
        for (path_in, record_path) in [
            (PathIn::Record, None),
            (PathIn::Request, Some("\"\"")),
            (PathIn::Request, Some("null")),
        ] {
            let case = format!("{via:?}, path in the {path_in:?}, record path {record_path:?}");
            // GIVEN a job too large for one invocation, its path named by the record alone
            // (the README's advice), or by the request while the record's is empty or null
            let (world, _s3, _sqs) = world("recordpath", &[]).await;
            let seeded = seed(&world, 6_000, 8, path_in).await;
            if let Some(empty) = record_path {
                let record = format!(
                    r#"{{"job_id":"j","type":"etl","status":"succeeded","config_load_path":{empty}}}"#
                );
                world.jobs.put(RECORD, record).await;
            }
            let request = request_body(&seeded, path_in);

            // WHEN it is asked by the entry
            let (answer, took) = ask(&world, via, &request).await;

            // THEN it is in progress, a hand-on exists, and the record binds the path
            assert_eq!(answer, Answer::InProgress, "{case}");
            assert!(took < deadline(via), "{case}: answered after {took:?}");
            assert_eq!(world.hand_ons.pending().await, 1, "{case}");
            let record: Value =
                serde_json::from_slice(&world.jobs.get(RECORD).await.unwrap()).unwrap();
            assert_eq!(record["config_load_path"], seeded.path.as_str(), "{case}");
            assert_invariants(&world, &seeded, &case).await;

            // AND the hand-ons finish it, configuration sources included, none refused
            let mut hops = 0;
            while let Some(delivery) = world.hand_ons.deliver(&world.app, EVENT_LEFT).await {
                assert!(!delivery.failed, "{case}: {:?} {}", delivery.result, world.last_summary());
                hops += 1;
                assert_invariants(&world, &seeded, &case).await;
            }
            assert!(hops >= 1, "{case}");
            assert_finished(&world, &seeded, &case).await;
        }
    }
    testkit::record(
        "continuation",
        "a path named by the record alone, or a record path empty or null: every entry",
        9,
        0,
        0,
        "in progress, then finished by the hand-ons",
    );
}

#[tokio::test]
async fn a_configuration_folder_that_is_the_jobs_own_root_keeps_the_record_for_last() {
    // GIVEN a job whose record names the job area itself as its configuration path, so that
    // the configuration folder is the job's root, and a store that fails part way
    let doomed_key_errors = Fault::new(
        Match::DeleteObjects,
        Action::Reply { status: 403, code: "AccessDenied".into() },
    )
    .every(3);
    for via in [Via::Http, Via::Sqs, Via::EventBridge] {
        let case = format!("{via:?}");
        let (world, s3, _sqs) = world("rootcfg", &[("S3_MAX_ATTEMPTS", "1")]).await;
        let jobs_area = format!("s3://{}/p1/jobs", world.jobs.name);
        let spec = JobSpec::new(P1, JOB).objects(2_000, 4).config_load_path(&jobs_area);
        let job = world.jobs.seed_job("", &spec).await;
        let neighbour = world.jobs.seed_job("", &JobSpec::new(P1, "j0")).await;
        let seeded = Seeded { path: jobs_area, doomed: job.clone(), survivors: neighbour.clone() };
        s3.set(Settings { delay: Duration::ZERO, faults: vec![doomed_key_errors.clone()] });

        // WHEN it is deleted while the store refuses every third DeleteObjects
        let (first, _) = ask(&world, via, &body(JOB, "etl", None)).await;
        assert_eq!(first, Answer::Failed("res.5001".into()), "{case}");

        // THEN the record is still there while anything of the job is, so that a retry, once
        // the store is healthy, finds the job and finishes it
        assert_invariants(&world, &seeded, &case).await;
        assert!(world.jobs.get(RECORD).await.is_some(), "{case}: {first:?}");
        s3.set(Settings::default());
        finish(&world, &body(JOB, "etl", None)).await;
        assert_finished(&world, &seeded, &case).await;
    }
}

#[tokio::test]
async fn a_resend_that_can_delete_nothing_is_not_answered_in_progress() {
    // GIVEN a job stuck `deleting` (its chain stopped, no hand-on left), and a store that
    // holds every DeleteObjects past the budget
    for via in [Via::Http, Via::Sqs, Via::EventBridge] {
        let case = format!("{via:?}");
        let (world, s3, _sqs) = world("stuck", &[]).await;
        let spec = JobSpec::new(P1, JOB).objects(300, 2).status("deleting");
        let job = world.jobs.seed_job("", &spec).await;
        let seeded = Seeded { path: String::new(), doomed: job, survivors: BTreeSet::new() };
        let stall = Fault::new(Match::DeleteObjects, Action::Stall(Duration::from_secs(60)));
        s3.set(Settings { delay: Duration::ZERO, faults: vec![stall] });

        // WHEN it is sent again, as the README's runbook says
        let (answer, took) = ask(&world, via, &body(JOB, "etl", None)).await;

        // THEN the answer is 503 res.5003 in time, not a 202 nothing backs; the job stays
        assert!(
            matches!(&answer, Answer::Failed(code) if code.starts_with("res.5003")),
            "{case}: {answer:?}"
        );
        assert!(took < deadline(via), "{case}: answered after {took:?}");
        assert_eq!(world.hand_ons.pending().await, 0, "{case}");
        assert_invariants(&world, &seeded, &case).await;

        // AND on a healthy store the same request finishes it
        s3.set(Settings::default());
        finish(&world, &body(JOB, "etl", None)).await;
        assert_finished(&world, &seeded, &case).await;
    }
}

#[tokio::test]
async fn config_roots_keep_each_project_to_its_own_sources() {
    // GIVEN configuration roots per project, a job whose record names no path, and project
    // p2's sources for a job of the same id
    let (world, _s3, _sqs) = world("roots", &[]).await;
    let root = format!("s3://{}/{{project_id}}/", world.configs.name);
    let world = world.reconfigured(&[("CONFIG_ROOTS", root.as_str())]).await;
    let seeded = seed(&world, 20, 2, PathIn::Request).await;
    let aimed = body(JOB, "etl", Some(&format!("s3://{}/p2/sources", world.configs.name)));

    // WHEN p1 names p2's sources, by any entry
    for via in [Via::Http, Via::Sqs, Via::EventBridge] {
        let (answer, _) = ask(&world, via, &aimed).await;
        // THEN it is refused by the parameter's name, and nothing is deleted
        assert_eq!(answer, Answer::Failed("res.1001".into()), "{via:?}");
        let message = world.last_summary()["error"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains("config_load_path"), "{message}");
        assert_invariants(&world, &seeded, "roots").await;
        assert!(everything(&world).await.is_superset(&seeded.doomed));
    }
    let (status, envelope) = invoke(&world.app, http_api_event(P1, P1, &aimed)).await;
    refused(&(status, envelope), 400, "res.1001");
    // A path whose folder would be a whole root (p1's job named like the root) is no path
    // under p1's root either.
    let whole = body(P1, "etl", Some(&format!("s3://{}", world.configs.name)));
    let answer = invoke(&world.app, http_api_event(P1, P1, &whole)).await;
    refused(&answer, 400, "res.1001");

    // AND its own sources, under its root, go with the job
    let (answer, _) = ask(&world, Via::Http, &request_body(&seeded, PathIn::Request)).await;
    assert_eq!(answer, Answer::Deleted);
    assert_finished(&world, &seeded, "roots").await;
    testkit::record(
        "isolation",
        "CONFIG_ROOTS: another project's sources, by every entry",
        4,
        0,
        0,
        "refused, nothing deleted",
    );
}

#[tokio::test]
async fn a_record_rewritten_during_a_deletion_is_neither_deleted_nor_marked_over() {
    let _heavy = testkit::heavy().await;
    // GIVEN jobs on a store that honours writes and deletes conditional on an ETag (moto), one
    // small and one too large for one invocation, and a store slow enough to run the job again
    // under the same id while each is being deleted
    for (objects, case) in [(50, "the final delete"), (4_000, "the mark before the hand-on")] {
        let stall =
            Fault::new(Match::DeleteObjects, Action::Stall(Duration::from_secs(2))).times(1);
        let settings = Settings { delay: Duration::ZERO, faults: vec![stall] };
        let budget = if objects > 1_000 { "1500" } else { "8000" };
        let env = [("HTTP_BUDGET_MS", budget), ("DEADLINE_MARGIN_MS", "1000")];
        let (world, proxy) = World::on_moto_behind_proxy("rewritten", settings, &env).await;
        proxy.set_write_limit(Some(1_000));
        world.jobs.seed_job("", &JobSpec::new(P1, JOB).objects(objects, 4)).await;

        // WHEN the job is deleted, and meanwhile run again: its record rewritten `running`
        let app = world.app.clone();
        let call = tokio::spawn(async move {
            invoke(&app, http_api_event(P1, P1, &body(JOB, "etl", None))).await
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let running = json!({"job_id": JOB, "type": "etl", "status": "running", "run": 2});
        world.jobs.put(RECORD, running.to_string()).await;
        let answer = call.await.unwrap();

        // THEN the deletion ends without touching the new run's record (503: the job changed),
        // and no hand-on goes on deleting it
        refused(&answer, 503, "res.5003");
        let record: Value = serde_json::from_slice(&world.jobs.get(RECORD).await.unwrap()).unwrap();
        assert_eq!(record, running, "{case}");
        assert_eq!(world.hand_ons.pending().await, 0, "{case}");
    }
}

#[tokio::test]
async fn resends_and_duplicate_deliveries_leave_one_chain_working() {
    let _heavy = testkit::heavy().await;
    // GIVEN a deletion in progress: 202, one hand-on in the queue
    let (world, s3, _sqs) = world("onechain", &[]).await;
    s3.set_write_limit(Some(CHAOS_STORE_RATE));
    world.jobs.seed_job("", &JobSpec::new(P1, JOB).objects(8_000, 4)).await;
    let request = body(JOB, "etl", None);
    assert_eq!(ask(&world, Via::Http, &request).await.0, Answer::InProgress);

    // WHEN the caller sends the request again three times, and one hand-on is delivered twice
    for _ in 0..3 {
        assert_eq!(ask(&world, Via::Http, &request).await.0, Answer::InProgress);
    }
    let latest = world.hand_ons.peek().await;
    let copy = world.hand_ons.event(&[("copy", latest.last().unwrap().to_string())]);
    invoke_event(&world.app, copy, EVENT_LEFT).await.unwrap();

    // THEN of every hand-on in the queue, one goes on working; the others are superseded and
    // do nothing, so one chain carries the job to its end
    let mut working = 0;
    while let Some(delivery) = world.hand_ons.deliver(&world.app, EVENT_LEFT).await {
        assert!(!delivery.failed, "{:?} {}", delivery.result, world.last_summary());
        match world.last_summary()["outcome"].as_str() {
            Some("in_progress" | "deleted") => working += 1,
            Some("superseded" | "job_gone") => {}
            other => panic!("{other:?}"),
        }
        let live = world.hand_ons.pending().await;
        assert!(live <= 4, "{live} hand-ons pending: chains multiply");
    }
    assert!(working >= 1 && world.jobs.get(RECORD).await.is_none());
    let summaries = world.summaries();
    let superseded = summaries.iter().filter(|l| l["outcome"] == "superseded").count();
    assert!(superseded >= 3, "{superseded} superseded: resends and the copy each forked a chain");
}

#[tokio::test]
async fn a_chain_that_would_pass_max_hops_is_not_handed_on() {
    // GIVEN MAX_HOPS=1 (no hand-on at all) and a job too large for one invocation
    let (world, _s3, _sqs) = world("maxhops1", &[("MAX_HOPS", "1")]).await;
    world.jobs.seed_job("", &JobSpec::new(P1, JOB).objects(6_000, 4)).await;

    // WHEN it is deleted through the API
    let (answer, _) = ask(&world, Via::Http, &body(JOB, "etl", None)).await;

    // THEN the answer is 503, naming MAX_HOPS, not a 202 whose hand-on would be stopped on arrival
    assert_eq!(answer, Answer::Failed("res.5003".into()));
    assert!(world.last_summary()["error"].as_str().unwrap().contains("MAX_HOPS"));
    assert_eq!(world.hand_ons.pending().await, 0);
    assert!(world.jobs.get(RECORD).await.is_some());
}

#[tokio::test]
async fn a_recorded_path_the_function_may_not_delete_is_not_blamed_on_the_caller() {
    // GIVEN a job whose record names a bucket the function may not delete from
    let (world, _s3, _sqs) = world("recordbad", &[]).await;
    let spec = JobSpec::new(P1, JOB).config_load_path("s3://not-allowed/p1/sources");
    let job = world.jobs.seed_job("", &spec).await;

    // WHEN the caller, who names no path, asks to delete it
    let (status, envelope) =
        invoke(&world.app, http_api_event(P1, P1, &body(JOB, "etl", None))).await;

    // THEN the answer is the record's fault (500 res.5001), and nothing is deleted
    let message = refused(&(status, envelope), 500, "res.5001");
    assert!(message.contains("record") && message.contains("not-allowed"), "{message}");
    assert_eq!(world.jobs.keys().await, job);
}

/// A hand-on that cannot be sent, whether the queue refuses it at once, fails it again and again
/// or does not answer, puts the record back as it was read (if it is still the one this
/// invocation wrote; moto honours `If-Match`), so that the chain it named before, if any, still
/// carries the job: the send leaves time for that.
#[tokio::test]
async fn a_hand_on_that_cannot_be_sent_leaves_the_record_as_it_was_read() {
    let _heavy = testkit::heavy().await;
    let queue_faults = [
        Action::Reply { status: 500, code: "InternalError".into() },
        Action::Stall(std::time::Duration::from_secs(30)),
        Action::Reply { status: 403, code: "AccessDenied".into() },
    ];
    let mut broken = Vec::new();
    for (queue_fault, earlier_chain) in
        queue_faults.iter().flat_map(|f| [(f.clone(), None), (f.clone(), Some("c0ffee"))])
    {
        // GIVEN a job too large for one invocation on moto, its record as an earlier chain left
        // it (or finished), and a hand-on queue that fails every message
        let refuse = Fault::new(Match::Any, queue_fault.clone());
        let sqs =
            testkit::proxy_to_moto(Settings { faults: vec![refuse], ..Settings::default() }).await;
        let sqs_url = sqs.url();
        let env = [
            ("HTTP_BUDGET_MS", "1500"),
            ("DEADLINE_MARGIN_MS", "1000"),
            ("AWS_ENDPOINT_URL_SQS", sqs_url.as_str()),
        ];
        let (world, s3) = World::on_moto_behind_proxy("restore", Settings::default(), &env).await;
        s3.set_write_limit(Some(400));
        let mut spec = JobSpec::new(P1, "j").objects(1_500, 4);
        if let Some(chain) = earlier_chain {
            spec = spec.status("deleting").deletion_chain(chain);
        }
        world.jobs.seed_job("", &spec).await;
        let record = "p1/jobs/j/job.json";
        let before = world.jobs.get(record).await.unwrap();

        // WHEN it is deleted through the API, and the hand-on cannot be sent
        let started = std::time::Instant::now();
        let answer = invoke(&world.app, http_api_event(P1, P1, &body("j", "etl", None))).await;
        let took = started.elapsed();

        // THEN the answer is 503, in time, and the record is as it was read: the same bytes
        testkit::refused(&answer, 503, "res.5003");
        assert!(took.as_millis() < 1_500 + 2_000 + 1_000, "{took:?}");
        let after = world.jobs.get(record).await.unwrap();
        if after != before {
            broken.push(format!(
                "queue {queue_fault:?}, earlier chain {earlier_chain:?}, answered in {took:?}: \
                 {}",
                String::from_utf8_lossy(&after)
            ));
        }
        drop(sqs);
    }
    assert!(
        broken.is_empty(),
        "records left marked by a chain no hand-on carries:\n{}",
        broken.join("\n")
    );
}

// ---- The stall matrix ---------------------------------------------------------------------

/// Every kind of request the HTTP path makes, and how the proxy knows it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    RecordRead,
    JobBucketVersioning,
    ConfigBucketVersioning,
    List,
    DeleteObjects,
    RecordMark,
    HandOnSend,
    RecordDelete,
}

const KINDS: [Kind; 8] = [
    Kind::RecordRead,
    Kind::JobBucketVersioning,
    Kind::ConfigBucketVersioning,
    Kind::List,
    Kind::DeleteObjects,
    Kind::RecordMark,
    Kind::HandOnSend,
    Kind::RecordDelete,
];

impl Kind {
    /// A fault that holds this kind of request a minute; on the SQS proxy for the hand-on.
    fn stall(self, world: &World) -> Fault {
        let record = format!("/{}/{RECORD}", world.jobs.name);
        let matches = match self {
            Kind::RecordRead => Match::Request { method: "GET", contains: record },
            Kind::RecordMark => Match::Request { method: "PUT", contains: record },
            Kind::RecordDelete => Match::Request { method: "DELETE", contains: record },
            Kind::JobBucketVersioning => {
                Match::Contains(format!("/{}/?versioning", world.jobs.name))
            }
            Kind::ConfigBucketVersioning => {
                Match::Contains(format!("/{}/?versioning", world.configs.name))
            }
            Kind::List => Match::ListObjects,
            Kind::DeleteObjects => Match::DeleteObjects,
            Kind::HandOnSend => Match::Any,
        };
        Fault::new(matches, Action::Stall(Duration::from_secs(60)))
    }

    /// Whether the request is made only when the deletion outlives its budget.
    fn needs_hand_on(self) -> bool {
        matches!(self, Kind::RecordMark | Kind::HandOnSend)
    }

    fn on_queue(self) -> bool {
        self == Kind::HandOnSend
    }
}

#[tokio::test]
async fn every_kind_of_request_stalled_alone_is_answered_in_time_and_a_retry_finishes() {
    let _heavy = testkit::heavy().await;
    for kind in KINDS {
        // GIVEN a job whose record alone names its configuration sources (so that the
        // configuration bucket is first asked about after the record), large enough to outlive
        // the budget when the stalled kind is a hand-on's, and a store that holds that kind of
        // request a minute
        let case = format!("{kind:?} stalled");
        let (world, s3, sqs) = world("stall", &[]).await;
        let objects = if kind.needs_hand_on() { 6_000 } else { 200 };
        let seeded = seed(&world, objects, 4, PathIn::Record).await;
        let stall = kind.stall(&world);
        let stalled = Settings { delay: Duration::ZERO, faults: vec![stall.clone()] };
        if kind.on_queue() {
            sqs.set(stalled)
        } else {
            s3.set(stalled)
        }
        let request = request_body(&seeded, PathIn::Record);

        // WHEN the job is deleted through the API
        let (answer, took) = ask(&world, Via::Http, &request).await;

        // THEN the answer comes within the budget and its allowance: a 503, never a 202 that
        // no hand-on backs, and nothing outside the job is touched
        assert!(stall.fired() > 0, "{case}: the stall never fired");
        assert!(took < ANSWER_BY, "{case}: answered after {took:?}");
        assert!(
            matches!(&answer, Answer::Failed(code) if code == "res.5003"),
            "{case}: {answer:?}"
        );
        assert_invariants(&world, &seeded, &case).await;
        if kind != Kind::HandOnSend {
            assert_eq!(world.hand_ons.pending().await, 0, "{case}");
        }

        // AND once the store answers again, the same request finishes the job
        s3.set(Settings::default());
        sqs.set(Settings::default());
        let invocations = finish(&world, &request).await;
        assert_finished(&world, &seeded, &case).await;
        testkit::record(
            "faults",
            &format!("HTTP path, {kind:?} stalled alone"),
            invocations as u64 + 1,
            0,
            0,
            "503 within the allowance, then finished",
        );
    }
}

#[tokio::test]
async fn a_stalled_versioning_read_never_runs_an_event_into_its_deadline() {
    // GIVEN a store that holds the configuration bucket's versioning read, named by the record
    for via in [Via::Sqs, Via::EventBridge] {
        let (world, s3, _sqs) = world("stallsqs", &[]).await;
        let seeded = seed(&world, 200, 4, PathIn::Record).await;
        let stall = Kind::ConfigBucketVersioning.stall(&world);
        s3.set(Settings { delay: Duration::ZERO, faults: vec![stall.clone()] });

        // WHEN an event asks for the deletion
        let (answer, took) = ask(&world, via, &request_body(&seeded, PathIn::Record)).await;

        // THEN it fails before its deadline, and the retry finishes the job
        assert!(stall.fired() > 0);
        assert!(took < EVENT_LEFT, "{via:?}: took {took:?}");
        assert!(
            matches!(&answer, Answer::Failed(code) if code.starts_with("res.5003")),
            "{answer:?}"
        );
        s3.set(Settings::default());
        finish(&world, &request_body(&seeded, PathIn::Record)).await;
        assert_finished(&world, &seeded, &format!("{via:?}")).await;
    }
}

// ---- The chain under chaos -----------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Step {
    /// A request by one entry.
    Ask(Via),
    /// The next hand-on, delivered.
    Deliver,
    /// The next hand-on, delivered twice at once (SQS delivers at least once).
    Twice,
    /// The next hand-on's invocation, killed after so many milliseconds.
    Kill(u64),
    /// An HTTP request whose invocation is killed after so many milliseconds.
    KillRequest(u64),
    /// The next hand-on, gone to the dead-letter queue, as SQS moves one that failed every
    /// receive: the job stays `deleting` with nothing to carry it on.
    DeadLetter,
    /// A request by one entry while the next hand-on runs.
    Race(Via),
    /// From now on, one kind of request stalls.
    Stall(Kind),
    /// The store answers every other DeleteObjects SlowDown.
    SlowDowns,
    Heal,
}

/// Keys a second the chaos store admits: low enough that most jobs need several invocations.
const CHAOS_STORE_RATE: u64 = 500;

/// A schedule: where the path is named (and, when the request alone names it, what the record
/// says of it: nothing, `""` or `null`), the job's size and folders, and the steps.
struct Schedule {
    path_in: PathIn,
    record_path: Option<&'static str>,
    objects: usize,
    folders: usize,
    steps: Vec<Step>,
}

fn schedule(rng: &mut Rng) -> Schedule {
    let path_in = *rng.pick(&[PathIn::Record, PathIn::Request, PathIn::Both, PathIn::JobRoot]);
    let record_path = match path_in {
        PathIn::Request => *rng.pick(&[None, Some("\"\""), Some("null")]),
        _ => None,
    };
    let objects = 300 + rng.below(3_500) as usize;
    let folders = *rng.pick(&[0, 1, 4, 16]);
    let vias = [Via::Http, Via::Http, Via::Sqs, Via::EventBridge];
    // A quarter of the schedules begin with a store that stalls, before anything is known.
    let first_stall = (rng.below(4) == 0).then(|| Step::Stall(*rng.pick(&KINDS)));
    let steps = first_stall
        .into_iter()
        .chain((0..6 + rng.below(7)).map(|_| match rng.below(20) {
            0..=5 => Step::Ask(*rng.pick(&vias)),
            6..=9 => Step::Deliver,
            10 => Step::Twice,
            11 | 12 => Step::Kill(50 + rng.below(1_000)),
            13 => Step::KillRequest(50 + rng.below(1_000)),
            14 => Step::Race(*rng.pick(&vias)),
            15 | 16 => Step::Stall(*rng.pick(&KINDS)),
            17 => Step::SlowDowns,
            18 => Step::Heal,
            _ => Step::DeadLetter,
        }))
        .collect();
    Schedule { path_in, record_path, objects, folders, steps }
}

/// Runs one schedule and checks it; panics naming the seed and the step.
async fn run_schedule(seed_value: u64) -> usize {
    let mut rng = Rng(seed_value);
    let Schedule { path_in, record_path, objects, folders, steps } = schedule(&mut rng);
    let (world, s3, sqs) = world("chaos", &[("MAX_HOPS", "1000")]).await;
    s3.set_write_limit(Some(CHAOS_STORE_RATE));
    let roots = format!("s3://{}/{{project_id}}/", world.configs.name);
    let world = world.reconfigured(&[("CONFIG_ROOTS", roots.as_str())]).await;
    let seeded = seed(&world, objects, folders, path_in).await;
    if let Some(empty) = record_path {
        let record = format!(
            r#"{{"job_id":"j","type":"etl","status":"succeeded","config_load_path":{empty}}}"#
        );
        world.jobs.put(RECORD, record).await;
    }
    let request = request_body(&seeded, path_in);
    let mut faults: Vec<Fault> = Vec::new();
    let mut queue_faults: Vec<Fault> = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let context = format!(
            "seed {seed_value:#x}, {path_in:?} (record: {record_path:?}), {objects} objects, \
             step {n} {step:?} of {steps:?}"
        );
        match *step {
            Step::Ask(via) => {
                let (answer, took) = ask(&world, via, &request).await;
                assert!(took < deadline(via), "{context}: answered after {took:?}");
                if answer == Answer::InProgress {
                    assert!(
                        world.hand_ons.pending().await >= 1,
                        "{context}: a 202 no hand-on backs"
                    );
                }
                if let Answer::Failed(code) = &answer {
                    assert!(code.starts_with("res.5"), "{context}: {code}");
                }
            }
            Step::Deliver => {
                if let Some(delivery) = world.hand_ons.deliver(&world.app, EVENT_LEFT).await
                    && delivery.failed
                {
                    let summary = world.last_summary();
                    let code = summary["error_code"].as_str().unwrap_or_default();
                    assert!(code.starts_with("res.5"), "{context}: a hand-on refused: {summary}");
                }
            }
            Step::Twice => {
                // SQS delivers at least once: a pending hand-on, delivered beside its copy.
                if let Some(body) = world.hand_ons.peek().await.into_iter().next() {
                    let copy = world.hand_ons.event(&[("copy", body.to_string())]);
                    let _ = tokio::join!(
                        world.hand_ons.deliver(&world.app, EVENT_LEFT),
                        invoke_event(&world.app, copy, EVENT_LEFT),
                    );
                }
            }
            Step::Kill(ms) => {
                world.hand_ons.deliver_and_kill(&world.app, Duration::from_millis(ms)).await;
            }
            Step::KillRequest(ms) => {
                let app = world.app.clone();
                let event = http_api_event(P1, P1, &request);
                let call = tokio::spawn(async move { invoke(&app, event).await });
                tokio::time::sleep(Duration::from_millis(ms)).await;
                call.abort();
                let _ = call.await;
            }
            Step::DeadLetter => {
                world.hand_ons.dead_letter().await;
            }
            Step::Race(via) => {
                let started = Instant::now();
                let ((answer, took), _) = tokio::join!(
                    ask(&world, via, &request),
                    world.hand_ons.deliver(&world.app, EVENT_LEFT)
                );
                assert!(
                    took < deadline(via),
                    "{context}: answered after {took:?} ({answer:?}, {:?})",
                    started.elapsed()
                );
            }
            Step::Stall(kind) => {
                let fault = kind.stall(&world);
                if kind.on_queue() {
                    queue_faults.push(fault);
                    sqs.set(Settings { delay: Duration::ZERO, faults: queue_faults.clone() });
                } else {
                    faults.push(fault);
                    s3.set(Settings { delay: Duration::ZERO, faults: faults.clone() });
                }
            }
            Step::SlowDowns => {
                let slow = Action::Reply { status: 503, code: "SlowDown".into() };
                faults.push(Fault::new(Match::DeleteObjects, slow).every(2));
                s3.set(Settings { delay: Duration::ZERO, faults: faults.clone() });
            }
            Step::Heal => {
                faults.clear();
                queue_faults.clear();
                s3.set(Settings::default());
                sqs.set(Settings::default());
            }
        }
        assert_invariants(&world, &seeded, &context).await;
    }
    // Every schedule ends on a healthy store: what was started is finished, by the hand-ons
    // in the queue and, where none carries the job, by the same request sent again.
    s3.set(Settings::default());
    sqs.set(Settings::default());
    let invocations = finish(&world, &request).await;
    assert_finished(&world, &seeded, &format!("seed {seed_value:#x}, {path_in:?}, {steps:?}"))
        .await;
    steps.len() + invocations
}

#[tokio::test]
async fn the_chain_holds_under_random_schedules_of_entries_deliveries_kills_and_stalls() {
    let _heavy = testkit::heavy().await;
    // DEL_JOB_CHAOS_SEED replays one schedule; DEL_JOB_CHAOS_SCHEDULES runs that many (the long
    // run); otherwise as many as fit in DEL_JOB_CHAOS_SECONDS (240 by default).
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let base = var("DEL_JOB_CHAOS_SEED").unwrap_or(0xDE1_0B5EED);
    let count = var("DEL_JOB_CHAOS_SCHEDULES");
    let seconds = Duration::from_secs(var("DEL_JOB_CHAOS_SECONDS").unwrap_or(240));
    let started = Instant::now();
    let (mut schedules, mut steps) = (0, 0);
    loop {
        let done = match count {
            Some(count) => schedules >= count,
            None => started.elapsed() > seconds,
        };
        if done && schedules > 0 {
            break;
        }
        steps += run_schedule(base + schedules).await;
        schedules += 1;
    }
    eprintln!(
        "chaos: {schedules} schedules from seed {base:#x}, {steps} steps, {:?}",
        started.elapsed()
    );
    testkit::record(
        "continuation",
        "random schedules: entries, hand-ons late, twice or killed, resends, stalls of each kind",
        schedules,
        0,
        0,
        &format!("{schedules} schedules, {steps} steps, every invariant held"),
    );
}
