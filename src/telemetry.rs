//! What the function tells its operators. For every deletion request (an HTTP request, an SQS
//! message, an event) one summary line that is also a CloudWatch Embedded Metric Format document,
//! so that CloudWatch turns its counts into metrics; and while a deletion runs, a progress line
//! every `PROGRESS_INTERVAL_MS`. Both are JSON lines on stdout, beside the runtime's own.
//!
//! A request's [`Meter`] is the one place its counts are kept: the engine adds to it as replies
//! come back, progress lines read it live, the summary reads it at the end.
//!
//! Every line, the runtime's own included ([`init_logs`]), has one schema: its fields at the top
//! level (`message`, `level`, `timestamp`, `project_id`, `job_id`…), so that one query finds all
//! the lines of a job.

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "DelJob";
/// The metrics of a summary. With its two dimension sets (the function; the function and one of
/// three entries), each is four custom metrics: 36 in all.
pub const METRICS: usize = 9;

/// How a request reached the function: the `Entry` dimension of every metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Http,
    Sqs,
    EventBridge,
}

impl Entry {
    pub fn as_str(self) -> &'static str {
        match self {
            Entry::Http => "http",
            Entry::Sqs => "sqs",
            Entry::EventBridge => "eventbridge",
        }
    }
}

/// The runtime's log lines in the schema of the function's own: JSON (when Lambda's log format
/// is), the event's fields at the top level rather than under `fields`, an RFC 3339 `timestamp`;
/// the level from Lambda's log-level controls (`AWS_LAMBDA_LOG_LEVEL`), `RUST_LOG`, or INFO.
pub fn init_logs() {
    use lambda_runtime::tracing::subscriber::EnvFilter;
    use lambda_runtime::tracing::subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let level = level.ok().and_then(|l| l.parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder().with_default_directive(level.into()).from_env_lossy();
    let logs =
        lambda_runtime::tracing::subscriber::fmt().with_target(false).with_env_filter(filter);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        logs.json().flatten_event(true).with_span_list(false).init();
    } else {
        logs.init();
    }
}

/// Now, as RFC 3339, for the `timestamp` of every line.
fn timestamp() -> String {
    DateTime::from(SystemTime::now()).fmt(DateTimeFormat::DateTime).unwrap_or_default()
}

/// Whether no request of this process has been metered yet: its first is a cold start's.
static COLD: AtomicBool = AtomicBool::new(true);

/// A deletion request's counts, kept as it goes.
#[derive(Debug)]
pub struct Meter {
    entry: Entry,
    request_id: String,
    started: Instant,
    /// The process's first request, the one its cold start served.
    cold: bool,
    /// The last progress line's moment and count, for the rate since it.
    last_progress: Mutex<(Instant, u64)>,
    deleted: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    throttled: AtomicU64,
    listed: AtomicU64,
    in_flight: AtomicU64,
    hand_ons: AtomicU64,
}

/// A [`Meter`]'s counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Objects deleted by this invocation (the record too, once it goes).
    pub deleted: u64,
    pub bytes: u64,
    /// Objects the store refused to delete.
    pub failed: u64,
    /// Requests the store throttled (SlowDown and its kind).
    pub throttled: u64,
    /// Objects listed for deletion.
    pub listed: u64,
    /// DeleteObjects requests in flight now.
    pub in_flight: u64,
    /// Times the deletion was handed on to another invocation.
    pub hand_ons: u64,
}

impl Meter {
    pub fn new(entry: Entry, request_id: &str) -> Meter {
        Meter::started(entry, request_id, COLD.swap(false, Ordering::Relaxed))
    }

    /// A meter for work whose counts reach the summary another way (the versions of a record,
    /// which the plan counts as one object).
    pub fn unreported() -> Meter {
        Meter::started(Entry::Http, "", false)
    }

    fn started(entry: Entry, request_id: &str, cold: bool) -> Meter {
        let started = Instant::now();
        Meter {
            entry,
            request_id: request_id.to_owned(),
            started,
            cold,
            last_progress: Mutex::new((started, 0)),
            deleted: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            listed: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            hand_ons: AtomicU64::new(0),
        }
    }

