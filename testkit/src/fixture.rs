//! The S3 fixture: buckets on the local server, jobs laid out as the function expects them, and
//! the exact set of keys left afterwards.
//!
//! It talks to the server named by `AWS_ENDPOINT_URL`, which the project's scripts start, and
//! refuses any endpoint that is not on loopback: these helpers create and empty buckets.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use del_job::config::S3Settings;
use del_job::store::s3_client;
use futures_util::{StreamExt, stream};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The demo: the API page's example job, beside neighbours that must survive its deletion.
/// The sample events in `events/` name these ids and buckets.
pub mod demo {
    pub const JOB_BUCKET: &str = "res-jobs";
    pub const CONFIG_BUCKET: &str = "res-config";
    /// The account the sample events come from, trusted by the demo function
    /// (`TRUSTED_ACCOUNTS`).
    pub const ACCOUNT: &str = "123456789012";
    /// The IAM role the demo function trusts (`TRUSTED_PRINCIPALS`); the Function URL sample is
    /// signed by a session of it.
    pub const TRUSTED_PRINCIPAL: &str = "arn:aws:iam::123456789012:role/res-cleanup";
    /// The hand-on queue the function is configured with; `events/sqs-hand-on.json` comes from it.
    pub const HAND_ON_QUEUE_URL: &str =
        "https://sqs.eu-west-1.amazonaws.com/123456789012/del-job-hand-on";
    /// The `config_load_path` of the sample events is `s3://res-config/sources`.
    pub const CONFIG_PREFIX: &str = "sources";
    pub const PROJECT: &str = "0a5e29b1c4d84f6e9b7a2c3d4e5f6a7b";
    /// The API page's example job: an `etl` job that succeeded.
    pub const JOB: &str = "aa22ac78f14142eaa7deacc8e88d477e";
    /// Shares the example job's id as a prefix.
    pub const NEIGHBOUR_JOB: &str = "aa22ac78f14142eaa7deacc8e88d477e0";
    /// Shares the project's id as a prefix, and holds a job with the example job's id.
    pub const OTHER_PROJECT: &str = "0a5e29b1c4d84f6e9b7a2c3d4e5f6a7b0";
    pub const RUNNING_JOB: &str = "bb31c0de5a8e4b7c9d2f1e0a3b4c5d6e";
    /// A `ranking` job an earlier invocation began to delete: its record says `deleting`, and
    /// a hand-on (`events/sqs-hand-on.json`) carries the rest.
    pub const DELETING_JOB: &str = "dd0f3e2c1b4a59687766554433221100";
    /// The chain of hand-ons carrying the deleting job's deletion (its record and the hand-on
    /// sample name it).
    pub const DELETING_CHAIN: &str = "5d1c0ffee0ddba11cafe0b0e5eed1e55";
}

/// The server the tests run against, from the standard AWS variables.
pub async fn client() -> Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run the tests with scripts/test.sh, which starts Garage",
    );
    client_for(&endpoint).await
}

/// A new customer-managed KMS key on moto, for buckets encrypted with SSE-KMS; its ARN.
pub async fn kms_key() -> String {
    let settings = S3Settings {
        max_attempts: 3,
        attempt_timeout: std::time::Duration::from_secs(60),
        endpoint: None,
    };
    let shared = del_job::store::aws_config(&settings).await;
    let config = aws_sdk_kms::config::Builder::from(&shared)
        .region(aws_sdk_kms::config::Region::new("eu-west-1"))
        .endpoint_url(moto_endpoint());
    let kms = aws_sdk_kms::Client::from_conf(config.build());
    let key = kms.create_key().description("del-job test bucket key").send().await.expect("a key");
    key.key_metadata().and_then(|k| k.arn()).expect("the key's ARN").to_owned()
}

/// The moto server, for what Garage lacks (versioning, object lock).
pub fn moto_endpoint() -> String {
    std::env::var("DEL_JOB_TEST_MOTO_ENDPOINT")
        .expect("DEL_JOB_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto")
}

