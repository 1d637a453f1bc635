//! Deleting jobs against a real S3 server (Garage, started by scripts/test.sh): what must go
//! goes, what must survive survives, and refusals touch nothing.

use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use testkit::fixture::{Bucket, JobSpec};
use testkit::{World, app, body, http_api_event, invoke, refused};

const P1: &str = "p1";
const P10: &str = "p10";

/// A project with the target job `abc`, beside jobs and projects whose ids share its prefix,
/// each with configuration sources. Returns (the target's keys, its config keys, the rest).
async fn seed_neighbourhood(world: &World, objects: usize) -> (BTreeSet<String>, BTreeSet<String>) {
    let prefix = &world.job_prefix;
    let target = world.jobs.seed_job(prefix, &JobSpec::new(P1, "abc").objects(objects, 8)).await;
    for job in [
        JobSpec::new(P1, "abcd"),
        JobSpec::new(P1, "abc-1"),
        JobSpec::new(P1, "ab"),
        JobSpec::new(P10, "abc"),
        JobSpec::new(P1, "xyz").status("running"),
    ] {
        world.jobs.seed_job(prefix, &job).await;
    }
    let mut config = BTreeSet::new();
    for job in ["abc", "abcd", "ab"] {
        let key = format!("sources/{job}/config.json");
        world.configs.put(&key, "{}").await;
        if job == "abc" {
            config.insert(key);
        }
    }
    (target, config)
}

fn config_path(world: &World) -> String {
    format!("s3://{}/sources", world.configs.name)
}

#[tokio::test]
async fn deleting_a_job_removes_its_data_record_and_config_sources_and_nothing_else() {
    // GIVEN a job beside neighbours whose ids share its prefix, in a bucket under a JOB_PREFIX
    let world = World::new("neighbours", "res/").await;
    let (target, target_config) = seed_neighbourhood(&world, 40).await;
    let jobs_before = world.jobs.keys().await;
    let configs_before = world.configs.keys().await;

    // WHEN the job is deleted with its configuration path
    let request = body("abc", "etl", Some(&config_path(&world)));
    let (status, envelope) = invoke(&world.app, http_api_event(P1, P1, &request)).await;

    // THEN it answers with what it deleted
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(envelope["is_success"], true);
    assert_eq!(envelope["message"], "Succeed to delete job abc.");
    assert_eq!(envelope["job_id"], "abc");
    assert_eq!(envelope["deleted_objects"], (target.len() + target_config.len()) as u64);
    assert!(envelope["deleted_bytes"].as_u64().unwrap() > 0);
    // AND exactly the job's keys are gone
    let expected_jobs: BTreeSet<_> = jobs_before.difference(&target).cloned().collect();
    assert_eq!(world.jobs.keys().await, expected_jobs);
    let expected_configs: BTreeSet<_> =
        configs_before.difference(&target_config).cloned().collect();
    assert_eq!(world.configs.keys().await, expected_configs);
}

#[tokio::test]
async fn a_job_of_thousands_of_objects_in_folders_is_deleted_completely() {
    let _heavy = testkit::heavy().await;
    // GIVEN a job of 5,200 objects in 8 folders, with an empty JOB_PREFIX
    let world = World::new("large", "").await;
    let (target, _) = seed_neighbourhood(&world, 5_200).await;
    let before = world.jobs.keys().await;
    assert_eq!(target.len(), 5_201);

    // WHEN it is deleted
    let (status, envelope) =
        invoke(&world.app, http_api_event(P1, P1, &body("abc", "etl", None))).await;

    // THEN every object and the record are gone, and every neighbour is left
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(envelope["deleted_objects"], 5_201);
    assert_eq!(world.jobs.keys().await, before.difference(&target).cloned().collect());
}