    pub fn deleted(&self, objects: u64, bytes: u64) {
        self.deleted.fetch_add(objects, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn failed(&self, objects: u64) {
        self.failed.fetch_add(objects, Ordering::Relaxed);
    }

    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn listed(&self, objects: u64) {
        self.listed.fetch_add(objects, Ordering::Relaxed);
    }

    pub fn handed_on(&self) {
        self.hand_ons.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    pub fn counts(&self) -> Counts {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            deleted: get(&self.deleted),
            bytes: get(&self.bytes),
            failed: get(&self.failed),
            throttled: get(&self.throttled),
            listed: get(&self.listed),
            in_flight: get(&self.in_flight),
            hand_ons: get(&self.hand_ons),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Objects deleted a second so far.
    fn rate(&self, deleted: u64) -> f64 {
        let seconds = self.elapsed().as_secs_f64();
        if seconds > 0.0 { (deleted as f64 / seconds).round() } else { 0.0 }
    }

    /// A progress line for the deletion of `job_id` in `project_id`. Its rate is the one since
    /// the line before, so that a stall shows at once.
    pub fn progress(&self, project_id: &str, job_id: &str) -> Value {
        let counts = self.counts();
        let settled = counts.deleted + counts.failed;
        let now = Instant::now();
        let (since, before) = std::mem::replace(
            &mut *self.last_progress.lock().unwrap_or_else(|e| e.into_inner()),
            (now, counts.deleted),
        );
        let seconds = (now - since).as_secs_f64();
        let rate =
            if seconds > 0.0 { ((counts.deleted - before) as f64 / seconds).round() } else { 0.0 };
        json!({
            "message": "deletion progress",
            "level": "INFO",
            "timestamp": timestamp(),
            "request_id": self.request_id,
            "Entry": self.entry.as_str(),
            "project_id": project_id,
            "job_id": job_id,
            "deleted": counts.deleted,
            "bytes": counts.bytes,
            "failed": counts.failed,
            "objects_per_second": rate,
            "listed_not_deleted": counts.listed.saturating_sub(settled),
            "in_flight": counts.in_flight,
            "throttled": counts.throttled,
            "elapsed_ms": self.elapsed().as_millis() as u64,
        })
    }

    /// The summary of the request, with what came of it, as an EMF document of
    /// `function_name`'s metrics.
    pub fn summary(&self, function_name: &str, end: &End) -> Value {
        let counts = self.counts();
        let milliseconds = self.elapsed().as_millis() as u64;
        let metrics: [(&str, &str, Value); METRICS] = [
            ("ObjectsDeleted", "Count", counts.deleted.into()),
            ("BytesDeleted", "Bytes", counts.bytes.into()),
            ("ObjectsFailed", "Count", counts.failed.into()),
            ("Throttled", "Count", counts.throttled.into()),
            ("HandOns", "Count", counts.hand_ons.into()),
            ("Duration", "Milliseconds", milliseconds.into()),
            ("Refused", "Count", u64::from(end.is_refusal()).into()),
            ("Failed", "Count", u64::from(end.is_failure()).into()),
            ("ColdStart", "Count", u64::from(self.cold).into()),
        ];
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let definitions: Vec<Value> =
            metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect();
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": since_epoch.as_millis() as u64,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName", "Entry"], ["FunctionName"]],
                    "Metrics": definitions,
                }],
            }),
        );
        line.insert("message".into(), "deletion summary".into());
        line.insert("level".into(), end.level().into());
        line.insert("timestamp".into(), timestamp().into());
        line.insert("FunctionName".into(), function_name.into());
        line.insert("Entry".into(), self.entry.as_str().into());
        line.insert("request_id".into(), self.request_id.as_str().into());
        for (name, value) in [
            ("message_id", end.message_id.as_deref()),
            ("project_id", end.project_id.as_deref()),
            ("job_id", end.job_id.as_deref()),
            ("caller_type", end.caller_type),
            ("caller", end.caller.as_deref()),
            ("error_code", end.error_code),
            ("error", end.error.as_deref()),
        ] {
            if let Some(value) = value {
                line.insert(name.into(), value.into());
            }
        }
        line.insert("outcome".into(), end.outcome.as_str().into());
        if let Some(status) = end.status {
            line.insert("status".into(), status.into());
        }
        for (name, _, value) in metrics {
            line.insert(name.into(), value);
        }
        // A field, not a metric: an average over requests of 1 and of a million objects says
        // nothing; the sums of ObjectsDeleted and Duration do.
        line.insert("objects_per_second".into(), self.rate(counts.deleted).into());
        Value::Object(line)
    }
}