/// A client of the S3 server at `endpoint`, which must be on loopback.
pub async fn client_for(endpoint: &str) -> Client {
    let host = endpoint.split("://").nth(1).unwrap_or_default();
    assert!(
        host.starts_with("127.0.0.1:") || host.starts_with("localhost:"),
        "refusing to run destructive tests against {endpoint}: not a loopback endpoint"
    );
    let settings = S3Settings {
        max_attempts: 3,
        attempt_timeout: std::time::Duration::from_secs(60),
        endpoint: Some(endpoint.to_owned()),
    };
    s3_client(&settings).await
}

/// The client's region as a bucket's location: outside us-east-1 it must be named, or moto
/// refuses the bucket.
fn location(client: &Client) -> aws_sdk_s3::types::CreateBucketConfiguration {
    let region = client.config().region().map(|r| r.to_string()).unwrap_or_default();
    aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(region.as_str().into())
        .build()
}

/// A bucket on the test server.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub client: Client,
    pub name: String,
}

impl Bucket {
    /// The bucket `name`, created if it does not exist (with Object Lock allowed, where the
    /// server knows it).
    pub async fn named(client: &Client, name: &str) -> Bucket {
        if client.head_bucket().bucket(name).send().await.is_err() {
            let create = client.create_bucket().bucket(name);
            create
                .create_bucket_configuration(location(client))
                .send()
                .await
                .expect("create bucket");
        }
        Bucket { client: client.clone(), name: name.to_owned() }
    }

    /// Encrypts what is written from now on with `key`, a customer-managed KMS key (SSE-KMS by
    /// default, as enterprise accounts set their buckets); moto.
    pub async fn encrypt_with(&self, key: &str) {
        use aws_sdk_s3::types::{
            ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
            ServerSideEncryptionRule,
        };
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .kms_master_key_id(key)
            .build()
            .expect("an encryption rule");
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(by_default)
            .build();
        let config =
            ServerSideEncryptionConfiguration::builder().rules(rule).build().expect("rules");
        let encrypt = self.client.put_bucket_encryption().bucket(&self.name);
        encrypt.server_side_encryption_configuration(config).send().await.expect("encrypt bucket");
    }

    /// How the object at `key` is encrypted at rest, and with which KMS key.
    pub async fn encryption_of(&self, key: &str) -> (Option<String>, Option<String>) {
        let head =
            self.client.head_object().bucket(&self.name).key(key).send().await.expect("head");
        (
            head.server_side_encryption().map(|e| e.as_str().to_owned()),
            head.ssekms_key_id().map(str::to_owned),
        )
    }

    /// Turns versioning on (moto; Garage has none).
    pub async fn enable_versioning(&self) {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        let enabled =
            VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
        self.client
            .put_bucket_versioning()
            .bucket(&self.name)
            .versioning_configuration(enabled)
            .send()
            .await
            .expect("enable versioning");
    }

    /// Every version and delete marker in the bucket: (key, version id).
    pub async fn versions(&self) -> BTreeSet<(String, String)> {
        let mut all = BTreeSet::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.name)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .expect("list versions");
            for v in page.versions() {
                all.insert((
                    v.key().unwrap_or_default().to_owned(),
                    v.version_id().unwrap_or_default().to_owned(),
                ));
            }
            for m in page.delete_markers() {
                all.insert((
                    m.key().unwrap_or_default().to_owned(),
                    m.version_id().unwrap_or_default().to_owned(),
                ));
            }
            if !page.is_truncated().unwrap_or(false) {
                return all;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
    }

    /// Deletes `key` as a plain client would: in a versioned bucket, a delete marker.
    pub async fn delete(&self, key: &str) {
        self.client.delete_object().bucket(&self.name).key(key).send().await.expect("delete");
    }

