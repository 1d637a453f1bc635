//! Load: a thousand small deletions through `cargo lambda watch`, back to back and then eight at
//! once, against Garage. Every answer must be right, the function's memory flat, and the
//! latencies are reported.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use testkit::fixture::{self, Bucket, JobSpec};
use testkit::watch::Watch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEQUENTIAL: usize = 500;
const CONCURRENT: usize = 500;
const AT_ONCE: usize = 8;

/// Invokes the function through the watch's Lambda invoke API, as `cargo lambda invoke` does.
async fn invoke(port: u16, event: &Value) -> Value {
    let body = event.to_string();
    let request = format!(
        "POST /2015-03-31/functions/del-job/invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream =
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect to the watch");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    let (head, payload) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The watch may answer chunked; the payload is the JSON object inside.
    let start = payload.find('{').expect("a JSON answer");
    let end = payload.rfind('}').expect("a JSON answer");
    serde_json::from_str(&payload[start..=end]).expect("a JSON answer")
}

/// Resident memory of every function process the watch runs, in KiB.
fn function_rss_kib() -> Vec<u64> {
    let mut rss = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else { continue };
        if !exe.ends_with("target/debug/del-job") {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        if let Some(line) = status.lines().find(|l| l.starts_with("VmRSS:")) {
            rss.push(line.split_whitespace().nth(1).unwrap().parse().unwrap());
        }
    }
    rss
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_small_deletions_are_answered_right_with_flat_memory() {
    let _heavy = testkit::heavy().await;
    // GIVEN a thousand small jobs and neighbours that must stay
    let client = fixture::client().await;
    let jobs = Bucket::fresh(&client, "load").await;
    let total = SEQUENTIAL + CONCURRENT;
    let mut doomed = BTreeSet::new();
    let mut survivors = BTreeSet::new();
    for i in 0..total {
        let job = JobSpec::new("p1", &format!("j{i}")).job_type("ranking").objects(2, 0);
        doomed.extend(jobs.seed_job("", &job).await);
    }
    for i in 0..20 {
        survivors
            .extend(jobs.seed_job("", &JobSpec::new("p10", &format!("j{i}")).objects(2, 0)).await);
    }
    let watch = Watch::start(&format!("JOB_BUCKET={}", jobs.name), AT_ONCE);
    watch.ready(std::path::Path::new("events/refused-1003-job-id-missing.json"));
    let event = |i: usize| {
        let request = json!({"job_id": format!("j{i}"), "type": "ranking"});
        testkit::http_api_event("p1", "p1", &request)
    };
    let check = |i: usize, answer: &Value| {
        let envelope: Value =
            serde_json::from_str(answer["body"].as_str().unwrap_or("{}")).unwrap();
        assert_eq!(answer["statusCode"], 200, "j{i}: {answer}");
        assert_eq!(envelope["deleted_objects"], 3, "j{i}: {envelope}");
    };

    // WHEN half are deleted back to back
    let mut latencies = Vec::new();
    let mut rss_after_warm_up = Vec::new();
    for i in 0..SEQUENTIAL {
        let started = Instant::now();
        let answer = invoke(watch.port, &event(i)).await;
        latencies.push(started.elapsed());
        check(i, &answer);
        if i == 50 {
            rss_after_warm_up = function_rss_kib();
        }
    }
    // AND the other half eight at once
    let port = watch.port;
    let mut tasks = tokio::task::JoinSet::new();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(SEQUENTIAL));
    for _ in 0..AT_ONCE {
        let next = next.clone();
        let events: Vec<Value> = (0..total).map(event).collect();
        tasks.spawn(async move {
            let mut timed = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return timed;
                }
                let started = Instant::now();
                let answer = invoke(port, &events[i]).await;
                timed.push((i, started.elapsed(), answer));
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        for (i, took, answer) in done.unwrap() {
            check(i, &answer);
            latencies.push(took);
        }
    }
    let rss_at_end = function_rss_kib();

    // THEN every job is gone, every neighbour stays, and memory did not grow with the work
    let now = jobs.keys().await;
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    let warm = rss_after_warm_up.iter().max().copied().unwrap_or(0);
    let end = rss_at_end.iter().max().copied().unwrap_or(0);
    println!(
        "latency p50 {p50:?} p99 {p99:?}; function RSS after 50: {warm} KiB, at the end: {end} KiB"
    );
    assert!(warm > 0 && end > 0, "the function processes were not found");
    assert!(end < warm + 8 * 1024, "memory grew from {warm} KiB to {end} KiB");
    let outcome = format!(
        "all 200; p50 {} ms, p99 {} ms (debug build); RSS {} → {} MiB",
        p50.as_millis(),
        p99.as_millis(),
        warm / 1024,
        end / 1024
    );
    testkit::settle(
        "load",
        "1,000 deletions via cargo lambda watch, 500 back to back, 500 eight at once",
        total as u64,
        &doomed,
        &survivors,
        &now,
        &outcome,
    );
}