/// Counts one request in flight while it lives.
pub struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a deletion request ended: the summary's `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Deleted,
    InProgress,
    NotFound,
    /// A hand-on whose job an earlier invocation finished.
    JobGone,
    /// A hand-on of a chain a later hand-on superseded.
    Superseded,
    /// The caller's or sender's mistake, or a sender not trusted: nothing deleted.
    Refused,
    /// The store's or the function's failure.
    Failed,
    /// An SQS message the invocation had no time left for.
    NotTried,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deleted => "deleted",
            Outcome::InProgress => "in_progress",
            Outcome::NotFound => "not_found",
            Outcome::JobGone => "job_gone",
            Outcome::Superseded => "superseded",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
            Outcome::NotTried => "not_tried",
        }
    }
}

/// What came of a deletion request, for its summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    pub outcome: Outcome,
    /// The HTTP status of the answer, or the status of the error an event failed with.
    pub status: Option<u16>,
    pub error_code: Option<&'static str>,
    pub error: Option<String>,
    pub project_id: Option<String>,
    pub job_id: Option<String>,
    pub message_id: Option<String>,
    /// Who asked, for the audit trail: how (`jwt`, `iam`, `sqs`, `eventbridge`, `hand_on`…)…
    pub caller_type: Option<&'static str>,
    /// …and as whom (a token's subject and project, an ARN, a queue and its sender, an event's
    /// source and account).
    pub caller: Option<String>,
}

impl End {
    pub fn new(outcome: Outcome) -> End {
        End {
            outcome,
            status: None,
            error_code: None,
            error: None,
            project_id: None,
            job_id: None,
            message_id: None,
            caller_type: None,
            caller: None,
        }
    }

    /// A refusal: the caller's or sender's mistake (4xx), nothing deleted.
    pub fn is_refusal(&self) -> bool {
        self.outcome == Outcome::Refused || self.status.is_some_and(|s| (400..500).contains(&s))
    }

    /// A request that did not do its work for a reason of the store's or the function's, or for
    /// lack of time (an SQS message not tried, which comes back to the queue).
    pub fn is_failure(&self) -> bool {
        !self.is_refusal()
            && (matches!(self.outcome, Outcome::Failed | Outcome::NotTried)
                || self.status.is_some_and(|s| s >= 500))
    }

    fn level(&self) -> &'static str {
        if self.outcome == Outcome::NotTried || self.is_refusal() {
            "WARN"
        } else if self.is_failure() {
            "ERROR"
        } else {
            "INFO"
        }
    }
}

/// Where the lines go: stdout in Lambda (one write a line, so that lines of concurrent requests
/// never interleave), or a list that a test reads.
#[derive(Debug, Clone, Default)]
pub enum Sink {
    #[default]
    Stdout,
    Memory(Arc<Mutex<Vec<Value>>>),
}

impl Sink {
    pub fn emit(&self, line: Value) {
        match self {
            Sink::Stdout => {
                let mut text = line.to_string();
                text.push('\n');
                let _ = std::io::stdout().lock().write_all(text.as_bytes());
            }
            Sink::Memory(lines) => lines.lock().unwrap_or_else(|e| e.into_inner()).push(line),
        }
    }

