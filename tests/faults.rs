//! Faults survived, against Garage behind the project's fault-injecting proxy (s3-proxy):
//! throttling, errors inside a 200, per-key errors, dropped connections, stalls, a store that is
//! down. Every case checks what had to go is gone and what had to stay stayed.

use s3_proxy::{Action, Fault, Match, Proxy, Settings};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use testkit::fixture::{Bucket, JobSpec};
use testkit::{World, body, http_api_event, invoke, refused, settle};

const P1: &str = "p1";

/// A world whose function reaches Garage through a proxy, and a job of `objects` in 8 folders
/// beside a neighbour.
struct Faulty {
    world: World,
    proxy: Proxy,
    job: BTreeSet<String>,
    neighbour: BTreeSet<String>,
}

async fn faulty(label: &str, objects: usize, env: &[(&str, &str)]) -> Faulty {
    faulty_in(label, objects, 8, env).await
}

/// As [`faulty`], with the job's objects in `folders` sub-folders (0: flat).
async fn faulty_in(label: &str, objects: usize, folders: usize, env: &[(&str, &str)]) -> Faulty {
    let (world, proxy) = World::behind_proxy(label, Settings::default(), env).await;
    let job = world.jobs.seed_job("", &JobSpec::new(P1, "job").objects(objects, folders)).await;
    let neighbour = world.jobs.seed_job("", &JobSpec::new(P1, "job0").objects(20, 2)).await;
    Faulty { world, proxy, job, neighbour }
}

impl Faulty {
    fn inject(&self, faults: Vec<Fault>) {
        self.proxy.set(Settings { delay: Duration::ZERO, faults });
    }

    async fn delete(&self) -> (u16, serde_json::Value) {
        invoke(&self.world.app, http_api_event(P1, P1, &body("job", "etl", None))).await
    }

    /// The deletion completes despite the faults, which did fire.
    async fn assert_survives(&self, case: &str, faults: &[Fault]) {
        let (status, envelope) = self.delete().await;
        assert_eq!(status, 200, "{case}: {envelope}");
        assert_eq!(envelope["deleted_objects"], self.job.len() as u64, "{case}");
        for fault in faults {
            assert!(fault.fired() > 0, "{case}: the fault never fired");
        }
        let now = self.world.jobs.keys().await;
        settle("faults", case, 1, &self.job, &self.neighbour, &now, "completed, 200");
    }

    /// The deletion is refused (500, res.5001) counting exactly the job's keys under `failing`,
    /// with every one of `words` in the message; the record and the neighbour stay. Once the
    /// faults are lifted, the same request answers 200: nothing of the job left, nothing else gone.
    async fn assert_refused_then_finished(&self, failing: &str, words: &[&str], case: &str) {
        let failed = self.job.iter().filter(|k| k.contains(failing)).count();
        let message = refused(&self.delete().await, 500, "res.5001");
        assert!(message.contains(&format!("Failed to delete {failed} object(s)")), "{message}");
        for word in words {
            assert!(message.contains(word), "{case}: {word:?} missing from {message}");
        }
        let record = "p1/jobs/job/job.json";
        assert!(self.world.jobs.get(record).await.is_some(), "{case}: the record must stay");
        assert!(self.world.jobs.keys().await.is_superset(&self.neighbour), "{case}");

        self.inject(Vec::new());
        let (status, envelope) = self.delete().await;
        assert_eq!(status, 200, "{case}: {envelope}");
        let now = self.world.jobs.keys().await;
        let outcome = "5001 counting each failed object, then 200";
        settle("faults", case, 2, &self.job, &self.neighbour, &now, outcome);
    }
}

fn fault(matches: Match, action: Action) -> Fault {
    Fault::new(matches, action)
}

fn reply(status: u16, code: &str) -> Action {
    Action::Reply { status, code: code.into() }
}

#[tokio::test]
async fn slow_down_replies_are_retried_until_the_job_is_gone() {
    let f = faulty("slowdown", 3_000, &[]).await;
    let faults = vec![fault(Match::DeleteObjects, reply(503, "SlowDown")).every(2).times(6)];
    f.inject(faults.clone());
    f.assert_survives("503 SlowDown on every other DeleteObjects", &faults).await;
}