    /// A new bucket of this process's own, so that tests running at once never meet.
    pub async fn fresh(client: &Client, label: &str) -> Bucket {
        let name = Bucket::fresh_name(label);
        Bucket::named(client, &name).await
    }

    /// A new bucket with versioning and Object Lock allowed (moto; Garage has neither).
    pub async fn fresh_lockable(client: &Client, label: &str) -> Bucket {
        let name = Bucket::fresh_name(label);
        let create = client.create_bucket().bucket(&name).object_lock_enabled_for_bucket(true);
        create
            .create_bucket_configuration(location(client))
            .send()
            .await
            .expect("create a lockable bucket");
        let bucket = Bucket { client: client.clone(), name };
        bucket.enable_versioning().await;
        bucket
    }

    fn fresh_name(label: &str) -> String {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let label: String = label.chars().filter(char::is_ascii_alphanumeric).take(30).collect();
        let name = format!("t-{}-{}-{n}-{nanos}", label.to_lowercase(), std::process::id());
        name[..name.len().min(63)].to_owned()
    }

    pub async fn put(&self, key: &str, body: impl Into<Vec<u8>>) {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .body(ByteStream::from(body.into()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }

    /// The object's bytes, or `None` when there is no such object.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let reply = self.client.get_object().bucket(&self.name).key(key).send().await.ok()?;
        Some(reply.body.collect().await.expect("read body").to_vec())
    }

    /// Writes small objects, many at once; seeding is never what a test measures.
    pub async fn put_all(&self, keys: impl IntoIterator<Item = String>) {
        stream::iter(keys)
            .map(|key| async move { self.put(&key, format!("data of {key}")).await })
            .buffer_unordered(64)
            .collect::<()>()
            .await;
    }

    /// Every key in the bucket.
    pub async fn keys(&self) -> BTreeSet<String> {
        self.keys_under("").await
    }

    pub async fn keys_under(&self, prefix: &str) -> BTreeSet<String> {
        use aws_sdk_s3::types::EncodingType;
        // Keys with control characters cannot come back in plain XML.
        let request = self.client.list_objects_v2().bucket(&self.name).prefix(prefix);
        let pages = request.encoding_type(EncodingType::Url).into_paginator().send();
        let pages = pages.try_collect().await.expect("list bucket");
        let mut keys = BTreeSet::new();
        for page in &pages {
            let encoded = page.encoding_type() == Some(&EncodingType::Url);
            for key in page.contents().iter().filter_map(|object| object.key()) {
                keys.insert(if encoded {
                    del_job::s3_names::url_decode(key)
                } else {
                    key.to_owned()
                });
            }
        }
        keys
    }

    /// Deletes every object, for a fixture that is seeded again and again.
    pub async fn clear(&self) {
        let keys: Vec<String> = self.keys().await.into_iter().collect();
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| aws_sdk_s3::types::ObjectIdentifier::builder().key(k).build().unwrap())
                .collect();
            let delete = aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .unwrap();
            self.client.delete_objects().bucket(&self.name).delete(delete).send().await.unwrap();
        }
    }

    /// Writes a job as the services that create jobs do: its record and `objects` data objects
    /// spread over `folders` Spark-style sub-folders (none: flat). Returns every key written.
    pub async fn seed_job(&self, job_prefix: &str, job: &JobSpec) -> BTreeSet<String> {
        let root = format!("{job_prefix}{}/jobs/{}/", job.project, job.job);
        let mut keys: Vec<String> = (0..job.objects)
            .map(|i| match job.folders {
                0 => format!("{root}output/part-{i:06}.parquet"),
                f => format!("{root}output/part-{:05}/data-{i:06}.parquet", i % f),
            })
            .collect();
        self.put_all(keys.clone()).await;
        let record_key = format!("{root}job.json");
        let mut record = serde_json::json!({
            "job_id": job.job, "type": job.job_type, "status": job.status,
            "created_at": "2026-11-27T20:00:00Z", "name": "demo"
        });
        if let Some(path) = &job.config_load_path {
            record["config_load_path"] = path.as_str().into();
        }
        if let Some(chain) = &job.deletion_chain {
            record["deletion_chain"] = chain.as_str().into();
        }
        self.put(&record_key, record.to_string()).await;
        keys.push(record_key);
        keys.into_iter().collect()
    }
}

