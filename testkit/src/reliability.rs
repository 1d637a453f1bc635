//! What a test proves, counted for RELIABILITY.md: objects left that had to go, objects gone
//! that had to stay, appended as JSON lines to `$DEL_JOB_RELIABILITY_LOG` when the run collects
//! them (scripts/test.sh does).

use serde_json::json;
use std::collections::BTreeSet;

/// Objects that had to go and are still there, and objects that had to stay and are gone.
pub fn tally(
    doomed: &BTreeSet<String>,
    survivors: &BTreeSet<String>,
    now: &BTreeSet<String>,
) -> (usize, usize) {
    let left = doomed.intersection(now).count();
    let wrongly_deleted = survivors.difference(now).count();
    (left, wrongly_deleted)
}

/// One row of RELIABILITY.md, appended as a JSON line to `$DEL_JOB_RELIABILITY_LOG` when the
/// test run collects them (scripts/test.sh does).
pub fn record(
    area: &str,
    case: &str,
    runs: u64,
    left: usize,
    wrongly_deleted: usize,
    outcome: &str,
) {
    let Ok(path) = std::env::var("DEL_JOB_RELIABILITY_LOG") else { return };
    let row = json!({
        "area": area, "case": case, "runs": runs,
        "objects_left": left, "wrongly_deleted": wrongly_deleted, "outcome": outcome,
    });
    use std::io::Write;
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).open(path).expect("reliability log");
    writeln!(file, "{row}").expect("write reliability log");
}

/// Asserts nothing doomed is left and no survivor is gone, and records the row.
pub fn settle(
    area: &str,
    case: &str,
    runs: u64,
    doomed: &BTreeSet<String>,
    survivors: &BTreeSet<String>,
    now: &BTreeSet<String>,
    outcome: &str,
) {
    let (left, wrongly_deleted) = tally(doomed, survivors, now);
    record(area, case, runs, left, wrongly_deleted, outcome);
    assert_eq!(left, 0, "{case}: objects left that had to go");
    assert_eq!(wrongly_deleted, 0, "{case}: objects gone that had to stay");
}
