//! Buckets encrypted with a customer-managed KMS key (SSE-KMS by default), common in enterprise
//! accounts, against moto: every request the function makes of such a bucket (reading, marking
//! and deleting the record, listing and deleting the data) works, through hand-ons too. In AWS the
//! function's role needs the keys (the template's `KmsKeyArns`); moto checks no IAM.

use s3_proxy::Settings;
use serde_json::Value;
use std::time::Duration;
use testkit::fixture::{self, JobSpec};
use testkit::{World, body, http_api_event, invoke};

#[tokio::test]
async fn a_job_in_a_bucket_encrypted_with_a_kms_key_is_deleted_through_its_hand_ons() {
    let _heavy = testkit::heavy().await;
    // GIVEN job and configuration buckets encrypted by default with a customer-managed key, a
    // job in them too large for one invocation, and a neighbour
    let env = [("HTTP_BUDGET_MS", "1000"), ("DEADLINE_MARGIN_MS", "1000")];
    let (world, proxy) = World::on_moto_behind_proxy("kms", Settings::default(), &env).await;
    proxy.set_write_limit(Some(1_000));
    let key = fixture::kms_key().await;
    world.jobs.encrypt_with(&key).await;
    world.configs.encrypt_with(&key).await;
    let path = format!("s3://{}/sources", world.configs.name);
    let spec = JobSpec::new("p1", "j").objects(3_000, 4).config_load_path(&path);
    let job = world.jobs.seed_job("", &spec).await;
    world.configs.put("sources/j/config.json", "{}").await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new("p1", "j0")).await;
    let record = "p1/jobs/j/job.json";
    assert_eq!(world.jobs.encryption_of(record).await, (Some("aws:kms".into()), Some(key.clone())));

    // WHEN it is deleted through the API, and its hand-ons delivered
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("j", "etl", None))).await;
    assert_eq!(status, 202, "{envelope}");
    let marked: Value = serde_json::from_slice(&world.jobs.get(record).await.unwrap()).unwrap();
    assert_eq!(marked["status"], "deleting");
    assert_eq!(world.jobs.encryption_of(record).await.0.as_deref(), Some("aws:kms"));
    let mut hops = 0;
    while let Some(delivery) = world.hand_ons.deliver(&world.app, Duration::from_secs(4)).await {
        assert!(!delivery.failed, "{:?} {}", delivery.result, world.last_summary());
        hops += 1;
    }

    // THEN the job, its record and its sources are gone, and the neighbour stays
    let now = world.jobs.keys().await;
    testkit::settle(
        "isolation",
        "a job in buckets encrypted with a KMS key (SSE-KMS)",
        hops + 1,
        &job,
        &neighbour,
        &now,
        "deleted through its hand-ons",
    );
    assert_eq!(now, neighbour);
    assert!(world.configs.keys().await.is_empty());
}