#[tokio::test]
async fn errors_inside_a_200_are_not_taken_for_success() {
    for code in ["SlowDown", "InternalError"] {
        let f = faulty(&format!("in200{code}"), 2_000, &[]).await;
        let faults = vec![
            fault(Match::DeleteObjects, Action::ErrorIn200 { code: code.into() }).every(2).times(4),
        ];
        f.inject(faults.clone());
        f.assert_survives(&format!("200 with an <Error> {code} body"), &faults).await;
    }
}

#[tokio::test]
async fn keys_failing_for_a_passing_reason_are_retried() {
    let f = faulty("keyerrors", 2_000, &[]).await;
    let per_key =
        Action::KeyErrors { key_contains: "part-00003/".into(), code: "InternalError".into() };
    let faults = vec![fault(Match::DeleteObjects, per_key).times(2)];
    f.inject(faults.clone());
    f.assert_survives("per-key InternalError in a good reply", &faults).await;
}

#[tokio::test]
async fn dropped_connections_and_stalls_are_survived() {
    let f = faulty("resets", 2_000, &[("S3_ATTEMPT_TIMEOUT_MS", "1000")]).await;
    let faults = vec![
        fault(Match::Any, Action::Reset).every(4).times(6),
        fault(Match::Any, Action::Stall(Duration::from_secs(3))).every(5).times(3),
    ];
    f.inject(faults.clone());
    f.assert_survives("connections reset, replies slower than the timeout", &faults).await;
}

#[tokio::test]
async fn full_list_pages_are_read_a_quarter_of_the_list_slots_at_a_time() {
    // 8 folders of 250 keys: the root's short probe, then full pages: the probe of `output/`, and
    // one for each folder. With 8 list slots, 2 full pages at once.
    let f = faulty("full-pages", 2_000, &[("LIST_CONCURRENCY", "8")]).await;
    testkit::let_records_age().await;
    // The first rule that matches acts: the root's short page is let through apart.
    let short_page = fault(Match::Contains("max-keys=100".into()), Action::Forward);
    let full_pages = fault(Match::ListObjects, Action::Stall(Duration::from_millis(150)));
    f.inject(vec![short_page.clone(), full_pages.clone()]);
    f.assert_survives("full pages held for 150 ms each", std::slice::from_ref(&full_pages)).await;
    assert_eq!((short_page.fired(), full_pages.fired()), (1, 9), "the root's, then full pages");
    assert_eq!(full_pages.peak_at_once(), 2, "8 folders, but 2 full pages side by side");
}

#[tokio::test]
async fn the_bucket_versioning_is_asked_beside_the_record() {
    // A fresh function knows nothing of the bucket: its first two requests are the job's record
    // and the bucket's versioning, each held long enough to overlap if they go side by side.
    let f = faulty("versioning-beside-record", 200, &[]).await;
    let first_two = fault(Match::Any, Action::Stall(Duration::from_millis(300))).times(2);
    f.inject(vec![first_two.clone()]);
    let case = "the record and the versioning reads held 300 ms each";
    f.assert_survives(case, std::slice::from_ref(&first_two)).await;
    assert_eq!(first_two.peak_at_once(), 2, "the record and the versioning, side by side");
}

#[tokio::test]
async fn a_flat_folder_is_cut_into_ranges_each_listed_in_one_request() {
    // 5,000 keys in one folder, `part-000000` to `part-004999`. Its probe reads a page, its next
    // page a second, and the rest is cut a little under a page apart, in a wave of 3 ranges and
    // the one past them: each range's first page reaches past its end, and so lists it whole.
    let f = faulty_in("ranges", 5_000, 0, &[("LIST_CONCURRENCY", "8")]).await;
    testkit::let_records_age().await;
    // The first rule that matches acts: the root's short page is counted apart from the rest.
    let short_page = fault(Match::Contains("max-keys=100".into()), Action::Forward);
    let full_pages = fault(Match::ListObjects, Action::Forward);
    f.inject(vec![short_page.clone(), full_pages.clone()]);
    f.assert_survives("a flat folder cut into ranges", &[short_page.clone(), full_pages.clone()])
        .await;
    // The probe of `output/`, its next page, then one page for each of the 4 ranges: the least,
    // 5 pages for 5,000 keys, and one more.
    assert_eq!(full_pages.fired(), 6, "full pages");
    assert_eq!(short_page.fired(), 1, "the root's short page");
}

