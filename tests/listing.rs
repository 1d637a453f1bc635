//! Listing, against Garage through `s3-proxy`: every key of a job's folders is listed and
//! deleted, and none outside them, whatever the keys are named (random sets named as
//! adversarially as the key ranges' cut points can meet, and keys at the cut points themselves);
//! and what a deletion costs in LIST requests, which S3 bills (DeleteObjects is free).

use s3_proxy::{Action, Fault, Match, Settings};
use std::collections::BTreeSet;
use std::time::Duration;
use testkit::fixture::JobSpec;
use testkit::{Rng, World, body, http_api_event, invoke};

const P1: &str = "p1";

/// Suffixes that sort just around a key: below '/', the delimiter itself, above the digits,
/// past ASCII, and one more digit (the key becomes a prefix of another).
const AROUND: [&str; 12] =
    ["", " ", "!", "-", ".", "/", "/x", "0", "9", "~", "\u{e9}", "\u{1F600}"];

/// A key set of about `size` keys relative to a folder, named as adversarially as the lister's
/// cut points can meet: counters of one family (zero-padded decimal, unpadded decimal, hex,
/// base 36 and 62, printable punctuation, non-ASCII), with gaps, and for some keys their
/// neighbours in the store's order (a prefix of them, one character more, a sub-folder).
fn adversarial_keys(rng: &mut Rng, size: usize) -> BTreeSet<String> {
    const B36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let family = rng.below(7);
    let width = 4 + rng.below(5) as usize;
    let stem = rng.pick(&["data-", "part-", "", "x", "a b+", "%7E", "\u{e9}t\u{e9}-"]).to_string();
    let step = 1 + rng.below(3);
    let start = rng.below(50_000);
    // How often a key gets a neighbour in the store's order: rarely, or densely enough that
    // most cut points have one.
    let around_chance = *rng.pick(&[8, 8, 40]);
    let radix = |mut v: u64, digits: &[u8], w: usize| -> String {
        let base = digits.len() as u64;
        let mut out = vec![digits[0]; w];
        for d in out.iter_mut().rev() {
            *d = digits[(v % base) as usize];
            v /= base;
        }
        String::from_utf8(out).unwrap()
    };
    let mut keys = BTreeSet::new();
    let mut i = 0u64;
    while keys.len() < size {
        let n = start + i * step;
        i += 1;
        if rng.chance(5) {
            continue; // a gap in the counter
        }
        let name = match family {
            0 => format!("{stem}{n:0width$}"),
            1 => format!("{stem}{n}"),
            2 => format!("{stem}{:016x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            3 => format!("{stem}{}", radix(n, B36, width)),
            4 => format!("{stem}{}", radix(n, B62, width)),
            5 => {
                // Printable ASCII but '/', as counters: the widest alphabet the cutter knows.
                let printable: Vec<u8> = (b' '..=b'~').filter(|b| *b != b'/').collect();
                format!("{stem}{}", radix(n, &printable, 3))
            }
            _ => format!("{}{n:05}", rng.pick(&["\u{e9}", "\u{65e5}\u{672c}", "z", "\u{7ff}"])),
        };
        if rng.chance(around_chance) {
            let around = rng.pick(&AROUND);
            keys.insert(format!("{name}{around}"));
            if rng.chance(30) {
                // The key cut short: a prefix of its neighbours.
                let mut short = name.clone();
                short.pop();
                if !short.is_empty() {
                    keys.insert(short);
                }
            }
        }
        keys.insert(name);
    }
    // A sub-folder among the probe's first page makes the lister list the folder in one chain;
    // so that key ranges are cut, most sets have their sub-folders only past the first pages.
    let clear_first = [0, 1_200, 1_200, 2_500][rng.below(4) as usize];
    let early: Vec<String> =
        keys.iter().take(clear_first).filter(|k| k.contains('/')).cloned().collect();
    for key in early {
        keys.remove(&key);
    }
    keys
}

/// Neighbours of job `j` of project p1 that its deletion must leave: ids extending it, keys
/// sorting just before and after its root, the same names in other jobs and projects.
fn neighbours(sample: &[&String]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = [
        "p1/jobs/j",
        "p1/jobs/j-x",
        "p1/jobs/j.json",
        "p1/jobs/j!",
        "p1/jobs/j0",
        "p1/jobs/j~",
        "p1/jobs/i/zzz",
        "p1/jobs/k/000",
        "p1/jobsx/j/a",
        "p10/jobs/j/a",
        "p1/jobs/j0/job.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for rel in sample {
        for root in ["p1/jobs/j0/", "p1/jobs/j-x/", "p1/jobs/J/", "p10/jobs/j/"] {
            out.insert(format!("{root}{rel}"));
        }
    }
    out
}

/// The fewest LIST requests that delete `objects` objects spread over `folders` sub-folders of
/// `output/` (0: flat in it), beside the record at the job's root: a full page for every 1,000
/// keys of each folder, the delimiter pages that find the folders (the job's root, and `output/`
/// when it holds sub-folders), and the listing of the job's uploads in progress. Listing side by
/// side may cost a little more, never more than a fifth.
fn least(objects: u64, folders: u64) -> u64 {
    let pages = |keys: u64| keys.div_ceil(1_000).max(1);
    let uploads = 1;
    uploads
        + match folders {
            0 => 1 + pages(objects),
            f => {
                1 + 1 + (0..f).map(|i| pages(objects / f + u64::from(i < objects % f))).sum::<u64>()
            }
        }
}

#[tokio::test]
async fn a_deletion_lists_within_a_fifth_of_the_least_it_can() {
    let _heavy = testkit::heavy().await;
    let mut counts = Vec::new();
    for (objects, folders) in [(20_000, 16), (20_000, 0), (1_000, 16), (100, 0), (5_000, 1)] {
        // GIVEN a job of that shape, finished a while ago, and a neighbour
        let (world, proxy) = World::behind_proxy("lists", Settings::default(), &[]).await;
        let spec = JobSpec::new("p1", "j").objects(objects as usize, folders as usize);
        world.jobs.seed_job("", &spec).await;
        let neighbour = world.jobs.seed_job("", &JobSpec::new("p1", "j0")).await;
        testkit::let_records_age().await;

        // WHEN it is deleted
        let before = proxy.counts().list_objects;
        let (status, envelope) =
            invoke(&world.app, http_api_event("p1", "p1", &body("j", "etl", None))).await;
        assert_eq!(status, 200, "{envelope}");
        let lists = proxy.counts().list_objects - before;

        // THEN it took no more than a fifth more LIST requests than the least, and only the job
        // went
        let least = least(objects, folders);
        counts.push(format!("{objects} objects in {folders} folders: {lists} LIST, least {least}"));
        assert_eq!(world.jobs.keys().await, neighbour);
        assert!(lists * 5 <= least * 6, "{counts:?}");
    }
    eprintln!("{counts:#?}");
}

#[tokio::test]
async fn lister_property_every_key_of_the_folder_goes_and_none_outside() {
    let _heavy = testkit::heavy().await;
    // A rule that only counts the listings of key ranges cut from another (`start-after`).
    let ranged = Fault::new(Match::Contains("start-after".into()), Action::Forward);
    let settings = Settings { faults: vec![ranged.clone()], ..Settings::default() };
    let (world, _proxy) = World::behind_proxy("lister", settings, &[]).await;
    let seed0: u64 =
        std::env::var("DEL_JOB_LISTER_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    let cases: u64 =
        std::env::var("DEL_JOB_LISTER_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    for case in 0..cases {
        let seed = seed0 * 1000 + case;
        let mut rng = Rng(seed);
        // GIVEN job j of p1 holding 1,000 to 8,000 adversarially named keys, flat at its root
        // or in a sub-folder, beside neighbours that share names and sort around its root
        let size = 1_000 + rng.below(7_001) as usize;
        let under = *rng.pick(&["", "out/", "output/part-0/"]);
        let relative = adversarial_keys(&mut rng, size);
        let job = format!("j{case}");
        let root = format!("p1/jobs/{job}/");
        world.jobs.clear().await;
        world.jobs.seed_job("", &JobSpec::new(P1, &job).objects(0, 0)).await;
        let doomed: BTreeSet<String> =
            relative.iter().map(|k| format!("{root}{under}{k}")).collect();
        let sample: Vec<&String> = relative.iter().step_by(97).collect();
        let survivors: BTreeSet<String> = neighbours(&sample)
            .into_iter()
            .map(|k| k.replacen("/jobs/j", &format!("/jobs/{job}"), 1))
            .collect();
        world.jobs.put_all(doomed.iter().cloned()).await;
        world.jobs.put_all(survivors.iter().cloned()).await;
        assert!(survivors.iter().all(|k| !k.starts_with(&root)));

        // WHEN it is deleted through the API
        let ranges_before = ranged.fired();
        let (status, envelope) =
            invoke(&world.app, http_api_event(P1, P1, &body(&job, "etl", None))).await;
        let ranges = ranged.fired() - ranges_before;

        // THEN every key of the folder is gone, the record last, and every neighbour stays
        let left = world.jobs.keys_under(&root).await;
        let now = world.jobs.keys().await;
        let missing: Vec<&String> = survivors.iter().filter(|k| !now.contains(*k)).collect();
        let family_hint: Vec<&String> = relative.iter().take(3).collect();
        assert!(
            left.is_empty(),
            "seed {seed}: {} keys left in the job (record {}): {:?}; family {family_hint:?}",
            left.len(),
            if left.contains(&format!("{root}job.json")) { "kept" } else { "GONE" },
            left.iter().take(10).collect::<Vec<_>>()
        );
        assert!(missing.is_empty(), "seed {seed}: neighbours deleted: {missing:?}");
        assert_eq!(status, 200, "seed {seed}: {envelope}");
        assert_eq!(envelope["deleted_objects"], (doomed.len() + 1) as u64, "seed {seed}");
        eprintln!(
            "seed {seed}: {} keys under {under:?} deleted, {ranges} ranges, e.g. {family_hint:?}",
            doomed.len()
        );
    }
}

#[tokio::test]
async fn keys_at_and_around_the_cut_points_are_all_deleted() {
    let _heavy = testkit::heavy().await;
    // GIVEN a flat job of a dense counter, whose first wave of cut points is known (the root's
    // probe reads 1,100 keys: points 949 apart after data-0001099), and at each point and its
    // neighbours, keys sorting just below, at, and just above it, sub-folders included
    let points = [2048u64, 2997, 3946, 4895];
    let watch: Vec<Fault> = points
        .iter()
        .map(|p| Fault::new(Match::Contains(format!("data-{p:07}")), Action::Forward))
        .collect();
    let settings = Settings { faults: watch.clone(), ..Settings::default() };
    let (world, _proxy) = World::behind_proxy("cuts", settings, &[]).await;
    world.jobs.seed_job("", &JobSpec::new(P1, "j").objects(0, 0)).await;
    let mut relative: BTreeSet<String> = (0..6_000).map(|i| format!("data-{i:07}")).collect();
    for p in points {
        for n in [p - 1, p, p + 1] {
            let name = format!("data-{n:07}");
            for around in AROUND {
                relative.insert(format!("{name}{around}"));
            }
            relative.insert(name[..name.len() - 1].to_string());
        }
    }
    let doomed: BTreeSet<String> = relative.iter().map(|k| format!("p1/jobs/j/{k}")).collect();
    world.jobs.put_all(doomed.iter().cloned()).await;
    let sample: Vec<&String> = relative.iter().step_by(50).collect();
    let survivors = neighbours(&sample);
    world.jobs.put_all(survivors.iter().cloned()).await;

    // WHEN it is deleted through the API
    let (status, envelope) =
        invoke(&world.app, http_api_event(P1, P1, &body("j", "etl", None))).await;

    // THEN ranges were cut at those keys, and every key went, and no neighbour
    let cut_at: Vec<u64> = watch.iter().map(Fault::fired).collect();
    let left = world.jobs.keys_under("p1/jobs/j/").await;
    let now = world.jobs.keys().await;
    let gone: Vec<&String> = survivors.iter().filter(|k| !now.contains(*k)).collect();
    assert!(gone.is_empty(), "neighbours deleted: {gone:?}");
    assert!(
        left.is_empty(),
        "left: {:?} (cuts seen {cut_at:?})",
        left.iter().take(10).collect::<Vec<_>>()
    );
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(envelope["deleted_objects"], (doomed.len() + 1) as u64);
    eprintln!("requests naming each cut point: {cut_at:?}");
}

#[tokio::test]
async fn the_data_is_listed_while_the_record_is_read_and_that_page_is_used_only_if_it_is_later() {
    let _heavy = testkit::heavy().await;
    // GIVEN a store that holds every read of job j's record for a while
    let record_read = Match::Request { method: "GET", contains: format!("/{P1}/jobs/j/job.json") };
    // (long enough for the checks below to be done well within it on a loaded machine)
    let hold = Fault::new(record_read, Action::Stall(Duration::from_secs(4)));
    // (the root's first page: the short delimiter page of the job's root)
    let first_pages = Fault::new(Match::Contains("max-keys=100".into()), Action::Forward);
    let faults = vec![hold.clone(), first_pages.clone()];
    let (world, proxy) =
        World::behind_proxy("ahead", Settings { faults, ..Settings::default() }, &[]).await;
    let listings = || proxy.counts().list_objects;
    let neighbour = world.jobs.seed_job("", &JobSpec::new(P1, "j0").objects(300, 3)).await;
    let root = format!("{P1}/jobs/j/");
    // Case 1: a job finished a while ago. The record is older than the page, which is used.
    world.jobs.seed_job("", &JobSpec::new(P1, "j").objects(300, 3)).await;
    testkit::let_records_age().await;
    let (pages, event) = (first_pages.fired(), http_api_event(P1, P1, &body("j", "etl", None)));
    let ((status, envelope), (_, listed, _)) =
        tokio::join!(invoke(&world.app, event), listed_while_held(&hold, listings, async || ()));
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(listed, 1, "list requests while the record was being read");
    assert_eq!(first_pages.fired() - pages, 1, "the root's first page, asked for once");
    assert_eq!(world.jobs.keys().await, neighbour);

    // Case 2: no such job. Its first page is asked for, and nothing is deleted.
    let event = http_api_event(P1, P1, &body("j", "etl", None));
    let ((status, envelope), (_, listed, _)) =
        tokio::join!(invoke(&world.app, event), listed_while_held(&hold, listings, async || ()));
    assert_eq!(status, 404, "{envelope}");
    assert_eq!(listed, 1);
    assert_eq!(world.jobs.keys().await, neighbour);

    // Case 3: a job that finishes as the request comes: after its first page was listed, it
    // writes more at its root (a key, a folder) and then its record says succeeded. The page is
    // older than the record: the root is listed again, and the late keys go too.
    let finish = async || {
        let keys: BTreeSet<String> =
            ["late.json", "logs/x.log", "a-first.txt"].map(|k| format!("{root}{k}")).into();
        world.jobs.put_all(keys.iter().cloned()).await;
        world.jobs.seed_job("", &JobSpec::new(P1, "j").objects(0, 0)).await;
        keys
    };
    world.jobs.seed_job("", &JobSpec::new(P1, "j").status("running").objects(300, 3)).await;
    testkit::let_records_age().await;
    let event = http_api_event(P1, P1, &body("j", "etl", None));
    let ((status, envelope), (before_the_change, _, written)) =
        tokio::join!(invoke(&world.app, event), listed_while_held(&hold, listings, finish));
    assert_eq!(before_the_change, 1, "the first page was listed before the job wrote more");
    assert_eq!(written.len(), 3);
    assert_eq!(status, 200, "{envelope}");
    assert_eq!(world.jobs.keys_under(&root).await, BTreeSet::new(), "every late key deleted");
    assert_eq!(world.jobs.keys().await, neighbour);

    // Case 4: a job finished a while ago whose first page is refused: it is asked again once
    // the job is being deleted, and the job goes whole.
    let refused = Fault::new(
        Match::Contains("max-keys=100".into()),
        Action::Reply { status: 403, code: "AccessDenied".into() },
    )
    .times(1);
    let faults = vec![hold.clone(), refused.clone(), first_pages.clone()];
    proxy.set(Settings { faults, ..Settings::default() });
    world.jobs.seed_job("", &JobSpec::new(P1, "j").objects(300, 3)).await;
    testkit::let_records_age().await;
    let (pages, event) = (first_pages.fired(), http_api_event(P1, P1, &body("j", "etl", None)));
    let ((status, envelope), _) =
        tokio::join!(invoke(&world.app, event), listed_while_held(&hold, listings, async || ()));
    assert_eq!(status, 200, "{envelope}");
    assert_eq!((refused.fired(), first_pages.fired() - pages), (1, 1));
    assert_eq!(world.jobs.keys_under(&root).await, BTreeSet::new());
    assert_eq!(world.jobs.keys().await, neighbour);
}

/// Runs `meanwhile` once `hold` has held a request for 300 ms; returns how many list requests
/// (`listings`, a count) went out from the call to then and to a second into the hold, and what
/// `meanwhile` returned.
async fn listed_while_held<T>(
    hold: &Fault,
    listings: impl Fn() -> u64,
    meanwhile: impl AsyncFnOnce() -> T,
) -> (u64, u64, T) {
    let (held, listed) = (hold.fired(), listings());
    while hold.fired() == held {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = listings() - listed;
    let returned = meanwhile().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    (before, listings() - listed, returned)
}