#[tokio::test]
async fn deleting_twice_is_a_not_found_the_second_time() {
    let world = World::new("twice", "").await;
    seed_neighbourhood(&world, 3).await;
    let event = http_api_event(P1, P1, &body("abc", "etl", None));
    assert_eq!(invoke(&world.app, event.clone()).await.0, 200);
    let before = world.jobs.keys().await;
    refused(&invoke(&world.app, event).await, 404, "res.3301");
    assert_eq!(world.jobs.keys().await, before);
}

/// Every refusal after validation passed must leave both buckets exactly as they were.
async fn assert_refused_untouched(
    world: &World,
    event: serde_json::Value,
    status: u16,
    code: &str,
) -> String {
    let jobs_before = world.jobs.keys().await;
    let configs_before = world.configs.keys().await;
    let message = refused(&invoke(&world.app, event).await, status, code);
    assert_eq!(world.jobs.keys().await, jobs_before, "{code}: job data changed");
    assert_eq!(world.configs.keys().await, configs_before, "{code}: config sources changed");
    message
}

#[tokio::test]
async fn a_job_that_does_not_exist_is_not_found_and_nothing_is_deleted() {
    // GIVEN a project whose jobs share a prefix with the requested id, and data without a record
    let world = World::new("notfound", "").await;
    seed_neighbourhood(&world, 3).await;
    world.jobs.put("p1/jobs/orphan/output/part-0.parquet", "x").await;
    for job in ["a", "abcde", "orphan"] {
        let event = http_api_event(P1, P1, &body(job, "etl", Some(&config_path(&world))));
        let message = assert_refused_untouched(&world, event, 404, "res.3301").await;
        assert!(message.contains(job), "{message}");
    }
}

#[tokio::test]
async fn a_type_that_does_not_match_the_jobs_is_refused_and_nothing_is_deleted() {
    let world = World::new("mismatch", "").await;
    seed_neighbourhood(&world, 3).await;
    let event = http_api_event(P1, P1, &body("abc", "ranking", Some(&config_path(&world))));
    let message = assert_refused_untouched(&world, event, 400, "res.1001").await;
    assert!(message.contains("parameter(type)"), "{message}");
}

#[tokio::test]
async fn a_starting_or_running_job_is_refused_and_nothing_is_deleted() {
    let world = World::new("running", "").await;
    seed_neighbourhood(&world, 3).await;
    world.jobs.seed_job("", &JobSpec::new(P1, "starting").status("starting")).await;
    for job in ["xyz", "starting"] {
        let event = http_api_event(P1, P1, &body(job, "etl", None));
        assert_refused_untouched(&world, event, 400, "res.1024").await;
    }
}

#[tokio::test]
async fn a_token_for_another_project_deletes_nothing_whatever_the_request_says() {
    let world = World::new("tenant", "").await;
    seed_neighbourhood(&world, 3).await;
    // The token names p10; the path names p1, whose job abc exists.
    let event = http_api_event(P1, P10, &body("abc", "etl", None));
    assert_refused_untouched(&world, event, 403, "res.1012").await;
    // A prefix of the token's project is another project too.
    let event = http_api_event(P10, P1, &body("abc", "etl", None));
    assert_refused_untouched(&world, event, 403, "res.1012").await;
    // A body that names a project is refused before anything else is read.
    let mut request = body("abc", "etl", None);
    request["project_id"] = json!(P1);
    let event = http_api_event(P10, P10, &request);
    assert_refused_untouched(&world, event, 400, "res.1006").await;
}

#[tokio::test]
async fn configuration_paths_that_would_leave_the_job_are_refused_and_nothing_is_deleted() {
    let world = World::new("confpath", "res/").await;
    seed_neighbourhood(&world, 3).await;
    let jobs = &world.jobs.name;
    for path in [
        "s3://some-other-bucket/sources".to_string(),
        format!("s3://{jobs}/res/p10/jobs"), // p10's job abc
        format!("s3://{jobs}/res/p1/jobs/abcd"),
        format!("s3://{jobs}/res"),
    ] {
        let event = http_api_event(P1, P1, &body("abc", "etl", Some(&path)));
        let message = assert_refused_untouched(&world, event, 400, "res.1001").await;
        assert!(message.contains("config_load_path"), "{path}: {message}");
    }
}