#[tokio::test]
async fn sustained_throttling_slows_the_engine_instead_of_failing_it() {
    // Forty SlowDowns in a row: eight times the SDK's attempts for one request.
    let f = faulty("sustained", 4_000, &[]).await;
    let faults = vec![fault(Match::DeleteObjects, reply(503, "SlowDown")).times(40)];
    f.inject(faults.clone());
    f.assert_survives("40 SlowDowns in a row", &faults).await;
}

#[tokio::test]
async fn keys_refused_for_good_are_reported_exactly_and_a_retry_finishes_the_job() {
    // GIVEN a store that refuses every key of one folder
    let f = faulty("denied", 800, &[]).await;
    let folder = "part-00002/";
    let denied = Action::KeyErrors { key_contains: folder.into(), code: "AccessDenied".into() };
    f.inject(vec![fault(Match::DeleteObjects, denied)]);

    // WHEN the job is deleted, THEN the answer counts them exactly and names the first and its
    // code; AND once the fault is lifted, the same request finishes the job
    let case = "AccessDenied on 100 keys, then lifted";
    f.assert_refused_then_finished(folder, &["AccessDenied", folder], case).await;
}

#[tokio::test]
async fn errors_that_name_no_key_are_not_taken_for_success() {
    // GIVEN a store whose replies carry an error without a key for each key of one folder
    let f = faulty("unnamed", 800, &[]).await;
    let folder = "part-00002/";
    let unnamed =
        Action::UnnamedKeyErrors { key_contains: folder.into(), code: "AccessDenied".into() };
    f.inject(vec![fault(Match::DeleteObjects, unnamed)]);

    // WHEN the job is deleted, THEN each such error counts as one object not deleted; AND once
    // the fault is lifted, the same request finishes the job
    let case = "errors naming no key on 100 keys, then lifted";
    f.assert_refused_then_finished(folder, &["AccessDenied", "not named"], case).await;
}

#[tokio::test]
async fn a_store_that_is_down_is_a_5003_within_the_budget_and_nothing_is_claimed() {
    let f = faulty("down", 200, &[("HTTP_BUDGET_MS", "3000"), ("S3_MAX_ATTEMPTS", "3")]).await;
    f.inject(vec![fault(Match::Any, reply(503, "ServiceUnavailable"))]);
    let started = Instant::now();
    let answer = f.delete().await;
    refused(&answer, 503, "res.5003");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // Nothing was reported deleted, and nothing was.
    let now = f.world.jobs.keys().await;
    let all: BTreeSet<String> = f.job.union(&f.neighbour).cloned().collect();
    assert_eq!(now, all);
    testkit::record(
        "faults",
        "store down (every request 503)",
        1,
        0,
        0,
        "5003 within the budget, nothing deleted",
    );
}

#[tokio::test]
async fn a_deletion_killed_at_any_moment_is_finished_by_a_retry() {
    let world = World::new("killed", "").await;
    let mut runs = 0;
    for (round, kill_after_ms) in [5u64, 40, 120, 300, 700].into_iter().enumerate() {
        let job = format!("job{round}");
        let doomed = world.jobs.seed_job("", &JobSpec::new(P1, &job).objects(3_000, 8)).await;
        let survivors = world.jobs.seed_job("", &JobSpec::new(P1, &format!("{job}0"))).await;
        let event = http_api_event(P1, P1, &body(&job, "etl", None));

        // WHEN a deletion is ended part way, as a process killed mid-request would be
        let app = world.app.clone();
        let killed = event.clone();
        let task = tokio::spawn(async move { invoke(&app, killed).await });
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        task.abort();
        let _ = task.await;

        // THEN the same request, retried, finishes it
        let (status, envelope) = invoke(&world.app, event).await;
        assert!(matches!(status, 200 | 404), "{status}: {envelope}");
        let now = world.jobs.keys_under(&format!("p1/jobs/{job}")).await;
        let (left, wrongly) = testkit::tally(&doomed, &survivors, &now);
        assert_eq!((left, wrongly), (0, 0), "killed after {kill_after_ms} ms");
        runs += 1;
    }
    testkit::record(
        "crash",
        "deletion killed at 5, 40, 120, 300, 700 ms, then retried",
        runs,
        0,
        0,
        "retry 200 or 404",
    );
}