    /// The lines emitted so far, for a [`Sink::Memory`].
    pub fn lines(&self) -> Vec<Value> {
        match self {
            Sink::Stdout => Vec::new(),
            Sink::Memory(lines) => lines.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

/// Runs `work`, emitting `meter`'s progress line for the job into `sink` every `interval`.
pub async fn with_progress<T>(
    sink: &Sink,
    interval: Duration,
    meter: &Meter,
    (project_id, job_id): (&str, &str),
    work: impl Future<Output = T>,
) -> T {
    let mut work = std::pin::pin!(work);
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticks.tick() => sink.emit(meter.progress(project_id, job_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_is_an_emf_document_whose_metrics_are_its_counts() {
        let meter = Meter::new(Entry::Sqs, "req-1");
        meter.listed(12);
        meter.deleted(10, 2_000);
        meter.failed(2);
        meter.throttled();
        meter.handed_on();
        let end = End {
            project_id: Some("p1".into()),
            job_id: Some("j1".into()),
            message_id: Some("m1".into()),
            ..End::new(Outcome::InProgress)
        };
        let line = meter.summary("del-job-prod", &end);
        let spec = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], NAMESPACE);
        assert_eq!(spec["Dimensions"], json!([["FunctionName", "Entry"], ["FunctionName"]]));
        assert!(line["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        // Every metric named in the document has its value at the top level.
        for metric in spec["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name} has no value");
        }
        assert_eq!(
            (line["FunctionName"].as_str(), line["Entry"].as_str()),
            (Some("del-job-prod"), Some("sqs"))
        );
        assert_eq!(line["ObjectsDeleted"], 10);
        assert_eq!(line["BytesDeleted"], 2_000);
        assert_eq!(line["ObjectsFailed"], 2);
        assert_eq!(line["Throttled"], 1);
        assert_eq!(line["HandOns"], 1);
        assert_eq!((line["Refused"].as_u64(), line["Failed"].as_u64()), (Some(0), Some(0)));
        assert_eq!(line["job_id"], "j1");
        assert_eq!(line["message_id"], "m1");
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["outcome"], "in_progress");
    }

    #[test]
    fn refusals_and_failures_count_as_such() {
        let meter = Meter::new(Entry::Http, "r");
        let refused =
            End { status: Some(400), error_code: Some("res.1001"), ..End::new(Outcome::Refused) };
        let line = meter.summary("f", &refused);
        assert_eq!((line["Refused"].as_u64(), line["Failed"].as_u64()), (Some(1), Some(0)));
        assert_eq!(
            (line["level"].as_str(), line["error_code"].as_str()),
            (Some("WARN"), Some("res.1001"))
        );
        let failed = End { status: Some(503), ..End::new(Outcome::Failed) };
        let line = meter.summary("f", &failed);
        assert_eq!((line["Refused"].as_u64(), line["Failed"].as_u64()), (Some(0), Some(1)));
        assert_eq!(line["level"], "ERROR");
    }

    #[test]
    fn progress_says_what_is_listed_and_not_yet_deleted() {
        let meter = Meter::new(Entry::Http, "r");
        meter.listed(100);
        meter.deleted(60, 600);
        meter.failed(5);
        let _request = meter.in_flight();
        let line = meter.progress("p1", "j1");
        assert_eq!(line["deleted"], 60);
        assert_eq!(line["listed_not_deleted"], 35);
        assert_eq!(line["in_flight"], 1);
        drop(_request);
        assert_eq!(meter.counts().in_flight, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_lines_come_at_the_interval_while_the_work_runs() {
        let (sink, meter) = (Sink::Memory(Arc::default()), Meter::new(Entry::Http, "r"));
        let work = tokio::time::sleep(Duration::from_millis(3_500));
        with_progress(&sink, Duration::from_secs(1), &meter, ("p", "j"), work).await;
        assert_eq!(sink.lines().len(), 3);
        assert!(sink.lines().iter().all(|l| l["message"] == "deletion progress"));
    }
}