#[tokio::test]
async fn configuration_sources_in_the_job_bucket_outside_the_jobs_area_are_deleted() {
    let world = World::new("confjobs", "res/").await;
    let (target, _) = seed_neighbourhood(&world, 3).await;
    world.jobs.put("config/abc/config.json", "{}").await;
    world.jobs.put("config/abcd/config.json", "{}").await;
    let before = world.jobs.keys().await;
    let path = format!("s3://{}/config/", world.jobs.name);
    // Only where CONFIG_BUCKETS lists the job bucket, as the function's policy then covers it.
    let event = http_api_event(P1, P1, &body("abc", "etl", Some(&path)));
    let message = assert_refused_untouched(&world, event, 400, "res.1001").await;
    assert!(message.contains("CONFIG_BUCKETS"), "{message}");
    let buckets = format!("{},{}", world.configs.name, world.jobs.name);
    let world = world.reconfigured(&[("CONFIG_BUCKETS", buckets.as_str())]).await;
    let (status, envelope) =
        invoke(&world.app, http_api_event(P1, P1, &body("abc", "etl", Some(&path)))).await;
    assert_eq!(status, 200, "{envelope}");
    let mut gone = target.clone();
    gone.insert("config/abc/config.json".into());
    assert_eq!(world.jobs.keys().await, before.difference(&gone).cloned().collect());
}

#[tokio::test]
async fn a_job_left_deleting_by_an_earlier_attempt_is_deleted_on_retry() {
    let world = World::new("retry", "").await;
    let target = world.jobs.seed_job("", &JobSpec::new(P1, "abc").status("deleting")).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new(P1, "abcd")).await;
    let (status, envelope) =
        invoke(&world.app, http_api_event(P1, P1, &body("abc", "etl", None))).await;
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(envelope["deleted_objects"], target.len() as u64);
    assert_eq!(world.jobs.keys().await, neighbour);
}

#[tokio::test]
async fn a_store_that_refuses_deletion_is_a_5001_and_the_job_stays_whole() {
    // GIVEN credentials that may read the bucket but not delete from it (scripts/test.sh makes
    // them: DEL_JOB_TEST_READONLY_*)
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/test.sh"))
    };
    let bucket_name = var("DEL_JOB_TEST_READONLY_BUCKET");
    let client = testkit::fixture::client().await;
    let bucket = Bucket::named(&client, &bucket_name).await;
    bucket.clear().await;
    let target = bucket.seed_job("", &JobSpec::new(P1, "abc").objects(30, 3)).await;
    let neighbour = bucket.seed_job("", &JobSpec::new(P1, "abcd")).await;
    let vars = HashMap::from([
        ("JOB_BUCKET".to_string(), bucket_name.clone()),
        ("AWS_ACCESS_KEY_ID".to_string(), var("DEL_JOB_TEST_READONLY_ACCESS_KEY")),
        ("AWS_SECRET_ACCESS_KEY".to_string(), var("DEL_JOB_TEST_READONLY_SECRET_KEY")),
    ]);
    let readonly = readonly_app(&vars).await;

    // WHEN the job is deleted
    let answer = invoke(&readonly, http_api_event(P1, P1, &body("abc", "etl", None))).await;

    // THEN the answer is a 5001 that names the store's code, and nothing is gone
    let message = refused(&answer, 500, "res.5001");
    assert!(message.contains("AccessDenied"), "{message}");
    assert!(!message.contains("amazonaws") && !message.contains("127.0.0.1"), "{message}");
    let expected: BTreeSet<_> = target.union(&neighbour).cloned().collect();
    assert_eq!(bucket.keys().await, expected);
}