#[tokio::test]
async fn two_deletions_of_one_job_at_once_both_end_cleanly() {
    let world = World::new("twice", "").await;
    let doomed = world.jobs.seed_job("", &JobSpec::new(P1, "job").objects(4_000, 8)).await;
    let survivors = world.jobs.seed_job("", &JobSpec::new(P1, "job0")).await;
    let event = http_api_event(P1, P1, &body("job", "etl", None));
    let (a, b) = tokio::join!(invoke(&world.app, event.clone()), invoke(&world.app, event));
    for (status, envelope) in [&a, &b] {
        assert!(matches!(status, 200 | 404), "{status}: {envelope}");
    }
    assert!(a.0 == 200 || b.0 == 200, "one of them finishes the job");
    let now = world.jobs.keys().await;
    settle(
        "crash",
        "two deletions of one job at once",
        2,
        &doomed,
        &survivors,
        &now,
        "200 and 200 or 404",
    );
}

#[tokio::test]
async fn keys_that_xml_makes_hard_are_all_deleted_and_none_outside() {
    // GIVEN keys with spaces, unicode, '%', '+', '=', '&', control characters (which cannot
    // travel in a DeleteObjects body) and the longest key Garage's lmdb takes
    let world = World::new("oddkeys", "").await;
    let odd = [
        "a b",
        "ünïcødé/ファイル",
        "100%",
        "a+b",
        "date=2024-01-01/hour=03/f",
        "x&y",
        "tab\there",
        "line\nfeed",
        "cr\rhere",
        "bell\u{7}",
        "del\u{7f}",
        "nul-free\u{1}start",
        "trailing space ",
        "'quote\"",
        "<tag>&amp;",
    ];
    let long = "l".repeat(400);
    let mut relative: Vec<String> = odd.iter().map(|s| s.to_string()).collect();
    relative.push(long);
    world.jobs.seed_job("", &JobSpec::new(P1, "odd").objects(0, 0)).await;
    let doomed: BTreeSet<String> = relative.iter().map(|k| format!("p1/jobs/odd/{k}")).collect();
    world.jobs.put_all(doomed.iter().cloned()).await;
    // The same names one character outside the job, and under a job whose id extends it.
    let survivors: BTreeSet<String> = relative
        .iter()
        .flat_map(|k| [format!("p1/jobs/odd0/{k}"), format!("p1/jobs/od/{k}")])
        .collect();
    world.jobs.put_all(survivors.iter().cloned()).await;

    let (status, envelope) =
        invoke(&world.app, http_api_event(P1, P1, &body("odd", "etl", None))).await;
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(envelope["deleted_objects"], (doomed.len() + 1) as u64);
    let now = world.jobs.keys().await;
    settle(
        "input",
        "keys with spaces, unicode, %, +, =, &, control characters, 400 bytes",
        1,
        &doomed,
        &survivors,
        &now,
        "all deleted, 200",
    );
    let _ = Bucket::named;
}

#[tokio::test]
async fn deletions_are_paced_to_the_rate_the_store_admits() {
    let _heavy = testkit::heavy().await;
    // GIVEN a store 20 ms away that admits 1,000 keys a second (S3's write limit, as s3-proxy
    // models it: a bucket of one second's worth), and 16 requests in flight at most
    let f = faulty_in("writelimit", 4_000, 8, &[("DELETE_CONCURRENCY", "16")]).await;
    f.proxy.set(Settings { delay: Duration::from_millis(20), faults: Vec::new() });
    f.proxy.set_write_limit(Some(1_000));

    // WHEN the job is deleted
    let (status, envelope) = f.delete().await;

    // THEN everything goes, and the store refused few requests: at most the first round's, which
    // went out before it first said SlowDown, and a couple more as the pace probed its limit
    assert_eq!(status, 200, "{envelope}");
    let counts = f.proxy.counts();
    assert!(counts.throttled() > 0, "the limit never bit: {counts:?}");
    assert!(counts.throttled() <= 16 + 2, "{counts:?}");
    let now = f.world.jobs.keys().await;
    let outcome =
        format!("200; {} of {} DeleteObjects refused", counts.throttled(), counts.delete_objects);
    settle(
        "faults",
        "S3's write limit (1,000 keys a second)",
        1,
        &f.job,
        &f.neighbour,
        &now,
        &outcome,
    );
}