/// A job to seed.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub project: String,
    pub job: String,
    pub job_type: String,
    pub status: String,
    pub objects: usize,
    pub folders: usize,
    /// The configuration path the record names, if any.
    pub config_load_path: Option<String>,
    /// The chain of hand-ons the record names, for a job being deleted.
    pub deletion_chain: Option<String>,
}

impl JobSpec {
    /// A finished `etl` job with a few objects in two folders.
    pub fn new(project: &str, job: &str) -> JobSpec {
        JobSpec {
            project: project.into(),
            job: job.into(),
            job_type: "etl".into(),
            status: "succeeded".into(),
            objects: 6,
            folders: 2,
            config_load_path: None,
            deletion_chain: None,
        }
    }

    pub fn job_type(mut self, job_type: &str) -> Self {
        self.job_type = job_type.into();
        self
    }

    pub fn status(mut self, status: &str) -> Self {
        self.status = status.into();
        self
    }

    /// The record names where the job's configuration sources are.
    pub fn config_load_path(mut self, path: &str) -> Self {
        self.config_load_path = Some(path.into());
        self
    }

    /// The record says the hand-ons of `chain` carry its deletion.
    pub fn deletion_chain(mut self, chain: &str) -> Self {
        self.deletion_chain = Some(chain.into());
        self
    }

    pub fn objects(mut self, objects: usize, folders: usize) -> Self {
        self.objects = objects;
        self.folders = folders;
        self
    }
}

/// What the demo seeded: the keys that one deletion of the example job must remove, and the
/// keys that must survive it.
#[derive(Debug, Clone, Default)]
pub struct DemoKeys {
    /// The example job's data and record.
    pub doomed_jobs: BTreeSet<String>,
    /// The example job's configuration sources.
    pub doomed_config: BTreeSet<String>,
    /// The job being deleted.
    pub deleting: BTreeSet<String>,
    pub kept_jobs: BTreeSet<String>,
    pub kept_config: BTreeSet<String>,
}

/// Empties both demo buckets and seeds the demo: the example job (24 objects in 4 folders and
/// two configuration sources), a job whose id extends it, a project whose id extends the
/// project's with a job of the same id, a running job, and a job half deleted.
pub async fn seed_demo(jobs: &Bucket, config: &Bucket) -> DemoKeys {
    use demo::*;
    jobs.clear().await;
    config.clear().await;
    let mut keys = DemoKeys {
        doomed_jobs: jobs.seed_job("", &JobSpec::new(PROJECT, JOB).objects(24, 4)).await,
        ..DemoKeys::default()
    };
    for job in [
        JobSpec::new(PROJECT, NEIGHBOUR_JOB),
        JobSpec::new(OTHER_PROJECT, JOB),
        JobSpec::new(PROJECT, RUNNING_JOB).status("running"),
    ] {
        keys.kept_jobs.extend(jobs.seed_job("", &job).await);
    }
    let deleting = JobSpec::new(PROJECT, DELETING_JOB)
        .job_type("ranking")
        .status("deleting")
        .deletion_chain(DELETING_CHAIN);
    keys.deleting = jobs.seed_job("", &deleting.objects(12, 3)).await;
    for (job, set) in [(JOB, &mut keys.doomed_config), (NEIGHBOUR_JOB, &mut keys.kept_config)] {
        for file in ["config.json", "features.json"] {
            let key = format!("{CONFIG_PREFIX}/{job}/{file}");
            config.put(&key, r#"{"source":"demo"}"#).await;
            set.insert(key);
        }
    }
    keys
}
