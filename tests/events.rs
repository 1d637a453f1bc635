//! End to end: every sample event in `events/`, invoked through `cargo lambda watch` and
//! `cargo lambda invoke` against Garage, gets the answer `events/README.md` promises; a success
//! deletes exactly the demo job, a refusal deletes nothing.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use testkit::fixture::{self, Bucket, demo};
use testkit::watch::Watch;

/// One row of the tables in events/README.md.
#[derive(Debug)]
struct Promise {
    file: String,
    answer: Answer,
    deletes: Deletes,
}

#[derive(Debug)]
enum Answer {
    Http {
        status: u16,
        error_code: Option<String>,
    },
    /// The message ids of an SQS batch response.
    Failures(BTreeSet<String>),
    /// The `outcome` an asynchronous event reports.
    Outcome(String),
    /// A Lambda error carrying this RES code.
    Error(String),
}

#[derive(Debug, PartialEq)]
enum Deletes {
    ExampleJob,
    DeletingJob,
    Nothing,
}

fn promises() -> Vec<Promise> {
    let readme = std::fs::read_to_string("events/README.md").expect("events/README.md");
    readme
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let words: Vec<&str> = cells[3].split_whitespace().collect();
            let answer = match words[..] {
                ["failures", ref ids @ ..] => {
                    Answer::Failures(ids.iter().map(|s| s.to_string()).collect())
                }
                ["error", code] => Answer::Error(code.into()),
                [status] if status.parse::<u16>().is_ok() => {
                    Answer::Http { status: status.parse().unwrap(), error_code: None }
                }
                [status, code] => Answer::Http {
                    status: status.parse().unwrap_or_else(|_| panic!("status in {line}")),
                    error_code: Some(code.into()),
                },
                [outcome] => Answer::Outcome(outcome.into()),
                _ => panic!("unreadable answer in {line}"),
            };
            let deletes = match cells[4] {
                "the example job" => Deletes::ExampleJob,
                "the deleting job" => Deletes::DeletingJob,
                "nothing" => Deletes::Nothing,
                other => panic!("unknown deletion {other:?} in {line}"),
            };
            Promise { file: cells[1].trim_matches('`').to_owned(), answer, deletes }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_event_gets_the_answer_its_readme_promises() {
    // GIVEN the demo buckets and every event listed, and only those, in events/
    let client = fixture::client().await;
    let jobs = Bucket::named(&client, demo::JOB_BUCKET).await;
    let configs = Bucket::named(&client, demo::CONFIG_BUCKET).await;
    let promises = promises();
    let listed: BTreeSet<String> = promises.iter().map(|p| p.file.clone()).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir("events")
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    assert_eq!(listed, on_disk, "events/README.md must list every sample event");

    let vars = format!(
        "JOB_BUCKET={},CONFIG_BUCKETS={},TRUSTED_PRINCIPALS={},TRUSTED_ACCOUNTS={},HAND_ON_QUEUE_URL={}",
        demo::JOB_BUCKET,
        demo::CONFIG_BUCKET,
        demo::TRUSTED_PRINCIPAL,
        demo::ACCOUNT,
        demo::HAND_ON_QUEUE_URL,
    );
    let watch = Watch::start(&vars, 1);
    // A refused request leaves the store as it is, so it serves to wait for the build.
    watch.ready(Path::new("events/refused-1003-job-id-missing.json"));

    for promise in &promises {
        // WHEN the event is invoked on a freshly seeded demo
        let seeded = fixture::seed_demo(&jobs, &configs).await;
        let file = &promise.file;
        let result = watch.invoke(&Path::new("events").join(file));

        // THEN the answer is the promised one
        match (&promise.answer, result) {
            (Answer::Http { status, error_code }, Ok(answer)) => {
                let envelope: Value =
                    serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
                assert_eq!(answer["statusCode"], *status, "{file}: {envelope}");
                assert_eq!(answer["headers"]["content-type"], "application/json", "{file}");
                assert_eq!(envelope["is_success"], error_code.is_none(), "{file}");
                match error_code {
                    Some(code) => {
                        assert_eq!(envelope["error_code"], *code, "{file}: {envelope}");
                        assert!(
                            envelope["error_msg"].as_str().is_some_and(|m| !m.is_empty()),
                            "{file}"
                        );
                    }
                    None => {
                        assert_eq!(envelope["job_id"], demo::JOB, "{file}");
                        let deleted = seeded.doomed_jobs.len() + seeded.doomed_config.len();
                        assert_eq!(envelope["deleted_objects"], deleted as u64, "{file}");
                    }
                }
            }
            (Answer::Failures(ids), Ok(answer)) => {
                let failed: BTreeSet<String> = answer["batchItemFailures"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{file}: {answer}"))
                    .iter()
                    .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(failed, *ids, "{file}");
            }
            (Answer::Outcome(outcome), Ok(answer)) => {
                assert_eq!(answer["outcome"], *outcome, "{file}: {answer}");
            }
            (Answer::Error(code), Err(printed)) => {
                assert!(printed.contains(code.as_str()), "{file}: {printed}");
            }
            (expected, got) => panic!("{file}: expected {expected:?}, got {got:?}"),
        }

        // AND exactly the promised objects are gone
        let mut expected_jobs = seeded.kept_jobs.clone();
        let mut expected_configs = seeded.kept_config.clone();
        if promise.deletes != Deletes::ExampleJob {
            expected_jobs.extend(seeded.doomed_jobs.iter().cloned());
            expected_configs.extend(seeded.doomed_config.iter().cloned());
        }
        if promise.deletes != Deletes::DeletingJob {
            expected_jobs.extend(seeded.deleting.iter().cloned());
        }
        assert_eq!(jobs.keys().await, expected_jobs, "{file}: job bucket");
        assert_eq!(configs.keys().await, expected_configs, "{file}: config bucket");
    }
}
