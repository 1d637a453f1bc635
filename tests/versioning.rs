//! Versioned buckets and Object Lock, against moto's S3 server (scripts/test.sh starts it): a
//! plain delete would only add delete markers and keep the data, so every version and marker
//! under the job's root must go, and a locked version must be reported, not hidden.

use s3_proxy::Settings;
use std::collections::BTreeSet;
use testkit::fixture::JobSpec;
use testkit::{World, body, http_api_event, invoke, refused, settle};

const P1: &str = "p1";

type Versions = BTreeSet<(String, String)>;

fn under(versions: &Versions, prefix: &str) -> Versions {
    versions.iter().filter(|(key, _)| key.starts_with(prefix)).cloned().collect()
}

/// Versions as the `key@version` strings that `settle` compares.
fn named(versions: &Versions) -> BTreeSet<String> {
    versions.iter().map(|(key, version)| format!("{key}@{version}")).collect()
}

/// A job whose objects were each written three times and some deleted (delete markers), beside
/// a neighbour treated alike.
async fn seed(world: &World) -> (Versions, Versions) {
    for job in ["job", "job0"] {
        let keys = world.jobs.seed_job("", &JobSpec::new(P1, job).objects(40, 4)).await;
        for key in keys.iter().filter(|k| !k.ends_with("job.json")) {
            world.jobs.put(key, "second").await;
            world.jobs.put(key, "third").await;
        }
        for key in keys.iter().filter(|k| k.contains("part-00001/")) {
            world.jobs.delete(key).await;
        }
    }
    let all = world.jobs.versions().await;
    (under(&all, "p1/jobs/job/"), under(&all, "p1/jobs/job0/"))
}

#[tokio::test]
async fn every_version_and_delete_marker_of_the_job_goes_and_the_neighbours_stay() {
    let world = World::versioned("versions", &[]).await;
    let (job, neighbour) = seed(&world).await;
    assert!(job.len() > 100, "{}", job.len());

    let (status, envelope) =
        invoke(&world.app, http_api_event(P1, P1, &body("job", "etl", None))).await;

    assert_eq!(status, 200, "{envelope}");
    assert_eq!(envelope["deleted_objects"], job.len() as u64, "versions and markers are counted");
    let now = named(&world.jobs.versions().await);
    settle(
        "versioning",
        "versioned bucket: 3 versions an object, delete markers",
        1,
        &named(&job),
        &named(&neighbour),
        &now,
        "every version and marker deleted, 200",
    );
}

#[tokio::test]
async fn a_locked_version_is_reported_by_name_the_rest_goes_and_the_record_stays() {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::ObjectLockMode;
    // GIVEN a versioned job with one version under a compliance retention
    let world = World::versioned("locked", &[]).await;
    let (job, neighbour) = seed(&world).await;
    let locked_key = "p1/jobs/job/output/locked.parquet";
    let retain = DateTime::from_secs(4_102_444_800); // 2100-01-01
    world
        .jobs
        .client
        .put_object()
        .bucket(&world.jobs.name)
        .key(locked_key)
        .body(b"kept by law".to_vec().into())
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(retain)
        .send()
        .await
        .unwrap();

    // WHEN the job is deleted
    let answer = invoke(&world.app, http_api_event(P1, P1, &body("job", "etl", None))).await;

    // THEN the answer names the lock, the record's versions and the locked one stay, the rest go
    let message = refused(&answer, 500, "res.5001");
    assert!(message.contains("Object Lock") && message.contains(locked_key), "{message}");
    assert!(message.contains("Failed to delete 1 object(s)"), "{message}");
    let now = world.jobs.versions().await;
    let left: BTreeSet<String> = under(&now, "p1/jobs/job/").into_iter().map(|(k, _)| k).collect();
    assert_eq!(left, BTreeSet::from([locked_key.to_owned(), "p1/jobs/job/job.json".to_owned()]));
    let doomed: Versions = job.iter().filter(|(k, _)| !k.ends_with("job.json")).cloned().collect();
    settle(
        "versioning",
        "a version under Object Lock",
        1,
        &named(&doomed),
        &named(&neighbour),
        &named(&now),
        "5001 naming the lock, the rest deleted, record kept",
    );
}

#[tokio::test]
async fn keys_of_1024_bytes_are_deleted() {
    let world = World::versioned("longkeys", &[]).await;
    world.jobs.seed_job("", &JobSpec::new(P1, "job").objects(0, 0)).await;
    let root = "p1/jobs/job/";
    let doomed: BTreeSet<String> =
        (0..5).map(|i| format!("{root}{i}{}", "k".repeat(1024 - root.len() - 1))).collect();
    assert!(doomed.iter().all(|k| k.len() == 1024));
    world.jobs.put_all(doomed.iter().cloned()).await;
    let survivors = world.jobs.seed_job("", &JobSpec::new(P1, "job0")).await;
    let (status, envelope) =
        invoke(&world.app, http_api_event(P1, P1, &body("job", "etl", None))).await;
    assert_eq!(status, 200, "{envelope}");
    let now: BTreeSet<String> = world.jobs.versions().await.into_iter().map(|(k, _)| k).collect();
    settle("input", "keys of 1,024 bytes", 1, &doomed, &survivors, &now, "all deleted, 200");
}

/// Whether a bucket keeps versions is asked with every request: a bucket whose versioning is
/// turned on later (S3 replication requires it) is deleted from as versioned by a warm process
/// too, every version and delete marker of the job going, the record's last.
#[tokio::test]
async fn versioning_turned_on_after_a_process_asked_leaves_no_version_behind() {
    // GIVEN a warm function that has deleted a job in an unversioned bucket (moto)
    let (world, _s3) = World::on_moto_behind_proxy("turnedon", Settings::default(), &[]).await;
    world.jobs.seed_job("", &JobSpec::new("p1", "first").objects(4, 0)).await;
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("first", "etl", None))).await;
    assert_eq!(status, 200, "{envelope}");

    // WHEN the bucket's versioning is turned on, a job is written, and the same process
    // deletes it
    world.jobs.enable_versioning().await;
    world.jobs.seed_job("", &JobSpec::new("p1", "j").objects(6, 2)).await;
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("j", "etl", None))).await;
    assert_eq!(status, 200, "{envelope}");

    // THEN no version of the job's objects is left
    let left: Vec<(String, String)> = world
        .jobs
        .versions()
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with("p1/jobs/j/"))
        .collect();
    assert!(
        left.is_empty(),
        "{} versions left of a job whose record is gone (the record's among them: {}): {:?}",
        left.len(),
        left.iter().any(|(k, _)| k.ends_with("job.json")),
        left.iter().take(4).collect::<Vec<_>>()
    );
}
