//! End to end: every sample event in `events/`, invoked through `cargo lambda watch` and
//! `cargo lambda invoke` against Garage, gets the answer `events/README.md` promises; a success
//! deletes exactly the demo job, a refusal deletes nothing.

mod common;

use common::fixture::{self, Bucket, demo};
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One row of the table in events/README.md.
#[derive(Debug)]
struct Promise {
    file: String,
    status: u16,
    error_code: Option<String>,
}

fn promises() -> Vec<Promise> {
    let readme = std::fs::read_to_string("events/README.md").expect("events/README.md");
    readme
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells[4];
            Promise {
                file: cells[1].trim_matches('`').to_owned(),
                status: cells[3].parse().unwrap_or_else(|_| panic!("status in {line}")),
                error_code: code.starts_with("res.").then(|| code.to_owned()),
            }
        })
        .collect()
}

/// `cargo lambda watch`, in a process group of its own so that the function it runs is
/// stopped with it.
struct Watch {
    child: Child,
    port: u16,
}

impl Watch {
    fn start() -> Watch {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let vars = format!(
            "JOB_BUCKET={},CONFIG_BUCKETS={},RUST_LOG=warn",
            demo::JOB_BUCKET,
            demo::CONFIG_BUCKET
        );
        let child = Command::new("cargo")
            .args(["lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P"])
            .arg(port.to_string())
            .args(["--env-vars", &vars])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("cargo lambda watch: install cargo-lambda (scripts/test.sh does)");
        Watch { child, port }
    }

    /// The function's answer to the event in `file`.
    fn invoke(&self, file: &Path) -> Value {
        let output = Command::new("cargo")
            .args(["lambda", "invoke", "del-job", "-A", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(file)
            .output()
            .expect("cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "invoke {}: {}{}",
            file.display(),
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// Waits until the function is built and answers, by invoking `file` until it does.
    fn ready(&self, file: &Path) {
        let started = Instant::now();
        loop {
            let status = Command::new("cargo")
                .args(["lambda", "invoke", "del-job", "-A", "127.0.0.1", "-P"])
                .arg(self.port.to_string())
                .arg("--data-file")
                .arg(file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("cargo lambda invoke");
            if status.success() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "cargo lambda watch never answered"
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
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

    let watch = Watch::start();
    // A refused request leaves the store as it is, so it serves to wait for the build.
    watch.ready(Path::new("events/refused-1003-job-id-missing.json"));

    for promise in &promises {
        // WHEN the event is invoked on a freshly seeded demo
        let seeded = fixture::seed_demo(&jobs, &configs).await;
        let answer = watch.invoke(&Path::new("events").join(&promise.file));

        // THEN the status and error code are the promised ones
        let file = &promise.file;
        let envelope: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(answer["statusCode"], promise.status, "{file}: {envelope}");
        assert_eq!(answer["headers"]["content-type"], "application/json", "{file}");
        match &promise.error_code {
            Some(code) => {
                assert_eq!(envelope["is_success"], false, "{file}");
                assert_eq!(envelope["error_code"], *code, "{file}: {envelope}");
                assert!(envelope["error_msg"].as_str().is_some_and(|m| !m.is_empty()), "{file}");
            }
            None => {
                assert_eq!(envelope["is_success"], true, "{file}");
                assert_eq!(envelope["job_id"], demo::JOB, "{file}");
                let deleted = seeded.doomed_jobs.len() + seeded.doomed_config.len();
                assert_eq!(envelope["deleted_objects"], deleted as u64, "{file}");
            }
        }
        // AND a success deleted the demo job and only it, a refusal nothing at all
        let (mut expected_jobs, mut expected_configs) = (seeded.kept_jobs, seeded.kept_config);
        if promise.error_code.is_some() {
            expected_jobs.extend(seeded.doomed_jobs);
            expected_configs.extend(seeded.doomed_config);
        }
        assert_eq!(jobs.keys().await, expected_jobs, "{file}: job bucket");
        assert_eq!(configs.keys().await, expected_configs, "{file}: config bucket");
    }
}
