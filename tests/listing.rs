//! What a deletion costs in LIST requests, which S3 bills (DeleteObjects is free): for the
//! benchmark's job shapes, against Garage through `s3-proxy`, which counts them. The least a
//! listing can take is a full page for every 1,000 keys of each folder, plus the delimiter pages
//! that find the folders (the job's root, and `output/` when it holds sub-folders); parallel
//! listing may cost a little more, never more than a fifth.

use s3_proxy::Settings;
use testkit::fixture::JobSpec;
use testkit::{World, body, http_api_event, invoke};

/// The fewest LIST requests that list `objects` objects spread over `folders` sub-folders of
/// `output/` (0: flat in it), beside the record at the job's root.
fn least(objects: u64, folders: u64) -> u64 {
    let pages = |keys: u64| keys.div_ceil(1_000).max(1);
    match folders {
        0 => 1 + pages(objects),
        f => 1 + 1 + (0..f).map(|i| pages(objects / f + u64::from(i < objects % f))).sum::<u64>(),
    }
}

#[tokio::test]
async fn a_deletion_lists_within_a_fifth_of_the_least_it_can() {
    let _heavy = testkit::heavy().await;
    let mut counts = Vec::new();
    for (objects, folders) in [(20_000, 16), (20_000, 0), (1_000, 16), (100, 0), (5_000, 1)] {
        // GIVEN a job of that shape, and a neighbour
        let (world, proxy) = World::behind_proxy("lists", Settings::default(), &[]).await;
        let spec = JobSpec::new("p1", "j").objects(objects as usize, folders as usize);
        world.jobs.seed_job("", &spec).await;
        let neighbour = world.jobs.seed_job("", &JobSpec::new("p1", "j0")).await;

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