/// The function with its S3 client signing as the read-only key.
async fn readonly_app(vars: &HashMap<String, String>) -> del_job::app::App {
    use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
    let config = del_job::config::Config::from_lookup(|name| {
        vars.get(name).cloned().or_else(|| std::env::var(name).ok())
    })
    .unwrap();
    let key = Credentials::new(
        &vars["AWS_ACCESS_KEY_ID"],
        &vars["AWS_SECRET_ACCESS_KEY"],
        None,
        None,
        "read-only test key",
    );
    let sdk = del_job::store::aws_config(&config.s3).await;
    let sdk = sdk.into_builder().credentials_provider(SharedCredentialsProvider::new(key)).build();
    del_job::app::App::with_sdk(config, &sdk)
}

#[tokio::test]
async fn a_store_that_cannot_be_reached_is_a_retryable_5003() {
    // GIVEN an endpoint where nothing listens
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let vars = HashMap::from([
        ("JOB_BUCKET".to_string(), "jobs".to_string()),
        ("AWS_ENDPOINT_URL_S3".to_string(), format!("http://{closed}")),
        ("S3_MAX_ATTEMPTS".to_string(), "2".to_string()),
        ("S3_ATTEMPT_TIMEOUT_MS".to_string(), "1000".to_string()),
    ]);
    let app = app(&vars).await;
    let started = std::time::Instant::now();
    let answer = invoke(&app, http_api_event(P1, P1, &body("abc", "etl", None))).await;
    let message = refused(&answer, 503, "res.5003");
    assert!(!message.contains(&closed.to_string()), "the answer leaks the endpoint: {message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn every_shape_of_job_tree_is_deleted_completely() {
    // GIVEN jobs shaped as the lister's paths split them: flat and multi-page, deep, many tiny
    // folders (past the split budget), a wide folder (past the fan-out), and files at every level
    let world = World::new("shapes", "").await;
    let shapes: Vec<(&str, Vec<String>)> = vec![
        ("flat", (0..1_500).map(|i| format!("part-{i:05}")).collect()),
        ("deep", (0..300).map(|i| format!("a/b{}/c{}/d{}/e/f-{i}", i % 2, i % 3, i % 5)).collect()),
        ("tiny", (0..400).map(|i| format!("date={}/hour={}/f", i / 20, i % 20)).collect()),
        ("wide", (0..90).map(|i| format!("out/p{i}/x")).collect()),
        // Cut into key ranges, with keys at, inside and beside the cut points
        (
            "ranged",
            (0..2_500)
                .map(|i| format!("out/part-{i:05}"))
                .chain(
                    ["out/part-01", "out/part-01~", "out/part-01/x", "out/part-1", "out/q"]
                        .map(String::from),
                )
                .collect(),
        ),
        // Sub-folders past the probe's short page of 100: they show in its second page
        (
            "probed",
            (0..150)
                .map(|i| format!("out/k{i:03}"))
                .chain((0..150).map(|i| format!("out/sub{}/x{i}", i % 3)))
                .collect(),
        ),
        (
            "mixed",
            ["top", "out/a", "out/sub/b", "out/sub/deeper/c", "out/sub/deeper/still/d"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
    ];
    let mut neighbour = world.jobs.seed_job("", &JobSpec::new(P1, "flat0").objects(20, 2)).await;
    // A job whose id extends "ranged", with keys named as that job's: it must survive.
    let ranged0: Vec<String> =
        (0..1_200).map(|i| format!("p1/jobs/ranged0/out/part-{i:05}")).collect();
    world.jobs.put_all(ranged0.iter().cloned()).await;
    neighbour.extend(ranged0);
    // A job whose id extends "probed", and "probed" in project p10: keys named as its own.
    let probed_beside: Vec<String> = ["p1/jobs/probed0", "p10/jobs/probed"]
        .iter()
        .flat_map(|root| ["out/k000", "out/k149", "out/sub0/x0"].map(|k| format!("{root}/{k}")))
        .collect();
    world.jobs.put_all(probed_beside.iter().cloned()).await;
    neighbour.extend(probed_beside);
    for (job, relative) in &shapes {
        let record = world.jobs.seed_job("", &JobSpec::new(P1, job).objects(0, 0)).await;
        world.jobs.put_all(relative.iter().map(|k| format!("p1/jobs/{job}/{k}"))).await;

        // WHEN each is deleted
        let (status, envelope) =
            invoke(&world.app, http_api_event(P1, P1, &body(job, "etl", None))).await;

        // THEN every key goes, once, and the neighbour stays
        assert_eq!(status, 200, "{job}: {envelope}");
        assert_eq!(envelope["deleted_objects"], (relative.len() + record.len()) as u64, "{job}");
        assert_eq!(world.jobs.keys().await, neighbour, "{job}");
    }
}

/// An upload in progress (a multipart upload begun by the job and never completed, as a failed
/// Spark or Hadoop S3A commit leaves them) under the job's root.
async fn begin_upload(world: &World, key: &str) -> String {
    let client = &world.jobs.client;
    let upload = client.create_multipart_upload().bucket(&world.jobs.name).key(key);
    let upload = upload.send().await.expect("create multipart upload");
    let id = upload.upload_id().expect("upload id").to_owned();
    let part = client
        .upload_part()
        .bucket(&world.jobs.name)
        .key(key)
        .upload_id(&id)
        .part_number(1)
        .body(vec![7u8; 64 * 1024].into());
    part.send().await.expect("upload part");
    id
}

/// The job's uploads in progress (their parts are stored and billed data of the job) go with it:
/// none is left for anyone to complete into a job that no longer exists.
#[tokio::test]
async fn uploads_in_progress_under_the_job_go_before_the_record() {
    // GIVEN job j with data and an upload in progress under its output, and one in a neighbour
    let world = World::new("uploads", "").await;
    world.jobs.seed_job("", &JobSpec::new("p1", "j").objects(20, 2)).await;
    world.jobs.seed_job("", &JobSpec::new("p1", "j0").objects(2, 0)).await;
    let key = "p1/jobs/j/output/part-99999.parquet";
    let id = begin_upload(&world, key).await;
    begin_upload(&world, "p1/jobs/j0/output/part-1.parquet").await;

    // WHEN the job is deleted
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("j", "etl", None))).await;
    assert_eq!(status, 200, "{envelope}");
    assert!(world.jobs.keys_under("p1/jobs/j/").await.is_empty());

    // THEN no upload of the job is left (the neighbour's stays), so nothing of it can come back
    let uploads = |prefix: &'static str| {
        let list = world.jobs.client.list_multipart_uploads().bucket(&world.jobs.name);
        async move {
            let listed = list.prefix(prefix).send().await.expect("list uploads");
            listed.uploads().iter().filter_map(|u| u.key().map(str::to_owned)).collect::<Vec<_>>()
        }
    };
    assert_eq!(uploads("p1/jobs/j0/").await.len(), 1, "the neighbour's upload stays");
    let left = uploads("p1/jobs/j/").await;
    if !left.is_empty() {
        // What that costs: the upload, completed after the deletion, is an object of a job
        // without a record.
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let parts = world
            .jobs
            .client
            .list_parts()
            .bucket(&world.jobs.name)
            .key(key)
            .upload_id(&id)
            .send()
            .await
            .expect("list parts");
        let etag = parts.parts()[0].e_tag().unwrap_or_default().to_owned();
        let part = CompletedPart::builder().part_number(1).e_tag(etag).build();
        let done = CompletedMultipartUpload::builder().parts(part).build();
        let complete = world.jobs.client.complete_multipart_upload().bucket(&world.jobs.name);
        complete.key(key).upload_id(&id).multipart_upload(done).send().await.expect("complete");
        let back = world.jobs.keys_under("p1/jobs/j/").await;
        panic!("uploads left in the deleted job: {left:?}; completed, they bring back {back:?}");
    }
}