/// Seeds job `j` of p1 with `relative` keys beside victims outside it, deletes it through the
/// API and returns (status, envelope, keys left in the job, victims gone).
async fn delete_job_with_keys(
    world: &World,
    relative: &[String],
) -> (u16, Value, Vec<String>, Vec<String>) {
    let victims: BTreeSet<String> =
        ["p1/jobs/k/job.json", "p1/jobs/k/x", "p1/jobs/j0/x", "p1/x"].map(String::from).into();
    world.jobs.put_all(victims.iter().cloned()).await;
    world.jobs.seed_job("", &JobSpec::new("p1", "k").objects(0, 0)).await;
    world.jobs.seed_job("", &JobSpec::new("p1", "j").objects(0, 0)).await;
    let doomed: BTreeSet<String> = relative.iter().map(|k| format!("p1/jobs/j/{k}")).collect();
    world.jobs.put_all(doomed.iter().cloned()).await;
    let stored = world.jobs.keys_under("p1/jobs/j/").await;
    let expected: BTreeSet<String> =
        doomed.iter().cloned().chain(["p1/jobs/j/job.json".to_string()]).collect();
    assert_eq!(stored, expected, "the store keeps the keys as written");
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("j", "etl", None))).await;
    let now = world.jobs.keys().await;
    let left = now.iter().filter(|k| k.starts_with("p1/jobs/j/")).cloned().collect();
    let gone = victims.iter().filter(|k| !now.contains(*k)).cloned().collect();
    (status, envelope, left, gone)
}

/// Keys inside the job whose names a store or a path normaliser could take for another: leading
/// spaces, dot segments that would resolve outside the job, and, with a control character, the
/// same sent alone in the URL of a DeleteObject.
#[tokio::test]
async fn dot_segments_and_spaces_in_keys_stay_inside_the_job() {
    // GIVEN such keys in job j, and victims where the dot segments point
    let world = World::new("dots", "").await;
    let relative = [
        " leading",
        "  ",
        "",
        "/",
        "//x",
        "..",
        ".",
        "a/./b",
        "x/../../k/x",
        "c\u{1}/../../k/job.json",
        "d\u{1}/../../../j0/x",
        "e\u{1}/../../../../p1/x",
    ]
    .map(String::from);

    // WHEN the job is deleted
    let (status, envelope, left, gone) = delete_job_with_keys(&world, &relative).await;

    // THEN every key of the job is gone, and nothing outside it
    assert!(gone.is_empty(), "deleted outside the job: {gone:?}");
    assert!(left.is_empty(), "left in the job: {left:?} ({status} {envelope})");
    assert_eq!(status, 200, "{envelope}");
}

/// A key holding U+FFFE or U+FFFF (valid UTF-8, allowed in S3 keys, not a control character,
/// but not a character XML 1.0 may carry) in a DeleteObjects body would make the store refuse
/// the whole body (MalformedXML), for ever: it goes alone, in a DeleteObject's URL.
#[tokio::test]
async fn a_key_xml_cannot_carry_does_not_make_the_job_undeletable() {
    // GIVEN a job of 300 keys, one of them holding U+FFFF
    let world = World::new("xmlchar", "").await;
    let mut relative: Vec<String> = (0..300).map(|i| format!("out/part-{i:05}")).collect();
    relative.push("out/a\u{ffff}b".into());

    // WHEN the job is deleted
    let (status, envelope, left, gone) = delete_job_with_keys(&world, &relative).await;

    // THEN it is deleted whole, as a key with a control character is (one DeleteObject)
    assert!(gone.is_empty(), "deleted outside the job: {gone:?}");
    assert!(
        left.is_empty(),
        "{} keys left in the job, e.g. {:?}: {status} {envelope}",
        left.len(),
        left.iter().take(3).collect::<Vec<_>>()
    );
    assert_eq!(status, 200, "{envelope}");
}
