//! Seeds the demo on the local S3 server named by `AWS_ENDPOINT_URL`, or lists what is there.
//!
//! `cargo run --example seed -- demo`: the API page's example job beside neighbours that must
//! survive (see `testkit/src/fixture.rs`). `cargo run --example seed -- list`: every key of
//! both demo buckets.

use testkit::fixture::{self, Bucket, demo};

#[tokio::main]
async fn main() {
    let client = fixture::client().await;
    let jobs = Bucket::named(&client, demo::JOB_BUCKET).await;
    let config = Bucket::named(&client, demo::CONFIG_BUCKET).await;
    match std::env::args().nth(1).as_deref() {
        Some("demo") => {
            let keys = fixture::seed_demo(&jobs, &config).await;
            let seeded = keys.doomed_jobs.len() + keys.doomed_config.len();
            let kept = keys.kept_jobs.len() + keys.kept_config.len() + keys.deleting.len();
            println!(
                "seeded job {} ({seeded} objects) beside {kept} objects that must survive",
                demo::JOB
            );
        }
        Some("list") => {
            for bucket in [&jobs, &config] {
                let keys = bucket.keys().await;
                println!("s3://{}: {} objects", bucket.name, keys.len());
                for key in keys {
                    println!("  {key}");
                }
            }
        }
        _ => {
            eprintln!("usage: seed demo | seed list");
            std::process::exit(2);
        }
    }
}
